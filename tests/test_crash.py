"""Crash safety: a writer killed with SIGKILL at random moments loses nothing it
acknowledged, the clear text of committed fields (disclosures) included.

The harness is tests/reliability/crash.py (the writer: tests/reliability/writer.py).
``make test`` runs a quick subset; ``make reliability`` the full run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import provledger as pl
from provledger._disclosure_file import disclosure_path

from .reliability.crash import CrashHarness

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")


def test_quick_kills_lose_nothing_acknowledged(tmp_path: Path) -> None:
    harness = CrashHarness(tmp_path, seed=1)
    stats = harness.run(kills=10)
    print(f"\ncrash (quick): {stats}")
    assert stats.kills == 10
    assert stats.acked_statements > 0
    assert stats.disclosed_statements > stats.acked_statements // 4
    assert stats.checks == 11
    # And `provledger audit` agrees.
    exe = Path(sys.executable).with_name("provledger")
    out = subprocess.run([str(exe), "--db", str(harness.path), "audit", "--json"],
                         capture_output=True, check=True, text=True)
    assert json.loads(out.stdout)["size"] == stats.final_size


def test_quick_kills_of_postgres_writers_lose_nothing_acknowledged(tmp_path: Path,
                                                                   pg_url: str) -> None:
    """The same kills with the ledger in PostgreSQL, the server running on: a
    writer's connection dies mid-transaction and the server rolls it back."""
    harness = CrashHarness(tmp_path, seed=4, url=pg_url)
    stats = harness.run(kills=6)
    print(f"\ncrash (quick, postgres): {stats}")
    assert stats.kills == 6
    assert stats.acked_statements > 0
    assert stats.disclosed_statements > stats.acked_statements // 4
    assert stats.checks == 7
    exe = Path(sys.executable).with_name("provledger")
    out = subprocess.run([str(exe), "--db", pg_url, "audit", "--json"],
                         capture_output=True, check=True, text=True)
    assert json.loads(out.stdout)["size"] == stats.final_size


@pytest.mark.slow
def test_a_hundred_kills_of_postgres_writers(tmp_path: Path, pg_url: str) -> None:
    stats = CrashHarness(tmp_path, seed=5, url=pg_url).run(kills=100)
    print(f"\ncrash (full, postgres): {stats}")
    assert stats.kills == 100
    assert stats.in_flight_committed > 0
    assert stats.in_flight_lost > 0


@pytest.mark.slow
def test_a_hundred_kills_lose_nothing_acknowledged(tmp_path: Path) -> None:
    stats = CrashHarness(tmp_path, seed=2).run(kills=100)
    print(f"\ncrash (full): {stats}")
    assert stats.kills == 100
    # The kills landed where it matters: some after a commit but before its
    # acknowledgement, some before the commit, some between the disclosures'
    # commit and the ledger's.
    assert stats.in_flight_committed > 0
    assert stats.in_flight_lost > 0
    assert stats.leftovers > 0


def test_the_checks_would_notice(tmp_path: Path) -> None:
    """The harness's checks fail on a lost acknowledgement, on half a batch, on a
    disclosure deleted behind the ledger's back and on one past the log's end
    that no interrupted write left."""
    harness = CrashHarness(tmp_path, seed=3)
    records = harness.run_writer(kill=False)
    harness.absorb(records)
    harness.check(records)
    lost = hashlib.sha256(b"never appended").hexdigest()
    harness.acked[lost] = 0
    with pytest.raises(AssertionError, match="not at index"):
        harness.check(records)
    del harness.acked[lost]
    present = next(iter(harness.acked))
    half = [*records, {"kind": "intent", "hashes": [present, lost]}]
    with pytest.raises(AssertionError, match="half of a batch"):
        harness.check(half)
    # A disclosure row deleted behind the ledger's back (the audit cannot tell:
    # a statement may be stored without its disclosures, or have them erased).
    with sqlite3.connect(disclosure_path(harness.path)) as conn:
        row = conn.execute("SELECT * FROM disclosures ORDER BY idx LIMIT 1").fetchone()
        conn.execute("DELETE FROM disclosures WHERE statement = ? AND digest = ?",
                     (row[1], row[0]))
    with pytest.raises(AssertionError, match="stored disclosures changed, 1 of 2 left"):
        harness.check(records)
    harness.revealed.clear()  # and a fresh harness would find the text withheld
    with pytest.raises(AssertionError, match="withholds text"):
        harness.check(records)
    # Put back, and the same row past the log's end, as if a write had been killed.
    with sqlite3.connect(disclosure_path(harness.path)) as conn:
        conn.execute("INSERT INTO disclosures VALUES (?, ?, ?, ?, ?, ?)", row)
    harness.check(records)
    with sqlite3.connect(disclosure_path(harness.path)) as conn:
        conn.execute("INSERT INTO disclosures VALUES (?, ?, ?, ?, ?, ?)",
                     (row[0], b"\0" * 32, log_size(harness) + 3, *row[3:]))
    with pytest.raises(AssertionError, match="that no interrupted write left"):
        harness.check(records)


def log_size(harness: CrashHarness) -> int:
    with pl.Ledger.open(harness.path, readonly=True) as ledger:
        return len(ledger)


@pytest.mark.parametrize("next_write", ["with disclosures", "without disclosures"])
def test_a_kill_between_the_two_commits_leaves_nothing_behind(tmp_path: Path,
                                                              next_write: str) -> None:
    """SQLite commits a write's disclosures before the ledger; a writer killed in
    between leaves rows past the log's end. They never surface: the audit and
    every statement's reveal stay exact, and the next write, with disclosures
    or without, removes them (else, once the log grows past them, they would be
    filed under a statement that never committed to them)."""
    harness = CrashHarness(tmp_path, seed=6)
    records = harness.run_writer(kill=False, ops=[
        harness.certificate_op(commit=True), {"op": "die_at_ledger_commit"},
        harness.repair_op(commit=True)])
    assert records[-1]["kind"] == "intent", "the writer did not die at the ledger's commit"
    assert harness.stats.kills == 1
    harness.absorb(records)
    harness.check(records)
    assert harness.stats.leftovers == 1
    assert harness.stats.in_flight_lost == 1
    size = log_size(harness)
    with pl.Ledger.open(harness.path, readonly=True) as ledger:
        assert {r.index for r in ledger.store.disclosure_rows(start=size)} == {size}
    records = harness.run_writer(kill=False, ops=[
        harness.certificate_op(commit=next_write == "with disclosures"),
        harness.repair_op(commit=False), harness.certificate_op(commit=True)])
    harness.absorb(records)
    harness.check(records)
    assert harness.stats.leftovers == 1
    with pl.Ledger.open(harness.path, readonly=True) as ledger:
        assert ledger.store.disclosure_rows(start=len(ledger)) == []
