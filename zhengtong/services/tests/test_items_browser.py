"""Staff define a service item in a real browser: the form with a question row, an error shown in the summary
and on its field, the item page, its materials and publishing, after which the guide lists it. axe-core finds no
serious or critical WCAG 2.1 A/AA violation on any page of the way, the error summary included.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import log_in
from zhengtong.registries.models import Registry
from zhengtong.services.models import ItemStatus, ProcessDefinition, ServiceItem

pytestmark = pytest.mark.browser


def test_staff_define_and_publish_an_item(
        page: Page, live_server: Any, make_staff: Callable[..., User], city: dict[str, Any], persons: Registry,
        single_process: ProcessDefinition, assert_accessible: Any) -> None:
    definer = make_staff(role_names=(roles.PLATFORM_ADMIN,), department=city["bureau"], username="definer")
    log_in(page, definer)
    page.goto(reverse("services:item_list"))
    assert_accessible(page, "item-list")
    page.locator(f"main a[href='{reverse('services:item_new')}']").click()
    assert_accessible(page, "item-form")

    form = page.locator("main form[method=post]")
    form.locator("[name=code]").fill("CA-0300")
    form.locator("[name=name]").fill("居住证明")
    form.locator("[name=item_type]").select_option("confirmation")
    form.locator("[name=responsible_department]").select_option(str(city["bureau"].pk))
    form.locator("[name=legal_basis]").fill("《居住证暂行条例》")
    form.locator("[name=statutory_days]").fill("20")
    form.locator("[name=promised_days]").fill("30")  # longer than the statutory limit
    form.locator("[name=channels][value=online]").check()
    form.locator("[name=life_situations][value=moving]").check()
    form.locator("[name=process]").select_option(str(single_process.pk))
    form.locator("[name=questions-0-name]").fill("name")
    form.locator("[name=questions-0-label]").fill("姓名")
    form.locator("[name=questions-0-prefill]").select_option("persons.name")
    form.locator("button[type=submit]").click()
    expect(page.locator(".form-errors a[href='#id_promised_days']")).to_be_visible()
    assert_accessible(page, "item-form-errors")

    page.locator("main form[method=post] [name=promised_days]").fill("5")
    page.locator("main form[method=post] button[type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("services:item_detail", args=["CA-0300"])) + "$"))
    expect(page.locator("[data-question=name]")).to_be_visible()
    assert_accessible(page, "item-detail")

    page.locator(f"main a[href='{reverse('services:item_materials', args=['CA-0300'])}']").click()
    assert_accessible(page, "item-materials")
    page.locator("[name=materials-0-code]").fill("hukou")
    page.locator("[name=materials-0-name]").fill("户口簿")
    page.locator("[name=materials-0-source]").select_option("registry")
    page.locator("[name=materials-0-registry_field]").select_option("persons.division_code")
    page.locator("main form[method=post] button[type=submit]").click()
    expect(page.locator("[data-material=hukou]")).to_be_visible()

    page.locator(f"form[action='{reverse('services:item_publish', args=['CA-0300'])}'] button").click()
    expect(page.locator("[data-status=published]")).to_be_visible()
    assert ServiceItem.objects.get(code="CA-0300").status == ItemStatus.PUBLISHED
    page.goto(reverse("services:guide") + "?q=居住证明")
    expect(page.locator("[data-item='CA-0300']")).to_be_visible()
