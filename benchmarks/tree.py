"""Transparency-log benchmarks: proofs, past roots and appends, beside pymerkle 7.

At each size the ledger and a pymerkle 7 ``SqliteTree`` hold the same entry
bytes (both persistent, both SQLite), and every figure alternates rounds of
ours and theirs, reporting the median per-round ratio ("x" = how many times
faster provledger is). pymerkle's subroot cache is warmed before timing, and so is
ours (a proof per level-0 tile); every round asks about fresh random indices and
sizes. The first proofs of a process, which read each tile they need from SQLite
once, are timed too, against the warm rate.

Append rates are compared with the log itself at 10,000 entries: the floor is
that a large log appends within 10% of a small one.

Ledgers of 100,000 entries and more are built once, from pre-signed
statements in batches, and kept in benchmarks/.cache/ under a name carrying
:data:`CACHE_VERSION` and the provledger version; a file that no longer opens
or has the wrong size is rebuilt.

Last, the conversion of a ledger file made before tiles (schema 1, a ``tree``
row per perfect subtree) at the largest size, which the first write-open of
such a file does: a schema-1 copy is made from the cached ledger (its tree
rows are the nodes the tiles hold) and timed against reading those rows.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pymerkle
from _common import Clock, Row, certificates, interleaved, new_ledger, rate, scratch

import provledger as pl
from provledger import _merkle  # no public proof verifier; the library's own one
from provledger._store import SQLiteStore

#: Bump when the cached ledgers' contents (statements, batch sizes) change.
CACHE_VERSION = 3  # 2: no index on statement hashes; 3: the tree as tiles (schema 2)
CACHE = Path(__file__).resolve().parent / ".cache"
#: Issue 14's floors, inclusion proofs per second: at 1,000,000 entries (this
#: section's largest size) and at 10,000,000 (scale.py).
PROOF_FLOOR = 50_000
SCALE_PROOF_FLOOR = 20_000
APPEND_FLOOR = 0.90
BUILD_BATCH = 10_000
APPEND_BATCH = 1_000


def run(*, quick: bool) -> list[Row]:
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    rounds = 3 if quick else 5
    rows: list[Row] = []
    rng = random.Random(9162)
    with scratch() as d:
        work = Path(d)
        ledgers = {n: _ledger(n, work) for n in sizes}
        for n in sizes:
            ledger = pl.Ledger.open(ledgers[n], readonly=True)
            try:
                with pymerkle.SqliteTree(str(work / f"pymerkle-{n}.db")) as peer:
                    peer.append_entries(_entries(ledger))
                    rows += _tree_rows(ledger, peer, n, rng, rounds=rounds, quick=quick)
            finally:
                ledger.close()
        rows.append(_append_row(ledgers[sizes[0]], ledgers[sizes[-1]], sizes, work,
                                rounds=rounds + 2))
        rows.append(_conversion_row(ledgers[sizes[-1]], sizes[-1], work))
    return rows


# -- proofs and roots -----------------------------------------------------------------


def _tree_rows(ledger: pl.Ledger, peer: pymerkle.SqliteTree, n: int, rng: random.Random, *,
               rounds: int, quick: bool) -> list[Row]:
    assert len(ledger) == peer.get_size() == n
    assert ledger.root() == peer.get_root(), "pymerkle and provledger disagree on the root"
    ours_ops, peer_ops = (1000, 100) if quick else (2000, 200)
    where = f"{n:,} entries"

    def indices(k: int) -> list[int]:
        return [rng.randrange(n) for _ in range(k)]

    # First, ours cold: a process that has read no tile yet (the row below
    # the warm one says what the warm-up is worth).
    cold = proof_timer(ledger, rng, ours_ops)()
    # Warm both: ours by a proof per level-0 tile (every tile read once, as in
    # a server that has answered for a moment), pymerkle's subroot cache.
    for i in range(0, n, 256):
        ledger.inclusion_proof(i)
    for i in indices(peer_ops):
        ledger.inclusion_proof(i)
        peer.prove_inclusion(i + 1)

    def peer_prove() -> float:
        batch = indices(peer_ops)
        t = time.perf_counter()
        for i in batch:
            peer.prove_inclusion(i + 1)
        return (time.perf_counter() - t) / len(batch)

    rows = []
    x, r, ratio = interleaved(proof_timer(ledger, rng, ours_ops), peer_prove, rounds=rounds)
    rows.append(Row(f"inclusion proof, {where}", rate(x), f"pymerkle 7 {rate(r)}", ratio))
    rows.append(Row(f"inclusion proof, {where}, first {ours_ops:,} of a process",
                    rate(cold), f"warm {rate(x)}", x / cold))
    per_proof = x

    # Verification: the same proofs, checked by each library's own verifier.
    sample = indices(ours_ops)
    root = ledger.root()
    ours_cases = [(_merkle.leaf_hash(ledger.entry(i)), i, ledger.inclusion_proof(i))
                  for i in sample]
    peer_cases = [(peer.get_leaf(i + 1), peer.prove_inclusion(i + 1))
                  for i in sample[:peer_ops]]

    def ours_verify() -> float:
        t = time.perf_counter()
        for leaf, i, proof in ours_cases:
            _merkle.verify_inclusion(leaf, index=i, size=n, proof=proof, root=root)
        return (time.perf_counter() - t) / len(ours_cases)

    def peer_verify() -> float:
        t = time.perf_counter()
        for leaf, proof in peer_cases:
            pymerkle.verify_inclusion(leaf, root, proof)
        return (time.perf_counter() - t) / len(peer_cases)

    x, r, ratio = interleaved(ours_verify, peer_verify, rounds=rounds)
    rows.append(Row(f"verify inclusion proof, {where}", rate(x), f"pymerkle 7 {rate(r)}", ratio))

    def ours_root() -> float:
        batch = [s + 1 for s in indices(ours_ops)]
        t = time.perf_counter()
        for s in batch:
            ledger.root(s)
        return (time.perf_counter() - t) / len(batch)

    def peer_root() -> float:
        batch = [s + 1 for s in indices(peer_ops)]
        t = time.perf_counter()
        for s in batch:
            peer.get_root(s)
        return (time.perf_counter() - t) / len(batch)

    x, r, ratio = interleaved(ours_root, peer_root, rounds=rounds)
    rows.append(Row(f"root(size) of a past size, {where}", f"{x * 1e6:,.0f} us",
                    f"pymerkle 7 {r * 1e6:,.0f} us", ratio))
    if n == (100_000 if quick else 1_000_000):
        rows.append(Row(f"inclusion proofs at {where} vs the floor", rate(per_proof),
                        f"floor {PROOF_FLOOR:,}/s", 1 / per_proof / PROOF_FLOOR, 1.0))
    return rows


def proof_timer(ledger: pl.Ledger, rng: random.Random, ops: int) -> Callable[[], float]:
    """A timer of ``ops`` inclusion proofs of fresh random entries: seconds per proof."""
    n = len(ledger)

    def prove() -> float:
        batch = [rng.randrange(n) for _ in range(ops)]
        t = time.perf_counter()
        for i in batch:
            ledger.inclusion_proof(i)
        return (time.perf_counter() - t) / len(batch)

    return prove


def _entries(ledger: pl.Ledger) -> Iterator[bytes]:
    """Every entry's stored bytes, in order (the Merkle leaves)."""
    for row in ledger.store.rows(0, len(ledger)):
        yield row.entry


# -- appends ------------------------------------------------------------------------


def _append_row(small: Path, large: Path, sizes: tuple[int, ...], work: Path, *,
                rounds: int) -> Row:
    """Append rate at the largest size against the rate at the smallest, interleaved."""
    copies = {}
    for n, path in ((sizes[0], small), (sizes[-1], large)):
        copies[n] = work / f"append-{n}.db"
        shutil.copyfile(path, copies[n])
    serial = 10**8  # beyond every serial the built ledgers use

    def appender(path: Path) -> Callable[[], float]:
        clock = Clock()
        ledger = pl.Ledger.open(path, clock=clock)
        clock.t = max(clock.t, ledger.store.last_time())

        def append() -> float:
            nonlocal serial
            stmts = certificates(serial, APPEND_BATCH)
            serial += APPEND_BATCH
            clock.t += 1
            t = time.perf_counter()
            ledger.append_batch(stmts)
            return (time.perf_counter() - t) / APPEND_BATCH

        append()  # warm up: caches, the verify thread pool
        return append

    at_small, at_large = appender(copies[sizes[0]]), appender(copies[sizes[-1]])
    x, r, ratio = interleaved(at_large, at_small, rounds=rounds)
    return Row(f"append at {sizes[-1]:,} entries, batches of {APPEND_BATCH:,}", rate(x),
               f"at {sizes[0]:,} entries {rate(r)}", ratio, APPEND_FLOOR)


# -- converting a schema-1 file -------------------------------------------------------


def _conversion_row(path: Path, n: int, work: Path) -> Row:
    """Time the first write-open of a schema-1 copy of ``path`` (the tree becomes tiles)."""
    old = work / "schema-1.db"
    shutil.copyfile(path, old)
    _as_schema_1(old)
    with contextlib.closing(sqlite3.connect(old)) as conn:
        t = time.perf_counter()
        rows = sum(1 for _ in conn.execute("SELECT level, idx, hash FROM tree"))
        read = time.perf_counter() - t
    t = time.perf_counter()
    SQLiteStore.open(old).close()
    took = time.perf_counter() - t
    with pl.Ledger.open(old, readonly=True) as ledger, \
            pl.Ledger.open(path, readonly=True) as built:
        assert len(ledger) == n
        assert ledger.root() == built.root()
    return Row(f"convert a schema-1 ledger of {n:,} entries to tiles ({rows:,} tree rows)",
               f"{took:.1f} s", f"reading its tree rows {read:.1f} s", read / took)


def _as_schema_1(path: Path) -> None:
    """Rewrite a ledger file as provledger wrote it before tiles: every perfect
    subtree a row of ``tree``, read back from the tiles (_tree's layout)."""
    from provledger._tree import HEIGHT, NODE_AT

    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        conn.execute("CREATE TABLE tree (level INTEGER NOT NULL, idx INTEGER NOT NULL, "
                     "hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID")
        tiles = conn.execute("SELECT level, idx, hashes, nodes FROM tiles").fetchall()
        for level, index, hashes, nodes in tiles:
            width = len(hashes) // 32
            conn.executemany("INSERT INTO tree VALUES (?, ?, ?)", [
                (HEIGHT * level + h, (index << (HEIGHT - h)) + j,
                 hashes[32 * j:32 * j + 32] if h == 0 else
                 nodes[NODE_AT[h][j]:NODE_AT[h][j] + 32])
                for h in range(HEIGHT) for j in range(width >> h)])
        for trigger in ("tiles_no_delete", "tiles_grow_only", "meta_no_update"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE tiles")
        conn.execute("UPDATE meta SET value = x'31' WHERE name = 'schema'")
        conn.execute("CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta BEGIN "
                     "SELECT RAISE(ABORT, 'provledger: the ledger is append-only'); END")
        conn.execute("COMMIT")


# -- building ledgers -----------------------------------------------------------------


def _ledger(n: int, work: Path) -> Path:
    """A closed ledger file of exactly ``n`` entries: cached from 100,000 up."""
    if n < 100_000:
        return _build(n, work / f"ledger-{n}.db")
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"ledger-{n}-v{CACHE_VERSION}-provledger-{pl.__version__}.db"
    if path.exists():
        try:
            with pl.Ledger.open(path, readonly=True) as ledger:
                if len(ledger) == n:
                    return path
        except pl.StorageError:
            pass
        path.unlink()
    tmp = path.with_suffix(".building")
    for stale in (tmp, *(tmp.with_name(tmp.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    _build(n, tmp, progress=True)
    tmp.rename(path)
    return path


def _build(n: int, path: Path, *, progress: bool = False) -> Path:
    """Two role grants, then ``n - 2`` certificates appended in batches."""
    ledger, clock = new_ledger(path.parent, path.name)
    started = time.perf_counter()
    todo = n - len(ledger)
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        # Signing the next batch in other processes overlaps with appending this one.
        chunks = [(s, min(BUILD_BATCH, todo - s)) for s in range(0, todo, BUILD_BATCH)]
        pending = [pool.submit(_sign, *c) for c in chunks[:2]]
        for k in range(len(chunks)):
            stmts = pending.pop(0).result()
            if k + 2 < len(chunks):
                pending.append(pool.submit(_sign, *chunks[k + 2]))
            clock.t += 1
            ledger.append_batch(stmts)
            if progress and sys.stderr.isatty():
                print(f"\rbuilding {path.name}: {len(ledger):,}/{n:,} entries "
                      f"({time.perf_counter() - started:.0f} s)", end="", file=sys.stderr)
    if progress and sys.stderr.isatty():
        print(file=sys.stderr)
    assert len(ledger) == n
    ledger.close()
    return path


def _sign(start: int, count: int) -> list[bytes]:
    return certificates(start, count)
