"""My data and who used it in a real browser: a department's system has read the citizen's record; the citizen
logs in, opens the privacy center from the navigation, sees their records, finds the department's read on "who
used my data", filters by department, verifies its proof in place (htmx) — verified against the signed tree
head — and objects to the read, which the data governance office then finds in its queue. axe-core finds no
serious or critical WCAG 2.1 A/AA violation on any page of the way, elder-friendly mode included.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.audit.sequencer import Sequencer
from zhengtong.exchange.models import Grant
from zhengtong.identity.models import ApiClient, User
from zhengtong.portal.context_processors import ELDER_COOKIE
from zhengtong.portal.tests.test_browser import log_in, log_out
from zhengtong.privacy.models import Objection
from zhengtong.privacy.tests.test_data_usage import gateway_read

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _own_witness(settings: Any, tmp_path: Path) -> None:
    settings.AUDIT_WITNESS = str(tmp_path / "witness.jsonl")


def at(page: Page, url: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(url) + "(\\?.*)?$"))


def test_a_citizen_sees_their_data_and_who_used_it_and_verifies_a_read(
        page: Page, live_server: Any, citizen_user: User, make_grant: Callable[..., Grant],
        consumer_client: tuple[ApiClient, str], governance: User,
        assert_accessible: Callable[[Page, str], None]) -> None:
    make_grant()
    entry = gateway_read(consumer_client[1])
    Sequencer().step()

    log_in(page, citizen_user)
    page.locator(f"nav a[href='{reverse('privacy:index')}']").click()
    at(page, reverse("privacy:index"))
    assert_accessible(page, "privacy-center")

    page.locator(f"main a[href='{reverse('privacy:my-data')}']").click()
    at(page, reverse("privacy:my-data"))
    expect(page.locator("section[data-registry=persons] dl[data-record]")).to_have_count(1)
    expect(page.locator("main a[data-format]")).to_have_count(3)
    assert_accessible(page, "my-data")

    page.goto(reverse("privacy:usage"))
    row = page.locator(f"tr[data-entry='{entry}']")
    expect(row).to_be_visible()
    assert_accessible(page, "who-used-my-data")

    page.locator("select[name=department]").select_option("WEST-PSB")
    page.locator("main form.filters button[type=submit]").click()
    at(page, reverse("privacy:usage"))
    expect(page.locator("tr[data-entry]")).to_have_count(1)

    row.locator("button[type=submit]").click()
    expect(page.locator(f"#proof-{entry} [data-proof=verified]")).to_be_visible()
    at(page, reverse("privacy:usage"))  # verified in place, without leaving the list
    assert_accessible(page, "who-used-my-data-verified")

    page.context.add_cookies([{"name": ELDER_COOKIE, "value": "1", "url": live_server.url}])
    page.goto(reverse("privacy:verify", args=[entry]))
    expect(page.locator("main [data-proof=verified]")).to_be_visible()
    assert_accessible(page, "verify-elder")

    page.goto(reverse("privacy:usage"))
    page.locator(f"tr[data-entry='{entry}'] a[href='{reverse('privacy:new-objection', args=[entry])}']").click()
    page.locator("main form[method=post] [name=reason]").fill("我没有在该部门办理过业务。")
    page.locator("main form[method=post] button[type=submit]").click()
    page.locator("main form[method=post] [data-submit]").click()  # on the check page
    objection = Objection.objects.get()
    at(page, reverse("privacy:objection-submitted", args=[objection.number]))
    assert objection.audit_entry_id == entry
    log_out(page)

    log_in(page, governance)
    page.goto(reverse("privacy:objection-queue"))
    expect(page.locator(f"main a[href='{reverse('privacy:answer-objection', args=[objection.number])}']")
           ).to_be_visible()
