"""JSON API of applying, under /api/v1/services/: a citizen lists and reads their own applications, starts (or
resumes) a draft, answers its questions, uploads or commits to its materials and submits it; answers a request
for correction and withdraws. Thin over services.actions.applications; another person's application is a 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile

from zhengtong.core.errors import NotPermitted
from zhengtong.core.evidence import MAX_BYTES
from zhengtong.identity.models import User
from zhengtong.services.actions import applications as actions
from zhengtong.services.models import Application, ItemStatus, Material, ServiceItem
from zhengtong.services.queries import applications as queries

router = Router(tags=["services"])


def _citizen(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User) or getattr(user, "citizen", None) is None:
        raise NotPermitted(_("Only a citizen applies for a service online."))
    return user


# --- shapes ------------------------------------------------------------------------------------------------


class MaterialOut(Schema):
    code: str
    name: str
    required: bool
    provision: str = Field(description='"uploaded", "obtained", "committed", or "" while not given.')
    file_name: str
    file_type: str
    file_size: int
    source: str = Field(description="Where an obtained material came from.")


class ApplicationOut(Schema):
    id: int = Field(description="The application's number, also while a draft.")
    reference: str | None = Field(description="8 characters, once submitted.")
    item: str
    item_name: str
    status: str
    answers: dict[str, Any]
    prefilled: dict[str, Any] = Field(description="Values the government holds, with their source; not asked.")
    questions_to_answer: list[str]
    materials: list[MaterialOut]
    submission_token: str
    created_at: dt.datetime
    updated_at: dt.datetime
    submitted_at: dt.datetime | None
    due: dt.date | None = Field(description="The decision is due by this day, counted in working days.")
    due_provisional: bool
    decided_at: dt.datetime | None
    result: str
    correction_request: str
    decision_trace: dict[str, Any] | None


class DraftIn(Schema):
    item: str = Field(description="The service item's code.")
    token: str = Field("", description="Your own token: sending it again returns the same application.")


class AnswerIn(Schema):
    value: Any = None


class SubmitIn(Schema):
    token: str = ""
    commitment_signed: bool = False


class CorrectionIn(Schema):
    answers: dict[str, Any] = {}
    note: str = ""


class WithdrawIn(Schema):
    reason: str = ""


def _out(application: Application) -> ApplicationOut:
    given = queries.given_materials(application)
    materials = []
    for material in application.item.materials.all():
        row = given.get(material.pk)
        materials.append(MaterialOut(
            code=material.code, name=material.name, required=material.required,
            provision=row.provision if row else "", file_name=row.file_name if row else "",
            file_type=row.file_type if row else "", file_size=row.file_size if row else 0,
            source=row.source if row else ""))
    return ApplicationOut(
        id=application.pk, reference=application.reference, item=application.item.code,
        item_name=application.item.name, status=application.status, answers=application.answers,
        prefilled=application.prefilled, questions_to_answer=[q.name for q in queries.asked_questions(application)],
        materials=materials, submission_token=application.submission_token, created_at=application.created_at,
        updated_at=application.updated_at, submitted_at=application.submitted_at, due=application.due,
        due_provisional=application.due_provisional, decided_at=application.decided_at, result=application.result,
        correction_request=application.correction_request, decision_trace=application.decision_trace)


def _mine(request: HttpRequest, pk: int) -> Application:
    application = queries.own_applications(_citizen(request)).filter(pk=pk).first()
    if application is None:
        raise Http404
    return application


def _material(application: Application, code: str) -> Material:
    return get_object_or_404(Material, item=application.item, code=code)


# --- endpoints ---------------------------------------------------------------------------------------------


@router.get("/services/applications", response=list[ApplicationOut], summary="Your applications and drafts")
def list_applications(request: HttpRequest) -> list[ApplicationOut]:
    return [_out(a) for a in queries.own_applications(_citizen(request))[:500]]


@router.post("/services/applications", response={200: ApplicationOut, 201: ApplicationOut},
             summary="Start (or resume) a draft")
def create_draft(request: HttpRequest, data: DraftIn) -> Status[ApplicationOut]:
    """Your open draft of the item, or a new one with what the government holds filled in (201)."""
    user = _citizen(request)
    item = get_object_or_404(ServiceItem, code=data.item, status=ItemStatus.PUBLISHED)
    before = set(queries.own_applications(user).values_list("pk", flat=True))
    application = actions.start_draft(user, item, token=data.token)
    return Status(200 if application.pk in before else 201, _out(application))


@router.get("/services/applications/{pk}", response=ApplicationOut, summary="One of your applications")
def read_application(request: HttpRequest, pk: int) -> ApplicationOut:
    return _out(_mine(request, pk))


@router.put("/services/applications/{pk}/answers/{name}", response=ApplicationOut, summary="Answer one question")
def answer_question(request: HttpRequest, pk: int, name: str, data: AnswerIn) -> ApplicationOut:
    return _out(actions.save_answer(_citizen(request), _mine(request, pk), name, data.value))


@router.post("/services/applications/{pk}/materials/{code}", response=ApplicationOut,
             summary="Upload a material (multipart: file), or commit to it (commit=true)")
def give_material(request: HttpRequest, pk: int, code: str, file: File[UploadedFile | None] = None,
                  commit: Form[bool] = False) -> ApplicationOut:
    user, application = _citizen(request), _mine(request, pk)
    material = _material(application, code)
    if commit:
        actions.commit_instead(user, application, material)
    else:
        content = file.read(MAX_BYTES + 1) if file is not None else b""
        actions.attach_material(user, application, material,
                                actions.Evidence(file.name or "", content) if file is not None else None)
    return _out(_mine(request, pk))


@router.post("/services/applications/{pk}/submit", response=ApplicationOut, summary="Submit a draft")
def submit(request: HttpRequest, pk: int, data: SubmitIn) -> ApplicationOut:
    """Submitting again (or with the same token) returns the application submitted the first time."""
    application = actions.submit_application(_citizen(request), _mine(request, pk), token=data.token,
                                             commitment_signed=data.commitment_signed)
    return _out(application)


@router.post("/services/applications/{pk}/correction", response=ApplicationOut,
             summary="Answer a request for correction (changed answers and a note)")
def correct(request: HttpRequest, pk: int, data: CorrectionIn) -> ApplicationOut:
    return _out(actions.answer_correction(_citizen(request), _mine(request, pk), answers=data.answers,
                                          note=data.note))


@router.post("/services/applications/{pk}/withdraw", response=ApplicationOut, summary="Withdraw an open application")
def withdraw(request: HttpRequest, pk: int, data: WithdrawIn) -> ApplicationOut:
    return _out(actions.withdraw_application(_citizen(request), _mine(request, pk), reason=data.reason))
