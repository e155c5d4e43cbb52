"""The GovStack Registration API (0.1.1, with statistics 1.0.0) against its spec: every path served is the spec's,
every answer's status is one the operation lists and its body has the schema's required keys, types and enums;
both path spellings answer alike; a citizen applies through the API and staff decide the tasks through it until
the application is approved; bad input is a 400 naming the field and leaves nothing behind."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import actions as identity
from zhengtong.identity.models import User
from zhengtong.services import govstack_registration
from zhengtong.services.models import (
    Application,
    ApplicationStatus,
    Material,
    ServiceItem,
    TaskStatus,
    WorkTask,
)
from zhengtong.tests.specs import govstack_spec

BASE = "/govstack/registration"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PHONE = "13912345678"


# --- the spec, as a checker ---------------------------------------------------------------------------------------


def spec_file(name: str) -> dict[str, Any]:
    return govstack_spec(f"registration/{name}")


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    return {"registration": spec_file("registration-api-0.1.1.json"),
            "statistics": spec_file("statistics-api-1.0.0.json")}


TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int,
                         "number": (int, float)}


def check_schema(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "") -> None:
    """The value fits the schema: its type, required keys, enums, and so on down every property and item (no
    JSON schema validator is installed; this covers what the specs use)."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if value is None:
        return  # optional values may be absent
    kind = schema.get("type") or ("object" if "properties" in schema else None)
    if kind is not None:
        assert isinstance(value, TYPES[kind]) and not (kind in ("integer", "number") and isinstance(value, bool)), \
            (where, kind, value)
    if "enum" in schema:
        assert value in schema["enum"], (where, value, schema["enum"])
    if isinstance(value, dict):
        missing = [name for name in schema.get("required", []) if value.get(name) in (None, "")]
        assert not missing, (where, missing)
        for name, prop in schema.get("properties", {}).items():
            check_schema(spec, prop, value.get(name), f"{where}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in schema.get("properties", {}):
                    check_schema(spec, extra, item, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check_schema(spec, schema["items"], item, f"{where}[{index}]")


def conforms(spec: dict[str, Any], method: str, template: str, response: Any) -> Any:
    """The answer is one the spec's operation gives: a status it lists, and on success a body that fits the
    operation's schema. The platform's own are 401 and 403 (who calls), and 400 for bad input where the operation
    lists no 400 (the module docstring says why)."""
    operation = spec["paths"][template][method]
    assert str(response.status_code) in {*operation["responses"], "400", "401", "403"}, (
        template, response.status_code, response.content)
    body = response.json() if response.content else None
    if response.status_code == 200:
        content = operation["responses"]["200"]["content"]
        check_schema(spec, next(iter(content.values()))["schema"], body, template)
    elif "content" in operation["responses"].get(str(response.status_code), {}):
        check_schema(spec, {"$ref": "#/components/schemas/systemError"}, body, template)
    return body


# --- callers and fixtures --------------------------------------------------------------------------------------------


def http(client: Client, user: User | None = None) -> Client:
    if user is not None:
        client.force_login(user)
    return client


def call(client: Client, method: str, path: str, body: Any = None, **extra: Any) -> Any:
    send = getattr(client, method)
    if body is None:
        return send(BASE + path, HTTP_ACCEPT_LANGUAGE="en", **extra)
    return send(BASE + path, json.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE="en", **extra)


@pytest.fixture
def item(make_item: Callable[..., ServiceItem]) -> ServiceItem:
    """An item of CITY-CA on the single-approval process: the name comes from the persons registry, the reason
    and a contact phone are asked, and one proof of address is uploaded."""
    made = make_item(name="居住证明", summary="开具居住证明。", form=[
        {"name": "name", "label": "姓名", "type": "text", "required": True, "hint": "", "choices": [],
         "prefill": {"registry": "persons", "field": "name"}},
        {"name": "reason", "label": "申请事由", "type": "text", "required": True, "hint": "用于何处", "choices": [],
         "prefill": None},
        {"name": "phone", "label": "联系电话", "type": "text", "required": True, "hint": "", "choices": [],
         "prefill": None},
        {"name": "copies", "label": "份数", "type": "number", "required": False, "hint": "", "choices": [],
         "prefill": None},
    ])
    Material.objects.create(item=made, code="lease", name="租赁合同", position=1)
    return made


def answers(**changes: Any) -> dict[str, Any]:
    data = {"reason": {"value": "办理入学"}, "phone": {"value": PHONE}, "copies": 2}
    data.update(changes)
    return data


def upload(client: Client, material: str = "lease", content: bytes = PDF) -> Any:
    return client.post(f"{BASE}/documents?additionalMetadata={material}", {"file": _file(content)},
                       HTTP_ACCEPT_LANGUAGE="en")


def _file(content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("lease.pdf", content, content_type="application/pdf")


def apply(client: Client, applicant: User, item: ServiceItem, **body: Any) -> Any:
    url = upload(client).json()["url"]
    submitted = {"applicantId": str(applicant.pk), "applicationName": "王小明",
                 "formData": {"eFormId": item.code, "data": answers()}, "documentUrls": [url]}
    submitted.update(body)
    return call(client, "post", f"/services/{item.code}/applications", submitted)


@pytest.fixture
def system(client: Client, city: dict[str, Any]) -> dict[str, str]:
    issued = identity.create_api_client(None, department=city["other"], name="公安业务系统")
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.credential}"}


# --- the paths --------------------------------------------------------------------------------------------------------


def test_every_path_served_is_the_specs_with_that_method(specs: dict[str, dict[str, Any]]) -> None:
    schema = govstack_registration.api.get_openapi_schema()
    served = {(path.removeprefix(BASE), method.lower()) for path, entry in schema["paths"].items() for method in entry}
    listed = {(path, method) for spec in specs.values() for path, entry in spec["paths"].items() for method in entry}
    assert served == listed


def test_both_spellings_answer_alike(client: Client, applicant: User, item: ServiceItem) -> None:
    http(client, applicant)
    for spec_path, other in [(f"/services/{item.code}/eForms", f"/services/{item.code}/eforms/"),
                             (f"/eForms/{item.code}", f"/eforms/{item.code}"),
                             (f"/eForms/{item.code}", f"/eForms/{item.code}/"),
                             ("/services", "/services/"), ("/data/statistics", "/statistics/"),
                             ("/data/statistics", "/statistics")]:
        first, second = call(client, "get", spec_path), call(client, "get", other)
        assert first.status_code == second.status_code == 200, (spec_path, other)
        assert first.json() == second.json()
    assert call(client, "get", "/eforms/NO-SUCH").status_code == 404


# --- services and e-forms ---------------------------------------------------------------------------------------------


def test_services_and_their_eforms(specs: dict[str, dict[str, Any]], client: Client, system: dict[str, str],
                                   item: ServiceItem, make_item: Callable[..., ServiceItem]) -> None:
    spec = specs["registration"]
    make_item(name="未发布事项", status="draft")
    listed = conforms(spec, "get", "/services", call(client, "get", "/services", **system))
    assert [s["id"] for s in listed] == [item.code]  # a system reads the published services
    named = conforms(spec, "get", "/services", call(client, "get", "/services?name=证明", **system))
    assert [s["id"] for s in named] == [item.code]
    assert call(client, "get", "/services?name=营业执照", **system).json() == []
    service = conforms(spec, "get", "/services/{serviceId}", call(client, "get", f"/services/{item.code}", **system))
    body = {p["code"]: p["value"] for p in service["serviceBody"]}
    assert (service["type"], body["promisedDays"], body["materials"]) == ("Public", "5", "租赁合同")
    missing = conforms(spec, "get", "/services/{serviceId}", call(client, "get", "/services/NO-SUCH", **system))
    assert missing["details"][0]["field"] == "serviceId"

    forms = conforms(spec, "get", "/services/{serviceId}/eForms",
                     call(client, "get", f"/services/{item.code}/eForms", **system))
    assert [f["eFormId"] for f in forms] == [item.code]
    form = conforms(spec, "get", "/eForms/{eFormId}", call(client, "get", f"/eForms/{item.code}", **system))
    schema = form["schema"]
    assert schema["required"] == ["reason", "phone"]  # the name is the government's: read-only, not asked
    assert schema["properties"]["name"]["readOnly"] is True
    assert schema["properties"]["copies"]["type"] == "number"
    assert call(client, "get", "/eForms/NO-SUCH", **system).status_code == 404


def test_who_may_call_what(client: Client, system: dict[str, str], item: ServiceItem, approver: User) -> None:
    assert call(client, "get", "/services").status_code == 401
    for method, path in [("get", "/applications"), ("get", "/tasks"), ("post", "/documents")]:
        refused = call(client, method, path, **system)
        assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied"), path
    http(client, approver)
    refused = call(client, "post", f"/services/{item.code}/applications", {"applicantId": str(approver.pk)})
    assert refused.status_code == 403  # staff do not apply online
    assert call(client, "get", "/data/statistics", **system).status_code == 200


# --- applying and deciding -------------------------------------------------------------------------------------------


def decide_all(client: Client, spec: dict[str, Any], staff: list[User], reference: str, outcome: str = "approve",
               reason: str = "") -> list[str]:
    """Complete every task of the application through the API, by whichever staff member's queue holds it; the
    names of the steps decided."""
    done = []
    for _round in range(10):
        progressed = False
        for user in staff:
            http(client, user)
            tasks = conforms(spec, "get", "/tasks", call(client, "get", f"/tasks?fileId={reference}"))
            for task in tasks:
                detail = conforms(spec, "get", "/tasks/{taskId}", call(client, "get", f"/tasks/{task['taskId']}"))
                assert detail["formVariables"]["outcome"]["enum"] == ["approve", "reject", "return"]
                completed = conforms(spec, "post", "/tasks/{taskId}/complete", call(
                    client, "post", f"/tasks/{task['taskId']}/complete",
                    {"data": {"outcome": {"value": outcome}, "reason": {"value": reason}}}))
                assert completed["fileId"] == reference
                done.append(task["name"])
                progressed = True
        if not progressed:
            return done
    raise AssertionError("the process did not finish")


def test_a_citizen_applies_and_staff_approve_through_the_api(
        specs: dict[str, dict[str, Any]], client: Client, applicant: User, item: ServiceItem,
        window_clerk_ca: User, approver: User) -> None:
    spec = specs["registration"]
    http(client, applicant)
    uploaded = conforms(spec, "post", "/documents", upload(client))
    assert uploaded["type"] == "application/pdf" and uploaded["url"].startswith("documents/")
    body = {"applicantId": str(applicant.pk), "applicationName": "王小明",
            "formData": {"eFormId": item.code, "data": answers()}, "documentUrls": [uploaded["url"]]}
    filed = conforms(spec, "post", "/services/{serviceId}/applications",
                     call(client, "post", f"/services/{item.code}/applications", body))
    reference = filed["fileId"]
    assert len(reference) == 8 and filed["status"]["code"] == "PENDING" and filed["ended"] is False
    data = filed["applicationData"]["formData"]["data"]
    assert data["name"] == {"value": "王小明", "label": "姓名", "source": "人口基础信息库"}  # held, not asked
    assert (data["reason"]["value"], data["phone"]["value"], data["copies"]["value"]) == ("办理入学", PHONE, 2)
    assert filed["applicationData"]["documentUrls"] == ["materials/lease"]
    application = Application.objects.get(reference=reference)
    assert application.materials.get().file_type == "application/pdf"
    mine = conforms(spec, "get", "/applications", call(client, "get", "/applications"))
    assert [a["fileId"] for a in mine] == [reference]
    assert conforms(spec, "get", "/tasks", call(client, "get", "/tasks")) == []  # a citizen has no staff tasks

    steps = decide_all(client, spec, [window_clerk_ca, approver], reference)
    assert steps == ["受理", "审查", "决定"]
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert not WorkTask.objects.filter(application=application, status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED))
    http(client, applicant)
    result = conforms(spec, "get", "/applications/{fileId}", call(client, "get", f"/applications/{reference}"))
    assert (result["status"]["code"], result["ended"]) == ("APPROVED", True)

    statistics = conforms(specs["statistics"], "get", "/data/statistics", call(client, "get", "/data/statistics"))
    assert [(s["references"]["registrationName"], s["processed"], s["approved"]) for s in statistics] == [
        ("居住证明", 1, 1)]
    today = dt.date.today().isoformat()
    by_role = f"/data/statistics?timeframe=day&role=approver&startDate={today}&endDate={today}"
    assert call(client, "get", by_role).status_code == 403  # counts by role or operator are for staff
    http(client, approver)
    by_day = conforms(specs["statistics"], "get", "/data/statistics", call(client, "get", by_role))
    assert [(s["approved"], s["references"]["timeframeDay"], s["references"]["startDate"]) for s in by_day] == [
        (2, True, today)]  # the two approver steps
    before = conforms(specs["statistics"], "get", "/data/statistics", call(
        client, "get", "/data/statistics?startDate=2020-01-01&endDate=2020-12-31"))
    assert [s["processed"] for s in before] == [0]


def test_staff_see_personal_values_masked_unless_their_right_says_otherwise(
        specs: dict[str, dict[str, Any]], client: Client, applicant: User, item: ServiceItem,
        window_clerk_ca: User, approver: User) -> None:
    spec = specs["registration"]
    http(client, applicant)
    reference = apply(client, applicant, item).json()["fileId"]
    http(client, window_clerk_ca)  # window staff hold no right to reveal personal data
    listed = conforms(spec, "get", "/applications", call(client, "get", "/applications"))
    assert [a["fileId"] for a in listed] == [reference]
    assert listed[0]["additionalMeta"]["data"]["applicantName"]["value"] == "王**"
    task = conforms(spec, "get", "/tasks", call(client, "get", "/tasks"))[0]
    shown = conforms(spec, "get", "/tasks/{taskId}", call(client, "get", f"/tasks/{task['taskId']}"))["data"]
    # The name the government held is masked by its registry field's own rule, like the door's read.
    assert shown["phone"]["value"] == "139****5678" and shown["name"]["value"] == "王**"
    masked = conforms(spec, "get", "/applications/{fileId}", call(client, "get", f"/applications/{reference}"))
    assert masked["applicationData"]["formData"]["data"]["phone"]["value"] == "139****5678"
    assert masked["applicationData"]["applicationName"] == "王**"
    call(client, "post", f"/tasks/{task['taskId']}/complete", {"data": {"outcome": "approve"}})
    http(client, approver)  # the review is in the approver's queue now
    full = conforms(spec, "get", "/applications/{fileId}", call(client, "get", f"/applications/{reference}"))
    assert full["applicationData"]["formData"]["data"]["phone"]["value"] == PHONE


def test_a_returned_application_is_corrected_through_the_api(
        specs: dict[str, dict[str, Any]], client: Client, applicant: User, item: ServiceItem,
        window_clerk_ca: User) -> None:
    spec = specs["registration"]
    http(client, applicant)
    reference = apply(client, applicant, item).json()["fileId"]
    early = conforms(spec, "put", "/applications/{fileId}", call(
        client, "put", f"/applications/{reference}",
        {"applicantId": str(applicant.pk), "formData": {"data": {"reason": "办理社保"}}}))
    assert early["code"] == "conflict"  # nobody has sent it back

    http(client, window_clerk_ca)
    task = call(client, "get", "/tasks").json()[0]
    unexplained = call(client, "post", f"/tasks/{task['taskId']}/complete", {"data": {"outcome": "return"}})
    assert (unexplained.status_code, unexplained.json()["details"][0]["field"]) == (400, "data.reason")
    assert WorkTask.objects.get(pk=task["taskId"]).status == TaskStatus.OPEN  # the claim went back too
    returned = call(client, "post", f"/tasks/{task['taskId']}/complete",
                    {"data": {"outcome": "return", "reason": "租赁合同缺少签字页"}})
    assert returned.json()["status"]["code"] == "SENDBACK"

    http(client, applicant)
    url = upload(client).json()["url"]
    corrected = conforms(spec, "put", "/applications/{fileId}", call(
        client, "put", f"/applications/{reference}", {"applicantId": str(applicant.pk),
                                                       "formData": {"data": {"reason": {"value": "办理社保"}}},
                                                       "documentUrls": [url]}))
    assert corrected["status"]["code"] == "PENDING"
    assert corrected["applicationData"]["formData"]["data"]["reason"]["value"] == "办理社保"
    assert Application.objects.get(reference=reference).status == ApplicationStatus.IN_REVIEW


def test_a_double_submission_with_one_key_makes_one_application(
        client: Client, applicant: User, item: ServiceItem) -> None:
    http(client, applicant)
    url = upload(client).json()["url"]
    body = {"applicantId": applicant.get_username(), "formData": {"data": answers()}, "documentUrls": [url]}
    answers_ = [call(client, "post", f"/services/{item.code}/applications", body, HTTP_IDEMPOTENCY_KEY="k-42")
                for _ in range(2)]
    assert [a.status_code for a in answers_] == [200, 200]
    assert answers_[0].json()["fileId"] == answers_[1].json()["fileId"]
    assert Application.objects.filter(applicant=applicant).count() == 1


# --- bad input ------------------------------------------------------------------------------------------------------


def test_bad_input_is_a_400_naming_the_field_and_leaves_nothing(
        specs: dict[str, dict[str, Any]], client: Client, applicant: User, item: ServiceItem,
        citizen_user: User) -> None:
    spec = specs["registration"]
    http(client, applicant)
    path = f"/services/{item.code}/applications"

    def refused(body: Any) -> set[str]:
        response = call(client, "post", path, body)
        assert response.status_code == 400, response.content
        return {d["field"] for d in response.json()["details"]}

    assert refused({"formData": {"data": {}}}) == {"applicantId"}
    url = upload(client).json()["url"]
    me = str(applicant.pk)
    assert refused({"applicantId": me, "formData": {"data": answers(copies="两份", colour="red")},
                    "documentUrls": [url]}) == {"formData.data.copies", "formData.data.colour"}
    assert refused({"applicantId": me, "formData": {"data": answers(name="张三")}, "documentUrls": [url]}) == {
        "formData.data.name"}  # the government's value is not asked
    assert refused({"applicantId": me, "formData": {"data": answers(reason="")}, "documentUrls": [url]}) == {
        "formData.data.reason"}
    assert refused({"applicantId": me, "formData": {"data": answers()}}) == {"documentUrls"}
    assert refused({"applicantId": me, "formData": {"data": answers()},
                    "documentUrls": ["documents/forged"]}) == {"documentUrls[0]"}
    assert refused({"applicantId": me, "formData": {"eFormId": "OTHER", "data": answers()},
                    "documentUrls": [url]}) == {"formData.eFormId"}
    other_material = upload(client, material="passport").json()["url"]
    assert refused({"applicantId": me, "formData": {"data": answers()}, "documentUrls": [other_material]}) == {
        "documentUrls[0]"}
    assert not Application.objects.exists()  # nothing half-written, not even a draft

    bad_file = conforms(spec, "post", "/documents", upload(client, content=b"MZ\x90\x00 not a document"))
    assert bad_file["details"][0]["field"] == "file"
    nothing = conforms(spec, "post", "/documents", client.post(f"{BASE}/documents", {}, HTTP_ACCEPT_LANGUAGE="en"))
    assert nothing["details"][0]["field"] == "file"
    as_text = conforms(spec, "post", "/documents", client.post(
        f"{BASE}/documents?additionalMetadata=lease", {"file": base64.b64encode(PDF).decode()},
        HTTP_ACCEPT_LANGUAGE="en"))
    assert as_text["type"] == "application/pdf"

    # Someone else's upload is no use to another citizen, nor is applying in their name.
    other = identity.create_citizen_account(None, identity.register_citizen(None, identity.CitizenInput(
        name="李四", resident_id=person(2), phone="13800138002", division_code="330106")), username="lisi",
        password="Test#pass2026")
    http(client, other)
    assert refused({"applicantId": str(other.pk), "formData": {"data": answers()}, "documentUrls": [url]}) == {
        "documentUrls[0]"}
    impersonating = call(client, "post", path, {"applicantId": me, "formData": {"data": answers()}})
    assert impersonating.status_code == 403
    assert call(client, "post", "/services/NO-SUCH/applications", {"applicantId": str(other.pk)}).status_code == 404


def test_unknown_ids_and_bad_parameters(specs: dict[str, dict[str, Any]], client: Client, applicant: User,
                                        item: ServiceItem, approver: User) -> None:
    spec, statistics = specs["registration"], specs["statistics"]
    http(client, applicant)
    reference = apply(client, applicant, item).json()["fileId"]
    http(client, approver)  # the first step is the window's: the approver's queues hold nothing of it yet
    assert conforms(spec, "get", "/applications/{fileId}",
                    call(client, "get", f"/applications/{reference}"))["code"] == "not_found"
    for task_id in ("999999", "abc"):
        assert conforms(spec, "get", "/tasks/{taskId}", call(client, "get", f"/tasks/{task_id}"))["code"] == \
            "not_found"
        assert call(client, "post", f"/tasks/{task_id}/complete", {"data": {}}).status_code == 404
    paged = call(client, "get", "/tasks?maxResult=0&sortBy=colour")
    assert (paged.status_code, {d["field"] for d in paged.json()["details"]}) == (400, {"sortBy"})
    assert call(client, "get", "/applications?firstResult=-1").json()["details"][0]["field"] == "firstResult"
    for query, field in [("timeframe=fortnight", "timeframe"), ("startDate=2026-02-01&endDate=2026-01-01",
                                                                "startDate"), ("startDate=yesterday", "startDate")]:
        bad = conforms(statistics, "get", "/data/statistics", call(client, "get", f"/data/statistics?{query}"))
        assert bad is not None
        assert call(client, "get", f"/data/statistics?{query}").json()["details"][0]["field"] == field
    assert conforms(statistics, "get", "/data/statistics",
                    call(client, "get", "/data/statistics?registrationName=无此事项")) is not None
    assert call(client, "get", "/data/statistics?registrationName=无此事项").status_code == 404
    assert call(client, "get", f"/data/statistics?registrationName={item.name}").status_code == 200


def test_a_session_write_needs_the_csrf_token(applicant: User, item: ServiceItem) -> None:
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(applicant)
    assert browser.get(f"{BASE}/services").status_code == 200
    refused = browser.post(f"{BASE}/services/{item.code}/applications", {"applicantId": str(applicant.pk)},
                           content_type="application/json")
    assert refused.status_code == 403
    assert not Application.objects.exists()


def test_an_unexpected_failure_is_the_specs_500(specs: dict[str, dict[str, Any]], client: Client, applicant: User,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(govstack_registration, "_services", broken)
    http(client, applicant)
    failed = conforms(specs["registration"], "get", "/services", call(client, "get", "/services"))
    assert failed["code"] == "server_error" and "database" not in failed["message"]
