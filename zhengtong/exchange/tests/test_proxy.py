"""Proxied department APIs through the gateway, against a real HTTP server on 127.0.0.1: the consumer's grant is
checked before the API is called; the answer comes back masked item by item, undeclared keys dropped; the read
is audited like a registry read and counted against the quota; failures answer 502/504/503 in the API's error
body and are counted per upstream; idempotent calls are retried only when the API never started answering;
the circuit opens, lets one trial through after the cool-down, and closes again; addresses inside the platform
are never called.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
import time_machine
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import include, path
from django.utils import timezone

from zhengtong.audit.models import AuditEntry, Result
from zhengtong.audit.subjects import subject_hash
from zhengtong.catalog import actions as catalog
from zhengtong.catalog.models import OpeningType, Resource, ResourceKind, SharingType, UpdateCycle
from zhengtong.config import ConfigError, load_config
from zhengtong.conftest import credit_code, resident_id
from zhengtong.core import masking
from zhengtong.exchange import actions, demo_proxy, door, proxy
from zhengtong.exchange.models import CircuitState, Grant, GrantUsage, Upstream
from zhengtong.identity import actions as identity
from zhengtong.identity.models import ApiClient, Department
from zhengtong.registries.models import FieldType, Sensitivity

pytestmark = pytest.mark.django_db

GATEWAY = "/api/v1/gateway/services/"
PURPOSE = "办理不动产登记核验婚姻状况"
ASKED = resident_id(7)  # the person the consumer asks about
SPOUSE = resident_id(8, male=False)
ANSWER = {"resident_id": ASKED, "name": "王小明", "marital_status": "已婚", "registered_on": "2015-05-20",
          "spouse_resident_id": SPOUSE, "internal_note": "窗口备注：材料齐全"}


# --- a department's API, on a local server ------------------------------------------------------------------


@dataclass
class DepartmentApi:
    """What the local API answers, in order (the last answer repeats), and what it was asked."""

    answers: list[tuple[Any, ...]] = field(default_factory=lambda: [("json", 200, ANSWER)])
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def next_answer(self) -> tuple[Any, ...]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _handler(upstream: DepartmentApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            upstream.requests.append({"method": self.command, "path": parts.path, "query": parse_qsl(parts.query),
                                      "body": json.loads(body) if body else None, "headers": dict(self.headers)})
            kind, *rest = upstream.next_answer()
            if kind == "drop":  # close the connection before any status line
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind == "slow":
                time.sleep(rest[0])
                kind, rest = "json", [200, ANSWER]
            status, payload = rest
            content = payload.encode() if kind == "text" else json.dumps(payload, ensure_ascii=False).encode()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the gateway gave up waiting
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if kind == "text" else "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        do_GET = do_POST = do_PUT = _serve

    return Handler


@pytest.fixture
def upstream(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[DepartmentApi]:
    state = DepartmentApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/marriage/v1/verify"
    settings.PROXY_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.PROXY_TIMEOUT = 1
    settings.PROXY_CONNECT_TIMEOUT = 1
    settings.PROXY_RETRIES = 2
    settings.PROXY_FAILURE_THRESHOLD = 3
    settings.PROXY_COOLDOWN = 30
    settings.PROXY_UPSTREAMS = {}
    monkeypatch.setattr(proxy, "sleep", lambda seconds: None)
    yield state
    server.shutdown()
    server.server_close()


def item(name: str, sensitivity: str, masking: str = "", type: str = FieldType.TEXT) -> catalog.ItemInput:
    return catalog.ItemInput(name=name, label=name, type=type, sensitivity=sensitivity, masking=masking)


ITEMS = (item("resident_id", Sensitivity.SENSITIVE_PERSONAL, "keep:6:4"), item("name", Sensitivity.PERSONAL, "name"),
         item("marital_status", Sensitivity.PERSONAL), item("registered_on", Sensitivity.INTERNAL, "",
                                                               FieldType.DATE),
         item("spouse_resident_id", Sensitivity.SENSITIVE_PERSONAL, "keep:6:4"))


@pytest.fixture
def make_service(city: dict[str, Any], upstream: DepartmentApi) -> Callable[..., Resource]:
    def make(*, method: str = "GET", url: str = "", provider: Department | None = None) -> Resource:
        resource = catalog.create_api_resource(None, provider=provider or city["bureau"], data=catalog.ResourceInput(
            name="婚姻登记信息核验", summary="按公民身份号码核验婚姻登记。", kind=ResourceKind.DEPARTMENTAL,
            item_code="07", category_code="001", update_cycle=UpdateCycle.REALTIME,
            sharing_type=SharingType.CONDITIONAL, sharing_condition="限于需要核验婚姻状况的事项。",
            legal_basis="《婚姻登记条例》", opening_type=OpeningType.CLOSED),
            service=catalog.ServiceInput(endpoint_url=url or upstream.url, http_method=method,
                                         service_description="核验婚姻登记。", items=list(ITEMS)))
        return catalog.publish_resource(None, resource)

    return make


@pytest.fixture
def service(make_service: Callable[..., Resource]) -> Resource:
    return make_service()


@pytest.fixture
def grant_for(city: dict[str, Any]) -> Callable[..., Grant]:
    def make(resource: Resource, *, fields: tuple[str, ...] = ("resident_id", "name", "marital_status",
                                                               "registered_on"), basis: str = "legal",
             **terms: Any) -> Grant:
        today = timezone.localdate()
        return actions.issue_grant(None, consumer=city["other"], resource=resource, terms=actions.Terms(
            fields=list(fields), valid_from=today - dt.timedelta(days=1), valid_until=today + dt.timedelta(days=30),
            **terms), purpose="核验婚姻状况", basis=basis, legal_basis="《不动产登记暂行条例》")

    return make


@pytest.fixture
def credential(consumer_client: tuple[ApiClient, str]) -> str:
    return consumer_client[1]


def call(client: Client, resource: Resource, credential: str, *, body: Any = None,
         headers: dict[str, str] | None = None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {credential}", **(headers or {})}
    if "X-Purpose" not in headers:
        params.setdefault("purpose", PURPOSE)
    path = GATEWAY + str(resource.code)
    if body is None:
        return client.get(path, params, headers=headers)
    return client.post(f"{path}?{urlencode(params)}", json.dumps(body), content_type="application/json",
                       headers=headers)


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def counters(resource: Resource) -> Upstream:
    return Upstream.objects.get(origin=proxy.target_of(resource.endpoint_url).origin)


# --- answers, masked ------------------------------------------------------------------------------------------


def test_the_answer_is_masked_by_the_grant_and_undeclared_keys_are_dropped(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi) -> None:
    grant_for(service)
    response = call(client, service, credential, resident_id=ASKED, case_reference="BDC-2026-001")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["resource"] == service.code and body["single"] is True
    # Personal items without a rule are withheld; the spouse's number is not granted; the note is not declared.
    assert body["items"] == [{"resident_id": ASKED[:6] + "********" + ASKED[-4:], "name": "王**",
                              "marital_status": None, "registered_on": "2015-05-20"}]
    assert body["masked"] == ["marital_status", "name", "resident_id"]
    assert "窗口备注" not in response.content.decode() and SPOUSE not in response.content.decode()
    # The API got the caller's parameters, not the gateway's own, and who is calling under which grant.
    (asked,) = upstream.requests
    assert asked["method"] == "GET" and asked["query"] == [("resident_id", ASKED)]
    assert asked["headers"]["X-Zhengtong-Consumer"] == "WEST-PSB"
    assert asked["headers"]["X-Zhengtong-Grant"] == Grant.objects.get().number


def test_the_read_is_audited_and_counted_like_a_registry_read(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str) -> None:
    grant = grant_for(service, daily_quota=10)
    call(client, service, credential, resident_id=ASKED, case_reference="BDC-2026-001")
    entry = AuditEntry.objects.get(action="exchange.read_service")
    assert (entry.object_type, entry.object_id, entry.purpose, entry.case_reference) == (
        "resource", service.code, PURPOSE, "BDC-2026-001")
    assert entry.result == Result.OK and entry.legal_basis == "《不动产登记暂行条例》"
    assert entry.fields == ["marital_status", "name", "registered_on", "resident_id"]
    # The person asked about and everyone named in what was returned (the spouse's number was not), as hashes.
    assert entry.subjects == [subject_hash(ASKED)]
    assert entry.detail["grant"] == grant.number and entry.detail["basis"] == "grant"
    assert entry.detail["undeclared_dropped"] == ["internal_note"]
    assert GrantUsage.objects.get(grant=grant, slot__startswith="d:").calls == 1
    assert counters(service).calls == 1


def test_a_list_under_an_envelope_is_masked_row_by_row(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi) -> None:
    grant_for(service, masking_level="pseudonymised")
    other = {**ANSWER, "resident_id": SPOUSE, "name": "李娜"}
    upstream.answers = [("json", 200, {"code": 0, "msg": "ok", "total": 2, "data": [ANSWER, other]})]
    # The purpose in the X-Purpose header (UTF-8), as systems may send it.
    body = call(client, service, credential, headers={"X-Purpose": PURPOSE.encode().decode("latin-1")}).json()
    assert body["single"] is False and len(body["items"]) == 2
    assert AuditEntry.objects.get(action="exchange.read_service").purpose == PURPOSE
    first, second = body["items"]
    # Pseudonymised: personal items become the consumer's pseudonyms, the same person always the same one.
    assert first["resident_id"].startswith(masking.PSEUDONYM_PREFIX) and first["resident_id"] != ASKED
    assert first["resident_id"] != second["resident_id"]
    assert call(client, service, credential).json()["items"][0]["resident_id"] == first["resident_id"]
    assert set(first) == {"resident_id", "name", "marital_status", "registered_on"}


def test_the_provider_s_own_system_sees_every_item_by_its_own_rules(
        client: Client, service: Resource, city: dict[str, Any]) -> None:
    own = identity.create_api_client(None, department=city["bureau"], name="民政业务系统").credential
    body = call(client, service, own, resident_id=ASKED).json()
    assert body["items"][0]["spouse_resident_id"] == SPOUSE[:6] + "********" + SPOUSE[-4:]
    entry = AuditEntry.objects.get(action="exchange.read_service")
    assert entry.detail["basis"] == "department"
    assert sorted(entry.subjects) == sorted([subject_hash(ASKED), subject_hash(SPOUSE)])


def test_a_post_service_gets_the_json_body_and_a_get_service_refuses_one(
        client: Client, make_service: Callable[..., Resource], grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi) -> None:
    post = make_service(method="POST")
    grant_for(post)
    response = call(client, post, credential, body={"resident_id": ASKED, "name": "王小明"})
    assert response.status_code == 200
    assert upstream.requests[-1]["method"] == "POST"
    assert upstream.requests[-1]["body"] == {"resident_id": ASKED, "name": "王小明"}
    get = make_service()
    grant_for(get)
    response = call(client, get, credential, body={"resident_id": ASKED})
    assert error_of(response) == (422, "validation_error")
    assert response.json()["details"][0]["field"] == "body"
    assert len(upstream.requests) == 1


# --- refusals, before the API is called -------------------------------------------------------------------------


def test_without_a_grant_the_api_is_never_called(
        client: Client, service: Resource, credential: str, upstream: DepartmentApi) -> None:
    assert error_of(call(client, service, credential, resident_id=ASKED)) == (403, "no_grant")
    assert error_of(call(client, service, credential, purpose="")) == (403, "no_purpose")
    assert upstream.requests == []
    refused = AuditEntry.objects.filter(action="exchange.read_service_refused").order_by("pk")
    assert [(e.result, e.detail["reason"]) for e in refused] == [(Result.DENIED, "no_grant"),
                                                                 (Result.DENIED, "no_purpose")]


def test_an_unknown_code_is_refused_like_a_resource_without_a_grant(
        client: Client, service: Resource, credential: str, persons_resource: Resource) -> None:
    unknown = client.get(GATEWAY + "307001/999999", {"purpose": PURPOSE}, HTTP_AUTHORIZATION=f"Bearer {credential}")
    assert error_of(unknown) == error_of(call(client, service, credential)) == (403, "no_grant")
    # A registry's resource is read through the registry endpoints, not called as a service.
    assert error_of(call(client, persons_resource, credential)) == (403, "no_grant")


def test_a_suspended_grant_is_refused(client: Client, service: Resource, grant_for: Callable[..., Grant],
                                      credential: str, upstream: DepartmentApi) -> None:
    grant = grant_for(service)
    Grant.objects.filter(pk=grant.pk).update(status="suspended")
    assert error_of(call(client, service, credential)) == (403, "grant_suspended")
    assert upstream.requests == []


def test_an_api_that_changes_data_needs_a_grant_that_may_write(
        client: Client, make_service: Callable[..., Resource], grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi) -> None:
    service = make_service(method="PUT")
    grant = grant_for(service)
    assert error_of(call(client, service, credential)) == (403, "no_grant")
    assert upstream.requests == []
    Grant.objects.filter(pk=grant.pk).update(may_write=True)
    upstream.answers = [("json", 200, ANSWER)]
    assert call(client, service, credential).status_code == 200
    assert len(upstream.requests) == 1


def test_the_quota_is_checked_before_the_call_and_only_answered_calls_count(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi) -> None:
    grant = grant_for(service, daily_quota=1)
    upstream.answers = [("json", 500, {"error": "boom"}), ("json", 200, ANSWER)]
    assert error_of(call(client, service, credential)) == (502, "upstream_error")
    assert not GrantUsage.objects.filter(grant=grant).exists()  # a failed call uses no quota
    assert call(client, service, credential).status_code == 200
    assert error_of(call(client, service, credential)) == (429, "quota_exceeded")
    assert len(upstream.requests) == 2


def test_under_a_consent_grant_the_person_asked_about_must_have_consented(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str, city: dict[str, Any],
        upstream: DepartmentApi) -> None:
    grant_for(service, basis="consent")
    assert error_of(call(client, service, credential, resident_id=ASKED)) == (403, "consent_missing")
    assert upstream.requests == []
    actions.give_consent(None, subject=ASKED, resource=service, consumer=city["other"], purpose="核验婚姻状况")
    assert call(client, service, credential, resident_id=ASKED).status_code == 200


def test_under_a_consent_grant_rows_of_people_who_did_not_consent_are_left_out(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str, city: dict[str, Any],
        upstream: DepartmentApi) -> None:
    grant_for(service, basis="consent", fields=("resident_id", "name"), masking_level="clear")
    actions.give_consent(None, subject=ASKED, resource=service, consumer=city["other"], purpose="核验婚姻状况")
    stranger = {"resident_id": resident_id(9), "name": "赵六"}
    upstream.answers = [("json", 200, [{"resident_id": ASKED, "name": "王小明"}, stranger, {"name": "无号码"}])]
    body = call(client, service, credential, district="330106").json()
    assert body["items"] == [{"resident_id": ASKED, "name": "王小明"}]

    # Naming the consenting person in a parameter the API ignores opens nobody else's rows.
    upstream.answers = [("json", 200, [{"resident_id": ASKED, "name": "王小明"}, stranger, {"name": "无号码"}])]
    body = call(client, service, credential, district="330106", junk=ASKED).json()
    assert body["items"] == [{"resident_id": ASKED, "name": "王小明"}, {"resident_id": None, "name": "无号码"}]


# --- failures of the API ----------------------------------------------------------------------------------------


def test_an_api_error_answers_502_and_is_not_retried(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi) -> None:
    grant_for(service)
    upstream.answers = [("json", 500, {"error": "数据库连接失败", "resident_id": ASKED})]
    response = call(client, service, credential)
    assert error_of(response) == (502, "upstream_error")
    assert "HTTP 500" in response.json()["message"] and ASKED not in response.content.decode()
    assert len(upstream.requests) == 1  # the API answered: never retried
    row = counters(service)
    assert (row.failures, row.timeouts, row.consecutive_failures, row.last_error_code) == (1, 0, 1, "upstream_error")
    failed = AuditEntry.objects.get(action="exchange.read_service_failed")
    assert failed.result == Result.FAILED and failed.detail["reason"] == "upstream_error"


def test_a_slow_api_answers_504_and_is_not_retried(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str, upstream: DepartmentApi,
        settings: Any) -> None:
    grant_for(service)
    settings.PROXY_TIMEOUT = 0.3
    upstream.answers = [("slow", 3.0)]
    started = time.monotonic()
    response = call(client, service, credential)
    assert error_of(response) == (504, "upstream_timeout")
    assert time.monotonic() - started < 2.5  # the gateway stopped waiting long before the answer
    assert len(upstream.requests) == 1
    assert (counters(service).timeouts, counters(service).failures) == (1, 1)


def test_a_per_host_timeout_overrides_the_default(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str, upstream: DepartmentApi,
        settings: Any) -> None:
    grant_for(service)
    settings.PROXY_UPSTREAMS = {"127.0.0.1": (0.3, 0)}
    upstream.answers = [("slow", 1.0), ("json", 200, ANSWER)]
    assert error_of(call(client, service, credential)) == (504, "upstream_timeout")
    settings.PROXY_UPSTREAMS = {}
    assert call(client, service, credential).status_code == 200


def test_an_idempotent_call_dropped_before_any_answer_is_retried_with_backoff(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str, upstream: DepartmentApi,
        monkeypatch: pytest.MonkeyPatch) -> None:
    grant_for(service)
    waits: list[float] = []
    monkeypatch.setattr(proxy, "sleep", waits.append)
    upstream.answers = [("drop",), ("drop",), ("json", 200, ANSWER)]
    assert call(client, service, credential).status_code == 200
    assert len(upstream.requests) == 3 and len(waits) == 2 and waits[0] < waits[1]
    row = counters(service)
    assert (row.retries, row.failures, row.calls) == (2, 0, 1)


def test_retries_stop_at_the_limit(client: Client, service: Resource, grant_for: Callable[..., Grant],
                                   credential: str, upstream: DepartmentApi) -> None:
    grant_for(service)
    upstream.answers = [("drop",)]
    response = call(client, service, credential)
    assert error_of(response) == (502, "upstream_error")
    assert len(upstream.requests) == 3  # one call and PROXY_RETRIES (2) retries
    assert counters(service).failures == 1  # one failed call, however many attempts


def test_a_post_is_never_retried(client: Client, make_service: Callable[..., Resource],
                                 grant_for: Callable[..., Grant], credential: str, upstream: DepartmentApi) -> None:
    post = make_service(method="POST")
    grant_for(post)
    upstream.answers = [("drop",), ("json", 200, ANSWER)]
    assert error_of(call(client, post, credential, body={"resident_id": ASKED})) == (502, "upstream_error")
    assert len(upstream.requests) == 1


def test_an_answer_that_is_not_json_objects_is_not_passed_on(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi) -> None:
    grant_for(service)
    upstream.answers = [("text", 200, f"姓名：王小明 身份证：{ASKED}"), ("json", 200, [ASKED, "王小明"])]
    for _attempt in range(2):
        response = call(client, service, credential)
        assert error_of(response) == (502, "upstream_error")
        assert ASKED not in response.content.decode()


def test_a_refusal_by_the_api_is_the_caller_s_problem_not_the_api_s(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi) -> None:
    grant_for(service)
    upstream.answers = [("json", 404, {"message": "无登记记录"}), ("json", 400, {"message": "参数错误"})]
    assert error_of(call(client, service, credential)) == (404, "upstream_rejected")
    assert error_of(call(client, service, credential)) == (422, "upstream_rejected")
    row = counters(service)
    assert (row.failures, row.calls, row.state) == (0, 2, CircuitState.CLOSED)


# --- the circuit breaker ----------------------------------------------------------------------------------------


def test_the_circuit_opens_lets_one_trial_through_and_closes(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi) -> None:
    grant_for(service)
    upstream.answers = [("json", 503, {}), ("json", 503, {}), ("json", 503, {}), ("json", 503, {}),
                        ("json", 200, ANSWER)]
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for _failure in range(3):  # PROXY_FAILURE_THRESHOLD
            assert error_of(call(client, service, credential)) == (502, "upstream_error")
        assert counters(service).state == CircuitState.OPEN
        response = call(client, service, credential)
        assert error_of(response) == (503, "circuit_open") and "30" in response.json()["message"]
        assert len(upstream.requests) == 3 and counters(service).rejected == 1

        traveller.shift(dt.timedelta(seconds=31))  # the cool-down is over: one trial, which fails
        assert error_of(call(client, service, credential)) == (502, "upstream_error")
        assert counters(service).state == CircuitState.OPEN
        assert error_of(call(client, service, credential)) == (503, "circuit_open")

        traveller.shift(dt.timedelta(seconds=31))  # the next trial succeeds and closes the circuit
        assert call(client, service, credential).status_code == 200
        row = counters(service)
        assert (row.state, row.consecutive_failures, row.failures) == (CircuitState.CLOSED, 0, 4)
        assert len(upstream.requests) == 5


def test_only_one_caller_gets_the_trial_of_a_half_open_circuit(service: Resource, upstream: DepartmentApi) -> None:
    origin = proxy.target_of(service.endpoint_url).origin
    Upstream.objects.create(origin=origin, state=CircuitState.OPEN,
                            opened_at=timezone.now() - dt.timedelta(seconds=31))
    proxy.admit(origin)  # the trial
    assert Upstream.objects.get(origin=origin).state == CircuitState.HALF_OPEN
    with pytest.raises(proxy.CircuitOpen):
        proxy.admit(origin)  # while the trial is under way, everyone else waits
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=45)):
        proxy.admit(origin)  # the trial's caller never reported back: another trial may go


# --- addresses --------------------------------------------------------------------------------------------------


def test_link_local_addresses_are_never_called(
        client: Client, make_service: Callable[..., Resource], grant_for: Callable[..., Grant], credential: str,
        settings: Any) -> None:
    metadata = make_service(url="http://169.254.169.254/latest/meta-data/")
    grant_for(metadata)
    settings.PROXY_ALLOWED_NETWORKS = ["127.0.0.0/8", "169.254.0.0/16"]  # even when listed
    response = call(client, metadata, credential)
    assert error_of(response) == (502, "upstream_error")
    assert "169.254.169.254" in response.json()["message"]


def test_loopback_is_called_only_when_listed(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str, settings: Any,
        upstream: DepartmentApi) -> None:
    grant_for(service)
    settings.PROXY_ALLOWED_NETWORKS = []
    assert error_of(call(client, service, credential)) == (502, "upstream_error")
    assert upstream.requests == []


@pytest.mark.parametrize(("address", "permitted"), [
    ("8.8.8.8", True), ("10.12.0.5", False), ("172.20.1.1", False), ("192.168.3.4", False), ("fd00::1", False),
    ("127.0.0.1", False), ("169.254.169.254", False), ("::ffff:169.254.169.254", False), ("fe80::1", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("100.64.0.1", False),
])
def test_which_addresses_the_gateway_calls(settings: Any, address: str, permitted: bool) -> None:
    settings.PROXY_ALLOWED_NETWORKS = []
    assert proxy.address_permitted(ipaddress.ip_address(address)) is permitted


def test_the_operator_opens_the_extranet_but_never_link_local(settings: Any) -> None:
    settings.PROXY_ALLOWED_NETWORKS = ["10.0.0.0/8", "169.254.0.0/16"]
    assert proxy.address_permitted(ipaddress.ip_address("10.12.0.5"))
    assert not proxy.address_permitted(ipaddress.ip_address("169.254.169.254"))


# --- settings ---------------------------------------------------------------------------------------------------


def test_per_upstream_settings_are_read_and_checked(tmp_path: Any) -> None:
    config = load_config({"ZHENGTONG_PROXY_UPSTREAMS": "mca.yunxi.example.gov.cn=5/1, hrss.example.cn:8443=20"},
                         default_var_dir=tmp_path)
    assert config["ZHENGTONG_PROXY_UPSTREAMS"] == {"mca.yunxi.example.gov.cn": (5, 1),
                                                   "hrss.example.cn:8443": (20, None)}
    with pytest.raises(ConfigError) as error:
        load_config({"ZHENGTONG_PROXY_UPSTREAMS": "mca.example=fast"}, default_var_dir=tmp_path)
    assert "ZHENGTONG_PROXY_UPSTREAMS" in error.value.problems


def test_the_door_refuses_a_reader_that_is_not_a_system_or_staff(service: Resource) -> None:
    with pytest.raises(door.Refused) as refused:
        door.call_service(door.Reader.public(), service, purpose=PURPOSE)
    assert refused.value.code == "no_grant"


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_the_api_is_called(
        service: Resource, grant_for: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    grant_for(service, daily_quota=5)
    in_transaction: list[bool] = []
    real_call = proxy.call

    def spying(*args: Any, **kwargs: Any) -> proxy.Answer:
        in_transaction.append(connection.in_atomic_block)
        return real_call(*args, **kwargs)

    monkeypatch.setattr(proxy, "call", spying)
    reading = door.call_service(door.Reader.system(consumer_client[0]), service, purpose=PURPOSE,
                                params=[("resident_id", ASKED)])
    assert in_transaction == [False] and reading.items[0]["registered_on"] == "2015-05-20"


# --- the demo's department API ----------------------------------------------------------------------------------

# The demo API's route, which `zhengtong demo` serves, beside the platform's own.
urlpatterns = [path(demo_proxy.PATH.lstrip("/"), demo_proxy.marriage_verify), path("", include("zhengtong.urls"))]


@pytest.fixture
def demo_departments(city: dict[str, Any]) -> tuple[Department, Department]:
    civil_affairs = identity.create_department(None, code=demo_proxy.PROVIDER, name="云溪市民政局",
                                               division=city["city"], credit_code=credit_code(21))
    housing = identity.create_department(None, code=demo_proxy.CONSUMER, name="云溪市住房和城乡建设局",
                                         division=city["city"], credit_code=credit_code(22))
    return civil_affairs, housing


def test_seeding_the_demo_api_twice_adds_it_once(demo_departments: tuple[Department, Department]) -> None:
    first = demo_proxy.seed_proxy(seed=7, base_url="http://127.0.0.1:8000/")
    assert (first.resources, first.grants) == (1, 1)
    assert first.endpoint == "http://127.0.0.1:8000/demo-upstream/marriage/v1/verify"
    assert "1 demo department API" in first.describe()
    again = demo_proxy.seed_proxy(seed=7)
    assert (again.resources, again.grants) == (0, 0)
    resource = demo_proxy.demo_resource()
    assert resource is not None and resource.is_api and resource.status == "published"
    grant = Grant.objects.get(resource=resource)
    assert grant.consumer.code == demo_proxy.CONSUMER and grant.daily_quota == 500


def test_the_demo_api_is_not_served_before_the_demo_is_seeded(client: Client,
                                                               demo_departments: tuple[Department, Department]) -> None:
    view = demo_proxy.marriage_verify
    request = RequestFactory().post(demo_proxy.PATH, {"resident_id": ASKED}, content_type="application/json")
    assert view(request).status_code == 404
    demo_proxy.seed_proxy(seed=7)
    answer = json.loads(view(request).content)
    assert answer["code"] == 0 and answer == json.loads(view(request).content)  # the same answer every time
    bad = RequestFactory().post(demo_proxy.PATH, {"resident_id": "123"}, content_type="application/json")
    assert view(bad).status_code == 400


@pytest.mark.urls(__name__)
def test_the_demo_api_answers_through_the_gateway_masked(
        live_server: Any, settings: Any, demo_departments: tuple[Department, Department]) -> None:
    settings.PROXY_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    seeded = demo_proxy.seed_proxy(seed=7, base_url=live_server.url)
    resource = demo_proxy.demo_resource()
    assert resource is not None and seeded.endpoint.startswith(live_server.url)
    credential = identity.create_api_client(None, department=demo_departments[1], name="住房保障信息系统").credential
    married = next(resident_id(n) for n in range(1, 50)
                   if demo_proxy.marriage_answer(resident_id(n))["marital_status"] == "已婚")
    response = httpx.post(f"{live_server.url}{GATEWAY}{resource.code}", params={"purpose": "核验婚姻状况"},
                          json={"resident_id": married, "name": "王小明"},
                          headers={"Authorization": f"Bearer {credential}"}, timeout=30)
    assert response.status_code == 200, response.text
    (row,) = response.json()["items"]
    plain = demo_proxy.marriage_answer(married)
    spouse_id, spouse_name = str(plain["spouse_resident_id"]), str(plain["spouse_name"])
    assert row["spouse_resident_id"] == spouse_id[:6] + "********" + spouse_id[-4:]
    assert row["registration_authority"] == plain["registration_authority"]
    assert row["marital_status"] == "已婚"  # the grant's own rule shows it in clear
    assert row["spouse_name"] == spouse_name[0] + "*" * (len(spouse_name) - 1)
    assert "operator_note" not in row
