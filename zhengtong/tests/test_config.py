"""Settings come from the environment; an unknown or malformed one stops start-up with its name."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zhengtong.config import ConfigError, load_config, read_or_create_secret_key

VAR = Path("/tmp/zhengtong-test-var")


def load(**environ):
    return load_config(environ, default_var_dir=VAR)


def test_defaults_need_no_settings():
    config = load()
    assert config["ZHENGTONG_CRYPTO_SUITE"] == "intl"
    assert config["DATABASE_URL"] is None
    assert config["ZHENGTONG_VAR_DIR"] == VAR
    assert config["ZHENGTONG_ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]


def test_values_are_parsed():
    config = load(ZHENGTONG_CRYPTO_SUITE="GM", ZHENGTONG_ALLOWED_HOSTS="gov.example, www.gov.example",
                  ZHENGTONG_DEBUG="yes", ZHENGTONG_SESSION_IDLE_MINUTES="15",
                  DATABASE_URL="postgres://zt@db.internal:5432/zhengtong", ZHENGTONG_SMTP_HOST="mail.gov.example:587")
    assert config["ZHENGTONG_CRYPTO_SUITE"] == "gm"
    assert config["ZHENGTONG_SMTP_HOST"] == ("mail.gov.example", 587)
    assert load(ZHENGTONG_SMTP_HOST="mail.gov.example")["ZHENGTONG_SMTP_HOST"] == ("mail.gov.example", 25)
    assert config["ZHENGTONG_ALLOWED_HOSTS"] == ["gov.example", "www.gov.example"]
    assert config["ZHENGTONG_DEBUG"] is True
    assert config["ZHENGTONG_SESSION_IDLE_MINUTES"] == 15


def test_the_key_encryption_key_is_read_from_hex_or_base64():
    material = bytes(range(32))
    assert load(ZHENGTONG_KEY_ENCRYPTION_KEY=material.hex())["ZHENGTONG_KEY_ENCRYPTION_KEY"] == material
    assert load(ZHENGTONG_KEY_ENCRYPTION_KEY=base64.b64encode(material).decode())[
        "ZHENGTONG_KEY_ENCRYPTION_KEY"] == material


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("ZHENGTONG_CRYPTO_SUITE", "rot13", "must be one of intl, gm"),
        ("ZHENGTONG_DEBUG", "maybe", "true or false"),
        ("ZHENGTONG_SESSION_IDLE_MINUTES", "0", "between 1 and 480"),
        ("ZHENGTONG_SESSION_IDLE_MINUTES", "ten", "whole number"),
        ("ZHENGTONG_SECRET_KEY", "short", "at least 50"),
        ("DATABASE_URL", "mysql://root@localhost/zt", "sqlite:// or postgres://"),
        ("DATABASE_URL", "postgres://root@localhost", "database name"),
        ("ZHENGTONG_METRICS_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-net", "not an IP"),
        ("ZHENGTONG_ALLOWED_HOSTS", " , ", "at least one host"),
        ("ZHENGTONG_CRYPTO_SUIT", "gm", "unknown setting"),
        ("ZHENGTONG_KEY_ENCRYPTION_KEY", "ab" * 31, "32 random bytes"),
        ("ZHENGTONG_KEY_ENCRYPTION_KEY", "not base64!", "32 random bytes"),
        ("ZHENGTONG_SMTP_HOST", "mail.gov.example:0", "port must be a number from 1 to 65535"),
        ("ZHENGTONG_SMTP_HOST", "mail gov", "host or host:port"),
        ("ZHENGTONG_IM_TRUSTED_NETWORKS", "10.0.0.300", "not an IP"),
    ],
)
def test_bad_settings_are_named_with_the_reason(name, value, reason):
    with pytest.raises(ConfigError) as error:
        load(**{name: value})
    assert list(error.value.problems) == [name]
    assert reason in error.value.problems[name]
    assert name in str(error.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        load(ZHENGTONG_CRYPTO_SUITE="x", ZHENGTONG_DEBUG="x", ZHENGTONG_NOPE="1")
    assert set(error.value.problems) == {"ZHENGTONG_CRYPTO_SUITE", "ZHENGTONG_DEBUG", "ZHENGTONG_NOPE"}


def test_the_secret_key_is_generated_once_and_kept_private(tmp_path):
    key = read_or_create_secret_key(tmp_path)
    assert len(key) >= 50
    assert read_or_create_secret_key(tmp_path) == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_the_command_refuses_to_start_with_a_bad_setting(tmp_path):
    environ = {**os.environ, "ZHENGTONG_CRYPTO_SUITE": "des", "ZHENGTONG_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "zhengtong", "check"], env=environ, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "ZHENGTONG_CRYPTO_SUITE: must be one of intl, gm, got 'des'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_runs_django_checks_with_good_settings(tmp_path):
    environ = {**os.environ, "ZHENGTONG_VAR_DIR": str(tmp_path)}
    environ.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "zhengtong", "check"], env=environ, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    assert (tmp_path / "secret_key").exists()
