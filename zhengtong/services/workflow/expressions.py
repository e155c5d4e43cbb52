"""The only expressions a process may hold: gateway conditions, DMN entries and timer values.

SpiffWorkflow evaluates these with Python's eval/exec. Processes and decision tables are uploaded by staff,
so an expression is first checked against a small, side-effect-free subset of Python (names, constants,
comparisons, and/or/not, arithmetic, in/not in, lists/tuples, subscripts and slices by constant) and then
evaluated with no builtins. Scripts (scriptTask, execute) are refused outright.

An expression also may not ask for more memory than its text: `%` (string formatting: "%0999999999d" % 1) is
not in the subset, and `*` multiplies numbers only — a constant string or list operand is refused when the
expression is checked, and a value from the task data (an applicant's answer) when it is evaluated. Expressions
are short (MAX_LENGTH characters) and their integer constants small (MAX_CONSTANT).
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

MAX_LENGTH = 1000  # characters of an uploaded expression
# SpiffWorkflow evaluates a DMN entry joined with its column's input expression: "(input) == (entry)".
_EVALUATION_LIMIT = 2 * MAX_LENGTH + 20
MAX_CONSTANT = 10**9
_SEQUENCES = (str, bytes, list, tuple)

_OPERATORS = (ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
              ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
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


def check(expression: str, limit: int = MAX_LENGTH) -> ast.Expression:
    """The parsed expression; SyntaxError when it does not parse, UnsafeExpression when it is outside the
    subset (naming what is not allowed)."""
    text = expression.strip()
    if len(text) > limit:
        raise UnsafeExpression(f"an expression is at most {limit} characters")
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise UnsafeExpression(f"{type(node).__name__} is not allowed")
        if (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
                and not isinstance(node.value, bool) and abs(node.value) > MAX_CONSTANT):
            raise UnsafeExpression(f"numbers are at most {MAX_CONSTANT} in size")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and any(
                isinstance(side, ast.List | ast.Tuple)
                or (isinstance(side, ast.Constant) and isinstance(side.value, _SEQUENCES))
                for side in (node.left, node.right)):
            raise UnsafeExpression("only numbers may be multiplied")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise UnsafeExpression(f"the name {node.id} is not allowed")
        if isinstance(node, ast.Subscript) and not _constant_index(node.slice):
            raise UnsafeExpression("subscripts must be constants")
    return tree


def problem(expression: str) -> str:
    """Why an expression may not be used, or "" when it may."""
    return _problem(expression, MAX_LENGTH)


def _problem(expression: str, limit: int) -> str:
    try:
        check(expression, limit)
    except SyntaxError as error:
        return f"syntax error: {error.msg}"
    except UnsafeExpression as error:
        return str(error)
    return ""


def dmn_entry_problem(entry: str) -> str:
    """Why a DMN input entry may not be used. SpiffWorkflow reads an entry either as a value to compare with
    (`"330100"`, `60`) or as the right-hand side of a comparison (`>= 60`, `in ["a", "b"]`), with `?` standing
    for the input."""
    if len(entry.strip()) > MAX_LENGTH:
        return f"an expression is at most {MAX_LENGTH} characters"
    text = re.sub(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""", "dmninputexpr", entry)
    try:
        check(text, _EVALUATION_LIMIT)
    except SyntaxError:
        return _problem(f"dmninputexpr {text}", _EVALUATION_LIMIT)
    except UnsafeExpression as error:
        return str(error)
    return ""


def _times(left: Any, right: Any) -> Any:
    """`*` at evaluation: numbers only, whatever the task data hold ("x" * 10**9 would take a gigabyte)."""
    if isinstance(left, _SEQUENCES) or isinstance(right, _SEQUENCES):
        raise UnsafeExpression("only numbers may be multiplied")
    return left * right


class _GuardedMultiplication(ast.NodeTransformer):
    """Every `a * b` becomes `_times(a, b)`; a checked expression cannot name `_times` itself."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Mult):
            return ast.copy_location(ast.Call(ast.Name("_times", ast.Load()), [node.left, node.right], []), node)
        return node


def evaluate(expression: str, data: dict[str, Any]) -> Any:
    text = expression.strip()
    if ISO_8601.fullmatch(text):
        return text
    tree = ast.fix_missing_locations(_GuardedMultiplication().visit(check(text, _EVALUATION_LIMIT)))
    code = compile(tree, "<expression>", "eval")
    # An expression names no "_" names, so none of the data's may shadow _times.
    names = {name: value for name, value in data.items() if not name.startswith("_")}
    return eval(code, {"__builtins__": {}, "_times": _times}, names)  # noqa: S307 - checked: the safe subset


class SafeScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine, restricted to the safe subset and without scripts."""

    def validate(self, expression: str) -> None:
        check(expression, _EVALUATION_LIMIT)

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
