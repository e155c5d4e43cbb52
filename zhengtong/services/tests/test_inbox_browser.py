"""The inbox in a real browser: a citizen opens an unread notification (which marks it read), follows it back to
the inbox and marks the rest read. axe-core finds no serious or critical WCAG 2.1 A/AA violation on the way,
in normal and elder-friendly mode.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import log_in, use_mode
from zhengtong.services.models import Notification
from zhengtong.services.notify import notify

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("mode", ["normal", "elder"])
def test_a_citizen_reads_their_notifications(page: Page, live_server: Any, citizen_user: User,
                                             assert_accessible: Any, mode: str) -> None:
    use_mode(page, live_server, mode)
    [first] = notify([citizen_user], "您的申请 ABCD2345 已受理", "市民政局已受理您的申请，将在 5 个工作日内作出决定。",
                     link=reverse("portal:home"))
    [second] = notify([citizen_user], "请补正材料", "请上传户口簿首页。")
    log_in(page, citizen_user)

    page.goto(reverse("services:inbox"))
    expect(page.locator("[data-unread='2']")).to_be_visible()
    assert_accessible(page, f"inbox-{mode}")
    page.locator(f"[data-notification='{first.pk}'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("services:notification", args=[first.pk])) + "$"))
    expect(page.locator("[data-read=yes]")).to_be_visible()
    expect(page.locator("[data-body]")).to_contain_text("5 个工作日")
    assert_accessible(page, f"notification-{mode}")
    assert Notification.objects.get(pk=first.pk).read_at is not None

    page.locator(f"main a[href='{reverse('services:inbox')}']").click()
    expect(page.locator("[data-unread='1']")).to_be_visible()
    expect(page.locator(f"[data-notification='{first.pk}'] a")).to_be_visible()  # read: a plain link now
    page.locator(f"form[action='{reverse('services:inbox-read-all')}'] button").click()
    expect(page.locator("[data-unread='0']")).to_be_visible()
    expect(page.locator(".message--success")).to_be_visible()
    assert_accessible(page, f"inbox-all-read-{mode}")
    assert Notification.objects.get(pk=second.pk).read_at is not None
