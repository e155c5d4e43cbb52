"""The RFC 6962 / RFC 9162 Merkle tree of the audit log, checked against sources that are not the code under test.

- A naive implementation written here from the recursive definitions of RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH)
  and §2.1.4.1 (PROOF / SUBPROOF), on raw entries, plus naive recursive verifiers that walk the same recursion.
- Published test data of the Certificate Transparency reference tree (8 entries):
  google/certificate-transparency python/ct/crypto/merkle_test.py (roots, consistency proofs, an audit path from
  a real log) and google/trillian merkle/testonly/constants.go (the hash of every complete subtree). The
  inclusion paths for (0, 8), (5, 8), (2, 3), (1, 5) are the ones Trillian's verifier tests use.

No database: these are plain functions over bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhengtong.audit import merkle
from zhengtong.audit.merkle import (
    Appender,
    InMemoryNodes,
    MissingNodeError,
    NodeKey,
    NodeReader,
    consistency_path_keys,
    consistency_proof,
    inclusion_path_keys,
    inclusion_proof,
    range_keys,
    root,
    root_from_leaves,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- the naive reference, literally the RFC's recursive definitions over entries D[0:n] --------------------------


def k_for(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_leaf(d: bytes) -> bytes:
    return sha(b"\x00" + d)


def naive_node(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01" + left + right)


@cache  # memoised only for speed; entries are tuples so slices can be cache keys
def MTH(D: tuple[bytes, ...]) -> bytes:  # noqa: N802, N803 — the RFC's names
    n = len(D)
    if n == 0:
        return sha(b"")
    if n == 1:
        return naive_leaf(D[0])
    k = k_for(n)
    return naive_node(MTH(D[:k]), MTH(D[k:]))


def PATH(m: int, D: tuple[bytes, ...]) -> list[bytes]:  # noqa: N802, N803
    n = len(D)
    if n == 1:
        return []
    k = k_for(n)
    if m < k:
        return PATH(m, D[:k]) + [MTH(D[k:])]
    return PATH(m - k, D[k:]) + [MTH(D[:k])]


def SUBPROOF(m: int, D: tuple[bytes, ...], b: bool) -> list[bytes]:  # noqa: N802, N803
    n = len(D)
    if m == n:
        return [] if b else [MTH(D)]
    k = k_for(n)
    if m <= k:
        return SUBPROOF(m, D[:k], b) + [MTH(D[k:])]
    return SUBPROOF(m - k, D[k:], False) + [MTH(D[:k])]


def PROOF(m: int, D: tuple[bytes, ...]) -> list[bytes]:  # noqa: N802, N803
    return SUBPROOF(m, D, True)


def naive_root_from_path(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """Walk PATH's recursion backwards: the root the path implies, or None if its length does not fit."""
    if n == 1:
        return leaf if not path else None
    if not path:
        return None
    k = k_for(n)
    if m < k:
        below = naive_root_from_path(m, k, leaf, path[:-1])
        return None if below is None else naive_node(below, path[-1])
    below = naive_root_from_path(m - k, n - k, leaf, path[:-1])
    return None if below is None else naive_node(path[-1], below)


def naive_roots_from_proof(m: int, n: int, proof: list[bytes], b: bool, old_root: bytes) -> tuple[bytes, bytes] | None:
    """Walk SUBPROOF's recursion backwards: (old subtree hash, new subtree hash) the proof implies, or None."""
    if m == n:
        if b:
            return (old_root, old_root) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = k_for(n)
    last = proof[-1]
    if m <= k:
        below = naive_roots_from_proof(m, k, proof[:-1], b, old_root)
        return None if below is None else (below[0], naive_node(below[1], last))
    below = naive_roots_from_proof(m - k, n - k, proof[:-1], False, old_root)
    return None if below is None else (naive_node(last, below[0]), naive_node(last, below[1]))


def naive_verify_inclusion(m: int, n: int, leaf: bytes, path: list[bytes], root_hash: bytes) -> bool:
    return 0 <= m < n and naive_root_from_path(m, n, leaf, path) == root_hash


def naive_verify_consistency(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> bool:
    if not 0 < m <= n:
        return False
    got = naive_roots_from_proof(m, n, proof, True, old)
    return got == (old, new)


# --- fixtures: entries, stores, a store that polices what it is asked -------------------------------------------

N_EXHAUSTIVE = 70
N_BIG = 4096
ENTRIES = tuple(f"审计条目 {i}".encode() for i in range(N_BIG))


@cache
def leaf_hashes(n: int) -> tuple[bytes, ...]:
    return tuple(naive_leaf(d) for d in ENTRIES[:n])


@cache
def big_store() -> InMemoryNodes:
    return InMemoryNodes.from_leaves(sha, leaf_hashes(N_BIG))


class Policed:
    """A NodeReader over a larger store that fails if asked for a node outside a tree of `size`, counts batches,
    and refuses single `get` calls, so proofs must come from one `get_many`."""

    def __init__(self, store: InMemoryNodes, size: int) -> None:
        self.store, self.size, self.batches = store, size, 0

    def get(self, level: int, index: int) -> bytes:
        raise AssertionError("single-node reads are not expected")

    def get_many(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        self.batches += 1
        keys = list(keys)
        for level, index in keys:
            assert (index + 1) << level <= self.size, f"node {level}/{index} lies outside a tree of {self.size}"
        return self.store.get_many(keys)


def flip(b: bytes, at: int = 0) -> bytes:
    return b[:at] + bytes([b[at] ^ 0x40]) + b[at + 1:]


# --- hashing and the CT reference tree ---------------------------------------------------------------------------

CT_ENTRIES = tuple(bytes.fromhex(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
))
CT_ROOTS = [bytes.fromhex(x) for x in (  # MTH(D[n]) for n = 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
CT_NODES = {  # Trillian's NodeHashes(): level -> hashes by index
    0: ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"],
    1: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"],
    2: ["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    3: ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
}
CT_INCLUSION = [  # (leaf index, tree size, PATH)
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_CONSISTENCY = [  # (old size, new size, PROOF)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]

# An audit path from a real CT log (python/ct/crypto/merkle_test.py): leaf 848049 of 3630887.
CT_LOG_LEAF_HASH = bytes.fromhex("7a395c866d5ecdb0cccb623e011dbc392cd348d1d1d72776174e127a24b09c78")
CT_LOG_INDEX, CT_LOG_SIZE = 848049, 3630887
CT_LOG_ROOT = bytes.fromhex("78316a05c9bcf14a3a4548f5b854a9adfcd46a4c034401b3ce7eb7ac2f1d0ecb")
CT_LOG_PATH = [bytes.fromhex(x) for x in (
    "1a208aeebcd1b39fe2de247ee8db9454e1e93a312d206b87f6ca9cc6ec6f1ddd",
    "0a1b78b383f580856f433c01a5741e160d451c185910027f6cc9f828687a40c4",
    "3d1745789bc63f2da15850de1c12a5bf46ed81e1cc90f086148b1662e79aab3d",
    "9095b61e14d8990acf390905621e62b1714fb8e399fbb71de5510e0aef45affe",
    "0a332b91b8fab564e6afd1dd452449e04619b18accc0ff9aa8393cd4928451f2",
    "2336f0181d264aed6d8f3a6507ca14a8d3b3c3a23791ac263e845d208c1ee330",
    "b4ce56e300590500360c146c6452edbede25d4ed83919278749ee5dbe178e048",
    "933f6ddc848ea562e4f9c5cfb5f176941301dad0c6fdb9d1fbbe34fac1be6966",
    "b95a6222958a86f74c030be27c44f57dbe313e5e7c7f4ffb98bcbd3a03bb52f2",
    "daeeb3ce5923defd0faeb8e0c210b753b85b809445d7d3d3cd537a9aabaa9c45",
    "7fadd0a13e9138a2aa6c3fdec4e2275af233b94812784f66bcca9aa8e989f2bc",
    "1864e6ba3e32878610546539734fb5eeae2529991f130c575c73a7e25a2a7c56",
    "12842d1202b1dc6828a17ab253c02e7ce9409b5192430feba44189f39cc02d66",
    "29af64b16fa3053c13d02ac63aa75b23aa468506e44c3a2315edc85d2dc22b11",
    "b527b99934a0bd9edd154e449b0502e2c499bba783f3bc3dfe23364b6b532009",
    "4584db8ae8e351ace08e01f306378a92bfd43611714814f3d834a2842d69faa8",
    "86a9a41573b0d6e4292f01e93243d6cc65b30f06606fc6fa57390e7e90ed580f",
    "a88b98fbe84d4c6aae8db9d1605dfac059d9f03fe0fcb0d5dff1295dacba09e6",
    "06326dc617a6d1f7021dc536026dbfd5fffc6f7c5531d48ef6ccd1ed1569f2a1",
    "f41fe8fdc3a2e4e8345e30216e7ebecffee26ff266eeced208a6c2a3cf08f960",
    "40cf5bde8abb76983f3e98ba97aa36240402975674e120f234b3448911090f8d",
    "b3222dc8658538079883d980d7fdc2bef9285344ea34338968f736b04aeb387a",
)]


def hexes(xs: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in xs]


def ct_store() -> InMemoryNodes:
    return InMemoryNodes.from_leaves(sha, [merkle.leaf_hash(sha, d) for d in CT_ENTRIES])


def test_hash_primitives_match_published_values() -> None:
    assert merkle.empty_root(sha) == CT_ROOTS[0]
    assert merkle.leaf_hash(sha, b"") == CT_ROOTS[1]
    assert merkle.leaf_hash(sha, bytes.fromhex("101112131415161718191a1b1c1d1e1f")).hex() == (
        "3bfb960453ebaebf33727da7a1f4db38acc051d381b6da20d6d4e88f0eabfd7a")
    left = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    right = bytes.fromhex("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
    assert merkle.node_hash(sha, left, right).hex() == (
        "1a378704c17da31e2d05b6d121c2bb2c7d76f6ee6fa8f983e596c2d034963c57")


def test_ct_reference_roots_every_way() -> None:
    hashes = [merkle.leaf_hash(sha, d) for d in CT_ENTRIES]
    store = ct_store()
    appender = Appender(sha)
    assert appender.root() == CT_ROOTS[0]
    for n in range(9):
        assert root_from_leaves(sha, hashes[:n]) == CT_ROOTS[n]
        assert root(sha, store, n) == CT_ROOTS[n]
        assert MTH(CT_ENTRIES[:n]) == CT_ROOTS[n]  # the naive reference agrees with the published data too
        if n:
            appender.append(hashes[n - 1])
            assert appender.root() == CT_ROOTS[n]


def test_ct_reference_complete_subtrees_are_exactly_the_stored_nodes() -> None:
    expected = {(level, i): bytes.fromhex(x) for level, xs in CT_NODES.items() for i, x in enumerate(xs)}
    assert ct_store().nodes == expected


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_reference_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(sha, ct_store(), index, size)
    assert proof == hexes(path)
    assert verify_inclusion(sha, index, size, merkle.leaf_hash(sha, CT_ENTRIES[index]), proof, CT_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_ct_reference_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(sha, ct_store(), old, new)
    assert proof == hexes(path)
    assert verify_consistency(sha, old, new, CT_ROOTS[old], CT_ROOTS[new], proof)


def test_ct_reference_bad_consistency_proofs_from_the_ct_suite() -> None:
    good = hexes(CT_CONSISTENCY[2][2])
    assert not verify_consistency(sha, 6, 8, CT_ROOTS[6], CT_ROOTS[8], good[:2])  # too short
    assert not verify_consistency(sha, 6, 8, CT_ROOTS[6], flip(CT_ROOTS[8], 31), good)  # bad second root
    assert not verify_consistency(sha, 6, 8, flip(CT_ROOTS[6], 31), CT_ROOTS[8], good)  # bad first root
    assert not verify_consistency(sha, 5, 2, CT_ROOTS[5], CT_ROOTS[2], hexes(CT_CONSISTENCY[3][2]))  # shrinking


def test_audit_path_from_a_real_ct_log() -> None:
    assert len(CT_LOG_PATH) == 22
    assert verify_inclusion(sha, CT_LOG_INDEX, CT_LOG_SIZE, CT_LOG_LEAF_HASH, CT_LOG_PATH, CT_LOG_ROOT)
    assert not verify_inclusion(sha, CT_LOG_INDEX + 1, CT_LOG_SIZE, CT_LOG_LEAF_HASH, CT_LOG_PATH, CT_LOG_ROOT)
    assert not verify_inclusion(sha, CT_LOG_INDEX, CT_LOG_SIZE, CT_LOG_LEAF_HASH, CT_LOG_PATH, bytes(32))
    # The CT suite's "too short" case: an index beyond what 22 levels can reach.
    far = CT_LOG_INDEX + 2 ** (len(CT_LOG_PATH) + 1)
    assert not verify_inclusion(sha, far, CT_LOG_SIZE, CT_LOG_LEAF_HASH, CT_LOG_PATH, CT_LOG_ROOT)
    assert not verify_inclusion(sha, CT_LOG_INDEX, CT_LOG_SIZE, CT_LOG_LEAF_HASH, CT_LOG_PATH[:-1], CT_LOG_ROOT)


# --- exhaustive comparison with the naive RFC definitions --------------------------------------------------------


def test_roots_for_every_size_from_appender_nodes_and_leaves() -> None:
    appender = Appender(sha)
    store = big_store()
    for n in range(N_EXHAUSTIVE + 1):
        expected = MTH(ENTRIES[:n])
        assert appender.root() == expected, n
        assert root(sha, Policed(store, n), n) == expected, n
        assert root_from_leaves(sha, leaf_hashes(n)) == expected, n
        if n < N_EXHAUSTIVE:
            appender.append(leaf_hashes(N_EXHAUSTIVE)[n])


def test_appender_emits_every_complete_node_once_with_its_position() -> None:
    appender = Appender(sha)
    emitted: dict[NodeKey, bytes] = {}
    for n, lh in enumerate(leaf_hashes(N_EXHAUSTIVE)):
        for level, index, digest in appender.append(lh):
            assert level >= 1
            assert (level, index) not in emitted
            emitted[(level, index)] = digest
            start, end = index << level, (index + 1) << level
            assert end == n + 1  # a node is completed by its last leaf
            assert digest == MTH(ENTRIES[start:end])
    expected_keys = {(lv, i) for lv in range(1, 7) for i in range(N_EXHAUSTIVE >> lv)}
    assert set(emitted) == expected_keys


def test_appender_resumes_from_stored_nodes_at_every_size() -> None:
    store = big_store()
    for n in range(N_EXHAUSTIVE + 1):
        policed = Policed(store, n)
        resumed = Appender.from_nodes(sha, policed, n)
        assert policed.batches == (1 if n else 0)
        assert resumed.size == n
        assert [lv for lv, _ in resumed.frontier] == [lv for lv in range(n.bit_length(), -1, -1) if n >> lv & 1]
        assert resumed.root() == MTH(ENTRIES[:n])
        fresh = Appender(sha)
        for lh in leaf_hashes(n):
            fresh.append(lh)
        assert resumed.frontier == fresh.frontier
        nxt = leaf_hashes(n + 1)[n]
        assert resumed.append(nxt) == fresh.append(nxt)
        assert resumed.root() == MTH(ENTRIES[: n + 1])


def test_appender_rejects_a_frontier_that_does_not_fit_the_size() -> None:
    with pytest.raises(ValueError, match="frontier"):
        Appender(sha, 3, [(1, bytes(32))])
    with pytest.raises(ValueError, match="frontier"):
        Appender(sha, 2, [(0, bytes(32)), (0, bytes(32))])
    with pytest.raises(ValueError):
        Appender(sha, -1)


def test_subtree_hash_of_every_rfc_shaped_range() -> None:
    store = big_store()
    checked = 0
    for start in range(N_EXHAUSTIVE):
        for end in range(start + 1, N_EXHAUSTIVE + 1):
            size = 1 << ((end - start).bit_length() - 1)
            if start % size:
                with pytest.raises(ValueError):
                    range_keys(start, end)
                continue
            assert subtree_hash(sha, Policed(store, end), start, end) == MTH(ENTRIES[start:end])
            checked += 1
    assert checked > 300
    assert subtree_hash(sha, store, 5, 5) == sha(b"")


def test_inclusion_proofs_for_every_leaf_of_every_tree_up_to_70() -> None:
    store = big_store()
    for n in range(1, N_EXHAUSTIVE + 1):
        D = ENTRIES[:n]  # noqa: N806
        tree_root = MTH(D)
        for m in range(n):
            policed = Policed(store, n)
            proof = inclusion_proof(sha, policed, m, n)
            assert policed.batches == (1 if n > 1 else 0)
            assert proof == PATH(m, D), (m, n)
            spans = inclusion_path_keys(m, n)
            assert [MTH(ENTRIES[s.start:s.end]) for s in spans] == proof
            lh = naive_leaf(D[m])
            assert verify_inclusion(sha, m, n, lh, proof, tree_root)
            # every tampering is refused
            assert not verify_inclusion(sha, m, n, lh, proof, flip(tree_root, m % 32))
            assert not verify_inclusion(sha, m, n, flip(lh), proof, tree_root)
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = flip(bad[i], (m + i) % 32)
                assert not verify_inclusion(sha, m, n, lh, bad, tree_root)
            if proof:
                assert not verify_inclusion(sha, m, n, lh, proof[:-1], tree_root)
                assert not verify_inclusion(sha, m, n, lh, proof[1:], tree_root)
            assert not verify_inclusion(sha, m, n, lh, [*proof, tree_root], tree_root)
            assert not verify_inclusion(sha, m, n, lh, [tree_root, *proof], tree_root)
            for other in (m - 1, m + 1, m ^ 2):
                assert not verify_inclusion(sha, other, n, lh, proof, tree_root)
            assert not verify_inclusion(sha, m, 2 * n, lh, proof, tree_root)
            if m < n // 2:
                assert not verify_inclusion(sha, m, n // 2, lh, proof, tree_root)
            # A size whose path has the same shape gives the same computation: only the root binds the size.
            # The bit-twiddling verifier must agree with the recursive one on those too.
            for size in (n - 1, n + 1, n + 2):
                assert verify_inclusion(sha, m, size, lh, proof, tree_root) == naive_verify_inclusion(
                    m, size, lh, proof, tree_root), (m, n, size)


def test_consistency_proofs_for_every_pair_up_to_70() -> None:
    store = big_store()
    roots = [MTH(ENTRIES[:n]) for n in range(N_EXHAUSTIVE + 2)]
    for n in range(1, N_EXHAUSTIVE + 1):
        D = ENTRIES[:n]  # noqa: N806
        for m in range(1, n + 1):
            policed = Policed(store, n)
            proof = consistency_proof(sha, policed, m, n)
            assert policed.batches == (1 if m < n else 0)
            assert proof == PROOF(m, D), (m, n)
            spans = consistency_path_keys(m, n)
            assert [MTH(ENTRIES[s.start:s.end]) for s in spans] == proof
            old, new = roots[m], roots[n]
            assert verify_consistency(sha, m, n, old, new, proof)
            assert naive_verify_consistency(m, n, old, new, proof)
            assert not verify_consistency(sha, m, n, flip(old, 1), new, proof)
            assert not verify_consistency(sha, m, n, old, flip(new, 2), proof)
            if m == n:
                assert not verify_consistency(sha, m, n, old, new, [old])
                continue
            assert not verify_consistency(sha, m, n, new, old, proof)
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = flip(bad[i], (m + n + i) % 32)
                assert not verify_consistency(sha, m, n, old, new, bad)
            assert not verify_consistency(sha, m, n, old, new, proof[:-1])
            assert not verify_consistency(sha, m, n, old, new, proof[1:])
            assert not verify_consistency(sha, m, n, old, new, [*proof, new])
            assert not verify_consistency(sha, m, n, old, new, [old, *proof])
            assert not verify_consistency(sha, m, n, old, new, [proof[0], *proof])
            assert not verify_consistency(sha, m, 2 * n, old, new, proof)
            # neighbouring sizes with the right roots: the bit-twiddling verifier agrees with the recursive one
            for m2, n2 in ((m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1)):
                if 0 < m2 <= n2 <= N_EXHAUSTIVE + 1:
                    got = verify_consistency(sha, m2, n2, roots[m2], roots[n2], proof)
                    assert got == naive_verify_consistency(m2, n2, roots[m2], roots[n2], proof), (m, n, m2, n2)


# --- edges and malformed input -----------------------------------------------------------------------------------


def test_trivial_consistency_cases() -> None:
    r3, r5 = MTH(ENTRIES[:3]), MTH(ENTRIES[:5])
    assert consistency_path_keys(0, 5) == []
    assert consistency_path_keys(3, 3) == []
    assert verify_consistency(sha, 3, 3, r3, r3, [])
    assert not verify_consistency(sha, 3, 3, r3, r5, [])
    assert not verify_consistency(sha, 3, 3, r3, r3, [r3])
    assert verify_consistency(sha, 0, 5, sha(b""), r5, [])
    assert verify_consistency(sha, 0, 0, sha(b""), sha(b""), [])
    assert not verify_consistency(sha, 0, 5, r3, r5, [])  # a non-empty tree is not size 0
    assert not verify_consistency(sha, 0, 5, sha(b""), r5, [r5])
    assert not verify_consistency(sha, 3, 5, r3, r5, [])  # RFC step 1


def test_generation_rejects_impossible_requests() -> None:
    with pytest.raises(ValueError):
        inclusion_path_keys(5, 5)
    with pytest.raises(ValueError):
        inclusion_path_keys(-1, 5)
    with pytest.raises(ValueError):
        consistency_path_keys(6, 5)
    with pytest.raises(ValueError):
        range_keys(3, 2)
    with pytest.raises(ValueError):
        range_keys(1, 3)  # [1, 3) is never a subtree of an RFC 6962 tree


def test_missing_nodes_are_reported() -> None:
    store = InMemoryNodes.from_leaves(sha, leaf_hashes(10))
    del store.nodes[(1, 1)]  # the sibling pair of leaf 0's parent
    with pytest.raises(MissingNodeError):
        inclusion_proof(sha, store, 0, 10)
    with pytest.raises(MissingNodeError):
        Appender.from_nodes(sha, InMemoryNodes(), 3)
    with pytest.raises(MissingNodeError):
        store.get(9, 9)
    assert isinstance(store, NodeReader)


MALFORMED_INCLUSION = [
    (-1, 5), (5, 5), (6, 5), (0, 0), (0, -1), (True, 5), (0.0, 5), ("0", 5), (None, 5), (0, None),
]


@pytest.mark.parametrize(("index", "size"), MALFORMED_INCLUSION)
def test_verify_inclusion_refuses_bad_sizes_without_raising(index: object, size: object) -> None:
    r5 = MTH(ENTRIES[:5])
    proof = PATH(0, ENTRIES[:5])
    assert verify_inclusion(sha, index, size, naive_leaf(ENTRIES[0]), proof, r5) is False  # type: ignore[arg-type]


def test_verify_refuses_malformed_hashes_without_raising() -> None:
    D = ENTRIES[:5]  # noqa: N806
    r5, lh, proof = MTH(D), naive_leaf(D[0]), PATH(0, D)
    for bad_proof in (None, "abc", b"x" * 32, [None] * 3, [p.hex() for p in proof], [*proof[:2], b"short"],
                      [*proof[:2], proof[2] + b"\x00"], [b""] * 3):
        assert verify_inclusion(sha, 0, 5, lh, bad_proof, r5) is False  # type: ignore[arg-type]
    for bad in (None, b"", "00" * 32, lh[:31]):
        assert verify_inclusion(sha, 0, 5, bad, proof, r5) is False  # type: ignore[arg-type]
        assert verify_inclusion(sha, 0, 5, lh, proof, bad) is False  # type: ignore[arg-type]
    r3, cproof = MTH(D[:3]), PROOF(3, D)
    assert verify_consistency(sha, 3, 5, r3, r5, cproof)
    for m, n in ((-1, 5), (3, -5), (6, 5), (True, 5), (3.0, 5), (None, 5)):
        assert verify_consistency(sha, m, n, r3, r5, cproof) is False  # type: ignore[arg-type]
    for bad_proof in (None, "x", [None, None], [c[:16] for c in cproof], [*cproof, b""]):
        assert verify_consistency(sha, 3, 5, r3, r5, bad_proof) is False  # type: ignore[arg-type]
    for bad in (None, b"", r3[:31], r3 + b"\x00"):
        assert verify_consistency(sha, 3, 5, bad, r5, cproof) is False  # type: ignore[arg-type]
        assert verify_consistency(sha, 3, 5, r3, bad, cproof) is False  # type: ignore[arg-type]
    # huge claimed sizes do not make the verifiers loop or raise
    assert verify_inclusion(sha, 2**200, 2**201, lh, proof, r5) is False
    assert verify_consistency(sha, 2**200 - 1, 2**201, r3, r5, cproof) is False


def test_other_hash_functions_are_used_throughout() -> None:
    def blake(data: bytes) -> bytes:
        return hashlib.blake2s(data).digest()

    hashes = [merkle.leaf_hash(blake, d) for d in ENTRIES[:13]]
    store = InMemoryNodes.from_leaves(blake, hashes)
    r13, r7 = root(blake, store, 13), root(blake, store, 7)
    assert r13 == root_from_leaves(blake, hashes) != MTH(ENTRIES[:13])
    assert verify_inclusion(blake, 9, 13, hashes[9], inclusion_proof(blake, store, 9, 13), r13)
    assert verify_consistency(blake, 7, 13, r7, r13, consistency_proof(blake, store, 7, 13))
    assert not verify_inclusion(sha, 9, 13, hashes[9], inclusion_proof(blake, store, 9, 13), r13)


# --- property tests on larger trees ------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(data=st.data(), size=st.integers(min_value=1, max_value=N_BIG))
def test_inclusion_round_trip_on_large_trees(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    policed = Policed(big_store(), size)
    tree_root = root(sha, policed, size)
    proof = inclusion_proof(sha, policed, index, size)
    assert policed.batches == (2 if size > 1 else 1)
    assert len(proof) <= (size - 1).bit_length()
    lh = leaf_hashes(N_BIG)[index]
    assert verify_inclusion(sha, index, size, lh, proof, tree_root)
    assert naive_verify_inclusion(index, size, lh, proof, tree_root)
    if proof:
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="tampered element")
        byte = data.draw(st.integers(min_value=0, max_value=31), label="tampered byte")
        bad = list(proof)
        bad[at] = flip(bad[at], byte)
        assert not verify_inclusion(sha, index, size, lh, bad, tree_root)
        assert not verify_inclusion(sha, index, size, lh, proof[:-1], tree_root)
    assert not verify_inclusion(sha, index, size, lh, [*proof, lh], tree_root)
    if size > 1:
        other = (index + data.draw(st.integers(min_value=1, max_value=size - 1), label="shift")) % size
        assert not verify_inclusion(sha, other, size, lh, proof, tree_root)


@PROPERTY_SETTINGS
@given(data=st.data(), new=st.integers(min_value=2, max_value=N_BIG))
def test_consistency_round_trip_on_large_trees(data: st.DataObject, new: int) -> None:
    old = data.draw(st.integers(min_value=1, max_value=new - 1), label="old")
    store = big_store()
    old_root, new_root = root(sha, store, old), root(sha, store, new)
    policed = Policed(store, new)
    proof = consistency_proof(sha, policed, old, new)
    assert policed.batches == 1
    assert verify_consistency(sha, old, new, old_root, new_root, proof)
    assert naive_verify_consistency(old, new, old_root, new_root, proof)
    at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="tampered element")
    bad = list(proof)
    bad[at] = flip(bad[at], at % 32)
    assert not verify_consistency(sha, old, new, old_root, new_root, bad)
    assert not verify_consistency(sha, old, new, old_root, new_root, proof[:-1])
    assert not verify_consistency(sha, old, new, old_root, new_root, [*proof, new_root])
    assert not verify_consistency(sha, old, new, new_root, old_root, proof)


@PROPERTY_SETTINGS
@given(size=st.integers(min_value=0, max_value=N_BIG))
def test_appender_frontier_and_resume_on_large_trees(size: int) -> None:
    resumed = Appender.from_nodes(sha, Policed(big_store(), size), size)
    assert resumed.root() == root(sha, big_store(), size)
    if size < N_BIG:
        created = resumed.append(leaf_hashes(N_BIG)[size])
        assert [(lv, i, big_store().get(lv, i)) for lv, i, _ in created] == created
        assert resumed.root() == root(sha, big_store(), size + 1)
