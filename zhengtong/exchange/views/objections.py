"""Pages of data objections under /sharing/objections/: the consumer raises one against a value it reads under a
grant (opened from the record page, or by typing the record's key), the provider corrects or answers, the consumer
accepts or escalates, the governance office settles and watches overdue ones.

Pages are thin: an objection outside the visitor's reach is a 404, a step's form is shown only to those who may
take it, and the action checks the permission again. Record keys travel in POST bodies, never in URLs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from zhengtong.core.errors import DomainError, InvalidInput, NotPermitted
from zhengtong.exchange import actions, door, queries
from zhengtong.exchange.forms import show_problems
from zhengtong.exchange.models import DataObjection, ObjectionStatus
from zhengtong.exchange.views import records
from zhengtong.exchange.views.sharing import form_errors, side_listing
from zhengtong.identity.models import User
from zhengtong.registries.models import FieldType, Registry

HISTORY_LABELS = {
    "exchange.raise_objection": gettext_lazy("Objection raised"),
    "exchange.correct_objection": gettext_lazy("Record corrected"),
    "exchange.answer_objection": gettext_lazy("Provider's answer: the value is right"),
    "exchange.accept_objection_answer": gettext_lazy("Answer accepted"),
    "exchange.escalate_objection": gettext_lazy("Escalated to the governance office"),
    "exchange.settle_objection": gettext_lazy("Settled by the governance office"),
    "exchange.remind_objection": gettext_lazy("Deadline reminder sent"),
    "exchange.objection_overdue": gettext_lazy("Overdue notice sent"),
}
NOTE_LABELS = (("note", gettext_lazy("Note")), ("explanation", gettext_lazy("Explanation")),
               ("grounds", gettext_lazy("Grounds")), ("settlement", gettext_lazy("Settlement")),
               ("record_version", gettext_lazy("Record version")), ("due", gettext_lazy("Deadline")))
FLAG_CHOICES = [("", gettext_lazy("Any deadline")), (queries.DueState.OVERDUE, gettext_lazy("Overdue")),
                (queries.DueState.DUE_SOON, gettext_lazy("Due soon"))]


# --- forms ------------------------------------------------------------------------------------------------------


def _text_area(rows: int) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class ObjectionFilterForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False,
                               choices=[("", gettext_lazy("Any status")), *ObjectionStatus.choices])
    deadline = forms.ChoiceField(label=gettext_lazy("Deadline"), required=False, choices=FLAG_CHOICES)


class ObjectionForm(forms.Form):
    """The objection: which field, the value believed right, why, and a document. The record comes from the record
    page (a sealed locator) or from its key, typed in."""

    field = forms.ChoiceField(label=gettext_lazy("Field with the wrong value"))
    proposed_value = forms.CharField(label=gettext_lazy("The value you believe is right"),
                                     max_length=actions.objections.MAX_VALUE)
    description = forms.CharField(label=gettext_lazy("Why the value is wrong"), widget=_text_area(4),
                                  max_length=actions.objections.MAX_TEXT,
                                  help_text=gettext_lazy("Say where the right value comes from, so the provider "
                                                         "can check it."))
    evidence = forms.FileField(
        label=gettext_lazy("Evidence (optional)"), required=False,
        help_text=gettext_lazy("A PDF, PNG or JPEG of a document that shows the right value, at most 10 MB."))

    def __init__(self, *args: Any, field_choices: list[tuple[str, str]], key_specs: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.key_specs = key_specs
        field = self.fields["field"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Choose a field")), *field_choices]
        for spec in key_specs:
            self.fields[records.KEY_PREFIX + spec.name] = forms.CharField(label=records.field_label(spec),
                                                                          max_length=200)
        self.order_fields([records.KEY_PREFIX + spec.name for spec in key_specs])

    def clean_evidence(self) -> Any:
        upload = self.cleaned_data["evidence"]
        if upload is not None and upload.size > actions.objections.MAX_EVIDENCE_BYTES:  # before reading it
            raise forms.ValidationError(_("The file may be at most %(mb)d MB.")
                                        % {"mb": actions.objections.MAX_EVIDENCE_BYTES >> 20})
        return upload

    def key(self) -> dict[str, str]:
        return {spec.name: self.cleaned_data[records.KEY_PREFIX + spec.name] for spec in self.key_specs}


class CorrectForm(forms.Form):
    value = forms.CharField(label=gettext_lazy("Value to write"), max_length=actions.objections.MAX_VALUE,
                            help_text=gettext_lazy("The consumer's value; change it if the right value differs."))
    note = forms.CharField(label=gettext_lazy("Note to the consumer (optional)"), required=False,
                           widget=_text_area(3))


class AnswerForm(forms.Form):
    explanation = forms.CharField(label=gettext_lazy("Why the value is right"), widget=_text_area(5))


class EscalateForm(forms.Form):
    grounds = forms.CharField(label=gettext_lazy("Why the answer does not settle it"), widget=_text_area(5))


class SettleForm(forms.Form):
    decision = forms.ChoiceField(label=gettext_lazy("Settlement"), widget=forms.RadioSelect, choices=[
        ("wrong", gettext_lazy("The value is wrong: the provider corrects it within 5 working days")),
        ("stands", gettext_lazy("The value stands"))])
    settlement = forms.CharField(label=gettext_lazy("Reasons of the settlement"), widget=_text_area(5))


# --- helpers ----------------------------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _visible(request: HttpRequest, number: str) -> DataObjection:
    return get_object_or_404(queries.visible_objections(_user(request)), number=number)


def _field_label(objection: DataObjection) -> str:
    spec = door.codec_for(objection.registry).schema.by_name.get(objection.field)
    return records.field_label(spec) if spec is not None else objection.field


def _history(objection: DataObjection) -> list[dict[str, Any]]:
    rows = []
    for entry in queries.objection_history(objection):
        detail = entry.detail or {}
        notes = [f"{label}: {detail[key]}" for key, label in NOTE_LABELS if detail.get(key) not in (None, "")]
        rows.append({"entry": entry, "label": HISTORY_LABELS.get(entry.action, entry.action), "notes": notes})
    return rows


# --- lists and detail -------------------------------------------------------------------------------------------


@login_required
@require_GET
def objection_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ObjectionFilterForm(request.GET or None)
    deadlines = queries.Deadlines.as_of()

    def on_side(side: Any) -> Any:
        objections = queries.objections_on_side(user, side)
        if form.is_valid() and form.cleaned_data["deadline"]:
            objections = queries.with_flag(objections, deadlines, queries.DueState(form.cleaned_data["deadline"]))
        return objections

    listing = side_listing(request, queries.objection_sides(user), on_side, form, queries.OBJECTION_SIDE_LABELS)
    return render(request, "exchange/objections/list.html", {
        **listing, "rows": [(o, queries.objection_state(deadlines, o)) for o in listing["page"]],
    })


@never_cache
@login_required
@require_GET
def objection_detail(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    objection = _visible(request, number)
    purpose = _("Handling data objection %(number)s") % {"number": objection.number}
    return render(request, "exchange/objections/detail.html", {
        "objection": objection, "field_label": _field_label(objection),
        "state": queries.objection_state(queries.Deadlines.as_of(), objection),
        "history": _history(objection),
        "record_opener": [("locator", records.seal_locator(user, objection.registry, objection.record_id)),
                          ("purpose", purpose), ("case_reference", objection.number)],
        "can_open_record": user.has_perm(door.READ_RECORDS) and getattr(user, "staff", None) is not None,
        "can_answer": queries.may_answer_objection(user, objection),
        "can_accept": queries.may_accept(user, objection),
        "can_escalate": queries.may_escalate(user, objection),
        "can_settle": queries.may_settle_objection(user, objection),
    })


@never_cache
@login_required
@require_GET
def evidence(request: HttpRequest, number: str) -> FileResponse:
    """The evidence file, to those who may see the objection only, as a download of the type it was checked to be."""
    objection = _visible(request, number)
    if not objection.evidence_digest:
        raise Http404
    path = actions.objections.evidence_path(objection.evidence_digest)
    if not path.exists():
        raise Http404
    return FileResponse(path.open("rb"), as_attachment=True, filename=objection.evidence_name,
                        content_type=objection.evidence_type)


# --- raising ----------------------------------------------------------------------------------------------------


def _objection_form(request: HttpRequest, user: User, registry: Registry, data: Any, files: Any,
                    locator: str) -> ObjectionForm:
    """The form, with the fields the consumer's right covers (every field when the door is about to refuse)."""
    right = records.right_or_none(door.Reader.staff(user), registry)[0]
    schema = door.codec_for(registry).schema
    specs = [spec for spec in schema.fields if spec.type != FieldType.FILE
             and (right is None or spec.name in right.fields)]
    return ObjectionForm(data, files, auto_id="objection-%s",
                         field_choices=[(spec.name, records.field_label(spec)) for spec in specs],
                         key_specs=[] if locator else list(schema.key_fields))


@never_cache
@login_required
def new_objection(request: HttpRequest, code: str) -> HttpResponse:
    """Report a wrong value. From the record page the record comes sealed (its locator); otherwise its key is typed
    in. The first POST from the record page carries only the locator, and opens the empty form."""
    user = _user(request)
    _require(queries.may_raise(user))
    registry = get_object_or_404(Registry, code=code)
    locator = request.POST.get("locator", "") if request.method == "POST" else ""
    key: door.RecordId | None = records.open_locator(user, registry, locator) if locator else None
    if locator and key is None:
        return render(request, "exchange/records/incomplete.html", {"registry": registry}, status=400)
    submitted = request.method == "POST" and "field" in request.POST
    form = _objection_form(request, user, registry, request.POST if submitted else None,
                           request.FILES if submitted else None, locator)
    status = 200
    if submitted and form.is_valid():
        upload = form.cleaned_data["evidence"]
        data = actions.ObjectionInput(
            registry=registry, key=key if key is not None else form.key(), field=form.cleaned_data["field"],
            proposed_value=form.cleaned_data["proposed_value"], description=form.cleaned_data["description"],
            evidence=actions.Evidence(upload.name, upload.read()) if upload is not None else None)
        try:
            objection = actions.raise_objection(user, data)
        except door.Refused as error:
            return records.refusal_page(request, registry, error, audited=True)
        except InvalidInput as error:
            show_problems(error, [form])
        except DomainError as error:
            if isinstance(error, NotPermitted):
                raise PermissionDenied(error.message) from None
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Objection %(number)s is raised; the provider answers by %(due)s.")
                             % {"number": objection.number, "due": objection.answer_due.isoformat()})
            return redirect("exchange:objection", objection.number)
    if submitted and not form.is_valid():
        status = 422
    return render(request, "exchange/objections/new.html", {
        "registry": registry, "form": form, "locator": locator, **form_errors(form),
    }, status=status)


# --- steps ------------------------------------------------------------------------------------------------------


def _step(request: HttpRequest, number: str, *, allowed: Callable[[User, DataObjection], bool],
          form_class: type[forms.Form], run: Callable[[User, DataObjection, dict[str, Any]], Any], title: str,
          done: str, initial: Callable[[DataObjection], dict[str, Any]] | None = None) -> HttpResponse:
    user = _user(request)
    objection = _visible(request, number)
    _require(allowed(user, objection))
    form = form_class(request.POST if request.method == "POST" else None,
                      initial=initial(objection) if initial else None)
    if form.is_bound and form.is_valid():
        try:
            run(user, objection, form.cleaned_data)
        except InvalidInput as error:
            show_problems(error, [form])
        except DomainError as error:
            if isinstance(error, NotPermitted):
                raise PermissionDenied(error.message) from None
            form.add_error(None, error.message)
        else:
            messages.success(request, done % {"number": objection.number})
            return redirect("exchange:objection", objection.number)
    return render(request, "exchange/objections/step.html", {
        "objection": objection, "form": form, "title": title, "field_label": _field_label(objection),
        **form_errors(form)}, status=422 if form.is_bound else 200)


@never_cache
@login_required
def correct(request: HttpRequest, number: str) -> HttpResponse:
    return _step(request, number, allowed=queries.may_answer_objection, form_class=CorrectForm,
                 title=_("Correct the record"), done=_("The record is corrected; objection %(number)s is closed."),
                 initial=lambda objection: {"value": objection.proposed_value},
                 run=lambda user, o, data: actions.correct_objection(user, o, value=data["value"], note=data["note"]))


@never_cache
@login_required
def answer(request: HttpRequest, number: str) -> HttpResponse:
    return _step(request, number, allowed=queries.may_answer_objection, form_class=AnswerForm,
                 title=_("Answer: the value is right"), done=_("Your answer to %(number)s is sent to the consumer."),
                 run=lambda user, o, data: actions.answer_objection(user, o, explanation=data["explanation"]))


@never_cache
@login_required
def escalate(request: HttpRequest, number: str) -> HttpResponse:
    return _step(request, number, allowed=queries.may_escalate, form_class=EscalateForm,
                 title=_("Escalate to the governance office"),
                 done=_("Objection %(number)s is escalated; the data governance office will settle it."),
                 run=lambda user, o, data: actions.escalate_objection(user, o, grounds=data["grounds"]))


@never_cache
@login_required
def settle(request: HttpRequest, number: str) -> HttpResponse:
    return _step(request, number, allowed=queries.may_settle_objection, form_class=SettleForm,
                 title=_("Settle the objection"), done=_("Objection %(number)s is settled."),
                 run=lambda user, o, data: actions.settle_objection(
                     user, o, value_wrong=data["decision"] == "wrong", settlement=data["settlement"]))


@login_required
@require_POST
def accept(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    objection = _visible(request, number)
    _require(queries.may_accept(user, objection))
    try:
        actions.accept_answer(user, objection)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("You accepted the answer; objection %(number)s is closed.")
                         % {"number": objection.number})
    return redirect("exchange:objection", objection.number)


urlpatterns: list = [
    path("objections/", objection_list, name="objections"),
    path("objections/new/<slug:code>/", new_objection, name="new-objection"),
    path("objections/<str:number>/", objection_detail, name="objection"),
    path("objections/<str:number>/evidence/", evidence, name="objection-evidence"),
    path("objections/<str:number>/correct/", correct, name="correct-objection"),
    path("objections/<str:number>/answer/", answer, name="answer-objection"),
    path("objections/<str:number>/accept/", accept, name="accept-objection"),
    path("objections/<str:number>/escalate/", escalate, name="escalate-objection"),
    path("objections/<str:number>/settle/", settle, name="settle-objection"),
]
