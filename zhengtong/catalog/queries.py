"""Reads of the catalog that carry rules: who sees which resources and registrations, search and filters.

The catalog is the directory departments use to find what others hold, so every published resource is visible
to anyone who may view the catalog. Drafts are seen only by those who may change them: the provider's data
officers (within their data scope) and the governance office.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from zhengtong.catalog.models import (
    Resource,
    ResourceStatus,
    RightsCertificate,
    RightsDispute,
    RightsRegistration,
)
from zhengtong.identity import scope
from zhengtong.identity.models import ApiClient

VIEW_RESOURCE = "catalog.view_resource"
CHANGE_RESOURCE = "catalog.change_resource"
ADD_RESOURCE = "catalog.add_resource"
VIEW_RIGHTS = "catalog.view_rightsregistration"
ADD_RIGHTS = "catalog.add_rightsregistration"
CHANGE_RIGHTS = "catalog.change_rightsregistration"


def visible_resources(user: Any) -> QuerySet[Resource]:
    """Resources `user` may see: None is the platform (everything), an API client sees what is published."""
    resources = Resource.objects.select_related("provider", "registry")
    if user is None:
        return resources
    if isinstance(user, ApiClient):
        return resources.filter(status=ResourceStatus.PUBLISHED)
    if not scope.permitted(user, VIEW_RESOURCE):
        return resources.none()
    drafts = scope.scope_q(user, Resource) if scope.permitted(user, CHANGE_RESOURCE) else scope.NOTHING
    return resources.filter(Q(status=ResourceStatus.PUBLISHED) | (Q(status=ResourceStatus.DRAFT) & drafts))


@dataclass(frozen=True)
class ResourceFilters:
    text: str = ""
    provider: str = ""  # department code
    kind: str = ""
    sharing_type: str = ""
    opening_type: str = ""
    grade: int | None = None
    level: int | None = None
    status: str = ""


def search_resources(user: Any, filters: ResourceFilters) -> QuerySet[Resource]:
    """Visible resources matching every filter given; the text is looked for in code, name and summary."""
    resources = visible_resources(user)
    text = filters.text.strip()
    if text:
        resources = resources.filter(Q(code__icontains=text) | Q(name__icontains=text) | Q(summary__icontains=text))
    if filters.provider:
        resources = resources.filter(provider__code=filters.provider)
    for field in ("kind", "sharing_type", "opening_type", "status"):
        value = getattr(filters, field)
        if value:
            resources = resources.filter(**{field: value})
    if filters.grade is not None:
        resources = resources.filter(grade=filters.grade)
    if filters.level is not None:
        resources = resources.filter(level=filters.level)
    return resources.order_by("code", "pk")


def may_change(user: Any, resource: Resource) -> bool:
    return scope.permitted(user, CHANGE_RESOURCE, resource)


def may_register_rights(user: Any, resource: Resource) -> bool:
    """A published resource is registered once; after that its registration is amended."""
    return (resource.status == ResourceStatus.PUBLISHED and scope.permitted(user, ADD_RIGHTS, resource)
            and not resource.rights_registrations.exists())


def may_view_rights(user: Any) -> bool:
    return scope.permitted(user, VIEW_RIGHTS)


def may_raise_dispute(user: Any, registration: RightsRegistration) -> bool:
    """Data officers of any department (a dispute often comes from another one) and the governance office."""
    return scope.permitted(user, ADD_RIGHTS) or scope.permitted(user, CHANGE_RIGHTS, registration)


def may_change_rights(user: Any, registration: RightsRegistration) -> bool:
    return scope.permitted(user, CHANGE_RIGHTS, registration)


def registrations_with_details() -> QuerySet[RightsRegistration]:
    return RightsRegistration.objects.select_related("resource", "holder").prefetch_related(
        "right_holders__department", Prefetch("certificates", queryset=RightsCertificate.objects.order_by("version")),
        Prefetch("disputes", queryset=RightsDispute.objects.order_by("-raised_at")),
    )


def visible_registrations(user: Any) -> QuerySet[RightsRegistration]:
    """Registrations of resources the user sees, for those who may view registrations."""
    if user is not None and (isinstance(user, ApiClient) or not may_view_rights(user)):
        return RightsRegistration.objects.none()
    return registrations_with_details().filter(resource__in=visible_resources(user))
