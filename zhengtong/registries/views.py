"""The registries' staff pages: the list, a registry's definition, defining one, changing its schema, importing
a file and following the import, and a record's history.

Thin like the API: pages check permission with identity.scope to refuse early (403) and not to offer what
cannot be done, then call an action, which is the real guard. No page shows a record's values; those are read
through the exchange app's one door.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from zhengtong.core.errors import Conflict, DomainError
from zhengtong.identity import scope
from zhengtong.identity.models import Department, User
from zhengtong.registries import actions, importing, overview, queries
from zhengtong.registries.forms import ADD_FIELD, BaseFieldFormSet, ImportForm, RegistryForm, field_formset, initial_of
from zhengtong.registries.models import DataKey, ImportJob, Record, Registry, SchemaVersion

VIEW = "registries.view_registry"
ADD = "registries.add_registry"
CHANGE = "registries.change_registry"
IMPORT = "registries.import_record"


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def _require(user: User, perm: str, obj: Any = None) -> None:
    if not scope.permitted(user, perm, obj):
        raise PermissionDenied


def _registry(user: User, code: str) -> Registry:
    _require(user, VIEW)
    return get_object_or_404(queries.registries_for(user), code=code)


# --- the list and one registry ------------------------------------------------------------------------------


@login_required
@require_GET
def registry_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(user, VIEW)
    return render(request, "registries/list.html", {
        "rows": overview.summaries(queries.registries_for(user)),
        "can_define": scope.permitted(user, ADD),
    })


@login_required
@require_GET
def registry_detail(request: HttpRequest, code: str) -> HttpResponse:
    user = _user(request)
    registry = _registry(user, code)
    imports = overview.recent_imports(registry)
    return render(request, "registries/detail.html", {
        "registry": registry,
        "summary": overview.summary(registry),
        "versions": SchemaVersion.objects.filter(registry=registry).order_by("-version"),
        "data_keys": DataKey.objects.filter(registry=registry).order_by("version").only(
            "version", "cipher", "created_at", "retired_at"),
        "imports": [(job, overview.can_see_import(user, job)) for job in imports],
        "can_change": scope.permitted(user, CHANGE, registry),
        "can_import": scope.permitted(user, IMPORT, registry),
    })


# --- defining a registry and changing its schema ------------------------------------------------------------


def _departments(user: User) -> Any:
    return scope.filter_by_scope(user, Department.objects.order_by("code"))


def _error_links(form: Any, formset: BaseFieldFormSet | None) -> list[tuple[str, str]]:
    """(anchor, message) for the error summary at the top of the page, each linking to its input."""
    links: list[tuple[str, str]] = []
    if form is not None and form.is_bound:
        for error in form.non_field_errors():
            links.append(("", str(error)))
        for field in form:
            for error in field.errors:
                links.append((field.id_for_label, f"{field.label}: {error}"))
    if formset is not None and formset.is_bound:
        for error in formset.non_form_errors():
            links.append(("field-editor", str(error)))
        for number, row in enumerate(formset.forms, start=1):
            for field in row:
                for error in field.errors:
                    links.append((field.id_for_label, _("Field %(number)d, %(label)s: %(error)s")
                                  % {"number": number, "label": field.label, "error": error}))
    return links


def _place_problems(error: DomainError, form: RegistryForm | None, formset: BaseFieldFormSet,
                    *, from_json: bool = False) -> list[str]:
    """Put the action's problems next to the inputs they name; return the ones that name none."""
    unplaced: list[str] = []
    if not error.details:
        return [error.message]
    for problem in error.details:
        if form is not None and problem.field in form.fields and problem.field != "json_schema":
            form.add_error(problem.field, problem.reason)
        elif from_json and form is not None:
            form.add_error("json_schema", f"{problem.field}: {problem.reason}")
        elif problem.field.startswith("fields["):
            unplaced.extend(formset.place_problems([problem]))
        else:
            unplaced.append(problem.reason)
    return unplaced


def _editor_context(formset: BaseFieldFormSet, *, focus_last: bool) -> dict[str, Any]:
    if focus_last and formset.forms:
        formset.forms[-1].fields["name"].widget.attrs["autofocus"] = True
    return {"formset": formset, "add_field": ADD_FIELD}


@login_required
@require_http_methods(["GET", "POST"])
def define_registry(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require(user, ADD)
    departments = _departments(user)
    editor_errors: list[str] = []
    added = False
    if request.method == "POST":
        form = RegistryForm(request.POST, departments=departments)
        formset = field_formset(data=request.POST)
        if ADD_FIELD in request.POST:
            form = RegistryForm(initial={name: form[name].value() for name in form.fields}, departments=departments)
            formset = field_formset(initial=formset.rows_as_initial())
            added = True
        elif form.is_valid():
            document = form.cleaned_data["json_schema"]
            data = form.cleaned_data
            try:
                if document is not None:
                    registry = actions.define_registry_from_json_schema(
                        user, code=data["code"], name=data["name"], name_en=data["name_en"],
                        description=data["description"], department=data["department"], is_base=data["is_base"],
                        document=document)
                elif formset.is_valid():
                    registry = actions.define_registry(
                        user, code=data["code"], name=data["name"], name_en=data["name_en"],
                        description=data["description"], department=data["department"], is_base=data["is_base"],
                        fields=formset.specs())
                else:
                    registry = None
            except DomainError as error:
                editor_errors = _place_problems(error, form, formset, from_json=document is not None)
            else:
                if registry is not None:
                    messages.success(request, _("Registry %(name)s is defined.") % {"name": registry.name})
                    return redirect("registries:detail", registry.code)
        else:
            formset.is_valid()  # show the rows' own problems at the same time
    else:
        only = departments.first() if departments.count() == 1 else None
        form = RegistryForm(departments=departments, initial={"department": only.pk} if only else None)
        formset = field_formset(initial=[])
    context = {
        "form": form, "editor_errors": editor_errors,
        "error_links": _error_links(form, formset) + [("field-editor", message) for message in editor_errors],
        **_editor_context(formset, focus_last=added),
    }
    return render(request, "registries/define.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def change_schema(request: HttpRequest, code: str) -> HttpResponse:
    user = _user(request)
    registry = _registry(user, code)
    _require(user, CHANGE, registry)
    editor_errors: list[str] = []
    refusal: Conflict | None = None
    added = False
    status = 200
    if request.method == "POST":
        formset = field_formset(data=request.POST)
        if ADD_FIELD in request.POST:
            formset = field_formset(initial=formset.rows_as_initial())
            added = True
        elif formset.is_valid():
            try:
                actions.change_schema(user, registry, formset.specs())
            except Conflict as error:
                refusal = error
                status = 409
            except DomainError as error:
                editor_errors = _place_problems(error, None, formset)
            else:
                messages.success(request, _("The schema of %(name)s is changed.") % {"name": registry.name})
                return redirect("registries:detail", registry.code)
    else:
        formset = field_formset(initial=[initial_of(spec) for spec in overview.schema_of(registry).fields])
    context = {
        "registry": registry, "refusal": refusal, "editor_errors": editor_errors,
        "error_links": _error_links(None, formset) + [("field-editor", message) for message in editor_errors],
        **_editor_context(formset, focus_last=added),
    }
    return render(request, "registries/schema.html", context, status=status)


# --- imports ------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def start_import(request: HttpRequest, code: str) -> HttpResponse:
    user = _user(request)
    registry = _registry(user, code)
    _require(user, IMPORT, registry)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = importing.start_import(user, registry, upload=upload, file_name=upload.name,
                                         quarantine=form.cleaned_data["quarantine"])
        except DomainError as error:
            for problem in error.details or []:
                form.add_error(problem.field if problem.field in form.fields else None, problem.reason)
            if not error.details:
                form.add_error(None, error.message)
        else:
            return redirect("registries:import-job", job.pk)
    return render(request, "registries/import.html", {
        "registry": registry, "form": form, "error_links": _error_links(form, None),
        "fields": overview.schema_of(registry).fields,
    })


def _job(request: HttpRequest, job_id: int) -> ImportJob:
    user = _user(request)
    job = get_object_or_404(ImportJob.objects.select_related("registry", "requested_by"), pk=job_id)
    if not overview.can_see_import(user, job):
        raise PermissionDenied
    return job


def _job_context(job: ImportJob) -> dict[str, Any]:
    progress = importing.job_progress(job)
    return {"job": job, "registry": job.registry, "progress": progress,
            "status_label": overview.status_label(progress.status),
            "finished": progress.finished, "stalled_minutes": importing.STALLED_AFTER // 60}


@login_required
@require_GET
def import_job(request: HttpRequest, job_id: int) -> HttpResponse:
    return render(request, "registries/import_job.html", _job_context(_job(request, job_id)))


@login_required
@require_GET
def import_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job page's live part, which htmx fetches every second until the job has finished."""
    return render(request, "registries/_import_progress.html", _job_context(_job(request, job_id)))


@login_required
@require_GET
def import_rejected(request: HttpRequest, job_id: int) -> FileResponse:
    job = _job(request, job_id)
    path = importing.rejected_rows_path(job)
    if path is None:
        raise Http404
    response = FileResponse(path.open("rb"), as_attachment=True, filename=f"import-{job.pk}-rejected.csv",
                            content_type="text/csv; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


# --- a record's history -------------------------------------------------------------------------------------


@login_required
@require_GET
def record_history(request: HttpRequest, code: str, record_id: int) -> HttpResponse:
    user = _user(request)
    registry = _registry(user, code)
    record = get_object_or_404(Record, registry=registry, pk=record_id)
    _require(user, VIEW, record)
    return render(request, "registries/history.html", {
        "registry": registry, "record": record,
        "entries": [{"item": entry, "version": entry.version, "label": overview.action_label(entry.action)}
                    for entry in queries.history(record)],
    })
