"""Record pages in a real browser: an approver logs in with the second factor, finds a person by resident ID
with a purpose and a case reference, sees masked values, and reveals one field with a reason and a case
reference; axe-core finds no serious or critical WCAG 2.1 A/AA violation on any page of the way.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.audit.models import AuditEntry
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import log_in
from zhengtong.registries.models import Registry

pytestmark = pytest.mark.browser

CASE = "2026-民-0042"


@pytest.fixture
def approver(make_staff, city) -> User:
    return make_staff(role_names=(roles.APPROVER,), department=city["bureau"], username="approver", trained=True)


def test_an_approver_finds_a_person_sees_masked_values_and_reveals_one_field(
        page: Page, approver: User, persons: Registry, assert_accessible: Callable[[Page, str], None]) -> None:
    log_in(page, approver)

    page.goto(reverse("records:index"))
    assert_accessible(page, "records-index")
    page.locator(f"main a[href='{reverse('records:find', args=['persons'])}']").click()

    expect(page).to_have_url(re.compile(re.escape(reverse("records:find", args=["persons"])) + "$"))
    assert_accessible(page, "records-find")
    find = page.locator("form[data-form=key]")
    find.locator("[name=key_resident_id]").fill(person(1))
    find.locator("[name=purpose]").fill("核验身份")
    find.locator("[name=case_reference]").fill(CASE)
    find.locator("button[type=submit]").click()

    name = page.locator("[data-field=name]")
    expect(name.locator(".record-value")).to_have_text("王**")
    expect(page.locator("[data-field=resident_id] .record-value")).to_have_text(
        person(1)[:6] + "********" + person(1)[-4:])
    expect(page.locator("main")).not_to_contain_text("王小明")
    assert_accessible(page, "records-record-masked")

    name.locator("details summary").click()
    reveal = name.locator("form[data-reveal=name]")
    expect(reveal.locator("[name=case_reference]")).to_have_value(CASE)
    reveal.locator("[name=reason]").fill("当面核对申请人身份")
    assert_accessible(page, "records-record-reveal-form")
    reveal.locator("button[type=submit]").click()

    revealed = page.locator("[data-field=name][data-revealed=true]")
    expect(revealed.locator(".record-value")).to_have_text("王小明")
    expect(page.locator("[data-revealed=true]")).to_have_count(1)
    expect(page.locator("[data-field=phone] .record-value")).to_have_text("138****8001")
    expect(page.locator("main .notice[role=status]")).to_contain_text(CASE)
    assert_accessible(page, "records-record-revealed")

    entry = AuditEntry.objects.get(action="exchange.reveal")
    assert entry.case_reference == CASE and entry.detail["revealed"] == ["name"]
    assert entry.detail["reveal_reason"] == "当面核对申请人身份" and entry.actor_id == str(approver.pk)
