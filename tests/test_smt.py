"""The head map (compressed sparse Merkle tree): roots, proofs, versions."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

import provledger as pl
from provledger import _smt


class MemoryNodes:
    """A versioned in-memory NodeStore, like the SQLite one."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, bytes], list[tuple[int, _smt.Node]]] = {}

    def map_node(self, depth: int, position: bytes, version: int) -> _smt.Node | None:
        found = [n for v, n in self.nodes.get((depth, position), []) if v <= version]
        return found[-1] if found else None

    def apply(self, version: int, changes: dict[bytes, bytes]) -> bytes:
        root, nodes = _smt.update(self, previous=version - 1, changes=changes)
        for depth, pos, node in nodes:
            self.nodes.setdefault((depth, pos), []).append((version, node))
        return root


def reference_root(items: dict[bytes, bytes], depth: int = 0) -> bytes:
    """The definition, computed directly from the key set."""
    if not items:
        return _smt.EMPTY
    if len(items) == 1:
        (k, v), = items.items()
        return _smt.leaf_hash(k, v)
    left = {k: v for k, v in items.items() if not _smt.bit(k, depth)}
    right = {k: v for k, v in items.items() if _smt.bit(k, depth)}
    return _smt.node_hash(reference_root(left, depth + 1), reference_root(right, depth + 1))


def k(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


keys = st.integers(0, 400).map(k)
values = st.binary(min_size=32, max_size=32)
batches = st.lists(st.dictionaries(keys, values, max_size=30), min_size=1, max_size=6)


@settings(max_examples=80, deadline=None)
@given(batches)
def test_roots_equal_the_definition_and_every_key_proves(batches: list[dict[bytes, bytes]]) -> None:
    store = MemoryNodes()
    state: dict[bytes, bytes] = {}
    history = []
    for version, batch in enumerate(batches):
        root = store.apply(version, batch)
        state.update(batch)
        assert root == reference_root(state)
        assert _smt.root_of(store, version) == root
        history.append((root, dict(state)))
    for version, (root, snapshot) in enumerate(history):
        for key, value in snapshot.items():
            got, siblings = _smt.prove(store, key, version)
            assert got == value
            _smt.verify(key, value, siblings, root)


def test_root_depends_on_the_set_not_the_order() -> None:
    items = {k(i): k(i + 1000) for i in range(50)}
    a, b = MemoryNodes(), MemoryNodes()
    a.apply(0, items)
    for version, key in enumerate(sorted(items, reverse=True)):
        b.apply(version, {key: items[key]})
    assert _smt.root_of(a, 0) == _smt.root_of(b, 49) == reference_root(items)


def test_tampered_proofs_and_absent_keys_fail() -> None:
    store = MemoryNodes()
    items = {k(i): k(i + 1) for i in range(20)}
    root = store.apply(0, items)
    key = k(7)
    value, siblings = _smt.prove(store, key, 0)
    for i in range(len(siblings)):
        bad = list(siblings)
        bad[i] = bytes(32) if bad[i] != bytes(32) else b"\x01" * 32
        with pytest.raises(pl.ProofError):
            _smt.verify(key, value, bad, root)
    with pytest.raises(pl.ProofError):
        _smt.verify(key, k(99), siblings, root)
    with pytest.raises(pl.ProofError):
        _smt.verify(k(8), value, siblings, root)
    with pytest.raises(pl.ProofError):
        _smt.verify(key, value, [*siblings, bytes(32)], root)
    with pytest.raises(pl.ProofError):
        _smt.verify(key, value, siblings[:-1], root)
    with pytest.raises(pl.ProofError):
        _smt.prove(store, k(500), 0)
    with pytest.raises(pl.ProofError):
        _smt.verify(key, value, [b"short"], root)


def test_proof_length_is_logarithmic() -> None:
    store = MemoryNodes()
    store.apply(0, {k(i): k(i) for i in range(2000)})
    depths = [len(_smt.prove(store, k(i), 0)[1]) for i in range(0, 2000, 37)]
    assert max(depths) <= 40


@settings(max_examples=60, deadline=None)
@given(batches=batches, small=st.integers(0, 5))
def test_splitting_large_updates_writes_the_same_nodes(batches: list[dict[bytes, bytes]],
                                                       small: int) -> None:
    """Updates beyond SMALL changes are split by key range before they are listed;
    that path must write exactly the nodes of the in-memory one."""
    whole, split = MemoryNodes(), MemoryNodes()
    for version, batch in enumerate(batches):
        whole.apply(version, batch)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_smt, "SMALL", small)
            split.apply(version, batch)
    assert split.nodes == whole.nodes


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(keys, values, max_size=30), keys)
def test_absence_proofs_prove_exactly_the_absent_keys(items: dict[bytes, bytes],
                                                      probe: bytes) -> None:
    """An absent key has a proof that verifies; a present key has none, and no
    absence proof made from a neighbour's path verifies for it."""
    store = MemoryNodes()
    root = store.apply(0, items)
    if probe in items:
        with pytest.raises(pl.ProofError):
            _smt.prove_absent(store, probe, 0)
        value, siblings = _smt.prove(store, probe, 0)
        for terminal in (b"", probe + value, bytes(64)):
            with pytest.raises(pl.ProofError):
                _smt.verify_absent(probe, terminal, siblings, root)
        return
    terminal, siblings = _smt.prove_absent(store, probe, 0)
    _smt.verify_absent(probe, terminal, siblings, root)
    with pytest.raises(pl.ProofError):  # and not against another root
        _smt.verify_absent(probe, terminal, siblings, hashlib.sha256(root).digest())
    if terminal:  # the terminal leaf must lie on the probe's path
        other = next((x for x in items if x not in (probe, terminal[:32])), None)
        if other is not None:
            with pytest.raises(pl.ProofError):
                _smt.verify_absent(probe, other + items[other], siblings, root)
