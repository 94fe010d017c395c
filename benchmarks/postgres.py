"""Append throughput with 1, 2 and 8 writer processes, PostgreSQL beside SQLite.

Each writer is a forked process with its own connection, appending
pre-signed statements (signing is not timed); the figure is the aggregate
rate of all writers together, against the raw Ed25519 verify rate measured
in the same run. What bounds it: writers serialise (SQLite's write lock,
PostgreSQL's advisory lock held to the commit), and each commit waits for its
flush (WAL fsync), so more writers add contention, not throughput; batches
spread one commit over many statements. Skipped when no PostgreSQL server
binaries are installed (tests/pg.py finds and starts one).
"""

from __future__ import annotations

import functools
import multiprocessing
import sys
import time
from pathlib import Path

from _common import (
    JEWELER,
    LOG,
    ORIGIN,
    ROOT,
    WORKSHOP,
    Clock,
    RawVerify,
    Row,
    certificates,
    interleaved,
    rate,
    scratch,
)

import provledger as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import pg  # the tests' throw-away server

CTX = multiprocessing.get_context("fork")
WRITERS = (1, 2, 8)


def _ledger(target: str | Path) -> None:
    """A ledger at ``target`` with a jeweler (issuer) and a workshop authorized."""
    with pl.Ledger.create(target, origin=ORIGIN, root_key=ROOT.public_key,
                          log_key=LOG.public_key, clock=Clock()) as ledger:
        ledger.append(ledger.sign(pl.RoleGranted(key=JEWELER.public_key, name="J",
                                                 role="issuer"),
                                  key=ROOT, subject=pl.authority_subject(JEWELER.public_key)))
        ledger.append(ledger.sign(pl.RoleGranted(key=WORKSHOP.public_key, name="W",
                                                 role="service"),
                                  key=JEWELER, subject=pl.authority_subject(WORKSHOP.public_key)))


def _write(target: str | Path, stmts: list[bytes], batch: int, start: object) -> None:
    with pl.Ledger.open(target, timeout=60, clock=Clock()) as ledger:
        start.wait()  # type: ignore[attr-defined]
        for i in range(0, len(stmts), batch):
            part = stmts[i:i + batch]
            if batch == 1:
                ledger.append(part[0])
            else:
                ledger.append_batch(part)


class Appender:
    """Timed rounds of ``writers`` processes appending fresh statements."""

    def __init__(self, target: str | Path) -> None:
        self.target, self.serial = target, 0

    def round(self, writers: int, total: int, batch: int) -> float:
        """Seconds per statement, all writers together."""
        per = total // writers
        plans = [certificates(self.serial + n * per, per) for n in range(writers)]
        self.serial += writers * per
        start = CTX.Barrier(writers + 1)
        procs = [CTX.Process(target=_write, args=(self.target, p, batch, start)) for p in plans]
        for p in procs:
            p.start()
        start.wait()
        t = time.perf_counter()
        for p in procs:
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"a writer failed (exit {p.exitcode})")
        return (time.perf_counter() - t) / (writers * per)


def run(*, quick: bool) -> list[Row]:
    if pg.find_bindir() is None:
        return [Row("PostgreSQL appends", "skipped", f"no server binaries: {pg.INSTALL_HINT}",
                    None)]
    raw = RawVerify()
    rows: list[Row] = []
    rounds = 2 if quick else 3
    singles, batched = (48, 1600) if quick else (240, 8000)
    with scratch() as d, pg.server() as server:
        targets: dict[str, str | Path] = {"SQLite": Path(d) / "bench.db",
                                          "PostgreSQL": server.new_database()}
        for target in targets.values():
            _ledger(target)
        for name, target in targets.items():
            appender = Appender(target)
            cases: list[tuple[int, int, int]] = [(w, singles, 1) for w in WRITERS]
            cases += [(w, batched, 100) for w in (1, 8)]
            for writers, total, batch in cases:
                run_round = functools.partial(appender.round, writers, total, batch)
                x, r, ratio = interleaved(run_round, raw.seconds_per_verify, rounds=rounds)
                what = "one durable commit each" if batch == 1 else f"batches of {batch}"
                rows.append(Row(f"{name} append, {writers} writer{'s' * (writers > 1)}, {what}",
                                rate(x), f"raw verify {rate(r)}", ratio))
    return rows
