"""Pages of sharing: a department requests a catalog resource; the consumer follows its requests (deadlines,
refusals, disputes), the provider answers the ones for its resources, the data governance office checks them
and settles disputes; grants are read, changed, suspended, resumed and revoked with their history.

Pages are thin: a request or grant outside the visitor's reach is a 404, a form is shown only to those who
may use it, and the action checks the permission again when the form is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.forms import BaseFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from zhengtong.audit.models import AuditEntry
from zhengtong.catalog import queries as catalog_queries
from zhengtong.catalog.models import DataItem, Resource
from zhengtong.core.errors import DomainError, InvalidInput, NotPermitted
from zhengtong.exchange import actions, forms, queries
from zhengtong.exchange.models import Grant, GrantStatus, RefusedBy, RequestStatus, SharingRequest
from zhengtong.identity.models import User

PER_PAGE = 25
DEFAULT_PERIOD = dt.timedelta(days=365)

HISTORY_LABELS = {
    "exchange.submit_request": gettext_lazy("Request submitted"),
    "exchange.check_request": gettext_lazy("Conformity check"),
    "exchange.answer_request": gettext_lazy("Provider's answer"),
    "exchange.dispute_refusal": gettext_lazy("Refusal disputed"),
    "exchange.settle_dispute": gettext_lazy("Dispute settled"),
    "exchange.withdraw_request": gettext_lazy("Request withdrawn"),
    "exchange.remind_deadline": gettext_lazy("Deadline reminder sent"),
    "exchange.overdue_notice": gettext_lazy("Overdue notice sent"),
    "exchange.issue_grant": gettext_lazy("Grant issued"),
    "exchange.change_grant": gettext_lazy("Terms changed"),
    "exchange.suspend_grant": gettext_lazy("Grant suspended"),
    "exchange.resume_grant": gettext_lazy("Grant resumed"),
    "exchange.revoke_grant": gettext_lazy("Grant revoked"),
}

TERM_LABELS = {
    "fields": gettext_lazy("fields"), "row_filter": gettext_lazy("row scope"),
    "masking_level": gettext_lazy("masking"), "field_rules": gettext_lazy("masking rules"),
    "valid_from": gettext_lazy("valid from"), "valid_until": gettext_lazy("valid until"),
    "daily_quota": gettext_lazy("calls per day"), "rate_per_minute": gettext_lazy("calls per minute"),
    "may_write": gettext_lazy("may write records"), "may_reveal": gettext_lazy("staff may reveal full values"),
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _refused(error: DomainError) -> None:
    if isinstance(error, NotPermitted):
        raise PermissionDenied(error.message) from None


def form_errors(*parts: Any) -> dict[str, Any]:
    """Context for the error summary at the top of a form page."""
    page_forms = [p for p in parts if p is not None and not isinstance(p, BaseFormSet)]
    formsets = [p for p in parts if isinstance(p, BaseFormSet)]
    has_errors = any(f.is_bound and f.errors for f in page_forms) or any(
        f.is_bound and f.total_error_count() for f in formsets)
    return {"error_forms": page_forms, "error_formsets": formsets, "has_errors": has_errors}


def _items(resource: Resource, names: list[str] | None = None) -> list[DataItem]:
    items = list(resource.items.all())
    return items if names is None else [item for item in items if item.name in names]


def _labels(resource: Resource) -> dict[str, str]:
    return {item.name: item.label for item in resource.items.all()}


def scope_lines(row_filter: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str]) -> list[str]:
    """A row filter in words, one condition a line."""
    lines = []
    for name, tests in row_filter.items():
        field = f"{labels.get(name, name)} ({name})"
        for test, value in tests.items():
            if test == "in":
                lines.append(_("%(field)s is one of %(values)s") % {
                    "field": field, "values": ", ".join(str(v) for v in value)})
            elif test == "eq":
                lines.append(_("%(field)s equals %(value)s") % {"field": field, "value": value})
            else:
                lines.append(_("%(field)s starts with %(value)s") % {"field": field, "value": value})
    return lines


def _shown(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def _history(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    """Audit entries as the history list shows them: what happened, who did it, and what changed."""
    rows = []
    for entry in entries:
        detail = entry.detail or {}
        notes = []
        for name, change in (detail.get("changes") or {}).items():
            notes.append(_("%(term)s: %(old)s → %(new)s") % {"term": TERM_LABELS.get(name, name),
                                                              "old": _shown(change.get("from")),
                                                              "new": _shown(change.get("to"))})
        for key, label in (("note", _("Note")), ("reasons", _("Reasons")), ("grounds", _("Grounds")),
                           ("settlement", _("Settlement")), ("reason", _("Reason")), ("due", _("Deadline"))):
            if detail.get(key):
                notes.append(f"{label}: {detail[key]}")
        rows.append({"entry": entry, "label": HISTORY_LABELS.get(entry.action, entry.action), "notes": notes})
    return rows


# --- requests ----------------------------------------------------------------------------------------------


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("exchange:requests")


def _next_step(side: queries.RequestSide, item: SharingRequest) -> tuple[str, str] | None:
    """The step the viewer can take on a row of their list, as (URL name, label). Each list is offered only to
    those holding its permission, over rows inside their scope, so the row's status decides."""
    if side == queries.RequestSide.OURS and item.status == RequestStatus.REFUSED and \
            item.refused_by != RefusedBy.CATALOG and item.disputed_at is None:
        return "exchange:dispute", _("Dispute the refusal")
    if side == queries.RequestSide.INCOMING and item.status == RequestStatus.PROVIDER_REVIEW:
        return "exchange:answer", _("Answer the request")
    if side in (queries.RequestSide.QUEUE, queries.RequestSide.ALL):
        if item.status == RequestStatus.CHECKING:
            return "exchange:check", _("Check conformity")
        if item.status == RequestStatus.DISPUTED:
            return "exchange:settle", _("Settle the dispute")
    return None


def side_listing(request: HttpRequest, sides: Sequence[Any], items_on_side: Callable[[Any], QuerySet[Any]],
             form: django_forms.Form, labels: Mapping[Any, Any]) -> dict[str, Any]:
    """A list page's common part: the side chosen (the first the user has, unless the query names another),
    the status filter, the page asked for, and the query to carry to the other pages."""
    _require(bool(sides))
    chosen = request.GET.get("side", "")
    side = next((s for s in sides if s.value == chosen), sides[0])
    items = items_on_side(side)
    if form.is_bound and form.is_valid() and form.cleaned_data["status"]:
        items = items.filter(status=form.cleaned_data["status"])
    query = request.GET.copy()
    query.pop("page", None)
    return {"form": form, "page": Paginator(items, PER_PAGE).get_page(request.GET.get("page")),
            "query": query.urlencode(), "side": side, "sides": [(s, labels[s]) for s in sides]}


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    listing = side_listing(request, queries.request_sides(user), lambda side: queries.requests_on_side(user, side),
                       forms.RequestFilterForm(request.GET or None), queries.REQUEST_SIDE_LABELS)
    deadlines = queries.Deadlines.as_of()
    side = listing["side"]
    return render(request, "exchange/sharing/request_list.html", {
        **listing, "rows": [(r, deadlines.state(r), _next_step(side, r)) for r in listing["page"]],
        "can_see_grants": bool(queries.grant_sides(user)),
    })


@login_required
def new_request(request: HttpRequest, resource_id: int) -> HttpResponse:
    """The request form, opened from a catalog resource."""
    user = _user(request)
    resource = get_object_or_404(catalog_queries.visible_resources(user), pk=resource_id)
    _require(queries.may_request(user, resource))
    data = request.POST if request.method == "POST" else None
    today = timezone.localdate()
    form = forms.RequestForm(data, items=_items(resource),
                             initial={"valid_from": today, "valid_until": today + DEFAULT_PERIOD})
    conditions = forms.condition_formset(data, resource, forms.suggested_scope(
        resource, user.staff.department.division.prefix))
    page_parts: list[Any] = [form, conditions] if conditions is not None else [form]
    if data is not None and all(part.is_valid() for part in page_parts):
        row_filter = conditions.row_filter() if conditions is not None else {}
        try:
            sharing_request = actions.submit_request(user, form.to_input(resource, row_filter))
        except InvalidInput as error:
            forms.show_problems(error, [form], conditions)
        except DomainError as error:
            _refused(error)
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Request %(number)s is submitted.") % {"number": sharing_request.number})
            return redirect("exchange:request", sharing_request.number)
    return render(request, "exchange/sharing/request_form.html", {
        "resource": resource, "form": form, "conditions": conditions, **form_errors(form, conditions),
    })


def _visible_request(request: HttpRequest, number: str) -> SharingRequest:
    return get_object_or_404(queries.visible_requests(_user(request)), number=number)


@login_required
def request_detail(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    sharing_request = _visible_request(request, number)
    labels = _labels(sharing_request.resource)
    grant = queries.visible_grants(user).filter(request=sharing_request).first()
    return render(request, "exchange/sharing/request_detail.html", {
        "sharing_request": sharing_request, "state": queries.Deadlines.as_of().state(sharing_request),
        "fields": [(name, labels.get(name, name)) for name in sharing_request.fields],
        "scope": scope_lines(sharing_request.row_filter, labels), "grant": grant,
        "history": _history(queries.request_history(sharing_request)),
        "can_check": queries.may_check(user, sharing_request),
        "can_answer": queries.may_answer(user, sharing_request),
        "can_dispute": queries.may_dispute(user, sharing_request),
        "can_settle": queries.may_settle(user, sharing_request),
        "can_withdraw": queries.may_withdraw(user, sharing_request),
    })


def _step_page(request: HttpRequest, number: str, *, allowed: Callable[[User, SharingRequest], bool],
               form_class: type, run: Callable[[User, SharingRequest, dict[str, Any]], Any], title: str,
               done: str) -> HttpResponse:
    """A step of the request's path that takes one small form: check, dispute or settle."""
    user = _user(request)
    sharing_request = _visible_request(request, number)
    _require(allowed(user, sharing_request))
    form = form_class(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            run(user, sharing_request, form.cleaned_data)
        except InvalidInput as error:
            forms.show_problems(error, [form])
        except DomainError as error:
            _refused(error)
            form.add_error(None, error.message)
        else:
            messages.success(request, done % {"number": sharing_request.number})
            return redirect("exchange:request", sharing_request.number)
    labels = _labels(sharing_request.resource)
    return render(request, "exchange/sharing/step_form.html", {
        "sharing_request": sharing_request, "form": form, "title": title,
        "fields": [(name, labels.get(name, name)) for name in sharing_request.fields],
        "scope": scope_lines(sharing_request.row_filter, labels),
        "state": queries.Deadlines.as_of().state(sharing_request), **form_errors(form),
    })


@login_required
def check_request(request: HttpRequest, number: str) -> HttpResponse:
    return _step_page(
        request, number, allowed=queries.may_check, form_class=forms.CheckForm, title=_("Conformity check"),
        done=_("The conformity check of %(number)s is recorded."),
        run=lambda user, item, data: actions.check_request(user, item, conforms=data["decision"] == "conforms",
                                                           note=data["note"]))


@login_required
def dispute_request(request: HttpRequest, number: str) -> HttpResponse:
    return _step_page(
        request, number, allowed=queries.may_dispute, form_class=forms.DisputeForm, title=_("Dispute the refusal"),
        done=_("The refusal of %(number)s is disputed; the data governance office will settle it."),
        run=lambda user, item, data: actions.dispute_refusal(user, item, grounds=data["grounds"]))


@login_required
def settle_request(request: HttpRequest, number: str) -> HttpResponse:
    return _step_page(
        request, number, allowed=queries.may_settle, form_class=forms.SettleForm, title=_("Settle the dispute"),
        done=_("The dispute about %(number)s is settled."),
        run=lambda user, item, data: actions.settle_dispute(user, item, grant=data["decision"] == "grant",
                                                            settlement=data["settlement"]))


@login_required
def answer_request(request: HttpRequest, number: str) -> HttpResponse:
    """The provider's answer: grant on the requested terms or narrower ones, or refuse with reasons."""
    user = _user(request)
    sharing_request = _visible_request(request, number)
    _require(queries.may_answer(user, sharing_request))
    resource = sharing_request.resource
    data = request.POST if request.method == "POST" else None
    answer = forms.AnswerForm(data, initial={"decision": "grant"})
    # A refusal ignores the terms: they are shown again as offered, without problems that do not apply.
    terms_data = data if data is None or data.get("decision") != "refuse" else None
    terms = forms.TermsForm(terms_data, items=_items(resource, sharing_request.fields),
                            initial=forms.TermsForm.initial_of_request(sharing_request))
    conditions = forms.condition_formset(terms_data, resource, forms.condition_rows(sharing_request.row_filter))
    if data is not None and answer.is_valid():
        granting = answer.cleaned_data["decision"] == "grant"
        term_parts: list[Any] = [terms, conditions] if conditions is not None else [terms]
        if not granting or all(part.is_valid() for part in term_parts):
            try:
                actions.answer_request(
                    user, sharing_request, grant=granting, reasons=answer.cleaned_data["reasons"],
                    terms=terms.to_terms(conditions.row_filter() if conditions is not None else {})
                    if granting else None)
            except InvalidInput as error:
                forms.show_problems(error, [answer, terms], conditions)
            except DomainError as error:
                _refused(error)
                answer.add_error(None, error.message)
            else:
                message = _("%(number)s is granted.") if granting else _("%(number)s is refused.")
                messages.success(request, message % {"number": sharing_request.number})
                return redirect("exchange:request", sharing_request.number)
    labels = _labels(resource)
    return render(request, "exchange/sharing/answer_form.html", {
        "sharing_request": sharing_request, "answer": answer, "terms": terms, "conditions": conditions,
        "fields": [(name, labels.get(name, name)) for name in sharing_request.fields],
        "scope": scope_lines(sharing_request.row_filter, labels),
        "state": queries.Deadlines.as_of().state(sharing_request), **form_errors(answer, terms, conditions),
    })


@login_required
@require_POST
def withdraw_request(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    sharing_request = _visible_request(request, number)
    try:
        actions.withdraw_request(user, sharing_request)
    except DomainError as error:
        _refused(error)
        messages.error(request, error.message)
    else:
        messages.success(request, _("Request %(number)s is withdrawn.") % {"number": sharing_request.number})
    return redirect("exchange:request", sharing_request.number)


# --- grants ------------------------------------------------------------------------------------------------


@login_required
def grant_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    listing = side_listing(request, queries.grant_sides(user), lambda side: queries.grants_on_side(user, side),
                       forms.GrantFilterForm(request.GET or None), queries.GRANT_SIDE_LABELS)
    return render(request, "exchange/sharing/grant_list.html", {
        **listing, "today": timezone.localdate(),
        "can_see_requests": bool(queries.request_sides(user)),
    })


def _visible_grant(request: HttpRequest, number: str) -> Grant:
    return get_object_or_404(queries.visible_grants(_user(request)), number=number)


@login_required
def grant_detail(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    grant = _visible_grant(request, number)
    labels = _labels(grant.resource)
    may_manage = queries.may_manage_grant(user, grant)
    return render(request, "exchange/sharing/grant_detail.html", {
        "grant": grant, "in_force": grant.status == GrantStatus.ACTIVE and grant.in_force_on(timezone.localdate()),
        "fields": [(name, labels.get(name, name), grant.field_rules.get(name, "")) for name in grant.fields],
        "scope": scope_lines(grant.row_filter, labels), "history": _history(queries.grant_history(grant)),
        "can_change": may_manage,
        "can_suspend": may_manage and grant.status == GrantStatus.ACTIVE,
        "can_resume": may_manage and grant.status == GrantStatus.SUSPENDED,
        "can_revoke": may_manage,
    })


@login_required
def change_grant(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    grant = _visible_grant(request, number)
    _require(queries.may_manage_grant(user, grant))
    resource = grant.resource
    data = request.POST if request.method == "POST" else None
    terms = forms.TermsForm(data, items=_items(resource), with_write=resource.registry_id is not None,
                            initial=forms.TermsForm.initial_of_grant(grant))
    conditions = forms.condition_formset(data, resource, forms.condition_rows(grant.row_filter))
    reason = forms.ReasonForm(data)
    parts: list[Any] = [part for part in (terms, conditions, reason) if part is not None]
    if data is not None and all(part.is_valid() for part in parts):
        try:
            actions.change_grant(user, grant, terms.to_terms(conditions.row_filter() if conditions else {},
                                                             may_write=grant.may_write),
                                 reason=reason.cleaned_data["reason"])
        except InvalidInput as error:
            forms.show_problems(error, [terms, reason], conditions)
        except DomainError as error:
            _refused(error)
            terms.add_error(None, error.message)
        else:
            messages.success(request, _("The terms of grant %(number)s are changed.") % {"number": grant.number})
            return redirect("exchange:grant", grant.number)
    return render(request, "exchange/sharing/grant_form.html", {
        "grant": grant, "terms": terms, "conditions": conditions, "reason": reason,
        **form_errors(terms, conditions, reason),
    })


GRANT_STATUS_CHANGES: dict[str, tuple[Callable[..., Grant], Any, Any, Any]] = {
    "suspend": (actions.suspend_grant, gettext_lazy("Suspend grant %(number)s"),
                gettext_lazy("While suspended, every read under the grant is refused; it can be resumed."),
                gettext_lazy("Grant %(number)s is suspended.")),
    "resume": (actions.resume_grant, gettext_lazy("Resume grant %(number)s"),
               gettext_lazy("Reads under the grant are allowed again, on its terms."),
               gettext_lazy("Grant %(number)s is resumed.")),
    "revoke": (actions.revoke_grant, gettext_lazy("Revoke grant %(number)s"),
               gettext_lazy("A revoked grant cannot be resumed or changed: the consumer must request the resource "
                            "again."),
               gettext_lazy("Grant %(number)s is revoked.")),
}


@login_required
def grant_status(request: HttpRequest, number: str, change: str) -> HttpResponse:
    """Suspend, resume or revoke a grant, with the reason."""
    user = _user(request)
    grant = _visible_grant(request, number)
    _require(queries.may_manage_grant(user, grant))
    run, title, explanation, done = GRANT_STATUS_CHANGES[change]
    form = forms.ReasonForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            run(user, grant, reason=form.cleaned_data["reason"])
        except InvalidInput as error:
            forms.show_problems(error, [form])
        except DomainError as error:
            _refused(error)
            form.add_error(None, error.message)
        else:
            messages.success(request, str(done) % {"number": grant.number})
            return redirect("exchange:grant", grant.number)
    return render(request, "exchange/sharing/grant_status_form.html", {
        "grant": grant, "form": form, "change": change, "title": str(title) % {"number": grant.number},
        "explanation": explanation, **form_errors(form),
    })
