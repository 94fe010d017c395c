"""A c2sp.org/tlog-witness witness: check add-checkpoint requests, cosign, remember.

The witness serves a fixed set of logs (origin -> trusted Ed25519 log keys)
and cosigns with one Ed25519 tlog-cosignature v1 key. Per origin it keeps the
latest checkpoint it cosigned (size, root hash, the log-signed note, the
cosignature time) in a SQLite file (WAL, synchronous=FULL), so the state
survives kill -9.

:meth:`Witness.add_checkpoint` answers a request body with the HTTP status,
body and content type tlog-witness prescribes. Checks run in this order, the
first failing one answering (spec/witness.md 4):

1. 400: the body is not an add-checkpoint text, or its note is not a checkpoint;
2. 404: the origin is not a served log;
3. 403: no trusted log key signed, or a trusted key's signature fails;
4. 400: the old size exceeds the checkpoint size;
5. 409: the old size is not the size recorded for the origin (0 if none);
6. 422: a size-0 checkpoint without the empty root, a proof with old size 0,
   a consistency proof that fails against the *recorded* root, or the
   recorded size with another root;
7. 200: the record is updated and the cosignature line returned.

Steps 5 to 7 are one ``BEGIN IMMEDIATE`` transaction, so two requests, from
threads or processes, can never both pass step 5 for inconsistent trees; the
cosignature is made only after the commit. A checkpoint that fails step 6 is
kept as evidence (a validly signed fork proves the log misbehaved).

Errors: a request never raises, it is answered; a bad ``now`` raises
:class:`~provledger._errors.TimeRangeError`; the state file raises
:class:`~provledger._errors.StorageError`; bad configuration raises ``ValueError``.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ._errors import CheckpointError, ProofError, StorageError, TimeRangeError, WitnessRequestError
from ._keys import SigningKey
from ._merkle import EMPTY_ROOT, verify_consistency
from ._note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    NoteVerifier,
    cosign_checkpoint,
    format_note,
    parse_checkpoint,
    parse_note,
    verify_note,
)
from ._time import check_now
from ._witness_wire import SIZE_CONTENT_TYPE, format_size, parse_add_checkpoint

#: The content type of cosignature lines, error texts and monitoring checkpoints.
TEXT_CONTENT_TYPE: Final = "text/plain; charset=utf-8"
#: Rejected checkpoints kept per log; later ones are not stored (the first prove enough).
MAX_EVIDENCE_PER_LOG: Final = 1000
SCHEMA_VERSION: Final = 1

_HASH_HEX = re.compile(r"[0-9a-f]{64}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
    origin      TEXT PRIMARY KEY,
    origin_hash TEXT NOT NULL UNIQUE,
    size        INTEGER NOT NULL CHECK (size >= 0),
    root        BLOB NOT NULL CHECK (length(root) = 32),
    note        TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL CHECK (cosigned_at > 0)
);
CREATE TRIGGER IF NOT EXISTS latest_never_shrinks BEFORE UPDATE OF size ON latest
    WHEN NEW.size < OLD.size
    BEGIN SELECT RAISE(ABORT, 'provledger witness: a recorded size never decreases'); END;
CREATE TABLE IF NOT EXISTS evidence (
    id            INTEGER PRIMARY KEY,
    origin        TEXT NOT NULL,
    received      INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    old_size      INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    root          BLOB NOT NULL,
    note          TEXT NOT NULL,
    request       BLOB NOT NULL,
    recorded_size INTEGER NOT NULL,
    recorded_root BLOB NOT NULL,
    recorded_note TEXT
);
CREATE INDEX IF NOT EXISTS evidence_origin ON evidence (origin);
"""


@dataclass(frozen=True)
class WitnessAnswer:
    """What the witness answers an add-checkpoint request with."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Recorded:
    """The latest checkpoint the witness cosigned for a log."""

    origin: str
    size: int
    root_hash: bytes
    #: The checkpoint with the log signatures the witness verified (no others).
    note: str
    #: The time of the witness's cosignature on it.
    cosigned_at: int


@dataclass(frozen=True)
class Evidence:
    """A validly log-signed checkpoint the witness refused as inconsistent (422)."""

    origin: str
    received: int
    reason: str
    old_size: int
    size: int
    root_hash: bytes
    #: The rejected note, verbatim, and the whole request body.
    note: str
    request: bytes
    #: What the witness had recorded then (its note is None if nothing was).
    recorded_size: int
    recorded_root: bytes
    recorded_note: str | None


def origin_hash(origin: str) -> str:
    """The monitoring path's origin hash: lowercase hex SHA-256 of the origin."""
    return hashlib.sha256(origin.encode()).hexdigest()


class WitnessState:
    """The witness's SQLite state file: the latest record per log, and evidence.

    One connection, shared by threads under a lock; other processes are kept
    out of a write by SQLite's own lock (``BEGIN IMMEDIATE``).
    """

    def __init__(self, path: str | Path, *, create: bool = False, timeout: float = 10.0) -> None:
        """Open (or with ``create``, create) the state file.

        Raises:
            StorageError: it cannot be opened, or is not a witness state file.
        """
        self.path = Path(path)
        self._lock = threading.Lock()
        uri = f"file:{self.path}?mode={'rwc' if create else 'rw'}"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout,
                                   check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path}: cannot open the witness state ({exc})") from None
        self._conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version == 0 and create:
                conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} "
                                   f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
                (version,) = conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StorageError(f"{self.path}: cannot open the witness state ({exc})") from None
        if version != SCHEMA_VERSION:
            conn.close()
            raise StorageError(f"{self.path}: not a witness state file (schema version "
                               f"{version}, expected {SCHEMA_VERSION})")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed durably on a normal exit, else rolled back.

        Raises:
            StorageError: the lock was not obtained in time, a statement or the
                commit failed (all rolled back).
        """
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StorageError(f"{self.path}: cannot start a write ({exc}); nothing "
                                   "was changed") from None
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                self._conn.execute("ROLLBACK")
                raise StorageError(f"{self.path}: the witness state failed, nothing was "
                                   f"changed ({exc})") from None
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._conn.execute("ROLLBACK")
                raise StorageError(f"{self.path}: commit failed, nothing was changed "
                                   f"({exc})") from None

    def latest(self, origin: str) -> Recorded | None:
        """The record for ``origin``, if the witness ever cosigned for it.

        Raises:
            StorageError: the file cannot be read.
        """
        return self._one("origin = ?", origin)

    def latest_by_hash(self, hex_hash: str) -> Recorded | None:
        """The record whose origin hashes (SHA-256, lowercase hex) to ``hex_hash``.

        Raises:
            StorageError: the file cannot be read.
        """
        if not _HASH_HEX.fullmatch(hex_hash):
            return None
        return self._one("origin_hash = ?", hex_hash)

    def all_latest(self) -> list[Recorded]:
        """Every record, by origin.

        Raises:
            StorageError: the file cannot be read.
        """
        return self._select("1 = 1 ORDER BY origin")

    def evidence(self, origin: str | None = None) -> list[Evidence]:
        """The checkpoints refused as inconsistent, oldest first (of one origin, or all).

        Raises:
            StorageError: the file cannot be read.
        """
        where, args = ("origin = ?", (origin,)) if origin is not None else ("1 = 1", ())
        sql = ("SELECT origin, received, reason, old_size, size, root, note, request, "
               f"recorded_size, recorded_root, recorded_note FROM evidence WHERE {where} "
               "ORDER BY id")
        rows = self._read(sql, args)
        return [Evidence(str(o), int(t), str(r), int(old), int(n), bytes(root), str(note),
                         bytes(req), int(rn), bytes(rr), None if rnote is None else str(rnote))
                for o, t, r, old, n, root, note, req, rn, rr, rnote in rows]

    def close(self) -> None:
        """Close the file; the object is unusable afterwards."""
        with self._lock:
            self._conn.close()

    def _one(self, where: str, value: str) -> Recorded | None:
        found = self._select(where, value)
        return found[0] if found else None

    def _select(self, where: str, *args: str) -> list[Recorded]:
        rows = self._read("SELECT origin, size, root, note, cosigned_at FROM latest "
                          f"WHERE {where}", args)
        return [Recorded(str(o), int(n), bytes(r), str(note), int(t))
                for o, n, r, note, t in rows]

    def _read(self, sql: str, args: Sequence[object]) -> list[Any]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, tuple(args)))
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"{self.path}: cannot read the witness state "
                                   f"({exc})") from None


def _record(conn: sqlite3.Connection, cp: Checkpoint, note: str, now: int) -> None:
    conn.execute(
        "INSERT INTO latest (origin, origin_hash, size, root, note, cosigned_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size, "
        "root = excluded.root, note = excluded.note, cosigned_at = excluded.cosigned_at",
        (cp.origin, origin_hash(cp.origin), cp.size, cp.root_hash, note, now))


def _keep_evidence(conn: sqlite3.Connection, *, cp: Checkpoint, reason: str, old_size: int,
                   note: str, body: bytes, recorded: Recorded | None, now: int) -> None:
    (count,) = conn.execute("SELECT count(*) FROM evidence WHERE origin = ?",
                            (cp.origin,)).fetchone()
    if count >= MAX_EVIDENCE_PER_LOG:
        return
    conn.execute(
        "INSERT INTO evidence (origin, received, reason, old_size, size, root, note, request, "
        "recorded_size, recorded_root, recorded_note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (cp.origin, now, reason, old_size, cp.size, cp.root_hash, note, body,
         recorded.size if recorded else 0, recorded.root_hash if recorded else EMPTY_ROOT,
         recorded.note if recorded else None))


class Witness:
    """A tlog-witness cosigner over a :class:`WitnessState`.

    Thread-safe: the HTTP server calls it from a thread pool.
    """

    def __init__(self, *, name: str, key: SigningKey,
                 logs: Mapping[str, Sequence[NoteVerifier]],
                 state: WitnessState | str | Path) -> None:
        """Serve ``logs`` (origin -> its trusted Ed25519 note keys), cosigning as ``name``.

        Raises:
            ValueError: an invalid name, a log key that is not type 0x01, is
                named other than its origin or is given twice, or an origin
                without keys.
            StorageError: ``state`` is a path that cannot be opened.
        """
        self.verifier = NoteVerifier(name, key.public_key, SIG_COSIGNATURE_V1)
        self._key = key
        self._logs: dict[str, tuple[NoteVerifier, ...]] = {}
        for origin, keys in logs.items():
            if not keys:
                raise ValueError(f"log {origin!r}: no keys given")
            for v in keys:
                if v.sig_type != SIG_ED25519 or v.name != origin:
                    raise ValueError(f"log {origin!r}: {v.vkey()} is not an Ed25519 note key "
                                     "named after the origin")
            if len({v.public_key for v in keys}) != len(keys):
                raise ValueError(f"log {origin!r}: a key is given twice")
            self._logs[origin] = tuple(keys)
        self.state = state if isinstance(state, WitnessState) else WitnessState(state)

    @property
    def name(self) -> str:
        """The witness's key name."""
        return self.verifier.name

    @property
    def origins(self) -> tuple[str, ...]:
        """The origins of the logs served, sorted."""
        return tuple(sorted(self._logs))

    def close(self) -> None:
        """Close the state file."""
        self.state.close()

    def add_checkpoint(self, body: bytes, *, now: int) -> WitnessAnswer:
        """Answer a c2sp.org/tlog-witness add-checkpoint request, cosigning at ``now``.

        Every outcome is an answer (see the module docstring for the order of
        checks); only the 200 answer changes the recorded state, and a 422
        one adds evidence.

        Raises:
            TimeRangeError: ``now`` is not a protocol time above 0.
            StorageError: the state file cannot be read or written (nothing
                was cosigned).
        """
        if check_now(now) == 0:
            raise TimeRangeError("now must be above 0: a cosignature's timestamp is never 0")
        try:
            request = parse_add_checkpoint(body)
            note = parse_note(request.note)
            cp = parse_checkpoint(note.text)
        except WitnessRequestError as exc:
            return _text(400, str(exc))
        except CheckpointError as exc:
            return _text(400, f"malformed add-checkpoint request: {exc}")
        keys = self._logs.get(cp.origin)
        if keys is None:
            return _text(404, f"unknown log origin {cp.origin[:200]!r}")
        try:
            verify_note(request.note, verifiers=keys)
        except CheckpointError as exc:
            return _text(403, f"checkpoint is not validly signed by the log: {exc}")
        if request.old_size > cp.size:
            return _text(400, f"old size {request.old_size} exceeds the checkpoint size "
                              f"{cp.size}")
        trusted = {(v.name, v.key_id) for v in keys}
        log_signed = format_note(note.text, [s for s in note.signatures
                                             if (s.name, s.key_id) in trusted])
        with self.state.transaction() as conn:
            row = conn.execute("SELECT size, root, note, cosigned_at FROM latest "
                               "WHERE origin = ?", (cp.origin,)).fetchone()
            recorded = (None if row is None else
                        Recorded(cp.origin, int(row[0]), bytes(row[1]), str(row[2]), int(row[3])))
            recorded_size = recorded.size if recorded else 0
            if request.old_size != recorded_size:
                return WitnessAnswer(409, format_size(recorded_size), SIZE_CONTENT_TYPE)
            problem = _inconsistency(cp, request.old_size, request.proof, recorded)
            if problem is not None:
                _keep_evidence(conn, cp=cp, reason=problem, old_size=request.old_size,
                               note=request.note, body=body, recorded=recorded, now=now)
                return _text(422, problem)
            _record(conn, cp, log_signed, now)
        cosignature = cosign_checkpoint(note.text, name=self.name, key=self._key, timestamp=now)
        return WitnessAnswer(200, cosignature.line.encode(), TEXT_CONTENT_TYPE)

    def cosign_offline(self, note: str | bytes, proof: str | bytes, *,
                       now: int) -> WitnessAnswer:
        """:meth:`add_checkpoint` for an air-gapped witness: ``note`` is the
        signed checkpoint, ``proof`` the request's head (an ``old <size>`` line
        and base64 proof lines; trailing newlines are optional).

        Raises:
            TimeRangeError, StorageError: as :meth:`add_checkpoint`.
        """
        head = proof.encode() if isinstance(proof, str) else proof
        body = note.encode() if isinstance(note, str) else note
        return self.add_checkpoint(head.rstrip(b"\n") + b"\n\n" + body, now=now)

    def checkpoint(self, origin_hash_hex: str) -> str | None:
        """The monitoring view: the latest cosigned checkpoint of the log whose
        origin hashes to ``origin_hash_hex``, with the log signatures the witness
        verified and its own cosignature; None if it never cosigned for it.

        Raises:
            StorageError: the state file cannot be read.
        """
        recorded = self.state.latest_by_hash(origin_hash_hex)
        if recorded is None:
            return None
        text = parse_note(recorded.note).text
        # Ed25519 is deterministic: this is the cosignature add-checkpoint returned.
        line = cosign_checkpoint(text, name=self.name, key=self._key,
                                 timestamp=recorded.cosigned_at).line
        return recorded.note + line


def _inconsistency(cp: Checkpoint, old_size: int, proof: Sequence[bytes],
                   recorded: Recorded | None) -> str | None:
    """Why ``cp`` is not consistent with the record (422), or None."""
    if cp.size == 0 and cp.root_hash != EMPTY_ROOT:
        return "a checkpoint of size 0 must have the empty tree's root (SHA-256 of '')"
    if old_size == 0:
        return "old size 0 needs an empty consistency proof" if proof else None
    assert recorded is not None  # old_size equals the recorded size, which is > 0
    try:
        verify_consistency(old_size=old_size, new_size=cp.size, old_root=recorded.root_hash,
                           new_root=cp.root_hash, proof=proof)
    except ProofError as exc:
        return f"not consistent with the recorded checkpoint of size {old_size}: {exc}"
    return None


def _text(status: int, message: str) -> WitnessAnswer:
    return WitnessAnswer(status, (" ".join(message.splitlines()) + "\n").encode(),
                         TEXT_CONTENT_TYPE)
