"""Checking the audit trail end to end (`zhengtong audit verify`) and archiving old entries (`... archive`).

`verify_trail` streams, so memory does not grow with the log: one streaming query reads the leaves in index
order and another the entries in id order (leaves follow entry ids closely; `_EntryStream` merges the two with
a small bounded buffer), the complete subtrees each chunk of leaves finishes are fetched per chunk, and only the
tree's right-edge frontier (merkle.Appender) is kept. Signed tree heads (database and witness copies) are merged
into the walk by size, a page at a time. On PostgreSQL the walk runs in one read-only REPEATABLE READ
transaction, so it sees one consistent state however long it takes while the sequencer goes on.

What it checks, for every leaf i in index order:

- the stored entry's canonical form hashes to the stored leaf hash (else the entry was *modified*; two leaves
  whose entries and hashes are crossed over were *reordered*); a leaf without its entry was *removed* unless an
  ArchiveBatch covers it, in which case the leaf is checked against the archive file when that file is present;
- leaf indexes run without gaps (a gap is a *removed* leaf);
- every stored complete subtree (MerkleNode) equals the one the Appender produces from the stored leaf hashes;
- at every size with a signed tree head: the head's signature, made with a key that is trusted (the platform's
  own signing key, a key the witness has seen, or one named with --trust-key), and its root against the rebuilt
  tree. Heads are built from the stored leaf hashes, which equal the recomputed ones wherever the entries are
  intact; where they differ (a modified entry) a second tree from the recomputed hashes is kept as well;
- every head in the witness file(s) exists in the database unchanged and matches the rebuilt tree. The witness
  is what catches a rewrite that recomputed leaves, nodes and heads and signed them with a new key.

When the rebuilt tree stops matching a trusted head although every entry matches its leaf, leaves were
inserted, removed, reordered or rewritten together with their hashes. The first such head at size s2 and the
last matching one at s1 bracket the first change to leaves [s1, s2); `_Localizer` then tests what could have
happened against the signed root of s2 — a forged leaf inserted at j (drop it and the root matches), two
leaves swapped (swap them back), an entry's leaf dropped and later leaves renumbered (put the entry back) —
guided by the sequencer's own order (within one head's batch, entry ids increase, and no entry can be in a head
signed before it occurred). Without any confirmation it names the first leaf of the bracket.

Archiving writes a contiguous range of leaves, each with its entry's canonical form, to a gzip file with the
latest signed tree head, the frontier of complete subtrees left of the range and the consistency proof from
the archived size to that head, so that `verify_archive` can check the file on its own. Only then are the
entries deleted (the triggers allow exactly that: archived and older than the retention period).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import heapq
import json
import os
import secrets
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog
from cryptography.hazmat.primitives import hashes
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import Max, Q
from django.utils import timezone
from tqdm import tqdm

from zhengtong.audit import canonical, merkle, witness
from zhengtong.audit.actions import SYSTEM, Actor, record
from zhengtong.audit.models import (
    ArchiveBatch,
    AuditEntry,
    AuditLeaf,
    AuditSubject,
    MerkleNode,
    SigningKeyRecord,
    TreeHead,
)
from zhengtong.audit.proofs import sequencer_running
from zhengtong.audit.tree import (
    EPOCH,
    DatabaseNodes,
    hash_function,
    timestamp_milliseconds,
    tree_hash_algorithm,
    tree_head_message,
)
from zhengtong.audit.triggers import RETENTION_DAYS
from zhengtong.core import crypto
from zhengtong.core.errors import InvalidInput

log = structlog.get_logger("zhengtong.audit.verify")

# Kinds of problem. The first four say what happened to an entry; the others are about heads, keys and files.
MODIFIED = "modified"
REMOVED = "removed"
INSERTED = "inserted"
REORDERED = "reordered"
NOT_SEQUENCED = "not sequenced"
BAD_SIGNATURE = "bad signature"
UNTRUSTED_KEY = "untrusted key"
WITNESS_MISMATCH = "witness mismatch"
NODE_MISMATCH = "node mismatch"
ARCHIVE_FILE = "archive file"
ARCHIVED_UNCHECKED = "archived (file not checked)"
WITNESS_UNCHECKED = "witness not checked"
LATER_HEADS = "later heads"
SUBJECT_INDEX = "subject index"
FORGED_ARCHIVE = "forged archive record"
ENTRY_KINDS = frozenset({MODIFIED, REMOVED, INSERTED, REORDERED})

CHUNK_SIZE = 2000
HEAD_PAGE = 500
MAX_PROBLEMS = 1000
NOT_SEQUENCED_WARNING = dt.timedelta(minutes=1)
NOT_SEQUENCED_FAILURE = dt.timedelta(minutes=10)
# Localization reads at most this many leaves after the last matching head, and tries every position as the
# place of a forged leaf when the bracket is at most EXHAUSTIVE_LIMIT leaves.
LOCALIZE_MIN_WINDOW = 4096
LOCALIZE_MAX_WINDOW = 65536
EXHAUSTIVE_LIMIT = 512
MAX_CANDIDATES = 64
ENTRY_BUFFER = 20_000

ARCHIVE_FORMAT = "zhengtong-audit-archive/1"


def _milliseconds_to_datetime(milliseconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=milliseconds)


def _local(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}"


# --- the report ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something wrong (or, among warnings, worth knowing) about the trail.

    entry_id / leaf_index name the entry concerned where there is one; tree_size the head concerned;
    related_entry_id the other entry of a reordered pair.
    """

    kind: str
    message: str
    entry_id: int | None = None
    leaf_index: int | None = None
    tree_size: int | None = None
    related_entry_id: int | None = None

    def sort_key(self) -> tuple[int, int]:
        if self.leaf_index is not None:
            position = self.leaf_index
        elif self.tree_size is not None:
            position = max(self.tree_size - 1, 0)
        else:
            position = sys.maxsize
        return position, 0 if self.kind in ENTRY_KINDS else 1

    def subject(self) -> str:
        if self.entry_id is not None or self.kind in ENTRY_KINDS:
            entry = f"entry #{self.entry_id}" if self.entry_id is not None else "entry #?"
            return f"{entry} (leaf {self.leaf_index})" if self.leaf_index is not None else entry
        if self.leaf_index is not None:
            return f"leaf {self.leaf_index}"
        if self.tree_size is not None:
            return f"tree head {self.tree_size}"
        return "trail"

    def line(self) -> str:
        return f"{self.subject()} {self.kind}: {self.message}"


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    leaves_checked: int = 0
    entries_checked: int = 0
    archived_checked: int = 0
    archived_unchecked: int = 0
    heads_checked: int = 0
    witness_heads_checked: int = 0
    nodes_checked: int = 0
    tree_size: int = 0
    elapsed: float = 0.0
    problems_left_off: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.problems_left_off

    @property
    def first(self) -> Problem | None:
        """The first bad entry (in leaf order); failing that, the first problem of any kind."""
        entries = [p for p in self.problems if p.kind in ENTRY_KINDS]
        candidates = entries or self.problems
        return min(candidates, key=Problem.sort_key) if candidates else None

    def summary(self) -> str:
        archived = ""
        if self.archived_checked or self.archived_unchecked:
            archived = (f" ({self.archived_checked} archived, checked against their files; "
                        f"{self.archived_unchecked} archived, file not checked)")
        return (f"Checked {self.leaves_checked} leaves: {self.entries_checked} entries recomputed{archived}; "
                f"{self.nodes_checked} tree nodes, {self.heads_checked} signed tree heads, "
                f"{self.witness_heads_checked} witness heads; tree size {self.tree_size}; "
                f"{self.elapsed:.1f} s.")


# --- heads from the database and from witness files ------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    hash_algorithm: str
    signature_algorithm: str
    key_id: str
    signature: bytes
    source: str

    @classmethod
    def from_model(cls, head: TreeHead) -> _Head:
        return cls(head.tree_size, bytes(head.root_hash), timestamp_milliseconds(head.timestamp),
                   head.hash_algorithm, head.signature_algorithm, head.key_id, bytes(head.signature), "database")

    @classmethod
    def from_document(cls, document: dict[str, Any], source: str) -> _Head:
        size = document["tree_size"]
        milliseconds = document["timestamp"]
        if not isinstance(size, int) or size < 0 or not isinstance(milliseconds, int):
            raise ValueError("tree_size and timestamp must be integers")
        return cls(size, bytes.fromhex(document["root_hash"]), milliseconds, str(document["hash_algorithm"]),
                   str(document["signature_algorithm"]), str(document["key_id"]),
                   bytes.fromhex(document["signature"]), source)

    def message(self) -> bytes:
        return tree_head_message(self.tree_size, self.root_hash, _milliseconds_to_datetime(self.timestamp_ms),
                                 self.hash_algorithm)

    def same_as(self, other: _Head) -> bool:
        return (self.root_hash, self.timestamp_ms, self.hash_algorithm, self.signature_algorithm, self.key_id,
                self.signature) == (other.root_hash, other.timestamp_ms, other.hash_algorithm,
                                    other.signature_algorithm, other.key_id, other.signature)


def _database_heads(limit: int) -> Iterator[_Head]:
    """Signed heads with tree_size <= limit in size order, a page at a time."""
    after = -1
    while True:
        page = list(TreeHead.objects.filter(tree_size__gt=after, tree_size__lte=limit).order_by("tree_size")
                    [:HEAD_PAGE])
        if not page:
            return
        for head in page:
            yield _Head.from_model(head)
        after = page[-1].tree_size


class _WitnessFile:
    """One witness file, read line by line. Heads come out in size order; a line out of order (or unreadable)
    is set aside and checked at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.out_of_order: list[_Head] = []
        self.unreadable: list[int] = []

    def key_ids(self) -> set[str]:
        ids: set[str] = set()
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    ids.add(str(json.loads(line)["key_id"]))
                except (ValueError, KeyError, TypeError):
                    continue
        return ids

    def heads(self) -> Iterator[_Head]:
        last = -1
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    head = _Head.from_document(json.loads(line), f"witness {self.path.name}:{number}")
                except (ValueError, KeyError, TypeError):
                    self.unreadable.append(number)
                    continue
                if head.tree_size <= last:
                    if len(self.out_of_order) < MAX_PROBLEMS:
                        self.out_of_order.append(head)
                    continue
                last = head.tree_size
                yield head


class _Peekable:
    """An iterator of heads in size order with a look at the next one."""

    def __init__(self, heads: Iterator[_Head]) -> None:
        self._heads = heads
        self.next: _Head | None = next(heads, None)

    def pop(self) -> _Head:
        head = self.next
        assert head is not None
        self.next = next(self._heads, None)
        return head


# --- archive files -------------------------------------------------------------------------------------------------


def _file_digest(path: Path, algorithm: str) -> str:
    """The file's digest with the tree's hash algorithm (SHA-256 or SM3), read a block at a time."""
    suite_name = {name: suite for suite, name in crypto.HASH_NAMES.items()}[algorithm]
    hasher = hashes.Hash(crypto.HASHES[suite_name]())
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.finalize().hex()


class _ArchiveReader:
    """The entry lines of one archive file, read forward in leaf order."""

    def __init__(self, batch: ArchiveBatch, algorithm: str) -> None:
        self.batch = batch
        self.path = Path(batch.file_name)
        self.problem = ""
        self._lines: Iterator[dict[str, Any]] | None = None
        self._current: dict[str, Any] | None = None
        if not self.path.is_file():
            self.problem = "missing"
            return
        if _file_digest(self.path, algorithm) != batch.file_digest:
            self.problem = "digest"
        self._lines = self._read()

    @property
    def available(self) -> bool:
        return self._lines is not None

    def _read(self) -> Iterator[dict[str, Any]]:
        try:
            with gzip.open(self.path, "rt", encoding="utf-8") as handle:
                for line in handle:
                    document = json.loads(line)
                    if document.get("type") == "entry":
                        yield document
        except (OSError, ValueError, EOFError) as error:
            self.problem = self.problem or f"unreadable ({error})"

    def line_for(self, index: int) -> dict[str, Any] | None:
        assert self._lines is not None
        while self._current is None or self._current.get("leaf_index", -1) < index:
            self._current = next(self._lines, None)
            if self._current is None:
                return None
        return self._current if self._current.get("leaf_index") == index else None


# --- verification --------------------------------------------------------------------------------------------------


class _EntryStream:
    """The entries, read in id order by one streaming query and handed out by the id a leaf names.

    Leaves follow entry ids closely (the sequencer takes committed entries in id order), so a leaf's entry is
    nearly always the next one read. Entries read ahead of their leaf (one that committed late, one that was
    never sequenced) wait in a buffer of bounded size; the oldest are dropped from it when it is full and, if a
    leaf asks for one of them after all, read again by id.
    """

    def __init__(self, chunk_size: int, limit: int = ENTRY_BUFFER) -> None:
        self._rows = (AuditEntry.objects.order_by("id").values(*canonical.LEAF_FIELDS)
                      .iterator(chunk_size=chunk_size))
        self._buffer: dict[int, dict[str, Any]] = {}
        self._read_up_to = 0  # every entry with an id up to this has been read
        self._exhausted = False
        self._dropped_up_to = 0
        self._limit = limit

    def get(self, entry_id: int) -> dict[str, Any] | None:
        """The entry's values, or None when there is no such entry."""
        found = self._buffer.pop(entry_id, None)
        if found is not None:
            return found
        while not self._exhausted and self._read_up_to < entry_id:
            row = next(self._rows, None)
            if row is None:
                self._exhausted = True
                break
            self._read_up_to = row["id"]
            if row["id"] == entry_id:
                return row
            self._buffer[row["id"]] = row
            if len(self._buffer) > self._limit:
                self._drop_oldest()
        if entry_id <= self._dropped_up_to:
            return AuditEntry.objects.filter(id=entry_id).values(*canonical.LEAF_FIELDS).first()
        return None

    def _drop_oldest(self) -> None:
        for _ in range(max(self._limit // 10, 1)):
            oldest = next(iter(self._buffer))  # the buffer keeps the order of reading: ascending ids
            del self._buffer[oldest]
            self._dropped_up_to = max(self._dropped_up_to, oldest)


def platform_key_ids() -> set[str]:
    """Key ids of the platform's own signing keys, where their files exist (never creates a key)."""
    return {signer.key_id for signer in crypto.platform_signers()}


def anchored_key_ids() -> set[str]:
    """Key ids trusted without asking the database: the platform's key files and the keys that signed the
    heads in the configured witness file (a witness URL is not read here). Other apps that check the
    platform's signatures (the catalog's rights certificates) trust a recorded key only when its id is here."""
    ids = platform_key_ids()
    paths, _warnings = default_witness_paths()
    for path in paths:
        try:
            ids |= _WitnessFile(path).key_ids()
        except OSError as error:  # no file yet, or unreadable: it anchors nothing
            log.info("witness file not read", path=str(path), error=str(error))
    return ids


def default_witness_paths() -> tuple[list[Path], list[Problem]]:
    target = witness.target()
    if not target:
        return [], []
    if witness.is_url(target):
        return [], [Problem(WITNESS_UNCHECKED, f"the witness is a URL ({target}); its copies are not read here — "
                                               f"fetch them into a file and pass --witness FILE")]
    return [Path(target)], []


def _live_leaf_count() -> int:
    """Leaves stored now, read outside this run's snapshot (on PostgreSQL verify reads one fixed snapshot, and
    the witness file may already hold heads the sequencer signed after it)."""
    if connection.vendor != "postgresql":
        last = AuditLeaf.objects.aggregate(last=Max("index"))["last"]
        return 0 if last is None else last + 1
    fresh = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with fresh.cursor() as cursor:
            # Never wait on a lock held by the caller's own transaction (a test, or a migration in progress).
            cursor.execute("SET lock_timeout = '1s'")
            cursor.execute("SELECT COALESCE(MAX(index) + 1, 0) FROM audit_auditleaf")
            return int(cursor.fetchone()[0])
    except DatabaseError:
        last = AuditLeaf.objects.aggregate(last=Max("index"))["last"]
        return 0 if last is None else last + 1
    finally:
        fresh.close()


class _SubjectDigest:
    """An order-free digest of (entry, subject) pairs, so the index is compared with the entries in one pass."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, entry_id: int, subjects: Iterable[str]) -> None:
        for subject in subjects:
            self.count += 1
            pair = hashlib.sha256(f"{entry_id}:{subject}".encode()).digest()
            self.total = (self.total + int.from_bytes(pair[:8], "big")) % (1 << 64)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SubjectDigest) and (self.count, self.total) == (other.count, other.total)

    __hash__ = None  # type: ignore[assignment]


class _Verifier:
    def __init__(self, witness_paths: Sequence[str | Path] | None, progress: bool, chunk_size: int,
                 trusted_key_ids: Iterable[str], now: dt.datetime | None) -> None:
        self.report = VerifyReport()
        self.progress = progress
        self.chunk_size = chunk_size
        self.now = now or timezone.now()
        paths: list[str | Path]
        if witness_paths is None:
            default, warnings = default_witness_paths()
            paths = list(default)
            self.report.warnings.extend(warnings)
        else:
            paths = list(witness_paths)
        self.witness_files: list[_WitnessFile] = []
        for path in paths:
            if witness.is_url(str(path)):
                self.report.warnings.append(Problem(WITNESS_UNCHECKED, f"{path} is a URL; fetch the heads it holds "
                                                                       f"into a file and pass that file"))
            elif Path(path).is_file():
                self.witness_files.append(_WitnessFile(Path(path)))
            else:
                self.report.warnings.append(Problem(WITNESS_UNCHECKED, f"there is no witness file at {path}"))
        self.extra_trusted = set(trusted_key_ids)
        self.mismatched_by_stored: dict[bytes, tuple[int, int, bytes, int]] = {}
        self.node_problem_count = 0
        self.first_node_mismatch: tuple[int, int] | None = None  # leaf range of the first bad node
        self.diverged = False
        self.later_mismatches = 0
        self.broken_at: int | None = None

    # bookkeeping

    def problem(self, problem: Problem) -> int:
        if len(self.report.problems) >= MAX_PROBLEMS:
            self.report.problems_left_off += 1
            return -1
        self.report.problems.append(problem)
        return len(self.report.problems) - 1

    def warning(self, problem: Problem) -> None:
        if len(self.report.warnings) < MAX_PROBLEMS:
            self.report.warnings.append(problem)

    # setup

    def _load_keys(self) -> None:
        self.keys: dict[str, tuple[str, bytes]] = {}
        for key in SigningKeyRecord.objects.all():
            public_key = bytes(key.public_key)
            try:
                expected = crypto.key_id_for(key.algorithm, public_key)
            except KeyError:
                expected = ""
            if expected != key.key_id:
                self.problem(Problem(UNTRUSTED_KEY, f"the recorded public key of key {key.key_id} "
                                                    f"({key.algorithm}) is not the key with that id"))
                continue
            self.keys[key.key_id] = (key.algorithm, public_key)
        witness_ids: set[str] = set()
        for witness_file in self.witness_files:
            witness_ids |= witness_file.key_ids()
        self.trusted = platform_key_ids() | witness_ids | self.extra_trusted
        if not self.trusted:
            self.trusted = set(self.keys)
            if self.keys:
                self.warning(Problem(UNTRUSTED_KEY, "no trust anchor: the platform's signing key is not on this "
                                                    "machine and no witness was read, so heads are checked only "
                                                    "against the keys recorded in the database"))

    def _signature_holds(self, head: _Head) -> bool | None:
        """True or False; None when the key is not recorded (the signature cannot be checked)."""
        key = self.keys.get(head.key_id)
        if key is None:
            return None
        algorithm, public_key = key
        if algorithm != head.signature_algorithm:
            return False
        return crypto.verify_signature(algorithm, public_key, head.message(), head.signature)

    def _archive_recorded(self, batch: ArchiveBatch) -> bool:
        """An archive record counts only with the audit.archive entry written beside it; a row inserted by hand
        (which would let the triggers delete entries) is reported and its range checked as if never archived."""
        recorded = AuditEntry.objects.filter(action="audit.archive", object_type="audit_archive",
                                             object_id=str(batch.pk)).values_list("detail", flat=True).first()
        if recorded and recorded.get("last_leaf_index") == batch.last_leaf_index and \
                recorded.get("digest") == batch.file_digest:
            return True
        self.problem(Problem(FORGED_ARCHIVE, f"archive record {batch.pk} (leaves up to {batch.last_leaf_index}) has "
                                             f"no matching audit.archive entry: it was not written by the platform"))
        return False

    # the walk

    def run(self) -> VerifyReport:
        started = time.monotonic()
        last = AuditLeaf.objects.aggregate(last=Max("index"))["last"]
        self.leaf_limit = 0 if last is None else last + 1
        self.algorithm = tree_hash_algorithm()
        self.h = hash_function(self.algorithm)
        self._load_keys()
        batches = [batch for batch in ArchiveBatch.objects.order_by("last_leaf_index") if self._archive_recorded(batch)]
        self.batches = batches
        self.archived_last = batches[-1].last_leaf_index if batches else -1
        self.archive_readers: dict[int, _ArchiveReader] = {}
        self.subjects_expected = _SubjectDigest()
        self.entries = _EntryStream(self.chunk_size)
        self.db_heads = _Peekable(_database_heads(self.leaf_limit))
        witness_streams = [witness_file.heads() for witness_file in self.witness_files]
        self.witness_heads = _Peekable(heapq.merge(*witness_streams, key=lambda head: head.tree_size))
        self.max_head_size = 0
        self.max_witness_size = 0
        self.tree = merkle.Appender(self.h)
        self.recomputed_tree: merkle.Appender | None = None
        self.last_good: tuple[int, list[tuple[int, bytes]], int] = (0, [], -1)
        self._heads_up_to(0)
        bar = tqdm(total=self.leaf_limit, unit="leaf", desc="verifying", file=sys.stderr,
                   disable=not self.progress, dynamic_ncols=True)
        try:
            expected = 0
            previous_entry: int | None = None
            for chunk in self._leaf_chunks():
                expected, previous_entry = self._walk_chunk(chunk, expected, previous_entry)
                bar.update(len(chunk))
        finally:
            bar.close()
        self._heads_up_to(sys.maxsize)
        self._finish()
        self.report.tree_size = self.leaf_limit
        self.report.elapsed = time.monotonic() - started
        self.report.problems.sort(key=Problem.sort_key)
        return self.report

    def _leaf_chunks(self) -> Iterator[list[tuple[int, int, bytes]]]:
        """The leaves in index order from one streaming query, a chunk at a time."""
        rows = (AuditLeaf.objects.filter(index__lt=self.leaf_limit).order_by("index")
                .values_list("index", "entry_id", "leaf_hash").iterator(chunk_size=self.chunk_size))
        chunk: list[tuple[int, int, bytes]] = []
        for index, entry_id, digest in rows:
            chunk.append((index, entry_id, bytes(digest)))
            if len(chunk) >= self.chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _stored_nodes(self, start: int, end: int) -> dict[tuple[int, int], bytes]:
        """The stored complete subtrees (level >= 1) finished by leaves start..end-1."""
        terms = Q()
        level = 1
        while (1 << level) <= end:
            low = ((start + (1 << level)) >> level) - 1
            high = (end >> level) - 1
            if high >= low:
                terms |= Q(level=level, index__gte=low, index__lte=high)
            level += 1
        if not terms:
            return {}
        return {(level, index): bytes(digest)
                for level, index, digest in MerkleNode.objects.filter(terms).values_list("level", "index", "hash")}

    def _walk_chunk(self, chunk: list[tuple[int, int, bytes]], expected: int,
                    previous_entry: int | None) -> tuple[int, int | None]:
        nodes = self._stored_nodes(chunk[0][0], chunk[-1][0] + 1) if self.broken_at is None else {}
        entries = self.entries
        for index, entry_id, stored in chunk:
            if index != expected:
                self._gap(expected, index, previous_entry, entry_id)
            recomputed = self._check_leaf(index, entry_id, stored, entries.get(entry_id))
            self.report.leaves_checked += 1
            if self.broken_at is None:
                if recomputed is not None and recomputed != stored and self.recomputed_tree is None:
                    self.recomputed_tree = merkle.Appender(self.h, self.tree.size, self.tree.frontier)
                for level, node_index, digest in self.tree.append(stored):
                    self._check_node(level, node_index, digest, nodes)
                if self.recomputed_tree is not None:
                    self.recomputed_tree.append(recomputed if recomputed is not None else stored)
            self._heads_up_to(index + 1)
            expected, previous_entry = index + 1, entry_id
        return expected, previous_entry

    # leaves

    def _check_leaf(self, index: int, entry_id: int, stored: bytes, values: dict[str, Any] | None) -> bytes | None:
        if values is None:
            if index <= self.archived_last:
                return self._check_archived(index, entry_id, stored)
            self.problem(Problem(REMOVED, "the entry is missing from the database; its leaf remains",
                                 entry_id, index))
            return None
        self.report.entries_checked += 1
        self.subjects_expected.add(entry_id, values["subjects"])
        recomputed = merkle.leaf_hash(self.h, canonical.leaf_data_from_values(values))
        if recomputed != stored:
            self._mismatch(index, entry_id, stored, recomputed)
        return recomputed

    def _mismatch(self, index: int, entry_id: int, stored: bytes, recomputed: bytes) -> None:
        partner = self.mismatched_by_stored.get(recomputed)
        if partner is not None:
            other_index, other_entry, other_recomputed, slot = partner
            if other_recomputed == stored and slot >= 0:
                # Leaf a holds b's hash and leaf b holds a's: the two were exchanged.
                self.report.problems[slot] = Problem(
                    REORDERED, f"entry #{other_entry} at leaf {other_index} and entry #{entry_id} at leaf {index} "
                               f"have exchanged places: each matches the hash sequenced at the other's leaf",
                    other_entry, other_index, related_entry_id=entry_id)
                del self.mismatched_by_stored[recomputed]
                return
        slot = self.problem(Problem(MODIFIED, "the entry no longer matches the leaf hash it was sequenced with",
                                    entry_id, index))
        if len(self.mismatched_by_stored) < MAX_PROBLEMS:
            self.mismatched_by_stored[stored] = (index, entry_id, recomputed, slot)

    def _gap(self, expected: int, index: int, previous_entry: int | None, entry_id: int) -> None:
        missing = index - expected
        named = self._missing_entry_between(previous_entry, entry_id) if missing == 1 else None
        between = f"between entry #{previous_entry} and entry #{entry_id}" if previous_entry is not None else \
            f"before entry #{entry_id}"
        what = f"leaf {expected}" if missing == 1 else f"leaves {expected}–{index - 1}"
        self.problem(Problem(REMOVED, f"{what} ({between}) {'is' if missing == 1 else 'are'} missing from the "
                                      f"tree; heads after it cannot be recomputed", named, expected))
        if self.broken_at is None:
            self.broken_at = expected

    def _missing_entry_between(self, previous_entry: int | None, next_entry: int) -> int | None:
        """The entry that most likely belonged between two leaves: an entry between them that has no leaf, or the
        one id between them when ids are consecutive apart from it."""
        low = previous_entry if previous_entry is not None else 0
        unsequenced = list(AuditEntry.objects.filter(id__gt=low, id__lt=next_entry, leaf__isnull=True)
                           .order_by("id").values_list("id", flat=True)[:2])
        if len(unsequenced) == 1:
            return unsequenced[0]
        if previous_entry is not None and next_entry - previous_entry == 2:
            return previous_entry + 1
        return None

    def _check_archived(self, index: int, entry_id: int, stored: bytes) -> bytes | None:
        batch = next(b for b in self.batches if b.last_leaf_index >= index)
        reader = self.archive_readers.get(batch.pk)
        if reader is None:
            reader = self.archive_readers[batch.pk] = _ArchiveReader(batch, self.algorithm)
            if reader.problem == "missing":
                self.warning(Problem(ARCHIVED_UNCHECKED, f"the archive file {batch.file_name} is not there; "
                                                         f"archived leaves up to {batch.last_leaf_index} are "
                                                         f"checked only against the tree"))
            elif reader.problem == "digest":
                self.problem(Problem(ARCHIVE_FILE, f"the archive file {batch.file_name} does not have the digest "
                                                   f"recorded when it was written", leaf_index=index))
        if not reader.available:
            self.report.archived_unchecked += 1
            return None
        line = reader.line_for(index)
        if line is None:
            self.problem(Problem(REMOVED, f"the entry was archived, but the archive file {batch.file_name} does not "
                                          f"hold it", entry_id, index))
            return None
        data = str(line.get("data", "")).encode()
        recomputed = merkle.leaf_hash(self.h, data)
        if recomputed != stored or line.get("entry_id") != entry_id:
            self.problem(Problem(MODIFIED, f"the archived copy in {batch.file_name} no longer matches the leaf "
                                           f"hash it was sequenced with", entry_id, index))
        self.report.archived_checked += 1
        return recomputed

    def _check_node(self, level: int, index: int, digest: bytes, nodes: dict[tuple[int, int], bytes]) -> None:
        self.report.nodes_checked += 1
        stored = nodes.get((level, index))
        if stored == digest:
            return
        self.node_problem_count += 1
        if self.node_problem_count > 1:
            return
        first, last = index << level, ((index + 1) << level) - 1
        self.first_node_mismatch = (first, last)
        what = "is missing" if stored is None else "differs from the one rebuilt from the stored leaves"
        self.problem(Problem(NODE_MISMATCH, f"the stored subtree hash over leaves {first}–{last} (level {level}, "
                                            f"index {index}) {what}", leaf_index=last))

    # heads

    def _heads_up_to(self, size: int) -> None:
        database_here: dict[int, _Head] = {}
        while self.db_heads.next is not None and self.db_heads.next.tree_size <= size:
            head = self.db_heads.pop()
            database_here[head.tree_size] = head
            self._check_database_head(head)
        while self.witness_heads.next is not None and self.witness_heads.next.tree_size <= size:
            head = self.witness_heads.pop()
            self._check_witness_head(head, database_here.get(head.tree_size))

    def _root_matches(self, head: _Head) -> bool | None:
        """Whether the head's root is that of the rebuilt tree at its size; None when it cannot be told."""
        if self.broken_at is not None or head.tree_size != self.tree.size:
            return None
        if head.root_hash == self.tree.root():
            return True
        return self.recomputed_tree is not None and head.root_hash == self.recomputed_tree.root()

    def _check_database_head(self, head: _Head) -> None:
        self.report.heads_checked += 1
        self.max_head_size = max(self.max_head_size, head.tree_size)
        trouble = ""
        kind = UNTRUSTED_KEY
        signature = self._signature_holds(head)
        if head.hash_algorithm != self.algorithm:
            kind, trouble = BAD_SIGNATURE, f"names hash {head.hash_algorithm}, but the tree uses {self.algorithm}"
        elif signature is None:
            trouble = f"is signed by key {head.key_id}, which is not recorded"
        elif head.key_id not in self.trusted:
            trouble = (f"is signed by key {head.key_id}, which is neither the platform's signing key nor a key the "
                       f"witness has seen")
        elif not signature:
            kind, trouble = BAD_SIGNATURE, f"has a signature that does not verify under key {head.key_id}"
        matches = self._root_matches(head)
        if trouble:
            if matches is False:
                trouble += ", and its root does not match the stored entries"
            self.problem(Problem(kind, f"the database's tree head {trouble}", tree_size=head.tree_size))
            return
        self._attested(head, matches)

    def _check_witness_head(self, head: _Head, stored: _Head | None) -> None:
        self.report.witness_heads_checked += 1
        self.max_head_size = max(self.max_head_size, head.tree_size)
        self.max_witness_size = max(self.max_witness_size, head.tree_size)
        if stored is None and head.tree_size <= self.leaf_limit:
            self.problem(Problem(WITNESS_MISMATCH, f"the witness ({head.source}) holds tree head {head.tree_size}, "
                                                   f"which the database no longer has", tree_size=head.tree_size))
        elif stored is not None and not stored.same_as(head):
            detail = "root hash" if stored.root_hash != head.root_hash else "signature"
            if stored.key_id != head.key_id:
                detail += f" and key ({stored.key_id} instead of {head.key_id})"
            self.problem(Problem(WITNESS_MISMATCH, f"the database's tree head {head.tree_size} differs from the "
                                                   f"witness copy ({head.source}) in its {detail}",
                                 tree_size=head.tree_size))
        signature = self._signature_holds(head)
        if signature is False:
            self.problem(Problem(BAD_SIGNATURE, f"the witness copy ({head.source}) has a signature that does not "
                                                f"verify", tree_size=head.tree_size))
            return
        if signature is None:
            self.warning(Problem(UNTRUSTED_KEY, f"the key {head.key_id} of the witness copy ({head.source}) is not "
                                                f"recorded; its signature is not checked", tree_size=head.tree_size))
        if head.tree_size <= self.leaf_limit:
            self._attested(head, self._root_matches(head))

    def _attested(self, head: _Head, matches: bool | None) -> None:
        """A root we trust, compared with the rebuilt tree."""
        if matches is None:
            return
        if matches:
            if not self.diverged:
                self.last_good = (head.tree_size, self.tree.frontier, head.timestamp_ms)
            return
        if self.diverged:
            self.later_mismatches += 1
            return
        self.diverged = True
        start, frontier, _ = self.last_good
        localizer = _Localizer(self, start, frontier, head)
        self.problem(localizer.explain())

    # the end

    def _finish(self) -> None:
        for witness_file in self.witness_files:
            for number in witness_file.unreadable[:10]:
                self.problem(Problem(WITNESS_MISMATCH, f"line {number} of the witness file {witness_file.path} is "
                                                       f"not a tree head"))
            for head in witness_file.out_of_order:
                self._check_late_witness_head(head)
        if self.later_mismatches:
            self.warning(Problem(LATER_HEADS, f"{self.later_mismatches} later signed heads (and witness copies) also "
                                              f"disagree with the rebuilt tree, as follows from the first difference"))
        if self.node_problem_count > 1:
            self.warning(Problem(NODE_MISMATCH, f"{self.node_problem_count} stored subtree hashes in all differ "
                                                f"from the rebuilt tree"))
        self._check_heads_beyond_leaves()
        self._check_leaves_beyond_heads()
        self._check_nodes_beyond_leaves()
        self._check_unsequenced()
        self._check_subject_index()

    def _check_subject_index(self) -> None:
        """The search index of data subjects must hold exactly the subjects of the entries it indexes."""
        if self.broken_at is not None:
            return
        stored = _SubjectDigest()
        rows = (AuditSubject.objects.filter(entry__leaf__index__lt=self.leaf_limit)
                .values_list("entry_id", "subject_hash").iterator(chunk_size=self.chunk_size))
        for entry_id, subject in rows:
            stored.add(entry_id, [subject])
        if stored != self.subjects_expected:
            self.problem(Problem(SUBJECT_INDEX, f"the data-subject index holds {stored.count} rows for the sequenced "
                                                f"entries, which name {self.subjects_expected.count}: rows were "
                                                f"removed, added or changed, so searches by person are incomplete"))

    def _check_late_witness_head(self, head: _Head) -> None:
        self.report.witness_heads_checked += 1
        stored = TreeHead.objects.filter(tree_size=head.tree_size).first()
        if stored is None or not _Head.from_model(stored).same_as(head):
            self.problem(Problem(WITNESS_MISMATCH, f"the database's tree head {head.tree_size} is missing or "
                                                   f"differs from the witness copy ({head.source})",
                                 tree_size=head.tree_size))

    def _current_leaf_count(self) -> int:
        last = AuditLeaf.objects.aggregate(last=Max("index"))["last"]
        return 0 if last is None else last + 1

    def _last_entry_id(self) -> int | None:
        if self.leaf_limit == 0:
            return None
        return AuditLeaf.objects.filter(index=self.leaf_limit - 1).values_list("entry_id", flat=True).first()

    def _check_heads_beyond_leaves(self) -> None:
        """Heads (database or witness) larger than the stored tree: leaves were removed at its end."""
        database_max = TreeHead.objects.aggregate(size=Max("tree_size"))["size"] or 0
        witness_max = self.max_witness_size
        largest = max(database_max, witness_max)
        if largest <= self.leaf_limit:
            return
        self.max_head_size = max(self.max_head_size, largest)
        if _live_leaf_count() >= largest:
            return  # the sequencer went on while we checked; these heads are newer than this run
        last_entry = self._last_entry_id()
        named = None
        if last_entry is not None:
            following = AuditEntry.objects.filter(id=last_entry + 1).first()
            if following is None or not AuditLeaf.objects.filter(entry_id=following.pk).exists():
                named = last_entry + 1
        source = "the witness" if witness_max >= database_max else "the database"
        missing = largest - self.leaf_limit
        lost = "the last leaf was removed" if missing == 1 else f"the last {missing} leaves were removed"
        self.problem(Problem(REMOVED, f"{source} holds a signed tree head of size {largest}, but only "
                                      f"{self.leaf_limit} leaves are stored: {lost}", named, self.leaf_limit))

    def _check_leaves_beyond_heads(self) -> None:
        if self.leaf_limit <= self.max_head_size:
            return
        row = AuditLeaf.objects.filter(index=self.max_head_size).values_list("entry_id", flat=True).first()
        count = self.leaf_limit - self.max_head_size
        self.problem(Problem(INSERTED, f"{count} leaf{'s are' if count != 1 else ' is'} not covered by any signed "
                                      f"tree head (the largest has size {self.max_head_size}); the sequencer "
                                      f"signs a head in the same transaction as its leaves", row,
                             self.max_head_size))

    def _check_nodes_beyond_leaves(self) -> None:
        if self.broken_at is not None:
            return
        size = self._current_leaf_count()
        terms = Q()
        for level in range(1, 64):
            terms |= Q(level=level, index__gte=size >> level)
        extra = MerkleNode.objects.filter(terms).order_by("level", "index").values_list("level", "index").first()
        if extra is not None:
            level, index = extra
            self.problem(Problem(NODE_MISMATCH, f"a subtree hash is stored for leaves {index << level}–"
                                                f"{((index + 1) << level) - 1}, beyond the {size} stored leaves",
                                 leaf_index=index << level))

    def _check_unsequenced(self) -> None:
        newest_sequenced = AuditLeaf.objects.aggregate(newest=Max("entry_id"))["newest"] or 0
        running = sequencer_running()
        pending = 0
        first_pending: tuple[int, dt.datetime] | None = None
        rows = (AuditEntry.objects.filter(leaf__isnull=True, occurred_at__lt=self.now - NOT_SEQUENCED_WARNING)
                .order_by("id").values_list("id", "occurred_at"))
        for entry_id, occurred_at in rows.iterator(chunk_size=self.chunk_size):
            skipped = entry_id < newest_sequenced and occurred_at < self.now - NOT_SEQUENCED_FAILURE
            if skipped:
                self.problem(Problem(NOT_SEQUENCED, f"the entry occurred at {_local(occurred_at)} and has "
                                                    f"no leaf, although later entries were sequenced",
                                     entry_id))
            else:
                pending += 1
                first_pending = first_pending or (entry_id, occurred_at)
        if first_pending is not None:
            hint = "" if running else "; the sequencer is not running (start `zhengtong worker`)"
            self.warning(Problem(NOT_SEQUENCED, f"{pending} entries older than a minute are not yet in the tree, the "
                                                f"first from {_local(first_pending[1])}{hint}",
                                 first_pending[0]))


class _Localizer:
    """Works out what happened to the leaves between the last head that matched and the first that does not.

    Only the stored leaf hashes are used (every one of them already matches its entry, or was reported): the
    signed root of head s2 is tested against the tree with one change undone.
    """

    def __init__(self, verifier: _Verifier, start: int, frontier: list[tuple[int, bytes]], head: _Head) -> None:
        self.v = verifier
        self.start = start
        self.frontier = frontier
        self.head = head
        self.covered = head.tree_size - start  # leaves of the window that head s2 covers
        end = min(verifier.leaf_limit, max(head.tree_size + 1, start + LOCALIZE_MIN_WINDOW),
                  start + LOCALIZE_MAX_WINDOW)
        rows = list(AuditLeaf.objects.filter(index__gte=max(start - 1, 0), index__lt=end).order_by("index")
                    .values_list("index", "entry_id", "leaf_hash"))
        self.previous_entry: int | None = None
        if rows and start > 0 and rows[0][0] == start - 1:
            self.previous_entry = rows[0][1]
            rows = rows[1:]
        for position, row in enumerate(rows):  # up to the first gap (reported when the walk reaches it)
            if row[0] != start + position:
                rows = rows[:position]
                break
        self.ids = [row[1] for row in rows]
        self.hashes = [bytes(row[2]) for row in rows]
        self.times: dict[int, dt.datetime] = {}
        for offset in range(0, len(self.ids), 1000):
            part = self.ids[offset:offset + 1000]
            self.times.update(AuditEntry.objects.filter(id__in=part).order_by().values_list("id", "occurred_at"))

    def _root_with(self, sequence: Sequence[bytes]) -> bytes | None:
        if len(sequence) < self.covered:
            return None
        tree = merkle.Appender(self.v.h, self.start, self.frontier)
        for digest in sequence[:self.covered]:
            tree.append(digest)
        return tree.root()

    def _confirms(self, sequence: Sequence[bytes]) -> bool:
        return self._root_with(sequence) == self.head.root_hash

    def _entry_at(self, position: int) -> int | None:
        return self.ids[position] if 0 <= position < len(self.ids) else None

    def explain(self) -> Problem:
        s1, s2 = self.start, self.head.tree_size
        where = f"the signed tree head of size {s2} ({self.head.source}) does not match the stored leaves"
        if len(self.hashes) < self.covered:
            return Problem(MODIFIED, f"{where}; the change lies in leaves {s1}–{s2 - 1}", self._entry_at(0), s1)
        descents = [p for p in range(len(self.ids) - 1) if self.ids[p] >= self.ids[p + 1]][:MAX_CANDIDATES]
        head_time = _milliseconds_to_datetime(self.head.timestamp_ms)
        late = [p for p in range(self.covered)
                if self.ids[p] in self.times and self.times[self.ids[p]] > head_time][:MAX_CANDIDATES]
        found = (self._try_inserted(sorted({*descents, *(d + 1 for d in descents), *late}), where)
                 or self._try_reordered(descents, where)
                 or self._try_removed(where)
                 or (self._try_inserted(range(self.covered), where) if self.covered <= EXHAUSTIVE_LIMIT else None))
        return found or self._fallback(where)

    def _try_inserted(self, positions: Iterable[int], where: str) -> Problem | None:
        for p in positions:
            if 0 <= p < self.covered and self._confirms(self.hashes[:p] + self.hashes[p + 1:]):
                leaf = self.start + p
                return Problem(INSERTED, f"{where}; without this leaf it does: a forged entry was inserted at leaf "
                                         f"{leaf} and the leaves after it renumbered", self.ids[p], leaf)
        return None

    def _try_reordered(self, descents: list[int], where: str) -> Problem | None:
        if not descents:
            return None
        for a in (descents[0], descents[0] + 1):
            for d in descents:
                b = d + 1
                if b <= a or b >= len(self.hashes) or a >= self.covered:
                    continue
                swapped = list(self.hashes)
                swapped[a], swapped[b] = swapped[b], swapped[a]
                if self._confirms(swapped):
                    return Problem(REORDERED, f"{where}; with leaves {self.start + a} and {self.start + b} exchanged "
                                              f"back it does: entry #{self.ids[a]} and entry #{self.ids[b]} were "
                                              f"swapped", self.ids[a], self.start + a,
                                   related_entry_id=self.ids[b])
        return None

    def _gaps(self) -> list[tuple[int, int, int]]:
        """(position, previous id, id) where entry ids jump by more than one within the covered leaves."""
        gaps = []
        previous = self.previous_entry
        for p in range(min(self.covered, len(self.ids))):
            if previous is not None and self.ids[p] - previous > 1:
                gaps.append((p, previous, self.ids[p]))
            previous = self.ids[p]
        return gaps[:MAX_CANDIDATES]

    def _try_removed(self, where: str) -> Problem | None:
        for p, low, high in self._gaps():
            candidates = (AuditEntry.objects.filter(id__gt=low, id__lt=high, leaf__isnull=True).order_by("id")
                          .values(*canonical.LEAF_FIELDS)[:5])
            for values in candidates:
                restored = merkle.leaf_hash(self.v.h, canonical.leaf_data_from_values(values))
                if self._confirms(self.hashes[:p] + [restored] + self.hashes[p:]):
                    leaf = self.start + p
                    return Problem(REMOVED, f"{where}; with this entry's leaf put back at leaf {leaf} it does: its "
                                            f"leaf was removed and the leaves after it renumbered",
                                   values["id"], leaf)
        return None

    def _fallback(self, where: str) -> Problem:
        s1, s2 = self.start, self.head.tree_size
        gaps = self._gaps()
        if gaps:
            p, low, high = gaps[0]
            named = low + 1 if high - low == 2 or not AuditEntry.objects.filter(id=low + 1).exists() else None
            return Problem(REMOVED, f"{where}; entry ids jump from #{low} to #{high} at leaf {s1 + p}: an entry's "
                                    f"leaf was most likely removed there and the leaves after it renumbered "
                                    f"(the change lies in leaves {s1}–{s2 - 1})", named, s1 + p)
        position = 0
        if self.v.first_node_mismatch is not None and s1 <= self.v.first_node_mismatch[0] < s2:
            position = self.v.first_node_mismatch[0] - s1
        last_entry = self._entry_at(self.covered - 1)
        return Problem(MODIFIED, f"{where}, although each of these entries matches its stored leaf: entries were "
                                 f"rewritten together with their leaf hashes, from leaf {s1 + position} at the "
                                 f"earliest (leaves {s1}–{s2 - 1}, entries #{self._entry_at(0)}–#{last_entry})",
                       self._entry_at(position), s1 + position)


def verify_trail(*, witness_paths: Sequence[str | Path] | None = None, progress: bool = False,
                 chunk_size: int = CHUNK_SIZE, trusted_key_ids: Iterable[str] = (),
                 now: dt.datetime | None = None) -> VerifyReport:
    """Recompute the whole tree from the stored entries and check it against every signed head and witness copy.

    witness_paths: witness files to read; None for settings.AUDIT_WITNESS (when it is a file), [] for none.
    trusted_key_ids: keys to trust besides the platform's signing key and the keys the witness has seen (a key
    retired before the witness was set up).
    """
    verifier = _Verifier(witness_paths, progress, chunk_size, trusted_key_ids, now)
    if connection.in_atomic_block or connection.vendor != "postgresql":
        # SQLite: a transaction would take the write lock (transaction_mode IMMEDIATE) and stop every writer
        # for the whole walk; the checks that could see the sequencer move on read the tree again instead.
        return verifier.run()
    # PostgreSQL: one consistent snapshot of every table however long the walk takes while the sequencer goes
    # on; it also lets the streaming queries read as they go instead of materializing their results first.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return verifier.run()


# --- archiving -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveResult:
    path: Path
    digest: str
    first_leaf_index: int
    last_leaf_index: int
    first_entry_id: int
    last_entry_id: int
    entries: int
    tree_size: int
    batch_id: int


class ArchiveRefused(Exception):
    """The trail is not in a state to be archived (it does not verify over the range to archive)."""


def latest_archivable_date(today: dt.date | None = None) -> dt.date:
    return (today or timezone.localdate()) - dt.timedelta(days=RETENTION_DAYS)


def _line(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def archive_entries(*, before: dt.date, out_dir: Path, actor: Actor = SYSTEM,
                    chunk_size: int = CHUNK_SIZE) -> ArchiveResult | None:
    """Archive the entries that occurred before `before` (a date at least RETENTION_DAYS ago) and delete them.

    The range is the longest run of leaves, after those already archived and within the latest signed head,
    whose entries all occurred before `before` (local time). Returns None when there is nothing to archive.
    Raises InvalidInput naming `before` for a date too recent, ArchiveRefused when the range does not verify.
    """
    limit = latest_archivable_date()
    if before > limit:
        raise InvalidInput.for_field("before", f"must be on or before {limit:%Y-%m-%d}: entries are kept at least "
                                               f"{RETENTION_DAYS} days")
    cutoff = timezone.make_aware(dt.datetime.combine(before, dt.time.min))
    head = TreeHead.objects.order_by("-tree_size").first()
    if head is None:
        return None
    key = SigningKeyRecord.objects.filter(key_id=head.key_id).first()
    if key is None:
        raise ArchiveRefused(f"the key {head.key_id} of the latest tree head is not recorded")
    previous = ArchiveBatch.objects.order_by("-last_leaf_index").first()
    first = previous.last_leaf_index + 1 if previous else 0
    if first >= head.tree_size:
        return None
    algorithm = head.hash_algorithm
    h = hash_function(algorithm)
    frontier_keys = merkle.frontier_keys(first)
    fetched = merkle.fetch(DatabaseNodes(), frontier_keys)
    frontier = [(level, fetched[(level, index)]) for level, index in frontier_keys]
    tree = merkle.Appender(h, first, frontier)

    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f".audit-archive-{secrets.token_hex(6)}.partial"
    count, first_entry, last_entry, max_entry = 0, 0, 0, 0
    try:
        with partial.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
            handle.write(_line({
                "type": "header", "format": ARCHIVE_FORMAT, "hash_algorithm": algorithm, "first_leaf_index": first,
                "left_frontier": [[level, index, fetched[(level, index)].hex()] for level, index in frontier_keys],
                "before": before.isoformat(), "created_at": timezone.now().isoformat(),
            }))
            for index, entry_id, stored, values in _leaves_with_entries(first, head.tree_size, chunk_size):
                if values is None:
                    raise ArchiveRefused(f"leaf {index} has no entry (#{entry_id}); run `zhengtong audit verify`")
                if values["occurred_at"] >= cutoff:
                    break
                data = canonical.leaf_data_from_values(values)
                if merkle.leaf_hash(h, data) != stored:
                    raise ArchiveRefused(f"entry #{entry_id} does not match its leaf {index}; run "
                                         f"`zhengtong audit verify`")
                handle.write(_line({"type": "entry", "leaf_index": index, "entry_id": entry_id,
                                    "leaf_hash": stored.hex(), "data": data.decode()}))
                tree.append(stored)
                if count == 0:
                    first_entry = entry_id
                count, last_entry, max_entry = count + 1, entry_id, max(max_entry, entry_id)
            if count == 0:
                raise _NothingToArchive
            archived_size = first + count
            archived_root = tree.root()
            proof = merkle.consistency_proof(h, DatabaseNodes(), archived_size, head.tree_size)
            if not merkle.verify_consistency(h, archived_size, head.tree_size, archived_root,
                                             bytes(head.root_hash), proof):
                raise ArchiveRefused(f"the archived leaves do not lead to the signed tree head of size "
                                     f"{head.tree_size}; run `zhengtong audit verify`")
            handle.write(_line({"type": "tree_head", **witness.head_document(head),
                                "public_key": bytes(key.public_key).hex()}))
            handle.write(_line({"type": "proof", "archived_size": archived_size,
                                "archived_root": archived_root.hex(), "tree_size": head.tree_size,
                                "consistency": [p.hex() for p in proof]}))
            handle.write(_line({"type": "end", "entries": count, "first_leaf_index": first,
                                "last_leaf_index": archived_size - 1, "first_entry_id": first_entry,
                                "last_entry_id": last_entry}))
    except _NothingToArchive:
        partial.unlink(missing_ok=True)
        return None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    last = first + count - 1
    path = (out_dir / f"audit-archive-{first}-{last}.jsonl.gz").resolve()
    os.replace(partial, path)
    digest = _file_digest(path, algorithm)
    path.with_name(f"{path.name}.{algorithm}").write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    with transaction.atomic():
        batch = ArchiveBatch.objects.create(last_entry_id=max_entry, last_leaf_index=last, file_name=str(path),
                                            file_digest=digest, tree_size=head.tree_size)
        record("audit.archive", actor, object_type="audit_archive", object_id=batch.pk,
               detail={"file": path.name, "digest": digest, "first_leaf_index": first, "last_leaf_index": last,
                       "entries": count, "before": before.isoformat(), "tree_size": head.tree_size})
        archived = AuditLeaf.objects.filter(index__gte=first, index__lte=last).values("entry_id")
        archived_ids = list(archived.values_list("entry_id", flat=True))
        AuditEntry.objects.filter(id__in=archived_ids).delete()
        AuditSubject.objects.filter(entry_id__in=archived_ids).delete()
    return ArchiveResult(path, digest, first, last, first_entry, last_entry, count, head.tree_size, batch.pk)


class _NothingToArchive(Exception):
    pass


def _entries_by_id(ids: list[int]) -> dict[int, dict[str, Any]]:
    """The entries of a chunk of leaves, by id. Their ids are nearly contiguous (the sequencer takes entries in id
    order), so a range is read where it is not much wider than the chunk: cheaper than a long IN list."""
    if not ids:
        return {}
    low, high = min(ids), max(ids)
    if high - low < 2 * len(ids) + 100:
        wanted = set(ids)
        rows = AuditEntry.objects.filter(id__gte=low, id__lte=high).order_by().values(*canonical.LEAF_FIELDS)
        return {values["id"]: values for values in rows.iterator(chunk_size=len(ids)) if values["id"] in wanted}
    rows = AuditEntry.objects.filter(id__in=ids).order_by().values(*canonical.LEAF_FIELDS)
    return {values["id"]: values for values in rows.iterator(chunk_size=len(ids))}


def _leaves_with_entries(start: int, end: int, chunk_size: int
                         ) -> Iterator[tuple[int, int, bytes, dict[str, Any] | None]]:
    after = start - 1
    while after + 1 < end:
        rows = list(AuditLeaf.objects.filter(index__gt=after, index__lt=end).order_by("index")
                    .values_list("index", "entry_id", "leaf_hash")[:chunk_size])
        if not rows:
            return
        entries = _entries_by_id([entry_id for _, entry_id, _ in rows])
        expected = after + 1
        for index, entry_id, digest in rows:
            if index != expected:
                raise ArchiveRefused(f"leaf {expected} is missing; run `zhengtong audit verify`")
            yield index, entry_id, bytes(digest), entries.get(entry_id)
            expected += 1
        after = rows[-1][0]


@dataclass(frozen=True)
class ArchiveCheck:
    ok: bool
    reason: str = ""
    entries: int = 0
    first_leaf_index: int | None = None
    last_leaf_index: int | None = None
    tree_size: int | None = None


def check_archive(path: str | Path) -> ArchiveCheck:
    """Check an archive file on its own: every entry hashes to its leaf hash, the leaves rebuild the archived
    tree, the consistency proof leads from it to the included signed tree head, and that head's signature holds
    under the included public key (whose key id it must hash to). A digest file beside it must agree too."""
    path = Path(path)
    try:
        return _check_archive(path)
    except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError) as error:
        return ArchiveCheck(False, f"unreadable: {error}")


def verify_archive(path: str | Path) -> bool:
    return check_archive(path).ok


def _check_archive(path: Path) -> ArchiveCheck:
    with gzip.open(path, "rt", encoding="utf-8") as text:
        handle: IO[str] = text
        header = json.loads(handle.readline())
        if header.get("type") != "header" or header.get("format") != ARCHIVE_FORMAT:
            return ArchiveCheck(False, "not a Zhengtong audit archive")
        algorithm = str(header["hash_algorithm"])
        h = hash_function(algorithm)
        first = int(header["first_leaf_index"])
        frontier_keys = [(int(level), int(index)) for level, index, _ in header["left_frontier"]]
        if frontier_keys != merkle.frontier_keys(first):
            return ArchiveCheck(False, "the left frontier does not fit the first leaf index")
        tree = merkle.Appender(h, first, [(int(level), bytes.fromhex(digest))
                                          for level, _, digest in header["left_frontier"]])
        head: dict[str, Any] | None = None
        proof: dict[str, Any] | None = None
        end: dict[str, Any] | None = None
        count = 0
        for line in handle:
            document = json.loads(line)
            kind = document.get("type")
            if kind == "entry":
                index = first + count
                if document["leaf_index"] != index:
                    return ArchiveCheck(False, f"expected leaf {index}, found leaf {document['leaf_index']}")
                data = str(document["data"])
                digest = merkle.leaf_hash(h, data.encode())
                if digest.hex() != document["leaf_hash"]:
                    return ArchiveCheck(False, f"leaf {index}: the entry does not hash to its leaf hash")
                if json.loads(data).get("id") != document["entry_id"]:
                    return ArchiveCheck(False, f"leaf {index}: the entry id does not match")
                tree.append(digest)
                count += 1
            elif kind == "tree_head":
                head = document
            elif kind == "proof":
                proof = document
            elif kind == "end":
                end = document
    if head is None or proof is None or end is None:
        return ArchiveCheck(False, "the tree head, proof or end line is missing")
    if end["entries"] != count or count == 0:
        return ArchiveCheck(False, f"the file says {end['entries']} entries, but holds {count}")
    archived_size = first + count
    root = tree.root()
    signed = _Head.from_document(head, str(path))
    public_key = bytes.fromhex(head["public_key"])
    if crypto.key_id_for(signed.signature_algorithm, public_key) != signed.key_id:
        return ArchiveCheck(False, "the included public key is not the key that signed the tree head")
    if not crypto.verify_signature(signed.signature_algorithm, public_key, signed.message(), signed.signature):
        return ArchiveCheck(False, "the tree head's signature does not verify")
    if proof["archived_size"] != archived_size or proof["archived_root"] != root.hex():
        return ArchiveCheck(False, "the archived leaves do not rebuild the archived tree")
    consistency = [bytes.fromhex(p) for p in proof["consistency"]]
    if proof["tree_size"] != signed.tree_size or not merkle.verify_consistency(
            h, archived_size, signed.tree_size, root, signed.root_hash, consistency):
        return ArchiveCheck(False, "the consistency proof does not lead to the signed tree head")
    sidecar = path.with_name(f"{path.name}.{algorithm}")
    if sidecar.is_file() and sidecar.read_text(encoding="utf-8").split()[0] != _file_digest(path, algorithm):
        return ArchiveCheck(False, f"the file does not have the digest in {sidecar.name}")
    return ArchiveCheck(True, "", count, first, archived_size - 1, signed.tree_size)
