"""The demo city's subscriptions: two consuming departments follow the persons registry under their grants.

- 市人力资源和社会保障局's social insurance system pulls the changes of its pensioners' registration status (a
  death or a move away stops a pension), by cursor, because it sits behind a one-way gateway.
- 青林县政务服务中心's one-window system has webhooks on the e-government extranet (政务外网, 10.0.0.0/8) for the
  addresses of the county's residents. The demo's operator has not opened that network to webhooks
  (SUBSCRIPTION_WEBHOOK_NETWORKS), so its first deliveries are refused by the platform and lie on the dead-letter
  list, with the reason, for the department's data officer to replay once the network is opened. The seed
  subscribes it as the operator would after opening the network, then tries the deliveries as the worker does.

The changes are made as the provider's data officer, through the registries' actions: two residents' status
(one deceased, one moved away) and two 青林县 residents' addresses, none of them a persona's. The events are
collected and read through the one door like any other, and audited.

Seeding again adds nothing: a department's subscription to its grant is looked up first, and the changes are made
only when the subscriptions are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction
from django.test import override_settings

from zhengtong.exchange import actions, door
from zhengtong.exchange import subscriptions as webhooks
from zhengtong.exchange.demo import CLIENT_NAMES, demo_officer
from zhengtong.exchange.models import DeliveryMode, EventStatus, Grant, GrantStatus, Subscription
from zhengtong.identity import roles
from zhengtong.identity.demo import DEFAULT_SEED
from zhengtong.identity.models import ApiClient, Citizen
from zhengtong.registries import actions as registries
from zhengtong.registries import base
from zhengtong.registries.models import Record, Registry
from zhengtong.registries.queries import find_record

PENSIONS = "YX-HRSS"
ONE_WINDOW = "YX-QL-GSC"
EXTRANET = "10.0.0.0/8"
ONE_WINDOW_URL = "https://10.53.23.25/zhengtong/events/persons"
STATUS_CHANGES = ("deceased", "moved_out")
NEW_ADDRESSES = ("青林县城关镇文昌路18号3幢201室", "青林县龙泉乡龙泉村六组27号")


@dataclass(frozen=True)
class SubscriptionSeedSummary:
    subscriptions: int
    events: int
    dead_letters: int
    seconds: float

    def describe(self) -> str:
        return (f"Subscriptions: {self.subscriptions} subscriptions with {self.events} events "
                f"({self.dead_letters} dead letters) added in {self.seconds:.1f} s.")


def _grant_and_client(department: str, registry: Registry) -> tuple[Grant, ApiClient]:
    grant = Grant.objects.filter(consumer__code=department, resource__registry=registry, status=GrantStatus.ACTIVE
                                 ).select_related("resource", "consumer").order_by("pk").first()
    client = ApiClient.objects.filter(department__code=department, name=CLIENT_NAMES[department],
                                      revoked_at__isnull=True).first()
    if grant is None or client is None:
        raise Grant.DoesNotExist(f"{department} has no grant or system for {registry.code}; seed the sharing "
                                 "demo first")
    return grant, client


def _persona_records(registry: Registry) -> set[int]:
    """The records of the citizens who have an account (the personas): the seed leaves them alone."""
    found = (find_record(registry, c.resident_id) for c in Citizen.objects.filter(user__isnull=False))
    return {record.pk for record in found if record is not None}


def _records(registry: Registry, count: int, grant: Grant | None = None) -> list[Record]:
    """The last `count` records (within the grant's row scope, when given), chosen by the database."""
    records = Record.objects.filter(registry=registry, deleted_at__isnull=True).exclude(
        pk__in=_persona_records(registry))
    if grant is not None and grant.row_filter:
        records = records.filter(door.row_filter_q(grant.row_filter))
    return list(records.order_by("-pk")[:count])


def _deliver_now(subscription: Subscription) -> int:
    """Try the webhook deliveries as the worker would; returns the dead letters."""
    dead = 0
    with webhooks.new_http_client() as client:
        for event in subscription.events.filter(status=EventStatus.PENDING).order_by("sequence"):
            outcome = webhooks.post(client, subscription.webhook_url, webhooks.body_of(event.payload),
                                    event_id=event.payload["id"], subscription=subscription.number)
            dead += actions.record_attempt(event, outcome).status == EventStatus.DEAD
    return dead


def seed_subscriptions(*, seed: int = DEFAULT_SEED) -> SubscriptionSeedSummary:
    """Subscribe the two systems where they are not yet, change four records, collect and deliver. Needs the
    demo city, its registries, catalog and sharing. `seed` is taken for symmetry with the other seeds: nothing
    here is random."""
    started = time.monotonic()
    persons = Registry.objects.get(code=base.PERSONS)
    pensions_grant, pensions_client = _grant_and_client(PENSIONS, persons)
    window_grant, window_client = _grant_and_client(ONE_WINDOW, persons)
    if Subscription.objects.filter(grant__in=[pensions_grant, window_grant]).exists():
        return SubscriptionSeedSummary(0, 0, 0, time.monotonic() - started)
    with transaction.atomic():
        pulled = actions.subscribe(pensions_client, actions.SubscriptionInput(
            grant=pensions_grant, client=pensions_client, fields=["resident_id", "name", "status"],
            mode=DeliveryMode.PULL))
        with override_settings(SUBSCRIPTION_WEBHOOK_NETWORKS=[EXTRANET]):  # as once the network is opened
            pushed = actions.subscribe(window_client, actions.SubscriptionInput(
                grant=window_grant, client=window_client, fields=["name", "household_division", "residence_address"],
                mode=DeliveryMode.WEBHOOK, webhook_url=ONE_WINDOW_URL))
        officer = demo_officer(persons.department.code, roles.DATA_OFFICER)
        for record, status in zip(_records(persons, len(STATUS_CHANGES)), STATUS_CHANGES, strict=False):
            registries.update_record(officer, record, {"status": status}, reason="公安户籍业务办理")
        for record, address in zip(_records(persons, len(NEW_ADDRESSES), window_grant), NEW_ADDRESSES,
                                   strict=False):
            registries.update_record(officer, record, {"residence_address": address}, reason="居住地址变更登记")
        events = actions.collect_changes(pulled).events + actions.collect_changes(pushed).events
    dead = _deliver_now(pushed)
    return SubscriptionSeedSummary(2, events, dead, time.monotonic() - started)
