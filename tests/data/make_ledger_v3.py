"""Make tests/data/ledger-v3.db: a ledger written before the head map was stored as tiles.

The file was made at commit 9726552 (schema 2: the Merkle tree as tiles, the
head map as one ``map_nodes`` row per node) with

    .venv/bin/python tests/data/make_ledger_v3.py tests/data/ledger-v3.db

and is kept as made: tests/test_headmap_convert.py opens a copy with the
current code to check that such a ledger still reads (read-only, from its
``map_nodes`` table) and migrates to head-map tiles when opened for
writing. Running this script with a newer provledger makes a newer file, so
do not regenerate the committed one.

Contents: make_ledger_v2.py's story with serials V3-0000 to V3-0599: 604
entries, checkpoints at sizes 200, 256, 513 and 604, a cosignature on the last.
"""

from __future__ import annotations

import sys
from pathlib import Path

from make_ledger_v2 import main

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_ledger_v3.py DEST.db")
    main(Path(sys.argv[1]), series="V3")
