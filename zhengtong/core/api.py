"""Working-day calendar API: public, read-only answers from zhengtong.core.calendar.

Parameters arrive as text and are parsed here, so a malformed one gets the platform's error body naming it.
"""

from __future__ import annotations

import datetime as dt
import re

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from zhengtong.core import actions, calendar
from zhengtong.core.errors import InvalidInput

router = Router(tags=["calendar"])

# Bounds on public requests, far beyond any statutory time limit, so one request cannot tie up a worker.
MAX_WORKING_DAYS = 10_000
MAX_SPAN_DAYS = 100 * 366

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER = re.compile(r"[+-]?\d{1,9}")
_DATE_HELP = "A date in the form YYYY-MM-DD."


class DayOut(Schema):
    date: dt.date
    is_working_day: bool
    name: str
    source: str
    provisional: bool


class DeadlineOut(Schema):
    start: dt.date
    days: int
    deadline: dt.date
    provisional: bool


class WorkingDaysOut(Schema):
    start: dt.date
    end: dt.date
    working_days: int
    provisional: bool


@router.get(
    "/calendar/days/{date}",
    response=DayOut,
    auth=None,
    url_name="calendar_day",
    summary="Whether a day is a working day, and the holiday it belongs to",
)
def calendar_day(request: HttpRequest, date: str) -> DayOut:
    info = calendar.day_info(_parse_date("date", date))
    return DayOut(
        date=info.date,
        is_working_day=info.is_working_day,
        name=info.name,
        source=info.source,
        provisional=info.provisional,
    )


@router.get(
    "/calendar/add-working-days",
    response=DeadlineOut,
    auth=None,
    url_name="calendar_add_working_days",
    summary="The deadline N working days after a start date (the start date itself is not counted)",
)
def calendar_add_working_days(
    request: HttpRequest,
    start: str = Query(..., description=_DATE_HELP),
    days: str = Query(..., description=f"Working days to add, 0 to {MAX_WORKING_DAYS}."),
) -> DeadlineOut:
    start_date = _parse_date("start", start)
    count = _parse_int("days", days)
    if count < 0:
        raise InvalidInput.for_field("days", _("must be 0 or more"))
    if count > MAX_WORKING_DAYS:
        raise InvalidInput.for_field("days", _("must be at most %(limit)d") % {"limit": MAX_WORKING_DAYS})
    try:
        deadline = calendar.add_working_days(start_date, count)
    except ValueError as error:  # only when the deadline would fall after 9999-12-31
        raise InvalidInput.for_field("start", _("the deadline would fall after the year 9999")) from error
    return DeadlineOut(start=start_date, days=count, deadline=deadline.date, provisional=deadline.provisional)


@router.get(
    "/calendar/working-days-between",
    response=WorkingDaysOut,
    auth=None,
    url_name="calendar_working_days_between",
    summary="Working days after start, up to and including end",
)
def calendar_working_days_between(
    request: HttpRequest,
    start: str = Query(..., description=_DATE_HELP),
    end: str = Query(..., description=_DATE_HELP + " Not before start."),
) -> WorkingDaysOut:
    start_date = _parse_date("start", start)
    end_date = _parse_date("end", end)
    if end_date < start_date:
        raise InvalidInput.for_field("end", _("must not be before start"))
    if (end_date - start_date).days > MAX_SPAN_DAYS:
        reason = _("must be at most %(limit)d days after start") % {"limit": MAX_SPAN_DAYS}
        raise InvalidInput.for_field("end", reason)
    count = calendar.working_days_between(start_date, end_date)
    return WorkingDaysOut(
        start=start_date, end=end_date, working_days=count.days, provisional=count.provisional
    )


class CalendarDayIn(Schema):
    date: dt.date
    kind: str
    name: str = ""


class CalendarYearIn(Schema):
    notice_title: str
    published_on: dt.date | None = None
    days: list[CalendarDayIn]


class CalendarYearOut(Schema):
    year: int
    notice_title: str
    holidays: int
    make_up_working_days: int


@router.put(
    "/calendar/years/{year}",
    response=CalendarYearOut,
    url_name="calendar_publish_year",
    summary="Record a year's official holidays and make-up working days from the State Council notice",
)
def calendar_publish_year(request: HttpRequest, year: int, payload: CalendarYearIn) -> CalendarYearOut:
    official = actions.publish_calendar_year(
        request.auth,  # type: ignore[attr-defined]
        year=year, notice_title=payload.notice_title, published_on=payload.published_on,
        days=[actions.CalendarDayInput(day.date, day.kind, day.name) for day in payload.days],
    )
    kinds = [day.kind for day in payload.days]
    return CalendarYearOut(year=official.year, notice_title=official.notice_title,
                           holidays=kinds.count("holiday"), make_up_working_days=kinds.count("workday"))


def _parse_date(field: str, value: str) -> dt.date:
    # fromisoformat alone also takes forms such as 20261001 or 2026-W40-4; the API promises YYYY-MM-DD only.
    if _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput.for_field(field, _("must be a date in the form YYYY-MM-DD"))


def _parse_int(field: str, value: str) -> int:
    if not _INTEGER.fullmatch(value.strip()):
        raise InvalidInput.for_field(field, _("must be a whole number"))
    return int(value)
