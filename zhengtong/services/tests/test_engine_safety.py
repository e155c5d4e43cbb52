"""Review findings on the engine: a published item pins its decision table's version (a later upload by anyone
changes none of its automatic approvals); expressions cannot ask for unbounded memory; one broken application
does not stop the timers of the others; a stored process runs on whatever the database now says of its
departments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from structlog.testing import capture_logs

from zhengtong.conftest import PASSWORD, resident_id
from zhengtong.core.errors import InvalidInput
from zhengtong.identity import actions as identity
from zhengtong.identity import roles
from zhengtong.identity.models import Department, User
from zhengtong.registries import actions as registries
from zhengtong.registries.models import Registry
from zhengtong.services.actions import items as item_actions
from zhengtong.services.actions.definitions import upload_decision, upload_process
from zhengtong.services.models import (
    Application,
    ApplicationStatus,
    DecisionDefinition,
    ItemStatus,
    ItemType,
    Notification,
    ProcessDefinition,
    ServiceItem,
    TaskOutcome,
    TaskStatus,
)
from zhengtong.services.tests.conftest import shipped
from zhengtong.services.workflow import engine, expressions

MONDAY = dt.datetime(2026, 11, 2, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
STRICTER = shipped("senior_allowance.dmn").replace("&gt;= 80", "&gt;= 95").replace("&lt; 80", "&lt; 95")


@pytest.fixture
def definer(make_staff: Callable[..., User], city: dict[str, Any]) -> User:
    return make_staff(role_names=(roles.PLATFORM_ADMIN,), department=city["bureau"], username="definer")


@pytest.fixture
def senior(persons: Registry) -> User:
    """A resident over 80 whose hukou is in the east district: the shipped table (80) approves them at once."""
    born = dt.date(1940, 3, 1)
    number = resident_id(30, county="110101", born=born)
    registries.create_record(None, persons, {"resident_id": number, "name": "孙老伯", "phone": "13800138030",
                                             "division_code": "330106", "birth_date": born.isoformat()})
    citizen = identity.register_citizen(None, identity.CitizenInput(name="孙老伯", resident_id=number,
                                                                    division_code="330106"))
    return identity.create_citizen_account(None, citizen, username="sunlaobo", password=PASSWORD)


def defined(definer: User, city: dict[str, Any], process: ProcessDefinition,
            decision: DecisionDefinition | None = None) -> ServiceItem:
    return item_actions.define_item(definer, item_actions.ItemInput(
        code="MCA-0001", name="高龄津贴申领", item_type=ItemType.BENEFIT, responsible_department=city["bureau"],
        legal_basis="《老年人权益保障条例》", statutory_days=20, promised_days=5, process=process,
        decision=decision, form=[{"name": "receiving_allowance", "label": "是否已领取", "type": "yes_no"}]))


# --- 6: the decision table's version is pinned when the item is published --------------------------------------

@pytest.mark.django_db
def test_publishing_pins_the_latest_decision_and_a_later_upload_changes_nothing(
        definer: User, city: dict[str, Any], persons: Registry, instant_process: ProcessDefinition,
        senior_decision: DecisionDefinition, senior: User,
        make_application: Callable[..., Application]) -> None:
    item = item_actions.publish_item(definer, defined(definer, city, instant_process))
    assert item.decision == senior_decision
    item.refresh_from_db()
    assert item.decision_id == senior_decision.pk  # stored, not only on the instance

    # Anyone who may upload adds a stricter version 2 of the same (global) key.
    assert upload_decision(None, dmn_xml=STRICTER).version == 2
    application = make_application(item, senior, {"receiving_allowance": "no"})
    assert application.status == ApplicationStatus.APPROVED
    assert application.decision_trace is not None and application.decision_trace["version"] == 1


@pytest.mark.django_db
def test_a_process_calling_two_decision_tables_is_not_published(
        definer: User, city: dict[str, Any], persons: Registry, senior_decision: DecisionDefinition) -> None:
    upload_decision(None, dmn_xml=shipped("senior_allowance.dmn").replace(
        '<decision id="senior_allowance"', '<decision id="other_rules"'))
    two = upload_process(None, bpmn_xml=shipped("instant_approval.bpmn").replace(
        '<bpmn:serviceTask id="Task_registry_check" name="核验户籍信息" camunda:type="external" '
        'camunda:topic="registry-check">', '<bpmn:businessRuleTask id="Task_registry_check" name="核验户籍信息" '
        'camunda:decisionRef="other_rules">').replace("</bpmn:serviceTask>", "</bpmn:businessRuleTask>"))
    item = defined(definer, city, two, senior_decision)
    with pytest.raises(InvalidInput) as error:
        item_actions.publish_item(definer, item)
    [problem] = error.value.details
    assert problem.field == "process"
    assert "other_rules" in problem.reason and "senior_allowance" in problem.reason
    assert ServiceItem.objects.get(pk=item.pk).status == ItemStatus.DRAFT


# --- 7: expressions within bounded memory -----------------------------------------------------------------------

@pytest.mark.parametrize("text", ['"a" * 300000000', "[0] * 1000", "(1, 2) * n", 'n * "ab"',
                                  '"%0999999999d" % 1', "n % 2", "n < 10000000000", "n > -10000000000"])
def test_expressions_that_could_take_unbounded_memory_are_refused(text: str) -> None:
    assert expressions.problem(text) != ""
    with pytest.raises(expressions.UnsafeExpression):
        expressions.evaluate(text, {"n": 1})


def test_long_expressions_are_refused() -> None:
    """An uploaded expression is at most 1000 characters; at evaluation SpiffWorkflow joins a DMN entry with its
    column's input expression, so twice that, and more is refused."""
    assert expressions.problem("n == 1 or " * 99 + "n == 2") == ""
    assert expressions.problem("n == 1 or " * 100 + "n == 2") != ""
    with pytest.raises(expressions.UnsafeExpression):
        expressions.evaluate("n == 1 or " * 210 + "n == 2", {"n": 1})
    assert expressions.dmn_entry_problem('in ["' + "a" * 1000 + '"]') != ""
    assert expressions.dmn_entry_problem('in ["a", "b"]') == ""


def test_multiplying_a_text_from_the_task_data_is_refused_when_evaluated() -> None:
    """The applicant's answer is text: `reason * 1000000000` passes the upload check but does not run."""
    assert expressions.problem("reason * 1000000000") == ""
    with pytest.raises(expressions.UnsafeExpression, match="only numbers"):
        expressions.evaluate("reason * 1000000000", {"reason": "x" * 100})
    with pytest.raises(expressions.UnsafeExpression, match="only numbers"):
        expressions.evaluate("(amount + 1) * items", {"amount": 2, "items": ["a"]})
    assert expressions.evaluate("amount * 2 + 1 < limit", {"amount": 3, "limit": 8})
    assert expressions.evaluate("-amount * 1.5", {"amount": 2}) == -3.0
    # A data key cannot stand in for the guard.
    with pytest.raises(expressions.UnsafeExpression):
        expressions.evaluate("reason * 3", {"reason": "x", "_times": lambda a, b: a * b})


# --- 8: timers go on past a broken application; a stored process outlives a department's code -----------------

def reminders(user: User) -> int:
    return Notification.objects.filter(recipient=user, subject__startswith="Reminder").count()


@pytest.mark.django_db
def test_one_broken_application_does_not_stop_the_other_timers(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User, approver: User) -> None:
    with time_machine.travel(MONDAY, tick=False) as clock:
        broken, sound = make_application(make_item(), applicant), make_application(make_item(), applicant)
        for application in (broken, sound):
            engine.complete(application.tasks.get(), window_clerk_ca, outcome=TaskOutcome.APPROVE)
        Application.objects.filter(pk=broken.pk).update(workflow_state={"tasks": {}})
        clock.shift(dt.timedelta(days=3))
        with capture_logs() as logs:
            assert engine.fire_timers() == 1
    assert reminders(approver) == 1
    sound.refresh_from_db()
    assert not sound.waiting_for_timer
    assert Application.objects.get(pk=broken.pk).workflow_state == {"tasks": {}}  # left as it was
    [entry] = [e for e in logs if e["event"] == "services.timer_failed"]
    assert entry["application"] == broken.pk and entry["log_level"] == "error"


@pytest.mark.django_db
def test_a_running_process_survives_a_department_code_change(
        make_item: Callable[..., ServiceItem], make_application: Callable[..., Application], applicant: User,
        window_clerk_ca: User, co_reviewer: User, approver: User, city: dict[str, Any]) -> None:
    """The review step names WEST-PSB; its code changes while an application is in review. The stored process
    is not re-validated against the database (the worker reading it afresh), so the review can be decided."""
    review_by_west = upload_process(None, bpmn_xml=shipped("single_approval.bpmn").replace(
        'id="Task_review" name="审查" camunda:candidateGroups="approver"',
        'id="Task_review" name="审查" camunda:candidateGroups="approver@WEST-PSB"'))
    application = make_application(make_item(process=review_by_west), applicant)
    engine.complete(application.tasks.get(), window_clerk_ca, outcome=TaskOutcome.APPROVE)
    review = application.tasks.get(status=TaskStatus.OPEN)
    assert review.department == city["other"]
    Department.objects.filter(pk=city["other"].pk).update(code="WEST-PSB-2")
    engine._parsed.clear()  # as a worker process that has not read this process yet
    engine.complete(review, co_reviewer, outcome=TaskOutcome.APPROVE)
    decide = application.tasks.get(status=TaskStatus.OPEN)
    assert (decide.element_id, decide.department) == ("Task_decide", city["bureau"])
