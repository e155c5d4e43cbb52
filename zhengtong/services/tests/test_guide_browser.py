"""A citizen finds a service in the guide in a real browser: searches by words, narrows by life situation, opens
the item and sees what it needs and the start of the online application. axe-core finds no serious or critical
WCAG 2.1 A/AA violation on the way.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.services.models import ItemStatus, Material, MaterialSource, ServiceItem

pytestmark = pytest.mark.browser


def test_a_citizen_searches_the_guide_and_opens_an_item(
        page: Page, live_server: Any, make_item: Callable[..., ServiceItem], city: dict[str, Any],
        assert_accessible: Any) -> None:
    licence = make_item(code="BIZ-1", name="营业执照办理", summary="开办企业，领取营业执照。", fee="",
                        life_situations=["business"], channels=["online", "window"], commitment_allowed=True)
    Material.objects.create(item=licence, code="id_card", name="身份证", source=MaterialSource.REGISTRY,
                            source_registry="persons", source_field="resident_id")
    Material.objects.create(item=licence, code="lease", name="住所使用证明", commitment_allowed=True, position=1)
    make_item(code="RES-1", name="居住证申领", life_situations=["moving"])
    make_item(code="BIZ-2", name="营业执照变更", status=ItemStatus.DRAFT, life_situations=["business"])

    page.goto(reverse("services:guide"))
    assert_accessible(page, "guide")
    page.locator("main form[role=search] [name=q]").fill("营业执照")
    page.locator("main form[role=search] button[type=submit]").click()
    expect(page.locator("[data-item]")).to_have_count(1)
    expect(page.locator("[data-item='BIZ-1']")).to_be_visible()
    assert_accessible(page, "guide-search")

    page.goto(reverse("services:guide"))
    page.locator("a[data-situation=moving]").click()
    expect(page.locator("[data-item]")).to_have_count(1)
    expect(page.locator("[data-item='RES-1']")).to_be_visible()
    page.locator("main form[role=search] [name=situation]").select_option("business")
    page.locator("main form[role=search] button[type=submit]").click()
    expect(page.locator("[data-item]")).to_have_count(1)

    page.locator("[data-item='BIZ-1'] a").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("services:guide_item", args=["BIZ-1"])) + "$"))
    expect(page.locator("[data-material='id_card'][data-source='registry']")).to_be_visible()
    expect(page.locator("[data-promised-days]")).to_contain_text("5")
    assert_accessible(page, "guide-item")
    page.locator("a[data-apply]").click()
    expect(page).not_to_have_url(re.compile(re.escape(reverse("services:guide_item", args=["BIZ-1"])) + "$"))
    assert reverse("services:apply_start", args=["BIZ-1"]) in page.url or "login" in page.url
