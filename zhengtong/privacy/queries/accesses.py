"""Who used my data: the accesses to a citizen's records, read from the audit trail, and the hidden-until rule.

An access is a read of registry records through the one door (read, reveal, search, export) whose audit entry
names the citizen as a data subject (by the keyed subject hash). Refused reads returned nothing and are left
out; so are writes, which are the registries' own history.

What a citizen sees of who read: the department by name (and its unified social credit code), the system by
its name for department systems, and for staff the role and department only, never the official's name. This
follows Estonia's Data Tracker, which shows the institution: the institution answers for its staff, a name
invites harassment of the clerk, and an objection or an auditor identifies the person when that is needed.

An access hidden by an investigator (privacy.models.accesses.HiddenAccess) is left out until the latest
disclosure date of its hidings, and from that day on is shown with who hid it and why. The citizen's own reads
of their data (my data, downloads) are left out unless asked for, so the list is about others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from zhengtong.audit import proofs
from zhengtong.audit.models import ActorKind, AuditEntry, AuditLeaf, AuditSubject, Result, SigningKeyRecord
from zhengtong.audit.subjects import subject_hash
from zhengtong.catalog.models import Resource
from zhengtong.core.errors import DomainError, NotPermitted
from zhengtong.exchange import door
from zhengtong.identity.models import Department
from zhengtong.identity.roles import ROLE_LABELS
from zhengtong.privacy.models import HiddenAccess
from zhengtong.registries.models import Registry, RegistryField

# Reads of registries and calls to departments' own APIs (proxied resources) that named the person.
ACCESS_ACTIONS = ("exchange.read", "exchange.reveal", "exchange.search", "exchange.export", "exchange.read_service",
                  # Staff handling an application saw what the applicant and the registries told it, in full.
                  "services.view_application")
# Kept in the trail as written; shown translated.
MY_DATA_PURPOSE = gettext_noop("data subject access")
DOWNLOAD_PURPOSE = gettext_noop("data subject access: a downloaded copy")
VIEW_HIDDEN = "privacy.view_hiddenaccess"
HIDE = "privacy.add_hiddenaccess"


class NoSuchAccess(DomainError):
    code = "not_found"
    status = 404


@dataclass(frozen=True)
class UsageFilters:
    """Filters of "who used my data": a period of local dates (both ends included), a department code, a
    purpose (exactly as recorded), and whether to include the citizen's own reads."""

    since: dt.date | None = None
    until: dt.date | None = None
    department: str = ""
    purpose: str = ""
    include_own: bool = False


def resident_id_of(user: Any) -> str:
    """The citizen's resident ID; staff and visitors have none and may not see a citizen's accesses."""
    citizen = getattr(user, "citizen", None) if getattr(user, "is_authenticated", False) else None
    if citizen is None or getattr(user, "kind", "") != "citizen":
        raise NotPermitted(_("Only a citizen can see who used their own data."))
    return str(citizen.resident_id)


def accesses_about(resident_id: str) -> QuerySet[AuditEntry]:
    """Every access to this person's records in the trail, hidden ones included (for the trail's own users)."""
    entry_ids = AuditSubject.objects.filter(subject_hash=subject_hash(resident_id)).values("entry_id")
    return AuditEntry.objects.filter(pk__in=entry_ids, action__in=ACCESS_ACTIONS, result=Result.OK)


def hidden_entry_ids(today: dt.date | None = None) -> QuerySet[HiddenAccess, Any]:
    """Ids of the entries hidden today: some hiding of theirs lasts beyond today."""
    today = today or timezone.localdate()
    return HiddenAccess.objects.filter(hidden_until__gt=today).values("entry_id")


def _own(user: Any) -> Q:
    return Q(actor_kind=ActorKind.CITIZEN, actor_id=str(user.pk))


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def visible_accesses(user: Any, filters: UsageFilters = UsageFilters(), *, today: dt.date | None = None
                     ) -> QuerySet[AuditEntry]:
    """The accesses to the citizen's records they may see today, newest first, filtered."""
    entries = accesses_about(resident_id_of(user)).exclude(pk__in=hidden_entry_ids(today))
    if not filters.include_own:
        entries = entries.exclude(_own(user))
    if filters.since:
        entries = entries.filter(occurred_at__gte=_day_start(filters.since))
    if filters.until:
        entries = entries.filter(occurred_at__lt=_day_start(filters.until + dt.timedelta(days=1)))
    if filters.department:
        entries = entries.filter(actor_department=filters.department)
    if filters.purpose:
        entries = entries.filter(purpose=filters.purpose)
    return entries.order_by("-occurred_at", "-id")


def filter_choices(user: Any, *, today: dt.date | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    """The departments (code, name) and purposes found among the citizen's visible accesses, for the filters."""
    entries = visible_accesses(user, UsageFilters(include_own=True), today=today)
    codes = sorted(set(entries.exclude(actor_department="").values_list("actor_department", flat=True)))
    names = _department_names(codes)
    departments = sorted(((code, names.get(code, code)) for code in codes), key=lambda pair: pair[1])
    purposes = sorted(set(entries.exclude(purpose="").values_list("purpose", flat=True)))
    return departments, purposes


# --- my data ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryCopy:
    """What one registry holds about the citizen, as the door gave it."""

    code: str
    name: str
    department: str
    fields: list[tuple[str, str]]  # (name, label)
    readings: list[door.Reading]

    def rows(self, reading: door.Reading) -> list[tuple[str, str, Any]]:
        """(name, label, value) of one record, in the schema's order."""
        return [(name, label, reading.values.get(name)) for name, label in self.fields if name in reading.values]


def my_records(user: Any, *, purpose: str = MY_DATA_PURPOSE) -> list[RegistryCopy]:
    """Every record about the citizen in every registry, read through the one door as data subject access
    (each registry's read audited)."""
    resident_id_of(user)
    readings = door.read_own_records(door.Reader.citizen(user), purpose=purpose)
    codes = list(dict.fromkeys(r.registry for r in readings))
    registries = {r.code: r for r in Registry.objects.filter(code__in=codes).select_related("department")}
    english = _english()
    copies = []
    for code in codes:
        registry = registries[code]
        found = [r for r in readings if r.registry == code]
        names = list(dict.fromkeys(name for r in found for name in r.values))
        department = registry.department
        copies.append(RegistryCopy(
            code, registry.name_en if english and registry.name_en else registry.name,
            department.name_en if english and department.name_en else department.name,
            door.field_labels(registry, names, english), found))
    return copies


# --- what a citizen reads of one access -------------------------------------------------------------------------


@dataclass(frozen=True)
class Disclosure:
    """A hiding that has ended: until when, by whom (role and department), why, and for which case."""

    hidden_until: dt.date
    hidden_at: dt.datetime
    hidden_by: str
    reason: str
    case_reference: str


@dataclass(frozen=True)
class Access:
    entry_id: int
    occurred_at: dt.datetime
    action: str
    department_code: str
    department_name: str
    institution_id: str  # the department's unified social credit code
    reader_kind: str  # "system", "staff" or "self"
    reader: str  # the system's name, the official's role, or "you"
    reader_id: str  # a system's key id; empty for people
    purpose: str
    legal_basis: str
    registry_code: str
    registry_name: str
    fields: list[str]  # labels
    record_ids: list[int]
    disclosures: list[Disclosure] = field(default_factory=list)

    @property
    def action_label(self) -> str:
        return {"exchange.read": _("read a record"), "exchange.reveal": _("revealed full values"),
                "exchange.search": _("search"), "exchange.export": _("export"),
                "exchange.read_service": _("asked a department's service"),
                "services.view_application": _("viewed your application")}.get(self.action, self.action)


def _english() -> bool:
    return (translation.get_language() or "").startswith("en")


def _department_names(codes: Iterable[str]) -> dict[str, str]:
    english = _english()
    return {d.code: (d.name_en if english and d.name_en else d.name)
            for d in Department.objects.filter(code__in=set(codes))}


def _role_labels(roles: str) -> str:
    labels = [str(ROLE_LABELS.get(name, name)) for name in roles.split(",") if name]
    return ", ".join(labels) if labels else _("staff member")


def official(roles: str, department_name: str) -> str:
    """How a citizen sees an official: role(s) and department, not the person."""
    return _("%(roles)s of %(department)s") % {"roles": _role_labels(roles), "department": department_name} \
        if department_name else _role_labels(roles)


def _field_labels(registry_codes: Iterable[str]) -> dict[tuple[str, str], tuple[int, str]]:
    """(registry code, field name) → (the field's position in the schema, its label)."""
    english = _english()
    rows = RegistryField.objects.filter(registry__code__in=set(registry_codes)).values_list(
        "registry__code", "name", "position", "label", "label_en")
    return {(code, name): (position, label_en if english and label_en else label)
            for code, name, position, label, label_en in rows}


def _labelled(registry_code: str, names: Iterable[str], labels: dict[tuple[str, str], tuple[int, str]]
              ) -> list[str]:
    """The labels of the fields in the schema's order; a field since dropped from the schema by its name, last."""
    known = sorted(labels[(registry_code, n)] for n in names if (registry_code, n) in labels)
    return [label for _position, label in known] + [n for n in names if (registry_code, n) not in labels]


def _registry_names(codes: Iterable[str]) -> dict[str, str]:
    """Names of registries by code, and of the departments' APIs (catalog resources) a service read names."""
    english = _english()
    codes = set(codes)
    names = {r.code or "": r.name for r in Resource.objects.filter(code__in=codes)}
    names.update({r.code: (r.name_en if english and r.name_en else r.name)
                  for r in Registry.objects.filter(code__in=codes)})
    return names


def _disclosures(entry_ids: Sequence[int]) -> dict[int, list[Disclosure]]:
    found: dict[int, list[Disclosure]] = {}
    hidings = list(HiddenAccess.objects.filter(entry_id__in=entry_ids).order_by("hidden_at", "id"))
    names = _department_names(h.hidden_by_department for h in hidings)
    for hiding in hidings:
        found.setdefault(hiding.entry_id, []).append(Disclosure(
            hiding.hidden_until, hiding.hidden_at,
            official(hiding.hidden_by_roles, names.get(hiding.hidden_by_department, hiding.hidden_by_department)),
            hiding.reason, hiding.case_reference))
    return found


def describe(entries: Sequence[AuditEntry]) -> list[Access]:
    """The entries as a citizen reads them, with names looked up once for the whole page."""
    departments = _department_names(e.actor_department for e in entries)
    credit_codes = dict(Department.objects.filter(code__in={e.actor_department for e in entries})
                        .values_list("code", "credit_code"))
    registries = _registry_names(e.object_id for e in entries)
    labels = _field_labels(e.object_id for e in entries)
    disclosures = _disclosures([e.pk for e in entries])
    accesses = []
    for entry in entries:
        department = departments.get(entry.actor_department, entry.actor_department)
        purpose, legal_basis = entry.purpose, entry.legal_basis
        if entry.actor_kind == ActorKind.API_CLIENT:
            kind, reader, reader_id = "system", entry.actor_name, entry.actor_id
        elif entry.actor_kind == ActorKind.CITIZEN:
            kind, reader, reader_id = "self", _("you"), ""
            purpose, legal_basis = _(purpose), _(legal_basis)
        else:
            kind, reader, reader_id = "staff", official(entry.actor_roles, department), ""
        records = entry.detail.get("records", []) if isinstance(entry.detail, dict) else []
        accesses.append(Access(
            entry.pk, entry.occurred_at, entry.action, entry.actor_department, department,
            credit_codes.get(entry.actor_department, ""), kind, reader, reader_id, purpose, legal_basis,
            entry.object_id, registries.get(entry.object_id, entry.object_id),
            _labelled(entry.object_id, entry.fields, labels),
            [int(r) for r in records if isinstance(r, int)], disclosures.get(entry.pk, [])))
    return accesses


# --- proofs -------------------------------------------------------------------------------------------------------


def check_proof(user: Any, entry_id: int, *, today: dt.date | None = None) -> proofs.InclusionCheck:
    """The inclusion check of one access the citizen may see (their own reads included); any other entry is
    not found, so the answer never says whether a hidden or someone else's entry exists."""
    if not visible_accesses(user, UsageFilters(include_own=True), today=today).filter(pk=entry_id).exists():
        raise NoSuchAccess(_("There is no such access to your data."))
    return proofs.entry_inclusion(entry_id)


def leaf_hash_hex(entry_id: int) -> str:
    leaf = AuditLeaf.objects.filter(entry_id=entry_id).first()
    return bytes(leaf.leaf_hash).hex() if leaf is not None else ""


def public_key_hex(key_id: str) -> str:
    """The public key that signs tree heads under this key id, so a citizen's tool can check the signature."""
    key = SigningKeyRecord.objects.filter(key_id=key_id).first()
    return bytes(key.public_key).hex() if key is not None else ""


# --- auditors ---------------------------------------------------------------------------------------------------


def hidden_accesses(user: Any, *, current_only: bool = False, today: dt.date | None = None
                    ) -> QuerySet[HiddenAccess]:
    """Every hiding, newest first, for auditors (who see them from the moment they are made)."""
    if not user.has_perm(VIEW_HIDDEN):
        raise NotPermitted(_("You may not see hidden accesses."))
    hidings = HiddenAccess.objects.select_related("entry").order_by("-hidden_at", "-id")
    if current_only:
        hidings = hidings.filter(hidden_until__gt=today or timezone.localdate())
    return hidings


def hidden_until(entry_id: int) -> dt.date | None:
    """The latest disclosure date of an entry's hidings, or None if it was never hidden."""
    return HiddenAccess.objects.filter(entry_id=entry_id).aggregate(until=Max("hidden_until"))["until"]
