"""Forms of "who used my data" (its filters) and of hiding an access until a date."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhengtong.privacy.queries.accesses import UsageFilters


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any):
        super().__init__(format="%Y-%m-%d", **kwargs)


class UsageFilterForm(forms.Form):
    """The filters of "who used my data", sent by GET; every field may be left empty."""

    since = forms.DateField(label=_("From"), required=False, widget=DateInput())
    until = forms.DateField(label=_("To"), required=False, widget=DateInput())
    department = forms.ChoiceField(label=_("Department"), required=False)
    purpose = forms.ChoiceField(label=_("Purpose"), required=False)
    include_own = forms.BooleanField(label=_("Include my own views and downloads of my data"), required=False)

    def __init__(self, data: Any, *, departments: Sequence[tuple[str, str]], purposes: Sequence[str]):
        super().__init__(data)
        self.fields["department"].choices = [("", _("All departments")), *departments]  # type: ignore[attr-defined]
        self.fields["purpose"].choices = [("", _("All purposes")), *((p, p) for p in purposes)]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end of the period must not come before its start."))
        return cleaned

    def filters(self) -> UsageFilters:
        if not self.is_valid():
            return UsageFilters()
        data = self.cleaned_data
        return UsageFilters(data["since"], data["until"], data["department"], data["purpose"], data["include_own"])


class HideAccessForm(forms.Form):
    entry_id = forms.IntegerField(label=_("Audit entry number of the access"), min_value=1)
    hidden_until = forms.DateField(label=_("Hidden until"), widget=DateInput(),
                                   help_text=_("The person sees the access from this date on, with who hid it "
                                               "and why. At most a year ahead."))
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Why the person may not know of this access yet. Shown to them once "
                                         "the date has come, and to auditors at once."))
    case_reference = forms.CharField(label=_("Case reference"), max_length=100)
