"""Core ledger benchmarks: appends and audits against the raw verify rate."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from _common import (
    RawVerify,
    Row,
    certificates,
    interleaved,
    new_ledger,
    rate,
    scratch,
)

#: Issue 18's floors, as ratios to raw Ed25519 verify measured in the same run.
APPEND_100, APPEND_1000, AUDIT = 0.85, 1.6, 0.85


def run(*, quick: bool) -> list[Row]:
    raw = RawVerify()
    rows: list[Row] = []
    rounds = 3 if quick else 5
    per_verify = min(raw.seconds_per_verify() for _ in range(3))
    rows.append(Row("raw Ed25519 verify (1 core)", rate(per_verify), "libsodium via pynacl",
                    None))
    rows.append(Row("raw Ed25519 sign (1 core)", rate(raw.sign_seconds()), "libsodium via pynacl",
                    None))
    with scratch() as d:
        ledger, clock = new_ledger(Path(d))
        serial = 0

        def batch(size: int) -> float:
            # At least 1,000 statements a round: one batch of 100 takes ~6 ms, a
            # single sample of which the machine's noise moved by a third.
            nonlocal serial
            count = max(1, 1_000 // size)
            runs = [certificates(serial + k * size, size) for k in range(count)]
            serial += count * size
            clock.t += 1
            t = time.perf_counter()
            for stmts in runs:
                ledger.append_batch(stmts)
            return (time.perf_counter() - t) / (count * size)

        def singles(n: int) -> float:
            nonlocal serial
            stmts = certificates(serial, n)
            serial += n
            t = time.perf_counter()
            for s in stmts:
                ledger.append(s)
            return (time.perf_counter() - t) / n

        x, r, ratio = interleaved(lambda: singles(20 if quick else 100),
                                  raw.seconds_per_verify, rounds=rounds)
        rows.append(Row("append, one durable commit each", rate(x), f"raw verify {rate(r)}",
                        ratio))
        cores = os.cpu_count() or 1
        # Issue 18's targets, each against one core's raw verify: batches of 100 at
        # 0.85x; batches of 1,000 at 1.6x where two cores share the work.
        for full, floor in ((100, APPEND_100), (1_000, APPEND_1000 if cores >= 2 else None),
                            (10_000, None)):
            size = min(full, 2000) if quick else full
            x, r, ratio = interleaved(functools.partial(batch, size), raw.seconds_per_verify,
                                      rounds=rounds)
            rows.append(Row(f"append, batches of {size:,}, vs 1 core", rate(x),
                            f"raw verify {rate(r)}", ratio, floor))
        size = len(ledger)

        def audit(workers: int) -> float:
            t = time.perf_counter()
            ledger.audit(workers=workers)
            return (time.perf_counter() - t) / size

        x, r, ratio = interleaved(lambda: audit(1), raw.seconds_per_verify, rounds=rounds)
        rows.append(Row(f"audit {size:,} entries, 1 process", rate(x), f"raw verify {rate(r)}",
                        ratio))

        def audit_reporting() -> float:
            t = time.perf_counter()
            ledger.audit(workers=1, progress=lambda _stage, _done, _total: None)
            return (time.perf_counter() - t) / size

        # The progress callback's cost: the same audit without one is the reference.
        x, r, ratio = interleaved(audit_reporting, lambda: audit(1), rounds=rounds)
        rows.append(Row(f"audit {size:,} entries, 1 process, no-op progress callback",
                        rate(x), f"no callback {rate(r)}", ratio, 0.9))
        x, r, ratio = interleaved(lambda: audit(cores), raw.seconds_per_verify, rounds=rounds)
        rows.append(Row(f"audit {size:,} entries, {cores} workers", rate(x),
                        f"raw verify x {cores} cores {rate(r / cores)}", ratio / cores, AUDIT))
        x, r, ratio = interleaved(lambda: audit(cores), lambda: raw.seconds_per_verify_on(cores),
                                  rounds=rounds)
        rows.append(Row(f"audit {size:,} entries, {cores} workers, vs every core", rate(x),
                        f"raw verify, {cores} processes at once {rate(r)}", ratio, AUDIT))
        ledger.close()
    raw.close()
    return rows
