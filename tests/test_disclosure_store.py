"""Disclosures in the store, on SQLite and PostgreSQL: kept with their
statement, never half-written, erased for good, and erasure changes no proof."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import provledger as pl
from provledger import _disclosure
from provledger._disclosure_file import disclosure_path

from .conftest import ORIGIN, T0, StepClock, is_url, key, raw_sql

NOTES = "Made for Ana Silva, Rua Augusta 10"
WORK = "Resized from 52 to 54 for Ana"


class Shop:
    """A ledger with an issuer and a workshop, written with ``record``."""

    def __init__(self, target: str | Path) -> None:
        self.target = target
        self.clock = StepClock(T0)
        self.root, self.jeweler, self.workshop = key("root"), key("jeweler"), key("workshop")
        self.owner, self.log = key("owner"), key("log")
        self.ledger = pl.Ledger.create(target, origin=ORIGIN, root_key=self.root.public_key,
                                       log_key=self.log.public_key, clock=self.clock)
        self.record(self.root, pl.authority_subject(self.jeweler.public_key),
                    pl.RoleGranted(key=self.jeweler.public_key, name="Jeweler", role="issuer"))
        self.record(self.jeweler, pl.authority_subject(self.workshop.public_key),
                    pl.RoleGranted(key=self.workshop.public_key, name="Workshop",
                                   role="service"))

    def record(self, signer: pl.SigningKey, subject: str, event: pl.Event) -> pl.Record:
        self.clock.t += 1
        return self.ledger.record(event, key=signer, subject=subject)

    def issue(self, serial: str, notes: str = NOTES) -> tuple[str, pl.Record]:
        item = pl.serial_item_id(self.jeweler.public_key, serial)
        rec = self.record(self.jeweler, item, pl.CertificateIssued(
            kind="ring", serial=serial, owner=self.owner.public_key, notes=notes,
            inscription=f"For Ana {serial}"))
        return item, rec

    def repair(self, item: str, work: str = WORK) -> pl.Record:
        return self.record(self.workshop, item, pl.RepairRecorded(
            work=work, category="resize", started=T0, completed=T0 + 1,
            performed_by="Workshop", notes="Customer waited"))


@pytest.fixture
def shop(ledger_target: str | Path) -> Iterator[Shop]:
    s = Shop(ledger_target)
    yield s
    s.ledger.close()


def disclosure_rows(target: str | Path) -> list[tuple[object, ...]]:
    """Every stored disclosure row, read behind the ledger's back."""
    if is_url(target):
        return raw_sql(target, "SELECT digest, statement, idx, subject, path, data "
                               "FROM disclosures ORDER BY idx, path")
    path = disclosure_path(target)
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT digest, statement, idx, subject, path, data "
                            "FROM disclosures ORDER BY idx, path").fetchall()
    finally:
        conn.close()


def entry_count(target: str | Path) -> int:
    return int(raw_sql(target, "SELECT COUNT(*) FROM entries")[0][0])  # type: ignore[call-overload]


def test_disclosures_are_stored_with_their_statement(shop: Shop) -> None:
    item, issued = shop.issue("R1")
    repaired = shop.repair(item)
    assert issued.event.notes == ""
    assert issued.event.inscription == ""
    assert len(issued.event.sd) == 2
    shown = shop.ledger.reveal(issued)
    assert (shown.event.notes, shown.event.inscription) == (NOTES, "For Ana R1")
    assert shop.ledger.reveal(repaired).event.work == WORK
    rows = shop.ledger._store.disclosure_rows(item)
    assert [(r.index, r.path) for r in rows] == [
        (issued.index, "inscription"), (issued.index, "notes"), (repaired.index, "notes"),
        (repaired.index, "performed_by"), (repaired.index, "work")]
    assert {r.statement for r in rows} == {issued.hash, repaired.hash}
    assert all(r.digest == _disclosure.digest(r.data) for r in rows)
    found = shop.ledger._store.disclosures([issued.hash, repaired.hash, bytes(32)])
    assert set(found) == {issued.hash, repaired.hash}
    assert (len(found[issued.hash]), len(found[repaired.hash])) == (2, 3)
    # Reopened, the ledger still has them.
    shop.ledger.close()
    with pl.Ledger.open(shop.target) as again:
        assert again.reveal(next(again.records(issued.index, issued.index + 1))).withheld == 0
    shop.ledger = pl.Ledger.open(shop.target, clock=shop.clock)


def test_a_refused_disclosure_writes_nothing(shop: Shop) -> None:
    item, _ = shop.issue("R1")
    before = (entry_count(shop.target), disclosure_rows(shop.target))
    committed = pl.commit(pl.RepairRecorded(work="Polish", category="service", started=T0,
                                            completed=T0, performed_by="Workshop",
                                            notes="Ana's ring"))
    stmt = shop.ledger.sign(committed.event, key=shop.workshop, subject=item)
    tampered = [_disclosure.encode_disclosure(bytes(16), "Polish", "work"),
                *committed.disclosures[1:]]
    with pytest.raises(pl.DisclosureError) as info:
        shop.ledger.append(stmt, tampered)
    assert info.value.batch_index == 0
    # A batch whose second statement has a bad disclosure: the first is not kept either.
    other = pl.serial_item_id(shop.jeweler.public_key, "R2")
    first = pl.commit(pl.CertificateIssued(kind="ring", serial="R2",
                                           owner=shop.owner.public_key, notes="Gift"))
    with pytest.raises(pl.DisclosureError) as info:
        shop.ledger.append_batch(
            [shop.ledger.sign(first.event, key=shop.jeweler, subject=other), stmt],
            [first.disclosures, [committed.disclosures[0]] * 2])
    assert info.value.batch_index == 1
    assert (entry_count(shop.target), disclosure_rows(shop.target)) == before
    # The statement itself, with its own disclosures, is then accepted.
    rec = shop.ledger.append(stmt, committed.disclosures)
    assert shop.ledger.reveal(rec).event.notes == "Ana's ring"


def test_a_statement_refused_by_the_rules_leaves_no_disclosure(shop: Shop) -> None:
    item, _ = shop.issue("R1")
    before = disclosure_rows(shop.target)
    # The owner is no authority's key: it may not certify anything.
    committed = pl.commit(pl.CertificateIssued(kind="ring", serial="R9",
                                               owner=shop.owner.public_key, notes="Secret"))
    stmt = shop.ledger.sign(committed.event, key=shop.owner,
                            subject=pl.serial_item_id(shop.owner.public_key, "R9"))
    with pytest.raises(pl.VerificationError):
        shop.ledger.append(stmt, committed.disclosures)
    assert disclosure_rows(shop.target) == before
    assert item


def _files_with(directory: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file() and needle in p.read_bytes())


def test_erase_removes_the_rows_and_every_copy_of_the_bytes(shop: Shop) -> None:
    item, issued = shop.issue("R1")
    repaired = shop.repair(item)
    keep, _ = shop.issue("R2", notes="Another customer's note, kept")
    shop.clock.t += 1
    shop.ledger.sign_checkpoint(shop.log)
    if not is_url(shop.target):
        directory = Path(shop.target).parent
        assert _files_with(directory, NOTES.encode())  # in the disclosures file (or its WAL)
        assert NOTES.encode() not in Path(shop.target).read_bytes()
    assert shop.ledger.erase(item, fields=["work"]) == 1
    assert shop.ledger.reveal(repaired).disclosed == ("notes", "performed_by")
    assert shop.ledger.reveal(repaired).withheld == 1
    assert shop.ledger.erase(item) == 4
    assert shop.ledger.erase(item) == 0
    assert [r for r in disclosure_rows(shop.target) if r[3] == item] == []
    shown = shop.ledger.reveal(issued)
    assert (shown.event.notes, shown.disclosed, shown.withheld) == ("", (), 2)
    assert len([r for r in disclosure_rows(shop.target) if r[3] == keep]) == 2
    if not is_url(shop.target):
        for needle in (NOTES, WORK, "For Ana R1", "Customer waited"):
            assert _files_with(directory, needle.encode()) == [], needle
        shop.ledger.close()
        for needle in (NOTES, WORK):
            assert _files_with(directory, needle.encode()) == [], needle
        assert _files_with(directory, b"Another customer's note, kept")
        shop.ledger = pl.Ledger.open(shop.target, clock=shop.clock)


def test_erase_changes_no_proof_checkpoint_or_audit(shop: Shop) -> None:
    item, issued = shop.issue("R1")
    shop.repair(item)
    shop.clock.t += 1
    shop.ledger.sign_checkpoint(shop.log)
    audit = shop.ledger.audit()
    before = (shop.ledger.export(item), shop.ledger.checkpoints(),
              shop.ledger.inclusion_proof(issued.index, len(shop.ledger)),
              [r.entry for r in shop.ledger.records()])
    assert shop.ledger.erase(item) == 5
    after = (shop.ledger.export(item), shop.ledger.checkpoints(),
             shop.ledger.inclusion_proof(issued.index, len(shop.ledger)),
             [r.entry for r in shop.ledger.records()])
    assert after == before
    # The audit still passes; it only has fewer stored disclosures to check.
    assert shop.ledger.audit() == dataclasses.replace(audit, disclosures=audit.disclosures - 5)
    # And the ledger takes new statements after an erasure.
    rec = shop.repair(item, work="Polished again")
    assert shop.ledger.reveal(rec).event.work == "Polished again"


def test_erase_of_an_unknown_item_is_not_found(shop: Shop) -> None:
    with pytest.raises(pl.NotFoundError):
        shop.ledger.erase("urn:provledger:item:0000000000000000:NOPE")


def test_a_copied_disclosure_does_not_take_over_the_original(shop: Shop) -> None:
    """Someone who saw a disclosure (in a bundle) commits to the same bytes on
    another item: the original statement keeps its disclosure, and erasing
    either item leaves the other's alone."""
    victim, issued = shop.issue("R1")
    data = next(d for d in shop.ledger._store.disclosures([issued.hash])[issued.hash]
                if _disclosure.decode_disclosure(d)[2] == "notes")
    thief, _ = shop.issue("R2", notes="")
    copy = pl.RepairRecorded(category="service", started=T0, completed=T0,
                             sd=[_disclosure.digest(data)])
    shop.clock.t += 1
    rec = shop.ledger.append(shop.ledger.sign(copy, key=shop.workshop, subject=thief), [data])
    assert shop.ledger.reveal(rec).event.notes == NOTES
    assert shop.ledger.reveal(issued).event.notes == NOTES
    shop.ledger.erase(thief)
    assert shop.ledger.reveal(issued).event.notes == NOTES
    shop.ledger.erase(victim)
    assert shop.ledger.reveal(issued).event.notes == ""


def test_a_row_left_past_the_log_end_is_removed_by_the_next_insert(shop: Shop) -> None:
    """What a SQLite writer killed between the disclosures' commit and the
    ledger's leaves behind (two files): a row whose index is past the log's
    end. It is unreachable (no statement has its hash), and the next insert
    of disclosures removes it (PostgreSQL, one transaction, cannot leave one,
    but cleans up the same way)."""
    item, _ = shop.issue("R1")
    size = len(shop.ledger)
    row = (bytes(32), bytes(range(32)), size, item, "notes", b"left over: Ana")
    if is_url(shop.target):
        raw_sql(shop.target, "INSERT INTO disclosures VALUES (%s, %s, %s, %s, %s, %s)", *row)
    else:
        side = sqlite3.connect(disclosure_path(shop.target))
        side.execute("INSERT INTO disclosures VALUES (?, ?, ?, ?, ?, ?)", row)
        side.commit()
        side.close()
    assert any(bytes(r[5]) == b"left over: Ana" for r in disclosure_rows(shop.target))
    rec = shop.repair(item)
    assert rec.index == size
    rows = disclosure_rows(shop.target)
    assert all(bytes(r[5]) != b"left over: Ana" for r in rows)
    assert {bytes(r[1]) for r in rows if r[2] == size} == {rec.hash}
    assert shop.ledger.reveal(rec).withheld == 0
