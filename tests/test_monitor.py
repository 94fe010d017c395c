"""The monitor (spec/log.md, "Monitors"): a log replayed from its entries and
signed checkpoints alone, reporting its first inconsistency with its place.

Dishonest logs are played by tests/forge.py (entries and notes in memory) and
by ledger files edited through the store behind the ledger's back; honest ones
are real ledgers and real `provledger backup` files.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger import _merkle, _smt
from provledger._entry import decode_entry, encode_entry
from provledger._errors import MonitorError
from provledger._extensions import HEADS_EXTENSION, TIME_EXTENSION
from provledger._monitor import HeadMap, LogSource, MonitorReport, monitor, open_backup
from provledger._note import (
    Checkpoint,
    NoteVerifier,
    format_checkpoint,
    format_note,
    parse_checkpoint,
    parse_note,
    sign_note,
)
from provledger._storage import Row
from provledger._store import SQLiteStore
from provledger_cli.main import cli

from .conftest import ORIGIN, World, key, make_world, snapshot
from .forge import (
    WITNESS_NAME,
    ForgedLog,
    MapNodes,
    cosign,
    standard_log,
    unverified_subject,
    witness_key,
    witness_verifier,
)
from .test_tamper import _drop_triggers, _tamper

LOG_KEY = NoteVerifier(ORIGIN, key("log").public_key)
ROOT = key("root").public_key


def _ring(log: ForgedLog | World, serial: str = "R-1") -> str:
    item = pl.serial_item_id(key("jeweler").public_key, serial)
    log.add(key("jeweler"), item, pl.CertificateIssued(kind="ring", serial=serial,
                                                       owner=key("owner").public_key))
    return item


def _run(log: ForgedLog, notes: list[str], **kw: object) -> MonitorReport:
    return monitor(LogSource(log.entries, notes), log_key=LOG_KEY, root_key=ROOT,
                   **kw)  # type: ignore[arg-type]


def _finding(call: Callable[[], object], kind: str, *, index: int | None = None,
             checkpoint: int | None = None, says: str = "") -> MonitorError:
    with pytest.raises(MonitorError) as info:
        call()
    err = info.value
    assert (err.kind, err.index, err.checkpoint) == (kind, index, checkpoint), str(err)
    assert says in str(err)
    return err


def _stolen_log() -> tuple[ForgedLog, str, int]:
    """A ring issued, a checkpoint, then reported stolen; returns the index of
    the last entry before the theft report."""
    log = standard_log()
    item = _ring(log)
    before = len(log.entries) - 1
    log.add(key("insurer"), item, pl.StolenReported(reference="CLAIM-1"))
    return log, item, before


# -- honest logs -------------------------------------------------------------------


def _honest_world(path: Path) -> World:
    """Grants, three rings, one stolen, four checkpoints (two of the same size)."""
    w = make_world(path)
    w.ledger.sign_checkpoint(key("log"))
    items = [w.issue(f"H-{i}") for i in range(3)]
    w.clock.t += 5
    w.ledger.sign_checkpoint(key("log"))
    w.clock.t += 5
    w.ledger.sign_checkpoint(key("log"))  # the same tree, signed again later
    w.add(w.insurer, items[1], pl.StolenReported(reference="CLAIM-7"))
    w.ledger.sign_checkpoint(key("log"))
    w.issue("H-3")  # not under any checkpoint yet
    return w


def test_an_honest_ledger_file_passes_and_is_left_unchanged(tmp_path: Path) -> None:
    w = _honest_world(tmp_path / "ledger.db")
    latest = w.ledger.latest_checkpoint()
    w.ledger.close()
    before = snapshot(w.path)
    report = monitor(w.path, log_key=LOG_KEY, root_key=ROOT)
    assert snapshot(w.path) == before
    assert (report.entries, report.subjects, report.checkpoints) == (9, 8, 4)
    assert report.latest is not None
    assert (report.latest.seq, report.latest.size, report.latest.root,
            report.latest.heads, report.latest.time) == (
        latest.seq, latest.size, latest.root, latest.heads, latest.time)
    assert report.root_pinned
    assert (report.cosignatures, report.other_signatures) == ({}, 0)
    assert report.warnings == ("entry 8 is not covered by a checkpoint yet (its rules "
                               "were checked)",)


def test_a_log_of_forged_notes_that_is_honest_passes_with_its_cosignatures() -> None:
    log, _, _ = _stolen_log()
    first = log.checkpoint(size=3, witnesses=[(witness_key(), WITNESS_NAME)])
    second = log.checkpoint(witnesses=[(witness_key(), WITNESS_NAME), (key("w2"), "w2.example")])
    report = _run(log, [first.note, second.note], witnesses=[witness_verifier()])
    assert report.cosignatures == {witness_verifier(): 2}
    assert report.other_signatures == 1  # w2 is not a witness the monitor was given
    assert (report.entries, report.checkpoints, report.warnings) == (6, 2, ())


def test_cosignatures_stored_beside_a_checkpoint_are_verified_and_counted(
        tmp_path: Path) -> None:
    w = _honest_world(tmp_path / "ledger.db")
    cp = w.ledger.checkpoints()[1]
    line = cosign(cp.note, timestamp=cp.time).rstrip("\n").rpartition("\n")[2]
    with w.ledger.store.write():
        w.ledger.store.insert_cosignatures([(cp.seq, witness_verifier().vkey(), line)])
    w.ledger.close()
    with open_backup(w.path) as source:
        assert list(source.checkpoints)[1] == f"{cp.note}{line}\n"
    report = monitor(w.path, log_key=LOG_KEY, root_key=ROOT, witnesses=[witness_verifier()])
    assert report.cosignatures == {witness_verifier(): 1}
    assert monitor(w.path, log_key=LOG_KEY, root_key=ROOT).other_signatures == 1


def test_the_root_key_defaults_to_the_files_claim_and_says_so(tmp_path: Path) -> None:
    w = _honest_world(tmp_path / "ledger.db")
    w.ledger.close()
    report = monitor(w.path, log_key=LOG_KEY)
    assert not report.root_pinned
    assert any("not pinned" in warning for warning in report.warnings)


# -- what witnesses do not vouch for -------------------------------------------------


def test_a_head_map_lie_passes_a_witness_quorum_but_not_the_monitor() -> None:
    """The log signs an honest tree whose head map still names the ring's
    certificate as its latest entry, hiding the theft report; a witness
    cosigns (the tree is consistent), the bundle verifies under a quorum of
    one, and only the monitor sees the lie."""
    log, item, before = _stolen_log()
    honest = log.checkpoint(size=before + 1)
    heads = log.head_map(len(log.entries))
    heads[item] = _merkle.leaf_hash(log.entries[before])
    lying = log.checkpoint(heads=heads, witnesses=[(witness_key(), WITNESS_NAME)])
    # The ring's chain and the authorities', without the theft report.
    bundle = log.bundle(item, lying, indexes=list(range(before + 1)))
    report = pl.verify_bundle(bundle, policy=log.policy(witnesses=[witness_verifier()],
                                                        quorum=1), now=log.t)
    assert report.status == "active"  # the stolen ring reads as active
    _finding(lambda: _run(log, [honest.note, lying.note], witnesses=[witness_verifier()]),
             "head-map", checkpoint=1, says="misstates some subject's latest entry")


def _lying_note(entries: list[bytes], *, time: int, hide: tuple[str, int] | None = None,
                root: bytes | None = None, signer: pl.SigningKey | None = None) -> str:
    """A checkpoint note over ``entries``, signed by the log key (or ``signer``),
    whose head map maps ``hide``'s subject to an older entry."""
    heads = {}
    for e in entries:
        heads[unverified_subject(decode_entry(e).statement)] = _merkle.leaf_hash(e)
    if hide is not None:
        heads[hide[0]] = _merkle.leaf_hash(entries[hide[1]])
    map_root, _ = _smt.update(MapNodes(), previous=-1,
                              changes={_smt.map_key(s): v for s, v in heads.items()})
    tree = _merkle.MemoryTree()
    for e in entries:
        tree.append(e)
    body = format_checkpoint(Checkpoint(ORIGIN, len(entries), root or tree.root(), (
        f"{HEADS_EXTENSION}{base64.b64encode(map_root).decode()}", f"{TIME_EXTENSION}{time}")))
    return format_note(body, [sign_note(body, name=ORIGIN, key=signer or key("log"))])


def _entries(path: Path) -> list[bytes]:
    store = SQLiteStore.open(path, readonly=True)
    try:
        return [row.entry for row in store.rows(0, store.size())]
    finally:
        store.close()


def _insert_checkpoint(path: Path, note: str) -> int:
    """Store ``note`` as the next checkpoint, behind the ledger's back; its seq."""
    store = SQLiteStore.open(path)
    try:
        seq = len(store.checkpoints())
        body = parse_checkpoint(parse_note(note).text)
        with store.write():
            store.insert_checkpoint(seq, body.size, 0, note)
        return seq
    finally:
        store.close()


def test_a_head_map_lie_in_a_ledger_file_is_reported_at_that_checkpoint(tmp_path: Path) -> None:
    w = make_world(tmp_path / "ledger.db")
    item = w.issue("R-1")
    w.ledger.sign_checkpoint(key("log"))
    before = len(w.ledger) - 1
    w.add(w.insurer, item, pl.StolenReported(reference="CLAIM-1"))
    w.ledger.sign_checkpoint(key("log"))
    w.ledger.close()
    seq = _insert_checkpoint(w.path, _lying_note(_entries(w.path), time=w.clock.t + 10,
                                                 hide=(item, before)))
    assert seq == 2
    _finding(lambda: monitor(w.path, log_key=LOG_KEY, root_key=ROOT), "head-map",
             checkpoint=2, says="checkpoint 2: provledger-heads")


# -- lies about the tree and the signatures --------------------------------------------


def test_a_wrong_tree_root_is_reported_at_its_checkpoint() -> None:
    log, _, _ = _stolen_log()
    good = log.checkpoint(size=2)
    bad = log.checkpoint(root=hashlib.sha256(b"another tree").digest())
    _finding(lambda: _run(log, [good.note, bad.note]), "tree-root", checkpoint=1,
             says="is not the root of the log's first 6 entries")


def test_a_checkpoint_signed_by_another_key_is_reported(tmp_path: Path) -> None:
    w = make_world(tmp_path / "ledger.db")
    w.ledger.sign_checkpoint(key("log"))
    w.ledger.close()
    _insert_checkpoint(w.path, _lying_note(_entries(w.path), time=w.clock.t,
                                           signer=key("impostor")))
    err = _finding(lambda: monitor(w.path, log_key=LOG_KEY, root_key=ROOT),
                   "checkpoint-signature", checkpoint=1, says=LOG_KEY.vkey())
    assert "not signed by any known key" in str(err)


def test_a_file_of_another_log_key_says_so(tmp_path: Path) -> None:
    w = make_world(tmp_path / "ledger.db")
    w.ledger.sign_checkpoint(key("log"))
    w.ledger.close()
    other = NoteVerifier(ORIGIN, key("other log").public_key)
    err = _finding(lambda: monitor(w.path, log_key=other, root_key=ROOT),
                   "checkpoint-signature", checkpoint=0)
    assert pl.format_public_key(key("log").public_key) in str(err)  # what the file names


def test_a_bad_witness_cosignature_is_reported() -> None:
    log, _, _ = _stolen_log()
    cp = log.checkpoint()
    text, _, line = cosign(cp.note, timestamp=log.t).rstrip("\n").rpartition("\n")
    name, value = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(value))
    raw[-1] ^= 1  # the witness's key id, a signature that does not verify
    forged = f"{text}\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    _finding(lambda: _run(log, [forged], witnesses=[witness_verifier()]), "cosignature",
             checkpoint=0, says="witness cosignature does not verify")


@pytest.mark.parametrize(("change", "kind", "says"), [
    ("size-back", "order", "size 3 goes back from 6"),
    ("time-back", "order", "goes back from"),
    ("beyond", "size", "covers 7 entries, but the log has only 6"),
    ("before-entries", "order", "is before the log time"),
    ("no-heads", "checkpoint", "provledger-heads"),
])
def test_checkpoint_order_and_coverage(change: str, kind: str, says: str) -> None:
    log, _, _ = _stolen_log()
    first = log.checkpoint()
    if change == "size-back":
        second = log.checkpoint(size=3)
    elif change == "time-back":
        second = log.checkpoint(time=first.time - 1)
    elif change == "beyond":
        log.append(log.sign(key("jeweler"), _ring_id("R-9"), pl.CertificateIssued(
            kind="ring", serial="R-9", owner=key("owner").public_key)))
        second = log.checkpoint()
        log.entries.pop()  # the log serves one entry fewer than it signed
    elif change == "before-entries":
        first = log.checkpoint(size=3, time=decode_entry(log.entries[2]).time)
        second = log.checkpoint(time=first.time + 1)
    else:
        second = log.checkpoint(extensions=[f"{TIME_EXTENSION}{log.t}"])
    _finding(lambda: _run(log, [first.note, second.note]), kind, checkpoint=1, says=says)


def _ring_id(serial: str) -> str:
    return pl.serial_item_id(key("jeweler").public_key, serial)


# -- entries ---------------------------------------------------------------------------


def test_a_rule_breaking_entry_inserted_behind_the_ledgers_back(tmp_path: Path) -> None:
    """A row the ledger never accepted: a repair signed by a key with no role."""
    w = make_world(tmp_path / "ledger.db")
    item = w.issue("R-1")
    w.ledger.sign_checkpoint(key("log"))
    statement = w.sign(key("thief"), item, pl.RepairRecorded(
        work="Resize", category="service", performed_by="Thief", started=1, completed=2))
    index = len(w.ledger)
    entry = encode_entry(index, w.clock.t, statement)
    with w.ledger.store.write():
        w.ledger.store.insert([Row(index, w.clock.t, entry, hashlib.sha256(statement).digest(),
                                   item, "repair.recorded", key("thief").public_key, b"")],
                              [], [])
    w.ledger.close()
    err = _finding(lambda: monitor(w.path, log_key=LOG_KEY, root_key=ROOT), "rules",
                   index=index, says=f"entry {index}: the ledger's rules refuse it")
    assert isinstance(err.__cause__, pl.ProvLedgerError)


def test_a_rule_breaking_entry_comes_before_a_later_lying_checkpoint() -> None:
    log = standard_log()
    item = _ring(log)
    bad = log.add(key("thief"), item, pl.StolenReported(reference="FAKE"))
    heads = log.head_map(len(log.entries))
    heads[item] = _merkle.leaf_hash(log.entries[bad - 1])
    lying = log.checkpoint(heads=heads)
    _finding(lambda: _run(log, [lying.note]), "rules", index=bad)


@pytest.mark.parametrize(("damage", "kind", "says"), [
    ("signature", "signature", "entry 4: "),
    ("index", "entry", "its bytes say index 9"),
    ("time", "entry", "goes back"),
    ("garbage", "entry", "log entry"),
])
def test_entry_faults_are_reported_at_their_index(damage: str, kind: str, says: str) -> None:
    log = standard_log()
    _ring(log)
    entry = decode_entry(log.entries[4])
    if damage == "signature":
        raw = bytearray(entry.statement)
        raw[-1] ^= 1
        log.entries[4] = encode_entry(4, entry.time, bytes(raw))
    elif damage == "index":
        log.entries[4] = encode_entry(9, entry.time, entry.statement)
    elif damage == "time":
        log.entries[4] = encode_entry(4, 1, entry.statement)
    else:
        log.entries[4] = b"\x00" + log.entries[4]
    _finding(lambda: _run(log, []), kind, index=4, says=says)


# -- the head map, incrementally -----------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.integers(0, 40), st.binary(min_size=32, max_size=32)),
    st.just(None)), max_size=80))
def test_the_incremental_head_map_equals_a_fresh_build(steps: list[tuple[int, bytes] | None],
                                                      ) -> None:
    """Recorded subjects and values, with roots taken at random points (the
    checkpoints), give the root of the map built from nothing each time."""
    incremental = HeadMap()
    current: dict[str, bytes] = {}
    for step in [*steps, None]:
        if step is None:
            fresh, _ = _smt.update(MapNodes(), previous=-1, changes={
                _smt.map_key(s): v for s, v in current.items()})
            assert incremental.root() == fresh
            assert incremental.subjects == len(current)
        else:
            subject = f"subject-{step[0]}"
            incremental.record(subject, step[1])
            current[subject] = step[1]


def test_the_head_map_takes_more_changes_than_fit_in_one_batch() -> None:
    """Above _smt.SMALL changes at once the update splits subtrees first."""
    incremental = HeadMap()
    current = {}
    for round_ in range(2):
        for i in range(_smt.SMALL + 50):
            subject, value = f"s{i * (round_ + 1)}", hashlib.sha256(f"{i}/{round_}".encode())
            incremental.record(subject, value.digest())
            current[subject] = value.digest()
        fresh, _ = _smt.update(MapNodes(), previous=-1,
                               changes={_smt.map_key(s): v for s, v in current.items()})
        assert incremental.root() == fresh
        assert incremental.subjects == len(current)


# -- the command -----------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"PROVLEDGER_DB": None},
                                prog_name="provledger")
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def backup(tmp_path: Path) -> tuple[Path, Path]:
    """A real `provledger backup` of an honest ledger, and its policy file."""
    w = _honest_world(tmp_path / "ledger.db")
    w.ledger.close()
    copy, policy = tmp_path / "backup.db", tmp_path / "ledger.policy"
    assert _cli("--db", str(w.path), "backup", str(copy))[0] == 0
    assert _cli("--db", str(w.path), "policy", "-o", str(policy))[0] == 0
    return copy, policy


def test_the_command_on_a_real_backup(backup: tuple[Path, Path]) -> None:
    copy, policy = backup
    code, out, err = _cli("monitor", str(copy), "--policy", str(policy))
    assert code == 0, err
    assert out.startswith(f"monitor ok: {ORIGIN}: 9 entries, 8 subjects, 4 checkpoints checked")
    assert "latest checkpoint: seq 3, size 8" in out
    assert "warning: entry 8 is not covered" in err
    code, out, _ = _cli("monitor", str(copy), "--policy", str(policy), "--json")
    doc = json.loads(out)
    assert code == 0
    assert doc["ok"] is True
    assert doc["root_pinned"] is True
    assert (doc["entries"], doc["checkpoints"], doc["latest"]["seq"]) == (9, 4, 3)
    code, out, err = _cli("monitor", str(copy), "--log-vkey", LOG_KEY.vkey(), "--json")
    assert code == 0
    assert json.loads(out)["root_pinned"] is False
    assert "warning: the root key was taken from the source" in err


def test_the_command_names_the_lying_checkpoint(backup: tuple[Path, Path]) -> None:
    copy, policy = backup
    entries = _entries(copy)
    item = _ring_id("H-1")
    before = max(i for i, e in enumerate(entries[:7])
                 if unverified_subject(decode_entry(e).statement) == item)
    _insert_checkpoint(copy, _lying_note(entries, time=2_000_000_000, hide=(item, before)))
    code, out, err = _cli("monitor", str(copy), "--policy", str(policy), "--json")
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "checkpoint 4: provledger-heads" in err
    error = json.loads(out)["error"]
    assert (error["code"], error["kind"], error["checkpoint"], error["index"]) == (
        "monitor", "head-map", 4, None)


@pytest.mark.parametrize("args", [[], ["--policy", "P", "--log-vkey", "V"],
                                  ["--log-vkey", "nonsense"],
                                  ["--policy", "P", "--root", "ed25519:x"]])
def test_the_command_refuses_bad_options(backup: tuple[Path, Path], args: list[str]) -> None:
    copy, policy = backup
    before = snapshot(copy)
    args = [str(policy) if a == "P" else LOG_KEY.vkey() if a == "V" else a for a in args]
    code, _, err = _cli("monitor", str(copy), *args)
    assert code == 2, err
    assert snapshot(copy) == before


def test_open_backup_reads_only_entries_and_notes(tmp_path: Path) -> None:
    w = _honest_world(tmp_path / "ledger.db")
    notes = [cp.note for cp in w.ledger.checkpoints()]
    w.ledger.close()
    with open_backup(w.path) as source:
        assert list(source.checkpoints) == notes
        assert list(source.entries) == _entries(w.path)
        assert (source.claimed.origin, source.claimed.log_key, source.claimed.root_key) == (
            ORIGIN, key("log").public_key, ROOT)


# -- what the monitor does not read --------------------------------------------------


@pytest.fixture(scope="module")
def honest_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = _honest_world(tmp_path_factory.mktemp("monitor") / "ledger.db")
    w.ledger.close()
    return w.path


def test_derived_data_wiped_from_the_file_changes_nothing(honest_file: Path,
                                                          tmp_path: Path) -> None:
    """Tree nodes, map nodes, key rows, states and the checkpoints' columns are
    all derived: the monitor reads none of them."""
    expected = monitor(honest_file, log_key=LOG_KEY, root_key=ROOT)
    copy = tmp_path / "wiped.db"
    shutil.copyfile(honest_file, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    _drop_triggers(conn)
    conn.executescript("DELETE FROM tiles; DELETE FROM map_tiles; DELETE FROM keys; "
                       "UPDATE entries SET time = 0, hash = x'00', subject = 'x', type = 'y', "
                       "signer = x'00', state = x''; UPDATE checkpoints SET size = 0, time = 0;")
    conn.close()
    assert monitor(copy, log_key=LOG_KEY, root_key=ROOT) == expected


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_tampered_file_raises_only_typed_errors(honest_file: Path,
                                                  data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "ledger.db"
        shutil.copyfile(honest_file, copy)
        conn = sqlite3.connect(copy, isolation_level=None)
        try:
            _drop_triggers(conn)
            for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
                _tamper(conn, data)
        finally:
            conn.close()
        # Anything but a ProvLedgerError (a traceback in the CLI) fails here.
        with contextlib.suppress(pl.ProvLedgerError):
            monitor(copy, log_key=LOG_KEY, root_key=ROOT)
