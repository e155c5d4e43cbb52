"""The service guide: citizens find published items by keyword (Chinese substrings of the name, keywords or
summary), by department (responsible or co-operating) and by life situation — exactly those, and never a draft
or a withdrawn item — on the page and through the API; an item's page says everything needed to apply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from zhengtong.services.models import ItemStatus, Material, MaterialSource, ServiceItem
from zhengtong.services.queries.items import GuideSearch, guide


@pytest.fixture
def items(make_item: Callable[..., ServiceItem], city: dict[str, Any]) -> dict[str, ServiceItem]:
    return {
        "licence": make_item(code="BIZ-1", name="营业执照办理", keywords="开办企业 公司设立",
                             life_situations=["business"]),
        "residence": make_item(code="RES-1", name="居住证申领", summary="在本市居住满半年的流动人口申领居住证。",
                               responsible_department=city["other"], life_situations=["moving", "housing"]),
        "allowance": make_item(code="OLD-1", name="高龄津贴", life_situations=["retirement"],
                               cooperating=[city["other"]]),
        "draft": make_item(code="BIZ-2", name="营业执照变更", status=ItemStatus.DRAFT, life_situations=["business"]),
        "withdrawn": make_item(code="BIZ-3", name="营业执照注销", status=ItemStatus.WITHDRAWN,
                               life_situations=["business"], responsible_department=city["other"]),
    }


def codes(search: GuideSearch) -> list[str]:
    return sorted(item.code for item in guide(search))


@pytest.mark.parametrize(("search", "expected"), [
    (GuideSearch(), ["BIZ-1", "OLD-1", "RES-1"]),
    (GuideSearch(q="执照"), ["BIZ-1"]),  # a substring of the name
    (GuideSearch(q="公司"), ["BIZ-1"]),  # of the keywords
    (GuideSearch(q="流动人口"), ["RES-1"]),  # of the summary
    (GuideSearch(q="居住 半年"), ["RES-1"]),  # every word
    (GuideSearch(q="居住 执照"), []),
    (GuideSearch(department="WEST-PSB"), ["OLD-1", "RES-1"]),  # responsible or co-operating
    (GuideSearch(department="CITY-CA"), ["BIZ-1", "OLD-1"]),
    (GuideSearch(situation="business"), ["BIZ-1"]),
    (GuideSearch(situation="housing"), ["RES-1"]),
    (GuideSearch(situation="birth"), []),
    (GuideSearch(situation="nonsense"), []),
    (GuideSearch(q="执照", department="WEST-PSB"), []),
])
def test_the_guide_finds_exactly_the_published_items_asked_for(items: dict[str, ServiceItem], search: GuideSearch,
                                                               expected: list[str]) -> None:
    assert codes(search) == expected


def test_the_guide_page_searches_and_never_shows_drafts(items: dict[str, ServiceItem]) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(reverse("services:guide"), {"q": "营业执照"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-item="BIZ-1"' in html
    assert "BIZ-2" not in html and "BIZ-3" not in html
    page = client.get(reverse("services:guide"), {"situation": "moving"})
    assert 'data-item="RES-1"' in page.content.decode() and 'data-item="BIZ-1"' not in page.content.decode()
    assert client.get(reverse("services:guide"), {"department": "NOPE"}).status_code == 200  # refused quietly


def test_an_items_page_tells_what_is_needed_and_where_to_apply(items: dict[str, ServiceItem]) -> None:
    item = items["licence"]
    item.fee, item.conditions, item.commitment_allowed = "", "年满十八周岁", True
    item.save()
    Material.objects.create(item=item, code="id_card", name="身份证", source=MaterialSource.REGISTRY,
                            source_registry="persons", source_field="resident_id")
    Material.objects.create(item=item, code="lease", name="住所使用证明", commitment_allowed=True, position=1)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(reverse("services:guide_item", args=["BIZ-1"]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "年满十八周岁" in html and "Free of charge" in html and "5 working days" in html
    assert "《测试条例》第一条" in html
    assert 'data-material="id_card" data-source="registry"' in html and "the platform obtains it" in html
    assert reverse("services:apply_start", args=["BIZ-1"]) in html
    for hidden in ("BIZ-2", "BIZ-3", "NOPE"):
        assert client.get(reverse("services:guide_item", args=[hidden])).status_code == 404


def test_an_item_handled_only_at_the_window_has_no_online_start(items: dict[str, ServiceItem]) -> None:
    ServiceItem.objects.filter(code="RES-1").update(channels=["window"])
    html = Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("services:guide_item", args=["RES-1"])).content.decode()
    assert "data-apply" not in html and "at the service hall window" in html


def test_the_guide_api_answers_anyone_with_published_items_only(items: dict[str, ServiceItem]) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    answer = client.get("/api/v1/services/guide", {"q": "执照"})
    assert answer.status_code == 200
    assert [row["code"] for row in answer.json()] == ["BIZ-1"]
    answer = client.get("/api/v1/services/guide", {"department": "WEST-PSB", "situation": "housing"})
    assert [row["code"] for row in answer.json()] == ["RES-1"]
    assert "form" not in answer.json()[0] and "process" not in answer.json()[0]
    assert client.get("/api/v1/services/guide/BIZ-1").json()["promised_days"] == 5
    missing = client.get("/api/v1/services/guide/BIZ-2")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
