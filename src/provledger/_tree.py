"""The Merkle tree layer: the tree as c2sp.org/tlog-tiles tiles, cached reads, appends.

A backend stores one row per tile and reads rows back (the ``TreeStore`` part
of :class:`~provledger._storage.Store`); what a row means, and which rows are
worth keeping in memory, is decided here, the way Tessera and Sunlight keep
tile caches above a backend that only reads and writes tiles. There is one
:class:`Tree` per open store (:func:`tree_of`), so every caller of a store
shares its caches.

A tile at level L, index N is the height-8 subtree whose leaves are the tree
nodes ``(8L, 256N)`` to ``(8L, 256N + 255)``; its row holds those hashes
(``hashes``, the tile as published) and, derived, its interior nodes of tree
levels 8L+1 to 8L+7 (``nodes``) in the order appends complete them (post-order),
so both only ever grow at the end while the tile is partial, and every node a
proof needs is one slice of one row.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from ._errors import StorageError
from ._merkle import HASH_SIZE, MAX_TREE_SIZE, Walk, leaf_hash, new_subtrees
from ._storage import FULL_TILE_BYTES, Store, TileRow

HEIGHT = 8
WIDTH = 1 << HEIGHT


def _post_order(h: int, j: int) -> int:
    """Position of interior node (h, j) of a tile (1 <= h <= 7) among the
    tile's interior nodes in the order appends complete them: the last leaf
    under it is m - 1, before which m - 1 - popcount(m - 1) interior nodes
    were complete, and it completes levels 1..h in that order."""
    m = (j + 1) << h
    return (m - 1) - (m - 1).bit_count() + h - 1


#: ``NODE_AT[h][j]``: byte offset of interior node (h, j) in a tile's ``nodes``.
NODE_AT: tuple[tuple[int, ...], ...] = ((), *(
    tuple(_post_order(h, j) * HASH_SIZE for j in range(WIDTH >> h)) for h in range(1, HEIGHT)))
#: ``PATH_AT[rel]``: offsets in ``nodes`` of the siblings of the ancestors of the
#: tile's hash ``rel`` at tile levels 7 down to 1 (an inclusion path's steps).
PATH_AT: tuple[tuple[int, ...], ...] = tuple(
    tuple(NODE_AT[h][(rel >> h) ^ 1] for h in range(HEIGHT - 1, 0, -1)) for rel in range(WIDTH))
#: ``PATH_END[rel][count]``: how many bytes of ``nodes`` the last ``count - 1`` of them need.
PATH_END: tuple[tuple[int, ...], ...] = tuple(
    (0, 0, *(max(offsets[HEIGHT - c:]) + HASH_SIZE for c in range(2, HEIGHT + 1)))
    for offsets in PATH_AT)
#: Interior nodes of a full tile (levels 1 to 7; level 8 is the next tile level's).
FULL_NODES_BYTES = (WIDTH - 2) * HASH_SIZE


def interior_count(width: int) -> int:
    """How many interior nodes a tile of ``width`` hashes has complete."""
    return width - width.bit_count() - (width == WIDTH)


def pack_tile(levels: list[list[bytes]]) -> tuple[bytes, bytes]:
    """(hashes, nodes) of a tile from its nodes by level: ``levels[h]`` holds
    the complete nodes of tile level h (0: the tile's hashes), left to right.
    Stops at the first node missing. For converting a store that kept one row
    per node."""
    base = levels[0][:WIDTH]
    nodes = bytearray()
    for m in range(1, len(base) + 1):
        h = 1
        while h < HEIGHT and not m & ((1 << h) - 1):
            j = (m >> h) - 1
            if h >= len(levels) or j >= len(levels[h]):
                return b"".join(base), bytes(nodes)
            nodes += levels[h][j]
            h += 1
    return b"".join(base), bytes(nodes)


#: Bytes of tiles kept in memory once read: all upper tiles and, at 1M entries,
#: every level-0 one (16 KB each with its interior nodes). Past it, tiles not
#: held are read per use (level-0 ones, mostly: 1 in 256 tiles is of a level above).
_CACHE_BYTES = 64 << 20
#: Tiles read past the budget kept for reuse by the next lookups (a proof's own).
_RECENT_MAX = 16

_TREES: weakref.WeakKeyDictionary[Store, Tree] = weakref.WeakKeyDictionary()


def tree_of(store: Store) -> Tree:
    """The tree layer of ``store``: one per store object, made on first use."""
    tree = _TREES.get(store)
    if tree is None:
        tree = _TREES[store] = Tree(store)
    return tree


def _missing(level: int, index: int) -> StorageError:
    return StorageError(f"Merkle tree node ({level}, {index}) is missing from the stored tiles")


class Tree:
    """The stored Merkle tree of one store, read through a memory cache of tiles.

    A :class:`~provledger._merkle.SubtreeSource` with a ``path_memo`` and a
    ``perfect_path``. Full tiles never change and a partial one only grows,
    so what is cached stays right as the log grows (a node past a cached
    partial tile's end is read again); only a rolled-back write can leave
    cached tiles that were never stored, which is why writes go through
    :meth:`write`.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        #: (level, index) -> (hashes, nodes) of tiles read or written.
        self._tiles: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        #: The last tiles read past the budget.
        self._recent: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        self._cached_bytes = 0
        self.path_memo: dict[tuple[int, int], Walk] = {}  # for _merkle.inclusion_proof
        #: The largest log size read so far: how many tile levels a path spans.
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
        if level < 0 or index < 0:
            raise _missing(level, index)
        h = level & 7
        key = (level >> 3, index >> (HEIGHT - h))
        at = (index & (WIDTH - 1)) * HASH_SIZE if h == 0 else NODE_AT[h][index & ((WIDTH >> h) - 1)]
        tile = self._tiles.get(key) or self._recent.get(key)
        if tile is not None:
            found = tile[h != 0][at:at + HASH_SIZE]
            if len(found) == HASH_SIZE:
                return found
        tile = self._read(key)
        found = b"" if tile is None else tile[h != 0][at:at + HASH_SIZE]
        if len(found) != HASH_SIZE:
            raise _missing(level, index)
        return found

    def perfect_path(self, index: int, top: int) -> list[bytes]:
        """The siblings of leaf ``index``'s ancestors at levels ``top - 1`` down to 0,
        root side first: the lower part of an inclusion path below a perfect
        subtree (for _merkle.inclusion_proof), one tile lookup per tile level.

        Raises:
            StorageError: a node is missing.
        """
        path: list[bytes] = []
        t = (top - 1) >> 3
        while t >= 0:
            base = t << 3
            key = (t, index >> (base + HEIGHT))
            rel = (index >> base) & (WIDTH - 1)
            count = min(top - base, HEIGHT)
            tile = self._tiles.get(key) or self._recent.get(key)
            part = None if tile is None else _siblings(tile, rel, count)
            if part is None:  # not held, or held partial and grown since
                tile = self._read(key)
                part = None if tile is None else _siblings(tile, rel, count)
                if part is None:  # raises for the first node missing
                    part = [self.subtree(base + h, (index >> (base + h)) ^ 1)
                            for h in range(count - 1, -1, -1)]
            path += part
            t -= 1
        return path

    def prefetch_path(self, index: int, size: int | None) -> int:
        """Read the log's size, and with it the tiles on leaf ``index``'s path
        not held as wide as a tree of ``size`` (default: the largest size read
        so far) has them, in one store read; return the size."""
        guess = self.size_seen if size is None else size
        keys = []
        if 0 <= index <= MAX_TREE_SIZE and 0 <= guess <= MAX_TREE_SIZE:
            tiles = self._tiles
            shift = 0
            while guess >> shift:
                key = (shift >> 3, index >> (shift + HEIGHT))
                tile = tiles.get(key)
                if tile is None or len(tile[0]) < FULL_TILE_BYTES:
                    # Held partial: enough if as wide as the tree of ``guess`` has it.
                    width = min((guess >> shift) - (key[1] << HEIGHT), WIDTH)
                    if width > 0 and (tile is None or len(tile[0]) < width * HASH_SIZE):
                        keys.append(key)
                shift += HEIGHT
        current, rows = self.store.tiles(keys)
        for row in rows:
            if row is not None:
                self._keep(row)
        self.size_seen = max(self.size_seen, current)
        return current

    def _read(self, key: tuple[int, int]) -> tuple[bytes, bytes] | None:
        """The tile ``key`` read from the store now (and kept, budget allowing)."""
        size, (row,) = self.store.tiles([key])
        self.size_seen = max(self.size_seen, size)
        if row is None:
            return None
        self._keep(row)
        return row.hashes, row.nodes

    def _keep(self, row: TileRow) -> None:
        key = (row.level, row.index)
        old = self._tiles.get(key)
        if old is None and self._cached_bytes >= _CACHE_BYTES:
            # Over budget: held for the proof that asked for it, not read twice.
            if len(self._recent) >= _RECENT_MAX:
                self._recent.clear()
            self._recent[key] = (row.hashes, row.nodes)
            return
        if old is not None:
            self._cached_bytes -= len(old[0]) + len(old[1])
        self._tiles[key] = (row.hashes, row.nodes)
        self._cached_bytes += len(row.hashes) + len(row.nodes)

    def forget(self) -> None:
        """Drop cached tiles: after a rollback some may be unwritten ones."""
        self._tiles = {}
        self._recent = {}
        self._cached_bytes = 0
        self.path_memo = {}


def _siblings(tile: tuple[bytes, bytes], rel: int, count: int) -> list[bytes] | None:
    """The siblings at tile levels ``count - 1`` down to 0 of the ancestors of
    the tile's hash ``rel``, or None if the tile does not hold them all."""
    hashes, nodes = tile
    at = (rel ^ 1) * HASH_SIZE
    if len(hashes) < at + HASH_SIZE or len(nodes) < PATH_END[rel][count]:
        return None
    out = [nodes[a:a + HASH_SIZE] for a in PATH_AT[rel][HEIGHT - count:]]
    out.append(hashes[at:at + HASH_SIZE])
    return out


class TileBuilder:
    """The tiles of a tree grown leaf by leaf in memory: the right edge only.

    Each tile level has at most one tile open (partial); a tile that fills is
    handed back by :meth:`add` and dropped, so memory stays O(log n).
    """

    def __init__(self) -> None:
        #: tile level -> (index, hashes, nodes) of its open tile.
        self.open: dict[int, tuple[int, bytearray, bytearray]] = {}
        #: Tile levels that :meth:`add` wrote to.
        self.grown: set[int] = set()

    def load(self, size: int, rows: Iterable[TileRow | None]) -> None:
        """Open the right-edge tiles of a tree of ``size`` leaves: ``rows`` are the
        stored tiles ``edge_keys(size)`` names, in that order.

        Raises:
            StorageError: a tile is missing or not the width ``size`` implies.
        """
        for (t, n), row in zip(edge_keys(size), rows, strict=True):
            width = (size >> (t * HEIGHT)) & (WIDTH - 1)
            if not width:
                continue
            have = (0, 0) if row is None else (len(row.hashes), len(row.nodes))
            if have != (width * HASH_SIZE, interior_count(width) * HASH_SIZE):
                raise StorageError(
                    f"the stored tree does not match the log's {size} entries: tile {t}/{n} "
                    f"holds {have[0]} bytes of hashes and {have[1]} of nodes, not "
                    f"{width * HASH_SIZE} and {interior_count(width) * HASH_SIZE}")
            assert row is not None
            self.open[t] = (n, bytearray(row.hashes), bytearray(row.nodes))

    def subtree(self, level: int, index: int) -> bytes:
        """A node of an open tile (all that appends and roots of the current
        size need).

        Raises:
            StorageError: the node is in no open tile.
        """
        h = level & 7
        tile = self.open.get(level >> 3)
        if tile is not None and level >= 0 and tile[0] == index >> (HEIGHT - h) and index >= 0:
            if h == 0:
                at = (index & (WIDTH - 1)) * HASH_SIZE
                found = bytes(tile[1][at:at + HASH_SIZE])
            else:
                at = NODE_AT[h][index & ((WIDTH >> h) - 1)]
                found = bytes(tile[2][at:at + HASH_SIZE])
            if len(found) == HASH_SIZE:
                return found
        raise _missing(level, index)

    def add(self, index: int, leaf: bytes) -> list[TileRow]:
        """Append leaf hash ``leaf`` as leaf ``index``; return the tiles it fills.

        Raises:
            StorageError: ``index`` does not continue the open tiles.
        """
        filled: list[TileRow] = []
        for level, idx, digest in new_subtrees(index, leaf, self):
            t, h = level >> 3, level & 7
            tile = self.open.get(t)
            if h == 0:
                if tile is None and not idx & (WIDTH - 1):
                    tile = self.open[t] = (idx >> HEIGHT, bytearray(), bytearray())
                if tile is None or (tile[0], len(tile[1])) != (
                        idx >> HEIGHT, (idx & (WIDTH - 1)) * HASH_SIZE):
                    raise StorageError(f"Merkle tree node ({level}, {idx}) does not "
                                       "continue the stored tiles")
                tile[1].extend(digest)
            else:
                assert tile is not None  # its leftmost leaf came first
                tile[2].extend(digest)
            self.grown.add(t)
        for t, (n, hashes, nodes) in list(self.open.items()):
            if len(hashes) == FULL_TILE_BYTES and len(nodes) == FULL_NODES_BYTES:
                filled.append(TileRow(t, n, bytes(hashes), bytes(nodes)))
                del self.open[t]
        return filled

    def partial(self) -> list[TileRow]:
        """The open tiles, by level."""
        return [TileRow(t, n, bytes(h), bytes(nodes))
                for t, (n, h, nodes) in sorted(self.open.items())]


def edge_keys(size: int) -> list[tuple[int, int]]:
    """(level, index) of the right-edge tile of each tile level of a tree of
    ``size`` leaves (the one the next append extends or starts)."""
    keys = []
    t = 0
    while size >> (t * HEIGHT):
        keys.append((t, size >> ((t + 1) * HEIGHT)))
        t += 1
    return keys


class Overlay:
    """The tiles a batch of appends writes, readable before they are stored."""

    def __init__(self, tree: Tree) -> None:
        self._tree = tree
        self._builder: TileBuilder | None = None
        self._filled: list[TileRow] = []

    def append(self, index: int, entry: bytes) -> None:
        """Add the nodes that appending ``entry`` as leaf ``index`` completes.

        Raises:
            StorageError: the stored right edge does not match ``index`` (read
                at the first append).
        """
        builder = self._builder
        if builder is None:
            builder = self._builder = TileBuilder()
            keys = edge_keys(index)
            _, rows = self._tree.store.tiles(keys)
            builder.load(index, rows)
        self._filled += builder.add(index, leaf_hash(entry))

    @property
    def nodes(self) -> list[TileRow]:
        """The tiles to store (``Store.insert``'s tiles): every tile filled or
        grown by the batch. They are kept in the tree's cache, which forgets
        them if the write rolls back."""
        tiles = self._filled.copy()
        if self._builder is not None:
            tiles += [t for t in self._builder.partial() if t.level in self._builder.grown]
        for tile in tiles:
            self._tree._keep(tile)
        return tiles
