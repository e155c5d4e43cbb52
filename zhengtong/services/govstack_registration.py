"""The GovStack Registration API 0.1.1 and its statistics API 1.0.0 (specs in
../shared/specs/govstack/registration/), served under /govstack/registration/ over the online services: service
items, their forms, applications, the staff workbench's tasks. Every change goes through the services' actions
(actions/applications.py, actions/tasks.py), so the API applies, corrects and decides exactly as the pages do.

Where the spec leaves a choice open, this is what the API does:

* Paths. Each path is served as the spec writes it and in its other spellings: `eForms` also as `eforms`
  (`/services/{serviceId}/eforms`, `/eforms/{eFormId}`), the statistics at the statistics spec's
  `/data/statistics` and at `/statistics`, and every path with and without a trailing slash. Only the spec's
  spelling is in the OpenAPI document (/govstack/registration/docs).
* Who calls. Every call is authenticated: a citizen or staff member by their browser session (CSRF token on
  writes), or a department system (`Authorization: Bearer <key id>.<secret>`, or the Information-Mediator-Client
  header from a trusted Information Mediator, as in exchange/callers.py). Without either the answer is 401. The
  Information-Mediator-Client header the spec lists is not required: sessions do not send it. Systems read
  services, e-forms and statistics only; applications and tasks are people's (403 for a system).
* Ids. `serviceId` is the service item's code (not a UUID); only published items are services. An item has
  one form, so `eFormId` is the item's code too, its `version` the time the item last changed. `fileId` (and
  `mainTaskId`: one process per application) is the application's 8-character reference; `taskId` is the staff
  task's number; `applicantId` is the applicant's account number.
* Services: `type` is "Public", `version` the version of the BPMN process the item runs; `serviceBody` lists the
  guide's facts (department, legal basis, conditions, fee, time limits in working days, materials).
* E-forms: `schema` is a JSON schema of the item's questions. Questions the government answers from its
  registries for the applicant are `readOnly` and not `required`: they are not asked.
* Applying (`POST /services/{serviceId}/applications`): a citizen applies for themselves (`applicantId` is
  their account number or user name; anyone else's is refused, 403). `formData.data` holds the answers by
  question name, each as `{"value": ...}` (the spec's objects) or as a plain value. Documents are first uploaded
  to `POST /documents` with `additionalMetadata=<material code>`; the `url` answered goes in `documentUrls`.
  Answers, documents and submission are one transaction: a refused application leaves nothing behind. A client
  may send an `Idempotency-Key` header: sending the same key again answers the application it made, so a
  double submission makes one application. `applicationName` is not kept: answers carry the applicant's name
  (masked to staff without the right to see personal data).
* `POST /documents` takes one PDF, PNG or JPEG of at most 10 MB (known by its content), as the multipart part
  `file` or as base64 text in the form field `file`. The `url` it answers is an opaque, signed reference for
  the uploader's own application (valid 7 days); it is not a download address.
* `GET /applications`: a citizen's own submitted applications; for staff, the applications with a task they
  may open on the workbench (their queues', their own, their department's for supervisors). Staff see the
  answers as the workbench shows them: values the government held masked by their registry fields' own rules,
  the applicant's answers masked unless the staff member holds identity.reveal_personal_data, and then each
  application (or task) read in full is audited as services.view_application. Lists show applicants' names
  masked to staff. `PUT /applications/{fileId}` is the
  applicant's correction (补正) while the department has sent it back: changed answers and replacement documents;
  the process continues. Staff do not change a citizen's answers: they return the application for correction.
* Status: `PENDING` while submitted or in review, `SENDBACK` while waiting for the applicant's correction,
  `APPROVED`, `REJECTED`; a withdrawn application is `REJECTED` with the title "withdrawn" (the spec's list is
  closed). `title` is the status in the caller's language.
* Tasks are staff tasks (review steps, and post-checks of commitments); a citizen's task list is empty (their
  correction is `PUT /applications/{fileId}`). `POST /tasks/{taskId}/complete` claims an open task for the caller
  first, then decides it: `data.outcome` is `approve`, `reject` or `return` (for correction) and `data.reason`
  the reasons (needed to reject or return), each a plain value or `{"value": ...}`; a post-check takes
  `data.note`. A failed completion leaves the task unclaimed.
* Lists take `firstResult` (from 0) and `maxResult` (default 50, at most 500); `sortBy` is `created`,
  `registered` (applications), `dueDate`, `id` or `name`, with `sortOrder` `asc` or `desc`.
* Statistics: one row per service item (`registrationName` is its name) and, with `timeframe`, per day, week,
  month or year of the period (`startDate`..`endDate`, both included; the last 30 days when not given). Counted
  are the decisions made in the period: `approved`, `rejected`, `sentBack` (returned for correction) and
  `processed` (their sum), from the applications' results; with `operator` (a staff member's name) or `role` (a
  role code), from the tasks that operator or role decided: only staff and department systems count by
  `operator` or `role` (anyone else 403). An unknown `registrationName` answers 404.
* Errors use the platform's body {code, message, details[{field, reason}]}, fields named as in the request
  (`formData.data.reason`, `documentUrls[0]`, `data.outcome`). Bad input answers 400 (also where the spec lists
  no 400), an unknown id 404, a request that conflicts with the state (correcting an application nobody sent back,
  a task someone else claimed) 400 with code `conflict`, as the Consent API does; 401 and 403 say who may call.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import structlog
from django.core import signing
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import ValidationError
from ninja.security import SessionAuth

from zhengtong.core import evidence as evidence_files
from zhengtong.core.errors import DomainError, FieldProblem, InvalidInput, NotPermitted, raise_if_problems
from zhengtong.exchange.callers import Caller, SystemAuth, error_response, install_error_handlers
from zhengtong.identity import roles
from zhengtong.identity.models import ApiClient, User
from zhengtong.services.actions import applications as applying
from zhengtong.services.actions import tasks as task_actions
from zhengtong.services.models import (
    Application,
    ApplicationStatus,
    ClockPause,
    ItemStatus,
    MaterialProvision,
    ServiceItem,
    TaskKind,
    TaskOutcome,
    TaskStatus,
    WorkTask,
)
from zhengtong.services.queries import tasks as task_queries

log = structlog.get_logger("zhengtong.govstack_registration")

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
IDEMPOTENCY_HEADER = "Idempotency-Key"
DOCUMENT_SALT = "zhengtong.services.govstack_registration.document"
DOCUMENT_MAX_AGE = dt.timedelta(days=7)
DOCUMENT_PREFIX = "documents/"
STATISTICS_DAYS = 30

api = NinjaAPI(
    title="GovStack Registration",
    version="0.1.1",
    description="The GovStack Registration building block API (and its statistics API 1.0.0) over the "
    "platform's service items, applications and staff tasks. Citizens and staff use their browser session; "
    "department systems authenticate with `Authorization: Bearer <key id>.<secret>` and read services, e-forms "
    "and statistics.",
    auth=[SystemAuth(), SessionAuth()],
    urls_namespace="govstack-registration",
    docs_url="/docs",
)

Actor = User | ApiClient


class NotFound(DomainError):
    """An id that names nothing the caller may see: the spec's 404."""

    code = "not_found"
    status = 404

    def __init__(self, parameter: str, message: str):
        super().__init__(message, [FieldProblem(parameter, message)])


# --- errors ---------------------------------------------------------------------------------------------------


install_error_handlers(api, log, unnamed_field="body")


def _location(parts: list[Any]) -> str:
    # Ninja locations look like ["body", "body", "formData", "eFormId"] or ["query", "maxResult"].
    names = parts[2:] if parts[:1] == ["body"] else parts[1:]
    return ".".join(str(name) for name in names) or "body"


@api.exception_handler(ValidationError)
def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [FieldProblem(_location(list(error.get("loc", []))), str(error.get("msg", ""))) for error in exc.errors]
    return error_response(api, request, 400, "bad_request", "; ".join(f"{d.field}: {d.reason}" for d in details),
                          details)


@api.exception_handler(DomainError)
def _on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    # The spec's refusals are 400 and 404; who may call stays apart (401, 403).
    status = exc.status if exc.status in (401, 403, 404, 429) else 400
    return error_response(api, request, status, exc.code, exc.message, exc.details)


@contextlib.contextmanager
def _fields_renamed(rename: Callable[[str], str]) -> Iterator[None]:
    """Name the fields of an action's refusal as they sit in the request (`formData.data.reason`)."""
    try:
        yield
    except InvalidInput as error:
        details = [FieldProblem(rename(d.field), d.reason) for d in error.details]
        raise InvalidInput("; ".join(f"{d.field}: {d.reason}" for d in details), details) from None


def _answer_field(field: str) -> str:
    if field.startswith("documentUrls") or field == IDEMPOTENCY_HEADER:
        return field
    if field.startswith("material_") or field == "file":
        return "documentUrls"
    if field in ("note", "commitment_signed", "token"):
        return "formData"
    return f"formData.data.{field}"


# --- paths in every spelling -------------------------------------------------------------------------------------

F_ = TypeVar("F_", bound=Callable[..., Any])


def _spellings(path: str) -> list[str]:
    """The spec's path first, then the other spellings clients use: lower-case `eforms`, `/statistics` for
    `/data/statistics`, each with and without a trailing slash."""
    bases = [path]
    if "eForms" in path:
        bases.append(path.replace("eForms", "eforms"))
    if path == "/data/statistics":
        bases.append("/statistics")
    return [spelling for base in bases for spelling in (base, base + "/")]


def _route(method: str, path: str, **options: Any) -> Callable[[F_], F_]:
    def register(view: F_) -> F_:
        for index, spelling in enumerate(_spellings(path)):
            api.api_operation([method], spelling, include_in_schema=index == 0, **options)(view)
        return view

    return register


# --- callers ----------------------------------------------------------------------------------------------------


def _actor(request: HttpRequest) -> Actor:
    auth: Any = request.auth  # type: ignore[attr-defined]
    return auth.client if isinstance(auth, Caller) else request.user  # type: ignore[return-value]


def _person(request: HttpRequest) -> User:
    """The citizen or staff member calling; department systems only read services and statistics."""
    actor = _actor(request)
    if isinstance(actor, ApiClient):
        raise NotPermitted(_("Department systems read services, e-forms and statistics only."))
    return actor


def _citizen(request: HttpRequest) -> User:
    user = _person(request)
    if getattr(user, "citizen", None) is None:
        raise NotPermitted(_("Only a citizen applies for a service online."))
    return user


def _is_citizen(user: User) -> bool:
    return getattr(user, "citizen", None) is not None


# --- shapes ------------------------------------------------------------------------------------------------------

STATUS_CODES = {
    ApplicationStatus.DRAFT: "PENDING", ApplicationStatus.SUBMITTED: "PENDING",
    ApplicationStatus.IN_REVIEW: "PENDING", ApplicationStatus.CORRECTION: "SENDBACK",
    ApplicationStatus.APPROVED: "APPROVED", ApplicationStatus.REJECTED: "REJECTED",
    ApplicationStatus.WITHDRAWN: "REJECTED",
}
OUTCOME_CODES = {TaskOutcome.APPROVE: "APPROVED", TaskOutcome.CHECKED: "APPROVED", TaskOutcome.REJECT: "REJECTED",
                 TaskOutcome.RETURN: "SENDBACK"}


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _status(application: Application) -> dict[str, str]:
    return {"code": STATUS_CODES[ApplicationStatus(application.status)], "title": application.get_status_display()}


def _task_status(task: WorkTask) -> dict[str, str]:
    if task.status == TaskStatus.DONE and task.outcome:
        return {"code": OUTCOME_CODES[TaskOutcome(task.outcome)], "title": task.get_outcome_display()}
    return {"code": "REJECTED" if task.status == TaskStatus.CANCELLED else "PENDING",
            "title": task.get_status_display()}


def _properties(rows: Iterable[tuple[str, Any]]) -> list[dict[str, str]]:
    return [{"code": code, "value": str(value)} for code, value in rows if value not in (None, "", [])]


def _service(item: ServiceItem) -> dict[str, Any]:
    materials = "; ".join(m.name for m in item.materials.all())
    return {
        "id": item.code, "name": item.name, "type": "Public", "version": str(item.process.version),
        "isExecutable": item.status == ItemStatus.PUBLISHED, "isClosed": False, "description": item.summary,
        "serviceBody": _properties([
            ("itemType", item.get_item_type_display()), ("responsibleDepartment", item.responsible_department.name),
            ("cooperatingDepartments", "; ".join(d.name for d in item.cooperating_departments.all())),
            ("legalBasis", item.legal_basis), ("conditions", item.conditions), ("fee", item.fee or _("free")),
            ("statutoryDays", item.statutory_days), ("promisedDays", item.promised_days),
            ("channels", ", ".join(item.channels)), ("materials", materials),
            ("commitmentAllowed", "true" if item.commitment_allowed else "false"),
            ("process", item.process.key)]),
    }


QUESTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "text": {"type": "string", "maxLength": applying.MAX_TEXT},
    "textarea": {"type": "string", "maxLength": applying.MAX_TEXTAREA},
    "number": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "yes_no": {"type": "boolean"},
    "choice": {"type": "string"},
}


def _form_schema(item: ServiceItem) -> dict[str, Any]:
    """The item's questions as a JSON schema; those the government answers from a registry are read-only."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for question in applying.questions(item):
        schema = {**QUESTION_SCHEMAS.get(question.type, {"type": "string"}), "title": question.label}
        if question.hint:
            schema["description"] = question.hint
        if question.type == "choice":
            schema["enum"] = [value for value, _label in question.choices]
            schema["x-enumLabels"] = [label for _value, label in question.choices]
        if question.prefill:
            schema["readOnly"] = True
            schema["x-prefill"] = {"registry": question.prefill.get("registry", ""),
                                   "field": question.prefill.get("field", "")}
        elif question.required:
            required.append(question.name)
        properties[question.name] = schema
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": item.name, "type": "object",
            "properties": properties, "required": required}


def _eform(item: ServiceItem, *, with_schema: bool) -> dict[str, Any]:
    form = {"eFormId": item.code, "name": item.name, "description": item.summary,
            "version": item.updated_at.isoformat(), "latest": True}
    if with_schema:
        form["schema"] = _form_schema(item)
    return form


def _form_values(application: Application, user: User, *, task: WorkTask | None = None
                 ) -> dict[str, dict[str, Any]]:
    """The answers and the values the government held, each `{"value", "label"}` (and `source` when held): the
    applicant's own in full; to staff as the workbench shows them (task_actions.read_application: held values
    masked by their fields' rules, answers in full only to staff with the right, which is audited)."""
    values = {}
    rows = task_queries.answer_rows(application, reveal=True, applicant=True) \
        if application.applicant_id == user.pk else task_actions.read_application(user, application, task=task)
    for row in rows:
        value = {"value": row["value"], "label": row["label"]}
        if row["source"]:
            value["source"] = row["source"]
        values[row["name"]] = value
    return values


def _document_urls(application: Application) -> list[str]:
    """The materials the applicant gave: `materials/<code>` (their files are handed out on the workbench)."""
    return [f"materials/{given.material.code}" for given in application.materials.all()
            if given.provision == MaterialProvision.UPLOADED]


def _reveal(user: User, application: Application) -> bool:
    return application.applicant_id == user.pk or task_queries.may_reveal(user)


def _application_data(application: Application, user: User) -> dict[str, Any]:
    reveal = _reveal(user, application)
    return {"applicantId": str(application.applicant_id),
            "applicationName": task_queries.applicant_name(application, reveal=reveal),
            "created": _time(application.created_at),
            "formData": {"eFormId": application.item.code, "data": _form_values(application, user)},
            "documentUrls": _document_urls(application)}


def _application_file(application: Application, user: User) -> dict[str, Any]:
    return {"fileId": application.reference, "registered": _time(application.submitted_at),
            "applicantId": str(application.applicant_id), "serviceId": application.item.code,
            "serviceName": application.item.name, "status": _status(application),
            "ended": not application.is_open and application.status != ApplicationStatus.DRAFT,
            "applicationData": _application_data(application, user)}


def _current_task(application: Application) -> WorkTask | None:
    tasks = [t for t in application.tasks.all() if t.status in task_queries.ACTIVE and t.kind == TaskKind.REVIEW]
    return min(tasks, key=lambda t: (t.created_at, t.pk)) if tasks else None


def _application_row(application: Application, user: User) -> dict[str, Any]:
    task = _current_task(application)
    reveal = application.applicant_id == user.pk  # a list shows staff names masked, as the workbench's queue does
    row: dict[str, Any] = {
        "fileId": application.reference, "mainTaskId": application.reference,
        "taskTitle": task.name if task is not None else application.get_status_display(),
        "status": _status(application), "applicantId": str(application.applicant_id),
        "created": _time(application.created_at), "registered": _time(application.submitted_at),
        "description": application.correction_request or application.result or application.item.summary,
        "serviceName": application.item.name, "serviceId": application.item.code, "eformId": application.item.code,
        "documentUrls": _document_urls(application),
        "additionalMeta": {"data": {
            "applicantName": {"value": task_queries.applicant_name(application, reveal=reveal)},
            "due": {"value": application.current_due.isoformat() if application.current_due else None,
                    "provisional": application.due_provisional}}},
    }
    if task is not None:
        row.update(roleId=task.role, roleName=str(roles.ROLE_LABELS.get(task.role, task.role)))
        if task.claimed_by is not None:
            row.update(assigneeId=str(task.claimed_by_id), operatorName=task.claimed_by.display_name)
    return row


def _task_common(task: WorkTask) -> dict[str, Any]:
    application = task.application
    common = {"taskId": str(task.pk), "roleId": task.role, "created": _time(task.created_at),
              "description": f"{application.item.name} · {application.reference}", "fileId": application.reference,
              "serviceId": application.item.code, "serviceName": application.item.name,
              "eFormId": application.item.code, "status": _task_status(task)}
    if task.claimed_by_id is not None:
        common["assigneeId"] = str(task.claimed_by_id)
    return common


def _task_row(task: WorkTask) -> dict[str, Any]:
    return {**_task_common(task), "mainTaskId": task.application.reference, "name": task.name}


def _task_detail(task: WorkTask, user: User) -> dict[str, Any]:
    if task.kind == TaskKind.POST_CHECK:
        variables = {"note": {"type": "string", "required": True}}
    else:
        variables = {"outcome": {"type": "string", "enum": [str(o) for o in task_actions.DECISIONS],
                                 "required": True},
                     "reason": {"type": "string", "description": _("needed to reject or to return for correction")}}
    return {**_task_common(task), "taskName": task.name, "formVariables": variables,
            "data": _form_values(task.application, user, task=task)}


# --- lists --------------------------------------------------------------------------------------------------------

T = TypeVar("T")


def _page(items: QuerySet[Any], first: int | None, size: int | None, shape: Callable[[Any], T]) -> list[T]:
    problems = []
    first = 0 if first is None else first
    size = DEFAULT_LIMIT if size is None else size
    if first < 0:
        problems.append(FieldProblem("firstResult", _("Count from 0.")))
    if not 1 <= size <= MAX_LIMIT:
        problems.append(FieldProblem("maxResult", _("Ask for 1 to %(max)d results.") % {"max": MAX_LIMIT}))
    raise_if_problems(problems)
    return [shape(item) for item in items[first:first + size]]


def _ordered(items: QuerySet[Any], sort_by: str | None, sort_order: str | None, fields: Mapping[str, str],
             default: Sequence[Any]) -> QuerySet[Any]:
    problems = []
    if sort_by and sort_by not in fields:
        problems.append(FieldProblem("sortBy", _("Sort by one of: %(fields)s.") % {"fields": ", ".join(fields)}))
    if sort_order and sort_order.lower() not in ("asc", "desc"):
        problems.append(FieldProblem("sortOrder", _("Give asc or desc.")))
    raise_if_problems(problems)
    if not sort_by:
        return items.order_by(*default)
    field = F(fields[sort_by])
    descending = (sort_order or "asc").lower() == "desc"
    return items.order_by(field.desc(nulls_last=True) if descending else field.asc(nulls_last=True), "pk")


# --- services and e-forms -------------------------------------------------------------------------------------------


def _services() -> QuerySet[ServiceItem]:
    return ServiceItem.objects.filter(status=ItemStatus.PUBLISHED).select_related(
        "responsible_department", "process").prefetch_related("materials", "cooperating_departments")


def _published(code: str, parameter: str = "serviceId") -> ServiceItem:
    item = _services().filter(code=code).first()
    if item is None:
        raise NotFound(parameter, _("There is no service with this id."))
    return item


@_route("GET", "/services", tags=["Available Services"], operation_id="getServiceList")
def service_list(request: HttpRequest, name: str | None = None) -> list[dict[str, Any]]:
    services = _services()
    if name and name.strip():
        services = services.filter(name__icontains=name.strip())
    return [_service(item) for item in services.order_by("code")]


@_route("GET", "/services/{serviceId}", tags=["Available Services"], operation_id="getService")
def service_detail(request: HttpRequest, serviceId: str) -> dict[str, Any]:  # noqa: N803 (the spec's names)
    return _service(_published(serviceId))


@_route("GET", "/services/{serviceId}/eForms", tags=["Available Services"],
        operation_id="getServiceSchemaByServiceKey")
def service_eforms(request: HttpRequest, serviceId: str) -> list[dict[str, Any]]:  # noqa: N803
    return [_eform(_published(serviceId), with_schema=False)]


@_route("GET", "/eForms/{eFormId}", tags=["Available Services"], operation_id="getEFormById")
def eform_detail(request: HttpRequest, eFormId: str) -> dict[str, Any]:  # noqa: N803
    return _eform(_published(eFormId, "eFormId"), with_schema=True)


# --- documents ---------------------------------------------------------------------------------------------------


def _uploaded(request: HttpRequest) -> evidence_files.Evidence:
    """The one file of the upload: a multipart part `file`, or base64 text in the form field `file`."""
    files = request.FILES.getlist("file")
    texts = request.POST.getlist("file")
    if len(files) + len(texts) != 1:
        raise_if_problems([FieldProblem("file", _("Upload one file as the part named file."))])
    if files:
        upload = files[0]
        if upload.size is not None and upload.size > evidence_files.MAX_BYTES:
            raise_if_problems([FieldProblem("file", evidence_files.too_large_message())])
        return evidence_files.Evidence(name=upload.name or "", content=upload.read())
    try:
        return evidence_files.Evidence(name="", content=base64.b64decode(texts[0], validate=True))
    except (binascii.Error, ValueError):
        raise InvalidInput.for_field("file", _("Give the file's content in base64.")) from None


def _document(url: str, index: int, user: User) -> dict[str, Any]:
    """What an upload's reference says: its file (digest, name, type, size) and material; only for its uploader."""
    field = f"documentUrls[{index}]"
    token = url.rsplit(DOCUMENT_PREFIX, 1)[-1]
    try:
        document = signing.loads(token, salt=DOCUMENT_SALT, max_age=DOCUMENT_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidInput.for_field(field, _("This upload has expired; upload the file again.")) from None
    except signing.BadSignature:
        document = None
    if not isinstance(document, dict) or document.get("u") != user.pk:
        raise InvalidInput.for_field(field, _("Give the url that uploading the file to /documents answered."))
    return document


@_route("POST", "/documents", tags=["Applicant", "Operator"], operation_id="uploadFile")
def upload_document(request: HttpRequest, additionalMetadata: str = "") -> dict[str, Any]:  # noqa: N803
    """Keep a material's file for the caller's next application (or correction); `additionalMetadata` names the
    material's code."""
    user = _citizen(request)
    upload = _uploaded(request)
    problems: list[FieldProblem] = []
    kind = evidence_files.content_type(upload, problems, "file")
    material = additionalMetadata.strip()
    if len(material) > 64:
        problems.append(FieldProblem("additionalMetadata", _("Give the code of the material the file is.")))
    raise_if_problems(problems)
    digest = evidence_files.keep(applying.MATERIAL_DIRECTORY, upload.content)
    token = signing.dumps({"u": user.pk, "d": digest, "n": upload.name[:255], "t": kind, "m": material},
                          salt=DOCUMENT_SALT, compress=True)
    return {"code": 200, "type": kind, "message": _("The file is uploaded; give its url with your application."),
            "url": DOCUMENT_PREFIX + token}


def _evidence(document: Mapping[str, Any]) -> evidence_files.Evidence:
    content = applying.material_path(str(document["d"])).read_bytes()
    return evidence_files.Evidence(name=str(document.get("n") or ""), content=content)


def _documents(item: ServiceItem, urls: Sequence[str], user: User) -> dict[str, evidence_files.Evidence]:
    """The uploaded files by material code; every problem names the url's place in documentUrls."""
    codes = {m.code for m in item.materials.all()}
    found: dict[str, evidence_files.Evidence] = {}
    problems: list[FieldProblem] = []
    for index, url in enumerate(urls):
        try:
            document = _document(url, index, user)
        except InvalidInput as refused:
            problems.extend(refused.details)
            continue
        code = str(document.get("m") or "")
        field = f"documentUrls[{index}]"
        if code not in codes:
            problems.append(FieldProblem(field, _("Upload the file with additionalMetadata naming one of the "
                                                  "service's materials: %(codes)s.")
                                         % {"codes": ", ".join(sorted(codes)) or "-"}))
        elif code in found:
            problems.append(FieldProblem(field, _("Another document is given for this material already.")))
        else:
            try:
                found[code] = _evidence(document)
            except FileNotFoundError:
                problems.append(FieldProblem(field, _("The file is gone; upload it again.")))
    raise_if_problems(problems)
    return found


# --- applying ------------------------------------------------------------------------------------------------------


class FormData(Schema):
    eFormId: str = ""  # noqa: N815 (the spec's names)
    data: dict[str, Any] = {}


class ApplicationFileSubmit(Schema):
    applicantId: str  # noqa: N815
    applicationName: str = ""  # noqa: N815
    created: str | None = None
    formData: FormData = FormData()  # noqa: N815
    documentUrls: list[str] = []  # noqa: N815


def _raw(value: Any) -> Any:
    """An answer as the spec's object `{"value": ...}`, or as the plain value."""
    return value.get("value") if isinstance(value, dict) else value


def _check_applicant(user: User, body: ApplicationFileSubmit) -> None:
    if body.applicantId.strip() not in (str(user.pk), user.get_username()):
        raise NotPermitted(_("You apply for yourself: give your own account number as applicantId."),
                           [FieldProblem("applicantId", _("not your account"))])


def _check_form(item: ServiceItem, form: FormData) -> None:
    if form.eFormId and form.eFormId != item.code:
        raise_if_problems([FieldProblem("formData.eFormId", _("This service's e-form is %(id)s.")
                                        % {"id": item.code})])


@_route("POST", "/services/{serviceId}/applications", tags=["Applicant"], operation_id="submitApplication")
def submit_application(request: HttpRequest, serviceId: str, body: ApplicationFileSubmit  # noqa: N803
                       ) -> dict[str, Any]:
    user = _citizen(request)
    item = _published(serviceId)
    _check_applicant(user, body)
    _check_form(item, body.formData)
    token = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    with transaction.atomic(), _fields_renamed(_answer_field):
        application = applying.start_draft(user, item, token=token)
        if application.status == ApplicationStatus.DRAFT:
            files = _documents(item, body.documentUrls, user)
            _save_answers(user, application, body.formData.data)
            materials = {m.code: m for m in item.materials.all()}
            for code, file in files.items():
                applying.attach_material(user, application, materials[code], file)
            application = applying.submit_application(user, application)
        elif application.item_id != item.pk:
            raise_if_problems([FieldProblem(IDEMPOTENCY_HEADER, _("This key was used for another service."))])
    return _application_file(_loaded(application.pk), user)


def _save_answers(user: User, application: Application, data: Mapping[str, Any]) -> None:
    """Every answer checked before any is kept, so that all problems are named at once."""
    asked = {q.name: q for q in applying.questions(application.item)}
    problems: list[FieldProblem] = []
    for name, value in data.items():
        if name not in asked:
            problems.append(FieldProblem(name, _("The form has no such question.")))
        elif name in application.prefilled:
            problems.append(FieldProblem(name, _("The government holds this value already; it is not asked.")))
        else:
            problems.extend(applying.clean_answer(asked[name], _raw(value))[1])
    raise_if_problems(problems)
    for name, value in data.items():
        applying.save_answer(user, application, name, _raw(value))


def _loaded(pk: int) -> Application:
    return Application.objects.select_related("item", "applicant__citizen", "applicant__business").prefetch_related(
        "materials__material", "tasks__claimed_by").get(pk=pk)


# --- applications --------------------------------------------------------------------------------------------------


def _applications(user: User) -> QuerySet[Application]:
    """A citizen's own submitted applications; for staff, those with a task they may open on the workbench."""
    found = Application.objects.exclude(reference__isnull=True)
    if _is_citizen(user):
        found = found.filter(applicant=user)
    elif task_queries.is_staff(user):
        found = found.filter(pk__in=WorkTask.objects.filter(task_queries.visible_q(user)).values("application_id"))
    else:
        found = found.none()
    return found.select_related("item", "applicant__citizen", "applicant__business").prefetch_related(
        "materials__material", "tasks__claimed_by")


def _application(user: User, file_id: str) -> Application:
    application = _applications(user).filter(reference=file_id.strip().upper()).first()
    if application is None:
        raise NotFound("fileId", _("There is no application file with this id."))
    return application


APPLICATION_SORTS = {"created": "created_at", "registered": "submitted_at", "dueDate": "due", "id": "reference",
                     "name": "item__name"}


@_route("GET", "/applications", tags=["Applicant", "Operator"], operation_id="getApplicantFileList")
def application_list(request: HttpRequest, serviceId: str | None = None,  # noqa: N803
                     applicantId: str | None = None, firstResult: int | None = None,  # noqa: N803
                     maxResult: int | None = None, sortBy: str | None = None,  # noqa: N803
                     sortOrder: str | None = None) -> list[dict[str, Any]]:  # noqa: N803
    user = _person(request)
    found = _applications(user)
    if serviceId:
        found = found.filter(item__code=serviceId)
    if applicantId:
        found = found.filter(applicant_id=int(applicantId) if applicantId.isdigit() else None)
    found = _ordered(found, sortBy, sortOrder, APPLICATION_SORTS, ("-submitted_at", "-pk"))
    return _page(found, firstResult, maxResult, lambda application: _application_row(application, user))


@_route("GET", "/applications/{fileId}", tags=["Applicant", "Operator"], operation_id="getApplicationFileById")
def application_detail(request: HttpRequest, fileId: str) -> dict[str, Any]:  # noqa: N803
    user = _person(request)
    return _application_file(_application(user, fileId), user)


@_route("PUT", "/applications/{fileId}", tags=["Operator"], operation_id="updateApplicationFileForm")
def application_update(request: HttpRequest, fileId: str, body: ApplicationFileSubmit  # noqa: N803
                       ) -> dict[str, Any]:
    """The applicant's correction (补正): changed answers and replacement documents."""
    user = _citizen(request)
    application = _application(user, fileId)
    _check_applicant(user, body)
    _check_form(application.item, body.formData)
    with transaction.atomic(), _fields_renamed(_answer_field):
        files = _documents(application.item, body.documentUrls, user)
        answers = {name: _raw(value) for name, value in body.formData.data.items()}
        applying.answer_correction(user, application, answers=answers, files=files)
    return _application_file(_loaded(application.pk), user)


# --- tasks -----------------------------------------------------------------------------------------------------------


def _tasks(user: User) -> QuerySet[WorkTask]:
    return WorkTask.objects.filter(task_queries.visible_q(user)).select_related(
        "application__item", "application__applicant__citizen", "department", "claimed_by")


def _task(user: User, task_id: str) -> WorkTask:
    task = _tasks(user).filter(pk=int(task_id)).first() if task_id.strip().isdigit() else None
    if task is None:
        raise NotFound("taskId", _("There is no task with this id."))
    return task


TASK_SORTS = {"created": "created_at", "dueDate": "due", "id": "pk", "name": "name", "assignee": "claimed_by_id"}


@_route("GET", "/tasks", tags=["Operator", "Applicant"], operation_id="getTasks")
def task_list(request: HttpRequest, mainTaskId: str | None = None, fileId: str | None = None,  # noqa: N803
              assigneeId: str | None = None, firstResult: int | None = None,  # noqa: N803
              maxResult: int | None = None, sortBy: str | None = None,  # noqa: N803
              sortOrder: str | None = None) -> list[dict[str, Any]]:  # noqa: N803
    """The caller's open tasks: those of their queues and those they claimed."""
    user = _person(request)
    found = _tasks(user).filter(status__in=task_queries.ACTIVE)
    for reference in (mainTaskId, fileId):
        if reference:
            found = found.filter(application__reference=reference.strip().upper())
    if assigneeId:
        found = found.filter(claimed_by_id=int(assigneeId) if assigneeId.isdigit() else None)
    found = _ordered(found, sortBy, sortOrder, TASK_SORTS, (F("due").asc(nulls_last=True), "created_at", "pk"))
    return _page(found, firstResult, maxResult, _task_row)


@_route("GET", "/tasks/{taskId}", tags=["Operator", "Applicant"], operation_id="getTaskById")
def task_detail(request: HttpRequest, taskId: str) -> dict[str, Any]:  # noqa: N803
    user = _person(request)
    return _task_detail(_task(user, taskId), user)


class AdditionalData(Schema):
    data: dict[str, Any] = {}


def _text(data: Mapping[str, Any], name: str) -> str:
    value = _raw(data.get(name))
    if value is not None and not isinstance(value, str):
        raise_if_problems([FieldProblem(f"data.{name}", _("Give text."))])
    return value or ""


@_route("POST", "/tasks/{taskId}/complete", tags=["Operator", "Applicant"], operation_id="completeTaskById")
def task_complete(request: HttpRequest, taskId: str, body: AdditionalData) -> dict[str, Any]:  # noqa: N803
    user = _person(request)
    task = _task(user, taskId)
    with transaction.atomic(), _fields_renamed(lambda field: f"data.{field}"):
        if task.status == TaskStatus.OPEN and task_queries.in_queues(user, task):
            task = task_actions.claim_task(user, task)
        if task.kind == TaskKind.POST_CHECK:
            variables = {"note": _text(body.data, "note")}
            task = task_actions.complete_post_check(user, task, note=variables["note"])
        else:
            variables = {"outcome": _text(body.data, "outcome"), "reason": _text(body.data, "reason")}
            task = task_actions.decide_task(user, task, outcome=variables["outcome"], reason=variables["reason"])
    application = _loaded(task.application_id)
    return {"taskId": str(task.pk), "fileId": application.reference, "serviceId": application.item.code,
            "status": _status(application),
            "variables": {"task": {"data": {name: {"value": value} for name, value in variables.items()}}}}


# --- statistics -------------------------------------------------------------------------------------------------------

TIMEFRAMES = ("day", "week", "month", "year")


def _period(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    end = end or timezone.localdate()
    start = start or end - dt.timedelta(days=STATISTICS_DAYS - 1)
    if start > end:
        raise_if_problems([FieldProblem("startDate", _("The start date is after the end date."))])
    return start, end


def _bucket(day: dt.date, timeframe: str | None, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The day, week (Monday to Sunday), month or year `day` falls in, within the period."""
    if timeframe == "day":
        first = last = day
    elif timeframe == "week":
        first = day - dt.timedelta(days=day.weekday())
        last = first + dt.timedelta(days=6)
    elif timeframe == "month":
        first = day.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    elif timeframe == "year":
        first, last = day.replace(month=1, day=1), day.replace(month=12, day=31)
    else:
        first, last = start, end
    return max(first, start), min(last, end)


def _decisions(start: dt.date, end: dt.date, operator: str, role: str) -> list[tuple[str, dt.date, str, int]]:
    """(item name, day, status code, count) of the decisions made from start to end, both included."""
    since = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    until = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min))
    if operator or role:
        tasks = WorkTask.objects.filter(status=TaskStatus.DONE, kind=TaskKind.REVIEW, completed_at__gte=since,
                                        completed_at__lt=until)
        if operator:
            tasks = tasks.filter(completed_by_name=operator)
        if role:
            tasks = tasks.filter(role=role)
        rows = tasks.annotate(day=TruncDate("completed_at")).values_list(
            "application__item__name", "day", "outcome").annotate(n=Count("pk"))
        return [(name, day, OUTCOME_CODES[TaskOutcome(outcome)], n) for name, day, outcome, n in rows]
    decided = Application.objects.filter(
        status__in=(ApplicationStatus.APPROVED, ApplicationStatus.REJECTED), decided_at__gte=since,
        decided_at__lt=until).annotate(day=TruncDate("decided_at")).values_list(
        "item__name", "day", "status").annotate(n=Count("pk"))
    returned = ClockPause.objects.filter(started_on__gte=start, started_on__lte=end).values_list(
        "application__item__name", "started_on").annotate(n=Count("pk"))
    return ([(name, day, STATUS_CODES[ApplicationStatus(status)], n) for name, day, status, n in decided]
            + [(name, day, "SENDBACK", n) for name, day, n in returned])


def _check_counts_people(request: HttpRequest) -> None:
    """Counts by operator or role tell how a named official decides: for staff and department systems only."""
    actor = _actor(request)
    if not (isinstance(actor, ApiClient) or task_queries.is_staff(actor)):
        raise NotPermitted(_("Only staff and department systems count decisions by operator or role."))


@_route("GET", "/data/statistics", tags=["Statistics API"], operation_id="Statistics")
def statistics(request: HttpRequest, startDate: dt.date | None = None,  # noqa: N803
               endDate: dt.date | None = None, registrationName: str | None = None,  # noqa: N803
               operator: str | None = None, role: str | None = None,
               timeframe: str | None = None) -> list[dict[str, Any]]:
    """Decisions per service item (and per day, week, month or year) in the period."""
    if timeframe is not None and timeframe not in TIMEFRAMES:
        raise_if_problems([FieldProblem("timeframe", _("Give day, week, month or year."))])
    start, end = _period(startDate, endDate)
    operator, role, name = (operator or "").strip(), (role or "").strip(), (registrationName or "").strip()
    if operator or role:
        _check_counts_people(request)
    items = ServiceItem.objects.filter(Q(status=ItemStatus.PUBLISHED) | Q(applications__decided_at__isnull=False))
    if name:
        items = items.filter(name=name)
        if not items.exists():
            raise NotFound("registrationName", _("There is no service with this name."))
    names = sorted(set(items.values_list("name", flat=True)))
    counts: dict[tuple[str, dt.date, dt.date], dict[str, int]] = {}
    for item_name, day, code, n in _decisions(start, end, operator, role):
        if item_name not in names:
            continue
        first, last = _bucket(day, timeframe, start, end)
        row = counts.setdefault((item_name, first, last), {"APPROVED": 0, "REJECTED": 0, "SENDBACK": 0})
        row[code] += n
    if timeframe is None:  # every item appears once, with zeros when nothing was decided
        for item_name in names:
            counts.setdefault((item_name, start, end), {"APPROVED": 0, "REJECTED": 0, "SENDBACK": 0})
    flags = {f"timeframe{frame.capitalize()}": timeframe == frame for frame in TIMEFRAMES}
    return [{"processed": sum(row.values()), "approved": row["APPROVED"], "sentBack": row["SENDBACK"],
             "rejected": row["REJECTED"],
             "references": {"startDate": first.isoformat(), "endDate": last.isoformat(), "registrationName": item_name,
                            "operator": operator, "role": role, **flags}}
            for (item_name, first, last), row in sorted(counts.items())]
