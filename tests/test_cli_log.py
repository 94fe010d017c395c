"""The transparency-log commands, end to end: a real ledger, a real key file, no mocks.

Every output is checked by spec/tools/tlogcheck.py, the checker that does not
import provledger, using only what the CLI printed or wrote (the verifier key
from `log vkey`, leaves from `log entry`), never the library's own answers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import provledger as pl
from provledger_cli import log_cmd
from provledger_cli.main import cli

from .conftest import ORIGIN, StepClock, World, grant, key, make_world, snapshot
from .test_tlog import tc

PASS = "log key passphrase"
#: argon2id at its floor: these tests are about the log, not about key files.
CHEAP_KDF = (1, 8 * 1024)
NEW_COMMANDS = [("checkpoint",), ("proof",), ("proof", "inclusion"), ("proof", "consistency"),
                ("log",), ("log", "vkey"), ("log", "entry"), ("log", "checkpoints")]


@dataclass
class Log:
    """A ledger file with ``size`` entries and the log key in an encrypted file."""

    dir: Path
    db: Path
    log_key: Path
    other_key: Path

    def run(self, *args: str | Path, env: dict[str, str | None] | None = None) -> Result:
        environment: dict[str, str | None] = {"PROVLEDGER_PASSPHRASE": PASS,
                                              "PROVLEDGER_DB": None}
        environment.update(env or {})
        return CliRunner().invoke(cli, ["--db", str(self.db), *map(str, args)],
                                  env=environment, prog_name="provledger")

    def ok(self, *args: str | Path) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str | Path) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def vkey(self) -> str:
        return self.ok("log", "vkey").stdout.strip()

    def entry(self, index: int) -> bytes:
        return self.ok("log", "entry", str(index)).stdout_bytes

    def leaf(self, index: int) -> bytes:
        return tc.hash_leaf(self.entry(index))


def assert_error(result: Result, code: int, *, contains: str = "") -> None:
    """Exit ``code`` with exactly one ``provledger: error:`` line on stderr."""
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("provledger: error: "), lines[0]
    assert contains in lines[0], lines[0]


def grow(path: Path, items: int) -> None:
    """Make a ledger at ``path`` with four grants and ``items`` certificates."""
    w = make_world(path)
    for i in range(items):
        w.issue(f"R-{i}")
    w.ledger.close()


@pytest.fixture
def log(tmp_path: Path) -> Log:
    db = tmp_path / "ledger.db"
    grow(db, 9)  # 4 grants + 9 certificates = 13 entries
    log_key, other_key = tmp_path / "log.key", tmp_path / "other.key"
    pl.write_signing_key(log_key, key("log"), passphrase=PASS.encode(), _limits=CHEAP_KDF)
    pl.write_signing_key(other_key, key("root"), passphrase=PASS.encode(), _limits=CHEAP_KDF)
    return Log(tmp_path, db, log_key, other_key)


def add_entries(log: Log, count: int) -> None:
    """Append ``count`` more certificates to the ledger behind the CLI's back."""
    with pl.Ledger.open(log.db) as ledger:
        jeweler = key("jeweler")
        for i in range(count):
            serial = f"X-{len(ledger)}-{i}"
            ledger.append(ledger.sign(
                pl.CertificateIssued(kind="ring", serial=serial, owner=key("owner").public_key),
                key=jeweler, subject=pl.serial_item_id(jeweler.public_key, serial)))


# -- checkpoints ----------------------------------------------------------------------


def test_checkpoint_prints_a_note_that_tlogcheck_verifies(log: Log) -> None:
    note = log.ok("checkpoint", "--key", log.log_key).stdout
    origin, size, root, extensions, cosigs = tc.verify_checkpoint(note, ORIGIN, log.vkey(), [], 0)
    entries = [log.entry(i) for i in range(13)]
    assert (origin, size, root, cosigs) == (ORIGIN, 13, tc.mth(entries), {})
    assert [e.split(" ")[0] for e in extensions] == ["provledger-heads", "provledger-time"]

    add_entries(log, 3)
    signed = log.json("checkpoint", "--key", log.log_key)
    assert (signed["seq"], signed["size"]) == (1, 16)
    _, size, root, extensions, _ = tc.verify_checkpoint(signed["note"], ORIGIN, log.vkey(), [], 0)
    assert (size, root.hex()) == (16, signed["root"])
    assert f"provledger-time {signed['time_unix']}" in extensions
    assert signed["time"].endswith("Z")

    listed = log.json("log", "checkpoints")
    assert listed["origin"] == ORIGIN
    assert [(c["seq"], c["size"]) for c in listed["checkpoints"]] == [(0, 13), (1, 16)]
    assert listed["checkpoints"][1]["note"] == signed["note"]
    human = log.ok("log", "checkpoints").stdout.splitlines()
    assert len(human) == 2
    assert signed["root"] in human[1]
    assert "2 checkpoints" in log.ok("audit").stdout


def test_a_ledger_without_checkpoints_says_so(log: Log) -> None:
    assert log.json("log", "checkpoints")["checkpoints"] == []
    assert "no checkpoint" in log.ok("log", "checkpoints").stdout
    assert_error(log.run("proof", "inclusion", "0", "--tlog-proof", log.dir / "p"), 6,
                 contains="no checkpoint")
    assert not (log.dir / "p").exists()


def test_vkey_is_the_c2sp_key_of_the_log(log: Log) -> None:
    text = log.vkey()
    assert tc.parse_vkey(text) == (ORIGIN, tc.note_key_id(ORIGIN, 1, key("log").public_key), 1,
                                   key("log").public_key)
    assert log.json("log", "vkey") == {"origin": ORIGIN, "vkey": text}


# -- proofs ---------------------------------------------------------------------------


def test_inclusion_proofs_verify_with_tlogcheck(log: Log) -> None:
    entries = [log.entry(i) for i in range(13)]
    for size in (1, 2, 5, 8, 13):
        root = tc.mth(entries[:size])
        for index in {0, size // 2, size - 1}:
            out = log.json("proof", "inclusion", str(index), "--size", str(size))
            assert (out["index"], out["size"], out["root"]) == (index, size, root.hex())
            assert out["leaf"] == tc.hash_leaf(entries[index]).hex()
            tc.verify_inclusion(tc.hash_leaf(entries[index]), index, size,
                                [bytes.fromhex(h) for h in out["proof"]], root)
    # Without --size: the whole log. The human form carries the same facts.
    lines = log.ok("proof", "inclusion", "6").stdout.splitlines()
    fields = [line.split() for line in lines]
    assert fields[:4] == [["index", "6"], ["size", "13"], ["leaf", log.leaf(6).hex()],
                          ["root", tc.mth(entries).hex()]]
    proof = [bytes.fromhex(f[1]) for f in fields[4:] if f[0] == "proof"]
    assert len(proof) == len(fields) - 4
    tc.verify_inclusion(log.leaf(6), 6, 13, proof, tc.mth(entries))


def test_tlog_proof_and_receipt_files_verify_with_tlogcheck(log: Log) -> None:
    cp = log.json("checkpoint", "--key", log.log_key)
    add_entries(log, 2)  # the exports prove against the checkpoint, not the live tree
    vkey = log.vkey()
    for index in (0, 7, 12):
        tlog_file, receipt_file = log.dir / f"{index}.tlog-proof", log.dir / f"{index}.receipt"
        out = log.json("proof", "inclusion", str(index), "--tlog-proof", tlog_file,
                       "--receipt", receipt_file, "--key", log.log_key)
        assert (out["size"], out["root"], out["checkpoint"]) == (13, cp["root"], 0)
        leaf = log.leaf(index)
        parsed = tc.verify_tlog_proof(tlog_file.read_text(), leaf, ORIGIN, vkey, [], 0)
        assert parsed["index"] == index
        assert parsed["checkpoint"] == cp["note"]
        assert [h.hex() for h in parsed["proof"]] == out["proof"]
        root = tc.verify_receipt(receipt_file.read_bytes(), leaf, key("log").public_key)
        assert root.hex() == cp["root"]
    human = log.ok("proof", "inclusion", "3", "--tlog-proof", log.dir / "3.tlog-proof").stdout
    assert f"wrote tlog-proof {log.dir / '3.tlog-proof'} (checkpoint 0, size 13)" in human
    # Past the checkpoint, or against another size: refused, nothing written.
    assert_error(log.run("proof", "inclusion", "13", "--tlog-proof", log.dir / "x"), 6,
                 contains="latest checkpoint covers 13")
    assert log.run("proof", "inclusion", "1", "--size", "14", "--tlog-proof",
                   log.dir / "x").exit_code == 2
    assert not (log.dir / "x").exists()


def test_consistency_proofs_verify_with_tlogcheck(log: Log) -> None:
    first = log.json("checkpoint", "--key", log.log_key)
    add_entries(log, 6)
    second = log.json("checkpoint", "--key", log.log_key)
    out = log.json("proof", "consistency", str(first["size"]), str(second["size"]))
    assert (out["old_root"], out["new_root"]) == (first["root"], second["root"])
    tc.verify_consistency(first["size"], second["size"], bytes.fromhex(first["root"]),
                          bytes.fromhex(second["root"]), [bytes.fromhex(h) for h in out["proof"]])
    entries = [log.entry(i) for i in range(19)]
    for old in (1, 4, 7, 13, 19):
        out = log.json("proof", "consistency", str(old))  # to the whole log
        assert out["new"] == 19
        tc.verify_consistency(old, 19, tc.mth(entries[:old]), tc.mth(entries),
                              [bytes.fromhex(h) for h in out["proof"]])
    lines = log.ok("proof", "consistency", "5", "11").stdout.splitlines()
    assert lines[0].split() == ["old", "5"]
    assert lines[2].split() == ["old_root", tc.mth(entries[:5]).hex()]
    tc.verify_consistency(5, 11, tc.mth(entries[:5]), tc.mth(entries[:11]),
                          [bytes.fromhex(line.split()[1]) for line in lines[4:]])


# -- raw entries ----------------------------------------------------------------------


def test_log_entry_bytes_are_the_leaves(log: Log, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = log.entry(4)  # stdout is not a terminal here: the bytes themselves
    root = bytes.fromhex(log.json("proof", "inclusion", "4")["root"])
    proof = [bytes.fromhex(h) for h in log.json("proof", "inclusion", "4")["proof"]]
    tc.verify_inclusion(hashlib.sha256(b"\x00" + raw).digest(), 4, 13, proof, root)

    described = log.json("log", "entry", "4")
    assert described["entry"] == raw.hex()
    assert described["leaf"] == hashlib.sha256(b"\x00" + raw).hexdigest()
    assert described["index"] == 4
    assert described["time"].endswith("Z")
    assert described["file"] is None
    assert log.ok("log", "entry", "4", "--hex").stdout == raw.hex() + "\n"

    out = log.dir / "entry4.bin"
    assert "wrote entry 4" in log.ok("log", "entry", "4", "-o", out).stdout
    assert out.read_bytes() == raw
    assert log.run("log", "entry", "4", "-o", out).exit_code == 2  # never overwrites

    monkeypatch.setattr(log_cmd, "_stdout_is_terminal", lambda: True)
    assert log.ok("log", "entry", "4").stdout == raw.hex() + "\n"


# -- refusals -------------------------------------------------------------------------


def test_wrong_key_exits_3_and_writes_nothing(log: Log) -> None:
    before = snapshot(log.db)
    assert_error(log.run("checkpoint", "--key", log.other_key), 3, contains="log key")
    assert snapshot(log.db) == before
    log.ok("checkpoint", "--key", log.log_key)
    before = snapshot(log.db)
    tlog_file, receipt_file = log.dir / "p.tlog-proof", log.dir / "p.receipt"
    assert_error(log.run("proof", "inclusion", "2", "--tlog-proof", tlog_file,
                         "--receipt", receipt_file, "--key", log.other_key), 3,
                 contains="log key")
    assert not tlog_file.exists()
    assert not receipt_file.exists()
    assert snapshot(log.db) == before


def test_receipt_kid_is_sha256_of_the_log_key(log: Log) -> None:
    """spec/log.md 6.2: the COSE kid (label 4) is SHA-256 of the log's public key."""
    log.ok("checkpoint", "--key", log.log_key)
    receipt_file = log.dir / "k.receipt"
    log.ok("proof", "inclusion", "4", "--receipt", receipt_file, "--key", log.log_key)
    body = tc.cbor_decode(receipt_file.read_bytes()).value
    header = tc.cbor_decode(body[0])
    assert header[4] == hashlib.sha256(key("log").public_key).digest()


def test_receipt_of_a_one_entry_log_is_refused(tmp_path: Path) -> None:
    """RFC 9942's inclusion path is ``[+ bstr]``; a tree of size 1 has none."""
    db = tmp_path / "one.db"
    clock = StepClock()
    ledger = pl.Ledger.create(db, origin=ORIGIN, root_key=key("root").public_key,
                              log_key=key("log").public_key, clock=clock)
    w = World(ledger, db, clock, *(key(n) for n in
                                   ("root", "jeweler", "workshop", "gemologist", "insurer",
                                    "owner")))
    grant(w, w.root, w.jeweler, "issuer", "Jeweler")
    ledger.sign_checkpoint(key("log"))
    with pytest.raises(pl.ReceiptUnavailableError, match="size 1"):
        ledger.receipt(0, key=key("log"))
    ledger.close()
    log_key = tmp_path / "log.key"
    pl.write_signing_key(log_key, key("log"), passphrase=PASS.encode(), _limits=CHEAP_KDF)
    one = Log(tmp_path, db, log_key, log_key)
    receipt_file, tlog_file = tmp_path / "r.receipt", tmp_path / "r.tlog-proof"
    assert_error(one.run("proof", "inclusion", "0", "--receipt", receipt_file,
                         "--tlog-proof", tlog_file, "--key", log_key), 6,
                 contains="one-entry")
    assert not receipt_file.exists()
    assert not tlog_file.exists()
    # The tlog-proof, whose path may be empty, is still offered.
    one.ok("proof", "inclusion", "0", "--tlog-proof", tlog_file)


def test_wrong_passphrase_exits_7(log: Log) -> None:
    before = snapshot(log.db)
    result = log.run("checkpoint", "--key", log.log_key, env={"PROVLEDGER_PASSPHRASE": "nope"})
    assert_error(result, 7, contains="wrong passphrase")
    assert snapshot(log.db) == before


@pytest.mark.parametrize("args", [
    ("proof", "inclusion", "13"),
    ("proof", "inclusion", "0", "--size", "14"),
    ("proof", "inclusion", "5", "--size", "5"),
    ("proof", "consistency", "5", "14"),
    ("proof", "consistency", "9", "8"),
    ("proof", "consistency", "0"),
    ("log", "entry", "13"),
    ("log", "entry", "99999"),
])
def test_out_of_range_exits_6(log: Log, args: tuple[str, ...]) -> None:
    assert_error(log.run(*args), 6)


@pytest.mark.parametrize("args", [
    ("proof", "inclusion", "-1"),
    ("proof", "inclusion", "1", "--receipt", "r.receipt"),
    ("proof", "inclusion", "1", "--key", "log.key"),
    ("log", "entry", "x"),
    ("checkpoint",),
])
def test_usage_errors_exit_2(log: Log, args: tuple[str, ...]) -> None:
    result = log.run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.output


def test_a_missing_ledger_exits_5(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "log", "vkey"],
                                env={"PROVLEDGER_DB": None})
    assert_error(result, 5, contains="no ledger here")


@pytest.mark.parametrize("command", NEW_COMMANDS, ids=" ".join)
def test_help_shows_an_example(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], prog_name="provledger")
    assert result.exit_code == 0, result.output
    assert "Example:" in result.stdout
    assert f"provledger --db rings.db {' '.join(command[:1])}" in result.stdout
