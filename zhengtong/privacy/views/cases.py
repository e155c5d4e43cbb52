"""Pages of citizens' cases: a citizen objects to an access to their data and follows the answer, asks for a
record about them to be corrected and follows the decision; the data governance office works its objection
queue (and follows up overdue corrections); a provider department's data officers work their correction queue.

Pages are thin: a case outside the visitor's reach is a 404, a form is shown only to those who may use it, and
the action checks the permission again when the form is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from django.views.decorators.http import require_GET

from zhengtong.audit import actions as audit
from zhengtong.audit.models import AuditEntry
from zhengtong.core.errors import DomainError, InvalidInput, NotPermitted
from zhengtong.core.masking import mask_name
from zhengtong.exchange import door
from zhengtong.identity.actions import actor_of
from zhengtong.identity.models import Department, User
from zhengtong.privacy.actions import cases as actions
from zhengtong.privacy.forms import cases as forms
from zhengtong.privacy.models import CorrectionRequest, Objection
from zhengtong.privacy.queries import cases as queries
from zhengtong.registries.models import Registry

PER_PAGE = 25

ACCESS_LABELS = {
    "exchange.read": gettext_lazy("read your record"),
    "exchange.search": gettext_lazy("found your record in a search"),
    "exchange.export": gettext_lazy("exported your record"),
    "exchange.reveal": gettext_lazy("revealed a full value of your record"),
    "exchange.read_refused": gettext_lazy("tried to read your record and was refused"),
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _citizen(request: HttpRequest) -> User:
    user = _user(request)
    _require(getattr(user, "citizen", None) is not None)
    return user


def _errors(form: Any) -> dict[str, Any]:
    """Context of the shared error summary (exchange/sharing/_form_errors.html)."""
    return {"error_forms": [form], "error_formsets": [], "has_errors": form.is_bound and bool(form.errors)}


def _failed(error: DomainError, form: Any) -> None:
    if isinstance(error, NotPermitted):
        raise PermissionDenied(error.message) from None
    if isinstance(error, InvalidInput):
        forms.show_problems(error, form)
    else:
        form.add_error(None, error.message)


def access_label(action: str) -> str:
    return str(ACCESS_LABELS.get(action, action))


def _history(case: Objection | CorrectionRequest, *, for_citizen: bool) -> list[dict[str, Any]]:
    """Rows for exchange/sharing/_history.html. Citizens see which department acted, not which official."""
    rows = []
    for entry in queries.history(case):
        detail = entry.detail or {}
        notes = [f"{label}: {detail[key]}" for key, label in (("answer", _("Answer")), ("reason", _("Reason")),
                                                                ("due", _("Deadline"))) if detail.get(key)]
        if for_citizen and entry.actor_kind == "staff":
            entry.actor_name = ""
        rows.append({"entry": entry, "label": queries.HISTORY_LABELS.get(entry.action, entry.action),
                     "notes": notes})
    return rows


def _page(request: HttpRequest, items: Any) -> Any:
    return Paginator(items, PER_PAGE).get_page(request.GET.get("page"))


# --- the citizen's objections --------------------------------------------------------------------------------


@login_required
def objection_list(request: HttpRequest) -> HttpResponse:
    user = _citizen(request)
    deadlines = queries.Deadlines.as_of()
    page = _page(request, queries.own_objections(user))
    return render(request, "privacy/cases/objection_list.html", {
        "page": page, "rows": [(o, queries.state(deadlines, o)) for o in page], "query": "",
        "access_label": access_label})


def _department_name(entry: AuditEntry) -> str:
    department = Department.objects.filter(code=entry.actor_department).first() if entry.actor_department else None
    return department.name if department else entry.actor_department


@login_required
def objection_detail(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    objection = queries.visible_objection(user, number)
    if objection is None:
        raise Http404
    own = objection.citizen_id == user.pk
    return render(request, "privacy/cases/objection_detail.html", {
        "objection": objection, "own": own, "state": queries.state(queries.Deadlines.as_of(), objection),
        "access": access_label(objection.access_action), "history": _history(objection, for_citizen=own),
        "can_answer": queries.may_answer(user, objection), "citizen_name": _citizen_name(objection.citizen),
        "entry": None if own else AuditEntry.objects.filter(pk=objection.audit_entry_id).first()})


def _citizen_name(user: User) -> str:
    citizen = getattr(user, "citizen", None)
    return mask_name(citizen.name) if citizen is not None else user.get_username()


# --- the governance office's objection queue ------------------------------------------------------------------


@login_required
def objection_queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(queries.may_answer_objections(user))
    filters = forms.QueueForm(request.GET or None)
    chosen = filters.chosen()
    deadlines = queries.Deadlines.as_of()
    page = _page(request, queries.objection_queue(user, chosen))
    return render(request, "privacy/cases/objection_queue.html", {
        "filters": filters, "queue": chosen, "page": page, "query": f"queue={chosen.value}",
        "rows": [(o, queries.state(deadlines, o)) for o in page], "access_label": access_label,
        "overdue_corrections": queries.overdue_corrections(user, deadlines)})


@login_required
def answer_objection(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    objection = queries.visible_objection(user, number)
    if objection is None:
        raise Http404
    _require(queries.may_answer(user, objection))
    form = forms.AnswerObjectionForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            actions.answer_objection(user, objection, upheld=form.cleaned_data["decision"] == "upheld",
                                     answer=form.cleaned_data["answer"])
        except DomainError as error:
            _failed(error, form)
        else:
            messages.success(request, _("Objection %(number)s is answered.") % {"number": objection.number})
            return redirect("privacy:objection", objection.number)
    return render(request, "privacy/cases/answer_form.html", {
        "objection": objection, "form": form, "access": access_label(objection.access_action),
        "state": queries.state(queries.Deadlines.as_of(), objection), "citizen_name": _citizen_name(objection.citizen),
        "entry": AuditEntry.objects.filter(pk=objection.audit_entry_id).first(), **_errors(form)})


# --- the citizen's corrections ---------------------------------------------------------------------------------


@login_required
def correction_list(request: HttpRequest) -> HttpResponse:
    user = _citizen(request)
    deadlines = queries.Deadlines.as_of()
    page = _page(request, queries.own_corrections(user))
    return render(request, "privacy/cases/correction_list.html", {
        "page": page, "rows": [(c, queries.state(deadlines, c)) for c in page], "query": ""})


def _target_choices(user: User) -> list[Any]:
    """The citizen's records as the one door returns them, as choices of one field each, grouped by registry."""
    readings = door.read_own_records(door.Reader.citizen(user), purpose=_("Choosing a value to correct"))
    registries = {r.code: r for r in Registry.objects.filter(code__in={reading.registry for reading in readings})}
    groups: list[Any] = []
    for reading in readings:
        registry = registries[reading.registry]
        labels = dict(door.field_labels(registry, list(reading.values)))
        options = [(f"{registry.code}|{reading.record_id}|{name}",
                    _("%(label)s: now %(value)s") % {"label": labels[name], "value": _shown(value)})
                   for name, value in reading.values.items()]
        groups.append((registry.name, options))
    return groups


def _shown(value: Any) -> str:
    return "—" if value in (None, "") else str(value)


def _preselected(groups: Sequence[Any], code: str, field: str) -> str | None:
    """The one choice of `field` in registry `code`, when the citizen has exactly one record there."""
    found = [value for _group, options in groups for value, _label in options
             if value.startswith(f"{code}|") and value.endswith(f"|{field}")]
    return found[0] if len(found) == 1 else None


def _visible_correction(request: HttpRequest, number: str) -> CorrectionRequest:
    correction = queries.visible_correction(_user(request), number)
    if correction is None:
        raise Http404
    return correction


@login_required
def correction_detail(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    correction = _visible_correction(request, number)
    own = correction.citizen_id == user.pk
    return render(request, "privacy/cases/correction_detail.html", {
        "correction": correction, "own": own, "state": queries.state(queries.Deadlines.as_of(), correction),
        "history": _history(correction, for_citizen=own), "can_decide": queries.may_decide(user, correction),
        "requested_value": queries.requested_value_shown(user, correction)})


@login_required
@require_GET
def correction_evidence(request: HttpRequest, number: str) -> FileResponse:
    """The evidence file, to its citizen and the staff who may open the case; each download is audited."""
    user = _user(request)
    correction = _visible_correction(request, number)
    try:
        handle = actions.evidence_path(correction.evidence_digest).open("rb")
    except FileNotFoundError:
        raise Http404 from None
    # The document is about the citizen: the entry names them, so they and auditors find who opened it.
    audit.record_alone("privacy.download_evidence", actor_of(user), object_type="correction",
                       object_id=correction.number, subjects=[correction.citizen.citizen.resident_id],
                       purpose=gettext_noop("deciding a correction request"),
                       detail={"evidence": correction.evidence_digest})
    return FileResponse(handle, as_attachment=True, filename=correction.evidence_name,
                        content_type=correction.evidence_type)


# --- the provider's correction queue ---------------------------------------------------------------------------


@login_required
def correction_queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(queries.decidable_registries(user).exists())
    filters = forms.QueueForm(request.GET or None)
    chosen = filters.chosen()
    deadlines = queries.Deadlines.as_of()
    page = _page(request, queries.correction_queue(user, chosen))
    return render(request, "privacy/cases/correction_queue.html", {
        "filters": filters, "queue": chosen, "page": page, "query": f"queue={chosen.value}",
        "rows": [(c, queries.state(deadlines, c)) for c in page]})


def _current_value(user: User, correction: CorrectionRequest) -> tuple[Any, bool, str]:
    """The field's value as the one door returns it to this staff member: (value, masked, refusal)."""
    try:
        reading = door.read_record(door.Reader.staff(user), correction.registry, door.RecordId(correction.record_id),
                                   purpose=_("Deciding a citizen's correction request"),
                                   case_reference=correction.number, fields=[correction.field])
    except door.Refused as refused:
        return None, False, refused.message
    return reading.values.get(correction.field), correction.field in reading.masked, ""


@login_required
def decide_correction(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    correction = _visible_correction(request, number)
    _require(queries.may_decide(user, correction))
    form = forms.DecideCorrectionForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            actions.decide_correction(user, correction, accept=form.cleaned_data["decision"] == "accept",
                                      reason=form.cleaned_data["reason"])
        except DomainError as error:
            _failed(error, form)
        else:
            messages.success(request, _("Correction request %(number)s is decided.") % {"number": correction.number})
            return redirect("privacy:correction", correction.number)
    value, masked, refusal = _current_value(user, correction)
    return render(request, "privacy/cases/decide_form.html", {
        "correction": correction, "form": form, "current": _shown(value), "masked": masked, "refusal": refusal,
        "requested_value": queries.requested_value_shown(user, correction),
        "state": queries.state(queries.Deadlines.as_of(), correction), **_errors(form)})


urlpatterns: list = [
    path("objections/", objection_list, name="objections"),
    path("objections/<str:number>/", objection_detail, name="objection"),
    path("objections/<str:number>/answer/", answer_objection, name="answer-objection"),
    path("corrections/", correction_list, name="corrections"),
    path("corrections/<str:number>/", correction_detail, name="correction"),
    path("corrections/<str:number>/evidence/", correction_evidence, name="correction-evidence"),
    path("corrections/<str:number>/decide/", decide_correction, name="decide-correction"),
    path("queue/objections/", objection_queue, name="objection-queue"),
    path("queue/corrections/", correction_queue, name="correction-queue"),
]
