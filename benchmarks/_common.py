"""Shared benchmark machinery: fixtures, interleaved timing, the table.

Absolute times on a shared machine drift by tens of percent from minute to
minute, so every figure is measured in rounds that alternate with its
reference (the raw Ed25519 verify rate, or a peer library), and the table
reports the median of the per-round ratios.

Ratios read "higher is better" (reference / ours for times) except in rows
marked lower-is-better, such as peak memory, where the ratio is ours /
reference and a limit is a ceiling the ratio must stay below.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.pool
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing

import provledger as pl

ORIGIN = "bench.example/ledger"


def key(name: str) -> pl.SigningKey:
    return pl.SigningKey(hashlib.sha256(f"bench key {name}".encode()).digest())


ROOT, LOG, JEWELER, WORKSHOP, OWNER = (key(n) for n in ("root", "log", "jeweler", "workshop",
                                                         "owner"))


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000

    def __call__(self) -> float:
        return float(self.t)


def new_ledger(directory: Path, name: str = "bench.db") -> tuple[pl.Ledger, Clock]:
    """A ledger with a jeweler (issuer) and a workshop (service) authorized."""
    clock = Clock()
    ledger = pl.Ledger.create(directory / name, origin=ORIGIN, root_key=ROOT.public_key,
                              log_key=LOG.public_key, clock=clock)
    ledger.append(ledger.sign(pl.RoleGranted(key=JEWELER.public_key, name="J", role="issuer"),
                              key=ROOT, subject=pl.authority_subject(JEWELER.public_key)))
    ledger.append(ledger.sign(pl.RoleGranted(key=WORKSHOP.public_key, name="W", role="service"),
                              key=JEWELER, subject=pl.authority_subject(WORKSHOP.public_key)))
    return ledger, clock


def certificates(start: int, count: int, *, t: int = 1_800_000_000) -> list[bytes]:
    """``count`` signed cert.issued statements for fresh items (realistic size)."""
    out = []
    for i in range(start, start + count):
        serial = f"S{i:08d}"
        event = pl.CertificateIssued(
            kind="ring", serial=serial, owner=OWNER.public_key, metal="gold", fineness=750,
            mass_mg=4200, photos=[hashlib.sha256(serial.encode()).digest()],
            stones=[pl.Stone(kind="diamond", weight_ct100=50, color="G", clarity="VS1")])
        out.append(pl.sign_statement(event, key=JEWELER, origin=ORIGIN,
                                     subject=pl.serial_item_id(JEWELER.public_key, serial),
                                     prev=None, time=t))
    return out


_RAW: RawVerify | None = None


def _raw_verify_all(_: int) -> float:
    assert _RAW is not None
    return _RAW.seconds_per_verify()


class RawVerify:
    """The physical limit: libsodium verifies of statement-sized messages."""

    def __init__(self, n: int = 2000) -> None:
        sk = nacl.signing.SigningKey(hashlib.sha256(b"raw").digest())
        self.vk = sk.verify_key
        self.items = [(m := os.urandom(600), sk.sign(m).signature) for _ in range(n)]
        self._pools: dict[int, multiprocessing.pool.Pool] = {}

    def seconds_per_verify(self) -> float:
        t = time.perf_counter()
        for m, s in self.items:
            self.vk.verify(m, s)
        return (time.perf_counter() - t) / len(self.items)

    def seconds_per_verify_on(self, processes: int) -> float:
        """Aggregate seconds per verify with ``processes`` processes verifying at once.

        This is what every core delivers right now: on a shared VM it is often
        well under ``processes`` x one core (seen here: 0.9x to 1.9x on 2 vCPUs
        within a minute), so all-core figures are divided by it, not by a product.
        """
        global _RAW  # noqa: PLW0603 - read by the forked workers
        if self._pools.get(processes) is None:
            _RAW = self
            ctx = multiprocessing.get_context("fork")
            self._pools[processes] = ctx.Pool(processes)
        pool = self._pools[processes]
        t = time.perf_counter()
        pool.map(_raw_verify_all, range(processes), chunksize=1)
        return (time.perf_counter() - t) / (processes * len(self.items))

    def close(self) -> None:
        for pool in self._pools.values():
            pool.terminate()
        self._pools.clear()

    def sign_seconds(self, n: int = 2000) -> float:
        sk = nacl.signing.SigningKey(hashlib.sha256(b"raw-sign").digest())
        t = time.perf_counter()
        for m, _ in self.items[:n]:
            sk.sign(m)
        return (time.perf_counter() - t) / min(n, len(self.items))


@dataclass
class Row:
    what: str
    value: str
    reference: str
    ratio: float | None
    #: The ratio must reach at least this; with ``lower_is_better``, stay below it.
    floor: float | None = None
    lower_is_better: bool = False

    def verdict(self) -> str:
        if self.floor is None or self.ratio is None:
            return ""
        if self.lower_is_better:
            return "ok" if self.ratio < self.floor else "OVER LIMIT"
        return "ok" if self.ratio >= self.floor else "BELOW FLOOR"

    def floor_text(self) -> str:
        if self.floor is None:
            return ""
        return f"{'<' if self.lower_is_better else '>='} {self.floor:.2f}x"


def interleaved(run: Callable[[], float], reference: Callable[[], float], *,
                rounds: int) -> tuple[float, float, float]:
    """Median (seconds per op, reference seconds per op, reference/run ratio)."""
    ours, refs, ratios = [], [], []
    for _ in range(rounds):
        r = reference()
        x = run()
        ours.append(x)
        refs.append(r)
        ratios.append(r / x)
    return statistics.median(ours), statistics.median(refs), statistics.median(ratios)


def rate(seconds_per_op: float) -> str:
    return f"{1 / seconds_per_op:,.0f}/s"


def print_table(rows: Sequence[Row], title: str) -> None:
    print(f"\n{title}\n")
    head = ("measure", "value", "reference (same run)", "ratio", "floor", "")
    cells = [head] + [(r.what, r.value, r.reference,
                       "" if r.ratio is None else f"{r.ratio:.2f}x",
                       r.floor_text(), r.verdict())
                      for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells[1:]:
        print("| " + " | ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)) + " |")


def scratch() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="provledger-bench-")


# -- peak memory, in child processes ---------------------------------------------------

BENCHMARKS = Path(__file__).resolve().parent
#: Every child runs this first. ``done(**report)`` keeps its report, printed as the
#: last line at exit, after Python has joined every worker pool (threading's exit
#: hooks run before atexit's), so RUSAGE_CHILDREN covers the workers. The child's own
#: peak is VmHWM, not ru_maxrss: across exec Linux carries over the ru_maxrss of
#: the forked parent, here the benchmark runner, whatever its size.
_PRELUDE = f"""\
import atexit, json, resource, sys, time
sys.path.append({str(BENCHMARKS)!r})
_report = None
def done(**report):
    global _report
    _report = report
def _print():
    if _report is None:
        return
    with open("/proc/self/status") as f:
        _report["own_kib"] = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
    _report["children_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps(_report), flush=True)
atexit.register(_print)
"""


@dataclass(frozen=True)
class Child:
    """A finished child process: its report and peak resident set sizes (KiB)."""

    report: dict[str, Any]
    #: The child alone.
    own_kib: int
    #: The largest of its worker processes (each on its own, not their sum).
    workers_kib: int

    @property
    def peak_kib(self) -> int:
        return max(self.own_kib, self.workers_kib)


def in_child(code: str, *args: str) -> Child:
    """Run ``code`` in a fresh interpreter (argv = ``args``) and collect its report.

    A fresh process per measurement: a peak only ever grows.
    """
    proc = subprocess.run([sys.executable, "-c", _PRELUDE + code, *args],
                          stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"benchmark child failed (exit {proc.returncode}): {code[:200]}")
    report = json.loads(proc.stdout.splitlines()[-1])
    return Child(report, int(report.pop("own_kib")), int(report.pop("children_kib")))


def import_peak_kib() -> int:
    """The reference for memory: a child that imports provledger and nothing else."""
    return in_child("import provledger\ndone()\n").peak_kib


def mb(kib: float) -> str:
    """Kibibytes (ru_maxrss on Linux) as decimal megabytes."""
    return f"{kib * 1024 / 1e6:,.0f} MB"
