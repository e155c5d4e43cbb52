"""Resource codes after the national catalog guideline: class digit from the kind, item, category, optional
sub-category, a slash and a six-digit sequence counted per front part; unique, and fixed once published."""

import re

import pytest

from zhengtong.catalog import actions
from zhengtong.catalog.models import Resource, ResourceKind
from zhengtong.catalog.tests.conftest import metadata
from zhengtong.core.errors import InvalidInput

CODE = re.compile(r"[123]\d{2}\d{3}[0-9A-Z]{0,18}/\d{6}")


def test_the_code_is_class_item_category_subcategory_then_sequence(make_resource):
    resource = make_resource(kind=ResourceKind.THEMATIC, item_code="04", category_code="015",
                             subcategory_code="A7")
    assert resource.code == "204015A7/000001"
    assert CODE.fullmatch(resource.code)


@pytest.mark.parametrize(("kind", "digit"), [(ResourceKind.BASE, "1"), (ResourceKind.THEMATIC, "2"),
                                             (ResourceKind.DEPARTMENTAL, "3")])
def test_the_class_digit_follows_the_kind(make_resource, kind, digit):
    assert make_resource(kind=kind).code.startswith(digit + "01002/")


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
