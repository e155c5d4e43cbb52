"""Background work of the exchange, run by `zhengtong worker`: deadlines of sharing requests and data objections,
in working days; the changes subscriptions follow, and their webhook deliveries."""

from __future__ import annotations

import httpx
import structlog
from django.utils.translation import gettext as _
from django_tasks import task

from zhengtong.core.errors import Conflict
from zhengtong.exchange import actions, queries
from zhengtong.exchange import subscriptions as webhooks
from zhengtong.exchange.actions.objections import check_objection_deadlines as remind_of_objections
from zhengtong.exchange.models import Event, EventStatus, SharingRequest, Subscription, SubscriptionStatus

log = structlog.get_logger("zhengtong.exchange.tasks")


@task()
def check_sharing_deadlines() -> dict[str, int]:
    """Remind the staff who must act the working day before each deadline (check, answer, settlement), and
    tell them once when it has passed. Each is sent once per deadline, so the worker may run this as often as
    it likes. Returns how many reminders and overdue notices went out."""
    deadlines = queries.Deadlines.as_of()
    sent = {"reminders": 0, "overdue_notices": 0}
    waiting = SharingRequest.objects.filter(deadlines.waiting_q(through=deadlines.next_working_day))
    for request in waiting.select_related("consumer", "resource").order_by("pk"):
        state = deadlines.state(request)
        try:
            if state == queries.DueState.DUE_SOON and request.reminded_for != request.current_due:
                sent["reminders"] += actions.remind_of_deadline(request)
            elif state == queries.DueState.OVERDUE:
                sent["overdue_notices"] += actions.notify_overdue(request, today=deadlines.today)
        except Conflict:
            continue  # the request moved on to another step since it was read
        except OSError as error:
            # The mail server refused or is away: nothing was recorded, so the next run tries this one again.
            log.warning("deadline mail not sent", request=request.number, error=str(error))
    return sent


# --- subscriptions ---------------------------------------------------------------------------------------------

DELIVERY_BATCH = 200
OUTCOME_COUNTS: dict[str, str] = {EventStatus.DELIVERED: "delivered", EventStatus.DEAD: "dead"}


@task()
def check_objection_deadlines() -> dict[str, int]:
    """Remind whoever must act on a data objection the working day before its deadline, and tell them and the
    governance office once it has passed; each once per deadline. Returns how many reminders and overdue notices
    went out."""
    return remind_of_objections()


@task()
def collect_subscription_changes() -> dict[str, int]:
    """Turn the changes of subscribed resources into events, for every active subscription (see
    exchange.actions.subscriptions). Safe to run often and in several workers at once: a subscription is
    collected under its row lock, and a change makes one event per subscription however often it is seen."""
    counts = {"subscriptions": 0, "events": 0, "waiting": 0}
    active = Subscription.objects.filter(status=SubscriptionStatus.ACTIVE).select_related("resource__registry")
    for subscription in active.order_by("pk"):
        collected = actions.collect_changes(subscription)
        counts["subscriptions"] += 1
        counts["events"] += collected.events
        counts["waiting"] += bool(collected.held_because)
    return counts


@task()
def deliver_webhooks() -> dict[str, int]:
    """Send the webhook events that are due, signed, one attempt each, and note the outcome: delivered, retried
    later with backoff, or dead. Events are claimed first, so several workers share the work."""
    counts = {"delivered": 0, "retrying": 0, "dead": 0, "waiting": 0}
    readable: dict[int, frozenset[str] | None] = {}
    with webhooks.new_http_client() as client:
        while claimed := actions.claim_deliveries(DELIVERY_BATCH):
            for event in claimed:
                subscription = event.subscription
                if subscription.pk not in readable:
                    readable[subscription.pk] = actions.readable_fields(subscription)
                fields = readable[subscription.pk]
                if fields is None:
                    counts["waiting"] += 1  # its claim runs out, and the collector marks the subscription held
                    continue
                outcome = _send(client, event, fields)
                status = actions.record_attempt(event, outcome).status
                counts[OUTCOME_COUNTS.get(status, "retrying")] += 1
            if len(claimed) < DELIVERY_BATCH:
                break
    return counts


def _send(client: httpx.Client, event: Event, fields: frozenset[str]) -> webhooks.Outcome:
    """One attempt; an event carrying fields the grant no longer covers is not sent at all, and dies."""
    outside = actions.not_covered(event, fields)
    if outside:
        return webhooks.Outcome(False, True, error=_("The grant no longer covers %(names)s; the event was not sent.")
                                % {"names": ", ".join(outside)})
    subscription = event.subscription
    return webhooks.post(client, subscription.webhook_url, webhooks.body_of(event.payload),
                         event_id=event.payload["id"], subscription=subscription.number)
