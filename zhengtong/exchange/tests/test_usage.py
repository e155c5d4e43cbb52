"""Usage statistics: calls made through the real gateway and the GovStack DR API are counted by outcome and reason,
per day on the local calendar; percentiles fall in the bucket of the true value; each viewer sees only the calls
their department took part in (the governance office all of them); the page, the API and the demo seed show it."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from zhengtong.catalog.models import Resource
from zhengtong.conftest import credit_code, resident_id
from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.exchange import door, middleware
from zhengtong.exchange.middleware import Call, bucket_of, outcome_of, record_call
from zhengtong.exchange.models import Grant, Outcome, UsageDay
from zhengtong.exchange.queries import usage as queries
from zhengtong.exchange.tests import test_proxy
from zhengtong.exchange.tests.conftest import person
from zhengtong.exchange.tests.test_proxy import ASKED, DepartmentApi
from zhengtong.exchange.tests.test_proxy import call as call_service
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import ApiClient, Department, User
from zhengtong.registries.models import Registry

pytestmark = pytest.mark.django_db

PURPOSE = "治安管理核验身份"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
PASSWORD = "Test#pass2026"


def read(client: Client, credential: str | None, key: str = person(1), *, registry: str = "persons",
         **params: Any) -> Any:
    params.setdefault("purpose", PURPOSE)
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {credential}"} if credential else {}
    return client.get(f"/api/v1/gateway/registries/{registry}/records/{key}", params, **headers)


def stats_for(viewer: Any, **narrowing: Any) -> queries.Statistics:
    return queries.usage_statistics(viewer, queries.UsageFilters.last(7, **narrowing))


def counts(rows: Any) -> dict[tuple[str, str], int]:
    return {(row.outcome, row.reason): row.calls for row in rows}


# The proxy tests' local department API, its catalog resource and grants, for calls through the proxy.
upstream, make_service, service, grant_for = (test_proxy.upstream, test_proxy.make_service, test_proxy.service,
                                              test_proxy.grant_for)


@pytest.fixture
def client(client: Client) -> Client:
    """Pages in English, whatever the platform's default language: the assertions read English words."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def credential(consumer_client: tuple[ApiClient, str]) -> str:
    return consumer_client[1]


@pytest.fixture
def outsider(city: dict[str, Any]) -> Department:
    return identity.create_department(None, code="EAST-EDU", name="东湖区教育局", division=city["east"],
                                      credit_code=credit_code(20, division="330106"))


# --- counting real calls ---------------------------------------------------------------------------------------


def test_answered_refused_and_failed_calls_are_counted_by_reason(
        client: Client, persons: Registry, persons_resource: Resource, make_grant: Callable[..., Grant],
        credential: str, city: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    make_grant(daily_quota=4)
    for n in (1, 2, 3):
        assert read(client, credential, person(n)).status_code == 200
    assert read(client, credential, purpose="").json()["code"] == "no_purpose"
    assert read(client, credential, fields="nope").status_code == 422
    assert read(client, credential, person(4)).status_code == 200  # the fourth call of the quota
    assert read(client, credential, person(5)).json()["code"] == "quota_exceeded"
    assert read(client, credential, person(5)).json()["code"] == "quota_exceeded"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(door, "read_record", broken)
    assert read(client, credential).status_code == 500

    rows = UsageDay.objects.filter(day=timezone.localdate())
    assert counts(rows) == {("ok", ""): 4, ("refused", "no_purpose"): 1, ("refused", "validation_error"): 1,
                            ("refused", "quota_exceeded"): 2, ("error", "server_error"): 1}
    assert {(r.resource_id, r.consumer_id, r.provider_id) for r in rows} == {
        (persons_resource.pk, city["other"].pk, city["bureau"].pk)}
    assert all(r.latency_us > 0 and sum(getattr(r, c) for c in middleware.LATENCY_COLUMNS) == r.calls for r in rows)

    stats = stats_for(None)
    assert (stats.totals.calls, stats.totals.ok, stats.totals.refused, stats.totals.error) == (9, 4, 4, 1)
    today = stats.days[-1]
    assert (today.day, today.ok, today.refused, today.error) == (timezone.localdate(), 4, 4, 1)
    assert counts(stats.reasons) == {("refused", "no_purpose"): 1, ("refused", "validation_error"): 1,
                                     ("refused", "quota_exceeded"): 2, ("error", "server_error"): 1}
    assert stats.reasons[0].reason == "quota_exceeded"  # refusals first, most frequent first
    assert [(g.id, g.calls) for g in stats.by_resource] == [(persons_resource.pk, 9)]


def test_unknown_records_and_registries_and_strangers(client: Client, persons: Registry,
                                                      make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    assert read(client, credential, resident_id(44)).json()["code"] == "not_found"
    # No resource to count it against, and no consumer to count it for:
    assert read(client, credential, registry="no-such-registry").json()["code"] == "no_grant"
    assert read(client, None).status_code == 401
    assert read(client, "bad.credential").status_code == 401
    assert counts(UsageDay.objects.all()) == {("refused", "not_found"): 1}


def test_the_govstack_dr_api_and_exports_are_counted(client: Client, persons: Registry,
                                                     make_grant: Callable[..., Grant], credential: str,
                                                     consumer_client: tuple[ApiClient, str]) -> None:
    make_grant()
    api_client = consumer_client[0]
    header = f"eGovStack/GOV/{api_client.department.credit_code}/{api_client.key_id}"
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {credential}", "HTTP_INFORMATION_MEDIATOR_CLIENT": header}
    listed = client.get("/govstack/dr/data/persons/1", {"purpose": PURPOSE}, **headers)
    assert listed.status_code == 200
    wrong_version = client.get("/govstack/dr/data/persons/7", {"purpose": PURPOSE}, **headers)
    assert wrong_version.json()["code"] == "schema_version_mismatch"
    exported = client.get("/api/v1/gateway/registries/persons/export", {"purpose": PURPOSE, "format": "csv"},
                          HTTP_AUTHORIZATION=f"Bearer {credential}")
    assert exported.status_code == 200 and exported.streaming
    exported.getvalue()  # read to the end
    assert counts(UsageDay.objects.all()) == {("ok", ""): 2, ("refused", "schema_version_mismatch"): 1}


def test_calls_of_a_proxied_department_api_are_counted_with_upstream_errors(
        client: Client, service: Resource, grant_for: Callable[..., Grant], credential: str,
        upstream: DepartmentApi, city: dict[str, Any]) -> None:
    grant_for(service)
    assert call_service(client, service, credential, resident_id=ASKED).status_code == 200
    upstream.answers = [("json", 500, {"error": "数据库连接失败"})]
    assert call_service(client, service, credential, resident_id=ASKED).json()["code"] == "upstream_error"
    rows = UsageDay.objects.all()
    assert counts(rows) == {("ok", ""): 1, ("error", "upstream_error"): 1}
    assert {(r.resource_id, r.consumer_id, r.provider_id) for r in rows} == {
        (service.pk, city["other"].pk, city["bureau"].pk)}


def test_the_benchmarks_baseline_is_not_counted(client: Client, persons: Registry, credential: str,
                                                settings: Any) -> None:
    settings.BENCH_BASELINE = True
    response = client.get(f"/api/v1/gateway/baseline/registries/persons/records/{person(1)}",
                          HTTP_AUTHORIZATION=f"Bearer {credential}")
    assert response.status_code == 200
    assert not UsageDay.objects.exists()


def test_calls_either_side_of_midnight_count_on_their_local_day(client: Client, persons: Registry,
                                                                 make_grant: Callable[..., Grant],
                                                                 credential: str) -> None:
    before = dt.datetime(2026, 11, 27, 23, 59, 30, tzinfo=SHANGHAI)  # 15:59:30 UTC
    after = dt.datetime(2026, 11, 28, 0, 0, 30, tzinfo=SHANGHAI)
    with time_machine.travel(before, tick=False):
        make_grant()
        for _ in range(3):
            assert read(client, credential).status_code == 200
        assert read(client, credential, purpose="").status_code == 403
    with time_machine.travel(after, tick=False):
        for _ in range(2):
            assert read(client, credential).status_code == 200
        stats = stats_for(None)
    assert [(d.day, d.ok, d.refused) for d in stats.days[-2:]] == [
        (dt.date(2026, 11, 27), 3, 1), (dt.date(2026, 11, 28), 2, 0)]
    assert stats.days[0].day == dt.date(2026, 11, 22) and stats.days[0].calls == 0  # every day listed, even idle


def test_recording_never_breaks_the_call(client: Client, persons: Registry, make_grant: Callable[..., Grant],
                                         credential: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_grant()

    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(middleware, "record_call", failing)
    response = read(client, credential)
    assert response.status_code == 200 and response.json()["registry"] == "persons"
    assert not UsageDay.objects.exists()


# --- the recorder and the percentiles --------------------------------------------------------------------------


@pytest.fixture
def call(persons_resource: Resource, city: dict[str, Any]) -> Call:
    return Call(city["other"].pk, Outcome.OK, resource_id=persons_resource.pk)


@pytest.mark.parametrize(("latency", "column"), [(0.2, "le_1ms"), (1.0, "le_1ms"), (1.01, "le_2ms"),
                                                 (49.9, "le_50ms"), (10000, "le_10000ms"), (10000.5, "le_inf")])
def test_a_latency_falls_in_the_bucket_of_its_inclusive_upper_bound(latency: float, column: str) -> None:
    assert bucket_of(latency) == column


def test_percentiles_fall_in_the_buckets_of_the_true_values(call: Call) -> None:
    today = timezone.localdate()
    for latency, times in ((3.0, 90), (150.0, 8), (20000.0, 2)):
        for _ in range(times):
            record_call(call, day=today, latency_ms=latency)
    row = UsageDay.objects.get()
    assert (row.calls, row.le_5ms, row.le_200ms, row.le_inf) == (100, 90, 8, 2)
    assert row.latency_us == 90 * 3000 + 8 * 150000 + 2 * 20000000
    estimated = stats_for(None).totals.latency
    assert estimated.p50 is not None and 2 < estimated.p50 <= 5
    assert estimated.p50 == pytest.approx(2 + 3 * 50 / 90)  # linear inside the bucket
    assert estimated.p95 is not None and 100 < estimated.p95 <= 200
    assert estimated.p99 == 10000  # in the open bucket: its lower bound, "at least 10 s"
    assert estimated.mean == pytest.approx((90 * 3 + 8 * 150 + 2 * 20000) / 100)


def test_percentiles_of_no_calls_are_none() -> None:
    assert queries.estimate_percentile([0] * len(middleware.LATENCY_COLUMNS), 0.5) is None


def test_rows_are_kept_apart_by_day_outcome_and_reason(call: Call) -> None:
    today = timezone.localdate()
    record_call(call, day=today, latency_ms=5)
    record_call(call, day=today - dt.timedelta(days=1), latency_ms=5)
    refused = Call(call.consumer_id, Outcome.REFUSED, "no_grant", resource_id=call.resource_id)
    record_call(refused, day=today, latency_ms=5)
    record_call(refused, day=today, latency_ms=7)
    assert sorted((r.day, r.outcome, r.reason, r.calls) for r in UsageDay.objects.all()) == [
        (today - dt.timedelta(days=1), "ok", "", 1), (today, "ok", "", 1), (today, "refused", "no_grant", 2)]


def test_a_call_names_its_resource_by_id_catalog_code_or_registry_code(call: Call, persons: Registry,
                                                                      persons_resource: Resource,
                                                                      city: dict[str, Any]) -> None:
    today = timezone.localdate()
    assert persons_resource.code
    for named in (Call(call.consumer_id, Outcome.OK, resource_code=persons_resource.code),  # a proxied service
                  Call(call.consumer_id, Outcome.OK, registry_code="persons"),
                  Call(call.consumer_id, Outcome.OK, registry_code="no-such-registry"),
                  Call(call.consumer_id, Outcome.OK, resource_code="999999/999999")):
        record_call(named, day=today, latency_ms=3)
    row = UsageDay.objects.get()
    assert (row.resource_id, row.provider_id, row.calls) == (persons_resource.pk, city["bureau"].pk, 2)


class _Response:
    def __init__(self, status: int, body: bytes = b"", content_type: str = "application/json"):
        self.status_code, self.content, self.streaming = status, body, False
        self.headers = {"Content-Type": content_type}

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


@pytest.mark.parametrize(("status", "body", "expected"), [
    (200, b"{}", ("ok", "")),
    (403, b'{"code": "no_grant"}', ("refused", "no_grant")),
    (404, b'{"detail": "no record found"}', ("refused", "not_found")),
    (409, b"not json", ("refused", "http_409")),
    (400, b'{"code": "DROP TABLE usage; --"}', ("refused", "http_400")),
    (502, b'{"code": "upstream_error"}', ("error", "upstream_error")),
    (504, b'{"code": "upstream_timeout"}', ("error", "upstream_timeout")),
    (500, b"", ("error", "server_error")),
])
def test_the_outcome_and_reason_come_from_the_status_and_the_error_code(status: int, body: bytes,
                                                                        expected: tuple[str, str]) -> None:
    assert outcome_of(_Response(status, body)) == expected  # type: ignore[arg-type]


# --- who sees what ---------------------------------------------------------------------------------------------


@pytest.fixture
def two_consumers(call: Call, city: dict[str, Any], outsider: Department) -> None:
    """Calls of WEST-PSB (the consumer fixture) and of EAST-EDU to CITY-CA's persons resource, and calls of
    WEST-PSB to a resource EAST-EDU provides."""
    today = timezone.localdate()
    for _ in range(3):
        record_call(call, day=today, latency_ms=10)
    record_call(Call(outsider.pk, Outcome.REFUSED, "no_grant", resource_id=call.resource_id), day=today,
                latency_ms=2)


def test_the_governance_office_sees_every_call(two_consumers: None, governance: User) -> None:
    assert stats_for(governance).totals.calls == 4


def test_a_data_officer_sees_calls_of_and_to_their_department(
        two_consumers: None, provider_officer: User, consumer_officer: User, make_staff: Callable[..., User],
        outsider: Department, city: dict[str, Any]) -> None:
    assert stats_for(provider_officer).totals.calls == 4  # both consumers called CITY-CA's resource
    assert stats_for(consumer_officer).totals.calls == 3  # only WEST-PSB's own calls
    assert counts(stats_for(consumer_officer).reasons) == {}
    stranger = make_staff(role_names=(roles.DATA_OFFICER,), department=city["branch"])
    assert stats_for(stranger).totals.calls == 0  # EAST-CA's data scope is its own department


def test_staff_without_the_permission_are_refused(two_consumers: None, make_staff: Callable[..., User]) -> None:
    clerk = make_staff(role_names=(roles.WINDOW_STAFF,))
    with pytest.raises(NotPermitted):
        stats_for(clerk)


def test_narrowing_by_consumer_resource_and_provider(two_consumers: None, governance: User, outsider: Department,
                                                     city: dict[str, Any], persons_resource: Resource) -> None:
    assert stats_for(governance, consumer=outsider.pk).totals.calls == 1
    assert stats_for(governance, consumer=city["other"].pk).totals.calls == 3
    assert stats_for(governance, resource=persons_resource.pk).totals.calls == 4
    assert stats_for(governance, provider=outsider.pk).totals.calls == 0


def test_a_period_runs_forwards_and_at_most_a_year(governance: User) -> None:
    today = timezone.localdate()
    with pytest.raises(InvalidInput) as backwards:
        queries.usage_statistics(governance, queries.UsageFilters(today, today - dt.timedelta(days=1)))
    assert backwards.value.details[0].field == "end"
    with pytest.raises(InvalidInput):
        queries.usage_statistics(governance, queries.UsageFilters(today - dt.timedelta(days=400), today))


# --- the API ---------------------------------------------------------------------------------------------------


def test_the_api_gives_the_statistics_of_the_callers_department(
        two_consumers: None, client: Client, credential: str, outsider: Department) -> None:
    response = client.get("/api/v1/usage/statistics", {"days": 7}, HTTP_AUTHORIZATION=f"Bearer {credential}")
    assert response.status_code == 200
    body = response.json()
    assert (body["totals"]["calls"], body["totals"]["ok"]) == (3, 3)
    assert len(body["days"]) == 7 and body["days"][-1]["ok"] == 3
    assert 5 < body["totals"]["latency_ms"]["p50"] <= 10
    assert [c["calls"] for c in body["consumers"]] == [3]
    assert body["latency_buckets_ms"][-1] == 10000

    issued = identity.create_api_client(None, department=outsider, name="东湖区教育局系统")
    other = client.get("/api/v1/usage/statistics", HTTP_AUTHORIZATION=f"Bearer {issued.credential}").json()
    assert (other["totals"]["calls"], other["reasons"][0]["reason"]) == (1, "no_grant")


def test_the_api_names_a_bad_period_field(client: Client, governance: User) -> None:
    client.force_login(governance)
    today = timezone.localdate()
    response = client.get("/api/v1/usage/statistics", {"start": today.isoformat()})
    assert (response.status_code, response.json()["details"][0]["field"]) == (422, "end")
    response = client.get("/api/v1/usage/statistics", {"start": today.isoformat(),
                                                        "end": (today - dt.timedelta(days=2)).isoformat()})
    assert (response.status_code, response.json()["details"][0]["field"]) == (422, "end")
    assert client.get("/api/v1/usage/statistics", {"days": 0}).json()["details"][0]["field"] == "days"


def test_the_api_refuses_staff_without_the_permission(client: Client, make_staff: Callable[..., User]) -> None:
    client.force_login(make_staff(role_names=(roles.WINDOW_STAFF,)))
    assert client.get("/api/v1/usage/statistics").status_code == 403


# --- the page --------------------------------------------------------------------------------------------------


def test_the_page_shows_the_figures_with_tables_and_summaries(two_consumers: None, client: Client,
                                                               governance: User, outsider: Department) -> None:
    client.force_login(governance)
    response = client.get("/sharing/usage/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Usage statistics</h1>" in html
    assert 'data-figure="calls"><span class="stat__value">4<' in html
    assert f'data-day="{timezone.localdate():%Y-%m-%d}"' in html
    assert 'data-reason="no_grant"><th scope="row">no grant</th>' in html
    assert "The most common reason for refusing was “no grant” (1 of 1 refusals)." in html
    assert 'data-usage-chart="calls-data"' in html and 'id="calls-data"' in html
    assert "vendor/echarts.min.js" in html

    narrowed = client.get("/sharing/usage/", {"period": "7", "consumer": str(outsider.pk)}).content.decode()
    assert 'data-figure="calls"><span class="stat__value">1<' in narrowed


def test_the_page_names_the_field_of_a_bad_period(client: Client, governance: User) -> None:
    client.force_login(governance)
    html = client.get("/sharing/usage/", {"period": "custom", "start": "2026-11-20"}).content.decode()
    assert 'href="#id_end"' in html and "Give both days of the period." in html
    html = client.get("/sharing/usage/", {"period": "custom", "start": "2026-11-20",
                                          "end": "2026-11-01"}).content.decode()
    assert "The end of the period comes before its start." in html


def test_the_page_is_for_those_with_the_permission(client: Client, make_staff: Callable[..., User],
                                                   consumer_officer: User) -> None:
    client.force_login(make_staff(role_names=(roles.WINDOW_STAFF,)))
    assert client.get("/sharing/usage/").status_code == 403
    client.force_login(consumer_officer)
    response = client.get("/sharing/usage/")
    assert response.status_code == 200
    assert b"No calls in this period." in response.content
    assert b'href="/sharing/usage/"' in response.content  # in the navigation


# --- the demo --------------------------------------------------------------------------------------------------


def test_the_demo_seed_fills_30_days_for_the_demo_grants_once(db: Any) -> None:
    from zhengtong.catalog import demo as catalog_demo
    from zhengtong.exchange import demo, demo_usage
    from zhengtong.identity import demo as identity_demo
    from zhengtong.registries import demo as registries_demo

    identity_demo.seed_demo_city(citizens=60, businesses=0, progress=False)
    registries_demo.seed_registries(parcels=120, addresses=200, progress=False)
    catalog_demo.seed_catalog()
    demo.seed_sharing()
    summary = demo_usage.seed_usage(seed=7)
    assert summary.rows > 0 and summary.calls > 0 and "daily usage rows" in summary.describe()
    stats = queries.usage_statistics(None, queries.UsageFilters.last(30))
    assert stats.totals.ok > stats.totals.refused > 0
    grants = Grant.objects.all()
    seen = set(UsageDay.objects.values_list("consumer_id", "resource_id").distinct())
    assert {(g.consumer_id, g.resource_id) for g in grants if g.status == "active"} <= seen
    reasons = {r.reason for r in stats.reasons}
    assert {"grant_suspended", "grant_revoked", "no_grant", "not_found"} <= reasons
    assert stats.totals.latency.p50 is not None and 5 < stats.totals.latency.p50 < 300
    again = demo_usage.seed_usage(seed=7)
    assert (again.rows, again.calls) == (0, 0)
