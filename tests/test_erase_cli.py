"""`provledger erase`: the stored clear text goes, from every file beside the
ledger; the log, its proofs, checkpoints and audits stay as they were; and
bundles exported afterwards verify, the erased field withheld. Real key
files, real SQLite, no mocks."""

from __future__ import annotations

import json
import time

import pytest

import provledger
from provledger._merkle import leaf_hash, verify_inclusion

from .conftest import make_world, raw_sql
from .privacy_shop import (
    CERT_NOTES,
    CONDITION_NOTES,
    INSCRIPTION,
    REPAIR_NOTES,
    SECRETS,
    WORK,
    Shop,
    file_bytes,
    invoke,
    shop_fixtures,
)

base, shop = shop_fixtures("erase")


def _log_state(shop: Shop) -> tuple[bytes, bytes, int, str]:
    """What erasure must not change: the ledger file, the root, the checkpoints."""
    with provledger.Ledger.open(shop.db, readonly=True) as ledger:
        return (file_bytes(shop.db), ledger.root(len(ledger)), len(ledger),
                ledger.latest_checkpoint().note)


def test_the_done_when_story_no_clear_text_in_the_ledger_file_a_buyer_sees_it_erased_it_is_gone(
        shop: Shop) -> None:
    """Issue 17's "done when", step by step on the CLI."""
    # The inscription and the repair notes are not in the ledger file (nor its -wal).
    ledger_bytes = file_bytes(shop.db)
    for text in (INSCRIPTION, REPAIR_NOTES):
        assert text.encode() not in ledger_bytes
        assert text.encode() in file_bytes(shop.disclosures)
    # A buyer still sees them when the owner discloses them.
    shop.ok("export", shop.item, "-o", shop / "buyer.bundle", "--disclose", "inscription,notes")
    verify = ("verify", shop / "buyer.bundle", "--policy", shop / "rings.policy",
              "--item", shop.item)
    shown = shop.ok(*verify).stdout
    assert INSCRIPTION in shown
    assert REPAIR_NOTES in shown
    # Erased, they can no longer be exported, while audit and proofs still pass.
    before = _log_state(shop)
    out = shop.json("erase", shop.item, "--field", "notes", "--statement", shop.repair, "--yes")
    assert out["erased"] == 1
    assert REPAIR_NOTES.encode() not in file_bytes(shop.disclosures)
    assert REPAIR_NOTES.encode() not in file_bytes(shop.db)
    assert INSCRIPTION.encode() in file_bytes(shop.disclosures)  # only what was named
    assert _log_state(shop) == before
    assert "audit ok" in shop.ok("audit").stdout
    shop.ok("export", shop.item, "-o", shop / "after.bundle", "--disclose", "all")
    data = (shop / "after.bundle").read_bytes()
    assert REPAIR_NOTES.encode() not in data
    assert INSCRIPTION.encode() in data
    shown = shop.ok("verify", shop / "after.bundle", "--policy", shop / "rings.policy",
                    "--item", shop.item).stdout
    assert "VERIFIED" in shown
    assert REPAIR_NOTES not in shown
    assert "1 private field not disclosed" in shown
    # The bundle exported before still verifies, and still shows what it carried.
    assert REPAIR_NOTES in shop.ok(*verify).stdout
    # Inclusion proofs of the entry whose text went still check against the checkpoint.
    with provledger.Ledger.open(shop.db, readonly=True) as ledger:
        record = next(r for r in ledger.history(shop.item) if r.hash.hex() == shop.repair)
        cp = ledger.latest_checkpoint()
        proof = ledger.inclusion_proof(record.index, cp.size)
    verify_inclusion(leaf_hash(record.entry), index=record.index, size=cp.size, proof=proof,
                     root=cp.root)  # raises ProofError if not


def test_erasing_everything_of_an_item(shop: Shop) -> None:
    before = _log_state(shop)
    out = shop.ok("erase", shop.item, "--yes").stdout
    assert "erased 7 disclosure(s)" in out
    assert "commitments, inclusion proofs, checkpoints and audits hold as before" in out
    assert "backups made before still hold the text" in out
    private = file_bytes(shop.disclosures)
    for text in SECRETS:
        assert text.encode() not in private, text
    assert _log_state(shop) == before
    shop.ok("audit")
    # Nothing is left to disclose; the bundle verifies with every field withheld.
    doc = shop.json("export", shop.item, "-o", shop / "x.bundle", "--disclose", "all")
    assert doc["disclosures"] == 0
    report = provledger.verify_bundle(
        (shop / "x.bundle").read_bytes(), policy=provledger.read_policy(shop / "rings.policy"),
        now=int(time.time()), item=shop.item)
    assert sum(e.withheld for e in report.events) == 7
    # The operator's own view no longer has it either.
    shown = shop.ok("history", shop.item).stdout
    for text in SECRETS:
        assert text not in shown, text
    again = shop.json("erase", shop.item, "--yes")
    assert again["erased"] == 0


def test_erase_of_one_field_leaves_the_others(shop: Shop) -> None:
    out = shop.json("erase", shop.item, "--field", "condition.notes,work", "--yes")
    assert out["erased"] == 3  # the resize's and the request's work, the condition report
    assert out["fields"] == ["condition.notes", "work"]
    private = file_bytes(shop.disclosures)
    for text in (WORK, CONDITION_NOTES):
        assert text.encode() not in private, text
    for text in (INSCRIPTION, CERT_NOTES, REPAIR_NOTES):
        assert text.encode() in private, text


def test_erase_asks_first_and_a_no_erases_nothing(shop: Shop) -> None:
    before = file_bytes(shop.disclosures)
    result = shop.run("erase", shop.item, "--field", "inscription", input="n\n")
    assert result.exit_code == 130
    assert "entry 2 (cert.issued): inscription" in result.stderr  # what it would erase
    assert "nothing erased" in result.stderr
    assert file_bytes(shop.disclosures) == before
    result = shop.run("erase", shop.item, "--field", "inscription", input="")  # no terminal
    assert result.exit_code == 130
    assert "nothing erased (not confirmed; --yes erases without asking)" in result.stderr
    assert file_bytes(shop.disclosures) == before
    out = shop.ok("erase", shop.item, "--field", "inscription", input="y\n").stdout
    assert "erased 1 disclosure(s)" in out
    assert INSCRIPTION.encode() not in file_bytes(shop.disclosures)


@pytest.mark.parametrize(("args", "code", "says"), [
    (["urn:provledger:item:0000000000000000:NONE"], 6, "no such item"),
    (["ITEM", "--statement", "ab" * 32], 6, "not a statement of"),
    (["ITEM", "--statement", "abc"], 2, "expected 64 hex digits"),
    (["ITEM", "--field", "owner"], 2, "no such field: owner"),
    (["ITEM", "--field", "all"], 2, "no such field: all"),
])
def test_erase_refuses_what_it_cannot_find_and_changes_nothing(
        shop: Shop, args: list[str], code: int, says: str) -> None:
    before = file_bytes(shop.disclosures)
    result = shop.run("erase", *[shop.item if a == "ITEM" else a for a in args], "--yes")
    assert result.exit_code == code, result.output
    assert says in result.output
    assert file_bytes(shop.disclosures) == before


def test_erase_json_names_what_was_asked(shop: Shop) -> None:
    out = json.loads(shop.ok("erase", shop.item, "--statement", shop.repair, "--yes",
                             "--json").stdout)
    assert out == {"item": shop.item, "erased": 3, "fields": [],
                   "statements": [shop.repair]}


def test_erase_on_postgresql(pg_url: str) -> None:
    """The same command on a PostgreSQL ledger: the rows go, the log stays."""
    w = make_world(pg_url)  # type: ignore[arg-type]
    ring = provledger.serial_item_id(w.jeweler.public_key, "R-9")
    w.ledger.record(provledger.CertificateIssued(kind="ring", serial="R-9",
                                                 owner=w.owner.public_key,
                                                 inscription=INSCRIPTION, notes=CERT_NOTES),
                    key=w.jeweler, subject=ring)
    root = w.ledger.root(len(w.ledger))
    w.ledger.close()
    result = invoke(["--db", pg_url, "erase", ring, "--field", "inscription", "--yes"])
    assert result.exit_code == 0, result.output
    assert "erased 1 disclosure(s)" in result.stdout
    rows = raw_sql(pg_url, "SELECT path, data FROM disclosures")
    assert [path for path, _ in rows] == ["notes"]
    assert all(INSCRIPTION.encode() not in bytes(data) for _, data in rows)
    with provledger.Ledger.open(pg_url, readonly=True) as ledger:
        assert ledger.root(len(ledger)) == root
        assert ledger.audit().size == len(ledger)
