"""Merkle tree algorithms of RFC 6962 / RFC 9162 §2.1 for the tamper-evident audit log.

Pure Python and free of Django: everything that touches storage goes through `NodeReader`.

Hashing (RFC 9162 §2.1.1), with `h` the platform's hash (SHA-256 or SM3)::

    MTH({})       = h(b"")
    leaf hash     = h(0x00 || data)
    interior node = h(0x01 || left || right)
    MTH(D[n])     = node(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of two < n

Storage model: the hash of every *complete* subtree is stored. Node (level k, index i) covers leaves
[i·2^k, (i+1)·2^k); level 0 holds the leaf hashes. Complete subtrees never change once written, so the nodes of
a tree of size n are exactly the nodes of any larger tree that lie inside [0, n).

Every subtree the RFC's recursion visits is either complete, or its left part is complete and aligned: such a
range [start, end) is therefore a run of complete nodes whose sizes are the set bits of end - start, from the
largest down, and its MTH is the right fold ``node(c1, node(c2, ... node(c_{m-1}, c_m)))``. Proof generation
works in two steps so that the database is asked once:

1. `inclusion_path_keys` / `consistency_path_keys` list the proof elements as `Span`s (leaf ranges in the RFC's
   order) together with the complete nodes each one needs; `keys_of` flattens them for one batch fetch.
2. `hash_spans` turns the fetched nodes into the proof. `inclusion_proof` / `consistency_proof` do both.

The verifiers implement the bit-manipulation algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 and return False,
never raise, on malformed input (wrong sizes, indices, proof lengths, hash lengths or types).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

HashFn = Callable[[bytes], bytes]
NodeKey = tuple[int, int]
"""(level, index) of a complete subtree."""

__all__ = [
    "Appender",
    "HashFn",
    "InMemoryNodes",
    "MissingNodeError",
    "NodeKey",
    "NodeReader",
    "Span",
    "consistency_path_keys",
    "consistency_proof",
    "empty_root",
    "fetch",
    "frontier_keys",
    "hash_spans",
    "inclusion_path_keys",
    "inclusion_proof",
    "keys_of",
    "leaf_hash",
    "node_hash",
    "range_keys",
    "root",
    "root_from_leaves",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


# --- hashing -------------------------------------------------------------------------------------------------------


def leaf_hash(h: HashFn, data: bytes) -> bytes:
    """The hash of a leaf: h(0x00 || data)."""
    return h(_LEAF_PREFIX + data)


def node_hash(h: HashFn, left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: h(0x01 || left || right)."""
    return h(_NODE_PREFIX + left + right)


def empty_root(h: HashFn) -> bytes:
    """MTH of the empty tree: the hash of the empty string."""
    return h(b"")


def _fold(h: HashFn, hashes: Sequence[bytes]) -> bytes:
    """Right fold of a run of complete subtrees (largest first) into the MTH of their union."""
    if not hashes:
        raise ValueError("nothing to fold")
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(h, left, acc)
    return acc


def root_from_leaves(h: HashFn, leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a whole tree given its leaf hashes (O(n) hashes, no recursion)."""
    appender = Appender(h)
    for lh in leaf_hashes:
        appender.append(lh)
    return appender.root()


# --- complete-subtree storage --------------------------------------------------------------------------------------


class MissingNodeError(KeyError):
    """A complete subtree the computation needs is not in the store."""


@runtime_checkable
class NodeReader(Protocol):
    """Read access to stored complete subtrees (level 0 = leaf hashes)."""

    def get(self, level: int, index: int) -> bytes:
        """The hash of node (level, index); raises KeyError if it is not stored."""
        ...

    def get_many(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """The hashes of the given nodes in one round trip; missing nodes are left out of the result."""
        ...


class InMemoryNodes:
    """A `NodeReader` over a dict {(level, index): hash}; used by tests and by `zhengtong audit verify`."""

    def __init__(self, nodes: Mapping[NodeKey, bytes] | None = None) -> None:
        self.nodes: dict[NodeKey, bytes] = dict(nodes or {})

    @classmethod
    def from_leaves(cls, h: HashFn, leaf_hashes: Iterable[bytes]) -> InMemoryNodes:
        """Every complete subtree of the tree with these leaves."""
        store = cls()
        appender = Appender(h)
        for lh in leaf_hashes:
            store.put(0, appender.size, lh)
            for level, index, digest in appender.append(lh):
                store.put(level, index, digest)
        return store

    def put(self, level: int, index: int, digest: bytes) -> None:
        self.nodes[(level, index)] = digest

    def get(self, level: int, index: int) -> bytes:
        try:
            return self.nodes[(level, index)]
        except KeyError:
            raise MissingNodeError((level, index)) from None

    def get_many(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        return {key: self.nodes[key] for key in keys if key in self.nodes}

    def __len__(self) -> int:
        return len(self.nodes)


def fetch(nodes: NodeReader, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    """One `get_many` call for `keys`; raises MissingNodeError naming the first node the store lacks."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    found = nodes.get_many(wanted)
    for key in wanted:
        if key not in found:
            raise MissingNodeError(key)
    return found


# --- ranges of leaves ----------------------------------------------------------------------------------------------


def _split(n: int) -> int:
    """The RFC's k: the largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_keys(start: int, end: int) -> list[NodeKey]:
    """The complete subtrees, left to right, whose right fold is MTH(D[start:end]).

    Defined for the ranges the RFC's recursion produces: the largest power of two <= end - start must divide
    `start` (then every later part is aligned too). Raises ValueError for any other range.
    """
    if start < 0 or end < start:
        raise ValueError(f"bad leaf range [{start}, {end})")
    keys: list[NodeKey] = []
    while start < end:
        size = 1 << ((end - start).bit_length() - 1)
        if start % size:
            raise ValueError(f"leaf range starting at {start} is not a subtree of an RFC 6962 tree")
        level = size.bit_length() - 1
        keys.append((level, start >> level))
        start += size
    return keys


def frontier_keys(size: int) -> list[NodeKey]:
    """The complete subtrees on the right edge of a tree of `size` leaves: the binary decomposition of size."""
    return range_keys(0, size)


@dataclass(frozen=True, slots=True)
class Span:
    """One proof element: MTH of leaves [start, end), built from the complete subtrees `keys` (left to right)."""

    start: int
    end: int
    keys: tuple[NodeKey, ...]

    @classmethod
    def of(cls, start: int, end: int) -> Span:
        return cls(start, end, tuple(range_keys(start, end)))

    @property
    def complete(self) -> bool:
        """Whether the range is a single stored node (no hashing needed)."""
        return len(self.keys) == 1


def keys_of(spans: Iterable[Span]) -> list[NodeKey]:
    """Every node the spans need, deduplicated, in first-use order: the argument of one `get_many`."""
    return list(dict.fromkeys(key for span in spans for key in span.keys))


def hash_spans(h: HashFn, spans: Iterable[Span], fetched: Mapping[NodeKey, bytes]) -> list[bytes]:
    """The MTH of each span from already fetched nodes."""
    out: list[bytes] = []
    for span in spans:
        try:
            parts = [fetched[key] for key in span.keys]
        except KeyError as exc:
            raise MissingNodeError(exc.args[0]) from None
        out.append(_fold(h, parts))
    return out


def subtree_hash(h: HashFn, nodes: NodeReader, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from stored complete subtrees (one batch fetch); h(b"") for an empty range."""
    keys = range_keys(start, end)
    if not keys:
        return empty_root(h)
    fetched = fetch(nodes, keys)
    return _fold(h, [fetched[key] for key in keys])


def root(h: HashFn, nodes: NodeReader, size: int) -> bytes:
    """MTH of the tree of the first `size` leaves."""
    return subtree_hash(h, nodes, 0, size)


# --- proofs (RFC 9162 §2.1.3.1 and §2.1.4.1) -----------------------------------------------------------------------


def inclusion_path_keys(index: int, size: int) -> list[Span]:
    """The elements of PATH(index, D[size]) as leaf ranges, in the RFC's order (the leaf's sibling first)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    top_down: list[Span] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            top_down.append(Span.of(mid, hi))
            hi = mid
        else:
            top_down.append(Span.of(lo, mid))
            lo = mid
    top_down.reverse()
    return top_down


def consistency_path_keys(old_size: int, new_size: int) -> list[Span]:
    """The elements of PROOF(old_size, D[new_size]) as leaf ranges, in the RFC's order.

    Empty when old_size == new_size, and for old_size == 0 (the empty tree is a prefix of every tree).
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    top_down: list[Span] = []
    lo, hi, m = 0, new_size, old_size  # the current subtree is D[lo:hi]; m is old_size relative to lo
    whole = True  # SUBPROOF's flag b: still on the left edge, where the old tree's root is known to the verifier
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            top_down.append(Span.of(lo + k, hi))
            hi = lo + k
        else:
            top_down.append(Span.of(lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        top_down.append(Span.of(lo, hi))
    top_down.reverse()
    return top_down


def inclusion_proof(h: HashFn, nodes: NodeReader, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) from stored nodes, fetched in one batch."""
    spans = inclusion_path_keys(index, size)
    return hash_spans(h, spans, fetch(nodes, keys_of(spans)))


def consistency_proof(h: HashFn, nodes: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) from stored nodes, fetched in one batch."""
    spans = consistency_path_keys(old_size, new_size)
    return hash_spans(h, spans, fetch(nodes, keys_of(spans)))


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------------------------------


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object, length: int) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == length


def _hashes_ok(values: object, length: int) -> bool:
    return isinstance(values, Sequence) and not isinstance(values, bytes | bytearray | str) and all(
        _is_hash(v, length) for v in values
    )


def verify_inclusion(h: HashFn, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """Whether `proof` shows the leaf with hash `leaf_hash` at `index` in the tree of `size` with head `root`."""
    if not (_is_size(index) and _is_size(size)) or index >= size:
        return False
    if not isinstance(root, bytes | bytearray) or not root:
        return False
    length = len(root)
    if not _is_hash(leaf_hash, length) or not _hashes_ok(proof, length):
        return False
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:  # the proof is longer than the path to the root
            return False
        if fn & 1 or fn == sn:
            r = node_hash(h, bytes(p), r)
            # on the right edge with no sibling at these levels: climb until this node is a right child again
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(h, r, bytes(p))
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, bytes(root))


def verify_consistency(h: HashFn, old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Whether `proof` shows the tree (old_size, old_root) is a prefix of the tree (new_size, new_root).

    Equal sizes need an empty proof and equal roots. old_size == 0 needs an empty proof and old_root = h(b"").
    """
    if not (_is_size(old_size) and _is_size(new_size)) or old_size > new_size:
        return False
    if not isinstance(old_root, bytes | bytearray) or not old_root:
        return False
    length = len(old_root)
    if not _is_hash(new_root, length) or not _hashes_ok(proof, length):
        return False
    if old_size == new_size:
        return len(proof) == 0 and hmac.compare_digest(bytes(old_root), bytes(new_root))
    if old_size == 0:
        return len(proof) == 0 and hmac.compare_digest(bytes(old_root), empty_root(h))
    if len(proof) == 0:  # step 1
        return False
    path = [bytes(p) for p in proof]
    if old_size & (old_size - 1) == 0:  # step 2: the old tree is complete; its root is the first node
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(h, c, fr)
            sr = node_hash(h, c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(h, sr, c)
        fn >>= 1
        sn >>= 1
    # step 7 (both comparisons are made, so the timing does not tell which root failed)
    old_ok = hmac.compare_digest(fr, bytes(old_root))
    new_ok = hmac.compare_digest(sr, bytes(new_root))
    return sn == 0 and old_ok and new_ok


# --- incremental building ------------------------------------------------------------------------------------------


class Appender:
    """Builds the tree leaf by leaf, keeping only the right-edge frontier (O(log n) memory and root).

    The frontier is the list of (level, hash) of the complete subtrees given by the binary decomposition of the
    size, left to right (largest first).
    """

    def __init__(self, h: HashFn, size: int = 0, frontier: Iterable[tuple[int, bytes]] = ()) -> None:
        if not _is_size(size):
            raise ValueError(f"bad tree size {size!r}")
        self.h = h
        self._size = size
        self._frontier: list[tuple[int, bytes]] = [(int(level), bytes(digest)) for level, digest in frontier]
        expected = [level for level, _ in frontier_keys(size)]
        if [level for level, _ in self._frontier] != expected:
            raise ValueError(f"a tree of size {size} has frontier levels {expected}")

    @classmethod
    def from_nodes(cls, h: HashFn, nodes: NodeReader, size: int) -> Appender:
        """Resume from stored complete subtrees (one batch fetch)."""
        keys = frontier_keys(size)
        fetched = fetch(nodes, keys)
        return cls(h, size, [(level, fetched[(level, index)]) for level, index in keys])

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> list[tuple[int, bytes]]:
        return list(self._frontier)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf; returns the complete nodes of level >= 1 it completes, as (level, index, hash), lowest first.

        Leaf `n` (the old size) completes the node at level L exactly when its low L bits are all ones; that node's
        index is n >> L.
        """
        created: list[tuple[int, int, bytes]] = []
        position = self._size
        level, acc = 0, bytes(leaf_hash)
        while self._frontier and self._frontier[-1][0] == level:
            _, left = self._frontier.pop()
            acc = node_hash(self.h, left, acc)
            level += 1
            created.append((level, position >> level, acc))
        self._frontier.append((level, acc))
        self._size += 1
        return created

    def root(self) -> bytes:
        """MTH of the current tree."""
        if not self._frontier:
            return empty_root(self.h)
        return _fold(self.h, [digest for _, digest in self._frontier])
