"""The recipient's own inbox, as named verbs: open (mark read) one notification, mark them all read.

Only the recipient acts on a notification; anyone else is told it does not exist. The entries name no data
subject: reading one's own messages uses nobody's personal data.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.core.errors import DomainError
from zhengtong.identity.actions import actor_of
from zhengtong.identity.models import User
from zhengtong.services.models import Notification


class NotificationNotFound(DomainError):
    code = "not_found"
    status = 404


def own_notification(actor: User, notification_id: int) -> Notification:
    """The actor's notification with this id; NotificationNotFound for another's or none."""
    note = Notification.objects.filter(pk=notification_id, recipient=actor).first()
    if note is None:
        raise NotificationNotFound(_("You have no notification with this number."))
    return note


def mark_read(actor: User, notification_id: int) -> Notification:
    """The recipient opens a notification: it is read from now on (the first reading's time is kept)."""
    with transaction.atomic():
        note = own_notification(actor, notification_id)
        if note.read_at is None:
            note.read_at = timezone.now()
            note.save(update_fields=["read_at"])
            audit.record("services.mark_notification_read", actor_of(actor), object_type="notification",
                         object_id=note.pk)
    return note


def mark_all_read(actor: User) -> int:
    """Every unread notification of the actor is read now; returns how many were unread."""
    with transaction.atomic():
        count = Notification.objects.filter(recipient=actor, read_at__isnull=True).update(read_at=timezone.now())
        if count:
            audit.record("services.mark_all_notifications_read", actor_of(actor), object_type="notification",
                         detail={"count": count})
    return count
