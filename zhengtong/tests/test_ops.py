"""What an operator relies on: health and readiness, Prometheus metrics, JSON logs with a request id."""

import json
import logging
from unittest import mock

import structlog
from django.db import connection


def test_healthz_answers_without_the_database(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_the_database(client, db):
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}
    with mock.patch.object(connection, "cursor", side_effect=RuntimeError("down")):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_metrics_count_requests_by_route(client, db):
    client.get("/healthz")
    body = client.get("/metrics").content.decode()
    assert 'zhengtong_http_requests_total{method="GET",route="healthz",status="200"}' in body
    assert "zhengtong_http_request_seconds_bucket" in body


def test_metrics_are_not_served_to_other_addresses(client, db):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403


def test_every_response_carries_a_request_id_and_keeps_a_plain_incoming_one(client, db):
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="trace-abc-12345")["X-Request-ID"] == "trace-abc-12345"
    # Anything that could forge a log line is replaced.
    assert client.get("/healthz", HTTP_X_REQUEST_ID='x"\n{evil}')["X-Request-ID"] != 'x"\n{evil}'


def test_requests_are_logged_as_json_with_the_request_id(client, db, caplog):
    json_handler = next(h for h in logging.getLogger().handlers
                        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter))
    with caplog.at_level(logging.INFO, logger="zhengtong.request"):
        client.get("/healthz", HTTP_X_REQUEST_ID="trace-abc-12345")
    record = next(r for r in caplog.records if r.name == "zhengtong.request")
    line = json_handler.format(record)
    assert "\n" not in line
    logged = json.loads(line)
    assert logged["request_id"] == "trace-abc-12345"
    assert logged["path"] == "/healthz" and logged["status"] == 200 and logged["level"] == "info"


def test_security_headers_are_set(client, db):
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
