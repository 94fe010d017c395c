"""Provenance bundles: one file holding everything needed to verify an item offline.

A bundle (spec/bundle.md) carries the item's entries and those of every
authority they rely on, each with an inclusion proof against one signed
checkpoint, and a head-map proof per subject showing that its last entry in
the bundle was its latest entry in the log at that checkpoint.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from . import _codec, _smt
from ._entry import decode_entry
from ._errors import NotFoundError
from ._events import RoleGranted, _Wire
from ._merkle import consistency_proof
from ._state import AuthorityState
from ._statement import AUTHORITY_PREFIX, Subject, authority_subject, verify_statement
from ._store import Store
from ._tlog import SignedCheckpoint, inclusion_proof
from ._types import Digest, Origin, PublicKey
from ._view import StateView

MAX_BUNDLE_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 4096
MAX_SUBJECTS = 256

Proof = Annotated[list[Digest], Meta(max_length=64)]


class BundleEntry(_Wire, frozen=True, kw_only=True):
    """A log entry and its inclusion proof against the bundle's checkpoint."""

    entry: Annotated[bytes, Meta(max_length=70_000)]
    proof: Proof


class HeadProof(_Wire, frozen=True, kw_only=True):
    """Head-map proof that ``subject``'s last entry in the bundle is its head,
    or, with ``absent``, that ``subject`` has no entry in the log at all."""

    proof: Annotated[list[Digest], Meta(max_length=256)]
    #: Absence proofs only: where the subject's path ends, b"" for an empty
    #: subtree or the 64 bytes key || value of the one other key there.
    absent: Annotated[bytes, Meta(max_length=64)] | None = None
    subject: Subject


class ConsistencyProof(_Wire, frozen=True, kw_only=True):
    """An older signed checkpoint and the RFC 9162 proof that the bundle's extends it."""

    proof: Proof
    checkpoint: Annotated[str, Meta(max_length=1024 * 1024)]


class Bundle(_Wire, frozen=True, kw_only=True):
    """The bundle file (deterministic CBOR), fields in canonical key order."""

    v: Literal[1]
    item: Subject
    heads: Annotated[list[HeadProof], Meta(min_length=1, max_length=MAX_SUBJECTS)]
    origin: Origin
    entries: Annotated[list[BundleEntry], Meta(min_length=1, max_length=MAX_ENTRIES)]
    root_key: PublicKey
    checkpoint: Annotated[str, Meta(max_length=1024 * 1024)]
    consistency: Annotated[list[ConsistencyProof], Meta(max_length=16)] = []  # noqa: RUF012


def encode_bundle(bundle: Bundle) -> bytes:
    return _codec.encode_struct(bundle)


def decode_bundle(data: bytes) -> Bundle:
    """Parse bundle bytes (nothing in them is verified yet).

    Raises:
        DecodeError: too large, malformed, non-canonical, or over a count limit.
    """
    return _codec.decode_struct(data, Bundle, what="bundle", max_bytes=MAX_BUNDLE_BYTES)


def export_bundle(store: Store, *, item: str, origin: str, root_key: bytes,
                  checkpoint: SignedCheckpoint, since: tuple[SignedCheckpoint, ...] = ()
                  ) -> bytes:
    """Build the bundle of ``item`` as of ``checkpoint``.

    ``since`` lists older checkpoints a verifier has seen; the bundle then
    carries each with a consistency proof to ``checkpoint``.

    Raises:
        NotFoundError: the item has no entry covered by the checkpoint (sign
            a newer checkpoint), or a ``since`` checkpoint is not older than it.
    """
    size = checkpoint.size
    view = StateView(store, origin=origin, root_key=root_key, at=size)
    head, state = view.head(item)
    if head is None or state is None or item.startswith(AUTHORITY_PREFIX):
        raise NotFoundError(f"{item}: no certificate covered by checkpoint {checkpoint.seq} "
                            f"(size {size}); sign a newer checkpoint")
    subjects = [item, *_authorities(store, view, item, size, root_key)]
    rows = sorted((r for s in subjects for r in store.history(s) if r.index < size),
                  key=lambda r: r.index)
    entries = [BundleEntry(entry=r.entry, proof=inclusion_proof(store, r.index, size))
               for r in rows]
    carried = {r.subject for r in rows}
    heads = [HeadProof(subject=s, proof=_smt.prove(store, _smt.map_key(s), checkpoint.seq)[1])
             for s in subjects if s in carried]
    root = authority_subject(root_key)
    if root not in carried:
        # The verifier relies on the root having no entries: prove it.
        terminal, siblings = _smt.prove_absent(store, _smt.map_key(root), checkpoint.seq)
        heads.append(HeadProof(subject=root, proof=siblings, absent=terminal))
    consistency = []
    for old in since:
        if not 0 < old.size < size:
            raise NotFoundError(f"no consistency proof from size {old.size} to {size}")
        consistency.append(ConsistencyProof(proof=consistency_proof(old.size, size, store),
                                            checkpoint=old.note))
    return encode_bundle(Bundle(v=1, item=item, heads=heads, origin=origin, entries=entries,
                                root_key=root_key, checkpoint=checkpoint.note,
                                consistency=consistency))


def _authorities(store: Store, view: StateView, item: str, size: int,
                 root_key: bytes) -> list[str]:
    """Every authority chain the item's entries rely on, granters included."""
    wanted: list[str] = []
    queue = [r.signer for r in store.history(item) if r.index < size]
    seen_keys: set[bytes] = set()
    while queue:
        key = queue.pop()
        if key in seen_keys:
            continue
        seen_keys.add(key)
        auth = view.authority_of(key)
        if not isinstance(auth, AuthorityState) or auth.subject in wanted:
            continue
        wanted.append(auth.subject)
        for row in store.history(auth.subject):
            if row.index < size:
                queue.append(row.signer)
                event = verify_statement(decode_entry(row.entry).statement).event
                if isinstance(event, RoleGranted):
                    queue.append(event.key)
    root = authority_subject(root_key)
    if root not in wanted and store.head_before(root, size) is not None:
        wanted.append(root)
    return wanted
