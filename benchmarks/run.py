"""Run the provledger benchmarks and print one table.

Every figure stands beside a reference measured in the same run, as a ratio
(see _common.py for why). Usage: python benchmarks/run.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bundle
import core
import tree
from _common import print_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    args = parser.parse_args()
    rows = core.run(quick=args.quick) + tree.run(quick=args.quick)
    rows += bundle.run(quick=args.quick)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = (f"provledger benchmarks ({'quick' if args.quick else 'full'}), {now}, "
             f"{platform.machine()} x {os.cpu_count()} cores, Python {platform.python_version()}")
    print_table(rows, title)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
