"""Witness cosignatures stored with checkpoints, read back verified, and carried
by every export (bundles, tlog-proofs, receipts); old ledger files migrate."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner, Result

import provledger as pl
from provledger._bundle import decode_bundle
from provledger._errors import (
    AuditError,
    CheckpointError,
    DecodeError,
    NotFoundError,
    QuorumError,
    SignatureError,
    StorageError,
)
from provledger._merkle import leaf_hash
from provledger._note import (
    SIG_COSIGNATURE_V1,
    NoteSignature,
    NoteVerifier,
    cosign_checkpoint,
    parse_note,
    parse_tlog_proof,
    parse_vkey,
    verify_checkpoint,
    verify_tlog_proof,
)
from provledger._policy import Policy, PolicyWitness
from provledger._receipt import (
    make_receipt,
    receipt_checkpoint,
    verify_receipt,
    verify_receipt_checkpoint,
)
from provledger._tlog import SignedCheckpoint, witnessed_sizes
from provledger_cli.main import cli

from .conftest import ORIGIN, T0, World, key, make_world, snapshot, table_names
from .test_cli_log import CHEAP_KDF, PASS, assert_error

ROOT = Path(__file__).resolve().parents[1]
V1_LEDGER = ROOT / "tests" / "data" / "ledger-v1.db"
VECTORS = ROOT / "spec" / "vectors" / "log"

W1_NAME, W2_NAME = "w1.test.example/witness", "w2.test.example/witness"
W1, W2 = NoteVerifier(W1_NAME, key("witness 1").public_key, SIG_COSIGNATURE_V1), \
    NoteVerifier(W2_NAME, key("witness 2").public_key, SIG_COSIGNATURE_V1)
STRANGER = NoteVerifier("stranger.example/w", key("stranger").public_key, SIG_COSIGNATURE_V1)
SIGNERS = {W1_NAME: key("witness 1"), W2_NAME: key("witness 2"),
           STRANGER.name: key("stranger")}
COSIGNED_AT = T0 + 100


def _load_tlogcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tlogcheck", ROOT / "spec/tools/tlogcheck.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tlogcheck"] = module
    spec.loader.exec_module(module)
    return module


tlogcheck = _load_tlogcheck()


def line(cp: SignedCheckpoint, witness: NoteVerifier, *, at: int = COSIGNED_AT) -> str:
    """``witness``'s cosignature line of ``cp`` (no newline)."""
    sig = cosign_checkpoint(parse_note(cp.note).text, name=witness.name,
                            key=SIGNERS[witness.name], timestamp=at)
    return sig.line.rstrip("\n")


def flipped(text: str) -> str:
    """A cosignature line with one signature bit flipped, still well formed."""
    sig = parse_note("x\n\n" + text + "\n").signatures[0]
    bad = bytearray(sig.signature)
    bad[20] ^= 1
    return NoteSignature(sig.name, sig.key_id, bytes(bad)).line.rstrip("\n")


@pytest.fixture
def two(world: World) -> World:
    """A world with two checkpoints (sizes 6 and 7), no cosignatures yet."""
    world.issue("C-1")
    world.issue("C-2")
    world.ledger.sign_checkpoint(key("log"))
    world.issue("C-3")
    world.clock.t += 1
    world.ledger.sign_checkpoint(key("log"))
    return world


# -- storing and reading back -------------------------------------------------------


def test_cosignatures_are_stored_verified_and_read_back(two: World) -> None:
    ledger = two.ledger
    cp0, cp1 = ledger.checkpoints()
    assert cp1.cosignatures == ()
    assert cp1.cosigned_note == cp1.note
    text = "\n".join([line(cp1, W2), line(cp1, STRANGER), line(cp1, W1, at=COSIGNED_AT + 5)])
    assert ledger.add_cosignatures(1, text + "\n", [W1, W2]) == [W2_NAME, W1_NAME]
    _, read = ledger.checkpoints()
    assert [(c.witness, c.timestamp) for c in read.cosignatures] == [
        (W2, COSIGNED_AT), (W1, COSIGNED_AT + 5)]
    assert read.note == cp1.note  # the log's note itself never changes
    assert read.cosigned_note == cp1.note + line(cp1, W2) + "\n" + line(
        cp1, W1, at=COSIGNED_AT + 5) + "\n"
    checked = verify_checkpoint(read.cosigned_note, origin=ORIGIN,
                                log_key=NoteVerifier(ORIGIN, key("log").public_key),
                                witnesses=[W1, W2], quorum=2)
    assert checked.checkpoint.size == cp1.size
    assert ledger.checkpoints()[0] == cp0  # other checkpoints untouched
    assert witnessed_sizes(ledger.checkpoints()) == {W1.vkey(): cp1.size, W2.vkey(): cp1.size}
    assert ledger.audit().checkpoints == 2


def test_adding_again_adds_nothing(two: World) -> None:
    cp = two.ledger.checkpoints()[1]
    assert two.ledger.add_cosignatures(1, line(cp, W1), [W1]) == [W1_NAME]
    before = snapshot(two.path)
    assert two.ledger.add_cosignatures(1, line(cp, W1), [W1]) == []
    # A later cosignature by the same witness does not replace the stored one.
    assert two.ledger.add_cosignatures(1, line(cp, W1, at=COSIGNED_AT + 60), [W1]) == []
    assert snapshot(two.path) == before
    assert two.ledger.checkpoints()[1].cosignatures[0].timestamp == COSIGNED_AT


def test_order_is_as_stored_and_lines_from_a_whole_note_count(two: World) -> None:
    cp = two.ledger.checkpoints()[0]
    cosigned = cp.note + line(cp, W1) + "\n"
    assert two.ledger.add_cosignatures(0, cosigned, [W1, W2]) == [W1_NAME]
    assert two.ledger.add_cosignatures(0, line(cp, W2), [W1, W2]) == [W2_NAME]
    stored = two.ledger.checkpoints()[0].cosignatures
    assert [c.witness.name for c in stored] == [W1_NAME, W2_NAME]


@pytest.mark.parametrize("case", [
    "flipped", "other-checkpoint", "garbage", "only-strangers", "note-of-other-checkpoint",
    "two-different-by-one-witness", "good-then-bad", "empty",
])
def test_bad_lines_change_nothing(two: World, case: str) -> None:
    cp0, cp1 = two.ledger.checkpoints()
    text = {
        "flipped": flipped(line(cp1, W1)),
        "other-checkpoint": line(cp0, W1),
        "garbage": "hello\nworld\n",
        "only-strangers": line(cp1, STRANGER),
        "note-of-other-checkpoint": cp0.note + line(cp0, W1) + "\n",
        "two-different-by-one-witness": line(cp1, W1) + "\n" + line(cp1, W1, at=1),
        "good-then-bad": line(cp1, W1) + "\n" + flipped(line(cp1, W2)),
        "empty": "\n",
    }[case]
    before = snapshot(two.path)
    with pytest.raises(CheckpointError):
        two.ledger.add_cosignatures(1, text, [W1, W2])
    assert snapshot(two.path) == before


def test_bad_arguments_change_nothing(two: World) -> None:
    cp = two.ledger.checkpoints()[1]
    before = snapshot(two.path)
    with pytest.raises(NotFoundError):
        two.ledger.add_cosignatures(7, line(cp, W1), [W1])
    with pytest.raises(ValueError, match="type 0x04"):
        two.ledger.add_cosignatures(1, line(cp, W1), [NoteVerifier(ORIGIN, key("log").public_key)])
    with pytest.raises(ValueError, match="twice"):
        two.ledger.add_cosignatures(1, line(cp, W1), [W1, W1])
    assert snapshot(two.path) == before


def test_a_checkpoint_takes_at_most_99_cosignatures(two: World) -> None:
    cp = two.ledger.checkpoints()[1]
    keys = [pl.SigningKey(hashlib.sha256(b"many %d" % i).digest()) for i in range(100)]
    # Long names (600 bytes): 99 lines are more than a receipt can carry.
    verifiers = [NoteVerifier(f"w{i}.example/{'x' * 600}", k.public_key, SIG_COSIGNATURE_V1)
                 for i, k in enumerate(keys)]
    body = parse_note(cp.note).text
    lines = [cosign_checkpoint(body, name=v.name, key=k, timestamp=COSIGNED_AT).line
             for v, k in zip(verifiers, keys, strict=True)]
    assert len(two.ledger.add_cosignatures(1, "".join(lines[:99]), verifiers)) == 99
    with pytest.raises(CheckpointError, match="more signatures than a note"):
        two.ledger.add_cosignatures(1, lines[99], verifiers)
    note = two.ledger.checkpoints()[1].cosigned_note
    assert len(parse_note(note).signatures) == 100
    # Too long for a receipt: refused with a typed error, a tlog-proof still works.
    with pytest.raises(pl.ReceiptUnavailableError, match="tlog-proof"):
        two.ledger.receipt(3, key=key("log"))
    assert parse_tlog_proof(two.ledger.tlog_proof(3)).checkpoint == note


def test_the_table_is_append_only(two: World) -> None:
    cp = two.ledger.checkpoints()[1]
    two.ledger.add_cosignatures(1, line(cp, W1), [W1])
    conn = sqlite3.connect(two.path)
    try:
        for sql in ("UPDATE cosignatures SET line = 'x'", "DELETE FROM cosignatures"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()


def test_the_store_refuses_duplicates_and_unknown_checkpoints(two: World) -> None:
    cp = two.ledger.checkpoints()[1]
    store = two.ledger.store
    store_row = (1, W1.vkey(), line(cp, W1))
    with store.write():
        store.insert_cosignatures([store_row])
    before = snapshot(two.path)
    for rows in ([store_row], [(9, W1.vkey(), line(cp, W1))]):
        with pytest.raises(StorageError), store.write():
            store.insert_cosignatures(rows)
    assert snapshot(two.path) == before


@pytest.mark.parametrize(("sql", "match"), [
    ("UPDATE cosignatures SET line = ?", "stored"),
    ("UPDATE cosignatures SET vkey = 'not a vkey'", "not a verifier key"),
    ("UPDATE cosignatures SET vkey = ?", "type 0x04"),
    ("UPDATE cosignatures SET seq = 5", "never signed"),
    ("UPDATE cosignatures SET line = line || char(10) || line", "one note signature line"),
])
def test_tampered_cosignatures_fail_reading_and_the_audit(two: World, sql: str,
                                                          match: str) -> None:
    cp = two.ledger.checkpoints()[1]
    two.ledger.add_cosignatures(1, line(cp, W1), [W1])
    arg = {"stored": flipped(line(cp, W1)),
           "type 0x04": NoteVerifier(ORIGIN, key("log").public_key).vkey()}.get(match)
    conn = sqlite3.connect(two.path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute(sql, () if arg is None else (arg,))
    conn.close()
    with pytest.raises(CheckpointError, match=match):
        two.ledger.checkpoints()
    with pytest.raises(AuditError, match=match):
        two.ledger.audit()


# -- ledger files written before cosignatures ------------------------------------------------


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    copy = tmp_path / "ledger-v1.db"
    shutil.copyfile(V1_LEDGER, copy)
    return copy


def test_the_v1_file_is_what_its_script_says() -> None:
    assert "cosignatures" not in table_names(V1_LEDGER)
    with pl.Ledger.open(V1_LEDGER, readonly=True) as ledger:
        assert (ledger.origin, len(ledger)) == (ORIGIN, 3)
        assert [(c.seq, c.size, c.cosignatures) for c in ledger.checkpoints()] == [
            (0, 2, ()), (1, 3, ())]


def test_a_v1_file_opened_read_only_reads_no_cosignatures_and_is_not_changed(v1: Path) -> None:
    before = hashlib.sha256(v1.read_bytes()).digest()
    with pl.Ledger.open(v1, readonly=True) as ledger:
        assert all(c.cosigned_note == c.note for c in ledger.checkpoints())
        assert ledger.audit().checkpoints == 2
        assert ledger.tlog_proof(1).endswith(ledger.checkpoints()[1].note)
        with pytest.raises(StorageError), ledger.store.write():
            ledger.store.insert_cosignatures([(1, W1.vkey(), "x")])
    assert "cosignatures" not in table_names(v1)
    assert hashlib.sha256(v1.read_bytes()).digest() == before


def test_a_v1_file_migrates_when_opened_for_writing(v1: Path) -> None:
    with pl.Ledger.open(v1) as ledger:
        assert "cosignatures" in table_names(v1)
        cp = ledger.checkpoints()[1]
        assert ledger.add_cosignatures(1, line(cp, W1), [W1]) == [W1_NAME]
        assert ledger.audit().checkpoints == 2
    with pl.Ledger.open(v1) as again:  # migrating twice is harmless
        assert [c.witness for c in again.checkpoints()[1].cosignatures] == [W1]
    with pl.Ledger.open(v1, readonly=True) as ledger:
        cp = ledger.checkpoints()[1]
        assert [(c.witness, c.timestamp) for c in cp.cosignatures] == [(W1, COSIGNED_AT)]
        assert ledger.tlog_proof(2).endswith(cp.note + line(cp, W1) + "\n")
    conn = sqlite3.connect(v1)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM cosignatures")
    finally:
        conn.close()


# -- carried by every export ---------------------------------------------------------------


def _policy(quorum: int | str = 1) -> Policy:
    return Policy(logs=(NoteVerifier(ORIGIN, key("log").public_key),),
                  roots=(key("root").public_key,),
                  named_witnesses=(PolicyWitness("w1", W1), PolicyWitness("w2", W2)),
                  quorum=quorum)


def test_bundles_carry_the_cosigned_notes(two: World) -> None:
    item = pl.serial_item_id(two.jeweler.public_key, "C-1")
    old, new = two.ledger.checkpoints()
    now = new.time + 10
    plain = two.ledger.export(item)
    with pytest.raises(QuorumError):
        pl.verify_bundle(plain, policy=_policy(), now=now)
    two.ledger.add_cosignatures(0, line(old, W2), [W1, W2])
    two.ledger.add_cosignatures(1, line(new, W1), [W1, W2])
    old, new = two.ledger.checkpoints()
    data = two.ledger.export(item, since=(old.size,))
    bundle = decode_bundle(data)
    assert bundle.checkpoint == new.cosigned_note != new.note
    assert [c.checkpoint for c in bundle.consistency] == [old.cosigned_note]
    assert pl.verify_bundle(data, policy=_policy(), now=now).item == item
    with pytest.raises(QuorumError):
        pl.verify_bundle(data, policy=_policy("w2"), now=now)


def test_tlog_proofs_carry_the_cosigned_note(two: World) -> None:
    cp = two.ledger.checkpoints()[1]
    two.ledger.add_cosignatures(1, line(cp, W1), [W1])
    text = two.ledger.tlog_proof(4)
    cp = two.ledger.checkpoints()[1]
    assert parse_tlog_proof(text).checkpoint == cp.cosigned_note
    leaf = leaf_hash(two.ledger.entry(4))
    log_v = NoteVerifier(ORIGIN, key("log").public_key)
    verify_tlog_proof(text, leaf_hash=leaf, origin=ORIGIN, log_key=log_v, witnesses=[W1],
                      quorum=1)
    tlogcheck.verify_tlog_proof(text, leaf, ORIGIN, log_v.vkey(), [W1.vkey()], 1)


def test_receipts_carry_the_cosigned_note(two: World) -> None:
    cp = two.ledger.checkpoints()[1]
    log_v = NoteVerifier(ORIGIN, key("log").public_key)
    leaf = leaf_hash(two.ledger.entry(4))
    bare = two.ledger.receipt(4, key=key("log"))
    assert receipt_checkpoint(bare) == cp.note
    with pytest.raises(QuorumError, match="w1"):
        verify_receipt_checkpoint(bare, leaf_hash=leaf, log_key=log_v,
                                  witnesses=_policy().witnesses, quorum=_policy())
    two.ledger.add_cosignatures(1, line(cp, W1), [W1])
    cp = two.ledger.checkpoints()[1]
    receipt = two.ledger.receipt(4, key=key("log"))
    assert receipt_checkpoint(receipt) == cp.cosigned_note
    assert verify_receipt(receipt, leaf_hash=leaf, public_key=log_v.public_key) == cp.root
    checked = verify_receipt_checkpoint(receipt, leaf_hash=leaf, log_key=log_v,
                                        witnesses=[W1, W2], quorum=1)
    assert [s.verifier for s in checked.cosigners] == [W1]
    assert checked.checkpoint.size == cp.size
    verify_receipt_checkpoint(receipt, leaf_hash=leaf, log_key=log_v,
                              witnesses=_policy().witnesses, quorum=_policy())
    with pytest.raises(QuorumError, match="w2"):
        verify_receipt_checkpoint(receipt, leaf_hash=leaf, log_key=log_v,
                                  witnesses=_policy().witnesses, quorum=_policy("w2"))
    size, root, cosigs = tlogcheck.verify_receipt_checkpoint(
        receipt, leaf, log_v.vkey(), [W1.vkey()], 1)
    assert (size, root, cosigs) == (cp.size, cp.root, {W1_NAME: COSIGNED_AT})


def test_a_receipt_carries_no_checkpoint_longer_than_its_limit() -> None:
    with pytest.raises(ValueError, match="at most"):
        make_receipt(key("log"), kid=bytes(32), leaf_index=0, tree_size=2, proof=[bytes(32)],
                     root=bytes(32), checkpoint="x" * 70_000)


# -- the receipt vectors (spec/vectors/log/receipt_checkpoints.json) ---------------------------


def _receipt_case(c: dict[str, Any]) -> None:
    checked = verify_receipt_checkpoint(
        bytes.fromhex(c["receipt"]), leaf_hash=bytes.fromhex(c["leaf_hash"]),
        log_key=parse_vkey(c["log_vkey"]), witnesses=[parse_vkey(w) for w in c["witness_vkeys"]],
        quorum=c["quorum"])
    if "size" in c:
        assert (checked.checkpoint.size, checked.checkpoint.root_hash.hex()) == (
            c["size"], c["root"])
        assert {s.verifier.name: s.timestamp for s in checked.cosigners} == \
            c["cosignature_times"]


def _vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "receipt_checkpoints.json").read_text())
    return data


def test_the_library_on_the_receipt_checkpoint_vectors() -> None:
    data = _vectors()
    assert data["valid"]
    for case in data["valid"]:
        _receipt_case(case)
    errors = {"DecodeError": DecodeError, "CheckpointError": CheckpointError,
              "QuorumError": QuorumError, "SignatureError": SignatureError}
    for case in data["invalid"]:
        with pytest.raises(pl.ProvLedgerError) as info:
            _receipt_case(case)
        assert type(info.value) is errors[case["error"]], (case["id"], info.value)


def test_tlogcheck_agrees_on_the_receipt_checkpoint_vectors() -> None:
    data = _vectors()
    for part in ("valid", "invalid"):
        for case in data[part]:
            try:
                _receipt_case(case)
                lib_ok = True
            except pl.ProvLedgerError:
                lib_ok = False
            try:
                tlogcheck.RUNNERS["receipt_checkpoints.json"](case)
                tool_ok = True
            except tlogcheck.TlogCheckError:
                tool_ok = False
            assert lib_ok == tool_ok == (part == "valid"), case["id"]


# -- the command line ------------------------------------------------------------------------


@dataclass
class Cli:
    dir: Path
    db: Path
    log_key: Path

    def run(self, *args: str | Path, stdin: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--db", str(self.db), *map(str, args)], input=stdin,
                                  env={"PROVLEDGER_PASSPHRASE": PASS, "PROVLEDGER_DB": None},
                                  prog_name="provledger")

    def ok(self, *args: str | Path, stdin: str | None = None) -> Result:
        result = self.run(*args, stdin=stdin)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def policy(self, text: str, name: str = "policy.txt") -> Path:
        path = self.dir / name
        log_vkey = NoteVerifier(ORIGIN, key("log").public_key).vkey()
        path.write_text(f"log {log_vkey}\nroot {pl.format_public_key(key('root').public_key)}\n"
                        + text)
        return path


@pytest.fixture
def shell(tmp_path: Path) -> Cli:
    db = tmp_path / "ledger.db"
    w = make_world(db)
    w.issue("C-1")
    w.ledger.close()
    log_key = tmp_path / "log.key"
    pl.write_signing_key(log_key, key("log"), passphrase=PASS.encode(), _limits=CHEAP_KDF)
    return Cli(tmp_path, db, log_key)


def test_cli_quorum_not_reached_exits_8_with_the_checkpoint_stored(shell: Cli) -> None:
    policy = shell.policy(f"witness w1 {W1.vkey()}\nquorum w1\n")
    result = shell.run("checkpoint", "--key", shell.log_key, "--policy", policy)
    assert_error(result, 8, contains="quorum was not reached")
    assert "no witness of the policy has a URL" in result.stderr
    with pl.Ledger.open(shell.db, readonly=True) as ledger:
        (cp,) = ledger.checkpoints()
    assert result.stdout == cp.note
    as_json = shell.run("checkpoint", "--key", shell.log_key, "--policy", policy, "--json")
    assert as_json.exit_code == 8
    document = json.loads(as_json.stdout)
    assert document["witnesses"] == []
    assert document["quorum"]["met"] is False
    assert document["seq"] == 1


def test_cli_without_witnesses_to_ask_works_as_before(shell: Cli) -> None:
    policy = shell.policy("quorum none\n")
    result = shell.ok("checkpoint", "--key", shell.log_key, "--policy", policy)
    with pl.Ledger.open(shell.db, readonly=True) as ledger:
        (cp,) = ledger.checkpoints()
    assert result.stdout == cp.note
    assert "quorum met" in result.stderr


@pytest.mark.parametrize(("args", "contains"), [
    (("--witness", "http://127.0.0.1:9/w"), "needs --policy"),
    (("--policy", "POLICY", "--witness", "http://127.0.0.1:9/other"), "no witness of the policy"),
])
def test_cli_witness_urls_must_be_the_policys(shell: Cli, args: tuple[str, ...],
                                              contains: str) -> None:
    policy = shell.policy(f"witness w1 {W1.vkey()} http://127.0.0.1:9/w\nquorum w1\n")
    before = snapshot(shell.db)
    result = shell.run("checkpoint", "--key", shell.log_key,
                       *(str(policy) if a == "POLICY" else a for a in args))
    assert result.exit_code == 2, result.output
    assert contains in result.output
    assert snapshot(shell.db) == before


def test_cli_adds_offline_cosignatures(shell: Cli) -> None:
    policy = shell.policy(f"witness w1 {W1.vkey()}\nwitness w2 {W2.vkey()}\n"
                          "group both all w1 w2\nquorum both\n")
    assert shell.run("checkpoint", "--key", shell.log_key, "--policy", policy).exit_code == 8
    with pl.Ledger.open(shell.db) as ledger:  # one more entry, then a second checkpoint
        jeweler = key("jeweler")
        ledger.append(ledger.sign(pl.CertificateIssued(kind="ring", serial="C-2",
                                                       owner=key("owner").public_key),
                                  key=jeweler, subject=pl.serial_item_id(jeweler.public_key,
                                                                         "C-2")))
    shell.ok("checkpoint", "--key", shell.log_key)
    with pl.Ledger.open(shell.db, readonly=True) as ledger:
        first, latest = ledger.checkpoints()
    (shell.dir / "w1.cosig").write_text(line(latest, W1) + "\n" + line(latest, STRANGER) + "\n")
    added = shell.ok("checkpoint", "cosignatures", "add", shell.dir / "w1.cosig",
                     "--policy", policy)
    assert "checkpoint 1 (size 6): added w1" in added.stdout
    assert "quorum not met" in added.stdout
    again = shell.ok("checkpoint", "cosignatures", "add", shell.dir / "w1.cosig",
                     "--policy", policy, "--json")
    assert json.loads(again.stdout)["added"] == []
    # A cosigned note of the first checkpoint, on stdin: its seq is found from its text.
    note = first.note + line(first, W2) + "\n"
    by_note = json.loads(shell.ok("checkpoint", "cosignatures", "add", "-", "--policy", policy,
                                  "--json", stdin=note).stdout)
    assert (by_note["seq"], by_note["added"], by_note["quorum"]["met"]) == (0, ["w2"], False)
    listed = shell.ok("log", "checkpoints").stdout.splitlines()
    assert listed[0].endswith(f"cosigned by {W2_NAME}")
    assert listed[1].endswith(f"cosigned by {W1_NAME}")
    (shell.dir / "w2.cosig").write_text(line(latest, W2))
    done = json.loads(shell.ok("checkpoint", "cosignatures", "add", shell.dir / "w2.cosig",
                               "--policy", policy, "--seq", "1", "--json").stdout)
    assert done == {"seq": 1, "size": 6, "added": ["w2"], "cosigned_by": ["w1", "w2"],
                    "quorum": {"rule": done["quorum"]["rule"], "met": True}}


def test_cli_bad_cosignatures_change_nothing(shell: Cli) -> None:
    policy = shell.policy(f"witness w1 {W1.vkey()}\nquorum w1\n")
    shell.ok("checkpoint", "--key", shell.log_key)
    with pl.Ledger.open(shell.db, readonly=True) as ledger:
        (cp,) = ledger.checkpoints()
    before = snapshot(shell.db)
    (shell.dir / "bad.cosig").write_text(flipped(line(cp, W1)) + "\n")
    assert_error(shell.run("checkpoint", "cosignatures", "add", shell.dir / "bad.cosig",
                           "--policy", policy), 1, contains="signature")
    assert_error(shell.run("checkpoint", "cosignatures", "add", shell.dir / "bad.cosig",
                           "--policy", policy, "--seq", "4"), 6, contains="no checkpoint 4")
    assert snapshot(shell.db) == before
    result = shell.run("checkpoint", "--key", shell.log_key, "cosignatures", "add", "x",
                       "--policy", policy)
    assert result.exit_code == 2, result.output
