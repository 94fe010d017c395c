"""The ledger as a transparency log: tree, proofs, checkpoints, exports, audit.

Every proof the ledger makes is checked twice: by the library's verifiers and
by spec/tools/tlogcheck.py, the independent checker that does not import
provledger.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

import provledger as pl
from provledger import _merkle
from provledger._receipt import verify_receipt

from .conftest import World, key, make_world, snapshot
from .test_store import tamper

ROOT = Path(__file__).resolve().parents[1]


def _tlogcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tlogcheck", ROOT / "spec/tools/tlogcheck.py")
    assert spec
    assert spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["tlogcheck"] = mod
    spec.loader.exec_module(mod)
    return mod


tc = _tlogcheck()


def grown(tmp: Path, n: int) -> World:
    """A world whose log has exactly ``n`` entries, in batches of varying size."""
    w = make_world(tmp / "l.db")
    i = 0
    while len(w.ledger) < n:
        take = min(n - len(w.ledger), 1 + i % 5)
        stmts = [w.sign(w.jeweler, pl.serial_item_id(w.jeweler.public_key, f"S{i}-{j}"),
                        pl.CertificateIssued(kind="ring", serial=f"S{i}-{j}",
                                             owner=w.owner.public_key), prev=None)
                 for j in range(take)]
        w.ledger.append_batch(stmts)
        i += 1
    return w


def test_every_inclusion_and_consistency_proof_up_to_64(tmp_path: Path) -> None:
    w = grown(tmp_path, 64)
    entries = [w.ledger.entry(i) for i in range(64)]
    leaves = [_merkle.leaf_hash(e) for e in entries]
    roots = [tc.mth(entries[:n]) for n in range(65)]
    for n in range(65):
        assert w.ledger.root(n) == roots[n]
    for n in range(1, 65):
        for i in range(n):
            proof = w.ledger.inclusion_proof(i, n)
            _merkle.verify_inclusion(leaves[i], index=i, size=n, proof=proof, root=roots[n])
            tc.verify_inclusion(leaves[i], i, n, proof, roots[n])
        for m in range(1, n + 1):
            proof = w.ledger.consistency_proof(m, n)
            _merkle.verify_consistency(old_size=m, new_size=n, old_root=roots[m],
                                       new_root=roots[n], proof=proof)
            tc.verify_consistency(m, n, roots[m], roots[n], proof)


def test_bit_flips_and_wrong_indices_are_rejected(tmp_path: Path) -> None:
    w = grown(tmp_path, 21)
    n, i = 21, 13
    leaf = _merkle.leaf_hash(w.ledger.entry(i))
    proof = w.ledger.inclusion_proof(i, n)
    root = w.ledger.root(n)
    for k, h in enumerate(proof):
        for bit in range(0, 256, 37):
            bad = list(proof)
            bad[k] = (int.from_bytes(h, "big") ^ (1 << bit)).to_bytes(32, "big")
            with pytest.raises(pl.ProofError):
                _merkle.verify_inclusion(leaf, index=i, size=n, proof=bad, root=root)
            with pytest.raises(tc.TlogCheckError):
                tc.verify_inclusion(leaf, i, n, bad, root)
    for wrong in (i - 1, i + 1):
        with pytest.raises(pl.ProofError):
            _merkle.verify_inclusion(leaf, index=wrong, size=n, proof=proof, root=root)
    with pytest.raises(pl.ProofError):
        _merkle.verify_inclusion(leaf, index=i, size=n, proof=proof[:-1], root=root)
    with pytest.raises(pl.ProofError):
        _merkle.verify_inclusion(leaf, index=i, size=n, proof=[*proof, root], root=root)


def test_out_of_range_requests_fail_typed(tmp_path: Path) -> None:
    w = grown(tmp_path, 8)
    for call in (lambda: w.ledger.inclusion_proof(8), lambda: w.ledger.inclusion_proof(0, 9),
                 lambda: w.ledger.consistency_proof(0), lambda: w.ledger.consistency_proof(5, 4),
                 lambda: w.ledger.root(9), lambda: w.ledger.tlog_proof(0)):
        with pytest.raises(pl.NotFoundError):
            call()


def test_checkpoints_sign_verify_and_export(tmp_path: Path) -> None:
    w = grown(tmp_path, 10)
    log = key("log")
    cp = w.ledger.sign_checkpoint(log)
    assert (cp.seq, cp.size, cp.root) == (0, 10, w.ledger.root())
    _, size, root, _, _ = tc.verify_checkpoint(cp.note, w.ledger.origin, w.ledger.log_vkey(),
                                               [], 0)
    assert (size, root) == (10, cp.root)
    for i in range(10):
        leaf = _merkle.leaf_hash(w.ledger.entry(i))
        tc.verify_tlog_proof(w.ledger.tlog_proof(i), leaf, w.ledger.origin,
                             w.ledger.log_vkey(), [], 0)
        receipt = w.ledger.receipt(i, key=log)
        assert verify_receipt(receipt, leaf_hash=leaf, public_key=log.public_key) == cp.root
        assert tc.verify_receipt(receipt, leaf, log.public_key) == cp.root
    w.issue("later")
    w.clock.t += 10
    cp2 = w.ledger.sign_checkpoint(log)
    assert cp2.seq == 1
    assert cp2.time >= cp.time
    tc.verify_consistency(cp.size, cp2.size, cp.root, cp2.root,
                          w.ledger.consistency_proof(cp.size, cp2.size))
    assert [c.seq for c in w.ledger.checkpoints()] == [0, 1]
    assert w.ledger.audit().checkpoints == 2


def test_only_the_log_key_signs_and_a_refusal_writes_nothing(tmp_path: Path) -> None:
    w = grown(tmp_path, 5)
    before = snapshot(w.path)
    with pytest.raises(pl.UnauthorizedError):
        w.ledger.sign_checkpoint(key("root"))
    with pytest.raises(pl.UnauthorizedError):
        w.ledger.receipt(0, key=key("root"))
    assert snapshot(w.path) == before


def test_a_damaged_tree_is_never_signed(tmp_path: Path) -> None:
    w = grown(tmp_path, 6)
    w.ledger.sign_checkpoint(key("log"))
    w.issue("more")
    w.ledger.close()
    # Node (1, 2) covers leaves 4-5 and is part of the root of 6 and of 7; it is
    # the fourth interior node of tile 0/0 (bytes 97-128 of its nodes: _tree).
    tamper(w.path, "UPDATE tiles SET nodes = CAST(substr(nodes, 1, 96) || zeroblob(32) || "
                   "substr(nodes, 129) AS BLOB) WHERE level = 0 AND idx = 0")
    before = snapshot(w.path)
    with pl.Ledger.open(w.path, clock=w.clock) as ledger:
        with pytest.raises(pl.CheckpointError):
            ledger.sign_checkpoint(key("log"))
        assert snapshot(w.path) == before
        with pytest.raises(pl.AuditError) as info:
            ledger.audit()
        assert info.value.index == 5


@pytest.mark.parametrize("sql", [
    "UPDATE tiles SET hashes = CAST(substr(hashes, 1, 160) || zeroblob(32) || "
    "substr(hashes, 193) AS BLOB) WHERE level = 0 AND idx = 0",
    "UPDATE tiles SET nodes = substr(nodes, 1, 64)",
    "UPDATE tiles SET hashes = substr(hashes, 1, 352)",
    "INSERT INTO tiles VALUES (1, 0, zeroblob(32), x'')",
    "DELETE FROM tiles",
    "UPDATE checkpoints SET note = replace(note, 'provledger-time', 'provledger-tim3')",
    "UPDATE checkpoints SET size = 3",
    "DELETE FROM checkpoints WHERE seq = 0",
])
def test_audit_catches_tree_and_checkpoint_tampering(tmp_path: Path, sql: str) -> None:
    w = grown(tmp_path, 12)
    w.ledger.sign_checkpoint(key("log"))
    w.clock.t += 1
    w.ledger.sign_checkpoint(key("log"))
    assert w.ledger.audit().checkpoints == 2
    w.ledger.close()
    tamper(w.path, sql)
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.AuditError):
        ledger.audit()


def test_batch_and_single_appends_build_the_same_tree(tmp_path: Path) -> None:
    a = make_world(tmp_path / "a.db")
    b = make_world(tmp_path / "b.db")
    a.clock.t = b.clock.t = a.clock.t + 100  # one log time for every entry below
    stmts = [a.sign(a.jeweler, pl.serial_item_id(a.jeweler.public_key, f"S{i}"),
                    pl.CertificateIssued(kind="ring", serial=f"S{i}", owner=a.owner.public_key),
                    prev=None) for i in range(37)]
    for s in stmts:
        a.ledger.append(s)
    b.ledger.append_batch(stmts)
    assert a.ledger.root() == b.ledger.root()
    entries = [a.ledger.entry(i) for i in range(len(a.ledger))]
    assert a.ledger.root() == tc.mth(entries)
