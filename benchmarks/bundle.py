"""Bundle benchmarks: export and offline verification of a 20-event item (spec/bundle.md).

A ring (its certificate and 19 services by an authorized workshop) is appended
to a log of 10,000 entries (quick) and, in the full run, to a copy of the
1,000,000-entry ledger tree.py keeps in benchmarks/.cache/ (built there if it
is missing); then one checkpoint is signed and the ring exported. Reported:

* export time and verification time, each beside the Ed25519 checks of the
  bundle's own statement signatures alone (libsodium, one core), timed in
  alternating rounds in the same run. The floor (issue 18): verifying costs at
  most 1.2 times those checks, i.e. a ratio (checks / verification) of at least 0.83;
* the wall time of the `provledger verify` command on that bundle, interpreter
  start included, against issue 18's limit of 0.3 s;
* the bundle's size, against the statements it carries: what the proofs add,
  which grows with the number of entries times log2 of the log's size.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import tree
from _common import JEWELER, LOG, OWNER, WORKSHOP, Clock, Row, interleaved, scratch

import provledger as pl
from provledger._bundle import decode_bundle  # the bundle's parts, to time their signatures
from provledger._entry import decode_entry
from provledger._statement import _split, sig_structure

EVENTS = 20
#: Verification may cost at most 1.2x the signature checks (issue 18): checks /
#: verification >= 1/1.2.
FLOOR = 1 / 1.2
#: `provledger verify` of the item's bundle, interpreter start included (issue 18).
COMMAND_LIMIT = 0.3


@dataclass(frozen=True)
class Export:
    """An exported bundle with what verifying it needs."""

    data: bytes
    policy: str
    now: int
    item: str


#: Bundles exported by this run, by the size of the log they came from (before the
#: item), so memory.py verifies them without building the ledger again.
EXPORTS: dict[int, Export] = {}


def exported(n: int, work: Path) -> Export:
    """The bundle of the ring appended to an ``n``-entry log: this run's, or a new one."""
    if n not in EXPORTS:
        path, item = _ledger_with_item(n, work)
        with pl.Ledger.open(path, readonly=True) as ledger:
            _export(ledger, item)
    return EXPORTS[n]


def _export(ledger: pl.Ledger, item: str) -> Export:
    """Export ``item``'s bundle, verifiable a minute after the checkpoint; keep it in EXPORTS."""
    made = Export(ledger.export(item), ledger.trust_policy().to_text(),
                  ledger.latest_checkpoint().time + 60, item)
    EXPORTS[len(ledger) - EVENTS] = made
    return made


def run(*, quick: bool) -> list[Row]:
    sizes = (10_000,) if quick else (10_000, 1_000_000)
    rounds = 5 if quick else 9
    rows: list[Row] = []
    with scratch() as d:
        for n in sizes:
            rows += _rows(_ledger_with_item(n, Path(d)), rounds=rounds)
    return rows


def _ledger_with_item(n: int, work: Path) -> tuple[Path, str]:
    """A copy of an ``n``-entry ledger with the ring's 20 entries and a checkpoint."""
    path = work / f"bundle-{n}.db"
    shutil.copyfile(tree._ledger(n, work), path)  # tree.py's builder and cache
    clock = Clock()
    with pl.Ledger.open(path, clock=clock) as ledger:
        clock.t = max(clock.t, ledger.store.last_time())
        item = pl.serial_item_id(JEWELER.public_key, "BENCH-RING")

        def add(key: pl.SigningKey, event: pl.Event) -> None:
            clock.t += 1
            ledger.append(ledger.sign(event, key=key, subject=item))

        add(JEWELER, pl.CertificateIssued(kind="ring", serial="BENCH-RING", metal="gold",
                                          fineness=750, owner=OWNER.public_key))
        for i in range(EVENTS - 1):
            add(WORKSHOP, pl.RepairRecorded(
                work=f"Annual service {i + 1}: clean, check claws, polish", category="service",
                performed_by="Bench Workshop", started=clock.t - 7200, completed=clock.t - 3600))
        clock.t += 1
        ledger.sign_checkpoint(LOG)
    return path, item


def _rows(made: tuple[Path, str], *, rounds: int) -> list[Row]:
    path, item = made
    with pl.Ledger.open(path, readonly=True) as ledger:
        size = len(ledger)
        policy = ledger.trust_policy()

        def export() -> float:
            t = time.perf_counter()
            ledger.export(item)
            return time.perf_counter() - t

        kept = _export(ledger, item)
        data, now = kept.data, kept.now
        checks = _signature_checks(data)

        def verify() -> float:
            t = time.perf_counter()
            pl.verify_bundle(data, policy=policy, now=now)
            return time.perf_counter() - t

        for _ in range(3):  # warm up: caches, lazy imports
            export()
            verify()
            checks()
        ex, ref_ex, ratio_ex = _interleaved_many(export, checks, rounds=rounds)
        ver, ref_ver, ratio_ver = _interleaved_many(verify, checks, rounds=rounds)
        wall = _command(data, policy.to_text(), now, item, rounds=rounds)
    bundle = decode_bundle(data)
    statements = sum(len(decode_entry(e.entry).statement) for e in bundle.entries)
    hashes = sum(len(e.proof) for e in bundle.entries) + sum(len(h.proof) for h in bundle.heads)
    k = len(bundle.entries)
    where = f"{EVENTS}-event item, log of {size:,}"
    return [
        Row(f"export, {where}", f"{ex * 1e3:.2f} ms",
            f"{k} signature checks {ref_ex * 1e3:.2f} ms", ratio_ex),
        Row(f"verify bundle, {where}", f"{ver * 1e3:.2f} ms",
            f"{k} signature checks {ref_ver * 1e3:.2f} ms", ratio_ver, FLOOR),
        Row(f"bundle size, {where}", f"{len(data):,} B",
            f"{k} statements {statements:,} B, {hashes} proof hashes", None),
        Row(f"`provledger verify` wall time, {where}", f"{wall:.2f} s",
            f"limit {COMMAND_LIMIT} s", wall / COMMAND_LIMIT, 1.0, lower_is_better=True),
    ]


def _command(data: bytes, policy: str, now: int, item: str, *, rounds: int) -> float:
    """Median wall time of the installed `provledger verify` on ``data``, as a
    marketplace runs it: a fresh interpreter each time."""
    exe = Path(sys.executable).with_name("provledger")
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "item.bundle").write_bytes(data)
        (Path(d) / "policy.txt").write_text(policy)
        args = [str(exe), "verify", str(Path(d) / "item.bundle"), "--policy",
                str(Path(d) / "policy.txt"), "--item", item, "--at", str(now)]
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def _signature_checks(data: bytes) -> Callable[[], float]:
    """A timer of libsodium verifying each statement in the bundle, nothing else."""
    cases = []
    for e in decode_bundle(data).entries:
        protected, payload, signature = _split(decode_entry(e.entry).statement)
        cases.append((nacl.signing.VerifyKey(protected[-32:]), sig_structure(protected, payload),
                      signature))

    def checks() -> float:
        t = time.perf_counter()
        for key, message, signature in cases:
            key.verify(message, signature)
        return time.perf_counter() - t

    return checks


def _interleaved_many(run: Callable[[], float], reference: Callable[[], float], *,
                      rounds: int) -> tuple[float, float, float]:
    """As _common.interleaved, each round the median of 20 runs (one run is ~1 ms)."""

    def median_of(f: Callable[[], float]) -> float:
        return statistics.median(f() for _ in range(20))

    return interleaved(lambda: median_of(run), lambda: median_of(reference), rounds=rounds)
