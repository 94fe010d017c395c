"""``provledger publish``: a ledger's latest checkpoint written out as a static
directory any web server can serve (spec/tiles.md): the checkpoint with its
cosignatures, every hash tile and entry bundle up to its size, and every
item's bundle, history and status page, with the item indexes.

Incremental: a state file (:data:`STATE_FILE`) records what the directory
holds (origin, log key, size, checkpoint); a later publish writes only what is
new or changed. Full tiles and entry bundles are written once and never
rewritten; any tile about to be written that exists with other bytes stops the
publish (the directory belongs to another log, or was tampered with). Each
file is written to a temporary name, flushed and renamed; the checkpoint is
written after everything it covers, the state last. Items are re-made at
every new checkpoint (each bundle holds as of the published checkpoint), or,
with ``changed_only``, only those that changed (spec/tiles.md, "Publishing").
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from . import _publish
from ._errors import CheckpointError, NotFoundError, ProofError, StorageError
from ._note import NoteVerifier, verify_checkpoint
from ._progress import EVERY, Progress
from ._tile_client import CHECKPOINT, TileReader, TileTree, local_path
from ._tiles import TILE_WIDTH, Tile, entry_bundle, tile_hashes, tiles_for
from ._web_paths import item_path

if TYPE_CHECKING:
    from ._ledger import Ledger
    from ._policy import Policy
    from ._tlog import SignedCheckpoint

STATE_FILE: Final = ".provledger-publish.json"
LOCK_FILE: Final = ".provledger-publish.lock"
STATE_FORMAT: Final = "provledger-publish/1"
#: With changed_only: an unchanged item's files are re-made once they hold as
#: of a checkpoint older than this (half the default max-age), so a directory
#: published at least that often never serves a bundle verifiers find stale.
DEFAULT_REFRESH: Final = 43_200
WRITING_TILES: Final = "writing tiles"
WRITING_ITEMS: Final = "writing items"


@dataclass(frozen=True)
class PublishResult:
    """What a publish did."""

    directory: Path
    checkpoint: SignedCheckpoint
    #: The size the directory held before (None: it was new).
    previous: int | None
    #: Relative paths written, in order.
    written: tuple[str, ...]
    #: Tiles that were already there with the same bytes (not rewritten).
    kept: int
    #: Items whose files were (re)made.
    items: int
    #: Items whose path names no file (a '.' or '..' serial): not published.
    unpublishable: tuple[str, ...] = field(default=())

    @property
    def up_to_date(self) -> bool:
        return not self.written


@dataclass(frozen=True)
class _State:
    size: int
    seq: int | None
    root: bytes
    note_sha256: str | None


def publish(ledger: Ledger, directory: str | Path, *, now: int, base_url: str | None = None,
            policy: Policy | None = None, changed_only: bool = False,
            refresh: int = DEFAULT_REFRESH, progress: Progress | None = None) -> PublishResult:
    """Publish ``ledger``'s latest checkpoint into ``directory`` (created if
    missing), incrementally.

    ``now`` is the time pages are made at; ``policy`` the trust policy item
    bundles are verified under (default: the ledger's own); ``base_url`` the
    URL the directory will be served at (items.json then gives full URLs).

    Raises:
        NotFoundError: the ledger has no checkpoint yet.
        StorageError: the directory is not empty and not a publish of this
            log, holds a file of this log with other bytes than the log's
            (tampered, or another log's), is being published by another
            process, or cannot be written.
        VerificationError: an item's bundle does not verify under ``policy``
            (QuorumError: the checkpoint lacks its witness quorum); nothing
            of the checkpoint is published then, though tiles may be.
    """
    root = Path(directory)
    checkpoint = ledger.latest_checkpoint()
    with _locked(root):
        state = _read_state(root, ledger)
        if state is None:
            _write_state(root, ledger, _State(0, None, b"", None))
        out = _Writer(root)
        kept = _write_tiles(out, ledger, checkpoint, state, progress)
        note = checkpoint.cosigned_note
        sha = hashlib.sha256(note.encode()).hexdigest()
        made, unpublishable = 0, tuple[str, ...]()
        if state is None or state.note_sha256 != sha:
            made, unpublishable = _write_items(out, ledger, checkpoint, state, now=now,
                                               base_url=base_url, policy=policy,
                                               changed_only=changed_only, refresh=refresh,
                                               progress=progress)
            out.write(CHECKPOINT, note.encode())  # after all it covers
            _write_state(root, ledger, _State(checkpoint.size, checkpoint.seq,
                                              checkpoint.root, sha))
    return PublishResult(root, checkpoint, None if state is None else state.size,
                         tuple(out.written), kept, made, unpublishable)


# -- the state and the directory's checks -------------------------------------------


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One publish at a time per directory (an advisory lock file in it)."""
    if root.exists() and not root.is_dir():
        raise StorageError(f"{root}: not a directory")
    fresh = not root.exists() or not any(p.name != LOCK_FILE for p in root.iterdir())
    if not fresh and not (root / STATE_FILE).exists():
        raise StorageError(f"{root}: not empty and not a provledger publish directory (no "
                           f"{STATE_FILE}); publish into an empty or new directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = (root / LOCK_FILE).open("a")
    except OSError as exc:
        raise StorageError(f"{root}: cannot publish into it ({exc.strerror or exc})") from None
    with lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StorageError(f"{root}: another publish into it is running") from None
        yield


def _read_state(root: Path, ledger: Ledger) -> _State | None:
    """What the directory holds, checked against the ledger; None if new.

    Raises:
        StorageError: it is another log's, the ledger is behind it, or its
            checkpoint or right-edge tiles are not the log's.
    """
    path = root / STATE_FILE
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_bytes())
        fmt = doc["format"]
        origin, vkey, size = str(doc["origin"]), str(doc["log"]), int(doc["size"])
        seq = None if doc["seq"] is None else int(doc["seq"])
        state = _State(size, seq, bytes.fromhex(doc["root"]),
                       None if doc["checkpoint_sha256"] is None else str(doc["checkpoint_sha256"]))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise StorageError(f"{path}: not a readable publish state ({exc})") from None
    if fmt != STATE_FORMAT:
        raise StorageError(f"{path}: a publish state of format {fmt!r}, not {STATE_FORMAT}")
    if (origin, vkey) != (ledger.origin, ledger.log_vkey()):
        raise StorageError(f"{root} holds a publish of the log {origin!r} (key {vkey}), not "
                           f"of {ledger.origin!r} (key {ledger.log_vkey()}): publish into "
                           "another directory")
    if size > len(ledger):
        raise StorageError(f"{root} holds the log at size {size}, but this ledger has only "
                           f"{len(ledger)} entries: an older copy of the ledger?")
    if size and ledger.root(size) != state.root:
        raise StorageError(f"{root} holds a tree of size {size} whose root is not this "
                           "ledger's at that size: another ledger with the same origin and "
                           "key (a fork), or a tampered state file")
    if size:
        _check_published(root, ledger, state)
    return state


def _check_published(root: Path, ledger: Ledger, state: _State) -> None:
    """The published checkpoint is the log's, and the tiles a root of the
    published size needs (the right edge) give that root."""
    try:
        text = (root / CHECKPOINT).read_text(encoding="utf-8")
        body = verify_checkpoint(text, origin=ledger.origin, witnesses=(), quorum=0,
                                 log_key=NoteVerifier(ledger.origin, ledger.log_key)).checkpoint
    except (OSError, UnicodeDecodeError, CheckpointError) as exc:
        raise StorageError(f"{root / CHECKPOINT}: not a checkpoint of {ledger.origin} "
                           f"({exc}); the directory was tampered with") from None
    if body.size > len(ledger) or body.root_hash != ledger.root(body.size):
        raise StorageError(f"{root / CHECKPOINT}: a checkpoint at size {body.size} whose "
                           "root is not this ledger's (a fork, or another copy of the log)")
    try:
        TileTree(TileReader(root), state.size).check_root(state.root)
    except (ProofError, NotFoundError) as exc:
        raise StorageError(f"{root}: its tiles do not give the published root at size "
                           f"{state.size} ({exc}); the directory was tampered with or "
                           "pruned: publish into a new directory") from None


def _write_state(root: Path, ledger: Ledger, state: _State) -> None:
    doc = {"format": STATE_FORMAT, "origin": ledger.origin, "log": ledger.log_vkey(),
           "size": state.size, "seq": state.seq, "root": state.root.hex(),
           "checkpoint_sha256": state.note_sha256}
    _Writer(root).write(STATE_FILE, json.dumps(doc, indent=1).encode() + b"\n")


# -- writing ------------------------------------------------------------------------


class _Writer:
    """Atomic file writes below ``root``: a temporary name, flushed, renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: list[str] = []

    def path(self, relative: str) -> Path:
        return self.root / local_path(relative)

    def write(self, relative: str, data: bytes) -> None:
        path = self.path(relative)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"{path}: cannot write it ({exc.strerror or exc})") from None
        if relative != STATE_FILE:
            self.written.append(relative)

    def existing(self, relative: str) -> bytes | None:
        try:
            return self.path(relative).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{self.path(relative)}: cannot read it "
                               f"({exc.strerror or exc})") from None


def _write_tiles(out: _Writer, ledger: Ledger, checkpoint: SignedCheckpoint,
                 state: _State | None, progress: Progress | None) -> int:
    """Write the tiles and entry bundles of the checkpoint's tree that the
    directory does not hold yet; return how many were there already.

    Raises:
        StorageError: one exists with other bytes (checked before any is written).
    """
    size = checkpoint.size
    todo = [t for t in tiles_for(size) if not _published(t, state.size if state else 0)]
    there = [t for t in todo if out.path(t.path).exists()]  # an interrupted publish's
    for tile in there:
        if out.existing(tile.path) != _tile_bytes(ledger, tile, size):
            raise StorageError(
                f"{out.path(tile.path)} exists with other bytes than this log's tile "
                f"{tile.path}: the directory holds another log's files or was tampered "
                "with; tiles are never rewritten (publish into a new directory)")
    kept = set(there)
    for n, tile in enumerate(todo):
        if progress is not None and n % EVERY == 0:
            progress(WRITING_TILES, n, len(todo))
        if tile not in kept:
            out.write(tile.path, _tile_bytes(ledger, tile, size))
    if progress is not None:
        progress(WRITING_TILES, len(todo), len(todo))
    return len(kept)


def _tile_bytes(ledger: Ledger, tile: Tile, size: int) -> bytes:
    if tile.level is None:
        return entry_bundle(ledger.store, tile, size)
    return tile_hashes(ledger.store, tile, size)


def _published(tile: Tile, size: int) -> bool:
    """Whether a full tile lies wholly within a tree of ``size`` (it was
    written by the publish of that size, and is never looked at again)."""
    level = tile.level or 0
    return not tile.partial and (tile.index + 1) * TILE_WIDTH * TILE_WIDTH ** level <= size


def _write_items(out: _Writer, ledger: Ledger, checkpoint: SignedCheckpoint,
                 state: _State | None, *, now: int, base_url: str | None,
                 policy: Policy | None, changed_only: bool, refresh: int,
                 progress: Progress | None) -> tuple[int, tuple[str, ...]]:
    """Write the items' files and the indexes; return how many items were
    made, and those that cannot be published at their path."""
    everything = _publish.item_ids(ledger, checkpoint.size)
    unpublishable = _unpublishable(everything)
    kept: dict[str, _publish.ItemRecord] = {}
    if changed_only and state is not None and state.seq != checkpoint.seq:
        kept = _unchanged(out, ledger, state.size, checkpoint.size, fresh=now - refresh)
    todo = [i for i in everything if i not in kept and i not in unpublishable]
    records = dict(kept)
    for n, item in enumerate(todo):
        if progress is not None and n % EVERY == 0:
            progress(WRITING_ITEMS, n, len(todo))
        files = _publish.item_files(ledger, item, checkpoint, now=now, policy=policy)
        for relative, data in files.files().items():
            out.write(relative, data)
        records[item] = files.record
    if progress is not None:
        progress(WRITING_ITEMS, len(todo), len(todo))
    listed = [records[i] for i in everything if i in records]
    out.write(_publish.ITEMS_JSON, _publish.items_json(
        origin=ledger.origin, checkpoint=checkpoint, items=listed, base_url=base_url))
    out.write(_publish.INDEX, _publish.index_html(origin=ledger.origin, checkpoint=checkpoint,
                                                  items=listed))
    return len(todo), tuple(sorted(unpublishable))


def _unpublishable(items: list[str]) -> set[str]:
    """The items whose path names no file below the directory.

    Raises:
        StorageError: two items would have the same files.
    """
    paths: dict[str, str] = {}
    out = set()
    for item in items:
        try:
            where = local_path(item_path(item))
        except NotFoundError:
            out.add(item)
            continue
        if where in paths:
            raise StorageError(f"items {paths[where]} and {item} would be published at the "
                               f"same path {where}")
        paths[where] = item
    return out


def _unchanged(out: _Writer, ledger: Ledger, since: int, size: int, *,
               fresh: int) -> dict[str, _publish.ItemRecord]:
    """With changed_only: the records (from the published items.json) of the
    items whose files may stay: no entry of theirs or of any authority since
    the published size, and made at a checkpoint no older than ``fresh``.
    Empty when items.json is not one this module wrote, or an authority
    changed: every item is re-made then."""
    previous = _publish.read_items_json(out.existing(_publish.ITEMS_JSON) or b"")
    if previous is None or _publish.authorities_changed(ledger, since, size):
        return {}
    changed = set(_publish.item_ids(ledger, size, since=since))
    return {r.id: r for r in previous if r.id not in changed and r.time >= fresh}
