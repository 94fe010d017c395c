"""Audit of the Merkle tree and checkpoints: rebuild, compare, in O(log n) memory.

The entries are streamed once; the tiles they make are rebuilt at the right
edge (_tree.TileBuilder) and each is compared with the stored tile as it
fills, read through one ordered cursor per tile level, and the partial ones
at the end. Every checkpoint's root is compared with the rebuilt root at its
size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from . import _merkle
from ._errors import AuditError, DamagedStoreError, ProvLedgerError
from ._merkle import HASH_SIZE
from ._progress import CHECKING_HEAD_MAPS, CHECKING_TREE, EVERY, Progress
from ._storage import Store, TileRow
from ._tlog import SignedCheckpoint, checkpoints, head_map_into
from ._tree import HEIGHT, NODE_AT, TileBuilder, tree_of

#: Tile position (tile level h, index j) of each interior node, by its place in ``nodes``.
_NODE_OF = {at // HASH_SIZE: (h, j) for h, row in enumerate(NODE_AT) for j, at in enumerate(row)}


def check_tree(store: Store, *, origin: str, log_key: bytes, size: int,
               progress: Progress | None = None) -> int:
    """Check the stored tree over entries 0..size-1 and every checkpoint.

    Returns the number of checkpoints checked. ``progress`` hears of the
    entries rehashed, then of the head maps rebuilt (_progress).

    Raises:
        AuditError: a stored tile, a checkpoint or the consistency between two
            checkpoints does not match the entries; ``index`` names the entry
            whose append completed the first node that disagrees, where there
            is one.
    """
    try:
        signed = checkpoints(store, origin, log_key)
    except ProvLedgerError as exc:
        raise AuditError(f"a stored checkpoint does not verify: {exc}") from None
    by_size: dict[int, list[SignedCheckpoint]] = {}
    for cp in signed:
        by_size.setdefault(cp.size, []).append(cp)
    if signed and max(by_size) > size:
        raise AuditError(f"checkpoint at size {max(by_size)} covers more than the "
                         f"{size} entries audited")
    _check_order(signed)
    builder = TileBuilder()
    # One ordered cursor per tile level: tiles fill in index order.
    cursors: dict[int, _Cursor] = {}
    compared = 0
    _check_roots(by_size.get(0, []), 0, builder)
    try:
        for row in store.rows(0, size):
            for tile in builder.add(row.index, _merkle.leaf_hash(row.entry)):
                _compare(tile, cursors, store)
                compared += 1
            if row.index + 1 in by_size:
                _check_roots(by_size[row.index + 1], row.index + 1, builder)
            if progress is not None and (row.index + 1) % EVERY == 0:
                progress(CHECKING_TREE, row.index + 1, size)
        for tile in builder.partial():
            _compare(tile, cursors, store)
            compared += 1
    finally:
        # Finished now, not when a traceback that holds them goes: an open
        # statement keeps the database's read lock.
        for cursor in cursors.values():
            cursor.close()
    if progress is not None:
        progress(CHECKING_TREE, size, size)
    if store.tile_count() != compared:
        raise AuditError(f"the tree holds tiles that no entry proves ({compared} expected "
                         f"for {size} entries)")
    _check_head_maps(store, signed, progress)
    tree = tree_of(store)
    for old, new in itertools.pairwise(signed):
        if 0 < old.size < new.size:
            proof = _merkle.consistency_proof(old.size, new.size, tree)
            try:
                _merkle.verify_consistency(old_size=old.size, new_size=new.size,
                                           old_root=old.root, new_root=new.root, proof=proof)
            except ProvLedgerError as exc:
                raise AuditError(f"checkpoints {old.seq} and {new.seq} are not consistent: "
                                 f"{exc}") from None
    return len(signed)


class _Cursor:
    """The stored tiles of one level, in order, with one of look-ahead."""

    def __init__(self, rows: Iterator[TileRow]) -> None:
        self._rows = rows
        self.head = next(rows, None)

    def pop(self) -> None:
        self.head = next(self._rows, None)

    def close(self) -> None:
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()


def _compare(tile: TileRow, cursors: dict[int, _Cursor], store: Store) -> None:
    """Compare a rebuilt tile with the next stored one of its level.

    Raises:
        AuditError: they differ; naming the first node that does.
    """
    cursor = cursors.get(tile.level)
    if cursor is None:
        cursor = cursors[tile.level] = _Cursor(store.tile_rows(tile.level))
    stored = cursor.head
    if stored is not None and stored.index < tile.index:  # one no entry proves
        raise AuditError(f"the tree holds tile {tile.level}/{stored.index}, which no entry proves")
    if stored is None or stored.index > tile.index:  # missing
        stored = TileRow(tile.level, tile.index, b"", b"")
    else:
        cursor.pop()
    if (stored.hashes, stored.nodes) == (tile.hashes, tile.nodes):
        return
    base = tile.level * HEIGHT
    at = _first_difference(tile.hashes, stored.hashes)
    if at is not None:
        level, index = base, (tile.index << HEIGHT) | at
    else:
        at = _first_difference(tile.nodes, stored.nodes)
        if at is None:  # the stored tile holds all it should, and more
            raise AuditError(f"tile {tile.level}/{tile.index} holds nodes that no entry proves")
        h, j = _NODE_OF[at]
        level, index = base + h, (tile.index << (HEIGHT - h)) | j
    entry = ((index + 1) << level) - 1
    raise AuditError(f"entry {entry}: tile {tile.level}/{tile.index}: the stored Merkle node "
                     f"({level}, {index}) differs from the one its entries prove", index=entry)


def _first_difference(expected: bytes, stored: bytes) -> int | None:
    """The first hash position where ``stored`` differs from ``expected``
    (None if ``expected`` is a prefix of ``stored``, extra hashes aside)."""
    for i in range(0, len(expected), HASH_SIZE):
        if stored[i:i + HASH_SIZE] != expected[i:i + HASH_SIZE]:
            return i // HASH_SIZE
    return None


def _check_head_maps(store: Store, signed: list[SignedCheckpoint],
                     progress: Progress | None) -> None:
    """Rebuild each checkpoint's head-map tiles from the previous (already checked)
    version and the entries between them; compare tiles and root.

    Progress is counted in entries covered, up to the last checkpoint's size."""
    previous: SignedCheckpoint | None = None
    total = 0
    last = signed[-1].size if signed else 0
    if progress is not None and signed:
        progress(CHECKING_HEAD_MAPS, 0, last)
    for cp in signed:
        inner: Progress | None = None
        if progress is not None:
            inner = _scaled(progress, previous.size if previous else 0, cp.size, last)
        with store.tile_check() as check:
            try:
                heads = head_map_into(store, previous=previous, size=cp.size, sink=check.add,
                                      progress=inner)
            except DamagedStoreError as exc:
                raise AuditError(f"checkpoint {cp.seq}: {exc}") from None
            if heads != cp.heads:
                raise AuditError(f"checkpoint {cp.seq}: head map root is not the map of the "
                                 f"entries' heads at size {cp.size}")
            if not check.matches(cp.seq):
                raise AuditError(f"checkpoint {cp.seq}: stored head map tiles differ from the "
                                 "ones the entries prove")
            total += check.count
        previous = cp
        if progress is not None:
            progress(CHECKING_HEAD_MAPS, cp.size, last)
    if store.map_tile_count() != total:
        raise AuditError("the head map holds tiles that no checkpoint wrote")


def _scaled(progress: Progress, start: int, stop: int, last: int) -> Progress:
    """Report one checkpoint's head-map rebuild as entries ``start``..``stop`` of ``last``."""
    def report(_stage: str, done: int, total: int | None) -> None:
        if total:
            progress(CHECKING_HEAD_MAPS, start + (stop - start) * min(done, total) // total, last)

    return report


def _check_roots(cps: list[SignedCheckpoint], size: int, builder: TileBuilder) -> None:
    if not cps:
        return
    expected = _merkle.root(size, builder)
    for cp in cps:
        if cp.root != expected:
            raise AuditError(f"checkpoint {cp.seq}: root at size {size} is not the root of "
                             "the log's entries")


def _check_order(signed: list[SignedCheckpoint]) -> None:
    for i, (old, new) in enumerate(itertools.pairwise(signed)):
        if new.seq != old.seq + 1 or new.size < old.size or new.time < old.time:
            raise AuditError(f"checkpoint {i + 1} goes back in sequence, size or time")
    if signed and signed[0].seq != 0:
        raise AuditError("checkpoint 0 is missing")
