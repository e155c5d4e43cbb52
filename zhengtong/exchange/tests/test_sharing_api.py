"""The sharing API end to end: requests along each path, grants and their audited changes, and permissions —
404 for what a caller may not see, 403 for a step it may not take, every error in the platform's one shape."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from zhengtong.audit.models import AuditEntry
from zhengtong.catalog import actions as catalog
from zhengtong.catalog.models import OpeningType, ResourceFormat, ResourceKind, SharingType, UpdateCycle
from zhengtong.exchange import door
from zhengtong.exchange.models import Grant, GrantStatus, RequestStatus
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import roles

API = "/api/v1/sharing"


def send(client, method: str, path: str, body: Any = None, **headers: Any):
    return getattr(client, method)(API + path, json.dumps(body) if body is not None else None,
                                   content_type="application/json", HTTP_ACCEPT_LANGUAGE="en", **headers)


def as_user(client, user):
    client.force_login(user)
    return client


def request_body(asked_for, **changes: Any) -> dict[str, Any]:
    today = dt.date.today()
    body = {"resource": asked_for.pk, "purpose": "核查辖区户籍人口", "scenario": "户籍核查业务系统",
            "basis": "legal", "legal_basis": "《治安管理处罚法》", "fields": ["name", "division_code", "birth_date"],
            "row_filter": {"division_code": {"prefix": "330108"}}, "expected_daily_calls": 300,
            "valid_from": today.isoformat(), "valid_until": (today + dt.timedelta(days=365)).isoformat()}
    body.update(changes)
    return body


def submitted(client, consumer_officer, resource, **changes: Any) -> dict[str, Any]:
    response = send(as_user(client, consumer_officer), "post", "/requests", request_body(resource, **changes))
    assert response.status_code == 201, response.content
    return response.json()


def checked(client, consumer_officer, governance, resource) -> dict[str, Any]:
    number = submitted(client, consumer_officer, resource)["number"]
    response = send(as_user(client, governance), "post", f"/requests/{number}/check", {"conforms": True})
    assert response.status_code == 200, response.content
    return response.json()


# --- the path ----------------------------------------------------------------------------------------------


def test_a_conditional_request_is_checked_then_granted_on_narrower_terms(client, persons_resource,
                                                                         consumer_officer, governance,
                                                                         provider_officer):
    asked = submitted(client, consumer_officer, persons_resource)
    assert asked["status"] == RequestStatus.CHECKING and asked["consumer"]["code"] == "WEST-PSB"
    assert asked["check_due"] == asked["current_due"] and asked["grant"] is None and not asked["overdue"]

    number = asked["number"]
    review = send(as_user(client, governance), "post", f"/requests/{number}/check", {"conforms": True}).json()
    assert review["status"] == RequestStatus.PROVIDER_REVIEW and review["answer_due"] == review["current_due"]

    terms = {"fields": ["name", "division_code"], "valid_from": asked["valid_from"],
             "valid_until": asked["valid_until"], "masking_level": "pseudonymised", "field_rules": {"name": "null"},
             "row_filter": {"division_code": {"eq": "330108"}}, "daily_quota": 100, "rate_per_minute": 5}
    response = send(as_user(client, provider_officer), "post", f"/requests/{number}/answer",
                    {"grant": True, "terms": terms})
    assert response.status_code == 200, response.content
    answered = response.json()
    assert answered["status"] == RequestStatus.GRANTED and answered["grant"]

    grant = send(client, "get", f"/grants/{answered['grant']}").json()
    assert grant["fields"] == ["name", "division_code"] and grant["masking_level"] == "pseudonymised"
    assert grant["field_rules"] == {"name": "null"} and grant["row_filter"] == {"division_code": {"eq": "330108"}}
    assert (grant["daily_quota"], grant["rate_per_minute"]) == (100, 5) and grant["request"] == asked["number"]
    assert [h["action"] for h in grant["history"]] == [
        "exchange.submit_request", "exchange.check_request", "exchange.issue_grant", "exchange.answer_request"]


def test_a_resource_that_is_not_shared_is_refused_with_its_legal_basis(client, persons_resource,
                                                                       consumer_officer):
    catalog.update_resource(None, persons_resource, catalog.ResourceInput(
        name=persons_resource.name, summary=persons_resource.summary, kind=ResourceKind.BASE,
        format=ResourceFormat.DATABASE, item_code="01", category_code="001", update_cycle=UpdateCycle.DAILY,
        sharing_type=SharingType.NONE, legal_basis="《居民身份证法》第十九条", opening_type=OpeningType.CLOSED))
    refused = submitted(client, consumer_officer, persons_resource)
    assert refused["status"] == RequestStatus.REFUSED and refused["refused_by"] == "catalog"
    assert refused["refusal_reasons"] == "《居民身份证法》第十九条" and refused["current_due"] is None


@pytest.mark.parametrize("granted", [True, False])
def test_a_disputed_refusal_is_settled_either_way(client, persons_resource, consumer_officer, governance,
                                                  provider_officer, granted):
    number = checked(client, consumer_officer, governance, persons_resource)["number"]
    send(as_user(client, provider_officer), "post", f"/requests/{number}/answer",
         {"grant": False, "reasons": "出生日期不对外共享。"})
    disputed = send(as_user(client, consumer_officer), "post", f"/requests/{number}/dispute",
                    {"grounds": "依法需要"}).json()
    assert disputed["status"] == RequestStatus.DISPUTED and disputed["settle_due"] == disputed["current_due"]
    settled = send(as_user(client, governance), "post", f"/requests/{number}/settle",
                   {"grant": granted, "settlement": "经协调。"}).json()
    assert settled["status"] == (RequestStatus.GRANTED if granted else RequestStatus.REFUSED)
    assert (settled["grant"] is not None) == granted and settled["settlement"] == "经协调。"


def test_the_consumer_withdraws_a_request(client, persons_resource, consumer_officer):
    number = submitted(client, consumer_officer, persons_resource)["number"]
    withdrawn = send(client, "post", f"/requests/{number}/withdraw").json()
    assert withdrawn["status"] == RequestStatus.WITHDRAWN
    again = send(client, "post", f"/requests/{number}/withdraw")
    assert again.status_code == 409 and again.json()["code"] == "conflict"


# --- errors ------------------------------------------------------------------------------------------------


def test_errors_name_their_field_in_the_one_shape(client, persons_resource, consumer_officer, governance,
                                                  provider_officer):
    response = send(as_user(client, consumer_officer), "post", "/requests",
                    request_body(persons_resource, fields=[], legal_basis="", row_filter={"name": {"eq": "x"}}))
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "validation_error"
    assert {d["field"] for d in error["details"]} == {"fields", "legal_basis", "row_filter"}

    response = send(client, "post", "/requests", request_body(persons_resource, resource=999_999))
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "resource"

    number = checked(client, consumer_officer, governance, persons_resource)["number"]
    refused = send(as_user(client, provider_officer), "post", f"/requests/{number}/answer", {"grant": False})
    assert refused.status_code == 422 and refused.json()["details"] == [
        {"field": "reasons", "reason": "Give the reasons for refusing."}]
    wider = send(client, "post", f"/requests/{number}/answer", {"grant": True, "terms": {
        "fields": ["resident_id"], "valid_from": "2026-01-01", "valid_until": "2026-12-31"}})
    assert wider.status_code == 422 and wider.json()["details"][0]["field"] == "fields"
    late = send(as_user(client, governance), "post", f"/requests/{number}/check", {"conforms": True})
    assert late.status_code == 409 and late.json()["code"] == "conflict"


# --- grants ------------------------------------------------------------------------------------------------


def test_grant_changes_are_audited_from_and_to(client, make_grant, provider_officer):
    grant = make_grant(fields=("name", "division_code"))
    response = send(as_user(client, provider_officer), "patch", f"/grants/{grant.number}",
                    {"reason": "业务量增加", "daily_quota": 100, "masking_level": "pseudonymised"})
    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["daily_quota"] == 100 and changed["fields"] == ["name", "division_code"]  # the rest is kept
    entry = AuditEntry.objects.get(action="exchange.change_grant", object_id=grant.number)
    assert entry.detail["changes"] == {"daily_quota": {"from": None, "to": 100},
                                       "masking_level": {"from": "masked", "to": "pseudonymised"}}
    assert entry.detail["reason"] == "业务量增加" and entry.actor_id == str(provider_officer.pk)
    assert changed["history"][-1]["detail"]["changes"] == entry.detail["changes"]

    removed = send(client, "patch", f"/grants/{grant.number}", {"reason": "取消限额", "daily_quota": None})
    assert removed.status_code == 200 and removed.json()["daily_quota"] is None
    nothing = send(client, "patch", f"/grants/{grant.number}", {"reason": "无变化"})
    assert nothing.status_code == 422
    no_reason = send(client, "patch", f"/grants/{grant.number}", {"reason": " ", "rate_per_minute": 9})
    assert no_reason.status_code == 422 and no_reason.json()["details"][0]["field"] == "reason"
    assert send(client, "patch", f"/grants/{grant.number}", {"reason": "x", "fields": None}).status_code == 422


def test_suspend_resume_and_revoke_decide_what_the_door_allows(client, make_grant, provider_officer,
                                                               consumer_client, persons):
    grant = make_grant()
    api_client, _credential = consumer_client
    reader = door.Reader.system(api_client)

    def read() -> str:
        try:
            door.read_record(reader, persons, person(4), purpose="核验身份")
        except door.Refused as refused:
            return refused.code
        return "read"

    as_user(client, provider_officer)
    assert read() == "read"
    assert send(client, "post", f"/grants/{grant.number}/suspend", {"reason": "核查异常调用"}).json()["status"] == \
        GrantStatus.SUSPENDED
    assert read() == "grant_suspended"
    assert send(client, "post", f"/grants/{grant.number}/resume", {"reason": "核查完毕"}).json()["status"] == \
        GrantStatus.ACTIVE
    assert read() == "read"
    revoked = send(client, "post", f"/grants/{grant.number}/revoke", {"reason": "停止合作"}).json()
    assert revoked["status"] == GrantStatus.REVOKED and revoked["status_reason"] == "停止合作"
    assert read() == "grant_revoked"
    assert [h["detail"].get("from") for h in revoked["history"][-3:]] == ["active", "suspended", "active"]
    assert send(client, "post", f"/grants/{grant.number}/resume", {"reason": "再议"}).status_code == 409


# --- who sees what -----------------------------------------------------------------------------------------


def test_other_departments_get_404_and_steps_not_theirs_403(client, persons_resource, consumer_officer,
                                                            governance, provider_officer, make_staff, city,
                                                            make_grant):
    number = submitted(client, consumer_officer, persons_resource)["number"]
    grant = make_grant()
    outsider = make_staff(role_names=(roles.DATA_OFFICER,), trained=True, department=city["branch"])
    as_user(client, outsider)
    for method, path, body in (("get", f"/requests/{number}", None), ("post", f"/requests/{number}/withdraw", None),
                               ("get", f"/grants/{grant.number}", None),
                               ("post", f"/grants/{grant.number}/suspend", {"reason": "x"})):
        response = send(client, method, path, body)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path
    assert send(client, "get", "/requests").json()["count"] == 0
    assert send(client, "get", "/grants").json()["count"] == 0

    as_user(client, consumer_officer)
    check = send(client, "post", f"/requests/{number}/check", {"conforms": True})
    assert check.status_code == 403 and check.json()["code"] == "permission_denied"
    suspend = send(client, "post", f"/grants/{grant.number}/suspend", {"reason": "x"})
    assert suspend.status_code == 403
    assert Grant.objects.get(pk=grant.pk).status == GrantStatus.ACTIVE
    as_user(client, provider_officer)
    assert send(client, "post", f"/requests/{number}/withdraw").status_code == 403

    client.logout()
    assert send(client, "get", "/requests").status_code == 401


def test_lists_follow_the_side_asked_for(client, persons_resource, consumer_officer, provider_officer,
                                         governance, make_grant, city):
    number = submitted(client, consumer_officer, persons_resource)["number"]
    held, other = make_grant(), make_grant(consumer=city["branch"])
    assert [g["number"] for g in send(client, "get", "/grants?side=ours").json()["results"]] == [held.number]
    assert send(client, "get", "/grants?side=provided").json()["count"] == 0
    ours = send(client, "get", "/requests?side=ours").json()
    assert [r["number"] for r in ours["results"]] == [number]
    assert send(client, "get", "/requests?side=incoming").json()["count"] == 0
    wrong = send(client, "get", "/requests?side=queue")
    assert wrong.status_code == 422 and wrong.json()["details"][0]["field"] == "side"
    as_user(client, provider_officer)
    assert [r["number"] for r in send(client, "get", "/requests?side=incoming").json()["results"]] == [number]
    assert {g["number"] for g in send(client, "get", "/grants?side=provided").json()["results"]} == {
        held.number, other.number}
    as_user(client, governance)
    assert send(client, "get", "/grants?side=all").json()["count"] == 2
    assert send(client, "get", "/grants?side=ours").status_code == 422
    assert send(client, "get", "/requests?side=queue&status=checking").json()["count"] == 1
    assert send(client, "get", "/requests?side=queue&status=granted").json()["count"] == 0


def test_a_department_system_reads_its_own_requests_and_grants_and_takes_no_steps(
        client, persons_resource, consumer_officer, consumer_client, make_grant, city):
    number = submitted(client, consumer_officer, persons_resource)["number"]
    grant = make_grant()
    other = make_grant(consumer=city["branch"])
    client.logout()
    _api_client, credential = consumer_client
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {credential}"}
    assert [r["number"] for r in send(client, "get", "/requests", None, **bearer).json()["results"]] == [number]
    assert [g["number"] for g in send(client, "get", "/grants", None, **bearer).json()["results"]] == [grant.number]
    assert send(client, "get", f"/grants/{other.number}", None, **bearer).status_code == 404
    refused = send(client, "post", f"/requests/{number}/withdraw", None, **bearer)
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
