"""Owner keys (spec/recovery.md): rotation, recovery behind the time lock, and
each rule at its boundary. Refusals are exact error types and change nothing."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import provledger as pl
from provledger import _owner_keys
from provledger._note import NoteVerifier
from provledger._state import ItemState, RecoveryState, decode_state, encode_state
from provledger._status_page import render_status_page

from .aftercare import BUYER, DAY, STRANGER, at, plan, refused, request, sell
from .conftest import ORIGIN, World, key, make_world
from .test_history_schema import valid

NEW = key("owner new phone")
OTHER = key("someone else's new key")
LOCK = pl.RECOVERY_LOCK
LOG = key("log")


def start(new: pl.SigningKey = NEW, *, effective: int, reason: str = "lost phone"
          ) -> pl.RecoveryStarted:
    return pl.RecoveryStarted(new_owner=new.public_key, effective=effective, reason=reason)


def begin(w: World, item: str, signer: pl.SigningKey | None = None,
          new: pl.SigningKey = NEW) -> tuple[bytes, int]:
    """Start a recovery at the next second with the shortest lock; return id and effective."""
    t = w.clock.t + 1
    rid = at(w, t, signer or w.jeweler, item, start(new, effective=t + LOCK))
    return rid, t + LOCK


def owner(w: World, item: str) -> bytes:
    return w.ledger.item(item).owner


# -- rotation -------------------------------------------------------------------------------


def test_the_owner_rotates_to_a_new_key(world: World) -> None:
    item = world.issue("R1")
    world.add(world.owner, item, pl.OwnerRotated(new_owner=NEW.public_key))
    assert owner(world, item) == NEW.public_key
    # The old key no longer acts as owner; the new one does.
    refused(world, pl.UnauthorizedError, world.owner, item, pl.LostReported())
    refused(world, pl.UnauthorizedError, world.owner, item,
            pl.OwnerRotated(new_owner=OTHER.public_key), "recovery rule: owner-rotates")
    world.add(NEW, item, pl.LostReported())
    assert world.ledger.audit().size == len(world.ledger)


@pytest.mark.parametrize("who", ["jeweler", "workshop", "insurer", "stranger", "buyer"])
def test_only_the_owner_rotates(world: World, who: str) -> None:
    item = world.issue("R1")
    signer = {"stranger": STRANGER, "buyer": BUYER}.get(who) or getattr(world, who)
    refused(world, pl.UnauthorizedError, signer, item,
            pl.OwnerRotated(new_owner=NEW.public_key), "recovery rule: owner-rotates")


def test_rotation_needs_a_new_key_no_escrow_and_no_pending_recovery(world: World) -> None:
    item = world.issue("R1")
    refused(world, pl.PolicyError, world.owner, item,
            pl.OwnerRotated(new_owner=world.owner.public_key), "recovery rule: new-key")
    terms = pl.EscrowTerms(price_minor=100, currency="EUR", on_timeout="return")
    world.add(world.owner, item, pl.EscrowOpened(
        buyer=BUYER.public_key, terms=terms, condition=pl.ConditionReport(grade="good"),
        offer_expires=world.clock.t + 10, inspection_ends=world.clock.t + 20))
    refused(world, pl.StateError, world.owner, item,
            pl.OwnerRotated(new_owner=NEW.public_key), "recovery rule: not-in-escrow")
    # Once the offer expired unaccepted (log time), rotation is allowed again.
    at(world, world.clock.t + 11, world.owner, item, pl.OwnerRotated(new_owner=NEW.public_key))
    begin(world, item, new=OTHER)
    refused(world, pl.StateError, NEW, item, pl.OwnerRotated(new_owner=BUYER.public_key),
            "recovery rule: one-pending")


def test_rotation_while_lost_or_stolen_and_not_after_revocation(world: World) -> None:
    item = world.issue("R1")
    world.add(world.owner, item, pl.LostReported())
    world.add(world.owner, item, pl.OwnerRotated(new_owner=NEW.public_key))
    world.add(world.insurer, item, pl.StolenReported(notes="phone and ring taken"))
    world.add(NEW, item, pl.OwnerRotated(new_owner=OTHER.public_key))
    state = world.ledger.item(item)
    assert (state.owner, state.status) == (OTHER.public_key, "stolen")
    world.add(world.jeweler, item, pl.CertificateRevoked(reason="destroyed"))
    refused(world, pl.StateError, OTHER, item, pl.OwnerRotated(new_owner=NEW.public_key))


def test_rotation_drops_the_old_keys_consents(world: World) -> None:
    item = world.issue("R1")
    t = world.clock.t
    plan_id = at(world, t + 1, world.jeweler, item, plan(t, t + 400 * DAY))
    repair_id = at(world, t + 2, world.owner, item, request(t + 30 * DAY))
    at(world, t + 3, world.owner, item, pl.CareConsented(plan=plan_id, repair=repair_id, credits=1))
    assert len(world.ledger.item(item).consents) == 1
    at(world, t + 4, world.owner, item, pl.OwnerRotated(new_owner=NEW.public_key))
    state = world.ledger.item(item)
    assert state.consents == ()
    assert len(state.plans) == 1
    assert state.plans[0].status == "active"


# -- starting a recovery ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["jeweler", "insurer"])
def test_the_issuer_or_its_reporter_starts_a_recovery(world: World, who: str) -> None:
    item = world.issue("R1")
    rid, effective = begin(world, item, getattr(world, who))
    rec = world.ledger.item(item).recovery
    by = pl.authority_subject(getattr(world, who).public_key)
    assert rec == RecoveryState(id=rid, new_owner=NEW.public_key, started=effective - LOCK,
                                effective=effective, by=by, state="pending")
    assert owner(world, item) == world.owner.public_key  # not yet


@pytest.mark.parametrize(("who", "error"), [
    ("workshop", pl.UnauthorizedError), ("gemologist", pl.UnauthorizedError),
    ("owner", pl.UnauthorizedError), ("root", pl.UnauthorizedError),
    ("stranger", pl.UnknownKeyError), ("rival", pl.UnauthorizedError)])
def test_no_one_else_starts_a_recovery(world: World, who: str,
                                       error: type[pl.ProvLedgerError]) -> None:
    rival = key("rival")
    world.add(world.root, pl.authority_subject(rival.public_key),
              pl.RoleGranted(key=rival.public_key, name="Rival", role="issuer"))
    item = world.issue("R1")
    signer = {"stranger": STRANGER, "rival": rival}.get(who) or getattr(world, who)
    t = world.clock.t + 1
    refused(world, error, signer, item, start(effective=t + LOCK), "recovery rule: starter", t=t)


def test_a_rotated_out_issuer_key_cannot_start(world: World) -> None:
    item = world.issue("R1")
    fresh = key("jeweler 2027")
    world.add(world.jeweler, pl.authority_subject(world.jeweler.public_key),
              pl.KeyRotated(new_key=fresh.public_key))
    t = world.clock.t + 1
    refused(world, pl.RevokedKeyError, world.jeweler, item, start(effective=t + LOCK), t=t)
    at(world, t, fresh, item, start(effective=t + LOCK))


def test_the_time_lock_is_seven_days_of_log_time(world: World) -> None:
    item = world.issue("R1")
    t = world.clock.t + 1
    message = refused(world, pl.PolicyError, world.jeweler, item, start(effective=t + LOCK - 1),
                      "recovery rule: time-lock", t=t)
    assert str(t + LOCK) in message  # names the minimum
    # The statement's own time does not count: only the entry's log time.
    world.clock.t = t
    stmt = world.sign(world.jeweler, item, start(effective=t + LOCK), time=t - 200)
    world.ledger.append(stmt)
    assert world.ledger.item(item).recovery is not None


def test_no_recovery_in_escrow_and_one_at_a_time(world: World) -> None:
    item = world.issue("R1")
    terms = pl.EscrowTerms(price_minor=100, currency="EUR", on_timeout="return")
    world.add(world.owner, item, pl.EscrowOpened(
        buyer=BUYER.public_key, terms=terms, condition=pl.ConditionReport(grade="good"),
        offer_expires=world.clock.t + 10, inspection_ends=world.clock.t + 20))
    t = world.clock.t + 1
    refused(world, pl.StateError, world.jeweler, item, start(effective=t + LOCK),
            "recovery rule: not-in-escrow", t=t)
    world.clock.t += 20  # the offer expired
    rid, _ = begin(world, item)
    t = world.clock.t + 1
    refused(world, pl.StateError, world.insurer, item, start(OTHER, effective=t + LOCK),
            "recovery rule: one-pending", t=t)
    world.add(world.owner, item, pl.RecoveryCancelled(recovery=rid))
    begin(world, item, new=OTHER)


def test_the_new_key_must_differ(world: World) -> None:
    item = world.issue("R1")
    t = world.clock.t + 1
    refused(world, pl.PolicyError, world.jeweler, item, start(world.owner, effective=t + LOCK),
            "recovery rule: new-key", t=t)


# -- completion by time ----------------------------------------------------------------------


def test_a_recovery_completes_when_its_time_lock_ends(world: World) -> None:
    item = world.issue("R1")
    _, effective = begin(world, item)
    # One second before: the old key is still the owner and acts as one.
    at(world, effective - 1, world.owner, item, pl.LostReported())
    refused(world, pl.UnknownKeyError, NEW, item, pl.Recovered(), t=effective - 1)
    # At the effective second the new key owns the piece, without any entry.
    refused(world, pl.UnknownKeyError, world.owner, item, pl.Recovered(), t=effective)
    at(world, effective, NEW, item, pl.Recovered())
    state = world.ledger.item(item)
    assert state.owner == NEW.public_key
    assert state.status == "active"
    assert state.recovery is not None
    assert state.recovery.state == "completed"
    sell(world, item, NEW, BUYER, [])
    assert owner(world, item) == BUYER.public_key
    assert world.ledger.audit().size == len(world.ledger)


def test_completion_drops_consents_and_keeps_plans(world: World) -> None:
    item = world.issue("R1")
    t = world.clock.t
    plan_id = at(world, t + 1, world.jeweler, item, plan(t, t + 400 * DAY, transfer="ends"))
    repair_id = at(world, t + 2, world.owner, item, request(t + 30 * DAY))
    _, effective = begin(world, item)
    # The old key still consents while the recovery is pending.
    at(world, t + 10, world.owner, item,
       pl.CareConsented(plan=plan_id, repair=repair_id, credits=1))
    assert len(world.ledger.item(item).consents) == 1
    at(world, effective + 5, NEW, item, pl.LostReported())
    state = world.ledger.item(item)
    assert state.consents == ()
    assert state.plans[0].status == "active"  # a recovery is no change of owner


def test_recovery_of_a_stolen_piece(world: World) -> None:
    item = world.issue("R1")
    world.add(world.insurer, item, pl.StolenReported(notes="bag and phone stolen"))
    _, effective = begin(world, item, world.insurer)
    at(world, effective, world.insurer, item, pl.Recovered())
    state = world.ledger.item(item)
    assert (state.owner, state.status) == (NEW.public_key, "active")


def test_a_revoked_piece_never_completes_a_recovery(world: World) -> None:
    item = world.issue("R1")
    _, effective = begin(world, item)
    world.add(world.jeweler, item, pl.CertificateRevoked(reason="melted down"))
    state = world.ledger.item(item)
    assert _owner_keys.at(state, effective + 10).owner == world.owner.public_key


# -- cancelling -----------------------------------------------------------------------------


def test_the_old_key_cancels_at_the_last_second(world: World) -> None:
    item = world.issue("R1")
    rid, effective = begin(world, item)
    at(world, effective - 1, world.owner, item, pl.RecoveryCancelled(recovery=rid))
    state = world.ledger.item(item)
    assert state.recovery is not None
    assert state.recovery.state == "cancelled"
    assert _owner_keys.at(state, effective + DAY).owner == world.owner.public_key
    refused(world, pl.StateError, world.owner, item, pl.RecoveryCancelled(recovery=rid),
            "recovery rule: pending-only")


def test_no_cancel_once_the_time_lock_ended(world: World) -> None:
    item = world.issue("R1")
    rid, effective = begin(world, item)
    for signer in (world.owner, world.jeweler, NEW):
        refused(world, pl.StateError, signer, item, pl.RecoveryCancelled(recovery=rid),
                "recovery rule: pending-only", t=effective)


def test_the_starting_authority_cancels_with_any_current_key(world: World) -> None:
    item = world.issue("R1")
    rid, _ = begin(world, item, world.insurer)
    # Another reporter or the issuer did not start it.
    refused(world, pl.UnauthorizedError, world.jeweler, item,
            pl.RecoveryCancelled(recovery=rid), "recovery rule: canceller")
    # The key it would give the piece to is no one's yet.
    refused(world, pl.UnknownKeyError, NEW, item, pl.RecoveryCancelled(recovery=rid),
            "recovery rule: canceller")
    refused(world, pl.UnknownKeyError, STRANGER, item, pl.RecoveryCancelled(recovery=rid),
            "recovery rule: canceller")
    fresh = key("insurer 2027")
    world.add(world.insurer, pl.authority_subject(world.insurer.public_key),
              pl.KeyRotated(new_key=fresh.public_key))
    refused(world, pl.RevokedKeyError, world.insurer, item, pl.RecoveryCancelled(recovery=rid))
    world.add(fresh, item, pl.RecoveryCancelled(recovery=rid, notes="caller not the owner"))
    assert world.ledger.item(item).recovery.state == "cancelled"  # type: ignore[union-attr]


def test_a_cancel_names_the_items_recovery(world: World) -> None:
    item = world.issue("R1")
    refused(world, pl.PolicyError, world.owner, item,
            pl.RecoveryCancelled(recovery=bytes(32)), "recovery rule: known-recovery")
    other = world.issue("R2")
    rid_other, _ = begin(world, other)
    begin(world, item)
    refused(world, pl.PolicyError, world.owner, item, pl.RecoveryCancelled(recovery=rid_other),
            "recovery rule: known-recovery")


# -- a pending recovery freezes sales ----------------------------------------------------------


def test_no_escrow_while_a_recovery_is_pending(world: World) -> None:
    item = world.issue("R1")
    rid, effective = begin(world, item)
    terms = pl.EscrowTerms(price_minor=100, currency="EUR", on_timeout="return", direct=True)
    offer = pl.EscrowOpened(buyer=BUYER.public_key, terms=terms,
                            condition=pl.ConditionReport(grade="good"),
                            offer_expires=effective + 100)
    refused(world, pl.StateError, world.owner, item, offer,
            "recovery rule: no-sale-while-pending", t=effective - 1)
    # Completed: the new key sells; the old one cannot.
    refused(world, pl.UnauthorizedError, world.owner, item, offer, t=effective)
    at(world, effective, NEW, item, offer)
    assert world.ledger.item(item).escrow is not None
    assert world.ledger.item(item).recovery == RecoveryState(
        rid, NEW.public_key, effective - LOCK, effective,
        pl.authority_subject(world.jeweler.public_key), "completed")


def test_the_old_key_sells_again_after_cancelling(world: World) -> None:
    item = world.issue("R1")
    rid, _ = begin(world, item)
    world.add(world.owner, item, pl.RecoveryCancelled(recovery=rid))
    sell(world, item, world.owner, BUYER, [])
    assert owner(world, item) == BUYER.public_key


def test_a_sale_completed_first_makes_the_recovery_target_the_buyer(world: World) -> None:
    """A recovery racing a sale: whichever the log orders first decides."""
    item = world.issue("R1")
    sell(world, item, world.owner, BUYER, [])
    rid, effective = begin(world, item)
    at(world, effective - 1, BUYER, item, pl.RecoveryCancelled(recovery=rid))
    assert owner(world, item) == BUYER.public_key


# -- state storage and the verified model ------------------------------------------------------


def test_states_round_trip_and_old_states_stay_byte_identical(world: World) -> None:
    item = world.issue("R1")
    plain = world.ledger.item(item)
    assert b"recovery" not in encode_state(plain)
    begin(world, item)
    state = world.ledger.item(item)
    assert decode_state(encode_state(state)) == state
    assert isinstance(state, ItemState)
    bare = msgspec.structs.replace(state, recovery=None)
    assert encode_state(bare) == encode_state(msgspec.structs.replace(plain, events=bare.events))


def test_reports_show_a_pending_then_completed_recovery(world: World) -> None:
    item = world.issue("R1")
    rid, effective = begin(world, item, world.insurer)
    report = pl.item_report(world.ledger, item, now=effective - 1)
    pending = report.pending_recovery
    assert pending is not None
    assert pending.id == rid
    assert (pending.by_name, pending.reason) == ("Insurer", "lost phone")
    assert report.owner == world.owner.public_key
    warning = [w for w in report.warnings if "recovery pending" in w]
    assert len(warning) == 1
    assert pl.format_public_key(NEW.public_key) in warning[0]
    doc = valid(report.to_json())
    assert doc["recoveries"][0]["state"] == "pending"
    assert doc["recoveries"][0]["effective"] == pl.format_time(effective)
    later = pl.item_report(world.ledger, item, now=effective)
    assert later.pending_recovery is None
    assert later.owner == NEW.public_key
    assert later.recoveries[0].recovery.state == "completed"
    assert not any("recovery pending" in w for w in later.warnings)


def test_a_bundle_shows_the_recovery_at_its_checkpoint_time(tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    item = w.issue("R1")
    first, _ = begin(w, item)
    w.add(w.owner, item, pl.RecoveryCancelled(recovery=first))
    _, effective = begin(w, item)
    w.clock.t = effective - 1
    before = w.ledger.sign_checkpoint(LOG)
    data = w.ledger.export(item)
    policy = pl.Policy(logs=(NoteVerifier(ORIGIN, LOG.public_key),),
                       roots=(key("root").public_key,))
    report = pl.verify_bundle(data, policy=policy, now=before.time)
    assert [r.recovery.state for r in report.recoveries] == ["cancelled", "pending"]
    assert report.owner == w.owner.public_key
    assert any("recovery pending" in x for x in report.warnings)
    page = render_status_page(report, bundle_href="b.cbor", now=before.time)
    assert 'id="recovery-pending"' in page
    assert pl.format_public_key(NEW.public_key)[:20] in page
    w.clock.t = effective
    w.ledger.sign_checkpoint(LOG)
    report = pl.verify_bundle(w.ledger.export(item), policy=policy, now=effective)
    assert [r.recovery.state for r in report.recoveries] == ["cancelled", "completed"]
    assert [r["state"] for r in valid(report.to_json())["recoveries"]] == [
        "cancelled", "completed"]
    assert report.owner == NEW.public_key
    page = render_status_page(report, bundle_href="b.cbor", now=effective)
    assert 'id="recovery-pending"' not in page
    assert 'id="recoveries"' in page
    w.ledger.close()
