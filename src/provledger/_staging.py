"""Scratch tables for head-map work too large to hold in memory.

A checkpoint over a million subjects changes a million map keys and writes
about 2.4 million nodes; lists of them cost gigabytes of Python objects. These
TEMP tables (private to the connection, never in the ledger file, dropped
after use) keep such work to a bounded page cache instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from ._smt_build import INNER_RECORD, LEAF_RECORD, Packed

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

    def stream(self) -> Iterator[tuple[bytes, bytes]]:
        # The key order is the table's own (WITHOUT ROWID): no sort.
        return iter(self._conn.execute("SELECT CAST(key AS BLOB), CAST(value AS BLOB) "
                                       "FROM temp.map_changes ORDER BY key"))


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


def _arrive(conn: sqlite3.Connection, batch: list[tuple[bytes, bytes]]) -> None:
    if all(len(k) == 32 and len(v) == 32 for k, v in batch):
        if batch:
            conn.execute(_UNPACK, (b"".join(k + v for k, v in batch), len(batch)))
    else:
        conn.executemany("INSERT INTO temp.map_arrivals VALUES (?, ?)", batch)


class NodeCheck:
    """Recomputed head-map nodes, compared with the stored ones in SQL."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.count = 0

    def add_packed(self, packed: Packed) -> None:
        """Add a batch of nodes made by _smt_build (one statement per kind)."""
        insert_packed(self._conn, "temp.map_check", packed)
        self.count += len(packed)

    def matches(self, version: int) -> bool:
        """Whether exactly the added nodes are stored under ``version``."""
        (stored,) = self._conn.execute("SELECT COUNT(*) FROM map_nodes WHERE version = ?",
                                       (version,)).fetchone()
        if stored != self.count:
            return False
        (missing,) = self._conn.execute(
            "SELECT COUNT(*) FROM (SELECT depth, position, hash, key, value FROM "
            "temp.map_check EXCEPT SELECT depth, position, hash, key, value FROM map_nodes "
            "WHERE version = ?)", (version,)).fetchone()
        return int(missing) == 0


def insert_packed(conn: sqlite3.Connection, table: str, packed: Packed,
                  version: int | None = None) -> None:
    """Insert ``packed`` into ``table`` (columns depth, position, hash, key, value,
    and version when given) with one statement per kind of node: each takes
    the depths as a JSON array and the records as one blob, cut up in SQL
    (binding each row's values cost 2.3 us a row).

    Raises:
        sqlite3.DatabaseError: the database refused them.
    """
    cols, extra = ("version, ", "?3, ") if version is not None else ("", "")
    for depths, blob, size, leaf in ((packed.inner_depths, packed.inner, INNER_RECORD, False),
                                     (packed.leaf_depths, packed.leaves, LEAF_RECORD, True)):
        if not depths:
            continue
        kv_cols = ", key, value" if leaf else ""
        kv = (f", substr(?2, j.key * {size} + 65, 32), substr(?2, j.key * {size} + 97, 32)"
              if leaf else "")
        params: tuple[object, ...] = ("[" + ",".join(map(str, depths)) + "]", bytes(blob))
        conn.execute(
            f"INSERT INTO {table} (depth, position, {cols}hash{kv_cols}) "
            f"SELECT j.value, substr(?2, j.key * {size} + 1, 32), {extra}"
            f"substr(?2, j.key * {size} + 33, 32){kv} FROM json_each(?1) AS j",
            params if version is None else (*params, version))


@contextmanager
def node_check(conn: sqlite3.Connection) -> Iterator[NodeCheck]:
    conn.execute("DROP TABLE IF EXISTS temp.map_check")
    conn.execute("CREATE TEMP TABLE map_check (depth INTEGER, position BLOB, hash BLOB, "
                 "key BLOB, value BLOB, PRIMARY KEY (depth, position)) WITHOUT ROWID")
    try:
        yield NodeCheck(conn)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.map_check")


def _range(lo: bytes, hi: bytes | None) -> tuple[str, tuple[bytes, ...]]:
    if hi is None:
        return "key >= ?", (lo,)
    return "key >= ? AND key < ?", (lo, hi)
