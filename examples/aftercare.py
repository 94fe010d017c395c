"""Aftercare on the ledger (spec/aftercare.md), with the library.

A jeweler sells Alice a ring with its Gold care plan: two years, two repair
credits and 150.00 EUR of repair credit, transferable with the piece. A claw
needs re-tipping: Alice asks for the repair, the jeweler's workshop takes the
ring in, waits for parts, finishes two days after its promise, and Alice
collects it. The workshop cannot spend Alice's credits alone; once she
consents, it redeems one credit, and only once. Alice then sells the ring to
Bob through an escrow whose terms carry the plan, so Bob's acceptance covers
it. Finally the ring's bundle is exported and verified offline: the plan,
its credits left and each repair's status and turnaround come from the
bundle alone. The log's clock is simulated so that months pass in a second.
Everything lands in OUT_DIR.

Usage: python examples/aftercare.py OUT_DIR
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import provledger as pl

DAY = 86_400


#: The story's length in days: the simulated clock starts that long ago, so
#: that the final checkpoint is about now and `provledger verify` accepts it.
STORY_DAYS = 340


class Clock:
    """The log's clock: starts STORY_DAYS ago, and the story moves it on."""

    def __init__(self) -> None:
        self.t = int(time.time()) - STORY_DAYS * DAY - 600

    def __call__(self) -> float:
        return float(self.t)

    def days(self, n: float) -> None:
        self.t += int(n * DAY)


@dataclass
class Story:
    """The ledger, its clock, the parties' keys and the ring."""

    ledger: pl.Ledger
    clock: Clock
    maison: pl.SigningKey
    atelier: pl.SigningKey
    alice: pl.SigningKey
    bob: pl.SigningKey
    ring: str = ""

    def append(self, event: pl.Event, signer: pl.SigningKey) -> pl.Record:
        self.clock.t += 1  # one entry a second at least: easy to follow
        # record(): commit the free text (kept aside, erasable), sign, append.
        return self.ledger.record(event, key=signer, subject=self.ring)

    def refused(self, event: pl.Event, signer: pl.SigningKey) -> None:
        """Append what the rules forbid: it is refused and changes nothing."""
        size = len(self.ledger)
        try:
            self.append(event, signer)
        except pl.ProvLedgerError as exc:
            print(f"  refused: {type(exc).__name__}: {exc}")
        assert len(self.ledger) == size


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    root, log = pl.SigningKey.generate(), pl.SigningKey.generate()
    with pl.Ledger.create(out / "ledger.db", origin="aftercare.provledger.example/ledger",
                          root_key=root.public_key, log_key=log.public_key,
                          clock=clock) as ledger:
        story = Story(ledger, clock, *(pl.SigningKey.generate() for _ in range(4)))
        plan = sold_with_a_plan(story, root)
        repair = repaired(story, plan)
        paid_with_a_credit(story, plan, repair)
        resold(story, plan)
        clock.days(1)
        ledger.sign_checkpoint(log)
        # Bob's copy: it discloses the repairs' work descriptions (committed on the
        # ledger, like every free-text field); the notes stay private.
        bundle = ledger.export(story.ring, disclose=["work"])
        (out / "ring.bundle").write_bytes(bundle)
        policy = ledger.trust_policy()
        (out / "policy.txt").write_text(policy.to_text())
        print(f"\naudit: {ledger.audit().size} entries verified")
    verified(out, bundle, policy, story, plan)
    return 0


def sold_with_a_plan(story: Story, root: pl.SigningKey) -> bytes:
    """Maison certifies the ring for Alice and enrols it on its Gold plan."""
    ledger = story.ledger
    for signer, grantee, role, name in ((root, story.maison, "issuer", "Maison Exemple"),
                                        (story.maison, story.atelier, "service",
                                         "Atelier Exemple")):
        ledger.append(ledger.sign(
            pl.RoleGranted(key=grantee.public_key, name=name, role=role),  # type: ignore[arg-type]
            key=signer, subject=pl.authority_subject(grantee.public_key)))
    story.ring = pl.serial_item_id(story.maison.public_key, "RING-0042")
    story.append(pl.CertificateIssued(kind="ring", serial="RING-0042", metal="platinum",
                                      fineness=950, owner=story.alice.public_key), story.maison)
    # The plan's terms are published by the jeweler; the ledger holds their hash.
    terms = b"Maison Exemple Gold care: cleaning, inspection, two repairs a term."
    t = story.clock.t
    plan = story.append(pl.CareEnrolled(
        tier="Gold", terms=hashlib.sha256(terms).digest(), starts=t, ends=t + 730 * DAY,
        credits=2, credit_minor=15_000, currency="EUR",
        services=["cleaning", "inspection", "certificate renewal"], transfer="with_piece"),
        story.maison).hash
    print(f"Maison sells Alice the ring with its Gold plan: plan {plan.hex()[:16]}")
    return plan


def repaired(story: Story, plan: bytes) -> bytes:
    """A claw re-tipped: requested, received, delayed for parts, ready late, collected."""
    clock, atelier = story.clock, story.atelier
    clock.days(120)
    repair = story.append(pl.RepairRequested(category="repair", work="Re-tip four claws",
                                             promised=clock.t + 14 * DAY), story.alice).hash
    print(f"Alice asks for a repair, promised in 14 days: repair {repair.hex()[:16]}")
    clock.days(1)
    story.append(pl.RepairReceived(repair=repair, condition=pl.ConditionReport(
        grade="good", notes="Two claws worn thin",
        photos=[hashlib.sha256(b"pretend this is arrival.jpg").digest()])), atelier)
    print("Atelier takes the ring in and notes its condition")
    # A piece a buyer cannot inspect cannot be offered for sale.
    story.refused(pl.EscrowOpened(
        buyer=story.bob.public_key, condition=pl.ConditionReport(grade="good"),
        offer_expires=clock.t + DAY, inspection_ends=clock.t + 9 * DAY,
        terms=pl.EscrowTerms(price_minor=900_000, currency="EUR", on_timeout="return",
                             plans=[plan])), story.alice)
    clock.days(2)
    story.append(pl.RepairProgress(repair=repair, stage="in_progress"), atelier)
    clock.days(3)
    story.append(pl.RepairProgress(repair=repair, stage="waiting_parts",
                                   expected=clock.t + 10 * DAY,
                                   notes="Platinum claw wire ordered"), atelier)
    print("Atelier starts the work, then waits for parts")
    clock.days(8)
    story.append(pl.RepairProgress(repair=repair, stage="in_progress"), atelier)
    clock.days(2)
    story.append(pl.RepairReady(repair=repair, parts=[pl.Part(name="claw tip", count=4,
                                                              material="Pt950")]), atelier)
    done = story.ledger.item(story.ring).repairs[-1]
    print(f"The ring is ready, {(done.ready - done.promised) / DAY:.0f} days after the promise")
    clock.days(1)
    story.append(pl.RepairCollected(repair=repair), story.alice)
    print("Alice collects it")
    return repair


def paid_with_a_credit(story: Story, plan: bytes, repair: bytes) -> None:
    """The workshop cannot spend Alice's credits alone, nor pay a repair twice."""
    story.refused(pl.CareRedeemed(plan=plan, repair=repair, credits=1), story.atelier)
    consent = story.append(pl.CareConsented(plan=plan, repair=repair, credits=1),
                           story.alice).hash
    story.append(pl.CareRedeemed(plan=plan, repair=repair, consent=consent, credits=1),
                 story.atelier)
    print("Alice consents to one credit; Atelier redeems it")
    story.refused(pl.CareRedeemed(plan=plan, repair=repair, credits=1), story.atelier)


def resold(story: Story, plan: bytes) -> None:
    """Alice sells to Bob; the escrow's terms carry the plan, so Bob's acceptance
    and acknowledgement cover it."""
    story.clock.days(200)
    t = story.clock.t
    terms = pl.EscrowTerms(price_minor=1_100_000, currency="EUR", on_timeout="return",
                           plans=[plan])
    condition = pl.ConditionReport(grade="excellent", notes="Claws re-tipped")
    offer = story.append(pl.EscrowOpened(buyer=story.bob.public_key, terms=terms,
                                         condition=condition, offer_expires=t + 3 * DAY,
                                         inspection_ends=t + 10 * DAY), story.alice)
    # Bob hashes the report as signed: record() committed its notes.
    assert isinstance(offer.event, pl.EscrowOpened)
    binding = {"escrow": offer.hash, "terms_hash": pl.terms_hash(terms),
               "condition_hash": pl.condition_hash(offer.event.condition)}
    story.append(pl.EscrowAccepted(**binding), story.bob)
    story.clock.days(2)
    story.append(pl.EscrowAcknowledged(**binding, notes="As described"), story.bob)
    assert story.ledger.item(story.ring).owner == story.bob.public_key
    print("Alice sells the ring to Bob, the Gold plan with it: the ring is Bob's")


def verified(out: Path, bundle: bytes, policy: pl.Policy, story: Story, plan: bytes) -> None:
    """What a buyer's app reads from the bundle alone, offline."""
    report = pl.verify_bundle(bundle, policy=policy, now=int(time.time()), item=story.ring)
    owner = "Bob" if report.owner == story.bob.public_key else "?"
    print(f"ring.bundle verified offline: {report.item}, owner {owner}, status {report.status}")
    for p in report.plans:
        print(f"  plan {p.plan.tier} by {p.provider_name}: {p.status}, credits left "
              f"{p.credits} and {p.credit_minor / 100:.2f} {p.plan.currency}, "
              + ("goes with the piece" if p.plan.transfer == "with_piece" else "ends on a sale"))
    for r in report.repairs:
        paid = ", paid with a Gold credit" if r.repair.paid_by == plan else ""
        print(f"  repair {r.work!r} by {r.workshop_name}: {r.repair.status}, "
              f"{'late' if r.late else 'on time'}{paid}")
    (out / "ring.report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    print(f"\nleft in {out}/: ledger.db, ring.bundle, policy.txt, ring.report.json")
    print(f"try: provledger verify {out}/ring.bundle --policy {out}/policy.txt "
          f"--item {story.ring}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/aftercare.py OUT_DIR")
    target = Path(sys.argv[1])
    if target.exists() and any(target.iterdir()):
        sys.exit(f"{target} exists and is not empty; remove it first")
    raise SystemExit(main(target))
