"""The audit API: anyone can check signed tree heads and proofs; only auditors read the leaves' entries."""

import datetime as dt
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission

from zhengtong.audit import merkle
from zhengtong.audit.actions import SYSTEM, record_alone
from zhengtong.audit.models import AuditEntry, AuditLeaf, TreeHead
from zhengtong.audit.sequencer import Sequencer
from zhengtong.audit.tree import EPOCH, hash_function, tree_head_message
from zhengtong.core import crypto

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keys_and_witness")]
API = "/api/v1/audit"



@dataclass
class Trail:
    entries: list
    base: int  # the leaf index of entries[0]
    first: int  # the size of the older signed head
    size: int  # the size of the latest signed head


@pytest.fixture
def trail():
    """13 entries in two steps after whatever the test wrote before (a staff account, say): signed heads at
    base + 6 and base + 13."""
    sequencer = Sequencer()
    sequencer.step()
    base = AuditLeaf.objects.count()
    entries = [record_alone("test.event", SYSTEM, object_id=i, subjects=[f"S{i}"]) for i in range(6)]
    sequencer.step()
    entries += [record_alone("test.event", SYSTEM, object_id=i) for i in range(6, 13)]
    sequencer.step()
    return Trail(entries, base, base + 6, base + 13)


@pytest.fixture
def auditor_client(client, make_staff):
    user = make_staff()
    user.user_permissions.add(Permission.objects.get(codename="view_auditentry", content_type__app_label="audit"))
    client.force_login(user)
    return client


def get(client, path, **params):
    return client.get(API + path, params, HTTP_ACCEPT_LANGUAGE="en")


def assert_error(response, status, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    if field is not None:
        assert [d["field"] for d in body["details"]] == [field], body
    return body


def h():
    return hash_function("sha256")


# --- tree heads ----------------------------------------------------------------------------------------------------


def test_the_latest_head_is_public_and_its_signature_verifies(client, trail):
    response = get(client, "/tree-heads/latest")
    assert response.status_code == 200, response.content
    head = response.json()
    assert head["tree_size"] == trail.size
    assert (head["hash_algorithm"], head["signature_algorithm"]) == ("sha256", "ed25519")
    assert head["sequencer_running"] is True
    root = bytes.fromhex(head["root_hash"])
    moment = EPOCH + dt.timedelta(milliseconds=head["timestamp"])
    message = tree_head_message(trail.size, root, moment, head["hash_algorithm"])
    public_key = bytes.fromhex(head["public_key"])
    assert crypto.key_id_for("ed25519", public_key) == head["key_id"]
    assert crypto.verify_signature("ed25519", public_key, message, bytes.fromhex(head["signature"]))


def test_without_a_sequenced_head_the_latest_is_not_found(client):
    assert_error(get(client, "/tree-heads/latest"), 404)


def test_a_head_by_size_and_an_unknown_size(client, trail):
    response = get(client, f"/tree-heads/{trail.first}")
    assert response.status_code == 200
    assert response.json()["root_hash"] == bytes(TreeHead.objects.get(tree_size=trail.first).root_hash).hex()
    assert_error(get(client, f"/tree-heads/{trail.first + 1}"), 404)
    assert_error(get(client, "/tree-heads/0"), 422, "size")
    assert_error(get(client, "/tree-heads/abc"), 422, "size")


# --- inclusion proofs ----------------------------------------------------------------------------------------------


def test_an_entrys_inclusion_proof_verifies_against_the_latest_head(client, trail):
    latest = get(client, "/tree-heads/latest").json()
    for position, entry in enumerate(trail.entries, start=trail.base):
        response = get(client, "/proofs/inclusion", entry_id=entry.pk)
        assert response.status_code == 200, response.content
        proof = response.json()
        assert (proof["entry_id"], proof["leaf_index"], proof["tree_size"]) == (entry.pk, position, trail.size)
        assert proof["root_hash"] == latest["root_hash"]
        assert merkle.verify_inclusion(h(), position, trail.size, bytes.fromhex(proof["leaf_hash"]),
                                       [bytes.fromhex(p) for p in proof["audit_path"]],
                                       bytes.fromhex(latest["root_hash"]))


def test_a_leafs_inclusion_proof_in_an_older_head(client, trail):
    older = get(client, f"/tree-heads/{trail.first}").json()
    leaf = trail.base + 4
    response = get(client, "/proofs/inclusion", leaf_index=leaf, tree_size=trail.first)
    assert response.status_code == 200, response.content
    proof = response.json()
    assert proof["entry_id"] == trail.entries[4].pk
    assert merkle.verify_inclusion(h(), leaf, trail.first, bytes.fromhex(proof["leaf_hash"]),
                                   [bytes.fromhex(p) for p in proof["audit_path"]], bytes.fromhex(older["root_hash"]))
    # leaf_index alone means the latest head.
    assert get(client, "/proofs/inclusion", leaf_index=trail.size - 1).json()["tree_size"] == trail.size


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "entry_id"),
        ({"entry_id": 1, "leaf_index": 1}, "entry_id"),
        ({"leaf_index": "first"}, "leaf_index"),
        ({"leaf_index": -1}, "leaf_index"),
        ({"leaf_index": "x"}, "leaf_index"),
        ({"entry_id": "one"}, "entry_id"),
        ({"leaf_index": 0, "tree_size": 0}, "tree_size"),
    ],
)
def test_bad_inclusion_parameters_are_named(client, trail, params, field):
    if params.get("leaf_index") == "first":
        params = {"leaf_index": trail.first, "tree_size": trail.first}
    assert_error(get(client, "/proofs/inclusion", **params), 422, field)


def test_an_entry_after_the_requested_size_is_named(client, trail):
    assert_error(get(client, "/proofs/inclusion", entry_id=trail.entries[10].pk, tree_size=trail.first), 422,
                 "tree_size")


def test_unknown_entries_and_sizes_are_not_found(client, trail):
    assert_error(get(client, "/proofs/inclusion", entry_id=10_000), 404)
    assert_error(get(client, "/proofs/inclusion", leaf_index=1, tree_size=trail.first + 1), 404)
    pending = record_alone("test.pending", SYSTEM)
    body = assert_error(get(client, "/proofs/inclusion", entry_id=pending.pk), 404)
    assert "not yet" in body["message"]


# --- consistency proofs --------------------------------------------------------------------------------------------


def test_a_consistency_proof_verifies_between_two_heads(client, trail):
    response = get(client, "/proofs/consistency", first=trail.first, second=trail.size)
    assert response.status_code == 200, response.content
    proof = response.json()
    old, new = TreeHead.objects.get(tree_size=trail.first), TreeHead.objects.get(tree_size=trail.size)
    assert proof["first_root_hash"] == bytes(old.root_hash).hex()
    assert merkle.verify_consistency(h(), trail.first, trail.size, bytes(old.root_hash), bytes(new.root_hash),
                                     [bytes.fromhex(p) for p in proof["consistency_path"]])
    same = get(client, "/proofs/consistency", first=trail.size, second=trail.size).json()
    assert same["consistency_path"] == []


def test_bad_consistency_parameters(client, trail):
    assert_error(get(client, "/proofs/consistency", first=trail.size, second=trail.first), 422, "first")
    assert_error(get(client, "/proofs/consistency", first=0, second=trail.first), 422, "first")
    assert_error(get(client, "/proofs/consistency", first=trail.first), 422, "second")
    assert_error(get(client, "/proofs/consistency", first=trail.first, second=trail.size + 1), 404)
    assert_error(get(client, "/proofs/consistency", first=trail.first - 1, second=trail.size), 404)


# --- leaves and their entries, for auditors ------------------------------------------------------------------------


def test_auditors_read_leaves_and_can_recompute_their_hashes(auditor_client, trail):
    start, end = trail.base + 2, trail.base + 9
    response = get(auditor_client, "/entries", start=start, end=end)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["start"], body["end"], body["tree_size"]) == (start, end, trail.size)
    assert [leaf["leaf_index"] for leaf in body["entries"]] == list(range(start, end))
    for leaf, entry in zip(body["entries"], trail.entries[2:9], strict=True):
        assert leaf["entry_id"] == entry.pk
        assert merkle.leaf_hash(h(), leaf["data"].encode()).hex() == leaf["leaf_hash"]
        assert leaf["archived"] is False
    # The read is itself on the record.
    assert AuditEntry.objects.filter(action="audit.read_leaves").count() == 1


def test_the_range_is_cut_at_the_signed_tree(auditor_client, trail):
    record_alone("test.unsequenced", SYSTEM)
    body = get(auditor_client, "/entries", start=trail.size - 3, end=trail.size + 100).json()
    assert body["end"] == trail.size
    assert len(body["entries"]) == 3
    assert_error(get(auditor_client, "/entries", start=trail.size, end=trail.size + 5), 404)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": -1, "end": 5}, "start"),
        ({"start": 5, "end": 5}, "end"),
        ({"start": 0, "end": 1001}, "end"),
        ({"start": 0}, "end"),
        ({"start": "a", "end": 3}, "start"),
    ],
)
def test_bad_ranges_are_named(auditor_client, trail, params, field):
    assert_error(get(auditor_client, "/entries", **params), 422, field)


def test_leaves_need_a_login_and_the_auditors_permission(client, make_staff, trail):
    assert_error(get(client, "/entries", start=0, end=3), 401)
    client.force_login(make_staff())
    assert_error(get(client, "/entries", start=0, end=3), 403)


# --- keys ----------------------------------------------------------------------------------------------------------


def test_the_keys_that_signed_heads_are_public(client, trail):
    response = get(client, "/keys")
    assert response.status_code == 200
    (key,) = response.json()
    signer = crypto.load_signer()
    assert (key["key_id"], key["algorithm"], key["public_key"]) == (signer.key_id, "ed25519",
                                                                     signer.public_key.hex())
    assert key["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert key["signed_latest_head"] is True
