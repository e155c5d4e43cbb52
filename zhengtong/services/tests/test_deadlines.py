"""Deadlines in working days on the Chinese calendar: the promised time limit runs across National Day 2026
(1–7 October off, Sunday 20 September and Saturday 10 October worked, per the State Council's arrangement in
chinese-calendar) and stands still while the applicant corrects (补正)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from zhengtong.identity.models import User
from zhengtong.services.models import (
    Application,
    ApplicationStatus,
    ClockPause,
    Notification,
    ServiceItem,
    TaskOutcome,
    TaskStatus,
)
from zhengtong.services.workflow import engine

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: dt.date, hour: int = 10) -> time_machine.travel:
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI), tick=False)


@pytest.mark.parametrize(("submitted", "due"), [
    # Wed 30 Sep counts; 1–7 Oct are off; Thu 8, Fri 9, Sat 10 (make-up) and Mon 12 make five.
    (dt.date(2026, 9, 29), dt.date(2026, 10, 12)),
    # Sunday 20 September is a make-up working day: 20, 21, 22, 23, 24.
    (dt.date(2026, 9, 18), dt.date(2026, 9, 24)),
])
def test_due_counts_working_days_across_national_day(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        submitted: dt.date, due: dt.date) -> None:
    item = make_item(promised_days=5)
    with at(submitted):
        application = make_application(item, applicant)
    assert application.due == due
    assert not application.due_provisional
    assert application.tasks.get().due == due


def test_correction_loop_pauses_the_clock(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User) -> None:
    item = make_item(promised_days=5)
    with at(dt.date(2026, 11, 3)):  # Tuesday: due Tuesday 10 November
        application = make_application(item, applicant)
    assert application.due == dt.date(2026, 11, 10)
    accept = application.tasks.get()

    with at(dt.date(2026, 11, 4)):
        engine.complete(accept, window_clerk_ca, outcome=TaskOutcome.RETURN, reason="请补充身份证复印件")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.CORRECTION
    assert application.correction_request == "请补充身份证复印件"
    assert not application.tasks.filter(status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED)).exists()
    pause = ClockPause.objects.get(application=application)
    assert (pause.started_on, pause.ended_on) == (dt.date(2026, 11, 4), None)
    note = Notification.objects.filter(recipient=applicant).latest("pk")
    assert "请补充身份证复印件" in note.body

    with at(dt.date(2026, 11, 9)):  # Monday: 4, 5, 6 and 9 November did not count
        application.answers = {**application.answers, "reason": "已补充"}
        application.save()
        engine.resume_after_correction(application, applicant)
    application.refresh_from_db()
    pause.refresh_from_db()
    assert pause.ended_on == dt.date(2026, 11, 9)
    assert application.status == ApplicationStatus.IN_REVIEW
    assert application.correction_request == ""
    assert application.due == dt.date(2026, 11, 16)
    again = application.tasks.get(status=TaskStatus.OPEN)
    assert (again.element_id, again.due) == ("Task_accept", dt.date(2026, 11, 16))


def test_resume_needs_an_application_waiting_for_correction(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application],
        applicant: User) -> None:
    from zhengtong.core.errors import Conflict

    application = make_application(make_item(), applicant)
    with pytest.raises(Conflict):
        engine.resume_after_correction(application, applicant)


def test_return_from_a_step_without_a_correction_path_is_refused(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        joint_process: Any, city: dict[str, Any], window_clerk_ca: User, approver: User, co_reviewer: User) -> None:
    """The decision step of joint review has no way back to the applicant: nothing changes."""
    from zhengtong.core.errors import Conflict

    application = make_application(make_item(process=joint_process, cooperating=[city["other"]]), applicant)
    engine.complete(application.tasks.get(), window_clerk_ca, outcome=TaskOutcome.APPROVE)
    for task in application.tasks.filter(status=TaskStatus.OPEN):
        engine.complete(task, approver, outcome=TaskOutcome.APPROVE)
    decide = application.tasks.get(status=TaskStatus.OPEN)
    with pytest.raises(Conflict):
        engine.complete(decide, approver, outcome=TaskOutcome.RETURN, reason="x")
    decide.refresh_from_db()
    assert decide.status == TaskStatus.OPEN
