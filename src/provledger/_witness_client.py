"""The log's side of c2sp.org/tlog-witness: ask witnesses to cosign a checkpoint.

Each witness gets ``POST <prefix>/add-checkpoint`` with the checkpoint and a
consistency proof from the size it last cosigned (as far as the log knows).
A "409 Conflict" answer names the witness's real size: the request is sent
again from there, at most ``retries`` times, unless that size is beyond the
checkpoint (the log rolled back, or another log with the same origin and key
forked it). A "200" answer's lines are verified: lines by other keys are
ignored, and the witness's own cosignature of this checkpoint, with a
non-zero timestamp, is required.

All witnesses are asked at once, each on a worker thread, and all must
answer before one deadline ``timeout`` seconds away; the caller's
``proof_for`` runs on the caller's thread only (a SQLite connection belongs to
one thread). Standard library only: urllib.request, no redirects followed (a
witness answers for itself), http and https URLs only.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse

from ._display import safe_text
from ._errors import CheckpointError, ProvLedgerError, WitnessRequestError
from ._note import SIG_COSIGNATURE_V1, NoteVerifier, parse_checkpoint, parse_note, verify_note
from ._policy import Policy
from ._witness_wire import (
    ADD_CHECKPOINT_PATH,
    SIZE_CONTENT_TYPE,
    format_add_checkpoint,
    parse_size,
)

OK = "ok"
UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
HTTP_ERROR = "http-error"
INVALID = "invalid"
CONFLICT = "conflict"
#: The witness has cosigned a larger tree than this checkpoint.
AHEAD = "witness-ahead"

#: A witness's answer is a few signature lines; more than this is refused.
MAX_ANSWER_BYTES = 64 * 1024
MAX_WORKERS = 16
_USER_AGENT = "provledger (c2sp.org/tlog-witness client)"


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness to ask: a name for reports, its submission URL prefix and its key."""

    name: str
    #: The submission prefix; requests go to ``<url>/add-checkpoint``.
    url: str
    #: Its cosignature (type 0x04) verifier key.
    key: NoteVerifier

    def __post_init__(self) -> None:
        if self.key.sig_type != SIG_COSIGNATURE_V1:
            raise ValueError(f"witness {self.name}: its key must be a cosignature (type 0x04) key")
        try:
            parts = urllib.parse.urlsplit(self.url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            parts = urllib.parse.urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname or not self.url.isascii() \
                or any(c.isspace() for c in self.url):
            raise ValueError(f"witness {self.name}: {self.url[:200]!r} is not an http or https "
                             "URL (ASCII, a host, no spaces)")
        if parts.query or parts.fragment:
            raise ValueError(f"witness {self.name}: a submission prefix has no query or fragment")

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + ADD_CHECKPOINT_PATH


@dataclass(frozen=True)
class WitnessOutcome:
    """What one witness answered: ``status`` OK with its cosignature line, or why not."""

    witness: WitnessEndpoint
    #: OK, UNREACHABLE, TIMEOUT, HTTP_ERROR, INVALID, CONFLICT or AHEAD.
    status: str
    #: One line for people (control characters escaped).
    detail: str
    #: The cosignature line, without its newline (OK only).
    line: str | None = None
    #: Its timestamp (OK only).
    timestamp: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass(frozen=True)
class _Reply:
    """An HTTP answer (``status`` > 0), or a failure to get one (status 0)."""

    status: int
    content_type: str = ""
    body: bytes = b""
    failure: str = ""
    detail: str = ""


def witness_endpoints(policy: Policy, urls: Sequence[str] = ()) -> list[WitnessEndpoint]:
    """The policy's witnesses to ask: every one with a URL, or those whose URL
    is in ``urls`` (compared without a trailing slash).

    Raises:
        ValueError: a URL in ``urls`` that no policy witness has, or a policy
            witness whose URL is not http(s).
    """
    def same(a: str, b: str) -> bool:
        return a.rstrip("/") == b.rstrip("/")

    named = [w for w in policy.named_witnesses if w.url is not None]
    for url in urls:
        if not any(same(w.url or "", url) for w in named):
            known = ", ".join(f"{w.name} {w.url}" for w in named) or "none has a URL"
            raise ValueError(f"no witness of the policy has the URL {url[:200]!r} (its "
                             f"witnesses: {known})")
    return [WitnessEndpoint(w.name, w.url or "", w.verifier) for w in named
            if not urls or any(same(w.url or "", u) for u in urls)]


def collect_cosignatures(
    note: str,
    witnesses: Sequence[WitnessEndpoint],
    *,
    proof_for: Callable[[int], Sequence[bytes]],
    start: Mapping[str, int] | None = None,
    timeout: float = 10.0,
    retries: int = 2,
) -> list[WitnessOutcome]:
    """Ask every witness to cosign the checkpoint ``note``; one outcome per witness, in order.

    ``start`` maps a witness's vkey text to the size it last cosigned (0 when
    absent); ``proof_for(old)`` is the consistency proof from tree size
    ``old`` (0 < old < the checkpoint's size) to the checkpoint. Nothing is
    stored here: the caller keeps the lines of the OK outcomes.

    Raises:
        CheckpointError: ``note`` is not a signed checkpoint note.
        ValueError: ``timeout`` is not positive or ``retries`` negative.
    """
    if not timeout > 0 or retries < 0:
        raise ValueError("timeout must be positive and retries non-negative")
    text = parse_note(note).text
    size = parse_checkpoint(text).size
    starts = start or {}
    deadline = time.monotonic() + timeout
    outcomes: dict[int, WitnessOutcome] = {}
    conflicts = [0] * len(witnesses)
    pending: dict[Future[_Reply], tuple[int, int]] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, min(len(witnesses), MAX_WORKERS)),
                              thread_name_prefix="witness")

    def send(i: int, old: int) -> None:
        w = witnesses[i]
        if old > size:
            outcomes[i] = WitnessOutcome(w, AHEAD, f"the witness has cosigned tree size {old}, "
                                         f"larger than this checkpoint's {size}: the log "
                                         "rolled back or forked; it was not asked to cosign")
            return
        try:
            proof = list(proof_for(old)) if 0 < old < size else []
            body = format_add_checkpoint(old, proof, note)
        except (ProvLedgerError, ValueError) as exc:
            outcomes[i] = WitnessOutcome(w, INVALID, f"no consistency proof from size {old} "
                                         f"to {size}: {safe_text(str(exc))}")
            return
        pending[pool.submit(_post, w.endpoint, body, deadline)] = (i, old)

    try:
        for i, w in enumerate(witnesses):
            send(i, starts.get(w.key.vkey(), 0))
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            done, _ = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            for future in done:
                i, old = pending.pop(future)
                reply = future.result()
                w = witnesses[i]
                if reply.status == 409:
                    conflicts[i] += 1
                    witness_size = _conflict_size(reply)
                    if witness_size is None:
                        outcomes[i] = WitnessOutcome(w, INVALID, _conflict_problem(reply))
                    elif conflicts[i] > retries:
                        outcomes[i] = WitnessOutcome(
                            w, CONFLICT, f"409 Conflict again after {retries} retries (the "
                            f"witness now says size {witness_size}; we sent old {old})")
                    else:
                        send(i, witness_size)
                else:
                    outcomes[i] = _outcome(w, reply, text)
        for i, _ in pending.values():
            outcomes[i] = WitnessOutcome(witnesses[i], TIMEOUT,
                                         f"no answer within {timeout:g} seconds")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [outcomes[i] for i in range(len(witnesses))]


def _outcome(w: WitnessEndpoint, reply: _Reply, text: str) -> WitnessOutcome:
    """The outcome of a final (non-409) reply."""
    if reply.status == 0:
        return WitnessOutcome(w, reply.failure, reply.detail)
    if reply.status != 200:
        first = reply.body.decode("utf-8", "replace").strip().split("\n", 1)[0][:200]
        return WitnessOutcome(w, HTTP_ERROR, f"HTTP {reply.status}"
                              + (f": {safe_text(first)}" if first else ""))
    try:
        answer = reply.body.decode("utf-8")
        verified = verify_note(text + "\n" + answer, verifiers=[w.key])
        (sig,) = verified.signatures
        line = next(s.line for s in parse_note(text + "\n" + answer).signatures
                    if (s.name, s.key_id) == (w.key.name, w.key.key_id))
    except (UnicodeDecodeError, CheckpointError) as exc:
        return WitnessOutcome(w, INVALID, f"no valid cosignature by {w.key.name} in the "
                              f"answer: {safe_text(str(exc))}")
    if not sig.timestamp:
        return WitnessOutcome(w, INVALID, "the cosignature's timestamp is zero, which "
                              "tlog-witness forbids")
    return WitnessOutcome(w, OK, f"cosigned at {sig.timestamp}", line.rstrip("\n"),
                          sig.timestamp)


def _conflict_size(reply: _Reply) -> int | None:
    media = reply.content_type.split(";", 1)[0].strip().lower()
    if media != SIZE_CONTENT_TYPE:
        return None
    try:
        return parse_size(reply.body)
    except WitnessRequestError:
        return None


def _conflict_problem(reply: _Reply) -> str:
    return (f"409 Conflict without a {SIZE_CONTENT_TYPE} size (Content-Type "
            f"{safe_text(reply.content_type[:80])!r}, body {safe_text(repr(reply.body[:40]))})")


def _opener() -> urllib.request.OpenerDirector:
    """http and https only, proxies from the environment, and no redirect
    handler: a witness answers for itself, so a 3xx is reported as its status."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


_OPENER = _opener()


def _post(url: str, body: bytes, deadline: float) -> _Reply:
    """POST ``body`` to ``url`` and read the answer before ``deadline``; never raises."""
    # WitnessEndpoint checked the scheme (http, https), and _OPENER knows no other.
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310
        "Content-Type": "text/plain; charset=utf-8", "User-Agent": _USER_AGENT})
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return _Reply(0, failure=TIMEOUT, detail="no time left to send the request")
    try:
        try:
            response: HTTPResponse = _OPENER.open(request, timeout=remaining)
        except urllib.error.HTTPError as exc:  # any status but 2xx
            with exc:
                return _Reply(exc.code, exc.headers.get("Content-Type", ""),
                              _read(exc, deadline))
        with response:
            return _Reply(response.status, response.headers.get("Content-Type", ""),
                          _read(response, deadline))
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return _Reply(0, failure=TIMEOUT, detail="timed out connecting")
        return _Reply(0, failure=UNREACHABLE, detail=safe_text(str(exc.reason)))
    except TimeoutError:
        return _Reply(0, failure=TIMEOUT, detail="timed out waiting for the answer")
    except _TooLongError:
        return _Reply(0, failure=INVALID, detail=f"answer longer than {MAX_ANSWER_BYTES} bytes")
    except (OSError, HTTPException) as exc:
        return _Reply(0, failure=UNREACHABLE,
                      detail=safe_text(f"{type(exc).__name__}: {exc}"[:200]))


class _TooLongError(Exception):
    pass


def _read(response: HTTPResponse | urllib.error.HTTPError, deadline: float) -> bytes:
    """The body, read a chunk at a time so that a trickling answer meets the deadline.

    Raises:
        TimeoutError: the deadline passed.
        _TooLongError: more than MAX_ANSWER_BYTES.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read1(MAX_ANSWER_BYTES + 1 - total)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_ANSWER_BYTES:
            raise _TooLongError
