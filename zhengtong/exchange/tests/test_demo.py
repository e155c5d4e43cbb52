"""The demo city's sharing: requests in every state with deadlines that follow from their dates on the working-day
calendar, grants masked, pseudonymised and in clear, scoped, suspended and revoked, a client per consuming
department whose printed credential and calls work through the one door, every step audited, and a second
seeding that adds and changes nothing.

The demo city is seeded small (60 citizens, no businesses, a few addresses and parcels): the stories need its
departments, officers, catalog and a few residents, not its size.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from zhengtong.audit.models import AuditEntry
from zhengtong.catalog import demo as catalog_demo
from zhengtong.catalog.models import Resource, SharingType
from zhengtong.core import calendar
from zhengtong.exchange import actions, demo, door
from zhengtong.exchange.models import Grant, GrantStatus, MaskingLevel, RefusedBy, RequestStatus, SharingRequest
from zhengtong.exchange.tests.conftest import is_late
from zhengtong.identity import demo as identity_demo
from zhengtong.identity.actions import authenticate_api_client
from zhengtong.identity.models import ApiClient, Citizen
from zhengtong.registries import base
from zhengtong.registries import demo as registries_demo
from zhengtong.registries.models import Registry

BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture
def seeded(db: Any) -> demo.SharingSeedSummary:
    identity_demo.seed_demo_city(citizens=60, businesses=0, progress=False)
    registries_demo.seed_registries(parcels=120, addresses=200, progress=False)
    catalog_demo.seed_catalog()
    return demo.seed_sharing()


def request_of(consumer: str, resource: str) -> SharingRequest:
    story = next(s for s in demo.STORIES if (s.consumer, s.resource) == (consumer, resource))
    return SharingRequest.objects.select_related("resource").get(consumer__code=consumer, purpose=story.purpose)


def working_days_ago(day: dt.date) -> int:
    return calendar.working_days_between(day, timezone.localdate()).days


def local_day(moment: dt.datetime | None) -> dt.date:
    assert moment is not None
    return timezone.localdate(moment)


def test_every_state_of_the_path_is_there(seeded: demo.SharingSeedSummary) -> None:
    assert seeded.requests == len(demo.STORIES) == SharingRequest.objects.count()
    statuses = Counter(SharingRequest.objects.values_list("status", flat=True))
    assert set(statuses) == set(RequestStatus.values)
    refused = {r.refused_by: r for r in SharingRequest.objects.filter(status=RequestStatus.REFUSED)}
    assert set(refused) == {RefusedBy.PROVIDER, RefusedBy.GOVERNANCE, RefusedBy.CATALOG}
    assert all(r.refusal_reasons.strip() for r in refused.values())
    # The catalog's refusal cites the law for not sharing, and the resource is one the catalog does not share.
    by_catalog = refused[RefusedBy.CATALOG]
    assert by_catalog.resource.sharing_type == SharingType.NONE
    assert "《中华人民共和国精神卫生法》" in by_catalog.refusal_reasons
    assert by_catalog.check_due is None and by_catalog.checked_at is None
    settled = SharingRequest.objects.get(settled_at__isnull=False)
    assert settled.status == RequestStatus.GRANTED and settled.refused_by == RefusedBy.PROVIDER
    assert settled.dispute_reason and settled.settlement and Grant.objects.filter(request=settled).exists()
    disputed = SharingRequest.objects.get(status=RequestStatus.DISPUTED)
    assert disputed.settle_due is not None and not is_late(disputed)
    for request in SharingRequest.objects.all():
        assert request.purpose and request.scenario and request.legal_basis, request.number


def test_provider_reviews_one_due_the_next_working_day_and_one_overdue(seeded: demo.SharingSeedSummary) -> None:
    today = timezone.localdate()
    reviews = SharingRequest.objects.filter(status=RequestStatus.PROVIDER_REVIEW)
    dues = sorted(r.answer_due for r in reviews if r.answer_due is not None)
    assert dues == [request_of("YX-HUD", catalog_demo.MARRIAGE).answer_due,
                    request_of("YX-EDU", catalog_demo.SOCIAL_INSURANCE).answer_due]
    overdue, due_next = dues
    assert overdue < today and is_late(request_of("YX-HUD", catalog_demo.MARRIAGE))
    assert due_next == calendar.add_working_days(today, 1).date
    checking = SharingRequest.objects.get(status=RequestStatus.CHECKING)
    assert checking.check_due == calendar.add_working_days(today, actions.CHECK_DAYS).date
    assert not is_late(checking)


@pytest.mark.parametrize("day", [dt.date(2026, 11, 25), dt.date(2026, 11, 29), dt.date(2026, 9, 30)],
                         ids=["a Wednesday", "a Sunday", "the eve of the National Day holiday"])
def test_the_deadlines_fall_as_told_whatever_day_the_demo_is_seeded(db: Any, day: dt.date) -> None:
    with time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=ZoneInfo("Asia/Shanghai"))):
        identity_demo.seed_demo_city(citizens=0, businesses=0, progress=False)
        base.define_base_registries()
        catalog_demo.seed_catalog()
        demo.seed_sharing()
        next_working_day = calendar.add_working_days(day, 1).date
        assert request_of("YX-EDU", catalog_demo.SOCIAL_INSURANCE).answer_due == next_working_day
        overdue = request_of("YX-HUD", catalog_demo.MARRIAGE)
        assert overdue.answer_due is not None and overdue.answer_due < day and is_late(overdue)
        disputed = SharingRequest.objects.get(status=RequestStatus.DISPUTED)
        assert disputed.settle_due is not None and disputed.settle_due > day and not is_late(disputed)
        assert not is_late(SharingRequest.objects.get(status=RequestStatus.CHECKING))


def test_deadlines_count_working_days_from_each_steps_own_date(seeded: demo.SharingSeedSummary) -> None:
    now = timezone.now()
    for request in SharingRequest.objects.select_related("resource"):
        moments = [m for m in (request.submitted_at, request.checked_at, request.answered_at, request.disputed_at,
                               request.settled_at) if m is not None]
        assert moments == sorted(moments) and moments[-1] <= now, request.number
        submitted = local_day(request.submitted_at)
        if request.check_due is not None:
            assert request.check_due == calendar.add_working_days(submitted, actions.CHECK_DAYS).date
            assert request.checked_at is None or local_day(request.checked_at) <= request.check_due
        if request.answer_due is not None:
            days = (actions.ANSWER_DAYS if request.resource.status == "published"
                    else actions.ANSWER_DAYS_UNPUBLISHED)
            assert request.answer_due == calendar.add_working_days(local_day(request.checked_at), days).date
        if request.settle_due is not None:
            assert request.settle_due == calendar.add_working_days(local_day(request.disputed_at),
                                                                   actions.SETTLE_DAYS).date
    # The older stories began weeks ago, each on a working day.
    oldest = SharingRequest.objects.order_by("submitted_at").first()
    assert oldest is not None and working_days_ago(local_day(oldest.submitted_at)) == 35
    earlier = SharingRequest.objects.exclude(status=RequestStatus.CHECKING)
    assert all(calendar.is_working_day(local_day(r.submitted_at)) for r in earlier)


def test_grants_carry_masking_scopes_quotas_and_changes(seeded: demo.SharingSeedSummary) -> None:
    grants = list(Grant.objects.select_related("request", "consumer"))
    assert seeded.grants == len(grants) == SharingRequest.objects.filter(status=RequestStatus.GRANTED).count()
    assert {g.masking_level for g in grants} == set(MaskingLevel.values)
    assert Counter(g.status for g in grants) == {GrantStatus.ACTIVE: len(grants) - 2, GrantStatus.SUSPENDED: 1,
                                                 GrantStatus.REVOKED: 1}
    assert Grant.objects.get(status=GrantStatus.SUSPENDED).consumer.code == "YX-MCA"
    assert Grant.objects.get(status=GrantStatus.REVOKED).consumer.code == "YX-BS-GOV"
    scoped = {g.consumer.code: g.row_filter for g in grants if g.row_filter}
    assert scoped["YX-QL-GSC"] == {"household_division": {"prefix": "532325"}}
    assert scoped["YX-BS-GOV"] == {"division_code": {"prefix": "532326"}}
    assert any(g.daily_quota and g.rate_per_minute for g in grants)
    # The provider granted less than was asked: no mobile phone for social security.
    social = Grant.objects.select_related("request").get(consumer__code="YX-HRSS")
    assert social.request is not None
    assert "mobile_phone" in social.request.fields and "mobile_phone" not in social.fields
    today = timezone.localdate()
    for grant in grants:
        assert grant.in_force_on(today) and grant.request is not None, grant.number
        decided = grant.request.settled_at or grant.request.answered_at or grant.request.checked_at
        assert grant.created_at == decided and grant.updated_at >= grant.created_at, grant.number


def test_every_step_is_audited_and_the_restated_dates_are_recorded(seeded: demo.SharingSeedSummary) -> None:
    for request in SharingRequest.objects.all():
        actions_done = set(AuditEntry.objects.filter(object_type="sharing_request", object_id=request.number)
                           .values_list("action", flat=True))
        assert "exchange.submit_request" in actions_done, request.number
        if request.checked_at is not None:
            assert "exchange.check_request" in actions_done, request.number
        if request.answered_at is not None:
            assert "exchange.answer_request" in actions_done, request.number
        if request.settled_at is not None:
            assert {"exchange.dispute_refusal", "exchange.settle_dispute"} <= actions_done, request.number
        if request.status == RequestStatus.WITHDRAWN:
            assert "exchange.withdraw_request" in actions_done, request.number
        restated = AuditEntry.objects.filter(action="exchange.demo_restate_dates", object_id=request.number).first()
        if request.submitted_at < timezone.now() - dt.timedelta(days=1):
            assert restated is not None, request.number
            assert dt.datetime.fromisoformat(restated.detail["request"]["submitted_at"]) == request.submitted_at
    grant_actions = Counter(AuditEntry.objects.filter(object_type="grant").values_list("action", flat=True))
    assert grant_actions == {"exchange.issue_grant": Grant.objects.count(), "exchange.suspend_grant": 1,
                             "exchange.revoke_grant": 1}
    for grant in Grant.objects.all():
        assert AuditEntry.objects.filter(action="exchange.issue_grant", object_id=grant.number).exists()
    # The steps were taken by the officers whose steps they are, not by the platform.
    for entry in AuditEntry.objects.filter(action="exchange.answer_request"):
        request = SharingRequest.objects.select_related("resource__provider").get(number=entry.object_id)
        assert (entry.actor_kind, entry.actor_department) == ("staff", request.resource.provider.code)
    checks = AuditEntry.objects.filter(action="exchange.check_request")
    assert checks.exists() and set(checks.values_list("actor_department", flat=True)) == {"YX-DATA"}


def test_each_consuming_department_has_a_client_whose_credential_works(seeded: demo.SharingSeedSummary) -> None:
    consumers = {s.consumer for s in demo.STORIES}
    assert {c.department for c in seeded.demo_clients} == consumers == set(demo.CLIENT_NAMES)
    assert seeded.clients == len(consumers) == ApiClient.objects.count()
    for client in seeded.demo_clients:
        authenticated = authenticate_api_client(client.credential)
        assert authenticated is not None and authenticated.department.code == client.department
    assert authenticate_api_client(seeded.demo_clients[0].credential + "x") is None


def _call(summary: demo.SharingSeedSummary, consumer: str) -> tuple[ApiClient, str, dict[str, list[str]]]:
    """The client, path and query of the printed curl line for this consumer's example."""
    line = next(command for example, command in demo.example_calls(summary, BASE_URL)
                if example.consumer == consumer)
    words = shlex.split(line)
    credential = words[words.index("-H") + 1].removeprefix("Authorization: Bearer ")
    client = authenticate_api_client(credential)
    assert client is not None
    url = urlsplit(words[-1])
    assert f"{url.scheme}://{url.netloc}" == BASE_URL
    return client, url.path, parse_qs(url.query)


def test_the_printed_calls_read_through_the_door_as_their_grants_say(seeded: demo.SharingSeedSummary) -> None:
    persons = Registry.objects.get(code=base.PERSONS)
    client, path, query = _call(seeded, "YX-HRSS")
    key = path.rsplit("/", 1)[1]
    assert path == f"/api/v1/gateway/registries/persons/records/{key}" and query["purpose"]
    reading = door.read_record(door.Reader.system(client), persons, key, purpose=query["purpose"][0])
    assert set(reading.values) == set(Grant.objects.get(consumer__code="YX-HRSS").fields)
    assert reading.values["name"] == Citizen.objects.get(resident_id=key).name  # in full, by the grant's rule
    assert reading.values["resident_id"] != key and reading.values["resident_id"].endswith(key[-4:])

    client, path, query = _call(seeded, "YX-QL-GSC")
    resident = path.rsplit("/", 1)[1]
    assert (Citizen.objects.get(resident_id=resident).division_id or "").startswith("532325")
    door.read_record(door.Reader.system(client), persons, resident, purpose=query["purpose"][0])
    elsewhere = Citizen.objects.exclude(division__code__startswith="532325").first()
    assert elsewhere is not None
    with pytest.raises(door.Refused) as outside:
        door.read_record(door.Reader.system(client), persons, elsewhere.resident_id, purpose="窗口受理")
    assert outside.value.code == "outside_row_scope"

    client, path, query = _call(seeded, "YX-EDU")
    child = Citizen.objects.get(resident_id=path.rsplit("/", 1)[1])
    reading = door.read_record(door.Reader.system(client), persons, child.resident_id, purpose="学位供需预测")
    assert reading.values["resident_id"].startswith("pn_")  # the bureau's pseudonym, not the number
    assert reading.values["birth_date"] == str(child.birth_date.year)
    assert reading.values["household_division"] == child.division_id

    for consumer, code in (("YX-MCA", "grant_suspended"), ("YX-COMM", "no_grant")):
        client, path, query = _call(seeded, consumer)
        with pytest.raises(door.Refused) as refused:
            door.read_record(door.Reader.system(client), persons, path.rsplit("/", 1)[1],
                             purpose=query["purpose"][0])
        assert refused.value.code == code, consumer

    client, path, query = _call(seeded, "YX-AGRI")
    assert path == "/api/v1/gateway/registries/land-parcels/records"
    page = door.search(door.Reader.system(client), Registry.objects.get(code=base.LAND_PARCELS),
                       filters={"right_type": query["right_type"][0]}, purpose=query["purpose"][0],
                       page_size=int(query["page_size"][0]))
    assert page.total and all(r.values["right_type"] == "land_contract" for r in page.readings)


def test_the_demo_prints_credentials_and_calls(seeded: demo.SharingSeedSummary) -> None:
    text = demo.clients_text(seeded, BASE_URL)
    for client in seeded.demo_clients:
        assert client.credential in text and client.department in text
    assert text.count("curl -s -H ") == len(demo.EXAMPLES)
    assert f"{BASE_URL}/api/v1/gateway/registries/persons/records/" in text


def test_a_second_run_adds_and_changes_nothing(seeded: demo.SharingSeedSummary) -> None:
    def state() -> tuple[Any, ...]:
        return (list(SharingRequest.objects.values().order_by("pk")), list(Grant.objects.values().order_by("pk")),
                list(ApiClient.objects.values().order_by("pk")), AuditEntry.objects.count())

    before = state()
    again = demo.seed_sharing()
    assert (again.requests, again.grants, again.clients) == (0, 0, 0)
    assert again.demo_clients == seeded.demo_clients
    assert state() == before


def test_a_story_acted_on_since_is_left_as_it_is(seeded: demo.SharingSeedSummary) -> None:
    due = request_of("YX-EDU", catalog_demo.SOCIAL_INSURANCE)
    officer = demo.demo_officer("YX-HRSS", "data_officer")
    actions.answer_request(officer, due, grant=False, reasons="缴费信息请通过社保卡服务核验。")
    demo.seed_sharing()
    assert SharingRequest.objects.filter(consumer__code="YX-EDU", purpose=due.purpose).count() == 1
    assert SharingRequest.objects.get(pk=due.pk).status == RequestStatus.REFUSED


def test_seeding_before_the_catalog_names_what_is_missing(db: Any) -> None:
    identity_demo.seed_demo_city(citizens=0, businesses=0, progress=False)
    with pytest.raises(Resource.DoesNotExist, match="seed the catalog first"):
        demo.seed_sharing()
    assert not SharingRequest.objects.exists() and not ApiClient.objects.exists()
