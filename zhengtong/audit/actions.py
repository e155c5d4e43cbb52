"""Writing to the audit trail. The one way in is `record`, called inside the transaction of the change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

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
    entry = AuditEntry.objects.create(
        actor_kind=actor.kind, actor_id=actor.id, actor_name=actor.name, actor_department=actor.department,
        actor_roles=actor.roles, on_behalf_of=on_behalf_of, action=action, object_type=object_type,
        object_id=str(object_id), subjects=hashes, fields=sorted(set(fields)), purpose=purpose,
        legal_basis=legal_basis, case_reference=case_reference, result=result, request_id=request.request_id,
        client_address=request.client_address, detail=dict(detail or {}),
    )
    if hashes:
        AuditSubject.objects.bulk_create(AuditSubject(entry=entry, subject_hash=h) for h in hashes)
    return entry


def record_alone(action: str, actor: Actor, **values: Any) -> AuditEntry:
    """An entry that records no change of state (a failed login, a refused request), in its own transaction."""
    with transaction.atomic():
        return record(action, actor, **values)
