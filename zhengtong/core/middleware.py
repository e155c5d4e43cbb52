"""Request id, access log and request metrics for every request."""

import re
import time
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

from zhengtong.core import metrics
from zhengtong.core.context import RequestContext, reset_current_request, set_current_request

REQUEST_ID_HEADER = "X-Request-ID"
# An id passed in by a trusted proxy is kept only when it is short and plain, so it cannot forge log lines.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
log = structlog.get_logger("zhengtong.request")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _ACCEPTABLE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        token = set_current_request(RequestContext(request_id, request.META.get("REMOTE_ADDR") or None))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except Exception:
            log.exception("request failed", method=request.method, path=request.path)
            raise
        finally:
            reset_current_request(token)
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        metrics.observe_request(request.method or "", route, response.status_code, elapsed)
        response[REQUEST_ID_HEADER] = request_id
        log.info(
            "request",
            method=request.method,
            path=request.path,
            route=route,
            status=response.status_code,
            duration_ms=round(elapsed * 1000, 1),
        )
        return response


def _route_name(request: HttpRequest) -> str:
    """The URL pattern's name, so metrics do not get one series per distinct path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"
