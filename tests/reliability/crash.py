"""Crash-safety driver: start the writer, SIGKILL it at a random moment, check, repeat.

After every kill the ledger must pass SQLite's integrity check and a full
audit (signatures, chains, rules, stored state, Merkle tree, checkpoints);
every statement and checkpoint the writer acknowledged must be present at the
index it was acknowledged with; the statements of the operation in flight at
the kill must be all present or all absent (never part of a batch); and the
next writer must carry on from the heads the ledger has. The last writer runs
to the end of its plan.

Statements for new items are signed here (certificates with no ``prev``, so
their order does not matter); the writer re-submits the ones no run has
acknowledged yet, so those committed just before a kill come back as
duplicates. Repairs are signed by the writer against the current head.

Run by tests/test_crash.py; by hand: ``python -m tests.reliability.crash --kills 100``.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import provledger as pl

from ..conftest import ORIGIN, T0, find_statement, key, make_world, raw_sql, statement_indices

WRITER = Path(__file__).with_name("writer.py")
#: The log time every writer uses: fixed, so runs are reproducible.
CLOCK = T0 + 10_000
BASE_ITEMS = 4


@dataclass
class Stats:
    """What a crash run did and checked."""

    kills: int = 0
    killed_before_ready: int = 0
    finished_before_kill: int = 0
    acked_statements: int = 0
    acked_checkpoints: int = 0
    duplicates_acked: int = 0
    in_flight_committed: int = 0
    in_flight_lost: int = 0
    checks: int = 0
    final_size: int = 0
    seconds: float = 0.0
    check_seconds: float = 0.0

    def __str__(self) -> str:
        return (f"{self.kills} kills ({self.killed_before_ready} before the writer was ready, "
                f"{self.finished_before_kill} runs finished first), "
                f"{self.acked_statements} acknowledged statements and "
                f"{self.acked_checkpoints} checkpoints checked after every kill, "
                f"{self.duplicates_acked} re-submissions answered as duplicates, "
                f"in flight at a kill: {self.in_flight_committed} committed, "
                f"{self.in_flight_lost} not; final size {self.final_size}; "
                f"{self.seconds:.1f} s, {self.check_seconds:.1f} s of it checking")


@dataclass
class CrashHarness:
    """One ledger, killed and checked ``kills`` times."""

    dir: Path
    seed: int = 0
    appends_per_run: int = 200
    max_delay: float = 0.25
    stats: Stats = field(default_factory=Stats)
    #: A PostgreSQL URL to hold the ledger instead of a file in ``dir``.
    url: str | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.path: Path | str = self.url if self.url is not None else self.dir / "ledger.db"
        world = make_world(self.path)
        self.items = [world.issue(f"BASE-{n}") for n in range(BASE_ITEMS)]
        world.ledger.close()
        self.jeweler, self.owner = key("jeweler"), key("owner")
        #: statement hash (hex) -> index, for everything ever acknowledged
        self.acked: dict[str, int] = {}
        #: (seq, size, root hex) of every acknowledged checkpoint
        self.checkpoints: set[tuple[int, int, str]] = set()
        #: pre-signed append ops no run has acknowledged yet
        self.pending: list[list[bytes]] = []
        self.serial = 0
        self.run_number = 0

    # -- plans --------------------------------------------------------------------

    def _certificate(self) -> bytes:
        self.serial += 1
        serial = f"C-{self.serial}"
        return pl.sign_statement(
            pl.CertificateIssued(kind="ring", serial=serial, owner=self.owner.public_key),
            key=self.jeweler, origin=ORIGIN, subject=pl.serial_item_id(
                self.jeweler.public_key, serial), prev=None, time=T0 + 100)

    def _plan(self) -> list[dict[str, Any]]:
        """The unacknowledged append ops first, then new ones, with checkpoints and
        repairs between them."""
        while len(self.pending) < self.appends_per_run:
            if self.rng.random() < 0.6:
                self.pending.append([self._certificate()])
            else:
                size = self.rng.choice((2, 3, 5, 8))
                self.pending.append([self._certificate() for _ in range(size)])
        ops: list[dict[str, Any]] = []
        for stmts in self.pending:
            ops.append({"op": "append", "statements": [s.hex() for s in stmts]})
            roll = self.rng.random()
            if roll < 0.08:
                ops.append({"op": "checkpoint"})
            elif roll < 0.25:
                ops.append({"op": "repair", "item": self.rng.choice(self.items)})
        return ops

    # -- one run ------------------------------------------------------------------

    def run_writer(self, *, kill: bool) -> list[dict[str, Any]]:
        """Start a writer on a fresh plan, kill it (or let it finish); its ack records."""
        self.run_number += 1
        plan = self.dir / f"plan-{self.run_number}.json"
        acks = self.dir / f"acks-{self.run_number}.jsonl"
        plan.write_text(json.dumps({"clock": CLOCK, "log_seed": key("log").seed().hex(),
                                    "workshop_seed": key("workshop").seed().hex(),
                                    "ops": self._plan()}))
        stderr = self.dir / f"stderr-{self.run_number}.txt"
        with stderr.open("wb") as err:
            proc = subprocess.Popen([sys.executable, str(WRITER), str(self.path), str(plan),
                                     str(acks)], stdout=subprocess.DEVNULL, stderr=err)
            if kill:
                self._kill_at_random(proc, acks)
            code = proc.wait(timeout=120)
        records = _read_acks(acks)
        finished = bool(records) and records[-1]["kind"] == "done"
        if code == -signal.SIGKILL and not finished:
            self.stats.kills += 1
        elif code == 0 and finished:
            self.stats.finished_before_kill += kill
        else:
            raise AssertionError(f"writer run {self.run_number} exited {code}:\n"
                                 f"{stderr.read_text()}")
        plan.unlink()
        return records

    def _kill_at_random(self, proc: subprocess.Popen[bytes], acks: Path) -> None:
        if self.rng.random() < 0.1:
            # Sometimes while it starts up and opens (and recovers) the ledger.
            time.sleep(self.rng.uniform(0.0, 0.3))
            if not _read_acks(acks):
                self.stats.killed_before_ready += 1
        else:
            deadline = time.monotonic() + 30
            while not _read_acks(acks) and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            time.sleep(self.rng.uniform(0.0, self.max_delay))
        proc.send_signal(signal.SIGKILL)

    # -- checks -------------------------------------------------------------------

    def absorb(self, records: list[dict[str, Any]]) -> None:
        """Take a run's acknowledgements into the expected state."""
        for r in records:
            if r["kind"] == "append":
                for index, digest in r["entries"]:
                    assert digest not in self.acked, f"{digest} acknowledged twice"
                    self.acked[digest] = index
            elif r["kind"] == "duplicate":
                assert self.acked.get(r["hash"], r["index"]) == r["index"]
                self.acked[r["hash"]] = r["index"]
                self.stats.duplicates_acked += 1
            elif r["kind"] == "checkpoint":
                self.checkpoints.add((r["seq"], r["size"], r["root"]))
        self.pending = [stmts for stmts in self.pending
                        if any(_hex_hash(s) not in self.acked for s in stmts)]

    def check(self, records: list[dict[str, Any]]) -> None:
        """Everything the module docstring promises, after one run."""
        start = time.perf_counter()
        if isinstance(self.path, str):
            assert raw_sql(self.path, "SELECT COUNT(*) - COUNT(DISTINCT hash) FROM entries"
                           ) == [(0,)]
        else:
            conn = sqlite3.connect(self.path)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                (dupes,) = conn.execute("SELECT COUNT(*) - COUNT(DISTINCT hash) FROM entries"
                                        ).fetchone()
                assert dupes == 0
            finally:
                conn.close()
        with pl.Ledger.open(self.path) as ledger:
            report = ledger.audit()
            assert report.size == len(ledger)
            signed = ledger.checkpoints()
            assert report.checkpoints == len(signed)
            stored_at = statement_indices(self.path)
            for digest, index in self.acked.items():
                assert stored_at.get(bytes.fromhex(digest)) == index, (
                    f"acknowledged statement {digest} is not at index {index}")
            stored = {(c.seq, c.size, c.root.hex()) for c in signed}
            assert self.checkpoints <= stored, self.checkpoints - stored
            self._check_in_flight(ledger, records)
            for item in self.items:  # each chain re-verifies from genesis to head
                history = ledger.history(item)
                assert history[-1].hash == ledger.head(item)
            self.stats.final_size = report.size
        self.stats.acked_statements = len(self.acked)
        self.stats.acked_checkpoints = len(self.checkpoints)
        self.stats.checks += 1
        self.stats.check_seconds += time.perf_counter() - start

    def _check_in_flight(self, ledger: pl.Ledger, records: list[dict[str, Any]]) -> None:
        """The op the kill interrupted is in the ledger entirely or not at all."""
        if not records or records[-1]["kind"] != "intent" or not records[-1]["hashes"]:
            return
        found = [find_statement(ledger.store.path, bytes.fromhex(h)) for h in records[-1]["hashes"]]
        present = [i for i in found if i is not None]
        assert len(present) in (0, len(found)), f"half of a batch is in the ledger: {found}"
        if present:
            assert present == list(range(present[0], present[0] + len(present)))
            self.stats.in_flight_committed += 1
        else:
            self.stats.in_flight_lost += 1

    # -- the whole run ----------------------------------------------------------------

    def run(self, kills: int) -> Stats:
        """Kill ``kills`` writers, checking after each, then let one finish."""
        start = time.perf_counter()
        while self.stats.kills < kills:
            records = self.run_writer(kill=True)
            self.absorb(records)
            self.check(records)
        self.appends_per_run = len(self.pending) + 20
        records = self.run_writer(kill=False)
        self.absorb(records)
        self.check(records)
        assert not self.pending
        self.stats.seconds = time.perf_counter() - start
        return self.stats


def _read_acks(path: Path) -> list[dict[str, Any]]:
    """Complete lines only: a line cut short by the kill was never acknowledged."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    return [json.loads(line) for line in lines[:-1]]


def _hex_hash(statement: bytes) -> str:
    import hashlib

    return hashlib.sha256(statement).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, required=True, help="an empty directory to work in")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(CrashHarness(args.dir, seed=args.seed).run(args.kills))


if __name__ == "__main__":
    main()
