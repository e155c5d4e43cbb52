"""Prometheus metrics for the running platform.

With several server processes, set PROMETHEUS_MULTIPROC_DIR (`zhengtong serve` does) so /metrics sums them.
"""

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

REQUESTS = Counter("zhengtong_http_requests", "HTTP requests served", ["method", "route", "status"])
REQUEST_SECONDS = Histogram("zhengtong_http_request_seconds", "Time to serve an HTTP request", ["route"])
LOGINS = Counter("zhengtong_login_events", "Login events by kind", ["event"])


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    REQUEST_SECONDS.labels(route=route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
