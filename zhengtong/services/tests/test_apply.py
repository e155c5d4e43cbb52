"""Applying online, from the citizen's side: one question per page with validation per type; what the government
holds is filled in with its source and never asked; obtainable materials are never requested; uploads are
checked by content and size; the check page's change links come back to it; a double submission makes one
application with one 8-character reference; a commitment instead of a material creates a post-check task; and
another citizen cannot see or touch the draft."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from zhengtong.conftest import PASSWORD
from zhengtong.core import calendar
from zhengtong.core.errors import Conflict, InvalidInput
from zhengtong.core.evidence import MAX_BYTES
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.services.actions import applications as actions
from zhengtong.services.actions import tasks
from zhengtong.services.models import (
    Application,
    ApplicationMaterial,
    ApplicationStatus,
    Material,
    MaterialProvision,
    MaterialSource,
    ServiceItem,
    TaskKind,
    WorkTask,
)
from zhengtong.services.tests.conftest import run_together

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64
REFERENCE = re.compile(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}")


def logged_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def other_citizen() -> User:
    """Person 2 of the persons registry, with an account."""
    citizen = identity.register_citizen(None, identity.CitizenInput(
        name="李四", resident_id=person(2), phone="13800138002", division_code="330106"))
    return identity.create_citizen_account(None, citizen, username="lisi", password=PASSWORD)


def material(item: ServiceItem, code: str, **values: Any) -> Material:
    return Material.objects.create(item=item, code=code, name=values.pop("name", f"材料{code}"), **values)


def question_url(application: Application, name: str) -> str:
    return reverse("services:apply_question", args=[application.pk, name])


def material_url(application: Application, code: str) -> str:
    return reverse("services:apply_material", args=[application.pk, code])


def check_url(application: Application) -> str:
    return reverse("services:apply_check", args=[application.pk])


@pytest.fixture
def item(make_item: Callable[..., ServiceItem]) -> ServiceItem:
    """The fixture item: `name` prefilled from the persons registry, `reason` asked."""
    return make_item()


# --- the form, one question per page --------------------------------------------------------------------------


def test_a_citizen_applies_question_by_question_and_changes_an_answer(applicant: User, item: ServiceItem) -> None:
    client = logged_in(applicant)
    start = reverse("services:apply_start", args=[item.code])
    page = client.get(start)
    assert page.status_code == 200 and b"5 working days" in page.content

    started = client.post(start)
    draft = Application.objects.get(applicant=applicant)
    assert draft.status == ApplicationStatus.DRAFT and draft.submission_token
    assert started["Location"] == question_url(draft, "reason")  # "name" is held, so the first question is reason

    page = client.get(question_url(draft, "reason"))
    assert page.status_code == 200
    assert reverse("services:apply_start", args=[item.code]).encode() in page.content  # the back link

    blank = client.post(question_url(draft, "reason"), {"reason": "  "})
    assert blank.status_code == 200
    assert b'class="form-errors"' in blank.content
    assert b'href="#id_reason"' in blank.content and "申请事由: Answer this question.".encode() in blank.content
    assert b'aria-invalid="true"' in blank.content

    answered = client.post(question_url(draft, "reason"), {"reason": "开具证明"})
    assert answered["Location"] == check_url(draft)
    draft.refresh_from_db()
    assert draft.answers == {"reason": "开具证明"}  # saved at Continue

    check = client.get(check_url(draft))
    assert "From the 人口基础信息库".encode() in check.content and "王小明".encode() in check.content
    change = question_url(draft, "reason") + "?change=1"
    assert change.encode() in check.content
    assert b"data-change=\"name\"" not in check.content  # a held value has no Change link
    assert reverse("privacy:new-correction").encode() + b"?registry=persons&amp;field=name" in check.content

    changed = client.post(change, {"reason": "办理入学"})
    assert changed["Location"] == check_url(draft)  # back to the check page, not the next step
    submitted = client.post(check_url(draft), {"token": draft.submission_token})
    draft.refresh_from_db()
    assert draft.answers["reason"] == "办理入学"
    assert submitted["Location"] == reverse("services:apply_confirmation", args=[draft.reference])
    assert draft.reference and REFERENCE.fullmatch(draft.reference)
    assert draft.submitted_at is not None and draft.status == ApplicationStatus.IN_REVIEW

    confirmation = client.get(submitted["Location"])
    assert draft.reference.encode() in confirmation.content
    assert draft.due is not None and draft.due.isoformat().encode() in confirmation.content
    assert draft.due == calendar.add_working_days(timezone.localdate(draft.submitted_at), 5).date
    assert reverse("services:application", args=[draft.reference]).encode() in confirmation.content


QUESTIONS = [
    {"name": "story", "label": "情况说明", "type": "textarea", "required": True},
    {"name": "count", "label": "家庭人口", "type": "number", "required": True},
    {"name": "since", "label": "起始日期", "type": "date", "required": True},
    {"name": "kind", "label": "类别", "type": "choice", "required": True,
     "choices": [{"value": "a", "label": "甲"}, {"value": "b", "label": "乙"}]},
    {"name": "owner", "label": "是否户主", "type": "yes_no", "required": True},
    {"name": "remark", "label": "备注", "type": "text", "required": False},
]


@pytest.mark.parametrize(("name", "bad", "reason", "good", "kept"), [
    ("story", "", "Answer this question.", "家中老人需要照护", "家中老人需要照护"),
    ("story", "长" * 2001, "Keep it to 2000 characters.", "短", "短"),
    ("count", "three", "Enter a number", "3", 3),
    ("count", "NaN", "Enter a number", "2.5", 2.5),
    ("since", "2026-02-30", "Enter a real date", "2026-02-28", "2026-02-28"),
    ("kind", "c", "Choose one of the options.", "b", "b"),
    ("kind", "", "Choose an answer.", "a", "a"),
    ("owner", "maybe", "Choose yes or no.", "no", False),
])
def test_each_question_type_is_validated(applicant: User, make_item: Callable[..., ServiceItem], name: str,
                                         bad: str, reason: str, good: str, kept: Any) -> None:
    item = make_item(form=QUESTIONS)
    draft = actions.start_draft(applicant, item)
    with pytest.raises(InvalidInput) as refused:
        actions.save_answer(applicant, draft, name, bad)
    assert [(p.field, reason in p.reason) for p in refused.value.details] == [(name, True)]
    assert actions.save_answer(applicant, draft, name, good).answers[name] == kept


def test_an_optional_question_may_stay_empty_and_a_bad_answer_shows_on_its_page(
        applicant: User, make_item: Callable[..., ServiceItem]) -> None:
    item = make_item(form=QUESTIONS)
    draft = actions.start_draft(applicant, item)
    assert actions.save_answer(applicant, draft, "remark", "").answers["remark"] is None
    client = logged_in(applicant)
    page = client.post(question_url(draft, "count"), {"count": "many"})
    assert page.status_code == 200 and b'href="#id_count"' in page.content
    assert "家庭人口: Enter a number".encode() in page.content
    radios = client.get(question_url(draft, "owner"))
    assert b"<fieldset" in radios.content and b"<legend><h1>" in radios.content
    # Submitting with required answers missing names each one.
    with pytest.raises(InvalidInput) as refused:
        actions.submit_application(applicant, draft)
    assert {p.field for p in refused.value.details} == {"story", "count", "since", "kind", "owner"}


# --- what the government holds ---------------------------------------------------------------------------------


def test_a_held_value_is_filled_in_with_its_source_and_never_asked(applicant: User, item: ServiceItem) -> None:
    draft = actions.start_draft(applicant, item)
    assert draft.prefilled["name"]["value"] == "王小明"
    assert draft.prefilled["name"]["source"] == "persons.name"
    assert draft.prefilled["name"]["label"] == "人口基础信息库"
    assert "name" not in draft.answers
    assert logged_in(applicant).get(question_url(draft, "name")).status_code == 404
    with pytest.raises(InvalidInput) as refused:
        actions.save_answer(applicant, draft, "name", "别人")
    assert refused.value.details[0].field == "name"
    # Read through the one door, which leaves its audit entry for the citizen's "who used my data".
    from zhengtong.audit.models import AuditEntry
    assert AuditEntry.objects.filter(action="exchange.read", actor_kind="citizen").exists()


def test_a_value_the_registries_do_not_hold_is_asked(applicant: User, make_item: Callable[..., ServiceItem]) -> None:
    item = make_item(form=[{"name": "email", "label": "邮箱", "type": "text", "required": True,
                            "prefill": {"registry": "persons", "field": "email"}}])
    draft = actions.start_draft(applicant, item)
    assert draft.prefilled == {}
    assert logged_in(applicant).get(question_url(draft, "email")).status_code == 200


# --- materials -------------------------------------------------------------------------------------------------


def test_obtainable_materials_are_not_requested(applicant: User, make_item: Callable[..., ServiceItem],
                                                make_application: Callable[..., Application]) -> None:
    earlier = make_item()
    approved = make_application(earlier, applicant)
    Application.objects.filter(pk=approved.pk).update(status=ApplicationStatus.APPROVED, decided_at=timezone.now())
    item = make_item()
    material(item, "hukou", source=MaterialSource.REGISTRY, source_registry="persons", source_field="division_code")
    material(item, "cert", source=MaterialSource.RESULT, source_item=earlier.code)
    material(item, "never", source=MaterialSource.RESULT, source_item="NO-SUCH-ITEM")
    material(item, "photo")
    draft = actions.start_draft(applicant, item)
    obtained = {m.material.code: m.source for m in draft.materials.select_related("material")}
    assert obtained == {"hukou": "persons.division_code", "cert": f"{earlier.code}:{approved.reference}"}
    assert all(m.provision == MaterialProvision.OBTAINED for m in draft.materials.all())
    client = logged_in(applicant)
    assert client.get(material_url(draft, "hukou")).status_code == 404
    assert client.get(material_url(draft, "cert")).status_code == 404
    assert client.get(material_url(draft, "never")).status_code == 200  # cannot be obtained: asked for
    answered = client.post(question_url(draft, "reason"), {"reason": "证明"})
    assert answered["Location"] == material_url(draft, "never")
    check = client.get(check_url(draft)).content
    assert b'data-material="hukou" data-provision="obtained"' in check
    assert b'data-change="hukou"' not in check and b'data-change="photo"' in check


def test_uploads_are_checked_by_content_and_size(applicant: User, item: ServiceItem) -> None:
    material(item, "photo", name="近期照片")
    draft = actions.start_draft(applicant, item)
    client = logged_in(applicant)
    url = material_url(draft, "photo")
    wrong = client.post(url, {"file": SimpleUploadedFile("photo.png", b"MZ\x90\x00 not an image")})
    assert wrong.status_code == 200 and "近期照片: Attach a PDF, PNG or JPEG file.".encode() in wrong.content
    large = client.post(url, {"file": SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * MAX_BYTES)})
    assert large.status_code == 200 and "近期照片: The file may be at most 10 MB.".encode() in large.content
    missing = client.post(url, {})
    assert missing.status_code == 200 and "近期照片: Choose a file to upload.".encode() in missing.content
    assert not draft.materials.exists()
    with pytest.raises(InvalidInput) as refused:
        actions.attach_material(applicant, draft, item.materials.get(), actions.Evidence("x.gif", b"GIF89a"))
    assert refused.value.details[0].field == "file"

    given = client.post(url, {"file": SimpleUploadedFile("scan.pdf", PDF)})
    assert given["Location"] == check_url(draft)
    stored = ApplicationMaterial.objects.get(application=draft)
    assert (stored.provision, stored.file_type, stored.file_size) == (MaterialProvision.UPLOADED,
                                                                      "application/pdf", len(PDF))
    assert actions.material_path(stored.file_digest).read_bytes() == PDF
    replaced = client.post(url, {"file": SimpleUploadedFile("photo.png", PNG)})
    assert replaced.status_code == 302
    assert ApplicationMaterial.objects.get(application=draft).file_type == "image/png"


def test_a_required_material_must_be_given_before_submitting(applicant: User, item: ServiceItem) -> None:
    material(item, "photo", name="近期照片")
    draft = actions.start_draft(applicant, item)
    actions.save_answer(applicant, draft, "reason", "证明")
    page = logged_in(applicant).post(check_url(draft), {"token": draft.submission_token})
    assert page.status_code == 200 and "Upload 近期照片.".encode() in page.content
    draft.refresh_from_db()
    assert draft.status == ApplicationStatus.DRAFT and draft.reference is None


# --- submitting ------------------------------------------------------------------------------------------------


def _ready(applicant: User, item: ServiceItem) -> Application:
    draft = actions.start_draft(applicant, item)
    return actions.save_answer(applicant, draft, "reason", "证明")


def test_a_double_submission_makes_one_application(applicant: User, item: ServiceItem) -> None:
    draft = _ready(applicant, item)
    client = logged_in(applicant)
    first = client.post(check_url(draft), {"token": draft.submission_token})
    second = client.post(check_url(draft), {"token": draft.submission_token})  # the same draft and token again
    assert first["Location"] == second["Location"]
    assert Application.objects.filter(applicant=applicant).count() == 1
    submitted = Application.objects.get(applicant=applicant)
    assert actions.submit_application(applicant, draft).reference == submitted.reference
    # The same token starting a draft again finds the submitted application, not a new draft.
    assert actions.start_draft(applicant, item, token=submitted.submission_token).pk == submitted.pk
    assert WorkTask.objects.filter(application=submitted, kind=TaskKind.REVIEW).count() == 1  # one process
    # The question pages of a submitted draft send the applicant to its confirmation.
    assert client.get(question_url(draft, "reason"))["Location"] == first["Location"]


def test_a_submission_with_another_drafts_token_is_refused(applicant: User, item: ServiceItem) -> None:
    draft = _ready(applicant, item)
    with pytest.raises(Conflict):
        actions.submit_application(applicant, draft, token="someone-elses-form")
    draft.refresh_from_db()
    assert draft.status == ApplicationStatus.DRAFT


def test_starting_twice_resumes_the_one_draft(applicant: User, item: ServiceItem) -> None:
    first = actions.start_draft(applicant, item)
    actions.save_answer(applicant, first, "reason", "证明")
    again = logged_in(applicant).post(reverse("services:apply_start", args=[item.code]))
    assert again["Location"] == check_url(first)  # everything answered: straight to the check page
    assert Application.objects.filter(applicant=applicant, item=item).count() == 1


def test_references_are_eight_unambiguous_characters() -> None:
    references = {actions.new_reference() for _ in range(300)}
    assert len(references) == 300
    assert all(REFERENCE.fullmatch(r) for r in references)
    assert not set("".join(references)) & set("01OIL")


# --- commitment instead of a material ---------------------------------------------------------------------------


def test_a_commitment_replaces_a_material_and_creates_a_post_check(applicant: User,
                                                                  make_item: Callable[..., ServiceItem]) -> None:
    item = make_item(commitment_allowed=True)
    material(item, "income", name="收入证明", commitment_allowed=True)
    material(item, "photo", name="近期照片")  # no commitment for this one
    draft = _ready(applicant, item)
    client = logged_in(applicant)
    page = client.get(material_url(draft, "income")).content
    assert b'name="commit"' in page
    assert b'name="commit"' not in client.get(material_url(draft, "photo")).content
    with pytest.raises(InvalidInput):
        actions.commit_instead(applicant, draft, item.materials.get(code="photo"))
    assert client.post(material_url(draft, "income"), {"commit": "on"}).status_code == 302
    client.post(material_url(draft, "photo"), {"file": SimpleUploadedFile("p.png", PNG)})

    unsigned = client.post(check_url(draft), {"token": draft.submission_token})
    assert unsigned.status_code == 200 and b"Sign the commitment" in unsigned.content
    signed = client.post(check_url(draft), {"token": draft.submission_token, "commitment_signed": "on"})
    assert signed.status_code == 302
    draft.refresh_from_db()
    assert draft.commitment_signed_at is not None
    task = WorkTask.objects.get(application=draft, kind=TaskKind.POST_CHECK)
    assert (task.department, task.role) == (item.responsible_department, roles.APPROVER)
    assert task.due == calendar.add_working_days(timezone.localdate(draft.submitted_at), 20).date
    assert ApplicationMaterial.objects.get(application=draft, material__code="income").provision == \
        MaterialProvision.COMMITTED


def test_a_post_check_outlives_the_review_steps(applicant: User, make_item: Callable[..., ServiceItem],
                                                window_clerk_ca: User) -> None:
    item = make_item(commitment_allowed=True)
    material(item, "income", commitment_allowed=True)
    draft = _ready(applicant, item)
    actions.commit_instead(applicant, draft, item.materials.get())
    application = actions.submit_application(applicant, draft, commitment_signed=True)
    post_check = WorkTask.objects.get(application=application, kind=TaskKind.POST_CHECK)
    review = tasks.claim_task(window_clerk_ca, WorkTask.objects.get(application=application, kind=TaskKind.REVIEW))
    tasks.decide_task(window_clerk_ca, review, outcome="approve")
    post_check.refresh_from_db()
    assert post_check.status == "open"
    assert post_check.due == calendar.add_working_days(timezone.localdate(application.submitted_at), 20).date


# --- only the applicant -----------------------------------------------------------------------------------------


def test_another_citizen_cannot_see_or_touch_the_draft(applicant: User, item: ServiceItem,
                                                       approver: User) -> None:
    material(item, "photo")
    draft = actions.start_draft(applicant, item)
    stranger = other_citizen()
    client = logged_in(stranger)
    for url in (question_url(draft, "reason"), material_url(draft, "photo"), check_url(draft),
                reverse("services:apply_resume", args=[draft.pk])):
        assert client.get(url).status_code == 404
    assert client.post(question_url(draft, "reason"), {"reason": "篡改"}).status_code == 404
    assert client.post(check_url(draft), {"token": draft.submission_token}).status_code == 404
    with pytest.raises(actions.ApplicationNotFound):
        actions.save_answer(stranger, draft, "reason", "篡改")
    with pytest.raises(actions.ApplicationNotFound):
        actions.submit_application(stranger, draft)
    draft.refresh_from_db()
    assert draft.answers == {} and draft.status == ApplicationStatus.DRAFT
    actions.attach_material(applicant, draft, item.materials.get(), actions.Evidence("p.png", PNG))
    submitted = actions.submit_application(applicant, actions.save_answer(applicant, draft, "reason", "证明"))
    for name in ("services:application", "services:apply_confirmation", "services:application_withdraw"):
        assert client.get(reverse(name, args=[submitted.reference])).status_code == 404
    # Staff are not applicants: the applying pages are not theirs.
    assert logged_in(approver).get(reverse("services:apply_start", args=[item.code])).status_code == 403


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no row locks: writers queue anyway")
def test_two_racing_submits_make_one_application(applicant: User, item: ServiceItem) -> None:
    draft = _ready(applicant, item)
    references: list[str] = []

    def submit() -> None:
        references.append(str(actions.submit_application(applicant, Application.objects.get(pk=draft.pk),
                                                         token=draft.submission_token).reference))

    run_together(submit, submit)
    assert len(references) == 2 and references[0] == references[1]
    assert Application.objects.filter(applicant=applicant).count() == 1
    assert WorkTask.objects.filter(application=draft, kind=TaskKind.REVIEW).count() == 1
