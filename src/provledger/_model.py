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

from ._escrow import lapse
from ._events import EVENT_CLASSES, EscrowOpened
from ._history import EventView
from ._keys import format_public_key
from ._state import EscrowState, ItemState
from ._time import rfc3339
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
            "events": [{"index": e.index, "time": rfc3339(e.time), "type": e.type,
                        "signer": format_public_key(e.signer), "signed_as": e.signed_as,
                        "invalidated": e.invalidated, "invalid_reason": e.invalid_reason,
                        "fields": event_fields_json(e.type, e.fields)} for e in self.events],
            "escrows": [e.to_json() for e in self.escrows],
            "warnings": list(self.warnings),
        }


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
