"""Every change to registries and their records, as a named verb.

Each action checks the actor's permission within their data scope (the registry's department), changes state
in one transaction and writes its audit entry in it. `actor=None` is the platform acting for an operator at
the shell (commands, the demo seed).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.audit.actions import Actor
from zhengtong.core.errors import Conflict, FieldProblem, InvalidInput, raise_if_problems
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import ApiClient, Department, User
from zhengtong.registries import keys
from zhengtong.registries.codec import RecordCodec, value_context
from zhengtong.registries.models import (
    DataKey,
    Record,
    RecordChange,
    RecordTerm,
    Registry,
    RegistryField,
    SchemaVersion,
    StoredFile,
)
from zhengtong.registries.schema import FieldSpec, Schema, check_definition, specs_from_json_schema
from zhengtong.registries.signals import registry_defined

CODE = re.compile(r"[a-z][a-z0-9-]{1,63}")
RESERVED_CODES = {"new", "imports"}  # path segments of the registry pages
REWRITE_BATCH = 2000
MAX_FILE_BYTES = 20 * 1024 * 1024
SCHEMA_REFUSAL_EXAMPLES = 5


def _record_reference(record: Record) -> str:
    return f"{record.registry.code}/{record.pk}"


def _save_fields(registry: Registry, specs: list[FieldSpec]) -> None:
    RegistryField.objects.filter(registry=registry).delete()
    RegistryField.objects.bulk_create(
        RegistryField(registry=registry, position=position, **spec.as_dict()) for position, spec in enumerate(specs)
    )


def _snapshot(registry: Registry, specs: list[FieldSpec], actor: Actor, action: str) -> None:
    SchemaVersion.objects.create(registry=registry, version=registry.schema_version,
                                 fields=[spec.as_dict() for spec in specs], actor_name=actor.name,
                                 actor_id=actor.id, action=action)


# --- registries -----------------------------------------------------------------------------------------------


def define_registry(actor: User | None, *, code: str, name: str, department: Department, fields: list[FieldSpec],
                    name_en: str = "", description: str = "", is_base: bool = False) -> Registry:
    """A new registry with its schema, keys and first schema version; the catalog hears of it by signal."""
    require_permission(actor, "registries.add_registry", department)
    problems = check_definition(fields)
    if not CODE.fullmatch(code or ""):
        problems.insert(0, FieldProblem("code", _("Use 2 to 64 lower-case letters, digits and -, starting "
                                                  "with a letter.")))
    elif code in RESERVED_CODES:
        problems.insert(0, FieldProblem("code", _("%(code)s is reserved; choose another code.") % {"code": code}))
    if not (name or "").strip():
        problems.insert(0, FieldProblem("name", _("This field is required.")))
    raise_if_problems(problems)
    who = actor_of(actor)
    try:
        with transaction.atomic():
            registry = Registry.objects.create(code=code, name=name.strip(), name_en=name_en, description=description,
                                               department=department, is_base=is_base)
            keys.create_keys(registry)
            _save_fields(registry, fields)
            _snapshot(registry, fields, who, "registries.define_registry")
            audit.record("registries.define_registry", who, object_type="registry", object_id=code,
                         detail={"fields": [spec.name for spec in fields], "department": department.code})
            registry_defined.send(Registry, registry=registry, actor=actor, created=True)
    except IntegrityError:
        raise InvalidInput.for_field("code", _("A registry with this code already exists.")) from None
    return registry


def define_registry_from_json_schema(actor: User | None, *, code: str, name: str, department: Department,
                                     document: Mapping[str, Any], name_en: str = "", description: str = "",
                                     is_base: bool = False) -> Registry:
    """A registry from a JSON schema as the GovStack Digital Registries database API accepts it."""
    specs, problems = specs_from_json_schema(document)
    raise_if_problems(problems)
    return define_registry(actor, code=code, name=name, department=department, fields=specs, name_en=name_en,
                           description=description, is_base=is_base)


def _terms_layout(schema: Schema) -> list[tuple[str, bool, bool]]:
    return [(spec.name, spec.unique, spec.encrypted) for spec in schema.fields if spec.searchable]


def change_schema(actor: User | ApiClient | None, registry: Registry, fields: list[FieldSpec]) -> Registry:
    """Replace the registry's fields. Every live record is checked against the new schema first; if any
    would violate it, nothing changes and the refusal says how many records and why."""
    require_permission(actor, "registries.change_registry", registry)
    raise_if_problems(check_definition(fields))
    new_schema = Schema(fields)
    who = actor_of(actor)
    with transaction.atomic():
        registry = Registry.objects.select_for_update().get(pk=registry.pk)
        old_codec = RecordCodec(registry)
        new_codec = RecordCodec(registry, new_schema, old_codec.keys)
        _refuse_violations(registry, old_codec, new_codec)
        _rewrite_records(registry, old_codec, new_codec,
                         rebuild_terms=_terms_layout(old_codec.schema) != _terms_layout(new_schema))
        registry.schema_version += 1
        registry.save(update_fields=["schema_version", "updated_at"])
        _save_fields(registry, fields)
        _snapshot(registry, fields, who, "registries.change_schema")
        old_names = set(old_codec.schema.by_name)
        new_names = set(new_schema.by_name)
        audit.record("registries.change_schema", who, object_type="registry", object_id=registry.code,
                     detail={"version": registry.schema_version, "added": sorted(new_names - old_names),
                             "removed": sorted(old_names - new_names),
                             "changed": sorted(n for n in old_names & new_names
                                               if old_codec.schema.by_name[n] != new_schema.by_name[n])})
        registry_defined.send(Registry, registry=registry, actor=actor, created=False)
    return registry


def _refuse_violations(registry: Registry, old_codec: RecordCodec, new_codec: RecordCodec) -> None:
    context = value_context()
    bad_records = 0
    reasons: Counter[tuple[str, str]] = Counter()
    seen_keys: set[str] = set()
    seen_terms: set[tuple[str, str]] = set()
    live = Record.objects.filter(registry=registry, deleted_at__isnull=True)
    for record in live.only("data").iterator(chunk_size=REWRITE_BATCH):
        plain = old_codec.plain(record.data)
        values = {name: plain[name] for name in new_codec.schema.by_name if name in plain}
        cleaned, problems = new_codec.schema.clean(values, context)
        if not problems:
            key = new_codec.schema.key_text(cleaned)
            if key in seen_keys:
                problems.append(FieldProblem(new_codec.schema.key_fields[0].name,
                                             _("Two records would have the same key.")))
            seen_keys.add(key)
            for field, term, unique in new_codec.terms(cleaned):
                if unique and (field, term) in seen_terms:
                    problems.append(FieldProblem(field, _("Two records would have the same value.")))
                seen_terms.add((field, term))
        if problems:
            bad_records += 1
            for problem in problems:
                reasons[(problem.field, problem.reason)] += 1
    if bad_records:
        details = [FieldProblem(field, _("%(count)d records: %(reason)s") % {"count": count, "reason": reason})
                   for (field, reason), count in reasons.most_common(SCHEMA_REFUSAL_EXAMPLES)]
        raise Conflict(_("The new schema was not applied: %(count)d existing records would violate it.")
                       % {"count": bad_records}, details)


def _rewrite_records(registry: Registry, old_codec: RecordCodec, new_codec: RecordCodec, *,
                     rebuild_terms: bool) -> None:
    """Store every record as the new schema says (sealed or opened fields, dropped fields, new key)."""
    context = value_context()
    encryption_changed = {spec.name for spec in new_codec.schema.fields
                          if spec.encrypted != getattr(old_codec.schema.by_name.get(spec.name), "encrypted", False)}
    if rebuild_terms:
        RecordTerm.objects.filter(registry=registry).delete()
    batch: list[Record] = []
    terms: list[RecordTerm] = []
    for record in Record.objects.filter(registry=registry).iterator(chunk_size=REWRITE_BATCH):
        plain = old_codec.plain(record.data)
        values = {name: plain[name] for name in new_codec.schema.by_name if name in plain}
        cleaned, problems = new_codec.schema.clean(values, context, partial=True)
        for problem in problems:  # only deleted records, which the check skipped, get here: keep their values
            if problem.field in values:
                cleaned[problem.field] = values[problem.field]
        same = (set(record.data) <= set(new_codec.schema.by_name) and not encryption_changed & set(plain)
                and cleaned == {name: plain[name] for name in cleaned})
        key_value = new_codec.key_value(cleaned) if all(k.name in cleaned for k in new_codec.schema.key_fields) \
            else record.key_value
        if not same or key_value != record.key_value:
            record.data = new_codec.stored(cleaned)
            record.key_value = key_value
            batch.append(record)
        if rebuild_terms and record.deleted_at is None:
            terms.extend(RecordTerm(registry=registry, field=f, term=t, record=record, unique=u)
                         for f, t, u in new_codec.terms(cleaned))
        if len(batch) >= REWRITE_BATCH:
            Record.objects.bulk_update(batch, ["data", "key_value"])
            batch = []
        if len(terms) >= REWRITE_BATCH:
            RecordTerm.objects.bulk_create(terms)
            terms = []
    Record.objects.bulk_update(batch, ["data", "key_value"])
    RecordTerm.objects.bulk_create(terms)


# --- records ----------------------------------------------------------------------------------------------------


def _unique_conflicts(codec: RecordCodec, cleaned: Mapping[str, Any], exclude: Record | None = None
                      ) -> list[FieldProblem]:
    problems = []
    for field, term, unique in codec.terms(cleaned):
        if not unique:
            continue
        clash = RecordTerm.objects.filter(registry=codec.registry, field=field, term=term, unique=True)
        if exclude is not None:
            clash = clash.exclude(record=exclude)
        if clash.exists():
            problems.append(FieldProblem(field, _("Another record already has this value.")))
    return problems


def _key_conflict(codec: RecordCodec, key_value: str, exclude: Record | None = None) -> list[FieldProblem]:
    clash = Record.objects.filter(registry=codec.registry, key_value=key_value)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    existing = clash.only("deleted_at").first()
    if existing is None:
        return []
    reason = (_("A deleted record holds this key; restore it instead.") if existing.deleted_at
              else _("A record with this key already exists."))
    return [FieldProblem(spec.name, reason) for spec in codec.schema.key_fields]


def _save_terms(codec: RecordCodec, record: Record, cleaned: Mapping[str, Any]) -> None:
    RecordTerm.objects.filter(record=record).delete()
    RecordTerm.objects.bulk_create(RecordTerm(registry=codec.registry, field=f, term=t, record=record, unique=u)
                                   for f, t, u in codec.terms(cleaned))


def create_record(actor: User | ApiClient | None, registry: Registry, values: Mapping[str, Any]) -> Record:
    require_permission(actor, "registries.add_record", registry)
    codec = RecordCodec(registry)
    cleaned, problems = codec.schema.clean(values, value_context())
    raise_if_problems(problems)
    key_value = codec.key_value(cleaned)
    who = actor_of(actor)
    now = timezone.now()
    try:
        with transaction.atomic():
            raise_if_problems(_key_conflict(codec, key_value) + _unique_conflicts(codec, cleaned))
            record = Record.objects.create(registry=registry, key_value=key_value, data=codec.stored(cleaned),
                                           created_at=now, updated_at=now, created_action="registries.create_record",
                                           created_by=who.name)
            _save_terms(codec, record, cleaned)
            audit.record("registries.create_record", who, object_type="record", object_id=_record_reference(record),
                         subjects=codec.subjects(cleaned), fields=list(cleaned))
    except IntegrityError:
        # Another writer took the key or a unique value between the check and the insert.
        raise Conflict(_("Another record with this key or unique value was saved at the same moment.")) from None
    return record


def _change(record: Record, who: Actor, action: str, changed: list[str], previous: Mapping[str, Any],
            reason: str, entry_id: int | None, now: Any) -> None:
    RecordChange.objects.create(record=record, version=record.version, action=action, actor_kind=who.kind,
                                actor_id=who.id, actor_name=who.name, actor_department=who.department,
                                changed_fields=changed, previous=dict(previous), reason=reason,
                                audit_entry_id=entry_id, changed_at=now)


def update_record(actor: User | ApiClient | None, record: Record, values: Mapping[str, Any], *, reason: str = "",
                  action: str = "registries.update_record") -> Record:
    """Change the fields named in `values`; the values before the change go to the record's history."""
    require_permission(actor, "registries.change_record", record)
    codec = RecordCodec(record.registry)
    if record.deleted_at is not None:
        raise Conflict(_("This record was deleted; restore it before changing it."))
    partial, problems = codec.schema.clean(values, value_context(), partial=True)
    raise_if_problems(problems)
    who = actor_of(actor)
    now = timezone.now()
    try:
        with transaction.atomic():
            record = Record.objects.select_for_update().get(pk=record.pk)
            plain = codec.plain(record.data)
            merged = {**{k: v for k, v in plain.items() if k in codec.schema.by_name}, **partial}
            changed = [name for name in codec.schema.by_name if merged.get(name) != plain.get(name)]
            if not changed:
                return record
            key_value = codec.key_value(merged)
            raise_if_problems(_key_conflict(codec, key_value, exclude=record)
                              + _unique_conflicts(codec, merged, exclude=record))
            entry = audit.record(action, who, object_type="record", object_id=_record_reference(record),
                                 subjects=codec.subjects(merged), fields=changed, detail={"reason": reason})
            previous = {name: record.data.get(name) for name in changed}
            record.version += 1
            _change(record, who, action, changed, previous, reason, entry.pk, now)
            record.data = codec.stored(merged)
            record.key_value = key_value
            record.updated_at = now
            record.save(update_fields=["data", "key_value", "version", "updated_at"])
            _save_terms(codec, record, merged)
    except IntegrityError:
        raise Conflict(_("Another record with this key or unique value was saved at the same moment.")) from None
    return record


def delete_record(actor: User | ApiClient | None, record: Record, *, reason: str) -> Record:
    """Soft deletion: the record stays, marked deleted with the reason, and leaves every lookup."""
    require_permission(actor, "registries.delete_record", record)
    if not (reason or "").strip():
        raise InvalidInput.for_field("reason", _("Say why the record is deleted."))
    return _set_deleted(actor, record, reason.strip(), deleted=True)


def restore_record(actor: User | ApiClient | None, record: Record, *, reason: str) -> Record:
    require_permission(actor, "registries.delete_record", record)
    if not (reason or "").strip():
        raise InvalidInput.for_field("reason", _("Say why the record is restored."))
    return _set_deleted(actor, record, reason.strip(), deleted=False)


def _set_deleted(actor: User | ApiClient | None, record: Record, reason: str, *, deleted: bool) -> Record:
    codec = RecordCodec(record.registry)
    who = actor_of(actor)
    now = timezone.now()
    action = "registries.delete_record" if deleted else "registries.restore_record"
    with transaction.atomic():
        record = Record.objects.select_for_update().get(pk=record.pk)
        if (record.deleted_at is not None) == deleted:
            raise Conflict(_("The record is already deleted.") if deleted else _("The record is not deleted."))
        plain = codec.plain(record.data)
        entry = audit.record(action, who, object_type="record", object_id=_record_reference(record),
                             subjects=codec.subjects(plain), detail={"reason": reason})
        record.version += 1
        _change(record, who, action, [], {}, reason, entry.pk, now)
        record.deleted_at = now if deleted else None
        record.deletion_reason = reason if deleted else ""
        record.updated_at = now
        record.save(update_fields=["deleted_at", "deletion_reason", "version", "updated_at"])
        if deleted:
            RecordTerm.objects.filter(record=record).delete()  # a deleted record no longer holds unique values
        else:
            raise_if_problems(_unique_conflicts(codec, plain, exclude=record))
            _save_terms(codec, record, plain)
    return record


# --- files --------------------------------------------------------------------------------------------------------


def store_file(actor: User | None, registry: Registry, *, name: str, content_type: str, content: bytes
               ) -> StoredFile:
    """Keep an uploaded file once by its SHA-256, so a record's file field can refer to it."""
    require_permission(actor, "registries.add_record", registry)
    if not content:
        raise InvalidInput.for_field("file", _("The file is empty."))
    if len(content) > MAX_FILE_BYTES:
        raise InvalidInput.for_field("file", _("A file may be at most %(mb)d MB.") % {"mb": MAX_FILE_BYTES >> 20})
    digest = hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        stored, created = StoredFile.objects.get_or_create(
            digest=digest, defaults={"name": name[:255], "content_type": content_type[:100], "size": len(content),
                                     "uploaded_by": actor_of(actor).name})
        if created:
            stored.content.save(digest, ContentFile(content), save=True)
            audit.record("registries.store_file", actor_of(actor), object_type="file", object_id=digest,
                         detail={"registry": registry.code, "size": len(content)})
    return stored


# --- keys ---------------------------------------------------------------------------------------------------------


def rotate_data_key(actor: User | None, registry: Registry,
                    progress: Callable[[int], None] | None = None) -> int:
    """A new data key for the registry; every sealed value, in records and their history, is sealed again
    under it and the old keys are retired. Returns how many records were re-sealed."""
    require_permission(actor, "registries.rotate_keys", registry)
    who = actor_of(actor)
    with transaction.atomic():
        registry = Registry.objects.select_for_update().get(pk=registry.pk)
        old_versions = list(DataKey.objects.filter(registry=registry, retired_at__isnull=True)
                            .values_list("version", flat=True))
        new_version = (DataKey.objects.filter(registry=registry).order_by("-version")
                       .values_list("version", flat=True).first() or 0) + 1
        keys.add_data_key(registry, new_version)
        DataKey.objects.filter(registry=registry, version__in=old_versions).update(retired_at=timezone.now())
        codec = RecordCodec(registry)
        encrypted = [spec.name for spec in codec.schema.fields if spec.encrypted]
        count = 0
        batch: list[Record] = []
        for record in Record.objects.filter(registry=registry).only("data").iterator(chunk_size=REWRITE_BATCH):
            record.data = {**record.data, **_reseal(codec, encrypted, record.data)}
            batch.append(record)
            if len(batch) >= REWRITE_BATCH:
                Record.objects.bulk_update(batch, ["data"])
                count += len(batch)
                batch = []
                if progress:
                    progress(count)
        Record.objects.bulk_update(batch, ["data"])
        count += len(batch)
        changes = []
        for change in RecordChange.objects.filter(record__registry=registry).only("previous").iterator():
            change.previous = {**change.previous, **_reseal(codec, encrypted, change.previous)}
            changes.append(change)
        RecordChange.objects.bulk_update(changes, ["previous"], batch_size=REWRITE_BATCH)
        audit.record("registries.rotate_data_key", who, object_type="registry", object_id=registry.code,
                     detail={"version": new_version, "retired": old_versions, "records": count})
    keys.forget_cached_keys()
    return count


def _reseal(codec: RecordCodec, encrypted: list[str], data: Mapping[str, Any]) -> dict[str, Any]:
    return {name: codec.keys.seal(name, codec.keys.open(name, data[name]))
            for name in encrypted if isinstance(data.get(name), str)}


def rewrap_keys(previous_material: bytes) -> int:
    """After the key-encryption key changed: wrap every key that the previous one wrapped under the current
    one. Run by an operator at the shell (`zhengtong registry rewrap-keys`). Returns how many keys moved."""
    current = keys.kek_material()
    previous_id, current_id = keys.kek_id(previous_material), keys.kek_id(current)
    moved = 0
    with transaction.atomic():
        for registry in Registry.objects.select_for_update().filter(kek_id=previous_id):
            cipher, label = keys.index_cipher(registry), keys.index_label(registry)
            plain = keys.unwrap(previous_material, cipher, bytes(registry.index_key_wrapped), label)
            registry.index_key_wrapped = keys.wrap(current, cipher, plain, label)
            registry.kek_id = current_id
            registry.save(update_fields=["index_key_wrapped", "kek_id"])
            moved += 1
        for data_key in DataKey.objects.select_for_update().filter(kek_id=previous_id).select_related("registry"):
            label = keys.data_key_label(data_key.registry, data_key.version)
            plain = keys.unwrap(previous_material, data_key.cipher, bytes(data_key.wrapped_key), label)
            data_key.wrapped_key = keys.wrap(current, data_key.cipher, plain, label)
            data_key.kek_id = current_id
            data_key.save(update_fields=["wrapped_key", "kek_id"])
            moved += 1
        audit.record("registries.rewrap_keys", audit.SYSTEM, object_type="key_encryption_key", object_id=current_id,
                     detail={"previous": previous_id, "keys": moved})
    keys.forget_cached_keys()
    return moved
