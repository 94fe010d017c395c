"""Regenerate spec/vectors/recovery/ (owner-key rotation and recovery) byte for byte.

Its inputs are fixed (seeds, log times); storyvectors.py checks every vector on a
scratch ledger and explains why the bytes cannot change. Usage:
python spec/tools/gen_recovery_vectors.py [OUT_DIR]
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

DEFAULT_OUT = ROOT / "spec" / "vectors" / "recovery"
ORIGIN = "ledger.example-jeweler.com/recovery"
T0 = 1_796_000_000
DAY = 86400
LOCK = pl.RECOVERY_LOCK
KEY_NAMES = ("root", "log", "jeweler", "insurer", "workshop", "alice", "alice-2",
             "alice-3", "bob", "bob-2", "carol", "mallory")

KEYS = sv.keys(KEY_NAMES)
PK = {n: k.public_key for n, k in KEYS.items()}
AUTHORITIES = {pl.authority_subject(PK[n]): n for n in ("jeweler", "insurer", "workshop")}
RING = pl.serial_item_id(PK["jeweler"], "R-0900")
BRACELET = pl.serial_item_id(PK["jeweler"], "B-1000")
ITEMS = {"ring": RING, "bracelet": BRACELET}
OWNERS = {PK[n]: n for n in ("alice", "alice-2", "alice-3", "bob", "bob-2", "carol", "mallory")}
COND = pl.ConditionReport(grade="very good")


def after(ledger: pl.Ledger, item: str) -> dict[str, Any] | None:
    """An item's owner, status, escrow and recovery as recorded after an entry
    (None for authority chains)."""
    if item not in ITEMS.values():
        return None
    state = ledger.item(item)
    esc, rec = state.escrow, state.recovery
    return {
        "owner": OWNERS[state.owner], "status": state.status,
        "escrow": None if esc is None else {"id": esc.id.hex(), "state": esc.state},
        "recovery": None if rec is None else {
            "id": rec.id.hex(), "new_owner": OWNERS[rec.new_owner], "started": rec.started,
            "effective": rec.effective, "by": AUTHORITIES[rec.by], "state": rec.state},
    }


class Story(sv.Story):
    """The recovery story's ledger: a refusal is tried one minute on by default."""

    origin = ORIGIN
    keys = KEYS

    def after(self, subject: str, time: int) -> Any:  # noqa: ARG002
        return after(self.ledger, subject)

    def no(self, name: str, description: str, error: type[pl.ProvLedgerError],
           rule: str | None, signer: str, subject: str, event: pl.Event, *,
           at: int | None = None) -> None:
        super().no(name, description, error, rule, signer, subject, event,
                   at=self.now + 60 if at is None else at)


def offer(buyer: str, t: int) -> pl.EscrowOpened:
    terms = pl.EscrowTerms(price_minor=320_000, currency="EUR", on_timeout="return",
                           direct=True)
    return pl.EscrowOpened(buyer=PK[buyer], terms=terms, condition=COND, offer_expires=t + DAY)


def accepted(opened: bytes, ev: pl.EscrowOpened) -> pl.EscrowAccepted:
    return pl.EscrowAccepted(escrow=opened, terms_hash=pl.terms_hash(ev.terms),
                             condition_hash=pl.condition_hash(ev.condition))


def start(new: str, effective: int, reason: str = "owner lost the phone holding the key"
          ) -> pl.RecoveryStarted:
    return pl.RecoveryStarted(new_owner=PK[new], effective=effective, reason=reason)


def tell(s: Story) -> None:
    """The valid story, with each invalid case tried where it belongs."""
    s.add("grant-issuer", "root", pl.authority_subject(PK["jeweler"]),
          pl.RoleGranted(key=PK["jeweler"], name="Example Jeweler Ltd", role="issuer"), at=T0)
    s.add("grant-insurer", "jeweler", pl.authority_subject(PK["insurer"]),
          pl.RoleGranted(key=PK["insurer"], name="Example Insurance", role="reporter"))
    s.add("grant-workshop", "jeweler", pl.authority_subject(PK["workshop"]),
          pl.RoleGranted(key=PK["workshop"], name="Bench & Co Workshop", role="service"))
    s.add("issue-ring", "jeweler", RING, pl.CertificateIssued(
        kind="ring", serial="R-0900", metal="platinum", fineness=950, owner=PK["alice"]))
    s.add("issue-bracelet", "jeweler", BRACELET, pl.CertificateIssued(
        kind="bracelet", serial="B-1000", metal="gold", fineness=750, owner=PK["bob"]))
    _ring(s)
    _bracelet(s)


def _ring(s: Story) -> None:
    # Rotation: the owner moves to a new phone.
    s.no("rotate-by-stranger", "a key that is not the owner's rotates the ring",
         pl.UnauthorizedError, "recovery rule: owner-rotates", "mallory", RING,
         pl.OwnerRotated(new_owner=PK["mallory"]))
    s.no("rotate-to-same-key", "new_owner is the current owner key",
         pl.PolicyError, "recovery rule: new-key", "alice", RING,
         pl.OwnerRotated(new_owner=PK["alice"]))
    s.add("rotate", "alice", RING, pl.OwnerRotated(new_owner=PK["alice-2"],
                                                   notes="new phone"))
    s.no("rotate-by-old-key", "the rotated-out key rotates again",
         pl.UnauthorizedError, "recovery rule: owner-rotates", "alice", RING,
         pl.OwnerRotated(new_owner=PK["alice-3"]))

    # An offer is open: no recovery while the ring is in escrow.
    sale = offer("carol", s.now + 60)
    opened = s.add("open-offer", "alice-2", RING, sale)
    t = s.now + 60
    s.no("start-in-escrow", "a recovery started while an escrow holds the ring",
         pl.StateError, "recovery rule: not-in-escrow", "jeweler", RING,
         start("alice-3", t + LOCK), at=t)
    s.no("rotate-in-escrow", "a rotation while an escrow holds the ring",
         pl.StateError, "recovery rule: not-in-escrow", "alice-2", RING,
         pl.OwnerRotated(new_owner=PK["alice-3"]), at=t)
    s.add("cancel-offer", "alice-2", RING, pl.EscrowCancelled(escrow=opened), at=t)

    # Alice loses the new phone; the issuer starts a recovery to her third key.
    t = s.now + 60
    for name, desc, error, signer in (
        ("start-by-stranger", "a key no authority holds starts a recovery",
         pl.UnknownKeyError, "mallory"),
        ("start-by-workshop", "a service authority of the issuer starts a recovery",
         pl.UnauthorizedError, "workshop"),
        ("start-by-owner", "the owner starts a recovery of its own piece",
         pl.UnauthorizedError, "alice-2"),
    ):
        s.no(name, desc, error, "recovery rule: starter", signer, RING,
             start("alice-3", t + LOCK), at=t)
    s.no("start-lock-too-short", "effective one second short of the 7-day time lock",
         pl.PolicyError, "recovery rule: time-lock", "jeweler", RING,
         start("alice-3", t + LOCK - 1), at=t)
    s.no("start-to-owner", "new_owner is the current owner key",
         pl.PolicyError, "recovery rule: new-key", "jeweler", RING,
         start("alice-2", t + LOCK), at=t)
    first = s.add("start", "jeweler", RING, start("alice-3", t + LOCK), at=t)
    effective = t + LOCK
    s.no("start-second", "a second recovery while one is pending",
         pl.StateError, "recovery rule: one-pending", "insurer", RING,
         start("mallory", s.now + 60 + LOCK))
    s.no("rotate-while-pending", "a rotation while a recovery is pending",
         pl.StateError, "recovery rule: one-pending", "alice-2", RING,
         pl.OwnerRotated(new_owner=PK["mallory"]))
    s.no("escrow-while-pending", "an offer while a recovery is pending",
         pl.StateError, "recovery rule: no-sale-while-pending", "alice-2", RING,
         offer("carol", s.now + 60))
    s.no("cancel-by-other-reporter", "the insurer cancels the jeweler's recovery",
         pl.UnauthorizedError, "recovery rule: canceller", "insurer", RING,
         pl.RecoveryCancelled(recovery=first))
    s.no("cancel-unknown", "names no recovery of the ring",
         pl.PolicyError, "recovery rule: known-recovery", "alice-2", RING,
         pl.RecoveryCancelled(recovery=hashlib.sha256(b"no such recovery").digest()))
    # The old key still owns the ring until the effective second.
    s.add("appraise-before-effective", "alice-2", RING, pl.AppraisalRecorded(
        value_minor=450_000, currency="EUR", method="in_person", appraiser="Bench & Co"),
        at=effective - 1)
    s.no("cancel-after-completion", "the old key cancels at the effective second",
         pl.StateError, "recovery rule: pending-only", "alice-2", RING,
         pl.RecoveryCancelled(recovery=first), at=effective)
    s.no("old-key-after-completion", "the old key offers the ring after the time lock",
         pl.UnauthorizedError, "escrow rule: owner-opens", "alice-2", RING,
         offer("carol", effective), at=effective)
    # The recovered key sells the ring: the first entry after the lock records completion.
    sale = offer("carol", effective)
    opened = s.add("open-sale-new-key", "alice-3", RING, sale, at=effective)
    s.add("accept-sale", "carol", RING, accepted(opened, sale))


def _bracelet(s: Story) -> None:
    # A stranger has a recovery started on Bob's bracelet; Bob's key cancels it at
    # the last second of the time lock.
    t = s.now + 60
    rogue = s.add("start-rogue", "insurer", BRACELET,
                  start("mallory", t + LOCK, "caller says the phone was lost"), at=t)
    s.add("cancel-last-second", "bob", BRACELET, pl.RecoveryCancelled(
        recovery=rogue, notes="I did not ask for this"), at=t + LOCK - 1)
    s.no("cancel-twice", "the cancelled recovery, cancelled again",
         pl.StateError, "recovery rule: pending-only", "insurer", BRACELET,
         pl.RecoveryCancelled(recovery=rogue))
    # Later the bracelet is stolen with Bob's phone: the insurer recovers it to his new key.
    s.add("stolen", "insurer", BRACELET, pl.StolenReported(reference="CLAIM-2027-0042"),
          at=t + LOCK + DAY)
    t = s.now + 60
    s.add("start-after-theft", "insurer", BRACELET,
          start("bob-2", t + LOCK, "phone stolen with the bracelet"), at=t)
    s.add("found", "insurer", BRACELET, pl.Recovered(notes="returned by police"),
          at=t + LOCK)


def render(out: Path) -> dict[Path, bytes]:
    """All vector files, path -> bytes."""
    valid, invalid = sv.build(Story, tell, T0)
    meta = sv.meta(Story, ITEMS, lock=LOCK,
                   authorities={n: a for a, n in AUTHORITIES.items()})
    return sv.files(out, _readme(valid, invalid), meta, valid, invalid)


def _shown(after: dict[str, Any] | None) -> str:
    if after is None:
        return " | "
    rec = after["recovery"]
    recovery = "" if rec is None else f"{rec['state']} to {rec['new_owner']} by {rec['by']}"
    return f"{after['owner']} {after['status']} | {recovery}"


def _readme(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> str:
    lines = [
        "# Recovery vectors: owner-key rotation, recovery behind the time lock, and refusals",
        "",
        "Generated by `spec/tools/gen_recovery_vectors.py` (do not edit by hand; the test",
        "suite regenerates them and fails on any difference). Keys come from fixed seeds,",
        "`SHA-256(\"provledger test key <name>\")`, as in ../core; Ed25519 signatures are",
        "deterministic, so the bytes are exact. The rules are in ../../recovery.md.",
        "",
        "- `ledger.json`: the log origin, the root and log key names, the two items, the",
        "  time lock in seconds, the authorities (jeweler: an issuer; insurer: its",
        "  reporter; workshop: its service authority) and the keys (alice, alice-2 and",
        "  alice-3 are one owner's successive keys; bob and bob-2 another's; carol buys;",
        "  mallory holds nothing).",
        "- `valid.json`: a story told in order on a fresh ledger. Each vector gives the",
        "  statement, its hash, and the log entry (`index`, `time`, `entry`) the ledger",
        "  must produce when its clock reads `time` at the append. `after` is the item's",
        "  owner (a key name), status, escrow and recovery as recorded after the entry: a",
        "  recovery completes at its effective time, and the first entry from then on",
        "  records it completed.",
        "- `invalid.json`: statements that must be refused, each after the first",
        "  `context` valid statements were appended and with the log clock at `log_time`,",
        "  with the error class provledger raises, the rule its message names in brackets",
        "  (`[recovery rule: <name>]`, `[escrow rule: <name>]`) and the ledger unchanged;",
        "  `level` is `rules` for all (each is well formed and matches events.cddl).",
        "",
        "## Valid story",
        "",
        "Alice rotates the ring to a new key, offers it and withdraws the offer. She loses",
        "the new phone: the jeweler starts a recovery to her third key; the old key still",
        "records an appraisal one second before the effective time; from the effective",
        "second the third key owns the ring and sells it to Carol. On Bob's bracelet the",
        "insurer starts a recovery to a stranger's key, which Bob's key cancels in the last",
        "second of the time lock; later the bracelet is stolen with Bob's phone and the",
        "insurer recovers it to Bob's new key, completed when it is found.",
        "",
        "| index | time | name | signer | type | owner, status | recovery |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {v['index']} | T0+{v['time'] - T0} | {v['name']} | {v['signer']} | "
              f"`{v['type']}` | {_shown(v['after'])} |" for v in valid]
    return sv.readme(lines, invalid, T0, f"T0 = {T0}; the time lock is {LOCK} s.")


if __name__ == "__main__":
    raise SystemExit(sv.main(sys.argv, DEFAULT_OUT, render))
