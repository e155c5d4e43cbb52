"""The catalog's staff pages: who may open them, what they show, and forms that work without JavaScript —
the permission checked again by the action when a form is sent."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from zhengtong.catalog import actions
from zhengtong.catalog.models import Resource, ResourceStatus, RightsDispute, RightsRegistration
from zhengtong.catalog.tests.conftest import rights
from zhengtong.conftest import credit_code
from zhengtong.identity import roles
from zhengtong.registries import actions as registries
from zhengtong.registries.tests.factories import indicator_fields


@pytest.fixture(autouse=True)
def _english(client):
    """Pages are asked for in English, the msgids the assertions read."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


def resource_form(**changes):
    data = {
        "provider": "", "name": "救助对象核验", "summary": "核验救助对象。", "kind": "departmental",
        "item_code": "03", "category_code": "004", "subcategory_code": "", "update_cycle": "daily",
        "sharing_type": "conditional", "sharing_condition": "办理救助事项", "legal_basis": "《社会救助暂行办法》",
        "opening_type": "closed", "opening_condition": "",
        "endpoint_url": "https://api.example.gov.cn/aid/v1/check", "http_method": "GET",
        "service_description": "按身份证号码返回救助状态。",
        "items-TOTAL_FORMS": "3", "items-INITIAL_FORMS": "0",
        "items-0-name": "status", "items-0-label": "救助状态", "items-0-type": "text",
        "items-0-sensitivity": "personal", "items-0-grade": "1", "items-0-level": "3",
        "items-1-name": "", "items-1-label": "", "items-1-type": "", "items-1-sensitivity": "internal",
        "items-1-grade": "1", "items-1-level": "2",
        "items-2-name": "amount", "items-2-label": "救助金额", "items-2-type": "decimal",
        "items-2-sensitivity": "personal", "items-2-grade": "2", "items-2-level": "3",
    }
    data.update(changes)
    return data


def test_the_catalog_needs_the_view_permission(client, make_staff, published):
    assert client.get(reverse("catalog:list")).status_code == 302  # to the login page
    client.force_login(make_staff(role_names=(roles.WINDOW_STAFF,)))
    assert client.get(reverse("catalog:list")).status_code == 403
    client.force_login(make_staff(role_names=(roles.LEADER,)))
    page = client.get(reverse("catalog:list"))
    assert page.status_code == 200 and published.name in page.content.decode()


def test_the_list_searches_and_filters(officer_client, make_resource, city):
    make_resource(name="东湖接口", publish=True)
    make_resource(name="西山接口", provider=city["other"], category_code="009", publish=True)
    content = officer_client.get(reverse("catalog:list"), {"q": "西山"}).content.decode()
    assert "西山接口" in content and "东湖接口" not in content
    content = officer_client.get(reverse("catalog:list"), {"provider": "CITY-CA"}).content.decode()
    assert "东湖接口" in content and "西山接口" not in content
    content = officer_client.get(reverse("catalog:list"), {"level": "4"}).content.decode()
    assert "东湖接口" not in content and "No resources match." in content


def test_the_resource_page_shows_items_grades_rights_and_lineage(officer_client, officer, make_resource, published):
    derived = make_resource(name="婚姻统计", sources=[published.pk], publish=True)
    registration = actions.register_rights(officer, published, rights())
    content = officer_client.get(reverse("catalog:resource", args=[published.pk])).content.decode()
    assert published.code in content and "status" in content and "registered_on" in content
    assert "L3" in content and "general data" in content
    assert registration.number in content and "Signature valid." in content
    assert "婚姻统计" in content  # derived resources are listed on the source's page
    assert "婚姻登记核验接口" in officer_client.get(reverse("catalog:resource", args=[derived.pk])).content.decode()


def test_describing_an_api_through_the_form(officer_client):
    page = officer_client.get(reverse("catalog:create"))
    assert page.status_code == 200 and 'name="items-TOTAL_FORMS"' in page.content.decode()
    response = officer_client.post(reverse("catalog:create"), resource_form(provider="CITY-CA"))
    resource = Resource.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("catalog:resource", args=[resource.pk])
    assert resource.code == "303004/000001" and resource.status == ResourceStatus.DRAFT
    assert list(resource.items.values_list("name", flat=True)) == ["status", "amount"]  # the empty row is left out
    assert (resource.grade, resource.level) == (2, 3)


def test_a_row_with_only_a_type_or_description_is_not_dropped(officer_client):
    response = officer_client.post(reverse("catalog:create"), resource_form(
        provider="CITY-CA", **{"items-1-type": "date", "items-1-description": "发放日期"}))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="id_items-1-name_error"' in content and 'id="id_items-1-label_error"' in content
    assert not Resource.objects.exists()


def test_form_errors_from_the_action_are_shown_at_their_fields(officer_client):
    response = officer_client.post(reverse("catalog:create"), resource_form(
        provider="CITY-CA", legal_basis="", **{"items-2-name": "bad name"}))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Conditional sharing needs its legal basis" in content
    assert 'id="id_legal_basis_error"' in content
    assert 'id="id_items-2-name_error"' in content  # the third row, though only the second filled one
    assert not Resource.objects.exists()


def test_a_state_secret_is_refused_on_the_form(officer_client):
    response = officer_client.post(reverse("catalog:create"), resource_form(provider="CITY-CA", state_secret="on"))
    assert response.status_code == 200 and "State secrets do not belong in this catalog" in response.content.decode()
    assert not Resource.objects.exists()


def test_editing_and_publishing(officer_client, make_resource):
    resource = make_resource()
    data = resource_form(name="改过的名称", item_code="01", category_code="002", **{
        "items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "1"})
    response = officer_client.post(reverse("catalog:edit", args=[resource.pk]), data)
    assert response.status_code == 302
    resource.refresh_from_db()
    assert resource.name == "改过的名称" and list(resource.items.values_list("name", flat=True)) == ["status"]
    officer_client.post(reverse("catalog:publish", args=[resource.pk]))
    resource.refresh_from_db()
    assert resource.status == ResourceStatus.PUBLISHED


def test_a_published_resource_keeps_its_classification_on_the_form(officer_client, published):
    data = resource_form(kind="thematic", item_code="09", category_code="009", **{
        "items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "1"})
    page = officer_client.get(reverse("catalog:edit", args=[published.pk])).content.decode()
    assert re.search(r'<select name="kind"[^>]*disabled', page)
    assert officer_client.post(reverse("catalog:edit", args=[published.pk]), data).status_code == 302
    published.refresh_from_db()
    assert (published.code, published.kind, published.name) == ("301002/000001", "departmental", "救助对象核验")


def test_publishing_an_incomplete_draft_explains_what_is_missing(officer_client, officer, city):
    registry = registries.define_registry(officer, code="indicators", name="指标", department=city["bureau"],
                                          fields=indicator_fields())
    resource = registry.catalog_resource
    response = officer_client.post(reverse("catalog:publish", args=[resource.pk]), follow=True)
    assert "cannot be published yet" in response.content.decode()
    resource.refresh_from_db()
    assert resource.status == ResourceStatus.DRAFT
    edit = officer_client.get(reverse("catalog:edit", args=[resource.pk])).content.decode()
    assert 'name="format"' in edit and "items-TOTAL_FORMS" not in edit  # a registry's items are not edited here


def test_other_departments_cannot_open_the_edit_form_or_post_it(client, other_officer, published):
    client.force_login(other_officer)
    assert client.get(reverse("catalog:edit", args=[published.pk])).status_code == 403
    assert client.post(reverse("catalog:edit", args=[published.pk]), resource_form()).status_code == 403
    assert client.get(reverse("catalog:register-rights", args=[published.pk])).status_code == 403
    published.refresh_from_db()
    assert published.name == "婚姻登记核验接口"


def test_registering_rights_through_the_form(officer_client, published):
    page = officer_client.get(reverse("catalog:register-rights", args=[published.pk]))
    assert page.status_code == 200
    response = officer_client.post(reverse("catalog:register-rights", args=[published.pk]), {
        "holder_code": "CITY-CA", "source_system": "婚姻登记系统", "collection_legal_basis": "《婚姻登记条例》",
        "provenance_note": "", "holders-TOTAL_FORMS": "2", "holders-INITIAL_FORMS": "0",
        "holders-0-right": "operation", "holders-0-department_code": "", "holders-0-name": "云溪数据运营有限公司",
        "holders-0-credit_code": credit_code(77, prefix="91"),
        "holders-1-right": "", "holders-1-department_code": "", "holders-1-name": "", "holders-1-credit_code": "",
    })
    registration = RightsRegistration.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("catalog:registration",
                                                                           args=[registration.number])
    content = officer_client.get(response["Location"]).content.decode()
    assert "云溪数据运营有限公司" in content and "Signature valid." in content


def test_dispute_pages(client, officer, governance, published):
    registration = actions.register_rights(officer, published, rights())
    client.force_login(officer)
    page = client.get(reverse("catalog:registration", args=[registration.number])).content.decode()
    assert reverse("catalog:raise-dispute", args=[registration.number]) in page
    client.post(reverse("catalog:raise-dispute", args=[registration.number]), {"reason": "持有权有误"})
    dispute = RightsDispute.objects.get()
    assert client.get(reverse("catalog:settle-dispute", args=[dispute.pk])).status_code == 403
    client.force_login(governance)
    page = client.get(reverse("catalog:registration", args=[registration.number])).content.decode()
    assert "This registration is disputed." in page and "Signature valid." in page
    response = client.post(reverse("catalog:settle-dispute", args=[dispute.pk]), {"settlement": "登记无误"})
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert not dispute.is_open


def test_forms_need_the_csrf_token(officer, published):
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)
    assert client.post(reverse("catalog:publish", args=[published.pk])).status_code == 403
