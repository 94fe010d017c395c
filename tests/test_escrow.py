"""Escrow (spec/escrow.md): one focused test per rule, transition and deadline."""

from __future__ import annotations

import hashlib

import cbor2
import msgspec
import pytest

import provledger as pl
from provledger._state import ItemState, encode_state

from .conftest import World, key, snapshot

BUYER = key("buyer")
CAROL = key("carol")
ARBITER = key("arbiter")
STRANGER = key("stranger")
MARKET = key("marketplace")

TERMS = pl.EscrowTerms(price_minor=250_000, currency="EUR", on_timeout="dispute",
                       arbiter=ARBITER.public_key, marketplace=MARKET.public_key)
RETURN_TERMS = pl.EscrowTerms(price_minor=250_000, currency="EUR", on_timeout="return")
DIRECT = pl.EscrowTerms(price_minor=0, currency="EUR", on_timeout="return", direct=True)
COND = pl.ConditionReport(grade="very good", notes="light wear on the shank",
                          photos=[hashlib.sha256(b"front").digest()])
OFFER_WINDOW = 100
INSPECTION_WINDOW = 1000


def refused(w: World, error: type[pl.ProvLedgerError], signer: pl.SigningKey, item: str,
            event: pl.Event, rule: str | None = None, *, time: int | None = None) -> None:
    """Appending must raise exactly ``error`` naming ``rule``, and change nothing."""
    before = snapshot(w.path)
    with pytest.raises(error) as info:
        w.ledger.append(w.sign(signer, item, event, time=time))
    assert type(info.value) is error, info.value
    if rule is not None:
        assert f"[escrow rule: {rule}]" in str(info.value)
    assert snapshot(w.path) == before


def open_escrow(w: World, item: str, *, seller: pl.SigningKey | None = None,
                buyer: pl.SigningKey = BUYER, terms: pl.EscrowTerms = TERMS,
                cond: pl.ConditionReport = COND) -> tuple[bytes, pl.EscrowOpened]:
    """Open an escrow at the next clock tick; return its id and offer."""
    ev = offer(w, buyer=buyer, terms=terms, cond=cond)
    return w.add(seller or w.owner, item, ev).hash, ev


def offer(w: World, *, buyer: pl.SigningKey = BUYER, terms: pl.EscrowTerms = TERMS,
          cond: pl.ConditionReport = COND, offer_in: int = OFFER_WINDOW,
          inspect_for: int = INSPECTION_WINDOW) -> pl.EscrowOpened:
    expires = w.clock.t + 1 + offer_in
    return pl.EscrowOpened(buyer=buyer.public_key, terms=terms, condition=cond,
                           offer_expires=expires,
                           inspection_ends=0 if terms.direct else expires + inspect_for)


def accepted(escrow: bytes, terms: pl.EscrowTerms = TERMS,
             cond: pl.ConditionReport = COND) -> pl.EscrowAccepted:
    return pl.EscrowAccepted(escrow=escrow, terms_hash=pl.terms_hash(terms),
                             condition_hash=pl.condition_hash(cond))


def acknowledged(escrow: bytes, terms: pl.EscrowTerms = TERMS,
                 cond: pl.ConditionReport = COND) -> pl.EscrowAcknowledged:
    return pl.EscrowAcknowledged(escrow=escrow, terms_hash=pl.terms_hash(terms),
                                 condition_hash=pl.condition_hash(cond))


def escrow_of(w: World, item: str) -> pl.EscrowState:
    esc = w.ledger.item(item).escrow
    assert esc is not None
    return esc


def repair() -> pl.RepairRecorded:
    return pl.RepairRecorded(work="Polish", category="service", performed_by="Workshop",
                             started=0, completed=0)


# -- the happy paths ----------------------------------------------------------


def test_resale_with_inspection_moves_ownership_on_acknowledgement(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    esc = escrow_of(world, item)
    assert (esc.id, esc.state, esc.seller, esc.buyer, esc.arbiter) == (
        escrow, "offered", world.owner.public_key, BUYER.public_key, ARBITER.public_key)
    assert (esc.terms_hash, esc.condition_hash) == (pl.terms_hash(TERMS), pl.condition_hash(COND))
    world.add(BUYER, item, accepted(escrow))
    assert escrow_of(world, item).state == "accepted"
    assert world.ledger.item(item).owner == world.owner.public_key  # not yet
    world.add(BUYER, item, acknowledged(escrow))
    state = world.ledger.item(item)
    assert state.owner == BUYER.public_key
    assert escrow_of(world, item).state == "completed"
    # The new owner acts as owner; the old one no longer does.
    world.add(BUYER, item, repair())
    refused(world, pl.UnauthorizedError, world.owner, item, pl.LostReported())
    assert world.ledger.audit().size == len(world.ledger)


def test_direct_handover_moves_ownership_on_acceptance(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item, terms=DIRECT)
    world.add(BUYER, item, accepted(escrow, DIRECT))
    assert world.ledger.item(item).owner == BUYER.public_key
    assert escrow_of(world, item).state == "completed"
    refused(world, pl.StateError, BUYER, item, acknowledged(escrow, DIRECT), "terminal")


def test_open_and_accept_in_one_batch(world: World) -> None:
    item = world.issue("R1")
    world.clock.t += 1
    first = world.sign(world.owner, item, offer(world, terms=DIRECT))
    opened = pl.verify_statement(first)
    second = pl.sign_statement(accepted(opened.hash, DIRECT), key=BUYER,
                               origin=world.ledger.origin, subject=item, prev=opened.hash,
                               time=world.clock.t)
    world.ledger.append_batch([first, second])
    assert world.ledger.item(item).owner == BUYER.public_key


def test_decline_and_cancel_close_the_offer(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    refused(world, pl.UnauthorizedError, world.owner, item, pl.EscrowDeclined(escrow=escrow),
            "party")
    world.add(BUYER, item, pl.EscrowDeclined(escrow=escrow, notes="too dear"))
    assert escrow_of(world, item).state == "declined"
    escrow, _ = open_escrow(world, item)
    refused(world, pl.UnauthorizedError, BUYER, item, pl.EscrowCancelled(escrow=escrow), "party")
    world.add(world.owner, item, pl.EscrowCancelled(escrow=escrow))
    assert escrow_of(world, item).state == "cancelled"
    assert world.ledger.item(item).owner == world.owner.public_key


def test_reject_returns_the_piece(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    world.add(BUYER, item, accepted(escrow))
    refused(world, pl.UnauthorizedError, world.owner, item,
            pl.EscrowRejected(escrow=escrow, reason="x"), "party")
    world.add(BUYER, item, pl.EscrowRejected(escrow=escrow, reason="stone chipped"))
    assert escrow_of(world, item).state == "returned"
    assert world.ledger.item(item).owner == world.owner.public_key


# -- who may open, and when ---------------------------------------------------


@pytest.mark.parametrize("who", ["jeweler", "workshop", "buyer", "stranger"])
def test_only_the_current_owner_opens(world: World, who: str) -> None:
    item = world.issue("R1")
    signer = {"buyer": BUYER, "stranger": STRANGER}.get(who) or getattr(world, who)
    refused(world, pl.UnauthorizedError, signer, item, offer(world), "owner-opens")


def test_offers_must_make_sense(world: World) -> None:
    item = world.issue("R1")
    now = world.clock.t
    bad = [
        offer(world, buyer=world.owner),
        offer(world, terms=msgspec.structs.replace(TERMS, arbiter=BUYER.public_key)),
        offer(world, terms=msgspec.structs.replace(TERMS, arbiter=world.owner.public_key)),
        offer(world, offer_in=-5),
        offer(world, inspect_for=0),
        msgspec.structs.replace(offer(world), inspection_ends=0),
    ]
    for ev in bad:
        refused(world, pl.PolicyError, world.owner, item, ev, "valid-offer", time=now)
    # An offer may expire in the very second it is logged; direct terms need no inspection.
    ev = pl.EscrowOpened(buyer=BUYER.public_key, terms=DIRECT, condition=COND,
                         offer_expires=now)
    world.ledger.append(world.sign(world.owner, item, ev))
    assert escrow_of(world, item).state == "offered"


def test_unknown_escrow_events_fail_to_sign() -> None:
    with pytest.raises(pl.DecodeError, match="currency"):
        pl.sign_statement(pl.EscrowOpened(
            buyer=BUYER.public_key, condition=COND, offer_expires=1,
            terms=pl.EscrowTerms(price_minor=1, currency="euro", on_timeout="return")),
            key=BUYER, origin="a.example/log", subject="urn:x-test:item-1", prev=None, time=1)


def test_one_open_escrow_and_no_owner_action_while_open(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    refused(world, pl.StateError, world.owner, item, offer(world, buyer=CAROL),
            "one-open-escrow")
    refused(world, pl.StateError, world.owner, item, repair(), "one-open-escrow")
    refused(world, pl.StateError, world.owner, item, pl.AppraisalRecorded(
        method="lab", currency="EUR", appraiser="Lab", value_minor=1), "one-open-escrow")
    # Authorized providers still record work, and theft may still be reported.
    world.add(world.workshop, item, repair())
    world.add(BUYER, item, accepted(escrow))
    refused(world, pl.StateError, world.owner, item, offer(world, buyer=CAROL),
            "one-open-escrow")
    world.add(world.insurer, item, pl.StolenReported(reference="X-1"))
    assert world.ledger.item(item).status == "stolen"


# -- the escrow a statement names, and what it binds ----------------------------


def test_acceptance_binds_terms_and_condition(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    other_terms = msgspec.structs.replace(TERMS, price_minor=1)
    other_cond = msgspec.structs.replace(COND, grade="mint")
    refused(world, pl.PolicyError, BUYER, item, accepted(escrow, other_terms), "binding")
    refused(world, pl.PolicyError, BUYER, item, accepted(escrow, cond=other_cond), "binding")
    refused(world, pl.StateError, BUYER, item, accepted(bytes(32)), "current-escrow")
    world.add(BUYER, item, accepted(escrow))
    refused(world, pl.PolicyError, BUYER, item, acknowledged(escrow, other_terms), "binding")
    refused(world, pl.PolicyError, BUYER, item, acknowledged(escrow, cond=other_cond), "binding")


def test_statements_cannot_be_replayed_onto_another_escrow_or_item(world: World) -> None:
    item = world.issue("R1")
    other = world.issue("R2")
    first, _ = open_escrow(world, item)
    acceptance = world.sign(BUYER, item, accepted(first))
    world.clock.t += 1
    world.ledger.append(acceptance)
    # The same bytes again: a replay.
    with pytest.raises(pl.DuplicateStatementError):
        world.ledger.append(acceptance)
    world.add(BUYER, item, pl.EscrowRejected(escrow=first, reason="no"))
    second, _ = open_escrow(world, item)
    # A statement signed for the first escrow's head does not extend the chain any more...
    stale = world.sign(BUYER, item, pl.EscrowDeclined(escrow=first),
                       prev=pl.verify_statement(acceptance).hash)
    with pytest.raises(pl.ChainError):
        world.ledger.append(stale)
    # ...and the same body signed again on the current head names the wrong escrow.
    refused(world, pl.StateError, BUYER, item, accepted(first), "current-escrow")
    # Nor does the first escrow's acceptance mean anything for another item's escrow.
    third, _ = open_escrow(world, other)
    refused(world, pl.StateError, BUYER, other, accepted(first), "current-escrow")
    refused(world, pl.StateError, BUYER, other, accepted(second), "current-escrow")
    world.add(BUYER, other, accepted(third))


# -- deadlines ------------------------------------------------------------------


def test_offer_deadline_is_inclusive_and_judged_by_log_time(world: World) -> None:
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item)
    world.clock.t = ev.offer_expires
    # The signer's clock may run up to 300 s ahead; the log time is what counts.
    world.ledger.append(world.sign(BUYER, item, accepted(escrow), time=ev.offer_expires + 200))
    assert escrow_of(world, item).state == "accepted"


def test_an_offer_expires_after_its_deadline(world: World) -> None:
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item)
    world.clock.t = ev.offer_expires + 1
    # A signer claiming an earlier time changes nothing.
    refused(world, pl.StateError, BUYER, item, accepted(escrow), "terminal",
            time=ev.offer_expires - 10)
    refused(world, pl.StateError, world.owner, item, pl.EscrowCancelled(escrow=escrow),
            "terminal")
    # The owner is free again: the expiry is recorded with the next entry.
    world.add(world.owner, item, repair())
    assert escrow_of(world, item).state == "expired"
    second, _ = open_escrow(world, item, buyer=CAROL)
    report = pl.item_report(world.ledger, item)
    assert [(e.id, e.state) for e in report.escrows] == [(escrow, "expired"),
                                                         (second, "offered")]


def test_an_expired_offer_does_not_block_a_new_one(world: World) -> None:
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item)
    world.clock.t = ev.offer_expires + 1
    second, _ = open_escrow(world, item, buyer=CAROL)  # the very next entry
    report = pl.item_report(world.ledger, item)
    assert [(e.id, e.state) for e in report.escrows] == [(escrow, "expired"),
                                                         (second, "offered")]


def test_acknowledgement_at_the_inspection_deadline(world: World) -> None:
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item)
    world.add(BUYER, item, accepted(escrow))
    world.clock.t = ev.inspection_ends
    world.ledger.append(world.sign(BUYER, item, acknowledged(escrow)))
    assert world.ledger.item(item).owner == BUYER.public_key


def test_a_lapsed_inspection_goes_to_dispute_never_to_the_buyer(world: World) -> None:
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item)
    world.add(BUYER, item, accepted(escrow))
    world.clock.t = ev.inspection_ends + 1
    refused(world, pl.StateError, BUYER, item, acknowledged(escrow), "phase")
    report = pl.item_report(world.ledger, item, now=world.clock.t)
    assert (report.escrows[0].escrow.state, report.escrows[0].state) == ("accepted", "disputed")
    world.add(BUYER, item, pl.EscrowDisputed(escrow=escrow, reason="late delivery"))
    assert escrow_of(world, item).state == "disputed"
    assert world.ledger.item(item).owner == world.owner.public_key
    world.add(ARBITER, item, pl.EscrowResolution(escrow=escrow, outcome="buyer"))
    assert world.ledger.item(item).owner == BUYER.public_key
    assert escrow_of(world, item).state == "completed"


def test_a_lapsed_inspection_returns_the_piece_when_the_terms_say_so(world: World) -> None:
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item, terms=RETURN_TERMS)
    world.add(BUYER, item, accepted(escrow, RETURN_TERMS))
    world.clock.t = ev.inspection_ends + 1
    refused(world, pl.StateError, BUYER, item, acknowledged(escrow, RETURN_TERMS), "terminal")
    refused(world, pl.StateError, BUYER, item, pl.EscrowDisputed(escrow=escrow, reason="x"),
            "terminal")
    world.add(world.owner, item, repair())
    assert escrow_of(world, item).state == "returned"
    assert world.ledger.item(item).owner == world.owner.public_key


# -- disputes -------------------------------------------------------------------


def test_disputes_and_who_settles_them(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    refused(world, pl.StateError, BUYER, item, pl.EscrowDisputed(escrow=escrow, reason="x"),
            "phase")
    world.add(BUYER, item, accepted(escrow))
    refused(world, pl.UnauthorizedError, ARBITER, item,
            pl.EscrowDisputed(escrow=escrow, reason="x"), "party")
    refused(world, pl.StateError, ARBITER, item,
            pl.EscrowResolution(escrow=escrow, outcome="seller"), "phase")
    world.add(world.owner, item, pl.EscrowDisputed(escrow=escrow, reason="not paid"))
    world.add(BUYER, item, pl.EscrowDisputed(escrow=escrow, reason="paid", documents=[bytes(32)]))
    refused(world, pl.UnauthorizedError, STRANGER, item,
            pl.EscrowResolution(escrow=escrow, outcome="seller"), "party")
    refused(world, pl.StateError, BUYER, item, acknowledged(escrow), "phase")
    world.add(ARBITER, item, pl.EscrowResolution(escrow=escrow, outcome="seller"))
    esc = escrow_of(world, item)
    assert esc.state == "returned"
    assert [(v.party, v.outcome) for v in esc.votes] == [("arbiter", "seller")]
    assert world.ledger.item(item).owner == world.owner.public_key
    refused(world, pl.StateError, ARBITER, item,
            pl.EscrowResolution(escrow=escrow, outcome="buyer"), "terminal")


def test_buyer_and_seller_together_settle_without_an_arbiter(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item, terms=RETURN_TERMS)
    world.add(BUYER, item, accepted(escrow, RETURN_TERMS))
    world.add(BUYER, item, pl.EscrowDisputed(escrow=escrow, reason="scratch"))
    refused(world, pl.UnauthorizedError, ARBITER, item,
            pl.EscrowResolution(escrow=escrow, outcome="seller"), "party")
    world.add(BUYER, item, pl.EscrowResolution(escrow=escrow, outcome="buyer"))
    world.add(world.owner, item, pl.EscrowResolution(escrow=escrow, outcome="seller"))
    esc = escrow_of(world, item)
    assert esc.state == "disputed"
    assert [(v.party, v.outcome) for v in esc.votes] == [("buyer", "buyer"),
                                                         ("seller", "seller")]
    # A party may change its vote; two agreeing votes settle.
    world.add(world.owner, item, pl.EscrowResolution(escrow=escrow, outcome="buyer"))
    esc = escrow_of(world, item)
    assert esc.state == "completed"
    assert [(v.party, v.outcome) for v in esc.votes] == [("buyer", "buyer"),
                                                         ("seller", "buyer")]
    assert world.ledger.item(item).owner == BUYER.public_key


# -- freezes, revocation, terminal states ---------------------------------------


def test_lost_or_stolen_blocks_opening(world: World) -> None:
    item = world.issue("R1")
    world.add(world.owner, item, pl.LostReported())
    refused(world, pl.StateError, world.owner, item, offer(world), "frozen")
    world.add(world.owner, item, pl.Recovered())
    world.add(world.insurer, item, pl.StolenReported(reference="X-1"))
    refused(world, pl.StateError, world.owner, item, offer(world), "frozen")


# -- loss and theft while an escrow holds the item (issue 11, finding 6a) ----------
#
# The attack: after the buyer accepted (and holds the piece), the seller reported it
# lost, or had a theft reported, which froze the escrow; the inspection deadline
# then returned it to the seller, who reported it recovered and kept piece and
# title. Now a loss report is refused while an escrow is open, and a theft report
# cancels an offer or disputes an accepted escrow in the same entry.


@pytest.mark.parametrize("phase", ["offered", "accepted", "disputed"])
def test_the_owner_may_not_report_a_loss_while_an_escrow_holds_the_item(
        world: World, phase: str) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    if phase != "offered":
        world.add(BUYER, item, accepted(escrow))
    if phase == "disputed":
        world.add(BUYER, item, pl.EscrowDisputed(escrow=escrow, reason="loose stone"))
    refused(world, pl.StateError, world.owner, item, pl.LostReported(), "no-loss-in-escrow")
    assert world.ledger.item(item).status == "active"
    assert escrow_of(world, item).state == phase


def test_an_offer_is_cancelled_before_the_piece_is_reported_lost(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    world.add(world.owner, item, pl.EscrowCancelled(escrow=escrow, notes="cannot find it"))
    world.add(world.owner, item, pl.LostReported())
    assert world.ledger.item(item).status == "lost"


@pytest.mark.parametrize("terms", [TERMS, RETURN_TERMS], ids=["dispute", "return"])
def test_a_loss_report_cannot_lapse_an_accepted_escrow_back_to_the_seller(
        world: World, terms: pl.EscrowTerms) -> None:
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item, terms=terms)
    world.add(BUYER, item, accepted(escrow, terms))
    refused(world, pl.StateError, world.owner, item, pl.LostReported(), "no-loss-in-escrow")
    # The buyer is not frozen out: it acknowledges on the last second of inspection.
    world.clock.t = ev.inspection_ends - 1
    world.add(BUYER, item, acknowledged(escrow, terms))
    assert world.ledger.item(item).owner == BUYER.public_key
    assert world.ledger.audit().size == len(world.ledger)


@pytest.mark.parametrize("reporter", ["jeweler", "insurer"])
def test_theft_cancels_an_offer_for_good(world: World, reporter: str) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item, terms=DIRECT)
    world.add(getattr(world, reporter), item, pl.StolenReported(reference="X-1"))
    assert escrow_of(world, item).state == "cancelled"
    assert world.ledger.item(item).status == "stolen"
    refused(world, pl.StateError, BUYER, item, accepted(escrow, DIRECT), "terminal")
    # Not even after recovery: the condition report described the piece before the theft.
    world.add(world.insurer, item, pl.Recovered())
    refused(world, pl.StateError, BUYER, item, accepted(escrow, DIRECT), "terminal")
    assert world.ledger.item(item).owner == world.owner.public_key
    second, _ = open_escrow(world, item)
    world.add(BUYER, item, accepted(second))
    assert escrow_of(world, item).state == "accepted"


@pytest.mark.parametrize("terms", [TERMS, RETURN_TERMS], ids=["dispute", "return"])
@pytest.mark.parametrize("reporter", ["jeweler", "insurer"])
def test_theft_after_acceptance_disputes_and_never_lapses_to_the_seller(
        world: World, terms: pl.EscrowTerms, reporter: str) -> None:
    # The seller has a theft reported (by the issuer, or by a reporter at its
    # request) right after the buyer accepted, and waits out the inspection.
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item, terms=terms)
    world.add(BUYER, item, accepted(escrow, terms))
    world.add(getattr(world, reporter), item, pl.StolenReported(reference="X-1"))
    assert (world.ledger.item(item).status, escrow_of(world, item).state) == (
        "stolen", "disputed")
    for signer, evt in ((BUYER, acknowledged(escrow, terms)),
                        (BUYER, pl.EscrowRejected(escrow=escrow, reason="x")),
                        (BUYER, pl.EscrowDisputed(escrow=escrow, reason="x")),
                        (world.owner, pl.EscrowDisputed(escrow=escrow, reason="x"))):
        refused(world, pl.StateError, signer, item, evt, "frozen")
    refused(world, pl.StateError, world.owner, item, pl.EscrowCancelled(escrow=escrow), "frozen")
    later = ev.inspection_ends + 10 * INSPECTION_WINDOW
    report = pl.item_report(world.ledger, item, now=later)
    assert report.escrows[0].state == "disputed"
    # Recovery right before (or after) the deadline gives the seller nothing either.
    world.clock.t = ev.inspection_ends
    world.add(world.insurer, item, pl.Recovered())
    world.clock.t = later
    world.add(world.workshop, item, repair())
    assert escrow_of(world, item).state == "disputed"
    assert world.ledger.item(item).owner == world.owner.public_key
    # The seller alone cannot settle it; the buyer and seller together, or the arbiter, do.
    world.add(world.owner, item, pl.EscrowResolution(escrow=escrow, outcome="seller"))
    assert escrow_of(world, item).state == "disputed"
    settler = ARBITER if terms.arbiter else BUYER
    world.add(settler, item, pl.EscrowResolution(escrow=escrow, outcome="seller"))
    assert escrow_of(world, item).state == "returned"
    assert world.ledger.audit().size == len(world.ledger)


def test_the_arbiter_resolves_while_the_piece_is_stolen(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    world.add(BUYER, item, accepted(escrow))
    world.add(world.insurer, item, pl.StolenReported(reference="X-1"))
    world.add(ARBITER, item, pl.EscrowResolution(escrow=escrow, outcome="buyer",
                                                 notes="stolen from the buyer; paid"))
    state = world.ledger.item(item)
    assert (state.owner, state.status, escrow_of(world, item).state) == (
        BUYER.public_key, "stolen", "completed")
    # The theft report stands until a recovery; the new owner cannot offer it meanwhile.
    refused(world, pl.StateError, BUYER, item, offer(world, buyer=CAROL), "frozen")
    refused(world, pl.UnauthorizedError, BUYER, item, pl.Recovered())
    world.add(world.insurer, item, pl.Recovered())
    open_escrow(world, item, seller=BUYER, buyer=CAROL)
    assert world.ledger.audit().size == len(world.ledger)


@pytest.mark.parametrize("outcome", ["buyer", "seller"])
def test_buyer_and_seller_together_resolve_while_stolen(world: World, outcome: str) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item, terms=RETURN_TERMS)
    world.add(BUYER, item, accepted(escrow, RETURN_TERMS))
    world.add(world.insurer, item, pl.StolenReported(reference="X-1"))
    refused(world, pl.UnauthorizedError, ARBITER, item,
            pl.EscrowResolution(escrow=escrow, outcome="seller"), "party")
    for signer in (BUYER, world.owner):
        world.add(signer, item, pl.EscrowResolution(escrow=escrow, outcome=outcome))  # type: ignore[arg-type]
    state = world.ledger.item(item)
    assert escrow_of(world, item).state == ("completed" if outcome == "buyer" else "returned")
    assert state.owner == (BUYER if outcome == "buyer" else world.owner).public_key
    assert state.status == "stolen"


def test_theft_reported_after_a_lapsed_inspection_changes_no_escrow(world: World) -> None:
    # A deadline that passed before the report took effect first: the buyer had
    # until inspection_ends to acknowledge.
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item, terms=RETURN_TERMS)
    world.add(BUYER, item, accepted(escrow, RETURN_TERMS))
    world.clock.t = ev.inspection_ends + 1
    world.ledger.append(world.sign(world.insurer, item, pl.StolenReported(reference="X-1")))
    assert escrow_of(world, item).state == "returned"


def test_theft_of_a_disputed_piece_keeps_the_votes(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item, terms=RETURN_TERMS)
    world.add(BUYER, item, accepted(escrow, RETURN_TERMS))
    world.add(world.owner, item, pl.EscrowDisputed(escrow=escrow, reason="not paid"))
    world.add(BUYER, item, pl.EscrowResolution(escrow=escrow, outcome="seller"))
    world.add(world.insurer, item, pl.StolenReported(reference="X-1"))
    esc = escrow_of(world, item)
    assert (esc.state, [(v.party, v.outcome) for v in esc.votes]) == (
        "disputed", [("buyer", "seller")])
    world.add(world.owner, item, pl.EscrowResolution(escrow=escrow, outcome="seller"))
    assert escrow_of(world, item).state == "returned"


def test_a_revoked_certificate_blocks_every_escrow_step(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    world.add(BUYER, item, accepted(escrow))
    world.add(world.jeweler, item, pl.CertificateRevoked(reason="withdrawn"))
    refused(world, pl.StateError, BUYER, item, acknowledged(escrow))
    refused(world, pl.StateError, world.owner, item, pl.EscrowDisputed(escrow=escrow, reason="x"))


def test_terminal_states_never_change(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    world.add(BUYER, item, accepted(escrow))
    world.add(BUYER, item, acknowledged(escrow))
    for signer, ev in ((BUYER, pl.EscrowRejected(escrow=escrow, reason="x")),
                       (BUYER, pl.EscrowDisputed(escrow=escrow, reason="x")),
                       (world.owner, pl.EscrowCancelled(escrow=escrow)),
                       (ARBITER, pl.EscrowResolution(escrow=escrow, outcome="seller")),
                       (BUYER, accepted(escrow))):
        refused(world, pl.StateError, signer, item, ev, "terminal")
    # The new owner sells on; the old escrow's statements name the wrong escrow now.
    open_escrow(world, item, seller=BUYER, buyer=CAROL)
    refused(world, pl.StateError, BUYER, item, pl.EscrowRejected(escrow=escrow, reason="x"),
            "current-escrow")


# -- reports, encodings, audits -------------------------------------------------


def test_report_shows_every_escrow_and_the_owner(world: World) -> None:
    item = world.issue("R1")
    first, _ = open_escrow(world, item)
    world.add(BUYER, item, pl.EscrowDeclined(escrow=first))
    second, _ = open_escrow(world, item)
    world.add(BUYER, item, accepted(second))
    world.add(BUYER, item, acknowledged(second))
    report = pl.item_report(world.ledger, item)
    assert [(e.id, e.state) for e in report.escrows] == [(first, "declined"),
                                                         (second, "completed")]
    doc = report.to_json()
    assert doc["owner"] == pl.format_public_key(BUYER.public_key)
    esc = doc["escrows"][1]
    assert esc["id"] == second.hex()
    assert esc["seller"] == pl.format_public_key(world.owner.public_key)
    assert esc["arbiter"] == pl.format_public_key(ARBITER.public_key)
    assert esc["marketplace"] == pl.format_public_key(MARKET.public_key)
    assert (esc["price_minor"], esc["currency"], esc["condition"]["grade"]) == (
        250_000, "EUR", "very good")
    assert [e.signed_as for e in report.events][-5:] == [
        "seller", "buyer", "seller", "buyer", "buyer"]


def test_items_without_escrow_store_states_as_before() -> None:
    # Stored before escrows existed; ledgers written then must still audit.
    legacy = bytes.fromhex(
        "88a474797065a46974656da77375626a656374d92775726e3a70726f766c65646765723a6974656d"
        "3a303132333435363738396162636465663a5231a6697373756572d95570726f766c65646765723a"
        "617574686f726974793a" + "6162" * 32 + "a56f776e6572c420" + bytes(range(32)).hex()
        + "a6737461747573a46c6f7374ab6365727469666963617465c420" + "00" * 32
        + "ab61747465737465645f627990a66576656e747301")
    state = ItemState(subject="urn:provledger:item:0123456789abcdef:R1",
                      issuer="provledger:authority:" + "ab" * 32, owner=bytes(range(32)),
                      status="lost", certificate=bytes(32))
    assert encode_state(state) == legacy


@pytest.mark.parametrize("cls", [pl.EscrowTerms, pl.ConditionReport])
def test_nested_structs_declare_fields_in_canonical_order(cls: type[msgspec.Struct]) -> None:
    names = list(cls.__struct_fields__)
    assert names == sorted(names, key=lambda n: (len(n.encode()), n.encode()))


def test_hashes_are_sha256_of_canonical_cbor() -> None:
    assert pl.terms_hash(TERMS) == hashlib.sha256(cbor2.dumps(
        msgspec.to_builtins(TERMS, builtin_types=(bytes,)), canonical=True)).digest()
    assert pl.condition_hash(COND) == hashlib.sha256(cbor2.dumps(
        {"grade": "very good", "notes": "light wear on the shank",
         "photos": [hashlib.sha256(b"front").digest()]}, canonical=True)).digest()
    assert pl.terms_hash(DIRECT) != pl.terms_hash(
        msgspec.structs.replace(DIRECT, direct=False))
    with pytest.raises(TypeError):
        pl.terms_hash(COND)  # type: ignore[arg-type]


# -- refusals say how a settled escrow ended (issue 20, item 4) ----------------------


def refusal(w: World, signer: pl.SigningKey, item: str, event: pl.Event) -> str:
    """The message of a StateError refusal; nothing is appended."""
    before = snapshot(w.path)
    with pytest.raises(pl.StateError) as info:
        w.ledger.append(w.sign(signer, item, event))
    assert snapshot(w.path) == before
    return str(info.value)


@pytest.mark.parametrize("terms", [TERMS, RETURN_TERMS], ids=["dispute", "return"])
def test_a_rejection_is_named_not_mistaken_for_a_timeout(world: World,
                                                          terms: pl.EscrowTerms) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item, terms=terms)
    world.add(BUYER, item, accepted(escrow, terms))
    world.add(BUYER, item, pl.EscrowRejected(escrow=escrow, reason="stone chipped"))
    message = refusal(world, BUYER, item, acknowledged(escrow, terms))
    assert "(rejected by the buyer)" in message
    assert "inspection" not in message
    assert "[escrow rule: terminal]" in message


def test_a_return_after_the_deadline_names_both_paths(world: World) -> None:
    item = world.issue("R1")
    escrow, ev = open_escrow(world, item, terms=RETURN_TERMS)
    world.add(BUYER, item, accepted(escrow, RETURN_TERMS))
    world.clock.t = ev.inspection_ends + 1
    message = refusal(world, BUYER, item, acknowledged(escrow, RETURN_TERMS))
    assert (f"(rejected by the buyer, or its inspection deadline passed at log time "
            f"{ev.inspection_ends} unacknowledged)") in message


def test_declined_cancelled_expired_and_completed_are_named(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    world.add(BUYER, item, pl.EscrowDeclined(escrow=escrow))
    assert "(declined by the buyer)" in refusal(world, BUYER, item, accepted(escrow))
    escrow, _ = open_escrow(world, item)
    world.add(world.owner, item, pl.EscrowCancelled(escrow=escrow))
    assert "(cancelled by the seller" in refusal(world, BUYER, item, accepted(escrow))
    escrow, ev = open_escrow(world, item)
    world.clock.t = ev.offer_expires + 1
    assert (f"(its offer expired unaccepted at log time {ev.offer_expires})"
            in refusal(world, BUYER, item, accepted(escrow)))
    escrow, _ = open_escrow(world, item)
    world.add(BUYER, item, accepted(escrow))
    world.add(BUYER, item, acknowledged(escrow))
    assert "(acknowledged by the buyer after inspection)" in refusal(
        world, BUYER, item, pl.EscrowRejected(escrow=escrow, reason="late"))


def test_a_direct_sale_is_named(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item, terms=DIRECT)
    world.add(BUYER, item, accepted(escrow, DIRECT))
    assert "(accepted by the buyer (a direct sale))" in refusal(
        world, BUYER, item, pl.EscrowDeclined(escrow=escrow))


@pytest.mark.parametrize(("arbiter", "expected"), [
    (True, "(dispute resolved for the seller by the arbiter)"),
    (False, "(dispute resolved for the seller by buyer and seller agreeing)"),
])
def test_a_resolution_is_named(world: World, arbiter: bool, expected: str) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    world.add(BUYER, item, accepted(escrow))
    world.add(BUYER, item, pl.EscrowDisputed(escrow=escrow, reason="not as described"))
    if arbiter:
        world.add(ARBITER, item, pl.EscrowResolution(escrow=escrow, outcome="seller"))
    else:
        world.add(BUYER, item, pl.EscrowResolution(escrow=escrow, outcome="seller"))
        world.add(world.owner, item, pl.EscrowResolution(escrow=escrow, outcome="seller"))
    assert expected in refusal(world, BUYER, item, acknowledged(escrow))


def test_theft_report_cancellations_and_disputes_are_named(world: World) -> None:
    item = world.issue("R1")
    escrow, _ = open_escrow(world, item)
    world.add(world.insurer, item, pl.StolenReported(reference="X-1"))
    assert "(cancelled by the item's theft report" in refusal(
        world, BUYER, item, accepted(escrow))
    world.add(world.insurer, item, pl.Recovered())
    escrow, _ = open_escrow(world, item)
    world.add(BUYER, item, accepted(escrow))
    world.add(world.insurer, item, pl.StolenReported(reference="X-2"))
    world.add(world.insurer, item, pl.Recovered())
    message = refusal(world, BUYER, item, pl.EscrowRejected(escrow=escrow, reason="x"))
    assert "is disputed (disputed by a party, or by a theft report)" in message
    assert "[escrow rule: phase]" in message
