"""Reads of objections and correction requests that carry rules.

A citizen sees their own cases. The data governance office sees every objection, and the corrections that
are overdue (it follows them up). A provider department's data officers see the corrections of the registries
inside their data scope, which they may change. Anything else answers 404.
"""

from __future__ import annotations

import enum
from typing import Any, cast

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from zhengtong.audit.models import AuditEntry
from zhengtong.audit.queries import EntryFilters, search_entries
from zhengtong.audit.subjects import subject_hash
from zhengtong.core import masking
from zhengtong.exchange import door
from zhengtong.exchange.queries.sharing import Deadlines, DueState
from zhengtong.identity import scope
from zhengtong.identity.models import User
from zhengtong.privacy.models import CorrectionRequest, CorrectionStatus, Objection, ObjectionStatus
from zhengtong.privacy.queries import accesses
from zhengtong.registries.models import Registry

ANSWER_OBJECTION = "privacy.answer_objection"
CHANGE_RECORD = "registries.change_record"
HISTORY_LIMIT = 200

HISTORY_LABELS = {
    "privacy.object_to_access": _("Objection raised"),
    "privacy.answer_objection": _("Objection answered"),
    "privacy.request_correction": _("Correction requested"),
    "privacy.decide_correction": _("Correction decided"),
    "privacy.remind_case_deadline": _("Deadline reminder sent to staff"),
    "privacy.case_overdue_notice": _("Overdue notice sent to staff"),
}


class Queue(enum.StrEnum):
    WAITING = "waiting"
    ANSWERED = "answered"
    ALL = "all"


QUEUE_LABELS = {Queue.WAITING: _("Waiting for an answer"), Queue.ANSWERED: _("Answered"), Queue.ALL: _("All")}


def state(deadlines: Deadlines, case: Objection | CorrectionRequest) -> DueState:
    """Due soon, overdue or neither, judged as sharing requests are (a case has `current_due` too)."""
    return deadlines.state(cast(Any, case))


# --- citizens ------------------------------------------------------------------------------------------------


def _subject(user: Any) -> str | None:
    citizen = getattr(user, "citizen", None)
    return subject_hash(citizen.resident_id) if citizen is not None else None


def entry_concerning(user: Any, entry_id: int) -> AuditEntry | None:
    """The access, when the citizen may see it on "who used my data" (their own reads included, which the action
    refuses with its reason): never one an investigator hides until a date, so an objection tells nothing of it.
    None otherwise."""
    if _subject(user) is None:
        return None
    return accesses.visible_accesses(user, accesses.UsageFilters(include_own=True)).filter(pk=entry_id).first()


def own_objections(user: Any) -> QuerySet[Objection]:
    return Objection.objects.filter(citizen_id=getattr(user, "pk", None)) if _subject(user) else \
        Objection.objects.none()


def own_corrections(user: Any) -> QuerySet[CorrectionRequest]:
    if not _subject(user):
        return CorrectionRequest.objects.none()
    return CorrectionRequest.objects.filter(citizen_id=user.pk).select_related("registry", "provider")


# --- staff ---------------------------------------------------------------------------------------------------


def may_answer_objections(user: Any) -> bool:
    return scope.permitted(user, ANSWER_OBJECTION)


def objection_queue(user: Any, queue: Queue = Queue.ALL) -> QuerySet[Objection]:
    if not may_answer_objections(user):
        return Objection.objects.none()
    objections = Objection.objects.all()
    if queue == Queue.WAITING:
        return objections.filter(status=ObjectionStatus.OPEN).order_by("due", "pk")
    if queue == Queue.ANSWERED:
        return objections.exclude(status=ObjectionStatus.OPEN)
    return objections


def may_answer(user: Any, objection: Objection) -> bool:
    return objection.status == ObjectionStatus.OPEN and may_answer_objections(user)


def decidable_registries(user: Any) -> QuerySet[Registry]:
    """Registries whose records this staff member may change: their department's, within their data scope."""
    if getattr(user, "staff", None) is None or not scope.permitted(user, CHANGE_RECORD):
        return Registry.objects.none()
    return Registry.objects.filter(scope.scope_q(user, Registry))


def correction_queue(user: Any, queue: Queue = Queue.ALL) -> QuerySet[CorrectionRequest]:
    corrections = CorrectionRequest.objects.select_related("registry", "provider").filter(
        registry__in=decidable_registries(user))
    if queue == Queue.WAITING:
        return corrections.filter(status=CorrectionStatus.SUBMITTED).order_by("due", "pk")
    if queue == Queue.ANSWERED:
        return corrections.exclude(status=CorrectionStatus.SUBMITTED)
    return corrections


def overdue_corrections(user: Any, deadlines: Deadlines) -> QuerySet[CorrectionRequest]:
    """Corrections past their deadline, which the governance office follows up."""
    if not may_answer_objections(user):
        return CorrectionRequest.objects.none()
    return CorrectionRequest.objects.select_related("registry", "provider").filter(
        status=CorrectionStatus.SUBMITTED, due__lt=deadlines.today).order_by("due", "pk")


def visible_correction(user: Any, number: str) -> CorrectionRequest | None:
    """A correction the user may open: their own, one their department decides, or (for the governance
    office) any, since it follows overdue ones up."""
    found = CorrectionRequest.objects.select_related("registry", "provider", "citizen").filter(number=number)
    if may_answer_objections(user):
        return found.first()
    return (found.filter(citizen_id=user.pk) if _subject(user) else
            found.filter(registry__in=decidable_registries(user))).first()


def visible_objection(user: Any, number: str) -> Objection | None:
    found = Objection.objects.select_related("citizen").filter(number=number)
    if may_answer_objections(user):
        return found.first()
    return own_objections(user).filter(number=number).first()


def may_decide(user: Any, correction: CorrectionRequest) -> bool:
    return correction.status == CorrectionStatus.SUBMITTED and \
        decidable_registries(user).filter(pk=correction.registry_id).exists()


def may_see_evidence(user: Any, correction: CorrectionRequest) -> bool:
    return visible_correction(user, correction.number) is not None


# --- history and who must act ----------------------------------------------------------------------------------


def history(case: Objection | CorrectionRequest) -> list[AuditEntry]:
    """The case's steps, oldest first: its audit entries."""
    kind = "objection" if isinstance(case, Objection) else "correction"
    entries = search_entries(EntryFilters(object_type=kind, object_id=case.number))
    return list(entries[:HISTORY_LIMIT])[::-1]


def governance_officers() -> list[User]:
    candidates = User.objects.with_perm(ANSWER_OBJECTION, include_superusers=False)
    return list(candidates.filter(staff__department__is_governance_office=True, is_active=True).order_by("pk"))


def staff_to_act(case: Objection | CorrectionRequest) -> list[User]:
    """Who must act on an open case: the governance office for an objection, the provider's data officers
    whose scope reaches the registry for a correction."""
    if isinstance(case, Objection):
        return governance_officers() if case.status == ObjectionStatus.OPEN else []
    if case.status != CorrectionStatus.SUBMITTED:
        return []
    candidates = User.objects.with_perm(CHANGE_RECORD, include_superusers=False)
    return [user for user in candidates.filter(staff__isnull=False, is_active=True).order_by("pk")
            if scope.permitted(user, CHANGE_RECORD, case.registry)]


def requested_value_shown(user: Any, correction: CorrectionRequest) -> str:
    """The value the citizen asked for: in full to that citizen; to staff masked by the field's own rule, as the
    door masks the current value for them (accepting writes it without anyone reading it in full)."""
    if correction.citizen_id == getattr(user, "pk", None):
        return correction.requested_value
    spec = door.codec_for(correction.registry).schema.by_name.get(correction.field)
    rule = door.default_rule(spec) if spec is not None else "null"
    shown = masking.apply_rule("null" if rule == "pseudonym" else rule, correction.requested_value)
    return "" if shown is None else str(shown)

