"""The ledger's rules: who may append what, given the state before it.

One pure function, :func:`apply`, decides every statement, on append and
again in every audit; spec/protocol.md ("Rules") is its normative text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec

from . import _authority_rules, _care, _escrow, _owner_keys, _repairs, _signers, _transfer_rules
from ._errors import (
    ChainError,
    ClockError,
    DecodeError,
    ItemIdError,
    NonCanonicalItemIdError,
    OutOfScopeError,
    PolicyError,
    RevokedKeyError,
    StateError,
    UnauthorizedError,
    WrongLogError,
)
from ._events import (
    AUTHORITY_EVENTS,
    CARE_EVENTS,
    ESCROW_EVENTS,
    REPAIR_STATUS_EVENTS,
    AppraisalRecorded,
    CertificateAttested,
    CertificateIssued,
    CertificateReaffirmed,
    CertificateRenewed,
    CertificateRevoked,
    Event,
    LostReported,
    Recovered,
    RepairRecorded,
    StolenReported,
)
from ._itemid import ItemId, gtin_in_scope, gtin_is_valid, item_tag, parse_item_id
from ._keys import format_public_key
from ._state import AuthorityState, ItemState, Outcome, SubjectState
from ._statement import AUTHORITY_PREFIX, UnverifiedStatement

if TYPE_CHECKING:
    from ._history import Cutoffs

#: How far a statement's own time may run ahead of the log's clock.
MAX_CLOCK_SKEW = 300


class Context(Protocol):
    """What the rules may look up besides the subject's own state."""

    @property
    def origin(self) -> str: ...

    @property
    def cutoffs(self) -> Cutoffs:
        """Keys cut off so far (protocol.md 6.4), including ones whose
        introduction a revocation invalidated."""

    def authority_of(self, key: bytes) -> AuthorityState | None:
        """The authority ``key`` belongs to (current or retired), if any."""


def apply(
    stmt: UnverifiedStatement,
    *,
    state: SubjectState | None,
    head: bytes | None,
    log_time: int,
    ctx: Context,
) -> Outcome:
    """Decide ``stmt`` against its subject's ``state`` and chain ``head``.

    Raises:
        WrongLogError, ChainError: the statement is for another log, or does
            not extend the subject's chain.
        ClockError: its time is more than MAX_CLOCK_SKEW ahead of ``log_time``.
        UnknownKeyError, RevokedKeyError, UnauthorizedError: the signer may
            not make this statement.
        StateError, PolicyError: the subject's state forbids it.
        DecodeError: a field is well typed but invalid (a GTIN check digit).
    """
    p = stmt.payload
    where = f"{p.type} for {p.subject}"
    if p.log != ctx.origin:
        raise WrongLogError(f"{where}: statement is for log {p.log!r}, not {ctx.origin!r}")
    if p.prev != head:
        expected = head.hex() if head else "nil (a new chain)"
        got = p.prev.hex() if p.prev else "nil"
        raise ChainError(f"{where}: prev is {got}, expected the head {expected}")
    if p.time > log_time + MAX_CLOCK_SKEW:
        raise ClockError(
            f"{where}: statement time {p.time} is ahead of the log time {log_time} "
            f"by more than {MAX_CLOCK_SKEW} s"
        )
    is_authority_chain = p.subject.startswith(AUTHORITY_PREFIX)
    if isinstance(p.event, AUTHORITY_EVENTS) != is_authority_chain:
        kind = "an authority chain" if is_authority_chain else "an item id"
        raise PolicyError(f"{where}: this event type may not target {kind}")
    cut = ctx.cutoffs.cutoff(stmt.signer)
    if cut is not None and log_time >= cut:
        raise RevokedKeyError(f"{where}: signer {format_public_key(stmt.signer)} is cut off "
                              f"from log time {cut} (its key, or the entry that introduced "
                              "it, was revoked as compromised)")
    if is_authority_chain:
        assert state is None or isinstance(state, AuthorityState)
        signer = _signer(stmt.signer, ctx, where)
        return _authority_rules.decide(stmt, state, signer, log_time=log_time, ctx=ctx,
                                       where=where)
    assert state is None or isinstance(state, ItemState)
    decided = _item_event(stmt, state, ctx, where, log_time)
    # An offer the escrow rules admit must meet the issuer's transfer rules too.
    return Outcome(_transfer_rules.follow(stmt, decided, ctx, log_time=log_time, where=where))


# -- signers ----------------------------------------------------------------

_signer = _signers.signer
_refuse = _signers.refuse


def _issuer_of(item: ItemState, key: bytes, ctx: Context, where: str) -> AuthorityState:
    auth = _signer(key, ctx, where)
    if auth.subject != item.issuer or not auth.has_role("issuer"):
        raise UnauthorizedError(f"{where}: only the item's issuer may do this")
    return auth


def _holds(role: str, item: ItemState, key: bytes, ctx: Context) -> bool:
    """Whether ``key`` is the current key of an authority the item's issuer gave ``role``."""
    auth = ctx.authority_of(key)
    return auth is not None and auth.key == key and auth.has_role(role, item.issuer)


def _is_issuer(item: ItemState, key: bytes, ctx: Context) -> bool:
    auth = ctx.authority_of(key)
    return (
        auth is not None
        and auth.key == key
        and auth.subject == item.issuer
        and auth.has_role("issuer")
    )


# -- item events ------------------------------------------------------------


def _item_event(
    stmt: UnverifiedStatement, item: ItemState | None, ctx: Context, where: str, log_time: int
) -> ItemState:
    ev: Event = stmt.event
    signer = stmt.signer
    if isinstance(ev, CertificateIssued):
        if item is not None:
            # Whatever prev says: re-issuing would reset issuer, owner and status.
            raise StateError(f"{where}: the item is already certified (certificate "
                             f"{item.certificate.hex()[:16]}); an item is certified once")
        return _issue(stmt, ev, ctx, where)
    if item is None:
        raise StateError(f"{where}: no certificate has been issued for this item")
    if item.status == "revoked":
        raise StateError(f"{where}: the certificate is revoked; the item's chain is closed")
    # Escrow deadlines passed by this entry's log time, and a recovery whose time lock ended.
    item = _owner_keys.at(_escrow.at(item, log_time), log_time)
    nxt = msgspec.structs.replace(item, events=item.events + 1)
    if isinstance(ev, ESCROW_EVENTS):
        return _escrow.apply(stmt, item, nxt, log_time=log_time, where=where)
    if isinstance(ev, CARE_EVENTS):
        return _care.apply(stmt, item, nxt, ctx, log_time=log_time, where=where)
    if isinstance(ev, REPAIR_STATUS_EVENTS):
        return _repairs.apply(stmt, item, nxt, ctx, log_time=log_time, where=where)
    if isinstance(ev, CertificateAttested):
        auth = _signer(signer, ctx, where)
        if not auth.has_role("attester", item.issuer):
            raise UnauthorizedError(f"{where}: signer is not an attester of the item's issuer")
        if ev.certificate != item.certificate:
            raise PolicyError(f"{where}: attests certificate {ev.certificate.hex()}, "
                              f"but the item's certificate is {item.certificate.hex()}")
        if auth.subject in item.attested_by:
            raise StateError(f"{where}: this authority already attested the certificate")
        return msgspec.structs.replace(nxt, attested_by=(*item.attested_by, auth.subject))
    if isinstance(ev, CertificateRenewed):
        _issuer_of(item, signer, ctx, where)
        return nxt
    if isinstance(ev, CertificateReaffirmed):
        _issuer_of(item, signer, ctx, where)
        if ev.certificate != item.certificate:
            raise PolicyError(f"{where}: reaffirms certificate {ev.certificate.hex()}, "
                              f"but the item's certificate is {item.certificate.hex()}")
        return nxt
    if isinstance(ev, CertificateRevoked):
        _issuer_of(item, signer, ctx, where)
        return msgspec.structs.replace(nxt, status="revoked")
    if isinstance(ev, RepairRecorded | AppraisalRecorded):
        if signer != item.owner and not _holds("service", item, signer, ctx):
            _refuse(item, signer, ctx, f"{where}: signer is neither the owner nor a service "
                    "provider authorized by the item's issuer")
        _escrow.refuse_owner_action(item, signer, where)
        if isinstance(ev, RepairRecorded) and ev.completed < ev.started:
            raise PolicyError(f"{where}: completed ({ev.completed}) precedes started "
                              f"({ev.started})")
        if isinstance(ev, RepairRecorded):
            return _repairs.record(stmt, item, nxt, ctx, log_time=log_time)
        return nxt
    if isinstance(ev, LostReported):
        if signer != item.owner:
            raise UnauthorizedError(f"{where}: only the current owner may report it lost")
        if item.status != "active":
            raise StateError(f"{where}: the item is already {item.status}")
        _escrow.on_loss(item, where)
        return msgspec.structs.replace(nxt, status="lost")
    if isinstance(ev, StolenReported):
        if not (_is_issuer(item, signer, ctx) or _holds("reporter", item, signer, ctx)):
            _refuse(item, signer, ctx,
                    f"{where}: only the issuer or a reporter it authorized may report theft")
        if item.status == "stolen":
            raise StateError(f"{where}: the item is already reported stolen")
        return _escrow.on_theft(item, msgspec.structs.replace(nxt, status="stolen"))
    if isinstance(ev, Recovered):
        return _recover(item, nxt, signer, ctx, where=where)
    # The owner-key events are the last kind (it refuses any other type).
    return _owner_keys.apply(stmt, item, nxt, ctx, log_time=log_time, where=where)


def _issue(stmt: UnverifiedStatement, ev: CertificateIssued, ctx: Context, where: str) -> ItemState:
    auth = _signer(stmt.signer, ctx, where)
    if not auth.has_role("issuer"):
        raise UnauthorizedError(f"{where}: signer is not an authorized issuer")
    if ev.gtin and not gtin_is_valid(ev.gtin):
        raise DecodeError(f"{where}: GTIN {ev.gtin} has a wrong check digit")
    item = _item_id_of(stmt.subject, where)
    _in_scope(item, ev, auth, where)
    if item.gtin and (ev.gtin.zfill(14), ev.serial) != (item.gtin, item.serial):
        raise PolicyError(
            f"{where}: a GS1 Digital Link item id must match the certificate's "
            f"gtin and serial ({item.gtin}, {item.serial!r})"
        )
    if item.tag and ev.serial != item.serial:
        raise PolicyError(f"{where}: the certificate's serial must be the id's, "
                          f"{item.serial!r}")
    _transfer_rules.check_version(ev, auth, where)
    return ItemState(
        subject=stmt.subject,
        issuer=auth.subject,
        owner=ev.owner,
        status="active",
        certificate=stmt.hash,
        rules=ev.rules,
    )


def _item_id_of(subject: str, where: str) -> ItemId:
    """A new item's id, which must be canonical (protocol.md 4.3)."""
    try:
        item = parse_item_id(subject)
    except ItemIdError as exc:
        raise NonCanonicalItemIdError(f"{where}: {exc}") from None
    if item.text != subject:
        raise NonCanonicalItemIdError(f"{where}: item id {subject} is not canonical; "
                                      f"use {item.text}")
    return item


def _in_scope(item: ItemId, ev: CertificateIssued, auth: AuthorityState, where: str) -> None:
    """An issuer certifies only under its own URN tag, or its GS1 domains and
    company prefixes (protocol.md 4.3); a GTIN in the certificate counts too."""
    if item.tag:
        tag = item_tag(bytes.fromhex(auth.subject.removeprefix(AUTHORITY_PREFIX)))
        if item.tag != tag:
            raise OutOfScopeError(f"{where}: the URN tag {item.tag} is another issuer's; "
                                  f"{auth.subject} certifies under tag {tag}")
    elif item.domain not in auth.domains:
        raise OutOfScopeError(f"{where}: domain {item.domain} is not in the issuer's scope "
                              f"({', '.join(auth.domains) or 'none: it may issue URN ids only'})")
    gtin = item.gtin or ev.gtin
    if gtin and not gtin_in_scope(gtin, auth.gs1_prefixes):
        raise OutOfScopeError(
            f"{where}: GTIN {gtin.zfill(14)} lies under none of the issuer's GS1 company "
            f"prefixes ({', '.join(auth.gs1_prefixes) or 'none'})")


def _recover(
    item: ItemState, nxt: ItemState, signer: bytes, ctx: Context, *, where: str
) -> ItemState:
    if item.status not in ("lost", "stolen"):
        raise StateError(f"{where}: the item is not lost or stolen")
    official = _is_issuer(item, signer, ctx) or _holds("reporter", item, signer, ctx)
    if not official and not (item.status == "lost" and signer == item.owner):
        who = "the owner, the issuer or" if item.status == "lost" else "the issuer or"
        _refuse(item, signer, ctx, f"{where}: only {who} an authorized reporter may record "
                "recovery")
    return msgspec.structs.replace(nxt, status="active")
