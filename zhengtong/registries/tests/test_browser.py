"""The registries' pages in a real browser: a data officer logs in with the second factor, defines a registry with
two fields through the form (the second row added by the "add another field" button), uploads a CSV and watches
the progress bar poll its way to done, then reads the report; axe-core finds no serious or critical WCAG 2.1
A/AA violation on the list, the definition, the define form or the import job page.

Fixtures (Chromium, `page`, `assert_accessible`) come from the portal's conftest through this directory's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.conftest import resident_id
from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import log_in
from zhengtong.registries.models import ImportJob, Record, Registry
from zhengtong.registries.tasks import run_import_job

pytestmark = pytest.mark.browser


def main_submit(page: Page) -> Any:
    """The form's own submit button (not "add another field", which has a name)."""
    return page.get_by_role("main").locator("form button[type=submit]:not([name])")


def test_a_data_officer_defines_a_registry_imports_a_csv_and_reads_the_report(
        page: Page, data_officer: User, assert_accessible: Callable[[Page, str], None]) -> None:
    log_in(page, data_officer)
    page.locator(f"nav.primary-nav a[href='{reverse('registries:list')}']").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("registries:list")) + "$"))
    assert_accessible(page, "registry-list-empty")

    page.locator(f"main a[href='{reverse('registries:new')}']").click()
    page.locator("#id_code").fill("residents")
    page.locator("#id_name").fill("居民登记")
    page.locator("#id_fields-0-name").fill("resident_id")
    page.locator("#id_fields-0-label").fill("公民身份号码")
    page.locator("#id_fields-0-validator").select_option("resident_id")
    page.locator("#id_fields-0-sensitivity").select_option("sensitive_personal")
    page.locator("#id_fields-0-level").select_option("4")
    page.locator("#id_fields-0-required").check()
    page.locator("#id_fields-0-is_key").check()
    page.locator("#id_fields-0-encrypted").check()
    page.locator("button[name=add_field]").click()

    expect(page.locator("#id_fields-1-name")).to_be_focused()
    expect(page.locator("#id_fields-0-name")).to_have_value("resident_id")
    expect(page.locator("#id_fields-0-is_key")).to_be_checked()
    expect(page.locator("#id_code")).to_have_value("residents")
    page.locator("#id_fields-1-name").fill("full_name")
    page.locator("#id_fields-1-label").fill("姓名")
    page.locator("#id_fields-1-required").check()
    assert_accessible(page, "registry-define-form")
    main_submit(page).click()

    expect(page).to_have_url(re.compile(re.escape(reverse("registries:detail", args=["residents"])) + "$"))
    registry = Registry.objects.get(code="residents")
    assert [f.name for f in registry.fields.all()] == ["resident_id", "full_name"]
    expect(page.get_by_role("main").locator("table").first.locator("tbody tr")).to_have_count(2)
    assert_accessible(page, "registry-definition")

    page.locator(f"main a[href='{reverse('registries:import', args=['residents'])}']").click()
    rows = [f"{resident_id(n)},居民{n}" for n in range(1, 4)] + ["33010619850601001,坏行"]
    page.locator("#id_file").set_input_files({
        "name": "residents.csv", "mimeType": "text/csv",
        "buffer": ("resident_id,full_name\n" + "\n".join(rows) + "\n").encode(),
    })
    page.locator("#id_quarantine").check()
    main_submit(page).click()

    expect(page).to_have_url(re.compile(r"/registries/imports/\d+/$"))
    progress = page.locator("#import-progress")
    expect(progress).to_have_attribute("data-status", "pending")
    expect(progress).to_have_attribute("hx-trigger", "every 1s")
    bar = page.locator("#import-progress-bar")
    expect(bar).to_be_visible()

    job = ImportJob.objects.get()
    run_import_job.call(job.pk)  # the worker's part, while the page keeps polling

    expect(progress).to_have_attribute("data-status", "partial", timeout=10_000)
    expect(bar).to_have_attribute("value", "100")
    expect(page.locator("#import-progress[hx-trigger]")).to_have_count(0)  # the poll has stopped
    report = progress.locator("table tbody tr")
    expect(report).to_have_count(1)
    expect(report.first).to_contain_text("resident_id")
    expect(progress.locator(f"a[href='{reverse('registries:import-rejected', args=[job.pk])}']")).to_be_visible()
    assert Record.objects.filter(registry=registry).count() == 3
    assert_accessible(page, "registry-import-job")
