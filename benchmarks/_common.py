"""Shared benchmark machinery: fixtures, interleaved timing, the table.

Absolute times on a shared machine drift by tens of percent from minute to
minute, so every figure is measured in rounds that alternate with its
reference (the raw Ed25519 verify rate, or a peer library), and the table
reports the median of the per-round ratios.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


class RawVerify:
    """The physical limit: libsodium verifies of statement-sized messages."""

    def __init__(self, n: int = 2000) -> None:
        sk = nacl.signing.SigningKey(hashlib.sha256(b"raw").digest())
        self.vk = sk.verify_key
        self.items = [(m := os.urandom(600), sk.sign(m).signature) for _ in range(n)]

    def seconds_per_verify(self) -> float:
        t = time.perf_counter()
        for m, s in self.items:
            self.vk.verify(m, s)
        return (time.perf_counter() - t) / len(self.items)

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
    floor: float | None = None

    def verdict(self) -> str:
        if self.floor is None or self.ratio is None:
            return ""
        return "ok" if self.ratio >= self.floor else "BELOW FLOOR"


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
                       "" if r.floor is None else f">= {r.floor:.2f}x", r.verdict())
                      for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells[1:]:
        print("| " + " | ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)) + " |")


def scratch() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="provledger-bench-")
