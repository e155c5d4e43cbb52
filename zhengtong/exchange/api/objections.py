"""JSON API of data objections, under /api/v1/objections/.

Staff follow the same path as on the pages: raise (naming the record by its key, which the door checks), correct
or answer, accept or escalate, settle. An objection outside the caller's reach is a 404; a step the caller may not
take is a 403. Evidence files are attached on the page; the API carries the objection's text and its history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.exchange import actions, queries
from zhengtong.exchange.models import DataObjection
from zhengtong.identity.models import User
from zhengtong.registries.models import Registry

router = Router(tags=["objections"])

MAX_PAGE_SIZE = 100


def _person(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User):
        raise NotPermitted(_("Only staff raise and answer data objections."))
    return user


# --- shapes ------------------------------------------------------------------------------------------------


class HistoryOut(Schema):
    occurred_at: dt.datetime
    action: str
    actor: str
    department: str
    detail: dict[str, Any]


class ObjectionOut(Schema):
    number: str
    status: str
    registry: str
    resource: str = Field(description="The catalog resource's code.")
    provider: str = Field(description="The provider department's code.")
    consumer: str = Field(description="The consumer department's code.")
    raised_by: str
    raised_at: dt.datetime
    field: str
    proposed_value: str
    description: str
    evidence: str = Field(description="The evidence file's name, or empty.")
    answer_due: dt.date
    settle_due: dt.date | None
    current_due: dt.date | None = Field(description="The deadline of the step the objection waits on.")
    overdue: bool
    due_soon: bool
    must_correct: bool
    response: str
    responded_by: str
    responded_at: dt.datetime | None
    corrected_version: int | None
    escalation_grounds: str
    settlement: str
    settled_by: str
    settled_at: dt.datetime | None


class ObjectionDetailOut(ObjectionOut):
    history: list[HistoryOut]


class ObjectionPage(Schema):
    count: int
    page: int
    page_size: int
    results: list[ObjectionOut]


def _values(item: DataObjection, deadlines: queries.Deadlines) -> dict[str, Any]:
    state = queries.objection_state(deadlines, item)
    return {
        "number": item.number, "status": item.status, "registry": item.registry.code,
        "resource": item.resource.code or "", "provider": item.resource.provider.code,
        "consumer": item.consumer.code, "raised_by": item.raised_by_name, "raised_at": item.raised_at,
        "field": item.field, "proposed_value": item.proposed_value, "description": item.description,
        "evidence": item.evidence_name, "answer_due": item.answer_due, "settle_due": item.settle_due,
        "current_due": item.current_due, "overdue": state == queries.DueState.OVERDUE,
        "due_soon": state == queries.DueState.DUE_SOON, "must_correct": item.must_correct,
        "response": item.response, "responded_by": item.responded_by_name, "responded_at": item.responded_at,
        "corrected_version": item.corrected_version, "escalation_grounds": item.escalation_grounds,
        "settlement": item.settlement, "settled_by": item.settled_by_name, "settled_at": item.settled_at,
    }


def _detail(item: DataObjection) -> ObjectionDetailOut:
    fresh = queries.visible_objections(None).get(pk=item.pk)
    history = [HistoryOut(occurred_at=e.occurred_at, action=e.action, actor=e.actor_name,
                          department=e.actor_department, detail=dict(e.detail or {}))
               for e in queries.objection_history(fresh)]
    return ObjectionDetailOut(**_values(fresh, queries.Deadlines.as_of()), history=history)


def _visible(request: HttpRequest, number: str) -> DataObjection:
    return get_object_or_404(queries.visible_objections(_person(request)), number=number)


# --- inputs ------------------------------------------------------------------------------------------------


class ObjectionIn(Schema):
    registry: str = Field(description="The registry's code.")
    key: dict[str, str] = Field(description="The record's key: key field → value.")
    field: str
    proposed_value: str = Field(description="The value believed right.")
    description: str = Field(description="Why the value is wrong, and where the right one comes from.")


class CorrectIn(Schema):
    value: str | None = Field(None, description="The value to write; the consumer's when left out.")
    note: str = ""


class AnswerIn(Schema):
    explanation: str


class EscalateIn(Schema):
    grounds: str


class SettleIn(Schema):
    value_wrong: bool = Field(description="true: the provider must correct the value within 5 working days; "
                                          "false: the value stands.")
    settlement: str


# --- endpoints ---------------------------------------------------------------------------------------------


@router.get("/objections", response=ObjectionPage, summary="Data objections the caller may see")
def list_objections(request: HttpRequest,
                    side: str = Query("", description="ours, incoming or office; empty for every visible one."),
                    status: str = "", deadline: str = Query("", description="overdue or due_soon."),
                    page: int = Query(1, ge=1), page_size: int = Query(20, ge=1, le=MAX_PAGE_SIZE)) -> ObjectionPage:
    user = _person(request)
    objections = queries.visible_objections(user)
    if side:
        sides = queries.objection_sides(user)
        if side not in sides:
            raise InvalidInput.for_field("side", _("Choose one of the lists you work from: %(sides)s.")
                                         % {"sides": ", ".join(sides) or "—"})
        objections = queries.objections_on_side(user, queries.ObjectionSide(side))
    if status:
        objections = objections.filter(status=status)
    deadlines = queries.Deadlines.as_of()
    if deadline:
        if deadline not in (queries.DueState.OVERDUE, queries.DueState.DUE_SOON):
            raise InvalidInput.for_field("deadline", _("Choose overdue or due_soon."))
        objections = queries.with_flag(objections, deadlines, queries.DueState(deadline))
    start = (page - 1) * page_size
    rows = list(objections[start:start + page_size])
    return ObjectionPage(count=objections.count(), page=page, page_size=page_size,
                         results=[ObjectionOut(**_values(item, deadlines)) for item in rows])


@router.post("/objections", response={201: ObjectionDetailOut}, summary="Report a wrong value")
def raise_objection(request: HttpRequest, payload: ObjectionIn) -> Status[ObjectionDetailOut]:
    user = _person(request)
    registry = Registry.objects.filter(code=payload.registry).first()
    if registry is None:
        raise InvalidInput.for_field("registry", _("There is no such registry."))
    item = actions.raise_objection(user, actions.ObjectionInput(
        registry=registry, key=payload.key, field=payload.field, proposed_value=payload.proposed_value,
        description=payload.description))
    return Status(201, _detail(item))


@router.get("/objections/{number}", response=ObjectionDetailOut, summary="An objection, with its history")
def get_objection(request: HttpRequest, number: str) -> ObjectionDetailOut:
    return _detail(_visible(request, number))


@router.post("/objections/{number}/correct", response=ObjectionDetailOut, summary="The provider corrects the record")
def correct_objection(request: HttpRequest, number: str, payload: CorrectIn) -> ObjectionDetailOut:
    return _detail(actions.correct_objection(_person(request), _visible(request, number), value=payload.value,
                                             note=payload.note))


@router.post("/objections/{number}/answer", response=ObjectionDetailOut,
             summary="The provider answers that the value is right")
def answer_objection(request: HttpRequest, number: str, payload: AnswerIn) -> ObjectionDetailOut:
    return _detail(actions.answer_objection(_person(request), _visible(request, number),
                                            explanation=payload.explanation))


@router.post("/objections/{number}/accept", response=ObjectionDetailOut, summary="The consumer accepts the answer")
def accept_answer(request: HttpRequest, number: str) -> ObjectionDetailOut:
    return _detail(actions.accept_answer(_person(request), _visible(request, number)))


@router.post("/objections/{number}/escalate", response=ObjectionDetailOut,
             summary="The consumer escalates to the governance office")
def escalate_objection(request: HttpRequest, number: str, payload: EscalateIn) -> ObjectionDetailOut:
    return _detail(actions.escalate_objection(_person(request), _visible(request, number), grounds=payload.grounds))


@router.post("/objections/{number}/settle", response=ObjectionDetailOut, summary="The governance office settles")
def settle_objection(request: HttpRequest, number: str, payload: SettleIn) -> ObjectionDetailOut:
    return _detail(actions.settle_objection(_person(request), _visible(request, number),
                                            value_wrong=payload.value_wrong, settlement=payload.settlement))
