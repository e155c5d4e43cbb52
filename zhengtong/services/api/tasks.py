"""JSON API of the staff workbench, under /api/v1/services/tasks: a staff member lists the tasks of their queues,
claims, releases, decides and transfers a task and comments on it. A task outside the caller's reach is a 404;
a step the caller may not take is a 403; a task someone else has just taken is a 409."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.identity.models import Department, User
from zhengtong.services.actions import tasks as actions
from zhengtong.services.models import WorkTask
from zhengtong.services.queries import tasks as queries

router = Router(tags=["services"])
MAX_PER_PAGE = 100


def _staff(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User) or not queries.is_staff(user):
        raise NotPermitted(_("The workbench is for staff members."))
    return user


# --- shapes ------------------------------------------------------------------------------------------------


class TaskOut(Schema):
    id: int
    kind: str = Field(description="review (a step of the process) or post_check (of a signed commitment)")
    reference: str = Field(description="The application's reference.")
    item: str = Field(description="The service item's code.")
    item_name: str
    step: str = Field(description="The BPMN element id of the step.")
    name: str
    department: str = Field(description="The code of the department whose queue holds the task.")
    role: str
    status: str
    claimed_by: str = Field(description="The claimer's user name, or empty.")
    applicant: str = Field(description="The applicant's name, masked.")
    received: dt.datetime | None
    due: dt.date | None = Field(description="The task is due by this day, counted in working days.")
    working_days_left: int | None
    working_days_late: int | None
    overdue: bool
    outcome: str
    outcome_reason: str


class TaskList(Schema):
    count: int
    page: int
    per_page: int
    tasks: list[TaskOut]


class QueueIn(Schema):
    view: queries.View = queries.View.QUEUES
    step: str = ""
    item: str = ""
    due: queries.DueFilter | None = None
    page: int = Field(1, ge=1)
    per_page: int = Field(25, ge=1, le=MAX_PER_PAGE)


class DecideIn(Schema):
    outcome: str = Field(description="approve, reject or return")
    reason: str = Field("", description="Required to reject (the reasons) or return (what to correct).")


class TransferIn(Schema):
    reason: str
    department: str = Field("", description="The code of a department the item involves (with role).")
    role: str = Field("", description="A staff role code, e.g. approver (with department).")
    colleague: str = Field("", description="Or the user name of a colleague in the task's queue.")


class CommentIn(Schema):
    text: str


class CommentOut(Schema):
    id: int
    task: int
    author: str
    text: str
    created_at: dt.datetime


def _out(task: WorkTask, countdown: queries.Countdown | None) -> TaskOut:
    application = task.application
    return TaskOut(
        id=task.pk, kind=task.kind, reference=application.reference or "", item=application.item.code,
        item_name=application.item.name, step=task.element_id, name=task.name, department=task.department.code,
        role=task.role, status=task.status,
        claimed_by=task.claimed_by.get_username() if task.claimed_by is not None else "",
        applicant=queries.applicant_name(application), received=application.submitted_at, due=task.due,
        working_days_left=countdown.left if countdown else None,
        working_days_late=countdown.late if countdown else None,
        overdue=bool(countdown and countdown.state == queries.DueState.OVERDUE), outcome=task.outcome,
        outcome_reason=task.outcome_reason)


def _one(task: WorkTask) -> TaskOut:
    return _out(task, queries.countdowns(queries.Deadlines.as_of(), [task.due]).get(task.due) if task.due else None)


def _task(request: HttpRequest, task_id: int) -> tuple[User, WorkTask]:
    user = _staff(request)
    task = queries.visible_task(user, task_id)
    if task is None:
        raise Http404
    return user, task


def _reloaded(user: User, task: WorkTask) -> TaskOut:
    """The task as it is now; after a transfer out of the caller's reach, as the action returned it."""
    return _one(queries.visible_task(user, task.pk) or task)


# --- endpoints ---------------------------------------------------------------------------------------------------


@router.get("/services/tasks", response=TaskList, summary="Tasks of the caller's queues")
def list_tasks(request: HttpRequest, filters: Query[QueueIn]) -> TaskList:
    """The active tasks of the caller's department × role queues (view=queues), those they claimed (mine) or,
    for a supervisor, the department's whole load (department); the earliest deadline first."""
    user = _staff(request)
    deadlines = queries.Deadlines.as_of()
    chosen = queries.QueueFilters(view=filters.view, step=filters.step, item=filters.item, due=filters.due)
    tasks = queries.queue(user, chosen, deadlines)
    start = (filters.page - 1) * filters.per_page
    rows = list(tasks[start:start + filters.per_page])
    countdowns = queries.countdowns(deadlines, [task.due for task in rows])
    return TaskList(count=tasks.count(), page=filters.page, per_page=filters.per_page,
                    tasks=[_out(task, countdowns.get(task.due) if task.due else None) for task in rows])


@router.get("/services/tasks/{task_id}", response=TaskOut, summary="One task")
def read_task(request: HttpRequest, task_id: int) -> TaskOut:
    return _one(_task(request, task_id)[1])


@router.post("/services/tasks/{task_id}/claim", response=TaskOut, summary="Claim an open task of your queues")
def claim_task(request: HttpRequest, task_id: int) -> TaskOut:
    user, task = _task(request, task_id)
    return _reloaded(user, actions.claim_task(user, task))


@router.post("/services/tasks/{task_id}/release", response=TaskOut, summary="Put your task back in its queue")
def release_task(request: HttpRequest, task_id: int) -> TaskOut:
    user, task = _task(request, task_id)
    return _reloaded(user, actions.release_task(user, task))


@router.post("/services/tasks/{task_id}/decide", response=TaskOut,
             summary="Approve, reject or return for correction the task you claimed")
def decide_task(request: HttpRequest, task_id: int, data: DecideIn) -> TaskOut:
    user, task = _task(request, task_id)
    return _reloaded(user, actions.decide_task(user, task, outcome=data.outcome, reason=data.reason))


@router.post("/services/tasks/{task_id}/transfer", response=TaskOut,
             summary="Transfer a task to another queue or a colleague")
def transfer_task(request: HttpRequest, task_id: int, data: TransferIn) -> TaskOut:
    user, task = _task(request, task_id)
    values: dict[str, Any] = {}
    if data.colleague:
        colleague = User.objects.filter(username=data.colleague).first()
        if colleague is None:
            raise InvalidInput.for_field("colleague", _("There is no such user."))
        values["colleague"] = colleague
    if data.department:
        department = Department.objects.filter(code=data.department).first()
        if department is None:
            raise InvalidInput.for_field("department", _("There is no department with this code."))
        values.update(department=department, role=data.role)
    return _reloaded(user, actions.transfer_task(user, task, reason=data.reason, **values))


@router.post("/services/tasks/{task_id}/comments", response={201: CommentOut}, summary="Comment on a task")
def comment_on_task(request: HttpRequest, task_id: int, data: CommentIn) -> Status[CommentOut]:
    user, task = _task(request, task_id)
    comment = actions.comment_on_task(user, task, text=data.text)
    return Status(201, CommentOut(id=comment.pk, task=task.pk, author=comment.author_name, text=comment.text,
                                  created_at=comment.created_at))
