"""Operators record a year's official arrangement; it then decides deadlines for that year."""

import datetime as dt
import json

import pytest
from django.urls import reverse

from zhengtong.audit.models import AuditEntry
from zhengtong.core import calendar
from zhengtong.core.actions import CalendarDayInput, publish_calendar_year
from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.core.models import CalendarDay
from zhengtong.identity import roles

SPRING_2027 = """
2027-02-05..2027-02-11 holiday 春节
2027-02-14 workday 春节
2027-02-20 班 春节
"""


@pytest.fixture
def operator(make_staff):
    return make_staff(role_names=(roles.PLATFORM_ADMIN,))


def test_publishing_makes_the_year_official_and_changes_deadlines(db):
    assert calendar.add_working_days(dt.date(2027, 2, 4), 1).provisional
    publish_calendar_year(None, year=2027, notice_title="国务院办公厅关于2027年部分节假日安排的通知",
                          published_on=dt.date(2026, 11, 20),
                          days=[CalendarDayInput(dt.date(2027, 2, 5) + dt.timedelta(days=i), "holiday", "春节")
                                for i in range(7)] + [CalendarDayInput(dt.date(2027, 2, 14), "workday", "春节")])
    deadline = calendar.add_working_days(dt.date(2027, 2, 4), 1)
    assert deadline == calendar.Deadline(dt.date(2027, 2, 12), provisional=False)
    assert calendar.is_working_day(dt.date(2027, 2, 14))  # a Sunday worked (调休)


def test_publishing_is_recorded_in_the_audit_trail(operator):
    publish_calendar_year(operator, year=2027, notice_title="通知", published_on=None,
                          days=[CalendarDayInput(dt.date(2027, 1, 1), "holiday", "元旦")])
    entry = AuditEntry.objects.get(action="core.publish_calendar_year")
    assert (entry.actor_id, entry.object_id, entry.detail["days"]) == (str(operator.pk), "2027", 1)


def test_publishing_again_replaces_the_year(db):
    publish_calendar_year(None, year=2027, notice_title="通知", published_on=None,
                          days=[CalendarDayInput(dt.date(2027, 1, 1), "holiday", "元旦")])
    publish_calendar_year(None, year=2027, notice_title="通知（更正）", published_on=None,
                          days=[CalendarDayInput(dt.date(2027, 1, 4), "holiday", "元旦")])
    assert list(CalendarDay.objects.values_list("date", flat=True)) == [dt.date(2027, 1, 4)]


def test_bad_days_are_named_and_nothing_is_written(db):
    with pytest.raises(InvalidInput) as refused:
        publish_calendar_year(None, year=2027, notice_title="通知", published_on=None, days=[
            CalendarDayInput(dt.date(2027, 1, 1), "holiday", "元旦"),
            CalendarDayInput(dt.date(2028, 1, 1), "holiday", "元旦"),
            CalendarDayInput(dt.date(2027, 1, 4), "workday", "元旦"),  # a Monday
            CalendarDayInput(dt.date(2027, 1, 1), "holiday", "元旦"),
        ])
    assert [p.field for p in refused.value.details] == ["days[1].date", "days[2].kind", "days[3].date"]
    assert calendar.year_source(2027) == "provisional"


def test_publishing_needs_the_permission(make_staff):
    with pytest.raises(NotPermitted):
        publish_calendar_year(make_staff(role_names=(roles.LEADER,)), year=2027, notice_title="通知",
                              published_on=None, days=[])


def test_operators_record_a_year_on_the_page(client, operator):
    client.force_login(operator)
    page = reverse("portal:calendar-publish", args=[2027])
    assert client.get(reverse("portal:calendar-year", args=[2027])).content.decode().count(page) == 1
    response = client.post(page, {"notice_title": "国务院办公厅关于2027年部分节假日安排的通知", "days": SPRING_2027})
    assert response.status_code == 302
    assert calendar.year_source(2027) == "table"
    assert CalendarDay.objects.filter(kind="holiday").count() == 7
    assert "2027-02-20 workday 春节" in client.get(page).content.decode()


def test_the_page_names_the_bad_line(client, operator):
    client.force_login(operator)
    response = client.post(reverse("portal:calendar-publish", args=[2027]),
                           {"notice_title": "通知", "days": "2027-02-05 holiday 春节\n2027-02-30 holiday 春节"},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Line 2: no such date." in response.content.decode()
    assert calendar.year_source(2027) == "provisional"


def test_the_page_refuses_staff_without_the_permission(client, make_staff):
    client.force_login(make_staff(role_names=(roles.WINDOW_STAFF,)))
    assert client.get(reverse("portal:calendar-publish", args=[2027])).status_code == 403
    assert reverse("portal:calendar-publish", args=[2027]) not in client.get(
        reverse("portal:calendar-year", args=[2027])).content.decode()


def test_the_api_records_a_year_and_names_bad_fields(client, operator):
    client.force_login(operator)
    body = {"notice_title": "通知", "days": [{"date": "2027-10-01", "kind": "holiday", "name": "国庆节"},
                                           {"date": "2027-10-11", "kind": "workday", "name": "国庆节"}]}
    response = client.put("/api/v1/calendar/years/2027", json.dumps(body), content_type="application/json")
    assert response.status_code == 422  # 2027-10-11 is a Monday
    assert response.json()["details"][0]["field"] == "days[1].kind"
    body["days"][1]["date"] = "2027-10-09"
    response = client.put("/api/v1/calendar/years/2027", json.dumps(body), content_type="application/json")
    assert response.json() == {"year": 2027, "notice_title": "通知", "holidays": 1, "make_up_working_days": 1}
