"""Uploading a process: a file as a modeler saves it loads unchanged; a file the platform cannot run, or cannot
run safely, is refused with the element and the problem named, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from zhengtong.core.errors import InvalidInput
from zhengtong.services.actions.definitions import upload_process
from zhengtong.services.models import DecisionDefinition, ProcessDefinition
from zhengtong.services.tests.conftest import shipped
from zhengtong.services.workflow import engine

pytestmark = pytest.mark.django_db

SINGLE = shipped("single_approval.bpmn")
REVIEW = '<bpmn:userTask id="Task_review" name="审查" camunda:candidateGroups="approver">'
CONDITION = 'outcome == "return"</bpmn:conditionExpression>'


def refusal(bpmn_xml: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        upload_process(None, bpmn_xml=bpmn_xml)
    assert not ProcessDefinition.objects.exists()
    [problem] = caught.value.details
    assert problem.field == "bpmn_file"
    return str(problem.reason)


@pytest.mark.parametrize("name", ["single_approval.bpmn", "joint_review.bpmn"])
def test_shipped_processes_load_unchanged(city: dict[str, Any], name: str) -> None:
    stored = upload_process(None, bpmn_xml=shipped(name))
    assert stored.bpmn_xml == shipped(name)
    assert (stored.key, stored.version) == (name.removesuffix(".bpmn"), 1)
    assert "camunda:candidateGroups" in stored.bpmn_xml and "bpmndi:BPMNShape" in stored.bpmn_xml


def test_a_new_upload_is_the_next_version(city: dict[str, Any]) -> None:
    first = upload_process(None, bpmn_xml=SINGLE)
    revised = SINGLE.replace("单部门审批", "单部门审批（修订）")
    second = upload_process(None, bpmn_xml=revised)
    assert (first.version, second.version) == (1, 2)
    assert upload_process(None, bpmn_xml=revised).pk == second.pk  # the same file again is no new version


def test_default_namespace_file_loads(city: dict[str, Any]) -> None:
    """Some modelers write BPMN in the default namespace rather than with a bpmn: prefix."""
    unprefixed = SINGLE.replace("bpmn:", "").replace('xmlns:bpmn="', 'xmlns="')
    parsed = engine.parse_process(unprefixed)
    assert parsed.key == "single_approval"
    assert parsed.user_steps["Task_correct"].role == "applicant"


def test_xml_syntax_error_names_the_line(city: dict[str, Any]) -> None:
    reason = refusal(SINGLE.replace("</bpmn:userTask>", "</bpmn:usertask>", 1))
    assert reason.startswith("line 12: XML syntax error: Opening and ending tag mismatch")


def test_schema_failure_is_refused(city: dict[str, Any]) -> None:
    reason = refusal(SINGLE.replace(' sourceRef="StartEvent_submitted"', "", 1))
    assert "not valid BPMN 2.0" in reason and "sourceRef" in reason


def test_no_executable_process(city: dict[str, Any]) -> None:
    assert "no executable process" in refusal(SINGLE.replace('isExecutable="true"', 'isExecutable="false"'))


def test_user_task_without_candidate_groups(city: dict[str, Any]) -> None:
    reason = refusal(SINGLE.replace(REVIEW, '<bpmn:userTask id="Task_review" name="审查">'))
    assert reason.startswith("Task_review:") and "candidateGroups" in reason


def test_unknown_role(city: dict[str, Any]) -> None:
    reason = refusal(SINGLE.replace(REVIEW, REVIEW.replace('"approver"', '"mayor"')))
    assert reason == "Task_review: unknown role “mayor”."


def test_unknown_department(city: dict[str, Any]) -> None:
    reason = refusal(SINGLE.replace(REVIEW, REVIEW.replace('"approver"', '"approver@NO-SUCH"')))
    assert reason == "Task_review: unknown department code “NO-SUCH”."


def test_named_department_is_accepted(city: dict[str, Any]) -> None:
    parsed = engine.parse_process(SINGLE.replace(REVIEW, REVIEW.replace('"approver"', '"approver@WEST-PSB"')))
    assert parsed.user_steps["Task_review"].department == "WEST-PSB"


def test_service_task_with_unknown_topic(city: dict[str, Any]) -> None:
    reason = refusal(SINGLE.replace('camunda:topic="remind-staff"', 'camunda:topic="send-money"'))
    assert reason.startswith("Task_remind: unknown topic “send-money”")


def test_service_task_running_a_java_class_is_refused(city: dict[str, Any]) -> None:
    reason = refusal(SINGLE.replace('camunda:type="external" camunda:topic="remind-staff"',
                                    'camunda:class="org.example.Remind"'))
    assert reason.startswith("Task_remind: a service task must be an external task")


def test_script_task_is_refused(city: dict[str, Any]) -> None:
    script = SINGLE.replace('<bpmn:serviceTask id="Task_remind" name="催办提醒" camunda:type="external" '
                            'camunda:topic="remind-staff">',
                            '<bpmn:scriptTask id="Task_remind" name="催办提醒" scriptFormat="python">'
                            ).replace("</bpmn:serviceTask>", "<bpmn:script>import os</bpmn:script></bpmn:scriptTask>")
    reason = refusal(script)
    assert reason.startswith("Task_remind: script tasks are not allowed")


@pytest.mark.parametrize("condition", ["__import__('os').system('id')", "().__class__.__bases__",
                                       "[x for x in outcome]", "(lambda: 1)()", "outcome[rejected]",
                                       "open('/etc/passwd')"])
def test_unsafe_condition_is_refused(city: dict[str, Any], condition: str) -> None:
    reason = refusal(SINGLE.replace(CONDITION, f"{condition}</bpmn:conditionExpression>", 1))
    assert reason.startswith("Flow_accept_return: the condition")
    assert "not in the safe expression subset" in reason


def test_condition_syntax_error_is_refused(city: dict[str, Any]) -> None:
    reason = refusal(SINGLE.replace(CONDITION, 'outcome ==</bpmn:conditionExpression>', 1))
    assert reason.startswith("Flow_accept_return:") and "syntax error" in reason


def test_timer_must_be_iso_8601(city: dict[str, Any]) -> None:
    reason = refusal(SINGLE.replace(">P2D<", ">two days<"))
    assert reason.startswith("Timer_review_reminder: the timer “two days”")


def test_unknown_decision_is_refused(city: dict[str, Any]) -> None:
    assert not DecisionDefinition.objects.exists()
    reason = refusal(shipped("instant_approval.bpmn"))
    assert reason == "Task_rules: no decision table “senior_allowance” has been uploaded."
