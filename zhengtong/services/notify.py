"""Tell applicants and staff: every notification lands in the person's inbox on the platform (in the caller's
transaction, so it exists exactly when the step that caused it does); email and SMS copies go out after the
commit through Django's mail backend and the configured SMS provider (see services.sms)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from zhengtong.identity.models import User
from zhengtong.services.models import Notification


def notify(recipients: Iterable[User], subject: str, body: str, *, link: str = "") -> list[Notification]:
    """One inbox notification per recipient (duplicates and inactive accounts skipped)."""
    now = timezone.now()
    seen: set[int] = set()
    notes = []
    for user in recipients:
        if user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        notes.append(Notification(recipient=user, subject=subject[:200], body=body, link=link, created_at=now))
    created = Notification.objects.bulk_create(notes)
    return created
