"""The disclosures of a SQLite ledger, in a file of their own beside it.

The ledger file is append-only and may be copied, published and audited by
anyone; the clear text of committed fields must be erasable, so it never
enters that file. It lives in ``<ledger>.disclosures<suffix>`` (for
``shop.db``, ``shop.disclosures.db``), with ``secure_delete`` on so that an
erased row's bytes are overwritten, and the WAL truncated after each erasure.

Writes come first: a batch's disclosures are committed (fsynced) before the
ledger's transaction, so an acknowledged statement never lacks its
disclosures; rows of a batch that then failed, or of a process killed
between the two commits, have an index at or past the log's end and are
removed by the next insert (and by erasure).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ._errors import StorageError
from ._storage import DisclosureRow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS disclosures (
    digest BLOB NOT NULL,
    statement BLOB NOT NULL,
    idx INTEGER NOT NULL,
    subject TEXT NOT NULL,
    path TEXT NOT NULL,
    data BLOB NOT NULL,
    -- Per statement: another statement may commit to the same bytes (copied
    -- from a bundle), and must neither take this row over nor lose its own.
    PRIMARY KEY (statement, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS disclosures_subject ON disclosures (subject, idx);
CREATE INDEX IF NOT EXISTS disclosures_idx ON disclosures (idx);
"""
_COLUMNS = "digest, statement, idx, subject, path, data"


def disclosure_path(ledger: str | Path) -> Path:
    """Where the disclosures of the ledger file ``ledger`` live."""
    p = Path(ledger)
    if p.suffix:
        return p.with_name(f"{p.stem}.disclosures{p.suffix}")
    return p.with_name(f"{p.name}.disclosures.db")


class DisclosureFile:
    """The disclosures file of one SQLite ledger, opened on first use."""

    def __init__(self, ledger: str | Path, *, readonly: bool, timeout: float = 10.0) -> None:
        self.path = disclosure_path(ledger)
        self._readonly = readonly
        self._timeout = timeout
        self._conn: sqlite3.Connection | None = None

    def _open(self, *, create: bool) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        if not self.path.exists() and (self._readonly or not create):
            return None
        mode = "ro" if self._readonly else "rwc"
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode={mode}", uri=True,
                                   isolation_level=None, timeout=self._timeout)
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            if not self._readonly:
                # Erased rows are overwritten with zeros, not left in free pages.
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot open the disclosures ({exc})") from None
        self._conn = conn
        return conn

    def put(self, rows: Sequence[DisclosureRow], log_size: int) -> None:
        """Store ``rows`` durably, first removing rows left past ``log_size``
        (the log's size before them) by a failed or killed earlier write.

        Raises:
            StorageError: the file cannot be written; nothing was stored.
        """
        conn = self._open(create=bool(rows))
        if conn is None:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM disclosures WHERE idx >= ?", (log_size,))
                conn.executemany(
                    f"INSERT OR REPLACE INTO disclosures ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    [(r.digest, r.statement, r.index, r.subject, r.path, r.data) for r in rows])
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot store disclosures ({exc})") from None

    def drop_past(self, log_size: int) -> None:
        """Durably remove rows at or past ``log_size``, left by a write killed
        between this file's commit and the ledger's; a read when there are none.

        Raises:
            StorageError: they could not be removed (the write must not go on).
        """
        conn = self._open(create=False)
        if conn is None:
            return
        try:
            if conn.execute("SELECT 1 FROM disclosures WHERE idx >= ? LIMIT 1",
                            (log_size,)).fetchone():
                conn.execute("DELETE FROM disclosures WHERE idx >= ?", (log_size,))
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot remove disclosures left past the "
                               f"log's end ({exc})") from None

    def discard(self, log_size: int) -> None:
        """Remove rows at or past ``log_size`` (a write that did not commit)."""
        conn = self._open(create=False)
        if conn is None:
            return
        with contextlib.suppress(sqlite3.DatabaseError):  # else the next put removes them
            conn.execute("DELETE FROM disclosures WHERE idx >= ?", (log_size,))

    def disclosures(self, statements: Sequence[bytes]) -> dict[bytes, list[bytes]]:
        conn = self._open(create=False)
        out: dict[bytes, list[bytes]] = {}
        if conn is None or not statements:
            return out
        try:
            for i in range(0, len(statements), 500):
                chunk = list(statements[i:i + 500])
                marks = ", ".join("?" * len(chunk))
                for statement, data in conn.execute(
                        f"SELECT statement, data FROM disclosures WHERE statement IN ({marks}) "
                        "ORDER BY statement, digest", chunk):
                    out.setdefault(bytes(statement), []).append(bytes(data))
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot read disclosures ({exc})") from None
        return out

    def rows(self, subject: str | None, start: int = 0,
             limit: int | None = None) -> list[DisclosureRow]:
        conn = self._open(create=False)
        if conn is None:
            return []
        where = "idx >= ?" + ("" if subject is None else " AND subject = ?")
        args = (start,) if subject is None else (start, subject)
        try:
            return [DisclosureRow(bytes(d), bytes(s), int(i), str(sub), str(p), bytes(data))
                    for d, s, i, sub, p, data in conn.execute(
                        f"SELECT {_COLUMNS} FROM disclosures WHERE {where} "
                        f"ORDER BY idx, path, digest LIMIT {-1 if limit is None else int(limit)}",
                        args)]
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot read disclosures ({exc})") from None

    def erase(self, subject: str, *, statements: Sequence[bytes] | None = None,
              paths: Sequence[str] | None = None) -> int:
        """Delete rows of ``subject`` (those statements', those fields'), then
        checkpoint and truncate the WAL so the erased bytes leave every file.

        Raises:
            StorageError: nothing was erased.
        """
        if self._readonly:
            raise StorageError(f"{self.path}: opened read-only; cannot erase")
        conn = self._open(create=False)
        if conn is None:
            return 0
        where = ["subject = ?"]
        args: list[object] = [subject]
        if statements is not None:
            where.append(f"statement IN ({', '.join('?' * len(statements)) or 'NULL'})")
            args.extend(statements)
        if paths is not None:
            where.append(f"path IN ({', '.join('?' * len(paths)) or 'NULL'})")
            args.extend(paths)
        try:
            cur = conn.execute(f"DELETE FROM disclosures WHERE {' AND '.join(where)}", args)
            erased = cur.rowcount
            # Copy the zeroed pages into the file and empty the WAL, which
            # still held the rows as they were written.
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot erase ({exc})") from None
        if busy:
            raise StorageError(f"{self.path}: erased {erased} disclosures, but a reader kept "
                               "the write-ahead log from being emptied; run erase again when "
                               "no other process has the ledger open")
        return int(erased)

    def backup(self, dest_ledger: str | Path) -> Path | None:
        """Copy this file beside the ledger backup ``dest_ledger``, if it exists."""
        conn = self._open(create=False)
        if conn is None:
            return None
        dest = disclosure_path(dest_ledger)
        if dest.exists():
            raise StorageError(f"{dest}: already exists; refusing to overwrite it with a backup")
        try:
            target = sqlite3.connect(str(dest), isolation_level=None)
            try:
                conn.backup(target, pages=-1)
                target.execute("PRAGMA journal_mode = DELETE")
            finally:
                target.close()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"backup of {self.path} to {dest} failed ({exc})") from None
        return dest

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
