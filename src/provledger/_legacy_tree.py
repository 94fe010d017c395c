"""The Merkle tree of ledger files made before tiles (schema 1): read as tiles, migrated.

Those files keep one ``tree`` row per perfect subtree, (level, idx) -> hash.
A tile is a fixed set of such rows (_tree), so it can be assembled from them:
that is how a schema-1 file opened read-only is read, and how opening it for
writing converts it (:func:`copy_to_tiles`, inside the store's transaction).
Rows are copied as stored, never recomputed, so an edit made behind the
ledger's back stays visible to the audit after the conversion; a tile ends at
the first row missing. A row no tile holds (past the log's end) fails the
audit of the file read as it is, and is not carried over.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from ._progress import Progress
from ._storage import TileRow
from ._tree import HEIGHT, WIDTH, pack_tile

_MAX = 2**63 - 1
#: Tiles per INSERT, and between two progress reports (65,536 entries).
_BATCH = 256
#: The stage name a conversion reports progress under (in entries covered).
CONVERTING: str = "storing the tree as tiles"


class _Peek:
    """An ordered cursor of (idx, hash) rows that can look one row ahead."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self.head: tuple[int, bytes] | None = self._next()

    def _next(self) -> tuple[int, bytes] | None:
        row = self._cursor.fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def pop(self) -> tuple[int, bytes]:
        assert self.head is not None
        row, self.head = self.head, self._next()
        return row

    def close(self) -> None:
        self._cursor.close()


def tiles(conn: sqlite3.Connection, level: int, start: int = 0,
          stop: int | None = None) -> Iterator[TileRow]:
    """The tiles of tile ``level`` with ``start <= index < stop`` that have
    a first hash stored, by index, assembled from the ``tree`` table."""
    base = level * HEIGHT
    end = _MAX if stop is None else stop
    cursors = [_Peek(conn.execute(
        "SELECT CAST(idx AS INTEGER), CAST(hash AS BLOB) FROM tree "
        "WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
        (base + h, min(start << (HEIGHT - h), _MAX), min(end << (HEIGHT - h), _MAX))))
        for h in range(HEIGHT)]
    try:
        while cursors[0].head is not None:
            n = cursors[0].head[0] >> HEIGHT
            levels: list[list[bytes]] = []
            for h, cursor in enumerate(cursors):
                first, stop_at = n << (HEIGHT - h), (n + 1) << (HEIGHT - h)
                got: list[bytes] = []
                while cursor.head is not None and cursor.head[0] < stop_at:
                    idx, digest = cursor.pop()
                    if idx == first + len(got):
                        got.append(digest)
                levels.append(got)
            if levels[0]:  # else its first hash is missing: no tile
                hashes, nodes = pack_tile(levels)
                yield TileRow(level, n, hashes, nodes)
    finally:
        for cursor in cursors:
            cursor.close()


def tile_count(conn: sqlite3.Connection) -> int:
    """How many tiles the rows make, plus one for each row past the log's end
    (which no tile can hold): what the audit compares with the tiles expected."""
    (count,) = conn.execute(
        "SELECT (SELECT COUNT(*) FROM (SELECT DISTINCT level >> 3, "
        "idx >> (8 - (level & 7)) FROM tree)) + (SELECT COUNT(*) FROM tree WHERE "
        "((idx + 1) << level) > (SELECT COALESCE(MAX(idx), -1) + 1 FROM entries))").fetchone()
    return int(count)


def copy_to_tiles(conn: sqlite3.Connection, insert: str,
                  progress: Progress | None = None) -> int:
    """Write every tile the ``tree`` table makes with the statement ``insert``
    (parameters level, index, hashes, nodes); call inside a write transaction.
    ``progress`` hears of the entries covered. Returns the tiles written."""
    (top,) = conn.execute("SELECT MAX(CAST(level AS INTEGER)) FROM tree").fetchone()
    (size,) = conn.execute("SELECT COALESCE(MAX(idx), -1) + 1 FROM entries").fetchone()
    written = 0
    if progress is not None:
        progress(CONVERTING, 0, size)
    for level in range(0, 0 if top is None else int(top) // HEIGHT + 1):
        batch: list[tuple[int, int, bytes, bytes]] = []
        for tile in tiles(conn, level):
            batch.append((tile.level, tile.index, tile.hashes, tile.nodes))
            if len(batch) >= _BATCH:
                conn.executemany(insert, batch)
                written += len(batch)
                batch.clear()
                if progress is not None and level == 0:
                    progress(CONVERTING, min((tile.index + 1) * WIDTH, size), size)
        conn.executemany(insert, batch)
        written += len(batch)
    if progress is not None:
        progress(CONVERTING, size, size)
    return written
