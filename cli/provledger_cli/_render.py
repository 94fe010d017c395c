"""The one text form of an item's verified history, as verify, history and
transfer status print it.

Every name and field is text its signer chose: it is shown through safe_text,
so that it cannot drive the terminal or forge the lines around it. A committed
field (spec/disclosure.md) shows only when its disclosure matched; the others
are counted, never named (a commitment hides its field's name).
"""

from __future__ import annotations

from typing import Any, Final

import provledger
from provledger import safe_text

from ._common import fmt_key, rfc3339

#: Said of a committed text whose disclosure the history does not hold.
PRIVATE: Final = "(private: not disclosed)"
#: Said of an event whose statement carries committable text in clear.
EARLIER_FORMAT: Final = "(earlier format: text in clear on the ledger)"

#: Fields of cert.issued shown first, in this order; the rest follow as stored.
_CERT_FIRST: Final = ("kind", "serial", "gtin", "metal", "fineness", "mass_mg", "size",
                      "dimensions", "stones", "inscription", "owner")
_KEY_FIELDS: Final = ("owner", "key", "buyer", "arbiter", "new_key", "marketplace",
                       "new_owner")
_TIME_FIELDS: Final = ("started", "completed", "offer_expires", "inspection_ends",
                       "compromised_since", "starts", "ends", "promised", "expected",
                       "effective")


def history_lines(history: provledger.History, *, now: int | None = None) -> list[str]:
    """``history`` as lines of text: the item, its escrows, care plans and
    repairs, the checkpoint (with its age at ``now``), every event with its
    fields, then the warnings."""
    lines = _item_lines(history)
    for escrow in history.escrows:
        lines += _escrow_lines(escrow, holds=history.status == "in escrow"
                               and escrow is history.escrows[-1])
    lines += aftercare_lines(history)
    lines += recovery_lines(history)
    lines += rules_lines(history)
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
        lines += privacy_lines(e)
    lines += [f"warning: {safe_text(w)}" for w in history.warnings]
    return lines


def privacy_lines(event: provledger.EventView) -> list[str]:
    """What an event keeps private, and whether it is of the earlier format."""
    lines = []
    if event.withheld:
        n = event.withheld
        lines.append(f"{'':>10}{n} private field{'s' if n != 1 else ''} not disclosed")
    if event.clear:
        lines.append(f"{'':>10}{EARLIER_FORMAT}")
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
        *([f"  plans            go with the piece: {', '.join(p.hex() for p in terms.plans)}"]
          if terms.plans else []),
    ]


def recovery_lines(history: provledger.History) -> list[str]:
    """Each recovery of the owner key (spec/recovery.md), as of the reference time."""
    lines = []
    for view in history.recoveries:
        r = view.recovery
        lines += [
            f"recovery     {r.id.hex()} {r.state}, to {fmt_key(r.new_owner)}",
            f"  started          {rfc3339(r.started)} by "
            f"{safe_text(view.by_name) or safe_text(r.by)}: "
            f"{safe_text(view.reason) or PRIVATE}",
            f"  effective        {rfc3339(r.effective)}"
            + (" (the owner's key can cancel it until then)" if r.state == "pending" else ""),
        ]
    return lines


def rules_lines(history: provledger.History) -> list[str]:
    """The transfer rules the item was issued under (spec/rules.md), in plain language."""
    view = history.rules
    if view is None:
        return []
    return [f"rules        version {view.version}, published {rfc3339(view.published)}, "
            f"text sha256:{view.text.hex()}",
            *(f"  - {line}" for line in view.to_json()["plain"]),
            f"  rules met by every sale: {len(view.met)} completed (the log admits no "
            "offer that breaks them)"]


def aftercare_lines(history: provledger.History) -> list[str]:
    """The item's care plans and repairs, as of the history's reference time."""
    if not (history.plans or history.repairs):
        return []
    lines = [f"aftercare    as of {rfc3339(history.as_of)} (log time)"
             if history.as_of else "aftercare"]
    for view in history.plans:
        lines += plan_lines(view)
    for repair in history.repairs:
        lines += _repair_lines(repair)
    return lines


def plan_lines(view: provledger.PlanView) -> list[str]:
    """One care plan: tier, provider, status, term, credits left, transfer."""
    p = view.plan
    goes = "goes with the piece" if p.transfer == "with_piece" else "ends on a sale"
    left = [f"{view.credits} unit{'s' if view.credits != 1 else ''}"]
    if p.currency:
        left.append(f"{view.credit_minor} {safe_text(p.currency)} (minor units)")
    return [
        f"plan         {p.id.hex()} {safe_text(p.tier)} by "
        f"{safe_text(view.provider_name) or safe_text(p.provider)}: {view.status}, "
        f"{rfc3339(p.starts)} to {rfc3339(p.ends)}, {goes}",
        f"  credits left     {', '.join(left)}",
        *([f"  services         {'; '.join(safe_text(s) for s in view.services)}"]
          if view.services else []),
        "  consent          " + ("not needed (the terms waive it)" if p.no_consent else
                                 "the owner consents to each redemption"),
        *([f"  renewed          {rfc3339(p.renewed)}"] if p.renewed else []),
    ]


def _repair_lines(view: provledger.RepairView) -> list[str]:
    r = view.repair
    by = f" by {safe_text(view.workshop_name) or safe_text(r.workshop)}" if r.workshop else ""
    if view.one_step:
        head = f"{safe_text(view.category)}{by}: completed (one-step record)"
    else:
        head = f"{safe_text(view.category)}{by}: {r.status.replace('_', ' ')}" + \
            (" (at the workshop)" if r.at_workshop and r.status != "received" else "")
    promise = []
    if r.promised:
        promise.append(f"promised {rfc3339(r.promised)}")
    if r.ready and not view.one_step:
        promise.append(f"ready {rfc3339(r.ready)}")
    if r.promised:
        promise.append("LATE" if view.late else "on time")
    return [
        f"repair       {r.id.hex()} {head}",
        f"  work             {safe_text(view.work) or PRIVATE}",
        *([f"  turnaround       {', '.join(promise)}"] if promise else []),
        *([f"  paid by plan     {r.paid_by.hex()}"] if r.paid_by is not None else []),
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
