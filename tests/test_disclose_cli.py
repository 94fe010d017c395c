"""The CLI writes committed statements and discloses only what it is asked to:
write commands, offline -o files with their FILE.disclosures, submit, sign,
and export --disclose; real key files, real SQLite, verified bundles."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cbor2

import provledger
from provledger._bundle import decode_bundle

from .privacy_shop import (
    CERT_NOTES,
    CONDITION_NOTES,
    INSCRIPTION,
    REPAIR_NOTES,
    SECRETS,
    WORK,
    Shop,
    file_bytes,
    shop_fixtures,
)

base, shop = shop_fixtures("privacy")


def test_every_statement_the_cli_writes_is_committed(shop: Shop) -> None:
    ledger_bytes = file_bytes(shop.db)
    private = file_bytes(shop.disclosures)
    for text in SECRETS:
        assert text.encode() not in ledger_bytes, text
        assert text.encode() in private, text
    with provledger.Ledger.open(shop.db, readonly=True) as ledger:
        cert, resize, _request, received = ledger.history(shop.item)
        assert (cert.event.inscription, cert.event.notes, len(cert.event.sd)) == ("", "", 2)
        assert (resize.event.work, resize.event.performed_by, resize.event.notes) == ("", "", "")
        assert received.event.condition.notes == ""
        assert len(received.event.condition.sd) == 1
        # The ledger's own view fills every stored disclosure in.
        assert ledger.reveal(cert).event.inscription == INSCRIPTION
        assert ledger.reveal(received).disclosed == ("condition.notes",)
    # `history` is the operator's own record: it shows the text.
    shown = shop.ok("history", shop.item).stdout
    for text in (INSCRIPTION, CERT_NOTES, WORK, REPAIR_NOTES):
        assert text in shown, text


def test_a_write_says_what_it_committed(shop: Shop) -> None:
    out = shop.json("report", "lost", shop.item, "--key", shop / "client.key",
                    "--notes", "left on a train")
    assert out["committed"] == ["notes"]
    text = shop.ok("report", "recovered", shop.item, "--key", shop / "client.key",
                   "--notes", "found").stdout
    assert "committed notes: the text is kept off the log" in text
    # Nothing to commit: an empty list, and no line about it.
    out = shop.json("checkpoint", "--key", shop / "keys/log.key")
    assert "committed" not in out


def test_offline_statements_carry_their_disclosures_file_to_submit(shop: Shop) -> None:
    signed = shop.json("repair", shop.item, "--key", shop / "atelier.key", "--category",
                       "cleaning", "--work", "Ultrasonic clean for M. Hjkl",
                       "--performed-by", "Atelier Dupont", "--started", "2026-11-22",
                       "--completed", "2026-11-22", "-o", shop / "clean.cose")
    beside = shop / "clean.cose.disclosures"
    assert signed["committed"] == ["performed_by", "work"]
    assert signed["disclosures"] == str(beside)
    assert beside.stat().st_mode & 0o777 == 0o600  # personal text: the owner's eyes only
    assert b"M. Hjkl" not in (shop / "clean.cose").read_bytes()
    disclosures = cbor2.loads(beside.read_bytes())
    assert [type(d) for d in disclosures] == [bytes, bytes]
    assert provledger.reveal(provledger.verify_statement(
        (shop / "clean.cose").read_bytes()).event, disclosures).event.work == \
        "Ultrasonic clean for M. Hjkl"

    out = shop.ok("submit", shop / "clean.cose")
    assert "warning" not in out.stderr
    with provledger.Ledger.open(shop.db, readonly=True) as ledger:
        last = ledger.history(shop.item)[-1]
        assert ledger.reveal(last).event.work == "Ultrasonic clean for M. Hjkl"
    assert b"M. Hjkl" not in file_bytes(shop.db)


def test_submit_without_the_disclosures_file_appends_and_warns(shop: Shop) -> None:
    shop.ok("appraise", shop.item, "--key", shop / "atelier.key", "--value-minor", "420000",
            "--currency", "EUR", "--method", "in_person", "--appraiser", "Expert Klmno",
            "-o", shop / "appraisal.cose")
    (shop / "appraisal.cose.disclosures").unlink()
    out = shop.ok("submit", shop / "appraisal.cose")
    assert "1 committed field(s) appended without their text" in out.stderr
    with provledger.Ledger.open(shop.db, readonly=True) as ledger:
        revealed = ledger.reveal(ledger.history(shop.item)[-1])
    assert (revealed.event.appraiser, revealed.withheld) == ("", 1)


def test_submit_refuses_a_disclosure_of_another_statement_and_appends_nothing(
        shop: Shop) -> None:
    prev: list[str] = []  # a chains onto the ledger's head, b onto a
    for name in ("a", "b"):
        signed = shop.json("repair", shop.item, "--key", shop / "atelier.key", "--category",
                           "cleaning", "--work", f"Polish for {name}", "--performed-by",
                           "Atelier Dupont", "--started", "2026-11-22", "--completed",
                           "2026-11-22", "-o", shop / f"{name}.cose", *prev)
        prev = ["--prev", signed["hash"]]
    # b's text moved to a: matches no commitment of a.
    (shop / "a.cose.disclosures").write_bytes((shop / "b.cose.disclosures").read_bytes())
    size = shop.size()
    before = shop.disclosures.read_bytes()
    result = shop.run("submit", shop / "a.cose", shop / "b.cose")
    assert result.exit_code == 1, result.output
    assert "a.cose: " in result.stderr
    assert "matches no commitment" in result.stderr
    assert shop.size() == size
    with provledger.Ledger.open(shop.db, readonly=True) as ledger:
        assert ledger.history(shop.item)[-1].event.TYPE == "repair.received"
    assert b"Polish for" not in shop.disclosures.read_bytes()
    assert len(before) == len(shop.disclosures.read_bytes())


def test_submit_refuses_a_malformed_disclosures_file(shop: Shop) -> None:
    shop.ok("report", "lost", shop.item, "--key", shop / "client.key", "--notes", "train",
            "-o", shop / "lost.cose")
    (shop / "lost.cose.disclosures").write_bytes(b"\xa0")  # a map, not an array
    size = shop.size()
    result = shop.run("submit", shop / "lost.cose")
    assert result.exit_code == 4, result.output
    assert "lost.cose.disclosures" in result.stderr
    assert shop.size() == size


def test_offline_signing_refuses_an_existing_disclosures_file(shop: Shop) -> None:
    (shop / "lost.cose.disclosures").write_bytes(b"keep me")
    result = shop.run("report", "lost", shop.item, "--key", shop / "client.key",
                      "--notes", "train", "-o", shop / "lost.cose")
    assert result.exit_code == 2, result.output
    assert "lost.cose.disclosures already exists" in result.output
    assert not (shop / "lost.cose").exists()
    assert (shop / "lost.cose.disclosures").read_bytes() == b"keep me"


def test_sign_from_a_json_body_commits_too(shop: Shop) -> None:
    body = shop / "body.json"
    body.write_text(json.dumps({"category": "cleaning", "work": "Steam clean for Q. Wxyz",
                                "performed_by": "Atelier Dupont", "started": 1795168800,
                                "completed": 1795172400}))
    shop.ok("sign", "--type", "repair.recorded", "--body", body, "--key",
            shop / "atelier.key", "--subject", shop.item, "-o", shop / "steam.cose")
    assert b"Q. Wxyz" not in (shop / "steam.cose").read_bytes()
    assert b"Q. Wxyz" in (shop / "steam.cose.disclosures").read_bytes()
    shop.ok("submit", shop / "steam.cose")
    shown = shop.ok("history", shop.item).stdout
    assert "Steam clean for Q. Wxyz" in shown


def _exported(shop: Shop, name: str, *disclose: str) -> tuple[bytes, dict[str, object]]:
    args: list[str | Path] = ["export", shop.item, "-o", shop / name, "--json"]
    for d in disclose:
        args += ["--disclose", d]
    doc = json.loads(shop.ok(*args).stdout)
    return (shop / name).read_bytes(), doc


def test_export_discloses_nothing_by_default(shop: Shop) -> None:
    data, doc = _exported(shop, "public.bundle")
    assert doc["disclosures"] == 0
    for text in SECRETS:
        assert text.encode() not in data, text
    assert all(not e.disclosures for e in decode_bundle(data).entries)
    shown = shop.ok("verify", shop / "public.bundle", "--policy", shop / "rings.policy",
                    "--item", shop.item).stdout
    assert "VERIFIED" in shown
    for text in SECRETS:
        assert text not in shown, text
    assert "private" in shown  # the withheld fields are said to be withheld


def test_export_discloses_exactly_the_fields_chosen(shop: Shop) -> None:
    data, doc = _exported(shop, "buyer.bundle", "inscription,notes")
    assert doc["disclose"] == ["inscription", "notes"]
    assert doc["disclosures"] == 3  # inscription and notes of the certificate, the resize's notes
    for text in (INSCRIPTION, CERT_NOTES, REPAIR_NOTES):
        assert text.encode() in data, text
    for text in (WORK, CONDITION_NOTES):
        assert text.encode() not in data, text
    report = provledger.verify_bundle(data, policy=provledger.read_policy(shop / "rings.policy"),
                                      now=int(time.time()), item=shop.item)
    cert = next(e for e in report.events if e.type == "cert.issued")
    assert cert.fields["inscription"] == INSCRIPTION
    shown = shop.ok("verify", shop / "buyer.bundle", "--policy", shop / "rings.policy",
                    "--item", shop.item).stdout
    for text in (INSCRIPTION, CERT_NOTES, REPAIR_NOTES):
        assert text in shown, text
    assert WORK not in shown

    # Repeated flags say the same; "all" carries every stored one.
    again, _ = _exported(shop, "again.bundle", "notes", "inscription")
    assert decode_bundle(again).entries == decode_bundle(data).entries
    everything, doc = _exported(shop, "all.bundle", "all")
    # The resize's work, performed_by and notes, the request's work, and more.
    assert doc["disclosures"] == 7
    for text in SECRETS:
        assert text.encode() in everything, text
    shop.ok("verify", shop / "all.bundle", "--policy", shop / "rings.policy", "--item", shop.item)


def test_export_refuses_an_unknown_field(shop: Shop) -> None:
    result = shop.run("export", shop.item, "-o", shop / "x.bundle", "--disclose", "owner")
    assert result.exit_code == 2
    assert "no such field: owner" in result.output
    assert not (shop / "x.bundle").exists()

