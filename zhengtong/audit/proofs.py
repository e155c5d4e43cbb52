"""Reads that prove the trail: signed tree heads, inclusion and consistency proofs, and their checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from zhengtong.audit import canonical, merkle
from zhengtong.audit.models import AuditEntry, AuditLeaf, SequencerStatus, SigningKeyRecord, TreeHead
from zhengtong.audit.tree import DatabaseNodes, hash_function, head_signature_valid

HEARTBEAT_FRESH = dt.timedelta(seconds=10)


def latest_tree_head() -> TreeHead | None:
    return TreeHead.objects.order_by("-tree_size").first()


def sequencer_running() -> bool:
    """Whether the sequencer (in `zhengtong worker`) has reported in the last few seconds."""
    status = SequencerStatus.objects.filter(id=1).first()
    return status is not None and timezone.now() - status.heartbeat_at <= HEARTBEAT_FRESH


def signature_valid(head: TreeHead) -> bool:
    key = SigningKeyRecord.objects.filter(key_id=head.key_id).first()
    return key is not None and head_signature_valid(head, bytes(key.public_key))


def inclusion_proof(leaf_index: int, tree_size: int, hash_algorithm: str | None = None) -> list[bytes]:
    return merkle.inclusion_proof(hash_function(hash_algorithm), DatabaseNodes(), leaf_index, tree_size)


def consistency_proof(old_size: int, new_size: int, hash_algorithm: str | None = None) -> list[bytes]:
    return merkle.consistency_proof(hash_function(hash_algorithm), DatabaseNodes(), old_size, new_size)


@dataclass(frozen=True)
class InclusionCheck:
    """How an entry stands against the latest signed tree head.

    status: "verified" (its stored form hashes to a leaf that the head's root includes, and the head's signature
    holds), "pending" (not yet in a signed head) or "failed" (the entry, its leaf or the head do not agree).
    """

    status: str
    leaf_index: int | None = None
    tree_size: int | None = None
    proof: list[bytes] = field(default_factory=list)
    root_hash: bytes = b""
    head: TreeHead | None = None
    reason: str = ""


def entry_inclusion(entry_id: int) -> InclusionCheck:
    head = latest_tree_head()
    leaf = AuditLeaf.objects.filter(entry_id=entry_id).first()
    if leaf is None or head is None or leaf.index >= head.tree_size:
        return InclusionCheck("pending", leaf.index if leaf else None, head=head)
    h = hash_function(head.hash_algorithm)
    values = AuditEntry.objects.filter(pk=entry_id).values(*canonical.LEAF_FIELDS).first()
    root = bytes(head.root_hash)
    if values is None:
        return InclusionCheck("failed", leaf.index, head.tree_size, root_hash=root, head=head,
                              reason="the entry is missing")
    recomputed = merkle.leaf_hash(h, canonical.leaf_data_from_values(values))
    proof = merkle.inclusion_proof(h, DatabaseNodes(), leaf.index, head.tree_size)
    if recomputed != bytes(leaf.leaf_hash):
        reason = "the entry no longer matches the hash it was sequenced with"
    elif not merkle.verify_inclusion(h, leaf.index, head.tree_size, recomputed, proof, root):
        reason = "the inclusion proof does not lead to the signed root"
    elif not signature_valid(head):
        reason = "the tree head's signature does not verify"
    else:
        return InclusionCheck("verified", leaf.index, head.tree_size, proof, root, head)
    return InclusionCheck("failed", leaf.index, head.tree_size, proof, root, head, reason)
