"""spec/vectors/log: the library, the generator and the independent checker agree."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from provledger import _errors
from provledger._keys import SigningKey, key_id
from provledger._merkle import (
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from provledger._note import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    NoteVerifier,
    TlogProof,
    cosign_checkpoint,
    format_checkpoint,
    format_note,
    format_tlog_proof,
    parse_vkey,
    sign_note,
    verify_checkpoint,
    verify_note,
    verify_tlog_proof,
)
from provledger._receipt import make_receipt, verify_receipt

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors" / "log"
TOOLS = ROOT / "spec" / "tools"


def _load_tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tlogcheck = _load_tool("tlogcheck")


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _vectors(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


# -- the library against each vector ------------------------------------------------------


def lib_inclusion(c: dict[str, Any]) -> None:
    verify_inclusion(
        _h(c["leaf_hash"]),
        index=c["index"],
        size=c["size"],
        proof=[_h(p) for p in c["proof"]],
        root=_h(c["root"]),
    )


def lib_consistency(c: dict[str, Any]) -> None:
    verify_consistency(
        old_size=c["old_size"],
        new_size=c["new_size"],
        old_root=_h(c["old_root"]),
        new_root=_h(c["new_root"]),
        proof=[_h(p) for p in c["proof"]],
    )


def lib_note(c: dict[str, Any]) -> None:
    opened = verify_note(c["note"], verifiers=[parse_vkey(v) for v in c["vkeys"]])
    if "text" in c:
        assert opened.text == c["text"]
        assert sorted(s.verifier.name for s in opened.signatures) == sorted(c["signers"])


def lib_checkpoint(c: dict[str, Any]) -> None:
    v = verify_checkpoint(
        c["note"],
        origin=c["origin"],
        log_key=parse_vkey(c["log_vkey"]),
        witnesses=[parse_vkey(w) for w in c["witness_vkeys"]],
        quorum=c["quorum"],
    )
    if "size" in c:
        cp = v.checkpoint
        assert (cp.size, cp.root_hash.hex(), list(cp.extensions)) == (
            c["size"],
            c["root"],
            c["extensions"],
        )
        assert {s.verifier.name: s.timestamp for s in v.cosigners} == c["cosignature_times"]


def lib_tlog_proof(c: dict[str, Any]) -> None:
    v = verify_tlog_proof(
        c["text"],
        leaf_hash=_h(c["leaf_hash"]),
        origin=c["origin"],
        log_key=parse_vkey(c["log_vkey"]),
        witnesses=[parse_vkey(w) for w in c["witness_vkeys"]],
        quorum=c["quorum"],
    )
    if "index" in c:
        assert v.index == c["index"]
        assert (v.extra.hex() if v.extra is not None else None) == c["extra"]


def lib_receipt(c: dict[str, Any]) -> None:
    got = verify_receipt(
        _h(c["receipt"]), leaf_hash=_h(c["leaf_hash"]), public_key=_h(c["public_key"])
    )
    if "root" in c:
        assert got.hex() == c["root"]


LIB: dict[str, Callable[[dict[str, Any]], None]] = {
    "inclusion.json": lib_inclusion,
    "consistency.json": lib_consistency,
    "notes.json": lib_note,
    "checkpoints.json": lib_checkpoint,
    "tlog_proofs.json": lib_tlog_proof,
    "receipts.json": lib_receipt,
}


@pytest.mark.parametrize("name", sorted(LIB))
def test_library_on_vectors(name: str) -> None:
    data = _vectors(name)
    assert data["valid"]
    assert data["invalid"]
    for case in data["valid"]:
        LIB[name](case)
    for case in data["invalid"]:
        error = getattr(_errors, case["error"])
        with pytest.raises(error):
            LIB[name](case)


def test_tree_vector_roots() -> None:
    data = _vectors("tree.json")
    tree = MemoryTree()
    assert tree.root().hex() == data["roots"][0]["root"]
    for n, entry in enumerate(data["leaves"], start=1):
        tree.append(_h(entry))
        assert tree.root().hex() == data["roots"][n]["root"]


def test_vector_coverage() -> None:
    inclusion = {(c["index"], c["size"]) for c in _vectors("inclusion.json")["valid"]}
    assert inclusion == {(i, n) for n in range(1, 9) for i in range(n)}
    consistency = {(c["old_size"], c["new_size"]) for c in _vectors("consistency.json")["valid"]}
    assert consistency == {(m, n) for n in range(1, 9) for m in range(1, n + 1)}
    for name in LIB:
        for part in ("valid", "invalid"):
            names = [c["id"] for c in _vectors(name)[part]]
            assert len(names) == len(set(names)), (name, part)


# -- the generator reproduces the committed files ----------------------------------------------


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    gen = _load_tool("gen_log_vectors")
    written = gen.generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(
        p.name for p in VECTORS.iterdir() if p.name != "README.md"
    )
    for path in written:
        assert path.read_bytes() == (VECTORS / path.name).read_bytes(), path.name
    tlog_proof = (VECTORS / "entry3.tlog-proof").read_text(encoding="utf-8")
    assert tlog_proof == _vectors("tlog_proofs.json")["valid"][0]["text"]


# -- the independent checker ---------------------------------------------------------------------


def test_tlogcheck_agrees_on_vectors() -> None:
    count, problems = tlogcheck.check_directory(VECTORS)
    assert problems == []
    assert count > 700


def test_tlogcheck_agrees_case_by_case() -> None:
    for name, lib in LIB.items():
        data = _vectors(name)
        for part in ("valid", "invalid"):
            for case in data[part]:
                try:
                    lib(case)
                    lib_ok = True
                except _errors.ProvLedgerError:
                    lib_ok = False
                try:
                    tlogcheck.RUNNERS[name](case)
                    tool_ok = True
                except tlogcheck.TlogCheckError:
                    tool_ok = False
                assert lib_ok == tool_ok == (part == "valid"), (name, case["id"])


def test_tlogcheck_cli(tmp_path: Path) -> None:
    script = str(TOOLS / "tlogcheck.py")
    ok = subprocess.run(
        [sys.executable, script, str(VECTORS)], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "0 disagreements" in ok.stdout
    # Move one valid case into the invalid list: the checker must notice.
    for path in VECTORS.glob("*.json"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    data = _vectors("inclusion.json")
    data["invalid"].append({**copy.deepcopy(data["valid"][5]), "reason": "planted"})
    (tmp_path / "inclusion.json").write_text(json.dumps(data), encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, script, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert "DISAGREE" in bad.stdout


def test_tlogcheck_on_a_live_tree() -> None:
    """What later tests will do against a ledger: library output, tlogcheck verdicts."""
    rng = random.Random(20240611)
    log = SigningKey(hashlib.sha256(b"live log").digest())
    witness = SigningKey(hashlib.sha256(b"live witness").digest())
    origin = "live.example/log"
    log_v = NoteVerifier(origin, log.public_key)
    wit_v = NoteVerifier("live.example/witness", witness.public_key, SIG_COSIGNATURE_V1)
    entries = [rng.randbytes(rng.randrange(0, 50)) for _ in range(300)]
    tree = MemoryTree()
    for e in entries:
        tree.append(e)
    assert tlogcheck.mth(entries[:77]) == tree.root(77)
    for _ in range(40):
        n = rng.randrange(1, 301)
        i = rng.randrange(n)
        proof = inclusion_proof(i, n, tree)
        tlogcheck.verify_inclusion(leaf_hash(entries[i]), i, n, proof, tree.root(n))
        m = rng.randrange(1, n + 1)
        tlogcheck.verify_consistency(
            m, n, tree.root(m), tree.root(n), consistency_proof(m, n, tree)
        )
        body = format_checkpoint(Checkpoint(origin, n, tree.root(n)))
        cosig = cosign_checkpoint(body, name=wit_v.name, key=witness, timestamp=1000 + n)
        note = format_note(body, [sign_note(body, name=origin, key=log), cosig])
        got = tlogcheck.verify_checkpoint(note, origin, log_v.vkey(), [wit_v.vkey()], 1)
        assert got[1:3] == (n, tree.root(n))
        assert got[4] == {wit_v.name: 1000 + n}
        assert tlogcheck.verify_cosignature(body, cosig.line, wit_v.vkey()) == 1000 + n
        text = format_tlog_proof(TlogProof(i, tuple(proof), note, rng.randbytes(5)))
        tlogcheck.verify_tlog_proof(
            text, leaf_hash(entries[i]), origin, log_v.vkey(), [wit_v.vkey()], 1
        )
        if n > 1:  # RFC 9942 gives a one-entry tree no receipt
            receipt = make_receipt(
                log, kid=key_id(log.public_key), leaf_index=i, tree_size=n, proof=proof,
                root=tree.root(n),
            )  # fmt: skip
            assert tlogcheck.verify_receipt(
                receipt, leaf_hash(entries[i]), log.public_key
            ) == tree.root(n)
        if proof:
            bad = [*proof[:-1], bytes(32)]
            with pytest.raises(tlogcheck.TlogCheckError):
                tlogcheck.verify_inclusion(leaf_hash(entries[i]), i, n, bad, tree.root(n))
    vk = parse_vkey(log_v.vkey())
    assert tlogcheck.parse_vkey(vk.vkey())[1] == vk.key_id
