"""Forms of the catalog pages. They parse what people type; the rules live in catalog.actions, whose field
problems are shown back next to the field they name (see `show_problems`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from zhengtong.catalog import actions, queries
from zhengtong.catalog.models import (
    HttpMethod,
    OpeningType,
    Resource,
    ResourceFormat,
    ResourceKind,
    ResourceStatus,
    RightKind,
    SharingType,
    UpdateCycle,
)
from zhengtong.core.errors import InvalidInput
from zhengtong.identity.models import Department
from zhengtong.registries.models import FieldType, Grade, Level, Sensitivity

ROW = re.compile(r"(items|holders)\[(\d+)\]\.(\w+)")


def _choices(choices: Sequence[tuple[Any, Any]], blank: Any) -> list[tuple[Any, Any]]:
    return [("", blank), *choices]


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200,
                        help_text=_("Words from the code, name or summary."))
    provider = forms.ModelChoiceField(label=_("Provider department"), queryset=Department.objects.all(),
                                      to_field_name="code", required=False, empty_label=_("All departments"))
    kind = forms.ChoiceField(label=_("Resource kind"), required=False,
                             choices=_choices(ResourceKind.choices, _("All kinds")))
    sharing_type = forms.ChoiceField(label=_("Sharing type"), required=False,
                                     choices=_choices(SharingType.choices, _("All sharing types")))
    opening_type = forms.ChoiceField(label=_("Opening type"), required=False,
                                     choices=_choices(OpeningType.choices, _("All opening types")))
    grade = forms.TypedChoiceField(label=_("Grade"), required=False, coerce=int, empty_value=None,
                                   choices=_choices(Grade.choices, _("All grades")))
    level = forms.TypedChoiceField(label=_("Level"), required=False, coerce=int, empty_value=None,
                                   choices=_choices(Level.choices, _("All levels")))
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=_choices(ResourceStatus.choices, _("Any status")))

    def filters(self) -> queries.ResourceFilters:
        data = self.cleaned_data
        provider = data.get("provider")
        return queries.ResourceFilters(
            text=data.get("q", ""), provider=provider.code if provider else "", kind=data.get("kind", ""),
            sharing_type=data.get("sharing_type", ""), opening_type=data.get("opening_type", ""),
            grade=data.get("grade"), level=data.get("level"), status=data.get("status", ""),
        )


def _text_area(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class ResourceForm(forms.Form):
    """The metadata of any resource (actions.ResourceInput)."""

    name = forms.CharField(label=_("Name"), max_length=200)
    summary = forms.CharField(label=_("Summary"), widget=_text_area(4),
                              help_text=_("What the resource holds and what it is used for."))
    kind = forms.ChoiceField(label=_("Resource kind"), choices=ResourceKind.choices,
                             help_text=_("Decides the first digit of the resource code: 1 base, 2 thematic, "
                                         "3 departmental."))
    format = forms.ChoiceField(label=_("Format"), choices=ResourceFormat.choices)
    item_code = forms.CharField(label=_("Item (项)"), max_length=2, help_text=_("Two digits, such as 01."))
    category_code = forms.CharField(label=_("Category (目)"), max_length=3,
                                    help_text=_("Three digits, such as 001."))
    subcategory_code = forms.CharField(label=_("Sub-category (细目, optional)"), max_length=18, required=False,
                                       help_text=_("Up to 18 digits or capital letters."))
    update_cycle = forms.ChoiceField(label=_("Update cycle"), choices=_choices(UpdateCycle.choices, "—"))
    sharing_type = forms.ChoiceField(label=_("Sharing type"), choices=SharingType.choices,
                                     widget=forms.RadioSelect)
    sharing_condition = forms.CharField(label=_("Sharing condition"), required=False, widget=_text_area(),
                                        help_text=_("Required for conditional sharing."))
    legal_basis = forms.CharField(label=_("Legal basis"), required=False, widget=_text_area(),
                                  help_text=_("Required when the resource is shared on conditions or not shared: "
                                              "the law, regulation or decision."))
    opening_type = forms.ChoiceField(label=_("Opening type"), choices=OpeningType.choices,
                                     widget=forms.RadioSelect)
    opening_condition = forms.CharField(label=_("Opening condition"), required=False, widget=_text_area(),
                                        help_text=_("Required when the resource is opened on conditions."))
    sources = forms.ModelMultipleChoiceField(
        label=_("Derived from (optional)"), required=False, queryset=Resource.objects.none(),
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("The resources this one is made from (lineage)."))
    related = forms.ModelMultipleChoiceField(label=_("Related resources (optional)"), required=False,
                                             queryset=Resource.objects.none(),
                                             widget=forms.SelectMultiple(attrs={"size": 6}))
    state_secret = forms.BooleanField(
        label=_("This resource contains state secrets"), required=False,
        help_text=_("State secrets are not catalogued on this platform; such a resource is refused."))

    def __init__(self, *args: Any, choices: QuerySet[Resource], is_api: bool, code_fixed: bool = False,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["sources"].queryset = choices  # type: ignore[attr-defined]
        self.fields["related"].queryset = choices  # type: ignore[attr-defined]
        if is_api:
            del self.fields["format"]  # an API resource's format is the API
        if code_fixed:
            # Shown but not editable: they make up a code that has been published.
            for name in actions.CLASSIFICATION_FIELDS:
                self.fields[name].disabled = True

    def to_input(self) -> actions.ResourceInput:
        data = self.cleaned_data
        return actions.ResourceInput(
            name=data["name"], summary=data["summary"], kind=data["kind"], format=data.get("format", ""),
            item_code=data["item_code"], category_code=data["category_code"],
            subcategory_code=data["subcategory_code"], update_cycle=data["update_cycle"],
            sharing_type=data["sharing_type"], sharing_condition=data["sharing_condition"],
            legal_basis=data["legal_basis"], opening_type=data["opening_type"],
            opening_condition=data["opening_condition"], related=[r.pk for r in data["related"]],
            sources=[r.pk for r in data["sources"]], state_secret=data["state_secret"],
        )

    @staticmethod
    def initial_of(resource: Resource) -> dict[str, Any]:
        return {
            "name": resource.name, "summary": resource.summary, "kind": resource.kind, "format": resource.format,
            "item_code": resource.item_code, "category_code": resource.category_code,
            "subcategory_code": resource.subcategory_code, "update_cycle": resource.update_cycle,
            "sharing_type": resource.sharing_type, "sharing_condition": resource.sharing_condition,
            "legal_basis": resource.legal_basis, "opening_type": resource.opening_type,
            "opening_condition": resource.opening_condition, "sources": list(resource.sources.all()),
            "related": list(resource.related.all()),
        }


class ProviderForm(forms.Form):
    provider = forms.ModelChoiceField(label=_("Provider department"), queryset=Department.objects.none(),
                                      to_field_name="code")


class ServiceForm(forms.Form):
    endpoint_url = forms.CharField(label=_("Endpoint URL"), max_length=500,
                                   help_text=_("The full address, such as https://api.example.gov.cn/v1/licences"))
    http_method = forms.ChoiceField(label=_("HTTP method"), choices=HttpMethod.choices)
    service_description = forms.CharField(label=_("Description of the service"), widget=_text_area(4),
                                          help_text=_("What a call asks for and what it answers."))


class ItemForm(forms.Form):
    """One row of the data item table; an empty row is left out, a partly filled one is checked."""

    name = forms.CharField(label=_("Item name"), required=False, max_length=64)
    label = forms.CharField(label=_("Label"), required=False, max_length=200)
    label_en = forms.CharField(label=_("English label"), required=False, max_length=200)
    description = forms.CharField(label=_("Description"), required=False, max_length=1000)
    type = forms.ChoiceField(label=_("Type"), required=False, choices=_choices(FieldType.choices, "—"))
    sensitivity = forms.ChoiceField(label=_("Sensitivity"), required=False, choices=Sensitivity.choices,
                                    initial=Sensitivity.INTERNAL)
    grade = forms.TypedChoiceField(label=_("Grade"), required=False, coerce=int, choices=Grade.choices,
                                   initial=Grade.GENERAL)
    level = forms.TypedChoiceField(label=_("Level"), required=False, coerce=int, choices=Level.choices,
                                   initial=Level.L2)
    masking = forms.CharField(label=_("Masking rule"), required=False, max_length=40)

    def is_blank(self) -> bool:
        """Nothing typed or chosen. Sensitivity, grade and level always hold a value (their defaults), so they
        do not count; any other field filled makes the row an item, and what it lacks is shown as an error."""
        data = self.cleaned_data
        return not any(str(data.get(name) or "").strip()
                       for name in ("name", "label", "label_en", "description", "type", "masking"))

    def to_input(self) -> actions.ItemInput:
        data = self.cleaned_data
        return actions.ItemInput(name=data["name"].strip(), label=data["label"], label_en=data["label_en"],
                                 description=data["description"], type=data["type"],
                                 sensitivity=data["sensitivity"], grade=data["grade"], level=data["level"],
                                 masking=data["masking"].strip())


ItemFormSet = forms.formset_factory(ItemForm, extra=0)


class RightsForm(forms.Form):
    holder_code = forms.ModelChoiceField(label=_("Holder of the data resource"), queryset=Department.objects.all(),
                                         to_field_name="code",
                                         help_text=_("The department that holds the resource (数据资源持有权)."))
    source_system = forms.CharField(label=_("Collecting system"), max_length=200,
                                    help_text=_("The information system that collected or produced the data."))
    collection_legal_basis = forms.CharField(label=_("Legal basis of collection"), widget=_text_area())
    provenance_note = forms.CharField(label=_("Provenance note (optional)"), required=False, widget=_text_area())

    def to_input(self, holders: list[actions.HolderInput]) -> actions.RightsInput:
        data = self.cleaned_data
        return actions.RightsInput(holder_code=data["holder_code"].code, source_system=data["source_system"],
                                   collection_legal_basis=data["collection_legal_basis"],
                                   provenance_note=data["provenance_note"], holders=holders)


class AmendForm(RightsForm):
    reason = forms.CharField(label=_("Reason for the amendment"), widget=_text_area(),
                             help_text=_("For example the settlement of a dispute."))


class HolderForm(forms.Form):
    """One row of the rights holders table: a department, or an organisation by name and credit code."""

    right = forms.ChoiceField(label=_("Right"), required=False, choices=_choices(RightKind.choices, "—"))
    department_code = forms.ModelChoiceField(label=_("Department"), required=False, to_field_name="code",
                                             queryset=Department.objects.all(), empty_label="—")
    name = forms.CharField(label=_("Organisation name"), required=False, max_length=200)
    credit_code = forms.CharField(label=_("Unified social credit code"), required=False, max_length=18)

    def is_blank(self) -> bool:
        data = self.cleaned_data
        return not (data.get("right") or data.get("department_code") or data.get("name") or data.get("credit_code"))

    def to_input(self) -> actions.HolderInput:
        data = self.cleaned_data
        department = data["department_code"]
        return actions.HolderInput(right=data["right"], department_code=department.code if department else "",
                                   name=data["name"], credit_code=data["credit_code"])


HolderFormSet = forms.formset_factory(HolderForm, extra=0)


class DisputeForm(forms.Form):
    reason = forms.CharField(label=_("What is disputed, and why"), widget=_text_area(5))


class SettleForm(forms.Form):
    settlement = forms.CharField(label=_("How the dispute was settled"), widget=_text_area(5))


def filled_rows(formset: forms.BaseFormSet) -> list[tuple[int, Any]]:
    """(row number, form) of the rows that hold something; call after the formset is valid."""
    return [(index, form) for index, form in enumerate(formset.forms) if not form.is_blank()]


def show_problems(error: InvalidInput, page_forms: Sequence[forms.Form], formset: forms.BaseFormSet | None = None,
                  rows: Sequence[int] = ()) -> None:
    """Put each field problem of an action next to its field, in whichever of the page's forms has it:
    `items[2].name` goes to the row that was the third filled one. Problems without a field of their own are
    shown above the first form."""
    first = page_forms[0]
    for problem in error.details:
        match = ROW.fullmatch(problem.field)
        if match and formset is not None and int(match.group(2)) < len(rows):
            row = formset.forms[rows[int(match.group(2))]]
            if match.group(3) in row.fields:
                row.add_error(match.group(3), problem.reason)
                continue
        owner = next((form for form in page_forms if problem.field in form.fields), None)
        if owner is not None:
            owner.add_error(problem.field, problem.reason)
        else:
            first.add_error(None, problem.reason)
    if not error.details:
        first.add_error(None, error.message)
