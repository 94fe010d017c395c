"""Crash-safety driver: start the writer, SIGKILL it at a random moment, check, repeat.

After every kill the ledger must pass SQLite's integrity check and a full
audit (signatures, chains, rules, stored state, Merkle tree, checkpoints);
every statement and checkpoint the writer acknowledged must be present at the
index it was acknowledged with; the statements of the operation in flight at
the kill must be all present or all absent (never part of a batch); and the
next writer must carry on from the heads the ledger has. The last writer runs
to the end of its plan.

Disclosures (issue 17): about half the certificates commit an inscription and
notes, and most repairs their work, notes and performer, each a unique text.
After every kill, each acknowledged (or committed in-flight) statement's
stored disclosures reveal exactly the text sent, withholding nothing, and
stay byte for byte what they were; every stored disclosure below the log's
size is filed under the statement at its index; rows at or past the log's
end (SQLite only: the disclosures file commits before the ledger) come only
from a write a kill interrupted, and are gone once a later write with
disclosures has succeeded; and the audit counts exactly the rows below the
log's size. As random kills seldom land between the two commits, some SQLite
writers kill themselves there, and the next run then often starts with a
write without disclosures, onto the index the leftovers claim.

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
    #: Acknowledged statements whose stored disclosures revealed their text.
    disclosed_statements: int = 0
    #: Kills after which disclosures were stored past the log's end.
    leftovers: int = 0
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
                f"{self.in_flight_lost} not; {self.disclosed_statements} acknowledged "
                f"statements' disclosures revealed their text, {self.leftovers} kills left "
                f"disclosures past the log's end; final size {self.final_size}; "
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
    #: How often a SQLite writer meant to be killed kills itself instead, at
    #: the ledger's commit of a write with disclosures (random kills seldom
    #: land between that and the disclosures' commit).
    die_between_commits: float = 0.2

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
        #: pre-signed append ops no run has acknowledged yet: (statement, disclosures)s
        self.pending: list[list[tuple[bytes, tuple[bytes, ...]]]] = []
        #: statement hash (hex) -> {field: text} its disclosures must reveal
        self.texts: dict[str, dict[str, str]] = {}
        #: statement hash -> its stored disclosures, once they revealed its text
        self.revealed: dict[bytes, list[bytes]] = {}
        #: the current plan's repair texts, by op number
        self.repair_texts: dict[int, dict[str, str]] = {}
        #: statements whose disclosures may lie past the log's end: those of
        #: writes a kill interrupted since the last write with disclosures
        self.may_leave: set[str] = set()
        self.serial = 0
        self.run_number = 0

    # -- plans --------------------------------------------------------------------

    def _certificate(self, commit: bool | None = None) -> tuple[bytes, tuple[bytes, ...]]:
        """A signed certificate and, if ``commit`` (None: for about half), the
        disclosures of its committed inscription and notes."""
        self.serial += 1
        serial = f"C-{self.serial}"
        event = pl.CertificateIssued(kind="ring", serial=serial, owner=self.owner.public_key)
        disclosures: tuple[bytes, ...] = ()
        texts = {}
        if commit is None:
            commit = self.rng.random() < 0.5
        if commit:
            texts = {"inscription": f"For {serial}, always", "notes": f"Notes on {serial}"}
            committed = pl.commit(pl.CertificateIssued(
                kind="ring", serial=serial, owner=self.owner.public_key, **texts),
                salt=lambda: self.rng.randbytes(16))
            event, disclosures = committed.event, committed.disclosures
        stmt = pl.sign_statement(event, key=self.jeweler, origin=ORIGIN, subject=pl.serial_item_id(
            self.jeweler.public_key, serial), prev=None, time=T0 + 100)
        if texts:
            self.texts[_hex_hash(stmt)] = texts
        return stmt, disclosures

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
        for op in self.pending:
            ops.append(_append_op(op))
            roll = self.rng.random()
            if roll < 0.08:
                ops.append({"op": "checkpoint"})
            elif roll < 0.25:
                ops.append(self._repair(len(ops)))
        if self.may_leave and self.rng.random() < 0.5:
            # A write without disclosures first, onto the index a killed write's
            # leftovers may still claim.
            ops.insert(0, self._repair(0, commit=False))
        return ops

    def _repair(self, n: int, commit: bool | None = None) -> dict[str, Any]:
        """Op ``n``: a repair, its work, notes and performer committed if
        ``commit`` (None: three times in four)."""
        texts = {"work": f"Run {self.run_number} op {n}: resize",
                 "notes": f"Run {self.run_number} op {n}: shank thinned",
                 "performed_by": f"Workshop {n % 7}"}
        if commit is None:
            commit = self.rng.random() < 0.75
        return {"op": "repair", "item": self.rng.choice(self.items), "commit": commit, **texts}

    def certificate_op(self, *, commit: bool) -> dict[str, Any]:
        """An op appending one new certificate, committed or not (for hand-made plans)."""
        return _append_op([self._certificate(commit)])

    def repair_op(self, *, commit: bool) -> dict[str, Any]:
        """A repair op, committed or not (for hand-made plans; its texts are
        taken in when the plan is run)."""
        return self._repair(self.rng.randrange(1 << 30), commit)

    def _die_between_commits(self, ops: list[dict[str, Any]]) -> None:
        """Make the writer kill itself when a write with disclosures has
        committed them but not the ledger (SQLite's window for leftovers)."""
        at = [n for n, op in enumerate(ops) if op.get("commit") or op.get("disclosures")]
        if at:
            ops.insert(self.rng.choice(at), {"op": "die_at_ledger_commit"})

    # -- one run ------------------------------------------------------------------

    def run_writer(self, *, kill: bool,
                   ops: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Start a writer on a fresh plan (or on ``ops``), kill it (or let it
        finish, or kill itself); its ack records."""
        self.run_number += 1
        plan = self.dir / f"plan-{self.run_number}.json"
        acks = self.dir / f"acks-{self.run_number}.jsonl"
        if ops is None:
            ops = self._plan()
            if kill and self.url is None and self.rng.random() < self.die_between_commits:
                self._die_between_commits(ops)
        self.repair_texts = {n: {f: op[f] for f in ("work", "notes", "performed_by")}
                             for n, op in enumerate(ops) if op["op"] == "repair" and op["commit"]}
        plan.write_text(json.dumps({"clock": CLOCK, "log_seed": key("log").seed().hex(),
                                    "workshop_seed": key("workshop").seed().hex(),
                                    "ops": ops}))
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
            if r["kind"] in ("intent", "append") and r.get("op") in self.repair_texts:
                for digest in r.get("hashes", [h for _, h in r.get("entries", [])]):
                    self.texts[digest] = self.repair_texts[r["op"]]
            if r["kind"] == "append":
                for index, digest in r["entries"]:
                    assert digest not in self.acked, f"{digest} acknowledged twice"
                    self.acked[digest] = index
                if r["disclosures"]:
                    # That write removed what earlier kills left past the log's end.
                    self.may_leave.clear()
            elif r["kind"] == "duplicate":
                assert self.acked.get(r["hash"], r["index"]) == r["index"]
                self.acked[r["hash"]] = r["index"]
                self.stats.duplicates_acked += 1
            elif r["kind"] == "checkpoint":
                self.checkpoints.add((r["seq"], r["size"], r["root"]))
        if records and records[-1]["kind"] == "intent":
            self.may_leave.update(records[-1]["hashes"])
        self.pending = [op for op in self.pending
                        if any(_hex_hash(s) not in self.acked for s, _ in op)]

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
            self._check_disclosures(ledger, report.disclosures, stored_at)
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
            # Committed, so its disclosures were too, acknowledged or not.
            for digest, index in zip(records[-1]["hashes"], present, strict=True):
                self._check_revealed(ledger, digest, index)
        else:
            self.stats.in_flight_lost += 1

    def _check_disclosures(self, ledger: pl.Ledger, audited: int,
                           stored_at: dict[bytes, int]) -> None:
        """Every acknowledged statement reveals its text; every stored row is
        filed under the statement at its index, or is a leftover past the end."""
        # Revealed in full once; from then on its stored bytes must not change.
        for digest, index in self.acked.items():
            if bytes.fromhex(digest) not in self.revealed:
                self._check_revealed(ledger, digest, index)
        seen = ledger.store.disclosures(list(self.revealed))
        for h, disclosures in self.revealed.items():
            assert seen.get(h) == disclosures, (
                f"statement {h.hex()}: its stored disclosures changed, "
                f"{len(seen.get(h, []))} of {len(disclosures)} left")
        self.stats.disclosed_statements = len(self.revealed)
        size = len(ledger)
        rows = ledger.store.disclosure_rows()
        below = [r for r in rows if r.index < size]
        for r in below:
            assert stored_at.get(r.statement) == r.index, (
                f"a stored disclosure at index {r.index} belongs to statement "
                f"{r.statement.hex()}, which is not there")
        past = {r.statement.hex() for r in rows if r.index >= size}
        assert not past - self.may_leave, (
            f"disclosures past the log's end ({size}) that no interrupted write left: "
            f"{sorted(past - self.may_leave)}")
        if past:
            # Only SQLite commits disclosures on their own, before the ledger.
            assert self.url is None, "PostgreSQL stored disclosures past the log's end"
            self.stats.leftovers += 1
        assert audited == len(below), f"the audit checked {audited} of {len(below)} disclosures"

    def _check_revealed(self, ledger: pl.Ledger, digest: str, index: int) -> None:
        """The statement at ``index`` reveals exactly the text sent, if any was committed."""
        texts = self.texts.get(digest)
        if texts is None:
            return
        (record,) = ledger.records(index, index + 1)
        assert record.hash.hex() == digest
        revealed = ledger.reveal(record)
        shown = {path: getattr(revealed.event, path) for path in revealed.disclosed}
        assert revealed.withheld == 0, f"statement {digest} at {index} withholds text"
        assert shown == texts, f"statement {digest} at {index} reveals {shown}; sent {texts}"
        self.revealed[record.hash] = ledger.store.disclosures([record.hash])[record.hash]

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


def _append_op(op: list[tuple[bytes, tuple[bytes, ...]]]) -> dict[str, Any]:
    out: dict[str, Any] = {"op": "append", "statements": [s.hex() for s, _ in op]}
    if any(ds for _, ds in op):
        out["disclosures"] = [[d.hex() for d in ds] for _, ds in op]
    return out


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
