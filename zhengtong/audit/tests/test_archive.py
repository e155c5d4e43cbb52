"""Archiving: entries older than 180 days go to a compressed file that proves itself, then leave the database;
`verify` still accounts for every archived leaf."""

import datetime as dt
import gzip
import io
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from zhengtong.audit import triggers
from zhengtong.audit.actions import SYSTEM, record_alone
from zhengtong.audit.models import ArchiveBatch, AuditEntry, AuditLeaf, AuditSubject
from zhengtong.audit.sequencer import Sequencer
from zhengtong.audit.verify import (
    ARCHIVE_FILE,
    ARCHIVED_UNCHECKED,
    MODIFIED,
    archive_entries,
    check_archive,
    verify_archive,
    verify_trail,
)
from zhengtong.core.errors import InvalidInput

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keys_and_witness")]



def write_and_sequence(count, days_ago, label):
    """`count` entries written and sequenced `days_ago` days ago (0: now)."""
    moment = timezone.now() - dt.timedelta(days=days_ago)
    with time_machine.travel(moment, tick=False):
        entries = [record_alone(f"test.{label}", SYSTEM, object_id=i, subjects=[f"3301{label}{i}"])
                   for i in range(count)]
        Sequencer().step()
    return entries


def days_ago(days):
    return timezone.localdate() - dt.timedelta(days=days)


def archive(before, out):
    stdout = io.StringIO()
    call_command("audit", "archive", "--before", before.isoformat(), "--out", str(out), stdout=stdout)
    return stdout.getvalue()


@pytest.fixture
def old_and_new():
    old = write_and_sequence(8, 200, "old")
    new = write_and_sequence(5, 0, "new")
    return old, new


def test_old_entries_are_archived_to_a_verifiable_file_and_deleted(old_and_new, tmp_path):
    old, new = old_and_new
    output = archive(days_ago(190), tmp_path / "archive")
    path = tmp_path / "archive" / "audit-archive-0-7.jsonl.gz"
    assert str(path) in output
    assert path.is_file() and (tmp_path / "archive" / "audit-archive-0-7.jsonl.gz.sha256").is_file()
    batch = ArchiveBatch.objects.get()
    assert (batch.last_leaf_index, batch.last_entry_id, batch.tree_size) == (7, old[-1].pk, 13)
    assert batch.file_name == str(path)
    # The archived entries and their subject rows are gone; the recent ones, every leaf and head stay.
    assert not AuditEntry.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert not AuditSubject.objects.filter(entry_id__in=[e.pk for e in old]).exists()
    assert AuditEntry.objects.filter(pk__in=[e.pk for e in new]).count() == 5
    assert AuditLeaf.objects.count() == 13
    # Archiving is itself on the record.
    assert AuditEntry.objects.filter(action="audit.archive", object_id=str(batch.pk)).exists()

    check = check_archive(path)
    assert check.ok, check.reason
    assert (check.entries, check.first_leaf_index, check.last_leaf_index, check.tree_size) == (8, 0, 7, 13)
    with gzip.open(path, "rt") as handle:
        lines = [json.loads(line) for line in handle]
    assert [line["type"] for line in lines] == ["header"] + ["entry"] * 8 + ["tree_head", "proof", "end"]
    assert [line["entry_id"] for line in lines[1:9]] == [e.pk for e in old]

    report = verify_trail()
    assert report.ok, [p.line() for p in report.problems]
    assert (report.archived_checked, report.archived_unchecked, report.entries_checked) == (8, 0, 5)


def test_a_date_less_than_180_days_ago_is_refused(old_and_new, tmp_path):
    with pytest.raises(CommandError, match="--before: must be on or before"):
        archive(days_ago(179), tmp_path)
    with pytest.raises(InvalidInput) as error:
        archive_entries(before=days_ago(100), out_dir=tmp_path)
    assert error.value.details[0].field == "before"
    with pytest.raises(CommandError, match="--before: '2020-13-01' is not a date"):
        call_command("audit", "archive", "--before", "2020-13-01", "--out", str(tmp_path))
    assert not ArchiveBatch.objects.exists()
    assert not list(tmp_path.glob("audit-archive-*"))


def test_the_retention_boundary_itself_is_allowed(old_and_new, tmp_path):
    archive(days_ago(180), tmp_path)
    assert ArchiveBatch.objects.get().last_leaf_index == 7


def test_nothing_older_means_nothing_archived(old_and_new, tmp_path):
    output = archive(days_ago(365), tmp_path)
    assert "Nothing to archive" in output
    assert not ArchiveBatch.objects.exists()
    assert not list(tmp_path.glob("*.gz")) and not list(tmp_path.glob(".audit-archive-*"))


def test_a_second_archive_continues_where_the_first_ended(tmp_path):
    oldest = write_and_sequence(6, 300, "a")
    older = write_and_sequence(5, 250, "b")
    write_and_sequence(3, 0, "c")
    archive(days_ago(280), tmp_path)
    archive(days_ago(200), tmp_path)
    first, second = tmp_path / "audit-archive-0-5.jsonl.gz", tmp_path / "audit-archive-6-10.jsonl.gz"
    assert verify_archive(first) and verify_archive(second)
    assert list(ArchiveBatch.objects.order_by("last_leaf_index").values_list("last_leaf_index", "last_entry_id")) == [
        (5, oldest[-1].pk), (10, older[-1].pk)]
    report = verify_trail()
    assert report.ok, [p.line() for p in report.problems]
    assert report.archived_checked == 11
    # Nothing more is old enough.
    assert "Nothing to archive" in archive(days_ago(200), tmp_path)


def test_an_archive_file_taken_away_is_reported_without_failing(old_and_new, tmp_path):
    archive(days_ago(190), tmp_path / "archive")
    (tmp_path / "archive" / "audit-archive-0-7.jsonl.gz").rename(tmp_path / "moved.jsonl.gz")
    report = verify_trail()
    assert report.ok
    assert report.archived_unchecked == 8
    assert [w.kind for w in report.warnings if w.kind == ARCHIVED_UNCHECKED] == [ARCHIVED_UNCHECKED]
    assert verify_archive(tmp_path / "moved.jsonl.gz")


def rewrite_archive(path, change):
    with gzip.open(path, "rt") as handle:
        lines = [json.loads(line) for line in handle]
    change(lines)
    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in lines)


def test_a_changed_archive_file_is_caught(old_and_new, tmp_path):
    old, _ = old_and_new
    archive(days_ago(190), tmp_path)
    path = tmp_path / "audit-archive-0-7.jsonl.gz"

    def change_an_entry(lines):
        lines[3]["data"] = lines[3]["data"].replace('"actor_name":"system"', '"actor_name":"nobody"')

    rewrite_archive(path, change_an_entry)
    check = check_archive(path)
    assert not check.ok and "leaf 2" in check.reason
    report = verify_trail()
    assert not report.ok
    assert (report.first.kind, report.first.entry_id, report.first.leaf_index) == (MODIFIED, old[2].pk, 2)
    assert any(p.kind == ARCHIVE_FILE for p in report.problems)


def test_an_archive_whose_entry_and_leaf_hash_were_changed_together_fails_on_its_own(old_and_new, tmp_path):
    from zhengtong.audit import merkle
    from zhengtong.audit.tree import hash_function

    archive(days_ago(190), tmp_path)
    path = tmp_path / "audit-archive-0-7.jsonl.gz"

    def change_entry_and_hash(lines):
        data = lines[3]["data"].replace('"actor_name":"system"', '"actor_name":"nobody"')
        lines[3]["data"] = data
        lines[3]["leaf_hash"] = merkle.leaf_hash(hash_function("sha256"), data.encode()).hex()

    rewrite_archive(path, change_entry_and_hash)
    check = check_archive(path)
    assert not check.ok and "archived tree" in check.reason


def test_a_forged_tree_head_in_an_archive_fails(old_and_new, tmp_path):
    archive(days_ago(190), tmp_path)
    path = tmp_path / "audit-archive-0-7.jsonl.gz"

    def change_head(lines):
        lines[-3]["timestamp"] += 1

    rewrite_archive(path, change_head)
    assert check_archive(path).reason == "the tree head's signature does not verify"


def test_a_tampered_range_is_not_archived(old_and_new, tmp_path):
    old, _ = old_and_new
    triggers.remove(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET actor_name = 'x' WHERE id = %s", [old[4].pk])
    triggers.install(connection)
    with pytest.raises(CommandError, match=f"entry #{old[4].pk} does not match its leaf 4"):
        archive(days_ago(190), tmp_path)
    assert not ArchiveBatch.objects.exists()
    assert AuditEntry.objects.filter(pk=old[0].pk).exists()
    assert not list(tmp_path.glob("*.gz")) and not list(tmp_path.glob(".audit-archive-*"))


def test_the_verify_archive_command(old_and_new, tmp_path):
    archive(days_ago(190), tmp_path)
    path = tmp_path / "audit-archive-0-7.jsonl.gz"
    stdout = io.StringIO()
    call_command("audit", "verify-archive", str(path), stdout=stdout)
    assert stdout.getvalue().startswith("OK: 8 entries")
    rewrite_archive(path, lambda lines: lines.pop(4))
    with pytest.raises(SystemExit) as exit_status:
        call_command("audit", "verify-archive", str(path), stdout=io.StringIO())
    assert exit_status.value.code == 1
