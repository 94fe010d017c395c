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

from ._smt_build import INNER_RECORD, LEAF_RECORD, Packed
from ._staging import NodeCheck

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

    def stream(self) -> Iterator[tuple[bytes, bytes]]:
        """Every change in key order, a chunk per query (keyset on the key), so
        the caller may write nodes between two changes."""
        last = b""
        query = "SELECT key, value FROM pg_temp.map_changes WHERE key >= %s"
        while True:
            chunk = self._conn.execute(f"{query} ORDER BY key LIMIT %s", (last, _BATCH)).fetchall()
            for k, v in chunk:
                yield bytes(k), bytes(v)
            if len(chunk) < _BATCH:
                return
            last = bytes(chunk[-1][0])
            query = "SELECT key, value FROM pg_temp.map_changes WHERE key > %s"


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


class PgNodeCheck(NodeCheck):
    """Recomputed head-map nodes, compared with the stored ones in SQL."""

    def __init__(self, conn: Conn) -> None:
        self._pg = conn
        self.count = 0

    def add_packed(self, packed: Packed) -> None:
        """Add a batch of nodes made by _smt_build (one COPY)."""
        copy_packed(self._pg, "pg_temp.map_check", packed, None)
        self.count += len(packed)

    def matches(self, version: int) -> bool:
        """Whether exactly the added nodes are stored under ``version``."""
        row = self._pg.execute("SELECT COUNT(*) FROM map_nodes WHERE version = %s",
                               (version,)).fetchone()
        assert row is not None
        if int(row[0]) != self.count:
            return False
        row = self._pg.execute(
            "SELECT COUNT(*) FROM (SELECT depth, position, hash, key, value FROM "
            "pg_temp.map_check EXCEPT SELECT depth, position, hash, key, value FROM map_nodes "
            "WHERE version = %s) AS m", (version,)).fetchone()
        assert row is not None
        return int(row[0]) == 0


@contextmanager
def node_check(conn: Conn) -> Iterator[PgNodeCheck]:
    _empty(conn, "map_check")
    try:
        yield PgNodeCheck(conn)
    finally:
        _empty(conn, "map_check")


def copy_packed(conn: Conn, table: str, packed: Packed, version: int | None) -> None:
    """COPY ``packed`` into ``table`` (columns depth, position, hash, key, value,
    and version when given), cutting the records up here.

    Raises:
        psycopg.Error: the database refused them.
    """
    cols = "depth, position, hash, key, value" + (", version" if version is not None else "")
    types = ["int4", "bytea", "bytea", "bytea", "bytea"] + (
        ["int8"] if version is not None else [])
    extra = () if version is None else (version,)
    if not len(packed):
        return
    inner, leaves = memoryview(packed.inner), memoryview(packed.leaves)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(types)
        for i, d in enumerate(packed.inner_depths):
            at = i * INNER_RECORD
            cp.write_row((d, bytes(inner[at:at + 32]), bytes(inner[at + 32:at + 64]), None,
                          None, *extra))
        for i, d in enumerate(packed.leaf_depths):
            at = i * LEAF_RECORD
            cp.write_row((d, bytes(leaves[at:at + 32]), bytes(leaves[at + 32:at + 64]),
                          bytes(leaves[at + 64:at + 96]), bytes(leaves[at + 96:at + 128]),
                          *extra))


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
