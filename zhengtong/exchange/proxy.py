"""The gateway's calls to departments' own APIs (proxied resources): the HTTP call, its timeouts and retries, the
circuit breaker per upstream, and the guard against calling addresses inside the platform (SSRF).

Only `door.call_service` calls `call`: the door decides who may call and masks and audits what comes back; this
module only gets the answer, or a clear failure:

* `upstream_timeout` (504) — the API did not answer within its timeout;
* `upstream_error` (502) — it could not be reached, dropped the connection, answered 5xx (or 401, 403, 407,
  408, 429 or a redirect, which are the platform's problem with it, not the caller's), sent something that is
  not JSON the door can mask, more than MAX_RESPONSE_BYTES, or has an address the gateway will not call;
* `circuit_open` (503) — it failed PROXY_FAILURE_THRESHOLD calls in a row and its circuit is open;
* `upstream_rejected` (404 for its 404, else 422) — it refused this request (another 4xx): the API is healthy,
  the caller's parameters are not.

Timeouts: PROXY_CONNECT_TIMEOUT to connect, PROXY_TIMEOUT for the whole answer of one attempt (per upstream host
in PROXY_UPSTREAMS). Retries (PROXY_RETRIES) only for idempotent methods (GET, PUT, DELETE), with exponential
backoff, and only when the attempt failed before the API started answering: the connection could not be made,
or was dropped before a status line came. A slow API (read timeout) is not retried: it is likely busy, and a
retry would only add to its load and to the caller's wait.

Circuit breaker, per origin (scheme://host:port), kept in the database (models.Upstream) so that every process
shares it: closed → open after PROXY_FAILURE_THRESHOLD failed calls in a row (a call counts once, however many
attempts it took) → after PROXY_COOLDOWN seconds one trial call is let through (half-open; a conditional UPDATE
makes sure only one process gets it) → closed when it succeeds, open again when it fails. Rejections (4xx) show
the API is up and count as answered.

Addresses: the host is resolved once per attempt; every address must be public or in a network the operator
lists in PROXY_ALLOWED_NETWORKS (the government extranet's ranges, loopback for an API on the same host): a
department's data officer who catalogues an API must not be able to point the gateway at the platform's own
internal services. Link-local addresses (169.254.0.0/16, the cloud
metadata service, and fe80::/10) are never called, even if listed; neither are multicast, unspecified and
reserved addresses. The connection goes to the checked address (the Host header and TLS name stay the host's),
so DNS cannot answer differently between the check and the call, and redirects are not followed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.core.errors import DomainError

from .models import CircuitState, Upstream

IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
BACKOFF_SECONDS = 0.2  # before the first retry; doubled for each further one, with jitter
# Answers that are the platform's problem with the API (its credentials, its rate, a redirect), not the caller's.
UPSTREAM_FAULTS = frozenset({401, 403, 407, 408, 429})
# Where an object answer carries its rows: {"data": [...]}, {"code": 0, "data": {...}}.
ENVELOPE_KEYS = ("data", "items", "records", "results", "rows", "list", "result")
ERROR_TEXT_LIMIT = 500  # Upstream.last_error

sleep: Callable[[float], None] = time.sleep  # tests replace it to see the backoff without waiting


class UpstreamError(DomainError):
    code = "upstream_error"
    status = 502


class UpstreamTimeout(DomainError):
    code = "upstream_timeout"
    status = 504


class CircuitOpen(DomainError):
    code = "circuit_open"
    status = 503


class UpstreamRejected(DomainError):
    code = "upstream_rejected"
    status = 422

    def __init__(self, message: str, upstream_status: int):
        super().__init__(message)
        self.status = 404 if upstream_status == 404 else 422
        self.upstream_status = upstream_status


UPSTREAM_FAILURES = (UpstreamError, UpstreamTimeout, CircuitOpen, UpstreamRejected)


class _BeforeAnswer(Exception):
    """An attempt failed before the API started answering: a retry of an idempotent call is safe."""

    def __init__(self, error: UpstreamError | UpstreamTimeout):
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Answer:
    """What the API answered: its rows (objects, unmasked: for the door alone) and whether it answered one
    object rather than a list."""

    origin: str
    status: int
    rows: list[dict[str, Any]]
    single: bool
    attempts: int


@dataclass(frozen=True)
class Limits:
    connect: float
    timeout: float
    retries: int


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    origin: str

    @property
    def host(self) -> str:
        return self.url.host

    @property
    def port(self) -> int:
        return self.url.port or (443 if self.url.scheme == "https" else 80)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.url.port is None else f"{host}:{self.url.port}"


def target_of(endpoint_url: str) -> Target:
    """The endpoint as a URL and its origin; only http and https."""
    try:
        url = httpx.URL(endpoint_url)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UpstreamError(_("The department's API has no valid http(s) address in the catalog."))
    port = url.port or (443 if url.scheme == "https" else 80)
    return Target(url, f"{url.scheme}://{url.host}:{port}")


def limits_for(target: Target) -> Limits:
    """The timeouts and retries of this upstream: PROXY_UPSTREAMS by host:port or host, else the defaults."""
    override = settings.PROXY_UPSTREAMS.get(f"{target.host}:{target.port}".lower()) or \
        settings.PROXY_UPSTREAMS.get(target.host.lower())
    timeout, retries = override if override is not None else (settings.PROXY_TIMEOUT, None)
    return Limits(float(min(settings.PROXY_CONNECT_TIMEOUT, timeout)), float(timeout),
                  settings.PROXY_RETRIES if retries is None else retries)


# --- addresses ---------------------------------------------------------------------------------------------


def address_permitted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                      allowed_networks: Sequence[str] | None = None) -> bool:
    """Whether the platform may connect to `address`: a public one, or one in `allowed_networks` (the operator's
    PROXY_ALLOWED_NETWORKS unless given), never link-local, multicast, unspecified or reserved. Webhook
    deliveries (exchange/subscriptions.py) follow the same rule with their own networks."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        return False
    networks = settings.PROXY_ALLOWED_NETWORKS if allowed_networks is None else allowed_networks
    if any(address in ipaddress.ip_network(n, strict=False) for n in networks):
        return True
    return address.is_global


def _checked_address(target: Target) -> str:
    """The address to connect to, every address of the host checked."""
    try:
        found = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise _BeforeAnswer(UpstreamError(_("The department API's host name could not be resolved."))) from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found))
    refused = [a for a in addresses if not address_permitted(a)]
    if refused or not addresses:
        raise UpstreamError(_("The department API's address (%(address)s) is not one the gateway calls.")
                            % {"address": ", ".join(map(str, refused))})
    return str(addresses[0])


# --- the call ----------------------------------------------------------------------------------------------

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """One client per process, for its connection pool. No proxies from the environment (the connection must go
    to the checked address), no redirects."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(trust_env=False, follow_redirects=False,
                                   headers={"User-Agent": "zhengtong-gateway", "Accept": "application/json"})
        return _client


def call(method: str, endpoint_url: str, *, params: Sequence[tuple[str, str]] = (), body: Any = None,
         headers: Mapping[str, str] | None = None, item_names: Collection[str] = ()) -> Answer:
    """Call the API and return its rows, or raise one of the failures above (after counting it)."""
    target = target_of(endpoint_url)
    admit(target.origin)
    limits = limits_for(target)
    try:
        answer = _call_with_retries(method.upper(), target, limits, params, body, dict(headers or {}), item_names)
    except (UpstreamError, UpstreamTimeout) as error:
        failed(target.origin, error)
        raise
    except UpstreamRejected:
        succeeded(target.origin)
        raise
    succeeded(target.origin)
    return answer


def _call_with_retries(method: str, target: Target, limits: Limits, params: Sequence[tuple[str, str]], body: Any,
                       headers: dict[str, str], item_names: Collection[str]) -> Answer:
    attempt = 1
    while True:
        try:
            return _attempt(method, target, limits, params, body, headers, item_names, attempt)
        except _BeforeAnswer as failure:
            if method not in IDEMPOTENT or attempt > limits.retries:
                raise failure.error from None
        Upstream.objects.filter(origin=target.origin).update(retries=F("retries") + 1)
        sleep(BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.0))  # noqa: S311 (jitter, not secrets)
        attempt += 1


def _attempt(method: str, target: Target, limits: Limits, params: Sequence[tuple[str, str]], body: Any,
             headers: dict[str, str], item_names: Collection[str], attempt: int) -> Answer:
    address = _checked_address(target)
    request = _http().build_request(
        method, target.url.copy_with(host=address), params=list(params),
        json=body if body is not None and method != "GET" else None,
        headers={**headers, "Host": target.host_header},
        timeout=httpx.Timeout(limits.timeout, connect=limits.connect),
        extensions={"sni_hostname": target.host} if target.url.scheme == "https" else None,
    )
    deadline = time.monotonic() + limits.timeout
    try:
        response = _http().send(request, stream=True)
    except httpx.ConnectTimeout:
        raise _BeforeAnswer(_timeout(limits)) from None
    except httpx.TimeoutException:
        raise _timeout(limits) from None
    except httpx.TransportError as error:
        raise _BeforeAnswer(UpstreamError(_("The department's API could not be reached or closed the connection "
                                            "(%(error)s).") % {"error": type(error).__name__})) from None
    try:
        content = _read(response, deadline, limits)
    finally:
        response.close()
    return _answer(target, response.status_code, content, item_names, attempt)


def _timeout(limits: Limits) -> UpstreamTimeout:
    return UpstreamTimeout(_("The department's API did not answer within %(seconds)s seconds.")
                           % {"seconds": f"{limits.timeout:g}"})


def _read(response: httpx.Response, deadline: float, limits: Limits) -> bytes:
    """The whole body, within the attempt's deadline and MAX_RESPONSE_BYTES."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise UpstreamError(_("The department's API answered more than %(mb)d MB.")
                                    % {"mb": MAX_RESPONSE_BYTES // 2**20})
            if time.monotonic() > deadline:
                raise _timeout(limits)
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise _timeout(limits) from None
    except httpx.TransportError as error:
        raise UpstreamError(_("The department's API broke off its answer (%(error)s).")
                            % {"error": type(error).__name__}) from None
    return b"".join(chunks)


def _answer(target: Target, status: int, content: bytes, item_names: Collection[str], attempts: int) -> Answer:
    if 200 <= status < 300:
        try:
            payload = json.loads(content) if content.strip() else []
        except (ValueError, UnicodeDecodeError):
            raise UpstreamError(_("The department's API did not answer in JSON.")) from None
        rows, single = rows_of(payload, item_names)
        return Answer(target.origin, status, rows, single, attempts)
    if 400 <= status < 500 and status not in UPSTREAM_FAULTS:
        raise UpstreamRejected(_("The department's API refused the request (HTTP %(status)d); check the "
                                 "parameters.") % {"status": status}, status)
    raise UpstreamError(_("The department's API failed (HTTP %(status)d).") % {"status": status})


def rows_of(payload: Any, item_names: Collection[str]) -> tuple[list[dict[str, Any]], bool]:
    """The rows of an answer, and whether it was a single object. The shapes the door can mask: an object (one
    row), a list of objects, or an object without any declared item at its top whose first envelope key
    (ENVELOPE_KEYS) holds one of those. Anything else cannot be masked item by item, so it is not passed on."""
    if isinstance(payload, dict) and not any(name in payload for name in item_names):
        inner = next((payload[key] for key in ENVELOPE_KEYS if isinstance(payload.get(key), (dict, list))), None)
        if inner is not None:
            payload = inner
    if isinstance(payload, dict):
        return [payload], True
    if isinstance(payload, list) and all(isinstance(row, dict) for row in payload):
        return list(payload), False
    raise UpstreamError(_("The department's API answered JSON that is not an object or a list of objects, so it "
                          "cannot be masked item by item."))


# --- the circuit breaker -----------------------------------------------------------------------------------


def admit(origin: str) -> None:
    """Let a call through, or refuse it while the circuit is open. After the cool-down, the first caller to
    claim the trial (one conditional UPDATE) goes through half-open; a trial whose caller never reported back
    (its process died) can be claimed again once a further cool-down and timeout have passed."""
    upstream, _created = Upstream.objects.get_or_create(origin=origin)
    if upstream.state == CircuitState.CLOSED:
        return
    now = timezone.now()
    cooldown = dt.timedelta(seconds=settings.PROXY_COOLDOWN)
    if upstream.state == CircuitState.OPEN:
        claim = Upstream.objects.filter(pk=upstream.pk, state=CircuitState.OPEN, opened_at__lte=now - cooldown)
        reopens_at = (upstream.opened_at or now) + cooldown
    else:
        stale = cooldown + dt.timedelta(seconds=settings.PROXY_TIMEOUT)
        claim = Upstream.objects.filter(pk=upstream.pk, state=CircuitState.HALF_OPEN,
                                        trial_started_at__lte=now - stale)
        reopens_at = (upstream.trial_started_at or now) + stale
    if claim.update(state=CircuitState.HALF_OPEN, trial_started_at=now):
        return
    Upstream.objects.filter(pk=upstream.pk).update(rejected=F("rejected") + 1)
    seconds = max(1, int((reopens_at - now).total_seconds() + 0.999))
    raise CircuitOpen(_("The department's API failed repeatedly, so the gateway is not calling it for now; try "
                        "again in %(seconds)d seconds.") % {"seconds": seconds})


def succeeded(origin: str) -> None:
    Upstream.objects.filter(origin=origin).update(
        calls=F("calls") + 1, consecutive_failures=0, state=CircuitState.CLOSED, opened_at=None,
        trial_started_at=None, last_success_at=timezone.now())


def failed(origin: str, error: DomainError) -> None:
    """Count a failed call; open the circuit when it is the threshold's failure in a row, or the trial's."""
    now = timezone.now()
    with transaction.atomic():
        upstream = Upstream.objects.select_for_update().get(origin=origin)
        in_a_row = upstream.consecutive_failures + 1
        opens = upstream.state == CircuitState.HALF_OPEN or (
            upstream.state == CircuitState.CLOSED and in_a_row >= settings.PROXY_FAILURE_THRESHOLD)
        Upstream.objects.filter(pk=upstream.pk).update(
            failures=F("failures") + 1, timeouts=F("timeouts") + int(isinstance(error, UpstreamTimeout)),
            consecutive_failures=in_a_row, last_error=error.message[:ERROR_TEXT_LIMIT], last_error_code=error.code,
            last_error_at=now, state=CircuitState.OPEN if opens else upstream.state,
            opened_at=now if opens else upstream.opened_at, trial_started_at=None)
