"""`zhengtong import REGISTRY_CODE FILE`: import records from a CSV or XLSX file, as the platform at the shell.

    zhengtong import persons people.csv
    zhengtong import persons people.xlsx --quarantine --rejected-out rejected.csv

The first row names the columns (field name, Chinese label or English label). By default nothing is written if
any row is bad, and the command exits with status 1 after listing every problem (row, field, reason). With
--quarantine the good rows are written and the bad ones go to a CSV file with a `problems` column.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from zhengtong.core.errors import DomainError
from zhengtong.registries import importing
from zhengtong.registries.models import ImportStatus, Registry


class Command(BaseCommand):
    help = "Import registry records from a CSV or XLSX file (all or nothing, or --quarantine)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("registry", metavar="REGISTRY_CODE", help="the registry's code, e.g. persons")
        parser.add_argument("file", metavar="FILE", help="a .csv (UTF-8, or GB18030/GBK when not UTF-8) or .xlsx file "
                                                         "(its first sheet) whose first row names the columns")
        parser.add_argument("--format", choices=importing.FORMATS, dest="file_format",
                            help="the file's format (default: from its extension)")
        parser.add_argument("--quarantine", action="store_true",
                            help="write the good rows and set the bad ones aside, instead of writing nothing when "
                                 "any row is bad")
        parser.add_argument("--rejected-out", metavar="PATH",
                            help="with --quarantine: where to write the rejected rows as CSV (default: under "
                                 "var/imports/)")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, registry: str, file: str, file_format: str | None, quarantine: bool,
               rejected_out: str | None, quiet: bool, **options: Any) -> None:
        target = Registry.objects.filter(code=registry).first()
        if target is None:
            raise CommandError(f"REGISTRY_CODE: there is no registry {registry!r}")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"FILE: there is no file at {file}")
        file_format = file_format or importing.file_format_of(path.name)
        if file_format is None:
            raise CommandError("FILE: give a .csv or .xlsx file, or say which with --format")
        if rejected_out and not quarantine:
            raise CommandError("--rejected-out: only with --quarantine (otherwise no row is set aside)")
        bar = tqdm(desc=f"importing {path.name}", unit="row", file=sys.stderr, disable=quiet, dynamic_ncols=True)

        def progress(done: int, total: int | None) -> None:
            if total is not None and bar.total != max(total, done):
                bar.total = max(total, done)
            bar.update(done - bar.n)

        try:
            outcome = importing.import_file(None, target, path, file_format=file_format, quarantine=quarantine,
                                            progress=progress,
                                            rejected_path=Path(rejected_out) if rejected_out else None)
        except DomainError as error:
            raise CommandError(error.message) from None
        finally:
            bar.close()
        self._report(outcome)
        if outcome.status == ImportStatus.FAILED:
            self.stdout.flush()
            sys.exit(1)

    def _report(self, outcome: importing.ImportOutcome) -> None:
        for problem in outcome.problems:
            where = f"row {problem['row']}" + (f", {problem['field']}" if problem["field"] else "")
            self.stdout.write(f"{where}: {problem['reason']}")
        shown = len(outcome.problems)
        if outcome.rejected and shown >= importing.PROBLEM_LIMIT:
            self.stdout.write(f"... only the first {shown} problems are listed")
        rejected_path = outcome.rejected_path
        summary = (f"{outcome.rows} rows: {outcome.created} created, {outcome.updated} updated, "
                   f"{outcome.unchanged} unchanged, {outcome.rejected} rejected.")
        if outcome.status == ImportStatus.FAILED:
            written = "Nothing was written"
            self.stdout.write(self.style.ERROR(f"FAILED: {written}. {summary}" if outcome.rows
                                               else f"FAILED: {written}."))
        elif outcome.status == ImportStatus.PARTIAL:
            self.stdout.write(self.style.WARNING(f"PARTIAL: {summary}"))
        else:
            self.stdout.write(self.style.SUCCESS(f"OK: {summary}"))
        if rejected_path is not None:
            self.stdout.write(f"Rejected rows with their problems: {rejected_path}")
        if outcome.file_digest:
            self.stdout.write(f"File SHA-256: {outcome.file_digest}")
