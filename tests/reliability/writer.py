"""The crash-test writer: append a plan's statements to a ledger, acknowledging each.

Usage: ``python writer.py LEDGER PLAN ACKS``

PLAN is a JSON file made by :mod:`tests.reliability.crash`::

    {"clock": <log time>, "log_seed": <hex>, "workshop_seed": <hex>,
     "ops": [{"op": "append", "statements": [<hex>, ...]},   # one, or a batch
             {"op": "checkpoint"},
             {"op": "repair", "item": <item id>}]}           # signed here, on the head

For every op the writer first records its intent (the statement hashes it is
about to append), then performs it, then records the acknowledgement: one
JSON line per event, each written with a single ``write`` and fsynced before
the writer goes on. An acknowledgement therefore means "the library call had
returned". The driver kills this process with SIGKILL at random moments and
checks, after each kill, that everything acknowledged is in the ledger.

A statement the ledger already holds (it was committed by a run killed
before its acknowledgement) is acknowledged as a duplicate with the index
the ledger reports; batches that hit one are retried statement by statement.
Only the provledger library is imported, to keep start-up short.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

import provledger as pl


class Acks:
    """The acknowledgement file: whole JSON lines, each fsynced."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, **record: Any) -> None:
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        os.fsync(self._fd)


def append(ledger: pl.Ledger, statements: list[bytes], acks: Acks) -> None:
    hashes = [hashlib.sha256(s).hexdigest() for s in statements]
    acks.write(kind="intent", hashes=hashes)
    try:
        records = (ledger.append_batch(statements) if len(statements) > 1
                   else [ledger.append(statements[0])])
        entries = [[r.index, r.hash.hex()] for r in records]
        acks.write(kind="append", first=entries[0][0], last=entries[-1][0], entries=entries)
    except pl.DuplicateStatementError:
        # Committed by an earlier, killed run: take each statement on its own.
        for stmt, digest in zip(statements, hashes, strict=True):
            try:
                record = ledger.append(stmt)
                acks.write(kind="append", first=record.index, last=record.index,
                           entries=[[record.index, digest]])
            except pl.DuplicateStatementError as exc:
                acks.write(kind="duplicate", index=exc.index, hash=digest)


def main(argv: list[str]) -> int:
    ledger_path, plan_path, acks_path = argv
    with open(plan_path) as f:
        plan = json.load(f)
    log_key = pl.SigningKey(bytes.fromhex(plan["log_seed"]))
    workshop = pl.SigningKey(bytes.fromhex(plan["workshop_seed"]))
    clock = float(plan["clock"])
    acks = Acks(acks_path)
    with pl.Ledger.open(ledger_path, clock=lambda: clock) as ledger:
        acks.write(kind="ready", size=len(ledger), pid=os.getpid())
        for op in plan["ops"]:
            if op["op"] == "append":
                append(ledger, [bytes.fromhex(s) for s in op["statements"]], acks)
            elif op["op"] == "checkpoint":
                acks.write(kind="intent", hashes=[])
                cp = ledger.sign_checkpoint(log_key)
                acks.write(kind="checkpoint", seq=cp.seq, size=cp.size, root=cp.root.hex())
            elif op["op"] == "repair":
                # Signed against whatever head the ledger has now: after a
                # kill, this is where a writer carries on from.
                stmt = ledger.sign(pl.RepairRecorded(
                    work="Polish", category="service", performed_by="Workshop", started=1,
                    completed=2), key=workshop, subject=op["item"])
                append(ledger, [stmt], acks)
            else:
                raise ValueError(f"unknown op {op!r}")
        acks.write(kind="done", size=len(ledger))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
