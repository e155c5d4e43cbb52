"""Guards that hold however a role is granted: through set_roles, the admin, or group.user_set."""

from typing import Any

from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from zhengtong.identity.actions import check_role_grant
from zhengtong.identity.models import User


@receiver(m2m_changed, sender=User.groups.through)
def refuse_untrained_reveal_roles(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any,
                                  **kwargs: Any) -> None:
    if action != "pre_add" or not pk_set:
        return
    if reverse:  # group.user_set.add(users)
        for user in User.objects.filter(pk__in=pk_set).select_related("staff"):
            check_role_grant(user, [instance])
    else:
        check_role_grant(instance, Group.objects.filter(pk__in=pk_set))
