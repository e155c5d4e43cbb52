"""The site shell's pages: home, per-person dashboards, department directory, working-day calendar.

Views read with the ORM and render; the one state change here (elder-friendly mode on an account) goes
through zhengtong.identity.actions.
"""

from __future__ import annotations

import calendar as pycalendar
import datetime
from dataclasses import dataclass
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.db.models.functions import Substr
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from zhengtong.audit.models import AnomalyAlert, AuditEntry
from zhengtong.core import actions as core_actions
from zhengtong.core import calendar as working_calendar
from zhengtong.core.actions import CalendarDayInput
from zhengtong.core.errors import DomainError
from zhengtong.core.masking import mask_name, mask_phone, mask_resident_id
from zhengtong.core.models import OfficialCalendarYear
from zhengtong.identity import actions, roles, scope
from zhengtong.identity.models import (
    ApiClient,
    Business,
    Citizen,
    Department,
    Division,
    DivisionLevel,
    LoginEventKind,
    StaffProfile,
    User,
)
from zhengtong.identity.queries import login_event_label, login_events
from zhengtong.portal import forms, navigation
from zhengtong.portal.context_processors import ELDER_COOKIE, elder_mode_of

ELDER_COOKIE_MAX_AGE = 365 * 24 * 60 * 60
DEPARTMENTS_PER_PAGE = 20
RECENT_LOGINS = 10
CALENDAR_YEARS = (1950, 2100)


# ---------------------------------------------------------------------------------------------------------
# Home and accessibility statement


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html", {"api_docs_url": _api_docs_url()})


@require_GET
def accessibility(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/accessibility.html")


def _api_docs_url() -> str | None:
    return navigation.API_DOCS_PATH if navigation.path_exists(navigation.API_DOCS_PATH) else None


# ---------------------------------------------------------------------------------------------------------
# Elder-friendly mode


@require_POST
def elder_mode(request: HttpRequest) -> HttpResponse:
    """Turn elder-friendly mode on or off for this browser and, when logged in, for the account."""
    enabled = not elder_mode_of(request)
    if request.user.is_authenticated:
        actions.set_elder_mode(request.user, enabled)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("portal:home")
    response = HttpResponseRedirect(target)
    if enabled:
        response.set_cookie(
            ELDER_COOKIE,
            "1",
            max_age=ELDER_COOKIE_MAX_AGE,
            samesite="Lax",
            secure=request.is_secure(),
            httponly=True,
        )
    else:
        response.delete_cookie(ELDER_COOKIE, samesite="Lax")
    return response


# ---------------------------------------------------------------------------------------------------------
# Dashboards


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    persona = navigation.request_persona(request)
    builder = _DASHBOARDS.get(persona)
    if builder is None:  # pragma: no cover - login_required keeps visitors out
        raise Http404
    context: dict[str, Any] = {"persona_label": navigation.PERSONA_LABELS[persona]}
    context.update(builder(cast(User, request.user)))
    return render(request, f"portal/dashboard_{persona}.html", context)


def _citizen_dashboard(user: User) -> dict[str, Any]:
    citizen = Citizen.objects.select_related("division").filter(user=user).first()
    if citizen is None:
        return {"profile": None}
    # Masked here, on the server: the full values never reach the page.
    profile = {
        "name": mask_name(citizen.name),
        "resident_id": mask_resident_id(citizen.resident_id),
        "phone": mask_phone(citizen.phone),
        "gender": citizen.get_gender_display(),
        "division": citizen.division.name if citizen.division else "",
    }
    return {"profile": profile}


def _staff_summary(user: User) -> dict[str, Any]:
    profile = StaffProfile.objects.select_related("department").filter(user=user).first()
    names = sorted(navigation.group_names(user))
    role_labels = [roles.ROLE_LABELS.get(name, name) for name in names]
    recent_logins = [
        {"occurred_at": event.occurred_at, "kind": login_event_label(event), "address": event.client_address}
        for event in login_events(user).order_by("-id")[:RECENT_LOGINS]
    ]
    return {"staff_profile": profile, "role_labels": role_labels, "recent_logins": recent_logins}


def _staff_dashboard(user: User) -> dict[str, Any]:
    return _staff_summary(user)


def _leader_dashboard(user: User) -> dict[str, Any]:
    context = _staff_summary(user)
    context["citizens_chart"] = _citizens_per_county()
    context["staff_chart"] = _staff_per_department()
    return context


def _auditor_dashboard(user: User) -> dict[str, Any]:
    context = _staff_summary(user)
    since = timezone.now() - datetime.timedelta(days=7)
    events = login_events().filter(occurred_at__gte=since)
    # order_by() drops the model's default ordering, which would otherwise split the groups.
    rows = events.values("action").annotate(total=Count("id")).order_by()
    counts = {row["action"]: row["total"] for row in rows}
    context["login_counts"] = [
        {"kind": kind, "label": label, "total": counts.get(kind, 0)} for kind, label in LoginEventKind.choices
    ]
    context["login_total"] = sum(counts.values())
    context["login_events_url"] = navigation.reverse_or_none("identity:login-events")
    open_alerts = AnomalyAlert.objects.filter(acknowledged_at__isnull=True)
    context["open_alert_count"] = open_alerts.count()
    context["open_alerts"] = list(open_alerts.order_by("-raised_at", "-id")[:5])
    context["alerts_url"] = navigation.reverse_or_none("audit:alerts")
    context["audit_search_url"] = navigation.reverse_or_none("audit:search")
    return context


def _data_officer_dashboard(user: User) -> dict[str, Any]:
    context = _staff_summary(user)
    profile = context["staff_profile"]
    if profile is not None:
        clients = ApiClient.objects.filter(department=profile.department).aggregate(
            total=Count("id"), active=Count("id", filter=Q(revoked_at__isnull=True))
        )
    else:
        clients = {"total": 0, "active": 0}
    context["api_clients"] = clients
    context["api_clients_url"] = navigation.reverse_or_none("identity:api-clients")
    return context


def _admin_dashboard(user: User) -> dict[str, Any]:
    context = _staff_summary(user)
    since = timezone.now() - datetime.timedelta(days=1)
    failures = [LoginEventKind.FAILURE, LoginEventKind.UNKNOWN_USER, LoginEventKind.SECOND_FACTOR_FAILURE]
    context["platform_counts"] = [
        (_("administrative divisions"), Division.objects.count()),
        (_("departments"), Department.objects.count()),
        (_("staff members"), StaffProfile.objects.count()),
        (_("citizens"), Citizen.objects.count()),
        (_("businesses"), Business.objects.count()),
        (_("active API clients"), ApiClient.objects.filter(revoked_at__isnull=True).count()),
        (
            _("failed logins in the last 24 hours"),
            AuditEntry.objects.filter(occurred_at__gte=since, action__in=failures).count(),
        ),
    ]
    context["admin_url"] = navigation.reverse_or_none("admin:index") if user.is_staff else None
    context["login_events_url"] = navigation.reverse_or_none("identity:login-events")
    context["api_clients_url"] = navigation.reverse_or_none("identity:api-clients")
    return context


_DASHBOARDS = {
    navigation.CITIZEN: _citizen_dashboard,
    navigation.STAFF: _staff_dashboard,
    navigation.LEADER: _leader_dashboard,
    navigation.AUDITOR: _auditor_dashboard,
    navigation.DATA_OFFICER: _data_officer_dashboard,
    navigation.ADMIN: _admin_dashboard,
}


def _localised_name(obj: Division | Department) -> str:
    if (get_language() or "").startswith("en") and obj.name_en:
        return obj.name_en
    return obj.name


def _citizens_per_county() -> dict[str, Any]:
    """Citizens counted by the county-level division their household registration falls in."""
    county_digits = 6
    rows = (
        Citizen.objects.filter(division__level__gte=DivisionLevel.COUNTY)
        .annotate(county=Substr("division__code", 1, county_digits))
        .values("county")
        .annotate(total=Count("id"))
        .order_by("county")
    )
    totals = {row["county"]: row["total"] for row in rows}
    counties = {
        division.code: _localised_name(division)
        for division in Division.objects.filter(code__in=list(totals), level=DivisionLevel.COUNTY)
    }
    return _chart(
        _("Citizens by county-level division"),
        _("County-level division"),
        _("Citizens"),
        [counties.get(code, code) for code in totals],
        list(totals.values()),
    )


def _staff_per_department() -> dict[str, Any]:
    departments = Department.objects.annotate(total=Count("staff")).order_by("code")
    return _chart(
        _("Staff by department"),
        _("Department"),
        _("Staff"),
        [_localised_name(department) for department in departments],
        [department.total for department in departments],
    )


def _chart(
    title: Any, category_heading: Any, value_heading: Any, categories: list[str], values: list[int]
) -> dict[str, Any]:
    """A bar chart: `data` goes to the page as JSON for ECharts, `rows` into the table beside it."""
    return {
        "title": title,
        "category_heading": category_heading,
        "value_heading": value_heading,
        "rows": list(zip(categories, values, strict=True)),
        "data": {
            "title": str(title),
            "category": str(category_heading),
            "series": str(value_heading),
            "categories": categories,
            "values": values,
        },
    }


# ---------------------------------------------------------------------------------------------------------
# Department directory


@require_GET
def departments(request: HttpRequest) -> HttpResponse:
    queryset = Department.objects.select_related("division").order_by("division__code", "code")
    page = Paginator(queryset, DEPARTMENTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {
            "code": department.code,
            "name": _localised_name(department),
            "functions": department.functions,
            "division": _localised_name(department.division),
            "division_code": department.division.code,
        }
        for department in page.object_list
    ]
    return render(request, "portal/departments.html", {"page": page, "rows": rows})


# ---------------------------------------------------------------------------------------------------------
# Working-day calendar


@dataclass(frozen=True)
class CalendarCell:
    date: datetime.date
    in_month: bool
    is_working_day: bool
    kind: str  # "workday", "weekend", "holiday" or "makeup" (a weekend day that is a working day)
    name: str


@require_GET
def calendar_year(request: HttpRequest, year: int | None = None) -> HttpResponse:
    if year is None:
        year = timezone.localdate().year
    if not CALENDAR_YEARS[0] <= year <= CALENDAR_YEARS[1]:
        raise Http404("no calendar for this year")
    source = working_calendar.year_source(year)
    days = working_calendar.year_days(year)
    months = []
    for month in range(1, 13):
        weeks = []
        notable: list[CalendarCell] = []
        for week in pycalendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            cells = []
            for day in week:
                if day.month != month:
                    cells.append(CalendarCell(day, False, False, "", ""))
                    continue
                cell = _calendar_cell(days[day])
                cells.append(cell)
                if cell.kind in ("holiday", "makeup"):
                    notable.append(cell)
            weeks.append(cells)
        months.append({"number": month, "name": MONTHS[month], "weeks": weeks, "notes": _runs(notable)})
    context = {
        "year": year,
        "source": source,
        "provisional": source == "provisional",
        "months": months,
        "previous_year": year - 1 if year > CALENDAR_YEARS[0] else None,
        "next_year": year + 1 if year < CALENDAR_YEARS[1] else None,
        "can_publish": scope.permitted(request.user, core_actions.PUBLISH_PERMISSION),
    }
    return render(request, "portal/calendar.html", context)


@login_required
def calendar_publish(request: HttpRequest, year: int) -> HttpResponse:
    """Operators record a year's official arrangement from the State Council notice."""
    if not scope.permitted(request.user, core_actions.PUBLISH_PERMISSION):
        raise PermissionDenied
    if not CALENDAR_YEARS[0] <= year <= CALENDAR_YEARS[1]:
        raise Http404("no calendar for this year")
    official = OfficialCalendarYear.objects.filter(year=year).first()
    initial = {}
    if official is not None:
        recorded = [CalendarDayInput(day.date, day.kind, day.name) for day in official.days.all()]
        initial = {"notice_title": official.notice_title, "published_on": official.notice_published_on,
                   "days": forms.notice_lines(recorded)}
    form = forms.CalendarNoticeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            core_actions.publish_calendar_year(
                request.user, year=year, notice_title=form.cleaned_data["notice_title"],
                published_on=form.cleaned_data["published_on"], days=form.cleaned_data["days"])
        except DomainError as error:
            for problem in error.details:
                form.add_error("days" if problem.field.startswith("days") else None, problem.reason)
        else:
            messages.success(request, _("The official calendar for %(year)d is recorded.") % {"year": year})
            return HttpResponseRedirect(reverse("portal:calendar-year", args=[year]))
    return render(request, "portal/calendar_publish.html", {"form": form, "year": year, "official": official})


@dataclass(frozen=True)
class CalendarNote:
    """A run of consecutive holidays (or make-up working days) with the same name."""

    start: datetime.date
    end: datetime.date
    kind: str
    name: str


def _runs(cells: list[CalendarCell]) -> list[CalendarNote]:
    notes: list[CalendarNote] = []
    for cell in cells:
        last = notes[-1] if notes else None
        if (
            last is not None
            and last.kind == cell.kind
            and last.name == cell.name
            and last.end + datetime.timedelta(days=1) == cell.date
        ):
            notes[-1] = CalendarNote(last.start, cell.date, cell.kind, cell.name)
        else:
            notes.append(CalendarNote(cell.date, cell.date, cell.kind, cell.name))
    return notes


def _calendar_cell(info: working_calendar.DayInfo) -> CalendarCell:
    day = info.date
    weekend = day.weekday() >= 5
    if info.is_working_day:
        kind = "makeup" if weekend else "workday"
    else:
        kind = "weekend" if weekend and not info.name else "holiday"
    return CalendarCell(day, True, info.is_working_day, kind, info.name or "")
