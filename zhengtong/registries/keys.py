"""Envelope encryption of registry fields, and the keyed blind index that finds encrypted keys.

- The key-encryption key (KEK) comes from ZHENGTONG_KEY_ENCRYPTION_KEY, or from `VAR_DIR/keys/key-encryption.key`
  (created on first use, 0600). It never encrypts data; it wraps keys.
- Each registry has data keys, one per version, wrapped by the KEK under the suite's cipher (AES-256-GCM or
  SM4-GCM). New values are sealed under the newest key; a value records the version it was sealed with, so a
  rotation can re-seal records in batches while reads go on.
- Each registry has one index key for blind indexes: the suite's HMAC of a value. Exact lookups of encrypted
  keys such as resident IDs hash the value asked for and probe the same b-tree index as plain keys.

A sealed value is "<key version>:<base64 of nonce || ciphertext || tag>", bound by its associated data to the
registry and the field, so a value cut from one field and pasted into another does not open.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from zhengtong.core import crypto
from zhengtong.registries.models import DataKey, Registry

KEK_FILE_NAME = "key-encryption.key"
_kek_lock = threading.Lock()
_unwrapped: dict[tuple[int, int], bytes] = {}  # (registry id, version) → data key; version 0 is the index key


def kek_path() -> Path:
    return Path(settings.VAR_DIR) / "keys" / KEK_FILE_NAME


def read_key_material(text: str) -> bytes:
    """32 bytes of key material from 64 hex digits or base64, as the setting and the key file hold it."""
    text = text.strip()
    material = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    if len(material) != 32:
        raise ValueError("key material must be 32 bytes")
    return material


def kek_material() -> bytes:
    if settings.KEY_ENCRYPTION_KEY:
        return bytes(settings.KEY_ENCRYPTION_KEY)
    path = kek_path()
    with _kek_lock:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
            descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            try:
                os.link(draft, path)  # exactly one process's key wins
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        try:
            return read_key_material(path.read_text())
        except ValueError as error:
            raise ImproperlyConfigured(f"{path} does not hold 32 bytes of key material: {error}") from error


def kek_id(material: bytes) -> str:
    """Names a KEK without revealing it, so each wrapped key says which KEK opens it."""
    return crypto.hmac_digest(material, b"zhengtong key-encryption key id", "intl")[:8].hex()


def _kek_for(material: bytes, cipher: str) -> bytes:
    return crypto.hmac_digest(material, b"zhengtong key-encryption " + cipher.encode(), "intl")[
        : crypto.CIPHER_KEY_BYTES[cipher]
    ]


def wrap(material: bytes, cipher: str, key: bytes, label: str) -> bytes:
    return crypto.seal(cipher, _kek_for(material, cipher), key, label.encode())


def unwrap(material: bytes, cipher: str, wrapped: bytes, label: str) -> bytes:
    return crypto.open_sealed(cipher, _kek_for(material, cipher), bytes(wrapped), label.encode())


def index_label(registry: Registry) -> str:
    return f"registry:{registry.pk}:index-key"


def data_key_label(registry: Registry, version: int) -> str:
    return f"registry:{registry.pk}:data-key:{version}"


def index_cipher(registry: Registry) -> str:
    return crypto.cipher_name(registry.index_suite)


def create_keys(registry: Registry) -> None:
    """An index key and data key version 1 for a new registry (inside its creating transaction)."""
    material = kek_material()
    registry.index_suite = crypto.suite()
    registry.index_key_wrapped = wrap(material, index_cipher(registry), secrets.token_bytes(32),
                                      index_label(registry))
    registry.kek_id = kek_id(material)
    registry.save(update_fields=["index_suite", "index_key_wrapped", "kek_id"])
    add_data_key(registry, 1)


def add_data_key(registry: Registry, version: int) -> DataKey:
    material = kek_material()
    cipher = crypto.cipher_name()
    wrapped = wrap(material, cipher, crypto.new_cipher_key(cipher), data_key_label(registry, version))
    return DataKey.objects.create(registry=registry, version=version, cipher=cipher, wrapped_key=wrapped,
                                  kek_id=kek_id(material))


def forget_cached_keys() -> None:
    _unwrapped.clear()


class KeyRing:
    """A registry's keys, unwrapped once per process and kept in memory while the process lives."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._ciphers = dict(DataKey.objects.filter(registry=registry).values_list("version", "cipher"))
        self.current = max(
            DataKey.objects.filter(registry=registry, retired_at__isnull=True).values_list("version", flat=True),
            default=0,
        )
        if not self.current:
            raise ImproperlyConfigured(f"registry {registry.code} has no data key")
        self._index_key: bytes | None = None
        self._aeads: dict[int, crypto.Aead] = {}

    def _aead(self, version: int) -> crypto.Aead:
        aead = self._aeads.get(version)
        if aead is None:
            if version not in self._ciphers:
                self._ciphers = dict(DataKey.objects.filter(registry=self.registry).values_list("version", "cipher"))
            aead = self._aeads[version] = crypto.Aead(self._ciphers[version], self._data_key(version))
        return aead

    def _data_key(self, version: int) -> bytes:
        cache_key = (self.registry.pk, version)
        key = _unwrapped.get(cache_key)
        if key is None:
            row = DataKey.objects.get(registry=self.registry, version=version)
            key = unwrap(kek_material(), row.cipher, bytes(row.wrapped_key), data_key_label(self.registry, version))
            _unwrapped[cache_key] = key
        return key

    @property
    def index_key(self) -> bytes:
        if self._index_key is None:
            cache_key = (self.registry.pk, 0)
            key = _unwrapped.get(cache_key)
            if key is None:
                key = unwrap(kek_material(), index_cipher(self.registry), bytes(self.registry.index_key_wrapped),
                             index_label(self.registry))
                _unwrapped[cache_key] = key
            self._index_key = key
        return self._index_key

    def _associated_data(self, field: str) -> bytes:
        return f"{self.registry.pk}/{field}".encode()

    def seal(self, field: str, value: Any) -> str:
        plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        sealed = self._aead(self.current).seal(plaintext, self._associated_data(field))
        return f"{self.current}:{base64.b64encode(sealed).decode('ascii')}"

    @staticmethod
    def version_of(stored: str) -> int:
        return int(stored.split(":", 1)[0])

    def open(self, field: str, stored: str) -> Any:
        version_text, _sep, body = stored.partition(":")
        plaintext = self._aead(int(version_text)).open(base64.b64decode(body), self._associated_data(field))
        return json.loads(plaintext)

    def blind_index(self, text: str) -> str:
        """The keyed hash that stands in for an encrypted key or term, as 64 hex digits."""
        return crypto.hmac_digest(self.index_key, text.encode(), self.registry.index_suite).hex()
