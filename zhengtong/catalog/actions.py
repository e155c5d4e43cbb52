"""Every change to the catalog, as a named verb.

Views, the API, the admin and the registries signal call these; none of them changes catalog models itself.
Each action checks the actor's permission within their data scope (data officers act for the departments in
their scope; governance officers, whose scope is normally all, run the catalog), changes state in one
transaction and writes its audit entry in it. `actor=None` is the platform acting for an operator at the shell.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.audit.models import Result
from zhengtong.catalog import certificates, queries
from zhengtong.catalog.models import (
    DataItem,
    HttpMethod,
    NumberCounter,
    OpeningType,
    Resource,
    ResourceFormat,
    ResourceKind,
    ResourceStatus,
    RightHolder,
    RightKind,
    RightsDispute,
    RightsRegistration,
    SharingType,
    UpdateCycle,
)
from zhengtong.core import masking
from zhengtong.core.errors import Conflict, FieldProblem, InvalidInput, raise_if_problems
from zhengtong.identity import validation
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import Department, User
from zhengtong.registries.models import FieldType, Grade, Level, Registry, Sensitivity

ITEM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
ITEM_CODE = re.compile(r"[0-9]{2}")
CATEGORY_CODE = re.compile(r"[0-9]{3}")
SUBCATEGORY_CODE = re.compile(r"[0-9A-Z]{0,18}")
SEQUENCE_DIGITS = 6
REGISTRATION_PREFIX = "QSDJ"  # 权属登记
CLASSIFICATION_FIELDS = ("kind", "item_code", "category_code", "subcategory_code")
URL = URLValidator(schemes=["http", "https"])
# NUL cannot be stored by PostgreSQL and a lone surrogate cannot be encoded as UTF-8 (the certificate payload
# is); other control characters than tab and line breaks have no place in catalog text either.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SURROGATE = re.compile("[\ud800-\udfff]")


def _required(problems: list[FieldProblem], field: str, value: str) -> None:
    if not value.strip():
        problems.append(FieldProblem(field, _("This field is required.")))


def _text_problem(problems: list[FieldProblem], field: str, value: Any) -> None:
    """Refuse text that cannot be stored or signed: control characters and lone surrogates."""
    if not isinstance(value, str):
        return
    if CONTROL_CHARACTER.search(value):
        problems.append(FieldProblem(field, _("Contains a control character.")))
    elif SURROGATE.search(value):
        problems.append(FieldProblem(field, _("Contains a character that is not valid Unicode text.")))


def _text_problems(data: Any, prefix: str = "") -> list[FieldProblem]:
    """The text problems of every text field of an input dataclass, named `<prefix><field>`."""
    problems: list[FieldProblem] = []
    for field in dataclasses.fields(data):
        _text_problem(problems, prefix + field.name, getattr(data, field.name))
    return problems


def _one_of(problems: list[FieldProblem], field: str, value: Any, allowed: Iterable[Any]) -> None:
    allowed = list(allowed)
    if value in ("", None):
        problems.append(FieldProblem(field, _("This field is required.")))
    elif value not in allowed:
        problems.append(FieldProblem(field, _("%(value)s is not one of: %(allowed)s.")
                                     % {"value": value, "allowed": ", ".join(str(a) for a in allowed)}))


def next_number(series: str) -> int:
    """The next number of a series, taken under a row lock inside the caller's transaction."""
    counter, _created = NumberCounter.objects.select_for_update().get_or_create(series=series)
    counter.last += 1
    counter.save(update_fields=["last"])
    return counter.last


# --- inputs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemInput:
    """A data item declared with an API resource."""

    name: str
    label: str
    type: str
    label_en: str = ""
    description: str = ""
    sensitivity: str = Sensitivity.INTERNAL
    grade: int = Grade.GENERAL
    level: int = Level.L2
    masking: str = ""


@dataclass(frozen=True)
class ResourceInput:
    """The metadata a data officer describes for any resource.

    `state_secret` is asked so that a state secret is refused outright; it is never stored. `related` and
    `sources` are resource ids. `format` is fixed for API resources and may be left empty for them.
    """

    name: str
    summary: str
    kind: str
    item_code: str
    category_code: str
    update_cycle: str
    sharing_type: str
    opening_type: str
    format: str = ""
    subcategory_code: str = ""
    sharing_condition: str = ""
    legal_basis: str = ""
    opening_condition: str = ""
    related: Sequence[int] = ()
    sources: Sequence[int] = ()
    state_secret: bool = False


@dataclass(frozen=True)
class ServiceInput:
    """What a department's own API is: where it answers, how, and the data items it returns."""

    endpoint_url: str
    http_method: str
    service_description: str
    items: Sequence[ItemInput]


@dataclass(frozen=True)
class Grading:
    """What the sharing and opening rules look at: the highest grade and level of the items, and which
    sensitivities occur."""

    grade: int
    level: int
    sensitivities: frozenset[str]

    @classmethod
    def of(cls, items: Iterable[Any]) -> Grading:
        items = list(items)
        return cls(max((int(i.grade) for i in items), default=Grade.GENERAL),
                   max((int(i.level) for i in items), default=Level.L1),
                   frozenset(str(i.sensitivity) for i in items))


# --- checks ---------------------------------------------------------------------------------------------------


def _refuse_state_secret(actor: User | None, data: ResourceInput) -> None:
    if not data.state_secret:
        return
    # An attempt to catalogue a state secret is itself worth an auditor's attention.
    audit.record_alone("catalog.state_secret_refused", actor_of(actor), result=Result.DENIED,
                       object_type="resource", detail={"name": data.name[:200]})
    raise InvalidInput.for_field("state_secret", _(
        "State secrets do not belong in this catalog: resources classified under the Law on Guarding State "
        "Secrets are catalogued and exchanged only through the secrecy system, never on this platform."))


def _metadata_problems(data: ResourceInput, grading: Grading, *, registry: Registry | None) -> list[FieldProblem]:
    """Every problem with the metadata of an API resource (`registry` None) or a registry's resource, including
    the sharing and opening rules for this grading."""
    is_api = registry is None
    problems = _text_problems(data)
    _required(problems, "name", data.name)
    _required(problems, "summary", data.summary)
    _one_of(problems, "kind", data.kind, ResourceKind.values)
    # The base kind (class digit 1 of the code) belongs to the base registries alone, and their resources have
    # no other kind; thematic and departmental are the choice of everything else.
    if registry is not None and registry.is_base:
        if data.kind != ResourceKind.BASE:
            problems.append(FieldProblem("kind", _("The resource of a base registry is a base resource.")))
    elif data.kind == ResourceKind.BASE:
        problems.append(FieldProblem("kind", _("Only the base registries' resources are base resources; choose "
                                               "thematic or departmental.")))
    if is_api:
        if data.format not in ("", ResourceFormat.API):
            problems.append(FieldProblem("format", _("An API resource has the format service interface (API).")))
    else:
        _one_of(problems, "format", data.format, ResourceFormat.values)
    if not ITEM_CODE.fullmatch(data.item_code):
        problems.append(FieldProblem("item_code", _("The item (项) has two digits.")))
    if not CATEGORY_CODE.fullmatch(data.category_code):
        problems.append(FieldProblem("category_code", _("The category (目) has three digits.")))
    if not SUBCATEGORY_CODE.fullmatch(data.subcategory_code):
        problems.append(FieldProblem("subcategory_code",
                                     _("The sub-category (细目) has up to 18 digits or capital letters.")))
    _one_of(problems, "update_cycle", data.update_cycle, UpdateCycle.values)
    _one_of(problems, "sharing_type", data.sharing_type, SharingType.values)
    _one_of(problems, "opening_type", data.opening_type, OpeningType.values)
    problems.extend(_sharing_problems(data, grading))
    return problems


def _sharing_problems(data: ResourceInput, grading: Grading) -> list[FieldProblem]:
    """The sharing and opening rules. The strictest item decides (就高从严)."""
    problems: list[FieldProblem] = []
    sharing, opening = data.sharing_type, data.opening_type
    if sharing == SharingType.CONDITIONAL:
        if not data.sharing_condition.strip():
            problems.append(FieldProblem("sharing_condition", _(
                "Say on which conditions the resource is shared (who may use it, for what).")))
        if not data.legal_basis.strip():
            problems.append(FieldProblem("legal_basis", _(
                "Conditional sharing needs its legal basis: name the law, regulation or decision that sets "
                "the conditions.")))
    elif sharing == SharingType.NONE:
        if not data.legal_basis.strip():
            problems.append(FieldProblem("legal_basis", _(
                "A resource that is not shared needs the legal basis for not sharing it.")))
    elif sharing == SharingType.UNCONDITIONAL and (grading.grade >= Grade.CORE or grading.level >= Level.L4
                                                   or Sensitivity.SENSITIVE_PERSONAL in grading.sensitivities):
        problems.append(FieldProblem("sharing_type", _(
            "Core data, L4 data and sensitive personal information cannot be shared unconditionally; "
            "share it on conditions, with their legal basis.")))
    if opening == OpeningType.CONDITIONAL and not data.opening_condition.strip():
        problems.append(FieldProblem("opening_condition", _("Say on which conditions the resource is opened.")))
    if opening in (OpeningType.OPEN, OpeningType.CONDITIONAL) and sharing == SharingType.NONE:
        problems.append(FieldProblem("opening_type", _(
            "A resource that is not shared between departments cannot be opened to the public.")))
    elif opening == OpeningType.OPEN and sharing == SharingType.CONDITIONAL:
        problems.append(FieldProblem("opening_type", _(
            "A resource shared between departments only on conditions cannot be open to everyone; open it on "
            "conditions, or share it unconditionally.")))
    elif opening == OpeningType.OPEN and (grading.grade > Grade.GENERAL or grading.level > Level.L1
                                         or grading.sensitivities - {Sensitivity.PUBLIC}):
        problems.append(FieldProblem("opening_type", _(
            "Only general L1 data whose items are all public can be open to everyone.")))
    elif opening == OpeningType.CONDITIONAL and (grading.grade > Grade.GENERAL or grading.level > Level.L2
                                                 or Sensitivity.SENSITIVE_PERSONAL in grading.sensitivities):
        problems.append(FieldProblem("opening_type", _(
            "Only general data up to L2 without sensitive personal information can be opened on conditions.")))
    return problems


def _item_problems(items: Sequence[ItemInput]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if not items:
        return [FieldProblem("items", _("Declare at least one data item that the service returns."))]
    seen: set[str] = set()
    for index, item in enumerate(items):
        def problem(attribute: str, reason: str, index: int = index) -> None:
            problems.append(FieldProblem(f"items[{index}].{attribute}", reason))

        problems.extend(_text_problems(item, f"items[{index}]."))

        if not ITEM_NAME.fullmatch(item.name):
            problem("name", _("Use letters, digits and _, starting with a letter (at most 64)."))
        elif item.name in seen:
            problem("name", _("Two items are named %(name)s.") % {"name": item.name})
        seen.add(item.name)
        if not item.label.strip():
            problem("label", _("Every item needs a label."))
        for attribute, allowed in (("type", FieldType.values), ("sensitivity", Sensitivity.values),
                                   ("grade", Grade.values), ("level", Level.values)):
            _one_of(problems, f"items[{index}].{attribute}", getattr(item, attribute), allowed)
        if item.masking:
            reason = masking.check_rule(item.masking)
            if reason:
                problem("masking", reason)
    return problems


def _service_problems(service: ServiceInput) -> list[FieldProblem]:
    problems = _text_problems(service)
    url = service.endpoint_url.strip()
    try:
        URL(url)
    except ValidationError:
        problems.append(FieldProblem("endpoint_url", _("Give the full http:// or https:// address of the API.")))
    else:
        if len(url) > 500:
            problems.append(FieldProblem("endpoint_url", _("The address is longer than 500 characters.")))
    _one_of(problems, "http_method", service.http_method, HttpMethod.values)
    _required(problems, "service_description", service.service_description)
    problems.extend(_item_problems(service.items))
    return problems


def _descendants(resource: Resource) -> set[int]:
    """Ids of every resource derived from this one, directly or through others."""
    links = Resource.sources.through.objects
    found: set[int] = set()
    frontier = {resource.pk}
    while frontier:
        frontier = set(links.filter(to_resource_id__in=frontier).values_list("from_resource_id", flat=True)) - found
        found |= frontier
    return found


def _linked(actor: User | None, data: ResourceInput, resource: Resource | None
            ) -> tuple[list[Resource], list[Resource], list[FieldProblem]]:
    """The related and source resources named by id, each checked to exist and to be visible to the actor."""
    problems: list[FieldProblem] = []
    visible = queries.visible_resources(actor)
    chosen: dict[str, list[Resource]] = {}
    for field in ("related", "sources"):
        ids = list(dict.fromkeys(getattr(data, field)))
        found = {r.pk: r for r in visible.filter(pk__in=ids)}
        missing = [str(i) for i in ids if i not in found]
        if missing:
            problems.append(FieldProblem(field, _("No resource in the catalog has the id %(ids)s.")
                                         % {"ids": ", ".join(missing)}))
        if resource is not None and resource.pk in found:
            problems.append(FieldProblem(field, _("A resource cannot name itself.")))
            del found[resource.pk]
        chosen[field] = list(found.values())
    if resource is not None:
        descendants = _descendants(resource)
        cycle = [r for r in chosen["sources"] if r.pk in descendants]
        if cycle:
            problems.append(FieldProblem("sources", _("%(name)s is derived from this resource, so it cannot also "
                                                      "be its source.") % {"name": cycle[0].name}))
    return chosen["related"], chosen["sources"], problems


# --- resources ------------------------------------------------------------------------------------------------


def _apply_metadata(resource: Resource, data: ResourceInput) -> list[str]:
    """Copy the metadata onto the resource; returns the names of the fields that changed."""
    values = {
        "name": data.name.strip(), "summary": data.summary.strip(), "kind": data.kind,
        "format": ResourceFormat.API if resource.is_api else data.format,
        "item_code": data.item_code, "category_code": data.category_code, "subcategory_code": data.subcategory_code,
        "update_cycle": data.update_cycle, "sharing_type": data.sharing_type,
        "sharing_condition": data.sharing_condition.strip(), "legal_basis": data.legal_basis.strip(),
        "opening_type": data.opening_type, "opening_condition": data.opening_condition.strip(),
    }
    changed = [field for field, value in values.items() if getattr(resource, field) != value]
    for field, value in values.items():
        setattr(resource, field, value)
    return changed


def _classification(resource: Resource) -> dict[str, str]:
    return {field: getattr(resource, field) for field in CLASSIFICATION_FIELDS}


def _assign_code(resource: Resource, previous: dict[str, str]) -> list[FieldProblem]:
    """Give the resource its code when it has none or its classification changed. A code that has been
    published is what other departments cite: it never changes afterwards."""
    changed = [field for field, value in previous.items() if getattr(resource, field) != value]
    if resource.code and not changed:
        return []
    if resource.code and resource.published_on is not None:
        return [FieldProblem(field, _("The resource code %(code)s is fixed since the resource was published; "
                                      "its classification cannot change.") % {"code": resource.code})
                for field in changed]
    front = resource.front_code
    resource.code = f"{front}/{next_number('resource:' + front):0{SEQUENCE_DIGITS}d}"
    return []


def _replace_items(resource: Resource, items: list[DataItem]) -> None:
    DataItem.objects.filter(resource=resource).delete()
    for position, item in enumerate(items):
        item.resource = resource
        item.position = position
    DataItem.objects.bulk_create(items)
    grading = Grading.of(items)
    resource.grade, resource.level = grading.grade, grading.level


def _item_from_input(item: ItemInput) -> DataItem:
    return DataItem(name=item.name, label=item.label.strip(), label_en=item.label_en.strip(),
                    description=item.description.strip(), type=item.type, sensitivity=item.sensitivity,
                    grade=item.grade, level=item.level, masking=item.masking, encrypted=False)


def _save_links(actor: User | None, resource: Resource, related: list[Resource], sources: list[Resource]
                ) -> tuple[list[str], dict[str, dict[str, list[int]]]]:
    """Set the resource's related and source resources; returns the fields that changed and, for the audit
    entry, the ids added and removed.

    `related` stays symmetric: a relation between two resources is one fact, shown on both (the catalog is how
    departments find each other's data), so linking changes the other resource's list too. That is why a link
    is removed only by someone who may change the other resource as well — a department cannot quietly drop
    another's statement — and why links to resources the actor cannot see are kept, not dropped unseen. Adding
    a link takes nothing from the other resource and is recorded here. `sources` is this resource's own
    lineage and one-directional."""
    changed: list[str] = []
    links: dict[str, dict[str, list[int]]] = {}
    for field, chosen in (("related", related), ("sources", sources)):
        manager = getattr(resource, field)
        before = {r.pk: r for r in manager.select_related("provider")}
        seen = set(queries.visible_resources(actor).filter(pk__in=before).values_list("pk", flat=True))
        wanted = {r.pk for r in chosen} | (set(before) - seen)
        added, removed = sorted(wanted - set(before)), sorted(set(before) - wanted)
        if field == "related":
            refused = [before[pk] for pk in removed if actor is not None and not queries.may_change(actor, before[pk])]
            if refused:
                raise InvalidInput.for_field("related", _(
                    "The link to %(name)s can be removed only by its provider or the data governance office.")
                    % {"name": refused[0].name})
        if added or removed:
            manager.set(wanted)
            changed.append(field)
            links[field] = {"added": added, "removed": removed}
    return changed, links


def create_api_resource(actor: User | None, *, provider: Department, data: ResourceInput,
                        service: ServiceInput) -> Resource:
    """Describe a department's own API in the catalog, as a draft with its code. It is served later through
    the gateway; only its description is kept here."""
    require_permission(actor, "catalog.add_resource", provider)
    _refuse_state_secret(actor, data)
    problems = _service_problems(service)
    grading = Grading.of(service.items) if not problems else Grading(Grade.GENERAL, Level.L1, frozenset())
    problems = _metadata_problems(data, grading, registry=None) + problems
    related, sources, link_problems = _linked(actor, data, None)
    raise_if_problems(problems + link_problems)
    with transaction.atomic():
        resource = Resource(provider=provider, created_by=actor, endpoint_url=service.endpoint_url.strip(),
                            http_method=service.http_method,
                            service_description=service.service_description.strip())
        _apply_metadata(resource, data)
        _assign_code(resource, _classification(resource))
        resource.save()
        _replace_items(resource, [_item_from_input(item) for item in service.items])
        resource.save(update_fields=["grade", "level"])
        _changed, links = _save_links(actor, resource, related, sources)
        audit.record("catalog.create_resource", actor_of(actor), object_type="resource", object_id=resource.pk,
                     detail={"code": resource.code, "provider": provider.code, "grade": resource.grade,
                             "level": resource.level, **links})
    return resource


def update_resource(actor: User | None, resource: Resource, data: ResourceInput,
                    service: ServiceInput | None = None) -> Resource:
    """Change a resource's metadata; for an API resource also, when `service` is given, the service and its
    data items. A registry resource's items follow its registry and are not edited here."""
    require_permission(actor, "catalog.change_resource", resource)
    _refuse_state_secret(actor, data)
    problems: list[FieldProblem] = []
    if service is not None and not resource.is_api:
        problems.append(FieldProblem("items", _("The data items of a registry resource follow the registry's "
                                                "schema; change the registry instead.")))
    elif service is not None:
        problems.extend(_service_problems(service))
    with transaction.atomic():
        resource = Resource.objects.select_for_update().get(pk=resource.pk)
        if service is not None and not problems:
            grading = Grading.of(service.items)
        else:
            grading = Grading.of(resource.items.all())
        problems = _metadata_problems(data, grading, registry=resource.registry) + problems
        related, sources, link_problems = _linked(actor, data, resource)
        raise_if_problems(problems + link_problems)
        previous = _classification(resource)
        changed = _apply_metadata(resource, data)
        raise_if_problems(_assign_code(resource, previous))
        if service is not None:
            service_values = {"endpoint_url": service.endpoint_url.strip(), "http_method": service.http_method,
                              "service_description": service.service_description.strip()}
            changed += [f for f, v in service_values.items() if getattr(resource, f) != v]
            for field, value in service_values.items():
                setattr(resource, field, value)
            _replace_items(resource, [_item_from_input(item) for item in service.items])
            changed.append("items")
        resource.save()
        link_changes, links = _save_links(actor, resource, related, sources)
        audit.record("catalog.update_resource", actor_of(actor), object_type="resource", object_id=resource.pk,
                     detail={"code": resource.code, "changed": sorted({*changed, *link_changes}),
                             "grade": resource.grade, "level": resource.level, **links})
    return resource


def _input_of(resource: Resource) -> ResourceInput:
    return ResourceInput(
        name=resource.name, summary=resource.summary, kind=resource.kind, format=resource.format,
        item_code=resource.item_code, category_code=resource.category_code,
        subcategory_code=resource.subcategory_code, update_cycle=resource.update_cycle,
        sharing_type=resource.sharing_type, sharing_condition=resource.sharing_condition,
        legal_basis=resource.legal_basis, opening_type=resource.opening_type,
        opening_condition=resource.opening_condition,
    )


def publish_resource(actor: User | None, resource: Resource) -> Resource:
    """Offer a draft for sharing. Its metadata is checked again against its items' grading as they are now,
    so a registry whose schema became stricter since the last edit is not published on stale attributes."""
    require_permission(actor, "catalog.change_resource", resource)
    with transaction.atomic():
        resource = Resource.objects.select_for_update().get(pk=resource.pk)
        if resource.status == ResourceStatus.PUBLISHED:
            raise Conflict(_("This resource is published already."))
        problems = _metadata_problems(_input_of(resource), Grading.of(resource.items.all()),
                                      registry=resource.registry)
        if not resource.items.exists():
            problems.append(FieldProblem("items", _("A resource without data items cannot be published.")))
        if problems:
            raise InvalidInput(_("Complete the metadata before publishing: %(problems)s")
                               % {"problems": "; ".join(f"{p.field}: {p.reason}" for p in problems)}, problems)
        resource.status = ResourceStatus.PUBLISHED
        resource.published_on = resource.published_on or timezone.localdate()
        resource.save(update_fields=["status", "published_on", "updated_at"])
        audit.record("catalog.publish_resource", actor_of(actor), object_type="resource", object_id=resource.pk,
                     detail={"code": resource.code, "sharing_type": resource.sharing_type,
                             "opening_type": resource.opening_type, "grade": resource.grade,
                             "level": resource.level})
    return resource


def _item_from_field(field: Any) -> DataItem:
    return DataItem(name=field.name, label=field.label, label_en=field.label_en, description=field.description,
                    type=field.type, sensitivity=field.sensitivity, grade=field.grade, level=field.level,
                    masking=field.masking, encrypted=field.encrypted)


def sync_registry_resource(actor: User | None, registry: Registry) -> Resource:
    """Keep the registry's resource in step with its schema: created as a draft for a new registry (a data
    officer completes its sharing attributes and publishes it), its items and grading replaced on every schema
    change. A published resource whose attributes no longer fit the new grading goes back to draft.

    No permission of its own: it runs inside the registries action that was permitted to define the registry,
    and every registry must have its catalog entry.
    """
    with transaction.atomic():
        resource = Resource.objects.select_for_update().filter(registry=registry).first()
        created = resource is None
        if resource is None:
            resource = Resource.objects.create(
                registry=registry, provider=registry.department, name=registry.name,
                summary=registry.description, format=ResourceFormat.DATABASE, created_by=actor,
                kind=ResourceKind.BASE if registry.is_base else ResourceKind.DEPARTMENTAL,
            )
        moved_from = None
        if resource.provider_id != registry.department_id:  # the registry passed to another department
            moved_from = resource.provider.code
            resource.provider = registry.department
        _replace_items(resource, [_item_from_field(field) for field in registry.fields.order_by("position")])
        withdrawn: list[FieldProblem] = []
        if resource.status == ResourceStatus.PUBLISHED:
            withdrawn = _sharing_problems(_input_of(resource), Grading.of(resource.items.all()))
            if withdrawn:
                resource.status = ResourceStatus.DRAFT
        resource.save()
        audit.record("catalog.sync_registry", actor_of(actor), object_type="resource", object_id=resource.pk,
                     detail={"registry": registry.code, "schema_version": registry.schema_version,
                             "created": created, "grade": resource.grade, "level": resource.level,
                             **({"provider": {"from": moved_from, "to": registry.department.code}}
                                if moved_from is not None else {}),
                             "withdrawn": [f"{p.field}: {p.reason}" for p in withdrawn]})
    return resource


def on_registry_defined(sender: Any, *, registry: Registry, actor: User | None, created: bool,
                        **kwargs: Any) -> None:
    """Receiver of registries.signals.registry_defined."""
    sync_registry_resource(actor, registry)


# --- rights registration --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HolderInput:
    """A holder of processing-and-use or product-operation rights: a department by code, or an organisation
    by name and unified social credit code."""

    right: str
    department_code: str = ""
    name: str = ""
    credit_code: str = ""


@dataclass(frozen=True)
class RightsInput:
    holder_code: str  # the department holding the data resource (数据资源持有权)
    source_system: str
    collection_legal_basis: str
    provenance_note: str = ""
    holders: Sequence[HolderInput] = ()


def _rights_from_input(data: RightsInput) -> tuple[Department | None, list[RightHolder], list[FieldProblem]]:
    problems = _text_problems(data)
    for index, entry in enumerate(data.holders):
        problems += _text_problems(entry, f"holders[{index}].")
    codes = {data.holder_code, *(h.department_code for h in data.holders)} - {""}
    departments = {d.code: d for d in Department.objects.filter(code__in=codes)}
    holder = departments.get(data.holder_code)
    if not data.holder_code:
        problems.append(FieldProblem("holder_code", _("This field is required.")))
    elif holder is None:
        problems.append(FieldProblem("holder_code", _("No department has the code %(code)s.")
                                     % {"code": data.holder_code}))
    _required(problems, "source_system", data.source_system)
    _required(problems, "collection_legal_basis", data.collection_legal_basis)
    rows: list[RightHolder] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(data.holders):
        prefix = f"holders[{index}]."
        row_problems: list[FieldProblem] = []
        name = credit_code = ""
        if entry.right not in RightKind.values:
            row_problems.append(FieldProblem(prefix + "right", _("Choose processing and use or product operation.")))
        department = departments.get(entry.department_code)
        if entry.department_code and (entry.name.strip() or entry.credit_code.strip()):
            row_problems.append(FieldProblem(prefix + "department_code", _(
                "Name either a department or an organisation, not both.")))
        elif entry.department_code and department is None:
            row_problems.append(FieldProblem(prefix + "department_code", _("No department has the code %(code)s.")
                                             % {"code": entry.department_code}))
        elif department is not None:
            name, credit_code = department.name, department.credit_code
        else:
            name, name_problem = validation.check_required(entry.name, prefix + "name")
            credit_code, code_problem = validation.check_credit_code(entry.credit_code.strip(),
                                                                     prefix + "credit_code")
            row_problems += [p for p in (name_problem, code_problem) if p]
        if not row_problems:
            if (entry.right, credit_code) in seen:
                row_problems.append(FieldProblem(prefix + "credit_code", _("This holder is listed twice for the "
                                                                           "same right.")))
            seen.add((entry.right, credit_code))
            rows.append(RightHolder(right=entry.right, department=department, name=name, credit_code=credit_code))
        problems += row_problems
    return holder, rows, problems


def _store_rights(registration: RightsRegistration, holder: Department, rows: list[RightHolder],
                  data: RightsInput) -> None:
    registration.holder = holder
    registration.holder_name = holder.name
    registration.holder_credit_code = holder.credit_code
    registration.source_system = data.source_system.strip()
    registration.collection_legal_basis = data.collection_legal_basis.strip()
    registration.provenance_note = data.provenance_note.strip()
    registration.save()
    RightHolder.objects.filter(registration=registration).delete()
    for position, row in enumerate(rows):
        row.registration = registration
        row.position = position
    RightHolder.objects.bulk_create(rows)


def register_rights(actor: User | None, resource: Resource, data: RightsInput) -> RightsRegistration:
    """Register who holds the rights to a published resource, and issue the signed certificate (version 1).

    The number reads QSDJ-<year>-<six-digit sequence of that year>."""
    require_permission(actor, "catalog.add_rightsregistration", resource)
    holder, rows, problems = _rights_from_input(data)
    raise_if_problems(problems)
    assert holder is not None
    with transaction.atomic():
        resource = Resource.objects.select_for_update().get(pk=resource.pk)
        if resource.status != ResourceStatus.PUBLISHED:
            raise Conflict(_("Only a published resource can have its rights registered; publish it first."))
        if resource.rights_registrations.exists():
            raise Conflict(_("This resource is already registered; amend the registration instead."))
        now = timezone.now()
        year = timezone.localdate(now).year
        number = f"{REGISTRATION_PREFIX}-{year}-{next_number(f'rights:{year}'):0{SEQUENCE_DIGITS}d}"
        registration = RightsRegistration(number=number, resource=resource, resource_code=resource.code or "",
                                          resource_name=resource.name, registered_at=now, registered_by=actor)
        _store_rights(registration, holder, rows, data)
        certificate = certificates.issue(registration, now)
        audit.record("catalog.register_rights", actor_of(actor), object_type="rights_registration",
                     object_id=number, detail={"resource": resource.code, "holder": holder.code,
                                               "certificate_version": 1, "key_id": certificate.key_id})
    return registration


def amend_rights(actor: User | None, registration: RightsRegistration, data: RightsInput, *,
                 reason: str) -> RightsRegistration:
    """Change what is registered (typically after a dispute is settled). The certificate of the previous
    version stays as it was, marked superseded; a new version is signed."""
    require_permission(actor, "catalog.change_rightsregistration", registration)
    holder, rows, problems = _rights_from_input(data)
    _required(problems, "reason", reason)
    _text_problem(problems, "reason", reason)
    raise_if_problems(problems)
    assert holder is not None
    with transaction.atomic():
        registration = RightsRegistration.objects.select_for_update().get(pk=registration.pk)
        now = timezone.now()
        registration.certificates.filter(superseded_at__isnull=True).update(superseded_at=now)
        registration.version += 1
        _store_rights(registration, holder, rows, data)
        certificate = certificates.issue(registration, now)
        audit.record("catalog.amend_rights", actor_of(actor), object_type="rights_registration",
                     object_id=registration.number,
                     detail={"reason": reason.strip(), "holder": holder.code,
                             "certificate_version": registration.version, "key_id": certificate.key_id})
    return registration


def raise_dispute(actor: User | None, registration: RightsRegistration, *, reason: str) -> RightsDispute:
    """Flag a registration as disputed. Any data officer may (the dispute often comes from another department),
    and the governance office; the certificate stays valid, with the dispute shown beside it."""
    if actor is not None and not queries.may_change_rights(actor, registration):
        require_permission(actor, "catalog.add_rightsregistration")
    problems = [] if reason.strip() else [FieldProblem("reason", _("Say what is disputed and why."))]
    _text_problem(problems, "reason", reason)
    raise_if_problems(problems)
    try:
        with transaction.atomic():
            registration = RightsRegistration.objects.select_for_update().get(pk=registration.pk)
            if registration.disputes.filter(settled_at__isnull=True).exists():
                raise Conflict(_("This registration is disputed already; the open dispute must be settled first."))
            dispute = RightsDispute.objects.create(
                registration=registration, reason=reason.strip(), raised_at=timezone.now(), raised_by=actor,
                raised_by_name=actor.display_name if actor is not None else "system",
            )
            audit.record("catalog.raise_dispute", actor_of(actor), object_type="rights_registration",
                         object_id=registration.number, detail={"dispute": dispute.pk, "reason": dispute.reason})
    except IntegrityError:  # a dispute raised at the same moment by someone else
        raise Conflict(_("This registration is disputed already; the open dispute must be settled first.")) from None
    return dispute


def settle_dispute(actor: User | None, dispute: RightsDispute, *, settlement: str) -> RightsDispute:
    """The governance office records how a dispute was settled. Changing the registration as a result is a
    separate amendment (amend_rights), which issues a new certificate version."""
    require_permission(actor, "catalog.change_rightsregistration", dispute.registration)
    problems = [] if settlement.strip() else [FieldProblem("settlement", _("Say how the dispute was settled."))]
    _text_problem(problems, "settlement", settlement)
    raise_if_problems(problems)
    with transaction.atomic():
        now = timezone.now()
        settled = RightsDispute.objects.filter(Q(pk=dispute.pk), Q(settled_at__isnull=True)).update(
            settled_at=now, settled_by=actor, settlement=settlement.strip(),
            settled_by_name=actor.display_name if actor is not None else "system")
        if not settled:
            raise Conflict(_("This dispute is settled already."))
        audit.record("catalog.settle_dispute", actor_of(actor), object_type="rights_registration",
                     object_id=dispute.registration.number,
                     detail={"dispute": dispute.pk, "settlement": settlement.strip()})
    dispute.refresh_from_db()
    return dispute
