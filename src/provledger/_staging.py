"""Scratch tables for head-map work too large to hold in memory.

A first checkpoint over a million subjects changes a million map keys; a
list of them costs hundreds of MB of Python objects. These
TEMP tables (private to the connection, never in the ledger file, dropped
after use) keep such work to a bounded page cache instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from . import _legacy_map
from ._legacy_map import LegacyNodes
from ._smt_tiles import MapTileRow

_BATCH = 10_000
#: The page cache (KiB, negative as PRAGMA cache_size takes it) while changes are sorted.
_SORT_CACHE = -4096


class TableChanges:
    """Head-map changes (key -> value) in a TEMP table, read by key range."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def count(self, lo: bytes, hi: bytes | None, limit: int) -> int:
        where, args = _range(lo, hi)
        (n,) = self._conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM temp.map_changes WHERE {where} LIMIT ?)",
            (*args, limit)).fetchone()
        return int(n)

    def items(self, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]:
        where, args = _range(lo, hi)
        return [(bytes(k), bytes(v)) for k, v in self._conn.execute(
            f"SELECT key, value FROM temp.map_changes WHERE {where} ORDER BY key", args)]

    def add_if_absent(self, key: bytes, value: bytes) -> None:
        self._conn.execute("INSERT OR IGNORE INTO temp.map_changes VALUES (?, ?)", (key, value))


#: Rows 0..?2-1 of a blob ?1 of 64-byte records: a 32-byte key and a 32-byte value.
_UNPACK = ("WITH RECURSIVE n(i) AS (VALUES (0) UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2) "
           "INSERT INTO temp.map_arrivals SELECT substr(?1, i * 64 + 1, 32), "
           "substr(?1, i * 64 + 33, 32) FROM n")


@contextmanager
def staged_changes(conn: sqlite3.Connection,
                   changes: Iterable[tuple[bytes, bytes]]) -> Iterator[TableChanges]:
    """``changes`` (later ones win) in a TEMP table for the length of the block.

    They arrive in any order (a million random map keys for a first head map):
    appended to a heap first, in batches packed into one blob (binding each
    row cost 2.3 us), then sorted into the keyed table in one statement, which
    is much cheaper than inserting each at a random place of a B-tree.
    """
    for table in ("map_changes", "map_arrivals"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
    conn.execute("CREATE TEMP TABLE map_arrivals (key BLOB NOT NULL, value BLOB NOT NULL)")
    conn.execute("CREATE TEMP TABLE map_changes (key BLOB PRIMARY KEY, value BLOB NOT NULL) "
                 "WITHOUT ROWID")
    try:
        batch: list[tuple[bytes, bytes]] = []
        for change in changes:
            batch.append(change)
            if len(batch) >= _BATCH:
                _arrive(conn, batch)
                batch.clear()
        _arrive(conn, batch)
        # In key order, the later of equal keys last: it replaces the earlier.
        # SQLite's sorter holds up to cache_size in memory before it merges
        # from temporary files: 64 MB, for a sort that needs none of it.
        (cache,) = conn.execute("PRAGMA cache_size").fetchone()
        conn.execute(f"PRAGMA cache_size = {_SORT_CACHE}")
        try:
            conn.execute("INSERT OR REPLACE INTO temp.map_changes SELECT key, value "
                         "FROM temp.map_arrivals ORDER BY key, rowid")
        finally:
            conn.execute(f"PRAGMA cache_size = {int(cache)}")
        conn.execute("DROP TABLE temp.map_arrivals")
        yield TableChanges(conn)
    finally:
        for table in ("map_changes", "map_arrivals"):
            conn.execute(f"DROP TABLE IF EXISTS temp.{table}")


@contextmanager
def staged_query(conn: sqlite3.Connection, query: str,
                 params: Sequence[object]) -> Iterator[TableChanges]:
    """The changes ``query`` (a SELECT of distinct keys and their values on
    this connection) gives, in a TEMP table for the length of the block."""
    conn.execute("DROP TABLE IF EXISTS temp.map_changes")
    conn.execute("CREATE TEMP TABLE map_changes (key BLOB PRIMARY KEY, value BLOB NOT NULL) "
                 "WITHOUT ROWID")
    try:
        conn.execute(f"INSERT OR REPLACE INTO temp.map_changes {query}", params)
        yield TableChanges(conn)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.map_changes")


def _arrive(conn: sqlite3.Connection, batch: list[tuple[bytes, bytes]]) -> None:
    if all(len(k) == 32 and len(v) == 32 for k, v in batch):
        if batch:
            conn.execute(_UNPACK, (b"".join(k + v for k, v in batch), len(batch)))
    else:
        conn.executemany("INSERT INTO temp.map_arrivals VALUES (?, ?)", batch)


class SQLiteTileCheck:
    """Recomputed head-map tiles, compared with the stored ones in SQL."""

    def __init__(self, conn: sqlite3.Connection, legacy: LegacyNodes | None = None) -> None:
        self._conn = conn
        self._legacy = legacy
        self.count = 0

    def add(self, rows: Sequence[MapTileRow]) -> None:
        """Add recomputed tiles (level, prefix, data)."""
        self._conn.executemany("INSERT INTO temp.tile_check VALUES (?, ?, ?)", rows)
        self.count += len(rows)

    def matches(self, version: int) -> bool:
        """Whether exactly the added tiles are stored under ``version``."""
        if self._legacy is not None:
            added = [(int(level), bytes(prefix), bytes(data)) for level, prefix, data in
                     self._conn.execute("SELECT level, prefix, data FROM temp.tile_check "
                                        "ORDER BY level, prefix")]
            return added == _legacy_map.written(self._legacy, version)
        (stored,) = self._conn.execute("SELECT COUNT(*) FROM map_tiles WHERE version = ?",
                                       (version,)).fetchone()
        if stored != self.count:
            return False
        (missing,) = self._conn.execute(
            "SELECT COUNT(*) FROM (SELECT level, prefix, data FROM temp.tile_check EXCEPT "
            "SELECT level, prefix, data FROM map_tiles WHERE version = ?)",
            (version,)).fetchone()
        return int(missing) == 0


@contextmanager
def tile_check(conn: sqlite3.Connection,
               legacy: LegacyNodes | None = None) -> Iterator[SQLiteTileCheck]:
    """Recomputed tiles to compare with the stored ones (with ``legacy``: with
    those a schema-1 or -2 file's nodes make)."""
    conn.execute("DROP TABLE IF EXISTS temp.tile_check")
    conn.execute("CREATE TEMP TABLE tile_check (level INTEGER, prefix BLOB, data BLOB, "
                 "PRIMARY KEY (level, prefix))")
    try:
        yield SQLiteTileCheck(conn, legacy)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.tile_check")


def _range(lo: bytes, hi: bytes | None) -> tuple[str, tuple[bytes, ...]]:
    if hi is None:
        return "key >= ?", (lo,)
    return "key >= ? AND key < ?", (lo, hi)
