"""The catalog's staff pages: browse and search, a resource with its items, grades, rights and lineage, and the
forms that describe, publish and register. Pages show a form only to those who may use it; the action checks
the permission again when the form is sent."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms import BaseFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from zhengtong.catalog import actions, certificates, forms, queries
from zhengtong.catalog.models import Resource, ResourceKind, ResourceStatus, RightsDispute, RightsRegistration
from zhengtong.core.errors import DomainError, InvalidInput, NotPermitted
from zhengtong.identity import scope
from zhengtong.identity.models import Department, User

PER_PAGE = 25
BLANK_ITEM_ROWS = 5
BLANK_HOLDER_ROWS = 3


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _errors(*parts: Any) -> dict[str, Any]:
    """Context for the error summary at the top of a form page."""
    page_forms = [p for p in parts if p is not None and not isinstance(p, BaseFormSet)]
    formsets = [p for p in parts if isinstance(p, BaseFormSet)]
    has_errors = any(f.is_bound and f.errors for f in page_forms) or any(
        f.is_bound and f.total_error_count() for f in formsets)
    return {"error_forms": page_forms, "error_formsets": formsets, "has_errors": has_errors}


def _refused(error: DomainError) -> None:
    if isinstance(error, NotPermitted):
        raise PermissionDenied(error.message) from None


# --- browsing -------------------------------------------------------------------------------------------------


@login_required
def resource_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(scope.permitted(user, queries.VIEW_RESOURCE))
    form = forms.SearchForm(request.GET or None)
    filters = form.filters() if form.is_bound and form.is_valid() else queries.ResourceFilters()
    page = Paginator(queries.search_resources(user, filters), PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "catalog/list.html", {
        "form": form, "page": page, "query": query.urlencode(),
        "can_create": scope.permitted(user, queries.ADD_RESOURCE),
    })


def _verified(registrations: Any) -> list[tuple[RightsRegistration, certificates.Verification | None]]:
    out = []
    for registration in registrations:
        current = registration.current_certificate
        out.append((registration, certificates.verify(current) if current is not None else None))
    return out


@login_required
def resource_detail(request: HttpRequest, resource_id: int) -> HttpResponse:
    user = _user(request)
    resource = get_object_or_404(queries.visible_resources(user), pk=resource_id)
    visible = queries.visible_resources(user)
    may_change = queries.may_change(user, resource)
    registrations = None
    if queries.may_view_rights(user):
        registrations = _verified(queries.visible_registrations(user).filter(resource=resource))
    return render(request, "catalog/resource.html", {
        "resource": resource, "items": resource.items.all(),
        "sources": visible.filter(derived=resource), "derived": visible.filter(sources=resource),
        "related": visible.filter(related=resource), "registrations": registrations,
        "can_change": may_change, "can_publish": may_change and resource.status == ResourceStatus.DRAFT,
        "can_register": queries.may_register_rights(user, resource),
    })


@login_required
def registration_detail(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    registration = get_object_or_404(queries.visible_registrations(user), number=number)
    checks = [certificates.verify(certificate) for certificate in reversed(registration.certificates.all())]
    return render(request, "catalog/registration.html", {
        "registration": registration, "checks": checks, "open_dispute": registration.open_dispute,
        "can_dispute": queries.may_raise_dispute(user, registration),
        "can_settle": queries.may_change_rights(user, registration),
    })


# --- describing resources -------------------------------------------------------------------------------------


def _item_formset(request: HttpRequest, resource: Resource | None) -> BaseFormSet:
    if request.method == "POST":
        return forms.ItemFormSet(request.POST, prefix="items")
    initial: list[dict[str, Any]] = []
    if resource is not None:
        initial = [{"name": i.name, "label": i.label, "label_en": i.label_en, "description": i.description,
                    "type": i.type,
                    "sensitivity": i.sensitivity, "grade": i.grade, "level": i.level, "masking": i.masking}
                   for i in resource.items.all()]
    # Without JavaScript there is no "add a row" button: enough empty rows are offered, and an edit adds more.
    rows = BLANK_ITEM_ROWS if initial else 2 * BLANK_ITEM_ROWS
    return forms.ItemFormSet(initial=initial + [{}] * rows, prefix="items")


def _resource_choices(user: User, resource: Resource | None) -> Any:
    choices = queries.visible_resources(user).order_by("code", "name")
    return choices.exclude(pk=resource.pk) if resource is not None else choices


@login_required
def create_resource(request: HttpRequest) -> HttpResponse:
    """Describe a department's own API."""
    user = _user(request)
    _require(scope.permitted(user, queries.ADD_RESOURCE))
    data = request.POST if request.method == "POST" else None
    provider_form = forms.ProviderForm(data)
    departments = scope.filter_by_scope(user, Department.objects.all())
    provider_form.fields["provider"].queryset = departments  # type: ignore[attr-defined]
    if data is None and getattr(user, "staff", None) is not None:
        provider_form.initial["provider"] = user.staff.department
    form = forms.ResourceForm(data, initial={"kind": ResourceKind.DEPARTMENTAL},
                              choices=_resource_choices(user, None), is_api=True)
    service_form = forms.ServiceForm(data)
    items = _item_formset(request, None)
    if data is not None and all(f.is_valid() for f in (provider_form, form, service_form, items)):
        rows = forms.filled_rows(items)
        service = actions.ServiceInput(
            endpoint_url=service_form.cleaned_data["endpoint_url"],
            http_method=service_form.cleaned_data["http_method"],
            service_description=service_form.cleaned_data["service_description"],
            items=[row.to_input() for _index, row in rows])
        try:
            resource = actions.create_api_resource(user, provider=provider_form.cleaned_data["provider"],
                                                   data=form.to_input(), service=service)
        except InvalidInput as error:
            forms.show_problems(error, [form, service_form, provider_form], items, [i for i, _row in rows])
        except DomainError as error:
            _refused(error)
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The resource is saved as a draft with the code %(code)s. Publish it "
                                        "when it is ready to be shared.") % {"code": resource.code})
            return redirect("catalog:resource", resource.pk)
    return render(request, "catalog/resource_form.html", {
        "form": form, "provider_form": provider_form, "service_form": service_form, "items": items,
        "resource": None, **_errors(provider_form, form, service_form, items),
    })


@login_required
def edit_resource(request: HttpRequest, resource_id: int) -> HttpResponse:
    user = _user(request)
    resource = get_object_or_404(queries.visible_resources(user), pk=resource_id)
    _require(queries.may_change(user, resource))
    data = request.POST if request.method == "POST" else None
    form = forms.ResourceForm(data, initial=forms.ResourceForm.initial_of(resource),
                              choices=_resource_choices(user, resource), is_api=resource.is_api,
                              code_fixed=resource.published_on is not None)
    service_form = items = None
    page_forms: list[Any] = [form]
    if resource.is_api:
        service_form = forms.ServiceForm(data, initial={"endpoint_url": resource.endpoint_url,
                                                        "http_method": resource.http_method,
                                                        "service_description": resource.service_description})
        items = _item_formset(request, resource)
        page_forms += [service_form, items]
    if data is not None and all(f.is_valid() for f in page_forms):
        rows: list[tuple[int, Any]] = []
        service = None
        if service_form is not None and items is not None:
            rows = forms.filled_rows(items)
            service = actions.ServiceInput(
                endpoint_url=service_form.cleaned_data["endpoint_url"],
                http_method=service_form.cleaned_data["http_method"],
                service_description=service_form.cleaned_data["service_description"],
                items=[row.to_input() for _index, row in rows])
        try:
            actions.update_resource(user, resource, form.to_input(), service)
        except InvalidInput as error:
            forms.show_problems(error, [f for f in (form, service_form) if f is not None], items,
                                [i for i, _row in rows])
        except DomainError as error:
            _refused(error)
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The resource is saved."))
            return redirect("catalog:resource", resource.pk)
    return render(request, "catalog/resource_form.html", {
        "form": form, "service_form": service_form, "items": items, "resource": resource,
        **_errors(form, service_form, items),
    })


@login_required
@require_POST
def publish_resource(request: HttpRequest, resource_id: int) -> HttpResponse:
    user = _user(request)
    resource = get_object_or_404(queries.visible_resources(user), pk=resource_id)
    try:
        resource = actions.publish_resource(user, resource)
    except InvalidInput as error:
        messages.error(request, _("The resource cannot be published yet. Edit it to fix: %(problems)s")
                       % {"problems": "; ".join(f"{p.reason}" for p in error.details)})
    except DomainError as error:
        _refused(error)
        messages.error(request, error.message)
    else:
        messages.success(request, _("%(name)s is published with the code %(code)s.")
                         % {"name": resource.name, "code": resource.code})
    return redirect("catalog:resource", resource.pk)


# --- rights ---------------------------------------------------------------------------------------------------


def _holder_formset(request: HttpRequest, registration: RightsRegistration | None) -> BaseFormSet:
    if request.method == "POST":
        return forms.HolderFormSet(request.POST, prefix="holders")
    initial: list[dict[str, Any]] = []
    if registration is not None:
        initial = [{"right": h.right, "department_code": h.department,
                    "name": "" if h.department else h.name, "credit_code": "" if h.department else h.credit_code}
                   for h in registration.right_holders.all()]
    return forms.HolderFormSet(initial=initial + [{}] * BLANK_HOLDER_ROWS, prefix="holders")


def _rights_page(request: HttpRequest, *, resource: Resource, registration: RightsRegistration | None) -> HttpResponse:
    """The register and amend forms, which differ only in the reason an amendment needs."""
    user = _user(request)
    data = request.POST if request.method == "POST" else None
    form_class = forms.AmendForm if registration is not None else forms.RightsForm
    if registration is not None:
        initial = {"holder_code": registration.holder, "source_system": registration.source_system,
                   "collection_legal_basis": registration.collection_legal_basis,
                   "provenance_note": registration.provenance_note}
    else:
        initial = {"holder_code": resource.provider}
    form = form_class(data, initial=initial)
    holders = _holder_formset(request, registration)
    if data is not None and form.is_valid() and holders.is_valid():
        rows = forms.filled_rows(holders)
        rights = form.to_input([row.to_input() for _index, row in rows])
        try:
            if registration is None:
                saved = actions.register_rights(user, resource, rights)
                message = _("The rights are registered as %(number)s and the certificate is signed.")
            else:
                saved = actions.amend_rights(user, registration, rights, reason=form.cleaned_data["reason"])
                message = _("Registration %(number)s is amended and a new certificate version is signed.")
        except InvalidInput as error:
            forms.show_problems(error, [form], holders, [i for i, _row in rows])
        except DomainError as error:
            _refused(error)
            form.add_error(None, error.message)
        else:
            messages.success(request, message % {"number": saved.number})
            return redirect("catalog:registration", saved.number)
    return render(request, "catalog/rights_form.html", {
        "form": form, "holders": holders, "resource": resource, "registration": registration,
        **_errors(form, holders),
    })


@login_required
def register_rights(request: HttpRequest, resource_id: int) -> HttpResponse:
    user = _user(request)
    resource = get_object_or_404(queries.visible_resources(user), pk=resource_id)
    _require(queries.may_register_rights(user, resource))
    return _rights_page(request, resource=resource, registration=None)


@login_required
def amend_rights(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    registration = get_object_or_404(queries.visible_registrations(user), number=number)
    _require(queries.may_change_rights(user, registration))
    return _rights_page(request, resource=registration.resource, registration=registration)


@login_required
def raise_dispute(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    registration = get_object_or_404(queries.visible_registrations(user), number=number)
    _require(queries.may_raise_dispute(user, registration))
    form = forms.DisputeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.raise_dispute(user, registration, reason=form.cleaned_data["reason"])
        except InvalidInput as error:
            forms.show_problems(error, [form])
        except DomainError as error:
            _refused(error)
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The registration is flagged as disputed. The data governance office "
                                        "will settle it."))
            return redirect("catalog:registration", registration.number)
    return render(request, "catalog/dispute_form.html", {"form": form, "registration": registration,
                                                         "dispute": None, **_errors(form)})


@login_required
def settle_dispute(request: HttpRequest, dispute_id: int) -> HttpResponse:
    user = _user(request)
    dispute = get_object_or_404(RightsDispute.objects.select_related("registration"), pk=dispute_id,
                                registration__in=queries.visible_registrations(user))
    _require(queries.may_change_rights(user, dispute.registration))
    form = forms.SettleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.settle_dispute(user, dispute, settlement=form.cleaned_data["settlement"])
        except InvalidInput as error:
            forms.show_problems(error, [form])
        except DomainError as error:
            _refused(error)
            form.add_error(None, error.message)
        else:
            messages.success(request, _("The dispute is settled."))
            return redirect("catalog:registration", dispute.registration.number)
    return render(request, "catalog/dispute_form.html", {"form": form, "registration": dispute.registration,
                                                         "dispute": dispute, **_errors(form)})
