"""Audit of the Merkle tree and checkpoints: rebuild, compare, in O(log n) memory.

The entries are streamed once; a frontier (the latest complete subtree of
each level) rebuilds every perfect subtree, which is compared with the stored
node of that level and position, read through one ordered cursor per level.
Every checkpoint's root is compared with the rebuilt root at its size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from . import _merkle
from ._errors import AuditError, ProvLedgerError
from ._progress import CHECKING_HEAD_MAPS, CHECKING_TREE, EVERY, Progress
from ._storage import Store
from ._tlog import SignedCheckpoint, checkpoints, head_map_into


class _Frontier:
    """The latest complete subtree of each level: all a growing tree needs."""

    def __init__(self) -> None:
        self.nodes: dict[int, tuple[int, bytes]] = {}

    def subtree(self, level: int, index: int) -> bytes:
        idx, h = self.nodes.get(level, (-1, b""))
        if idx != index:
            raise AuditError(f"tree rebuild: subtree ({level}, {index}) is not on the frontier")
        return h


def check_tree(store: Store, *, origin: str, log_key: bytes, size: int,
               progress: Progress | None = None) -> int:
    """Check the stored tree over entries 0..size-1 and every checkpoint.

    Returns the number of checkpoints checked. ``progress`` hears of the
    entries rehashed, then of the head maps rebuilt (_progress).

    Raises:
        AuditError: a stored node, a checkpoint or the consistency between two
            checkpoints does not match the entries; ``index`` names the entry
            whose leaf first disagrees, where there is one.
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
    frontier = _Frontier()
    # One ordered cursor per level: the rebuild asks for each level's nodes in order.
    cursors: dict[int, Iterator[tuple[int, bytes]]] = {}
    _check_roots(by_size.get(0, []), 0, frontier)
    for row in store.rows(0, size):
        for level, idx, h in _merkle.new_subtrees(row.index, _merkle.leaf_hash(row.entry),
                                                  frontier):
            cursor = cursors.setdefault(level, store.tree_level(level))
            stored = next(cursor, None)
            if stored != (idx, h):
                raise AuditError(f"entry {row.index}: stored Merkle node ({level}, {idx}) "
                                 f"differs from the one its entries prove", index=row.index)
            frontier.nodes[level] = (idx, h)
        if row.index + 1 in by_size:
            _check_roots(by_size[row.index + 1], row.index + 1, frontier)
        if progress is not None and (row.index + 1) % EVERY == 0:
            progress(CHECKING_TREE, row.index + 1, size)
    if progress is not None:
        progress(CHECKING_TREE, size, size)
    expected = sum(size >> level for level in range(size.bit_length()))
    if store.tree_nodes_within(size) != (expected, 0):
        raise AuditError(f"the tree holds nodes that no entry proves ({expected} expected "
                         f"within {size} leaves)")
    _check_head_maps(store, signed, progress)
    for old, new in itertools.pairwise(signed):
        if 0 < old.size < new.size:
            proof = _merkle.consistency_proof(old.size, new.size, store)
            try:
                _merkle.verify_consistency(old_size=old.size, new_size=new.size,
                                           old_root=old.root, new_root=new.root, proof=proof)
            except ProvLedgerError as exc:
                raise AuditError(f"checkpoints {old.seq} and {new.seq} are not consistent: "
                                 f"{exc}") from None
    return len(signed)


def _check_head_maps(store: Store, signed: list[SignedCheckpoint],
                     progress: Progress | None) -> None:
    """Rebuild each checkpoint's head-map nodes from the previous (already checked)
    version and the entries between them; compare nodes and root.

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
        with store.node_check() as check:
            heads = head_map_into(store, previous=previous, size=cp.size, emit=check.add,
                                  progress=inner)
            if heads != cp.heads:
                raise AuditError(f"checkpoint {cp.seq}: head map root is not the map of the "
                                 f"entries' heads at size {cp.size}")
            if not check.matches(cp.seq):
                raise AuditError(f"checkpoint {cp.seq}: stored head map nodes differ from the "
                                 "ones the entries prove")
            total += check.count
        previous = cp
        if progress is not None:
            progress(CHECKING_HEAD_MAPS, cp.size, last)
    if store.map_node_count() != total:
        raise AuditError("the head map holds nodes that no checkpoint wrote")


def _scaled(progress: Progress, start: int, stop: int, last: int) -> Progress:
    """Report one checkpoint's head-map rebuild as entries ``start``..``stop`` of ``last``."""
    def report(_stage: str, done: int, total: int | None) -> None:
        if total:
            progress(CHECKING_HEAD_MAPS, start + (stop - start) * min(done, total) // total, last)

    return report


def _check_roots(cps: list[SignedCheckpoint], size: int, frontier: _Frontier) -> None:
    if not cps:
        return
    expected = _merkle.root(size, frontier)
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
