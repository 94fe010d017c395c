"""RFC 9162 Merkle tree: roots, proofs, verification and the O(log n) promise."""

from __future__ import annotations

import hashlib
import math

import pymerkle  # GPL: imported only here, as an outside reference
import pytest
from hypothesis import given, settings, strategies as st

from provledger._errors import ProofError
from provledger._merkle import (
    EMPTY_ROOT,
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    new_subtrees,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

# STANDARDS.md: the RFC 6962 test leaves and the roots of their first n.
LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
N = 64


# -- a reference written straight from RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 --------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = _k(len(hashes))
    return node_hash(ref_mth(hashes[:k]), ref_mth(hashes[k:]))


def ref_path(m: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _k(len(hashes))
    if m < k:
        return [*ref_path(m, hashes[:k]), ref_mth(hashes[k:])]
    return [*ref_path(m - k, hashes[k:]), ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [ref_mth(hashes)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, hashes[:k], whole), ref_mth(hashes[k:])]
    return [*ref_subproof(m - k, hashes[k:], False), ref_mth(hashes[:k])]


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    t = MemoryTree()
    for i in range(N):
        t.append(i.to_bytes(2, "big"))
    return t


@pytest.fixture(scope="module")
def hashes(tree: MemoryTree) -> list[bytes]:
    return [tree.subtree(0, i) for i in range(N)]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# -- published values ---------------------------------------------------------------


def test_published_roots() -> None:
    t = MemoryTree()
    assert t.root().hex() == ROOTS[0] == EMPTY_ROOT.hex()
    for n, entry in enumerate(LEAVES, start=1):
        assert t.append(entry) == n - 1
        assert t.root().hex() == ROOTS[n]
        assert root(n, t).hex() == ROOTS[n]
    for n in range(9):
        assert t.root(n).hex() == ROOTS[n]


def test_hash_domain_separation() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )


# -- proofs equal the RFC definitions and verify ------------------------------------------


def test_roots_and_inclusion_match_rfc(tree: MemoryTree, hashes: list[bytes]) -> None:
    for n in range(1, N + 1):
        expected_root = ref_mth(hashes[:n])
        assert root(n, tree) == expected_root
        for i in range(n):
            proof = inclusion_proof(i, n, tree)
            assert proof == ref_path(i, hashes[:n])
            verify_inclusion(hashes[i], index=i, size=n, proof=proof, root=expected_root)


def test_consistency_matches_rfc(tree: MemoryTree, hashes: list[bytes]) -> None:
    roots = [ref_mth(hashes[:n]) for n in range(N + 1)]
    for n in range(1, N + 1):
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, tree)
            assert proof == ref_subproof(m, hashes[:n], True)
            verify_consistency(
                old_size=m, new_size=n, old_root=roots[m], new_root=roots[n], proof=proof
            )


def test_new_subtrees_rows_are_every_perfect_subtree_once(hashes: list[bytes]) -> None:
    t = MemoryTree()
    seen: dict[tuple[int, int], bytes] = {}
    for i, h in enumerate(hashes):
        for level, index, digest in new_subtrees(i, h, t):
            assert (level, index) not in seen
            assert (index + 1) << level == i + 1  # completed exactly by this leaf
            seen[(level, index)] = digest
        t.append_leaf_hash(h)
    for (level, index), digest in seen.items():
        assert digest == ref_mth(hashes[index << level : (index + 1) << level])
    assert len(seen) == 2 * N - 1


class CountingTree(MemoryTree):
    """A MemoryTree that counts its own subtree reads (appends included)."""

    reads = 0

    def subtree(self, level: int, index: int) -> bytes:
        self.reads += 1
        return super().subtree(level, index)


def test_reads_are_logarithmic() -> None:
    t = CountingTree()
    for i in range(5000):
        t.append(i.to_bytes(4, "big"))
    # Appending n leaves reads fewer than n subtrees in total (amortised O(1)).
    assert t.reads < 5000
    for n in (1, 2, 3, 1000, 4095, 4096, 4097, 4999, 5000):
        bound = 2 * math.ceil(math.log2(n + 1)) + 2
        calls = [
            (root, (n, t)),
            (inclusion_proof, (0, n, t)),
            (inclusion_proof, (n - 1, n, t)),
            (inclusion_proof, (n // 3, n, t)),
            (consistency_proof, (max(1, n // 3), n, t)),
            (consistency_proof, (max(1, n - 1), n, t)),
        ]
        for fn, args in calls:
            t.reads = 0
            fn(*args)  # type: ignore[operator]
            assert t.reads <= bound, (fn.__name__, n, t.reads)


class MemoTree(MemoryTree):
    """A MemoryTree with a path memo, as the SQLite store has."""

    def __init__(self) -> None:
        super().__init__()
        self.path_memo: dict[tuple[int, int], object] = {}


@pytest.mark.parametrize(("level", "bits"), [(0, 1), (1, 2), (3, 3), (10, 11)])
def test_memoised_paths_are_the_walked_ones(monkeypatch: pytest.MonkeyPatch, level: int,
                                            bits: int) -> None:
    """Every index and size, with the memo warm across appends and clears."""
    import provledger._merkle as merkle

    monkeypatch.setattr(merkle, "_MEMO_LEVEL", level)
    monkeypatch.setattr(merkle, "_MEMO_BITS", bits)
    plain, memo = MemoryTree(), MemoTree()
    for i in range(80):
        plain.append(i.to_bytes(4, "big"))
        memo.append(i.to_bytes(4, "big"))
        for n in (i + 1, max(1, i - 6)):
            for j in range(n):
                assert inclusion_proof(j, n, memo) == inclusion_proof(j, n, plain)
    assert bool(memo.path_memo) == (level < 6)


# -- every bit flip, every off-by-one -------------------------------------------------


def test_every_bit_flip_rejected_small(tree: MemoryTree, hashes: list[bytes]) -> None:
    for n in range(1, 9):
        r = tree.root(n)
        for i in range(n):
            proof = inclusion_proof(i, n, tree)
            for j in range(len(proof)):
                for bit in range(256):
                    bad = [*proof[:j], _flip(proof[j], bit), *proof[j + 1 :]]
                    with pytest.raises(ProofError):
                        verify_inclusion(hashes[i], index=i, size=n, proof=bad, root=r)
            for bit in range(256):
                with pytest.raises(ProofError):
                    verify_inclusion(hashes[i], index=i, size=n, proof=proof, root=_flip(r, bit))
        for m in range(1, n):
            proof = consistency_proof(m, n, tree)
            old = tree.root(m)
            for j in range(len(proof)):
                for bit in range(256):
                    bad = [*proof[:j], _flip(proof[j], bit), *proof[j + 1 :]]
                    with pytest.raises(ProofError):
                        verify_consistency(
                            old_size=m, new_size=n, old_root=old, new_root=r, proof=bad
                        )
            for bit in range(256):
                with pytest.raises(ProofError):
                    verify_consistency(
                        old_size=m, new_size=n, old_root=_flip(old, bit), new_root=r, proof=proof
                    )
                with pytest.raises(ProofError):
                    verify_consistency(
                        old_size=m, new_size=n, old_root=old, new_root=_flip(r, bit), proof=proof
                    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_bit_flips_rejected_up_to_64(
    tree: MemoryTree, hashes: list[bytes], data: st.DataObject
) -> None:
    n = data.draw(st.integers(2, N))
    i = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(i, n, tree)
    j = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    bad = [*proof[:j], _flip(proof[j], bit), *proof[j + 1 :]]
    with pytest.raises(ProofError):
        verify_inclusion(hashes[i], index=i, size=n, proof=bad, root=tree.root(n))
    m = data.draw(st.integers(1, n - 1))
    cproof = consistency_proof(m, n, tree)
    j = data.draw(st.integers(0, len(cproof) - 1))
    bad = [*cproof[:j], _flip(cproof[j], bit), *cproof[j + 1 :]]
    with pytest.raises(ProofError):
        verify_consistency(
            old_size=m, new_size=n, old_root=tree.root(m), new_root=tree.root(n), proof=bad
        )


def _inclusion_walk(index: int, size: int) -> list[bool]:
    """The left/right decisions RFC 9162 §2.1.3.2 takes, up to sn reaching 0."""
    fn, sn, walk = index, size - 1, []
    while sn:
        walk.append(bool(fn & 1 or fn == sn))
        if fn == sn and not fn & 1:
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        fn, sn = fn >> 1, sn >> 1
    return walk


def _consistency_walk(old: int, new: int) -> list[bool]:
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    walk = []
    while sn:
        walk.append(bool(fn & 1 or fn == sn))
        if fn == sn and not fn & 1:
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        fn, sn = fn >> 1, sn >> 1
    return [old & (old - 1) == 0, *walk]


def test_off_by_one(tree: MemoryTree, hashes: list[bytes]) -> None:
    """A wrong index or old size is always rejected. A wrong tree size is
    rejected unless RFC 9162's walk for it is identical: the size only steers
    the walk, which is why it must come from a signed checkpoint."""
    accepted_sizes = 0
    for n in range(1, N + 1):
        r = tree.root(n)
        for i in range(n):
            proof = inclusion_proof(i, n, tree)
            for i2 in (i - 1, i + 1):
                if i2 >= 0:
                    with pytest.raises(ProofError):
                        verify_inclusion(hashes[i], index=i2, size=n, proof=proof, root=r)
            for n2 in (n - 1, n + 1):
                try:
                    verify_inclusion(hashes[i], index=i, size=n2, proof=proof, root=r)
                except ProofError:
                    continue
                accepted_sizes += 1
                assert _inclusion_walk(i, n2) == _inclusion_walk(i, n)
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, tree)
            old = tree.root(m)
            for m2 in (m - 1, m + 1):
                with pytest.raises(ProofError):
                    verify_consistency(
                        old_size=m2, new_size=n, old_root=old, new_root=r, proof=proof
                    )
            for n2 in (n - 1, n + 1):
                try:
                    verify_consistency(
                        old_size=m, new_size=n2, old_root=old, new_root=r, proof=proof
                    )
                except ProofError:
                    continue
                assert m < n
                assert _consistency_walk(m, n2) == _consistency_walk(m, n)
    assert accepted_sizes > 0  # the limitation is real; the checkpoint must bind size


# -- error messages -----------------------------------------------------------------------


def test_inclusion_errors(tree: MemoryTree, hashes: list[bytes]) -> None:
    r5, p = tree.root(5), inclusion_proof(2, 5, tree)

    def check(match: str, **kw: object) -> None:
        args: dict[str, object] = {"index": 2, "size": 5, "proof": p, "root": r5}
        args.update(kw)
        leaf = args.pop("leaf", hashes[2])
        with pytest.raises(ProofError, match=match):
            verify_inclusion(leaf, **args)  # type: ignore[arg-type]

    check("tree size 0", size=0, index=0)
    check("not below tree size 5", index=5)
    check("hash 1 must be 32 bytes, got 31", proof=[p[0], p[1][:31], p[2]])
    check("root hash must be 32 bytes", root=r5 + b"\0")
    check("leaf hash must be 32 bytes", leaf=b"x")
    check("4 hashes given, only 3 needed", proof=[*p, p[0]])
    check("2 hashes given, more are needed", proof=p[:2])
    check("does not match expected root", root=tree.root(6))
    check("outside", index=-1)
    check("must be an integer", index=True)
    check("sequence of hashes", proof=b"".join(p))
    with pytest.raises(ProofError, match="more than any tree needs"):
        root_from_inclusion_proof(hashes[0], index=0, size=2**62, proof=[p[0]] * 65)


def test_consistency_errors(tree: MemoryTree) -> None:
    r3, r7 = tree.root(3), tree.root(7)
    p = consistency_proof(3, 7, tree)

    def check(match: str, **kw: object) -> None:
        args: dict[str, object] = {
            "old_size": 3, "new_size": 7, "old_root": r3, "new_root": r7, "proof": p
        }  # fmt: skip
        args.update(kw)
        with pytest.raises(ProofError, match=match):
            verify_consistency(**args)  # type: ignore[arg-type]

    check("empty tree are not defined", old_size=0)
    check("old size is larger", old_size=8)
    check("equal sizes need an empty proof", old_size=7, old_root=r7)
    check("equal sizes but the roots differ", old_size=7, proof=[])
    check("the proof is empty", proof=[])
    check("hashes given, only", proof=[*p, p[0]])
    check("more are needed", proof=p[:-1])
    check("old root", old_root=tree.root(2))
    check("new root", new_root=tree.root(8))
    check("must be 32 bytes", proof=[p[0][:5], *p[1:]])
    verify_consistency(old_size=7, new_size=7, old_root=r7, new_root=r7, proof=[])


def test_generation_misuse(tree: MemoryTree) -> None:
    with pytest.raises(ValueError, match="index"):
        inclusion_proof(5, 5, tree)
    with pytest.raises(ValueError, match="size"):
        inclusion_proof(0, 0, tree)
    with pytest.raises(ValueError, match="old_size"):
        consistency_proof(0, 5, tree)
    with pytest.raises(ValueError, match="old_size"):
        consistency_proof(6, 5, tree)
    with pytest.raises(ValueError, match="size"):
        root(-1, tree)
    with pytest.raises(TypeError):
        root(1.0, tree)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32 bytes"):
        new_subtrees(0, b"short", tree)
    with pytest.raises(ValueError, match="not complete"):
        tree.subtree(7, 0)
    with pytest.raises(ValueError, match="size"):
        tree.root(N + 1)
    assert consistency_proof(5, 5, tree) == []


# -- pymerkle as an outside reference ----------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(entries=st.lists(st.binary(max_size=40), min_size=1, max_size=90), data=st.data())
def test_agrees_with_pymerkle(entries: list[bytes], data: st.DataObject) -> None:
    theirs = pymerkle.InmemoryTree(algorithm="sha256")
    ours = MemoryTree()
    for e in entries:
        theirs.append_entry(e)
        ours.append(e)
    n = len(entries)
    for size in {1, n, data.draw(st.integers(1, n))}:
        assert theirs.get_root(size) == ours.root(size)
        i = data.draw(st.integers(0, size - 1))
        path = theirs.prove_inclusion(i + 1, size).path  # pymerkle counts from 1
        assert path[0] == ours.subtree(0, i)
        assert list(path[1:]) == inclusion_proof(i, size, ours)
        m = data.draw(st.integers(1, size))
        pymerkle.verify_consistency(
            ours.root(m), ours.root(size), theirs.prove_consistency(m, size)
        )
        verify_consistency(
            old_size=m,
            new_size=size,
            old_root=theirs.get_root(m),
            new_root=theirs.get_root(size),
            proof=consistency_proof(m, size, ours),
        )
