"""Signature checks on every core.

libsodium's verify runs without the GIL (cffi releases it), so threads check
signatures in parallel. The caller waits for all of them rather than
pipelining: a caller thread that queries SQLite meanwhile would hand the GIL
to the verifiers on every query and wait a switch interval to get it back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from ._errors import ProvLedgerError
from ._statement import Statement, verify_statement

#: Below this many statements, threads cost more than they save.
PARALLEL_MIN = 64
CHUNK = 32

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child the parent's threads do not exist: start afresh."""
    global _pool, _pool_lock  # noqa: PLW0603
    _pool = None
    _pool_lock = threading.Lock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per process, made on first use
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                       thread_name_prefix="provledger-verify")
        return _pool


def verify_all(statements: Sequence[bytes]) -> list[Statement]:
    """Verify and decode ``statements``, in order.

    Raises:
        The first ProvLedgerError in statement order, with ``batch_index`` set.
    """
    if len(statements) < PARALLEL_MIN or (os.cpu_count() or 1) < 2:
        return _verify_chunk(0, statements)
    pool = _executor()
    futures: list[Future[list[Statement]]] = [
        pool.submit(_verify_chunk, start, statements[start : start + CHUNK])
        for start in range(0, len(statements), CHUNK)
    ]
    verified: list[Statement] = []
    try:
        for future in futures:
            verified.extend(future.result())
    finally:
        for future in futures:
            future.cancel()
    return verified


def _verify_chunk(start: int, chunk: Sequence[bytes]) -> list[Statement]:
    out = []
    for i, data in enumerate(chunk):
        try:
            out.append(verify_statement(data))
        except ProvLedgerError as exc:
            exc.batch_index = start + i
            raise
    return out
