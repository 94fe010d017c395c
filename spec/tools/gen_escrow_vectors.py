"""Regenerate spec/vectors/escrow/ (escrow flows and refused statements) byte for byte.

Its inputs are fixed (seeds, log times, deadlines); storyvectors.py checks every vector on a
scratch ledger and explains why the bytes cannot change. Usage:
python spec/tools/gen_escrow_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import storyvectors as sv
from storyvectors import ROOT

import provledger as pl

DEFAULT_OUT = ROOT / "spec" / "vectors" / "escrow"
ORIGIN = "ledger.example-jeweler.com/resale"
T0 = 1_790_000_000
HOUR = 3600
DAY = 86400
KEY_NAMES = ("root", "log", "jeweler", "insurer", "alice", "bob", "carol", "arbiter",
             "marketplace", "stranger")

KEYS = sv.keys(KEY_NAMES)
PK = {n: k.public_key for n, k in KEYS.items()}
RING = pl.serial_item_id(PK["jeweler"], "R-0100")
PENDANT = pl.serial_item_id(PK["jeweler"], "P-0200")
ITEMS = {"ring": RING, "pendant": PENDANT}


def photo(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def terms(*, arbiter: bool = True, on_timeout: str = "dispute", direct: bool = False,
          price: int = 250_000) -> pl.EscrowTerms:
    return pl.EscrowTerms(
        price_minor=price, currency="EUR", on_timeout=on_timeout,  # type: ignore[arg-type]
        direct=direct, arbiter=PK["arbiter"] if arbiter else None,
        marketplace=PK["marketplace"] if arbiter else None)


CONDITION = pl.ConditionReport(grade="very good", notes="Light wear on the shank",
                               photos=[photo("ring-front"), photo("ring-side")])


def after(ledger: pl.Ledger, item: str) -> dict[str, Any] | None:
    """The item's owner, status and escrow after an entry (None for authorities)."""
    if item not in ITEMS.values():
        return None
    state = ledger.item(item)
    esc = state.escrow
    return {"owner": pl.format_public_key(state.owner), "status": state.status,
            "escrow": None if esc is None else {
                "id": esc.id.hex(), "state": esc.state,
                "votes": [[v.party, v.outcome] for v in esc.votes]}}


@dataclass
class Story(sv.Story):
    """The escrow story's ledger; it remembers each escrow's id and offer by letter."""

    origin = ORIGIN
    keys = KEYS
    escrows: dict[str, bytes] = field(default_factory=dict)
    offers: dict[str, pl.EscrowOpened] = field(default_factory=dict)

    def after(self, subject: str, time: int) -> Any:  # noqa: ARG002
        return after(self.ledger, subject)

    def names_rule(self, exc: pl.ProvLedgerError, rule: str) -> bool:
        return f"[escrow rule: {rule}]" in str(exc)

    def add(self, name: str, signer: str, subject: str, event: pl.Event, *,
            at: int | None = None) -> bytes:
        """Append a valid statement (see ``sv.Story.add``); an offer ``open-<x>`` is
        escrow ``x``."""
        opened = super().add(name, signer, subject, event, at=at)
        if isinstance(event, pl.EscrowOpened):
            self.escrows[name.removeprefix("open-")] = opened
            self.offers[name.removeprefix("open-")] = event
        return opened

    def accept(self, escrow: str, *, t: pl.EscrowTerms | None = None,
               c: pl.ConditionReport | None = None) -> pl.EscrowAccepted:
        offer = self.offers[escrow]
        return pl.EscrowAccepted(escrow=self.escrows[escrow],
                                 terms_hash=pl.terms_hash(t or offer.terms),
                                 condition_hash=pl.condition_hash(c or offer.condition))

    def acknowledge(self, escrow: str) -> pl.EscrowAcknowledged:
        a = self.accept(escrow)
        return pl.EscrowAcknowledged(escrow=a.escrow, terms_hash=a.terms_hash,
                                     condition_hash=a.condition_hash)

    def offer(self, buyer: str, t: pl.EscrowTerms, *, expires_in: int = HOUR,
              inspect_for: int = 7 * DAY, start: int | None = None) -> pl.EscrowOpened:
        """An offer made at the next step's log time (``start``, default one minute on)."""
        at = self.now + 60 if start is None else start
        return pl.EscrowOpened(buyer=PK[buyer], terms=t, condition=CONDITION,
                               offer_expires=at + expires_in,
                               inspection_ends=0 if t.direct else at + expires_in + inspect_for)


def tell(s: Story) -> None:
    """The valid story, with each invalid case tried where it belongs."""
    s.add("grant-issuer", "root", pl.authority_subject(PK["jeweler"]),
          pl.RoleGranted(key=PK["jeweler"], name="Example Jeweler Ltd", role="issuer"), at=T0)
    s.add("grant-reporter", "jeweler", pl.authority_subject(PK["insurer"]),
          pl.RoleGranted(key=PK["insurer"], name="Insure Mutual", role="reporter"))
    s.add("issue-ring", "jeweler", RING, pl.CertificateIssued(
        kind="ring", serial="R-0100", metal="platinum", fineness=950, owner=PK["alice"]))
    s.add("issue-pendant", "jeweler", PENDANT, pl.CertificateIssued(
        kind="pendant", serial="P-0200", metal="gold", fineness=750, owner=PK["alice"]))

    # Offers that must be refused before any escrow exists.
    at = s.now + 60
    s.refuse("open-by-non-owner", "the buyer offers the seller's ring to itself",
             pl.UnauthorizedError, "owner-opens", s.sign("bob", RING, s.offer("alice", terms()),
                                                         at=at), at=at)
    for name, desc, ev in (
        ("offer-to-self", "the seller names itself as buyer", s.offer("alice", terms())),
        ("offer-arbiter-is-buyer", "the arbiter is the buyer",
         pl.EscrowOpened(buyer=PK["arbiter"], terms=terms(), condition=CONDITION,
                         offer_expires=at + HOUR, inspection_ends=at + 2 * HOUR)),
        ("offer-already-expired", "offer_expires before the entry's log time",
         s.offer("bob", terms(), expires_in=-1)),
        ("inspection-before-offer-ends", "inspection_ends equal to offer_expires",
         s.offer("bob", terms(), inspect_for=0)),
    ):
        s.refuse(name, desc, pl.PolicyError, "valid-offer", s.sign("alice", RING, ev, at=at),
                 at=at)
    head = s.ledger.head(RING)
    offer_body = pl._codec.to_builtins(s.offer("bob", terms()))
    for name, desc, patch in (
        ("terms-bad-currency", "terms.currency is not an ISO 4217 code",
         {"terms": {**offer_body["terms"], "currency": "euro"}}),
        ("terms-explicit-default", "terms.direct: false encoded instead of omitted",
         {"terms": {**offer_body["terms"], "direct": False}}),
        ("terms-unknown-timeout", "on_timeout is neither dispute nor return",
         {"terms": {**offer_body["terms"], "on_timeout": "accept"}}),
        ("condition-missing-grade", "the condition report has no grade",
         {"condition": {"notes": "no grade"}}),
    ):
        s.refuse(name, desc, pl.DecodeError, None,
                 s.raw("alice", RING, head, at - 5, "escrow.opened", {**offer_body, **patch}),
                 at=at)

    # A: resale with inspection; the buyer accepts and acknowledges on the deadline seconds.
    s.add("open-a", "alice", RING, s.offer("bob", terms()))
    a = s.offers["a"]
    s.refuse("second-escrow", "the seller offers the ring to another buyer while A is open",
             pl.StateError, "one-open-escrow", s.sign("alice", RING, s.offer("carol", terms())))
    s.refuse("owner-repair-in-escrow", "the seller logs a repair while A is open",
             pl.StateError, "one-open-escrow", s.sign("alice", RING, pl.RepairRecorded(
                 work="Polish", category="service", performed_by="Bench & Co",
                 started=s.now, completed=s.now)))
    s.refuse("accept-by-seller", "the seller signs the buyer's acceptance",
             pl.UnauthorizedError, "party", s.sign("alice", RING, s.accept("a")))
    s.refuse("accept-by-stranger", "a third key signs an acceptance",
             pl.UnauthorizedError, "party", s.sign("stranger", RING, s.accept("a")))
    s.refuse("accept-other-terms", "the acceptance repeats other terms",
             pl.PolicyError, "binding", s.sign("bob", RING, s.accept("a", t=terms(price=1))))
    s.refuse("accept-other-condition", "the acceptance repeats another condition report",
             pl.PolicyError, "binding", s.sign("bob", RING, s.accept(
                 "a", c=pl.ConditionReport(grade="mint"))))
    s.refuse("accept-unknown-escrow", "the acceptance names no escrow of the item",
             pl.StateError, "current-escrow", s.sign("bob", RING, pl.EscrowAccepted(
                 escrow=bytes(32), terms_hash=pl.terms_hash(a.terms),
                 condition_hash=pl.condition_hash(a.condition))))
    late = a.offer_expires + 1
    s.refuse("accept-after-offer-expired", "accepted one second after offer_expires "
             "(log time; the signer's own time is earlier)", pl.StateError, "terminal",
             s.sign("bob", RING, s.accept("a"), at=a.offer_expires), at=late)
    s.refuse("resolve-before-dispute", "the arbiter rules on an offer",
             pl.StateError, "phase", s.sign("arbiter", RING, pl.EscrowResolution(
                 escrow=s.escrows["a"], outcome="buyer")))
    s.add("accept-a", "bob", RING, s.accept("a"), at=a.offer_expires)
    s.refuse("acknowledge-by-seller", "the seller acknowledges for the buyer",
             pl.UnauthorizedError, "party", s.sign("alice", RING, s.acknowledge("a")))
    s.refuse("cancel-after-acceptance", "the seller cancels an accepted escrow",
             pl.StateError, "phase", s.sign("alice", RING, pl.EscrowCancelled(
                 escrow=s.escrows["a"])))
    s.refuse("acknowledge-after-inspection", "acknowledged one second after inspection_ends: "
             "the escrow went to dispute, never to the buyer", pl.StateError, "phase",
             s.sign("bob", RING, s.acknowledge("a"), at=a.inspection_ends + 1),
             at=a.inspection_ends + 1)
    s.add("acknowledge-a", "bob", RING, s.acknowledge("a"), at=a.inspection_ends)
    s.refuse("reject-after-completion", "the buyer rejects a completed escrow",
             pl.StateError, "terminal", s.sign("bob", RING, pl.EscrowRejected(
                 escrow=s.escrows["a"], reason="changed my mind")))
    s.refuse("replayed-acceptance", "A's acceptance, byte for byte, again",
             pl.DuplicateStatementError, None, bytes.fromhex(s.valid[-2]["statement"]))
    s.refuse("former-owner-opens", "the seller of A offers the ring again",
             pl.UnauthorizedError, "owner-opens",
             s.sign("alice", RING, s.offer("carol", terms())))

    # B: a dispute the arbiter settles for the seller.
    s.add("open-b", "bob", RING, s.offer("carol", terms()))
    s.add("accept-b", "carol", RING, s.accept("b"))
    s.refuse("dispute-by-arbiter", "the arbiter opens a dispute",
             pl.UnauthorizedError, "party", s.sign("arbiter", RING, pl.EscrowDisputed(
                 escrow=s.escrows["b"], reason="unpaid")))
    s.add("dispute-b", "carol", RING, pl.EscrowDisputed(
        escrow=s.escrows["b"], reason="Stone loose in its setting", photos=[photo("loose")]))
    s.refuse("resolve-by-stranger", "a key named nowhere in the terms rules",
             pl.UnauthorizedError, "party", s.sign("stranger", RING, pl.EscrowResolution(
                 escrow=s.escrows["b"], outcome="buyer")))
    s.refuse("acknowledge-in-dispute", "the buyer acknowledges a disputed escrow",
             pl.StateError, "phase", s.sign("carol", RING, s.acknowledge("b")))
    s.add("resolve-b", "arbiter", RING, pl.EscrowResolution(
        escrow=s.escrows["b"], outcome="seller", notes="Setting checked: stone was secure"))
    s.refuse("acknowledge-after-return", "the buyer acknowledges a returned escrow",
             pl.StateError, "terminal", s.sign("carol", RING, s.acknowledge("b")))

    # C: a direct handover of the pendant.
    s.add("open-c", "alice", PENDANT, s.offer("carol", terms(arbiter=False, direct=True,
                                                               price=0)))
    s.add("accept-c", "carol", PENDANT, s.accept("c"))

    # D, E, F: declined, cancelled, expired.
    s.add("open-d", "bob", RING, s.offer("alice", terms()))
    s.refuse("cancel-by-buyer", "the buyer signs the seller's cancellation",
             pl.UnauthorizedError, "party", s.sign("alice", RING, pl.EscrowCancelled(
                 escrow=s.escrows["d"])))
    s.refuse("decline-by-seller", "the seller signs the buyer's refusal",
             pl.UnauthorizedError, "party", s.sign("bob", RING, pl.EscrowDeclined(
                 escrow=s.escrows["d"])))
    stale_prev = s.ledger.head(RING)
    s.add("decline-d", "alice", RING, pl.EscrowDeclined(escrow=s.escrows["d"],
                                                        notes="Too dear"))
    s.add("open-e", "bob", RING, s.offer("carol", terms()))
    s.refuse("replay-onto-another-escrow", "B's acceptance body signed again on the ring's "
             "current head, while E is open", pl.StateError, "current-escrow",
             s.sign("carol", RING, s.accept("b")))
    s.refuse("replay-onto-another-item", "an acceptance of the ring's escrow E signed on "
             "the pendant", pl.StateError, "current-escrow", s.sign("carol", PENDANT,
                                                                    s.accept("e")))
    s.refuse("stale-head", "a decline signed on the ring's head before D was declined",
             pl.ChainError, None, s.sign("carol", RING, pl.EscrowDeclined(escrow=s.escrows["e"]),
                                         prev=stale_prev))
    s.add("cancel-e", "bob", RING, pl.EscrowCancelled(escrow=s.escrows["e"]))
    s.add("open-f", "bob", RING, s.offer("carol", terms(), expires_in=600))
    s.add("repair-after-expiry", "bob", RING, pl.RepairRecorded(
        work="Re-tipped claws", category="repair", performed_by="Bench & Co",
        started=s.now, completed=s.now), at=s.offers["f"].offer_expires + 1)

    # G: an inspection left unacknowledged goes to dispute; buyer and seller settle it.
    s.add("open-g", "bob", RING, s.offer("carol", terms(arbiter=False), inspect_for=DAY))
    s.add("accept-g", "carol", RING, s.accept("g"))
    s.add("vote-g-seller", "bob", RING, pl.EscrowResolution(
        escrow=s.escrows["g"], outcome="buyer"), at=s.offers["g"].inspection_ends + 1)
    s.add("vote-g-buyer", "carol", RING, pl.EscrowResolution(
        escrow=s.escrows["g"], outcome="buyer"))

    # H: the buyer rejects the pendant; its seller may not report it lost meanwhile.
    s.add("open-h", "carol", PENDANT, s.offer("bob", terms(on_timeout="return")))
    s.refuse("lost-while-offered", "the seller reports the piece lost while its offer "
             "stands (cancel first)", pl.StateError, "no-loss-in-escrow",
             s.sign("carol", PENDANT, pl.LostReported()))
    s.add("accept-h", "bob", PENDANT, s.accept("h"))
    s.refuse("lost-while-accepted", "the seller reports the piece lost after the buyer "
             "accepted (a freeze would let the inspection lapse back to the seller)",
             pl.StateError, "no-loss-in-escrow", s.sign("carol", PENDANT, pl.LostReported()))
    s.add("reject-h", "bob", PENDANT, pl.EscrowRejected(
        escrow=s.escrows["h"], reason="Clasp broken", photos=[photo("clasp")]))

    # I: an inspection left unacknowledged goes back to the seller, as its terms say.
    s.add("open-i", "carol", RING, s.offer("alice", terms(arbiter=False, on_timeout="return"),
                                           inspect_for=DAY))
    s.add("accept-i", "alice", RING, s.accept("i"))
    s.add("appraise-after-return", "carol", RING, pl.AppraisalRecorded(
        method="in_person", currency="EUR", appraiser="Bench & Co", value_minor=260_000),
        at=s.offers["i"].inspection_ends + 1)

    # J: a theft after acceptance disputes the pendant's escrow at once; no deadline
    # returns it to the seller, and the arbiter rules while it is stolen.
    s.add("open-j", "carol", PENDANT, s.offer("bob", terms(on_timeout="return")))
    s.add("accept-j", "bob", PENDANT, s.accept("j"))
    s.add("stolen-j", "insurer", PENDANT, pl.StolenReported(reference="CLAIM-2026-2001"))
    s.refuse("acknowledge-while-stolen", "the buyer acknowledges an escrow a theft disputed",
             pl.StateError, "frozen", s.sign("bob", PENDANT, s.acknowledge("j")))
    s.refuse("dispute-while-stolen", "the buyer adds evidence before the recovery",
             pl.StateError, "frozen", s.sign("bob", PENDANT, pl.EscrowDisputed(
                 escrow=s.escrows["j"], reason="Stolen in transit")))
    s.refuse("cancel-while-stolen-after-acceptance", "the seller cancels an accepted "
             "escrow of a stolen piece", pl.StateError, "frozen", s.sign(
                 "carol", PENDANT, pl.EscrowCancelled(escrow=s.escrows["j"])))
    s.refuse("open-while-stolen", "the owner of a stolen piece offers it",
             pl.StateError, "frozen", s.sign("carol", PENDANT, s.offer("alice", terms())))
    s.add("resolve-j-while-stolen", "arbiter", PENDANT, pl.EscrowResolution(
        escrow=s.escrows["j"], outcome="buyer", notes="Stolen from the buyer; paid"),
        at=s.offers["j"].inspection_ends + 1)
    s.add("recovered-j", "insurer", PENDANT, pl.Recovered(notes="Found by police"))

    # K: a theft cancels an offer for good, recovery or not.
    s.add("open-k", "bob", PENDANT, s.offer("alice", terms(arbiter=False, direct=True,
                                                             price=0)))
    s.add("stolen-k", "jeweler", PENDANT, pl.StolenReported(reference="CLAIM-2026-2002"))
    s.add("recovered-k", "jeweler", PENDANT, pl.Recovered())
    s.refuse("accept-after-theft", "the buyer accepts an offer a theft report cancelled, "
             "after the recovery", pl.StateError, "terminal",
             s.sign("alice", PENDANT, s.accept("k")))

    # A revoked certificate closes the chain, escrows included.
    s.add("revoke-pendant", "jeweler", PENDANT, pl.CertificateRevoked(reason="Withdrawn"))
    s.refuse("open-on-revoked", "the pendant's owner offers it after revocation",
             pl.StateError, None, s.sign("carol", PENDANT, s.offer("alice", terms())))


def render(out: Path) -> dict[Path, bytes]:
    """All vector files, path -> bytes."""
    valid, invalid = sv.build(Story, tell, T0)
    return sv.files(out, _readme(valid, invalid), sv.meta(Story, ITEMS), valid, invalid)


def _readme(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> str:
    lines = [
        "# Escrow vectors: transfers, and the statements the rules refuse",
        "",
        "Generated by `spec/tools/gen_escrow_vectors.py` (do not edit by hand; the test",
        "suite regenerates them and fails on any difference). Keys come from fixed seeds,",
        "`SHA-256(\"provledger test key <name>\")`, as in ../core; Ed25519 signatures are",
        "deterministic, so the bytes are exact. The rules are in ../../escrow.md.",
        "",
        "- `ledger.json`: the log origin, the root and log key names, the two items and",
        "  the keys (alice, bob and carol are owners and buyers; arbiter, marketplace and",
        "  stranger sign nothing but what their names say).",
        "- `valid.json`: a story told in order on a fresh ledger. Each vector gives the",
        "  statement, its hash, and the log entry (`index`, `time`, `entry`) the ledger",
        "  must produce when its clock reads `time` at the append; deadlines are judged",
        "  by those times. `after` is the item's owner, status and escrow after the entry.",
        "- `invalid.json`: statements that must be refused, each after the first",
        "  `context` valid statements were appended and with the log clock at `log_time`,",
        "  with the error class provledger raises, the escrow rule its message names",
        "  (`[escrow rule: <rule>]`; null for the protocol's general rules) and the",
        "  ledger left unchanged. `level`: `schema` (events.cddl rejects it) or `rules`.",
        "",
        "## Valid story",
        "",
        "| index | time | name | signer | type | escrow after |",
        "|---|---|---|---|---|---|",
    ]
    for v in valid:
        esc = (v["after"] or {}).get("escrow")
        shown = f"{esc['id'][:8]}… {esc['state']}" if esc else ""
        lines.append(f"| {v['index']} | T0+{v['time'] - T0} | {v['name']} | {v['signer']} | "
                     f"`{v['type']}` | {shown} |")
    return sv.readme(lines, invalid, T0)


if __name__ == "__main__":
    raise SystemExit(sv.main(sys.argv, DEFAULT_OUT, render))
