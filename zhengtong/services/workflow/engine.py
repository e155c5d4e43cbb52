"""Running an application's process: SpiffWorkflow executes the BPMN, this module keeps its state in the
application row and mirrors it into the platform's own terms (WorkTask rows, status, deadline, pauses).

Every step is load → change → save under a lock on the application row, in the caller's transaction:
  start()                    the process begins when an application is submitted;
  complete()                 a staff member decided a WorkTask;
  resume_after_correction()  the applicant's correction is in;
  fire_timers()              the worker refreshes workflows waiting on a timer.

What the process sees (its task data): the applicant's answers and the values the government holds (by
question name), `reference`, `item_code`, and after each user task `outcome` and `<element id>_outcome`
("approve", "reject", "return"), `rejected` (a reject anywhere; the application ends REJECTED) and `returned`
(the last decision asked for a correction). Service tasks and decision tables add their facts.

A user task with candidateGroups "<role>@cooperating" becomes one WorkTask for each co-operating department
of the item (the responsible department when there are none); the BPMN task completes when all are done, and
at once on a reject or a return from any of them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from zhengtong.audit import actions as audit
from zhengtong.core import calendar
from zhengtong.core.errors import Conflict
from zhengtong.identity.actions import actor_of
from zhengtong.identity.models import Department
from zhengtong.services.models import (
    Application,
    ApplicationStatus,
    ClockPause,
    DecisionDefinition,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.notify import notify
from zhengtong.services.workflow import expressions, service_tasks
from zhengtong.services.workflow.parsing import (
    APPLICANT,
    COOPERATING,
    ParsedDecision,
    ParsedProcess,
    build_spec,
    parse_decision,
    parse_process,
    read_stored_process,
)

__all__ = ["ParsedDecision", "ParsedProcess", "complete", "diagram", "fire_timers", "parse_decision",
           "parse_process", "resume_after_correction", "start"]

# Camunda's configuration leaves out plain service tasks, which is how this platform runs external tasks.
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure({**CAMUNDA_CONFIG,
                                                                     ServiceTask: BpmnTaskSpecConverter}))
SCRIPT_ENGINE = expressions.SafeScriptEngine()
log = structlog.get_logger("zhengtong.services.workflow")
OPEN_TASK = (TaskStatus.OPEN, TaskStatus.CLAIMED)

# Parsed processes never change (a new upload is a new version), so they are cached by the file's digest; the
# SpiffWorkflow spec also by the digests of the decision tables it was built with.
_parsed: dict[str, ParsedProcess] = {}
_specs: dict[tuple[str, ...], tuple[Any, dict[str, Any]]] = {}


def _parsed_process(application: Application) -> ParsedProcess:
    process = application.process
    assert process is not None, "an application's process is set when it starts"
    if process.digest not in _parsed:
        _parsed[process.digest] = read_stored_process(process.bpmn_xml)
    return _parsed[process.digest]


def _decisions(application: Application, refs: tuple[str, ...]) -> list[DecisionDefinition]:
    """The decision table versions a process runs with: the one the item pinned when it was published, never
    simply the latest (decision keys are global: anyone who may upload could change another department's
    automatic approvals)."""
    item_decision = application.item.decision
    for ref in refs:
        if item_decision is None or item_decision.key != ref:
            raise Conflict(_("The service item %(item)s names no version of the decision table %(key)s that its "
                             "process needs.") % {"item": application.item.code, "key": ref})
    return [item_decision] if refs and item_decision is not None else []


def _new_workflow(application: Application, parsed: ParsedProcess) -> BpmnWorkflow:
    process = application.process
    assert process is not None
    decisions = _decisions(application, parsed.decision_refs)
    key = (process.digest, *(d.digest for d in decisions))
    if key not in _specs:
        _specs[key] = build_spec(process.bpmn_xml, {d.key: d.dmn_xml for d in decisions}, parsed.key)
    spec, subprocess_specs = _specs[key]
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE)
    workflow.data["decision_versions"] = {d.key: d.version for d in decisions}
    return workflow


def _load(application: Application) -> BpmnWorkflow:
    if application.workflow_state is None:
        raise Conflict(_("The process of application %(reference)s has not started.")
                       % {"reference": application.reference})
    workflow = SERIALIZER.from_dict(_in_tree_order(application.workflow_state))
    workflow.script_engine = SCRIPT_ENGINE
    return workflow


def _in_tree_order(state: dict[str, Any]) -> dict[str, Any]:
    """The serialised task data are deltas from the parent task, and SpiffWorkflow restores tasks in the order
    of the `tasks` mapping, so a parent must come before its children. PostgreSQL's jsonb does not keep the
    order of keys; put the tasks (of the workflow and of each subprocess) back into tree order."""
    def ordered(workflow: dict[str, Any]) -> dict[str, Any]:
        tasks, queue, result = workflow["tasks"], [workflow["root"]], {}
        while queue:
            task_id = queue.pop(0)
            if task_id in tasks and task_id not in result:
                result[task_id] = tasks[task_id]
                queue.extend(tasks[task_id]["children"])
        return {**workflow, "tasks": result}

    return {**ordered(state), "subprocesses": {key: ordered(sub) for key, sub in state["subprocesses"].items()}}


def _save(application: Application, workflow: BpmnWorkflow) -> None:
    application.workflow_state = SERIALIZER.to_dict(workflow)
    application.waiting_for_timer = any("Timer" in event.event_type for event in workflow.waiting_events())
    application.updated_at = timezone.now()


def _locked(application: Application) -> Application:
    return Application.objects.select_for_update(of=("self",)).select_related("item", "process", "applicant").get(
        pk=application.pk)


def _facts(application: Application) -> dict[str, Any]:
    """What the process may branch on: the answers and the values the government holds, by question name."""
    facts: dict[str, Any] = {name: held.get("value") for name, held in (application.prefilled or {}).items()
                             if isinstance(held, dict)}
    facts.update(application.answers or {})
    facts.update({"reference": application.reference, "item_code": application.item.code})
    return facts


# --- deadline --------------------------------------------------------------------------------------------------

def _pauses(application: Application) -> list[calendar.Pause]:
    today = timezone.localdate()
    return [(p.started_on, p.ended_on or max(today, p.started_on)) for p in application.pauses.all()]


def _set_due(application: Application) -> None:
    """The promised time limit in working days from the day of submission, the clock stopped while paused."""
    assert application.submitted_at is not None
    submitted = timezone.localdate(application.submitted_at)
    deadline = calendar.add_working_days(submitted, application.item.promised_days, _pauses(application))
    application.due, application.due_provisional = deadline.date, deadline.provisional
    _process_tasks(application).filter(status__in=OPEN_TASK).update(due=deadline.date)


# --- running ---------------------------------------------------------------------------------------------------

def _run_engine(application: Application, parsed: ParsedProcess, workflow: BpmnWorkflow) -> None:
    """Run every task the engine can. A service task is an external task: SpiffWorkflow starts it and leaves
    it STARTED; its topic's handler runs here, then the task completes and the engine goes on."""
    versions = workflow.data.get("decision_versions", {})

    def before(task: Task) -> None:
        if isinstance(task.task_spec, BusinessRuleTask):
            key = parsed.rule_tasks[task.task_spec.bpmn_id]
            application.decision_trace = _trace(task, key, versions.get(key))

    while True:
        workflow.do_engine_steps(will_complete_task=before)
        fetched = [task for task in workflow.get_tasks(state=TaskState.STARTED)
                   if task.task_spec.bpmn_id in parsed.service_topics]
        if not fetched:
            return
        for task in fetched:
            element_id = task.task_spec.bpmn_id
            service_tasks.TOPICS[parsed.service_topics[element_id]](
                service_tasks.Call(application, element_id, task.data))
            task.complete()


def _trace(task: Task, key: str, version: int | None) -> dict[str, Any]:
    """What the decision table saw and decided: inputs by label, the rows that fired with their annotations."""
    engine = task.task_spec.dmnEngine
    table = engine.decision_table
    inputs = {}
    for column in table.inputs:
        try:
            inputs[column.label or column.expression] = SCRIPT_ENGINE.evaluate(task, column.expression)
        except Exception:  # noqa: BLE001 - the trace shows what could not be read instead of failing the step
            inputs[column.label or column.expression] = None
    rules = [{"id": rule.id, "row": rule.row_number, "annotation": rule.description or ""}
             for rule in engine.decide(task)]
    return {"decision": key, "version": version, "table": table.id, "inputs": inputs, "rules": rules,
            "outputs": dict(engine.result(task))}


def _ready_user_tasks(workflow: BpmnWorkflow) -> list[Task]:
    return workflow.get_tasks(state=TaskState.READY, manual=True)


def _departments(application: Application, department: str) -> list[Department]:
    item = application.item
    if department == COOPERATING:
        return list(item.cooperating_departments.order_by("code")) or [item.responsible_department]
    if department:
        found = Department.objects.filter(code=department).first()
        if found is None:
            raise Conflict(_("The process names the department %(code)s, which no longer exists.")
                           % {"code": department})
        return [found]
    return [item.responsible_department]


def _process_tasks(application: Application) -> QuerySet[WorkTask]:
    """The staff tasks that mirror the process's user tasks; a commitment's post-check lives outside it."""
    return application.tasks.filter(kind=TaskKind.REVIEW)


def _notify_applicant(application: Application, subject: str, body: str) -> None:
    notify([application.applicant], subject, body,
           link=reverse("services:application", args=[application.reference]))


def _advance(application: Application, workflow: BpmnWorkflow, parsed: ParsedProcess, actor: Any) -> None:
    """Run what the engine can, then mirror the workflow into status, WorkTasks and pauses, and save."""
    _run_engine(application, parsed, workflow)
    ready = _ready_user_tasks(workflow)
    ready_ids = {str(task.id) for task in ready}
    now = timezone.now()
    _process_tasks(application).filter(status__in=OPEN_TASK).exclude(workflow_task_id__in=ready_ids).update(
        status=TaskStatus.CANCELLED, completed_at=now)
    if workflow.is_completed():
        _finish(application, workflow, actor)
    else:
        existing = set(_process_tasks(application).filter(workflow_task_id__in=ready_ids)
                       .values_list("workflow_task_id", flat=True))
        waiting_for_applicant = False
        for task in ready:
            step = parsed.user_steps[task.task_spec.bpmn_id]
            if step.role == APPLICANT:
                waiting_for_applicant = True
                continue
            if str(task.id) in existing:
                continue
            WorkTask.objects.bulk_create([
                WorkTask(application=application, workflow_task_id=str(task.id), element_id=step.element_id,
                         name=step.name, department=department, role=step.role, created_at=now,
                         due=application.due)
                for department in _departments(application, step.department)])
        if waiting_for_applicant:
            _ask_for_correction(application)
        else:
            application.status = ApplicationStatus.IN_REVIEW
    _save(application, workflow)
    application.save()


def _ask_for_correction(application: Application) -> None:
    if application.status == ApplicationStatus.CORRECTION:
        return
    application.status = ApplicationStatus.CORRECTION
    if not application.pauses.filter(ended_on__isnull=True).exists():
        ClockPause.objects.create(application=application, started_on=timezone.localdate(),
                                  reason=_("waiting for the applicant's correction")[:200])
    _notify_applicant(application, _("Application %(reference)s: please correct it") % {
        "reference": application.reference},
        _("Your application %(reference)s for %(item)s needs a correction: %(request)s\n"
          "The time limit is paused until you send it.") % {
            "reference": application.reference, "item": application.item.name,
            "request": application.correction_request or "-"})


def _finish(application: Application, workflow: BpmnWorkflow, actor: Any) -> None:
    data = workflow.data
    end_data = workflow.last_task.data if workflow.last_task is not None else {}
    rejected = bool(end_data.get("rejected") or data.get("rejected"))
    application.status = ApplicationStatus.REJECTED if rejected else ApplicationStatus.APPROVED
    application.decided_at = timezone.now()
    automatic = not _process_tasks(application).exclude(status=TaskStatus.CANCELLED).exists()
    if rejected:
        application.result = end_data.get("reason") or _("Rejected.")
    elif automatic:
        application.result = _("Approved automatically: the decision table found the application eligible.")
    else:
        application.result = _("Approved.")
    citizen = getattr(application.applicant, "citizen", None)
    audit.record("services.application.decided", actor_of(actor), object_type="application",
                 object_id=application.reference or application.pk,
                 subjects=[citizen.resident_id] if citizen is not None else [],
                 detail={"status": application.status, "automatic": automatic,
                         "decision": (application.decision_trace or {}).get("decision", "")})
    _notify_applicant(application, _("Application %(reference)s: %(status)s") % {
        "reference": application.reference, "status": application.get_status_display()},
        _("Your application %(reference)s for %(item)s: %(result)s") % {
            "reference": application.reference, "item": application.item.name, "result": application.result})


# --- the steps ---------------------------------------------------------------------------------------------------

def start(application: Application, actor: Any) -> None:
    """Begin the process of a just-submitted application (inside submit_application's transaction)."""
    application_row = _locked(application)
    if application_row.workflow_state is not None:
        raise Conflict(_("The process of application %(reference)s has already started.")
                       % {"reference": application_row.reference})
    if application_row.process_id is None:
        application_row.process = application_row.item.process
    parsed = _parsed_process(application_row)
    _set_due(application_row)
    workflow = _new_workflow(application_row, parsed)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(_facts(application_row), rejected=False, returned=False, outcome="")
    _advance(application_row, workflow, parsed, actor)
    _refresh(application, application_row)


def _refresh(given: Application, saved: Application) -> None:
    """Let the caller's instance see what the engine saved."""
    for name in ("status", "due", "due_provisional", "decided_at", "result", "process_id", "workflow_state",
                 "waiting_for_timer", "decision_trace", "correction_request", "updated_at"):
        setattr(given, name, getattr(saved, name))


def _spiff_task(workflow: BpmnWorkflow, task_id: str) -> Task | None:
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises its own error for an unknown id
        return None


def _combined(outcomes: list[str]) -> str:
    for outcome in (TaskOutcome.REJECT, TaskOutcome.RETURN):
        if outcome in outcomes:
            return outcome
    return TaskOutcome.APPROVE


def complete(task: WorkTask, actor: Any, *, outcome: str, reason: str = "") -> None:
    """Record a staff decision on a WorkTask and move the process on. Permission is the caller's to check."""
    if outcome not in (TaskOutcome.APPROVE, TaskOutcome.REJECT, TaskOutcome.RETURN):
        raise Conflict(_("Unknown outcome %(outcome)s.") % {"outcome": outcome})
    with transaction.atomic():
        application = _locked(task.application)
        work = WorkTask.objects.select_for_update().get(pk=task.pk)
        if work.status not in OPEN_TASK or not application.is_open:
            raise Conflict(_("This task is already done."))
        workflow = _load(application)
        spiff = _spiff_task(workflow, work.workflow_task_id)
        if spiff is None or spiff.state != TaskState.READY:
            raise Conflict(_("This step of the process is no longer waiting."))
        now = timezone.now()
        work.status, work.outcome, work.outcome_reason = TaskStatus.DONE, outcome, reason
        work.completed_at = now
        work.completed_by_name = (getattr(actor, "display_name", "") or actor.get_username()) if actor else ""
        work.save()
        siblings = application.tasks.filter(workflow_task_id=work.workflow_task_id)
        if outcome == TaskOutcome.APPROVE and siblings.filter(status__in=OPEN_TASK).exists():
            application.save(update_fields=["updated_at"])  # the BPMN task waits for the other departments
            _refresh(task.application, application)
            return
        siblings.filter(status__in=OPEN_TASK).update(status=TaskStatus.CANCELLED, completed_at=now)
        combined = _combined(list(siblings.filter(status=TaskStatus.DONE).values_list("outcome", flat=True)))
        spiff.data.update({"outcome": str(combined), f"{work.element_id}_outcome": str(combined),
                           "returned": combined == TaskOutcome.RETURN})
        if combined == TaskOutcome.REJECT:
            spiff.data.update(rejected=True, reason=reason)
        if combined == TaskOutcome.RETURN:
            application.correction_request = reason
        spiff.run()
        _advance(application, workflow, _parsed_process(application), actor)
        if combined == TaskOutcome.RETURN and application.status != ApplicationStatus.CORRECTION:
            raise Conflict(_("This step of the process cannot return the application for correction."))
        _refresh(task.application, application)


def resume_after_correction(application: Application, actor: Any) -> None:
    """The applicant's correction is in: the clock runs again (due recomputed) and the process continues."""
    with transaction.atomic():
        row = _locked(application)
        if row.status != ApplicationStatus.CORRECTION:
            raise Conflict(_("Application %(reference)s is not waiting for a correction.")
                           % {"reference": row.reference})
        workflow = _load(row)
        parsed = _parsed_process(row)
        waiting = [t for t in _ready_user_tasks(workflow) if parsed.user_steps[t.task_spec.bpmn_id].role == APPLICANT]
        row.pauses.filter(ended_on__isnull=True).update(ended_on=timezone.localdate())
        _set_due(row)
        row.status, row.correction_request = ApplicationStatus.IN_REVIEW, ""
        for task in waiting:
            task.data.update(_facts(row), outcome="corrected", returned=False)
            task.data[f"{task.task_spec.bpmn_id}_outcome"] = "corrected"
            task.run()
        _advance(row, workflow, parsed, actor)
        _refresh(application, row)


def fire_timers() -> int:
    """Worker entry: refresh every open application waiting on a BPMN timer (SpiffWorkflow reads the clock
    itself); the number of applications whose timers fired. One application that fails is logged and left as
    it was (its own transaction rolls back); the others' timers still fire."""
    fired = 0
    waiting = Application.objects.filter(waiting_for_timer=True, status__in=(
        ApplicationStatus.SUBMITTED, ApplicationStatus.IN_REVIEW, ApplicationStatus.CORRECTION))
    for pk in waiting.order_by("pk").values_list("pk", flat=True):
        try:
            with transaction.atomic():
                row = _locked(Application(pk=pk))
                workflow = _load(row)
                before = len(workflow.get_tasks(state=TaskState.COMPLETED))
                workflow.refresh_timers()
                _advance(row, workflow, _parsed_process(row), None)
                fired += len(workflow.get_tasks(state=TaskState.COMPLETED)) > before
        except Exception:  # noqa: BLE001 - one broken application must not stop every later one's timers
            log.exception("services.timer_failed", application=pk)
    return fired


def diagram(application: Application) -> dict[str, Any]:
    """The process drawing with the steps that are waiting and those done, for the bpmn-js viewer."""
    process = application.process or application.item.process
    current: list[str] = []
    done: list[str] = []
    if application.workflow_state is not None:
        workflow = _load(application)
        for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            if task.task_spec.bpmn_id and task.task_spec.bpmn_id not in current:
                current.append(task.task_spec.bpmn_id)
        for task in workflow.get_tasks(state=TaskState.COMPLETED):
            if task.task_spec.bpmn_id and task.task_spec.bpmn_id not in done:
                done.append(task.task_spec.bpmn_id)
    return {"bpmn_xml": process.bpmn_xml, "current": current, "done": done}
