"""The sequencer puts committed entries into the Merkle tree and signs tree heads that prove them."""

import json
import threading

import pytest
from django.db import connection, connections, transaction

from zhengtong.audit import merkle, proofs
from zhengtong.audit.actions import SYSTEM, record, record_alone
from zhengtong.audit.models import AuditLeaf, MerkleNode, TreeHead
from zhengtong.audit.sequencer import Sequencer
from zhengtong.audit.tree import hash_function

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keys_and_witness")]



def root_of_stored_leaves(head):
    """The Merkle tree hash of every stored leaf, computed without the stored nodes the sequencer wrote."""
    leaf_hashes = [bytes(x) for x in AuditLeaf.objects.order_by("index").values_list("leaf_hash", flat=True)]
    return merkle.root_from_leaves(hash_function(head.hash_algorithm), leaf_hashes)


def write(n, action="test.event"):
    return [record_alone(action, SYSTEM, object_id=str(i), subjects=[f"S{i}"]) for i in range(n)]


def test_entries_get_leaves_in_id_order_and_a_signed_head():
    entries = write(5)
    assert Sequencer().step() == 5
    leaves = list(AuditLeaf.objects.order_by("index").values_list("entry_id", flat=True))
    assert leaves == [e.pk for e in entries]
    head = proofs.latest_tree_head()
    assert head.tree_size == 5
    assert proofs.signature_valid(head)
    assert bytes(head.root_hash) == root_of_stored_leaves(head)


def test_a_second_step_extends_the_tree_consistently():
    write(3)
    sequencer = Sequencer()
    sequencer.step()
    write(6)
    assert sequencer.step() == 6
    first, second = TreeHead.objects.order_by("tree_size")
    h = hash_function(second.hash_algorithm)
    proof = proofs.consistency_proof(3, 9)
    assert merkle.verify_consistency(h, 3, 9, bytes(first.root_hash), bytes(second.root_hash), proof)
    # Complete subtrees are stored as they are finished: 9 leaves hold nodes 1/0..3, 2/0..1 and 3/0.
    assert MerkleNode.objects.count() == 4 + 2 + 1


def test_a_restarted_sequencer_resumes_the_same_tree():
    write(7)
    Sequencer().step()
    write(2)
    assert Sequencer().step() == 2
    head = proofs.latest_tree_head()
    assert bytes(head.root_hash) == root_of_stored_leaves(head)


def test_nothing_new_means_no_new_head():
    write(2)
    sequencer = Sequencer()
    sequencer.step()
    assert sequencer.step() == 0
    assert TreeHead.objects.count() == 1


def test_every_entry_is_verifiably_included():
    entries = write(11)
    Sequencer().step()
    for entry in entries:
        check = proofs.entry_inclusion(entry.pk)
        assert check.status == "verified", check.reason
        assert check.tree_size == 11


def test_an_entry_not_yet_sequenced_is_pending():
    (entry,) = write(1)
    assert proofs.entry_inclusion(entry.pk).status == "pending"


def test_heads_are_exported_to_the_witness(settings):
    write(2)
    sequencer = Sequencer()
    sequencer.step()
    write(1)
    sequencer.step()
    with open(settings.AUDIT_WITNESS) as handle:
        exported = [json.loads(line) for line in handle]
    assert [head["tree_size"] for head in exported] == [2, 3]
    stored = TreeHead.objects.get(tree_size=3)
    assert exported[1]["root_hash"] == bytes(stored.root_hash).hex()


def test_the_sequencer_reports_that_it_runs():
    assert not proofs.sequencer_running()
    Sequencer().step()
    assert proofs.sequencer_running()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite lets one writer at a time")
@pytest.mark.django_db(transaction=True)
def test_an_entry_that_commits_after_a_higher_id_is_still_sequenced():
    took_id, may_commit = threading.Event(), threading.Event()
    slow_ids = []

    def slow_writer():
        try:
            with transaction.atomic():
                slow_ids.append(record("test.slow_transaction", SYSTEM).pk)
                took_id.set()
                may_commit.wait(10)
        finally:
            connections.close_all()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    took_id.wait(10)
    quick = record_alone("test.quick", SYSTEM)
    sequencer = Sequencer()
    sequencer.step()
    assert list(AuditLeaf.objects.values_list("entry_id", flat=True)) == [quick.pk]
    may_commit.set()
    writer.join(10)
    assert slow_ids[0] < quick.pk
    sequencer.step()
    assert list(AuditLeaf.objects.order_by("index").values_list("entry_id", flat=True)) == [quick.pk, slow_ids[0]]


@pytest.mark.parametrize("suite", ["intl", "gm"])
def test_hash_and_signature_follow_the_crypto_suite(settings, suite):
    settings.CRYPTO_SUITE = suite
    write(3)
    Sequencer().step()
    head = proofs.latest_tree_head()
    assert (head.hash_algorithm, head.signature_algorithm) == (
        {"intl": ("sha256", "ed25519"), "gm": ("sm3", "sm2")}[suite])
    assert proofs.signature_valid(head)
