"""A whole head map built in one streaming pass, its nodes packed for bulk storage.

A first checkpoint (and an audit re-deriving it) builds the map of every
subject at once: millions of nodes. :func:`build` takes the keys in order and
keeps only a stack of pending left subtrees, so memory stays bounded however
many there are; nodes leave in :class:`Packed` batches of fixed-size records
that a store writes with a few statements, not a Python object per node
(which cost 2.5 us a node, most of a first checkpoint's time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ._smt import EMPTY, KEY_BITS, Node

#: Nodes per batch handed to ``flush``: a few MB of records.
BATCH = 50_000
#: Record sizes: position || hash (inner); position || hash || key || value (leaf).
INNER_RECORD = 64
LEAF_RECORD = 128


@dataclass(slots=True)
class Packed:
    """Head-map nodes as fixed-size records, with each node's depth beside it."""

    inner_depths: list[int] = field(default_factory=list)
    inner: bytearray = field(default_factory=bytearray)
    leaf_depths: list[int] = field(default_factory=list)
    leaves: bytearray = field(default_factory=bytearray)

    def __len__(self) -> int:
        return len(self.inner_depths) + len(self.leaf_depths)

    def nodes(self) -> Iterator[tuple[int, bytes, Node]]:
        """The nodes as (depth, position, node): inner ones first, then leaves."""
        for i, d in enumerate(self.inner_depths):
            rec = self.inner[i * INNER_RECORD:(i + 1) * INNER_RECORD]
            yield d, bytes(rec[:32]), Node(bytes(rec[32:]))
        for i, d in enumerate(self.leaf_depths):
            rec = self.leaves[i * LEAF_RECORD:(i + 1) * LEAF_RECORD]
            yield d, bytes(rec[:32]), Node(bytes(rec[32:64]), bytes(rec[64:96]),
                                          bytes(rec[96:]))


def pack(nodes: Iterable[tuple[int, bytes, Node]]) -> Packed:
    """``nodes`` as records.

    Raises:
        ValueError: a position, hash, key or value is not 32 bytes.
    """
    out = Packed()
    for depth, position, node in nodes:
        if node.key is None:
            rec = position + node.hash
            out.inner_depths.append(depth)
            out.inner += rec
        else:
            rec = position + node.hash + node.key + (node.value or b"")
            out.leaf_depths.append(depth)
            out.leaves += rec
        if len(rec) != (INNER_RECORD if node.key is None else LEAF_RECORD):
            raise ValueError("a head map node has a field that is not 32 bytes")
    return out


def build(items: Iterable[tuple[bytes, bytes]], flush: Callable[[Packed], None], *,
          batch: int = BATCH, depth: int = 0) -> bytes:
    """The root of the map holding exactly ``items``, (key, value) pairs of 32
    bytes each, in strictly increasing key order; every node of it goes to
    ``flush``, children before parents, in batches of about ``batch``.

    With ``depth`` > 0: the subtree at that depth holding exactly ``items``,
    which share their first ``depth`` bits. One item alone becomes a leaf at
    ``depth`` itself: right where the caller knows the subtree is exactly
    that (_smt's updates), not for a bucket of a whole map, whose lone key
    may sit higher up (_headmap_first joins those).

    Each leaf sits one below the longest prefix it shares with a neighbour;
    lifting it to the prefix it shares with the next key completes every node
    on the way, whose left child is the subtree waiting on the stack at that
    depth, or empty.

    Raises:
        ValueError: the keys are not strictly increasing, or not 32 bytes.
    """
    sha = hashlib.sha256
    out = Packed()
    stack: list[tuple[int, bytes]] = []  # (depth, hash) of left subtrees, deepest last
    it = iter(items)
    nxt = next(it, None)
    if nxt is None:
        return EMPTY
    root = EMPTY
    before = depth - 1  # common prefix length with the previous key
    nk = _key_int(nxt[0])
    while nxt is not None:
        key, value = nxt
        k = nk
        nxt = next(it, None)
        if nxt is not None:
            nk = _key_int(nxt[0])
            if nk <= k:
                raise ValueError("head map keys must be strictly increasing")
            after = KEY_BITS - (k ^ nk).bit_length()
        else:
            after = depth - 1
        if len(value) != 32:
            raise ValueError("head map values must be 32 bytes")
        d = max(before, after) + 1
        h = sha(b"\x10" + key + value).digest()
        shift = KEY_BITS - d
        out.leaf_depths.append(d)
        out.leaves += (k >> shift << shift).to_bytes(32, "big") + h + key + value
        while d > after + 1:
            d -= 1
            if stack and stack[-1][0] == d + 1:
                h = sha(b"\x11" + stack.pop()[1] + h).digest()
            elif k >> (KEY_BITS - 1 - d) & 1:
                h = sha(b"\x11" + EMPTY + h).digest()
            else:
                h = sha(b"\x11" + h + EMPTY).digest()
            shift = KEY_BITS - d
            out.inner_depths.append(d)
            out.inner += (k >> shift << shift).to_bytes(32, "big") + h
        stack.append((d, h))
        root = h
        before = after
        if len(out) >= batch:
            flush(out)
            out = Packed()
    if len(out):
        flush(out)
    return root


def _key_int(key: bytes) -> int:
    if len(key) != 32:
        raise ValueError("head map keys must be 32 bytes")
    return int.from_bytes(key, "big")
