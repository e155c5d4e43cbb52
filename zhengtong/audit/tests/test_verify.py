"""`zhengtong audit verify` catches every way of tampering with the trail and names the first bad entry.

Each tamper test plays the database administrator: it lifts the append-only triggers (the DBA's power), changes
the tables, and puts the triggers back. The trail is 50 entries sequenced in five steps, so there are signed
tree heads at sizes 10, 20, 30, 40 and 50, each also in the witness file.
"""

import datetime as dt
import io
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from zhengtong.audit import canonical, merkle, triggers
from zhengtong.audit.actions import SYSTEM, record_alone
from zhengtong.audit.models import (
    ArchiveBatch,
    AuditEntry,
    AuditLeaf,
    AuditSubject,
    MerkleNode,
    SigningKeyRecord,
    TreeHead,
)
from zhengtong.audit.sequencer import Sequencer
from zhengtong.audit.tree import hash_function, tree_head_message
from zhengtong.audit.verify import (
    BAD_SIGNATURE,
    FORGED_ARCHIVE,
    INSERTED,
    MODIFIED,
    NODE_MISMATCH,
    NOT_SEQUENCED,
    REMOVED,
    REORDERED,
    SUBJECT_INDEX,
    UNTRUSTED_KEY,
    WITNESS_MISMATCH,
    verify_trail,
)
from zhengtong.core import crypto

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keys_and_witness")]



@pytest.fixture
def trail():
    """50 entries; entries[i] is at leaf i. Heads at 10, 20, 30, 40, 50."""
    entries = []
    sequencer = Sequencer()
    for step in range(5):
        for i in range(10):
            number = step * 10 + i
            entries.append(record_alone("test.event", SYSTEM, object_type="thing", object_id=number,
                                        subjects=[f"S{number}"], detail={"n": number}))
        sequencer.step()
    assert TreeHead.objects.count() == 5
    return entries


@contextmanager
def as_dba():
    triggers.remove(connection)
    try:
        yield
    finally:
        triggers.install(connection)


def execute(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def h():
    return hash_function("sha256")


def leaf_hash_of(entry_id):
    values = AuditEntry.objects.filter(pk=entry_id).values(*canonical.LEAF_FIELDS).get()
    return merkle.leaf_hash(h(), canonical.leaf_data_from_values(values))


def stored_leaves():
    return list(AuditLeaf.objects.order_by("index").values_list("index", "entry_id", "leaf_hash"))


def rewrite_leaves(rows):
    """Replace every leaf with rows of (entry_id, leaf_hash), numbered from 0, and rebuild every stored node."""
    AuditLeaf.objects.all().delete()
    AuditLeaf.objects.bulk_create(AuditLeaf(index=i, entry_id=entry_id, leaf_hash=bytes(digest))
                                  for i, (entry_id, digest) in enumerate(rows))
    rebuild_nodes()


def rebuild_nodes():
    MerkleNode.objects.all().delete()
    hashes = [bytes(digest) for _, _, digest in stored_leaves()]
    store = merkle.InMemoryNodes.from_leaves(h(), hashes)
    MerkleNode.objects.bulk_create(MerkleNode(level=level, index=index, hash=digest)
                                   for (level, index), digest in store.nodes.items() if level > 0)


def first_problem(report):
    assert not report.ok
    return report.first


# --- a clean trail -------------------------------------------------------------------------------------------------


def test_a_clean_trail_verifies(trail):
    report = verify_trail()
    assert report.ok, [p.line() for p in report.problems]
    assert report.leaves_checked == report.entries_checked == 50
    assert report.heads_checked == 5
    assert report.witness_heads_checked == 5
    assert report.nodes_checked == MerkleNode.objects.count()
    assert report.tree_size == 50
    assert report.first is None


def test_the_chunk_size_does_not_change_the_outcome(trail):
    assert verify_trail(chunk_size=3).ok
    assert verify_trail(chunk_size=1, witness_paths=[]).ok


def test_an_empty_trail_verifies(settings):
    report = verify_trail()
    assert report.ok
    assert report.tree_size == 0


# --- the five tampers of the issue -----------------------------------------------------------------------------------


def test_one_changed_byte_of_one_entry_is_caught_as_modified(trail):
    victim = trail[23]
    with as_dba():
        execute("UPDATE audit_auditentry SET actor_name = %s WHERE id = %s", ["systen", victim.pk])
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (MODIFIED, victim.pk, 23)
    assert len([p for p in verify_trail().problems if p.kind == MODIFIED]) == 1


def test_a_changed_json_field_is_caught(trail):
    victim = trail[5]
    with as_dba():
        execute("UPDATE audit_auditentry SET detail = %s WHERE id = %s", ['{"n": 6}', victim.pk])
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.entry_id) == (MODIFIED, victim.pk)


def test_a_deleted_entry_is_caught_as_removed(trail):
    victim = trail[17]
    with as_dba():
        AuditSubject.objects.filter(entry_id=victim.pk).delete()
        AuditEntry.objects.filter(pk=victim.pk).delete()
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (REMOVED, victim.pk, 17)


def test_a_deleted_entry_and_leaf_leave_a_gap_that_is_caught(trail):
    victim = trail[17]
    with as_dba():
        AuditLeaf.objects.filter(entry_id=victim.pk).delete()
        AuditEntry.objects.filter(pk=victim.pk).delete()
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (REMOVED, victim.pk, 17)


def test_a_deleted_entry_with_the_later_leaves_renumbered_is_caught(trail):
    victim = trail[17]
    with as_dba():
        rows = [(entry_id, digest) for _, entry_id, digest in stored_leaves() if entry_id != victim.pk]
        AuditEntry.objects.filter(pk=victim.pk).delete()
        rewrite_leaves(rows)
    report = verify_trail()
    problem = first_problem(report)
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (REMOVED, victim.pk, 17)
    # The tree is now one leaf shorter than the latest signed head says.
    assert any(p.kind == REMOVED and p.leaf_index == 49 for p in report.problems)


def test_a_leaf_taken_out_of_the_tree_is_found_from_its_entry(trail):
    victim = trail[17]
    with as_dba():
        rewrite_leaves([(entry_id, digest) for _, entry_id, digest in stored_leaves() if entry_id != victim.pk])
    later = timezone.now() + dt.timedelta(minutes=20)
    report = verify_trail(now=later)
    problem = first_problem(report)
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (REMOVED, victim.pk, 17)
    assert "put back" in problem.message
    # Its entry is still there, without a leaf, although later entries were sequenced.
    assert any(p.kind == NOT_SEQUENCED and p.entry_id == victim.pk for p in report.problems)


def test_a_forged_entry_inserted_in_the_middle_is_caught(trail):
    with transaction.atomic():
        forged = AuditEntry.objects.create(actor_kind="staff", actor_id="99", actor_name="nobody",
                                           action="test.forged", occurred_at=trail[24].occurred_at)
    with as_dba():
        rows = [(entry_id, digest) for _, entry_id, digest in stored_leaves()]
        rows.insert(25, (forged.pk, leaf_hash_of(forged.pk)))
        rewrite_leaves(rows)
    report = verify_trail()
    problem = first_problem(report)
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (INSERTED, forged.pk, 25)
    # The tree now has a leaf more than the latest signed head covers.
    assert any(p.kind == INSERTED and p.leaf_index == 50 for p in report.problems)


def test_a_forged_leaf_appended_after_the_last_head_is_caught(trail):
    with transaction.atomic():
        forged = AuditEntry.objects.create(actor_kind="system", action="test.forged")
    with as_dba():
        AuditLeaf.objects.create(index=50, entry_id=forged.pk, leaf_hash=leaf_hash_of(forged.pk))
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (INSERTED, forged.pk, 50)


def test_two_swapped_leaves_are_caught_as_reordered(trail):
    with as_dba():
        rows = [(entry_id, digest) for _, entry_id, digest in stored_leaves()]
        rows[12], rows[16] = rows[16], rows[12]
        rewrite_leaves(rows)
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.leaf_index) == (REORDERED, 12)
    assert {problem.entry_id, problem.related_entry_id} == {trail[12].pk, trail[16].pk}
    assert problem.entry_id == trail[16].pk  # the entry that now sits at leaf 12


def test_leaves_swapped_across_heads_are_caught(trail):
    with as_dba():
        rows = [(entry_id, digest) for _, entry_id, digest in stored_leaves()]
        rows[12], rows[34] = rows[34], rows[12]
        rewrite_leaves(rows)
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.leaf_index, problem.entry_id, problem.related_entry_id) == (
        REORDERED, 12, trail[34].pk, trail[12].pk)


def test_two_entries_pointed_at_each_others_leaves_are_caught_as_reordered(trail):
    first, second = trail[7], trail[9]
    with as_dba():
        execute('UPDATE audit_auditleaf SET entry_id = %s WHERE "index" = 7', [-1])
        execute('UPDATE audit_auditleaf SET entry_id = %s WHERE "index" = 9', [first.pk])
        execute('UPDATE audit_auditleaf SET entry_id = %s WHERE "index" = 7', [second.pk])
    report = verify_trail()
    problem = first_problem(report)
    assert (problem.kind, problem.leaf_index, problem.entry_id, problem.related_entry_id) == (
        REORDERED, 7, second.pk, first.pk)
    assert [p.kind for p in report.problems] == [REORDERED]


def rewrite_suffix_and_resign(trail, start):
    """An attacker with the database rewrites entries from leaf `start` on, recomputes their leaves, the nodes
    and the heads after `start`, and signs those heads with a key of their own."""
    forger = crypto.signer_from_pem("ed25519", crypto.generate_private_key_pem("ed25519"))
    with as_dba():
        for entry in trail[start:]:
            execute("UPDATE audit_auditentry SET actor_name = %s, detail = %s WHERE id = %s",
                    ["someone else", '{"n": -1}', entry.pk])
        rows = [(entry_id, leaf_hash_of(entry_id) if index >= start else digest)
                for index, entry_id, digest in stored_leaves()]
        rewrite_leaves(rows)
        TreeHead.objects.filter(tree_size__gt=start).delete()
        SigningKeyRecord.objects.create(key_id=forger.key_id, algorithm=forger.algorithm,
                                        public_key=forger.public_key)
        hashes = [bytes(digest) for _, digest in rows]
        now = timezone.now().replace(microsecond=0)
        for size in range(start + 10, len(rows) + 1, 10):
            root = merkle.root_from_leaves(h(), hashes[:size])
            TreeHead.objects.create(tree_size=size, root_hash=root, timestamp=now, hash_algorithm="sha256",
                                    signature_algorithm=forger.algorithm, key_id=forger.key_id,
                                    signature=forger.sign(tree_head_message(size, root, now, "sha256")))
    return forger


def test_a_suffix_rewritten_and_re_signed_with_another_key_is_caught(trail):
    forger = rewrite_suffix_and_resign(trail, 30)
    report = verify_trail()
    problem = first_problem(report)
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (MODIFIED, trail[30].pk, 30)
    kinds = {(p.kind, p.tree_size) for p in report.problems}
    # The witness still holds the heads of 40 and 50 the platform signed; the new ones use an unknown key.
    assert {(WITNESS_MISMATCH, 40), (WITNESS_MISMATCH, 50), (UNTRUSTED_KEY, 40), (UNTRUSTED_KEY, 50)} <= kinds
    assert any(forger.key_id in p.message for p in report.problems)


def test_a_re_signed_suffix_is_caught_by_the_key_even_without_a_witness(trail):
    rewrite_suffix_and_resign(trail, 30)
    report = verify_trail(witness_paths=[])
    assert not report.ok
    assert {p.tree_size for p in report.problems if p.kind == UNTRUSTED_KEY} == {40, 50}


def test_an_entry_rewritten_with_its_leaf_is_caught_against_the_signed_head(trail):
    victim = trail[23]
    with as_dba():
        execute("UPDATE audit_auditentry SET actor_name = %s WHERE id = %s", ["someone else", victim.pk])
        execute('UPDATE audit_auditleaf SET leaf_hash = %s WHERE "index" = 23', [leaf_hash_of(victim.pk)])
    report = verify_trail()
    problem = first_problem(report)
    assert problem.kind == MODIFIED
    # The stored subtree over leaves 22-23 still holds the original hashes: the change is one of those two.
    assert problem.leaf_index in (22, 23)
    assert any(p.kind == NODE_MISMATCH for p in report.problems)


def test_a_truncated_tail_is_caught_as_removed(trail):
    with as_dba():
        for entry in trail[47:]:
            AuditLeaf.objects.filter(entry_id=entry.pk).delete()
            AuditEntry.objects.filter(pk=entry.pk).delete()
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (REMOVED, trail[47].pk, 47)


# --- heads, keys and the witness -----------------------------------------------------------------------------------


def test_a_head_with_a_bad_signature_is_caught(trail):
    with as_dba():
        head = TreeHead.objects.get(tree_size=20)
        signature = bytearray(bytes(head.signature))
        signature[0] ^= 1
        execute("UPDATE audit_treehead SET signature = %s WHERE tree_size = 20", [bytes(signature)])
    report = verify_trail()
    assert [(p.kind, p.tree_size) for p in report.problems if p.kind == BAD_SIGNATURE] == [(BAD_SIGNATURE, 20)]
    assert any(p.kind == WITNESS_MISMATCH and p.tree_size == 20 for p in report.problems)


def test_a_head_deleted_from_the_database_is_caught_by_the_witness(trail):
    with as_dba():
        TreeHead.objects.filter(tree_size=30).delete()
    report = verify_trail()
    assert [(p.kind, p.tree_size) for p in report.problems] == [(WITNESS_MISMATCH, 30)]


def test_a_changed_witness_copy_is_caught(trail, settings):
    path = settings.AUDIT_WITNESS
    with open(path) as handle:
        heads = [json.loads(line) for line in handle]
    heads[1]["root_hash"] = "00" * 32
    with open(path, "w") as handle:
        handle.writelines(json.dumps(head) + "\n" for head in heads)
    report = verify_trail()
    assert {(p.kind, p.tree_size) for p in report.problems} == {(WITNESS_MISMATCH, 20), (BAD_SIGNATURE, 20)}


def test_an_unsequenced_entry_is_a_warning_until_later_entries_pass_it(trail):
    with transaction.atomic():
        waiting = AuditEntry.objects.create(actor_kind="system", action="test.waiting",
                                            occurred_at=timezone.now() - dt.timedelta(minutes=5))
    report = verify_trail()
    assert report.ok
    assert [(w.kind, w.entry_id) for w in report.warnings if w.kind == NOT_SEQUENCED] == [
        (NOT_SEQUENCED, waiting.pk)]


def test_a_witness_url_is_skipped_with_a_warning(trail, settings):
    settings.AUDIT_WITNESS = "https://witness.example/heads"
    report = verify_trail()
    assert report.ok
    assert report.witness_heads_checked == 0
    assert any("URL" in w.message for w in report.warnings)


def test_a_witness_file_given_explicitly_is_read(trail, settings, tmp_path):
    copy = tmp_path / "elsewhere.jsonl"
    with open(settings.AUDIT_WITNESS) as handle:
        copy.write_text(handle.read())
    settings.AUDIT_WITNESS = str(tmp_path / "none.jsonl")
    report = verify_trail(witness_paths=[copy])
    assert report.ok and report.witness_heads_checked == 5


def test_a_rotated_key_is_trusted_through_the_witness_or_when_named(trail, settings, tmp_path):
    old_key = crypto.load_signer().key_id
    crypto.key_path("ed25519").unlink()
    crypto.clear_signer_cache()
    for i in range(3):
        record_alone("test.after_rotation", SYSTEM, object_id=i)
    Sequencer().step()
    assert crypto.load_signer().key_id != old_key
    # The witness has seen the old key sign heads: it vouches for it.
    assert verify_trail().ok
    # Without a witness the old key is unknown, unless the operator names it.
    without = verify_trail(witness_paths=[])
    assert {p.tree_size for p in without.problems if p.kind == UNTRUSTED_KEY} == {10, 20, 30, 40, 50}
    assert verify_trail(witness_paths=[], trusted_key_ids=[old_key]).ok


def test_entries_read_far_ahead_of_their_leaves_are_found_again():
    from zhengtong.audit.verify import _EntryStream

    entries = [record_alone("test.event", SYSTEM, object_id=i) for i in range(30)]
    stream = _EntryStream(chunk_size=4, limit=5)
    assert stream.get(entries[29].pk)["id"] == entries[29].pk  # the 29 before it went through the small buffer
    assert stream.get(entries[0].pk)["id"] == entries[0].pk  # dropped from the buffer: read again
    assert stream.get(entries[28].pk)["id"] == entries[28].pk  # still in the buffer
    assert stream.get(10_000) is None


def test_a_witness_url_passed_explicitly_is_skipped_with_a_warning(trail):
    report = verify_trail(witness_paths=["https://witness.example/heads"])
    assert report.ok and report.witness_heads_checked == 0
    assert any("URL" in w.message for w in report.warnings)


def test_the_gm_suite_trail_verifies_and_its_tampering_is_caught(settings):
    settings.CRYPTO_SUITE = "gm"
    sequencer = Sequencer()
    entries = []
    for _ in range(2):
        entries += [record_alone("test.gm", SYSTEM, object_id=i) for i in range(5)]
        sequencer.step()
    assert TreeHead.objects.filter(hash_algorithm="sm3", signature_algorithm="sm2").count() == 2
    assert verify_trail().ok
    with as_dba():
        execute("UPDATE audit_auditentry SET object_id = %s WHERE id = %s", ["9", entries[6].pk])
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (MODIFIED, entries[6].pk, 6)


@pytest.mark.django_db(transaction=True)
def test_verify_reads_one_snapshot_outside_a_transaction():
    sequencer = Sequencer()
    entries = []
    for _ in range(3):
        entries += [record_alone("test.committed", SYSTEM, object_id=i) for i in range(7)]
        sequencer.step()
    assert not connection.in_atomic_block
    report = verify_trail()
    assert report.ok, [p.line() for p in report.problems]
    assert (report.entries_checked, report.heads_checked, report.witness_heads_checked) == (21, 3, 3)
    with as_dba():
        execute("UPDATE audit_auditentry SET action = %s WHERE id = %s", ["test.changed", entries[9].pk])
    problem = first_problem(verify_trail())
    assert (problem.kind, problem.entry_id, problem.leaf_index) == (MODIFIED, entries[9].pk, 9)


# --- the command ---------------------------------------------------------------------------------------------------


def test_the_command_says_ok_for_a_clean_trail(trail, capsys):
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert "OK" in out.getvalue()
    assert "50 leaves" in out.getvalue()
    assert "50/50" in capsys.readouterr().err  # the progress bar, on stderr


def test_the_command_exits_1_and_names_the_first_bad_entry(trail):
    victim = trail[23]
    with as_dba():
        execute("UPDATE audit_auditentry SET actor_name = %s WHERE id = %s", ["systen", victim.pk])
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_status:
        call_command("audit", "verify", "--quiet", stdout=out)
    assert exit_status.value.code == 1
    assert f"FAILED: entry #{victim.pk} (leaf 23) modified:" in out.getvalue()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths")
def test_the_installed_command_returns_a_non_zero_status(tmp_path):
    """End to end through `python -m zhengtong` on its own SQLite database."""
    environ = {**os.environ, "ZHENGTONG_VAR_DIR": str(tmp_path)}
    for name in ("DATABASE_URL", "ZHENGTONG_AUDIT_WITNESS", "ZHENGTONG_SECRET_KEY"):
        environ.pop(name, None)

    def zhengtong(*args):
        return subprocess.run([sys.executable, "-m", "zhengtong", *args], env=environ, capture_output=True,
                              text=True, timeout=300)

    assert zhengtong("migrate", "--verbosity", "0").returncode == 0
    setup = ("from zhengtong.audit.actions import SYSTEM, record_alone\n"
             "from zhengtong.audit.sequencer import Sequencer\n"
             "[record_alone('test.cli', SYSTEM, object_id=i) for i in range(5)]\n"
             "Sequencer().step()\n")
    assert zhengtong("shell", "-c", setup).returncode == 0
    clean = zhengtong("audit", "verify", "--quiet")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    database = sqlite3.connect(tmp_path / "zhengtong.sqlite3")
    database.execute("DROP TRIGGER audit_auditentry_no_update")
    database.execute("UPDATE audit_auditentry SET actor_name = 'x' WHERE id = (SELECT entry_id FROM audit_auditleaf "
                     "WHERE \"index\" = 2)")
    database.commit()
    database.close()
    tampered = zhengtong("audit", "verify", "--quiet")
    assert tampered.returncode == 1
    assert "(leaf 2) modified" in tampered.stdout


# --- the archive record and the subject index ----------------------------------------------------------------------


def test_a_hand_made_archive_record_does_not_hide_deleted_entries(trail):
    # The DBA inserts an archive record (allowed: inserts are) and deletes entries the trigger now lets go.
    with as_dba():
        ArchiveBatch.objects.create(last_entry_id=trail[-1].pk, last_leaf_index=49, file_name="/nowhere",
                                    file_digest="0" * 64, tree_size=50)
        AuditEntry.objects.filter(pk=trail[3].pk).delete()
    report = verify_trail(progress=False)
    kinds = [problem.kind for problem in report.problems]
    assert FORGED_ARCHIVE in kinds
    removed = next(problem for problem in report.problems if problem.kind == REMOVED)
    assert removed.entry_id == trail[3].pk


def test_a_removed_subject_row_is_caught(trail):
    with as_dba():
        AuditSubject.objects.filter(entry_id=trail[7].pk).delete()
    report = verify_trail(progress=False)
    assert [problem.kind for problem in report.problems] == [SUBJECT_INDEX]


def test_a_subject_row_added_by_hand_is_caught(trail):
    AuditSubject.objects.create(entry_id=trail[7].pk, subject_hash="f" * 64)
    assert [problem.kind for problem in verify_trail(progress=False).problems] == [SUBJECT_INDEX]
