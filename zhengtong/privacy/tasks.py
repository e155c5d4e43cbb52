"""Background work of the privacy center, run by `zhengtong worker`: deadlines of citizens' cases."""

from __future__ import annotations

import structlog
from django.db.models import Q
from django_tasks import task

from zhengtong.core.errors import Conflict
from zhengtong.privacy.actions import cases as actions
from zhengtong.privacy.models import CorrectionRequest, CorrectionStatus, Objection, ObjectionStatus
from zhengtong.privacy.queries import cases as queries

log = structlog.get_logger("zhengtong.privacy.tasks")


@task()
def check_case_deadlines() -> dict[str, int]:
    """Remind the staff who must act on an objection or a correction the working day before its deadline,
    and tell them once it has passed (for a correction, the governance office too). Each goes out once per
    deadline, so the worker may run this as often as it likes. Returns how many went out."""
    deadlines = queries.Deadlines.as_of()
    sent = {"reminders": 0, "overdue_notices": 0}
    soon = Q(due__lte=deadlines.next_working_day)
    objections = Objection.objects.filter(soon, status=ObjectionStatus.OPEN).select_related("citizen__citizen")
    corrections = CorrectionRequest.objects.filter(soon, status=CorrectionStatus.SUBMITTED).select_related(
        "citizen__citizen", "registry")
    cases: list[Objection | CorrectionRequest] = [*objections.order_by("pk"), *corrections.order_by("pk")]
    for case in cases:
        state = queries.state(deadlines, case)
        try:
            if state == queries.DueState.DUE_SOON and case.reminded_for != case.due:
                sent["reminders"] += actions.remind_of_deadline(case)
            elif state == queries.DueState.OVERDUE:
                sent["overdue_notices"] += actions.notify_overdue(case, today=deadlines.today)
        except Conflict:
            continue  # answered or decided since it was read
        except OSError as error:
            # The mail server refused or is away: nothing was recorded, so the next run tries this one again.
            log.warning("case deadline mail not sent", case=case.number, error=str(error))
    return sent
