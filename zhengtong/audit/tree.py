"""The Merkle tree as stored in the database: leaves in AuditLeaf, complete subtrees in MerkleNode."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from functools import reduce
from operator import or_

from django.db.models import Q

from zhengtong.audit import merkle
from zhengtong.audit.models import AuditLeaf, MerkleNode, TreeHead
from zhengtong.core import crypto

NodeKey = tuple[int, int]


def hash_function(algorithm: str | None = None) -> merkle.HashFn:
    """The tree's hash: the algorithm recorded in its tree heads, or the crypto suite's for a new tree."""
    return functools.partial(crypto.digest, suite_name=crypto.SUITE_OF_HASH[algorithm or tree_hash_algorithm()])


def tree_hash_algorithm() -> str:
    # A tree keeps the hash it started with, even if the operator later changes the crypto suite.
    first = TreeHead.objects.order_by("tree_size").values_list("hash_algorithm", flat=True).first()
    return first or crypto.hash_name()


class DatabaseNodes:
    """merkle.NodeReader over the database."""

    def get(self, level: int, index: int) -> bytes:
        return self.get_many([(level, index)])[(level, index)]

    def get_many(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        wanted = set(keys)
        found: dict[NodeKey, bytes] = {}
        leaves = [index for level, index in wanted if level == 0]
        if leaves:
            for index, digest in AuditLeaf.objects.filter(index__in=leaves).values_list("index", "leaf_hash"):
                found[(0, index)] = bytes(digest)
        inner = [Q(level=level, index=index) for level, index in wanted if level > 0]
        if inner:
            for level, index, digest in MerkleNode.objects.filter(reduce(or_, inner)).values_list(
                    "level", "index", "hash"):
                found[(level, index)] = bytes(digest)
        missing = wanted - set(found)
        if missing:
            raise merkle.MissingNodeError(sorted(missing)[0])
        return found


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def timestamp_milliseconds(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def tree_head_message(tree_size: int, root_hash: bytes, timestamp: dt.datetime, hash_algorithm: str) -> bytes:
    """The bytes a tree head's signature covers."""
    milliseconds = timestamp_milliseconds(timestamp)
    return (f"zhengtong-audit-tree-head/1\n{hash_algorithm}\n{tree_size}\n{root_hash.hex()}\n{milliseconds}\n"
            .encode())


def head_signature_valid(head: TreeHead, public_key: bytes) -> bool:
    message = tree_head_message(head.tree_size, bytes(head.root_hash), head.timestamp, head.hash_algorithm)
    return crypto.verify_signature(head.signature_algorithm, public_key, message, bytes(head.signature))
