"""Process bodies for tests/test_concurrency.py, started with the ``spawn`` method.

Each worker opens the ledger itself, waits at a barrier so that all of them
start together, and puts one result dict on its queue. A worker never lets an
exception escape: anything but the expected errors is reported as
``errors`` (a list of reprs), which the test asserts is empty.
"""

from __future__ import annotations

import random
import re
import time
import traceback
from collections.abc import Callable
from typing import Any

import provledger as pl
from provledger import _merkle
from provledger._note import NoteVerifier, verify_tlog_proof

#: Every process uses the same fixed log time, so bundles are fresh at ``CLOCK``.
CLOCK = 1_800_000_000 + 10_000

Queue = Any  # multiprocessing.Queue; its type is not subscriptable at runtime
Sync = Any  # multiprocessing.Event / Barrier


def fixed_clock() -> float:
    return float(CLOCK)


def _retry(call: Callable[[], Any], counter: dict[str, int]) -> Any:
    """``call()``, again and again while the ledger is busy."""
    while True:
        try:
            return call()
        except pl.LedgerBusyError:
            counter["busy"] += 1


def _guard(name: str, queue: Queue, body: Callable[[dict[str, Any]], None]) -> None:
    result: dict[str, Any] = {"name": name, "errors": [], "busy": 0}
    try:
        body(result)
    except BaseException:  # reported to the test, which fails on it
        result["errors"].append(traceback.format_exc())
    queue.put(result)


# -- many writers, readers and a checkpoint signer ------------------------------------


def writer(name: str, path: str, ops: list[list[bytes]], timeout: float, barrier: Sync,
           queue: Queue) -> None:
    """Append each op (one statement or a batch), retrying while busy.

    Result: ``accepted`` [(index, hash hex)], ``duplicates`` [(hash hex, index)].
    """
    def body(result: dict[str, Any]) -> None:
        result["accepted"], result["duplicates"] = [], []
        with pl.Ledger.open(path, timeout=timeout, clock=fixed_clock) as ledger:
            barrier.wait()
            for stmts in ops:
                try:
                    records = _retry(lambda s=stmts: ledger.append_batch(s), result)
                except pl.DuplicateStatementError as exc:
                    assert len(stmts) == 1, "shared statements are appended alone"
                    result["duplicates"].append((pl.verify_statement(stmts[0]).hash.hex(),
                                                 exc.index))
                    continue
                result["accepted"].extend((r.index, r.hash.hex()) for r in records)

    _guard(name, queue, body)


def checkpointer(name: str, path: str, log_seed: bytes, timeout: float, barrier: Sync,
                 stop: Sync, queue: Queue) -> None:
    """Sign checkpoints until ``stop``. Result: ``signed`` [(seq, size, root hex)]."""
    def body(result: dict[str, Any]) -> None:
        result["signed"] = []
        key = pl.SigningKey(log_seed)
        with pl.Ledger.open(path, timeout=timeout, clock=fixed_clock) as ledger:
            barrier.wait()
            while not stop.is_set():
                cp = _retry(lambda: ledger.sign_checkpoint(key), result)
                result["signed"].append((cp.seq, cp.size, cp.root.hex()))
                time.sleep(0.02)

    _guard(name, queue, body)


#: How an audit of a ledger that others write meanwhile fails for no fault of the
#: ledger (tests/test_concurrency.py has the deterministic xfail test).
LIVE_AUDIT_RACE = re.compile(r"covers more than the \d+ entries audited|"
                             r"the head map holds nodes that no checkpoint wrote")


def reader(name: str, path: str, items: list[str], seed: int, backups: str, barrier: Sync,
           stop: Sync, queue: Queue) -> None:
    """Until ``stop``: read sizes and roots, verify, as an outsider would, the proofs
    the ledger hands out, export and verify bundles, back up and audit.

    Result: ``verified`` {kind: count}; ``live_audit_races`` [messages of live
    audits that failed as LIVE_AUDIT_RACE describes].
    """
    def body(result: dict[str, Any]) -> None:
        rng = random.Random(seed)
        counts = dict.fromkeys(("roots", "inclusion", "consistency", "history", "tlog_proof",
                                "checkpoint_consistency", "bundle", "backup", "audit"), 0)
        result["verified"], result["live_audit_races"] = counts, []
        with pl.Ledger.open(path, readonly=True, clock=fixed_clock) as ledger:
            log_key = NoteVerifier(ledger.origin, ledger.log_key)
            policy = pl.Policy(logs=(log_key,), roots=(ledger.root_key,))
            seen: tuple[int, bytes] | None = None
            seen_cp: pl.SignedCheckpoint | None = None
            barrier.wait()
            rounds = 0
            while not stop.is_set() or rounds < 3:
                rounds += 1
                size = len(ledger)
                root = ledger.root(size)
                counts["roots"] += 1
                if seen is not None:
                    assert size >= seen[0], "the log shrank"
                    proof = ledger.consistency_proof(seen[0], size)
                    _merkle.verify_consistency(old_size=seen[0], new_size=size,
                                               old_root=seen[1], new_root=root, proof=proof)
                    counts["consistency"] += 1
                seen = (size, root)
                index = rng.randrange(size)
                _merkle.verify_inclusion(_merkle.leaf_hash(ledger.entry(index)), index=index,
                                         size=size, proof=ledger.inclusion_proof(index, size),
                                         root=root)
                counts["inclusion"] += 1
                item = rng.choice(items)
                history = ledger.history(item)
                assert history[0].statement.type == "cert.issued"
                counts["history"] += 1
                cp = ledger.latest_checkpoint()
                if seen_cp is not None and seen_cp.size < cp.size:
                    _merkle.verify_consistency(
                        old_size=seen_cp.size, new_size=cp.size, old_root=seen_cp.root,
                        new_root=cp.root, proof=ledger.consistency_proof(seen_cp.size, cp.size))
                    counts["checkpoint_consistency"] += 1
                seen_cp = cp
                index = rng.randrange(cp.size)
                text = ledger.tlog_proof(index)
                verify_tlog_proof(text, leaf_hash=_merkle.leaf_hash(ledger.entry(index)),
                                  origin=ledger.origin, log_key=log_key, witnesses=(), quorum=0)
                counts["tlog_proof"] += 1
                if rounds % 5 == 0:
                    report = pl.verify_bundle(ledger.export(item), policy=policy, now=CLOCK)
                    assert report.item == item
                    counts["bundle"] += 1
                if rounds % 10 == 0:
                    # A snapshot copy audits in full, whatever the writers do meanwhile.
                    copy = f"{backups}/{name}-{rounds}.db"
                    audited = ledger.backup(copy)
                    with pl.Ledger.open(copy, readonly=True) as snapshot:
                        assert snapshot.root(audited.size) == ledger.root(audited.size)
                    counts["backup"] += 1
                if rounds % 20 == 5:
                    try:
                        ledger.audit()
                        counts["audit"] += 1
                    except pl.AuditError as exc:
                        if not LIVE_AUDIT_RACE.search(str(exc)):
                            raise
                        result["live_audit_races"].append(str(exc))

    _guard(name, queue, body)


# -- two processes, one statement each per round ----------------------------------------


def racer(name: str, path: str, rounds: list[bytes], barrier: Sync, queue: Queue) -> None:
    """Per round: wait for the other racer, append the round's statement.

    Result: ``outcomes`` per round: ("appended", index), ("duplicate", index)
    or ("chain", message).
    """
    def body(result: dict[str, Any]) -> None:
        result["outcomes"] = []
        with pl.Ledger.open(path, timeout=10.0, clock=fixed_clock) as ledger:
            for stmt in rounds:
                barrier.wait()
                result["outcomes"].append(_outcome(ledger, stmt, result))

    _guard(name, queue, body)


def chain_racer(name: str, path: str, item: str, seed: bytes, rounds: int, barrier: Sync,
                queue: Queue) -> None:
    """Per round: read the item's head, sign a repair on it, wait until the other
    racer has done the same, then append. Outcomes as :func:`racer`."""
    def body(result: dict[str, Any]) -> None:
        result["outcomes"] = []
        key = pl.SigningKey(seed)
        with pl.Ledger.open(path, timeout=10.0, clock=fixed_clock) as ledger:
            for n in range(rounds):
                barrier.wait()
                stmt = ledger.sign(pl.RepairRecorded(
                    work=f"{name} round {n}", category="service", performed_by="Workshop",
                    started=1, completed=2), key=key, subject=item)
                barrier.wait()  # both signed on the same head
                result["outcomes"].append(_outcome(ledger, stmt, result))

    _guard(name, queue, body)


def _outcome(ledger: pl.Ledger, stmt: bytes, result: dict[str, Any]) -> tuple[str, Any]:
    try:
        return ("appended", _retry(lambda: ledger.append(stmt), result).index)
    except pl.DuplicateStatementError as exc:
        return ("duplicate", exc.index)
    except pl.ChainError as exc:
        return ("chain", str(exc))
