"""Reads of notices: the version in effect, earlier and upcoming versions, and whether someone must accept the
privacy notice before going on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from zhengtong.privacy.models.notices import NoticeAcceptance, NoticeKind, NoticeVersion


def versions(kind: str) -> QuerySet[NoticeVersion]:
    """Every published version of a kind, newest first, upcoming ones included."""
    return NoticeVersion.objects.filter(kind=kind).order_by("-version")


def current(kind: str, on: dt.date | None = None) -> NoticeVersion | None:
    """The version in effect on a day (today by default): the highest-numbered one whose date has come."""
    day = on or timezone.localdate()
    return versions(kind).filter(effective_on__lte=day).first()


def upcoming(kind: str, on: dt.date | None = None) -> list[NoticeVersion]:
    """Published versions that take effect after the day, soonest first."""
    day = on or timezone.localdate()
    return list(versions(kind).filter(effective_on__gt=day).order_by("version"))


def version(kind: str, number: int) -> NoticeVersion | None:
    return versions(kind).filter(version=number).first()


def is_citizen(user: Any) -> bool:
    """Citizens accept the privacy notice themselves; staff are bound by it through their employment, and so
    is a superuser (createsuperuser leaves the default kind, as the portal's personas note)."""
    return (bool(getattr(user, "is_authenticated", False)) and getattr(user, "kind", None) == "citizen"
            and not getattr(user, "is_superuser", False))


def last_accepted(user: Any) -> NoticeVersion | None:
    """The newest version of the privacy notice the user has accepted."""
    acceptance = (NoticeAcceptance.objects.filter(user=user, notice__kind=NoticeKind.PRIVACY)
                  .select_related("notice").order_by("-notice__version").first())
    return acceptance.notice if acceptance is not None else None


def has_accepted(user: Any, notice: NoticeVersion) -> bool:
    return NoticeAcceptance.objects.filter(user=user, notice=notice).exists()


def to_accept(user: Any) -> NoticeVersion | None:
    """The privacy notice in effect, when this user is a citizen who has not accepted it yet; else None (no
    notice ever published means there is nothing to accept)."""
    if not is_citizen(user):
        return None
    notice = current(NoticeKind.PRIVACY)
    if notice is None or has_accepted(user, notice):
        return None
    return notice


def changes_since(accepted: NoticeVersion | None, notice: NoticeVersion) -> list[NoticeVersion]:
    """The versions after the one accepted, up to and including `notice`, oldest first: what changed since."""
    if accepted is None:
        return []
    return list(versions(notice.kind).filter(version__gt=accepted.version, version__lte=notice.version)
                .order_by("version"))


def acceptance_count(notice: NoticeVersion) -> int:
    return NoticeAcceptance.objects.filter(notice=notice).count()
