"""Backups carry the disclosures: to a file (beside it), into PostgreSQL and
back (_backends), so a restored ledger still discloses what its statements
commit to; text erased before a backup is not in it. Real SQLite files and a
real PostgreSQL server (tests/pg.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import provledger as pl
from provledger._disclosure_file import disclosure_path

from .conftest import World, key, make_world, raw_sql

INSCRIPTION = "For Zoë Qwertz, 14.02.2026"
NOTES = "Repair for Mme Yxcvbn, tel 06 12 34 56 78"


def story(target: str | Path) -> tuple[World, str, pl.Record]:
    """A ring with a committed inscription, and a repair with committed notes."""
    w = make_world(target)  # type: ignore[arg-type]
    ring = pl.serial_item_id(w.jeweler.public_key, "R-1")
    w.ledger.record(pl.CertificateIssued(kind="ring", serial="R-1", owner=w.owner.public_key,
                                         inscription=INSCRIPTION),
                    key=w.jeweler, subject=ring)
    w.clock.t += 10
    repair = w.ledger.record(pl.RepairRecorded(
        category="resize", work="Resized", performed_by="Workshop", started=w.clock.t - 5,
        completed=w.clock.t, notes=NOTES), key=w.workshop, subject=ring)
    w.ledger.sign_checkpoint(key("log"))
    return w, ring, repair


def disclosed(target: str | Path, ring: str) -> dict[str, str]:
    """Every field the ledger at ``target`` can still disclose for ``ring``."""
    out: dict[str, str] = {}
    with pl.Ledger.open(target, readonly=True) as ledger:
        ledger.audit()
        for record in ledger.history(ring):
            revealed = ledger.reveal(record)
            for path in revealed.disclosed:
                out[f"{record.index}.{path}"] = getattr(revealed.event, path)
    return out


def test_a_file_backup_has_the_disclosures_file_beside_it(tmp_path: Path) -> None:
    w, ring, _ = story(tmp_path / "shop.db")
    want = disclosed(tmp_path / "shop.db", ring)
    assert sorted(want.values()) == sorted(
        [INSCRIPTION, NOTES, "Resized", "Workshop"])
    w.ledger.backup(tmp_path / "copy.db")
    w.ledger.close()
    assert disclosure_path(tmp_path / "copy.db").exists()
    assert disclosed(tmp_path / "copy.db", ring) == want
    assert NOTES.encode() not in (tmp_path / "copy.db").read_bytes()


def test_backups_into_postgresql_and_back_carry_the_disclosures(
        tmp_path: Path, pg_url: str, pg_server: object) -> None:
    w, ring, _ = story(tmp_path / "shop.db")
    want = disclosed(tmp_path / "shop.db", ring)
    w.ledger.backup(pg_url)  # SQLite -> PostgreSQL (copy_to_url)
    w.ledger.close()
    assert disclosed(pg_url, ring) == want
    assert raw_sql(pg_url, "SELECT COUNT(*) FROM disclosures") == [(4,)]

    back = tmp_path / "back.db"
    with pl.Ledger.open(pg_url, readonly=True) as ledger:
        ledger.backup(back)  # PostgreSQL -> SQLite (backup_to_file)
    assert disclosed(back, ring) == want
    assert NOTES.encode() not in back.read_bytes()
    assert NOTES.encode() in disclosure_path(back).read_bytes()
    # Only the two files: no temporary copy left beside them.
    assert sorted(p.name for p in tmp_path.glob("back*")) == ["back.db", "back.disclosures.db"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    again = pg_server.new_database()  # type: ignore[attr-defined]
    with pl.Ledger.open(back, readonly=True) as ledger:
        ledger.backup(again)  # and into PostgreSQL again
    assert disclosed(again, ring) == want


def test_postgresql_to_a_file_with_no_disclosures_makes_no_disclosures_file(
        tmp_path: Path, pg_url: str) -> None:
    w = make_world(pg_url)  # type: ignore[arg-type]
    w.issue("R-2")
    w.ledger.sign_checkpoint(key("log"))
    w.ledger.backup(tmp_path / "plain.db")
    w.ledger.close()
    assert (tmp_path / "plain.db").exists()
    assert not disclosure_path(tmp_path / "plain.db").exists()


def test_erased_text_is_not_copied_and_a_backup_made_before_keeps_it(
        tmp_path: Path, pg_url: str) -> None:
    w, ring, repair = story(pg_url)
    w.ledger.backup(tmp_path / "before.db")
    assert w.ledger.erase(ring, fields=["notes"], statements=[repair.hash]) == 1
    w.ledger.backup(tmp_path / "after.db")
    w.ledger.close()
    assert NOTES in disclosed(tmp_path / "before.db", ring).values()  # README: rotate backups
    after = disclosed(tmp_path / "after.db", ring)
    assert NOTES not in after.values()
    assert INSCRIPTION in after.values()
    assert NOTES.encode() not in disclosure_path(tmp_path / "after.db").read_bytes()


def test_a_backup_refuses_an_existing_disclosures_file_and_writes_nothing(
        tmp_path: Path, pg_url: str) -> None:
    w, _ring, _ = story(pg_url)
    beside = disclosure_path(tmp_path / "copy.db")
    beside.write_bytes(b"someone else's")
    with pytest.raises(pl.StorageError, match="already exists"):
        w.ledger.backup(tmp_path / "copy.db")
    w.ledger.close()
    assert not (tmp_path / "copy.db").exists()
    assert beside.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == [beside.name]
