"""Forms of the sharing pages. They parse what people type; the rules live in exchange.actions, whose field
problems are shown back next to the field they name (see `show_problems`). Every form works without
JavaScript: choices are radio buttons and checkboxes, and the row scope offers blank rows to fill in."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField, BoundWidget
from django.utils.translation import gettext_lazy as _

from zhengtong.catalog.models import DataItem, Resource
from zhengtong.core import masking
from zhengtong.core.errors import InvalidInput
from zhengtong.exchange import actions
from zhengtong.exchange.models import Basis, Grant, GrantStatus, MaskingLevel, RequestStatus, SharingRequest
from zhengtong.registries.codec import load_schema
from zhengtong.registries.models import FieldType, Validator
from zhengtong.registries.schema import FieldSpec

# "in" takes several values, separated by commas (either width), enumeration commas or spaces.
VALUE_SEPARATORS = re.compile(r"[,，、\s]+")
BLANK_CONDITION_ROWS = 2
RULE_PREFIX = "rule_"
# Names the actions give their problems, and the form fields that show them.
FIELD_ALIASES = {"fields": "field_names"}


def _text_area(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _item_choices(items: Sequence[DataItem]) -> list[tuple[str, str]]:
    return [(item.name, f"{item.label} ({item.name})") for item in items]


def plain_fields(resource: Resource) -> dict[str, FieldSpec]:
    """The fields that may scope rows: a registry's fields stored in plain (the database chooses the rows)."""
    if resource.registry is None:
        return {}
    return {spec.name: spec for spec in load_schema(resource.registry).fields if not spec.encrypted}


def division_fields(specs: Mapping[str, FieldSpec]) -> list[str]:
    return [name for name, spec in specs.items() if spec.validator == Validator.DIVISION_CODE]


# --- row scope ---------------------------------------------------------------------------------------------


class ConditionForm(forms.Form):
    """One condition of the row scope: a plain field, a test and a value. A row left empty is ignored."""

    field = forms.ChoiceField(label=_("Field"), required=False)
    test = forms.ChoiceField(label=_("Condition"), required=False, choices=[
        ("prefix", _("starts with")), ("eq", _("equals")), ("in", _("is one of"))])
    value = forms.CharField(label=_("Value"), required=False, max_length=500)

    def __init__(self, *args: Any, specs: Mapping[str, FieldSpec], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.specs = specs
        self.fields["field"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (name, f"{spec.label} ({name})") for name, spec in specs.items()]

    def is_blank(self) -> bool:
        data = self.cleaned_data
        return not (data.get("field") or str(data.get("value") or "").strip())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.is_blank():
            return data
        name, value = data.get("field"), str(data.get("value") or "").strip()
        if not name:
            self.add_error("field", _("Choose the field the condition is on."))
        if not data.get("test"):
            self.add_error("test", _("Choose the condition."))
        if not value:
            self.add_error("value", _("Give the value the field is compared with."))
        if name and value and data.get("test"):
            spec = self.specs[name]
            parts = [part for part in VALUE_SEPARATORS.split(value) if part] if data["test"] == "in" else [value]
            if spec.type == FieldType.INTEGER:
                if not all(re.fullmatch(r"-?\d+", part) for part in parts):
                    self.add_error("value", _("%(name)s holds whole numbers.") % {"name": spec.label})
                    return data
                data["values"] = [int(part) for part in parts]
            else:
                data["values"] = parts
        return data

    def condition(self) -> tuple[str, str, Any]:
        data = self.cleaned_data
        values = data["values"]
        return data["field"], data["test"], values if data["test"] == "in" else values[0]


class BaseConditionFormSet(forms.BaseFormSet):
    def __init__(self, *args: Any, specs: Mapping[str, FieldSpec], **kwargs: Any):
        self.specs = specs
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {"specs": self.specs}

    def filled(self) -> list[ConditionForm]:
        rows = cast(list[ConditionForm], self.forms)
        return [form for form in rows if form.is_valid() and not form.is_blank()]

    def clean(self) -> None:
        if any(form.errors for form in self.forms):
            return
        seen: set[tuple[str, str]] = set()
        for form in self.filled():
            name, test, _value = form.condition()
            if (name, test) in seen:
                raise ValidationError(_("Two conditions on %(name)s use the same test; keep one.") % {"name": name})
            seen.add((name, test))

    def row_filter(self) -> dict[str, dict[str, Any]]:
        """The filled rows as a row filter: {field: {test: value}}. Call once the formset is valid."""
        row_filter: dict[str, dict[str, Any]] = {}
        for form in self.filled():
            name, test, value = form.condition()
            row_filter.setdefault(name, {})[test] = value
        return row_filter

    def add_problem(self, message: str) -> None:
        """A problem with the row scope as a whole, from the action."""
        self.non_form_errors().append(message)


ConditionFormSet = cast(type[BaseConditionFormSet],
                        forms.formset_factory(ConditionForm, formset=BaseConditionFormSet, extra=0))


def condition_rows(row_filter: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """A row filter as the rows of the conditions table."""
    rows = []
    for name, tests in row_filter.items():
        for test, value in tests.items():
            shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
            rows.append({"field": name, "test": test, "value": shown})
    return rows


def condition_formset(data: Any, resource: Resource, initial: list[dict[str, str]]) -> BaseConditionFormSet | None:
    """The row scope's conditions for a registry resource (an API resource has no rows to scope), with the
    initial rows followed by blank ones."""
    specs = plain_fields(resource)
    if not specs:
        return None
    if data is not None:
        return ConditionFormSet(data, prefix="scope", specs=specs)
    return ConditionFormSet(initial=initial + [{}] * BLANK_CONDITION_ROWS, prefix="scope", specs=specs)


# --- requests ----------------------------------------------------------------------------------------------


class ItemRowsMixin:
    """The resource's data items as table rows: each item's checkbox beside its sensitivity and masking."""

    items: list[DataItem]

    def item_rows(self) -> list[tuple[BoundWidget, DataItem, BoundField | None]]:
        by_name = {item.name: item for item in self.items}
        rows = []
        for option in self["field_names"].subwidgets:  # type: ignore[index]
            item = by_name[option.data["value"]]
            rule = self[RULE_PREFIX + item.name] if RULE_PREFIX + item.name in self.fields else None  # type: ignore[attr-defined,index]
            rows.append((option, item, rule))
        return rows


class RequestForm(ItemRowsMixin, forms.Form):
    purpose = forms.CharField(label=_("Purpose"), widget=_text_area(),
                              help_text=_("What the data is for, in terms of your department's duties."))
    scenario = forms.CharField(label=_("Application scenario"), widget=_text_area(),
                               help_text=_("The service or business process that will use the data, and who "
                                           "will see it."))
    basis = forms.ChoiceField(label=_("Basis of the use"), choices=Basis.choices, widget=forms.RadioSelect,
                              initial=Basis.LEGAL)
    legal_basis = forms.CharField(label=_("Legal basis"), required=False, widget=_text_area(),
                                  help_text=_("The law, regulation or decision that allows this use, with its "
                                              "article. Needed when the basis is a legal one."))
    field_names = forms.MultipleChoiceField(label=_("Fields needed"), widget=forms.CheckboxSelectMultiple,
                                            error_messages={"required": _("Choose at least one field.")})
    expected_daily_calls = forms.IntegerField(label=_("Expected calls per day"), min_value=1)
    valid_from = forms.DateField(label=_("From"), widget=_date_input())
    valid_until = forms.DateField(label=_("Until"), widget=_date_input())

    def __init__(self, *args: Any, items: Sequence[DataItem], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.items = list(items)
        self.fields["field_names"].choices = _item_choices(self.items)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("basis") == Basis.LEGAL and not str(data.get("legal_basis") or "").strip():
            self.add_error("legal_basis", _("Name the law or regulation that allows this use."))
        return data

    def to_input(self, resource: Resource, row_filter: dict[str, Any]) -> actions.RequestInput:
        data = self.cleaned_data
        return actions.RequestInput(
            resource=resource, purpose=data["purpose"], scenario=data["scenario"], basis=data["basis"],
            legal_basis=data["legal_basis"], expected_daily_calls=data["expected_daily_calls"],
            terms=actions.Terms(fields=list(data["field_names"]), row_filter=row_filter,
                                valid_from=data["valid_from"], valid_until=data["valid_until"]))


def suggested_scope(resource: Resource, division_prefix: str) -> list[dict[str, str]]:
    """Rows of the requesting department's own division, offered on every division-code field."""
    return [{"field": name, "test": "prefix", "value": division_prefix}
            for name in division_fields(plain_fields(resource))]


class RequestFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("Any status")), *RequestStatus.choices])


class CheckForm(forms.Form):
    decision = forms.ChoiceField(label=_("Outcome of the conformity check"), widget=forms.RadioSelect, choices=[
        ("conforms", _("Conforms: pass it on")), ("refuse", _("Does not conform: refuse the request"))])
    note = forms.CharField(label=_("Note"), required=False, widget=_text_area(4),
                           help_text=_("Needed when refusing: the reasons the consumer will read."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "refuse" and not str(data.get("note") or "").strip():
            self.add_error("note", _("Give the reasons for refusing."))
        return data


class AnswerForm(forms.Form):
    decision = forms.ChoiceField(label=_("Answer"), widget=forms.RadioSelect, choices=[
        ("grant", _("Grant, on the terms below")), ("refuse", _("Refuse"))])
    reasons = forms.CharField(label=_("Reasons for refusing"), required=False, widget=_text_area(4),
                              help_text=_("Needed when refusing. The consumer may dispute them with the data "
                                          "governance office."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "refuse" and not str(data.get("reasons") or "").strip():
            self.add_error("reasons", _("Give the reasons for refusing."))
        return data


class DisputeForm(forms.Form):
    grounds = forms.CharField(label=_("Why the refusal is wrong"), widget=_text_area(5),
                              help_text=_("The data governance office settles the dispute within 5 working days."))


class SettleForm(forms.Form):
    decision = forms.ChoiceField(label=_("Settlement"), widget=forms.RadioSelect, choices=[
        ("grant", _("Grant the request as it was asked")), ("stand", _("The refusal stands"))])
    settlement = forms.CharField(label=_("Reasons of the settlement"), widget=_text_area(5))


# --- grants ------------------------------------------------------------------------------------------------


class TermsForm(ItemRowsMixin, forms.Form):
    """A grant's terms: the fields, their masking, the period and the limits. The row scope is a conditions
    formset beside it."""

    field_names = forms.MultipleChoiceField(label=_("Fields granted"), widget=forms.CheckboxSelectMultiple,
                                            error_messages={"required": _("Choose at least one field.")})
    masking_level = forms.ChoiceField(label=_("Masking"), choices=MaskingLevel.choices, widget=forms.RadioSelect,
                                      initial=MaskingLevel.MASKED)
    valid_from = forms.DateField(label=_("Valid from"), widget=_date_input())
    valid_until = forms.DateField(label=_("Valid until"), widget=_date_input())
    daily_quota = forms.IntegerField(label=_("Calls per day"), required=False, min_value=1,
                                     help_text=_("Leave empty for no daily quota."))
    rate_per_minute = forms.IntegerField(label=_("Calls per minute"), required=False, min_value=1,
                                         help_text=_("Leave empty for no rate limit."))
    may_reveal = forms.BooleanField(
        label=_("The consumer's staff may reveal a masked value, with a reason and a case reference"),
        required=False, help_text=_("Only staff whose role allows revealing personal data; every reveal is "
                                    "audited."))

    def __init__(self, *args: Any, items: Sequence[DataItem], with_write: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.items = list(items)
        self.fields["field_names"].choices = _item_choices(self.items)  # type: ignore[attr-defined]
        for item in self.items:
            self.fields[RULE_PREFIX + item.name] = forms.CharField(
                label=_("Masking rule for %(label)s") % {"label": item.label}, required=False, max_length=40)
        if with_write:
            self.fields["may_write"] = forms.BooleanField(
                label=_("The consumer's systems may create and change records"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for item in self.items:
            rule = str(data.get(RULE_PREFIX + item.name) or "").strip()
            if rule and (reason := masking.check_rule(rule)) is not None:
                self.add_error(RULE_PREFIX + item.name, reason)
        return data

    def to_terms(self, row_filter: dict[str, Any], *, may_write: bool = False) -> actions.Terms:
        data = self.cleaned_data
        chosen = list(data["field_names"])
        rules = {name: str(data.get(RULE_PREFIX + name) or "").strip() for name in chosen}
        return actions.Terms(
            fields=chosen, row_filter=row_filter, valid_from=data["valid_from"], valid_until=data["valid_until"],
            masking_level=data["masking_level"], field_rules={name: rule for name, rule in rules.items() if rule},
            daily_quota=data["daily_quota"], rate_per_minute=data["rate_per_minute"],
            may_write=data.get("may_write", may_write), may_reveal=data["may_reveal"])

    @staticmethod
    def initial_of_request(request: SharingRequest) -> dict[str, Any]:
        return {"field_names": list(request.fields), "masking_level": MaskingLevel.MASKED,
                "valid_from": request.valid_from, "valid_until": request.valid_until,
                "daily_quota": request.expected_daily_calls}

    @staticmethod
    def initial_of_grant(grant: Grant) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "field_names": list(grant.fields), "masking_level": grant.masking_level, "valid_from": grant.valid_from,
            "valid_until": grant.valid_until, "daily_quota": grant.daily_quota,
            "rate_per_minute": grant.rate_per_minute, "may_write": grant.may_write, "may_reveal": grant.may_reveal}
        initial.update({RULE_PREFIX + name: rule for name, rule in grant.field_rules.items()})
        return initial


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=_text_area(4),
                             help_text=_("Recorded in the grant's history, which the consumer can read."))


class GrantFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("Any status")), *GrantStatus.choices])


# --- problems from the actions -----------------------------------------------------------------------------


def show_problems(error: InvalidInput, page_forms: Sequence[forms.Form],
                  conditions: BaseConditionFormSet | None = None) -> None:
    """Put each field problem of an action next to its field, in whichever of the page's forms has it. The
    row scope's problems go above its conditions; problems without a field of their own above the first form."""
    first = page_forms[0]
    for problem in error.details:
        name = FIELD_ALIASES.get(problem.field, problem.field)
        if name == "row_filter" and conditions is not None:
            conditions.add_problem(problem.reason)
            continue
        owner = next((form for form in page_forms if name in form.fields), None)
        if owner is not None:
            owner.add_error(name, problem.reason)
        else:
            first.add_error(None, problem.reason)
    if not error.details:
        first.add_error(None, error.message)

