"""Audit: re-derive everything the ledger stores from its signed entries.

Each entry is checked against the stored state of its predecessors: entry
bytes and index, log time order, signature, columns, chain link, the rules,
and the stored state it produced. By induction from entry 0 the whole log is
then proven, and ranges can be checked independently (in parallel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import _rules
from ._entry import decode_entry
from ._errors import AuditError, DecodeError, ProvLedgerError, VerificationError
from ._events import KeyRevoked
from ._keys import format_public_key
from ._state import encode_state
from ._statement import authority_subject, verify_statement
from ._store import Row, SQLiteStore, Store
from ._treecheck import check_tree
from ._view import StateView


@dataclass(frozen=True, slots=True)
class Invalidated:
    """An entry signed by a key at or after that key's compromise cut-off."""

    index: int
    subject: str
    signer: bytes
    revoked_at: int

    def __str__(self) -> str:
        return (f"entry {self.index} ({self.subject}) was signed by "
                f"{format_public_key(self.signer)} after its compromise cut-off "
                f"(revoked at entry {self.revoked_at})")


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What an audit proved. Audits raise on failure, so a report means success."""

    size: int
    subjects: int
    invalidated: Sequence[Invalidated] = field(default_factory=tuple)
    #: Signed checkpoints whose roots and mutual consistency were checked.
    checkpoints: int = 0


@dataclass(slots=True)
class RangeResult:
    """What checking one range of entries found."""

    subjects: int = 0
    invalidated: list[Invalidated] = field(default_factory=list)
    keys: list[tuple[bytes, str, int]] = field(default_factory=list)


def audit_range(store: Store, *, origin: str, root_key: bytes, start: int, stop: int,
                revocations: dict[bytes, tuple[int, int]]) -> RangeResult:
    """Check entries ``start``..``stop`` against the stored state before ``start``.

    ``revocations`` maps a key to (cut-off log time, index of the revocation).

    Raises:
        AuditError: naming the first entry that does not check out.
    """
    view = StateView(store, origin=origin, root_key=root_key, at=start)
    previous_time = 0
    if start > 0:
        previous_time = next(iter(store.rows(start - 1, start))).time
    result = RangeResult()
    count = 0
    for row in store.rows(start, stop):
        expected = start + count
        if row.index != expected:
            raise AuditError(f"entry {expected} is missing (next stored is {row.index})",
                             index=expected)
        view.at = row.index
        if _check_entry(row, view, previous_time):
            result.subjects += 1
        cut = revocations.get(row.signer)
        if cut is not None and row.time >= cut[0] and row.index < cut[1]:
            result.invalidated.append(Invalidated(row.index, row.subject, row.signer, cut[1]))
        previous_time = row.time
        count += 1
    if count != stop - start:
        raise AuditError(f"entries {start + count}..{stop - 1} are missing", index=start + count)
    result.keys = view.introduced
    return result


def _check_entry(row: Row, view: StateView, previous_time: int) -> bool:
    """Check one entry; return whether it starts a new subject chain."""
    where = f"entry {row.index}"
    try:
        entry = decode_entry(row.entry)
        stmt = verify_statement(entry.statement)
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


def revocation_map(store: Store) -> dict[bytes, tuple[int, int]]:
    """Every revoked key with (cut-off log time, index of its revocation)."""
    result: dict[bytes, tuple[int, int]] = {}
    for row in store.revocations():
        ev = verify_statement(decode_entry(row.entry).statement).event
        assert isinstance(ev, KeyRevoked)
        result.setdefault(ev.key, (min(ev.compromised_since, row.time), row.index))
    return result


def audit_log(store: Store, *, origin: str, root_key: bytes, log_key: bytes,
              workers: int = 1) -> AuditReport:
    """Audit entries 0..size-1 of ``store``, its Merkle tree and checkpoints,
    all as of one snapshot of the log.

    Raises:
        AuditError: naming the first entry at fault.
    """
    with store.snapshot():
        return _audit_snapshot(store, origin=origin, root_key=root_key, log_key=log_key,
                               workers=workers)


def _audit_snapshot(store: Store, *, origin: str, root_key: bytes, log_key: bytes,
                    workers: int) -> AuditReport:
    size = store.size()
    try:
        revocations = revocation_map(store)
    except ProvLedgerError as exc:
        raise AuditError(f"a key.revoked entry does not verify: {exc}") from None
    if workers > 1 and size >= 4 * workers and isinstance(store, SQLiteStore):
        results = _parallel(store.path, origin, root_key, size, revocations=revocations,
                            workers=workers)
    else:
        results = [audit_range(store, origin=origin, root_key=root_key, start=0, stop=size,
                               revocations=revocations)]
    introduced = {(k, s, i) for r in results for k, s, i in r.keys}
    introduced.add((root_key, authority_subject(root_key), -1))
    stored = {row for row in store.all_keys() if row[2] < size}
    if introduced != stored:
        extra = sorted(stored - introduced, key=lambda r: r[2])
        what = f"key {format_public_key(extra[0][0])} at entry {extra[0][2]}" if extra else "a key"
        raise AuditError(f"the key table disagrees with the log: {what} was not introduced "
                         "by any entry" if extra else "the key table is missing a key "
                         "the log introduced")
    checked = check_tree(store, origin=origin, log_key=log_key, size=size)
    return AuditReport(
        size=size,
        subjects=sum(r.subjects for r in results),
        invalidated=tuple(i for r in results for i in r.invalidated),
        checkpoints=checked,
    )


def _parallel(path: str, origin: str, root_key: bytes, size: int, *,
              revocations: dict[bytes, tuple[int, int]], workers: int) -> list[RangeResult]:
    import concurrent.futures
    import itertools
    import multiprocessing

    bounds = [size * w // workers for w in range(workers + 1)]
    # fork: children need no re-import of the caller's __main__ and start fast.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = [pool.submit(_range_in_process, path, origin, root_key, a, b,
                               revocations=revocations)
                   for a, b in itertools.pairwise(bounds)]
        return [f.result() for f in futures]


def _range_in_process(path: str, origin: str, root_key: bytes, start: int, stop: int, *,
                      revocations: dict[bytes, tuple[int, int]]) -> RangeResult:
    store = SQLiteStore.open(path, readonly=True)
    try:
        return audit_range(store, origin=origin, root_key=root_key, start=start, stop=stop,
                           revocations=revocations)
    finally:
        store.close()
