"""The staff workbench's verbs: claim and release a task, decide it, transfer it, comment on it, complete a
post-check, and the deadline reminders of applications under review.

Who may act is decided here, not only on the page: a task is claimed from one of the actor's department × role
queues; only its claimer decides, releases or completes it. Every step writes its audit entry under the
application (object type "application", its reference), so the entries are the application's history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.audit.models import Result
from zhengtong.core.errors import Conflict, FieldProblem, NotPermitted, raise_if_problems
from zhengtong.identity import roles
from zhengtong.identity.actions import actor_of
from zhengtong.identity.models import Department, User
from zhengtong.services.models import (
    Application,
    MaterialProvision,
    TaskComment,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.notify import notify
from zhengtong.services.queries import tasks as queries
from zhengtong.services.workflow import engine

MAX_TEXT = 2000
DECISIONS = (TaskOutcome.APPROVE, TaskOutcome.REJECT, TaskOutcome.RETURN)
# The roles whose queues work on applications: a task goes to one of them, never to an auditor's or a leader's.
TRANSFER_ROLES = (roles.WINDOW_STAFF, roles.APPROVER)


def _name(actor: User | None) -> str:
    return _("the platform") if actor is None else actor.display_name


def _audit(action: str, actor: User | None, task: WorkTask, detail: dict[str, Any]) -> None:
    application = task.application
    resident_id = queries.applicant_resident_id(application)
    audit.record(action, actor_of(actor), object_type="application", object_id=application.reference or "",
                 subjects=[resident_id] if resident_id else [],
                 detail={"task": task.pk, "step": task.element_id, "department": task.department.code,
                         "role": task.role, **detail})


def _refuse(actor: User, task: WorkTask, message: str) -> NotPermitted:
    """A refusal is a use of the platform too: auditors see who tried what (as require_permission records it)."""
    audit.record_alone("identity.permission_denied", actor_of(actor), result=Result.DENIED, object_type="worktask",
                       object_id=task.pk, detail={"permission": "services.work_task", "reason": message})
    return NotPermitted(message)


def _text(problems: list[FieldProblem], name: str, value: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        problems.append(FieldProblem(name, message))
    elif len(value) > MAX_TEXT:
        problems.append(FieldProblem(name, _("Keep it to %(n)d characters.") % {"n": MAX_TEXT}))
    return value


def _lock_application(task: WorkTask) -> None:
    """Lock the task's application row. Whatever changes an application and its tasks (withdrawal, the engine,
    these actions) locks the application before its tasks, so two of them never wait on each other in a cycle
    (a deadlock on PostgreSQL)."""
    Application.objects.select_for_update(of=("self",)).only("pk").get(pk=task.application_id)


def _locked(task: WorkTask) -> WorkTask:
    """The task's row locked, after its application's; the joined rows are read as they are."""
    _lock_application(task)
    return WorkTask.objects.select_for_update(of=("self",)).select_related(
        "application__item", "application__applicant__citizen", "department", "claimed_by").get(pk=task.pk)


def _check_claimer(actor: User, task: WorkTask) -> None:
    if task.status != TaskStatus.CLAIMED:
        raise Conflict(_("This task is not claimed; claim it first.") if task.status == TaskStatus.OPEN
                       else _("This task is finished already."))
    if task.claimed_by_id != actor.pk:
        raise _refuse(actor, task, _("Only the staff member who claimed this task can do this."))
    if not queries.in_queues(actor, task):
        # The claimer has since left the department or lost the role.
        raise _refuse(actor, task, _("This task is no longer in one of your queues."))


def _task_link(task: WorkTask) -> str:
    return reverse("services:task", args=[task.pk])


# --- reading an application -------------------------------------------------------------------------------------


def read_application(actor: User, application: Application, *, task: WorkTask | None = None
                     ) -> list[dict[str, Any]]:
    """The application's answers as a staff member who may open it sees them (queries.answer_rows). Seeing them
    in full is revealing personal data (invariant 4): for staff with the right to, one audit entry names the
    applicant, the purpose and the answers shown in full, in the request, so the reveal is accountable and the
    applicant can find it."""
    if not queries.is_staff(actor):
        raise NotPermitted(_("The workbench is for staff members."))
    reveal = queries.may_reveal(actor)
    rows = queries.answer_rows(application, reveal=reveal)
    if reveal:
        resident_id = queries.applicant_resident_id(application)
        with transaction.atomic():
            audit.record(queries.VIEW_APPLICATION, actor_of(actor), object_type="application",
                         object_id=application.reference or "", subjects=[resident_id] if resident_id else [],
                         fields=[row["name"] for row in rows if row["revealed"]],
                         purpose=queries.purpose_of(application), legal_basis=_("official duties"),
                         case_reference=application.reference or "",
                         detail={"task": task.pk if task is not None else None})
    return rows


# --- claim and release ---------------------------------------------------------------------------------------


def claim_task(actor: User, task: WorkTask) -> WorkTask:
    """Take an open task of one of the actor's queues. Of two claims at once, one wins: the update only
    changes a row that is still open, and the loser gets a conflict."""
    current = WorkTask.objects.select_related("department").get(pk=task.pk)
    if not queries.in_queues(actor, current):
        raise _refuse(actor, current, _("This task is not in one of your queues."))
    with transaction.atomic():
        _lock_application(current)
        taken = WorkTask.objects.filter(pk=task.pk, status=TaskStatus.OPEN, department_id=current.department_id,
                                        role=current.role).update(status=TaskStatus.CLAIMED, claimed_by=actor)
        if not taken:
            raise Conflict(_("Someone else has claimed this task, or it is finished."))
        task = _locked(task)
        _audit("services.claim_task", actor, task, {})
    return task


def release_task(actor: User, task: WorkTask) -> WorkTask:
    """Put a task the actor claimed back in its queue."""
    with transaction.atomic():
        task = _locked(task)
        if task.status != TaskStatus.CLAIMED or task.claimed_by_id != actor.pk:
            raise Conflict(_("You have not claimed this task."))
        task.status, task.claimed_by = TaskStatus.OPEN, None
        task.save(update_fields=["status", "claimed_by"])
        _audit("services.release_task", actor, task, {})
    return task


# --- decide ----------------------------------------------------------------------------------------------------


def decide_task(actor: User, task: WorkTask, *, outcome: str, reason: str = "") -> WorkTask:
    """Approve, reject or return for correction the review task the actor claimed; the process goes on from
    there. Rejecting needs the reasons and returning says what to correct: the applicant reads both."""
    problems: list[FieldProblem] = []
    if outcome not in DECISIONS:
        problems.append(FieldProblem("outcome", _("Choose approve, reject or return for correction.")))
    reason = (reason or "").strip()
    if outcome == TaskOutcome.REJECT:
        reason = _text(problems, "reason", reason, _("Give the reasons for rejecting; the applicant reads them."))
    elif outcome == TaskOutcome.RETURN:
        reason = _text(problems, "reason", reason, _("Say what the applicant must correct."))
    elif len(reason) > MAX_TEXT:
        problems.append(FieldProblem("reason", _("Keep it to %(n)d characters.") % {"n": MAX_TEXT}))
    raise_if_problems(problems)
    with transaction.atomic():
        task = _locked(task)
        _check_claimer(actor, task)
        if task.kind != TaskKind.REVIEW:
            raise Conflict(_("A post-check is completed, not decided."))
        _audit("services.decide_task", actor, task, {"outcome": outcome, "reason": reason})
        engine.complete(task, actor, outcome=outcome, reason=reason)
    task.refresh_from_db()
    return task


# --- transfer --------------------------------------------------------------------------------------------------


def transfer_task(actor: User, task: WorkTask, *, reason: str, department: Department | None = None,
                  role: str = "", colleague: User | None = None) -> WorkTask:
    """Hand a task on, with the reason: to the queue of another department × role the item involves (it is
    open there), or to a named colleague of the task's department who holds its role (it is theirs, claimed).
    The actor must have claimed it, or it must be open in one of their queues."""
    problems: list[FieldProblem] = []
    reason = _text(problems, "reason", reason, _("Say why you transfer this task."))
    if colleague is None and (department is None or not role):
        problems.append(FieldProblem("to", _("Choose a department and role, or a colleague.")))
    if colleague is not None and department is not None:
        problems.append(FieldProblem("to", _("Choose a department and role, or a colleague, not both.")))
    raise_if_problems(problems)
    with transaction.atomic():
        task = _locked(task)
        mine = task.status == TaskStatus.CLAIMED and task.claimed_by_id == actor.pk
        if not (mine or (task.status == TaskStatus.OPEN and queries.in_queues(actor, task))):
            if task.status not in queries.ACTIVE:
                raise Conflict(_("This task is finished already."))
            raise _refuse(actor, task, _("Claim this task before you transfer it."))
        before = {"department": task.department.code, "role": task.role}
        if colleague is not None:
            if colleague.pk == actor.pk or not queries.colleagues(task).filter(pk=colleague.pk).exists():
                raise_if_problems([FieldProblem("colleague", _(
                    "Choose a colleague of this department who holds the task's role."))])
            task.status, task.claimed_by = TaskStatus.CLAIMED, colleague
            recipients = [colleague]
        else:
            assert department is not None
            involved = {d.pk for d in queries.transfer_departments(task)}
            if department.pk not in involved:
                problems.append(FieldProblem("department", _("Choose a department this service item involves.")))
            if role not in TRANSFER_ROLES:
                problems.append(FieldProblem("role", _("Choose one of the staff roles.")))
            if department.pk == task.department_id and role == task.role:
                problems.append(FieldProblem("department", _("The task is in this queue already.")))
            raise_if_problems(problems)
            task.department, task.role, task.status, task.claimed_by = department, role, TaskStatus.OPEN, None
            recipients = queries.queue_staff(task)
        task.save(update_fields=["department", "role", "status", "claimed_by"])
        _audit("services.transfer_task", actor, task, {
            "from": before, "to_colleague": colleague.get_username() if colleague is not None else "",
            "reason": reason})
        with translation.override(settings.LANGUAGE_CODE):
            values = {"task": task.name, "reference": task.application.reference, "reason": reason,
                      "who": _name(actor)}
            notify(recipients, _("Task transferred to you: %(task)s, application %(reference)s") % values,
                   _("%(who)s transferred the task %(task)s of application %(reference)s to you.\n\nReason: "
                     "%(reason)s") % values, link=_task_link(task))
    return task


# --- comments ----------------------------------------------------------------------------------------------------


def comment_on_task(actor: User, task: WorkTask, *, text: str) -> TaskComment:
    """A note on the case for everyone who works on it; anyone who may open the task may write one."""
    problems: list[FieldProblem] = []
    text = _text(problems, "text", text, _("Write the comment."))
    raise_if_problems(problems)
    if queries.visible_task(actor, task.pk) is None:
        raise _refuse(actor, task, _("This task is not in one of your queues."))
    with transaction.atomic():
        comment = TaskComment.objects.create(task=task, author=actor, author_name=_name(actor), text=text,
                                             created_at=timezone.now())
        _audit("services.comment_on_task", actor, task, {"comment": comment.pk})
    return comment


# --- post-check of a commitment ----------------------------------------------------------------------------------


def complete_post_check(actor: User, task: WorkTask, *, note: str) -> WorkTask:
    """The claimer has checked the real documents behind the applicant's commitment (事后核查): the committed
    materials are marked checked and the task is done, with what was found."""
    problems: list[FieldProblem] = []
    note = _text(problems, "note", note, _("Say what you checked and what you found."))
    raise_if_problems(problems)
    with transaction.atomic():
        task = _locked(task)
        _check_claimer(actor, task)
        if task.kind != TaskKind.POST_CHECK:
            raise Conflict(_("This task is a review; decide it instead."))
        now = timezone.now()
        checked = task.application.materials.filter(provision=MaterialProvision.COMMITTED,
                                                    post_checked_at__isnull=True).update(post_checked_at=now)
        task.status, task.outcome, task.outcome_reason = TaskStatus.DONE, TaskOutcome.CHECKED, note
        task.completed_at, task.completed_by_name = now, _name(actor)
        task.save(update_fields=["status", "outcome", "outcome_reason", "completed_at", "completed_by_name"])
        _audit("services.complete_post_check", actor, task, {"note": note, "materials": checked})
    return task


# --- deadlines: a reminder the working day before, one notice once passed ------------------------------------


def _deadline_message(application: Application, due: dt.date, *, overdue: bool) -> tuple[str, str]:
    values = {"reference": application.reference, "item": application.item.name, "due": due.isoformat(),
              "path": reverse("services:workbench")}
    if overdue:
        return (_("Overdue: application %(reference)s was due on %(due)s") % values,
                _("The decision on application %(reference)s (%(item)s) was due on %(due)s, counted in working "
                  "days, and is still waiting. Please act on it from the workbench: %(path)s") % values)
    return (_("Reminder: application %(reference)s is due on %(due)s") % values,
            _("The decision on application %(reference)s (%(item)s) is due on %(due)s, counted in working days. "
              "Please act on it from the workbench: %(path)s") % values)


def _tell_staff(action: str, application: Application, due: dt.date, *, overdue: bool) -> int:
    staff = queries.staff_to_act(application, overdue=overdue)
    with translation.override(settings.LANGUAGE_CODE):
        subject, body = _deadline_message(application, due, overdue=overdue)
    notify(staff, subject, body, link=reverse("services:workbench"))
    resident_id = queries.applicant_resident_id(application)
    audit.record(action, audit.SYSTEM, object_type="application", object_id=application.reference or "",
                 subjects=[resident_id] if resident_id else [],
                 detail={"due": due.isoformat(), "recipients": [user.get_username() for user in staff]})
    return len(staff)


def _locked_application(application: Application) -> Application:
    return Application.objects.select_for_update(of=("self",)).select_related(
        "item", "applicant__citizen").get(pk=application.pk)


def remind_of_deadline(application: Application) -> bool:
    """Remind the staff who must act that the decision is due, once per deadline. Returns whether it went out."""
    with transaction.atomic():
        application = _locked_application(application)
        if application.due is None or not application.is_open or application.reminded_for == application.due:
            return False
        application.reminded_for = application.due
        application.save(update_fields=["reminded_for"])
        _tell_staff("services.remind_deadline", application, application.due, overdue=False)
    return True


def notify_overdue(application: Application, *, today: dt.date) -> bool:
    """Tell the staff who must act, and their supervisors, that the deadline has passed: once per deadline."""
    with transaction.atomic():
        application = _locked_application(application)
        due = application.due
        if due is None or not application.is_open or due >= today or application.overdue_notice_for == due:
            return False
        application.overdue_notice_for = due
        application.save(update_fields=["overdue_notice_for"])
        _tell_staff("services.overdue_notice", application, due, overdue=True)
    return True
