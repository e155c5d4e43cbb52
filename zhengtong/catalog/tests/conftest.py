"""Fixtures of the catalog tests: officers of the city's departments, a governance office, a signing key of the
test's own, and ready-made resources."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from zhengtong.catalog import actions
from zhengtong.catalog.models import OpeningType, Resource, ResourceKind, SharingType, UpdateCycle
from zhengtong.conftest import credit_code
from zhengtong.core import crypto
from zhengtong.identity import actions as identity_actions
from zhengtong.identity import roles
from zhengtong.identity.models import DataScope, Department, User
from zhengtong.registries.models import FieldType, Grade, Level, Sensitivity


@pytest.fixture(autouse=True)
def _own_keys(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """The platform signing key (and registry key files) of this test alone, never the real var/."""
    settings.VAR_DIR = tmp_path
    crypto.clear_signer_cache()
    yield tmp_path
    crypto.clear_signer_cache()


@pytest.fixture(autouse=True)
def _english_messages() -> Iterator[None]:
    """Messages read in English, whether or not the Chinese translations have been compiled (django.mo is
    built from the committed .po, not committed itself)."""
    with translation.override("en"):
        yield


@pytest.fixture
def office(city: dict[str, Any]) -> Department:
    return identity_actions.create_department(None, code="CITY-DATA", name="市数据管理局", division=city["city"],
                                              credit_code=credit_code(9), is_governance_office=True)


@pytest.fixture
def officer(make_staff: Callable[..., User]) -> User:
    """A data officer of the city civil affairs bureau (CITY-CA)."""
    return make_staff(role_names=(roles.DATA_OFFICER,), trained=True, username="officer")


@pytest.fixture
def other_officer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    """A data officer of the west district police (WEST-PSB)."""
    return make_staff(role_names=(roles.DATA_OFFICER,), trained=True, department=city["other"],
                      username="other-officer")


@pytest.fixture
def governance(make_staff: Callable[..., User], office: Department) -> User:
    return make_staff(role_names=(roles.GOVERNANCE_OFFICER,), department=office, data_scope=DataScope.ALL,
                      username="governance")


def metadata(**changes: Any) -> actions.ResourceInput:
    values: dict[str, Any] = {
        "name": "婚姻登记核验接口", "summary": "按身份证号码核验婚姻登记状态。", "kind": ResourceKind.DEPARTMENTAL,
        "item_code": "01", "category_code": "002", "update_cycle": UpdateCycle.REALTIME,
        "sharing_type": SharingType.CONDITIONAL, "sharing_condition": "仅用于办理婚姻相关政务服务事项。",
        "legal_basis": "《婚姻登记条例》第十九条", "opening_type": OpeningType.CLOSED,
    }
    values.update(changes)
    return actions.ResourceInput(**values)


def item(name: str, *, grade: int = Grade.GENERAL, level: int = Level.L2,
         sensitivity: str = Sensitivity.INTERNAL) -> actions.ItemInput:
    return actions.ItemInput(name=name, label=name.replace("_", " "), type=FieldType.TEXT, sensitivity=sensitivity,
                             grade=grade, level=level)


def service(*items: actions.ItemInput) -> actions.ServiceInput:
    return actions.ServiceInput(
        endpoint_url="https://api.example.gov.cn/marriage/v1/status", http_method="GET",
        service_description="GET ?resident_id= answers the marriage registration status.",
        items=list(items) or [item("status", level=Level.L3, sensitivity=Sensitivity.PERSONAL),
                              item("registered_on", level=Level.L2)],
    )


@pytest.fixture
def make_resource(city: dict[str, Any]) -> Callable[..., Resource]:
    def make(actor: User | None = None, *, provider: Department | None = None, publish: bool = False,
             items: tuple[actions.ItemInput, ...] = (), **changes: Any) -> Resource:
        resource = actions.create_api_resource(actor, provider=provider or city["bureau"], data=metadata(**changes),
                                               service=service(*items))
        return actions.publish_resource(actor, resource) if publish else resource

    return make


@pytest.fixture
def published(make_resource: Callable[..., Resource]) -> Resource:
    return make_resource(publish=True)


def rights(**changes: Any) -> actions.RightsInput:
    values: dict[str, Any] = {
        "holder_code": "CITY-CA", "source_system": "婚姻登记管理信息系统",
        "collection_legal_basis": "《婚姻登记条例》", "provenance_note": "窗口登记时采集。",
        "holders": [actions.HolderInput(right="processing", department_code="EAST-CA"),
                    actions.HolderInput(right="operation", name="云溪数据运营有限公司",
                                        credit_code=credit_code(77, prefix="91"))],
    }
    values.update(changes)
    return actions.RightsInput(**values)
