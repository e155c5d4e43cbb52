"""Fixtures of the audit tests."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zhengtong.core import crypto


@pytest.fixture
def keys_and_witness(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """A signing key and a witness file of this test's own, so tests never share or reuse a tree's keys."""
    settings.VAR_DIR = tmp_path
    settings.AUDIT_WITNESS = str(tmp_path / "witness.jsonl")
    crypto.clear_signer_cache()
    yield tmp_path
    crypto.clear_signer_cache()
