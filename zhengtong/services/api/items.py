"""JSON API of service items, under /api/v1/services/: staff who define items list, create, read, change,
publish and withdraw them (items outside their data scope are a 404); anyone searches the service guide, which
holds published items only. Departments, processes and decision tables are named by their codes and keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from zhengtong.core.errors import FieldProblem, NotPermitted, raise_if_problems
from zhengtong.identity.models import Department, User
from zhengtong.services.actions import items as actions
from zhengtong.services.models import DecisionDefinition, ProcessDefinition, ServiceItem
from zhengtong.services.queries import items as queries

router = Router(tags=["services"])
MAX_LIST = 500


def _person(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User):
        raise NotPermitted(_("Service items are defined by staff, not department systems."))
    return user


# --- shapes ------------------------------------------------------------------------------------------------


class PrefillSchema(Schema):
    registry: str
    field: str


class ChoiceSchema(Schema):
    value: str
    label: str


class QuestionSchema(Schema):
    name: str
    label: str
    type: str = Field(description="text, number, date, choice, yes_no or textarea")
    required: bool = True
    hint: str = ""
    choices: list[ChoiceSchema] = []
    prefill: PrefillSchema | None = Field(None, description="The registry field that fills the answer in.")


class MaterialSchema(Schema):
    code: str
    name: str
    required: bool = True
    source: str = Field("applicant", description="applicant, registry or result")
    source_registry: str = ""
    source_field: str = ""
    source_item: str = Field("", description="For source result: the code of the earlier item.")
    commitment_allowed: bool = False


class ItemIn(Schema):
    code: str = Field("", description="Needed to create; on a change it may be left out, and cannot differ.")
    name: str
    item_type: str
    summary: str = ""
    responsible_department: str = Field(description="The department's code.")
    cooperating_departments: list[str] = []
    legal_basis: str
    conditions: str = ""
    fee: str = ""
    statutory_days: int | None = None
    promised_days: int | None = None
    channels: list[str] = []
    life_situations: list[str] = []
    keywords: str = ""
    commitment_allowed: bool = False
    form: list[dict[str, Any]] = Field([], description="The questions: see QuestionSchema.")
    process: str = Field(description="The process id (key) of an uploaded BPMN process.")
    process_version: int | None = Field(None, description="Empty for the latest version.")
    decision: str | None = Field(None, description="The decision id (key) of an uploaded DMN table, if any.")
    decision_version: int | None = None
    materials: list[MaterialSchema] | None = Field(None, description="When given, replaces the item's materials.")


class ItemOut(Schema):
    code: str
    name: str
    item_type: str
    status: str
    summary: str
    responsible_department: str
    responsible_department_name: str
    cooperating_departments: list[str]
    legal_basis: str
    conditions: str
    fee: str
    statutory_days: int
    promised_days: int
    channels: list[str]
    life_situations: list[str]
    keywords: str
    commitment_allowed: bool
    form: list[QuestionSchema]
    materials: list[MaterialSchema]
    process: str
    process_version: int
    decision: str | None
    decision_version: int | None
    updated_at: dt.datetime


class GuideItemOut(Schema):
    """What the public guide says of an item (no process internals)."""

    code: str
    name: str
    item_type: str
    summary: str
    responsible_department: str
    responsible_department_name: str
    conditions: str
    fee: str
    statutory_days: int
    promised_days: int
    channels: list[str]
    life_situations: list[str]
    commitment_allowed: bool
    legal_basis: str
    materials: list[MaterialSchema]


class WithdrawIn(Schema):
    reason: str = ""


def _materials(item: ServiceItem) -> list[MaterialSchema]:
    return [MaterialSchema(code=m.code, name=m.name, required=m.required, source=m.source,
                           source_registry=m.source_registry, source_field=m.source_field, source_item=m.source_item,
                           commitment_allowed=m.commitment_allowed) for m in item.materials.all()]


def _out(item: ServiceItem) -> ItemOut:
    return ItemOut(
        code=item.code, name=item.name, item_type=item.item_type, status=item.status, summary=item.summary,
        responsible_department=item.responsible_department.code,
        responsible_department_name=item.responsible_department.name,
        cooperating_departments=[d.code for d in item.cooperating_departments.all()], legal_basis=item.legal_basis,
        conditions=item.conditions, fee=item.fee, statutory_days=item.statutory_days,
        promised_days=item.promised_days, channels=item.channels, life_situations=item.life_situations,
        keywords=item.keywords, commitment_allowed=item.commitment_allowed, form=item.form,
        materials=_materials(item), process=item.process.key, process_version=item.process.version,
        decision=item.decision.key if item.decision else None,
        decision_version=item.decision.version if item.decision else None, updated_at=item.updated_at)


def _guide_out(item: ServiceItem) -> GuideItemOut:
    return GuideItemOut(
        code=item.code, name=item.name, item_type=item.item_type, summary=item.summary,
        responsible_department=item.responsible_department.code,
        responsible_department_name=item.responsible_department.name, conditions=item.conditions, fee=item.fee,
        statutory_days=item.statutory_days, promised_days=item.promised_days, channels=item.channels,
        life_situations=item.life_situations, commitment_allowed=item.commitment_allowed,
        legal_basis=item.legal_basis, materials=_materials(item))


def _version(model: type[ProcessDefinition] | type[DecisionDefinition], name: str, key: str | None,
             version: int | None, problems: list[FieldProblem]) -> Any:
    if not key:
        return None
    versions = model.objects.filter(key=key)
    found = versions.filter(version=version).first() if version is not None else versions.order_by("-version").first()
    if found is None:
        problems.append(FieldProblem(name, _("No uploaded version %(version)s of %(key)s.")
                                     % {"key": key, "version": version or ""}))
    return found


def _item_input(data: ItemIn) -> actions.ItemInput:
    """The action's input: codes and keys looked up, each one that names nothing reported by its field."""
    problems: list[FieldProblem] = []
    responsible = Department.objects.filter(code=data.responsible_department).first()
    if responsible is None:
        problems.append(FieldProblem("responsible_department", _("There is no department with this code.")))
    cooperating = list(Department.objects.filter(code__in=data.cooperating_departments))
    unknown = sorted(set(data.cooperating_departments) - {d.code for d in cooperating})
    if unknown:
        problems.append(FieldProblem("cooperating_departments", _("No department has the code: %(codes)s.")
                                     % {"codes": ", ".join(unknown)}))
    process = _version(ProcessDefinition, "process", data.process, data.process_version, problems)
    decision = _version(DecisionDefinition, "decision", data.decision, data.decision_version, problems)
    raise_if_problems(problems)
    return actions.ItemInput(
        code=data.code, name=data.name, item_type=data.item_type, summary=data.summary,
        responsible_department=responsible, cooperating_departments=cooperating, legal_basis=data.legal_basis,
        conditions=data.conditions, fee=data.fee, statutory_days=data.statutory_days,
        promised_days=data.promised_days, channels=data.channels, life_situations=data.life_situations,
        keywords=data.keywords, commitment_allowed=data.commitment_allowed, form=data.form, process=process,
        decision=decision)


def _material_inputs(materials: list[MaterialSchema]) -> list[actions.MaterialInput]:
    return [actions.MaterialInput(**m.dict()) for m in materials]


def _item(request: HttpRequest, code: str) -> ServiceItem:
    item = queries.definable_item(_person(request), code)
    if item is None:
        raise Http404
    return item


# --- staff -------------------------------------------------------------------------------------------------


@router.get("/services/items", response=list[ItemOut], summary="Service items the caller may define")
def list_items(request: HttpRequest, q: str = "", status: str = "") -> list[ItemOut]:
    user = _person(request)
    if not queries.may_define(user):
        raise NotPermitted(_("You do not have permission to do this."))
    items = queries.definable_items(user, q=q, status=status).prefetch_related("cooperating_departments",
                                                                               "materials", "decision")
    return [_out(item) for item in items[:MAX_LIST]]


@router.post("/services/items", response={201: ItemOut}, summary="Define a service item (as a draft)")
def create_item(request: HttpRequest, data: ItemIn) -> Status[ItemOut]:
    user = _person(request)
    with transaction.atomic():
        item = actions.define_item(user, _item_input(data))
        if data.materials is not None:
            actions.set_materials(user, item, _material_inputs(data.materials))
    return Status(201, _out(item))


@router.get("/services/items/{code}", response=ItemOut, summary="One service item")
def read_item(request: HttpRequest, code: str) -> ItemOut:
    return _out(_item(request, code))


@router.put("/services/items/{code}", response=ItemOut, summary="Change a service item")
def update_item(request: HttpRequest, code: str, data: ItemIn) -> ItemOut:
    user = _person(request)
    item = _item(request, code)
    with transaction.atomic():
        item = actions.update_item(user, item, _item_input(data))
        if data.materials is not None:
            actions.set_materials(user, item, _material_inputs(data.materials))
    return _out(item)


@router.post("/services/items/{code}/publish", response=ItemOut, summary="Publish an item in the service guide")
def publish_item(request: HttpRequest, code: str) -> ItemOut:
    return _out(actions.publish_item(_person(request), _item(request, code)))


@router.post("/services/items/{code}/withdraw", response=ItemOut, summary="Withdraw an item from the guide")
def withdraw_item(request: HttpRequest, code: str, data: WithdrawIn | None = None) -> ItemOut:
    reason = data.reason if data is not None else ""
    return _out(actions.withdraw_item(_person(request), _item(request, code), reason=reason))


# --- the public guide --------------------------------------------------------------------------------------


@router.get("/services/guide", response=list[GuideItemOut], auth=None, summary="Search the service guide")
def search_guide(request: HttpRequest, q: str = "", department: str = "", situation: str = "",
                 limit: int = Query(100, ge=1, le=MAX_LIST)) -> list[GuideItemOut]:
    """Published items whose name, keywords or summary hold every word of `q`, of a department (responsible or
    co-operating, by code), in a life situation (birth, schooling, work, marriage, housing, business,
    retirement, death, disability, moving)."""
    items = queries.guide(queries.GuideSearch(q=q, department=department, situation=situation))
    return [_guide_out(item) for item in items.prefetch_related("materials")[:limit]]


@router.get("/services/guide/{code}", response=GuideItemOut, auth=None, summary="One published item's guide")
def read_guide_item(request: HttpRequest, code: str) -> GuideItemOut:
    item = queries.published_item(code)
    if item is None:
        raise Http404
    return _guide_out(item)
