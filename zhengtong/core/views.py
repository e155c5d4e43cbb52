"""Operational endpoints: liveness, readiness and metrics."""

import ipaddress

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from zhengtong.core import metrics


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return JsonResponse({"status": "unavailable", "database": type(error).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "0.0.0.0"))  # noqa: S104
    if not any(client in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS):
        return HttpResponse("metrics are not served to this address\n", status=403, content_type="text/plain")
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
