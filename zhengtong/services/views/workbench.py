"""The staff workbench under /services/workbench/: the queues (my tasks, my department × role queues, the
department's whole load for a supervisor), the task page with the application and its diagram, the steps on a
task (claim, release, decide, transfer, comment, post-check), and the supervisor's view of the load.

Pages are thin: a task outside the visitor's reach is a 404, forms are shown only to those who may use them,
and the actions check again when a form is sent.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from django.views.decorators.http import require_GET, require_POST

from zhengtong.audit import actions as audit
from zhengtong.core.errors import Conflict, DomainError, InvalidInput, NotPermitted
from zhengtong.exchange import door
from zhengtong.identity import roles
from zhengtong.identity.actions import actor_of
from zhengtong.identity.models import Department, User
from zhengtong.registries.models import Registry
from zhengtong.services.actions import applications as applying
from zhengtong.services.actions import tasks as actions
from zhengtong.services.models import Application, MaterialProvision, TaskKind, TaskOutcome, TaskStatus, WorkTask
from zhengtong.services.queries import tasks as queries
from zhengtong.services.workflow import engine

PER_PAGE = 25

HISTORY_LABELS = {
    "services.submit_application": gettext_lazy("Application submitted"),
    "services.answer_correction": gettext_lazy("Correction sent by the applicant"),
    "services.withdraw_application": gettext_lazy("Application withdrawn"),
    "services.application.decided": gettext_lazy("Application decided"),
    "services.claim_task": gettext_lazy("Task claimed"),
    "services.release_task": gettext_lazy("Task released"),
    "services.decide_task": gettext_lazy("Task decided"),
    "services.transfer_task": gettext_lazy("Task transferred"),
    "services.comment_on_task": gettext_lazy("Comment written"),
    "services.complete_post_check": gettext_lazy("Post-check completed"),
    "services.remind_deadline": gettext_lazy("Deadline reminder sent to staff"),
    "services.overdue_notice": gettext_lazy("Overdue notice sent to staff"),
    "services.download_material": gettext_lazy("Material downloaded"),
    "services.demo_restate_dates": gettext_lazy("Dates set by the demo seed"),
}


# --- forms -----------------------------------------------------------------------------------------------------


def _text_area(rows: int) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class QueueForm(forms.Form):
    view = forms.ChoiceField(label=gettext_lazy("Show"), required=False)
    # Any step or item may be asked for (one with no task now simply shows none); the lists offer the known ones.
    step = forms.CharField(label=gettext_lazy("Step"), required=False, max_length=100, widget=forms.Select)
    item = forms.CharField(label=gettext_lazy("Service item"), required=False, max_length=64, widget=forms.Select)
    due = forms.ChoiceField(label=gettext_lazy("Deadline"), required=False)

    def __init__(self, data: Any, *, user: User):
        super().__init__(data)
        views = [queries.View.MINE, queries.View.QUEUES]
        if queries.may_supervise(user):
            views.append(queries.View.DEPARTMENT)
        steps = queries.step_choices(user)
        items = queries.department_items(user).values_list("code", "name")
        self.fields["view"].choices = [(v.value, queries.VIEW_LABELS[v]) for v in views]  # type: ignore[attr-defined]
        self.fields["step"].widget.choices = [("", _("All steps")), *steps]
        self.fields["item"].widget.choices = [("", _("All items")), *[(c, f"{c} {n}") for c, n in items]]
        self.fields["due"].choices = [("", _("Any deadline")),  # type: ignore[attr-defined]
                                      *[(d.value, label) for d, label in queries.DUE_LABELS.items()]]

    def filters(self) -> queries.QueueFilters:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return queries.QueueFilters(view=queries.View(data.get("view") or queries.View.QUEUES),
                                    step=data.get("step") or "", item=data.get("item") or "",
                                    due=queries.DueFilter(data["due"]) if data.get("due") else None)


class DecideForm(forms.Form):
    outcome = forms.ChoiceField(label=gettext_lazy("Decision"), widget=forms.RadioSelect, choices=[
        (TaskOutcome.APPROVE.value, gettext_lazy("Approve")),
        (TaskOutcome.REJECT.value, gettext_lazy("Reject")),
        (TaskOutcome.RETURN.value, gettext_lazy("Return to the applicant for correction"))])
    reason = forms.CharField(label=gettext_lazy("Reasons, or what to correct"), required=False,
                             max_length=actions.MAX_TEXT, widget=_text_area(4),
                             help_text=gettext_lazy("Needed to reject or return: the applicant reads it."))


class TransferForm(forms.Form):
    """The target is "queue:<department id>:<role>" or "user:<id>"."""

    target = forms.ChoiceField(label=gettext_lazy("Transfer to"))
    reason = forms.CharField(label=gettext_lazy("Reason for the transfer"), max_length=actions.MAX_TEXT,
                             widget=_text_area(3))

    def __init__(self, *args: Any, task: WorkTask, user: User, **kwargs: Any):
        super().__init__(*args, **kwargs)
        queues = [(f"queue:{d.pk}:{role}", f"{d.name} · {roles.ROLE_LABELS[role]}")
                  for d in queries.transfer_departments(task) for role in actions.TRANSFER_ROLES
                  if not (d.pk == task.department_id and role == task.role)]
        people = [(f"user:{u.pk}", u.display_name) for u in queries.colleagues(task, exclude=user)]
        choices: list[Any] = [("", _("Choose where to"))]
        if queues:
            choices.append((_("Another queue"), queues))
        if people:
            choices.append((_("A colleague in this queue"), people))
        self.fields["target"].choices = choices  # type: ignore[attr-defined]

    def destination(self) -> dict[str, Any]:
        kind, _sep, rest = self.cleaned_data["target"].partition(":")
        if kind == "user":
            return {"colleague": User.objects.filter(pk=int(rest)).first()}
        department_id, _sep, role = rest.partition(":")
        return {"department": Department.objects.filter(pk=int(department_id)).first(), "role": role}


class CommentForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("Comment"), max_length=actions.MAX_TEXT, widget=_text_area(3),
                           help_text=gettext_lazy("Colleagues working on this application read it; the applicant "
                                                  "does not."))


class PostCheckForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("What you checked and found"), max_length=actions.MAX_TEXT,
                           widget=_text_area(4))


# --- helpers ----------------------------------------------------------------------------------------------------


def _staff(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    if not queries.is_staff(user):
        raise PermissionDenied
    return user


def _task(user: User, task_id: int) -> WorkTask:
    task = queries.visible_task(user, task_id)
    if task is None:
        raise Http404
    return task


def _errors(*bound: forms.Form) -> dict[str, Any]:
    """Context of the shared error summary (exchange/sharing/_form_errors.html)."""
    chosen = [form for form in bound if form.is_bound and form.errors]
    return {"error_forms": chosen, "error_formsets": [], "has_errors": bool(chosen)}


def _show_problems(error: InvalidInput, form: forms.Form) -> None:
    for problem in error.details or []:
        form.add_error(problem.field if problem.field in form.fields else None, problem.reason)
    if not error.details:
        form.add_error(None, error.message)


# --- the queue --------------------------------------------------------------------------------------------------


@login_required
@require_GET
def workbench(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    form = QueueForm(request.GET or None, user=user)
    filters = form.filters()
    deadlines = queries.Deadlines.as_of()
    page = Paginator(queries.queue(user, filters, deadlines), PER_PAGE).get_page(request.GET.get("page"))
    tasks = list(page)
    countdowns = queries.countdowns(deadlines, [task.due for task in tasks])
    rows = [{"task": task, "applicant": queries.applicant_name(task.application),
             "countdown": countdowns.get(task.due) if task.due else None,
             "may_claim": task.status == TaskStatus.OPEN and queries.in_queues(user, task)} for task in tasks]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "services/workbench/queue.html", {
        "filters": form, "chosen": filters, "page": page, "rows": rows, "query": query.urlencode(),
        "may_supervise": queries.may_supervise(user),
        "queues": [roles.ROLE_LABELS.get(code, code) for code in queries.role_codes(user)],
        "department": user.staff.department})


# --- the task page ----------------------------------------------------------------------------------------------


def _records(user: User, application: Application) -> list[dict[str, Any]]:
    """The applicant's records in the registries the item draws on, through the one door: masked as the door
    masks them for this staff member, a refusal shown as its reason."""
    resident_id = queries.applicant_resident_id(application)
    codes = queries.registries_of(application)
    found = {r.code: r for r in Registry.objects.filter(code__in=codes)}
    shown = []
    for code in codes:
        registry = found.get(code)
        if registry is None or not resident_id:
            continue
        try:
            reading = door.read_record(door.Reader.staff(user), registry, resident_id,
                                       purpose=queries.purpose_of(application),
                                       case_reference=application.reference or "")
        except door.Refused as refused:
            shown.append({"registry": registry, "refusal": refused.message, "rows": []})
            continue
        labels = dict(door.field_labels(registry, list(reading.values)))
        shown.append({"registry": registry, "refusal": "", "rows": [
            {"label": labels.get(name, name), "value": value, "masked": name in reading.masked}
            for name, value in reading.values.items()]})
    return shown


def _history(application: Application) -> list[dict[str, Any]]:
    """The audit entries of the application and the comments on its tasks, oldest first."""
    rows: list[dict[str, Any]] = []
    for entry in queries.history(application):
        detail = entry.detail or {}
        notes = [f"{label}: {detail[key]}" for key, label in (
            ("outcome", _("Outcome")), ("reason", _("Reason")), ("note", _("Note")), ("due", _("Deadline")))
            if detail.get(key)]
        rows.append({"when": entry.occurred_at, "action": entry.action, "who": entry.actor_name,
                     "department": entry.actor_department, "notes": notes,
                     "label": HISTORY_LABELS.get(entry.action, entry.action)})
    for comment in queries.comments(application):
        rows.append({"when": comment.created_at, "action": "comment", "who": comment.author_name, "department": "",
                     "label": _("Comment"), "notes": [], "text": comment.text})
    return sorted(rows, key=lambda row: row["when"])


def _diagram(application: Application) -> dict[str, Any] | None:
    if application.process_id is None or application.workflow_state is None:
        return None
    return engine.diagram(application)


def _task_page(request: HttpRequest, user: User, task: WorkTask, *, status: int = 200,
               **bound: forms.Form) -> HttpResponse:
    application = task.application
    deadlines = queries.Deadlines.as_of()
    mine = task.status == TaskStatus.CLAIMED and task.claimed_by_id == user.pk
    may_claim = task.status == TaskStatus.OPEN and queries.in_queues(user, task)
    forms_shown: dict[str, forms.Form | None] = {
        "decide_form": (bound.get("decide_form") or DecideForm()) if mine and task.kind == TaskKind.REVIEW
        else None,
        "post_check_form": (bound.get("post_check_form") or PostCheckForm())
        if mine and task.kind == TaskKind.POST_CHECK else None,
        "transfer_form": (bound.get("transfer_form") or TransferForm(task=task, user=user))
        if mine or may_claim else None,
        "comment_form": bound.get("comment_form") or CommentForm(),
    }
    reveal = queries.may_reveal(user)
    return render(request, "services/workbench/task.html", {
        "task": task, "application": application, "mine": mine, "may_claim": may_claim,
        "countdown": queries.countdowns(deadlines, [task.due]).get(task.due) if task.due else None,
        "applicant": queries.applicant_name(application, reveal=reveal), "reveal": reveal,
        "answers": actions.read_application(user, application, task=task), "records": _records(user, application),
        "materials": application.materials.select_related("material").order_by("material__position", "pk"),
        "history": _history(application), "steps": queries.tasks_of(application), "diagram": _diagram(application),
        "trace": application.decision_trace, "role_label": roles.ROLE_LABELS.get(task.role, task.role),
        **forms_shown, **_errors(*[f for f in bound.values() if f is not None])}, status=status)


@login_required
@require_GET
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    user = _staff(request)
    return _task_page(request, user, _task(user, task_id))


def _act(request: HttpRequest, task_id: int, form_name: str, form: forms.Form | None, step: Any,
         done: str) -> HttpResponse:
    """Run one step on the task: a refused step is a 403, a conflict a message, bad input the page again with
    the problems next to their fields."""
    user = _staff(request)
    task = _task(user, task_id)
    if form is not None and not form.is_valid():
        return _task_page(request, user, task, status=422, **{form_name: form})
    try:
        step(user, task)
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    except Conflict as error:
        messages.error(request, error.message)
    except InvalidInput as error:
        if form is None:
            messages.error(request, error.message)
        else:
            _show_problems(error, form)
            return _task_page(request, user, _task(user, task_id), status=422, **{form_name: form})
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
        if queries.visible_task(user, task_id) is None:  # transferred away
            return redirect("services:workbench")
    return redirect("services:task", task_id)


@login_required
@require_POST
def claim(request: HttpRequest, task_id: int) -> HttpResponse:
    return _act(request, task_id, "", None, actions.claim_task, _("You have claimed the task."))


@login_required
@require_POST
def release(request: HttpRequest, task_id: int) -> HttpResponse:
    return _act(request, task_id, "", None, actions.release_task, _("The task is back in its queue."))


@login_required
@require_POST
def decide(request: HttpRequest, task_id: int) -> HttpResponse:
    form = DecideForm(request.POST)
    return _act(request, task_id, "decide_form", form, lambda user, task: actions.decide_task(
        user, task, outcome=form.cleaned_data["outcome"], reason=form.cleaned_data["reason"]),
        _("The decision is recorded."))


@login_required
@require_POST
def transfer(request: HttpRequest, task_id: int) -> HttpResponse:
    user = _staff(request)
    form = TransferForm(request.POST, task=_task(user, task_id), user=user)
    return _act(request, task_id, "transfer_form", form, lambda user, task: actions.transfer_task(
        user, task, reason=form.cleaned_data["reason"], **form.destination()), _("The task is transferred."))


@login_required
@require_POST
def comment(request: HttpRequest, task_id: int) -> HttpResponse:
    form = CommentForm(request.POST)
    return _act(request, task_id, "comment_form", form, lambda user, task: actions.comment_on_task(
        user, task, text=form.cleaned_data["text"]), _("Your comment is added."))


@login_required
@require_POST
def post_check(request: HttpRequest, task_id: int) -> HttpResponse:
    form = PostCheckForm(request.POST)
    return _act(request, task_id, "post_check_form", form, lambda user, task: actions.complete_post_check(
        user, task, note=form.cleaned_data["note"]), _("The post-check is recorded."))


@login_required
@require_GET
def material(request: HttpRequest, task_id: int, material_id: int) -> FileResponse:
    """An uploaded material of the application, to staff who may open the task; each download is audited."""
    user = _staff(request)
    application = _task(user, task_id).application
    given = application.materials.select_related("material").filter(
        pk=material_id, provision=MaterialProvision.UPLOADED).exclude(file_digest="").first()
    if given is None:
        raise Http404
    try:
        handle = applying.material_path(given.file_digest).open("rb")
    except FileNotFoundError:
        raise Http404 from None
    resident_id = queries.applicant_resident_id(application)
    audit.record_alone("services.download_material", actor_of(user), object_type="application",
                       object_id=application.reference or "", subjects=[resident_id] if resident_id else [],
                       purpose=gettext_noop("handling an application"),
                       detail={"material": given.material.code, "file": given.file_digest})
    return FileResponse(handle, as_attachment=True, filename=given.file_name or given.material.code,
                        content_type=given.file_type or "application/octet-stream")


# --- the supervisor's view -----------------------------------------------------------------------------------------


def _chart(load: queries.Load) -> dict[str, Any]:
    """Figures for services/workbench.js: the active tasks by step and role, and the claimed ones by person."""
    steps = [f"{row['name']} · {row['role_label']}" for row in load.by_step]
    return {
        "steps": {"categories": steps, "series": [
            {"name": str(_("Open")), "values": [row["open"] for row in load.by_step]},
            {"name": str(_("Claimed")), "values": [row["claimed"] for row in load.by_step]},
            {"name": str(_("Overdue")), "values": [row["overdue"] for row in load.by_step]}]},
        "staff": {"categories": [row["name"] for row in load.by_staff], "series": [
            {"name": str(_("Claimed")), "values": [row["claimed"] for row in load.by_staff]},
            {"name": str(_("Overdue")), "values": [row["overdue"] for row in load.by_staff]}]},
    }


@login_required
@require_GET
def supervise(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    if not queries.may_supervise(user):
        raise PermissionDenied
    load = queries.department_load(user, queries.Deadlines.as_of())
    return render(request, "services/workbench/supervise.html", {
        "load": load, "chart": _chart(load), "department": user.staff.department})


urlpatterns: list = [
    path("workbench/", workbench, name="workbench"),
    path("workbench/supervise/", supervise, name="supervise"),
    path("workbench/tasks/<int:task_id>/", task_detail, name="task"),
    path("workbench/tasks/<int:task_id>/claim/", claim, name="task-claim"),
    path("workbench/tasks/<int:task_id>/release/", release, name="task-release"),
    path("workbench/tasks/<int:task_id>/decide/", decide, name="task-decide"),
    path("workbench/tasks/<int:task_id>/transfer/", transfer, name="task-transfer"),
    path("workbench/tasks/<int:task_id>/comments/", comment, name="task-comment"),
    path("workbench/tasks/<int:task_id>/post-check/", post_check, name="task-post-check"),
    path("workbench/tasks/<int:task_id>/materials/<int:material_id>/", material, name="task-material"),
]
