"""Usage statistics of the exchange: calls per day by outcome, refusals and errors by reason, latency percentiles,
and the same figures per resource, consumer and provider, for a period and filters.

Who sees what: the governance office (and anyone whose data scope is everything) sees all calls; a department's
data officer sees the calls where a department of their data scope (and always their own) is the consumer or the
provider; a department system sees its own department's calls, on either side.

Percentiles are estimated from the daily latency histograms (models/usage.py) as Prometheus's histogram_quantile
does: find the bucket holding the rank q × calls and interpolate linearly between its lower and upper bound (so an
estimate never leaves the bucket the true value lies in). A rank in the open last bucket (over 10 s) answers that
bucket's lower bound, 10 000 ms, meaning "at least".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from zhengtong.core.errors import FieldProblem, NotPermitted, raise_if_problems
from zhengtong.exchange.models import LATENCY_BOUNDS_MS, LATENCY_COLUMNS, Outcome, UsageDay
from zhengtong.identity import scope
from zhengtong.identity.models import ApiClient, DataScope, Department

__all__ = ["MAX_PERIOD_DAYS", "PERIOD_CHOICES", "VIEW_USAGE", "Counts", "GroupRow", "Latency", "ReasonRow",
           "Statistics", "UsageDayRow", "UsageFilters", "estimate_percentile", "may_view_usage", "reason_label",
           "usage_options", "usage_statistics", "visible_usage"]

VIEW_USAGE = "exchange.view_usage"
PERIOD_CHOICES = (7, 30, 90)
MAX_PERIOD_DAYS = 366
PERCENTILES = (0.50, 0.95, 0.99)

REASON_LABELS: Mapping[str, Promise] = {
    "no_purpose": _("no purpose stated"),
    "no_grant": _("no grant"),
    "grant_expired": _("grant not in force"),
    "grant_revoked": _("grant revoked"),
    "grant_suspended": _("grant suspended"),
    "field_not_granted": _("field not granted"),
    "outside_row_scope": _("outside the row scope"),
    "consent_withdrawn": _("consent withdrawn"),
    "consent_missing": _("no consent"),
    "not_open": _("not open"),
    "reveal_not_permitted": _("reveal not permitted"),
    "quota_exceeded": _("daily quota used up"),
    "rate_limited": _("rate limit"),
    "not_found": _("not found"),
    "invalid_input": _("invalid input"),
    "validation_error": _("invalid request"),
    "bad_request": _("bad request"),
    "schema_version_mismatch": _("schema version mismatch"),
    "not_permitted": _("not permitted"),
    "conflict": _("conflict"),
    "upstream_error": _("error of the provider's service"),
    "upstream_timeout": _("provider's service timed out"),
    "circuit_open": _("provider's service paused (circuit open)"),
    "server_error": _("server error"),
}


def reason_label(code: str) -> str:
    label = REASON_LABELS.get(code)
    return str(label) if label is not None else code


# --- who sees what ---------------------------------------------------------------------------------------------


def may_view_usage(viewer: Any) -> bool:
    return isinstance(viewer, ApiClient) or scope.permitted(viewer, VIEW_USAGE)


def _sees_all(user: Any) -> bool:
    if scope.scope_of(user) == DataScope.ALL:
        return True
    staff = getattr(user, "staff", None)
    return staff is not None and staff.department.is_governance_office


def visible_usage(viewer: Any) -> QuerySet[UsageDay]:
    """The usage rows `viewer` may see: None is the platform, an API client sees its own department's."""
    rows = UsageDay.objects.all()
    if viewer is None:
        return rows
    if isinstance(viewer, ApiClient):
        return rows.filter(Q(consumer=viewer.department_id) | Q(provider=viewer.department_id))
    if not scope.permitted(viewer, VIEW_USAGE):
        return rows.none()
    if _sees_all(viewer):
        return rows
    departments = Department.objects.filter(scope.scope_q(viewer, Department) | Q(pk=viewer.staff.department_id))
    ids = departments.values("pk")
    return rows.filter(Q(consumer__in=ids) | Q(provider__in=ids))


# --- filters ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageFilters:
    """A period (both days included) and optional narrowing to one resource, consumer or provider (ids)."""

    start: dt.date
    end: dt.date
    resource: int | None = None
    consumer: int | None = None
    provider: int | None = None

    @classmethod
    def last(cls, days: int, *, today: dt.date | None = None, resource: int | None = None,
             consumer: int | None = None, provider: int | None = None) -> UsageFilters:
        """The last `days` days up to today."""
        end = today or timezone.localdate()
        return cls(end - dt.timedelta(days=days - 1), end, resource, consumer, provider)

    def check(self) -> UsageFilters:
        problems = []
        if self.end < self.start:
            problems.append(FieldProblem("end", str(_("The end of the period comes before its start."))))
        elif (self.end - self.start).days + 1 > MAX_PERIOD_DAYS:
            problems.append(FieldProblem("start", str(_("Ask for at most %(n)d days at a time.")
                                                     % {"n": MAX_PERIOD_DAYS})))
        raise_if_problems(problems)
        return self

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def apply(self, rows: QuerySet[UsageDay]) -> QuerySet[UsageDay]:
        rows = rows.filter(day__gte=self.start, day__lte=self.end)
        for name in ("resource", "consumer", "provider"):
            value = getattr(self, name)
            if value is not None:
                rows = rows.filter(**{f"{name}_id": value})
        return rows


# --- figures ---------------------------------------------------------------------------------------------------


def estimate_percentile(buckets: Sequence[int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) in milliseconds from counts per bucket of LATENCY_COLUMNS; None with no calls."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    cumulative, lower = 0, 0.0
    for index, count in enumerate(buckets):
        if count and cumulative + count >= rank:
            if index == len(LATENCY_BOUNDS_MS):  # the open bucket: at least its lower bound
                return float(LATENCY_BOUNDS_MS[-1])
            upper = float(LATENCY_BOUNDS_MS[index])
            return lower + (upper - lower) * (rank - cumulative) / count
        cumulative += count
        if index < len(LATENCY_BOUNDS_MS):
            lower = float(LATENCY_BOUNDS_MS[index])
    return float(LATENCY_BOUNDS_MS[-1])


@dataclass(frozen=True)
class Latency:
    """Latency of a set of calls in milliseconds (None without calls)."""

    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None

    @classmethod
    def of(cls, calls: int, latency_us: int, buckets: Sequence[int]) -> Latency:
        p50, p95, p99 = (estimate_percentile(buckets, q) for q in PERCENTILES)
        return cls(latency_us / calls / 1000 if calls else None, p50, p95, p99)


@dataclass(frozen=True)
class Counts:
    ok: int = 0
    refused: int = 0
    error: int = 0
    latency: Latency = field(default_factory=lambda: Latency(None, None, None, None))

    @property
    def calls(self) -> int:
        return self.ok + self.refused + self.error

    @property
    def refused_share(self) -> float | None:
        return self.refused / self.calls if self.calls else None

    @property
    def error_share(self) -> float | None:
        return self.error / self.calls if self.calls else None


@dataclass(frozen=True)
class UsageDayRow(Counts):
    day: dt.date = dt.date.min


@dataclass(frozen=True)
class ReasonRow:
    outcome: str
    reason: str
    label: str
    calls: int


@dataclass(frozen=True)
class GroupRow(Counts):
    id: int = 0
    code: str = ""
    name: str = ""


@dataclass(frozen=True)
class Statistics:
    filters: UsageFilters
    totals: Counts
    days: list[UsageDayRow]
    reasons: list[ReasonRow]
    by_resource: list[GroupRow]
    by_consumer: list[GroupRow]
    by_provider: list[GroupRow]


_SUMS: dict[str, Any] = {
    "ok": Sum("calls", filter=Q(outcome=Outcome.OK)),
    "refused": Sum("calls", filter=Q(outcome=Outcome.REFUSED)),
    "error": Sum("calls", filter=Q(outcome=Outcome.ERROR)),
    "latency_sum": Sum("latency_us"),
    **{f"sum_{column}": Sum(column) for column in LATENCY_COLUMNS},
}


def _counts(row: Mapping[str, Any]) -> dict[str, Any]:
    ok, refused, error = (row[name] or 0 for name in ("ok", "refused", "error"))
    buckets = [row[f"sum_{column}"] or 0 for column in LATENCY_COLUMNS]
    return {"ok": ok, "refused": refused, "error": error,
            "latency": Latency.of(ok + refused + error, row["latency_sum"] or 0, buckets)}


def _groups(rows: QuerySet[UsageDay], path: str, code_field: str) -> list[GroupRow]:
    grouped = (rows.values(path, f"{path}__{code_field}", f"{path}__name").order_by()
               .annotate(**_SUMS))
    found = [GroupRow(id=row[path], code=row[f"{path}__{code_field}"] or "", name=row[f"{path}__name"],
                      **_counts(row)) for row in grouped]
    return sorted(found, key=lambda group: (-group.calls, group.name))


def usage_statistics(viewer: Any, filters: UsageFilters) -> Statistics:
    """The statistics `viewer` may see for the period and narrowing of `filters`."""
    if viewer is not None and not may_view_usage(viewer):
        raise NotPermitted(str(_("You may not see usage statistics.")))
    filters.check()
    rows = filters.apply(visible_usage(viewer))
    per_day = {row["day"]: row for row in rows.values("day").order_by().annotate(**_SUMS)}
    days = [UsageDayRow(day=day, **_counts(per_day[day])) if day in per_day else UsageDayRow(day=day)
            for day in filters.days]
    totals_row = rows.aggregate(**_SUMS)
    reasons = [ReasonRow(row["outcome"], row["reason"], reason_label(row["reason"]), row["calls"])
               for row in rows.exclude(outcome=Outcome.OK).values("outcome", "reason").order_by()
               .annotate(calls=Sum("calls"))]
    reasons.sort(key=lambda r: (r.outcome != Outcome.REFUSED, -r.calls, r.reason))
    return Statistics(filters, Counts(**_counts(totals_row)), days, reasons,
                      _groups(rows, "resource", "code"), _groups(rows, "consumer", "code"),
                      _groups(rows, "provider", "code"))


def usage_options(viewer: Any, since_days: int = MAX_PERIOD_DAYS) -> dict[str, list[tuple[int, str]]]:
    """The resources, consumers and providers that appear in the viewer's usage of the last year, for filters."""
    rows = visible_usage(viewer).filter(day__gte=timezone.localdate() - dt.timedelta(days=since_days))
    return {name: _distinct(rows, name) for name in ("resource", "consumer", "provider")}


def _distinct(rows: QuerySet[UsageDay], name: str) -> list[tuple[int, str]]:
    pairs: Iterable[tuple[int, str]] = rows.values_list(name, f"{name}__name").order_by().distinct()
    return sorted(set(pairs), key=lambda pair: pair[1])
