"""The witness over HTTP: c2sp.org/tlog-witness on Starlette (ASGI).

Routes, under a prefix used as both submission and monitoring prefix:

    POST {prefix}/add-checkpoint          -> Witness.add_checkpoint
    GET  {prefix}/<origin hash>/checkpoint -> Witness.checkpoint (404 if never cosigned)

Other methods on those paths get Starlette's 405. A body over
``MAX_REQUEST_BYTES`` gets 413, from its Content-Length before anything is
read, or as soon as the stream passes the limit. The witness's blocking work
(SQLite, signing) runs in Starlette's thread pool; a state file it cannot
use answers 503.

:func:`witness_routes` returns plain routes so that a later read API can
mount them in its own app; :func:`witness_app` wraps them alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._errors import StorageError
from ._witness import TEXT_CONTENT_TYPE, Witness
from ._witness_wire import ADD_CHECKPOINT_PATH, MAX_REQUEST_BYTES

Clock = Callable[[], float]


def normalize_prefix(prefix: str) -> str:
    """``/`` -> ``""``, ``/w/`` -> ``/w``: the prefix that paths are appended to.

    Raises:
        ValueError: the prefix does not start with ``/``.
    """
    if not prefix.startswith("/"):
        raise ValueError(f"a URL prefix starts with '/': {prefix!r}")
    return prefix.rstrip("/")


def witness_routes(witness: Witness, *, prefix: str = "",
                   clock: Clock = time.time) -> list[BaseRoute]:
    """The witness's two routes under ``prefix``; ``clock`` gives cosigning times.

    Raises:
        ValueError: a bad prefix.
    """
    base = normalize_prefix(prefix) if prefix else ""

    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES):
            return _text(413 if declared.isdigit() else 400,
                         f"a request body is at most {MAX_REQUEST_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST_BYTES:
                return _text(413, f"a request body is at most {MAX_REQUEST_BYTES} bytes")
        try:
            answer = await run_in_threadpool(witness.add_checkpoint, bytes(body),
                                             now=int(clock()))
        except StorageError as exc:
            return _text(503, f"the witness cannot use its state now: {exc}")
        return _raw(answer.status, answer.body, answer.content_type)

    async def checkpoint(request: Request) -> Response:
        try:
            note = await run_in_threadpool(witness.checkpoint,
                                           str(request.path_params["origin_hash"]))
        except StorageError as exc:
            return _text(503, f"the witness cannot use its state now: {exc}")
        if note is None:
            return _text(404, "this witness never cosigned a checkpoint of that log")
        return _raw(200, note.encode(), TEXT_CONTENT_TYPE)

    return [
        Route(base + ADD_CHECKPOINT_PATH, add_checkpoint, methods=["POST"]),
        Route(base + "/{origin_hash}/checkpoint", checkpoint, methods=["GET"]),
    ]


def witness_app(witness: Witness, *, prefix: str = "", clock: Clock = time.time) -> Starlette:
    """An ASGI app serving only the witness; it closes the witness on shutdown.

    Raises:
        ValueError: a bad prefix.
    """
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            witness.close()

    return Starlette(routes=witness_routes(witness, prefix=prefix, clock=clock),
                     lifespan=lifespan)


def _raw(status: int, body: bytes, content_type: str) -> Response:
    # The type goes in as a header: Starlette would append a charset to
    # media_type, and tlog-witness requires exactly text/x.tlog.size.
    return Response(body, status_code=status, headers={"content-type": content_type})


def _text(status: int, message: str) -> Response:
    return _raw(status, (message + "\n").encode(), TEXT_CONTENT_TYPE)
