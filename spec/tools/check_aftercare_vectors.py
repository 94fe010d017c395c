"""Independent checker for spec/vectors/aftercare, written from spec/aftercare.md
(and the parts of spec/escrow.md and spec/protocol.md it relies on) alone.

It does not import provledger: statements are decoded and their signatures
checked by check_core_vectors.py beside it (cbor2 and pynacl). It replays the
valid story with its own implementation of the aftercare rules, compares every
item's plans, repairs, consents, owner and escrow after each entry with the
vector's ``after``, and decides every rules-level invalid vector on the state
before it, which must refuse it with the same error class and rule name.

It knows only what the aftercare vectors use: role grants, certificates, the
care and repair events, one-step repair records, and escrows without
disputes. Usage: python spec/tools/check_aftercare_vectors.py [VECTOR_DIR];
exits 1 on any disagreement.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_core_vectors import InvalidError, check_statement

AUTHORITY = "provledger:authority:"
LIVE = ("active", "pending")
WORKING = ("received", "in_progress", "waiting_parts")
OPEN_ESCROW = ("offered", "accepted")


class Refused(Exception):  # noqa: N818 - a decision, not a failure of the checker
    """The rules refuse a statement: ``error`` is the class name, ``rule`` the tag."""

    def __init__(self, error: str, rule: str | None) -> None:
        super().__init__(f"{error} [{rule}]")
        self.error = error
        self.rule = rule


@dataclass
class Plan:
    id: bytes
    provider: str
    tier: str
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

    def late(self, t: int) -> bool:
        if not self.promised or (self.status == "cancelled" and not self.ready):
            return False
        return (self.ready or t) > self.promised


@dataclass
class Escrow:
    id: bytes
    seller: bytes
    buyer: bytes
    state: str
    offer_expires: int
    inspection_ends: int
    direct: bool
    on_timeout: str

    def at(self, t: int) -> None:
        if self.state == "offered" and t > self.offer_expires:
            self.state = "expired"
        elif self.state == "accepted" and t > self.inspection_ends:
            self.state = "disputed" if self.on_timeout == "dispute" else "returned"


@dataclass
class Item:
    issuer: str
    owner: bytes
    status: str = "active"
    escrow: Escrow | None = None
    plans: list[Plan] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    consents: list[tuple[bytes, bytes, bytes, int, int]] = field(default_factory=list)

    def in_escrow(self) -> bool:
        return self.escrow is not None and self.escrow.state in OPEN_ESCROW


@dataclass
class Ledger:
    #: key -> authority chain id; chain id -> its (role, granter) grants.
    chains: dict[bytes, str] = field(default_factory=dict)
    roles: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    seen: set[bytes] = field(default_factory=set)

    def chain(self, key: bytes) -> str | None:
        return self.chains.get(key)

    def holds(self, key: bytes, role: str, granter: str | None = None) -> bool:
        chain = self.chains.get(key)
        return chain is not None and any(
            r == role and (granter is None or g == granter) for r, g in self.roles[chain])

    def refuse_signer(self, item: Item, key: bytes, rule: str | None) -> Refused:
        """protocol.md 6.1: a key no authority holds, and not the owner's, is unknown."""
        known = key in self.chains or key == item.owner
        return Refused("UnauthorizedError" if known else "UnknownKeyError", rule)


def decide(ledger: Ledger, body: dict[str, Any], statement: bytes, t: int) -> None:
    """Apply one statement at log time ``t``, or raise Refused (changing nothing)."""
    h = hashlib.sha256(statement).digest()
    if h in ledger.seen:
        raise Refused("DuplicateStatementError", None)
    kind, ev, signer, subject = body["type"], body["event"], body["signer"], body["subject"]
    if kind == "role.granted":
        granter = ledger.chain(signer) or AUTHORITY + signer.hex()
        ledger.chains.setdefault(ev["key"], subject)
        ledger.roles.setdefault(subject, set()).add((ev["role"], granter))
    elif kind == "cert.issued":
        chain = ledger.chain(signer)
        assert chain is not None
        ledger.items[subject] = Item(issuer=chain, owner=ev["owner"])
    else:
        item = copy.deepcopy(ledger.items[subject])
        if item.escrow is not None:
            item.escrow.at(t)
        _item_event(ledger, item, kind, ev, signer, t, h)
        ledger.items[subject] = item
    ledger.seen.add(h)


def _item_event(ledger: Ledger, item: Item, kind: str, ev: dict[str, Any], signer: bytes,
                t: int, h: bytes) -> None:
    if kind.startswith("care."):
        _care(ledger, item, kind, ev, signer, t, h)
    elif kind.startswith("escrow."):
        _escrow(item, kind, ev, signer, t, h)
    elif kind == "repair.recorded":
        if signer != item.owner and not ledger.holds(signer, "service", item.issuer):
            raise ledger.refuse_signer(item, signer, None)
        _owner_not_in_escrow(item, signer)
        if item.plans:
            workshop = "" if signer == item.owner else ledger.chain(signer) or ""
            item.repairs.append(Repair(h, "collected", workshop, t, ready=t))
    elif kind.startswith("repair."):
        _repair(ledger, item, kind, ev, signer, t, h)
    else:
        raise InvalidError(f"{kind}: not an event this checker knows")


def _owner_not_in_escrow(item: Item, signer: bytes) -> None:
    if signer == item.owner and item.in_escrow():
        raise Refused("StateError", "escrow rule: one-open-escrow")


def _plan(item: Item, pid: bytes) -> Plan:
    for p in item.plans:
        if p.id == pid:
            return p
    raise Refused("PolicyError", "care rule: known-plan")


def _find_repair(item: Item, rid: bytes) -> Repair:
    for r in item.repairs:
        if r.id == rid:
            return r
    raise Refused("PolicyError", "repair rule: known-repair")


def _care(ledger: Ledger, item: Item, kind: str, ev: dict[str, Any], signer: bytes, t: int,
          h: bytes) -> None:
    credits, minor = ev.get("credits", 0), ev.get("credit_minor", 0)
    chain = ledger.chain(signer)
    if kind == "care.enrolled":
        if ledger.holds(signer, "issuer"):
            provider = chain
        elif ledger.holds(signer, "service", item.issuer):
            provider = item.issuer
        else:
            raise ledger.refuse_signer(item, signer, "care rule: provider")
        assert provider is not None
        if item.status != "active":
            raise Refused("StateError", "care rule: active-item")
        if ev["starts"] > ev["ends"] or ev["ends"] < t or ("currency" in ev) != (minor > 0):
            raise Refused("PolicyError", "care rule: valid-plan")
        if any(p.provider == provider and p.at(t) in LIVE for p in item.plans):
            raise Refused("StateError", "care rule: one-plan-per-provider")
        if item.in_escrow():
            raise Refused("StateError", "care rule: frozen-in-escrow")
        item.plans.append(Plan(h, provider, ev["tier"], ev["starts"], ev["ends"],
                               ev["transfer"], credits, minor, ev.get("currency", ""),
                               ev.get("no_consent", False)))
        return
    if kind == "care.consented":
        if signer != item.owner:
            raise Refused("UnauthorizedError", "care rule: owner-consents")
        _owner_not_in_escrow(item, signer)
        if item.status != "active":
            raise Refused("StateError", "care rule: active-item")
    plan = _plan(item, ev["plan"])
    is_provider = chain == plan.provider and ledger.holds(signer, "issuer")
    serves = ledger.holds(signer, "service", plan.provider)
    if kind == "care.renewed":
        if not (is_provider or serves):
            raise ledger.refuse_signer(item, signer, "care rule: provider")
        if plan.status != "active":
            raise Refused("StateError", "care rule: live-plan")
        if ev["ends"] <= plan.ends or ev["ends"] < t or (minor and not plan.currency):
            raise Refused("PolicyError", "care rule: valid-renewal")
        expired = plan.at(t) == "expired"
        if expired and any(p.provider == plan.provider and p.at(t) in LIVE
                           for p in item.plans):
            raise Refused("StateError", "care rule: one-plan-per-provider")
        plan.credits = credits + (0 if expired else plan.credits)
        plan.minor = minor + (0 if expired else plan.minor)
        plan.ends = ev["ends"]
        return
    if kind == "care.cancelled":
        if not is_provider:
            raise ledger.refuse_signer(item, signer, "care rule: provider")
        if plan.at(t) not in LIVE:
            raise Refused("StateError", "care rule: live-plan")
        if item.in_escrow():
            raise Refused("StateError", "care rule: frozen-in-escrow")
        plan.status, plan.credits, plan.minor = "cancelled", 0, 0
        item.consents = [c for c in item.consents if c[1] != plan.id]
        return
    if kind == "care.redeemed":
        if not (is_provider or serves):
            raise ledger.refuse_signer(item, signer, "care rule: provider")
        if item.in_escrow():
            raise Refused("StateError", "care rule: frozen-in-escrow")
    if plan.at(t) != "active":
        raise Refused("StateError", "care rule: active-plan")
    repair = _find_repair(item, ev["repair"])
    if repair.status == "cancelled" or repair.paid_by is not None:
        raise Refused("StateError", "care rule: payable-repair")
    if not credits and not minor:
        raise Refused("PolicyError", "care rule: amount")
    if credits > plan.credits or minor > plan.minor:
        raise Refused("StateError", "care rule: credits")
    if kind == "care.consented":
        item.consents = [c for c in item.consents if (c[1], c[2]) != (plan.id, repair.id)]
        item.consents.append((h, plan.id, repair.id, credits, minor))
        return
    if "consent" in ev:
        match = [c for c in item.consents if c[0] == ev["consent"]]
        if not match or match[0][1:3] != (plan.id, repair.id) or (
                credits > match[0][3] or minor > match[0][4]):
            raise Refused("PolicyError", "care rule: consent")
    elif not plan.no_consent:
        raise Refused("UnauthorizedError", "care rule: consent")
    plan.credits -= credits
    plan.minor -= minor
    repair.paid_by = plan.id
    item.consents = [c for c in item.consents if c[2] != repair.id]


def _serves(ledger: Ledger, item: Item, key: bytes, t: int) -> bool:
    return ledger.holds(key, "service", item.issuer) or any(
        ledger.holds(key, "service", p.provider) for p in item.plans if p.at(t) == "active")


def _repair(ledger: Ledger, item: Item, kind: str, ev: dict[str, Any], signer: bytes, t: int,
            h: bytes) -> None:
    chain = ledger.chain(signer)
    if kind == "repair.requested":
        if signer == item.owner:
            _owner_not_in_escrow(item, signer)
            workshop = ""
        elif _serves(ledger, item, signer, t):
            workshop = chain or ""
        else:
            raise ledger.refuse_signer(item, signer, "repair rule: requester")
        if item.status != "active":
            raise Refused("StateError", "repair rule: active-item")
        if any(r.open for r in item.repairs):
            raise Refused("StateError", "repair rule: one-open-repair")
        if ev["promised"] < t:
            raise Refused("PolicyError", "repair rule: promise")
        item.repairs.append(Repair(h, "requested", workshop, t, ev["promised"]))
        return
    r = _find_repair(item, ev["repair"])
    if not r.open:
        raise Refused("StateError", "repair rule: open-repair")
    if kind == "repair.received":
        if not _serves(ledger, item, signer, t) or (r.workshop and chain != r.workshop):
            raise ledger.refuse_signer(item, signer, "repair rule: workshop")
        if r.status != "requested":
            raise Refused("StateError", "repair rule: transition")
        if item.in_escrow():
            raise Refused("StateError", "repair rule: frozen-in-escrow")
        r.status, r.at_workshop, r.workshop = "received", True, chain or ""
        return
    if kind in ("repair.collected", "repair.cancelled") and signer == item.owner:
        _owner_not_in_escrow(item, signer)
    elif not r.workshop or chain != r.workshop:
        raise ledger.refuse_signer(item, signer, "repair rule: workshop")
    if kind in ("repair.progress", "repair.ready"):
        if r.status not in WORKING:
            raise Refused("StateError", "repair rule: transition")
        if kind == "repair.progress":
            r.status = ev["stage"]
        else:
            r.status, r.ready = "ready", t
    elif kind == "repair.collected":
        if r.status not in ("ready", "cancelled"):
            raise Refused("StateError", "repair rule: transition")
        r.at_workshop = False
        r.status = "collected" if r.status == "ready" else "cancelled"
    else:
        if r.status not in ("requested", *WORKING, "ready"):
            raise Refused("StateError", "repair rule: transition")
        if r.paid_by is not None:
            raise Refused("StateError", "repair rule: paid")
        r.status = "cancelled"
        item.consents = [c for c in item.consents if c[2] != r.id]


def _escrow(item: Item, kind: str, ev: dict[str, Any], signer: bytes, t: int,
            h: bytes) -> None:
    if kind == "escrow.opened":
        if signer != item.owner:
            raise Refused("UnauthorizedError", "escrow rule: owner-opens")
        if item.status != "active":
            raise Refused("StateError", "escrow rule: frozen")
        if item.in_escrow():
            raise Refused("StateError", "escrow rule: one-open-escrow")
        if any(r.at_workshop for r in item.repairs):
            raise Refused("StateError", "escrow rule: at-workshop")
        terms = ev["terms"]
        direct = terms.get("direct", False)
        expected = [p.id for p in item.plans if p.transfer == "with_piece" and p.at(t) in LIVE]
        if (ev["buyer"] == signer or ev["offer_expires"] < t or terms.get("plans", []) != expected
                or (not direct and ev["inspection_ends"] <= ev["offer_expires"])):
            raise Refused("PolicyError", "escrow rule: valid-offer")
        item.escrow = Escrow(h, signer, ev["buyer"], "offered", ev["offer_expires"],
                             ev.get("inspection_ends", 0), direct, terms["on_timeout"])
        return
    esc = item.escrow
    if esc is None or esc.id != ev["escrow"] or esc.state not in OPEN_ESCROW:
        raise Refused("StateError", None)
    if kind in ("escrow.accepted", "escrow.acknowledged"):
        if signer != esc.buyer:
            raise Refused("UnauthorizedError", "escrow rule: party")
        wanted = "offered" if kind == "escrow.accepted" else "accepted"
        if esc.state != wanted:
            raise Refused("StateError", "escrow rule: phase")
        if kind == "escrow.accepted" and not esc.direct:
            esc.state = "accepted"
            return
        esc.state = "completed"
        item.owner = esc.buyer
        for p in item.plans:  # aftercare.md 4.2, the transfer rule
            if p.transfer == "ends" and p.at(t) in LIVE:
                p.status, p.credits, p.minor = "ended", 0, 0
        item.consents = []
        return
    if kind == "escrow.cancelled" and signer == esc.seller and esc.state == "offered":
        esc.state = "cancelled"
        return
    raise InvalidError(f"{kind}: not an escrow step this checker knows")


def after(item: Item, t: int, names: dict[str, str]) -> dict[str, Any]:
    """An item as the vectors' ``after`` shows it."""
    esc = item.escrow
    return {
        "owner": "ed25519:" + base64.urlsafe_b64encode(item.owner).decode().rstrip("="),
        "status": item.status,
        "escrow": None if esc is None else {"id": esc.id.hex(), "state": esc.state},
        "plans": [{"id": p.id.hex(), "provider": names[p.provider], "tier": p.tier,
                   "status": p.at(t), "ends": p.ends, "credits": [p.credits, p.minor],
                   "currency": p.currency} for p in item.plans],
        "repairs": [{"id": r.id.hex(), "status": r.status,
                     "workshop": names.get(r.workshop, ""), "at_workshop": r.at_workshop,
                     "promised": r.promised, "ready": r.ready, "late": r.late(t),
                     "paid_by": None if r.paid_by is None else r.paid_by.hex()}
                    for r in item.repairs],
        "consents": [c[0].hex() for c in item.consents],
    }


def main(argv: list[str]) -> int:
    root = (Path(argv[1]) if len(argv) > 1
            else Path(__file__).resolve().parents[1] / "vectors/aftercare")
    meta = json.loads((root / "ledger.json").read_text())
    valid = json.loads((root / "valid.json").read_text())
    invalid = json.loads((root / "invalid.json").read_text())
    names = {chain: name for name, chain in meta["authorities"].items()}
    ledger = Ledger()
    states = []
    failures = 0
    for v in valid:
        states.append(copy.deepcopy(ledger))
        statement = bytes.fromhex(v["statement"])
        try:
            decide(ledger, check_statement(statement), statement, v["time"])
        except (Refused, InvalidError) as exc:
            print(f"FAIL valid/{v['name']}: refused: {exc}")
            return 1
        if v["after"] is not None:
            got = after(ledger.items[v["subject"]], v["time"], names)
            if got != v["after"]:
                print(f"FAIL valid/{v['name']}: state after it differs:\n  {got}\n  "
                      f"{v['after']}")
                failures += 1
    states.append(ledger)
    print(f"valid: {len(valid)} statements replayed, every state as the vectors say")
    checked = 0
    for v in invalid:
        if v["level"] != "rules" or v["error"] == "ChainError":
            continue
        checked += 1
        state = copy.deepcopy(states[v["context"]])
        statement = bytes.fromhex(v["statement"])
        try:
            decide(state, check_statement(statement), statement, v["log_time"])
        except Refused as exc:
            if (exc.error, exc.rule) == (v["error"], v["rule"]):
                continue
            print(f"FAIL invalid/{v['name']}: refused with {exc.error} [{exc.rule}], "
                  f"expected {v['error']} [{v['rule']}]")
        except InvalidError as exc:
            print(f"FAIL invalid/{v['name']}: {exc}")
        else:
            print(f"FAIL invalid/{v['name']}: accepted, expected {v['error']}")
        failures += 1
    print(f"invalid: {checked} rules-level vectors refused alike, {failures} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
