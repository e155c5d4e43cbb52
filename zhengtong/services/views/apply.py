"""Pages of applying online and following an application, for citizens (logged in): the start page of an item,
one question per page, one page per material, check your answers, the confirmation; "My applications", an
application's page with its timeline, result, decision trace and the answer to a request for correction; and
withdrawing.

Pages are thin: another person's draft or application is a 404, and every change is an action of
services.actions.applications, which checks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _

from zhengtong.core.errors import DomainError, InvalidInput, NotPermitted
from zhengtong.identity.models import User
from zhengtong.services.actions import applications as actions
from zhengtong.services.forms import apply as forms
from zhengtong.services.models import Application, ApplicationStatus, MaterialProvision, MaterialSource, TaskOutcome
from zhengtong.services.queries import applications as queries


def _citizen(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or getattr(user, "citizen", None) is None:
        raise PermissionDenied
    return user


def _errors(form: Any) -> dict[str, Any]:
    """Context of the shared error summary (exchange/sharing/_form_errors.html)."""
    return {"error_forms": [form], "error_formsets": [], "has_errors": form.is_bound and bool(form.errors)}


def _failed(error: DomainError, form: Any, aliases: dict[str, str] | None = None) -> None:
    if isinstance(error, NotPermitted):
        raise PermissionDenied(error.message) from None
    if isinstance(error, actions.ApplicationNotFound):
        raise Http404 from None
    if isinstance(error, InvalidInput):
        forms.show_problems(error, form, aliases)
    else:
        form.add_error(None, error.message)


class _Submitted(Exception):
    """The draft a page was asked for has been submitted meanwhile: go to its confirmation."""

    def __init__(self, application: Application):
        self.application = application


def _draft(user: User, pk: int) -> Application:
    application = queries.own_applications(user).filter(pk=pk).first()
    if application is None:
        raise Http404
    if application.status != ApplicationStatus.DRAFT:
        raise _Submitted(application)
    return application


def _confirmation(application: Application) -> HttpResponse:
    return redirect("services:apply_confirmation", application.reference)


def _step_url(application: Application, step: queries.Step | None, *, change: bool = False) -> str:
    if step is None:
        return reverse("services:apply_check", args=[application.pk])
    name = "services:apply_question" if step.kind == "question" else "services:apply_material"
    url = reverse(name, args=[application.pk, step.key])
    return f"{url}?change=1" if change else url


def _after(request: HttpRequest, application: Application, following: queries.Step | None) -> HttpResponse:
    """Where Continue goes: back to the check page when the applicant came from there, else the next step."""
    if request.GET.get("change"):
        return redirect("services:apply_check", application.pk)
    return redirect(_step_url(application, following))


def _back(request: HttpRequest, application: Application, previous: queries.Step | None) -> str:
    if request.GET.get("change"):
        return reverse("services:apply_check", args=[application.pk])
    if previous is None:
        return reverse("services:apply_start", args=[application.item.code])
    return _step_url(application, previous)


# --- starting ------------------------------------------------------------------------------------------------


@login_required
def apply_start(request: HttpRequest, code: str) -> HttpResponse:
    """What you need and how long it takes; "Start now" starts or resumes the draft."""
    user = _citizen(request)
    item = queries.published_item(code)
    if item is None:
        raise Http404
    draft = queries.own_applications(user).filter(item=item, status=ApplicationStatus.DRAFT).first()
    error = ""
    if request.method == "POST":
        try:
            draft = actions.start_draft(user, item)
        except DomainError as refused:
            error = refused.message
        else:
            if draft.status != ApplicationStatus.DRAFT:
                return redirect("services:application", draft.reference)
            return redirect(_step_url(draft, queries.first_unanswered(draft)))
    materials = list(item.materials.all())
    return render(request, "services/apply/start.html", {
        "item": item, "draft": draft, "error": error, "materials": materials,
        "asked": [q for q in actions.questions(item) if not q.prefill],
        "prefilled": [q for q in actions.questions(item) if q.prefill], "applicant_gives": MaterialSource.APPLICANT})


@login_required
def apply_resume(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        application = _draft(_citizen(request), pk)
    except _Submitted as done:
        return _confirmation(done.application)
    return redirect(_step_url(application, queries.first_unanswered(application)))


# --- one question per page -----------------------------------------------------------------------------------


@login_required
def apply_question(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    user = _citizen(request)
    try:
        application = _draft(user, pk)
    except _Submitted as done:
        return _confirmation(done.application)
    previous, step, following = queries.step_of(application, "question", name)
    if step is None or step.question is None:
        raise Http404  # no such question, or one the government answers (prefilled): never asked
    question = step.question
    form = forms.QuestionForm(request.POST if request.method == "POST" else None, question=question,
                              initial_value=application.answers.get(name))
    if form.is_bound and form.is_valid():
        try:
            actions.save_answer(user, application, name, form.raw())
        except DomainError as error:
            _failed(error, form)
        else:
            return _after(request, application, following)
    return render(request, "services/apply/question.html", {
        "application": application, "item": application.item, "question": question, "form": form,
        "field": form[name], "back": _back(request, application, previous),
        "uses_fieldset": question.type in ("choice", "yes_no"), **_errors(form)})


# --- one material per page -----------------------------------------------------------------------------------


@login_required
def apply_material(request: HttpRequest, pk: int, code: str) -> HttpResponse:
    user = _citizen(request)
    try:
        application = _draft(user, pk)
    except _Submitted as done:
        return _confirmation(done.application)
    previous, step, following = queries.step_of(application, "material", code)
    if step is None or step.material is None:
        raise Http404  # no such material, or one the platform obtains
    material = step.material
    given = queries.given_materials(application).get(material.pk)
    may_commit = application.item.commitment_allowed and material.commitment_allowed
    bound = request.method == "POST"
    form = forms.MaterialForm(request.POST if bound else None, request.FILES if bound else None, material=material,
                              may_commit=may_commit,
                              initial={"commit": given is not None and given.provision == MaterialProvision.COMMITTED})
    if form.is_bound and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if form.cleaned_data.get("commit"):
                actions.commit_instead(user, application, material)
            elif upload is not None:
                actions.attach_material(user, application, material,
                                        actions.Evidence(upload.name or "", upload.read()))
            elif material.required and (given is None or given.provision == MaterialProvision.COMMITTED):
                actions.attach_material(user, application, material, None)  # names what is missing
        except DomainError as error:
            _failed(error, form)
        else:
            return _after(request, application, following)
    return render(request, "services/apply/material.html", {
        "application": application, "item": application.item, "material": material, "form": form,
        "given": given, "may_commit": may_commit, "back": _back(request, application, previous), **_errors(form)})


# --- check your answers and submit ------------------------------------------------------------------------------


def _answer_shown(question: actions.Question, value: Any) -> str:
    if value in (None, ""):
        return ""
    if question.type == "yes_no":
        return _("Yes") if value else _("No")
    if question.type == "choice":
        return next((label for choice, label in question.choices if choice == value), str(value))
    return str(value)


def _answer_rows(application: Application, *, change_links: bool) -> list[dict[str, Any]]:
    rows = []
    for question in actions.questions(application.item):
        held = application.prefilled.get(question.name)
        if held is not None:
            registry, _dot, field = str(held.get("source", "")).partition(".")
            rows.append({"question": question, "value": _answer_shown(question, held.get("value")),
                         "source": queries.registry_label(held), "registry": registry, "field": field})
        else:
            rows.append({"question": question, "value": _answer_shown(question, application.answers.get(question.name)),
                         "change": _step_url(application, queries.Step("question", question.name), change=True)
                         if change_links else ""})
    return rows


def _material_rows(application: Application, *, change_links: bool) -> list[dict[str, Any]]:
    given = queries.given_materials(application)
    rows = []
    for material in application.item.materials.all():
        row = given.get(material.pk)
        changeable = change_links and (row is None or row.provision != MaterialProvision.OBTAINED)
        rows.append({"material": material, "given": row, "change": _step_url(
            application, queries.Step("material", material.code), change=True) if changeable else ""})
    return rows


@login_required
def apply_check(request: HttpRequest, pk: int) -> HttpResponse:
    user = _citizen(request)
    try:
        application = _draft(user, pk)
    except _Submitted as done:
        return _confirmation(done.application)
    committed = application.materials.filter(provision=MaterialProvision.COMMITTED).exists()
    steps = queries.steps(application)
    last = steps[-1] if steps else None
    form = forms.SubmitForm(request.POST if request.method == "POST" else None, committed=committed,
                            initial={"token": application.submission_token})
    if form.is_bound and form.is_valid():
        try:
            submitted = actions.submit_application(user, application, token=form.cleaned_data["token"],
                                                   commitment_signed=bool(form.cleaned_data.get("commitment_signed")))
        except DomainError as error:
            _failed(error, form)
        else:
            return _confirmation(submitted)
    return render(request, "services/apply/check.html", {
        "application": application, "item": application.item, "form": form, "committed": committed,
        "answers": _answer_rows(application, change_links=True),
        "materials": _material_rows(application, change_links=True),
        "back": _back(request, application, last), **_errors(form)})


# --- after submission ------------------------------------------------------------------------------------------


def _own(request: HttpRequest, reference: str) -> tuple[User, Application]:
    user = _citizen(request)
    application = queries.own_application(user, reference)
    if application is None:
        raise Http404
    return user, application


@login_required
def apply_confirmation(request: HttpRequest, reference: str) -> HttpResponse:
    _user, application = _own(request, reference)
    return render(request, "services/apply/confirmation.html", {"application": application,
                                                                "item": application.item})


@login_required
def my_applications(request: HttpRequest) -> HttpResponse:
    user = _citizen(request)
    mine = list(queries.own_applications(user)[:500])
    return render(request, "services/apply/my_applications.html", {
        "drafts": [a for a in mine if a.status == ApplicationStatus.DRAFT],
        "submitted": [a for a in mine if a.status != ApplicationStatus.DRAFT]})


def _timeline(application: Application) -> list[dict[str, Any]]:
    """The audit entries in words; the applicant sees which department acted, not which official."""
    rows = []
    for entry in queries.timeline(application):
        detail = entry.detail or {}
        notes = []
        if detail.get("outcome"):
            notes.append(str(TaskOutcome(detail["outcome"]).label) if detail["outcome"] in TaskOutcome.values
                         else str(detail["outcome"]))
        if detail.get("status") and entry.action == "services.application.decided":
            notes.append(str(ApplicationStatus(detail["status"]).label))
        if detail.get("reason"):
            notes.append(f"{_('Reason')}: {detail['reason']}")
        if detail.get("note") and entry.action in queries.APPLICANT_NOTES:  # staff's post-check note is internal
            notes.append(f"{_('Your note')}: {detail['note']}")
        rows.append({"entry": entry, "label": queries.TIMELINE_LABELS[entry.action], "notes": notes,
                     "who": _("You") if entry.actor_kind == "citizen" else entry.actor_department})
    return rows


def _trace_rows(trace: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The automatic decision in words: what went in, which rules fired, what came out."""
    if not trace:
        return None

    def pairs(values: Any) -> list[tuple[str, str]]:
        return [(str(k), str(v)) for k, v in (values or {}).items()] if isinstance(values, Mapping) else []

    rules = []
    for rule in trace.get("rules") or ():
        if isinstance(rule, Mapping):
            rules.append(str(rule.get("annotation") or _("row %(row)s of the table") % {"row": rule.get("row", "?")}))
        else:
            rules.append(str(rule))
    return {"decision": trace.get("decision", ""), "version": trace.get("version", ""),
            "inputs": pairs(trace.get("inputs")), "rules": rules, "outputs": pairs(trace.get("outputs"))}


def _correction_form(request: HttpRequest, application: Application) -> forms.CorrectionForm:
    bound = request.method == "POST"
    return forms.CorrectionForm(request.POST if bound else None, request.FILES if bound else None,
                                questions=queries.asked_questions(application), answers=application.answers,
                                materials=queries.requested_materials(application))


@login_required
def application_detail(request: HttpRequest, reference: str) -> HttpResponse:
    _user, application = _own(request, reference)
    return render(request, "services/apply/detail.html", _detail_context(request, application))


def _detail_context(request: HttpRequest, application: Application) -> dict[str, Any]:
    correcting = application.status == ApplicationStatus.CORRECTION
    return {"application": application, "item": application.item, "timeline": _timeline(application),
            "trace": _trace_rows(application.decision_trace),
            "answers": _answer_rows(application, change_links=False),
            "materials": _material_rows(application, change_links=False),
            "correction_form": _correction_form(request, application) if correcting else None}


@login_required
def application_correct(request: HttpRequest, reference: str) -> HttpResponse:
    """The answer to a request for correction (补正): changed answers, replaced materials, a note."""
    user, application = _own(request, reference)
    if application.status != ApplicationStatus.CORRECTION:
        return redirect("services:application", application.reference)
    form = _correction_form(request, application)
    if form.is_bound and form.is_valid():
        try:
            actions.answer_correction(
                user, application, answers=form.changed_answers(application.answers),
                files={code: actions.Evidence(upload.name or "", upload.read())
                       for code, upload in form.uploads().items()},
                note=form.cleaned_data["note"])
        except DomainError as error:
            _failed(error, form)
        else:
            return redirect("services:application", application.reference)
    return render(request, "services/apply/detail.html", {**_detail_context(request, application),
                                                          "correction_form": form, **_errors(form)})


@login_required
def application_withdraw(request: HttpRequest, reference: str) -> HttpResponse:
    user, application = _own(request, reference)
    if not application.is_open:
        return redirect("services:application", application.reference)
    form = forms.WithdrawForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            actions.withdraw_application(user, application, reason=form.cleaned_data["reason"])
        except DomainError as error:
            _failed(error, form)
        else:
            return redirect("services:application", application.reference)
    return render(request, "services/apply/withdraw.html", {"application": application, "item": application.item,
                                                            "form": form, **_errors(form)})


urlpatterns: list = [
    path("apply/<str:code>/", apply_start, name="apply_start"),
    path("apply/<int:pk>/resume/", apply_resume, name="apply_resume"),
    path("apply/<int:pk>/q/<str:name>/", apply_question, name="apply_question"),
    path("apply/<int:pk>/m/<str:code>/", apply_material, name="apply_material"),
    path("apply/<int:pk>/check/", apply_check, name="apply_check"),
    path("applications/", my_applications, name="my_applications"),
    path("applications/<str:reference>/", application_detail, name="application"),
    path("applications/<str:reference>/confirmation/", apply_confirmation, name="apply_confirmation"),
    path("applications/<str:reference>/correct/", application_correct, name="application_correct"),
    path("applications/<str:reference>/withdraw/", application_withdraw, name="application_withdraw"),
]
