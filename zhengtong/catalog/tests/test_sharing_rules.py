"""Sharing and opening rules: a legal basis for conditional and for no sharing, state secrets refused, and the
strictest item deciding what may be shared unconditionally or opened (就高从严)."""

import pytest

from zhengtong.audit.models import AuditEntry, Result
from zhengtong.catalog import actions
from zhengtong.catalog.models import OpeningType, Resource, ResourceStatus, SharingType
from zhengtong.catalog.tests.conftest import item, metadata
from zhengtong.core.errors import Conflict, InvalidInput
from zhengtong.registries.models import Grade, Level, Sensitivity


def refused_fields(call):
    with pytest.raises(InvalidInput) as refused:
        call()
    return {p.field: p.reason for p in refused.value.details}


@pytest.mark.parametrize("sharing", [SharingType.CONDITIONAL, SharingType.NONE])
def test_conditional_and_no_sharing_need_a_legal_basis(make_resource, sharing):
    problems = refused_fields(lambda: make_resource(sharing_type=sharing, legal_basis="  "))
    assert list(problems) == ["legal_basis"]
    assert "legal basis" in problems["legal_basis"]
    assert not Resource.objects.exists()


def test_conditional_sharing_also_names_its_condition(make_resource):
    assert list(refused_fields(lambda: make_resource(sharing_condition=""))) == ["sharing_condition"]


def test_unconditional_sharing_needs_no_legal_basis(make_resource):
    resource = make_resource(sharing_type=SharingType.UNCONDITIONAL, legal_basis="", sharing_condition="")
    assert resource.sharing_type == SharingType.UNCONDITIONAL


def test_a_state_secret_is_refused_naming_the_field_and_the_attempt_is_audited(make_resource, officer):
    problems = refused_fields(lambda: make_resource(officer, state_secret=True))
    assert list(problems) == ["state_secret"]
    assert "State secrets do not belong in this catalog" in problems["state_secret"]
    assert not Resource.objects.exists()
    entry = AuditEntry.objects.get(action="catalog.state_secret_refused")
    assert entry.result == Result.DENIED and entry.actor_id == str(officer.pk)
    assert not hasattr(Resource, "state_secret")  # the flag is asked, never stored


def test_state_secret_is_refused_on_edit_too(make_resource):
    resource = make_resource()
    problems = refused_fields(lambda: actions.update_resource(None, resource, metadata(state_secret=True)))
    assert list(problems) == ["state_secret"]


@pytest.mark.parametrize("strict_item", [
    item("core", grade=Grade.CORE), item("secret_level", level=Level.L4),
    item("health", sensitivity=Sensitivity.SENSITIVE_PERSONAL, level=Level.L3),
])
def test_the_strictest_item_forbids_unconditional_sharing(make_resource, strict_item):
    problems = refused_fields(lambda: make_resource(sharing_type=SharingType.UNCONDITIONAL,
                                                    items=(item("plain"), strict_item)))
    assert list(problems) == ["sharing_type"]


def test_only_general_l1_public_data_is_open(make_resource):
    public_items = (item("name", level=Level.L1, sensitivity=Sensitivity.PUBLIC),
                    item("address", level=Level.L1, sensitivity=Sensitivity.PUBLIC))
    open_resource = make_resource(sharing_type=SharingType.UNCONDITIONAL, opening_type=OpeningType.OPEN,
                                  items=public_items)
    assert open_resource.level == Level.L1
    problems = refused_fields(lambda: make_resource(
        sharing_type=SharingType.UNCONDITIONAL, opening_type=OpeningType.OPEN,
        items=(*public_items, item("contact", level=Level.L1, sensitivity=Sensitivity.PERSONAL))))
    assert list(problems) == ["opening_type"]
    problems = refused_fields(lambda: make_resource(
        sharing_type=SharingType.UNCONDITIONAL, opening_type=OpeningType.OPEN,
        items=(*public_items, item("internal_note", level=Level.L1))))
    assert list(problems) == ["opening_type"]
    problems = refused_fields(lambda: make_resource(
        sharing_type=SharingType.UNCONDITIONAL, opening_type=OpeningType.CONDITIONAL, opening_condition="注册后下载",
        items=(*public_items, item("detail", level=Level.L3))))
    assert list(problems) == ["opening_type"]


def test_a_resource_not_shared_is_not_opened(make_resource):
    problems = refused_fields(lambda: make_resource(sharing_type=SharingType.NONE, opening_type=OpeningType.OPEN,
                                                    items=(item("a", level=Level.L1),)))
    assert list(problems) == ["opening_type"]


def test_grade_and_level_are_the_highest_of_the_items(make_resource):
    resource = make_resource(items=(item("a", grade=Grade.IMPORTANT, level=Level.L1), item("b", level=Level.L3)))
    assert (resource.grade, resource.level) == (Grade.IMPORTANT, Level.L3)
    changed = actions.update_resource(None, resource, metadata(), actions.ServiceInput(
        endpoint_url=resource.endpoint_url, http_method="GET", service_description="x",
        items=[item("a", level=Level.L2)]))
    assert (changed.grade, changed.level) == (Grade.GENERAL, Level.L2)
    assert list(changed.items.values_list("name", flat=True)) == ["a"]


def test_an_api_resource_declares_its_items(make_resource):
    with pytest.raises(InvalidInput) as refused:
        actions.create_api_resource(None, provider=make_resource().provider, data=metadata(),
                                    service=actions.ServiceInput("https://x.example/api", "GET", "x", []))
    assert [p.field for p in refused.value.details] == ["items"]


def test_item_problems_name_the_row_and_attribute(make_resource):
    bad = actions.ItemInput(name="1bad", label="", type="blob", grade=7)
    problems = refused_fields(lambda: make_resource(items=(item("good"), bad)))
    assert set(problems) == {"items[1].name", "items[1].label", "items[1].type", "items[1].grade"}


def test_publishing_offers_a_draft_and_only_once(make_resource):
    resource = make_resource()
    assert resource.status == ResourceStatus.DRAFT and resource.published_on is None
    published = actions.publish_resource(None, resource)
    assert published.status == ResourceStatus.PUBLISHED and published.published_on is not None
    with pytest.raises(Conflict):
        actions.publish_resource(None, published)


def test_a_resource_open_to_everyone_is_shared_unconditionally(make_resource):
    public_items = (item("name", level=Level.L1, sensitivity=Sensitivity.PUBLIC),)
    problems = refused_fields(lambda: make_resource(sharing_type=SharingType.CONDITIONAL,
                                                    opening_type=OpeningType.OPEN, items=public_items))
    assert list(problems) == ["opening_type"]
    assert not Resource.objects.exists()


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\x1b"])
def test_text_with_a_control_character_or_a_lone_surrogate_names_its_field(make_resource, bad):
    problems = refused_fields(lambda: make_resource(summary=f"核验{bad}状态", items=(
        actions.ItemInput(name="status", label="状态", type="text", description=f"说明{bad}"),)))
    assert set(problems) == {"summary", "items[0].description"}
    assert not Resource.objects.exists()
