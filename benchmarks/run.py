"""Run the provledger benchmarks and print one table.

Every figure stands beside a reference measured in the same run, as a ratio
(see _common.py for why). Usage:

    python benchmarks/run.py [--quick] [--only SECTION ...]
    python benchmarks/run.py --scale 10000000   # opt-in: only the scaling check

--scale is never part of the default run: the 10M ledger takes ~30 minutes
to build (once, cached) and ~12 GB of disk, twice over while appending.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bundle
import checkpoint
import core
import memory
import postgres
import scale
import tree
import witness
from _common import Row, print_table

#: In order: memory verifies the bundles bundle.py exported.
SECTIONS: dict[str, Callable[..., list[Row]]] = {
    "core": core.run, "tree": tree.run, "bundle": bundle.run, "memory": memory.run,
    "checkpoint": checkpoint.run, "witness": witness.run, "postgres": postgres.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    parser.add_argument("--scale", type=int, metavar="N",
                        help="run only the scaling check: appends and proofs at N entries "
                             "(e.g. 10000000) against 10,000")
    args = parser.parse_args()
    if args.scale is not None and args.scale <= scale.SMALL:
        parser.error(f"--scale: more than {scale.SMALL:,} entries, the size it is compared with")
    if args.scale is not None:
        rows, mode = scale.run(args.scale), f"scale {args.scale:,}"
    else:
        rows, mode = [], "quick" if args.quick else "full"
        for name in args.only or SECTIONS:
            rows += SECTIONS[name](quick=args.quick)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = (f"provledger benchmarks ({mode}), {now}, "
             f"{platform.machine()} x {os.cpu_count()} cores, Python {platform.python_version()}")
    print_table(rows, title)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
