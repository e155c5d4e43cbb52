"""Usage statistics in a real browser: the governance officer opens the page from the navigation, ECharts draws the
three charts, each chart's figures are in a table and a summary, a filter narrows the figures to one consumer, and
a period given the wrong way round is named in the error summary. axe-core finds no serious or critical WCAG 2.1
A/AA violation, with the charts drawn, the tables opened, the error summary shown, and in elder-friendly mode.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from zhengtong.catalog.models import Resource
from zhengtong.exchange.middleware import Call, record_call
from zhengtong.exchange.models import Outcome
from zhengtong.identity.models import Department, User
from zhengtong.portal.tests.test_browser import elder_toggle, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def usage(persons_resource: Resource, city: dict[str, Any]) -> None:
    """A week of calls of WEST-PSB to CITY-CA's persons resource, and refusals of EAST-CA."""
    today = timezone.localdate()
    for days_ago in range(7):
        day = today - dt.timedelta(days=days_ago)
        for n in range(10 + days_ago):
            record_call(Call(city["other"].pk, Outcome.OK, resource_id=persons_resource.pk), day=day,
                        latency_ms=5 + 7 * n)
        record_call(Call(city["branch"].pk, Outcome.REFUSED, "no_grant", resource_id=persons_resource.pk),
                    day=day, latency_ms=2)
    record_call(Call(city["other"].pk, Outcome.ERROR, "server_error", resource_id=persons_resource.pk),
                day=today, latency_ms=900)


def test_the_governance_officer_reads_the_usage_charts_and_narrows_them(
        page: Page, live_server: Any, usage: None, governance: User, city: dict[str, Any],
        assert_accessible: Callable[[Page, str], None]) -> None:
    log_in(page, governance)
    page.locator(f"nav a[href='{reverse('exchange:usage')}']").click()
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("[data-figure=calls] .stat__value")).to_have_text(str(sum(range(10, 17)) + 7 + 1))
    for chart in ("calls-data", "reasons-data", "latency-data"):
        expect(page.locator(f"[data-usage-chart={chart}].chart--drawn svg")).to_have_count(1)
    assert_accessible(page, "usage")

    for summary in page.locator("details > summary").all():
        summary.click()
    expect(page.locator("table[data-table=days] tbody tr")).to_have_count(30)
    expect(page.locator("table[data-table=reasons] tr[data-reason=no_grant] td.numeric")).to_have_text("7")
    assert_accessible(page, "usage-tables")

    page.locator("select[name=consumer]").select_option(str(city["branch"].pk))
    page.locator("select[name=period]").select_option("7")
    page.locator("form.filters button[type=submit]").click()
    expect(page.locator("[data-figure=calls] .stat__value")).to_have_text("7")
    expect(page.locator("[data-figure=refused] .stat__value")).to_have_text("7")

    page.locator("select[name=period]").select_option("custom")
    page.locator("input[name=start]").fill("2026-11-20")
    page.locator("input[name=end]").fill("2026-11-01")
    page.locator("form.filters button[type=submit]").click()
    expect(page.locator(".form-errors a[href='#id_end']")).to_have_count(1)
    assert_accessible(page, "usage-errors")

    elder_toggle(page).click()
    page.goto(reverse("exchange:usage"))
    expect(page.locator("html.elder")).to_have_count(1)
    expect(page.locator("[data-usage-chart=calls-data].chart--drawn svg")).to_have_count(1)
    assert_accessible(page, "usage-elder")


def test_a_data_officer_sees_only_their_departments_calls(page: Page, live_server: Any, usage: None,
                                                          consumer_officer: User, city: dict[str, Any],
                                                          assert_accessible: Callable[[Page, str], None]) -> None:
    log_in(page, consumer_officer)
    page.goto(reverse("exchange:usage"))
    expect(page.locator("[data-figure=calls] .stat__value")).to_have_text(str(sum(range(10, 17)) + 1))
    consumers = page.locator("select[name=consumer] option")
    expect(consumers).to_have_count(2)  # "any consumer" and WEST-PSB itself
    assert not Department.objects.filter(pk=city["branch"].pk, name__in=consumers.all_inner_texts()).exists()
    assert_accessible(page, "usage-data-officer")
