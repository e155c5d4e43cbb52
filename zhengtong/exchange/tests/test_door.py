"""The one door for every kind of reader: a department system with a grant, the provider's own system, the
provider's staff by role and data scope, another department's staff with and without a grant (however wide their
data scope), a window clerk with the division as data scope, a citizen reading their own records (and not anyone
else's), the public reading open data. Every read writes its audit entry in the same transaction; searches page
and filter; row filters choose the rows; exports stream in batches, one audit entry per batch.

Expected masked values are written out from the fields' rules (resident ID keep:6:4, name 张*, phone keep:3:4,
birth date to the year), not computed with the masking code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from zhengtong.audit import actions as audit_actions
from zhengtong.audit.models import AuditEntry, Result
from zhengtong.audit.subjects import subject_hash
from zhengtong.catalog import actions as catalog
from zhengtong.catalog.models import OpeningType, ResourceFormat, ResourceKind, SharingType, UpdateCycle
from zhengtong.conftest import credit_code, resident_id
from zhengtong.core.errors import InvalidInput
from zhengtong.exchange import door
from zhengtong.exchange.door import Reader, Refused
from zhengtong.exchange.models import Grant, GrantUsage
from zhengtong.exchange.tests.conftest import EAST, WEST, person
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import ApiClient, DataScope, Department, User
from zhengtong.registries import actions as registries
from zhengtong.registries.models import FieldType, Level, Record, Registry, Sensitivity
from zhengtong.registries.schema import FieldSpec
from zhengtong.registries.tests.factories import indicator_fields, person_fields

ALL_FIELDS = ["birth_date", "division_code", "name", "phone", "resident_id"]
NAMES = {1: "王小明", 2: "李四", 3: "欧阳娜娜", 4: "赵六", 5: "钱七"}


def masked_person(n: int) -> dict[str, Any]:
    """Person n of the fixture as the fields' own rules show them."""
    rid = person(n)
    names = {1: "王**", 2: "李*", 3: "欧阳**", 4: "赵*", 5: "钱*"}
    return {"resident_id": rid[:6] + "********" + rid[-4:], "name": names[n], "phone": f"138****800{n}",
            "division_code": EAST if n <= 3 else WEST, "birth_date": "1985"}


def clear_person(n: int) -> dict[str, Any]:
    return {"resident_id": person(n), "name": NAMES[n], "phone": f"1380013800{n}",
            "division_code": EAST if n <= 3 else WEST, "birth_date": "1985-06-01"}


def record_id(registry: Registry, n: int) -> int:
    return Record.objects.filter(registry=registry).order_by("pk")[n - 1].pk


def only_entry(action: str) -> AuditEntry:
    entries = list(AuditEntry.objects.filter(action=action))
    assert len(entries) == 1, [e.action for e in AuditEntry.objects.order_by("pk")]
    return entries[0]


# --- a department system -----------------------------------------------------------------------------------


def test_a_system_with_a_grant_reads_masked_values_and_the_read_is_audited(
        persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str]) -> None:
    grant = make_grant()
    client, _credential = consumer_client
    reader = Reader.system(client, calling_system="CN/GOV/WEST-PSB/police-platform")

    reading = door.read_record(reader, persons, person(4), purpose="核验来访人员身份", case_reference="西公(2026)12号")

    assert reading.values == masked_person(4)
    assert set(reading.masked) == {"resident_id", "name", "phone", "birth_date"}
    assert reading.record_id == record_id(persons, 4) and reading.revealed == ()
    entry = only_entry("exchange.read")
    assert (entry.actor_kind, entry.actor_id, entry.actor_name, entry.actor_department) == (
        "api_client", client.key_id, client.name, "WEST-PSB")
    assert (entry.purpose, entry.legal_basis, entry.case_reference) == (
        "核验来访人员身份", "《治安管理处罚法》", "西公(2026)12号")
    assert entry.subjects == [subject_hash(person(4))]
    assert entry.fields == ALL_FIELDS
    assert entry.result == Result.OK and entry.object_id == "persons"
    assert entry.detail["records"] == [reading.record_id]
    assert entry.detail["basis"] == "grant" and entry.detail["grant"] == grant.number
    assert entry.detail["calling_system"] == "CN/GOV/WEST-PSB/police-platform"
    assert entry.detail["masked"] == list(reading.masked)


def test_a_grant_for_some_fields_returns_only_those(
        persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str]) -> None:
    make_grant(fields=("resident_id", "division_code"))
    reading = door.read_record(Reader.system(consumer_client[0]), persons, person(2), purpose="核验")
    assert reading.values == {"resident_id": masked_person(2)["resident_id"], "division_code": EAST}
    assert only_entry("exchange.read").fields == ["division_code", "resident_id"]


def test_the_provider_departments_own_system_reads_without_a_grant(city: dict[str, Any], persons: Registry) -> None:
    own_system = identity.create_api_client(None, department=city["bureau"], name="民政业务系统").client
    reading = door.read_record(Reader.system(own_system), persons, person(1), purpose="婚姻登记核验")
    assert reading.values == masked_person(1)
    entry = only_entry("exchange.read")
    assert entry.actor_department == "CITY-CA" and entry.detail["basis"] == "department"
    assert entry.detail["grant"] == "" and entry.legal_basis == "the provider's own system"
    assert not Grant.objects.exists()


# --- staff ---------------------------------------------------------------------------------------------------


def test_provider_staff_read_by_role_within_their_data_scope(persons: Registry, provider_officer: User) -> None:
    reading = door.read_record(Reader.staff(provider_officer), persons, person(3), purpose="数据质量核查",
                               fields=["name", "phone"])
    assert reading.values == {"name": "欧阳**", "phone": "138****8003"}
    entry = only_entry("exchange.read")
    assert (entry.actor_kind, entry.actor_id, entry.actor_department) == ("staff", str(provider_officer.pk),
                                                                          "CITY-CA")
    assert entry.actor_roles == roles.DATA_OFFICER
    assert entry.detail["basis"] == "department" and entry.legal_basis == "official duties"
    assert entry.fields == ["name", "phone"]


@pytest.mark.parametrize(("role_names", "data_scope"), [
    ((), DataScope.DEPARTMENT),  # no role that reads records
    ((roles.DATA_OFFICER,), DataScope.SELF),  # the role, but a scope that reaches no registry
])
def test_provider_staff_without_the_role_or_the_scope_have_no_right(
        persons: Registry, make_staff: Callable[..., User], role_names: tuple[str, ...], data_scope: str) -> None:
    clerk = make_staff(role_names=role_names, data_scope=data_scope)
    with pytest.raises(Refused) as refused:
        door.read_record(Reader.staff(clerk), persons, person(1), purpose="核查")
    assert refused.value.code == "no_grant"
    assert not AuditEntry.objects.filter(action="exchange.read").exists()


def test_staff_of_another_department_read_only_under_their_departments_grant(
        persons: Registry, make_grant: Callable[..., Grant], consumer_officer: User) -> None:
    reader = Reader.staff(consumer_officer)
    with pytest.raises(Refused) as refused:
        door.read_record(reader, persons, person(5), purpose="案件核查")
    assert refused.value.code == "no_grant"

    grant = make_grant(fields=("resident_id", "name"))
    reading = door.read_record(reader, persons, person(5), purpose="案件核查", case_reference="西公刑(2026)3号")
    assert reading.values == {"resident_id": masked_person(5)["resident_id"], "name": "钱*"}
    entry = only_entry("exchange.read")
    assert entry.actor_kind == "staff" and entry.actor_department == "WEST-PSB"
    assert entry.detail["basis"] == "grant" and entry.detail["grant"] == grant.number
    assert entry.case_reference == "西公刑(2026)3号"


def east_registry(department: Department, code: str) -> Registry:
    """A small person registry of a department in the east district, with one record."""
    registry = registries.define_registry(None, code=code, name="东湖区人员", department=department,
                                          fields=person_fields())
    registries.create_record(None, registry, {"resident_id": resident_id(21), "name": "孙八",
                                              "phone": "13900139021", "division_code": EAST})
    return registry


def test_a_window_clerk_reads_their_own_departments_registry_by_role(city: dict[str, Any], window_clerk: User
                                                                     ) -> None:
    branch_registry = east_registry(city["branch"], "east-ca-residents")
    reading = door.read_record(Reader.staff(window_clerk), branch_registry, resident_id(21), purpose="窗口受理核验")
    assert reading.values["name"] == "孙*" and reading.values["phone"] == "139****9021"
    entry = only_entry("exchange.read")
    assert entry.detail["basis"] == "department" and entry.actor_department == "EAST-CA"


def test_staff_read_their_departments_subordinates_registries_with_a_tree_scope(
        city: dict[str, Any], make_staff: Callable[..., User]) -> None:
    branch_registry = east_registry(city["branch"], "east-ca-residents")  # EAST-CA is a branch of CITY-CA
    for scope, allowed in ((DataScope.DEPARTMENT_TREE, True), (DataScope.DEPARTMENT, False)):
        officer = make_staff(role_names=(roles.DATA_OFFICER,), department=city["bureau"], data_scope=scope)
        if allowed:
            assert door.read_record(Reader.staff(officer), branch_registry, resident_id(21),
                                    purpose="业务指导").values["name"] == "孙*"
        else:
            with pytest.raises(Refused) as refused:
                door.read_record(Reader.staff(officer), branch_registry, resident_id(21), purpose="业务指导")
            assert refused.value.code == "no_grant"


def test_a_data_scope_wider_than_the_department_does_not_replace_a_grant(
        city: dict[str, Any], persons: Registry, window_clerk: User, make_staff: Callable[..., User],
        make_grant: Callable[..., Grant]) -> None:
    # Staff reading another department's resource need their department's grant (issue 5), however far their
    # data scope reaches: the clerk's division holds the east district's human resources bureau, and a
    # WEST-PSB officer with the whole platform as scope still reads the city's persons registry only by grant.
    other_bureau = identity.create_department(None, code="EAST-HRSS", name="东湖区人社局", division=city["east"],
                                              credit_code=credit_code(31, division=EAST))
    hrss_registry = east_registry(other_bureau, "east-workers")
    everywhere = make_staff(role_names=(roles.APPROVER,), trained=True, department=city["other"],
                            data_scope=DataScope.ALL)
    for reader, registry, key in ((Reader.staff(window_clerk), hrss_registry, resident_id(21)),
                                  (Reader.staff(window_clerk), persons, person(1)),
                                  (Reader.staff(everywhere), persons, person(1))):
        with pytest.raises(Refused) as refused:
            door.read_record(reader, registry, key, purpose="窗口受理核验")
        assert refused.value.code == "no_grant", (reader.department, registry.code)
    assert not AuditEntry.objects.filter(action="exchange.read").exists()

    make_grant(fields=("resident_id", "name"))  # to WEST-PSB
    reading = door.read_record(Reader.staff(everywhere), persons, person(1), purpose="案件核查")
    assert reading.values == {"resident_id": masked_person(1)["resident_id"], "name": "王**"}
    assert only_entry("exchange.read").detail["basis"] == "grant"


@pytest.mark.parametrize("who", ["no role", "deactivated"])
def test_only_staff_who_read_records_use_their_departments_grant(
        persons: Registry, make_grant: Callable[..., Grant], make_staff: Callable[..., User], city: dict[str, Any],
        consumer_officer: User, who: str) -> None:
    # A grant is the department's; among its staff only those whose role reads records use it, and only while
    # their account is active (an export queued by someone who has since left runs as them).
    make_grant()
    if who == "no role":
        staff = make_staff(department=city["other"])
    else:
        User.objects.filter(pk=consumer_officer.pk).update(is_active=False)
        staff = User.objects.get(pk=consumer_officer.pk)
    with pytest.raises(Refused) as refused:
        door.read_record(Reader.staff(staff), persons, person(1), purpose="案件核查")
    assert refused.value.status == 403
    assert AuditEntry.objects.get(action="exchange.read_refused").result == Result.DENIED
    assert not AuditEntry.objects.filter(action="exchange.read").exists()


# --- citizens ------------------------------------------------------------------------------------------------


def test_a_citizen_reads_their_own_record_in_full(persons: Registry, citizen_user: User) -> None:
    reading = door.read_record(Reader.citizen(citizen_user), persons, person(1), purpose="查看本人信息")
    assert reading.values == clear_person(1)
    assert reading.masked == ()
    entry = only_entry("exchange.read")
    assert (entry.actor_kind, entry.actor_id) == ("citizen", str(citizen_user.pk))
    assert entry.subjects == [subject_hash(person(1))]
    assert entry.detail["basis"] == "self" and entry.legal_basis == "data subject access"


def test_someone_elses_record_looks_to_a_citizen_like_a_missing_one(persons: Registry, citizen_user: User) -> None:
    reader = Reader.citizen(citizen_user)
    refusals = []
    for key in (person(2), resident_id(40)):  # another person's record; a valid ID nobody holds
        with pytest.raises(Refused) as refused:
            door.read_record(reader, persons, key, purpose="查看本人信息")
        refusals.append((refused.value.code, refused.value.status, str(refused.value)))
    assert refusals[0] == refusals[1] == ("not_found", 404, "There is no such record.")
    denied = AuditEntry.objects.filter(action="exchange.read_refused").order_by("pk")
    assert [(e.result, e.detail["reason"]) for e in denied] == [(Result.DENIED, "not_found")] * 2
    assert not AuditEntry.objects.filter(action="exchange.read").exists()


def test_a_citizens_search_and_own_records_hold_only_their_own(persons: Registry, citizen_user: User) -> None:
    reader = Reader.citizen(citizen_user)
    page = door.search(reader, persons, filters={"division_code": EAST}, purpose="查看本人信息")
    assert page.total == 1 and [r.values for r in page.readings] == [clear_person(1)]

    own = door.read_own_records(reader, purpose="我的数据")
    assert [(r.registry, r.values["resident_id"]) for r in own] == [("persons", person(1))]
    entry = AuditEntry.objects.filter(action="exchange.read").latest("pk")
    assert entry.subjects == [subject_hash(person(1))] and entry.purpose == "我的数据"


# --- the public ----------------------------------------------------------------------------------------------


def open_indicator_fields() -> list[FieldSpec]:
    """The indicator registry with every field public and L1, as an open resource must be."""
    return [dataclasses.replace(spec, sensitivity=Sensitivity.PUBLIC, level=Level.L1) for spec in indicator_fields()]


@pytest.fixture
def indicators(city: dict[str, Any]) -> Registry:
    """An open indicator registry of the city bureau with one record."""
    registry = registries.define_registry(None, code="indicators", name="宏观经济指标", department=city["bureau"],
                                          fields=open_indicator_fields())
    registries.create_record(None, registry, {"indicator": "gdp", "division_code": "330100", "period": "2025",
                                              "value": "1234.5"})
    resource = registry.catalog_resource
    catalog.update_resource(None, resource, catalog.ResourceInput(
        name=resource.name, summary="全市主要经济指标。", kind=ResourceKind.THEMATIC, format=ResourceFormat.DATABASE,
        item_code="02", category_code="001", update_cycle=UpdateCycle.QUARTERLY,
        sharing_type=SharingType.UNCONDITIONAL, opening_type=OpeningType.OPEN))
    catalog.publish_resource(None, resource)
    return registry


GDP_2025 = {"indicator": "gdp", "division_code": "330100", "period": "2025"}


def test_the_public_reads_an_open_resource_unmasked_and_anonymously(indicators: Registry) -> None:
    reading = door.read_record(Reader.public(), indicators, GDP_2025, purpose="开放数据浏览")
    assert {k: str(v) for k, v in reading.values.items()} == {**GDP_2025, "value": "1234.5"}
    assert reading.masked == ()
    entry = only_entry("exchange.read")
    assert (entry.actor_kind, entry.actor_name, entry.actor_department) == ("anonymous", "public", "")
    assert entry.detail["basis"] == "open" and entry.legal_basis == "open data"


def test_a_field_that_is_not_public_never_reaches_the_public(indicators: Registry) -> None:
    # An internal field added to an open registry: the catalog withdraws the resource to draft at once (an
    # open resource holds only public L1 items), and the door refuses the public from then on.
    registries.change_schema(None, indicators, [*open_indicator_fields(), FieldSpec(
        "source", FieldType.TEXT, "数据来源", "source", sensitivity=Sensitivity.INTERNAL)])
    with pytest.raises(Refused) as refused:
        door.read_record(Reader.public(), indicators, GDP_2025, purpose="开放数据浏览")
    assert refused.value.code == "not_open"


def test_the_public_is_refused_a_closed_resource(persons: Registry) -> None:
    with pytest.raises(Refused) as refused:
        door.read_record(Reader.public(), persons, person(1), purpose="开放数据浏览")
    assert (refused.value.code, refused.value.status) == ("not_open", 403)


# --- the audit entry is part of the read ---------------------------------------------------------------------


def test_a_read_whose_audit_entry_cannot_be_written_returns_nothing_and_counts_nothing(
        monkeypatch: pytest.MonkeyPatch, persons: Registry, make_grant: Callable[..., Grant],
        consumer_client: tuple[ApiClient, str]) -> None:
    grant = make_grant(daily_quota=10)
    reader = Reader.system(consumer_client[0])

    def failing_record(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the audit table is unavailable")

    monkeypatch.setattr(audit_actions, "record", failing_record)
    with pytest.raises(RuntimeError, match="audit table"):
        door.read_record(reader, persons, person(1), purpose="核验")
    with pytest.raises(RuntimeError, match="audit table"):
        door.search(reader, persons, filters={}, purpose="核验")
    # The calls counted against the quota inside the read were rolled back with it.
    assert not GrantUsage.objects.filter(grant=grant).exists()
    monkeypatch.undo()

    door.read_record(reader, persons, person(1), purpose="核验")
    assert GrantUsage.objects.get(grant=grant, slot__startswith="d:").calls == 1


def test_the_audit_entry_is_written_inside_the_reads_transaction(
        monkeypatch: pytest.MonkeyPatch, persons: Registry, provider_officer: User) -> None:
    in_transaction = []
    original = audit_actions.record

    def watching_record(*args: Any, **kwargs: Any) -> AuditEntry:
        in_transaction.append(connection.in_atomic_block)
        return original(*args, **kwargs)

    monkeypatch.setattr(audit_actions, "record", watching_record)
    reading = door.read_record(Reader.staff(provider_officer), persons, person(1), purpose="核查")
    assert reading.values["name"] == "王**"
    assert in_transaction == [True]


@pytest.mark.parametrize(("purpose", "case_reference", "field"), [("核" * 201, "", "purpose"),
                                                                  ("核验", "案" * 101, "case_reference")])
def test_a_purpose_or_case_reference_longer_than_the_trail_keeps_is_bad_input(
        persons: Registry, provider_officer: User, consumer_client: tuple[ApiClient, str], purpose: str,
        case_reference: str, field: str) -> None:
    # The trail keeps 200 characters of purpose and 100 of case reference: a longer one is refused as bad input
    # naming the field, for a reader with a right and one without, before anything is read or refused.
    assert AuditEntry._meta.get_field("purpose").max_length == 200
    assert AuditEntry._meta.get_field("case_reference").max_length == 100
    for reader in (Reader.staff(provider_officer), Reader.system(consumer_client[0])):
        with pytest.raises(InvalidInput) as bad_read:
            door.read_record(reader, persons, person(1), purpose=purpose, case_reference=case_reference)
        with pytest.raises(InvalidInput) as bad_search:
            door.search(reader, persons, filters={}, purpose=purpose, case_reference=case_reference)
        with pytest.raises(InvalidInput) as bad_export:
            door.stream(reader, persons, purpose=purpose, case_reference=case_reference)
        for bad in (bad_read, bad_search, bad_export):
            assert [d.field for d in bad.value.details] == [field]
    assert not AuditEntry.objects.filter(action__startswith="exchange.").exists()


# --- search --------------------------------------------------------------------------------------------------


def test_search_by_an_encrypted_field_goes_through_its_blind_index(persons: Registry, provider_officer: User) -> None:
    stored = Record.objects.get(pk=record_id(persons, 4)).data
    assert "13800138004" not in str(stored)  # the phone is sealed: no database query could match it in clear
    page = door.search(Reader.staff(provider_officer), persons, filters={"phone": "13800138004"}, purpose="核查")
    assert page.total == 1 and page.readings[0].record_id == record_id(persons, 4)
    assert page.readings[0].values == masked_person(4)
    entry = only_entry("exchange.search")
    assert entry.detail["filters"] == ["phone"] and entry.detail["total"] == 1
    assert entry.subjects == [subject_hash(person(4))]


@pytest.mark.parametrize(("filters", "expected"), [
    ({"division_code": WEST}, [4, 5]),  # an indexed plain field
    ({"birth_date": "1985-06-01"}, [1, 2, 3, 4, 5]),  # a plain field without an index
    ({"birth_date": "1990-01-01"}, []),
    ({"division_code": EAST, "phone": "13800138002"}, [2]),  # every filter must hold
    ({"division_code": WEST, "phone": "13800138002"}, []),
])
def test_search_filters_by_plain_and_indexed_fields(
        persons: Registry, provider_officer: User, filters: dict[str, str], expected: list[int]) -> None:
    page = door.search(Reader.staff(provider_officer), persons, filters=filters, purpose="核查")
    assert page.total == len(expected)
    assert [r.record_id for r in page.readings] == [record_id(persons, n) for n in expected]


def test_search_pages_through_the_matches_and_audits_each_page(
        persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str]) -> None:
    make_grant()
    reader = Reader.system(consumer_client[0])
    pages = [door.search(reader, persons, filters={}, purpose="批量核验", page=n, page_size=2) for n in (1, 2, 3)]
    assert [[r.record_id for r in p.readings] for p in pages] == [
        [record_id(persons, 1), record_id(persons, 2)], [record_id(persons, 3), record_id(persons, 4)],
        [record_id(persons, 5)]]
    assert [(p.total, p.has_next) for p in pages] == [(5, True), (5, True), (5, False)]
    entries = list(AuditEntry.objects.filter(action="exchange.search").order_by("pk"))
    assert [(e.detail["page"], e.detail["records"]) for e in entries] == [
        (n, [r.record_id for r in p.readings]) for n, p in enumerate(pages, start=1)]
    assert entries[2].subjects == [subject_hash(person(5))]


def test_a_field_the_registry_does_not_have_is_named_as_bad_input(persons: Registry, provider_officer: User
                                                                   ) -> None:
    reader = Reader.staff(provider_officer)
    for call in (lambda: door.search(reader, persons, filters={"religion": "x"}, purpose="核查"),
                 lambda: door.read_record(reader, persons, person(1), purpose="核查", fields=["religion"]),
                 lambda: door.stream(reader, persons, purpose="核查", fields=["religion"])):
        with pytest.raises(InvalidInput) as invalid:
            call()
        assert [d.field for d in invalid.value.details] == ["religion"]


def test_search_on_a_field_not_granted_is_refused_like_reading_it(
        persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str]) -> None:
    make_grant(fields=("resident_id", "name"))
    with pytest.raises(Refused) as refused:
        door.search(Reader.system(consumer_client[0]), persons, filters={"phone": "13800138001"}, purpose="核验")
    assert (refused.value.code, refused.value.fields) == ("field_not_granted", ("phone",))
    entry = only_entry("exchange.search_refused")
    assert entry.result == Result.DENIED and entry.detail["fields"] == ["phone"]


@pytest.mark.parametrize(("filters", "field"), [
    ({"name": "李四"}, "name"),  # encrypted and not indexed: nothing to search by
    ({"division_code": "33"}, "division_code"),  # not a division code
])
def test_bad_search_filters_name_the_field(persons: Registry, provider_officer: User, filters: dict[str, str],
                                           field: str) -> None:
    with pytest.raises(InvalidInput) as bad:
        door.search(Reader.staff(provider_officer), persons, filters=filters, purpose="核查")
    assert [d.field for d in bad.value.details] == [field]


@pytest.mark.parametrize(("page", "page_size", "field"), [(0, 10, "page"), (1, 0, "page_size"),
                                                          (1, door.MAX_PAGE_SIZE + 1, "page_size")])
def test_search_paging_out_of_range_names_the_field(persons: Registry, provider_officer: User, page: int,
                                                    page_size: int, field: str) -> None:
    with pytest.raises(InvalidInput) as bad:
        door.search(Reader.staff(provider_officer), persons, filters={}, purpose="核查", page=page,
                    page_size=page_size)
    assert bad.value.details[0].field == field


# --- row filters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("row_filter", "inside"), [
    ({"division_code": {"eq": WEST}}, [4, 5]),
    ({"division_code": {"in": [EAST]}}, [1, 2, 3]),
    ({"division_code": {"prefix": "330108"}}, [4, 5]),
    ({"division_code": {"prefix": "3301"}}, [1, 2, 3, 4, 5]),
    ({"division_code": {"in": [EAST, WEST]}, "birth_date": {"eq": "1990-01-01"}}, []),  # every condition holds
])
def test_a_row_filter_chooses_the_rows_a_grant_reaches(
        persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str],
        row_filter: dict[str, Any], inside: list[int]) -> None:
    make_grant(row_filter=row_filter)
    reader = Reader.system(consumer_client[0])

    page = door.search(reader, persons, filters={}, purpose="辖区核验")
    assert [r.record_id for r in page.readings] == [record_id(persons, n) for n in inside]
    assert page.total == len(inside)
    for n in range(1, 6):
        if n in inside:
            assert door.read_record(reader, persons, person(n), purpose="辖区核验").values == masked_person(n)
        else:
            with pytest.raises(Refused) as refused:
                door.read_record(reader, persons, person(n), purpose="辖区核验")
            assert refused.value.code == "outside_row_scope"
    _fields, exported = door.stream(reader, persons, purpose="辖区导出")
    assert [r.record_id for r in exported] == [record_id(persons, n) for n in inside]


# --- streaming exports ---------------------------------------------------------------------------------------


def test_an_export_streams_in_batches_each_masked_and_audited(
        persons: Registry, make_grant: Callable[..., Grant], consumer_client: tuple[ApiClient, str]) -> None:
    make_grant(fields=("resident_id", "name", "division_code"))
    fields, readings = door.stream(Reader.system(consumer_client[0]), persons, purpose="年度比对",
                                   case_reference="比对-2026", batch_size=2)
    assert fields == ("resident_id", "name", "division_code")
    assert not AuditEntry.objects.filter(action="exchange.export").exists()  # nothing is read before it is asked

    first = next(readings)
    assert first.values == {k: masked_person(1)[k] for k in fields}
    assert AuditEntry.objects.filter(action="exchange.export").count() == 1  # the first batch, audited before use
    rest = list(readings)

    assert [r.values["resident_id"] for r in [first, *rest]] == [masked_person(n)["resident_id"] for n in range(1, 6)]
    entries = list(AuditEntry.objects.filter(action="exchange.export").order_by("pk"))
    assert [e.detail["records"] for e in entries] == [
        [record_id(persons, 1), record_id(persons, 2)], [record_id(persons, 3), record_id(persons, 4)],
        [record_id(persons, 5)]]
    assert entries[1].subjects == sorted([subject_hash(person(3)), subject_hash(person(4))])
    assert all(e.purpose == "年度比对" and e.case_reference == "比对-2026" and
               e.fields == ["division_code", "name", "resident_id"] for e in entries)


def test_an_export_is_refused_before_anything_is_read(persons: Registry, consumer_client: tuple[ApiClient, str]
                                                      ) -> None:
    with pytest.raises(Refused) as refused:
        door.stream(Reader.system(consumer_client[0]), persons, purpose="年度比对")
    assert refused.value.code == "no_grant"
    assert only_entry("exchange.export_refused").detail["reason"] == "no_grant"
    assert not AuditEntry.objects.filter(action="exchange.export").exists()
