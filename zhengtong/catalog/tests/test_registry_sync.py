"""Every registry is a catalog resource: created as a draft when the registry is defined, its items and grading
following every schema change, and withdrawn to draft when its published attributes no longer fit."""

import dataclasses

import pytest

from zhengtong.audit.models import AuditEntry
from zhengtong.catalog import actions
from zhengtong.catalog.models import OpeningType, ResourceFormat, ResourceKind, ResourceStatus, SharingType
from zhengtong.catalog.tests.conftest import metadata
from zhengtong.core.errors import InvalidInput
from zhengtong.registries import actions as registries
from zhengtong.registries.models import Grade, Level, Registry, Sensitivity
from zhengtong.registries.tests.factories import indicator_fields, person_fields


@pytest.fixture
def persons(city, officer):
    return registries.define_registry(officer, code="persons", name="人口基础信息库", department=city["bureau"],
                                      fields=person_fields(), is_base=True, description="全市常住人口。")


def test_a_new_registry_becomes_a_draft_resource_with_its_fields_as_items(persons, officer):
    resource = persons.catalog_resource
    assert resource.status == ResourceStatus.DRAFT
    assert (resource.kind, resource.format, resource.provider) == (ResourceKind.BASE, ResourceFormat.DATABASE,
                                                                    persons.department)
    assert (resource.name, resource.summary) == ("人口基础信息库", "全市常住人口。")
    assert resource.code is None  # given once a data officer classifies it
    items = list(resource.items.all())
    assert [i.name for i in items] == ["resident_id", "name", "phone", "division_code", "birth_date"]
    first = items[0]
    assert (first.sensitivity, first.grade, first.level, first.masking, first.encrypted) == (
        Sensitivity.SENSITIVE_PERSONAL, Grade.IMPORTANT, Level.L4, "keep:6:4", True)
    assert (resource.grade, resource.level) == (Grade.IMPORTANT, Level.L4)
    entry = AuditEntry.objects.get(action="catalog.sync_registry")
    assert entry.actor_id == str(officer.pk) and entry.detail["created"] is True


def test_a_registry_that_is_not_base_is_departmental(city):
    registry = registries.define_registry(None, code="indicators", name="宏观经济指标", department=city["bureau"],
                                          fields=indicator_fields())
    assert registry.catalog_resource.kind == ResourceKind.DEPARTMENTAL
    # Only public L1 values and internal keys: general grade, L2 (the keys' default level).
    assert (registry.catalog_resource.grade, registry.catalog_resource.level) == (Grade.GENERAL, Level.L2)


def test_grading_is_recomputed_when_the_schema_changes(persons):
    lighter = [dataclasses.replace(f, grade=Grade.GENERAL, level=min(f.level, Level.L3)) for f in person_fields()]
    registries.change_schema(None, persons, lighter)
    resource = persons.catalog_resource
    resource.refresh_from_db()
    assert (resource.grade, resource.level) == (Grade.GENERAL, Level.L3)
    core = [*lighter, dataclasses.replace(lighter[-1], name="genome", label="基因信息", grade=Grade.CORE)]
    registries.change_schema(None, persons, core)
    resource.refresh_from_db()
    assert (resource.grade, resource.level) == (Grade.CORE, Level.L3)
    assert resource.items.count() == 6


def test_items_of_a_registry_resource_are_not_edited_in_the_catalog(persons):
    with pytest.raises(InvalidInput) as refused:
        actions.update_resource(None, persons.catalog_resource,
                                metadata(kind=ResourceKind.BASE, format=ResourceFormat.DATABASE),
                                actions.ServiceInput("https://x.example", "GET", "x", []))
    assert [p.field for p in refused.value.details] == ["items"]


def test_a_data_officer_completes_and_publishes_it(persons, officer):
    resource = actions.update_resource(officer, persons.catalog_resource, metadata(
        name="人口基础信息", kind=ResourceKind.BASE, format=ResourceFormat.DATABASE, item_code="01",
        category_code="001"))
    assert resource.code == "101001/000001"
    published = actions.publish_resource(officer, resource)
    assert published.status == ResourceStatus.PUBLISHED


def test_a_published_resource_goes_back_to_draft_when_its_sharing_no_longer_fits(city):
    registry = registries.define_registry(None, code="indicators", name="宏观经济指标", department=city["bureau"],
                                          fields=indicator_fields())
    resource = actions.update_resource(None, registry.catalog_resource, metadata(
        format=ResourceFormat.DATABASE, sharing_type=SharingType.UNCONDITIONAL, opening_type=OpeningType.CLOSED))
    actions.publish_resource(None, resource)
    stricter = [*indicator_fields()]
    stricter[3] = dataclasses.replace(stricter[3], level=Level.L4)
    registries.change_schema(None, registry, stricter)
    resource.refresh_from_db()
    assert resource.status == ResourceStatus.DRAFT and resource.level == Level.L4
    assert resource.published_on is not None  # it was published: its code stays fixed
    entry = AuditEntry.objects.filter(action="catalog.sync_registry").latest("id")
    assert entry.detail["withdrawn"] and entry.detail["withdrawn"][0].startswith("sharing_type")


def test_publishing_checks_the_grading_as_it_is_now(city):
    registry = registries.define_registry(None, code="indicators", name="宏观经济指标", department=city["bureau"],
                                          fields=indicator_fields())
    resource = actions.update_resource(None, registry.catalog_resource, metadata(
        format=ResourceFormat.DATABASE, sharing_type=SharingType.UNCONDITIONAL, opening_type=OpeningType.CLOSED))
    stricter = [dataclasses.replace(f, grade=Grade.CORE) for f in indicator_fields()]
    registries.change_schema(None, registry, stricter)
    with pytest.raises(InvalidInput) as refused:
        actions.publish_resource(None, resource)
    assert [p.field for p in refused.value.details] == ["sharing_type"]


def test_a_registry_passed_to_another_department_moves_its_resource(persons, city):
    Registry.objects.filter(pk=persons.pk).update(department=city["other"])  # no action moves one yet
    persons.refresh_from_db()
    resource = actions.sync_registry_resource(None, persons)
    assert resource.provider == city["other"]
    entry = AuditEntry.objects.filter(action="catalog.sync_registry").latest("id")
    assert entry.detail["provider"] == {"from": city["bureau"].code, "to": city["other"].code}
