"""The working-day calendar (invariant 3): official 2026 holidays and 调休, provisional years, the operators'
table winning, pauses, the public API and the provisional badge on pages.

Expected dates come from the State Council General Office notice on the 2026 holidays (国办发明电〔2025〕7号)
and from the statutory rules for years without a notice, not from the code under test:

- National Day 2026: 1–7 October off; Sunday 20 September and Saturday 10 October are worked.
- Mid-Autumn 2026: Friday 25 – Sunday 27 September off.
- 2027 has no notice yet. Spring Festival 2027 is Saturday 6 February; the statutory holidays are New Year's
  Eve (Friday 5 Feb) and the first three days (6–8 Feb), and the two that fall on the weekend are given back
  on the next working days (Tuesday 9 and Wednesday 10 Feb).
"""

from __future__ import annotations

import datetime as dt
from datetime import date

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from zhengtong.core import calendar
from zhengtong.core.calendar import Deadline, add_working_days, day_info, working_days_between, year_source
from zhengtong.core.models import CalendarDay, DayKind, OfficialCalendarYear

pytestmark = pytest.mark.django_db


# --- official 2026 arrangement from the package


def test_national_day_2026_is_seven_rest_days():
    for offset in range(7):
        info = day_info(date(2026, 10, 1) + dt.timedelta(days=offset))
        assert not info.is_working_day
        assert info.source == "package"
        assert not info.provisional
    assert calendar.is_working_day(date(2026, 10, 8))


def test_make_up_days_around_national_day_2026_are_working_days():
    for make_up in (date(2026, 9, 20), date(2026, 10, 10)):  # a Sunday and a Saturday
        assert make_up.weekday() >= 5
        assert calendar.is_working_day(make_up)
    # An ordinary weekend next to them is still a rest day.
    assert not calendar.is_working_day(date(2026, 10, 11))


def test_day_names_are_translatable():
    with translation.override("en"):
        assert day_info(date(2026, 10, 3)).name == "National Day"  # a Saturday inside the holiday
        assert day_info(date(2026, 10, 10)).name == "National Day"  # the make-up day belongs to it too
        assert day_info(date(2026, 10, 12)).name == ""


def test_deadline_crosses_national_day_2026():
    # Wednesday 30 Sept + 1 working day: 1–7 Oct are off, so Thursday 8 Oct.
    assert add_working_days(date(2026, 9, 30), 1) == Deadline(date(2026, 10, 8), provisional=False)
    # Monday 28 Sept + 5: 29, 30 Sept, 8, 9 Oct and the make-up Saturday 10 Oct.
    assert add_working_days(date(2026, 9, 28), 5).date == date(2026, 10, 10)


def test_make_up_sunday_is_counted_and_mid_autumn_is_skipped():
    # Friday 18 Sept + 1: Saturday 19 is off, Sunday 20 is worked.
    assert add_working_days(date(2026, 9, 18), 1).date == date(2026, 9, 20)
    # Thursday 24 Sept + 1: Mid-Autumn Friday 25 and the weekend are off.
    assert add_working_days(date(2026, 9, 24), 1).date == date(2026, 9, 28)


def test_zero_working_days_is_the_start_itself():
    assert add_working_days(date(2026, 10, 3), 0) == Deadline(date(2026, 10, 3), provisional=False)


def test_negative_days_are_refused():
    with pytest.raises(ValueError, match="n must be 0 or more"):
        add_working_days(date(2026, 3, 2), -1)


def test_twenty_working_days_take_one_query(django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        add_working_days(date(2026, 9, 1), 20)
    with django_assert_max_num_queries(2):  # runs into years beyond the first estimate
        add_working_days(date(2026, 12, 1), 60)


# --- pauses


def test_pause_stops_the_clock_inclusive_of_both_ends():
    # Monday 2 Nov 2026 + 5 working days is Monday 9 Nov.
    assert add_working_days(date(2026, 11, 2), 5).date == date(2026, 11, 9)
    # Waiting for a correction on Wed 4 and Thu 5: counted are 3, 6, 9, 10, 11 Nov.
    paused = [(date(2026, 11, 4), date(2026, 11, 5))]
    assert add_working_days(date(2026, 11, 2), 5, pauses=paused).date == date(2026, 11, 11)
    assert working_days_between(date(2026, 11, 2), date(2026, 11, 11), pauses=paused).days == 5


def test_pause_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="pause"):
        add_working_days(date(2026, 11, 2), 5, pauses=[(date(2026, 11, 5), date(2026, 11, 4))])


# --- working days between


def test_working_days_between_counts_after_start_up_to_end():
    count = working_days_between(date(2026, 9, 30), date(2026, 10, 10))
    assert count.days == 3  # 8, 9 and the make-up 10 Oct
    assert not count.provisional
    assert working_days_between(date(2026, 10, 1), date(2026, 10, 7)).days == 0
    assert working_days_between(date(2026, 10, 9), date(2026, 10, 8)).days == 0


def test_working_days_between_into_a_provisional_year():
    # New Year's Day 2027 is a Friday, then a weekend: only Monday 4 Jan counts.
    count = working_days_between(date(2026, 12, 31), date(2027, 1, 4))
    assert count.days == 1
    assert count.provisional


@settings(max_examples=60, deadline=None)
@given(start=st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)), n=st.integers(0, 60))
def test_adding_then_counting_working_days_round_trips(start, n):
    deadline = add_working_days(start, n)
    assert working_days_between(start, deadline.date).days == n


# --- provisional years


def test_spring_festival_2027_is_provisional_from_the_statutory_rules():
    assert year_source(2027) == "provisional"
    for rest_day in (date(2027, 2, 5), date(2027, 2, 8), date(2027, 2, 9), date(2027, 2, 10)):
        info = day_info(rest_day)
        assert not info.is_working_day
        assert info.provisional
    with translation.override("zh-hans"):
        assert day_info(date(2027, 2, 6)).name == "春节"
    deadline = add_working_days(date(2027, 2, 4), 1)
    assert deadline == Deadline(date(2027, 2, 11), provisional=True)


def test_deadline_is_provisional_only_when_it_reaches_an_unpublished_year():
    assert not add_working_days(date(2026, 12, 29), 2).provisional  # 30 and 31 Dec
    assert add_working_days(date(2026, 12, 29), 3) == Deadline(date(2027, 1, 4), provisional=True)


@pytest.mark.parametrize("day", [date(2150, 1, 1), date(2003, 10, 1), date(1, 1, 1), date(9999, 12, 31)])
def test_unknown_years_never_raise(day):
    info = day_info(day)
    assert info.source == "provisional"
    assert year_source(day.year) == "provisional"


def test_far_future_deadline_is_provisional():
    # 2150: weekends only, as no holidays are computed that far out; Monday 5 Jan + 5 is Monday 12 Jan.
    assert add_working_days(date(2150, 1, 5), 5) == Deadline(date(2150, 1, 12), provisional=True)
    assert year_source(99999) == "provisional"


def test_deadline_past_the_last_representable_day_is_a_value_error():
    with pytest.raises(ValueError, match="past the end of the calendar"):
        add_working_days(date(9999, 12, 30), 5)


# --- the operators' table wins


def _official_2027() -> OfficialCalendarYear:
    """A made-up official 2027 arrangement: 5–11 Feb off, Saturday 13 Feb worked."""
    year = OfficialCalendarYear.objects.create(year=2027, notice_title="测试通知")
    for offset in range(7):
        CalendarDay.objects.create(
            year=year, date=date(2027, 2, 5) + dt.timedelta(days=offset), kind=DayKind.HOLIDAY, name="春节"
        )
    CalendarDay.objects.create(year=year, date=date(2027, 2, 13), kind=DayKind.WORKDAY, name="春节")
    return year


def test_table_year_is_official_and_applies_at_once():
    assert add_working_days(date(2027, 2, 4), 1).provisional
    _official_2027()
    assert year_source(2027) == "table"
    info = day_info(date(2027, 2, 13))
    assert info.is_working_day and info.name == "春节" and info.source == "table"
    # 5–11 Feb off, Friday 12 Feb counts, then the make-up Saturday 13.
    assert add_working_days(date(2027, 2, 4), 2) == Deadline(date(2027, 2, 13), provisional=False)
    # A later year is still provisional; a deadline reaching it says so.
    assert add_working_days(date(2027, 12, 30), 2).provisional


def test_table_year_replaces_the_package_year():
    year = OfficialCalendarYear.objects.create(year=2026)
    CalendarDay.objects.create(year=year, date=date(2026, 10, 8), kind=DayKind.HOLIDAY, name="测试")
    assert year_source(2026) == "table"
    assert not calendar.is_working_day(date(2026, 10, 8))
    # The year is official from the table alone, so the package's 1 Oct holiday no longer applies.
    assert day_info(date(2026, 10, 1)) == calendar.DayInfo(date(2026, 10, 1), True, "", "table")
    assert add_working_days(date(2026, 9, 30), 2).date == date(2026, 10, 2)


# --- API


def test_api_day_info_is_public():
    response = Client().get("/api/v1/calendar/days/2026-10-10", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response.json() == {
        "date": "2026-10-10",
        "is_working_day": True,
        "name": "National Day",
        "source": "package",
        "provisional": False,
    }


def test_api_add_working_days():
    response = Client().get("/api/v1/calendar/add-working-days", {"start": "2026-12-29", "days": "3"})
    assert response.status_code == 200
    assert response.json() == {
        "start": "2026-12-29",
        "days": 3,
        "deadline": "2027-01-04",
        "provisional": True,
    }


def test_api_working_days_between():
    response = Client().get(
        "/api/v1/calendar/working-days-between", {"start": "2026-09-30", "end": "2026-10-10"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "start": "2026-09-30",
        "end": "2026-10-10",
        "working_days": 3,
        "provisional": False,
    }


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/calendar/add-working-days", {"start": "2026-09-30", "days": "-1"}, "days"),
        ("/api/v1/calendar/add-working-days", {"start": "2026-09-30", "days": "two"}, "days"),
        ("/api/v1/calendar/add-working-days", {"start": "30/09/2026", "days": "1"}, "start"),
        ("/api/v1/calendar/working-days-between", {"start": "2026-09-30", "end": "2026-02-30"}, "end"),
        ("/api/v1/calendar/working-days-between", {"start": "2026-09-30", "end": "2026-09-01"}, "end"),
        ("/api/v1/calendar/days/2026-13-01", {}, "date"),
    ],
)
def test_api_bad_input_names_the_field(path, params, field):
    response = Client().get(path, params)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["message"]
    assert [problem["field"] for problem in body["details"]] == [field]
    assert body["details"][0]["reason"]


# --- the provisional badge on pages


def _render(value: Deadline | None) -> str:
    with translation.override("en"):
        return Template("{% load deadlines %}{% deadline value %}").render(Context({"value": value}))


def test_deadline_tag_marks_provisional_deadlines():
    html = _render(Deadline(date(2027, 2, 11), provisional=True))
    assert '<time datetime="2027-02-11">' in html
    assert '<span class="badge badge-provisional"' in html
    assert "provisional calendar</span>" in html


def test_deadline_tag_shows_official_deadlines_plainly():
    html = _render(Deadline(date(2026, 10, 8), provisional=False))
    assert '<time datetime="2026-10-08">' in html
    assert "badge" not in html
    assert _render(None) == ""


@pytest.mark.django_db
def test_year_days_agrees_with_day_info_for_every_day_of_a_year(django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        days = calendar.year_days(2026)
    assert len(days) == 365
    assert all(days[day] == calendar.day_info(day) for day in days)
