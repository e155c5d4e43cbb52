"""Every change of subscriptions and their events, as a named verb: subscribe, pause, resume, cancel, replay dead
letters, acknowledge pulled events; and the platform's own two: collect the changes of a resource into events,
and record each delivery attempt.

The change feed is the registries' own history, used as a transactional outbox: a record's creation is its
`Record` row, every later change a `RecordChange` row, both written in the transaction of the change. Each
subscription keeps a cursor into each, and `collect_changes` turns what lies past them into events.

What an event says is read through the one door when the event is made, as the subscription's system, with the
purpose "subscription <number>": the grant's fields, row scope, masking and consent apply, the read is audited
and counts against the grant's quota. So:

- a change to a record outside the row scope (or whose data subject has not consented) makes no event; nor
  does a change that moves a record out of the scope: telling of it would tell of a record the consumer may not
  see, and the door cannot say whether it was inside before. A consumer keeping a copy learns it when a read of
  the record answers outside_row_scope;
- a change to a record entering the row scope makes an event with its values;
- a change touching neither the subscribed fields nor the fields the row scope tests makes no event;
- a deletion carries the record id and no values. It is sent when the grant covers every row (no row scope,
  not resting on consent), or when the subscription has told of that record before; otherwise it would tell of
  a record outside the consumer's view;
- while the grant is suspended, expired or revoked, or its quota or rate is used up, the cursors stay where
  they are and the subscription waits (`held_because`), so nothing is lost and nothing is read without a
  right; an event tells the record's state when it is read (its `version`), not at the change.

The cursors move past a row only once it is older than SETTLE, and rows past the cursor are collected again
(the event's `source` is unique per subscription, so once): a change committed late by a long transaction,
with an id below one already seen, is still collected.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.audit.models import Result
from zhengtong.catalog.actions import next_number
from zhengtong.core.errors import Conflict, FieldProblem, InvalidInput, NotPermitted, raise_if_problems
from zhengtong.exchange import door
from zhengtong.exchange.models import (
    Basis,
    DeliveryMode,
    Event,
    EventAction,
    EventStatus,
    Grant,
    GrantStatus,
    Subscription,
    SubscriptionStatus,
)
from zhengtong.exchange.subscriptions import Outcome, UnsafeUrl, check_url, next_attempt_after
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import ApiClient, User
from zhengtong.registries.models import Record, RecordChange, Registry

__all__ = ["SubscriptionInput", "acknowledge_events", "cancel_subscription", "claim_deliveries", "collect_changes",
           "not_covered", "readable_fields",
           "pause_subscription", "record_attempt", "replay_dead_letters", "resume_subscription", "subscribe"]

COLLECT_BATCH = 500
MAX_BATCHES = 10  # per subscription and run; the worker comes back for the rest
SETTLE = dt.timedelta(minutes=5)
LEASE = dt.timedelta(minutes=2)  # a claimed delivery is not claimed again for this long
# Refusals that mean "not now" for the whole subscription, rather than "not this record".
HOLDING = {door.Reason.NO_GRANT, door.Reason.GRANT_EXPIRED, door.Reason.GRANT_SUSPENDED, door.Reason.GRANT_REVOKED,
           door.Reason.QUOTA_EXCEEDED, door.Reason.RATE_LIMITED}
CLIENT_REVOKED = "client_revoked"
FIELDS_NOT_GRANTED = "fields_not_granted"
# Holds that mean the system may read nothing now, so its events wait too; a used-up quota or rate only slows
# the reading of new changes, and what was read already is still sent.
WITHOUT_RIGHT = (CLIENT_REVOKED, FIELDS_NOT_GRANTED, *(reason.code for reason in (
    door.Reason.NO_GRANT, door.Reason.GRANT_EXPIRED, door.Reason.GRANT_SUSPENDED, door.Reason.GRANT_REVOKED)))
ACTIONS_OF_CHANGES = {"registries.delete_record": EventAction.DELETED,
                      "registries.restore_record": EventAction.RESTORED}

Actor = User | ApiClient | None


def purpose_of(subscription: Subscription) -> str:
    return f"subscription {subscription.number}"


def _audit(action: str, actor: Actor, subscription: Subscription, detail: dict[str, Any] | None = None,
           result: str = Result.OK) -> None:
    audit.record(action, actor_of(actor), object_type="subscription", object_id=subscription.number,
                 purpose=purpose_of(subscription), result=result,
                 detail={"consumer": subscription.consumer.code, "resource": subscription.resource.code or "",
                         "grant": subscription.grant.number, "status": subscription.status, **(detail or {})})


def _may_manage(actor: Actor, subscription: Subscription, perm: str = "exchange.change_subscription") -> None:
    """Staff by role and data scope; a department's systems manage their own department's subscriptions."""
    if not isinstance(actor, ApiClient):
        require_permission(actor, perm, subscription)
        return
    if not actor.is_active or actor.department_id != subscription.consumer_id:
        audit.record_alone("identity.permission_denied", actor_of(actor), result=Result.DENIED,
                           object_type="subscription", object_id=subscription.number, detail={"permission": perm})
        raise NotPermitted(_("This subscription is not your department's."))


# --- subscribing ------------------------------------------------------------------------------------------


@dataclass
class SubscriptionInput:
    grant: Grant
    client: ApiClient
    fields: list[str]
    mode: str
    webhook_url: str = ""


def _creator(actor: Actor) -> tuple[Any, str]:
    """Who asks to subscribe: (their department, their name)."""
    if isinstance(actor, ApiClient):
        return actor.department, actor.name
    profile = getattr(actor, "staff", None)
    if profile is None:
        raise NotPermitted(_("Only staff of a department or its systems can subscribe."))
    return profile.department, actor.display_name or actor.get_username()  # type: ignore[union-attr]


def _check_input(data: SubscriptionInput, department: Any) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    grant = data.grant
    if grant.consumer_id != department.pk:
        problems.append(FieldProblem("grant", _("The grant is not your department's.")))
    elif grant.status != GrantStatus.ACTIVE or not grant.in_force_on(timezone.localdate()):
        problems.append(FieldProblem("grant", _("The grant is not in force; changes could not be read.")))
    elif grant.resource.registry_id is None:
        problems.append(FieldProblem("grant", _("Only registry resources have changes to subscribe to.")))
    if data.client.department_id != department.pk or not data.client.is_active:
        problems.append(FieldProblem("client", _("Choose an active system of your department.")))
    if not data.fields:
        problems.append(FieldProblem("fields", _("Choose at least one field.")))
    outside = [name for name in data.fields if name not in grant.fields]
    if outside:
        problems.append(FieldProblem("fields", _("The grant does not cover %(names)s.") % {
            "names": ", ".join(outside)}))
    if data.mode not in DeliveryMode.values:
        problems.append(FieldProblem("mode", _("Choose webhook or pull.")))
    elif data.mode == DeliveryMode.WEBHOOK:
        if not data.webhook_url.strip():
            problems.append(FieldProblem("webhook_url", _("Give the URL the events are sent to.")))
        else:
            try:
                check_url(data.webhook_url)
            except UnsafeUrl as error:
                problems.append(FieldProblem("webhook_url", str(error)))
    return problems


def _feed_position(registry: Registry) -> tuple[int, int]:
    """The newest record and record change of the registry: a new subscription starts after them."""
    records = Record.objects.filter(registry=registry).aggregate(last=Max("pk"))["last"] or 0
    changes = RecordChange.objects.filter(record__registry=registry).aggregate(last=Max("pk"))["last"] or 0
    return records, changes


def subscribe(actor: Actor, data: SubscriptionInput) -> Subscription:
    """A department's system (or its data officer, for one of its systems) subscribes to the changes of a
    resource its department holds a grant for, from now on."""
    if isinstance(actor, ApiClient):
        if not actor.is_active or data.client.pk != actor.pk:
            raise NotPermitted(_("A system subscribes for itself."))
    else:
        require_permission(actor, "exchange.add_subscription")
    department, name = _creator(actor)
    raise_if_problems(_check_input(data, department))
    grant = data.grant
    registry = grant.resource.registry
    assert registry is not None  # checked above
    with transaction.atomic():
        records_seen, changes_seen = _feed_position(registry)
        subscription = Subscription.objects.create(
            number=f"GXDY-{timezone.localdate().year}-{next_number(f'GXDY:{timezone.localdate().year}'):06d}",
            consumer=department, client=data.client, resource=grant.resource, grant=grant,
            fields=list(dict.fromkeys(data.fields)), mode=data.mode,
            webhook_url=data.webhook_url.strip() if data.mode == DeliveryMode.WEBHOOK else "",
            created_by=actor if isinstance(actor, User) else None, created_by_name=name, created_at=timezone.now(),
            records_seen=records_seen, changes_seen=changes_seen)
        _audit("exchange.subscribe", actor, subscription, {"fields": subscription.fields, "mode": subscription.mode,
                                                           "client": data.client.key_id,
                                                           "webhook_url": subscription.webhook_url})
    return subscription


# --- status -------------------------------------------------------------------------------------------------


def _set_status(actor: Actor, subscription: Subscription, status: str, reason: str, allowed_from: Sequence[str],
                action: str) -> Subscription:
    _may_manage(actor, subscription)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related(
            "consumer", "resource", "grant").get(pk=subscription.pk)
        if subscription.status not in allowed_from:
            raise Conflict(_("The subscription is %(status)s.") % {"status": subscription.get_status_display()})
        previous = subscription.status
        subscription.status, subscription.status_reason = status, reason.strip()
        subscription.save(update_fields=["status", "status_reason", "updated_at"])
        _audit(action, actor, subscription, {"from": previous, "reason": reason.strip()})
    return subscription


def pause_subscription(actor: Actor, subscription: Subscription, *, reason: str = "") -> Subscription:
    """No changes are collected or sent while paused; on resuming, those made meanwhile follow."""
    return _set_status(actor, subscription, SubscriptionStatus.PAUSED, reason, (SubscriptionStatus.ACTIVE,),
                       "exchange.pause_subscription")


def resume_subscription(actor: Actor, subscription: Subscription, *, reason: str = "") -> Subscription:
    return _set_status(actor, subscription, SubscriptionStatus.ACTIVE, reason, (SubscriptionStatus.PAUSED,),
                       "exchange.resume_subscription")


def cancel_subscription(actor: Actor, subscription: Subscription, *, reason: str = "") -> Subscription:
    """For good: nothing more is collected or sent, and events not yet delivered stay undelivered."""
    return _set_status(actor, subscription, SubscriptionStatus.CANCELLED, reason,
                       (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED), "exchange.cancel_subscription")


def replay_dead_letters(actor: Actor, subscription: Subscription, *, sequences: Iterable[int] | None = None) -> int:
    """Send dead letters again (all of the subscription's, or those numbered): each starts over with a fresh
    round of attempts. The consumer's data officer or systems, or the governance office. Returns how many."""
    _may_manage(actor, subscription)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related(
            "consumer", "resource", "grant").get(pk=subscription.pk)
        if subscription.status == SubscriptionStatus.CANCELLED:
            raise Conflict(_("The subscription is cancelled; its events are no longer sent."))
        dead = Event.objects.select_for_update().filter(subscription=subscription, status=EventStatus.DEAD)
        if sequences is not None:
            dead = dead.filter(sequence__in=list(sequences))
        replayed = sorted(dead.values_list("sequence", flat=True))
        if not replayed:
            raise InvalidInput.for_field("sequences", _("There is no such dead letter."))
        for event in dead:
            event.status, event.attempts, event.next_attempt_at = EventStatus.PENDING, 0, timezone.now()
            event.dead_at, event.replays = None, event.replays + 1
            event.save(update_fields=["status", "attempts", "next_attempt_at", "dead_at", "replays"])
        _audit("exchange.replay_dead_letters", actor, subscription, {"sequences": replayed})
    return len(replayed)


def acknowledge_events(client: ApiClient, subscription: Subscription, *, through: int) -> int:
    """A pulling system has what it fetched, through event `through`: those events count as delivered, and the
    next pull starts after them. Acknowledging less than before changes nothing. Returns the events marked."""
    if not client.is_active or client.pk != subscription.client_id:
        audit.record_alone("identity.permission_denied", actor_of(client), result=Result.DENIED,
                           object_type="subscription", object_id=subscription.number,
                           detail={"permission": "acknowledge"})
        raise NotPermitted(_("Only the subscribing system acknowledges its events."))
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related(
            "consumer", "resource", "grant").get(pk=subscription.pk)
        if through > subscription.last_sequence:
            raise InvalidInput.for_field("through", _("There is no event %(n)d yet; the last is %(last)d.") % {
                "n": through, "last": subscription.last_sequence})
        if through <= subscription.acknowledged_sequence:
            return 0
        marked = Event.objects.filter(subscription=subscription, sequence__lte=through,
                                      status=EventStatus.PENDING).update(status=EventStatus.DELIVERED,
                                                                         delivered_at=timezone.now())
        previous = subscription.acknowledged_sequence
        subscription.acknowledged_sequence = through
        subscription.save(update_fields=["acknowledged_sequence", "updated_at"])
        _audit("exchange.acknowledge_events", client, subscription, {"from": previous, "through": through})
    return marked


# --- collecting the changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """One row of the change feed: a record's creation, or a later change."""

    key: str
    pk: int
    record_id: int
    action: str
    changed: tuple[str, ...]
    at: dt.datetime


@dataclass(frozen=True)
class Collected:
    events: int
    held_because: str = ""


def _feed(subscription: Subscription, registry: Registry) -> tuple[list[_Source], list[_Source]]:
    created = Record.objects.filter(registry=registry, pk__gt=subscription.records_seen).order_by("pk")
    changes = RecordChange.objects.filter(record__registry=registry, pk__gt=subscription.changes_seen).order_by("pk")
    return ([_Source(f"record:{pk}", pk, pk, EventAction.CREATED, (), at)
             for pk, at in created.values_list("pk", "created_at")[:COLLECT_BATCH]],
            [_Source(f"change:{pk}", pk, record_id, ACTIONS_OF_CHANGES.get(action, EventAction.UPDATED),
                     tuple(changed or ()), at)
             for pk, record_id, action, changed, at in changes.values_list(
                 "pk", "record_id", "action", "changed_fields", "changed_at")[:COLLECT_BATCH]])


def _advance(cursor: int, rows: list[_Source], handled: set[str], settled_before: dt.datetime) -> int:
    """Past every row handled and settled, up to the first that is not."""
    for row in rows:
        if row.key not in handled or row.at > settled_before:
            break
        cursor = row.pk
    return cursor


def _plain_json(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _relevant(source: _Source, subscription: Subscription, right: door.Right) -> bool:
    if source.action != EventAction.UPDATED:
        return True
    return bool(set(source.changed) & (set(subscription.fields) | set(right.row_filter)))


def _may_hear_of_deletion(subscription: Subscription, right: door.Right, record_id: int) -> bool:
    covers_every_row = not right.row_filter and (right.grant is None or right.grant.basis != Basis.CONSENT)
    return covers_every_row or Event.objects.filter(subscription=subscription, record_id=record_id).exclude(
        action=EventAction.DELETED).exists()


def _readable(registry: Registry, right: door.Right, sources: Sequence[_Source]) -> set[int]:
    """The records among `sources` that exist and lie in the row scope, chosen by the database the way the
    door's searches choose them: the others are passed over without a read, which the door would refuse."""
    records = Record.objects.filter(registry=registry, deleted_at__isnull=True,
                                    pk__in=[s.record_id for s in sources if s.action != EventAction.DELETED])
    if right.row_filter:
        records = records.filter(door.row_filter_q(right.row_filter))
    return set(records.values_list("pk", flat=True))


def _event(subscription: Subscription, source: _Source, registry: Registry, reading: door.Reading | None,
           now: dt.datetime) -> Event:
    subscription.last_sequence += 1
    sequence = subscription.last_sequence
    payload = {
        "id": f"{subscription.number}-{sequence}", "subscription": subscription.number, "sequence": sequence,
        "action": source.action, "resource": subscription.resource.code, "registry": registry.code,
        "record_id": source.record_id, "version": reading.version if reading else None,
        # Only names the right still covers: a narrowed grant's fields are not even named.
        "changed_fields": [name for name in source.changed if name in subscription.fields
                           and (reading is None or name in reading.values)],
        "values": _plain_json(reading.values) if reading else None,
        "masked": list(reading.masked) if reading else [],
        "occurred_at": source.at.isoformat(), "read_at": now.isoformat(),
    }
    webhook = subscription.mode == DeliveryMode.WEBHOOK
    return Event.objects.create(subscription=subscription, sequence=sequence, source=source.key,
                                action=source.action, record_id=source.record_id, payload=payload, created_at=now,
                                next_attempt_at=now if webhook else None)


def _collect_batch(subscription: Subscription, registry: Registry) -> tuple[int, str, bool]:
    """One batch of the feed into events, in one transaction: (events made, why held, whether more is left)."""
    reader = door.Reader.system(subscription.client)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().select_related(
            "consumer", "resource", "grant", "client").get(pk=subscription.pk)
        if subscription.status != SubscriptionStatus.ACTIVE:
            return 0, "", False
        if not subscription.client.is_active:
            return 0, CLIENT_REVOKED, False
        try:
            right = door.resolve_right(reader, registry)
        except door.Refused as refusal:
            return 0, refusal.code, False
        fields = [name for name in subscription.fields if name in right.fields]
        if not fields:
            return 0, FIELDS_NOT_GRANTED, False
        created, changes = _feed(subscription, registry)
        sources = sorted(created + changes, key=lambda s: (s.at, s.key.startswith("change"), s.pk))
        handled = set(Event.objects.filter(subscription=subscription, source__in=[s.key for s in sources])
                      .values_list("source", flat=True))
        readable = _readable(registry, right, sources)
        now, made, held = timezone.now(), 0, ""
        for source in sources:
            if source.key in handled:
                continue
            reading = None
            if source.action == EventAction.DELETED:
                if _may_hear_of_deletion(subscription, right, source.record_id):
                    _event(subscription, source, registry, None, now)
                    made += 1
                handled.add(source.key)
                continue
            if source.record_id in readable and _relevant(source, subscription, right):
                try:
                    reading = door.read_record(reader, registry, door.RecordId(source.record_id),
                                               purpose=purpose_of(subscription), fields=fields)
                except door.Refused as refusal:
                    if refusal.reason in HOLDING:
                        held = refusal.code
                        break
                if reading is not None:
                    _event(subscription, source, registry, reading, now)
                    made += 1
            handled.add(source.key)
        settled_before = now - SETTLE
        before = (subscription.records_seen, subscription.changes_seen)
        subscription.records_seen = _advance(subscription.records_seen, created, handled, settled_before)
        subscription.changes_seen = _advance(subscription.changes_seen, changes, handled, settled_before)
        subscription.save(update_fields=["records_seen", "changes_seen", "last_sequence"])
    full = len(created) == COLLECT_BATCH or len(changes) == COLLECT_BATCH
    moved = before != (subscription.records_seen, subscription.changes_seen)
    return made, held, full and moved and not held


def collect_changes(subscription: Subscription) -> Collected:
    """The platform turns the resource's changes past the subscription's cursors into events (see the module
    docstring), and notes why it waits, if it does."""
    registry = subscription.resource.registry
    if registry is None:
        return Collected(0)
    total, held = 0, ""
    for _batch in range(MAX_BATCHES):
        made, held, more = _collect_batch(subscription, registry)
        total += made
        if not more:
            break
    Subscription.objects.filter(pk=subscription.pk).update(held_because=held, collected_at=timezone.now())
    return Collected(total, held)


# --- delivering ---------------------------------------------------------------------------------------------


def claim_deliveries(limit: int) -> list[Event]:
    """Webhook events due now, of active subscriptions whose system may read, claimed for LEASE so that
    another worker leaves them alone while this one sends them. Oldest first."""
    now = timezone.now()
    with transaction.atomic():
        due = Event.objects.select_for_update(skip_locked=True, of=("self",)).select_related(
            "subscription__resource__registry", "subscription__client__department").filter(
            status=EventStatus.PENDING, next_attempt_at__lte=now, subscription__mode=DeliveryMode.WEBHOOK,
            subscription__status=SubscriptionStatus.ACTIVE,
        ).exclude(subscription__held_because__in=WITHOUT_RIGHT).order_by("next_attempt_at", "pk")
        claimed = list(due[:limit])
        Event.objects.filter(pk__in=[e.pk for e in claimed]).update(next_attempt_at=now + LEASE)
    return claimed


def readable_fields(subscription: Subscription) -> frozenset[str] | None:
    """The fields the subscription's system may still read under its right, or None when it may read nothing
    now: checked before sending, so an event read before the grant was suspended, revoked or narrowed does not
    leave after it."""
    registry = subscription.resource.registry
    if registry is None or not subscription.client.is_active:
        return None
    try:
        right = door.resolve_right(door.Reader.system(subscription.client), registry)
    except door.Refused:
        return None
    return frozenset(right.fields)


def not_covered(event: Event, fields: frozenset[str]) -> list[str]:
    """The fields an event carries that the right no longer covers."""
    return sorted(set(event.payload.get("values") or {}) - fields)


def record_attempt(event: Event, outcome: Outcome) -> Event:
    """The platform notes one delivery attempt: delivered; to be tried again after the backoff; or dead (at
    once, or after the last attempt), which is audited for the consumer and the office to act on."""
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.select_for_update().select_related(
            "subscription__consumer", "subscription__resource", "subscription__grant").get(pk=event.pk)
        if event.status != EventStatus.PENDING:
            return event  # acknowledged or replayed meanwhile
        event.attempts += 1
        event.last_attempt_at, event.last_status_code, event.last_error = now, outcome.status_code, outcome.error
        wait = None if outcome.final else next_attempt_after(event.attempts, outcome.retry_after)
        if outcome.delivered:
            event.status, event.delivered_at, event.next_attempt_at = EventStatus.DELIVERED, now, None
        elif wait is None:
            event.status, event.dead_at, event.next_attempt_at = EventStatus.DEAD, now, None
            _audit("exchange.dead_letter", None, event.subscription,
                   {"sequence": event.sequence, "attempts": event.attempts, "status_code": outcome.status_code,
                    "error": outcome.error}, result=Result.FAILED)
        else:
            event.next_attempt_at = now + wait
        event.save()
    return event
