"""An item's verified history read from a ledger (the ledger path of _model.History)."""

from __future__ import annotations

from . import _disclosure, _escrow, _owner_keys
from ._errors import NotFoundError
from ._events import EscrowOpened, OwnerRotated, RecoveryStarted
from ._history import EventView, replay_item
from ._ledger import Ledger, Record
from ._model import (
    EscrowView,
    History,
    care_views,
    escrow_party,
    escrow_views,
    recovery_views,
    recovery_warnings,
    rules_view,
    shown_fields,
    warnings,
)
from ._state import AuthorityState, ItemState, decode_state
from ._time import check_now
from ._view import StateView

#: The name this result had before the ledger and the bundle shared one model.
ItemReport = History


def item_report(ledger: Ledger, item_id: str, *, now: int | None = None) -> History:
    """Verify and describe ``item_id``'s history, escrows included.

    ``now`` (Unix seconds) applies escrow deadlines that passed since the
    item's latest entry to each escrow's ``state`` and to the item's status;
    without it, they are as recorded. Care plans and repairs (their status,
    credits left, lateness) are judged at the ledger's last log time: the
    rules judge by log time, and no later one is known. A recovery of the
    owner key whose time lock ended by the later of both times has completed
    (spec/recovery.md): the owner is its new key.

    Every disclosure the ledger still holds is filled in (its operator's own
    records, spec/disclosure.md); erased ones are counted as withheld.

    Raises:
        NotFoundError: no certificate for ``item_id``.
        VerificationError, DecodeError: a stored entry does not verify.
        DisclosureError: a stored disclosure no longer matches its statement.
        TimeRangeError: ``now`` is not an int in 0..2**40.
    """
    if now is not None:
        now = check_now(now)

    state = ledger.item(item_id)
    names: dict[bytes, str] = {}
    chains: dict[bytes, str] = {}
    records = ledger.history(item_id)
    view = StateView(ledger.store, origin=ledger.origin, root_key=ledger.root_key)
    read = replay_item([(r.index, r.time, r.statement) for r in records],
                       cutoffs=view.cutoffs, context_at=view.context_at)
    stored = ledger.store.disclosures([r.hash for r in records])
    shown = {r.index: _disclosure.reveal(r.event, stored.get(r.hash, ())) for r in records}
    escrows = _escrows(ledger, item_id, records, shown, now)
    owners = _owners(records) | {e.escrow.buyer for e in escrows
                                 if e.escrow.state == "completed"}
    views = []
    for rec in records:
        signer = rec.statement.signer
        role = escrow_party(escrows, rec.hash, rec.event, signer)
        views.append(EventView(
            index=rec.index,
            time=rec.time,
            type=rec.statement.type,
            signer=signer,
            signed_as=role or _name(ledger, signer, names, owners),
            invalidated=rec.index in read.invalidated,
            fields=shown_fields(shown[rec.index].event),
            invalid_reason=read.invalidated.get(rec.index, ""),
            withheld=shown[rec.index].withheld,
            clear=shown[rec.index].clear,
            disclosed=shown[rec.index].disclosed,
        ))
    as_of = ledger.store.last_time()
    current = state if now is None else _escrow.at(state, now)
    # A recovery's time lock ends by log time: the log's latest, or ``now``.
    current = _owner_keys.at(current, as_of if now is None else max(now, as_of))
    live = [(r.index, r.time, r.hash, shown[r.index].event,
             _chain(ledger, r.statement.signer, chains))
            for r in records if r.index not in read.invalidated]
    subjects = {p.provider for p in current.plans} | {e[4] for e in live}
    plans, repairs = care_views(current, live,
                                {s: _authority_name(view, s) for s in subjects if s}, as_of)
    recoveries = recovery_views(current, live, {s: _authority_name(view, s)
                                                for s in {e[4] for e in live} if s})
    return History(
        item=item_id, status=_escrow.status(current), owner=current.owner, issuer=state.issuer,
        issuer_name=_authority_name(view, state.issuer) or views[0].signed_as,
        attested_by=tuple(_authority_name(view, a) or a for a in state.attested_by),
        certificate=state.certificate, events=tuple(views),
        certificate_confirmed=not read.unconfirmed, escrows=escrows,
        warnings=warnings(state, len(read.invalidated))
        + recovery_warnings(current, recoveries), plans=plans, repairs=repairs,
        as_of=as_of, recoveries=recoveries,
        rules=rules_view(state, _authority(view, state.issuer), escrows))


def _authority(view: StateView, subject: str) -> AuthorityState | None:
    authority = view.head(subject)[1]
    return authority if isinstance(authority, AuthorityState) else None


def _authority_name(view: StateView, subject: str) -> str:
    authority = view.head(subject)[1]
    return authority.name if isinstance(authority, AuthorityState) else ""


def _escrows(ledger: Ledger, item_id: str, records: list[Record],
             shown: dict[int, _disclosure.Revealed], now: int | None
             ) -> tuple[EscrowView, ...]:
    """Every escrow of the item, from the state stored after each of its entries."""
    offers: dict[bytes, tuple[int, EscrowOpened]] = {}
    for r in records:
        event = shown[r.index].event
        if isinstance(event, EscrowOpened):
            offers[r.hash] = (r.index, event)
    if not offers:
        return ()
    after = []
    for row in ledger.store.history(item_id):
        item = decode_state(row.state)
        after.append((row.time, item if isinstance(item, ItemState) else None))
    return escrow_views(offers, after, now)


def _chain(ledger: Ledger, key: bytes, cache: dict[bytes, str]) -> str:
    """The chain id of the authority ``key`` is (or was) a key of, "" if none."""
    if key not in cache:
        try:
            cache[key] = ledger.authority(key).subject
        except NotFoundError:
            cache[key] = ""
    return cache[key]


def _owners(records: list[Record]) -> set[bytes]:
    owners = set()
    for rec in records:
        owner = getattr(rec.event, "owner", None)
        if isinstance(owner, bytes):
            owners.add(owner)
        if isinstance(rec.event, OwnerRotated | RecoveryStarted):
            owners.add(rec.event.new_owner)
    return owners


def _name(ledger: Ledger, key: bytes, cache: dict[bytes, str], owners: set[bytes]) -> str:
    if key not in cache:
        try:
            cache[key] = ledger.authority(key).name
        except NotFoundError:
            cache[key] = "owner" if key in owners else ""
    return cache[key]
