"""Aftercare played by a dishonest log (tests/forge.py): it appends redemptions the
rules forbid, or leaves one out of a bundle, and proves the rest correctly; only
the verifier's replay of spec/aftercare.md and its chain and head-map checks can
refuse the bundle (spec/aftercare.md §7)."""

from __future__ import annotations

import hashlib

import pytest

import provledger as pl
from provledger import _merkle
from provledger._errors import MonitorError
from provledger._monitor import LogSource, monitor
from provledger._note import NoteVerifier

from .conftest import key
from .forge import ForgedLog, standard_log, statement_hash
from .test_bundle import policy_of, rejects

JEWELER, WORKSHOP, OWNER = key("jeweler"), key("workshop"), key("owner")
DAY = 86400


class Story:
    """A ring on a Gold plan with a ready repair, logged by a log that signs anything."""

    def __init__(self, *, credits: int = 2, no_consent: bool = False) -> None:
        self.log: ForgedLog = standard_log()
        log = self.log
        self.item = pl.serial_item_id(JEWELER.public_key, "R-1")
        log.add(JEWELER, self.item, pl.CertificateIssued(kind="ring", serial="R-1",
                                                         owner=OWNER.public_key))
        self.start = log.t + 1
        self.plan = self.add(JEWELER, pl.CareEnrolled(
            tier="Gold", starts=self.start, ends=self.start + 30 * DAY,
            terms=hashlib.sha256(b"terms").digest(), transfer="with_piece", credits=credits,
            no_consent=no_consent))
        self.repair = self.add(OWNER, pl.RepairRequested(work="Re-tip", category="repair",
                                                         promised=log.t + DAY))
        self.add(WORKSHOP, pl.RepairReceived(repair=self.repair,
                                             condition=pl.ConditionReport(grade="worn")))
        self.add(WORKSHOP, pl.RepairReady(repair=self.repair))

    def add(self, signer: pl.SigningKey, event: pl.Event) -> bytes:
        """Append whatever it is told; return the statement hash."""
        index = self.log.add(signer, self.item, event)
        return statement_hash(self.log.statements[index])

    def consent(self, credits: int = 1) -> bytes:
        return self.add(OWNER, pl.CareConsented(plan=self.plan, repair=self.repair,
                                                credits=credits))

    def redeem(self, consent: bytes | None, credits: int = 1,
               repair: bytes | None = None) -> bytes:
        return self.add(WORKSHOP, pl.CareRedeemed(plan=self.plan, repair=repair or self.repair,
                                                  consent=consent, credits=credits))

    def verify(self, **kw: object) -> pl.Report:
        log = self.log
        return pl.verify_bundle(log.bundle(self.item, log.checkpoint(), **kw),  # type: ignore[arg-type]
                                policy=policy_of(log), now=log.t)


def test_an_honest_redemption_verifies() -> None:
    s = Story()
    s.redeem(s.consent())
    report = s.verify()
    assert report.owner == OWNER.public_key
    assert [e.type for e in report.events][-2:] == ["care.consented", "care.redeemed"]


def test_a_log_that_pays_a_repair_twice_fails_the_bundle() -> None:
    """The second redemption reuses the owner's consent, which the first consumed."""
    s = Story()
    consent = s.consent()
    s.redeem(consent)
    s.redeem(consent)
    rejects(pl.StateError, s.verify, "never paid twice")


def test_a_log_that_credits_beyond_the_plan_fails_the_bundle() -> None:
    """Two repairs paid from a plan with one credit: the second would go negative."""
    s = Story(credits=1, no_consent=True)
    s.redeem(None)
    s.add(OWNER, pl.RepairCollected(repair=s.repair))
    second = s.add(OWNER, pl.RepairRequested(work="Polish", category="cleaning",
                                             promised=s.log.t + DAY))
    s.redeem(None, repair=second)
    rejects(pl.StateError, s.verify, "credits never go negative")


def test_a_log_that_lets_a_workshop_redeem_without_consent_fails_the_bundle() -> None:
    s = Story()
    s.redeem(None)
    rejects(pl.UnauthorizedError, s.verify, "needs the owner's consent")


def test_a_log_that_takes_a_forged_consent_fails_the_bundle() -> None:
    """A thief (not the owner on the ledger) signs the consent; the log takes it."""
    s = Story()
    thief = s.add(key("thief"), pl.CareConsented(plan=s.plan, repair=s.repair, credits=1))
    s.redeem(thief)
    rejects(pl.UnauthorizedError, s.verify, "owner")


@pytest.mark.parametrize("after", ["end", "cancel"])
def test_a_log_that_redeems_after_the_plan_is_over_fails_the_bundle(after: str) -> None:
    s = Story(no_consent=True)
    if after == "cancel":
        s.add(JEWELER, pl.CareCancelled(plan=s.plan, reason="Withdrawn"))
    else:
        s.log.t = s.start + 30 * DAY  # add() ticks once: one second past ends
    s.redeem(None)
    rejects(pl.StateError, s.verify, "cancelled" if after == "cancel" else "expired")


@pytest.mark.parametrize("last", [False, True])
def test_a_bundle_that_hides_a_redemption_fails(last: bool) -> None:
    """Leaving the redemption out breaks the item's chain (a later statement's
    prev names it), or, when it is the item's last entry, the head-map proof."""
    s = Story()
    redemption = s.redeem(s.consent())
    if not last:
        s.add(OWNER, pl.RepairCollected(repair=s.repair))
    hidden = s.log.statements.index(next(st for st in s.log.statements
                                         if statement_hash(st) == redemption))
    n = len(s.log.entries)
    keep = [i for i in range(n) if i != hidden and (
        s.log.subjects[i] == s.item or s.log.subjects[i].startswith("provledger:authority:"))]
    rejects(pl.IncompleteHistoryError, lambda: s.verify(indexes=keep))
    assert s.verify()  # the whole history verifies


def test_a_head_map_lie_hiding_a_redemption_is_caught_by_the_monitor() -> None:
    """A log that also lies in its signed head map (naming the entry before the
    redemption as the ring's head) fools a lone bundle verifier, as spec/bundle.md
    §1.1 says it can; the monitor, which recomputes the map, names the checkpoint."""
    s = Story()
    log = s.log
    honest = log.checkpoint()
    s.redeem(s.consent())
    heads = log.head_map(len(log.entries))
    heads[s.item] = _merkle.leaf_hash(log.entries[honest.size - 1])
    lying = log.checkpoint(heads=heads)
    bundle = log.bundle(s.item, lying, indexes=list(range(honest.size)))
    report = pl.verify_bundle(bundle, policy=policy_of(log), now=log.t)
    assert "care.redeemed" not in [e.type for e in report.events]
    with pytest.raises(MonitorError) as info:
        monitor(LogSource(log.entries, [honest.note, lying.note]),
                log_key=NoteVerifier(log.origin, log.log.public_key),
                root_key=log.root.public_key)
    assert (info.value.kind, info.value.checkpoint) == ("head-map", 1)


def test_the_monitor_refuses_a_double_payment_at_its_entry() -> None:
    s = Story()
    consent = s.consent()
    s.redeem(consent)
    second = s.log.add(WORKSHOP, s.item, pl.CareRedeemed(plan=s.plan, repair=s.repair,
                                                         consent=consent, credits=1))
    note = s.log.checkpoint().note
    with pytest.raises(MonitorError) as info:
        monitor(LogSource(s.log.entries, [note]),
                log_key=NoteVerifier(s.log.origin, s.log.log.public_key),
                root_key=s.log.root.public_key)
    assert (info.value.kind, info.value.index) == ("rules", second)
    assert "never paid twice" in str(info.value.__cause__)
