"""The bytes of an entry that its leaf hash covers: every recorded field, in one canonical JSON form.

The sequencer hashes these when it sequences an entry, and `zhengtong audit verify` hashes them again from the
stored row: any change to any field of a stored entry changes its leaf hash.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

LEAF_FIELDS = (
    "id", "occurred_at", "actor_kind", "actor_id", "actor_name", "actor_department", "actor_roles",
    "on_behalf_of", "action", "object_type", "object_id", "subjects", "fields", "purpose", "legal_basis",
    "case_reference", "result", "request_id", "client_address", "detail",
)


# One encoder for every entry: the sequencer and `verify` canonicalise every row, so this is on their hot path.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return value


def leaf_data_from_values(values: dict[str, Any]) -> bytes:
    """Canonical bytes from a row's values (as read with .values(*LEAF_FIELDS))."""
    return _ENCODER.encode({name: _plain(values[name]) for name in LEAF_FIELDS}).encode()

