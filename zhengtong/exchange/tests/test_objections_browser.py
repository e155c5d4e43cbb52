"""Data objections in a real browser: the consumer's data officer reports a wrong value by the record's key
(correcting a mistake on the way), the provider's data officer answers that it is right, the consumer escalates,
and the governance office settles that it is wrong, which sends it back to the provider to correct. axe-core finds
no serious or critical WCAG 2.1 A/AA violation on any page of the way, the error summary included.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.core import calendar
from zhengtong.exchange.models import DataObjection, Grant, ObjectionStatus
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import log_in, log_out
from zhengtong.registries.models import Registry

pytestmark = pytest.mark.browser


def log_in_again(page: Page, user: User) -> None:
    """A second login of the same person: a code already used is refused as a replay, and the test may come back
    within the same 30-second step, so the guard's memory of the last step is cleared first."""
    User.objects.filter(pk=user.pk).update(totp_last_step=0)
    log_in(page, user)


def at(page: Page, url: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))


def test_report_answer_escalate_settle_and_correct(page: Page, live_server: Any, persons: Registry,
                                                   make_grant: Callable[..., Grant], consumer_officer: User,
                                                   provider_officer: User, governance: User,
                                                   assert_accessible: Callable[[Page, str], None]) -> None:
    make_grant(valid_from=dt.date.today() - dt.timedelta(days=1))
    # The live server runs in this process: load the calendar's holiday tables (once per process, slow on a busy
    # machine) before the clicks that wait on a deadline being counted.
    calendar.add_working_days(dt.date.today(), 10)
    log_in(page, consumer_officer)
    page.goto(reverse("exchange:new-objection", args=["persons"]))
    form = page.locator("main form[method=post]")
    assert_accessible(page, "objection-form")
    form.locator("[name=key_resident_id]").fill(person(4))
    form.locator("[name=field]").select_option("phone")
    form.locator("button[type=submit]").click()  # no value, no reason
    expect(page.locator(".form-errors")).to_be_visible()
    assert_accessible(page, "objection-form-errors")
    form.locator("[name=proposed_value]").fill("13900139004")
    form.locator("[name=description]").fill("本人新登记的手机号码与库中不一致。")
    form.locator("button[type=submit]").click()
    objection = DataObjection.objects.get()
    at(page, reverse("exchange:objection", args=[objection.number]))
    assert_accessible(page, "objection-detail")
    log_out(page)

    log_in(page, provider_officer)
    page.goto(reverse("exchange:objections") + "?side=incoming")
    assert_accessible(page, "objection-list")
    page.locator(f"main a[href='{reverse('exchange:objection', args=[objection.number])}']").click()
    page.locator(f"main a[href='{reverse('exchange:answer-objection', args=[objection.number])}']").click()
    assert_accessible(page, "objection-answer")
    page.locator("[name=explanation]").fill("经核实，库中号码经本人确认。")
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, reverse("exchange:objection", args=[objection.number]))
    log_out(page)

    log_in_again(page, consumer_officer)
    page.goto(reverse("exchange:objection", args=[objection.number]))
    page.locator(f"main a[href='{reverse('exchange:escalate-objection', args=[objection.number])}']").click()
    page.locator("[name=grounds]").fill("本人持有入网证明。")
    page.locator("main form[method=post] button[type=submit]").click()
    log_out(page)

    log_in(page, governance)
    page.goto(reverse("exchange:objections"))
    page.locator(f"main a[href='{reverse('exchange:objection', args=[objection.number])}']").click()
    page.locator(f"main a[href='{reverse('exchange:settle-objection', args=[objection.number])}']").click()
    assert_accessible(page, "objection-settle")
    page.locator("input[name=decision][value=wrong]").check()
    page.locator("[name=settlement]").fill("以入网证明为准。")
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, reverse("exchange:objection", args=[objection.number]))
    expect(page.locator("main [data-action='exchange.settle_objection']")).to_have_count(1)
    log_out(page)

    log_in_again(page, provider_officer)
    page.goto(reverse("exchange:correct-objection", args=[objection.number]))
    expect(page.locator("[name=value]")).to_have_value("13900139004")
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, reverse("exchange:objection", args=[objection.number]))
    expect(page.locator("main [data-status=corrected]")).to_have_count(1)
    assert_accessible(page, "objection-corrected")
    objection.refresh_from_db()
    assert objection.status == ObjectionStatus.CORRECTED
