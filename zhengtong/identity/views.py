"""Login with a second factor for staff, logout, login history for auditors, API clients for data officers."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from zhengtong.core.errors import DomainError
from zhengtong.identity import actions, queries, scope, totp
from zhengtong.identity.actions import LoginOutcome
from zhengtong.identity.models import ApiClient, Department, LoginEventKind, User

NEXT_KEY = "identity.next"


class LoginForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("User name"), max_length=150,
                               widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(label=gettext_lazy("Password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("6-digit code from your authenticator app"), max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "pattern": "[0-9 ]*", "autofocus": True}),
    )


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure()):
        return candidate
    return reverse("portal:dashboard")


def _locked_message(result: actions.LoginResult) -> str:
    until = timezone.localtime(result.locked_until) if result.locked_until else None
    return _("Too many failed attempts. The account is locked until %(time)s.") % {
        "time": formats.time_format(until, "H:i") if until else "?"}


def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request, request.GET.get("next")))
    form = LoginForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        next_url = _safe_next(request, request.POST.get("next"))
        result = actions.attempt_login(request, form.cleaned_data["username"], form.cleaned_data["password"])
        if result.outcome is LoginOutcome.LOGGED_IN:
            return redirect(next_url)
        if result.outcome in (LoginOutcome.NEEDS_SECOND_FACTOR, LoginOutcome.NEEDS_ENROLMENT):
            request.session[NEXT_KEY] = next_url
            step = "identity:login-code" if result.outcome is LoginOutcome.NEEDS_SECOND_FACTOR else "identity:enrol"
            return redirect(step)
        error = _locked_message(result) if result.outcome is LoginOutcome.LOCKED else _(
            "The user name or password is wrong.")
    return render(request, "identity/login.html", {"form": form, "error": error,
                                                   "next": request.GET.get("next", "")},
                  status=401 if error else 200)


def _second_factor(request: HttpRequest, template: str, extra: dict[str, object] | None = None) -> HttpResponse:
    user = actions.pending_user(request)
    if user is None:
        messages.info(request, _("Please start again with your user name and password."))
        return redirect("identity:login")
    form = CodeForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        result = actions.verify_second_factor(request, user, form.cleaned_data["code"])
        if result.outcome is LoginOutcome.LOGGED_IN:
            return redirect(_safe_next(request, request.session.pop(NEXT_KEY, None)))
        if result.outcome is LoginOutcome.LOCKED:
            messages.error(request, _locked_message(result))
            return redirect("identity:login")
        error = _("That code is not right, or was used already. Enter the current code.")
    context = {"form": form, "error": error, "pending": user, **(extra or {})}
    return render(request, template, context, status=401 if error else 200)


def login_code_view(request: HttpRequest) -> HttpResponse:
    return _second_factor(request, "identity/login_code.html")


def enrol_view(request: HttpRequest) -> HttpResponse:
    user = actions.pending_user(request)
    if user is None or user.totp_confirmed_at is not None:
        return redirect("identity:login")
    uri = totp.provisioning_uri(user.totp_secret, user.username)
    return _second_factor(request, "identity/enrol.html", {"secret": user.totp_secret, "qr_svg": totp.qr_svg(uri)})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    actions.log_out(request)
    return redirect("portal:home")


@login_required
def login_events_view(request: HttpRequest) -> HttpResponse:
    if not scope.permitted(request.user, "audit.view_auditentry"):
        raise PermissionDenied
    events = queries.login_events()
    kind = request.GET.get("kind", "")
    if kind in LoginEventKind.values:
        events = events.filter(action=kind)
    username = request.GET.get("username", "").strip()
    if username:
        events = events.filter(detail__username=username)
    page = Paginator(events.order_by("-id"), 50).get_page(request.GET.get("page"))
    for event in page:
        event.kind_label = queries.login_event_label(event)  # type: ignore[attr-defined]
    return render(request, "identity/login_events.html", {
        "page": page, "kinds": LoginEventKind.choices, "kind": kind, "username": username,
    })


class ApiClientForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("System name"), max_length=200)
    department = forms.ModelChoiceField(label=gettext_lazy("Department"), queryset=Department.objects.none())


@login_required
def api_clients_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    if not scope.permitted(user, "identity.view_apiclient"):
        raise PermissionDenied
    clients = scope.filter_by_scope(user, ApiClient.objects.select_related("department"))
    form = ApiClientForm(request.POST or None)
    form.fields["department"].queryset = scope.filter_by_scope(user, Department.objects.all())  # type: ignore[attr-defined]
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = actions.create_api_client(user, department=form.cleaned_data["department"],
                                               name=form.cleaned_data["name"])
        except DomainError as error:
            form.add_error(None, error.message)
    return render(request, "identity/api_clients.html", {
        "clients": clients, "form": form, "issued": issued,
        "can_create": user.has_perm("identity.add_apiclient"),
    })


@login_required
@require_POST
def revoke_api_client_view(request: HttpRequest, key_id: str) -> HttpResponse:
    client = get_object_or_404(ApiClient, key_id=key_id)
    user = request.user
    assert isinstance(user, User)
    try:
        actions.revoke_api_client(user, client)
    except DomainError as error:
        raise PermissionDenied(error.message) from None
    messages.success(request, _("The credential of %(name)s is revoked.") % {"name": client.name})
    return redirect("identity:api-clients")
