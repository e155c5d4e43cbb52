"""The shipped processes end to end: single-department approval with its correction loop and rejection, joint
review by two departments in parallel, and state that survives a reload from the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState

from zhengtong.identity.models import User
from zhengtong.services.models import (
    Application,
    ApplicationStatus,
    Notification,
    ServiceItem,
    TaskOutcome,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.workflow import engine

pytestmark = pytest.mark.django_db


def open_tasks(application: Application) -> list[WorkTask]:
    return list(application.tasks.filter(status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED)).order_by("pk"))


def only_task(application: Application, element_id: str) -> WorkTask:
    tasks = open_tasks(application)
    assert [t.element_id for t in tasks] == [element_id]
    return tasks[0]


def test_single_approval_runs_accept_review_decide_to_approved(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        approver: User, window_clerk_ca: User, city: dict[str, Any]) -> None:
    application = make_application(make_item(), applicant)
    assert application.status == ApplicationStatus.IN_REVIEW
    assert application.due is not None
    accept = only_task(application, "Task_accept")
    assert (accept.name, accept.role, accept.department, accept.due) == (
        "受理", "window_staff", city["bureau"], application.due)

    engine.complete(accept, window_clerk_ca, outcome=TaskOutcome.APPROVE)
    review = only_task(application, "Task_review")
    assert review.role == "approver"
    engine.complete(review, approver, outcome=TaskOutcome.APPROVE)
    decide = only_task(application, "Task_decide")
    engine.complete(decide, approver, outcome=TaskOutcome.APPROVE)

    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert application.decided_at is not None
    assert open_tasks(application) == []
    done = application.tasks.filter(status=TaskStatus.DONE)
    assert sorted(done.values_list("element_id", flat=True)) == ["Task_accept", "Task_decide", "Task_review"]
    assert Notification.objects.filter(recipient=applicant, subject__contains="approved").exists()


def test_reject_ends_the_application_with_the_reason(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        approver: User, window_clerk_ca: User) -> None:
    application = make_application(make_item(), applicant)
    engine.complete(only_task(application, "Task_accept"), window_clerk_ca, outcome=TaskOutcome.APPROVE)
    engine.complete(only_task(application, "Task_review"), approver, outcome=TaskOutcome.REJECT,
                    reason="不符合法定条件")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.REJECTED
    assert application.result == "不符合法定条件"
    assert open_tasks(application) == []


def test_a_done_task_cannot_be_completed_twice(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User) -> None:
    from zhengtong.core.errors import Conflict

    application = make_application(make_item(), applicant)
    accept = only_task(application, "Task_accept")
    engine.complete(accept, window_clerk_ca, outcome=TaskOutcome.APPROVE)
    with pytest.raises(Conflict):
        engine.complete(accept, window_clerk_ca, outcome=TaskOutcome.APPROVE)


def joint_application(make_item: Callable[..., ServiceItem], make_application: Callable[..., Application],
                      applicant: User, joint_process: Any, city: dict[str, Any], window_clerk_ca: User
                      ) -> Application:
    item = make_item(process=joint_process, cooperating=[city["other"]])
    application = make_application(item, applicant)
    engine.complete(only_task(application, "Task_accept"), window_clerk_ca, outcome=TaskOutcome.APPROVE)
    return application


@pytest.mark.parametrize("cooperating_first", [True, False])
def test_joint_review_needs_both_departments_in_any_order(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        joint_process: Any, city: dict[str, Any], window_clerk_ca: User, approver: User, co_reviewer: User,
        cooperating_first: bool) -> None:
    application = joint_application(make_item, make_application, applicant, joint_process, city, window_clerk_ca)
    tasks = {t.department.code: t for t in open_tasks(application)}
    assert set(tasks) == {"CITY-CA", "WEST-PSB"}
    assert tasks["WEST-PSB"].element_id == "Task_review_cooperating"
    assert tasks["CITY-CA"].element_id == "Task_review_lead"
    order = [("WEST-PSB", co_reviewer), ("CITY-CA", approver)]
    if not cooperating_first:
        order.reverse()
    first, second = order
    engine.complete(tasks[first[0]], first[1], outcome=TaskOutcome.APPROVE)
    # One department alone does not pass the join.
    assert [t.department.code for t in open_tasks(application)] == [second[0]]
    engine.complete(tasks[second[0]], second[1], outcome=TaskOutcome.APPROVE)
    decide = only_task(application, "Task_decide")
    engine.complete(decide, approver, outcome=TaskOutcome.APPROVE)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED


def test_joint_review_rejected_by_either_department(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        joint_process: Any, city: dict[str, Any], window_clerk_ca: User, approver: User,
        co_reviewer: User) -> None:
    application = joint_application(make_item, make_application, applicant, joint_process, city, window_clerk_ca)
    tasks = {t.department.code: t for t in open_tasks(application)}
    engine.complete(tasks["CITY-CA"], approver, outcome=TaskOutcome.APPROVE)
    engine.complete(tasks["WEST-PSB"], co_reviewer, outcome=TaskOutcome.REJECT, reason="消防验收不合格")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.REJECTED
    assert application.result == "消防验收不合格"
    assert open_tasks(application) == []


def test_every_cooperating_department_gets_its_own_task(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        joint_process: Any, city: dict[str, Any], window_clerk_ca: User, approver: User, co_reviewer: User,
        make_staff: Callable[..., User]) -> None:
    item = make_item(process=joint_process, cooperating=[city["other"], city["branch"]])
    application = make_application(item, applicant)
    engine.complete(only_task(application, "Task_accept"), window_clerk_ca, outcome=TaskOutcome.APPROVE)
    tasks = {t.department.code: t for t in open_tasks(application)}
    assert set(tasks) == {"CITY-CA", "WEST-PSB", "EAST-CA"}
    engine.complete(tasks["CITY-CA"], approver, outcome=TaskOutcome.APPROVE)
    engine.complete(tasks["WEST-PSB"], co_reviewer, outcome=TaskOutcome.APPROVE)
    assert [t.department.code for t in open_tasks(application)] == ["EAST-CA"]
    engine.complete(tasks["EAST-CA"], None, outcome=TaskOutcome.APPROVE)
    assert only_task(application, "Task_decide")


def test_state_survives_a_reload_from_the_database(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User, approver: User) -> None:
    created = make_application(make_item(), applicant)
    engine.complete(only_task(created, "Task_accept"), window_clerk_ca, outcome=TaskOutcome.APPROVE)
    engine._parsed.clear()
    engine._specs.clear()
    # A fresh instance from the database, no caches: the process continues where it stood.
    application = Application.objects.get(pk=created.pk)
    assert application.workflow_state is not None
    review = WorkTask.objects.get(application=application, status=TaskStatus.OPEN)
    assert review.element_id == "Task_review"
    assert set(engine.diagram(application)["done"]) >= {"StartEvent_submitted", "Task_accept", "Gateway_accept"}
    assert "Task_review" in engine.diagram(application)["current"]
    engine.complete(review, approver, outcome=TaskOutcome.APPROVE)
    assert only_task(application, "Task_decide")


def test_state_loads_whatever_the_order_of_its_tasks(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User, approver: User) -> None:
    """PostgreSQL's jsonb reorders keys; SpiffWorkflow's task data are deltas that need parents first."""
    application = make_application(make_item(), applicant)
    engine.complete(only_task(application, "Task_accept"), window_clerk_ca, outcome=TaskOutcome.APPROVE)
    application.refresh_from_db()
    state = application.workflow_state
    assert state is not None
    state["tasks"] = dict(reversed(list(state["tasks"].items())))
    Application.objects.filter(pk=application.pk).update(workflow_state=state)
    application.refresh_from_db()
    [review] = engine._load(application).get_tasks(state=TaskState.READY, manual=True)
    assert review.data["reference"] == application.reference  # inherited from the start, not lost
    engine.complete(only_task(application, "Task_review"), approver, outcome=TaskOutcome.REJECT, reason="不符合")
    application.refresh_from_db()
    assert (application.status, application.result) == (ApplicationStatus.REJECTED, "不符合")
