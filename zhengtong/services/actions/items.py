"""Defining service items (事项), as named verbs: define, update, set the materials, publish, withdraw.

Who may: staff holding `services.define_serviceitem` whose data scope reaches the item's responsible department.
Every change writes its audit entry (object type "service_item", the item's code) in its own transaction.

An item's form is an ordered list of questions, each a dict:
    {"name": "phone", "label": "联系电话", "type": "text", "required": true, "hint": "",
     "choices": [{"value": "a", "label": "A"}, ...],     # choice questions only
     "prefill": {"registry": "persons", "field": "phone"} | null}
`validate_form` says what may be in it; the applying pages rely on a published item's form passing it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.core.errors import Conflict, FieldProblem, InvalidInput, raise_if_problems
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import Department, User
from zhengtong.registries.models import Registry, RegistryField
from zhengtong.services.models import (
    ApplicationMaterial,
    Channel,
    DecisionDefinition,
    ItemStatus,
    ItemType,
    LifeSituation,
    Material,
    MaterialSource,
    ProcessDefinition,
    ServiceItem,
)
from zhengtong.services.queries.items import DEFINE
from zhengtong.services.workflow import engine

QUESTION_TYPES = ("text", "number", "date", "choice", "yes_no", "textarea")
QUESTION_KEYS = {"name", "label", "type", "required", "hint", "choices", "prefill"}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_QUESTIONS = 100
MAX_DAYS = 365


@dataclass
class ItemInput:
    """Everything a staff member says about an item; its materials are set apart (`set_materials`)."""

    code: str
    name: str
    item_type: str
    responsible_department: Department | None
    legal_basis: str
    statutory_days: int | None
    promised_days: int | None
    process: ProcessDefinition | None
    summary: str = ""
    conditions: str = ""
    fee: str = ""
    cooperating_departments: Sequence[Department] = ()
    channels: Sequence[str] = ()
    life_situations: Sequence[str] = ()
    keywords: str = ""
    commitment_allowed: bool = False
    form: Any = field(default_factory=list)
    decision: DecisionDefinition | None = None


@dataclass
class MaterialInput:
    code: str
    name: str
    required: bool = True
    source: str = MaterialSource.APPLICANT
    source_registry: str = ""
    source_field: str = ""
    source_item: str = ""
    commitment_allowed: bool = False


# --- checking ------------------------------------------------------------------------------------------------


def _registry_field_problem(registry: str, name: str) -> str | None:
    """Why (registry, field) names nothing a registry holds, or None when it does. Only the schema is read."""
    if not registry or not name:
        return _("Name both the registry and its field.")
    if not Registry.objects.filter(code=registry).exists():
        return _("There is no registry with the code %(code)s.") % {"code": registry}
    if not RegistryField.objects.filter(registry__code=registry, name=name).exists():
        return _("Registry %(code)s has no field %(field)s.") % {"code": registry, "field": name}
    return None


def _question_problems(index: int, question: Any, seen: set[str]) -> list[FieldProblem]:
    where = f"form[{index}]"
    if not isinstance(question, Mapping):
        return [FieldProblem(where, _("Each question is an object with a name, a label and a type."))]
    problems: list[FieldProblem] = []

    def problem(key: str, reason: str) -> None:
        problems.append(FieldProblem(f"{where}.{key}", reason))

    for key in sorted(set(question) - QUESTION_KEYS):
        problem(key, _("Unknown property; a question has name, label, type, required, hint, choices and prefill."))
    name = question.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problem("name", _("Give a name of letters, digits and underscores, starting with a letter (at most 64)."))
    elif name in seen:
        problem("name", _("Another question has the name %(name)s; names must be unique.") % {"name": name})
    else:
        seen.add(name)
    label = question.get("label")
    if not isinstance(label, str) or not label.strip():
        problem("label", _("Write the question the applicant reads."))
    kind = question.get("type")
    if kind not in QUESTION_TYPES:
        problem("type", _("Choose one of: %(types)s.") % {"types": ", ".join(QUESTION_TYPES)})
    if "required" in question and not isinstance(question["required"], bool):
        problem("required", _("Say true or false."))
    if "hint" in question and not isinstance(question["hint"], str):
        problem("hint", _("A hint is text."))
    choices = question.get("choices") or []
    if kind == "choice":
        if not isinstance(choices, list) or not choices:
            problem("choices", _("A choice question needs at least one choice."))
        else:
            values = [c.get("value") for c in choices if isinstance(c, Mapping)]
            if len(values) != len(choices) or not all(
                    isinstance(v, str) and v.strip() and isinstance(c.get("label"), str) and c["label"].strip()
                    for v, c in zip(values, choices, strict=True)):
                problem("choices", _("Each choice needs a value and a label."))
            elif len(set(values)) != len(values):
                problem("choices", _("Two choices have the same value."))
    elif choices:
        problem("choices", _("Only choice questions have choices."))
    prefill = question.get("prefill")
    if prefill:
        if not isinstance(prefill, Mapping):
            problem("prefill", _("Name the registry and field the answer comes from."))
        else:
            reason = _registry_field_problem(str(prefill.get("registry") or ""), str(prefill.get("field") or ""))
            if reason:
                problem("prefill", reason)
    return problems


def validate_form(form: Any) -> list[FieldProblem]:
    """Every problem of an item's form, each naming the question (`form[2].type`) and the reason."""
    if not isinstance(form, list):
        return [FieldProblem("form", _("The form is a list of questions."))]
    if len(form) > MAX_QUESTIONS:
        return [FieldProblem("form", _("A form has at most %(n)d questions.") % {"n": MAX_QUESTIONS})]
    seen: set[str] = set()
    return [p for index, question in enumerate(form) for p in _question_problems(index, question, seen)]


def _clean_form(form: Any) -> list[dict[str, Any]]:
    """The form as stored: every key present, text stripped (call on a form that passed validate_form)."""
    return [{"name": q["name"], "label": q["label"].strip(), "type": q["type"], "required": q.get("required", True),
             "hint": (q.get("hint") or "").strip(),
             "choices": [{"value": c["value"].strip(), "label": c["label"].strip()} for c in q.get("choices") or []],
             "prefill": ({"registry": q["prefill"]["registry"], "field": q["prefill"]["field"]}
                         if q.get("prefill") else None)} for q in form]


def _text(problems: list[FieldProblem], name: str, value: str, limit: int, message: str | None = None) -> str:
    value = (value or "").strip()
    if not value and message:
        problems.append(FieldProblem(name, message))
    elif len(value) > limit:
        problems.append(FieldProblem(name, _("Keep it to %(n)d characters.") % {"n": limit}))
    return value


def _days(problems: list[FieldProblem], name: str, value: int | None) -> None:
    if value is None:
        problems.append(FieldProblem(name, _("Give the number of working days.")))
    elif not 1 <= value <= MAX_DAYS:
        problems.append(FieldProblem(name, _("Give between 1 and %(n)d working days.") % {"n": MAX_DAYS}))


def _listed(problems: list[FieldProblem], name: str, values: Sequence[str], allowed: Sequence[str]) -> list[str]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        problems.append(FieldProblem(name, _("Unknown: %(values)s.") % {"values": ", ".join(map(str, unknown))}))
    return [v for v in allowed if v in values]  # in the canonical order, without repeats


def _check(data: ItemInput, item: ServiceItem | None) -> dict[str, Any]:
    """The item's field values from `data`, or InvalidInput naming every field that is wrong."""
    problems: list[FieldProblem] = []
    values: dict[str, Any] = {}
    if item is None:
        values["code"] = code = (data.code or "").strip()
        if not CODE.fullmatch(code):
            problems.append(FieldProblem("code", _("Give a code of letters, digits, dots, dashes and underscores "
                                                   "(at most 64).")))
        elif ServiceItem.objects.filter(code=code).exists():
            problems.append(FieldProblem("code", _("Another item has the code %(code)s.") % {"code": code}))
    elif data.code and data.code.strip() != item.code:
        problems.append(FieldProblem("code", _("The code of an item does not change once it is defined.")))
    values["name"] = _text(problems, "name", data.name, 200, _("Give the item's name."))
    values["item_type"] = data.item_type
    if data.item_type not in ItemType.values:
        problems.append(FieldProblem("item_type", _("Choose one of the item types.")))
    if data.responsible_department is None:
        problems.append(FieldProblem("responsible_department", _("Choose the department responsible.")))
    values["responsible_department"] = data.responsible_department
    values["legal_basis"] = _text(problems, "legal_basis", data.legal_basis, 5000,
                                  _("Cite the laws or regulations the item rests on."))
    values["summary"] = _text(problems, "summary", data.summary, 5000)
    values["conditions"] = _text(problems, "conditions", data.conditions, 5000)
    values["fee"] = _text(problems, "fee", data.fee, 200)
    values["keywords"] = _text(problems, "keywords", data.keywords, 300)
    _days(problems, "statutory_days", data.statutory_days)
    _days(problems, "promised_days", data.promised_days)
    if data.statutory_days and data.promised_days and data.promised_days > data.statutory_days:
        problems.append(FieldProblem("promised_days", _("The promised time limit cannot be longer than the "
                                                        "statutory one (%(n)d working days).")
                                     % {"n": data.statutory_days}))
    values["statutory_days"], values["promised_days"] = data.statutory_days, data.promised_days
    values["channels"] = _listed(problems, "channels", data.channels, Channel.values)
    values["life_situations"] = _listed(problems, "life_situations", data.life_situations, LifeSituation.values)
    values["commitment_allowed"] = bool(data.commitment_allowed)
    if data.process is None:
        problems.append(FieldProblem("process", _("Choose the process that decides the applications.")))
    values["process"], values["decision"] = data.process, data.decision
    form_problems = validate_form(data.form)
    problems.extend(form_problems)
    raise_if_problems(problems)
    values["form"] = _clean_form(data.form)
    return values


def _require(actor: User | None, item: ServiceItem | None, department: Department | None) -> None:
    """The permission, within the actor's data scope, over the item as it is and the department it goes to."""
    if item is not None:
        require_permission(actor, DEFINE, item)
    if department is not None and (item is None or department.pk != item.responsible_department_id):
        require_permission(actor, DEFINE, department)
    elif item is None:
        require_permission(actor, DEFINE)


def _audit(action: str, actor: User | None, item: ServiceItem, detail: Mapping[str, Any]) -> None:
    audit.record(action, actor_of(actor), object_type="service_item", object_id=item.code,
                 detail={"status": item.status, **detail})


def _described(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values in the audit entry: objects by their codes."""
    shown = dict(values)
    shown["responsible_department"] = values["responsible_department"].code
    shown["process"] = f"{values['process'].key} v{values['process'].version}"
    shown["decision"] = f"{values['decision'].key} v{values['decision'].version}" if values["decision"] else None
    shown["form"] = [q["name"] for q in values["form"]]
    return shown


# --- the verbs -------------------------------------------------------------------------------------------------


def define_item(actor: User | None, data: ItemInput) -> ServiceItem:
    """A new item, as a draft: citizens see it once it is published."""
    _require(actor, None, data.responsible_department)
    values = _check(data, None)
    cooperating = list(data.cooperating_departments)
    now = timezone.now()
    with transaction.atomic():
        item = ServiceItem.objects.create(**values, status=ItemStatus.DRAFT, created_at=now, updated_at=now)
        item.cooperating_departments.set(cooperating)
        _audit("services.define_item", actor, item, {**_described(values),
                                                     "cooperating_departments": [d.code for d in cooperating]})
    return item


def update_item(actor: User | None, item: ServiceItem, data: ItemInput) -> ServiceItem:
    """Change what an item says. A published item stays published: the guide shows the change at once, and
    applications already made keep the process version they started with; its new form and process pass the
    same checks as at publishing (and the decision version is pinned again), or nothing changes."""
    _require(actor, item, data.responsible_department)
    values = _check(data, item)
    cooperating = list(data.cooperating_departments)
    with transaction.atomic():
        item = ServiceItem.objects.select_for_update().get(pk=item.pk)
        changed = [name for name, value in values.items() if getattr(item, name) != value]
        old_cooperating = {d.code for d in item.cooperating_departments.all()}
        if old_cooperating != {d.code for d in cooperating}:
            changed.append("cooperating_departments")
        for name, value in values.items():
            setattr(item, name, value)
        if item.status == ItemStatus.PUBLISHED:
            raise_if_problems([*validate_form(item.form), *_definition_problems(item)])
        item.updated_at = timezone.now()
        item.save()
        item.cooperating_departments.set(cooperating)
        _audit("services.update_item", actor, item, {
            "changed": changed, **{k: v for k, v in _described(values).items() if k in changed},
            "cooperating_departments": [d.code for d in cooperating]})
    return item


def _material_problems(item: ServiceItem, index: int, data: MaterialInput, seen: set[str]) -> list[FieldProblem]:
    where = f"materials[{index}]"
    problems: list[FieldProblem] = []
    if not NAME.fullmatch(data.code or ""):
        problems.append(FieldProblem(f"{where}.code", _("Give a code of letters, digits and underscores, starting "
                                                         "with a letter (at most 64).")))
    elif data.code in seen:
        problems.append(FieldProblem(f"{where}.code", _("Another material has the code %(code)s.")
                                     % {"code": data.code}))
    seen.add(data.code)
    if not (data.name or "").strip():
        problems.append(FieldProblem(f"{where}.name", _("Give the material's name.")))
    elif len(data.name.strip()) > 200:
        problems.append(FieldProblem(f"{where}.name", _("Keep it to %(n)d characters.") % {"n": 200}))
    if data.source not in MaterialSource.values:
        problems.append(FieldProblem(f"{where}.source", _("Choose where the material comes from.")))
    elif data.source == MaterialSource.REGISTRY:
        reason = _registry_field_problem(data.source_registry, data.source_field)
        if reason:
            problems.append(FieldProblem(f"{where}.source_registry", reason))
    elif data.source == MaterialSource.RESULT:
        if not data.source_item or data.source_item == item.code:
            problems.append(FieldProblem(f"{where}.source_item", _("Name the code of the earlier item whose "
                                                                    "result stands in for this material.")))
        elif not ServiceItem.objects.filter(code=data.source_item).exists():
            problems.append(FieldProblem(f"{where}.source_item", _("There is no item with the code %(code)s.")
                                         % {"code": data.source_item}))
    if data.commitment_allowed and not item.commitment_allowed:
        problems.append(FieldProblem(f"{where}.commitment_allowed", _("The item does not allow the commitment "
                                                                       "system; allow it on the item first.")))
    if data.commitment_allowed and data.source != MaterialSource.APPLICANT:
        problems.append(FieldProblem(f"{where}.commitment_allowed", _("Only a material the applicant gives can "
                                                                       "be replaced by a commitment.")))
    return problems


def set_materials(actor: User | None, item: ServiceItem, materials: Sequence[MaterialInput]) -> list[Material]:
    """Replace the item's list of materials, in the order given. A material the platform obtains itself (from a
    registry field, or the approved result of an earlier item) is never asked of the applicant."""
    require_permission(actor, DEFINE, item)
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for index, data in enumerate(materials):
        problems.extend(_material_problems(item, index, data, seen))
    raise_if_problems(problems)
    rows = [Material(item=item, code=m.code, name=m.name.strip(), required=m.required, source=m.source,
                     source_registry=m.source_registry if m.source == MaterialSource.REGISTRY else "",
                     source_field=m.source_field if m.source == MaterialSource.REGISTRY else "",
                     source_item=m.source_item if m.source == MaterialSource.RESULT else "",
                     commitment_allowed=m.commitment_allowed, position=position)
            for position, m in enumerate(materials)]
    with transaction.atomic():
        ServiceItem.objects.select_for_update().filter(pk=item.pk).update(updated_at=timezone.now())
        existing = {m.code: m for m in Material.objects.filter(item=item)}
        # Kept materials keep their rows: applications point at them.
        for row in rows:
            old = existing.pop(row.code, None)
            if old is not None:
                row.pk = old.pk
        gone = [m.pk for m in existing.values()]
        if gone and ApplicationMaterial.objects.filter(material_id__in=gone).exists():
            raise Conflict(_("A material that applications already hold cannot be removed; rename it instead."))
        Material.objects.filter(pk__in=gone).delete()
        for row in rows:
            row.save()
        _audit("services.set_materials", actor, item, {
            "materials": [{"code": r.code, "source": r.source, "required": r.required} for r in rows],
            "removed": sorted(existing)})
    return rows


def _parse_problems(name: str, error: InvalidInput) -> list[FieldProblem]:
    return [FieldProblem(name, p.reason) for p in error.details] or [FieldProblem(name, str(error.message))]


def _definition_problems(item: ServiceItem) -> list[FieldProblem]:
    """The process must be one the engine can run. It may call one decision table at most, and the item pins
    its version (the engine never runs simply the latest: decision keys are global, and anyone who may upload
    could otherwise change another department's automatic approvals). The version chosen must be of the table
    the process calls; when none is chosen, publishing pins the latest uploaded now (in `item.decision`)."""
    try:
        parsed = engine.parse_process(item.process.bpmn_xml)
    except InvalidInput as error:
        return _parse_problems("process", error)
    refs = parsed.decision_refs
    if len(refs) > 1:
        return [FieldProblem("process", _("The process calls the decision tables %(keys)s; an item pins the "
                                          "version of one, so its process may call one at most.")
                             % {"keys": ", ".join(refs)})]
    if item.decision is not None and item.decision.key not in refs:
        return [FieldProblem("decision", _("The process %(process)s does not use the decision table %(key)s.")
                             % {"process": parsed.key, "key": item.decision.key})]
    if refs and item.decision is None:
        item.decision = DecisionDefinition.objects.filter(key=refs[0]).order_by("-version").first()
        if item.decision is None:
            return [FieldProblem("decision", _("The process needs the decision table %(key)s; upload it first.")
                                 % {"key": refs[0]})]
    if item.decision is not None:
        try:
            engine.parse_decision(item.decision.dmn_xml)
            engine.parse_process(item.process.bpmn_xml, {item.decision.key: item.decision.dmn_xml})
        except InvalidInput as error:
            return _parse_problems("decision", error)
    return []


def publish_item(actor: User | None, item: ServiceItem) -> ServiceItem:
    """Offer the item to citizens: it appears in the service guide and can be applied for. The form must be
    valid against the registries as they are now, and the process one the engine can run, with the version of
    its decision table pinned."""
    require_permission(actor, DEFINE, item)
    with transaction.atomic():
        item = (ServiceItem.objects.select_for_update(of=("self",)).select_related("process", "decision")
                .get(pk=item.pk))
        if item.status == ItemStatus.PUBLISHED:
            raise Conflict(_("The item is published already."))
        raise_if_problems([*validate_form(item.form), *_definition_problems(item)])
        item.status, item.updated_at = ItemStatus.PUBLISHED, timezone.now()
        item.save(update_fields=["status", "updated_at", "decision"])
        decision = f"{item.decision.key} v{item.decision.version}" if item.decision is not None else None
        _audit("services.publish_item", actor, item, {"process": f"{item.process.key} v{item.process.version}",
                                                      "decision": decision})
    return item


def withdraw_item(actor: User | None, item: ServiceItem, *, reason: str = "") -> ServiceItem:
    """Take the item out of the guide: no new applications; those under way go on to their decision."""
    require_permission(actor, DEFINE, item)
    problems: list[FieldProblem] = []
    reason = _text(problems, "reason", reason, 2000)
    raise_if_problems(problems)
    with transaction.atomic():
        item = ServiceItem.objects.select_for_update().get(pk=item.pk)
        if item.status != ItemStatus.PUBLISHED:
            raise Conflict(_("Only a published item can be withdrawn."))
        item.status, item.updated_at = ItemStatus.WITHDRAWN, timezone.now()
        item.save(update_fields=["status", "updated_at"])
        _audit("services.withdraw_item", actor, item, {"reason": reason})
    return item
