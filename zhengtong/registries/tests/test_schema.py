"""A registry's schema: which definitions are refused, and how values of each type are cleaned or refused."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation
from stdnum.cn import ric

from zhengtong.conftest import credit_code, resident_id
from zhengtong.registries.models import FieldType, Level, Sensitivity, Validator
from zhengtong.registries.schema import (
    Context,
    FieldSpec,
    Schema,
    check_definition,
    json_schema_of,
    specs_from_json_schema,
)
from zhengtong.registries.tests.factories import indicator_fields, person_fields


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Reasons are compared in English, the msgids."""
    with translation.override("en"):
        yield


CONTEXT = Context(division_codes=lambda: {"330100", "330106"}, file_exists=lambda digest: digest == "a" * 64)


def problems_of(specs: list[FieldSpec]) -> dict[str, str]:
    return {problem.field: problem.reason for problem in check_definition(specs)}


def test_the_sample_schemas_are_valid() -> None:
    assert check_definition(person_fields()) == []
    assert check_definition(indicator_fields()) == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": "Resident ID"}, "fields[0].name", "lower-case"),
        ({"type": "money"}, "fields[0].type", "Unknown type"),
        ({"label": " "}, "fields[0].label", "label"),
        ({"required": False}, "fields[0].required", "key field must be required"),
        ({"validator": Validator.PATTERN}, "fields[0].pattern", "needs a pattern"),
        ({"validator": Validator.PATTERN, "pattern": "(unclosed"}, "fields[0].pattern", "not a valid regular"),
        ({"level": Level.L2}, "fields[0].level", "at least level L3"),
        ({"masking": "keep:6"}, "fields[0].masking", "keep takes two numbers"),
        ({"masking": "blur"}, "fields[0].masking", "unknown masking rule"),
        ({"type": FieldType.GEOMETRY, "validator": ""}, "fields[0].is_key", "A key must be"),
    ],
)
def test_a_bad_definition_names_the_field_and_the_reason(change: dict, field: str, words: str) -> None:
    specs = person_fields()
    specs[0] = dataclasses.replace(specs[0], **change)
    assert words in problems_of(specs)[field]


def test_a_registry_needs_a_key_and_distinct_names() -> None:
    no_key = [dataclasses.replace(spec, is_key=False) for spec in person_fields()]
    assert "key" in problems_of(no_key)["fields"]
    twice = [*person_fields(), person_fields()[1]]
    assert "Two fields" in problems_of(twice)[f"fields[{len(twice) - 1}].name"]
    enum = indicator_fields()
    enum[0] = dataclasses.replace(enum[0], choices=[{"value": "gdp"}, {"value": "gdp"}])
    assert "same value" in problems_of(enum)["fields[0].choices"]


def clean_one(spec: FieldSpec, value: object) -> tuple[object, list[str]]:
    cleaned, problems = Schema([spec]).clean({spec.name: value}, CONTEXT, partial=True)
    return cleaned.get(spec.name), [problem.reason for problem in problems]


@pytest.mark.parametrize(
    ("spec", "given", "stored"),
    [
        (FieldSpec("id", FieldType.TEXT, "号码", validator=Validator.RESIDENT_ID),
         resident_id(3).lower(), resident_id(3).upper()),
        (FieldSpec("code", FieldType.TEXT, "代码", validator=Validator.CREDIT_CODE), credit_code(4), credit_code(4)),
        (FieldSpec("phone", FieldType.TEXT, "手机", validator=Validator.PHONE), "138 0013-8000", "13800138000"),
        (FieldSpec("n", FieldType.INTEGER, "数"), " 42 ", 42),
        (FieldSpec("n", FieldType.INTEGER, "数"), 7.0, 7),
        (FieldSpec("x", FieldType.DECIMAL, "值"), "1234.50", "1234.50"),
        (FieldSpec("x", FieldType.DECIMAL, "值"), 0.1, "0.1"),
        (FieldSpec("d", FieldType.DATE, "日期"), "2026-02-29".replace("29", "28"), "2026-02-28"),
        (FieldSpec("t", FieldType.DATETIME, "时间"), "2026-03-01T09:30:00", "2026-03-01T09:30:00+08:00"),
        (FieldSpec("b", FieldType.BOOLEAN, "是否"), "是", True),
        (FieldSpec("b", FieldType.BOOLEAN, "是否"), "0", False),
        (FieldSpec("e", FieldType.ENUMERATION, "性别", choices=[{"value": "M", "label": "男"}]), "男", "M"),
        (FieldSpec("p", FieldType.POINT, "位置"), "120.15,30.28", {"lon": 120.15, "lat": 30.28}),
        (FieldSpec("p", FieldType.POINT, "位置"), {"type": "Point", "coordinates": [1, 2]}, {"lon": 1.0, "lat": 2.0}),
        (FieldSpec("f", FieldType.FILE, "附件"), "A" * 64, "a" * 64),
        (FieldSpec("div", FieldType.TEXT, "区划", validator=Validator.DIVISION_CODE), "330106", "330106"),
    ],
)
def test_values_are_cleaned_to_one_stored_form(spec: FieldSpec, given: object, stored: object) -> None:
    assert clean_one(spec, given) == (stored, [])


@pytest.mark.parametrize(
    ("spec", "given", "words"),
    [
        (FieldSpec("id", FieldType.TEXT, "号码", validator=Validator.RESIDENT_ID), resident_id(3)[:-1] + "0",
         "check digit"),
        # A well-formed number whose place code stdnum's table holds without a county (its lookup used to crash).
        (FieldSpec("id", FieldType.TEXT, "号码", validator=Validator.RESIDENT_ID),
         "65433719900101001" + ric.calc_check_digit("654337199001010010"), "birth place"),
        (FieldSpec("code", FieldType.TEXT, "代码", validator=Validator.CREDIT_CODE), "91330100MA2XXXXXX1",
         "credit code"),
        (FieldSpec("phone", FieldType.TEXT, "手机", validator=Validator.PHONE), "1380013800", "11 digits"),
        (FieldSpec("n", FieldType.INTEGER, "数"), "4.5", "whole number"),
        (FieldSpec("n", FieldType.INTEGER, "数"), True, "whole number"),
        (FieldSpec("x", FieldType.DECIMAL, "值"), "NaN", "finite"),
        (FieldSpec("d", FieldType.DATE, "日期"), "2026-02-29", "YYYY-MM-DD"),
        (FieldSpec("b", FieldType.BOOLEAN, "是否"), "maybe", "yes or no"),
        (FieldSpec("e", FieldType.ENUMERATION, "性别", choices=[{"value": "M", "label": "男"}]), "X",
         "Expected one of: M."),
        (FieldSpec("p", FieldType.POINT, "位置"), "200,10", "Longitude"),
        (FieldSpec("g", FieldType.GEOMETRY, "范围"),
         {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}, "ends where it starts"),
        (FieldSpec("g", FieldType.GEOMETRY, "范围"), {"type": "Circle"}, "GeoJSON"),
        (FieldSpec("f", FieldType.FILE, "附件"), "b" * 64, "uploaded"),
        (FieldSpec("div", FieldType.TEXT, "区划", validator=Validator.DIVISION_CODE), "999999", "Not a known"),
        (FieldSpec("t", FieldType.TEXT, "文本", max_length=3), "四个字符", "At most 3"),
        (FieldSpec("t", FieldType.TEXT, "文本"), "a\x00b", "control character"),
        (FieldSpec("t", FieldType.TEXT, "文本", validator=Validator.PATTERN, pattern=r"\d{4}"), "20265",
         "pattern"),
    ],
)


def test_bad_values_are_refused_with_the_reason(spec: FieldSpec, given: object, words: str) -> None:
    value, reasons = clean_one(spec, given)
    assert value is None
    assert len(reasons) == 1 and words in reasons[0], reasons


@pytest.mark.parametrize(
    ("spec", "given"),
    [
        (FieldSpec("e", FieldType.ENUMERATION, "性别", choices=[{"value": "M", "label": "男"}]), resident_id(5)),
        (FieldSpec("div", FieldType.TEXT, "区划", validator=Validator.DIVISION_CODE), "13800138000"),
    ],
)
def test_a_refusal_never_repeats_the_value_given(spec: FieldSpec, given: str) -> None:
    """Reasons are shown and stored as they are (import reports): a value put in the wrong column by mistake,
    a resident ID say, must not end up in them."""
    value, reasons = clean_one(spec, given)
    assert value is None and len(reasons) == 1
    assert given not in reasons[0] and given[:6] not in reasons[0], reasons


def test_a_closed_polygon_is_kept_as_geojson() -> None:
    ring = [[120.1, 30.2], [120.2, 30.2], [120.2, 30.3], [120.1, 30.2]]
    value, reasons = clean_one(FieldSpec("g", FieldType.GEOMETRY, "范围"),
                               json.dumps({"type": "Polygon", "coordinates": [ring]}))
    assert reasons == [] and value == {"type": "Polygon", "coordinates": [ring]}


def test_clean_reports_missing_required_and_unknown_fields_together() -> None:
    cleaned, problems = Schema(person_fields()).clean({"name": "张三", "nickname": "三儿", "phone": ""}, CONTEXT)
    assert {(p.field, p.reason) for p in problems} == {
        ("resident_id", "This field is required."),
        ("nickname", "This registry has no field nickname."),
    }
    assert cleaned == {"name": "张三", "phone": None}


def test_grade_and_level_are_the_highest_of_the_fields() -> None:
    schema = Schema(person_fields())
    assert schema.level == Level.L4 and schema.grade == 2
    assert Schema(indicator_fields()).level == Level.L2


def test_a_govstack_database_schema_becomes_a_registry_definition() -> None:
    document: dict[str, Any] = {
        "type": "object",
        "properties": {
            "ID": {"type": "string", "primaryKey": True, "description": "Registration ID"},
            "birth": {"type": "string", "format": "date", "description": "Date of birth"},
            "weight": {"type": "number"},
            "sex": {"type": "string", "enum": ["F", "M"]},
            "phone": {"type": "string", "x-zhengtong-validator": "phone", "x-zhengtong-encrypted": True,
                      "x-zhengtong-sensitivity": "personal", "x-zhengtong-level": 3},
        },
        "required": ["birth"],
    }
    specs, problems = specs_from_json_schema(document)
    assert problems == []
    # GovStack names like "ID" are not our field names: the definition check says so, naming the field.
    assert "lower-case" in problems_of(specs)["fields[0].name"]
    document["properties"]["id"] = document["properties"].pop("ID")
    specs, _problems = specs_from_json_schema(document)
    assert check_definition(specs) == []
    by_name = {spec.name: spec for spec in specs}
    assert by_name["id"].is_key and by_name["id"].required
    assert by_name["birth"].type == FieldType.DATE and by_name["birth"].required
    assert by_name["weight"].type == FieldType.DECIMAL
    assert [c["value"] for c in by_name["sex"].choices] == ["F", "M"]
    assert by_name["phone"].encrypted and by_name["phone"].sensitivity == Sensitivity.PERSONAL
    # And back: our definition as the same kind of document reads in to the same fields.
    again, _problems = specs_from_json_schema(json_schema_of(specs))
    assert [dataclasses.astuple(s) for s in again] == [dataclasses.astuple(s) for s in specs]


def test_nested_objects_are_refused_naming_the_property() -> None:
    specs, problems = specs_from_json_schema({"type": "object", "properties": {
        "id": {"type": "string", "primaryKey": True}, "child": {"type": "object", "properties": {}}}})
    assert [spec.name for spec in specs] == ["id"]
    assert [p.field for p in problems] == ["schema.properties.child"]
    assert "flat" in problems[0].reason
