"""The monitor: replay a log from its entries and signed checkpoints alone.

Witnesses check that a log's trees are consistent; nobody but a replay checks
what else a checkpoint signs, above all its ``provledger-heads`` map, nor that
the entries obey the rules. The monitor reads two streams, the entry bytes
from index 0 and the checkpoint notes in signing order, and trusts nothing
else a source holds (a ledger file's stored tree, map nodes, states and keys
are never read). It recomputes the RFC 9162 root and the head map at every
checkpoint's size, verifies every note under a log key the caller pins,
checks that sizes and times never go back, verifies each entry's signature
and replays the rules in log order, and stops at the first inconsistency, in
log order, with a :class:`~provledger._errors.MonitorError` naming it.

A source is any pair of iterables (:class:`LogSource`); :func:`open_backup`
makes one from a ledger file, :func:`open_tiles` from a published log.
Memory grows with the log: the tree's hashes, two head-map nodes per
subject, and the statements the rules replay keeps (about 2 KB per entry).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from . import _merkle, _smt
from ._entry import decode_entry
from ._errors import (
    CheckpointError,
    DecodeError,
    MonitorError,
    ProvLedgerError,
    SignatureError,
)
from ._extensions import extension_heads, extension_time
from ._history import Entry
from ._keys import format_public_key
from ._note import (
    Checkpoint,
    NoteVerifier,
    parse_checkpoint,
    parse_note,
    verify_note,
)
from ._progress import EVERY, REPLAYING, Progress
from ._replay import replay
from ._statement import verify_statement

if TYPE_CHECKING:
    from ._tile_client import TileReader
    from ._tiles import Tile


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a source says about its own log, unverified: used to pick keys when
    the caller gives none, and to explain a mismatch with the keys given."""

    origin: str | None = None
    root_key: bytes | None = None
    log_key: bytes | None = None


@dataclass(frozen=True)
class LogSource:
    """A log to replay: entry bytes from index 0, and checkpoint notes (with any
    cosignature lines) in the order the log signed them. Both are read once,
    lazily, entries and checkpoints interleaved by size."""

    entries: Iterable[bytes]
    checkpoints: Iterable[str]
    #: How many entries there are, if known (for progress reports only).
    size: int | None = None
    claimed: Claimed = field(default_factory=Claimed)


@dataclass(frozen=True, slots=True)
class CheckpointSummary:
    """A checkpoint the monitor checked."""

    seq: int
    size: int
    time: int
    root: bytes
    heads: bytes


@dataclass(frozen=True)
class MonitorReport:
    """What a replay proved. A failed replay raises, so a report means success."""

    origin: str
    entries: int
    subjects: int
    checkpoints: int
    latest: CheckpointSummary | None
    #: Each witness given -> how many checkpoints it validly cosigned.
    cosignatures: Mapping[NoteVerifier, int]
    #: Signature lines by keys neither the log's nor a given witness's (not verified).
    other_signatures: int
    #: Whether the root key was given by the caller (else it is the source's claim).
    root_pinned: bool
    warnings: tuple[str, ...] = ()


class HeadMap:
    """The head map (spec/bundle.md 3), kept in memory and updated in place.

    Entries are recorded as they are read; :meth:`root` folds the subjects
    changed since the last call into the tree with _smt's update, which reads
    and rewrites only their paths. Only the newest version is kept: subjects
    are never removed, so a node, once replaced, is never read again.
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, bytes], _smt.Node] = {}
        self._changes: dict[bytes, bytes] = {}
        self._root = _smt.EMPTY
        self.subjects = 0

    def record(self, subject: str, leaf: bytes) -> None:
        """``subject``'s latest entry now has RFC 9162 leaf hash ``leaf``."""
        self._changes[_smt.map_key(subject)] = leaf

    def root(self) -> bytes:
        """The map root over everything recorded so far."""
        if self._changes:
            self._root = _smt.update_into(self, previous=0,
                                          changes=_smt.MemoryChanges(self._changes),
                                          emit=self._put)
            self._changes = {}
        return self._root

    def map_node(self, depth: int, position: bytes,
                 version: int) -> _smt.Node | None:  # noqa: ARG002 (one version is kept)
        return self._nodes.get((depth, position))

    def _put(self, depth: int, position: bytes, node: _smt.Node) -> None:
        old = self._nodes.get((depth, position))
        if node.key is not None and (old is None or old.key is None):
            self.subjects += 1  # a new leaf here; a split re-emits the old one deeper
        elif node.key is None and old is not None and old.key is not None:
            self.subjects -= 1
        self._nodes[(depth, position)] = node


def monitor(source: LogSource | str | Path, *, log_key: NoteVerifier | bytes,
            origin: str | None = None, root_key: bytes | None = None,
            witnesses: Sequence[NoteVerifier] = (),
            progress: Progress | None = None) -> MonitorReport:
    """Replay the log ``source`` (a :class:`LogSource`, or the path of a ledger
    file such as a backup) against the pinned ``log_key``.

    ``origin`` defaults to the name of ``log_key`` (a C2SP log key is named by
    its origin) and is required when ``log_key`` is raw bytes. ``root_key``,
    the ledger's root, defaults to the one the source claims (the report says
    so). Cosignatures by ``witnesses`` are verified and counted. ``progress``
    hears of the entries replayed (_progress).

    Raises:
        MonitorError: the first inconsistency, in log order; its ``index``
            (entry) or ``checkpoint`` (seq) says where, ``kind`` what.
        StorageError: a ledger file cannot be opened or read.
        ValueError: no origin or root key to check against, or ``origin``
            differs from the name of ``log_key``.
    """
    if not isinstance(source, LogSource):
        with open_backup(source) as opened:
            return monitor(opened, log_key=log_key, origin=origin, root_key=root_key,
                           witnesses=witnesses, progress=progress)
    verifier = _verifier(log_key, origin)
    pinned = root_key is not None
    root = root_key if root_key is not None else source.claimed.root_key
    if root is None:
        raise ValueError("monitor: no root key given, and the source names none")
    run = _Run(source, verifier, root, tuple(dict.fromkeys(witnesses)), progress)
    records = run.records()
    try:
        # replay() reads its records once, in order: fed lazily, it decides each
        # entry before the next checkpoint is checked, so findings come in log order.
        replay("", origin=verifier.name, root_key=root,
               records=cast(Sequence[Entry], records))
    except MonitorError:
        raise
    except ProvLedgerError as exc:
        raise run.refused(exc) from exc
    finally:
        records.close()
    return run.report(pinned)


def _verifier(log_key: NoteVerifier | bytes, origin: str | None) -> NoteVerifier:
    if isinstance(log_key, NoteVerifier):
        if origin is not None and origin != log_key.name:
            raise ValueError(f"monitor: origin {origin!r} is not the log key's name "
                             f"{log_key.name!r}")
        return log_key
    if origin is None:
        raise ValueError("monitor: a raw log key needs the log's origin")
    return NoteVerifier(origin, log_key)


@contextlib.contextmanager
def open_backup(path: str | Path) -> Iterator[LogSource]:
    """A ledger file (a ``provledger backup``) as a source, read in one snapshot.

    Only entry bytes, checkpoint notes and stored cosignature lines are read;
    the meta rows only as claims. Use the source inside the with-block.

    Raises:
        StorageError: not a readable ledger file.
    """
    from ._store import SQLiteStore

    store = SQLiteStore.open(path, readonly=True)
    try:
        with store.snapshot():
            size = store.size()
            notes = _with_cosignatures(store.checkpoints(), store.cosignatures())
            yield LogSource(entries=(row.entry for row in store.rows(0, size)),
                            checkpoints=notes, size=size, claimed=_claims(store.meta()))
    finally:
        store.close()


def open_tiles(base: str | Path, *, timeout: float = 10.0) -> LogSource:
    """A published log (a ``provledger publish`` directory, or the URL of one or
    of ``provledger serve``) as a source: the entries of its entry bundles up
    to its checkpoint, the one note tiles carry.

    Each entry's leaf hash is checked against its level-0 tile, and every
    higher tile against the tree rebuilt from the entries, as they are read:
    a tile that disagrees, or cannot be read, is a finding of kind ``tile``.

    Raises:
        NotFoundError, StorageError, DecodeError: the checkpoint cannot be read.
    """
    from ._tile_client import TileReader

    reader = TileReader(base, timeout=timeout)
    note = reader.checkpoint()
    try:
        body = parse_checkpoint(parse_note(note).text)
    except CheckpointError:
        return LogSource(entries=(), checkpoints=[note], size=0)  # the replay says why
    return LogSource(entries=_tile_entries(reader, body.size), checkpoints=[note],
                     size=body.size, claimed=Claimed(origin=body.origin))


def _tile_entries(reader: TileReader, size: int) -> Iterator[bytes]:
    """The entries of a tree of ``size``, each checked against the tiles."""
    from ._tile_client import level0_tiles
    from ._tiles import HASH_SIZE, TILE_HEIGHT, TILE_WIDTH, tiles_for

    tree = _merkle.MemoryTree()
    for tile in level0_tiles(size):
        first = tile.index * TILE_WIDTH
        hashes, entries = _read_tile(reader, tile, first, with_entries=True)
        for i, entry in enumerate(entries):
            leaf = _merkle.leaf_hash(entry)
            if leaf != hashes[i * HASH_SIZE:(i + 1) * HASH_SIZE]:
                raise MonitorError(f"entry {first + i}: its leaf hash is not hash {i} of "
                                   f"{tile.path}", kind="tile", index=first + i)
            tree.append_leaf_hash(leaf)
            yield entry
    for tile in tiles_for(size):
        if not tile.level:
            continue
        level = TILE_HEIGHT * tile.level
        hashes, _ = _read_tile(reader, tile, None, with_entries=False)
        for i in range(tile.width):
            if hashes[i * HASH_SIZE:(i + 1) * HASH_SIZE] != tree.subtree(
                    level, tile.index * TILE_WIDTH + i):
                raise MonitorError(f"{tile.path}: hash {i} is not the hash of the entries "
                                   "it covers", kind="tile")


def _read_tile(reader: TileReader, tile: Tile, index: int | None, *,
               with_entries: bool) -> tuple[bytes, list[bytes]]:
    """A hash tile, and its entry bundle if asked; a failure to read them is a
    finding about ``tile``."""
    from ._tiles import Tile

    try:
        hashes = reader.hashes(tile)
        entries = reader.entries(Tile(None, tile.index, tile.width)) if with_entries else []
    except ProvLedgerError as exc:
        raise MonitorError(f"{tile.path}: the log does not serve it as its checkpoint "
                           f"requires: {exc}", kind="tile", index=index) from None
    return hashes, entries


def _with_cosignatures(checkpoints: Sequence[tuple[int, int, int, str]],
                       cosignatures: Sequence[tuple[int, str, str]]) -> list[str]:
    """Each stored note with the cosignature lines stored for its seq appended,
    as exports carry them."""
    lines: dict[int, list[str]] = {}
    for seq, _vkey, line in cosignatures:
        lines.setdefault(seq, []).append(line)
    out = []
    for seq, _size, _time, note in checkpoints:
        have = set(note.split("\n"))
        out.append(note + "".join(f"{line}\n" for line in lines.get(seq, ())
                                  if line not in have))
    return out


def _claims(meta: Mapping[str, bytes]) -> Claimed:
    def key(name: str) -> bytes | None:
        value = meta.get(name)
        return value if value is not None and len(value) == 32 else None

    try:
        origin: str | None = meta["origin"].decode("utf-8") if "origin" in meta else None
    except UnicodeDecodeError:
        origin = None
    return Claimed(origin, key("root_key"), key("log_key"))


@dataclass(slots=True)
class _Pending:
    """The next checkpoint: its note, and the size it is checked at."""

    seq: int
    note: str
    at: int


class _Run:
    """One replay: the entry stream with the checkpoints checked in between."""

    def __init__(self, source: LogSource, log: NoteVerifier, root_key: bytes,
                 witnesses: tuple[NoteVerifier, ...], progress: Progress | None) -> None:
        self.source, self.log, self.witnesses, self.progress = source, log, witnesses, progress
        self.tree = _merkle.MemoryTree()
        self.heads = HeadMap()
        self.count = 0  # entries read and decided
        self.last_time = 0
        self.current: int | None = None  # the index of the entry being decided
        self.latest: CheckpointSummary | None = None
        self.checked = 0
        self.cosigned: dict[NoteVerifier, int] = dict.fromkeys(witnesses, 0)
        self.others = 0
        self.warnings = _mismatches(source.claimed, log, root_key)

    # -- the entry stream ---------------------------------------------------------

    def records(self) -> Generator[Entry, None, None]:
        """Each entry checked and decoded, for the rules; checkpoints checked
        once every entry they cover has been decided."""
        notes = enumerate(self.source.checkpoints)
        pending = self._next(notes)
        total = self.source.size
        if self.progress is not None:
            self.progress(REPLAYING, 0, total)
        for raw in self.source.entries:
            while pending is not None and pending.at <= self.count:
                self._checkpoint(pending)
                pending = self._next(notes)
            yield self._entry(raw)
            self.current = None
            self.count += 1
            if self.progress is not None and self.count % EVERY == 0:
                self.progress(REPLAYING, self.count, total)
        while pending is not None:
            self._checkpoint(pending)
            pending = self._next(notes)
        if self.progress is not None:
            self.progress(REPLAYING, self.count, self.count)

    def _entry(self, raw: bytes) -> Entry:
        i = self.count
        try:
            entry = decode_entry(raw)
        except DecodeError as exc:
            raise MonitorError(f"entry {i}: {exc}", kind="entry", index=i) from None
        if entry.index != i:
            raise MonitorError(f"entry {i}: its bytes say index {entry.index}", kind="entry",
                               index=i)
        if entry.time < self.last_time:
            raise MonitorError(f"entry {i}: log time {entry.time} goes back from "
                               f"{self.last_time}", kind="entry", index=i)
        try:
            stmt = verify_statement(entry.statement)
        except SignatureError as exc:
            raise MonitorError(f"entry {i}: {exc}", kind="signature", index=i) from None
        except DecodeError as exc:
            raise MonitorError(f"entry {i}: {exc}", kind="entry", index=i) from None
        self.last_time = entry.time
        leaf = _merkle.leaf_hash(raw)
        self.tree.append_leaf_hash(leaf)
        self.heads.record(stmt.subject, leaf)
        self.current = i
        return (i, entry.time, stmt)

    def refused(self, exc: ProvLedgerError) -> MonitorError:
        """The finding for the rules refusing the entry being decided."""
        if self.current is None:  # pragma: no cover - replay raises only while deciding
            return MonitorError(f"replay failed: {exc}", kind="rules")
        i = self.current
        # replay() words its errors for bundles; the index is said here.
        reason = str(exc).removeprefix(f"bundle entry at log index {i}: ")
        return MonitorError(f"entry {i}: the ledger's rules refuse it ({type(exc).__name__}): "
                            f"{reason}", kind="rules", index=i)

    # -- checkpoints --------------------------------------------------------------

    def _next(self, notes: Iterator[tuple[int, str]]) -> _Pending | None:
        """The next note, to be checked once the entries it claims to cover are
        read (its unverified size; at once if that cannot be read)."""
        found = next(notes, None)
        if found is None:
            return None
        seq, note = found
        try:
            at = parse_checkpoint(parse_note(note).text).size
        except CheckpointError:
            at = self.count
        return _Pending(seq, note, at)

    def _checkpoint(self, p: _Pending) -> None:
        where = f"checkpoint {p.seq}"
        body = self._verified(p)
        if body.origin != self.log.name:
            raise MonitorError(f"{where}: origin {body.origin!r} is not {self.log.name!r}",
                               kind="checkpoint", checkpoint=p.seq)
        try:
            heads, time = extension_heads(body), extension_time(body)
        except CheckpointError as exc:
            raise MonitorError(f"{where}: {exc}", kind="checkpoint", checkpoint=p.seq) from None
        last = self.latest
        if last is not None and body.size < last.size:
            raise MonitorError(f"{where}: size {body.size} goes back from {last.size} "
                               f"(checkpoint {last.seq})", kind="order", checkpoint=p.seq)
        if last is not None and time < last.time:
            raise MonitorError(f"{where}: time {time} goes back from {last.time} "
                               f"(checkpoint {last.seq})", kind="order", checkpoint=p.seq)
        if body.size > self.count:
            raise MonitorError(f"{where}: covers {body.size} entries, but the log has only "
                               f"{self.count}", kind="size", checkpoint=p.seq)
        # Checked once exactly body.size entries are read: the tree is theirs.
        root = self.tree.root()
        if body.root_hash != root:
            raise MonitorError(f"{where}: root {body.root_hash.hex()} is not the root of the "
                               f"log's first {body.size} entries ({root.hex()})",
                               kind="tree-root", checkpoint=p.seq)
        expected = self.heads.root()
        if heads != expected:
            raise MonitorError(
                f"{where}: provledger-heads {_b64(heads)} is not the head map of the log's "
                f"first {body.size} entries ({_b64(expected)}): it misstates some subject's "
                "latest entry", kind="head-map", checkpoint=p.seq)
        if time < self.last_time:
            raise MonitorError(f"{where}: time {time} is before the log time {self.last_time} "
                               f"of entry {body.size - 1}, which it covers", kind="order",
                               checkpoint=p.seq)
        # Every root is rebuilt from the same entries, so successive
        # checkpoints are consistent (RFC 9162) by construction.
        self.latest = CheckpointSummary(p.seq, body.size, time, root, heads)
        self.checked += 1

    def _verified(self, p: _Pending) -> Checkpoint:
        """The note's body, signed by the pinned log key; cosignatures by the
        given witnesses verified and counted."""
        where = f"checkpoint {p.seq}"
        try:
            verify_note(p.note, verifiers=[self.log])
            body = parse_checkpoint(parse_note(p.note).text)
        except CheckpointError as exc:
            hint = ""
            claimed = self.source.claimed.log_key
            if claimed is not None and claimed != self.log.public_key:
                hint = (f" (the source names log key {format_public_key(claimed)}, not the "
                        f"{format_public_key(self.log.public_key)} given)")
            raise MonitorError(f"{where}: not signed by the log key {self.log.vkey()}: "
                               f"{exc}{hint}", kind="checkpoint-signature",
                               checkpoint=p.seq) from None
        verified = 1
        if self.witnesses:
            try:
                signed = verify_note(p.note, verifiers=[self.log, *self.witnesses])
            except CheckpointError as exc:
                raise MonitorError(f"{where}: a witness cosignature does not verify: {exc}",
                                   kind="cosignature", checkpoint=p.seq) from None
            for sig in signed.signatures:
                if sig.verifier != self.log:
                    self.cosigned[sig.verifier] += 1
            verified = len(signed.signatures)
        self.others += len(parse_note(p.note).signatures) - verified
        return body

    def report(self, pinned: bool) -> MonitorReport:
        self.heads.root()  # folds in the entries after the last checkpoint
        warnings = list(self.warnings)
        if not pinned:
            warnings.append("the root key was taken from the source, not pinned: the rules "
                            "were replayed against a root the log itself names")
        if self.latest is None:
            warnings.append("no checkpoint: the log has signed nothing to check")
        elif self.latest.size < self.count:
            first, last = self.latest.size, self.count - 1
            which = f"entry {first} is" if first == last else f"entries {first}..{last} are"
            verb = "its rules were" if first == last else "their rules were"
            warnings.append(f"{which} not covered by a checkpoint yet ({verb} checked)")
        return MonitorReport(origin=self.log.name, entries=self.count,
                             subjects=self.heads.subjects, checkpoints=self.checked,
                             latest=self.latest, cosignatures=dict(self.cosigned),
                             other_signatures=self.others, root_pinned=pinned,
                             warnings=tuple(warnings))


def _mismatches(claimed: Claimed, log: NoteVerifier, root_key: bytes) -> list[str]:
    """Where the source's own claims differ from what the caller pinned."""
    out = []
    if claimed.origin is not None and claimed.origin != log.name:
        out.append(f"the source names origin {claimed.origin!r}, not {log.name!r}")
    if claimed.log_key is not None and claimed.log_key != log.public_key:
        out.append(f"the source names log key {format_public_key(claimed.log_key)}, not "
                   f"the pinned {format_public_key(log.public_key)}")
    if claimed.root_key is not None and claimed.root_key != root_key:
        out.append(f"the source names root key {format_public_key(claimed.root_key)}, not "
                   f"{format_public_key(root_key)}")
    return out


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()
