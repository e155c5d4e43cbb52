"""Reads of data objections that carry rules: who sees which objection, the lists each side works from, the
deadline flags, who must act before a deadline, and an objection's history.

An objection is seen by its consumer side (the consumer department, within the viewer's data scope), by its
provider side (the resource's provider within the viewer's data scope), and by the data governance office,
which settles escalations and watches overdue ones. Anything else answers 404.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from zhengtong.audit.models import AuditEntry
from zhengtong.audit.queries import EntryFilters, search_entries
from zhengtong.catalog.models import Resource
from zhengtong.exchange.models import DataObjection, ObjectionStatus
from zhengtong.exchange.queries.sharing import Deadlines, DueState
from zhengtong.identity import scope
from zhengtong.identity.models import User

__all__ = ["ANSWER_OBJECTION", "OBJECTION_SIDE_LABELS", "ObjectionSide", "RAISE_OBJECTION", "SETTLE_OBJECTION",
           "VIEW_OBJECTION", "may_accept", "may_answer_objection", "may_escalate", "may_raise",
           "may_settle_objection", "objection_history", "objection_sides", "objection_staff", "objection_state",
           "objections_on_side", "visible_objections", "waiting_q", "with_flag"]

VIEW_OBJECTION = "exchange.view_dataobjection"
RAISE_OBJECTION = "exchange.add_dataobjection"
ANSWER_OBJECTION = "exchange.answer_dataobjection"
SETTLE_OBJECTION = "exchange.settle_dataobjection"
HISTORY_LIMIT = 200


class ObjectionSide(enum.StrEnum):
    OURS = "ours"  # objections the viewer's department raised
    INCOMING = "incoming"  # objections to the viewer's department's resources
    OFFICE = "office"  # every objection, for the governance office


OBJECTION_SIDE_LABELS = {
    ObjectionSide.OURS: _("Objections we raised"),
    ObjectionSide.INCOMING: _("Objections to our data"),
    ObjectionSide.OFFICE: _("All objections"),
}


def _provided_q(user: Any) -> Q:
    return Q(resource__in=Resource.objects.filter(scope.scope_q(user, Resource)).values("pk"))


def visible_objections(user: Any) -> QuerySet[DataObjection]:
    """Objections `user` may see; None is the platform."""
    objections = DataObjection.objects.select_related("resource", "resource__provider", "registry", "consumer")
    if user is None:
        return objections
    if not scope.permitted(user, VIEW_OBJECTION):
        return objections.none()
    if scope.permitted(user, SETTLE_OBJECTION):
        return objections
    return objections.filter(scope.scope_q(user, DataObjection) | _provided_q(user))


def objection_sides(user: Any) -> list[ObjectionSide]:
    if not scope.permitted(user, VIEW_OBJECTION):
        return []
    sides = []
    if scope.permitted(user, SETTLE_OBJECTION):
        sides.append(ObjectionSide.OFFICE)
    if scope.permitted(user, RAISE_OBJECTION):
        sides.append(ObjectionSide.OURS)
    if scope.permitted(user, ANSWER_OBJECTION):
        sides.append(ObjectionSide.INCOMING)
    return sides


def objections_on_side(user: Any, side: ObjectionSide) -> QuerySet[DataObjection]:
    objections = visible_objections(user)
    if side == ObjectionSide.OURS:
        return objections.filter(scope.scope_q(user, DataObjection))
    if side == ObjectionSide.INCOMING:
        return objections.filter(_provided_q(user))
    return objections


# --- deadlines --------------------------------------------------------------------------------------------------


def objection_state(deadlines: Deadlines, objection: DataObjection) -> DueState:
    """Overdue past the deadline of the step it waits on; due soon by the next working day."""
    due = objection.current_due
    if due is None:
        return DueState.NONE
    if due < deadlines.today:
        return DueState.OVERDUE
    if due <= deadlines.next_working_day:
        return DueState.DUE_SOON
    return DueState.NONE


def waiting_q(*, through: dt.date, after: dt.date | None = None) -> Q:
    """Objections waiting on a step whose deadline is on or before `through` (and after `after`)."""
    answer, settle = Q(answer_due__lte=through), Q(settle_due__lte=through)
    if after is not None:
        answer &= Q(answer_due__gt=after)
        settle &= Q(settle_due__gt=after)
    return Q(answer, status=ObjectionStatus.OPEN) | Q(settle, status=ObjectionStatus.ESCALATED)


def with_flag(objections: QuerySet[DataObjection], deadlines: Deadlines, flag: DueState) -> QuerySet[DataObjection]:
    """Only the objections with this deadline flag."""
    if flag == DueState.OVERDUE:
        return objections.filter(waiting_q(through=deadlines.today - dt.timedelta(days=1)))
    return objections.filter(waiting_q(through=deadlines.next_working_day,
                                       after=deadlines.today - dt.timedelta(days=1)))


def objection_staff(objection: DataObjection, *, office: bool = False) -> list[User]:
    """Who must act now: the provider's data officers whose scope reaches the resource while it is open, the
    governance office's officers while it is escalated (or, with `office`, whenever they are to be told)."""
    if office or objection.status == ObjectionStatus.ESCALATED:
        candidates = User.objects.with_perm(SETTLE_OBJECTION, include_superusers=False)
        return list(candidates.filter(staff__department__is_governance_office=True).order_by("pk"))
    if objection.status == ObjectionStatus.OPEN:
        candidates = User.objects.with_perm(ANSWER_OBJECTION, include_superusers=False)
        return [user for user in candidates.filter(staff__isnull=False).order_by("pk")
                if scope.permitted(user, ANSWER_OBJECTION, objection.resource)]
    return []


# --- what each may do -------------------------------------------------------------------------------------------


def may_raise(user: Any) -> bool:
    return getattr(user, "staff", None) is not None and scope.permitted(user, RAISE_OBJECTION)


def may_answer_objection(user: Any, objection: DataObjection) -> bool:
    return objection.status == ObjectionStatus.OPEN and scope.permitted(user, ANSWER_OBJECTION, objection.resource)


def may_accept(user: Any, objection: DataObjection) -> bool:
    return objection.status == ObjectionStatus.ANSWERED and scope.permitted(user, RAISE_OBJECTION, objection)


may_escalate = may_accept


def may_settle_objection(user: Any, objection: DataObjection) -> bool:
    return objection.status == ObjectionStatus.ESCALATED and scope.permitted(user, SETTLE_OBJECTION)


def objection_history(objection: DataObjection) -> list[AuditEntry]:
    """The objection's audit entries, oldest first."""
    entries = search_entries(EntryFilters(object_type="data_objection", object_id=objection.number))
    return list(entries[:HISTORY_LIMIT])[::-1]
