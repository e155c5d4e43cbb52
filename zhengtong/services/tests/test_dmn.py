"""Automatic approval (秒批): the instant-approval process checks the applicant's own record through the one
door, evaluates the senior-allowance decision table and approves with no human step when it finds the applicant
eligible, storing the decision and the rows that fired; otherwise a person reviews."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from zhengtong.audit.models import AuditEntry
from zhengtong.conftest import PASSWORD, resident_id
from zhengtong.core.errors import Conflict
from zhengtong.identity import actions as identity
from zhengtong.identity.models import User
from zhengtong.registries import actions as registries
from zhengtong.registries.models import Registry
from zhengtong.services.actions.definitions import upload_decision
from zhengtong.services.models import (
    Application,
    ApplicationStatus,
    DecisionDefinition,
    ProcessDefinition,
    ServiceItem,
    TaskOutcome,
    TaskStatus,
)
from zhengtong.services.tests.conftest import shipped
from zhengtong.services.workflow import engine

pytestmark = pytest.mark.django_db

BORN = dt.date(1940, 3, 1)  # the senior: over 80 whenever the suite runs


def trace_of(application: Application) -> dict[str, Any]:
    assert application.decision_trace is not None
    return application.decision_trace


@pytest.fixture
def senior(persons: Registry) -> User:
    """A resident born in 1940 (in Beijing), whose hukou is in the east district of the city."""
    number = resident_id(30, county="110101", born=BORN)  # born in Beijing, moved here
    registries.create_record(None, persons, {"resident_id": number, "name": "孙老伯", "phone": "13800138030",
                                             "division_code": "330106", "birth_date": BORN.isoformat()})
    citizen = identity.register_citizen(None, identity.CitizenInput(name="孙老伯", resident_id=number,
                                                                    division_code="330106"))
    return identity.create_citizen_account(None, citizen, username="sunlaobo", password=PASSWORD)


@pytest.fixture
def allowance(make_item: Callable[..., ServiceItem], instant_process: ProcessDefinition,
              senior_decision: DecisionDefinition) -> ServiceItem:
    return make_item(name="高龄津贴申领", process=instant_process, decision=senior_decision)


def test_eligible_applicant_is_approved_with_no_human_step(
        allowance: ServiceItem, make_application: Callable[..., Application], senior: User) -> None:
    reads = AuditEntry.objects.filter(action="exchange.read").count()
    application = make_application(allowance, senior, {"receiving_allowance": "no"})
    assert application.status == ApplicationStatus.APPROVED, application.decision_trace
    assert application.decided_at is not None
    assert "automatically" in application.result
    assert not application.tasks.exists()
    trace = trace_of(application)
    assert (trace["decision"], trace["version"]) == ("senior_allowance", 1)
    today = timezone.localdate()
    age = today.year - BORN.year - ((today.month, today.day) < (BORN.month, BORN.day))
    assert trace["inputs"] == {"人口库有记录": True, "年龄": age, "户籍在本辖区": True, "已领取同类津贴": "no"}
    assert trace["rules"] == [{"id": "Rule_eligible", "row": 1,
                               "annotation": "年满80周岁、户籍在本辖区、未领取同类津贴：符合，秒批"}]
    assert trace["outputs"] == {"eligible": True, "eligibility_reason": "符合高龄津贴条件"}
    # The registry was read through the one door, as the applicant's own access.
    assert AuditEntry.objects.filter(action="exchange.read").count() == reads + 1


@pytest.mark.parametrize(("who", "answer", "row", "rule"), [
    ("applicant", "no", 3, "Rule_too_young"),  # person(1) was born in 1985
    ("senior", "yes", 5, "Rule_already_receiving"),
])
def test_refusal_by_the_table_goes_to_a_person(
        allowance: ServiceItem, make_application: Callable[..., Application], request: pytest.FixtureRequest,
        approver: User, who: str, answer: str, row: int, rule: str) -> None:
    user = request.getfixturevalue(who)
    application = make_application(allowance, user, {"receiving_allowance": answer})
    assert application.status == ApplicationStatus.IN_REVIEW
    assert trace_of(application)["rules"][0]["id"] == rule
    assert trace_of(application)["rules"][0]["row"] == row
    assert trace_of(application)["outputs"]["eligible"] is False
    review = application.tasks.get()
    assert (review.element_id, review.role, review.status) == ("Task_review", "approver", TaskStatus.OPEN)
    engine.complete(review, approver, outcome=TaskOutcome.APPROVE)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED


def test_a_household_outside_the_deciding_departments_division_is_not_local(
        make_item: Callable[..., ServiceItem], instant_process: ProcessDefinition,
        senior_decision: DecisionDefinition, make_application: Callable[..., Application], senior: User,
        city: dict[str, Any]) -> None:
    """The senior's household is in the east district; a department of the west district does not decide it
    automatically."""
    item = make_item(process=instant_process, decision=senior_decision, responsible_department=city["other"])
    application = make_application(item, senior, {"receiving_allowance": "no"})
    assert application.status == ApplicationStatus.IN_REVIEW
    assert trace_of(application)["inputs"]["户籍在本辖区"] is False
    assert trace_of(application)["rules"][0]["id"] == "Rule_other_city"


def test_an_unregistered_applicant_is_not_guessed_at(
        allowance: ServiceItem, make_application: Callable[..., Application], city: dict[str, Any],
        persons: Registry) -> None:
    citizen = identity.register_citizen(None, identity.CitizenInput(
        name="周无档", resident_id=resident_id(31, county="110101", born=dt.date(1940, 1, 1))))
    nobody = identity.create_citizen_account(None, citizen, username="nobody", password=PASSWORD)
    application = make_application(allowance, nobody, {"receiving_allowance": "no"})
    assert application.status == ApplicationStatus.IN_REVIEW
    assert trace_of(application)["rules"][0]["id"] == "Rule_not_registered"
    assert trace_of(application)["inputs"]["人口库有记录"] is False


def test_the_item_runs_on_its_own_decision_version(
        allowance: ServiceItem, make_item: Callable[..., ServiceItem], instant_process: ProcessDefinition,
        make_application: Callable[..., Application], senior: User) -> None:
    """A stricter table uploaded later (age 95) changes nothing for the item that pinned version 1; an item
    that pinned none is not run on the latest version either."""
    stricter = upload_decision(None, dmn_xml=shipped("senior_allowance.dmn").replace("&gt;= 80", "&gt;= 95")
                               .replace("&lt; 80", "&lt; 95"))
    assert stricter.version == 2
    pinned = make_application(allowance, senior, {"receiving_allowance": "no"})
    assert (pinned.status, trace_of(pinned)["version"]) == (ApplicationStatus.APPROVED, 1)
    with pytest.raises(Conflict, match="names no version of the decision table senior_allowance"):
        make_application(make_item(process=instant_process), senior, {"receiving_allowance": "no"})


def test_uploading_the_same_file_again_keeps_the_version(senior_decision: DecisionDefinition) -> None:
    again = upload_decision(None, dmn_xml=shipped("senior_allowance.dmn"))
    assert again.pk == senior_decision.pk
