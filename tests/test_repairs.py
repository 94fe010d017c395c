"""Repair status (spec/aftercare.md §5): the state machine, its signers and the SLA."""

from __future__ import annotations

import pytest

import provledger as pl

from .aftercare import (
    BUYER,
    COND,
    DAY,
    RIVAL,
    RIVAL_BENCH,
    STRANGER,
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

RR = "repair rule"


@pytest.fixture
def w(world: World) -> World:
    return with_rival(world)


def repair_of(w: World, item: str, rid: bytes) -> pl.RepairState:
    return next(r for r in w.ledger.item(item).repairs if r.id == rid)


def workshop_id(w: World) -> str:
    return pl.authority_subject(w.workshop.public_key)


def test_the_full_path_records_status_workshop_and_dates(w: World) -> None:
    item = w.issue("R1")
    t = w.clock.t + 1
    rid = at(w, t, w.owner, item, request(t + 10 * DAY))
    assert repair_of(w, item, rid) == pl.RepairState(id=rid, status="requested", requested=t,
                                                     promised=t + 10 * DAY)
    add(w, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND))
    r = repair_of(w, item, rid)
    assert (r.status, r.workshop, r.at_workshop) == ("received", workshop_id(w), True)
    add(w, w.workshop, item, pl.RepairProgress(repair=rid, stage="waiting_parts",
                                               expected=t + 12 * DAY))
    assert repair_of(w, item, rid).status == "waiting_parts"
    add(w, w.workshop, item, pl.RepairProgress(repair=rid, stage="in_progress"))
    add(w, w.workshop, item, pl.RepairProgress(repair=rid, stage="waiting_parts"))
    add(w, w.workshop, item, pl.RepairProgress(repair=rid, stage="in_progress"))
    at(w, t + 5 * DAY, w.workshop, item, pl.RepairReady(repair=rid))
    r = repair_of(w, item, rid)
    assert (r.status, r.ready, r.promised) == ("ready", t + 5 * DAY, t + 10 * DAY)
    assert not r.late_at(t + 20 * DAY)
    add(w, w.owner, item, pl.RepairCollected(repair=rid))
    r = repair_of(w, item, rid)
    assert (r.status, r.at_workshop, r.open) == ("collected", False, False)
    assert w.ledger.audit().size == len(w.ledger)


def test_lateness_at_the_promise_boundary() -> None:
    promised = 1000
    on_time = pl.RepairState(id=b"", status="ready", promised=promised, ready=promised)
    late = pl.RepairState(id=b"", status="ready", promised=promised, ready=promised + 1)
    waiting = pl.RepairState(id=b"", status="in_progress", promised=promised)
    assert not on_time.late_at(promised + 10**6)
    assert late.late_at(promised + 1)
    assert not waiting.late_at(promised)
    assert waiting.late_at(promised + 1)
    assert not pl.RepairState(id=b"", status="requested").late_at(10**9)  # no promise
    assert not pl.RepairState(id=b"", status="cancelled", promised=promised).late_at(2000)


def test_the_ledger_records_a_late_repair_as_late(w: World) -> None:
    item = w.issue("R1")
    t = w.clock.t + 1
    rid = at(w, t, w.owner, item, request(t + 100))
    add(w, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND))
    at(w, t + 101, w.workshop, item, pl.RepairReady(repair=rid))
    assert repair_of(w, item, rid).late_at(t + 101)


def test_a_service_authority_requests_and_becomes_the_workshop(w: World) -> None:
    item = w.issue("R1")
    rid = add(w, w.workshop, item, request(w.clock.t + DAY))
    assert repair_of(w, item, rid).workshop == workshop_id(w)
    # Another workshop of the issuer may not take it in.
    other = key("other bench")
    grant(w, w.jeweler, other, "service", "Other Bench")
    refused(w, pl.UnauthorizedError, other, item, pl.RepairReceived(repair=rid, condition=COND),
            f"{RR}: workshop")
    add(w, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND))


def test_a_plan_providers_workshop_serves_only_while_the_plan_is_active(w: World) -> None:
    item = w.issue("R1")
    refused(w, pl.UnauthorizedError, RIVAL_BENCH, item, request(w.clock.t + DAY),
            f"{RR}: requester")
    t = w.clock.t + 1
    at(w, t, RIVAL, item, plan(t, t + 100, transfer="ends"))
    rid = add(w, RIVAL_BENCH, item, request(t + DAY))
    assert repair_of(w, item, rid).workshop == pl.authority_subject(RIVAL_BENCH.public_key)
    add(w, RIVAL_BENCH, item, pl.RepairCancelled(repair=rid, reason="Owner declined"))
    refused(w, pl.UnauthorizedError, RIVAL_BENCH, item, request(t + DAY), f"{RR}: requester",
            t=t + 101)  # the plan expired
    # An owner's request is received by the item issuer's workshop, not by a stranger.
    rid2 = at(w, t + 101, w.owner, item, request(t + DAY))
    refused(w, pl.UnauthorizedError, RIVAL_BENCH, item,
            pl.RepairReceived(repair=rid2, condition=COND), f"{RR}: workshop")
    refused(w, pl.UnauthorizedError, RIVAL, item,
            pl.RepairReceived(repair=rid2, condition=COND), f"{RR}: workshop")


@pytest.mark.parametrize(("who", "error"), [
    ("stranger", pl.UnknownKeyError), ("jeweler", pl.UnauthorizedError),
    ("gemologist", pl.UnauthorizedError), ("buyer", pl.UnknownKeyError)])
def test_requests_by_others_are_refused(w: World, who: str,
                                        error: type[pl.ProvLedgerError]) -> None:
    item = w.issue("R1")
    signer = {"stranger": STRANGER, "jeweler": w.jeweler, "gemologist": w.gemologist,
              "buyer": BUYER}[who]
    refused(w, error, signer, item, request(w.clock.t + DAY), f"{RR}: requester")


def test_request_preconditions(w: World) -> None:
    item = w.issue("R1")
    t = w.clock.t + 1
    refused(w, pl.PolicyError, w.owner, item, request(t - 1), f"{RR}: promise", t=t)
    rid = at(w, t, w.owner, item, request(t))  # promised = t: allowed
    refused(w, pl.StateError, w.workshop, item, request(t + DAY), f"{RR}: one-open-repair")
    add(w, w.owner, item, pl.RepairCancelled(repair=rid, reason="No"))
    add(w, w.insurer, item, pl.StolenReported())
    refused(w, pl.StateError, w.owner, item, request(w.clock.t + DAY), f"{RR}: active-item")


def test_the_owner_may_not_request_during_an_escrow_but_its_buyer_may_after(w: World) -> None:
    item = w.issue("R1")
    offer(w, item, w.owner, BUYER, [])
    refused(w, pl.StateError, w.owner, item, request(w.clock.t + DAY),
            "escrow rule: one-open-escrow")
    item2 = w.issue("R2")
    sell(w, item2, w.owner, BUYER, [])
    refused(w, pl.UnknownKeyError, w.owner, item2, request(w.clock.t + DAY), f"{RR}: requester")
    add(w, BUYER, item2, request(w.clock.t + DAY))


def test_transitions_follow_the_state_machine(w: World) -> None:
    item = w.issue("R1")
    rid = add(w, w.workshop, item, request(w.clock.t + DAY))
    for ev in (pl.RepairProgress(repair=rid, stage="in_progress"), pl.RepairReady(repair=rid),
               pl.RepairCollected(repair=rid)):
        refused(w, pl.StateError, w.workshop, item, ev, f"{RR}: transition")
    add(w, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND))
    refused(w, pl.StateError, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND),
            f"{RR}: transition")
    refused(w, pl.StateError, w.owner, item, pl.RepairCollected(repair=rid), f"{RR}: transition")
    add(w, w.workshop, item, pl.RepairReady(repair=rid))
    for ev in (pl.RepairProgress(repair=rid, stage="in_progress"), pl.RepairReady(repair=rid)):
        refused(w, pl.StateError, w.workshop, item, ev, f"{RR}: transition")
    add(w, w.workshop, item, pl.RepairCollected(repair=rid))
    closed: tuple[pl.Event, ...] = (pl.RepairCollected(repair=rid),
                                    pl.RepairCancelled(repair=rid, reason="x"),
                                    pl.RepairProgress(repair=rid, stage="in_progress"))
    for step in closed:
        refused(w, pl.StateError,
                w.owner if isinstance(step, pl.RepairCollected) else w.workshop,
                item, step, f"{RR}: open-repair")


def test_only_the_workshop_moves_the_work(w: World) -> None:
    item = w.issue("R1")
    rid = add(w, w.owner, item, request(w.clock.t + DAY))
    refused(w, pl.UnauthorizedError, w.workshop, item,
            pl.RepairProgress(repair=rid, stage="in_progress"), f"{RR}: workshop")
    add(w, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND))
    for signer, error in ((w.owner, pl.UnauthorizedError), (w.jeweler, pl.UnauthorizedError),
                          (RIVAL_BENCH, pl.UnauthorizedError), (STRANGER, pl.UnknownKeyError)):
        refused(w, error, signer, item, pl.RepairReady(repair=rid), f"{RR}: workshop")
    # A rotated key of the workshop: the old one is refused, the new one works.
    new = key("workshop rotated")
    add(w, w.workshop, pl.authority_subject(w.workshop.public_key),
        pl.KeyRotated(new_key=new.public_key))
    refused(w, pl.RevokedKeyError, w.workshop, item, pl.RepairReady(repair=rid))
    add(w, new, item, pl.RepairReady(repair=rid))
    refused(w, pl.UnauthorizedError, w.jeweler, item,
            pl.RepairCollected(repair=rid), f"{RR}: workshop")
    add(w, new, item, pl.RepairCollected(repair=rid))


def test_unknown_and_closed_repairs_are_refused(w: World) -> None:
    item = w.issue("R1")
    refused(w, pl.PolicyError, w.workshop, item,
            pl.RepairReceived(repair=bytes(32), condition=COND), f"{RR}: known-repair")
    rid = add(w, w.owner, item, request(w.clock.t + DAY))
    add(w, w.owner, item, pl.RepairCancelled(repair=rid, reason="No"))
    refused(w, pl.StateError, w.workshop, item,
            pl.RepairReceived(repair=rid, condition=COND), f"{RR}: open-repair")
    # A repair of another item is unknown here.
    other = w.issue("R2")
    rid2 = add(w, w.owner, other, request(w.clock.t + DAY))
    refused(w, pl.PolicyError, w.workshop, item,
            pl.RepairReceived(repair=rid2, condition=COND), f"{RR}: known-repair")


def test_a_cancelled_repair_at_the_workshop_must_still_be_collected(w: World) -> None:
    item = w.issue("R1")
    rid = add(w, w.owner, item, request(w.clock.t + DAY))
    add(w, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND))
    add(w, w.workshop, item, pl.RepairCancelled(repair=rid, reason="Cannot be repaired"))
    r = repair_of(w, item, rid)
    assert (r.status, r.at_workshop, r.open) == ("cancelled", True, True)
    refused(w, pl.StateError, w.owner, item, request(w.clock.t + DAY), f"{RR}: one-open-repair")
    refused(w, pl.StateError, w.owner, item, pl.RepairCancelled(repair=rid, reason="x"),
            f"{RR}: transition")
    refused(w, pl.StateError, w.owner, item, pl.EscrowOpened(
        buyer=BUYER.public_key, terms=pl.EscrowTerms(price_minor=1, currency="EUR",
                                                     on_timeout="return", direct=True),
        condition=pl.ConditionReport(grade="good"), offer_expires=w.clock.t + 9),
        "escrow rule: at-workshop")
    add(w, w.owner, item, pl.RepairCollected(repair=rid))
    r = repair_of(w, item, rid)
    assert (r.status, r.at_workshop, r.open) == ("cancelled", False, False)
    sell(w, item, w.owner, BUYER, [])


def test_cancellation_signers_and_the_no_refund_rule(w: World) -> None:
    item = w.issue("R1")
    rid = add(w, w.workshop, item, request(w.clock.t + DAY))
    for signer, error in ((RIVAL_BENCH, pl.UnauthorizedError), (STRANGER, pl.UnknownKeyError),
                          (w.jeweler, pl.UnauthorizedError)):
        refused(w, error, signer, item, pl.RepairCancelled(repair=rid, reason="x"),
                f"{RR}: workshop")
    add(w, w.workshop, item, pl.RepairCancelled(repair=rid, reason="Requested in error"))
    t = w.clock.t + 1
    pid = at(w, t, w.jeweler, item, plan(t, t + DAY, no_consent=True))
    rid2 = add(w, w.owner, item, request(t + DAY))
    add(w, w.workshop, item, pl.CareRedeemed(plan=pid, repair=rid2, credits=1))
    refused(w, pl.StateError, w.owner, item, pl.RepairCancelled(repair=rid2, reason="x"),
            f"{RR}: paid")


def test_cancelling_a_repair_drops_the_owners_consents_for_it(w: World) -> None:
    item = w.issue("R1")
    t = w.clock.t + 1
    pid = at(w, t, w.jeweler, item, plan(t, t + DAY))
    rid = add(w, w.owner, item, request(t + DAY))
    add(w, w.owner, item, pl.CareConsented(plan=pid, repair=rid, credits=1))
    add(w, w.owner, item, pl.RepairCancelled(repair=rid, reason="No"))
    assert w.ledger.item(item).consents == ()


def test_no_receipt_during_an_escrow_and_no_escrow_while_at_the_workshop(w: World) -> None:
    item = w.issue("R1")
    rid = add(w, w.owner, item, request(w.clock.t + 10 * DAY))
    esc = offer(w, item, w.owner, BUYER, [])
    refused(w, pl.StateError, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND),
            f"{RR}: frozen-in-escrow")
    # The owner may not cancel meanwhile either (an owner action in escrow).
    refused(w, pl.StateError, w.owner, item, pl.RepairCancelled(repair=rid, reason="x"),
            "escrow rule: one-open-escrow")
    add(w, w.owner, item, pl.EscrowCancelled(escrow=esc))
    add(w, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND))
    msg = refused(w, pl.StateError, w.owner, item, pl.EscrowOpened(
        buyer=BUYER.public_key, terms=pl.EscrowTerms(price_minor=1, currency="EUR",
                                                     on_timeout="return", direct=True),
        condition=pl.ConditionReport(grade="good"), offer_expires=w.clock.t + 9),
        "escrow rule: at-workshop")
    assert "cannot inspect" in msg


@pytest.mark.parametrize("stage", ["received", "in_progress", "ready"])
def test_loss_and_theft_reports_are_allowed_at_any_stage(w: World, stage: str) -> None:
    item = w.issue("R1")
    rid = add(w, w.owner, item, request(w.clock.t + DAY))
    add(w, w.workshop, item, pl.RepairReceived(repair=rid, condition=COND))
    if stage == "in_progress":
        add(w, w.workshop, item, pl.RepairProgress(repair=rid, stage="in_progress"))
    if stage == "ready":
        add(w, w.workshop, item, pl.RepairReady(repair=rid))
    add(w, w.insurer, item, pl.StolenReported(reference="Workshop burglary"))
    add(w, w.insurer, item, pl.Recovered())
    add(w, w.owner, item, pl.LostReported())
    assert w.ledger.item(item).status == "lost"
    assert repair_of(w, item, rid).status == stage
