"""Scratch tables of head-map work on PostgreSQL (as _staging's on SQLite).

The TEMP tables are private to the connection and made when it opens
(_pgschema.SCRATCH); here they are filled and emptied: with TRUNCATE, as
autovacuum never visits TEMP tables, except inside a read-only transaction
(a snapshot, an audit), which may only DELETE.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from . import _legacy_map
from ._legacy_map import LegacyNodes
from ._smt_tiles import MapTileRow

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

    Conn = psycopg.Connection[TupleRow]

_BATCH = 10_000


def _empty(conn: Conn, table: str) -> None:
    from psycopg.pq import TransactionStatus

    status = conn.info.transaction_status
    if status == TransactionStatus.INERROR:
        return  # the rollback that follows undoes what this block wrote
    if status != TransactionStatus.IDLE:
        row = conn.execute("SHOW transaction_read_only").fetchone()
        if row is not None and row[0] == "on":
            conn.execute(f"DELETE FROM pg_temp.{table}")
            return
    conn.execute(f"TRUNCATE pg_temp.{table}")


class PgChanges:
    """Head-map changes (key -> value) in a TEMP table, read by key range."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def count(self, lo: bytes, hi: bytes | None, limit: int) -> int:
        where, args = _range(lo, hi)
        row = self._conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM pg_temp.map_changes WHERE {where} "
            "LIMIT %s) AS c", (*args, min(limit, 2**63 - 1))).fetchone()
        assert row is not None
        return int(row[0])

    def items(self, lo: bytes, hi: bytes | None) -> list[tuple[bytes, bytes]]:
        where, args = _range(lo, hi)
        cur = self._conn.execute(
            f"SELECT key, value FROM pg_temp.map_changes WHERE {where} ORDER BY key", args)
        return [(bytes(k), bytes(v)) for k, v in cur]

    def add_if_absent(self, key: bytes, value: bytes) -> None:
        self._conn.execute("INSERT INTO pg_temp.map_changes VALUES (%s, %s) "
                           "ON CONFLICT (key) DO NOTHING", (key, value))


@contextmanager
def staged_changes(conn: Conn,
                   changes: Iterable[tuple[bytes, bytes]]) -> Iterator[PgChanges]:
    """``changes`` (later ones win) in a TEMP table for the length of the block:
    copied in arrival order with COPY, then sorted into the keyed table in one
    statement."""
    for table in ("map_arrivals", "map_changes"):
        _empty(conn, table)
    try:
        # In batches: ``changes`` may itself read from this connection, which
        # an open COPY would block.
        batch: list[tuple[int, bytes, bytes]] = []
        for n, (k, v) in enumerate(changes):
            batch.append((n, k, v))
            if len(batch) >= _BATCH:
                _copy(conn, "map_arrivals (ord, key, value)", ["int8", "bytea", "bytea"], batch)
                batch.clear()
        _copy(conn, "map_arrivals (ord, key, value)", ["int8", "bytea", "bytea"], batch)
        conn.execute("INSERT INTO pg_temp.map_changes SELECT DISTINCT ON (key) key, value "
                     "FROM pg_temp.map_arrivals ORDER BY key, ord DESC")
        _empty(conn, "map_arrivals")
        yield PgChanges(conn)
    finally:
        for table in ("map_arrivals", "map_changes"):
            _empty(conn, table)


class PgTileCheck:
    """Recomputed head-map tiles, compared with the stored ones in SQL."""

    def __init__(self, conn: Conn, legacy: LegacyNodes | None) -> None:
        self._pg = conn
        self._legacy = legacy
        self.count = 0

    def add(self, rows: Sequence[MapTileRow]) -> None:
        """Add recomputed tiles (level, prefix, data), in one COPY."""
        _copy(self._pg, "tile_check (level, prefix, data)", ["int4", "bytea", "bytea"], rows)
        self.count += len(rows)

    def matches(self, version: int) -> bool:
        """Whether exactly the added tiles are stored under ``version``."""
        if self._legacy is not None:
            added = [(int(level), bytes(prefix), bytes(data)) for level, prefix, data in
                     self._pg.execute("SELECT level, prefix, data FROM pg_temp.tile_check "
                                      "ORDER BY level, prefix")]
            return added == _legacy_map.written(self._legacy, version)
        row = self._pg.execute("SELECT COUNT(*) FROM map_tiles WHERE version = %s",
                               (version,)).fetchone()
        assert row is not None
        if int(row[0]) != self.count:
            return False
        row = self._pg.execute(
            "SELECT COUNT(*) FROM (SELECT level, prefix, data FROM pg_temp.tile_check EXCEPT "
            "SELECT level, prefix, data FROM map_tiles WHERE version = %s) AS m",
            (version,)).fetchone()
        assert row is not None
        return int(row[0]) == 0


@contextmanager
def tile_check(conn: Conn, legacy: LegacyNodes | None = None) -> Iterator[PgTileCheck]:
    """Recomputed tiles to compare with the stored ones (with ``legacy``: with
    those a schema-2 ledger's nodes make)."""
    _empty(conn, "tile_check")
    try:
        yield PgTileCheck(conn, legacy)
    finally:
        _empty(conn, "tile_check")


@contextmanager
def staged_query(conn: Conn, query: str, params: Sequence[object]) -> Iterator[PgChanges]:
    """The changes ``query`` (a SELECT of distinct keys and their values)
    gives, in the TEMP table for the length of the block."""
    _empty(conn, "map_changes")
    try:
        conn.execute(f"INSERT INTO pg_temp.map_changes {query}", params)
        yield PgChanges(conn)
    finally:
        _empty(conn, "map_changes")


def _copy(conn: Conn, table: str, types: list[str], rows: Sequence[Sequence[object]]) -> None:
    """COPY ``rows`` into the TEMP ``table`` (with its column list)."""
    if rows:
        with conn.cursor() as cur, cur.copy(
                f"COPY pg_temp.{table} FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(types)
            for r in rows:
                cp.write_row(r)


def _range(lo: bytes, hi: bytes | None) -> tuple[str, tuple[bytes, ...]]:
    if hi is None:
        return "key >= %s", (lo,)
    return "key >= %s AND key < %s", (lo, hi)
