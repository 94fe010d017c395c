"""Eight writer processes on one PostgreSQL ledger, each on its own connection,
while a checkpoint signer and a reader run; some writers are SIGKILLed mid-batch.

The writers are tests/reliability/writer.py (each op's intent, then its
acknowledgement, fsynced); the signer and the reader are
tests/reliability/workers.py's. Half the certificates commit an inscription
(issue 17), its clear text stored in the same transaction. Afterwards: every
acknowledged statement is at its acknowledged index and reveals the text sent,
every statement of a writer that finished is in the log exactly once, the batch
a kill interrupted is there whole or not at all, indices are dense, every
stored disclosure belongs to the statement at its index, and the audit passes,
checking each of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import provledger as pl

from .conftest import ORIGIN, T0, World, key, make_world, raw_sql
from .reliability import workers

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")

CTX = multiprocessing.get_context("spawn")
WRITER = Path(__file__).parent / "reliability" / "writer.py"
WRITERS = 8


#: A planned statement: its bytes and the disclosures of its committed text.
Planned = tuple[bytes, tuple[bytes, ...]]


def certificate(w: World, serial: str, *, inscribed: bool) -> Planned:
    """A certificate; ``inscribed``: with an inscription naming its serial, committed."""
    event = pl.CertificateIssued(kind="ring", serial=serial, owner=w.owner.public_key,
                                 inscription=f"To {serial}" if inscribed else "")
    committed = pl.commit(event)
    return (pl.sign_statement(
        committed.event, key=w.jeweler, origin=ORIGIN,
        subject=pl.serial_item_id(w.jeweler.public_key, serial), prev=None, time=T0 + 100),
        committed.disclosures)


def digest(statement: bytes) -> str:
    return hashlib.sha256(statement).hexdigest()


def acks_of(path: Path) -> list[dict[str, Any]]:
    """Whole lines only: one cut short by a kill was never acknowledged."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(line) for line in data[:data.rfind(b"\n") + 1].splitlines()]


def start_writers(tmp_path: Path, url: str, plans: list[list[list[Planned]]],
                  procs: list[subprocess.Popen[bytes]], files: contextlib.ExitStack) -> None:
    for n, plan in enumerate(plans):
        (tmp_path / f"plan-{n}.json").write_text(json.dumps({
            "clock": workers.CLOCK, "log_seed": key("log").seed().hex(),
            "workshop_seed": key("workshop").seed().hex(),
            "ops": [{"op": "append", "statements": [s.hex() for s, _ in op],
                     "disclosures": [[d.hex() for d in ds] for _, ds in op]}
                    for op in plan]}))
        err = files.enter_context((tmp_path / f"stderr-{n}.txt").open("wb"))
        procs.append(subprocess.Popen(
            [sys.executable, str(WRITER), url, str(tmp_path / f"plan-{n}.json"),
             str(tmp_path / f"acks-{n}.jsonl")], stdout=subprocess.DEVNULL, stderr=err))


def supervise(tmp_path: Path, procs: list[subprocess.Popen[bytes]], barrier: Any,
              rng: random.Random, kills: int) -> None:
    """Start the helpers' clock, SIGKILL ``kills`` writers once each has acknowledged a
    few ops, and wait for every writer; the others must exit cleanly."""
    barrier.wait()
    deadline = time.monotonic() + 60
    for n in rng.sample(range(len(procs)), kills):
        while (len(acks_of(tmp_path / f"acks-{n}.jsonl")) < 6 and procs[n].poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.05))
        procs[n].send_signal(signal.SIGKILL)
    for n, proc in enumerate(procs):
        code = proc.wait(timeout=120)
        assert code in (0, -signal.SIGKILL), (tmp_path / f"stderr-{n}.txt").read_text()


def many_writers(tmp_path: Path, url: str, *, ops: int, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    w = make_world(url)  # type: ignore[arg-type]
    items = [w.issue(f"BASE-{n}") for n in range(3)]
    w.ledger.sign_checkpoint(key("log"))
    base = len(w.ledger)
    w.ledger.close()
    plans = [[[certificate(w, f"M{n}-{k}-{j}", inscribed=(n + k + j) % 2 == 0)
               for j in range((1, 1, 2, 5)[k % 4])] for k in range(ops)]
             for n in range(WRITERS)]
    backups = tmp_path / "backups"
    backups.mkdir()
    barrier, stop, queue = CTX.Barrier(3), CTX.Event(), CTX.Queue()
    helpers = [CTX.Process(target=workers.checkpointer,
                           args=("checkpointer", url, key("log").seed(), 10.0, barrier, stop,
                                 queue)),
               CTX.Process(target=workers.reader,
                           args=("reader", url, items, 0, str(backups), barrier, stop, queue))]
    for p in helpers:
        p.start()
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as files:
        start_writers(tmp_path, url, plans, procs, files)
        supervise(tmp_path, procs, barrier, rng, kills)
    killed = {n for n, proc in enumerate(procs) if proc.returncode == -signal.SIGKILL}
    assert killed, "no writer was killed before it finished"
    stop.set()
    results = {r["name"]: r for r in (queue.get(timeout=60) for _ in helpers)}
    for p in helpers:
        p.join(timeout=30)
        assert p.exitcode == 0
    for r in results.values():
        assert not r["errors"], "\n".join(r["errors"])

    stored = {bytes(h).hex(): int(i) for h, i in raw_sql(url, "SELECT hash, idx FROM entries")}
    (count, distinct, top), = raw_sql(url, "SELECT COUNT(*), COUNT(DISTINCT hash), MAX(idx) "
                                           "FROM entries")
    assert count == distinct == top + 1, "indices are not dense, or a statement is twice"
    for n, plan in enumerate(plans):
        records = acks_of(tmp_path / f"acks-{n}.jsonl")
        for r in records:
            for index, h in r.get("entries", []):
                assert stored.get(h) == index, f"writer {n}: acknowledged {h} not at {index}"
        if n in killed:
            last = records[-1] if records else None
            if last is not None and last["kind"] == "intent":
                found = [stored.get(h) for h in last["hashes"]]
                present = [i for i in found if i is not None]
                assert len(present) in (0, len(found)), f"writer {n}: half a batch: {found}"
                assert present == list(range(present[0], present[0] + len(present))) \
                    if present else True
        else:
            assert all(digest(s) in stored for op in plan for s, _ in op), \
                f"writer {n} lost one"
    planned = {digest(s) for plan in plans for op in plan for s, _ in op}
    assert len(stored) - base == len(planned & set(stored)), "an entry nobody wrote"
    writer_of = {digest(s): n for n, plan in enumerate(plans) for op in plan for s, _ in op}
    order = [writer_of[h] for h, _ in sorted(stored.items(), key=lambda x: x[1])
             if h in writer_of]
    switches = sum(a != b for a, b in itertools.pairwise(order))
    assert switches >= WRITERS, "the writers did not run at the same time"
    with pl.Ledger.open(url) as ledger:
        report = ledger.audit()
        assert report.size == count
        inscribed = check_disclosures(ledger, plans, stored)
        assert report.disclosures == inscribed
        signed = {(c.seq, c.size, c.root.hex()) for c in ledger.checkpoints()}
        assert set(results["checkpointer"]["signed"]) <= signed
    print(f"\n{WRITERS} writers ({len(killed)} killed), 1 signer, 1 reader: {count - base} "
          f"entries ({inscribed} with a committed inscription), {len(signed)} checkpoints, "
          f"{switches} writer switches in log order")


def check_disclosures(ledger: pl.Ledger, plans: list[list[list[Planned]]],
                      stored: dict[str, int]) -> int:
    """Every stored planned statement with a committed inscription reveals it,
    and no stored disclosure belongs to anything else; returns how many."""
    sent = {digest(s): ds for plan in plans for op in plan for s, ds in op if ds}
    found = ledger.store.disclosures([bytes.fromhex(h) for h in sent if h in stored])
    for h, index in stored.items():
        if h not in sent:
            continue
        (record,) = ledger.records(index, index + 1)
        revealed = ledger.reveal(record)
        assert found[record.hash] == list(sent[h])
        assert revealed.disclosed == ("inscription",)
        assert isinstance(revealed.event, pl.CertificateIssued)
        assert revealed.event.inscription == f"To {revealed.event.serial}"
    rows = ledger.store.disclosure_rows()
    assert sorted((r.statement.hex(), r.index) for r in rows) == sorted(
        (h, stored[h]) for h in sent if h in stored), "a stored disclosure of no stored statement"
    return len(rows)


def test_eight_writers_with_kills_keep_every_acknowledged_statement(tmp_path: Path,
                                                                     pg_url: str) -> None:
    many_writers(tmp_path, pg_url, ops=10, kills=2, seed=1)


@pytest.mark.slow
def test_eight_writers_for_longer(tmp_path: Path, pg_url: str) -> None:
    many_writers(tmp_path, pg_url, ops=80, kills=4, seed=2)
