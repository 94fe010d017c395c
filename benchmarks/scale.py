"""Opt-in scaling check: appends and inclusion proofs at 10,000,000 entries against 10,000.

Not part of ``make bench``: building the 10M ledger takes about half an hour
(once: tree.py caches it in benchmarks/.cache/, ~12 GB) and the append test
works on a copy of it. Run ``python benchmarks/run.py --scale 10000000`` (a
smaller size, such as 200,000, checks the code path quickly; from 100,000 up
the ledger is cached).

Each rate at the large size is timed in rounds alternating with the same
operation on a 10,000-entry ledger, like tree.py's append row. The floors:
appends within 10% of the small log, proofs at 20,000/s (issue 14's floor at
10M; tree.py holds 1M to 50,000/s).
"""

from __future__ import annotations

import random
from pathlib import Path

import tree
from _common import Row, interleaved, rate, scratch

import provledger as pl

SMALL = 10_000
PROOFS = 2000


def run(n: int) -> list[Row]:
    rounds = 5
    with scratch() as d:
        work = Path(d)
        small, large = tree._ledger(SMALL, work), tree._ledger(n, work)
        rows = _proof_rows(small, large, n, rounds=rounds)
        rows.append(tree._append_row(small, large, (SMALL, n), work, rounds=rounds + 2))
    return rows


def _proof_rows(small: Path, large: Path, n: int, *, rounds: int) -> list[Row]:
    rng = random.Random(9162)
    with pl.Ledger.open(small, readonly=True) as at_small, \
            pl.Ledger.open(large, readonly=True) as at_large:
        small_timer = tree.proof_timer(at_small, rng, PROOFS)
        large_timer = tree.proof_timer(at_large, rng, PROOFS)
        cold = large_timer()
        # As tree.py: a proof per level-0 tile (the tile cache holds a tenth of
        # them at 10M; this reads the rest once, as a server that has answered
        # for a moment has), then a round each.
        for ledger, size in ((at_small, SMALL), (at_large, n)):
            for i in range(0, size, 256):
                ledger.inclusion_proof(i)
        for warm_up in (small_timer, large_timer):
            warm_up()
        x, r, ratio = interleaved(large_timer, small_timer, rounds=rounds)
    return [
        Row(f"inclusion proof, {n:,} entries", rate(x), f"at {SMALL:,} entries {rate(r)}", ratio),
        Row(f"inclusion proof, {n:,} entries, first {PROOFS:,} of a process", rate(cold),
            f"warm {rate(x)}", x / cold),
        Row(f"inclusion proofs at {n:,} entries vs the floor", rate(x),
            f"floor {tree.SCALE_PROOF_FLOOR:,}/s", 1 / x / tree.SCALE_PROOF_FLOOR, 1.0),
    ]
