"""Who is calling the gateway and the GovStack APIs: always a department system (an API client).

A system proves who it is in one of two ways:

* `Authorization: Bearer <key id>.<secret>`, from any address;
* behind an Information Mediator (an X-Road security server) at an address the operator lists in
  ZHENGTONG_IM_TRUSTED_NETWORKS, by the `Information-Mediator-Client` header alone, with no bearer credential:
  the security server has already authenticated the calling member's subsystem.

The header reads INSTANCE/CLASS/MEMBER/SUBSYSTEM (for example `eGovStack/GOV/91330100MA2XXXXX0X/3f9a1c2b4d5e6f70`).
It names an API client when MEMBER is the unified social credit code of the client's department and SUBSYSTEM is
the client's key id. Key ids are unique, so at most one client can match, and the member part must be that
client's own department, so a header cannot borrow another member's system. INSTANCE and CLASS are not checked:
the security server vouches for them. From a trusted address, a header that is malformed, names no client, or
names a revoked one is refused as unauthenticated (401).

From any other address — or alongside a bearer credential — the header is only a label: it goes to the door as
the calling system and so into every audit entry, and the caller must still authenticate. The client address is
REMOTE_ADDR, as everywhere in the platform (the audit trail, /metrics): X-Forwarded-For is never trusted, so a
reverse proxy in front of the platform must be the trusted address itself.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from zhengtong.core.errors import DomainError, FieldProblem
from zhengtong.identity.actions import authenticate_api_client
from zhengtong.identity.models import ApiClient

from . import door

HEADER = "Information-Mediator-Client"
PURPOSE_HEADER = "X-Purpose"
_PART = r"[^/\s]{1,100}"
_MEDIATOR_CLIENT = re.compile(rf"({_PART})/({_PART})/({_PART})/({_PART})")


class BadMediatorHeader(DomainError):
    """The Information-Mediator-Client header is missing where the API requires it, or is malformed."""

    code = "bad_mediator_header"
    status = 400

    def __init__(self, message: str):
        super().__init__(message, [FieldProblem(HEADER, message)])


@dataclass(frozen=True)
class MediatorClient:
    """The parts of an Information-Mediator-Client header."""

    instance: str
    member_class: str
    member: str
    subsystem: str

    def __str__(self) -> str:
        return f"{self.instance}/{self.member_class}/{self.member}/{self.subsystem}"


def parse_mediator_client(value: str) -> MediatorClient | None:
    match = _MEDIATOR_CLIENT.fullmatch(value.strip())
    return MediatorClient(*match.groups()) if match else None


def client_named_by(header: MediatorClient) -> ApiClient | None:
    """The active client the header names (MEMBER = its department's credit code, SUBSYSTEM = its key id)."""
    return (ApiClient.objects.select_related("department")
            .filter(key_id=header.subsystem, department__credit_code=header.member, revoked_at__isnull=True)
            .first())


def is_trusted_address(address: str | None) -> bool:
    """Whether the request comes from an Information Mediator the operator trusts."""
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(client in ipaddress.ip_network(network, strict=False) for network in settings.IM_TRUSTED_NETWORKS)


@dataclass(frozen=True)
class Caller:
    """An authenticated department system, and the calling system it named (the header, "" without one)."""

    client: ApiClient
    calling_system: str = ""
    by_mediator: bool = False

    def reader(self) -> door.Reader:
        return door.Reader.system(self.client, calling_system=self.calling_system)


class SystemAuth(HttpBearer):
    """Ninja authentication for department systems only: a browser session is not enough (answers 401).

    With `header_required` (the GovStack APIs, whose specs make the header mandatory) a request without the
    Information-Mediator-Client header is a bad request (400) before anything else is looked at.
    """

    def __init__(self, *, header_required: bool = False):
        super().__init__()
        self.header_required = header_required

    def __call__(self, request: HttpRequest) -> Caller | None:
        raw = request.headers.get(HEADER)
        header = parse_mediator_client(raw) if raw is not None else None
        has_bearer = bool(request.headers.get("Authorization"))
        if raw is not None and not has_bearer and is_trusted_address(request.META.get("REMOTE_ADDR")):
            named = client_named_by(header) if header is not None else None
            if named is None:
                return None
            return self._accept(request, Caller(named, str(header), by_mediator=True))
        if raw is None and self.header_required:
            raise BadMediatorHeader(_("The Information-Mediator-Client header is required."))
        if raw is not None and header is None:
            raise BadMediatorHeader(_("The Information-Mediator-Client header must read "
                                      "INSTANCE/CLASS/MEMBER/SUBSYSTEM."))
        client = super().__call__(request)
        if client is None:
            return None
        return self._accept(request, Caller(client, str(header) if header is not None else ""))

    def authenticate(self, request: HttpRequest, token: str) -> ApiClient | None:
        return authenticate_api_client(token)

    @staticmethod
    def _accept(request: HttpRequest, caller: Caller) -> Caller:
        request.api_client = caller.client  # type: ignore[attr-defined]
        return caller


def caller_of(request: HttpRequest) -> Caller:
    """The caller SystemAuth accepted for this request."""
    caller: Any = getattr(request, "auth", None)
    if not isinstance(caller, Caller):
        raise TypeError("the endpoint is not guarded by SystemAuth")
    return caller


def purpose_of(request: HttpRequest) -> str:
    """The purpose of the call: the `purpose` query parameter, else the X-Purpose header. Header values arrive
    as ISO-8859-1 text; a purpose sent in UTF-8 (as Chinese purposes are) is decoded as such."""
    given = request.GET.get("purpose")
    if given is not None:
        return given.strip()
    header = request.headers.get(PURPOSE_HEADER, "")
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):  # not UTF-8 bytes: keep the text as it came
        header = header.encode("latin-1").decode("utf-8")
    return header.strip()


# --- error bodies of the APIs systems call ----------------------------------------------------------------------


def error_response(api: NinjaAPI, request: HttpRequest, status: int, code: str, message: str,
                   details: Iterable[FieldProblem] = ()) -> HttpResponse:
    body = {"code": code, "message": message, "details": [{"field": d.field, "reason": d.reason} for d in details]}
    return api.create_response(request, body, status=status)


def install_error_handlers(api: NinjaAPI, log: Any, *, unnamed_field: str) -> None:
    """Give a standard API (the GovStack ones) the platform's error body: malformed input is a bad request (400)
    naming each field (`unnamed_field` when the input as a whole is wrong), domain errors keep their status."""

    @api.exception_handler(ValidationError)
    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        details = [FieldProblem(".".join(str(part) for part in error.get("loc", [])[1:]) or unnamed_field,
                                str(error.get("msg", ""))) for error in exc.errors]
        return error_response(api, request, 400, "bad_request", "; ".join(f"{d.field}: {d.reason}" for d in details),
                              details)

    @api.exception_handler(DomainError)
    def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return error_response(api, request, exc.status, exc.code, exc.message, exc.details)

    @api.exception_handler(AuthenticationError)
    def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(api, request, 401, "not_authenticated", _(
            "Send an API client credential as a bearer token, or call through a trusted Information Mediator."))

    @api.exception_handler(Http404)
    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(api, request, 404, "not_found", str(exc) or _("Not found."))

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(api, request, exc.status_code, "http_error", str(exc))

    @api.exception_handler(Exception)
    def on_unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        log.exception("api error", path=request.path)
        return error_response(api, request, 500, "server_error", _(
            "Something went wrong on our side; quote request %(id)s when reporting it.")
            % {"id": getattr(request, "request_id", "")})
