"""Service tasks by topic: a process names one with Camunda's external task
(`<bpmn:serviceTask camunda:type="external" camunda:topic="registry-check">`) and the engine runs the handler
registered here when the task becomes ready. A handler reads what it needs through the platform's own doors
and puts facts into the task data, where gateways and decision tables see them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.exchange import door

if TYPE_CHECKING:
    from zhengtong.services.models import Application


@dataclass
class Call:
    application: Application
    element_id: str
    data: dict[str, Any]  # the task data: the handler adds its facts here


Handler = Callable[[Call], None]


def _age(birth_date: Any, today: dt.date) -> int | None:
    try:
        born = birth_date if isinstance(birth_date, dt.date) else dt.date.fromisoformat(str(birth_date))
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def registry_check(call: Call) -> None:
    """The applicant's own record, read through the one door as the applicant (so the access is theirs and
    shows in their who-used-my-data): `registered` (a person record was found), `age`, `hukou_division`, and
    `hukou_local` (the household is registered within the division of the item's responsible department).
    Not found gives registered False, age 0 and an empty division, so a decision table can still decide."""
    application = call.application
    purpose = _("Checking eligibility for %(item)s, application %(reference)s") % {
        "item": application.item.name, "reference": application.reference}
    readings = door.read_own_records(door.Reader.citizen(application.applicant), purpose=purpose[:200])
    person = next((r for r in readings if "birth_date" in r.values), None)
    values = person.values if person is not None else {}
    age = _age(values.get("birth_date"), timezone.localdate()) if values.get("birth_date") else None
    # Registries name the household's division differently (the base persons registry: household_division).
    division = str(values.get("household_division") or values.get("division_code") or "")
    call.data.update({"registered": person is not None, "age": age or 0, "hukou_division": division,
                      "hukou_local": bool(division) and division.startswith(_jurisdiction(application))})


def _jurisdiction(application: Application) -> str:
    """The significant digits of the responsible department's division code: 532300 (a city) → 5323."""
    code = application.item.responsible_department.division.code
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


def remind_staff(call: Call) -> None:
    """A reminder (催办) to whoever holds the application's open tasks: the claimant, else every active
    member of the task's department with its role."""
    from zhengtong.identity.models import User
    from zhengtong.services.models import TaskKind, TaskStatus
    from zhengtong.services.notify import notify

    application = call.application
    for task in application.tasks.filter(kind=TaskKind.REVIEW, status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED)):
        recipients: list[User] = [task.claimed_by] if task.claimed_by is not None else list(
            User.objects.filter(groups__name=task.role, staff__department=task.department, is_active=True))
        notify(recipients, _("Reminder: %(task)s of %(reference)s is waiting") % {
            "task": task.name, "reference": application.reference},
            _("The step %(task)s of application %(reference)s (%(item)s) is waiting; it is due on %(due)s.") % {
                "task": task.name, "reference": application.reference, "item": application.item.name,
                "due": task.due or "-"}, link=reverse("services:task", args=[task.pk]))
    call.data["reminded_at"] = timezone.now().isoformat()


TOPICS: dict[str, Handler] = {
    "registry-check": registry_check,
    "remind-staff": remind_staff,
}
