"""Citizens' cases in a real browser: a citizen objects to a department's read of their record and the data
governance office answers; a citizen asks to correct their phone number with a scanned document and the
registry's data officer accepts, which corrects the record. axe-core finds no serious or critical WCAG 2.1 A/AA
violation on any page of the way, the error summary included.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from zhengtong.audit.models import AuditEntry
from zhengtong.exchange import door

# The exchange's autouse fixtures (own key files and VAR_DIR per test, no cached codecs, English messages),
# which the package's `import *` leaves out for their leading underscore.
from zhengtong.exchange.tests.conftest import _english_messages, _own_keys, person  # noqa: F401
from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import log_in, log_out
from zhengtong.privacy.models import CorrectionRequest, CorrectionStatus, Objection, ObjectionStatus
from zhengtong.registries.models import RecordChange, Registry

pytestmark = pytest.mark.browser

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def at(page: Page, url: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(url) + "$"))


def test_a_citizen_objects_to_a_read_and_the_governance_office_answers(
        page: Page, live_server: Any, persons: Registry, citizen_user: User, provider_officer: User,
        governance: User, assert_accessible: Any) -> None:
    door.read_record(door.Reader.staff(provider_officer), persons, person(1), purpose="核查户籍信息")
    entry = AuditEntry.objects.filter(action="exchange.read").latest("pk")

    log_in(page, citizen_user)
    page.goto(reverse("privacy:new-objection", args=[entry.pk]))
    assert_accessible(page, "objection-form")
    form = page.locator("main form[method=post]")
    form.locator("button[type=submit]").click()  # no reason
    expect(page.locator(".form-errors")).to_be_visible()
    assert_accessible(page, "objection-form-errors")
    page.locator("main form[method=post] [name=reason]").fill("我从未在民政局办理任何业务。")
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, reverse("privacy:check-objection", args=[entry.pk]))
    expect(page.locator("[data-answer=reason]")).to_contain_text("民政局")
    assert_accessible(page, "objection-check")
    page.locator("main [data-change=reason]").click()  # change the answer, and come back to the check page
    page.locator("main form[method=post] [name=reason]").fill("我从未在民政局办理任何业务，也未授权查询。")
    page.locator("main form[method=post] button[type=submit]").click()
    expect(page.locator("[data-answer=reason]")).to_contain_text("未授权")
    page.locator("main form[method=post] [data-submit]").click()
    objection = Objection.objects.get()
    at(page, reverse("privacy:objection-submitted", args=[objection.number]))
    expect(page.locator("[data-reference]")).to_have_text(objection.number)
    expect(page.locator(f"[data-due='{objection.due:%Y-%m-%d}']")).to_be_visible()
    assert_accessible(page, "objection-submitted")
    page.locator("main [data-track]").click()
    at(page, reverse("privacy:objection", args=[objection.number]))
    expect(page.locator("[data-status=open]")).to_be_visible()
    assert_accessible(page, "objection-detail")
    page.goto(reverse("privacy:objections"))
    expect(page.locator(f"[data-objection='{objection.number}']")).to_be_visible()
    assert_accessible(page, "objection-list")
    log_out(page)

    log_in(page, governance)
    page.goto(reverse("privacy:objection-queue"))
    assert_accessible(page, "objection-queue")
    page.locator(f"main a[href='{reverse('privacy:answer-objection', args=[objection.number])}']").click()
    assert_accessible(page, "objection-answer")
    page.locator("input[name=decision][value=dismissed]").check()
    page.locator("main form[method=post] [name=answer]").fill("依法履行职责核查户籍，查询有据。")
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, reverse("privacy:objection", args=[objection.number]))
    objection.refresh_from_db()
    assert objection.status == ObjectionStatus.DISMISSED
    log_out(page)

    log_in(page, citizen_user)
    page.goto(reverse("privacy:objection", args=[objection.number]))
    expect(page.locator("[data-answer]")).to_contain_text("查询有据")


def test_a_citizen_requests_a_correction_and_the_provider_accepts_it(
        page: Page, live_server: Any, persons: Registry, citizen_user: User, provider_officer: User,
        assert_accessible: Any) -> None:
    log_in(page, citizen_user)
    page.goto(reverse("privacy:new-correction") + "?registry=persons&field=phone")
    assert_accessible(page, "correction-target")
    form = page.locator("main form[method=post]")
    form.locator("button[type=submit]").click()  # the phone is chosen already
    form = page.locator("main form[method=post]")
    form.locator("[name=value]").fill("12345")
    form.locator("button[type=submit]").click()  # not a mobile number
    expect(page.locator(".form-errors")).to_be_visible()
    assert_accessible(page, "correction-value-errors")
    page.locator("main form[method=post] [name=value]").fill("13912345678")
    page.locator("main form[method=post] button[type=submit]").click()
    page.locator("main form[method=post] [name=reason]").fill("手机号已更换")
    page.locator("main form[method=post] button[type=submit]").click()
    assert_accessible(page, "correction-evidence")
    page.locator("main form[method=post] [name=evidence]").set_input_files(
        {"name": "proof.png", "mimeType": "image/png", "buffer": PNG})
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, reverse("privacy:check-correction"))
    expect(page.locator("[data-answer=value]")).to_contain_text("13912345678")
    assert_accessible(page, "correction-check")
    page.locator("main [data-back]").click()  # back to the evidence, which stays attached, and on again
    expect(page.locator("main [data-staged]")).to_contain_text("proof.png")
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, reverse("privacy:check-correction"))
    page.locator("main form[method=post] [data-submit]").click()
    correction = CorrectionRequest.objects.get()
    at(page, reverse("privacy:correction-submitted", args=[correction.number]))
    expect(page.locator("[data-reference]")).to_have_text(correction.number)
    assert_accessible(page, "correction-submitted")
    page.locator("main [data-track]").click()
    at(page, reverse("privacy:correction", args=[correction.number]))
    assert_accessible(page, "correction-detail")
    page.goto(reverse("privacy:corrections"))
    assert_accessible(page, "correction-list")
    log_out(page)

    log_in(page, provider_officer)
    page.goto(reverse("privacy:correction-queue"))
    assert_accessible(page, "correction-queue")
    page.locator(f"main a[href='{reverse('privacy:decide-correction', args=[correction.number])}']").click()
    expect(page.locator("[data-current]")).to_contain_text("138****8001")
    assert_accessible(page, "correction-decide")
    page.locator("input[name=decision][value=accept]").check()
    page.locator("main form[method=post] button[type=submit]").click()
    at(page, reverse("privacy:correction", args=[correction.number]))
    correction.refresh_from_db()
    assert correction.status == CorrectionStatus.ACCEPTED
    assert RecordChange.objects.get(record_id=correction.record_id).reason == correction.number
    expect(page.locator("[data-status=accepted]")).to_be_visible()
