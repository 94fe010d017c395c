"""Concurrency and idempotence: many processes on one ledger, nothing lost or doubled.

Processes are started with ``spawn`` (tests/reliability/workers.py), so each
opens the ledger afresh, as separate programs would. Contention may only
surface as LedgerBusyError, which the workers retry.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import provledger as pl
from provledger import _audit

from .conftest import (
    ORIGIN,
    T0,
    World,
    find_statement,
    key,
    make_world,
    raw_sql,
    writer_blocked,
)
from .reliability import workers

CTX = multiprocessing.get_context("spawn")
WRITERS = 4
READERS = 2
OPS_PER_WRITER = 120
SHARED = 10


def certificate(w: World, serial: str) -> bytes:
    return pl.sign_statement(
        pl.CertificateIssued(kind="ring", serial=serial, owner=w.owner.public_key),
        key=w.jeweler, origin=ORIGIN, subject=pl.serial_item_id(w.jeweler.public_key, serial),
        prev=None, time=T0 + 100)


def repair(w: World, item: str, prev: bytes, work: str) -> bytes:
    return pl.sign_statement(
        pl.RepairRecorded(work=work, category="service", performed_by="Workshop", started=1,
                          completed=2),
        key=w.workshop, origin=ORIGIN, subject=item, prev=prev, time=T0 + 100)


def run(procs: list[tuple[Callable[..., None], tuple[Any, ...]]], *, stop: Any = None,
        until: list[int] | None = None, timeout: float = 60) -> list[dict[str, Any]]:
    """Start the processes, set ``stop`` once those listed in ``until`` have reported,
    and return every result, in start order."""
    queue = CTX.Queue()
    started = []
    for fn, args in procs:
        p = CTX.Process(target=fn, args=(*args, queue))
        p.start()
        started.append(p)
    names = [args[0] for _, args in procs]
    waiting = {names[i] for i in (until if until is not None else range(len(procs)))}
    results: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(results) < len(procs):
        result = queue.get(timeout=max(deadline - time.monotonic(), 0.1))
        results[result["name"]] = result
        if stop is not None and waiting <= set(results):
            stop.set()
    for p in started:
        p.join(timeout=10)
        assert p.exitcode == 0
    for r in results.values():
        assert not r["errors"], f"{r['name']}:\n" + "\n".join(r["errors"])
    return [results[n] for n in names]


@pytest.fixture
def shop(ledger_target: str | Path) -> World:
    """A ledger with four items (one with a repair) and one checkpoint; closed.
    On each backend: a SQLite file, then a PostgreSQL database."""
    w = make_world(ledger_target)  # type: ignore[arg-type]
    for n in range(4):
        w.issue(f"BASE-{n}")
    w.add(w.workshop, pl.serial_item_id(w.jeweler.public_key, "BASE-0"), pl.RepairRecorded(
        work="Polish", category="service", performed_by="Workshop", started=1, completed=2))
    w.ledger.sign_checkpoint(key("log"))
    w.ledger.close()
    return w


def test_writers_readers_and_a_checkpointer_at_once(shop: World, tmp_path: Path) -> None:
    w, path = shop, str(shop.path)
    backups = tmp_path / "backups"
    backups.mkdir()
    items = [pl.serial_item_id(w.jeweler.public_key, f"BASE-{n}") for n in range(4)]
    with pl.Ledger.open(path) as ledger:
        base = len(ledger)
    shared = [certificate(w, f"SHARED-{n}") for n in range(SHARED)]
    plans: list[list[list[bytes]]] = []
    for n in range(WRITERS):
        ops: list[list[bytes]] = [[s] for s in shared]
        for k in range(OPS_PER_WRITER):
            size = (1, 1, 2, 5)[k % 4]
            ops.append([certificate(w, f"W{n}-{k}-{j}") for j in range(size)])
        ops.sort(key=lambda op: op[0])  # shared ones spread through the run
        plans.append(ops)
    barrier, stop = CTX.Barrier(WRITERS + READERS + 1), CTX.Event()
    started = time.perf_counter()
    results = run(
        [(workers.writer, (f"writer-{n}", path, plans[n], 0.005, barrier))
         for n in range(WRITERS)]
        + [(workers.reader, (f"reader-{n}", path, items, n, str(backups), barrier, stop))
           for n in range(READERS)]
        + [(workers.checkpointer, ("checkpointer", path, key("log").seed(), 0.005, barrier,
                                   stop))],
        stop=stop, until=list(range(WRITERS)))
    elapsed = time.perf_counter() - started
    writer_results, reader_results = results[:WRITERS], results[WRITERS:WRITERS + READERS]
    signed = results[-1]["signed"]

    accepted = [a for r in writer_results for a in r["accepted"]]
    by_hash = Counter(h for _, h in accepted)
    assert max(by_hash.values()) == 1, "a statement was accepted twice"
    assert len({i for i, _ in accepted}) == len(accepted), "two statements got one index"
    submitted = {pl.verify_statement(s).hash.hex() for ops in plans for op in ops for s in op}
    assert set(by_hash) == submitted, "a statement was neither accepted nor refused as a duplicate"
    where = {h: i for i, h in accepted}
    for shared_hash in (pl.verify_statement(s).hash.hex() for s in shared):
        refusals = [i for r in writer_results for h, i in r["duplicates"] if h == shared_hash]
        assert len(refusals) == WRITERS - 1
        assert set(refusals) == {where[shared_hash]}, "a duplicate named the wrong entry"

    with pl.Ledger.open(path) as ledger:
        assert len(ledger) == base + len(accepted)
        for index, digest in accepted:
            assert find_statement(ledger.store.path, bytes.fromhex(digest)) == index
        report = ledger.audit()
        assert report.size == len(ledger)
        stored = {(c.seq, c.size, c.root.hex()) for c in ledger.checkpoints()}
        assert set(signed) <= stored
        assert report.checkpoints == len(stored) == len(signed) + 1
        writer_of = {h: n for n, r in enumerate(writer_results) for _, h in r["accepted"]}
        order = [writer_of[r.hash.hex()] for r in ledger.records(base)]
    switches = sum(a != b for a, b in itertools.pairwise(order))
    assert switches >= WRITERS, "the writers did not actually run at the same time"
    verified = Counter[str]()
    for r in reader_results:
        verified.update(r["verified"])
    assert all(verified[k] > 0 for k in ("inclusion", "consistency", "tlog_proof", "bundle",
                                         "backup"))
    races = [m for r in reader_results for m in r["live_audit_races"]]
    busy = sum(r["busy"] for r in results)
    print(f"\n{WRITERS} writers, {READERS} readers, 1 checkpointer: {len(accepted)} statements "
          f"accepted, {SHARED * (WRITERS - 1)} duplicates refused, {len(signed)} checkpoints, "
          f"{busy} busy retries, {switches} writer switches in log order, verified "
          f"{dict(verified)}, {len(races)} live audits failed by the known race; "
          f"{elapsed:.1f} s")


def test_two_writers_extending_one_chain_one_wins(shop: World) -> None:
    item = pl.serial_item_id(shop.jeweler.public_key, "BASE-1")
    rounds = 12
    barrier = CTX.Barrier(2)
    results = run([(workers.chain_racer, (name, str(shop.path), item, key("workshop").seed(),
                                          rounds, barrier))
                   for name in ("A", "B")])
    wins = 0
    for a, b in zip(results[0]["outcomes"], results[1]["outcomes"], strict=True):
        kinds = sorted((a[0], b[0]))
        assert kinds == ["appended", "chain"], (a, b)
        wins += 1
    with pl.Ledger.open(shop.path) as ledger:
        history = ledger.history(item)
        assert len(history) == 1 + wins
        ledger.audit()


def test_the_same_statement_twice_in_a_row_is_one_entry(shop: World) -> None:
    w = shop
    item = pl.serial_item_id(w.jeweler.public_key, "BASE-2")
    with pl.Ledger.open(w.path) as ledger:
        size = len(ledger)
        head = ledger.head(item)
        assert head is not None
        for stmt in (certificate(w, "TWICE"), repair(w, item, head, "again")):
            first = ledger.append(stmt)
            with pytest.raises(pl.DuplicateStatementError) as info:
                ledger.append(stmt)
            assert info.value.index == first.index
            # Also once more after other entries followed it.
            ledger.append(certificate(w, f"AFTER-{first.index}"))
            with pytest.raises(pl.DuplicateStatementError) as info:
                ledger.append(stmt)
            assert info.value.index == first.index
        with pytest.raises(pl.DuplicateStatementError) as info:
            ledger.append_batch([certificate(w, "IN-BATCH")] * 2)
        assert info.value.batch_index == 1
        assert len(ledger) == size + 4


def test_the_same_statement_from_two_processes_is_one_entry(shop: World) -> None:
    """Both submit at once; the loser learns it is a duplicate of the winner's entry.

    The library checks chain and duplicates inside the write lock, so a racing
    duplicate is reported as DuplicateStatementError, never as ChainError.
    """
    w = shop
    item = pl.serial_item_id(w.jeweler.public_key, "BASE-3")
    with pl.Ledger.open(w.path) as ledger:
        head = ledger.head(item)
        size = len(ledger)
    assert head is not None
    statements = []
    for n in range(8):  # fresh certificates and a chain of repairs, alternating
        statements.append(certificate(w, f"RACE-{n}"))
        statements.append(repair(w, item, head, f"race {n}"))
        head = pl.verify_statement(statements[-1]).hash
    barrier = CTX.Barrier(2)
    results = run([(workers.racer, (name, str(w.path), statements, barrier))
                   for name in ("A", "B")])
    for a, b in zip(results[0]["outcomes"], results[1]["outcomes"], strict=True):
        assert sorted((a[0], b[0])) == ["appended", "duplicate"], (a, b)
        assert a[1] == b[1], "the duplicate names the winner's entry"
    with pl.Ledger.open(w.path) as ledger:
        assert len(ledger) == size + len(statements)
        ledger.audit()


# -- known defects ----------------------------------------------------------------------


class _SignsWhenSized:
    """A store that lets another connection append and sign a checkpoint right after
    the audit has read the log's size: what a concurrent writer may do at any time."""

    def __init__(self, ledger: pl.Ledger, other: World) -> None:
        self._ledger, self._other = ledger, other
        self._done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger.store, name)

    def size(self) -> int:
        n = self._ledger.store.size()
        if not self._done:
            self._done = True
            self._other.issue("DURING-AUDIT")
            self._other.ledger.sign_checkpoint(key("log"))
        return n


def test_an_audit_while_another_process_signs_a_checkpoint_passes(shop: World) -> None:
    with pl.Ledger.open(shop.path) as ledger, pl.Ledger.open(shop.path,
                                                             clock=shop.clock) as other:
        shop.ledger = other
        store = _SignsWhenSized(ledger, shop)
        _audit.audit_log(store, origin=ledger.origin, root_key=ledger.root_key,
                         log_key=ledger.log_key)


def test_a_forked_child_can_append_a_large_batch(tmp_path: Path) -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork here")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("signatures are checked in worker processes only with two or more CPUs")
    script = textwrap.dedent(f"""
        import os, pathlib, signal, sys, time
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from tests.conftest import make_world
        from tests.test_concurrency import certificate
        w = make_world(pathlib.Path({str(tmp_path / "l.db")!r}))
        w.ledger.append_batch([certificate(w, f"P{{n}}") for n in range(64)])
        batch = [certificate(w, f"C{{n}}") for n in range(64)]
        w.ledger.close()
        import provledger._parallel as parallel
        assert parallel._pool is not None  # the parent's workers exist: the child needs its own
        pid = os.fork()
        if pid == 0:
            signal.alarm(2)  # a hang ends as SIGALRM
            w.ledger = type(w.ledger).open({str(tmp_path / "l.db")!r}, clock=w.clock)
            w.ledger.append_batch(batch)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    """)
    try:
        done = subprocess.run([sys.executable, "-c", script], check=False, timeout=60,
                              capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail("the forked child hung in append_batch")
    assert done.returncode == 0, done.stderr.decode()


def test_busy_is_the_only_error_of_a_blocked_writer(shop: World) -> None:
    """Held past the timeout, a writer gets LedgerBusyError, and nothing is written."""
    with writer_blocked(shop.path), pl.Ledger.open(shop.path, timeout=0.05) as ledger:
        size = len(ledger)
        for call in (lambda: ledger.append(certificate(shop, "BLOCKED")),
                     lambda: ledger.sign_checkpoint(key("log"))):
            with pytest.raises(pl.LedgerBusyError):
                call()
        assert len(ledger) == size


# -- backups ----------------------------------------------------------------------------


def test_backups_while_a_writer_appends_are_audited_prefix_snapshots(shop: World,
                                                                     tmp_path: Path) -> None:
    w, path = shop, str(shop.path)
    ops = [[certificate(w, f"B-{k}-{j}") for j in range((1, 3)[k % 2])] for k in range(400)]
    barrier = CTX.Barrier(2)
    queue = CTX.Queue()
    proc = CTX.Process(target=workers.writer, args=("writer", path, ops, 1.0, barrier, queue))
    proc.start()
    copies: list[tuple[Path, pl.AuditReport]] = []
    with pl.Ledger.open(path, readonly=True) as ledger:
        barrier.wait()
        while proc.is_alive() and len(copies) < 20:
            dest = tmp_path / f"copy-{len(copies)}.db"
            copies.append((dest, ledger.backup(dest)))
        result = queue.get(timeout=60)
        proc.join(timeout=10)
        assert not result["errors"], result["errors"]
        sizes = [report.size for _, report in copies]
        assert sizes == sorted(sizes)
        assert len(set(sizes)) >= 2, "no backup was taken while the writer appended"
        signed = {(c.seq, c.root) for c in ledger.checkpoints()}
        for dest, report in copies:
            assert not Path(f"{dest}-wal").exists()
            assert dest.read_bytes()[18:20] == b"\x01\x01", "the copy is not one plain file"
            with pl.Ledger.open(dest, readonly=True) as copy:
                assert len(copy) == report.size
                assert copy.root() == ledger.root(report.size)
                assert {(c.seq, c.root) for c in copy.checkpoints()} <= signed
    print(f"\n{len(copies)} backups while a writer appended, sizes {sizes[0]}..{sizes[-1]}")


def test_a_backup_never_replaces_a_file(shop: World, tmp_path: Path) -> None:
    dest = tmp_path / "exists.db"
    dest.write_bytes(b"precious")
    with pl.Ledger.open(shop.path) as ledger:
        with pytest.raises(pl.StorageError, match="already exists"):
            ledger.backup(dest)
        with pytest.raises(pl.StorageError, match="backup"):
            ledger.backup(tmp_path / "no-such-dir" / "copy.db")
    assert dest.read_bytes() == b"precious"
    left = {p.name for p in tmp_path.iterdir()}
    assert left <= {"exists.db", "ledger.db", "ledger.db-shm", "ledger.db-wal"}, left


def test_a_backup_of_a_damaged_ledger_fails_and_leaves_no_copy(shop: World,
                                                               tmp_path: Path) -> None:
    raw_sql(shop.path, "UPDATE entries SET time = time - 1000 WHERE idx = 5")
    dest = tmp_path / "copy.db"
    with pl.Ledger.open(shop.path) as ledger, pytest.raises(pl.AuditError) as info:
        ledger.backup(dest)
    assert info.value.index == 5
    assert "deleted" in str(info.value)
    assert not dest.exists()


def test_the_backup_command(shop: World, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from provledger_cli.main import cli

    dest = tmp_path / "copy.db"
    runner = CliRunner()
    done = runner.invoke(cli, ["--db", str(shop.path), "backup", str(dest), "--json"])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    with pl.Ledger.open(shop.path) as ledger:
        assert out["size"] == len(ledger)
        assert out["root"] == ledger.root().hex()
        assert out["checkpoints"] == 1
    again = runner.invoke(cli, ["--db", str(shop.path), "backup", str(dest)])
    assert again.exit_code == 5
    assert again.stderr.startswith("provledger: error: ")
    assert "already exists" in again.stderr
    plain = runner.invoke(cli, ["--db", str(shop.path), "backup", str(tmp_path / "b.db")])
    assert plain.exit_code == 0
    assert plain.stdout.startswith(f"backup ok: {tmp_path / 'b.db'}: {out['size']} entries")
