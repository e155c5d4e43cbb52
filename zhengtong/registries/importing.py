"""Importing registry records from CSV and XLSX files, or from any iterable of rows.

One import is one action: it checks `registries.import_record`, runs in one transaction and writes one audit
entry (`registries.import_records`) in it. Every row goes through the schema's rules (`Schema.clean`, compiled
once per import by `RowCleaner`); the report names row, field and reason.

- All or nothing (the default): if any row fails, nothing is written. After the first failure the import stops
  writing but goes on checking, so that the report lists every problem in the file.
- Quarantine: good rows are written (and committed with the audit entry); bad rows come back in a CSV file with a
  `problems` column, to be fixed and imported again.
- Upsert by key: a row whose key belongs to a live record updates it, only where values changed, with a history
  row (`RecordChange`) holding the previous stored values; a key held by a deleted record is a row error.
- Two rows of the file with the same key or the same value of a unique field: the later one is an error naming
  the earlier row. A unique value another record already holds is an error too.
- Streaming: files are read a row at a time (csv over a text stream, openpyxl in read-only mode) and written in
  batches, and the first row of each key and unique value is remembered in a temporary file once there are many
  (`_SeenIndex`), so memory stays flat however long the file is. On PostgreSQL new records and their lookup
  terms go in with COPY, from a thread of their own while the next batch is cleaned and sealed; on SQLite with
  executemany. (On SQLite the import holds the database's one write lock until it ends: other writers wait.)

The import locks the registry's row before it reads the schema and keys, as schema changes and key rotation do:
those wait for the import, and it for them.

Progress is written to a small JSON file beside the upload (see `_ProgressFile`), not to the database: the
import's own transaction cannot show it, and on SQLite a second writer would wait for the import's lock.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime
import functools
import hashlib
import json
import operator
import os
import queue
import re
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings
from django.core.files import File
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from zhengtong.audit import actions as audit
from zhengtong.core.errors import Conflict, DomainError, FieldProblem, InvalidInput
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import User
from zhengtong.registries.codec import RecordCodec, load_schema, value_context
from zhengtong.registries.models import (
    FieldType,
    ImportJob,
    ImportStatus,
    Record,
    RecordChange,
    RecordTerm,
    Registry,
    Validator,
)
from zhengtong.registries.schema import BadValue, Context, FieldSpec, Schema, clean_value

IMPORT_ACTION = "registries.import_records"
PERMISSION = "registries.import_record"
FORMATS = ("csv", "xlsx")
BATCH_ROWS = 5000
PROBLEM_LIMIT = 1000  # problems kept in the outcome and on the job; `rejected` holds the true count of bad rows
PROGRESS_PROBLEMS = 20  # problems shown while the import runs
PROGRESS_INTERVAL = 0.5  # seconds between writes of a job's progress file
SQLITE_IN_CHUNK = 900  # bound parameters per `IN (...)` on SQLite
HEADER_ROW = 1
CSV_FIELD_LIMIT = 1 << 24  # a GeoJSON geometry can be far longer than csv's default 128 KiB
QUARANTINE, ALL_OR_NOTHING = "quarantine", "all_or_nothing"
# A running job whose progress file has not changed for this long has most likely lost its worker: its page
# says so and stops polling. (A batch takes seconds; the progress file is rewritten after every one.)
STALLED_AFTER = 30 * 60  # seconds

log = structlog.get_logger("zhengtong.registries.importing")

ProgressCallback = Callable[[int, "int | None"], None]


@dataclass
class ImportOutcome:
    status: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    rejected_path: Path | None = None
    file_digest: str = ""

    @property
    def written(self) -> bool:
        return self.status in (ImportStatus.SUCCEEDED, ImportStatus.PARTIAL)


@dataclass(frozen=True)
class ImportProgress:
    status: str
    rows_done: int
    rows_total: int | None
    percent: int | None
    created: int
    updated: int
    rejected: int
    problems: list[dict[str, Any]]
    message: str
    has_rejected_file: bool
    stalled: bool = False

    @property
    def finished(self) -> bool:
        return self.status not in (ImportStatus.PENDING, ImportStatus.RUNNING)


def _problem(row: int, field_name: str, reason: str) -> dict[str, Any]:
    return {"row": row, "field": field_name, "reason": reason}


class _StopImport(Exception):
    """The whole import fails for a reason that is not one row's (an unreadable file): roll back, report."""

    def __init__(self, problem: dict[str, Any]):
        super().__init__(problem["reason"])
        self.problem = problem


class _RollBack(Exception):
    """Leaves the import's atomic block so that everything written is rolled back."""


# --- cleaning rows --------------------------------------------------------------------------------------------

RESIDENT_ID_SHAPE = re.compile(r"[0-9]{17}[0-9Xx]")


@functools.lru_cache(maxsize=65536)
def _birth_place_valid(county: str, year: int) -> bool:
    """stdnum's place check for a resident ID depends only on the county code and the birth year."""
    try:
        ric.get_birth_place(f"{county}{year:04d}01010000")
    except (StdnumError, KeyError):  # stdnum raises KeyError for codes without a county
        return False
    return True


def _resident_id_cleaner(spec: FieldSpec, context: Context) -> Callable[[Any], Any]:
    """The same check as clean_value for a resident ID (stdnum's cn.ric: length, digits, check digit, birth date,
    birth place), with the birth-place lookup remembered per county and year: that lookup is most of the cost.
    Anything not in the plain 18-character shape goes to clean_value itself, so every refusal has its reason."""

    def slow(value: Any) -> Any:
        return clean_value(spec, value, context)

    max_length = spec.max_length

    def clean(value: Any) -> Any:
        if type(value) is not str:
            return slow(value)
        text = value.strip()
        if RESIDENT_ID_SHAPE.fullmatch(text) is None or (max_length and len(text) > max_length):
            return slow(value)
        number = text.upper()
        if number[-1] != ric.calc_check_digit(number):
            return slow(value)
        year = int(number[6:10])
        try:
            datetime.date(year, int(number[10:12]), int(number[12:14]))
        except ValueError:
            return slow(value)
        if not _birth_place_valid(number[:6], year):
            return slow(value)
        return number

    return clean


def _field_cleaner(spec: FieldSpec, context: Context) -> Callable[[Any], Any]:
    if spec.type == FieldType.TEXT and spec.validator == Validator.RESIDENT_ID:
        return _resident_id_cleaner(spec, context)
    return functools.partial(_clean_value, spec, context)


def _clean_value(spec: FieldSpec, context: Context, value: Any) -> Any:
    return clean_value(spec, value, context)


class RowCleaner:
    """`Schema.clean` for many rows: the same rules and results, with the per-field decisions taken once.

    A row that passes gives exactly what `Schema.clean` gives; a row with any problem is cleaned again by
    `Schema.clean` itself, so the problems reported are always the schema's own.
    """

    def __init__(self, schema: Schema, context: Context):
        self.schema = schema
        self.context = context
        self._names = frozenset(schema.by_name)
        self._steps = [(spec.name, spec.required, _field_cleaner(spec, context)) for spec in schema.fields]

    def clean(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
        if not self._names.issuperset(values):
            return self._schema_clean(values)
        cleaned: dict[str, Any] = {}
        for name, required, clean in self._steps:
            if name not in values:
                if required:
                    return self._schema_clean(values)
                continue
            raw = values[name]
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if required:
                    return self._schema_clean(values)
                cleaned[name] = None
                continue
            try:
                cleaned[name] = clean(raw)
            except BadValue:
                return self._schema_clean(values)
        return cleaned, []

    def _schema_clean(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
        return self.schema.clean(values, self.context)


# --- reading files ----------------------------------------------------------------------------------------------


@dataclass
class _Source:
    """A file opened for import: its header, its data rows (row number, cells) and what the pre-pass learnt."""

    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    rows_total: int | None
    digest: str
    close: Callable[[], None]


def _scan(path: Path) -> tuple[str, int, bool]:
    """One pass over the bytes: SHA-256, line count (for the progress bar) and whether the bytes are UTF-8."""
    digest = hashlib.sha256()
    lines = 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    last = b""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            last = chunk
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if last and not last.endswith(b"\n"):
        lines += 1
    return digest.hexdigest(), lines, utf8


def _open_csv(path: Path) -> _Source:
    digest, lines, utf8 = _scan(path)
    # Spreadsheets on Chinese Windows save CSV as GBK unless told otherwise: text that is not UTF-8 is read as
    # GB18030 (a superset of GBK) rather than refused.
    handle = path.open(encoding="utf-8-sig" if utf8 else "gb18030", newline="")
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as error:
        handle.close()
        raise _StopImport(_problem(HEADER_ROW, "", _("The header row cannot be read: %(error)s")
                                   % {"error": error})) from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = HEADER_ROW
        try:
            for cells in reader:
                number += 1
                yield number, cells
        except (csv.Error, UnicodeDecodeError) as error:
            raise _StopImport(_problem(number + 1, "", _("The file cannot be read from this row on: %(error)s")
                                       % {"error": error})) from None

    return _Source(header=header or [], rows=rows(), rows_total=max(0, lines - 1) or None, digest=digest,
                   close=handle.close)


def _open_xlsx(path: Path) -> _Source:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    digest, _lines, _utf8 = _scan(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise _StopImport(_problem(HEADER_ROW, "", _("This is not a readable XLSX workbook: %(error)s")
                                   % {"error": error})) from None
    # openpyxl reads a sheet lazily, and a damaged one can fail in many ways (XML errors, bad cell values, a
    # missing part): each becomes the import's clean stop, with no cell value in the reason (it is logged).
    try:
        if not workbook.worksheets:
            raise _StopImport(_problem(HEADER_ROW, "", _("The workbook has no sheet.")))
        sheet = workbook.worksheets[0]
        cells = sheet.iter_rows(values_only=True)
        header_cells = next(cells, None) or ()
        header = ["" if value is None else str(value) for value in header_cells]
        max_row = sheet.max_row
    except _StopImport:
        workbook.close()
        raise
    except Exception:  # noqa: BLE001 (see above)
        workbook.close()
        log.warning("xlsx header unreadable", exc_info=True)
        raise _StopImport(_problem(HEADER_ROW, "", _("The first sheet cannot be read; the workbook may be "
                                                     "damaged."))) from None
    total = max_row - 1 if isinstance(max_row, int) and max_row > 1 else None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = HEADER_ROW
        try:
            for values in cells:
                number += 1
                yield number, list(values)
        except Exception:  # noqa: BLE001 (see above)
            log.warning("xlsx sheet unreadable", row=number + 1, exc_info=True)
            raise _StopImport(_problem(number + 1, "", _("The sheet cannot be read from this row on; the workbook "
                                                         "may be damaged."))) from None

    return _Source(header=header, rows=rows(), rows_total=total, digest=digest, close=workbook.close)


def _spreadsheet_value(spec: FieldSpec, value: Any) -> Any:
    """A cell as a spreadsheet gives it, as the field expects it: numbers typed into text columns, dates stored
    as midnight date-times. Reading, not validating: the schema still checks what comes out."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and spec.type == FieldType.TEXT:
        return int(value) if value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime) and spec.type == FieldType.DATE and value.time() == datetime.time():
        return value.date()
    return value


def map_columns(schema: Schema, header: Sequence[Any]) -> tuple[list[str | None], list[dict[str, Any]]]:
    """The field each column gives (None for a column without a heading) and the header's problems: a column
    that names no field, two columns for one field, a required field with no column. Columns are matched by
    field name, Chinese label or English label (case does not matter for names and English labels)."""
    by_heading: dict[str, str] = {}
    for spec in reversed(schema.fields):  # earlier fields win a clash between one's label and another's name
        for heading in (spec.label_en.casefold(), spec.label, spec.name.casefold()):
            if heading.strip():
                by_heading[heading.strip()] = spec.name
    columns: list[str | None] = []
    problems = []
    first_column: dict[str, int] = {}
    for index, cell in enumerate(header, start=1):
        heading = "" if cell is None else str(cell).strip()
        if not heading:
            columns.append(None)
            continue
        name = by_heading.get(heading) or by_heading.get(heading.casefold())
        if name is None:
            problems.append(_problem(HEADER_ROW, heading, _(
                "Column %(column)d (%(heading)s) is not a field of this registry; name a column by the field's "
                "name, Chinese label or English label.") % {"column": index, "heading": heading}))
        elif name in first_column:
            problems.append(_problem(HEADER_ROW, name, _("Columns %(first)d and %(second)d both give this field.")
                                     % {"first": first_column[name], "second": index}))
            name = None
        else:
            first_column[name] = index
        columns.append(name)
    if not any(columns) and not problems:
        problems.append(_problem(HEADER_ROW, "", _("The first row must name the columns; it is empty.")))
    for spec in schema.fields:
        if spec.required and spec.name not in first_column:
            problems.append(_problem(HEADER_ROW, spec.name, _("The file has no column for this required field.")))
    return columns, problems


# --- remembering keys and unique values met earlier in the file -----------------------------------------------------

SPILL_AT = 200_000  # entries kept in memory (about 20 MB); beyond that they go to a temporary SQLite file


class _SeenIndex:
    """The first row of every key and unique value met so far in the file.

    Values are remembered as 16-byte keyed digests (a random key per import, so the temporary file holds nothing
    readable). While there are few they live in a dict; past SPILL_AT they move to a temporary SQLite file with
    a bounded page cache, so memory stays flat however many rows the file has.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(16)
        self._memory: dict[bytes, int] = {}
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._db: sqlite3.Connection | None = None

    def digest(self, kind: str, value: str) -> bytes:
        return hashlib.blake2b(f"{kind}\x1f{value}".encode(), key=self._key, digest_size=16).digest()

    def first_rows(self, entries: Sequence[tuple[bytes, int]]) -> dict[int, int]:
        """For entries (digest, row) of one batch, in row order: {position: earlier row} for every entry met
        before (in an earlier batch or earlier in this one). The others are remembered."""
        earlier: dict[int, int] = {}
        if self._db is None:
            memory = self._memory
            for position, (digest, row) in enumerate(entries):
                first = memory.setdefault(digest, row)
                if first != row:
                    earlier[position] = first
            if len(memory) > SPILL_AT:
                self._spill()
            return earlier
        batch_first: dict[bytes, int] = {}
        for position, (digest, row) in enumerate(entries):
            first = batch_first.setdefault(digest, row)
            if first != row:
                earlier[position] = first
        if not batch_first:
            return earlier
        lowest = min(batch_first.values())
        db = self._db
        before = db.total_changes
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", sorted(batch_first.items()))
        db.execute("COMMIT")
        if db.total_changes - before < len(batch_first):
            found: dict[bytes, int] = {}
            digests = list(batch_first)
            for start in range(0, len(digests), SQLITE_IN_CHUNK):
                chunk = digests[start:start + SQLITE_IN_CHUNK]
                placeholders = ",".join("?" * len(chunk))
                query = f"SELECT digest, row FROM seen WHERE row < ? AND digest IN ({placeholders})"  # noqa: S608
                found.update(db.execute(query, [lowest, *chunk]).fetchall())
            for position, (digest, _row) in enumerate(entries):
                if digest in found:
                    earlier[position] = found[digest]
        return earlier

    def _spill(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="zhengtong-import-")
        self._db = sqlite3.connect(Path(self._directory.name) / "seen.sqlite3", isolation_level=None)
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -32000", "locking_mode = EXCLUSIVE"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE seen (digest BLOB PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID")
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO seen VALUES (?, ?)", sorted(self._memory.items()))
        self._db.execute("COMMIT")
        self._memory = {}

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None


# --- writing records ---------------------------------------------------------------------------------------------


class _Row:
    """One data row on its way through a batch."""

    __slots__ = ("number", "values", "cells", "cleaned", "problems", "key_value", "terms", "data")

    def __init__(self, number: int, values: dict[str, Any], cells: list[Any] | None):
        self.number = number
        self.values = values
        self.cells = cells
        self.cleaned: dict[str, Any] = {}
        self.problems: list[FieldProblem] = []
        self.key_value: str | None = None
        self.terms: list[tuple[str, str, bool]] = []
        self.data: dict[str, Any] | None = None


def _columns(model: Any, *names: str) -> tuple[str, list[str]]:
    columns = [model._meta.get_field(name).column for name in names]
    return model._meta.db_table, columns


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(text: str) -> str:
    """A value for COPY's text format."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_JSON_STRING = json.encoder.encode_basestring  # what that encoder does to a string (C)


def _json(data: Mapping[str, Any]) -> str:
    """The record's data as JSON. Most stored values are strings (sealed values, text, dates): those are joined
    directly, which is twice as fast as the encoder and gives the same text."""
    try:
        return "{" + ",".join([_JSON_STRING(key) + ":" + _JSON_STRING(value) for key, value in data.items()]) + "}"
    except TypeError:
        return _JSON.encode(data)


class _Writer:
    """Inserts new records and their lookup terms, as fast as the database allows."""

    record_fields = ("registry", "key_value", "data", "version", "created_at", "created_action", "created_by",
                     "updated_at", "deletion_reason")
    term_fields = ("registry", "field", "term", "record", "unique")

    def __init__(self, registry: Registry, now: datetime.datetime, created_by: str):
        self.registry = registry
        self.now = now
        self.created_by = created_by
        self.db = connections[DEFAULT_DB_ALIAS]  # this thread's connection, also for the copy thread below
        self.record_table, self.record_columns = _columns(Record, *self.record_fields)
        self.term_table, self.term_columns = _columns(RecordTerm, *self.term_fields)
        self.quote = self.db.ops.quote_name

    def insert(self, rows: list[_Row]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Everything handed to `insert` is in the database (called before the audit entry is written)."""

    def close(self, abandon: bool = False) -> None:
        """Stop (dropping what is not written yet, with `abandon`); called on every way out of the import's
        transaction, before it commits or rolls back."""


_STOP = object()


class _PostgresWriter(_Writer):
    """COPY of new records and their terms, by a thread of its own on the import's connection.

    The COPY of one batch runs while the next batch is cleaned and sealed: the database's work and Python's
    overlap instead of taking turns (the thread waits on the socket with the GIL released, and psycopg's
    connection lock keeps its statements and those of the import's own thread apart). Record ids are taken from
    the table's sequence first, so that the terms can name their record. The foreign keys of both tables are
    checked at the end of each COPY rather than at commit: the same work, but done while the next batch is being
    prepared, and without a queue of millions of deferred checks in the server.
    """

    def __init__(self, registry: Registry, now: datetime.datetime, created_by: str):
        super().__init__(registry, now, created_by)
        self.db.ensure_connection()
        self.raw = self.db.connection
        record_columns = ", ".join(self.quote(column) for column in ["id", *self.record_columns])
        term_columns = ", ".join(self.quote(column) for column in self.term_columns)
        self.record_copy = f"COPY {self.quote(self.record_table)} ({record_columns}) FROM STDIN"
        self.term_copy = f"COPY {self.quote(self.term_table)} ({term_columns}) FROM STDIN"
        moment = now.isoformat()
        # Everything after the id, key and data is the same on every row.
        self.record_tail = f"\t1\t{moment}\t{IMPORT_ACTION}\t{_copy_text(created_by)}\t{moment}\t\n"
        self.registry_prefix = f"{registry.pk}\t"
        with self.db.wrap_database_errors, self.raw.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [self.record_table])
            (self.sequence,) = cursor.fetchone()
            cursor.execute(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.conname) FROM pg_constraint c "
                "JOIN pg_namespace n ON n.oid = c.connamespace "
                "WHERE c.contype = 'f' AND c.condeferrable AND c.conrelid IN (%s::regclass, %s::regclass)",
                [self.record_table, self.term_table])
            self.constraints = ", ".join(name for (name,) in cursor.fetchall())
            if self.constraints:
                cursor.execute(f"SET CONSTRAINTS {self.constraints} IMMEDIATE")
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.abandoned = False
        self.thread = threading.Thread(target=self._run, name="registries-import-copy", daemon=True)
        self.thread.start()

    def insert(self, rows: list[_Row]) -> None:
        self._raise_error()
        if not rows:
            return
        prefix, tail = self.registry_prefix, self.record_tail
        batch = []
        for row in rows:
            data = _json(row.data or {})
            if "\\" in data:
                data = data.replace("\\", "\\\\")  # json.dumps leaves no tab or newline unescaped
            terms = [f"{prefix}{field_name}\t{_copy_text(term)}\t" for field_name, term, _unique in row.terms]
            flags = ["\tt\n" if unique else "\tf\n" for _field, _term, unique in row.terms]
            batch.append((f"\t{prefix}{_copy_text(row.key_value or '')}\t{data}{tail}", terms, flags))
        self.queue.put(batch)

    def _run(self) -> None:
        while True:
            batch = self.queue.get()
            if batch is _STOP:
                return
            if self.error is not None or self.abandoned:
                continue
            try:
                with self.db.wrap_database_errors:
                    self._copy(batch)
            except BaseException as error:  # noqa: BLE001 (handed to the import's thread)
                self.error = error

    def _copy(self, batch: list[tuple[str, list[str], list[str]]]) -> None:
        with self.raw.cursor() as cursor:
            cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [self.sequence, len(batch)])
            ids = [str(record_id) for (record_id,) in cursor.fetchall()]
            records = []
            terms = []
            for record_id, (record, row_terms, flags) in zip(ids, batch, strict=True):
                records.append(record_id + record)
                for term, flag in zip(row_terms, flags, strict=True):
                    terms.append(term + record_id + flag)
            with cursor.copy(self.record_copy) as copy:
                copy.write("".join(records))
            if terms:
                with cursor.copy(self.term_copy) as copy:
                    copy.write("".join(terms))

    def _raise_error(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def finish(self) -> None:
        self.close()
        self._raise_error()
        if self.constraints:
            with self.db.wrap_database_errors, self.raw.cursor() as cursor:
                cursor.execute(f"SET CONSTRAINTS {self.constraints} DEFERRED")

    def close(self, abandon: bool = False) -> None:
        if self.thread.is_alive():
            self.abandoned = abandon
            self.queue.put(_STOP)
            self.thread.join()


class _SqliteWriter(_Writer):
    """executemany of plain INSERTs, the ids read back by key (one indexed query per batch). SQLite writes in this
    thread: the import holds the database's one write lock anyway."""

    def __init__(self, registry: Registry, now: datetime.datetime, created_by: str):
        super().__init__(registry, now, created_by)
        columns = ", ".join(self.quote(column) for column in self.record_columns)
        self.record_insert = (f"INSERT INTO {self.quote(self.record_table)} ({columns}) "  # noqa: S608 (model names)
                              f"VALUES ({', '.join(['%s'] * len(self.record_columns))})")
        columns = ", ".join(self.quote(column) for column in self.term_columns)
        self.term_insert = (f"INSERT INTO {self.quote(self.term_table)} ({columns}) "  # noqa: S608 (model names)
                            f"VALUES ({', '.join(['%s'] * len(self.term_columns))})")
        self.moment = self.db.ops.adapt_datetimefield_value(now)

    def insert(self, rows: list[_Row]) -> None:
        if not rows:
            return
        registry_id, moment, by = self.registry.pk, self.moment, self.created_by
        with self.db.cursor() as cursor:
            cursor.executemany(self.record_insert, [
                (registry_id, row.key_value, _json(row.data or {}), 1, moment, IMPORT_ACTION, by, moment, "")
                for row in rows])
            ids: dict[str, int] = {}
            keys = [row.key_value for row in rows]
            for start in range(0, len(keys), SQLITE_IN_CHUNK):
                chunk = keys[start:start + SQLITE_IN_CHUNK]
                ids.update(Record.objects.filter(registry=self.registry, key_value__in=chunk)
                           .values_list("key_value", "id"))
            terms = [(registry_id, f, t, ids[row.key_value or ""], u) for row in rows for f, t, u in row.terms]
            if terms:
                cursor.executemany(self.term_insert, terms)


# --- progress outside the transaction --------------------------------------------------------------------------


def _imports_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "registries" / "imports"


def _progress_path(job: ImportJob) -> Path:
    return _imports_dir() / f"job-{job.pk}.progress.json"


def _job_rejected_path(job: ImportJob) -> Path:
    return _imports_dir() / f"job-{job.pk}.rejected.csv"


class _ProgressFile:
    """The progress of a running job, as a JSON file replaced atomically after each batch.

    Why a file and not the ImportJob row: the import runs in one long transaction, so rows it writes are not seen
    by anyone until it ends; and a second connection updating the job would, on SQLite, wait for the very write
    lock the import holds (and on PostgreSQL needs a connection of its own). A file beside the upload is seen at
    once by the page on either database, and costs nothing to the import.
    """

    def __init__(self, job: ImportJob | None):
        self.path = _progress_path(job) if job is not None and job.pk else None

    def write(self, state: Mapping[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        draft = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        draft.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        os.replace(draft, self.path)

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _read_progress(job: ImportJob) -> dict[str, Any] | None:
    try:
        return json.loads(_progress_path(job).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --- the import --------------------------------------------------------------------------------------------------


class _RejectedFile:
    """Rejected rows as CSV, written as they are found (quarantine mode): the row's cells and its problems."""

    def __init__(self, path: Path, header: list[str]):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.handle = path.open("w", encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow([*header, "problems"])
        self.count = 0

    def add(self, cells: list[Any], problems: list[FieldProblem]) -> None:
        text = "; ".join(f"{problem.field}: {problem.reason}" if problem.field else problem.reason
                         for problem in problems)
        self.writer.writerow([*("" if cell is None else cell for cell in cells), text])
        self.count += 1

    def close(self) -> None:
        self.handle.close()


class _Import:
    # Read under the registry's lock, in `_lock_registry`.
    codec: RecordCodec
    schema: Schema
    cleaner: RowCleaner
    key_names: list[str]
    unique_fields: list[str]

    def __init__(self, actor: User | None, registry: Registry, *, quarantine: bool, source_name: str,
                 progress: ProgressCallback | None, job: ImportJob | None, rows_total: int | None,
                 file_digest: str, rejected_header: list[str], rejected_path: Path | None,
                 columns: Iterable[str] | None = None):
        self.actor = actor
        self.registry = registry
        self.quarantine = quarantine
        self.source_name = source_name
        self.progress = progress
        self.job = job
        self.rows_total = rows_total
        self.file_digest = file_digest
        self.who = actor_of(actor)
        self.now = timezone.now()
        self.seen = _SeenIndex()
        self.rejected_path = rejected_path
        self.rejected_header = rejected_header
        self.rejected_file: _RejectedFile | None = None
        self.progress_file = _ProgressFile(job)
        self.rows = self.created = self.updated = self.unchanged = self.rejected = 0
        self.problems: list[dict[str, Any]] = []
        # The fields the file gives (for the audit entry); rows of an iterable may each name different ones.
        self.columns = set(columns or ())
        self.columns_from_rows = columns is None
        self.writing = True
        self.lookup_existing = True
        self.writer: _Writer | None = None
        self.last_progress = 0.0

    # -- running ----------------------------------------------------------------------------------------------

    def _lock_registry(self) -> None:
        """Lock the registry's row, as `actions.change_schema` and `rotate_data_key` do, and only then read its
        schema and keys: neither can change under the import until it commits or rolls back."""
        self.registry = Registry.objects.select_for_update().get(pk=self.registry.pk)
        self.codec = RecordCodec(self.registry, load_schema(self.registry))
        self.schema = self.codec.schema
        self.cleaner = RowCleaner(self.schema, value_context())
        self.key_names = [spec.name for spec in self.schema.key_fields]
        self.unique_fields = [spec.name for spec in self.schema.fields if spec.unique and spec.searchable]

    def run(self, rows: Iterable[tuple[int, dict[str, Any], list[Any] | None]]) -> ImportOutcome:
        # The rejected rows' file is the report of a quarantine import that checked every row (written, or every
        # row bad); after a stop or a conflict everything was rolled back and a partial file would mislead.
        keep_rejected = False
        try:
            self._report_progress(force=True)
            with transaction.atomic():
                self._lock_registry()
                # Only a registry that has records can hold a key or unique value of the file: for a first load
                # the per-batch lookups are skipped. A record another writer adds meanwhile still trips the
                # unique indexes, and the import then stops with a conflict.
                self.lookup_existing = Record.objects.filter(registry=self.registry).exists()
                self.writer = (_PostgresWriter if connection.vendor == "postgresql" else _SqliteWriter)(
                    self.registry, self.now, self.who.name)
                try:
                    batch: list[_Row] = []
                    for number, values, cells in rows:
                        batch.append(_Row(number, values, cells))
                        if len(batch) >= BATCH_ROWS:
                            self._process(batch)
                            batch = []
                    self._process(batch)
                    self.writer.finish()
                finally:
                    self.writer.close(abandon=True)
                if self.rejected and not self.quarantine:
                    raise _RollBack
                if self.rows and not (self.created or self.updated or self.unchanged):
                    raise _RollBack  # quarantine, every row bad: nothing to commit
                status = ImportStatus.PARTIAL if self.rejected else ImportStatus.SUCCEEDED
                self._write_audit_entry()
                outcome = self._outcome(status)
                self._finish_job(outcome)
            keep_rejected = True
        except _RollBack:
            keep_rejected = True
            outcome = self._outcome(ImportStatus.FAILED)
            self._finish_job_after_rollback(outcome)
        except _StopImport as stop:
            self.problems.insert(0, stop.problem)
            outcome = self._outcome(ImportStatus.FAILED, rejected_file=False)
            self._finish_job_after_rollback(outcome)
        except IntegrityError:
            raise Conflict(_("Another record with this key or unique value was saved while the file was being "
                             "imported; nothing was written. Import the file again.")) from None
        finally:
            self.seen.close()
            if self.rejected_file is not None:
                self.rejected_file.close()
                if not keep_rejected:
                    self.rejected_file.path.unlink(missing_ok=True)
        return outcome

    def _process(self, batch: list[_Row]) -> None:
        if not batch:
            return
        codec, key_names = self.codec, self.key_names
        clean = self.cleaner.clean
        seen_entries: list[tuple[bytes, int]] = []
        owners: list[tuple[_Row, str]] = []
        digest = self.seen.digest
        for row in batch:
            row.cleaned, row.problems = clean(row.values)
            cleaned = row.cleaned
            if row.problems and not all(cleaned.get(name) is not None for name in key_names):
                continue
            row.key_value = codec.key_value(cleaned)
            row.terms = list(codec.terms(cleaned))
            seen_entries.append((digest("key", row.key_value), row.number))
            owners.append((row, ""))
            for field_name, term, unique in row.terms:
                if unique:
                    seen_entries.append((digest(field_name, term), row.number))
                    owners.append((row, field_name))
        repeated = self.seen.first_rows(seen_entries)
        repeated_keys = {id(owners[position][0]) for position in repeated if not owners[position][1]}
        for position, earlier in repeated.items():
            row, field_name = owners[position]
            if not field_name:
                row.problems.extend(FieldProblem(name, _("Row %(row)d has the same key.") % {"row": earlier})
                                    for name in key_names)
            elif id(row) not in repeated_keys:  # a row repeating another's key repeats its values: say it once
                row.problems.append(FieldProblem(field_name, _("Row %(row)d has the same value.") % {"row": earlier}))
        good = [row for row in batch if not row.problems]
        existing = self._existing(good) if self.lookup_existing and good else {}
        if self.lookup_existing and good:
            self._unique_conflicts(good, existing)
        new_rows: list[_Row] = []
        changes: list[tuple[_Row, dict[str, Any]]] = []
        for row in batch:
            if row.problems:
                self._reject(row)
                continue
            record = existing.get(row.key_value or "")
            if record is None:
                new_rows.append(row)
                continue
            if record["deleted_at"] is not None:
                row.problems.extend(FieldProblem(name, _("A deleted record holds this key; restore it instead."))
                                    for name in key_names)
                self._reject(row)
                continue
            changes.append((row, record))
        self.rows += len(batch)
        if self.columns_from_rows:
            for row in batch:
                self.columns.update(row.values)
        if self.writing:
            for row in new_rows:
                row.data = codec.stored(row.cleaned)
            self._update(changes)
            self.writer.insert(new_rows)  # type: ignore[union-attr]
            self.created += len(new_rows)
        self._report_progress()

    def _reject(self, row: _Row) -> None:
        self.rejected += 1
        for problem in row.problems:
            if len(self.problems) < PROBLEM_LIMIT:
                self.problems.append(_problem(row.number, problem.field, problem.reason))
        if self.quarantine and self.rejected_path is not None:
            if self.rejected_file is None:
                self.rejected_file = _RejectedFile(self.rejected_path, self.rejected_header)
            cells = row.cells if row.cells is not None else [row.values.get(name, "")
                                                              for name in self.rejected_header]
            self.rejected_file.add(cells, row.problems)
        if not self.quarantine:
            self.writing = False

    def _existing(self, rows: list[_Row]) -> dict[str, dict[str, Any]]:
        keys = [row.key_value for row in rows]
        chunk = SQLITE_IN_CHUNK if connection.vendor == "sqlite" else len(keys)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), chunk):
            for record in (Record.objects.filter(registry=self.registry, key_value__in=keys[start:start + chunk])
                           .values("id", "key_value", "data", "version", "deleted_at")):
                found[record["key_value"]] = dict(record)
        return found

    def _unique_conflicts(self, rows: list[_Row], existing: Mapping[str, Mapping[str, Any]]) -> None:
        """A unique value another record holds already (not the record the row updates) is the row's error."""
        for field_name in self.unique_fields:
            wanted = {term: row for row in rows for f, term, unique in row.terms if f == field_name and unique}
            if not wanted:
                continue
            terms = list(wanted)
            chunk = SQLITE_IN_CHUNK if connection.vendor == "sqlite" else len(terms)
            for start in range(0, len(terms), chunk):
                holders = RecordTerm.objects.filter(registry=self.registry, field=field_name, unique=True,
                                                    term__in=terms[start:start + chunk]).values_list("term", "record")
                for term, record_id in holders:
                    row = wanted[term]
                    own = existing.get(row.key_value or "")
                    if own is None or own["id"] != record_id:
                        row.problems.append(FieldProblem(field_name, _("Another record already has this value.")))

    def _update(self, changes: list[tuple[_Row, dict[str, Any]]]) -> None:
        """Existing live records: only those whose values change are written, each with its history row."""
        if not changes:
            return
        codec, names = self.codec, self.schema.by_name
        records: list[Record] = []
        history: list[RecordChange] = []
        terms: list[RecordTerm] = []
        who = self.who
        for row, found in changes:
            plain = codec.plain(found["data"])
            merged = {**{k: v for k, v in plain.items() if k in names}, **row.cleaned}
            changed = [name for name in names if merged.get(name) != plain.get(name)]
            if not changed:
                self.unchanged += 1
                continue
            version = found["version"] + 1
            history.append(RecordChange(
                record_id=found["id"], version=version, action=IMPORT_ACTION, actor_kind=who.kind, actor_id=who.id,
                actor_name=who.name, actor_department=who.department, changed_fields=changed,
                previous={name: found["data"].get(name) for name in changed}, reason=self.source_name,
                changed_at=self.now))
            records.append(Record(id=found["id"], data=codec.stored(merged), version=version, updated_at=self.now))
            terms.extend(RecordTerm(registry=self.registry, field=f, term=t, record_id=found["id"], unique=u)
                         for f, t, u in codec.terms(merged))
        if records:
            record_ids = [record.id for record in records]
            RecordChange.objects.bulk_create(history, batch_size=1000)
            Record.objects.bulk_update(records, ["data", "version", "updated_at"], batch_size=1000)
            RecordTerm.objects.filter(record_id__in=record_ids).delete()
            RecordTerm.objects.bulk_create(terms, batch_size=1000)
            self.updated += len(records)

    # -- reporting ----------------------------------------------------------------------------------------------

    def _state(self, status: str) -> dict[str, Any]:
        return {"status": status, "rows_done": self.rows, "rows_total": self.rows_total, "created": self.created,
                "updated": self.updated, "rejected": self.rejected, "problems": self.problems[:PROGRESS_PROBLEMS]}

    def _report_progress(self, force: bool = False) -> None:
        if self.progress is not None:
            self.progress(self.rows, self.rows_total)
        now = time.monotonic()
        if force or now - self.last_progress >= PROGRESS_INTERVAL:
            self.last_progress = now
            self.progress_file.write(self._state(ImportStatus.RUNNING))

    def _outcome(self, status: str, rejected_file: bool = True) -> ImportOutcome:
        written = status != ImportStatus.FAILED
        rejected_path = None
        if self.rejected_file is not None:
            self.rejected_file.close()
            rejected_path = self.rejected_file.path if rejected_file else None
        return ImportOutcome(status=status, rows=self.rows, created=self.created if written else 0,
                             updated=self.updated if written else 0, unchanged=self.unchanged if written else 0,
                             rejected=self.rejected, problems=list(self.problems), rejected_path=rejected_path,
                             file_digest=self.file_digest)

    def _write_audit_entry(self) -> None:
        entry = audit.record(
            IMPORT_ACTION, self.who, object_type="registry", object_id=self.registry.code,
            fields=sorted(self.columns & set(self.schema.by_name)),
            detail={"source": self.source_name, "file_digest": self.file_digest,
                    "mode": QUARANTINE if self.quarantine else ALL_OR_NOTHING, "rows": self.rows,
                    "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                    "rejected": self.rejected, "job": self.job.pk if self.job is not None else None})
        if self.updated:
            RecordChange.objects.filter(record__registry=self.registry, action=IMPORT_ACTION, changed_at=self.now,
                                        audit_entry_id__isnull=True).update(audit_entry_id=entry.pk)

    def _finish_job(self, outcome: ImportOutcome) -> None:
        if self.job is not None:
            _save_job_outcome(self.job, outcome)

    def _finish_job_after_rollback(self, outcome: ImportOutcome) -> None:
        if self.job is not None:
            with transaction.atomic():
                self._finish_job(outcome)


def _save_job_outcome(job: ImportJob, outcome: ImportOutcome) -> None:
    job.status = outcome.status
    job.rows_total = outcome.rows
    job.rows_done = outcome.rows
    job.created = outcome.created
    job.updated = outcome.updated
    job.rejected = outcome.rejected
    job.problems = outcome.problems
    job.file_digest = outcome.file_digest or job.file_digest
    job.message = ""
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "rows_total", "rows_done", "created", "updated", "rejected", "problems",
                            "file_digest", "message", "finished_at"])


def _default_rejected_path() -> Path:
    directory = Path(settings.VAR_DIR) / "imports"
    return directory / f"rejected-{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}.csv"


def import_rows(actor: User | None, registry: Registry, rows: Iterable[Mapping[str, Any]], *,
                quarantine: bool = False, source_name: str = "", progress: ProgressCallback | None = None,
                job: ImportJob | None = None, rejected_path: Path | None = None) -> ImportOutcome:
    """Import rows keyed by field name (the first row is row 1). See the module's docstring for the rules."""
    require_permission(actor, PERMISSION, registry)
    names = [spec.name for spec in RecordCodec(registry).schema.fields]
    if quarantine and rejected_path is None:
        rejected_path = _job_rejected_path(job) if job is not None else _default_rejected_path()
    run = _Import(actor, registry, quarantine=quarantine, source_name=source_name, progress=progress, job=job,
                  rows_total=len(rows) if isinstance(rows, Sequence) else None, file_digest="",
                  rejected_header=names, rejected_path=rejected_path)
    numbered = ((number, dict(values), None) for number, values in enumerate(rows, start=1))
    return run.run(numbered)


def file_format_of(file_name: str) -> str | None:
    extension = Path(file_name).suffix.lower().lstrip(".")
    return extension if extension in FORMATS else None


def import_file(actor: User | None, registry: Registry, path: Path, *, file_format: str, quarantine: bool = False,
                progress: ProgressCallback | None = None, job: ImportJob | None = None,
                rejected_path: Path | None = None, source_name: str = "") -> ImportOutcome:
    """Import a CSV (UTF-8, with or without BOM; GB18030 when not UTF-8) or XLSX file (its first sheet). The first
    row names the columns; data rows are numbered as the spreadsheet shows them (the first is row 2). A header
    that names an unknown field, gives a field twice or lacks a required field fails before any row is read."""
    require_permission(actor, PERMISSION, registry)
    if file_format not in FORMATS:
        raise InvalidInput.for_field("file_format", _("Import CSV or XLSX files."))
    path = Path(path)
    source_name = source_name or (job.file_name if job is not None else path.name)
    schema = RecordCodec(registry).schema
    if quarantine and rejected_path is None:
        rejected_path = _job_rejected_path(job) if job is not None else _default_rejected_path()
    try:
        source = _open_csv(path) if file_format == "csv" else _open_xlsx(path)
    except _StopImport as stop:
        return _refuse(job, [stop.problem], "")
    try:
        columns, problems = map_columns(schema, source.header)
        if problems:
            return _refuse(job, problems, source.digest)
        run = _Import(actor, registry, quarantine=quarantine, source_name=source_name, progress=progress, job=job,
                      rows_total=source.rows_total, file_digest=source.digest, rejected_header=list(source.header),
                      rejected_path=rejected_path, columns=[name for name in columns if name])
        return run.run(_file_rows(schema, source, columns, spreadsheet=file_format == "xlsx"))
    finally:
        source.close()


def _refuse(job: ImportJob | None, problems: list[dict[str, Any]], digest: str) -> ImportOutcome:
    """A file refused before any row (unreadable, or a bad header): nothing written, the job says why."""
    outcome = ImportOutcome(status=ImportStatus.FAILED, problems=problems[:PROBLEM_LIMIT], file_digest=digest)
    if job is not None:
        with transaction.atomic():
            _save_job_outcome(job, outcome)
    return outcome


def _file_rows(schema: Schema, source: _Source, columns: list[str | None], *, spreadsheet: bool
               ) -> Iterator[tuple[int, dict[str, Any], list[Any] | None]]:
    mapped = [(index, name) for index, name in enumerate(columns) if name is not None]
    names = [name for _index, name in mapped]
    pick = operator.itemgetter(*(index for index, _name in mapped))
    needed = mapped[-1][0] + 1
    width = len(columns)
    unnamed = [index for index, name in enumerate(columns) if name is None]
    specs = schema.by_name
    for number, cells in source.rows:
        if not (any(cell is not None and cell != "" for cell in cells) if spreadsheet else any(cells)):
            continue  # a blank line: spreadsheets leave them
        count = len(cells)
        if count >= needed:
            picked = pick(cells)
            values = dict(zip(names, picked if len(names) > 1 else (picked,), strict=True))
        else:
            values = {name: cells[index] if index < count else "" for index, name in mapped}
        if spreadsheet:
            values = {name: _spreadsheet_value(specs[name], value) for name, value in values.items()}
        if count > width or unnamed:
            stray = [index for index in [*unnamed, *range(width, count)]
                     if index < count and cells[index] is not None and str(cells[index]).strip()]
            if stray:
                # A value under no heading: report it through the schema's own unknown-field check.
                values[f"column {stray[0] + 1}"] = cells[stray[0]]
        yield number, values, cells


# --- jobs: the staff page and the API start an import; the worker runs it -------------------------------------------


def start_import(actor: User | None, registry: Registry, *, upload: File, file_name: str,
                 quarantine: bool) -> ImportJob:
    """Keep the uploaded file and queue its import; the page follows it with `job_progress`."""
    from zhengtong.registries.tasks import run_import_job

    require_permission(actor, PERMISSION, registry)
    file_format = file_format_of(file_name or "")
    if file_format is None:
        raise InvalidInput.for_field("file", _("Import CSV or XLSX files."))
    if not getattr(upload, "size", None):
        raise InvalidInput.for_field("file", _("The file is empty."))
    who = actor_of(actor)
    job: ImportJob | None = None
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(registry=registry, file_name=Path(file_name).name[:255],
                                           file_format=file_format, quarantine=quarantine, requested_by=actor)
            job.upload.save(f"job-{job.pk}.{file_format}", upload, save=True)
            audit.record("registries.start_import", who, object_type="registry", object_id=registry.code,
                         detail={"job": job.pk, "file_name": job.file_name, "size": upload.size,
                                 "mode": QUARANTINE if quarantine else ALL_OR_NOTHING})
            # With the database queue the task row commits with the job, or neither does.
            run_import_job.enqueue(job.pk)
    except BaseException:
        # The job is rolled back; the file (personal data in clear) is not, so it goes too.
        if job is not None and job.upload:
            with contextlib.suppress(OSError):
                job.upload.delete(save=False)
        raise
    return job


def run_job(job_id: int) -> str:
    """Run a queued import (the task calls this). Returns the job's final status."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING).update(status=ImportStatus.RUNNING)
    job = ImportJob.objects.select_related("registry", "requested_by").get(pk=job_id)
    if not claimed:
        return job.status  # already run, or being run by another worker
    progress_file = _ProgressFile(job)
    try:
        progress_file.write({"status": ImportStatus.RUNNING, "rows_done": 0, "rows_total": None})  # see _stalled
        if not job.upload:
            raise InvalidInput.for_field("file", _("The uploaded file is no longer there."))
        outcome = import_file(job.requested_by, job.registry, Path(job.upload.path), file_format=job.file_format,
                              quarantine=job.quarantine, job=job)
    except DomainError as error:
        _fail_job(job, error.message)
        return ImportStatus.FAILED
    except Exception:
        # A database or disk error: its text can hold values of the file (a duplicate key, say), so staff see a
        # plain message, the log has the error, and the task fails with the traceback.
        log.exception("import job failed", job=job.pk, registry=job.registry.code)
        _fail_job(job, _("The import stopped because of an error on the server. The platform's administrators "
                         "can find the error in the log."))
        raise
    finally:
        progress_file.remove()
        # The upload holds the file's personal data in clear: whatever the outcome, only its digest is kept.
        # Rejected rows of a quarantine import stay for the staff member to download until the job is deleted
        # (see `remove_job_files`).
        if job.upload:
            with contextlib.suppress(OSError):
                job.upload.delete(save=False)
            ImportJob.objects.filter(pk=job.pk).update(upload="")
    return outcome.status


def remove_job_files(sender: Any, instance: ImportJob, **kwargs: Any) -> None:
    """post_delete of an ImportJob: its files go once the deletion commits (the upload, if it is still there,
    the rejected rows, the progress file)."""
    paths = [_job_rejected_path(instance), _progress_path(instance)]
    upload = instance.upload.name if instance.upload else ""
    storage = instance.upload.storage

    def remove() -> None:
        for path in paths:
            path.unlink(missing_ok=True)
        if upload:
            with contextlib.suppress(OSError):
                storage.delete(upload)

    transaction.on_commit(remove)


def _fail_job(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.FAILED, message=message[:2000],
                                               finished_at=timezone.now())


def job_progress(job: ImportJob) -> ImportProgress:
    """Where a job stands, readable while the worker runs it (from its progress file) and after (from the row).
    A running job whose progress file has not changed for STALLED_AFTER seconds is `stalled`."""
    job = ImportJob.objects.get(pk=job.pk)
    state = _read_progress(job) if job.status in (ImportStatus.PENDING, ImportStatus.RUNNING) else None
    stalled = job.status == ImportStatus.RUNNING and _stalled(job)
    if state is not None:
        done, total = int(state.get("rows_done") or 0), state.get("rows_total")
        percent = min(99, 100 * done // total) if total else None
        return ImportProgress(status=job.status, rows_done=done, rows_total=total, percent=percent,
                              created=int(state.get("created") or 0), updated=int(state.get("updated") or 0),
                              rejected=int(state.get("rejected") or 0), problems=list(state.get("problems") or []),
                              message=job.message, has_rejected_file=False, stalled=stalled)
    finished = job.status not in (ImportStatus.PENDING, ImportStatus.RUNNING)
    return ImportProgress(status=job.status, rows_done=job.rows_done, rows_total=job.rows_total,
                          percent=100 if finished else (0 if job.status == ImportStatus.RUNNING else None),
                          created=job.created, updated=job.updated, rejected=job.rejected,
                          problems=list(job.problems or []), message=job.message,
                          has_rejected_file=rejected_rows_path(job) is not None, stalled=stalled)


def _stalled(job: ImportJob) -> bool:
    try:
        last = _progress_path(job).stat().st_mtime
    except OSError:  # no progress file: the worker died before writing one, or it was removed
        last = job.created_at.timestamp()
    return time.time() - last > STALLED_AFTER


def rejected_rows_path(job: ImportJob) -> Path | None:
    """The CSV of a quarantine import's rejected rows (with their problems), when there were any."""
    if not job.quarantine:
        return None
    path = _job_rejected_path(job)
    return path if path.exists() else None
