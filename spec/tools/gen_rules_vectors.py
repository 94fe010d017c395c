"""Regenerate spec/vectors/rules/ (published transfer rules, spec/rules.md) byte for byte.

Its inputs are fixed (seeds, log times); storyvectors.py checks every vector on a
scratch ledger and explains why the bytes cannot change. Usage:
python spec/tools/gen_rules_vectors.py [OUT_DIR]
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

DEFAULT_OUT = ROOT / "spec" / "vectors" / "rules"
ORIGIN = "ledger.example-jeweler.com/rules"
T0 = 1_795_000_000
DAY = 86400
KEY_NAMES = ("root", "log", "jeweler", "atelier", "alice", "bob", "marketplace",
             "other-marketplace")

KEYS = sv.keys(KEY_NAMES)
PK = {n: k.public_key for n, k in KEYS.items()}
RING = pl.serial_item_id(PK["jeweler"], "R-0300")
PENDANT = pl.serial_item_id(PK["jeweler"], "P-0400")
ITEMS = {"ring": RING, "pendant": PENDANT}
JEWELER = pl.authority_subject(PK["jeweler"])
ATELIER = pl.authority_subject(PK["atelier"])
TEXT_V1 = hashlib.sha256(b"Transfer rules v1 (the text customers read)").digest()
TEXT_V2 = hashlib.sha256(b"Transfer rules v2 (the text customers read)").digest()
RULES_V1 = pl.TransferRules(inspection_days=30, appraisal_above=500_000, currency="EUR",
                            appraisal_days=90, plans_transfer=True,
                            marketplaces=[PK["marketplace"]], min_inspection=7 * DAY)
RULES_V2 = pl.TransferRules(inspection_days=7, appraisal_above=100_000, currency="EUR",
                            appraisal_days=30, plans_transfer=True,
                            marketplaces=[PK["marketplace"]], min_inspection=14 * DAY)
CONDITION = pl.ConditionReport(grade="very good")


def after(ledger: pl.Ledger, subject: str) -> dict[str, Any]:
    """What an entry leaves: an issuer's published versions, or an item's owner,
    rules version, inspection and appraisal times, plans and escrow."""
    if subject not in ITEMS.values():
        auth = ledger.authority(bytes.fromhex(subject.removeprefix("provledger:authority:")))
        return {"rules": [r.version for r in auth.rules]}
    state = ledger.item(subject)
    esc = state.escrow
    return {"owner": pl.format_public_key(state.owner), "rules": state.rules,
            "inspected": state.inspected, "appraised": state.appraised,
            "plans": [[p.id.hex(), p.transfer, p.status] for p in state.plans],
            "escrow": None if esc is None else {"id": esc.id.hex(), "state": esc.state}}


class Story(sv.Story):
    """The transfer-rules story's ledger: a refusal names its rule as an attribute,
    and each invalid vector gives the error's code."""

    origin = ORIGIN
    keys = KEYS
    with_code = True

    def after(self, subject: str, time: int) -> Any:  # noqa: ARG002
        return after(self.ledger, subject)

    def names_rule(self, exc: pl.ProvLedgerError, rule: str) -> bool:
        return getattr(exc, "rule", None) == rule


def offer(at: int, *, price: int = 500_000, currency: str = "EUR", market: str | None =
          "marketplace", direct: bool = False, inspect_for: int = 7 * DAY,
          plans: list[bytes] | None = None) -> pl.EscrowOpened:
    """Alice's offer of the ring to Bob, made at log time ``at``."""
    t = pl.EscrowTerms(price_minor=price, currency=currency, on_timeout="return",
                       direct=direct, plans=plans or [],
                       marketplace=PK[market] if market else None)
    return pl.EscrowOpened(buyer=PK["bob"], terms=t, condition=CONDITION,
                           offer_expires=at + 3600,
                           inspection_ends=0 if direct else at + inspect_for)


def tell(s: Story) -> None:
    """The valid story, with each invalid case tried where it belongs."""
    s.add("grant-issuer", "root", JEWELER,
          pl.RoleGranted(key=PK["jeweler"], name="Example Jeweler Ltd", role="issuer"), at=T0)
    s.add("grant-service", "jeweler", ATELIER,
          pl.RoleGranted(key=PK["atelier"], name="Atelier Example", role="service"))

    # Publishing: only the issuer, on its own chain, version 1 first, consistent rules.
    at = s.now + 60
    v1 = pl.RulesPublished(version=1, text=TEXT_V1, rules=RULES_V1)
    s.refuse("publish-by-non-issuer", "a service authority publishes rules on its own chain",
             pl.UnauthorizedError, None, s.sign("atelier", ATELIER, v1, at=at), at=at)
    s.refuse("publish-on-another-chain", "the issuer publishes rules on its workshop's chain",
             pl.UnauthorizedError, None, s.sign("jeweler", ATELIER, v1, at=at), at=at)
    s.refuse("publish-skipping-a-version", "the first rules published as version 2",
             pl.PolicyError, None, s.sign("jeweler", JEWELER, pl.RulesPublished(
                 version=2, text=TEXT_V1, rules=RULES_V1), at=at), at=at)
    s.refuse("publish-currency-without-threshold", "a currency without appraisal_above",
             pl.PolicyError, None, s.sign("jeweler", JEWELER, pl.RulesPublished(
                 version=1, text=TEXT_V1, rules=pl.TransferRules(currency="EUR")), at=at),
             at=at)
    head = s.ledger.head(JEWELER)
    body = pl._codec.to_builtins(v1)
    for name, desc, patch in (
        ("rules-unknown-field", "a rule this protocol version does not define",
         {"rules": {**body["rules"], "resale_tax": 5}}),
        ("rules-explicit-default", "plans_transfer: false encoded instead of omitted",
         {"rules": {**body["rules"], "plans_transfer": False}}),
        ("rules-version-zero", "version 0", {"version": 0}),
    ):
        s.refuse(name, desc, pl.DecodeError, None,
                 s.raw("jeweler", JEWELER, head, at - 5, "rules.published", {**body, **patch}),
                 at=at)
    s.add("publish-v1", "jeweler", JEWELER, v1, at=at)
    s.refuse("publish-v1-again", "version 1 published a second time", pl.PolicyError, None,
             s.sign("jeweler", JEWELER, v1), at=s.now + 60)

    # The ring is issued under version 1: it must say so.
    at = s.now + 60
    for wrong in (0, 2):
        s.refuse(f"issue-naming-version-{wrong}", f"a certificate naming rules {wrong}, "
                 "not the issuer's latest (1)", pl.PolicyError, None,
                 s.sign("jeweler", RING, pl.CertificateIssued(
                     kind="ring", serial="R-0300", owner=PK["alice"], rules=wrong), at=at),
                 at=at)
    s.add("issue-ring", "jeweler", RING, pl.CertificateIssued(
        kind="ring", serial="R-0300", metal="platinum", fineness=950, owner=PK["alice"],
        rules=1), at=at)
    plan = s.add("enrol-plan-ending-on-transfer", "jeweler", RING, pl.CareEnrolled(
        tier="Gold", starts=s.now + 60, ends=s.now + 800 * DAY, transfer="ends", credits=1,
        terms=hashlib.sha256(b"Gold plan terms").digest()))

    # Version 2 is stricter; the ring keeps version 1.
    s.add("publish-v2", "jeweler", JEWELER, pl.RulesPublished(
        version=2, text=TEXT_V2, rules=RULES_V2, notes="Stricter resale from now on"),
        at=s.now + DAY)
    s.add("issue-pendant", "jeweler", PENDANT, pl.CertificateIssued(
        kind="pendant", serial="P-0400", owner=PK["alice"], rules=2))

    # The sale: an inspection exactly 30 days and an appraisal exactly 90 days before.
    serviced = s.now + DAY
    t = serviced + 30 * DAY
    appraised = t - 90 * DAY
    assert appraised < serviced
    at = serviced - 60
    s.add("resize", "atelier", RING, pl.RepairRecorded(
        work="Resized to 54", category="resize", performed_by="Atelier Example",
        started=at - 3600, completed=at - 60), at=at)
    s.refuse("resize-is-no-inspection", "an offer after only a resize by the workshop",
             pl.TransferRuleError, "inspection_days",
             s.sign("alice", RING, offer(at, plans=[plan]), at=at), at=at)
    s.add("service", "atelier", RING, pl.RepairRecorded(
        work="Checked and re-tipped claws", category="service",
        performed_by="Atelier Example", started=serviced - 3600, completed=serviced - 60),
        at=serviced)
    s.refuse("appraisal-missing-at-the-value", "a price of exactly appraisal_above without "
             "an appraisal by the issuer's workshop", pl.TransferRuleError, "appraisal_above",
             s.sign("alice", RING, offer(t, plans=[plan]), at=t), at=t)
    s.refuse("appraisal-other-currency", "a price in USD: the EUR threshold cannot be "
             "checked", pl.TransferRuleError, "appraisal_above",
             s.sign("alice", RING, offer(t, currency="USD", plans=[plan]), at=t), at=t)
    s.add("appraise", "atelier", RING, pl.AppraisalRecorded(
        method="in_person", currency="EUR", appraiser="Atelier Example",
        value_minor=520_000), at=serviced + 60)
    for name, desc, rule, ev, when in (
        ("inspection-one-second-old", "30 days and one second after the service",
         "inspection_days", offer(t + 1, plans=[plan]), t + 1),
        ("marketplace-unlisted", "a marketplace the rules do not list", "marketplaces",
         offer(t, market="other-marketplace", plans=[plan]), t),
        ("marketplace-missing", "a sale naming no marketplace", "marketplaces",
         offer(t, market=None, plans=[plan]), t),
        ("inspection-one-second-short", "an inspection period one second under "
         "min_inspection", "min_inspection", offer(t, inspect_for=7 * DAY - 1, plans=[plan]),
         t),
        ("direct-sale", "a direct handover for a price: no inspection", "min_inspection",
         offer(t, price=1, direct=True, market=None, plans=[plan]), t),
    ):
        s.refuse(name, desc, pl.TransferRuleError, rule, s.sign("alice", RING, ev, at=when),
                 at=when)
    s.refuse("plan-not-listed", "the offer leaves out the plan plans_transfer sends with "
             "the piece", pl.PolicyError, None, s.sign("alice", RING, offer(t), at=t), at=t)
    sale = offer(t, plans=[plan])
    opened = s.add("open-sale", "alice", RING, sale, at=t)
    s.add("accept-sale", "bob", RING, pl.EscrowAccepted(
        escrow=opened, terms_hash=pl.terms_hash(sale.terms),
        condition_hash=pl.condition_hash(sale.condition)))
    s.add("acknowledge-sale", "bob", RING, pl.EscrowAcknowledged(
        escrow=opened, terms_hash=pl.terms_hash(sale.terms),
        condition_hash=pl.condition_hash(sale.condition)))


def render(out: Path) -> dict[Path, bytes]:
    """All vector files, path -> bytes."""
    valid, invalid = sv.build(Story, tell, T0)
    return sv.files(out, _readme(valid, invalid), sv.meta(Story, ITEMS), valid, invalid)


def _readme(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> str:
    lines = [
        "# Transfer-rules vectors: publishing, the version a certificate names, and sales",
        "",
        "Generated by `spec/tools/gen_rules_vectors.py` (do not edit by hand; the test",
        "suite regenerates them and fails on any difference). Keys come from fixed seeds,",
        "`SHA-256(\"provledger test key <name>\")`, as in ../core; Ed25519 signatures are",
        "deterministic, so the bytes are exact. The rules are in ../../rules.md.",
        "",
        "- `ledger.json`: the log origin, the root and log key names, the two items and",
        "  the keys (alice sells to bob; marketplace is the one the rules list).",
        "- `valid.json`: a story told in order on a fresh ledger: rules version 1",
        "  published, the ring issued under it, version 2 (stricter) published later, and",
        "  the ring resold meeting version 1's rules at every boundary (its inspection",
        "  exactly 30 days and its appraisal exactly 90 days before the offer, a price of",
        "  exactly the threshold, exactly 7 days to inspect). Each vector gives the",
        "  statement, its hash and the log entry (`index`, `time`, `entry`) the ledger",
        "  must produce when its clock reads `time`; `after` is what the entry leaves",
        "  (an issuer's versions; an item's owner, rules version, `inspected`,",
        "  `appraised`, plans as [id, transfer, status] and escrow).",
        "- `invalid.json`: statements that must be refused, each after the first",
        "  `context` valid statements were appended and with the log clock at",
        "  `log_time`, with the error class and code and, for a broken transfer rule,",
        "  its `rule`; the ledger is left unchanged. `level`: `schema` (events.cddl",
        "  rejects it) or `rules`.",
        "",
        "## Valid story",
        "",
        "| index | time | name | signer | type |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {v['index']} | T0+{v['time'] - T0} | {v['name']} | {v['signer']} | "
              f"`{v['type']}` |" for v in valid]
    return sv.readme(lines, invalid, T0)


if __name__ == "__main__":
    raise SystemExit(sv.main(sys.argv, DEFAULT_OUT, render))
