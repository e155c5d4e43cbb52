"""The registries API end to end: defining registries (fields or a GovStack JSON schema) with field-named errors,
schema changes refused with the number of violating records, record writes that never answer with values,
history as metadata, files, imports with their progress and report, and who is refused."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from zhengtong.audit.models import AuditEntry
from zhengtong.conftest import resident_id
from zhengtong.identity import actions as identity_actions
from zhengtong.identity import roles
from zhengtong.registries.models import ImportJob, Record, Registry
from zhengtong.registries.tasks import run_import_job

API = "/api/v1"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def call(client: Client, method: str, path: str, body: Any = None) -> Any:
    kwargs: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(API + path, **kwargs)


@pytest.fixture
def officer_client(client: Client, data_officer: Any) -> Client:
    client.force_login(data_officer)
    return client


def field(name: str, type_: str = "text", **attributes: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "label": name.replace("_", " "), **attributes}


def licence_registry_body(**changes: Any) -> dict[str, Any]:
    body = {
        "code": "licences", "name": "经营许可", "name_en": "business licences", "description": "许可证照",
        "department": "CITY-CA", "is_base": False,
        "fields": [
            field("licence_no", required=True, is_key=True, sensitivity="public", level=1),
            field("holder_id", validator="resident_id", sensitivity="sensitive_personal", grade=2, level=4,
                  masking="keep:6:4", encrypted=True, indexed=True),
            field("kind", "enumeration",
                  choices=[{"value": "food", "label": "食品"}, {"value": "drug", "label": "药品"}]),
            field("issued_on", "date"),
        ],
    }
    body.update(changes)
    return body


def person(serial: int, **values: Any) -> dict[str, Any]:
    return {"resident_id": resident_id(serial), "name": "张三", "division_code": "330106", **values}


# --- defining registries ------------------------------------------------------------------------------------


def test_defining_a_registry_answers_with_its_definition_and_never_key_material(officer_client: Client) -> None:
    response = call(officer_client, "post", "/registries", licence_registry_body())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "licences" and body["department"] == "CITY-CA"
    assert [f["name"] for f in body["definition"]] == ["licence_no", "holder_id", "kind", "issued_on"]
    holder = body["definition"][1]
    assert holder["validator"] == "resident_id" and holder["encrypted"] and holder["level"] == 4
    assert body["grade"] == 2 and body["level"] == 4  # the highest of the fields' (就高从严)
    assert body["json_schema"]["properties"]["licence_no"]["primaryKey"] is True
    assert body["json_schema"]["properties"]["kind"]["enum"] == ["food", "drug"]
    assert [v["version"] for v in body["schema_versions"]] == [1]
    assert body["schema_versions"][0]["fields"] == ["licence_no", "holder_id", "kind", "issued_on"]
    assert len(body["data_keys"]) == 1 and body["data_keys"][0]["retired_at"] is None
    assert body["data_keys"][0]["cipher"]
    assert set(body["data_keys"][0]) == {"version", "cipher", "created_at", "retired_at"}
    assert "wrapped" not in response.content.decode()
    assert AuditEntry.objects.filter(action="registries.define_registry", object_id="licences").exists()

    listed = call(officer_client, "get", "/registries").json()
    assert listed == [{
        "code": "licences", "name": "经营许可", "name_en": "business licences", "department": "CITY-CA",
        "department_name": "市民政局", "is_base": False, "schema_version": 1, "fields": 4, "grade": 2, "level": 4,
        "records": {"live": 0, "deleted": 0},
    }]
    detail = call(officer_client, "get", "/registries/licences").json()
    assert detail["description"] == "许可证照" and detail["definition"] == body["definition"]


def test_a_bad_definition_names_every_field_and_writes_nothing(officer_client: Client) -> None:
    body = licence_registry_body(code="Licences!", fields=[
        field("Licence No", required=True),
        field("kind", "enumeration"),
        field("holder_id", "integer", validator="resident_id"),
    ])
    response = call(officer_client, "post", "/registries", body)
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "validation_error"
    fields = {d["field"] for d in error["details"]}
    assert {"code", "fields[0].name", "fields[1].choices", "fields[2].validator", "fields"} <= fields
    assert all(d["reason"] for d in error["details"])
    assert Registry.objects.count() == 0


def test_an_unknown_department_is_named(officer_client: Client) -> None:
    response = call(officer_client, "post", "/registries", licence_registry_body(department="NOWHERE"))
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "department",
                                          "reason": "There is no department with the code NOWHERE."}]


def test_a_missing_attribute_is_named_in_the_same_error_shape(officer_client: Client) -> None:
    response = call(officer_client, "post", "/registries", {"code": "x", "department": "CITY-CA", "fields": []})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "name"


def test_the_code_is_unique(officer_client: Client, person_registry: Registry) -> None:
    response = call(officer_client, "post", "/registries", licence_registry_body(code="persons"))
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "code", "reason": "A registry with this code already exists."}]


GOVSTACK_SCHEMA = {
    "type": "object",
    "properties": {
        "registration_id": {"type": "string", "primaryKey": True, "description": "Registration ID"},
        "birth_date": {"type": "string", "format": "date", "description": "Date of birth"},
        "children": {"type": "integer", "description": "Number of children"},
        "status": {"type": "string", "enum": ["active", "closed"]},
        "mobile": {"type": "string", "x-zhengtong-validator": "phone", "x-zhengtong-sensitivity": "personal",
                   "x-zhengtong-level": 3, "x-zhengtong-encrypted": True},
    },
    "required": ["birth_date"],
}


def test_a_registry_is_defined_from_a_govstack_json_schema(officer_client: Client) -> None:
    response = call(officer_client, "post", "/registries/from-json-schema",
                    {"code": "mother-child", "name": "母婴登记", "department": "CITY-CA", "schema": GOVSTACK_SCHEMA})
    assert response.status_code == 201, response.content
    body = response.json()
    by_name = {f["name"]: f for f in body["definition"]}
    assert list(by_name) == ["registration_id", "birth_date", "children", "status", "mobile"]
    assert by_name["registration_id"]["is_key"] and by_name["registration_id"]["required"]
    assert by_name["birth_date"]["type"] == "date" and by_name["birth_date"]["required"]
    assert by_name["status"]["type"] == "enumeration"
    assert by_name["mobile"]["encrypted"] and by_name["mobile"]["validator"] == "phone"
    assert body["json_schema"]["properties"]["registration_id"]["primaryKey"] is True


def test_a_json_schema_with_nested_objects_is_refused_by_property(officer_client: Client) -> None:
    schema = {"type": "object", "properties": {"id": {"type": "string", "primaryKey": True},
                                               "address": {"type": "object", "properties": {}}}}
    response = call(officer_client, "post", "/registries/from-json-schema",
                    {"code": "nested", "name": "嵌套", "department": "CITY-CA", "schema": schema})
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["schema.properties.address"]
    assert Registry.objects.count() == 0


# --- schema changes -----------------------------------------------------------------------------------------


def _definition(client: Client, code: str) -> list[dict[str, Any]]:
    return call(client, "get", f"/registries/{code}").json()["definition"]


def test_a_schema_change_that_records_would_violate_is_refused_with_their_count(
        officer_client: Client, person_registry: Registry) -> None:
    for serial in (1, 2, 3):
        assert call(officer_client, "post", "/registries/persons/records",
                    {"values": person(serial)}).status_code == 201
    call(officer_client, "post", "/registries/persons/records", {"values": person(4, phone="13800138004")})
    fields = _definition(officer_client, "persons")
    for item in fields:
        if item["name"] == "phone":
            item["required"] = True
    response = call(officer_client, "put", "/registries/persons/schema", {"fields": fields})
    assert response.status_code == 409
    error = response.json()
    assert error["code"] == "conflict"
    assert "3 existing records" in error["message"]
    assert error["details"] == [{"field": "phone", "reason": "3 records: This field is required."}]
    assert Registry.objects.get(code="persons").schema_version == 1

    fields.append(field("remark", max_length=100))
    for item in fields:
        item["required"] = item["name"] in ("resident_id", "name")
    changed = call(officer_client, "put", "/registries/persons/schema", {"fields": fields})
    assert changed.status_code == 200, changed.content
    assert changed.json()["schema_version"] == 2
    assert [v["version"] for v in changed.json()["schema_versions"]] == [1, 2]
    assert changed.json()["definition"][-1]["name"] == "remark"


def test_a_bad_schema_change_names_the_field(officer_client: Client, person_registry: Registry) -> None:
    fields = _definition(officer_client, "persons")
    fields[1]["masking"] = "scramble"
    response = call(officer_client, "put", "/registries/persons/schema", {"fields": fields})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "fields[1].masking"


# --- records ------------------------------------------------------------------------------------------------


def test_record_writes_answer_with_id_and_version_only_and_keep_history(
        officer_client: Client, person_registry: Registry, data_officer: Any) -> None:
    created = call(officer_client, "post", "/registries/persons/records",
                   {"values": person(1, phone="13800138000")})
    assert created.status_code == 201, created.content
    record_id = created.json()["id"]
    assert created.json() == {"id": record_id, "version": 1, "deleted": False}
    text = created.content.decode()
    assert resident_id(1) not in text and "张三" not in text

    bad = call(officer_client, "post", "/registries/persons/records", {"values": person(2, phone="123")})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "phone"
    twice = call(officer_client, "post", "/registries/persons/records", {"values": person(1)})
    assert twice.status_code == 422 and twice.json()["details"][0]["field"] == "resident_id"

    path = f"/registries/persons/records/{record_id}"
    updated = call(officer_client, "patch", path, {"values": {"name": "张三丰"}, "reason": "更正姓名"})
    assert updated.status_code == 200 and updated.json() == {"id": record_id, "version": 2, "deleted": False}
    assert "张三丰" not in updated.content.decode()

    no_reason = call(officer_client, "delete", path, {"reason": "  "})
    assert no_reason.status_code == 422 and no_reason.json()["details"][0]["field"] == "reason"
    assert call(officer_client, "delete", path).json()["details"][0]["field"] == "reason"
    deleted = call(officer_client, "delete", path, {"reason": "重复登记"})
    assert deleted.status_code == 200 and deleted.json() == {"id": record_id, "version": 3, "deleted": True}
    assert Record.objects.get(pk=record_id).deletion_reason == "重复登记"
    again = call(officer_client, "delete", path, {"reason": "重复登记"})
    assert again.status_code == 409

    counts = call(officer_client, "get", "/registries/persons").json()["records"]
    assert counts == {"live": 0, "deleted": 1}

    restored = call(officer_client, "post", path + "/restore", {"reason": "误删"})
    assert restored.status_code == 200 and restored.json() == {"id": record_id, "version": 4, "deleted": False}

    history = call(officer_client, "get", path + "/history")
    assert history.status_code == 200
    entries = history.json()
    assert [(e["version"], e["action"]) for e in entries] == [
        (1, "registries.create_record"), (2, "registries.update_record"), (3, "registries.delete_record"),
        (4, "registries.restore_record")]
    assert entries[1]["fields"] == ["name"] and entries[1]["reason"] == "更正姓名"
    assert entries[1]["actor"] == data_officer.display_name and entries[1]["department"] == "CITY-CA"
    assert entries[2]["reason"] == "重复登记" and entries[3]["reason"] == "误删"
    assert set(entries[0]) == {"version", "action", "actor", "department", "at", "fields", "reason"}
    assert resident_id(1) not in history.content.decode() and "张三" not in history.content.decode()


def test_an_unknown_record_or_registry_is_not_found(officer_client: Client, person_registry: Registry) -> None:
    missing = call(officer_client, "patch", "/registries/persons/records/999", {"values": {"name": "李四"}})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert call(officer_client, "get", "/registries/nothing").status_code == 404


def test_files_are_uploaded_and_referred_to_by_digest(officer_client: Client, city: dict[str, Any]) -> None:
    call(officer_client, "post", "/registries", licence_registry_body(fields=[
        field("licence_no", required=True, is_key=True), field("scan", "file")]))
    upload = SimpleUploadedFile("scan.pdf", b"%PDF-1.4 licence", content_type="application/pdf")
    response = officer_client.post(API + "/registries/licences/files", {"file": upload})
    assert response.status_code == 201, response.content
    stored = response.json()
    assert stored["name"] == "scan.pdf" and stored["size"] == 16 and len(stored["digest"]) == 64
    created = call(officer_client, "post", "/registries/licences/records",
                   {"values": {"licence_no": "JY001", "scan": stored["digest"]}})
    assert created.status_code == 201
    unknown = call(officer_client, "post", "/registries/licences/records",
                   {"values": {"licence_no": "JY002", "scan": "0" * 64}})
    assert unknown.status_code == 422 and unknown.json()["details"][0]["field"] == "scan"
    empty = officer_client.post(API + "/registries/licences/files",
                                {"file": SimpleUploadedFile("empty.txt", b"", content_type="text/plain")})
    assert empty.status_code == 422 and empty.json()["details"][0]["field"] == "file"


# --- who is refused -----------------------------------------------------------------------------------------


def test_anonymous_callers_are_told_to_authenticate(client: Client, person_registry: Registry) -> None:
    response = call(client, "get", "/registries")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_staff_without_a_registries_role_are_refused(client: Client, make_staff: Any,
                                                     person_registry: Registry) -> None:
    client.force_login(make_staff(role_names=(roles.WINDOW_STAFF,)))
    for method, path, body in [
        ("get", "/registries", None), ("get", "/registries/persons", None),
        ("post", "/registries", licence_registry_body()),
        ("post", "/registries/from-json-schema", {"code": "x1", "name": "x", "department": "CITY-CA",
                                                  "schema": GOVSTACK_SCHEMA}),
        ("post", "/registries/persons/records", {"values": person(1)}),
    ]:
        response = call(client, method, path, body)
        assert response.status_code == 403, (method, path, response.content)
        assert response.json()["code"] == "permission_denied"
    assert Registry.objects.count() == 1 and Record.objects.count() == 0


def test_citizens_are_refused(client: Client, citizen_user: Any, person_registry: Registry) -> None:
    client.force_login(citizen_user)
    assert call(client, "get", "/registries").status_code == 403
    assert call(client, "post", "/registries/persons/records", {"values": person(1)}).status_code == 403


def test_a_data_officer_of_another_department_cannot_write_outside_their_scope(
        client: Client, outside_officer: Any, officer_client: Client, person_registry: Registry) -> None:
    record_id = call(officer_client, "post", "/registries/persons/records", {"values": person(1)}).json()["id"]
    client.force_login(outside_officer)
    # Seeing the catalog of registries is open to staff who work with data.
    assert [r["code"] for r in call(client, "get", "/registries").json()] == ["persons"]
    fields = _definition(client, "persons")
    refused = [
        call(client, "post", "/registries/persons/records", {"values": person(2)}),
        call(client, "patch", f"/registries/persons/records/{record_id}", {"values": {"name": "李四"}}),
        call(client, "delete", f"/registries/persons/records/{record_id}", {"reason": "试试"}),
        call(client, "post", f"/registries/persons/records/{record_id}/restore", {"reason": "试试"}),
        call(client, "get", f"/registries/persons/records/{record_id}/history"),
        call(client, "put", "/registries/persons/schema", {"fields": fields}),
        call(client, "post", "/registries", licence_registry_body(department="CITY-CA")),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert all(r.json()["code"] == "permission_denied" for r in refused)
    assert Record.objects.count() == 1 and Record.objects.get().version == 1
    own = call(client, "post", "/registries", licence_registry_body(department="WEST-PSB"))
    assert own.status_code == 201


def test_api_clients_cannot_act_as_staff(client: Client, city: dict[str, Any], person_registry: Registry) -> None:
    issued = identity_actions.create_api_client(None, department=city["bureau"], name="人口系统")
    response = client.get(API + "/registries", HTTP_AUTHORIZATION=f"Bearer {issued.credential}")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_session_writes_need_the_csrf_token(data_officer: Any, person_registry: Registry) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(data_officer)
    response = call(browser, "post", "/registries/persons/records", {"values": person(1)})
    assert response.status_code == 403 and response.json()["code"] == "csrf_failed"


# --- imports ------------------------------------------------------------------------------------------------


def csv_file(rows: list[dict[str, str]], name: str = "persons.csv") -> SimpleUploadedFile:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["resident_id", "name", "phone", "division_code", "birth_date"])
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return SimpleUploadedFile(name, out.getvalue().encode("utf-8"), content_type="text/csv")


def person_row(serial: int, **values: str) -> dict[str, str]:
    return {"resident_id": resident_id(serial), "name": f"居民{serial}", "phone": "", "division_code": "330106",
            "birth_date": "1985-06-01", **values}


def start(client: Client, rows: list[dict[str, str]], *, quarantine: bool = False) -> Any:
    data: dict[str, Any] = {"file": csv_file(rows)}
    if quarantine:
        data["quarantine"] = "true"
    return client.post(API + "/registries/persons/imports", data, HTTP_ACCEPT_LANGUAGE="en")


def test_an_import_runs_in_the_background_and_reports_its_progress(
        officer_client: Client, person_registry: Registry, data_officer: Any) -> None:
    response = start(officer_client, [person_row(n) for n in range(1, 6)])
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "pending" and job["file_name"] == "persons.csv" and not job["quarantine"]
    assert job["registry"] == "persons" and job["requested_by"] == data_officer.display_name
    run_import_job.call(job["id"])
    done = call(officer_client, "get", f"/registries/imports/{job['id']}")
    assert done.status_code == 200
    report = done.json()
    assert report["status"] == "succeeded"
    assert (report["rows_done"], report["rows_total"], report["percent"]) == (5, 5, 100)
    assert (report["created"], report["updated"], report["rejected"]) == (5, 0, 0)
    assert report["problems"] == [] and not report["has_rejected_file"]
    assert Record.objects.filter(registry=person_registry).count() == 5
    assert call(officer_client, "get", f"/registries/imports/{job['id']}/rejected").status_code == 404


def test_a_quarantine_import_writes_good_rows_and_returns_bad_ones(
        officer_client: Client, person_registry: Registry) -> None:
    rows = [person_row(1), person_row(2, phone="12345"), person_row(3, division_code="999999")]
    job = start(officer_client, rows, quarantine=True).json()
    assert job["quarantine"]
    run_import_job.call(job["id"])
    report = call(officer_client, "get", f"/registries/imports/{job['id']}").json()
    assert report["status"] == "partial"
    assert (report["created"], report["rejected"]) == (1, 2)
    assert [(p["row"], p["field"]) for p in report["problems"]] == [(3, "phone"), (4, "division_code")]
    assert report["has_rejected_file"]
    rejected = officer_client.get(API + f"/registries/imports/{job['id']}/rejected")
    assert rejected.status_code == 200 and rejected["Content-Type"].startswith("text/csv")
    text = rejected.getvalue().decode("utf-8-sig")
    assert resident_id(2) in text and resident_id(3) in text and resident_id(1) not in text


def test_an_all_or_nothing_import_with_a_bad_row_writes_nothing(
        officer_client: Client, person_registry: Registry) -> None:
    job = start(officer_client, [person_row(1), person_row(2, birth_date="1985-13-01")]).json()
    run_import_job.call(job["id"])
    report = call(officer_client, "get", f"/registries/imports/{job['id']}").json()
    assert report["status"] == "failed"
    assert [(p["row"], p["field"]) for p in report["problems"]] == [(3, "birth_date")]
    assert Record.objects.count() == 0


def test_imports_are_refused_outside_the_scope_and_shown_only_to_those_who_may(
        client: Client, officer_client: Client, outside_officer: Any, make_staff: Any,
        person_registry: Registry, city: dict[str, Any]) -> None:
    job = start(officer_client, [person_row(1)]).json()
    client.force_login(outside_officer)
    refused = client.post(API + "/registries/persons/imports", {"file": csv_file([person_row(2)])})
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert ImportJob.objects.count() == 1
    assert call(client, "get", f"/registries/imports/{job['id']}").status_code == 403
    assert call(client, "get", f"/registries/imports/{job['id']}/rejected").status_code == 403
    colleague = make_staff(role_names=(roles.DATA_OFFICER,), department=city["bureau"])
    client.force_login(colleague)
    assert call(client, "get", f"/registries/imports/{job['id']}").status_code == 200
    assert call(client, "get", "/registries/imports/999").status_code == 404
