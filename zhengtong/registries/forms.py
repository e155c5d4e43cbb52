"""Forms of the registry pages: a registry's particulars, the field editor (a formset that works without
JavaScript: "add another field" is a submit button that re-renders with one more row), and the import upload.

The forms only turn text into values; whether a definition is right is decided by the actions
(check_definition), whose problems name `fields[i].attribute` and are put back next to the row's input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhengtong.core.errors import FieldProblem
from zhengtong.identity.models import Department
from zhengtong.registries.models import FieldType, Grade, Level, Sensitivity, Validator
from zhengtong.registries.schema import FieldSpec

FIELD_PREFIX = "fields"
ADD_FIELD = "add_field"
SPEC_ATTRIBUTES = ("name", "type", "label", "label_en", "description", "required", "is_key", "unique", "indexed",
                   "validator", "pattern", "max_length", "choices", "sensitivity", "grade", "level", "masking",
                   "encrypted")
IMPORT_EXTENSIONS = (".csv", ".xlsx")


class RegistryForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Registry code"), max_length=64,
        help_text=gettext_lazy("2 to 64 lower-case letters, digits and -, starting with a letter, like "
                               "persons or land-parcels. It cannot be changed later."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    name_en = forms.CharField(label=gettext_lazy("English name"), max_length=200, required=False)
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    department = forms.ModelChoiceField(label=gettext_lazy("Provider department"), queryset=Department.objects.none(),
                                        help_text=gettext_lazy("Departments within your data scope."))
    is_base = forms.BooleanField(label=gettext_lazy("One of the base registries every department draws on"),
                                 required=False)
    json_schema = forms.CharField(
        label=gettext_lazy("Or paste a GovStack JSON schema"), required=False,
        help_text=gettext_lazy("A GovStack Digital Registries database schema: {\"type\": \"object\", "
                               "\"properties\": {...}, \"required\": [...]}, with primaryKey on the key. When "
                               "given, it defines the fields and the field editor below is not used."),
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, departments: QuerySet[Department], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments  # type: ignore[attr-defined]

    def clean_json_schema(self) -> dict[str, Any] | None:
        text = self.cleaned_data["json_schema"].strip()
        if not text:
            return None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(_("This is not valid JSON: %(error)s") % {"error": error}) from None
        if not isinstance(document, dict):
            raise forms.ValidationError(_("The schema is a JSON object with its fields under properties."))
        return document


def choices_text(choices: Iterable[Mapping[str, Any]]) -> str:
    return "\n".join("|".join(part for part in (str(c.get("value", "")), str(c.get("label", "")),
                                                  str(c.get("label_en", ""))) if part) for c in choices)


class FieldForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Field name"), max_length=64,
                           help_text=gettext_lazy("Lower-case letters, digits and _, like resident_id."),
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    type = forms.ChoiceField(label=gettext_lazy("Type"), choices=FieldType.choices, initial=FieldType.TEXT)
    label = forms.CharField(label=gettext_lazy("Label"), max_length=200)
    label_en = forms.CharField(label=gettext_lazy("English label"), max_length=200, required=False)
    description = forms.CharField(label=gettext_lazy("Description"), required=False)
    required = forms.BooleanField(label=gettext_lazy("Required"), required=False)
    is_key = forms.BooleanField(label=gettext_lazy("Key (identifies a record)"), required=False)
    unique = forms.BooleanField(label=gettext_lazy("Unique"), required=False)
    indexed = forms.BooleanField(label=gettext_lazy("Indexed for lookups"), required=False)
    validator = forms.ChoiceField(label=gettext_lazy("Validator"), choices=Validator.choices, required=False)
    pattern = forms.CharField(label=gettext_lazy("Pattern"), max_length=500, required=False,
                              help_text=gettext_lazy("A regular expression, with the pattern validator."),
                              widget=forms.TextInput(attrs={"spellcheck": "false"}))
    max_length = forms.IntegerField(label=gettext_lazy("Maximum length"), min_value=1, required=False)
    choices = forms.CharField(
        label=gettext_lazy("Choices"), required=False,
        help_text=gettext_lazy("For enumerations: one a line, value|label|English label."),
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
    )
    sensitivity = forms.ChoiceField(label=gettext_lazy("Sensitivity"), choices=Sensitivity.choices,
                                    initial=Sensitivity.INTERNAL)
    grade = forms.TypedChoiceField(label=gettext_lazy("Grade"), choices=Grade.choices, coerce=int,
                                   initial=Grade.GENERAL)
    level = forms.TypedChoiceField(label=gettext_lazy("Level"), choices=Level.choices, coerce=int,
                                   initial=Level.L2)
    masking = forms.CharField(
        label=gettext_lazy("Default masking rule"), max_length=40, required=False,
        help_text=gettext_lazy("name, date_year, address_district, null, pseudonym, none, or keep:6:4."),
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    encrypted = forms.BooleanField(label=gettext_lazy("Encrypted at rest"), required=False)

    def clean_choices(self) -> list[dict[str, str]]:
        parsed = []
        for line in self.cleaned_data["choices"].splitlines():
            if not line.strip():
                continue
            parts = [part.strip() for part in line.split("|")]
            value = parts[0]
            label = parts[1] if len(parts) > 1 and parts[1] else value
            label_en = parts[2] if len(parts) > 2 else ""
            parsed.append({"value": value, "label": label, "label_en": label_en})
        return parsed

    def spec(self) -> FieldSpec:
        data = {name: self.cleaned_data.get(name) for name in SPEC_ATTRIBUTES}
        for text in ("label_en", "description", "validator", "pattern", "masking"):
            data[text] = data[text] or ""
        return FieldSpec.from_mapping(data)


def initial_of(spec: FieldSpec) -> dict[str, Any]:
    data = spec.as_dict()
    data["choices"] = choices_text(spec.choices)
    return data


class BaseFieldFormSet(forms.BaseFormSet):
    """Every row counts as an extra row: one left blank is skipped, one filled in is checked, whether it was
    prefilled or not. Rows ticked for removal are left out."""

    def initial_form_count(self) -> int:
        return 0

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = gettext_lazy("Remove this field")

    def filled_forms(self) -> list[FieldForm]:
        return [form for form in self.forms
                if form.has_changed() and not (self.can_delete and form["DELETE"].value())]

    def specs(self) -> list[FieldSpec]:
        return [form.spec() for form in self.filled_forms()]

    def rows_as_initial(self) -> list[dict[str, Any]]:
        """The rows as typed (before any checking), to show again with one more row."""
        return [{name: form[name].value() for name in SPEC_ATTRIBUTES} for form in self.filled_forms()]

    def place_problems(self, problems: list[FieldProblem]) -> list[str]:
        """Put each `fields[i].attribute` problem next to its input; return those that name no row."""
        filled = self.filled_forms()
        unplaced = []
        for problem in problems:
            index, attribute = _row_of(problem.field)
            if index is not None and index < len(filled) and attribute in filled[index].fields:
                filled[index].add_error(attribute, problem.reason)
            else:
                unplaced.append(problem.reason)
        return unplaced


def _row_of(path: str) -> tuple[int | None, str]:
    if not path.startswith("fields["):
        return None, path
    number, _sep, attribute = path[len("fields["):].partition("].")
    return (int(number), attribute) if number.isdigit() else (None, path)


def field_formset(*, data: Any = None, initial: list[dict[str, Any]] | None = None,
                  blank_rows: int = 1) -> BaseFieldFormSet:
    """A bound formset for a submission, or an unbound one showing `initial` rows and `blank_rows` more."""
    rows = len(initial or []) + blank_rows
    formset_class = forms.formset_factory(FieldForm, formset=BaseFieldFormSet, extra=rows, can_delete=True,
                                          max_num=500, absolute_max=500)
    if data is not None:
        return formset_class(data, prefix=FIELD_PREFIX)  # type: ignore[return-value]
    return formset_class(initial=initial, prefix=FIELD_PREFIX)  # type: ignore[return-value]


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV or XLSX file"),
        help_text=gettext_lazy("The first row names the fields. CSV in UTF-8 (with or without BOM) or GB18030."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,text/csv,"
                                                         "application/vnd.openxmlformats-officedocument."
                                                         "spreadsheetml.sheet"}),
    )
    quarantine = forms.BooleanField(
        label=gettext_lazy("Write the good rows and return the bad ones (quarantine)"), required=False,
        help_text=gettext_lazy("Without it, nothing is written if any row fails."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not (upload.name or "").lower().endswith(IMPORT_EXTENSIONS):
            raise forms.ValidationError(_("Upload a .csv or .xlsx file."))
        return upload
