"""Forms of the data agreement pages. They parse what the governance office types; the rules live in
privacy.actions.consent, whose problems are shown next to the field they name (the action names fields as the
GovStack Consent API does, mapped here to the form's fields). Work without JavaScript: the resource is chosen
first, then its fields are offered as checkboxes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhengtong.catalog.models import Resource, ResourceStatus
from zhengtong.core.errors import InvalidInput
from zhengtong.identity.models import Department
from zhengtong.privacy.actions.consent import MAX_PURPOSE, AgreementInput
from zhengtong.privacy.models import DataAgreement, LawfulBasis, Policy

# The action's names for its problems → the form's fields.
FIELD_ALIASES = {"lawfulBasis": "lawful_basis", "dataAttributes": "data_elements",
                 "consentPeriodDays": "consent_days", "dataRetentionPeriodDays": "retention_days",
                 "controller": "consumer"}


class ResourceChoiceForm(forms.Form):
    """The first step of a new agreement: the data resource it is about."""

    resource = forms.ModelChoiceField(
        label=_("Data resource"), queryset=Resource.objects.filter(status=ResourceStatus.PUBLISHED).order_by("name"),
        help_text=_("The published catalog resource whose fields the consumer department would receive."))


class AgreementForm(forms.Form):
    consumer = forms.ModelChoiceField(label=_("Consumer department"), queryset=Department.objects.order_by("code"),
                                      help_text=_("The department that receives the data."))
    purpose = forms.CharField(label=_("Purpose"), max_length=MAX_PURPOSE,
                              help_text=_("In a few words citizens understand, e.g. 办理居住证."))
    purpose_description = forms.CharField(
        label=_("What the data is used for"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Shown to citizens before they consent: what the department does with the data, and why."))
    data_elements = forms.MultipleChoiceField(label=_("Fields the department receives"),
                                              widget=forms.CheckboxSelectMultiple)
    lawful_basis = forms.ChoiceField(label=_("Lawful basis"), choices=LawfulBasis.choices,
                                     initial=LawfulBasis.CONSENT, widget=forms.RadioSelect,
                                     help_text=_("Only agreements resting on consent are offered to citizens."))
    consent_days = forms.IntegerField(label=_("Consent valid for (days)"), required=False, min_value=1,
                                      help_text=_("Leave empty: valid until the citizen withdraws it."))
    retention_days = forms.IntegerField(label=_("Data kept for (days)"), required=False, min_value=1,
                                        help_text=_("How long the department keeps what it received."))
    policy = forms.ModelChoiceField(label=_("Data policy"), required=False,
                                    queryset=Policy.objects.filter(deleted_at__isnull=True))
    dpia = forms.CharField(label=_("Data protection impact assessment"), required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))
    forgettable = forms.BooleanField(label=_("A withdrawn consent may be deleted at the citizen's request"),
                                     required=False)
    active = forms.BooleanField(label=_("Open to consent"), required=False, initial=True)

    def __init__(self, *args: Any, resource: Resource, agreement: DataAgreement | None = None, **kwargs: Any):
        if agreement is not None:
            kwargs.setdefault("initial", {
                "consumer": agreement.consumer_id, "purpose": agreement.purpose,
                "purpose_description": agreement.purpose_description, "data_elements": agreement.data_elements,
                "lawful_basis": agreement.lawful_basis, "consent_days": agreement.consent_days,
                "retention_days": agreement.retention_days, "policy": agreement.policy_id, "dpia": agreement.dpia,
                "forgettable": agreement.forgettable, "active": agreement.active})
        super().__init__(*args, **kwargs)
        self.resource, self.agreement = resource, agreement
        self.fields["data_elements"].choices = [  # type: ignore[attr-defined]
            (item.name, f"{item.label} ({item.name})") for item in resource.items.all()]
        consumers = self.fields["consumer"]
        consumers.queryset = Department.objects.exclude(pk=resource.provider_id).order_by("code")  # type: ignore[attr-defined]
        if agreement is not None:
            consumers.disabled = True  # an agreement stays with its department

    def agreement_input(self) -> AgreementInput:
        data = self.cleaned_data
        return AgreementInput(
            resource=self.resource, consumer=data["consumer"], purpose=data["purpose"],
            data_elements=list(data["data_elements"]), purpose_description=data["purpose_description"],
            lawful_basis=data["lawful_basis"], consent_days=data["consent_days"],
            retention_days=data["retention_days"], policy=data["policy"], dpia=data["dpia"],
            forgettable=data["forgettable"], active=data["active"])

    def show_problems(self, error: InvalidInput) -> None:
        for problem in error.details:
            name = FIELD_ALIASES.get(problem.field, problem.field)
            self.add_error(name if name in self.fields else None, problem.reason)
        if not error.details:
            self.add_error(None, error.message)


class RetireForm(forms.Form):
    reason = forms.CharField(label=_("Why the agreement is withdrawn from use"), widget=forms.Textarea(attrs={
        "rows": 3}), max_length=2000)
