"""Pages of service items: the public service guide that citizens search (published items only), and the staff
pages that define items — the item with its form questions, its materials, its process and decision table
(chosen from the uploaded versions or uploaded here), publishing and withdrawing.

Pages are thin: an item outside the staff member's data scope is a 404, and the actions check the permission
again when a form is sent.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.forms import BaseFormSet, Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from zhengtong.core.errors import DomainError, InvalidInput, NotPermitted
from zhengtong.identity.models import User
from zhengtong.services.actions import definitions
from zhengtong.services.actions import items as actions
from zhengtong.services.forms import items as forms
from zhengtong.services.models import Channel, ItemStatus, LifeSituation, ServiceItem
from zhengtong.services.queries import items as queries

PER_PAGE = 25


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def _definer(request: HttpRequest) -> User:
    user = _user(request)
    if not queries.may_define(user):
        raise PermissionDenied
    return user


def _item(user: User, code: str) -> ServiceItem:
    item = queries.definable_item(user, code)
    if item is None:
        raise Http404
    return item


def _errors(*parts: Any) -> dict[str, Any]:
    """Context of the error summary (catalog/_form_errors.html)."""
    page_forms = [p for p in parts if isinstance(p, Form)]
    formsets = [p for p in parts if isinstance(p, BaseFormSet)]
    has_errors = any(f.is_bound and f.errors for f in page_forms) or any(
        f.is_bound and f.total_error_count() for f in formsets)
    return {"error_forms": page_forms, "error_formsets": formsets, "has_errors": has_errors}


def _refused(error: DomainError) -> None:
    if isinstance(error, NotPermitted):
        raise PermissionDenied(error.message) from None


def _labels(values: list[str], choices: Any) -> list[str]:
    labels = dict(choices)
    return [str(labels.get(v, v)) for v in values]


# --- the staff's items -----------------------------------------------------------------------------------------


@login_required
def item_list(request: HttpRequest) -> HttpResponse:
    user = _definer(request)
    filters = forms.ItemFilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    items = queries.definable_items(user, q=chosen.get("q", ""), status=chosen.get("status", ""))
    page = Paginator(items, PER_PAGE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in chosen.items() if v})
    return render(request, "services/items/list.html", {"filters": filters, "page": page, "query": query})


def _question_formset(request: HttpRequest, item: ServiceItem | None) -> BaseFormSet:
    choices = forms.registry_field_choices()
    if request.method == "POST":
        return forms.QuestionFormSet(request.POST, prefix="questions", form_kwargs={"prefill_choices": choices})
    initial = [forms.question_initial(q) for q in item.form] if item is not None else []
    return forms.QuestionFormSet(initial=initial, prefix="questions", form_kwargs={"prefill_choices": choices})


def _item_form(request: HttpRequest, user: User, item: ServiceItem | None) -> forms.ItemForm:
    departments = queries.definable_departments(user)
    if request.method == "POST":
        return forms.ItemForm(request.POST, request.FILES, departments=departments, item=item)
    initial = forms.item_initial(item) if item is not None else {}
    return forms.ItemForm(initial=initial, departments=departments, item=item)


@transaction.atomic
def _save(user: User, form: forms.ItemForm, questions: list[dict[str, Any]], item: ServiceItem | None
          ) -> ServiceItem:
    """Upload the new process and decision files, if any, and save the item: all of it, or nothing."""
    data = form.cleaned_data
    process = data["process"]
    if data["bpmn_file"]:
        process = definitions.upload_process(user, bpmn_xml=data["bpmn_file"])
    decision = data["decision"]
    if data["dmn_file"]:
        decision = definitions.upload_decision(user, dmn_xml=data["dmn_file"])
    item_input = form.item_input(code=item.code if item else data["code"], process=process, decision=decision,
                                 form=questions)
    if item is None:
        return actions.define_item(user, item_input)
    return actions.update_item(user, item, item_input)


def _edit(request: HttpRequest, user: User, item: ServiceItem | None) -> HttpResponse:
    form = _item_form(request, user, item)
    questions = _question_formset(request, item)
    if request.method == "POST" and form.is_valid() and questions.is_valid():
        rows = forms.filled_rows(questions)
        try:
            saved = _save(user, form, [row.question() for _index, row in rows], item)
        except DomainError as error:
            _refused(error)
            if isinstance(error, InvalidInput):
                forms.show_problems(error, [form], questions, [index for index, _row in rows])
            else:
                form.add_error(None, error.message)
        else:
            messages.success(request, _("Item %(code)s is saved.") % {"code": saved.code})
            return redirect("services:item_detail", saved.code)
    return render(request, "services/items/form.html", {"item": item, "form": form, "questions": questions,
                                                        **_errors(form, questions)})


@login_required
def item_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, _definer(request), None)


@login_required
def item_edit(request: HttpRequest, code: str) -> HttpResponse:
    user = _definer(request)
    return _edit(request, user, _item(user, code))


def _detail(request: HttpRequest, item: ServiceItem, *, problems: Any = None,
            status: int = 200) -> HttpResponse:
    return render(request, "services/items/detail.html", {
        "item": item, "problems": problems or [], "materials": list(item.materials.all()),
        "channels": _labels(item.channels, Channel.choices),
        "situations": _labels(item.life_situations, LifeSituation.choices),
        "questions": [{**q, "type_label": forms.TYPE_LABELS.get(q.get("type"), q.get("type"))} for q in item.form],
        "withdraw_form": forms.WithdrawForm(),
        "published": item.status == ItemStatus.PUBLISHED}, status=status)


@login_required
def item_detail(request: HttpRequest, code: str) -> HttpResponse:
    user = _definer(request)
    return _detail(request, _item(user, code))


@login_required
@require_POST
def item_publish(request: HttpRequest, code: str) -> HttpResponse:
    user = _definer(request)
    item = _item(user, code)
    try:
        actions.publish_item(user, item)
    except DomainError as error:
        _refused(error)
        return _detail(request, item, problems=error.details or [error.message], status=422)
    messages.success(request, _("Item %(code)s is published: citizens find it in the service guide.")
                     % {"code": item.code})
    return redirect("services:item_detail", item.code)


@login_required
@require_POST
def item_withdraw(request: HttpRequest, code: str) -> HttpResponse:
    user = _definer(request)
    item = _item(user, code)
    try:
        actions.withdraw_item(user, item, reason=request.POST.get("reason", ""))
    except DomainError as error:
        _refused(error)
        return _detail(request, item, problems=error.details or [error.message], status=422)
    messages.success(request, _("Item %(code)s is withdrawn from the service guide.") % {"code": item.code})
    return redirect("services:item_detail", item.code)


@login_required
def item_materials(request: HttpRequest, code: str) -> HttpResponse:
    user = _definer(request)
    item = _item(user, code)
    kwargs: dict[str, Any] = {"prefix": "materials",
                              "form_kwargs": {"registry_choices": forms.registry_field_choices()}}
    if request.method == "POST":
        formset = forms.MaterialFormSet(request.POST, **kwargs)
    else:
        formset = forms.MaterialFormSet(initial=[forms.material_initial(m) for m in item.materials.all()], **kwargs)
    if formset.is_bound and formset.is_valid():
        rows = forms.filled_rows(formset)
        try:
            actions.set_materials(user, item, [row.material() for _index, row in rows])
        except DomainError as error:
            _refused(error)
            if isinstance(error, InvalidInput):
                forms.show_problems(error, [], formset, [index for index, _row in rows])
            else:
                formset.non_form_errors().append(error.message)
        else:
            messages.success(request, _("The materials of %(code)s are saved.") % {"code": item.code})
            return redirect("services:item_detail", item.code)
    return render(request, "services/items/materials.html", {"item": item, "formset": formset,
                                                             **_errors(formset)})


# --- the service guide -----------------------------------------------------------------------------------------


def guide(request: HttpRequest) -> HttpResponse:
    form = forms.GuideSearchForm(request.GET or None, departments=list(queries.guide_departments()))
    search = queries.GuideSearch()
    if form.is_valid():
        search = queries.GuideSearch(**form.cleaned_data)
    page = Paginator(queries.guide(search), PER_PAGE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in vars(search).items() if v})
    return render(request, "services/guide/index.html", {
        "form": form, "page": page, "query": query, "searched": bool(query),
        "situations": LifeSituation.choices})


def guide_item(request: HttpRequest, code: str) -> HttpResponse:
    item = queries.published_item(code)
    if item is None:
        raise Http404
    materials = list(item.materials.all())
    return render(request, "services/guide/item.html", {
        "item": item, "materials": materials,
        "channels": _labels(item.channels, Channel.choices),
        "situations": _labels(item.life_situations, LifeSituation.choices),
        # Items that name their channels without "online" are handled elsewhere only.
        "online": "online" in item.channels or not item.channels})


urlpatterns: list = [
    path("items/", item_list, name="item_list"),
    path("items/new/", item_new, name="item_new"),
    path("items/<str:code>/", item_detail, name="item_detail"),
    path("items/<str:code>/edit/", item_edit, name="item_edit"),
    path("items/<str:code>/materials/", item_materials, name="item_materials"),
    path("items/<str:code>/publish/", item_publish, name="item_publish"),
    path("items/<str:code>/withdraw/", item_withdraw, name="item_withdraw"),
    path("guide/", guide, name="guide"),
    path("guide/<str:code>/", guide_item, name="guide_item"),
]
