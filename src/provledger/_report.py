"""Human- and machine-readable views of an item's verified history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from ._errors import NotFoundError
from ._escrow import lapse
from ._events import EscrowOpened
from ._history import EventView, replay_item
from ._keys import format_public_key
from ._ledger import Ledger, Record
from ._state import EscrowState, ItemState, decode_state
from ._time import check_now, rfc3339
from ._view import StateView


@dataclass(frozen=True, slots=True)
class EscrowView:
    """One escrow of an item: its offer, and where it stands."""

    #: Log index of its escrow.opened entry.
    index: int
    offer: EscrowOpened
    #: As the ledger last recorded it. An escrow is recorded at each entry of
    #: its item, so a deadline that passed after the latest one is not in it yet.
    escrow: EscrowState
    #: Its state as of the report's ``now`` (deadlines applied), else as recorded.
    state: str

    @property
    def id(self) -> bytes:
        """The escrow id: the statement hash of its escrow.opened."""
        return self.escrow.id

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, as in :meth:`ItemReport.to_json`."""
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
class ItemReport:
    """An item's current state and every event, signatures verified."""

    item: str
    state: ItemState
    issuer_name: str
    events: tuple[EventView, ...]
    #: Every escrow the item has had, oldest first; the last may still be open.
    escrows: tuple[EscrowView, ...] = ()
    #: The certificate's statement is invalidated and no issuer reaffirmed it.
    unconfirmed: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: keys as ``ed25519:...``, digests as hex, times as RFC 3339."""
        return {
            "item": self.item,
            "issuer": self.state.issuer,
            "issuer_name": self.issuer_name,
            "owner": format_public_key(self.state.owner),
            "status": self.state.status,
            "certificate": self.state.certificate.hex(),
            "certificate_confirmed": not self.unconfirmed,
            "attested_by": list(self.state.attested_by),
            "events": [
                {
                    "index": e.index,
                    "time": rfc3339(e.time),
                    "type": e.type,
                    "signer": format_public_key(e.signer),
                    "signed_as": e.signed_as,
                    "invalidated": e.invalidated,
                    "invalid_reason": e.invalid_reason,
                    "fields": _jsonable(e.fields),
                }
                for e in self.events
            ],
            "escrows": [e.to_json() for e in self.escrows],
        }


def item_report(ledger: Ledger, item_id: str, *, now: int | None = None) -> ItemReport:
    """Verify and describe ``item_id``'s history, escrows included.

    ``now`` (Unix seconds) applies escrow deadlines that passed since the
    item's latest entry to each escrow's ``state``; without it, states are as
    recorded.

    Raises:
        NotFoundError: no certificate for ``item_id``.
        VerificationError, DecodeError: a stored entry does not verify.
        TimeRangeError: ``now`` is not an int in 0..2**40.
    """
    if now is not None:
        now = check_now(now)

    state = ledger.item(item_id)
    names: dict[bytes, str] = {}
    records = ledger.history(item_id)
    view = StateView(ledger.store, origin=ledger.origin, root_key=ledger.root_key)
    read = replay_item([(r.index, r.time, r.statement) for r in records],
                       cutoffs=view.cutoffs, context_at=view.context_at)
    escrows = _escrows(ledger, item_id, records, now)
    owners = _owners(records) | {e.escrow.buyer for e in escrows
                                 if e.escrow.state == "completed"}
    parties = {e.id: {e.escrow.seller: "seller", e.escrow.buyer: "buyer",
                      **({e.escrow.arbiter: "arbiter"} if e.escrow.arbiter else {})}
               for e in escrows}
    views = []
    for rec in records:
        signer = rec.statement.signer
        escrow_id = rec.hash if isinstance(rec.event, EscrowOpened) else getattr(
            rec.event, "escrow", None)
        role = parties.get(escrow_id, {}).get(signer) if isinstance(escrow_id, bytes) else None
        views.append(EventView(
            index=rec.index,
            time=rec.time,
            type=rec.statement.type,
            signer=signer,
            signed_as=role or _name(ledger, signer, names, owners),
            invalidated=rec.index in read.invalidated,
            fields=msgspec.to_builtins(rec.event, builtin_types=(bytes,)),
            invalid_reason=read.invalidated.get(rec.index, ""),
        ))
    return ItemReport(item_id, state, views[0].signed_as, tuple(views), escrows,
                      unconfirmed=read.unconfirmed)


def _escrows(ledger: Ledger, item_id: str, records: list[Record],
             now: int | None) -> tuple[EscrowView, ...]:
    """Every escrow of the item with its last recorded state.

    The stored state after each entry holds the item's latest escrow; one that
    a new escrow replaced is shown as the replacing entry's log time left it.
    """
    offers = {r.hash: (r.index, r.event) for r in records if isinstance(r.event, EscrowOpened)}
    if not offers:
        return ()
    latest: dict[bytes, EscrowState] = {}
    current: EscrowState | None = None
    for row in ledger.store.history(item_id):
        item = decode_state(row.state)
        esc = item.escrow if isinstance(item, ItemState) else None
        if current is not None and (esc is None or esc.id != current.id):
            latest[current.id] = lapse(current, row.time)
        if esc is not None:
            latest[esc.id] = esc
        current = esc
    views = []
    for escrow_id, (index, offer) in offers.items():
        assert isinstance(offer, EscrowOpened)
        esc = latest[escrow_id]
        views.append(EscrowView(index, offer, esc,
                                esc.state if now is None else lapse(esc, now).state))
    return tuple(views)


def _owners(records: list[Record]) -> set[bytes]:
    owners = set()
    for rec in records:
        owner = getattr(rec.event, "owner", None)
        if isinstance(owner, bytes):
            owners.add(owner)
    return owners


def _name(ledger: Ledger, key: bytes, cache: dict[bytes, str], owners: set[bytes]) -> str:
    if key not in cache:
        try:
            cache[key] = ledger.authority(key).name
        except NotFoundError:
            cache[key] = "owner" if key in owners else ""
    return cache[key]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
