"""PostgresStore: the log's rows in a PostgreSQL database, shared by many writers.

It implements the Store protocol of _storage with the rules of _store's
SQLite schema, enforced by the database (_pgschema). Writers serialise on a
transaction-level advisory lock taken first in ``write()``, so each decides
against the latest committed state, as SQLite's BEGIN IMMEDIATE does; past
``timeout`` the wait ends in LedgerBusyError (``lock_timeout``).

Durability: every connection sets ``synchronous_commit = on``, so a commit
returns only once its WAL is flushed; opening refuses a server with
``fsync = off``, whose flushes promise nothing.

psycopg is imported here only: verifiers and SQLite users never load it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.pq import TransactionStatus

from . import _legacy_map, _pgmap, _pgschema, _pgstaging
from ._backends import redact_target
from ._errors import LedgerBusyError, StorageError
from ._progress import Progress
from ._smt import Changes
from ._smt_tiles import MapTileRow
from ._storage import DisclosureRow, Row, TileCheck, TileRow

if TYPE_CHECKING:
    from psycopg.rows import TupleRow

#: The schema version stored in ``meta`` (the same rows as SQLite's schema 3;
#: 2 kept the head map a row per node, and is converted when opened for writing).
SCHEMA_VERSION = 3
#: The advisory lock writers of one database serialise on ("provledger" in ASCII);
#: ledgers in several schemas of one database share it (their writers take turns).
WRITE_LOCK = 0x70726F766C6564
#: The largest index a BIGINT holds.
_MAX_INDEX = 2**63 - 1
#: Rows a streaming read fetches per query.
_CHUNK = 5_000
_COLUMNS = "idx, time, entry, hash, subject, type, signer, state"
_DISCLOSURE_COLUMNS = "digest, statement, idx, subject, path, data"
_SIZE = "(SELECT COALESCE(MAX(idx), -1) + 1 FROM entries)"
_UPSERT_TILE = ("INSERT INTO tiles (level, idx, hashes, nodes) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes, "
                "nodes = excluded.nodes")


class PostgresStore:
    """A ledger in a PostgreSQL database (one per schema), named by a URL.

    Several processes may each hold one on the same database: writers
    serialise, readers never wait.
    """

    def __init__(self, conn: psycopg.Connection[TupleRow], url: str) -> None:
        self._conn = conn
        self._url = url
        #: The URL without its password: what messages name.
        self.path = redact_target(url)
        #: For a schema-2 ledger opened read-only: its head map's nodes.
        self._legacy_map: _pgmap.LegacyNodes | None = None

    # -- lifecycle -------------------------------------------------------------

    @classmethod
    def create(cls, url: str, meta: dict[str, bytes],
               keys: Sequence[tuple[bytes, str, int]] = (), *,
               fill: Callable[[PostgresStore], None] | None = None,
               timeout: float = 10.0) -> PostgresStore:
        """Make a ledger's tables in the database at ``url`` (its current schema
        must hold no ledger) with ``meta`` and the initial ``keys``; then
        ``fill(store)``, if given, in the same transaction, so a copy appears
        whole or not at all.

        Raises:
            StorageError: the database holds a ledger (or tables of its names),
                cannot be reached, or refused the schema; nothing was made.
            LedgerBusyError: another writer held the database too long.
        """
        store = cls(_connect(url, readonly=False, timeout=timeout), url)
        try:
            with store.write():
                store._check_empty()
                try:
                    store._conn.execute(_pgschema.SCHEMA)
                    with store._conn.cursor() as cur:
                        cur.executemany("INSERT INTO meta (name, value) VALUES (%s, %s)",
                                        sorted(meta.items()))
                        cur.executemany("INSERT INTO keys (key, subject, idx) "
                                        "VALUES (%s, %s, %s)", list(keys))
                except psycopg.Error as exc:
                    raise StorageError(f"{store.path}: cannot create the ledger "
                                       f"({_reason(exc)})") from None
                if fill is not None:
                    fill(store)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open(cls, url: str, *, readonly: bool = False, timeout: float = 10.0,
             progress: Progress | None = None) -> PostgresStore:
        """Open the ledger in the database at ``url``.

        A schema-2 ledger (the head map a row per node) is converted to
        schema 3 in one transaction when opened for writing (``progress``
        hears of it, stage ``_legacy_map.CONVERTING_MAP``); read-only, it is
        read as it is.

        Raises:
            StorageError: unreachable, no ledger there, another schema, or a
                conversion that failed (nothing changed); LedgerBusyError when
                converting waited too long for another writer.
        """
        store = cls(_connect(url, readonly=readonly, timeout=timeout), url)
        try:
            legacy = store._check_ledger()
            if legacy and readonly:
                store._legacy_map = _pgmap.LegacyNodes(store._conn)
            elif legacy:
                store._convert(progress)
            if not readonly:
                store._conn.execute(_pgschema.DISCLOSURES)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def drop_ledger(cls, url: str) -> None:
        """Drop the ledger's tables and functions at ``url``: only for a copy
        just made that did not audit (DDL is the one way past the triggers).

        Raises:
            StorageError: unreachable, or the database refused.
        """
        store = cls(_connect(url, readonly=False, timeout=10.0), url)
        try:
            with store.write():
                try:
                    store._conn.execute(_pgschema.DROP)
                except psycopg.Error as exc:
                    raise StorageError(f"{store.path}: cannot drop the copy "
                                       f"({_reason(exc)})") from None
        finally:
            store.close()

    def _check_empty(self) -> None:
        """Raises StorageError if the current schema holds a ledger's tables."""
        found = self._existing_tables()
        if found:
            raise StorageError(f"{self.path}: already holds "
                               f"{'a ledger' if 'meta' in found else 'tables'} "
                               f"({', '.join(sorted(found))}); refusing to overwrite it "
                               "(use an empty database or schema)")

    def _check_ledger(self) -> bool:
        """Whether the current schema holds a schema-2 ledger (True) or one of
        this version (False).

        Raises:
            StorageError: it holds neither.
        """
        found = self._existing_tables()
        if "meta" not in found:
            raise StorageError(f"{self.path}: no ledger here (create one with "
                               "`provledger init`)")
        version = self.meta().get("schema")
        if version == b"2" and not set(_pgschema.TABLES_2) - found:
            return True
        missing = set(_pgschema.TABLES) - found
        if version != str(SCHEMA_VERSION).encode() or missing:
            raise StorageError(f"{self.path}: unsupported ledger schema {version!r} "
                               f"(tables {', '.join(sorted(missing)) or 'present'}); "
                               "made by another provledger version")
        return False

    def _convert(self, progress: Progress | None) -> None:
        """Convert a schema-2 ledger to schema 3 (nothing if another process
        did meanwhile).

        Raises:
            LedgerBusyError: another writer held the ledger too long.
            StorageError: the database refused, or the nodes did not rebuild.
        """
        with self.write():
            if self.meta().get("schema") != b"2":
                return
            try:
                _pgmap.convert(self._conn, self, progress)
            except psycopg.Error as exc:
                raise StorageError(f"{self.path}: cannot convert the ledger to the current "
                                   f"schema ({_reason(exc)})") from None

    def _existing_tables(self) -> set[str]:
        """The ledger's table names present in the current schema."""
        cur = self._conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
            (list({*_pgschema.TABLES, *_pgschema.TABLES_2}),))
        return {str(r[0]) for r in cur}

    def close(self) -> None:
        self._conn.close()

    # -- transactions ----------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction holding the writers' lock: all of it commits
        durably, or none of it does.

        Raises:
            LedgerBusyError: another writer held the lock past the timeout.
            StorageError: the database failed, or a write is already open.
        """
        if self._conn.info.transaction_status != TransactionStatus.IDLE:
            raise StorageError(f"{self.path}: a write is already open on this connection")
        try:
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        except pgerrors.LockNotAvailable:
            self._rollback()
            raise LedgerBusyError(f"{self.path}: another writer holds the ledger; nothing "
                                  "was written, try again") from None
        except psycopg.Error as exc:
            self._rollback()
            raise StorageError(f"{self.path}: cannot start a write ({_reason(exc)})") from None
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        try:
            self._conn.execute("COMMIT")
        except psycopg.OperationalError as exc:
            self._rollback()
            raise StorageError(f"{self.path}: the connection failed while committing; "
                               f"the write may or may not be stored ({_reason(exc)})") from None
        except psycopg.Error as exc:
            self._rollback()
            raise StorageError(f"{self.path}: commit failed, nothing was written "
                               f"({_reason(exc)})") from None

    def _rollback(self) -> None:
        if self._conn.closed or self._conn.info.transaction_status == TransactionStatus.IDLE:
            return
        # On a broken connection the server rolls back without us.
        with contextlib.suppress(psycopg.Error):
            self._conn.execute("ROLLBACK")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A REPEATABLE READ READ ONLY transaction: every read inside sees one
        committed state. Inside ``write()`` it adds nothing: the writers' lock
        already keeps that transaction's view still."""
        if self._conn.info.transaction_status != TransactionStatus.IDLE:
            yield
            return
        try:
            self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: cannot start a read ({_reason(exc)})") from None
        try:
            yield
        finally:
            self._rollback()  # nothing to keep: a read-only transaction

    # -- reads -----------------------------------------------------------------

    def _one(self, query: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        try:
            return self._conn.execute(query, args).fetchone()
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: read failed ({_reason(exc)})") from None

    def _all(self, query: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(query, args).fetchall()
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: read failed ({_reason(exc)})") from None

    def meta(self) -> dict[str, bytes]:
        return {str(n): bytes(v) for n, v in self._all("SELECT name, value FROM meta")}

    def size(self) -> int:
        """The number of entries, taken as the largest index plus one.

        Raises:
            StorageError: the largest index is 2**63 - 1 (only an edit behind
                the ledger's back stores such a row).
        """
        row = self._one("SELECT MAX(idx) FROM entries")
        if row is None or row[0] is None:
            return 0
        if row[0] >= _MAX_INDEX:
            raise StorageError(f"{self.path}: entries row {row[0]} is past any log index")
        return int(row[0]) + 1

    def last_time(self) -> int:
        row = self._one("SELECT time FROM entries ORDER BY idx DESC LIMIT 1")
        return int(row[0]) if row else 0

    def head(self, subject: str) -> Row | None:
        row = self._one(f"SELECT {_COLUMNS} FROM entries WHERE subject = %s "
                        "ORDER BY idx DESC LIMIT 1", (subject,))
        return _row(row) if row else None

    def heads(self, subjects: Sequence[str]) -> dict[str, Row]:
        """The latest row of each subject that has one, in one query."""
        unique = list(dict.fromkeys(subjects))
        if not unique:
            return {}
        rows = self._all(
            f"SELECT e.{_COLUMNS.replace(', ', ', e.')} FROM unnest(%s::text[]) AS s(subject) "
            "CROSS JOIN LATERAL (SELECT * FROM entries WHERE entries.subject = s.subject "
            "ORDER BY idx DESC LIMIT 1) AS e", (unique,))
        return {r.subject: r for r in map(_row, rows)}

    def head_before(self, subject: str, index: int) -> Row | None:
        row = self._one(f"SELECT {_COLUMNS} FROM entries WHERE subject = %s AND idx < %s "
                        "ORDER BY idx DESC LIMIT 1", (subject, _clamp(index)))
        return _row(row) if row else None

    def find(self, subject: str, statement_hash: bytes) -> int | None:
        row = self._one("SELECT idx FROM entries WHERE subject = %s AND hash = %s LIMIT 1",
                        (subject, statement_hash))
        return int(row[0]) if row else None

    def history(self, subject: str) -> list[Row]:
        return [_row(r) for r in self._all(
            f"SELECT {_COLUMNS} FROM entries WHERE subject = %s ORDER BY idx", (subject,))]

    def subject_count(self) -> int:
        row = self._one("SELECT COUNT(DISTINCT subject) FROM entries")
        return int(row[0]) if row else 0

    def rows(self, start: int, stop: int) -> Iterator[Row]:
        """Streamed a chunk per query (keyset on the index), so other reads may
        run between two rows."""
        pos, end = _clamp(start), _clamp(stop)
        while pos < end:
            chunk = self._all(f"SELECT {_COLUMNS} FROM entries WHERE idx >= %s AND idx < %s "
                              "ORDER BY idx LIMIT %s", (pos, end, _CHUNK))
            for r in chunk:
                yield _row(r)
            if len(chunk) < _CHUNK:
                return
            pos = int(chunk[-1][0]) + 1

    def revocations(self) -> list[Row]:
        return [_row(r) for r in self._all(
            f"SELECT {_COLUMNS} FROM entries WHERE type = 'key.revoked' ORDER BY idx")]

    def changed_heads(self, start: int, stop: int) -> Iterator[tuple[str, bytes]]:
        """(subject, entry) of every subject whose last row below ``stop`` lies in
        ``start``..``stop``, by index; a window of the index per query, so other
        reads may run in between."""
        end = _clamp(stop)
        pos = max(_clamp(start), 0)
        while pos < end:
            upper = min(pos + _CHUNK * 4, end)
            for subject, entry in self._all(
                    "SELECT e.subject, e.entry FROM entries AS e WHERE e.idx >= %s "
                    "AND e.idx < %s AND NOT EXISTS (SELECT 1 FROM entries AS f WHERE "
                    "f.subject = e.subject AND f.idx > e.idx AND f.idx < %s) ORDER BY e.idx",
                    (pos, upper, end)):
                yield str(subject), bytes(entry)
            pos = upper

    def subject_bounds(self, size: int, parts: int) -> list[str]:
        sample = [size * k // parts for k in range(1, parts)]
        return [str(subject) for (subject,) in self._all(
            "SELECT DISTINCT subject FROM entries WHERE idx = ANY(%s) ORDER BY 1", (sample,))]

    def last_heads_between(self, lo: str | None, hi: str | None,
                           size: int) -> Iterator[tuple[bytes, int]]:
        """A window of subjects per query, so other reads may run in between."""
        pos, first = lo, True
        while True:
            terms, args = "", []
            if pos is not None:
                terms, args = ("subject >= %s AND " if first else "subject > %s AND "), [pos]
            if hi is not None:
                terms, args = terms + "subject < %s AND ", [*args, hi]
            chunk = self._all(
                f"SELECT subject, convert_to(subject, 'UTF8'), MAX(idx) FROM entries "
                f"WHERE {terms}idx < %s GROUP BY subject ORDER BY subject LIMIT %s",
                (*args, _clamp(size), _CHUNK * 4))
            for _, subject, idx in chunk:
                yield bytes(subject), int(idx)
            if len(chunk) < _CHUNK * 4:
                return
            pos, first = str(chunk[-1][0]), False

    def key_subject(self, key: bytes) -> tuple[str, int] | None:
        row = self._one("SELECT subject, idx FROM keys WHERE key = %s", (key,))
        return (str(row[0]), int(row[1])) if row else None

    def all_keys(self) -> list[tuple[bytes, str, int]]:
        return [(bytes(k), str(s), int(i)) for k, s, i in self._all(
            "SELECT key, subject, idx FROM keys ORDER BY idx, key")]

    # -- the tree ----------------------------------------------------------------

    def tiles(self, keys: Sequence[tuple[int, int]]) -> tuple[int, list[TileRow | None]]:
        """The log's size and these tiles, in one statement (one snapshot)."""
        wanted = [(lv, n) for lv, n in keys if 0 <= lv < 2**31 and 0 <= n <= _MAX_INDEX]
        rows = self._all(
            f"SELECT {_SIZE}, t.level, t.idx, t.hashes, t.nodes FROM (SELECT 1) AS one "
            "LEFT JOIN (SELECT tiles.* FROM unnest(%s::int[], %s::bigint[]) AS k(level, idx) "
            "JOIN tiles USING (level, idx)) AS t ON true",
            ([lv for lv, _ in wanted], [n for _, n in wanted]))
        found = {(int(lv), int(n)): TileRow(int(lv), int(n), bytes(h), bytes(x))
                 for _, lv, n, h, x in rows if lv is not None}
        return int(rows[0][0]), [found.get(key) for key in keys]

    def tile_rows(self, level: int, start: int = 0,
                  stop: int | None = None) -> Iterator[TileRow]:
        pos, end = _clamp(start), _MAX_INDEX if stop is None else _clamp(stop)
        while pos < end:
            chunk = self._all("SELECT idx, hashes, nodes FROM tiles WHERE level = %s AND "
                              "idx >= %s AND idx < %s ORDER BY idx LIMIT %s",
                              (level, pos, end, _CHUNK // 10))
            for idx, hashes, nodes in chunk:
                yield TileRow(level, int(idx), bytes(hashes), bytes(nodes))
            if len(chunk) < _CHUNK // 10:
                return
            pos = int(chunk[-1][0]) + 1

    def tile_count(self) -> int:
        row = self._one("SELECT COUNT(*) FROM tiles")
        return int(row[0]) if row else 0

    # -- writes ------------------------------------------------------------------

    def insert(self, rows: Sequence[Row], keys: Sequence[tuple[bytes, str, int]],
               tiles: Sequence[TileRow], disclosures: Sequence[DisclosureRow] = ()) -> None:
        """Insert entry rows (COPY), key registrations, tiles (pipelined) and
        disclosures (in the same transaction); call inside ``write()``.

        Raises:
            StorageError: a constraint or trigger refused them.
        """
        try:
            with self._conn.cursor() as cur:
                if rows:
                    with cur.copy(f"COPY entries ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp:
                        cp.set_types(["int8", "int8", "bytea", "bytea", "text", "text",
                                      "bytea", "bytea"])
                        for r in rows:
                            cp.write_row((r.index, r.time, r.entry, r.hash, r.subject, r.type,
                                          r.signer, r.state))
                if keys:
                    cur.executemany("INSERT INTO keys (key, subject, idx) VALUES (%s, %s, %s)",
                                    list(keys))
                if tiles:
                    cur.executemany(_UPSERT_TILE,
                                    [(t.level, t.index, t.hashes, t.nodes) for t in tiles])
                if disclosures:
                    # Rows past the log's end (before these rows) can only be
                    # strays, put there by hand: the indices are the log's.
                    end = rows[0].index if rows else self.size()
                    cur.execute("DELETE FROM disclosures WHERE idx >= %s", (end,))
                    cur.executemany(
                        f"INSERT INTO disclosures ({_DISCLOSURE_COLUMNS}) VALUES "
                        "(%s, %s, %s, %s, %s, %s) ON CONFLICT (statement, digest) DO NOTHING",
                        [(r.digest, r.statement, r.index, r.subject, r.path, r.data)
                         for r in disclosures])
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: insert refused ({_reason(exc)})") from None

    # -- disclosures (the one erasable table) -----------------------------------

    def _has_disclosures(self) -> bool:
        row = self._one("SELECT to_regclass('disclosures') IS NOT NULL")
        return bool(row and row[0])

    def disclosures(self, statements: Sequence[bytes]) -> dict[bytes, list[bytes]]:
        out: dict[bytes, list[bytes]] = {}
        if not statements or not self._has_disclosures():
            return out
        for statement, data in self._all(
                "SELECT statement, data FROM disclosures WHERE statement = ANY(%s) "
                "ORDER BY statement, digest", (list(statements),)):
            out.setdefault(bytes(statement), []).append(bytes(data))
        return out

    def disclosure_rows(self, subject: str | None = None, *, start: int = 0,
                        limit: int | None = None) -> list[DisclosureRow]:
        if not self._has_disclosures():
            return []
        where = "idx >= %s" + ("" if subject is None else " AND subject = %s")
        args: tuple[Any, ...] = (start,) if subject is None else (start, subject)
        return [DisclosureRow(bytes(d), bytes(s), int(i), str(sub), str(p), bytes(data))
                for d, s, i, sub, p, data in self._all(
                    f"SELECT {_DISCLOSURE_COLUMNS} FROM disclosures WHERE {where} "
                    "ORDER BY idx, path, digest"
                    + ("" if limit is None else f" LIMIT {int(limit)}"), args)]

    def erase_disclosures(self, subject: str, *, statements: Sequence[bytes] | None = None,
                          paths: Sequence[str] | None = None) -> int:
        """Delete the rows, then rewrite the table (VACUUM FULL) so that the
        erased tuples leave its files; the server's WAL and base backups keep
        them until they are recycled (README: erasure)."""
        if not self._has_disclosures():
            return 0
        query = "DELETE FROM disclosures WHERE subject = %s"
        args: list[Any] = [subject]
        if statements is not None:
            query += " AND statement = ANY(%s)"
            args.append(list(statements))
        if paths is not None:
            query += " AND path = ANY(%s)"
            args.append(list(paths))
        try:
            erased = self._conn.execute(query, args).rowcount
            self._conn.execute("VACUUM FULL disclosures")
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: cannot erase ({_reason(exc)})") from None
        return int(erased)

    def checkpoints(self) -> list[tuple[int, int, int, str]]:
        return [(int(a), int(b), int(c), str(d)) for a, b, c, d in self._all(
            "SELECT seq, size, time, note FROM checkpoints ORDER BY seq")]

    def insert_checkpoint(self, seq: int, size: int, time: int, note: str) -> None:
        """Store a signed checkpoint; call inside ``write()``.

        Raises:
            StorageError: the database refused it.
        """
        try:
            self._conn.execute("INSERT INTO checkpoints (seq, size, time, note) "
                               "VALUES (%s, %s, %s, %s)", (seq, size, time, note))
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: checkpoint refused ({_reason(exc)})") from None

    def cosignatures(self) -> list[tuple[int, str, str]]:
        return [(int(a), str(b), str(c)) for a, b, c in self._all(
            "SELECT seq, vkey, line FROM cosignatures ORDER BY seq, id")]

    def insert_cosignatures(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Store (seq, witness vkey, signature line) rows; call inside ``write()``.

        Raises:
            StorageError: a (seq, vkey) pair is already stored, ``seq`` is no
                stored checkpoint, or the database refused them.
        """
        if not rows:
            return
        try:
            with self._conn.cursor() as cur:
                cur.executemany("INSERT INTO cosignatures (seq, vkey, line) "
                                "VALUES (%s, %s, %s)", list(rows))
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: cosignature refused ({_reason(exc)})") from None

    # -- the head map --------------------------------------------------------------

    def map_tile(self, level: int, prefix: bytes, version: int) -> bytes | None:
        if self._legacy_map is not None:
            return _legacy_map.tile(self._legacy_map, level, prefix, _clamp(version))
        try:
            return _pgmap.tile(self._conn, level, prefix, _clamp(version))
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: read failed ({_reason(exc)})") from None

    def map_tiles(self, version: int) -> list[MapTileRow]:
        if self._legacy_map is not None:
            return _legacy_map.written(self._legacy_map, _clamp(version))
        try:
            return _pgmap.tiles(self._conn, _clamp(version))
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: read failed ({_reason(exc)})") from None

    def insert_map_tiles(self, version: int, rows: Sequence[MapTileRow]) -> None:
        """Store the tiles a checkpoint's head map wrote, in one COPY; call
        inside ``write()``.

        Raises:
            StorageError: a tile is already stored, or the database refused them.
        """
        try:
            _pgmap.insert(self._conn, version, rows)
        except psycopg.Error as exc:
            raise StorageError(f"{self.path}: head map tiles refused ({_reason(exc)})") from None

    def map_tile_count(self) -> int:
        if self._legacy_map is not None:
            return _legacy_map.count(self._legacy_map)
        row = self._one("SELECT COUNT(*) FROM map_tiles")
        return int(row[0]) if row else 0

    def staged_changes(self, changes: Iterable[tuple[bytes, bytes]]
                       ) -> AbstractContextManager[Changes]:
        return _pgstaging.staged_changes(self._conn, changes)

    def tile_check(self) -> AbstractContextManager[TileCheck]:
        return _pgstaging.tile_check(self._conn, self._legacy_map)

    def reader(self) -> PostgresStore:
        """Another read-only store on the same database, for a worker process
        (a new connection: it never touches this one's).

        Raises:
            StorageError: the database cannot be reached.
        """
        return PostgresStore.open(self._url, readonly=True)

    # -- copies --------------------------------------------------------------------

    def backup(self, dest: str | Path, *, progress: Progress | None = None) -> None:
        """Write one snapshot of the ledger to the new SQLite file ``dest``
        (_backends.backup_to_file): complete or not at all.

        Raises:
            StorageError: ``dest`` exists, or the copy could not be made.
        """
        from ._backends import backup_to_file

        backup_to_file(self, dest, progress=progress)


def _row(r: tuple[Any, ...]) -> Row:
    return Row(int(r[0]), int(r[1]), bytes(r[2]), bytes(r[3]), str(r[4]), str(r[5]),
               bytes(r[6]), bytes(r[7]))


def _clamp(n: int) -> int:
    """``n`` within BIGINT (no stored index lies outside)."""
    return max(min(n, _MAX_INDEX), -_MAX_INDEX)


def _reason(exc: psycopg.Error) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _check_fsync(conn: psycopg.Connection[TupleRow], where: str) -> None:
    """Raises StorageError if the server's flushes promise nothing."""
    row = conn.execute("SHOW fsync").fetchone()
    if row is None or row[0] != "on":
        raise StorageError(f"{where}: the server runs with fsync = off, so a commit could "
                           "be lost in a crash; provledger needs fsync = on")


def _connect(url: str, *, readonly: bool, timeout: float) -> psycopg.Connection[TupleRow]:
    """A connection set up for the ledger: autocommit (transactions are
    explicit), synchronous commits, the writers' lock wait bounded.

    Raises:
        StorageError: unreachable, refused, or ``fsync`` is off on the server.
    """
    where = redact_target(url)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(int(timeout), 2),
                               application_name="provledger")
    except psycopg.Error as exc:
        raise StorageError(f"{where}: cannot connect ({_reason(exc)})") from None
    try:
        conn.execute("SET synchronous_commit = on")
        conn.execute(f"SET lock_timeout = {max(int(timeout * 1000), 1)}")
        _check_fsync(conn, where)
        conn.execute(_pgschema.SCRATCH)
        if readonly:
            conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        conn.close()
        raise StorageError(f"{where}: cannot set up the connection ({_reason(exc)})") from None
    except BaseException:
        conn.close()
        raise
    return conn
