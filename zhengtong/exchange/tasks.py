"""Background work of sharing, run by `zhengtong worker`: deadlines of requests, in working days."""

from __future__ import annotations

import structlog
from django_tasks import task

from zhengtong.core.errors import Conflict
from zhengtong.exchange import actions, queries
from zhengtong.exchange.models import SharingRequest

log = structlog.get_logger("zhengtong.exchange.tasks")


@task()
def check_sharing_deadlines() -> dict[str, int]:
    """Remind the staff who must act the working day before each deadline (check, answer, settlement), and
    tell them once when it has passed. Each is sent once per deadline, so the worker may run this as often as
    it likes. Returns how many reminders and overdue notices went out."""
    deadlines = queries.Deadlines.as_of()
    sent = {"reminders": 0, "overdue_notices": 0}
    waiting = SharingRequest.objects.filter(deadlines.waiting_q(through=deadlines.next_working_day))
    for request in waiting.select_related("consumer", "resource").order_by("pk"):
        state = deadlines.state(request)
        try:
            if state == queries.DueState.DUE_SOON and request.reminded_for != request.current_due:
                sent["reminders"] += actions.remind_of_deadline(request)
            elif state == queries.DueState.OVERDUE:
                sent["overdue_notices"] += actions.notify_overdue(request, today=deadlines.today)
        except Conflict:
            continue  # the request moved on to another step since it was read
        except OSError as error:
            # The mail server refused or is away: nothing was recorded, so the next run tries this one again.
            log.warning("deadline mail not sent", request=request.number, error=str(error))
    return sent
