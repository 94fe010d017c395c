"""The audit of a ledger's stored disclosures (spec/disclosure.md).

Every stored disclosure must match a commitment of the statement at its log
index, under the path it is filed as: a changed, swapped or misfiled row
would otherwise surface only when someone exports it. Rows at or past the
log's end are leftovers of a write that never committed, not findings.
"""

from __future__ import annotations

from ._disclosure import digest, path_of, reveal
from ._entry import decode_entry
from ._errors import AuditError, ProvLedgerError
from ._statement import decode_statement
from ._storage import DisclosureRow, Store

#: Rows read at a time, so that memory stays flat however many there are.
PAGE = 2_000


def audit_disclosures(store: Store, size: int) -> int:
    """Check every stored disclosure of the first ``size`` entries; return how many.

    Raises:
        AuditError: naming the entry whose stored disclosure does not match.
    """
    checked = 0
    start = 0
    while True:
        page = store.disclosure_rows(start=start, limit=PAGE)
        # A statement's rows are never split across pages: a full page stops
        # before its last index, which the next page starts from.
        done = len(page) < PAGE
        last = page[-1].index if page else start
        rows = page if done else [r for r in page if r.index < last]
        if not done and not rows:
            raise AuditError(f"more than {PAGE} disclosures stored for one entry", index=last)
        checked += _check(store, [r for r in rows if r.index < size])
        if done or last >= size:
            return checked
        start = last


def _check(store: Store, rows: list[DisclosureRow]) -> int:
    by_index: dict[int, list[DisclosureRow]] = {}
    for r in rows:
        by_index.setdefault(r.index, []).append(r)
    for index, group in by_index.items():
        stored = next(store.rows(index, index + 1))
        try:
            st = decode_statement(decode_entry(stored.entry).statement)
            reveal(st.event, [r.data for r in group])
        except ProvLedgerError as exc:
            raise AuditError(f"entry {index}: a stored disclosure does not match its "
                             f"statement ({exc})", index=index) from None
        for r in group:
            if r.statement != st.hash or r.subject != st.subject \
                    or r.path != path_of(st.event, r.data) or r.digest != digest(r.data):
                raise AuditError(f"entry {index}: a stored disclosure is filed under another "
                                 "statement, subject, field or digest", index=index)
    return len(rows)
