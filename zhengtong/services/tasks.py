"""Background work of online services, run by `zhengtong worker`: deadlines of applications under review, and
the BPMN timer events of running processes (reminders)."""

from __future__ import annotations

import structlog
from django_tasks import task

from zhengtong.core.errors import Conflict
from zhengtong.services.actions import tasks as actions
from zhengtong.services.queries import tasks as queries
from zhengtong.services.workflow import engine

log = structlog.get_logger("zhengtong.services.tasks")


@task()
def check_application_deadlines() -> dict[str, int]:
    """Remind the staff of the queues an application waits in the working day before its decision is due, and
    tell them and their supervisors once it has passed. Each goes out once per deadline (a new deadline after
    a correction gets its own), so the worker may run this as often as it likes. Returns how many went out."""
    deadlines = queries.Deadlines.as_of()
    sent = {"reminders": 0, "overdue_notices": 0}
    for application in queries.applications_near_deadline(deadlines):
        try:
            if application.due is not None and application.due < deadlines.today:
                sent["overdue_notices"] += actions.notify_overdue(application, today=deadlines.today)
            elif application.reminded_for != application.due:
                sent["reminders"] += actions.remind_of_deadline(application)
        except Conflict:
            continue  # decided since it was read
    log.info("application deadlines checked", **sent)
    return sent


@task()
def fire_workflow_timers() -> int:
    """Let the processes waiting on a timer (a reminder after two days, say) move on; returns how many did."""
    return engine.fire_timers()
