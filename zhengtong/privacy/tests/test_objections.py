"""A citizen objects to an access to their data, and the data governance office answers: through the actions,
the pages and the API; only accesses that concern the citizen can be objected to, only the office answers,
and the deadline is 10 working days on the Chinese calendar, with a reminder the working day before and an
overdue notice after it, once each.

The dates sit around National Day 2026: 1–7 October are holidays and Saturday 10 October is worked (调休).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse

from zhengtong.audit.models import AuditEntry
from zhengtong.conftest import PASSWORD
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.exchange import door
from zhengtong.exchange.models import Grant

# The exchange's autouse fixtures (own key files and VAR_DIR per test, no cached codecs, English messages),
# which the package's `import *` leaves out for their leading underscore.
from zhengtong.exchange.tests.conftest import _english_messages, _own_keys, person  # noqa: F401
from zhengtong.identity import actions as identity
from zhengtong.identity.models import ApiClient, User
from zhengtong.privacy.actions import cases as actions
from zhengtong.privacy.actions.cases import CaseNotFound
from zhengtong.privacy.models import Objection, ObjectionStatus
from zhengtong.privacy.tasks import check_case_deadlines
from zhengtong.registries.models import Registry

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
BEFORE_NATIONAL_DAY = dt.date(2026, 9, 30)  # a Wednesday, the last working day before the holiday
ANSWER_DUE = dt.date(2026, 10, 20)  # 10 working days on: 8, 9, 10 (Saturday, worked), 12–16, 19, 20 October
CITIZEN_MAIL = "xiaoming@example.cn"
OFFICE_MAIL = "gov@data.example.gov.cn"


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
def citizen(citizen_user: User, persons: Registry) -> User:
    """Person 1 of the persons registry, with a login and a mail address."""
    assert citizen_user.citizen.resident_id == person(1)
    User.objects.filter(pk=citizen_user.pk).update(email=CITIZEN_MAIL)
    citizen_user.refresh_from_db()
    return citizen_user


@pytest.fixture
def office_mail(governance: User) -> str:
    User.objects.filter(pk=governance.pk).update(email=OFFICE_MAIL)
    return OFFICE_MAIL


def staff_read(staff: User, registry: Registry, n: int) -> AuditEntry:
    """A staff member reads person n's record through the door; the audit entry of that read."""
    door.read_record(door.Reader.staff(staff), registry, person(n), purpose="核查户籍信息")
    return AuditEntry.objects.filter(action="exchange.read").latest("pk")


def other_citizen(n: int = 4) -> User:
    citizen = identity.register_citizen(None, identity.CitizenInput(
        name="赵六", resident_id=person(n), phone="13900139000", division_code="330108"))
    return identity.create_citizen_account(None, citizen, username=f"citizen{n}", password=PASSWORD)


# --- actions -------------------------------------------------------------------------------------------------


def test_a_citizen_objects_to_a_read_and_the_office_upholds_it(
        citizen: User, persons: Registry, provider_officer: User, governance: User, office_mail: str,
        on: Callable[[dt.date], None]) -> None:
    on(BEFORE_NATIONAL_DAY)
    entry = staff_read(provider_officer, persons, 1)
    objection = actions.object_to_access(citizen, entry_id=entry.pk, reason="我从未在民政局办理业务。")
    assert objection.number == "FWYY-2026-000001"
    assert objection.due == ANSWER_DUE and not objection.due_provisional
    assert (objection.accessor_department, objection.accessor_department_name) == ("CITY-CA", "市民政局")
    assert (objection.access_action, objection.access_purpose) == ("exchange.read", "核查户籍信息")
    assert objection.status == ObjectionStatus.OPEN

    answered = actions.answer_objection(governance, objection, upheld=True, answer="该查询无业务依据，已责令整改。")
    assert answered.status == ObjectionStatus.UPHELD and answered.answered_by_name == governance.display_name
    [message] = mail.outbox
    assert message.to == [CITIZEN_MAIL] and objection.number in message.subject
    assert "该查询无业务依据" in message.body
    steps = list(AuditEntry.objects.filter(object_type="objection", object_id=objection.number)
                 .order_by("pk").values_list("action", "actor_kind"))
    assert steps == [("privacy.object_to_access", "citizen"), ("privacy.answer_objection", "staff")]
    with pytest.raises(Conflict):
        actions.answer_objection(governance, answered, upheld=False, answer="再答一次")


def test_a_second_open_objection_to_the_same_access_is_a_conflict_even_at_the_same_moment(
        citizen: User, persons: Registry, provider_officer: User, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = staff_read(provider_officer, persons, 1)
    actions.object_to_access(citizen, entry_id=entry.pk, reason="我从未在民政局办理业务。")
    with pytest.raises(Conflict):
        actions.object_to_access(citizen, entry_id=entry.pk, reason="再提一次。")
    # Two submissions at once both pass the check before saving; the database's rule makes the second a conflict.
    real_exists = QuerySet.exists
    monkeypatch.setattr(QuerySet, "exists", lambda qs: False if qs.model is Objection else real_exists(qs))
    with pytest.raises(Conflict):
        actions.object_to_access(citizen, entry_id=entry.pk, reason="同时又提一次。")
    assert Objection.objects.count() == 1


def test_only_an_access_that_concerns_the_citizen_can_be_objected_to(
        citizen: User, persons: Registry, provider_officer: User) -> None:
    someone_else = staff_read(provider_officer, persons, 2)
    with pytest.raises(CaseNotFound):
        actions.object_to_access(citizen, entry_id=someone_else.pk, reason="不是我的记录")
    with pytest.raises(CaseNotFound):
        actions.object_to_access(citizen, entry_id=10**9, reason="不存在")
    door.read_own_records(door.Reader.citizen(citizen), purpose="查看本人数据")
    own = AuditEntry.objects.filter(action="exchange.read", actor_kind="citizen").latest("pk")
    with pytest.raises(Conflict):
        actions.object_to_access(citizen, entry_id=own.pk, reason="我自己查的")
    entry = staff_read(provider_officer, persons, 1)
    with pytest.raises(InvalidInput) as blank:
        actions.object_to_access(citizen, entry_id=entry.pk, reason="  ")
    assert [p.field for p in blank.value.details] == ["reason"]
    with pytest.raises(NotPermitted):
        actions.object_to_access(provider_officer, entry_id=entry.pk, reason="员工不能提异议")
    actions.object_to_access(citizen, entry_id=entry.pk, reason="第一次")
    with pytest.raises(Conflict):
        actions.object_to_access(citizen, entry_id=entry.pk, reason="第二次")
    assert Objection.objects.count() == 1


def test_an_access_by_a_department_system_through_the_gateway_can_be_objected_to(
        client: Client, citizen: User, make_grant: Callable[..., Grant],
        consumer_client: tuple[ApiClient, str]) -> None:
    make_grant()
    response = client.get(f"/api/v1/gateway/registries/persons/records/{person(1)}", {"purpose": "治安管理核验身份"},
                          HTTP_AUTHORIZATION=f"Bearer {consumer_client[1]}")
    assert response.status_code == 200
    entry = AuditEntry.objects.filter(action="exchange.read", actor_kind="api_client").latest("pk")
    objection = actions.object_to_access(citizen, entry_id=entry.pk, reason="公安未告知")
    assert objection.accessor_department == "WEST-PSB" and objection.access_purpose == "治安管理核验身份"


def test_only_the_governance_office_answers(citizen: User, persons: Registry, provider_officer: User,
                                            governance: User) -> None:
    objection = actions.object_to_access(citizen, entry_id=staff_read(provider_officer, persons, 1).pk,
                                         reason="无关查询")
    for somebody in (provider_officer, citizen):
        with pytest.raises(NotPermitted):
            actions.answer_objection(somebody, objection, upheld=False, answer="驳回")
    with pytest.raises(InvalidInput) as blank:
        actions.answer_objection(governance, objection, upheld=False, answer="")
    assert [p.field for p in blank.value.details] == ["answer"]
    objection.refresh_from_db()
    assert objection.status == ObjectionStatus.OPEN


# --- deadlines -------------------------------------------------------------------------------------------------


def test_the_office_is_reminded_the_working_day_before_and_told_once_when_overdue(
        citizen: User, persons: Registry, provider_officer: User, office_mail: str,
        on: Callable[[dt.date], None], client: Client, governance: User) -> None:
    on(BEFORE_NATIONAL_DAY)
    objection = actions.object_to_access(citizen, entry_id=staff_read(provider_officer, persons, 1).pk,
                                         reason="无关查询")
    on(dt.date(2026, 10, 16))  # Friday: the next working day is the 19th, before the deadline
    assert check_case_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    on(dt.date(2026, 10, 19))  # the working day before the deadline
    assert check_case_deadlines.call() == {"reminders": 1, "overdue_notices": 0}
    assert check_case_deadlines.call() == {"reminders": 0, "overdue_notices": 0}  # once
    [reminder] = mail.outbox
    assert reminder.to == [office_mail] and objection.number in reminder.subject
    assert reverse("privacy:answer-objection", args=[objection.number]) in reminder.body

    on(ANSWER_DUE)
    assert check_case_deadlines.call() == {"reminders": 0, "overdue_notices": 0}  # due today is not late
    on(dt.date(2026, 10, 21))
    assert check_case_deadlines.call() == {"reminders": 0, "overdue_notices": 1}
    assert check_case_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    assert [m.to for m in mail.outbox] == [[office_mail], [office_mail]]

    client.force_login(governance)
    queue = client.get(reverse("privacy:objection-queue")).content.decode()
    assert f'data-objection="{objection.number}" data-deadline="overdue"' in queue
    api = client.get("/api/v1/privacy/objections").json()
    assert [(o["number"], o["overdue"]) for o in api] == [(objection.number, True)]


# --- pages -----------------------------------------------------------------------------------------------------


def test_pages_the_citizen_objects_the_office_answers_and_the_citizen_reads_the_answer(
        client: Client, citizen: User, persons: Registry, provider_officer: User, governance: User) -> None:
    entry = staff_read(provider_officer, persons, 1)
    client.force_login(citizen)
    form = client.get(reverse("privacy:new-objection", args=[entry.pk]))
    assert form.status_code == 200 and "市民政局" in form.content.decode()
    blank = client.post(reverse("privacy:new-objection", args=[entry.pk]), {"reason": ""})
    assert blank.status_code == 200 and 'class="form-errors"' in blank.content.decode()
    assert 'href="#id_reason"' in blank.content.decode()
    check_url = reverse("privacy:check-objection", args=[entry.pk])
    assert client.get(check_url)["Location"] == reverse("privacy:new-objection", args=[entry.pk])  # nothing yet
    response = client.post(reverse("privacy:new-objection", args=[entry.pk]), {"reason": "我没有办理过任何业务"})
    assert response["Location"] == check_url and not Objection.objects.exists()
    check = client.get(check_url).content.decode()
    assert "我没有办理过任何业务" in check and "市民政局" in check
    assert f'href="{reverse("privacy:new-objection", args=[entry.pk])}"' in check  # the change link
    response = client.post(check_url)
    objection = Objection.objects.get()
    assert response["Location"] == reverse("privacy:objection-submitted", args=[objection.number])
    confirmation = client.get(response["Location"]).content.decode()
    assert objection.number in confirmation and objection.due.isoformat() in confirmation
    listing = client.get(reverse("privacy:objections")).content.decode()
    assert objection.number in listing
    assert client.get(reverse("privacy:objection-queue")).status_code == 403
    assert client.get(reverse("privacy:answer-objection", args=[objection.number])).status_code == 403

    client.force_login(governance)
    queue = client.get(reverse("privacy:objection-queue")).content.decode()
    assert reverse("privacy:answer-objection", args=[objection.number]) in queue
    page = client.get(reverse("privacy:answer-objection", args=[objection.number])).content.decode()
    assert f"#{entry.pk}" in page and provider_officer.display_name in page  # the office sees who read it
    response = client.post(reverse("privacy:answer-objection", args=[objection.number]),
                           {"decision": "dismissed", "answer": "依法履行职责核查户籍，查询有据。"})
    assert response.status_code == 302

    client.force_login(citizen)
    detail = client.get(reverse("privacy:objection", args=[objection.number])).content.decode()
    assert 'data-status="dismissed"' in detail and "查询有据" in detail
    assert governance.display_name not in detail  # the citizen sees the office, not the official

    stranger = other_citizen()
    client.force_login(stranger)
    assert client.get(reverse("privacy:objection", args=[objection.number])).status_code == 404
    assert client.get(reverse("privacy:new-objection", args=[entry.pk])).status_code == 404


# --- API -------------------------------------------------------------------------------------------------------


def test_api_the_citizen_objects_and_reads_the_office_answers(
        client: Client, citizen: User, persons: Registry, provider_officer: User, governance: User) -> None:
    entry = staff_read(provider_officer, persons, 1)
    client.force_login(citizen)
    missing = client.post("/api/v1/privacy/objections", {"entry_id": entry.pk, "reason": ""},
                          content_type="application/json", headers={"Accept-Language": "en"})
    assert missing.status_code == 422 and missing.json()["details"] == [
        {"field": "reason", "reason": "Say why you object to this access."}]
    created = client.post("/api/v1/privacy/objections", {"entry_id": entry.pk, "reason": "无关查询"},
                          content_type="application/json")
    assert created.status_code == 201
    number = created.json()["number"]
    assert created.json()["department"] == "CITY-CA" and created.json()["status"] == "open"
    assert [o["number"] for o in client.get("/api/v1/privacy/objections").json()] == [number]
    refused = client.post(f"/api/v1/privacy/objections/{number}/answer", {"upheld": True, "answer": "自己答"},
                          content_type="application/json")
    assert refused.status_code == 403

    client.force_login(governance)
    answered = client.post(f"/api/v1/privacy/objections/{number}/answer", {"upheld": True, "answer": "已整改"},
                           content_type="application/json")
    assert answered.status_code == 200 and answered.json()["status"] == "upheld"

    client.force_login(citizen)
    assert client.get(f"/api/v1/privacy/objections/{number}").json()["answer"] == "已整改"
    client.force_login(other_citizen())
    assert client.get(f"/api/v1/privacy/objections/{number}").status_code == 404
    assert client.get("/api/v1/privacy/objections").json() == []
