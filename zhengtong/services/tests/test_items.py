"""Defining service items: every wrong field is named with its reason, staff reach only the items of their data
scope, publishing needs a valid form and a process the engine runs, materials obtained from registries must
name a field that exists, and every change leaves its audit entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from zhengtong.audit.models import AuditEntry
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.identity import roles
from zhengtong.identity.models import DataScope, User
from zhengtong.registries.models import Registry
from zhengtong.services.actions import items as actions
from zhengtong.services.actions.definitions import upload_decision
from zhengtong.services.models import (
    DecisionDefinition,
    ItemStatus,
    ItemType,
    Material,
    MaterialSource,
    ProcessDefinition,
    ServiceItem,
)
from zhengtong.services.tests.conftest import shipped

QUESTIONS = [
    {"name": "name", "label": "姓名", "type": "text", "prefill": {"registry": "persons", "field": "name"}},
    {"name": "purpose", "label": "用途", "type": "choice",
     "choices": [{"value": "work", "label": "就业"}, {"value": "school", "label": "入学"}]},
]


@pytest.fixture
def definer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    """Defines items for CITY-CA only (department data scope)."""
    return make_staff(role_names=(roles.PLATFORM_ADMIN,), department=city["bureau"], username="definer")


@pytest.fixture
def other_definer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    return make_staff(role_names=(roles.PLATFORM_ADMIN,), department=city["other"], username="other_definer")


def item_input(city: dict[str, Any], process: ProcessDefinition, **changes: Any) -> actions.ItemInput:
    values: dict[str, Any] = {
        "code": "CA-0001", "name": "居住证明", "item_type": ItemType.CONFIRMATION,
        "responsible_department": city["bureau"], "legal_basis": "《居住证暂行条例》", "statutory_days": 20,
        "promised_days": 5, "process": process, "form": QUESTIONS, "channels": ["window", "online"],
        "life_situations": ["moving"], "keywords": "居住 证明"}
    values.update(changes)
    return actions.ItemInput(**values)


def problems(error: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {p.field: p.reason for p in error.value.details}


def test_an_item_is_defined_as_a_draft_with_its_form_cleaned_and_audited(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition) -> None:
    item = actions.define_item(definer, item_input(city, single_process, cooperating_departments=[city["other"]]))
    assert item.status == ItemStatus.DRAFT
    assert item.channels == ["online", "window"]  # canonical order
    assert item.form[0] == {"name": "name", "label": "姓名", "type": "text", "required": True, "hint": "",
                            "choices": [], "prefill": {"registry": "persons", "field": "name"}}
    assert [d.code for d in item.cooperating_departments.all()] == ["WEST-PSB"]
    entry = AuditEntry.objects.get(action="services.define_item")
    assert entry.object_id == "CA-0001" and entry.detail["form"] == ["name", "purpose"]


def test_each_wrong_field_is_named_with_its_reason(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition) -> None:
    form = [
        {"name": "1st", "label": "", "type": "colour"},
        {"name": "dup", "label": "A", "type": "choice"},
        {"name": "dup", "label": "B", "type": "text", "choices": [{"value": "x", "label": "X"}]},
        {"name": "home", "label": "住址", "type": "text", "prefill": {"registry": "persons", "field": "nowhere"}},
        {"name": "car", "label": "车牌", "type": "text", "prefill": {"registry": "vehicles", "field": "plate"}},
        {"name": "ok", "label": "好", "type": "text", "colour": "red"},
    ]
    with pytest.raises(InvalidInput) as error:
        actions.define_item(definer, item_input(city, single_process, form=form, name=" ", promised_days=30,
                                                channels=["fax"], life_situations=["holiday"]))
    found = problems(error)
    assert "letters, digits and underscores" in found["form[0].name"]
    assert "question the applicant reads" in found["form[0].label"]
    assert "text, number, date, choice, yes_no, textarea" in found["form[0].type"]
    assert "at least one choice" in found["form[1].choices"]
    assert "unique" in found["form[2].name"]
    assert "Only choice questions" in found["form[2].choices"]
    assert "has no field nowhere" in found["form[3].prefill"]
    assert "no registry with the code vehicles" in found["form[4].prefill"]
    assert "Unknown property" in found["form[5].colour"]
    assert "name" in found and "statutory" in found["promised_days"]
    assert "fax" in found["channels"] and "holiday" in found["life_situations"]
    assert not ServiceItem.objects.exists()
    assert not AuditEntry.objects.filter(action="services.define_item").exists()


def test_a_code_is_unique_and_never_changes(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition) -> None:
    item = actions.define_item(definer, item_input(city, single_process))
    with pytest.raises(InvalidInput) as error:
        actions.define_item(definer, item_input(city, single_process))
    assert "Another item has the code CA-0001" in problems(error)["code"]
    with pytest.raises(InvalidInput) as error:
        actions.update_item(definer, item, item_input(city, single_process, code="CA-0002"))
    assert "does not change" in problems(error)["code"]


def test_staff_of_another_department_and_citizens_cannot_define_or_change(
        definer: User, other_definer: User, citizen_user: User, window_clerk: User, city: dict[str, Any],
        persons: Registry, single_process: ProcessDefinition) -> None:
    item = actions.define_item(definer, item_input(city, single_process))
    for outsider in (other_definer, citizen_user, window_clerk):
        with pytest.raises(NotPermitted):
            actions.update_item(outsider, item, item_input(city, single_process, name="改名"))
        with pytest.raises(NotPermitted):
            actions.publish_item(outsider, item)
    with pytest.raises(NotPermitted):  # another department's item, even of a department one may define for
        actions.define_item(other_definer, item_input(city, single_process, code="CA-0002"))
    with pytest.raises(NotPermitted):  # nor move one's own item out of one's reach
        actions.update_item(definer, item, item_input(city, single_process, responsible_department=city["other"]))
    item.refresh_from_db()
    assert item.name == "居住证明" and item.responsible_department == city["bureau"]
    assert AuditEntry.objects.filter(action="identity.permission_denied").count() == 8


def test_a_division_wide_definer_reaches_the_departments_of_the_division(
        make_staff: Callable[..., User], city: dict[str, Any], persons: Registry,
        single_process: ProcessDefinition) -> None:
    wide = make_staff(role_names=(roles.PLATFORM_ADMIN,), department=city["bureau"], data_scope=DataScope.ALL)
    item = actions.define_item(wide, item_input(city, single_process, responsible_department=city["other"]))
    assert item.responsible_department == city["other"]


def test_an_update_records_what_changed(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition) -> None:
    item = actions.define_item(definer, item_input(city, single_process))
    actions.update_item(definer, item, item_input(city, single_process, code="", fee="工本费 20 元",
                                                  promised_days=3))
    item.refresh_from_db()
    assert (item.fee, item.promised_days) == ("工本费 20 元", 3)
    entry = AuditEntry.objects.get(action="services.update_item")
    assert sorted(entry.detail["changed"]) == ["fee", "promised_days"]


def test_publishing_needs_a_valid_form_and_a_runnable_process(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition) -> None:
    item = actions.define_item(definer, item_input(city, single_process))
    # The registry loses the field a question was filled from, after the item was saved.
    persons.fields.filter(name="name").delete()
    with pytest.raises(InvalidInput) as error:
        actions.publish_item(definer, item)
    assert "has no field name" in problems(error)["form[0].prefill"]
    item.refresh_from_db()
    assert item.status == ItemStatus.DRAFT

    broken = ProcessDefinition.objects.create(key="broken", version=1, name="坏流程", bpmn_xml="<definitions/>",
                                              digest="x", uploaded_at=single_process.uploaded_at)
    ServiceItem.objects.filter(pk=item.pk).update(process=broken, form=[])
    with pytest.raises(InvalidInput) as error:
        actions.publish_item(definer, item)
    assert set(problems(error)) == {"process"}

    ServiceItem.objects.filter(pk=item.pk).update(process=single_process)
    published = actions.publish_item(definer, item)
    assert published.status == ItemStatus.PUBLISHED
    assert AuditEntry.objects.filter(action="services.publish_item", object_id=item.code).count() == 1
    with pytest.raises(Conflict):
        actions.publish_item(definer, item)


def test_a_decision_table_must_be_one_the_process_calls(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition,
        instant_process: ProcessDefinition) -> None:
    decision = upload_decision(None, dmn_xml=shipped("senior_allowance.dmn"))
    item = actions.define_item(definer, item_input(city, single_process, decision=decision))
    with pytest.raises(InvalidInput) as error:
        actions.publish_item(definer, item)
    assert "does not use the decision table" in problems(error)["decision"]
    actions.update_item(definer, item, item_input(city, instant_process, decision=decision))
    assert actions.publish_item(definer, item).status == ItemStatus.PUBLISHED


def test_a_published_item_keeps_a_process_it_can_run_when_changed(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition,
        instant_process: ProcessDefinition, senior_decision: DecisionDefinition) -> None:
    """Changing a published item passes the publishing checks: a process calling a decision table gets its
    version pinned; a decision table the process does not call is refused and the item stays as it was."""
    item = actions.publish_item(definer, actions.define_item(definer, item_input(city, single_process)))
    with pytest.raises(InvalidInput) as error:
        actions.update_item(definer, item, item_input(city, single_process, decision=senior_decision))
    assert "does not use the decision table" in problems(error)["decision"]
    item.refresh_from_db()
    assert (item.process, item.decision) == (single_process, None)
    actions.update_item(definer, item, item_input(city, instant_process))
    item.refresh_from_db()
    assert (item.process, item.decision) == (instant_process, senior_decision)


def test_withdrawing_takes_a_published_item_out(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition) -> None:
    item = actions.define_item(definer, item_input(city, single_process))
    with pytest.raises(Conflict):
        actions.withdraw_item(definer, item)
    actions.publish_item(definer, item)
    item = actions.withdraw_item(definer, item, reason="政策调整")
    assert item.status == ItemStatus.WITHDRAWN
    assert AuditEntry.objects.get(action="services.withdraw_item").detail["reason"] == "政策调整"
    assert actions.publish_item(definer, item).status == ItemStatus.PUBLISHED  # and back


def test_materials_name_their_source_and_registry_fields_must_exist(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition) -> None:
    item = actions.define_item(definer, item_input(city, single_process))
    M = actions.MaterialInput
    with pytest.raises(InvalidInput) as error:
        actions.set_materials(definer, item, [
            M(code="id_card", name="身份证", source=MaterialSource.REGISTRY, source_registry="persons",
              source_field="photo"),
            M(code="id_card", name="", source="fax"),
            M(code="licence", name="营业执照", source=MaterialSource.RESULT, source_item="NOPE"),
            M(code="lease", name="租赁合同", commitment_allowed=True),
        ])
    found = problems(error)
    assert "has no field photo" in found["materials[0].source_registry"]
    assert "Another material" in found["materials[1].code"]
    assert found["materials[1].name"] and found["materials[1].source"]
    assert "no item with the code NOPE" in found["materials[2].source_item"]
    assert "does not allow the commitment" in found["materials[3].commitment_allowed"]
    assert not Material.objects.exists()

    rows = actions.set_materials(definer, item, [
        M(code="hukou", name="户口簿", source=MaterialSource.REGISTRY, source_registry="persons",
          source_field="division_code"),
        M(code="lease", name="租赁合同", required=False),
    ])
    kept = rows[1].pk
    actions.set_materials(definer, item, [M(code="lease", name="房屋租赁合同")])
    assert list(item.materials.values_list("pk", "name", "position")) == [(kept, "房屋租赁合同", 0)]
    assert AuditEntry.objects.filter(action="services.set_materials").latest("pk").detail["removed"] == ["hukou"]


def test_validate_form_accepts_every_question_type(persons: Registry) -> None:
    form = [{"name": kind, "label": kind, "type": kind, "required": False, "hint": "提示",
             "choices": [{"value": "a", "label": "A"}] if kind == "choice" else []}
            for kind in actions.QUESTION_TYPES]
    assert actions.validate_form(form) == []
    assert [p.field for p in actions.validate_form({"name": "x"})] == ["form"]
    assert [p.field for p in actions.validate_form(["text"])] == ["form[0]"]
