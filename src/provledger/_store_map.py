"""The head map's rows in SQLite: tiles (schema 3), and the nodes before them.

Schema 3 stores a row per head-map tile (_smt_tiles) and version. Files of
schemas 1 and 2 hold a ``map_nodes`` row per node instead: read-only they
are read through _legacy_map, and opened for writing :func:`convert` turns
their nodes into tiles in the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from . import _legacy_map, _staging
from ._legacy_map import NodeRow
from ._progress import Progress
from ._smt_tiles import MapTileRow, TileStore

#: A rowid table: in a WITHOUT ROWID one a tile's few kB overflow the key's
#: pages, and storing a first map took 3.6 times as long.
TABLE = """
CREATE TABLE IF NOT EXISTS map_tiles (
    level   INTEGER NOT NULL,     -- head map tile (_smt_tiles): its subtree's depth / 8
    prefix  BLOB NOT NULL,        -- the first `level` bytes of its keys
    version INTEGER NOT NULL,     -- the checkpoint (seq) that wrote it
    data    BLOB NOT NULL,        -- its children's records
    PRIMARY KEY (level, prefix, version)
)"""


def tile(conn: sqlite3.Connection, level: int, prefix: bytes, version: int) -> bytes | None:
    row = conn.execute(
        "SELECT CAST(data AS BLOB) FROM map_tiles WHERE level = ? AND prefix = ? "
        "AND version <= ? ORDER BY version DESC LIMIT 1", (level, prefix, version)).fetchone()
    return None if row is None else bytes(row[0])


def tiles(conn: sqlite3.Connection, version: int) -> list[MapTileRow]:
    return [(int(level), bytes(prefix), bytes(data)) for level, prefix, data in conn.execute(
        "SELECT CAST(level AS INTEGER), CAST(prefix AS BLOB), CAST(data AS BLOB) "
        "FROM map_tiles WHERE version = ? ORDER BY level, prefix", (version,))]


def insert(conn: sqlite3.Connection, version: int, rows: Sequence[MapTileRow]) -> None:
    """Raises sqlite3.DatabaseError: the database refused them."""
    conn.executemany("INSERT INTO map_tiles (level, prefix, version, data) VALUES (?, ?, ?, ?)",
                     [(level, prefix, version, data) for level, prefix, data in rows])


class LegacyNodes:
    """The ``map_nodes`` of a schema-1 or -2 file (_legacy_map.LegacyNodes)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def legacy_nodes(self, depth: int, lo: bytes, hi: bytes, version: int) -> list[NodeRow]:
        newest: dict[bytes, NodeRow] = {}
        for position, h, key, value in self._conn.execute(
                "SELECT CAST(position AS BLOB), CAST(hash AS BLOB), CAST(key AS BLOB), "
                "CAST(value AS BLOB) FROM map_nodes WHERE depth = ? AND position BETWEEN ? "
                "AND ? AND version <= ? ORDER BY position, version", (depth, lo, hi, version)):
            newest[bytes(position)] = (bytes(position), bytes(h), _blob(key), _blob(value))
        return list(newest.values())

    def legacy_written(self, version: int) -> list[tuple[int, bytes, bool]]:
        return [(int(d), bytes(p), bool(leaf)) for d, p, leaf in self._conn.execute(
            "SELECT CAST(depth AS INTEGER), CAST(position AS BLOB), key IS NOT NULL "
            "FROM map_nodes WHERE version = ?", (version,))]

    def legacy_versions(self) -> list[int]:
        return [int(v) for (v,) in self._conn.execute(
            "SELECT DISTINCT CAST(version AS INTEGER) FROM map_nodes ORDER BY 1")]


def _blob(value: object) -> bytes | None:
    return None if value is None else bytes(value)  # type: ignore[call-overload]


def convert(conn: sqlite3.Connection, tiles: TileStore, progress: Progress | None) -> None:
    """Turn a file's ``map_nodes`` into ``map_tiles`` (which ``tiles`` reads)
    and drop them; call inside a write transaction, which a failure must
    roll back.

    Raises:
        StorageError: the nodes do not rebuild to their own roots.
        sqlite3.DatabaseError: the database refused the change.
    """
    conn.execute(TABLE)
    conn.execute("DROP TABLE IF EXISTS temp.legacy_leaves")
    conn.execute("CREATE TEMP TABLE legacy_leaves AS SELECT version, key, value FROM map_nodes "
                 "WHERE key IS NOT NULL")
    conn.execute("CREATE INDEX temp.legacy_leaves_version ON legacy_leaves (version)")
    try:
        _legacy_map.convert(
            LegacyNodes(conn), lambda version: _staging.staged_query(
                conn, "SELECT key, value FROM temp.legacy_leaves WHERE version = ?", (version,)),
            tiles, lambda version, rows: insert(conn, version, rows), progress)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.legacy_leaves")
    for statement in ("DROP TRIGGER IF EXISTS map_nodes_no_update",
                      "DROP TRIGGER IF EXISTS map_nodes_no_delete", "DROP TABLE map_nodes"):
        conn.execute(statement)
