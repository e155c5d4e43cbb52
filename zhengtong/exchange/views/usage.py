"""The usage statistics page (/sharing/usage/): calls of department systems per day by outcome, refusals and errors
by reason, latency percentiles, and the same per resource, consumer and provider, for a period and filters.

Each chart is drawn by Apache ECharts from figures the page carries, and each has a text summary and a table of the
same figures, so nothing is shown only as a picture. The filter form is a plain GET form.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhengtong.core.errors import InvalidInput
from zhengtong.exchange.models import Outcome
from zhengtong.exchange.queries import usage as queries

CUSTOM = "custom"
DEFAULT_DAYS = 30


class UsageFilterForm(forms.Form):
    period = forms.ChoiceField(label=gettext_lazy("Period"), required=False, initial=str(DEFAULT_DAYS))
    start = forms.DateField(label=gettext_lazy("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}),
                            help_text=gettext_lazy("With “From … to …” as the period."))
    end = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    resource = forms.TypedChoiceField(label=gettext_lazy("Data resource"), required=False, coerce=int,
                                      empty_value=None)
    consumer = forms.TypedChoiceField(label=gettext_lazy("Consumer department"), required=False, coerce=int,
                                      empty_value=None)
    provider = forms.TypedChoiceField(label=gettext_lazy("Provider department"), required=False, coerce=int,
                                      empty_value=None)

    def __init__(self, data: Any, options: dict[str, list[tuple[int, str]]]):
        super().__init__(data)
        period = self.fields["period"]
        assert isinstance(period, forms.ChoiceField)
        period.choices = [*((str(n), _("Last %(n)d days") % {"n": n}) for n in queries.PERIOD_CHOICES),
                          (CUSTOM, _("From … to …"))]
        anything = {"resource": _("Any resource"), "consumer": _("Any consumer"), "provider": _("Any provider")}
        for name, label in anything.items():
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", label), *((str(pk), text) for pk, text in options[name])]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period") == CUSTOM:
            for name in ("start", "end"):
                if data.get(name) is None and name not in self.errors:
                    self.add_error(name, _("Give both days of the period."))
        return data

    def filters(self) -> queries.UsageFilters:
        """The filters the valid form asks for (the last 30 days when no period is chosen)."""
        data = self.cleaned_data
        narrowing = {name: data.get(name) for name in ("resource", "consumer", "provider")}
        if data.get("period") == CUSTOM:
            return queries.UsageFilters(data["start"], data["end"], **narrowing)
        return queries.UsageFilters.last(int(data.get("period") or DEFAULT_DAYS), **narrowing)


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _ms(value: float | None) -> str:
    return "–" if value is None else formats.number_format(round(value, 1 if value < 10 else 0), use_l10n=True)


OUTCOME_LABELS: dict[str, Promise] = {Outcome.OK: gettext_lazy("Answered"), Outcome.REFUSED: gettext_lazy("Refused"),
                  Outcome.ERROR: gettext_lazy("Errors")}


def _calls_chart(stats: queries.Statistics) -> dict[str, Any]:
    totals = stats.totals
    busiest = max(stats.days, key=lambda row: row.calls, default=None)
    summary = _("From %(start)s to %(end)s, %(calls)s calls: %(ok)s answered (%(ok_share)s), %(refused)s refused "
                "(%(refused_share)s), %(error)s errors (%(error_share)s).") % {
        "start": stats.filters.start.isoformat(), "end": stats.filters.end.isoformat(), "calls": totals.calls,
        "ok": totals.ok, "ok_share": _percent(totals.ok, totals.calls), "refused": totals.refused,
        "refused_share": _percent(totals.refused, totals.calls), "error": totals.error,
        "error_share": _percent(totals.error, totals.calls)}
    if busiest is not None and busiest.calls:
        summary += " " + _("The busiest day was %(day)s with %(calls)s calls.") % {
            "day": busiest.day.isoformat(), "calls": busiest.calls}
    return {
        "summary": summary,
        "data": {"kind": "stacked", "categories": [row.day.isoformat() for row in stats.days],
                 "series": [{"name": str(OUTCOME_LABELS[outcome]), "values": [getattr(row, outcome) for row in
                                                                                 stats.days]}
                            for outcome in (Outcome.OK, Outcome.REFUSED, Outcome.ERROR)]},
    }


def _reasons_chart(stats: queries.Statistics) -> dict[str, Any]:
    refused = [row for row in stats.reasons if row.outcome == Outcome.REFUSED]
    errors = [row for row in stats.reasons if row.outcome == Outcome.ERROR]
    if not stats.reasons:
        summary = _("No call was refused or failed in this period.")
    else:
        parts = []
        if refused:
            parts.append(_("The most common reason for refusing was “%(reason)s” (%(calls)s of %(total)s refusals).")
                         % {"reason": refused[0].label, "calls": refused[0].calls, "total": stats.totals.refused})
        if errors:
            parts.append(_("The most common error was “%(reason)s” (%(calls)s of %(total)s errors).")
                         % {"reason": errors[0].label, "calls": errors[0].calls, "total": stats.totals.error})
        summary = " ".join(parts)
    return {
        "summary": summary,
        "data": {"kind": "bar", "categories": [f"{OUTCOME_LABELS[row.outcome]}: {row.label}" for row in stats.reasons],
                 "series": [{"name": _("Calls"), "values": [row.calls for row in stats.reasons]}]},
    }


def _latency_chart(stats: queries.Statistics) -> dict[str, Any]:
    latency = stats.totals.latency
    if latency.p50 is None:
        summary = _("No calls in this period, so no latency to show.")
    else:
        summary = _("Over the period, half the calls were answered within %(p50)s ms, 95%% within %(p95)s ms and "
                    "99%% within %(p99)s ms (estimated from latency buckets).") % {
            "p50": _ms(latency.p50), "p95": _ms(latency.p95), "p99": _ms(latency.p99)}
        slowest = max((row for row in stats.days if row.latency.p95 is not None),
                      key=lambda row: row.latency.p95 or 0.0)
        summary += " " + _("The slowest day by the 95th percentile was %(day)s (%(p95)s ms).") % {
            "day": slowest.day.isoformat(), "p95": _ms(slowest.latency.p95)}
    return {
        "summary": summary,
        "data": {"kind": "line", "unit": "ms", "categories": [row.day.isoformat() for row in stats.days],
                 "series": [{"name": name, "values": [_rounded(getattr(row.latency, name)) for row in stats.days]}
                            for name in ("p50", "p95", "p99")]},
    }


def _chosen_filters(form: UsageFilterForm) -> queries.UsageFilters:
    """The form's filters when it is valid and its period allowed; else the last 30 days, the form showing why."""
    if not form.is_bound or not form.is_valid():
        return queries.UsageFilters.last(DEFAULT_DAYS)
    try:
        return form.filters().check()
    except InvalidInput as error:
        for problem in error.details:
            form.add_error(problem.field if problem.field in form.fields else None, problem.reason)
        return queries.UsageFilters.last(DEFAULT_DAYS)


@login_required
def usage(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not queries.may_view_usage(user):
        raise PermissionDenied
    form = UsageFilterForm(request.GET or None, queries.usage_options(user))
    stats = queries.usage_statistics(user, _chosen_filters(form))
    return render(request, "exchange/usage/usage.html", {
        "form": form, "has_errors": form.is_bound and bool(form.errors), "error_forms": [form],
        "stats": stats, "refused_percent": _percent(stats.totals.refused, stats.totals.calls),
        "calls_chart": _calls_chart(stats), "reasons_chart": _reasons_chart(stats),
        "latency_chart": _latency_chart(stats),
        "groups": [(_("By data resource"), "resource", stats.by_resource),
                   (_("By consumer department"), "consumer", stats.by_consumer),
                   (_("By provider department"), "provider", stats.by_provider)],
    })


urlpatterns: list = [
    path("usage/", usage, name="usage"),
]
