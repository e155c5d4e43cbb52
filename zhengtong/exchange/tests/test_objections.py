"""Data objections: a consumer reports a wrong value it reads under its grant; the provider corrects the record
(whose history then names the objection) or answers; the consumer accepts or escalates; the governance office
settles. Deadlines are working days: the dates sit around National Day 2026 (1–7 October are holidays, Saturday
10 October is a make-up working day), and reminders and overdue notices go out once per deadline.

Checked through the actions, the pages and the API."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from zhengtong.audit.models import AuditEntry, Result
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.exchange import actions, door, queries
from zhengtong.exchange.models import DataObjection, Grant, ObjectionStatus
from zhengtong.exchange.tasks import check_objection_deadlines
from zhengtong.exchange.tests.conftest import person
from zhengtong.exchange.views.records import seal_locator
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.registries.models import Record, RecordChange, Registry

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY = dt.date(2026, 9, 29)
DUE = dt.date(2026, 10, 12)  # Sep 30, Oct 8, 9, the make-up Saturday 10, and Monday 12: 5 working days
MAKE_UP_SATURDAY = dt.date(2026, 10, 10)
PURPOSE = "治安管理核验身份"
RIGHT_PHONE = "13900139004"

pytestmark = pytest.mark.django_db


@pytest.fixture
def on() -> Iterator[Callable[[dt.date], None]]:
    """Move the clock to 10:00 in Shanghai on a day; the test can move it again."""
    machines: list[Any] = []

    def travel(day: dt.date) -> None:
        if machines:
            machines.pop().stop()
        machine = time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=SHANGHAI), tick=False)
        machine.start()
        machines.append(machine)

    yield travel
    if machines:
        machines.pop().stop()


@pytest.fixture
def grant(make_grant: Callable[..., Grant]) -> Grant:
    """WEST-PSB's grant to the persons registry, in force through 2026 and 2027."""
    return make_grant(valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2027, 12, 31))


@pytest.fixture
def addresses(governance: User, provider_officer: User, consumer_officer: User) -> dict[str, str]:
    emails = {"governance": "gov@data.example.gov.cn", "provider": "ca@ca.example.gov.cn",
              "consumer": "psb@psb.example.gov.cn"}
    for user, key in ((governance, "governance"), (provider_officer, "provider"), (consumer_officer, "consumer")):
        User.objects.filter(pk=user.pk).update(email=emails[key])
    return emails


def objection_input(persons: Registry, n: int = 4, **changes: Any) -> actions.ObjectionInput:
    values: dict[str, Any] = {"registry": persons, "key": {"resident_id": person(n)}, "field": "phone",
                              "proposed_value": RIGHT_PHONE,
                              "description": "本人于2026年9月到派出所登记的新手机号与库中不一致。"}
    values.update(changes)
    return actions.ObjectionInput(**values)


@pytest.fixture
def raised(persons: Registry, grant: Grant, consumer_officer: User, on: Callable[[dt.date], None]
           ) -> DataObjection:
    on(TUESDAY)
    return actions.raise_objection(consumer_officer, objection_input(persons))


# --- the path ------------------------------------------------------------------------------------------------


def test_raising_reads_the_field_through_the_door_and_sets_a_deadline_in_working_days(
        raised: DataObjection, persons: Registry) -> None:
    assert raised.number == "SJYY-2026-000001"
    assert raised.status == ObjectionStatus.OPEN
    assert raised.answer_due == DUE
    assert raised.consumer.code == "WEST-PSB" and raised.resource.registry_id == persons.pk
    read = AuditEntry.objects.get(action="exchange.read", object_id="persons")
    assert read.fields == ["phone"] and read.purpose == "Raising a data objection"
    entry = AuditEntry.objects.get(action="exchange.raise_objection")
    assert entry.object_id == raised.number and RIGHT_PHONE not in json.dumps(entry.detail)


def test_the_provider_corrects_and_the_record_history_names_the_objection(
        raised: DataObjection, provider_officer: User, consumer_officer: User, persons: Registry) -> None:
    corrected = actions.correct_objection(provider_officer, raised, note="已按户籍登记更正。")

    assert corrected.status == ObjectionStatus.CORRECTED and corrected.is_closed
    change = RecordChange.objects.get(record=raised.record)
    assert change.reason == raised.number and change.changed_fields == ["phone"]
    assert corrected.corrected_version == Record.objects.get(pk=raised.record_id).version == 2
    reading = door.read_record(door.Reader.staff(consumer_officer), persons, {"resident_id": person(4)},
                               purpose=PURPOSE, fields=["phone"])
    assert reading.values["phone"] != "13800138004"  # masked, but no longer the old number's mask
    assert [e.action for e in queries.objection_history(corrected)] == ["exchange.raise_objection",
                                                                        "exchange.correct_objection"]


def test_answer_then_escalate_then_the_office_settles(raised: DataObjection, provider_officer: User,
                                                     consumer_officer: User, governance: User,
                                                     on: Callable[[dt.date], None]) -> None:
    on(dt.date(2026, 10, 8))
    answered = actions.answer_objection(provider_officer, raised, explanation="库中号码经本人2026年8月确认。")
    assert answered.status == ObjectionStatus.ANSWERED and answered.current_due is None

    escalated = actions.escalate_objection(consumer_officer, answered, grounds="本人持有新号码的入网证明。")
    assert escalated.status == ObjectionStatus.ESCALATED
    assert escalated.settle_due == dt.date(2026, 10, 14)  # Oct 9, the make-up Saturday 10, 12, 13 and 14

    settled = actions.settle_objection(governance, escalated, value_wrong=True, settlement="以入网证明为准。")
    # The value is wrong: back with the provider, which must now correct it (an answer no longer does).
    assert settled.status == ObjectionStatus.OPEN and settled.must_correct
    assert settled.answer_due == dt.date(2026, 10, 14)  # settled the same day, 5 working days again
    with pytest.raises(Conflict):
        actions.answer_objection(provider_officer, settled, explanation="仍认为正确。")
    assert actions.correct_objection(provider_officer, settled).status == ObjectionStatus.CORRECTED


def test_the_office_may_let_the_value_stand(raised: DataObjection, provider_officer: User,
                                           consumer_officer: User, governance: User) -> None:
    actions.answer_objection(provider_officer, raised, explanation="库中号码经本人确认。")
    actions.escalate_objection(consumer_officer, raised, grounds="不同意。")
    settled = actions.settle_objection(governance, raised, value_wrong=False, settlement="维持原值。")
    assert settled.status == ObjectionStatus.SETTLED and settled.is_closed
    assert not RecordChange.objects.filter(record=raised.record).exists()


def test_the_consumer_may_accept_the_answer(raised: DataObjection, provider_officer: User,
                                           consumer_officer: User) -> None:
    actions.answer_objection(provider_officer, raised, explanation="库中号码经本人确认。")
    accepted = actions.accept_answer(consumer_officer, raised)
    assert accepted.status == ObjectionStatus.ACCEPTED
    with pytest.raises(Conflict):
        actions.escalate_objection(consumer_officer, accepted, grounds="改主意了。")


def test_a_correction_to_the_value_already_held_is_refused(raised: DataObjection, provider_officer: User) -> None:
    with pytest.raises(Conflict):
        actions.correct_objection(provider_officer, raised, value="13800138004")
    raised.refresh_from_db()
    assert raised.status == ObjectionStatus.OPEN


def test_a_correction_that_does_not_fit_the_field_names_the_value(raised: DataObjection,
                                                                 provider_officer: User) -> None:
    with pytest.raises(InvalidInput) as caught:
        actions.correct_objection(provider_officer, raised, value="not a phone")
    assert [p.field for p in caught.value.details] == ["value"]


# --- refusals ------------------------------------------------------------------------------------------------


def test_bad_input_names_each_field_and_writes_nothing(persons: Registry, grant: Grant,
                                                      consumer_officer: User) -> None:
    with pytest.raises(InvalidInput) as caught:
        actions.raise_objection(consumer_officer, objection_input(persons, field="phone", proposed_value="12",
                                                                  description=" "))
    assert {p.field for p in caught.value.details} == {"proposed_value", "description"}
    with pytest.raises(InvalidInput) as caught:
        actions.raise_objection(consumer_officer, objection_input(persons, field="nickname"))
    assert [p.field for p in caught.value.details] == ["field"]
    with pytest.raises(InvalidInput) as caught:
        actions.raise_objection(consumer_officer, objection_input(
            persons, evidence=actions.Evidence("scan.exe", b"MZ\x90\x00")))
    assert [p.field for p in caught.value.details] == ["evidence"]
    assert not DataObjection.objects.exists()


def test_without_a_grant_the_door_refuses(persons: Registry, consumer_officer: User) -> None:
    with pytest.raises(door.Refused) as caught:
        actions.raise_objection(consumer_officer, objection_input(persons))
    assert caught.value.reason == door.Reason.NO_GRANT
    assert AuditEntry.objects.filter(action="exchange.read_refused", result=Result.DENIED).exists()
    assert not DataObjection.objects.exists()


def test_a_field_outside_the_grant_or_a_record_outside_it_is_refused(
        persons: Registry, make_grant: Callable[..., Grant], consumer_officer: User) -> None:
    make_grant(fields=("resident_id", "name"), row_filter={"division_code": {"eq": "330108"}})
    with pytest.raises(door.Refused) as caught:
        actions.raise_objection(consumer_officer, objection_input(persons))
    assert caught.value.reason == door.Reason.FIELD_NOT_GRANTED
    with pytest.raises(door.Refused) as caught:
        actions.raise_objection(consumer_officer, objection_input(persons, n=1, field="name",
                                                                  proposed_value="王晓明"))
    assert caught.value.reason == door.Reason.OUTSIDE_ROW_SCOPE


def test_the_provider_does_not_object_to_its_own_registry(persons: Registry, provider_officer: User) -> None:
    with pytest.raises(Conflict):
        actions.raise_objection(provider_officer, objection_input(persons))


def test_only_the_right_people_take_each_step(raised: DataObjection, consumer_officer: User,
                                              provider_officer: User, governance: User,
                                              make_staff: Callable[..., User], city: dict[str, Any]) -> None:
    window = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["other"])
    with pytest.raises(NotPermitted):
        actions.raise_objection(window, objection_input(raised.registry))
    with pytest.raises(NotPermitted):
        actions.correct_objection(consumer_officer, raised)
    with pytest.raises(NotPermitted):
        actions.answer_objection(governance, raised, explanation="越权。")
    actions.answer_objection(provider_officer, raised, explanation="库中号码经本人确认。")
    with pytest.raises(NotPermitted):
        actions.accept_answer(provider_officer, raised)
    with pytest.raises(NotPermitted):
        actions.escalate_objection(provider_officer, raised, grounds="越权。")
    actions.escalate_objection(consumer_officer, raised, grounds="不同意。")
    with pytest.raises(NotPermitted):
        actions.settle_objection(consumer_officer, raised, value_wrong=True, settlement="越权。")
    denied = AuditEntry.objects.filter(action="identity.permission_denied", result=Result.DENIED)
    assert denied.count() == 6


# --- deadlines -----------------------------------------------------------------------------------------------


def test_reminder_the_working_day_before_and_overdue_notice_once_each(
        raised: DataObjection, addresses: dict[str, str], on: Callable[[dt.date], None]) -> None:
    on(dt.date(2026, 10, 9))  # the next working day is the make-up Saturday, not yet the deadline
    assert check_objection_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    on(MAKE_UP_SATURDAY)
    assert check_objection_deadlines.call() == {"reminders": 1, "overdue_notices": 0}
    assert check_objection_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    assert [m.to for m in mail.outbox] == [[addresses["provider"]]]
    assert raised.number in mail.outbox[0].subject and "2026-10-12" in mail.outbox[0].subject

    on(DUE)
    assert queries.objection_state(queries.Deadlines.as_of(), raised) == queries.DueState.DUE_SOON
    assert check_objection_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    on(dt.date(2026, 10, 13))
    raised.refresh_from_db()
    assert queries.objection_state(queries.Deadlines.as_of(), raised) == queries.DueState.OVERDUE
    assert check_objection_deadlines.call() == {"reminders": 0, "overdue_notices": 1}
    on(dt.date(2026, 10, 14))
    assert check_objection_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    # The overdue notice goes to the provider and is flagged to the governance office.
    assert sorted(mail.outbox[1].to) == sorted([addresses["provider"], addresses["governance"]])
    overdue = queries.with_flag(DataObjection.objects.all(), queries.Deadlines.as_of(), queries.DueState.OVERDUE)
    assert list(overdue) == [raised]
    assert AuditEntry.objects.filter(action="exchange.objection_overdue", object_id=raised.number).count() == 1


def test_a_settlement_sets_a_new_deadline_with_its_own_reminder(
        raised: DataObjection, provider_officer: User, consumer_officer: User, governance: User,
        addresses: dict[str, str], on: Callable[[dt.date], None]) -> None:
    actions.answer_objection(provider_officer, raised, explanation="库中号码经本人确认。")
    on(dt.date(2026, 10, 8))
    escalated = actions.escalate_objection(consumer_officer, raised, grounds="不同意。")
    on(dt.date(2026, 10, 13))  # the day before the settlement is due: the office is reminded
    assert check_objection_deadlines.call() == {"reminders": 1, "overdue_notices": 0}
    assert mail.outbox[-1].to == [addresses["governance"]]
    settled = actions.settle_objection(governance, escalated, value_wrong=True, settlement="以证明为准。")
    assert settled.answer_due == dt.date(2026, 10, 20)
    on(dt.date(2026, 10, 19))
    assert check_objection_deadlines.call() == {"reminders": 1, "overdue_notices": 0}
    assert mail.outbox[-1].to == [addresses["provider"]]


# --- pages ---------------------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def pages(client: Client) -> Client:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def outsider(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    """A data officer of the east district civil affairs office: neither consumer nor provider."""
    return make_staff(role_names=(roles.DATA_OFFICER,), trained=True, department=city["branch"], username="outsider")


def page_text(response: Any) -> str:
    return response.content.decode()


def test_a_consumer_reports_from_the_record_page_with_evidence_and_both_sides_follow_it(
        pages: Client, persons: Registry, grant: Grant, consumer_officer: User, provider_officer: User,
        outsider: User) -> None:
    pages.force_login(consumer_officer)
    record = Record.objects.get(pk=door.read_record(door.Reader.staff(consumer_officer), persons,
                                                    {"resident_id": person(5)}, purpose=PURPOSE).record_id)
    locator = seal_locator(consumer_officer, persons, record.pk)
    url = "/sharing/objections/new/persons/"
    shown = page_text(pages.post("/records/persons/record/", {"locator": locator, "purpose": PURPOSE}))
    assert f'action="{url}"' in shown and "Report a wrong value" in shown

    opened = pages.post(url, {"locator": locator, "purpose": PURPOSE})
    assert opened.status_code == 200
    assert 'name="locator"' in page_text(opened) and 'name="key_resident_id"' not in page_text(opened)

    incomplete = pages.post(url, {"locator": locator, "field": "phone", "proposed_value": "",
                                  "description": ""})
    assert incomplete.status_code == 422
    assert 'href="#objection-proposed_value"' in page_text(incomplete)

    evidence = ("证明.png", PNG, "image/png")
    done = pages.post(url, {"locator": locator, "field": "phone", "proposed_value": "13900139005",
                            "description": "入网证明显示新号码。",
                            "evidence": SimpleUploadedFile(*evidence)})
    objection = DataObjection.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/sharing/objections/{objection.number}/"
    assert objection.record_id == record.pk and objection.evidence_type == "image/png"

    detail = pages.get(done["Location"])
    assert "13900139005" in page_text(detail) and "证明.png" in page_text(detail)
    download = pages.get(f"/sharing/objections/{objection.number}/evidence/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == PNG  # type: ignore[attr-defined]

    pages.force_login(provider_officer)
    own = pages.post("/records/persons/record/", {
        "locator": seal_locator(provider_officer, persons, record.pk), "purpose": PURPOSE})
    assert own.status_code == 200 and "Report a wrong value" not in page_text(own)  # its own data
    incoming = pages.get("/sharing/objections/?side=incoming")
    assert f'data-objection="{objection.number}"' in page_text(incoming)
    assert pages.get(f"/sharing/objections/{objection.number}/evidence/").status_code == 200
    corrected = pages.post(f"/sharing/objections/{objection.number}/correct/",
                           {"value": "13900139005", "note": "已更正。"})
    assert corrected.status_code == 302
    objection.refresh_from_db()
    assert objection.status == ObjectionStatus.CORRECTED
    assert RecordChange.objects.get(record=record).reason == objection.number

    pages.force_login(outsider)
    assert pages.get(f"/sharing/objections/{objection.number}/").status_code == 404
    assert pages.get(f"/sharing/objections/{objection.number}/evidence/").status_code == 404


def test_a_consumer_reports_by_the_records_key(pages: Client, persons: Registry, grant: Grant,
                                               consumer_officer: User) -> None:
    pages.force_login(consumer_officer)
    form = pages.get("/sharing/objections/new/persons/")
    assert form.status_code == 200 and 'name="key_resident_id"' in page_text(form)
    done = pages.post("/sharing/objections/new/persons/", {
        "key_resident_id": person(4), "field": "name", "proposed_value": "赵陆", "description": "户口簿为赵陆。"})
    assert done.status_code == 302
    assert DataObjection.objects.get().field == "name"


def test_a_refused_read_shows_the_doors_refusal(pages: Client, persons: Registry, consumer_officer: User) -> None:
    pages.force_login(consumer_officer)
    refused = pages.post("/sharing/objections/new/persons/", {
        "key_resident_id": person(4), "field": "name", "proposed_value": "赵陆", "description": "户口簿为赵陆。"})
    assert refused.status_code == 403
    assert not DataObjection.objects.exists()


def test_answer_escalate_and_settle_on_the_pages(pages: Client, raised: DataObjection, provider_officer: User,
                                                 consumer_officer: User, governance: User) -> None:
    number = raised.number
    pages.force_login(provider_officer)
    assert pages.post(f"/sharing/objections/{number}/answer/", {"explanation": ""}).status_code == 422
    assert pages.post(f"/sharing/objections/{number}/answer/", {"explanation": "经核实无误。"}).status_code == 302
    assert pages.post(f"/sharing/objections/{number}/escalate/", {"grounds": "越权"}).status_code == 403

    pages.force_login(consumer_officer)
    detail = page_text(pages.get(f"/sharing/objections/{number}/"))
    assert "经核实无误。" in detail and f"/sharing/objections/{number}/escalate/" in detail
    assert pages.post(f"/sharing/objections/{number}/escalate/", {"grounds": "有新证明。"}).status_code == 302

    pages.force_login(governance)
    office = page_text(pages.get("/sharing/objections/"))
    assert f'data-objection="{number}"' in office
    assert pages.post(f"/sharing/objections/{number}/settle/",
                      {"decision": "stands", "settlement": "维持。"}).status_code == 302
    raised.refresh_from_db()
    assert raised.status == ObjectionStatus.SETTLED
    history = page_text(pages.get(f"/sharing/objections/{number}/"))
    for label in ("Objection raised", "Provider&#x27;s answer: the value is right",
                  "Escalated to the governance office", "Settled by the governance office"):
        assert label in history


def test_the_office_filters_overdue_objections(pages: Client, raised: DataObjection, governance: User,
                                               on: Callable[[dt.date], None]) -> None:
    on(dt.date(2026, 10, 13))
    pages.force_login(governance)
    overdue = page_text(pages.get("/sharing/objections/?side=office&deadline=overdue"))
    assert f'data-objection="{raised.number}"' in overdue and 'data-deadline="overdue"' in overdue
    assert raised.number not in page_text(pages.get("/sharing/objections/?side=office&deadline=due_soon"))


# --- API -----------------------------------------------------------------------------------------------------

API = "/api/v1/objections"


def send(client: Client, method: str, path: str, body: Any = None) -> Any:
    return getattr(client, method)(API + path, json.dumps(body) if body is not None else None,
                                   content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")


def test_the_api_follows_the_same_path(client: Client, persons: Registry, grant: Grant, consumer_officer: User,
                                       provider_officer: User, governance: User, outsider: User) -> None:
    client.force_login(consumer_officer)
    body = {"registry": "persons", "key": {"resident_id": person(4)}, "field": "phone",
            "proposed_value": RIGHT_PHONE, "description": "新号码。"}
    bad = send(client, "post", "", {**body, "proposed_value": "12", "description": ""})
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["details"]} == {"proposed_value", "description"}
    created = send(client, "post", "", body)
    assert created.status_code == 201
    number = created.json()["number"]
    assert created.json()["status"] == "open" and created.json()["history"][0]["action"] == "exchange.raise_objection"

    client.force_login(provider_officer)
    listed = send(client, "get", "?side=incoming").json()
    assert [item["number"] for item in listed["results"]] == [number]
    assert send(client, "post", f"/{number}/settle", {"value_wrong": True, "settlement": "x"}).status_code == 403
    answered = send(client, "post", f"/{number}/answer", {"explanation": "无误。"})
    assert answered.json()["status"] == "answered"

    client.force_login(consumer_officer)
    assert send(client, "post", f"/{number}/escalate", {"grounds": "有证明。"}).json()["status"] == "escalated"

    client.force_login(governance)
    settled = send(client, "post", f"/{number}/settle", {"value_wrong": True, "settlement": "以证明为准。"}).json()
    assert settled["status"] == "open" and settled["must_correct"]

    client.force_login(provider_officer)
    corrected = send(client, "post", f"/{number}/correct", {}).json()
    assert corrected["status"] == "corrected" and corrected["corrected_version"] == 2

    client.force_login(outsider)
    assert send(client, "get", f"/{number}").status_code == 404
    assert send(client, "get", "?deadline=late").status_code == 422


# --- demo ----------------------------------------------------------------------------------------------------


def test_the_demo_seeds_objections_at_every_step_once(db: Any) -> None:
    from zhengtong.catalog import demo as catalog_demo
    from zhengtong.exchange import demo as sharing_demo
    from zhengtong.exchange.demo_objections import seed_objections
    from zhengtong.identity import demo as identity_demo
    from zhengtong.registries import demo as registries_demo

    identity_demo.seed_demo_city(citizens=60, businesses=0, progress=False)
    registries_demo.seed_registries(parcels=20, addresses=20, progress=False)
    catalog_demo.seed_catalog()
    sharing_demo.seed_sharing()

    first = seed_objections(seed=1)
    assert first.objections == 4 and "4 added" in first.describe()
    assert seed_objections(seed=1).objections == 0
    by_status = {o.status: o for o in DataObjection.objects.all()}
    assert set(by_status) == {ObjectionStatus.OPEN, ObjectionStatus.CORRECTED, ObjectionStatus.ACCEPTED,
                              ObjectionStatus.ESCALATED}
    deadlines = queries.Deadlines.as_of()
    assert queries.objection_state(deadlines, by_status[ObjectionStatus.OPEN]) == queries.DueState.OVERDUE
    corrected = by_status[ObjectionStatus.CORRECTED]
    assert RecordChange.objects.get(record=corrected.record).reason == corrected.number
