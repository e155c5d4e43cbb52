"""Following an application, from the applicant's side: "My applications" lists drafts and submitted ones; the
application's page shows its status, timeline and the automatic decision in words; a request for correction
is answered with changed answers and a replaced material, the clock having stood still meanwhile; an open
application can be withdrawn, cancelling its tasks; and the JSON API does the same for the caller's own
applications only."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from zhengtong.core import calendar
from zhengtong.identity.models import User
from zhengtong.services.actions import applications as actions
from zhengtong.services.actions import tasks
from zhengtong.services.models import (
    Application,
    ApplicationMaterial,
    ApplicationStatus,
    ClockPause,
    Material,
    ServiceItem,
    TaskOutcome,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.tests.test_apply import PDF, PNG, REFERENCE, logged_in, other_citizen
from zhengtong.services.workflow import engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(make_item: Callable[..., ServiceItem]) -> ServiceItem:
    item = make_item()
    Material.objects.create(item=item, code="photo", name="近期照片")
    return item


def submitted(applicant: User, item: ServiceItem) -> Application:
    draft = actions.start_draft(applicant, item)
    actions.save_answer(applicant, draft, "reason", "证明")
    actions.attach_material(applicant, draft, item.materials.get(), actions.Evidence("photo.png", PNG))
    return actions.submit_application(applicant, draft)


def open_task(application: Application) -> WorkTask:
    return application.tasks.get(status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED))


def test_my_applications_lists_drafts_and_submitted_ones(applicant: User, item: ServiceItem,
                                                          make_item: Callable[..., ServiceItem]) -> None:
    sent = submitted(applicant, item)
    other = make_item()
    draft = actions.start_draft(applicant, other)
    page = logged_in(applicant).get(reverse("services:my_applications")).content.decode()
    assert f'data-draft="{draft.pk}"' in page and reverse("services:apply_resume", args=[draft.pk]) in page
    assert f'data-application="{sent.reference}"' in page and 'data-status="in_review"' in page
    assert sent.due is not None and sent.due.isoformat() in page
    resumed = logged_in(applicant).get(reverse("services:apply_resume", args=[draft.pk]))
    assert resumed["Location"] == reverse("services:apply_question", args=[draft.pk, "reason"])


def test_the_application_page_shows_status_timeline_and_answers(applicant: User, item: ServiceItem,
                                                                 window_clerk_ca: User) -> None:
    application = submitted(applicant, item)
    task = tasks.claim_task(window_clerk_ca, open_task(application))
    tasks.decide_task(window_clerk_ca, task, outcome=TaskOutcome.APPROVE)
    page = logged_in(applicant).get(reverse("services:application", args=[application.reference]))
    html = page.content.decode()
    assert 'data-status="in_review"' in html
    assert 'data-action="services.submit_application"' in html and 'data-action="services.decide_task"' in html
    assert window_clerk_ca.display_name not in html  # the applicant sees the department, not the official
    assert 'data-answer="reason"' in html and "From the 人口基础信息库" in html
    assert 'data-material="photo" data-provision="uploaded"' in html


def test_an_automatic_decision_is_shown_in_words(applicant: User, item: ServiceItem) -> None:
    application = submitted(applicant, item)
    Application.objects.filter(pk=application.pk).update(
        status=ApplicationStatus.APPROVED, decided_at=timezone.now(), result="自动准予",
        decision_trace={"decision": "senior_allowance", "version": 2, "inputs": {"年龄": 81},
                        "rules": [{"id": "r1", "row": 1, "annotation": "年满80周岁"}],
                        "outputs": {"eligible": True}})
    html = logged_in(applicant).get(reverse("services:application", args=[application.reference])).content.decode()
    assert "senior_allowance" in html and "(version 2)" in html
    assert 'data-trace-input="年龄"' in html and "年满80周岁" in html and 'data-trace-output="eligible"' in html
    assert "自动准予" in html


def test_the_applicant_answers_a_correction_and_the_clock_stood_still(applicant: User, item: ServiceItem,
                                                                      window_clerk_ca: User) -> None:
    application = submitted(applicant, item)
    promised = item.promised_days
    engine.complete(open_task(application), window_clerk_ca, outcome=TaskOutcome.RETURN,
                    reason="照片不清晰，请重新上传")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.CORRECTION
    # Submitted two weeks ago, returned ten days ago: those days must not count.
    today = timezone.localdate()
    submitted_on, returned_on = today - dt.timedelta(days=14), today - dt.timedelta(days=10)
    Application.objects.filter(pk=application.pk).update(submitted_at=timezone.now() - dt.timedelta(days=14))
    ClockPause.objects.filter(application=application).update(started_on=returned_on)

    client = logged_in(applicant)
    url = reverse("services:application", args=[application.reference])
    page = client.get(url).content.decode()
    assert "照片不清晰，请重新上传" in page and 'name="material_photo"' in page and 'name="reason"' in page
    correct = reverse("services:application_correct", args=[application.reference])
    nothing = client.post(correct, {"reason": "证明", "note": ""})
    assert nothing.status_code == 200 and "Change an answer, upload a material" in nothing.content.decode()
    bad = client.post(correct, {"reason": "证明", "material_photo": SimpleUploadedFile("x.png", b"not a png")})
    assert bad.status_code == 200 and "Replace 近期照片: Attach a PDF, PNG or JPEG file." in bad.content.decode()

    sent = client.post(correct, {"reason": "开具在读证明", "note": "已重新拍照",
                                 "material_photo": SimpleUploadedFile("new.pdf", PDF)})
    assert sent["Location"] == url
    application.refresh_from_db()
    assert application.status == ApplicationStatus.IN_REVIEW
    assert application.answers["reason"] == "开具在读证明"
    assert ApplicationMaterial.objects.get(application=application).file_type == "application/pdf"
    pause = ClockPause.objects.get(application=application)
    assert (pause.started_on, pause.ended_on) == (returned_on, today)
    assert application.due == calendar.add_working_days(submitted_on, promised, [(returned_on, today)]).date
    assert application.due > calendar.add_working_days(submitted_on, promised).date
    timeline = client.get(url).content.decode()
    assert 'data-action="services.answer_correction"' in timeline and "已重新拍照" in timeline


def test_a_correction_cannot_change_a_held_value(applicant: User, item: ServiceItem, window_clerk_ca: User) -> None:
    application = submitted(applicant, item)
    engine.complete(open_task(application), window_clerk_ca, outcome=TaskOutcome.RETURN, reason="请核对")
    application.refresh_from_db()
    with pytest.raises(actions.InvalidInput) as refused:
        actions.answer_correction(applicant, application, answers={"name": "别人"})
    assert refused.value.details[0].field == "name"
    application.refresh_from_db()
    assert application.status == ApplicationStatus.CORRECTION


def test_withdrawing_stops_the_application_and_cancels_its_tasks(applicant: User, item: ServiceItem) -> None:
    application = submitted(applicant, item)
    client = logged_in(applicant)
    url = reverse("services:application_withdraw", args=[application.reference])
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": "不再需要"}).status_code == 302
    application.refresh_from_db()
    assert application.status == ApplicationStatus.WITHDRAWN
    assert not application.tasks.filter(status__in=(TaskStatus.OPEN, TaskStatus.CLAIMED)).exists()
    assert client.get(url)["Location"] == reverse("services:application", args=[application.reference])
    with pytest.raises(actions.Conflict):
        actions.withdraw_application(applicant, application)


# --- the JSON API -------------------------------------------------------------------------------------------------


def api(client: Client, method: str, path: str, body: object | None = None) -> tuple[int, dict]:
    response = getattr(client, method)(f"/api/v1/services{path}", json.dumps(body or {}),
                                       content_type="application/json") if method in ("post", "put") \
        else client.get(f"/api/v1/services{path}")
    return response.status_code, response.json()


def test_the_api_applies_for_the_callers_own_applications(applicant: User, item: ServiceItem) -> None:
    client = logged_in(applicant)
    status, draft = api(client, "post", "/applications", {"item": item.code, "token": "tok-1"})
    assert status == 201 and draft["status"] == "draft" and draft["questions_to_answer"] == ["reason"]
    assert draft["prefilled"]["name"]["source"] == "persons.name"
    status, again = api(client, "post", "/applications", {"item": item.code, "token": "tok-1"})
    assert (status, again["id"]) == (200, draft["id"])
    pk = draft["id"]
    status, refused = api(client, "put", f"/applications/{pk}/answers/reason", {"value": ""})
    assert status == 422 and refused["details"][0]["field"] == "reason"
    assert api(client, "put", f"/applications/{pk}/answers/reason", {"value": "证明"})[0] == 200
    wrong = client.post(f"/api/v1/services/applications/{pk}/materials/photo",
                        {"file": SimpleUploadedFile("a.exe", b"MZ\x90")})
    assert wrong.status_code == 422 and wrong.json()["details"][0]["field"] == "file"
    given = client.post(f"/api/v1/services/applications/{pk}/materials/photo",
                        {"file": SimpleUploadedFile("a.png", PNG)})
    assert given.status_code == 200 and given.json()["materials"][0]["provision"] == "uploaded"
    status, first = api(client, "post", f"/applications/{pk}/submit", {"token": "tok-1"})
    status_again, second = api(client, "post", f"/applications/{pk}/submit", {"token": "tok-1"})
    assert (status, status_again) == (200, 200) and first["reference"] == second["reference"]
    assert REFERENCE.fullmatch(first["reference"]) and first["status"] == "in_review" and first["due"]
    assert [a["id"] for a in api(client, "get", "/applications")[1]] == [pk]

    stranger = logged_in(other_citizen())
    assert api(stranger, "get", f"/applications/{pk}")[0] == 404
    assert api(stranger, "post", f"/applications/{pk}/withdraw")[0] == 404
    assert api(stranger, "get", "/applications")[1] == []
    status, withdrawn = api(client, "post", f"/applications/{pk}/withdraw", {"reason": "不需要了"})
    assert (status, withdrawn["status"]) == (200, "withdrawn")
