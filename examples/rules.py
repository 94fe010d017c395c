"""Published transfer rules and a marketplace's requirements (spec/rules.md,
spec/bundle.md 4.2), with the library.

Maison publishes its transfer rules on the ledger: a resale needs an
inspection by its workshop within 30 days, a sale at or above 5,000.00 EUR a
fresh appraisal, at least 7 days for the buyer to inspect. Alice's ring is
issued under them. When she offers it without an inspection, the ledger
refuses the offer naming the rule; after Maison's workshop services and
appraises the ring, the same sale passes. A marketplace then verifies the
ring's bundle under a policy that requires a gemologist's attestation above
5,000.00 EUR: it fails, naming what is missing, until the gemologist attests.
The log's clock is simulated so that weeks pass in a second. Everything
lands in OUT_DIR.

Usage: python examples/rules.py OUT_DIR
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
#: The story's length in days: the clock starts that long ago (and an hour),
#: so that the final checkpoint is about now and `provledger verify` accepts it.
STORY_DAYS = 41
RULES_TEXT = (b"Maison Exemple resale rules, version 1: a resale needs an inspection by our "
              b"atelier within 30 days; 5,000 EUR or more, an appraisal within 90 days; "
              b"the buyer gets at least 7 days to inspect.")
REQUIREMENT = "require attestation gemologist above 500000 EUR"


class Clock:
    """The log's clock: starts STORY_DAYS ago, and the story moves it on."""

    def __init__(self) -> None:
        self.t = int(time.time()) - STORY_DAYS * DAY - 3600

    def __call__(self) -> float:
        return float(self.t)


@dataclass
class Story:
    """The ledger, its clock and the parties' keys."""

    ledger: pl.Ledger
    clock: Clock
    maison: pl.SigningKey
    atelier: pl.SigningKey
    lab: pl.SigningKey
    alice: pl.SigningKey
    bob: pl.SigningKey
    ring: str = ""

    def append(self, event: pl.Event, signer: pl.SigningKey, subject: str | None = None
               ) -> pl.Record:
        self.clock.t += 60
        # record(): commit the free text (kept aside, erasable), sign, append.
        return self.ledger.record(event, key=signer, subject=subject or self.ring)

    def offer(self) -> pl.EscrowOpened:
        t = self.clock.t + 60
        return pl.EscrowOpened(
            buyer=self.bob.public_key, condition=pl.ConditionReport(grade="excellent"),
            terms=pl.EscrowTerms(price_minor=650_000, currency="EUR", on_timeout="return"),
            offer_expires=t + DAY, inspection_ends=t + 8 * DAY)


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    root, log = pl.SigningKey.generate(), pl.SigningKey.generate()
    with pl.Ledger.create(out / "ledger.db", origin="rules.provledger.example/ledger",
                          root_key=root.public_key, log_key=log.public_key,
                          clock=clock) as ledger:
        story = Story(ledger, clock, *(pl.SigningKey.generate() for _ in range(5)))
        set_up(story, root)
        sell(story)
        clock.t += DAY
        ledger.sign_checkpoint(log)
        (out / "ring.bundle").write_bytes(ledger.export(story.ring))
        policy_text = ledger.trust_policy().to_text() + REQUIREMENT + "\n"
        (out / "policy.txt").write_text(policy_text)
        market(out, story)
        story.append(pl.CertificateAttested(
            capacity="gemologist", certificate=ledger.item(story.ring).certificate), story.lab)
        print("The gem lab examines the ring and attests its certificate")
        ledger.sign_checkpoint(log)
        (out / "ring.bundle").write_bytes(ledger.export(story.ring))
        market(out, story)
    print(f"\ntry: provledger verify {out / 'ring.bundle'} --policy {out / 'policy.txt'}")
    return 0


def set_up(story: Story, root: pl.SigningKey) -> None:
    """Maison, its atelier and its gem lab; the rules; Alice's ring issued under them."""
    ledger = story.ledger
    for signer, grantee, role, name in ((root, story.maison, "issuer", "Maison Exemple"),
                                        (story.maison, story.atelier, "service",
                                         "Atelier Exemple"),
                                        (story.maison, story.lab, "attester",
                                         "Laboratoire Gemmologique")):
        story.append(pl.RoleGranted(key=grantee.public_key, name=name, role=role),  # type: ignore[arg-type]
                     signer, pl.authority_subject(grantee.public_key))
    rules = pl.TransferRules(inspection_days=30, appraisal_above=500_000, currency="EUR",
                             appraisal_days=90, min_inspection=7 * DAY)
    story.append(pl.RulesPublished(version=1, text=hashlib.sha256(RULES_TEXT).digest(),
                                   rules=rules),
                 story.maison, ledger.authority(story.maison.public_key).subject)
    print("Maison publishes its transfer rules, version 1")
    story.ring = pl.serial_item_id(story.maison.public_key, "RING-0077")
    story.append(pl.CertificateIssued(kind="ring", serial="RING-0077", metal="platinum",
                                      owner=story.alice.public_key, rules=1), story.maison)
    print(f"Maison sells Alice the ring under rules version {ledger.item(story.ring).rules}")


def sell(story: Story) -> None:
    """A sale that breaks the rules is refused, naming the rule; then one that meets them."""
    story.clock.t += 40 * DAY
    try:
        story.append(story.offer(), story.alice)
    except pl.TransferRuleError as exc:
        print(f"  refused: {type(exc).__name__} ({exc.rule}): {exc}")
    story.append(pl.RepairRecorded(work="Inspected, claws re-tipped", category="service",
                                   performed_by="Atelier Exemple", started=story.clock.t,
                                   completed=story.clock.t + 30), story.atelier)
    story.append(pl.AppraisalRecorded(method="in_person", currency="EUR",
                                      appraiser="Atelier Exemple", value_minor=650_000),
                 story.atelier)
    print("Atelier inspects and appraises the ring at 6,500.00 EUR")
    offer = story.append(story.offer(), story.alice)
    print(f"Alice offers it to Bob for 6,500.00 EUR: escrow {offer.hash.hex()[:16]} opened")


def market(out: Path, story: Story) -> None:
    """The marketplace verifies the bundle under its own policy."""
    policy = pl.read_policy(out / "policy.txt")
    try:
        report = pl.verify_bundle((out / "ring.bundle").read_bytes(), policy=policy,
                                  now=int(time.time()), item=story.ring)
    except pl.RequirementError as exc:
        print(f"  marketplace refuses the listing: {exc.code}: missing {'; '.join(exc.missing)}")
        return
    assert report.rules is not None
    print(f"marketplace lists the ring: {report.status}, attested by "
          f"{', '.join(report.attested_by)}; sold under rules version {report.rules.version}:")
    for line in report.rules.to_json()["plain"]:
        print(f"    {line}")
    (out / "ring.report.json").write_text(json.dumps(report.to_json(), indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        raise SystemExit(2)
    raise SystemExit(main(Path(sys.argv[1])))
