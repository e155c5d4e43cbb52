"""The GovStack Information Mediator directory services (X-Road metaservices) under /govstack/im/: listClients,
listMethods, allowedMethods and getOpenAPI, over the platform's real members, systems, services and grants (spec:
../shared/specs/govstack/information-mediator/directory-services-api.yaml).

Identifiers are the ones the Information-Mediator-Client header carries (callers.py), so what the directory says
can be called exactly as it says:

* instanceId is this platform's instance, the ZHENGTONG_IM_INSTANCE setting; no other instance is federated, so
  any other instance id answers 404.
* a member is a department, memberClass "GOV", memberCode its unified social credit code;
* an application (an X-Road subsystem) is one of its active API clients, applicationCode the client's key id;
* a service is one of the department's catalog resources that is published and shared (unconditionally or on
  conditions): a hosted registry, serviceCode the registry's code and serviceVersion its schema version, served
  by the gateway; or the department's own API, serviceCode the resource code, proxied by the gateway. A
  department's services are offered through each of its applications alike.
* allowedMethods lists those of a provider's services the caller may call: the ones its department holds a grant
  for that is active and in force today, and all of its own department's.

Authentication: the spec has no security section. Directory answers are for department systems, not for the
public: they name every department system and the grants between departments. So every call authenticates as
the gateway does (a bearer credential, or the Information-Mediator-Client header from a trusted Information
Mediator; 401 otherwise). On the r1 paths the spec's mandatory X-GovStack-Client header names the calling system
as INSTANCE/CLASS/MEMBER/SUBSYSTEM; missing, malformed, or naming another system than the authenticated one, it is
a bad request (400). No answer holds personal data: names of departments and their systems, codes, and paths.

Path segments: the spec declares them plain strings; they are checked with X-Road's rule for identifiers (1 to 255
characters, none of : ; / \\ % and no whitespace or control characters), and a malformed one answers 400 naming
it. A well-formed segment naming no instance, member class, member or application of this platform answers 404, as
does a serviceCode the provider does not offer.

getOpenAPI answers the service's OpenAPI 3.0 document as JSON (application/json). A caller whose Accept header
asks for text/yaml gets the same document as text/yaml: JSON text is valid YAML, so no second serialiser is
needed. Paths in endpoint lists and in the documents are relative to the service's base URL, which the document
gives as its server.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import NinjaAPI

from zhengtong.catalog.models import DataItem, Resource, ResourceStatus, SharingType
from zhengtong.core.errors import DomainError, FieldProblem
from zhengtong.identity.models import ApiClient, Department
from zhengtong.registries.schema import FieldSpec, json_schema_of

from . import door
from .callers import Caller, SystemAuth, caller_of, install_error_handlers, parse_mediator_client
from .models import Grant, GrantStatus

log = structlog.get_logger("zhengtong.directory")

MEMBER_CLASS = "GOV"
CLIENT_HEADER = "X-GovStack-Client"
SERVICE_TYPE = "OPENAPI3"
# X-Road's rule for identifiers: no separators of its identifier syntax, no whitespace or control characters.
IDENTIFIER = re.compile(r"[^:;/\\%\s\x00-\x1f\x7f]{1,255}")

api = NinjaAPI(title="GovStack Information Mediator directory services", version="1.0", urls_namespace="govstack-im",
               docs_url="/docs", auth=SystemAuth(),
               description="X-Road metaservices over the platform's departments (members), their API clients "
                           "(applications), their published resources (services) and grants. Systems "
                           "authenticate with `Authorization: Bearer <key id>.<secret>`, or by the "
                           "Information-Mediator-Client header from a trusted Information Mediator.")


class BadRequest(DomainError):
    code = "bad_request"
    status = 400


# --- error bodies ---------------------------------------------------------------------------------------------


install_error_handlers(api, log, unnamed_field="request")


# --- identifiers ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    """The application a path names: a department's active API client."""

    department: Department
    client: ApiClient


def _check_identifiers(**segments: str) -> None:
    # xgettext:no-python-format
    problems = [FieldProblem(name, _("Use 1 to 255 characters, without : ; / \\ % or spaces."))
                for name, value in segments.items() if not IDENTIFIER.fullmatch(value)]
    if problems:
        raise BadRequest(_("Malformed identifier: %(names)s.") % {"names": ", ".join(p.field for p in problems)},
                         problems)


def _require_instance(instance_id: str) -> None:
    if instance_id != settings.IM_INSTANCE:
        raise Http404(_("This platform serves instance %(ours)s only; %(asked)s is not federated with it.")
                      % {"ours": settings.IM_INSTANCE, "asked": instance_id})


def _provider(instance_id: str, member_class: str, member_code: str, application_code: str) -> Provider:
    _check_identifiers(instanceId=instance_id, memberClass=member_class, memberCode=member_code,
                       applicationCode=application_code)
    _require_instance(instance_id)
    if member_class != MEMBER_CLASS:
        raise Http404(_("There is no member class %(name)s here; members are of class %(ours)s.")
                      % {"name": member_class, "ours": MEMBER_CLASS})
    client = (ApiClient.objects.select_related("department")
              .filter(department__credit_code=member_code, key_id=application_code, revoked_at__isnull=True).first())
    if client is None:
        raise Http404(_("No member %(member)s with application %(application)s is registered here.")
                      % {"member": member_code, "application": application_code})
    return Provider(client.department, client)


def _check_client_header(request: HttpRequest, caller: Caller) -> None:
    """The spec's X-GovStack-Client header: present, well-formed, and naming the authenticated system."""
    raw = request.headers.get(CLIENT_HEADER)
    if raw is None:
        raise BadRequest(_("The X-GovStack-Client header is required."),
                         [FieldProblem(CLIENT_HEADER, _("Name the calling system."))])
    named = parse_mediator_client(raw)
    if named is None:
        raise BadRequest(_("The X-GovStack-Client header must read INSTANCE/CLASS/MEMBER/SUBSYSTEM."),
                         [FieldProblem(CLIENT_HEADER, _("not INSTANCE/CLASS/MEMBER/SUBSYSTEM"))])
    client = caller.client
    if (named.instance, named.member_class, named.member, named.subsystem) != (
            settings.IM_INSTANCE, MEMBER_CLASS, client.department.credit_code, client.key_id):
        raise BadRequest(_("The X-GovStack-Client header must name the calling system itself."),
                         [FieldProblem(CLIENT_HEADER, _("names another system than the one authenticated"))])


def _client_id(client: ApiClient) -> dict[str, str]:
    return {"objectType": "APPLICATION", "instanceId": settings.IM_INSTANCE, "memberClass": MEMBER_CLASS,
            "memberCode": client.department.credit_code, "applicationCode": client.key_id}


# --- services -------------------------------------------------------------------------------------------------


def _services_of(department: Department) -> QuerySet[Resource]:
    return (Resource.objects.filter(provider=department, status=ResourceStatus.PUBLISHED)
            .exclude(sharing_type=SharingType.NONE).exclude(sharing_type="")
            .select_related("registry").prefetch_related("items").order_by("code", "pk"))


def service_code(resource: Resource) -> str:
    """A hosted registry is called by its registry's code, a department's API by its resource code."""
    return resource.registry.code if resource.registry is not None else resource.code or ""


def _matching(resources: Iterable[Resource], code: str | None) -> list[Resource]:
    return [r for r in resources if code is None or service_code(r) == code]


def _endpoints(resource: Resource) -> list[dict[str, str]]:
    if resource.registry is not None:
        return [{"method": "GET", "path": "/records/{key}"}, {"method": "GET", "path": "/records"},
                {"method": "GET", "path": "/export"}]
    return [{"method": resource.http_method or "GET", "path": "/"}]


def _service_details(provider: Provider, resource: Resource) -> dict[str, Any]:
    details: dict[str, Any] = {
        "objectType": "SERVICE", "serviceType": SERVICE_TYPE, "instanceId": settings.IM_INSTANCE,
        "memberClass": MEMBER_CLASS, "memberCode": provider.department.credit_code,
        "applicationCode": provider.client.key_id, "serviceCode": service_code(resource),
        "endpointList": {"member": _endpoints(resource)},
    }
    if resource.registry is not None:
        details["serviceVersion"] = str(resource.registry.schema_version)
    return details


def _granted_resource_ids(department: Department, today: dt.date) -> set[int]:
    return set(Grant.objects.filter(consumer=department, status=GrantStatus.ACTIVE, valid_from__lte=today,
                                    valid_until__gte=today).values_list("resource_id", flat=True))


def service_base(request: HttpRequest, resource: Resource) -> str:
    """The absolute URL a service's endpoint paths are relative to: the gateway's."""
    if resource.registry is not None:
        records = reverse("api:search_records", kwargs={"code": resource.registry.code})
        return request.build_absolute_uri(records.removesuffix("/records"))
    return request.build_absolute_uri(reverse("api:call_service", kwargs={"resource_code": resource.code}))


# --- OpenAPI documents ------------------------------------------------------------------------------------------


def _openapi_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A registry JSON schema as an OpenAPI 3.0 schema object: only standard keywords; the platform's own field
    attributes (sensitivity, masking, encryption) are the catalog's business, not a caller's."""
    properties = {name: {key: value for key, value in prop.items() if not key.startswith("x-") and key != "primaryKey"}
                  for name, prop in schema["properties"].items()}
    return {"type": "object", "properties": properties, **({"required": schema["required"]}
                                                          if schema["required"] else {})}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _purpose_parameters() -> list[dict[str, Any]]:
    return [
        {"name": "purpose", "in": "query", "schema": {"type": "string", "maxLength": door.MAX_PURPOSE},
         "description": _("Why the data is read; required, here or as the X-Purpose header.")},
        {"name": "X-Purpose", "in": "header", "schema": {"type": "string"},
         "description": _("The purpose, when not given as a query parameter.")},
        {"name": "case_reference", "in": "query",
         "schema": {"type": "string", "maxLength": door.MAX_CASE_REFERENCE},
         "description": _("The case the read belongs to.")},
    ]


def _refusals() -> dict[str, Any]:
    error = _ref("Error")
    content = {"application/json": {"schema": error}}
    return {"401": {"description": _("Not authenticated."), "content": content},
            "403": {"description": _("Refused: no purpose, no grant, or fields outside the grant."),
                    "content": content},
            "429": {"description": _("The grant's quota or rate is used up."), "content": content}}


def _error_schema() -> dict[str, Any]:
    problem = {"type": "object", "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}}
    return {"type": "object", "required": ["code", "message", "details"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "details": {"type": "array", "items": problem}}}


def _registry_paths(resource: Resource) -> tuple[dict[str, Any], dict[str, Any]]:
    assert resource.registry is not None
    record = _openapi_schema(json_schema_of(door.codec_for(resource.registry).schema.fields))
    reading = {"type": "object", "required": ["registry", "id", "version", "values", "masked"],
               "properties": {"registry": {"type": "string"}, "id": {"type": "integer"},
                              "version": {"type": "integer"}, "values": _ref("Record"),
                              "masked": {"type": "array", "items": {"type": "string"}}}}
    page = {"type": "object", "required": ["items", "page", "page_size", "total", "has_next"],
            "properties": {"items": {"type": "array", "items": _ref("Reading")},
                           "page": {"type": "integer"}, "page_size": {"type": "integer"},
                           "total": {"type": "integer"}, "has_next": {"type": "boolean"}}}
    fields = {"name": "fields", "in": "query", "schema": {"type": "string"},
              "description": _("Comma-separated fields to return; all the grant covers when empty.")}
    json_of: dict[str, Any] = {"application/json": {"schema": {}}}
    paths = {
        "/records/{key}": {"get": {
            "operationId": "read", "summary": _("Read one record by its key"),
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
                           *_purpose_parameters(), fields],
            "responses": {"200": {"description": _("The record, masked by the caller's grant."),
                                  "content": {"application/json": {"schema": _ref("Reading")}}},
                          "404": {"description": _("No such record.")}, **_refusals()}}},
        "/records": {"get": {
            "operationId": "search", "summary": _("Search records; other query parameters are field filters"),
            "parameters": [*_purpose_parameters(), fields,
                           {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                           {"name": "page_size", "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": door.MAX_PAGE_SIZE}}],
            "responses": {"200": {"description": _("One page of records."),
                                  "content": {"application/json": {"schema": _ref("Page")}}},
                          **_refusals()}}},
        "/export": {"get": {
            "operationId": "export", "summary": _("Export every record the grant covers, streamed"),
            "parameters": [*_purpose_parameters(), fields,
                           {"name": "format", "in": "query",
                            "schema": {"type": "string", "enum": ["csv", "xlsx", "json"], "default": "csv"}}],
            "responses": {"200": {"description": _("The records as CSV, XLSX or JSON."),
                                  "content": {"text/csv": {"schema": {"type": "string"}}, **json_of}},
                          **_refusals()}}},
    }
    return paths, {"Record": record, "Reading": reading, "Page": page}


def _item_spec(item: DataItem) -> FieldSpec:
    return FieldSpec(name=item.name, type=item.type, label=item.label, label_en=item.label_en,
                     description=item.description)


def _api_paths(resource: Resource) -> tuple[dict[str, Any], dict[str, Any]]:
    answer = _openapi_schema(json_schema_of(_item_spec(item) for item in resource.items.all()))
    reading = {"type": "object", "required": ["resource", "items", "single", "masked"],
               "properties": {"resource": {"type": "string"}, "items": {"type": "array", "items": _ref("Answer")},
                              "single": {"type": "boolean", "description": _("The API answered one object, not a "
                                                                             "list.")},
                              "masked": {"type": "array", "items": {"type": "string"}}}}
    operation = {
        "operationId": "call", "summary": resource.name,
        "description": resource.service_description,
        "parameters": _purpose_parameters(),
        "responses": {"200": {"description": _("The department's answer, masked by the caller's grant; items not "
                                               "declared in the catalog are left out."),
                              "content": {"application/json": {"schema": _ref("ServiceReading")}}},
                      "404": {"description": _("The department's API refused the request.")},
                      "502": {"description": _("The department's API failed.")},
                      "503": {"description": _("The department's API is failing; calls are paused.")},
                      "504": {"description": _("The department's API did not answer in time.")},
                      **_refusals()},
    }
    return ({"/": {(resource.http_method or "GET").lower(): operation}},
            {"Answer": answer, "ServiceReading": reading})


def openapi_document(request: HttpRequest, provider: Provider, resource: Resource) -> dict[str, Any]:
    """The OpenAPI 3.0 description of one service, as the gateway serves it."""
    paths, schemas = _registry_paths(resource) if resource.registry is not None else _api_paths(resource)
    version = str(resource.registry.schema_version) if resource.registry is not None else "1"
    return {
        "openapi": "3.0.3",
        "info": {"title": resource.name, "version": version,
                 "description": resource.summary or resource.service_description,
                 "x-provider": provider.department.name, "x-resource-code": resource.code or ""},
        "servers": [{"url": service_base(request, resource)}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": {**schemas, "Error": _error_schema()},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": _("<key id>.<secret> of the API client")}}},
    }


# --- endpoints ------------------------------------------------------------------------------------------------

R1 = "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}"


@api.get("/listClients", operation_id="listClients", summary="List clients defined in the instance")
def list_clients(request: HttpRequest, instanceId: str | None = None) -> dict[str, Any]:
    """Every department with an active system (MEMBER), and each of those systems (APPLICATION)."""
    if instanceId is not None:
        _check_identifiers(instanceId=instanceId)
        _require_instance(instanceId)
    clients = ApiClient.objects.filter(revoked_at__isnull=True).select_related("department").order_by(
        "department__code", "name", "pk")
    members: list[dict[str, Any]] = []
    seen: set[int] = set()
    for client in clients:
        if client.department_id not in seen:
            seen.add(client.department_id)
            members.append({"name": client.department.name,
                            "id": {"objectType": "MEMBER", "instanceId": settings.IM_INSTANCE,
                                   "memberClass": MEMBER_CLASS, "memberCode": client.department.credit_code}})
        members.append({"name": client.name, "id": _client_id(client)})
    return {"member": members}


@api.get(R1 + "/listMethods", operation_id="listMethods",
         summary="List REST services and endpoints for a service provider")
def list_methods(request: HttpRequest, instanceId: str, memberClass: str, memberCode: str, applicationCode: str,
                 serviceId: str | None = None) -> dict[str, Any]:
    provider = _provider(instanceId, memberClass, memberCode, applicationCode)
    _check_client_header(request, caller_of(request))
    services = _matching(_services_of(provider.department), serviceId)
    return {"member": [_service_details(provider, resource) for resource in services]}


@api.get(R1 + "/allowedMethods", operation_id="allowedMethods",
         summary="List of allowed REST services and endpoints for a service provider")
def allowed_methods(request: HttpRequest, instanceId: str, memberClass: str, memberCode: str,
                    applicationCode: str, serviceId: str | None = None) -> dict[str, Any]:
    provider = _provider(instanceId, memberClass, memberCode, applicationCode)
    caller = caller_of(request)
    _check_client_header(request, caller)
    services = _matching(_services_of(provider.department), serviceId)
    if caller.client.department_id != provider.department.pk:
        granted = _granted_resource_ids(caller.client.department, timezone.localdate())
        services = [resource for resource in services if resource.pk in granted]
    return {"member": [_service_details(provider, resource) for resource in services]}


@api.get(R1 + "/getOpenAPI", operation_id="getOpenAPI", summary="Returns OpenAPI service description for a REST "
                                                                "service")
def get_openapi(request: HttpRequest, instanceId: str, memberClass: str, memberCode: str, applicationCode: str,
                serviceCode: str) -> HttpResponse:
    provider = _provider(instanceId, memberClass, memberCode, applicationCode)
    _check_client_header(request, caller_of(request))
    if not serviceCode.strip():
        raise BadRequest(_("Name the service."), [FieldProblem("serviceCode", _("This field is required."))])
    found = _matching(_services_of(provider.department).filter(Q(registry__code=serviceCode) | Q(code=serviceCode)),
                      serviceCode)
    if not found:
        raise Http404(_("This provider offers no service %(code)s.") % {"code": serviceCode})
    document = openapi_document(request, provider, found[0])
    if "yaml" in request.headers.get("Accept", "") and "json" not in request.headers.get("Accept", ""):
        return HttpResponse(json.dumps(document, ensure_ascii=False, indent=2), content_type="text/yaml")
    return api.create_response(request, document, status=200)
