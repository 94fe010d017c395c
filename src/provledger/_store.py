"""SQLiteStore: the log's rows in SQLite, append-only by the schema's own triggers.

It implements the Store protocol of _storage, which the rest of the library
talks to; it keeps rows only (the Merkle tree's caches and meaning are
_tree's). Durability: WAL with ``synchronous=FULL``, so a commit that returned survives
a crash of the process or the machine.

Schema 2 keeps the Merkle tree as c2sp.org/tlog-tiles tiles (table ``tiles``),
and schema 3 the head map as tiles too (``map_tiles``, _store_map). A file of
an older schema (a ``tree`` row per perfect subtree, a ``map_nodes`` row per
head-map node) is converted in one transaction when first opened for
writing; opened read-only, it is read through _legacy_tree and _legacy_map
and left as it is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from . import _legacy_map, _legacy_tree, _staging, _store_map
from ._disclosure_file import DisclosureFile
from ._errors import LedgerBusyError, StorageError
from ._progress import COPYING, EVERY, Progress
from ._smt import Changes
from ._smt_tiles import MapTileRow
from ._storage import FULL_TILE_BYTES, DisclosureRow, Row, TileCheck, TileRow

#: 3: the head map as tiles (``map_tiles``); 2: the Merkle tree as tiles
#: (``tiles``), the head map a row per node; 1: both a row per node.
SCHEMA_VERSION = 3


_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE entries (
    idx     INTEGER PRIMARY KEY,  -- log index, dense from 0
    time    INTEGER NOT NULL,     -- log time (copied from the entry, for lookups)
    entry   BLOB NOT NULL,        -- the entry bytes: the Merkle leaf
    -- SHA-256 of the statement. Not indexed: the chain rules already refuse a
    -- replay (its prev is no longer the head), and a unique index on random
    -- hashes dirtied a page per append, 40 us each at 1M entries.
    hash    BLOB NOT NULL,
    subject TEXT NOT NULL,
    type    TEXT NOT NULL,
    signer  BLOB NOT NULL,
    state   BLOB NOT NULL         -- derived: the subject's state after this entry
);
CREATE INDEX entries_by_subject ON entries (subject, idx);
CREATE INDEX entries_revocations ON entries (idx) WHERE type = 'key.revoked';
CREATE TABLE keys (
    key     BLOB PRIMARY KEY,
    subject TEXT NOT NULL,        -- the authority chain the key belongs to
    idx     INTEGER NOT NULL      -- entry that introduced it (-1: the root, at creation)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    seq     INTEGER PRIMARY KEY,  -- signing order, dense from 0
    size    INTEGER NOT NULL,
    time    INTEGER NOT NULL,
    note    TEXT NOT NULL         -- the C2SP signed note, as signed
);
CREATE TRIGGER entries_dense BEFORE INSERT ON entries
    WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx), -1) + 1 FROM entries)
    BEGIN SELECT RAISE(ABORT, 'provledger: log indices must be dense'); END;
"""
# Schema 2's Merkle tree. A tile's row is replaced while it is partial, by one
# that extends it (the right edge grows); once it holds 256 hashes it is final.
# A rowid table: in a WITHOUT ROWID one every key comparison of a lookup reads
# a 16 KB row's overflow pages (15 us a lookup instead of 2).
_TILES = ("""
CREATE TABLE IF NOT EXISTS tiles (
    level   INTEGER NOT NULL,     -- tile level L: hashes of tree level 8L (c2sp.org/tlog-tiles)
    idx     INTEGER NOT NULL,     -- tile index N: tree nodes 256N to 256N + 255 of that level
    hashes  BLOB NOT NULL,        -- the tile as published: 32 bytes a hash, 1 to 256 hashes
    nodes   BLOB NOT NULL,        -- derived (_tree): its interior nodes complete so far
    PRIMARY KEY (level, idx)
)""", """
CREATE TRIGGER IF NOT EXISTS tiles_no_delete BEFORE DELETE ON tiles
    BEGIN SELECT RAISE(ABORT, 'provledger: the ledger is append-only'); END""", f"""
CREATE TRIGGER IF NOT EXISTS tiles_grow_only BEFORE UPDATE ON tiles
    WHEN NOT (NEW.level IS OLD.level AND NEW.idx IS OLD.idx
              AND length(OLD.hashes) < {FULL_TILE_BYTES}
              AND length(NEW.hashes) >= length(OLD.hashes)
              AND length(NEW.nodes) >= length(OLD.nodes)
              AND substr(NEW.hashes, 1, length(OLD.hashes)) = OLD.hashes
              AND substr(NEW.nodes, 1, length(OLD.nodes)) = OLD.nodes)
    BEGIN SELECT RAISE(ABORT, 'provledger: full tiles never change, partial ones only grow');
    END""")
# Added after schema 1 shipped without it: files made before get it when
# opened for writing (idempotent, hence IF NOT EXISTS).
_COSIGNATURES = """
CREATE TABLE IF NOT EXISTS cosignatures (
    id      INTEGER PRIMARY KEY,  -- storing order (stable across VACUUM)
    seq     INTEGER NOT NULL REFERENCES checkpoints (seq),  -- the checkpoint cosigned
    vkey    TEXT NOT NULL,        -- the witness's verifier key (signature type 0x04)
    line    TEXT NOT NULL,        -- its note signature line, without the newline
    UNIQUE (seq, vkey)
)"""
_APPEND_ONLY = ("""
CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t}
    BEGIN SELECT RAISE(ABORT, 'provledger: the ledger is append-only'); END""", """
CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t}
    BEGIN SELECT RAISE(ABORT, 'provledger: the ledger is append-only'); END""")


def _append_only(table: str) -> tuple[str, ...]:
    """The statements that make ``table`` append-only."""
    return tuple(t.format(t=table) for t in _APPEND_ONLY)


#: tiles' queries, by tile count.
_POINTS: dict[int, str] = {}
_SIZE = "(SELECT COALESCE(MAX(idx), -1) + 1 FROM entries)"
_UPSERT_TILE = ("INSERT INTO tiles (level, idx, hashes, nodes) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes, "
                "nodes = excluded.nodes")
#: A worker's reader page cache (KiB, negative as PRAGMA cache_size takes it).
_READER_CACHE = -8192
#: SQLite's largest integer: an entry there would make the log's size overflow.
_MAX_INDEX = 2**63 - 1
#: The tables every file has, by schema; schema 1's ``cosignatures`` came later.
_TABLES = {
    b"1": ("meta", "entries", "keys", "tree", "checkpoints", "map_nodes"),
    b"2": ("meta", "entries", "keys", "tiles", "checkpoints", "map_nodes", "cosignatures"),
    b"3": ("meta", "entries", "keys", "tiles", "checkpoints", "map_tiles", "cosignatures"),
}
_COLUMNS = "idx, time, entry, hash, subject, type, signer, state"
# Reads cast every column to its declared type, so a value of another type
# written behind the ledger's back reaches the audit as bytes, not an exception.
_ROW = ("CAST(idx AS INTEGER), CAST(time AS INTEGER), CAST(entry AS BLOB), CAST(hash AS BLOB), "
        "CAST(subject AS TEXT), CAST(type AS TEXT), CAST(signer AS BLOB), CAST(state AS BLOB)")


class SQLiteStore:
    """The embedded store: one SQLite file in WAL mode.

    ``busy_timeout`` bounds how long a writer waits for another; past it the
    call raises LedgerBusyError and writes nothing.
    """

    def __init__(self, conn: sqlite3.Connection, path: str, *, readonly: bool = False) -> None:
        self._conn = conn
        self.path = path
        self._private = DisclosureFile(path, readonly=readonly)
        #: The log's size when the current write() began, with disclosures put.
        self._put_at: int | None = None
        #: False for a file made before cosignatures and opened read-only.
        self._cosigned = True
        #: True for a schema-1 file opened read-only: the tree is read from ``tree``.
        self._legacy = False
        #: For a schema-1 or -2 file opened read-only: its head map's nodes.
        self._legacy_map: _store_map.LegacyNodes | None = None

    @classmethod
    def create(
        cls,
        path: str | Path,
        meta: dict[str, bytes],
        keys: Sequence[tuple[bytes, str, int]] = (),
    ) -> SQLiteStore:
        """Create a new ledger file holding ``meta`` and the initial ``keys``.

        Raises:
            StorageError: the file exists or cannot be created.
        """
        p = Path(path)
        if p.exists():
            raise StorageError(f"{p}: already exists; refusing to overwrite a ledger")
        store = cls(_connect(p, create=True), str(p))
        statements = [_COSIGNATURES, *_TILES, _store_map.TABLE,
                      *(x for t in _TABLES[b"3"] if t != "tiles" for x in _append_only(t))]
        try:
            store._conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + ";".join(statements) + ";")
            # Imported here: only creating a ledger needs it, and verifiers that
            # never open a database should not pay for importing it.
            import sqlite_utils

            sqlite_utils.Database(store._conn).table("meta").insert_all(
                [{"name": k, "value": v} for k, v in sorted(meta.items())]
            )
            store._conn.executemany("INSERT INTO keys (key, subject, idx) VALUES (?, ?, ?)", keys)
            store._conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            store.close()
            p.unlink(missing_ok=True)
            raise StorageError(f"{p}: cannot create the ledger ({exc})") from None
        return store

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False, timeout: float = 10.0,
             progress: Progress | None = None) -> SQLiteStore:
        """Open an existing ledger file.

        A file of schema 1 or 2 is converted to schema 3 when opened for
        writing, in one transaction: a schema-1 tree becomes tiles (``progress``
        hears of the entries covered, stage ``_legacy_tree.CONVERTING``; a few
        seconds per million entries), the head map's nodes become tiles (stage
        ``_legacy_map.CONVERTING_MAP``, by checkpoint) and the file gains the
        cosignatures table if it was made before them. Opened read-only, it is
        read as it is (tiles assembled from its rows, slower) and, if made
        before cosignatures, reads none.

        Raises:
            StorageError: missing file, not a provledger ledger, or a newer
                schema; LedgerBusyError when converting waited too long for
                another writer.
        """
        p = Path(path)
        if not p.is_file():
            raise StorageError(f"{p}: no ledger here (create one with `provledger init`)")
        store = cls(_connect(p, create=False, readonly=readonly, timeout=timeout), str(p),
                    readonly=readonly)
        try:
            version = store.meta().get("schema")
        except sqlite3.DatabaseError as exc:
            store.close()
            raise StorageError(f"{p}: not a provledger ledger ({exc})") from None
        except StorageError:
            store.close()
            raise
        tables = {r[0] for r in store._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version is None:
            store.close()
            raise StorageError(f"{p}: meta row 'schema' is missing; not a provledger ledger")
        needed = _TABLES.get(version, ())
        if not needed or not set(needed) <= tables:
            store.close()
            raise StorageError(f"{p}: unsupported ledger schema {version!r} (tables "
                               f"{', '.join(sorted(set(needed) - tables)) or 'present'}); "
                               "this file was made by another provledger version")
        if version in (b"1", b"2"):
            if readonly:
                store._legacy = version == b"1"
                store._legacy_map = _store_map.LegacyNodes(store._conn)
                store._cosigned = "cosignatures" in tables
            else:
                try:
                    store._convert(progress)
                except BaseException:
                    store.close()
                    raise
        return store

    def _convert(self, progress: Progress | None) -> None:
        """Convert a schema-1 or -2 file to schema 3 in one transaction
        (nothing if another process did meanwhile): a schema-1 tree's rows
        become tiles and the ``tree`` table goes, the cosignatures table is
        added if missing, and the head map's nodes become tiles.

        Raises:
            LedgerBusyError: another writer held the ledger too long.
            StorageError: the database refused the change, or the head map's
                nodes do not rebuild to their own roots.
        """
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    "SELECT value FROM meta WHERE name = 'schema'").fetchone()
                if row is not None and row[0] == b"1":
                    for statement in (_COSIGNATURES, *_append_only("cosignatures"), *_TILES):
                        self._conn.execute(statement)
                    _legacy_tree.copy_to_tiles(self._conn, _UPSERT_TILE, progress)
                    for statement in (
                            "DROP TRIGGER IF EXISTS tree_no_update",
                            "DROP TRIGGER IF EXISTS tree_no_delete", "DROP TABLE tree"):
                        self._conn.execute(statement)
                if row is not None and row[0] in (b"1", b"2"):
                    _store_map.convert(self._conn, self, progress)
                    for statement in (*_append_only("map_tiles"),
                                      "DROP TRIGGER IF EXISTS meta_no_update"):
                        self._conn.execute(statement)
                    self._conn.execute("UPDATE meta SET value = ? WHERE name = 'schema'",
                                       (str(SCHEMA_VERSION).encode(),))
                    self._conn.execute(_append_only("meta")[0])
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise LedgerBusyError(f"{self.path}: another writer holds the ledger; "
                                      "cannot convert it to the current schema, try "
                                      "again") from None
            raise StorageError(f"{self.path}: cannot convert the ledger to the current "
                               f"schema ({exc})") from None

    # -- reads ----------------------------------------------------------------

    def meta(self) -> dict[str, bytes]:
        """The ``meta`` rows by name.

        Raises:
            StorageError: a row's name is not text or its value not a blob
                (written behind the ledger's back).
        """
        found: dict[str, bytes] = {}
        for name, value in self._conn.execute("SELECT name, value FROM meta"):
            if not isinstance(name, str) or not isinstance(value, bytes):
                raise StorageError(f"{self.path}: meta row {name!r} is malformed: "
                                   f"expected a text name and a blob value, found "
                                   f"{type(name).__name__} and {type(value).__name__}")
            found[name] = value
        return found

    def size(self) -> int:
        """The number of entries, taken as the largest index plus one.

        Raises:
            StorageError: the largest index is 2**63 - 1, so the size would not
                fit SQLite's integers (only an edit behind the ledger's back
                stores such a row).
        """
        (last,) = self._conn.execute("SELECT MAX(idx) FROM entries").fetchone()
        if last is None:
            return 0
        if last >= _MAX_INDEX:
            raise StorageError(f"{self.path}: entries row {last} is past any log index")
        return int(last) + 1

    def last_time(self) -> int:
        row = self._conn.execute(
            "SELECT CAST(time AS INTEGER) FROM entries ORDER BY idx DESC LIMIT 1").fetchone()
        return int(row[0]) if row else 0

    def head(self, subject: str) -> Row | None:
        row = self._conn.execute(
            f"SELECT {_ROW} FROM entries WHERE subject = ? ORDER BY idx DESC LIMIT 1", (subject,)
        ).fetchone()
        return Row(*row) if row else None

    def heads(self, subjects: Sequence[str]) -> dict[str, Row]:
        """The latest row of each subject that has one, in a few queries."""
        found: dict[str, Row] = {}
        unique = list(dict.fromkeys(subjects))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            cur = self._conn.execute(
                f"SELECT {_ROW} FROM entries WHERE idx IN (SELECT MAX(idx) FROM entries "
                f"WHERE subject IN ({marks}) GROUP BY subject)", chunk)
            for r in cur:
                row = Row(*r)
                found[row.subject] = row
        return found

    def head_before(self, subject: str, index: int) -> Row | None:
        row = self._conn.execute(
            f"SELECT {_ROW} FROM entries WHERE subject = ? AND idx < ? ORDER BY idx DESC LIMIT 1",
            (subject, index),
        ).fetchone()
        return Row(*row) if row else None

    def find(self, subject: str, statement_hash: bytes) -> int | None:
        """The index of the statement with this hash in ``subject``'s chain, if any."""
        row = self._conn.execute(
            "SELECT idx FROM entries WHERE subject = ? AND hash = ?", (subject, statement_hash)
        ).fetchone()
        return int(row[0]) if row else None

    def key_subject(self, key: bytes) -> tuple[str, int] | None:
        row = self._conn.execute("SELECT CAST(subject AS TEXT), CAST(idx AS INTEGER) FROM keys "
                                 "WHERE key = ?", (key,)).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def subject_count(self) -> int:
        """How many distinct subjects have entries (one index scan)."""
        return int(self._conn.execute("SELECT COUNT(DISTINCT subject) FROM entries")
                   .fetchone()[0])

    def history(self, subject: str) -> list[Row]:
        cur = self._conn.execute(
            f"SELECT {_ROW} FROM entries WHERE subject = ? ORDER BY idx", (subject,)
        )
        return [Row(*r) for r in cur]

    def rows(self, start: int, stop: int) -> Iterator[Row]:
        cur = self._conn.execute(
            f"SELECT {_ROW} FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, stop)
        )
        for r in cur:
            yield Row(*r)

    def revocations(self) -> list[Row]:
        cur = self._conn.execute(
            f"SELECT {_ROW} FROM entries WHERE type = 'key.revoked' ORDER BY idx"
        )
        return [Row(*r) for r in cur]

    def all_keys(self) -> list[tuple[bytes, str, int]]:
        cur = self._conn.execute("SELECT CAST(key AS BLOB), CAST(subject AS TEXT), "
                                 "CAST(idx AS INTEGER) FROM keys ORDER BY idx, key")
        return [(bytes(k), str(s), int(i)) for k, s, i in cur]

    # -- writes ---------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every read inside sees the same state of the log,
        whatever other processes append meanwhile (WAL snapshot isolation)."""
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction: all of it commits durably, or none of it does.

        Raises:
            LedgerBusyError: another writer held the lock past the busy timeout.
            StorageError: the database failed.
        """
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise LedgerBusyError(
                    f"{self.path}: another writer holds the ledger; nothing was written, "
                    "try again"
                ) from None
            raise StorageError(f"{self.path}: cannot start a write ({exc})") from None
        self._put_at = None
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._discard_disclosures()
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._conn.execute("ROLLBACK")
            self._discard_disclosures()
            raise StorageError(f"{self.path}: commit failed, nothing was written ({exc})") from None
        self._put_at = None

    def _discard_disclosures(self) -> None:
        if self._put_at is not None:
            self._private.discard(self._put_at)
            self._put_at = None

    def insert(self, rows: Sequence[Row], keys: Sequence[tuple[bytes, str, int]],
               tiles: Sequence[TileRow], disclosures: Sequence[DisclosureRow] = ()) -> None:
        """Insert entry rows, key registrations and tiles (replacing partial ones
        they extend); call inside ``write()``. ``disclosures`` go to the
        disclosures file first (_disclosure_file), committed before the ledger.

        Raises:
            StorageError: a constraint or trigger refused them.
        """
        if disclosures:
            self._put_at = rows[0].index if rows else self.size()
            self._private.put(disclosures, self._put_at)
        elif rows:
            # Rows a killed write left at these indices must go before entries
            # without disclosures take them, or they would be filed under those.
            self._private.drop_past(rows[0].index)
        try:
            self._conn.executemany(
                f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.index, r.time, r.entry, r.hash, r.subject, r.type, r.signer, r.state)
                 for r in rows],
            )
            if keys:
                self._conn.executemany("INSERT INTO keys (key, subject, idx) VALUES (?, ?, ?)",
                                       keys)
            self._conn.executemany(_UPSERT_TILE,
                                   [(t.level, t.index, t.hashes, t.nodes) for t in tiles])
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: insert refused ({exc})") from None

    def tiles(self, keys: Sequence[tuple[int, int]]) -> tuple[int, list[TileRow | None]]:
        """The log's size and these tiles (None where missing), in one query."""
        if self._legacy:
            try:
                return self.size(), [next(_legacy_tree.tiles(self._conn, lv, n, n + 1), None)
                                     for lv, n in keys]
            except sqlite3.OperationalError as exc:
                raise self._legacy_error(exc) from None
        if not keys:  # the proofs' common case: every tile they need is in memory
            return self.size(), []
        query = _POINTS.get(len(keys))
        if query is None:
            # A row per tile found, each with the size: point lookups on the
            # primary key in one statement (one snapshot; a row-value IN
            # (VALUES ...) would scan the table), each row's blobs read in one pass.
            query = _POINTS[len(keys)] = " UNION ALL ".join(
                [f"SELECT {_SIZE}, CAST(level AS INTEGER), CAST(idx AS INTEGER), "
                 "CAST(hashes AS BLOB), CAST(nodes AS BLOB) FROM tiles "
                 "WHERE level = ? AND idx = ?"] * len(keys))
        try:
            rows = self._conn.execute(query, [x for key in keys for x in key]).fetchall()
        except OverflowError:  # an index past SQLite's integers: no such tile
            rows = []
        if not rows:
            return self.size(), [None] * len(keys)
        found = {(lv, n): TileRow(lv, n, h, x) for _, lv, n, h, x in rows}
        return int(rows[0][0]), [found.get(key) for key in keys]

    def tile_rows(self, level: int, start: int = 0,
                  stop: int | None = None) -> Iterator[TileRow]:
        """The stored tiles of ``level`` from ``start`` to before ``stop``, by index."""
        end = _MAX_INDEX if stop is None else min(stop, _MAX_INDEX)
        if self._legacy:
            try:
                yield from _legacy_tree.tiles(self._conn, level, min(start, _MAX_INDEX), end)
            except sqlite3.OperationalError as exc:
                raise self._legacy_error(exc) from None
            return
        cur = self._conn.execute(
            "SELECT CAST(idx AS INTEGER), CAST(hashes AS BLOB), CAST(nodes AS BLOB) FROM tiles "
            "WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
            (level, min(start, _MAX_INDEX), end))
        for idx, hashes, nodes in cur:
            yield TileRow(level, int(idx), bytes(hashes), bytes(nodes))

    def tile_count(self) -> int:
        """How many tiles are stored."""
        if self._legacy:
            try:
                return _legacy_tree.tile_count(self._conn)
            except sqlite3.OperationalError as exc:
                raise self._legacy_error(exc) from None
        (n,) = self._conn.execute("SELECT COUNT(*) FROM tiles").fetchone()
        return int(n)

    def _legacy_error(self, exc: sqlite3.OperationalError,
                      what: str = "Merkle tree") -> StorageError:
        """A failed read of an older file's tree or head map (opened read-only)."""
        return StorageError(f"{self.path}: cannot read the {what} ({exc}); if another "
                            "process converted the file to tiles meanwhile, open it again")

    @contextmanager
    def _legacy_reads(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise self._legacy_error(exc, what) from None

    def checkpoints(self) -> list[tuple[int, int, int, str]]:
        """(seq, size, time, note) of every signed checkpoint, oldest first."""
        cur = self._conn.execute("SELECT CAST(seq AS INTEGER), CAST(size AS INTEGER), "
                                 "CAST(time AS INTEGER), CAST(note AS TEXT) FROM checkpoints "
                                 "ORDER BY seq")
        return [(int(a), int(b), int(c), str(d)) for a, b, c, d in cur]

    def insert_checkpoint(self, seq: int, size: int, time: int, note: str) -> None:
        """Store a signed checkpoint; call inside ``write()``.

        Raises:
            StorageError: the database refused it.
        """
        try:
            self._conn.execute("INSERT INTO checkpoints (seq, size, time, note) "
                               "VALUES (?, ?, ?, ?)", (seq, size, time, note))
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: checkpoint refused ({exc})") from None

    def cosignatures(self) -> list[tuple[int, str, str]]:
        """(seq, witness vkey, signature line) of every stored cosignature, by
        seq, then in storing order; none for a pre-cosignature file read-only."""
        if not self._cosigned:
            return []
        cur = self._conn.execute("SELECT CAST(seq AS INTEGER), CAST(vkey AS TEXT), "
                                 "CAST(line AS TEXT) FROM cosignatures ORDER BY seq, id")
        return [(int(a), str(b), str(c)) for a, b, c in cur]

    def insert_cosignatures(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Store (seq, witness vkey, signature line) rows; call inside ``write()``.

        Raises:
            StorageError: a (seq, vkey) pair is already stored, ``seq`` is no
                stored checkpoint, or the database refused them.
        """
        if not self._cosigned:
            raise StorageError(f"{self.path}: opened read-only; cannot store cosignatures")
        try:
            self._conn.executemany("INSERT INTO cosignatures (seq, vkey, line) VALUES (?, ?, ?)",
                                   rows)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cosignature refused ({exc})") from None

    def map_tile(self, level: int, prefix: bytes, version: int) -> bytes | None:
        """The head-map tile (level, prefix) as of ``version``."""
        if self._legacy_map is not None:
            with self._legacy_reads("head map"):
                return _legacy_map.tile(self._legacy_map, level, prefix, version)
        return _store_map.tile(self._conn, level, prefix, version)

    def map_tiles(self, version: int) -> list[MapTileRow]:
        """Every head-map tile written by ``version``, by level then prefix."""
        if self._legacy_map is not None:
            with self._legacy_reads("head map"):
                return _legacy_map.written(self._legacy_map, version)
        return _store_map.tiles(self._conn, version)

    def insert_map_tiles(self, version: int, rows: Sequence[MapTileRow]) -> None:
        """Store the tiles a checkpoint's head map wrote; call inside ``write()``.

        Raises:
            StorageError: a tile is already stored, or the store refused them.
        """
        try:
            _store_map.insert(self._conn, version, rows)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: head map tiles refused ({exc})") from None

    def map_tile_count(self) -> int:
        if self._legacy_map is not None:
            with self._legacy_reads("head map"):
                return _legacy_map.count(self._legacy_map)
        (n,) = self._conn.execute("SELECT COUNT(*) FROM map_tiles").fetchone()
        return int(n)

    def changed_heads(self, start: int, stop: int) -> Iterator[tuple[str, bytes]]:
        """(subject, entry bytes) of the latest entry of each subject with an
        entry in ``start``..``stop``, streamed."""
        if stop - start > stop // 4:
            # Most of the log: walk the subject index in order (no sort of every
            # subject in memory, which cost 140 MB at 1M subjects).
            cur = self._conn.execute(
                "SELECT CAST(e.subject AS TEXT), CAST(e.entry AS BLOB) FROM (SELECT MAX(idx) "
                "AS last FROM entries INDEXED BY entries_by_subject WHERE idx < ? "
                "GROUP BY subject HAVING last >= ?) AS g JOIN entries AS e ON e.idx = g.last",
                (stop, start))
        else:
            cur = self._conn.execute(
                "SELECT CAST(subject AS TEXT), CAST(entry AS BLOB) FROM entries WHERE idx IN "
                "(SELECT MAX(idx) FROM entries WHERE idx >= ? AND idx < ? GROUP BY subject)",
                (start, stop))
        return iter(cur)  # the casts make every row (str, bytes); the columns are NOT NULL

    def subject_bounds(self, size: int, parts: int) -> list[str]:
        sample = [size * k // parts for k in range(1, parts)]
        return [str(subject) for (subject,) in self._conn.execute(
            "SELECT DISTINCT CAST(subject AS TEXT) FROM entries WHERE idx IN "
            f"({', '.join('?' * len(sample))}) ORDER BY 1", sample)]

    def last_heads_between(self, lo: str | None, hi: str | None,
                           size: int) -> Iterator[tuple[bytes, int]]:
        """Streamed from the subject index alone (_headmap_first)."""
        where, args = _subject_range(lo, hi)
        cur = self._conn.execute(
            f"SELECT CAST(subject AS BLOB), MAX(idx) FROM entries WHERE {where}idx < ? "
            "GROUP BY subject", (*args, size))
        return ((bytes(subject), int(idx)) for subject, idx in cur)

    def reader(self) -> SQLiteStore:
        """Another read-only store object on the same file, for a worker process.

        Raises:
            StorageError: the file cannot be opened.
        """
        reader = SQLiteStore.open(self.path, readonly=True)
        # Workers stream once through their range: a small page cache keeps a
        # forked worker near its parent's size (the OS caches the file anyway).
        reader._conn.execute(f"PRAGMA cache_size = {_READER_CACHE}")
        return reader

    def staged_changes(self, changes: Iterable[tuple[bytes, bytes]]
                       ) -> AbstractContextManager[Changes]:
        """Head-map changes in a scratch table, for the length of a with-block."""
        return _staging.staged_changes(self._conn, changes)

    def tile_check(self) -> AbstractContextManager[TileCheck]:
        """A scratch table to compare recomputed head-map tiles with stored ones."""
        if self._legacy_map is not None:
            return _staging.tile_check(self._conn, self._legacy_map)
        return _staging.tile_check(self._conn)

    def backup(self, dest: str | Path, *, progress: Progress | None = None) -> None:
        """Copy the ledger to the new file ``dest`` with SQLite's online backup API.

        The copy is one consistent snapshot: the source is read in a single
        read transaction, so writers may go on meanwhile and none of their
        later commits is in it. It is written to a temporary file beside
        ``dest`` in rollback-journal mode (one self-contained file), fsynced,
        and then linked into place without replacing anything, so ``dest``
        appears complete or not at all. ``dest`` is not audited here.
        ``progress`` hears of the pages copied; the copy is then made in steps
        inside one read transaction, which keeps it one snapshot. Should it
        raise, nothing is left behind.

        Raises:
            StorageError: ``dest`` exists, or the copy could not be written.
        """
        import contextlib
        import os
        import secrets

        target_path = Path(dest)
        if os.path.lexists(target_path):
            raise StorageError(f"{target_path}: already exists; refusing to overwrite it "
                               "with a backup")
        tmp = target_path.parent / f".{target_path.name}.{secrets.token_hex(8)}.tmp"
        linked = False
        try:
            self._copy_to(tmp, progress)
            try:
                # A hard link fails if dest appeared meanwhile; rename would replace it.
                os.link(tmp, target_path)
                linked = True
            except FileExistsError:
                raise StorageError(f"{target_path}: already exists; refusing to overwrite "
                                   "it with a backup") from None
            except OSError:
                if os.path.lexists(target_path):  # no hard links here, and dest appeared
                    raise StorageError(f"{target_path}: already exists; refusing to "
                                       "overwrite it with a backup") from None
                os.replace(tmp, target_path)
                linked = True
            # The disclosures go along: a restored ledger must still disclose
            # what its statements commit to (README: erasure and backups).
            self._private.backup(target_path)
            if os.name != "nt":  # directories cannot be opened for fsync on Windows
                dir_fd = os.open(target_path.parent, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StorageError(f"backup of {self.path} to {target_path} failed ({exc})") from None
        except BaseException:
            if linked:  # interrupted between link and return: no half-reported backup
                with contextlib.suppress(OSError):
                    os.unlink(target_path)
            raise
        finally:
            for leftover in ("", "-journal", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{tmp}{leftover}")

    def _copy_to(self, tmp: Path, progress: Progress | None) -> None:
        """Copy the ledger into the new file ``tmp``, one self-contained file, fsynced."""
        import os

        target = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            if progress is None:
                # pages=-1: the whole database in one step, hence one snapshot.
                self._conn.backup(target, pages=-1)
            else:
                self._backup_in_steps(target, progress)
            # The copy inherits WAL mode; a backup should be one file.
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _backup_in_steps(self, target: sqlite3.Connection, progress: Progress) -> None:
        """Copy to ``target`` EVERY pages at a time, reporting each step.

        The read transaction held throughout makes every step read one
        snapshot: SQLite restarts a stepped backup only when the source it
        reads changes, and a WAL reader's snapshot does not.
        """
        def report(_status: int, remaining: int, total: int) -> None:
            progress(COPYING, total - remaining, total)

        with self.snapshot():
            (pages,) = self._conn.execute("PRAGMA page_count").fetchone()
            progress(COPYING, 0, int(pages))
            self._conn.backup(target, pages=EVERY, progress=report)

    # -- disclosures (the erasable part, in a file of its own) -------------------

    def disclosures(self, statements: Sequence[bytes]) -> dict[bytes, list[bytes]]:
        return self._private.disclosures(statements)

    def disclosure_rows(self, subject: str | None = None, *, start: int = 0,
                        limit: int | None = None) -> list[DisclosureRow]:
        return self._private.rows(subject, start, limit)

    def erase_disclosures(self, subject: str, *, statements: Sequence[bytes] | None = None,
                          paths: Sequence[str] | None = None) -> int:
        return self._private.erase(subject, statements=statements, paths=paths)

    def close(self) -> None:
        self._private.close()
        self._conn.close()


def _subject_range(lo: str | None, hi: str | None) -> tuple[str, tuple[str, ...]]:
    """The WHERE terms (each followed by AND) and arguments of subjects in [lo, hi)."""
    terms: str = ""
    args: tuple[str, ...] = ()
    if lo is not None:
        terms, args = "subject >= ? AND ", (lo,)
    if hi is not None:
        terms, args = terms + "subject < ? AND ", (*args, hi)
    return terms, args


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _connect(path: Path, *, create: bool, readonly: bool = False,
             timeout: float = 10.0) -> sqlite3.Connection:
    uri = f"file:{path}?mode={'ro' if readonly else ('rwc' if create else 'rw')}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout)
        # Text that is not UTF-8 can only have been written behind the ledger's
        # back; read it with replacement characters so that it disagrees with
        # the signed bytes (and the audit names the row) instead of raising
        # sqlite3.OperationalError in whichever read meets it first.
        conn.text_factory = _lenient_text
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        # 64 MiB of page cache: keeps the entry indexes hot as the log grows
        # (the 2 MiB default made appends slow down past ~100k entries).
        conn.execute("PRAGMA cache_size = -65536")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path}: cannot open ({exc})") from None
    return conn
