"""`zhengtong audit verify|archive|verify-archive`: check the audit trail end to end; archive old entries.

    zhengtong audit verify [--witness PATH ...] [--no-witness] [--trust-key KEY_ID ...] [--quiet]
    zhengtong audit archive --before YYYY-MM-DD --out DIR
    zhengtong audit verify-archive FILE

`verify` exits with status 1 when anything is wrong and names the first bad entry:
`FAILED: entry #<id> (leaf <index>) <kind>: <explanation>`.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from zhengtong.audit.verify import (
    CHUNK_SIZE,
    ArchiveRefused,
    archive_entries,
    check_archive,
    latest_archivable_date,
    verify_trail,
)
from zhengtong.core.errors import InvalidInput

SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = "Verify the audit trail against its signed tree heads and witness, or archive old entries."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        verify = sub.add_parser("verify", help="recompute the Merkle tree from the entries and check every signed "
                                               "tree head and witness copy; exit status 1 on any failure")
        verify.add_argument("--witness", action="append", metavar="PATH",
                            help="a witness file of tree heads (JSON lines); may be repeated "
                                 "(default: ZHENGTONG_AUDIT_WITNESS when it is a file)")
        verify.add_argument("--no-witness", action="store_true", help="read no witness file")
        verify.add_argument("--trust-key", action="append", default=[], metavar="KEY_ID",
                            help="trust heads signed by this key id too (a key retired before the witness existed)")
        verify.add_argument("--quiet", action="store_true", help="no progress bar")
        verify.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="leaves read per query")
        archive = sub.add_parser("archive", help="write entries older than a date (at least 180 days ago) to a "
                                                 "compressed file with the proofs that keep them verifiable, then "
                                                 "delete them from the database")
        archive.add_argument("--before", required=True, metavar="YYYY-MM-DD",
                             help="archive entries that occurred before this day (local time)")
        archive.add_argument("--out", required=True, metavar="DIR", help="directory for the archive file")
        check = sub.add_parser("verify-archive", help="check an archive file on its own")
        check.add_argument("path", metavar="FILE")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        if verb == "verify":
            self._verify(options)
        elif verb == "archive":
            self._archive(options)
        else:
            self._verify_archive(options["path"])

    def _verify(self, options: dict[str, Any]) -> None:
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size: must be at least 1")
        witness_paths = [] if options["no_witness"] else options["witness"]
        report = verify_trail(witness_paths=witness_paths, progress=not options["quiet"],
                              chunk_size=options["chunk_size"], trusted_key_ids=options["trust_key"])
        self.stdout.write(report.summary())
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning.line()}"))
        if report.ok:
            self.stdout.write(self.style.SUCCESS("OK: every entry, tree head and witness copy verifies."))
            return
        for problem in report.problems[:SHOWN_PROBLEMS]:
            self.stdout.write(f"problem: {problem.line()}")
        hidden = len(report.problems) - SHOWN_PROBLEMS + report.problems_left_off
        if hidden > 0:
            self.stdout.write(f"... and {hidden} more problems")
        first = report.first
        assert first is not None
        self.stdout.write(self.style.ERROR(f"FAILED: {first.line()}"))
        self.stdout.flush()
        sys.exit(1)

    def _archive(self, options: dict[str, Any]) -> None:
        try:
            before = dt.date.fromisoformat(options["before"])
        except ValueError:
            raise CommandError(f"--before: {options['before']!r} is not a date in the form YYYY-MM-DD") from None
        try:
            result = archive_entries(before=before, out_dir=Path(options["out"]))
        except InvalidInput as error:
            reason = error.details[0].reason if error.details else error.message
            raise CommandError(f"--before: {reason}") from None
        except ArchiveRefused as error:
            raise CommandError(f"nothing was archived: {error}") from None
        if result is None:
            self.stdout.write(f"Nothing to archive: no sequenced entry that is not yet archived occurred before "
                              f"{before:%Y-%m-%d} (the latest date allowed is {latest_archivable_date():%Y-%m-%d}).")
            return
        self.stdout.write(f"Archived {result.entries} entries (leaves {result.first_leaf_index}–"
                          f"{result.last_leaf_index}, entries #{result.first_entry_id}–#{result.last_entry_id}) "
                          f"to {result.path}")
        self.stdout.write(f"Digest {result.digest}; proofs up to the signed tree head of size {result.tree_size}. "
                          f"The entries were deleted from the database.")

    def _verify_archive(self, path: str) -> None:
        if not Path(path).is_file():
            raise CommandError(f"FILE: there is no file at {path}")
        check = check_archive(path)
        if not check.ok:
            self.stdout.write(self.style.ERROR(f"FAILED: {path}: {check.reason}"))
            self.stdout.flush()
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(
            f"OK: {check.entries} entries (leaves {check.first_leaf_index}–{check.last_leaf_index}) verify against "
            f"the signed tree head of size {check.tree_size} in the file."))
