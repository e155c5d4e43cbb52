"""Every refusal of the one door: its own code and HTTP status, an audit entry with result "denied" and the
reason, no call counted against the quota, and nothing learnt about whether the record exists.

A reader with a row filter gets the same answer for a missing record and for one outside the filter; a reader
without a right is refused before the door looks anything up, so existing, missing and even malformed keys all
get the same answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from zhengtong.audit.models import AuditEntry, Result
from zhengtong.audit.subjects import subject_hash
from zhengtong.conftest import resident_id
from zhengtong.exchange import actions, door
from zhengtong.exchange.door import Reader, Refused
from zhengtong.exchange.models import Grant, GrantUsage
from zhengtong.exchange.tests.conftest import EAST, WEST, person
from zhengtong.identity.models import ApiClient, User
from zhengtong.registries import actions as registries
from zhengtong.registries.models import Registry
from zhengtong.registries.queries import find_record

MISSING = resident_id(44)  # a valid resident ID that no record holds
READ_ACTIONS = ("exchange.read", "exchange.reveal", "exchange.search", "exchange.export")


@pytest.fixture
def system(consumer_client: tuple[ApiClient, str]) -> Reader:
    return Reader.system(consumer_client[0], calling_system="CN/GOV/WEST-PSB/police-platform")


def refusal(call: Callable[[], object], code: str, status: int = 403, action: str = "exchange.read_refused"
            ) -> Refused:
    """Run `call`, expect the door to refuse it with `code` and `status`, and find the refusal in the trail as
    a denied entry naming the reason."""
    before = AuditEntry.objects.filter(action=action).count()
    reads_before = AuditEntry.objects.filter(action__in=READ_ACTIONS).count()
    with pytest.raises(Refused) as refused:
        call()
    assert (refused.value.code, refused.value.status) == (code, status)
    entries = list(AuditEntry.objects.filter(action=action).order_by("pk"))
    assert len(entries) == before + 1
    assert (entries[-1].result, entries[-1].detail["reason"]) == (Result.DENIED, code)
    assert AuditEntry.objects.filter(action__in=READ_ACTIONS).count() == reads_before  # nothing was read
    return refused.value


def read(reader: Reader, registry: Registry, key: str = person(1), **options: Any) -> Callable[[], object]:
    options.setdefault("purpose", "核验身份")
    return lambda: door.read_record(reader, registry, key, **options)


def test_every_reason_has_its_own_code_and_status() -> None:
    assert {reason.code: reason.status for reason in door.Reason} == {
        "no_purpose": 403, "no_grant": 403, "grant_expired": 403, "grant_revoked": 403, "grant_suspended": 403,
        "field_not_granted": 403, "outside_row_scope": 403, "consent_withdrawn": 403, "consent_missing": 403,
        "not_open": 403, "reveal_not_permitted": 403, "quota_exceeded": 429, "rate_limited": 429, "not_found": 404,
    }


# --- one test per reason -------------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", ["", "   "])
def test_no_purpose(persons: Registry, provider_officer: User, purpose: str) -> None:
    reader = Reader.staff(provider_officer)
    refusal(read(reader, persons, purpose=purpose), "no_purpose")
    refusal(lambda: door.search(reader, persons, filters={}, purpose=purpose), "no_purpose",
            action="exchange.search_refused")
    refusal(lambda: door.stream(reader, persons, purpose=purpose), "no_purpose", action="exchange.export_refused")


def test_no_grant(persons: Registry, system: Reader) -> None:
    error = refusal(read(system, persons), "no_grant")
    assert "request it in the sharing catalog" in str(error)
    entry = AuditEntry.objects.get(action="exchange.read_refused")
    assert entry.actor_department == "WEST-PSB" and entry.purpose == "核验身份"
    assert entry.detail["calling_system"] == "CN/GOV/WEST-PSB/police-platform"


@pytest.mark.parametrize(("starts", "ends"), [(-30, -1), (1, 30)])  # ended yesterday; starts tomorrow
def test_grant_expired_or_not_yet_in_force(persons: Registry, make_grant: Callable[..., Grant], system: Reader,
                                           starts: int, ends: int) -> None:
    today = timezone.localdate()
    make_grant(valid_from=today + dt.timedelta(days=starts), valid_until=today + dt.timedelta(days=ends))
    refusal(read(system, persons), "grant_expired")


def test_grant_revoked(persons: Registry, make_grant: Callable[..., Grant], system: Reader, governance: User) -> None:
    grant = make_grant()
    door.read_record(system, persons, person(1), purpose="核验身份")
    actions.revoke_grant(governance, grant, reason="协议终止")
    refusal(read(system, persons), "grant_revoked")


def test_grant_suspended_until_it_is_resumed(persons: Registry, make_grant: Callable[..., Grant], system: Reader,
                                            governance: User) -> None:
    grant = make_grant()
    actions.suspend_grant(governance, grant, reason="安全检查期间暂停")
    refusal(read(system, persons), "grant_suspended")
    actions.resume_grant(governance, grant, reason="检查完毕")
    assert door.read_record(system, persons, person(1), purpose="核验身份").values["division_code"] == EAST


def test_a_live_grant_wins_over_a_revoked_one(persons: Registry, make_grant: Callable[..., Grant], system: Reader,
                                             governance: User) -> None:
    actions.revoke_grant(governance, make_grant(), reason="协议终止")
    make_grant(fields=("resident_id",))
    assert list(door.read_record(system, persons, person(1), purpose="核验身份").values) == ["resident_id"]


def test_field_not_granted(persons: Registry, make_grant: Callable[..., Grant], system: Reader) -> None:
    make_grant(fields=("resident_id", "name"))
    error = refusal(read(system, persons, fields=["name", "phone", "birth_date"]), "field_not_granted")
    assert error.fields == ("phone", "birth_date")
    entry = AuditEntry.objects.get(action="exchange.read_refused")
    assert entry.detail["fields"] == ["phone", "birth_date"]


def test_outside_row_scope(persons: Registry, make_grant: Callable[..., Grant], system: Reader) -> None:
    make_grant(row_filter={"division_code": {"eq": WEST}})
    refusal(read(system, persons, person(1)), "outside_row_scope")
    assert door.read_record(system, persons, person(4), purpose="核验身份").values["division_code"] == WEST


def test_consent_missing_then_given_then_withdrawn(persons: Registry, persons_resource: Any, city: dict[str, Any],
                                                  make_grant: Callable[..., Grant], system: Reader,
                                                  governance: User) -> None:
    make_grant(basis="consent")
    refusal(read(system, persons), "consent_missing")

    consent = actions.give_consent(governance, subject=person(1), resource=persons_resource, consumer=city["other"],
                                   purpose="办理居住证")
    assert door.read_record(system, persons, person(1), purpose="办理居住证").values["name"] == "王**"
    refusal(read(system, persons, person(2)), "consent_missing")  # only the subject who consented

    actions.withdraw_consent(governance, consent, subject=person(1))
    refusal(read(system, persons, purpose="办理居住证"), "consent_withdrawn")


def test_consent_given_to_another_department_does_not_count(persons: Registry, persons_resource: Any,
                                                            city: dict[str, Any], make_grant: Callable[..., Grant],
                                                            system: Reader, governance: User) -> None:
    make_grant(basis="consent")
    actions.give_consent(governance, subject=person(1), resource=persons_resource, consumer=city["branch"],
                         purpose="办理低保")
    refusal(read(system, persons), "consent_missing")


def test_a_consent_export_leaves_out_those_who_have_not_consented(
        persons: Registry, persons_resource: Any, city: dict[str, Any], make_grant: Callable[..., Grant],
        system: Reader, governance: User) -> None:
    make_grant(basis="consent")
    for n in (4, 5):
        actions.give_consent(governance, subject=person(n), resource=persons_resource, consumer=city["other"],
                             purpose="办理居住证")
    page = door.search(system, persons, filters={"division_code": WEST}, purpose="办理居住证")
    assert page.total == 2
    _fields, rows = door.stream(system, persons, purpose="办理居住证")
    assert [r.record_id for r in rows] == [r.record_id for r in page.readings]
    entries = AuditEntry.objects.filter(action="exchange.export")
    assert [e.subjects for e in entries] == [sorted([subject_hash(person(4)), subject_hash(person(5))])]


def test_not_open(persons: Registry) -> None:
    refusal(read(Reader.public(), persons), "not_open")
    entry = AuditEntry.objects.get(action="exchange.read_refused")
    assert entry.actor_kind == "anonymous"


@pytest.mark.parametrize("who", ["provider_officer", "consumer_officer"])
def test_reveal_not_permitted(request: pytest.FixtureRequest, persons: Registry, make_grant: Callable[..., Grant],
                              who: str) -> None:
    make_grant()
    reader = Reader.staff(request.getfixturevalue(who))  # a data officer: may read, may not reveal
    refusal(read(reader, persons, reveal=["phone"], reveal_reason="核实联系方式", case_reference="案-1"),
            "reveal_not_permitted")


def test_not_found(persons: Registry, provider_officer: User) -> None:
    refusal(read(Reader.staff(provider_officer), persons, MISSING), "not_found", status=404)


def test_a_deleted_record_is_not_found(persons: Registry, provider_officer: User) -> None:
    record = find_record(persons, person(2))
    assert record is not None
    registries.delete_record(provider_officer, record, reason="死亡注销")
    refusal(read(Reader.staff(provider_officer), persons, person(2)), "not_found", status=404)


# --- quota and rate ------------------------------------------------------------------------------------------


def test_quota_exceeded_and_refused_calls_are_not_counted(persons: Registry, make_grant: Callable[..., Grant],
                                                          system: Reader) -> None:
    grant = make_grant(daily_quota=2, row_filter={"division_code": {"in": [EAST]}},
                       fields=("resident_id", "name", "division_code", "birth_date"))
    # Refused after the count was taken (missing record, outside the row scope) or before it (a field not
    # granted): none of them uses up the quota.
    for call, code in ((read(system, persons, MISSING), "outside_row_scope"),
                       (read(system, persons, person(4)), "outside_row_scope"),
                       (read(system, persons, fields=["phone"]), "field_not_granted")):
        refusal(call, code)
    assert not GrantUsage.objects.filter(grant=grant, calls__gt=0).exists()

    door.read_record(system, persons, person(1), purpose="核验身份")
    door.search(system, persons, filters={}, purpose="核验身份")  # a search is one call, whatever it returns
    refusal(read(system, persons), "quota_exceeded", status=429)
    refusal(lambda: door.search(system, persons, filters={}, purpose="核验身份"), "quota_exceeded", status=429,
            action="exchange.search_refused")
    refusal(lambda: door.stream(system, persons, purpose="核验身份"), "quota_exceeded", status=429,
            action="exchange.export_refused")
    assert GrantUsage.objects.get(grant=grant, slot__startswith="d:").calls == 2


def test_the_quota_is_per_day(persons: Registry, make_grant: Callable[..., Grant], system: Reader) -> None:
    make_grant(daily_quota=1)
    morning = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)
    with time_machine.travel(morning, tick=False) as clock:
        door.read_record(system, persons, person(1), purpose="核验身份")
        with pytest.raises(Refused) as refused:
            door.read_record(system, persons, person(1), purpose="核验身份")
        assert refused.value.code == "quota_exceeded"
        clock.shift(dt.timedelta(days=1))
        assert door.read_record(system, persons, person(1), purpose="核验身份").values["division_code"] == EAST


def test_rate_limited_within_a_minute(persons: Registry, make_grant: Callable[..., Grant], system: Reader) -> None:
    make_grant(rate_per_minute=2)
    minute = timezone.localtime().replace(second=5, microsecond=0)
    with time_machine.travel(minute, tick=False) as clock:
        door.read_record(system, persons, person(1), purpose="核验身份")
        door.read_record(system, persons, person(2), purpose="核验身份")
        refusal(read(system, persons, person(3)), "rate_limited", status=429)
        clock.shift(dt.timedelta(minutes=1))
        assert door.read_record(system, persons, person(3), purpose="核验身份").values["division_code"] == EAST


# --- what a refusal says about existence ---------------------------------------------------------------------


def test_with_a_row_filter_a_missing_record_and_one_outside_the_scope_look_the_same(
        persons: Registry, make_grant: Callable[..., Grant], system: Reader) -> None:
    make_grant(row_filter={"division_code": {"prefix": "330108"}})
    answers = []
    for key in (person(1), MISSING):  # exists outside the scope; does not exist
        with pytest.raises(Refused) as refused:
            door.read_record(system, persons, key, purpose="核验身份")
        answers.append((refused.value.code, refused.value.status, str(refused.value), refused.value.fields))
    assert answers[0] == answers[1]
    assert answers[0][0] == "outside_row_scope"
    first, second = AuditEntry.objects.filter(action="exchange.read_refused").order_by("pk")
    assert first.detail == second.detail and first.subjects == second.subjects == []


@pytest.mark.parametrize("row_filter", [{}, {"division_code": {"eq": EAST}}])
def test_under_a_consent_grant_a_missing_record_looks_like_one_without_consent(
        persons: Registry, make_grant: Callable[..., Grant], system: Reader, row_filter: dict[str, Any]) -> None:
    # Whether someone who has not consented is in the registry at all is theirs to tell: the consumer gets the
    # same answer for them as for a key nobody holds.
    make_grant(basis="consent", row_filter=row_filter)
    answers = []
    for key in (person(1), MISSING):  # in the registry (and in the row scope), no consent; not in the registry
        with pytest.raises(Refused) as refused:
            door.read_record(system, persons, key, purpose="办理居住证")
        answers.append((refused.value.code, refused.value.status, str(refused.value)))
    assert answers[0] == answers[1]
    assert answers[0][0] == "consent_missing"


@pytest.fixture
def situation(request: pytest.FixtureRequest, persons: Registry, make_grant: Callable[..., Grant], system: Reader,
              governance: User) -> tuple[Reader, dict[str, Any], str]:
    """A reader without a right to the record, the options of their call, and the reason they get."""
    today = timezone.localdate()
    name = request.param
    if name == "no_grant":
        return system, {}, "no_grant"
    if name == "grant_expired":
        make_grant(valid_from=today - dt.timedelta(days=9), valid_until=today - dt.timedelta(days=1))
        return system, {}, "grant_expired"
    if name == "grant_revoked":
        actions.revoke_grant(governance, make_grant(), reason="协议终止")
        return system, {}, "grant_revoked"
    if name == "grant_suspended":
        actions.suspend_grant(governance, make_grant(), reason="暂停")
        return system, {}, "grant_suspended"
    if name == "field_not_granted":
        make_grant(fields=("name",))
        return system, {"fields": ["phone"]}, "field_not_granted"
    if name == "reveal_not_permitted":
        make_grant()
        return system, {"reveal": ["phone"], "reveal_reason": "核实", "case_reference": "案-1"}, name
    if name == "no_purpose":
        make_grant()
        return system, {"purpose": " "}, "no_purpose"
    assert name == "not_open"
    return Reader.public(), {}, "not_open"


@pytest.mark.parametrize("situation", ["no_grant", "grant_expired", "grant_revoked", "grant_suspended",
                                       "field_not_granted", "reveal_not_permitted", "no_purpose", "not_open"],
                         indirect=True)
def test_without_a_right_the_door_refuses_before_it_looks_anything_up(
        monkeypatch: pytest.MonkeyPatch, persons: Registry, situation: tuple[Reader, dict[str, Any], str]) -> None:
    reader, options, code = situation

    def no_lookup(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the door looked the record up before refusing")

    monkeypatch.setattr(door, "find_record", no_lookup)
    answers = set()
    for key in (person(1), MISSING, "11010519491231002"):  # exists; missing; not even a resident ID
        with pytest.raises(Refused) as refused:
            read(reader, persons, key, **options)()
        answers.add((refused.value.code, refused.value.status, str(refused.value)))
    assert [code for code, _status, _message in answers] == [code]
    details = {str(sorted(e.detail.items())) for e in AuditEntry.objects.filter(action="exchange.read_refused")}
    assert len(details) == 1  # nothing in the trail's refusals tells the keys apart either
