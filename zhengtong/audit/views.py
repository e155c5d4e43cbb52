"""The auditor's pages: search the trail, read an entry with its inclusion proof, export CSV, follow alerts.

Pages guard themselves with Django permissions (audit.view_auditentry, audit.export_auditentry,
audit.view_anomalyalert, audit.change_anomalyalert); the audit app knows people only as plain values, so the
actor recorded for an export or an acknowledgement is built here from the user, duck-typed.

A data subject's ID number typed into the search is hashed at once: the page answers with a redirect to the
same search by hash, so the ID stays out of the page, its links, the export and the browser's address bar.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import F, Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST
from stdnum.cn import ric, uscc

from zhengtong.audit import anomalies, proofs, queries
from zhengtong.audit.actions import actor_of_user, record_alone
from zhengtong.audit.models import AlertRule, AnomalyAlert, AuditEntry
from zhengtong.audit.subjects import subject_hash
from zhengtong.core.errors import DomainError

VIEW_ENTRIES = "audit.view_auditentry"
EXPORT_ENTRIES = "audit.export_auditentry"
VIEW_ALERTS = "audit.view_anomalyalert"
CHANGE_ALERTS = "audit.change_anomalyalert"
DEFAULT_EXPORT_MAX_ROWS = 100_000
ALERTS_PER_PAGE = 50
EXPORT_COLUMNS = (
    "id", "occurred_at", "actor_kind", "actor_id", "actor_name", "actor_department", "actor_roles",
    "on_behalf_of", "action", "object_type", "object_id", "subjects", "fields", "purpose", "legal_basis",
    "case_reference", "result", "request_id", "client_address", "detail",
)
# A cell starting with one of these is a formula to a spreadsheet; such values are quoted (OWASP CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


def _require(request: HttpRequest, *perms: str) -> None:
    if not all(request.user.has_perm(perm) for perm in perms):
        raise PermissionDenied


# --- search ------------------------------------------------------------------------------------------------


class UnechoedTextInput(forms.TextInput):
    """A text box that never writes back what was typed into it (a data subject's ID number)."""

    def format_value(self, value: Any) -> str | None:
        return None


class SearchForm(forms.Form):
    actor = forms.CharField(label=gettext_lazy("Actor (name or user id)"), required=False, max_length=200)
    department = forms.CharField(label=gettext_lazy("Department code"), required=False, max_length=32)
    subject = forms.CharField(
        label=gettext_lazy("Data subject's ID number"), required=False, max_length=64,
        widget=UnechoedTextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=gettext_lazy("A resident ID number or unified social credit code. It is turned into the "
                               "trail's keyed hash before searching and is not shown again."),
    )
    subject_hash = forms.RegexField(regex=queries.SUBJECT_HASH, required=False, widget=forms.HiddenInput)
    action = forms.CharField(
        label=gettext_lazy("Action"), required=False, max_length=100,
        help_text=gettext_lazy("An exact action such as identity.login, or a prefix ending in * such as "
                               "exchange.*"),
    )
    object_type = forms.CharField(label=gettext_lazy("Object type"), required=False, max_length=100)
    object_id = forms.CharField(label=gettext_lazy("Object id"), required=False, max_length=100)
    since = forms.DateTimeField(label=gettext_lazy("From"), required=False, input_formats=_TIME_FORMATS,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"},
                                                           format="%Y-%m-%dT%H:%M"))
    until = forms.DateTimeField(label=gettext_lazy("Until"), required=False, input_formats=_TIME_FORMATS,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"},
                                                           format="%Y-%m-%dT%H:%M"),
                                help_text=gettext_lazy("Entries up to the end of this minute."))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end of the period must not be before its start."))
        return cleaned

    def filters(self) -> queries.EntryFilters:
        data = self.cleaned_data
        until = data.get("until")
        return queries.EntryFilters(
            actor=data.get("actor", "").strip(), department=data.get("department", "").strip(),
            subject_hash=data.get("subject_hash", ""), action=data.get("action", "").strip(),
            object_type=data.get("object_type", "").strip(), object_id=data.get("object_id", "").strip(),
            since=data.get("since"),
            # Inclusive to the end of the minute (or the day, for a date alone) the auditor typed.
            until=until + _resolution(self.data.get("until", "")) if until else None,
        )


def _resolution(typed: str) -> dt.timedelta:
    typed = typed.strip()
    if len(typed) == len("2026-01-01"):
        return dt.timedelta(days=1)
    if typed.count(":") >= 2:
        return dt.timedelta(seconds=1)
    return dt.timedelta(minutes=1)


def _looks_like_an_id(identifier: str) -> bool:
    identifier = identifier.strip().upper()
    return ric.is_valid(identifier) or uscc.is_valid(identifier)


def _hashed_search_redirect(request: HttpRequest, url_name: str) -> HttpResponseRedirect:
    """The same search with the typed ID number replaced by its hash; the search itself is recorded."""
    identifier = request.GET["subject"].strip()
    params = request.GET.copy()
    for key in ("subject", "before", "after", "unverified"):
        params.pop(key, None)
    params["subject_hash"] = subject_hash(identifier)
    if not _looks_like_an_id(identifier):
        params["unverified"] = "1"
    if url_name == "audit:search":
        record_alone("audit.search_subject", actor_of_user(request.user), subjects=[identifier],
                     detail={"filters": {k: v for k, v in params.items() if k != "unverified"}})
    return HttpResponseRedirect(f"{reverse(url_name)}?{params.urlencode()}")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _with(params: dict[str, str], **extra: object) -> str:
    query = QueryDict(mutable=True)
    query.update(params)
    for key, value in extra.items():
        query[key] = str(value)
    return query.urlencode()


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_ENTRIES)
    if request.GET.get("subject", "").strip():
        return _hashed_search_redirect(request, "audit:search")
    form = SearchForm(request.GET or None)
    page = None
    params: dict[str, str] = {}
    if not request.GET or form.is_valid():
        filters = form.filters() if request.GET else queries.EntryFilters()
        params = filters.as_params()
        entries = queries.search_entries(filters)
        page = queries.page_of(entries, before=_int_or_none(request.GET.get("before")),
                               after=_int_or_none(request.GET.get("after")))
    context = {
        "form": form,
        "page": page,
        "subject_hash": form.cleaned_data.get("subject_hash", "") if form.is_bound and form.is_valid() else "",
        "unverified_subject": request.GET.get("unverified") == "1",
        "filter_query": _with(params),
        "newest_query": _with(params) if page is not None and not page.is_first else None,
        "newer_query": _with(params, after=page.newer_than) if page and page.newer_than else None,
        "older_query": _with(params, before=page.older_than) if page and page.older_than else None,
        "can_export": request.user.has_perm(EXPORT_ENTRIES),
    }
    return render(request, "audit/search.html", context)


# --- entry detail ------------------------------------------------------------------------------------------


@login_required
@require_GET
def entry_detail(request: HttpRequest, entry_id: int) -> HttpResponse:
    _require(request, VIEW_ENTRIES)
    entry = get_object_or_404(AuditEntry, pk=entry_id)
    check = proofs.entry_inclusion(entry.pk)
    latest = check.head if check.head is not None else proofs.latest_tree_head()
    context = {
        "entry": entry,
        "detail_json": json.dumps(entry.detail, ensure_ascii=False, indent=2, sort_keys=True),
        "check": check,
        "proof_hex": [node.hex() for node in check.proof],
        "root_hex": bytes(check.root_hash).hex(),
        "latest_head": latest,
        "latest_root_hex": bytes(latest.root_hash).hex() if latest is not None else "",
        "sequencer_running": proofs.sequencer_running(),
        "actor_query": _with({"actor": entry.actor_id or entry.actor_name}) if (entry.actor_id or entry.actor_name)
        else None,
        "object_query": _with({"object_type": entry.object_type, "object_id": entry.object_id})
        if entry.object_type and entry.object_id else None,
    }
    return render(request, "audit/entry.html", context)


# --- CSV export --------------------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, list):
        text = " ".join(str(item) for item in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_rows(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(EXPORT_COLUMNS)
    for values in entries.values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000):
        yield writer.writerow([_cell(value) for value in values])


def export_max_rows() -> int:
    return int(getattr(settings, "AUDIT_EXPORT_MAX_ROWS", DEFAULT_EXPORT_MAX_ROWS))


@login_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponseBase:
    _require(request, VIEW_ENTRIES, EXPORT_ENTRIES)
    if request.GET.get("subject", "").strip():
        return _hashed_search_redirect(request, "audit:export")
    form = SearchForm(request.GET)
    if not form.is_valid():
        return HttpResponse(_("The search is not valid: %(errors)s") % {"errors": form.errors.as_text()},
                            status=400, content_type="text/plain; charset=utf-8")
    filters = form.filters()
    cap = export_max_rows()
    # The export is fixed to the entries that exist now, so the count recorded is the count delivered,
    # whatever is written while it streams (the export's own entry included).
    newest = AuditEntry.objects.aggregate(newest=Max("id"))["newest"] or 0
    matching = queries.search_entries(filters).filter(id__lte=newest)
    found = matching[:cap + 1].count()  # one more than the cap tells a full file from a cut one
    entries = matching[:cap]
    rows = min(found, cap)
    record_alone("audit.export", actor_of_user(request.user), object_type="audit_entries",
                 detail={"filters": filters.as_detail(), "rows": rows, "limit": cap, "truncated": found > cap})
    response = StreamingHttpResponse(_csv_rows(entries), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --- alerts ------------------------------------------------------------------------------------------------

ALERT_STATUSES = (("open", gettext_lazy("Open")), ("acknowledged", gettext_lazy("Acknowledged")),
                  ("all", gettext_lazy("All")))


def alert_summary(alert: AnomalyAlert) -> str:
    """What was seen, in a phrase beside the rule's name."""
    if alert.rule == AlertRule.MANY_SUBJECTS:
        return ngettext("%(observed)d person read within the hour (the limit is %(threshold)d)",
                        "%(observed)d people read within the hour (the limit is %(threshold)d)",
                        alert.observed) % {"observed": alert.observed, "threshold": alert.threshold}
    if alert.rule == AlertRule.OFF_HOURS:
        return ngettext("%(observed)d read when the alert was raised", "%(observed)d reads when the alert was raised",
                        alert.observed) % {"observed": alert.observed}
    return _("entry #%(entry)d") % {"entry": alert.first_entry_id}


def alert_entries_query(alert: AnomalyAlert) -> str:
    """The search that shows the entries behind an alert."""
    filters = queries.EntryFilters(
        actor=alert.actor_id or alert.actor_name, since=alert.window_start,
        until=max(alert.window_end, alert.window_start + dt.timedelta(minutes=1)),
    )
    return _with(filters.as_params())


@login_required
@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_ALERTS)
    status = request.GET.get("status", "all")
    listed = AnomalyAlert.objects.all()
    if status == "open":
        listed = listed.filter(acknowledged_at__isnull=True)
    elif status == "acknowledged":
        listed = listed.filter(acknowledged_at__isnull=False)
    else:
        status = "all"
    listed = listed.order_by(F("acknowledged_at").asc(nulls_first=True), "-raised_at", "-id")
    page = Paginator(listed, ALERTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"alert": alert, "summary": alert_summary(alert), "entries_query": alert_entries_query(alert)}
            for alert in page.object_list]
    context = {
        "page": page,
        "rows": rows,
        "status": status,
        "statuses": ALERT_STATUSES,
        "open_count": AnomalyAlert.objects.filter(acknowledged_at__isnull=True).count(),
        "can_acknowledge": request.user.has_perm(CHANGE_ALERTS),
        "can_search": request.user.has_perm(VIEW_ENTRIES),
    }
    return render(request, "audit/alerts.html", context)


@login_required
@require_POST
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    _require(request, VIEW_ALERTS, CHANGE_ALERTS)
    alert = get_object_or_404(AnomalyAlert, pk=alert_id)
    try:
        anomalies.acknowledge_alert(alert, request.user)
    except DomainError as error:
        messages.warning(request, error.message)
    else:
        messages.success(request, _("Alert acknowledged."))
    return redirect(reverse("audit:alerts") + f"#alert-{alert.pk}")
