"""Crash safety: a writer killed with SIGKILL at random moments loses nothing it acknowledged.

The harness is tests/reliability/crash.py (the writer: tests/reliability/writer.py).
``make test`` runs a quick subset; ``make reliability`` the full run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .reliability.crash import CrashHarness

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")


def test_quick_kills_lose_nothing_acknowledged(tmp_path: Path) -> None:
    harness = CrashHarness(tmp_path, seed=1)
    stats = harness.run(kills=10)
    print(f"\ncrash (quick): {stats}")
    assert stats.kills == 10
    assert stats.acked_statements > 0
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
    # acknowledgement, some before the commit.
    assert stats.in_flight_committed > 0
    assert stats.in_flight_lost > 0


def test_the_checks_would_notice(tmp_path: Path) -> None:
    """The harness's checks fail on a lost acknowledgement and on half a batch."""
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
