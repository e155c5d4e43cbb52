"""Applying online, as named verbs: a citizen starts (or resumes) a draft, answers one question at a time, gives
the materials the platform cannot obtain, submits, answers a request for correction (补正) and may withdraw.

Values the government already holds are read through the one door when the draft starts and kept with their
source in `Application.prefilled`; those questions are never asked. Materials the platform can obtain (a
registry field about the applicant, or the approved result of an earlier item) are recorded as obtained and
never requested. Submission is one transaction: every answer is checked again, the reference is assigned and
the engine starts the process; the draft's row is locked first, so a second submit finds the application.

Audit entries of object type "application" carry the reference (the application page's timeline); before the
reference exists, a draft's entries use object type "application_draft" and its id.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.core import calendar
from zhengtong.core import evidence as evidence_files
from zhengtong.core.errors import Conflict, DomainError, FieldProblem, InvalidInput, NotPermitted, raise_if_problems
from zhengtong.core.evidence import Evidence
from zhengtong.exchange import door
from zhengtong.identity import roles
from zhengtong.identity.actions import actor_of
from zhengtong.identity.models import User
from zhengtong.registries.models import Registry
from zhengtong.services.models import (
    Application,
    ApplicationMaterial,
    ApplicationStatus,
    ItemStatus,
    Material,
    MaterialProvision,
    MaterialSource,
    ServiceItem,
    TaskKind,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.models.applications import OPEN_STATUSES
from zhengtong.services.workflow import engine

__all__ = ["REFERENCE_ALPHABET", "ApplicationNotFound", "Evidence", "Question", "answer_correction",
           "attach_material", "clean_answer", "commit_instead", "material_path", "new_reference", "questions",
           "save_answer", "start_draft", "submit_application", "withdraw_application"]

# Eight characters from 31 that cannot be mistaken for each other when read aloud or typed: no 0/O, 1/I/L.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 8
MATERIAL_DIRECTORY = "application-materials"
POST_CHECK_DAYS = 20  # staff check a commitment's real document within 20 working days (事后核查)
MAX_TEXT = 200
MAX_TEXTAREA = 2000
MAX_NOTE = 2000
# A number is typed in at most 30 characters and has at most 16 digits before the point: "1e1000000" is short
# text but a million-digit integer.
MAX_NUMBER_TEXT = 30
MAX_NUMBER_DIGITS = 16
QUESTION_TYPES = ("text", "textarea", "number", "date", "choice", "yes_no")


class ApplicationNotFound(DomainError):
    """Not the caller's application (or none at all): the same answer either way."""

    code = "not_found"
    status = 404


@dataclass(frozen=True)
class Question:
    """One question of an item's form (ServiceItem.form), as the pages and actions read it."""

    name: str
    label: str
    type: str
    required: bool
    hint: str
    choices: tuple[tuple[str, str], ...]  # (value, label)
    prefill: Mapping[str, str] | None

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Question:
        choices = []
        for choice in spec.get("choices") or ():
            if isinstance(choice, Mapping):
                choices.append((str(choice.get("value", "")), str(choice.get("label") or choice.get("value", ""))))
            else:
                choices.append((str(choice), str(choice)))
        return cls(name=str(spec["name"]), label=str(spec.get("label") or spec["name"]),
                   type=str(spec.get("type") or "text"), required=bool(spec.get("required", True)),
                   hint=str(spec.get("hint") or ""), choices=tuple(choices), prefill=spec.get("prefill") or None)


def questions(item: ServiceItem) -> list[Question]:
    return [Question.of(spec) for spec in item.form or ()]


def _question(application: Application, name: str) -> Question:
    found = next((q for q in questions(application.item) if q.name == name), None)
    if found is None:
        raise InvalidInput.for_field(name, _("The form has no such question."))
    return found


def _citizen(actor: User | None) -> User:
    if actor is None or getattr(actor, "citizen", None) is None:
        raise NotPermitted(_("Only a citizen applies for a service online."))
    return actor


def _resident_id(application: Application) -> str:
    return str(application.applicant.citizen.resident_id).upper()


def _audit(action: str, actor: User | None, application: Application, detail: Mapping[str, Any]) -> None:
    if application.reference:
        kind, key = "application", application.reference
    else:
        kind, key = "application_draft", str(application.pk)
    audit.record(action, actor_of(actor), object_type=kind, object_id=key, subjects=[_resident_id(application)],
                 detail={"status": application.status, "item": application.item.code, **detail})


def _own(actor: User, application: Application, *statuses: str) -> Application:
    """The application's row, locked, when it is the actor's and in one of `statuses`."""
    locked = Application.objects.select_for_update(of=("self",)).select_related(
        "item", "applicant__citizen").filter(pk=application.pk, applicant=actor).first()
    if locked is None:
        raise ApplicationNotFound(_("There is no such application of yours."))
    if statuses and locked.status not in statuses:
        raise Conflict(_("This application is %(status)s; it cannot be changed that way.")
                       % {"status": locked.get_status_display()})
    return locked


# --- answers -----------------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    """A registry value as the answers keep it (JSON)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def clean_answer(question: Question, raw: Any) -> tuple[Any, list[FieldProblem]]:
    """The answer as kept (text, number, ISO date, choice value, or True/False for yes/no) and its problems,
    each naming the question."""
    text = "" if raw is None else str(raw).strip()
    if isinstance(raw, bool) and question.type == "yes_no":
        text = "yes" if raw else "no"
    problem = lambda reason: (None, [FieldProblem(question.name, reason)])  # noqa: E731
    if not text:
        if question.required:
            return problem(_("Choose an answer.") if question.type in ("choice", "yes_no")
                           else _("Answer this question."))
        return None, []
    if question.type in ("text", "textarea"):
        limit = MAX_TEXTAREA if question.type == "textarea" else MAX_TEXT
        if len(text) > limit:
            return problem(_("Keep it to %(n)d characters.") % {"n": limit})
        return text, []
    if question.type == "number":
        if len(text) > MAX_NUMBER_TEXT:
            return problem(_("Keep it to %(n)d characters.") % {"n": MAX_NUMBER_TEXT})
        try:
            number = decimal.Decimal(text.replace(",", ""))
        except decimal.InvalidOperation:
            return problem(_("Enter a number, like 12 or 3.5."))
        if not number.is_finite():
            return problem(_("Enter a number, like 12 or 3.5."))
        if number.adjusted() >= MAX_NUMBER_DIGITS:  # checked before _json_value makes it an int
            return problem(_("Enter a number with at most %(n)d digits before the decimal point.")
                           % {"n": MAX_NUMBER_DIGITS})
        return _json_value(number), []
    if question.type == "date":
        try:
            return dt.date.fromisoformat(text).isoformat(), []
        except ValueError:
            return problem(_("Enter a real date as year-month-day, like 2026-03-01."))
    if question.type == "choice":
        if text not in {value for value, _label in question.choices}:
            return problem(_("Choose one of the options."))
        return text, []
    if question.type == "yes_no":
        if text not in ("yes", "no"):
            return problem(_("Choose yes or no."))
        return text == "yes", []
    return problem(_("The form has a question of an unknown type; tell the department."))


def save_answer(actor: User, application: Application, name: str, raw: Any) -> Application:
    """Keep the answer to one question of a draft (every "Continue"). A value the government holds is not asked,
    so it cannot be answered either."""
    _citizen(actor)
    with transaction.atomic():
        application = _own(actor, application, ApplicationStatus.DRAFT)
        question = _question(application, name)
        if name in application.prefilled:
            raise InvalidInput.for_field(name, _("The government holds this value already; it is not asked."))
        value, problems = clean_answer(question, raw)
        raise_if_problems(problems)
        application.answers = {**application.answers, name: value}
        application.updated_at = timezone.now()
        application.save(update_fields=["answers", "updated_at"])
        _audit("services.save_answer", actor, application, {"question": name})
    return application


# --- starting a draft ----------------------------------------------------------------------------------------


def _readings(actor: User, item: ServiceItem) -> dict[str, dict[str, Any]]:
    """The citizen's own records as the door returns them, by registry code (first record of each), read only
    when the item asks for something a registry holds."""
    needs = any(q.prefill for q in questions(item)) or item.materials.filter(source=MaterialSource.REGISTRY).exists()
    if not needs:
        return {}
    readings = door.read_own_records(door.Reader.citizen(actor),
                                     purpose=_("Applying for %(item)s: filling in what the government holds")
                                     % {"item": item.name})
    found: dict[str, dict[str, Any]] = {}
    for reading in readings:
        found.setdefault(reading.registry, reading.values)
    return found


def _registry_names(codes: set[str]) -> dict[str, Registry]:
    return {r.code: r for r in Registry.objects.filter(code__in=codes)}


def _prefilled(item: ServiceItem, records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    registries = _registry_names({str((q.prefill or {}).get("registry", "")) for q in questions(item)})
    prefilled = {}
    for question in questions(item):
        if not question.prefill:
            continue
        code, field = str(question.prefill.get("registry", "")), str(question.prefill.get("field", ""))
        value = records.get(code, {}).get(field)
        if value in (None, "") or code not in registries:
            continue  # not held: the question is asked
        registry = registries[code]
        prefilled[question.name] = {"value": _json_value(value), "source": f"{code}.{field}", "label": registry.name,
                                    "label_en": registry.name_en}
    return prefilled


def _obtainable(actor: User, material: Material, records: Mapping[str, Mapping[str, Any]]) -> str:
    """Where the platform gets the material from, or "" when the applicant has to give it."""
    if material.source == MaterialSource.REGISTRY:
        if records.get(material.source_registry, {}).get(material.source_field) not in (None, ""):
            return f"{material.source_registry}.{material.source_field}"
    elif material.source == MaterialSource.RESULT and material.source_item:
        earlier = Application.objects.filter(applicant=actor, item__code=material.source_item,
                                             status=ApplicationStatus.APPROVED).order_by("-decided_at").first()
        if earlier is not None:
            return f"{material.source_item}:{earlier.reference}"
    return ""


def _resumed(actor: User, item: ServiceItem, token: str) -> Application | None:
    """The citizen's open draft of this item, locked; a token the caller gives is kept on it (a draft's token is
    only its handle until it is submitted), so that the same token again finds it once it is submitted."""
    with transaction.atomic():
        draft = Application.objects.select_for_update(of=("self",)).select_related("item", "applicant__citizen").filter(
            applicant=actor, item=item, status=ApplicationStatus.DRAFT).first()
        if draft is not None and token and draft.submission_token != token:
            draft.submission_token = token
            draft.save(update_fields=["submission_token"])
            _audit("services.start_draft", actor, draft, {"token_replaced": True})
    return draft


def _by_token(actor: User, token: str) -> Application | None:
    return Application.objects.filter(applicant=actor, submission_token=token).first() if token else None


def start_draft(actor: User, item: ServiceItem, *, token: str = "") -> Application:
    """"Start now": the citizen's open draft of this item, or a new one with what the government holds filled
    in and the obtainable materials obtained. A token the caller sent before finds the same application, in
    whatever status it is now."""
    _citizen(actor)
    token = (token or "").strip()
    if len(token) > 64:
        raise InvalidInput.for_field("token", _("Keep the token to %(n)d characters.") % {"n": 64})
    again = _by_token(actor, token)
    if again is not None:
        return again
    if item.status != ItemStatus.PUBLISHED:
        raise Conflict(_("This service is not open for applications."))
    existing = _resumed(actor, item, token)
    if existing is not None:
        return existing
    records = _readings(actor, item)
    now = timezone.now()
    try:
        with transaction.atomic():
            application = Application.objects.create(
                item=item, applicant=actor, prefilled=_prefilled(item, records), created_at=now, updated_at=now,
                submission_token=token or secrets.token_urlsafe(24))
            obtained = []
            for material in item.materials.all():
                source = _obtainable(actor, material, records)
                if source:
                    obtained.append(ApplicationMaterial(application=application, material=material, source=source,
                                                        provision=MaterialProvision.OBTAINED, added_at=now))
            ApplicationMaterial.objects.bulk_create(obtained)
            _audit("services.start_draft", actor, application,
                   {"prefilled": sorted(application.prefilled), "obtained": [m.material.code for m in obtained]})
    except IntegrityError:  # the same start (another tab, the same token again) won the race: find what it made
        found = _by_token(actor, token) or _resumed(actor, item, token)
        if found is None:
            raise Conflict(_("Another request started this application at the same moment; try again.")) from None
        return found
    return application


# --- materials -------------------------------------------------------------------------------------------------


def material_path(digest: str) -> Any:
    return evidence_files.path_of(MATERIAL_DIRECTORY, digest)


def _material(application: Application, material: Material) -> Material:
    if material.item_id != application.item_id:
        raise InvalidInput.for_field("material", _("This service does not ask for that material."))
    return material


def _file_problems(evidence: Evidence | None, field: str) -> tuple[str, list[FieldProblem]]:
    problems: list[FieldProblem] = []
    if evidence is None or not evidence.content:
        problems.append(FieldProblem(field, _("Choose a file to upload.")))
        return "", problems
    return evidence_files.content_type(evidence, problems, field), problems


def _store(application: Application, material: Material, evidence: Evidence, kind: str) -> ApplicationMaterial:
    digest = evidence_files.keep(MATERIAL_DIRECTORY, evidence.content)
    values = {"provision": MaterialProvision.UPLOADED, "file_type": kind, "file_size": len(evidence.content),
              "file_name": os.path.basename(evidence.name or "")[:255] or material.code, "file_digest": digest,
              "source": "", "added_at": timezone.now()}
    given, _created = ApplicationMaterial.objects.update_or_create(application=application, material=material,
                                                                   defaults=values)
    return given


def attach_material(actor: User, application: Application, material: Material, evidence: Evidence | None
                    ) -> ApplicationMaterial:
    """Upload a material to a draft: a PDF, PNG or JPEG (known by its content) of at most 10 MB; a second upload
    replaces the first."""
    _citizen(actor)
    kind, problems = _file_problems(evidence, "file")
    raise_if_problems(problems)
    assert evidence is not None
    with transaction.atomic():
        application = _own(actor, application, ApplicationStatus.DRAFT)
        material = _material(application, material)
        if ApplicationMaterial.objects.filter(application=application, material=material,
                                              provision=MaterialProvision.OBTAINED).exists():
            raise Conflict(_("The platform obtains this material itself."))
        given = _store(application, material, evidence, kind)
        _audit("services.attach_material", actor, application,
               {"material": material.code, "file": given.file_digest, "size": given.file_size})
    return given


def commit_instead(actor: User, application: Application, material: Material) -> ApplicationMaterial:
    """告知承诺: the applicant will commit to the material's truth instead of giving it now; the commitment is
    signed when the application is submitted."""
    _citizen(actor)
    with transaction.atomic():
        application = _own(actor, application, ApplicationStatus.DRAFT)
        material = _material(application, material)
        if not (application.item.commitment_allowed and material.commitment_allowed):
            raise InvalidInput.for_field("commit", _("A commitment cannot replace this material."))
        given, _created = ApplicationMaterial.objects.update_or_create(
            application=application, material=material,
            defaults={"provision": MaterialProvision.COMMITTED, "file_name": "", "file_type": "", "file_size": 0,
                      "file_digest": "", "source": "", "added_at": timezone.now()})
        _audit("services.commit_instead", actor, application, {"material": material.code})
    return given


# --- submitting ------------------------------------------------------------------------------------------------


def new_reference() -> str:
    """An unused 8-character reference."""
    while True:
        reference = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        if not Application.objects.filter(reference=reference).exists():
            return reference


def _check_complete(application: Application) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for question in questions(application.item):
        if question.name in application.prefilled:
            continue
        _value, found = clean_answer(question, _shown_raw(application.answers.get(question.name)))
        problems.extend(found)
    given = set(application.materials.values_list("material_id", flat=True))
    for material in application.item.materials.all():
        if material.required and material.pk not in given:
            problems.append(FieldProblem(f"material_{material.code}",
                                         _("Upload %(name)s.") % {"name": material.name}))
    return problems


def _shown_raw(value: Any) -> Any:
    """A kept answer as it would be typed again (yes/no back to "yes"/"no")."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _post_check(application: Application, committed: Sequence[ApplicationMaterial], now: dt.datetime) -> None:
    item = application.item
    names = "、".join(m.material.name for m in committed)
    WorkTask.objects.create(
        application=application, kind=TaskKind.POST_CHECK, name=_("Post-check of a commitment: %(names)s")
        % {"names": names}, department=item.responsible_department, role=roles.APPROVER, status=TaskStatus.OPEN,
        created_at=now, due=calendar.add_working_days(timezone.localdate(now), POST_CHECK_DAYS).date)


def submit_application(actor: User, application: Application, *, token: str = "",
                       commitment_signed: bool = False) -> Application:
    """Submit a draft: check everything again, give it its reference and start its process, in one transaction.
    The draft's row is locked first: a second submit (a double click, a second tab, the same token again) finds
    the submitted application and changes nothing."""
    _citizen(actor)
    with transaction.atomic():
        application = _own(actor, application)
        if application.status != ApplicationStatus.DRAFT:
            return application
        if token and token != application.submission_token:
            raise Conflict(_("This form belongs to another application; start again from the service page."))
        problems = _check_complete(application)
        committed = list(application.materials.select_related("material").filter(
            provision=MaterialProvision.COMMITTED))
        if committed and not commitment_signed:
            problems.append(FieldProblem("commitment_signed", _("Sign the commitment to submit without the "
                                                                "materials you committed to.")))
        raise_if_problems(problems)
        now = timezone.now()
        application.reference = new_reference()
        application.status = ApplicationStatus.SUBMITTED
        application.submitted_at = application.updated_at = now
        if committed:
            application.commitment_signed_at = now
        application.save(update_fields=["reference", "status", "submitted_at", "updated_at", "commitment_signed_at"])
        _audit("services.submit_application", actor, application,
               {"draft": application.pk, "committed": [m.material.code for m in committed]})
        engine.start(application, actor)
        if committed:
            _post_check(application, committed, now)
    application.refresh_from_db()
    return application


# --- after submission -------------------------------------------------------------------------------------------


def answer_correction(actor: User, application: Application, *, answers: Mapping[str, Any] | None = None,
                      files: Mapping[str, Evidence] | None = None, note: str = "") -> Application:
    """The applicant's correction (补正): changed answers and replacement materials (by material code), with a
    note; the clock starts again and the process continues."""
    _citizen(actor)
    answers, files, note = dict(answers or {}), dict(files or {}), (note or "").strip()
    problems: list[FieldProblem] = []
    if len(note) > MAX_NOTE:
        problems.append(FieldProblem("note", _("Keep it to %(n)d characters.") % {"n": MAX_NOTE}))
    kinds = {}
    for code, evidence in files.items():
        kind, found = _file_problems(evidence, f"material_{code}")
        kinds[code] = kind
        problems.extend(found)
    if not (answers or files or note):
        problems.append(FieldProblem("note", _("Change an answer, upload a material or write what you corrected.")))
    raise_if_problems(problems)
    with transaction.atomic():
        application = _own(actor, application, ApplicationStatus.CORRECTION)
        cleaned = {}
        for name, raw in answers.items():
            question = _question(application, name)
            if name in application.prefilled:
                problems.append(FieldProblem(name, _("The government holds this value; ask the department that "
                                                     "keeps it to correct it.")))
                continue
            cleaned[name], found = clean_answer(question, raw)
            problems.extend(found)
        materials = {m.code: m for m in application.item.materials.all()}
        problems.extend(FieldProblem(f"material_{code}", _("This service does not ask for that material."))
                        for code in files if code not in materials)
        raise_if_problems(problems)
        for code, evidence in files.items():
            _store(application, materials[code], evidence, kinds[code])
        application.answers = {**application.answers, **cleaned}
        application.updated_at = timezone.now()
        application.save(update_fields=["answers", "updated_at"])
        _audit("services.answer_correction", actor, application,
               {"questions": sorted(cleaned), "materials": sorted(files), "note": note})
        engine.resume_after_correction(application, actor)
    application.refresh_from_db()
    return application


def withdraw_application(actor: User, application: Application, *, reason: str = "") -> Application:
    """The applicant withdraws an open application: it stops, and its open staff tasks are cancelled."""
    _citizen(actor)
    reason = (reason or "").strip()
    if len(reason) > MAX_NOTE:
        raise InvalidInput.for_field("reason", _("Keep it to %(n)d characters.") % {"n": MAX_NOTE})
    with transaction.atomic():
        application = _own(actor, application, *OPEN_STATUSES)
        now = timezone.now()
        application.status = ApplicationStatus.WITHDRAWN
        application.decided_at = application.updated_at = now
        application.save(update_fields=["status", "decided_at", "updated_at"])
        cancelled = application.tasks.filter(status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED)).update(
            status=TaskStatus.CANCELLED, completed_at=now)
        application.pauses.filter(ended_on__isnull=True).update(ended_on=timezone.localdate(now))
        _audit("services.withdraw_application", actor, application, {"reason": reason, "tasks_cancelled": cancelled})
    return application
