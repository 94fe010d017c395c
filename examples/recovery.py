"""Lost owner keys on the ledger (spec/recovery.md), with the library.

Alice's phone, which holds the key that owns her ring, is lost. She proves
who she is to the jeweler, which starts a recovery to the key on her new
phone: effective only after the 7-day time lock, during which the ring cannot
be sold and every verifier shows the recovery. Meanwhile someone talks the
jeweler's insurer into starting a recovery of Bob's pendant to a stranger's
key; Bob sees it on the pendant's status page and cancels it with his own
key. The lock passes; Alice's new key owns the ring, and she sells it to
Carol. Finally both bundles are exported and verified offline: the whole
history, recoveries included, comes from the bundles alone. The log's clock
is simulated so that weeks pass in a second. Everything lands in OUT_DIR.

Usage: python examples/recovery.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import provledger as pl

DAY = 86_400
#: The story's length in days: the simulated clock starts that long ago; the
#: final checkpoint is signed now, so that `provledger verify` accepts it.
STORY_DAYS = 20


class Clock:
    """The log's clock: starts STORY_DAYS ago, and the story moves it on."""

    def __init__(self) -> None:
        self.t = int(time.time()) - STORY_DAYS * DAY - 600

    def __call__(self) -> float:
        return float(self.t)

    def days(self, n: float) -> None:
        self.t += int(n * DAY)


class Story:
    """The ledger, its clock and the parties' keys."""

    def __init__(self, ledger: pl.Ledger, clock: Clock) -> None:
        self.ledger, self.clock = ledger, clock
        (self.maison, self.insurer, self.alice, self.alice_new, self.bob, self.carol,
         self.stranger) = (pl.SigningKey.generate() for _ in range(7))
        self.names = {self.alice.public_key: "Alice's old phone",
                      self.alice_new.public_key: "Alice's new phone",
                      self.bob.public_key: "Bob", self.carol.public_key: "Carol",
                      self.stranger.public_key: "a stranger"}

    def append(self, item: str, event: pl.Event, signer: pl.SigningKey) -> pl.Record:
        self.clock.t += 1  # one entry a second at least: easy to follow
        # record(): commit the free text (kept aside, erasable), sign, append.
        return self.ledger.record(event, key=signer, subject=item)

    def refused(self, item: str, event: pl.Event, signer: pl.SigningKey) -> None:
        """Append what the rules forbid: it is refused and changes nothing."""
        size = len(self.ledger)
        try:
            self.append(item, event, signer)
        except pl.ProvLedgerError as exc:
            print(f"  refused: {type(exc).__name__}: {exc}")
        assert len(self.ledger) == size


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    root, log = pl.SigningKey.generate(), pl.SigningKey.generate()
    with pl.Ledger.create(out / "ledger.db", origin="recovery.provledger.example/ledger",
                          root_key=root.public_key, log_key=log.public_key,
                          clock=clock) as ledger:
        s = Story(ledger, clock)
        ring, pendant = certified(s, root)
        effective = recovery_started(s, ring)
        stranger_cancelled(s, pendant)
        sold_after_the_lock(s, ring, effective)
        clock.t = max(clock.t, int(time.time()) - 60)  # the checkpoint is signed now
        ledger.sign_checkpoint(log)
        policy = ledger.trust_policy()
        (out / "policy.txt").write_text(policy.to_text())
        bundles = {}
        for name, item in (("ring", ring), ("pendant", pendant)):
            # For the owners' apps: the recoveries' reasons, committed, are disclosed.
            bundles[name] = ledger.export(item, disclose=["reason"])
            (out / f"{name}.bundle").write_bytes(bundles[name])
        print(f"\naudit: {ledger.audit().size} entries verified")
    for name, item in (("ring", ring), ("pendant", pendant)):
        verified(out, name, item, bundles[name], policy=policy, s=s)
    print(f"\nleft in {out}/: ledger.db, ring.bundle, pendant.bundle, policy.txt, "
          "ring.report.json, pendant.report.json")
    print(f"try: provledger verify {out}/ring.bundle --policy {out}/policy.txt --item {ring}")
    return 0


def certified(s: Story, root: pl.SigningKey) -> tuple[str, str]:
    """Maison certifies Alice's ring and Bob's pendant; its insurer may report and recover."""
    for signer, grantee, role, name in ((root, s.maison, "issuer", "Maison Exemple"),
                                        (s.maison, s.insurer, "reporter", "Assurance Exemple")):
        s.ledger.append(s.ledger.sign(
            pl.RoleGranted(key=grantee.public_key, name=name, role=role),  # type: ignore[arg-type]
            key=signer, subject=pl.authority_subject(grantee.public_key)))
    ring = pl.serial_item_id(s.maison.public_key, "RING-0077")
    pendant = pl.serial_item_id(s.maison.public_key, "PEND-0078")
    s.append(ring, pl.CertificateIssued(kind="ring", serial="RING-0077", metal="platinum",
                                        fineness=950, owner=s.alice.public_key), s.maison)
    s.append(pendant, pl.CertificateIssued(kind="pendant", serial="PEND-0078", metal="gold",
                                           fineness=750, owner=s.bob.public_key), s.maison)
    print("Maison certifies Alice's ring and Bob's pendant")
    return ring, pendant


def recovery_started(s: Story, ring: str) -> int:
    """Alice lost her phone: Maison checks her identity off the ledger and starts
    a recovery to her new key, effective after the time lock."""
    s.clock.days(3)
    t = s.clock.t + 1
    # Too short a lock is refused: the owner must have a week to object.
    s.refused(ring, pl.RecoveryStarted(new_owner=s.alice_new.public_key, effective=t + DAY,
                                       reason="owner lost the phone holding the key"), s.maison)
    effective = t + 1 + pl.RECOVERY_LOCK
    s.append(ring, pl.RecoveryStarted(new_owner=s.alice_new.public_key, effective=effective,
                                      reason="owner lost the phone holding the key"), s.maison)
    print(f"Maison starts a recovery of the ring to Alice's new key, effective "
          f"{pl.format_time(effective)}")
    # Nobody can sell the ring while it is pending, not even with the old key.
    s.refused(ring, pl.EscrowOpened(
        buyer=s.carol.public_key, condition=pl.ConditionReport(grade="excellent"),
        offer_expires=s.clock.t + DAY,
        terms=pl.EscrowTerms(price_minor=500_000, currency="EUR", on_timeout="return",
                             direct=True)), s.alice)
    return effective


def stranger_cancelled(s: Story, pendant: str) -> None:
    """A caller fools the insurer into starting a recovery of Bob's pendant; Bob
    sees it pending and cancels it with his own key, well within the lock."""
    s.clock.days(1)
    t = s.clock.t + 1
    rogue = s.append(pendant, pl.RecoveryStarted(
        new_owner=s.stranger.public_key, effective=t + pl.RECOVERY_LOCK,
        reason="caller says the phone was lost"), s.insurer).hash
    print("The insurer, fooled by a caller, starts a recovery of Bob's pendant to a "
          "stranger's key")
    report = pl.item_report(s.ledger, pendant, now=s.clock.t)
    for warning in report.warnings:
        if "recovery pending" in warning:
            print(f"  Bob's app warns: {warning}")
    # The stranger's key is no one's yet: it cannot cancel, or act as owner.
    s.refused(pendant, pl.RecoveryCancelled(recovery=rogue), s.stranger)
    s.clock.days(2)
    s.append(pendant, pl.RecoveryCancelled(recovery=rogue, notes="I did not ask for this"),
             s.bob)
    print("Bob cancels it with his key: the pendant stays his")


def sold_after_the_lock(s: Story, ring: str, effective: int) -> None:
    """From the effective second on, Alice's new key owns the ring; she sells it."""
    s.clock.t = effective - 1
    terms = pl.EscrowTerms(price_minor=500_000, currency="EUR", on_timeout="return",
                           direct=True)
    condition = pl.ConditionReport(grade="excellent")
    s.clock.days(1)
    # The old key is no longer the owner's.
    s.refused(ring, pl.EscrowOpened(buyer=s.carol.public_key, terms=terms, condition=condition,
                                    offer_expires=s.clock.t + DAY), s.alice)
    escrow = s.append(ring, pl.EscrowOpened(buyer=s.carol.public_key, terms=terms,
                                            condition=condition,
                                            offer_expires=s.clock.t + DAY), s.alice_new).hash
    s.append(ring, pl.EscrowAccepted(escrow=escrow, terms_hash=pl.terms_hash(terms),
                                     condition_hash=pl.condition_hash(condition)), s.carol)
    assert s.ledger.item(ring).owner == s.carol.public_key
    print("The lock has passed: Alice's new key sells the ring to Carol")


def verified(out: Path, name: str, item: str, bundle: bytes, *, policy: pl.Policy,
             s: Story) -> None:
    """What a buyer's app reads from a bundle alone, offline."""
    report = pl.verify_bundle(bundle, policy=policy, now=int(time.time()), item=item)
    print(f"{name}.bundle verified offline: owner {s.names.get(report.owner, '?')}, "
          f"status {report.status}, {len(report.events)} entries")
    for r in report.recoveries:
        rec = r.recovery
        print(f"  recovery to {s.names.get(rec.new_owner, '?')} started by {r.by_name} "
              f"({r.reason}): {rec.state}")
    (out / f"{name}.report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/recovery.py OUT_DIR")
    target = Path(sys.argv[1])
    if target.exists() and any(target.iterdir()):
        sys.exit(f"{target} exists and is not empty; remove it first")
    raise SystemExit(main(target))
