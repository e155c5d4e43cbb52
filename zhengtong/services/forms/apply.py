"""Forms of applying. They give each question the input its type needs; the answer itself is checked by the
applying actions (`clean_answer`), whose problems are shown back next to the field they name (`show_problems`),
so the page and the API refuse the same things with the same words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhengtong.core.errors import InvalidInput
from zhengtong.core.evidence import MAX_BYTES, too_large_message
from zhengtong.services.actions.applications import MAX_NOTE, MAX_NUMBER_TEXT, MAX_TEXT, MAX_TEXTAREA, Question
from zhengtong.services.models import Material

ACCEPTED_FILES = "application/pdf,image/png,image/jpeg"
YES_NO = (("yes", _("Yes")), ("no", _("No")))


def answer_field(question: Question, *, initial: Any = None) -> forms.Field:
    """An input for one question; `required` stays off so that the action's message is the one shown."""
    common: dict[str, Any] = {"label": question.label, "help_text": question.hint, "required": False,
                              "initial": initial}
    if question.type in ("choice", "yes_no"):
        choices = YES_NO if question.type == "yes_no" else question.choices
        return forms.ChoiceField(choices=choices, widget=forms.RadioSelect, **common)
    if question.type == "textarea":
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "maxlength": MAX_TEXTAREA}), **common)
    if question.type == "date":
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date", "autocomplete": "off"}), **common)
    if question.type == "number":
        return forms.CharField(widget=forms.TextInput(
            attrs={"inputmode": "decimal", "spellcheck": "false", "maxlength": MAX_NUMBER_TEXT}), **common)
    return forms.CharField(widget=forms.TextInput(attrs={"maxlength": MAX_TEXT}), **common)


def initial_answer(value: Any) -> Any:
    """A kept answer as its input shows it (True/False back to yes/no)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


class QuestionForm(forms.Form):
    """One question per page: the single field is named after the question."""

    def __init__(self, *args: Any, question: Question, initial_value: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.question = question
        self.fields[question.name] = answer_field(question, initial=initial_answer(initial_value))

    def raw(self) -> Any:
        return self.cleaned_data.get(self.question.name)


def _file_field(label: Any, required: bool = False) -> forms.FileField:
    return forms.FileField(label=label, required=required,
                           help_text=_("A PDF, PNG or JPEG file, at most %(mb)d MB.") % {"mb": MAX_BYTES >> 20},
                           widget=forms.ClearableFileInput(attrs={"accept": ACCEPTED_FILES}))


def _checked_size(upload: Any) -> Any:
    if upload is not None and upload.size > MAX_BYTES:  # refused before it is read into memory
        raise forms.ValidationError(too_large_message())
    return upload


class MaterialForm(forms.Form):
    """One material: a file, or (when the item and material allow it) the applicant's commitment instead."""

    file = _file_field(_("File"))
    commit = forms.BooleanField(required=False)

    def __init__(self, *args: Any, material: Material, may_commit: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["file"].label = material.name
        if may_commit:
            self.fields["commit"].label = _("Instead of uploading it, I commit that I meet this requirement and "
                                            "will show %(name)s when asked (告知承诺).") % {"name": material.name}
        else:
            del self.fields["commit"]

    def clean_file(self) -> Any:
        return _checked_size(self.cleaned_data["file"])


class SubmitForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput, required=False)
    commitment_signed = forms.BooleanField(
        required=False, label=_("I sign the commitment: what I committed to is true, I will show the documents "
                                "when the department checks, and I know that a false commitment is "
                                "withdrawn with the decision."))

    def __init__(self, *args: Any, committed: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not committed:
            del self.fields["commitment_signed"]


class CorrectionForm(forms.Form):
    """The applicant's answer to a request for correction: any answer changed, any material replaced, a note."""

    note = forms.CharField(label=_("What did you correct?"), required=False, max_length=MAX_NOTE,
                           widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args: Any, questions: Sequence[Question], answers: dict[str, Any],
                 materials: Sequence[Material], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.questions = {q.name: q for q in questions}
        for question in questions:
            self.fields[question.name] = answer_field(question, initial=initial_answer(answers.get(question.name)))
        self.material_codes = {f"material_{m.code}": m.code for m in materials}
        for material in materials:
            self.fields[f"material_{material.code}"] = _file_field(
                _("Replace %(name)s") % {"name": material.name})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in self.material_codes:
            try:
                _checked_size(data.get(name))
            except forms.ValidationError as error:
                self.add_error(name, error)
        return data

    def inputs(self) -> list[tuple[forms.BoundField, bool]]:
        """(field, shown as a fieldset) for each answer and replacement material, in the form's order."""
        return [(self[name], name in self.questions and self.questions[name].type in ("choice", "yes_no"))
                for name in self.fields if name != "note"]

    def changed_answers(self, kept: dict[str, Any]) -> dict[str, Any]:
        """The answers typed differently from those kept."""
        changed = {}
        for name in self.questions:
            typed = str(self.cleaned_data.get(name) or "").strip()
            before = initial_answer(kept.get(name))
            if typed != ("" if before is None else str(before)):
                changed[name] = typed
        return changed

    def uploads(self) -> dict[str, Any]:
        return {code: self.cleaned_data[name] for name, code in self.material_codes.items()
                if self.cleaned_data.get(name) is not None}


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Why are you withdrawing it? (optional)"), required=False, max_length=MAX_NOTE,
                             widget=forms.Textarea(attrs={"rows": 3}))


def show_problems(error: InvalidInput, form: forms.Form, aliases: dict[str, str] | None = None) -> None:
    """Each problem of an action next to its field; problems without a field of the form above it."""
    for problem in error.details:
        name = (aliases or {}).get(problem.field, problem.field)
        form.add_error(name if name in form.fields else None, problem.reason)
    if not error.details:
        form.add_error(None, error.message)
