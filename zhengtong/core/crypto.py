"""The crypto suite chosen by ZHENGTONG_CRYPTO_SUITE: `intl` (SHA-256) or `gm` (国密 SM3)."""

from cryptography.hazmat.primitives import hashes
from django.conf import settings

HASHES: dict[str, type[hashes.HashAlgorithm]] = {"intl": hashes.SHA256, "gm": hashes.SM3}
HASH_NAMES = {"intl": "sha256", "gm": "sm3"}


def suite() -> str:
    return str(settings.CRYPTO_SUITE)


def hash_name(suite_name: str | None = None) -> str:
    return HASH_NAMES[suite_name or suite()]


def digest(data: bytes, suite_name: str | None = None) -> bytes:
    """The suite's hash of `data`: SHA-256 for intl, SM3 for gm (both 32 bytes)."""
    hasher = hashes.Hash(HASHES[suite_name or suite()]())
    hasher.update(data)
    return hasher.finalize()


def digest_named(data: bytes, name: str) -> bytes:
    """Hash with the algorithm named as stored beside a value (so values survive a change of suite)."""
    by_name = {value: key for key, value in HASH_NAMES.items()}
    return digest(data, by_name[name])
