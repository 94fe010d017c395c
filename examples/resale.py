"""Two resales through provledger's escrow (spec/escrow.md), with the library.

A jeweler certifies a ring for Alice. Alice sells it to Bob: she offers it
with a condition report and deadlines, Bob accepts, inspects the piece and
acknowledges its condition, and only then does ownership move. Bob later
sells it to Carol, who disputes its condition; the arbiter named in the
terms rules for the seller, and the ring stays Bob's. Along the way the
ledger refuses what the rules forbid. Everything lands in OUT_DIR.

Usage: python examples/resale.py OUT_DIR
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import provledger as pl

DAY = 86400


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    root, log, jeweler = (pl.SigningKey.generate() for _ in range(3))
    alice, bob, carol, arbiter = (pl.SigningKey.generate() for _ in range(4))
    names = {alice.public_key: "Alice", bob.public_key: "Bob", carol.public_key: "Carol"}

    with pl.Ledger.create(out / "ledger.db", origin="resale.provledger.example/ledger",
                          root_key=root.public_key, log_key=log.public_key) as ledger:

        def append(event: pl.Event, signer: pl.SigningKey) -> pl.Record:
            # record(): commit the free text (kept aside, erasable), sign, append.
            return ledger.record(event, key=signer, subject=ring)

        ledger.append(ledger.sign(
            pl.RoleGranted(key=jeweler.public_key, name="Maison Exemple", role="issuer"),
            key=root, subject=pl.authority_subject(jeweler.public_key)))
        ring = pl.serial_item_id(jeweler.public_key, "RING-0042")
        append(pl.CertificateIssued(kind="ring", serial="RING-0042", metal="platinum",
                                    fineness=950, owner=alice.public_key), jeweler)

        # 1. Alice offers the ring to Bob: terms and condition report, committed by hash.
        now = int(time.time())
        terms = pl.EscrowTerms(price_minor=1_250_000, currency="EUR", on_timeout="dispute",
                               arbiter=arbiter.public_key)
        condition = pl.ConditionReport(
            grade="very good", notes="Light wear on the shank",
            photos=[hashlib.sha256(b"pretend this is ring-front.jpg").digest()])
        offer = append(pl.EscrowOpened(buyer=bob.public_key, terms=terms, condition=condition,
                                       offer_expires=now + 3 * DAY,
                                       inspection_ends=now + 10 * DAY), alice)
        escrow = offer.hash  # the escrow id
        print(f"Alice offers the ring to Bob: escrow {escrow.hex()[:16]}")
        # The report as signed: record() committed its notes, so the buyer hashes this one.
        assert isinstance(offer.event, pl.EscrowOpened)
        signed_condition = offer.event.condition

        # While the escrow is open, Alice may not offer the ring to anyone else.
        try:
            append(pl.EscrowOpened(buyer=carol.public_key, terms=terms, condition=condition,
                                   offer_expires=now + DAY, inspection_ends=now + 2 * DAY),
                   alice)
        except pl.PolicyError as exc:
            print(f"  refused: {exc}")

        # 2. Bob accepts, repeating the hashes of what he agrees to.
        binding = {"escrow": escrow, "terms_hash": pl.terms_hash(terms),
                   "condition_hash": pl.condition_hash(signed_condition)}
        append(pl.EscrowAccepted(**binding), bob)
        print(f"Bob accepts; owner is still {names[ledger.item(ring).owner]}")

        # 3. The ring reaches Bob; he inspects it and acknowledges its condition.
        append(pl.EscrowAcknowledged(**binding, notes="As described"), bob)
        print(f"Bob acknowledges the condition; owner is now {names[ledger.item(ring).owner]}")

        # 4. Bob sells on to Carol, with the same arbiter; Carol disputes the condition.
        now = int(time.time())
        terms2 = pl.EscrowTerms(price_minor=1_300_000, currency="EUR", on_timeout="dispute",
                                arbiter=arbiter.public_key)
        offer2 = append(pl.EscrowOpened(buyer=carol.public_key, terms=terms2,
                                        condition=condition, offer_expires=now + 3 * DAY,
                                        inspection_ends=now + 10 * DAY), bob)
        escrow2 = offer2.hash
        assert isinstance(offer2.event, pl.EscrowOpened)
        append(pl.EscrowAccepted(escrow=escrow2, terms_hash=pl.terms_hash(terms2),
                                 condition_hash=pl.condition_hash(offer2.event.condition)), carol)
        append(pl.EscrowDisputed(escrow=escrow2, reason="Stone loose in its setting"), carol)
        print("Carol accepts Bob's offer, then disputes the condition")

        # Carol cannot settle the dispute alone; the arbiter can.
        try:
            append(pl.EscrowResolution(escrow=escrow2, outcome="buyer"), carol)
            print("  Carol votes for herself (one vote settles nothing)")
            append(pl.EscrowResolution(escrow=escrow2, outcome="buyer"), jeweler)
        except pl.PolicyError as exc:
            print(f"  refused: {exc}")
        append(pl.EscrowResolution(escrow=escrow2, outcome="seller",
                                   notes="Setting inspected: the stone is secure"), arbiter)
        print(f"The arbiter rules for the seller; owner stays {names[ledger.item(ring).owner]}")

        # 5. Anyone can audit the ledger and read every escrow of the ring.
        audit = ledger.audit()
        report = pl.item_report(ledger, ring, now=int(time.time()))
        print(f"\naudit: {audit.size} entries verified")
        print(f"{ring}: owner {names[report.owner]}")
        for e in report.escrows:
            print(f"  escrow {e.id.hex()[:16]}  {names[e.escrow.seller]} -> "
                  f"{names[e.escrow.buyer]}  {e.offer.terms.price_minor / 100:,.2f} "
                  f"{e.offer.terms.currency}  {e.state}")
        (out / "history.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    print(f"\nleft in {out}/: ledger.db, history.json")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/resale.py OUT_DIR")
    target = Path(sys.argv[1])
    if target.exists() and any(target.iterdir()):
        sys.exit(f"{target} exists and is not empty; remove it first")
    raise SystemExit(main(target))
