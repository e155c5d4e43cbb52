"""The one door (invariant 1): every read of registry data for anyone to see passes through here.

Whoever asks — a department system with a grant, a staff member on a page, an export, a citizen reading their
own records, the public reading open data — the door

1. resolves the reader's right: a grant (systems, and staff reading another department's resource), role and
   data scope (staff of the provider department), self-access (a citizen), the open attribute (the public),
   and consent where the grant rests on it;
2. checks the purpose, the fields asked for, the row scope, the quota and the rate;
3. masks each field by the right and the field's rule (on the server);
4. writes the audit entry — reader, department, purpose, legal basis, data subjects, fields returned, case
   reference — in the same transaction as the read, and only then returns.

A refusal raises `Refused` with its own code and HTTP status, is itself audited, and never says whether the
record asked for exists: every check that can refuse without looking at the record runs before the lookup,
and a grant with a row scope answers "outside your row scope" for a record that is missing as well.

A department's own API catalogued as a resource (a proxied service) is called through `call_service` under the
same rules: the grant, purpose, fields, consent and quota are checked, the answer is masked by the resource's
data items and the grant, and the call is audited; exchange.proxy makes the HTTP call itself.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.cn import ric, uscc

from zhengtong.audit import actions as audit
from zhengtong.audit.models import ActorKind, Result
from zhengtong.audit.subjects import subject_hash
from zhengtong.catalog.models import DataItem, OpeningType, Resource, ResourceStatus
from zhengtong.core import crypto, masking
from zhengtong.core.errors import DomainError, FieldProblem, InvalidInput, raise_if_problems
from zhengtong.identity import scope
from zhengtong.identity.actions import actor_of
from zhengtong.identity.models import ApiClient, Department
from zhengtong.identity.roles import REVEAL_PERSONAL_DATA
from zhengtong.registries import keys
from zhengtong.registries.codec import RecordCodec, value_context
from zhengtong.registries.models import Record, RecordTerm, Registry, Sensitivity, Validator
from zhengtong.registries.queries import find_record
from zhengtong.registries.schema import FieldSpec, Schema

from . import proxy
from .models import Basis, ConsentRecord, Grant, GrantStatus, GrantUsage, MaskingLevel

READ_RECORDS = "registries.view_record"
PERSONAL = (Sensitivity.PERSONAL, Sensitivity.SENSITIVE_PERSONAL)
MAX_PAGE_SIZE = 500
# What the audit entry can hold (AuditEntry.purpose and .case_reference).
MAX_PURPOSE, MAX_CASE_REFERENCE = 200, 100


class Reason(enum.Enum):
    """Why the door refused, as the API reports it: (code, HTTP status)."""

    NO_PURPOSE = ("no_purpose", 403)
    NO_GRANT = ("no_grant", 403)
    GRANT_EXPIRED = ("grant_expired", 403)
    GRANT_REVOKED = ("grant_revoked", 403)
    GRANT_SUSPENDED = ("grant_suspended", 403)
    FIELD_NOT_GRANTED = ("field_not_granted", 403)
    OUTSIDE_ROW_SCOPE = ("outside_row_scope", 403)
    CONSENT_WITHDRAWN = ("consent_withdrawn", 403)
    CONSENT_MISSING = ("consent_missing", 403)
    NOT_OPEN = ("not_open", 403)
    REVEAL_NOT_PERMITTED = ("reveal_not_permitted", 403)
    QUOTA_EXCEEDED = ("quota_exceeded", 429)
    RATE_LIMITED = ("rate_limited", 429)
    NOT_FOUND = ("not_found", 404)

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]


def _reason_message(reason: Reason) -> str:
    return {
        Reason.NO_PURPOSE: _("Every read of registry data must state its purpose."),
        Reason.NO_GRANT: _("Your department has no grant for this resource; request it in the sharing catalog."),
        Reason.GRANT_EXPIRED: _("Your department's grant for this resource is not in force today."),
        Reason.GRANT_REVOKED: _("Your department's grant for this resource has been revoked."),
        Reason.GRANT_SUSPENDED: _("Your department's grant for this resource is suspended."),
        Reason.FIELD_NOT_GRANTED: _("You asked for fields your right does not cover."),
        Reason.OUTSIDE_ROW_SCOPE: _("No record with this key lies within your row scope."),
        Reason.CONSENT_WITHDRAWN: _("The data subject has withdrawn the consent this read relies on."),
        Reason.CONSENT_MISSING: _("This read relies on consent, and the data subject has not given it."),
        Reason.NOT_OPEN: _("This resource is not open to the public."),
        Reason.REVEAL_NOT_PERMITTED: _("Your right does not let you reveal full values."),
        Reason.QUOTA_EXCEEDED: _("The grant's daily quota of calls is used up."),
        Reason.RATE_LIMITED: _("Too many calls under this grant in the last minute; slow down."),
        Reason.NOT_FOUND: _("There is no such record."),
    }[reason]


class Refused(DomainError):
    def __init__(self, reason: Reason, fields: Sequence[str] = ()):
        message = _reason_message(reason)
        if fields:
            message = f"{message} ({', '.join(fields)})"
        super().__init__(message)
        self.reason = reason
        self.code = reason.code
        self.status = reason.status
        self.fields = tuple(fields)


class ReaderKind(enum.StrEnum):
    SYSTEM = "system"
    STAFF = "staff"
    CITIZEN = "citizen"
    PUBLIC = "public"


@dataclass(frozen=True)
class Reader:
    """Who is reading. Build one with `system`, `staff`, `citizen` or `public`."""

    kind: ReaderKind
    user: Any = None
    client: ApiClient | None = None
    department: Department | None = None
    resident_id: str = ""
    calling_system: str = ""  # the Information-Mediator-Client header, as a label

    @classmethod
    def system(cls, client: ApiClient, calling_system: str = "") -> Reader:
        return cls(ReaderKind.SYSTEM, client=client, department=client.department, calling_system=calling_system)

    @classmethod
    def staff(cls, user: Any) -> Reader:
        profile = getattr(user, "staff", None)
        if profile is None:
            raise ValueError("a staff reader needs a staff member")
        return cls(ReaderKind.STAFF, user=user, department=profile.department)

    @classmethod
    def citizen(cls, user: Any) -> Reader:
        person = getattr(user, "citizen", None)
        if person is None:
            raise ValueError("a citizen reader needs a citizen's account")
        return cls(ReaderKind.CITIZEN, user=user, resident_id=person.resident_id)

    @classmethod
    def public(cls) -> Reader:
        return cls(ReaderKind.PUBLIC)

    def actor(self) -> audit.Actor:
        if self.kind == ReaderKind.PUBLIC:
            return audit.Actor(ActorKind.ANONYMOUS, name="public")
        return actor_of(self.client if self.client is not None else self.user)


@dataclass(frozen=True)
class RecordId:
    """A record named by its id rather than its key: for opening a search result whose key the reader sees
    masked. The door's checks are the same either way."""

    pk: int


def check_statement(purpose: str, case_reference: str = "") -> tuple[str, str]:
    """The purpose and case reference, trimmed; too long for the audit entry is bad input, not a server error."""
    purpose, case_reference = purpose.strip(), case_reference.strip()
    problems = []
    if len(purpose) > MAX_PURPOSE:
        problems.append(FieldProblem("purpose", _("Keep the purpose to %(n)d characters.") % {"n": MAX_PURPOSE}))
    if len(case_reference) > MAX_CASE_REFERENCE:
        problems.append(FieldProblem("case_reference", _("Keep the case reference to %(n)d characters.")
                                     % {"n": MAX_CASE_REFERENCE}))
    raise_if_problems(problems)
    return purpose, case_reference


@dataclass(frozen=True)
class Right:
    """What the door decided a reader may see of one registry."""

    basis: str  # "grant", "department", "self" or "open"
    registry: Registry
    fields: tuple[str, ...]
    rules: Mapping[str, str]
    row_filter: Mapping[str, Any] = field(default_factory=dict)
    grant: Grant | None = None
    may_reveal: bool = False
    legal_basis: str = ""
    pseudonym_key: bytes = b""


@dataclass(frozen=True)
class Reading:
    """One record as this reader may see it."""

    registry: str
    record_id: int
    version: int
    values: dict[str, Any]
    masked: tuple[str, ...]
    revealed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    readings: list[Reading]
    page: int
    page_size: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total


# --- codecs ------------------------------------------------------------------------------------------------

_codecs: dict[tuple[int, int], RecordCodec] = {}


def forget_codecs() -> None:
    """Drop the cached codecs and resource ids (tests whose rolled-back registries leave their ids to the next
    test)."""
    _codecs.clear()
    _resource_ids.clear()


def codec_for(registry: Registry) -> RecordCodec:
    """A registry's codec, built once per schema version and process: the door opens values with it, and
    unknown key versions (after a rotation) are loaded on first use."""
    cache_key = (registry.pk, registry.schema_version)
    codec = _codecs.get(cache_key)
    if codec is None:
        codec = _codecs[cache_key] = RecordCodec(registry)
    return codec


# --- rights ------------------------------------------------------------------------------------------------


def default_rule(spec: FieldSpec | DataItem) -> str:
    """A field's own masking rule; a personal field without one is withheld rather than shown."""
    if spec.masking:
        return spec.masking
    return "null" if spec.sensitivity in PERSONAL else "none"


def _pseudonym_key(codec: RecordCodec, consumer: str) -> bytes:
    # Derived from the registry's index key, so a consumer's pseudonyms survive data-key rotation and key-
    # encryption-key changes, and two consumers' pseudonyms of one person cannot be linked.
    return crypto.hmac_digest(codec.keys.index_key, b"zhengtong pseudonym\x00" + consumer.encode(),
                              codec.registry.index_suite)


def resource_of(registry: Registry) -> Resource | None:
    return Resource.objects.filter(registry=registry).first()


_resource_ids: dict[int, int] = {}


def resource_id_of(registry: Registry) -> int | None:
    """The id of the registry's catalog resource, which never changes once made: remembered per process, so
    the grant lookup on every read is a plain indexed query."""
    resource_id = _resource_ids.get(registry.pk)
    if resource_id is None:
        resource_id = Resource.objects.filter(registry=registry).values_list("pk", flat=True).first()
        if resource_id is not None:
            _resource_ids[registry.pk] = resource_id
    return resource_id


def _grant_in_force(reader: Reader, resource_id: int | None) -> Grant:
    """The consumer department's grant for the resource that is in force today (the widest, if several), or
    Refused saying why none is."""
    grants = list(Grant.objects.filter(consumer=reader.department, resource_id=resource_id).order_by()
                  ) if resource_id is not None else []
    if not grants:
        raise Refused(Reason.NO_GRANT)
    today = timezone.localdate()
    active = [g for g in grants if g.status == GrantStatus.ACTIVE]
    in_force = [g for g in active if g.in_force_on(today)]
    if not in_force:
        if active:
            raise Refused(Reason.GRANT_EXPIRED)
        suspended = any(g.status == GrantStatus.SUSPENDED for g in grants)
        raise Refused(Reason.GRANT_SUSPENDED if suspended else Reason.GRANT_REVOKED)
    return max(in_force, key=lambda g: (len(g.fields), g.pk))


def _grant_rules(grant: Grant, by_name: Mapping[str, FieldSpec | DataItem]) -> dict[str, str]:
    """Field → masking rule under the grant: its masking level, then its own rule per field."""
    rules: dict[str, str] = {}
    for name in grant.fields:
        spec = by_name.get(name)
        if spec is None:
            continue  # a field the schema has since dropped
        if grant.masking_level == MaskingLevel.CLEAR:
            rules[name] = "none"
        elif grant.masking_level == MaskingLevel.PSEUDONYMISED and spec.sensitivity in PERSONAL:
            rules[name] = "pseudonym"
        else:
            rules[name] = default_rule(spec)
        rules[name] = grant.field_rules.get(name, rules[name])
    return rules


def _grant_right(reader: Reader, registry: Registry, codec: RecordCodec) -> Right:
    grant = _grant_in_force(reader, resource_id_of(registry))
    rules = _grant_rules(grant, codec.schema.by_name)
    assert reader.department is not None
    # Revealing under a grant needs both: the grant allows it, and the staff member's role does.
    may_reveal = grant.may_reveal and reader.kind == ReaderKind.STAFF and reader.user.has_perm(REVEAL_PERSONAL_DATA)
    return Right("grant", registry, tuple(rules), rules, grant.row_filter, grant, may_reveal=may_reveal,
                 legal_basis=grant.legal_basis or grant.get_basis_display(),
                 pseudonym_key=_pseudonym_key(codec, reader.department.code))


def resolve_right(reader: Reader, registry: Registry, codec: RecordCodec | None = None) -> Right:
    """The reader's right to `registry`, or Refused."""
    codec = codec or codec_for(registry)
    specs = codec.schema.fields
    if reader.kind == ReaderKind.CITIZEN:
        return Right("self", registry, tuple(s.name for s in specs), {s.name: "none" for s in specs},
                     legal_basis=_("data subject access"))
    if reader.kind == ReaderKind.PUBLIC:
        resource = resource_of(registry)
        if resource is None or resource.status != ResourceStatus.PUBLISHED or \
                resource.opening_type != OpeningType.OPEN:
            raise Refused(Reason.NOT_OPEN)
        public = [s for s in specs if s.sensitivity == Sensitivity.PUBLIC]
        return Right("open", registry, tuple(s.name for s in public), {s.name: default_rule(s) for s in public},
                     legal_basis=_("open data"), pseudonym_key=_pseudonym_key(codec, "public"))
    assert reader.department is not None
    own = registry.department_id == reader.department.pk
    # Staff read the registries of their own department and those below it by role and data scope; a data
    # scope reaching further (a division, the whole platform) does not stand in for a grant to another
    # department's data.
    if reader.kind == ReaderKind.STAFF and (own or registry.department.tree_path.startswith(
            reader.department.tree_path)) and scope.permitted(reader.user, READ_RECORDS, registry):
        return Right("department", registry, tuple(s.name for s in specs), {s.name: default_rule(s) for s in specs},
                     may_reveal=reader.user.has_perm(REVEAL_PERSONAL_DATA), legal_basis=_("official duties"),
                     pseudonym_key=_pseudonym_key(codec, reader.department.code))
    if reader.kind == ReaderKind.STAFF and not reader.user.has_perm(READ_RECORDS):
        # A grant is the department's; among its staff, only roles that work with records use it.
        raise Refused(Reason.NO_GRANT)
    if reader.kind == ReaderKind.SYSTEM and own:
        return Right("department", registry, tuple(s.name for s in specs), {s.name: default_rule(s) for s in specs},
                     legal_basis=_("the provider's own system"),
                     pseudonym_key=_pseudonym_key(codec, reader.department.code))
    return _grant_right(reader, registry, codec)


# --- row scope, consent, quota -----------------------------------------------------------------------------


def row_filter_q(row_filter: Mapping[str, Any]) -> Q:
    """The row filter as a database condition. Row filters name plain (unencrypted) fields only, which grants
    check when they are made, so the database chooses the rows. Conditions: {"eq": v}, {"in": [...]},
    {"prefix": "5323"}."""
    condition = Q()
    for name, test in row_filter.items():
        if "eq" in test:
            condition &= Q(**{f"data__{name}": test["eq"]})
        if "in" in test:
            condition &= Q(**{f"data__{name}__in": list(test["in"])})
        if "prefix" in test:
            condition &= Q(**{f"data__{name}__startswith": str(test["prefix"])})
    return condition


def within_row_filter(values: Mapping[str, Any], row_filter: Mapping[str, Any]) -> bool:
    for name, test in row_filter.items():
        value = values.get(name)
        if "eq" in test and value != test["eq"]:
            return False
        if "in" in test and value not in test["in"]:
            return False
        if "prefix" in test and not (isinstance(value, str) and value.startswith(str(test["prefix"]))):
            return False
    return True


def _check_consent(grant: Grant, subjects: Iterable[str]) -> None:
    """Every data subject of a record read under a consent grant must have consented, not withdrawn, for the
    grant's purpose and to every field the grant reads: a consent to a data agreement names its purpose and
    fields, and a grant for another purpose or reading more fields rests on no consent (refused, naming the
    fields it lacks). A consent recorded without an agreement covers every field and purpose."""
    now = timezone.now()
    needed = set(grant.fields)
    for subject in subjects:
        consents = [c for c in ConsentRecord.objects.filter(
            subject_hash=subject_hash(subject), resource=grant.resource, consumer=grant.consumer)
            if not c.agreement_ref or c.purpose.strip() == grant.purpose.strip()]
        in_force = [c for c in consents if c.withdrawn_at is None and (c.expires_at is None or c.expires_at > now)]
        if any(not c.fields or needed <= set(c.fields) for c in in_force):
            continue
        if in_force:
            widest = max(in_force, key=lambda c: len(needed & set(c.fields)))
            raise Refused(Reason.CONSENT_MISSING, sorted(needed - set(widest.fields)))
        withdrawn = any(c.withdrawn_at is not None for c in consents)
        raise Refused(Reason.CONSENT_WITHDRAWN if withdrawn else Reason.CONSENT_MISSING)  # or expired


def _limits(grant: Grant) -> dict[str, tuple[int, Reason]]:
    """The grant's counter slots for now (this day, this minute) → their limit and the refusal past it."""
    now = timezone.localtime()
    return {slot: (limit, reason) for slot, limit, reason in (
        (f"d:{now:%Y-%m-%d}", grant.daily_quota, Reason.QUOTA_EXCEEDED),
        (f"m:{now:%Y-%m-%dT%H:%M}", grant.rate_per_minute, Reason.RATE_LIMITED)) if limit is not None}


def check_calls_left(grant: Grant) -> None:
    """Refuse, without counting, when the grant's quota or rate is already used up: for a call that would
    otherwise go out to a department's API first. count_call still decides, in the read's transaction."""
    limits = _limits(grant)
    used = dict(GrantUsage.objects.filter(grant=grant, slot__in=limits).values_list("slot", "calls"))
    for slot, (limit, reason) in sorted(limits.items()):
        if used.get(slot, 0) >= limit:
            raise Refused(reason)


def count_call(grant: Grant) -> None:
    """Count one call against the grant's day and minute, refusing past the quota or rate. Runs inside the
    read's transaction, so a refused or failed read is not counted; both counters move in one statement."""
    limits = _limits(grant)
    if not limits:
        return
    rows = ", ".join(["(%s, %s, 1)"] * len(limits))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO exchange_grantusage (grant_id, slot, calls) VALUES {rows} "  # noqa: S608 (placeholders only)
            "ON CONFLICT (grant_id, slot) DO UPDATE SET calls = exchange_grantusage.calls + 1 RETURNING slot, calls",
            [value for slot in limits for value in (grant.pk, slot)],
        )
        counted = cursor.fetchall()
    for slot, calls in sorted(counted):  # the day's quota ("d:") before the minute's rate ("m:")
        limit, reason = limits[slot]
        if calls > limit:
            raise Refused(reason)


# --- masking -----------------------------------------------------------------------------------------------


def _mask(right: Right | ServiceRight, plain: Mapping[str, Any], fields: Sequence[str], reveal: Sequence[str]
          ) -> tuple[dict[str, Any], tuple[str, ...]]:
    values: dict[str, Any] = {}
    masked = []
    for name in fields:
        rule = "none" if name in reveal else right.rules[name]
        value = plain.get(name)
        values[name] = masking.apply_rule(rule, value, pseudonym_key=right.pseudonym_key)
        if rule != "none" and value is not None:
            masked.append(name)
    return values, tuple(masked)


# --- the reads ---------------------------------------------------------------------------------------------


def _requested_fields(right: Right | ServiceRight, fields: Sequence[str] | None) -> tuple[str, ...]:
    if not fields:
        return right.fields
    outside = [name for name in fields if name not in right.fields]
    if outside:
        raise Refused(Reason.FIELD_NOT_GRANTED, outside)
    return tuple(dict.fromkeys(fields))


def _check_reveal(right: Right, fields: Sequence[str], reveal: Sequence[str], reason: str,
                  case_reference: str) -> None:
    if not reveal:
        return
    if not right.may_reveal:
        raise Refused(Reason.REVEAL_NOT_PERMITTED)
    outside = [name for name in reveal if name not in fields]
    if outside:
        raise Refused(Reason.FIELD_NOT_GRANTED, outside)
    problems = []
    if not reason.strip():
        problems.append(FieldProblem("reason", _("Give the reason for revealing the full value.")))
    if not case_reference.strip():
        problems.append(FieldProblem("case_reference", _("Give the case this reveal belongs to.")))
    raise_if_problems(problems)


def _refused(reader: Reader, registry: Registry, purpose: str, error: Refused, action: str) -> Refused:
    audit.record_alone(action, reader.actor(), object_type="registry", object_id=registry.code,
                       purpose=purpose, result=Result.DENIED,
                       detail={"reason": error.code, "calling_system": reader.calling_system,
                               "fields": list(error.fields)})
    return error


def _audit_read(action: str, reader: Reader, right: Right, readings: Sequence[Reading], subjects: Iterable[str],
                fields: Sequence[str], purpose: str, case_reference: str, extra: Mapping[str, Any]) -> None:
    audit.record(
        action, reader.actor(), object_type="registry", object_id=right.registry.code, subjects=subjects,
        fields=fields, purpose=purpose, legal_basis=right.legal_basis, case_reference=case_reference,
        detail={"basis": right.basis, "grant": right.grant.number if right.grant else "",
                "records": [r.record_id for r in readings], "calling_system": reader.calling_system, **extra},
    )


def _is_theirs(reader: Reader, subjects: Sequence[str]) -> bool:
    return reader.resident_id.upper() in (s.upper() for s in subjects)


def read_record(reader: Reader, registry: Registry, key: str | Mapping[str, Any] | RecordId, *, purpose: str,
                case_reference: str = "", fields: Sequence[str] | None = None, reveal: Sequence[str] = (),
                reveal_reason: str = "") -> Reading:
    """One record by its key (or RecordId), as `reader` may see it. `reveal` names fields to show in full
    (staff with the right to reveal, with a reason and a case reference)."""
    purpose, case_reference = check_statement(purpose, case_reference)
    codec = codec_for(registry)
    try:
        if not purpose:
            raise Refused(Reason.NO_PURPOSE)
        right = resolve_right(reader, registry, codec)
        _refuse_unknown(codec, fields or ())
        chosen = _requested_fields(right, fields)
        _check_reveal(right, chosen, reveal, reveal_reason, case_reference)
        with transaction.atomic():
            if isinstance(key, RecordId):
                record = Record.objects.filter(registry=registry, pk=key.pk, deleted_at__isnull=True).first()
            else:
                record = find_record(registry, key, codec=codec)
            plain = codec.plain(record.data) if record is not None else {}
            subjects = codec.subjects(plain)
            on_consent = right.grant is not None and right.grant.basis == Basis.CONSENT
            # Whether a record exists is told only to readers who could see it: under a consent grant, a missing
            # record answers like one whose subject has not consented; under a row scope, like one outside it.
            if record is None or (reader.kind == ReaderKind.CITIZEN and not _is_theirs(reader, subjects)):
                if on_consent:
                    raise Refused(Reason.CONSENT_MISSING)
                raise Refused(Reason.OUTSIDE_ROW_SCOPE if right.row_filter else Reason.NOT_FOUND)
            if on_consent:
                assert right.grant is not None
                _check_consent(right.grant, subjects)
            if right.row_filter and not within_row_filter(plain, right.row_filter):
                raise Refused(Reason.OUTSIDE_ROW_SCOPE)
            values, masked = _mask(right, plain, chosen, reveal)
            reading = Reading(registry.code, record.pk, record.version, values, masked, tuple(reveal))
            action = "exchange.reveal" if reveal else "exchange.read"
            _audit_read(action, reader, right, [reading], subjects, chosen, purpose, case_reference,
                        {"masked": list(masked), "revealed": list(reveal), "reveal_reason": reveal_reason.strip()})
            if right.grant is not None:
                # Last, so that the grant's counter rows are locked only until the commit that follows.
                count_call(right.grant)
    except Refused as error:
        raise _refused(reader, registry, purpose, error, "exchange.read_refused") from None
    return reading


def _refuse_unknown(codec: RecordCodec, names: Iterable[str]) -> None:
    """Names of fields the registry does not have are bad input (asked only of readers with a right)."""
    unknown = [name for name in names if name not in codec.schema.by_name]
    if unknown:
        raise InvalidInput.for_field(unknown[0], _("There is no such field in this registry."))


def _clean_filters(codec: RecordCodec, filters: Mapping[str, Any]) -> dict[str, Any]:
    cleaned, problems = Schema([codec.schema.by_name[n] for n in filters]).clean(dict(filters), value_context(),
                                                                                 partial=True)
    raise_if_problems(problems)
    sole_key = codec.schema.key_fields[0].name if len(codec.schema.key_fields) == 1 else None
    for name in filters:
        spec = codec.schema.by_name[name]
        if spec.encrypted and not spec.searchable and name != sole_key:
            raise InvalidInput.for_field(name, _("This field is encrypted and not indexed, so it cannot be "
                                                 "searched."))
    return cleaned


def _matching(codec: RecordCodec, right: Right, cleaned: Mapping[str, Any], reader: Reader) -> QuerySet[Record]:
    records = Record.objects.filter(registry=codec.registry, deleted_at__isnull=True)
    key_fields = codec.schema.key_fields
    for name, value in cleaned.items():
        spec = codec.schema.by_name[name]
        if value is None:
            records = records.filter(**{f"data__{name}__isnull": True})
        elif len(key_fields) == 1 and spec.is_key:  # through the key's index (blind, when encrypted)
            records = records.filter(key_value=codec.key_value({name: value}))
        elif spec.searchable:
            term = RecordTerm.objects.filter(registry=codec.registry, field=name, term=codec.term(spec, value))
            records = records.filter(pk__in=term.values("record_id"))
        else:
            records = records.filter(**{f"data__{name}": value})
    if reader.kind == ReaderKind.CITIZEN:
        records = records.filter(pk__in=_own_record_ids(codec, reader.resident_id))
    if right.row_filter:
        records = records.filter(row_filter_q(right.row_filter))
    return records.order_by("pk")


def _own_record_ids(codec: RecordCodec, resident_id: str) -> list[int]:
    """The records of one registry that name this resident ID in a resident-ID field that can be looked up."""
    ids: set[int] = set()
    for spec in codec.schema.fields:
        if spec.validator != Validator.RESIDENT_ID:
            continue
        if spec.is_key and len(codec.schema.key_fields) == 1:
            record = find_record(codec.registry, resident_id, codec=codec)
            if record is not None:
                ids.add(record.pk)
        elif spec.searchable:
            term = codec.term(spec, resident_id.upper())
            ids.update(RecordTerm.objects.filter(registry=codec.registry, field=spec.name, term=term)
                       .values_list("record_id", flat=True))
    return sorted(ids)


def search(reader: Reader, registry: Registry, *, filters: Mapping[str, Any], purpose: str,
           case_reference: str = "", fields: Sequence[str] | None = None, page: int = 1,
           page_size: int = 50, descending: bool = False) -> Page:
    """Records matching `filters` (field → value, all must hold), one page of them, in the order they were
    made (newest first when `descending`). Filtering by a field the reader may not see is refused like
    reading it."""
    purpose, case_reference = check_statement(purpose, case_reference)
    if page < 1:
        raise InvalidInput.for_field("page", _("Pages are counted from 1."))
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput.for_field("page_size", _("Ask for 1 to %(max)d records a page.") % {"max": MAX_PAGE_SIZE})
    codec = codec_for(registry)
    try:
        if not purpose:
            raise Refused(Reason.NO_PURPOSE)
        right = resolve_right(reader, registry, codec)
        _refuse_unknown(codec, [*(fields or ()), *filters])
        chosen = _requested_fields(right, fields)
        _requested_fields(right, list(filters))
        cleaned = _clean_filters(codec, filters)
        with transaction.atomic():
            matching = _matching(codec, right, cleaned, reader)
            if descending:
                matching = matching.reverse()
            start = (page - 1) * page_size
            if right.grant is not None and right.grant.basis == Basis.CONSENT:
                # Only records whose subjects consented are found at all, so the results and their count say
                # nothing about people who did not.
                grant = right.grant
                found = [r for r in matching.iterator(chunk_size=500)
                         if _consented(grant, codec.subjects(codec.plain(r.data)))]
                total, rows = len(found), found[start:start + page_size]
            else:
                total, rows = matching.count(), list(matching[start:start + page_size])
            readings, subjects = _read_rows(codec, right, rows, chosen)
            _audit_read("exchange.search", reader, right, readings, subjects, chosen, purpose, case_reference,
                        {"filters": sorted(filters), "page": page, "total": total})
            if right.grant is not None:
                count_call(right.grant)
    except Refused as error:
        raise _refused(reader, registry, purpose, error, "exchange.search_refused") from None
    return Page(readings, page, page_size, total)


def _read_rows(codec: RecordCodec, right: Right, rows: Sequence[Record], fields: Sequence[str]
               ) -> tuple[list[Reading], list[str]]:
    readings, subjects = [], []
    for record in rows:
        plain = codec.plain(record.data)
        these = codec.subjects(plain)
        if right.grant is not None and right.grant.basis == Basis.CONSENT:
            _check_consent(right.grant, these)
        subjects.extend(these)
        values, masked = _mask(right, plain, fields, ())
        readings.append(Reading(codec.registry.code, record.pk, record.version, values, masked))
    return readings, subjects


def stream(reader: Reader, registry: Registry, *, purpose: str, fields: Sequence[str] | None = None,
           filters: Mapping[str, Any] | None = None, batch_size: int = 1000, case_reference: str = ""
           ) -> tuple[tuple[str, ...], Iterator[Reading]]:
    """Every matching record, for an export: the right is resolved at once (so a refusal comes before any
    output), then records are read in batches by key order, each batch masked and audited in its own
    transaction before it is given out. Memory stays flat however large the registry. Under a consent grant,
    records whose subjects have not consented are left out of an export rather than failing it."""
    purpose, case_reference = check_statement(purpose, case_reference)
    codec = codec_for(registry)
    try:
        if not purpose:
            raise Refused(Reason.NO_PURPOSE)
        right = resolve_right(reader, registry, codec)
        _refuse_unknown(codec, [*(fields or ()), *(filters or {})])
        chosen = _requested_fields(right, fields)
        _requested_fields(right, list(filters or {}))
        cleaned = _clean_filters(codec, filters or {})
        if right.grant is not None:
            with transaction.atomic():
                count_call(right.grant)
    except Refused as error:
        raise _refused(reader, registry, purpose, error, "exchange.export_refused") from None

    def batches() -> Iterator[Reading]:
        last = 0
        while True:
            with transaction.atomic():
                rows = list(_matching(codec, right, cleaned, reader).filter(pk__gt=last)[:batch_size])
                if not rows:
                    return
                kept = rows if right.grant is None or right.grant.basis != Basis.CONSENT else \
                    [r for r in rows if _consented(right.grant, codec.subjects(codec.plain(r.data)))]
                readings, subjects = _read_rows(codec, right, kept, chosen)
                _audit_read("exchange.export", reader, right, readings, subjects, chosen, purpose,
                            case_reference, {"filters": sorted(cleaned)})
            yield from readings
            last = rows[-1].pk

    return chosen, batches()


def _consented(grant: Grant, subjects: Sequence[str]) -> bool:
    try:
        _check_consent(grant, subjects)
    except Refused:
        return False
    return True


def read_own_records(reader: Reader, *, purpose: str) -> list[Reading]:
    """Every record about a citizen in every registry, unmasked, as data subject access: one audit entry per
    registry that holds something about them."""
    if reader.kind != ReaderKind.CITIZEN:
        raise ValueError("only a citizen reads their own records")
    readings: list[Reading] = []
    for registry in Registry.objects.order_by("code"):
        codec = codec_for(registry)
        if not any(s.validator == Validator.RESIDENT_ID for s in codec.schema.fields):
            continue
        right = resolve_right(reader, registry, codec)
        with transaction.atomic():
            rows = list(Record.objects.filter(pk__in=_own_record_ids(codec, reader.resident_id),
                                              deleted_at__isnull=True).order_by("pk"))
            if not rows:
                continue
            found, subjects = _read_rows(codec, right, rows, right.fields)
            _audit_read("exchange.read", reader, right, found, subjects, right.fields, purpose, "", {})
        readings.extend(found)
    return readings


def field_labels(registry: Registry, names: Sequence[str], english: bool = False) -> list[tuple[str, str]]:
    """(name, label) for pages and exports, in the order given."""
    by_name = codec_for(registry).schema.by_name
    return [(n, (by_name[n].label_en if english and by_name[n].label_en else by_name[n].label)) for n in names]


# --- proxied services: a department's own API called through the gateway -------------------------------------
#
# The same rules as a registry read: the right (the consumer department's grant for the API resource, or the
# provider's own department), the purpose, the fields, consent, the quota and rate; the answer masked item by item
# by the resource's declared data items and the grant; audited as a read. Nothing is held open while the API is
# called: the checks that need no answer run first, then the call (exchange.proxy), then masking, counting and
# the audit entry in one transaction. Keys of the answer that are not declared data items are dropped.

SERVICE_PSEUDONYMS = b"zhengtong service pseudonym\x00"


@dataclass(frozen=True)
class ServiceRight:
    """What the door decided a reader may see of a department's API."""

    basis: str  # "grant" or "department"
    resource: Resource
    fields: tuple[str, ...]
    rules: Mapping[str, str]
    row_filter: Mapping[str, Any] = field(default_factory=dict)
    grant: Grant | None = None
    legal_basis: str = ""
    pseudonym_key: bytes = b""
    declared: frozenset[str] = frozenset()  # every data item of the resource


@dataclass(frozen=True)
class ServiceReading:
    """A department API's answer as this reader may see it: one masked object per row of the answer."""

    resource: str
    items: list[dict[str, Any]]
    masked: tuple[str, ...]
    single: bool  # the API answered one object, not a list


def _service_pseudonym_key(resource: Resource, consumer: str) -> bytes:
    # An API has no registry key; the key-encryption key stands in, so pseudonyms differ per resource and
    # consumer and cannot be linked across them.
    return crypto.hmac_digest(keys.kek_material(),
                              SERVICE_PSEUDONYMS + f"{resource.code}\x00{consumer}".encode())


CHANGING_METHODS = frozenset({"PUT", "PATCH", "DELETE"})


def resolve_service_right(reader: Reader, resource: Resource) -> ServiceRight:
    """The reader's right to call the API `resource`, or Refused. Systems and staff only: a citizen or the
    public reach departments' APIs through the services built on them, never directly."""
    if not resource.is_api:
        raise ValueError("resolve_service_right takes an API resource; registries are read by read_record")
    if reader.kind not in (ReaderKind.SYSTEM, ReaderKind.STAFF) or reader.department is None:
        raise Refused(Reason.NO_GRANT)
    items = {item.name: item for item in resource.items.all()}
    key = _service_pseudonym_key(resource, reader.department.code)
    works_with_records = reader.kind == ReaderKind.SYSTEM or reader.user.has_perm(READ_RECORDS)
    if not works_with_records:
        raise Refused(Reason.NO_GRANT)  # a grant is the department's; only roles that work with records use it
    if resource.provider_id == reader.department.pk:
        return ServiceRight("department", resource, tuple(items), {n: default_rule(i) for n, i in items.items()},
                            legal_basis=_("official duties"), pseudonym_key=key, declared=frozenset(items))
    grant = _grant_in_force(reader, resource.pk)
    if (resource.http_method or "GET") in CHANGING_METHODS and not grant.may_write:
        # POST stays a read: departments' verification APIs (核验) take their question as a POST body.
        raise Refused(Reason.NO_GRANT)
    rules = _grant_rules(grant, items)
    return ServiceRight("grant", resource, tuple(rules), rules, grant.row_filter, grant,
                        legal_basis=grant.legal_basis or grant.get_basis_display(), pseudonym_key=key,
                        declared=frozenset(items))


def identifiers_in(value: Any) -> list[str]:
    """The resident ID numbers and unified social credit codes anywhere in a JSON value (valid ones only):
    the data subjects a call or an answer is about."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for inner in value.values():
            found.extend(identifiers_in(inner))
    elif isinstance(value, (list, tuple)):
        for inner in value:
            found.extend(identifiers_in(inner))
    elif isinstance(value, str) and len(value.strip()) == 18:
        text = value.strip().upper()
        try:
            valid = ric.is_valid(text) or uscc.is_valid(text)
        except KeyError:  # stdnum's place table lacks some prefecture-level codes
            valid = uscc.is_valid(text)
        if valid:
            found.append(text)
    return list(dict.fromkeys(found))


def call_service(reader: Reader, resource: Resource, *, purpose: str, params: Sequence[tuple[str, str]] = (),
                 body: Any = None, case_reference: str = "", fields: Sequence[str] | None = None
                 ) -> ServiceReading:
    """Call the department API `resource` with `params` (query) and `body` (JSON), for `reader`, and return
    its answer masked by the reader's right. Refusals raise Refused (audited); failures of the API raise
    exchange.proxy's UpstreamError, UpstreamTimeout, CircuitOpen or UpstreamRejected (audited as failed).

    Data subjects are the identity numbers in the request (the people the call asks about) and in the rows
    returned. Under a consent grant, the people named in the request must all have consented (checked before
    the call), and every row is checked again for the people it names (a row naming nobody is about the people
    asked about): rows about anyone who did not consent are left out, and a single object answer is refused. So
    naming one consenting person in a stray parameter does not open other people's rows."""
    purpose, case_reference = check_statement(purpose, case_reference)
    asked_about = identifiers_in([[value for _name, value in params], body])
    try:
        if not purpose:
            raise Refused(Reason.NO_PURPOSE)
        right = resolve_service_right(reader, resource)
        unknown = [name for name in fields or () if name not in right.declared]
        if unknown:
            raise InvalidInput.for_field(unknown[0], _("The service returns no such data item."))
        chosen = _requested_fields(right, fields)
        if right.grant is not None:
            if right.grant.basis == Basis.CONSENT and asked_about:
                _check_consent(right.grant, asked_about)
            check_calls_left(right.grant)
    except Refused as error:
        raise _service_refused(reader, resource, purpose, error) from None
    answer = _call_upstream(reader, resource, right, purpose, case_reference, params, body)
    try:
        with transaction.atomic():
            rows = _kept_rows(right, answer.rows, answer.single, asked_about)
            items, subjects = [], list(asked_about)
            masked: set[str] = set()
            for row in rows:
                values, row_masked = _mask(right, row, chosen, ())
                items.append(values)
                masked.update(row_masked)
                subjects.extend(identifiers_in([row.get(name) for name in chosen]))
            dropped = sorted({key for row in answer.rows for key in row} - right.declared)
            audit.record(
                "exchange.read_service", reader.actor(), object_type="resource", object_id=resource.code or "",
                subjects=subjects, fields=chosen, purpose=purpose, legal_basis=right.legal_basis,
                case_reference=case_reference,
                detail={"basis": right.basis, "grant": right.grant.number if right.grant else "",
                        "calling_system": reader.calling_system, "upstream": answer.origin,
                        "upstream_status": answer.status, "attempts": answer.attempts, "rows": len(items),
                        "masked": sorted(masked), "undeclared_dropped": dropped[:50]})
            if right.grant is not None:
                count_call(right.grant)
    except Refused as error:
        raise _service_refused(reader, resource, purpose, error) from None
    return ServiceReading(resource.code or "", items, tuple(sorted(masked)), answer.single)


def _call_upstream(reader: Reader, resource: Resource, right: ServiceRight, purpose: str, case_reference: str,
                   params: Sequence[tuple[str, str]], body: Any) -> proxy.Answer:
    assert reader.department is not None
    headers = {"X-Zhengtong-Consumer": reader.department.code}
    if right.grant is not None:
        headers["X-Zhengtong-Grant"] = right.grant.number
    try:
        return proxy.call(resource.http_method or "GET", resource.endpoint_url, params=params, body=body,
                          headers=headers, item_names=right.declared)
    except proxy.UPSTREAM_FAILURES as error:
        audit.record_alone("exchange.read_service_failed", reader.actor(), object_type="resource",
                           object_id=resource.code or "", purpose=purpose, case_reference=case_reference,
                           result=Result.FAILED,
                           detail={"reason": error.code, "message": error.message,
                                   "calling_system": reader.calling_system})
        raise


def _kept_rows(right: ServiceRight, rows: Sequence[dict[str, Any]], single: bool, asked_about: Sequence[str]
               ) -> list[dict[str, Any]]:
    """The rows the right covers: within the row scope and, under a consent grant, about people who all
    consented (a row naming nobody is about the people asked about). A single object outside them is refused;
    rows of a list are left out."""
    on_consent = right.grant is not None and right.grant.basis == Basis.CONSENT
    kept = []
    for row in rows:
        try:
            if right.row_filter and not within_row_filter(row, right.row_filter):
                raise Refused(Reason.OUTSIDE_ROW_SCOPE)
            if on_consent:
                assert right.grant is not None
                subjects = identifiers_in([row.get(name) for name in right.fields]) or list(asked_about)
                if not subjects:
                    raise Refused(Reason.CONSENT_MISSING)
                _check_consent(right.grant, subjects)
        except Refused:
            if single:
                raise
            continue
        kept.append(row)
    return kept


def _service_refused(reader: Reader, resource: Resource, purpose: str, error: Refused) -> Refused:
    audit.record_alone("exchange.read_service_refused", reader.actor(), object_type="resource",
                       object_id=resource.code or "", purpose=purpose, result=Result.DENIED,
                       detail={"reason": error.code, "calling_system": reader.calling_system,
                               "fields": list(error.fields)})
    return error
