"""The bundle verifier's shortcuts give exactly the results of the long way.

Two places verify_bundle saves work (issue 18): inclusion proofs share the
hashing of the upper levels their paths have in common (``memo``), and the
item's history is not replayed a second time when no revocation touched it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import provledger as pl
from provledger import _merkle
from provledger._bundle import decode_bundle
from provledger._errors import ProofError
from provledger._history import replay_item
from provledger._replay import replay
from provledger._verify import _checkpoint, _entries

from .conftest import World, make_world
from .test_bundle import LOG, policy_of, repair

SIZES = (1, 2, 3, 7, 8, 100, 255, 256, 257)


def _tree(n: int) -> _merkle.MemoryTree:
    tree = _merkle.MemoryTree()
    for i in range(n):
        tree.append(f"entry {i}".encode())
    return tree


def _outcome(leaf: bytes, index: int, size: int, proof: list[bytes],
             memo: _merkle.InclusionMemo | None) -> bytes | str:
    try:
        return _merkle.root_from_inclusion_proof(leaf, index=index, size=size, proof=proof,
                                                 memo=memo)
    except ProofError as exc:
        return f"ProofError: {exc}"


@pytest.mark.parametrize("size", SIZES)
def test_a_shared_memo_changes_no_root(size: int) -> None:
    tree = _tree(size)
    root = tree.root(size)
    memo: _merkle.InclusionMemo = {}
    for i in range(size):
        proof = _merkle.inclusion_proof(i, size, tree)
        leaf = tree.subtree(0, i)
        assert _outcome(leaf, i, size, proof, memo) == root
        _merkle.verify_inclusion(leaf, index=i, size=size, proof=proof, root=root, memo=memo)
    if size > 2:
        assert memo  # the walks were remembered, and later ones used them


def test_a_full_memo_stops_growing_and_still_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_merkle, "_MEMO_STATES", 20)
    size = 257
    tree = _tree(size)
    memo: _merkle.InclusionMemo = {}
    for i in range(size):
        proof = _merkle.inclusion_proof(i, size, tree)
        assert _outcome(tree.subtree(0, i), i, size, proof, memo) == tree.root(size)
    assert 20 <= len(memo) < 20 + 64


@pytest.mark.parametrize("size", SIZES)
def test_a_shared_memo_changes_no_error(size: int) -> None:
    """Once every honest path is remembered, each tampered proof (a hash
    changed at each position, one too many, one too few, another leaf) has the
    outcome it has without the memo: the same wrong root or the same error."""
    tree = _tree(size)
    memo: _merkle.InclusionMemo = {}
    honest = [(tree.subtree(0, i), _merkle.inclusion_proof(i, size, tree)) for i in range(size)]
    for i, (leaf, proof) in enumerate(honest):
        _outcome(leaf, i, size, proof, memo)
    for i, (leaf, proof) in enumerate(honest):
        tampered = [[*proof[:k], bytes(32), *proof[k + 1:]] for k in range(len(proof))]
        tampered += [[*proof, bytes(32)], proof[:-1], proof[1:]]
        for bad in tampered:
            assert _outcome(leaf, i, size, bad, memo) == _outcome(leaf, i, size, bad, None)
        other = _merkle.leaf_hash(b"not the entry")
        assert _outcome(other, i, size, proof, memo) == _outcome(other, i, size, proof, None)
        with pytest.raises(ProofError, match="does not match expected root"):
            _merkle.verify_inclusion(other, index=i, size=size, proof=proof,
                                     root=tree.root(size), memo=memo)


def _replayed_both_ways(w: World, item: str) -> None:
    """The verifier's replay of ``item``'s bundle reads the item exactly as
    reading its chain again with the final cut-offs does."""
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    bundle = decode_bundle(w.ledger.export(item))
    cp = _checkpoint(bundle, policy_of(w), w.clock.t)
    done = replay(bundle.item, origin=bundle.origin, root_key=bundle.root_key,
                  records=_entries(bundle, cp))
    assert done.timeline is not None
    again = replay_item(done.entries, cutoffs=done.cutoffs, context_at=done.timeline.at)
    assert done.item == again
    assert done.item.certificate_index == done.entries[0][0]


def test_an_untouched_history_is_read_once_with_the_same_result(tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    item = w.issue("R-1")
    for n in range(3):
        w.add(w.workshop, item, repair(f"service {n}"))
    _replayed_both_ways(w, item)
    w.ledger.close()


def test_a_history_a_revocation_touched_is_read_again(tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    item = w.issue("R-1")
    w.add(w.workshop, item, repair())
    w.add(w.jeweler, pl.authority_subject(w.workshop.public_key),
          pl.KeyRevoked(key=w.workshop.public_key, compromised_since=w.clock.t - 1))
    w.add(w.owner, item, repair("by the owner"))
    _replayed_both_ways(w, item)
    report = pl.verify_bundle(w.ledger.export(item), policy=policy_of(w), now=w.clock.t)
    assert [e.invalidated for e in report.events] == [False, True, False]
    w.ledger.close()
