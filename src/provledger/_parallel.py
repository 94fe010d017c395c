"""Signature checks on every core.

Ed25519 verification is most of the work of appending and auditing. libsodium
runs it without the GIL, but the decoding and rules around it are Python that
holds the GIL, and threads convoy behind it (measured: 1.1-1.2x on 2 cores).
So large runs hand the bare signature checks to worker processes (_workers),
which work while this process decodes the same statements and applies the
rules; callers collect the verdicts with :meth:`SignatureChecks.require`
before they commit or report anything.

``PROVLEDGER_PROCESSES`` sets how many worker processes to use (default: one
per core, measured best on 2 cores even though the calling process keeps
one busy too; 0 keeps every check in the calling process). Workers are forked
once, on first use, and reused.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Sequence

from ._errors import ProvLedgerError, SignatureError
from ._statement import Statement, UnverifiedStatement, check_signature
from ._workers import Pool, PoolBrokenError

#: Below this many statements, shipping them to workers costs more than it saves.
PARALLEL_MIN = 64
#: Chunks stay small so a worker reads its next message within a few ms.
_CHUNK = 64

_pool: Pool | None = None
_pool_lock = threading.Lock()


def default_processes() -> int:
    """Worker processes for signature checks: PROVLEDGER_PROCESSES, else one per core."""
    value = os.environ.get("PROVLEDGER_PROCESSES", "").strip()
    if value:
        try:
            return max(0, int(value))
        except ValueError:
            raise ValueError(f"PROVLEDGER_PROCESSES={value!r}: expected a whole number") from None
    return os.cpu_count() or 1


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
        self._pool: Pool | None = None
        self._ticket = 0
        n = default_processes() if processes is None else processes
        if n < 1 or len(statements) < PARALLEL_MIN:
            return
        pool = _shared_pool(n)
        if pool is None:
            return
        size = min(_CHUNK, -(-len(statements) // n))
        starts = range(0, len(statements), size)
        try:
            self._ticket = pool.submit([statements[a : a + size] for a in starts])
        except PoolBrokenError:
            return
        self._pool = pool
        self._size = size
        self._chunks.extend(enumerate(starts))

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
                bad = self._pool.result(self._ticket, number)
            except PoolBrokenError:
                self.cancel()
                continue
            self._chunks.popleft()
            stop = min(start + self._size, len(self._statements))
            if bad < 0:
                self._good = stop
            else:
                self._good = self._bad = start + bad

    def cancel(self) -> None:
        """Drop the checks not yet collected; call it when done with the run."""
        if self._pool is not None:
            self._pool.finish(self._ticket, cancel=bool(self._chunks))
            self._pool = None
        self._chunks.clear()

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
