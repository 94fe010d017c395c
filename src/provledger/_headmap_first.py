"""A first head map, of every subject at once, built on every core.

A first checkpoint (and an audit re-deriving it) maps every subject the log
has: at a million subjects, a million entries read and hashed twice and 2.4
million nodes hashed and stored. One process did it all in 13 s; here worker
processes share the reading, hashing and building, and this process only
stores the nodes, as they arrive.

1. Scatter: each worker takes a range of log indices, reads the subjects
   whose last entry below the size lies in it (so every subject once, with
   no merge), and appends each one's map key and leaf hash to one scratch
   file per bucket: the key's top ``bits`` bits.
2. Build: each worker takes a bucket, sorts its few thousand records in
   memory and builds its subtree (_smt_build) at depth ``bits``; the packed
   nodes come back here, a bounded number of buckets in flight, and go to
   the sink in bucket order.
3. The top ``bits`` levels are joined here from the buckets' roots. A bucket
   holding one key has no subtree of its own: its leaf floats up to where a
   sibling is not empty, as the map's definition (_smt) says.

Memory stays bounded: a bucket's records, and a few buckets' nodes.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from multiprocessing.pool import AsyncResult
from typing import Literal

from ._smt import EMPTY, node_hash, prefix
from ._smt_build import Packed, build
from ._storage import Store

Sink = Callable[[Packed], None]
#: Below this many entries, forking workers costs more than it saves.
MIN_ENTRIES = 50_000
#: Records per bucket aimed at (64 bytes each): sorted in a worker's memory.
BUCKET_KEYS = 8_192
MAX_BITS = 8
_RECORD = 64

#: The store whose workers read (set before the fork; a worker opens its own reader).
_store: Store | None = None

Summary = tuple[Literal["empty"]] | tuple[Literal["leaf"], bytes, bytes] | tuple[
    Literal["node"], bytes]


def build_first(store: Store, size: int, start: Callable[[int], Sink],
                processes: int) -> tuple[bytes, int] | None:
    """The root of the head map of every subject with an entry below ``size``,
    and the number of those subjects.

    ``start(total)`` is called once the number of subjects is known and gives
    the sink for the nodes. Returns None, having done nothing, when the log is
    too small or one process is all there is: the caller builds it alone.

    Raises:
        StorageError: a worker could not read the store.
    """
    if processes < 2 or size < MIN_ENTRIES:
        return None
    bits = min(MAX_BITS, max(1, math.ceil(math.log2(size / BUCKET_KEYS))))
    scratch = tempfile.mkdtemp(prefix="provledger-headmap-")
    global _store  # noqa: PLW0603 - handed to the forked workers
    _store = store
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            step = -(-size // processes)
            ranges = [(w, w * step, min(size, (w + 1) * step)) for w in range(processes)]
            counts = pool.starmap(_scatter, [(scratch, bits, job, size) for job in ranges])
            total = sum(sum(c) for c in counts)
            sink = start(total)
            summaries: list[Summary] = []
            for summary, packed in _built(pool, scratch, bits, processes):
                for batch in packed:
                    sink(batch)
                summaries.append(summary)
            top = Packed()
            root = join(summaries, top)
            if len(top):
                sink(top)
            return root, total
    finally:
        _store = None
        shutil.rmtree(scratch, ignore_errors=True)


def _built(pool: multiprocessing.pool.Pool, scratch: str, bits: int,
           workers: int) -> Iterator[tuple[Summary, list[Packed]]]:
    """Each bucket's subtree, in bucket order, with at most 2 per worker in flight."""
    pending: list[AsyncResult[tuple[Summary, list[Packed]]]] = []
    buckets = iter(range(1 << bits))
    for j in buckets:
        pending.append(pool.apply_async(_gather, (scratch, bits, j, workers)))
        if len(pending) >= 2 * workers:
            yield pending.pop(0).get()
    while pending:
        yield pending.pop(0).get()


def _scatter(scratch: str, bits: int, job: tuple[int, int, int], size: int) -> list[int]:
    """Worker: bucket the map records of the subjects whose last entry is in
    ``start``..``stop`` (``job`` is worker, start, stop); returns the count per bucket."""
    assert _store is not None
    worker, start, stop = job
    reader = _store.reader()
    sha = hashlib.sha256
    shift = 8 - bits
    counts = [0] * (1 << bits)
    with contextlib.ExitStack() as files:
        out = [files.enter_context(open(_path(scratch, worker, j), "wb"))
               for j in range(1 << bits)]
        try:
            for subject, entry in reader.last_heads(start, stop, size):
                key = sha(subject.encode()).digest()
                j = key[0] >> shift
                out[j].write(key + sha(b"\x00" + entry).digest())
                counts[j] += 1
        finally:
            reader.close()
    return counts


def _gather(scratch: str, bits: int, bucket: int, workers: int) -> tuple[Summary, list[Packed]]:
    """Worker: the subtree of one bucket, from every worker's records of it."""
    data = b"".join(_read(_path(scratch, w, bucket)) for w in range(workers))
    return bucket_tree(data, bits)


def bucket_tree(data: bytes, bits: int) -> tuple[Summary, list[Packed]]:
    """The subtree at depth ``bits`` of the map records (key || value) in
    ``data``, which share their first ``bits`` bits."""
    records = sorted(data[i:i + _RECORD] for i in range(0, len(data), _RECORD))
    if not records:
        return ("empty",), []
    if len(records) == 1:
        return ("leaf", records[0][:32], records[0][32:]), []
    out: list[Packed] = []
    root = build(((r[:32], r[32:]) for r in records), out.append, depth=bits)
    return ("node", root), out


def join(summaries: list[Summary], out: Packed) -> bytes:
    """The root over the buckets' subtrees: the levels above them, whose
    nodes (and the leaves of single-key buckets) go to ``out``."""
    top = _join_range(summaries, 0, 0, len(summaries), out)
    if top[0] == "empty":
        return EMPTY
    if top[0] == "leaf":
        _emit_leaf(top[1], top[2], 0, out)
        return hashlib.sha256(b"\x10" + top[1] + top[2]).digest()
    return top[1]


def _join_range(summaries: list[Summary], depth: int, lo: int, hi: int, out: Packed) -> Summary:
    if hi - lo == 1:
        return summaries[lo]
    mid = (lo + hi) // 2
    left = _join_range(summaries, depth + 1, lo, mid, out)
    right = _join_range(summaries, depth + 1, mid, hi, out)
    if right[0] == "empty" and left[0] != "node":
        return left  # empty, or a lone leaf that floats up
    if left[0] == "empty" and right[0] == "leaf":
        return right
    hashes = [_hash_at(s, depth + 1, out) for s in (left, right)]
    h = node_hash(hashes[0], hashes[1])
    out.inner_depths.append(depth)
    out.inner += _position(lo, depth, len(summaries)) + h
    return ("node", h)


def _hash_at(summary: Summary, depth: int, out: Packed) -> bytes:
    """A child's hash; a lone leaf is placed (and stored) at ``depth``."""
    if summary[0] == "empty":
        return EMPTY
    if summary[0] == "leaf":
        return _emit_leaf(summary[1], summary[2], depth, out)
    return summary[1]


def _emit_leaf(key: bytes, value: bytes, depth: int, out: Packed) -> bytes:
    h = hashlib.sha256(b"\x10" + key + value).digest()
    out.leaf_depths.append(depth)
    out.leaves += prefix(key, depth) + h + key + value
    return h


def _position(bucket: int, depth: int, buckets: int) -> bytes:
    """The position of the node at ``depth`` above the first of its buckets."""
    bits = buckets.bit_length() - 1
    first = bucket << (256 - bits)  # the bucket's prefix as a 256-bit number
    shift = 256 - depth
    return (first >> shift << shift).to_bytes(32, "big")


def _path(scratch: str, worker: int, bucket: int) -> str:
    return os.path.join(scratch, f"{worker}-{bucket}")


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
