"""A citizen applies in a real browser, end to end: the start page, a question refused then answered, an
upload, the check page with the held value and its source, a changed answer, submission, the confirmation
with its reference, and tracking it. axe-core finds no serious or critical WCAG 2.1 A/AA violation on any page
of the way (error summaries included), and one page is checked again in elder-friendly mode.

Selectors avoid visible words, so the test holds in either language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

# The exchange's autouse fixtures (own key files and VAR_DIR per test, no cached codecs, English messages).
from zhengtong.exchange.tests.conftest import _english_messages, _own_keys  # noqa: F401
from zhengtong.identity.models import User
from zhengtong.portal.tests.test_browser import elder_toggle, log_in
from zhengtong.services.models import Application, ApplicationStatus, Material, ServiceItem

pytestmark = pytest.mark.browser

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
FORM = [
    {"name": "name", "label": "姓名", "type": "text", "required": True,
     "prefill": {"registry": "persons", "field": "name"}},
    {"name": "reason", "label": "申请事由", "type": "text", "required": True, "hint": "例如：子女入学"},
    {"name": "owner", "label": "是否户主", "type": "yes_no", "required": True},
]


def at(page: Page, url: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(url) + r"(\?.*)?$"))


def continue_(page: Page) -> None:
    page.locator("main form[method=post] [data-continue]").click()


def test_a_citizen_applies_end_to_end(page: Page, live_server: Any, applicant: User,
                                      make_item: Callable[..., ServiceItem], assert_accessible: Any) -> None:
    item = make_item(form=FORM)
    Material.objects.create(item=item, code="photo", name="近期照片")
    log_in(page, applicant)

    page.goto(reverse("services:apply_start", args=[item.code]))
    assert_accessible(page, "apply-start")
    page.locator("main [data-start]").click()
    draft = Application.objects.get(applicant=applicant)
    at(page, reverse("services:apply_question", args=[draft.pk, "reason"]))  # the held name is not asked
    assert_accessible(page, "apply-question")
    continue_(page)  # no answer
    expect(page.locator(".form-errors a[href='#id_reason']")).to_be_visible()
    assert_accessible(page, "apply-question-errors")
    page.locator("main [name=reason]").fill("子女入学")
    continue_(page)

    at(page, reverse("services:apply_question", args=[draft.pk, "owner"]))
    elder_toggle(page).click()
    expect(page.locator("html")).to_have_class(re.compile(r"(^|\s)elder(\s|$)"))
    assert_accessible(page, "apply-question-radios-elder")
    elder_toggle(page).click()
    page.locator("main input[name=owner][value=yes]").check()
    continue_(page)

    at(page, reverse("services:apply_material", args=[draft.pk, "photo"]))
    assert_accessible(page, "apply-material")
    page.locator("main [name=file]").set_input_files({"name": "photo.txt", "mimeType": "text/plain",
                                                      "buffer": b"not a picture"})
    continue_(page)
    expect(page.locator(".form-errors a[href='#id_file']")).to_be_visible()
    assert_accessible(page, "apply-material-errors")
    page.locator("main [name=file]").set_input_files({"name": "photo.png", "mimeType": "image/png", "buffer": PNG})
    continue_(page)

    check = reverse("services:apply_check", args=[draft.pk])
    at(page, check)
    expect(page.locator("[data-answer=name] [data-source=persons]")).to_be_visible()
    expect(page.locator("[data-answer=name]")).to_contain_text("王小明")
    assert_accessible(page, "apply-check")
    page.locator("main a[data-change=reason]").click()
    page.locator("main [name=reason]").fill("办理居住证明")
    continue_(page)
    at(page, check)
    expect(page.locator("[data-answer=reason]")).to_contain_text("办理居住证明")
    page.locator("main [data-submit]").click()

    draft.refresh_from_db()
    assert draft.status == ApplicationStatus.IN_REVIEW and draft.reference
    at(page, reverse("services:apply_confirmation", args=[draft.reference]))
    expect(page.locator("[data-reference]")).to_have_text(draft.reference)
    expect(page.locator("[data-due]")).to_be_visible()
    assert_accessible(page, "apply-confirmation")
    page.locator("main [data-track]").click()
    at(page, reverse("services:application", args=[draft.reference]))
    expect(page.locator("[data-status=in_review]")).to_be_visible()
    expect(page.locator("[data-action='services.submit_application']")).to_be_visible()
    assert_accessible(page, "application-detail")
    page.goto(reverse("services:my_applications"))
    expect(page.locator(f"[data-application='{draft.reference}']")).to_be_visible()
    assert_accessible(page, "my-applications")
