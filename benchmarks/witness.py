"""Witnessing and monitoring against the raw Ed25519 verify rate.

* A witness's add-checkpoint, in-process (no HTTP): parse, verify the log's
  signature, verify a consistency proof, one durable SQLite commit
  (synchronous=FULL), sign the cosignature. Its physics is one verify, one
  sign and one fsync, so the fsync-free part is shown too.
* The same over HTTP on loopback: a real ``provledger witness serve``
  process, one keep-alive-less urllib request at a time (what a log does).
* The monitor replaying a ledger from its entries: one signature verify per
  entry plus the rules, the head map and the tree, on one core.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import (
    LOG,
    ORIGIN,
    RawVerify,
    Row,
    certificates,
    interleaved,
    new_ledger,
    rate,
    scratch,
)

import provledger as pl
from provledger import _merkle
from provledger._note import Checkpoint, NoteVerifier, format_checkpoint, format_note, sign_note
from provledger.witness import Witness, WitnessState, format_add_checkpoint, init_witness_dir

_PASSPHRASE = b"bench passphrase"
_WITNESS = pl.SigningKey(b"\x07" * 32)


class _Tree:
    """A growing in-memory RFC 9162 tree and the checkpoints a log signs of it."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.nodes: dict[tuple[int, int], bytes] = {}

    def subtree(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def grow(self, n: int) -> None:
        for _ in range(n):
            leaf = _merkle.leaf_hash(os.urandom(40))
            for node in _merkle.new_subtrees(len(self.leaves), leaf, self):
                self.nodes[node[:2]] = node[2]
            self.leaves.append(leaf)

    def request(self, old: int) -> bytes:
        size = len(self.leaves)
        body = format_checkpoint(Checkpoint(ORIGIN, size, _merkle.root(size, self)))
        note = format_note(body, [sign_note(body, name=ORIGIN, key=LOG)])
        proof = _merkle.consistency_proof(old, size, self) if old else []
        return format_add_checkpoint(old, proof, note)


def _requests(n: int) -> list[bytes]:
    """``n`` successive add-checkpoint bodies, each growing the tree by 100."""
    tree, out = _Tree(), []
    for _ in range(n):
        old = len(tree.leaves)
        tree.grow(100)
        out.append(tree.request(old))
    return out


def _in_process(directory: Path, n: int, *, durable: bool) -> float:
    state = WitnessState(directory / f"state-{time.monotonic_ns()}.db", create=True)
    if not durable:
        state._conn.execute("PRAGMA synchronous = OFF")  # the fsync-free part only
    witness = Witness(name="bench.example/w", key=_WITNESS,
                      logs={ORIGIN: [NoteVerifier(ORIGIN, LOG.public_key)]}, state=state)
    bodies = _requests(n)
    t = time.perf_counter()
    for body in bodies:
        answer = witness.add_checkpoint(body, now=1_800_000_000)
        assert answer.status == 200, answer
    elapsed = time.perf_counter() - t
    witness.close()
    return elapsed / n


def _over_http(directory: Path, n: int) -> float:
    wdir = directory / f"w-{time.monotonic_ns()}"
    init_witness_dir(wdir, name="bench.example/w", key=_WITNESS, passphrase=_PASSPHRASE,
                     logs=())
    cli = Path(sys.executable).with_name("provledger")
    vkey = NoteVerifier(ORIGIN, LOG.public_key).vkey()
    subprocess.run([cli, "witness", "add-log", wdir, vkey], check=True, capture_output=True)
    env = {**os.environ, "PROVLEDGER_PASSPHRASE": _PASSPHRASE.decode()}
    server = subprocess.Popen([cli, "witness", "serve", wdir, "--listen", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                              text=True)
    try:
        assert server.stdout is not None
        server.stdout.readline()
        url = server.stdout.readline().strip() + "/add-checkpoint"
        bodies = _requests(n)
        t = time.perf_counter()
        for body in bodies:
            with urllib.request.urlopen(urllib.request.Request(url, data=body)) as r:
                r.read()
        return (time.perf_counter() - t) / n
    finally:
        server.kill()
        server.wait()


def _monitor(directory: Path, entries: int) -> float:
    directory.mkdir()
    ledger, clock = new_ledger(directory, "monitored.db")
    with ledger:
        for start in range(0, entries, 1000):
            clock.t += 1
            ledger.append_batch(certificates(start, min(1000, entries - start)))
            ledger.sign_checkpoint(LOG)
        total = len(ledger)
    t = time.perf_counter()
    report = pl.monitor(directory / "monitored.db", log_key=LOG.public_key, origin=ORIGIN)
    elapsed = time.perf_counter() - t
    assert report.entries == total, report
    return elapsed / total


def run(*, quick: bool) -> list[Row]:
    raw = RawVerify()
    rows: list[Row] = []
    n, rounds = (50, 3) if quick else (200, 5)
    with scratch() as d:
        directory = Path(d)
        for durable, what in ((True, "witness add-checkpoint, durable (in process)"),
                              (False, "witness add-checkpoint, no fsync (in process)")):
            x, r, ratio = interleaved(functools.partial(_in_process, directory, n,
                                                        durable=durable),
                                      raw.seconds_per_verify, rounds=rounds)
            rows.append(Row(what, rate(x), f"raw verify {rate(r)}", ratio))
        x, r, ratio = interleaved(lambda: _over_http(directory, n), raw.seconds_per_verify,
                                  rounds=2 if quick else 3)
        rows.append(Row("witness add-checkpoint over HTTP (loopback)", rate(x),
                        f"raw verify {rate(r)}", ratio))
        entries = 2_000 if quick else 20_000
        x, r, ratio = interleaved(lambda: _monitor(directory / f"m{time.monotonic_ns()}",
                                                   entries),
                                  raw.seconds_per_verify, rounds=1 if quick else 2)
        rows.append(Row(f"monitor replay of {entries:,} entries (1 core)", rate(x),
                        f"raw verify {rate(r)}", ratio))
    raw.close()
    return rows
