"""Exports of registry records as CSV, XLSX or JSON, read through the one door.

`export_response` asks `door.stream` for the records, so the reader's right is resolved (and a refusal raised)
before any byte is written, every value is masked by that right, and each batch is audited as exchange.export
before it is handed out. The response streams: rows are written as the door yields them, so memory does not
grow with the registry. Staff pages use it, and the gateway can use it for API clients the same way.
"""

from __future__ import annotations

import csv
import enum
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from zhengtong.core.errors import InvalidInput
from zhengtong.exchange import door
from zhengtong.registries.models import Registry

BATCH_SIZE = 1000
CHUNK_BYTES = 64 * 1024
# Excel on Chinese Windows reads a CSV file without a byte order mark as GBK and garbles it.
UTF8_BOM = "\ufeff"
# Characters that make a spreadsheet read a cell as a formula (CSV injection); see _defused.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"

    @property
    def content_type(self) -> str:
        return {
            ExportFormat.CSV: "text/csv; charset=utf-8",
            ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ExportFormat.JSON: "application/json; charset=utf-8",
        }[self]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _defused(text: str) -> str:
    """Text a spreadsheet shows as text: a leading apostrophe before what would start a formula (=, +, -, @),
    except for plain numbers such as -3.5, which cannot be formulas."""
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def cell_text(value: Any) -> str:
    """A field value as text in one cell: empty for no value, JSON for points and geometries."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(value)


class _Line:
    """A file-like object whose write hands the text back, so csv.writer formats one row at a time."""

    def write(self, text: str) -> str:
        return text


def _chunked(pieces: Iterator[str]) -> Iterator[bytes]:
    """UTF-8 bytes of `pieces`, gathered into chunks of about CHUNK_BYTES rather than one write per row."""
    gathered: list[str] = []
    size = 0
    for piece in pieces:
        gathered.append(piece)
        size += len(piece)
        if size >= CHUNK_BYTES:
            yield "".join(gathered).encode("utf-8")
            gathered, size = [], 0
    if gathered:
        yield "".join(gathered).encode("utf-8")


def csv_chunks(names: Sequence[str], labels: Sequence[str], readings: Iterator[door.Reading]) -> Iterator[bytes]:
    """UTF-8 CSV with a byte order mark, a header row of field labels, then one row per record."""
    writer = csv.writer(_Line())

    def lines() -> Iterator[str]:
        yield UTF8_BOM + writer.writerow([_defused(label) for label in labels])
        for reading in readings:
            yield writer.writerow([_defused(cell_text(reading.values.get(name))) for name in names])

    return _chunked(lines())


def json_chunks(names: Sequence[str], readings: Iterator[door.Reading]) -> Iterator[bytes]:
    """A JSON array of objects, field name → value, written one record at a time."""

    def pieces() -> Iterator[str]:
        yield "["
        separator = ""
        for reading in readings:
            values = {name: reading.values.get(name) for name in names}
            yield separator + json.dumps(values, ensure_ascii=False, default=str)
            separator = ","
        yield "]"

    return _chunked(pieces())


def xlsx_chunks(names: Sequence[str], labels: Sequence[str], readings: Iterator[door.Reading], *,
                sheet_title: str = "records") -> Iterator[bytes]:
    """An XLSX workbook of one sheet: a header row of field labels, then one row per record.

    openpyxl cannot write a workbook to a socket: the ZIP's directory comes last and it needs a seekable file.
    So the rows go into a write-only workbook (which spools them to disk as they come, keeping memory flat)
    saved to a temporary file, and the file is then streamed and deleted.
    """
    with tempfile.TemporaryFile() as spool:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(title=sheet_title[:31])

        def text_cell(text: str) -> WriteOnlyCell:
            cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", text))
            cell.data_type = "s"  # never a formula, whatever the text starts with
            return cell

        sheet.append([text_cell(label) for label in labels])
        for reading in readings:
            row: list[Any] = []
            for name in names:
                value = reading.values.get(name)
                numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
                row.append(value if numeric else text_cell(cell_text(value)))
            sheet.append(row)
        workbook.save(spool)
        spool.seek(0)
        while chunk := spool.read(CHUNK_BYTES):
            yield chunk


def parse_format(value: str) -> ExportFormat:
    try:
        return ExportFormat(value)
    except ValueError:
        raise InvalidInput.for_field("format", _("Choose CSV, XLSX or JSON.")) from None


def export_response(reader: door.Reader, registry: Registry, *, fmt: str, purpose: str,
                    fields: Sequence[str] | None = None, filters: Mapping[str, Any] | None = None,
                    case_reference: str = "", english: bool | None = None,
                    batch_size: int | None = None) -> StreamingHttpResponse:
    """A streamed download of the records of `registry` that `reader` may see, in `fmt` (csv, xlsx, json).

    Raises door.Refused (the reader's right does not allow it) or InvalidInput (a bad format, field or filter)
    before any output. Headers use field labels in English when `english` (by default: when English is the
    active language)."""
    export_format = parse_format(fmt)
    names, readings = door.stream(reader, registry, purpose=purpose, fields=fields, filters=filters,
                                  batch_size=batch_size or BATCH_SIZE, case_reference=case_reference)
    if english is None:
        english = (translation.get_language() or "").startswith("en")
    labels = [label for _name, label in door.field_labels(registry, names, english)]
    if export_format == ExportFormat.XLSX:
        chunks = xlsx_chunks(names, labels, readings, sheet_title=registry.code)
    elif export_format == ExportFormat.JSON:
        chunks = json_chunks(names, readings)
    else:
        chunks = csv_chunks(names, labels, readings)
    response = StreamingHttpResponse(chunks, content_type=export_format.content_type)
    file_name = f"{registry.code}-{timezone.localtime():%Y%m%d-%H%M%S}.{export_format.value}"
    disposition = content_disposition_header(True, file_name)
    assert disposition is not None  # always, for an attachment
    response["Content-Disposition"] = disposition
    response["Cache-Control"] = "no-store"
    return response
