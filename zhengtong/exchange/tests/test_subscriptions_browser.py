"""Subscriptions in a real browser: the consumer's data officer finds the subscriptions in the navigation,
subscribes its system to a grant (correcting a mistake on the way), sees a delivery refused by the receiver on
the dead-letter list, and replays it once the receiver is fixed. axe-core finds no serious or critical WCAG 2.1
A/AA violation on any page of the way, the error summary and elder-friendly mode included.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.exchange.models import EventStatus, Grant, Subscription
from zhengtong.exchange.tasks import collect_subscription_changes, deliver_webhooks
from zhengtong.exchange.tests.test_subscriptions import Receiver, change, receiver  # noqa: F401 (fixture)
from zhengtong.identity.models import ApiClient, User
from zhengtong.portal.context_processors import ELDER_COOKIE
from zhengtong.portal.tests.test_browser import log_in
from zhengtong.registries.models import Registry

pytestmark = pytest.mark.browser


def test_a_data_officer_subscribes_a_system_and_replays_a_dead_letter(
        page: Page, live_server: Any, persons: Registry, make_grant: Callable[..., Grant],
        consumer_client: tuple[ApiClient, str], consumer_officer: User, receiver: Receiver,  # noqa: F811
        assert_accessible: Callable[[Page, str], None]) -> None:
    grant = make_grant(fields=("name", "division_code"))
    log_in(page, consumer_officer)
    page.locator(f"nav a[href='{reverse('exchange:subscriptions')}']").first.click()
    assert_accessible(page, "subscriptions-empty")
    page.locator("main a[data-action=new-subscription]").click()
    page.locator(f"main [data-grant='{grant.number}'] a").click()
    assert_accessible(page, "subscription-form")

    form = page.locator("main form[method=post]")
    form.locator("input[name=mode][value=webhook]").check()
    form.locator("button[type=submit]").click()  # no fields, no URL
    expect(page.locator(".form-errors")).to_be_visible()
    assert_accessible(page, "subscription-form-errors")
    form = page.locator("main form[method=post]")
    form.locator("input[name=field_names][value=name]").check()
    form.locator("input[name=mode][value=webhook]").check()
    form.locator("[name=webhook_url]").fill(receiver.url)
    form.locator("button[type=submit]").click()
    subscription = Subscription.objects.get()
    expect(page).to_have_url(re.compile(re.escape(reverse("exchange:subscription", args=[subscription.number]))
                                        + "$"))
    assert subscription.fields == ["name"] and subscription.webhook_url == receiver.url

    # The receiver refuses the first delivery; it lies on the dead-letter list.
    receiver.answers = [400]
    change(persons, 4, name="赵陆")
    collect_subscription_changes.call()
    deliver_webhooks.call()
    page.context.add_cookies([{"name": ELDER_COOKIE, "value": "1", "url": live_server.url}])
    page.reload()
    dead_row = page.locator("main [data-dead-letter='1']")
    expect(dead_row).to_contain_text("400")
    assert_accessible(page, "subscription-dead-letter-elder")

    dead_row.locator("button[type=submit]").click()
    expect(page.locator("main [data-dead-letter]")).to_have_count(0)
    deliver_webhooks.call()
    page.reload()
    expect(page.locator("main [data-event='1']")).to_have_attribute("data-status", EventStatus.DELIVERED)
    assert len(receiver.received) == 2
    assert_accessible(page, "subscription-delivered-elder")
