"""The audit checks every stored disclosure against its statement: a row
changed, swapped between statements or filed under another field behind the
ledger's back is found, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

import provledger as pl
from provledger._disclosure_file import disclosure_path
from tests.conftest import ORIGIN, StepClock, is_url, key, raw_sql


def _ledger(target: str | Path) -> tuple[pl.Ledger, str]:
    ledger = pl.Ledger.create(target, origin=ORIGIN, root_key=key("root").public_key,
                              log_key=key("log").public_key, clock=StepClock())
    jeweler = key("jeweler")
    ledger.record(pl.RoleGranted(key=jeweler.public_key, name="Jeweler", role="issuer"),
                  key=key("root"), subject=pl.authority_subject(jeweler.public_key))
    item = pl.serial_item_id(jeweler.public_key, "A-1")
    ledger.record(pl.CertificateIssued(kind="ring", serial="A-1", owner=key("o").public_key,
                                       inscription="For Ada, 1 May", notes="first"),
                  key=jeweler, subject=item)
    ledger.record(pl.RepairRecorded(work="resized", notes="second", started=1, completed=2,
                                    category="resize", performed_by="Atelier"),
                  key=key("o"), subject=item)
    return ledger, item


def _tamper(target: str | Path, sql: str, *args: object) -> None:
    if is_url(target):
        raw_sql(target, sql, *args)
        return
    import sqlite3

    conn = sqlite3.connect(disclosure_path(target), isolation_level=None)
    try:
        conn.execute(sql.replace("%s", "?"), args)
    finally:
        conn.close()


def test_a_clean_ledger_audits_every_disclosure(ledger_target: str | Path) -> None:
    ledger, _ = _ledger(ledger_target)
    try:
        assert ledger.audit().disclosures == 5  # inscription, notes; work, notes, performed_by
    finally:  # ... and none for role.granted (nothing to commit)
        ledger.close()


@pytest.mark.parametrize("change", ["data", "path", "statement"])
def test_a_tampered_disclosure_row_fails_the_audit(ledger_target: str | Path,
                                                   change: str) -> None:
    ledger, item = _ledger(ledger_target)
    rows = ledger.store.disclosure_rows(item)
    first = next(r for r in rows if r.path == "notes")
    other = next(r for r in rows if r.index != first.index)
    if change == "data":  # another statement's disclosure under this one's digest
        _tamper(ledger_target, "UPDATE disclosures SET data = %s WHERE digest = %s",
                other.data, first.digest)
    elif change == "path":
        _tamper(ledger_target, "UPDATE disclosures SET path = %s WHERE digest = %s",
                "inscription", first.digest)
    else:
        _tamper(ledger_target, "UPDATE disclosures SET statement = %s WHERE digest = %s",
                other.statement, first.digest)
    try:
        with pytest.raises(pl.AuditError) as err:
            ledger.audit()
        assert err.value.index == first.index
    finally:
        ledger.close()


def test_a_leftover_row_past_the_log_end_is_not_a_finding_and_goes(
        ledger_target: str | Path) -> None:
    ledger, item = _ledger(ledger_target)
    row = ledger.store.disclosure_rows(item)[-1]
    size = len(ledger)
    _tamper(ledger_target, "INSERT INTO disclosures (digest, statement, idx, subject, path, data) "
            "VALUES (%s, %s, %s, %s, %s, %s)", b"\x07" * 32, row.statement, size, item,
            row.path, row.data)
    try:
        assert ledger.audit().disclosures == 5
        # The next write with disclosures removes what a failed write left.
        ledger.record(pl.LostReported(notes="left it on a train"), key=key("o"), subject=item)
        assert b"\x07" * 32 not in {r.digest for r in ledger.store.disclosure_rows(item)}
        assert ledger.audit().disclosures == 6
    finally:
        ledger.close()


def test_disclosures_copied_in_batches_out_of_log_order_all_stay(
        ledger_target: str | Path, tmp_path: Path) -> None:
    """A copy between backends inserts disclosures subject by subject, so a
    later batch may hold lower indices than an earlier one: the cleanup of
    rows past the log's end must not take the earlier batch's."""
    source, item = _ledger(tmp_path / "source.db")
    copy = pl.Ledger.create(ledger_target, origin=ORIGIN, root_key=key("root").public_key,
                            log_key=key("log").public_key)
    try:
        rows = source.store.disclosure_rows(item)
        store = copy.store
        with source.store.snapshot(), store.write():
            store.insert(list(source.store.rows(0, len(source))), [], [])
            store.insert([], [], [], [r for r in rows if r.index == 2])
            store.insert([], [], [], [r for r in rows if r.index == 1])
        assert sorted(r.digest for r in store.disclosure_rows(item)) == sorted(
            r.digest for r in rows)
    finally:
        copy.close()
        source.close()
