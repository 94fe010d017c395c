"""The repair rules: a repair's status from request to collection, one open
repair per item, and the one-step ``repair.recorded`` as a collected repair
(spec/aftercare.md is the normative text).

_rules calls :func:`apply` for every repair status statement and
:func:`record` for a ``repair.recorded`` it admitted. Times are the log time
of the entry being decided. Every refusal names its rule in brackets, such as
``[repair rule: one-open-repair]``, and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

from . import _escrow
from ._errors import PolicyError, StateError
from ._events import (
    RepairCancelled,
    RepairCollected,
    RepairProgress,
    RepairReady,
    RepairReceived,
    RepairRequested,
)
from ._signers import current, refuse
from ._state import AuthorityState, ItemState, RepairState, RepairStatus
from ._statement import UnverifiedStatement

if TYPE_CHECKING:
    from ._rules import Context

#: Statuses a workshop works in: progress and ready move from these.
WORKING: Final[tuple[RepairStatus, ...]] = ("received", "in_progress", "waiting_parts")
#: Statuses a repair can be cancelled from.
CANCELLABLE: Final[tuple[RepairStatus, ...]] = ("requested", *WORKING, "ready")


def find(item: ItemState, repair_id: bytes, where: str) -> RepairState:
    """The item's repair ``repair_id``.

    Raises:
        PolicyError: the item has no such repair.
    """
    for repair in item.repairs:
        if repair.id == repair_id:
            return repair
    raise PolicyError(f"{where}: no repair {_short(repair_id)} on this item "
                      "[repair rule: known-repair]")


def open_repair(item: ItemState) -> RepairState | None:
    """The item's open repair (at most one), if any."""
    return next((r for r in item.repairs if r.open), None)


def at_workshop(item: ItemState) -> RepairState | None:
    """The repair whose workshop holds the piece now, if any."""
    return next((r for r in item.repairs if r.at_workshop), None)


def record(stmt: UnverifiedStatement, item: ItemState, nxt: ItemState, ctx: Context, *,
           log_time: int) -> ItemState:
    """``nxt`` with the admitted one-step ``repair.recorded`` ``stmt`` added as a
    collected repair, so a plan's credits can pay it.

    Only an item that has (or had) a care plan records it: an item without
    one keeps the state it always had, byte for byte, so ledgers written
    before aftercare still audit.
    """
    if not item.plans:
        return nxt
    auth = None if stmt.signer == item.owner else current(stmt.signer, ctx)
    repair = RepairState(id=stmt.hash, status="collected",
                         workshop=auth.subject if auth is not None else "",
                         requested=log_time, ready=log_time)
    return msgspec.structs.replace(nxt, repairs=(*item.repairs, repair))


def apply(stmt: UnverifiedStatement, item: ItemState, nxt: ItemState, ctx: Context, *,
          log_time: int, where: str) -> ItemState:
    """Decide a ``repair.*`` status statement; return the item's next state.

    Raises:
        UnknownKeyError, RevokedKeyError, UnauthorizedError: the signer may not
            make this statement.
        StateError: the repair's status, another open repair, the item's
            status or an open escrow forbids it.
        PolicyError: a promise in the past, or a repair id the item lacks.
    """
    ev = stmt.event
    if isinstance(ev, RepairRequested):
        return _request(stmt, ev, item, nxt, ctx, log_time=log_time, where=where)
    assert isinstance(ev, RepairReceived | RepairProgress | RepairReady | RepairCollected
                      | RepairCancelled)
    repair = find(item, ev.repair, where)
    if not repair.open:
        raise StateError(f"{where}: repair {_short(repair.id)} is {repair.status} and "
                         "closed; only the item's open repair moves "
                         "[repair rule: open-repair]")
    signer = stmt.signer
    if isinstance(ev, RepairReceived):
        auth = current(signer, ctx)
        if auth is None or not _serves(auth, item, log_time) or (
                repair.workshop and auth.subject != repair.workshop):
            whom = (f"its workshop {repair.workshop}" if repair.workshop else
                    "a service authority of the item's issuer or of an active plan's provider")
            refuse(item, signer, ctx, f"{where}: only {whom} may receive this repair "
                   "[repair rule: workshop]")
        _from(repair, ("requested",), where)
        esc = item.escrow
        if esc is not None and _escrow.is_open(esc):
            raise StateError(f"{where}: the item is held by escrow {_short(esc.id)} "
                             f"({esc.state}); a workshop cannot take it in until the escrow "
                             "is settled [repair rule: frozen-in-escrow]")
        changed = msgspec.structs.replace(repair, status="received", at_workshop=True,
                                          workshop=auth.subject)
    elif isinstance(ev, RepairProgress | RepairReady):
        _workshop(repair, item, signer, ctx, where, owner_too=False)
        _from(repair, WORKING, where)
        changed = (msgspec.structs.replace(repair, status=ev.stage)
                   if isinstance(ev, RepairProgress)
                   else msgspec.structs.replace(repair, status="ready", ready=log_time))
    elif isinstance(ev, RepairCollected):
        _workshop(repair, item, signer, ctx, where, owner_too=True)
        if repair.status not in ("ready", "cancelled"):
            raise StateError(f"{where}: repair {_short(repair.id)} is {repair.status}; it is "
                             "collected once ready, or once cancelled at the workshop "
                             "[repair rule: transition]")
        changed = msgspec.structs.replace(
            repair, at_workshop=False,
            status="collected" if repair.status == "ready" else "cancelled")
    else:
        _workshop(repair, item, signer, ctx, where, owner_too=True)
        _from(repair, CANCELLABLE, where)
        if repair.paid_by is not None:
            raise StateError(f"{where}: repair {_short(repair.id)} was paid from plan "
                             f"{_short(repair.paid_by)}; a paid repair cannot be cancelled "
                             "(no refunds on the ledger) [repair rule: paid]")
        changed = msgspec.structs.replace(repair, status="cancelled")
        # The owner's consents to pay it can never be redeemed now.
        nxt = msgspec.structs.replace(
            nxt, consents=tuple(c for c in item.consents if c.repair != repair.id))
    return msgspec.structs.replace(
        nxt, repairs=tuple(changed if r.id == repair.id else r for r in item.repairs))


def _request(stmt: UnverifiedStatement, ev: RepairRequested, item: ItemState, nxt: ItemState,
             ctx: Context, *, log_time: int, where: str) -> ItemState:
    workshop = ""
    if stmt.signer == item.owner:
        _escrow.refuse_owner_action(item, stmt.signer, where)
    else:
        auth = current(stmt.signer, ctx)
        if auth is None or not _serves(auth, item, log_time):
            refuse(item, stmt.signer, ctx, f"{where}: only the owner, or a service authority "
                   "of the item's issuer or of an active plan's provider, may request a "
                   "repair [repair rule: requester]")
        workshop = auth.subject
    if item.status != "active":
        raise StateError(f"{where}: the item is {item.status}; a repair is requested only "
                         "for an active item [repair rule: active-item]")
    other = open_repair(item)
    if other is not None:
        raise StateError(f"{where}: repair {_short(other.id)} is still open "
                         f"({other.status}{', at the workshop' if other.at_workshop else ''}); "
                         "one open repair at a time [repair rule: one-open-repair]")
    if ev.promised < log_time:
        raise PolicyError(f"{where}: promised {ev.promised} is before the log time "
                          f"{log_time}: a promise in the past [repair rule: promise]")
    repair = RepairState(id=stmt.hash, status="requested", workshop=workshop,
                         requested=log_time, promised=ev.promised)
    return msgspec.structs.replace(nxt, repairs=(*item.repairs, repair))


def _serves(auth: AuthorityState, item: ItemState, log_time: int) -> bool:
    """Whether ``auth`` is a service authority of the item's issuer, or of the
    provider of a plan active at ``log_time``."""
    return auth.has_role("service", item.issuer) or any(
        auth.has_role("service", p.provider)
        for p in item.plans if p.status_at(log_time) == "active")


def _workshop(repair: RepairState, item: ItemState, key: bytes, ctx: Context, where: str, *,
              owner_too: bool) -> None:
    """Admit the repair's workshop (its current key), and the owner if ``owner_too``."""
    if owner_too and key == item.owner:
        _escrow.refuse_owner_action(item, key, where)
        return
    auth = current(key, ctx)
    if repair.workshop and auth is not None and auth.subject == repair.workshop:
        return
    who = "the owner or " if owner_too else ""
    whose = f"its workshop {repair.workshop}" if repair.workshop else "its workshop (none yet)"
    refuse(item, key, ctx, f"{where}: only {who}{whose} may do this to repair "
           f"{_short(repair.id)} [repair rule: workshop]")


def _from(repair: RepairState, allowed: tuple[RepairStatus, ...], where: str) -> None:
    if repair.status not in allowed:
        raise StateError(f"{where}: repair {_short(repair.id)} is {repair.status}; this "
                         f"needs it {' or '.join(allowed)} [repair rule: transition]")


def _short(digest: bytes) -> str:
    return digest.hex()[:16]
