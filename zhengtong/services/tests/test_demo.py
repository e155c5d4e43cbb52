"""The demo city's online services: at least eight published items of real departments, applications in every
state made through the real actions and the engine (tasks in several departments' queues, a decision table's
trace, clock pauses, notifications, audit entries), dates restated into the last 60 days with deadlines that
follow from them on the working-day calendar, the logins a tester needs, and a second seeding that adds nothing.

The demo city is seeded small (60 citizens, no businesses, a few addresses and parcels) and the services seed
with 60 applications: the stories need the departments, officers, registries and a few residents, not size.
Seeding through the real actions takes most of a minute, so the checks are grouped into two tests that each
seed once (and run side by side under xdist).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from django.utils import timezone

from zhengtong.audit.models import AuditEntry
from zhengtong.catalog import demo as catalog_demo
from zhengtong.core import calendar
from zhengtong.exchange.models import Grant
from zhengtong.identity import demo as identity_demo
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.registries import demo as registries_demo
from zhengtong.services import demo
from zhengtong.services.models import (
    Application,
    ApplicationStatus,
    ClockPause,
    ItemStatus,
    MaterialProvision,
    Notification,
    ServiceItem,
    TaskKind,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.queries.tasks import may_supervise

APPLICATIONS = 60


@pytest.fixture
def seeded(db: Any) -> demo.ServicesSeedSummary:
    identity_demo.seed_demo_city(citizens=60, businesses=0, progress=False)
    registries_demo.seed_registries(parcels=20, addresses=50, progress=False)
    catalog_demo.seed_catalog()
    return demo.seed_services(applications=APPLICATIONS)


def test_items_applications_in_every_state_and_the_logins(seeded: demo.ServicesSeedSummary) -> None:
    items_are_published_across_departments_with_real_legal_bases()
    applications_are_in_every_state_through_the_engine(seeded)
    a_tester_has_the_logins_they_need(seeded)


def test_dates_in_the_last_sixty_days_and_seeding_again(seeded: demo.ServicesSeedSummary) -> None:
    dates_lie_in_the_last_sixty_days_and_deadlines_follow_from_them()
    seeding_again_adds_nothing()


def items_are_published_across_departments_with_real_legal_bases() -> None:
    published = ServiceItem.objects.filter(status=ItemStatus.PUBLISHED, code__in=[s.code for s in demo.ITEMS])
    assert published.count() == len(demo.ITEMS) >= 8
    assert len({item.responsible_department.code for item in published}) >= 6
    for item in published:
        assert "《" in item.legal_basis and item.conditions and item.keywords, item.code
        assert 3 <= len(item.form) <= 8 and item.promised_days <= item.statutory_days, item.code
    assert any(q["prefill"] for item in published for q in item.form)
    joint = published.get(code="YX-HUD-XK-0001")
    assert joint.process.key == "joint_review" and [d.code for d in joint.cooperating_departments.all()] == ["YX-NRP"]
    assert published.get(code="YX-MCA-FL-0001").decision is not None
    assert published.filter(commitment_allowed=True).exists()


def applications_are_in_every_state_through_the_engine(seeded: demo.ServicesSeedSummary) -> None:
    applications = Application.objects.filter(submission_token__startswith="demo-")
    assert seeded.applications == applications.count() == APPLICATIONS
    statuses = Counter(applications.values_list("status", flat=True))
    # SUBMITTED lasts only inside submit_application's transaction: the engine moves it on at once.
    assert set(statuses) == set(ApplicationStatus.values) - {ApplicationStatus.SUBMITTED}, statuses
    assert seeded.statuses == dict(statuses)
    # The decision table decided the senior allowance applications, and left its trace.
    traced = applications.filter(item__code="YX-MCA-FL-0001", status__in=(
        ApplicationStatus.APPROVED, ApplicationStatus.IN_REVIEW, ApplicationStatus.REJECTED)).exclude(
        decision_trace=None)
    assert traced.exists()
    traces = [a.decision_trace or {} for a in traced]
    assert all(trace.get("decision") == "senior_allowance" and trace.get("rules") for trace in traces)
    # Staff queues in several departments, open and claimed; rejections give reasons; corrections pause the clock.
    open_tasks = WorkTask.objects.filter(kind=TaskKind.REVIEW, status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED))
    assert open_tasks.values("department").distinct().count() >= 4
    assert open_tasks.filter(status=TaskStatus.CLAIMED).exists()
    assert all(a.result for a in applications.filter(status=ApplicationStatus.REJECTED))
    for waiting in applications.filter(status=ApplicationStatus.CORRECTION):
        assert waiting.correction_request and waiting.pauses.filter(ended_on=None).count() == 1
    assert ClockPause.objects.filter(ended_on__isnull=False).exists()
    assert WorkTask.objects.filter(kind=TaskKind.POST_CHECK).exists()
    assert applications.filter(materials__provision=MaterialProvision.OBTAINED).exists()
    assert Notification.objects.filter(recipient__username="citizen").exists()
    assert AuditEntry.objects.filter(action="services.decide_task").exists()


def dates_lie_in_the_last_sixty_days_and_deadlines_follow_from_them() -> None:
    now = timezone.now()
    earliest = now - dt.timedelta(days=demo.SPREAD_DAYS + 1)
    submitted = Application.objects.filter(submission_token__startswith="demo-", submitted_at__isnull=False)
    for application in submitted.prefetch_related("pauses", "tasks"):
        moments = [m for m in (application.created_at, application.submitted_at, application.decided_at) if m]
        assert moments == sorted(moments) and earliest < moments[0] and moments[-1] < now, application.reference
        pauses = [(p.started_on, p.ended_on or max(timezone.localdate(), p.started_on))
                  for p in application.pauses.all()]
        expected = calendar.add_working_days(timezone.localdate(application.submitted_at),
                                             application.item.promised_days, pauses).date
        assert application.due == expected, application.reference
        for task in application.tasks.filter(kind=TaskKind.REVIEW, status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED)):
            assert task.due == application.due and earliest < task.created_at < now
    # Some are overdue, as a supervisor's view should show, and not all of them.
    waiting = submitted.filter(status=ApplicationStatus.IN_REVIEW)
    overdue = waiting.filter(due__lt=timezone.localdate()).count()
    assert 0 < overdue < waiting.count()
    assert AuditEntry.objects.filter(action="services.demo_restate_dates").count() == APPLICATIONS


def a_tester_has_the_logins_they_need(seeded: demo.ServicesSeedSummary) -> None:
    logins = dict((username, who) for who, username in seeded.logins)
    citizen = User.objects.get(username="citizen")
    assert len({a.status for a in Application.objects.filter(applicant=citizen)}) >= 5
    approver = User.objects.get(username="approver")
    queue = WorkTask.objects.filter(department=approver.staff.department, role=roles.APPROVER,
                                    status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED))
    assert "approver" in logins and queue.exists()
    supervisor = User.objects.get(username=next(u for u in logins if ".leader" in u))
    assert may_supervise(supervisor) and supervisor.staff.department == approver.staff.department
    assert all(User.objects.get(username=u).is_demo for u in logins)
    # Departments reading applicants' records on the task page hold a grant; the story-made ones are untouched.
    assert Grant.objects.filter(consumer__code="YX-AMR", purpose=demo.PURPOSE_OF_GRANT).exists()
    assert not Grant.objects.filter(consumer__code="YX-MCA", purpose=demo.PURPOSE_OF_GRANT).exists()


def seeding_again_adds_nothing() -> None:
    counts = (Application.objects.count(), WorkTask.objects.count(), User.objects.count(), Grant.objects.count(),
              ServiceItem.objects.count(), Notification.objects.count())
    again = demo.seed_services(applications=APPLICATIONS)
    assert (again.processes, again.decisions, again.items, again.staff, again.accounts, again.grants,
            again.applications) == (0, 0, 0, 0, 0, 0, 0)
    assert counts == (Application.objects.count(), WorkTask.objects.count(), User.objects.count(),
                      Grant.objects.count(), ServiceItem.objects.count(), Notification.objects.count())


def test_the_same_seed_tells_the_same_stories(db: Any) -> None:
    today = dt.date(2026, 11, 27)
    applicants = {"citizen": dt.date(1950, 3, 1), "citizen01": dt.date(1990, 5, 6), "citizen02": dt.date(1941, 1, 2)}
    first = demo.plan_stories(7, 40, applicants, today)
    assert first == demo.plan_stories(7, 40, applicants, today) != demo.plan_stories(8, 40, applicants, today)
    assert len(first) == 40
    working = set(demo._working_days(today))
    assert all(m.date() in working for story in first for m in story.moments)
    assert all(list(story.moments) == sorted(set(story.moments)) for story in first)
    # One draft of an item per applicant (start_draft would hand a second story the first one's draft).
    drafts = [(story.applicant, story.item.code) for story in first if "submit" not in story.moves]
    assert len(drafts) == len(set(drafts))
