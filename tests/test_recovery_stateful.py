"""Owner keys against a plain reference model: random rotations, recoveries,
cancellations and sales by the right signers and the wrong ones.

A hypothesis state machine rotates the owner key, starts recoveries (by the
issuer, its reporter, its workshop, the owner, strangers; with time locks one
second short, exact and longer), cancels them (by the old key, the starter,
another authority, the would-be new key; naming the recovery or another),
moves the log clock to the seconds around a recovery's effective time (a
cancel at the last second, a completion by time), races sales against
recoveries, reports the piece stolen and recovered, and replays statements.
The model below is written from spec/recovery.md (and the escrow rules it
needs) without importing provledger's rules. After every step the ledger
must agree with it, and a refused step must have changed nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import provledger as pl

from .conftest import ORIGIN, T0, StepClock, key

PEOPLE = ("alice", "bob", "carol", "dave")
AUTHS = {"jeweler": "issuer", "insurer": "reporter", "workshop": "service"}
KEYS = {n: key(n) for n in (*PEOPLE, "mallory", "root", "log", *AUTHS)}
NAME_OF = {k.public_key: n for n, k in KEYS.items()}
LOCK = 604800
Expected = tuple[type[pl.ProvLedgerError], str | None] | None


def weighted(*choices: tuple[Any, int]) -> st.SearchStrategy[Any]:
    return st.sampled_from([v for v, w in choices for _ in range(w)])


@dataclass(frozen=True)
class Recovery:
    id: bytes
    new_owner: str
    started: int
    effective: int
    by: str
    state: str = "pending"


@dataclass(frozen=True)
class Offer:
    id: bytes
    buyer: str
    expires: int
    state: str = "offered"


@dataclass(frozen=True)
class Model:
    owner: str = "alice"
    status: str = "active"
    offer: Offer | None = None
    recovery: Recovery | None = None

    def at(self, t: int) -> Model:
        """Escrow deadlines, then a recovery's time lock, as of log time ``t``."""
        m = self
        if m.offer is not None and m.offer.state == "offered" and t > m.offer.expires:
            m = replace(m, offer=replace(m.offer, state="expired"))
        rec = m.recovery
        if rec is not None and rec.state == "pending" and t >= rec.effective:
            m = replace(m, owner=rec.new_owner, recovery=replace(rec, state="completed"))
        return m

    @property
    def in_escrow(self) -> bool:
        return self.offer is not None and self.offer.state == "offered"

    @property
    def pending(self) -> bool:
        return self.recovery is not None and self.recovery.state == "pending"


def refuse(m: Model, who: str, rule: str) -> Expected:
    """The error for a signer a rule did not admit (as _signers.refuse words it)."""
    if who not in AUTHS and who != m.owner:
        return pl.UnknownKeyError, rule
    return pl.UnauthorizedError, rule


def decide(before: Model, who: str, ev: pl.Event, t: int,
           stmt_hash: bytes) -> tuple[Expected, Model]:
    """What spec/recovery.md (and escrow.md) say happens to ``ev`` signed by ``who``."""
    m = before.at(t)
    if isinstance(ev, pl.OwnerRotated):
        new = NAME_OF[ev.new_owner]
        if who != m.owner:
            return (pl.UnauthorizedError, "recovery rule: owner-rotates"), before
        if m.in_escrow:
            return (pl.StateError, "recovery rule: not-in-escrow"), before
        if m.pending:
            return (pl.StateError, "recovery rule: one-pending"), before
        if new == m.owner:
            return (pl.PolicyError, "recovery rule: new-key"), before
        return None, replace(m, owner=new)
    if isinstance(ev, pl.RecoveryStarted):
        new = NAME_OF[ev.new_owner]
        if who not in ("jeweler", "insurer"):
            return refuse(m, who, "recovery rule: starter"), before
        if m.in_escrow:
            return (pl.StateError, "recovery rule: not-in-escrow"), before
        if m.pending:
            return (pl.StateError, "recovery rule: one-pending"), before
        if new == m.owner:
            return (pl.PolicyError, "recovery rule: new-key"), before
        if ev.effective < t + LOCK:
            return (pl.PolicyError, "recovery rule: time-lock"), before
        return None, replace(m, recovery=Recovery(stmt_hash, new, t, ev.effective, who))
    if isinstance(ev, pl.RecoveryCancelled):
        rec = m.recovery
        if rec is None or rec.id != ev.recovery:
            return (pl.PolicyError, "recovery rule: known-recovery"), before
        if rec.state != "pending":
            return (pl.StateError, "recovery rule: pending-only"), before
        if who not in (m.owner, rec.by):
            return refuse(m, who, "recovery rule: canceller"), before
        return None, replace(m, recovery=replace(rec, state="cancelled"))
    if isinstance(ev, pl.EscrowOpened):
        if who != m.owner:
            return (pl.UnauthorizedError, "escrow rule: owner-opens"), before
        if m.status != "active":
            return (pl.StateError, "escrow rule: frozen"), before
        if m.pending:
            return (pl.StateError, "recovery rule: no-sale-while-pending"), before
        if m.in_escrow:
            return (pl.StateError, "escrow rule: one-open-escrow"), before
        if NAME_OF[ev.buyer] == who:
            return (pl.PolicyError, "escrow rule: valid-offer"), before
        return None, replace(m, offer=Offer(stmt_hash, NAME_OF[ev.buyer], ev.offer_expires))
    if isinstance(ev, pl.EscrowAccepted):
        offer = m.offer
        assert offer is not None
        assert offer.id == ev.escrow
        if offer.state != "offered":
            return (pl.StateError, "escrow rule: terminal"), before
        if who != offer.buyer:
            return (pl.UnauthorizedError, "escrow rule: party"), before
        if m.status != "active":
            return (pl.StateError, "escrow rule: frozen"), before
        return None, replace(m, owner=offer.buyer, offer=replace(offer, state="completed"))
    if isinstance(ev, pl.StolenReported):
        if m.status == "stolen":
            return (pl.StateError, None), before
        offer = m.offer
        if m.in_escrow:
            assert offer is not None
            offer = replace(offer, state="cancelled")
        return None, replace(m, status="stolen", offer=offer)
    assert isinstance(ev, pl.Recovered)
    if m.status not in ("lost", "stolen"):
        return (pl.StateError, None), before
    return None, replace(m, status="active")


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class RecoveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="recovery-sm-"))
        self.clock = StepClock(T0)
        self.ledger = pl.Ledger.create(self.dir / "l.db", origin=ORIGIN,
                                       root_key=KEYS["root"].public_key,
                                       log_key=KEYS["log"].public_key, clock=self.clock)
        jeweler = KEYS["jeweler"]
        self._add("root", pl.authority_subject(jeweler.public_key),
                  pl.RoleGranted(key=jeweler.public_key, name="Jeweler", role="issuer"))
        for name in ("insurer", "workshop"):
            self._add("jeweler", pl.authority_subject(KEYS[name].public_key),
                      pl.RoleGranted(key=KEYS[name].public_key, name=name,
                                     role=AUTHS[name]))  # type: ignore[arg-type]
        self.item = pl.serial_item_id(jeweler.public_key, "R1")
        self._add("jeweler", self.item, pl.CertificateIssued(
            kind="ring", serial="R1", owner=KEYS["alice"].public_key))
        self.model = Model()
        self.appended: list[bytes] = []
        self.recoveries: list[bytes] = []

    def teardown(self) -> None:
        try:
            assert self.ledger.audit().size == len(self.ledger)
        finally:
            self.ledger.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _add(self, who: str, subject: str, ev: pl.Event) -> None:
        self.ledger.append(pl.sign_statement(ev, key=KEYS[who], origin=ORIGIN, subject=subject,
                                             prev=self.ledger.head(subject), time=self.clock.t))

    def submit(self, who: str, ev: pl.Event) -> None:
        """Sign on the item's head and append; the outcome must be the model's."""
        t = self.clock.t
        stmt = pl.sign_statement(ev, key=KEYS[who], origin=ORIGIN, subject=self.item,
                                 prev=self.ledger.head(self.item), time=t)
        expect, after = decide(self.model, who, ev, t, sha(stmt))
        if stmt in self.appended:
            expect = (pl.DuplicateStatementError, None)
        size = len(self.ledger)
        event(f"{ev.TYPE}: {expect[1] or expect[0].__name__ if expect else 'appended'}")
        if after.recovery is not None and after.recovery.state != "pending" and (
                self.model.recovery is None or self.model.recovery.state == "pending"):
            event(f"recovery {after.recovery.state} at effective"
                  f"{t - after.recovery.effective:+d}"[:40])
        if expect is None:
            rec = self.ledger.append(stmt)
            assert rec.time == t
            self.model = after
            self.appended.append(stmt)
            if isinstance(ev, pl.RecoveryStarted):
                self.recoveries.append(rec.hash)
            return
        error, rule_name = expect
        with pytest.raises(pl.ProvLedgerError) as info:
            self.ledger.append(stmt)
        assert type(info.value) is error, (who, ev, info.value)
        if rule_name is not None:
            assert f"[{rule_name}]" in str(info.value), info.value
        assert len(self.ledger) == size

    # -- the clock ----------------------------------------------------------------

    @rule(move=weighted(((None, 1), 2), ((None, 60), 2), ((None, LOCK // 2), 1),
                        (("effective", -1), 3), (("effective", 0), 2), (("effective", 1), 1),
                        (("expires", 1), 1)))
    def time_passes(self, move: tuple[str | None, int]) -> None:
        """Let time pass, or jump to a second around the recovery's effective time."""
        what, offset = move
        rec, offer = self.model.recovery, self.model.offer
        if what is None:
            self.clock.t += offset
        elif what == "effective" and rec is not None:
            self.clock.t = max(self.clock.t, rec.effective + offset)
        elif what == "expires" and offer is not None:
            self.clock.t = max(self.clock.t, offer.expires + offset)

    # -- owner keys -----------------------------------------------------------------

    @rule(who=weighted(("owner", 6), ("previous", 2), ("mallory", 1), ("jeweler", 1)),
          new=st.sampled_from(PEOPLE))
    def rotate(self, who: str, new: str) -> None:
        signer = {"owner": self.model.at(self.clock.t).owner,
                  "previous": self.model.owner}.get(who, who)
        self.submit(signer, pl.OwnerRotated(new_owner=KEYS[new].public_key))

    @rule(who=weighted(("jeweler", 5), ("insurer", 5), ("workshop", 1), ("owner", 1),
                       ("mallory", 1)),
          new=st.sampled_from(PEOPLE), lock=weighted((LOCK - 1, 1), (LOCK, 4), (LOCK + 60, 2)))
    def start(self, who: str, new: str, lock: int) -> None:
        signer = self.model.at(self.clock.t).owner if who == "owner" else who
        self.submit(signer, pl.RecoveryStarted(new_owner=KEYS[new].public_key,
                                               effective=self.clock.t + lock,
                                               reason="lost phone"))

    @precondition(lambda self: self.recoveries)
    @rule(who=weighted(("owner", 5), ("starter", 3), ("jeweler", 1), ("insurer", 1),
                       ("workshop", 1), ("new", 1), ("mallory", 1)),
          which=weighted(("latest", 8), ("earlier", 1), ("bogus", 1)))
    def cancel(self, who: str, which: str) -> None:
        rec = self.model.recovery
        assert rec is not None
        signer = {"owner": self.model.at(self.clock.t).owner, "starter": rec.by,
                  "new": rec.new_owner}.get(who, who)
        named = {"latest": self.recoveries[-1], "earlier": self.recoveries[0],
                 "bogus": sha(b"no such recovery")}[which]
        self.submit(signer, pl.RecoveryCancelled(recovery=named))

    @precondition(lambda self: self.model.pending)
    @rule(who=weighted(("owner", 3), ("starter", 1)))
    def cancel_at_the_last_second(self, who: str) -> None:
        """The old key (or the starter) cancels at effective - 1: still in time."""
        rec = self.model.recovery
        assert rec is not None
        self.clock.t = max(self.clock.t, rec.effective - 1)
        self.cancel(who, "latest")

    @precondition(lambda self: self.model.pending)
    @rule(offset=st.sampled_from([0, 0, 1, 3600]), new=st.sampled_from(PEOPLE))
    def completion_by_time(self, offset: int, new: str) -> None:
        """At the effective second the new key owns the piece: it rotates on at once."""
        rec = self.model.recovery
        assert rec is not None
        self.clock.t = max(self.clock.t, rec.effective + offset)
        self.rotate("owner", new)

    @precondition(lambda self: self.model.pending or self.model.in_escrow)
    @rule(buyer=st.sampled_from(PEOPLE), new=st.sampled_from(PEOPLE))
    def race(self, buyer: str, new: str) -> None:
        """A sale against a pending recovery, or a recovery against an open sale:
        the log's order decides, and the later one is refused."""
        if self.model.pending:
            self.offer(buyer, "owner")
        else:
            self.start("jeweler", new, LOCK)

    # -- sales, theft ----------------------------------------------------------------

    @rule(buyer=st.sampled_from(PEOPLE), who=weighted(("owner", 6), ("previous", 1)))
    def offer(self, buyer: str, who: str) -> None:
        """A direct sale offered: races a recovery for the log's order."""
        signer = self.model.at(self.clock.t).owner if who == "owner" else self.model.owner
        terms = pl.EscrowTerms(price_minor=1000, currency="EUR", on_timeout="return",
                               direct=True)
        self.submit(signer, pl.EscrowOpened(buyer=KEYS[buyer].public_key, terms=terms,
                                            condition=pl.ConditionReport(grade="good"),
                                            offer_expires=self.clock.t + 30))

    @precondition(lambda self: self.model.offer is not None)
    @rule()
    def accept(self) -> None:
        offer = self.model.offer
        assert offer is not None
        terms = pl.EscrowTerms(price_minor=1000, currency="EUR", on_timeout="return",
                               direct=True)
        self.submit(offer.buyer, pl.EscrowAccepted(
            escrow=offer.id, terms_hash=pl.terms_hash(terms),
            condition_hash=pl.condition_hash(pl.ConditionReport(grade="good"))))

    @rule(what=st.sampled_from(["stolen", "recovered"]), dice=st.integers(0, 2))
    def flag(self, what: str, dice: int) -> None:
        """A stolen piece can still be recovered to a new key (now and then: theft
        freezes sales)."""
        if dice:
            return
        self.submit("insurer", pl.StolenReported(reference="CLAIM-1") if what == "stolen"
                    else pl.Recovered())

    @precondition(lambda self: self.appended)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        stmt = data.draw(st.sampled_from(self.appended))
        size = len(self.ledger)
        with pytest.raises(pl.DuplicateStatementError):
            self.ledger.append(stmt)
        assert len(self.ledger) == size

    # -- what must always hold ---------------------------------------------------------

    @invariant()
    def ledger_agrees_with_the_model(self) -> None:
        state = self.ledger.item(self.item)
        m = self.model
        assert (NAME_OF[state.owner], state.status) == (m.owner, m.status)
        rec = state.recovery
        got = None if rec is None else Recovery(
            rec.id, NAME_OF[rec.new_owner], rec.started, rec.effective,
            NAME_OF[KEYS_BY_CHAIN[rec.by]], rec.state)
        assert got == m.recovery

    @invariant()
    def reports_judge_the_time_lock_by_time(self) -> None:
        now = self.clock.t
        report = pl.item_report(self.ledger, self.item, now=now)
        expected = self.model.at(now)
        assert NAME_OF[report.owner] == expected.owner
        pending = report.pending_recovery
        assert (pending is not None) == expected.pending
        assert [v.id for v in report.recoveries] == self.recoveries
        # Nothing pending ever sits beside an open sale.
        assert not (expected.pending and expected.in_escrow)


KEYS_BY_CHAIN = {pl.authority_subject(KEYS[n].public_key): KEYS[n].public_key for n in AUTHS}

TestRecovery = RecoveryMachine.TestCase
TestRecovery.settings = settings(max_examples=100, stateful_step_count=30, deadline=None,
                                 suppress_health_check=[HealthCheck.too_slow])
