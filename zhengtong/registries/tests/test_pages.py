"""The registries' staff pages: each renders for a data officer and is refused to citizens and to staff without
the permission; the define form works without JavaScript (the field editor's "add another field" round trip,
errors linked from a summary, a pasted GovStack schema); a refused schema change shows how many records are in
the way; an import is followed on its job page until its report; history shows metadata, never values."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from zhengtong.conftest import resident_id
from zhengtong.identity import actions as identity_actions
from zhengtong.identity import roles
from zhengtong.registries import actions, importing
from zhengtong.registries.forms import initial_of
from zhengtong.registries.models import ImportJob, Record, Registry
from zhengtong.registries.overview import schema_of
from zhengtong.registries.tasks import run_import_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def officer(client: Client, data_officer: Any) -> Client:
    client.force_login(data_officer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def record(person_registry: Registry) -> Record:
    created = actions.create_record(None, person_registry, {"resident_id": resident_id(1), "name": "张三",
                                                            "division_code": "330106"})
    actions.update_record(None, created, {"name": "张三丰"}, reason="更正姓名")
    created.refresh_from_db()
    return created


@pytest.fixture
def job(person_registry: Registry, data_officer: Any) -> ImportJob:
    upload = SimpleUploadedFile("persons.csv", csv_bytes([person_line(1)]), content_type="text/csv")
    return importing.start_import(data_officer, person_registry, upload=upload, file_name="persons.csv",
                                  quarantine=False)


def text_of(response: Any) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


def csv_bytes(lines: list[str]) -> bytes:
    return ("resident_id,name,division_code\n" + "\n".join(lines) + "\n").encode()


def person_line(serial: int, division: str = "330106") -> str:
    return f"{resident_id(serial)},居民{serial},{division}"


def page_urls(registry: Registry, record: Record, job: ImportJob) -> list[str]:
    return [
        reverse("registries:list"),
        reverse("registries:detail", args=[registry.code]),
        reverse("registries:new"),
        reverse("registries:schema", args=[registry.code]),
        reverse("registries:import", args=[registry.code]),
        reverse("registries:import-job", args=[job.pk]),
        reverse("registries:import-progress", args=[job.pk]),
        reverse("registries:record-history", args=[registry.code, record.pk]),
    ]


# --- who sees what ------------------------------------------------------------------------------------------


def test_every_page_renders_for_a_data_officer(officer: Client, person_registry: Registry, record: Record,
                                               job: ImportJob) -> None:
    for url in page_urls(person_registry, record, job):
        response = officer.get(url)
        assert response.status_code == 200, url


def test_citizens_and_staff_without_the_role_are_refused_and_visitors_asked_to_log_in(
        client: Client, citizen_user: Any, make_staff: Any, person_registry: Registry, record: Record,
        job: ImportJob) -> None:
    urls = page_urls(person_registry, record, job)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("identity:login")), url
    for user in (citizen_user, make_staff(role_names=(roles.WINDOW_STAFF,))):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403, url


def test_an_officer_of_another_department_sees_the_registry_but_cannot_change_or_import(
        client: Client, outside_officer: Any, person_registry: Registry, record: Record, job: ImportJob) -> None:
    client.force_login(outside_officer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    detail = client.get(reverse("registries:detail", args=["persons"]))
    assert detail.status_code == 200
    assert reverse("registries:schema", args=["persons"]) not in detail.content.decode()
    assert reverse("registries:import", args=["persons"]) not in detail.content.decode()
    for url in (reverse("registries:schema", args=["persons"]), reverse("registries:import", args=["persons"]),
                reverse("registries:import-job", args=[job.pk]),
                reverse("registries:record-history", args=["persons", record.pk])):
        assert client.get(url).status_code == 403, url
    assert client.get(reverse("registries:detail", args=["nothing"])).status_code == 404


def test_the_list_shows_each_registry_with_its_counts_and_grade(officer: Client, person_registry: Registry,
                                                                 record: Record) -> None:
    response = officer.get(reverse("registries:list"))
    text = " ".join(text_of(response).split())
    assert "persons 人口 persons 市民政局 no 5 important data · L4 1 1" in text
    assert reverse("registries:new") in response.content.decode()
    assert "<caption>" in response.content.decode() and 'scope="col"' in response.content.decode()


def test_the_definition_page_lists_every_field_attribute_versions_keys_and_imports(
        officer: Client, person_registry: Registry, record: Record, job: ImportJob) -> None:
    response = officer.get(reverse("registries:detail", args=["persons"]))
    text = " ".join(text_of(response).split())
    assert "resident_id 公民身份号码 resident ID text yes yes yes no resident ID number sensitive personal " \
           "important data L4 keep:6:4 yes" in text
    assert "Schema versions" in text and "registries.define_registry" in text
    assert "Data key versions" in text and "current" in text
    assert "persons.csv" in text and reverse("registries:import-job", args=[job.pk]) in response.content.decode()
    assert "Live records 1" in text
    assert "wrapped" not in response.content.decode()


# --- defining a registry ------------------------------------------------------------------------------------


def management(total: int) -> dict[str, str]:
    return {"fields-TOTAL_FORMS": str(total), "fields-INITIAL_FORMS": "0", "fields-MIN_NUM_FORMS": "0",
            "fields-MAX_NUM_FORMS": "500"}


def row(index: int, name: str, label: str, **extra: str) -> dict[str, str]:
    data = {"name": name, "type": "text", "label": label, "label_en": "", "description": "", "validator": "",
            "pattern": "", "max_length": "", "choices": "", "sensitivity": "internal", "grade": "1", "level": "2",
            "masking": ""}
    data.update(extra)
    return {f"fields-{index}-{key}": value for key, value in data.items() if value != "off"}


def test_the_define_form_adds_a_field_row_without_javascript_and_creates_the_registry(
        officer: Client, city: dict[str, Any]) -> None:
    page = officer.get(reverse("registries:new"))
    assert page.status_code == 200
    assert 'name="fields-TOTAL_FORMS" value="1"' in page.content.decode()
    particulars = {"code": "licences", "name": "经营许可", "name_en": "", "description": "",
                   "department": str(city["bureau"].pk), "json_schema": ""}
    first = row(0, "licence_no", "许可证号", required="on", is_key="on")
    added = officer.post(reverse("registries:new"), {**particulars, **management(1), **first, "add_field": "1"})
    assert added.status_code == 200
    html = added.content.decode()
    assert 'name="fields-TOTAL_FORMS" value="2"' in html
    assert 'value="licence_no"' in html and 'value="licences"' in html
    assert re.search(r'name="fields-0-is_key"[^>]*checked', html)
    assert re.search(r'name="fields-1-name"[^>]*autofocus', html)
    assert "There is a problem" not in html
    assert Registry.objects.count() == 0

    second = row(1, "holder", "持证人", sensitivity="personal", level="3", encrypted="on")
    created = officer.post(reverse("registries:new"), {**particulars, **management(2), **first, **second})
    assert created.status_code == 302
    assert created["Location"] == reverse("registries:detail", args=["licences"])
    registry = Registry.objects.get(code="licences")
    assert [f.name for f in registry.fields.all()] == ["licence_no", "holder"]
    holder = registry.fields.get(name="holder")
    assert holder.encrypted and holder.level == 3
    assert registry.department == city["bureau"]


def test_blank_and_removed_rows_are_left_out(officer: Client, city: dict[str, Any]) -> None:
    data = {"code": "licences", "name": "经营许可", "department": str(city["bureau"].pk), **management(3),
            **row(0, "licence_no", "许可证号", required="on", is_key="on"),
            **row(1, "dropped", "不要", DELETE="on"),
            **row(2, "", "")}
    assert officer.post(reverse("registries:new"), data).status_code == 302
    assert list(Registry.objects.get().fields.values_list("name", flat=True)) == ["licence_no"]


def test_definition_errors_are_summarised_and_linked_to_their_inputs(officer: Client, city: dict[str, Any]) -> None:
    data = {"code": "Bad Code", "name": "经营许可", "department": str(city["bureau"].pk), **management(2),
            **row(0, "Licence", "许可证号", required="on", is_key="on"),
            **row(1, "kind", "类别", type="enumeration")}
    response = officer.post(reverse("registries:new"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "There is a problem" in html
    assert 'href="#id_code"' in html
    assert 'href="#id_fields-0-name"' in html and 'href="#id_fields-1-choices"' in html
    assert re.search(r'name="fields-0-name"[^>]*aria-invalid="true"', html)
    assert Registry.objects.count() == 0


def test_a_pasted_govstack_schema_defines_the_registry(officer: Client, city: dict[str, Any]) -> None:
    schema = ('{"type": "object", "required": ["name"], "properties": {"case_no": {"type": "string", '
              '"primaryKey": true}, "name": {"type": "string"}, "opened_on": {"type": "string", "format": "date"}}}')
    data = {"code": "cases", "name": "案件", "name_en": "cases", "department": str(city["bureau"].pk),
            "json_schema": schema, **management(1)}
    response = officer.post(reverse("registries:new"), data)
    assert response.status_code == 302, response.content.decode()
    registry = Registry.objects.get()
    assert list(registry.fields.values_list("name", flat=True)) == ["case_no", "name", "opened_on"]
    assert registry.name_en == "cases"
    nested = officer.post(reverse("registries:new"), {
        **data, "code": "cases3",
        "json_schema": '{"properties": {"id": {"type": "string", "primaryKey": true}, "x": {"type": "array"}}}'})
    assert "schema.properties.x" in nested.content.decode() and Registry.objects.count() == 1
    broken = officer.post(reverse("registries:new"), {**data, "code": "cases2", "json_schema": "{not json"})
    assert "This is not valid JSON" in broken.content.decode() and 'href="#id_json_schema"' in broken.content.decode()


def test_the_department_choice_is_limited_to_the_officers_scope(officer: Client, city: dict[str, Any]) -> None:
    html = officer.get(reverse("registries:new")).content.decode()
    assert city["bureau"].name in html and city["other"].name not in html
    data = {"code": "licences", "name": "经营许可", "department": str(city["other"].pk), **management(1),
            **row(0, "licence_no", "许可证号", required="on", is_key="on")}
    response = officer.post(reverse("registries:new"), data)
    assert response.status_code == 200 and 'href="#id_department"' in response.content.decode()
    assert Registry.objects.count() == 0


# --- changing a schema --------------------------------------------------------------------------------------


def schema_post(registry: Registry, **changes: dict[str, str]) -> dict[str, str]:
    specs = schema_of(registry).fields
    data = management(len(specs))
    for index, spec in enumerate(specs):
        values = {key: ("on" if value is True else "off" if value is False else "" if value is None else str(value))
                  for key, value in initial_of(spec).items()}
        values.update(changes.get(spec.name, {}))
        data.update(row(index, **values))
    return data


def test_the_schema_page_is_prefilled_and_a_refusal_shows_how_many_records_are_in_the_way(
        officer: Client, person_registry: Registry) -> None:
    for serial in (1, 2):
        actions.create_record(None, person_registry, {"resident_id": resident_id(serial), "name": "张三"})
    page = officer.get(reverse("registries:schema", args=["persons"]))
    html = page.content.decode()
    assert 'value="resident_id"' in html and 'value="keep:6:4"' in html
    assert 'name="fields-TOTAL_FORMS" value="6"' in html  # five fields and a blank row

    refused = officer.post(reverse("registries:schema", args=["persons"]),
                           schema_post(person_registry, division_code={"required": "on"}))
    assert refused.status_code == 409
    text = " ".join(text_of(refused).split())
    assert "2 existing records would violate it" in text
    assert "division_code 2 records: This field is required." in text
    assert Registry.objects.get().schema_version == 1

    changed = officer.post(reverse("registries:schema", args=["persons"]),
                           schema_post(person_registry, birth_date={"label_en": "born"}))
    assert changed.status_code == 302
    registry = Registry.objects.get()
    assert registry.schema_version == 2 and registry.fields.get(name="birth_date").label_en == "born"


def test_a_schema_row_can_be_added_on_the_schema_page(officer: Client, person_registry: Registry) -> None:
    data = schema_post(person_registry)
    data["add_field"] = "1"
    response = officer.post(reverse("registries:schema", args=["persons"]), data)
    assert 'name="fields-TOTAL_FORMS" value="6"' in response.content.decode()
    assert Registry.objects.get().schema_version == 1


# --- imports ------------------------------------------------------------------------------------------------


def test_an_upload_starts_an_import_whose_page_polls_until_the_report(officer: Client,
                                                                      person_registry: Registry) -> None:
    upload = SimpleUploadedFile("persons.csv", csv_bytes([person_line(1), person_line(2, "999999")]),
                                content_type="text/csv")
    response = officer.post(reverse("registries:import", args=["persons"]), {"file": upload, "quarantine": "on"})
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("registries:import-job", args=[job.pk]) and job.quarantine

    waiting = officer.get(response["Location"]).content.decode()
    progress_url = reverse("registries:import-progress", args=[job.pk])
    assert f'hx-get="{progress_url}"' in waiting and 'hx-trigger="every 1s"' in waiting
    assert "<progress" in waiting and reverse("registries:import-job", args=[job.pk]) in waiting

    run_import_job.call(job.pk)
    partial = officer.get(progress_url).content.decode()
    assert "hx-trigger" not in partial  # finished: the poll stops
    assert 'value="100"' in partial
    text = " ".join(text_of(officer.get(response["Location"])).split())
    assert "Records created 1" in text and "Rows rejected 1" in text
    assert "division_code" in text and "Not a known administrative division code" in text
    assert reverse("registries:import-rejected", args=[job.pk]) in partial
    rejected = officer.get(reverse("registries:import-rejected", args=[job.pk]))
    assert rejected.status_code == 200
    assert resident_id(2) in rejected.getvalue().decode("utf-8-sig")


def test_an_import_is_hidden_from_its_requester_once_they_may_no_longer_import(
        officer: Client, data_officer: Any, person_registry: Registry, settings: Any, tmp_path: Any) -> None:
    """The report and the rejected rows hold personal values: seeing them needs the import permission now, not
    having once started the import."""
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("persons.csv", csv_bytes([person_line(1), person_line(2, "999999")]),
                                content_type="text/csv")
    job = importing.start_import(data_officer, person_registry, upload=upload, file_name="persons.csv",
                                 quarantine=True)
    run_import_job.call(job.pk)
    urls = [reverse(name, args=[job.pk]) for name in ("registries:import-job", "registries:import-progress",
                                                      "registries:import-rejected")]
    assert [officer.get(url).status_code for url in urls] == [200, 200, 200]
    identity_actions.set_roles(None, data_officer, ())
    assert [officer.get(url).status_code for url in urls] == [403, 403, 403]
    assert officer.get(f"/api/v1/registries/imports/{job.pk}/rejected").status_code == 403


def test_a_running_import_that_has_stalled_says_so_and_stops_polling(officer: Client, job: ImportJob,
                                                                     settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    ImportJob.objects.filter(pk=job.pk).update(status="running")
    importing._ProgressFile(job).write({"status": "running", "rows_done": 5, "rows_total": 10})
    url = reverse("registries:import-progress", args=[job.pk])
    running = officer.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in running and "import-stalled" not in running
    long_ago = time.time() - importing.STALLED_AFTER - 60
    os.utime(importing._progress_path(job), (long_ago, long_ago))
    stalled = officer.get(url)
    assert "hx-trigger" not in stalled.content.decode()
    assert "no progress for more than 30 minutes" in " ".join(text_of(stalled).split())
    assert officer.get(f"/api/v1/registries/imports/{job.pk}").json()["stalled"] is True


def test_a_file_that_is_not_csv_or_xlsx_is_refused_on_the_page(officer: Client, person_registry: Registry) -> None:
    upload = SimpleUploadedFile("persons.txt", b"hello", content_type="text/plain")
    response = officer.post(reverse("registries:import", args=["persons"]), {"file": upload})
    assert response.status_code == 200
    assert 'href="#id_file"' in response.content.decode()
    assert ImportJob.objects.count() == 0


# --- history ------------------------------------------------------------------------------------------------


def test_history_shows_who_changed_which_fields_and_never_the_values(officer: Client, record: Record) -> None:
    response = officer.get(reverse("registries:record-history", args=["persons", record.pk]))
    text = " ".join(text_of(response).split())
    assert "1 created" in text and "2 changed" in text
    assert "name" in text and "更正姓名" in text
    assert resident_id(1) not in response.content.decode() and "张三" not in response.content.decode()


def test_history_names_the_import_that_created_or_changed_a_record(officer: Client,
                                                                   person_registry: Registry) -> None:
    rows = [{"resident_id": resident_id(1), "name": "张三", "division_code": "330106"}]
    importing.import_rows(None, person_registry, rows)
    importing.import_rows(None, person_registry, [{**rows[0], "name": "张三丰"}])
    record = Record.objects.get(registry=person_registry)
    text = " ".join(text_of(officer.get(reverse("registries:record-history", args=["persons", record.pk]))).split())
    assert "1 imported" in text and "2 imported" in text and "registries." not in text


# --- admin --------------------------------------------------------------------------------------------------


def test_the_admin_shows_registries_and_imports_read_only(admin_client: Client, person_registry: Registry,
                                                          job: ImportJob) -> None:
    for url in (reverse("admin:registries_registry_changelist"),
                reverse("admin:registries_registry_change", args=[person_registry.pk]),
                reverse("admin:registries_importjob_changelist"),
                reverse("admin:registries_importjob_change", args=[job.pk])):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert 'name="_save"' not in response.content.decode()
    detail = admin_client.get(reverse("admin:registries_registry_change", args=[person_registry.pk])).content.decode()
    assert "resident_id" in detail and "wrapped" not in detail
    assert admin_client.get(reverse("admin:registries_registry_add")).status_code == 403
