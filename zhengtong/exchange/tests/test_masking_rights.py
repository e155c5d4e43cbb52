"""Masking by the reader's right: a grant's masking level (masked by each field's rule, pseudonymised, clear),
its own field rules over the field's, and an approver's reveal of one field with a reason, audited as a reveal.

Pseudonyms are stable for one consumer department (across calls, readers of the department and key rotation)
and differ between departments, so two consumers cannot join their data on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from zhengtong.audit.models import AuditEntry
from zhengtong.core.errors import InvalidInput
from zhengtong.exchange import actions, door
from zhengtong.exchange.door import Reader, Refused
from zhengtong.exchange.models import Grant
from zhengtong.exchange.tests.conftest import EAST, WEST, person
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import ApiClient, User
from zhengtong.registries import actions as registries
from zhengtong.registries.models import Registry

PSEUDONYM = re.compile(r"pn_[a-z2-7]{16}")
PERSONAL = ("resident_id", "name", "phone", "birth_date")


@pytest.fixture
def system(consumer_client: tuple[ApiClient, str]) -> Reader:
    return Reader.system(consumer_client[0])


@pytest.fixture
def approver(make_staff: Callable[..., User]) -> User:
    """An approver of the provider department (CITY-CA): reads within the department and may reveal."""
    return make_staff(role_names=(roles.APPROVER,), trained=True, username="approver")


def raw(n: int) -> dict[str, Any]:
    return {"resident_id": person(n), "name": {1: "王小明", 4: "赵六"}[n], "phone": f"1380013800{n}",
            "division_code": EAST if n <= 3 else WEST, "birth_date": "1985-06-01"}


def read(reader: Reader, registry: Registry, n: int, **options: Any) -> dict[str, Any]:
    options.setdefault("purpose", "核验身份")
    return door.read_record(reader, registry, person(n), **options).values


# --- levels --------------------------------------------------------------------------------------------------


def test_the_masked_level_applies_each_fields_own_rule(persons: Registry, make_grant: Callable[..., Grant],
                                                       system: Reader) -> None:
    make_grant(masking_level="masked")
    reading = door.read_record(system, persons, person(1), purpose="核验身份")
    rid = person(1)
    assert reading.values == {"resident_id": rid[:6] + "********" + rid[-4:],  # keep:6:4
                              "name": "王**",  # name
                              "phone": "138****8001",  # keep:3:4
                              "division_code": EAST,  # not personal, no rule
                              "birth_date": "1985"}  # date_year
    assert set(reading.masked) == set(PERSONAL)


def test_the_pseudonymised_level_replaces_personal_fields_by_pseudonyms(
        persons: Registry, make_grant: Callable[..., Grant], system: Reader) -> None:
    make_grant(masking_level="pseudonymised")
    values = read(system, persons, 1)
    assert values["division_code"] == EAST  # not personal: shown as its rule says
    for name in PERSONAL:
        assert PSEUDONYM.fullmatch(values[name]), name
        assert raw(1)[name] not in values[name]
    assert len({values[name] for name in PERSONAL}) == len(PERSONAL)
    assert values != read(system, persons, 4)


def test_pseudonyms_are_stable_for_one_consumer_department(
        persons: Registry, make_grant: Callable[..., Grant], system: Reader, consumer_officer: User) -> None:
    make_grant(masking_level="pseudonymised")
    first = read(system, persons, 1)
    assert read(system, persons, 1) == first  # another call
    assert read(Reader.staff(consumer_officer), persons, 1) == first  # another reader of the department
    found = door.search(system, persons, filters={"phone": "13800138001"}, purpose="核验身份")
    assert found.readings[0].values == first  # a search
    _fields, exported = door.stream(system, persons, purpose="核验身份")
    assert next(exported).values == first  # an export

    registries.rotate_data_key(None, persons)  # new data keys: pseudonyms rest on the index key
    assert read(system, persons, 1) == first


def test_pseudonyms_differ_between_consumer_departments(
        city: dict[str, Any], persons: Registry, make_grant: Callable[..., Grant], system: Reader) -> None:
    make_grant(masking_level="pseudonymised")
    make_grant(consumer=city["branch"], masking_level="pseudonymised")
    other = Reader.system(identity.create_api_client(None, department=city["branch"], name="东湖区民政系统").client)
    west, east = read(system, persons, 1), read(other, persons, 1)
    for name in PERSONAL:
        assert PSEUDONYM.fullmatch(east[name]) and west[name] != east[name], name
    assert west["division_code"] == east["division_code"] == EAST


def test_the_clear_level_shows_full_values(persons: Registry, make_grant: Callable[..., Grant], system: Reader
                                           ) -> None:
    make_grant(masking_level="clear")
    reading = door.read_record(system, persons, person(4), purpose="刑事侦查")
    assert reading.values == raw(4)
    assert reading.masked == ()
    assert AuditEntry.objects.get(action="exchange.read").detail["masked"] == []


# --- the grant's own field rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "field_rules", "expected"), [
    ("masked", {"phone": "keep:0:4", "name": "none", "division_code": "null"},
     {"phone": "*******8001", "name": "王小明", "division_code": None, "birth_date": "1985"}),
    ("clear", {"resident_id": "keep:6:4", "birth_date": "date_year"},
     {"resident_id": person(1)[:6] + "********" + person(1)[-4:], "name": "王小明", "birth_date": "1985"}),
    ("pseudonymised", {"name": "name", "division_code": "pseudonym"},
     {"name": "王**", "birth_date": PSEUDONYM, "division_code": PSEUDONYM}),
])
def test_a_grants_field_rules_override_the_level(persons: Registry, make_grant: Callable[..., Grant],
                                                 system: Reader, level: str, field_rules: dict[str, str],
                                                 expected: dict[str, Any]) -> None:
    make_grant(masking_level=level, field_rules=field_rules)
    values = read(system, persons, 1)
    for name, value in expected.items():
        if isinstance(value, re.Pattern):
            assert value.fullmatch(values[name]), name
        else:
            assert values[name] == value, name


# --- reveal --------------------------------------------------------------------------------------------------


def test_an_approver_reads_masked_values_until_revealing_one_field(persons: Registry, approver: User) -> None:
    reader = Reader.staff(approver)
    assert read(reader, persons, 1)["phone"] == "138****8001"  # the right to reveal does not show values by itself

    reading = door.read_record(reader, persons, person(1), purpose="核实联系方式", reveal=["phone"],
                               reveal_reason="申请人电话无法接通，需核对登记号码", case_reference="东民(2026)0815")
    assert reading.values["phone"] == "13800138001"
    assert reading.values["name"] == "王**" and reading.values["birth_date"] == "1985"
    assert reading.revealed == ("phone",)
    assert "phone" not in reading.masked and "name" in reading.masked

    entry = AuditEntry.objects.get(action="exchange.reveal")
    assert entry.actor_id == str(approver.pk) and entry.actor_department == "CITY-CA"
    assert entry.case_reference == "东民(2026)0815" and entry.purpose == "核实联系方式"
    assert entry.detail["revealed"] == ["phone"]
    assert entry.detail["reveal_reason"] == "申请人电话无法接通，需核对登记号码"
    assert entry.detail["records"] == [reading.record_id]
    assert AuditEntry.objects.filter(action="exchange.read").count() == 1  # the masked read before


@pytest.mark.parametrize(("reason", "case_reference", "fields"), [
    ("", "东民(2026)0815", ["reason"]),
    ("核对号码", "  ", ["case_reference"]),
    (" ", "", ["reason", "case_reference"]),
])
def test_a_reveal_needs_a_reason_and_a_case_reference(persons: Registry, approver: User, reason: str,
                                                      case_reference: str, fields: list[str]) -> None:
    with pytest.raises(InvalidInput) as bad:
        door.read_record(Reader.staff(approver), persons, person(1), purpose="核实", reveal=["phone"],
                         reveal_reason=reason, case_reference=case_reference)
    assert [d.field for d in bad.value.details] == fields
    assert not AuditEntry.objects.filter(action__startswith="exchange.re").exists()


def test_only_fields_being_read_can_be_revealed(persons: Registry, approver: User) -> None:
    with pytest.raises(Refused) as refused:
        door.read_record(Reader.staff(approver), persons, person(1), purpose="核实", fields=["name"],
                         reveal=["phone"], reveal_reason="核对号码", case_reference="东民(2026)0815")
    assert (refused.value.code, refused.value.fields) == ("field_not_granted", ("phone",))
    assert not AuditEntry.objects.filter(action="exchange.reveal").exists()


def test_under_a_grant_revealing_needs_the_grant_to_allow_it_and_the_role(
        persons: Registry, make_grant: Callable[..., Grant], make_staff: Callable[..., User],
        city: dict[str, Any]) -> None:
    # The consumer department's approver (who may reveal by role) and its clerk (who may not).
    consumer_approver = make_staff(role_names=(roles.APPROVER,), trained=True, department=city["other"])
    consumer_clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["other"])
    grant = make_grant()
    reveal = {"reveal": ["name"], "reveal_reason": "核对当事人身份", "case_reference": "西公(治)2026-17"}
    with pytest.raises(Refused) as refused:
        read(Reader.staff(consumer_approver), persons, 4, **reveal)
    assert refused.value.code == "reveal_not_permitted"  # the grant does not allow it

    actions.change_grant(None, grant, actions.Terms(
        fields=list(grant.fields), valid_from=grant.valid_from, valid_until=grant.valid_until, may_reveal=True),
        reason="办理案件需核对全名")
    shown = read(Reader.staff(consumer_approver), persons, 4, **reveal)
    assert shown["name"] == "赵六" and shown["phone"] == "138****8004"  # one field, the rest masked
    entry = AuditEntry.objects.get(action="exchange.reveal")
    assert (entry.detail["basis"], entry.detail["revealed"], entry.case_reference) == (
        "grant", ["name"], "西公(治)2026-17")
    with pytest.raises(Refused) as refused:
        read(Reader.staff(consumer_clerk), persons, 4, **reveal)
    assert refused.value.code == "reveal_not_permitted"  # the grant allows it, the clerk's role does not
