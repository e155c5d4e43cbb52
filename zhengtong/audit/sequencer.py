"""The sequencer: gives committed audit entries their leaves in the Merkle tree and signs tree heads.

Writers only insert entries, so concurrent transactions never wait on each other for a hash chain. The
sequencer, running in `zhengtong worker`, picks up entries after they commit, in id order, appends their leaf
hashes, stores the complete subtrees they finish, and signs a tree head for the new size — several times a
second while entries arrive. Only one sequencer can extend the tree: leaf indexes are primary keys, so a second
one's batch fails to insert and it reloads the tree.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import structlog
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import Max
from django.utils import timezone

from zhengtong.audit import canonical, merkle, witness
from zhengtong.audit.models import (
    AuditEntry,
    AuditLeaf,
    MerkleNode,
    SequencerStatus,
    SigningKeyRecord,
    TreeHead,
)
from zhengtong.audit.tree import DatabaseNodes, hash_function, tree_hash_algorithm, tree_head_message
from zhengtong.core import crypto

log = structlog.get_logger("zhengtong.audit.sequencer")

BATCH = 5000
INTERVAL_SECONDS = 0.2
HEARTBEAT_SECONDS = 2.0
# An entry can commit after entries with higher ids (its transaction began first). Entries younger than this
# are looked for again on every pass; older gaps are rechecked by a full scan every FULL_SCAN_SECONDS.
GRACE = dt.timedelta(seconds=30)
FULL_SCAN_SECONDS = 30.0


class Sequencer:
    def __init__(self) -> None:
        self._appender: merkle.Appender | None = None
        self._hash_algorithm = ""
        self._low_water = 0  # every entry with an id at or below this is known to be sequenced
        self._last_full_scan = float("-inf")
        self._last_heartbeat = float("-inf")

    def _tree(self) -> merkle.Appender:
        if self._appender is None:
            self._hash_algorithm = tree_hash_algorithm()
            last = AuditLeaf.objects.aggregate(last=Max("index"))["last"]
            size = 0 if last is None else last + 1
            self._appender = merkle.Appender.from_nodes(hash_function(self._hash_algorithm), DatabaseNodes(), size)
        return self._appender

    def step(self) -> int:
        """Sequence what has committed since the last step; returns how many entries were added."""
        tree = self._tree()
        full_scan = time.monotonic() - self._last_full_scan >= FULL_SCAN_SECONDS
        after = 0 if full_scan else self._low_water
        rows = list(
            AuditEntry.objects.filter(id__gt=after, leaf__isnull=True).order_by("id")
            .values(*canonical.LEAF_FIELDS)[:BATCH]
        )
        if full_scan and len(rows) < BATCH:
            self._last_full_scan = time.monotonic()
        if not rows:
            self._beat(tree.size)
            return 0
        size_before, frontier_before = tree.size, tree.frontier
        leaves: list[AuditLeaf] = []
        nodes: list[MerkleNode] = []
        for row in rows:
            leaf = merkle.leaf_hash(tree.h, canonical.leaf_data_from_values(row))
            leaves.append(AuditLeaf(index=tree.size, entry_id=row["id"], leaf_hash=leaf))
            nodes.extend(MerkleNode(level=level, index=index, hash=digest)
                         for level, index, digest in tree.append(leaf))
        try:
            head = self._commit(tree, leaves, nodes)
        except IntegrityError:
            # Another sequencer extended the tree first; start again from what is stored.
            log.warning("tree extended elsewhere; reloading", size=size_before)
            self._appender = None
            return 0
        except BaseException:
            self._appender = merkle.Appender(tree.h, size_before, frontier_before)
            raise
        witness.export(head)
        settled = timezone.now() - GRACE
        settled_ids = [row["id"] for row in rows if row["occurred_at"] < settled]
        if settled_ids:
            self._low_water = max(self._low_water, max(settled_ids))
        return len(rows)

    def _commit(self, tree: merkle.Appender, leaves: list[AuditLeaf], nodes: list[MerkleNode]) -> TreeHead:
        signer = crypto.load_signer()
        now = timezone.now()
        timestamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
        root = tree.root()
        message = tree_head_message(tree.size, root, timestamp, self._hash_algorithm)
        with transaction.atomic():
            AuditLeaf.objects.bulk_create(leaves)
            MerkleNode.objects.bulk_create(nodes)
            if not SigningKeyRecord.objects.filter(key_id=signer.key_id).exists():
                SigningKeyRecord.objects.create(key_id=signer.key_id, algorithm=signer.algorithm,
                                                public_key=signer.public_key)
            head = TreeHead.objects.create(
                tree_size=tree.size, root_hash=root, timestamp=timestamp, hash_algorithm=self._hash_algorithm,
                signature_algorithm=signer.algorithm, key_id=signer.key_id, signature=signer.sign(message),
            )
            self._beat(tree.size, force=True)
        return head

    def _beat(self, size: int, *, force: bool = False) -> None:
        if force or time.monotonic() - self._last_heartbeat >= HEARTBEAT_SECONDS:
            SequencerStatus.objects.update_or_create(id=1, defaults={"heartbeat_at": timezone.now(),
                                                                      "tree_size": size})
            self._last_heartbeat = time.monotonic()

    def run(self, stop: threading.Event, interval: float = INTERVAL_SECONDS) -> None:
        """Sequence until `stop` is set; errors are logged and retried, never fatal to the worker."""
        while not stop.is_set():
            added = 0
            try:
                close_old_connections()
                added = self.step()
            except Exception:
                log.exception("sequencer step failed")
                self._appender = None
            if added < BATCH:
                stop.wait(interval)
