"""Head maps stored before tiles: one ``map_nodes`` row per node (schemas 1 and 2).

A file of those schemas opened read-only is read through here: each tile
(_smt_tiles) is assembled from the nodes under it. Opened for writing, it
is converted (:func:`convert`): each version's changed leaves are applied to
the tiles of the version before, and the root must come out as the stored one.

A version's nodes are the newest at or below it at each position: a node is
rewritten whenever anything below it changes, and keys are never removed, so
no older node is left standing where the map has moved on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from . import _smt_tiles
from ._errors import StorageError
from ._progress import Progress
from ._smt import EMPTY, Changes
from ._smt_tiles import Child, MapTileRow, TileStore

#: Stage named to progress while a ledger's head map becomes tiles.
CONVERTING_MAP = "converting the head map to tiles"
#: (position, hash, key, value): a stored node; key and value are set for leaves.
NodeRow = tuple[bytes, bytes, bytes | None, bytes | None]


class LegacyNodes(Protocol):
    """The ``map_nodes`` table of a file written before tiles."""

    def legacy_nodes(self, depth: int, lo: bytes, hi: bytes, version: int) -> list[NodeRow]:
        """The newest node <= ``version`` at each position of ``depth`` in [lo, hi]."""
        ...

    def legacy_written(self, version: int) -> list[tuple[int, bytes, bool]]:
        """(depth, position, is a leaf) of every node ``version`` wrote."""
        ...

    def legacy_versions(self) -> list[int]:
        """Every version that wrote nodes, in order."""
        ...


def tile(nodes: LegacyNodes, level: int, prefix: bytes, version: int) -> bytes | None:
    """The tile (level, prefix) of the map at ``version``, as _smt_tiles stores it."""
    lo = prefix + bytes(32 - level)
    hi = prefix + b"\xff" * (32 - level)
    top = nodes.legacy_nodes(8 * level, lo, hi, version)
    if not top:
        return None
    _, _, key, value = top[0]
    if key is not None and value is not None:
        # A lone leaf has no tile of its own, except as a map's only key.
        return _smt_tiles.encode([(key[0], key + value, None)]) if level == 0 else None
    children: dict[int, Child] = {}
    for depth in range(8 * level + 1, 8 * level + 9):
        for position, h, key, value in nodes.legacy_nodes(depth, lo, hi, version):
            if key is not None and value is not None:
                children[key[level]] = (key[level], key + value, None)
            elif depth == 8 * level + 8:
                children[position[level]] = (position[level], None, h)
    return _smt_tiles.encode([children[s] for s in sorted(children)])


def written(nodes: LegacyNodes, version: int) -> list[MapTileRow]:
    """The tiles ``version`` changed: those holding a node it wrote."""
    touched: set[tuple[int, bytes]] = set()
    for depth, position, leaf in nodes.legacy_written(version):
        level, rest = divmod(depth, 8)
        if level < 32 and not (leaf and rest == 0 and level > 0):
            touched.add((level, position[:level]))
        if rest == 0 and level > 0:  # also the child it is of the tile above
            touched.add((level - 1, position[:level - 1]))
    out = []
    for level, prefix in sorted(touched):
        data = tile(nodes, level, prefix, version)
        if data is not None:
            out.append((level, prefix, data))
    return out


def count(nodes: LegacyNodes) -> int:
    """How many tiles the nodes make, over all versions."""
    return sum(len(written(nodes, v)) for v in nodes.legacy_versions())


def root(nodes: LegacyNodes, version: int) -> bytes:
    """The map root at ``version`` as the nodes store it."""
    top = nodes.legacy_nodes(0, bytes(32), bytes(32), version)
    return top[0][1] if top else EMPTY


def convert(nodes: LegacyNodes, staged: Callable[[int], AbstractContextManager[Changes]],
            tiles: TileStore, insert: Callable[[int, list[MapTileRow]], None],
            progress: Progress | None) -> None:
    """Write the tiles of every version, in order: ``staged(version)`` gives
    the (key, value) of the leaves it wrote; ``insert(version, rows)`` stores
    rows that ``tiles`` then reads. ``progress`` hears of the versions done.

    Raises:
        StorageError: a version's tiles do not give the root its nodes store
            (the nodes are damaged); the caller rolls back.
    """
    versions = nodes.legacy_versions()
    previous = -1
    for done, version in enumerate(versions):
        if progress is not None:
            progress(CONVERTING_MAP, done, len(versions))
        batches = _smt_tiles.Batches(functools.partial(insert, version))
        with staged(version) as changes:
            got = _smt_tiles.update(tiles, previous=previous, changes=changes,
                                    emit=batches.emit)
        batches.flush()
        if got != root(nodes, version):
            raise StorageError(f"the head map of checkpoint {version} does not rebuild to the "
                               "root its stored nodes give; audit the ledger")
        previous = version
    if progress is not None:
        progress(CONVERTING_MAP, len(versions), len(versions))
