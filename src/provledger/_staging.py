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

from ._smt import Node

_BATCH = 10_000


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


@contextmanager
def staged_changes(conn: sqlite3.Connection,
                   changes: Iterable[tuple[bytes, bytes]]) -> Iterator[TableChanges]:
    """``changes`` (later ones win) in a TEMP table for the length of the block."""
    conn.execute("DROP TABLE IF EXISTS temp.map_changes")
    conn.execute("CREATE TEMP TABLE map_changes (key BLOB PRIMARY KEY, value BLOB NOT NULL) "
                 "WITHOUT ROWID")
    try:
        conn.executemany("INSERT OR REPLACE INTO temp.map_changes VALUES (?, ?)", changes)
        yield TableChanges(conn)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.map_changes")


class NodeCheck:
    """Recomputed head-map nodes, compared with the stored ones in SQL."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._pending: list[tuple[int, bytes, bytes, bytes | None, bytes | None]] = []
        self.count = 0

    def add(self, depth: int, position: bytes, node: Node) -> None:
        self._pending.append((depth, position, node.hash, node.key, node.value))
        self.count += 1
        if len(self._pending) >= _BATCH:
            self._flush()

    def matches(self, version: int) -> bool:
        """Whether exactly the added nodes are stored under ``version``."""
        self._flush()
        (stored,) = self._conn.execute("SELECT COUNT(*) FROM map_nodes WHERE version = ?",
                                       (version,)).fetchone()
        if stored != self.count:
            return False
        (missing,) = self._conn.execute(
            "SELECT COUNT(*) FROM (SELECT depth, position, hash, key, value FROM "
            "temp.map_check EXCEPT SELECT depth, position, hash, key, value FROM map_nodes "
            "WHERE version = ?)", (version,)).fetchone()
        return int(missing) == 0

    def _flush(self) -> None:
        self._conn.executemany("INSERT INTO temp.map_check VALUES (?, ?, ?, ?, ?)",
                               self._pending)
        self._pending.clear()


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
