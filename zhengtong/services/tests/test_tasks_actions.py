"""The workbench's actions: queues are department × role; one of two claims wins; only the claimer decides,
rejecting needs reasons and returning says what to correct; transfers go to a queue the item involves or to a
colleague in the same queue; comments; post-checks; the deadline reminders go out once per deadline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from zhengtong.audit.models import AuditEntry
from zhengtong.core import calendar
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.services.actions import tasks as actions
from zhengtong.services.models import (
    Application,
    ApplicationMaterial,
    ApplicationStatus,
    Material,
    MaterialProvision,
    Notification,
    ServiceItem,
    TaskComment,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.queries import tasks as queries
from zhengtong.services.tasks import check_application_deadlines
from zhengtong.services.tests.conftest import run_together

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(make_item: Callable[..., ServiceItem]) -> ServiceItem:
    return make_item()


@pytest.fixture
def application(make_application: Callable[..., Application], item: ServiceItem, applicant: User) -> Application:
    return make_application(item, applicant)


def open_task(application: Application) -> WorkTask:
    return application.tasks.select_related("application__item", "department").get(
        status__in=queries.ACTIVE, kind=TaskKind.REVIEW)


def supervise(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="supervise_worktask"))
    return User.objects.get(pk=user.pk)  # a fresh instance: permissions are cached per object


# --- queues ------------------------------------------------------------------------------------------------------


def test_a_task_is_in_the_queue_of_its_department_and_role_only(
        application: Application, window_clerk_ca: User, approver: User, co_reviewer: User,
        make_staff: Callable[..., User], city: dict[str, Any]) -> None:
    task = open_task(application)
    assert (task.element_id, task.department, task.role) == ("Task_accept", city["bureau"], roles.WINDOW_STAFF)
    mine = queries.QueueFilters(view=queries.View.QUEUES)
    deadlines = queries.Deadlines.as_of()
    assert list(queries.queue(window_clerk_ca, mine, deadlines)) == [task]
    assert list(queries.queue(approver, mine, deadlines)) == []  # same department, another role
    west_clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["other"])
    assert list(queries.queue(west_clerk, mine, deadlines)) == []  # same role, another department
    assert queries.visible_task(co_reviewer, task.pk) is None
    assert queries.visible_task(west_clerk, task.pk) is None
    # A supervisor sees the department's whole load, and nothing of another department's.
    lead = supervise(make_staff(role_names=(), department=city["bureau"]))
    whole = queries.QueueFilters(view=queries.View.DEPARTMENT)
    assert list(queries.queue(lead, whole, deadlines)) == [task]
    assert queries.visible_task(lead, task.pk) == task
    other_lead = supervise(make_staff(role_names=(), department=city["other"]))
    assert list(queries.queue(other_lead, whole, deadlines)) == []


def test_claiming_outside_ones_queues_is_refused_and_audited(application: Application, approver: User) -> None:
    task = open_task(application)
    with pytest.raises(NotPermitted):
        actions.claim_task(approver, task)
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert AuditEntry.objects.filter(action="identity.permission_denied", object_id=str(task.pk)).exists()


# --- claim and release --------------------------------------------------------------------------------------------


def test_of_two_claims_one_wins(application: Application, window_clerk_ca: User,
                                make_staff: Callable[..., User], city: dict[str, Any]) -> None:
    other_clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    seen_by_first, seen_by_second = open_task(application), open_task(application)  # both read it open
    actions.claim_task(window_clerk_ca, seen_by_first)
    with pytest.raises(Conflict):
        actions.claim_task(other_clerk, seen_by_second)
    task = open_task(application)
    assert (task.status, task.claimed_by) == (TaskStatus.CLAIMED, window_clerk_ca)
    assert AuditEntry.objects.filter(action="services.claim_task", object_id=application.reference).count() == 1


def test_release_puts_the_task_back_and_only_the_claimer_releases(
        application: Application, window_clerk_ca: User, make_staff: Callable[..., User],
        city: dict[str, Any]) -> None:
    other_clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    task = actions.claim_task(window_clerk_ca, open_task(application))
    with pytest.raises(Conflict):
        actions.release_task(other_clerk, task)
    task = actions.release_task(window_clerk_ca, task)
    assert (task.status, task.claimed_by) == (TaskStatus.OPEN, None)
    actions.claim_task(other_clerk, task)


# --- decide -------------------------------------------------------------------------------------------------------


def test_only_the_claimer_decides(application: Application, window_clerk_ca: User,
                                  make_staff: Callable[..., User], city: dict[str, Any]) -> None:
    other_clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    task = open_task(application)
    with pytest.raises(Conflict):  # not claimed yet
        actions.decide_task(window_clerk_ca, task, outcome=TaskOutcome.APPROVE)
    actions.claim_task(window_clerk_ca, task)
    with pytest.raises(NotPermitted):
        actions.decide_task(other_clerk, task, outcome=TaskOutcome.APPROVE)
    task = actions.decide_task(window_clerk_ca, task, outcome=TaskOutcome.APPROVE)
    assert (task.status, task.outcome) == (TaskStatus.DONE, TaskOutcome.APPROVE)
    following = open_task(application)
    assert (following.element_id, following.role) == ("Task_review", roles.APPROVER)
    entry = AuditEntry.objects.get(action="services.decide_task", object_id=application.reference)
    assert entry.detail["outcome"] == "approve"


def test_rejecting_needs_reasons_and_the_applicant_reads_them(
        application: Application, window_clerk_ca: User, applicant: User) -> None:
    task = actions.claim_task(window_clerk_ca, open_task(application))
    with pytest.raises(InvalidInput) as refused:
        actions.decide_task(window_clerk_ca, task, outcome=TaskOutcome.REJECT, reason="  ")
    assert refused.value.details[0].field == "reason"
    with pytest.raises(InvalidInput) as unknown:
        actions.decide_task(window_clerk_ca, task, outcome="maybe")
    assert unknown.value.details[0].field == "outcome"
    assert open_task(application).status == TaskStatus.CLAIMED  # nothing half-done
    actions.decide_task(window_clerk_ca, task, outcome=TaskOutcome.REJECT, reason="不属于本部门受理范围。")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.REJECTED
    assert "不属于本部门受理范围" in application.result
    assert Notification.objects.filter(recipient=applicant, subject__contains=str(application.reference)).exists()


def test_returning_needs_what_to_correct_and_pauses_the_clock(
        application: Application, window_clerk_ca: User) -> None:
    task = actions.claim_task(window_clerk_ca, open_task(application))
    with pytest.raises(InvalidInput):
        actions.decide_task(window_clerk_ca, task, outcome=TaskOutcome.RETURN)
    actions.decide_task(window_clerk_ca, task, outcome=TaskOutcome.RETURN, reason="请补充申请事由的证明。")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.CORRECTION
    assert application.correction_request == "请补充申请事由的证明。"
    assert application.pauses.filter(ended_on__isnull=True).exists()


# --- transfer -----------------------------------------------------------------------------------------------------


def test_transfer_to_a_queue_the_item_involves(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User, co_reviewer: User, city: dict[str, Any]) -> None:
    item = make_item(cooperating=[city["other"]])
    application = make_application(item, applicant)
    task = actions.claim_task(window_clerk_ca, open_task(application))
    with pytest.raises(InvalidInput) as no_reason:
        actions.transfer_task(window_clerk_ca, task, reason="", department=city["other"], role=roles.APPROVER)
    assert no_reason.value.details[0].field == "reason"
    with pytest.raises(InvalidInput) as not_involved:
        actions.transfer_task(window_clerk_ca, task, reason="转办", department=city["branch"], role=roles.APPROVER)
    assert not_involved.value.details[0].field == "department"
    task = actions.transfer_task(window_clerk_ca, task, reason="需公安部门先行核查。", department=city["other"],
                                 role=roles.APPROVER)
    assert (task.department, task.role, task.status, task.claimed_by) == (
        city["other"], roles.APPROVER, TaskStatus.OPEN, None)
    assert queries.visible_task(window_clerk_ca, task.pk) is None
    assert queries.visible_task(co_reviewer, task.pk) is not None
    assert Notification.objects.filter(recipient=co_reviewer, link=f"/services/workbench/tasks/{task.pk}/").exists()
    entry = AuditEntry.objects.get(action="services.transfer_task")
    assert entry.detail["from"] == {"department": "CITY-CA", "role": roles.WINDOW_STAFF}
    assert entry.detail["reason"] == "需公安部门先行核查。"


def test_transfer_to_a_colleague_of_the_same_queue(
        application: Application, window_clerk_ca: User, approver: User, make_staff: Callable[..., User],
        city: dict[str, Any]) -> None:
    colleague = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    outsider = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["other"])
    task = actions.claim_task(window_clerk_ca, open_task(application))
    for wrong in (approver, outsider):  # another role; another department
        with pytest.raises(InvalidInput) as refused:
            actions.transfer_task(window_clerk_ca, task, reason="休假", colleague=wrong)
        assert refused.value.details[0].field == "colleague"
    task = actions.transfer_task(window_clerk_ca, task, reason="本人休假，请同事接办。", colleague=colleague)
    assert (task.status, task.claimed_by) == (TaskStatus.CLAIMED, colleague)
    actions.decide_task(colleague, task, outcome=TaskOutcome.APPROVE)


def test_a_task_claimed_by_someone_else_cannot_be_transferred(
        application: Application, window_clerk_ca: User, make_staff: Callable[..., User],
        city: dict[str, Any]) -> None:
    other_clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    task = actions.claim_task(window_clerk_ca, open_task(application))
    with pytest.raises(NotPermitted):
        actions.transfer_task(other_clerk, task, reason="我来办", colleague=other_clerk)


# --- comments -------------------------------------------------------------------------------------------------


def test_comments_are_written_by_those_who_may_open_the_task(
        application: Application, window_clerk_ca: User, co_reviewer: User) -> None:
    task = open_task(application)
    with pytest.raises(InvalidInput):
        actions.comment_on_task(window_clerk_ca, task, text=" ")
    with pytest.raises(NotPermitted):
        actions.comment_on_task(co_reviewer, task, text="看看")
    comment = actions.comment_on_task(window_clerk_ca, task, text="材料齐全。")
    assert list(queries.comments(application)) == [comment]
    assert TaskComment.objects.get().author_name == window_clerk_ca.display_name
    assert AuditEntry.objects.filter(action="services.comment_on_task", object_id=application.reference).exists()


# --- post-check -----------------------------------------------------------------------------------------------


def test_a_post_check_marks_the_committed_materials_checked(
        application: Application, item: ServiceItem, approver: User) -> None:
    material = Material.objects.create(item=item, code="lease", name="租赁合同", commitment_allowed=True)
    given = ApplicationMaterial.objects.create(application=application, material=material,
                                               provision=MaterialProvision.COMMITTED, added_at=timezone.now())
    task = WorkTask.objects.create(application=application, kind=TaskKind.POST_CHECK, name="事后核查：租赁合同",
                                   department=item.responsible_department, role=roles.APPROVER,
                                   created_at=timezone.now())
    task = actions.claim_task(approver, task)
    with pytest.raises(InvalidInput):
        actions.complete_post_check(approver, task, note="")
    with pytest.raises(Conflict):
        actions.decide_task(approver, task, outcome=TaskOutcome.APPROVE)
    task = actions.complete_post_check(approver, task, note="已核对原件，与承诺一致。")
    assert (task.status, task.outcome, task.outcome_reason) == (TaskStatus.DONE, TaskOutcome.CHECKED,
                                                                "已核对原件，与承诺一致。")
    given.refresh_from_db()
    assert given.post_checked_at is not None


# --- deadlines ----------------------------------------------------------------------------------------------------


def test_deadline_reminders_go_once_per_deadline(
        application: Application, window_clerk_ca: User, approver: User, make_staff: Callable[..., User],
        city: dict[str, Any]) -> None:
    lead = supervise(make_staff(role_names=(), department=city["bureau"]))
    today = timezone.localdate()
    tomorrow = calendar.add_working_days(today, 1).date
    Application.objects.filter(pk=application.pk).update(due=tomorrow)
    assert check_application_deadlines.call() == {"reminders": 1, "overdue_notices": 0}
    assert check_application_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    reminders = list(Notification.objects.all())  # in the site's language: told apart by when they went out
    assert [n.recipient for n in reminders] == [window_clerk_ca]  # the queue's staff, not the other role

    late = today - dt.timedelta(days=3)
    Application.objects.filter(pk=application.pk).update(due=late)
    assert check_application_deadlines.call() == {"reminders": 0, "overdue_notices": 1}
    assert check_application_deadlines.call() == {"reminders": 0, "overdue_notices": 0}
    overdue = {n.recipient for n in Notification.objects.exclude(pk__in=[n.pk for n in reminders])}
    assert overdue == {window_clerk_ca, lead}
    assert approver not in overdue
    assert AuditEntry.objects.filter(action="services.overdue_notice", object_id=application.reference).count() == 1


def test_no_reminder_while_the_applicant_corrects(application: Application, window_clerk_ca: User) -> None:
    task = actions.claim_task(window_clerk_ca, open_task(application))
    actions.decide_task(window_clerk_ca, task, outcome=TaskOutcome.RETURN, reason="补充材料")
    Application.objects.filter(pk=application.pk).update(due=timezone.localdate() - dt.timedelta(days=3))
    assert check_application_deadlines.call() == {"reminders": 0, "overdue_notices": 0}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one writer at a time anyway")
@pytest.mark.django_db(transaction=True)
def test_two_claims_at_the_same_moment_one_wins(
        application: Application, window_clerk_ca: User, make_staff: Callable[..., User],
        city: dict[str, Any]) -> None:
    other_clerk = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    task = open_task(application)
    outcomes: dict[str, str] = {}

    def claim(user: User) -> None:
        try:
            actions.claim_task(user, WorkTask.objects.get(pk=task.pk))
            outcomes[user.username] = "won"
        except Conflict:
            outcomes[user.username] = "conflict"

    run_together(lambda: claim(window_clerk_ca), lambda: claim(other_clerk))
    assert sorted(outcomes.values()) == ["conflict", "won"]
    task.refresh_from_db()
    assert task.claimed_by is not None and outcomes[task.claimed_by.username] == "won"
