"""Export: build an item's bundle (spec/bundle.md) from a store, as of a checkpoint.

The store-backed half of bundles; the format itself is _bundle's, and the
verifier imports only that.
"""

from __future__ import annotations

from collections.abc import Collection

from . import _smt, _smt_tiles
from ._bundle import Bundle, BundleEntry, ConsistencyProof, HeadProof, encode_bundle
from ._disclosure import CONDITION
from ._entry import decode_entry
from ._errors import NotFoundError
from ._events import COMMITTABLE_NAMES, RoleGranted
from ._merkle import consistency_proof
from ._state import AuthorityState
from ._statement import AUTHORITY_PREFIX, authority_subject, verify_statement
from ._storage import Row, Store
from ._tlog import SignedCheckpoint, inclusion_proof
from ._tree import tree_of
from ._view import StateView

#: Every field path ``disclose`` may name (spec/disclosure.md).
DISCLOSABLE = frozenset({*COMMITTABLE_NAMES, f"{CONDITION}.notes"})


def disclosure_paths(disclose: str | Collection[str] | None) -> frozenset[str]:
    """The field paths ``disclose`` names: None (nothing), ``"all"``, or a
    collection of paths such as ``notes`` and ``condition.notes``.

    Raises:
        ValueError: a path that no event can commit (the message lists the valid ones).
    """
    if disclose is None:
        return frozenset()
    if disclose == "all":
        return DISCLOSABLE
    if isinstance(disclose, str):
        disclose = (disclose,)
    wanted = frozenset(disclose)
    unknown = sorted(p for p in wanted if p not in DISCLOSABLE)
    if unknown:
        raise ValueError(f"cannot disclose {', '.join(map(repr, unknown))}: the fields are "
                         f"{', '.join(sorted(DISCLOSABLE))} (or all)")
    return wanted


def export_bundle(store: Store, *, item: str, origin: str, root_key: bytes,
                  checkpoint: SignedCheckpoint, since: tuple[SignedCheckpoint, ...] = (),
                  disclose: str | Collection[str] | None = None) -> bytes:
    """Build the bundle of ``item`` as of ``checkpoint``.

    ``since`` lists older checkpoints a verifier has seen; the bundle then
    carries each with a consistency proof to ``checkpoint``. Every checkpoint
    goes in with the witnesses' cosignatures stored for it.

    ``disclose`` chooses the stored disclosures (spec/disclosure.md) that go
    in beside their entries, the item's and its authorities' alike: None
    (the default) none, ``"all"`` every one still stored, or a collection of
    field paths (``notes``, ``inscription``, ``work``, ``performed_by``,
    ``appraiser``, ``reference``, ``reason``, ``condition.notes``).

    Raises:
        ValueError: ``disclose`` names a field that cannot be committed.
        NotFoundError: the item has no entry covered by the checkpoint (sign
            a newer checkpoint), or a ``since`` checkpoint is not older than it.
    """
    paths = disclosure_paths(disclose)
    size = checkpoint.size
    view = StateView(store, origin=origin, root_key=root_key, at=size)
    head, state = view.head(item)
    if head is None or state is None or item.startswith(AUTHORITY_PREFIX):
        raise NotFoundError(f"{item}: no certificate covered by checkpoint {checkpoint.seq} "
                            f"(size {size}); sign a newer checkpoint")
    subjects = [item, *_authorities(store, view, item, size, root_key)]
    rows = sorted((r for s in subjects for r in store.history(s) if r.index < size),
                  key=lambda r: r.index)
    private = _disclosures(store, rows, paths) if paths else {}
    entries = [BundleEntry(entry=r.entry, proof=inclusion_proof(store, r.index, size),
                           disclosures=private.get(r.index, []))
               for r in rows]
    carried = {r.subject for r in rows}
    heads = [HeadProof(subject=s, proof=_smt_tiles.prove(store, _smt.map_key(s), checkpoint.seq)[1])
             for s in subjects if s in carried]
    root = authority_subject(root_key)
    if root not in carried:
        # The verifier relies on the root having no entries: prove it.
        terminal, siblings = _smt_tiles.prove_absent(store, _smt.map_key(root), checkpoint.seq)
        heads.append(HeadProof(subject=root, proof=siblings, absent=terminal))
    consistency = []
    for old in since:
        if not 0 < old.size < size:
            raise NotFoundError(f"no consistency proof from size {old.size} to {size}")
        consistency.append(ConsistencyProof(proof=consistency_proof(old.size, size, tree_of(store)),
                                            checkpoint=old.cosigned_note))
    return encode_bundle(Bundle(v=1, item=item, heads=heads, origin=origin, entries=entries,
                                root_key=root_key, checkpoint=checkpoint.cosigned_note,
                                consistency=consistency))


def _disclosures(store: Store, rows: list[Row], paths: frozenset[str]
                 ) -> dict[int, list[bytes]]:
    """The stored disclosures of ``rows`` whose field is in ``paths``, by log
    index, each list in digest order (as spec/bundle.md has them)."""
    wanted = {(r.hash, r.index) for r in rows}
    found: dict[int, list[tuple[bytes, bytes]]] = {}
    for subject in dict.fromkeys(r.subject for r in rows):
        for d in store.disclosure_rows(subject):
            # A leftover of a write that failed has another index: never its statement's.
            if d.path in paths and (d.statement, d.index) in wanted:
                found.setdefault(d.index, []).append((d.digest, d.data))
    return {index: [data for _, data in sorted(set(pairs))] for index, pairs in found.items()}


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
