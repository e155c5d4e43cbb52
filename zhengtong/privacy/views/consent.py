"""Consent pages. A citizen sees the data agreements that concern them (which data, to whom, for what purpose,
for how long) with where they stand, and gives or withdraws consent after a page that says what will happen.
The data governance office lists, publishes, revises and withdraws agreements, and sees each one's versions.

Pages are thin: the consent domain (privacy.actions.consent, privacy.queries.consent) decides and audits."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhengtong.catalog.models import Resource
from zhengtong.core.errors import Conflict, DomainError, InvalidInput, NotPermitted
from zhengtong.identity.models import Citizen, User
from zhengtong.privacy.actions import consent as actions
from zhengtong.privacy.forms.consent import AgreementForm, ResourceChoiceForm, RetireForm
from zhengtong.privacy.models import ConsentState, DataAgreement, LawfulBasis, Revision
from zhengtong.privacy.queries import consent as queries

VIEW_AGREEMENTS = "privacy.view_dataagreement"
# The terms of an agreement snapshot that a version can change, with the words its history shows.
TERM_LABELS = {
    "purpose": gettext_lazy("purpose"), "purposeDescription": gettext_lazy("what the data is used for"),
    "dataAttributes": gettext_lazy("fields"), "lawfulBasis": gettext_lazy("lawful basis"),
    "consentPeriodDays": gettext_lazy("consent valid for (days)"),
    "dataRetentionPeriodDays": gettext_lazy("data kept for (days)"), "policy": gettext_lazy("data policy"),
    "dpia": gettext_lazy("impact assessment"), "forgettable": gettext_lazy("forgettable"),
    "active": gettext_lazy("open to consent"),
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def _citizen(request: HttpRequest) -> Citizen:
    citizen = getattr(_user(request), "citizen", None)
    if not isinstance(citizen, Citizen):
        raise PermissionDenied(_("These pages are for citizens with a real-name account."))
    return citizen


def _labels(agreement: DataAgreement) -> list[str]:
    """The agreement's fields in words, in the agreement's order."""
    items = {item.name: item.label for item in agreement.resource.items.all()}
    return [items.get(name, name) for name in agreement.data_elements]


def _terms(item: queries.AgreementState) -> dict[str, Any]:
    labels = {item_.name: item_.label for item_ in item.agreement.resource.items.all()}
    return {"item": item, "fields": _labels(item.agreement),
            "added": [labels.get(n, n) for n in item.added], "removed": [labels.get(n, n) for n in item.removed]}


# --- the citizen's pages -------------------------------------------------------------------------------------


@login_required
def my_consents(request: HttpRequest) -> HttpResponse:
    items = queries.citizen_agreements(_citizen(request))
    return render(request, "privacy/consent/list.html", {
        "rows": [_terms(item) for item in items],
        "renewals": sum(1 for item in items if item.state == ConsentState.NEEDS_RENEWAL)})


def _citizen_item(request: HttpRequest, public_id: str) -> tuple[Citizen, queries.AgreementState]:
    citizen = _citizen(request)
    item = queries.citizen_agreement(citizen, public_id)
    if item is None:
        raise Http404
    return citizen, item


def _answers(revisions: list[Revision]) -> list[dict[str, Any]]:
    """The citizen's answers as their consents' revisions recorded them, newest first."""
    rows = []
    for revision in revisions:
        data = json.loads(revision.serialized_snapshot)["objectData"]
        rows.append({"at": revision.timestamp, "opt_in": data.get("optIn"),
                     "version": data.get("dataAgreementVersion"),
                     "expires_at": parse_datetime(data["expiresAt"]) if data.get("expiresAt") else None,
                     "by_self": revision.authorized_by_individual_id is not None})
    return rows[::-1]


@login_required
def consent_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    citizen, item = _citizen_item(request, public_id)
    return render(request, "privacy/consent/detail.html", {
        **_terms(item), "answers": _answers(queries.consent_history(citizen, item.agreement))})


def _decide(request: HttpRequest, public_id: str, *, give: bool) -> HttpResponse:
    """The confirmation page of giving or withdrawing, and the decision when it is sent."""
    citizen, item = _citizen_item(request, public_id)
    if not (item.may_give if give else item.may_withdraw):
        return redirect("privacy:consent", public_id=public_id)
    error = ""
    if request.method == "POST":
        individual = actions.individual_for(citizen)
        try:
            if give:
                actions.give_consent(_user(request), item.agreement, individual)
            else:
                actions.withdraw_consent(_user(request), item.agreement, individual)
        except (Conflict, NotPermitted) as refused:
            error = refused.message
        else:
            consumer = item.agreement.consumer.name
            messages.success(request, _("You consented. %(consumer)s may now receive this data for the purpose "
                                        "stated.") % {"consumer": consumer} if give else
                             _("You withdrew your consent. From now on %(consumer)s's calls relying on it are "
                               "refused.") % {"consumer": consumer})
            return redirect("privacy:consent", public_id=public_id)
    return render(request, "privacy/consent/decide.html", {**_terms(item), "give": give, "error": error},
                  status=409 if error else 200)


@login_required
def give(request: HttpRequest, public_id: str) -> HttpResponse:
    return _decide(request, public_id, give=True)


@login_required
def withdraw(request: HttpRequest, public_id: str) -> HttpResponse:
    return _decide(request, public_id, give=False)


# --- the data governance office's pages ----------------------------------------------------------------------


def _require(user: User, permission: str) -> None:
    if not user.has_perm(permission):
        raise PermissionDenied


def _agreement(public_id: str) -> DataAgreement:
    return get_object_or_404(queries.agreements(), public_id=public_id)


@login_required
def agreement_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(user, VIEW_AGREEMENTS)
    rows = [{"agreement": agreement, "consenting": queries.consenting_count(agreement)}
            for agreement in queries.agreements()]
    return render(request, "privacy/consent/agreement_list.html", {
        "rows": rows, "can_change": user.has_perm(actions.CONFIGURE)})


def _versions(agreement: DataAgreement) -> list[dict[str, Any]]:
    """The agreement's revisions, newest first, each with the terms it changed from the one before."""
    rows, before = [], None
    for revision in queries.agreement_revisions(agreement):
        snapshot = json.loads(revision.serialized_snapshot)
        data = snapshot["objectData"]
        changed = [str(label) for key, label in TERM_LABELS.items()
                   if before is not None and _term(data, key) != _term(before, key)]
        rows.append({"revision": revision, "version": data.get("version"), "purpose": data.get("purpose"),
                     "fields": [a.get("category") or a.get("name") for a in data.get("dataAttributes", [])],
                     "consent_days": data.get("consentPeriodDays"), "active": data.get("active"),
                     "deleted": (data.get("lifecycle") or {}).get("id") == "deleted",
                     "by": revision.authorized_by_other, "changed": changed, "first": before is None})
        before = data
    return rows[::-1]


def _term(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    if key == "dataAttributes":
        return [attribute.get("name") for attribute in value or []]
    if key == "policy":
        return (value or {}).get("id")
    return value


@login_required
def agreement_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    user = _user(request)
    _require(user, VIEW_AGREEMENTS)
    agreement = _agreement(public_id)
    return render(request, "privacy/consent/agreement_detail.html", {
        "agreement": agreement, "fields": _labels(agreement), "versions": _versions(agreement),
        "counts": queries.consent_counts(agreement), "consenting": queries.consenting_count(agreement),
        "can_change": user.has_perm(actions.CONFIGURE) and agreement.is_live,
        "on_consent": agreement.lawful_basis == LawfulBasis.CONSENT})


def _form_page(request: HttpRequest, form: AgreementForm, context: dict[str, Any]) -> HttpResponse:
    bound_with_errors = form.is_bound and bool(form.errors)
    return render(request, "privacy/consent/agreement_form.html", {
        **context, "form": form, "error_forms": [form], "has_errors": bound_with_errors},
        status=422 if bound_with_errors else 200)


@login_required
def new_agreement(request: HttpRequest) -> HttpResponse:
    """Choose the resource (a GET form), then fill in the terms for its fields."""
    user = _user(request)
    _require(user, actions.CONFIGURE)
    chooser = ResourceChoiceForm(request.GET or None)
    if not chooser.is_bound or not chooser.is_valid():
        return render(request, "privacy/consent/agreement_resource.html", {
            "chooser": chooser, "error_forms": [chooser], "has_errors": chooser.is_bound and bool(chooser.errors)})
    resource: Resource = chooser.cleaned_data["resource"]
    form = AgreementForm(request.POST or None, resource=resource)
    if request.method == "POST" and form.is_valid():
        try:
            agreement, _revision = actions.publish_agreement(user, form.agreement_input())
        except InvalidInput as error:
            form.show_problems(error)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The agreement is published as version 1."))
            return redirect("privacy:agreement", public_id=agreement.public_id)
    return _form_page(request, form, {"resource": resource, "agreement": None})


@login_required
def revise_agreement(request: HttpRequest, public_id: str) -> HttpResponse:
    user = _user(request)
    _require(user, actions.CONFIGURE)
    agreement = _agreement(public_id)
    if not agreement.is_live:
        raise Http404
    form = AgreementForm(request.POST or None, resource=agreement.resource, agreement=agreement)
    if request.method == "POST" and form.is_valid():
        try:
            revised, _revision = actions.revise_agreement(user, agreement, form.agreement_input())
        except InvalidInput as error:
            form.show_problems(error)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The agreement is saved as version %(version)d.") % {
                "version": revised.version})
            return redirect("privacy:agreement", public_id=public_id)
    return _form_page(request, form, {"resource": agreement.resource, "agreement": agreement,
                                      "consenting": queries.consenting_count(agreement)})


@login_required
def retire_agreement(request: HttpRequest, public_id: str) -> HttpResponse:
    user = _user(request)
    _require(user, actions.CONFIGURE)
    agreement = _agreement(public_id)
    if not agreement.is_live:
        raise Http404
    form = RetireForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.retire_agreement(user, agreement, reason=form.cleaned_data["reason"])
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The agreement is withdrawn from use."))
            return redirect("privacy:agreement", public_id=public_id)
    return render(request, "privacy/consent/agreement_retire.html", {
        "agreement": agreement, "form": form, "consenting": queries.consenting_count(agreement),
        "error_forms": [form], "has_errors": form.is_bound and bool(form.errors)},
        status=422 if form.is_bound and form.errors else 200)


urlpatterns = [
    path("consents/", my_consents, name="consents"),
    path("consents/<str:public_id>/", consent_detail, name="consent"),
    path("consents/<str:public_id>/give/", give, name="give-consent"),
    path("consents/<str:public_id>/withdraw/", withdraw, name="withdraw-consent"),
    path("agreements/", agreement_list, name="agreements"),
    path("agreements/new/", new_agreement, name="new-agreement"),
    path("agreements/<str:public_id>/", agreement_detail, name="agreement"),
    path("agreements/<str:public_id>/revise/", revise_agreement, name="revise-agreement"),
    path("agreements/<str:public_id>/retire/", retire_agreement, name="retire-agreement"),
]
