"""The code census of invariant 1: nothing but the one door reads registry record values for output.

It walks the source of every module under zhengtong/ (tests and migrations aside) and looks for the ways a
record's values can be read: opening them with the codec (`.plain(`), decrypting with a key ring (`.open(` on
keys), taking a Record's stored `.data`, asking a queryset for the `data` column, or naming the records table in
raw SQL. Each read found must be on the allowlist below, which names the function and why its read is not
output. A read anywhere else fails the census with its file and line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import zhengtong

PACKAGE = Path(zhengtong.__file__).parent
REPOSITORY = PACKAGE.parent
SKIPPED_DIRECTORIES = {"tests", "migrations"}

# (module path, enclosing function or class) → why reading values there is not showing them to anyone. None
# allows the whole module.
ALLOWED: dict[tuple[str, str | None], str] = {
    ("zhengtong/exchange/door.py", None):
        "the one door: it resolves the right, masks, audits in the same transaction, and only then returns",
    ("zhengtong/registries/codec.py", "plain"):
        "RecordCodec.plain itself, the primitive that opens sealed fields for the door and the writers",
    ("zhengtong/registries/actions.py", "_refuse_violations"):
        "checks existing records against a new schema; reports counts of problems, never values",
    ("zhengtong/registries/actions.py", "_rewrite_records"):
        "re-stores every record under a new schema (sealing, opening, dropping fields)",
    ("zhengtong/registries/actions.py", "update_record"):
        "merges the change into the current values to write the next version and its sealed history",
    ("zhengtong/registries/actions.py", "_set_deleted"):
        "takes the record's subjects for the deletion's own audit entry",
    ("zhengtong/registries/actions.py", "rotate_data_key"):
        "key rotation: every sealed value is sealed again under the new data key",
    ("zhengtong/registries/actions.py", "_reseal"):
        "key rotation: opens one sealed value to seal it under the new data key",
    ("zhengtong/registries/importing.py", "_update"):
        "an import merges each row into the existing record's values to write the new version",
    ("zhengtong/registries/importing.py", "_existing"):
        "an import loads the stored values of the records its rows update, to merge the rows into them",
    ("zhengtong/registries/importing.py", "insert"):
        "the import's writers store the values of its own rows, cleaned and sealed (an import row, not a Record)",
    ("zhengtong/exchange/writes.py", "find_for_write"):
        "a registry write checks the record lies in the writer's row scope; it returns the row, not its values",
    ("zhengtong/exchange/writes.py", "update_records"):
        "a registry write checks the writer's row scope before and after the change; it returns a count",
    ("zhengtong/exchange/writes.py", "delete_record"):
        "a registry deletion checks the writer's row scope and takes the subjects for its audit entry",
    ("zhengtong/registries/queries.py", "history"):
        "the names of the fields a record holds, for its history; never their values",
    ("zhengtong/exchange/gateway.py", "bench_baseline_read"):
        "the benchmark's baseline endpoint, off unless a setting turns it on, to measure the door's cost",
}


@dataclass(frozen=True)
class Read:
    """One place that reads record values: where, how, and inside which functions and classes."""

    path: str
    line: int
    signal: str
    within: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.signal} (in {'.'.join(self.within) or 'the module body'})"


PLAIN = "RecordCodec.plain() opens a record's values"
KEY_OPEN = "KeyRing.open() decrypts a stored value"
RECORD_DATA = "Record.data read: the stored values"
DATA_COLUMN = "queryset asks for the data column"
RECORDS_TABLE = "raw SQL names the records table"

KEY_RING = re.compile(r"(?:^|\.)(keys|ring|keyring|key_ring)$")
RECORD_NAME = re.compile(r"(?:^|_)(r|rec|row|record)$")
RECORDS_TABLE_NAME = re.compile(r"\bregistries_record\b")


def _module_name(path: str) -> list[str]:
    return path.removesuffix(".py").split("/")


def _imports_record(tree: ast.Module, path: str) -> bool:
    """Whether the module imports the Record model (or the registries models module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                package = _module_name(path)[:-node.level]
                module = ".".join([*package, module] if module else package)
            names = {alias.name for alias in node.names}
            if module == "zhengtong.registries.models" and names & {"Record", "*"}:
                return True
            if module == "zhengtong.registries" and "models" in names:
                return True
        elif isinstance(node, ast.Import) and any(a.name == "zhengtong.registries.models" for a in node.names):
            return True
    return False


class _Census(ast.NodeVisitor):
    def __init__(self, path: str, imports_record: bool):
        self.path = path
        self.imports_record = imports_record
        self.within: list[str] = []
        self.reads: list[Read] = []

    def _found(self, node: ast.AST, signal: str) -> None:
        self.reads.append(Read(self.path, node.lineno, signal, tuple(self.within)))  # type: ignore[attr-defined]

    def _scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.within.append(node.name)
        self.generic_visit(node)
        self.within.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        if isinstance(function, ast.Attribute):
            receiver = function.value
            if function.attr == "plain":
                self._found(node, PLAIN)
            elif function.attr == "open" and (
                    KEY_RING.search(ast.unparse(receiver)) or
                    (isinstance(receiver, ast.Call) and ast.unparse(receiver.func).endswith("KeyRing"))):
                self._found(node, KEY_OPEN)
            elif function.attr in ("values", "values_list") and self.imports_record and any(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.split("__")[0] == "data"
                    for a in node.args):
                self._found(node, DATA_COLUMN)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if (node.attr == "data" and isinstance(node.ctx, ast.Load) and self.imports_record
                and isinstance(node.value, ast.Name) and RECORD_NAME.search(node.value.id)):
            self._found(node, RECORD_DATA)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and RECORDS_TABLE_NAME.search(node.value):
            self._found(node, RECORDS_TABLE)


def census_of(source: str, path: str) -> list[Read]:
    """Every read of record values in one module's source; `path` is its path from the repository root."""
    tree = ast.parse(source, filename=path)
    census = _Census(path, _imports_record(tree, path))
    census.visit(tree)
    return census.reads


def modules() -> Iterator[Path]:
    for file in sorted(PACKAGE.rglob("*.py")):
        relative = file.relative_to(PACKAGE)
        if SKIPPED_DIRECTORIES & set(relative.parts[:-1]) or file.name == "conftest.py":
            continue
        yield file


def census() -> list[Read]:
    return [read for file in modules()
            for read in census_of(file.read_text(encoding="utf-8"), file.relative_to(REPOSITORY).as_posix())]


def allowed_by(read: Read) -> tuple[str, str | None] | None:
    for path, function in ALLOWED:
        if read.path == path and (function is None or function in read.within):
            return path, function
    return None


# --- the census ----------------------------------------------------------------------------------------------


def test_nothing_but_the_door_and_the_registry_writers_reads_record_values() -> None:
    offending = [read for read in census() if allowed_by(read) is None]
    assert not offending, (
        "Registry record values are read outside the one door (exchange.door). Read them through "
        "door.read_record / search / stream, which check the right, mask and audit; or, for a writer that never "
        "shows them, add the function to ALLOWED with the reason:\n" + "\n".join(map(str, offending)))


def test_every_allowance_is_still_used() -> None:
    used = {allowed_by(read) for read in census()}
    unused = [f"{path} {function or '(whole module)'}" for path, function in ALLOWED if (path, function) not in used]
    assert not unused, "Allowances that no read needs any more; remove them:\n" + "\n".join(unused)


def test_the_census_walks_the_whole_package_but_not_tests_or_migrations() -> None:
    walked = {file.relative_to(PACKAGE).as_posix() for file in modules()}
    assert {"exchange/door.py", "registries/actions.py", "portal/views.py"} <= walked
    assert not any("/tests/" in name or "/migrations/" in name or name.endswith("conftest.py") for name in walked)


# --- the census itself ---------------------------------------------------------------------------------------

BYPASS = '''\
from django.db import connection
from zhengtong.registries.models import Record
from zhengtong.registries.codec import RecordCodec


def leak_by_codec(registry, record):
    return RecordCodec(registry).plain(record.data)


class Leak:
    def by_key_ring(self, codec, row):
        return codec.keys.open("name", row.data["name"])

    def by_queryset(self, registry):
        return list(Record.objects.filter(registry=registry).values_list("data", flat=True))


def by_sql():
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM registries_record WHERE id = %s", [1])
'''


def test_the_census_flags_every_kind_of_bypass() -> None:
    reads = census_of(BYPASS, "zhengtong/services/leak.py")
    assert [(r.line, r.signal, r.within) for r in reads] == [
        (7, PLAIN, ("leak_by_codec",)),
        (7, RECORD_DATA, ("leak_by_codec",)),
        (12, KEY_OPEN, ("Leak", "by_key_ring")),
        (12, RECORD_DATA, ("Leak", "by_key_ring")),
        (15, DATA_COLUMN, ("Leak", "by_queryset")),
        (20, RECORDS_TABLE, ("by_sql",)),
    ]
    assert str(reads[0]) == ("zhengtong/services/leak.py:7: RecordCodec.plain() opens a record's values "
                             "(in leak_by_codec)")
    assert all(allowed_by(read) is None for read in reads)


def test_an_allowance_covers_its_own_module_and_function_only() -> None:
    # The same code is allowed in the door, and not in a module beside it.
    assert all(allowed_by(read) for read in census_of(BYPASS, "zhengtong/exchange/door.py"))
    assert not any(allowed_by(read) for read in census_of(BYPASS, "zhengtong/exchange/door_helpers.py"))
    # In registries/actions.py only the named functions are allowed.
    reseal = "def _reseal(codec, data):\n    return codec.keys.open('name', data['name'])\n"
    report = "def report(codec, record):\n    return codec.keys.open('name', record)\n"
    assert allowed_by(census_of(reseal, "zhengtong/registries/actions.py")[0])
    assert not allowed_by(census_of(report, "zhengtong/registries/actions.py")[0])


def test_the_census_leaves_files_forms_and_writes_alone() -> None:
    ordinary = '''\
import gzip
import os
from zhengtong.registries.models import Record


def save(path, form, record, cleaned):
    with path.open("rb") as handle, gzip.open(path) as packed:
        descriptor = os.open(path, os.O_RDONLY)
    record.data = cleaned
    return form.data, handle, packed, descriptor
'''
    assert census_of(ordinary, "zhengtong/services/forms.py") == []
    # Without the Record model in sight, `.data` is some other object's (a form's, a request's).
    assert census_of("def f(row):\n    return row.data\n", "zhengtong/hotline/views.py") == []
    relative = "from .models import Record\n\n\ndef f(row):\n    return row.data\n"
    assert [r.signal for r in census_of(relative, "zhengtong/registries/views.py")] == [RECORD_DATA]
