"""The head map: a compressed sparse Merkle tree from subject to its head entry.

Each checkpoint commits to it (extension ``provledger-heads <base64 root>``),
so a bundle can prove that the history it carries ends where the log's
history of that item ended at the checkpoint: nothing was left off the end.

Keys are SHA-256(subject) read as 256 bits, most significant first; values
are the RFC 9162 leaf hash of the subject's latest entry. The tree is the
256-level binary tree over those keys in which every subtree holding no key
hashes to 32 zero bytes, a subtree holding one key is that key's leaf,

    leaf(k, v)        = SHA-256(0x10 || k || v)

and any other subtree is

    node(left, right) = SHA-256(0x11 || left || right).

The root is therefore a function of the key set alone. A proof for key k is
the list of sibling hashes from k's leaf up to the root; its length is the
depth of the leaf (about log2 of the number of subjects).

Here the map is a node per (depth, position), versioned: what a monitor keeps
in memory, and the reference the tests hold the stored form to. A ledger
stores it as tiles (_smt_tiles), a version per checkpoint, so every past
checkpoint's map can still prove, and nothing is ever rewritten.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ._errors import ProofError

EMPTY = bytes(32)
KEY_BITS = 256
MAX_PROOF = 256


def map_key(subject: str) -> bytes:
    """The map key of a subject: SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(subject.encode()).digest()


def leaf_hash(key: bytes, value: bytes) -> bytes:
    return hashlib.sha256(b"\x10" + key + value).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x11" + left + right).digest()


def bit(key: bytes, depth: int) -> int:
    """Bit ``depth`` of ``key`` (0 = most significant)."""
    return (key[depth >> 3] >> (7 - (depth & 7))) & 1


def prefix(key: bytes, depth: int) -> bytes:
    """``key`` with every bit from ``depth`` on cleared: the node's position."""
    if depth >= KEY_BITS:
        return key
    whole, rest = divmod(depth, 8)
    out = bytearray(key[:whole]) + bytes(32 - whole)
    if rest:
        out[whole] = key[whole] & (0xFF << (8 - rest)) & 0xFF
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Node:
    """A stored node: a leaf (key and value set) or an inner node."""

    hash: bytes
    key: bytes | None = None
    value: bytes | None = None


class NodeStore(Protocol):
    """Versioned node storage; ``get`` sees the newest version <= ``version``."""

    def map_node(self, depth: int, position: bytes, version: int) -> Node | None: ...


def root_of(store: NodeStore, version: int) -> bytes:
    """The map root at ``version`` (EMPTY for an empty map)."""
    node = store.map_node(0, bytes(32), version)
    return EMPTY if node is None else node.hash


#: A subtree with at most this many changes is updated from a list in memory;
#: above it, the changes stay in their source and the subtree is split first,
#: so memory stays bounded however many subjects a checkpoint covers.
SMALL = 4096

Emit = Callable[[int, bytes, Node], None]


class Changes(Protocol):
    """Sorted key -> value changes for one update, read by key range [lo, hi)."""

    def count(self, lo: bytes, hi: bytes | None, limit: int) -> int: ...
    def items(self, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]: ...
    def add_if_absent(self, key: bytes, value: bytes) -> None: ...


class MemoryChanges:
    """Changes held in a sorted list (small updates and tests)."""

    def __init__(self, changes: dict[bytes, bytes]) -> None:
        self._items = sorted(changes.items())

    def _range(self, lo: bytes, hi: bytes | None) -> tuple[int, int]:
        start = bisect.bisect_left(self._items, (lo,))
        stop = len(self._items) if hi is None else bisect.bisect_left(self._items, (hi,))
        return start, stop

    def count(self, lo: bytes, hi: bytes | None, limit: int) -> int:
        start, stop = self._range(lo, hi)
        return min(stop - start, limit)

    def items(self, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]:
        start, stop = self._range(lo, hi)
        return self._items[start:stop]

    def add_if_absent(self, key: bytes, value: bytes) -> None:
        i = bisect.bisect_left(self._items, (key,))
        if i == len(self._items) or self._items[i][0] != key:
            self._items.insert(i, (key, value))



def update(store: NodeStore, *, previous: int,
           changes: dict[bytes, bytes]) -> tuple[bytes, list[tuple[int, bytes, Node]]]:
    """Apply ``changes`` (key -> value) to the map as of version ``previous``.

    Returns the new root and the nodes the new version must store, as
    (depth, position, node). ``previous`` is -1 for an empty map.
    """
    out: list[tuple[int, bytes, Node]] = []
    root = update_into(store, previous=previous, changes=MemoryChanges(changes),
                       emit=lambda d, p, n: out.append((d, p, n)))
    return root, out


def update_into(store: NodeStore, *, previous: int, changes: Changes, emit: Emit) -> bytes:
    """:func:`update` for any number of changes: nodes go to ``emit`` as made
    (children before parents); returns the new root."""
    old = store.map_node(0, bytes(32), previous) if previous >= 0 else None
    new = _update_range(_Updater(store, previous, emit, changes), 0, bytes(32), old, None)
    return EMPTY if new is None else new.hash


class _Updater:
    """One update pass: reads the previous version, emits the new nodes."""

    def __init__(self, store: NodeStore, previous: int, emit: Emit, changes: Changes) -> None:
        self.store, self.previous, self.emit, self.changes = store, previous, emit, changes

    def update(self, depth: int, position: bytes, old: Node | None,
               items: list[tuple[bytes, bytes]]) -> Node | None:
        return _update(self, depth, position, old, items)

    def child_old(self, old: Node | None, depth: int, position: bytes) -> Node | None:
        if old is None or self.previous < 0:
            return None
        return self.store.map_node(depth, position, self.previous)


def _update_range(u: _Updater, depth: int, position: bytes, old: Node | None,
                  hi: bytes | None) -> Node | None:
    """The subtree at (depth, position), whose keys lie in [position, hi)."""
    small = max(SMALL, 1)
    if u.changes.count(position, hi, small + 1) <= small:
        return _update(u, depth, position, old, u.changes.items(position, hi))
    if old is not None and old.key is not None:
        # As in _update: an old leaf in a changing subtree joins the changes.
        assert old.value is not None
        u.changes.add_if_absent(old.key, old.value)
        old = None
    if depth >= KEY_BITS:  # pragma: no cover - more than SMALL keys cannot share 256 bits
        raise ValueError("map keys collide")
    right_pos = _set_bit(position, depth)
    left = _update_range(u, depth + 1, position, u.child_old(old, depth + 1, position),
                         right_pos)
    right = _update_range(u, depth + 1, right_pos, u.child_old(old, depth + 1, right_pos), hi)
    node = Node(node_hash(EMPTY if left is None else left.hash,
                          EMPTY if right is None else right.hash))
    u.emit(depth, position, node)
    return node


def _update(u: _Updater, depth: int, position: bytes, old: Node | None,
            items: list[tuple[bytes, bytes]]) -> Node | None:
    if not items:
        return old
    if old is not None and old.key is not None:
        # An old leaf in a changing subtree: it joins the changes unless replaced.
        if all(k != old.key for k, _ in items):
            assert old.value is not None
            items = sorted([*items, (old.key, old.value)])
        old = None
    if len(items) == 1 and old is None:
        k, v = items[0]
        node = Node(leaf_hash(k, v), k, v)
        u.emit(depth, position, node)
        return node
    if depth >= KEY_BITS:  # pragma: no cover - two distinct SHA-256 outputs never get here
        raise ValueError("map keys collide")
    split = next((i for i, (k, _) in enumerate(items) if bit(k, depth)), len(items))
    children = []
    for side, part in ((0, items[:split]), (1, items[split:])):
        child_pos = prefix(position, depth) if side == 0 else _set_bit(position, depth)
        children.append(u.update(depth + 1, child_pos, u.child_old(old, depth + 1, child_pos),
                                 part))
    left, right = children
    node = Node(node_hash(EMPTY if left is None else left.hash,
                          EMPTY if right is None else right.hash))
    u.emit(depth, position, node)
    return node


def _set_bit(position: bytes, depth: int) -> bytes:
    out = bytearray(position)
    out[depth >> 3] |= 0x80 >> (depth & 7)
    return bytes(out)


def _path(store: NodeStore, key: bytes, version: int) -> tuple[Node | None, list[bytes]]:
    """Where ``key``'s path through the map ends (None: an empty subtree), and
    the siblings on the way, bottom-up."""
    siblings: list[bytes] = []
    depth, position = 0, bytes(32)
    node = store.map_node(0, position, version)
    while node is not None and node.key is None:
        side = bit(key, depth)
        here = _set_bit(position, depth) if side else position
        other = position if side else _set_bit(position, depth)
        sib = store.map_node(depth + 1, other, version)
        siblings.append(EMPTY if sib is None else sib.hash)
        depth, position = depth + 1, here
        node = store.map_node(depth, position, version)
    siblings.reverse()
    return node, siblings


def prove(store: NodeStore, key: bytes, version: int) -> tuple[bytes, list[bytes]]:
    """(value, siblings bottom-up) proving ``key`` in the map at ``version``.

    Raises:
        ProofError: the key is not in the map at that version.
    """
    node, siblings = _path(store, key, version)
    if node is None or node.key != key or node.value is None:
        raise ProofError(f"map key {key.hex()} is not in the head map at version {version}")
    return node.value, siblings


def prove_absent(store: NodeStore, key: bytes, version: int) -> tuple[bytes, list[bytes]]:
    """(terminal, siblings bottom-up) proving ``key`` is not in the map.

    The terminal is where ``key``'s path ends: b"" for an empty subtree, or
    the 64 bytes key || value of the one other key that subtree holds.

    Raises:
        ProofError: the key is in the map at that version.
    """
    node, siblings = _path(store, key, version)
    if node is None:
        return b"", siblings
    if node.key == key or node.key is None or node.value is None:
        raise ProofError(f"map key {key.hex()} is in the head map at version {version}")
    return node.key + node.value, siblings


def _fold(key: bytes, h: bytes, siblings: Sequence[bytes]) -> bytes:
    """Hash ``h``, the subtree where ``key``'s path ends, up through ``siblings``
    (bottom-up) to the root it implies."""
    depth = len(siblings)
    for i, sib in enumerate(siblings):
        d = depth - 1 - i
        h = node_hash(sib, h) if bit(key, d) else node_hash(h, sib)
    return h


def verify_absent(key: bytes, terminal: bytes, siblings: Sequence[bytes], root: bytes) -> None:
    """Check that the map with ``root`` has no value for ``key``.

    Raises:
        ProofError: malformed proof, the terminal is ``key`` itself or off its
            path, or the proof does not lead to ``root``.
    """
    if len(key) != 32 or len(root) != 32:
        raise ProofError("head map proof: key and root must be 32 bytes")
    if len(siblings) > MAX_PROOF or any(len(s) != 32 for s in siblings):
        raise ProofError("head map proof: at most 256 siblings of 32 bytes each")
    depth = len(siblings)
    if terminal == b"":
        h = EMPTY
    elif len(terminal) == 64:
        other, value = terminal[:32], terminal[32:]
        if other == key or prefix(other, depth) != prefix(key, depth):
            raise ProofError(f"head map absence proof for key {key.hex()[:16]}...: its "
                             "terminal leaf is the key itself or lies off the key's path")
        h = leaf_hash(other, value)
    else:
        raise ProofError("head map absence proof: the terminal must be empty or 64 bytes")
    h = _fold(key, h, siblings)
    if h != root:
        raise ProofError(f"head map absence proof for key {key.hex()[:16]}... does not reach "
                         "the checkpoint's head map root")


def verify(key: bytes, value: bytes, siblings: Sequence[bytes], root: bytes) -> None:
    """Check that the map with ``root`` maps ``key`` to ``value``.

    Raises:
        ProofError: malformed proof, or it does not lead to ``root``.
    """
    if len(key) != 32 or len(value) != 32 or len(root) != 32:
        raise ProofError("head map proof: key, value and root must be 32 bytes")
    if len(siblings) > MAX_PROOF or any(len(s) != 32 for s in siblings):
        raise ProofError("head map proof: at most 256 siblings of 32 bytes each")
    h = _fold(key, leaf_hash(key, value), siblings)
    if h != root:
        raise ProofError(f"head map proof for key {key.hex()[:16]}... does not reach the "
                         "checkpoint's head map root")
