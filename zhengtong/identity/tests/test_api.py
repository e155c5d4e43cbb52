"""The identity API: real-name registration with field errors, API-client credentials, session CSRF."""

import json

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from stdnum.cn import ric

from zhengtong.conftest import credit_code, resident_id
from zhengtong.identity import actions, roles
from zhengtong.identity.models import ApiClient, Business, Citizen, DataScope

API = "/api/v1"


def post_json(client, path, body, **headers):
    headers.setdefault("HTTP_ACCEPT_LANGUAGE", "en")
    return client.post(API + path, json.dumps(body), content_type="application/json", **headers)


def with_check_digit(body17):
    return body17 + ric.calc_check_digit(body17 + "0")


@pytest.fixture
def clerk_client(client, window_clerk):
    client.force_login(window_clerk)
    return client


def test_registering_a_citizen_answers_with_masked_numbers(clerk_client):
    number = resident_id(7, born=__import__("datetime").date(1990, 3, 15), male=False)
    response = post_json(clerk_client, "/citizens", {"name": "欧阳娜娜", "resident_id": number,
                                                     "phone": "13912345678", "division_code": "330106"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["resident_id"] == number[:6] + "********" + number[-4:]
    assert body["phone"] == "139****5678"
    assert body["name"].startswith("欧") and "娜娜" not in body["name"]
    assert body["gender"] == "F" and body["birth_year"] == 1990
    assert Citizen.objects.get(resident_id=number).name == "欧阳娜娜"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("resident_id", resident_id(8)[:-1] + ("1" if resident_id(8)[-1] != "1" else "2"), "check digit"),
        ("resident_id", "33010619850601001", "length"),
        ("resident_id", with_check_digit("33010619851301001"), "birth"),
        ("phone", "23800138000", "11 digits"),
        ("name", "  ", "required"),
    ],
)
def test_invalid_citizen_fields_are_named_and_nothing_is_written(clerk_client, field, value, reason):
    body = {"name": "李四", "resident_id": resident_id(8), "phone": "13800138000", field: value}
    response = post_json(clerk_client, "/citizens", body)
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == [field]
    assert reason in error["details"][0]["reason"]
    assert Citizen.objects.count() == 0


def test_a_missing_field_is_named_in_the_same_error_shape(clerk_client):
    response = post_json(clerk_client, "/citizens", {"name": "李四"})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "resident_id"


def test_a_duplicate_resident_id_is_a_conflict(clerk_client):
    body = {"name": "李四", "resident_id": resident_id(8)}
    assert post_json(clerk_client, "/citizens", body).status_code == 201
    response = post_json(clerk_client, "/citizens", body)
    assert response.status_code == 409
    assert response.json()["details"][0]["field"] == "resident_id"


def test_registering_needs_the_permission(client, make_staff):
    client.force_login(make_staff(role_names=(roles.LEADER,)))
    response = post_json(client, "/citizens", {"name": "李四", "resident_id": resident_id(8)})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_anonymous_callers_are_told_how_to_authenticate(client, db):
    response = post_json(client, "/citizens", {"name": "李四", "resident_id": resident_id(8)})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_businesses_need_a_valid_credit_code_and_a_registered_representative(clerk_client):
    representative = resident_id(9)
    actions.register_citizen(None, actions.CitizenInput("张三", representative))
    bad = post_json(clerk_client, "/businesses", {"name": "云溪科技有限公司", "credit_code": "91330100MA27XYZ12X",
                                                  "legal_representative_id": representative})
    assert bad.status_code == 422
    assert bad.json()["details"][0]["field"] == "credit_code"
    code = credit_code(5, prefix="91")
    nobody = post_json(clerk_client, "/businesses", {"name": "云溪科技有限公司", "credit_code": code,
                                                     "legal_representative_id": resident_id(10)})
    assert nobody.json()["details"][0]["field"] == "legal_representative_id"
    good = post_json(clerk_client, "/businesses", {"name": "云溪科技有限公司", "credit_code": code,
                                                   "legal_representative_id": representative})
    assert good.status_code == 201
    assert Business.objects.get().legal_representative.name == "张三"


def test_session_writes_need_the_csrf_token(window_clerk):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(window_clerk)
    response = post_json(browser, "/citizens", {"name": "李四", "resident_id": resident_id(8)})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    browser.get("/")  # sets the CSRF cookie, as every page with a form does
    token = browser.cookies["csrftoken"].value
    response = post_json(browser, "/citizens", {"name": "李四", "resident_id": resident_id(8)},
                         HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


@pytest.fixture
def officer_client(client, make_staff, city):
    client.force_login(make_staff(role_names=(roles.DATA_OFFICER,), department=city["branch"]))
    return client


def test_a_credential_is_shown_once_stored_hashed_and_attributable(officer_client, client_factory=Client):
    response = post_json(officer_client, "/api-clients", {"department": "EAST-CA", "name": "低保核对系统"})
    assert response.status_code == 201
    credential = response.json()["credential"]
    key_id, secret = credential.split(".")
    stored = ApiClient.objects.get(key_id=key_id)
    assert secret not in stored.secret_hash and len(stored.secret_hash) == 64
    listed = officer_client.get(API + "/api-clients").json()
    assert "credential" not in listed[0]
    system = client_factory()
    me = system.get(API + "/me", HTTP_AUTHORIZATION=f"Bearer {credential}").json()
    assert me == {"kind": "api_client", "name": "低保核对系统", "department": "EAST-CA", "roles": [],
                  "data_scope": None, "api_client": key_id}
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_wrong_and_revoked_credentials_are_refused(officer_client):
    issued = post_json(officer_client, "/api-clients", {"department": "EAST-CA", "name": "系统"})
    credential = issued.json()["credential"]
    key_id = credential.split(".")[0]
    system = Client()
    assert system.get(API + "/me", HTTP_AUTHORIZATION=f"Bearer {key_id}.wrong").status_code == 401
    assert post_json(officer_client, f"/api-clients/{key_id}/revoke", {}).status_code == 200
    assert system.get(API + "/me", HTTP_AUTHORIZATION=f"Bearer {credential}").status_code == 401


def test_officers_cannot_issue_for_departments_outside_their_scope(officer_client):
    response = post_json(officer_client, "/api-clients", {"department": "WEST-PSB", "name": "系统"})
    assert response.status_code == 403


@override_settings(CRYPTO_SUITE="gm")
def test_the_gm_suite_hashes_credentials_with_sm3(city):
    issued = actions.create_api_client(None, department=city["bureau"], name="国密系统")
    assert issued.client.hash_algorithm == "sm3"
    assert actions.authenticate_api_client(issued.credential) == issued.client


def test_me_describes_a_staff_session(client, make_staff):
    staff = make_staff(role_names=(roles.WINDOW_STAFF,), data_scope=DataScope.DIVISION)
    client.force_login(staff)
    assert client.get(API + "/me").json() == {
        "kind": "staff", "name": staff.first_name, "department": "CITY-CA", "roles": ["window_staff"],
        "data_scope": "division", "api_client": None}


def test_apiclient_command_prints_the_credential_once(city, capsys):
    call_command("apiclient", "create", "--department", "CITY-CA", "--name", "民政业务系统")
    printed = capsys.readouterr().out
    credential = printed.splitlines()[2]
    assert actions.authenticate_api_client(credential).name == "民政业务系统"
    call_command("apiclient", "list")
    assert credential not in capsys.readouterr().out


def test_reference_data_is_public(client, city):
    divisions = client.get(API + "/divisions", {"parent": "330100"}).json()
    assert [d["code"] for d in divisions] == ["330106", "330108"]
    departments = client.get(API + "/departments").json()
    assert {d["code"] for d in departments} == {"CITY-CA", "EAST-CA", "WEST-PSB"}


def test_the_openapi_document_is_served(client, db):
    document = client.get(API + "/openapi.json").json()
    assert "/api/v1/citizens" in document["paths"]
    docs = client.get(API + "/docs")
    assert docs.status_code == 200
    # The docs page loads Swagger UI from this server, never from a CDN (the platform runs offline).
    assert "/static/ninja/swagger-ui" in docs.content.decode()
    assert "cdn" not in docs.content.decode().lower()


def test_unknown_endpoints_answer_in_the_error_shape(client, db):
    response = client.get(API + "/no-such-thing", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "There is no API endpoint at /api/v1/no-such-thing.",
                               "details": []}
