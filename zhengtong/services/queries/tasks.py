"""Reads of the staff workbench that carry rules.

A staff member's queues are the department × role pairs they hold: their StaffProfile's department and each of
their roles (identity groups). They see the tasks of those queues and the tasks they have claimed; a supervisor
(services.supervise_worktask) sees the whole load of their own department. Any other task answers 404.

The queue page is read with a constant number of queries however long the queue is: one for the rows (with
what they show joined in), one COUNT for the pager, one for the working-day calendar.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from zhengtong.audit.models import AuditEntry
from zhengtong.audit.queries import EntryFilters, search_entries
from zhengtong.core import calendar, masking
from zhengtong.exchange import door
from zhengtong.exchange.queries.sharing import Deadlines, DueState
from zhengtong.identity import roles, scope
from zhengtong.identity.models import User
from zhengtong.registries.models import Registry
from zhengtong.services.models import (
    Application,
    ProcessDefinition,
    ServiceItem,
    TaskComment,
    TaskKind,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.workflow.parsing import APPLICANT, parse_process

SUPERVISE = "services.supervise_worktask"
ACTIVE = (TaskStatus.OPEN, TaskStatus.CLAIMED)
HISTORY_LIMIT = 200
VIEW_APPLICATION = "services.view_application"  # staff shown an application in full

class View(enum.StrEnum):
    MINE = "mine"  # claimed by me
    QUEUES = "queues"  # every department × role queue I belong to
    DEPARTMENT = "department"  # the department's whole load (supervisors)


VIEW_LABELS = {View.MINE: _("My tasks"), View.QUEUES: _("My queues"), View.DEPARTMENT: _("Whole department")}


class DueFilter(enum.StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    LATER = "later"


DUE_LABELS = {DueFilter.OVERDUE: _("Overdue"), DueFilter.DUE_SOON: _("Due by the next working day"),
              DueFilter.LATER: _("Due later")}


@dataclass(frozen=True)
class QueueFilters:
    view: View = View.QUEUES
    step: str = ""  # a BPMN element id
    item: str = ""  # a service item code
    due: DueFilter | None = None


# --- who is in which queue ------------------------------------------------------------------------------------


def department_id(user: Any) -> int | None:
    staff = getattr(user, "staff", None) if getattr(user, "is_authenticated", False) and user.is_active else None
    return staff.department_id if staff is not None else None


def role_codes(user: Any) -> list[str]:
    """The user's roles (identity group names), read once per request."""
    cached = getattr(user, "_workbench_roles", None)
    if cached is None:
        cached = sorted(user.groups.values_list("name", flat=True)) if department_id(user) else []
        user._workbench_roles = cached
    return list(cached)


def is_staff(user: Any) -> bool:
    return department_id(user) is not None


def may_supervise(user: Any) -> bool:
    return is_staff(user) and scope.permitted(user, SUPERVISE)


def queue_q(user: Any) -> Q:
    """Tasks of the user's department × role queues."""
    codes = role_codes(user)
    if not codes:
        return scope.NOTHING
    return Q(department_id=department_id(user), role__in=codes)


def visible_q(user: Any) -> Q:
    """Tasks the user may open: their queues', their own, and their department's when they supervise."""
    if not is_staff(user):
        return scope.NOTHING
    condition = queue_q(user) | Q(claimed_by_id=user.pk)
    if may_supervise(user):
        condition |= Q(department_id=department_id(user))
    return condition


def in_queues(user: Any, task: WorkTask) -> bool:
    return is_staff(user) and task.department_id == department_id(user) and task.role in role_codes(user)


def _shown(tasks: QuerySet[WorkTask]) -> QuerySet[WorkTask]:
    return tasks.select_related("application__item", "application__applicant__citizen",
                                "application__applicant__business", "department", "claimed_by")


def visible_task(user: Any, task_id: int) -> WorkTask | None:
    return _shown(WorkTask.objects.filter(visible_q(user), pk=task_id)).first()


# --- the queue page ---------------------------------------------------------------------------------------------


def queue(user: Any, filters: QueueFilters, deadlines: Deadlines) -> QuerySet[WorkTask]:
    """Active tasks of the chosen view, the earliest deadline first (no deadline last)."""
    if filters.view == View.MINE:
        condition = Q(claimed_by_id=user.pk, status=TaskStatus.CLAIMED) if is_staff(user) else scope.NOTHING
    elif filters.view == View.DEPARTMENT and may_supervise(user):
        condition = Q(department_id=department_id(user), status__in=ACTIVE)
    else:
        condition = queue_q(user) & Q(status__in=ACTIVE)
    tasks = WorkTask.objects.filter(condition)
    if filters.step:
        tasks = tasks.filter(element_id=filters.step)
    if filters.item:
        tasks = tasks.filter(application__item__code=filters.item)
    if filters.due == DueFilter.OVERDUE:
        tasks = tasks.filter(due__lt=deadlines.today)
    elif filters.due == DueFilter.DUE_SOON:
        tasks = tasks.filter(due__gte=deadlines.today, due__lte=deadlines.next_working_day)
    elif filters.due == DueFilter.LATER:
        tasks = tasks.filter(Q(due__gt=deadlines.next_working_day) | Q(due__isnull=True))
    return _shown(tasks).order_by(F("due").asc(nulls_last=True), "created_at", "pk")


def step_choices(user: Any) -> list[tuple[str, str]]:
    """The staff steps of the processes of the department's items, for the filter: read from the few process
    files rather than from the queue, which may hold a hundred thousand tasks."""
    processes = ProcessDefinition.objects.filter(items__in=department_items(user)).distinct().values_list(
        "digest", "bpmn_xml")
    steps = {step for digest, xml in processes for step in _staff_steps(digest, xml)}
    return sorted(steps)


@lru_cache(maxsize=256)
def _staff_steps(digest: str, bpmn_xml: str) -> tuple[tuple[str, str], ...]:
    """(element id, name) of a process's user tasks done by staff; a file never changes under its digest."""
    parsed = parse_process(bpmn_xml)
    return tuple((step.element_id, step.name) for step in parsed.user_steps.values() if step.role != APPLICANT)


def department_items(user: Any) -> QuerySet[ServiceItem]:
    """The items the user's department is responsible for or co-operates on, for the filter."""
    department = department_id(user)
    return ServiceItem.objects.filter(Q(responsible_department_id=department) |
                                      Q(cooperating_departments__id=department)).distinct().order_by("code")


# --- deadlines in working days ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Countdown:
    """Working days from today to a deadline: `left` when it is ahead, `late` when passed."""

    due: dt.date
    state: DueState
    left: int
    late: int
    provisional: bool


def countdowns(deadlines: Deadlines, dates: Iterable[dt.date | None]) -> dict[dt.date, Countdown]:
    """The countdown of each date, counted on one read of the calendar for the years they span (the page
    would otherwise read it once per row)."""
    wanted = sorted({day for day in dates if day is not None})
    if not wanted:
        return {}
    today = deadlines.today
    first, last = min(wanted[0], today), max(wanted[-1], today)
    days: dict[dt.date, calendar.DayInfo] = {}
    for year in range(first.year, last.year + 1):
        days.update(calendar.year_days(year))
    result = {}
    for due in wanted:
        low, high = (today, due) if due >= today else (due, today)
        span = [days[low + dt.timedelta(days=n)] for n in range(1, (high - low).days + 1)]
        working = sum(1 for info in span if info.is_working_day)
        provisional = any(info.provisional for info in span)
        state = DueState.OVERDUE if due < today else DueState.DUE_SOON if due <= deadlines.next_working_day \
            else DueState.NONE
        result[due] = Countdown(due=due, state=state, left=working if due >= today else 0,
                                late=working if due < today else 0, provisional=provisional)
    return result


# --- what a task page shows --------------------------------------------------------------------------------------


def may_reveal(user: Any) -> bool:
    return scope.permitted(user, roles.REVEAL_PERSONAL_DATA)


def applicant_name(application: Application, *, reveal: bool = False) -> str:
    """The applicant's name: a person's masked unless the reader may reveal personal data; a business's as is."""
    applicant = application.applicant
    citizen = getattr(applicant, "citizen", None)
    if citizen is not None:
        return citizen.name if reveal else masking.mask_name(citizen.name)
    business = getattr(applicant, "business", None)
    if business is not None:
        return business.name
    return applicant.display_name if reveal else masking.mask_name(applicant.display_name)


def applicant_resident_id(application: Application) -> str:
    citizen = getattr(application.applicant, "citizen", None)
    return str(citizen.resident_id).upper() if citizen is not None else ""


def purpose_of(application: Application) -> str:
    """The purpose staff work on an application under, as the door's reads and the audit trail record it."""
    return f"办理 {application.item.name} {application.reference}"[:door.MAX_PURPOSE]


def _masked(value: Any, kind: str) -> Any:
    """Resident IDs and phone numbers masked, by the registry field a question is filled from, its type, or
    failing those, by their shape."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if kind in ("resident_id", "id_number") or (len(text) == 18 and text[:17].isdigit()):
        return masking.mask_resident_id(text)
    if kind in ("phone", "mobile", "tel") or (len(text) == 11 and text.isdigit() and text.startswith("1")):
        return masking.mask_phone(text)
    return value


# A question without a registry field behind it holds a person's name when its name is "name" or
# "<person>_name" (applicant_name, contact_name...), and an address when its name ends in "address".
PERSON_WORDS = frozenset({"applicant", "contact", "agent", "guardian", "spouse", "person", "holder", "full"})


def _by_name(name: str, value: Any) -> Any:
    words = name.lower().split("_")
    if not isinstance(value, str) or not value.strip():
        return value
    if words[-1] == "address":
        return masking.mask_address(value)
    if words[-1] == "name" and (len(words) == 1 or words[0] in PERSON_WORDS):
        return masking.mask_name(value)
    return value


def _by_rule(rule: str | None, value: Any) -> Any:
    """`value` masked by a registry field's own rule; hidden when the field is gone (None) or is shown only
    as a reader's pseudonym (there is no reader's key here)."""
    if rule is None or rule == "pseudonym":
        return None if value is None else masking.FULL_MASK
    return masking.apply_rule(rule, value)


def _answer_masked(name: str, value: Any, kind: str, rule: str | None) -> Any:
    """An answer masked for staff without the right: by its question's registry field when that field masks,
    else IDs and phones, else names and addresses by the question's name."""
    if rule not in (None, "none"):
        return _by_rule(rule, value)
    shown = _masked(value, kind)
    return shown if shown != value else _by_name(name, value)


def _field_rules(sources: Iterable[str]) -> dict[str, str]:
    """"<registry code>.<field>" → the field's own masking rule (door.default_rule), from the registries'
    schemas; a source whose registry or field no longer exists is left out."""
    wanted = [source.partition(".") for source in sources]
    rules = {}
    for registry in Registry.objects.filter(code__in={code for code, _dot, _field in wanted}):
        by_name = door.codec_for(registry).schema.by_name
        for code, _dot, name in wanted:
            if code == registry.code and name in by_name:
                rules[f"{code}.{name}"] = door.default_rule(by_name[name])
    return rules


def answer_rows(application: Application, *, reveal: bool, applicant: bool = False) -> list[dict[str, Any]]:
    """The applicant's answers and the values the government held, in the form's order, with labels.

    The applicant (`applicant`) reads their own in full. Staff see a held value masked by its registry field's
    own rule whatever their right: their governed view of the record is the door's read on the task page. An
    answer is the applicant's word to the department: staff who may reveal personal data (`reveal`) see it in
    full ("revealed" marks the values that are masked for others, so the reveal can be audited); others see it
    masked by the registry field its question is filled from, else IDs and phones by type or shape, and names
    and addresses by the question's name (PERSON_WORDS)."""
    questions = [q for q in application.item.form if isinstance(q, Mapping) and q.get("name")]
    labels = {q["name"]: str(q.get("label") or q["name"]) for q in questions}
    prefills: dict[str, Mapping[str, Any]] = {q["name"]: q["prefill"] for q in questions
                                              if isinstance(q.get("prefill"), Mapping)}
    kinds = {q["name"]: str(prefills.get(q["name"], {}).get("field") or q.get("type") or "") for q in questions}
    sources = {name: f"{p.get('registry', '')}.{p.get('field', '')}" for name, p in prefills.items()}
    names = [q["name"] for q in questions]
    names += [n for n in [*application.prefilled, *application.answers] if n not in names]
    held_sources = [str(h.get("source") or "") for h in application.prefilled.values() if isinstance(h, Mapping)]
    rules = {} if applicant else _field_rules([*held_sources, *sources.values()])
    rows = []
    for name in names:
        held = application.prefilled.get(name)
        revealed = False
        if isinstance(held, Mapping):
            value, source = held.get("value"), str(held.get("label") or held.get("source") or "")
            shown = value if applicant else _by_rule(rules.get(str(held.get("source") or "")), value)
        elif name in application.answers:
            value, source = application.answers[name], ""
            masked = _answer_masked(name, value, kinds.get(name, ""), rules.get(sources.get(name, "")))
            revealed = reveal and not applicant and masked != value
            shown = value if reveal or applicant else masked
        else:
            continue
        rows.append({"name": name, "label": labels.get(name, name), "value": shown, "source": source,
                     "masked": shown != value, "revealed": revealed})
    return rows


def registries_of(application: Application) -> list[str]:
    """The registries the item draws on (its prefilled questions and obtained materials), in order."""
    codes: list[str] = []
    for question in application.item.form:
        prefill = question.get("prefill") if isinstance(question, Mapping) else None
        if isinstance(prefill, Mapping) and prefill.get("registry"):
            codes.append(str(prefill["registry"]))
    codes += [m.source_registry for m in application.item.materials.all() if m.source_registry]
    return list(dict.fromkeys(codes))


def history(application: Application) -> list[AuditEntry]:
    """The application's steps, oldest first: its audit entries (staff viewing it in full are not steps: the
    audit trail has them)."""
    if not application.reference:
        return []
    entries = search_entries(EntryFilters(object_type="application", object_id=application.reference)).exclude(
        action=VIEW_APPLICATION)
    return list(entries[:HISTORY_LIMIT])[::-1]


def comments(application: Application) -> QuerySet[TaskComment]:
    """Comments on any task of the application: they are notes on the case, read by every step."""
    return TaskComment.objects.filter(task__application=application).select_related("task").order_by(
        "created_at", "pk")


def tasks_of(application: Application) -> QuerySet[WorkTask]:
    return application.tasks.select_related("department", "claimed_by").order_by("created_at", "pk")


# --- transfers -------------------------------------------------------------------------------------------------


def transfer_departments(task: WorkTask) -> list[Any]:
    """The departments the item involves: responsible and co-operating."""
    item = task.application.item
    return [item.responsible_department, *item.cooperating_departments.exclude(
        pk=item.responsible_department_id).order_by("code")]


def colleagues(task: WorkTask, *, exclude: Any = None) -> QuerySet[User]:
    """Active staff of the task's department who hold its role."""
    found = User.objects.filter(is_active=True, staff__department_id=task.department_id,
                                groups__name=task.role).distinct().order_by("username")
    return found.exclude(pk=exclude.pk) if exclude is not None else found


def queue_staff(task: WorkTask) -> list[User]:
    """Who should act on a task: its claimer, or everyone in its queue."""
    if task.status == TaskStatus.CLAIMED and task.claimed_by is not None:
        return [task.claimed_by]
    return list(colleagues(task))


def supervisors(department_id: int) -> list[User]:
    candidates = User.objects.with_perm(SUPERVISE, include_superusers=False)
    return list(candidates.filter(is_active=True, staff__department_id=department_id).order_by("pk"))


# --- the supervisor's view ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    by_step: list[dict[str, Any]]  # {"element_id", "name", "role", "open", "claimed", "overdue", "due_soon"}
    by_staff: list[dict[str, Any]]  # {"user_id", "name", "claimed", "overdue"}
    total: int
    overdue: int
    due_soon: int


def department_load(user: Any, deadlines: Deadlines) -> Load:
    """The department's active tasks counted by step and role, and by staff member (three grouped queries)."""
    department = department_id(user)
    tasks = WorkTask.objects.filter(department_id=department, status__in=ACTIVE) \
        if department is not None and may_supervise(user) else WorkTask.objects.none()
    overdue = Q(due__lt=deadlines.today)
    soon = Q(due__gte=deadlines.today, due__lte=deadlines.next_working_day)
    by_step = list(tasks.values("element_id", "name", "role").annotate(
        open=Count("pk", filter=Q(status=TaskStatus.OPEN)), claimed=Count("pk", filter=Q(status=TaskStatus.CLAIMED)),
        overdue=Count("pk", filter=overdue), due_soon=Count("pk", filter=soon)).order_by("element_id", "role"))
    for row in by_step:
        row["role_label"] = roles.ROLE_LABELS.get(row["role"], row["role"])
    by_staff = list(tasks.filter(status=TaskStatus.CLAIMED).values(
        "claimed_by_id", "claimed_by__first_name", "claimed_by__username").annotate(
        claimed=Count("pk"), overdue=Count("pk", filter=overdue)).order_by("-claimed", "claimed_by__username"))
    staff = [{"user_id": row["claimed_by_id"], "name": row["claimed_by__first_name"] or row["claimed_by__username"],
              "claimed": row["claimed"], "overdue": row["overdue"]} for row in by_staff]
    return Load(by_step=by_step, by_staff=staff, total=sum(r["open"] + r["claimed"] for r in by_step),
                overdue=sum(r["overdue"] for r in by_step), due_soon=sum(r["due_soon"] for r in by_step))


# --- deadlines of applications (the worker) ------------------------------------------------------------------


def applications_near_deadline(deadlines: Deadlines) -> QuerySet[Application]:
    """Applications under review whose decision is due by the next working day or has passed, with a task
    waiting on staff (during a correction the clock stands still, and nobody on the staff side must act)."""
    return Application.objects.filter(
        status__in=("submitted", "in_review"), due__lte=deadlines.next_working_day,
        tasks__status__in=ACTIVE, tasks__kind=TaskKind.REVIEW).distinct().order_by("pk")


def staff_to_act(application: Application, *, overdue: bool) -> list[User]:
    """The staff of every active review task's queue (its claimer when claimed); for an overdue application,
    the supervisors of those departments too."""
    found: dict[int, User] = {}
    tasks = application.tasks.filter(status__in=ACTIVE, kind=TaskKind.REVIEW).select_related("claimed_by")
    departments: set[int] = set()
    for task in tasks:
        departments.add(task.department_id)
        for user in queue_staff(task):
            found.setdefault(user.pk, user)
    if overdue:
        for department in sorted(departments):
            for user in supervisors(department):
                found.setdefault(user.pk, user)
    return list(found.values())

