"""BPMN timers: the review step of single approval carries a non-interrupting two-day timer that reminds the
department's approvers (service task remind-staff) and leaves the task where it is; the worker's fire_timers()
refreshes waiting workflows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
import time_machine

from zhengtong.identity.models import User
from zhengtong.services.models import Application, Notification, ServiceItem, TaskOutcome, TaskStatus
from zhengtong.services.workflow import engine

pytestmark = pytest.mark.django_db
MONDAY = dt.datetime(2026, 11, 2, 9, tzinfo=ZoneInfo("Asia/Shanghai"))


def reminders(user: User) -> int:
    return Notification.objects.filter(recipient=user, subject__startswith="Reminder").count()


def test_review_reminder_fires_once_after_two_days(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User, approver: User, co_reviewer: User) -> None:
    with time_machine.travel(MONDAY, tick=False) as clock:
        application = make_application(make_item(), applicant)
        assert not application.waiting_for_timer  # the reminder is on the review step, not on acceptance
        engine.complete(application.tasks.get(), window_clerk_ca, outcome=TaskOutcome.APPROVE)
        application.refresh_from_db()
        assert application.waiting_for_timer

        clock.shift(dt.timedelta(days=1))
        assert engine.fire_timers() == 0
        assert reminders(approver) == 0

        clock.shift(dt.timedelta(days=1, hours=1))
        assert engine.fire_timers() == 1
        assert reminders(approver) == 1
        assert reminders(co_reviewer) == 0  # another department's approver
        application.refresh_from_db()
        assert not application.waiting_for_timer
        review = application.tasks.get(status=TaskStatus.OPEN)
        assert review.element_id == "Task_review"

        clock.shift(dt.timedelta(days=3))
        assert engine.fire_timers() == 0
        assert reminders(approver) == 1
        engine.complete(review, approver, outcome=TaskOutcome.APPROVE)
        assert application.tasks.get(status=TaskStatus.OPEN).element_id == "Task_decide"


def test_a_claimed_task_reminds_only_its_claimant(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User, approver: User, make_staff: Callable[..., User]) -> None:
    colleague = make_staff(role_names=("approver",), trained=True, username="colleague")
    with time_machine.travel(MONDAY, tick=False) as clock:
        application = make_application(make_item(), applicant)
        engine.complete(application.tasks.get(), window_clerk_ca, outcome=TaskOutcome.APPROVE)
        application.tasks.filter(status=TaskStatus.OPEN).update(status=TaskStatus.CLAIMED, claimed_by=approver)
        clock.shift(dt.timedelta(days=3))
        assert engine.fire_timers() == 1
    assert (reminders(approver), reminders(colleague)) == (1, 0)
