"""Reads of identity's own records that several pages share."""

from django.db.models import QuerySet

from zhengtong.audit.models import AuditEntry
from zhengtong.identity.models import LoginEventKind, User


def login_events(user: User | None = None) -> QuerySet[AuditEntry]:
    """Logins, logouts and failures as the audit trail holds them; with `user`, only those of that account."""
    events = AuditEntry.objects.filter(action__in=LoginEventKind.values)
    if user is not None:
        events = events.filter(object_type="user", object_id=str(user.pk))
    return events


def login_event_label(entry: AuditEntry) -> str:
    return str(LoginEventKind(entry.action).label)
