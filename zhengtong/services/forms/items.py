"""Forms of the staff pages defining service items, and of the service guide's search. They check the shape of
the input; the item actions check the rest, and `show_problems` puts each of their problems next to its field
(`form[2].type` to the third filled question row)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from zhengtong.core.errors import InvalidInput
from zhengtong.identity.models import Department
from zhengtong.registries.models import RegistryField
from zhengtong.services.actions import items as actions
from zhengtong.services.models import (
    Channel,
    DecisionDefinition,
    ItemStatus,
    ItemType,
    LifeSituation,
    Material,
    MaterialSource,
    ProcessDefinition,
    ServiceItem,
)

ROW = re.compile(r"(form|materials)\[(\d+)\]\.(\w+)")
MAX_FILE_BYTES = 2 << 20  # a BPMN or DMN file
# Problems of the actions named after the input, shown on the page's field of another name.
ROW_ALIASES = {"source_registry": "registry_field", "source_field": "registry_field"}
PAGE_ALIASES = {"process": "bpmn_file", "decision": "dmn_file"}
TYPE_LABELS = {"text": _("short text"), "textarea": _("long text"), "number": _("number"), "date": _("date"),
               "choice": _("choice"), "yes_no": _("yes or no")}


def _text_area(rows: int) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


def registry_field_choices() -> list[Any]:
    """Every registry field as "<registry>.<field>", grouped by registry: what a question or material can be
    filled from. Only the schemas are read, never a record."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for row in RegistryField.objects.select_related("registry").order_by("registry__code", "position"):
        label = f"{row.label} ({row.registry.code}.{row.name})"
        groups.setdefault(row.registry.name, []).append((f"{row.registry.code}.{row.name}", label))
    return list(groups.items())


class ItemForm(forms.Form):
    code = forms.CharField(label=_("Item code"), max_length=64,
                           help_text=_("Letters, digits, dots and dashes; fixed once the item is defined."))
    name = forms.CharField(label=_("Name"), max_length=200)
    item_type = forms.ChoiceField(label=_("Type"), choices=ItemType.choices)
    summary = forms.CharField(label=_("Summary"), required=False, widget=_text_area(3),
                              help_text=_("What the item gives the applicant, in a sentence or two."))
    responsible_department = forms.ModelChoiceField(label=_("Responsible department"),
                                                    queryset=Department.objects.none())
    cooperating_departments = forms.ModelMultipleChoiceField(
        label=_("Co-operating departments"), required=False, queryset=Department.objects.none(),
        widget=forms.CheckboxSelectMultiple, help_text=_("Departments that review jointly, if any."))
    legal_basis = forms.CharField(label=_("Legal basis"), widget=_text_area(3))
    conditions = forms.CharField(label=_("Conditions"), required=False, widget=_text_area(4),
                                 help_text=_("Who may apply and what must be true."))
    fee = forms.CharField(label=_("Fee"), required=False, max_length=200,
                          help_text=_("Leave empty when the service is free."))
    statutory_days = forms.IntegerField(label=_("Statutory time limit (working days)"), min_value=1,
                                        max_value=actions.MAX_DAYS)
    promised_days = forms.IntegerField(label=_("Promised time limit (working days)"), min_value=1,
                                       max_value=actions.MAX_DAYS,
                                       help_text=_("At most the statutory time limit."))
    channels = forms.MultipleChoiceField(label=_("Channels"), required=False, choices=Channel.choices,
                                         widget=forms.CheckboxSelectMultiple)
    life_situations = forms.MultipleChoiceField(label=_("Life situations"), required=False,
                                                choices=LifeSituation.choices, widget=forms.CheckboxSelectMultiple,
                                                help_text=_("Where citizens find the item in the service guide."))
    keywords = forms.CharField(label=_("Keywords"), required=False, max_length=300,
                               help_text=_("Other words citizens search with, separated by spaces."))
    commitment_allowed = forms.BooleanField(label=_("A signed commitment (告知承诺) may replace materials"),
                                            required=False)
    process = forms.ModelChoiceField(label=_("Process"), required=False, queryset=ProcessDefinition.objects.all(),
                                     help_text=_("An uploaded version, or upload a new file below."))
    bpmn_file = forms.FileField(label=_("Upload a BPMN file"), required=False,
                                widget=forms.ClearableFileInput(attrs={"accept": ".bpmn,.xml"}),
                                help_text=_("As saved by bpmn.io or the Camunda Modeler; it becomes the item's "
                                            "process as a new version."))
    decision = forms.ModelChoiceField(label=_("Decision table for automatic approval"), required=False,
                                      queryset=DecisionDefinition.objects.all(),
                                      help_text=_("Only for processes with a business rule task."))
    dmn_file = forms.FileField(label=_("Upload a DMN file"), required=False,
                               widget=forms.ClearableFileInput(attrs={"accept": ".dmn,.xml"}))

    def __init__(self, *args: Any, departments: QuerySet[Department], item: ServiceItem | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["responsible_department"].queryset = departments  # type: ignore[attr-defined]
        self.fields["cooperating_departments"].queryset = Department.objects.order_by("code")  # type: ignore
        if item is not None:
            self.fields["code"].disabled = True
            self.fields["code"].required = False

    def _file(self, name: str) -> str | None:
        upload = self.cleaned_data.get(name)
        if not upload:
            return None
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than %(mb)d MB.") % {"mb": MAX_FILE_BYTES >> 20})
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("The file is not UTF-8 text.")) from None

    def clean_bpmn_file(self) -> str | None:
        return self._file("bpmn_file")

    def clean_dmn_file(self) -> str | None:
        return self._file("dmn_file")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("process") and not data.get("bpmn_file") and "bpmn_file" not in self.errors:
            self.add_error("process", _("Choose the process, or upload a BPMN file."))
        return data

    def item_input(self, *, code: str, process: ProcessDefinition | None, decision: DecisionDefinition | None,
                   form: list[dict[str, Any]]) -> actions.ItemInput:
        data = self.cleaned_data
        return actions.ItemInput(
            code=code, name=data["name"], item_type=data["item_type"], summary=data["summary"],
            responsible_department=data["responsible_department"],
            cooperating_departments=list(data["cooperating_departments"]), legal_basis=data["legal_basis"],
            conditions=data["conditions"], fee=data["fee"], statutory_days=data["statutory_days"],
            promised_days=data["promised_days"], channels=data["channels"], life_situations=data["life_situations"],
            keywords=data["keywords"], commitment_allowed=data["commitment_allowed"], form=form, process=process,
            decision=decision)


def item_initial(item: ServiceItem) -> dict[str, Any]:
    return {"code": item.code, "name": item.name, "item_type": item.item_type, "summary": item.summary,
            "responsible_department": item.responsible_department_id,
            "cooperating_departments": [d.pk for d in item.cooperating_departments.all()],
            "legal_basis": item.legal_basis, "conditions": item.conditions, "fee": item.fee,
            "statutory_days": item.statutory_days, "promised_days": item.promised_days, "channels": item.channels,
            "life_situations": item.life_situations, "keywords": item.keywords,
            "commitment_allowed": item.commitment_allowed, "process": item.process_id, "decision": item.decision_id}


class _Row(forms.Form):
    """A row of a table editor: every field optional, a row left empty is ignored (`is_blank`)."""

    meaningful: Sequence[str] = ()

    def is_blank(self) -> bool:
        return not any(str(self.cleaned_data.get(name) or "").strip() for name in self.meaningful)


class QuestionForm(_Row):
    meaningful = ("name", "label", "hint", "choices", "prefill")
    name = forms.CharField(label=_("Name"), required=False, max_length=64,
                           widget=forms.TextInput(attrs={"size": 12}))
    label = forms.CharField(label=_("Question"), required=False, max_length=300)
    type = forms.ChoiceField(label=_("Answer type"), choices=list(TYPE_LABELS.items()))
    required = forms.ChoiceField(label=_("Answer needed"),
                                 choices=[("yes", _("required")), ("no", _("optional"))])
    hint = forms.CharField(label=_("Hint"), required=False, max_length=500)
    choices = forms.CharField(label=_("Choices (one a line, value=label)"), required=False, widget=_text_area(2))
    prefill = forms.ChoiceField(label=_("Filled from registry"), required=False)

    def __init__(self, *args: Any, prefill_choices: Sequence[Any] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["prefill"].choices = [("", _("not filled in")), *prefill_choices]  # type: ignore[attr-defined]

    def question(self) -> dict[str, Any]:
        data = self.cleaned_data
        registry, _dot, field = data["prefill"].partition(".")
        return {"name": data["name"].strip(), "label": data["label"], "type": data["type"],
                "required": data["required"] == "yes", "hint": data["hint"], "choices": parse_choices(data["choices"]),
                "prefill": {"registry": registry, "field": field} if data["prefill"] else None}


def parse_choices(text: str) -> list[dict[str, str]]:
    """One choice a line: "value=label", or just the label, which is then its value too."""
    choices = []
    for line in (text or "").splitlines():
        if line.strip():
            value, equals, label = line.partition("=")
            choices.append({"value": value.strip(), "label": (label if equals else value).strip()})
    return choices


def question_initial(question: dict[str, Any]) -> dict[str, Any]:
    prefill = question.get("prefill")
    return {"name": question.get("name", ""), "label": question.get("label", ""), "type": question.get("type"),
            "required": "yes" if question.get("required", True) else "no", "hint": question.get("hint", ""),
            "choices": "\n".join(f"{c['value']}={c['label']}" for c in question.get("choices") or []),
            "prefill": f"{prefill['registry']}.{prefill['field']}" if prefill else ""}


QuestionFormSet = forms.formset_factory(QuestionForm, extra=3)


class MaterialForm(_Row):
    meaningful = ("code", "name", "registry_field", "source_item")
    code = forms.CharField(label=_("Code"), required=False, max_length=64, widget=forms.TextInput(attrs={"size": 12}))
    name = forms.CharField(label=_("Material"), required=False, max_length=200)
    required = forms.ChoiceField(label=_("Needed"), choices=[("yes", _("required")), ("no", _("if applicable"))])
    source = forms.ChoiceField(label=_("Source"), choices=MaterialSource.choices)
    registry_field = forms.ChoiceField(label=_("Registry field (when obtained from a registry)"), required=False)
    source_item = forms.CharField(label=_("Earlier item's code (when obtained from a result)"), required=False,
                                  max_length=64, widget=forms.TextInput(attrs={"size": 12}))
    commitment_allowed = forms.BooleanField(label=_("Commitment may replace it"), required=False)

    def __init__(self, *args: Any, registry_choices: Sequence[Any] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["registry_field"].choices = [("", "—"), *registry_choices]  # type: ignore[attr-defined]

    def material(self) -> actions.MaterialInput:
        data = self.cleaned_data
        registry, _dot, field = data["registry_field"].partition(".")
        return actions.MaterialInput(code=data["code"].strip(), name=data["name"], required=data["required"] == "yes",
                                     source=data["source"], source_registry=registry, source_field=field,
                                     source_item=data["source_item"].strip(),
                                     commitment_allowed=data["commitment_allowed"])


def material_initial(material: Material) -> dict[str, Any]:
    return {"code": material.code, "name": material.name, "required": "yes" if material.required else "no",
            "source": material.source, "commitment_allowed": material.commitment_allowed,
            "registry_field": f"{material.source_registry}.{material.source_field}" if material.source_registry
            else "", "source_item": material.source_item}


MaterialFormSet = forms.formset_factory(MaterialForm, extra=3)


def filled_rows(formset: forms.BaseFormSet) -> list[tuple[int, Any]]:
    """(row number, form) of the rows that hold something; call after the formset is valid."""
    return [(index, form) for index, form in enumerate(formset.forms) if not form.is_blank()]


def show_problems(error: InvalidInput, page_forms: Sequence[forms.Form], formset: forms.BaseFormSet | None = None,
                  rows: Sequence[int] = ()) -> None:
    """Put each problem of an item action next to its field: `form[2].type` on the row that was the third filled
    one, `process` on the upload field when a file was sent. Problems without a field of their own go above the
    first form, or above the table when the page is only the table."""

    def elsewhere(reason: str) -> None:
        if page_forms:
            page_forms[0].add_error(None, reason)
        elif formset is not None:
            formset.non_form_errors().append(reason)

    for problem in error.details:
        match = ROW.fullmatch(problem.field)
        if match and formset is not None and int(match.group(2)) < len(rows):
            row = formset.forms[rows[int(match.group(2))]]
            name = ROW_ALIASES.get(match.group(3), match.group(3))
            if name in row.fields:
                row.add_error(name, problem.reason)
                continue
        owner = next((form for form in page_forms if problem.field in form.fields), None)
        if owner is not None:
            name = problem.field
            if name in PAGE_ALIASES and owner.cleaned_data.get(PAGE_ALIASES[name]):
                name = PAGE_ALIASES[name]  # the uploaded file was refused, not the chosen version
            owner.add_error(name, problem.reason)
        else:
            elsewhere(f"{problem.field}: {problem.reason}" if problem.field else problem.reason)
    if not error.details:
        elsewhere(error.message)


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Why is it withdrawn?"), required=False, max_length=2000, widget=_text_area(2),
                             help_text=_("Kept in the item's history. Applications under way go on."))


class ItemFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("Any status")),
                                                                           *ItemStatus.choices])


class GuideSearchForm(forms.Form):
    q = forms.CharField(label=_("Search for a service"), required=False, max_length=100,
                        help_text=_("For example 营业执照, 居住证 or 高龄津贴."))
    department = forms.ChoiceField(label=_("Department"), required=False)
    situation = forms.ChoiceField(label=_("Life situation"), required=False,
                                  choices=[("", _("Any situation")), *LifeSituation.choices])

    def __init__(self, *args: Any, departments: Sequence[Department] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [  # type: ignore[attr-defined]
            ("", _("Any department")), *((d.code, d.name) for d in departments)]
