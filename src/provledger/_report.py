"""Human- and machine-readable views of an item's verified history."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import msgspec

from ._errors import NotFoundError
from ._keys import format_public_key
from ._ledger import Ledger, Record
from ._state import ItemState


@dataclass(frozen=True, slots=True)
class EventView:
    """One entry of an item's history with its signer resolved."""

    index: int
    time: int
    type: str
    signer: bytes
    #: The signer's authority name, "owner" for the owner's own key, or "".
    signed_as: str
    #: The signer's key was revoked as compromised before this entry.
    invalidated: bool
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ItemReport:
    """An item's current state and every event, signatures verified."""

    item: str
    state: ItemState
    issuer_name: str
    events: tuple[EventView, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: keys as ``ed25519:...``, digests as hex, times as RFC 3339."""
        return {
            "item": self.item,
            "issuer": self.state.issuer,
            "issuer_name": self.issuer_name,
            "owner": format_public_key(self.state.owner),
            "status": self.state.status,
            "certificate": self.state.certificate.hex(),
            "attested_by": list(self.state.attested_by),
            "events": [
                {
                    "index": e.index,
                    "time": rfc3339(e.time),
                    "type": e.type,
                    "signer": format_public_key(e.signer),
                    "signed_as": e.signed_as,
                    "invalidated": e.invalidated,
                    "fields": _jsonable(e.fields),
                }
                for e in self.events
            ],
        }


def item_report(ledger: Ledger, item_id: str) -> ItemReport:
    """Verify and describe ``item_id``'s history.

    Raises:
        NotFoundError: no certificate for ``item_id``.
        VerificationError, DecodeError: a stored entry does not verify.
    """
    from ._audit import revocation_map

    state = ledger.item(item_id)
    revoked = revocation_map(ledger.store)
    names: dict[bytes, str] = {}
    owners = _owners(ledger.history(item_id))
    views = []
    for rec in ledger.history(item_id):
        signer = rec.statement.signer
        cut = revoked.get(signer)
        views.append(EventView(
            index=rec.index,
            time=rec.time,
            type=rec.statement.type,
            signer=signer,
            signed_as=_name(ledger, signer, names, owners),
            invalidated=cut is not None and rec.time >= cut[0] and rec.index < cut[1],
            fields=msgspec.to_builtins(rec.event, builtin_types=(bytes,)),
        ))
    return ItemReport(item_id, state, views[0].signed_as, tuple(views))


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


def rfc3339(t: int) -> str:
    """Unix seconds as an RFC 3339 UTC timestamp."""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat().replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
