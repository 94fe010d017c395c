"""A first head map, of every subject at once, built on every core.

A first checkpoint (and an audit re-deriving it) maps every subject the log
has: at a million subjects, a million subjects read and hashed, and about
100,000 tiles (_smt_tiles) built and stored. Worker processes share the
reading, hashing and building; this process only stores the tiles, as they
arrive.

1. Scatter: this process copies the leaf hashes out of the tree's level-0
   tiles into a scratch file, by index. Each worker takes a range of
   subjects, reads each one's last entry below the size from the subject
   index (so every subject once, with no merge) and appends its map key
   and leaf hash (read from that file) to one scratch file per bucket: the
   key's first byte, a slot of the root tile.
2. Build: each worker takes a bucket, sorts its records in memory and builds
   the tiles below that slot; they come back here, a bounded number of
   buckets in flight, and go to the sink in bucket order.
3. The root tile is made here from the 256 slots.

Memory stays bounded: a bucket's records (1/256 of the subjects), and a few
buckets' tiles; the leaf hashes (32 bytes an entry) are read through the
page cache, not held.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import mmap
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.pool import AsyncResult
from typing import BinaryIO

from . import _smt_tiles
from ._errors import StorageError
from ._smt import EMPTY
from ._smt_tiles import Child, MapTileRow
from ._storage import Store

Sink = Callable[[list[MapTileRow]], None]
#: Below this many entries, forking workers costs more than it saves.
MIN_ENTRIES = 50_000
BUCKETS = 256
_RECORD = 64
#: A worker's records leave its buffers for its scratch files every so many
#: (64 bytes each).
_FLUSH = 16_384
#: The scratch file of every entry's leaf hash, by index.
_LEAVES = "leaves"

#: The store whose workers read (set before the fork; a worker opens its own reader).
_store: Store | None = None


def build_first(store: Store, size: int, sink: Sink, processes: int,
                progress: Callable[[int, int], None] | None = None
                ) -> tuple[bytes, int] | None:
    """The root of the head map of every subject with an entry below ``size``,
    and the number of those subjects; its tiles go to ``sink``.

    ``progress(done, total)`` hears how many of the 256 buckets (a slot of
    the root tile each) are built. Returns None, having done
    nothing, when the log is too small or one process is all there is: the
    caller builds it alone.

    Raises:
        StorageError: a worker could not read the store.
    """
    if processes < 2 or size < MIN_ENTRIES:
        return None
    if size == 0:
        return EMPTY, 0
    scratch = tempfile.mkdtemp(prefix="provledger-headmap-")
    global _store  # noqa: PLW0603 - handed to the forked workers
    _store = store
    try:
        _write_leaves(store, size, os.path.join(scratch, _LEAVES))
        bounds: list[str | None] = [None, *store.subject_bounds(size, processes), None]
        jobs = [(w, lo, hi) for w, (lo, hi) in enumerate(itertools.pairwise(bounds))]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            pool.starmap(_scatter, [(scratch, job, size) for job in jobs])
            subjects = 0
            children: list[Child] = []
            for j, (child, rows, count) in enumerate(_built(pool, scratch, len(jobs))):
                if rows:
                    sink(rows)
                if child is not None:
                    children.append(child)
                subjects += count
                if progress is not None:
                    progress(j + 1, BUCKETS)
            if not children:
                return EMPTY, subjects
            sink([(0, b"", _smt_tiles.encode(children))])
            return _smt_tiles.root_hash(_smt_tiles.summarize(children)), subjects
    finally:
        _store = None
        shutil.rmtree(scratch, ignore_errors=True)


def _built(pool: multiprocessing.pool.Pool, scratch: str,
           workers: int) -> Iterator[tuple[Child | None, list[MapTileRow], int]]:
    """Each bucket's slot of the root tile and tiles below it, in bucket
    order, with at most 2 per worker in flight."""
    pending: list[AsyncResult[tuple[Child | None, list[MapTileRow], int]]] = []
    for j in range(BUCKETS):
        pending.append(pool.apply_async(_gather, (scratch, j, workers)))
        if len(pending) >= 2 * workers:
            yield pending.pop(0).get()
    while pending:
        yield pending.pop(0).get()


def _write_leaves(store: Store, size: int, path: str) -> None:
    """The leaf hashes of entries 0..size-1 as the tree's level-0 tiles hold
    them (the tree the checkpoint signs; an audit checks those tiles against
    the entries before it rebuilds a head map), 32 bytes each, to ``path``.

    Raises:
        StorageError: a level-0 tile is missing or short.
    """
    done = 0
    with open(path, "wb") as out:
        for tile in store.tile_rows(0, 0, ((size - 1) >> 8) + 1):
            want = min(size - done, 256) * 32
            if tile.index != done >> 8 or len(tile.hashes) < want:
                break
            out.write(tile.hashes[:want])
            done += want // 32
    if done < size:
        raise StorageError(f"the tree's tile 0/{done >> 8} is missing or short")


def _scatter(scratch: str, job: tuple[int, str | None, str | None], size: int) -> int:
    """Worker: bucket the map records of the subjects from ``lo`` up to
    ``hi`` (``job`` is worker, lo, hi; None: no bound), each with its last
    entry below ``size``; returns how many it wrote. A record's value is
    that entry's leaf hash, read from the file _write_leaves made."""
    assert _store is not None
    worker, lo, hi = job
    reader = _store.reader()
    sha = hashlib.sha256
    buffers = [bytearray() for _ in range(BUCKETS)]
    count = 0
    with contextlib.ExitStack() as files:
        out = [files.enter_context(open(_path(scratch, worker, j), "wb"))
               for j in range(BUCKETS)]
        f = files.enter_context(open(os.path.join(scratch, _LEAVES), "rb"))
        leaves = files.enter_context(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
        try:
            for subject, index in reader.last_heads_between(lo, hi, size):
                at = index << 5
                key = sha(subject).digest()
                buffers[key[0]] += key + leaves[at:at + 32]
                count += 1
                if count % _FLUSH == 0:
                    _flush(buffers, out)
            _flush(buffers, out)
        finally:
            reader.close()
    return count


def _flush(buffers: list[bytearray], out: Sequence[BinaryIO]) -> None:
    for buffer, f in zip(buffers, out, strict=True):
        f.write(buffer)
        buffer.clear()


def _gather(scratch: str, bucket: int,
            workers: int) -> tuple[Child | None, list[MapTileRow], int]:
    """Worker: slot ``bucket`` of the root tile, the tiles below it and the
    number of subjects in it, from every worker's records of it."""
    data = b"".join(_read(_path(scratch, w, bucket)) for w in range(workers))
    return bucket_tiles(data, bucket)


def bucket_tiles(data: bytes, bucket: int) -> tuple[Child | None, list[MapTileRow], int]:
    """Slot ``bucket`` of the root tile holding the map records (key ||
    value) in ``data``, whose keys start with that byte, with its tiles and
    the number of keys."""
    records = sorted(data[i:i + _RECORD] for i in range(0, len(data), _RECORD))
    if not records:
        return None, [], 0
    if len(records) == 1:
        return (bucket, records[0], None), [], 1
    rows: list[MapTileRow] = []
    summary = _smt_tiles.build(1, bytes((bucket,)), records,
                               lambda level, prefix, tile: rows.append((level, prefix, tile)))
    assert summary is not None
    return (bucket, None, summary[0]), rows, len(records)


def _path(scratch: str, worker: int, bucket: int) -> str:
    return os.path.join(scratch, f"{worker}-{bucket}")


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
