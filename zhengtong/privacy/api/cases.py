"""JSON API of citizens' cases, under /api/v1/privacy/: a citizen lists, raises and reads their objections and
correction requests; the data governance office answers objections; a provider department's data officers
decide corrections. A case outside the caller's reach is a 404; a step the caller may not take is a 403."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile

from zhengtong.core.errors import NotPermitted
from zhengtong.identity.models import User
from zhengtong.privacy.actions import cases as actions
from zhengtong.privacy.models import CorrectionRequest, Objection
from zhengtong.privacy.queries import cases as queries
from zhengtong.registries.models import Registry

router = Router(tags=["privacy"])


def _person(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User):
        raise NotPermitted(_("Cases are raised and answered by people, not department systems."))
    return user


# --- shapes ------------------------------------------------------------------------------------------------


class ObjectionOut(Schema):
    number: str
    status: str
    audit_entry_id: int
    accessed_at: dt.datetime
    department: str = Field(description="The code of the department that accessed the data.")
    department_name: str
    access_action: str
    access_purpose: str
    access_legal_basis: str
    reason: str
    submitted_at: dt.datetime
    due: dt.date = Field(description="The answer is due by this day, counted in working days.")
    overdue: bool
    answered_at: dt.datetime | None
    answer: str


class ObjectionIn(Schema):
    entry_id: int = Field(description="The audit entry of the access: one that concerns the caller.")
    reason: str


class AnswerIn(Schema):
    upheld: bool
    answer: str


class CorrectionOut(Schema):
    number: str
    status: str
    registry: str
    record_id: int
    provider: str
    field: str
    field_label: str
    requested_value: str
    reason: str
    evidence_name: str
    evidence_type: str
    evidence_size: int
    submitted_at: dt.datetime
    due: dt.date = Field(description="The decision is due by this day, counted in working days.")
    overdue: bool
    decided_at: dt.datetime | None
    refusal_reason: str
    record_version: int | None = Field(description="The record's version after an accepted correction.")


class DecideIn(Schema):
    accept: bool
    reason: str = ""


def _objection_out(objection: Objection, deadlines: queries.Deadlines) -> ObjectionOut:
    return ObjectionOut(
        number=objection.number, status=objection.status, audit_entry_id=objection.audit_entry_id,
        accessed_at=objection.accessed_at, department=objection.accessor_department,
        department_name=objection.accessor_department_name, access_action=objection.access_action,
        access_purpose=objection.access_purpose, access_legal_basis=objection.access_legal_basis,
        reason=objection.reason, submitted_at=objection.submitted_at, due=objection.due,
        overdue=queries.state(deadlines, objection) == queries.DueState.OVERDUE, answered_at=objection.answered_at,
        answer=objection.answer)


def _correction_out(correction: CorrectionRequest, deadlines: queries.Deadlines, user: Any) -> CorrectionOut:
    return CorrectionOut(
        number=correction.number, status=correction.status, registry=correction.registry.code,
        record_id=correction.record_id, provider=correction.provider.code, field=correction.field,
        field_label=correction.field_label, requested_value=queries.requested_value_shown(user, correction),
        reason=correction.reason,
        evidence_name=correction.evidence_name, evidence_type=correction.evidence_type,
        evidence_size=correction.evidence_size, submitted_at=correction.submitted_at, due=correction.due,
        overdue=queries.state(deadlines, correction) == queries.DueState.OVERDUE, decided_at=correction.decided_at,
        refusal_reason=correction.refusal_reason, record_version=correction.record_version)


# --- objections --------------------------------------------------------------------------------------------


@router.get("/privacy/objections", response=list[ObjectionOut],
            summary="The caller's objections, or the office's queue")
def list_objections(request: HttpRequest) -> list[ObjectionOut]:
    """A citizen's own objections; for the data governance office, every objection waiting for an answer."""
    user = _person(request)
    deadlines = queries.Deadlines.as_of()
    objections = queries.objection_queue(user, queries.Queue.WAITING) if queries.may_answer_objections(user) \
        else queries.own_objections(user)
    return [_objection_out(o, deadlines) for o in objections[:500]]


@router.post("/privacy/objections", response={201: ObjectionOut}, summary="Object to an access to your data")
def create_objection(request: HttpRequest, data: ObjectionIn) -> Status[ObjectionOut]:
    objection = actions.object_to_access(_person(request), entry_id=data.entry_id, reason=data.reason)
    return Status(201, _objection_out(objection, queries.Deadlines.as_of()))


def _objection(request: HttpRequest, number: str) -> Objection:
    objection = queries.visible_objection(_person(request), number)
    if objection is None:
        raise Http404
    return objection


@router.get("/privacy/objections/{number}", response=ObjectionOut, summary="One objection")
def read_objection(request: HttpRequest, number: str) -> ObjectionOut:
    return _objection_out(_objection(request, number), queries.Deadlines.as_of())


@router.post("/privacy/objections/{number}/answer", response=ObjectionOut,
             summary="Answer an objection (governance office)")
def answer_objection(request: HttpRequest, number: str, data: AnswerIn) -> ObjectionOut:
    objection = actions.answer_objection(_person(request), _objection(request, number), upheld=data.upheld,
                                         answer=data.answer)
    return _objection_out(objection, queries.Deadlines.as_of())


# --- corrections -------------------------------------------------------------------------------------------


@router.get("/privacy/corrections", response=list[CorrectionOut],
            summary="The caller's corrections, or the department's")
def list_corrections(request: HttpRequest) -> list[CorrectionOut]:
    """A citizen's own correction requests; for a provider's data officer, those waiting for their decision."""
    user = _person(request)
    deadlines = queries.Deadlines.as_of()
    corrections = queries.own_corrections(user) if getattr(user, "citizen", None) is not None else \
        queries.correction_queue(user, queries.Queue.WAITING)
    return [_correction_out(c, deadlines, request.user) for c in corrections[:500]]


@router.post("/privacy/corrections", response={201: CorrectionOut}, summary="Request a correction of your record")
def create_correction(request: HttpRequest, registry: Form[str], record_id: Form[int], field: Form[str],
                      value: Form[str], reason: Form[str], evidence: File[UploadedFile]) -> Status[CorrectionOut]:
    """Multipart form: the registry's code, the record's id (as the citizen's own records return it), the
    field, the right value, the reason and a PDF, PNG or JPEG file as evidence."""
    user = _person(request)
    found = get_object_or_404(Registry, code=registry)
    content = evidence.read(actions.MAX_EVIDENCE_BYTES + 1)
    correction = actions.request_correction(user, registry=found, record_id=record_id, field=field, value=value,
                                            reason=reason, evidence=actions.Evidence(evidence.name or "", content))
    return Status(201, _correction_out(correction, queries.Deadlines.as_of(), request.user))


def _correction(request: HttpRequest, number: str) -> CorrectionRequest:
    correction = queries.visible_correction(_person(request), number)
    if correction is None:
        raise Http404
    return correction


@router.get("/privacy/corrections/{number}", response=CorrectionOut, summary="One correction request")
def read_correction(request: HttpRequest, number: str) -> CorrectionOut:
    return _correction_out(_correction(request, number), queries.Deadlines.as_of(), request.user)


@router.post("/privacy/corrections/{number}/decide", response=CorrectionOut,
             summary="Decide a correction request (provider department)")
def decide_correction(request: HttpRequest, number: str, data: DecideIn) -> CorrectionOut:
    correction = actions.decide_correction(_person(request), _correction(request, number), accept=data.accept,
                                           reason=data.reason)
    return _correction_out(correction, queries.Deadlines.as_of(), request.user)
