"""Sharing in a real browser: the consumer department's data officer requests the persons resource from the
catalog (correcting a mistake on the way), the governance officer checks it, and the provider's data officer
grants it on narrower terms, letting the consumer's approvers reveal a value; then the consumer's approver
finds a person on the records pages, masked, and reveals one field with a reason. axe-core finds no serious or
critical WCAG 2.1 A/AA violation on any page of the way, the error summary and elder-friendly mode included.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.audit.models import AuditEntry
from zhengtong.catalog.models import Resource
from zhengtong.exchange.models import Grant, MaskingLevel, RequestStatus, SharingRequest
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.portal.context_processors import ELDER_COOKIE
from zhengtong.portal.tests.test_browser import log_in, log_out

pytestmark = pytest.mark.browser


def at(page: Page, url: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))


def test_a_department_requests_a_resource_the_provider_grants_it_and_its_staff_reveal_one_field(
        page: Page, live_server: Any, persons_resource: Resource, consumer_officer: User, governance: User,
        provider_officer: User, make_staff: Callable[..., User], city: dict[str, Any],
        assert_accessible: Callable[[Page, str], None]) -> None:
    # The consumer's data officer finds the resource and asks for it.
    log_in(page, consumer_officer)
    page.goto(reverse("catalog:resource", args=[persons_resource.pk]))
    page.locator(f"main a[href='{reverse('exchange:new-request', args=[persons_resource.pk])}']").click()
    form = page.locator("main form[method=post]")
    expect(form.locator("[name=scope-0-value]")).to_have_value("330108")  # its own division, suggested
    assert_accessible(page, "sharing-request-form")

    form.locator("[name=purpose]").fill("核查辖区户籍人口")
    form.locator("button[type=submit]").click()  # no scenario, no legal basis, no fields
    expect(page.locator(".form-errors")).to_be_visible()
    expect(page.locator("#id_scenario")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "sharing-request-form-errors")

    form.locator("[name=scenario]").fill("户籍核查业务系统")
    form.locator("[name=legal_basis]").fill("《治安管理处罚法》第十二条")
    for name in ("name", "division_code", "birth_date"):
        form.locator(f"input[name=field_names][value={name}]").check()
    form.locator("[name=expected_daily_calls]").fill("300")
    form.locator("button[type=submit]").click()
    request = SharingRequest.objects.get()
    at(page, reverse("exchange:request", args=[request.number]))
    assert request.row_filter == {"division_code": {"prefix": "330108"}}
    assert_accessible(page, "sharing-request-detail")
    log_out(page)

    # The governance office finds it in its queue and checks it.
    log_in(page, governance)
    page.goto(reverse("exchange:requests"))
    assert_accessible(page, "sharing-queue")
    page.locator(f"main a[href='{reverse('exchange:request', args=[request.number])}']").click()
    page.locator(f"main a[href='{reverse('exchange:check', args=[request.number])}']").click()
    assert_accessible(page, "sharing-check")
    page.locator("input[name=decision][value=conforms]").check()
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, reverse("exchange:request", args=[request.number]))
    request.refresh_from_db()
    assert request.status == RequestStatus.PROVIDER_REVIEW
    log_out(page)

    # The provider's data officer grants it on narrower terms, in elder-friendly mode.
    page.context.add_cookies([{"name": ELDER_COOKIE, "value": "1", "url": live_server.url}])
    log_in(page, provider_officer)
    page.goto(reverse("exchange:requests") + "?side=incoming")
    page.locator(f"main a[href='{reverse('exchange:request', args=[request.number])}']").click()
    page.locator(f"main a[href='{reverse('exchange:answer', args=[request.number])}']").click()
    expect(page.locator("html")).to_have_class(re.compile(r"(^|\s)elder(\s|$)"))
    assert_accessible(page, "sharing-answer-elder")
    answer = page.locator("main form[method=post]")
    answer.locator("input[name=decision][value=grant]").check()
    answer.locator("input[name=field_names][value=birth_date]").uncheck()
    answer.locator("input[name=masking_level][value=pseudonymised]").check()
    answer.locator("[name=rule_name]").fill("name")
    answer.locator("[name=daily_quota]").fill("100")
    answer.locator("input[name=may_reveal]").check()
    answer.locator("button[type=submit]").click()
    at(page, reverse("exchange:request", args=[request.number]))
    grant = Grant.objects.get(request=request)
    assert grant.fields == ["name", "division_code"] and grant.masking_level == MaskingLevel.PSEUDONYMISED
    assert grant.field_rules == {"name": "name"} and grant.daily_quota == 100 and grant.may_reveal

    page.locator(f"main a[href='{reverse('exchange:grant', args=[grant.number])}']").click()
    expect(page.locator("main [data-action='exchange.answer_request']")).to_have_count(1)
    assert_accessible(page, "sharing-grant-elder")
    log_out(page)
    page.context.clear_cookies()

    # The consumer's approver finds a person of its division: masked as granted, one field revealed.
    approver = make_staff(role_names=(roles.APPROVER,), trained=True, department=city["other"])
    log_in(page, approver)
    page.goto(reverse("records:find", args=["persons"]))
    find = page.locator("form[data-form=key]")
    find.locator("[name=key_resident_id]").fill(person(4))
    find.locator("[name=purpose]").fill("核查辖区户籍人口")
    find.locator("[name=case_reference]").fill("西公(治)2026-17")
    find.locator("button[type=submit]").click()
    name_row = page.locator("[data-field=name]")
    expect(name_row.locator(".record-value")).to_have_text("赵*")
    expect(page.locator("[data-field=resident_id]")).to_have_count(0)  # not granted
    name_row.locator("details summary").click()
    reveal = name_row.locator("form[data-reveal=name]")
    reveal.locator("[name=reason]").fill("核对当事人全名")
    reveal.locator("button[type=submit]").click()
    expect(page.locator("[data-field=name][data-revealed=true] .record-value")).to_have_text("赵六")
    expect(page.locator("[data-revealed=true]")).to_have_count(1)
    assert_accessible(page, "records-revealed-under-a-grant")
    entry = AuditEntry.objects.get(action="exchange.reveal")
    assert (entry.detail["grant"], entry.case_reference, entry.actor_department) == (
        grant.number, "西公(治)2026-17", "WEST-PSB")
