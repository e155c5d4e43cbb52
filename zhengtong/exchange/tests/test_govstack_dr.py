"""The GovStack Digital Registries API (data API 1.3.0, database API 1.3.0) endpoint by endpoint against the spec,
in both path spellings: reads through the one door (masked, audited, refused with the door's codes), writes as
registry actions allowed by the department's own registry or a grant that lets it write, and the database
endpoints over the registries' schemas."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client

from zhengtong.audit.models import AuditEntry, Result
from zhengtong.audit.subjects import subject_hash
from zhengtong.conftest import resident_id
from zhengtong.core.errors import NotPermitted
from zhengtong.exchange import actions, door
from zhengtong.exchange.models import Grant
from zhengtong.exchange.tests.conftest import EAST, WEST, WEST_BORN, person
from zhengtong.identity import actions as identity
from zhengtong.identity.models import ApiClient
from zhengtong.registries import actions as registries
from zhengtong.registries.codec import RecordCodec
from zhengtong.registries.models import FieldType, Record, RecordChange, Registry
from zhengtong.registries.queries import find_record
from zhengtong.registries.schema import FieldSpec, json_schema_of
from zhengtong.registries.tests.factories import person_fields

DR = "/govstack/dr"
DATA = DR + "/data/persons/1"
PURPOSE = "治安管理核验身份"
NEWCOMER = resident_id(30, county=WEST_BORN)
MISSING = resident_id(44)

pytestmark = pytest.mark.django_db


class System:
    """A department system calling the API: its bearer credential and its Information-Mediator-Client label."""

    def __init__(self, http: Client, client: ApiClient, credential: str):
        self.http, self.client, self.credential = http, client, credential
        self.label = f"CN/GOV/{client.department.credit_code}/{client.key_id}"

    def __call__(self, method: str, path: str, body: Any = None, *, purpose: str | None = PURPOSE,
                 headers: dict[str, str] | None = None) -> Any:
        if purpose:
            path += ("&" if "?" in path else "?") + urlencode({"purpose": purpose})
        # Messages are checked in English; the platform answers in the caller's language.
        extra: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {self.credential}", "HTTP_ACCEPT_LANGUAGE": "en",
                                 "HTTP_INFORMATION_MEDIATOR_CLIENT": self.label, **(headers or {})}
        if body is not None:
            extra.update(data=json.dumps(body), content_type="application/json")
        return getattr(self.http, method)(path, **extra)


@pytest.fixture
def consumer(client: Client, consumer_client: tuple[ApiClient, str]) -> System:
    """WEST-PSB's system, which reads (and with a grant that says so, writes) CITY-CA's persons registry."""
    return System(client, *consumer_client)


@pytest.fixture
def provider(client: Client, city: dict[str, Any]) -> System:
    """CITY-CA's own system: the persons registry is its department's."""
    issued = identity.create_api_client(None, department=city["bureau"], name="民政业务系统")
    return System(client, issued.client, issued.credential)


def household_size() -> FieldSpec:
    return FieldSpec("household_size", FieldType.INTEGER, "户人数", "household size")


def record_of(registry: Registry, key: str) -> Record:
    record = find_record(registry, key)
    assert record is not None
    return record


def values_of(registry: Registry, key: str) -> dict[str, Any]:
    return RecordCodec(registry).plain(record_of(registry, key).data)


def status_code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# --- list -------------------------------------------------------------------------------------------------------


def test_list_filters_by_query_fields_and_pages_with_links(persons: Registry, make_grant: Callable[..., Grant],
                                                           consumer: System) -> None:
    make_grant()
    first = consumer("get", DATA + f"?query.division_code={EAST}&pageSize=2")
    assert first.status_code == 200
    body = first.json()
    assert body["count"] == 3 and body["previous"] is None
    assert [row["name"] for row in body["results"]] == ["王**", "李*"]
    assert body["results"][0]["resident_id"] == person(1)[:6] + "********" + person(1)[-4:]
    assert body["next"].startswith("http://testserver/govstack/dr/data/persons/1?") and "page=2" in body["next"]
    second = consumer("get", body["next"].removeprefix("http://testserver"), purpose=None).json()
    assert (len(second["results"]), second["next"]) == (1, None)
    assert "page=1" in second["previous"]


def test_list_takes_filter_and_search_and_refuses_what_it_cannot_do(persons: Registry,
                                                                   make_grant: Callable[..., Grant],
                                                                   consumer: System) -> None:
    make_grant()
    assert consumer("get", DATA + f"?filter=division_code&search={WEST}").json()["count"] == 2
    assert consumer("get", DATA + "?filter=division_code&search=330100").json() == {
        "count": 0, "next": None, "previous": None, "results": []}
    ascending = consumer("get", DATA + "?ordering=ascending").json()["results"]
    descending = consumer("get", DATA + "?ordering=descending").json()["results"]
    assert len(ascending) == 5 and descending == ascending[::-1]
    refused = {
        "?ordering=sideways": (422, "ordering"),
        "?search=330106": (422, "filter"),
        "?colour=red": (400, "colour"),
        "?query.nickname=x": (422, "query.nickname"),
        "?filter=nickname&search=x": (422, "filter"),
        "?pageSize=501": (422, "pageSize"),
        "?page=0": (422, "page"),
    }
    for query, (status, field) in refused.items():
        response = consumer("get", DATA + query)
        assert (response.status_code, response.json()["details"][0]["field"]) == (status, field), query


def test_list_without_a_purpose_is_refused(persons: Registry, make_grant: Callable[..., Grant],
                                           consumer: System) -> None:
    make_grant()
    assert status_code(consumer("get", DATA, purpose=None)) == (403, "no_purpose")
    # The purpose may also come in the X-Purpose header.
    assert consumer("get", DATA, purpose=None, headers={"HTTP_X_PURPOSE": "audit"}).status_code == 200


# --- the version number ---------------------------------------------------------------------------------------


def test_the_version_number_is_the_schema_version(persons: Registry, make_grant: Callable[..., Grant],
                                                  consumer: System) -> None:
    make_grant()
    for version in ("1", "1.0", "v1", "version1"):
        assert consumer("get", f"{DR}/data/persons/{version}").status_code == 200, version
    mismatch = consumer("get", f"{DR}/data/persons/2")
    assert status_code(mismatch) == (409, "schema_version_mismatch")
    assert mismatch.json()["details"][0]["field"] == "versionNumber"
    assert status_code(consumer("get", f"{DR}/data/persons/latest")) == (400, "bad_request")


def test_a_version_mismatch_tells_nothing_to_a_caller_without_a_right(persons: Registry, consumer: System) -> None:
    """No grant: the wrong version of an existing registry answers as a registry that does not exist."""
    answers = [consumer("get", f"{DR}/data/persons/2"), consumer("get", f"{DR}/data/persons/1"),
               consumer("get", f"{DR}/data/no-such-registry/1"),
               consumer("post", f"{DR}/data/persons/2/create", {"write": {"content": {"name": "x"}}}),
               consumer("post", f"{DR}/data/no-such-registry/1/create", {"write": {"content": {"name": "x"}}})]
    assert {status_code(r) for r in answers} == {(403, "no_grant")}


# --- exists and read --------------------------------------------------------------------------------------------


def test_exists_answers_by_key_and_by_fields(persons: Registry, make_grant: Callable[..., Grant],
                                             consumer: System) -> None:
    make_grant()

    def exists(content: dict[str, Any]) -> Any:
        return consumer("post", DATA + "/exists", {"query": {"content": content}}).json()

    assert exists({"resident_id": person(2)}) == {"answer": {"status": True, "message": "Object found from database"}}
    assert exists({"resident_id": MISSING}) == {"answer": {"status": False,
                                                           "message": "Object not found from database"}}
    assert exists({"division_code": WEST})["answer"]["status"] is True
    assert exists({"division_code": "330100"})["answer"]["status"] is False
    # Only the fields asked about were read.
    assert AuditEntry.objects.filter(action="exchange.read").latest("pk").fields == ["resident_id"]
    assert AuditEntry.objects.filter(action="exchange.search").latest("pk").fields == ["division_code"]


def test_read_returns_one_record_masked_or_the_specs_404(persons: Registry, make_grant: Callable[..., Grant],
                                                         consumer: System) -> None:
    make_grant()
    by_key = consumer("post", DATA + "/read", {"query": {"content": {"resident_id": person(4)}}})
    assert by_key.status_code == 200
    assert by_key.json() == {"content": {"resident_id": person(4)[:6] + "********" + person(4)[-4:], "name": "赵*",
                                         "phone": "138****8004", "division_code": WEST, "birth_date": "1985"}}
    by_fields = consumer("post", DATA + "/read", {"query": {"content": {"division_code": WEST}}})
    assert by_fields.json()["content"]["name"] == "赵*"  # the first record made of those matching
    for content in ({"resident_id": MISSING}, {"division_code": "330100"}):
        missing = consumer("post", DATA + "/read", {"query": {"content": content}})
        assert (missing.status_code, missing.json()) == (404, {"detail": "no record found"})


def test_read_needs_a_query_with_content(persons: Registry, make_grant: Callable[..., Grant],
                                         consumer: System) -> None:
    make_grant()
    bodies: list[dict[str, Any]] = [{}, {"query": {}}, {"query": {"content": {}}}]
    for body in bodies:
        response = consumer("post", DATA + "/read", body)
        assert (response.status_code, response.json()["code"]) == (400, "bad_request"), body


@pytest.mark.parametrize("spelling", ["readValue", "read-value"])
def test_read_value_in_both_spellings(spelling: str, persons: Registry, make_grant: Callable[..., Grant],
                                      consumer: System) -> None:
    make_grant(fields=("resident_id", "name", "division_code"))
    base = f"{DATA}/{person(1)}/{spelling}"
    division = consumer("get", f"{base}/division_code.json")
    assert (division.status_code, division.json()) == (200, EAST)
    assert consumer("get", f"{base}/name.json").json() == "王**"
    assert status_code(consumer("get", f"{base}/name.xml")) == (400, "bad_request")
    assert status_code(consumer("get", f"{base}/phone.json")) == (403, "field_not_granted")
    assert status_code(consumer("get", f"{base}/nickname.json")) == (422, "validation_error")
    assert status_code(consumer("get", f"{DATA}/{MISSING}/{spelling}/name.json")) == (404, "not_found")


def test_read_value_of_a_non_text_value_is_an_object(persons: Registry, provider: System) -> None:
    registries.change_schema(None, persons, [*person_fields(), household_size()])
    registries.update_record(None, record_of(persons, person(1)), {"household_size": 4})
    response = provider("get", f"{DR}/data/persons/2/{person(1)}/readValue/household_size.json")
    assert response.json() == {"value": 4}
    assert provider("get", f"{DR}/data/persons/2/{person(2)}/readValue/household_size.json").json() == ""


# --- refusals through the door ----------------------------------------------------------------------------------


def test_the_doors_refusals_answer_with_their_codes(persons: Registry, make_grant: Callable[..., Grant],
                                                    consumer: System) -> None:
    read = {"query": {"content": {"resident_id": person(4)}}}
    assert status_code(consumer("post", DATA + "/read", read)) == (403, "no_grant")
    make_grant(row_filter={"division_code": {"eq": EAST}}, daily_quota=3)
    assert status_code(consumer("post", DATA + "/read", read)) == (403, "outside_row_scope")
    assert status_code(consumer("post", DATA + "/read", read, purpose=None)) == (403, "no_purpose")
    assert consumer("post", DATA + "/read", {"query": {"content": {"resident_id": person(1)}}}).status_code == 200
    assert consumer("get", DATA).json()["count"] == 3  # the row scope applies to lists too
    assert consumer("get", DATA).status_code == 200
    assert status_code(consumer("get", DATA)) == (429, "quota_exceeded")
    denied = AuditEntry.objects.filter(action="exchange.search_refused").latest("pk")
    assert (denied.result, denied.detail["calling_system"]) == (Result.DENIED, consumer.label)


def test_calls_need_a_system_and_the_header(persons: Registry, make_grant: Callable[..., Grant],
                                            consumer: System, client: Client) -> None:
    make_grant()
    assert client.get(DATA + "?purpose=x", HTTP_INFORMATION_MEDIATOR_CLIENT=consumer.label).status_code == 401
    missing = client.get(DATA + "?purpose=x", HTTP_AUTHORIZATION=f"Bearer {consumer.credential}")
    assert status_code(missing) == (400, "bad_mediator_header")


# --- writes -----------------------------------------------------------------------------------------------------


def newcomer(**changes: Any) -> dict[str, Any]:
    return {"resident_id": NEWCOMER.lower(), "name": "孙八", "phone": "13800138009", "division_code": WEST,
            "birth_date": "1985-06-01", **changes}


def test_the_provider_creates_a_record_and_the_audit_names_its_system(persons: Registry, provider: System) -> None:
    response = provider("post", DATA + "/create", {"write": {"content": newcomer()}})
    assert response.status_code == 200
    assert response.json() == {"content": {**newcomer(), "resident_id": NEWCOMER}}  # as stored: a capital X
    assert values_of(persons, NEWCOMER)["name"] == "孙八"
    created = AuditEntry.objects.filter(action="registries.create_record").latest("pk")
    assert (created.actor_kind, created.actor_id) == ("api_client", provider.client.key_id)
    write = AuditEntry.objects.get(action="exchange.write")
    assert (write.purpose, write.detail["calling_system"], write.detail["operation"]) == (
        PURPOSE, provider.label, "create")
    assert sorted(write.fields) == sorted(newcomer())
    assert write.subjects == created.subjects and write.subjects


def test_create_needs_write_content(persons: Registry, provider: System) -> None:
    bodies: list[dict[str, Any]] = [{}, {"write": {}}, {"content": newcomer()}]
    for body in bodies:
        response = provider("post", DATA + "/create", body)
        assert (response.status_code, response.json()["code"]) == (400, "bad_request"), body
    invalid = provider("post", DATA + "/create", {"write": {"content": newcomer(resident_id="330106198506010011")}})
    assert (invalid.status_code, invalid.json()["details"][0]["field"]) == (422, "resident_id")
    taken = provider("post", DATA + "/create", {"write": {"content": newcomer(resident_id=person(1))}})
    assert (taken.status_code, taken.json()["details"][0]["field"]) == (422, "resident_id")


def test_a_consumer_writes_only_under_a_grant_that_lets_it(persons: Registry, make_grant: Callable[..., Grant],
                                                           consumer: System) -> None:
    create = {"write": {"content": newcomer()}}
    assert status_code(consumer("post", DATA + "/create", create)) == (403, "no_grant")
    make_grant()
    assert status_code(consumer("post", DATA + "/create", create)) == (403, "write_not_granted")
    make_grant(may_write=True, row_filter={"division_code": {"eq": WEST}})
    assert consumer("post", DATA + "/create", create).status_code == 200
    entry = AuditEntry.objects.filter(action="registries.create_record").latest("pk")
    assert (entry.actor_kind, entry.actor_department) == ("api_client", "WEST-PSB")
    refusals = AuditEntry.objects.filter(action="exchange.write_refused").order_by("pk")
    assert [(e.detail["reason"], e.result) for e in refusals] == [("no_grant", Result.DENIED),
                                                                 ("write_not_granted", Result.DENIED)]


def test_a_writing_grant_that_is_suspended_or_expired_allows_no_write(persons: Registry,
                                                                    make_grant: Callable[..., Grant],
                                                                    consumer: System) -> None:
    grant = make_grant(may_write=True)
    actions.suspend_grant(None, grant, reason="核查中")
    assert status_code(consumer("post", DATA + "/create", {"write": {"content": newcomer()}})) == (
        403, "grant_suspended")
    actions.resume_grant(None, grant, reason="核查完毕")
    with time_machine.travel(grant.valid_until + dt.timedelta(days=1)):
        assert status_code(consumer("post", DATA + "/create", {"write": {"content": newcomer()}})) == (
            403, "grant_expired")
    assert consumer("post", DATA + "/create", {"write": {"content": newcomer()}}).status_code == 200


def test_the_registry_actions_themselves_ask_what_a_client_may_do(persons: Registry,
                                                                  make_grant: Callable[..., Grant],
                                                                  consumer: System, provider: System) -> None:
    """The permission check stays inside the registry actions: called directly with an API client as the actor,
    they allow what the client's department provides or may write under a grant, and refuse the rest."""
    with pytest.raises(NotPermitted):
        registries.create_record(consumer.client, persons, newcomer())
    denied = AuditEntry.objects.filter(action="identity.permission_denied").latest("pk")
    assert (denied.actor_id, denied.detail["permission"]) == (consumer.client.key_id, "registries.add_record")
    make_grant(may_write=True)
    record = registries.create_record(consumer.client, persons, newcomer())
    assert record.created_by == consumer.client.name
    with pytest.raises(NotPermitted):  # changing a schema is the provider's alone
        registries.change_schema(consumer.client, persons, [*person_fields(), household_size()])
    registries.change_schema(provider.client, persons, [*person_fields(), household_size()])
    identity.revoke_api_client(None, provider.client)
    with pytest.raises(NotPermitted):
        registries.delete_record(provider.client, record, reason="重复登记")


def test_a_write_by_grant_stays_inside_its_fields_and_rows(persons: Registry, make_grant: Callable[..., Grant],
                                                           consumer: System) -> None:
    make_grant(may_write=True, fields=("resident_id", "name", "division_code"),
               row_filter={"division_code": {"eq": WEST}})
    outside_fields = consumer("post", DATA + "/create", {"write": {"content": newcomer()}})
    assert status_code(outside_fields) == (403, "field_not_granted")
    slim = {"resident_id": NEWCOMER, "name": "孙八", "division_code": EAST}
    assert status_code(consumer("post", DATA + "/create", {"write": {"content": slim}})) == (403, "outside_row_scope")
    assert consumer("post", DATA + "/create", {"write": {"content": {**slim, "division_code": WEST}}}).status_code \
        == 200
    # Updating: a record outside the rows cannot be touched, and one inside cannot be moved out.
    east = {"query": {"content": {"resident_id": person(1)}}, "write": {"content": {"name": "王大明"}}}
    assert status_code(consumer("put", DATA + "/update", east)) == (403, "outside_row_scope")
    move = {"query": {"content": {"resident_id": person(4)}}, "write": {"content": {"division_code": EAST}}}
    assert status_code(consumer("put", DATA + "/update", move)) == (403, "outside_row_scope")
    assert values_of(persons, person(4))["division_code"] == WEST
    # A missing record under a row scope answers as one outside it.
    missing = {"query": {"content": {"resident_id": MISSING}}, "write": {"content": {"name": "某"}}}
    assert status_code(consumer("put", DATA + "/update", missing)) == (403, "outside_row_scope")
    assert status_code(consumer("delete", f"{DATA}/{person(1)}/delete")) == (403, "outside_row_scope")
    # Deleting takes every field of the record away: a grant of some fields does not allow it.
    assert status_code(consumer("delete", f"{DATA}/{person(4)}/delete")) == (403, "field_not_granted")
    fine = {"query": {"content": {"resident_id": person(4)}}, "write": {"content": {"name": "赵六六"}}}
    assert consumer("put", DATA + "/update", fine).status_code == 200
    assert values_of(persons, person(4))["name"] == "赵六六"


def test_update_changes_one_record_with_the_purpose_as_reason(persons: Registry, provider: System) -> None:
    body = {"query": {"content": {"resident_id": person(2)}}, "write": {"content": {"phone": "13900139002"}}}
    response = provider("put", DATA + "/update", body)
    assert (response.status_code, response.json()) == (200, {"content": {"phone": "13900139002"}})
    assert values_of(persons, person(2))["phone"] == "13900139002"
    change = RecordChange.objects.get(record=record_of(persons, person(2)))
    assert (change.reason, change.actor_kind, change.changed_fields) == (PURPOSE, "api_client", ["phone"])
    # Without a query the key comes from the write.
    no_query = {"write": {"content": {"resident_id": person(3), "name": "欧阳娜"}}}
    assert provider("put", DATA + "/update", no_query).status_code == 200
    assert values_of(persons, person(3))["name"] == "欧阳娜"
    assert status_code(provider("put", DATA + "/update", {"write": {"content": {"name": "某"}}})) == (
        400, "bad_request")


def test_update_of_no_record_is_404_and_of_several_is_refused(persons: Registry, provider: System) -> None:
    missing = {"query": {"content": {"resident_id": MISSING}}, "write": {"content": {"name": "某"}}}
    response = provider("put", DATA + "/update", missing)
    assert (response.status_code, response.json()) == (404, {"detail": "no record found"})
    several = {"query": {"content": {"division_code": EAST}}, "write": {"content": {"birth_date": "1990-01-01"}}}
    assert status_code(provider("put", DATA + "/update", several)) == (409, "conflict")
    assert values_of(persons, person(1))["birth_date"] == "1985-06-01"


@pytest.mark.parametrize("spelling", ["updateEntries", "update-entries"])
def test_update_entries_in_both_spellings(spelling: str, persons: Registry, provider: System) -> None:
    body = {"query": {"content": {"division_code": WEST}}, "write": {"content": {"birth_date": "1990-01-01"}}}
    response = provider("put", f"{DATA}/{spelling}", body)
    assert (response.status_code, response.json()) == (200, {"matched": 2, "updated": 2})
    assert [values_of(persons, person(n))["birth_date"] for n in (1, 4, 5)] == ["1985-06-01", "1990-01-01",
                                                                                 "1990-01-01"]
    assert AuditEntry.objects.filter(action="exchange.write", detail__operation="update").count() == 2
    # Nothing is half-written: one bad value and no record changes.
    bad = {"query": {"content": {"division_code": WEST}}, "write": {"content": {"phone": "12345"}}}
    assert provider("put", f"{DATA}/{spelling}", bad).status_code == 422
    assert status_code(provider("put", f"{DATA}/{spelling}", {"write": {"content": {"name": "x"}}})) == (
        400, "bad_request")


@pytest.mark.parametrize("spelling", ["updateOrCreate", "update-or-create"])
def test_update_or_create_in_both_spellings(spelling: str, persons: Registry, provider: System) -> None:
    existing = {"query": {"content": {"resident_id": person(5)}}, "write": {"content": {"name": "钱七七"}}}
    response = provider("post", f"{DATA}/{spelling}", existing)
    assert (response.status_code, response.json()) == (200, {"content": {"name": "钱七七"}})
    assert values_of(persons, person(5))["name"] == "钱七七"
    fresh = {"query": {"content": {"resident_id": NEWCOMER}},
             "write": {"content": {k: v for k, v in newcomer().items() if k != "resident_id"}}}
    created = provider("post", f"{DATA}/{spelling}", fresh)
    assert created.status_code == 200
    assert created.json()["content"]["resident_id"] == NEWCOMER
    assert values_of(persons, NEWCOMER)["name"] == "孙八"
    assert Record.objects.filter(registry=persons).count() == 6


def test_delete_is_soft_and_answers_204(persons: Registry, provider: System, make_grant: Callable[..., Grant],
                                        consumer: System) -> None:
    make_grant(may_write=False)
    assert status_code(consumer("delete", f"{DATA}/{person(5)}/delete")) == (403, "write_not_granted")
    response = provider("delete", f"{DATA}/{person(5)}/delete")
    assert (response.status_code, response.content) == (204, b"")
    assert find_record(persons, person(5)) is None
    deleted = find_record(persons, person(5), include_deleted=True)
    assert deleted is not None and deleted.deletion_reason == PURPOSE
    missing = provider("delete", f"{DATA}/{person(5)}/delete")
    assert status_code(missing) == (404, "not_found")
    assert status_code(provider("delete", f"{DATA}/{person(4)}/delete", purpose=None)) == (403, "no_purpose")


# --- myPersonalDataUsage ----------------------------------------------------------------------------------------


USAGE_PURPOSE = "答复数据主体查询"


def usage_of(system: System, subject: str, database: str = "persons", path: str = "/data/myPersonalDataUsage",
             purpose: str | None = USAGE_PURPOSE) -> Any:
    return system("get", DR + path + "?" + urlencode({"userId": subject, "databaseId": database}), purpose=purpose)


@pytest.mark.parametrize("path", ["/data/myPersonalDataUsage", "/data/MyPersonalDataUsage/1.0"])
def test_personal_data_usage_tells_the_provider_who_read_the_person(
        path: str, persons: Registry, make_grant: Callable[..., Grant], consumer: System, provider: System,
        city: dict[str, Any]) -> None:
    make_grant()
    reading = door.read_record(door.Reader.system(consumer.client), persons, person(1), purpose=PURPOSE)
    door.read_record(door.Reader.system(consumer.client), persons, person(2), purpose=PURPOSE)
    response = usage_of(provider, person(1).lower(), path=path)
    assert response.status_code == 200
    (item,) = response.json()
    read = AuditEntry.objects.filter(action="exchange.read").earliest("id")
    assert item == {
        "id": str(read.pk), "readerId": consumer.client.key_id, "readerInitials": "",
        "readerInstitutionId": city["other"].credit_code, "readerInstitutionName": "西山区公安分局",
        "readerApplicationName": "西山区警务综合平台",
        "searchDateTime": read.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "refrences": [{"ReferenceID": f"persons{reading.record_id}"}],
    }
    # The answer is itself a use of the person's data, audited with them as its subject.
    asked = AuditEntry.objects.get(action="exchange.personal_data_usage")
    assert (asked.actor_id, asked.purpose, asked.detail["count"]) == (provider.client.key_id, USAGE_PURPOSE, 1)
    assert asked.subjects == [subject_hash(person(1))]


def test_personal_data_usage_answers_only_the_registrys_provider_and_checks_its_parameters(
        persons: Registry, make_grant: Callable[..., Grant], consumer: System, provider: System) -> None:
    make_grant()
    assert status_code(usage_of(consumer, person(1))) == (403, "no_grant")
    assert status_code(usage_of(provider, person(1), database="nonesuch")) == (403, "no_grant")
    assert status_code(usage_of(provider, person(1), purpose=None)) == (403, "no_purpose")
    bad = usage_of(provider, "EE378129277266")
    assert status_code(bad) == (400, "bad_request") and bad.json()["details"][0]["field"] == "userId"
    missing = provider("get", DR + "/data/myPersonalDataUsage?" + urlencode({"userId": person(1)}))
    assert status_code(missing) == (400, "bad_request") and missing.json()["details"][0]["field"] == "databaseId"
    assert AuditEntry.objects.filter(action="exchange.usage_refused", result=Result.DENIED).count() == 3
    assert not AuditEntry.objects.filter(action="exchange.personal_data_usage").exists()


# --- the database API -------------------------------------------------------------------------------------------


def test_database_read_gives_the_schema_as_json_schema(persons: Registry, consumer: System) -> None:
    response = consumer("get", f"{DR}/database/{persons.pk}", purpose=None)
    assert response.status_code == 200
    info = response.json()
    assert (info["id"], info["version"], info["name"], info["institution"]) == (persons.pk, "1", "persons",
                                                                               "市民政局")
    assert info["schema"] == json_schema_of(person_fields())
    assert {"name": "mandatory", "path": "/resident_id"} in info["schemaFlags"]
    assert ["phone"] in info["fieldsUniques"] and info["isDraft"] is False
    assert status_code(consumer("get", f"{DR}/database/999999", purpose=None)) == (404, "not_found")


def test_databases_lists_the_registries_a_system_may_know_of(persons: Registry, consumer: System,
                                                            city: dict[str, Any]) -> None:
    draft = registries.define_registry(None, code="pensions", name="养老金台账", department=city["branch"],
                                       fields=person_fields())
    listed = consumer("get", f"{DR}/databases", purpose=None).json()
    assert [db["name"] for db in listed["databases"]] == ["persons"]
    assert status_code(consumer("get", f"{DR}/database/{draft.pk}", purpose=None)) == (404, "not_found")


def test_database_modify_is_for_the_providers_own_systems(persons: Registry, provider: System,
                                                          consumer: System) -> None:
    schema = json_schema_of([*person_fields(), household_size()])
    body = {"groupName": "人口", "catalogName": "人口基础信息库", "code": "persons", "schema": schema}
    refused = consumer("post", f"{DR}/database/modify", body, purpose=None)
    assert status_code(refused) == (403, "permission_denied")
    unknown = provider("post", f"{DR}/database/modify", {**body, "code": "no-such-registry"}, purpose=None)
    assert unknown.json() == refused.json()
    response = provider("post", f"{DR}/database/modify", body, purpose=None)
    assert response.status_code == 200
    added = response.json()["properties"]["household_size"]
    assert (added["type"], added["title"], added["x-zhengtong-label-en"]) == ("integer", "户人数", "household size")
    persons.refresh_from_db()
    assert persons.schema_version == 2
    assert AuditEntry.objects.get(action="registries.change_schema").actor_id == provider.client.key_id
    # The data API now answers at version 2 only.
    assert provider("get", f"{DR}/data/persons/2").status_code == 200
    assert status_code(provider("get", f"{DR}/data/persons/1")) == (409, "schema_version_mismatch")
    # The snake_case names of GovStack's test material are accepted too; a broken schema is named.
    broken = {"group_name": "人口", "catalog_name": "人口", "code": "persons", "schema": {"type": "object"}}
    invalid = provider("post", f"{DR}/database/modify", broken, purpose=None)
    assert (invalid.status_code, invalid.json()["details"][0]["field"]) == (422, "schema.properties")
    assert status_code(provider("post", f"{DR}/database/modify", {"code": "persons"}, purpose=None)) == (
        400, "bad_request")


def test_databases_are_not_deleted_through_the_api(persons: Registry, provider: System) -> None:
    assert status_code(provider("delete", f"{DR}/database/{persons.pk}", purpose=None)) == (501, "not_implemented")
    assert Registry.objects.filter(pk=persons.pk).exists()
