"""Request paths and their deadlines in working days on the Chinese calendar, reminders the working day before
each deadline (once), and overdue flags and notices after it.

The dates sit around National Day 2025: 1–8 October are holidays, and Sunday 28 September and Saturday
11 October are make-up working days (调休), so a deadline counted in calendar days or plain weekdays would land
elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from zhengtong.audit.models import AuditEntry
from zhengtong.catalog import actions as catalog
from zhengtong.catalog.models import OpeningType, Resource, ResourceFormat, ResourceKind, SharingType, UpdateCycle
from zhengtong.core.errors import Conflict, InvalidInput
from zhengtong.exchange import actions, queries
from zhengtong.exchange.models import Grant, RefusedBy, RequestStatus, SharingRequest
from zhengtong.exchange.tasks import check_sharing_deadlines
from zhengtong.exchange.tests.conftest import is_late
from zhengtong.identity.models import User
from zhengtong.registries import actions as registries
from zhengtong.registries.tests.factories import indicator_fields

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY = dt.date(2025, 9, 26)  # the last working day before the make-up Sunday
MAKE_UP_SUNDAY = dt.date(2025, 9, 28)
MONDAY = dt.date(2025, 9, 29)
TUESDAY = dt.date(2025, 9, 30)  # the last working day before National Day


@pytest.fixture
def on() -> Iterator[Callable[[dt.date], None]]:
    """Move the clock to 10:00 in Shanghai on a day; the test can move it again."""
    traveller: list[Any] = []

    def travel(day: dt.date) -> None:
        if traveller:
            traveller.pop().stop()
        machine = time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=SHANGHAI), tick=False)
        machine.start()
        traveller.append(machine)

    yield travel
    if traveller:
        traveller.pop().stop()


@pytest.fixture
def addresses(governance: User, provider_officer: User, consumer_officer: User) -> dict[str, str]:
    """Mail addresses of the people a deadline may concern."""
    emails = {"governance": "gov@data.example.gov.cn", "provider": "ca@ca.example.gov.cn",
              "consumer": "psb@psb.example.gov.cn"}
    for user, key in ((governance, "governance"), (provider_officer, "provider"), (consumer_officer, "consumer")):
        User.objects.filter(pk=user.pk).update(email=emails[key])
    return emails


def registry_resource(city: dict[str, Any], *, code: str, sharing_type: str, publish: bool,
                      legal_basis: str = "") -> Resource:
    """A statistics registry of CITY-CA in the catalog, shared as asked (its data is general and public)."""
    registry = registries.define_registry(None, code=code, name=f"{code} 统计指标", department=city["bureau"],
                                          fields=indicator_fields())
    resource = Resource.objects.get(registry=registry)
    catalog.update_resource(None, resource, catalog.ResourceInput(
        name=resource.name, summary="全市统计指标。", kind=ResourceKind.DEPARTMENTAL, format=ResourceFormat.DATABASE,
        item_code="02", category_code="003", update_cycle=UpdateCycle.MONTHLY, sharing_type=sharing_type,
        sharing_condition="依法履职使用。" if sharing_type == SharingType.CONDITIONAL else "",
        legal_basis=legal_basis, opening_type=OpeningType.CLOSED))
    return catalog.publish_resource(None, resource) if publish else Resource.objects.get(pk=resource.pk)


def ask(officer: User, resource: Resource, *, fields: tuple[str, ...] = ("division_code", "birth_date"),
        row_filter: dict[str, Any] | None = None) -> SharingRequest:
    return actions.submit_request(officer, actions.RequestInput(
        resource=resource, purpose="核查辖区户籍人口", scenario="户籍核查业务系统", basis="legal",
        legal_basis="《治安管理处罚法》第十二条", expected_daily_calls=200,
        terms=actions.Terms(fields=list(fields), row_filter=row_filter or {}, valid_from=dt.date(2025, 10, 1),
                            valid_until=dt.date(2026, 9, 30))))


# --- paths and their deadlines -----------------------------------------------------------------------------


def test_an_unconditional_resource_is_granted_once_the_office_finds_the_request_conforming(
        on, city, consumer_officer, governance):
    on(FRIDAY)
    statistics = registry_resource(city, code="stats", sharing_type=SharingType.UNCONDITIONAL, publish=True)
    request = ask(consumer_officer, statistics, fields=("indicator", "value"),
                  row_filter={"division_code": {"prefix": "330108"}})
    assert request.status == RequestStatus.CHECKING
    assert request.check_due == MONDAY  # Friday + 2 working days: the make-up Sunday counts, Saturday does not

    on(MONDAY)
    request = actions.check_request(governance, request, conforms=True)
    assert request.status == RequestStatus.GRANTED and request.answer_due is None
    grant = Grant.objects.get(request=request)
    assert grant.consumer == city["other"] and grant.fields == ["indicator", "value"]
    assert grant.row_filter == {"division_code": {"prefix": "330108"}}


def test_a_conditional_resource_goes_to_its_provider_for_5_working_days(
        on, persons_resource, consumer_officer, governance, provider_officer):
    on(FRIDAY)
    request = ask(consumer_officer, persons_resource)
    on(MONDAY)
    request = actions.check_request(governance, request, conforms=True, note="用途明确")
    assert request.status == RequestStatus.PROVIDER_REVIEW
    # 30 September, then 9, 10, 11 (make-up Saturday) and 13 October: the National Day holidays do not count.
    assert request.answer_due == dt.date(2025, 10, 13)
    assert not Grant.objects.filter(request=request).exists()

    on(dt.date(2025, 10, 9))
    request = actions.answer_request(provider_officer, request, grant=True)
    assert request.status == RequestStatus.GRANTED
    assert Grant.objects.get(request=request).fields == ["division_code", "birth_date"]


def test_a_resource_not_yet_published_gives_the_provider_10_working_days(on, city, consumer_officer, governance):
    on(FRIDAY)
    draft = registry_resource(city, code="draft-stats", sharing_type=SharingType.CONDITIONAL, publish=False,
                              legal_basis="《统计法》")
    request = ask(consumer_officer, draft, fields=("indicator",))
    on(MONDAY)
    request = actions.check_request(governance, request, conforms=True)
    assert request.answer_due == dt.date(2025, 10, 20)


def test_a_resource_that_is_not_shared_is_refused_at_once_with_its_legal_basis(on, city, consumer_officer):
    on(FRIDAY)
    closed = registry_resource(city, code="closed-stats", sharing_type=SharingType.NONE, publish=True,
                               legal_basis="《统计法》第二十五条")
    request = ask(consumer_officer, closed, fields=("value",))
    assert request.status == RequestStatus.REFUSED and request.refused_by == RefusedBy.CATALOG
    assert request.refusal_reasons == "《统计法》第二十五条"
    assert request.check_due is None and request.current_due is None
    with pytest.raises(Conflict):  # the catalog entry is what to change, not a dispute
        actions.dispute_refusal(consumer_officer, request, grounds="我们需要")


def test_a_refusal_must_give_its_reasons(on, persons_resource, consumer_officer, governance, provider_officer):
    on(FRIDAY)
    request = ask(consumer_officer, persons_resource)
    with pytest.raises(InvalidInput) as refused_check:
        actions.check_request(governance, request, conforms=False, note="  ")
    assert [p.field for p in refused_check.value.details] == ["note"]
    request = actions.check_request(governance, request, conforms=True)
    with pytest.raises(InvalidInput) as refused_answer:
        actions.answer_request(provider_officer, request, grant=False, reasons="")
    assert [p.field for p in refused_answer.value.details] == ["reasons"]
    request.refresh_from_db()
    assert request.status == RequestStatus.PROVIDER_REVIEW  # nothing half-written


@pytest.mark.parametrize("granted", [True, False])
def test_a_disputed_refusal_is_settled_by_the_office_within_5_working_days(
        on, persons_resource, consumer_officer, governance, provider_officer, granted):
    on(FRIDAY)
    request = ask(consumer_officer, persons_resource)
    on(MONDAY)
    request = actions.check_request(governance, request, conforms=True)
    request = actions.answer_request(provider_officer, request, grant=False, reasons="出生日期不对外共享。")
    assert request.refused_by == RefusedBy.PROVIDER
    request = actions.dispute_refusal(consumer_officer, request, grounds="户籍核查依法需要出生日期。")
    assert request.status == RequestStatus.DISPUTED
    assert request.settle_due == dt.date(2025, 10, 13)  # disputed on Monday 29 September
    on(dt.date(2025, 10, 10))
    request = actions.settle_dispute(governance, request, grant=granted, settlement="经协调。")
    assert request.status == (RequestStatus.GRANTED if granted else RequestStatus.REFUSED)
    assert Grant.objects.filter(request=request).exists() == granted
    assert request.settlement == "经协调。" and request.current_due is None
    with pytest.raises(Conflict):  # a refusal is disputed once
        actions.dispute_refusal(consumer_officer, request, grounds="再议")


# --- reminders ---------------------------------------------------------------------------------------------


def reminders() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="exchange.remind_deadline").order_by("pk"))


def test_the_office_is_reminded_the_working_day_before_a_check_is_due_and_only_once(
        on, persons_resource, consumer_officer, addresses):
    on(FRIDAY)
    request = ask(consumer_officer, persons_resource)
    assert check_sharing_deadlines.call() == {"reminders": 0, "overdue_notices": 0}  # two working days ahead
    assert mail.outbox == []

    on(MAKE_UP_SUNDAY)  # a working day, and the last one before Monday's deadline
    assert check_sharing_deadlines.call() == {"reminders": 1, "overdue_notices": 0}
    [message] = mail.outbox
    assert message.to == [addresses["governance"]]
    assert request.number in message.subject and "2025-09-29" in message.body
    assert f"/sharing/requests/{request.number}/" in message.body
    request.refresh_from_db()
    assert request.reminded_for == MONDAY

    assert check_sharing_deadlines.call()["reminders"] == 0
    on(MONDAY)
    assert check_sharing_deadlines.call()["reminders"] == 0
    assert len(mail.outbox) == 1
    [entry] = reminders()
    assert entry.object_id == request.number and entry.actor_kind == "system"
    assert entry.detail["due"] == "2025-09-29" and entry.detail["recipients"] == ["governance"]


def test_the_provider_is_reminded_before_its_answer_is_due(
        on, persons_resource, consumer_officer, governance, addresses):
    on(FRIDAY)
    request = ask(consumer_officer, persons_resource)
    on(MONDAY)
    actions.check_request(governance, request, conforms=True)
    mail.outbox.clear()
    on(dt.date(2025, 10, 10))  # Friday: the next working day is the make-up Saturday, before the 13th
    assert check_sharing_deadlines.call()["reminders"] == 0
    on(dt.date(2025, 10, 11))
    assert check_sharing_deadlines.call()["reminders"] == 1
    [message] = mail.outbox
    assert message.to == [addresses["provider"]] and "2025-10-13" in message.body


def test_a_dispute_reminds_the_office_of_its_own_deadline(
        on, persons_resource, consumer_officer, governance, provider_officer, addresses):
    on(FRIDAY)
    request = ask(consumer_officer, persons_resource)
    on(MONDAY)
    request = actions.check_request(governance, request, conforms=True)
    request = actions.answer_request(provider_officer, request, grant=False, reasons="不共享")
    actions.dispute_refusal(consumer_officer, request, grounds="依法需要")
    on(dt.date(2025, 10, 11))
    assert check_sharing_deadlines.call()["reminders"] == 1
    assert [m.to for m in mail.outbox] == [[addresses["governance"]]]
    assert "2025-10-13" in mail.outbox[0].subject


def test_a_request_that_waits_on_nobody_is_not_reminded(on, persons_resource, consumer_officer, addresses):
    on(FRIDAY)
    request = ask(consumer_officer, persons_resource)
    actions.withdraw_request(consumer_officer, request)
    on(MAKE_UP_SUNDAY)
    assert check_sharing_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    on(TUESDAY)
    assert check_sharing_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    assert mail.outbox == []


# --- overdue -----------------------------------------------------------------------------------------------


def test_a_passed_deadline_is_flagged_and_noticed_once(on, persons_resource, consumer_officer, addresses):
    on(FRIDAY)
    request = ask(consumer_officer, persons_resource)
    assert queries.Deadlines.as_of().state(request) == queries.DueState.NONE
    on(MAKE_UP_SUNDAY)
    assert queries.Deadlines.as_of().state(request) == queries.DueState.DUE_SOON
    on(MONDAY)
    assert not is_late(request)  # due today is not late
    on(TUESDAY)
    assert is_late(request)

    assert check_sharing_deadlines.call() == {"reminders": 0, "overdue_notices": 1}  # too late to remind
    notices = AuditEntry.objects.filter(action="exchange.overdue_notice", object_id=request.number)
    assert notices.count() == 1 and notices.get().detail["due"] == "2025-09-29"
    assert any("2025-09-29" in m.subject and m.to == [addresses["governance"]] for m in mail.outbox)
    sent = len(mail.outbox)
    assert check_sharing_deadlines.call()["overdue_notices"] == 0
    on(dt.date(2025, 10, 9))
    assert check_sharing_deadlines.call()["overdue_notices"] == 0
    assert len(mail.outbox) == sent and notices.count() == 1


@pytest.mark.django_db(transaction=True)  # the worker commits as it goes
def test_the_worker_runs_the_deadline_check(on, persons_resource, consumer_officer, addresses):
    on(FRIDAY)
    ask(consumer_officer, persons_resource)
    on(MAKE_UP_SUNDAY)
    call_command("worker", "--batch", "--no-sequencer")
    assert DBTaskResult.objects.filter(task_path__endswith="check_sharing_deadlines",
                                       status=TaskResultStatus.SUCCESSFUL).exists()
    assert [m.to for m in mail.outbox] == [[addresses["governance"]]]


def test_a_mail_that_cannot_be_sent_is_tried_again_on_the_next_run(on, persons_resource, consumer_officer,
                                                                   addresses, monkeypatch):
    on(FRIDAY)
    request = ask(consumer_officer, persons_resource)
    on(MAKE_UP_SUNDAY)

    def refuse(*args: Any, **kwargs: Any) -> int:
        raise ConnectionRefusedError("mail server away")

    monkeypatch.setattr("zhengtong.exchange.actions.sharing.send_mail", refuse)
    assert check_sharing_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    request.refresh_from_db()
    assert request.reminded_for is None and reminders() == []
    monkeypatch.undo()
    assert check_sharing_deadlines.call()["reminders"] == 1 and len(mail.outbox) == 1
