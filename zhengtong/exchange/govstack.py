"""The GovStack Digital Registries API (data API 1.3.0 and database API 1.3.0) over every registry, served under
/govstack/dr/ (specs in ../shared/specs/govstack/digital-registries/).

Reads go through the one door; writes are the registries' actions, allowed by the client's grant (writes.py).
Callers are department systems (callers.py): a bearer credential, or the Information-Mediator-Client header from a
trusted Information Mediator. The spec makes that header mandatory, so a call without it is a bad request (400).

Where the spec leaves a choice open, this is what the API does:

* `{registryName}` is the registry's code. An unknown code is refused exactly as a registry the caller has no
  right to (403 no_grant), so a refusal never says whether a registry exists.
* `{versionNumber}` is the registry's schema version: `2`, `2.0`, `v2` and `version2` all name version 2. A call
  naming another version than the current one is refused with 409 schema_version_mismatch, naming the current
  version, because the fields it reads or writes may not be the ones the caller expects. The version is compared
  only once the caller's right is known, so a mismatch reveals nothing to a caller without one.
* Every data call states its purpose: the `purpose` query parameter, or the X-Purpose header. Without one the door
  refuses (403 no_purpose). For writes the purpose is also the reason kept in the record's history.
* A query (`query.content`) names field values that must all hold. A query naming exactly the registry's key
  fields finds the record by its key (even an encrypted key); any other query is a search through the door, so a
  query may use only fields the caller's right covers, and encrypted fields only when they are indexed.
  `read` returns the first record made that matches; `update` refuses a query matching several records (409) and
  points to `updateEntries`; `update` and `updateOrCreate` without a query take the key from `write.content`.
  `updateOrCreate` creates from the query's values overlaid with the write's.
* `list`: `query.<field>=value` filters by equality; `filter=<field>&search=<value>` is the same filter (values
  are matched exactly, not as regular expressions: encrypted fields are indexed by keyed hashes, which only
  equality can use); `ordering` may be `ascending` (the order records were made); `page` from 1 and `pageSize`
  (default 50, at most 500). `next` and `previous` are absolute URLs.
* `readValue` answers a text value as a JSON string (an empty value as ""), any other value as
  `{"value": ...}`, the two forms the spec allows. Only the `json` extension is served.
* Values in every answer are masked by the caller's right, as the door masks them.
* Errors use the platform's body {code, message, details}; `read` (and `update`) of no record answers the spec's
  404 {"detail": "no record found"}. Malformed requests answer 400, values that do not fit the registry 422.
* `delete` answers 204 with no body. The record is deleted softly (kept with its history, out of every lookup).
* The database API: `/database/{id}` takes the registry's numeric id, as the spec's integer path parameter says,
  and answers its `databaseInfo` with the schema as JSON schema; `/databases` lists the registries a client may
  know of (its department's own, and those published in the catalog) as one group, the spec's `databasesSchema`;
  `/database/modify` changes the schema of an existing registry, for the provider department's own systems only.
  New registries are not defined through this API, and `DELETE /database/{id}` answers 501: a registry's records
  and history are kept, and registries are retired by their provider on the registry pages.
* `myPersonalDataUsage` answers who read a person's (`userId`: resident ID or unified social credit code) data in
  one registry (`databaseId`: its code), from the audit trail, newest first (at most 500 accesses). Only the
  systems of the registry's provider department may ask, as the controller answering its data subjects; any
  other caller, or an unknown registry, is refused like a read without a grant (403 no_grant). The call states
  its purpose and is itself audited with the person as its data subject. The answer comes from the privacy
  app, which sits above this one: it registers the same query its "who used my data" page uses
  (`register_personal_data_usage`), so accesses hidden by an investigator stay out here too until their
  disclosure date. Readers are institutions and systems, never named officials: for a department system
  `readerId` is its key id and `readerApplicationName` its name; for staff `readerId` and `readerInitials` are
  empty and `readerApplicationName` gives the official's role. `refrences` name the record read
  (`<registry code><record id>`), or the registry alone for a search or export of many records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import structlog
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from pydantic import ConfigDict, Field
from stdnum.cn import ric, uscc

from zhengtong.audit import actions as audit
from zhengtong.audit.models import Result
from zhengtong.catalog.models import ResourceStatus
from zhengtong.core.errors import Conflict, DomainError, FieldProblem, InvalidInput, NotPermitted, raise_if_problems
from zhengtong.identity.actions import actor_of
from zhengtong.registries import actions as registries
from zhengtong.registries.codec import value_context
from zhengtong.registries.models import Record, Registry
from zhengtong.registries.schema import json_schema_of, specs_from_json_schema

from . import door, writes
from .callers import Caller, SystemAuth, caller_of, error_response, install_error_handlers, purpose_of
from .gateway import refuse_unknown_fields, registry_or_refused

log = structlog.get_logger("zhengtong.govstack")

VERSION = re.compile(r"(?:v|version)?(\d{1,9})(?:\.0+)?", re.IGNORECASE)
LIST_PARAMETERS = {"search", "filter", "ordering", "page", "pageSize", "purpose"}
ASCENDING, DESCENDING = {"", "asc", "ascending"}, {"desc", "descending"}
DEFAULT_PAGE_SIZE = 50
NO_RECORD = {"detail": "no record found"}  # the spec's enumerated 404 body

api = NinjaAPI(
    title="GovStack Digital Registries",
    version="1.3.0",
    description="The GovStack Digital Registries data and database APIs over every registry of the platform. "
    "Systems authenticate with `Authorization: Bearer <key id>.<secret>`, or by the Information-Mediator-Client "
    "header from a trusted Information Mediator; every data call states its purpose (`purpose` or X-Purpose).",
    auth=SystemAuth(header_required=True),
    urls_namespace="govstack-dr",
    docs_url="/docs",
)


class BadRequest(DomainError):
    code = "bad_request"
    status = 400


class SchemaVersionMismatch(Conflict):
    code = "schema_version_mismatch"


# --- error bodies ---------------------------------------------------------------------------------------------


def _error(request: HttpRequest, status: int, code: str, message: str,
           details: Iterable[FieldProblem] = ()) -> HttpResponse:
    return error_response(api, request, status, code, message, details)


install_error_handlers(api, log, unnamed_field="body")


# --- request bodies ---------------------------------------------------------------------------------------------


class Content(Schema):
    content: dict[str, Any]


class WriteBody(Schema):
    write: Content


class QueryBody(Schema):
    query: Content


class QueryAndWriteBody(Schema):
    query: Content | None = None
    write: Content


class ModifyBody(Schema):
    """The database API's modify body; the snake_case names GovStack's test material sends are accepted too."""

    model_config = ConfigDict(populate_by_name=True)

    group_name: str = Field("", alias="groupName")
    catalog_name: str = Field("", alias="catalogName")
    code: str
    schema_: dict[str, Any] = Field(alias="schema")


# --- helpers ----------------------------------------------------------------------------------------------------


def _version(text: str) -> int:
    match = VERSION.fullmatch(text.strip())
    if match is None:
        raise BadRequest(_("The version number names the registry's schema version, like 1 or 1.0."),
                         [FieldProblem("versionNumber", _("not a version number"))])
    return int(match.group(1))


def _refuse_other_version(registry: Registry, version: int) -> None:
    """A call naming another schema version than the registry's is refused; ask only once the caller is known
    to have a right to the registry."""
    if version != registry.schema_version:
        raise SchemaVersionMismatch(_("This registry's schema is at version %(current)d, not %(asked)d.")
                                    % {"current": registry.schema_version, "asked": version},
                                    [FieldProblem("versionNumber", _("the current version is %(current)d")
                                                  % {"current": registry.schema_version})])


def _reading_registry(caller: Caller, registry_name: str, version_number: str, purpose: str, action: str
                      ) -> Registry:
    version = _version(version_number)
    door.check_statement(purpose)
    reader = caller.reader()
    registry = registry_or_refused(reader, registry_name, purpose=purpose, action=action)
    if version != registry.schema_version:
        try:
            door.resolve_right(reader, registry)
        except door.Refused:
            return registry  # the door refuses this caller itself, and audits it: the version tells it nothing
        _refuse_other_version(registry, version)
    return registry


def _writing_registry(caller: Caller, registry_name: str, version_number: str, purpose: str, operation: str
                      ) -> Registry:
    """The registry to write, once the caller's purpose and right to write it are established: what the write
    asks for is looked at only then."""
    version = _version(version_number)
    door.check_statement(purpose)
    registry = registry_or_refused(caller.reader(), registry_name, purpose=purpose, action="exchange.write_refused")
    writes.require_write_right(caller.client, registry, operation=operation, purpose=purpose,
                               calling_system=caller.calling_system)
    _refuse_other_version(registry, version)
    return registry


def _key_names(registry: Registry) -> set[str]:
    return {spec.name for spec in door.codec_for(registry).schema.key_fields}


def _is_key_query(registry: Registry, content: Mapping[str, Any]) -> bool:
    return set(content) == _key_names(registry)


def _query_content(body: Content | None) -> dict[str, Any]:
    if body is None or not body.content:
        raise BadRequest(_("Query not provided."), [FieldProblem("query.content", _("Name at least one field."))])
    return body.content


def _echo(registry: Registry, values: Mapping[str, Any]) -> dict[str, Any]:
    """The written values as stored (cleaned): what the caller sent, never anything read."""
    cleaned, problems = door.codec_for(registry).schema.clean(values, value_context(), partial=True)
    raise_if_problems(problems)
    return cleaned


def _key_of(registry: Registry, value: str) -> dict[str, Any]:
    """A key given in the path, as the value of the registry's first key field. A composite key cannot be given
    so; the missing key fields are then named as required, once the caller's right is known."""
    return {door.codec_for(registry).schema.key_fields[0].name: value}


def _no_record(request: HttpRequest) -> HttpResponse:
    return api.create_response(request, NO_RECORD, status=404)


def _read_one(caller: Caller, registry: Registry, content: Mapping[str, Any], purpose: str,
              fields: list[str] | None = None) -> door.Reading | None:
    """The first record matching the query, through the door; None when none does."""
    reader = caller.reader()
    if _is_key_query(registry, content):
        try:
            return door.read_record(reader, registry, content, purpose=purpose, fields=fields)
        except door.Refused as error:
            if error.reason == door.Reason.NOT_FOUND:
                return None
            raise
    found = door.search(reader, registry, filters=content, purpose=purpose, fields=fields, page=1, page_size=1)
    return found.readings[0] if found.readings else None


def _records_for_write(caller: Caller, registry: Registry, content: Mapping[str, Any], purpose: str, *,
                       operation: str, at_most: int | None) -> list[int]:
    """Ids of the records a write's query names: by key through writes (which checks the write right), or by a
    search through the door (a query is a read). With `at_most`, more matches than that are refused."""
    if _is_key_query(registry, content):
        record = writes.find_for_write(caller.client, registry, content, operation=operation, purpose=purpose,
                                       calling_system=caller.calling_system, must_exist=operation != "update_or_create")
        return [record.pk] if record is not None else []
    reader = caller.reader()
    if at_most is not None:
        found = door.search(reader, registry, filters=content, purpose=purpose, fields=list(content), page=1,
                            page_size=at_most + 1)
        if found.total > at_most:
            raise Conflict(_("The query matches %(count)d records; name one record, or use updateEntries.")
                           % {"count": found.total}, [FieldProblem("query.content", _("matches several records"))])
        return [reading.record_id for reading in found.readings]
    _fields, readings = door.stream(reader, registry, purpose=purpose, fields=list(content), filters=content)
    return [reading.record_id for reading in readings]


def _page_url(request: HttpRequest, page: int) -> str:
    parameters = request.GET.copy()
    parameters["page"] = str(page)
    return request.build_absolute_uri(request.path + "?" + urlencode(list(parameters.lists()), doseq=True))


# --- the data API ---------------------------------------------------------------------------------------------
# Literal paths come before the parameterised ones they would otherwise match.


# Who read a person's data is the privacy app's query (above this app): it registers it when it starts.
PersonalDataUsage = Callable[[str, Registry], list[dict[str, Any]]]
_personal_data_usage: list[PersonalDataUsage] = []


def register_personal_data_usage(provider: PersonalDataUsage) -> None:
    """Answer myPersonalDataUsage with `provider(subject, registry)`: the spec's PersonalDataUsage items."""
    _personal_data_usage[:] = [provider]


class DataReference(Schema):
    ReferenceID: str


class PersonalDataUsageItem(Schema):
    """The spec's PersonalDataUsage (its spelling of `refrences` kept)."""

    id: str
    readerId: str
    readerInitials: str
    readerInstitutionId: str
    readerInstitutionName: str
    readerApplicationName: str
    searchDateTime: str
    refrences: list[DataReference]


def _data_subject(user_id: str) -> str:
    subject = user_id.strip().upper()
    if not subject:
        raise BadRequest(_("Name the person."), [FieldProblem("userId", _("This parameter is required."))])
    if not (ric.is_valid(subject) or uscc.is_valid(subject)):
        raise BadRequest(_("Invalid ID supplied."), [FieldProblem("userId", _("not a valid resident ID number or "
                                                                              "unified social credit code"))])
    return subject


@api.get("/data/myPersonalDataUsage", operation_id="DPU", summary="myPersonalDataUsage",
         response={200: list[PersonalDataUsageItem]})
@api.get("/data/MyPersonalDataUsage/1.0", operation_id="DPU_versioned", include_in_schema=False,
         response={200: list[PersonalDataUsageItem]})
def my_personal_data_usage(request: HttpRequest, userId: str = "", databaseId: str = "",
                           ) -> list[dict[str, Any]] | HttpResponse:
    """Who has read a person's data in one registry (see the module's docstring for who may ask)."""
    caller = caller_of(request)
    purpose, _case = door.check_statement(purpose_of(request))
    subject = _data_subject(userId)
    if not databaseId.strip():
        raise BadRequest(_("Name the registry."), [FieldProblem("databaseId", _("This parameter is required."))])
    reader = caller.reader()
    registry = registry_or_refused(reader, databaseId.strip(), purpose=purpose, action="exchange.usage_refused")
    if not purpose or registry.department_id != caller.client.department_id:
        error = door.Refused(door.Reason.NO_GRANT if purpose else door.Reason.NO_PURPOSE)
        audit.record_alone("exchange.usage_refused", reader.actor(), object_type="registry", object_id=registry.code,
                           purpose=purpose, result=Result.DENIED,
                           detail={"reason": error.code, "calling_system": reader.calling_system})
        raise error
    if not _personal_data_usage:
        return _error(request, 501, "not_implemented", _("Personal data usage is not available on this node."))
    with transaction.atomic():
        items = _personal_data_usage[0](subject, registry)
        audit.record("exchange.personal_data_usage", reader.actor(), object_type="registry", object_id=registry.code,
                     subjects=[subject], purpose=purpose,
                     detail={"calling_system": reader.calling_system, "count": len(items)})
    return items


@api.get("/data/{registryName}/{versionNumber}", operation_id="list", summary="list")
def list_records(request: HttpRequest, registryName: str, versionNumber: str, search: str = "",
                 filter: str = "", ordering: str = "", page: int = 1, pageSize: int = DEFAULT_PAGE_SIZE,
                 ) -> dict[str, Any]:
    caller = caller_of(request)
    unknown = [name for name in request.GET if name not in LIST_PARAMETERS and not name.startswith("query.")]
    if unknown:
        raise BadRequest(_("Unknown query parameters: %(names)s.") % {"names": ", ".join(unknown)},
                         [FieldProblem(name, _("not a parameter of this endpoint")) for name in unknown])
    if ordering.strip().lower() not in ASCENDING | DESCENDING:
        raise InvalidInput.for_field("ordering", _("Order records ascending (the order they were made) or "
                                                   "descending."))
    filters = {name[len("query."):]: value for name, value in request.GET.items() if name.startswith("query.")}
    parameters = {f"query.{name}": name for name in filters}
    if search and not filter:
        raise InvalidInput.for_field("filter", _("Name the field to search in."))
    if filter:
        filters[filter] = search
        parameters["filter"] = filter
    if page < 1:
        raise InvalidInput.for_field("page", _("Pages are counted from 1."))
    if not 1 <= pageSize <= door.MAX_PAGE_SIZE:
        raise InvalidInput.for_field("pageSize", _("Ask for 1 to %(max)d records a page.")
                                     % {"max": door.MAX_PAGE_SIZE})
    purpose = purpose_of(request)
    registry = _reading_registry(caller, registryName, versionNumber, purpose, "exchange.search_refused")
    refuse_unknown_fields(caller.reader(), registry, parameters)
    found = door.search(caller.reader(), registry, filters=filters, purpose=purpose, page=page, page_size=pageSize,
                        descending=ordering.strip().lower() in DESCENDING)
    return {"count": found.total,
            "next": _page_url(request, page + 1) if found.has_next else None,
            "previous": _page_url(request, page - 1) if page > 1 else None,
            "results": [reading.values for reading in found.readings]}


@api.post("/data/{registryName}/{versionNumber}/create", operation_id="create", summary="create")
def create(request: HttpRequest, registryName: str, versionNumber: str, body: WriteBody
           ) -> dict[str, Any]:
    caller = caller_of(request)
    purpose = purpose_of(request)
    registry = _writing_registry(caller, registryName, versionNumber, purpose, "create")
    written = writes.create_record(caller.client, registry, body.write.content, purpose=purpose,
                                   calling_system=caller.calling_system)
    return {"content": written}


@api.post("/data/{registryName}/{versionNumber}/exists", operation_id="exists", summary="exists")
def exists(request: HttpRequest, registryName: str, versionNumber: str, body: QueryBody
           ) -> dict[str, Any]:
    caller = caller_of(request)
    content = _query_content(body.query)
    purpose = purpose_of(request)
    registry = _reading_registry(caller, registryName, versionNumber, purpose, "exchange.read_refused")
    # Only the fields the caller named are read: they are all it learns about, besides the answer.
    found = _read_one(caller, registry, content, purpose, fields=list(content)) is not None
    message = _("Object found from database") if found else _("Object not found from database")
    return {"answer": {"status": found, "message": message}}


@api.post("/data/{registryName}/{versionNumber}/read", operation_id="read", summary="read")
def read(request: HttpRequest, registryName: str, versionNumber: str, body: QueryBody
         ) -> HttpResponse | dict[str, Any]:
    caller = caller_of(request)
    content = _query_content(body.query)
    purpose = purpose_of(request)
    registry = _reading_registry(caller, registryName, versionNumber, purpose, "exchange.read_refused")
    reading = _read_one(caller, registry, content, purpose)
    if reading is None:
        return _no_record(request)
    return {"content": reading.values}


def _update_one(request: HttpRequest, registry_name: str, version_number: str, body: QueryAndWriteBody,
                *, create_missing: bool) -> HttpResponse | dict[str, Any]:
    caller = caller_of(request)
    purpose = purpose_of(request)
    operation = "update_or_create" if create_missing else "update"
    registry = _writing_registry(caller, registry_name, version_number, purpose, operation)
    values = body.write.content
    if body.query is not None:
        query = _query_content(body.query)
    else:
        query = {name: values[name] for name in _key_names(registry) if name in values}
        if set(query) != _key_names(registry):
            raise BadRequest(_("Query not provided."), [FieldProblem("query.content", _(
                "Without a query, write.content must hold the record's key."))])
    ids = _records_for_write(caller, registry, query, purpose, operation=operation, at_most=1)
    if ids:
        writes.update_records(caller.client, registry, ids, values, purpose=purpose,
                              calling_system=caller.calling_system)
        return {"content": _echo(registry, values)}
    if not create_missing:
        return _no_record(request)
    written = writes.create_record(caller.client, registry, {**query, **values}, purpose=purpose,
                                   calling_system=caller.calling_system)
    return {"content": written}


@api.put("/data/{registryName}/{versionNumber}/update", operation_id="update", summary="update")
def update(request: HttpRequest, registryName: str, versionNumber: str, body: QueryAndWriteBody
           ) -> HttpResponse | dict[str, Any]:
    return _update_one(request, registryName, versionNumber, body, create_missing=False)


@api.put("/data/{registryName}/{versionNumber}/updateEntries", operation_id="updateEntries",
         summary="updateEntries")
@api.put("/data/{registryName}/{versionNumber}/update-entries", operation_id="updateEntriesKebab",
         summary="updateEntries (kebab-case spelling)")
def update_entries(request: HttpRequest, registryName: str, versionNumber: str,
                   body: QueryAndWriteBody) -> dict[str, Any]:
    caller = caller_of(request)
    query = _query_content(body.query)
    purpose = purpose_of(request)
    registry = _writing_registry(caller, registryName, versionNumber, purpose, "update_entries")
    ids = _records_for_write(caller, registry, query, purpose, operation="update_entries", at_most=None)
    changed = writes.update_records(caller.client, registry, ids, body.write.content, purpose=purpose,
                                    calling_system=caller.calling_system)
    return {"matched": len(ids), "updated": changed}


@api.post("/data/{registryName}/{versionNumber}/updateOrCreate", operation_id="updateOrCreate",
          summary="updateOrCreate")
@api.post("/data/{registryName}/{versionNumber}/update-or-create", operation_id="updateOrCreateKebab",
          summary="updateOrCreate (kebab-case spelling)")
def update_or_create(request: HttpRequest, registryName: str, versionNumber: str,
                     body: QueryAndWriteBody) -> HttpResponse | dict[str, Any]:
    return _update_one(request, registryName, versionNumber, body, create_missing=True)


@api.delete("/data/{registryName}/{versionNumber}/{ID}/delete", operation_id="delete", summary="delete")
def delete(request: HttpRequest, registryName: str, versionNumber: str, ID: str) -> HttpResponse:
    caller = caller_of(request)
    purpose = purpose_of(request)
    registry = _writing_registry(caller, registryName, versionNumber, purpose, "delete")
    ids = _records_for_write(caller, registry, _key_of(registry, ID), purpose, operation="delete", at_most=1)
    if not ids:
        return _error(request, 404, "not_found", _("Provided id does not exist in the database."))
    writes.delete_record(caller.client, registry, Record.objects.get(pk=ids[0]), purpose=purpose,
                         calling_system=caller.calling_system)
    return HttpResponse(status=204)


@api.get("/data/{registryName}/{versionNumber}/{uuid}/readValue/{field}.{ext}", operation_id="readValue",
         summary="readValue")
@api.get("/data/{registryName}/{versionNumber}/{uuid}/read-value/{field}.{ext}", operation_id="readValueKebab",
         summary="readValue (kebab-case spelling)")
def read_value(request: HttpRequest, registryName: str, versionNumber: str, uuid: str, field: str,
               ext: str) -> Any:
    caller = caller_of(request)
    if ext.lower() != "json":
        raise BadRequest(_("Values are served as json only."), [FieldProblem("ext", _("use json"))])
    purpose = purpose_of(request)
    registry = _reading_registry(caller, registryName, versionNumber, purpose, "exchange.read_refused")
    reading = door.read_record(caller.reader(), registry, _key_of(registry, uuid), purpose=purpose,
                               fields=[field])
    value = reading.values[field]
    if value is None or isinstance(value, str):
        return api.create_response(request, value or "", status=200)
    return {"value": value}


# --- the database API -----------------------------------------------------------------------------------------


def _known_registries(caller: Caller) -> QuerySet[Registry]:
    """The registries a client may know of: its own department's, and those published in the catalog."""
    return (Registry.objects.filter(Q(department=caller.client.department)
                                    | Q(catalog_resource__status=ResourceStatus.PUBLISHED))
            .select_related("department", "catalog_resource").order_by("pk"))


def _database_info(registry: Registry) -> dict[str, Any]:
    specs = door.codec_for(registry).schema.fields
    resource = getattr(registry, "catalog_resource", None)
    return {
        "id": registry.pk,
        "version": str(registry.schema_version),
        "name": registry.code,
        "description": registry.description or registry.name,
        "institution": registry.department.name,
        "schema": json_schema_of(specs),
        "schemaTags": [],
        "schemaFlags": [{"name": "mandatory", "path": f"/{spec.name}"} for spec in specs if spec.required],
        "fieldsUniques": [[spec.name] for spec in specs if spec.unique],
        "isDraft": resource is None or resource.status != ResourceStatus.PUBLISHED,
        "isDisabled": False,
        "isArchived": False,
        "modifiedAt": registry.updated_at.isoformat(),
    }


@api.get("/databases", operation_id="databases", summary="All databases")
def databases(request: HttpRequest) -> dict[str, Any]:
    caller = caller_of(request)
    return {"id": 1, "name": _("Registries"), "code": "registries",
            "databases": [_database_info(registry) for registry in _known_registries(caller)]}


@api.post("/database/modify", operation_id="databaseModify", summary="Modify a database's schema")
def database_modify(request: HttpRequest, body: ModifyBody) -> dict[str, Any]:
    """The new schema of one of the caller's department's registries (JSON schema, as /database/{id} gives it,
    with the x-zhengtong- attributes that keep each field's sensitivity, grading, masking and encryption)."""
    caller = caller_of(request)
    registry = Registry.objects.filter(code=body.code, department=caller.client.department).first()
    if registry is None:
        # Not one of the caller's registries, or no registry at all: one answer for both.
        audit.record_alone("exchange.schema_change_refused", actor_of(caller.client), object_type="registry",
                           object_id=body.code[:100], result=Result.DENIED,
                           detail={"calling_system": caller.calling_system})
        raise NotPermitted(_("Only the provider department's own systems change a registry's schema."))
    specs, problems = specs_from_json_schema(body.schema_)
    raise_if_problems(problems)
    registry = registries.change_schema(caller.client, registry, specs)
    return json_schema_of(door.codec_for(registry).schema.fields)


@api.get("/database/{int:id}", operation_id="databaseRead", summary="One database with its schema")
def database_read(request: HttpRequest, id: int) -> dict[str, Any]:
    registry = _known_registries(caller_of(request)).filter(pk=id).first()
    if registry is None:
        raise Http404(_("There is no database with this id."))
    return _database_info(registry)


@api.delete("/database/{int:id}", operation_id="databaseDelete", summary="Delete a database (not offered)")
def database_delete(request: HttpRequest, id: int) -> HttpResponse:
    return _error(request, 501, "not_implemented", _("Registries are not deleted through this API: their records "
                                                     "and history are kept. A provider retires a registry on the "
                                                     "registry pages."))
