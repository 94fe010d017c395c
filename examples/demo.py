"""The whole provledger story on an embedded SQLite ledger, with the library.

A registry (the root) authorizes a jeweler; the jeweler authorizes a workshop
and certifies a ring for its first owner; the workshop logs a repair and an
appraisal; a gemologist countersigns; then anyone audits the ledger and reads
the ring's verified history. Everything it makes is left in OUT_DIR.

Usage: python examples/demo.py [OUT_DIR]   (default: demo-out)
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import provledger as pl

PASSPHRASE = os.environ.get("PROVLEDGER_PASSPHRASE", "demo passphrase").encode()


def new_key(keys: Path, name: str) -> pl.SigningKey:
    """A fresh key, saved encrypted (NAME.key, mode 0600) with its NAME.pub."""
    key = pl.SigningKey.generate()
    pl.write_signing_key(keys / f"{name}.key", key, passphrase=PASSPHRASE)
    pl.write_public_key(keys / f"{name}.pub", key.public_key)
    return key


def file_digest(path: Path) -> bytes:
    """Photos stay off the ledger: only their SHA-256 goes in."""
    return hashlib.sha256(path.read_bytes()).digest()


def main(out: Path) -> int:
    keys = out / "keys"
    photos = out / "photos"
    keys.mkdir(parents=True)
    photos.mkdir()
    for name in ("ring-front.jpg", "before.jpg", "after.jpg"):
        (photos / name).write_bytes(f"pretend this is {name}".encode())

    root, log = new_key(keys, "root"), new_key(keys, "log")
    jeweler, workshop, gemologist = (new_key(keys, n)
                                     for n in ("jeweler", "workshop", "gemologist"))
    buyer = new_key(keys, "buyer")  # the customer's key: the only "identity" on the ledger

    ledger = pl.Ledger.create(out / "ledger.db", origin="demo.provledger.example/ledger",
                              root_key=root.public_key, log_key=log.public_key)
    with ledger:
        # 1. The registry authorizes the jeweler to certify; the jeweler its workshop.
        for signer, grantee, role, name in (
            (root, jeweler, "issuer", "Maison Exemple Joaillier"),
            (jeweler, workshop, "service", "Atelier Exemple"),
            (jeweler, gemologist, "attester", "Laboratoire Gemmologique Exemple"),
        ):
            ledger.append(ledger.sign(
                pl.RoleGranted(key=grantee.public_key, name=name, role=role),  # type: ignore[arg-type]
                key=signer, subject=pl.authority_subject(grantee.public_key)))

        # 2. The jeweler certifies a ring sold to the buyer (GS1 Digital Link id).
        ring = pl.gs1_item_id("id.maison-exemple.example", "09506000134352", "RING-0001")
        ledger.append(ledger.sign(pl.CertificateIssued(
            kind="ring", serial="RING-0001", gtin="09506000134352", owner=buyer.public_key,
            metal="platinum", fineness=950, mass_mg=5210, size="52",
            stones=[pl.Stone(kind="diamond", count=1, weight_ct100=101, color="F",
                             clarity="VVS2", cut="excellent", report="GIA 0000000001")],
            photos=[file_digest(photos / "ring-front.jpg")],
            notes="Solitaire engagement ring"), key=jeweler, subject=ring))
        certificate = ledger.item(ring).certificate

        # 3. A gemologist countersigns; the workshop resizes and appraises.
        ledger.append(ledger.sign(pl.CertificateAttested(
            capacity="gemologist", certificate=certificate), key=gemologist, subject=ring))
        now = int(time.time())
        ledger.append(ledger.sign(pl.RepairRecorded(
            category="resize", work="Resized from 52 to 54", performed_by="Atelier Exemple",
            started=now - 7200, completed=now - 3600,
            parts=[pl.Part(name="platinum insert", material="Pt950", mass_mg=180)],
            photos_before=[file_digest(photos / "before.jpg")],
            photos_after=[file_digest(photos / "after.jpg")]), key=workshop, subject=ring))
        ledger.append(ledger.sign(pl.AppraisalRecorded(
            value_minor=1_250_000, currency="EUR", method="in_person",
            appraiser="Atelier Exemple"), key=workshop, subject=ring))

        # 4. A forged repair by an unknown key is refused and changes nothing.
        size = len(ledger)
        try:
            ledger.append(ledger.sign(pl.RepairRecorded(
                category="repair", work="Swapped the diamond", performed_by="Nobody",
                started=now, completed=now), key=pl.SigningKey.generate(), subject=ring))
        except pl.ProvLedgerError as exc:
            print(f"refused as expected: {type(exc).__name__}: {exc}")
        assert len(ledger) == size

        # 5. Anyone can audit the whole ledger and read the ring's verified history.
        report = ledger.audit()
        print(f"\naudit: {report.size} entries, {report.subjects} chains, all verified")
        history = pl.item_report(ledger, ring)
        print_history(history)
        (out / "history.json").write_text(json.dumps(history.to_json(), indent=2) + "\n")
    print(f"\nleft in {out}/: ledger.db, keys/ (passphrase {PASSPHRASE.decode()!r}), "
          "photos/, history.json")
    return 0


def print_history(report: pl.ItemReport) -> None:
    s = report.state
    print(f"\n{report.item}\n  status {s.status}, owner {pl.format_public_key(s.owner)}")
    print(f"  issued by {report.issuer_name}; attested by {len(s.attested_by)} authority")
    for e in report.events:
        detail = e.fields.get("work") or e.fields.get("kind") or ""
        if "value_minor" in e.fields:
            detail = f"{e.fields['value_minor'] / 100:,.2f} {e.fields['currency']}"
        when = datetime.datetime.fromtimestamp(e.time, datetime.UTC).strftime("%Y-%m-%d %H:%M")
        print(f"  #{e.index:<3} {when}  {e.type:<19} "
              f"{e.signed_as:<34} {detail}")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out")
    if target.exists() and any(target.iterdir()):
        sys.exit(f"{target} exists and is not empty; remove it first")
    raise SystemExit(main(target))
