"""Pages of my data and who used it (for the citizen), and of hidden accesses (for investigators and auditors).

A citizen's pages show their own personal data, so they are theirs alone (staff get 403) and are never cached
(Cache-Control: no-store). Every view of the records and every download is a read through the one door, audited.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from zhengtong.audit.models import AuditEntry
from zhengtong.core.errors import DomainError, InvalidInput, NotPermitted
from zhengtong.portal.navigation import reverse_or_none
from zhengtong.privacy.actions import accesses as actions
from zhengtong.privacy.forms.accesses import HideAccessForm, UsageFilterForm
from zhengtong.privacy.queries import accesses as queries

PAGE_SIZE = 20
FORMATS = ("json", "csv", "pdf")

View = Callable[..., HttpResponse]


def citizen_page(view: View) -> View:
    """A page of the logged-in citizen's own data: staff get 403, and nothing is cached."""

    @login_required
    @never_cache
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            queries.resident_id_of(request.user)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from None
        return view(request, *args, **kwargs)

    guarded.__name__ = view.__name__
    guarded.__doc__ = view.__doc__
    return guarded


# --- the privacy center's home and my data ---------------------------------------------------------------------


@citizen_page
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    links = [
        (reverse_or_none("privacy:my-data"), _("My data"),
         _("The records the government holds about you, and a copy to download.")),
        (reverse_or_none("privacy:usage"), _("Who used my data"),
         _("Every time a department or system read your records: when, who, why and on what legal basis.")),
        (reverse_or_none("privacy:consents"), _("My consents"),
         _("The consents you gave to share your data, and withdrawing them.")),
        (reverse_or_none("privacy:objections"), _("My objections"),
         _("Object to a use of your data you think was wrong.")),
        (reverse_or_none("privacy:corrections"), _("Correction requests"),
         _("Ask for wrong data about you to be corrected.")),
    ]
    return render(request, "privacy/accesses/index.html",
                  {"links": [(url, title, text) for url, title, text in links if url]})


@citizen_page
@require_GET
def my_data(request: HttpRequest) -> HttpResponse:
    copies = queries.my_records(request.user)
    return render(request, "privacy/accesses/my_data.html", {
        "copies": [(copy, [(reading, copy.rows(reading)) for reading in copy.readings]) for copy in copies],
        "formats": FORMATS,
    })


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _json_copy(copies: list[queries.RegistryCopy], made_at: str) -> bytes:
    body = {"made_at": made_at, "registries": [{
        "code": copy.code, "name": copy.name, "department": copy.department,
        "fields": [{"name": name, "label": label} for name, label in copy.fields],
        "records": [{"record_id": r.record_id, "version": r.version, "values": r.values} for r in copy.readings],
    } for copy in copies]}
    return json.dumps(body, ensure_ascii=False, indent=2).encode()


def _csv_copy(copies: list[queries.RegistryCopy]) -> bytes:
    """One row per value, so registries with different fields share one table; BOM for Excel."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("registry code"), _("registry"), _("record"), _("version"), _("field"), _("field label"),
                     _("value")])
    for copy in copies:
        for reading in copy.readings:
            for name, label, value in copy.rows(reading):
                text = _shown(value)
                # A value starting like a formula is kept as text when the copy is opened in a spreadsheet.
                if text.startswith(("=", "+", "-", "@")):
                    text = "'" + text
                writer.writerow([copy.code, copy.name, reading.record_id, reading.version, name, label, text])
    return ("\ufeff" + out.getvalue()).encode()


def _pdf_copy(copies: list[queries.RegistryCopy], made_at: str) -> bytes:
    font = "STSong-Light"  # a CID font every PDF reader has: prints Chinese without shipping a font file
    pdfmetrics.registerFont(UnicodeCIDFont(font))
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        style.fontName = font
    story: list[Any] = [Paragraph(escape(_("My data: records held about me")), styles["Title"]),
                        Paragraph(escape(_("Made at %(time)s by the privacy center.") % {"time": made_at}),
                                  styles["Normal"]), Spacer(1, 12)]
    for copy in copies:
        story.append(Paragraph(escape(f"{copy.name} ({copy.department})"), styles["Heading2"]))
        for reading in copy.readings:
            rows = [[Paragraph(escape(label), styles["Normal"]), Paragraph(escape(_shown(value)), styles["Normal"])]
                    for _name, label, value in copy.rows(reading)]
            table = Table(rows, colWidths=[150, 330])
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                       ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.extend([table, Spacer(1, 8)])
    if not copies:
        story.append(Paragraph(escape(_("No registry holds records about you.")), styles["Normal"]))
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=_("My data"), author=_("Privacy center")).build(story)
    return buffer.getvalue()


@citizen_page
@require_GET
def download(request: HttpRequest, fmt: str) -> HttpResponse:
    """A copy of my data: reading it for the copy is itself a read through the door, audited."""
    if fmt not in FORMATS:
        raise Http404
    copies = queries.my_records(request.user, purpose=queries.DOWNLOAD_PURPOSE)
    made_at = timezone.localtime().isoformat(timespec="seconds")
    if fmt == "json":
        content, kind = _json_copy(copies, made_at), "application/json; charset=utf-8"
    elif fmt == "csv":
        content, kind = _csv_copy(copies), "text/csv; charset=utf-8"
    else:
        content, kind = _pdf_copy(copies, made_at), "application/pdf"
    response = HttpResponse(content, content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="my-data-{timezone.localdate():%Y%m%d}.{fmt}"'
    return response


# --- who used my data -------------------------------------------------------------------------------------------


@citizen_page
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    departments, purposes = queries.filter_choices(request.user)
    form = UsageFilterForm(request.GET or None, departments=departments, purposes=purposes)
    entries = queries.visible_accesses(request.user, form.filters() if form.is_bound else queries.UsageFilters())
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "privacy/accesses/usage.html", {
        "form": form, "page": page, "query": params.urlencode(), "filtered": any(params.values()),
        "rows": [(access, reverse_or_none("privacy:new-objection", access.entry_id))
                 for access in queries.describe(list(page.object_list))],
        "has_errors": form.is_bound and bool(form.errors), "error_forms": [form],
    })


@citizen_page
@require_GET
def verify(request: HttpRequest, entry_id: int) -> HttpResponse:
    """One access's inclusion proof: a fragment for htmx, a page of its own without JavaScript."""
    try:
        check = queries.check_proof(request.user, entry_id)
    except queries.NoSuchAccess:
        raise Http404 from None
    context = {"check": check, "entry_id": entry_id, "root_hex": bytes(check.root_hash).hex()}
    if request.headers.get("HX-Request"):
        return render(request, "privacy/accesses/_proof.html", context)
    return render(request, "privacy/accesses/verify.html", context)


# --- hidden accesses (investigators and auditors) ---------------------------------------------------------------


def _show_problems(error: InvalidInput, form: HideAccessForm) -> None:
    for problem in error.details:
        form.add_error(problem.field if problem.field in form.fields else None, problem.reason)


@login_required
@never_cache
def hide_access(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(queries.HIDE):
        raise PermissionDenied
    form = HideAccessForm(request.POST if request.method == "POST" else None,
                          initial={"entry_id": request.GET.get("entry", "")})
    if form.is_valid():
        data = form.cleaned_data
        try:
            hiding = actions.hide_access(request.user, entry_id=data["entry_id"], hidden_until=data["hidden_until"],
                                         reason=data["reason"], case_reference=data["case_reference"])
        except InvalidInput as error:
            _show_problems(error, form)
        except DomainError as error:
            if isinstance(error, NotPermitted):
                raise PermissionDenied(error.message) from None
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Access %(entry)d is hidden until %(date)s.")
                             % {"entry": hiding.entry_id, "date": hiding.hidden_until.isoformat()})
            return redirect("privacy:hidden-accesses")
    entry_id = form.data.get("entry_id") if form.is_bound else request.GET.get("entry")
    entry = AuditEntry.objects.filter(pk=int(entry_id), action__in=queries.ACCESS_ACTIONS).first() \
        if entry_id and str(entry_id).isdigit() else None
    return render(request, "privacy/accesses/hide.html", {
        "form": form, "entry": queries.describe([entry])[0] if entry is not None else None,
        "entry_actor": entry.actor_name if entry is not None else "",
        "hidden_until": queries.hidden_until(entry.pk) if entry is not None else None,
        "has_errors": form.is_bound and bool(form.errors), "error_forms": [form],
    })


@login_required
@never_cache
@require_GET
def hidden_accesses(request: HttpRequest) -> HttpResponse:
    current_only = request.GET.get("current") == "1"
    try:
        hidings = queries.hidden_accesses(request.user, current_only=current_only)
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    page = Paginator(hidings, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "privacy/accesses/hidden_list.html", {
        "page": page, "today": timezone.localdate(), "current_only": current_only,
        "query": urlencode({"current": "1"}) if current_only else "",
        "can_hide": request.user.has_perm(queries.HIDE),
    })


urlpatterns = [
    path("", index, name="index"),
    path("my-data/", my_data, name="my-data"),
    path("my-data/download.<str:fmt>", download, name="download"),
    path("usage/", usage, name="usage"),
    path("usage/<int:entry_id>/verify/", verify, name="verify"),
    path("accesses/hide/", hide_access, name="hide-access"),
    path("accesses/hidden/", hidden_accesses, name="hidden-accesses"),
]
