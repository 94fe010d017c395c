"""The whole provledger story on an embedded SQLite ledger, with the library.

A registry (the root) authorizes a jeweler; the jeweler authorizes a workshop
and a gemologist and certifies a ring for its first owner; the workshop logs
a resize and an appraisal; the gemologist countersigns. The owner then sells
the ring through escrow: the buyer accepts on their own device, inspects the
piece and acknowledges its condition, and only then does ownership move. The
log signs a checkpoint, the ring is exported as one bundle file, and a
marketplace verifies it offline against a trust policy. Everything it makes
is left in OUT_DIR.

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
DAY = 86_400


#: The jeweler's GS1 Digital Link domain and GS1 company prefix.
DOMAIN = "id.maison-exemple.example"
GS1_PREFIX = "9506000"


def new_key(keys: Path, name: str) -> pl.SigningKey:
    """A fresh key, saved encrypted (NAME.key, mode 0600) with its NAME.pub."""
    key = pl.SigningKey.generate()
    pl.write_signing_key(keys / f"{name}.key", key, passphrase=PASSPHRASE)
    pl.write_public_key(keys / f"{name}.pub", key.public_key)
    return key


def file_digest(path: Path) -> bytes:
    """Photos stay off the ledger: only their SHA-256 goes in."""
    return hashlib.sha256(path.read_bytes()).digest()


def step(text: str) -> None:
    print(f"\n== {text}")


def main(out: Path) -> int:
    keys, photos = out / "keys", out / "photos"
    keys.mkdir(parents=True)
    photos.mkdir()
    for name in ("ring-front.jpg", "before.jpg", "after.jpg", "condition.jpg"):
        (photos / name).write_bytes(f"pretend this is {name}".encode())

    root, log = new_key(keys, "root"), new_key(keys, "log")
    jeweler, workshop, gemologist = (new_key(keys, n)
                                     for n in ("jeweler", "workshop", "gemologist"))
    # Customers are keys on their own devices: the only "identity" on the ledger.
    alice, bob = new_key(keys, "alice"), new_key(keys, "bob")

    ledger = pl.Ledger.create(out / "ledger.db", origin="demo.provledger.example/ledger",
                              root_key=root.public_key, log_key=log.public_key)
    with ledger:
        authorize(ledger, root, jeweler, workshop, gemologist)
        ring = certify_and_service(ledger, photos, jeweler, workshop, gemologist, alice)
        sell(ledger, photos, ring, alice, bob)
        bundle = publish(ledger, out, ring, log)
    verify_offline(out, bundle)
    print(f"\nleft in {out}/: ledger.db, keys/ (passphrase {PASSPHRASE.decode()!r}), photos/, "
          "ring.bundle, policy.txt, checkpoint.txt, ring.report.json")
    cli, fresh = ".venv/bin/provledger", f"{out}/ring-$(date +%F).bundle"
    max_age = pl.read_policy(out / "policy.txt").max_age
    # The bundle's checkpoint grows stale after max-age, so the hint also says
    # how to sign a new one and export again, instead of failing a day later.
    print(f"try: {cli} verify {out}/ring.bundle --policy {out}/policy.txt --item {ring}\n"
          f"  (past the policy's max-age {max_age} s that fails with StaleCheckpointError;"
          " refresh, then verify the new bundle:\n"
          f"  {cli} --db {out}/ledger.db checkpoint --key {out}/keys/log.key >/dev/null\n"
          f"  {cli} --db {out}/ledger.db export {ring} -o {fresh}\n"
          f"  {cli} verify {fresh} --policy {out}/policy.txt --item {ring})")
    return 0


def authorize(ledger: pl.Ledger, root: pl.SigningKey, jeweler: pl.SigningKey,
              workshop: pl.SigningKey, gemologist: pl.SigningKey) -> None:
    step("The registry authorizes the jeweler; the jeweler its workshop and gemologist")
    # The issuer's grant names its scope: the GS1 company prefix and the domain it
    # may certify GS1 Digital Link ids under (no other issuer can use them).
    scope = {"gs1_prefixes": [GS1_PREFIX], "domains": [DOMAIN]}
    for signer, grantee, role, name in (
        (root, jeweler, "issuer", "Maison Exemple Joaillier"),
        (jeweler, workshop, "service", "Atelier Exemple"),
        (jeweler, gemologist, "attester", "Laboratoire Gemmologique Exemple"),
    ):
        rec = ledger.append(ledger.sign(
            pl.RoleGranted(key=grantee.public_key, name=name, role=role,  # type: ignore[arg-type]
                           **(scope if role == "issuer" else {})),
            key=signer, subject=pl.authority_subject(grantee.public_key)))
        print(f"  #{rec.index} {name}: {role}")



def certify_and_service(ledger: pl.Ledger, photos: Path, *keys: pl.SigningKey) -> str:
    jeweler, workshop, gemologist, alice = keys
    step("The jeweler certifies a ring sold to Alice (GS1 Digital Link id)")
    ring = pl.gs1_item_id(DOMAIN, "09506000134352", "RING-0001")
    ledger.append(ledger.sign(pl.CertificateIssued(
        kind="ring", serial="RING-0001", gtin="09506000134352", owner=alice.public_key,
        metal="platinum", fineness=950, mass_mg=5210, size="52",
        stones=[pl.Stone(kind="diamond", count=1, weight_ct100=101, color="F",
                         clarity="VVS2", cut="excellent", report="GIA 0000000001")],
        photos=[file_digest(photos / "ring-front.jpg")],
        notes="Solitaire engagement ring"), key=jeweler, subject=ring))
    print(f"  {ring}")

    step("A gemologist countersigns; the workshop resizes and appraises")
    ledger.append(ledger.sign(pl.CertificateAttested(
        capacity="gemologist", certificate=ledger.item(ring).certificate),
        key=gemologist, subject=ring))
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

    step("A forged repair by an unknown key is refused and changes nothing")
    size = len(ledger)
    try:
        ledger.append(ledger.sign(pl.RepairRecorded(
            category="repair", work="Swapped the diamond", performed_by="Nobody",
            started=now, completed=now), key=pl.SigningKey.generate(), subject=ring))
    except pl.ProvLedgerError as exc:
        print(f"  refused: {type(exc).__name__}: {exc}")
    assert len(ledger) == size
    return ring


def sell(ledger: pl.Ledger, photos: Path, ring: str, alice: pl.SigningKey,
         bob: pl.SigningKey) -> None:
    now = int(time.time())
    step("Alice sells the ring to Bob through escrow")
    terms = pl.EscrowTerms(price_minor=1_100_000, currency="EUR", on_timeout="dispute")
    condition = pl.ConditionReport(grade="excellent", notes="No visible wear",
                                   photos=[file_digest(photos / "condition.jpg")])
    opened = ledger.append(ledger.sign(pl.EscrowOpened(
        buyer=bob.public_key, terms=terms, condition=condition,
        offer_expires=now + 2 * DAY, inspection_ends=now + 9 * DAY), key=alice, subject=ring))
    escrow = opened.hash
    print(f"  opened escrow {escrow.hex()[:16]}... (owner still Alice)")
    # Bob signs on his own device, offline, from the ring's current head.
    accept = pl.sign_statement(
        pl.EscrowAccepted(escrow=escrow, terms_hash=pl.terms_hash(terms),
                          condition_hash=pl.condition_hash(condition)),
        key=bob, origin=ledger.origin, subject=ring, prev=ledger.head(ring), time=now)
    ledger.append(accept)
    print("  Bob accepted the offer; the ring is shipped")
    ledger.append(ledger.sign(pl.EscrowAcknowledged(
        escrow=escrow, terms_hash=pl.terms_hash(terms),
        condition_hash=pl.condition_hash(condition), notes="As described"),
        key=bob, subject=ring))
    assert ledger.item(ring).owner == bob.public_key
    print("  Bob acknowledged the condition: the ring is his")


def publish(ledger: pl.Ledger, out: Path, ring: str, log: pl.SigningKey) -> bytes:
    step("The log signs a checkpoint; the ring is exported as one bundle file")
    checkpoint = ledger.sign_checkpoint(log)
    bundle = ledger.export(ring)
    (out / "ring.bundle").write_bytes(bundle)
    (out / "checkpoint.txt").write_text(checkpoint.note)
    policy = ledger.trust_policy()
    (out / "policy.txt").write_text(policy.to_text())
    print(f"  checkpoint {checkpoint.seq}: {checkpoint.size} entries; "
          f"ring.bundle: {len(bundle):,} bytes")

    step("Anyone audits the whole ledger")
    report = ledger.audit()
    print(f"  {report.size} entries, {report.subjects} chains, "
          f"{report.checkpoints} checkpoint(s): all verified")
    return bundle


def verify_offline(out: Path, bundle: bytes) -> None:
    step("A marketplace verifies the bundle offline: no database, no network")
    policy = pl.read_policy(out / "policy.txt")
    # item= is the id on the piece in front of the buyer: a genuine bundle of
    # another piece would verify too without it.
    ring = pl.gs1_item_id(DOMAIN, "09506000134352", "RING-0001")
    verified = pl.verify_bundle((out / "ring.bundle").read_bytes(), policy=policy,
                                now=int(time.time()), item=ring)
    print_report(verified)
    (out / "ring.report.json").write_text(json.dumps(verified.to_json(), indent=2) + "\n")
    tampered = bytearray(bundle)
    tampered[len(tampered) // 2] ^= 1
    try:
        pl.verify_bundle(bytes(tampered), policy=policy, now=int(time.time()))
    except pl.VerificationError as exc:
        print(f"\n  a copy with one flipped bit is rejected: {type(exc).__name__}")
    except pl.DecodeError as exc:
        print(f"\n  a copy with one flipped bit is rejected: {type(exc).__name__}")


def print_report(report: pl.Report) -> None:
    print(f"  {report.item}")
    print(f"  status {report.status}; owner {pl.format_public_key(report.owner)}")
    print(f"  issued by {report.issuer_name}; attested by {', '.join(report.attested_by)}")
    for e in report.events:
        when = datetime.datetime.fromtimestamp(e.time, datetime.UTC).strftime("%Y-%m-%d %H:%M")
        detail = e.fields.get("work") or e.fields.get("kind") or ""
        if "value_minor" in e.fields:
            detail = f"{e.fields['value_minor'] / 100:,.2f} {e.fields['currency']}"
        print(f"  #{e.index:<3} {when}  {e.type:<20} {e.signed_as:<34} {detail}")
    cp = report.checkpoint
    assert cp is not None  # a verified bundle holds as of its checkpoint
    print(f"  valid as of checkpoint of {cp.origin}: {cp.size} entries, signed "
          f"{datetime.datetime.fromtimestamp(cp.time, datetime.UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out")
    if target.exists() and any(target.iterdir()):
        sys.exit(f"{target} exists and is not empty; remove it first")
    raise SystemExit(main(target))
