"""``provledger serve``: the read API over a live ledger, on Starlette (ASGI).

The routes are the publish layout (spec/tiles.md), served as of the ledger's
latest checkpoint:

    GET  /checkpoint                    the checkpoint with its cosignatures (max-age 5 s)
    GET  /tile/<L>/<N>[.p/<W>]          hash tiles (immutable)
    GET  /tile/entries/<N>[.p/<W>]      entry bundles (immutable; gzip when accepted)
    GET  /<item path>[/]                negotiated: status page, verdict JSON or bundle
    GET  /<item path>/index.html | history.json | bundle.cbor
    GET  / or /index.html, /items.json  the item index
    POST /verify[?item=ID]              verify an uploaded bundle against the server's policy
         /witness/...                   the witness (c2sp.org/tlog-witness), when given one

Read-only: every request opens the ledger file read-only (SQLite mode=ro), so
no route can write while the ledger's writer goes on appending. Only what a
signed checkpoint covers is served: tiles beyond it are 404, and an item
appears once a checkpoint covers it. The server vouches (a page or a verdict
with 200) only for a bundle that verifies under its own policy at its own
clock; otherwise it answers 503 with the failure.

POST /verify holds up to 8 MB per request while it reads and checks it, so
at most ``max_verifying`` run at once (the body counts from its first byte:
a slow sender holds its slot); one more is answered 503 with Retry-After at
once rather than queued.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _escrow, _owner_keys
from ._bundle import MAX_BUNDLE_BYTES
from ._display import safe_text
from ._errors import ItemIdError, NotFoundError, ProvLedgerError, StorageError
from ._itemid import SERIAL_SAFE, canonical_item_id
from ._ledger import Ledger
from ._negotiate import accepts_encoding, choose_media_type
from ._policy import Policy
from ._publish import (
    ITEMS_JSON,
    ItemRecord,
    history_json,
    index_html,
    item_bundle,
    item_ids,
    items_json,
    status_page,
)
from ._state import ItemState
from ._tiles import entry_bundle, parse_tile_path, tile_hashes
from ._tlog import SignedCheckpoint
from ._verdict import failed_document, verified_document
from ._verify import verify_bundle
from ._view import StateView
from ._web_paths import BUNDLE, HISTORY, PAGE, item_path

if TYPE_CHECKING:  # the witness is optional: the caller imports it
    from ._witness import Witness

Clock = Callable[[], float]

IMMUTABLE: Final = "public, max-age=31536000, immutable"
#: The checkpoint and the indexes change as the log grows (tlog-tiles: "a few seconds").
SHORT: Final = "public, max-age=5"
#: Item answers state how old their checkpoint is, relative to now.
NO_CACHE: Final = "no-cache"
#: HTML pages need no script, no external asset, no form, no frame.
CSP: Final = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HTML_TYPE: Final = "text/html; charset=utf-8"
TEXT_TYPE: Final = "text/plain; charset=utf-8"
JSON_TYPE: Final = "application/json"
CBOR_TYPE: Final = "application/cbor"
#: The item route's representations, in the server's order of preference.
ITEM_TYPES: Final = ("text/html", JSON_TYPE, CBOR_TYPE)
#: What POST /verify takes as a bundle.
BUNDLE_TYPES: Final = (CBOR_TYPE, "application/octet-stream")
_CACHED_BUNDLES = 128
#: Default for how many POST /verify requests run at once (8 MB each at most).
MAX_VERIFYING: Final = 8


@dataclass(frozen=True)
class _View:
    """What the latest checkpoint covers. ``key`` counts the stored checkpoints
    and cosignatures: both only grow, so a larger key is a newer view."""

    key: tuple[int, int]
    checkpoint: SignedCheckpoint | None
    #: Item path (``item_path``) -> item id, for every item the checkpoint covers.
    items: Mapping[str, str] = field(default_factory=dict)


class _Live:
    """The ledger as requests see it: opened read-only per request, with the
    latest checkpoint's view and recent bundles cached across requests."""

    def __init__(self, db: str | Path, policy: Policy, clock: Clock) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock
        self._lock = threading.Lock()
        self._view = _View((0, 0), None)
        self._bundles: OrderedDict[tuple[str, tuple[int, int]], bytes] = OrderedDict()
        self._statuses: tuple[tuple[int, int], list[tuple[str, str, ItemState]]] | None = None

    @contextlib.contextmanager
    def ledger(self) -> Iterator[Ledger]:
        """The ledger, read-only (a writer may be appending meanwhile)."""
        with Ledger.open(self.db, readonly=True) as ledger:
            yield ledger

    def view(self, ledger: Ledger) -> _View:
        """The view as of the newest checkpoint stored.

        Raises:
            CheckpointError: a stored checkpoint does not verify.
        """
        store = ledger.store
        key = (len(store.checkpoints()), len(store.cosignatures()))
        with self._lock:
            if key > self._view.key:
                self._view = _refreshed(ledger, self._view, key)
            # A view another request made meanwhile is at least as new as this
            # request's reads: everything it covers was committed before it.
            return self._view

    def bundle(self, ledger: Ledger, view: _View, item: str) -> bytes:
        """``item``'s bundle as of the view's checkpoint.

        Raises:
            NotFoundError: the checkpoint covers no certificate of ``item``.
        """
        assert view.checkpoint is not None
        cache_key = (item, view.key)
        with self._lock:
            data = self._bundles.get(cache_key)
            if data is not None:
                self._bundles.move_to_end(cache_key)
                return data
        data = item_bundle(ledger, item, view.checkpoint)
        with self._lock:
            self._bundles[cache_key] = data
            while len(self._bundles) > _CACHED_BUNDLES:
                self._bundles.popitem(last=False)
        return data

    def items(self, ledger: Ledger, view: _View) -> list[tuple[str, str, ItemState]]:
        """(item path, id, state as of the checkpoint) of every item, by id."""
        with self._lock:
            if self._statuses is not None and self._statuses[0] == view.key:
                return self._statuses[1]
        rows = []
        if view.checkpoint is not None:
            states = StateView(ledger.store, origin=ledger.origin, root_key=ledger.root_key,
                               at=view.checkpoint.size)
            for path, item in sorted(view.items.items(), key=lambda pair: pair[1]):
                state = states.head(item)[1]
                if isinstance(state, ItemState):
                    rows.append((path, item, state))
        with self._lock:
            self._statuses = (view.key, rows)
        return rows


def _refreshed(ledger: Ledger, old: _View, key: tuple[int, int]) -> _View:
    """A view of the newest checkpoint; items found since ``old``'s are added."""
    signed = ledger.checkpoints()
    if not signed:
        return _View(key, None)
    checkpoint = signed[-1]
    grown = old.checkpoint is not None and old.checkpoint.size <= checkpoint.size
    items = dict(old.items) if grown else {}
    start = old.checkpoint.size if grown and old.checkpoint is not None else 0
    for item in item_ids(ledger, checkpoint.size, since=start):
        # Two GS1 ids of one GTIN and serial under different domains share a
        # path; the one indexed first keeps it.
        items.setdefault(item_path(item), item)
    return _View(key, checkpoint, items)


def serve_app(db: str | Path, *, policy: Policy, witness: Witness | None = None,
              clock: Clock = time.time, max_verifying: int = MAX_VERIFYING) -> Starlette:
    """The read API over the ledger file ``db`` (see the module's docstring):
    ``policy`` is what the server verifies bundles against, ``clock`` its now;
    ``witness``, if given, is served under ``/witness`` and closed on shutdown;
    at most ``max_verifying`` POST /verify requests run at once.

    Raises:
        ValueError: ``max_verifying`` is below 1.
    """
    if max_verifying < 1:
        raise ValueError("max_verifying must be at least 1")
    live = _Live(db, policy, clock)  # a path, or a postgresql:// URL kept as given
    slots = max_verifying

    async def read(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.decode("latin-1").removeprefix("/")
        return await run_in_threadpool(
            _answer, live, path, request.headers.get("accept"),
            request.headers.get("accept-encoding"))

    async def verify(request: Request) -> Response:
        nonlocal slots  # one event loop: no lock needed between the check and the take
        if slots == 0:
            return _text(503, "too many bundles are being verified; retry shortly",
                         headers={"Retry-After": "1"})
        slots -= 1
        try:
            return await _verify(live, request)
        finally:
            slots += 1

    routes: list[BaseRoute] = []
    if witness is not None:
        from ._witness_http import witness_routes

        routes += witness_routes(witness, prefix="/witness", clock=clock)
    routes += [Route("/verify", verify, methods=["POST"]),
               Route("/{rest:path}", read, methods=["GET"])]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if witness is not None:
                witness.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(_Nosniff)
    return app


class _Nosniff:
    """Adds ``X-Content-Type-Options: nosniff`` to every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("x-content-type-options", "nosniff")
            await send(message)

        await self.app(scope, receive, sending)


# -- GET ------------------------------------------------------------------------------


def _answer(live: _Live, path: str, accept: str | None, accept_encoding: str | None
            ) -> Response:
    """The answer to GET ``/<path>`` (``path`` as sent, percent-encoded)."""
    try:
        if path.startswith("tile/"):
            return _tile(live, path, accept_encoding)
        with live.ledger() as ledger:
            view = live.view(ledger)
            if path == "checkpoint":
                return _raw(200, _checkpoint(view).cosigned_note.encode(), TEXT_TYPE, SHORT)
            if path in ("", PAGE, ITEMS_JSON):
                return _index(live, ledger, view, path)
            return _item(live, ledger, view, path, accept)
    except NotFoundError as exc:
        return _text(404, str(exc))
    except StorageError as exc:
        return _text(503, f"the ledger cannot be read now: {exc}")
    except ProvLedgerError as exc:  # stored data that does not verify (CheckpointError)
        return _text(500, f"the ledger does not check out: {type(exc).__name__}: {exc}")


def _checkpoint(view: _View) -> SignedCheckpoint:
    """The view's checkpoint.

    Raises:
        NotFoundError: none has been signed yet.
    """
    if view.checkpoint is None:
        raise NotFoundError("no checkpoint has been signed yet")
    return view.checkpoint


def _tile(live: _Live, path: str, accept_encoding: str | None) -> Response:
    """A hash tile or entry bundle of the checkpoint's tree.

    Raises:
        NotFoundError: not a canonical tile path, or beyond the checkpoint.
    """
    tile = parse_tile_path(path)
    with live.ledger() as ledger:
        size = _checkpoint(live.view(ledger)).size
        if tile.level is not None:
            return _raw(200, tile_hashes(ledger.store, tile, size), "application/octet-stream",
                        IMMUTABLE)
        data = entry_bundle(ledger.store, tile, size)
    headers = {"vary": "Accept-Encoding"}
    if accepts_encoding(accept_encoding, "gzip"):  # tlog-tiles: SHOULD compress bundles
        data = gzip.compress(data, mtime=0)
        headers["content-encoding"] = "gzip"
    return _raw(200, data, "application/octet-stream", IMMUTABLE, headers)


def _item(live: _Live, ledger: Ledger, view: _View, path: str, accept: str | None
          ) -> Response:
    """An item route: negotiated, or one of the item directory's files.

    Raises:
        NotFoundError: no item the checkpoint covers has this path.
    """
    parts = [urllib.parse.quote(urllib.parse.unquote(p), safe=SERIAL_SAFE)
             for p in path.split("/")]
    file = None
    joined = "/".join(parts)
    item = view.items.get(joined if joined.endswith("/") else joined + "/")
    if item is None and len(parts) > 1 and parts[-1] in (PAGE, BUNDLE, HISTORY):
        file = parts[-1]
        item = view.items.get("/".join(parts[:-1]) + "/")
    if item is None or view.checkpoint is None:
        raise NotFoundError(f"no item at /{path[:200]}")
    # The page links the bundle relative to where it is served ("./": a
    # serial may hold a colon, which would read as a URL scheme).
    href = BUNDLE if file or path.endswith("/") else f"./{parts[-1]}/{BUNDLE}"
    vary = {}
    if file is None:
        vary = {"vary": "Accept"}
        chosen = choose_media_type(accept, ITEM_TYPES)
        if chosen is None:
            return _text(406, f"this resource is available as {', '.join(ITEM_TYPES)}",
                         headers=vary)
        file = {"text/html": PAGE, JSON_TYPE: HISTORY, CBOR_TYPE: BUNDLE}[chosen]
    bundle = live.bundle(ledger, view, item)
    if file == BUNDLE:
        return _raw(200, bundle, CBOR_TYPE, NO_CACHE, vary)
    now = int(live.clock())
    try:
        history = verify_bundle(bundle, policy=live.policy, now=now, item=item)
    except ProvLedgerError as exc:
        # Never vouch for what does not verify under the server's policy.
        if file == HISTORY:
            return _json(503, failed_document(exc, item_given=True), "no-store", vary)
        return _html(503, _failure_page(item, exc), "no-store", vary)
    if file == HISTORY:
        return _raw(200, history_json(history), JSON_TYPE, NO_CACHE, vary)
    return _html(200, status_page(history, bundle_href=href, now=now), NO_CACHE, vary)


# -- POST /verify ---------------------------------------------------------------------


async def _verify(live: _Live, request: Request) -> Response:
    """Verify the bundle in the body against the server's policy at its clock."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in BUNDLE_TYPES:
        return _text(415, f"send the bundle as {' or '.join(BUNDLE_TYPES)}")
    limit = f"a bundle is at most {MAX_BUNDLE_BYTES} bytes"
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        return _text(400, "a malformed Content-Length")
    if declared is not None and int(declared) > MAX_BUNDLE_BYTES:
        return _text(413, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BUNDLE_BYTES:
            return _text(413, limit)
    item = request.query_params.get("item")
    if item is not None:
        try:
            item = canonical_item_id(item)
        except ItemIdError as exc:
            return _json(400, failed_document(exc, item_given=True), "no-store")
    now = int(live.clock())
    try:
        history = await run_in_threadpool(verify_bundle, bytes(body), policy=live.policy,
                                          now=now, item=item)
    except ProvLedgerError as exc:
        return _json(422, failed_document(exc, item_given=item is not None), "no-store")
    return _json(200, verified_document(history, now=now, item_given=item is not None),
                 "no-store")


# -- pages ----------------------------------------------------------------------------


def _index(live: _Live, ledger: Ledger, view: _View, path: str) -> Response:
    """index.html or items.json, as publish writes them (statuses as of now).

    Raises:
        NotFoundError: no checkpoint has been signed yet.
    """
    checkpoint = _checkpoint(view)
    now = int(live.clock())
    records = [ItemRecord(item, where, _escrow.status(_owner_keys.at(_escrow.at(state, now), now)),
                          checkpoint.size, checkpoint.time)
               for where, item, state in live.items(ledger, view)]
    if path == ITEMS_JSON:
        return _raw(200, items_json(origin=ledger.origin, checkpoint=checkpoint, items=records),
                    JSON_TYPE, SHORT)
    return _html(200, index_html(origin=ledger.origin, checkpoint=checkpoint,
                                 items=records).decode(), SHORT)


def _failure_page(item: str, error: ProvLedgerError) -> str:
    body = (f"<h1>Cannot verify this item now</h1>"
            f"<p>{_esc(item)}</p><p>The server's copy of the log does not verify under its "
            f"trust policy, so it vouches for nothing: {_esc(type(error).__name__)}: "
            f"{_esc(str(error))}</p>")
    return _document("Cannot verify", body)


def _document(title: str, body: str) -> str:
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title></head><body>{body}</body></html>\n")


def _esc(text: str) -> str:
    return html.escape(safe_text(text), quote=True)


# -- responses ------------------------------------------------------------------------


def _raw(status: int, body: bytes, content_type: str, cache: str,
         headers: Mapping[str, str] | None = None) -> Response:
    # The type goes in as a header: Starlette would append a charset to media_type.
    return Response(body, status_code=status,
                    headers={"content-type": content_type, "cache-control": cache,
                             **(headers or {})})


def _text(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> Response:
    return _raw(status, (safe_text(message) + "\n").encode(), TEXT_TYPE, "no-store", headers)


def _json(status: int, document: Mapping[str, Any], cache: str,
          headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n"
    return _raw(status, body, JSON_TYPE, cache, headers)


def _html(status: int, page: str, cache: str, headers: Mapping[str, str] | None = None
          ) -> Response:
    return _raw(status, page.encode(), HTML_TYPE, cache,
                {"content-security-policy": CSP, "referrer-policy": "no-referrer",
                 **(headers or {})})
