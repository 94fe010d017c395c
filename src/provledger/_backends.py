"""Which backend holds a ledger, chosen by its name, and copies between backends.

A ``postgresql://`` or ``postgres://`` URL names a PostgreSQL database
(_pgstore, which needs the ``postgres`` extra: psycopg); anything else is the
path of a SQLite file (_store). psycopg is imported only for a URL, so
verifiers and SQLite users never load it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._disclosure_file import disclosure_path
from ._errors import StorageError
from ._progress import COPYING, EVERY, Progress
from ._storage import DisclosureRow, Row, Store
from ._store import SQLiteStore

if TYPE_CHECKING:
    from ._pgstore import PostgresStore

_URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL database rather than a file."""
    return isinstance(target, str) and target.startswith(_URL_SCHEMES)


def redact_target(target: str | Path) -> str:
    """``target`` for messages: a URL without its password, a path as it is."""
    if not is_url(target):
        return str(target)
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(str(target))
        if parts.password is None:
            return str(target)
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (
            f":{parts.port}" if parts.port else "")
    except ValueError:
        return "postgresql://..."
    return urlunsplit(parts._replace(netloc=netloc))


def _pgstore() -> type[PostgresStore]:
    """The PostgreSQL backend, imported on first use.

    Raises:
        StorageError: psycopg is not installed.
    """
    try:
        from ._pgstore import PostgresStore
    except ImportError as exc:
        raise StorageError("a postgresql:// ledger needs psycopg: install provledger's "
                           f"'postgres' extra (pip install 'provledger[postgres]'); {exc}"
                           ) from None
    return PostgresStore


def open_store(target: str | Path, *, readonly: bool = False, timeout: float = 10.0,
               progress: Progress | None = None) -> Store:
    """Open the ledger at ``target``: a PostgreSQL URL or a SQLite file path.

    Raises:
        StorageError: no ledger there, unreachable, or another schema.
        LedgerBusyError: converting an old SQLite file waited too long.
    """
    if is_url(target):
        return _pgstore().open(str(target), readonly=readonly, timeout=timeout,
                               progress=progress)
    return SQLiteStore.open(target, readonly=readonly, timeout=timeout, progress=progress)


def create_store(target: str | Path, meta: dict[str, bytes],
                 keys: Sequence[tuple[bytes, str, int]] = ()) -> Store:
    """Create a ledger at ``target`` holding ``meta`` and the initial ``keys``:
    the tables in an empty PostgreSQL database, or a new SQLite file.

    Raises:
        StorageError: a ledger (or file) is already there, or it cannot be made.
    """
    if is_url(target):
        return _pgstore().create(str(target), meta, keys)
    return SQLiteStore.create(target, meta, keys)


def copy_rows(src: Store, dst: Store, progress: Progress | None = None) -> None:
    """Copy every entry, tile, checkpoint, cosignature and head-map tile of
    ``src`` into ``dst``, which holds ``src``'s meta and keys and nothing else,
    and the disclosures stored for those entries.
    Call inside ``src.snapshot()`` and ``dst.write()``.

    Raises:
        StorageError: ``dst`` refused a row, or the copy's head map does not
            hold every tile of ``src``'s.
    """
    size = src.size()
    if progress is not None:
        progress(COPYING, 0, size)
    batch: list[Row] = []
    private: set[str] = set()  # subjects with stored disclosures
    for row in src.rows(0, size):
        batch.append(row)
        if len(batch) >= 4 * EVERY:
            private |= _with_disclosures(src, batch)
            dst.insert(batch, [], [])
            batch.clear()
            if progress is not None:
                progress(COPYING, row.index + 1, size)
    private |= _with_disclosures(src, batch)
    dst.insert(batch, [], [])
    copy_disclosures(src, dst, sorted(private), size)
    level = 0
    while tiles := list(src.tile_rows(level)):
        dst.insert([], [], tiles)
        level += 1
    for seq, cp_size, time, note in src.checkpoints():
        dst.insert_checkpoint(seq, cp_size, time, note)
        dst.insert_map_tiles(seq, src.map_tiles(seq))
    dst.insert_cosignatures(src.cosignatures())
    if dst.map_tile_count() != src.map_tile_count():
        raise StorageError("the head map holds tiles that no checkpoint wrote; not copied")
    if progress is not None:
        progress(COPYING, size, size)


def _with_disclosures(src: Store, rows: Sequence[Row]) -> set[str]:
    """The subjects of ``rows`` whose statements have stored disclosures."""
    found = src.disclosures([r.hash for r in rows]) if rows else {}
    return {r.subject for r in rows if r.hash in found}


def copy_disclosures(src: Store, dst: Store, subjects: Sequence[str], size: int) -> int:
    """Copy the stored disclosures of ``subjects``' first ``size`` entries
    from ``src`` to ``dst`` (which holds those entries), so a copy can still
    disclose what its statements commit to; returns how many. Call inside
    ``dst.write()``.

    Raises:
        StorageError: ``dst`` refused them.
    """
    copied = 0
    batch: list[DisclosureRow] = []
    for subject in subjects:
        batch += [d for d in src.disclosure_rows(subject) if d.index < size]
        if len(batch) >= EVERY:
            dst.insert([], [], [], batch)
            copied += len(batch)
            batch = []
    if batch:
        dst.insert([], [], [], batch)
        copied += len(batch)
    return copied


def copy_to_url(src: Store, url: str, progress: Progress | None = None) -> None:
    """Copy one snapshot of ``src`` into the empty PostgreSQL database at
    ``url``, in one transaction: the copy is whole or absent.

    Raises:
        StorageError: the database already holds a ledger, or the copy failed.
        LedgerBusyError: another writer held the database too long.
    """
    with src.snapshot():
        meta, keys = src.meta(), src.all_keys()
        dst = _pgstore().create(url, meta, keys,
                                fill=lambda d: copy_rows(src, d, progress))
    dst.close()


def discard_copy(dest: str | Path) -> None:
    """Remove a copy this process just made that did not audit: the file, or
    the ledger's tables in the PostgreSQL database (_pgstore.drop_ledger)."""
    if is_url(dest):
        with contextlib.suppress(StorageError):
            _pgstore().drop_ledger(str(dest))
    else:
        Path(dest).unlink(missing_ok=True)
        disclosure_path(dest).unlink(missing_ok=True)


def backup_to_file(src: Store, dest: str | Path, *, progress: Progress | None = None) -> None:
    """Write one snapshot of ``src`` to the new SQLite file ``dest`` (and its
    disclosures to the new file beside it, _disclosure_file), each made
    beside it under a temporary name, fsynced, then linked into place without
    replacing anything: the copy appears complete or not at all.

    Raises:
        StorageError: ``dest`` or its disclosures file exists, or the copy
            could not be written.
    """
    target = Path(dest)
    private = disclosure_path(target)
    for path in (target, private):
        if os.path.lexists(path):
            raise StorageError(f"{path}: already exists; refusing to overwrite it with a backup")
    tmp = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    tmp_private = disclosure_path(tmp)
    linked: list[Path] = []
    try:
        with src.snapshot():
            copy = SQLiteStore.create(tmp, src.meta(), src.all_keys())
            try:
                with copy.write():
                    copy_rows(src, copy, progress)
            finally:
                copy.close()
        _one_file(tmp)
        # The disclosures first: a ledger file in place always has its own.
        moves = [(tmp, target)]
        if tmp_private.exists():
            _one_file(tmp_private)
            moves.insert(0, (tmp_private, private))
        for made, final in moves:
            try:
                os.link(made, final)  # fails if it appeared meanwhile; rename would replace it
            except FileExistsError:
                raise StorageError(f"{final}: already exists; refusing to overwrite it with "
                                   "a backup") from None
            linked.append(final)
        dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException as exc:
        for path in linked:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if isinstance(exc, sqlite3.DatabaseError | OSError):
            raise StorageError(f"backup to {target} failed ({exc})") from None
        raise
    finally:
        for made in (tmp, tmp_private):
            for leftover in ("", "-journal", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{made}{leftover}")


def _one_file(path: Path) -> None:
    """Make the SQLite file at ``path`` self-contained (no WAL) and fsync it."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
