"""Data scope: the one place that decides which rows a staff member's permissions reach.

A model that holds scoped data declares `data_scope_paths`, the ORM paths from a row to its department,
division and owner. `permitted()` (model permission, then scope) is what every permission check calls: the
authentication backend, actions, queries and views.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, Q, QuerySet

from zhengtong.identity.models import DataScope, Department, ScopePaths

ModelT = TypeVar("ModelT", bound=Model)
NOTHING = Q(pk__in=[])


def _join(path: str, lookup: str) -> str:
    return f"{path}__{lookup}" if path else lookup


def _paths(model: type[Model]) -> ScopePaths:
    paths = getattr(model, "data_scope_paths", None)
    if not isinstance(paths, ScopePaths):
        raise ImproperlyConfigured(f"{model.__name__} does not declare data_scope_paths")
    return paths


def scope_of(user: Any) -> str | None:
    """The user's data scope, or None for someone with no staff role (anonymous, citizen, inactive)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return DataScope.ALL
    staff = getattr(user, "staff", None)
    return staff.data_scope if staff is not None else None


def scope_q(user: Any, model: type[Model]) -> Q:
    """A filter selecting the rows of `model` inside the user's data scope. Own rows are always inside."""
    paths = _paths(model)
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    own = Q(**{_join(paths.owner, "pk"): user.pk}) if paths.owner is not None else NOTHING
    scope = scope_of(user)
    if scope == DataScope.ALL:
        return Q()
    if scope is None or scope == DataScope.SELF:
        return own
    department: Department = user.staff.department
    if scope == DataScope.DEPARTMENT and paths.department is not None:
        return own | Q(**{_join(paths.department, "pk"): department.pk})
    if scope == DataScope.DEPARTMENT_TREE and paths.department is not None:
        return own | Q(**{_join(paths.department, "tree_path__startswith"): department.tree_path})
    if scope == DataScope.DIVISION and paths.division is not None:
        return own | Q(**{_join(paths.division, "code__startswith"): department.division.prefix})
    # The row has no department or division to match: only the user's own rows.
    return own


def filter_by_scope(user: Any, queryset: QuerySet[ModelT]) -> QuerySet[ModelT]:
    return queryset.filter(scope_q(user, queryset.model))


def within_scope(user: Any, obj: Model) -> bool:
    model = type(obj)
    return model._default_manager.filter(pk=obj.pk).filter(scope_q(user, model)).exists()


def permitted(user: Any, perm: str, obj: Model | None = None) -> bool:
    """True when the user holds `perm` and, for an object, the object lies inside the user's data scope."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if not user.has_perm(perm):
        return False
    return obj is None or within_scope(user, obj)
