"""Aftercare against a plain reference model: random plans, credits and repairs.

A hypothesis state machine enrols, renews and cancels care plans, consents to
and redeems credits, and moves repairs through their states, signed by the
right parties and the wrong ones (a thief, a former owner, another issuer and
its workshop); replays statements and re-signs their bodies on the current
head; moves the log clock onto the exact seconds around a plan's start and
end and a repair's promise; sells the piece mid-plan and mid-repair through a
direct escrow; and reports it stolen and recovered. The model below is
written from spec/aftercare.md alone (it imports none of provledger's rules).
After every step the ledger must agree with it, the invariants must hold, and
a refused step must have left the ledger as it was.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import provledger as pl

from .conftest import ORIGIN, T0, StepClock, key

OWNERS = ("alice", "bob", "carol")
AUTHORITIES = ("jeweler", "workshop", "rival", "bench", "insurer")
KEYS = {n: key(n) for n in (*OWNERS, *AUTHORITIES, "thief", "root", "log")}
NAME_OF = {k.public_key: n for n, k in KEYS.items()}
CHAIN_OF = {pl.authority_subject(KEYS[n].public_key): n for n in AUTHORITIES}
ISSUERS = {"jeweler", "rival"}
#: (service authority, the issuer that granted it the role)
SERVES = {("workshop", "jeweler"), ("bench", "rival")}
LIVE = ("active", "pending")
WORKING = ("received", "in_progress", "waiting_parts")
TERMS = hashlib.sha256(b"terms").digest()
Expected = tuple[type[pl.ProvLedgerError], str | None] | None
Outcome = tuple[Expected, "Model"]


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass
class Plan:
    id: bytes
    provider: str
    starts: int
    ends: int
    transfer: str
    credits: int
    minor: int
    currency: str
    no_consent: bool
    status: str = "active"

    def at(self, t: int) -> str:
        if self.status != "active":
            return self.status
        if t > self.ends:
            return "expired"
        return "pending" if t < self.starts else "active"


@dataclass
class Repair:
    id: bytes
    status: str
    workshop: str
    requested: int
    promised: int = 0
    ready: int = 0
    at_workshop: bool = False
    paid_by: bytes | None = None

    @property
    def open(self) -> bool:
        return self.at_workshop or self.status not in ("collected", "cancelled")


@dataclass
class Consent:
    id: bytes
    plan: bytes
    repair: bytes
    credits: int
    minor: int


@dataclass
class Model:
    owner: str = "alice"
    status: str = "active"
    #: The latest escrow: id, buyer, offer_expires, state (direct offers only).
    escrow: tuple[bytes, str, int, str] | None = None
    plans: list[Plan] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)

    def copy(self) -> Model:
        return Model(self.owner, self.status, self.escrow, [replace(p) for p in self.plans],
                     [replace(r) for r in self.repairs], [replace(c) for c in self.consents])

    def escrow_open(self, t: int) -> bool:
        return self.escrow is not None and self.escrow[3] == "offered" and t <= self.escrow[2]

    def plan(self, pid: bytes) -> Plan | None:
        return next((p for p in self.plans if p.id == pid), None)

    def repair(self, rid: bytes) -> Repair | None:
        return next((r for r in self.repairs if r.id == rid), None)


def signer_error(m: Model, who: str) -> type[pl.ProvLedgerError]:
    """A signer a rule does not admit: unknown unless an authority or the owner."""
    return pl.UnauthorizedError if who in AUTHORITIES or who == m.owner else pl.UnknownKeyError


def serves(m: Model, who: str, t: int) -> bool:
    """A service authority of the item's issuer, or of an active plan's provider."""
    return (who, "jeweler") in SERVES or any(
        (who, p.provider) in SERVES for p in m.plans if p.at(t) == "active")


def decide(m: Model, who: str, ev: pl.Event, t: int, h: bytes) -> Outcome:
    """What spec/aftercare.md (and escrow.md for the sale) says happens to ``ev``."""
    n = m.copy()
    if n.escrow is not None and n.escrow[3] == "offered" and t > n.escrow[2]:
        n.escrow = (*n.escrow[:3], "expired")
    m = n.copy()  # deadlines apply before any check; a refusal still changes nothing stored
    if isinstance(ev, pl.CareEnrolled | pl.CareRenewed | pl.CareCancelled | pl.CareConsented
                  | pl.CareRedeemed):
        return _care(m, n, who, ev, t, h)
    if isinstance(ev, pl.RepairRequested | pl.RepairReceived | pl.RepairProgress
                  | pl.RepairReady | pl.RepairCollected | pl.RepairCancelled):
        return _repair(m, n, who, ev, t, h)
    return _other(m, n, who, ev, t, h)


def _care(m: Model, n: Model, who: str, ev: pl.Event, t: int, h: bytes) -> Outcome:
    esc = m.escrow_open(t)
    if isinstance(ev, pl.CareEnrolled):
        if who in ISSUERS:
            provider = who
        elif (who, "jeweler") in SERVES:
            provider = "jeweler"
        else:
            return (signer_error(m, who), "care rule: provider"), m
        if m.status != "active":
            return (pl.StateError, "care rule: active-item"), m
        if ev.starts > ev.ends or ev.ends < t or (ev.currency is not None) != (
                ev.credit_minor > 0):
            return (pl.PolicyError, "care rule: valid-plan"), m
        if any(p.provider == provider and p.at(t) in LIVE for p in m.plans):
            return (pl.StateError, "care rule: one-plan-per-provider"), m
        if esc:
            return (pl.StateError, "care rule: frozen-in-escrow"), m
        n.plans.append(Plan(h, provider, ev.starts, ev.ends, ev.transfer, ev.credits,
                            ev.credit_minor, ev.currency or "", ev.no_consent))
        return None, n
    if isinstance(ev, pl.CareConsented):
        if who != m.owner:
            return (pl.UnauthorizedError, "care rule: owner-consents"), m
        if esc:
            return (pl.StateError, "escrow rule: one-open-escrow"), m
        if m.status != "active":
            return (pl.StateError, "care rule: active-item"), m
    assert isinstance(ev, pl.CareRenewed | pl.CareCancelled | pl.CareConsented
                      | pl.CareRedeemed)
    plan = n.plan(ev.plan)
    if plan is None:
        return (pl.PolicyError, "care rule: known-plan"), m
    provider_ok = who == plan.provider or (who, plan.provider) in SERVES
    if isinstance(ev, pl.CareRenewed):
        if not provider_ok:
            return (signer_error(m, who), "care rule: provider"), m
        if plan.status != "active":
            return (pl.StateError, "care rule: live-plan"), m
        if ev.ends <= plan.ends or ev.ends < t or (ev.credit_minor and not plan.currency):
            return (pl.PolicyError, "care rule: valid-renewal"), m
        expired = plan.at(t) == "expired"
        if expired and any(p.provider == plan.provider and p.at(t) in LIVE for p in m.plans):
            return (pl.StateError, "care rule: one-plan-per-provider"), m
        plan.credits = ev.credits + (0 if expired else plan.credits)
        plan.minor = ev.credit_minor + (0 if expired else plan.minor)
        plan.ends = ev.ends
        return None, n
    if isinstance(ev, pl.CareCancelled):
        if who != plan.provider:
            return (signer_error(m, who), "care rule: provider"), m
        if plan.at(t) not in LIVE:
            return (pl.StateError, "care rule: live-plan"), m
        if esc:
            return (pl.StateError, "care rule: frozen-in-escrow"), m
        plan.status, plan.credits, plan.minor = "cancelled", 0, 0
        n.consents = [c for c in n.consents if c.plan != plan.id]
        return None, n
    if isinstance(ev, pl.CareRedeemed):
        if not provider_ok:
            return (signer_error(m, who), "care rule: provider"), m
        if esc:
            return (pl.StateError, "care rule: frozen-in-escrow"), m
    if plan.at(t) != "active":
        return (pl.StateError, "care rule: active-plan"), m
    repair = n.repair(ev.repair)
    if repair is None:
        return (pl.PolicyError, "repair rule: known-repair"), m
    if repair.status == "cancelled" or repair.paid_by is not None:
        return (pl.StateError, "care rule: payable-repair"), m
    if not ev.credits and not ev.credit_minor:
        return (pl.PolicyError, "care rule: amount"), m
    if ev.credits > plan.credits or ev.credit_minor > plan.minor:
        return (pl.StateError, "care rule: credits"), m
    if isinstance(ev, pl.CareConsented):
        n.consents = [c for c in n.consents if (c.plan, c.repair) != (plan.id, repair.id)]
        n.consents.append(Consent(h, plan.id, repair.id, ev.credits, ev.credit_minor))
        return None, n
    if ev.consent is not None:
        c = next((c for c in n.consents if c.id == ev.consent), None)
        if c is None or (c.plan, c.repair) != (plan.id, repair.id) or (
                ev.credits > c.credits or ev.credit_minor > c.minor):
            return (pl.PolicyError, "care rule: consent"), m
    elif not plan.no_consent:
        return (pl.UnauthorizedError, "care rule: consent"), m
    plan.credits -= ev.credits
    plan.minor -= ev.credit_minor
    repair.paid_by = plan.id
    n.consents = [c for c in n.consents if c.repair != repair.id]
    return None, n


def _repair(m: Model, n: Model, who: str, ev: pl.Event, t: int, h: bytes) -> Outcome:
    esc = m.escrow_open(t)
    if isinstance(ev, pl.RepairRequested):
        workshop = ""
        if who == m.owner:
            if esc:
                return (pl.StateError, "escrow rule: one-open-escrow"), m
        elif serves(m, who, t):
            workshop = who
        else:
            return (signer_error(m, who), "repair rule: requester"), m
        if m.status != "active":
            return (pl.StateError, "repair rule: active-item"), m
        if any(r.open for r in m.repairs):
            return (pl.StateError, "repair rule: one-open-repair"), m
        if ev.promised < t:
            return (pl.PolicyError, "repair rule: promise"), m
        n.repairs.append(Repair(h, "requested", workshop, t, ev.promised))
        return None, n
    assert isinstance(ev, pl.RepairReceived | pl.RepairProgress | pl.RepairReady
                      | pl.RepairCollected | pl.RepairCancelled)
    r = n.repair(ev.repair)
    if r is None:
        return (pl.PolicyError, "repair rule: known-repair"), m
    if not r.open:
        return (pl.StateError, "repair rule: open-repair"), m
    if isinstance(ev, pl.RepairReceived):
        if not serves(m, who, t) or (r.workshop and who != r.workshop):
            return (signer_error(m, who), "repair rule: workshop"), m
        if r.status != "requested":
            return (pl.StateError, "repair rule: transition"), m
        if esc:
            return (pl.StateError, "repair rule: frozen-in-escrow"), m
        r.status, r.at_workshop, r.workshop = "received", True, who
        return None, n
    owner_may = isinstance(ev, pl.RepairCollected | pl.RepairCancelled)
    if owner_may and who == m.owner:
        if esc:
            return (pl.StateError, "escrow rule: one-open-escrow"), m
    elif not r.workshop or who != r.workshop:
        return (signer_error(m, who), "repair rule: workshop"), m
    if isinstance(ev, pl.RepairProgress | pl.RepairReady):
        if r.status not in WORKING:
            return (pl.StateError, "repair rule: transition"), m
        if isinstance(ev, pl.RepairProgress):
            r.status = ev.stage
        else:
            r.status, r.ready = "ready", t
        return None, n
    if isinstance(ev, pl.RepairCollected):
        if r.status not in ("ready", "cancelled"):
            return (pl.StateError, "repair rule: transition"), m
        r.at_workshop = False
        if r.status == "ready":
            r.status = "collected"
        return None, n
    if r.status not in ("requested", *WORKING, "ready"):
        return (pl.StateError, "repair rule: transition"), m
    if r.paid_by is not None:
        return (pl.StateError, "repair rule: paid"), m
    r.status = "cancelled"
    n.consents = [c for c in n.consents if c.repair != r.id]
    return None, n


def _other(m: Model, n: Model, who: str, ev: pl.Event, t: int, h: bytes) -> Outcome:
    if isinstance(ev, pl.RepairRecorded):
        if who != m.owner and (who, "jeweler") not in SERVES:
            return (signer_error(m, who), None), m
        if who == m.owner and m.escrow_open(t):
            return (pl.StateError, "escrow rule: one-open-escrow"), m
        if m.plans:
            n.repairs.append(Repair(h, "collected", "" if who == m.owner else who, t,
                                    ready=t))
        return None, n
    if isinstance(ev, pl.EscrowOpened):
        if who != m.owner:
            return (pl.UnauthorizedError, "escrow rule: owner-opens"), m
        if m.status != "active":
            return (pl.StateError, "escrow rule: frozen"), m
        if m.escrow_open(t):
            return (pl.StateError, "escrow rule: one-open-escrow"), m
        if any(r.at_workshop for r in m.repairs):
            return (pl.StateError, "escrow rule: at-workshop"), m
        expected = [p.id for p in m.plans if p.transfer == "with_piece" and p.at(t) in LIVE]
        if NAME_OF[ev.buyer] == who or ev.offer_expires < t or list(ev.terms.plans) != expected:
            return (pl.PolicyError, "escrow rule: valid-offer"), m
        n.escrow = (h, NAME_OF[ev.buyer], ev.offer_expires, "offered")
        return None, n
    if isinstance(ev, pl.EscrowAccepted | pl.EscrowCancelled):
        if n.escrow is None or n.escrow[0] != ev.escrow:
            return (pl.StateError, "escrow rule: current-escrow"), m
        if n.escrow[3] != "offered":
            return (pl.StateError, "escrow rule: terminal"), m
        party = n.escrow[1] if isinstance(ev, pl.EscrowAccepted) else m.owner
        if who != party:
            return (pl.UnauthorizedError, "escrow rule: party"), m
        if m.status != "active":
            return (pl.StateError, "escrow rule: frozen"), m
        if isinstance(ev, pl.EscrowCancelled):
            n.escrow = (*n.escrow[:3], "cancelled")
            return None, n
        n.escrow = (*n.escrow[:3], "completed")
        n.owner = n.escrow[1]
        for p in n.plans:  # the transfer rule
            if p.transfer == "ends" and p.at(t) in LIVE:
                p.status, p.credits, p.minor = "ended", 0, 0
        n.consents = []
        return None, n
    if isinstance(ev, pl.StolenReported):
        if m.status == "stolen":
            return (pl.StateError, None), m
        n.status = "stolen"
        if m.escrow_open(t):
            assert n.escrow is not None
            n.escrow = (*n.escrow[:3], "cancelled")
        return None, n
    assert isinstance(ev, pl.Recovered)
    if m.status != "stolen":
        return (pl.StateError, None), m
    n.status = "active"
    return None, n


# Who signs: mostly the party the protocol expects, sometimes anyone else.
def weighted(*choices: tuple[object, int]) -> st.SearchStrategy[object]:
    return st.sampled_from([v for v, w in choices for _ in range(w)])


anyone = st.sampled_from([*OWNERS, *AUTHORITIES, "thief", "owner", "owner"])


class AftercareMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="aftercare-sm-"))
        self.clock = StepClock(T0)
        self.ledger = pl.Ledger.create(self.dir / "l.db", origin=ORIGIN,
                                       root_key=KEYS["root"].public_key,
                                       log_key=KEYS["log"].public_key, clock=self.clock)
        for who, name, role in (("root", "jeweler", "issuer"), ("root", "rival", "issuer"),
                                ("jeweler", "workshop", "service"),
                                ("rival", "bench", "service"),
                                ("jeweler", "insurer", "reporter")):
            self._add(who, pl.authority_subject(KEYS[name].public_key), pl.RoleGranted(
                key=KEYS[name].public_key, name=name, role=role))  # type: ignore[arg-type]
        self.item = pl.serial_item_id(KEYS["jeweler"].public_key, "R1")
        self._add("jeweler", self.item, pl.CertificateIssued(
            kind="ring", serial="R1", owner=KEYS["alice"].public_key))
        self.model = Model()
        self.appended: list[bytes] = []
        self.bodies: list[tuple[str, pl.Event]] = []
        #: Every redemption appended: (repair, plan, credits, minor).
        self.paid: list[tuple[bytes, bytes, int, int]] = []
        self.granted: dict[bytes, tuple[int, int]] = {}

    def teardown(self) -> None:
        try:
            assert self.ledger.audit().size == len(self.ledger)
        finally:
            self.ledger.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _add(self, who: str, subject: str, ev: pl.Event) -> None:
        self.clock.t += 1
        self.ledger.append(pl.sign_statement(ev, key=KEYS[who], origin=ORIGIN, subject=subject,
                                             prev=self.ledger.head(subject), time=self.clock.t))

    def who(self, name: str) -> str:
        return self.model.owner if name == "owner" else name

    def submit(self, who: str, ev: pl.Event) -> None:
        """Sign on the item's head at the log time and append; compare with the model."""
        who = self.who(who)
        t = self.clock.t
        stmt = pl.sign_statement(ev, key=KEYS[who], origin=ORIGIN, subject=self.item,
                                 prev=self.ledger.head(self.item), time=t)
        expect, after = decide(self.model, who, ev, t, sha(stmt))
        if stmt in self.appended:
            expect = (pl.DuplicateStatementError, None)
        size, head = len(self.ledger), self.ledger.head(self.item)
        if expect is None:
            rec = self.ledger.append(stmt)
            assert rec.time == t
            self.model = after
            self.appended.append(stmt)
            self.bodies.append((who, ev))
            if isinstance(ev, pl.CareRedeemed):
                self.paid.append((ev.repair, ev.plan, ev.credits, ev.credit_minor))
            if isinstance(ev, pl.CareEnrolled):
                self.granted[rec.hash] = (ev.credits, ev.credit_minor)
            if isinstance(ev, pl.CareRenewed):
                c, mi = self.granted[ev.plan]
                self.granted[ev.plan] = (c + ev.credits, mi + ev.credit_minor)
            return
        error, rule_name = expect
        with pytest.raises(pl.ProvLedgerError) as info:
            self.ledger.append(stmt)
        assert type(info.value) is error, (who, ev, info.value)
        if rule_name is not None:
            assert f"[{rule_name}]" in str(info.value), info.value
        assert (len(self.ledger), self.ledger.head(self.item)) == (size, head)

    @staticmethod
    def signer(who: str, plan: Plan | None) -> str:
        """``who``, with "provider" read as the plan's provider (the jeweler if none)."""
        if who != "provider":
            return who
        return plan.provider if plan else "jeweler"

    def pick_plan(self, i: int) -> bytes:
        plans = self.model.plans
        return plans[i % len(plans)].id if plans and i >= 0 else sha(b"no such plan")

    def pick_repair(self, i: int) -> bytes:
        repairs = self.model.repairs
        if i < 0 or not repairs:
            return sha(b"no such repair")
        opened = [r for r in repairs if r.open]
        return (opened[0] if opened and i % 3 else repairs[i % len(repairs)]).id

    # -- the clock ---------------------------------------------------------------------

    @rule(move=weighted((1, 4), (60, 3), (3600, 1), ("starts", 1), ("ends", 2),
                        ("promised", 1)),
          offset=st.sampled_from([-1, 0, 0, 1]), i=st.integers(0, 3))
    def time_passes(self, move: object, offset: int, i: int) -> None:
        """Let time pass, or jump to the second around a plan's start or end, or a promise."""
        if isinstance(move, int):
            self.clock.t += move
            return
        if move == "promised":
            times = [r.promised for r in self.model.repairs if r.promised]
        else:
            times = [getattr(p, str(move)) for p in self.model.plans]
        if times:
            self.clock.t = max(self.clock.t, times[i % len(times)] + offset)

    # -- deep paths: the steps the protocol expects, by the right signers -------------

    @initialize(length=st.sampled_from([60, 600, 6000]), no_consent=st.booleans(),
                rival=st.booleans(), repair=st.booleans())
    def start(self, length: int, no_consent: bool, rival: bool, repair: bool) -> None:
        """Begin with the jeweler's plan (and often a rival's, and a repair), so that
        short runs reach redemptions, sales mid-plan and repairs at the workshop."""
        t = self.clock.t + 1
        self.clock.t = t
        self.submit("jeweler", pl.CareEnrolled(
            tier="Gold", starts=t, ends=t + length, terms=TERMS, transfer="with_piece",
            credits=3, credit_minor=1000, currency="EUR", no_consent=no_consent))
        if rival:
            self.submit("rival", pl.CareEnrolled(
                tier="Bronze", starts=t, ends=t + length // 2, terms=TERMS, transfer="ends",
                credits=1))
        if repair:
            self.submit("owner", pl.RepairRequested(work="Re-tip", category="repair",
                                                    promised=t + length // 3))

    @rule(choice=st.integers(0, 5), promise=st.sampled_from([0, 30, 300]))
    def next_repair_step(self, choice: int, promise: int) -> None:
        """The open repair's next step by its expected signer; a request if none is open."""
        r = next((r for r in self.model.repairs if r.open), None)
        if r is None:
            self.submit("owner" if choice % 2 else "workshop", pl.RepairRequested(
                work="Re-tip", category="repair", promised=self.clock.t + promise))
            return
        workshop = r.workshop or ("workshop" if choice % 3 else "bench")
        ev: pl.Event
        if r.status == "requested":
            ev = pl.RepairReceived(repair=r.id, condition=pl.ConditionReport(grade="ok"))
        elif r.status in WORKING:
            ev = [pl.RepairProgress(repair=r.id, stage="in_progress"),
                  pl.RepairProgress(repair=r.id, stage="waiting_parts"),
                  pl.RepairReady(repair=r.id)][choice % 3]
        else:
            ev = pl.RepairCollected(repair=r.id)
            workshop = "owner" if choice % 2 else workshop
        self.submit(workshop, ev)

    @rule(i=st.integers(0, 5), credits=st.integers(0, 2), minor=st.sampled_from([0, 0, 300]),
          redeemer=weighted(("workshop", 4), ("provider", 2), ("bench", 1)),
          more=weighted((0, 4), (1, 1)))
    def pay(self, i: int, credits: int, minor: int, redeemer: str, more: int) -> None:
        """The owner consents to pay a repair from a plan, and the plan's side redeems."""
        repairs = self.model.repairs
        if not repairs or not self.model.plans:
            return
        rid = repairs[-1].id if i % 2 else repairs[i % len(repairs)].id
        pid = self.pick_plan(i)
        plan = self.model.plan(pid)
        before = len(self.ledger)
        self.submit("owner", pl.CareConsented(plan=pid, repair=rid, credits=credits,
                                              credit_minor=minor))
        consent = self.ledger.head(self.item) if len(self.ledger) > before else None
        self.submit(self.signer(redeemer, plan), pl.CareRedeemed(
            plan=pid, repair=rid, consent=consent, credits=credits + more,
            credit_minor=minor))

    # -- care plans --------------------------------------------------------------------

    @rule(who=weighted(("jeweler", 6), ("workshop", 3), ("rival", 4), ("bench", 1),
                       ("owner", 1), ("thief", 1)),
          start=st.sampled_from([-10, 0, 0, 5, 100]), length=st.sampled_from([-20, 0, 30, 600]),
          transfer=st.sampled_from(["with_piece", "ends"]), credits=st.integers(0, 3),
          minor=weighted((0, 2), (500, 1)), currency=weighted((True, 5), (False, 1)),
          no_consent=weighted((False, 3), (True, 1)))
    def enrol(self, who: str, start: int, length: int, transfer: str, credits: int,
              minor: int, currency: bool, no_consent: bool) -> None:
        starts = max(self.clock.t + start, 0)
        has_currency = bool(minor) == currency
        self.submit(who, pl.CareEnrolled(
            tier="Gold", starts=starts, ends=max(starts + length, 0), terms=TERMS,
            transfer=transfer, credits=credits, credit_minor=minor,  # type: ignore[arg-type]
            currency="EUR" if has_currency else None, no_consent=no_consent))

    @rule(who=weighted(("provider", 6), ("workshop", 2), ("bench", 1), ("rival", 1),
                       ("thief", 1)),
          i=st.integers(-1, 5), extend=st.sampled_from([-1, 0, 1, 600]),
          credits=st.integers(0, 2), minor=weighted((0, 3), (100, 1)))
    def renew(self, who: str, i: int, extend: int, credits: int, minor: int) -> None:
        pid = self.pick_plan(i)
        plan = self.model.plan(pid)
        ends = (plan.ends if plan else self.clock.t) + extend
        self.submit(self.signer(who, plan), pl.CareRenewed(
            plan=pid, ends=max(ends, 0), credits=credits, credit_minor=minor))

    @rule(who=weighted(("provider", 4), ("workshop", 1), ("owner", 1), ("rival", 1)),
          i=st.integers(-1, 5))
    def cancel_plan(self, who: str, i: int) -> None:
        pid = self.pick_plan(i)
        plan = self.model.plan(pid)
        self.submit(self.signer(who, plan), pl.CareCancelled(plan=pid, reason="Withdrawn"))

    @rule(who=weighted(("owner", 8), ("thief", 1), ("workshop", 1), ("alice", 1), ("bob", 1)),
          i=st.integers(-1, 5), j=st.integers(-1, 5), credits=st.integers(0, 3),
          minor=weighted((0, 3), (200, 1)))
    def consent(self, who: str, i: int, j: int, credits: int, minor: int) -> None:
        self.submit(who, pl.CareConsented(plan=self.pick_plan(i), repair=self.pick_repair(j),
                                          credits=credits, credit_minor=minor))

    @rule(who=weighted(("workshop", 5), ("provider", 3), ("bench", 2), ("rival", 1),
                       ("thief", 1), ("owner", 1)),
          i=st.integers(-1, 5), j=st.integers(-1, 5), credits=st.integers(0, 3),
          minor=weighted((0, 3), (200, 1)), which=weighted(("matching", 6), (None, 2),
                                                            ("any", 1), ("bogus", 1)))
    def redeem(self, who: str, i: int, j: int, credits: int, minor: int,
               which: str | None) -> None:
        pid, rid = self.pick_plan(i), self.pick_repair(j)
        consents = self.model.consents
        match = [c for c in consents if (c.plan, c.repair) == (pid, rid)]
        if which == "matching" and match:
            consent: bytes | None = match[0].id
            credits, minor = match[0].credits, match[0].minor
        elif which == "any" and consents:
            consent = consents[0].id
        elif which == "bogus":
            consent = sha(b"no such consent")
        else:
            consent = None
        plan = self.model.plan(pid)
        self.submit(self.signer(who, plan), pl.CareRedeemed(
            plan=pid, repair=rid, consent=consent, credits=credits, credit_minor=minor))

    # -- repairs -----------------------------------------------------------------------

    @rule(who=weighted(("owner", 5), ("workshop", 3), ("bench", 2), ("thief", 1),
                       ("jeweler", 1)),
          promise=st.sampled_from([-1, 0, 60, 600]))
    def request(self, who: str, promise: int) -> None:
        self.submit(who, pl.RepairRequested(work="Re-tip", category="repair",
                                            promised=max(self.clock.t + promise, 0)))

    @rule(kind=st.sampled_from(["receive", "in_progress", "waiting_parts", "ready", "collect",
                                "cancel"]),
          who=weighted(("workshop", 6), ("owner", 3), ("bench", 2), ("thief", 1),
                       ("jeweler", 1)),
          j=st.integers(-1, 5))
    def repair_step(self, kind: str, who: str, j: int) -> None:
        rid = self.pick_repair(j)
        repair = self.model.repair(rid)
        if who == "workshop" and repair is not None and repair.workshop:
            who = repair.workshop
        ev: pl.Event = {
            "receive": pl.RepairReceived(repair=rid, condition=pl.ConditionReport(grade="ok")),
            "in_progress": pl.RepairProgress(repair=rid, stage="in_progress"),
            "waiting_parts": pl.RepairProgress(repair=rid, stage="waiting_parts"),
            "ready": pl.RepairReady(repair=rid),
            "collect": pl.RepairCollected(repair=rid),
            "cancel": pl.RepairCancelled(repair=rid, reason="No"),
        }[kind]
        self.submit(who, ev)

    @rule(who=weighted(("workshop", 2), ("owner", 1), ("thief", 1)))
    def record(self, who: str) -> None:
        self.submit(who, pl.RepairRecorded(work="Polish", category="service",
                                           performed_by="Bench", started=0, completed=0))

    # -- the sale, mid-plan and mid-repair, and theft ------------------------------------

    @rule(buyer=st.sampled_from(OWNERS), right=weighted((True, 5), (False, 1)),
          who=weighted(("owner", 6), ("thief", 1)))
    def offer(self, buyer: str, right: bool, who: str) -> None:
        t = self.clock.t
        plans = [p.id for p in self.model.plans
                 if p.transfer == "with_piece" and p.at(t) in LIVE]
        if not right:
            plans = [p.id for p in self.model.plans] if not plans else plans[1:]
        self.submit(who, pl.EscrowOpened(
            buyer=KEYS[buyer].public_key, terms=pl.EscrowTerms(
                price_minor=1, currency="EUR", on_timeout="return", direct=True, plans=plans),
            condition=pl.ConditionReport(grade="good"), offer_expires=t + 100))

    @precondition(lambda self: self.model.escrow is not None)
    @rule(accept=weighted((True, 4), (False, 1)), wrong=weighted((False, 6), (True, 1)))
    def settle(self, accept: bool, wrong: bool) -> None:
        esc = self.model.escrow
        assert esc is not None
        terms_plans = next(ev.terms.plans for _, ev in reversed(self.bodies)
                           if isinstance(ev, pl.EscrowOpened))
        terms = pl.EscrowTerms(price_minor=1, currency="EUR", on_timeout="return",
                               direct=True, plans=terms_plans)
        cond = pl.ConditionReport(grade="good")
        if accept:
            self.submit("thief" if wrong else esc[1], pl.EscrowAccepted(
                escrow=esc[0], terms_hash=pl.terms_hash(terms),
                condition_hash=pl.condition_hash(cond)))
        else:
            self.submit("thief" if wrong else "owner", pl.EscrowCancelled(escrow=esc[0]))

    @rule(stolen=weighted((True, 1), (False, 2)))
    def theft(self, stolen: bool) -> None:
        self.submit("insurer", pl.StolenReported() if stolen else pl.Recovered())

    # -- replays -----------------------------------------------------------------------

    @precondition(lambda self: self.appended)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        stmt = data.draw(st.sampled_from(self.appended))
        size = len(self.ledger)
        with pytest.raises(pl.DuplicateStatementError):
            self.ledger.append(stmt)
        assert len(self.ledger) == size

    @precondition(lambda self: self.bodies)
    @rule(data=st.data())
    def resign_on_current_head(self, data: st.DataObject) -> None:
        """An earlier body (a redemption, a consent, a step) signed again now."""
        who, ev = data.draw(st.sampled_from(self.bodies))
        self.submit(who, ev)

    # -- what must always hold ---------------------------------------------------------

    @invariant()
    def ledger_agrees_with_the_model(self) -> None:
        s = self.ledger.item(self.item)
        m = self.model
        assert (NAME_OF[s.owner], s.status) == (m.owner, m.status)
        assert [(p.id, CHAIN_OF[p.provider], p.starts, p.ends, p.transfer, p.status,
                 p.credits, p.credit_minor, p.currency, p.no_consent) for p in s.plans] == [
            (p.id, p.provider, p.starts, p.ends, p.transfer, p.status, p.credits, p.minor,
             p.currency, p.no_consent) for p in m.plans]
        assert [(r.id, r.status, CHAIN_OF.get(r.workshop, ""), r.requested, r.promised,
                 r.ready, r.at_workshop, r.paid_by) for r in s.repairs] == [
            (r.id, r.status, r.workshop, r.requested, r.promised, r.ready, r.at_workshop,
             r.paid_by) for r in m.repairs]
        assert [(c.id, c.plan, c.repair, c.credits, c.credit_minor) for c in s.consents] == [
            (c.id, c.plan, c.repair, c.credits, c.minor) for c in m.consents]

    @invariant()
    def aftercare_invariants_hold(self) -> None:
        s = self.ledger.item(self.item)
        now = self.clock.t
        # Credits never go negative, and no plan ever paid more than it was granted.
        for p in s.plans:
            assert p.credits >= 0
            assert p.credit_minor >= 0
            spent = [(c, mi) for _, plan, c, mi in self.paid if plan == p.id]
            granted = self.granted[p.id]
            assert sum(c for c, _ in spent) <= granted[0]
            assert sum(mi for _, mi in spent) <= granted[1]
        # A repair is never paid twice.
        repairs = [r for r, *_ in self.paid]
        assert len(repairs) == len(set(repairs))
        # One open repair at a time; a piece at the workshop is never in an open escrow.
        assert sum(r.open for r in s.repairs) <= 1
        esc = s.escrow
        if esc is not None and pl.escrow_is_open(esc) and now <= esc.offer_expires:
            assert not any(r.at_workshop for r in s.repairs)
        # Consents are the current owner's: only the owner signed them since the last sale.
        consents = {c.id for c in s.consents}
        for stmt in self.appended:
            if sha(stmt) in consents:
                assert pl.verify_statement(stmt).signer == s.owner


AftercareMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestAftercareMachine = AftercareMachine.TestCase
