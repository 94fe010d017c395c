"""The head map's rows in PostgreSQL: tiles (schema 3), and the nodes before them.

As _store_map on SQLite: a schema-2 ledger (a ``map_nodes`` row per node)
is read through _legacy_map when opened read-only, and converted to tiles
(:func:`convert`) in the first write transaction that opens it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import _legacy_map, _pgschema, _pgstaging
from ._legacy_map import NodeRow
from ._progress import Progress
from ._smt_tiles import MapTileRow, TileStore

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

    Conn = psycopg.Connection[TupleRow]

def tile(conn: Conn, level: int, prefix: bytes, version: int) -> bytes | None:
    row = conn.execute("SELECT data FROM map_tiles WHERE level = %s AND prefix = %s AND "
                       "version <= %s ORDER BY version DESC LIMIT 1",
                       (level, prefix, version)).fetchone()
    return None if row is None else bytes(row[0])


def tiles(conn: Conn, version: int) -> list[MapTileRow]:
    return [(int(level), bytes(prefix), bytes(data)) for level, prefix, data in conn.execute(
        "SELECT level, prefix, data FROM map_tiles WHERE version = %s ORDER BY level, prefix",
        (version,))]


def insert(conn: Conn, version: int, rows: Sequence[MapTileRow]) -> None:
    """One COPY. Raises psycopg.Error: the database refused them."""
    if not rows:
        return
    with conn.cursor() as cur, cur.copy(
            "COPY map_tiles (level, prefix, version, data) FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(["int4", "bytea", "int8", "bytea"])
        for level, prefix, data in rows:
            cp.write_row((level, prefix, version, data))


class LegacyNodes:
    """The ``map_nodes`` of a schema-2 ledger (_legacy_map.LegacyNodes)."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def legacy_nodes(self, depth: int, lo: bytes, hi: bytes, version: int) -> list[NodeRow]:
        return [(bytes(p), bytes(h), None if k is None else bytes(k),
                 None if v is None else bytes(v)) for p, h, k, v in self._conn.execute(
            "SELECT DISTINCT ON (position) position, hash, key, value FROM map_nodes "
            "WHERE depth = %s AND position BETWEEN %s AND %s AND version <= %s "
            "ORDER BY position, version DESC", (depth, lo, hi, version))]

    def legacy_written(self, version: int) -> list[tuple[int, bytes, bool]]:
        return [(int(d), bytes(p), bool(leaf)) for d, p, leaf in self._conn.execute(
            "SELECT depth, position, key IS NOT NULL FROM map_nodes WHERE version = %s",
            (version,))]

    def legacy_versions(self) -> list[int]:
        return [int(v) for (v,) in self._conn.execute(
            "SELECT DISTINCT version FROM map_nodes ORDER BY version")]


def convert(conn: Conn, tiles: TileStore, progress: Progress | None) -> None:
    """Turn a ledger's ``map_nodes`` into ``map_tiles`` (which ``tiles``
    reads), drop them and record schema 3; call inside a write transaction,
    which a failure must roll back.

    Raises:
        StorageError: the nodes do not rebuild to their own roots.
        psycopg.Error: the database refused the change.
    """
    conn.execute(_pgschema.MAP_TILES)
    conn.execute("CREATE TEMP TABLE legacy_leaves ON COMMIT DROP AS SELECT version, key, value "
                 "FROM map_nodes WHERE key IS NOT NULL")
    conn.execute("CREATE INDEX ON pg_temp.legacy_leaves (version)")
    _legacy_map.convert(
        LegacyNodes(conn), lambda version: _pgstaging.staged_query(
            conn, "SELECT key, value FROM pg_temp.legacy_leaves WHERE version = %s", (version,)),
        tiles, lambda version, rows: insert(conn, version, rows), progress)
    conn.execute("DROP TABLE map_nodes")
    conn.execute("DROP TRIGGER meta_no_update ON meta")
    conn.execute("UPDATE meta SET value = %s WHERE name = 'schema'", (b"3",))
    conn.execute("CREATE TRIGGER meta_no_update BEFORE UPDATE OR DELETE ON meta "
                 "FOR EACH ROW EXECUTE FUNCTION provledger_append_only()")
