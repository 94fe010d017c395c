"""Audit: re-derive everything the ledger stores from its signed entries.

Each entry is checked against the stored state of its predecessors: entry
bytes and index, log time order, signature, columns, chain link, the rules,
and the stored state it produced. By induction from entry 0 the whole log is
then proven, and ranges can be checked independently: with several workers,
each forked process replays one range of the log against the stored state
before it and checks that range's signatures itself, so every core replays
(one process replaying while workers only checked signatures ran at the
replay's speed, half of what two cores verify).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _rules
from ._entry import LogEntry, decode_entry
from ._errors import AuditError, DecodeError, ProvLedgerError, VerificationError
from ._history import Cutoffs, replay_item
from ._keys import format_public_key
from ._parallel import SignatureChecks
from ._progress import CHECKING_TREE, REPLAYING, Progress
from ._state import encode_state
from ._statement import AUTHORITY_PREFIX, authority_subject, decode_statement
from ._storage import Row, Store
from ._treecheck import check_tree
from ._view import StateView


@dataclass(frozen=True, slots=True)
class Invalidated:
    """An entry the final cut-off set invalidates (protocol.md 6.4): signed by
    a key at or after its compromise cut-off, or resting on such an entry."""

    index: int
    subject: str
    signer: bytes
    #: Why, as _history words it.
    reason: str

    def __str__(self) -> str:
        return f"entry {self.index} ({self.subject}): {self.reason}"


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What an audit proved. Audits raise on failure, so a report means success."""

    size: int
    subjects: int
    invalidated: Sequence[Invalidated] = field(default_factory=tuple)
    #: Signed checkpoints whose roots and mutual consistency were checked.
    checkpoints: int = 0
    #: Stored disclosures checked against their statements' commitments.
    disclosures: int = 0


@dataclass(slots=True)
class RangeResult:
    """What checking one range of entries found."""

    subjects: int = 0
    invalidated: list[Invalidated] = field(default_factory=list)
    #: Items with an entry some revocation touches (_history.Cutoffs.touches).
    touched: set[str] = field(default_factory=set)
    keys: list[tuple[bytes, str, int]] = field(default_factory=list)


#: Entries read, decoded and sent for signature checks at a time; the next
#: window's checks run in worker processes while this one is replayed.
WINDOW = 1024
#: Below this many entries per worker, forking costs more than it saves.
RANGE_MIN = 4096
#: Seconds between progress reports while workers replay.
_POLL = 0.2


def audit_range(store: Store, *, origin: str, root_key: bytes, start: int, stop: int,
                cutoffs: Cutoffs, processes: int = 0,
                progress: Progress | None = None) -> RangeResult:
    """Check entries ``start``..``stop`` against the stored state before ``start``.

    Genesis entries are not looked up: the caller must check that each
    subject has one (_check_genesis_count), as audit_log does.

    ``cutoffs`` is the log's final cut-off set (entries it invalidates are
    listed); ``processes`` > 0 checks signatures in that many worker processes;
    ``progress`` hears of each window of entries replayed (_progress).

    Raises:
        AuditError: naming the first entry that does not check out.
    """
    view = StateView(store, origin=origin, root_key=root_key, at=start)
    # A missing row before the range is the previous range's finding.
    before = list(store.rows(start - 1, start)) if start > 0 else []
    previous_time = before[0].time if before else 0
    result = RangeResult()
    expected = start
    with contextlib.closing(_windows(store.rows(start, stop), processes)) as windows:
        for window in windows:
            for k, row in enumerate(window.rows):
                try:
                    _check_index(row, expected)
                    view.at = row.index
                    if _check_entry(row, window.entries[k], view, previous_time):
                        result.subjects += 1
                except AuditError:
                    window.require(k + 1)  # a bad signature before or here comes first
                    raise
                if cutoffs and cutoffs.touches(row.signer, row.time):
                    result.touched.add(row.subject)
                    if cutoffs.invalidates(row.signer, row.time, row.subject):
                        result.invalidated.append(Invalidated(
                            row.index, row.subject, row.signer, cutoffs.reason(row.signer)))
                previous_time = row.time
                expected += 1
            window.require(len(window.rows))
            if progress is not None:
                progress(REPLAYING, expected - start, stop - start)
    if expected != stop:
        raise AuditError(f"entries {expected}..{stop - 1} are missing", index=expected)
    result.keys = view.introduced
    return result


@dataclass(slots=True)
class _Window:
    rows: list[Row]
    entries: list[LogEntry | None]  # None: the entry bytes do not decode
    checks: SignatureChecks

    def require(self, upto: int) -> None:
        try:
            self.checks.require(upto)
        except ProvLedgerError as exc:
            index = self.rows[exc.batch_index or 0].index
            raise AuditError(f"entry {index}: {exc}", index=index) from None


def _windows(rows: Iterator[Row], processes: int) -> Generator[_Window, None, None]:
    """Windows of entries, each prepared (signature checks sent) one window ahead."""
    ahead: _Window | None = None
    try:
        while batch := list(itertools.islice(rows, WINDOW)):
            entries: list[LogEntry | None] = []
            for row in batch:
                try:
                    entries.append(decode_entry(row.entry))
                except DecodeError:
                    entries.append(None)
            statements = [b"" if e is None else e.statement for e in entries]
            window = _Window(batch, entries, SignatureChecks(statements, processes=processes))
            if ahead is not None:
                yield ahead
                ahead.checks.cancel()
            ahead = window
        if ahead is not None:
            yield ahead
    finally:
        if ahead is not None:
            ahead.checks.cancel()


def _check_index(row: Row, expected: int) -> None:
    if row.index != expected:
        raise AuditError(f"entry {expected} is missing (next stored is {row.index})",
                         index=expected)


def _check_entry(row: Row, entry: LogEntry | None, view: StateView,
                 previous_time: int) -> bool:
    """Check one entry but its signature; return whether it starts a new subject chain."""
    where = f"entry {row.index}"
    try:
        if entry is None:
            entry = decode_entry(row.entry)  # raises the DecodeError again, to name it
        stmt = decode_statement(entry.statement)
    except (DecodeError, VerificationError) as exc:
        raise AuditError(f"{where}: {exc}", index=row.index) from None
    if entry.index != row.index or entry.time != row.time:
        raise AuditError(f"{where}: entry bytes say index {entry.index}, time {entry.time}",
                         index=row.index)
    if row.time < previous_time:
        raise AuditError(f"{where}: log time {row.time} goes back from {previous_time}",
                         index=row.index)
    if (stmt.hash, stmt.subject, stmt.type, stmt.signer) != (
        row.hash, row.subject, row.type, row.signer
    ):
        raise AuditError(f"{where}: stored columns disagree with the signed statement",
                         index=row.index)
    if stmt.payload.prev is None and row.subject != view.root_subject:
        # A genesis needs no lookup: that it is its subject's only one is
        # proven once for the whole log, by counting (_check_genesis_count).
        head, state = None, None
    else:
        head, state = view.head(row.subject)
    try:
        out = _rules.apply(stmt, state=state, head=head, log_time=row.time, ctx=view)
    except ProvLedgerError as exc:
        raise AuditError(f"{where}: would not be accepted: {exc}", index=row.index) from None
    if encode_state(out.state) != row.state:
        raise AuditError(f"{where}: stored state differs from the state its history proves",
                         index=row.index)
    view.update(row.subject, stmt.hash, out.state, out.new_keys)
    view.introduced.extend((k, row.subject, row.index) for k in out.new_keys)
    return head is None


def _check_genesis_count(store: Store, genesis_entries: int) -> None:
    """Every subject has exactly one genesis entry, and it comes first.

    Each non-genesis entry was checked against its subject's real head, so a
    subject's first entry must be a genesis; equal counts then leave no room
    for a second one.
    """
    subjects = store.subject_count()
    if subjects != genesis_entries:
        raise AuditError(f"the log holds {genesis_entries} genesis entries for {subjects} "
                         "subjects: some subject was started twice")


def audit_log(store: Store, *, origin: str, root_key: bytes, log_key: bytes,
              workers: int = 1, progress: Progress | None = None) -> AuditReport:
    """Audit entries 0..size-1 of ``store``, its Merkle tree and checkpoints,
    all as of one snapshot of the log; ``progress`` hears how far it is (_progress).

    Raises:
        AuditError: naming the first entry at fault.
    """
    with store.snapshot():
        return _audit_snapshot(store, origin=origin, root_key=root_key, log_key=log_key,
                               workers=workers, progress=progress)


def _audit_snapshot(store: Store, *, origin: str, root_key: bytes, log_key: bytes,
                    workers: int, progress: Progress | None) -> AuditReport:
    size = store.size()
    cutoffs = StateView(store, origin=origin, root_key=root_key, at=size).cutoffs
    if progress is not None:
        progress(REPLAYING, 0, size)
    results = _replay(store, origin=origin, root_key=root_key, size=size, cutoffs=cutoffs,
                      workers=workers, progress=progress)
    introduced = {(k, s, i) for r in results for k, s, i in r.keys}
    introduced.add((root_key, authority_subject(root_key), -1))
    stored = {row for row in store.all_keys() if row[2] < size}
    if introduced != stored:
        extra = sorted(stored - introduced, key=lambda r: (r[2], r[0]))
        if extra:
            key, subject, index = extra[0]
            raise AuditError(f"the key table disagrees with the log: its row for key "
                             f"{_key_text(key)} ({subject}, entry {index}) was not "
                             "introduced by any entry")
        key, subject, index = sorted(introduced - stored, key=lambda r: (r[2], r[0]))[0]
        raise AuditError(f"the key table is missing the row for key {_key_text(key)}, "
                         f"which entry {index} introduced for {subject}",
                         index=None if index < 0 else index)
    subjects = sum(r.subjects for r in results)
    _check_genesis_count(store, subjects)
    if progress is not None:
        progress(CHECKING_TREE, 0, size)
    checked = check_tree(store, origin=origin, log_key=log_key, size=size, progress=progress)
    return AuditReport(
        size=size,
        subjects=subjects,
        invalidated=_with_dependents(store, origin=origin, root_key=root_key, size=size,
                                     cutoffs=cutoffs,
                                     direct=[i for r in results for i in r.invalidated],
                                     touched={s for r in results for s in r.touched}),
        checkpoints=checked,
    )


#: What forked range workers need, set before the fork (a store cannot be pickled).
_job: tuple[Store, str, bytes, Cutoffs, Any] | None = None


def _replay(store: Store, *, origin: str, root_key: bytes, size: int, cutoffs: Cutoffs,
            workers: int, progress: Progress | None) -> list[RangeResult]:
    """Replay entries 0..size: in ``workers`` forked processes, one range each,
    when there are enough entries; else here, signatures checked by workers.

    Raises:
        AuditError: the first entry at fault (the lowest index any range found).
    """
    if workers < 2 or size < 2 * RANGE_MIN:
        return [audit_range(store, origin=origin, root_key=root_key, start=0, stop=size,
                            cutoffs=cutoffs, processes=workers if workers > 1 else 0,
                            progress=progress)]
    n = min(workers, size // RANGE_MIN)
    bounds = [(i * size // n, (i + 1) * size // n) for i in range(n)]
    context = multiprocessing.get_context("fork")
    done = context.Array("q", n, lock=False)  # entries replayed, per range
    global _job  # noqa: PLW0603 - inherited by the forked workers
    _job = (store, origin, root_key, cutoffs, done)
    try:
        with context.Pool(n) as pool:
            pending = [pool.apply_async(_replay_range, (i, a, b))
                       for i, (a, b) in enumerate(bounds)]
            for p in pending:
                while not p.ready():
                    p.wait(_POLL)
                    if progress is not None:
                        progress(REPLAYING, sum(done), size)
            outcomes = [p.get() for p in pending]
    finally:
        _job = None
    for outcome in outcomes:  # ranges in log order: the first failure is the first entry
        if isinstance(outcome, tuple):
            message, index = outcome
            raise AuditError(message, index=index)
    if progress is not None:
        progress(REPLAYING, size, size)
    return [o for o in outcomes if isinstance(o, RangeResult)]


def _replay_range(i: int, start: int, stop: int) -> RangeResult | tuple[str, int | None]:
    """Worker: audit_range over its own reader; a failure comes back as
    (message, index), since an AuditError does not survive pickling whole."""
    assert _job is not None
    store, origin, root_key, cutoffs, done = _job
    reader = store.reader()

    def report(_stage: str, count: int, _total: int | None) -> None:
        done[i] = count

    try:
        return audit_range(reader, origin=origin, root_key=root_key, start=start, stop=stop,
                           cutoffs=cutoffs, processes=0, progress=report)
    except AuditError as exc:
        return str(exc), exc.index
    finally:
        reader.close()


def _key_text(key: bytes) -> str:
    """A stored key for a message: its usual spelling, or hex if a tampered row
    holds something that is not 32 bytes."""
    return format_public_key(key) if len(key) == 32 else f"{key[:40].hex()} (not 32 bytes)"


def _with_dependents(store: Store, *, origin: str, root_key: bytes, size: int,
                     cutoffs: Cutoffs, direct: list[Invalidated],
                     touched: set[str]) -> tuple[Invalidated, ...]:
    """``direct`` plus the item entries that rest on invalidated ones, in log
    order: each ``touched`` item is read as _history.replay_item reads it
    (history and verifiers mark the same entries)."""
    found = {i.index: i for i in direct}
    view = StateView(store, origin=origin, root_key=root_key, at=size)
    for subject in sorted(touched):
        if subject.startswith(AUTHORITY_PREFIX):
            continue
        rows = [r for r in store.history(subject) if r.index < size]
        entries = [(r.index, r.time, decode_statement(decode_entry(r.entry).statement))
                   for r in rows]
        read = replay_item(entries, cutoffs=cutoffs, context_at=view.context_at)
        signers = {r.index: r.signer for r in rows}
        for index, reason in read.invalidated.items():
            found.setdefault(index, Invalidated(index, subject, signers[index], reason))
    return tuple(found[i] for i in sorted(found))
