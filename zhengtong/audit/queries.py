"""Searching the audit trail, for the auditor's pages and the CSV export.

Every filter but an actor's name lands on an index: actor id, department, action (exact, or a prefix that
PostgreSQL answers from the `varchar_pattern_ops` index Django makes and SQLite from a range on the plain
index), object type and id (composite index), time (indexed), and data subject through AuditSubject's hash
index. Data subjects are searched by the keyed hash of their ID number (`zhengtong.audit.subjects.subject_hash`);
the ID itself is never kept in a filter, a link or a page.

Results come newest first — by time, then id — a page at a time from a cursor entry ("keyset" paging: the
entries just older or newer than it), so a page costs the same on the millionth entry as on the first, no
page counts the whole log, and a time range far back is read from the time index rather than by walking back
through every newer entry.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from zhengtong.audit.models import AuditEntry, AuditSubject

PAGE_SIZE = 50
SUBJECT_HASH = re.compile(r"^[0-9a-f]{64}$")
PREFIX_MARKERS = ("*", ".")
# Sorts after every character a prefix can be followed by, so [prefix, prefix + SENTINEL) is the prefix's range.
_SENTINEL = "\U0010ffff"
_URL_MINUTE_FORMAT = "%Y-%m-%dT%H:%M"
_URL_SECOND_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class EntryFilters:
    """What an auditor searches for. Empty values do not filter. `until` is exclusive."""

    actor: str = ""
    department: str = ""
    subject_hash: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def as_params(self) -> dict[str, str]:
        """The filters as query-string parameters (the subject by its hash), for links that keep them."""
        params = {
            "actor": self.actor, "department": self.department, "subject_hash": self.subject_hash,
            "action": self.action, "object_type": self.object_type, "object_id": self.object_id,
            "since": _url_time(self.since),
            "until": _url_until(self.until),
        }
        return {key: value for key, value in params.items() if value}

    def as_detail(self) -> dict[str, Any]:
        """The filters as JSON values, for the audit entry that records an export."""
        detail: dict[str, Any] = {key: value for key, value in self.as_params().items()
                                  if key not in ("since", "until")}
        for key in ("since", "until"):
            value = getattr(self, key)
            if value is not None:
                detail[key] = value.isoformat()
        return detail


def _url_time(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    local = timezone.localtime(value)
    return local.strftime(_URL_MINUTE_FORMAT if local.second == 0 else _URL_SECOND_FORMAT)


def _url_until(value: dt.datetime | None) -> str:
    """The form reads "until" as inclusive to the end of the minute (or second) typed, so the exclusive end
    is written as the minute (or second) before it, rounded up to keep every entry inside."""
    if value is None:
        return ""
    end = timezone.localtime(value)
    if end.microsecond:
        end = end.replace(microsecond=0) + dt.timedelta(seconds=1)
    if end.second == 0:
        return (end - dt.timedelta(minutes=1)).strftime(_URL_MINUTE_FORMAT)
    return (end - dt.timedelta(seconds=1)).strftime(_URL_SECOND_FORMAT)


def action_q(action: str) -> Q:
    """An exact action, or every action starting with a prefix typed as `exchange.*` or `exchange.`."""
    action = action.strip()
    if not action.endswith(PREFIX_MARKERS):
        return Q(action=action)
    prefix = action.rstrip("*")
    if not prefix:
        return Q()
    matches = Q(action__startswith=prefix)
    if connection.vendor == "sqlite":
        # SQLite's LIKE ignores case and so cannot use the index; a range on the same column can.
        matches &= Q(action__gte=prefix, action__lt=prefix + _SENTINEL)
    return matches


def actor_q(actor: str) -> Q:
    """An actor by id (user id, API key id) when some entry has that id, else by name. Asking the id index
    first keeps the common search off a scan; an OR of the two columns could use neither index."""
    actor = actor.strip()
    if AuditEntry.objects.filter(actor_id=actor).exists():
        return Q(actor_id=actor)
    return Q(actor_name=actor)


def search_entries(filters: EntryFilters) -> QuerySet[AuditEntry]:
    """Entries matching every filter, newest first."""
    entries = AuditEntry.objects.all()
    if filters.actor:
        entries = entries.filter(actor_q(filters.actor))
    if filters.department:
        entries = entries.filter(actor_department=filters.department.strip())
    if filters.subject_hash:
        about = AuditSubject.objects.filter(subject_hash=filters.subject_hash).values("entry_id")
        entries = entries.filter(id__in=about)
    if filters.action:
        entries = entries.filter(action_q(filters.action))
    if filters.object_type:
        entries = entries.filter(object_type=filters.object_type.strip())
    if filters.object_id:
        entries = entries.filter(object_id=filters.object_id.strip())
    if filters.since is not None:
        entries = entries.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        entries = entries.filter(occurred_at__lt=filters.until)
    return entries.order_by("-occurred_at", "-id")


@dataclass(frozen=True)
class EntryPage:
    """One page of results. `newer_than` / `older_than` are the ids to page from, or None at either end."""

    entries: list[AuditEntry]
    older_than: int | None
    newer_than: int | None

    @property
    def is_first(self) -> bool:
        return self.newer_than is None

    def __iter__(self) -> Iterator[AuditEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def _older(when: dt.datetime, pk: int) -> Q:
    """Entries after (occurred_at, id) in newest-first order. The redundant bound lets the time index start
    right at the cursor instead of filtering everything newer."""
    return Q(occurred_at__lte=when) & (Q(occurred_at__lt=when) | Q(occurred_at=when, id__lt=pk))


def _newer(when: dt.datetime, pk: int) -> Q:
    return Q(occurred_at__gte=when) & (Q(occurred_at__gt=when) | Q(occurred_at=when, id__gt=pk))


def page_of(entries: QuerySet[AuditEntry], *, before: int | None = None, after: int | None = None,
            size: int = PAGE_SIZE) -> EntryPage:
    """The `size` entries just older than entry `before`, just newer than entry `after`, or the newest.

    Pages follow (occurred_at, id), newest first; an id that names no entry gives the newest page."""
    cursor_id = after if after is not None else before
    when = AuditEntry.objects.filter(pk=cursor_id).values_list("occurred_at", flat=True).first() \
        if cursor_id is not None else None
    if when is not None and after is not None:
        rows = list(entries.filter(_newer(when, after)).order_by("occurred_at", "id")[:size + 1])
        has_newer = len(rows) > size
        rows = rows[:size][::-1]
        has_older = bool(rows) and entries.filter(_older(rows[-1].occurred_at, rows[-1].pk)).exists()
    else:
        paging = when is not None and before is not None
        window = entries
        if when is not None and before is not None:
            window = entries.filter(_older(when, before))
        rows = list(window.order_by("-occurred_at", "-id")[:size + 1])
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = paging and bool(rows) and entries.filter(_newer(rows[0].occurred_at, rows[0].pk)).exists()
    return EntryPage(
        entries=rows,
        older_than=rows[-1].pk if rows and has_older else None,
        newer_than=rows[0].pk if rows and has_newer else None,
    )
