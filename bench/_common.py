"""Shared set-up for the benchmarks: a dedicated PostgreSQL database, a var directory, Django.

Nothing here is timed. Every benchmark calls `configure(...)` before it imports anything from Django or the
project, because the settings are read from the environment once, at import.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

SERVER_URL = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
PROJECT_DIR = Path(__file__).resolve().parent.parent


def database_url(name: str) -> str:
    return f"{SERVER_URL.rstrip('/')}/{name}"


def admin_connection():  # noqa: ANN201 (psycopg is imported lazily)
    """An autocommit connection to the server's `postgres` database, for CREATE/DROP DATABASE."""
    import psycopg

    return psycopg.connect(database_url("postgres"), autocommit=True)


def database_exists(name: str) -> bool:
    with admin_connection() as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def recreate_database(name: str) -> None:
    from psycopg import sql

    with admin_connection() as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def configure(database: str, var_dir: Path) -> None:
    """Point the project at `database` and `var_dir` and set Django up (call before importing the project)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "zhengtong.settings"
    os.environ["DATABASE_URL"] = database_url(database)
    os.environ["ZHENGTONG_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("ZHENGTONG_LOG_LEVEL", "WARNING")
    for name in [key for key in os.environ if key.startswith("ZHENGTONG_")]:
        if name not in ("ZHENGTONG_VAR_DIR", "ZHENGTONG_LOG_LEVEL", "ZHENGTONG_CRYPTO_SUITE"):
            del os.environ[name]  # a developer's own settings (witness URL, ...) must not leak into a benchmark
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, object]:
    import platform

    info: dict[str, object] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with admin_connection() as connection:
            info["postgres"] = connection.execute("SHOW server_version").fetchone()[0]
            for setting in ("synchronous_commit", "shared_buffers"):
                info[setting] = connection.execute(f"SHOW {setting}").fetchone()[0]
    except Exception as error:  # noqa: BLE001 (informational only)
        info["postgres"] = f"unknown ({error})"
    return info
