"""Fixtures of the exchange tests: a person registry of the city civil affairs bureau (CITY-CA) published as a
conditionally shared resource, a consumer department (WEST-PSB) with its officer and system, the governance
office, and grants made to measure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone, translation

from zhengtong.catalog import actions as catalog
from zhengtong.catalog.models import OpeningType, Resource, ResourceFormat, ResourceKind, SharingType, UpdateCycle
from zhengtong.conftest import credit_code, resident_id
from zhengtong.core import crypto
from zhengtong.exchange import actions, door, queries
from zhengtong.exchange.models import Grant, SharingRequest
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import ApiClient, DataScope, Department, User
from zhengtong.registries import actions as registries
from zhengtong.registries import keys
from zhengtong.registries.models import Registry
from zhengtong.registries.tests.factories import person_fields

# Five people in the persons registry: 1..3 registered in the east district (330106), 4..5 in the west (330108).
EAST, WEST = "330106", "330108"
WEST_BORN = "330105"  # where the west district's people were born (330108 is too young a code for stdnum)


@pytest.fixture(autouse=True)
def _own_keys(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """Registry key files and the signing key of this test alone, never the real var/; and no codec or key
    cached by registry id from an earlier test (a rolled-back test hands its ids on, on SQLite)."""
    settings.VAR_DIR = tmp_path
    crypto.clear_signer_cache()
    door.forget_codecs()
    keys.forget_cached_keys()
    yield tmp_path
    crypto.clear_signer_cache()
    door.forget_codecs()
    keys.forget_cached_keys()


@pytest.fixture(autouse=True)
def _english_messages() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def office(city: dict[str, Any]) -> Department:
    return identity.create_department(None, code="CITY-DATA", name="市数据管理局", division=city["city"],
                                      credit_code=credit_code(9), is_governance_office=True)


@pytest.fixture
def governance(make_staff: Callable[..., User], office: Department) -> User:
    return make_staff(role_names=(roles.GOVERNANCE_OFFICER,), department=office, data_scope=DataScope.ALL,
                      username="governance")


@pytest.fixture
def provider_officer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    """The data officer of CITY-CA, which provides the persons registry."""
    return make_staff(role_names=(roles.DATA_OFFICER,), trained=True, department=city["bureau"], username="provider")


@pytest.fixture
def consumer_officer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    """The data officer of WEST-PSB, the consumer."""
    return make_staff(role_names=(roles.DATA_OFFICER,), trained=True, department=city["other"], username="consumer")


@pytest.fixture
def persons(city: dict[str, Any]) -> Registry:
    registry = registries.define_registry(None, code="persons", name="人口基础信息库", department=city["bureau"],
                                          fields=person_fields(), is_base=True, description="全市常住人口。")
    for n in range(1, 6):
        registries.create_record(None, registry, {
            "resident_id": person(n), "name": ["王小明", "李四", "欧阳娜娜",
                                                                                   "赵六", "钱七"][n - 1],
            "phone": f"1380013800{n}", "division_code": EAST if n <= 3 else WEST, "birth_date": "1985-06-01",
        })
    resource = registry.catalog_resource
    catalog.update_resource(None, resource, catalog.ResourceInput(
        name=resource.name, summary=resource.summary, kind=ResourceKind.BASE, format=ResourceFormat.DATABASE,
        item_code="01", category_code="001",
        update_cycle=UpdateCycle.DAILY, sharing_type=SharingType.CONDITIONAL,
        sharing_condition="仅用于依法履行职责。", legal_basis="《居民身份证法》", opening_type=OpeningType.CLOSED))
    catalog.publish_resource(None, resource)
    return registry


@pytest.fixture
def persons_resource(persons: Registry) -> Resource:
    return Resource.objects.get(registry=persons)


def is_late(request: SharingRequest) -> bool:
    """Past the deadline of the step it waits on, as every page and the worker judge it."""
    return queries.Deadlines.as_of().state(request) == queries.DueState.OVERDUE


def person(n: int) -> str:
    """The resident ID of person n of the persons fixture."""
    return resident_id(n, county=EAST if n <= 3 else WEST_BORN)


@pytest.fixture
def make_grant(city: dict[str, Any], persons_resource: Resource) -> Callable[..., Grant]:
    def make(*, consumer: Department | None = None, fields: tuple[str, ...] = ("resident_id", "name", "phone",
                                                                                "division_code", "birth_date"),
             **terms: Any) -> Grant:
        today = timezone.localdate()
        values: dict[str, Any] = {"valid_from": today - dt.timedelta(days=1),
                                  "valid_until": today + dt.timedelta(days=365)}
        values.update(terms)
        basis = values.pop("basis", "legal")
        purpose = values.pop("purpose", "治安管理核验身份")
        return actions.issue_grant(None, consumer=consumer or city["other"], resource=persons_resource,
                                   terms=actions.Terms(fields=list(fields), **values), purpose=purpose,
                                   basis=basis, legal_basis="《治安管理处罚法》")

    return make


@pytest.fixture
def consumer_client(city: dict[str, Any]) -> tuple[ApiClient, str]:
    """The consumer department's system and its bearer credential."""
    issued = identity.create_api_client(None, department=city["other"], name="西山区警务综合平台")
    return issued.client, issued.credential
