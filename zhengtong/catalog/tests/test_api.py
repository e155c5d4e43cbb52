"""The catalog API end to end: search with filters and paging, a resource with items, grade, rights and lineage,
describing and publishing an API resource, registering rights, certificates and their verification, disputes,
and errors in the platform's one shape."""

import json

import pytest

from zhengtong.catalog import actions
from zhengtong.catalog.models import Resource, RightsCertificate, RightsDispute, RightsRegistration
from zhengtong.catalog.tests.conftest import rights
from zhengtong.conftest import credit_code
from zhengtong.identity import actions as identity_actions
from zhengtong.identity import roles

API = "/api/v1/catalog"


def send(client, method, path, body=None):
    return getattr(client, method)(API + path, json.dumps(body) if body is not None else None,
                                   content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


def api_resource_body(**changes):
    body = {
        "provider": "CITY-CA", "name": "低保资格核验", "summary": "核验最低生活保障资格。", "kind": "departmental",
        "item_code": "02", "category_code": "001", "update_cycle": "daily", "sharing_type": "conditional",
        "sharing_condition": "办理救助事项时使用", "legal_basis": "《社会救助暂行办法》", "opening_type": "closed",
        "service": {"endpoint_url": "https://api.example.gov.cn/assistance/v1/eligibility", "http_method": "GET",
                    "service_description": "按身份证号码返回是否享受低保。",
                    "items": [{"name": "eligible", "label": "是否享受", "type": "boolean", "level": 3,
                               "sensitivity": "personal", "grade": 2},
                              {"name": "since", "label": "起始日期", "type": "date", "level": 2}]},
    }
    body.update(changes)
    return body


def test_creating_an_api_resource_answers_with_its_code_grade_and_items(officer_client):
    response = send(officer_client, "post", "/resources", api_resource_body())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "302001/000001" and body["status"] == "draft"
    assert (body["grade"], body["level"]) == (2, 3)
    assert [item["name"] for item in body["items"]] == ["eligible", "since"]
    assert body["service"]["http_method"] == "GET" and body["registry"] is None
    assert body["format"] == "api"


def test_a_missing_legal_basis_is_a_field_error_in_the_common_shape(officer_client):
    response = send(officer_client, "post", "/resources", api_resource_body(legal_basis=""))
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == ["legal_basis"]
    assert not Resource.objects.exists()


def test_a_state_secret_is_refused_by_the_api(officer_client):
    response = send(officer_client, "post", "/resources", api_resource_body(state_secret=True))
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "state_secret"
    assert not Resource.objects.exists()


def test_an_unknown_provider_is_named(officer_client):
    response = send(officer_client, "post", "/resources", api_resource_body(provider="NOPE"))
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "provider"


def test_another_departments_officer_is_refused(client, other_officer):
    client.force_login(other_officer)
    response = send(client, "post", "/resources", api_resource_body())
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_search_filters_and_pages(officer_client, make_resource, city):
    for number in range(3):
        make_resource(name=f"接口{number}", publish=True)
    make_resource(name="西山区接口", provider=city["other"], category_code="009", publish=True)
    page = send(officer_client, "get", "/resources?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2
    assert send(officer_client, "get", "/resources?page_size=2&page=2").json()["results"][1]["name"] == "西山区接口"
    assert [r["name"] for r in send(officer_client, "get", "/resources?provider=WEST-PSB").json()["results"]] == [
        "西山区接口"]
    assert send(officer_client, "get", "/resources?q=301009").json()["count"] == 1
    assert send(officer_client, "get", "/resources?level=3").json()["count"] == 4
    assert send(officer_client, "get", "/resources?level=4").json()["count"] == 0
    assert send(officer_client, "get", "/resources?sharing_type=unconditional").json()["count"] == 0
    bad = send(officer_client, "get", "/resources?grade=high")
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "grade"


def test_update_publish_register_certificate_and_dispute(officer_client, client, officer, governance):
    created = send(officer_client, "post", "/resources", api_resource_body()).json()
    path = f"/resources/{created['id']}"
    changed = send(officer_client, "put", path, {**api_resource_body(name="低保资格核验（新）"), "service": None})
    assert changed.status_code == 200 and changed.json()["name"] == "低保资格核验（新）"
    assert changed.json()["items"] == created["items"]  # the service is kept when left out
    published = send(officer_client, "post", path + "/publish")
    assert published.status_code == 200 and published.json()["status"] == "published"

    operator = {"right": "operation", "name": "云溪数据运营有限公司", "credit_code": credit_code(77, prefix="91")}
    registered = send(officer_client, "post", path + "/rights", {
        "holder_code": "CITY-CA", "source_system": "社会救助信息系统", "collection_legal_basis": "《社会救助暂行办法》",
        "holders": [{"right": "processing", "department_code": "EAST-CA"}, operator],
    })
    assert registered.status_code == 201, registered.content
    registration = registered.json()
    number = registration["number"]
    assert registration["certificate"]["valid"] is True and registration["disputed"] is False
    assert [h["right"] for h in registration["right_holders"]] == ["processing", "operation"]

    certificate = send(officer_client, "get", f"/rights/{number}/certificate").json()
    assert certificate["verification"]["valid"] and len(bytes.fromhex(certificate["signature"])) == 64
    assert json.loads(certificate["payload"])["registration"]["number"] == number

    RightsCertificate.objects.filter(registration__number=number).update(
        payload=certificate["payload"].replace("社会救助信息系统", "别的系统"))
    tampered = send(officer_client, "get", f"/rights/{number}/certificate/verify").json()
    assert tampered["valid"] is False and tampered["signature_valid"] is False
    RightsCertificate.objects.filter(registration__number=number).update(payload=certificate["payload"])

    disputed = send(officer_client, "post", f"/rights/{number}/disputes", {"reason": "持有权有异议"})
    assert disputed.status_code == 201
    again = send(officer_client, "post", f"/rights/{number}/disputes", {"reason": "再提"})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    dispute_id = disputed.json()["id"]
    assert send(officer_client, "post", f"/disputes/{dispute_id}/settle", {"settlement": "x"}).status_code == 403
    client.force_login(governance)
    settled = send(client, "post", f"/disputes/{dispute_id}/settle", {"settlement": "经核查登记无误"})
    assert settled.status_code == 200 and settled.json()["settled_by"] == governance.display_name
    amended = send(client, "put", f"/rights/{number}", {
        "holder_code": "CITY-CA", "source_system": "社会救助信息系统", "collection_legal_basis": "《社会救助暂行办法》",
        "reason": "经营权终止", "holders": []})
    assert amended.status_code == 200 and amended.json()["version"] == 2
    first = send(client, "get", f"/rights/{number}/certificate/verify?version=1").json()
    assert first["valid"] and first["superseded"]

    detail = send(client, "get", path).json()
    assert detail["rights"][0]["number"] == number and detail["rights"][0]["certificate"]["version"] == 2
    assert RightsDispute.objects.get().settled_at is not None


def test_a_resource_shows_lineage_both_ways(officer_client, make_resource, published):
    derived = make_resource(name="救助统计", sources=[published.pk], publish=True)
    source_view = send(officer_client, "get", f"/resources/{published.pk}").json()
    derived_view = send(officer_client, "get", f"/resources/{derived.pk}").json()
    assert [r["id"] for r in source_view["derived"]] == [derived.pk]
    assert [r["id"] for r in derived_view["sources"]] == [published.pk]


def test_drafts_of_other_departments_are_not_found(client, other_officer, make_resource):
    draft = make_resource()
    client.force_login(other_officer)
    response = send(client, "get", f"/resources/{draft.pk}")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_api_clients_read_published_resources_but_not_rights_or_changes(client, published, officer, city):
    actions.register_rights(officer, published, rights())
    issued = identity_actions.create_api_client(None, department=city["other"], name="西山区业务系统")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {issued.credential}"}
    listed = client.get(API + "/resources", **headers)
    assert listed.status_code == 200 and listed.json()["count"] == 1
    detail = client.get(f"{API}/resources/{published.pk}", **headers).json()
    assert detail["rights"] is None
    number = RightsRegistration.objects.get().number
    assert client.get(f"{API}/rights/{number}", **headers).status_code == 404
    refused = client.post(API + "/resources", json.dumps(api_resource_body()), content_type="application/json",
                          **headers)
    assert refused.status_code == 403


def test_leaders_read_but_do_not_see_rights(client, make_staff, published, officer):
    actions.register_rights(officer, published, rights())
    client.force_login(make_staff(role_names=(roles.LEADER,)))
    detail = send(client, "get", f"/resources/{published.pk}").json()
    assert detail["name"] == published.name and detail["rights"] is None


@pytest.mark.parametrize("bad", ["\x00", "\ud800"])
def test_text_that_cannot_be_stored_is_a_field_error_not_a_crash(officer_client, bad):
    body = api_resource_body(name=f"低保{bad}核验")
    body["service"]["items"][0]["label"] = f"是否{bad}享受"
    response = send(officer_client, "post", "/resources", body)
    assert response.status_code == 422, response.content
    assert {d["field"] for d in response.json()["details"]} == {"name", "items[0].label"}
    assert not Resource.objects.exists()
