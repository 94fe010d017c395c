"""The head map as stored: a tile per 8 levels of a key prefix.

The map itself (its keys, hashes and proofs) is _smt's. A tile at level L
(0..31) and prefix P (L bytes) stands for the subtree at depth 8L whose keys
start with P, and lists the subtrees eight levels down, at depth 8L + 8, that
hold any key, by slot s (the key's next byte), in increasing slot order:

    leaf record:  0x00 || key || value     the subtree holds that key alone
    node record:  0x01 || s || hash        it holds two or more keys; the
                                           tile (L + 1, P || s) lists them

The tile's own nodes follow from these by _smt's rules (a lone leaf floats up
to where its sibling is not empty), so one row is all the eight levels need:
a checkpoint over a million subjects writes about 100,000 tiles rather than
2.4 million nodes. A tile exists for the root of a non-empty map and for every
subtree at a multiple of 8 that holds two or more keys; keys are never
removed, so a tile, once written, exists in every later version. Each
checkpoint (version) writes the tiles its changes touched; a read takes the
newest version at or below the one asked for.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol

from ._errors import DamagedStoreError, ProofError
from ._smt import EMPTY, Changes

#: (level, prefix, data): a tile as stored.
MapTileRow = tuple[int, bytes, bytes]
#: A child of a tile: (slot, key || value of a lone leaf, or None; hash of a
#: node, or None). Exactly one of the last two is set.
Child = tuple[int, bytes | None, bytes | None]
#: A subtree's summary: None (empty), or (hash, key || value if it is one leaf).
Summary = tuple[bytes, bytes | None] | None
Emit = Callable[[int, bytes, bytes], None]

LEVELS = 32
#: A part of an update with at most this many changes is read into a list;
#: above it, the changes stay in their source and the part is split by slot.
SMALL = 4096
_LEAF, _NODE = 0, 1
_LEAF_RECORD, _NODE_RECORD = 65, 34


class TileStore(Protocol):
    """Versioned head-map tiles; ``map_tile`` sees the newest version <= ``version``."""

    def map_tile(self, level: int, prefix: bytes, version: int) -> bytes | None: ...


def encode(children: Sequence[Child]) -> bytes:
    """A tile's stored bytes: its children's records, in slot order."""
    return b"".join(b"\x00" + leaf if leaf is not None else bytes((1, slot)) + (node or b"")
                    for slot, leaf, node in children)


def decode(level: int, prefix: bytes, data: bytes) -> list[Child]:
    """The children listed in a stored tile.

    Raises:
        DamagedStoreError: the bytes are not a tile of (level, prefix): a record
            of unknown kind or cut short, slots out of order, a leaf whose key
            lies outside the tile, or no record at all.
    """
    out: list[Child] = []
    i, last = 0, -1
    while i < len(data):
        kind = data[i]
        if kind == _LEAF and i + _LEAF_RECORD <= len(data):
            leaf = data[i + 1:i + _LEAF_RECORD]
            slot = leaf[level]
            if leaf[:level] != prefix:
                raise _damaged(level, prefix, "a leaf's key lies outside the tile")
            out.append((slot, leaf, None))
            i += _LEAF_RECORD
        elif kind == _NODE and i + _NODE_RECORD <= len(data):
            slot = data[i + 1]
            out.append((slot, None, data[i + 2:i + _NODE_RECORD]))
            i += _NODE_RECORD
        else:
            raise _damaged(level, prefix, f"a record at byte {i} is malformed")
        if slot <= last:
            raise _damaged(level, prefix, "its slots are not in increasing order")
        last = slot
    if not out:
        raise _damaged(level, prefix, "it is empty")
    return out


def _damaged(level: int, prefix: bytes, why: str) -> DamagedStoreError:
    return DamagedStoreError(f"head map tile at level {level}, prefix "
                             f"{prefix.hex() or '(root)'} is damaged: {why}")


def summarize(children: Sequence[Child],
              record: dict[tuple[int, int], tuple[bytes, bytes | None]] | None = None
              ) -> Summary:
    """The summary of the subtree a tile stands for, from its children
    (sorted, at least one). With ``record``, every node of the tile goes into
    it, keyed (depth within the tile, position at that depth).

    A leaf sits one below the longest prefix its slot shares with a
    neighbour's, a node child at the tile's bottom; lifting each child to the
    prefix it shares with the next completes the nodes on the way, whose left
    child is the subtree waiting on the stack at that depth, or empty.
    """
    sha = hashlib.sha256
    if len(children) == 1 and children[0][1] is not None:
        h = sha(b"\x10" + children[0][1]).digest()
        if record is not None:
            record[(0, 0)] = (h, children[0][1])
        return h, children[0][1]
    depths: list[int] = []  # the left subtrees waiting, deepest last: depths
    hashes: list[bytes] = []  # and hashes
    slots = [c[0] for c in children]
    afters = [8 - (a ^ b).bit_length() for a, b in itertools.pairwise(slots)]
    afters.append(-1)
    before = -1
    for (slot, leaf, node), after in zip(children, afters, strict=True):
        if leaf is not None:
            h = sha(b"\x10" + leaf).digest()
            d = (before if before > after else after) + 1
        else:
            h, d = node or b"", 8
        if record is not None:
            record[(d, slot >> (8 - d))] = (h, leaf)
        while d > after + 1:
            d -= 1
            if depths and depths[-1] == d + 1:
                depths.pop()
                h = sha(b"\x11" + hashes.pop() + h).digest()
            elif slot >> (7 - d) & 1:
                h = sha(b"\x11" + EMPTY + h).digest()
            else:
                h = sha(b"\x11" + h + EMPTY).digest()
            if record is not None:
                record[(d, slot >> (8 - d))] = (h, None)
        depths.append(d)
        hashes.append(h)
        before = after
    return hashes[-1], None


def root_hash(summary: Summary) -> bytes:
    """The map root a root tile's summary gives (EMPTY for an empty map)."""
    return EMPTY if summary is None else summary[0]


def build(level: int, prefix: bytes, records: Sequence[bytes], emit: Emit) -> Summary:
    """The tiles of the subtree at (level, prefix) holding exactly ``records``
    (key || value, 64 bytes each, sorted, distinct keys starting with
    ``prefix``; two or more unless at the root): each goes to ``emit``,
    children before parents. Returns the subtree's summary.

    Raises:
        ValueError: two records have the same key.
    """
    if level >= LEVELS:
        raise ValueError("head map keys must be distinct")
    children: list[Child] = []
    i, n = 0, len(records)
    while i < n:
        slot = records[i][level]
        j = i + 1
        while j < n and records[j][level] == slot:
            j += 1
        if j - i == 1:
            children.append((slot, records[i], None))
        else:
            sub = build(level + 1, prefix + bytes((slot,)), records[i:j], emit)
            assert sub is not None
            children.append((slot, None, sub[0]))
        i = j
    if not children:
        return None
    emit(level, prefix, encode(children))
    return summarize(children)


class Batches:
    """Tiles as emitted, handed to ``sink`` in lists of about ``size``."""

    def __init__(self, sink: Callable[[list[MapTileRow]], None], size: int = 2_000) -> None:
        self._sink, self._size = sink, size
        self._rows: list[MapTileRow] = []

    def emit(self, level: int, prefix: bytes, data: bytes) -> None:
        self._rows.append((level, prefix, data))
        if len(self._rows) >= self._size:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._sink(self._rows)
            self._rows = []


def update(store: TileStore, *, previous: int, changes: Changes, emit: Emit,
           applied: Callable[[int], None] | None = None) -> bytes:
    """Apply ``changes`` to the map as of version ``previous`` (-1: an empty
    map); the tiles the new version must store go to ``emit``, children
    before parents; returns the new root. ``applied`` hears how many changes
    each finished part covered.

    Memory stays bounded: a part of at most SMALL changes is read into a
    list; a larger one stays in ``changes`` and is split by slot first.
    """
    u = _Update(store, previous, changes, emit, applied)
    return root_hash(u.tile(0, b"", u.old(0, b""), None))


class _Update:
    def __init__(self, store: TileStore, previous: int, changes: Changes, emit: Emit,
                 applied: Callable[[int], None] | None) -> None:
        self.store, self.previous, self.changes = store, previous, changes
        self.emit, self.applied = emit, applied

    def old(self, level: int, prefix: bytes) -> list[Child]:
        if self.previous < 0:
            return []
        data = self.store.map_tile(level, prefix, self.previous)
        if data is None:
            if level == 0:
                return []
            raise _damaged(level, prefix, f"version {self.previous} lacks it")
        return decode(level, prefix, data)

    def tile(self, level: int, prefix: bytes, old: list[Child],
             records: list[bytes] | None) -> Summary:
        """The new summary of (level, prefix), whose old children are ``old``,
        with ``records`` applied (None: every change in the tile's key range)."""
        if level >= LEVELS:  # pragma: no cover - 32 bytes of prefix leave one key
            raise ValueError("map keys collide")
        children = {c[0]: c for c in old}
        if records is None:
            records = self.load(prefix)
        if records == []:  # nothing changed here: nothing to write
            return summarize(old) if old else None
        if records is not None:
            for slot, part in _by_slot(level, records):
                children[slot] = self.child(level, prefix, slot, children.get(slot), part)
            if self.applied is not None and records:
                self.applied(len(records))
        else:
            for slot in range(256):
                lo, hi = _bounds(prefix + bytes((slot,)))
                if self.changes.count(lo, hi, 1):
                    children[slot] = self.child(level, prefix, slot, children.get(slot), None)
        if not children:
            return None
        listed = [children[s] for s in sorted(children)]
        self.emit(level, prefix, encode(listed))
        return summarize(listed)

    def child(self, level: int, prefix: bytes, slot: int, old: Child | None,
              records: list[bytes] | None) -> Child:
        """Slot ``slot`` of tile (level, prefix) after its changes (``records``,
        or None: those in its key range, too many for a list)."""
        below = prefix + bytes((slot,))
        if old is not None and old[2] is not None:  # two or more keys: a tile below
            sub = self.tile(level + 1, below, self.old(level + 1, below), records)
        else:
            if old is not None:  # a lone leaf joins the changes unless replaced
                leaf = old[1]
                assert leaf is not None
                if records is None:
                    self.changes.add_if_absent(leaf[:32], leaf[32:])
                elif all(r[:32] != leaf[:32] for r in records):
                    records = sorted([*records, leaf])
            if records is None:
                records = self.load(below)
            if records is None:  # more than SMALL changes: two or more keys
                sub = self.tile(level + 1, below, [], None)
            elif len(records) == 1:
                return slot, records[0], None
            else:
                sub = build(level + 1, below, records, self.emit)
        assert sub is not None
        assert sub[1] is None
        return slot, None, sub[0]

    def load(self, prefix: bytes) -> list[bytes] | None:
        """The changes to keys starting with ``prefix``, or None if more than SMALL."""
        lo, hi = _bounds(prefix)
        if self.changes.count(lo, hi, SMALL + 1) > SMALL:
            return None
        return [k + v for k, v in self.changes.items(lo, hi)]


def _by_slot(level: int, records: list[bytes]) -> list[tuple[int, list[bytes]]]:
    groups: dict[int, list[bytes]] = {}
    for r in records:
        groups.setdefault(r[level], []).append(r)
    return sorted(groups.items())


def _bounds(prefix: bytes) -> tuple[bytes, bytes | None]:
    """The key range [lo, hi) of the keys starting with ``prefix``."""
    lo = prefix + bytes(32 - len(prefix))
    p = int.from_bytes(prefix, "big") + 1 if prefix else 1
    if not prefix or p >> (8 * len(prefix)):
        return lo, None
    return lo, p.to_bytes(len(prefix), "big") + bytes(32 - len(prefix))


@lru_cache(maxsize=512)
def _nodes(level: int, prefix: bytes, data: bytes
           ) -> dict[tuple[int, int], tuple[bytes, bytes | None]]:
    """Every node of a stored tile (cached by content, so never stale: the
    top tiles are on every proof's path). 512 holds the root and every
    second-level tile; a full tile's nodes take about 75 kB, so at most
    about 40 MB."""
    record: dict[tuple[int, int], tuple[bytes, bytes | None]] = {}
    summarize(decode(level, prefix, data), record)
    return record


def path(store: TileStore, key: bytes, version: int) -> tuple[bytes | None, list[bytes]]:
    """Where ``key``'s path through the map at ``version`` ends (key || value
    of the leaf there, or None for an empty subtree) and the siblings on the
    way, bottom-up.

    Raises:
        DamagedStoreError: a tile on the path is missing or damaged.
    """
    siblings: list[bytes] = []
    level, prefix = 0, b""
    data = store.map_tile(0, b"", version)
    while data is not None:
        nodes = _nodes(level, prefix, data)
        slot = key[level]
        for d in range(9):
            h, leaf = nodes.get((d, slot >> (8 - d)), (None, None))
            if h is None or leaf is not None:
                siblings.reverse()
                return leaf, siblings
            if d == 8:
                break
            sibling = nodes.get((d + 1, (slot >> (7 - d)) ^ 1))
            siblings.append(EMPTY if sibling is None else sibling[0])
        level, prefix = level + 1, key[:level + 1]
        data = store.map_tile(level, prefix, version)
        if data is None:
            raise _damaged(level, prefix, f"version {version} lacks it")
    return None, []


def prove(store: TileStore, key: bytes, version: int) -> tuple[bytes, list[bytes]]:
    """(value, siblings bottom-up) proving ``key`` in the map at ``version``.

    Raises:
        ProofError: the key is not in the map at that version.
        DamagedStoreError: a tile on its path is missing or damaged.
    """
    leaf, siblings = path(store, key, version)
    if leaf is None or leaf[:32] != key:
        raise ProofError(f"map key {key.hex()} is not in the head map at version {version}")
    return leaf[32:], siblings


def prove_absent(store: TileStore, key: bytes, version: int) -> tuple[bytes, list[bytes]]:
    """(terminal, siblings bottom-up) proving ``key`` is not in the map: the
    terminal is b"" for an empty subtree, or key || value of the one other key
    the subtree where the path ends holds (spec/bundle.md).

    Raises:
        ProofError: the key is in the map at that version.
        DamagedStoreError: a tile on its path is missing or damaged.
    """
    leaf, siblings = path(store, key, version)
    if leaf is not None and leaf[:32] == key:
        raise ProofError(f"map key {key.hex()} is in the head map at version {version}")
    return leaf or b"", siblings
