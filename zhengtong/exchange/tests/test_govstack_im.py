"""The GovStack Information Mediator directory services under /govstack/im/, checked against the spec: every path
served is the spec's, with its method; answers have the spec's status codes and match its schemas; malformed path
segments are bad requests; and what is listed is the platform's real departments, systems, resources and grants."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from django.test import Client

from zhengtong.catalog import actions as catalog
from zhengtong.catalog.models import Resource
from zhengtong.catalog.tests.conftest import metadata, service
from zhengtong.exchange import actions
from zhengtong.exchange.directory import api
from zhengtong.exchange.models import Grant
from zhengtong.identity import actions as identity
from zhengtong.identity.models import ApiClient, Department
from zhengtong.registries.models import Registry
from zhengtong.tests.specs import govstack_spec

IM = "/govstack/im"
INSTANCE = "CN-YX"

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return govstack_spec("information-mediator/directory-services-api.yaml")


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


JSON_TYPES: dict[str, type | tuple[type, ...]] = {"object": dict, "array": list, "string": str, "integer": int,
                                                  "number": (int, float), "boolean": bool}


def check(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "body") -> None:
    """`value` fits the spec's schema: types, required properties, enumerations, recursively."""
    schema = resolve(spec, schema)
    expected = schema.get("type", "object")
    assert isinstance(value, JSON_TYPES[expected]), f"{where}: {value!r} is not {expected}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, f"{where}: {name} missing"
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                check(spec, sub, value[name], f"{where}.{name}")
    if isinstance(value, list):
        for n, item in enumerate(value):
            check(spec, schema.get("items", {}), item, f"{where}[{n}]")


def response_schema(spec: dict[str, Any], path: str, status: int) -> dict[str, Any]:
    answer = spec["paths"][path]["get"]["responses"][str(status)]
    return answer["content"]["application/json"]["schema"]


class System:
    """A department system calling the directory with its bearer credential and its X-GovStack-Client header."""

    def __init__(self, http: Client, client: ApiClient, credential: str):
        self.http, self.client, self.credential = http, client, credential
        self.label = f"{INSTANCE}/GOV/{client.department.credit_code}/{client.key_id}"

    def get(self, path: str, *, label: str | None = None, **headers: str) -> Any:
        extra: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {self.credential}", "HTTP_ACCEPT_LANGUAGE": "en",
                                 **headers}
        if label != "":
            extra["HTTP_X_GOVSTACK_CLIENT"] = label or self.label
        return self.http.get(IM + path, **extra)


def r1(system: System, operation: str) -> str:
    """The r1 path of an operation on a system's own member and application."""
    return f"/r1/{INSTANCE}/GOV/{system.client.department.credit_code}/{system.client.key_id}/{operation}"


@pytest.fixture
def consumer(client: Client, consumer_client: tuple[ApiClient, str]) -> System:
    return System(client, *consumer_client)


@pytest.fixture
def provider(client: Client, city: dict[str, Any]) -> System:
    issued = identity.create_api_client(None, department=city["bureau"], name="民政业务系统")
    return System(client, issued.client, issued.credential)


@pytest.fixture
def marriage_api(city: dict[str, Any]) -> Resource:
    """CITY-CA's own API, published in the catalog."""
    resource = catalog.create_api_resource(None, provider=city["bureau"], data=metadata(), service=service())
    return catalog.publish_resource(None, resource)


@pytest.fixture
def services(persons: Registry, marriage_api: Resource) -> tuple[Registry, Resource]:
    return persons, marriage_api


# --- the spec's paths and shapes ---------------------------------------------------------------------------


def test_every_served_path_and_method_is_in_the_spec(spec: dict[str, Any]) -> None:
    served = api.get_openapi_schema()["paths"]
    assert len(served) == 4
    for path, operations in served.items():
        path = path.removeprefix(IM)
        assert path in spec["paths"], path
        assert set(operations) <= set(spec["paths"][path]), path


def test_list_clients_lists_departments_with_active_systems_and_those_systems(
        spec: dict[str, Any], consumer: System, provider: System, city: dict[str, Any]) -> None:
    revoked = identity.create_api_client(None, department=city["branch"], name="停用系统").client
    identity.revoke_api_client(None, revoked)

    answer = consumer.get("/listClients")

    assert answer.status_code == 200
    body = answer.json()
    check(spec, response_schema(spec, "/listClients", 200), body)
    ids = [(entry["id"]["objectType"], entry["id"]["memberCode"], entry["id"].get("applicationCode"), entry["name"])
           for entry in body["member"]]
    bureau, other = city["bureau"].credit_code, city["other"].credit_code
    assert ids == [("MEMBER", bureau, None, "市民政局"),
                   ("APPLICATION", bureau, provider.client.key_id, "民政业务系统"),
                   ("MEMBER", other, None, "西山区公安分局"),
                   ("APPLICATION", other, consumer.client.key_id, "西山区警务综合平台")]
    assert {entry["id"]["instanceId"] for entry in body["member"]} == {INSTANCE}
    assert revoked.key_id not in answer.content.decode()


def test_list_clients_of_another_instance_is_not_found_and_a_malformed_one_is_a_bad_request(
        consumer: System) -> None:
    assert consumer.get(f"/listClients?instanceId={INSTANCE}").status_code == 200
    assert consumer.get("/listClients?instanceId=EE").status_code == 404
    malformed = consumer.get("/listClients?instanceId=a:b")
    assert malformed.status_code == 400
    assert malformed.json()["details"][0]["field"] == "instanceId"


def test_the_instance_is_a_setting(settings: Any, consumer: System) -> None:
    settings.IM_INSTANCE = "CN-ZJ"
    body = consumer.get("/listClients").json()
    assert {entry["id"]["instanceId"] for entry in body["member"]} == {"CN-ZJ"}
    assert consumer.get(r1(consumer, "listMethods"), label=consumer.label.replace(INSTANCE, "CN-ZJ")
                        ).status_code == 404


def test_list_methods_lists_the_providers_published_registries_and_apis(
        spec: dict[str, Any], consumer: System, provider: System, services: tuple[Registry, Resource],
        city: dict[str, Any]) -> None:
    persons, marriage_api = services
    draft = catalog.create_api_resource(None, provider=city["bureau"], data=metadata(name="草稿接口"),
                                        service=service())

    answer = consumer.get(r1(provider, "listMethods"))

    assert answer.status_code == 200
    body = answer.json()
    check(spec, response_schema(spec, "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/listMethods",
                                200), body)
    by_code = {entry["serviceCode"]: entry for entry in body["member"]}
    assert set(by_code) == {"persons", marriage_api.code}
    assert draft.code not in by_code
    registry = by_code["persons"]
    assert registry["serviceVersion"] == str(persons.schema_version)
    assert (registry["memberCode"], registry["applicationCode"]) == (city["bureau"].credit_code,
                                                                     provider.client.key_id)
    assert {(e["method"], e["path"]) for e in registry["endpointList"]["member"]} == {
        ("GET", "/records/{key}"), ("GET", "/records"), ("GET", "/export")}
    assert by_code[marriage_api.code]["endpointList"]["member"] == [{"method": "GET", "path": "/"}]

    only = consumer.get(r1(provider, "listMethods") + "?serviceId=persons").json()
    assert [entry["serviceCode"] for entry in only["member"]] == ["persons"]


def test_allowed_methods_follow_the_callers_grants(spec: dict[str, Any], consumer: System, provider: System,
                                                    services: tuple[Registry, Resource],
                                                    make_grant: Callable[..., Grant]) -> None:
    path = r1(provider, "allowedMethods")
    schema = response_schema(spec, "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/allowedMethods",
                             200)
    before = consumer.get(path)
    assert before.status_code == 200
    assert before.json() == {"member": []}

    grant = make_grant()
    after = consumer.get(path).json()
    check(spec, schema, after)
    assert [entry["serviceCode"] for entry in after["member"]] == ["persons"]

    actions.suspend_grant(None, grant, reason="核查期间暂停")
    assert consumer.get(path).json() == {"member": []}


def test_a_grant_not_yet_in_force_allows_nothing(consumer: System, provider: System,
                                                 services: tuple[Registry, Resource],
                                                 make_grant: Callable[..., Grant]) -> None:
    today = dt.date.today()
    make_grant(valid_from=today + dt.timedelta(days=3), valid_until=today + dt.timedelta(days=30))
    assert consumer.get(r1(provider, "allowedMethods")).json() == {"member": []}


def test_a_department_may_call_all_of_its_own_services(provider: System, services: tuple[Registry, Resource]
                                                       ) -> None:
    allowed = provider.get(r1(provider, "allowedMethods")).json()
    assert {entry["serviceCode"] for entry in allowed["member"]} == {"persons", services[1].code}


def test_get_openapi_of_a_hosted_registry_describes_the_gateway_with_its_fields(
        spec: dict[str, Any], consumer: System, provider: System, services: tuple[Registry, Resource]) -> None:
    answer = consumer.get(r1(provider, "getOpenAPI") + "?serviceCode=persons")

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/json")
    document = answer.json()
    assert document["openapi"].startswith("3.0")
    assert document["servers"] == [{"url": "http://testserver/api/v1/gateway/registries/persons"}]
    assert set(document["paths"]) == {"/records/{key}", "/records", "/export"}
    record = document["components"]["schemas"]["Record"]
    assert set(record["properties"]) == {"resident_id", "name", "phone", "division_code", "birth_date"}
    assert record["properties"]["birth_date"] == {"type": "string", "title": record["properties"]["birth_date"]
                                                  ["title"], "format": "date"}
    assert not any(key.startswith("x-") for prop in record["properties"].values() for key in prop)


def test_get_openapi_of_a_department_api_is_its_declared_items(consumer: System, provider: System,
                                                               services: tuple[Registry, Resource]) -> None:
    marriage_api = services[1]
    document = consumer.get(r1(provider, "getOpenAPI") + f"?serviceCode={marriage_api.code}").json()

    assert document["info"]["title"] == "婚姻登记核验接口"
    assert document["paths"]["/"]["get"]["description"].startswith("GET ?resident_id=")
    assert set(document["components"]["schemas"]["Answer"]["properties"]) == {"status", "registered_on"}
    assert document["servers"][0]["url"].endswith(f"/api/v1/gateway/services/{marriage_api.code}")


def test_get_openapi_as_yaml(consumer: System, provider: System, services: tuple[Registry, Resource]) -> None:
    answer = consumer.get(r1(provider, "getOpenAPI") + "?serviceCode=persons", HTTP_ACCEPT="text/yaml")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/yaml")
    assert yaml.safe_load(answer.content)["info"]["title"] == "人口基础信息库"


def test_get_openapi_needs_a_service_the_provider_offers(consumer: System, provider: System,
                                                         services: tuple[Registry, Resource]) -> None:
    missing = consumer.get(r1(provider, "getOpenAPI"))
    assert missing.status_code == 400
    assert missing.json()["details"][0]["field"] == "serviceCode"
    assert consumer.get(r1(provider, "getOpenAPI") + "?serviceCode=nothing").status_code == 404
    # The consumer's own department offers no persons registry.
    assert consumer.get(r1(consumer, "getOpenAPI") + "?serviceCode=persons").status_code == 404


# --- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("segment", "value"), [("instanceId", "CN;YX"), ("memberClass", "G%25V"),
                                                 ("memberCode", "a b"), ("applicationCode", "x" * 256)])
def test_malformed_path_segments_are_bad_requests(consumer: System, segment: str, value: str) -> None:
    parts = {"instanceId": INSTANCE, "memberClass": "GOV", "memberCode": consumer.client.department.credit_code,
             "applicationCode": consumer.client.key_id, segment: value}
    path = "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/listMethods".format(**parts)

    answer = consumer.get(path)

    assert answer.status_code == 400
    assert [d["field"] for d in answer.json()["details"]] == [segment]


@pytest.mark.parametrize("segment", ["instanceId", "memberClass", "memberCode", "applicationCode"])
def test_unknown_identifiers_are_not_found(consumer: System, segment: str) -> None:
    parts = {"instanceId": INSTANCE, "memberClass": "GOV", "memberCode": consumer.client.department.credit_code,
             "applicationCode": consumer.client.key_id, segment: "UNKNOWN"}
    path = "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/listMethods".format(**parts)
    assert consumer.get(path).status_code == 404


def test_a_revoked_system_is_no_application(consumer: System, provider: System) -> None:
    identity.revoke_api_client(None, provider.client)
    assert consumer.get(r1(provider, "listMethods")).status_code == 404


def test_a_member_code_must_go_with_its_own_application(consumer: System, provider: System) -> None:
    mixed = f"/r1/{INSTANCE}/GOV/{consumer.client.department.credit_code}/{provider.client.key_id}/listMethods"
    assert consumer.get(mixed).status_code == 404


def test_the_client_header_is_required_well_formed_and_names_the_caller(consumer: System, provider: System,
                                                                        city: dict[str, Any]) -> None:
    path = r1(provider, "listMethods")
    assert consumer.get(path, label="").status_code == 400
    assert consumer.get(path, label="just-a-name").json()["details"][0]["field"] == "X-GovStack-Client"
    assert consumer.get(path, label=provider.label).status_code == 400
    assert consumer.get(path).status_code == 200


def test_systems_only(client: Client, provider: System, city: dict[str, Any],
                      make_staff: Callable[..., Any]) -> None:
    assert client.get(IM + "/listClients").status_code == 401
    client.force_login(make_staff(department=city["bureau"]))
    assert client.get(IM + "/listClients").status_code == 401
    wrong = client.get(IM + "/listClients", HTTP_AUTHORIZATION="Bearer nobody.nothing")
    assert wrong.status_code == 401
    assert set(json.loads(wrong.content)) == {"code", "message", "details"}


def test_a_department_without_systems_is_not_listed(consumer: System, city: dict[str, Any]) -> None:
    names = {entry["name"] for entry in consumer.get("/listClients").json()["member"]}
    assert Department.objects.get(code="CITY-CA").name not in names
