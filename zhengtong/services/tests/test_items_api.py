"""The items API round trip: staff create an item with its materials, read it, change it, publish and withdraw
it; wrong input comes back in the project's error body naming each field; another department's staff and
citizens are refused; a department system cannot define items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.registries.models import Registry
from zhengtong.services.models import ItemStatus, ProcessDefinition, ServiceItem

BODY: dict[str, Any] = {
    "code": "CA-0100", "name": "居住证明", "item_type": "confirmation", "responsible_department": "CITY-CA",
    "cooperating_departments": ["WEST-PSB"], "legal_basis": "《居住证暂行条例》", "statutory_days": 20,
    "promised_days": 5, "channels": ["online"], "life_situations": ["moving"], "process": "single_approval",
    "form": [{"name": "name", "label": "姓名", "type": "text", "prefill": {"registry": "persons", "field": "name"}}],
    "materials": [{"code": "hukou", "name": "户口簿", "source": "registry", "source_registry": "persons",
                   "source_field": "division_code"}],
}


@pytest.fixture
def definer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    return make_staff(role_names=(roles.PLATFORM_ADMIN,), department=city["bureau"], username="definer")


def client_of(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def test_an_item_goes_from_draft_to_the_guide_and_out_through_the_api(
        definer: User, persons: Registry, single_process: ProcessDefinition) -> None:
    client = client_of(definer)
    created = client.post("/api/v1/services/items", BODY, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "draft" and body["process_version"] == single_process.version
    assert body["cooperating_departments"] == ["WEST-PSB"]
    assert body["materials"][0]["source"] == "registry"
    assert body["form"][0]["prefill"] == {"registry": "persons", "field": "name"}

    changed = client.put("/api/v1/services/items/CA-0100", {**BODY, "code": "", "fee": "免费", "materials": None},
                         content_type="application/json")
    assert changed.status_code == 200 and changed.json()["fee"] == "免费"
    assert [m["code"] for m in changed.json()["materials"]] == ["hukou"]  # left as they were

    assert client.get("/api/v1/services/guide", {"q": "居住证明"}).json() == []
    assert client.post("/api/v1/services/items/CA-0100/publish").json()["status"] == "published"
    assert [row["code"] for row in client.get("/api/v1/services/guide", {"q": "居住证明"}).json()] == ["CA-0100"]
    again = client.post("/api/v1/services/items/CA-0100/publish")
    assert again.status_code == 409 and again.json()["code"] == "conflict"

    withdrawn = client.post("/api/v1/services/items/CA-0100/withdraw", {"reason": "合并办理"},
                            content_type="application/json")
    assert withdrawn.json()["status"] == "withdrawn"
    assert client.get("/api/v1/services/guide", {"q": "居住证明"}).json() == []
    assert [row["code"] for row in client.get("/api/v1/services/items").json()] == ["CA-0100"]
    assert client.get("/api/v1/services/items/CA-0100").json()["status"] == ItemStatus.WITHDRAWN


def test_wrong_input_is_named_field_by_field_and_nothing_is_written(
        definer: User, persons: Registry, single_process: ProcessDefinition) -> None:
    body = {**BODY, "responsible_department": "NOPE", "process": "no_such_process",
            "form": [{"name": "x", "label": "X", "type": "choice"}]}
    answer = client_of(definer).post("/api/v1/services/items", body, content_type="application/json")
    assert answer.status_code == 422
    fields = {d["field"]: d["reason"] for d in answer.json()["details"]}
    assert answer.json()["code"] == "validation_error"
    assert set(fields) == {"responsible_department", "process"}  # looked up first
    body = {**BODY, "form": [{"name": "x", "label": "X", "type": "choice"}],
            "materials": [{"code": "m", "name": "M", "source": "registry", "source_registry": "persons",
                           "source_field": "photo"}]}
    answer = client_of(definer).post("/api/v1/services/items", body, content_type="application/json")
    assert {d["field"] for d in answer.json()["details"]} == {"form[0].choices"}
    body = {**BODY, "materials": [{"code": "m", "name": "M", "source": "registry", "source_registry": "persons",
                                   "source_field": "photo"}]}
    answer = client_of(definer).post("/api/v1/services/items", body, content_type="application/json")
    assert {d["field"] for d in answer.json()["details"]} == {"materials[0].source_registry"}
    assert not ServiceItem.objects.exists()  # the item and its materials together, or neither


def test_outsiders_are_refused(
        definer: User, make_staff: Callable[..., User], city: dict[str, Any], citizen_user: User,
        persons: Registry, single_process: ProcessDefinition) -> None:
    assert client_of(definer).post("/api/v1/services/items", BODY, content_type="application/json").status_code \
        == 201
    other = make_staff(role_names=(roles.PLATFORM_ADMIN,), department=city["other"], username="other")
    for outsider in (other, citizen_user):
        client = client_of(outsider)
        assert client.get("/api/v1/services/items/CA-0100").status_code == 404
        assert client.put("/api/v1/services/items/CA-0100", BODY, content_type="application/json").status_code \
            == 404
        assert client.post("/api/v1/services/items/CA-0100/publish").status_code == 404
    assert client_of(citizen_user).get("/api/v1/services/items").status_code == 403
    refused = client_of(other).post("/api/v1/services/items", {**BODY, "code": "CA-0101"},
                                    content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"

    system = identity.create_api_client(None, department=city["bureau"], name="民政业务系统")
    answer = Client().get("/api/v1/services/items", HTTP_AUTHORIZATION=f"Bearer {system.credential}")
    assert answer.status_code == 403
    assert Client().get("/api/v1/services/items").status_code == 401
