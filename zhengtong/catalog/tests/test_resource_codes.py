"""Resource codes after the national catalog guideline: class digit from the kind, item, category, optional
sub-category, a slash and a six-digit sequence counted per front part; unique, and fixed once published."""

import re

import pytest

from zhengtong.catalog import actions
from zhengtong.catalog.models import Resource, ResourceFormat, ResourceKind
from zhengtong.catalog.tests.conftest import metadata
from zhengtong.core.errors import InvalidInput
from zhengtong.registries import actions as registries
from zhengtong.registries.tests.factories import indicator_fields, person_fields

CODE = re.compile(r"[123]\d{2}\d{3}[0-9A-Z]{0,18}/\d{6}")


def test_the_code_is_class_item_category_subcategory_then_sequence(make_resource):
    resource = make_resource(kind=ResourceKind.THEMATIC, item_code="04", category_code="015",
                             subcategory_code="A7")
    assert resource.code == "204015A7/000001"
    assert CODE.fullmatch(resource.code)


@pytest.mark.parametrize(("kind", "digit"), [(ResourceKind.THEMATIC, "2"), (ResourceKind.DEPARTMENTAL, "3")])
def test_the_class_digit_follows_the_kind(make_resource, kind, digit):
    assert make_resource(kind=kind).code.startswith(digit + "01002/")


def test_a_base_registry_resource_has_class_digit_1(city):
    registry = registries.define_registry(None, code="persons", name="人口基础信息库", department=city["bureau"],
                                          fields=person_fields(), is_base=True)
    resource = actions.update_resource(None, registry.catalog_resource, metadata(
        kind=ResourceKind.BASE, format=ResourceFormat.DATABASE))
    assert resource.code.startswith("101002/")


def test_the_base_kind_belongs_to_the_base_registries_alone(make_resource, city):
    """An API, or a registry that is not one of the base ones, is never a base resource; a base registry's
    resource is never anything else."""
    with pytest.raises(InvalidInput) as refused:
        make_resource(kind=ResourceKind.BASE)
    assert [p.field for p in refused.value.details] == ["kind"]
    assert not Resource.objects.exists()
    persons = registries.define_registry(None, code="persons", name="人口基础信息库", department=city["bureau"],
                                         fields=person_fields(), is_base=True)
    indicators = registries.define_registry(None, code="indicators", name="部门指标", department=city["bureau"],
                                            fields=indicator_fields())
    for registry, kind in ((persons, ResourceKind.THEMATIC), (indicators, ResourceKind.BASE)):
        with pytest.raises(InvalidInput) as refused:
            actions.update_resource(None, registry.catalog_resource, metadata(kind=kind,
                                                                              format=ResourceFormat.DATABASE))
        assert [p.field for p in refused.value.details] == ["kind"], registry.code
    thematic = actions.update_resource(None, indicators.catalog_resource, metadata(
        kind=ResourceKind.THEMATIC, format=ResourceFormat.DATABASE))
    assert thematic.kind == ResourceKind.THEMATIC


def test_sequences_count_per_front_part_and_codes_are_unique(make_resource):
    first = make_resource()
    second = make_resource(name="第二个接口")
    elsewhere = make_resource(category_code="003")
    assert (first.code, second.code, elsewhere.code) == ("301002/000001", "301002/000002", "301003/000001")
    assert Resource.objects.filter(code=first.code).count() == 1


@pytest.mark.parametrize(("field", "value"), [("item_code", "1"), ("item_code", "0A"), ("category_code", "12"),
                                              ("category_code", "1234"), ("subcategory_code", "ab"),
                                              ("subcategory_code", "1" * 19)])
def test_malformed_classification_is_a_field_error(make_resource, field, value):
    with pytest.raises(InvalidInput) as refused:
        make_resource(**{field: value})
    assert [p.field for p in refused.value.details] == [field]
    assert not Resource.objects.exists()


def test_a_draft_gets_a_new_code_when_its_classification_changes(make_resource):
    resource = make_resource()
    changed = actions.update_resource(None, resource, metadata(category_code="009"))
    assert changed.code == "301009/000001"


def test_the_code_is_fixed_once_published(make_resource):
    resource = make_resource(publish=True)
    with pytest.raises(InvalidInput) as refused:
        actions.update_resource(None, resource, metadata(kind=ResourceKind.THEMATIC))
    assert [p.field for p in refused.value.details] == ["kind"]
    resource.refresh_from_db()
    assert resource.code == "301002/000001" and resource.kind == ResourceKind.DEPARTMENTAL
    # Other metadata may still change.
    assert actions.update_resource(None, resource, metadata(name="新名称")).code == "301002/000001"
