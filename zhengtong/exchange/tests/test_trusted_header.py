"""The Information-Mediator-Client header: from an address the operator trusts (an X-Road security server) it
alone identifies the calling system, mapped to the API client whose department's credit code is the MEMBER and
whose key id is the SUBSYSTEM; an unknown, revoked or malformed header from there is unauthenticated; from any
other address it is only a label, and the caller must still authenticate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from zhengtong.audit.models import AuditEntry
from zhengtong.config import ConfigError, load_config
from zhengtong.exchange.callers import MediatorClient, is_trusted_address, parse_mediator_client
from zhengtong.exchange.models import Grant
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import actions as identity
from zhengtong.identity.models import ApiClient
from zhengtong.registries.models import Registry

MEDIATOR = "10.20.0.7"  # the security server
ELSEWHERE = "192.0.2.10"
PURPOSE = "治安管理核验身份"
READ = f"/api/v1/gateway/registries/persons/records/{person(1)}"
DR_LIST = "/govstack/dr/data/persons/1"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _trusted_mediator(settings: Any) -> None:
    settings.IM_TRUSTED_NETWORKS = ["10.20.0.0/24", "2001:db8::/64"]


@pytest.fixture
def granted(persons: Registry, make_grant: Callable[..., Grant]) -> Grant:
    return make_grant()


def header_of(client: ApiClient, member: str | None = None) -> str:
    return f"CN/GOV/{member or client.department.credit_code}/{client.key_id}"


def get(client: Client, path: str, *, address: str, header: str | None = None, credential: str | None = None,
        **params: Any) -> Any:
    extra: dict[str, Any] = {"REMOTE_ADDR": address}
    if header is not None:
        extra["HTTP_INFORMATION_MEDIATOR_CLIENT"] = header
    if credential is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {credential}"
    return client.get(path, {"purpose": PURPOSE, **params}, **extra)


def test_from_the_trusted_mediator_the_header_alone_identifies_the_system(
        client: Client, granted: Grant, consumer_client: tuple[ApiClient, str]) -> None:
    system, _credential = consumer_client
    response = get(client, READ, address=MEDIATOR, header=header_of(system))
    assert response.status_code == 200
    assert response.json()["values"]["name"] == "王**"
    entry = AuditEntry.objects.filter(action="exchange.read").latest("pk")
    assert (entry.actor_kind, entry.actor_id, entry.client_address) == ("api_client", system.key_id, MEDIATOR)
    assert entry.detail["calling_system"] == header_of(system)
    # The GovStack API takes it the same way.
    assert get(client, DR_LIST, address=MEDIATOR, header=header_of(system)).status_code == 200
    # IPv6 security servers too.
    assert get(client, READ, address="2001:db8::5", header=header_of(system)).status_code == 200


def test_from_any_other_address_the_header_alone_is_not_enough(
        client: Client, granted: Grant, consumer_client: tuple[ApiClient, str]) -> None:
    system, _credential = consumer_client
    for path in (READ, DR_LIST):
        response = get(client, path, address=ELSEWHERE, header=header_of(system))
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
    assert not AuditEntry.objects.filter(action="exchange.read").exists()


def test_with_no_trusted_networks_configured_no_address_is_trusted(
        client: Client, granted: Grant, consumer_client: tuple[ApiClient, str], settings: Any) -> None:
    settings.IM_TRUSTED_NETWORKS = []
    assert get(client, READ, address=MEDIATOR, header=header_of(consumer_client[0])).status_code == 401


def test_an_unknown_revoked_or_malformed_header_from_the_mediator_is_unauthenticated(
        client: Client, granted: Grant, consumer_client: tuple[ApiClient, str], city: dict[str, Any]) -> None:
    system, _credential = consumer_client
    other = identity.create_api_client(None, department=city["bureau"], name="民政业务系统").client
    refused = {
        "unknown subsystem": f"CN/GOV/{system.department.credit_code}/0000000000000000",
        # Another member's credit code with this client's key id: the member must be the client's department.
        "someone else's member": header_of(system, member=other.department.credit_code),
        "malformed": "police-platform",
        "too few parts": f"CN/{system.department.credit_code}/{system.key_id}",
        "empty": "",
    }
    for case, header in refused.items():
        for path in (READ, DR_LIST):
            response = get(client, path, address=MEDIATOR, header=header)
            assert response.status_code == 401, (case, path)
    identity.revoke_api_client(None, system)
    assert get(client, READ, address=MEDIATOR, header=header_of(system)).status_code == 401


def test_a_bearer_credential_wins_and_the_header_is_then_a_label(
        client: Client, granted: Grant, consumer_client: tuple[ApiClient, str], city: dict[str, Any]) -> None:
    system, credential = consumer_client
    other = identity.create_api_client(None, department=city["bureau"], name="民政业务系统").client
    label = header_of(other)
    for address in (MEDIATOR, ELSEWHERE):
        assert get(client, READ, address=address, header=label, credential=credential).status_code == 200
        entry = AuditEntry.objects.filter(action="exchange.read").latest("pk")
        assert (entry.actor_id, entry.detail["calling_system"]) == (system.key_id, label)
    # A wrong credential is not rescued by a header naming a good client.
    response = get(client, READ, address=MEDIATOR, header=header_of(system), credential=f"{system.key_id}.wrong")
    assert response.status_code == 401


def test_a_malformed_label_beside_a_credential_is_a_bad_request(
        client: Client, granted: Grant, consumer_client: tuple[ApiClient, str]) -> None:
    _system, credential = consumer_client
    for address in (MEDIATOR, ELSEWHERE):
        response = get(client, READ, address=address, header="a/b/c", credential=credential)
        assert (response.status_code, response.json()["code"]) == (400, "bad_mediator_header")


def test_the_govstack_api_requires_the_header(client: Client, granted: Grant,
                                              consumer_client: tuple[ApiClient, str]) -> None:
    _system, credential = consumer_client
    response = get(client, DR_LIST, address=ELSEWHERE, credential=credential)
    assert (response.status_code, response.json()["code"]) == (400, "bad_mediator_header")
    assert response.json()["details"][0]["field"] == "Information-Mediator-Client"
    # The gateway does not: there the header is an optional label.
    assert get(client, READ, address=ELSEWHERE, credential=credential).status_code == 200


def test_the_header_is_parsed_into_its_four_parts() -> None:
    assert parse_mediator_client(" eGovStack/GOV/90000009/digitalregistries ") == MediatorClient(
        "eGovStack", "GOV", "90000009", "digitalregistries")
    assert str(parse_mediator_client("eGovStack/GOV/90000009/digitalregistries")) == \
        "eGovStack/GOV/90000009/digitalregistries"
    for malformed in ("", "a/b/c", "a/b/c/d/e", "a//c/d", "a/b c/d/e", "a/b/c/" + "d" * 101):
        assert parse_mediator_client(malformed) is None, malformed


def test_trusted_addresses_are_the_configured_networks_only(settings: Any) -> None:
    settings.IM_TRUSTED_NETWORKS = ["10.20.0.0/24", "2001:db8::1"]
    assert is_trusted_address("10.20.0.255") and is_trusted_address("2001:db8::1")
    assert not any(is_trusted_address(a) for a in ("10.20.1.1", "2001:db8::2", "", None, "not-an-address"))


def test_the_trusted_networks_setting_is_parsed_and_bad_values_named(tmp_path: Any) -> None:
    config = load_config({"ZHENGTONG_IM_TRUSTED_NETWORKS": "10.20.0.0/24, 2001:db8::/64"}, default_var_dir=tmp_path)
    assert config["ZHENGTONG_IM_TRUSTED_NETWORKS"] == ["10.20.0.0/24", "2001:db8::/64"]
    assert load_config({}, default_var_dir=tmp_path)["ZHENGTONG_IM_TRUSTED_NETWORKS"] == []
    with pytest.raises(ConfigError) as error:
        load_config({"ZHENGTONG_IM_TRUSTED_NETWORKS": "10.20.0.0/24,security-server"}, default_var_dir=tmp_path)
    assert "security-server" in error.value.problems["ZHENGTONG_IM_TRUSTED_NETWORKS"]
    assert load_config({"ZHENGTONG_BENCH_BASELINE": "on"}, default_var_dir=tmp_path)["ZHENGTONG_BENCH_BASELINE"]
    with pytest.raises(ConfigError) as error:
        load_config({"ZHENGTONG_BENCH_BASELINE": "maybe"}, default_var_dir=tmp_path)
    assert "ZHENGTONG_BENCH_BASELINE" in error.value.problems
