"""The staff pages defining items: a new item with its questions and a BPMN file uploaded on the same form; a
wrong question is shown on its row; a refused upload names the element and saves nothing; materials are edited
as rows; publishing and withdrawing; other departments' items are out of reach."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from zhengtong.audit.models import AuditEntry
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.registries.models import Registry
from zhengtong.services.models import ItemStatus, ProcessDefinition, ServiceItem
from zhengtong.services.tests.conftest import shipped


@pytest.fixture
def definer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    return make_staff(role_names=(roles.PLATFORM_ADMIN,), department=city["bureau"], username="definer")


def client_of(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def rows(prefix: str, filled: list[dict[str, str]], total: int = 3) -> dict[str, str]:
    data = {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000"}
    blank = {"type": "text", "required": "yes", "source": "applicant"}  # what the browser sends for an empty row
    for index in range(total):
        row = {**blank, **(filled[index] if index < len(filled) else {})}
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def item_post(city: dict[str, Any], questions: list[dict[str, str]], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": "CA-0200", "name": "居住证明", "item_type": "confirmation",
        "responsible_department": str(city["bureau"].pk), "legal_basis": "《居住证暂行条例》",
        "statutory_days": "20", "promised_days": "5", "channels": ["online", "window"], "life_situations": ["moving"],
        **rows("questions", questions)}
    data.update(changes)
    return data


NAME_QUESTION = {"name": "name", "label": "姓名", "type": "text", "required": "yes", "prefill": "persons.name"}


def test_staff_define_an_item_uploading_its_process(definer: User, city: dict[str, Any], persons: Registry) -> None:
    client = client_of(definer)
    assert client.get(reverse("services:item_new")).status_code == 200
    questions = [NAME_QUESTION, {"name": "purpose", "label": "用途", "type": "choice", "required": "no",
                                 "choices": "work=就业\nschool=入学"}]
    bpmn = SimpleUploadedFile("single.bpmn", shipped("single_approval.bpmn").encode())
    answer = client.post(reverse("services:item_new"), item_post(city, questions, bpmn_file=bpmn))
    assert answer.status_code == 302, answer.content.decode()
    item = ServiceItem.objects.get(code="CA-0200")
    assert item.process.key == "single_approval"
    assert item.form[1] == {"name": "purpose", "label": "用途", "type": "choice", "required": False, "hint": "",
                            "choices": [{"value": "work", "label": "就业"}, {"value": "school", "label": "入学"}],
                            "prefill": None}
    page = client.get(reverse("services:item_detail", args=["CA-0200"])).content.decode()
    assert 'data-question="purpose"' in page and 'data-status="draft"' in page

    edit = client.get(reverse("services:item_edit", args=["CA-0200"])).content.decode()
    assert 'value="purpose"' in edit and "work=就业" in edit


def test_a_wrong_question_is_shown_on_its_row_and_a_refused_file_saves_nothing(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition) -> None:
    client = client_of(definer)
    questions = [NAME_QUESTION, {}, {"name": "name", "label": "再问姓名", "type": "choice"}]
    answer = client.post(reverse("services:item_new"), item_post(city, questions, process=str(single_process.pk)))
    assert answer.status_code == 200
    html = answer.content.decode()
    # The third row (the second filled one) carries both problems, linked from the summary.
    assert 'href="#id_questions-2-name"' in html and 'href="#id_questions-2-choices"' in html
    assert "Row 3, Name" in html
    assert not ServiceItem.objects.exists()

    bad = SimpleUploadedFile("bad.bpmn", b"<definitions xmlns='http://www.omg.org/spec/BPMN/20100524/MODEL'/>")
    answer = client.post(reverse("services:item_new"), item_post(city, [NAME_QUESTION], bpmn_file=bad))
    assert answer.status_code == 200
    assert 'href="#id_bpmn_file"' in answer.content.decode()
    assert not ServiceItem.objects.exists() and ProcessDefinition.objects.count() == 1


def test_materials_publishing_and_withdrawing_on_the_pages(
        definer: User, city: dict[str, Any], persons: Registry, single_process: ProcessDefinition) -> None:
    client = client_of(definer)
    client.post(reverse("services:item_new"), item_post(city, [NAME_QUESTION], process=str(single_process.pk)))
    url = reverse("services:item_materials", args=["CA-0200"])
    assert client.get(url).status_code == 200
    wrong = client.post(url, rows("materials", [
        {"code": "hukou", "name": "户口簿", "required": "yes", "source": "registry", "registry_field": ""}]))
    assert 'href="#id_materials-0-registry_field"' in wrong.content.decode()
    saved = client.post(url, rows("materials", [
        {"code": "hukou", "name": "户口簿", "required": "yes", "source": "registry",
         "registry_field": "persons.division_code"},
        {"code": "lease", "name": "租赁合同", "required": "no", "source": "applicant"}]))
    assert saved.status_code == 302
    assert list(ServiceItem.objects.get().materials.values_list("code", flat=True)) == ["hukou", "lease"]

    assert client.post(reverse("services:item_publish", args=["CA-0200"])).status_code == 302
    assert ServiceItem.objects.get().status == ItemStatus.PUBLISHED
    guide = Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("services:guide"), {"q": "居住"}).content.decode()
    assert 'data-item="CA-0200"' in guide
    refused = client.post(reverse("services:item_publish", args=["CA-0200"]))
    assert refused.status_code == 422 and "already" in refused.content.decode()
    client.post(reverse("services:item_withdraw", args=["CA-0200"]), {"reason": "合并办理"})
    assert ServiceItem.objects.get().status == ItemStatus.WITHDRAWN
    assert AuditEntry.objects.get(action="services.withdraw_item").detail["reason"] == "合并办理"


def test_other_departments_and_citizens_are_kept_out(
        definer: User, make_staff: Callable[..., User], city: dict[str, Any], citizen_user: User,
        persons: Registry, single_process: ProcessDefinition) -> None:
    client_of(definer).post(reverse("services:item_new"),
                            item_post(city, [NAME_QUESTION], process=str(single_process.pk)))
    other = make_staff(role_names=(roles.PLATFORM_ADMIN,), department=city["other"], username="other")
    client = client_of(other)
    assert 'data-item="CA-0200"' not in client.get(reverse("services:item_list")).content.decode()
    assert client.get(reverse("services:item_edit", args=["CA-0200"])).status_code == 404
    assert client.post(reverse("services:item_publish", args=["CA-0200"])).status_code == 404
    # Another department's staff cannot make an item responsible to a department outside their scope.
    answer = client.post(reverse("services:item_new"), item_post(city, [NAME_QUESTION], code="CA-0201",
                                                                process=str(single_process.pk)))
    assert answer.status_code == 200 and not ServiceItem.objects.filter(code="CA-0201").exists()
    assert client_of(citizen_user).get(reverse("services:item_list")).status_code == 403
    assert 'data-item="CA-0200"' in client_of(definer).get(reverse("services:item_list")).content.decode()
