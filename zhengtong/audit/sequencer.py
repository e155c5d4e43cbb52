"""The sequencer: gives committed audit entries their leaves in the Merkle tree and signs tree heads.

Writers only insert entries, so concurrent transactions never wait on each other for a hash chain. The
sequencer, running in `zhengtong worker`, picks up entries after they commit, in id order, appends their leaf
hashes, stores the complete subtrees they finish, and signs a tree head for the new size — several times a
second while entries arrive. Only one sequencer can extend the tree: leaf indexes are primary keys, so a second
one's batch fails to insert and it reloads the tree.
"""

from __future__ import annotations

import threading
import time

import structlog
from django.db import IntegrityError, close_old_connections, connection, transaction
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
# Ids are taken when a transaction inserts, so an entry can commit after entries with higher ids. Ids skipped
# over are kept as holes and looked up again each step (by primary key, cheap) until they appear or a
# transaction could no longer be open; a full scan at start and every FULL_SCAN_SECONDS is the safety net.
HOLE_SECONDS = 600.0
MAX_HOLES = 10_000
FULL_SCAN_SECONDS = 600.0


class Sequencer:
    def __init__(self) -> None:
        self._appender: merkle.Appender | None = None
        self._hash_algorithm = ""
        self._high_water = 0  # the highest entry id sequenced
        self._holes: dict[int, float] = {}  # ids below the high-water mark not seen yet -> when first missed
        self._last_full_scan = float("-inf")
        self._last_heartbeat = float("-inf")

    def _tree(self) -> merkle.Appender:
        if self._appender is None:
            self._hash_algorithm = tree_hash_algorithm()
            last = AuditLeaf.objects.aggregate(last=Max("index"))["last"]
            size = 0 if last is None else last + 1
            self._appender = merkle.Appender.from_nodes(hash_function(self._hash_algorithm), DatabaseNodes(), size)
            self._high_water = AuditLeaf.objects.aggregate(last=Max("entry_id"))["last"] or 0
            self._last_full_scan = float("-inf")
        return self._appender

    def _unsequenced(self) -> list[dict[str, object]]:
        """Committed entries without a leaf: late ones (holes) first, then new ones in id order."""
        unsequenced = AuditEntry.objects.filter(leaf__isnull=True).values(*canonical.LEAF_FIELDS)
        now = time.monotonic()
        if now - self._last_full_scan >= FULL_SCAN_SECONDS:
            rows = list(unsequenced.order_by("id")[:BATCH])
            if len(rows) < BATCH:
                self._last_full_scan = now
                self._holes.clear()
        else:
            self._holes = {i: seen for i, seen in self._holes.items() if now - seen < HOLE_SECONDS}
            late = list(unsequenced.filter(id__in=list(self._holes)).order_by("id")) if self._holes else []
            rows = late + list(unsequenced.filter(id__gt=self._high_water).order_by("id")[:BATCH])
        expected = self._high_water + 1
        for row in rows:
            entry_id = int(row["id"])
            self._holes.pop(entry_id, None)
            if entry_id >= expected:
                for skipped in range(max(expected, entry_id - MAX_HOLES), entry_id):
                    self._holes.setdefault(skipped, now)
                expected = entry_id + 1
        if len(self._holes) > MAX_HOLES:
            self._holes = dict(sorted(self._holes.items())[-MAX_HOLES:])
        return rows

    def step(self) -> int:
        """Sequence what has committed since the last step; returns how many entries were added."""
        tree = self._tree()
        rows = self._unsequenced()
        if not rows:
            self._beat(tree.size)
            return 0
        size_before, frontier_before = tree.size, tree.frontier
        leaves: list[tuple[int, int, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        for row in rows:
            leaf = merkle.leaf_hash(tree.h, canonical.leaf_data_from_values(row))
            leaves.append((tree.size, int(row["id"]), leaf))  # type: ignore[call-overload]
            nodes.extend(tree.append(leaf))
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
        self._high_water = max(self._high_water, max(entry_id for _, entry_id, _ in leaves))
        witness.export(head)
        return len(rows)

    def _commit(self, tree: merkle.Appender, leaves: list[tuple[int, int, bytes]],
                nodes: list[tuple[int, int, bytes]]) -> TreeHead:
        signer = crypto.load_signer()
        now = timezone.now()
        timestamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
        root = tree.root()
        message = tree_head_message(tree.size, root, timestamp, self._hash_algorithm)
        with transaction.atomic():
            _insert_rows(AuditLeaf, ("index", "entry_id", "leaf_hash"), leaves)
            _insert_rows(MerkleNode, ("level", "index", "hash"), nodes)
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


def _insert_rows(model: type[AuditLeaf] | type[MerkleNode], columns: tuple[str, ...],
                 rows: list[tuple[int, int, bytes]]) -> None:
    """Bulk insert; on PostgreSQL with COPY, which costs a fraction of building one large INSERT."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        statement = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    model.objects.bulk_create(model(**dict(zip(columns, row, strict=True))) for row in rows)  # type: ignore[misc]
