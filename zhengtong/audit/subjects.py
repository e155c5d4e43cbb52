"""Data subjects are kept in the trail as keyed hashes of their identity numbers.

An auditor who types a resident ID finds every entry about that person; someone holding only the database
learns nothing from the hashes without the key, which lives in var/ beside the secret key, never in the database.
"""

from __future__ import annotations

import functools
import os
import secrets

from django.conf import settings

from zhengtong.core import crypto

KEY_FILE = "audit_subject_key"


@functools.cache
def _key() -> bytes:
    path = settings.VAR_DIR / KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(32)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.hex())
    return key


def normalise(identifier: str) -> str:
    return identifier.strip().upper()


def subject_hash(identifier: str) -> str:
    """The keyed hash under which entries about this identity number are stored and searched."""
    return crypto.hmac_digest(_key(), normalise(identifier).encode()).hex()
