"""The staff workbench in a real browser: each step of a single-department process is claimed from its queue and
approved on the task page, whose bpmn-js diagram marks the current step (the marker class is on the SVG
element); the applicant then reads the result. The supervisor's chart is drawn. axe-core finds no serious or
critical WCAG 2.1 A/AA violation on the queue, the task page (with its error summary) or the supervisor's view.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import log_in, log_out
from zhengtong.services.models import Application, ApplicationStatus, ServiceItem, TaskKind, WorkTask
from zhengtong.services.queries import tasks as queries

pytestmark = pytest.mark.browser


def at(page: Page, url: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))


def current_task(application: Application) -> WorkTask:
    return application.tasks.get(status__in=queries.ACTIVE, kind=TaskKind.REVIEW)


def claim_and_approve(page: Page, application: Application, step: str, assert_accessible: Any,
                      label: str = "") -> None:
    task = current_task(application)
    assert task.element_id == step
    page.goto(reverse("services:workbench"))
    if label:
        assert_accessible(page, f"{label}-queue")
    page.locator(f"tr[data-task='{task.pk}'] form[action='{reverse('services:task-claim', args=[task.pk])}'] "
                 "button").click()
    at(page, reverse("services:task", args=[task.pk]))
    # The diagram is drawn and the current step carries the marker on its SVG group.
    expect(page.locator(f"[data-process-diagram] g.djs-element.zt-current[data-element-id='{step}']")).to_have_count(1)
    if label:
        assert_accessible(page, f"{label}-task")
        page.locator("[data-form=decide] input[name=outcome][value=reject]").check()
        page.locator("[data-form=decide] button[type=submit]").click()  # no reasons
        expect(page.locator(".form-errors")).to_be_visible()
        assert_accessible(page, f"{label}-task-errors")
    page.locator("[data-form=decide] input[name=outcome][value=approve]").check()
    page.locator("[data-form=decide] button[type=submit]").click()
    at(page, reverse("services:task", args=[task.pk]))
    expect(page.locator("[data-task-status='done']")).to_have_count(1)


def test_staff_approve_each_step_and_the_applicant_reads_the_result(
        page: Page, live_server: Any, make_item: Callable[..., ServiceItem],
        make_application: Callable[..., Application], applicant: User, window_clerk_ca: User, approver: User,
        make_staff: Callable[..., User], city: dict[str, Any], assert_accessible: Any) -> None:
    application = make_application(make_item(), applicant)

    log_in(page, window_clerk_ca)
    claim_and_approve(page, application, "Task_accept", assert_accessible, label="clerk")
    # The step done is marked too once the next one waits.
    expect(page.locator("[data-process-diagram] g.djs-element.zt-done[data-element-id='Task_accept']")) \
        .to_have_count(1)
    log_out(page)

    log_in(page, approver)
    claim_and_approve(page, application, "Task_review", assert_accessible)
    claim_and_approve(page, application, "Task_decide", assert_accessible)
    log_out(page)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED

    log_in(page, applicant)
    page.goto(reverse("services:application", args=[application.reference]))
    expect(page.locator("[data-status=approved]")).to_be_visible()
    expect(page.locator("[data-result]")).to_be_visible()
    log_out(page)


def test_the_supervisor_sees_the_load_as_a_chart_and_a_table(
        page: Page, live_server: Any, make_item: Callable[..., ServiceItem],
        make_application: Callable[..., Application], applicant: User, make_staff: Callable[..., User],
        city: dict[str, Any], assert_accessible: Any) -> None:
    make_application(make_item(), applicant)
    lead = make_staff(department=city["bureau"])
    lead.user_permissions.add(Permission.objects.get(codename="supervise_worktask"))
    log_in(page, lead)
    page.goto(reverse("services:supervise"))
    expect(page.locator("[data-workbench-chart='steps-data'] svg")).to_have_count(1)
    expect(page.locator("table[data-table=steps] tr[data-step='Task_accept']")).to_be_visible()
    assert_accessible(page, "supervise")
