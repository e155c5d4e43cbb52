"""The catalog in a real browser: a data officer logs in with the second factor, searches the catalog, opens a
resource and registers its rights, correcting a mistake on the way; axe-core finds no serious or critical WCAG
2.1 A/AA violation on any page of the way, the error summary included.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.catalog.models import Resource, RightsRegistration
from zhengtong.conftest import credit_code
from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import log_in

pytestmark = pytest.mark.browser


def test_a_data_officer_finds_a_resource_and_registers_its_rights(
        page: Page, officer: User, published: Resource, assert_accessible: Callable[[Page, str], None],
        make_resource: Callable[..., Any]) -> None:
    make_resource(name="另一个接口", category_code="005", publish=True)
    code = published.code
    assert code is not None
    log_in(page, officer)

    page.goto(reverse("catalog:list"))
    assert_accessible(page, "catalog-list")
    search = page.locator("form.filters")
    search.locator("input[name=q]").fill(code)
    search.locator("button[type=submit]").click()
    results = page.locator("main table tbody")
    expect(results.locator("tr")).to_have_count(1)
    results.locator(f"a[href='{reverse('catalog:resource', args=[published.pk])}']").click()

    expect(page).to_have_url(re.compile(re.escape(reverse("catalog:resource", args=[published.pk])) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(published.name)
    expect(page.locator("main")).to_contain_text(code)
    assert_accessible(page, "catalog-resource")
    page.locator(f"a[href='{reverse('catalog:register-rights', args=[published.pk])}']").click()

    form = page.locator("main form[method=post]")
    assert_accessible(page, "catalog-register-rights")
    form.locator("button[type=submit]").click()  # nothing filled in: the summary names what is missing
    expect(page.locator(".form-errors")).to_be_visible()
    expect(page.locator("#id_source_system")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "catalog-register-rights-errors")

    form.locator("[name=source_system]").fill("婚姻登记管理信息系统")
    form.locator("[name=collection_legal_basis]").fill("《婚姻登记条例》")
    form.locator("[name=holders-0-right]").select_option("operation")
    form.locator("[name=holders-0-name]").fill("云溪数据运营有限公司")
    form.locator("[name=holders-0-credit_code]").fill(credit_code(77, prefix="91"))
    form.locator("button[type=submit]").click()

    registration = RightsRegistration.objects.get()
    expect(page).to_have_url(re.compile(re.escape(reverse("catalog:registration", args=[registration.number])) + "$"))
    expect(page.locator("main [data-verification=valid]")).to_have_count(1)
    expect(page.locator("main")).to_contain_text("云溪数据运营有限公司")
    assert_accessible(page, "catalog-registration")


def test_a_data_officer_describes_an_api_without_javascript(
        page: Page, officer: User, assert_accessible: Callable[[Page, str], None]) -> None:
    log_in(page, officer)
    page.goto(reverse("catalog:create"))
    assert_accessible(page, "catalog-create")
    form = page.locator("main form[method=post]")
    form.locator("[name=name]").fill("不动产登记查询")
    form.locator("[name=summary]").fill("按不动产单元号查询登记信息。")
    form.locator("[name=item_code]").fill("05")
    form.locator("[name=category_code]").fill("001")
    form.locator("[name=update_cycle]").select_option("daily")
    form.locator("input[name=sharing_type][value=none]").check()
    form.locator("input[name=opening_type][value=closed]").check()
    form.locator("[name=endpoint_url]").fill("https://api.example.gov.cn/estate/v1/units")
    form.locator("[name=service_description]").fill("GET /units/{id}")
    form.locator("[name=items-0-name]").fill("unit_id")
    form.locator("[name=items-0-label]").fill("不动产单元号")
    form.locator("[name=items-0-type]").select_option("text")
    form.locator("button[type=submit]").click()  # not shared, but without its legal basis
    expect(page.locator("#id_legal_basis")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "catalog-create-errors")

    form.locator("[name=legal_basis]").fill("《不动产登记暂行条例》第二十七条")
    form.locator("button[type=submit]").click()
    resource = Resource.objects.get()
    expect(page).to_have_url(re.compile(re.escape(reverse("catalog:resource", args=[resource.pk])) + "$"))
    assert resource.code == "305001/000001" and resource.sharing_type == "none"
