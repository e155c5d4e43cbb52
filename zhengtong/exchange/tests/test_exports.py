"""Exports read through the one door: CSV (UTF-8 with a byte order mark), XLSX and JSON parse back and hold
masked values only; every exported record is covered by an exchange.export audit entry; more records than one
batch stream in several audited batches; a refused export answers with the refusal before any output."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from zhengtong.audit.models import AuditEntry
from zhengtong.audit.subjects import subject_hash
from zhengtong.exchange import door, exports
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import roles
from zhengtong.registries.models import Record

PURPOSE = "统计分析"
NAMES = ["王小明", "李四", "欧阳娜娜", "赵六", "钱七"]
MASKED_NAMES = ["王**", "李*", "欧阳**", "赵*", "钱*"]
LABELS = ["resident ID", "name", "phone", "division", "date of birth"]


@pytest.fixture(autouse=True)
def _english(client: Client) -> None:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def clerk(make_staff, city):
    return make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"], username="clerk")


@pytest.fixture
def staff_client(client, clerk):
    client.force_login(clerk)
    return client


def download(client: Client, fmt: str, **extra):
    data = {"fields_wanted": ["resident_id", "name", "phone", "division_code", "birth_date"], "purpose": PURPOSE,
            "case_reference": "", "format": fmt}
    data.update(extra)
    return client.post(reverse("records:export", args=["persons"]), data)


def body(response) -> bytes:
    assert isinstance(response, StreamingHttpResponse) and not response.is_async
    return b"".join(response.streaming_content)  # type: ignore[arg-type]


def assert_nothing_in_clear(content: str) -> None:
    for n in range(1, 6):
        assert person(n) not in content and f"1380013800{n}" not in content
    for name in NAMES:
        assert name not in content
    assert "1985-06-01" not in content


def test_csv_has_a_byte_order_mark_a_header_of_labels_and_masked_rows(staff_client, persons):
    response = download(staff_client, "csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=") and ".csv" in response[
        "Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    raw = body(response)
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == LABELS
    assert [row[1] for row in rows[1:]] == MASKED_NAMES
    assert rows[1][0] == person(1)[:6] + "********" + person(1)[-4:]
    assert rows[1][2] == "138****8001" and rows[1][3] == "330106" and rows[1][4] == "1985"
    assert_nothing_in_clear(text)


def test_xlsx_parses_back_with_masked_values(staff_client, persons):
    response = download(staff_client, "xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "no-store" in response["Cache-Control"] and ".xlsx" in response["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(body(response)), read_only=True)
    rows = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    assert rows[0] == LABELS
    assert [row[1] for row in rows[1:]] == MASKED_NAMES
    assert [row[3] for row in rows[1:]] == ["330106"] * 3 + ["330108"] * 2
    assert_nothing_in_clear(json.dumps(rows, ensure_ascii=False, default=str))


def test_json_is_an_array_of_masked_objects(staff_client, persons):
    response = download(staff_client, "json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json; charset=utf-8"
    records = json.loads(body(response))
    assert [r["name"] for r in records] == MASKED_NAMES
    assert set(records[0]) == {"resident_id", "name", "phone", "division_code", "birth_date"}
    assert records[3]["phone"] == "138****8004" and records[3]["birth_date"] == "1985"
    assert_nothing_in_clear(json.dumps(records, ensure_ascii=False))


def test_the_audit_covers_every_exported_record(staff_client, persons, clerk):
    body(download(staff_client, "csv", fields_wanted=["name"], case_reference="统计-2026-7"))
    entries = list(AuditEntry.objects.filter(action="exchange.export"))
    assert entries and all(e.purpose == PURPOSE and e.case_reference == "统计-2026-7" for e in entries)
    assert all(e.actor_id == str(clerk.pk) and e.fields == ["name"] for e in entries)
    exported = sorted(r for e in entries for r in e.detail["records"])
    assert exported == sorted(Record.objects.filter(registry=persons).values_list("pk", flat=True))
    assert sorted(s for e in entries for s in e.subjects) == sorted(subject_hash(person(n)) for n in range(1, 6))


def test_an_export_of_more_records_than_a_batch_streams_in_audited_batches(persons, clerk, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_BYTES", 16)  # several chunks, too
    response = exports.export_response(door.Reader.staff(clerk), persons, fmt="json", purpose=PURPOSE,
                                       fields=["name", "division_code"], batch_size=2)
    assert not AuditEntry.objects.filter(action="exchange.export").exists()  # nothing read before the download
    chunks = list(response.streaming_content)
    assert len(chunks) > 3
    records = json.loads(b"".join(chunks))
    assert [r["name"] for r in records] == MASKED_NAMES
    batches = AuditEntry.objects.filter(action="exchange.export").order_by("pk")
    assert [len(e.detail["records"]) for e in batches] == [2, 2, 1]


def test_fields_and_filters_narrow_the_export(staff_client, persons):
    rows = list(csv.reader(io.StringIO(body(download(
        staff_client, "csv", fields_wanted=["name", "division_code"], filter_division_code="330108"))
        .decode("utf-8-sig"))))
    assert rows == [["name", "division"], ["赵*", "330108"], ["钱*", "330108"]]


def test_a_refused_export_answers_with_the_refusal_before_any_output(client, persons, make_staff, city):
    outsider = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["other"])
    with pytest.raises(door.Refused) as refused:
        exports.export_response(door.Reader.staff(outsider), persons, fmt="csv", purpose=PURPOSE)
    assert refused.value.code == "no_grant"
    client.force_login(outsider)
    response = download(client, "csv")
    assert not isinstance(response, StreamingHttpResponse)
    assert response.status_code == 403 and 'data-refusal="no_grant"' in response.content.decode()
    assert "王**" not in response.content.decode()
    assert AuditEntry.objects.filter(action="exchange.export_refused").count() == 2
    assert not AuditEntry.objects.filter(action="exchange.export").exists()


def test_under_a_grant_the_export_holds_the_granted_fields_only(client, persons, make_staff, city, make_grant):
    make_grant(fields=("resident_id", "name"), row_filter={"division_code": {"eq": "330108"}})
    outsider = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["other"])
    client.force_login(outsider)
    page = client.get(reverse("records:export", args=["persons"])).content.decode()
    assert 'value="resident_id"' in page and 'value="phone"' not in page
    rows = list(csv.reader(io.StringIO(body(download(client, "csv", fields_wanted=["resident_id", "name"]))
                                       .decode("utf-8-sig"))))
    assert rows[0] == ["resident ID", "name"] and [row[1] for row in rows[1:]] == ["赵*", "钱*"]
    asked_for_more = download(client, "csv", fields_wanted=["name", "phone"])
    assert asked_for_more.status_code == 422 and 'href="#export-fields_wanted' in asked_for_more.content.decode()
    with pytest.raises(door.Refused) as refused:
        exports.export_response(door.Reader.staff(outsider), persons, fmt="csv", purpose=PURPOSE,
                                fields=["name", "phone"])
    assert refused.value.code == "field_not_granted"


def test_the_export_form_names_what_is_missing(staff_client, persons):
    response = download(staff_client, "pdf", purpose="", fields_wanted=[])
    html = response.content.decode()
    assert response.status_code == 422 and not isinstance(response, StreamingHttpResponse)
    for name in ("purpose", "fields_wanted", "format"):
        assert f'href="#export-{name}' in html
    bad_filter = download(staff_client, "csv", filter_division_code="999999")
    assert bad_filter.status_code == 422 and "Not a known administrative division code." in bad_filter.content.decode()
    assert not AuditEntry.objects.filter(action__startswith="exchange.export").exists()


def test_cells_that_would_start_a_formula_are_defused():
    assert exports._defused("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert exports._defused("@SUM(A1)") == "'@SUM(A1)" and exports._defused("+86 138") == "'+86 138"
    assert exports._defused("-3.5") == "-3.5" and exports._defused("王**") == "王**"
    assert exports.cell_text({"type": "Point", "coordinates": [120.1, 30.2]}) == \
        '{"coordinates":[120.1,30.2],"type":"Point"}'
    assert exports.cell_text(None) == "" and exports.cell_text(True) == "true"
    reading = door.Reading("r", 1, 1, {"note": "=1+1", "count": 3}, ())
    text = b"".join(exports.csv_chunks(["note", "count"], ["=label", "count"], iter([reading]))).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [["'=label", "count"], ["'=1+1", "3"]]
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(
        exports.xlsx_chunks(["note", "count"], ["note", "count"], iter([reading])))))
    note, count = workbook.active[2]
    assert note.value == "=1+1" and note.data_type == "s" and count.value == 3
