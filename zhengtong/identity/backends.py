"""Authentication backend whose object permissions are data-scope checks."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db.models import Model

from zhengtong.identity import scope


class ScopedPermissionBackend(ModelBackend):
    """Model permissions come from groups as usual; `has_perm(perm, obj)` also requires obj in the data scope."""

    def has_perm(self, user_obj: Any, perm: str, obj: Model | None = None) -> bool:
        if not user_obj.is_active or perm not in self.get_all_permissions(user_obj):
            return False
        return obj is None or scope.within_scope(user_obj, obj)

