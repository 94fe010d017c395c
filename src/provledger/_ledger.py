"""The Ledger: open a log, append statements that pass the rules, read histories."""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from . import _disclosure, _rules, _tlog
from ._audit import AuditReport
from ._backends import create_store, is_url, open_store
from ._entry import encode_entry
from ._errors import (
    ChainError,
    DecodeError,
    DuplicateStatementError,
    NotFoundError,
    ProvLedgerError,
    StorageError,
)
from ._events import Event
from ._keys import SigningKey, format_public_key
from ._note import NoteVerifier
from ._parallel import SignatureChecks
from ._policy import Policy
from ._progress import Progress
from ._state import AuthorityState, ItemState, encode_state
from ._statement import (
    Statement,
    UnverifiedStatement,
    authority_subject,
    decode_statement,
    sign_statement,
    verify_statement,
)
from ._storage import DisclosureRow, Row, Store
from ._store import SCHEMA_VERSION
from ._tlog import SignedCheckpoint
from ._tree import tree_of
from ._view import StateView

if TYPE_CHECKING:
    from ._witness_client import WitnessEndpoint, WitnessOutcome

Clock = Callable[[], float]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Record:
    """An appended statement with the log's index and time for it."""

    index: int
    time: int
    statement: Statement
    entry: bytes

    @property
    def event(self) -> Event:
        return self.statement.event

    @property
    def hash(self) -> bytes:
        return self.statement.hash


class Ledger:
    """An append-only, signed, hash-chained provenance log.

    Open one with :meth:`create` or :meth:`open`; use it as a context manager
    or call :meth:`close`. ``clock`` gives the log's time and is read once per
    append call.
    """

    def __init__(self, store: Store, *, clock: Clock = _time.time) -> None:
        self._store = store
        self._clock = clock
        self.origin, self.root_key, self.log_key = _read_meta(store)

    # -- lifecycle --------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        origin: str,
        root_key: bytes,
        log_key: bytes,
        clock: Clock = _time.time,
    ) -> Ledger:
        """Create an empty ledger: a new SQLite file at ``path``, or the
        tables in the empty PostgreSQL database a ``postgresql://`` URL names.

        ``root_key`` is the public key that grants issuers; ``log_key`` the one
        that signs checkpoints. ``origin`` names the log in every statement
        (a schema-less URL such as ``ledger.example.com/rings``).

        Raises:
            StorageError: the file (or a ledger in the database) exists, or it
                cannot be created.
            ValueError: a bad origin or key.
        """
        from ._codec import convert
        from ._types import Origin

        try:
            convert(origin, Origin, what="origin")
        except DecodeError:
            raise ValueError(
                f"origin {origin!r}: 1-200 printable ASCII characters, no spaces"
            ) from None
        format_public_key(root_key)
        format_public_key(log_key)
        if root_key == log_key:
            raise ValueError("the root key and the log key must differ")
        meta = {
            "schema": str(SCHEMA_VERSION).encode(),
            "origin": origin.encode(),
            "root_key": root_key,
            "log_key": log_key,
        }
        store = create_store(path, meta, keys=[(root_key, authority_subject(root_key), -1)])
        return cls(store, clock=clock)

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        clock: Clock = _time.time,
        readonly: bool = False,
        timeout: float = 10.0,
        progress: Progress | None = None,
    ) -> Ledger:
        """Open an existing ledger: a SQLite file, or a ``postgresql://`` URL.

        A writer waits up to ``timeout`` seconds for another to finish, then
        raises LedgerBusyError. A file made by an older version is converted
        when first opened for writing; ``progress`` hears how far (_progress).

        Raises:
            StorageError: missing, unreadable or not a provledger ledger, or
                its ``meta`` table lacks or garbles the origin or a key.
        """
        store = open_store(path, readonly=readonly, timeout=timeout, progress=progress)
        try:
            return cls(store, clock=clock)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the database; the Ledger is unusable afterwards."""
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def store(self) -> Store:
        return self._store

    # -- writing ----------------------------------------------------------------

    def append(self, statement: bytes, disclosures: Sequence[bytes] = ()) -> Record:
        """Verify one signed statement and append it durably, with the
        disclosures of its committed fields (spec/disclosure.md), which are
        kept off the log in the ledger's erasable store.

        Raises:
            DecodeError: malformed or non-canonical statement.
            VerificationError: bad signature, wrong log, broken chain, unknown
                or revoked signer.
            PolicyError: the rules forbid it (DuplicateStatementError for a replay).
            DisclosureError: a disclosure matches no commitment of the statement.
            StorageError: the database failed (LedgerBusyError: retry).
            Nothing is written when any of these is raised.
        """
        return self.append_batch([statement], [disclosures])[0]

    def append_batch(self, statements: Sequence[bytes],
                     disclosures: Sequence[Sequence[bytes]] | None = None) -> list[Record]:
        """Append statements in order, all or nothing, in one durable commit;
        ``disclosures[i]`` are statement i's.

        Raises:
            The errors of :meth:`append`; the exception's ``batch_index``
            names the first statement at fault. Nothing is written then.
        """
        for i, s in enumerate(statements):
            if not isinstance(s, bytes):
                raise TypeError(f"statement {i} must be bytes, not {type(s).__name__}")
        if disclosures is not None and len(disclosures) != len(statements):
            raise ValueError(f"{len(disclosures)} lists of disclosures for "
                             f"{len(statements)} statements")
        checks = SignatureChecks(statements)
        try:
            return self._append_checked(statements, checks, disclosures or ())
        finally:
            checks.cancel()

    def record(self, event: Event, *, key: SigningKey, subject: str,
               commit: bool = True) -> Record:
        """Sign ``event`` against this ledger's head and append it: the
        simplest way to write. With ``commit`` (the default) its free-text
        fields are committed and their clear text stored as disclosures, so
        none of it enters the log (spec/disclosure.md).

        Raises:
            The errors of :meth:`append`.
        """
        disclosures: tuple[bytes, ...] = ()
        if commit:
            committed = _disclosure.commit(event)
            event, disclosures = committed.event, committed.disclosures
        return self.append(self.sign(event, key=key, subject=subject), disclosures)

    def _append_checked(self, statements: Sequence[bytes], checks: SignatureChecks,
                        disclosures: Sequence[Sequence[bytes]]) -> list[Record]:
        # Signatures are checked elsewhere meanwhile; every error path and the
        # commit wait for the checks of the statements before it, so the first
        # statement at fault is named whatever its fault.
        decoded: list[UnverifiedStatement] = []
        for i, data in enumerate(statements):
            try:
                decoded.append(decode_statement(data))
            except ProvLedgerError as exc:
                checks.require(i)
                _at(i, verify_statement, data)  # raises, putting a bad signature first
                _tag(exc, i)
                raise
        private = self._disclosure_rows(decoded, disclosures, checks)
        tree = tree_of(self._store)
        with tree.write():
            size = self._store.size()
            log_time = max(int(self._clock()), self._store.last_time())
            view = StateView(self._store, origin=self.origin, root_key=self.root_key)
            view.prefetch([st.subject for st in decoded])
            overlay = tree.overlay()
            rows: list[Row] = []
            keys: list[tuple[bytes, str, int]] = []
            seen: set[bytes] = set()
            for i, st in enumerate(decoded):
                head, state = view.head(st.subject)
                try:
                    out = _rules.apply(st, state=state, head=head, log_time=log_time, ctx=view)
                except ChainError as exc:
                    checks.require(i + 1)
                    _at(i, self._raise_if_duplicate, st, seen, exc)
                except ProvLedgerError as exc:
                    checks.require(i + 1)
                    _tag(exc, i)
                    raise
                index = size + i
                entry = encode_entry(index, log_time, st.raw)
                overlay.append(index, entry)
                view.update(st.subject, st.hash, out.state, out.new_keys,
                            entry=(index, log_time, st))
                seen.add(st.hash)
                rows.append(Row(index, log_time, entry, st.hash, st.subject, st.type,
                                st.signer, encode_state(out.state)))
                keys.extend((k, st.subject, index) for k in out.new_keys)
            if private:  # clear text reaches no disk for a statement that fails
                checks.require(len(decoded))
            # Written while the last checks finish; committed only once all are in.
            try:
                self._store.insert(rows, keys, overlay.nodes,
                                   [replace(r, index=size + i) for i, r in private])
            except ProvLedgerError:
                checks.require(len(decoded))  # a bad signature is named first
                raise
            verified = checks.verified(decoded)
        return [Record(row.index, row.time, st, row.entry)
                for row, st in zip(rows, verified, strict=True)]

    @staticmethod
    def _disclosure_rows(decoded: Sequence[UnverifiedStatement],
                         disclosures: Sequence[Sequence[bytes]], checks: SignatureChecks,
                         ) -> list[tuple[int, DisclosureRow]]:
        """Each disclosure matched to its statement's commitment, as rows
        (their index is filled in once the log's size is known)."""
        out: list[tuple[int, DisclosureRow]] = []
        for i, given in enumerate(disclosures):
            if not given:
                continue
            st = decoded[i]
            try:
                _disclosure.reveal(st.event, given)  # every one matches, or it raises
            except ProvLedgerError as exc:
                checks.require(i + 1)
                _tag(exc, i)
                raise
            out.extend((i, DisclosureRow(_disclosure.digest(data), st.hash, -1, st.subject,
                                         _disclosure.path_of(st.event, data), bytes(data)))
                       for data in given)
        return out

    def _raise_if_duplicate(self, st: UnverifiedStatement, seen: set[bytes],
                            exc: ChainError) -> None:
        index = self._store.find(st.subject, st.hash)
        if index is not None or st.hash in seen:
            where = f"at log index {index}" if index is not None else "earlier in this batch"
            raise DuplicateStatementError(
                f"{st.type} for {st.subject}: this exact statement is already in the log "
                f"({where}); it was not appended again",
                index=-1 if index is None else index,
            ) from None
        raise exc

    def sign(self, event: Event, *, key: SigningKey, subject: str) -> bytes:
        """Sign ``event`` for ``subject`` against this ledger's current head and clock.

        A convenience for signers that can read the ledger; offline signers
        call :func:`provledger.sign_statement` with the head they were given.

        Raises:
            DecodeError: a field violates the schema.
        """
        head = self._store.head(subject)
        return sign_statement(event, key=key, origin=self.origin, subject=subject,
                              prev=head.hash if head else None, time=int(self._clock()))

    # -- reading ----------------------------------------------------------------

    def __len__(self) -> int:
        return self._store.size()

    def head(self, subject: str) -> bytes | None:
        """Hash of the subject's latest statement (the next ``prev``), or None."""
        row = self._store.head(subject)
        return row.hash if row else None

    def history(self, subject: str) -> list[Record]:
        """Every entry of ``subject`` in log order, signatures re-verified.

        Raises:
            NotFoundError: nothing was ever recorded for ``subject``.
            VerificationError, DecodeError: a stored entry no longer verifies.
        """
        rows = self._store.history(subject)
        if not rows:
            raise NotFoundError(f"{subject}: no such item or authority in this ledger")
        return [_record(r) for r in rows]

    def item(self, item_id: str) -> ItemState:
        """The item's current state: issuer, owner key, status.

        Raises:
            NotFoundError: no certificate for ``item_id``.
        """
        row = self._store.head(item_id)
        state = StateView(self._store, origin=self.origin, root_key=self.root_key).head(item_id)[1]
        if row is None or not isinstance(state, ItemState):
            raise NotFoundError(f"{item_id}: no certificate in this ledger")
        return state

    def authority(self, key: bytes) -> AuthorityState:
        """The authority a key (current or retired) belongs to.

        Raises:
            NotFoundError: the key is unknown.
        """
        state = StateView(self._store, origin=self.origin,
                          root_key=self.root_key).authority_of(key)
        if state is None:
            raise NotFoundError(f"{format_public_key(key)}: no authority has this key")
        return state

    def entry(self, index: int) -> bytes:
        """The stored bytes of entry ``index`` (the Merkle leaf).

        Raises:
            NotFoundError: ``index`` is outside the log.
        """
        for row in self._store.rows(index, index + 1):
            return row.entry
        raise NotFoundError(f"entry {index}: the log has {len(self)} entries")

    def audit(self, *, workers: int = 1, progress: Progress | None = None) -> AuditReport:
        """Re-verify the whole log: signatures, chain links, rules, stored state,
        the Merkle tree and every checkpoint (roots and mutual consistency).

        ``workers`` > 1 checks signatures in that many worker processes while
        this one replays the rules (see PROVLEDGER_PROCESSES in the README).
        Entries appended while the audit runs are left for the next one.
        ``progress(stage, done, total)`` hears how far it is (:data:`Progress`).

        Raises:
            AuditError: naming the first entry (``index``) that does not check
                out, or whose stored disclosure does not match it.
        """
        from ._audit import audit_log
        from ._disclosure_audit import audit_disclosures

        report = audit_log(self._store, origin=self.origin, root_key=self.root_key,
                           log_key=self.log_key, workers=workers, progress=progress)
        return replace(report, disclosures=audit_disclosures(self._store, report.size))

    # -- transparency log -----------------------------------------------------

    def root(self, size: int | None = None) -> bytes:
        """RFC 9162 root of the first ``size`` entries (default: all), O(log n).

        Raises:
            NotFoundError: ``size`` exceeds the log.
        """
        return _tlog.root(self._store, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries.

        Raises:
            NotFoundError: ``index`` or ``size`` lies outside the log.
        """
        return _tlog.inclusion_proof(self._store, index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof from tree size ``old`` to ``new`` (default: all).

        Raises:
            NotFoundError: a size lies outside the log, or ``old`` is 0 or > ``new``.
        """
        return _tlog.consistency_proof(self._store, old, new)

    def sign_checkpoint(self, key: SigningKey, *,
                        progress: Progress | None = None) -> SignedCheckpoint:
        """Sign, store and return a C2SP checkpoint of the whole log.

        The log time (``provledger-time``) is read from the ledger's clock once.
        ``progress(stage, done, total)`` hears how far the head map is built
        (:data:`Progress`); should it raise, nothing is written.

        Raises:
            UnauthorizedError: ``key`` is not the log key.
            CheckpointError: the tree is inconsistent with the last checkpoint;
                nothing is written.
            StorageError: the database failed.
        """
        with self._store.write():
            return _tlog.sign_checkpoint(self._store, origin=self.origin, log_key=self.log_key,
                                         key=key, now=int(self._clock()), progress=progress)

    def checkpoints(self) -> list[SignedCheckpoint]:
        """Every checkpoint signed so far, oldest first, signatures re-verified.

        Raises:
            CheckpointError: a stored checkpoint does not verify.
        """
        return _tlog.checkpoints(self._store, self.origin, self.log_key)

    def latest_checkpoint(self) -> SignedCheckpoint:
        """The newest checkpoint.

        Raises:
            NotFoundError: none has been signed yet.
        """
        return _tlog.latest(self._store, self.origin, self.log_key)

    def add_cosignatures(self, seq: int, lines: str,
                         witnesses: Sequence[NoteVerifier]) -> list[str]:
        """Verify witness cosignatures of checkpoint ``seq`` and store the new ones.

        ``lines`` holds note signature lines (a witness's answer, ``provledger
        witness cosign`` output) or a whole signed note of that checkpoint.
        Lines by keys not among ``witnesses`` (type 0x04 keys) are ignored, and
        so is a witness that already has a cosignature of ``seq`` stored:
        adding the same lines twice adds nothing. Returns the names of the
        witnesses whose cosignatures were added.

        Raises:
            NotFoundError: no checkpoint ``seq``.
            CheckpointError: malformed lines, a note of another checkpoint, a
                given witness's cosignature that does not verify, or none by a
                given witness; nothing is written.
            ValueError: a witness key is not type 0x04, or given twice.
            StorageError: the database failed (LedgerBusyError: retry).
        """
        return _tlog.add_cosignatures(self._store, origin=self.origin, log_key=self.log_key,
                                      seq=seq, text=lines, witnesses=witnesses)

    def request_cosignatures(self, witnesses: Sequence[WitnessEndpoint], *, seq: int | None = None,
                             timeout: float = 10.0, retries: int = 2) -> list[WitnessOutcome]:
        """Ask witnesses (c2sp.org/tlog-witness) to cosign checkpoint ``seq``
        (default: the latest), all at once, and store every cosignature that
        verifies.

        Each request starts from the largest size the witness has a stored
        cosignature for (0 if none) and, on "409 Conflict", retries from the
        size the witness names (see :mod:`provledger._witness_client`).
        Returns one outcome per witness, in order; ``timeout`` bounds the
        whole exchange. Unreachable or refusing witnesses are outcomes, not
        errors.

        Raises:
            NotFoundError: no checkpoint has been signed yet, or none ``seq``.
            StorageError: storing the cosignatures failed (LedgerBusyError: retry).
        """
        from ._witness_client import collect_cosignatures

        signed = self.checkpoints()
        if not signed:
            raise NotFoundError("no checkpoint has been signed yet (run `provledger checkpoint`)")
        target = signed[-1] if seq is None else next((c for c in signed if c.seq == seq), None)
        if target is None:
            raise NotFoundError(f"no checkpoint {seq}: the log has signed {len(signed)}")
        outcomes = collect_cosignatures(
            target.note, witnesses, timeout=timeout, retries=retries,
            start=_tlog.witnessed_sizes(signed),
            proof_for=lambda old: self.consistency_proof(old, target.size))
        cosigned: dict[str, tuple[NoteVerifier, str]] = {}
        for o in outcomes:  # one line per key, should a policy list a key twice
            if o.ok and o.line is not None:
                cosigned.setdefault(o.witness.key.vkey(), (o.witness.key, o.line))
        if cosigned:
            self.add_cosignatures(target.seq, "".join(f"{line}\n" for _, line in
                                                      cosigned.values()),
                                  [key for key, _ in cosigned.values()])
        return outcomes

    def log_vkey(self) -> str:
        """The C2SP verifier key of this log: ``<origin>+<key id>+<base64 key>``."""
        return _tlog.log_verifier(self.origin, self.log_key).vkey()

    def trust_policy(self, *, max_age: int | None = None) -> Policy:
        """A policy trusting this ledger's log key and root key (spec/bundle.md)."""
        from ._policy import DEFAULT_MAX_AGE

        return Policy(logs=(_tlog.log_verifier(self.origin, self.log_key),),
                      roots=(self.root_key,), max_age=max_age or DEFAULT_MAX_AGE)

    def tlog_proof(self, index: int) -> str:
        """A c2sp.org/tlog-proof@v1 text proving entry ``index`` against the latest checkpoint.

        Raises:
            NotFoundError: no checkpoint yet, or it does not cover ``index``.
        """
        return _tlog.tlog_proof(self._store, index, self.latest_checkpoint())

    def receipt(self, index: int, *, key: SigningKey) -> bytes:
        """A COSE Receipt (RFC 9942) for entry ``index`` at the latest checkpoint.

        Raises:
            UnauthorizedError: ``key`` is not the log key.
            NotFoundError: no checkpoint yet, or it does not cover ``index``.
            ReceiptUnavailableError: the latest checkpoint is of a one-entry
                log, which RFC 9942 gives no receipt (spec/log.md 6.2).
        """
        _tlog.check_log_key(key, self.log_key, "receipts")
        return _tlog.receipt(self._store, index, self.latest_checkpoint(), key, self.log_key)

    # -- bundles ----------------------------------------------------------------

    def export(self, item: str, *, since: tuple[int, ...] = (),
               disclose: str | Collection[str] | None = None) -> bytes:
        """The offline bundle of ``item`` as of the latest checkpoint (spec/bundle.md).

        ``since``: tree sizes of older checkpoints the verifier has seen; the
        bundle carries each (the newest signed at that size) with a
        consistency proof to the latest. ``disclose``: which stored
        disclosures go in (spec/disclosure.md): None (the default) none,
        ``"all"``, or field paths such as ``notes`` and ``condition.notes``.

        Raises:
            ValueError: ``disclose`` names a field that cannot be committed.
            NotFoundError: no checkpoint yet, or it does not cover the item.
        """
        from ._export import export_bundle

        signed = self.checkpoints()
        if not signed:
            raise NotFoundError("no checkpoint has been signed yet (run `provledger checkpoint`)")
        older = []
        for size in since:
            match = [c for c in signed if c.size == size]
            if not match:
                raise NotFoundError(f"no checkpoint was signed at size {size}")
            older.append(match[-1])
        return export_bundle(self._store, item=item, origin=self.origin, root_key=self.root_key,
                             checkpoint=signed[-1], since=tuple(older), disclose=disclose)

    # -- disclosures (spec/disclosure.md) -------------------------------------

    def reveal(self, record: Record) -> _disclosure.Revealed:
        """``record``'s event with every stored disclosure filled in (the
        ledger's own view: it holds them all until they are erased).

        Raises:
            DisclosureError: a stored disclosure no longer matches.
        """
        found = self._store.disclosures([record.hash]).get(record.hash, [])
        return _disclosure.reveal(record.event, found)

    def erase(self, item: str, *, fields: Sequence[str] | None = None,
              statements: Sequence[bytes] | None = None) -> int:
        """Delete the stored disclosures of ``item`` (only of these fields,
        e.g. ``notes`` or ``condition.notes``, and statement hashes, when
        given): afterwards no export can reveal them, while every commitment,
        proof, checkpoint and audit holds as before. Returns how many.

        Raises:
            NotFoundError: nothing was ever recorded for ``item``.
            StorageError: the store failed; see its message for what remains.
        """
        if self._store.head(item) is None:  # a lookup, not history()'s signature checks
            raise NotFoundError(f"{item}: no such item or authority in this ledger")
        return self._store.erase_disclosures(item, statements=statements, paths=fields)

    def records(self, start: int = 0, stop: int | None = None) -> Iterator[Record]:
        """Entries ``start``..``stop`` in order, signatures re-verified."""
        for row in self._store.rows(start, len(self) if stop is None else stop):
            yield _record(row)

    # -- backups ----------------------------------------------------------------

    def backup(self, dest: str | Path, *, progress: Progress | None = None) -> AuditReport:
        """Copy the ledger to the new file ``dest`` while it stays in use; audit the copy.

        ``dest`` may instead be a ``postgresql://`` URL of an empty database:
        the copy is then made there in one transaction (and removed again if
        it does not audit); from a PostgreSQL ledger, ``dest`` is a new SQLite
        file. Either way it is one consistent snapshot.

        From a SQLite ledger the copy is taken with SQLite's online backup
        API: writers may go on meanwhile, and the copy holds a prefix of the
        log (its root is this ledger's ``root(size)`` for the copy's size)
        with every checkpoint signed up to then. It is a single file, fsynced
        before the audit. The copy is then opened and audited in full; a copy
        that does not audit is deleted. Restore by copying the file back
        while no process has the ledger open.

        ``progress(stage, done, total)`` hears of the pages copied, then of the
        audit (:data:`Progress`). Should it raise (or Ctrl-C interrupt), the
        copy is deleted and the exception goes on.

        Raises:
            StorageError: ``dest`` exists (or holds a ledger) or cannot be written.
            AuditError: the copy does not audit (it was deleted).
        """
        from ._backends import copy_to_url, discard_copy
        from ._errors import AuditError

        if is_url(dest):
            copy_to_url(self._store, str(dest), progress)
        else:
            self._store.backup(dest, progress=progress)
        try:
            return self._audit_copy(dest, progress)
        except ProvLedgerError as exc:
            discard_copy(dest)
            raise AuditError(f"backup {dest} does not audit, so it was deleted: {exc}",
                             index=getattr(exc, "index", None)) from None
        except BaseException:
            discard_copy(dest)  # interrupted: an unaudited copy is no backup
            raise

    def _audit_copy(self, dest: str | Path, progress: Progress | None) -> AuditReport:
        from ._errors import AuditError

        with Ledger.open(dest, readonly=True) as copy:
            if (copy.origin, copy.root_key, copy.log_key) != (
                    self.origin, self.root_key, self.log_key):
                raise AuditError(f"the copy is of another log than {self.origin}")
            return copy.audit(progress=progress)


def _record(row: Row) -> Record:
    from ._entry import decode_entry

    entry = decode_entry(row.entry)
    return Record(row.index, row.time, verify_statement(entry.statement), row.entry)


def _tag(exc: ProvLedgerError, i: int) -> None:
    exc.batch_index = i


def _at(i: int, fn: Callable[..., T], *args: object) -> T:
    """Call ``fn`` and tag a ProvLedgerError with the batch position ``i``."""
    try:
        return fn(*args)
    except ProvLedgerError as exc:
        _tag(exc, i)
        raise


def _read_meta(store: Store) -> tuple[str, bytes, bytes]:
    """The origin, root key and log key from the ``meta`` table, checked.

    Raises:
        StorageError: a row is missing or does not hold what create() wrote
            (only an edit behind the ledger's back does that).
    """
    from ._codec import convert
    from ._types import Origin

    meta = store.meta()
    for name in ("origin", "root_key", "log_key"):
        if name not in meta:
            raise StorageError(f"the ledger's meta row {name!r} is missing")
    try:
        origin = meta["origin"].decode("utf-8")
        convert(origin, Origin, what="origin")
    except (UnicodeDecodeError, DecodeError):
        raise StorageError(f"the ledger's meta row 'origin' is not a valid origin "
                           f"({meta['origin'][:60]!r})") from None
    for name in ("root_key", "log_key"):
        if len(meta[name]) != 32:
            raise StorageError(f"the ledger's meta row {name!r} is not a 32-byte Ed25519 "
                               f"public key ({len(meta[name])} bytes)")
    return origin, meta["root_key"], meta["log_key"]
