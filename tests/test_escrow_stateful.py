"""Escrow against a plain reference model: random operations by every party.

A hypothesis state machine opens, accepts, declines, cancels, acknowledges,
rejects, disputes and resolves escrows on one item, signed by the right
parties and the wrong ones; replays earlier statements and re-signs their
bodies on the current head; moves the log clock across both deadlines,
landing on the exact boundary seconds; reports the item lost, stolen and
recovered (a loss report is refused while an escrow holds the item; a theft
report cancels an offer and disputes an accepted escrow); and now and then
revokes the certificate. The model below is
written from spec/escrow.md alone (it does not import provledger's escrow
code). After every step the ledger must agree with it, the invariants must
hold, and a refused step must have left the ledger as it was.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cbor2
import msgspec
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

PARTIES = ("alice", "bob", "carol", "dave", "eve")
KEYS = {n: key(n) for n in (*PARTIES, "root", "log", "jeweler", "insurer", "workshop")}
NAME_OF = {k.public_key: n for n, k in KEYS.items()}
OPEN = {"offered", "accepted", "disputed"}
TERMINAL = {"completed", "returned", "declined", "cancelled", "expired"}
Expected = tuple[type[pl.ProvLedgerError], str | None] | None

def weighted(*choices: tuple[Any, int]) -> st.SearchStrategy[Any]:
    """Sample ``value`` ``weight`` times as often as a weight of 1: mostly the right
    party and the right escrow, so that random runs get deep into the protocol."""
    return st.sampled_from([v for v, w in choices for _ in range(w)])


# Who signs a step: a role of the escrow it names, or any party by name.
which = weighted(("current", 12), ("previous", 1), ("bogus", 1))
tamper = weighted((None, 10), ("terms", 1), ("condition", 1))


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def canonical_hash(obj: msgspec.Struct) -> bytes:
    return sha(cbor2.dumps(msgspec.to_builtins(obj, builtin_types=(bytes,)), canonical=True))


@dataclass
class Escrow:
    """The model's escrow: names instead of keys."""

    id: bytes
    seller: str
    buyer: str
    arbiter: str | None
    direct: bool
    on_timeout: str
    offer_expires: int
    inspection_ends: int
    terms_hash: bytes
    condition_hash: bytes
    state: str = "offered"
    votes: list[tuple[str, str]] = field(default_factory=list)

    def at(self, t: int) -> Escrow:
        """Deadlines passed by log time ``t`` applied."""
        if self.state == "offered" and t > self.offer_expires:
            return replace(self, state="expired", votes=list(self.votes))
        if self.state == "accepted" and t > self.inspection_ends:
            return replace(self, state="disputed" if self.on_timeout == "dispute"
                           else "returned", votes=list(self.votes))
        return self

    def role(self, who: str) -> str | None:
        if who == self.buyer:
            return "buyer"
        if who == self.seller:
            return "seller"
        return "arbiter" if who == self.arbiter else None


@dataclass
class Model:
    owner: str = "alice"
    status: str = "active"
    escrow: Escrow | None = None

    def copy(self) -> Model:
        esc = None if self.escrow is None else replace(self.escrow, votes=list(self.escrow.votes))
        return Model(self.owner, self.status, esc)


# (who signs, may sign from which states, state after); resolution is special.
TRANSITIONS: dict[type[pl.Event], tuple[tuple[str, ...], tuple[str, ...], str]] = {
    pl.EscrowAccepted: (("buyer",), ("offered",), "accepted"),
    pl.EscrowDeclined: (("buyer",), ("offered",), "declined"),
    pl.EscrowCancelled: (("seller",), ("offered",), "cancelled"),
    pl.EscrowAcknowledged: (("buyer",), ("accepted",), "completed"),
    pl.EscrowRejected: (("buyer",), ("accepted",), "returned"),
    pl.EscrowDisputed: (("buyer", "seller"), ("accepted", "disputed"), "disputed"),
    pl.EscrowResolution: (("buyer", "seller", "arbiter"), ("disputed",), "disputed"),
}


def decide(m: Model, who: str, ev: pl.Event, t: int, stmt_hash: bytes) -> tuple[Expected, Model]:
    """What spec/escrow.md says happens to ``ev`` signed by ``who`` at log time ``t``."""
    if m.status == "revoked":
        return (pl.StateError, None), m
    nxt = m.copy()
    if nxt.escrow is not None:
        nxt.escrow = nxt.escrow.at(t)
    esc = nxt.escrow
    if isinstance(ev, pl.EscrowOpened):
        if who != m.owner:
            return (pl.UnauthorizedError, "owner-opens"), m
        if m.status != "active":
            return (pl.StateError, "frozen"), m
        if esc is not None and esc.state in OPEN:
            return (pl.StateError, "one-open-escrow"), m
        terms = ev.terms
        arbiter = NAME_OF[terms.arbiter] if terms.arbiter else None
        buyer = NAME_OF[ev.buyer]
        if (buyer == who or arbiter in (buyer, who) or ev.offer_expires < t
                or (not terms.direct and ev.inspection_ends <= ev.offer_expires)):
            return (pl.PolicyError, "valid-offer"), m
        nxt.escrow = Escrow(stmt_hash, who, buyer, arbiter, terms.direct, terms.on_timeout,
                            ev.offer_expires, ev.inspection_ends, canonical_hash(terms),
                            canonical_hash(ev.condition))
        return None, nxt
    if isinstance(ev, pl.RepairRecorded):
        if who not in (m.owner, "workshop"):
            return (pl.UnknownKeyError, None), m
        if who == m.owner and esc is not None and esc.state in OPEN:
            return (pl.StateError, "one-open-escrow"), m
        return None, nxt
    if isinstance(ev, pl.LostReported):
        if who != m.owner:
            return (pl.UnauthorizedError, None), m
        if m.status != "active":
            return (pl.StateError, None), m
        if esc is not None and esc.state in OPEN:
            return (pl.StateError, "no-loss-in-escrow"), m
        nxt.status = "lost"
        return None, nxt
    if isinstance(ev, pl.StolenReported):
        if m.status == "stolen":
            return (pl.StateError, None), m
        nxt.status = "stolen"
        if esc is not None and esc.state == "offered":
            esc.state = "cancelled"
        elif esc is not None and esc.state == "accepted":
            esc.state = "disputed"
        return None, nxt
    if isinstance(ev, pl.Recovered):
        if m.status not in ("lost", "stolen"):
            return (pl.StateError, None), m
        if who != "insurer" and not (who == m.owner and m.status == "lost"):
            return (pl.UnauthorizedError, None), m
        nxt.status = "active"
        return None, nxt
    if isinstance(ev, pl.CertificateRevoked):
        nxt.status = "revoked"
        return None, nxt
    # An escrow step.
    named: bytes = ev.escrow  # type: ignore[attr-defined]
    if esc is None or named != esc.id:
        return (pl.StateError, "current-escrow"), m
    if esc.state in TERMINAL:
        return (pl.StateError, "terminal"), m
    signers, sources, after = TRANSITIONS[type(ev)]
    role = esc.role(who)
    if role not in signers:
        return (pl.UnauthorizedError, "party"), m
    if m.status != "active" and not isinstance(ev, pl.EscrowResolution):
        return (pl.StateError, "frozen"), m
    if esc.state not in sources:
        return (pl.StateError, "phase"), m
    if isinstance(ev, pl.EscrowAccepted | pl.EscrowAcknowledged) and (
            ev.terms_hash != esc.terms_hash or ev.condition_hash != esc.condition_hash):
        return (pl.PolicyError, "binding"), m
    if isinstance(ev, pl.EscrowAccepted) and esc.direct:
        after = "completed"
    if isinstance(ev, pl.EscrowResolution):
        assert role is not None
        esc.votes = [v for v in esc.votes if v[0] != role] + [(role, ev.outcome)]
        if role == "arbiter" or sum(v[1] == ev.outcome for v in esc.votes) >= 2:
            after = "completed" if ev.outcome == "buyer" else "returned"
    esc.state = after
    if after == "completed":
        nxt.owner = esc.buyer
    return None, nxt


class EscrowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="escrow-sm-"))
        self.clock = StepClock(T0)
        self.ledger = pl.Ledger.create(self.dir / "l.db", origin=ORIGIN,
                                       root_key=KEYS["root"].public_key,
                                       log_key=KEYS["log"].public_key, clock=self.clock)
        jeweler = KEYS["jeweler"]
        self._add("root", pl.authority_subject(jeweler.public_key),
                  pl.RoleGranted(key=jeweler.public_key, name="Jeweler", role="issuer"))
        for name, role in (("insurer", "reporter"), ("workshop", "service")):
            self._add("jeweler", pl.authority_subject(KEYS[name].public_key),
                      pl.RoleGranted(key=KEYS[name].public_key, name=name, role=role))
        self.item = pl.serial_item_id(jeweler.public_key, "R1")
        self.other = pl.serial_item_id(jeweler.public_key, "R2")
        for item in (self.item, self.other):
            self._add("jeweler", item, pl.CertificateIssued(
                kind="ring", serial=item[-2:], owner=KEYS["alice"].public_key))
        self.model = Model()
        #: Every appended statement on the item, and every escrow step (signer, body).
        self.appended: list[bytes] = []
        self.heads: list[bytes] = [self._head()]
        self.steps: list[tuple[str, pl.Event]] = []
        self.escrows: list[Escrow] = []
        self.terminal: dict[bytes, str] = {}

    def teardown(self) -> None:
        try:
            assert self.ledger.audit().size == len(self.ledger)
        finally:
            self.ledger.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- plumbing ---------------------------------------------------------------

    def _head(self, item: str | None = None) -> bytes:
        head = self.ledger.head(item or self.item)
        assert head is not None
        return head

    def _add(self, who: str, subject: str, ev: pl.Event) -> None:
        self.ledger.append(pl.sign_statement(ev, key=KEYS[who], origin=ORIGIN, subject=subject,
                                             prev=self.ledger.head(subject), time=self.clock.t))

    def submit(self, who: str, ev: pl.Event, *, prev: bytes | None = None,
               expect: Expected = None, subject: str | None = None) -> None:
        """Sign and append; compare the outcome with the model's (or ``expect``)."""
        subject = subject or self.item
        stmt = pl.sign_statement(ev, key=KEYS[who], origin=ORIGIN, subject=subject,
                                 prev=prev or self._head(subject), time=self.clock.t)
        t = self.clock.t
        if stmt in self.appended:  # the same body, head and time: the very same bytes
            expect = (pl.DuplicateStatementError, None)
        if expect is None and prev is None and subject == self.item:
            expect, after = decide(self.model, who, ev, t, sha(stmt))
        else:
            after = self.model
        size, head = len(self.ledger), self._head(subject)
        if expect is None:
            rec = self.ledger.append(stmt)
            assert rec.time == t
            self.model = after
            self.appended.append(stmt)
            self.heads.append(rec.hash)
            if type(ev).TYPE.startswith("escrow."):
                self.steps.append((who, ev))
            if isinstance(ev, pl.EscrowOpened):
                assert after.escrow is not None
                self.escrows.append(after.escrow)
            return
        error, rule_name = expect
        with pytest.raises(pl.ProvLedgerError) as info:
            self.ledger.append(stmt)
        assert type(info.value) is error, (who, ev, info.value)
        if rule_name is not None:
            assert f"[escrow rule: {rule_name}]" in str(info.value), info.value
        assert (len(self.ledger), self._head(subject)) == (size, head)

    def target(self, choice: str) -> Escrow | None:
        """The escrow a step names: the current one, an earlier one, or none at all."""
        current = self.model.escrow
        if choice == "previous" and len(self.escrows) > 1:
            return self.escrows[-2]
        if choice == "bogus" or current is None:
            return None
        return current

    def hashes(self, esc: Escrow | None, how: str | None) -> dict[str, Any]:
        terms = esc.terms_hash if esc else sha(b"terms")
        cond = esc.condition_hash if esc else sha(b"condition")
        return {"escrow": esc.id if esc else sha(b"no such escrow"),
                "terms_hash": sha(b"other terms") if how == "terms" else terms,
                "condition_hash": sha(b"other condition") if how == "condition" else cond}

    # -- the clock ------------------------------------------------------------------

    @rule(move=st.sampled_from([(None, 1), (None, 7), (None, 60),
                                ("offer_expires", -1), ("offer_expires", 0),
                                ("offer_expires", 1), ("inspection_ends", -1),
                                ("inspection_ends", 0), ("inspection_ends", 1)]))
    def time_passes(self, move: tuple[str | None, int]) -> None:
        """Let time pass, or jump to a second around one of the escrow's deadlines."""
        deadline, offset = move
        esc = self.model.escrow
        if deadline is None:
            self.clock.t += offset
        elif esc is not None:
            self.clock.t = max(self.clock.t, getattr(esc, deadline) + offset)

    # -- escrow steps -----------------------------------------------------------------

    @initialize(how=weighted(("nothing", 1), ("inspection", 2), ("direct", 1)),
                arbiter=st.booleans(), on_timeout=st.sampled_from(["dispute", "return"]))
    def start(self, how: str, arbiter: bool, on_timeout: str) -> None:
        """Often begin with an open offer, so that short runs reach deep states."""
        if how != "nothing":
            self.open(seller="owner", buyer="other", arbiter="dave" if arbiter else None,
                      direct=how == "direct", on_timeout=on_timeout, offer_in=30,
                      inspect_for=60, grade="good")

    @rule(seller=weighted(("owner", 12), *((p, 1) for p in PARTIES)),
          buyer=weighted(("other", 12), *((p, 1) for p in PARTIES)),
          arbiter=weighted((None, 3), ("dave", 6), ("eve", 1), ("alice", 1)),
          direct=weighted((False, 3), (True, 1)),
          on_timeout=st.sampled_from(["dispute", "return"]),
          offer_in=weighted((-1, 1), (0, 1), (3, 2), (30, 4), (300, 4)),
          inspect_for=weighted((0, 1), (1, 2), (10, 2), (60, 4), (600, 4)),
          grade=st.sampled_from(["fair", "good", "mint"]))
    def open(self, seller: str, buyer: str, arbiter: str | None, direct: bool,
             on_timeout: str, offer_in: int, inspect_for: int, grade: str) -> None:
        seller = self.model.owner if seller == "owner" else seller
        if buyer == "other":
            buyer = next(p for p in ("bob", "carol", "alice") if p != self.model.owner)
        expires = self.clock.t + offer_in
        terms = pl.EscrowTerms(
            price_minor=100_000, currency="EUR", direct=direct,
            on_timeout=on_timeout,  # type: ignore[arg-type]
            arbiter=KEYS[arbiter].public_key if arbiter else None)
        self.submit(seller, pl.EscrowOpened(
            buyer=KEYS[buyer].public_key, terms=terms,
            condition=pl.ConditionReport(grade=grade, photos=[sha(grade.encode())]),
            offer_expires=max(expires, 0),
            inspection_ends=0 if direct and inspect_for == 0 else expires + inspect_for))

    def _next_step(self, choice: int, outcome: str) -> None:
        esc = self.model.escrow
        assert esc is not None
        binding = self.hashes(esc, None)
        ev: pl.Event
        who = esc.buyer
        if esc.state == "offered":
            ev = [pl.EscrowAccepted(**binding)] * 4 + [pl.EscrowDeclined(escrow=esc.id)] * 2
        elif esc.state == "accepted":
            ev = [pl.EscrowAcknowledged(**binding)] * 3 + [
                pl.EscrowRejected(escrow=esc.id, reason="scratched"),
                pl.EscrowDisputed(escrow=esc.id, reason="scratched")] * 2
        else:
            who = [esc.arbiter or esc.seller, esc.buyer, esc.seller][choice % 3]
            ev = [pl.EscrowResolution(escrow=esc.id, outcome=outcome)] * 6  # type: ignore[arg-type]
        self.submit(who, ev[choice])

    @precondition(lambda self: self.model.escrow is not None
                  and self.model.escrow.state in OPEN)
    @rule(choice=st.integers(0, 5), outcome=st.sampled_from(["buyer", "seller"]))
    def progress(self, choice: int, outcome: str) -> None:
        """The next step the protocol expects, by the party who makes it."""
        self._next_step(choice, outcome)

    @precondition(lambda self: self.model.escrow is not None
                  and self.model.escrow.state in OPEN)
    @rule(choice=st.integers(0, 5), outcome=st.sampled_from(["buyer", "seller"]))
    def progress_too(self, choice: int, outcome: str) -> None:
        """The same as progress: twice the weight among the rules."""
        self._next_step(choice, outcome)

    @rule(kind=st.sampled_from(["accept", "decline", "cancel", "acknowledge", "reject",
                                "dispute", "resolve"]),
          who=weighted(("buyer", 6), ("seller", 4), ("arbiter", 3), *((p, 1) for p in PARTIES)),
          choice=which, how=tamper, outcome=st.sampled_from(["buyer", "seller"]))
    def escrow_step(self, kind: str, who: str, choice: str, how: str | None,
                    outcome: str) -> None:
        """Any escrow step by anyone, naming the current escrow, an earlier one or none."""
        esc = self.target(choice)
        binding = self.hashes(esc, how)
        escrow = binding["escrow"]
        ev: pl.Event = {
            "accept": pl.EscrowAccepted(**binding),
            "decline": pl.EscrowDeclined(escrow=escrow),
            "cancel": pl.EscrowCancelled(escrow=escrow),
            "acknowledge": pl.EscrowAcknowledged(**binding),
            "reject": pl.EscrowRejected(escrow=escrow, reason="scratched"),
            "dispute": pl.EscrowDisputed(escrow=escrow, reason="not as described"),
            "resolve": pl.EscrowResolution(escrow=escrow, outcome=outcome),  # type: ignore[arg-type]
        }[kind]
        self.submit(self._party(who, esc), ev)

    def _party(self, who: str, esc: Escrow | None) -> str:
        """``who`` read as a role of ``esc`` when it names one, else a party's name."""
        if esc is not None and who in ("buyer", "seller", "arbiter"):
            return getattr(esc, who) or "eve"
        return "eve" if who in ("buyer", "seller", "arbiter") else who

    # -- the item's other life --------------------------------------------------------

    @rule(who=st.sampled_from(["owner", "owner", "workshop", *PARTIES]))
    def repair(self, who: str) -> None:
        self.submit(self.model.owner if who == "owner" else who, pl.RepairRecorded(
            work="Polish", category="service", performed_by="Workshop", started=0,
            completed=0))

    @rule(what=weighted(("lost", 2), ("lost by bob", 1), ("stolen", 2),
                        ("stolen by issuer", 1), ("recovered", 4), ("recovered by owner", 2)))
    def flag(self, what: str) -> None:
        """Lost, stolen and recovered, each now and then (they freeze escrows)."""
        owner = self.model.owner
        if what.startswith("lost"):
            self.submit("bob" if what.endswith("bob") else owner, pl.LostReported())
        elif what.startswith("stolen"):
            self.submit("jeweler" if what.endswith("issuer") else "insurer",
                        pl.StolenReported(reference="CLAIM-1"))
        else:
            self.submit(owner if what.endswith("owner") else "insurer", pl.Recovered())

    @precondition(lambda self: self.model.status == "active" and self.model.escrow is not None
                  and self.model.escrow.state in OPEN)
    @rule(what=weighted(("stolen", 3), ("stolen by issuer", 1), ("lost", 2)))
    def flag_in_escrow(self, what: str) -> None:
        """A loss or theft report while an escrow holds the item: the seller's way to keep
        piece and title, were a freeze to let the inspection deadline return the piece."""
        self.flag(what)

    @precondition(lambda self: len(self.appended) >= 8)
    @rule(dice=st.integers(0, 3))
    def revoke(self, dice: int) -> None:
        if dice == 0:
            self.submit("jeweler", pl.CertificateRevoked(reason="withdrawn"))

    # -- replays --------------------------------------------------------------------

    @precondition(lambda self: self.appended)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        stmt = data.draw(st.sampled_from(self.appended))
        size = len(self.ledger)
        try:
            self.ledger.append(stmt)
        except pl.DuplicateStatementError:
            pass
        else:
            raise AssertionError("a replayed statement was appended")
        assert len(self.ledger) == size

    @precondition(lambda self: self.steps)
    @rule(data=st.data())
    def resign_on_current_head(self, data: st.DataObject) -> None:
        who, ev = data.draw(st.sampled_from(self.steps))
        self.submit(who, ev)

    @precondition(lambda self: self.steps and len(self.heads) > 1)
    @rule(data=st.data())
    def sign_on_a_stale_head(self, data: st.DataObject) -> None:
        who, ev = data.draw(st.sampled_from(self.steps))
        stale = data.draw(st.sampled_from(self.heads[:-1]))
        self.submit(who, ev, prev=stale, expect=(pl.ChainError, None))

    @precondition(lambda self: self.steps)
    @rule(data=st.data())
    def replay_onto_another_item(self, data: st.DataObject) -> None:
        who, ev = data.draw(st.sampled_from(self.steps))
        if isinstance(ev, pl.EscrowOpened):
            return  # a fresh offer on another item is no replay
        self.submit(who, ev, subject=self.other, expect=(pl.StateError, "current-escrow"))

    # -- what must always hold ------------------------------------------------------

    @invariant()
    def ledger_agrees_with_the_model(self) -> None:
        state = self.ledger.item(self.item)
        m = self.model
        assert (NAME_OF[state.owner], state.status) == (m.owner, m.status)
        if m.escrow is None:
            assert state.escrow is None
            return
        esc = state.escrow
        assert esc is not None
        got = (esc.id, NAME_OF[esc.seller], NAME_OF[esc.buyer],
               NAME_OF[esc.arbiter] if esc.arbiter else None, esc.state,
               [(v.party, v.outcome) for v in esc.votes], esc.terms_hash, esc.condition_hash,
               esc.offer_expires, esc.inspection_ends)
        e = m.escrow
        assert got == (e.id, e.seller, e.buyer, e.arbiter, e.state, e.votes, e.terms_hash,
                       e.condition_hash, e.offer_expires, e.inspection_ends)

    @invariant()
    def escrow_invariants_hold(self) -> None:
        now = self.clock.t
        report = pl.item_report(self.ledger, self.item, now=now)
        owner = NAME_OF[report.owner]
        views = report.escrows
        assert [v.id for v in views] == [e.id for e in self.escrows]
        # At most one open escrow, always the latest, and it holds the title.
        for v in views[:-1]:
            assert v.state in TERMINAL, v
        if views and views[-1].state in OPEN:
            assert NAME_OF[views[-1].escrow.seller] == owner
        if self.model.escrow is not None:
            assert views[-1].state == self.model.escrow.at(now).state
        # Title moves only with a completed escrow, from its seller to its buyer.
        holder = "alice"
        for v in views:
            if v.state == "completed":
                assert NAME_OF[v.escrow.seller] == holder
                holder = NAME_OF[v.escrow.buyer]
        assert owner == holder
        # Terminal states never change.
        for v in views:
            if v.state in TERMINAL:
                assert self.terminal.setdefault(v.id, v.state) == v.state
        # No escrow of a lost or stolen item can lapse back to its seller: a lost
        # item has no open escrow, a stolen one at most a disputed one.
        status = report.status
        if views and status in ("lost", "stolen"):
            allowed = TERMINAL | ({"disputed"} if status == "stolen" else set())
            assert views[-1].escrow.state in allowed
            assert views[-1].state in allowed


EscrowMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestEscrowMachine = EscrowMachine.TestCase
