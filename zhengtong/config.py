"""Settings read from the environment.

Every setting the platform accepts is declared here once, with its parser and default. Start-up stops with a
message naming each unknown or malformed setting, so a typo in a deployment never silently falls back to a
default.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PREFIX = "ZHENGTONG_"
CRYPTO_SUITES = ("intl", "gm")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """One or more settings are unknown or malformed; `problems` maps each name to its reason."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        lines = [f"{name}: {reason}" for name, reason in problems.items()]
        super().__init__("invalid configuration:\n  " + "\n  ".join(lines))


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def _parse_choice(choices: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _parse_int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _parse_hosts(raw: str) -> list[str]:
    hosts = [host.strip() for host in raw.split(",") if host.strip()]
    if not hosts:
        raise ValueError("must list at least one host name, separated by commas")
    for host in hosts:
        if any(char.isspace() for char in host) or "/" in host:
            raise ValueError(f"{host!r} is not a host name")
    return hosts


def _parse_networks(raw: str) -> list[str]:
    networks = [item.strip() for item in raw.split(",") if item.strip()]
    for item in networks:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return networks


def _parse_host_port(raw: str) -> tuple[str, int]:
    host, _sep, port = raw.strip().rpartition(":") if ":" in raw else (raw.strip(), "", "25")
    if not host or any(char.isspace() or char == "/" for char in host):
        raise ValueError(f"must be host or host:port, got {raw!r}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"the port must be a number from 1 to 65535, got {port!r}")
    return host, int(port)


def _parse_database_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme in ("sqlite",):
        if not parts.path or parts.path == "/":
            raise ValueError("a sqlite URL needs a file path, like sqlite:////srv/zhengtong/db.sqlite3")
        return raw.strip()
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        if not parts.path.strip("/"):
            raise ValueError("a PostgreSQL URL needs a database name, like postgres://user@host:5432/zhengtong")
        return raw.strip()
    raise ValueError(f"must start with sqlite:// or postgres://, got {raw!r}")


def _parse_secret_key(raw: str) -> str:
    if len(raw) < 50:
        raise ValueError("must be at least 50 characters long")
    return raw


def _parse_key_material(raw: str) -> bytes:
    text = raw.strip()
    try:
        material = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("must be 32 random bytes as 64 hex digits or base64") from None
    if len(material) != 32:
        raise ValueError(f"must be 32 random bytes as 64 hex digits or base64, got {len(material)} bytes")
    return material


def _parse_path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("must be a directory path")
    return Path(raw.strip()).expanduser().resolve()


def _parse_text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str


def _parse_upstreams(raw: str) -> dict[str, tuple[int, int | None]]:
    """`host[:port]=SECONDS[/RETRIES]`, comma-separated: one proxied upstream's timeout and retries."""
    upstreams: dict[str, tuple[int, int | None]] = {}
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        host, _sep, limits = item.partition("=")
        seconds, _sep, retries = limits.partition("/")
        if not host.strip() or any(c.isspace() or c == "/" for c in host.strip()):
            raise ValueError(f"{item!r} must read host[:port]=SECONDS[/RETRIES]")
        upstreams[host.strip().lower()] = (_parse_int_between(1, 300)(seconds),
                                           _parse_int_between(0, 5)(retries) if retries else None)
    return upstreams


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", _parse_database_url, None, "database; SQLite under the var directory when unset"),
    Setting(PREFIX + "SECRET_KEY", _parse_secret_key, None, "Django secret key; generated into var/ when unset"),
    Setting(PREFIX + "CRYPTO_SUITE", _parse_choice(CRYPTO_SUITES), "intl", "intl (SHA-256, AES-GCM) or gm (SM3, SM4)"),
    Setting(PREFIX + "ALLOWED_HOSTS", _parse_hosts, ["127.0.0.1", "localhost"], "host names served"),
    Setting(PREFIX + "DEBUG", _parse_bool, False, "Django debug mode; never in production"),
    Setting(PREFIX + "VAR_DIR", _parse_path, None, "where the database, secret key and logs live"),
    Setting(PREFIX + "SESSION_IDLE_MINUTES", _parse_int_between(1, 480), 30, "idle minutes before logout"),
    Setting(PREFIX + "LOG_LEVEL", _parse_choice(LOG_LEVELS, upper=True), "INFO", "lowest level logged"),
    Setting(PREFIX + "SECURE_COOKIES", _parse_bool, False, "send cookies over HTTPS only"),
    Setting(PREFIX + "METRICS_ALLOWED_NETWORKS", _parse_networks, ["127.0.0.0/8", "::1/128"],
            "addresses that may read /metrics"),
    Setting(PREFIX + "AUDIT_WITNESS", _parse_text, None,
            "file or http(s) URL receiving every signed audit tree head; var/audit-witness.jsonl when unset"),
    Setting(PREFIX + "KEY_ENCRYPTION_KEY", _parse_key_material, None,
            "key that wraps the registries' data keys; var/keys/key-encryption.key when unset"),
    Setting(PREFIX + "SITE_NAME", _parse_text, "云溪市一体化政务服务平台", "site name shown in pages and metadata"),
    Setting(PREFIX + "SITE_ID_CODE", _parse_text, "0000000000", "the government website identification code"),
    Setting(PREFIX + "IM_TRUSTED_NETWORKS", _parse_networks, [],
            "addresses of Information Mediator (X-Road) security servers whose Information-Mediator-Client "
            "header alone identifies the calling system"),
    Setting(PREFIX + "SMTP_HOST", _parse_host_port, None,
            "mail server (host or host:port) for notices to staff; written to var/mail/ as files when unset"),
    Setting(PREFIX + "MAIL_FROM", _parse_text, "noreply@localhost", "sender address of the platform's mail"),
    Setting(PREFIX + "IM_INSTANCE", _parse_text, "CN-YX", "this platform's Information Mediator instance id"),
    Setting(PREFIX + "SITE_URL", _parse_text, "",
            "the platform's public address (https://...), for links in mail and text messages"),
    Setting(PREFIX + "SMS_BACKEND", _parse_text, "file",
            "how text messages to applicants are sent: console (the log), file (var/sms/outbox.jsonl) or the "
            "dotted path of a provider's backend class"),
    Setting(PREFIX + "PROXY_CONNECT_TIMEOUT", _parse_int_between(1, 60), 3,
            "seconds to connect to a department's API"),
    Setting(PREFIX + "PROXY_TIMEOUT", _parse_int_between(1, 300), 10,
            "seconds a department's API has to answer one call, in full"),
    Setting(PREFIX + "PROXY_RETRIES", _parse_int_between(0, 5), 2,
            "retries of an idempotent call that failed before the API began to answer"),
    Setting(PREFIX + "PROXY_UPSTREAMS", _parse_upstreams, {},
            "per API host: host[:port]=SECONDS[/RETRIES], comma-separated, overriding the two above"),
    Setting(PREFIX + "PROXY_FAILURE_THRESHOLD", _parse_int_between(1, 100), 5,
            "failed calls in a row that open an API's circuit"),
    Setting(PREFIX + "PROXY_COOLDOWN", _parse_int_between(1, 3600), 30,
            "seconds an open circuit waits before one trial call"),
    Setting(PREFIX + "PROXY_ALLOWED_NETWORKS", _parse_networks, [],
            "networks besides public addresses where departments' APIs may be: the extranet, loopback "
            "(never link-local)"),
    Setting(PREFIX + "WEBHOOK_ALLOWED_NETWORKS", _parse_networks, [],
            "private networks (CIDR) that subscription webhooks may be delivered to, e.g. the e-government extranet"),
    Setting(PREFIX + "BENCH_BASELINE", _parse_bool, False,
            "serve the gateway's unchecked baseline endpoint for bench/gateway.py; never in production"),
)


_BY_NAME = {setting.name: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Config:
    values: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def load_config(environ: Mapping[str, str], *, default_var_dir: Path) -> Config:
    """Parse every known setting; raise ConfigError naming each unknown or malformed one."""
    problems: dict[str, str] = {}
    for name in sorted(environ):
        if name.startswith(PREFIX) and name not in _BY_NAME:
            problems[name] = "unknown setting (known: " + ", ".join(sorted(_BY_NAME)) + ")"
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name)
        if raw is None or (raw == "" and setting.name == "DATABASE_URL"):
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as error:
            problems[setting.name] = str(error)
    if problems:
        raise ConfigError(problems)
    if values[PREFIX + "VAR_DIR"] is None:
        values[PREFIX + "VAR_DIR"] = default_var_dir
    return Config(values)


def read_or_create_secret_key(var_dir: Path) -> str:
    """The secret key kept in var/secret_key, created with owner-only permissions on first run.

    Written whole to a private file first and then linked into place, so a process starting at the same moment
    never reads a half-written key: it either wins the link or reads the winner's key.
    """
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    draft = var_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(64))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process won; use its key
    finally:
        draft.unlink()
    return path.read_text().strip()
