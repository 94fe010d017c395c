"""Regenerate spec/vectors/aftercare/ (care plans, credits, repair status) byte for byte.

Its inputs are fixed (seeds, log times, terms); storyvectors.py checks every vector on a
scratch ledger and explains why the bytes cannot change. Usage:
python spec/tools/gen_aftercare_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import storyvectors as sv
from storyvectors import ROOT

import provledger as pl

DEFAULT_OUT = ROOT / "spec" / "vectors" / "aftercare"
ORIGIN = "ledger.example-jeweler.com/aftercare"
T0 = 1_795_000_000
HOUR = 3600
DAY = 86400
YEAR = 365 * DAY
KEY_NAMES = ("root", "log", "jeweler", "workshop", "rival", "alice", "bob", "carol",
             "stranger")

KEYS = sv.keys(KEY_NAMES)
PK = {n: k.public_key for n, k in KEYS.items()}
AUTHORITIES = {pl.authority_subject(PK[n]): n for n in ("jeweler", "workshop", "rival")}
RING = pl.serial_item_id(PK["jeweler"], "R-0700")
PENDANT = pl.serial_item_id(PK["jeweler"], "P-0800")
ITEMS = {"ring": RING, "pendant": PENDANT}


def digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


GOLD_TERMS = digest("Gold care plan terms, 2026 edition")
CONDITION = pl.ConditionReport(grade="worn", notes="Two claws thin; stone secure",
                               photos=[digest("ring-claws-before")])
SALE_CONDITION = pl.ConditionReport(grade="very good", photos=[digest("ring-sale")])


def after(ledger: pl.Ledger, item: str, log_time: int) -> dict[str, Any] | None:
    """An item's owner, status, escrow, plans, repairs and open consents after an
    entry, plan status and lateness evaluated at its log time (None for authorities)."""
    if item not in ITEMS.values():
        return None
    state = ledger.item(item)
    esc = state.escrow
    return {
        "owner": pl.format_public_key(state.owner), "status": state.status,
        "escrow": None if esc is None else {"id": esc.id.hex(), "state": esc.state},
        "plans": [{"id": p.id.hex(), "provider": AUTHORITIES[p.provider], "tier": p.tier,
                   "status": p.status_at(log_time), "ends": p.ends,
                   "credits": [p.credits, p.credit_minor], "currency": p.currency}
                  for p in state.plans],
        "repairs": [{"id": r.id.hex(), "status": r.status,
                     "workshop": AUTHORITIES.get(r.workshop, ""), "at_workshop": r.at_workshop,
                     "promised": r.promised, "ready": r.ready,
                     "late": r.late_at(log_time),
                     "paid_by": None if r.paid_by is None else r.paid_by.hex()}
                    for r in state.repairs],
        "consents": [c.id.hex() for c in state.consents],
    }


class Story(sv.Story):
    """The aftercare story's ledger."""

    origin = ORIGIN
    keys = KEYS

    def after(self, subject: str, time: int) -> Any:
        return after(self.ledger, subject, time)


def gold(start: int) -> pl.CareEnrolled:
    return pl.CareEnrolled(
        tier="Gold", starts=start, ends=start + YEAR, terms=GOLD_TERMS, transfer="with_piece",
        credits=2, credit_minor=20_000, currency="EUR",
        services=["annual cleaning", "inspection", "certificate renewal", "insurance check"])


def sale_terms(plans: list[bytes], *, direct: bool = False) -> pl.EscrowTerms:
    return pl.EscrowTerms(price_minor=480_000, currency="EUR", on_timeout="return",
                          direct=direct, plans=plans)


def accepted(opened: bytes, terms: pl.EscrowTerms, cond: pl.ConditionReport,
             ack: bool = False) -> pl.Event:
    cls = pl.EscrowAcknowledged if ack else pl.EscrowAccepted
    return cls(escrow=opened, terms_hash=pl.terms_hash(terms),
               condition_hash=pl.condition_hash(cond))


def tell(s: Story) -> None:
    """The valid story, with each invalid case tried where it belongs."""
    s.add("grant-issuer", "root", pl.authority_subject(PK["jeweler"]),
          pl.RoleGranted(key=PK["jeweler"], name="Example Jeweler Ltd", role="issuer"), at=T0)
    s.add("grant-workshop", "jeweler", pl.authority_subject(PK["workshop"]),
          pl.RoleGranted(key=PK["workshop"], name="Bench & Co Workshop", role="service"))
    s.add("grant-rival", "root", pl.authority_subject(PK["rival"]),
          pl.RoleGranted(key=PK["rival"], name="Rival Jewels", role="issuer"))
    s.add("issue-ring", "jeweler", RING, pl.CertificateIssued(
        kind="ring", serial="R-0700", metal="platinum", fineness=950, owner=PK["alice"]))
    s.add("issue-pendant", "jeweler", PENDANT, pl.CertificateIssued(
        kind="pendant", serial="P-0800", metal="gold", fineness=750, owner=PK["alice"]))
    _ring(s)
    _pendant(s)


def _ring(s: Story) -> None:
    # Enrolment: who may, and valid terms.
    at = s.now + 60
    s.no("enrol-by-owner", "the owner enrols the ring on a plan itself",
         pl.UnauthorizedError, "care rule: provider", "alice", RING, gold(at), at=at)
    s.no("enrol-by-stranger", "a key no authority holds enrols a plan",
         pl.UnknownKeyError, "care rule: provider", "stranger", RING, gold(at), at=at)
    for name, desc, ev in (
        ("enrol-ends-before-starts", "ends before starts",
         pl.CareEnrolled(tier="Gold", starts=at + DAY, ends=at, terms=GOLD_TERMS,
                         transfer="with_piece")),
        ("enrol-already-over", "ends before the entry's log time",
         pl.CareEnrolled(tier="Gold", starts=at - YEAR, ends=at - 1, terms=GOLD_TERMS,
                         transfer="with_piece")),
        ("enrol-minor-without-currency", "credit_minor without a currency",
         pl.CareEnrolled(tier="Gold", starts=at, ends=at + YEAR, terms=GOLD_TERMS,
                         transfer="with_piece", credit_minor=100)),
        ("enrol-currency-without-minor", "a currency without credit_minor",
         pl.CareEnrolled(tier="Gold", starts=at, ends=at + YEAR, terms=GOLD_TERMS,
                         transfer="with_piece", currency="EUR")),
    ):
        s.no(name, desc, pl.PolicyError, "care rule: valid-plan", "jeweler", RING, ev, at=at)
    head = s.ledger.head(RING)
    body = pl._codec.to_builtins(gold(at))
    for name, desc, patch in (
        ("enrol-unknown-transfer", "transfer is neither with_piece nor ends",
         {"transfer": "to_buyer"}),
        ("enrol-explicit-default", "no_consent: false encoded instead of omitted",
         {"no_consent": False}),
        ("enrol-negative-credits", "credits below zero", {"credits": -1}),
        ("enrol-terms-not-a-digest", "terms is not a 32-byte digest", {"terms": b"terms"}),
    ):
        s.refuse(name, desc, pl.DecodeError, None,
                 s.raw("jeweler", RING, head, at - 5, "care.enrolled", {**body, **patch}), at=at)

    plan = s.add("enrol-gold", "jeweler", RING, gold(at), at=at)
    s.no("enrol-second-plan", "the jeweler enrols a second plan while Gold is active",
         pl.StateError, "care rule: one-plan-per-provider", "jeweler", RING, gold(s.now))
    s.no("enrol-by-workshop-second", "the jeweler's workshop enrols a plan for the jeweler, "
         "who already has one", pl.StateError, "care rule: one-plan-per-provider",
         "workshop", RING, gold(s.now))
    # A rival issuer may sell its own plan on the piece, in its own name only.
    rival = s.add("enrol-rival-bronze", "rival", RING, pl.CareEnrolled(
        tier="Bronze", starts=s.now + 60, ends=s.now + 180 * DAY,
        terms=digest("Rival Bronze terms"), transfer="ends", credits=1,
        services=["annual cleaning"]))
    s.no("rival-cancels-gold", "the rival issuer cancels the jeweler's plan",
         pl.UnauthorizedError, "care rule: provider", "rival", RING,
         pl.CareCancelled(plan=plan, reason="Competition"))
    s.no("rival-renews-gold", "the rival issuer renews the jeweler's plan",
         pl.UnauthorizedError, "care rule: provider", "rival", RING,
         pl.CareRenewed(plan=plan, ends=s.now + 2 * YEAR))
    s.no("renew-unknown-plan", "a renewal names no plan of the ring",
         pl.PolicyError, "care rule: known-plan", "jeweler", RING,
         pl.CareRenewed(plan=digest("no such plan"), ends=s.now + 2 * YEAR))
    s.no("renew-shortens", "a renewal that does not extend the plan",
         pl.PolicyError, "care rule: valid-renewal", "jeweler", RING,
         pl.CareRenewed(plan=plan, ends=s.now + YEAR - 3600))

    # Repair R1: requested by the owner, delayed for parts, paid from a credit.
    promised = s.now + 60 + 14 * DAY
    s.no("request-promise-in-past", "a repair promised before the request's log time",
         pl.PolicyError, "repair rule: promise", "alice", RING, pl.RepairRequested(
             work="Re-tip two claws", category="repair", promised=s.now - 1))
    s.no("request-by-stranger", "a key that is neither the owner nor a workshop asks",
         pl.UnknownKeyError, "repair rule: requester", "stranger", RING, pl.RepairRequested(
             work="Re-tip two claws", category="repair", promised=promised))
    r1 = s.add("request-r1", "alice", RING, pl.RepairRequested(
        work="Re-tip two claws", category="repair", promised=promised,
        photos=[digest("ring-claws-owner")]))
    s.no("request-second-open", "a second repair while R1 is open",
         pl.StateError, "repair rule: one-open-repair", "workshop", RING, pl.RepairRequested(
             work="Polish", category="cleaning", promised=promised))
    s.no("progress-before-receipt", "no workshop has the piece yet",
         pl.UnauthorizedError, "repair rule: workshop", "workshop", RING,
         pl.RepairProgress(repair=r1, stage="in_progress"))
    s.no("receive-by-rival", "the rival issuer (no service role) takes the piece in",
         pl.UnauthorizedError, "repair rule: workshop", "rival", RING,
         pl.RepairReceived(repair=r1, condition=CONDITION))
    s.no("receive-unknown-repair", "names no repair of the ring",
         pl.PolicyError, "repair rule: known-repair", "workshop", RING,
         pl.RepairReceived(repair=digest("no such repair"), condition=CONDITION))
    s.add("receive-r1", "workshop", RING, pl.RepairReceived(repair=r1, condition=CONDITION))
    s.no("escrow-at-workshop", "the owner offers the ring while the workshop holds it",
         pl.StateError, "escrow rule: at-workshop", "alice", RING, pl.EscrowOpened(
             buyer=PK["bob"], terms=sale_terms([plan]), condition=SALE_CONDITION,
             offer_expires=s.now + DAY, inspection_ends=s.now + 8 * DAY))
    s.no("receive-twice", "the workshop receives R1 again",
         pl.StateError, "repair rule: transition", "workshop", RING,
         pl.RepairReceived(repair=r1, condition=CONDITION))
    s.no("ready-by-owner", "the owner marks the work done",
         pl.UnauthorizedError, "repair rule: workshop", "alice", RING, pl.RepairReady(repair=r1))
    s.add("waiting-parts-r1", "workshop", RING, pl.RepairProgress(
        repair=r1, stage="waiting_parts", expected=promised + 3 * DAY,
        notes="Platinum claw tips on order"), at=s.now + DAY)
    s.add("in-progress-r1", "workshop", RING, pl.RepairProgress(repair=r1, stage="in_progress"),
          at=promised + DAY)
    s.no("collect-before-ready", "the owner collects work in progress",
         pl.StateError, "repair rule: transition", "alice", RING, pl.RepairCollected(repair=r1))
    s.add("ready-r1", "workshop", RING, pl.RepairReady(
        repair=r1, parts=[pl.Part(name="claw tip", count=2, material="platinum 950")],
        photos_after=[digest("ring-claws-after")]), at=promised + 2 * DAY)

    # Paying R1: the owner's consent, then the workshop's redemption.
    s.no("redeem-without-consent", "the workshop spends the owner's credits alone",
         pl.UnauthorizedError, "care rule: consent", "workshop", RING,
         pl.CareRedeemed(plan=plan, repair=r1, credits=1))
    s.no("consent-by-non-owner", "a key that is not the owner on the ledger (a thief "
         "holding the ring) consents", pl.UnauthorizedError, "care rule: owner-consents",
         "bob", RING, pl.CareConsented(plan=plan, repair=r1, credits=1))
    s.no("consent-by-workshop", "the workshop signs the owner's consent",
         pl.UnauthorizedError, "care rule: owner-consents", "workshop", RING,
         pl.CareConsented(plan=plan, repair=r1, credits=1))
    s.no("consent-beyond-credits", "three credits of a plan that has two",
         pl.StateError, "care rule: credits", "alice", RING,
         pl.CareConsented(plan=plan, repair=r1, credits=3))
    s.no("consent-no-amount", "a consent to nothing", pl.PolicyError, "care rule: amount",
         "alice", RING, pl.CareConsented(plan=plan, repair=r1))
    s.no("consent-unknown-repair", "names no repair of the ring",
         pl.PolicyError, "repair rule: known-repair", "alice", RING,
         pl.CareConsented(plan=plan, repair=digest("no such repair"), credits=1))
    s.no("consent-minor-without-credit", "minor units from the rival's plan, which grants "
         "none", pl.StateError, "care rule: credits", "alice", RING,
         pl.CareConsented(plan=rival, repair=r1, credit_minor=1))
    consent = s.add("consent-r1", "alice", RING, pl.CareConsented(
        plan=plan, repair=r1, credits=1, credit_minor=5_000))
    s.no("redeem-beyond-consent", "two credits where the owner consented to one",
         pl.PolicyError, "care rule: consent", "workshop", RING, pl.CareRedeemed(
             plan=plan, repair=r1, consent=consent, credits=2))
    s.no("redeem-by-rival", "the rival issuer redeems the jeweler's plan",
         pl.UnauthorizedError, "care rule: provider", "rival", RING, pl.CareRedeemed(
             plan=plan, repair=r1, consent=consent, credits=1))
    s.no("redeem-consent-other-plan", "the consent is for the Gold plan; the redemption "
         "draws on the rival's", pl.PolicyError, "care rule: consent", "rival", RING,
         pl.CareRedeemed(plan=rival, repair=r1, consent=consent, credits=1))
    s.add("redeem-r1", "workshop", RING, pl.CareRedeemed(
        plan=plan, repair=r1, consent=consent, credits=1, credit_minor=5_000))
    s.refuse("redeem-replayed", "the redemption, byte for byte, again",
             pl.DuplicateStatementError, None, bytes.fromhex(s.valid[-1]["statement"]))
    s.no("redeem-twice", "a second redemption of R1 (the consent was consumed)",
         pl.StateError, "care rule: payable-repair", "workshop", RING, pl.CareRedeemed(
             plan=plan, repair=r1, consent=consent, credits=1))
    s.no("consent-paid-repair", "a consent for a repair already paid",
         pl.StateError, "care rule: payable-repair", "alice", RING,
         pl.CareConsented(plan=plan, repair=r1, credits=1))
    s.no("cancel-paid-repair", "the owner cancels a paid repair (no refunds)",
         pl.StateError, "repair rule: paid", "alice", RING,
         pl.RepairCancelled(repair=r1, reason="Changed my mind"))
    s.add("collect-r1", "alice", RING, pl.RepairCollected(repair=r1))
    s.no("collect-twice", "R1 is collected and closed",
         pl.StateError, "repair rule: open-repair", "alice", RING, pl.RepairCollected(repair=r1))

    # R2: requested by the workshop, cancelled by the owner; its consent goes with it.
    r2 = s.add("request-r2", "workshop", RING, pl.RepairRequested(
        work="Annual cleaning", category="cleaning", promised=s.now + 7 * DAY))
    s.no("progress-requested", "work in progress before the piece was received",
         pl.StateError, "repair rule: transition", "workshop", RING,
         pl.RepairProgress(repair=r2, stage="in_progress"))
    consent2 = s.add("consent-r2", "alice", RING, pl.CareConsented(
        plan=plan, repair=r2, credits=1))
    s.no("redeem-negative", "two credits where one is left: credits never go negative",
         pl.StateError, "care rule: credits", "workshop", RING, pl.CareRedeemed(
             plan=plan, repair=r2, consent=consent2, credits=2))
    s.add("cancel-r2", "alice", RING, pl.RepairCancelled(repair=r2, reason="Not needed"))
    s.no("redeem-cancelled-repair", "a redemption for a cancelled repair",
         pl.StateError, "care rule: payable-repair", "workshop", RING, pl.CareRedeemed(
             plan=plan, repair=r2, consent=consent2, credits=1))

    # The sale: terms.plans must list Gold (with the piece), not the rival's plan (ends).
    offer_at = s.now + 60
    for name, desc, plans in (
        ("escrow-plans-missing", "the terms leave out the Gold plan", []),
        ("escrow-plans-extra", "the terms list the rival's plan, which ends on sale",
         [plan, rival]),
    ):
        s.no(name, desc, pl.PolicyError, "escrow rule: valid-offer", "alice", RING,
             pl.EscrowOpened(buyer=PK["bob"], terms=sale_terms(plans),
                             condition=SALE_CONDITION, offer_expires=offer_at + DAY,
                             inspection_ends=offer_at + 8 * DAY), at=offer_at)
    terms = sale_terms([plan])
    sale = s.add("open-sale", "alice", RING, pl.EscrowOpened(
        buyer=PK["bob"], terms=terms, condition=SALE_CONDITION, offer_expires=offer_at + DAY,
        inspection_ends=offer_at + 8 * DAY), at=offer_at)
    s.no("cancel-plan-in-escrow", "the jeweler cancels Gold while the buyer decides",
         pl.StateError, "care rule: frozen-in-escrow", "jeweler", RING,
         pl.CareCancelled(plan=plan, reason="Withdrawn"))
    s.no("consent-in-escrow", "the seller consents while the ring is in escrow",
         pl.StateError, "escrow rule: one-open-escrow", "alice", RING,
         pl.CareConsented(plan=plan, repair=r1, credits=1))
    s.add("accept-sale", "bob", RING, accepted(sale, terms, SALE_CONDITION))
    s.add("renew-gold-in-escrow", "workshop", RING, pl.CareRenewed(
        plan=plan, ends=at + 2 * YEAR, credits=1, notes="Renewed at the sale"))
    s.add("acknowledge-sale", "bob", RING, accepted(sale, terms, SALE_CONDITION, ack=True))
    s.no("former-owner-consents", "the seller consents after the sale",
         pl.UnauthorizedError, "care rule: owner-consents", "alice", RING,
         pl.CareConsented(plan=plan, repair=r1, credits=1))
    s.no("renew-ended-plan", "the rival renews its plan, ended by the sale",
         pl.StateError, "care rule: live-plan", "rival", RING,
         pl.CareRenewed(plan=rival, ends=s.now + YEAR))

    # R3 for the new owner; the jeweler cancels Gold before it is paid.
    r3 = s.add("request-r3", "bob", RING, pl.RepairRequested(
        work="Resize to N", category="resize", promised=s.now + 10 * DAY))
    s.add("receive-r3", "workshop", RING, pl.RepairReceived(repair=r3, condition=SALE_CONDITION))
    s.add("ready-r3", "workshop", RING, pl.RepairReady(repair=r3), at=s.now + 3 * DAY)
    consent3 = s.add("consent-r3", "bob", RING, pl.CareConsented(plan=plan, repair=r3,
                                                                 credits=1))
    s.no("cancel-by-workshop", "a service authority cancels the provider's plan",
         pl.UnauthorizedError, "care rule: provider", "workshop", RING,
         pl.CareCancelled(plan=plan, reason="Closing"))
    s.add("cancel-gold", "jeweler", RING, pl.CareCancelled(plan=plan, reason="Plan withdrawn "
                                                           "from sale; fees refunded"))
    s.no("redeem-after-cancel", "a redemption from a cancelled plan",
         pl.StateError, "care rule: active-plan", "workshop", RING, pl.CareRedeemed(
             plan=plan, repair=r3, consent=consent3, credits=1))
    s.no("renew-cancelled", "a renewal of a cancelled plan",
         pl.StateError, "care rule: live-plan", "jeweler", RING,
         pl.CareRenewed(plan=plan, ends=s.now + 3 * YEAR))
    s.add("collect-r3", "workshop", RING, pl.RepairCollected(repair=r3))


def _pendant(s: Story) -> None:
    # Silver: ends on a sale, no consent needed; a one-step repair record is paid.
    start = s.now + 60
    ends = start + 30 * DAY
    plan = s.add("enrol-silver", "workshop", PENDANT, pl.CareEnrolled(
        tier="Silver", starts=start, ends=ends, terms=digest("Silver care plan terms"),
        transfer="ends", credits=2, no_consent=True, services=["fast-track repair"]))
    record = s.add("record-repair", "workshop", PENDANT, pl.RepairRecorded(
        work="Replace clasp", category="repair", performed_by="Bench & Co Workshop",
        started=s.now, completed=s.now + 60))
    s.add("redeem-recorded", "workshop", PENDANT, pl.CareRedeemed(plan=plan, repair=record,
                                                                   credits=1))
    r5 = s.add("request-r5", "alice", PENDANT, pl.RepairRequested(
        work="Polish", category="cleaning", promised=ends + 10 * DAY))
    s.no("redeem-after-end", "a redemption one second after the plan's end",
         pl.StateError, "care rule: active-plan", "workshop", PENDANT,
         pl.CareRedeemed(plan=plan, repair=r5, credits=1), at=ends + 1)
    # An expired plan's credits are gone: the renewal counts only what it adds.
    s.add("renew-silver-expired", "jeweler", PENDANT, pl.CareRenewed(
        plan=plan, ends=ends + 60 * DAY, credits=1), at=ends + DAY)
    s.no("redeem-beyond-renewal", "two credits after a renewal that added one",
         pl.StateError, "care rule: credits", "workshop", PENDANT,
         pl.CareRedeemed(plan=plan, repair=r5, credits=2))
    terms = sale_terms([], direct=True)
    sale = s.add("open-pendant-sale", "alice", PENDANT, pl.EscrowOpened(
        buyer=PK["carol"], terms=terms, condition=SALE_CONDITION, offer_expires=s.now + DAY))
    s.no("enrol-in-escrow", "the rival enrols a plan while the buyer decides",
         pl.StateError, "care rule: frozen-in-escrow", "rival", PENDANT, pl.CareEnrolled(
             tier="Bronze", starts=s.now, ends=s.now + YEAR, terms=digest("Rival Bronze terms"),
             transfer="ends"))
    s.no("redeem-in-escrow", "a redemption while the buyer decides",
         pl.StateError, "care rule: frozen-in-escrow", "workshop", PENDANT,
         pl.CareRedeemed(plan=plan, repair=r5, credits=1))
    s.no("receive-in-escrow", "the workshop takes the piece in while the buyer decides",
         pl.StateError, "repair rule: frozen-in-escrow", "workshop", PENDANT,
         pl.RepairReceived(repair=r5, condition=SALE_CONDITION))
    s.add("accept-pendant-sale", "carol", PENDANT, accepted(sale, terms, SALE_CONDITION))
    s.no("redeem-ended-plan", "a redemption from Silver, ended by the sale",
         pl.StateError, "care rule: active-plan", "workshop", PENDANT,
         pl.CareRedeemed(plan=plan, repair=r5, credits=1))
    s.add("cancel-r5", "carol", PENDANT, pl.RepairCancelled(repair=r5, reason="New owner"))
    s.no("request-by-former-owner", "the seller asks for a repair after the sale",
         pl.UnknownKeyError, "repair rule: requester", "alice", PENDANT, pl.RepairRequested(
             work="Polish", category="cleaning", promised=s.now + DAY))


def render(out: Path) -> dict[Path, bytes]:
    """All vector files, path -> bytes."""
    valid, invalid = sv.build(Story, tell, T0)
    meta = sv.meta(Story, ITEMS, authorities={n: a for a, n in AUTHORITIES.items()})
    return sv.files(out, _readme(valid, invalid), meta, valid, invalid)


def _shown(after: dict[str, Any] | None) -> str:
    if after is None:
        return ""
    plans = ", ".join(f"{p['tier']} {p['status']} {p['credits'][0]}+{p['credits'][1]}"
                      for p in after["plans"])
    repairs = ", ".join(f"{r['id'][:6]} {r['status']}{' paid' if r['paid_by'] else ''}"
                        f"{' late' if r['late'] else ''}" for r in after["repairs"])
    return f"{plans} | {repairs}"


def _readme(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> str:
    lines = [
        "# Aftercare vectors: care plans, credits, repair status, and what the rules refuse",
        "",
        "Generated by `spec/tools/gen_aftercare_vectors.py` (do not edit by hand; the test",
        "suite regenerates them and fails on any difference). Keys come from fixed seeds,",
        "`SHA-256(\"provledger test key <name>\")`, as in ../core; Ed25519 signatures are",
        "deterministic, so the bytes are exact. The rules are in ../../aftercare.md.",
        "",
        "- `ledger.json`: the log origin, the root and log key names, the two items, the",
        "  authorities (jeweler: an issuer; workshop: its service authority; rival: another",
        "  issuer) and the keys (alice, bob and carol are owners; stranger holds nothing).",
        "- `valid.json`: a story told in order on a fresh ledger. Each vector gives the",
        "  statement, its hash, and the log entry (`index`, `time`, `entry`) the ledger",
        "  must produce when its clock reads `time` at the append. `after` is the item's",
        "  owner, status, escrow, plans (status and credits left at the entry's log time),",
        "  repairs (status, workshop, dates, late or not at that time, the plan that paid)",
        "  and open consents after the entry.",
        "- `invalid.json`: statements that must be refused, each after the first",
        "  `context` valid statements were appended and with the log clock at `log_time`,",
        "  with the error class provledger raises, the rule its message names in brackets",
        "  (`[care rule: <name>]`, `[repair rule: <name>]`, `[escrow rule: <name>]`; null",
        "  for the protocol's general rules) and the ledger left unchanged. `level`:",
        "  `schema` (events.cddl rejects it) or `rules`.",
        "",
        "Two checkers that do not import provledger read these files:",
        "`spec/tools/check_core_vectors.py spec/vectors/aftercare` (statement form,",
        "signatures, chains, entries) and `spec/tools/check_aftercare_vectors.py`, written",
        "from aftercare.md alone, which replays the story with its own rules, compares",
        "every `after`, and refuses every rules-level invalid vector with the same error",
        "and rule.",
        "",
        "## Valid story",
        "",
        "The ring gets the jeweler's Gold plan (goes with the piece) and a rival's Bronze",
        "plan (ends on sale); a repair is requested, received, waits for parts, is in",
        "progress, ready (late), paid with a credit on the owner's consent and collected;",
        "a second is cancelled; the ring is sold through escrow with Gold listed, which",
        "goes on while Bronze ends; the jeweler later cancels Gold. The pendant's Silver",
        "plan (no consent needed) pays a one-step repair record, expires, is renewed",
        "(its old credits gone), and ends when the pendant is sold.",
        "",
        "| index | time | name | signer | type | plans (status units+minor) | repairs |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {v['index']} | T0+{v['time'] - T0} | {v['name']} | {v['signer']} | "
              f"`{v['type']}` | {_shown(v['after']) or ' | '} |" for v in valid]
    return sv.readme(lines, invalid, T0)


if __name__ == "__main__":
    raise SystemExit(sv.main(sys.argv, DEFAULT_OUT, render))
