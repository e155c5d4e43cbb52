"""Data objections (数据异议), every change as a named verb: a consumer's data officer raises one against a value it
read under its grant; the provider corrects the record or answers that the value is right within 5 working days;
the consumer accepts the answer or escalates; the data governance office settles within 5 working days. The
platform reminds whoever must act the working day before a deadline and tells them, and the governance office,
once it has passed.

The record is found and checked only through the one door: raising an objection reads the field through it (so
the consumer must hold a grant in force that covers the field and the record), and nothing here reads a record's
values. A correction is the registries' update_record, with the objection's number as the reason kept in the
record's history.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.catalog.actions import next_number
from zhengtong.catalog.models import Resource
from zhengtong.core import calendar
from zhengtong.core import evidence as evidence_files
from zhengtong.core.errors import Conflict, FieldProblem, InvalidInput, NotPermitted, raise_if_problems
from zhengtong.core.evidence import Evidence
from zhengtong.exchange import door
from zhengtong.exchange.models import DataObjection, ObjectionStatus
from zhengtong.exchange.queries.objections import (
    ANSWER_OBJECTION,
    RAISE_OBJECTION,
    SETTLE_OBJECTION,
    objection_staff,
    objection_state,
    waiting_q,
)
from zhengtong.exchange.queries.sharing import Deadlines, DueState
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import Department, User
from zhengtong.registries import actions as registries
from zhengtong.registries.codec import value_context
from zhengtong.registries.models import FieldType, Record, Registry
from zhengtong.registries.schema import Schema

log = structlog.get_logger("zhengtong.exchange.objections")

__all__ = ["Evidence", "MAX_EVIDENCE_BYTES", "OBJECTION_ANSWER_DAYS", "OBJECTION_SETTLE_DAYS", "ObjectionInput",
           "accept_answer", "answer_objection", "check_objection_deadlines", "correct_objection",
           "escalate_objection", "evidence_path", "notify_objection_overdue", "raise_objection",
           "remind_of_objection", "settle_objection"]

OBJECTION_ANSWER_DAYS = 5  # the provider corrects or answers
OBJECTION_SETTLE_DAYS = 5  # the governance office settles an escalation
MAX_TEXT = 2000
MAX_VALUE = 500
MAX_EVIDENCE_BYTES = evidence_files.MAX_BYTES
EVIDENCE_DIRECTORY = "objection-evidence"
WAITING = (ObjectionStatus.OPEN, ObjectionStatus.ESCALATED)


@dataclass(frozen=True)
class ObjectionInput:
    """What a consumer says is wrong: the record (its key, or its id as the door names a search result), the
    field, the value it believes right, why, and optionally a document that shows it."""

    registry: Registry
    key: Mapping[str, Any] | door.RecordId
    field: str
    proposed_value: str
    description: str
    evidence: Evidence | None = None


def _yearly_number() -> str:
    year = timezone.localdate().year
    return f"SJYY-{year}-{next_number(f'SJYY:{year}'):06d}"


def _due(days: int) -> dt.date:
    return calendar.add_working_days(timezone.localdate(), days).date


def _name(actor: User | None) -> str:
    if actor is None:
        return _("the platform")
    return actor.display_name or actor.get_username()


def _department_of(actor: User) -> Department:
    profile = getattr(actor, "staff", None)
    if profile is None:
        raise NotPermitted(_("Only staff of a department can do this."))
    return profile.department


def _text(problems: list[FieldProblem], name: str, value: str, message: str, limit: int = MAX_TEXT) -> str:
    value = (value or "").strip()
    if not value:
        problems.append(FieldProblem(name, message))
    elif len(value) > limit:
        problems.append(FieldProblem(name, _("Keep it to %(n)d characters.") % {"n": limit}))
    return value


# --- evidence -------------------------------------------------------------------------------------------------


def evidence_path(digest: str) -> Path:
    return evidence_files.path_of(EVIDENCE_DIRECTORY, digest)


# --- raising --------------------------------------------------------------------------------------------------


def _check_field(registry: Registry, data: ObjectionInput, problems: list[FieldProblem]) -> None:
    spec = door.codec_for(registry).schema.by_name.get(data.field)
    if spec is None:
        problems.append(FieldProblem("field", _("The registry has no such field.")))
        return
    if spec.type == FieldType.FILE:
        problems.append(FieldProblem("field", _("A file cannot be objected to here; contact the provider.")))
        return
    value = _text(problems, "proposed_value", data.proposed_value, _("Give the value you believe is right."),
                  MAX_VALUE)
    if value:
        _cleaned, found = Schema([spec]).clean({data.field: value}, value_context(), partial=True)
        problems.extend(FieldProblem("proposed_value", problem.reason) for problem in found)


def _resource_of(registry: Registry) -> Resource:
    resource = door.resource_of(registry)
    if resource is None:
        raise Conflict(_("This registry is not in the catalog, so it is not shared."))
    return resource


def raise_objection(actor: User, data: ObjectionInput) -> DataObjection:
    """A consumer's data officer objects to one field of a record its department reads under a grant. The field
    is read through the door first, so only a record and field the grant lets them see can be objected to; the
    provider must correct or answer within 5 working days."""
    require_permission(actor, RAISE_OBJECTION)
    consumer = _department_of(actor)
    registry = data.registry
    resource = _resource_of(registry)
    if resource.provider_id == consumer.pk:
        raise Conflict(_("Your department keeps this registry; correct the record on the registry's pages."))
    problems: list[FieldProblem] = []
    _check_field(registry, data, problems)
    description = _text(problems, "description", data.description, _("Say why the value is wrong."))
    kind = evidence_files.content_type(data.evidence, problems) if data.evidence and data.evidence.content else ""
    raise_if_problems(problems)
    reader = door.Reader.staff(actor)
    try:
        right: door.Right | None = door.resolve_right(reader, registry)
    except door.Refused:
        right = None  # the read below is refused, and audited, by the door
    if right is not None and right.grant is None:
        raise Conflict(_("Objections are raised under a grant; your department reads this registry otherwise."))
    reading = door.read_record(reader, registry, data.key, purpose=_("Raising a data objection"),
                               fields=[data.field])
    with transaction.atomic():
        objection = DataObjection(
            number=_yearly_number(), consumer=consumer, resource=resource, registry=registry,
            record=Record.objects.get(pk=reading.record_id), field=data.field,
            proposed_value=data.proposed_value.strip(), description=description, raised_by=actor,
            raised_by_name=_name(actor), raised_at=timezone.now(), answer_due=_due(OBJECTION_ANSWER_DAYS))
        if kind:
            assert data.evidence is not None
            objection.evidence_name = os.path.basename(data.evidence.name)[:255] or "evidence"
            objection.evidence_type, objection.evidence_size = kind, len(data.evidence.content)
            objection.evidence_digest = evidence_files.keep(EVIDENCE_DIRECTORY, data.evidence.content)
        objection.save()
        _audit("exchange.raise_objection", actor, objection, {"record_version": reading.version,
                                                              "evidence": bool(kind)})
    return objection


def _audit(action: str, actor: User | None, objection: DataObjection, detail: Mapping[str, Any]) -> None:
    # Values stay out of the trail: the objection holds them, for the two sides and the office only.
    audit.record(action, actor_of(actor), object_type="data_objection", object_id=objection.number,
                 fields=[objection.field],
                 detail={"registry": objection.registry.code, "record": objection.record_id,
                         "consumer": objection.consumer.code, "status": objection.status, **detail})


def _locked(objection: DataObjection, *expected: str) -> DataObjection:
    locked = (DataObjection.objects.select_for_update()
              .select_related("resource", "registry", "consumer", "record").get(pk=objection.pk))
    if locked.status not in expected:
        raise Conflict(_("The objection is %(status)s; this step no longer applies.")
                       % {"status": locked.get_status_display()})
    return locked


# --- the provider's side --------------------------------------------------------------------------------------


def correct_objection(actor: User, objection: DataObjection, *, value: str | None = None, note: str = ""
                      ) -> DataObjection:
    """The provider corrects the record: the value the consumer gave (or another the provider finds right), written
    by the registries' update_record with the objection's number as the reason, so the record's history names it."""
    require_permission(actor, ANSWER_OBJECTION, objection.resource)
    problems: list[FieldProblem] = []
    chosen = _text(problems, "value", objection.proposed_value if value is None else value,
                   _("Give the value to write."), MAX_VALUE)
    if len(note.strip()) > MAX_TEXT:
        problems.append(FieldProblem("note", _("Keep it to %(n)d characters.") % {"n": MAX_TEXT}))
    raise_if_problems(problems)
    with transaction.atomic():
        objection = _locked(objection, ObjectionStatus.OPEN)
        before = objection.record.version
        try:
            record = registries.update_record(actor, objection.record, {objection.field: chosen},
                                              reason=objection.number)
        except InvalidInput as error:
            # The registry names the record's field; here the value is the one input.
            raise InvalidInput(error.message, [FieldProblem("value", p.reason) for p in error.details]) from None
        if record.version == before:
            raise Conflict(_("The record already holds this value; answer the objection instead."))
        objection.status, objection.corrected_version = ObjectionStatus.CORRECTED, record.version
        objection.responded_at, objection.responded_by_name = timezone.now(), _name(actor)
        objection.response = note.strip()
        objection.save()
        _audit("exchange.correct_objection", actor, objection, {"record_version": record.version,
                                                                "note": objection.response})
    return objection


def answer_objection(actor: User, objection: DataObjection, *, explanation: str) -> DataObjection:
    """The provider confirms the value is right and explains why; the consumer then accepts or escalates. After
    the office has ruled that the value must be corrected, only a correction closes the objection."""
    require_permission(actor, ANSWER_OBJECTION, objection.resource)
    problems: list[FieldProblem] = []
    explanation = _text(problems, "explanation", explanation, _("Explain why the value is right."))
    raise_if_problems(problems)
    with transaction.atomic():
        objection = _locked(objection, ObjectionStatus.OPEN)
        if objection.must_correct:
            raise Conflict(_("The data governance office ruled that the value must be corrected."))
        objection.status = ObjectionStatus.ANSWERED
        objection.responded_at, objection.responded_by_name = timezone.now(), _name(actor)
        objection.response = explanation
        objection.save()
        _audit("exchange.answer_objection", actor, objection, {"explanation": explanation})
    return objection


# --- the consumer's side --------------------------------------------------------------------------------------


def accept_answer(actor: User, objection: DataObjection) -> DataObjection:
    require_permission(actor, RAISE_OBJECTION, objection)
    with transaction.atomic():
        objection = _locked(objection, ObjectionStatus.ANSWERED)
        objection.status, objection.accepted_at = ObjectionStatus.ACCEPTED, timezone.now()
        objection.save(update_fields=["status", "accepted_at"])
        _audit("exchange.accept_objection_answer", actor, objection, {})
    return objection


def escalate_objection(actor: User, objection: DataObjection, *, grounds: str) -> DataObjection:
    """The consumer does not accept the provider's answer: the governance office settles within 5 working
    days."""
    require_permission(actor, RAISE_OBJECTION, objection)
    problems: list[FieldProblem] = []
    grounds = _text(problems, "grounds", grounds, _("Say why the answer does not settle it."))
    raise_if_problems(problems)
    with transaction.atomic():
        objection = _locked(objection, ObjectionStatus.ANSWERED)
        objection.status, objection.escalated_at = ObjectionStatus.ESCALATED, timezone.now()
        objection.escalation_grounds, objection.settle_due = grounds, _due(OBJECTION_SETTLE_DAYS)
        objection.save()
        _audit("exchange.escalate_objection", actor, objection, {"grounds": grounds})
    return objection


# --- the governance office ------------------------------------------------------------------------------------


def settle_objection(actor: User | None, objection: DataObjection, *, value_wrong: bool, settlement: str
                     ) -> DataObjection:
    """The office settles: the value stands (closed), or it is wrong and the provider must correct it within 5
    working days, as a new deadline of the objection."""
    require_permission(actor, SETTLE_OBJECTION)
    problems: list[FieldProblem] = []
    settlement = _text(problems, "settlement", settlement, _("Record the settlement and its reasons."))
    raise_if_problems(problems)
    with transaction.atomic():
        objection = _locked(objection, ObjectionStatus.ESCALATED)
        objection.settled_at, objection.settled_by_name, objection.settlement = (
            timezone.now(), _name(actor), settlement)
        if value_wrong:
            objection.status, objection.must_correct = ObjectionStatus.OPEN, True
            objection.answer_due = _due(OBJECTION_ANSWER_DAYS)
        else:
            objection.status = ObjectionStatus.SETTLED
        objection.save()
        _audit("exchange.settle_objection", actor, objection, {"value_wrong": value_wrong,
                                                               "settlement": settlement})
    return objection


# --- deadlines: a reminder before each one, a notice once it has passed ---------------------------------------


def _deadline_mail(objection: DataObjection, due: dt.date, *, overdue: bool) -> tuple[str, str]:
    values = {"number": objection.number, "due": due.isoformat(), "consumer": objection.consumer.name,
              "resource": objection.resource.name, "path": reverse("exchange:objection", args=[objection.number])}
    # The worker has no visitor whose language to follow: the platform's is used.
    with translation.override(settings.LANGUAGE_CODE):
        values["step"] = objection.get_status_display()
        if overdue:
            return (_("Overdue: data objection %(number)s was due on %(due)s") % values,
                    _("Data objection %(number)s of %(consumer)s to %(resource)s is %(step)s. Its deadline, %(due)s, "
                      "has passed. Please act on it at %(path)s.") % values)
        return (_("Reminder: data objection %(number)s is due on %(due)s") % values,
                _("Data objection %(number)s of %(consumer)s to %(resource)s is %(step)s. The deadline is %(due)s, "
                  "counted in working days. Please act on it at %(path)s.") % values)


def _tell(action: str, objection: DataObjection, due: dt.date, staff: list[User], *, overdue: bool) -> None:
    """Mail `staff` and audit it, in the caller's transaction: a mail that cannot be sent rolls the flag back,
    so the next run tries again."""
    addresses = [user.email for user in staff if user.email]
    if addresses:
        subject, body = _deadline_mail(objection, due, overdue=overdue)
        send_mail(subject, body, None, addresses)
    _audit(action, None, objection, {"due": due.isoformat(), "recipients": [u.get_username() for u in staff],
                                     "without_address": [u.get_username() for u in staff if not u.email]})


def remind_of_objection(objection: DataObjection) -> bool:
    """Remind whoever must act of the current deadline, once per deadline (DataObjection.reminded_for)."""
    with transaction.atomic():
        objection = _locked(objection, *WAITING)
        due = objection.current_due
        if due is None or objection.reminded_for == due:
            return False
        objection.reminded_for = due
        objection.save(update_fields=["reminded_for"])
        _tell("exchange.remind_objection", objection, due, objection_staff(objection), overdue=False)
    return True


def notify_objection_overdue(objection: DataObjection, *, today: dt.date) -> bool:
    """Tell whoever must act, and the governance office, that the deadline has passed: once per deadline
    (DataObjection.overdue_notice_for)."""
    with transaction.atomic():
        objection = _locked(objection, *WAITING)
        due = objection.current_due
        if due is None or due >= today or objection.overdue_notice_for == due:
            return False
        objection.overdue_notice_for = due
        objection.save(update_fields=["overdue_notice_for"])
        staff = objection_staff(objection)
        office = [user for user in objection_staff(objection, office=True) if user not in staff]
        _tell("exchange.objection_overdue", objection, due, staff + office, overdue=True)
    return True


def check_objection_deadlines(today: dt.date | None = None) -> dict[str, int]:
    """One run of the deadline watch: reminders the working day before, overdue notices after. Each goes out
    once per deadline, so the worker may run it as often as it likes."""
    deadlines = Deadlines.as_of(today)
    sent = {"reminders": 0, "overdue_notices": 0}
    waiting = DataObjection.objects.filter(waiting_q(through=deadlines.next_working_day))
    for objection in waiting.select_related("consumer", "resource").order_by("pk"):
        state = objection_state(deadlines, objection)
        try:
            if state == DueState.DUE_SOON and objection.reminded_for != objection.current_due:
                sent["reminders"] += remind_of_objection(objection)
            elif state == DueState.OVERDUE:
                sent["overdue_notices"] += notify_objection_overdue(objection, today=deadlines.today)
        except Conflict:
            continue  # moved on to another step since it was read
        except OSError as error:
            # The mail server refused or is away: nothing was recorded, so the next run tries this one again.
            log.warning("objection deadline mail not sent", objection=objection.number, error=str(error))
    return sent
