"""JSON API of subscriptions, under /api/v1/subscriptions/.

A department's system subscribes to the changes of a resource its department holds a grant for, and manages its
department's subscriptions (pause, resume, cancel, replay dead letters); staff do the same by role and data
scope. Events reach a system as signed webhooks (see exchange.subscriptions for verifying them against
`/subscriptions/signing-keys`) or, for a system that cannot receive calls, by pulling:
`GET /subscriptions/{number}/events?after=<sequence>` gives the events after a sequence number (after the last
acknowledged one when left out), and `POST /subscriptions/{number}/ack` with `through` acknowledges them.

A subscription outside the caller's reach is a 404; a step the caller may not take is a 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.exchange import actions, door
from zhengtong.exchange import subscriptions as webhooks
from zhengtong.exchange.models import DeliveryMode, Event, EventStatus, Grant, Subscription, SubscriptionStatus
from zhengtong.identity.models import ApiClient

router = Router(tags=["subscriptions"])

MAX_EVENTS = 500
RECENT = 50


def _caller(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


# --- shapes ------------------------------------------------------------------------------------------------


class SigningKeyOut(Schema):
    algorithm: str = Field(description="ed25519 or sm2.")
    key_id: str
    public_key: str = Field(description="The raw public key in hex (32 bytes Ed25519; 64 bytes x||y SM2).")
    public_key_pem: str
    current: bool = Field(description="The key deliveries are signed with now.")


class SigningKeysOut(Schema):
    header: str
    signed: str
    keys: list[SigningKeyOut]


class SubscriptionOut(Schema):
    number: str
    status: str
    status_reason: str
    consumer: str = Field(description="The consumer department's code.")
    client: str = Field(description="The key id of the system that receives the events.")
    resource: str | None = Field(description="The catalog resource's code.")
    resource_name: str
    grant: str
    fields: list[str]
    mode: str
    webhook_url: str
    created_by: str
    created_at: dt.datetime
    last_sequence: int
    acknowledged_sequence: int
    collected_at: dt.datetime | None
    waiting_because: str = Field(description="Why changes are not being read now (a door refusal code), or "
                                             "empty.")
    pending: int
    dead_letters: int


class EventOut(Schema):
    sequence: int
    action: str
    record_id: int
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    dead_at: dt.datetime | None
    # No values: record values leave only to the subscribing system, by webhook or pull, as its right allows.
    changed_fields: list[str] = Field(description="The fields the change touched, without their values.")


class PullOut(Schema):
    events: list[dict[str, Any]] = Field(description="The events' payloads, as a webhook would carry them.")
    next_after: int = Field(description="Pass as `after` for the next page; acknowledge through it once kept.")
    last_sequence: int
    acknowledged_sequence: int
    has_more: bool


class SubscriptionIn(Schema):
    grant: str = Field(description="The number of your department's grant for the resource.")
    fields: list[str] = Field(description="The granted fields the events carry.")
    mode: str = Field(DeliveryMode.WEBHOOK, description="webhook or pull.")
    webhook_url: str = Field("", description="https URL the events are posted to (webhook mode).")
    client: str = Field("", description="Staff only: the key id of the department's system that receives the "
                                        "events. A system subscribes for itself.")


class ReasonIn(Schema):
    reason: str = ""


class AckIn(Schema):
    through: int = Field(description="The sequence number of the last event kept.")


class ReplayIn(Schema):
    sequences: list[int] | None = Field(None, description="Dead letters to send again; leave out for all.")


class ReplayOut(Schema):
    replayed: int


class AckOut(Schema):
    acknowledged_sequence: int
    marked: int


def _subscription_out(item: Subscription) -> SubscriptionOut:
    counts = {status: item.events.filter(status=status).count() for status in (EventStatus.PENDING,
                                                                                EventStatus.DEAD)}
    return SubscriptionOut(
        number=item.number, status=item.status, status_reason=item.status_reason, consumer=item.consumer.code,
        client=item.client.key_id, resource=item.resource.code, resource_name=item.resource.name,
        grant=item.grant.number, fields=list(item.fields), mode=item.mode, webhook_url=item.webhook_url,
        created_by=item.created_by_name, created_at=item.created_at, last_sequence=item.last_sequence,
        acknowledged_sequence=item.acknowledged_sequence, collected_at=item.collected_at,
        waiting_because=item.held_because, pending=counts[EventStatus.PENDING], dead_letters=counts[EventStatus.DEAD])


def _event_out(event: Event) -> EventOut:
    return EventOut(sequence=event.sequence, action=event.action, record_id=event.record_id, status=event.status,
                    attempts=event.attempts, next_attempt_at=event.next_attempt_at,
                    last_status_code=event.last_status_code, last_error=event.last_error,
                    created_at=event.created_at, delivered_at=event.delivered_at, dead_at=event.dead_at,
                    changed_fields=list(event.payload.get("changed_fields", [])))


def _visible(request: HttpRequest, number: str) -> Subscription:
    return get_object_or_404(webhooks.visible_subscriptions(_caller(request)), number=number)


def _fresh(item: Subscription) -> SubscriptionOut:
    return _subscription_out(webhooks.visible_subscriptions(None).get(pk=item.pk))


def _pulling(request: HttpRequest, number: str) -> tuple[ApiClient, Subscription, frozenset[str]]:
    """The subscription, for its own system to pull from, while its grant still lets it read; and the fields
    it may read now."""
    caller = _caller(request)
    subscription = _visible(request, number)
    if not isinstance(caller, ApiClient) or caller.pk != subscription.client_id:
        raise NotPermitted(_("Only the subscribing system pulls its events."))
    if subscription.mode != DeliveryMode.PULL:
        raise Conflict(_("This subscription's events are sent as webhooks, not pulled."))
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise Conflict(_("The subscription is cancelled."))
    registry = subscription.resource.registry
    assert registry is not None  # subscriptions are to registry resources
    right = door.resolve_right(door.Reader.system(caller), registry)  # refused: the door's reason and status
    return caller, subscription, frozenset(right.fields)


def _as_readable(event: Event, fields: frozenset[str]) -> dict[str, Any]:
    """The payload, less any field the grant has stopped covering since the event was read."""
    payload = dict(event.payload)
    if payload.get("values"):
        payload["values"] = {name: value for name, value in payload["values"].items() if name in fields}
    return payload


# --- endpoints -----------------------------------------------------------------------------------------------


@router.get("/subscriptions/signing-keys", response=SigningKeysOut, auth=None)
def signing_keys(request: HttpRequest) -> SigningKeysOut:
    """The platform's public keys, for receivers to verify the Zhengtong-Signature header of deliveries."""
    return SigningKeysOut(header=webhooks.SIGNATURE_HEADER, signed='t + "." + body',
                          keys=[SigningKeyOut(**key) for key in webhooks.published_keys()])


@router.get("/subscriptions", response=list[SubscriptionOut])
def list_subscriptions(request: HttpRequest) -> list[SubscriptionOut]:
    """The subscriptions the caller may see: a system its department's."""
    return [_subscription_out(item) for item in webhooks.visible_subscriptions(_caller(request))]


@router.post("/subscriptions", response={201: SubscriptionOut})
def create_subscription(request: HttpRequest, payload: SubscriptionIn) -> Status[SubscriptionOut]:
    caller = _caller(request)
    grant = Grant.objects.select_related("resource", "resource__registry", "consumer").filter(
        number=payload.grant).first()
    if grant is None:
        raise InvalidInput.for_field("grant", _("There is no such grant."))
    if isinstance(caller, ApiClient):
        client = caller
    else:
        found = ApiClient.objects.filter(key_id=payload.client).select_related("department").first()
        if found is None:
            raise InvalidInput.for_field("client", _("Name your department's system by its key id."))
        client = found
    subscription = actions.subscribe(caller, actions.SubscriptionInput(
        grant=grant, client=client, fields=payload.fields, mode=payload.mode, webhook_url=payload.webhook_url))
    return Status(201, _fresh(subscription))


@router.get("/subscriptions/{number}", response=SubscriptionOut)
def get_subscription(request: HttpRequest, number: str) -> SubscriptionOut:
    return _subscription_out(_visible(request, number))


@router.post("/subscriptions/{number}/pause", response=SubscriptionOut)
def pause(request: HttpRequest, number: str, payload: ReasonIn) -> SubscriptionOut:
    return _fresh(actions.pause_subscription(_caller(request), _visible(request, number), reason=payload.reason))


@router.post("/subscriptions/{number}/resume", response=SubscriptionOut)
def resume(request: HttpRequest, number: str, payload: ReasonIn) -> SubscriptionOut:
    return _fresh(actions.resume_subscription(_caller(request), _visible(request, number), reason=payload.reason))


@router.post("/subscriptions/{number}/cancel", response=SubscriptionOut)
def cancel(request: HttpRequest, number: str, payload: ReasonIn) -> SubscriptionOut:
    return _fresh(actions.cancel_subscription(_caller(request), _visible(request, number), reason=payload.reason))


@router.get("/subscriptions/{number}/deliveries", response=list[EventOut])
def deliveries(request: HttpRequest, number: str,
               status: str = Query("", description="pending, delivered or dead; all when left out.")
               ) -> list[EventOut]:
    """The subscription's latest events with their delivery state, newest first."""
    events = _visible(request, number).events.order_by("-sequence")
    if status:
        if status not in EventStatus.values:
            raise InvalidInput.for_field("status", _("Choose pending, delivered or dead."))
        events = events.filter(status=status)
    return [_event_out(event) for event in events[:RECENT]]


@router.post("/subscriptions/{number}/replay", response=ReplayOut)
def replay(request: HttpRequest, number: str, payload: ReplayIn) -> ReplayOut:
    """Send dead letters again, each with a fresh round of attempts."""
    replayed = actions.replay_dead_letters(_caller(request), _visible(request, number), sequences=payload.sequences)
    return ReplayOut(replayed=replayed)


@router.get("/subscriptions/{number}/events", response=PullOut)
def pull(request: HttpRequest, number: str,
         after: int | None = Query(None, ge=0, description="Events after this sequence number; the last "
                                                           "acknowledged when left out."),
         limit: int = Query(100, ge=1, le=MAX_EVENTS)) -> PullOut:
    """The next events of a pull subscription, oldest first."""
    _client, subscription, fields = _pulling(request, number)
    start = subscription.acknowledged_sequence if after is None else after
    events = webhooks.events_after(subscription, start, limit + 1)
    page = events[:limit]
    return PullOut(events=[_as_readable(event, fields) for event in page],
                   next_after=page[-1].sequence if page else start, last_sequence=subscription.last_sequence,
                   acknowledged_sequence=subscription.acknowledged_sequence, has_more=len(events) > limit)


@router.post("/subscriptions/{number}/ack", response=AckOut)
def acknowledge(request: HttpRequest, number: str, payload: AckIn) -> AckOut:
    client, subscription, _fields = _pulling(request, number)
    marked = actions.acknowledge_events(client, subscription, through=payload.through)
    subscription.refresh_from_db(fields=["acknowledged_sequence"])
    return AckOut(acknowledged_sequence=subscription.acknowledged_sequence, marked=marked)
