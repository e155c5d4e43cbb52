"""Forms of objections and correction requests. They check the shape of the input; the actions check the rest
and their problems are shown back next to the field they name (`show_problems`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhengtong.core.errors import InvalidInput
from zhengtong.core.evidence import too_large_message
from zhengtong.privacy.actions.cases import MAX_EVIDENCE_BYTES, MAX_TEXT, MAX_VALUE
from zhengtong.privacy.queries.cases import QUEUE_LABELS, Queue


def _text_area(rows: int) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class ObjectionForm(forms.Form):
    reason = forms.CharField(label=_("Why do you object to this access?"), max_length=MAX_TEXT,
                             widget=_text_area(5),
                             help_text=_("For example: you never dealt with this department, or the purpose does "
                                         "not match anything you applied for."))


class AnswerObjectionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Outcome"), widget=forms.RadioSelect, choices=[
        ("upheld", _("Uphold: the access was not justified")),
        ("dismissed", _("Dismiss: the access had a proper basis"))])
    answer = forms.CharField(label=_("Answer to the citizen"), max_length=MAX_TEXT, widget=_text_area(6),
                             help_text=_("The citizen reads this. Say what was found and what follows."))


# The correction request, one question per page: which value, the right value, why, the evidence.


class CorrectionTargetForm(forms.Form):
    """The citizen's record and field come from what the one door returned to them, as `choices` of
    "<registry>|<record id>|<field>"."""

    target = forms.ChoiceField(label=_("Which value is wrong?"),
                               help_text=_("Your records as the departments hold them, by registry."))

    def __init__(self, *args: Any, choices: Sequence[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [("", _("Choose a value")), *choices]  # type: ignore[attr-defined]


def target_parts(target: str) -> tuple[str, int, str]:
    code, record_id, field = target.split("|", 2)
    return code, int(record_id), field


class CorrectionValueForm(forms.Form):
    value = forms.CharField(label=_("What is the right value?"), max_length=MAX_VALUE)


class CorrectionReasonForm(forms.Form):
    reason = forms.CharField(label=_("Why is the record wrong?"), max_length=MAX_TEXT, widget=_text_area(4),
                             help_text=_("For example: you changed your phone number, or the date was typed "
                                         "wrongly."))


class CorrectionEvidenceForm(forms.Form):
    evidence = forms.FileField(
        label=_("Attach a document that shows the right value"),
        help_text=_("A PDF, PNG or JPEG document, at most %(mb)d MB.") % {"mb": MAX_EVIDENCE_BYTES >> 20},
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"}))

    def clean_evidence(self) -> Any:
        upload = self.cleaned_data["evidence"]
        if upload is not None and upload.size > MAX_EVIDENCE_BYTES:  # refused before it is read into memory
            raise forms.ValidationError(too_large_message())
        return upload


class DecideCorrectionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), widget=forms.RadioSelect, choices=[
        ("accept", _("Accept: correct the record to the requested value")),
        ("refuse", _("Refuse"))])
    reason = forms.CharField(label=_("Reason"), required=False, max_length=MAX_TEXT, widget=_text_area(4),
                             help_text=_("Needed when refusing: the citizen reads it."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "refuse" and not str(data.get("reason") or "").strip():
            self.add_error("reason", _("Give the reason for refusing; the citizen will read it."))
        return data


class QueueForm(forms.Form):
    queue = forms.ChoiceField(label=_("Show"), required=False, choices=list(QUEUE_LABELS.items()),
                              widget=forms.RadioSelect)

    def chosen(self) -> Queue:
        if self.is_valid() and self.cleaned_data["queue"]:
            return Queue(self.cleaned_data["queue"])
        return Queue.WAITING


FIELD_ALIASES = {"registry": "target", "record": "target", "field": "target"}  # the action's names → the form's


def show_problems(error: InvalidInput, form: forms.Form) -> None:
    """Each problem of an action next to its field; problems without a field of the form above it."""
    for problem in error.details:
        name = FIELD_ALIASES.get(problem.field, problem.field)
        form.add_error(name if name in form.fields else None, problem.reason)
    if not error.details:
        form.add_error(None, error.message)
