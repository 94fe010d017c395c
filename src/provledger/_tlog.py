"""The ledger as a transparency log: roots, proofs and signed checkpoints.

Every entry is a leaf of an RFC 9162 Merkle tree whose perfect subtrees are
stored as entries are appended, so roots at any size and every proof cost
O(log n) reads. Checkpoints are C2SP signed notes by the log key, named by
the log's origin, with one extension line ``provledger-time <unix seconds>``
giving the log's time when it signed (spec/log.md). Witnesses' cosignatures
(c2sp.org/tlog-cosignature v1) are stored beside each note, which stays as
signed, and are re-verified whenever checkpoints are read.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import _headmap_first, _merkle, _smt, _smt_tiles
from ._cosignatures import Cosignature, given_cosignatures, stored_cosignature
from ._errors import (
    CheckpointError,
    NotFoundError,
    ReceiptUnavailableError,
    UnauthorizedError,
)
from ._extensions import HEADS_EXTENSION, TIME_EXTENSION, extension_heads, extension_time
from ._keys import SigningKey, format_public_key, key_id
from ._note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    NoteVerifier,
    TlogProof,
    format_checkpoint,
    format_note,
    format_tlog_proof,
    parse_checkpoint,
    parse_note,
    sign_note,
    verify_note,
)
from ._parallel import default_processes
from ._progress import BUILDING_HEAD_MAP, Progress
from ._receipt import MAX_RECEIPT_BYTES, make_receipt
from ._smt_tiles import MapTileRow
from ._storage import Store
from ._tree import tree_of

#: What a receipt needs besides its checkpoint note: 64 proof hashes and headers.
_RECEIPT_ROOM = 3 * 1024


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A stored checkpoint: its note text, what it says, and who cosigned it."""

    seq: int
    size: int
    time: int
    root: bytes
    #: Root of the head map (subject -> leaf hash of its latest entry) at ``size``.
    heads: bytes
    #: The note as the log signed it (the log's signature only).
    note: str
    #: Witness cosignatures, each verified, in the order they were stored.
    cosignatures: tuple[Cosignature, ...] = ()

    @property
    def cosigned_note(self) -> str:
        """The log-signed note followed by its cosignature lines, as exported."""
        return self.note + "".join(c.line + "\n" for c in self.cosignatures)


def check_log_key(key: SigningKey, log_key: bytes, what: str) -> None:
    """Raise UnauthorizedError unless ``key`` is the log key."""
    if key.public_key != log_key:
        raise UnauthorizedError(
            f"{what} must be signed by the log key {format_public_key(log_key)}, "
            f"not {format_public_key(key.public_key)}")


def log_verifier(origin: str, log_key: bytes) -> NoteVerifier:
    """The C2SP note verifier of a log (key name = origin)."""
    return NoteVerifier(origin, log_key)


def check_size(store: Store, size: int | None) -> int:
    """``size`` or the current size; a size beyond the log is NotFoundError."""
    current = store.size()
    if size is None:
        return current
    if not 0 <= size <= current:
        raise NotFoundError(f"tree size {size}: the log has {current} entries")
    return size


def root(store: Store, size: int | None = None) -> bytes:
    """MTH of the first ``size`` entries (default: all).

    Raises:
        NotFoundError: ``size`` exceeds the log.
    """
    return _merkle.root(check_size(store, size), tree_of(store))


def inclusion_proof(store: Store, index: int, size: int | None = None) -> list[bytes]:
    """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``.

    Raises:
        NotFoundError: ``index`` or ``size`` lies outside the log.
    """
    tree = tree_of(store)
    # The log's size and the path's tiles not in memory, in one read.
    current = tree.prefetch_path(index, size)
    n = current if size is None else size
    if not 0 <= n <= current:
        raise NotFoundError(f"tree size {n}: the log has {current} entries")
    if not 0 <= index < n:
        raise NotFoundError(f"entry {index}: not in a tree of {n} entries")
    return _merkle.inclusion_proof(index, n, tree)


def consistency_proof(store: Store, old: int, new: int | None = None) -> list[bytes]:
    """RFC 9162 consistency proof from tree size ``old`` to ``new``.

    Raises:
        NotFoundError: a size lies outside the log, or ``old`` is 0 or > ``new``.
    """
    n = check_size(store, new)
    if not 0 < old <= n:
        raise NotFoundError(f"no consistency proof from size {old} to {n} (need 0 < old <= new)")
    return _merkle.consistency_proof(old, n, tree_of(store))


def checkpoints(store: Store, origin: str, log_key: bytes) -> list[SignedCheckpoint]:
    """Every stored checkpoint, oldest first, signatures re-verified.

    Raises:
        CheckpointError: a stored note does not verify or parse.
    """
    verifier = log_verifier(origin, log_key)
    cosigned: dict[int, list[tuple[str, str]]] = {}
    for seq, vkey, line in store.cosignatures():
        cosigned.setdefault(seq, []).append((vkey, line))
    out = []
    for seq, size, time, note in store.checkpoints():
        text = verify_note(note, verifiers=[verifier]).text
        body = parse_checkpoint(text)
        if body.size != size or body.origin != origin or extension_time(body) != time:
            raise CheckpointError(f"checkpoint {seq}: stored columns disagree with its note")
        cosignatures = tuple(stored_cosignature(seq, text, vkey, line)
                             for vkey, line in cosigned.pop(seq, ()))
        out.append(SignedCheckpoint(seq, size, time, body.root_hash, extension_heads(body),
                                    note, cosignatures))
    if cosigned:
        raise CheckpointError(f"a cosignature is stored for checkpoint {min(cosigned)}, "
                              "which the log never signed")
    return out


def witnessed_sizes(signed: Sequence[SignedCheckpoint]) -> dict[str, int]:
    """For each witness (vkey text) with a stored cosignature: the largest tree
    size it cosigned, which is where its next add-checkpoint request starts."""
    sizes: dict[str, int] = {}
    for cp in signed:
        for c in cp.cosignatures:
            vkey = c.witness.vkey()
            sizes[vkey] = max(sizes.get(vkey, 0), cp.size)
    return sizes


def add_cosignatures(store: Store, *, origin: str, log_key: bytes, seq: int, text: str,
                     witnesses: Sequence[NoteVerifier]) -> list[str]:
    """Verify cosignature lines of checkpoint ``seq`` and store the new ones.

    ``text`` is signature lines (a witness's answer, ``provledger witness
    cosign`` output) or a whole signed note of the same checkpoint text.
    Lines by keys not in ``witnesses`` are ignored, as is a cosignature by a
    witness that already has one stored for ``seq``; so adding twice adds
    nothing the second time. Returns the names of the witnesses added.

    Raises:
        NotFoundError: no checkpoint ``seq``.
        CheckpointError: as :func:`provledger._cosignatures.given_cosignatures`,
            or more cosignatures than a note may carry; nothing is written.
        ValueError: a witness key is not type 0x04, or two are the same key.
        StorageError: the database failed (LedgerBusyError: retry).
    """
    signed = checkpoints(store, origin, log_key)
    target = next((c for c in signed if c.seq == seq), None)
    if target is None:
        raise NotFoundError(f"no checkpoint {seq}: the log has signed {len(signed)}")
    new = given_cosignatures(text, parse_note(target.note).text, witnesses)
    with store.write():
        stored = [(vkey, line) for s, vkey, line in store.cosignatures() if s == seq]
        have = {vkey for vkey, _ in stored}
        rows = [(seq, vkey, c.line) for vkey, c in new.items() if vkey not in have]
        lines = [line for _, line in stored] + [line for _, _, line in rows]
        note = target.note + "".join(line + "\n" for line in lines)
        if 1 + len(lines) > MAX_SIGNATURES or len(note.encode()) > MAX_NOTE_BYTES:
            raise CheckpointError(f"checkpoint {seq} would carry more signatures than a note "
                                  f"may ({MAX_SIGNATURES} lines, {MAX_NOTE_BYTES} bytes)")
        store.insert_cosignatures(rows)
    return [new[vkey].witness.name for _, vkey, _ in rows]


Sink = Callable[[list[MapTileRow]], None]


def head_map_into(store: Store, *, previous: SignedCheckpoint | None, size: int,
                  sink: Sink, progress: Progress | None = None) -> bytes:
    """The head-map root at ``size``; the tiles to store for it go to ``sink``
    in batches.

    Memory stays bounded however many subjects changed: the changes are
    staged in a scratch table and the tiles streamed. A large first map is
    built on every core (_headmap_first); otherwise the changes are applied
    to the previous version's tiles (_smt_tiles.update). ``progress`` hears
    of the changes applied, out of the subjects changed (_progress).
    """
    if previous is None:
        def mapped(done: int, total: int) -> None:
            if progress is not None:
                progress(BUILDING_HEAD_MAP, done, total)

        built = _headmap_first.build_first(store, size, sink, default_processes(), mapped)
        if built is not None:
            return built[0]
    start = previous.size if previous else 0
    leaf_hash, map_key = _merkle.leaf_hash, _smt.map_key
    changes = ((map_key(subject), leaf_hash(entry))
               for subject, entry in store.changed_heads(start, size))
    with store.staged_changes(changes) as staged:
        total = staged.count(bytes(32), None, 1 << 62) if progress is not None else 0
        applied = 0

        def report(n: int) -> None:
            nonlocal applied
            applied += n
            if progress is not None:
                progress(BUILDING_HEAD_MAP, min(applied, total), total)

        if progress is not None:
            progress(BUILDING_HEAD_MAP, 0, total)
        batches = _smt_tiles.Batches(sink)
        root = _smt_tiles.update(store, previous=previous.seq if previous else -1,
                                 changes=staged, emit=batches.emit,
                                 applied=report if progress is not None else None)
        batches.flush()
    if progress is not None:
        progress(BUILDING_HEAD_MAP, total, total)
    return root


def sign_checkpoint(store: Store, *, origin: str, log_key: bytes, key: SigningKey,
                    now: int, progress: Progress | None = None) -> SignedCheckpoint:
    """Sign and store a checkpoint of the whole log; call inside ``store.write()``.

    ``progress`` hears how far the head map is built (_progress).

    Raises:
        UnauthorizedError: ``key`` is not the log's key.
        CheckpointError: the new tree is not consistent with the last checkpoint
            (the stored tree is damaged); nothing is written.
    """
    check_log_key(key, log_key, "checkpoints")
    size = store.size()
    new_root = _merkle.root(size, tree_of(store))
    previous = checkpoints(store, origin, log_key)
    # Never older than the entries it covers, nor than the previous checkpoint.
    time = max(now, store.last_time())
    if previous:
        last = previous[-1]
        time = max(time, last.time)
        if last.size > size:
            raise CheckpointError(f"the log shrank from {last.size} to {size} entries")
        if last.size == size and last.root != new_root:
            raise CheckpointError(f"tree of size {size} changed since checkpoint {last.seq}")
        if 0 < last.size < size:
            proof = _merkle.consistency_proof(last.size, size, tree_of(store))
            try:
                _merkle.verify_consistency(old_size=last.size, new_size=size,
                                           old_root=last.root, new_root=new_root, proof=proof)
            except Exception as exc:
                raise CheckpointError(f"refusing to sign: size {size} is not consistent with "
                                      f"checkpoint {last.seq} ({exc})") from None
    seq = previous[-1].seq + 1 if previous else 0

    def sink(rows: list[MapTileRow]) -> None:
        store.insert_map_tiles(seq, rows)

    # Nodes are written as they are made, inside the caller's transaction:
    # a failure before the checkpoint is stored rolls them back with it.
    heads = head_map_into(store, previous=previous[-1] if previous else None, size=size,
                          sink=sink, progress=progress)
    extensions = (f"{HEADS_EXTENSION}{base64.b64encode(heads).decode()}",
                  f"{TIME_EXTENSION}{time}")
    body = format_checkpoint(Checkpoint(origin, size, new_root, extensions))
    note = format_note(body, [sign_note(body, name=origin, key=key)])
    store.insert_checkpoint(seq, size, time, note)
    return SignedCheckpoint(seq, size, time, new_root, heads, note)


def latest(store: Store, origin: str, log_key: bytes) -> SignedCheckpoint:
    """The newest checkpoint.

    Raises:
        NotFoundError: none has been signed yet.
    """
    found = checkpoints(store, origin, log_key)
    if not found:
        raise NotFoundError("no checkpoint has been signed yet (run `provledger checkpoint`)")
    return found[-1]


def tlog_proof(store: Store, index: int, checkpoint: SignedCheckpoint) -> str:
    """A C2SP tlog-proof text for entry ``index`` against ``checkpoint``.

    Raises:
        NotFoundError: the checkpoint does not cover ``index``.
    """
    proof = inclusion_proof(store, index, checkpoint.size)
    return format_tlog_proof(TlogProof(index=index, proof=tuple(proof),
                                       checkpoint=checkpoint.cosigned_note))


def receipt(store: Store, index: int, checkpoint: SignedCheckpoint, key: SigningKey,
            log_key: bytes) -> bytes:
    """A COSE Receipt (RFC 9942, RFC9162_SHA256) of entry ``index``, signed by the log key.

    Its ``kid`` is :func:`provledger._keys.key_id` of the log key, and it
    carries the checkpoint note with its cosignatures (spec/log.md 6.2).

    Raises:
        UnauthorizedError: ``key`` is not the log key.
        NotFoundError: the checkpoint does not cover ``index``.
        ReceiptUnavailableError: the checkpoint's tree has one entry, whose
            empty inclusion path RFC 9942's CDDL does not allow.
    """
    check_log_key(key, log_key, "receipts")
    proof = inclusion_proof(store, index, checkpoint.size)
    if checkpoint.size == 1:
        raise ReceiptUnavailableError(
            f"no COSE Receipt for entry {index}: the latest checkpoint ({checkpoint.seq}) is of "
            "a one-entry log (tree size 1), whose empty inclusion path RFC 9942 does not "
            "allow; sign a checkpoint over two or more entries, or use a tlog-proof")
    if len(checkpoint.cosigned_note.encode()) > MAX_RECEIPT_BYTES - _RECEIPT_ROOM:
        raise ReceiptUnavailableError(
            f"no COSE Receipt for entry {index}: checkpoint {checkpoint.seq} with its "
            f"{len(checkpoint.cosignatures)} cosignatures is too long to carry in one "
            f"({MAX_RECEIPT_BYTES} bytes at most); use a tlog-proof")
    return make_receipt(key, kid=key_id(log_key), leaf_index=index,
                        tree_size=checkpoint.size, proof=proof, root=checkpoint.root,
                        checkpoint=checkpoint.cosigned_note)
