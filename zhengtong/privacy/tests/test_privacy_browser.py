"""The privacy center in a real browser: a citizen goes to their consents, logs in, is asked first to accept the
privacy notice, accepts it and lands where they were going; then withdraws a consent after the page saying what
happens. axe-core finds no serious or critical WCAG 2.1 A/AA violation on the notice, accept and consent pages.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.catalog.models import Resource
from zhengtong.conftest import PASSWORD
from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import log_in
from zhengtong.privacy.actions import consent as consent_actions
from zhengtong.privacy.demo_notices import seed_notices
from zhengtong.privacy.models import ConsentState, DataAgreement, NoticeAcceptance
from zhengtong.privacy.queries import consent as consent_queries

pytestmark = pytest.mark.browser

PURPOSE = "办理居住证"


def at(page: Page, url: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))


@pytest.fixture
def agreement(governance: User, persons_resource: Any, city: dict[str, Any]) -> DataAgreement:
    published, _revision = consent_actions.publish_agreement(governance, consent_actions.AgreementInput(
        resource=persons_resource, consumer=city["other"], purpose=PURPOSE, data_elements=["name", "phone"],
        purpose_description="核对申请人的姓名和联系电话。", consent_days=365))
    return published


def test_a_citizen_accepts_the_notice_on_the_way_in_and_withdraws_a_consent(
        page: Page, citizen_user: User, governance: User, agreement: DataAgreement,
        assert_accessible: Callable[[Page, str], None]) -> None:
    seed_notices(seed=1)
    consent_actions.give_consent(citizen_user, agreement, consent_actions.individual_for(citizen_user.citizen))

    page.goto(reverse("privacy:notice"))
    expect(page.locator("main h1")).to_be_visible()
    assert_accessible(page, "privacy-notice")

    # Going to their consents, the citizen logs in, then is asked to accept the notice first.
    page.goto(reverse("privacy:consents"))
    page.locator("input[name=username]").fill(citizen_user.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("privacy:accept")) + r"\?next="))
    assert_accessible(page, "privacy-accept")
    page.locator(f"main form[action='{reverse('privacy:accept')}'] button[type=submit]").click()
    at(page, reverse("privacy:consents"))
    assert NoticeAcceptance.objects.filter(user=citizen_user).count() == 1
    assert_accessible(page, "privacy-consents")

    # The citizen opens the agreement and withdraws, after the page that says what happens.
    detail = reverse("privacy:consent", args=[agreement.public_id])
    page.locator(f"main a[href='{detail}']").click()
    at(page, detail)
    assert_accessible(page, "privacy-consent-detail")
    withdraw = reverse("privacy:withdraw-consent", args=[agreement.public_id])
    page.locator(f"main a[href='{withdraw}']").click()
    at(page, withdraw)
    assert_accessible(page, "privacy-consent-withdraw")
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, detail)
    expect(page.locator(f"main a[href='{withdraw}']")).to_have_count(0)
    state = consent_queries.citizen_agreement(citizen_user.citizen, agreement.public_id)
    assert state is not None and state.state == ConsentState.WITHDRAWN


def test_the_governance_office_publishes_an_agreement_and_sees_its_versions(
        page: Page, governance: User, persons_resource: Resource, city: dict[str, Any],
        assert_accessible: Callable[[Page, str], None]) -> None:
    seed_notices(seed=1)  # staff are not asked to accept it
    log_in(page, governance)
    page.goto(reverse("privacy:notices"))
    assert_accessible(page, "privacy-notices-manage")
    page.goto(reverse("privacy:agreements"))
    assert_accessible(page, "privacy-agreements")
    page.locator(f"main a[href='{reverse('privacy:new-agreement')}']").click()
    page.locator("select[name=resource]").select_option(str(persons_resource.pk))
    page.locator("main form button[type=submit]").click()
    form = page.locator("main form[method=post]")
    form.locator("select[name=consumer]").select_option(str(city["other"].pk))
    form.locator("input[name=purpose]").fill(PURPOSE)
    form.locator("button[type=submit]").click()  # no field chosen
    expect(page.locator(".form-errors")).to_be_visible()
    assert_accessible(page, "privacy-agreement-form-errors")
    form.locator("input[name=data_elements][value=name]").check()
    form.locator("button[type=submit]").click()
    agreement = DataAgreement.objects.get()
    at(page, reverse("privacy:agreement", args=[agreement.public_id]))
    assert_accessible(page, "privacy-agreement-detail")
