"""Reads of applications that carry the applicant's rules: a citizen sees only their own (anything else is a
404, the same as no application at all); the steps of a draft in the order the pages ask them; an application's
timeline from its audit entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from zhengtong.audit.models import AuditEntry
from zhengtong.identity.models import User
from zhengtong.services.actions.applications import Question, questions
from zhengtong.services.models import (
    Application,
    ApplicationMaterial,
    ApplicationStatus,
    ItemStatus,
    Material,
    MaterialProvision,
    ServiceItem,
)

# The steps of the timeline the applicant sees (audit actions of object type "application"), in their words;
# staff's own bookkeeping (claims, comments, transfers, reminders) is left out.
TIMELINE_LABELS = {
    "services.submit_application": _("You submitted the application"),
    "services.decide_task": _("A review step was completed"),
    "services.answer_correction": _("You sent your correction"),
    "services.application.decided": _("The application was decided"),
    "services.withdraw_application": _("You withdrew the application"),
    "services.complete_post_check": _("The department checked what you committed to"),
}

# The steps whose "note" is the applicant's own; other notes (a post-check's findings) are staff's.
APPLICANT_NOTES = frozenset({"services.answer_correction"})


def own_applications(user: User) -> QuerySet[Application]:
    return Application.objects.filter(applicant=user).select_related("item").order_by("-updated_at", "-pk")


def own_draft(user: User, pk: int) -> Application | None:
    return own_applications(user).filter(pk=pk, status=ApplicationStatus.DRAFT).first()


def own_application(user: User, reference: str) -> Application | None:
    return own_applications(user).filter(reference=reference.upper()).exclude(status=ApplicationStatus.DRAFT).first()


def published_item(code: str) -> ServiceItem | None:
    return ServiceItem.objects.filter(code=code, status=ItemStatus.PUBLISHED).select_related(
        "responsible_department").first()


# --- the steps of a draft ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One page of the form: a question or a material to give; `kind` is "question" or "material"."""

    kind: str
    key: str  # the question's name or the material's code
    question: Question | None = None
    material: Material | None = None


def asked_questions(application: Application) -> list[Question]:
    """The questions the applicant answers: those whose value the government holds are not asked."""
    return [q for q in questions(application.item) if q.name not in application.prefilled]


def given_materials(application: Application) -> dict[int, ApplicationMaterial]:
    return {m.material_id: m for m in application.materials.all()}


def requested_materials(application: Application) -> list[Material]:
    """The materials the applicant gives (uploads or commits to): all but those the platform obtained."""
    given = given_materials(application)
    return [m for m in application.item.materials.all()
            if not (m.pk in given and given[m.pk].provision == MaterialProvision.OBTAINED)]


def steps(application: Application) -> list[Step]:
    return [*(Step("question", q.name, question=q) for q in asked_questions(application)),
            *(Step("material", m.code, material=m) for m in requested_materials(application))]


def step_of(application: Application, kind: str, key: str) -> tuple[Step | None, Step | None, Step | None]:
    """(previous, this, next) step; this is None when the draft has no such step."""
    found = steps(application)
    for index, step in enumerate(found):
        if step.kind == kind and step.key == key:
            return (found[index - 1] if index else None, step, found[index + 1] if index + 1 < len(found) else None)
    return None, None, None


def first_unanswered(application: Application) -> Step | None:
    """Where a resumed draft picks up: the first step without an answer (None: go to the check page)."""
    given = given_materials(application)
    for step in steps(application):
        if step.kind == "question" and step.key not in application.answers:
            return step
        if step.kind == "material" and step.material is not None and step.material.pk not in given:
            return step
    return None


def registry_label(prefilled: dict[str, Any]) -> str:
    """The registry a prefilled value came from, in the page's language."""
    if get_language() == "en" and prefilled.get("label_en"):
        return str(prefilled["label_en"])
    return str(prefilled.get("label") or prefilled.get("source", ""))


# --- after submission --------------------------------------------------------------------------------------------


def timeline(application: Application) -> list[AuditEntry]:
    """The audit entries of the application (object type "application", its reference), oldest first."""
    if not application.reference:
        return []
    return list(AuditEntry.objects.filter(object_type="application", object_id=application.reference,
                                          action__in=list(TIMELINE_LABELS)).order_by("occurred_at", "pk"))
