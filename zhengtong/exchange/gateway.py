"""The gateway: department systems read registry records, and call other departments' own APIs, through the
one door, under /api/v1/gateway/.

Only systems call it: a bearer credential, or the Information-Mediator-Client header from a trusted Information
Mediator (see callers.py); a browser session answers 401. Every call states its purpose (the `purpose` query
parameter or the X-Purpose header); the door refuses without one. Refusals answer in the API's error body with
the door's own code and status, and an unknown registry is refused exactly as one the caller has no grant for,
so a refused call never tells whether a registry or a record exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.errors import AuthenticationError

from zhengtong.audit import actions as audit
from zhengtong.audit.models import Result
from zhengtong.catalog.models import Resource
from zhengtong.core.errors import FieldProblem, InvalidInput
from zhengtong.registries.models import Registry
from zhengtong.registries.queries import find_record

from . import door, exports
from .callers import SystemAuth, caller_of, purpose_of

SYSTEM_AUTH = SystemAuth()
# Query parameters of the search and the export that are not filters; a registry field of the same name cannot
# be filtered on.
SEARCH_PARAMETERS = ("purpose", "case_reference", "fields", "page", "page_size")
EXPORT_PARAMETERS = ("purpose", "case_reference", "fields", "format")
# Query parameters of a service call that are the gateway's own; every other one goes to the department's API.
SERVICE_PARAMETERS = ("purpose", "case_reference")

router = Router(tags=["gateway"], auth=SYSTEM_AUTH)


class ReadingOut(Schema):
    registry: str
    id: int
    version: int
    values: dict[str, Any]
    masked: list[str]


class PageOut(Schema):
    items: list[ReadingOut]
    page: int
    page_size: int
    total: int
    has_next: bool


def reading_body(reading: door.Reading) -> dict[str, Any]:
    return {"registry": reading.registry, "id": reading.record_id, "version": reading.version,
            "values": reading.values, "masked": list(reading.masked)}


def check_paging(page: int, page_size: int) -> None:
    """The door's own checks of a page, made before the registry is looked up so that they answer alike for
    registries that exist and registries that do not."""
    if page < 1:
        raise InvalidInput.for_field("page", _("Pages are counted from 1."))
    if not 1 <= page_size <= door.MAX_PAGE_SIZE:
        raise InvalidInput.for_field("page_size", _("Ask for 1 to %(max)d records a page.")
                                     % {"max": door.MAX_PAGE_SIZE})


def registry_or_refused(reader: door.Reader, code: str, *, purpose: str, action: str) -> Registry:
    """The registry with this code. For an unknown code, the refusal the door gives a reader with no grant
    (no purpose first, as the door checks it first), audited the same way, so that nobody learns from a
    refusal whether a registry exists."""
    registry = Registry.objects.filter(code=code).first()
    if registry is not None:
        return registry
    error = door.Refused(door.Reason.NO_GRANT if purpose.strip() else door.Reason.NO_PURPOSE)
    audit.record_alone(action, reader.actor(), object_type="registry", object_id=code[:100], purpose=purpose.strip(),
                       result=Result.DENIED,
                       detail={"reason": error.code, "calling_system": reader.calling_system, "fields": []})
    raise error


def refuse_unknown_fields(reader: door.Reader, registry: Registry, fields_by_parameter: Mapping[str, str]) -> None:
    """Name the parameters whose field is not in the registry (422). Only once the reader is known to have a
    right to the registry: a reader without one learns nothing of its fields, and the door refuses it next."""
    by_name = door.codec_for(registry).schema.by_name
    unknown = [parameter for parameter, name in fields_by_parameter.items() if name not in by_name]
    if not unknown:
        return
    try:
        door.resolve_right(reader, registry)
    except door.Refused:
        return
    reason = _("There is no such field in this registry.")
    raise InvalidInput("; ".join(f"{parameter}: {reason}" for parameter in unknown),
                       [FieldProblem(parameter, reason) for parameter in unknown])


def field_list(fields: str) -> list[str] | None:
    """`a,b` as ["a", "b"]; nothing asked for means every field the right covers."""
    names = [name.strip() for name in fields.split(",") if name.strip()]
    return names or None


def key_of(registry: Registry, key: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The key as the door takes it: the path's value for the first key field, and any further key fields of
    a composite key from the query. The door checks it, after the right, so a wrong key reveals nothing."""
    first = door.codec_for(registry).schema.key_fields[0].name
    return {**extra, first: key}


@router.get("/gateway/registries/{code}/records/{key}", response=ReadingOut, summary="Read one record by its key")
def read_record(request: HttpRequest, code: str, key: str, purpose: str = "", case_reference: str = "",
                fields: str = "") -> dict[str, Any]:
    """The record with this key, masked by the caller's right. For a composite key the path holds the first
    key field's value and the query names the others (`?division_code=330100&period=2024`)."""
    caller = caller_of(request)
    reader = caller.reader()
    purpose = purpose_of(request)
    # Checked before the registry is looked up, so the answer is the same whether it exists or not.
    door.check_statement(purpose, case_reference)
    registry = registry_or_refused(reader, code, purpose=purpose, action="exchange.read_refused")
    extra = {name: value for name, value in request.GET.items() if name not in SEARCH_PARAMETERS}
    reading = door.read_record(reader, registry, key_of(registry, key, extra), purpose=purpose,
                               case_reference=case_reference, fields=field_list(fields))
    return reading_body(reading)


@router.get("/gateway/registries/{code}/records", response=PageOut, summary="Search records by their fields")
def search_records(request: HttpRequest, code: str, purpose: str = "", case_reference: str = "", fields: str = "",
                   page: int = 1, page_size: int = 50) -> dict[str, Any]:
    """Records whose fields equal every other query parameter (`?division_code=330106`), a page at a time, in
    the order they were made. A parameter that is not a field of the registry is refused, naming it."""
    caller = caller_of(request)
    reader = caller.reader()
    purpose = purpose_of(request)
    # Checked before the registry is looked up, so the answer is the same whether it exists or not.
    door.check_statement(purpose, case_reference)
    filters = _filters(request, SEARCH_PARAMETERS)
    check_paging(page, page_size)
    registry = registry_or_refused(reader, code, purpose=purpose, action="exchange.search_refused")
    refuse_unknown_fields(reader, registry, {name: name for name in filters})
    found = door.search(reader, registry, filters=filters, purpose=purpose, case_reference=case_reference,
                        fields=field_list(fields), page=page, page_size=page_size)
    return {"items": [reading_body(r) for r in found.readings], "page": found.page, "page_size": found.page_size,
            "total": found.total, "has_next": found.has_next}


@router.get("/gateway/registries/{code}/export", summary="Export records as CSV, XLSX or JSON (streamed)")
def export_records(request: HttpRequest, code: str, format: str = "csv", purpose: str = "",
                   case_reference: str = "", fields: str = "") -> StreamingHttpResponse:
    """Every record the caller's grant covers (narrowed by filters as in the search), streamed as it is read:
    masked by the grant, audited batch by batch, counted as one call against the grant's quota."""
    caller = caller_of(request)
    reader = caller.reader()
    purpose = purpose_of(request)
    door.check_statement(purpose, case_reference)
    exports.parse_format(format)
    filters = _filters(request, EXPORT_PARAMETERS)
    registry = registry_or_refused(reader, code, purpose=purpose, action="exchange.export_refused")
    refuse_unknown_fields(reader, registry, {name: name for name in filters})
    return exports.export_response(reader, registry, fmt=format, purpose=purpose, case_reference=case_reference,
                                   fields=field_list(fields), filters=filters, english=False)


class ServiceOut(Schema):
    resource: str
    items: list[dict[str, Any]]
    single: bool
    masked: list[str]


@router.api_operation(["GET", "POST"], "/gateway/services/{path:resource_code}", response=ServiceOut,
                      summary="Call a department's API through the gateway")
def call_service(request: HttpRequest, resource_code: str, purpose: str = "", case_reference: str = ""
                 ) -> dict[str, Any]:
    """Call a department's own API (a catalog resource of format API, by its code, slash included:
    `/gateway/services/307001/000001`). Every query parameter but `purpose` and `case_reference` goes to the
    API as it came; with POST, the JSON body goes too. The API is called with the method the catalog declares
    for it, under the same rules as a registry read: the caller's grant, its fields, consent, quota and rate.

    The answer: `items`, one object per row the API returned (`single` says it returned one object rather than
    a list; an object whose rows sit under `data`, `items`, `records`, `results`, `rows`, `list` or `result` is
    unwrapped), each with exactly the data items the grant covers, masked by the grant and the items' rules;
    keys the catalog does not declare are dropped. When the API fails: 502 `upstream_error`, 504
    `upstream_timeout`, 503 `circuit_open`, or `upstream_rejected` (404 or 422) when it refused the request."""
    caller = caller_of(request)
    reader = caller.reader()
    purpose = purpose_of(request)
    door.check_statement(purpose, case_reference)
    body = _json_body(request)
    resource = service_or_refused(reader, resource_code, purpose=purpose)
    if body is not None and resource.http_method in ("GET", "DELETE", ""):
        raise InvalidInput.for_field("body", _("This service is called with %(method)s and takes no body.")
                                     % {"method": resource.http_method or "GET"})
    params = [(name, value) for name in request.GET for value in request.GET.getlist(name)
              if name not in SERVICE_PARAMETERS]
    reading = door.call_service(reader, resource, purpose=purpose, case_reference=case_reference, params=params,
                                body=body)
    return {"resource": reading.resource, "items": reading.items, "single": reading.single,
            "masked": list(reading.masked)}


def _json_body(request: HttpRequest) -> Any:
    if request.method != "POST" or not request.body.strip():
        return None
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput.for_field("body", _("Send the body as JSON.")) from None


def service_or_refused(reader: door.Reader, code: str, *, purpose: str) -> Resource:
    """The API resource with this code. For a code that names none (or a registry's resource), the refusal the
    door gives a reader with no grant, audited the same way, as registry_or_refused does for registries."""
    resource = Resource.objects.filter(code=code, registry__isnull=True).exclude(endpoint_url="").first()
    if resource is not None:
        return resource
    error = door.Refused(door.Reason.NO_GRANT if purpose.strip() else door.Reason.NO_PURPOSE)
    audit.record_alone("exchange.read_service_refused", reader.actor(), object_type="resource",
                       object_id=code[:100], purpose=purpose.strip(), result=Result.DENIED,
                       detail={"reason": error.code, "calling_system": reader.calling_system, "fields": []})
    raise error


def _filters(request: HttpRequest, parameters: tuple[str, ...]) -> dict[str, str]:
    """The query parameters that are not the endpoint's own, as field filters (one value each)."""
    repeated = [name for name in request.GET if name not in parameters and len(request.GET.getlist(name)) > 1]
    if repeated:
        raise InvalidInput.for_field(repeated[0], _("Give one value to filter by."))
    return {name: str(value) for name, value in request.GET.items() if name not in parameters}


@router.get("/gateway/baseline/registries/{code}/records/{key}", auth=None, include_in_schema=False)
def bench_baseline_read(request: HttpRequest, code: str, key: str) -> dict[str, Any]:
    """FOR THE BENCHMARK ONLY (bench/gateway.py): the same record as read_record, opened with no right check, no
    masking and no audit, so the benchmark can measure what the door costs against a baseline served by the
    same process in the same run. Off unless ZHENGTONG_BENCH_BASELINE is true, and then it answers 404 exactly
    like a path that does not exist. The census of reads that bypass the door allows this function by name."""
    if not settings.BENCH_BASELINE:
        # The body of zhengtong.api.unknown_endpoint, which answers paths under /api/ that match nothing.
        raise Http404(_("There is no API endpoint at %(path)s.") % {"path": request.path})
    if not SYSTEM_AUTH(request):  # the caller still authenticates, as on the gateway, so only the door differs
        raise AuthenticationError()
    registry = Registry.objects.filter(code=code).first()
    if registry is None:
        raise door.Refused(door.Reason.NOT_FOUND)
    codec = door.codec_for(registry)  # cached as the door's is, so the two differ only by the door's work
    record = find_record(registry, key_of(registry, key, {}), codec=codec)
    if record is None:
        raise door.Refused(door.Reason.NOT_FOUND)
    values = codec.plain(record.data)
    return {"registry": registry.code, "id": record.pk, "version": record.version, "values": values, "masked": []}
