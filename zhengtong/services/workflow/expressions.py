"""The only expressions a process may hold: gateway conditions, DMN entries and timer values.

SpiffWorkflow evaluates these with Python's eval/exec. Processes and decision tables are uploaded by staff,
so an expression is first checked against a small, side-effect-free subset of Python (names, constants,
comparisons, and/or/not, arithmetic, in/not in, lists/tuples, subscripts and slices by constant) and then
evaluated with no builtins. Scripts (scriptTask, execute) are refused outright.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

# Camunda Modeler writes timer values as bare ISO 8601 text (P2D, 2026-10-01T09:00, R3/PT1H), not as
# expressions; they are taken literally.
ISO_8601 = re.compile(r"(R\d*/)?P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
                      r"|\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)?)?")

_OPERATORS = (ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
              ast.Mod, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
              ast.Load)
_NODES = (ast.Expression, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Compare, ast.Name, ast.Constant, ast.List,
          ast.Tuple, ast.Subscript, ast.Slice) + _OPERATORS


class UnsafeExpression(ValueError):
    """An expression outside the safe subset (not a syntax error: it parses, but may not run)."""


def _constant_index(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.Slice):
        return all(part is None or _constant_index(part) for part in (node.lower, node.upper, node.step))
    return False


def check(expression: str) -> ast.Expression:
    """The parsed expression; SyntaxError when it does not parse, UnsafeExpression when it is outside the
    subset (naming what is not allowed)."""
    tree = ast.parse(expression.strip(), mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise UnsafeExpression(f"{type(node).__name__} is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise UnsafeExpression(f"the name {node.id} is not allowed")
        if isinstance(node, ast.Subscript) and not _constant_index(node.slice):
            raise UnsafeExpression("subscripts must be constants")
    return tree


def problem(expression: str) -> str:
    """Why an expression may not be used, or "" when it may."""
    try:
        check(expression)
    except SyntaxError as error:
        return f"syntax error: {error.msg}"
    except UnsafeExpression as error:
        return str(error)
    return ""


def dmn_entry_problem(entry: str) -> str:
    """Why a DMN input entry may not be used. SpiffWorkflow reads an entry either as a value to compare with
    (`"330100"`, `60`) or as the right-hand side of a comparison (`>= 60`, `in ["a", "b"]`), with `?` standing
    for the input."""
    text = re.sub(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""", "dmninputexpr", entry)
    try:
        check(text)
    except SyntaxError:
        return problem(f"dmninputexpr {text}")
    except UnsafeExpression as error:
        return str(error)
    return ""


def evaluate(expression: str, data: dict[str, Any]) -> Any:
    text = expression.strip()
    if ISO_8601.fullmatch(text):
        return text
    code = compile(check(text), "<expression>", "eval")
    return eval(code, {"__builtins__": {}}, dict(data))  # noqa: S307 - checked against the safe subset above


class SafeScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine, restricted to the safe subset and without scripts."""

    def validate(self, expression: str) -> None:
        check(expression)

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        try:
            return evaluate(expression, {**task.data, **(external_context or {})})
        except Exception as error:
            raise WorkflowTaskException(f"Error evaluating expression '{expression}'", task=task,
                                        exception=error) from error

    def execute(self, task: Any, script: str, external_context: dict[str, Any] | None = None) -> Any:
        raise UnsafeExpression("scripts are not run on this platform")

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        raise UnsafeExpression("services are called by topic (camunda:topic), not by the script engine")
