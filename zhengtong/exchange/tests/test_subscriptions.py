"""Subscriptions end to end: a change to a record becomes an event read through the one door (granted fields,
masked, row scope, audited), delivered to a local receiver as a webhook whose signature the receiver verifies
with nothing but the published key; a failing receiver is retried with backoff until the event is dead, and a
replay delivers it; a pull subscription is read by cursor and acknowledged; URLs into the platform's own
network are refused; a suspended grant holds the feed without losing it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.test import Client
from django.utils import timezone

from zhengtong.audit.models import AuditEntry, Result
from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.exchange import actions
from zhengtong.exchange import subscriptions as webhooks
from zhengtong.exchange.actions.subscriptions import LEASE
from zhengtong.exchange.models import Event, EventAction, EventStatus, Grant, Subscription
from zhengtong.exchange.tasks import collect_subscription_changes, deliver_webhooks
from zhengtong.exchange.tests.conftest import EAST, WEST, person
from zhengtong.identity import actions as identity
from zhengtong.identity.models import ApiClient, User
from zhengtong.registries import actions as registries
from zhengtong.registries.models import Record, Registry
from zhengtong.registries.queries import find_record

API = "/api/v1/subscriptions"


# --- a receiver on 127.0.0.1 -------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A department system's webhook endpoint: it keeps what it was sent and answers the statuses queued in
    `answers` (then 200)."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    always: int | None = None

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _headers, body in self.received]


@pytest.fixture
def client(client: Client) -> Client:
    """Pages in English, whatever the platform's default language: the assertions read English words."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.SUBSCRIPTION_LOCAL_WEBHOOKS = True
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = state.answers.pop(0) if state.answers else (state.always or 200)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/persons"
    yield state
    server.shutdown()
    server.server_close()


# --- helpers -------------------------------------------------------------------------------------------------


def send(client: Any, method: str, path: str, body: Any = None, credential: str = "") -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {credential}"} if credential else {}
    return getattr(client, method)(API + path, json.dumps(body) if body is not None else None,
                                   content_type="application/json", HTTP_ACCEPT_LANGUAGE="en", **headers)


def record_of(persons: Registry, n: int) -> Record:
    record = find_record(persons, person(n))
    assert record is not None
    return record


def change(persons: Registry, n: int, **values: Any) -> None:
    registries.update_record(None, record_of(persons, n), values, reason="户籍信息变更")


def subscribed(client: Any, credential: str, grant: Grant, **body: Any) -> Subscription:
    values = {"grant": grant.number, "fields": ["name", "division_code"], "mode": "webhook"} | body
    response = send(client, "post", "", values, credential)
    assert response.status_code == 201, response.content
    return Subscription.objects.get(number=response.json()["number"])


def published_keys(client: Any) -> list[dict[str, Any]]:
    response = client.get(API + "/signing-keys")
    assert response.status_code == 200
    return response.json()["keys"]


def verify_as_receiver(keys: list[dict[str, Any]], header: str, body: bytes) -> bool:
    """What a receiver does, with only the published key and the cryptography library."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    key = next(k for k in keys if k["key_id"] == parts["keyId"])
    assert key["algorithm"] == parts["alg"] == "ed25519"
    public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["public_key"]))
    try:
        public_key.verify(base64.b64decode(parts["sig"]), parts["t"].encode() + b"." + body)
    except InvalidSignature:
        return False
    return True


# --- webhooks ----------------------------------------------------------------------------------------------


def test_a_change_is_sent_with_only_the_subscribed_fields_masked_and_signed_with_the_published_key(
        client: Any, persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        receiver: Receiver) -> None:
    grant = make_grant(fields=("name", "phone", "division_code"))
    subscription = subscribed(client, consumer_client[1], grant, webhook_url=receiver.url)
    assert collect_subscription_changes.call()["events"] == 0  # what was there before is not news

    change(persons, 2, name="李思", phone="13900139002")
    change(persons, 3, birth_date="1986-01-02")  # a field the subscription does not carry: no event
    assert collect_subscription_changes.call()["events"] == 1
    assert deliver_webhooks.call()["delivered"] == 1

    (headers, body), = receiver.received
    keys = published_keys(client)
    assert verify_as_receiver(keys, headers["zhengtong-signature"], body)
    assert not verify_as_receiver(keys, headers["zhengtong-signature"], body.replace("李".encode(), "张".encode()))
    assert webhooks.verify_delivery(headers["zhengtong-signature"], body, keys)
    payload = json.loads(body)
    assert payload["values"] == {"name": "李*", "division_code": EAST}  # masked by the field's rule; no phone
    assert payload["masked"] == ["name"] and payload["changed_fields"] == ["name"]
    assert (payload["action"], payload["record_id"], payload["version"]) == ("updated", record_of(persons, 2).pk, 2)
    assert headers["zhengtong-event"] == payload["id"] == f"{subscription.number}-1"
    event = Event.objects.get()
    assert (event.status, event.attempts, event.last_status_code) == (EventStatus.DELIVERED, 1, 200)

    read = AuditEntry.objects.get(action="exchange.read")
    assert read.purpose == f"subscription {subscription.number}"
    assert (read.actor_id, read.detail["grant"], read.fields) == (consumer_client[0].key_id, grant.number,
                                                                   ["division_code", "name"])


def test_creations_and_deletions_are_events_and_collecting_twice_makes_no_second_event(
        client: Any, persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        receiver: Receiver) -> None:
    subscription = subscribed(client, consumer_client[1], make_grant(), webhook_url=receiver.url,
                              fields=["resident_id", "name"])
    created = registries.create_record(None, persons, {"resident_id": person(6), "name": "孙八",
                                                       "division_code": EAST})
    registries.delete_record(None, record_of(persons, 5), reason="死亡注销")
    assert collect_subscription_changes.call()["events"] == 2
    assert collect_subscription_changes.call()["events"] == 0  # not settled yet, so seen again, but once
    events = list(Event.objects.order_by("sequence"))
    assert [(e.action, e.record_id) for e in events] == [(EventAction.CREATED, created.pk),
                                                         (EventAction.DELETED, record_of_deleted(persons, 5))]
    assert events[0].payload["values"]["resident_id"] == person(6)[:6] + "********" + person(6)[-4:]
    assert events[1].payload["values"] is None and events[1].payload["version"] is None

    # Once settled, the cursors move past them.
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=10)):
        collect_subscription_changes.call()
    subscription.refresh_from_db()
    assert subscription.records_seen == created.pk and subscription.changes_seen > 0
    assert subscription.last_sequence == 2


def record_of_deleted(persons: Registry, n: int) -> int:
    return Record.objects.filter(registry=persons, deleted_at__isnull=False).get().pk


def test_a_failing_receiver_is_retried_with_backoff_until_dead_and_a_replay_delivers_it(
        client: Any, persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        consumer_officer: User, receiver: Receiver) -> None:
    subscription = subscribed(client, consumer_client[1], make_grant(), webhook_url=receiver.url)
    receiver.always = 503
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        change(persons, 1, name="王晓明")
        collect_subscription_changes.call()
        waits = []
        for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
            assert deliver_webhooks.call() == {"delivered": 0, "retrying": int(attempt < 6), "dead": int(attempt == 6),
                                               "waiting": 0}
            event = Event.objects.get()
            assert event.attempts == attempt and event.last_status_code == 503
            if event.status == EventStatus.DEAD:
                break
            assert event.next_attempt_at is not None
            waits.append(event.next_attempt_at - timezone.now())
            assert deliver_webhooks.call()["retrying"] == 0  # not due yet
            clock.move_to(event.next_attempt_at)
        assert event.status == EventStatus.DEAD and event.dead_at is not None
        for wait, backoff in zip(waits, webhooks.BACKOFF, strict=True):
            assert backoff * 0.8 <= wait <= backoff * 1.2
        assert len(receiver.received) == 6
        assert len({body for _headers, body in receiver.received}) == 1  # the same bytes every time
        assert AuditEntry.objects.get(action="exchange.dead_letter").result == Result.FAILED

        # The receiver is fixed; the consumer's data officer replays the dead letter on the page.
        receiver.always = None
        client.force_login(consumer_officer)
        page = client.get(f"/sharing/subscriptions/{subscription.number}/")
        assert page.status_code == 200 and b"data-dead-letter" in page.content
        response = client.post(f"/sharing/subscriptions/{subscription.number}/replay/",
                               {"sequence": str(event.sequence)})
        assert response.status_code == 302
        event.refresh_from_db()
        assert (event.status, event.attempts, event.replays) == (EventStatus.PENDING, 0, 1)
        assert deliver_webhooks.call()["delivered"] == 1
    event.refresh_from_db()
    assert event.status == EventStatus.DELIVERED and len(receiver.received) == 7
    replay = AuditEntry.objects.get(action="exchange.replay_dead_letters")
    assert replay.actor_name == consumer_officer.display_name and replay.detail["sequences"] == [1]


def test_a_refusal_by_the_receiver_is_dead_at_once_but_a_rate_limit_is_retried(
        client: Any, persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        receiver: Receiver) -> None:
    subscribed(client, consumer_client[1], make_grant(), webhook_url=receiver.url)
    receiver.answers = [429, 401]
    change(persons, 1, name="王晓明")
    collect_subscription_changes.call()
    assert deliver_webhooks.call()["retrying"] == 1
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):
        assert deliver_webhooks.call()["dead"] == 1
    event = Event.objects.get()
    assert (event.status, event.attempts, event.last_status_code) == (EventStatus.DEAD, 2, 401)


def test_a_dead_letter_replay_is_for_the_consumer_and_the_office_only(
        client: Any, persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        receiver: Receiver, governance: User, provider_officer: User, city: dict[str, Any]) -> None:
    subscription = subscribed(client, consumer_client[1], make_grant(), webhook_url=receiver.url)
    receiver.always = 400
    change(persons, 1, name="王晓明")
    collect_subscription_changes.call()
    deliver_webhooks.call()
    other_system = identity.create_api_client(None, department=city["bureau"], name="民政业务系统").credential
    assert send(client, "post", f"/{subscription.number}/replay", {}, other_system).status_code == 404
    client.force_login(provider_officer)
    assert client.post(f"/sharing/subscriptions/{subscription.number}/replay/", {}).status_code == 404
    with pytest.raises(NotPermitted):
        actions.replay_dead_letters(provider_officer, subscription)
    response = send(client, "post", f"/{subscription.number}/replay", {"sequences": [7]}, consumer_client[1])
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "sequences"
    dead = send(client, "get", f"/{subscription.number}/deliveries?status=dead", credential=consumer_client[1])
    assert [(e["sequence"], e["last_status_code"], e["attempts"]) for e in dead.json()] == [(1, 400, 1)]
    assert all("values" not in e and "payload" not in e for e in dead.json())  # values go only by webhook or pull
    wrong = send(client, "get", f"/{subscription.number}/deliveries?status=lost", credential=consumer_client[1])
    assert wrong.status_code == 422 and wrong.json()["details"][0]["field"] == "status"
    client.force_login(governance)
    response = send(client, "post", f"/{subscription.number}/replay", {})
    assert response.status_code == 200 and response.json() == {"replayed": 1}


def test_events_read_before_a_grant_was_suspended_are_not_sent_while_it_is(
        client: Any, persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        receiver: Receiver) -> None:
    grant = make_grant()
    subscribed(client, consumer_client[1], grant, webhook_url=receiver.url)
    change(persons, 1, name="王晓明")
    collect_subscription_changes.call()
    actions.suspend_grant(None, grant, reason="核查中")
    assert deliver_webhooks.call() == {"delivered": 0, "retrying": 0, "dead": 0, "waiting": 1}
    assert not receiver.received and Event.objects.get().attempts == 0
    actions.resume_grant(None, grant, reason="核查完毕")
    with time_machine.travel(timezone.now() + LEASE + dt.timedelta(seconds=1)):
        assert deliver_webhooks.call()["delivered"] == 1


def test_an_event_carrying_a_field_the_grant_no_longer_covers_is_never_sent(
        client: Any, persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        receiver: Receiver) -> None:
    grant = make_grant(fields=("name", "division_code"))
    subscription = subscribed(client, consumer_client[1], grant, webhook_url=receiver.url)
    change(persons, 1, name="王晓明")
    collect_subscription_changes.call()
    today = timezone.localdate()
    actions.change_grant(None, grant, actions.Terms(fields=["division_code"], valid_from=today,
                                                    valid_until=today + dt.timedelta(days=30)), reason="最小必要")
    assert deliver_webhooks.call()["dead"] == 1
    event = Event.objects.get()
    assert not receiver.received and "name" in event.last_error
    change(persons, 2, name="李思", division_code=WEST)
    collect_subscription_changes.call()  # the subscription now carries only what the grant still covers
    assert Event.objects.get(sequence=2).payload["values"] == {"division_code": WEST}
    assert deliver_webhooks.call()["delivered"] == 1 and subscription.events.count() == 2


# --- pull ----------------------------------------------------------------------------------------------------


def test_a_pull_subscription_is_read_by_cursor_and_acknowledged(
        client: Any, persons: Registry, make_grant: Callable[..., Grant],
        consumer_client: tuple[ApiClient, str], city: dict[str, Any]) -> None:
    credential = consumer_client[1]
    subscription = subscribed(client, credential, make_grant(), mode="pull")
    for n, name in ((1, "王晓明"), (2, "李思"), (3, "欧阳娜")):
        change(persons, n, name=name)
    collect_subscription_changes.call()
    assert deliver_webhooks.call()["delivered"] == 0  # pulled, never posted

    page = send(client, "get", f"/{subscription.number}/events?limit=2", credential=credential).json()
    assert [e["sequence"] for e in page["events"]] == [1, 2] and page["has_more"] and page["next_after"] == 2
    assert page["events"][0]["values"]["name"] == "王**"
    response = send(client, "post", f"/{subscription.number}/ack", {"through": 2}, credential)
    assert response.json() == {"acknowledged_sequence": 2, "marked": 2}
    page = send(client, "get", f"/{subscription.number}/events", credential=credential).json()
    assert [e["sequence"] for e in page["events"]] == [3] and not page["has_more"]
    assert [e.status for e in Event.objects.order_by("sequence")] == ["delivered", "delivered", "pending"]
    again = send(client, "get", f"/{subscription.number}/events?after=0", credential=credential).json()
    assert len(again["events"]) == 3  # re-reading is allowed

    response = send(client, "post", f"/{subscription.number}/ack", {"through": 9}, credential)
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "through"
    assert send(client, "post", f"/{subscription.number}/ack", {"through": 1}, credential).json()["marked"] == 0

    sibling = identity.create_api_client(None, department=city["other"], name="西山区治安系统").credential
    assert send(client, "get", f"/{subscription.number}/events", credential=sibling).status_code == 403
    stranger = identity.create_api_client(None, department=city["bureau"], name="民政业务系统").credential
    assert send(client, "get", f"/{subscription.number}/events", credential=stranger).status_code == 404


def test_a_suspended_grant_holds_the_feed_and_nothing_is_lost(
        client: Any, persons: Registry, make_grant: Callable[..., Grant],
        consumer_client: tuple[ApiClient, str]) -> None:
    grant = make_grant()
    subscription = subscribed(client, consumer_client[1], grant, mode="pull")
    actions.suspend_grant(None, grant, reason="核查中")
    change(persons, 1, name="王晓明")
    assert collect_subscription_changes.call() == {"subscriptions": 1, "events": 0, "waiting": 1}
    subscription.refresh_from_db()
    assert subscription.held_because == "grant_suspended"
    response = send(client, "get", f"/{subscription.number}/events", credential=consumer_client[1])
    assert response.status_code == 403 and response.json()["code"] == "grant_suspended"

    actions.resume_grant(None, grant, reason="核查完毕")
    assert collect_subscription_changes.call()["events"] == 1
    subscription.refresh_from_db()
    assert subscription.held_because == ""


def test_reads_for_a_subscription_count_against_the_grants_rate_and_resume_the_next_minute(
        client: Any, persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        receiver: Receiver) -> None:
    subscription = subscribed(client, consumer_client[1], make_grant(rate_per_minute=2), webhook_url=receiver.url)
    with time_machine.travel(timezone.now().replace(second=0), tick=False) as clock:
        for n, name in ((1, "王晓明"), (2, "李思"), (3, "欧阳娜")):
            change(persons, n, name=name)
        assert collect_subscription_changes.call() == {"subscriptions": 1, "events": 2, "waiting": 1}
        subscription.refresh_from_db()
        assert subscription.held_because == "rate_limited"
        assert deliver_webhooks.call()["delivered"] == 2  # what was read is still sent
        clock.shift(dt.timedelta(minutes=1))
        assert collect_subscription_changes.call()["events"] == 1
    assert [e.record_id for e in Event.objects.order_by("sequence")] == [record_of(persons, n).pk for n in (1, 2, 3)]


# --- row scope -----------------------------------------------------------------------------------------------


def test_only_records_in_the_row_scope_are_told_of(
        client: Any, persons: Registry, make_grant: Callable[..., Grant],
        consumer_client: tuple[ApiClient, str]) -> None:
    grant = make_grant(row_filter={"division_code": {"eq": WEST}})
    subscription = subscribed(client, consumer_client[1], grant, mode="pull", fields=["name"])
    change(persons, 1, name="王晓明")  # east: outside
    change(persons, 4, name="赵陆")  # west: inside
    collect_subscription_changes.call()
    assert [e.record_id for e in Event.objects.all()] == [record_of(persons, 4).pk]

    change(persons, 4, division_code=EAST)  # leaves the scope: not told
    change(persons, 2, division_code=WEST)  # enters it: told, though only the division changed
    registries.delete_record(None, record_of(persons, 5), reason="迁出")  # never told of: not told now either
    collect_subscription_changes.call()
    events = list(Event.objects.order_by("sequence"))
    assert [(e.action, e.record_id) for e in events] == [(EventAction.UPDATED, record_of(persons, 4).pk),
                                                         (EventAction.UPDATED, record_of(persons, 2).pk)]
    assert events[1].payload["values"] == {"name": "李*"} and events[1].payload["changed_fields"] == []

    registries.delete_record(None, record_of(persons, 2), reason="迁出")  # told of before: its deletion is told
    collect_subscription_changes.call()
    last = Event.objects.order_by("sequence").last()
    assert last is not None and (last.action, last.payload["values"]) == (EventAction.DELETED, None)
    # Nothing was read outside the scope: no refusal was audited.
    assert not AuditEntry.objects.filter(action="exchange.read_refused").exists()
    assert subscription.events.count() == 3


# --- subscribing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), [
    ("http://example.org/hook", "https"),
    ("https://10.1.2.3/hook", "not public"),
    ("https://169.254.169.254/latest/meta-data", "not public"),
    ("https://[::1]/hook", "not public"),
    ("https://user:pw@example.org/hook", "password"),
    ("ftp://example.org/hook", "https"),
])
def test_webhook_urls_into_the_platforms_own_network_are_refused(
        url: str, reason: str, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        actions.subscribe(consumer_client[0], actions.SubscriptionInput(
            grant=make_grant(), client=consumer_client[0], fields=["name"], mode="webhook", webhook_url=url))
    problem, = refused.value.details
    assert problem.field == "webhook_url" and reason in problem.reason


def test_an_operator_may_open_a_private_network_and_development_may_use_localhost(
        settings: Any, make_grant: Callable[..., Grant]) -> None:
    settings.SUBSCRIPTION_WEBHOOK_NETWORKS = ["10.0.0.0/8", "169.254.0.0/16"]
    assert webhooks.check_url("https://10.1.2.3/hook") == "https://10.1.2.3/hook"
    with pytest.raises(webhooks.UnsafeUrl):  # link-local (the cloud metadata service) is never opened
        webhooks.check_url("https://169.254.169.254/latest/meta-data")
    settings.SUBSCRIPTION_LOCAL_WEBHOOKS = False
    with pytest.raises(webhooks.UnsafeUrl):
        webhooks.check_url("http://127.0.0.1:8080/hook")
    settings.SUBSCRIPTION_LOCAL_WEBHOOKS = True
    assert webhooks.check_url("http://127.0.0.1:8080/hook")


def test_a_subscription_stays_within_the_grant_and_the_department(
        client: Any, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        consumer_officer: User, city: dict[str, Any]) -> None:
    grant = make_grant(fields=("name", "division_code"))
    response = send(client, "post", "", {"grant": grant.number, "fields": ["name", "phone"], "mode": "pull"},
                    consumer_client[1])
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "fields", "reason": "The grant does not cover phone."}]
    stranger = identity.create_api_client(None, department=city["bureau"], name="民政业务系统").credential
    response = send(client, "post", "", {"grant": grant.number, "fields": ["name"], "mode": "pull"}, stranger)
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "grant"

    # The consumer's data officer subscribes for one of its systems.
    client.force_login(consumer_officer)
    response = send(client, "post", "", {"grant": grant.number, "fields": ["name"], "mode": "pull",
                                         "client": consumer_client[0].key_id})
    assert response.status_code == 201, response.content
    number = response.json()["number"]
    assert response.json()["client"] == consumer_client[0].key_id
    assert AuditEntry.objects.get(action="exchange.subscribe").actor_name == consumer_officer.display_name
    response = send(client, "post", f"/{number}/pause", {"reason": "系统升级"})
    assert response.json()["status"] == "paused"
    assert send(client, "post", f"/{number}/pause", {}).status_code == 409
    assert send(client, "post", f"/{number}/resume", {}, consumer_client[1]).json()["status"] == "active"
    assert send(client, "post", f"/{number}/cancel", {}, consumer_client[1]).json()["status"] == "cancelled"
    assert [e.action for e in AuditEntry.objects.filter(object_type="subscription").order_by("pk")] == [
        "exchange.subscribe", "exchange.pause_subscription", "exchange.resume_subscription",
        "exchange.cancel_subscription"]


def test_a_paused_subscription_collects_nothing_until_resumed(
        client: Any, persons: Registry, make_grant: Callable[..., Grant],
        consumer_client: tuple[ApiClient, str]) -> None:
    subscription = subscribed(client, consumer_client[1], make_grant(), mode="pull")
    actions.pause_subscription(consumer_client[0], subscription)
    change(persons, 1, name="王晓明")
    assert collect_subscription_changes.call()["subscriptions"] == 0
    actions.resume_subscription(consumer_client[0], subscription)
    assert collect_subscription_changes.call()["events"] == 1


def test_the_signing_keys_need_no_credential_and_name_the_current_key(client: Any) -> None:
    body = client.get(API + "/signing-keys").json()
    assert body["header"] == "Zhengtong-Signature"
    key, = body["keys"]
    assert key["current"] and key["algorithm"] == "ed25519" and len(bytes.fromhex(key["public_key"])) == 32
    assert key["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")


# --- pages ---------------------------------------------------------------------------------------------------


def test_the_data_officer_subscribes_a_system_on_the_pages_and_pauses_it(
        client: Any, persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        consumer_officer: User, provider_officer: User, receiver: Receiver) -> None:
    grant = make_grant(fields=("name", "division_code"))
    client.force_login(consumer_officer)
    choose = client.get("/sharing/subscriptions/new/")
    assert choose.status_code == 200 and f'data-grant="{grant.number}"'.encode() in choose.content
    form = client.get(f"/sharing/subscriptions/new/?grant={grant.number}")
    assert form.status_code == 200 and b'name="field_names"' in form.content

    wrong = client.post("/sharing/subscriptions/new/", {"grant": grant.number, "client": consumer_client[0].pk,
                                                        "field_names": ["name"], "mode": "webhook",
                                                        "webhook_url": "http://example.org/x"})
    assert wrong.status_code == 200 and b"form-errors" in wrong.content
    assert b"Webhooks are sent over https only." in wrong.content and not Subscription.objects.exists()

    made = client.post("/sharing/subscriptions/new/", {
        "grant": grant.number, "client": consumer_client[0].pk, "field_names": ["name"], "mode": "webhook",
        "webhook_url": receiver.url})
    subscription = Subscription.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/sharing/subscriptions/{subscription.number}/"
    assert (subscription.fields, subscription.client, subscription.created_by) == (
        ["name"], consumer_client[0], consumer_officer)
    listing = client.get("/sharing/subscriptions/")
    assert f'data-subscription="{subscription.number}"'.encode() in listing.content

    change(persons, 1, name="王晓明")
    collect_subscription_changes.call()
    deliver_webhooks.call()
    detail = client.get(f"/sharing/subscriptions/{subscription.number}/")
    assert b'data-event="1" data-status="delivered"' in detail.content
    assert client.post(f"/sharing/subscriptions/{subscription.number}/pause/").status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == "paused"

    # Another department's data officer sees nothing of it.
    client.force_login(provider_officer)
    assert b"data-subscription=" not in client.get("/sharing/subscriptions/").content
    assert client.get(f"/sharing/subscriptions/{subscription.number}/").status_code == 404
    assert client.post(f"/sharing/subscriptions/{subscription.number}/resume/").status_code == 404


# --- the demo ------------------------------------------------------------------------------------------------


def test_the_demo_seeds_a_pull_subscription_and_dead_letters_once(db: Any) -> None:
    from zhengtong.catalog import demo as catalog_demo
    from zhengtong.exchange import demo as sharing_demo
    from zhengtong.exchange import demo_subscriptions
    from zhengtong.identity import demo as identity_demo
    from zhengtong.registries import demo as registries_demo

    identity_demo.seed_demo_city(citizens=60, businesses=0, progress=False)
    registries_demo.seed_registries(parcels=20, addresses=50, progress=False)
    catalog_demo.seed_catalog()
    sharing_demo.seed_sharing()
    summary = demo_subscriptions.seed_subscriptions()
    assert (summary.subscriptions, summary.events, summary.dead_letters) == (2, 4, 2)
    assert "2 subscriptions" in summary.describe()

    pulled = Subscription.objects.get(consumer__code="YX-HRSS")
    assert pulled.mode == "pull" and pulled.last_sequence == 2
    statuses = sorted(e.payload["values"]["status"] for e in pulled.events.all())
    assert statuses == ["deceased", "moved_out"]
    pushed = Subscription.objects.get(consumer__code="YX-QL-GSC")
    dead = list(pushed.events.filter(status=EventStatus.DEAD))
    assert len(dead) == 2 and all("10.53.23.25" in e.last_error for e in dead)
    assert all(e.payload["values"]["household_division"].startswith("532325") for e in dead)

    again = demo_subscriptions.seed_subscriptions()
    assert (again.subscriptions, again.events) == (0, 0) and Event.objects.count() == 4
