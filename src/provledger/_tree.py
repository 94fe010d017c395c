"""The Merkle tree layer: cached reads of the stored tree, and the append overlay.

A backend stores one row per perfect subtree and reads rows back (the
``TreeStore`` part of :class:`~provledger._storage.Store`); what those rows mean,
and which of them are worth keeping in memory, is decided here, the way
Tessera and Sunlight keep tile caches above a backend that only reads and
writes tiles. There is one :class:`Tree` per open store (:func:`tree_of`), so
every caller of a store shares its caches.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ._merkle import HASH_SIZE, Walk, leaf_hash, new_subtrees
from ._storage import Store

#: Tree levels at and above this are kept in memory once read, 32 bytes a
#: node: n / 4 nodes in all, 8 MB at 1M entries. Each level below costs every
#: proof a point lookup (4 gave 10% fewer proofs/s at 1M, for half the memory).
_CACHED = 3
#: They are read in aligned runs of 2**_RUN_BITS nodes (8 KiB), so a first
#: proof reads little and the cache fills as proofs reach new parts of the tree.
_RUN_BITS = 8
_RUN_MASK = (1 << _RUN_BITS) - 1
#: The memory cache stops growing here (at about 8M entries); nodes it does not
#: hold are read from the store, like those below _CACHED.
_CACHE_BYTES = 64 << 20
#: Lower nodes read one at a time (a ragged right edge, mostly) kept for reuse.
_RECENT_MAX = 256

_TREES: weakref.WeakKeyDictionary[Store, Tree] = weakref.WeakKeyDictionary()


def tree_of(store: Store) -> Tree:
    """The tree layer of ``store``: one per store object, made on first use."""
    tree = _TREES.get(store)
    if tree is None:
        tree = _TREES[store] = Tree(store)
    return tree


class Tree:
    """The stored Merkle tree of one store, read through memory caches.

    A :class:`~provledger._merkle.SubtreeSource` with a ``path_memo``. Stored
    perfect subtrees never change, so what is cached stays right as the log
    grows; only a rolled-back write can leave cached nodes that were never
    stored, which is why writes that add nodes go through :meth:`write`.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        # ``_runs[level - _CACHED][index >> _RUN_BITS]`` holds the first nodes of
        # a run, back to back; a run the log has not filled yet grows when asked
        # for a node past its end (another writer may have stored it).
        self._runs: list[list[bytes]] = []
        self._cached_bytes = 0
        self._prefetched: dict[tuple[int, int], bytes] = {}
        self._recent: dict[tuple[int, int], bytes] = {}
        self.path_memo: dict[tuple[int, int], Walk] = {}  # for _merkle.inclusion_proof
        #: The largest log size prefetch has read: how many levels to read ahead.
        self.size_seen = 0

    @contextmanager
    def write(self) -> Iterator[None]:
        """The store's ``write()``, dropping the caches if it rolls back.

        Raises:
            The errors of the store's ``write()``.
        """
        try:
            with self.store.write():
                yield
        except BaseException:
            self.forget()
            raise

    def overlay(self) -> Overlay:
        """A view of this tree that a batch of appends adds nodes to."""
        return Overlay(self)

    def subtree(self, level: int, index: int) -> bytes:
        """Hash of a stored perfect subtree (a SubtreeSource for _merkle).

        Raises:
            StorageError: the node is missing (the tree does not cover it).
        """
        k = level - _CACHED
        if k >= 0 and index >= 0:  # _held, inlined: this is the proofs' hot path
            try:
                run = self._runs[k][index >> _RUN_BITS]
            except IndexError:
                run = b""
            at = (index & _RUN_MASK) * HASH_SIZE
            h = run[at:at + HASH_SIZE]
            if len(h) == HASH_SIZE:
                return h
        found = self._prefetched.get((level, index)) or self._recent.get((level, index))
        if found is None and k >= 0 and index >= 0:
            found = self._load(level, index)
        if found is not None:
            return found
        h = self.store.subtree(level, index)
        if len(self._recent) >= _RECENT_MAX:
            self._recent.clear()
        self._recent[level, index] = h
        return h

    def prefetch(self, nodes: Sequence[tuple[int, int]]) -> int:
        """Read these nodes ahead, in one store read, for the next ``subtree``
        calls, replacing the previous prefetch; return the log's size, read in
        the same store read. Nodes the memory cache holds or will read (levels
        >= _CACHED, within its budget) are left to it."""
        if self._cached_bytes < _CACHE_BYTES:
            wanted = [n for n in nodes if n[0] < _CACHED]
        else:
            wanted = [n for n in nodes if n[0] < _CACHED or self._held(*n) is None]
        size, hashes = self.store.tree_nodes(wanted)
        self._prefetched = {n: h for n, h in zip(wanted, hashes, strict=True) if h is not None}
        self.size_seen = max(self.size_seen, size)
        return size

    def _held(self, level: int, index: int) -> bytes | None:
        """The node from the memory cache, if it holds it."""
        k, r = level - _CACHED, index >> _RUN_BITS
        if k < 0 or index < 0 or k >= len(self._runs) or r >= len(self._runs[k]):
            return None
        at = (index & _RUN_MASK) * HASH_SIZE
        h = self._runs[k][r][at:at + HASH_SIZE]
        return h if len(h) == HASH_SIZE else None

    def _load(self, level: int, index: int) -> bytes | None:
        """Read the rest of ``index``'s run into memory, budget allowing; the
        node if it is held now."""
        if self._cached_bytes >= _CACHE_BYTES:
            return None
        k, r = level - _CACHED, index >> _RUN_BITS
        runs = self._runs[k] if k < len(self._runs) else []
        have = runs[r] if r < len(runs) else b""
        first = (r << _RUN_BITS) + len(have) // HASH_SIZE
        new: list[bytes] = []
        for i, h in self.store.tree_level(level, first, (r + 1) << _RUN_BITS):
            # A gap or a malformed hash ends what is kept: from there on the nodes
            # are read one by one, and missing ones raise as ever.
            if i != first + len(new) or len(h) != HASH_SIZE:
                break
            new.append(h)
        if not new:  # nothing stored there: no slots for it either
            return None
        while len(self._runs) <= k:
            self._runs.append([])
        runs = self._runs[k]
        runs.extend([b""] * (r + 1 - len(runs)))
        runs[r] = have + b"".join(new)
        self._cached_bytes += len(new) * HASH_SIZE
        return self._held(level, index)

    def forget(self) -> None:
        """Drop cached nodes: after a rollback some may be unwritten ones."""
        self._runs = []
        self._cached_bytes = 0
        self._prefetched = {}
        self._recent = {}
        self.path_memo = {}


class Overlay:
    """The Merkle nodes a batch adds, readable before they are stored."""

    def __init__(self, tree: Tree) -> None:
        self._tree = tree
        self._pending: dict[tuple[int, int], bytes] = {}
        #: (level, index, hash) of every node added, in order: for ``Store.insert``.
        self.nodes: list[tuple[int, int, bytes]] = []

    def subtree(self, level: int, index: int) -> bytes:
        """The node from the batch, else from the stored tree.

        Raises:
            StorageError: the node is in neither.
        """
        found = self._pending.get((level, index))
        return found if found is not None else self._tree.subtree(level, index)

    def append(self, index: int, entry: bytes) -> None:
        """Add the nodes that appending ``entry`` as leaf ``index`` completes."""
        for level, idx, h in new_subtrees(index, leaf_hash(entry), self):
            self._pending[level, idx] = h
            self.nodes.append((level, idx, h))

