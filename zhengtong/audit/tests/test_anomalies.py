"""Anomaly rules find what auditors must follow up, once each, at the configured thresholds and hours."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from zhengtong.audit import anomalies
from zhengtong.audit.actions import Actor, record_alone
from zhengtong.audit.models import ActorKind, AlertRule, AnomalyAlert, AuditEntry, Result
from zhengtong.audit.tasks import evaluate_recent_anomalies
from zhengtong.conftest import resident_id
from zhengtong.core import calendar as working_calendar
from zhengtong.core.errors import Conflict, NotPermitted
from zhengtong.identity import roles
from zhengtong.identity.models import DataScope

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLERK = Actor(ActorKind.STAFF, "17", "窗口员工甲", "EAST-CA", "window_staff")
OTHER_CLERK = Actor(ActorKind.STAFF, "18", "窗口员工乙", "EAST-CA", "window_staff")
GATEWAY = Actor(ActorKind.API_CLIENT, "k-1", "社保系统", "CITY-HRSS")
# A Wednesday and a working day.
WEDNESDAY = dt.datetime(2026, 3, 4, 10, 0, tzinfo=SHANGHAI)


def at(moment, *values, **named):
    with time_machine.travel(moment, tick=False):
        return record_alone(*values, **named)


def read(moment, actor=CLERK, subjects=(resident_id(1),), **values):
    values.setdefault("fields", ["name"])
    return at(moment, "exchange.read", actor, subjects=list(subjects), **values)


def reads_of_people(start, count, actor=CLERK, step=dt.timedelta(seconds=30), first=0):
    return [read(start + i * step, actor, [resident_id(first + i, born=dt.date(1990, 1, 1) + dt.timedelta(i))])
            for i in range(count)]


def alerts(rule):
    return list(AnomalyAlert.objects.filter(rule=rule).order_by("window_start"))


def evaluate(since=WEDNESDAY - dt.timedelta(hours=3), until=WEDNESDAY + dt.timedelta(hours=4)):
    return anomalies.evaluate_anomalies(since, until)


# --- rule 1: many people in an hour ------------------------------------------------------------------------


def test_exactly_the_threshold_of_people_in_an_hour_raises_nothing():
    reads_of_people(WEDNESDAY, anomalies.DEFAULT_SUBJECTS_PER_HOUR)
    assert evaluate() == 0
    assert not AnomalyAlert.objects.exists()


def test_one_person_more_than_the_threshold_raises_an_alert_with_what_was_seen():
    entries = reads_of_people(WEDNESDAY, anomalies.DEFAULT_SUBJECTS_PER_HOUR + 1)
    assert evaluate() == 1
    alert = AnomalyAlert.objects.get()
    assert alert.rule == AlertRule.MANY_SUBJECTS
    assert (alert.actor_kind, alert.actor_id, alert.actor_name, alert.actor_department) == (
        "staff", "17", "窗口员工甲", "EAST-CA")
    assert (alert.observed, alert.threshold) == (51, 50)
    assert alert.window_start == WEDNESDAY
    assert alert.window_end == WEDNESDAY + dt.timedelta(hours=1)
    assert (alert.first_entry_id, alert.last_entry_id) == (entries[0].pk, entries[-1].pk)
    assert alert.acknowledged_at is None
    raised = AuditEntry.objects.get(action="audit.raise_alert")
    assert raised.object_id == str(alert.pk) and raised.actor_kind == ActorKind.SYSTEM


def test_the_threshold_comes_from_settings(settings):
    settings.AUDIT_ALERT_SUBJECTS_PER_HOUR = 3
    reads_of_people(WEDNESDAY, 3)
    assert evaluate() == 0
    reads_of_people(WEDNESDAY + dt.timedelta(minutes=5), 1, first=10)
    assert evaluate() == 1
    assert AnomalyAlert.objects.get().threshold == 3


def test_the_hour_slides_across_clock_hours(settings):
    settings.AUDIT_ALERT_SUBJECTS_PER_HOUR = 3
    # Two people at 10:40 and two at 11:20: no clock hour has more than two, but 10:40-11:40 has four.
    reads_of_people(WEDNESDAY + dt.timedelta(minutes=40), 2)
    reads_of_people(WEDNESDAY + dt.timedelta(minutes=80), 2, first=5)
    assert evaluate() == 1
    assert alerts(AlertRule.MANY_SUBJECTS)[0].window_start == WEDNESDAY + dt.timedelta(minutes=40)


def test_people_read_more_than_an_hour_apart_and_the_same_person_again_do_not_add_up(settings):
    settings.AUDIT_ALERT_SUBJECTS_PER_HOUR = 3
    reads_of_people(WEDNESDAY, 4, step=dt.timedelta(minutes=25))  # 0:00, 0:25, 0:50, 1:15 — at most 3 an hour
    for minute in range(10):
        read(WEDNESDAY + dt.timedelta(hours=2, minutes=minute), subjects=[resident_id(40)])
    assert evaluate() == 0


def test_only_staff_reads_that_happened_count(settings):
    settings.AUDIT_ALERT_SUBJECTS_PER_HOUR = 3
    reads_of_people(WEDNESDAY, 5, actor=GATEWAY)
    for i in range(5):
        read(WEDNESDAY + dt.timedelta(seconds=i), subjects=[resident_id(20 + i)], result=Result.DENIED)
    for i in range(5):  # not a read: no fields revealed and not an exchange.read action
        at(WEDNESDAY + dt.timedelta(seconds=i), "identity.register_citizen", CLERK, subjects=[resident_id(30 + i)])
    assert evaluate() == 0


def test_a_read_is_an_exchange_read_action_or_an_entry_naming_fields(settings):
    settings.AUDIT_ALERT_SUBJECTS_PER_HOUR = 1
    at(WEDNESDAY, "exchange.read_record", CLERK, subjects=[resident_id(1)])
    at(WEDNESDAY + dt.timedelta(minutes=1), "services.view_application", CLERK, subjects=[resident_id(2)],
       fields=["phone"])
    assert evaluate() == 1


def test_each_staff_member_is_counted_alone(settings):
    settings.AUDIT_ALERT_SUBJECTS_PER_HOUR = 3
    reads_of_people(WEDNESDAY, 2)
    reads_of_people(WEDNESDAY, 2, actor=OTHER_CLERK, first=5)
    assert evaluate() == 0
    reads_of_people(WEDNESDAY + dt.timedelta(minutes=10), 2, actor=OTHER_CLERK, first=8)
    assert evaluate() == 1
    assert AnomalyAlert.objects.get().actor_id == "18"


def test_evaluating_again_raises_nothing_twice_even_over_overlapping_periods(settings):
    settings.AUDIT_ALERT_SUBJECTS_PER_HOUR = 3
    reads_of_people(WEDNESDAY, 6, step=dt.timedelta(minutes=5))
    read(WEDNESDAY.replace(hour=22))  # off hours
    at(WEDNESDAY, "exchange.reveal", CLERK, subjects=[resident_id(1)], fields=["resident_id"])
    day = (WEDNESDAY.replace(hour=0), WEDNESDAY.replace(hour=23))
    assert anomalies.evaluate_anomalies(*day) == 3
    assert anomalies.evaluate_anomalies(*day) == 0
    assert anomalies.evaluate_anomalies(WEDNESDAY + dt.timedelta(minutes=20), WEDNESDAY + dt.timedelta(hours=13)) == 0
    assert anomalies.evaluate_anomalies(WEDNESDAY - dt.timedelta(days=1), WEDNESDAY + dt.timedelta(days=1)) == 0
    assert AnomalyAlert.objects.count() == 3
    assert AuditEntry.objects.filter(action="audit.raise_alert").count() == 3


def test_a_burst_that_goes_on_raises_one_alert_per_hour_not_one_per_read(settings):
    settings.AUDIT_ALERT_SUBJECTS_PER_HOUR = 3
    # 30 people over 2.5 hours, one every 5 minutes: 12 an hour.
    reads_of_people(WEDNESDAY, 30, step=dt.timedelta(minutes=5))
    # The first run sees 10:00-11:10: one full hour, and too little of the next to judge yet.
    assert anomalies.evaluate_anomalies(WEDNESDAY, WEDNESDAY + dt.timedelta(minutes=70)) == 1
    assert anomalies.evaluate_anomalies(WEDNESDAY + dt.timedelta(minutes=30), WEDNESDAY + dt.timedelta(hours=3)) == 2
    starts = [alert.window_start for alert in alerts(AlertRule.MANY_SUBJECTS)]
    assert starts == [WEDNESDAY, WEDNESDAY + dt.timedelta(hours=1), WEDNESDAY + dt.timedelta(hours=2)]


# --- rule 2: outside working hours -------------------------------------------------------------------------


@pytest.mark.parametrize(("hour", "minute", "alerts_expected"), [
    (7, 59, 1), (8, 0, 0), (12, 0, 0), (20, 0, 0), (20, 1, 1), (23, 30, 1), (3, 0, 1),
])
def test_reads_before_eight_or_after_eight_in_the_evening_alert(hour, minute, alerts_expected):
    read(WEDNESDAY.replace(hour=hour, minute=minute))
    assert evaluate(WEDNESDAY.replace(hour=0), WEDNESDAY.replace(hour=23, minute=59)) == alerts_expected
    assert len(alerts(AlertRule.OFF_HOURS)) == alerts_expected


def test_reads_on_weekends_and_holidays_alert_but_not_on_make_up_working_days():
    saturday = dt.datetime(2026, 3, 7, 10, 0, tzinfo=SHANGHAI)
    national_day = dt.datetime(2025, 10, 1, 10, 0, tzinfo=SHANGHAI)  # a Wednesday
    make_up_sunday = dt.datetime(2025, 1, 26, 10, 0, tzinfo=SHANGHAI)  # 调休 for the Spring Festival
    assert not working_calendar.is_working_day(national_day.date())
    assert working_calendar.is_working_day(make_up_sunday.date())
    for moment in (saturday, national_day, make_up_sunday):
        read(moment)
    for moment in (saturday, national_day, make_up_sunday):
        anomalies.evaluate_anomalies(moment - dt.timedelta(hours=1), moment + dt.timedelta(hours=1))
    days = [alert.window_start.astimezone(SHANGHAI).date() for alert in alerts(AlertRule.OFF_HOURS)]
    # The window is the whole off-hours stretch, from the end of the last working day before it: Tuesday
    # 30 September before National Day, Friday before the weekend.
    assert days == [dt.date(2025, 9, 30), dt.date(2026, 3, 6)]


def test_one_alert_per_person_per_evening_and_night():
    first = read(WEDNESDAY.replace(hour=21))
    read(WEDNESDAY.replace(hour=23), subjects=[resident_id(2)])
    last = read(WEDNESDAY.replace(hour=2) + dt.timedelta(days=1), subjects=[resident_id(3)])
    read(WEDNESDAY.replace(hour=21), actor=OTHER_CLERK)
    assert anomalies.evaluate_anomalies(WEDNESDAY, WEDNESDAY + dt.timedelta(days=1)) == 2
    mine = AnomalyAlert.objects.get(rule=AlertRule.OFF_HOURS, actor_id=CLERK.id)
    assert mine.window_start == WEDNESDAY.replace(hour=20)
    assert mine.window_end == WEDNESDAY.replace(hour=8) + dt.timedelta(days=1)
    assert (mine.observed, mine.first_entry_id, mine.last_entry_id) == (3, first.pk, last.pk)


def test_working_hours_come_from_settings(settings):
    settings.AUDIT_ALERT_WORKING_HOURS = (9, 17)
    read(WEDNESDAY.replace(hour=8, minute=30))
    read(WEDNESDAY.replace(hour=12), actor=OTHER_CLERK)
    assert evaluate(WEDNESDAY.replace(hour=0), WEDNESDAY.replace(hour=23)) == 1
    alert = AnomalyAlert.objects.get()
    assert alert.actor_id == CLERK.id
    assert alert.window_end == WEDNESDAY.replace(hour=9)


def test_off_hours_rule_leaves_machines_and_non_reads_alone():
    night = WEDNESDAY.replace(hour=23)
    read(night, actor=GATEWAY)
    at(night, "identity.login", CLERK)
    assert evaluate(WEDNESDAY, WEDNESDAY + dt.timedelta(hours=14)) == 0


# --- rule 3: reveals without a case reference --------------------------------------------------------------


def test_a_reveal_without_a_case_reference_alerts_and_one_with_a_reference_does_not():
    rid = resident_id(3)
    bare = at(WEDNESDAY, "exchange.reveal", CLERK, subjects=[rid], fields=["resident_id"])
    at(WEDNESDAY + dt.timedelta(minutes=1), "exchange.reveal", CLERK, subjects=[rid], fields=["resident_id"],
       case_reference="2026-XF-0012")
    at(WEDNESDAY + dt.timedelta(minutes=2), "exchange.reveal", CLERK, subjects=[rid], case_reference="   ")
    assert evaluate() == 2
    first, second = alerts(AlertRule.REVEAL_WITHOUT_CASE)
    assert (first.first_entry_id, first.last_entry_id, first.observed) == (bare.pk, bare.pk, 1)
    assert first.window_start == first.window_end == WEDNESDAY
    assert second.window_start == WEDNESDAY + dt.timedelta(minutes=2)


def test_a_reveal_is_also_an_entry_that_says_it_revealed_values():
    at(WEDNESDAY, "services.print_certificate", GATEWAY, subjects=[resident_id(4)], detail={"revealed": True})
    at(WEDNESDAY, "services.print_certificate", OTHER_CLERK, detail={"revealed": False})
    at(WEDNESDAY, "exchange.reveal", CLERK, result=Result.DENIED)
    assert evaluate() == 1
    assert AnomalyAlert.objects.get().actor_kind == ActorKind.API_CLIENT


# --- acknowledging, and the task ---------------------------------------------------------------------------


def test_acknowledging_an_alert_records_who_and_is_refused_twice(make_staff):
    at(WEDNESDAY, "exchange.reveal", CLERK, subjects=[resident_id(5)])
    evaluate()
    alert = AnomalyAlert.objects.get()
    auditor = make_staff(role_names=(roles.AUDITOR,), data_scope=DataScope.ALL)
    with time_machine.travel(WEDNESDAY + dt.timedelta(days=1), tick=False):
        acknowledged = anomalies.acknowledge_alert(alert, auditor)
    alert.refresh_from_db()
    assert alert.acknowledged_at == acknowledged.acknowledged_at == WEDNESDAY + dt.timedelta(days=1)
    assert alert.acknowledged_by == auditor.display_name
    entry = AuditEntry.objects.get(action="audit.acknowledge_alert")
    assert (entry.actor_id, entry.object_type, entry.object_id) == (str(auditor.pk), "anomaly_alert", str(alert.pk))
    assert entry.detail["rule"] == AlertRule.REVEAL_WITHOUT_CASE
    with pytest.raises(Conflict):
        anomalies.acknowledge_alert(alert, auditor)
    assert AuditEntry.objects.filter(action="audit.acknowledge_alert").count() == 1


def test_acknowledging_needs_the_permission(make_staff):
    at(WEDNESDAY, "exchange.reveal", CLERK, subjects=[resident_id(5)])
    evaluate()
    with pytest.raises(NotPermitted):
        anomalies.acknowledge_alert(AnomalyAlert.objects.get(), make_staff(role_names=(roles.LEADER,)))
    assert AnomalyAlert.objects.get().acknowledged_at is None


def test_the_task_evaluates_the_last_two_hours():
    now = WEDNESDAY.replace(hour=23, minute=30)
    read(now - dt.timedelta(hours=3, minutes=15))  # 20:15, off hours but too old for this run
    at(now - dt.timedelta(minutes=30), "exchange.reveal", CLERK, subjects=[resident_id(6)], fields=["phone"])
    with time_machine.travel(now, tick=False):
        assert evaluate_recent_anomalies.call() == 2  # the reveal, which is also a read at night
    assert {alert.rule for alert in AnomalyAlert.objects.all()} == {AlertRule.REVEAL_WITHOUT_CASE,
                                                                    AlertRule.OFF_HOURS}
    assert AnomalyAlert.objects.get(rule=AlertRule.OFF_HOURS).observed == 1
