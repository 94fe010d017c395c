"""Signature checks on every core.

Ed25519 verification is most of the work of appending and auditing. libsodium
runs it without the GIL, but the decoding and rules around it are Python that
holds the GIL, and threads convoy behind it (measured: 1.1-1.2x on 2 cores).
So large runs hand the bare signature checks to worker processes (_workers),
which work while this process decodes the same statements and applies the
rules; callers collect the verdicts with :meth:`SignatureChecks.require`
before they commit or report anything. A caller that runs out of its own
work before the workers are done checks their last chunks itself rather than
wait, so every core stays busy to the end.

``PROVLEDGER_PROCESSES`` sets how many worker processes to use: 0 keeps every
check in the calling process. Signature checks default to one worker fewer
than there are cores, the caller being the last core's: on 2 cores, appends
in batches of 100 ran at 0.78x of one core's raw verify that way, against
0.63x with two workers (three processes sharing two cores), and batches of
1,000 at 0.83x against 0.73x (same script, same minute; benchmarks/RESULTS.md).
Workers are forked once, on first use, and reused.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Sequence

from ._errors import ProvLedgerError, SignatureError
from ._statement import Statement, UnverifiedStatement, check_signature
from ._workers import Pool, PoolBrokenError, first_bad

#: Below this many statements, shipping them to workers costs more than it saves.
PARALLEL_MIN = 64
#: About this many chunks per worker, so that a caller out of its own work can
#: take the last ones over in small steps; but chunks of at most _CHUNK, so a
#: worker reads its next message within a few ms, and of at least _CHUNK_MIN,
#: as each answer costs a message (measured on 2 cores: batches of 10,000 in
#: chunks of 16 ran at 0.81x raw verify, in chunks of 64 at 0.90x).
_CHUNKS_PER_WORKER = 16
_CHUNK = 64
_CHUNK_MIN = 8

_pool: Pool | None = None
_pool_lock = threading.Lock()


def default_processes() -> int:
    """Worker processes for work the caller waits on: PROVLEDGER_PROCESSES,
    else one per core."""
    configured = _configured()
    return configured if configured is not None else os.cpu_count() or 1


def check_processes() -> int:
    """Worker processes for signature checks the caller helps with:
    PROVLEDGER_PROCESSES, else one per core but the caller's."""
    configured = _configured()
    return configured if configured is not None else (os.cpu_count() or 1) - 1


def _configured() -> int | None:
    value = os.environ.get("PROVLEDGER_PROCESSES", "").strip()
    if not value:
        return None
    try:
        return max(0, int(value))
    except ValueError:
        raise ValueError(f"PROVLEDGER_PROCESSES={value!r}: expected a whole number") from None


def _forget_pool() -> None:
    """A forked child does not own its parent's workers: start afresh."""
    global _pool, _pool_lock  # noqa: PLW0603
    _pool = None
    _pool_lock = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _shared_pool(size: int) -> Pool | None:
    global _pool  # noqa: PLW0603 - one pool per process, made on first use
    if "fork" not in multiprocessing.get_all_start_methods():
        return None  # spawn would re-import the caller's __main__ in every worker
    with _pool_lock:
        if _pool is not None and (_pool.broken or _pool.size != size):
            _pool.close()
            _pool = None
        if _pool is None:
            _pool = Pool(size)
        return _pool


class SignatureChecks:
    """The signature checks of a run of statements, under way in other processes.

    Without workers (small runs, one core, ``processes=0``) each check
    runs in this process when :meth:`require` first asks for it; so does every
    check left when a worker dies.
    """

    def __init__(self, statements: Sequence[bytes], *, processes: int | None = None) -> None:
        self._statements = statements
        self._good = 0  # statements[:_good] have valid signatures
        self._bad: int | None = None  # a worker found statements[_bad] failing
        self._chunks: deque[tuple[int, int]] = deque()  # (chunk number, start)
        self._taken: dict[int, int] = {}  # chunk number -> first_bad, checked here
        self._untaken = 0  # chunks self._chunks[:_untaken] may be left to the workers
        self.taken_over = 0  # chunks sent to workers that this process checked instead
        self._pool: Pool | None = None
        self._ticket = 0
        n = check_processes() if processes is None else processes
        if n < 1 or len(statements) < PARALLEL_MIN:
            return
        pool = _shared_pool(n)
        if pool is None:
            return
        size = min(_CHUNK, max(_CHUNK_MIN, -(-len(statements) // (n * _CHUNKS_PER_WORKER))))
        starts = range(0, len(statements), size)
        try:
            self._ticket = pool.submit([statements[a : a + size] for a in starts])
        except PoolBrokenError:
            return
        self._pool = pool
        self._size = size
        self._chunks.extend(enumerate(starts))
        self._untaken = len(self._chunks)

    def verified(self, statements: Sequence[UnverifiedStatement]) -> list[Statement]:
        """``statements`` (decoded from the bytes these checks cover, in the same
        order) as verified statements, once every check is in.

        Raises:
            As :meth:`require`, for the first statement whose check fails.
        """
        if len(statements) != len(self._statements) or any(
                st.raw is not raw and st.raw != raw
                for st, raw in zip(statements, self._statements, strict=True)):
            raise ValueError("the statements are not the ones these checks cover")
        self.require(len(statements))
        return [Statement.checked(st) for st in statements]

    def require(self, upto: int) -> None:
        """Return once statements[:upto] are known to carry valid signatures.

        Raises:
            The first statement's DecodeError or SignatureError, with
            ``batch_index`` set to its position.
        """
        while self._good < upto:
            if self._bad is not None:
                self._raise(self._bad)
            if not self._chunks or self._pool is None:
                try:
                    check_signature(self._statements[self._good])
                except ProvLedgerError as exc:
                    exc.batch_index = self._good
                    raise
                self._good += 1
                continue
            number, start = self._chunks[0]
            try:
                bad = self._taken.pop(number, None)
                if bad is None:
                    bad = self._pool.poll(self._ticket, number)
                if bad is None and self._untaken > 1:
                    self._take_last()  # rather than wait idle, check the last chunk here
                    continue
                if bad is None:
                    bad = self._pool.result(self._ticket, number)
            except PoolBrokenError:
                self.cancel()
                continue
            self._chunks.popleft()
            self._untaken = max(0, self._untaken - 1)
            stop = min(start + self._size, len(self._statements))
            if bad < 0:
                self._good = stop
            else:
                self._good = self._bad = start + bad

    def _take_last(self) -> None:
        """Check here the last chunk not yet taken, and tell its worker to skip
        it: the caller, out of its own work, helps instead of waiting. (If the
        worker has begun that chunk already, both check it; no harm done.)

        Raises:
            PoolBroken: the worker cannot be told.
        """
        assert self._pool is not None
        self._untaken -= 1
        number, start = self._chunks[self._untaken]
        self._pool.skip(self._ticket, number)
        self._taken[number] = first_bad(self._statements[start:start + self._size])
        self.taken_over += 1

    def cancel(self) -> None:
        """Drop the checks not yet collected; call it when done with the run."""
        if self._pool is not None:
            self._pool.finish(self._ticket, cancel=bool(self._chunks))
            self._pool = None
        self._chunks.clear()
        self._taken.clear()
        self._untaken = 0

    def _raise(self, index: int) -> None:
        try:
            check_signature(self._statements[index])
        except ProvLedgerError as exc:
            exc.batch_index = index
            raise
        error = SignatureError(f"statement {index}: a worker process rejected its signature, "
                               "this process did not")
        error.batch_index = index
        raise error
