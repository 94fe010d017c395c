"""RFC 9162 Merkle tree hashing, proofs and proof verification.

Everything is computed from the hashes of *perfect subtrees*: the subtree at
``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``.
A store keeps one row per such subtree (:func:`new_subtrees` says which rows an
append creates), and then every root and proof below costs O(log n) reads,
because any range that RFC 9162's recursive definitions hash decomposes into at
most ``log2(n)`` perfect subtrees. Leaves are never rehashed.

Generation functions take trusted arguments and raise ``ValueError`` on
misuse. Verification functions take untrusted proofs, return None on success
and raise :class:`~provledger._errors.ProofError` naming what is wrong.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol

from ._errors import ProofError

HASH_SIZE = 32
#: Root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()
#: Sizes and indexes are u64 on the wire; 2**63 keeps them signed-int64 safe too.
MAX_TREE_SIZE = 2**63 - 1

_sha256 = hashlib.sha256
#: Inclusion paths are memoised (see SubtreeSource) from level _MEMO_LEVEL up,
#: or higher so that one tree size has at most 2**_MEMO_BITS walks there.
_MEMO_LEVEL = 10
_MEMO_BITS = 11
#: A memoised walk: path hashes (root side first), range reached, whether perfect.
Walk = tuple[tuple[bytes, ...], int, int, bool]


def leaf_hash(entry: bytes) -> bytes:
    """MTH of a single entry: ``SHA-256(0x00 || entry)``."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Interior node: ``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


class SubtreeSource(Protocol):
    """Anything that can return the hash of a complete perfect subtree.

    A source whose subtrees never change may also have a dict ``path_memo``,
    where :func:`inclusion_proof` keeps the upper parts of paths (a few MB at
    most: see _MEMO_BITS), and a method ``perfect_path(index, top)`` giving
    the siblings ``subtree(lv, (index >> lv) ^ 1)`` for ``lv`` from ``top - 1``
    down to 0 faster than one call each (a tiled store reads them as slices).
    """

    def subtree(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree over leaves
        ``[index * 2**level, (index + 1) * 2**level)``; level 0 is leaf hashes."""
        ...


# -- generation ---------------------------------------------------------------


def new_subtrees(size: int, leaf: bytes, source: SubtreeSource) -> list[tuple[int, int, bytes]]:
    """The ``(level, index, hash)`` subtrees completed by appending leaf ``size``.

    ``leaf`` is the leaf hash of the entry that becomes leaf number ``size``
    (0-based), so the tree grows to ``size + 1``. The first row is always
    ``(0, size, leaf)``; each further row is the parent completed above it.
    Costs one read per row after the first (the number of trailing one bits
    of ``size``), so O(1) amortised and O(log n) at worst.

    Raises:
        ValueError: ``size`` is negative or too large, or ``leaf`` is not 32 bytes.
    """
    _check_size(size, "size", minimum=0, maximum=MAX_TREE_SIZE - 1)
    _check_hash_arg(leaf, "leaf")
    rows = [(0, size, leaf)]
    level, index, current = 0, size, leaf
    # A right child (odd index) completes its parent; a left child does not.
    while index & 1:
        current = node_hash(source.subtree(level, index - 1), current)
        level, index = level + 1, index >> 1
        rows.append((level, index, current))
    return rows


def root(size: int, source: SubtreeSource) -> bytes:
    """MTH(D[0:size]), from at most ``log2(size) + 1`` subtree reads.

    Raises:
        ValueError: ``size`` is negative or too large.
    """
    _check_size(size, "size", minimum=0, maximum=MAX_TREE_SIZE)
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(0, size, source)


def inclusion_proof(index: int, size: int, source: SubtreeSource) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf sibling first.

    Raises:
        ValueError: not ``0 <= index < size``.
    """
    _check_size(size, "size", minimum=1, maximum=MAX_TREE_SIZE)
    _check_size(index, "index", minimum=0, maximum=size - 1)
    # Walk down from the root. While the leaf lies in the right part of a
    # split, the sibling is the perfect left part (one read); the first time
    # it lies in the left part, the sibling is the ragged right edge (a range
    # hash), and from then on the current range is perfect, so every later
    # sibling is a single perfect subtree. Down to level ``top`` the walk is
    # the same for every index with the same ``index >> top``: memoised.
    memo = getattr(source, "path_memo", None)
    top = max(_MEMO_LEVEL, size.bit_length() - _MEMO_BITS)
    if memo is None or size <= 1 << top:
        path = list(_walk(index, 0, size, source, 0)[0])
    else:
        walked = memo.get((index >> top, size))
        if walked is None:
            if len(memo) >= 2 << _MEMO_BITS:
                memo.clear()
            walked = memo[index >> top, size] = _walk(index, 0, size, source, top)
        upper, start, end, perfect = walked
        if perfect:  # only the siblings below ``top`` are left
            lower = getattr(source, "perfect_path", None)
            if lower is not None:
                path = [*upper, *lower(index, top)]
            else:
                subtree = source.subtree
                path = [*upper, *[subtree(lv, (index >> lv) ^ 1)
                                  for lv in range(top - 1, -1, -1)]]
        else:
            path = [*upper, *_walk(index, start, end, source, 0)[0]]
    path.reverse()
    return path


def _walk(index: int, start: int, end: int, source: SubtreeSource, stop: int) -> Walk:
    """The walk from range ``[start, end)`` over the splits of level >= ``stop``:
    the path hashes met, root side first; the range reached; whether it is
    perfect (the ragged right edge is behind)."""
    subtree = source.subtree
    out: list[bytes] = []
    while end - start > 1:
        level = (end - start - 1).bit_length() - 1  # the left part: 2**level leaves
        if level < stop:
            break
        k = 1 << level
        if index < start + k:
            out.append(_range_hash(start + k, end, source))
            out += [subtree(lv, (index >> lv) ^ 1) for lv in range(level - 1, stop - 1, -1)]
            return tuple(out), start, start + k, True
        out.append(subtree(level, start >> level))
        start += k
    return tuple(out), start, end, False


def consistency_proof(old_size: int, new_size: int, source: SubtreeSource) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1.

    Equal sizes give the empty proof.

    Raises:
        ValueError: not ``0 < old_size <= new_size``.
    """
    _check_size(new_size, "new_size", minimum=1, maximum=MAX_TREE_SIZE)
    _check_size(old_size, "old_size", minimum=1, maximum=new_size)
    if old_size == new_size:
        return []
    # SUBPROOF(m, D[start:end], b), unrolled: siblings are collected on the
    # way down and emitted innermost first.
    siblings: list[bytes] = []
    start, end, whole = 0, new_size, True
    head: list[bytes] = []
    while True:
        if old_size == end:
            if not whole:
                head.append(_range_hash(start, end, source))
            break
        k = _split(end - start)
        if old_size <= start + k:
            siblings.append(_range_hash(start + k, end, source))
            end = start + k
        else:
            siblings.append(_range_hash(start, start + k, source))
            start += k
            whole = False
    siblings.reverse()
    return head + siblings


def _range_hash(start: int, end: int, source: SubtreeSource) -> bytes:
    """MTH(D[start:end]) for a range as RFC 9162's recursion produces it.

    Those ranges start at a multiple of the smallest power of two not less
    than their length, so the set bits of ``end - start``, highest first, lay
    out aligned perfect subtrees left to right; MTH folds them from the right.
    """
    width = end - start
    parts: list[bytes] = []
    offset = start
    for level in reversed(range(width.bit_length())):
        if width >> level & 1:
            parts.append(source.subtree(level, offset >> level))
            offset += 1 << level
    result = parts.pop()
    while parts:
        result = node_hash(parts.pop(), result)
    return result


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- verification -------------------------------------------------------------


#: States of the RFC 9162 inclusion walk already taken to their end: (fn, sn,
#: hash so far) -> (the proof, how many of its hashes were used there, the root
#: it led to). See root_from_inclusion_proof's ``memo``.
InclusionMemo = dict[tuple[int, int, bytes], tuple[Sequence[bytes], int, bytes]]
#: A memo stops growing at about this many states (a few MB): a bundle of
#: thousands of entries with 64-hash proofs must not cost ten times its size.
_MEMO_STATES = 1 << 14


def root_from_inclusion_proof(
    leaf_hash: bytes, *, index: int, size: int, proof: Sequence[bytes],
    memo: InclusionMemo | None = None
) -> bytes:
    """The root that ``proof`` yields for ``leaf_hash`` at ``index`` in ``size``.

    Follows RFC 9162 §2.1.3.2 steps 1-4 and the ``sn == 0`` part of step 5;
    comparing the result with a trusted root is the caller's part (see
    :func:`verify_inclusion`).

    ``memo`` (one dict shared by the calls, initially empty) spares the hashes
    that proofs of nearby leaves share: a walk that reaches a state (fn, sn,
    hash so far) an earlier walk passed, with the same hashes left to use,
    would repeat it step for step, so it takes that walk's root. The result,
    and every error, is the same as without it.

    Raises:
        ProofError: index or size out of range, a hash that is not 32 bytes,
            or too many or too few proof hashes for ``index`` and ``size``.
    """
    _check_hash(leaf_hash, "leaf hash")
    _check_int(size, "tree size")
    _check_int(index, "leaf index")
    if size == 0:
        raise ProofError("inclusion proof: tree size 0 has no leaves")
    if index >= size:
        raise ProofError(f"inclusion proof: leaf index {index} is not below tree size {size}")
    _check_path(proof, "inclusion proof")
    fn, sn = index, size - 1
    r = leaf_hash
    sha = _sha256  # node_hash inlined: this loop runs once per level of every proof
    walked: list[tuple[tuple[int, int, bytes], int]] = []
    for used, p in enumerate(proof):
        if sn == 0:
            raise ProofError(
                f"inclusion proof for leaf {index} of {size}: {len(proof)} hashes "
                f"given, only {used} needed"
            )
        if memo is not None:
            state = (fn, sn, r)
            known = memo.get(state)
            if known is not None and known[0][known[1]:] == proof[used:]:
                return _remember(memo, walked, proof, known[2])
            walked.append((state, used))
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof for leaf {index} of {size}: {len(proof)} hashes given, "
            "more are needed"
        )
    return r if memo is None else _remember(memo, walked, proof, r)


def _remember(memo: InclusionMemo, walked: list[tuple[tuple[int, int, bytes], int]],
              proof: Sequence[bytes], root: bytes) -> bytes:
    if len(memo) < _MEMO_STATES:
        for state, used in walked:
            memo[state] = (proof, used, root)
    return root


def verify_inclusion(
    leaf_hash: bytes, *, index: int, size: int, proof: Sequence[bytes], root: bytes,
    memo: InclusionMemo | None = None
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2 exactly; ``memo`` as :func:`root_from_inclusion_proof`'s.

    Raises:
        ProofError: the proof is malformed (see :func:`root_from_inclusion_proof`)
            or leads to a root other than ``root``.
    """
    _check_hash(root, "root hash")
    computed = root_from_inclusion_proof(leaf_hash, index=index, size=size, proof=proof,
                                         memo=memo)
    if not hmac.compare_digest(computed, root):
        raise ProofError(
            f"inclusion proof for leaf {index} of {size}: computed root "
            f"{computed.hex()} does not match expected root {root.hex()}"
        )


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``.

    RFC 9162 §2.1.4.2 exactly; equal sizes need an empty proof and equal
    roots. Size 0 is rejected: RFC 9162 defines no proof from the empty tree,
    and a caller that trusts an empty tree needs no proof at all.

    Raises:
        ProofError: a size is out of range, ``old_size > new_size``, a hash is
            not 32 bytes, hashes are missing or extra, or a recomputed root
            does not match.
    """
    _check_int(old_size, "old tree size")
    _check_int(new_size, "new tree size")
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    what = f"consistency proof from size {old_size} to {new_size}"
    if old_size == 0:
        raise ProofError(f"{what}: proofs from the empty tree are not defined")
    if old_size > new_size:
        raise ProofError(f"{what}: old size is larger than new size")
    _check_path(proof, what)
    if old_size == new_size:
        if proof:
            raise ProofError(f"{what}: equal sizes need an empty proof, got {len(proof)} hashes")
        if not hmac.compare_digest(old_root, new_root):
            raise ProofError(f"{what}: equal sizes but the roots differ")
        return
    if not proof:
        raise ProofError(f"{what}: the proof is empty")
    path = list(proof)
    # Step 2: a power-of-two old tree is itself a node of the new tree, so
    # its root is the implied first element.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    implied = len(path) - len(proof)
    fr = sr = path[0]
    for used, c in enumerate(path[1:], start=1):
        if sn == 0:
            raise ProofError(f"{what}: {len(proof)} hashes given, only {used - implied} needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"{what}: {len(proof)} hashes given, more are needed")
    if not hmac.compare_digest(fr, old_root):
        raise ProofError(f"{what}: the proof does not lead to the old root {old_root.hex()}")
    if not hmac.compare_digest(sr, new_root):
        raise ProofError(f"{what}: the proof does not lead to the new root {new_root.hex()}")


# -- an in-memory source --------------------------------------------------------


class MemoryTree:
    """A list-backed :class:`SubtreeSource` that grows by appending.

    For tests, and for rebuilding a tree from entries during an audit. Each
    append stores the rows :func:`new_subtrees` returns: O(1) amortised.
    """

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return len(self._levels[0])

    def append(self, entry: bytes) -> int:
        """Append an entry's leaf hash; return its 0-based leaf index."""
        return self.append_leaf_hash(leaf_hash(entry))

    def append_leaf_hash(self, leaf: bytes) -> int:
        """Append an already computed leaf hash; return its 0-based leaf index.

        Raises:
            ValueError: ``leaf`` is not 32 bytes.
        """
        index = self.size
        for level, _, digest in new_subtrees(index, leaf, self):
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(digest)
        return index

    def subtree(self, level: int, index: int) -> bytes:
        """Hash of a complete perfect subtree.

        Raises:
            ValueError: that subtree is not complete in this tree.
        """
        if 0 <= level < len(self._levels) and 0 <= index < len(self._levels[level]):
            return self._levels[level][index]
        raise ValueError(
            f"subtree (level {level}, index {index}) is not complete in a tree of {self.size}"
        )

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all).

        Raises:
            ValueError: ``size`` is negative or beyond the current size.
        """
        if size is None:
            size = self.size
        _check_size(size, "size", minimum=0, maximum=self.size)
        return root(size, self)


# -- argument checks ------------------------------------------------------------


def _check_size(value: int, name: str, *, minimum: int, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not minimum <= value <= maximum:
        shown = value if abs(value) < 10**30 else "(a huge number)"
        raise ValueError(f"{name} {shown} is outside [{minimum}, {maximum}]")


def _check_hash_arg(value: bytes, name: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"{name} must be 32 bytes")


def _check_int(value: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProofError(f"{name} must be an integer, not {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        shown = value if abs(value) < 10**30 else "(a huge number)"
        raise ProofError(f"{name} {shown} is outside [0, 2**63 - 1]")


def _check_hash(value: bytes, name: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ProofError(f"{name} must be 32 bytes, got {got}")


_BYTES: frozenset[type] = frozenset((bytes,))
_HASH_LEN = frozenset((HASH_SIZE,))


def _check_path(proof: Sequence[bytes], what: str) -> None:
    if isinstance(proof, bytes | str) or not isinstance(proof, Sequence):
        raise ProofError(f"{what}: the proof must be a sequence of hashes")
    # A valid path never exceeds 64 hashes (65 with the implied old root), so
    # a longer one is refused before any hashing work.
    if len(proof) > 64:
        raise ProofError(f"{what}: {len(proof)} hashes is more than any tree needs")
    # The common case checked without a Python call per hash; any other falls
    # through to the loop below, which names the first bad hash.
    if set(map(type, proof)) <= _BYTES and set(map(len, proof)) <= _HASH_LEN:
        return
    for i, h in enumerate(proof):
        _check_hash(h, f"{what}: hash {i}")
