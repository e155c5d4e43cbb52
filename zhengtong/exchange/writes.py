"""Record writes by department systems (the GovStack Digital Registries API's create, update and delete).

A system may write to a registry when its department provides the registry, or holds an active grant in force
today for the registry's resource that says `may_write`. A write by grant stays inside the grant: it may set only
the granted fields, and the record must lie inside the grant's row filter both before and after the write.

The writes themselves are the registries' actions, with the API client as the actor: the actions check the
client's permission through identity's require_permission, which asks `client_may` below (registered by the
exchange app at start-up), and write the record's history and audit entry naming the client. Around each write
this module records an `exchange.write` entry with what the registry action cannot know: the purpose, the
calling system (the Information-Mediator-Client header) and the grant. A refused write is audited too.

Writes can tell a writer what reads cannot: creating a record under a key that is taken is refused because the
key is taken, whatever the writer's row scope. That is why writing is a separate, explicit term of a grant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.audit.models import Result
from zhengtong.core.errors import DomainError, NotPermitted, raise_if_problems
from zhengtong.identity.actions import actor_of
from zhengtong.identity.models import ApiClient
from zhengtong.registries import actions as registries
from zhengtong.registries.codec import RecordCodec, value_context
from zhengtong.registries.models import Record, Registry
from zhengtong.registries.queries import find_record

from . import door
from .models import Grant, GrantStatus

RECORD_PERMISSIONS = ("registries.add_record", "registries.change_record", "registries.delete_record")
PROVIDER_PERMISSIONS = ("registries.change_registry",)


class WriteNotGranted(NotPermitted):
    code = "write_not_granted"


@dataclass(frozen=True)
class WriteRight:
    """What a system may write in one registry: every field and row (its own department's registry), or the
    fields and rows of a grant that allows writing."""

    registry: Registry
    fields: frozenset[str] | None  # None: every field
    row_filter: Mapping[str, Any]
    grant: Grant | None

    def outside_fields(self, names: Sequence[str]) -> list[str]:
        return [] if self.fields is None else [name for name in names if name not in self.fields]


def writable_grants(client: ApiClient, registry: Registry) -> list[Grant]:
    """The client's department's active grants, in force today, that let it write to this registry."""
    resource_id = door.resource_id_of(registry)
    if resource_id is None:
        return []
    today = timezone.localdate()
    grants = Grant.objects.filter(consumer=client.department, resource_id=resource_id, status=GrantStatus.ACTIVE,
                                  may_write=True)
    return [grant for grant in grants if grant.in_force_on(today)]


def client_may(client: ApiClient, perm: str, obj: Model | None) -> bool:
    """identity's question about an API client: may it use `perm` on `obj`? Record permissions follow the
    department's own registries and its writable grants; changing a registry's schema is the provider's alone.
    Anything else (users, departments, catalog entries) is not for systems."""
    registry = obj.registry if isinstance(obj, Record) else obj if isinstance(obj, Registry) else None
    if registry is None:
        return False
    own = registry.department_id == client.department_id
    if perm in PROVIDER_PERMISSIONS:
        return own
    if perm in RECORD_PERMISSIONS:
        return own or bool(writable_grants(client, registry))
    return False


def write_right(client: ApiClient, registry: Registry) -> WriteRight:
    """The client's right to write this registry, or the refusal: the door's reasons for a grant that is
    missing, expired, suspended or revoked; write_not_granted for grants that allow reading only."""
    right = door.resolve_right(door.Reader.system(client), registry)
    if right.grant is None:  # the provider department's own system
        return WriteRight(registry, None, {}, None)
    writable = writable_grants(client, registry)
    if not writable:
        raise WriteNotGranted(_("Your department's grant for this resource allows reading only."))
    grant = max(writable, key=lambda g: (len(g.fields), g.pk))
    return WriteRight(registry, frozenset(grant.fields), grant.row_filter, grant)


def require_write_right(client: ApiClient, registry: Registry, *, operation: str, purpose: str,
                        calling_system: str = "") -> WriteRight:
    """The purpose and the right to write, checked before anything about the write itself is looked at (so a
    caller without the right learns nothing from the answer); a refusal is audited."""
    try:
        _check_purpose(purpose)
        return write_right(client, registry)
    except (door.Refused, NotPermitted) as error:
        _audit_refusal(client, registry, operation, error, purpose.strip(), calling_system)
        raise


def _refuse_outside_fields(right: WriteRight, names: Sequence[str]) -> None:
    outside = right.outside_fields(names)
    if outside:
        raise door.Refused(door.Reason.FIELD_NOT_GRANTED, outside)


def _inside_rows(right: WriteRight, values: Mapping[str, Any]) -> bool:
    return not right.row_filter or door.within_row_filter(values, right.row_filter)


def _audit_write(client: ApiClient, right: WriteRight, record: Record, operation: str, fields: Sequence[str],
                 subjects: Sequence[str], purpose: str, calling_system: str) -> None:
    audit.record("exchange.write", actor_of(client), object_type="record",
                 object_id=f"{right.registry.code}/{record.pk}", subjects=subjects, fields=fields, purpose=purpose,
                 legal_basis=right.grant.legal_basis if right.grant else "",
                 detail={"operation": operation, "grant": right.grant.number if right.grant else "",
                         "calling_system": calling_system})


def _audit_refusal(client: ApiClient, registry: Registry, operation: str, error: DomainError, purpose: str,
                   calling_system: str) -> None:
    audit.record_alone("exchange.write_refused", actor_of(client), object_type="registry", object_id=registry.code,
                       purpose=purpose, result=Result.DENIED,
                       detail={"operation": operation, "reason": error.code, "calling_system": calling_system,
                               "fields": list(getattr(error, "fields", ()))})


def _count_write(right: WriteRight) -> None:
    """A write under a grant counts against its quota and rate like a read (inside the write's transaction)."""
    if right.grant is not None:
        door.count_call(right.grant)


def _check_purpose(purpose: str) -> None:
    if not purpose.strip():
        raise door.Refused(door.Reason.NO_PURPOSE)


def create_record(client: ApiClient, registry: Registry, values: Mapping[str, Any], *, purpose: str,
                  calling_system: str = "") -> dict[str, Any]:
    """A new record; returns the values as written (cleaned: 11010519491231002x is stored with a capital X)."""
    try:
        _check_purpose(purpose)
        right = write_right(client, registry)
        _refuse_outside_fields(right, list(values))
        codec = RecordCodec(registry)
        cleaned, problems = codec.schema.clean(values, value_context())
        raise_if_problems(problems)
        if not _inside_rows(right, cleaned):
            raise door.Refused(door.Reason.OUTSIDE_ROW_SCOPE)
        with transaction.atomic():
            _count_write(right)
            record = registries.create_record(client, registry, values)
            _audit_write(client, right, record, "create", list(cleaned), codec.subjects(cleaned), purpose.strip(),
                         calling_system)
    except (door.Refused, NotPermitted) as error:
        _audit_refusal(client, registry, "create", error, purpose.strip(), calling_system)
        raise
    return cleaned


def find_for_write(client: ApiClient, registry: Registry, key: Mapping[str, Any], *, operation: str, purpose: str,
                   calling_system: str = "", must_exist: bool = True) -> Record | None:
    """The live record with this key (a mapping of the key fields), for a write. The writer needs the right to
    write; a record outside its row scope is refused as the door refuses reading it, and so is a missing record
    that `must_exist` under a row scope (as the door answers for it). Otherwise a missing record is None."""
    try:
        _check_purpose(purpose)
        right = write_right(client, registry)
        codec = door.codec_for(registry)
        record = find_record(registry, key, codec=codec)
        if record is None and must_exist and right.row_filter:
            raise door.Refused(door.Reason.OUTSIDE_ROW_SCOPE)
        if record is not None and not _inside_rows(right, codec.plain(record.data)):
            raise door.Refused(door.Reason.OUTSIDE_ROW_SCOPE)
    except (door.Refused, NotPermitted) as error:
        _audit_refusal(client, registry, operation, error, purpose.strip(), calling_system)
        raise
    return record


def update_records(client: ApiClient, registry: Registry, record_ids: Sequence[int], values: Mapping[str, Any], *,
                   purpose: str, calling_system: str = "") -> int:
    """Set `values` on every record given by id, all or none; the purpose is the reason in each record's history.
    Returns how many records changed."""
    changed = 0
    try:
        _check_purpose(purpose)
        right = write_right(client, registry)
        _refuse_outside_fields(right, list(values))
        codec = RecordCodec(registry)
        with transaction.atomic():
            _count_write(right)
            for record_id in record_ids:
                current = Record.objects.select_for_update().get(pk=record_id, registry=registry)
                if not _inside_rows(right, codec.plain(current.data)):
                    raise door.Refused(door.Reason.OUTSIDE_ROW_SCOPE)
                updated = registries.update_record(client, current, values, reason=purpose.strip())
                if updated.version == current.version:
                    continue  # the values were already so: nothing written
                after = codec.plain(updated.data)
                if not _inside_rows(right, after):  # a write may not move a record out of the writer's rows
                    raise door.Refused(door.Reason.OUTSIDE_ROW_SCOPE)
                _audit_write(client, right, updated, "update", sorted(values), codec.subjects(after),
                             purpose.strip(), calling_system)
                changed += 1
    except (door.Refused, NotPermitted) as error:
        _audit_refusal(client, registry, "update", error, purpose.strip(), calling_system)
        raise
    return changed


def delete_record(client: ApiClient, registry: Registry, record: Record, *, purpose: str,
                  calling_system: str = "") -> None:
    """Soft deletion, the purpose being the recorded reason. A grant allows it when it covers every field."""
    try:
        _check_purpose(purpose)
        right = write_right(client, registry)
        codec = RecordCodec(registry)
        _refuse_outside_fields(right, list(codec.schema.by_name))
        with transaction.atomic():
            _count_write(right)
            current = Record.objects.select_for_update().get(pk=record.pk, registry=registry)
            plain = codec.plain(current.data)
            if not _inside_rows(right, plain):
                raise door.Refused(door.Reason.OUTSIDE_ROW_SCOPE)
            registries.delete_record(client, current, reason=purpose.strip())
            _audit_write(client, right, current, "delete", [], codec.subjects(plain), purpose.strip(),
                         calling_system)
    except (door.Refused, NotPermitted) as error:
        _audit_refusal(client, registry, "delete", error, purpose.strip(), calling_system)
        raise
