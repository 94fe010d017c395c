"""The crash-test writer: append a plan's statements to a ledger, acknowledging each.

Usage: ``python writer.py LEDGER PLAN ACKS``

PLAN is a JSON file made by :mod:`tests.reliability.crash`::

    {"clock": <log time>, "log_seed": <hex>, "workshop_seed": <hex>,
     "ops": [{"op": "append", "statements": [<hex>, ...],    # one, or a batch
              "disclosures": [[<hex>, ...], ...]},          # per statement; optional
             {"op": "checkpoint"},
             {"op": "repair", "item": <item id>,            # signed here, on the head
              "work": <text>, "notes": <text>, "performed_by": <text>,
              "commit": <bool>},
             {"op": "die_at_ledger_commit"}]}               # SQLite: see below

A repair with ``commit`` has its work, notes and performer committed (provledger.commit)
and their clear text stored as disclosures, as ``Ledger.record`` does.

For every op the writer first records its intent (the statement hashes it is
about to append, and the op's number), then performs it, then records the
acknowledgement: one JSON line per event, each written with a single
``write`` and fsynced before the writer goes on. An acknowledgement therefore
means "the library call had returned". The driver kills this process with
SIGKILL at random moments and checks, after each kill, that everything
acknowledged is in the ledger, disclosures included.

``die_at_ledger_commit`` makes the writer SIGKILL itself when the next write
reaches the ledger's COMMIT: on SQLite the disclosures file has committed by
then and the ledger not, the one moment that leaves rows past the log's end.

A statement the ledger already holds (it was committed by a run killed
before its acknowledgement) is acknowledged as a duplicate with the index
the ledger reports; batches that hit one are retried statement by statement.
Only the provledger library is imported, to keep start-up short.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import provledger as pl


class Acks:
    """The acknowledgement file: whole JSON lines, each fsynced."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, **record: Any) -> None:
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        os.fsync(self._fd)


def append(ledger: pl.Ledger, statements: list[bytes], disclosures: Sequence[Sequence[bytes]],
           acks: Acks, op: int) -> None:
    hashes = [hashlib.sha256(s).hexdigest() for s in statements]
    acks.write(kind="intent", hashes=hashes, op=op)
    try:
        records = (ledger.append_batch(statements, disclosures) if len(statements) > 1
                   else [ledger.append(statements[0], disclosures[0])])
        entries = [[r.index, r.hash.hex()] for r in records]
        acks.write(kind="append", first=entries[0][0], last=entries[-1][0], entries=entries,
                   op=op, disclosures=sum(map(len, disclosures)))
    except pl.DuplicateStatementError:
        # Committed by an earlier, killed run: take each statement on its own.
        for stmt, given, digest in zip(statements, disclosures, hashes, strict=True):
            try:
                record = ledger.append(stmt, given)
                acks.write(kind="append", first=record.index, last=record.index,
                           entries=[[record.index, digest]], op=op, disclosures=len(given))
            except pl.DuplicateStatementError as exc:
                acks.write(kind="duplicate", index=exc.index, hash=digest, op=op)


def repair(ledger: pl.Ledger, op: dict[str, Any], workshop: pl.SigningKey, acks: Acks,
           n: int) -> None:
    event = pl.RepairRecorded(work=op["work"], notes=op["notes"], category="service",
                              performed_by=op["performed_by"], started=1, completed=2)
    disclosures: tuple[bytes, ...] = ()
    if op["commit"]:
        committed = pl.commit(event)
        event, disclosures = committed.event, committed.disclosures
    # Signed against whatever head the ledger has now: after a kill, this is
    # where a writer carries on from.
    stmt = ledger.sign(event, key=workshop, subject=op["item"])
    append(ledger, [stmt], [disclosures], acks, n)


class _DieAtCommit:
    """A SQLite connection that SIGKILLs its process on COMMIT (fault injection)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            os.kill(os.getpid(), signal.SIGKILL)
        return self._conn.execute(sql, *args)


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
        for n, op in enumerate(plan["ops"]):
            if op["op"] == "append":
                statements = [bytes.fromhex(s) for s in op["statements"]]
                given = [[bytes.fromhex(d) for d in ds]
                         for ds in op.get("disclosures", [[] for _ in statements])]
                append(ledger, statements, given, acks, n)
            elif op["op"] == "checkpoint":
                acks.write(kind="intent", hashes=[], op=n)
                cp = ledger.sign_checkpoint(log_key)
                acks.write(kind="checkpoint", seq=cp.seq, size=cp.size, root=cp.root.hex())
            elif op["op"] == "repair":
                repair(ledger, op, workshop, acks, n)
            elif op["op"] == "die_at_ledger_commit":
                store: Any = ledger.store
                store._conn = _DieAtCommit(store._conn)
            else:
                raise ValueError(f"unknown op {op!r}")
        acks.write(kind="done", size=len(ledger))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
