"""Reads of service items: the public service guide (published items only, searched by keyword, department and
life situation) and the staff's list of the items they may define (within their data scope)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from zhengtong.identity.models import Department
from zhengtong.identity.scope import filter_by_scope, permitted
from zhengtong.services.models import ItemStatus, LifeSituation, Material, MaterialSource, ServiceItem

DEFINE = "services.define_serviceitem"


@dataclass(frozen=True)
class GuideSearch:
    q: str = ""
    department: str = ""  # a department code
    situation: str = ""  # a LifeSituation value


def _keyword(q: str) -> Q:
    """Every word of the query in the name, keywords, summary or code. Chinese has no spaces, so a query like
    "营业执照" is one word matched as a substring (icontains works on both databases)."""
    condition = Q()
    for word in q.split():
        condition &= (Q(name__icontains=word) | Q(keywords__icontains=word) | Q(summary__icontains=word)
                      | Q(code__iexact=word))
    return condition


def _situation(value: str) -> Q:
    # JSON containment is not on SQLite; the list holds plain codes, so its JSON text contains '"<code>"'.
    return Q(life_situations__icontains=f'"{value}"')


def guide(search: GuideSearch) -> QuerySet[ServiceItem]:
    """Published items matching the search, by name. An unknown situation matches nothing."""
    items = ServiceItem.objects.filter(status=ItemStatus.PUBLISHED).select_related("responsible_department")
    if search.q.strip():
        items = items.filter(_keyword(search.q))
    if search.department:
        items = items.filter(Q(responsible_department__code=search.department)
                             | Q(cooperating_departments__code=search.department)).distinct()
    if search.situation:
        if search.situation not in LifeSituation.values:
            return items.none()
        items = items.filter(_situation(search.situation))
    return items.order_by("name", "code")


def guide_departments() -> QuerySet[Department]:
    """Departments responsible for a published item: the guide's department filter."""
    return Department.objects.filter(service_items__status=ItemStatus.PUBLISHED).distinct().order_by("code")


def published_item(code: str) -> ServiceItem | None:
    return (ServiceItem.objects.filter(code=code, status=ItemStatus.PUBLISHED)
            .select_related("responsible_department").prefetch_related("cooperating_departments", "materials")
            .first())


def may_define(user: Any, item: ServiceItem | None = None) -> bool:
    return permitted(user, DEFINE, item)


def definable_items(user: Any, *, q: str = "", status: str = "", department: str = "") -> QuerySet[ServiceItem]:
    """The items the staff member may define, newest change first."""
    if not permitted(user, DEFINE):
        return ServiceItem.objects.none()
    items = filter_by_scope(user, ServiceItem.objects.select_related("responsible_department", "process"))
    if q.strip():
        items = items.filter(_keyword(q))
    if status:
        items = items.filter(status=status)
    if department:
        items = items.filter(responsible_department__code=department)
    return items.order_by("-updated_at", "code")


def definable_item(user: Any, code: str) -> ServiceItem | None:
    """The item when the staff member may define it; otherwise None (a page answers 404)."""
    return definable_items(user).filter(code=code).prefetch_related("cooperating_departments", "materials").first()


def definable_departments(user: Any) -> QuerySet[Department]:
    """Departments the staff member may make responsible for an item."""
    if not permitted(user, DEFINE):
        return Department.objects.none()
    return filter_by_scope(user, Department.objects.order_by("code"))


def obtained_materials(item: ServiceItem) -> list[Material]:
    """Materials the platform obtains itself: the applicant is not asked for them."""
    return [m for m in item.materials.all() if m.source != MaterialSource.APPLICANT]
