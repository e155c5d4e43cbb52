"""Changes to the platform's own reference data: the operators' working-day calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from zhengtong.core.errors import FieldProblem, InvalidInput, NotPermitted
from zhengtong.core.models import CalendarDay, DayKind, OfficialCalendarYear
from zhengtong.core.signals import action_performed

PUBLISH_PERMISSION = "core.add_officialcalendaryear"


@dataclass(frozen=True)
class CalendarDayInput:
    date: dt.date
    kind: str  # DayKind: "holiday" or "workday"
    name: str = ""


def publish_calendar_year(actor: Any, *, year: int, notice_title: str, published_on: dt.date | None,
                          days: Sequence[CalendarDayInput]) -> OfficialCalendarYear:
    """Record a year's official arrangement from the State Council notice, replacing what was recorded.

    From then on the year is official and wins over the chinese-calendar package and the provisional
    calendar. `actor=None` is the platform acting for an operator at the shell.
    """
    # API clients (systems) have no permissions of their own here, only people do.
    if actor is not None and not (hasattr(actor, "has_perm") and actor.has_perm(PUBLISH_PERMISSION)):
        raise NotPermitted(_("You do not have permission to do this."))
    problems = []
    if not 1900 <= year <= 2200:
        problems.append(FieldProblem("year", _("The year must be between 1900 and 2200.")))
    if not notice_title.strip():
        problems.append(FieldProblem("notice_title", _("This field is required.")))
    seen: set[dt.date] = set()
    for index, day in enumerate(days):
        field = f"days[{index}]"
        if day.date.year != year:
            problems.append(FieldProblem(field + ".date", _("%(date)s is not in %(year)s.")
                                         % {"date": day.date.isoformat(), "year": year}))
        if day.kind not in DayKind.values:
            problems.append(FieldProblem(field + ".kind", _("Use holiday or workday.")))
        elif day.kind == DayKind.WORKDAY and day.date.weekday() < 5:
            problems.append(FieldProblem(field + ".kind", _("%(date)s is a weekday; only a weekend day can be a "
                                                            "make-up working day.") % {"date": day.date.isoformat()}))
        if day.date in seen:
            problems.append(FieldProblem(field + ".date", _("%(date)s is listed twice.")
                                         % {"date": day.date.isoformat()}))
        seen.add(day.date)
    if problems:
        raise InvalidInput("; ".join(f"{p.field}: {p.reason}" for p in problems), problems)
    with transaction.atomic():
        official, _created = OfficialCalendarYear.objects.update_or_create(
            year=year, defaults={"notice_title": notice_title.strip(), "notice_published_on": published_on})
        official.days.all().delete()
        CalendarDay.objects.bulk_create(
            CalendarDay(year=official, date=day.date, kind=day.kind, name=day.name.strip()) for day in days)
        action_performed.send(
            sender=OfficialCalendarYear, action="core.publish_calendar_year", actor=actor,
            object_type="calendar_year", object_id=str(year),
            detail={"notice_title": official.notice_title, "days": len(days)},
        )
    return official
