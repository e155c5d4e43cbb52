"""Anomaly rules over the audit trail, and the auditor's acknowledgement of what they find.

Three rules, evaluated over recent entries by `evaluate_anomalies` (run every few minutes by the task
`zhengtong.audit.tasks.evaluate_recent_anomalies`):

* many_subjects — a staff member reads more distinct data subjects than AUDIT_ALERT_SUBJECTS_PER_HOUR
  (default 50) within any one hour: the window starts at one of their reads and runs for an hour;
* off_hours — a staff member reads personal data outside working hours: before the start or after the end
  of AUDIT_ALERT_WORKING_HOURS (default (8, 20), local time) or on a day the working-day calendar says is not
  a working day. One alert per person per off-hours stretch (an evening, a night, a weekend or holiday);
* reveal_without_case — anyone reveals unmasked values (action "exchange.reveal", or an entry whose detail
  says {"revealed": true}) without a case reference.

A read is an entry whose action starts with "exchange.read" or that names the fields it revealed; reads the
door refused (result other than "ok") read nothing and are not counted.

Each alert is unique per rule, actor and window start (a database constraint), so evaluating the same period
again raises nothing twice; a many-people window never overlaps an earlier alert of the same person. Raising
an alert and acknowledging one are recorded in the trail like any other change.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit.actions import SYSTEM, actor_of_user, record
from zhengtong.audit.models import ActorKind, AlertRule, AnomalyAlert, AuditEntry, Result
from zhengtong.core import calendar as working_calendar
from zhengtong.core.errors import Conflict, NotPermitted

READ_ACTION_PREFIX = "exchange.read"
REVEAL_ACTION = "exchange.reveal"
WINDOW = dt.timedelta(hours=1)
DEFAULT_SUBJECTS_PER_HOUR = 50
DEFAULT_WORKING_HOURS = (8, 20)
# How far to look for the working day that bounds an off-hours stretch (the longest holidays last about 9 days).
_CALENDAR_SEARCH_DAYS = 60


def subjects_per_hour() -> int:
    return int(getattr(settings, "AUDIT_ALERT_SUBJECTS_PER_HOUR", DEFAULT_SUBJECTS_PER_HOUR))


def working_hours() -> tuple[int, int]:
    start, end = getattr(settings, "AUDIT_ALERT_WORKING_HOURS", DEFAULT_WORKING_HOURS)
    return int(start), int(end)


def reads_q() -> Q:
    """Entries that read personal data: through the door's read actions, or naming the fields revealed."""
    return Q(action__startswith=READ_ACTION_PREFIX) | ~Q(fields=[])


def reveals_q() -> Q:
    return Q(action=REVEAL_ACTION) | Q(detail__revealed=True)


@dataclass(frozen=True)
class _Read:
    id: int
    occurred_at: dt.datetime
    actor_id: str
    actor_name: str
    actor_department: str
    subjects: list[str]


@dataclass(frozen=True)
class Finding:
    """An alert to raise, before it is stored."""

    rule: str
    actor_kind: str
    actor_id: str
    actor_name: str
    actor_department: str
    window_start: dt.datetime
    window_end: dt.datetime
    observed: int
    threshold: int
    first_entry_id: int
    last_entry_id: int


def _staff_reads(since: dt.datetime, until: dt.datetime) -> Iterator[_Read]:
    rows = (
        AuditEntry.objects.filter(occurred_at__gte=since, occurred_at__lt=until, actor_kind=ActorKind.STAFF,
                                  result=Result.OK)
        .filter(reads_q())
        .order_by("actor_id", "occurred_at", "id")
        .values_list("id", "occurred_at", "actor_id", "actor_name", "actor_department", "subjects")
    )
    for row in rows.iterator(chunk_size=2000):
        yield _Read(*row)


def _by_actor(reads: Iterable[_Read]) -> Iterator[tuple[str, list[_Read]]]:
    for actor_id, group in itertools.groupby(reads, key=lambda read: read.actor_id):
        yield actor_id, list(group)


# --- rule 1: many people in an hour ------------------------------------------------------------------------


def many_subjects(since: dt.datetime, until: dt.datetime, threshold: int | None = None) -> list[Finding]:
    """Windows of one hour, each starting at a read, in which one staff member read more than `threshold`
    distinct data subjects. Windows that touch [since, until) are examined; the earliest qualifying window of
    a burst is the alert, and the next may only start once it has ended (also across runs)."""
    limit = subjects_per_hour() if threshold is None else threshold
    lookback = since - WINDOW
    covered = dict(
        AnomalyAlert.objects.filter(rule=AlertRule.MANY_SUBJECTS, actor_kind=ActorKind.STAFF,
                                    window_end__gt=lookback)
        .values("actor_id").annotate(end=Max("window_end")).values_list("actor_id", "end")
    )
    findings: list[Finding] = []
    reads = (read for read in _staff_reads(lookback, until) if read.occurred_at > lookback and read.subjects)
    for actor_id, rows in _by_actor(reads):
        findings.extend(_bursts(rows, limit, covered.get(actor_id)))
    return findings


def _bursts(rows: list[_Read], limit: int, covered_until: dt.datetime | None) -> Iterator[Finding]:
    counts: Counter[str] = Counter()
    right = 0
    for left, first in enumerate(rows):
        end = first.occurred_at + WINDOW
        while right < len(rows) and rows[right].occurred_at < end:
            counts.update(rows[right].subjects)
            right += 1
        if len(counts) > limit and (covered_until is None or first.occurred_at >= covered_until):
            ids = [row.id for row in rows[left:right]]
            last = rows[right - 1]
            yield Finding(AlertRule.MANY_SUBJECTS, ActorKind.STAFF, first.actor_id, last.actor_name,
                          last.actor_department, first.occurred_at, end, len(counts), limit, min(ids), max(ids))
            covered_until = end
        counts.subtract(first.subjects)
        for subject in first.subjects:
            if counts[subject] <= 0:
                del counts[subject]


# --- rule 2: reads outside working hours -------------------------------------------------------------------


class _WorkingTime:
    """Working hours on working days, in the platform's time zone, with the calendar looked up once a day."""

    def __init__(self, hours: tuple[int, int]):
        self.start, self.end = hours
        self.zone = timezone.get_default_timezone()
        self._days: dict[dt.date, bool] = {}

    def _working(self, day: dt.date) -> bool:
        if day not in self._days:
            self._days[day] = working_calendar.is_working_day(day)
        return self._days[day]

    def _hours_of(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        if not self._working(day):
            return None
        midnight = dt.datetime.combine(day, dt.time(), self.zone)
        return midnight + dt.timedelta(hours=self.start), midnight + dt.timedelta(hours=self.end)

    def off_hours(self, moment: dt.datetime) -> bool:
        hours = self._hours_of(timezone.localtime(moment, self.zone).date())
        return hours is None or not hours[0] <= moment <= hours[1]

    def stretch(self, moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The off-hours stretch around `moment`: from the end of the last working hours before it to the
        start of the next."""
        local_day = timezone.localtime(moment, self.zone).date()
        start = end = None
        for back in range(_CALENDAR_SEARCH_DAYS):
            hours = self._hours_of(local_day - dt.timedelta(days=back))
            if hours is not None and hours[1] < moment:
                start = hours[1]
                break
        for ahead in range(_CALENDAR_SEARCH_DAYS):
            hours = self._hours_of(local_day + dt.timedelta(days=ahead))
            if hours is not None and hours[0] > moment:
                end = hours[0]
                break
        midnight = dt.datetime.combine(local_day, dt.time(), self.zone)
        return start or midnight, end or midnight + dt.timedelta(days=1)


def off_hours_reads(since: dt.datetime, until: dt.datetime,
                    hours: tuple[int, int] | None = None) -> list[Finding]:
    clock = _WorkingTime(hours or working_hours())
    findings: list[Finding] = []
    for _actor_id, rows in _by_actor(_staff_reads(since, until)):
        outside = [read for read in rows if clock.off_hours(read.occurred_at)]
        for (start, end), group in itertools.groupby(outside, key=lambda read: clock.stretch(read.occurred_at)):
            reads = list(group)
            last = reads[-1]
            ids = [read.id for read in reads]
            findings.append(Finding(AlertRule.OFF_HOURS, ActorKind.STAFF, last.actor_id, last.actor_name,
                                    last.actor_department, start, end, len(reads), 0, min(ids),
                                    max(ids)))
    return findings


# --- rule 3: reveals without a case reference --------------------------------------------------------------


def reveals_without_case(since: dt.datetime, until: dt.datetime) -> list[Finding]:
    rows = (
        AuditEntry.objects.filter(occurred_at__gte=since, occurred_at__lt=until, result=Result.OK)
        .filter(reveals_q())
        .order_by("occurred_at", "id")
        .values_list("id", "occurred_at", "actor_kind", "actor_id", "actor_name", "actor_department",
                     "case_reference")
    )
    return [
        Finding(AlertRule.REVEAL_WITHOUT_CASE, kind, actor_id, name, department, when, when, 1, 0, pk, pk)
        for pk, when, kind, actor_id, name, department, case_reference in rows.iterator(chunk_size=2000)
        if not case_reference.strip()
    ]


# --- raising and acknowledging alerts ----------------------------------------------------------------------


def raise_alert(finding: Finding) -> AnomalyAlert | None:
    """Store the alert and record it in the trail; None when the same alert (rule, actor, window start)
    exists already."""
    with transaction.atomic():
        alert, created = AnomalyAlert.objects.get_or_create(
            rule=finding.rule, actor_kind=finding.actor_kind, actor_id=finding.actor_id,
            window_start=finding.window_start,
            defaults={
                "actor_name": finding.actor_name[:200], "actor_department": finding.actor_department,
                "window_end": finding.window_end, "observed": finding.observed, "threshold": finding.threshold,
                "first_entry_id": finding.first_entry_id, "last_entry_id": finding.last_entry_id,
            },
        )
        if not created:
            return None
        record("audit.raise_alert", SYSTEM, object_type="anomaly_alert", object_id=alert.pk, detail={
            "rule": alert.rule, "actor_kind": alert.actor_kind, "actor_id": alert.actor_id,
            "observed": alert.observed, "threshold": alert.threshold,
            "first_entry_id": alert.first_entry_id, "last_entry_id": alert.last_entry_id,
        })
    return alert


def _already_raised(findings: list[Finding]) -> set[tuple[str, str, str, dt.datetime]]:
    if not findings:
        return set()
    starts = [finding.window_start for finding in findings]
    rows = AnomalyAlert.objects.filter(window_start__gte=min(starts), window_start__lte=max(starts)).values_list(
        "rule", "actor_kind", "actor_id", "window_start")
    return set(rows)


def evaluate_anomalies(since: dt.datetime, until: dt.datetime) -> int:
    """Run every rule over the entries of [since, until); returns how many alerts are new."""
    findings = [*many_subjects(since, until), *off_hours_reads(since, until), *reveals_without_case(since, until)]
    # One query to skip what earlier runs raised; raise_alert still settles races between two runs.
    known = _already_raised(findings)
    fresh = [f for f in findings if (f.rule, f.actor_kind, f.actor_id, f.window_start) not in known]
    return sum(1 for finding in fresh if raise_alert(finding) is not None)


def acknowledge_alert(alert: AnomalyAlert, user: Any) -> AnomalyAlert:
    """An auditor has looked into the alert. Needs audit.change_anomalyalert; recorded in the trail;
    acknowledging twice is refused."""
    if not user.has_perm("audit.change_anomalyalert"):
        raise NotPermitted(_("You do not have permission to do this."))
    actor = actor_of_user(user)
    with transaction.atomic():
        current = AnomalyAlert.objects.select_for_update().get(pk=alert.pk)
        if current.acknowledged_at is not None:
            raise Conflict(_("This alert was already acknowledged by %(name)s.")
                           % {"name": current.acknowledged_by})
        current.acknowledged_at = timezone.now()
        current.acknowledged_by = actor.name[:200]
        current.save(update_fields=["acknowledged_at", "acknowledged_by"])
        record("audit.acknowledge_alert", actor, object_type="anomaly_alert", object_id=current.pk, detail={
            "rule": current.rule, "actor_kind": current.actor_kind, "actor_id": current.actor_id,
        })
    return current
