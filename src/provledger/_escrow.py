"""The escrow rules: how an item changes hands (spec/escrow.md is the normative text).

:func:`apply` decides every ``escrow.*`` statement and :func:`at` lets the
deadlines of an item's escrow take effect; _rules calls both for each item
event, after the checks every statement passes, so appends and audits decide
alike; :func:`on_loss` and :func:`on_theft` are what loss and theft reports
do to an open escrow. Deadlines are judged by the log time of the entry being
decided, never by a signer's clock. Every refusal names its rule in brackets,
such as ``[escrow rule: one-open-escrow]``, and changes nothing.
"""

from __future__ import annotations

import hashlib
from typing import Final, Literal

import msgspec

from . import _care, _codec, _owner_keys, _repairs
from ._errors import PolicyError, StateError, UnauthorizedError
from ._events import (
    ConditionReport,
    EscrowAccepted,
    EscrowAcknowledged,
    EscrowCancelled,
    EscrowDeclined,
    EscrowDisputed,
    EscrowOpened,
    EscrowRejected,
    EscrowResolution,
    EscrowTerms,
    Event,
)
from ._keys import format_public_key
from ._state import EscrowPhase, EscrowState, ItemState, Vote
from ._statement import UnverifiedStatement

Party = Literal["buyer", "seller", "arbiter"]

#: States in which an escrow holds the item: no second escrow, no owner action.
OPEN: Final = frozenset({"offered", "accepted", "disputed"})
#: States that never change again.
TERMINAL: Final = frozenset({"completed", "returned", "declined", "cancelled", "expired"})

# Who signs each transition, and from which states it may be made.
_PARTIES: Final[dict[type[Event], tuple[Party, ...]]] = {
    EscrowAccepted: ("buyer",),
    EscrowDeclined: ("buyer",),
    EscrowCancelled: ("seller",),
    EscrowAcknowledged: ("buyer",),
    EscrowRejected: ("buyer",),
    EscrowDisputed: ("buyer", "seller"),
    EscrowResolution: ("buyer", "seller", "arbiter"),
}
_FROM: Final[dict[type[Event], tuple[EscrowPhase, ...]]] = {
    EscrowAccepted: ("offered",),
    EscrowDeclined: ("offered",),
    EscrowCancelled: ("offered",),
    EscrowAcknowledged: ("accepted",),
    EscrowRejected: ("accepted",),
    EscrowDisputed: ("accepted", "disputed"),
    EscrowResolution: ("disputed",),
}


def terms_hash(terms: EscrowTerms) -> bytes:
    """SHA-256 of the canonical CBOR of ``terms``, as acceptances repeat it.

    Raises:
        TypeError: ``terms`` is not an EscrowTerms.
    """
    if not isinstance(terms, EscrowTerms):
        raise TypeError(f"expected EscrowTerms, not {type(terms).__name__}")
    return hashlib.sha256(_codec.encode_struct(terms)).digest()


def condition_hash(condition: ConditionReport) -> bytes:
    """SHA-256 of the canonical CBOR of ``condition``, as acceptances repeat it.

    Raises:
        TypeError: ``condition`` is not a ConditionReport.
    """
    if not isinstance(condition, ConditionReport):
        raise TypeError(f"expected ConditionReport, not {type(condition).__name__}")
    return hashlib.sha256(_codec.encode_struct(condition)).digest()


def is_open(escrow: EscrowState | None) -> bool:
    """Whether ``escrow`` still holds its item."""
    return escrow is not None and escrow.state in OPEN


def status(item: ItemState) -> str:
    """The item's status as reports show it: "in escrow" while an active item
    is held by an open escrow, else its own status."""
    return "in escrow" if item.status == "active" and is_open(item.escrow) else item.status


def lapse(escrow: EscrowState, log_time: int) -> EscrowState:
    """``escrow`` as an entry at ``log_time`` sees it, with passed deadlines applied.

    An offer not accepted by ``offer_expires`` expires; an inspection not
    acknowledged by ``inspection_ends`` goes to dispute or back to the seller,
    as the terms say. Neither ever moves ownership.

    It never sees an offered or accepted escrow of a lost or stolen item, so
    it never returns one to its seller: the owner may not report an item
    lost while an escrow holds it, and a theft report cancels an offer and
    disputes an accepted escrow in the same entry (:func:`on_loss`,
    :func:`on_theft`).
    """
    if escrow.state == "offered" and log_time > escrow.offer_expires:
        return msgspec.structs.replace(escrow, state="expired")
    if escrow.state == "accepted" and log_time > escrow.inspection_ends:
        after: EscrowPhase = "disputed" if escrow.on_timeout == "dispute" else "returned"
        return msgspec.structs.replace(escrow, state=after)
    return escrow


def at(item: ItemState, log_time: int) -> ItemState:
    """``item`` with its escrow's deadlines applied as of ``log_time``."""
    if item.escrow is None:
        return item
    escrow = lapse(item.escrow, log_time)
    return item if escrow is item.escrow else msgspec.structs.replace(item, escrow=escrow)


def refuse_owner_action(item: ItemState, signer: bytes, where: str) -> None:
    """Refuse an owner-signed action (repair, appraisal) while an escrow holds the item.

    Raises:
        StateError: ``signer`` is the owner and an escrow is open.
    """
    if signer == item.owner and item.escrow is not None and is_open(item.escrow):
        raise StateError(f"{where}: the item is held by escrow {_short(item.escrow.id)} "
                         f"({item.escrow.state}); its owner may not act on it until the "
                         "escrow is settled [escrow rule: one-open-escrow]")


def on_loss(item: ItemState, where: str) -> None:
    """Refuse the owner's loss report while an escrow holds the item.

    Before acceptance the seller cancels the offer first; after it the buyer
    holds the piece, or it is on its way, and a party disputes instead. A
    loss report would freeze the escrow while its deadline returns the piece
    to the seller (issue 11).

    Raises:
        StateError: an escrow of ``item`` is open.
    """
    esc = item.escrow
    if esc is not None and is_open(esc):
        instead = ("cancel the offer first" if esc.state == "offered" else
                   "the buyer holds it or it is in transit: dispute the escrow instead")
        raise StateError(f"{where}: the item is held by escrow {_short(esc.id)} "
                         f"({esc.state}); its owner may not report it lost: {instead} "
                         "[escrow rule: no-loss-in-escrow]")


def on_theft(item: ItemState, nxt: ItemState) -> ItemState:
    """``nxt`` (the item reported stolen) with its escrow as the theft leaves it.

    An offer is cancelled: it must never be accepted for a stolen piece, nor
    after its recovery, when its condition report may no longer hold. An
    accepted escrow is disputed, so that no inspection deadline returns the
    piece to the seller while the escrow is frozen; the arbiter, or buyer and
    seller together, settle it. A disputed escrow stays as it is.
    """
    esc = item.escrow
    if esc is None or esc.state not in ("offered", "accepted"):
        return nxt
    return _to(nxt, esc, "cancelled" if esc.state == "offered" else "disputed")


def apply(stmt: UnverifiedStatement, item: ItemState, nxt: ItemState, *, log_time: int,
          where: str) -> ItemState:
    """Decide an ``escrow.*`` statement; return the item's next state.

    ``item`` is the item's state with deadlines already applied (:func:`at`),
    ``nxt`` the same with the entry counted.

    Raises:
        UnauthorizedError: the signer is not the party the transition needs.
        StateError: the escrow or the item's state forbids the transition.
        PolicyError: an offer with invalid terms, or an acceptance that does
            not repeat the escrow's terms and condition hashes.
    """
    ev = stmt.event
    if isinstance(ev, EscrowOpened):
        return _open(stmt, ev, item, nxt, log_time=log_time, where=where)
    escrow_id: bytes = ev.escrow  # type: ignore[attr-defined]
    esc = item.escrow
    if esc is None or esc.id != escrow_id:
        current = f"its escrow is {_short(esc.id)}" if esc else "it has no escrow"
        raise StateError(f"{where}: names escrow {_short(escrow_id)}, but {current} "
                         "[escrow rule: current-escrow]")
    if esc.state in TERMINAL:
        raise StateError(f"{where}: escrow {_short(esc.id)} is {esc.state}"
                         f"{_why(esc, item, log_time)}; a "
                         "settled escrow never changes [escrow rule: terminal]")
    kind = type(ev)
    party = _party(esc, stmt.signer)
    if party not in _PARTIES[kind]:
        allowed = " or ".join(", ".join(_PARTIES[kind]).rsplit(", ", 1))
        raise UnauthorizedError(
            f"{where}: only the escrow's {allowed} may sign this; "
            f"{format_public_key(stmt.signer)} is {f'its {party}' if party else 'no party'} "
            "[escrow rule: party]")
    if item.status != "active" and kind is not EscrowResolution:
        raise StateError(f"{where}: the item is reported {item.status}; escrow "
                         f"{_short(esc.id)} is frozen until it is recovered, but for a "
                         "resolution by its arbiter, or by buyer and seller "
                         "[escrow rule: frozen]")
    if esc.state not in _FROM[kind]:
        raise StateError(f"{where}: escrow {_short(esc.id)} is {esc.state}"
                         f"{_why(esc, item, log_time)}; this "
                         f"transition needs it {' or '.join(_FROM[kind])} "
                         "[escrow rule: phase]")
    if isinstance(ev, EscrowAccepted | EscrowAcknowledged):
        _check_binding(ev, esc, where)
    if isinstance(ev, EscrowAccepted):
        return (_settle(nxt, esc, "buyer", log_time) if esc.direct
                else _to(nxt, esc, "accepted"))
    if isinstance(ev, EscrowAcknowledged):
        return _settle(nxt, esc, "buyer", log_time)
    if isinstance(ev, EscrowResolution):
        assert party is not None
        return _vote(nxt, esc, party, ev.outcome, log_time)
    after: dict[type[Event], EscrowPhase] = {
        EscrowDeclined: "declined", EscrowCancelled: "cancelled",
        EscrowRejected: "returned", EscrowDisputed: "disputed",
    }
    return _to(nxt, esc, after[kind])


def _open(stmt: UnverifiedStatement, ev: EscrowOpened, item: ItemState, nxt: ItemState, *,
          log_time: int, where: str) -> ItemState:
    if stmt.signer != item.owner:
        raise UnauthorizedError(f"{where}: only the current owner "
                                f"{format_public_key(item.owner)} may open an escrow "
                                "[escrow rule: owner-opens]")
    if item.status != "active":
        raise StateError(f"{where}: the item is reported {item.status}; it cannot be "
                         "offered until it is recovered [escrow rule: frozen]")
    _owner_keys.refuse_sale(item, where)
    if item.escrow is not None and is_open(item.escrow):
        raise StateError(f"{where}: escrow {_short(item.escrow.id)} is still "
                         f"{item.escrow.state}; an item has at most one open escrow "
                         "[escrow rule: one-open-escrow]")
    held = _repairs.at_workshop(item)
    if held is not None:
        raise StateError(f"{where}: the piece is at workshop {held.workshop} for repair "
                         f"{_short(held.id)} ({held.status}); a piece a buyer cannot inspect "
                         "cannot be offered until it is collected [escrow rule: at-workshop]")
    terms = ev.terms
    problem = ""
    expected = _care.transferring(item, log_time)
    if ev.buyer == item.owner:
        problem = "the buyer is the seller"
    elif terms.arbiter is not None and terms.arbiter in (ev.buyer, item.owner):
        problem = "the arbiter must be neither buyer nor seller"
    elif ev.offer_expires < log_time:
        problem = f"offer_expires {ev.offer_expires} is before the log time {log_time}"
    elif not terms.direct and ev.inspection_ends <= ev.offer_expires:
        problem = (f"inspection_ends {ev.inspection_ends} must come after offer_expires "
                   f"{ev.offer_expires}")
    elif list(terms.plans) != expected:
        listed = ", ".join(p.hex() for p in expected) or "none"
        problem = (f"terms.plans must list exactly the care plans that go with the piece, "
                   f"in enrolment order: [{listed}]")
    if problem:
        raise PolicyError(f"{where}: {problem} [escrow rule: valid-offer]")
    escrow = EscrowState(
        id=stmt.hash,
        seller=item.owner,
        buyer=ev.buyer,
        state="offered",
        offer_expires=ev.offer_expires,
        inspection_ends=ev.inspection_ends,
        terms_hash=terms_hash(terms),
        condition_hash=condition_hash(ev.condition),
        on_timeout=terms.on_timeout,
        direct=terms.direct,
        arbiter=terms.arbiter,
    )
    return msgspec.structs.replace(nxt, escrow=escrow)


def _check_binding(ev: EscrowAccepted | EscrowAcknowledged, esc: EscrowState,
                   where: str) -> None:
    for name, got, expected in (("terms_hash", ev.terms_hash, esc.terms_hash),
                                ("condition_hash", ev.condition_hash, esc.condition_hash)):
        if got != expected:
            raise PolicyError(f"{where}: {name} {got.hex()} is not escrow {_short(esc.id)}'s "
                              f"{expected.hex()} [escrow rule: binding]")


def _party(esc: EscrowState, key: bytes) -> Party | None:
    if key == esc.buyer:
        return "buyer"
    if key == esc.seller:
        return "seller"
    if esc.arbiter is not None and key == esc.arbiter:
        return "arbiter"
    return None


def _vote(nxt: ItemState, esc: EscrowState, party: Party,
          outcome: Literal["buyer", "seller"], log_time: int) -> ItemState:
    """Record ``party``'s latest vote; the arbiter's, or two parties agreeing, settles it."""
    votes = (*(v for v in esc.votes if v.party != party), Vote(party, outcome))
    esc = msgspec.structs.replace(esc, votes=votes)
    agreeing = sum(1 for v in votes if v.outcome == outcome)
    if party == "arbiter" or agreeing >= 2:
        return _settle(nxt, esc, outcome, log_time)
    return msgspec.structs.replace(nxt, escrow=esc)


def _settle(nxt: ItemState, esc: EscrowState, to: Literal["buyer", "seller"],
            log_time: int) -> ItemState:
    """Close ``esc``: ownership moves to the buyer, or stays with the seller.

    A move ends the plans that end on transfer and drops the seller's
    consents (spec/aftercare.md, "Transfer").
    """
    if to == "seller":
        return _to(nxt, esc, "returned")
    moved = msgspec.structs.replace(nxt, owner=esc.buyer,
                                    escrow=msgspec.structs.replace(esc, state="completed"))
    return _care.on_transfer(moved, log_time)


def _to(nxt: ItemState, esc: EscrowState, state: EscrowPhase) -> ItemState:
    return msgspec.structs.replace(nxt, escrow=msgspec.structs.replace(esc, state=state))


def _why(esc: EscrowState, item: ItemState, log_time: int) -> str:
    """How ``esc`` came to its state, for a refusal: " (rejected by the buyer)".

    The stored state records no history (adding it would change the stored
    bytes of every settled escrow, which audits compare), so this derives what
    the state proves. Where two paths end alike, both are named: a return
    without votes is a rejection unless the inspection deadline, when the
    terms return on timeout, has passed by ``log_time``; a cancellation is the
    seller's or a theft report's (section 6a: it cancels an offer), stolen
    now or recovered since; a dispute is a party's, the deadline's (terms
    that dispute on timeout), or a theft report's.
    """
    deadline = (not esc.direct and log_time > esc.inspection_ends)
    passed = f"its inspection deadline passed at log time {esc.inspection_ends}"
    theft = item.status == "stolen"
    how = ""
    if esc.votes and esc.state in ("completed", "returned"):
        by = ("the arbiter" if any(v.party == "arbiter" for v in esc.votes)
              else "buyer and seller agreeing")
        to = "the buyer" if esc.state == "completed" else "the seller"
        how = f"dispute resolved for {to} by {by}"
    elif esc.state == "completed":
        how = ("accepted by the buyer (a direct sale)" if esc.direct
               else "acknowledged by the buyer after inspection")
    elif esc.state == "returned":
        how = "rejected by the buyer"
        if esc.on_timeout == "return" and deadline:
            how += f", or {passed} unacknowledged"
    elif esc.state == "declined":
        how = "declined by the buyer"
    elif esc.state == "cancelled":
        how = ("cancelled by the item's theft report, or by the seller before it" if theft
               else "cancelled by the seller, or by a theft report the item has since "
               "been recovered from")
    elif esc.state == "expired":
        how = f"its offer expired unaccepted at log time {esc.offer_expires}"
    elif esc.state == "disputed":
        how = "disputed by a party"
        if esc.on_timeout == "dispute" and deadline:
            how += f", or when {passed}"
        how += ", or by a theft report"
    return f" ({how})" if how else ""


def _short(escrow_id: bytes) -> str:
    return escrow_id.hex()[:16]
