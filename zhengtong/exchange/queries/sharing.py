"""Reads of sharing that carry rules: which requests and grants a person (or a department system) may see, the
lists each side works from, the deadline flags, and who must act before a deadline.

A request or grant is seen by its consumer side (the consumer department, within the viewer's data scope), by
its provider side (the resource's provider within the viewer's data scope) and, for requests, by the
governance office, which checks and settles them all. Anything else answers 404: its existence is not shown.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhengtong.audit.models import AuditEntry
from zhengtong.audit.queries import EntryFilters, search_entries
from zhengtong.catalog.models import Resource
from zhengtong.core import calendar
from zhengtong.exchange.models import Grant, GrantStatus, RefusedBy, RequestStatus, SharingRequest
from zhengtong.identity import scope
from zhengtong.identity.models import ApiClient, User

VIEW_REQUEST = "exchange.view_sharingrequest"
ADD_REQUEST = "exchange.add_sharingrequest"
ANSWER_REQUEST = "exchange.answer_sharingrequest"
CHECK_REQUEST = "exchange.check_sharingrequest"
VIEW_GRANT = "exchange.view_grant"
ADD_GRANT = "exchange.add_grant"
CHANGE_GRANT = "exchange.change_grant"

# The steps that wait on someone, each with the field holding its deadline.
WAITING = {RequestStatus.CHECKING: "check_due", RequestStatus.PROVIDER_REVIEW: "answer_due",
           RequestStatus.DISPUTED: "settle_due"}
WITHDRAWABLE = (RequestStatus.CHECKING, RequestStatus.PROVIDER_REVIEW, RequestStatus.DISPUTED)
HISTORY_LIMIT = 200


class RequestSide(enum.StrEnum):
    OURS = "ours"  # the consumer's requests
    INCOMING = "incoming"  # requests for the provider's resources
    QUEUE = "queue"  # the governance office's checks and disputes
    ALL = "all"  # every request, for the governance office


REQUEST_SIDE_LABELS = {
    RequestSide.OURS: _("Our department's requests"),
    RequestSide.INCOMING: _("Requests for our resources"),
    RequestSide.QUEUE: _("Checks and disputes to settle"),
    RequestSide.ALL: _("All requests"),
}


class GrantSide(enum.StrEnum):
    OURS = "ours"  # grants the viewer's department holds
    PROVIDED = "provided"  # grants of the viewer's department's resources
    ALL = "all"  # every grant, for the governance office


GRANT_SIDE_LABELS = {
    GrantSide.OURS: _("Grants our department holds"),
    GrantSide.PROVIDED: _("Grants of our resources"),
    GrantSide.ALL: _("All grants"),
}


def _provided_q(user: Any, path: str = "resource") -> Q:
    """Rows whose resource's provider lies inside the user's data scope."""
    provided = Resource.objects.filter(scope.scope_q(user, Resource)).values("pk")
    return Q(**{f"{path}__in": provided})


# --- requests ----------------------------------------------------------------------------------------------


def _requests() -> QuerySet[SharingRequest]:
    return SharingRequest.objects.select_related("resource", "resource__provider", "consumer")


def visible_requests(user: Any) -> QuerySet[SharingRequest]:
    """Requests `user` may see: None is the platform, an API client sees its own department's."""
    requests = _requests()
    if user is None:
        return requests
    if isinstance(user, ApiClient):
        return requests.filter(consumer=user.department)
    if not scope.permitted(user, VIEW_REQUEST):
        return requests.none()
    if scope.permitted(user, CHECK_REQUEST):
        return requests
    return requests.filter(scope.scope_q(user, SharingRequest) | _provided_q(user))


def request_sides(user: Any) -> list[RequestSide]:
    """The lists of requests this person works from, in the order the page offers them."""
    if not scope.permitted(user, VIEW_REQUEST):
        return []
    sides = []
    if scope.permitted(user, CHECK_REQUEST):
        sides += [RequestSide.QUEUE, RequestSide.ALL]
    if scope.permitted(user, ADD_REQUEST):
        sides.append(RequestSide.OURS)
    if scope.permitted(user, ANSWER_REQUEST):
        sides.append(RequestSide.INCOMING)
    return sides


def requests_on_side(user: Any, side: RequestSide) -> QuerySet[SharingRequest]:
    requests = visible_requests(user)
    if side == RequestSide.OURS:
        return requests.filter(scope.scope_q(user, SharingRequest))
    if side == RequestSide.INCOMING:
        return requests.filter(_provided_q(user))
    if side == RequestSide.QUEUE:
        return requests.filter(status__in=(RequestStatus.CHECKING, RequestStatus.DISPUTED))
    return requests


def may_request(user: Any, resource: Resource) -> bool:
    """Staff who may ask for data, from a department other than the resource's provider."""
    staff = getattr(user, "staff", None)
    return staff is not None and staff.department_id != resource.provider_id and scope.permitted(user, ADD_REQUEST)


def may_check(user: Any, request: SharingRequest) -> bool:
    return request.status == RequestStatus.CHECKING and scope.permitted(user, CHECK_REQUEST)


def may_answer(user: Any, request: SharingRequest) -> bool:
    return request.status == RequestStatus.PROVIDER_REVIEW and scope.permitted(user, ANSWER_REQUEST,
                                                                                request.resource)


def may_dispute(user: Any, request: SharingRequest) -> bool:
    """A refusal is disputed once, and never one that only follows the catalog's sharing type."""
    return (request.status == RequestStatus.REFUSED and request.refused_by != RefusedBy.CATALOG
            and request.disputed_at is None and scope.permitted(user, ADD_REQUEST, request))


def may_settle(user: Any, request: SharingRequest) -> bool:
    return request.status == RequestStatus.DISPUTED and scope.permitted(user, CHECK_REQUEST)


def may_withdraw(user: Any, request: SharingRequest) -> bool:
    return request.status in WITHDRAWABLE and scope.permitted(user, ADD_REQUEST, request)


# --- grants ------------------------------------------------------------------------------------------------


def visible_grants(user: Any) -> QuerySet[Grant]:
    """Grants `user` may see: its department's and those of the resources it provides."""
    grants = Grant.objects.select_related("resource", "resource__provider", "resource__registry", "consumer",
                                          "request")
    if user is None:
        return grants
    if isinstance(user, ApiClient):
        return grants.filter(consumer=user.department)
    if not scope.permitted(user, VIEW_GRANT):
        return grants.none()
    return grants.filter(scope.scope_q(user, Grant) | _provided_q(user))


def grant_sides(user: Any) -> list[GrantSide]:
    if not scope.permitted(user, VIEW_GRANT):
        return []
    if scope.permitted(user, ADD_GRANT):  # the governance office, which grants to anyone
        return [GrantSide.ALL]
    sides = [GrantSide.OURS]
    if scope.permitted(user, CHANGE_GRANT):
        sides.append(GrantSide.PROVIDED)
    return sides


def grants_on_side(user: Any, side: GrantSide) -> QuerySet[Grant]:
    grants = visible_grants(user)
    if side == GrantSide.PROVIDED:
        return grants.filter(_provided_q(user))
    if side == GrantSide.OURS:
        return grants.filter(scope.scope_q(user, Grant))
    return grants


def may_manage_grant(user: Any, grant: Grant) -> bool:
    """The provider's data officers and the governance office change, suspend, resume and revoke grants."""
    return grant.status != GrantStatus.REVOKED and scope.permitted(user, CHANGE_GRANT, grant.resource)


# --- history -----------------------------------------------------------------------------------------------


def grant_history(grant: Grant) -> list[AuditEntry]:
    """The grant's audit entries, oldest first: how it was granted (its request's steps, or its issue), then
    changes of terms (from → to), suspensions, resumptions and revocation."""
    entries = list(search_entries(EntryFilters(object_type="grant", object_id=grant.number))[:HISTORY_LIMIT])
    if grant.request is not None:
        entries += request_history(grant.request)
    return sorted(entries, key=lambda entry: (entry.occurred_at, entry.pk))


def request_history(request: SharingRequest) -> list[AuditEntry]:
    entries = search_entries(EntryFilters(object_type="sharing_request", object_id=request.number))
    return list(entries[:HISTORY_LIMIT])[::-1]


# --- deadlines ---------------------------------------------------------------------------------------------


class DueState(enum.StrEnum):
    NONE = ""
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class Deadlines:
    """Deadline flags as of one day: overdue is past the step's deadline; due soon is due by the next working
    day. Work it out once per page or run, not once per request."""

    today: dt.date
    next_working_day: dt.date

    @classmethod
    def as_of(cls, today: dt.date | None = None) -> Deadlines:
        day = today or timezone.localdate()
        return cls(today=day, next_working_day=calendar.add_working_days(day, 1).date)

    def state(self, request: SharingRequest) -> DueState:
        due = request.current_due
        if not isinstance(due, dt.date):
            return DueState.NONE
        if due < self.today:
            return DueState.OVERDUE
        if due <= self.next_working_day:
            return DueState.DUE_SOON
        return DueState.NONE

    def waiting_q(self, *, through: dt.date) -> Q:
        """Requests waiting on a step whose deadline is on or before `through`."""
        condition = Q(pk__in=[])
        for status, due_field in WAITING.items():
            condition |= Q(status=status, **{f"{due_field}__lte": through})
        return condition


def staff_to_act(request: SharingRequest) -> list[User]:
    """Who must act on the request's current step: the provider's data officers for an answer (those whose
    scope reaches the resource), the governance office's officers for a check or a dispute."""
    if request.status == RequestStatus.PROVIDER_REVIEW:
        candidates = User.objects.with_perm(ANSWER_REQUEST, include_superusers=False)
        return [user for user in candidates.filter(staff__isnull=False).order_by("pk")
                if scope.permitted(user, ANSWER_REQUEST, request.resource)]
    if request.status in (RequestStatus.CHECKING, RequestStatus.DISPUTED):
        candidates = User.objects.with_perm(CHECK_REQUEST, include_superusers=False)
        return list(candidates.filter(staff__department__is_governance_office=True).order_by("pk"))
    return []
