"""The ledger as a transparency log: roots, proofs and signed checkpoints.

Every entry is a leaf of an RFC 9162 Merkle tree whose perfect subtrees are
stored as entries are appended, so roots at any size and every proof cost
O(log n) reads. Checkpoints are C2SP signed notes by the log key, named by
the log's origin, with one extension line ``provledger-time <unix seconds>``
giving the log's time when it signed (spec/log.md).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from . import _merkle, _smt
from ._errors import (
    CheckpointError,
    NotFoundError,
    ReceiptUnavailableError,
    UnauthorizedError,
)
from ._extensions import HEADS_EXTENSION, TIME_EXTENSION, extension_heads, extension_time
from ._keys import SigningKey, format_public_key, key_id
from ._note import (
    Checkpoint,
    NoteVerifier,
    TlogProof,
    format_checkpoint,
    format_note,
    format_tlog_proof,
    parse_checkpoint,
    sign_note,
    verify_note,
)
from ._progress import BUILDING_HEAD_MAP, EVERY, Progress
from ._receipt import make_receipt
from ._storage import Store
from ._tree import tree_of

#: Head-map nodes written per INSERT while a checkpoint is made.
_NODE_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A stored checkpoint: its note text and what it says."""

    seq: int
    size: int
    time: int
    root: bytes
    #: Root of the head map (subject -> leaf hash of its latest entry) at ``size``.
    heads: bytes
    note: str


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
    # The log's size and the lower siblings of the path, in one read (the
    # upper ones are cached); levels a grown log adds are read as needed.
    levels = max(size or 0, tree.size_seen, 1).bit_length() + 1
    current = tree.prefetch([(lv, (index >> lv) ^ 1) for lv in range(levels)])
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
    out = []
    for seq, size, time, note in store.checkpoints():
        body = parse_checkpoint(verify_note(note, verifiers=[verifier]).text)
        if body.size != size or body.origin != origin or extension_time(body) != time:
            raise CheckpointError(f"checkpoint {seq}: stored columns disagree with its note")
        out.append(SignedCheckpoint(seq, size, time, body.root_hash, extension_heads(body),
                                    note))
    return out


def head_map_into(store: Store, *, previous: SignedCheckpoint | None, size: int,
                  emit: _smt.Emit, progress: Progress | None = None) -> bytes:
    """The head-map root at ``size``; the nodes to store for it go to ``emit``.

    Memory stays bounded however many subjects changed: the changes are
    staged in a scratch table and the nodes streamed. ``progress`` hears of
    the new leaves made, out of the subjects changed (_progress).
    """
    start = previous.size if previous else 0
    changes = ((_smt.map_key(subject), _merkle.leaf_hash(entry))
               for subject, entry in store.changed_heads(start, size))
    with store.staged_changes(changes) as staged:
        total = 0
        if progress is not None:
            total = staged.count(bytes(32), None, 1 << 62)
            emit = _counting(emit, progress, total)
        root = _smt.update_into(store, previous=previous.seq if previous else -1,
                                changes=staged, emit=emit)
    if progress is not None:
        progress(BUILDING_HEAD_MAP, total, total)
    return root


def _counting(emit: _smt.Emit, progress: Progress, total: int) -> _smt.Emit:
    """``emit``, reporting every EVERY leaves (one per changed subject, plus
    the few old leaves a change splits, hence the clamp)."""
    leaves = 0
    progress(BUILDING_HEAD_MAP, 0, total)

    def counted(depth: int, position: bytes, node: _smt.Node) -> None:
        nonlocal leaves
        emit(depth, position, node)
        if node.key is not None:
            leaves += 1
            if leaves % EVERY == 0:
                progress(BUILDING_HEAD_MAP, min(leaves, total), total)

    return counted


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
    nodes: list[tuple[int, bytes, _smt.Node]] = []

    def emit(depth: int, position: bytes, node: _smt.Node) -> None:
        nodes.append((depth, position, node))
        if len(nodes) >= _NODE_BATCH:
            store.insert_map_nodes(seq, nodes)
            nodes.clear()

    # Nodes are written as they are made, inside the caller's transaction:
    # a failure before the checkpoint is stored rolls them back with it.
    heads = head_map_into(store, previous=previous[-1] if previous else None, size=size,
                          emit=emit, progress=progress)
    extensions = (f"{HEADS_EXTENSION}{base64.b64encode(heads).decode()}",
                  f"{TIME_EXTENSION}{time}")
    body = format_checkpoint(Checkpoint(origin, size, new_root, extensions))
    note = format_note(body, [sign_note(body, name=origin, key=key)])
    store.insert_map_nodes(seq, nodes)
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
                                       checkpoint=checkpoint.note))


def receipt(store: Store, index: int, checkpoint: SignedCheckpoint, key: SigningKey,
            log_key: bytes) -> bytes:
    """A COSE Receipt (RFC 9942, RFC9162_SHA256) of entry ``index``, signed by the log key.

    Its ``kid`` is :func:`provledger._keys.key_id` of the log key (spec/log.md 6.2).

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
    return make_receipt(key, kid=key_id(log_key), leaf_index=index,
                        tree_size=checkpoint.size, proof=proof, root=checkpoint.root)
