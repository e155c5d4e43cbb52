"""The JSON API at /api/v1/: one NinjaAPI, every app's router, and one error body for every endpoint.

Errors always look like {"code": ..., "message": ..., "details": [{"field": ..., "reason": ...}]}.
"""

from typing import Any

import structlog
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from zhengtong.audit.api import router as audit_router
from zhengtong.catalog.api import router as catalog_router
from zhengtong.core.api import router as core_router
from zhengtong.core.errors import DomainError, FieldProblem
from zhengtong.exchange.api import router as sharing_router
from zhengtong.exchange.gateway import router as gateway_router
from zhengtong.identity.api import router as identity_router
from zhengtong.identity.auth import API_AUTH
from zhengtong.privacy.api import router as privacy_router
from zhengtong.registries.api import router as registries_router
from zhengtong.services.api import router as services_router

log = structlog.get_logger("zhengtong.api")

api = NinjaAPI(
    title="Zhengtong API",
    version="1",
    description="Zhengtong digital-government platform. Systems authenticate with "
    "`Authorization: Bearer <key id>.<secret>`; browsers use their session and the CSRF token.",
    auth=API_AUTH,
    urls_namespace="api",
    docs_url="/docs",
)
api.add_router("/", core_router)
api.add_router("/", audit_router)
api.add_router("/", identity_router)
api.add_router("/", registries_router)
api.add_router("/", catalog_router)
api.add_router("/", sharing_router)
api.add_router("/", gateway_router)
api.add_router("/", privacy_router)
api.add_router("/", services_router)


def error_response(request: HttpRequest, status: int, code: str, message: str,
                   details: list[FieldProblem] | None = None) -> HttpResponse:
    body = {
        "code": code,
        "message": message,
        "details": [{"field": d.field, "reason": d.reason} for d in details or []],
    }
    return api.create_response(request, body, status=status)


def _field_name(location: list[Any]) -> str:
    # Ninja locations look like ["body", "payload", "resident_id"] or ["query", "days"].
    parts = [str(part) for part in location[1:]]
    if len(location) > 2 and location[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or str(location[0])


def unknown_endpoint(request: HttpRequest, path: str) -> HttpResponse:
    """Paths under /api/ that match no endpoint still answer in the API's error shape, not an HTML page."""
    message = _("There is no API endpoint at %(path)s.") % {"path": request.path}
    return error_response(request, 404, "not_found", message)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [FieldProblem(_field_name(list(error.get("loc", []))), str(error.get("msg", ""))) for error in exc.errors]
    message = "; ".join(f"{d.field}: {d.reason}" for d in details)
    return error_response(request, 422, "validation_error", message, details)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "not_authenticated",
                          _("Log in, or send an API client credential as a bearer token."))


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(request, 403, "permission_denied", str(exc) or _("You do not have permission to do this."))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", str(exc) or _("Not found."))


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = "csrf_failed" if exc.status_code == 403 and "CSRF" in str(exc) else "http_error"
    return error_response(request, exc.status_code, code, str(exc))


@api.exception_handler(Exception)
def on_unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("api error", path=request.path)
    return error_response(request, 500, "server_error",
                          _("Something went wrong on our side; quote request %(id)s when reporting it.")
                          % {"id": getattr(request, "request_id", "")})
