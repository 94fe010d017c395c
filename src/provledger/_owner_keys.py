"""Owner keys: rotation, and recovery of a lost key behind a time lock
(spec/recovery.md is the normative text).

_rules calls :func:`apply` for ``owner.rotated``, ``recovery.started`` and
``recovery.cancelled``, and :func:`at` before deciding any item event, right
after the escrow deadlines; verifiers call :func:`at` at their reference
time. A pending recovery completes by itself once the log time reaches its
``effective`` time, as escrow deadlines lapse: no entry is needed, so no one
can hold it up and no one can hurry it. Every refusal names its rule in
brackets, such as ``[recovery rule: time-lock]``, and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

from . import _escrow
from ._errors import PolicyError, StateError, UnauthorizedError
from ._events import OwnerRotated, RecoveryCancelled, RecoveryStarted
from ._keys import format_public_key
from ._signers import current, refuse
from ._state import ItemState, RecoveryState
from ._statement import UnverifiedStatement
from ._time import rfc3339

if TYPE_CHECKING:
    from ._rules import Context

#: Seconds of log time a recovery waits before it takes effect: the owner's
#: window to see it and cancel it with the old key (7 days).
RECOVERY_LOCK: Final = 7 * 86400


def pending(item: ItemState) -> RecoveryState | None:
    """The item's pending recovery as recorded, if any (apply :func:`at` first)."""
    rec = item.recovery
    return rec if rec is not None and rec.state == "pending" else None


def at(item: ItemState, log_time: int) -> ItemState:
    """``item`` as an entry at ``log_time`` sees it: a pending recovery whose
    ``effective`` time has come completes (the new key owns the piece, and
    the old key's open consents go). A revoked item's chain is closed: nothing
    completes on it."""
    rec = item.recovery
    if rec is None or rec.state != "pending" or log_time < rec.effective:
        return item
    if item.status == "revoked":
        return item
    return msgspec.structs.replace(
        item, owner=rec.new_owner, consents=(),
        recovery=msgspec.structs.replace(rec, state="completed"))


def refuse_sale(item: ItemState, where: str) -> None:
    """Refuse an escrow while a recovery is pending: who owns the piece is in
    question until the recovery completes or is cancelled.

    Raises:
        StateError: a recovery of ``item`` is pending.
    """
    rec = pending(item)
    if rec is not None:
        raise StateError(f"{where}: a recovery is pending (recovery {_short(rec.id)}, "
                         f"effective {rfc3339(rec.effective)}); the piece cannot be offered "
                         "until it completes or is cancelled "
                         "[recovery rule: no-sale-while-pending]")


def apply(stmt: UnverifiedStatement, item: ItemState, nxt: ItemState, ctx: Context, *,
          log_time: int, where: str) -> ItemState:
    """Decide an owner-key statement; return the item's next state.

    ``item`` is the item's state with escrow deadlines and recovery
    completion applied at ``log_time`` (:func:`at`), ``nxt`` the same with
    the entry counted.

    Raises:
        UnknownKeyError, RevokedKeyError, UnauthorizedError: the signer may
            not make this statement.
        StateError: an open escrow, a pending recovery, or a settled one
            forbids it.
        PolicyError: the new key is the current one, the time lock is too
            short, or the cancellation names no recovery of the item.
    """
    ev = stmt.event
    if isinstance(ev, OwnerRotated):
        return _rotate(stmt, ev, item, nxt, where=where)
    if isinstance(ev, RecoveryStarted):
        return _start(stmt, ev, item, nxt, ctx, log_time=log_time, where=where)
    if isinstance(ev, RecoveryCancelled):
        return _cancel(stmt, ev, item, nxt, ctx, where=where)
    raise PolicyError(f"{where}: event type not allowed on an item")  # pragma: no cover


def _rotate(stmt: UnverifiedStatement, ev: OwnerRotated, item: ItemState, nxt: ItemState, *,
            where: str) -> ItemState:
    if stmt.signer != item.owner:
        raise UnauthorizedError(f"{where}: only the current owner {format_public_key(item.owner)} "
                                "may rotate its key [recovery rule: owner-rotates]")
    _settled(item, where, "rotated")
    _new_key(item, ev.new_owner, where)
    # The open consents were signed by the old key: the new one gives its own.
    return msgspec.structs.replace(nxt, owner=ev.new_owner, consents=())


def _start(stmt: UnverifiedStatement, ev: RecoveryStarted, item: ItemState, nxt: ItemState,
           ctx: Context, *, log_time: int, where: str) -> ItemState:
    auth = current(stmt.signer, ctx)
    if auth is None or not (
            (auth.subject == item.issuer and auth.has_role("issuer"))
            or auth.has_role("reporter", item.issuer)):
        refuse(item, stmt.signer, ctx, f"{where}: only the item's issuer or a reporter it "
               "authorized may start a recovery [recovery rule: starter]")
    _settled(item, where, "recovered")
    _new_key(item, ev.new_owner, where)
    earliest = log_time + RECOVERY_LOCK
    if ev.effective < earliest:
        raise PolicyError(f"{where}: effective {ev.effective} is too soon: a recovery takes "
                          f"effect at least {RECOVERY_LOCK} s (7 days) after its log time "
                          f"{log_time}, so not before {earliest} ({rfc3339(earliest)}) "
                          "[recovery rule: time-lock]")
    rec = RecoveryState(id=stmt.hash, new_owner=ev.new_owner, started=log_time,
                        effective=ev.effective, by=auth.subject)
    return msgspec.structs.replace(nxt, recovery=rec)


def _cancel(stmt: UnverifiedStatement, ev: RecoveryCancelled, item: ItemState, nxt: ItemState,
            ctx: Context, *, where: str) -> ItemState:
    rec = item.recovery
    if rec is None or rec.id != ev.recovery:
        latest = f"its latest recovery is {_short(rec.id)}" if rec else "it has no recovery"
        raise PolicyError(f"{where}: names recovery {_short(ev.recovery)}, but {latest} "
                          "[recovery rule: known-recovery]")
    if rec.state != "pending":
        how = (f"completed at {rfc3339(rec.effective)}" if rec.state == "completed"
               else "cancelled")
        raise StateError(f"{where}: recovery {_short(rec.id)} is {how}; a settled recovery "
                         "never changes [recovery rule: pending-only]")
    auth = current(stmt.signer, ctx)
    if stmt.signer != item.owner and (auth is None or auth.subject != rec.by):
        refuse(item, stmt.signer, ctx, f"{where}: only the owner's key or the authority that "
               "started it may cancel a recovery [recovery rule: canceller]")
    return msgspec.structs.replace(nxt, recovery=msgspec.structs.replace(rec, state="cancelled"))


def _settled(item: ItemState, where: str, what: str) -> None:
    """Refuse while an escrow holds the item or a recovery is pending."""
    esc = item.escrow
    if esc is not None and _escrow.is_open(esc):
        raise StateError(f"{where}: the item is held by escrow {_short(esc.id)} ({esc.state}); "
                         f"its owner key cannot be {what} until the escrow is settled "
                         "[recovery rule: not-in-escrow]")
    rec = pending(item)
    if rec is not None:
        raise StateError(f"{where}: recovery {_short(rec.id)} is pending (effective "
                         f"{rfc3339(rec.effective)}); cancel it first "
                         "[recovery rule: one-pending]")


def _new_key(item: ItemState, new_owner: bytes, where: str) -> None:
    if new_owner == item.owner:
        raise PolicyError(f"{where}: new_owner is the current owner key "
                          "[recovery rule: new-key]")


def _short(digest: bytes) -> str:
    return digest.hex()[:16]
