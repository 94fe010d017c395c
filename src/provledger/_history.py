"""What a history means once keys are revoked (protocol.md 6.4).

One home for the rules that append, audit, ``history`` and the bundle verifier
all need: which keys are cut off and from when (:class:`Cutoffs`), which
entries that invalidates, and an item's state without them
(:func:`replay_item`). Nothing here reads storage: callers pass the
revocations, key introductions and item entries they hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _rules
from ._errors import ProvLedgerError
from ._events import CertificateIssued, CertificateReaffirmed
from ._keys import format_public_key
from ._state import AuthorityState, ItemState
from ._statement import UnverifiedStatement

#: An entry as the replay needs it: (log index, log time, statement). The
#: caller vouches for the signature: checked on append, by the audit's
#: workers, or by the bundle verifier before the replay.
Entry = tuple[int, int, UnverifiedStatement]


@dataclass(frozen=True, slots=True)
class KeyIntroduction:
    """The entry that made ``key`` an authority's key: who signed it, when,
    and on which authority's chain."""

    key: bytes
    signer: bytes
    time: int
    chain: str


@dataclass(frozen=True, slots=True)
class Revocation:
    """A key a ``key.revoked`` entry cut off (with its cut-off), and that entry:
    who signed it, when, on which chain, at which log index."""

    key: bytes
    cutoff: int
    signer: bytes
    time: int
    chain: str
    index: int


def revocations_between(before: AuthorityState | None, after: AuthorityState, *,
                        signer: bytes, time: int, index: int) -> list[Revocation]:
    """The cut-offs one entry added to (or lowered on) an authority's chain."""
    old = {(r.key, r.cutoff) for r in before.revoked} if before is not None else set()
    return [Revocation(r.key, r.cutoff, signer, time, after.subject, index)
            for r in after.revoked if (r.key, r.cutoff) not in old]


class Cutoffs:
    """The cut-off set: every key refused from a log time on.

    A key is in it when a revocation that stands cut it off (a creator's
    revocation that voids a rotation cuts off the rotated-to keys from their
    introduction, see _authority_rules), or when the entry that introduced it
    is itself invalidated. A revocation stands unless a later one that stands
    invalidates its own entry: revocations are weighed from the newest back.
    """

    __slots__ = ("_cut", "_ever", "_root")

    def __init__(self, cut: dict[bytes, int] | None = None, *, root: str = "",
                 ever: dict[bytes, int] | None = None) -> None:
        self._cut = dict(cut or {})
        self._root = root
        #: The cut-offs every revocation would make if all stood: a superset
        #: of every cut-off set the log has had, so an entry never touched by
        #: it was never invalidated and its stored state is still right.
        self._ever = dict(ever if ever is not None else self._cut)

    @classmethod
    def of(cls, revocations: Iterable[Revocation],
           introductions: Iterable[KeyIntroduction] = (), *, root: str) -> Cutoffs:
        """The cut-off set ``revocations`` leave, closed over ``introductions``.

        The root's own chain (chain id ``root``) is exempt from invalidation:
        with no one above it, its current key vouches for every rotation that
        led to it, so revoking a former root key never voids its later keys."""
        intros = [i for i in introductions if i.chain != root]
        revocations = sorted(revocations, key=lambda r: r.index, reverse=True)
        standing: list[Revocation] = []
        result = cls(root=root)
        for rev in revocations:
            if not result.invalidates(rev.signer, rev.time, rev.chain):
                standing.append(rev)
                result = cls._closed(standing, intros, root)
        result._ever = cls._closed(revocations, intros, root)._cut
        return result

    @classmethod
    def _closed(cls, revocations: Sequence[Revocation], intros: Sequence[KeyIntroduction],
                root: str) -> Cutoffs:
        cut: dict[bytes, int] = {}
        for r in revocations:
            cut[r.key] = min(cut.get(r.key, r.cutoff), r.cutoff)
        result = cls(cut, root=root)
        changed = bool(cut)
        while changed:
            changed = False
            for intro in intros:
                # A key already cut off later is cut off from the start all the same.
                if result._cut.get(intro.key) != 0 and result.invalidates(
                        intro.signer, intro.time, intro.chain):
                    result._cut[intro.key] = 0
                    changed = True
        return result

    def __bool__(self) -> bool:
        """Whether any revocation exists, standing or not (then item states
        may need reading again, see :func:`tainted`)."""
        return bool(self._ever)

    def touches(self, signer: bytes, time: int) -> bool:
        """Whether some revocation, standing or not, would invalidate an entry
        by ``signer`` at ``time``: only then can its chain's state differ
        from the one stored when it was appended."""
        cut = self._ever.get(signer)
        return cut is not None and time >= cut

    def cutoff(self, key: bytes) -> int | None:
        """The log time from which ``key`` is cut off, or None."""
        return self._cut.get(key)

    def invalidates(self, signer: bytes, time: int, chain: str = "") -> bool:
        """Whether an entry by ``signer`` at log ``time`` on ``chain`` is
        invalidated (never one on the root's own chain, see :meth:`of`)."""
        cut = self._cut.get(signer)
        return cut is not None and time >= cut and (not chain or chain != self._root)

    def reason(self, signer: bytes) -> str:
        """Why an entry by ``signer`` is invalidated (for reports)."""
        return (f"signed by {format_public_key(signer)} at or after its compromise cut-off "
                f"(log time {self._cut.get(signer)})")


@dataclass(slots=True)
class ItemHistory:
    """An item's chain read with revocations applied."""

    #: The state its valid entries leave (None: no certificate at all).
    state: ItemState | None
    #: Invalidated entries: log index -> why.
    invalidated: dict[int, str] = field(default_factory=dict)
    #: The item's cert.issued is invalidated and no valid cert.reaffirmed followed.
    unconfirmed: bool = False
    #: Log index of the cert.issued (None: none yet).
    certificate_index: int | None = None


def replay_item(entries: Sequence[Entry], *, cutoffs: Cutoffs,
                context_at: Callable[[int], _rules.Context]) -> ItemHistory:
    """Replay an item's chain (already proven linked and accepted in order)
    leaving out invalidated entries.

    An entry is left out when ``cutoffs`` invalidates its signer at its time,
    or when the rules refuse it against the state the valid entries before
    it leave ("rests on an invalidated entry"). An invalidated cert.issued
    still starts the replay but leaves the certificate unconfirmed until a
    valid cert.reaffirmed. ``context_at(index)`` is the authorities as of
    that log index. Never raises for a rule: refusals become marks.
    """
    result = ItemHistory(state=None)
    for index, time, stmt in entries:
        direct = cutoffs.invalidates(stmt.signer, time)
        is_genesis = isinstance(stmt.event, CertificateIssued) and result.state is None
        if direct and not is_genesis:
            result.invalidated[index] = cutoffs.reason(stmt.signer)
            continue
        try:
            out = _rules.apply(stmt, state=result.state, head=stmt.payload.prev, log_time=time,
                               ctx=context_at(index))
        except ProvLedgerError as exc:
            result.invalidated[index] = f"rests on an invalidated entry: {exc}"
            continue
        assert isinstance(out.state, ItemState)
        result.state = out.state
        if is_genesis:
            result.certificate_index = index
            if direct:
                result.invalidated[index] = cutoffs.reason(stmt.signer)
                result.unconfirmed = True
        elif isinstance(stmt.event, CertificateReaffirmed):
            result.unconfirmed = False
    return result


def tainted(entries: Iterable[tuple[bytes, int]], cutoffs: Cutoffs) -> bool:
    """Whether any (signer, log time) of a chain was ever invalidated: only
    then may its state differ from the one stored beside its entries."""
    return bool(cutoffs) and any(cutoffs.touches(s, t) for s, t in entries)


@dataclass(frozen=True, slots=True)
class EventView:
    """One entry of an item's history with its signer resolved."""

    index: int
    time: int
    type: str
    signer: bytes
    #: The signer's authority name; "seller", "buyer" or "arbiter" on an escrow's
    #: own events; "owner" for an owner's key; or "".
    signed_as: str
    #: The entry is invalidated (protocol.md 6.4) and left out of the state.
    invalidated: bool
    #: The fields as signed, with every committed field whose disclosure
    #: matched filled in (spec/disclosure.md); the commitments (``sd``) left out.
    fields: dict[str, Any]
    #: Why it is invalidated ("" when it is not).
    invalid_reason: str = ""
    #: Committed fields not disclosed (a count: their names are hidden).
    withheld: int = 0
    #: Committable fields the statement carries in clear (the earlier format).
    clear: tuple[str, ...] = ()
    #: Committed fields shown from a disclosure that matched (``condition.notes``...).
    disclosed: tuple[str, ...] = ()
