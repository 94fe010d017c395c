"""Care plans and credits (spec/aftercare.md §4): one focused test per rule and boundary."""

from __future__ import annotations

import msgspec
import pytest

import provledger as pl
from provledger._state import encode_state

from .aftercare import (
    BUYER,
    COND,
    DAY,
    RIVAL,
    RIVAL_BENCH,
    STRANGER,
    TERMS,
    add,
    at,
    offer,
    plan,
    refused,
    request,
    sell,
    with_rival,
)
from .conftest import World, grant, key

CR = "care rule"


@pytest.fixture
def w(world: World) -> World:
    return with_rival(world)


def enrolled(w: World, item: str, *, signer: pl.SigningKey | None = None, days: int = 365,
             **kw: object) -> bytes:
    start = w.clock.t + 1
    return add(w, signer or w.jeweler, item, plan(start, start + days * DAY, **kw))  # type: ignore[arg-type]


def plan_of(w: World, item: str, plan_id: bytes) -> pl.PlanState:
    return next(p for p in w.ledger.item(item).plans if p.id == plan_id)


def ready_repair(w: World, item: str) -> bytes:
    """A repair requested by the owner, received and ready at the jeweler's workshop."""
    r = add(w, w.owner, item, request(w.clock.t + 10 * DAY))
    add(w, w.workshop, item, pl.RepairReceived(repair=r, condition=COND))
    add(w, w.workshop, item, pl.RepairReady(repair=r))
    return r


# -- enrolment ----------------------------------------------------------------


def test_issuer_enrols_its_plan_with_every_field(w: World) -> None:
    item = w.issue("R1")
    start = w.clock.t + 1
    pid = add(w, w.jeweler, item, pl.CareEnrolled(
        tier="Gold", starts=start, ends=start + 100, terms=TERMS, transfer="ends",
        credits=3, credit_minor=5000, currency="CHF", no_consent=True,
        services=["cleaning", "inspection"]))
    (p,) = w.ledger.item(item).plans
    assert p == pl.PlanState(id=pid, provider=pl.authority_subject(w.jeweler.public_key),
                             tier="Gold", starts=start, ends=start + 100, terms=TERMS,
                             transfer="ends", credits=3, credit_minor=5000, currency="CHF",
                             no_consent=True)
    assert w.ledger.audit().size == len(w.ledger)


def test_a_service_authority_of_the_issuer_enrols_in_the_issuers_name(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, signer=w.workshop)
    assert plan_of(w, item, pid).provider == pl.authority_subject(w.jeweler.public_key)


def test_another_issuer_enrols_only_in_its_own_name(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, signer=RIVAL)
    assert plan_of(w, item, pid).provider == pl.authority_subject(RIVAL.public_key)
    # Its workshop serves the rival, not the item's issuer: it may not enrol.
    refused(w, pl.UnauthorizedError, RIVAL_BENCH, item, plan(w.clock.t, w.clock.t + DAY),
            f"{CR}: provider")


@pytest.mark.parametrize(("who", "error"), [
    ("owner", pl.UnauthorizedError), ("stranger", pl.UnknownKeyError),
    ("gemologist", pl.UnauthorizedError), ("insurer", pl.UnauthorizedError)])
def test_enrolment_by_anyone_else_is_refused(w: World, who: str,
                                             error: type[pl.ProvLedgerError]) -> None:
    item = w.issue("R1")
    signer = {"owner": w.owner, "stranger": STRANGER, "gemologist": w.gemologist,
              "insurer": w.insurer}[who]
    refused(w, error, signer, item, plan(w.clock.t, w.clock.t + DAY), f"{CR}: provider")


def test_a_rotated_out_key_cannot_enrol(w: World) -> None:
    item = w.issue("R1")
    new = key("workshop 2")
    add(w, w.workshop, pl.authority_subject(w.workshop.public_key),
        pl.KeyRotated(new_key=new.public_key))
    refused(w, pl.RevokedKeyError, w.workshop, item, plan(w.clock.t, w.clock.t + DAY))
    enrolled(w, item, signer=new)


@pytest.mark.parametrize("status", ["lost", "stolen"])
def test_only_an_active_item_is_enrolled(w: World, status: str) -> None:
    item = w.issue("R1")
    if status == "lost":
        add(w, w.owner, item, pl.LostReported())
    else:
        add(w, w.insurer, item, pl.StolenReported())
    refused(w, pl.StateError, w.jeweler, item, plan(w.clock.t, w.clock.t + DAY),
            f"{CR}: active-item")


def test_plan_dates_and_currency_must_be_valid(w: World) -> None:
    item = w.issue("R1")
    t = w.clock.t + 1
    for bad in (plan(t + 10, t + 9), plan(t - 10, t - 1),
                pl.CareEnrolled(tier="G", starts=t, ends=t + 9, terms=TERMS,
                                transfer="ends", credit_minor=5),
                pl.CareEnrolled(tier="G", starts=t, ends=t + 9, terms=TERMS,
                                transfer="ends", currency="EUR")):
        refused(w, pl.PolicyError, w.jeweler, item, bad, f"{CR}: valid-plan", t=t)
    # ends = t is the last second a plan may start being over: allowed, and active.
    pid = at(w, t, w.jeweler, item, plan(t - 10, t))
    assert plan_of(w, item, pid).status_at(t) == "active"


def test_one_plan_per_provider_while_active_or_pending(w: World) -> None:
    item = w.issue("R1")
    t = w.clock.t + 1
    pending = at(w, t, w.jeweler, item, plan(t + 10, t + 20))
    assert plan_of(w, item, pending).status_at(t) == "pending"
    refused(w, pl.StateError, w.workshop, item, plan(t, t + 5), f"{CR}: one-plan-per-provider")
    # Another provider's plan does not count.
    enrolled(w, item, signer=RIVAL)
    refused(w, pl.StateError, w.jeweler, item, plan(t + 20, t + 30),
            f"{CR}: one-plan-per-provider", t=t + 20)  # t = ends: still active
    second = at(w, t + 21, w.jeweler, item, plan(t + 21, t + 40))  # ends + 1: expired
    assert [p.status_at(t + 21) for p in w.ledger.item(item).plans] == [
        "expired", "active", "active"]
    add(w, w.jeweler, item, pl.CareCancelled(plan=second, reason="Withdrawn"))
    enrolled(w, item)


def test_no_enrolment_while_an_escrow_is_open(w: World) -> None:
    item = w.issue("R1")
    offer(w, item, w.owner, BUYER, [])
    refused(w, pl.StateError, w.jeweler, item, plan(w.clock.t, w.clock.t + DAY),
            f"{CR}: frozen-in-escrow")


# -- renewal ------------------------------------------------------------------


def test_renewal_extends_adds_credits_and_replaces_terms(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, days=10, minor=100)
    ends = plan_of(w, item, pid).ends
    new_terms = bytes(range(32))
    at(w, ends, w.workshop, item, pl.CareRenewed(plan=pid, ends=ends + DAY, credits=1,
                                                 credit_minor=50, terms=new_terms))
    p = plan_of(w, item, pid)
    assert (p.ends, p.credits, p.credit_minor, p.terms, p.renewed) == (
        ends + DAY, 3, 150, new_terms, ends)
    # Without terms, the terms stay.
    add(w, w.jeweler, item, pl.CareRenewed(plan=pid, ends=ends + 2 * DAY))
    assert plan_of(w, item, pid).terms == new_terms


def test_renewing_an_expired_plan_starts_from_no_credits(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, days=10, credits=2)
    ends = plan_of(w, item, pid).ends
    at(w, ends + 1, w.jeweler, item, pl.CareRenewed(plan=pid, ends=ends + DAY, credits=1))
    p = plan_of(w, item, pid)
    assert (p.credits, p.status_at(ends + 1)) == (1, "active")


def test_renewal_refusals(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, days=10)
    ends = plan_of(w, item, pid).ends
    refused(w, pl.UnauthorizedError, RIVAL, item, pl.CareRenewed(plan=pid, ends=ends + 1),
            f"{CR}: provider")
    refused(w, pl.UnauthorizedError, RIVAL_BENCH, item, pl.CareRenewed(plan=pid, ends=ends + 1),
            f"{CR}: provider")
    refused(w, pl.PolicyError, w.jeweler, item, pl.CareRenewed(plan=bytes(32), ends=ends + 1),
            f"{CR}: known-plan")
    refused(w, pl.PolicyError, w.jeweler, item, pl.CareRenewed(plan=pid, ends=ends),
            f"{CR}: valid-renewal")
    refused(w, pl.PolicyError, w.jeweler, item,
            pl.CareRenewed(plan=pid, ends=ends + 1, credit_minor=1), f"{CR}: valid-renewal")
    refused(w, pl.PolicyError, w.jeweler, item,
            pl.CareRenewed(plan=pid, ends=ends + 1, credits=2**53 - 2), f"{CR}: valid-renewal")
    # A renewal already over when logged.
    refused(w, pl.PolicyError, w.jeweler, item, pl.CareRenewed(plan=pid, ends=ends + 5),
            f"{CR}: valid-renewal", t=ends + 6)
    add(w, w.jeweler, item, pl.CareCancelled(plan=pid, reason="Closed"))
    refused(w, pl.StateError, w.jeweler, item, pl.CareRenewed(plan=pid, ends=ends + DAY),
            f"{CR}: live-plan")


def test_an_expired_plan_is_not_revived_beside_a_newer_one(w: World) -> None:
    item = w.issue("R1")
    old = enrolled(w, item, days=1)
    ends = plan_of(w, item, old).ends
    at(w, ends + 1, w.jeweler, item, plan(ends + 1, ends + DAY))
    refused(w, pl.StateError, w.jeweler, item, pl.CareRenewed(plan=old, ends=ends + 2 * DAY),
            f"{CR}: one-plan-per-provider")


def test_renewal_is_allowed_while_an_escrow_is_open(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item)
    offer(w, item, w.owner, BUYER, [pid])
    add(w, w.jeweler, item, pl.CareRenewed(plan=pid, ends=plan_of(w, item, pid).ends + 1,
                                           credits=1))
    assert plan_of(w, item, pid).credits == 3


# -- cancellation ---------------------------------------------------------------


def test_cancellation_by_the_provider_zeroes_credits_and_drops_its_consents(w: World) -> None:
    item = w.issue("R1")
    gold = enrolled(w, item, minor=500)
    bronze = enrolled(w, item, signer=RIVAL)
    r = ready_repair(w, item)
    add(w, w.owner, item, pl.CareConsented(plan=gold, repair=r, credits=1))
    keep = add(w, w.owner, item, pl.CareConsented(plan=bronze, repair=r, credits=1))
    add(w, w.jeweler, item, pl.CareCancelled(plan=gold, reason="Withdrawn"))
    p = plan_of(w, item, gold)
    assert (p.status, p.credits, p.credit_minor) == ("cancelled", 0, 0)
    assert [c.id for c in w.ledger.item(item).consents] == [keep]


def test_cancellation_refusals_and_boundaries(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, days=1)
    ends = plan_of(w, item, pid).ends
    for signer, error in ((w.workshop, pl.UnauthorizedError), (RIVAL, pl.UnauthorizedError),
                          (w.owner, pl.UnauthorizedError), (STRANGER, pl.UnknownKeyError)):
        refused(w, error, signer, item, pl.CareCancelled(plan=pid, reason="x"),
                f"{CR}: provider")
    refused(w, pl.StateError, w.jeweler, item, pl.CareCancelled(plan=pid, reason="x"),
            f"{CR}: live-plan", t=ends + 1)
    at(w, ends, w.jeweler, item, pl.CareCancelled(plan=pid, reason="Last day"))
    refused(w, pl.StateError, w.jeweler, item, pl.CareCancelled(plan=pid, reason="x"),
            f"{CR}: live-plan")
    # The item's issuer cannot cancel another provider's plan.
    rival = enrolled(w, item, signer=RIVAL)
    refused(w, pl.UnauthorizedError, w.jeweler, item, pl.CareCancelled(plan=rival, reason="x"),
            f"{CR}: provider")


def test_a_pending_plan_can_be_cancelled_but_not_during_an_escrow(w: World) -> None:
    item = w.issue("R1")
    t = w.clock.t + 1
    pid = at(w, t, w.jeweler, item, plan(t + 100, t + 200))
    offer(w, item, w.owner, BUYER, [pid])
    refused(w, pl.StateError, w.jeweler, item, pl.CareCancelled(plan=pid, reason="x"),
            f"{CR}: frozen-in-escrow")


# -- consent --------------------------------------------------------------------


def test_owner_consent_replaces_an_earlier_one_for_the_same_plan_and_repair(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, minor=900)
    r = ready_repair(w, item)
    add(w, w.owner, item, pl.CareConsented(plan=pid, repair=r, credits=1))
    second = add(w, w.owner, item, pl.CareConsented(plan=pid, repair=r, credit_minor=900))
    assert w.ledger.item(item).consents == (pl.Consent(second, pid, r, 0, 900),)


def test_consent_refusals(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, credits=2)
    r = ready_repair(w, item)
    ok = pl.CareConsented(plan=pid, repair=r, credits=1)
    for signer in (w.workshop, w.jeweler, BUYER):
        refused(w, pl.UnauthorizedError, signer, item, ok, f"{CR}: owner-consents")
    refused(w, pl.PolicyError, w.owner, item, pl.CareConsented(plan=bytes(32), repair=r,
                                                               credits=1), f"{CR}: known-plan")
    refused(w, pl.PolicyError, w.owner, item, pl.CareConsented(plan=pid, repair=bytes(32),
                                                               credits=1),
            "repair rule: known-repair")
    refused(w, pl.PolicyError, w.owner, item, pl.CareConsented(plan=pid, repair=r),
            f"{CR}: amount")
    refused(w, pl.StateError, w.owner, item, pl.CareConsented(plan=pid, repair=r, credits=3),
            f"{CR}: credits")
    refused(w, pl.StateError, w.owner, item,
            pl.CareConsented(plan=pid, repair=r, credit_minor=1), f"{CR}: credits")


def test_consent_needs_an_active_plan_at_the_log_time(w: World) -> None:
    item = w.issue("R1")
    r = add(w, w.owner, item, request(w.clock.t + DAY))
    t = w.clock.t + 1
    pid = at(w, t, w.jeweler, item, plan(t + 10, t + 20))
    ev = pl.CareConsented(plan=pid, repair=r, credits=1)
    refused(w, pl.StateError, w.owner, item, ev, f"{CR}: active-plan", t=t + 9)  # pending
    refused(w, pl.StateError, w.owner, item, ev, f"{CR}: active-plan", t=t + 21)  # expired
    at(w, t + 20, w.owner, item, ev)  # t = ends


def test_consent_is_refused_for_cancelled_repairs_in_escrow_and_on_stolen_items(
        w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item)
    r = add(w, w.owner, item, request(w.clock.t + DAY))
    add(w, w.owner, item, pl.RepairCancelled(repair=r, reason="No"))
    refused(w, pl.StateError, w.owner, item, pl.CareConsented(plan=pid, repair=r, credits=1),
            f"{CR}: payable-repair")
    r2 = add(w, w.owner, item, request(w.clock.t + DAY))
    offer(w, item, w.owner, BUYER, [pid])
    refused(w, pl.StateError, w.owner, item, pl.CareConsented(plan=pid, repair=r2, credits=1),
            "escrow rule: one-open-escrow")
    item2 = w.issue("R2")
    pid2 = enrolled(w, item2)
    r3 = add(w, w.owner, item2, request(w.clock.t + DAY))
    add(w, w.insurer, item2, pl.StolenReported())
    refused(w, pl.StateError, w.owner, item2, pl.CareConsented(plan=pid2, repair=r3, credits=1),
            f"{CR}: active-item")


# -- redemption -----------------------------------------------------------------


def test_redemption_spends_the_consent_and_pays_the_repair(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, credits=2, minor=10_000)
    r = ready_repair(w, item)
    c = add(w, w.owner, item, pl.CareConsented(plan=pid, repair=r, credits=1, credit_minor=5000))
    add(w, w.workshop, item, pl.CareRedeemed(plan=pid, repair=r, consent=c, credits=1,
                                             credit_minor=3000))
    state = w.ledger.item(item)
    p = plan_of(w, item, pid)
    assert (p.credits, p.credit_minor) == (1, 7000)
    assert state.repairs[0].paid_by == pid
    assert state.consents == ()
    assert w.ledger.audit().size == len(w.ledger)


def test_the_provider_itself_may_redeem_and_no_consent_plans_need_none(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, no_consent=True)
    r = ready_repair(w, item)
    add(w, w.jeweler, item, pl.CareRedeemed(plan=pid, repair=r, credits=1))
    assert plan_of(w, item, pid).credits == 1


def test_a_workshop_cannot_redeem_without_the_owners_consent(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item)
    r = ready_repair(w, item)
    refused(w, pl.UnauthorizedError, w.workshop, item, pl.CareRedeemed(plan=pid, repair=r,
                                                                       credits=1),
            f"{CR}: consent")


def test_a_consent_must_match_plan_repair_and_amounts(w: World) -> None:
    item = w.issue("R1")
    gold = enrolled(w, item, credits=3)
    bronze = enrolled(w, item, signer=RIVAL, credits=3)
    r = ready_repair(w, item)
    c = add(w, w.owner, item, pl.CareConsented(plan=gold, repair=r, credits=1))
    for bad in (pl.CareRedeemed(plan=gold, repair=r, consent=bytes(32), credits=1),
                pl.CareRedeemed(plan=gold, repair=r, consent=c, credits=2)):
        refused(w, pl.PolicyError, w.workshop, item, bad, f"{CR}: consent")
    refused(w, pl.PolicyError, RIVAL_BENCH, item,
            pl.CareRedeemed(plan=bronze, repair=r, consent=c, credits=1), f"{CR}: consent")


def test_redemption_by_anyone_but_the_provider_or_its_workshops_is_refused(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item)
    r = ready_repair(w, item)
    c = add(w, w.owner, item, pl.CareConsented(plan=pid, repair=r, credits=1))
    ev = pl.CareRedeemed(plan=pid, repair=r, consent=c, credits=1)
    for signer, error in ((RIVAL, pl.UnauthorizedError), (RIVAL_BENCH, pl.UnauthorizedError),
                          (w.owner, pl.UnauthorizedError), (w.gemologist, pl.UnauthorizedError),
                          (STRANGER, pl.UnknownKeyError)):
        refused(w, error, signer, item, ev, f"{CR}: provider")


def test_a_repair_is_never_paid_twice_and_credits_never_go_negative(w: World) -> None:
    item = w.issue("R1")
    gold = enrolled(w, item, credits=1)
    bronze = enrolled(w, item, signer=RIVAL, credits=1, no_consent=True)
    r = ready_repair(w, item)
    refused(w, pl.StateError, RIVAL, item, pl.CareRedeemed(plan=bronze, repair=r, credits=2),
            f"{CR}: credits")
    refused(w, pl.PolicyError, RIVAL, item, pl.CareRedeemed(plan=bronze, repair=r),
            f"{CR}: amount")
    c = add(w, w.owner, item, pl.CareConsented(plan=gold, repair=r, credits=1))
    add(w, w.workshop, item, pl.CareRedeemed(plan=gold, repair=r, consent=c, credits=1))
    msg = refused(w, pl.StateError, RIVAL, item,
                  pl.CareRedeemed(plan=bronze, repair=r, credits=1), f"{CR}: payable-repair")
    assert "never paid twice" in msg
    refused(w, pl.StateError, w.workshop, item,
            pl.CareRedeemed(plan=gold, repair=r, consent=c, credits=1), f"{CR}: payable-repair")


def test_redemption_boundaries_at_the_plans_end(w: World) -> None:
    item = w.issue("R1")
    t = w.clock.t + 1
    pid = at(w, t, w.jeweler, item, plan(t + 10, t + 1000, no_consent=True, credits=2))
    r = add(w, w.owner, item, request(t + 5000))
    ev = pl.CareRedeemed(plan=pid, repair=r, credits=1)
    refused(w, pl.StateError, w.workshop, item, ev, f"{CR}: active-plan", t=t + 9)
    refused(w, pl.StateError, w.workshop, item, ev, f"{CR}: active-plan", t=t + 1001)
    at(w, t + 1000, w.workshop, item, ev)
    assert plan_of(w, item, pid).credits_at(t + 1000) == (1, 0)
    assert plan_of(w, item, pid).credits_at(t + 1001) == (0, 0)


def test_redemption_after_cancellation_and_of_cancelled_repairs_is_refused(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, no_consent=True)
    r = add(w, w.owner, item, request(w.clock.t + DAY))
    add(w, w.owner, item, pl.RepairCancelled(repair=r, reason="No"))
    refused(w, pl.StateError, w.workshop, item, pl.CareRedeemed(plan=pid, repair=r, credits=1),
            f"{CR}: payable-repair")
    refused(w, pl.PolicyError, w.workshop, item,
            pl.CareRedeemed(plan=pid, repair=bytes(32), credits=1), "repair rule: known-repair")
    r2 = add(w, w.owner, item, request(w.clock.t + DAY))
    add(w, w.jeweler, item, pl.CareCancelled(plan=pid, reason="Closed"))
    refused(w, pl.StateError, w.workshop, item, pl.CareRedeemed(plan=pid, repair=r2, credits=1),
            f"{CR}: active-plan")


def test_no_redemption_while_an_escrow_is_open(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, no_consent=True)
    r = add(w, w.owner, item, request(w.clock.t + DAY))
    offer(w, item, w.owner, BUYER, [pid])
    refused(w, pl.StateError, w.workshop, item, pl.CareRedeemed(plan=pid, repair=r, credits=1),
            f"{CR}: frozen-in-escrow")


def test_a_one_step_repair_record_is_payable_once_the_item_has_a_plan(w: World) -> None:
    item = w.issue("R1")
    done = pl.RepairRecorded(work="Polish", category="service", performed_by="Bench",
                             started=0, completed=0)
    before = add(w, w.workshop, item, done)
    assert w.ledger.item(item).repairs == ()  # no plan: the state is as it always was
    pid = enrolled(w, item, no_consent=True)
    refused(w, pl.PolicyError, w.workshop, item,
            pl.CareRedeemed(plan=pid, repair=before, credits=1), "repair rule: known-repair")
    t = w.clock.t + 1
    rec = at(w, t, w.workshop, item, done)
    add(w, w.jeweler, item, pl.CareRedeemed(plan=pid, repair=rec, credits=1))
    by_owner = add(w, w.owner, item, done)
    repairs = w.ledger.item(item).repairs
    workshop = pl.authority_subject(w.workshop.public_key)
    assert repairs == (
        pl.RepairState(id=rec, status="collected", workshop=workshop, requested=t, ready=t,
                       paid_by=pid),
        pl.RepairState(id=by_owner, status="collected", requested=t + 2, ready=t + 2))


# -- transfer -------------------------------------------------------------------


def test_a_sale_ends_plans_that_end_and_keeps_those_that_go_with_the_piece(w: World) -> None:
    item = w.issue("R1")
    gold = enrolled(w, item, credits=2)
    t = w.clock.t + 1
    pending = at(w, t, RIVAL, item, plan(t + 10 * DAY, t + 20 * DAY, transfer="ends"))
    r = ready_repair(w, item)
    add(w, w.owner, item, pl.CareConsented(plan=gold, repair=r, credits=1))
    add(w, w.workshop, item, pl.RepairCollected(repair=r))
    sell(w, item, w.owner, BUYER, [gold])
    state = w.ledger.item(item)
    assert state.owner == BUYER.public_key
    assert [(p.id, p.status, p.credits) for p in state.plans] == [
        (gold, "active", 2), (pending, "ended", 0)]
    assert state.consents == ()  # the seller's
    # The new owner consents and the workshop redeems from the plan that went with the piece.
    c = add(w, BUYER, item, pl.CareConsented(plan=gold, repair=r, credits=1))
    add(w, w.workshop, item, pl.CareRedeemed(plan=gold, repair=r, consent=c, credits=1))
    assert w.ledger.audit().size == len(w.ledger)


def test_an_expired_plan_that_ends_on_sale_stays_as_it_was(w: World) -> None:
    item = w.issue("R1")
    old = enrolled(w, item, days=1, transfer="ends")
    w.clock.t = plan_of(w, item, old).ends + 1
    sell(w, item, w.owner, BUYER, [])
    p = plan_of(w, item, old)
    assert (p.status, p.credits) == ("active", 2)  # recorded; expired by its dates
    assert p.status_at(w.clock.t) == "expired"


def test_a_plan_ending_on_sale_ends_when_the_arbiter_settles_for_the_buyer(w: World) -> None:
    item = w.issue("R1")
    pid = enrolled(w, item, transfer="ends")
    arbiter = key("arbiter")
    terms = pl.EscrowTerms(price_minor=1, currency="EUR", on_timeout="dispute",
                           arbiter=arbiter.public_key)
    cond = pl.ConditionReport(grade="good")
    esc = add(w, w.owner, item, pl.EscrowOpened(buyer=BUYER.public_key, terms=terms,
                                                condition=cond, offer_expires=w.clock.t + 10,
                                                inspection_ends=w.clock.t + 20))
    add(w, BUYER, item, pl.EscrowAccepted(escrow=esc, terms_hash=pl.terms_hash(terms),
                                          condition_hash=pl.condition_hash(cond)))
    add(w, BUYER, item, pl.EscrowDisputed(escrow=esc, reason="Scratch"))
    assert plan_of(w, item, pid).status == "active"
    add(w, arbiter, item, pl.EscrowResolution(escrow=esc, outcome="buyer"))
    assert plan_of(w, item, pid).status == "ended"


def test_escrow_terms_must_list_exactly_the_plans_that_go_with_the_piece(w: World) -> None:
    item = w.issue("R1")
    third = key("third jeweler")
    grant(w, w.root, third, "issuer", "Third Jeweler")
    t = w.clock.t + 1
    expired = at(w, t, w.jeweler, item, plan(t, t + 5))
    w.clock.t = t + 10
    gold = enrolled(w, item)
    enrolled(w, item, signer=RIVAL, transfer="ends")
    t2 = w.clock.t + 1
    pending = at(w, t2, third, item, plan(t2 + DAY, t2 + 2 * DAY, tier="Extra"))

    def opened(plans: list[bytes]) -> pl.EscrowOpened:
        return pl.EscrowOpened(
            buyer=BUYER.public_key, terms=pl.EscrowTerms(
                price_minor=1, currency="EUR", on_timeout="return", plans=plans),
            condition=pl.ConditionReport(grade="good"), offer_expires=w.clock.t + 50,
            inspection_ends=w.clock.t + 100)

    for plans in ([], [gold], [pending, gold], [gold, pending, expired], [gold, gold]):
        msg = refused(w, pl.PolicyError, w.owner, item, opened(plans),
                      "escrow rule: valid-offer")
        assert f"[{gold.hex()}, {pending.hex()}]" in msg
    add(w, w.owner, item, opened([gold, pending]))


def test_encoded_states_without_aftercare_are_unchanged(w: World) -> None:
    item = w.issue("R1")
    add(w, w.workshop, item, pl.RepairRecorded(work="Polish", category="service",
                                               performed_by="Bench", started=0, completed=0))
    state = w.ledger.item(item)
    assert encode_state(state) == encode_state(msgspec.structs.replace(state))
    assert b"plans" not in encode_state(state)
    assert b"repairs" not in encode_state(state)
