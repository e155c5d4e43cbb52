"""Review findings of applying, each proved: a number answer has a size (no million-digit integers, no 500 for
"1e5000"); an idempotency key given when an existing draft is resumed stays with it, so the same key again finds
the submitted application (also when the key's first request won a race); and staff's post-check note is not
shown to the applicant as their own."""

from __future__ import annotations

import time
from collections.abc import Callable
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from zhengtong.identity.models import User
from zhengtong.services.actions import applications as actions
from zhengtong.services.actions import tasks
from zhengtong.services.models import (
    Application,
    ApplicationMaterial,
    ApplicationStatus,
    Material,
    MaterialProvision,
    ServiceItem,
    TaskKind,
    WorkTask,
)
from zhengtong.services.tests.conftest import run_together
from zhengtong.services.tests.test_apply import logged_in
from zhengtong.services.tests.test_govstack_registration import answers, call, http, upload
from zhengtong.services.tests.test_govstack_registration import item as govstack_item  # noqa: F401

pytestmark = pytest.mark.django_db

NUMBER = actions.Question(name="copies", label="份数", type="number", required=True, hint="", choices=(),
                          prefill=None)


# --- a number has a size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["1e1000000", "1e5000", "12345678901234567", "-1E+16"])
def test_a_huge_number_is_refused_quickly_naming_the_question(typed: str) -> None:
    started = time.monotonic()
    value, problems = actions.clean_answer(NUMBER, typed)
    assert time.monotonic() - started < 1
    assert value is None and [p.field for p in problems] == ["copies"]
    assert "16 digits" in str(problems[0].reason)


def test_a_long_number_text_is_refused_and_ordinary_numbers_are_kept() -> None:
    _value, problems = actions.clean_answer(NUMBER, "1" + "0" * 40)
    assert [p.field for p in problems] == ["copies"] and "30 characters" in str(problems[0].reason)
    assert actions.clean_answer(NUMBER, "9999999999999999") == (9999999999999999, [])
    assert actions.clean_answer(NUMBER, "1,234.5") == (1234.5, [])
    assert actions.clean_answer(NUMBER, "1e-99999999") == (0.0, [])


def test_the_api_refuses_a_huge_number_naming_the_question(client: Client, applicant: User,
                                                  make_item: Callable[..., ServiceItem]) -> None:
    item = make_item(form=[{"name": "copies", "label": "份数", "type": "number", "required": True, "hint": "",
                            "choices": [], "prefill": None}])
    client.force_login(applicant)
    draft = actions.start_draft(applicant, item)
    for typed in ("1e5000", "1e1000000"):
        response = client.put(f"/api/v1/services/applications/{draft.pk}/answers/copies", {"value": typed},
                              content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 422, response.content
        assert [d["field"] for d in response.json()["details"]] == ["copies"]
    draft.refresh_from_db()
    assert "copies" not in draft.answers


def test_the_number_input_says_its_length(applicant: User, make_item: Callable[..., ServiceItem]) -> None:
    item = make_item(form=[{"name": "copies", "label": "份数", "type": "number", "required": True, "hint": "",
                            "choices": [], "prefill": None}])
    draft = actions.start_draft(applicant, item)
    page = logged_in(applicant).get(reverse("services:apply_question", args=[draft.pk, "copies"]))
    assert f'maxlength="{actions.MAX_NUMBER_TEXT}"' in page.content.decode()


# --- an idempotency key stays with the application it submitted -------------------------------------------------


def _answered_draft(applicant: User, item: ServiceItem) -> Application:
    draft = actions.start_draft(applicant, item)  # started on the web: no key of the caller's
    return actions.save_answer(applicant, draft, "reason", "证明")


def test_a_key_given_when_a_draft_is_resumed_finds_the_submitted_application(
        applicant: User, make_item: Callable[..., ServiceItem]) -> None:
    item = make_item()
    draft = _answered_draft(applicant, item)
    resumed = actions.start_draft(applicant, item, token="key-K")
    assert resumed.pk == draft.pk and resumed.submission_token == "key-K"
    submitted = actions.submit_application(applicant, resumed)
    again = actions.start_draft(applicant, item, token="key-K")  # the retry of the same request
    assert again.pk == submitted.pk and again.status != ApplicationStatus.DRAFT
    assert Application.objects.filter(applicant=applicant).count() == 1


def test_the_govstack_retry_after_resuming_a_web_draft_makes_one_application(
        client: Client, applicant: User, govstack_item: ServiceItem) -> None:  # noqa: F811
    draft = actions.start_draft(applicant, govstack_item)
    http(client, applicant)
    body = {"applicantId": applicant.get_username(), "formData": {"data": answers()},
            "documentUrls": [upload(client).json()["url"]]}
    first = call(client, "post", f"/services/{govstack_item.code}/applications", body, HTTP_IDEMPOTENCY_KEY="k-7")
    second = call(client, "post", f"/services/{govstack_item.code}/applications", body, HTTP_IDEMPOTENCY_KEY="k-7")
    assert (first.status_code, second.status_code) == (200, 200), (first.content, second.content)
    assert first.json()["fileId"] == second.json()["fileId"] == Application.objects.get(pk=draft.pk).reference
    assert Application.objects.filter(applicant=applicant).count() == 1


def test_losing_the_race_for_a_key_finds_the_winners_submitted_application(
        applicant: User, make_item: Callable[..., ServiceItem]) -> None:
    """The second of two simultaneous requests with one key looked the key up before the first committed; its
    insert then meets the unique (applicant, token) and it answers with the first's application."""
    item = make_item()
    winner = actions.submit_application(applicant, actions.save_answer(
        applicant, actions.start_draft(applicant, item, token="key-R"), "reason", "证明"))
    looked_up_too_early = mock.patch.object(actions, "_by_token", side_effect=[None, winner])
    with looked_up_too_early:
        found = actions.start_draft(applicant, item, token="key-R")
    assert found.pk == winner.pk and found.status != ApplicationStatus.DRAFT
    assert Application.objects.filter(applicant=applicant).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no row locks: writers queue anyway")
def test_two_simultaneous_requests_with_one_key_make_one_application(
        applicant: User, make_item: Callable[..., ServiceItem]) -> None:
    """The GovStack submit's shape: start with the key, answer, submit, all in one transaction held open a
    moment, so that the second request's insert waits for the first and then meets its key."""
    item = make_item()
    references: list[str] = []
    failures: list[BaseException] = []

    def submit() -> None:
        try:
            with transaction.atomic():
                application = actions.start_draft(applicant, item, token="key-S")
                if application.status == ApplicationStatus.DRAFT:
                    actions.save_answer(applicant, application, "reason", "证明")
                    application = actions.submit_application(applicant, application)
                time.sleep(0.5)
            references.append(str(application.reference))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    run_together(submit, submit)
    assert failures == [] and len(references) == 2 and references[0] == references[1]
    assert Application.objects.filter(applicant=applicant).count() == 1


# --- staff's post-check note is theirs --------------------------------------------------------------------------


def test_the_post_check_note_is_not_shown_as_the_applicants(applicant: User, approver: User,
                                                           make_item: Callable[..., ServiceItem]) -> None:
    item = make_item(commitment_allowed=True)
    Material.objects.create(item=item, code="income", name="收入证明", commitment_allowed=True)
    draft = _answered_draft(applicant, item)
    actions.commit_instead(applicant, draft, item.materials.get())
    application = actions.submit_application(applicant, draft, commitment_signed=True)
    task = tasks.claim_task(approver, WorkTask.objects.get(application=application, kind=TaskKind.POST_CHECK))
    tasks.complete_post_check(approver, task, note="内部：原件存疑，已电话核实单位。")
    assert ApplicationMaterial.objects.get(application=application).provision == MaterialProvision.COMMITTED
    page = logged_in(applicant).get(reverse("services:application", args=[application.reference]))
    html = page.content.decode()
    assert 'data-action="services.complete_post_check"' in html
    assert "原件存疑" not in html and "Your note" not in html


def test_the_applicants_correction_note_is_still_shown(applicant: User, window_clerk_ca: User,
                                                       make_item: Callable[..., ServiceItem]) -> None:
    item = make_item()
    application = actions.submit_application(applicant, _answered_draft(applicant, item))
    task = tasks.claim_task(window_clerk_ca, application.tasks.get(kind=TaskKind.REVIEW))
    tasks.decide_task(window_clerk_ca, task, outcome="return", reason="事由请写具体。")
    actions.answer_correction(applicant, application, answers={"reason": "办理入学证明"}, note="已写明用途。")
    html = logged_in(applicant).get(reverse("services:application", args=[application.reference])).content.decode()
    assert "Your note: 已写明用途。" in html

