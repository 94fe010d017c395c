"""Helpers for the aftercare tests (spec/aftercare.md): a world with a rival
issuer and its workshop, plan and repair builders, and a refusal check."""

from __future__ import annotations

import hashlib

import pytest

import provledger as pl

from .conftest import World, grant, key, snapshot

RIVAL = key("rival")
RIVAL_BENCH = key("rival bench")
STRANGER = key("stranger")
BUYER = key("buyer")
DAY = 86400
TERMS = hashlib.sha256(b"published plan terms").digest()
COND = pl.ConditionReport(grade="worn", photos=[hashlib.sha256(b"arrival").digest()])


def with_rival(w: World) -> World:
    """``w`` plus a second issuer (RIVAL) and a service authority of it (RIVAL_BENCH)."""
    grant(w, w.root, RIVAL, "issuer", "Rival Jewels")
    grant(w, RIVAL, RIVAL_BENCH, "service", "Rival Bench")
    return w


def plan(start: int, ends: int, *, transfer: str = "with_piece", credits: int = 2,
         minor: int = 0, no_consent: bool = False, tier: str = "Gold") -> pl.CareEnrolled:
    return pl.CareEnrolled(tier=tier, starts=start, ends=ends, terms=TERMS,
                           transfer=transfer, credits=credits,  # type: ignore[arg-type]
                           credit_minor=minor, currency="EUR" if minor else None,
                           no_consent=no_consent)


def request(promised: int, work: str = "Re-tip claws") -> pl.RepairRequested:
    return pl.RepairRequested(work=work, category="repair", promised=promised)


def at(w: World, t: int, signer: pl.SigningKey, item: str, event: pl.Event) -> bytes:
    """Append ``event`` at log time ``t``; return its statement hash."""
    w.clock.t = t
    return w.ledger.append(w.sign(signer, item, event)).hash


def add(w: World, signer: pl.SigningKey, item: str, event: pl.Event) -> bytes:
    return w.add(signer, item, event).hash


def refused(w: World, error: type[pl.ProvLedgerError], signer: pl.SigningKey, item: str,
            event: pl.Event, rule: str | None = None, *, t: int | None = None) -> str:
    """Appending at log time ``t`` (default: the next second) must raise exactly
    ``error`` naming ``rule`` ("care rule: x"), and change nothing; returns the message."""
    before = snapshot(w.path)
    saved = w.clock.t
    w.clock.t = saved + 1 if t is None else t
    try:
        with pytest.raises(error) as info:
            w.ledger.append(w.sign(signer, item, event))
    finally:
        w.clock.t = saved
    assert type(info.value) is error, info.value
    if rule is not None:
        assert f"[{rule}]" in str(info.value), info.value
    assert snapshot(w.path) == before
    return str(info.value)


def sell(w: World, item: str, seller: pl.SigningKey, buyer: pl.SigningKey,
         plans: list[bytes]) -> bytes:
    """A direct sale of ``item`` listing ``plans``; returns the escrow id."""
    terms = pl.EscrowTerms(price_minor=1000, currency="EUR", on_timeout="return",
                           direct=True, plans=plans)
    cond = pl.ConditionReport(grade="good")
    esc = add(w, seller, item, pl.EscrowOpened(buyer=buyer.public_key, terms=terms,
                                               condition=cond, offer_expires=w.clock.t + 100))
    add(w, buyer, item, pl.EscrowAccepted(escrow=esc, terms_hash=pl.terms_hash(terms),
                                          condition_hash=pl.condition_hash(cond)))
    return esc


def offer(w: World, item: str, seller: pl.SigningKey, buyer: pl.SigningKey,
          plans: list[bytes]) -> bytes:
    """An open (inspection) offer of ``item`` listing ``plans``; returns the escrow id."""
    terms = pl.EscrowTerms(price_minor=1000, currency="EUR", on_timeout="return", plans=plans)
    return add(w, seller, item, pl.EscrowOpened(
        buyer=buyer.public_key, terms=terms, condition=pl.ConditionReport(grade="good"),
        offer_expires=w.clock.t + 100, inspection_ends=w.clock.t + 1000))
