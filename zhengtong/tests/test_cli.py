"""The `zhengtong` command: the production server, the worker and the admin account."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.core.management import CommandError, call_command
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from zhengtong.audit.actions import SYSTEM, record_alone
from zhengtong.audit.models import AuditEntry
from zhengtong.audit.proofs import latest_tree_head
from zhengtong.identity.models import User


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_runs_gunicorn_and_its_processes_share_metrics(tmp_path):
    port = free_port()
    environ = {**os.environ, "ZHENGTONG_VAR_DIR": str(tmp_path)}
    environ.pop("DATABASE_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "zhengtong", "serve", "--port", str(port), "--workers", "2"],
                              env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = b""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:  # noqa: S310
                    body = response.read()
                    server_header = response.headers.get("Server", "")
                break
            except OSError:
                time.sleep(0.2)
        assert body == b'{"status": "ok"}'
        assert "gunicorn" in server_header
        for _ in range(5):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()  # noqa: S310
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:  # noqa: S310
            metrics = response.read().decode()
        # Whichever process answered, /metrics counts the requests of all of them.
        counted = re.search(r'zhengtong_http_requests_total\{method="GET",route="healthz",status="200"\} (\S+)',
                            metrics)
        assert counted is not None and float(counted.group(1)) >= 6
    finally:
        server.terminate()
        server.wait(timeout=20)


@task()
def add_up(numbers: list[int]) -> int:
    return sum(numbers)


@pytest.mark.django_db(transaction=True)  # the worker commits and closes connections as it goes
def test_worker_runs_queued_tasks_and_stops_in_batch_mode():
    queued = add_up.enqueue([1, 2, 3])
    assert queued.status == TaskResultStatus.READY
    call_command("worker", "--batch")
    queued.refresh()
    assert queued.status == TaskResultStatus.SUCCESSFUL
    assert queued.return_value == 6


@pytest.mark.django_db(transaction=True)
def test_the_worker_sequences_the_audit_trail_and_checks_anomalies(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.AUDIT_WITNESS = str(tmp_path / "witness.jsonl")
    record_alone("test.event", SYSTEM)
    call_command("worker", "--batch")
    head = latest_tree_head()
    assert head is not None and head.tree_size == AuditEntry.objects.count()
    assert DBTaskResult.objects.filter(task_path__endswith="evaluate_recent_anomalies",
                                       status=TaskResultStatus.SUCCESSFUL).exists()


def test_createadmin_makes_a_superuser_with_the_admin_role(city, tmp_path, capsys):
    password_file = tmp_path / "password"
    password_file.write_text("Admin#2026pw\n")
    call_command("createadmin", "--username", "root", "--department", "CITY-CA", "--password-file",
                 str(password_file))
    admin = User.objects.get(username="root")
    assert admin.is_superuser and admin.check_password("Admin#2026pw")
    assert list(admin.groups.values_list("name", flat=True)) == ["platform_admin"]
    assert "authenticator" in capsys.readouterr().out


def test_createadmin_applies_the_password_policy(city, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("rootroot")
    with pytest.raises(CommandError, match="password"):
        call_command("createadmin", "--username", "root", "--department", "CITY-CA", "--password-file",
                     str(password_file))
    assert not User.objects.filter(username="root").exists()


def test_createadmin_names_an_unknown_department(db, tmp_path):
    with pytest.raises(CommandError, match="--department"):
        call_command("createadmin", "--username", "root", "--department", "NOPE", "--password-file", "/dev/null")
