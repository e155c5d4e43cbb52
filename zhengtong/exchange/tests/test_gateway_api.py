"""The gateway API over HTTP: department systems read records by key and search them through the one door, with
a purpose on every call; each refusal answers with its own code and status; a refused call tells nothing about
whether the registry or the record exists; values come masked; every read is audited with the calling system,
purpose and fields; only systems get in; and the benchmark's baseline endpoint exists only when a setting says so.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from zhengtong.audit.models import AuditEntry, Result
from zhengtong.conftest import resident_id
from zhengtong.exchange import actions
from zhengtong.exchange.models import Grant
from zhengtong.exchange.tests.conftest import EAST, WEST, person
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import ApiClient, User
from zhengtong.registries.models import Registry

GATEWAY = "/api/v1/gateway"
PURPOSE = "治安管理核验身份"
MISSING = resident_id(44)  # a valid resident ID no record holds
LABEL = "CN/GOV/113301080000000034/police-platform"

pytestmark = pytest.mark.django_db


@pytest.fixture
def credential(consumer_client: tuple[ApiClient, str]) -> str:
    return consumer_client[1]


def call(client: Client, path: str, credential: str | None = None, **params: Any) -> Any:
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {credential}"} if credential else {}
    return client.get(GATEWAY + path, params, **headers)


def by_key(client: Client, credential: str | None, key: str = person(1), registry: str = "persons",
           **params: Any) -> Any:
    params.setdefault("purpose", PURPOSE)
    return call(client, f"/registries/{registry}/records/{key}", credential, **params)


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# --- reading ---------------------------------------------------------------------------------------------------


def test_a_system_reads_a_record_by_key_masked_by_its_grant(client: Client, persons: Registry,
                                                            make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    response = by_key(client, credential)
    assert response.status_code == 200
    body = response.json()
    assert (body["registry"], body["version"]) == ("persons", 1)
    assert body["values"] == {"resident_id": person(1)[:6] + "********" + person(1)[-4:], "name": "王**",
                              "phone": "138****8001", "division_code": EAST, "birth_date": "1985"}
    assert sorted(body["masked"]) == ["birth_date", "name", "phone", "resident_id"]


def test_a_grant_in_clear_returns_the_full_values(client: Client, persons: Registry,
                                                   make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant(masking_level="clear")
    body = by_key(client, credential).json()
    assert (body["values"]["resident_id"], body["values"]["name"], body["masked"]) == (person(1), "王小明", [])


def test_fields_asked_for_are_the_fields_returned(client: Client, persons: Registry,
                                                  make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    body = by_key(client, credential, fields="name, division_code").json()
    assert body["values"] == {"name": "王**", "division_code": EAST}


def test_a_search_filters_by_fields_and_pages(client: Client, persons: Registry,
                                              make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    first = call(client, "/registries/persons/records", credential, purpose=PURPOSE, division_code=EAST,
                 page_size=2).json()
    assert (first["total"], first["page"], first["page_size"], first["has_next"]) == (3, 1, 2, True)
    assert [item["values"]["name"] for item in first["items"]] == ["王**", "李*"]
    second = call(client, "/registries/persons/records", credential, purpose=PURPOSE, division_code=EAST,
                  page_size=2, page=2).json()
    assert (len(second["items"]), second["has_next"]) == (1, False)
    assert second["items"][0]["values"]["resident_id"].endswith(person(3)[-4:])


def test_a_search_parameter_that_is_no_field_is_refused_by_name(client: Client, persons: Registry,
                                                                make_grant: Callable[..., Grant],
                                                                credential: str) -> None:
    make_grant()
    response = call(client, "/registries/persons/records", credential, purpose=PURPOSE, nickname="小明")
    assert error_of(response) == (422, "validation_error")
    assert response.json()["details"][0]["field"] == "nickname"
    repeated = client.get(GATEWAY + "/registries/persons/records?purpose=p&division_code=1&division_code=2",
                          HTTP_AUTHORIZATION=f"Bearer {credential}")
    assert (repeated.status_code, repeated.json()["details"][0]["field"]) == (422, "division_code")


def test_a_purpose_may_come_in_the_x_purpose_header_in_utf8(client: Client, persons: Registry,
                                                            make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    # Header values travel as bytes; Django hands them over decoded as ISO-8859-1.
    response = client.get(f"{GATEWAY}/registries/persons/records/{person(2)}",
                          HTTP_AUTHORIZATION=f"Bearer {credential}",
                          HTTP_X_PURPOSE=PURPOSE.encode().decode("latin-1"))
    assert response.status_code == 200
    assert AuditEntry.objects.filter(action="exchange.read").latest("pk").purpose == PURPOSE


def test_a_purpose_longer_than_the_audit_trail_keeps_is_refused_by_name(client: Client, persons: Registry,
                                                                       make_grant: Callable[..., Grant],
                                                                       credential: str) -> None:
    make_grant()
    response = by_key(client, credential, purpose="核" * 201)
    assert error_of(response) == (422, "validation_error")
    assert response.json()["details"][0]["field"] == "purpose"


# --- every refusal over HTTP -----------------------------------------------------------------------------------


def _expired(make_grant: Callable[..., Grant], **terms: Any) -> Grant:
    today = timezone.localdate()
    return make_grant(valid_from=today - dt.timedelta(days=30), valid_until=today - dt.timedelta(days=1), **terms)


def _consent_withdrawn(make_grant: Callable[..., Grant], **terms: Any) -> Grant:
    grant = make_grant(basis="consent", **terms)
    consent = actions.give_consent(None, subject=person(1), resource=grant.resource, consumer=grant.consumer,
                                   purpose=PURPOSE)
    actions.withdraw_consent(None, consent, subject=person(1))
    return grant


REFUSALS: dict[str, tuple[Callable[..., Any], dict[str, Any], int]] = {
    # code: (how the grant is made, the call's parameters, status)
    "no_purpose": (lambda make: make(), {"purpose": ""}, 403),
    "no_grant": (lambda make: None, {}, 403),
    "grant_expired": (_expired, {}, 403),
    "grant_revoked": (lambda make: actions.revoke_grant(None, make(), reason="违规调用"), {}, 403),
    "grant_suspended": (lambda make: actions.suspend_grant(None, make(), reason="核查中"), {}, 403),
    "field_not_granted": (lambda make: make(fields=("resident_id", "name")), {"fields": "phone"}, 403),
    "outside_row_scope": (lambda make: make(row_filter={"division_code": {"eq": EAST}}), {"key": person(4)}, 403),
    "consent_withdrawn": (_consent_withdrawn, {}, 403),
    "consent_missing": (lambda make: make(basis="consent"), {}, 403),
    "not_found": (lambda make: make(), {"key": MISSING}, 404),
}


@pytest.mark.parametrize("code", list(REFUSALS))
def test_every_refusal_answers_its_own_code_and_status(code: str, client: Client, persons: Registry,
                                                       make_grant: Callable[..., Grant], credential: str) -> None:
    make, params, status = REFUSALS[code]
    make(make_grant)
    response = by_key(client, credential, **params)
    assert error_of(response) == (status, code)
    body = response.json()
    assert body["message"] and isinstance(body["details"], list)
    entry = AuditEntry.objects.filter(action="exchange.read_refused").latest("pk")
    assert (entry.result, entry.detail["reason"]) == (Result.DENIED, code)
    assert not AuditEntry.objects.filter(action="exchange.read").exists()


@pytest.mark.parametrize(("limit", "code"), [("daily_quota", "quota_exceeded"), ("rate_per_minute", "rate_limited")])
def test_quota_and_rate_answer_429(limit: str, code: str, client: Client, persons: Registry,
                                   make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant(**{limit: 2})
    assert by_key(client, credential).status_code == 200
    assert call(client, "/registries/persons/records", credential, purpose=PURPOSE).status_code == 200
    assert error_of(by_key(client, credential, key=person(2))) == (429, code)


def test_a_refused_call_tells_nothing_about_what_exists(client: Client, persons: Registry, credential: str) -> None:
    """Without a grant: an existing record, a missing one, a malformed key and a registry that does not exist
    all get the same answer, each audited as a refusal."""
    answers = [by_key(client, credential, key=person(1)), by_key(client, credential, key=MISSING),
               by_key(client, credential, key="not-an-id"), by_key(client, credential, registry="no-such-registry"),
               call(client, "/registries/no-such-registry/records", credential, purpose=PURPOSE, page=1)]
    assert {(r.status_code, r.json()["code"], r.json()["message"]) for r in answers} == {
        (403, "no_grant", answers[0].json()["message"])}
    assert AuditEntry.objects.filter(action__in=("exchange.read_refused", "exchange.search_refused"),
                                     detail__reason="no_grant").count() == 5
    # Without a purpose too, the registry that does not exist answers as the one that does.
    unpurposed = {error_of(by_key(client, credential, registry=code, purpose="")) for code in ("persons", "nothing")}
    assert unpurposed == {(403, "no_purpose")}
    # Paging is checked alike for both.
    paging = {error_of(call(client, f"/registries/{code}/records", credential, purpose=PURPOSE, page=0))
              for code in ("persons", "nothing")}
    assert paging == {(422, "validation_error")}


def test_under_a_row_scope_a_missing_record_answers_as_one_outside_it(client: Client, persons: Registry,
                                                                     make_grant: Callable[..., Grant],
                                                                     credential: str) -> None:
    make_grant(row_filter={"division_code": {"eq": EAST}})
    outside, missing = by_key(client, credential, key=person(4)), by_key(client, credential, key=MISSING)
    assert error_of(outside) == error_of(missing) == (403, "outside_row_scope")
    assert outside.json() == missing.json()


# --- who may call ----------------------------------------------------------------------------------------------


def test_only_authenticated_active_systems_get_in(client: Client, persons: Registry, make_grant: Callable[..., Grant],
                                                  consumer_client: tuple[ApiClient, str],
                                                  make_staff: Callable[..., User], city: dict[str, Any]) -> None:
    make_grant()
    system, credential = consumer_client
    key_id = credential.partition(".")[0]
    assert error_of(by_key(client, None)) == (401, "not_authenticated")
    assert error_of(by_key(client, f"{key_id}.wrong-secret")) == (401, "not_authenticated")
    assert error_of(by_key(client, "nobody.secret")) == (401, "not_authenticated")
    # A staff member's browser session is not a system, even with the right to read records.
    officer = make_staff(role_names=(roles.DATA_OFFICER,), trained=True, department=city["other"])
    client.force_login(officer)
    assert error_of(by_key(client, None)) == (401, "not_authenticated")
    client.logout()
    assert by_key(client, credential).status_code == 200
    identity.revoke_api_client(None, system)
    assert error_of(by_key(client, credential)) == (401, "not_authenticated")


# --- the audit trail -------------------------------------------------------------------------------------------


def test_every_read_is_audited_with_calling_system_purpose_and_fields(client: Client, persons: Registry,
                                                                      make_grant: Callable[..., Grant],
                                                                      consumer_client: tuple[ApiClient, str]) -> None:
    grant = make_grant(fields=("resident_id", "name", "phone", "division_code"))
    system, credential = consumer_client
    response = client.get(f"{GATEWAY}/registries/persons/records/{person(1)}",
                          {"purpose": PURPOSE, "case_reference": "西公(治)2026-17", "fields": "name,phone"},
                          HTTP_AUTHORIZATION=f"Bearer {credential}", HTTP_INFORMATION_MEDIATOR_CLIENT=LABEL)
    assert response.status_code == 200
    entry = AuditEntry.objects.filter(action="exchange.read").latest("pk")
    assert (entry.actor_kind, entry.actor_id, entry.actor_department) == ("api_client", system.key_id, "WEST-PSB")
    assert (entry.purpose, entry.case_reference, entry.fields) == (PURPOSE, "西公(治)2026-17", ["name", "phone"])
    assert (entry.detail["calling_system"], entry.detail["grant"]) == (LABEL, grant.number)
    assert len(entry.subjects) == 1
    refused = client.get(f"{GATEWAY}/registries/persons/records/{person(1)}",
                         {"purpose": PURPOSE, "fields": "birth_date"},
                         HTTP_AUTHORIZATION=f"Bearer {credential}", HTTP_INFORMATION_MEDIATOR_CLIENT=LABEL)
    assert error_of(refused) == (403, "field_not_granted")
    denied = AuditEntry.objects.filter(action="exchange.read_refused").latest("pk")
    assert (denied.purpose, denied.detail["calling_system"], denied.detail["fields"]) == (PURPOSE, LABEL,
                                                                                         ["birth_date"])


def test_a_malformed_calling_system_label_is_a_bad_request(client: Client, persons: Registry,
                                                           make_grant: Callable[..., Grant], credential: str) -> None:
    make_grant()
    response = client.get(f"{GATEWAY}/registries/persons/records/{person(1)}", {"purpose": PURPOSE},
                          HTTP_AUTHORIZATION=f"Bearer {credential}", HTTP_INFORMATION_MEDIATOR_CLIENT="police")
    assert error_of(response) == (400, "bad_mediator_header")
    assert response.json()["details"][0]["field"] == "Information-Mediator-Client"


# --- the benchmark's baseline ------------------------------------------------------------------------------------


def test_the_baseline_endpoint_does_not_exist_unless_the_setting_is_on(client: Client, persons: Registry,
                                                                      credential: str, settings: Any) -> None:
    path = f"/registries/persons/records/{person(1)}"
    off = call(client, "/baseline" + path, credential)
    nowhere = call(client, "/no-such-endpoint" + path, credential)
    assert off.status_code == nowhere.status_code == 404
    assert off.json()["code"] == nowhere.json()["code"] == "not_found"
    assert off.json()["message"] == nowhere.json()["message"].replace("/no-such-endpoint", "/baseline")
    assert error_of(call(client, "/baseline" + path)) == (404, "not_found")  # not even asking who calls

    settings.BENCH_BASELINE = True
    entries = AuditEntry.objects.count()
    on = call(client, "/baseline" + path, credential)
    assert on.status_code == 200
    assert on.json()["values"]["resident_id"] == person(1) and on.json()["values"]["name"] == "王小明"
    assert on.json()["masked"] == []
    assert AuditEntry.objects.count() == entries  # no audit: it is the baseline the door is measured against
    assert error_of(call(client, "/baseline" + path)) == (401, "not_authenticated")
    assert error_of(call(client, f"/baseline/registries/persons/records/{MISSING}", credential)) == (404, "not_found")


# --- exporting -------------------------------------------------------------------------------------------------


def test_a_system_exports_the_rows_of_its_grant_masked_and_audited(client: Client, persons: Registry,
                                                                   make_grant: Callable[..., Grant],
                                                                   credential: str) -> None:
    make_grant(row_filter={"division_code": {"eq": WEST}}, fields=("resident_id", "name", "division_code"))
    response = call(client, "/registries/persons/export", credential, purpose=PURPOSE, format="json")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    rows = json.loads(b"".join(response.streaming_content))
    assert [row["name"] for row in rows] == ["赵*", "钱*"]
    assert all(set(row) == {"resident_id", "name", "division_code"} and "*" in row["resident_id"] for row in rows)
    entry = AuditEntry.objects.get(action="exchange.export")
    assert (entry.actor_kind, entry.purpose, len(entry.detail["records"])) == ("api_client", PURPOSE, 2)


def test_an_export_is_refused_before_any_output(client: Client, persons: Registry, credential: str) -> None:
    response = call(client, "/registries/persons/export", credential, purpose=PURPOSE, format="csv")
    assert error_of(response) == (403, "no_grant")
    bad = call(client, "/registries/persons/export", credential, purpose=PURPOSE, format="pdf")
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "format"
