"""JSON API of the exchange's usage statistics, under /api/v1/usage/: the figures of the usage page.

Staff with the usage permission see what the page shows them (the governance office everything, a data officer
their departments' calls as consumer or provider); a department system sees its own department's calls.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from zhengtong.core.errors import InvalidInput
from zhengtong.exchange.models import LATENCY_BOUNDS_MS
from zhengtong.exchange.queries import usage as queries

router = Router(tags=["usage"])


class LatencyOut(Schema):
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class CountsOut(Schema):
    calls: int
    ok: int
    refused: int
    error: int
    latency_ms: LatencyOut


class DayOut(CountsOut):
    day: dt.date


class ReasonOut(Schema):
    outcome: str
    reason: str
    label: str
    calls: int


class GroupOut(CountsOut):
    id: int
    code: str
    name: str


class PeriodOut(Schema):
    start: dt.date
    end: dt.date
    resource: int | None
    consumer: int | None
    provider: int | None


class StatisticsOut(Schema):
    filters: PeriodOut
    totals: CountsOut
    days: list[DayOut]
    reasons: list[ReasonOut]
    resources: list[GroupOut]
    consumers: list[GroupOut]
    providers: list[GroupOut]
    latency_buckets_ms: list[int]


def _counts(counts: queries.Counts) -> dict[str, Any]:
    latency = counts.latency
    return {"calls": counts.calls, "ok": counts.ok, "refused": counts.refused, "error": counts.error,
            "latency_ms": {"mean": latency.mean, "p50": latency.p50, "p95": latency.p95, "p99": latency.p99}}


def _group(group: queries.GroupRow) -> dict[str, Any]:
    return {"id": group.id, "code": group.code, "name": group.name, **_counts(group)}


class UsageQuery(Schema):
    days: int | None = Field(None, description="The last N days up to today (default 30).")
    start: dt.date | None = Field(None, description="First day of the period (with `end`).")
    end: dt.date | None = Field(None, description="Last day of the period (with `start`).")
    resource: int | None = Field(None, description="Only calls to this catalog resource (id).")
    consumer: int | None = Field(None, description="Only calls of this consumer department (id).")
    provider: int | None = Field(None, description="Only calls to this provider department's resources (id).")


def filters_from(params: UsageQuery) -> queries.UsageFilters:
    """The period asked for: `start` and `end` together, or the last `days` days (30 when nothing is given)."""
    days, start, end = params.days, params.start, params.end
    if start is not None or end is not None:
        if days is not None:
            raise InvalidInput.for_field("days", _("Give either a number of days or a start and an end."))
        if start is None or end is None:
            missing = "start" if start is None else "end"
            raise InvalidInput.for_field(missing, _("Give both the start and the end of the period."))
        return queries.UsageFilters(start, end, params.resource, params.consumer, params.provider)
    if days is not None and not 1 <= days <= queries.MAX_PERIOD_DAYS:
        raise InvalidInput.for_field("days", _("Ask for 1 to %(n)d days.") % {"n": queries.MAX_PERIOD_DAYS})
    return queries.UsageFilters.last(days or 30, resource=params.resource, consumer=params.consumer,
                                     provider=params.provider)


@router.get("/usage/statistics", response=StatisticsOut, summary="Usage of the gateway: calls, refusals, latency")
def usage_statistics(request: HttpRequest, params: Query[UsageQuery]) -> dict[str, Any]:
    """Calls per day by outcome, refusals and errors by reason, latency percentiles (estimated from histograms,
    in milliseconds), and the same per resource, consumer and provider, for a period of at most a year."""
    filters = filters_from(params)
    stats = queries.usage_statistics(request.auth, filters)  # type: ignore[attr-defined]
    period = stats.filters
    return {
        "filters": {"start": period.start, "end": period.end, "resource": period.resource,
                    "consumer": period.consumer, "provider": period.provider},
        "totals": _counts(stats.totals),
        "days": [{"day": row.day, **_counts(row)} for row in stats.days],
        "reasons": [{"outcome": r.outcome, "reason": r.reason, "label": r.label, "calls": r.calls}
                    for r in stats.reasons],
        "resources": [_group(g) for g in stats.by_resource],
        "consumers": [_group(g) for g in stats.by_consumer],
        "providers": [_group(g) for g in stats.by_provider],
        "latency_buckets_ms": list(LATENCY_BOUNDS_MS),
    }
