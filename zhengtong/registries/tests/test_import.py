"""Importing records from CSV and XLSX: the report (row, field, reason), all-or-nothing and quarantine, upsert by
key with history, duplicates within the file, header errors, the audit entry, sealed values, background jobs and
their progress, and the `zhengtong import` command."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, strategies
from hypothesis import settings as settings_hypothesis
from openpyxl import Workbook
from stdnum.cn import ric

from zhengtong.audit.models import AuditEntry
from zhengtong.conftest import resident_id
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.identity import actions as identity_actions
from zhengtong.identity import roles
from zhengtong.registries import actions, importing, keys, queries
from zhengtong.registries.codec import RecordCodec, value_context
from zhengtong.registries.models import ImportJob, ImportStatus, Record, RecordChange, RecordTerm, Registry
from zhengtong.registries.schema import Schema
from zhengtong.registries.tasks import run_import_job
from zhengtong.registries.tests.factories import indicator_fields, person_fields

HEADER = ["resident_id", "name", "phone", "division_code", "birth_date"]


@pytest.fixture(autouse=True)
def _isolated(settings: Any, tmp_path: Path) -> Iterator[None]:
    """Reasons compared in English (the msgids); keys, uploads and rejected files under this test's own dirs."""
    settings.VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.KEY_ENCRYPTION_KEY = None
    keys.forget_cached_keys()
    with translation.override("en"):
        yield
    keys.forget_cached_keys()


@pytest.fixture
def persons(city: dict[str, Any]) -> Registry:
    return actions.define_registry(None, code="persons", name="人口", department=city["bureau"],
                                   fields=person_fields())


def pid(n: int) -> str:
    """Distinct valid resident IDs: 50 serials a birth day."""
    return resident_id(n, born=datetime.date(1985, 6, 1) + datetime.timedelta(days=n // 50))


def person(n: int, **changes: str) -> dict[str, str]:
    return {"resident_id": pid(n), "name": f"张{n}", "phone": f"1380000{n:04d}", "division_code": "330106",
            "birth_date": "1985-06-01", **changes}


def write_csv(path: Path, rows: list[dict[str, str]] | list[list[str]], header: list[str] = HEADER,
              encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(name, "") for name in header] if isinstance(row, dict) else row)
    return path


def import_csv(registry: Registry, path: Path, **options: Any) -> importing.ImportOutcome:
    return importing.import_file(None, registry, path, file_format="csv", **options)


def counts(registry: Registry) -> tuple[int, int, int, int]:
    return (Record.objects.filter(registry=registry).count(), RecordTerm.objects.filter(registry=registry).count(),
            RecordChange.objects.filter(record__registry=registry).count(), AuditEntry.objects.count())


def test_csv_import_seals_encrypted_fields_and_records_are_found_by_resident_id(persons, tmp_path):
    path = write_csv(tmp_path / "people.csv", [person(n) for n in range(1, 21)])
    outcome = import_csv(persons, path)
    assert outcome.status == ImportStatus.SUCCEEDED, outcome.problems
    assert (outcome.rows, outcome.created, outcome.updated, outcome.rejected) == (20, 20, 0, 0)
    assert outcome.file_digest and len(outcome.file_digest) == 64
    assert Record.objects.filter(registry=persons).count() == 20
    record = queries.find_record(persons, pid(7).lower())
    assert record is not None
    stored = json.dumps(record.data, ensure_ascii=False)
    assert pid(7) not in stored and "张7" not in stored and "13800000007" not in stored
    assert record.key_value != pid(7)
    assert record.data["division_code"] == "330106" and record.data["birth_date"] == "1985-06-01"
    assert RecordCodec(persons).plain(record.data)["name"] == "张7"
    assert record.created_action == importing.IMPORT_ACTION and record.version == 1
    assert record.created_by == "system" and record.deleted_at is None and record.deletion_reason == ""
    assert record.created_at == record.updated_at
    assert abs((record.created_at - timezone.now()).total_seconds()) < 120
    assert set(RecordTerm.objects.filter(record=record).values_list("field", "unique")) == {
        ("phone", True), ("division_code", False)}
    assert list(queries.find_by_term(persons, "phone", "138-0000-0007")) == [record]
    assert queries.find_record(persons, pid(999)) is None


def test_csv_with_bom_labels_for_headings_and_blank_lines(persons, tmp_path):
    path = tmp_path / "people.csv"
    body = "公民身份号码,Name,手机号码,户籍地区划,date of birth\n"
    body += f"{pid(1)},王五,13900000001,330106,1990-01-02\n\n,,,,\n{pid(2)},赵六,,330108,\n"
    path.write_text(body, encoding="utf-8-sig")
    outcome = import_csv(persons, path)
    assert outcome.status == ImportStatus.SUCCEEDED, outcome.problems
    assert outcome.rows == 2 and outcome.created == 2
    second = queries.find_record(persons, pid(2))
    assert "phone" not in second.data and "birth_date" not in second.data


def test_csv_in_gbk_is_read(persons, tmp_path):
    path = write_csv(tmp_path / "gbk.csv", [person(1, name="欧阳娜娜")], encoding="gbk")
    outcome = import_csv(persons, path)
    assert outcome.status == ImportStatus.SUCCEEDED, outcome.problems
    assert RecordCodec(persons).plain(queries.find_record(persons, pid(1)).data)["name"] == "欧阳娜娜"


def test_xlsx_import_with_labels_dates_and_numbers_as_excel_stores_them(persons, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["公民身份号码", "姓名", "手机号码", "户籍地区划", "出生日期"])
    sheet.append([pid(1), "李雷", 13800138001, 330106, datetime.datetime(1985, 6, 1)])
    sheet.append([pid(2), "韩梅梅", "13800138002", "330108", datetime.date(1986, 7, 2)])
    sheet.append([None, None, None, None, None])
    sheet.append([pid(3), "", 12345, "330106", "1987-08-03"])
    path = tmp_path / "people.xlsx"
    workbook.save(path)
    outcome = importing.import_file(None, persons, path, file_format="xlsx")
    assert outcome.status == ImportStatus.FAILED
    assert outcome.rows == 3 and outcome.rejected == 1
    assert outcome.problems == [
        {"row": 5, "field": "name", "reason": "This field is required."},
        {"row": 5, "field": "phone", "reason": "A mobile number has 11 digits and starts with 13 to 19."},
    ]
    assert Record.objects.filter(registry=persons).count() == 0
    outcome = importing.import_file(None, persons, path, file_format="xlsx", quarantine=True)
    assert (outcome.status, outcome.created, outcome.rejected) == (ImportStatus.PARTIAL, 2, 1)
    plain = RecordCodec(persons).plain(queries.find_record(persons, pid(1)).data)
    assert plain["phone"] == "13800138001" and plain["birth_date"] == "1985-06-01"
    assert queries.find_record(persons, pid(2)).data["birth_date"] == "1986-07-02"


def test_the_report_names_row_field_and_reason_for_every_bad_row(persons, tmp_path):
    bad_id = pid(2)[:-1] + ("1" if pid(2)[-1] != "1" else "2")
    rows = [person(1), person(2, resident_id=bad_id), person(3),
            person(4, phone="23800000004", birth_date="1985-13-01"), person(5, division_code="999999")]
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", rows))
    assert outcome.status == ImportStatus.FAILED
    assert (outcome.rows, outcome.rejected, outcome.created) == (5, 3, 0)
    by_row = {(p["row"], p["field"]): p["reason"] for p in outcome.problems}
    assert set(by_row) == {(3, "resident_id"), (5, "phone"), (5, "birth_date"), (6, "division_code")}
    assert "check digit" in by_row[(3, "resident_id")]
    assert by_row[(5, "birth_date")] == "Expected a date as YYYY-MM-DD."
    assert by_row[(6, "division_code")] == "Not a known administrative division code."


def test_rows_are_cleaned_exactly_as_the_schema_cleans_them(persons):
    """The importer's compiled cleaner gives what Schema.clean gives, on good values and on bad ones."""
    schema: Schema = RecordCodec(persons).schema
    context = value_context()
    cleaner = importing.RowCleaner(schema, context)
    good = pid(3)
    candidates = [good, good.lower(), f" {good} ", good[:-1] + "0", good[:-1] + "X", good[:10] + "1301" + good[14:],
                  "110105194912310021", "11010519491231002x", "320" + good[3:], "000000" + good[6:], good[:17],
                  "１" + good[1:], 110105194912310021, "", "  ", None, good + "1", "11010519491231002X",
                  "990105194912310021"]
    for value in candidates:
        row = {"resident_id": value, "name": " 张三 ", "phone": "138 0000 0001", "birth_date": "1985-6-1"}
        assert cleaner.clean(row) == schema.clean(row, context), value
    unknown = {"resident_id": good, "name": "张三", "nickname": "x"}
    assert cleaner.clean(unknown) == schema.clean(unknown, context)
    missing = {"name": "张三"}
    assert cleaner.clean(missing) == schema.clean(missing, context)


@settings_hypothesis(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(digits=strategies.text(alphabet="0123456789", min_size=17, max_size=17),
       last=strategies.sampled_from("0123456789Xx"), county=strategies.sampled_from(["110105", "330106", "330108",
                                                                                   "000000", "999999"]),
       padding=strategies.sampled_from(["", " ", "\t"]))
def test_resident_ids_are_judged_as_the_schema_judges_them(persons, digits, last, county, padding):
    schema: Schema = RecordCodec(persons).schema
    context = value_context()
    cleaner = importing.RowCleaner(schema, context)
    born = datetime.date(1950, 1, 1) + datetime.timedelta(days=int(digits[:5]) % 25000)
    body = f"{county}{born:%Y%m%d}{digits[-3:]}"
    checked = body + ric.calc_check_digit(body + "0")  # valid check digit and date; the place may not be
    for number in (digits + last, county + digits[6:] + last, checked, checked.lower()):
        row = {"resident_id": padding + number, "name": "张三"}
        assert cleaner.clean(row) == schema.clean(row, context), number


def test_all_or_nothing_writes_nothing_when_one_row_of_many_fails(persons, tmp_path):
    actions.create_record(None, persons, person(1000))
    before = counts(persons)
    rows = [person(n) for n in range(1, 120)]
    rows[97]["phone"] = "12345"
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", rows))
    assert outcome.status == ImportStatus.FAILED
    assert outcome.problems == [{"row": 99, "field": "phone",
                                 "reason": "A mobile number has 11 digits and starts with 13 to 19."}]
    assert (outcome.created, outcome.updated, outcome.rejected, outcome.rejected_path) == (0, 0, 1, None)
    assert counts(persons) == before


def test_all_or_nothing_keeps_checking_after_the_first_failure(persons, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "BATCH_ROWS", 4)
    rows = [person(n) for n in range(1, 20)]
    rows[1]["birth_date"] = "yesterday"
    rows[16]["resident_id"] = pid(5)
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", rows))
    assert [(p["row"], p["field"]) for p in outcome.problems] == [(3, "birth_date"), (18, "resident_id")]
    assert outcome.problems[1]["reason"] == "Row 6 has the same key."
    assert Record.objects.filter(registry=persons).count() == 0


def test_quarantine_writes_good_rows_and_returns_the_bad_ones(persons, tmp_path):
    before = counts(persons)
    rows = [person(n) for n in range(1, 11)]
    rows[2]["phone"] = "123"
    rows[6]["name"] = ""
    rows[8]["resident_id"] = pid(1)
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", rows), quarantine=True)
    assert (outcome.status, outcome.rows, outcome.created, outcome.rejected) == (ImportStatus.PARTIAL, 10, 7, 3)
    assert Record.objects.filter(registry=persons).count() == before[0] + 7
    assert queries.find_record(persons, pid(3)) is None and queries.find_record(persons, pid(4)) is not None
    with outcome.rejected_path.open(encoding="utf-8-sig", newline="") as handle:
        rejected = list(csv.reader(handle))
    assert rejected[0] == [*HEADER, "problems"]
    assert [row[0] for row in rejected[1:]] == [pid(3), pid(7), pid(1)]
    assert rejected[1][2] == "123" and "phone: A mobile number" in rejected[1][-1]
    assert rejected[2][-1] == "name: This field is required."
    assert rejected[3][-1] == "resident_id: Row 2 has the same key."
    entry = AuditEntry.objects.get(action=importing.IMPORT_ACTION)
    assert entry.detail["mode"] == "quarantine"
    assert (entry.detail["created"], entry.detail["rejected"], entry.detail["rows"]) == (7, 3, 10)


def test_quarantine_with_every_row_bad_writes_nothing(persons, tmp_path):
    before = counts(persons)
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", [person(1, phone="1"), person(2, name=" ")]),
                         quarantine=True)
    assert (outcome.status, outcome.created, outcome.rejected) == (ImportStatus.FAILED, 0, 2)
    assert outcome.rejected_path is not None and outcome.rejected_path.exists()
    assert counts(persons) == before


def test_upsert_updates_changed_records_only_with_history(persons, tmp_path):
    first = actions.create_record(None, persons, person(1))
    second = actions.create_record(None, persons, person(2))
    sealed_name = first.data["name"]
    rows = [person(1, name="张一改", phone=""), person(2), person(3)]
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", rows), source_name="")
    assert outcome.status == ImportStatus.SUCCEEDED, outcome.problems
    assert (outcome.created, outcome.updated, outcome.unchanged) == (1, 1, 1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.version == 2 and second.version == 1
    plain = RecordCodec(persons).plain(first.data)
    assert plain["name"] == "张一改" and "phone" not in plain
    change = RecordChange.objects.get(record=first)
    assert change.version == 2 and change.action == importing.IMPORT_ACTION
    assert sorted(change.changed_fields) == ["name", "phone"]
    assert change.previous["name"] == sealed_name  # the previous value, still sealed
    assert RecordCodec(persons).plain(change.previous)["name"] == "张1"
    entry = AuditEntry.objects.get(action=importing.IMPORT_ACTION)
    assert change.audit_entry_id == entry.pk
    assert not RecordChange.objects.filter(record=second).exists()
    assert not RecordTerm.objects.filter(record=first, field="phone").exists()
    assert [entry.action for entry in queries.history(first)] == ["registries.create_record", importing.IMPORT_ACTION]


def test_columns_left_out_keep_their_values_on_update(persons, tmp_path):
    record = actions.create_record(None, persons, person(1))
    path = write_csv(tmp_path / "p.csv", [[pid(1), "新名字"]], header=["resident_id", "name"])
    outcome = import_csv(persons, path)
    assert (outcome.status, outcome.updated) == (ImportStatus.SUCCEEDED, 1)
    record.refresh_from_db()
    plain = RecordCodec(persons).plain(record.data)
    assert plain["name"] == "新名字" and plain["phone"] == "13800000001" and plain["birth_date"] == "1985-06-01"


def test_a_deleted_records_key_and_a_unique_value_held_elsewhere_are_row_errors(persons, tmp_path):
    gone = actions.create_record(None, persons, person(1))
    actions.delete_record(None, gone, reason="重复登记")
    actions.create_record(None, persons, person(2))
    rows = [person(1), person(3, phone="13800000002"), person(4), person(2, name="改名", phone="13900000002")]
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", rows), quarantine=True)
    assert outcome.problems == [
        {"row": 2, "field": "resident_id", "reason": "A deleted record holds this key; restore it instead."},
        {"row": 3, "field": "phone", "reason": "Another record already has this value."},
    ]
    assert (outcome.created, outcome.updated) == (1, 1)
    changed = RecordCodec(persons).plain(queries.find_record(persons, pid(2)).data)
    assert (changed["name"], changed["phone"]) == ("改名", "13900000002")
    assert list(queries.find_by_term(persons, "phone", "13900000002")) == [queries.find_record(persons, pid(2))]
    assert not queries.find_by_term(persons, "phone", "13800000002").exists()


def test_duplicates_within_the_file_name_the_earlier_row(persons, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "BATCH_ROWS", 3)
    rows = [person(1), person(2), person(3), person(1, name="又一个"), person(4, phone="13800000002"), person(5),
            person(1)]
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", rows))
    assert outcome.problems == [
        {"row": 5, "field": "resident_id", "reason": "Row 2 has the same key."},
        {"row": 6, "field": "phone", "reason": "Row 3 has the same value."},
        {"row": 8, "field": "resident_id", "reason": "Row 2 has the same key."},
    ]


def test_duplicates_are_found_when_the_first_rows_have_moved_to_a_temporary_file(persons, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "BATCH_ROWS", 7)
    monkeypatch.setattr(importing, "SPILL_AT", 10)
    rows = [person(n) for n in range(1, 60)]
    rows.append(person(3))
    rows.append(person(60, phone="13800000050"))
    rows.extend([person(61), person(61)])
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", rows), quarantine=True)
    assert outcome.problems == [
        {"row": 61, "field": "resident_id", "reason": "Row 4 has the same key."},
        {"row": 62, "field": "phone", "reason": "Row 51 has the same value."},
        {"row": 64, "field": "resident_id", "reason": "Row 63 has the same key."},
    ]
    assert outcome.created == 60


def test_composite_keys_upsert(city, tmp_path):
    indicators = actions.define_registry(None, code="indicators", name="指标", department=city["bureau"],
                                         fields=indicator_fields())
    rows = [["gdp", "330100", "2025", "1234.5"], ["地区生产总值", "330106", "2025-Q1", "12"],
            ["population", "330100", "2025", "100"]]
    path = write_csv(tmp_path / "i.csv", rows, header=["indicator", "行政区划", "period", "value"])
    assert import_csv(indicators, path).created == 3
    rows[1][3] = "13"
    outcome = import_csv(indicators, write_csv(tmp_path / "i.csv", rows, header=["indicator", "行政区划",
                                                                                "period", "value"]))
    assert (outcome.created, outcome.updated, outcome.unchanged) == (0, 1, 2)
    record = queries.find_record(indicators, {"indicator": "gdp", "division_code": "330106", "period": "2025-Q1"})
    assert record.data["value"] == "13" and record.version == 2


@pytest.mark.parametrize(("header", "expected"), [
    (["resident_id", "name", "phone", "nickname"], [(1, "nickname", "Column 4 (nickname)")]),
    (["resident_id", "姓名", "name"], [(1, "name", "Columns 2 and 3 both give this field.")]),
    (["resident_id", "phone"], [(1, "name", "The file has no column for this required field.")]),
])
def test_header_errors_are_reported_before_any_row_and_nothing_is_written(persons, tmp_path, header, expected):
    before = counts(persons)
    path = write_csv(tmp_path / "p.csv", [[pid(1), "张三", "13800000001", "x"]], header=header)
    outcome = import_csv(persons, path)
    assert outcome.status == ImportStatus.FAILED and outcome.rows == 0
    assert [(p["row"], p["field"], p["reason"][:len(reason)]) for p, (_, _, reason)
            in zip(outcome.problems, expected, strict=True)] == expected
    assert counts(persons) == before


def test_unreadable_files_and_unknown_formats(persons, tmp_path):
    path = tmp_path / "p.xlsx"
    path.write_bytes(b"not a workbook")
    outcome = importing.import_file(None, persons, path, file_format="xlsx")
    assert outcome.status == ImportStatus.FAILED and "not a readable XLSX" in outcome.problems[0]["reason"]
    with pytest.raises(InvalidInput) as refused:
        importing.import_file(None, persons, path, file_format="ods")
    assert refused.value.details[0].field == "file_format"


def test_a_value_under_no_heading_is_a_row_error(persons, tmp_path):
    path = write_csv(tmp_path / "p.csv", [[pid(1), "张三", "", "", "", "额外"]], header=[*HEADER, ""])
    outcome = import_csv(persons, path)
    assert outcome.problems == [{"row": 2, "field": "column 6", "reason": "This registry has no field column 6."}]


def test_one_audit_entry_per_import_with_source_digest_mode_and_counts(persons, tmp_path, make_staff):
    officer = make_staff(role_names=(roles.DATA_OFFICER,))
    before = AuditEntry.objects.count()
    outcome = importing.import_file(officer, persons, write_csv(tmp_path / "people.csv", [person(1), person(2)]),
                                    file_format="csv")
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.get(action=importing.IMPORT_ACTION)
    assert entry.actor_id == str(officer.pk) and entry.object_id == "persons"
    assert entry.detail == {"source": "people.csv", "file_digest": outcome.file_digest, "mode": "all_or_nothing",
                            "rows": 2, "created": 2, "updated": 0, "unchanged": 0, "rejected": 0, "job": None}
    assert sorted(entry.fields) == sorted(HEADER)


def test_importing_needs_the_import_permission_in_scope(persons, tmp_path, make_staff, city):
    path = write_csv(tmp_path / "p.csv", [person(1)])
    clerk = make_staff(role_names=(roles.WINDOW_STAFF,))
    with pytest.raises(NotPermitted):
        importing.import_file(clerk, persons, path, file_format="csv")
    outsider = make_staff(role_names=(roles.DATA_OFFICER,), department=city["other"])
    with pytest.raises(NotPermitted):
        importing.start_import(outsider, persons, upload=ContentFile(b"x", name="p.csv"), file_name="p.csv",
                               quarantine=False)
    assert Record.objects.filter(registry=persons).count() == 0


def test_import_rows_numbers_rows_from_one_and_reports_unknown_names(persons):
    rows = [person(1), {**person(2), "nickname": "小二"}, person(3, phone="x")]
    outcome = importing.import_rows(None, persons, iter(rows), quarantine=True, source_name="demo")
    assert outcome.problems == [
        {"row": 2, "field": "nickname", "reason": "This registry has no field nickname."},
        {"row": 3, "field": "phone", "reason": "A mobile number has 11 digits and starts with 13 to 19."},
    ]
    with outcome.rejected_path.open(encoding="utf-8-sig") as handle:
        assert next(csv.reader(handle)) == [*HEADER, "problems"]
    assert outcome.created == 1


def test_progress_is_reported_per_batch(persons, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "BATCH_ROWS", 10)
    seen = []
    import_csv(persons, write_csv(tmp_path / "p.csv", [person(n) for n in range(1, 26)]),
               progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 25) and seen[-1] == (25, 25)
    assert (10, 25) in seen and (20, 25) in seen


def test_a_job_runs_in_the_worker_and_its_progress_is_readable_meanwhile(persons, tmp_path, make_staff, monkeypatch):
    officer = make_staff(role_names=(roles.DATA_OFFICER,))
    monkeypatch.setattr(importing, "BATCH_ROWS", 10)
    monkeypatch.setattr(importing, "PROGRESS_INTERVAL", 0)
    content = write_csv(tmp_path / "people.csv", [person(n) for n in range(1, 31)]).read_bytes()
    job = importing.start_import(officer, persons, upload=ContentFile(content, name="upload"),
                                 file_name="我的人口.CSV", quarantine=False)
    assert (job.status, job.file_format, job.file_name, job.requested_by) == ("pending", "csv", "我的人口.CSV", officer)
    assert Path(job.upload.path).read_bytes() == content
    progress = importing.job_progress(job)
    assert (progress.status, progress.rows_done, progress.percent) == (ImportStatus.PENDING, 0, None)

    observed = []
    real_process = importing._Import._process

    def watching(self, batch):
        real_process(self, batch)
        if batch:
            observed.append(importing.job_progress(job))

    monkeypatch.setattr(importing._Import, "_process", watching)
    assert run_import_job.call(job.pk) == ImportStatus.SUCCEEDED
    assert [(p.status, p.rows_done, p.rows_total, p.percent) for p in observed if p.rows_done] == [
        ("running", 10, 30, 33), ("running", 20, 30, 66), ("running", 30, 30, 99)]
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.created, job.rejected) == (ImportStatus.SUCCEEDED, 30, 30, 0)
    assert job.finished_at is not None and len(job.file_digest) == 64
    assert not job.upload  # the clear-text upload is not kept
    final = importing.job_progress(job)
    assert (final.status, final.percent, final.created, final.has_rejected_file) == ("succeeded", 100, 30, False)
    assert run_import_job.call(job.pk) == ImportStatus.SUCCEEDED  # a second run does nothing
    assert Record.objects.filter(registry=persons).count() == 30
    assert AuditEntry.objects.get(action=importing.IMPORT_ACTION).detail["job"] == job.pk


def test_a_quarantine_job_keeps_its_rejected_rows_for_download(persons, tmp_path, make_staff):
    officer = make_staff(role_names=(roles.DATA_OFFICER,))
    content = write_csv(tmp_path / "p.csv", [person(1), person(2, phone="1")]).read_bytes()
    job = importing.start_import(officer, persons, upload=ContentFile(content), file_name="p.csv", quarantine=True)
    assert run_import_job.call(job.pk) == ImportStatus.PARTIAL
    job.refresh_from_db()
    progress = importing.job_progress(job)
    assert (progress.created, progress.rejected, progress.has_rejected_file) == (1, 1, True)
    assert progress.problems == [{"row": 3, "field": "phone",
                                  "reason": "A mobile number has 11 digits and starts with 13 to 19."}]
    assert "phone: A mobile number" in importing.rejected_rows_path(job).read_text(encoding="utf-8-sig")


def test_a_failed_job_reports_its_header_problems(persons, tmp_path):
    content = write_csv(tmp_path / "p.csv", [[pid(1)]], header=["resident_id"]).read_bytes()
    job = importing.start_import(None, persons, upload=ContentFile(content), file_name="p.csv", quarantine=False)
    assert run_import_job.call(job.pk) == ImportStatus.FAILED
    progress = importing.job_progress(job)
    assert progress.status == ImportStatus.FAILED and progress.problems[0]["row"] == 1
    assert not importing.rejected_rows_path(job)


def test_start_import_refuses_other_formats_and_empty_files(persons):
    with pytest.raises(InvalidInput) as refused:
        importing.start_import(None, persons, upload=ContentFile(b"a"), file_name="p.ods", quarantine=False)
    assert refused.value.details[0].field == "file"
    with pytest.raises(InvalidInput) as refused:
        importing.start_import(None, persons, upload=ContentFile(b""), file_name="p.csv", quarantine=False)
    assert refused.value.details[0].field == "file"
    assert not ImportJob.objects.exists()


def test_the_import_command(persons, tmp_path):
    good = write_csv(tmp_path / "good.csv", [person(1), person(2)])
    out = io.StringIO()
    call_command("import", "persons", str(good), "--quiet", stdout=out)
    assert "OK: 2 rows: 2 created, 0 updated, 0 unchanged, 0 rejected." in out.getvalue()

    bad = write_csv(tmp_path / "bad.csv", [person(3), person(4, phone="5")])
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("import", "persons", str(bad), "--quiet", stdout=out)
    assert exited.value.code == 1
    assert "row 3, phone: A mobile number has 11 digits" in out.getvalue()
    assert "FAILED: Nothing was written." in out.getvalue()
    assert queries.find_record(persons, pid(3)) is None

    out = io.StringIO()
    rejected = tmp_path / "rejected.csv"
    call_command("import", "persons", str(bad), "--quarantine", "--rejected-out", str(rejected), "--quiet",
                 stdout=out)
    assert "PARTIAL: 2 rows: 1 created" in out.getvalue()
    assert "A mobile number" in rejected.read_text(encoding="utf-8-sig")
    assert f"Rejected rows with their problems: {rejected}" in out.getvalue()
    assert not (tmp_path / "var" / "imports").exists()  # written where asked, not written elsewhere and moved


def test_the_import_command_reads_xlsx_and_shows_a_progress_bar(persons, tmp_path, capsys):
    workbook = Workbook()
    workbook.active.append(HEADER)
    workbook.active.append(list(person(1).values()))
    path = tmp_path / "people.xlsx"
    workbook.save(path)
    call_command("import", "persons", str(path))
    captured = capsys.readouterr()
    assert "OK: 1 rows: 1 created" in captured.out
    assert "importing people.xlsx" in captured.err


def test_a_larger_import_in_many_batches(persons, tmp_path, monkeypatch):
    """Several batches through COPY (PostgreSQL) or executemany (SQLite), then an upsert of the same file."""
    monkeypatch.setattr(importing, "BATCH_ROWS", 97)
    rows = [person(n, name=f"名\\字\t{n}") for n in range(1, 1001)]
    path = write_csv(tmp_path / "p.csv", rows)
    outcome = import_csv(persons, path)
    assert (outcome.status, outcome.created) == (ImportStatus.SUCCEEDED, 1000), outcome.problems
    assert RecordTerm.objects.filter(registry=persons).count() == 2000
    codec = RecordCodec(persons)
    assert codec.plain(queries.find_record(persons, pid(500)).data)["name"] == "名\\字\t500"
    again = import_csv(persons, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1000)
    rows[10]["name"] = "改"
    changed = import_csv(persons, write_csv(tmp_path / "p.csv", rows))
    assert (changed.updated, changed.unchanged) == (1, 999)


def test_a_key_taken_by_another_writer_meanwhile_stops_the_import_and_nothing_is_written(persons, tmp_path,
                                                                                        monkeypatch):
    """The database's unique index is the last word: a record saved by someone else after the import looked
    (here: the look-ups are skipped, as if the record came in between) makes the whole import a conflict. On
    PostgreSQL the error comes from the copy thread and reaches the import's own."""
    taken = actions.create_record(None, persons, person(150))
    before = counts(persons)
    monkeypatch.setattr(importing, "BATCH_ROWS", 50)
    monkeypatch.setattr(importing._Import, "_existing", lambda self, rows: {})
    monkeypatch.setattr(importing._Import, "_unique_conflicts", lambda self, rows, existing: None)
    with pytest.raises(Conflict):
        import_csv(persons, write_csv(tmp_path / "p.csv", [person(n) for n in range(1, 301)]))
    assert counts(persons) == before
    assert Record.objects.get(pk=taken.pk).version == 1  # the connection still works
    assert import_csv(persons, write_csv(tmp_path / "q.csv", [person(400)])).created == 1


def test_a_birth_place_stdnum_cannot_look_up_costs_its_row_not_the_import(persons, tmp_path):
    body = "65433719900101001"  # stdnum's birth-place table raises KeyError for this prefix
    unknown_place = body + ric.calc_check_digit(body + "0")
    outcome = import_csv(persons, write_csv(tmp_path / "p.csv", [person(1), person(2, resident_id=unknown_place)]),
                         quarantine=True)
    assert (outcome.created, outcome.rejected) == (1, 1)
    assert outcome.problems == [{"row": 3, "field": "resident_id",
                                 "reason": "The resident ID number has an impossible birth date or birth place."}]


def test_record_data_is_written_as_the_json_encoder_writes_it():
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    for data in [{}, {"a": 'x"\\\n\t\x00é中'}, {"n": 1, "s": "x"}, {"p": {"lon": 1.5, "lat": 2}},
                 {"b": True, "z": None}, {"d": "1.50"}]:
        assert importing._json(data) == encoder.encode(data)


# --- files and failures: nothing personal left behind, nothing misleading reported ----------------------------------


def job_files(settings: Any) -> list[str]:
    directory = Path(settings.MEDIA_ROOT) / "registries" / "imports"
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def start_job(rows: list[dict[str, str]], tmp_path: Path, *, quarantine: bool = False) -> ImportJob:
    content = write_csv(tmp_path / "upload.csv", rows).read_bytes()
    return importing.start_import(None, Registry.objects.get(code="persons"), upload=ContentFile(content),
                                  file_name="p.csv", quarantine=quarantine)


def test_a_job_refused_when_it_runs_deletes_its_upload_too(persons, tmp_path, settings, make_staff):
    officer = make_staff(role_names=(roles.DATA_OFFICER,))
    content = write_csv(tmp_path / "upload.csv", [person(1)]).read_bytes()
    job = importing.start_import(officer, persons, upload=ContentFile(content), file_name="p.csv",
                                 quarantine=False)
    assert job_files(settings) == [f"job-{job.pk}.csv"]
    identity_actions.set_roles(None, officer, ())  # the permission is gone by the time the worker runs the job
    assert run_import_job.call(job.pk) == ImportStatus.FAILED
    job.refresh_from_db()
    assert job.message and not job.upload and job_files(settings) == []


def test_a_job_stopped_by_a_server_error_keeps_no_file_and_shows_no_error_text(persons, tmp_path, settings,
                                                                              monkeypatch):
    """A database error's text can hold values of the file: staff get a plain message, the log gets the error."""
    job = start_job([person(1)], tmp_path, quarantine=True)

    def failing(*args: Any, **kwargs: Any) -> importing.ImportOutcome:
        raise RuntimeError(f'duplicate key value violates unique constraint: (key_value)=({pid(1)})')

    monkeypatch.setattr(importing, "import_file", failing)
    with pytest.raises(RuntimeError):
        importing.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and job.finished_at is not None
    assert pid(1) not in job.message and "error on the server" in job.message
    assert not job.upload and job_files(settings) == []


def test_deleting_a_job_removes_its_rejected_rows_and_progress_files(persons, tmp_path, settings,
                                                                    django_capture_on_commit_callbacks):
    job = start_job([person(1), person(2, phone="1")], tmp_path, quarantine=True)
    assert run_import_job.call(job.pk) == ImportStatus.PARTIAL
    importing._ProgressFile(job).write({"status": "running"})  # as a worker that died would leave it
    assert job_files(settings) == [f"job-{job.pk}.progress.json", f"job-{job.pk}.rejected.csv"]
    waiting = start_job([person(3)], tmp_path)  # never run: its upload is still there
    with django_capture_on_commit_callbacks(execute=True):
        job.delete()
        waiting.delete()
    assert job_files(settings) == []


def test_a_stopped_quarantine_import_leaves_no_rejected_rows(persons, tmp_path, monkeypatch):
    """After a stop everything is rolled back: rejected rows checked so far would be a misleading report."""
    monkeypatch.setattr(importing, "BATCH_ROWS", 1)

    def rows() -> Iterator[dict[str, str]]:
        yield person(1)
        yield person(2, phone="1")
        raise importing._StopImport(importing._problem(3, "", "The file cannot be read from this row on."))

    rejected = tmp_path / "rejected.csv"
    outcome = importing.import_rows(None, persons, rows(), quarantine=True, rejected_path=rejected)
    assert outcome.status == ImportStatus.FAILED and outcome.rejected_path is None
    assert outcome.problems[0]["reason"] == "The file cannot be read from this row on."
    assert not rejected.exists() and Record.objects.filter(registry=persons).count() == 0


def test_a_quarantine_import_ended_by_a_conflict_leaves_no_rejected_rows(persons, tmp_path, monkeypatch):
    actions.create_record(None, persons, person(150))
    monkeypatch.setattr(importing, "BATCH_ROWS", 50)
    monkeypatch.setattr(importing._Import, "_existing", lambda self, rows: {})
    monkeypatch.setattr(importing._Import, "_unique_conflicts", lambda self, rows, existing: None)
    rejected = tmp_path / "rejected.csv"
    rows = [person(n, phone="1") if n == 3 else person(n) for n in range(1, 301)]
    with pytest.raises(Conflict):
        import_csv(persons, write_csv(tmp_path / "p.csv", rows), quarantine=True, rejected_path=rejected)
    assert not rejected.exists()


def test_an_upload_is_not_kept_when_the_job_cannot_be_started(persons, tmp_path, settings, monkeypatch):
    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(importing.audit, "record", failing)
    with pytest.raises(RuntimeError):
        start_job([person(1)], tmp_path)
    assert not ImportJob.objects.exists() and job_files(settings) == []


def test_the_import_reads_the_schema_under_the_registrys_lock(persons, monkeypatch):
    """A schema change that commits before the import takes the registry's lock is the schema the rows meet (the
    import used to read it earlier, outside its transaction). On PostgreSQL the lock is a real row lock."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def shorter_names(done: int, total: int | None) -> None:
        if done == 0 and not changed:
            fields = [dataclasses.replace(spec, max_length=2) if spec.name == "name" else spec
                      for spec in Schema(person_fields()).fields]
            actions.change_schema(None, persons, fields)
            changed.append(True)

    changed: list[bool] = []
    with CaptureQueriesContext(connection) as queries_run:
        outcome = importing.import_rows(None, persons, [person(1, name="张三丰")], progress=shorter_names)
    assert changed
    assert outcome.status == ImportStatus.FAILED
    assert outcome.problems == [{"row": 1, "field": "name", "reason": "At most 2 characters."}]
    if connection.vendor == "postgresql":
        assert any("FOR UPDATE" in query["sql"] and Registry._meta.db_table in query["sql"]
                   for query in queries_run.captured_queries)


def test_a_workbook_without_sheets_or_with_a_damaged_sheet_stops_the_import_cleanly(persons, tmp_path,
                                                                                    monkeypatch):
    import zipfile

    import openpyxl

    workbook = Workbook()
    workbook.active.append(HEADER)
    for n in range(1, 4):
        workbook.active.append(list(person(n).values()))
    good = tmp_path / "good.xlsx"
    workbook.save(good)

    def rewritten(name: str, part: str, change: Any) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
            for item in source.infolist():
                data = source.read(item.filename)
                target.writestr(item, change(data) if item.filename == part else data)
        return path

    no_sheets = rewritten("empty.xlsx", "xl/workbook.xml",
                          lambda data: re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", data))
    damaged = rewritten("damaged.xlsx", "xl/worksheets/sheet1.xml", lambda data: data[:len(data) * 3 // 4])
    opened = []
    real_load = openpyxl.load_workbook

    def load(*args: Any, **kwargs: Any) -> Any:
        opened.append(real_load(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(openpyxl, "load_workbook", load)
    outcome = importing.import_file(None, persons, no_sheets, file_format="xlsx")
    assert outcome.status == ImportStatus.FAILED
    assert outcome.problems == [{"row": 1, "field": "", "reason": "The workbook has no sheet."}]
    outcome = importing.import_file(None, persons, damaged, file_format="xlsx", quarantine=True)
    assert outcome.status == ImportStatus.FAILED and outcome.created == 0
    assert "the workbook may be damaged" in outcome.problems[0]["reason"]
    assert Record.objects.filter(registry=persons).count() == 0
    assert len(opened) == 2 and all(book._archive.fp is None for book in opened)  # both closed


def test_a_running_job_without_progress_for_long_is_stalled(persons, tmp_path, settings):
    import os
    import time

    job = start_job([person(1)], tmp_path)
    assert not importing.job_progress(job).stalled  # waiting is not stalling
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
    importing._ProgressFile(job).write({"status": "running", "rows_done": 5, "rows_total": 10})
    assert not importing.job_progress(job).stalled
    long_ago = time.time() - importing.STALLED_AFTER - 60
    os.utime(importing._progress_path(job), (long_ago, long_ago))
    progress = importing.job_progress(job)
    assert progress.stalled and progress.status == ImportStatus.RUNNING and not progress.finished
    importing._progress_path(job).unlink()
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - datetime.timedelta(hours=1))
    assert importing.job_progress(job).stalled  # no progress file at all: counted from the job's start
