"""The portal in a real browser: citizens and staff log in through the real forms (staff with their TOTP code),
switch language, turn on elder-friendly mode and keep it, reach the main content from the keyboard, and axe-core
finds no serious or critical WCAG 2.1 A/AA violation on the pages people land on, in either mode.

Fixtures (Chromium, `page`, `assert_accessible`) are in this directory's conftest.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.audit import anomalies
from zhengtong.audit.actions import Actor, record_alone
from zhengtong.conftest import PASSWORD, resident_id
from zhengtong.core.masking import mask_resident_id
from zhengtong.identity import roles
from zhengtong.identity.models import DataScope, User
from zhengtong.portal.context_processors import ELDER_COOKIE

pytestmark = pytest.mark.browser

MODES = ["default", "elder"]
ELDER_CLASS = re.compile(r"(^|\s)elder(\s|$)")
CJK = re.compile(r"[\u4e00-\u9fff]")


# ---- helpers ------------------------------------------------------------------------------------------------


def submit(page: Page) -> None:
    """Press the one button of the form in the page's main content (its label depends on the language)."""
    page.get_by_role("main").get_by_role("button").click()


def enter_password(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto(reverse("identity:login"))
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    submit(page)


def enter_code(page: Page, user: User) -> None:
    expect(page).to_have_url(re.compile(re.escape(reverse("identity:login-code")) + "$"))
    page.locator("input[name=code]").fill(pyotp.TOTP(user.totp_secret).now())
    submit(page)


def log_in(page: Page, user: User) -> None:
    """Log in through the real forms, with the second factor for staff, and land on the dashboard."""
    enter_password(page, user.username)
    if user.totp_secret:
        enter_code(page, user)
    expect(page).to_have_url(re.compile(re.escape(reverse("portal:dashboard")) + "$"))


def log_out(page: Page) -> None:
    page.locator(f"form[action='{reverse('identity:logout')}']").get_by_role("button").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("portal:home")) + "$"))


def elder_toggle(page: Page) -> Any:
    toggle = page.locator("button[aria-pressed]")  # the page's one toggle button
    expect(toggle).to_have_count(1)
    return toggle


def use_mode(page: Page, live_server: Any, mode: str) -> None:
    """Elder mode for this browser, as the toggle leaves it: a cookie."""
    if mode == "elder":
        page.context.add_cookies([{"name": ELDER_COOKIE, "value": "1", "url": live_server.url}])


def check(page: Page, assert_accessible: Callable[[Page, str], None], label: str, mode: str) -> None:
    html = page.locator("html")
    if mode == "elder":
        expect(html).to_have_class(ELDER_CLASS)
    else:
        expect(html).not_to_have_class(ELDER_CLASS)
    assert_accessible(page, f"{label}-{mode}")


def text_metrics(page: Page) -> dict[str, float]:
    return page.evaluate("""() => {
        const style = getComputedStyle(document.body);
        const size = parseFloat(style.fontSize);
        return {size: size, ratio: parseFloat(style.lineHeight) / size};
    }""")


@pytest.fixture
def staff_user(make_staff: Callable[..., User]) -> User:
    return make_staff(role_names=(roles.WINDOW_STAFF,))


# ---- logging in ---------------------------------------------------------------------------------------------


def test_citizen_logs_in_and_sees_their_masked_id(page: Page, citizen_user: User) -> None:
    log_in(page, citizen_user)

    full_id = resident_id(1)
    expect(page.get_by_role("main").get_by_text(mask_resident_id(full_id), exact=True)).to_be_visible()
    assert full_id not in page.content()


def test_staff_member_logs_in_with_password_then_totp_code(page: Page, staff_user: User) -> None:
    enter_password(page, staff_user.username)
    enter_code(page, staff_user)

    expect(page).to_have_url(re.compile(re.escape(reverse("portal:dashboard")) + "$"))
    main = page.get_by_role("main")
    expect(main.get_by_text(staff_user.staff.employee_number, exact=True)).to_be_visible()
    expect(main.get_by_text(staff_user.staff.department.name, exact=True)).to_be_visible()


# ---- language -----------------------------------------------------------------------------------------------


def test_switching_language_to_english_and_back(page: Page, citizen_user: User) -> None:
    log_in(page, citizen_user)
    html = page.locator("html")
    navigation = page.locator("nav.primary-nav")
    expect(html).to_have_attribute("lang", re.compile(r"^zh"))

    page.get_by_role("button", name="English", exact=True).click()
    expect(html).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(re.escape(reverse("portal:dashboard")) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My dashboard")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Departments")).to_be_visible()
    expect(page.get_by_role("button", name="English", exact=True)).to_have_attribute("aria-current", "true")

    page.get_by_role("button", name="简体中文", exact=True).click()
    expect(html).to_have_attribute("lang", re.compile(r"^zh"))
    expect(page.get_by_role("heading", level=1)).not_to_have_text("My dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text(CJK)
    expect(navigation.get_by_role("link", name="Departments", exact=True)).to_have_count(0)
    expect(navigation).to_contain_text(CJK)


# ---- elder-friendly mode ------------------------------------------------------------------------------------


def test_elder_mode_enlarges_text_and_is_kept_on_the_account(page: Page, citizen_user: User) -> None:
    log_in(page, citizen_user)
    html = page.locator("html")
    expect(html).not_to_have_class(ELDER_CLASS)
    expect(elder_toggle(page)).to_have_attribute("aria-pressed", "false")

    elder_toggle(page).click()
    expect(html).to_have_class(ELDER_CLASS)
    expect(elder_toggle(page)).to_have_attribute("aria-pressed", "true")
    metrics = text_metrics(page)
    assert metrics["size"] >= 20, metrics
    assert metrics["ratio"] >= 1.3, metrics
    citizen_user.refresh_from_db()
    assert citizen_user.elder_mode

    page.reload()
    expect(html).to_have_class(ELDER_CLASS)
    expect(elder_toggle(page)).to_have_attribute("aria-pressed", "true")

    log_out(page)
    expect(html).to_have_class(ELDER_CLASS)  # this browser remembers it

    page.context.clear_cookies()  # another browser: only the account remembers it now
    page.reload()
    expect(html).not_to_have_class(ELDER_CLASS)
    log_in(page, citizen_user)
    expect(html).to_have_class(ELDER_CLASS)
    expect(elder_toggle(page)).to_have_attribute("aria-pressed", "true")

    elder_toggle(page).click()
    expect(html).not_to_have_class(ELDER_CLASS)
    expect(elder_toggle(page)).to_have_attribute("aria-pressed", "false")
    citizen_user.refresh_from_db()
    assert not citizen_user.elder_mode


# ---- accessibility (axe-core, WCAG 2.1 A and AA) ------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("url_name", ["portal:home", "identity:login", "portal:departments", "portal:calendar"])
def test_public_page_is_accessible(page: Page, live_server: Any, city: dict[str, Any],
                                   assert_accessible: Callable[[Page, str], None], url_name: str, mode: str) -> None:
    use_mode(page, live_server, mode)
    page.goto(reverse(url_name))
    check(page, assert_accessible, url_name.split(":")[1], mode)


@pytest.mark.parametrize("mode", MODES)
def test_citizen_dashboard_is_accessible(page: Page, live_server: Any, citizen_user: User,
                                         assert_accessible: Callable[[Page, str], None], mode: str) -> None:
    use_mode(page, live_server, mode)
    log_in(page, citizen_user)
    check(page, assert_accessible, "citizen-dashboard", mode)


@pytest.mark.parametrize("mode", MODES)
def test_staff_code_page_and_dashboard_are_accessible(page: Page, live_server: Any, staff_user: User,
                                                      assert_accessible: Callable[[Page, str], None],
                                                      mode: str) -> None:
    use_mode(page, live_server, mode)
    enter_password(page, staff_user.username)
    expect(page).to_have_url(re.compile(re.escape(reverse("identity:login-code")) + "$"))
    check(page, assert_accessible, "staff-code", mode)
    enter_code(page, staff_user)
    expect(page).to_have_url(re.compile(re.escape(reverse("portal:dashboard")) + "$"))
    check(page, assert_accessible, "staff-dashboard", mode)


@pytest.mark.parametrize("mode", MODES)
def test_leader_dashboard_with_its_charts_is_accessible(page: Page, live_server: Any, citizen_user: User,
                                                        make_staff: Callable[..., User],
                                                        assert_accessible: Callable[[Page, str], None],
                                                        mode: str) -> None:
    leader = make_staff(role_names=(roles.LEADER,))
    use_mode(page, live_server, mode)
    log_in(page, leader)
    charts = page.locator("[data-chart]")
    expect(charts).to_have_count(2)
    for index in range(2):  # drawn by ECharts, as SVG
        expect(charts.nth(index).locator("svg")).to_be_visible()
    check(page, assert_accessible, "leader-dashboard", mode)


@pytest.mark.parametrize("mode", MODES)
def test_auditor_login_history_is_accessible(page: Page, live_server: Any, make_staff: Callable[..., User],
                                             assert_accessible: Callable[[Page, str], None], mode: str) -> None:
    auditor = make_staff(role_names=(roles.AUDITOR,))
    use_mode(page, live_server, mode)
    log_in(page, auditor)
    check(page, assert_accessible, "auditor-dashboard", mode)
    page.goto(reverse("identity:login-events"))
    expect(page.get_by_role("main").locator("tbody tr").first).to_contain_text(auditor.username)
    check(page, assert_accessible, "login-events", mode)


def test_the_accessibility_check_catches_serious_violations(page: Page,
                                                            assert_accessible: Callable[[Page, str], None]) -> None:
    """The check above is not vacuous: a missing alt text (critical) and grey-on-white text (serious) fail it."""
    page.set_content('<!DOCTYPE html><html lang="en"><head><title>Bad page</title></head><body><main>'
                     '<h1>Bad page</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
                     '<p style="color:#c8c8c8;background:#fff">Hard to read</p></main></body></html>')
    with pytest.raises(pytest.fail.Exception) as failure:
        assert_accessible(page, "deliberately-broken")
    assert "image-alt (critical)" in str(failure.value)
    assert "color-contrast (serious)" in str(failure.value)


# ---- keyboard -----------------------------------------------------------------------------------------------


def test_first_tab_reaches_the_skip_link_which_moves_focus_to_main(page: Page) -> None:
    page.goto(reverse("portal:home"))
    skip_link = page.locator("a[href='#main']")

    page.keyboard.press("Tab")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()

    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()


# A window clerk as the audit trail records actors: plain values.
CLERK = Actor("staff", "17", "窗口员工甲", "EAST-CA", "window_staff")


@pytest.mark.parametrize("mode", ["default", "elder"])
def test_audit_pages_are_accessible(page, live_server, make_staff, assert_accessible, mode):
    auditor = make_staff(role_names=(roles.AUDITOR,), data_scope=DataScope.ALL)
    entry = record_alone("exchange.reveal", CLERK, subjects=[resident_id(1)], fields=["name"], detail={"a": 1})
    for i in range(60):
        record_alone("test.thing", CLERK, object_id=str(i))
    now = dt.datetime.now(dt.UTC)
    anomalies.evaluate_anomalies(now - dt.timedelta(hours=2), now + dt.timedelta(minutes=1))
    use_mode(page, live_server, mode)
    log_in(page, auditor)
    check(page, assert_accessible, "auditor-dashboard-alerts", mode)
    page.goto(reverse("audit:search") + "?action=test.*&until=2099-01-01T00:00")
    check(page, assert_accessible, "audit-search", mode)
    page.goto(reverse("audit:search") + "?since=2099-01-01T00:00&until=2000-01-01T00:00")
    check(page, assert_accessible, "audit-search-errors", mode)
    page.goto(reverse("audit:entry", args=[entry.pk]))
    check(page, assert_accessible, "audit-entry", mode)
    page.goto(reverse("audit:alerts"))
    check(page, assert_accessible, "audit-alerts", mode)
    page.get_by_role("main").locator("form[method=post] button").first.click()
    expect(page.locator(".message--success")).to_be_visible()
    check(page, assert_accessible, "audit-alerts-after", mode)
