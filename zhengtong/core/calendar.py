"""The one working-day calendar (DESIGN.md, invariant 3): every deadline on the platform is counted here.

Each year comes from the first source that has it:

1. "table": the operators' calendar (zhengtong.core.models). A year with an OfficialCalendarYear row is
   official; its CalendarDay rows are its holidays and make-up working days (调休); other days follow
   the week.
2. "package": the State Council arrangement as shipped in `chinese_calendar` (2004 to its last year).
3. "provisional": statutory holidays from `holidays.China` plus weekends, for a year nobody has published yet.
   Results that depend on such a year say so, so pages can mark them.

Nothing here raises on a year it does not know. The table is read on every call so that an operator's edit
applies at once; the package and provisional years never change in a running process and are cached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import chinese_calendar
import holidays
from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from zhengtong.core.models import DayKind, OfficialCalendarYear

Source = Literal["table", "package", "provisional"]
Pause = tuple[dt.date, dt.date]

_ONE_DAY = dt.timedelta(days=1)

# chinese_calendar names its holidays in English; mapping them to our own strings makes them translatable.
_PACKAGE_NAMES: dict[str, Promise] = {
    "New Year's Day": _("New Year's Day"),
    "Spring Festival": _("Spring Festival"),
    "Tomb-sweeping Day": _("Tomb-sweeping Day"),
    "Labour Day": _("Labour Day"),
    "Dragon Boat Festival": _("Dragon Boat Festival"),
    "Mid-autumn Festival": _("Mid-autumn Festival"),
    "National Day": _("National Day"),
    "Anti-Fascist 70th Day": _("70th anniversary of the victory of the War of Resistance"),
}


@dataclass(frozen=True)
class DayInfo:
    date: dt.date
    is_working_day: bool
    name: str  # the holiday the day belongs to (also for a make-up working day), or ""
    source: Source

    @property
    def provisional(self) -> bool:
        return self.source == "provisional"


@dataclass(frozen=True)
class Deadline:
    date: dt.date
    provisional: bool  # some day counted towards it lies in a year without an official arrangement


@dataclass(frozen=True)
class Count:
    days: int
    provisional: bool


@dataclass(frozen=True)
class _Year:
    """One year's arrangement. Days in neither mapping follow the week."""

    source: Source
    # Rest days, with their holiday's name; may include weekend days, which carry the name only.
    holidays: Mapping[dt.date, str | Promise]
    # Weekend days that are worked (调休), with the holiday they make up for ("" when unknown).
    make_up_days: Mapping[dt.date, str | Promise]

    def is_working_day(self, day: dt.date) -> bool:
        return day in self.make_up_days or (day.weekday() < 5 and day not in self.holidays)

    def name(self, day: dt.date) -> str:
        return str(self.make_up_days.get(day) or self.holidays.get(day) or "")


def day_info(day: dt.date) -> DayInfo:
    year = _Calendar(day.year, day.year).year(day.year)
    return DayInfo(date=day, is_working_day=year.is_working_day(day), name=year.name(day), source=year.source)


def year_days(year: int) -> dict[dt.date, DayInfo]:
    """Every day of a year, from one read of the table (for pages that show a whole year)."""
    arrangement = _Calendar(year, year).year(year)
    day, days = dt.date(year, 1, 1), {}
    while day.year == year:
        days[day] = DayInfo(date=day, is_working_day=arrangement.is_working_day(day), name=arrangement.name(day),
                            source=arrangement.source)
        if day == dt.date.max:
            break
        day += _ONE_DAY
    return days


def is_working_day(day: dt.date) -> bool:
    return day_info(day).is_working_day


def add_working_days(start: dt.date, n: int, pauses: Sequence[Pause] = ()) -> Deadline:
    """The n-th working day after `start` (start itself is not counted), skipping working days in `pauses`.

    `pauses` are inclusive date ranges while the clock is stopped, e.g. waiting for a citizen's correction.
    Raises ValueError when n is negative, a pause ends before it starts, or the deadline is past year 9999.
    """
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    stopped = _validated(pauses)
    # n working days span about n * 7/5 calendar days plus the year's holidays; load those years in one query
    # and let the calendar read further years only if the estimate falls short (at most a decade up front,
    # as years wholly inside a long pause are never looked at).
    paused_days = sum((end - begin).days + 1 for begin, end in stopped)
    horizon = _clamped_add(start, n * 7 // 5 + 30 + paused_days)
    calendar = _Calendar(start.year, min(horizon.year, start.year + 10))
    day, counted, provisional = start, 0, False
    while counted < n:
        if day == dt.date.max:
            raise ValueError(f"{n} working days after {start} is past the end of the calendar")
        day += _ONE_DAY
        if _paused(day, stopped):
            continue
        year = calendar.year(day.year)
        provisional = provisional or year.source == "provisional"
        counted += year.is_working_day(day)
    return Deadline(date=day, provisional=provisional)


def working_days_between(start: dt.date, end: dt.date, pauses: Sequence[Pause] = ()) -> Count:
    """Working days in (start, end], outside `pauses`; zero when end is not after start."""
    stopped = _validated(pauses)
    if end <= start:
        return Count(days=0, provisional=False)
    first = start + _ONE_DAY
    calendar = _Calendar(first.year, end.year)
    days, provisional, day = 0, False, first
    while True:
        if not _paused(day, stopped):
            year = calendar.year(day.year)
            provisional = provisional or year.source == "provisional"
            days += year.is_working_day(day)
        if day == end:
            return Count(days=days, provisional=provisional)
        day += _ONE_DAY


def year_source(year: int) -> Source:
    """Where the given year's arrangement comes from."""
    if OfficialCalendarYear.objects.filter(year=year).exists():
        return "table"
    return "package" if _package_year(year) is not None else "provisional"


class _Calendar:
    """The years one computation touches: the table read once for them, the other sources from the cache."""

    def __init__(self, first_year: int, last_year: int):
        self._years: dict[int, _Year] = {}
        self._language = _holidays_language()
        self._load(first_year, last_year)

    def year(self, year: int) -> _Year:
        if year not in self._years:
            # The computation ran past the years loaded up front; fetch this one and the next together.
            self._load(year, year + 1)
        return self._years[year]

    def _load(self, first_year: int, last_year: int) -> None:
        last_year = min(last_year, dt.MAXYEAR)
        table = _table_years(first_year, last_year)
        for year in range(first_year, last_year + 1):
            found = table.get(year) or _package_year(year)
            self._years[year] = found or _provisional_year(year, self._language)


def _table_years(first_year: int, last_year: int) -> dict[int, _Year]:
    """Official years from the operators' table, with their days, in one query (a LEFT JOIN)."""
    rows = OfficialCalendarYear.objects.filter(year__range=(first_year, last_year)).values_list(
        "year", "days__date", "days__kind", "days__name"
    )
    found: dict[int, tuple[dict[dt.date, str | Promise], dict[dt.date, str | Promise]]] = {}
    for year, day, kind, name in rows:
        rest, make_up = found.setdefault(year, ({}, {}))
        if day is not None:
            (rest if kind == DayKind.HOLIDAY else make_up)[day] = name
    return {year: _Year("table", rest, make_up) for year, (rest, make_up) in found.items()}


@lru_cache(maxsize=64)
def _package_year(year: int) -> _Year | None:
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return None
    try:
        chinese_calendar.get_holiday_detail(dt.date(year, 1, 1))
    except NotImplementedError:  # the package's way of saying it has no data for this year
        return None
    rest: dict[dt.date, str | Promise] = {}
    make_up: dict[dt.date, str | Promise] = {}
    day = dt.date(year, 1, 1)
    while day.year == year:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        if name is not None:
            (rest if on_holiday else make_up)[day] = _PACKAGE_NAMES.get(name, name)
        day += _ONE_DAY
    return _Year("package", rest, make_up)


@lru_cache(maxsize=64)
def _provisional_year(year: int, language: str) -> _Year:
    statutory = holidays.China(years=year, language=language)
    # `holidays` knows some years' 调休 (its day-off substitutes are among `statutory`); keep their worked
    # weekends too, or the substitutes would shift deadlines one way only.
    worked = statutory.weekend_workdays
    make_up: dict[dt.date, str | Promise] = {day: "" for day in worked if day.year == year}
    return _Year("provisional", dict(statutory.items()), make_up)


def _holidays_language() -> str:
    """The `holidays` locale for provisional holiday names, following the active Django language."""
    language = get_language() or settings.LANGUAGE_CODE
    return "zh_CN" if language.lower().startswith("zh") else "en_US"


def _validated(pauses: Sequence[Pause]) -> list[Pause]:
    for begin, end in pauses:
        if end < begin:
            raise ValueError(f"pause {begin}..{end} ends before it starts")
    return list(pauses)


def _paused(day: dt.date, pauses: Sequence[Pause]) -> bool:
    return any(begin <= day <= end for begin, end in pauses)


def _clamped_add(day: dt.date, days: int) -> dt.date:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max
