"""The one text form of an item's verified history, as verify, history and
transfer status print it.

Every name and field is text its signer chose: it is shown through safe_text,
so that it cannot drive the terminal or forge the lines around it.
"""

from __future__ import annotations

from typing import Any, Final

import provledger
from provledger import safe_text

from ._common import fmt_key, rfc3339

#: Fields of cert.issued shown first, in this order; the rest follow as stored.
_CERT_FIRST: Final = ("kind", "serial", "gtin", "metal", "fineness", "mass_mg", "size",
                      "dimensions", "stones", "inscription", "owner")
_KEY_FIELDS: Final = ("owner", "key", "buyer", "arbiter", "new_key", "marketplace")
_TIME_FIELDS: Final = ("started", "completed", "offer_expires", "inspection_ends",
                       "compromised_since")


def history_lines(history: provledger.History, *, now: int | None = None) -> list[str]:
    """``history`` as lines of text: the item, its escrows, the checkpoint (with
    its age at ``now``), every event with its fields, then the warnings."""
    lines = _item_lines(history)
    for escrow in history.escrows:
        lines += _escrow_lines(escrow, holds=history.status == "in escrow"
                               and escrow is history.escrows[-1])
    cp = history.checkpoint
    if cp is not None:
        age = "" if now is None else f" ({now - cp.time} s before {rfc3339(now)})"
        lines += [f"checkpoint   {safe_text(cp.origin)} size {cp.size}, signed "
                  f"{rfc3339(cp.time)}{age}",
                  f"             root {cp.root.hex()}",
                  "             " + _witnessed(cp)]
    lines += ["", f"history ({len(history.events)} events):"]
    for e in history.events:
        signer = f"{safe_text(e.signed_as)} " if e.signed_as else ""
        lines.append(f"{e.index:>8}  {rfc3339(e.time)}  {e.type:<19} by {signer}"
                     f"{fmt_key(e.signer)}")
        if e.invalidated:
            lines.append(f"{'':>10}INVALIDATED ({safe_text(e.invalid_reason)})")
        if e.type != "cert.issued":
            lines += [f"{'':>10}{name}: {_value(name, value)}" for name, value in e.fields.items()]
    lines += [f"warning: {safe_text(w)}" for w in history.warnings]
    return lines


def _witnessed(cp: provledger.CheckpointInfo) -> str:
    """Who vouched for the checkpoint: the policy's witnesses whose cosignatures counted."""
    if not cp.witnesses:
        return "not witnessed (no cosignature from a witness the policy names)"
    return "witnessed by " + ", ".join(f"{safe_text(w.name)} (cosigned {rfc3339(w.time)})"
                                       for w in cp.witnesses)


def _item_lines(history: provledger.History) -> list[str]:
    lines = [
        f"item         {safe_text(history.item)}",
        f"status       {history.status}",
        f"owner        {fmt_key(history.owner)}",
        f"issuer       {safe_text(history.issuer_name) or '?'} ({safe_text(history.issuer)})",
        f"attested by  {', '.join(_attesters(history)) or '-'}",
        f"certificate  {history.certificate.hex()}"
        + ("" if history.certificate_confirmed else
           "  UNCONFIRMED: signed after its key's compromise cut-off; the issuer has not "
           "reaffirmed it"),
    ]
    cert = next((e for e in history.events if e.type == "cert.issued"), None)
    if cert is not None:
        fields = cert.fields
        ordered = [n for n in _CERT_FIRST if n in fields] + \
            [n for n in fields if n not in _CERT_FIRST]
        # The certificate's owner is the first one; the current one is above.
        lines += [f"  {('first owner' if name == 'owner' else name) + ':':<13}"
                  f"{_value(name, fields[name])}" for name in ordered]
    return lines


def _attesters(history: provledger.History) -> list[str]:
    """Each attesting authority's name, with the capacity it attested in."""
    shown = []
    for name in history.attested_by:
        capacity = next((e.fields.get("capacity") for e in history.events
                         if e.type == "cert.attested" and not e.invalidated
                         and e.signed_as == name), None)
        shown.append(safe_text(name) + ("" if capacity is None else
                                        f" as {safe_text(str(capacity))}"))
    return shown


def _escrow_lines(view: provledger.EscrowView, *, holds: bool) -> list[str]:
    esc, terms = view.escrow, view.offer.terms
    recorded = f" (recorded: {esc.state})" if view.state != esc.state else ""
    return [
        f"escrow       {esc.id.hex()} {view.state}{recorded}"
        + (" (holds the item)" if holds else "")
        + f", seller {fmt_key(esc.seller)}, buyer {fmt_key(esc.buyer)}",
        f"  opened at entry {view.index}; {'direct handover' if esc.direct else 'inspection'}",
        *([f"  arbiter          {fmt_key(esc.arbiter)}"] if esc.arbiter else []),
        f"  price            {terms.price_minor} {safe_text(terms.currency)} (minor units)",
        f"  grade            {safe_text(view.offer.condition.grade)}",
        f"  offer expires    {rfc3339(esc.offer_expires)}",
        *([] if esc.direct else [
            f"  inspection ends  {rfc3339(esc.inspection_ends)} "
            f"(then: {'dispute' if esc.on_timeout == 'dispute' else 'return to seller'})"]),
        *(f"  vote             {v.party} -> {v.outcome}" for v in esc.votes),
    ]


def _value(name: str, value: Any) -> str:
    """One field as text: keys as ed25519:..., digests as hex, times as RFC 3339."""
    if isinstance(value, bytes):
        return fmt_key(value) if name in _KEY_FIELDS and len(value) == 32 else value.hex()
    if name in _TIME_FIELDS and isinstance(value, int) and value:
        return rfc3339(value)
    if isinstance(value, list):
        return "; ".join(_value(name, v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{safe_text(str(k))}={_value(k, v)}" for k, v in value.items())
    return safe_text(str(value))
