"""Uploading a decision table, and the expression subset every condition and DMN entry must stay inside: the
workflow engine evaluates them with Python, so anything that could reach outside (calls, attributes, dunder
names, comprehensions) is refused at upload and again at run time."""

from __future__ import annotations

import pytest

from zhengtong.core.errors import InvalidInput
from zhengtong.services.actions.definitions import upload_decision
from zhengtong.services.models import DecisionDefinition
from zhengtong.services.tests.conftest import shipped
from zhengtong.services.workflow import expressions

DMN = shipped("senior_allowance.dmn")
AGE_ENTRY = '<inputEntry id="UnaryTests_eligible_age"><text>&gt;= 80</text></inputEntry>'


def refusal(dmn_xml: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        upload_decision(None, dmn_xml=dmn_xml)
    assert not DecisionDefinition.objects.exists()
    [problem] = caught.value.details
    assert problem.field == "dmn_file"
    return str(problem.reason)


@pytest.mark.django_db
def test_shipped_table_loads_unchanged() -> None:
    stored = upload_decision(None, dmn_xml=DMN)
    assert (stored.key, stored.version, stored.name, stored.dmn_xml) == (
        "senior_allowance", 1, "高龄津贴资格", DMN)


@pytest.mark.django_db
@pytest.mark.parametrize("entry", ["__import__('os').system('id')", "().__class__", "[c for c in age]",
                                   "&gt;= len(age)", "age.real"])
def test_unsafe_input_entry_is_refused(entry: str) -> None:
    reason = refusal(DMN.replace(AGE_ENTRY, AGE_ENTRY.replace("&gt;= 80", entry)))
    assert reason.startswith("UnaryTests_eligible_age: row 1: the entry")
    assert "not in the safe expression subset" in reason


@pytest.mark.django_db
def test_unsafe_output_is_refused() -> None:
    reason = refusal(DMN.replace("<text>\"符合高龄津贴条件\"</text>", "<text>().__class__</text>"))
    assert reason.startswith("LiteralExpression_eligible_reason: row 1: the output")


@pytest.mark.django_db
def test_unsafe_input_expression_is_refused() -> None:
    reason = refusal(DMN.replace("<text>age</text>", "<text>__import__('os')</text>"))
    assert reason.startswith("InputExpression_age: the input expression") or reason.startswith("Input_age:")


@pytest.mark.django_db
def test_xml_and_schema_errors_are_refused() -> None:
    assert refusal(DMN.replace("</rule>", "</rul>", 1)).startswith("line ")
    assert "not valid DMN" in refusal(DMN.replace("<description>", "<remark>x</remark><description>", 1))
    assert "lacks its id attribute" in refusal(DMN.replace('<decisionTable id="DecisionTable_senior_allowance"',
                                                           "<decisionTable", 1))


@pytest.mark.django_db
def test_unsupported_hit_policy_is_refused() -> None:
    reason = refusal(DMN.replace('hitPolicy="UNIQUE"', 'hitPolicy="FIRST"'))
    assert reason.startswith("DecisionTable_senior_allowance: hit policy FIRST is not supported")


@pytest.mark.parametrize("text", ['age >= 60 and hukou_division[:4] == "3301"', "not rejected",
                                  'outcome in ("approve", "return")', "amount * 2 + 1 < limit",
                                  "values[0] != -1"])
def test_the_safe_subset(text: str) -> None:
    assert expressions.problem(text) == ""


@pytest.mark.parametrize("text", ["__import__('os')", "().__class__", "x.y", "f(x)", "[a for a in b]",
                                  "lambda: 1", "values[i]", "__builtins__", "_private", "2 ** 1000",
                                  "{'a': 1}", "x if y else z"])
def test_outside_the_subset(text: str) -> None:
    assert expressions.problem(text) != ""


def test_evaluation_has_no_builtins() -> None:
    assert expressions.evaluate('age >= 60 and division[:4] == "3301"', {"age": 70, "division": "330106"})
    with pytest.raises(expressions.UnsafeExpression):
        expressions.evaluate("().__class__", {})
    with pytest.raises(NameError):
        expressions.evaluate("len", {})  # a bare name is allowed, but there are no builtins to find


def test_scripts_are_never_executed() -> None:
    with pytest.raises(expressions.UnsafeExpression, match="scripts are not run"):
        expressions.SafeScriptEngine().execute(object(), "import os")
