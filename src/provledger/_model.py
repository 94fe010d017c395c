"""The one model of an item's verified history, and its one JSON form.

Both paths build :class:`History`: :func:`provledger.item_report` from a
ledger, :func:`provledger.verify_bundle` from a bundle. spec/history.schema.json
describes what :meth:`History.to_json` returns. Nothing here reads storage
(the verifier imports it).
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ._escrow import lapse
from ._events import (
    EVENT_CLASSES,
    CareEnrolled,
    EscrowOpened,
    RecoveryCancelled,
    RecoveryStarted,
    RepairRecorded,
    RepairRequested,
    TransferRules,
)
from ._history import EventView
from ._keys import format_public_key
from ._state import AuthorityState, EscrowState, ItemState, PlanState, RecoveryState, RepairState
from ._time import rfc3339
from ._transfer_rules import decode_rules, describe, published
from ._types import Timestamp


@dataclass(frozen=True)
class Cosigner:
    """A witness of the trust policy whose cosignature on the checkpoint counted."""

    #: Its name in the policy (local to the policy file).
    name: str
    #: Its cosignature verifier key (C2SP vkey text).
    vkey: str
    #: The time its cosignature states (Unix seconds).
    time: int


@dataclass(frozen=True)
class CheckpointInfo:
    """The checkpoint a verification holds as of."""

    origin: str
    size: int
    time: int
    root: bytes
    #: Root of the head map the checkpoint commits to.
    heads: bytes
    #: The signed note, with every cosignature line it carried.
    note: str
    #: The policy's witnesses that vouched for it, in the policy's order.
    witnesses: tuple[Cosigner, ...] = ()


@dataclass(frozen=True, slots=True)
class EscrowView:
    """One escrow of an item: its offer, and where it stands."""

    #: Log index of its escrow.opened entry.
    index: int
    offer: EscrowOpened
    #: As the entries last recorded it. An escrow is recorded at each entry of
    #: its item, so a deadline that passed after the latest one is not in it yet.
    escrow: EscrowState
    #: Its state as of the history's reference time (deadlines applied).
    state: str

    @property
    def id(self) -> bytes:
        """The escrow id: the statement hash of its escrow.opened."""
        return self.escrow.id

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, as in :meth:`History.to_json`."""
        esc, terms, cond = self.escrow, self.offer.terms, self.offer.condition
        return {
            "id": esc.id.hex(),
            "index": self.index,
            "state": self.state,
            "recorded_state": esc.state,
            "seller": format_public_key(esc.seller),
            "buyer": format_public_key(esc.buyer),
            "arbiter": format_public_key(esc.arbiter) if esc.arbiter else None,
            "marketplace": format_public_key(terms.marketplace) if terms.marketplace else None,
            "price_minor": terms.price_minor,
            "currency": terms.currency,
            "direct": esc.direct,
            "on_timeout": esc.on_timeout,
            "offer_expires": rfc3339(esc.offer_expires),
            "inspection_ends": None if esc.direct else rfc3339(esc.inspection_ends),
            "terms_hash": esc.terms_hash.hex(),
            "condition_hash": esc.condition_hash.hex(),
            "condition": {"grade": cond.grade, "notes": cond.notes,
                          "photos": [p.hex() for p in cond.photos]},
            "votes": [{"party": v.party, "outcome": v.outcome} for v in esc.votes],
        }


@dataclass(frozen=True, slots=True)
class PlanView:
    """One care plan of an item, and where it stands at the history's reference time."""

    #: Log index of its care.enrolled entry.
    index: int
    #: As the entries last recorded it.
    plan: PlanState
    #: The provider's authority name ("" if unknown).
    provider_name: str
    #: :meth:`PlanState.status_at` the reference time: active, pending, expired, cancelled, ended.
    status: str
    #: Credits left at the reference time: units, and minor units of the currency.
    credits: int
    credit_minor: int
    #: What the plan includes, as enrolled (shown, not enforced).
    services: tuple[str, ...] = ()

    @property
    def id(self) -> bytes:
        """The plan id: the statement hash of its care.enrolled."""
        return self.plan.id

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, as in :meth:`History.to_json`."""
        p = self.plan
        return {
            "id": p.id.hex(),
            "index": self.index,
            "provider": p.provider,
            "provider_name": self.provider_name,
            "tier": p.tier,
            "status": self.status,
            "recorded_status": p.status,
            "starts": rfc3339(p.starts),
            "ends": rfc3339(p.ends),
            "credits": self.credits,
            "credit_minor": self.credit_minor,
            "currency": p.currency or None,
            "transfer": p.transfer,
            "no_consent": p.no_consent,
            "terms": p.terms.hex(),
            "services": list(self.services),
            "renewed": rfc3339(p.renewed) if p.renewed else None,
        }


@dataclass(frozen=True, slots=True)
class RepairView:
    """One repair of an item: what was asked, where it stands, and whether it is late."""

    #: Log index of its repair.requested (or one-step repair.recorded) entry.
    index: int
    #: As the entries last recorded it.
    repair: RepairState
    category: str
    #: The work asked for (or, for a one-step record, done).
    work: str
    #: The workshop's authority name ("" if none took it, or unnamed).
    workshop_name: str
    #: :meth:`RepairState.late_at` the reference time.
    late: bool
    #: Recorded in one step (repair.recorded), completed when recorded.
    one_step: bool = False

    @property
    def id(self) -> bytes:
        """The repair id: the statement hash of its repair.requested (or repair.recorded)."""
        return self.repair.id

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, as in :meth:`History.to_json`."""
        r = self.repair
        return {
            "id": r.id.hex(),
            "index": self.index,
            "category": self.category,
            "work": self.work,
            "status": r.status,
            "workshop": r.workshop or None,
            "workshop_name": self.workshop_name,
            "requested": rfc3339(r.requested) if r.requested else None,
            "promised": rfc3339(r.promised) if r.promised else None,
            "ready": rfc3339(r.ready) if r.ready else None,
            "late": self.late,
            "at_workshop": r.at_workshop,
            "paid_by": r.paid_by.hex() if r.paid_by is not None else None,
            "one_step": self.one_step,
        }


@dataclass(frozen=True, slots=True)
class RecoveryView:
    """One recovery of the item's owner key (spec/recovery.md): who started
    it, for which new key, from when, and where it stands."""

    #: Log index of its recovery.started entry.
    index: int
    #: Its state at the history's reference time (a time lock that ended completed it).
    recovery: RecoveryState
    reason: str
    #: The starting authority's name ("" if unnamed).
    by_name: str

    @property
    def id(self) -> bytes:
        """The recovery id: the statement hash of its recovery.started."""
        return self.recovery.id

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, as in :meth:`History.to_json`."""
        r = self.recovery
        return {
            "id": r.id.hex(),
            "index": self.index,
            "state": r.state,
            "new_owner": format_public_key(r.new_owner),
            "started": rfc3339(r.started),
            "effective": rfc3339(r.effective),
            "by": r.by,
            "by_name": self.by_name,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RulesView:
    """The issuer's transfer rules the item was issued under (spec/rules.md)."""

    version: int
    #: SHA-256 of the rules' human-readable text.
    text: bytes
    #: Log time of their rules.published.
    published: int
    rules: TransferRules
    #: Escrow ids of the item's completed sales. The log admits an offer only
    #: if it meets these rules, so each is a sale that met them.
    met: tuple[bytes, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, as in :meth:`History.to_json`."""
        fields: dict[str, Any] = msgspec.to_builtins(self.rules, builtin_types=(bytes,))
        if "marketplaces" in fields:
            fields["marketplaces"] = [format_public_key(k) for k in fields["marketplaces"]]
        return {
            "version": self.version,
            "text": self.text.hex(),
            "published": rfc3339(self.published),
            "rules": fields,
            "plain": describe(self.rules),
            "sales_met": [m.hex() for m in self.met],
        }


def rules_view(item: ItemState, issuer: AuthorityState | None,
               escrows: Iterable[EscrowView]) -> RulesView | None:
    """The rules ``item`` was issued under, as its issuer's state ``issuer``
    holds them (None: issued under none)."""
    found = published(issuer, item.rules)
    if found is None:
        return None
    return RulesView(item.rules, found.text, found.time, decode_rules(found.rules),
                     tuple(e.id for e in escrows if e.state == "completed"))


@dataclass(frozen=True)
class History:
    """An item's verified history: true, with the facts a marketplace needs.

    ``status`` is one of "active", "in escrow", "lost", "stolen", "revoked"
    (:func:`provledger._escrow.status`); ``attested_by`` holds the attesting
    authorities' names; ``checkpoint`` is the one a bundle verified against
    (None for a history read from a ledger).
    """

    item: str
    status: str
    owner: bytes
    issuer: str
    issuer_name: str
    attested_by: tuple[str, ...]
    certificate: bytes
    events: tuple[EventView, ...]
    #: False when the certificate's statement is invalidated and no issuer reaffirmed it.
    certificate_confirmed: bool = True
    #: Every escrow the item has had, oldest first; the last may still be open.
    escrows: tuple[EscrowView, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    checkpoint: CheckpointInfo | None = None
    #: Care plans, in enrolment order, and repairs, oldest first (see care_views).
    plans: tuple[PlanView, ...] = ()
    repairs: tuple[RepairView, ...] = ()
    #: The log time plans and repairs are judged at (a bundle: its checkpoint's
    #: time; a ledger: its last entry's), 0 if not given.
    as_of: int = 0
    #: Every recovery of the owner key, oldest first; the last may be pending.
    recoveries: tuple[RecoveryView, ...] = ()
    #: The transfer rules the item was issued under; None if none.
    rules: RulesView | None = None

    @property
    def pending_recovery(self) -> RecoveryView | None:
        """The recovery still pending at the reference time, if any."""
        last = self.recoveries[-1] if self.recoveries else None
        return last if last is not None and last.recovery.state == "pending" else None

    def __bool__(self) -> bool:
        return True

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (spec/history.schema.json): keys as ``ed25519:...``,
        digests as hex, every time as an RFC 3339 string."""
        cp = self.checkpoint
        return {
            "verified": True,
            "item": self.item,
            "status": self.status,
            "owner": format_public_key(self.owner),
            "issuer": self.issuer,
            "issuer_name": self.issuer_name,
            "attested_by": list(self.attested_by),
            "certificate": self.certificate.hex(),
            "certificate_confirmed": self.certificate_confirmed,
            "checkpoint": None if cp is None else {
                "origin": cp.origin, "size": cp.size, "time": rfc3339(cp.time),
                "root": cp.root.hex(),
                "witnesses": [{"name": w.name, "vkey": w.vkey, "time": rfc3339(w.time)}
                              for w in cp.witnesses]},
            "events": [event_json(e) for e in self.events],
            "escrows": [e.to_json() for e in self.escrows],
            "plans": [p.to_json() for p in self.plans],
            "repairs": [r.to_json() for r in self.repairs],
            "recoveries": [r.to_json() for r in self.recoveries],
            "rules": self.rules.to_json() if self.rules is not None else None,
            "as_of": rfc3339(self.as_of) if self.as_of else None,
            "warnings": list(self.warnings),
        }


#: An item entry as care_views needs it: log index, log time, statement hash,
#: event, and the chain id of the signer's authority ("" for a key of no authority).
CareEntry = tuple[int, int, bytes, object, str]


def care_views(item: ItemState, entries: Iterable[CareEntry], names: Mapping[str, str],
               at: int) -> tuple[tuple[PlanView, ...], tuple[RepairView, ...]]:
    """The item's plans and repairs as of log time ``at``, from its state and
    its entries that stand (not invalidated), in log order, which give each
    plan's and repair's opening entry; ``names`` maps authority chain ids to
    names. A state entry with no opening entry among ``entries`` is left out
    (it cannot happen for a replayed chain).

    The state holds a one-step ``repair.recorded`` only once the item has a
    plan (older states stay byte for byte as they were); every other one is
    shown from its entry alike: collected when recorded, by its signer.
    """
    opened: dict[bytes, tuple[int, object]] = {}
    records: list[RepairState] = []
    known = {r.id for r in item.repairs}
    for index, time, digest, event, authority in entries:
        opened[digest] = (index, event)
        if isinstance(event, RepairRecorded) and digest not in known:
            records.append(RepairState(id=digest, status="collected", workshop=authority,
                                       requested=time, ready=time))
    if not (item.plans or item.repairs or records):
        return (), ()
    plans = []
    for plan in item.plans:
        found = opened.get(plan.id)
        if found is None or not isinstance(found[1], CareEnrolled):
            continue
        credits, minor = plan.credits_at(at)
        plans.append(PlanView(found[0], plan, names.get(plan.provider, ""), plan.status_at(at),
                              credits, minor, tuple(found[1].services)))
    repairs = []
    order = {digest: n for n, digest in enumerate(opened)}
    for repair in sorted((*item.repairs, *records), key=lambda r: order.get(r.id, -1)):
        found = opened.get(repair.id)
        if found is None or not isinstance(found[1], RepairRequested | RepairRecorded):
            continue
        event = found[1]
        repairs.append(RepairView(found[0], repair, event.category, event.work,
                                  names.get(repair.workshop, "") if repair.workshop else "",
                                  repair.late_at(at), isinstance(event, RepairRecorded)))
    return tuple(plans), tuple(repairs)


def recovery_views(item: ItemState, entries: Iterable[CareEntry],
                   names: Mapping[str, str]) -> tuple[RecoveryView, ...]:
    """Every recovery of the item, oldest first, from its entries that stand
    (as care_views takes them) and its state at the reference time (recovery
    completion applied, :func:`provledger._owner_keys.at`).

    The state holds only the latest recovery; an earlier one was settled
    before the next could start: cancelled if a recovery.cancelled names it,
    else completed by its time lock.
    """
    started: list[tuple[int, RecoveryState, str]] = []
    cancelled: set[bytes] = set()
    for index, time, digest, event, authority in entries:
        if isinstance(event, RecoveryStarted):
            started.append((index, RecoveryState(
                id=digest, new_owner=event.new_owner, started=time, effective=event.effective,
                by=authority, state="completed"), event.reason))
        elif isinstance(event, RecoveryCancelled):
            cancelled.add(event.recovery)
    views = []
    for index, begun, reason in started:
        rec = begun
        if item.recovery is not None and item.recovery.id == begun.id:
            rec = item.recovery
        elif begun.id in cancelled:
            rec = RecoveryState(begun.id, begun.new_owner, begun.started, begun.effective,
                                begun.by, "cancelled")
        views.append(RecoveryView(index, rec, reason, names.get(rec.by, "")))
    return tuple(views)


def recovery_warnings(item: ItemState, recoveries: Iterable[RecoveryView]) -> tuple[str, ...]:
    """A warning for a recovery pending on an item still open: a buyer must
    know the piece may soon belong to another key."""
    if item.status == "revoked":
        return ()
    return tuple(
        f"owner key recovery pending: from {rfc3339(v.recovery.effective)} key "
        f"{format_public_key(v.recovery.new_owner)} owns the piece, unless the owner's key "
        f"cancels it before then (started by {v.by_name or v.recovery.by} at "
        f"{rfc3339(v.recovery.started)}: {v.reason})"
        for v in recoveries if v.recovery.state == "pending")


def escrow_views(offers: Mapping[bytes, tuple[int, EscrowOpened]],
                 after: Iterable[tuple[int, ItemState | None]],
                 now: int | None) -> tuple[EscrowView, ...]:
    """Every escrow of an item, oldest first, from its escrow.opened entries
    (statement hash -> log index, event) and its state after each entry
    (log time, state), in log order.

    An escrow a newer one replaced is shown as the replacing entry's log time
    left it; ``state`` applies the deadlines passed by ``now`` (None: as recorded).
    """
    if not offers:
        return ()
    latest: dict[bytes, EscrowState] = {}
    current: EscrowState | None = None
    for time, item in after:
        esc = item.escrow if item is not None else None
        if current is not None and (esc is None or esc.id != current.id):
            latest[current.id] = lapse(current, time)
        if esc is not None:
            latest[esc.id] = esc
        current = esc
    views = []
    for escrow_id, (index, offer) in offers.items():
        found = latest.get(escrow_id)
        if found is None:  # an invalidated offer never held the item
            continue
        views.append(EscrowView(index, offer, found,
                                found.state if now is None else lapse(found, now).state))
    return tuple(views)


def escrow_party(escrows: Iterable[EscrowView], statement_hash: bytes, event: object,
                 signer: bytes) -> str:
    """What ``signer`` is in the escrow an escrow event belongs to: "seller",
    "buyer", "arbiter", or "" (not an escrow event, or not a party).

    Both paths name an escrow event's signer by this, before any authority name.
    """
    escrow_id = statement_hash if isinstance(event, EscrowOpened) else getattr(
        event, "escrow", None)
    for view in escrows:
        if view.id == escrow_id:
            esc = view.escrow
            parties = {esc.seller: "seller", esc.buyer: "buyer",
                       **({esc.arbiter: "arbiter"} if esc.arbiter else {})}
            return parties.get(signer, "")
    return ""


def warnings(item: ItemState, invalidated: int) -> tuple[str, ...]:
    """What a reader should be told beside the status: no second party
    attested the certificate; ``invalidated`` entries were left out."""
    found = []
    if not item.attested_by:
        found.append("certificate not attested by a second party")
    if invalidated:
        found.append(f"{invalidated} entr{'y is' if invalidated == 1 else 'ies are'} "
                     "invalidated (signed with a key after its compromise cut-off, or "
                     "resting on such an entry) and left out of the item's state")
    return tuple(found)


def shown_fields(event: object) -> dict[str, Any]:
    """An event's fields as a history shows them (bytes kept): its
    commitments (``sd``, also a condition report's) left out, since
    EventView's ``withheld`` and ``disclosed`` say what they stand for."""
    fields: dict[str, Any] = msgspec.to_builtins(event, builtin_types=(bytes,))
    fields.pop("sd", None)
    condition = fields.get("condition")
    if isinstance(condition, dict):
        condition.pop("sd", None)
    return fields


def event_json(e: EventView) -> dict[str, Any]:
    """One event as :meth:`History.to_json` has it; ``withheld``,
    ``disclosed`` and ``clear`` (committable text the statement carries in
    clear: the earlier format) only when not empty."""
    out: dict[str, Any] = {
        "index": e.index, "time": rfc3339(e.time), "type": e.type,
        "signer": format_public_key(e.signer), "signed_as": e.signed_as,
        "invalidated": e.invalidated, "invalid_reason": e.invalid_reason,
        "fields": event_fields_json(e.type, e.fields)}
    if e.withheld:
        out["withheld"] = e.withheld
    if e.disclosed:
        out["disclosed"] = list(e.disclosed)
    if e.clear:
        out["clear"] = list(e.clear)
    return out


@functools.cache
def _time_fields(event_type: str) -> frozenset[str]:
    """The fields of an event type that hold a protocol time."""
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        return frozenset()
    hints = typing.get_type_hints(cls, include_extras=True)
    return frozenset(name for name, hint in hints.items() if hint == Timestamp)


def event_fields_json(event_type: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """An event's fields as JSON: bytes as hex, times as RFC 3339."""
    times = _time_fields(event_type)
    return {k: rfc3339(v) if k in times and isinstance(v, int) else jsonable(v)
            for k, v in fields.items()}


def jsonable(value: Any) -> Any:
    """``value`` with every bytes as hex, tuples as lists."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
