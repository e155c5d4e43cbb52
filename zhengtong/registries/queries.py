"""Reads that carry rules: which registries a staff member may see, finding records by key or term, history.

Finding a record here returns the row, not its values for anyone to read: showing registry values is the one
door's job (it masks and audits). Lookups by encrypted keys hash the value asked for with the registry's index
key and probe the same index as plain keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from zhengtong.core.errors import raise_if_problems
from zhengtong.identity import scope
from zhengtong.registries.codec import RecordCodec, value_context
from zhengtong.registries.models import Record, RecordTerm, Registry
from zhengtong.registries.schema import Schema


def registries_for(user: Any) -> QuerySet[Registry]:
    """Registries the user may see: all of them for anyone holding the view permission (the catalog is open
    to staff who work with data); none otherwise."""
    if not scope.permitted(user, "registries.view_registry"):
        return Registry.objects.none()
    return Registry.objects.select_related("department").order_by("code")


def _key_input(codec: RecordCodec, key: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(key, Mapping):
        return dict(key)
    if len(codec.schema.key_fields) != 1:
        raise ValueError("a composite key is given as a mapping of its fields")
    return {codec.schema.key_fields[0].name: key}


def find_record(registry: Registry, key: str | Mapping[str, Any], *, codec: RecordCodec | None = None,
                include_deleted: bool = False) -> Record | None:
    """The record with this key (one value, or a mapping for a composite key), or None. The key is cleaned as
    on input, so 11010519491231002x finds 11010519491231002X."""
    codec = codec or RecordCodec(registry)
    values = _key_input(codec, key)
    key_schema = Schema(codec.schema.key_fields)
    cleaned, problems = key_schema.clean(values, value_context())
    raise_if_problems(problems)
    records = Record.objects.filter(registry=registry, key_value=codec.key_value(cleaned))
    if not include_deleted:
        records = records.filter(deleted_at__isnull=True)
    return records.first()


def find_by_term(registry: Registry, field: str, value: Any, *, codec: RecordCodec | None = None
                 ) -> QuerySet[Record]:
    """Live records whose indexed or unique `field` equals `value`."""
    codec = codec or RecordCodec(registry)
    spec = codec.schema.by_name[field]
    if not spec.searchable:
        raise ValueError(f"{field} is not an indexed field of {registry.code}")
    field_schema = Schema([spec])
    cleaned, problems = field_schema.clean({field: value}, value_context(), partial=True)
    raise_if_problems(problems)
    record_ids = RecordTerm.objects.filter(registry=registry, field=field,
                                           term=codec.term(spec, cleaned[field])).values("record_id")
    return Record.objects.filter(pk__in=record_ids, deleted_at__isnull=True)


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    action: str
    actor: str
    department: str
    at: datetime
    fields: list[str]
    reason: str


def history(record: Record) -> list[HistoryEntry]:
    """Who changed what, when, under which action: the creation, then every change. Field names only; the
    values before each change stay sealed in RecordChange for the door to show to those with the right."""
    entries = [HistoryEntry(1, record.created_action, record.created_by, "", record.created_at,
                            sorted(record.data), "")]
    for change in record.changes.order_by("version"):
        entries.append(HistoryEntry(change.version, change.action, change.actor_name, change.actor_department,
                                    change.changed_at, list(change.changed_fields), change.reason))
    return entries
