"""Review findings on the workbench: values the government held reach staff masked by their registry fields'
own rules (whatever the staff member's right), the applicant's answers are masked for staff without the right
(names and addresses too), showing them in full is audited as a reveal the applicant can find, the actions lock
the application before its task (as withdrawal does), a task is transferred only to the working roles' queues,
and statistics by operator or role are for staff and department systems."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from zhengtong.audit.models import AuditEntry
from zhengtong.audit.subjects import subject_hash
from zhengtong.core.errors import InvalidInput
from zhengtong.exchange.tests.conftest import person
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.privacy.queries import accesses as privacy_accesses
from zhengtong.services.actions import tasks as actions
from zhengtong.services.models import Application, ServiceItem, TaskKind, TaskStatus, WorkTask
from zhengtong.services.queries import tasks as queries

pytestmark = pytest.mark.django_db

HELD = {
    "name": {"value": "王小明", "source": "persons.name", "label": "人口基础信息库"},
    "birth_date": {"value": "1985-06-01", "source": "persons.birth_date", "label": "人口基础信息库"},
    "old_field": {"value": "旧值", "source": "persons.dropped", "label": "人口基础信息库"},
}
ANSWERS = {"contact_name": "李四方", "home_address": "云岭省云溪市东湖区解放路12号", "contact": "13912345678",
           "reason": "开具证明"}


@pytest.fixture
def item(make_item: Callable[..., ServiceItem]) -> ServiceItem:
    return make_item()


@pytest.fixture
def application(make_application: Callable[..., Application], item: ServiceItem, applicant: User) -> Application:
    return make_application(item, applicant, answers=dict(ANSWERS), prefilled=dict(HELD))


def open_task(application: Application) -> WorkTask:
    return application.tasks.select_related("application__item", "department").get(
        status__in=queries.ACTIVE, kind=TaskKind.REVIEW)


def shown(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {row["name"]: row["value"] for row in rows}


def web(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def answers_table(page: str) -> str:
    found = re.search(r'<table data-table="answers">.*?</table>', page, re.S)
    assert found is not None
    return found.group(0)


# --- masking ------------------------------------------------------------------------------------------------------


def test_held_values_are_masked_by_their_fields_rules_for_every_staff_member(application: Application) -> None:
    for reveal in (False, True):
        values = shown(queries.answer_rows(application, reveal=reveal))
        assert values["name"] == "王**"  # the field's rule "name"
        assert values["birth_date"] == "1985"  # "date_year"
        assert values["old_field"] == "******"  # a field the schema no longer has: hidden
    own = shown(queries.answer_rows(application, reveal=True, applicant=True))
    assert (own["name"], own["birth_date"], own["home_address"]) == ("王小明", "1985-06-01", ANSWERS["home_address"])


def test_answers_are_masked_for_staff_without_the_right_names_and_addresses_too(application: Application) -> None:
    masked = shown(queries.answer_rows(application, reveal=False))
    assert masked["contact_name"] == "李**"
    assert masked["home_address"] == "云岭省云溪市东湖区******"
    assert masked["contact"] == "139****5678"
    assert masked["reason"] == "开具证明"  # not personal by its name or shape
    full = {row["name"]: row for row in queries.answer_rows(application, reveal=True)}
    assert {name: full[name]["value"] for name in ANSWERS} == ANSWERS
    assert {name for name, row in full.items() if row["revealed"]} == {"contact_name", "home_address", "contact"}


def test_an_asked_question_filled_from_a_registry_is_masked_by_that_field(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User) -> None:
    # The registry held no value, so the applicant answered; the field's rule still says how it is masked.
    application = make_application(make_item(), applicant, answers={"name": "王小明", "reason": "测试"}, prefilled={})
    assert shown(queries.answer_rows(application, reveal=False))["name"] == "王**"


def test_the_task_page_masks_held_values_even_for_staff_with_the_right(
        application: Application, window_clerk_ca: User, approver: User) -> None:
    task = open_task(application)
    clerk = answers_table(web(window_clerk_ca).get(reverse("services:task", args=[task.pk])).content.decode())
    assert "王小明" not in clerk and "李四方" not in clerk and "解放路" not in clerk and "1985-06-01" not in clerk
    WorkTask.objects.filter(pk=task.pk).update(role=roles.APPROVER)
    full = answers_table(web(approver).get(reverse("services:task", args=[task.pk])).content.decode())
    assert "李四方" in full and "13912345678" in full  # the answers, in full to an approver
    assert "王小明" not in full and "1985-06-01" not in full  # the held values, by their fields' rules


# --- revealing is audited ---------------------------------------------------------------------------------------


def test_opening_a_task_with_the_right_to_reveal_is_audited_for_the_applicant(
        application: Application, window_clerk_ca: User, approver: User) -> None:
    task = open_task(application)
    web(window_clerk_ca).get(reverse("services:task", args=[task.pk]))
    assert not AuditEntry.objects.filter(action=queries.VIEW_APPLICATION).exists()  # nothing shown in full
    WorkTask.objects.filter(pk=task.pk).update(role=roles.APPROVER)
    page = web(approver).get(reverse("services:task", args=[task.pk]))
    entry = AuditEntry.objects.get(action=queries.VIEW_APPLICATION)
    assert (entry.actor_id, entry.object_type, entry.object_id) == (str(approver.pk), "application",
                                                                    application.reference)
    assert entry.subjects == [subject_hash(person(1))]
    assert entry.purpose == f"办理 {application.item.name} {application.reference}"
    assert entry.case_reference == application.reference
    assert sorted(entry.fields) == ["contact", "contact_name", "home_address"]
    assert entry.detail["task"] == task.pk
    # A view is not a step of the application: its history does not list it.
    assert 'services.view_application' not in page.content.decode()


def test_the_registration_api_audits_answers_returned_in_full(
        application: Application, approver: User, window_clerk_ca: User) -> None:
    task = open_task(application)
    clerk = web(window_clerk_ca).get(f"/govstack/registration/tasks/{task.pk}").json()
    assert clerk["data"]["contact"]["value"] == "139****5678" and clerk["data"]["name"]["value"] == "王**"
    assert not AuditEntry.objects.filter(action=queries.VIEW_APPLICATION).exists()
    WorkTask.objects.filter(pk=task.pk).update(role=roles.APPROVER)
    client = web(approver)
    data = client.get(f"/govstack/registration/tasks/{task.pk}").json()["data"]
    assert data["contact"]["value"] == "13912345678" and data["name"]["value"] == "王**"
    client.get(f"/govstack/registration/applications/{application.reference}")
    listed = client.get("/govstack/registration/applications").json()
    assert listed[0]["additionalMeta"]["data"]["applicantName"]["value"] == "王**"  # lists show names masked
    entries = AuditEntry.objects.filter(action=queries.VIEW_APPLICATION, object_id=application.reference)
    assert entries.count() == 2  # the task and the application file; the list revealed nothing
    # The applicant finds both among the accesses to their data, and the clerk's masked views not at all.
    seen = privacy_accesses.visible_accesses(application.applicant)
    assert set(seen.values_list("pk", flat=True)) >= set(entries.values_list("pk", flat=True))
    assert not seen.filter(action=queries.VIEW_APPLICATION, actor_id=str(window_clerk_ca.pk)).exists()


# --- lock order ---------------------------------------------------------------------------------------------------


def _first_lock(run: Callable[[], Any]) -> str:
    with CaptureQueriesContext(connection) as captured:
        run()
    locks = [q["sql"] for q in captured.captured_queries if "FOR UPDATE" in q["sql"]]
    assert locks
    found = re.search(r'FROM "(\w+)"', locks[0])
    assert found is not None
    return found.group(1)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite takes no row locks")
def test_the_actions_lock_the_application_before_its_task(
        application: Application, item: ServiceItem, window_clerk_ca: User, approver: User,
        make_staff: Callable[..., User], city: dict[str, Any]) -> None:
    """Withdrawal locks the application, then its tasks: the workbench's actions take them in the same order."""
    task = open_task(application)
    assert _first_lock(lambda: actions.claim_task(window_clerk_ca, task)) == "services_application"
    assert _first_lock(lambda: actions.release_task(window_clerk_ca, task)) == "services_application"
    actions.claim_task(window_clerk_ca, task)
    colleague = make_staff(role_names=(roles.WINDOW_STAFF,), department=city["bureau"])
    assert _first_lock(lambda: actions.transfer_task(window_clerk_ca, task, reason="轮岗", colleague=colleague)
                       ) == "services_application"
    assert _first_lock(lambda: actions.decide_task(colleague, task, outcome="approve")) == "services_application"
    check = WorkTask.objects.create(application=application, kind=TaskKind.POST_CHECK, name="事后核查",
                                    department=item.responsible_department, role=roles.APPROVER,
                                    status=TaskStatus.CLAIMED, claimed_by=approver, created_at=timezone.now())
    assert _first_lock(lambda: actions.complete_post_check(approver, check, note="已核对。")) == "services_application"


# --- transfers --------------------------------------------------------------------------------------------------


def test_a_task_goes_only_to_the_queues_of_the_working_roles(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User, city: dict[str, Any]) -> None:
    application = make_application(make_item(cooperating=[city["other"]]), applicant)
    task = actions.claim_task(window_clerk_ca, open_task(application))
    for role in (roles.AUDITOR, roles.LEADER, roles.PLATFORM_ADMIN):
        with pytest.raises(InvalidInput) as refused:
            actions.transfer_task(window_clerk_ca, task, reason="转办", department=city["other"], role=role)
        assert refused.value.details[0].field == "role"
    answer = web(window_clerk_ca).post(f"/api/v1/services/tasks/{task.pk}/transfer", json.dumps(
        {"reason": "转办", "department": city["other"].code, "role": roles.AUDITOR}), content_type="application/json")
    assert answer.status_code == 422 and answer.json()["details"][0]["field"] == "role"
    task.refresh_from_db()
    assert (task.department, task.role, task.status) == (city["bureau"], roles.WINDOW_STAFF, TaskStatus.CLAIMED)


# --- statistics -----------------------------------------------------------------------------------------------------


def test_statistics_by_operator_or_role_are_for_staff_and_systems(
        applicant: User, approver: User, item: ServiceItem, city: dict[str, Any]) -> None:
    path = "/govstack/registration/data/statistics"
    citizen = web(applicant)
    assert citizen.get(path).status_code == 200  # the aggregate is open to anyone signed in
    for query in (f"?operator={approver.display_name}", "?role=approver", "?operator=%20&role=approver"):
        refused = citizen.get(path + query)
        assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied"), query
    assert web(approver).get(path + f"?operator={approver.display_name}").status_code == 200
    issued = identity.create_api_client(None, department=city["other"], name="统计系统")
    system = Client(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=f"Bearer {issued.credential}")
    assert system.get(path + "?role=approver").status_code == 200
