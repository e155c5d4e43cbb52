"""The citizen's forms of the privacy center, one question per page (the design brief's pattern): an objection
to an access (why → check your answers → confirmation) and a correction request (which value → the right value
→ why → evidence → check your answers → confirmation).

The answers wait in the citizen's session until they submit from the check page; the evidence file waits in a
staging place (actions.cases.stage_evidence) and becomes the case's only once the request is saved. Every page
has a back link; the check page has a change link per answer, which comes back to the check page. Problems the
action finds on submitting are shown on the check page, each linking to the page of the answer it names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhengtong.core import evidence as evidence_files
from zhengtong.core.errors import DomainError, FieldProblem, InvalidInput, NotPermitted
from zhengtong.identity.models import User
from zhengtong.privacy.actions import cases as actions
from zhengtong.privacy.forms import cases as forms
from zhengtong.privacy.models import CorrectionRequest, Objection
from zhengtong.privacy.queries import cases as queries
from zhengtong.privacy.views.cases import (
    _citizen,
    _department_name,
    _errors,
    _preselected,
    _target_choices,
    access_label,
)
from zhengtong.registries.models import Registry

OBJECTION_DRAFT = "privacy.objection"
CORRECTION_DRAFT = "privacy.correction"


@dataclasses.dataclass(frozen=True)
class Problem:
    """A problem shown on the check page: which answer, what is wrong, and the page to change it on."""

    label: str
    href: str = ""
    message: str = ""


def _draft(request: HttpRequest, key: str) -> dict[str, Any]:
    return dict(request.session.get(key) or {})


def _save(request: HttpRequest, key: str, draft: dict[str, Any]) -> None:
    request.session[key] = draft


def _changing(request: HttpRequest) -> bool:
    return request.GET.get("change") == "1"


def _problems_of(error: DomainError, pages: dict[str, tuple[str, str]]) -> list[Problem]:
    """The action's problems as check-page rows; `pages` maps a field to (its label, the page to change it)."""
    if isinstance(error, NotPermitted):
        raise Http404
    if isinstance(error, InvalidInput) and error.details:
        return [Problem(*pages.get(p.field, ("", "")), message=p.reason) for p in error.details]
    return [Problem("", "", error.message)]


# --- the objection -------------------------------------------------------------------------------------------


def _entry(user: User, entry_id: int) -> Any:
    entry = queries.entry_concerning(user, entry_id)
    if entry is None:
        raise Http404
    return entry


def _access_context(entry: Any) -> dict[str, Any]:
    return {"entry": entry, "access": access_label(entry.action), "department": _department_name(entry)}


@login_required
def objection_reason(request: HttpRequest, entry_id: int) -> HttpResponse:
    """The one question of an objection: why. The access objected to is shown above it."""
    user = _citizen(request)
    entry = _entry(user, entry_id)
    draft = _draft(request, OBJECTION_DRAFT)
    initial = {"reason": draft.get("reason", "")} if draft.get("entry") == entry_id else {}
    form = forms.ObjectionForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_bound and form.is_valid():
        _save(request, OBJECTION_DRAFT, {"entry": entry_id, "reason": form.cleaned_data["reason"]})
        return redirect("privacy:check-objection", entry_id)
    return render(request, "privacy/cases/objection_form.html", {
        "form": form, "back": reverse("privacy:usage"), **_access_context(entry), **_errors(form)})


@login_required
def objection_check(request: HttpRequest, entry_id: int) -> HttpResponse:
    user = _citizen(request)
    entry = _entry(user, entry_id)
    draft = _draft(request, OBJECTION_DRAFT)
    change = reverse("privacy:new-objection", args=[entry_id])
    if draft.get("entry") != entry_id or not draft.get("reason"):
        return redirect(change)
    problems: list[Problem] = []
    if request.method == "POST":
        try:
            objection = actions.object_to_access(user, entry_id=entry_id, reason=draft["reason"])
        except DomainError as error:
            problems = _problems_of(error, {"reason": (_("Why you object"), change)})
        else:
            request.session.pop(OBJECTION_DRAFT, None)
            return redirect("privacy:objection-submitted", objection.number)
    return render(request, "privacy/cases/objection_check.html", {
        "reason": draft["reason"], "change": change, "back": change, "problems": problems,
        **_access_context(entry)})


@login_required
def objection_submitted(request: HttpRequest, number: str) -> HttpResponse:
    user = _citizen(request)
    objection = Objection.objects.filter(number=number, citizen=user).first()
    if objection is None:
        raise Http404
    return render(request, "privacy/cases/objection_submitted.html", {"objection": objection})


# --- the correction request -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    label: Any  # what the check page calls the answer
    form: type[Any]


STEPS = (
    Step("target", gettext_lazy("Value to correct"), forms.CorrectionTargetForm),
    Step("value", gettext_lazy("The right value"), forms.CorrectionValueForm),
    Step("reason", gettext_lazy("Why the record is wrong"), forms.CorrectionReasonForm),
    Step("evidence", gettext_lazy("Evidence"), forms.CorrectionEvidenceForm),
)
BY_NAME = {step.name: step for step in STEPS}
ACTION_FIELDS = {"registry": "target", "record": "target", "field": "target", "value": "value",
                 "reason": "reason", "evidence": "evidence"}  # the action's problem fields → the step


def _step_url(step: str, *, change: bool = False) -> str:
    url = reverse("privacy:new-correction") if step == "target" else reverse("privacy:correction-step", args=[step])
    return f"{url}?change=1" if change else url


def _first_missing(draft: dict[str, Any]) -> str | None:
    return next((step.name for step in STEPS if not draft.get(step.name)), None)


def _next_url(draft: dict[str, Any], step: str, *, change: bool) -> str:
    index = [s.name for s in STEPS].index(step)
    following = STEPS[index + 1].name if index + 1 < len(STEPS) else None
    missing = _first_missing(draft)
    if following is None or (change and missing is None):
        return reverse("privacy:check-correction")
    return _step_url(following)


def _back_url(step: str, change: bool) -> str:
    if change:
        return reverse("privacy:check-correction")
    index = [s.name for s in STEPS].index(step)
    return _step_url(STEPS[index - 1].name) if index else reverse("privacy:corrections")


def _registry_of(draft: dict[str, Any]) -> Registry:
    code, _record, _field = forms.target_parts(draft["target"])
    registry = Registry.objects.filter(code=code).first()
    if registry is None:
        raise Http404
    return registry


def _answer(step: Step, form: Any, draft: dict[str, Any], context: dict[str, Any]) -> bool:
    """Keep the step's answer in the draft, or put its problems on the form; True when kept."""
    if step.name == "target":
        chosen = form.cleaned_data["target"]
        if draft.get("target") != chosen:  # another value: the answers about the old one no longer apply
            _drop_evidence(draft)
            draft.clear()
        labels = {value: label for _group, options in context["groups"] for value, label in options}
        draft.update(target=chosen, target_label=str(labels.get(chosen, "")))
        return True
    if step.name == "value":
        _code, _record, field = forms.target_parts(draft["target"])
        try:
            actions.check_correction_value(_registry_of(draft), field, form.cleaned_data["value"])
        except InvalidInput as error:
            forms.show_problems(error, form)
            return False
        draft["value"] = form.cleaned_data["value"]
        return True
    if step.name == "reason":
        draft["reason"] = form.cleaned_data["reason"]
        return True
    upload = form.cleaned_data["evidence"]
    if upload is None:  # a file attached before stays (the form asks for one only when there is none)
        return bool(draft.get("evidence"))
    content = upload.read()
    problems: list[FieldProblem] = []
    kind = evidence_files.content_type(actions.Evidence(upload.name, content), problems)
    if not kind:
        forms.show_problems(InvalidInput("; ".join(p.reason for p in problems), problems), form)
        return False
    _drop_evidence(draft)
    draft["evidence"] = {"token": actions.stage_evidence(content), "name": upload.name, "size": len(content)}
    return True


def _drop_evidence(draft: dict[str, Any]) -> None:
    if draft.get("evidence"):
        actions.drop_staged_evidence(draft["evidence"]["token"])


@login_required
def correction_step(request: HttpRequest, step: str = "target") -> HttpResponse:
    """One question of the correction request. Reached out of order, it sends the citizen to the first
    question not answered yet."""
    user = _citizen(request)
    if step not in BY_NAME:
        raise Http404
    draft = _draft(request, CORRECTION_DRAFT)
    missing = _first_missing(draft)
    order = [s.name for s in STEPS]
    if missing is not None and order.index(missing) < order.index(step):
        return redirect(_step_url(missing))
    change = _changing(request)
    current = BY_NAME[step]
    context: dict[str, Any] = {"step": step, "draft": draft, "back": _back_url(step, change)}
    kwargs: dict[str, Any] = {}
    if step == "target":
        context["groups"] = kwargs["choices"] = _target_choices(user)
        chosen = draft.get("target") or _preselected(context["groups"], request.GET.get("registry", ""),
                                                     request.GET.get("field", ""))
        kwargs["initial"] = {"target": chosen}
    elif step in ("value", "reason"):
        kwargs["initial"] = {step: draft.get(step, "")}
    bound = request.method == "POST"
    form = current.form(request.POST if bound else None, request.FILES if bound and step == "evidence" else None,
                        **kwargs)
    if step == "evidence" and draft.get("evidence"):
        form.fields["evidence"].required = False
    if form.is_bound and form.is_valid() and _answer(current, form, draft, context):
        _save(request, CORRECTION_DRAFT, draft)
        return redirect(_next_url(draft, step, change=change))
    return render(request, "privacy/cases/correction_step.html", {
        "form": form, "field": form[step], "fieldset": False, "has_records": step != "target" or bool(
            context.get("groups")), **context, **_errors(form)})


def _rows(draft: dict[str, Any]) -> list[dict[str, Any]]:
    evidence = draft.get("evidence") or {}
    shown = {"target": draft.get("target_label", ""), "value": draft.get("value", ""),
             "reason": draft.get("reason", ""), "evidence": evidence.get("name", "")}
    return [{"name": step.name, "label": step.label, "value": shown[step.name], "size": evidence.get("size"),
             "change": _step_url(step.name, change=True)} for step in STEPS]


@login_required
def correction_check(request: HttpRequest) -> HttpResponse:
    user = _citizen(request)
    draft = _draft(request, CORRECTION_DRAFT)
    missing = _first_missing(draft)
    if missing is not None:
        return redirect(_step_url(missing))
    problems: list[Problem] = []
    if request.method == "POST":
        content = actions.staged_evidence(draft["evidence"]["token"])
        pages = {field: (str(BY_NAME[step].label), _step_url(step, change=True))
                 for field, step in ACTION_FIELDS.items()}
        if content is None:
            problems = [Problem(str(BY_NAME["evidence"].label), _step_url("evidence", change=True),
                                _("The file you sent has expired; attach it again."))]
        else:
            code, record_id, field = forms.target_parts(draft["target"])
            try:
                correction = actions.request_correction(
                    user, registry=_registry_of(draft), record_id=record_id, field=field, value=draft["value"],
                    reason=draft["reason"], evidence=actions.Evidence(draft["evidence"]["name"], content))
            except DomainError as error:
                problems = _problems_of(error, pages)
            else:
                _drop_evidence(draft)
                request.session.pop(CORRECTION_DRAFT, None)
                return redirect("privacy:correction-submitted", correction.number)
    return render(request, "privacy/cases/correction_check.html", {
        "rows": _rows(draft), "back": _step_url(STEPS[-1].name), "problems": problems})


@login_required
def correction_submitted(request: HttpRequest, number: str) -> HttpResponse:
    user = _citizen(request)
    correction = CorrectionRequest.objects.select_related("provider").filter(number=number, citizen=user).first()
    if correction is None:
        raise Http404
    return render(request, "privacy/cases/correction_submitted.html", {"correction": correction})


# Before the cases' own paths: "corrections/new/evidence/" is a step, not the evidence of case "new".
urlpatterns: list = [
    path("objections/new/<int:entry_id>/", objection_reason, name="new-objection"),
    path("objections/new/<int:entry_id>/check/", objection_check, name="check-objection"),
    path("objections/<str:number>/submitted/", objection_submitted, name="objection-submitted"),
    path("corrections/new/", correction_step, name="new-correction"),
    path("corrections/new/check/", correction_check, name="check-correction"),
    path("corrections/new/<slug:step>/", correction_step, name="correction-step"),
    path("corrections/<str:number>/submitted/", correction_submitted, name="correction-submitted"),
]
