"""The workbench's pages and JSON API: queues by department × role (nothing across departments: 404), claim
and decide through the forms with errors named, the task page reading the applicant's record through the one
door (audited with the purpose), masking for staff without the right to reveal, the countdown in working days
across a holiday and a make-up working day, a queue page whose query count does not grow with the queue, the
supervisor's view, downloads of materials and the API."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from zhengtong.audit.models import AuditEntry
from zhengtong.core import calendar
from zhengtong.core import evidence as evidence_files
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.services.actions import applications as applying
from zhengtong.services.actions import tasks as actions
from zhengtong.services.models import (
    Application,
    ApplicationMaterial,
    Material,
    MaterialProvision,
    ServiceItem,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.queries import tasks as queries

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.4\n" + b"0" * 64


@pytest.fixture
def item(make_item: Callable[..., ServiceItem]) -> ServiceItem:
    return make_item()


@pytest.fixture
def application(make_application: Callable[..., Application], item: ServiceItem, applicant: User) -> Application:
    return make_application(item, applicant, answers={"reason": "开具证明", "contact": "13912345678"})


@pytest.fixture
def web() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def open_task(application: Application) -> WorkTask:
    return application.tasks.get(status__in=queries.ACTIVE, kind=TaskKind.REVIEW)


def as_user(web: Client, user: User) -> Client:
    web.force_login(user)
    return web


def supervise(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="supervise_worktask"))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def on() -> Iterator[Callable[[dt.date], None]]:
    travellers: list[Any] = []

    def travel(day: dt.date) -> None:
        while travellers:
            travellers.pop().stop()
        machine = time_machine.travel(dt.datetime.combine(day, dt.time(10), tzinfo=SHANGHAI), tick=False)
        machine.start()
        travellers.append(machine)

    yield travel
    while travellers:
        travellers.pop().stop()


# --- queues and who sees what -------------------------------------------------------------------------------------


def test_the_queue_shows_the_tasks_of_my_department_and_role(
        web: Client, application: Application, window_clerk_ca: User, approver: User, co_reviewer: User,
        citizen_user: User) -> None:
    task = open_task(application)
    page = as_user(web, window_clerk_ca).get(reverse("services:workbench")).content.decode()
    assert f'data-task="{task.pk}"' in page
    assert str(application.reference) in page
    assert "王**" in page and "王小明" not in page  # the applicant's name, masked
    assert f'action="/services/workbench/tasks/{task.pk}/claim/"' in page
    for other in (approver, co_reviewer):  # another role; another department
        assert f'data-task="{task.pk}"' not in as_user(web, other).get(reverse("services:workbench")).content.decode()
    assert as_user(web, co_reviewer).get(reverse("services:task", args=[task.pk])).status_code == 404
    assert as_user(web, approver).get(reverse("services:task", args=[task.pk])).status_code == 404
    assert as_user(web, co_reviewer).post(reverse("services:task-claim", args=[task.pk])).status_code == 404
    assert as_user(web, citizen_user).get(reverse("services:workbench")).status_code == 403


def test_filters_by_step_item_and_deadline(
        web: Client, make_item: Callable[..., ServiceItem], make_application: Callable[..., Application],
        applicant: User, window_clerk_ca: User) -> None:
    first, second = make_item(), make_item()
    one, two = make_application(first, applicant), make_application(second, applicant)
    WorkTask.objects.filter(application=one).update(due=timezone.localdate() - dt.timedelta(days=10))
    as_user(web, window_clerk_ca)
    by_item = web.get(reverse("services:workbench"), {"item": second.code}).content.decode()
    assert str(two.reference) in by_item and str(one.reference) not in by_item
    overdue = web.get(reverse("services:workbench"), {"due": "overdue"}).content.decode()
    assert str(one.reference) in overdue and str(two.reference) not in overdue
    by_step = web.get(reverse("services:workbench"), {"step": "Task_review"}).content.decode()
    assert str(one.reference) not in by_step  # both wait at Task_accept


def test_claim_and_decide_through_the_pages(web: Client, application: Application, window_clerk_ca: User) -> None:
    task = open_task(application)
    as_user(web, window_clerk_ca)
    claimed = web.post(reverse("services:task-claim", args=[task.pk]))
    assert claimed.status_code == 302
    page = web.get(reverse("services:task", args=[task.pk])).content.decode()
    assert 'data-form="decide"' in page
    refused = web.post(reverse("services:task-decide", args=[task.pk]), {"outcome": "reject", "reason": ""})
    assert refused.status_code == 422
    body = refused.content.decode()
    assert 'class="form-errors"' in body and 'href="#id_reason"' in body
    assert open_task(application).status == TaskStatus.CLAIMED
    decided = web.post(reverse("services:task-decide", args=[task.pk]), {"outcome": "approve", "reason": ""})
    assert decided.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.outcome) == (TaskStatus.DONE, TaskOutcome.APPROVE)
    # A second claim of a task someone holds says so instead of failing.
    following = open_task(application)
    assert following.element_id == "Task_review"


def test_only_the_claimer_sees_the_decision_form_and_others_are_refused(
        web: Client, application: Application, window_clerk_ca: User, make_staff: Callable[..., User],
        city: dict[str, Any]) -> None:
    other_clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    task = actions.claim_task(window_clerk_ca, open_task(application))
    as_user(web, other_clerk)
    page = web.get(reverse("services:task", args=[task.pk])).content.decode()
    assert 'data-form="decide"' not in page
    assert web.post(reverse("services:task-decide", args=[task.pk]), {"outcome": "approve"}).status_code == 403
    again = web.post(reverse("services:task-claim", args=[task.pk]), follow=True).content.decode()
    assert "Someone else has claimed this task" in again


def test_transfer_and_comment_through_the_pages(
        web: Client, make_item: Callable[..., ServiceItem], make_application: Callable[..., Application],
        applicant: User, window_clerk_ca: User, co_reviewer: User, city: dict[str, Any]) -> None:
    application = make_application(make_item(cooperating=[city["other"]]), applicant)
    task = actions.claim_task(window_clerk_ca, open_task(application))
    as_user(web, window_clerk_ca)
    assert web.post(reverse("services:task-comment", args=[task.pk]), {"text": "请公安协查。"}).status_code == 302
    target = f"queue:{city['other'].pk}:{roles.APPROVER}"
    missing = web.post(reverse("services:task-transfer", args=[task.pk]), {"target": target, "reason": ""})
    assert missing.status_code == 422
    moved = web.post(reverse("services:task-transfer", args=[task.pk]), {"target": target, "reason": "需协查"})
    assert moved.status_code == 302 and moved["Location"] == reverse("services:workbench")
    page = as_user(web, co_reviewer).get(reverse("services:task", args=[task.pk])).content.decode()
    assert "请公安协查。" in page
    # WEST-PSB has no grant to the persons registry: the door refuses, and the page says so.
    assert 'data-refused="persons"' in page


# --- the task page ------------------------------------------------------------------------------------------------


def test_the_task_page_reads_the_record_through_the_door(
        web: Client, application: Application, window_clerk_ca: User) -> None:
    task = open_task(application)
    page = as_user(web, window_clerk_ca).get(reverse("services:task", args=[task.pk])).content.decode()
    assert 'data-record="persons"' in page
    purpose = f"办理 {application.item.name} {application.reference}"
    entry = AuditEntry.objects.filter(action="exchange.read").latest("pk")
    assert entry.purpose == purpose
    assert entry.case_reference == application.reference
    assert entry.actor_id == str(window_clerk_ca.pk)
    assert "13800138001" not in page  # the record's phone, masked by the door for a window clerk
    assert 'id="diagram-data"' in page and "Task_accept" in page


def test_answers_are_masked_unless_the_staff_member_may_reveal(
        web: Client, application: Application, window_clerk_ca: User, approver: User) -> None:
    task = open_task(application)
    clerk_page = as_user(web, window_clerk_ca).get(reverse("services:task", args=[task.pk])).content.decode()
    assert "13912345678" not in clerk_page and "139****5678" in clerk_page
    assert "王**" in clerk_page  # the applicant's name in the heading
    WorkTask.objects.filter(pk=task.pk).update(role=roles.APPROVER)
    approver_page = as_user(web, approver).get(reverse("services:task", args=[task.pk])).content.decode()
    assert "13912345678" in approver_page  # approvers hold identity.reveal_personal_data


def test_materials_are_downloaded_by_those_who_may_open_the_task_and_audited(
        web: Client, application: Application, item: ServiceItem, window_clerk_ca: User,
        co_reviewer: User) -> None:
    material = Material.objects.create(item=item, code="proof", name="证明材料")
    digest = evidence_files.keep(applying.MATERIAL_DIRECTORY, PDF)
    given = ApplicationMaterial.objects.create(
        application=application, material=material, provision=MaterialProvision.UPLOADED, file_name="证明.pdf",
        file_type="application/pdf", file_size=len(PDF), file_digest=digest, added_at=timezone.now())
    task = open_task(application)
    url = reverse("services:task-material", args=[task.pk, given.pk])
    assert as_user(web, co_reviewer).get(url).status_code == 404
    response = as_user(web, window_clerk_ca).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF  # type: ignore[attr-defined]
    assert AuditEntry.objects.filter(action="services.download_material", object_id=application.reference).exists()


# --- deadlines in working days ------------------------------------------------------------------------------------


def test_the_countdown_counts_working_days_across_a_holiday_and_a_make_up_day() -> None:
    # 2026: National Day rest from 1 to 7 October; Saturday 10 October is worked (调休).
    before = queries.Deadlines.as_of(dt.date(2026, 9, 30))
    ahead = queries.countdowns(before, [dt.date(2026, 10, 12)])[dt.date(2026, 10, 12)]
    assert (ahead.left, ahead.late, ahead.state) == (4, 0, queries.DueState.NONE)  # 8, 9, 10 (Sat), 12
    assert ahead.left == calendar.working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 12)).days
    after = queries.Deadlines.as_of(dt.date(2026, 10, 9))
    late = queries.countdowns(after, [dt.date(2026, 9, 30)])[dt.date(2026, 9, 30)]
    assert (late.left, late.late, late.state) == (0, 2, queries.DueState.OVERDUE)  # 8 and 9 October
    soon = queries.countdowns(after, [dt.date(2026, 10, 10)])[dt.date(2026, 10, 10)]
    assert (soon.left, soon.state) == (1, queries.DueState.DUE_SOON)  # the worked Saturday is the next day


def test_the_queue_highlights_overdue_tasks_in_words(
        web: Client, application: Application, window_clerk_ca: User, on: Callable[[dt.date], None]) -> None:
    task = open_task(application)
    WorkTask.objects.filter(pk=task.pk).update(due=dt.date(2026, 9, 30))
    on(dt.date(2026, 10, 9))
    page = as_user(web, window_clerk_ca).get(reverse("services:workbench")).content.decode()
    assert f'data-task="{task.pk}" data-deadline="overdue" class="deadline-overdue"' in page
    assert "Overdue by 2 working days" in page
    WorkTask.objects.filter(pk=task.pk).update(due=dt.date(2026, 10, 12))
    on(dt.date(2026, 9, 30))
    page = web.get(reverse("services:workbench")).content.decode()
    assert "4 working days left" in page


def test_the_queue_page_reads_a_constant_number_of_queries(
        web: Client, application: Application, window_clerk_ca: User) -> None:
    as_user(web, window_clerk_ca)
    web.get(reverse("services:workbench"))  # sessions and caches warmed

    def queries_of_one_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert web.get(reverse("services:workbench")).status_code == 200
        return len(captured)

    few = queries_of_one_page()
    template = open_task(application)
    now = timezone.now()
    WorkTask.objects.bulk_create([
        WorkTask(application=application, element_id=f"Task_{n}", name=f"步骤{n}", department=template.department,
                 role=template.role, created_at=now, due=timezone.localdate() + dt.timedelta(days=n % 40 - 20))
        for n in range(60)])
    many = queries_of_one_page()
    assert many == few
    assert many <= 20  # session, user, roles and permissions, navigation, calendar, filters, count, rows


# --- the supervisor -------------------------------------------------------------------------------------------


def test_the_supervisor_sees_the_load_by_step_and_by_person(
        web: Client, application: Application, window_clerk_ca: User, make_staff: Callable[..., User],
        city: dict[str, Any]) -> None:
    task = actions.claim_task(window_clerk_ca, open_task(application))
    WorkTask.objects.filter(pk=task.pk).update(due=timezone.localdate() - dt.timedelta(days=7))
    assert as_user(web, window_clerk_ca).get(reverse("services:supervise")).status_code == 403
    lead = supervise(make_staff(role_names=(), department=city["bureau"]))
    page = as_user(web, lead).get(reverse("services:supervise")).content.decode()
    assert 'data-step="Task_accept" data-role="window_staff"' in page
    assert f'data-staff="{window_clerk_ca.pk}"' in page
    assert "1 active task" in page and "1 overdue" in page
    assert 'id="steps-data"' in page
    whole = web.get(reverse("services:workbench"), {"view": "department"}).content.decode()
    assert f'data-task="{task.pk}"' in whole
    assert as_user(web, lead).get(reverse("services:task", args=[task.pk])).status_code == 200


# --- the JSON API --------------------------------------------------------------------------------------------------


def test_the_api_lists_claims_decides_transfers_and_comments(
        web: Client, application: Application, window_clerk_ca: User, co_reviewer: User,
        make_staff: Callable[..., User], city: dict[str, Any]) -> None:
    task = open_task(application)
    as_user(web, window_clerk_ca)
    listed = web.get("/api/v1/services/tasks").json()
    assert listed["count"] == 1
    assert listed["tasks"][0]["reference"] == application.reference
    assert listed["tasks"][0]["applicant"] == "王**"
    assert web.post(f"/api/v1/services/tasks/{task.pk}/claim").json()["status"] == "claimed"
    assert web.post(f"/api/v1/services/tasks/{task.pk}/claim").status_code == 409
    refused = web.post(f"/api/v1/services/tasks/{task.pk}/decide", {"outcome": "return"},
                       content_type="application/json")
    assert refused.status_code == 422 and refused.json()["details"][0]["field"] == "reason"
    comment = web.post(f"/api/v1/services/tasks/{task.pk}/comments", {"text": "已核对身份。"},
                       content_type="application/json")
    assert comment.status_code == 201
    colleague = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    moved = web.post(f"/api/v1/services/tasks/{task.pk}/transfer",
                     {"reason": "轮岗", "colleague": colleague.username}, content_type="application/json")
    assert moved.status_code == 200 and moved.json()["claimed_by"] == colleague.username
    as_user(web, colleague)
    assert web.get("/api/v1/services/tasks", {"view": "mine"}).json()["count"] == 1
    decided = web.post(f"/api/v1/services/tasks/{task.pk}/decide", {"outcome": "approve"},
                       content_type="application/json")
    assert decided.json()["status"] == "done"
    as_user(web, co_reviewer)
    assert web.post(f"/api/v1/services/tasks/{task.pk}/claim").status_code == 404


def test_a_post_check_is_listed_and_completed_through_the_pages(
        web: Client, application: Application, item: ServiceItem, approver: User) -> None:
    material = Material.objects.create(item=item, code="lease", name="租赁合同", commitment_allowed=True)
    given = ApplicationMaterial.objects.create(application=application, material=material,
                                               provision=MaterialProvision.COMMITTED, added_at=timezone.now())
    task = WorkTask.objects.create(application=application, kind=TaskKind.POST_CHECK, name="事后核查：租赁合同",
                                   department=item.responsible_department, role=roles.APPROVER,
                                   created_at=timezone.now(), due=timezone.localdate() + dt.timedelta(days=20))
    as_user(web, approver)
    assert f'data-task="{task.pk}"' in web.get(reverse("services:workbench")).content.decode()
    web.post(reverse("services:task-claim", args=[task.pk]))
    page = web.get(reverse("services:task", args=[task.pk])).content.decode()
    assert 'data-form="post-check"' in page and 'data-form="decide"' not in page
    assert 'data-action="services.claim_task"' in page  # the history shows the claim
    assert web.post(reverse("services:task-post-check", args=[task.pk]), {"note": ""}).status_code == 422
    assert web.post(reverse("services:task-post-check", args=[task.pk]), {"note": "原件一致。"}).status_code == 302
    given.refresh_from_db()
    task.refresh_from_db()
    assert given.post_checked_at is not None
    assert (task.status, task.outcome) == (TaskStatus.DONE, TaskOutcome.CHECKED)
