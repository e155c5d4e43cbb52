"""Between cleaned values and what a record row stores: sealing encrypted fields, the key, lookup terms.

Every writer (record actions, the importer, schema changes, key rotation) goes through `RecordCodec`, so a
value is stored one way whoever writes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import Any

from zhengtong.identity.models import Division
from zhengtong.registries.keys import KeyRing
from zhengtong.registries.models import Registry, RegistryField, StoredFile, Validator
from zhengtong.registries.schema import Context, FieldSpec, Schema

SUBJECT_VALIDATORS = (Validator.RESIDENT_ID, Validator.CREDIT_CODE)
STORED_TEXT_LIMIT = 200  # the width of Record.key_value and RecordTerm.term


def _fit(text: str) -> str:
    """Text that fits the indexed column; a longer value is stood in for by its hash (still exact)."""
    if len(text) <= STORED_TEXT_LIMIT:
        return text
    return "\x1f" + hashlib.sha256(text.encode()).hexdigest()  # \x1f cannot start a cleaned value


def spec_of(row: RegistryField) -> FieldSpec:
    # Only FieldSpec's attributes: reading row.registry as well would cost a query per field.
    return FieldSpec(**{f.name: getattr(row, f.name) for f in fields(FieldSpec)})


def load_schema(registry: Registry) -> Schema:
    return Schema(spec_of(row) for row in RegistryField.objects.filter(registry=registry).order_by("position"))


def value_context() -> Context:
    return Context(
        division_codes=lambda: set(Division.objects.values_list("code", flat=True)),
        file_exists=lambda digest: StoredFile.objects.filter(digest=digest).exists(),
    )


class RecordCodec:
    def __init__(self, registry: Registry, schema: Schema | None = None, keys: KeyRing | None = None):
        self.registry = registry
        self.schema = schema or load_schema(registry)
        self.keys = keys or KeyRing(registry)
        self._encrypted = [spec.name for spec in self.schema.fields if spec.encrypted]
        self._searchable = [spec for spec in self.schema.fields if spec.searchable]
        self._subject_fields = [spec.name for spec in self.schema.fields if spec.validator in SUBJECT_VALIDATORS]

    def stored(self, cleaned: Mapping[str, Any]) -> dict[str, Any]:
        """What the record row holds for cleaned values: encrypted fields sealed, empty values left out."""
        data = {name: value for name, value in cleaned.items() if value is not None}
        for name in self._encrypted:
            if name in data:
                data[name] = self.keys.seal(name, data[name])
        return data

    def plain(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The values of a stored record, encrypted fields opened. Not for showing anyone: reads for output
        go through the one door, which masks and audits."""
        values = dict(stored)
        for name in self._encrypted:
            if isinstance(values.get(name), str):
                values[name] = self.keys.open(name, values[name])
        return values

    def key_value(self, cleaned: Mapping[str, Any]) -> str:
        text = self.schema.key_text(cleaned)
        return self.keys.blind_index(text) if self.schema.key_encrypted else _fit(text)

    def term(self, spec: FieldSpec, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
        return self.keys.blind_index(f"{spec.name}\x1f{text}") if spec.encrypted else _fit(text)

    def terms(self, cleaned: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
        """(field, term, unique) for each indexed or unique field that has a value."""
        for spec in self._searchable:
            value = cleaned.get(spec.name)
            if value is not None:
                yield spec.name, self.term(spec, value), spec.unique

    def subjects(self, cleaned: Mapping[str, Any]) -> list[str]:
        """The identity numbers of the people or businesses a record is about, for the audit entry."""
        return [str(cleaned[name]) for name in self._subject_fields if cleaned.get(name)]
