"""JSON API of sharing requests and grants, under /api/v1/sharing/.

Staff follow the same path as on the pages: submit, check, answer, dispute, settle, withdraw; change, suspend,
resume and revoke grants. A department system (API client) reads its own department's requests and grants.
A request or grant outside the caller's reach is a 404; a step the caller may not take is a 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from zhengtong.audit.models import AuditEntry
from zhengtong.catalog import queries as catalog_queries
from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.exchange import actions, queries
from zhengtong.exchange.models import Basis, Grant, MaskingLevel, SharingRequest
from zhengtong.identity.models import User

router = Router(tags=["sharing"])

MAX_PAGE_SIZE = 100


def _person(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User):
        raise NotPermitted(_("Only staff take the steps of sharing; department systems read their requests and "
                             "grants."))
    return user


def _caller(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


# --- shapes ------------------------------------------------------------------------------------------------


class DepartmentRef(Schema):
    code: str
    name: str


class ResourceRef(Schema):
    id: int
    code: str | None
    name: str
    provider: DepartmentRef
    sharing_type: str


RowFilter = dict[str, dict[str, Any]]
ROW_FILTER_HELP = 'Field → condition: {"eq": value}, {"in": [values]} or {"prefix": "3301"}; plain fields only.'


class RequestOut(Schema):
    number: str
    status: str
    resource: ResourceRef
    consumer: DepartmentRef
    requested_by: str
    purpose: str
    scenario: str
    basis: str
    legal_basis: str
    fields: list[str]
    row_filter: RowFilter
    expected_daily_calls: int
    valid_from: dt.date
    valid_until: dt.date
    submitted_at: dt.datetime
    current_due: dt.date | None = Field(description="The deadline of the step the request waits on.")
    overdue: bool
    due_soon: bool = Field(description="The deadline is today or the next working day.")
    check_due: dt.date | None
    checked_at: dt.datetime | None
    checked_by: str
    check_note: str
    answer_due: dt.date | None
    answered_at: dt.datetime | None
    answered_by: str
    refused_by: str
    refusal_reasons: str
    dispute_reason: str
    disputed_at: dt.datetime | None
    settle_due: dt.date | None
    settled_at: dt.datetime | None
    settled_by: str
    settlement: str
    grant: str | None = Field(description="The number of the grant the request led to.")


class RequestPage(Schema):
    count: int
    page: int
    page_size: int
    results: list[RequestOut]


class HistoryOut(Schema):
    occurred_at: dt.datetime
    action: str
    actor: str
    department: str
    detail: dict[str, Any]


class GrantOut(Schema):
    number: str
    status: str
    status_reason: str
    request: str | None
    resource: ResourceRef
    consumer: DepartmentRef
    purpose: str
    basis: str
    legal_basis: str
    fields: list[str]
    row_filter: RowFilter
    masking_level: str
    field_rules: dict[str, str]
    may_write: bool
    may_reveal: bool
    valid_from: dt.date
    valid_until: dt.date
    daily_quota: int | None
    rate_per_minute: int | None


class GrantDetailOut(GrantOut):
    history: list[HistoryOut] = Field(description="The grant's audit entries (and its request's), oldest first.")


class GrantPage(Schema):
    count: int
    page: int
    page_size: int
    results: list[GrantOut]


def _department(department: Any) -> DepartmentRef:
    return DepartmentRef(code=department.code, name=department.name)


def _resource(resource: Any) -> ResourceRef:
    return ResourceRef(id=resource.pk, code=resource.code, name=resource.name,
                       provider=_department(resource.provider), sharing_type=resource.sharing_type)


def _request_out(item: SharingRequest, deadlines: queries.Deadlines, grant: str | None) -> RequestOut:
    state = deadlines.state(item)
    return RequestOut(
        number=item.number, status=item.status, resource=_resource(item.resource),
        consumer=_department(item.consumer), requested_by=item.requested_by_name, purpose=item.purpose,
        scenario=item.scenario, basis=item.basis, legal_basis=item.legal_basis, fields=list(item.fields),
        row_filter=dict(item.row_filter), expected_daily_calls=item.expected_daily_calls,
        valid_from=item.valid_from, valid_until=item.valid_until, submitted_at=item.submitted_at,
        current_due=item.current_due, overdue=state == queries.DueState.OVERDUE,
        due_soon=state == queries.DueState.DUE_SOON, check_due=item.check_due, checked_at=item.checked_at,
        checked_by=item.checked_by_name, check_note=item.check_note, answer_due=item.answer_due,
        answered_at=item.answered_at, answered_by=item.answered_by_name, refused_by=item.refused_by,
        refusal_reasons=item.refusal_reasons, dispute_reason=item.dispute_reason, disputed_at=item.disputed_at,
        settle_due=item.settle_due, settled_at=item.settled_at, settled_by=item.settled_by_name,
        settlement=item.settlement, grant=grant)


def _grant_values(grant: Grant) -> dict[str, Any]:
    return {
        "number": grant.number, "status": grant.status, "status_reason": grant.status_reason,
        "request": grant.request.number if grant.request else None, "resource": _resource(grant.resource),
        "consumer": _department(grant.consumer), "purpose": grant.purpose, "basis": grant.basis,
        "legal_basis": grant.legal_basis, "fields": list(grant.fields), "row_filter": dict(grant.row_filter),
        "masking_level": grant.masking_level, "field_rules": dict(grant.field_rules), "may_write": grant.may_write,
        "may_reveal": grant.may_reveal,
        "valid_from": grant.valid_from, "valid_until": grant.valid_until, "daily_quota": grant.daily_quota,
        "rate_per_minute": grant.rate_per_minute,
    }


def _history(entry: AuditEntry) -> HistoryOut:
    return HistoryOut(occurred_at=entry.occurred_at, action=entry.action, actor=entry.actor_name,
                      department=entry.actor_department, detail=dict(entry.detail or {}))


def _grant_number(request: HttpRequest, item: SharingRequest) -> str | None:
    return queries.visible_grants(_caller(request)).filter(request=item).values_list("number", flat=True).first()


def _visible_request(request: HttpRequest, number: str) -> SharingRequest:
    return get_object_or_404(queries.visible_requests(_caller(request)), number=number)


def _visible_grant(request: HttpRequest, number: str) -> Grant:
    return get_object_or_404(queries.visible_grants(_caller(request)), number=number)


def _answer(request: HttpRequest, item: SharingRequest) -> RequestOut:
    fresh = queries.visible_requests(None).get(pk=item.pk)
    return _request_out(fresh, queries.Deadlines.as_of(), _grant_number(request, fresh))


def _grant_detail(grant: Grant) -> GrantDetailOut:
    fresh = queries.visible_grants(None).get(pk=grant.pk)
    return GrantDetailOut(**_grant_values(fresh), history=[_history(e) for e in queries.grant_history(fresh)])


# --- inputs ------------------------------------------------------------------------------------------------


class RequestIn(Schema):
    resource: int = Field(description="The catalog resource's id.")
    purpose: str
    scenario: str = Field(description="The application scenario: the service or process that uses the data.")
    basis: str = Field(Basis.LEGAL, description="legal, or consent (of the data subjects).")
    legal_basis: str = Field("", description="Required when the basis is legal.")
    fields: list[str]
    row_filter: RowFilter = Field({}, description=ROW_FILTER_HELP)
    expected_daily_calls: int | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


class CheckIn(Schema):
    conforms: bool
    note: str = Field("", description="Required when it does not conform: the reasons for refusing.")


class TermsIn(Schema):
    fields: list[str]
    row_filter: RowFilter = Field({}, description=ROW_FILTER_HELP)
    valid_from: dt.date
    valid_until: dt.date
    masking_level: str = Field(MaskingLevel.MASKED, description="masked, pseudonymised or clear.")
    field_rules: dict[str, str] = Field({}, description="Field → masking rule, overriding the field's own.")
    daily_quota: int | None = None
    rate_per_minute: int | None = None
    may_reveal: bool = Field(False, description="The consumer's staff whose role allows it may reveal masked "
                                                "values, with a reason and a case reference.")


class AnswerIn(Schema):
    grant: bool
    reasons: str = Field("", description="Required when refusing.")
    terms: TermsIn | None = Field(None, description="Narrower terms than those asked for; leave out to grant "
                                                    "as asked.")


class DisputeIn(Schema):
    grounds: str


class SettleIn(Schema):
    grant: bool = Field(description="true grants the request as asked; false lets the refusal stand.")
    settlement: str


class GrantChangeIn(Schema):
    """Only the terms given change; the others keep their current values."""

    reason: str
    fields: list[str] | None = None
    row_filter: RowFilter | None = Field(None, description=ROW_FILTER_HELP)
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    masking_level: str | None = None
    field_rules: dict[str, str] | None = None
    daily_quota: int | None = Field(None, description="null (when given) removes the quota.")
    rate_per_minute: int | None = Field(None, description="null (when given) removes the rate limit.")
    may_write: bool | None = None
    may_reveal: bool | None = None


class ReasonIn(Schema):
    reason: str


def _terms(payload: TermsIn) -> actions.Terms:
    return actions.Terms(fields=payload.fields, row_filter=payload.row_filter, valid_from=payload.valid_from,
                         valid_until=payload.valid_until, masking_level=payload.masking_level,
                         field_rules=payload.field_rules, daily_quota=payload.daily_quota,
                         rate_per_minute=payload.rate_per_minute, may_reveal=payload.may_reveal)


def _changed_terms(grant: Grant, payload: GrantChangeIn) -> actions.Terms:
    given = payload.model_fields_set
    values = {name: getattr(payload, name) if name in given else getattr(grant, name)
              for name in actions.GRANT_TERMS}
    for name in ("fields", "valid_from", "valid_until", "masking_level", "field_rules", "row_filter", "may_write",
                 "may_reveal"):
        if values[name] is None:
            raise InvalidInput.for_field(name, _("Leave it out to keep it; it cannot be null."))
    return actions.Terms(**values)


def _paged(items: QuerySet[Any], page: int, page_size: int) -> tuple[int, list[Any]]:
    start = (page - 1) * page_size
    return items.count(), list(items[start:start + page_size])


# --- requests ----------------------------------------------------------------------------------------------


@router.get("/sharing/requests", response=RequestPage, summary="Sharing requests the caller may see")
def list_requests(request: HttpRequest,
                  side: str = Query("", description="ours, incoming, queue or all; empty for every visible request."),
                  status: str = "", page: int = Query(1, ge=1),
                  page_size: int = Query(20, ge=1, le=MAX_PAGE_SIZE)) -> RequestPage:
    caller = _caller(request)
    if side:
        sides = queries.request_sides(caller) if isinstance(caller, User) else []
        if side not in sides:
            raise InvalidInput.for_field("side", _("Choose one of the lists you work from: %(sides)s.") % {
                "sides": ", ".join(sides) or "—"})
        requests = queries.requests_on_side(caller, queries.RequestSide(side))
    else:
        requests = queries.visible_requests(caller)
    if status:
        requests = requests.filter(status=status)
    count, rows = _paged(requests, page, page_size)
    grants = dict(queries.visible_grants(caller).filter(request__in=rows).values_list("request_id", "number"))
    deadlines = queries.Deadlines.as_of()
    return RequestPage(count=count, page=page, page_size=page_size,
                       results=[_request_out(item, deadlines, grants.get(item.pk)) for item in rows])


@router.post("/sharing/requests", response={201: RequestOut}, summary="Request a catalog resource")
def submit_request(request: HttpRequest, payload: RequestIn) -> Status[RequestOut]:
    user = _person(request)
    resource = catalog_queries.visible_resources(user).filter(pk=payload.resource).first()
    if resource is None:
        raise InvalidInput.for_field("resource", _("There is no resource %(id)s in the catalog you can see.")
                                     % {"id": payload.resource})
    item = actions.submit_request(user, actions.RequestInput(
        resource=resource, purpose=payload.purpose, scenario=payload.scenario, basis=payload.basis,
        legal_basis=payload.legal_basis, expected_daily_calls=payload.expected_daily_calls,
        terms=actions.Terms(fields=payload.fields, row_filter=payload.row_filter, valid_from=payload.valid_from,
                            valid_until=payload.valid_until)))
    return Status(201, _answer(request, item))


@router.get("/sharing/requests/{number}", response=RequestOut, summary="A sharing request and where it stands")
def get_request(request: HttpRequest, number: str) -> RequestOut:
    return _answer(request, _visible_request(request, number))


@router.post("/sharing/requests/{number}/check", response=RequestOut,
             summary="The governance office's conformity check")
def check_request(request: HttpRequest, number: str, payload: CheckIn) -> RequestOut:
    item = actions.check_request(_person(request), _visible_request(request, number), conforms=payload.conforms,
                                 note=payload.note)
    return _answer(request, item)


@router.post("/sharing/requests/{number}/answer", response=RequestOut,
             summary="The provider's answer: grant (on narrower terms if it wants) or refuse with reasons")
def answer_request(request: HttpRequest, number: str, payload: AnswerIn) -> RequestOut:
    item = actions.answer_request(_person(request), _visible_request(request, number), grant=payload.grant,
                                  reasons=payload.reasons,
                                  terms=_terms(payload.terms) if payload.terms is not None else None)
    return _answer(request, item)


@router.post("/sharing/requests/{number}/dispute", response=RequestOut, summary="Dispute a refusal")
def dispute_refusal(request: HttpRequest, number: str, payload: DisputeIn) -> RequestOut:
    item = actions.dispute_refusal(_person(request), _visible_request(request, number), grounds=payload.grounds)
    return _answer(request, item)


@router.post("/sharing/requests/{number}/settle", response=RequestOut, summary="Settle a disputed refusal")
def settle_dispute(request: HttpRequest, number: str, payload: SettleIn) -> RequestOut:
    item = actions.settle_dispute(_person(request), _visible_request(request, number), grant=payload.grant,
                                  settlement=payload.settlement)
    return _answer(request, item)


@router.post("/sharing/requests/{number}/withdraw", response=RequestOut, summary="Withdraw a request")
def withdraw_request(request: HttpRequest, number: str) -> RequestOut:
    item = actions.withdraw_request(_person(request), _visible_request(request, number))
    return _answer(request, item)


# --- grants ------------------------------------------------------------------------------------------------


@router.get("/sharing/grants", response=GrantPage, summary="Grants the caller may see")
def list_grants(request: HttpRequest,
                side: str = Query("", description="ours, provided or all; empty for every visible grant."),
                status: str = "", page: int = Query(1, ge=1),
                page_size: int = Query(20, ge=1, le=MAX_PAGE_SIZE)) -> GrantPage:
    caller = _caller(request)
    if side:
        grant_sides = queries.grant_sides(caller) if isinstance(caller, User) else []
        if side not in grant_sides:
            raise InvalidInput.for_field("side", _("Choose one of the lists you work from: %(sides)s.") % {
                "sides": ", ".join(grant_sides) or "—"})
        grants = queries.grants_on_side(caller, queries.GrantSide(side))
    else:
        grants = queries.visible_grants(caller)
    if status:
        grants = grants.filter(status=status)
    count, rows = _paged(grants, page, page_size)
    return GrantPage(count=count, page=page, page_size=page_size,
                     results=[GrantOut(**_grant_values(grant)) for grant in rows])


@router.get("/sharing/grants/{number}", response=GrantDetailOut, summary="A grant with its terms and history")
def get_grant(request: HttpRequest, number: str) -> GrantDetailOut:
    return _grant_detail(_visible_grant(request, number))


@router.patch("/sharing/grants/{number}", response=GrantDetailOut,
              summary="Change a grant's terms (those given), with the reason")
def change_grant(request: HttpRequest, number: str, payload: GrantChangeIn) -> GrantDetailOut:
    user = _person(request)
    grant = _visible_grant(request, number)
    return _grant_detail(actions.change_grant(user, grant, _changed_terms(grant, payload), reason=payload.reason))


@router.post("/sharing/grants/{number}/suspend", response=GrantDetailOut, summary="Suspend a grant")
def suspend_grant(request: HttpRequest, number: str, payload: ReasonIn) -> GrantDetailOut:
    grant = actions.suspend_grant(_person(request), _visible_grant(request, number), reason=payload.reason)
    return _grant_detail(grant)


@router.post("/sharing/grants/{number}/resume", response=GrantDetailOut, summary="Resume a suspended grant")
def resume_grant(request: HttpRequest, number: str, payload: ReasonIn) -> GrantDetailOut:
    grant = actions.resume_grant(_person(request), _visible_grant(request, number), reason=payload.reason)
    return _grant_detail(grant)


@router.post("/sharing/grants/{number}/revoke", response=GrantDetailOut, summary="Revoke a grant for good")
def revoke_grant(request: HttpRequest, number: str, payload: ReasonIn) -> GrantDetailOut:
    grant = actions.revoke_grant(_person(request), _visible_grant(request, number), reason=payload.reason)
    return _grant_detail(grant)
