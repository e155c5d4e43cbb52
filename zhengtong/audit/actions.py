"""Writing to the audit trail. The one way in is `record`, called inside the transaction of the change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from zhengtong.audit import subjects as subject_keys
from zhengtong.audit.models import ActorKind, AuditEntry, AuditSubject, Result
from zhengtong.core.context import current_request


@dataclass(frozen=True)
class Actor:
    """Who acted, as plain values: the trail must stay readable after accounts and departments change."""

    kind: str
    id: str = ""
    name: str = ""
    department: str = ""
    roles: str = ""


SYSTEM = Actor(ActorKind.SYSTEM, name="system")


def actor_of_user(user: Any) -> Actor:
    """A person as the trail records them; None is the platform itself. Duck-typed on Django's user (staff
    members have a `staff` profile with a department), so this app needs nothing from identity."""
    if user is None:
        return SYSTEM
    if not getattr(user, "is_authenticated", False):
        return Actor(ActorKind.ANONYMOUS)
    staff = getattr(user, "staff", None)
    return Actor(
        ActorKind.STAFF if staff is not None else ActorKind.CITIZEN, str(user.pk),
        getattr(user, "display_name", "") or user.get_username(),
        staff.department.code if staff is not None else "",
        ",".join(sorted(user.groups.values_list("name", flat=True))),
    )


class AuditWriteOutsideTransaction(RuntimeError):
    """`record` was called outside a transaction, so its entry could outlive a change that failed."""


def record(action: str, actor: Actor, *, object_type: str = "", object_id: object = "",
           subjects: Iterable[str] = (), fields: Iterable[str] = (), purpose: str = "", legal_basis: str = "",
           case_reference: str = "", result: str = Result.OK, on_behalf_of: str = "",
           detail: Mapping[str, Any] | None = None) -> AuditEntry:
    """Append an entry for `action`. Must run inside the transaction of the change it records: if the entry
    cannot be written, the change is rolled back with it.

    `subjects` are the identity numbers (resident IDs, credit codes) of the people or businesses concerned;
    only their keyed hashes are stored.
    """
    if not connection.in_atomic_block:
        raise AuditWriteOutsideTransaction(f"audit entry for {action} written outside a transaction")
    request = current_request()
    hashes = sorted({subject_keys.subject_hash(s) for s in subjects if s})
    values = {
        "occurred_at": timezone.now(), "actor_kind": actor.kind, "actor_id": actor.id, "actor_name": actor.name,
        "actor_department": actor.department, "actor_roles": actor.roles, "on_behalf_of": on_behalf_of,
        "action": action, "object_type": object_type, "object_id": str(object_id), "subjects": hashes,
        "fields": sorted(set(fields)), "purpose": purpose, "legal_basis": legal_basis,
        "case_reference": case_reference, "result": result, "request_id": request.request_id,
        "client_address": request.client_address, "detail": dict(detail or {}),
    }
    if connection.vendor == "postgresql":
        return _insert_in_one_statement(values, hashes)
    entry = AuditEntry.objects.create(**values)
    if hashes:
        AuditSubject.objects.bulk_create(AuditSubject(entry=entry, subject_hash=h) for h in hashes)
    return entry


def _insert_in_one_statement(values: dict[str, Any], hashes: list[str]) -> AuditEntry:
    """The entry and its subject rows in one round trip: every action pays for this, so it is kept lean."""
    fields = [AuditEntry._meta.get_field(name) for name in values]
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)  # type: ignore[union-attr]
    params = [f.get_db_prep_save(values[f.name], connection) for f in fields]  # type: ignore[union-attr]
    placeholders = ", ".join(["%s"] * len(fields))
    # Column names come from the model; every value goes as a parameter.
    statement = (
        f"WITH entry AS (INSERT INTO audit_auditentry ({columns}) VALUES ({placeholders}) RETURNING id), "  # noqa: S608
        "subject AS (INSERT INTO audit_auditsubject (entry_id, subject_hash) "
        "SELECT entry.id, hash FROM entry, unnest(%s::varchar[]) AS hash) SELECT id FROM entry"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, hashes])
        (entry_id,) = cursor.fetchone()
    entry = AuditEntry(id=entry_id, **values)
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry


def record_alone(action: str, actor: Actor, **values: Any) -> AuditEntry:
    """An entry that records no change of state (a failed login, a refused request), in its own transaction."""
    with transaction.atomic():
        return record(action, actor, **values)


def record_core_action(sender: object, *, action: str, actor: Any, object_type: str, object_id: str,
                       detail: Mapping[str, Any], **kwargs: Any) -> None:
    """Receiver of core's action_performed: the entry for a change made by an app below this one."""
    record(action, actor_of_user(actor), object_type=object_type, object_id=object_id, detail=detail)
