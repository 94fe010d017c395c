"""The storage protocol: what a backend must implement (SQLite today, a server
database next), in four parts (entries, tree tiles, checkpoints, head-map
tiles), each method with the guarantee a backend owes. Backends store rows;
the layers above own their meaning and caches (_tree, _view, _audit)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ._progress import Progress
from ._smt import Changes
from ._smt_tiles import MapTileRow


@dataclass(frozen=True, slots=True)
class Row:
    """One stored entry with its derived columns."""

    index: int
    time: int
    entry: bytes
    hash: bytes
    subject: str
    type: str
    signer: bytes
    state: bytes


#: Bytes of a full tile's ``hashes``: 256 hashes of 32 bytes (c2sp.org/tlog-tiles).
FULL_TILE_BYTES = 256 * 32


@dataclass(frozen=True, slots=True)
class TileRow:
    """One stored tile of the Merkle tree (c2sp.org/tlog-tiles).

    Tile ``level`` L, ``index`` N holds the hashes of tree level 8·L, nodes
    256·N to 256·N + 255: ``hashes`` is the tile exactly as published (32
    bytes per hash; 1 to 255 hashes while the tile is partial, at the right
    edge). ``nodes`` is derived by the tree layer (_tree): the tile's
    interior nodes, as far as they are complete. A partial tile is replaced
    only by one that extends both; a full one never changes.
    """

    level: int
    index: int
    hashes: bytes
    nodes: bytes

    @property
    def full(self) -> bool:
        return len(self.hashes) >= FULL_TILE_BYTES


@dataclass(frozen=True, slots=True)
class DisclosureRow:
    """One stored disclosure (spec/disclosure.md): the clear text of a
    committed field, kept off the log and erasable. ``index`` is the log index
    of its statement, ``path`` the field (``notes``, ``condition.notes``)."""

    digest: bytes
    statement: bytes
    index: int
    subject: str
    path: str
    data: bytes


class DisclosureStore(Protocol):
    """The one erasable part of a ledger: disclosures, beside the append-only log."""

    def disclosures(self, statements: Sequence[bytes]) -> dict[bytes, list[bytes]]:
        """The stored disclosures of each statement hash given (by digest
        order), leaving out statements with none."""
        ...

    def disclosure_rows(self, subject: str | None = None, *, start: int = 0,
                        limit: int | None = None) -> list[DisclosureRow]:
        """The stored disclosures of ``subject``'s statements (None: of all)
        whose index is at least ``start``, in log order, at most ``limit``."""
        ...

    def erase_disclosures(self, subject: str, *, statements: Sequence[bytes] | None = None,
                          paths: Sequence[str] | None = None) -> int:
        """Delete ``subject``'s disclosures (of the statements, and of the
        fields, given; all when None) so that their bytes are gone from the
        database's files, not only unreachable; returns how many.

        Raises:
            StorageError: the database failed; nothing was erased.
        """
        ...


class EntryStore(Protocol):
    """Entry rows and key registrations.

    Rows are never updated or deleted; indices are dense from 0. Every read
    returns what was committed (or written earlier in the caller's open
    ``write()``); inside ``snapshot()`` all reads see one state of the log.
    """

    def size(self) -> int:
        """The number of entries (the largest index plus one, 0 when empty).

        Raises:
            StorageError: the stored size is not a valid log size.
        """
        ...

    def last_time(self) -> int:
        """The ``time`` of the last entry, 0 when empty."""
        ...

    def head(self, subject: str) -> Row | None:
        """The row of ``subject`` with the largest index, if any."""
        ...

    def heads(self, subjects: Sequence[str]) -> dict[str, Row]:
        """``head`` of each subject that has a row, keyed by subject (duplicates
        allowed in ``subjects``); a backend should answer in few round trips."""
        ...

    def head_before(self, subject: str, index: int) -> Row | None:
        """The row of ``subject`` with the largest index below ``index``, if any."""
        ...

    def find(self, subject: str, statement_hash: bytes) -> int | None:
        """The index of ``subject``'s row whose ``hash`` is ``statement_hash``, if any."""
        ...

    def history(self, subject: str) -> list[Row]:
        """Every row of ``subject``, by index."""
        ...

    def subject_count(self) -> int:
        """How many distinct subjects have rows."""
        ...

    def rows(self, start: int, stop: int) -> Iterator[Row]:
        """The rows with ``start <= index < stop``, by index; may stream, so the
        caller consumes it before the next write."""
        ...

    def revocations(self) -> list[Row]:
        """Every row of type ``key.revoked``, by index."""
        ...

    def changed_heads(self, start: int, stop: int) -> Iterator[tuple[str, bytes]]:
        """(subject, entry) of the last row below ``stop`` of every subject with a
        row in ``start``..``stop``, in any order; may stream."""
        ...

    def subject_bounds(self, size: int, parts: int) -> list[str]:
        """Up to ``parts`` - 1 distinct subjects of entries below ``size``, in
        the store's order of subjects, that cut them into about ``parts``
        ranges (from a sample: the ranges need not be equal)."""
        ...

    def last_heads_between(self, lo: str | None, hi: str | None,
                           size: int) -> Iterator[tuple[bytes, int]]:
        """(subject as UTF-8, index of its last entry below ``size``) of every
        subject from ``lo`` (included) to ``hi`` (excluded) in the store's
        order, None being no bound; may stream. Ranges between consecutive
        :meth:`subject_bounds` name every subject exactly once."""
        ...

    def key_subject(self, key: bytes) -> tuple[str, int] | None:
        """(subject, index) of the registration of ``key``, if any."""
        ...

    def all_keys(self) -> list[tuple[bytes, str, int]]:
        """Every key registration as (key, subject, index), by index then key."""
        ...

    def insert(self, rows: Sequence[Row], keys: Sequence[tuple[bytes, str, int]],
               tiles: Sequence[TileRow], disclosures: Sequence[DisclosureRow] = ()) -> None:
        """Add entry rows, key registrations and tree tiles; only inside
        ``write()``, and visible to reads inside it. A tile already stored is
        replaced by the given one of the same (level, index).

        ``disclosures`` of the statements in ``rows`` are stored durably by
        the time ``write()`` commits, and none survives a ``write()`` that
        commits nothing (a crash between may leave them unreachable, for the
        next insert to remove: their index is past the log's end).

        Raises:
            StorageError: a row breaks the store's rules (an index not dense, a
                key already stored, a tile that replaces a full one or does not
                extend the partial one stored); the caller's ``write()`` then
                commits nothing.
        """
        ...


class TreeStore(Protocol):
    """The Merkle tree as c2sp.org/tlog-tiles tiles, one row per tile
    (:class:`TileRow`).

    Tiles are written by ``EntryStore.insert``; a full tile never changes and
    a partial one only grows. Caching and what the rows mean belong to the
    tree layer (_tree).
    """

    def tiles(self, keys: Sequence[tuple[int, int]]) -> tuple[int, list[TileRow | None]]:
        """The log's size and the tile of each (level, index) in ``keys`` (None
        where none is stored), in order, read together in one consistent read
        (one round trip; no cache)."""
        ...

    def tile_rows(self, level: int, start: int = 0,
                  stop: int | None = None) -> Iterator[TileRow]:
        """The stored tiles of ``level`` with ``start <= index < stop`` (no upper
        bound when None), by index; may stream."""
        ...

    def tile_count(self) -> int:
        """How many tiles are stored, all levels."""
        ...


class CheckpointStore(Protocol):
    """Signed checkpoints, as (seq, size, time, note) rows, and the witnesses'
    cosignatures of them, as (seq, witness vkey, signature line) rows."""

    def checkpoints(self) -> list[tuple[int, int, int, str]]:
        """Every checkpoint, by seq (dense from 0)."""
        ...

    def insert_checkpoint(self, seq: int, size: int, time: int, note: str) -> None:
        """Add a checkpoint; only inside ``write()``.

        Raises:
            StorageError: ``seq`` is already stored, or the store refused it.
        """
        ...

    def cosignatures(self) -> list[tuple[int, str, str]]:
        """Every witness cosignature as (seq, witness vkey, signature line without
        its newline), by seq, then in the order stored. Rows are never updated
        or deleted; the layer above verifies them."""
        ...

    def insert_cosignatures(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Add (seq, witness vkey, signature line) rows; only inside ``write()``.

        Raises:
            StorageError: a (seq, vkey) pair is already stored, ``seq`` is not
                a stored checkpoint, or the store refused them.
        """
        ...


class TileCheck(Protocol):
    """Recomputed head-map tiles, to compare with the stored ones."""

    #: How many tiles were added.
    count: int

    def add(self, rows: Sequence[MapTileRow]) -> None:
        """Add recomputed tiles (level, prefix, data)."""
        ...

    def matches(self, version: int) -> bool:
        """Whether exactly the added tiles are stored under ``version``."""
        ...


class MapStore(Protocol):
    """The head map (spec/bundle.md) as tiles (_smt_tiles), versioned by
    checkpoint seq."""

    def map_tile(self, level: int, prefix: bytes, version: int) -> bytes | None:
        """The tile (level, prefix) with the largest version <= ``version``."""
        ...

    def map_tiles(self, version: int) -> list[MapTileRow]:
        """Every tile written by ``version``, by level then prefix."""
        ...

    def insert_map_tiles(self, version: int, rows: Sequence[MapTileRow]) -> None:
        """Add tiles written by ``version``; only inside ``write()``.

        Raises:
            StorageError: a tile is already stored, or the store refused them.
        """
        ...

    def map_tile_count(self) -> int:
        """How many head-map tiles are stored, all versions."""
        ...

    def staged_changes(self, changes: Iterable[tuple[bytes, bytes]]
                       ) -> AbstractContextManager[Changes]:
        """``changes`` (key, value), held where the store can query them (not
        necessarily in memory) for the length of the with-block, private to this
        store object and gone afterwards; nothing of them is ever committed."""
        ...

    def tile_check(self) -> AbstractContextManager[TileCheck]:
        """A private scratch set for comparing recomputed head-map tiles with the
        stored ones, for the length of the with-block; never committed."""
        ...


class Store(EntryStore, TreeStore, CheckpointStore, MapStore, DisclosureStore, Protocol):
    """What the layers above need from a database; a second backend implements this.

    One store object is used by one thread at a time. Several store objects
    (processes) may share one database: writers serialise, readers never wait.
    """

    def meta(self) -> dict[str, bytes]:
        """The meta rows (origin, keys, schema) by name.

        Raises:
            StorageError: a row is malformed.
        """
        ...

    def write(self) -> AbstractContextManager[None]:
        """A write transaction: on a normal exit all of it commits durably, on
        an exception none of it does (and the exception goes on). Writers of
        the same database serialise.

        Raises:
            LedgerBusyError: another writer held the database too long;
                nothing was written.
            StorageError: the database failed; nothing was written.
        """
        ...

    def snapshot(self) -> AbstractContextManager[None]:
        """A read transaction: every read inside sees one committed state,
        whatever other writers commit meanwhile."""
        ...

    def backup(self, dest: str | Path, *, progress: Progress | None = None) -> None:
        """Write a consistent copy of the whole database (one snapshot) to the
        new file ``dest``, which ``Ledger.open(dest)`` can read; ``dest``
        appears complete or not at all. ``progress`` hears of the copying
        (stage COPYING). A backend that cannot make such a file raises
        StorageError saying so.

        Raises:
            StorageError: ``dest`` exists, or the copy could not be made.
        """
        ...

    def reader(self) -> Store:
        """A new read-only store object on the same database, for a worker
        process to open after a fork (it never touches this one's connection).

        Raises:
            StorageError: the database cannot be opened.
        """
        ...

    def close(self) -> None:
        """Release the connection; the object is not used afterwards."""
        ...
