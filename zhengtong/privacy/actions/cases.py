"""Citizens' objections to accesses and their correction requests, as named verbs.

Each action checks who may take it, changes state in one transaction and writes its audit entry in it; the
audit entries of a case (object types "objection" and "correction") are its history. The citizen is told of
each answer in the platform (the case's status) and by mail when their account has an address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.catalog.actions import next_number
from zhengtong.core import calendar
from zhengtong.core import evidence as evidence_files
from zhengtong.core.errors import Conflict, DomainError, FieldProblem, InvalidInput, NotPermitted, raise_if_problems
from zhengtong.core.evidence import Evidence
from zhengtong.exchange import door
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import Department, User
from zhengtong.privacy.models import CorrectionRequest, CorrectionStatus, Objection, ObjectionStatus
from zhengtong.privacy.queries import cases as queries
from zhengtong.registries import actions as registries
from zhengtong.registries.codec import load_schema, value_context
from zhengtong.registries.models import FieldType, Record, Registry
from zhengtong.registries.schema import Schema

log = structlog.get_logger("zhengtong.privacy.cases")

OBJECTION_PREFIX = "FWYY"  # 访问异议: an objection to an access
CORRECTION_PREFIX = "GZSQ"  # 更正申请: a correction request
ANSWER_DAYS = 10  # the governance office answers an objection
DECIDE_DAYS = 5  # the provider department decides a correction
MAX_TEXT = 2000
MAX_VALUE = 500
MAX_EVIDENCE_BYTES = evidence_files.MAX_BYTES
EVIDENCE_DIRECTORY = "case-evidence"
CaseT = TypeVar("CaseT", Objection, CorrectionRequest)


class CaseNotFound(DomainError):
    code = "not_found"
    status = 404


def _number(prefix: str) -> str:
    year = timezone.localdate().year
    return f"{prefix}-{year}-{next_number(f'{prefix}:{year}'):06d}"


def _due(days: int) -> calendar.Deadline:
    return calendar.add_working_days(timezone.localdate(), days)


def _name(actor: User | None) -> str:
    if actor is None:
        return _("the platform")
    return actor.display_name or actor.get_username()


def _resident_id(actor: User | None) -> str:
    citizen = getattr(actor, "citizen", None)
    if citizen is None:
        raise NotPermitted(_("Only a citizen can raise a case about their own data."))
    return str(citizen.resident_id).upper()


def _text(problems: list[FieldProblem], name: str, value: str, message: str, limit: int = MAX_TEXT) -> str:
    value = (value or "").strip()
    if not value:
        problems.append(FieldProblem(name, message))
    elif len(value) > limit:
        problems.append(FieldProblem(name, _("Keep it to %(n)d characters.") % {"n": limit}))
    return value


def _audit(action: str, actor: User | None, case: Objection | CorrectionRequest, subject: str,
           detail: Mapping[str, Any]) -> None:
    kind = "objection" if isinstance(case, Objection) else "correction"
    audit.record(action, actor_of(actor), object_type=kind, object_id=case.number, subjects=[subject],
                 detail={"status": case.status, **detail})


def _subject_of(case: Objection | CorrectionRequest) -> str:
    return str(case.citizen.citizen.resident_id).upper()


def _tell_citizen(case: Objection | CorrectionRequest, subject: str, body: str) -> None:
    """Mail the citizen about their case, last in the transaction of the step. The case's status already
    tells them in the platform, so a mail server that is away only costs the mail, which is logged."""
    address = case.citizen.email
    if not address:
        return
    try:
        send_mail(subject, body, None, [address])
    except OSError as error:
        log.warning("case mail to the citizen not sent", case=case.number, error=str(error))


def _create_once(model: type[CaseT], duplicate: Conflict, **values: Any) -> CaseT:
    """Create the case, or raise `duplicate` when a submission at the same moment made it first (the model's
    one-open-case constraint; the check before it cannot see a row not yet committed)."""
    try:
        with transaction.atomic():
            return model.objects.create(**values)
    except IntegrityError:
        raise duplicate from None


# --- objections --------------------------------------------------------------------------------------------


def object_to_access(actor: User, *, entry_id: int, reason: str) -> Objection:
    """The citizen objects to one access to their data: an audit entry whose subjects include them. The data
    governance office answers within 10 working days."""
    resident_id = _resident_id(actor)
    problems: list[FieldProblem] = []
    reason = _text(problems, "reason", reason, _("Say why you object to this access."))
    raise_if_problems(problems)
    entry = queries.entry_concerning(actor, entry_id)
    if entry is None:
        raise CaseNotFound(_("There is no access to your data with this number."))
    if entry.actor_kind == "citizen" and entry.actor_id == str(actor.pk):
        raise Conflict(_("This is something you did yourself; there is nobody to object to."))
    duplicate = Conflict(_("You have an open objection to this access already."))
    with transaction.atomic():
        if Objection.objects.filter(citizen=actor, audit_entry_id=entry.pk, status=ObjectionStatus.OPEN).exists():
            raise duplicate
        due = _due(ANSWER_DAYS)
        department = Department.objects.filter(code=entry.actor_department).first() if entry.actor_department \
            else None
        objection = _create_once(Objection, duplicate,
            number=_number(OBJECTION_PREFIX), citizen=actor, audit_entry_id=entry.pk, accessed_at=entry.occurred_at,
            accessor_department=entry.actor_department,
            accessor_department_name=department.name if department else "",
            access_action=entry.action, access_purpose=entry.purpose, access_legal_basis=entry.legal_basis,
            access_object=entry.object_id, reason=reason, submitted_at=timezone.now(), due=due.date,
            due_provisional=due.provisional)
        _audit("privacy.object_to_access", actor, objection, resident_id,
               {"entry": entry.pk, "department": entry.actor_department, "due": due.date.isoformat()})
    return objection


def _locked_objection(objection: Objection) -> Objection:
    # Only the case's row is locked: its citizen is joined from the nullable side, which FOR UPDATE refuses.
    locked = Objection.objects.select_for_update(of=("self",)).select_related("citizen__citizen").get(
        pk=objection.pk)
    if locked.status != ObjectionStatus.OPEN:
        raise Conflict(_("This objection has been answered already."))
    return locked


def answer_objection(actor: User | None, objection: Objection, *, upheld: bool, answer: str) -> Objection:
    """The data governance office answers: the objection is upheld (the access was not justified, and the
    answer says what follows) or dismissed (the answer gives the access's basis)."""
    require_permission(actor, queries.ANSWER_OBJECTION)
    problems: list[FieldProblem] = []
    answer = _text(problems, "answer", answer, _("Write the answer the citizen will read."))
    raise_if_problems(problems)
    with transaction.atomic():
        objection = _locked_objection(objection)
        objection.status = ObjectionStatus.UPHELD if upheld else ObjectionStatus.DISMISSED
        objection.answer, objection.answered_at, objection.answered_by_name = answer, timezone.now(), _name(actor)
        objection.save(update_fields=["status", "answer", "answered_at", "answered_by_name"])
        subject = _subject_of(objection)
        _audit("privacy.answer_objection", actor, objection, subject, {"upheld": upheld, "answer": answer})
        with translation.override(settings.LANGUAGE_CODE):
            values = {"number": objection.number, "status": objection.get_status_display(), "answer": answer,
                      "path": reverse("privacy:objection", args=[objection.number])}
            _tell_citizen(objection, _("Your objection %(number)s is answered") % values,
                          _("Your objection %(number)s is %(status)s.\n\n%(answer)s\n\nSee it at %(path)s.") % values)
    return objection


# --- corrections -------------------------------------------------------------------------------------------


def _evidence_type(evidence: Evidence | None, problems: list[FieldProblem]) -> str:
    if evidence is None or not evidence.content:
        problems.append(FieldProblem("evidence", _("Attach a document that shows the right value.")))
        return ""
    return evidence_files.content_type(evidence, problems)


def evidence_path(digest: str) -> Path:
    return evidence_files.path_of(EVIDENCE_DIRECTORY, digest)


# Evidence sent on its own page of the citizen's form waits here, under a random name the citizen's session
# holds, until the request is submitted: only then is it kept as the case's (request_correction).
STAGING_DIRECTORY = "case-evidence-staged"
STAGED_FOR = dt.timedelta(days=1)  # a form left for longer is abandoned; its file goes at the next upload


def stage_evidence(content: bytes) -> str:
    """Put an uploaded file aside for a form still being filled in; returns its token. Files of forms left
    for longer than STAGED_FOR are removed on the way."""
    token = secrets.token_hex(16)
    path = evidence_files.path_of(STAGING_DIRECTORY, token)
    path.parent.mkdir(parents=True, exist_ok=True)
    cutoff = (timezone.now() - STAGED_FOR).timestamp()
    for old in path.parent.iterdir():
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    path.write_bytes(content)
    return token


def staged_evidence(token: str) -> bytes | None:
    """The staged file, or None when it is gone (or the token is not one of ours)."""
    if not token.isalnum():
        return None
    try:
        return evidence_files.path_of(STAGING_DIRECTORY, token).read_bytes()
    except FileNotFoundError:
        return None


def drop_staged_evidence(token: str) -> None:
    if token.isalnum():
        evidence_files.path_of(STAGING_DIRECTORY, token).unlink(missing_ok=True)


def check_correction_value(registry: Registry, field: str, value: str) -> None:
    """The checks request_correction makes of the field and the value asked for, for a form that asks for
    them on a page of their own."""
    problems: list[FieldProblem] = []
    _clean_value(load_schema(registry), field, value, problems)
    raise_if_problems(problems)


def _clean_value(schema: Schema, field: str, value: str, problems: list[FieldProblem]) -> Any:
    spec = schema.by_name.get(field)
    if spec is None:
        problems.append(FieldProblem("field", _("The registry has no such field.")))
        return None
    if spec.is_key:
        problems.append(FieldProblem("field", _("This field identifies the record; ask the department at its "
                                                "counter to correct it.")))
        return None
    if spec.type == FieldType.FILE:
        problems.append(FieldProblem("field", _("A file cannot be corrected here; ask the department.")))
        return None
    value = _text(problems, "value", value, _("Give the value you say is right."), MAX_VALUE)
    if not value:
        return None
    cleaned, found = Schema([spec]).clean({field: value}, value_context(), partial=True)
    problems.extend(FieldProblem("value", problem.reason) for problem in found)
    return cleaned.get(field)


def request_correction(actor: User, *, registry: Registry, record_id: int, field: str, value: str, reason: str,
                       evidence: Evidence | None) -> CorrectionRequest:
    """The citizen asks that one field of a record about them be corrected, with a document as evidence. The
    record must be theirs, as the one door says; the registry's owner department decides within 5 working
    days."""
    resident_id = _resident_id(actor)
    problems: list[FieldProblem] = []
    schema = load_schema(registry)
    cleaned = _clean_value(schema, field, value, problems)
    reason = _text(problems, "reason", reason, _("Say why the record is wrong."))
    kind = _evidence_type(evidence, problems)
    raise_if_problems(problems)
    assert evidence is not None  # checked above
    try:
        reading = door.read_record(door.Reader.citizen(actor), registry, door.RecordId(record_id),
                                   purpose=_("Correction request: checking the record is the citizen's own"),
                                   fields=[field])
    except door.Refused:
        raise InvalidInput.for_field("record", _("This is not one of your records.")) from None
    if reading.values.get(field) == cleaned:
        raise InvalidInput.for_field("value", _("The record already holds this value."))
    digest = hashlib.sha256(evidence.content).hexdigest()  # the name evidence_files.keep stores it under
    duplicate = Conflict(_("A correction of this field is waiting for a decision already."))
    with transaction.atomic():
        if CorrectionRequest.objects.filter(registry=registry, record_id=record_id, field=field,
                                            status=CorrectionStatus.SUBMITTED).exists():
            raise duplicate
        due = _due(DECIDE_DAYS)
        spec = schema.by_name[field]
        correction = _create_once(CorrectionRequest, duplicate,
            number=_number(CORRECTION_PREFIX), citizen=actor, registry=registry, record_id=record_id,
            provider=registry.department, field=field, field_label=spec.label, requested_value=str(value).strip(),
            reason=reason, evidence_name=os.path.basename(evidence.name or "evidence")[:255] or "evidence",
            evidence_type=kind, evidence_size=len(evidence.content), evidence_digest=digest,
            submitted_at=timezone.now(), due=due.date, due_provisional=due.provisional)
        _audit("privacy.request_correction", actor, correction, resident_id,
               {"registry": registry.code, "record": record_id, "field": field, "provider": registry.department.code,
                "due": due.date.isoformat(), "evidence": digest})
        # Kept only once the case is saved, last in its transaction: a refused or failed request leaves no file.
        evidence_files.keep(EVIDENCE_DIRECTORY, evidence.content)
    return correction


def _locked_correction(correction: CorrectionRequest) -> CorrectionRequest:
    locked = CorrectionRequest.objects.select_for_update(of=("self",)).select_related(
        "citizen__citizen", "registry", "provider").get(pk=correction.pk)
    if locked.status != CorrectionStatus.SUBMITTED:
        raise Conflict(_("This correction request has been decided already."))
    return locked


def record_of(correction: CorrectionRequest) -> Record:
    """The record a correction is about (its row, never its values)."""
    return Record.objects.select_related("registry").only("pk", "registry", "version", "deleted_at").get(
        pk=correction.record_id, registry=correction.registry)


def decide_correction(actor: User | None, correction: CorrectionRequest, *, accept: bool,
                      reason: str = "") -> CorrectionRequest:
    """The provider department's data officer decides. Accepted: the record takes the citizen's value through
    the registries' update action, with the case number as the reason its history shows. Refused: the
    reason is required and the citizen reads it."""
    record = record_of(correction)
    require_permission(actor, queries.CHANGE_RECORD, record)
    problems: list[FieldProblem] = []
    reason = (reason or "").strip()
    if not accept:
        reason = _text(problems, "reason", reason, _("Give the reason for refusing; the citizen will read it."))
    raise_if_problems(problems)
    with transaction.atomic():
        correction = _locked_correction(correction)
        correction.decided_at, correction.decided_by_name = timezone.now(), _name(actor)
        if accept:
            try:
                changed = registries.update_record(actor, record, {correction.field: correction.requested_value},
                                                   reason=correction.number)
            except InvalidInput as error:
                raise InvalidInput(error.message, [FieldProblem("decision", p.reason) for p in error.details]) \
                    from None
            correction.status, correction.record_version = CorrectionStatus.ACCEPTED, changed.version
        else:
            correction.status, correction.refusal_reason = CorrectionStatus.REFUSED, reason
        correction.save(update_fields=["status", "decided_at", "decided_by_name", "refusal_reason",
                                       "record_version"])
        _audit("privacy.decide_correction", actor, correction, _subject_of(correction),
               {"accepted": accept, "reason": reason, "record_version": correction.record_version})
        _tell_citizen_of_decision(correction)
    return correction


def _tell_citizen_of_decision(correction: CorrectionRequest) -> None:
    with translation.override(settings.LANGUAGE_CODE):
        values = {"number": correction.number, "field": correction.field_label,
                  "registry": correction.registry.name, "reason": correction.refusal_reason,
                  "path": reverse("privacy:correction", args=[correction.number])}
        if correction.status == CorrectionStatus.ACCEPTED:
            body = _("Your correction request %(number)s is accepted: %(field)s in %(registry)s is corrected.\n\n"
                     "See it at %(path)s.") % values
        else:
            body = _("Your correction request %(number)s about %(field)s in %(registry)s is refused.\n\n"
                     "Reason: %(reason)s\n\nSee it at %(path)s.") % values
        _tell_citizen(correction, _("Your correction request %(number)s is decided") % values, body)


# --- deadlines: a reminder the working day before, a notice once passed ------------------------------------


def _deadline_mail(case: Objection | CorrectionRequest, due: dt.date, *, overdue: bool) -> tuple[str, str]:
    if isinstance(case, Objection):
        kind, path = _("Objection"), reverse("privacy:answer-objection", args=[case.number])
    else:
        kind, path = _("Correction request"), reverse("privacy:decide-correction", args=[case.number])
    values = {"kind": kind, "number": case.number, "due": due.isoformat(), "path": path}
    if overdue:
        return (_("Overdue: %(kind)s %(number)s was due on %(due)s") % values,
                _("%(kind)s %(number)s of a citizen was due on %(due)s, counted in working days, and is still "
                  "waiting. Please act on it at %(path)s.") % values)
    return (_("Reminder: %(kind)s %(number)s is due on %(due)s") % values,
            _("%(kind)s %(number)s of a citizen is due on %(due)s, counted in working days. Please act on it "
              "at %(path)s.") % values)


def _tell_staff(action: str, case: Objection | CorrectionRequest, due: dt.date, *, overdue: bool) -> None:
    """Mail the staff who must act (and, for an overdue correction, the governance office), and audit it, in
    the caller's transaction: a mail that cannot be sent rolls the mark back, so the next run tries again."""
    staff = queries.staff_to_act(case)
    if overdue and isinstance(case, CorrectionRequest):
        staff += [user for user in queries.governance_officers() if user not in staff]
    addresses = [user.email for user in staff if user.email]
    if addresses:
        with translation.override(settings.LANGUAGE_CODE):
            subject, body = _deadline_mail(case, due, overdue=overdue)
        send_mail(subject, body, None, addresses)
    _audit(action, None, case, _subject_of(case), {
        "due": due.isoformat(), "recipients": [user.get_username() for user in staff],
        "without_address": [user.get_username() for user in staff if not user.email]})


def _locked_case(case: Objection | CorrectionRequest) -> Objection | CorrectionRequest:
    return _locked_objection(case) if isinstance(case, Objection) else _locked_correction(case)


def remind_of_deadline(case: Objection | CorrectionRequest) -> bool:
    """Remind the staff who must act of the case's deadline, once per deadline. Returns whether it went out."""
    with transaction.atomic():
        case = _locked_case(case)
        if case.reminded_for == case.due:
            return False
        case.reminded_for = case.due
        case.save(update_fields=["reminded_for"])
        _tell_staff("privacy.remind_case_deadline", case, case.due, overdue=False)
    return True


def notify_overdue(case: Objection | CorrectionRequest, *, today: dt.date) -> bool:
    """Tell the staff who must act, and for a correction the governance office too, that the deadline has
    passed: once per deadline. Returns whether the notice went out."""
    with transaction.atomic():
        case = _locked_case(case)
        if case.due >= today or case.overdue_notice_for == case.due:
            return False
        case.overdue_notice_for = case.due
        case.save(update_fields=["overdue_notice_for"])
        _tell_staff("privacy.case_overdue_notice", case, case.due, overdue=True)
    return True

