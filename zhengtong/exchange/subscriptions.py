"""Webhook deliveries of subscriptions: the signature, the URLs the platform will call, one HTTP attempt, and
the backoff between attempts; and the reads of subscriptions that carry rules.

Verifying a delivery (the receiver's side)
------------------------------------------
Each delivery is a POST with a JSON body and the header

    Zhengtong-Signature: keyId=<key id>,alg=<ed25519|sm2>,t=<unix seconds>,sig=<base64 signature>

signed with the platform's key of its crypto suite. To verify:

1. Fetch the platform's public keys once from `GET /api/v1/subscriptions/signing-keys` (no credential needed)
   and keep them; fetch again when a delivery names a key id you do not know.
2. Split the header on "," and each part on the first "="; take the key with `keyId` and check `alg` is its
   algorithm.
3. Refuse a delivery whose `t` is more than 5 minutes from your clock (a replayed old delivery).
4. Verify `sig` (base64, 64 bytes) over the bytes `t + "." + body`, the body exactly as received, before
   parsing it. Ed25519: the raw 32-byte public key (`public_key`, hex) or `public_key_pem` with any Ed25519
   library (Python: `cryptography`'s `Ed25519PublicKey.from_public_bytes(...).verify(sig, message)`). SM2: SM3
   with the default user ID 1234567812345678, signature r||s, the 64-byte public key x||y.
5. Deduplicate by the body's `id` (also the `Zhengtong-Event` header): a retried delivery carries the same id
   and body. Deliveries are not ordered; use `sequence` and the record's `version` to ignore stale ones.

What counts as delivered
------------------------
Any 2xx answer. 408, 425, 429, any 5xx, a timeout or a connection error is retried after 1 minute, 5 minutes,
30 minutes, 2 hours and 12 hours (each ±20 %, so a receiver coming back is not hit by every sender at once; a
longer Retry-After is honoured); after the sixth failed attempt the event is dead. Any other 4xx (and a
redirect, which is never followed) is dead at once: the receiver understood the request and refused it, and
sending the same bytes again cannot help. A dead letter stays on the subscription's list until the consumer's
data officer or the governance office replays it, after fixing what was wrong.

Which URLs the platform calls
-----------------------------
https only, to a host whose every address is public: loopback, private (RFC 1918, fc00::/7), link-local
(including cloud metadata addresses), multicast, reserved and unspecified addresses are refused, when the
subscription is made and again before each attempt, so a webhook cannot be pointed at the platform's own
network (SSRF). Two settings widen this: `SUBSCRIPTION_WEBHOOK_NETWORKS` (from
`ZHENGTONG_WEBHOOK_ALLOWED_NETWORKS`), CIDR networks an operator opens (an e-government extranet, 政务外网),
and `SUBSCRIPTION_LOCAL_WEBHOOKS` (DEBUG), which allows http://127.0.0.1, http://[::1] and http://localhost for
development and tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import random
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.core import crypto
from zhengtong.exchange.models import Event, Grant, GrantStatus, Subscription
from zhengtong.exchange.proxy import address_permitted
from zhengtong.identity import scope
from zhengtong.identity.models import ApiClient, Department

SIGNATURE_HEADER = "Zhengtong-Signature"
EVENT_HEADER = "Zhengtong-Event"
SUBSCRIPTION_HEADER = "Zhengtong-Subscription"
MAX_CLOCK_SKEW = 300  # seconds a receiver should accept between `t` and its clock
BACKOFF = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2),
           dt.timedelta(hours=12))
MAX_ATTEMPTS = len(BACKOFF) + 1
JITTER = 0.2
RETRIED_STATUSES = {408, 425, 429}
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}
MAX_ERROR = 500  # characters of an answer or error kept on the event


# --- signing -----------------------------------------------------------------------------------------------


def signature_header(body: bytes, *, at: int | None = None, signer: crypto.Signer | None = None) -> str:
    """The Zhengtong-Signature header for `body`, signed now (or at `at`, unix seconds)."""
    signer = signer or crypto.load_signer()
    timestamp = int(time.time()) if at is None else at
    signature = signer.sign(f"{timestamp}.".encode() + body)
    return (f"keyId={signer.key_id},alg={signer.algorithm},t={timestamp},"
            f"sig={base64.b64encode(signature).decode()}")


def parse_signature_header(value: str) -> dict[str, str]:
    parts = (part.split("=", 1) for part in value.split(",") if "=" in part)
    return {name.strip(): item.strip() for name, item in parts}


def verify_delivery(header: str, body: bytes, keys: Iterable[Mapping[str, str]], *, now: float | None = None) -> bool:
    """The receiver's check, as the module docstring describes it, against published keys
    (export_public_key's shape). The tests call it as a receiver would; the platform never needs it."""
    parts = parse_signature_header(header)
    key = next((k for k in keys if k["key_id"] == parts.get("keyId")), None)
    if key is None or key["algorithm"] != parts.get("alg"):
        return False
    try:
        timestamp = int(parts["t"])
        signature = base64.b64decode(parts["sig"], validate=True)
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > MAX_CLOCK_SKEW:
        return False
    return crypto.verify_signature(key["algorithm"], bytes.fromhex(key["public_key"]),
                                   f"{timestamp}.".encode() + body, signature)


def published_keys() -> list[dict[str, Any]]:
    """The public keys receivers verify with: the current suite's key (made on first use) and any other
    platform key on file, for deliveries signed before a change of suite."""
    current = crypto.load_signer()
    signers = {current.key_id: current, **{s.key_id: s for s in crypto.platform_signers()}}
    return [{**crypto.export_public_key(s), "current": s.key_id == current.key_id} for s in signers.values()]


def body_of(payload: Mapping[str, Any]) -> bytes:
    """The bytes sent for a payload: the same on every attempt, so a retried delivery verifies the same."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# --- which URLs ----------------------------------------------------------------------------------------------


class UnsafeUrl(ValueError):
    """The platform will not call this URL; the message says why, for the person who gave it."""


def _local_allowed() -> bool:
    return settings.SUBSCRIPTION_LOCAL_WEBHOOKS


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(_("The host %(host)s cannot be found.") % {"host": host}) from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]


def check_url(url: str) -> str:
    """The URL, or UnsafeUrl: https to public addresses (see the module docstring)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeUrl(_("Give an https:// URL."))
    if parts.username or parts.password:
        raise UnsafeUrl(_("Leave the user name and password out of the URL; deliveries are signed instead."))
    local = _local_allowed() and host in LOCAL_HOSTS
    if parts.scheme == "http" and not local:
        raise UnsafeUrl(_("Webhooks are sent over https only."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl(_("The port is not a number from 1 to 65535.")) from None
    for address in _addresses(host, port):
        if local and address.is_loopback:
            continue
        if not address_permitted(address, settings.SUBSCRIPTION_WEBHOOK_NETWORKS):
            raise UnsafeUrl(_("%(host)s leads to %(address)s, an address that is not public; the platform does "
                              "not call its own network.") % {"host": host, "address": address})
    return url.strip()


# --- one attempt -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: delivered, to be retried (after at least `retry_after`), or dead at once."""

    delivered: bool
    final: bool  # no point trying again
    status_code: int | None = None
    error: str = ""
    retry_after: dt.timedelta | None = None


def _retry_after(response: httpx.Response) -> dt.timedelta | None:
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return min(dt.timedelta(seconds=int(value)), BACKOFF[-1])
    return None


def post(client: httpx.Client, url: str, body: bytes, *, event_id: str, subscription: str) -> Outcome:
    """One signed POST of `body` to `url`, checked against the URL rules first."""
    try:
        check_url(url)
    except UnsafeUrl as error:
        return Outcome(False, True, error=str(error))
    headers = {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: signature_header(body),
               EVENT_HEADER: event_id, SUBSCRIPTION_HEADER: subscription, "User-Agent": "Zhengtong-Webhooks/1"}
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        return Outcome(False, False, error=_("No answer within %(seconds)d seconds.") % {"seconds": TIMEOUT.read})
    except httpx.HTTPError as error:
        return Outcome(False, False, error=(str(error) or type(error).__name__)[:MAX_ERROR])
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(True, True, code)
    answer = response.text[:MAX_ERROR]
    retried = code >= 500 or code in RETRIED_STATUSES
    return Outcome(False, not retried, code, answer or response.reason_phrase, _retry_after(response))


def new_http_client() -> httpx.Client:
    # Redirects are not followed: a 3xx is an answer, and following it could lead past the URL rules.
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)


def next_attempt_after(attempts: int, retry_after: dt.timedelta | None = None) -> dt.timedelta | None:
    """How long to wait after `attempts` failed attempts, or None when the event is dead."""
    if attempts >= MAX_ATTEMPTS:
        return None
    wait = BACKOFF[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (spreading, not secrecy)
    return max(wait, retry_after) if retry_after else wait


# --- reads with rules -----------------------------------------------------------------------------------------

VIEW_SUBSCRIPTION = "exchange.view_subscription"


def visible_subscriptions(caller: Any) -> QuerySet[Subscription]:
    """Subscriptions `caller` may see: a system its department's, staff by role and data scope (the consumer's
    data officers their department's, the governance office all); None, the platform, every one."""
    subscriptions = Subscription.objects.select_related("consumer", "client", "resource", "resource__registry",
                                                        "grant")
    if caller is None:
        return subscriptions
    if isinstance(caller, ApiClient):
        return subscriptions.filter(consumer=caller.department) if caller.is_active else subscriptions.none()
    if not scope.permitted(caller, VIEW_SUBSCRIPTION):
        return subscriptions.none()
    return scope.filter_by_scope(caller, subscriptions)


def grants_to_subscribe(department: Department) -> QuerySet[Grant]:
    """The department's grants whose changes can be subscribed to: active, in force today, of a registry."""
    today = timezone.localdate()
    return Grant.objects.filter(consumer=department, status=GrantStatus.ACTIVE, valid_from__lte=today,
                                valid_until__gte=today, resource__registry__isnull=False).select_related(
        "resource", "resource__provider").order_by("resource__name", "number")


def events_after(subscription: Subscription, after: int, limit: int) -> list[Event]:
    return list(subscription.events.filter(sequence__gt=after).order_by("sequence")[:limit])
