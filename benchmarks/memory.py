"""Peak memory (RSS) of appending, auditing and verifying, each in a fresh process.

Each figure is the peak resident set of one child interpreter, or of the
largest of its worker processes where it forks some (each process on its own,
not their sum), beside the peak of a child that only imports provledger,
measured in alternating rounds of the same run; ratios here are ours /
reference: lower is better. The issue's limit: auditing 1,000,000 entries
stays under 200 MB, with one process and with one per core.

Full run: the cached 1,000,000-entry ledger of tree.py (quick: the 100,000
one), and the bundles bundle.py exported. An audit of 1M entries takes
minutes, so each is run once.
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

import bundle
import tree
from _common import Child, Row, import_peak_kib, in_child, mb, scratch

LIMIT_MB = 200
APPEND, APPEND_BATCH = 10_000, 1_000

_APPEND = """\
import provledger as pl
from _common import Clock, certificates
path, total, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
clock = Clock()
with pl.Ledger.open(path, clock=clock) as ledger:
    clock.t = max(clock.t, ledger.store.last_time())
    for serial in range(10**8, 10**8 + total, batch):  # beyond the built ledger's serials
        statements = certificates(serial, batch)
        clock.t += 1
        ledger.append_batch(statements)
    done(size=len(ledger))
"""

AUDIT = """\
import provledger as pl
path, workers = sys.argv[1], int(sys.argv[2])
t = time.perf_counter()
with pl.Ledger.open(path, readonly=True) as ledger:
    report = ledger.audit(workers=workers)
done(size=report.size, checkpoints=report.checkpoints, seconds=time.perf_counter() - t)
"""

_VERIFY = """\
import contextlib, io
from provledger_cli.main import main
sys.argv = ["provledger", "verify", sys.argv[1], "--policy", sys.argv[2], "--at", sys.argv[3],
            "--item", sys.argv[4]]
code = 0
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit as exc:
        code = exc.code
done(exit=code)
"""


class Reference:
    """Peaks of bare ``import provledger`` children, one taken before each measurement."""

    def __init__(self) -> None:
        self.peaks: list[int] = []

    def then(self, measure: Callable[[], Child]) -> Child:
        self.peaks.append(import_peak_kib())
        return measure()

    def kib(self) -> float:
        return statistics.median(self.peaks)

    def text(self) -> str:
        return f"import provledger {mb(self.kib())}"


def run(*, quick: bool) -> list[Row]:
    n = 100_000 if quick else 1_000_000
    cores = os.cpu_count() or 1
    ref = Reference()
    with scratch() as d:
        work = Path(d)
        source = tree._ledger(n, work)
        appended = ref.then(lambda: _append(source, work))
        audits = {w: ref.then(functools.partial(in_child, AUDIT, str(source), str(w)))
                  for w in dict.fromkeys((1, cores))}
        verified = {size: _verify(bundle.exported(size, work), work, ref, rounds=3)
                    for size in ((10_000,) if quick else (10_000, 1_000_000))}
    rows = [Row(f"peak RSS, append {APPEND:,} onto {n:,} entries, batches of "
                f"{APPEND_BATCH:,}", _value(appended), ref.text(),
                appended.peak_kib / ref.kib(), lower_is_better=True)]
    for w, child in audits.items():
        assert child.report["size"] == n
        rows.append(Row(f"peak RSS, audit {n:,} entries, {w} process{'es' * (w > 1)} "
                        f"({child.report['seconds']:.0f} s)", _value(child), ref.text(),
                        child.peak_kib / ref.kib(), lower_is_better=True))
    for size, peak in verified.items():
        rows.append(Row(f"peak RSS, provledger verify, {bundle.EVENTS}-event item, log of "
                        f"{size + bundle.EVENTS:,}", mb(peak), ref.text(), peak / ref.kib(),
                        lower_is_better=True))
    rows.append(limit_row(f"audit {n:,} entries", max(c.peak_kib for c in audits.values())))
    return rows


def limit_row(what: str, peak_kib: int) -> Row:
    """``what``'s peak against the issue's limit (a ceiling: the ratio must stay below 1)."""
    return Row(f"peak RSS, {what} vs the limit", mb(peak_kib), f"limit {LIMIT_MB} MB",
               peak_kib * 1024 / (LIMIT_MB * 1e6), 1.0, lower_is_better=True)


def _value(child: Child) -> str:
    if not child.workers_kib:
        return mb(child.own_kib)
    return f"{mb(child.peak_kib)} (main {mb(child.own_kib)}, worker {mb(child.workers_kib)})"


def _append(source: Path, work: Path) -> Child:
    path = work / "append.db"
    shutil.copyfile(source, path)
    try:
        child = in_child(_APPEND, str(path), str(APPEND), str(APPEND_BATCH))
    finally:
        path.unlink()
    return child


def _verify(made: bundle.Export, work: Path, ref: Reference, *, rounds: int) -> int:
    """Median peak of ``provledger verify`` on the bundle, rounds alternating with ``ref``."""
    data, policy = work / "item.bundle", work / "trust.policy"
    data.write_bytes(made.data)
    policy.write_text(made.policy)
    peaks = []
    for _ in range(rounds):
        child = ref.then(lambda: in_child(_VERIFY, str(data), str(policy), str(made.now),
                                          made.item))
        assert child.report["exit"] == 0, "the bundle did not verify"
        peaks.append(child.peak_kib)
    return statistics.median_low(peaks)
