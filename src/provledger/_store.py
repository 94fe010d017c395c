"""SQLiteStore: the log's rows in SQLite, append-only by the schema's own triggers.

It implements the Store protocol of _storage, which the rest of the library
talks to; it keeps rows only (the Merkle tree's caches and meaning are
_tree's). Durability: WAL with ``synchronous=FULL``, so a commit that returned survives
a crash of the process or the machine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from . import _staging
from ._errors import LedgerBusyError, StorageError
from ._progress import COPYING, EVERY, Progress
from ._smt import Changes, Node
from ._staging import NodeCheck
from ._storage import Row

SCHEMA_VERSION = 1


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
CREATE TABLE tree (
    level   INTEGER NOT NULL,     -- 0: leaf hashes; L: perfect subtrees of 2^L leaves
    idx     INTEGER NOT NULL,     -- position among the subtrees of that level
    hash    BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    seq     INTEGER PRIMARY KEY,  -- signing order, dense from 0
    size    INTEGER NOT NULL,
    time    INTEGER NOT NULL,
    note    TEXT NOT NULL         -- the C2SP signed note, as signed
);
CREATE TABLE map_nodes (
    depth    INTEGER NOT NULL,    -- head map (spec/bundle.md): distance from the root
    position BLOB NOT NULL,       -- the key bits above depth, the rest zero
    version  INTEGER NOT NULL,    -- the checkpoint (seq) that wrote it
    hash     BLOB NOT NULL,
    key      BLOB,                -- leaves only
    value    BLOB,                -- leaves only
    PRIMARY KEY (depth, position, version)
) WITHOUT ROWID;
CREATE TRIGGER entries_dense BEFORE INSERT ON entries
    WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx), -1) + 1 FROM entries)
    BEGIN SELECT RAISE(ABORT, 'provledger: log indices must be dense'); END;
"""
# Added after schema 1 shipped without it: files made before get it when
# opened for writing (idempotent, hence IF NOT EXISTS), and newer files stay
# readable by the older code, which ignores tables it does not know.
_COSIGNATURES = """
CREATE TABLE IF NOT EXISTS cosignatures (
    id      INTEGER PRIMARY KEY,  -- storing order (stable across VACUUM)
    seq     INTEGER NOT NULL REFERENCES checkpoints (seq),  -- the checkpoint cosigned
    vkey    TEXT NOT NULL,        -- the witness's verifier key (signature type 0x04)
    line    TEXT NOT NULL,        -- its note signature line, without the newline
    UNIQUE (seq, vkey)
);
"""
_APPEND_ONLY = """
CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t}
    BEGIN SELECT RAISE(ABORT, 'provledger: the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t}
    BEGIN SELECT RAISE(ABORT, 'provledger: the ledger is append-only'); END;
"""
#: tree_nodes' queries, by node count.
_POINTS: dict[int, str] = {}
#: SQLite's largest integer: an entry there would make the log's size overflow.
_MAX_INDEX = 2**63 - 1
#: The tables every schema-1 file has; ``cosignatures`` came later (_COSIGNATURES).
_TABLES = ("meta", "entries", "keys", "tree", "checkpoints", "map_nodes")
_MIGRATE = "BEGIN IMMEDIATE;" + _COSIGNATURES + _APPEND_ONLY.format(t="cosignatures") + "COMMIT;"
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

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        #: False for a file made before cosignatures and opened read-only.
        self._cosigned = True

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
        triggers = "".join(_APPEND_ONLY.format(t=t) for t in (*_TABLES, "cosignatures"))
        try:
            store._conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + _COSIGNATURES + triggers)
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
    def open(cls, path: str | Path, *, readonly: bool = False,
             timeout: float = 10.0) -> SQLiteStore:
        """Open an existing ledger file.

        A file made before cosignatures were stored gains their (empty) table
        when opened for writing; opened read-only, it reads no cosignatures.

        Raises:
            StorageError: missing file, not a provledger ledger, or a newer
                schema; LedgerBusyError when adding the table waited too long.
        """
        p = Path(path)
        if not p.is_file():
            raise StorageError(f"{p}: no ledger here (create one with `provledger init`)")
        store = cls(_connect(p, create=False, readonly=readonly, timeout=timeout), str(p))
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
        if version != str(SCHEMA_VERSION).encode() or not set(_TABLES) <= tables:
            store.close()
            raise StorageError(f"{p}: unsupported ledger schema {version!r} (tables "
                               f"{', '.join(sorted(set(_TABLES) - tables)) or 'present'}); "
                               "this file was made by another provledger version")
        if "cosignatures" not in tables:
            if readonly:
                store._cosigned = False
            else:
                try:
                    store._migrate()
                except BaseException:
                    store.close()
                    raise
        return store

    def _migrate(self) -> None:
        """Add the cosignatures table to a file made before it (idempotent).

        Raises:
            LedgerBusyError: another writer held the ledger too long.
            StorageError: the database refused the change.
        """
        try:
            self._conn.executescript(_MIGRATE)
        except sqlite3.DatabaseError as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if "locked" in str(exc) or "busy" in str(exc):
                raise LedgerBusyError(f"{self.path}: another writer holds the ledger; "
                                      "cannot add the cosignatures table, try again") from None
            raise StorageError(f"{self.path}: cannot add the cosignatures table ({exc})") from None

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
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._conn.execute("ROLLBACK")
            raise StorageError(f"{self.path}: commit failed, nothing was written ({exc})") from None

    def insert(self, rows: Sequence[Row], keys: Sequence[tuple[bytes, str, int]],
               nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Insert entry rows, key registrations and Merkle nodes; call inside ``write()``.

        Raises:
            StorageError: a constraint or trigger refused them.
        """
        try:
            self._conn.executemany(
                f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.index, r.time, r.entry, r.hash, r.subject, r.type, r.signer, r.state)
                 for r in rows],
            )
            if keys:
                self._conn.executemany("INSERT INTO keys (key, subject, idx) VALUES (?, ?, ?)",
                                       keys)
            self._conn.executemany("INSERT INTO tree (level, idx, hash) VALUES (?, ?, ?)", nodes)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: insert refused ({exc})") from None

    def subtree(self, level: int, index: int) -> bytes:
        """The stored hash of node (level, index), read now.

        Raises:
            StorageError: the node is missing (the tree does not cover it).
        """
        row = self._conn.execute("SELECT CAST(hash AS BLOB) FROM tree WHERE level = ? AND idx = ?",
                                 (level, index)).fetchone()
        if row is None:
            raise StorageError(f"{self.path}: Merkle tree node ({level}, {index}) is missing")
        return bytes(row[0])

    def tree_nodes(self, nodes: Sequence[tuple[int, int]]) -> tuple[int, list[bytes | None]]:
        """The log's size and these nodes' hashes (None where missing), in one query."""
        query = _POINTS.get(len(nodes))
        if query is None:
            # One row of point lookups on the primary key (a row-value IN
            # (VALUES ...) would scan the table): no row object per node.
            query = _POINTS[len(nodes)] = "SELECT " + ", ".join(
                ["(SELECT COALESCE(MAX(idx), -1) + 1 FROM entries)"]
                + ["(SELECT CAST(hash AS BLOB) FROM tree WHERE level = ? AND idx = ?)"]
                * len(nodes))
        size, *hashes = self._conn.execute(query, [x for n in nodes for x in n]).fetchone()
        return int(size), hashes

    def tree_level(self, level: int, start: int = 0,
                   stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """The stored nodes of ``level`` from ``start`` to before ``stop``, by position."""
        cur = self._conn.execute("SELECT CAST(idx AS INTEGER), CAST(hash AS BLOB) FROM tree "
                                 "WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
                                 (level, start, _MAX_INDEX if stop is None else stop))
        for idx, h in cur:
            yield int(idx), bytes(h)

    def tree_nodes_within(self, size: int) -> tuple[int, int]:
        """How many stored nodes lie wholly within the first ``size`` leaves, and how
        many reach beyond the log's current end (there should be none)."""
        within, beyond = self._conn.execute(
            "SELECT COALESCE(SUM(((idx + 1) << level) <= ?), 0), "
            "COALESCE(SUM(((idx + 1) << level) > "
            "(SELECT COALESCE(MAX(idx), -1) + 1 FROM entries)), 0) FROM tree",
            (size,)).fetchone()
        return int(within), int(beyond)

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

    def map_node(self, depth: int, position: bytes, version: int) -> Node | None:
        """The head-map node at (depth, position) as of ``version``."""
        row = self._conn.execute(
            "SELECT CAST(hash AS BLOB), CAST(key AS BLOB), CAST(value AS BLOB) FROM map_nodes "
            "WHERE depth = ? AND "
            "position = ? AND version <= ? ORDER BY version DESC LIMIT 1",
            (depth, position, version)).fetchone()
        if row is None:
            return None
        return Node(bytes(row[0]), None if row[1] is None else bytes(row[1]),
                    None if row[2] is None else bytes(row[2]))

    def map_nodes(self, version: int) -> list[tuple[int, bytes, Node]]:
        """Every node written by ``version``, in key order."""
        cur = self._conn.execute(
            "SELECT CAST(depth AS INTEGER), CAST(position AS BLOB), CAST(hash AS BLOB), "
            "CAST(key AS BLOB), CAST(value AS BLOB) FROM map_nodes WHERE version = ? "
            "ORDER BY depth, position", (version,))
        return [(int(d), bytes(p), Node(bytes(h), None if k is None else bytes(k),
                                        None if v is None else bytes(v)))
                for d, p, h, k, v in cur]

    def insert_map_nodes(self, version: int, nodes: Sequence[tuple[int, bytes, Node]]) -> None:
        """Store the nodes a checkpoint's head map wrote; call inside ``write()``.

        Raises:
            StorageError: the database refused them.
        """
        try:
            self._conn.executemany(
                "INSERT INTO map_nodes (depth, position, version, hash, key, value) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(d, p, version, n.hash, n.key, n.value) for d, p, n in nodes])
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: head map nodes refused ({exc})") from None

    def map_node_count(self) -> int:
        (n,) = self._conn.execute("SELECT COUNT(*) FROM map_nodes").fetchone()
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
        return ((str(s), bytes(e)) for s, e in cur)

    def staged_changes(self, changes: Iterable[tuple[bytes, bytes]]
                       ) -> AbstractContextManager[Changes]:
        """Head-map changes in a scratch table, for the length of a with-block."""
        return _staging.staged_changes(self._conn, changes)

    def node_check(self) -> AbstractContextManager[NodeCheck]:
        """A scratch table to compare recomputed head-map nodes with stored ones."""
        return _staging.node_check(self._conn)

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

    def close(self) -> None:
        self._conn.close()


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
