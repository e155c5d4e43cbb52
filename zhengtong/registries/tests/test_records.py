"""Record writes: validation, keys, history, soft deletion, audit entries, scope, and schema changes that are
refused when existing records would violate them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from zhengtong.audit.models import AuditEntry
from zhengtong.audit.subjects import subject_hash
from zhengtong.conftest import resident_id
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.identity import roles
from zhengtong.registries import actions, queries
from zhengtong.registries.codec import RecordCodec
from zhengtong.registries.models import FieldType, Record, RecordChange, RecordTerm, Registry, SchemaVersion
from zhengtong.registries.schema import FieldSpec
from zhengtong.registries.tests.factories import indicator_fields, person_fields


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Reasons are compared in English, the msgids."""
    with translation.override("en"):
        yield


@pytest.fixture
def persons(city: dict[str, Any]) -> Registry:
    return actions.define_registry(None, code="persons", name="人口", department=city["bureau"],
                                   fields=person_fields())


@pytest.fixture
def indicators(city: dict[str, Any]) -> Registry:
    return actions.define_registry(None, code="indicators", name="宏观经济指标", department=city["bureau"],
                                   fields=indicator_fields())


def person(serial: int, **values: Any) -> dict[str, Any]:
    return {"resident_id": resident_id(serial), "name": "张三", "division_code": "330106", **values}


def test_defining_a_registry_records_its_first_schema_version_and_an_audit_entry(persons: Registry) -> None:
    assert list(persons.fields.values_list("name", flat=True)) == [s.name for s in person_fields()]
    assert SchemaVersion.objects.get(registry=persons).version == 1
    entry = AuditEntry.objects.get(action="registries.define_registry")
    assert entry.object_id == "persons" and "resident_id" in entry.detail["fields"]


def test_a_bad_registry_code_or_duplicate_is_refused(city: dict[str, Any], persons: Registry) -> None:
    with pytest.raises(InvalidInput) as bad:
        actions.define_registry(None, code="Persons!", name="人口", department=city["bureau"], fields=person_fields())
    assert bad.value.details[0].field == "code"
    with pytest.raises(InvalidInput) as twice:
        actions.define_registry(None, code="persons", name="人口", department=city["bureau"], fields=person_fields())
    assert "already exists" in twice.value.details[0].reason
    with pytest.raises(InvalidInput) as reserved:
        actions.define_registry(None, code="new", name="新", department=city["bureau"], fields=person_fields())
    assert "reserved" in reserved.value.details[0].reason
    assert Registry.objects.count() == 1


def test_a_record_with_bad_values_is_refused_whole(persons: Registry) -> None:
    with pytest.raises(InvalidInput) as refused:
        actions.create_record(None, persons, person(1, phone="12345", birth_date="1985-13-01"))
    assert {p.field for p in refused.value.details} == {"phone", "birth_date"}
    assert Record.objects.count() == 0
    assert not AuditEntry.objects.filter(action="registries.create_record").exists()


def test_creating_a_record_is_audited_with_its_data_subject(persons: Registry) -> None:
    record = actions.create_record(None, persons, person(1))
    entry = AuditEntry.objects.get(action="registries.create_record")
    assert entry.object_id == f"persons/{record.pk}"
    assert entry.subjects == [subject_hash(resident_id(1))]
    assert set(entry.fields) == {"resident_id", "name", "division_code"}


def test_a_second_record_with_the_same_key_is_refused(persons: Registry) -> None:
    actions.create_record(None, persons, person(1))
    with pytest.raises(InvalidInput) as refused:
        actions.create_record(None, persons, person(1, name="李四"))
    assert refused.value.details[0].field == "resident_id"
    assert Record.objects.count() == 1


def test_composite_keys_find_one_record(indicators: Registry) -> None:
    first = actions.create_record(None, indicators, {"indicator": "gdp", "division_code": "330100",
                                                     "period": "2025", "value": "1234.5"})
    actions.create_record(None, indicators, {"indicator": "gdp", "division_code": "330100", "period": "2025-Q1",
                                             "value": "300"})
    assert queries.find_record(indicators, {"indicator": "gdp", "division_code": "330100", "period": "2025"}) == first
    with pytest.raises(InvalidInput):
        actions.create_record(None, indicators, {"indicator": "gdp", "division_code": "330100", "period": "2025",
                                                 "value": "1"})


def test_updates_keep_who_changed_what_when_and_the_previous_values(persons: Registry) -> None:
    record = actions.create_record(None, persons, person(1, name="张三"))
    unchanged = actions.update_record(None, record, {"name": "张三"}, reason="核对")
    assert unchanged.version == 1 and not RecordChange.objects.exists()  # nothing changed, nothing written
    record = actions.update_record(None, record, {"name": "张四", "phone": "13800138000"}, reason="更名")
    assert record.version == 2
    change = RecordChange.objects.get(record=record)
    assert change.changed_fields == ["name", "phone"] and change.reason == "更名"
    assert change.previous["phone"] is None
    codec = RecordCodec(persons)
    assert codec.keys.open("name", change.previous["name"]) == "张三"
    assert codec.plain(record.data)["name"] == "张四"
    assert change.audit_entry_id is not None
    entry = AuditEntry.objects.get(pk=change.audit_entry_id)
    assert entry.action == "registries.update_record" and entry.fields == ["name", "phone"]
    assert [(h.version, h.action, h.fields) for h in queries.history(record)][1:] == [
        (2, "registries.update_record", ["name", "phone"])]


def test_deletion_is_soft_needs_a_reason_and_frees_unique_values(persons: Registry) -> None:
    record = actions.create_record(None, persons, person(1, phone="13800138000"))
    with pytest.raises(InvalidInput) as no_reason:
        actions.delete_record(None, record, reason=" ")
    assert no_reason.value.details[0].field == "reason"
    actions.delete_record(None, record, reason="死亡注销")
    record.refresh_from_db()
    assert record.deleted_at is not None and record.deletion_reason == "死亡注销"
    assert queries.find_record(persons, resident_id(1)) is None
    assert queries.find_record(persons, resident_id(1), include_deleted=True) == record
    assert not RecordTerm.objects.filter(record=record).exists()
    with pytest.raises(InvalidInput) as again:
        actions.create_record(None, persons, person(1))
    assert "restore" in again.value.details[0].reason
    with pytest.raises(Conflict):
        actions.update_record(None, record, {"name": "李四"})
    actions.restore_record(None, record, reason="误注销")
    assert queries.find_record(persons, resident_id(1)) == record
    assert [h.action for h in queries.history(record)] == [
        "registries.create_record", "registries.delete_record", "registries.restore_record"]


def test_staff_write_only_within_their_scope(city: dict[str, Any], make_staff: Any, persons: Registry) -> None:
    officer = make_staff(role_names=(roles.DATA_OFFICER,), department=city["bureau"], trained=True)
    stranger = make_staff(role_names=(roles.DATA_OFFICER,), department=city["other"], trained=True)
    clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    record = actions.create_record(officer, persons, person(1))
    assert AuditEntry.objects.get(action="registries.create_record").actor_id == str(officer.pk)
    for who in (stranger, clerk):
        with pytest.raises(NotPermitted):
            actions.update_record(who, record, {"name": "李四"})
    with pytest.raises(NotPermitted):
        actions.define_registry(stranger, code="x-persons", name="人口", department=city["bureau"],
                                fields=person_fields())
    assert AuditEntry.objects.filter(action="identity.permission_denied").count() == 3


def test_a_schema_change_existing_records_would_violate_is_refused_with_the_count(persons: Registry) -> None:
    for serial in range(1, 4):
        actions.create_record(None, persons, person(serial, phone=f"1380013800{serial}" if serial < 3 else ""))
    stricter = person_fields()
    stricter[2] = dataclasses.replace(stricter[2], required=True)  # phone, missing on one record
    stricter.append(FieldSpec("household", FieldType.TEXT, "户号", required=True))  # missing on all three
    with pytest.raises(Conflict) as refused:
        actions.change_schema(None, persons, stricter)
    assert "3 existing records" in refused.value.message
    reasons = {p.field: p.reason for p in refused.value.details}
    assert reasons["household"].startswith("3 records") and reasons["phone"].startswith("1 records")
    persons.refresh_from_db()
    assert persons.schema_version == 1 and persons.fields.count() == len(person_fields())


def test_an_accepted_schema_change_reencodes_records_and_keeps_a_version(persons: Registry) -> None:
    record = actions.create_record(None, persons, person(1, phone="13800138000"))
    changed = person_fields()
    changed[1] = dataclasses.replace(changed[1], encrypted=False, indexed=True)  # name: now plain and indexed
    changed[2] = dataclasses.replace(changed[2], unique=False)  # phone: no longer unique
    changed.append(FieldSpec("note", FieldType.TEXT, "备注"))
    actions.change_schema(None, persons, changed)
    persons.refresh_from_db()
    record.refresh_from_db()
    assert persons.schema_version == 2
    assert record.data["name"] == "张三"  # opened, now stored as it is
    assert list(queries.find_by_term(persons, "name", "张三")) == [record]
    assert set(RecordTerm.objects.filter(record=record).values_list("field", "unique")) == {
        ("name", False), ("division_code", False)}
    assert list(SchemaVersion.objects.filter(registry=persons).values_list("version", flat=True)) == [1, 2]
    assert AuditEntry.objects.get(action="registries.change_schema").detail["added"] == ["note"]


def test_changing_the_key_to_a_field_with_duplicates_is_refused(persons: Registry) -> None:
    actions.create_record(None, persons, person(1, name="张三"))
    actions.create_record(None, persons, person(2, name="张三"))
    by_name = [dataclasses.replace(spec, is_key=spec.name == "name", unique=spec.name == "name",
                                   required=spec.required or spec.name == "name") for spec in person_fields()]
    with pytest.raises(Conflict) as refused:
        actions.change_schema(None, persons, by_name)
    assert "1 existing records" in refused.value.message


def test_a_deleted_record_does_not_block_a_schema_change_and_keeps_its_values(persons: Registry) -> None:
    gone = actions.create_record(None, persons, person(1, division_code="330106"))
    actions.delete_record(None, gone, reason="迁出")
    actions.create_record(None, persons, person(2, division_code="330108"))
    west_only = person_fields()
    west_only[3] = dataclasses.replace(west_only[3], validator="pattern", pattern="330108")
    actions.change_schema(None, persons, west_only)
    gone.refresh_from_db()
    assert RecordCodec(persons).plain(gone.data)["division_code"] == "330106"
