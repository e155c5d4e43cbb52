"""Counting the data calls of department systems for the usage statistics (models/usage.py), from outside the views.

Counted: calls under /api/v1/gateway/ (registries' records, exports, proxied services) and /govstack/dr/ whose route
names a resource — a registry (`code`, `registryName`) or a proxied service (`resource_code`) — made by an
authenticated system. Not counted: calls refused at authentication (no consumer to attribute them to; they appear in
the request metrics and the access log), calls naming no resource the catalog knows (an unknown registry code is
refused as no_grant, but has no provider to show it to), routes without a resource (the DR database API, the docs)
and the benchmark's baseline endpoint.

The latency is the time from the request reaching this middleware to the response being ready; for a streamed
export that is the time to its first byte. The outcome is the status: 2xx and 3xx answered, 4xx refused, 5xx
error, the reason being the error body's `code` (a streamed answer has no body to read: its status is enough).

Recording happens after the response is made: one statement that finds the resource and upserts the day's row, in
a short transaction of its own (a savepoint where a transaction is already open) that does not wait for the WAL
flush on PostgreSQL; if it fails the call is answered all the same and the failure is logged.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from zhengtong.catalog.models import Resource
from zhengtong.registries.models import Registry

from .callers import Caller
from .models import LATENCY_BOUNDS_MS, LATENCY_COLUMNS, Outcome, UsageDay

log = structlog.get_logger("zhengtong.exchange.usage")

COUNTED_PREFIXES = ("/api/v1/gateway/", "/govstack/dr/")
BASELINE_PREFIX = "/api/v1/gateway/baseline/"
REGISTRY_KWARGS = ("code", "registryName")
SERVICE_KWARG = "resource_code"
# An error body's code becomes the reason only when it looks like one (a proxied service could answer anything).
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")
_KEY = ("day", "resource_id", "consumer_id", "provider_id", "outcome", "reason")


@dataclass(frozen=True)
class Call:
    """One call as the statistics count it. The resource is named by one of: its id, its catalog code (a proxied
    service) or its registry's code; its provider is the resource's at the time of the call."""

    consumer_id: int
    outcome: str
    reason: str = ""
    resource_id: int | None = None
    resource_code: str = ""
    registry_code: str = ""

    def resource_condition(self) -> tuple[str, int | str]:
        """SQL selecting the resource (as `r`), and its parameter."""
        if self.resource_id is not None:
            return "r.id = %s", self.resource_id
        if self.resource_code:
            return "r.code = %s", self.resource_code
        registries = Registry._meta.db_table
        return f"r.registry_id = (SELECT g.id FROM {registries} g WHERE g.code = %s)", self.registry_code  # noqa: S608


def bucket_of(latency_ms: float) -> str:
    """The histogram column counting a call of this latency (bounds are inclusive upper bounds)."""
    return LATENCY_COLUMNS[bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)]


def record_call(call: Call, *, day: dt.date, latency_ms: float) -> None:
    """Add one call to its day's row, creating the row if need be, in one statement that also finds the resource
    and its provider (SQLite and PostgreSQL both upsert with ON CONFLICT), so concurrent calls never lose a count
    and a call naming no resource the catalog knows adds nothing."""
    table = UsageDay._meta.db_table
    bucket = bucket_of(latency_ms)
    condition, resource = call.resource_condition()
    columns = [*_KEY, "calls", "latency_us", *LATENCY_COLUMNS]
    values = [connection.ops.adapt_datefield_value(day), call.consumer_id, call.outcome, call.reason, 1,
              max(0, round(latency_ms * 1000)), *(1 if column == bucket else 0 for column in LATENCY_COLUMNS)]
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (names are ours, values are parameters)
        f"SELECT %s, r.id, %s, r.provider_id, {', '.join(['%s'] * (len(values) - 2))} "
        f"FROM {Resource._meta.db_table} r WHERE {condition} "
        f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET calls = {table}.calls + 1, "
        f"latency_us = {table}.latency_us + excluded.latency_us, {bucket} = {table}.{bucket} + 1"
    )
    # A count lost in a crash is acceptable; making every call wait for one more flush of the WAL is not. (Only in
    # a transaction of its own: SET LOCAL would otherwise reach the surrounding transaction's commit.)
    asynchronous = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if asynchronous:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(sql, [*values, resource])


def outcome_of(response: HttpResponseBase) -> tuple[str, str]:
    """(outcome, reason) of a response: the reason is the error body's code, or a stand-in named by the status."""
    status = response.status_code
    if status < 400:
        return Outcome.OK, ""
    code = _error_code(response)
    if status >= 500:
        return Outcome.ERROR, code or "server_error"
    return Outcome.REFUSED, code or ("not_found" if status == 404 else f"http_{status}")


def _error_code(response: HttpResponseBase) -> str:
    if response.streaming or "json" not in response.get("Content-Type", ""):
        return ""
    try:
        body = json.loads(response.content)  # type: ignore[attr-defined]
    except ValueError:
        return ""
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) and _REASON.fullmatch(code) else ""


def call_of(request: HttpRequest, response: HttpResponseBase) -> Call | None:
    """The call to count, or None when it is not counted (see the module's docstring)."""
    caller = getattr(request, "auth", None)
    match = getattr(request, "resolver_match", None)
    if not isinstance(caller, Caller) or match is None:
        return None
    kwargs = match.kwargs
    registry_code = next((kwargs[name] for name in REGISTRY_KWARGS if kwargs.get(name)), "")
    resource_code = kwargs.get(SERVICE_KWARG) or ""
    if not (registry_code or resource_code):
        return None
    outcome, reason = outcome_of(response)
    return Call(caller.client.department_id, outcome, reason, resource_code=str(resource_code),
                registry_code="" if resource_code else str(registry_code))


def is_counted_path(path: str) -> bool:
    return path.startswith(COUNTED_PREFIXES) and not path.startswith(BASELINE_PREFIX)


class UsageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not is_counted_path(request.path_info):
            return self.get_response(request)
        day = timezone.localdate()
        started = time.perf_counter()
        response = self.get_response(request)
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            call = call_of(request, response)
            if call is not None:
                record_call(call, day=day, latency_ms=latency_ms)
        except Exception:  # the call has been answered; a lost count must not turn it into an error
            log.warning("usage not recorded", path=request.path_info, exc_info=True)
        return response
