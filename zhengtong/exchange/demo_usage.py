"""The demo city's usage statistics: 30 days of synthetic daily aggregates for the demo's grants, so the usage page
and API have something to show before anyone has called the gateway.

The figures are invented but shaped like a working gateway: each grant has a daily volume of its own (under its
quota), far fewer calls on rest days of the working-day calendar, a few refusals for the usual reasons (no purpose,
fields not granted, records outside the row scope, records not found, the quota on its busiest days), rare server
errors, and for proxied department APIs slower answers with upstream timeouts and errors. A suspended or revoked
grant's calls are refused with that reason from the day its status changed; a department whose request was
refused keeps trying for a few days and is refused no_grant. Latencies are drawn from a log-normal distribution
around each resource's own median and counted into the same buckets the gateway uses.

Seeding is deterministic for a seed and adds only rows that are not there yet (a day, resource, consumer, outcome
and reason already counted — by an earlier seeding or by real calls — is left alone), so seeding again adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import zlib
from collections import Counter
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from zhengtong.core import calendar
from zhengtong.exchange.middleware import bucket_of
from zhengtong.exchange.models import (
    LATENCY_COLUMNS,
    Grant,
    GrantStatus,
    Outcome,
    RequestStatus,
    SharingRequest,
    UsageDay,
)

DAYS = 30
DEFAULT_SEED = 20261128
# Shares of a grant's calls refused for each reason on an ordinary day.
REFUSALS = {"no_purpose": 0.002, "field_not_granted": 0.004, "not_found": 0.012}
SERVICE_ERRORS = {"upstream_timeout": 0.006, "upstream_error": 0.003}


@dataclass(frozen=True)
class UsageSeedSummary:
    rows: int
    calls: int
    seconds: float

    def describe(self) -> str:
        return (f"Usage: {self.rows} daily usage rows ({self.calls} synthetic calls over the last {DAYS} days) "
                f"added in {self.seconds:.1f} s.")


@dataclass
class _Row:
    calls: int = 0
    latency_us: int = 0
    buckets: Counter[str] | None = None


class _Day:
    """The rows of one grant's day, keyed by (outcome, reason)."""

    def __init__(self, rng: random.Random, median_ms: float):
        self.rng, self.median_ms = rng, median_ms
        self.rows: dict[tuple[str, str], _Row] = {}

    def add(self, outcome: str, reason: str, calls: int, slower: float = 1.0) -> None:
        if calls <= 0:
            return
        row = self.rows.setdefault((outcome, reason), _Row(buckets=Counter()))
        assert row.buckets is not None
        # Refusals are answered before any record is read, so they are quicker than answers.
        median = self.median_ms * slower * (0.4 if outcome == Outcome.REFUSED else 1.0)
        for _ in range(calls):
            latency = self.rng.lognormvariate(0, 0.55) * median
            row.calls += 1
            row.latency_us += round(latency * 1000)
            row.buckets[bucket_of(latency)] += 1


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(zlib.crc32(repr((seed, *parts)).encode()))  # noqa: S311 (synthetic figures)


def _share(rng: random.Random, calls: int, share: float) -> int:
    return sum(1 for _ in range(calls) if rng.random() < share) if calls < 200 else round(calls * share *
                                                                                          rng.uniform(0.5, 1.5))


def _grant_day(grant: Grant, day: dt.date, seed: int) -> _Day:
    rng = _rng(seed, grant.number, day.isoformat())
    profile = _rng(seed, grant.number)  # the grant's own level, the same every day
    is_service = grant.resource.registry_id is None
    result = _Day(rng, profile.uniform(90, 260) if is_service else profile.uniform(12, 45))
    ceiling = grant.daily_quota or profile.choice((300, 800, 2000))
    level = ceiling * profile.uniform(0.15, 0.6)
    working = calendar.is_working_day(day)
    calls = max(0, round(rng.gauss(level, level * 0.2) * (1.0 if working else 0.08)))
    changed = timezone.localdate(grant.updated_at)
    if grant.status != GrantStatus.ACTIVE and day >= changed:
        reason = "grant_suspended" if grant.status == GrantStatus.SUSPENDED else "grant_revoked"
        fading = max(0, round(calls * 0.3 / (1 + (day - changed).days)))
        result.add(Outcome.REFUSED, reason, fading)
        return result
    if grant.daily_quota and working and rng.random() < 0.08:  # a busy day runs into the quota
        result.add(Outcome.REFUSED, "quota_exceeded", rng.randint(5, 60))
        calls = grant.daily_quota
    refused = {reason: _share(rng, calls, share) for reason, share in REFUSALS.items()}
    if grant.row_filter:
        refused["outside_row_scope"] = _share(rng, calls, 0.01)
    errors = {"server_error": _share(rng, calls, 0.0005)}
    if is_service:
        errors.update({reason: _share(rng, calls, share) for reason, share in SERVICE_ERRORS.items()})
    for reason, count in refused.items():
        result.add(Outcome.REFUSED, reason, count)
    for reason, count in errors.items():
        result.add(Outcome.ERROR, reason, count, slower=8.0 if reason == "upstream_timeout" else 1.5)
    result.add(Outcome.OK, "", calls - sum(refused.values()) - sum(errors.values()))
    return result


def _refused_request_day(request: SharingRequest, day: dt.date, seed: int) -> _Day:
    """A department refused a grant keeps calling for a while after the refusal, and is refused no_grant."""
    rng = _rng(seed, request.number, day.isoformat())
    result = _Day(rng, 6.0)
    answered = timezone.localdate(request.answered_at or request.checked_at or request.submitted_at)
    if answered <= day <= answered + dt.timedelta(days=4) and calendar.is_working_day(day):
        result.add(Outcome.REFUSED, "no_grant", rng.randint(3, 25))
    return result


def _usage_rows(day: dt.date, resource_id: int, consumer_id: int, provider_id: int, day_rows: _Day
                ) -> list[UsageDay]:
    rows = []
    for (outcome, reason), row in day_rows.rows.items():
        assert row.buckets is not None
        rows.append(UsageDay(day=day, resource_id=resource_id, consumer_id=consumer_id, provider_id=provider_id,
                             outcome=outcome, reason=reason, calls=row.calls, latency_us=row.latency_us,
                             **{column: row.buckets[column] for column in LATENCY_COLUMNS}))
    return rows


def seed_usage(*, seed: int = DEFAULT_SEED) -> UsageSeedSummary:
    """Synthetic usage of the last 30 days for every demo grant and refused request. Needs seed_sharing first."""
    started = time.monotonic()
    today = timezone.localdate()
    days = [today - dt.timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    rows: list[UsageDay] = []
    grants = Grant.objects.select_related("resource").order_by("number")
    for grant in grants:
        first = max(grant.valid_from, timezone.localdate(grant.created_at))
        for day in days:
            if first <= day <= grant.valid_until:
                rows += _usage_rows(day, grant.resource_id, grant.consumer_id, grant.resource.provider_id,
                                    _grant_day(grant, day, seed))
    refused = SharingRequest.objects.filter(status=RequestStatus.REFUSED).select_related("resource").order_by("number")
    for request in refused:
        for day in days:
            rows += _usage_rows(day, request.resource_id, request.consumer_id, request.resource.provider_id,
                                _refused_request_day(request, day, seed))
    with transaction.atomic():
        before = _totals()
        UsageDay.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        after = _totals()
    return UsageSeedSummary(after[0] - before[0], after[1] - before[1], time.monotonic() - started)


def _totals() -> tuple[int, int]:
    totals = UsageDay.objects.aggregate(rows=Count("pk"), calls=Sum("calls"))
    return totals["rows"], totals["calls"] or 0
