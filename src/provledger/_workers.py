"""A pool of forked processes that check statement signatures.

Why not concurrent.futures: its queues are fed by threads of the calling
process, and those need the GIL, which the caller holds while it decodes;
each hand-over waited out a 5 ms switch interval. Here the caller writes each
worker its share of a run in one message, and reads the verdicts when it
needs them: no threads in the caller.

Protocol (msgpack over a socket pair per worker): the caller sends
``[ticket, [[chunk, [statement, ...]], ...]]``, ``[ticket]`` to cancel the
run, or ``[ticket, None, [chunk, ...]]`` to skip chunks the caller checks
itself; a worker answers ``[ticket, chunk, first_bad]`` per chunk it checks,
in order, with ``first_bad`` = -1 when every signature verifies.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import msgspec

from ._errors import ProvLedgerError
from ._statement import check_signature

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class PoolBrokenError(Exception):
    """A worker died or its pipe failed; the caller checks in-process instead."""


def first_bad(chunk: Sequence[bytes]) -> int:
    """Index of the first statement in ``chunk`` whose signature fails, or -1."""
    for i, data in enumerate(chunk):
        try:
            check_signature(data)
        except ProvLedgerError:
            return i
    return -1


class Pool:
    """``size`` worker processes; safe to share between threads."""

    def __init__(self, size: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.size = size
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        for _ in range(size):
            mine, theirs = ctx.Pipe(duplex=True)
            # The child closes the caller's ends it inherits, so that every
            # worker sees EOF, and exits, when the caller dies.
            inherited = [c.fileno() for c in (*self._conns, mine)]
            proc = ctx.Process(target=_serve, args=(theirs, inherited), daemon=True,
                               name="provledger-verify")
            proc.start()
            theirs.close()
            self._conns.append(mine)
            self._procs.append(proc)
        self._tickets = itertools.count(1)
        self._live: set[int] = set()
        self._results: dict[tuple[int, int], int] = {}
        self._recv_lock = threading.Lock()
        self._send_locks = [threading.Lock() for _ in range(size)]
        self.broken = False

    def submit(self, chunks: Sequence[Sequence[bytes]]) -> int:
        """Send ``chunks`` round-robin to the workers; return the run's ticket.

        Raises:
            PoolBroken: a worker cannot be reached.
        """
        self._drain()
        ticket = next(self._tickets)
        self._live.add(ticket)
        shares: list[list[tuple[int, Sequence[bytes]]]] = [[] for _ in range(self.size)]
        for i, chunk in enumerate(chunks):
            shares[i % self.size].append((i, list(chunk)))
        for w, share in enumerate(shares):
            if share:
                self._send(w, _encode([ticket, share]))
        return ticket

    def result(self, ticket: int, chunk: int) -> int:
        """The verdict on ``chunk`` of run ``ticket``, waiting for it.

        Raises:
            PoolBroken: its worker died.
        """
        with self._recv_lock:
            while (ticket, chunk) not in self._results:
                self._receive(chunk % self.size, wait=True)
            return self._results.pop((ticket, chunk))

    def poll(self, ticket: int, chunk: int) -> int | None:
        """The verdict on ``chunk`` of run ``ticket`` if it is in, else None.

        Raises:
            PoolBroken: its worker died.
        """
        with self._recv_lock:
            while (ticket, chunk) not in self._results and self._receive(chunk % self.size):
                pass
            return self._results.pop((ticket, chunk), None)

    def skip(self, ticket: int, chunk: int) -> None:
        """Tell ``chunk``'s worker not to check it (the caller does): if it
        has not started on it, it never will.

        Raises:
            PoolBroken: the worker cannot be reached.
        """
        self._send(chunk % self.size, _encode([ticket, None, [chunk]]))

    def _drain(self) -> None:
        """Read the verdicts already sent, keeping those of live runs.

        Verdicts of cancelled runs are never asked for; left unread they would
        fill a socket, block its worker on a send, and then the caller on its
        next submit.
        """
        with self._recv_lock:
            for worker in range(self.size):
                while self._receive(worker):
                    pass

    def _receive(self, worker: int, *, wait: bool = False) -> bool:
        """Read one verdict from ``worker`` (with ``wait``, waiting for it),
        keeping it if its run is live; False if none was there. Hold _recv_lock.

        Raises:
            PoolBroken: the worker died.
        """
        conn = self._conns[worker]
        try:
            if not wait and not conn.poll():
                return False
            t, c, bad = _decode(conn.recv_bytes())
        except (EOFError, OSError, msgspec.DecodeError, ValueError):
            self.broken = True
            raise PoolBrokenError from None
        if t in self._live:
            self._results[t, c] = bad
        return True

    def finish(self, ticket: int, *, cancel: bool) -> None:
        """Forget run ``ticket``; with ``cancel``, tell workers to drop its rest."""
        self._live.discard(ticket)
        with self._recv_lock:
            for key in [k for k in self._results if k[0] == ticket]:
                del self._results[key]
        if cancel and not self.broken:
            message = _encode([ticket])
            for w in range(self.size):
                try:
                    self._send(w, message)
                except PoolBrokenError:
                    return

    def close(self) -> None:
        self.broken = True
        for conn in self._conns:
            conn.close()
        for proc in self._procs:
            proc.join(timeout=1)
            if proc.is_alive():
                proc.kill()

    def _send(self, worker: int, message: bytes) -> None:
        with self._send_locks[worker]:
            try:
                self._conns[worker].send_bytes(message)
            except (OSError, ValueError):
                self.broken = True
                raise PoolBrokenError from None


def _serve(conn: Connection, inherited: list[int]) -> None:
    """A worker: verify chunks in order, answer each, drop cancelled runs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the caller to handle
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    pending: deque[tuple[int, int, list[bytes]]] = deque()
    cancelled: set[int] = set()
    skipped: set[tuple[int, int]] = set()

    def take(message: bytes) -> None:
        parts = _decode(message)
        if len(parts) == 1:
            cancelled.add(parts[0])
            while pending and pending[0][0] in cancelled:
                pending.popleft()
            return
        if len(parts) == 3:
            skipped.update((parts[0], chunk) for chunk in parts[2])
            return
        ticket, share = parts
        pending.extend((ticket, chunk, stmts) for chunk, stmts in share)

    try:
        while True:
            if not pending:
                cancelled.clear()  # nothing of theirs is left to drop
                skipped.clear()
                take(conn.recv_bytes())
                continue
            ticket, chunk, stmts = pending.popleft()
            if ticket in cancelled or (ticket, chunk) in skipped:
                continue
            conn.send_bytes(_encode([ticket, chunk, first_bad(stmts)]))
            while conn.poll():  # read ahead so a caller's send never waits long
                take(conn.recv_bytes())
    except (EOFError, OSError):
        pass
