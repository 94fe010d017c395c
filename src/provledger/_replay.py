"""The bundle verifier's replay of the ledger's rules, offline (spec/bundle.md).

Entries are decided in log order exactly as the log decided them on append:
authorities as of each entry, cut-offs as far as the log had seen them, and
item states with invalidated entries left out (protocol.md 6.4). Any refusal
means the log appended what its rules forbid. The bundle's item is then read
with the final cut-off set by the same function the ledger uses
(_history.replay_item). Nothing here touches storage.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import _rules
from ._errors import ProvLedgerError, VerificationError
from ._history import (
    Cutoffs,
    Entry,
    ItemHistory,
    KeyIntroduction,
    Revocation,
    replay_item,
    revocations_between,
    tainted,
)
from ._state import AuthorityState, ItemState, SubjectState, root_state


class _Timeline:
    """Every authority's state after each of its entries, and the cut-off set
    after each revocation, so that any log index can be stood at."""

    def __init__(self, origin: str, root_key: bytes) -> None:
        root = root_state(root_key)
        self.origin = origin
        self.root_subject = root.subject
        self.states: dict[str, tuple[list[int], list[AuthorityState]]] = {
            root.subject: ([-1], [root])}
        self.keys: dict[bytes, tuple[str, int]] = {root_key: (root.subject, -1)}
        self.cutoffs: tuple[list[int], list[Cutoffs]] = ([-1], [Cutoffs(root=root.subject)])
        self._intros: list[KeyIntroduction] = []
        self._revocations: list[Revocation] = []
        #: A key introduced twice: contexts asked for later may then differ
        #: from those the replay saw (see replay's shortcut).
        self.rekeyed = False

    def record(self, index: int, time: int, signer: bytes, state: AuthorityState,
               new_keys: tuple[bytes, ...]) -> None:
        indices, states = self.states.setdefault(state.subject, ([], []))
        before = states[-1] if states else None
        indices.append(index)
        states.append(state)
        for key in new_keys:
            self.rekeyed = self.rekeyed or key in self.keys
            self.keys[key] = (state.subject, index)
            self._intros.append(KeyIntroduction(key, signer, time, state.subject))
        if state.revoked != (before.revoked if before is not None else ()):
            self._revocations += revocations_between(before, state, signer=signer, time=time,
                                                     index=index)
            self.cutoffs[0].append(index)
            self.cutoffs[1].append(Cutoffs.of(self._revocations, self._intros,
                                              root=self.root_subject))

    def at(self, index: int) -> _At:
        """The authorities as the entry at log ``index`` found them."""
        return _At(self, index)

    def final(self) -> dict[str, AuthorityState]:
        return {subject: states[-1] for subject, (_, states) in self.states.items()}


class _At:
    """The rules' Context as of one log index."""

    def __init__(self, timeline: _Timeline, index: int) -> None:
        self._t = timeline
        self._index = index
        self.origin = timeline.origin
        indices, values = timeline.cutoffs
        self.cutoffs = values[bisect.bisect_left(indices, index) - 1]

    def authority_of(self, key: bytes) -> AuthorityState | None:
        found = self._t.keys.get(key)
        if found is None or found[1] >= self._index:
            return None
        indices, states = self._t.states[found[0]]
        return states[bisect.bisect_left(indices, self._index) - 1]


@dataclass(slots=True)
class Replayed:
    """What the replay proved about the bundle."""

    #: Each authority's state as of the checkpoint.
    authorities: dict[str, AuthorityState]
    #: The item read with the final cut-off set.
    item: ItemHistory
    cutoffs: Cutoffs
    #: The item's entries, and the state before each (by log index).
    entries: list[Entry] = field(default_factory=list)
    before: dict[int, ItemState | None] = field(default_factory=dict)
    timeline: _Timeline | None = None

    def context_at(self, index: int) -> _rules.Context:
        assert self.timeline is not None
        return self.timeline.at(index)


def replay(item: str, *, origin: str, root_key: bytes, records: Sequence[Entry]) -> Replayed:
    """Decide every entry in log order; read ``item`` with revocations applied.

    Raises:
        VerificationError: log time goes back.
        ProvLedgerError: the rules refuse an entry (its message names it).
    """
    timeline = _Timeline(origin, root_key)
    states: dict[str, SubjectState] = {}
    heads: dict[str, bytes] = {}
    chains: dict[str, list[Entry]] = {}
    before: dict[int, ItemState | None] = {}
    previous_time = 0
    reread = False  # the item's state was read again without its tainted entries
    certificate: int | None = None
    for index, time, stmt in records:
        if time < previous_time:
            err = VerificationError(f"bundle: log time goes back at log index {index}")
            err.check = "time-order"  # spec/bundle.md 5 step 10, before the rules
            raise err
        previous_time = time
        ctx = timeline.at(index)
        subject = stmt.subject  # a property: read once
        chain = chains.setdefault(subject, [])
        prior = states.get(subject)
        if prior is None and subject == timeline.root_subject:
            prior = timeline.states[subject][1][-1]
        if isinstance(prior, ItemState) and ctx.cutoffs and tainted(
                ((s.signer, t) for _, t, s in chain), ctx.cutoffs):
            effective = replay_item(chain, cutoffs=ctx.cutoffs, context_at=timeline.at).state
            prior = effective if effective is not None else prior
            reread = reread or subject == item
        if subject == item:
            before[index] = prior if isinstance(prior, ItemState) else None
            if prior is None:
                certificate = index
        try:
            out = _rules.apply(stmt, state=prior, head=heads.get(subject), log_time=time,
                               ctx=ctx)
        except ProvLedgerError as exc:
            exc.args = (f"bundle entry at log index {index}: {exc.args[0] if exc.args else exc}",
                        *exc.args[1:])
            raise
        states[subject] = out.state
        heads[subject] = stmt.hash
        chain.append((index, time, stmt))
        if isinstance(out.state, AuthorityState):
            timeline.record(index, time, stmt.signer, out.state, out.new_keys)
    final = timeline.cutoffs[1][-1]
    entries = chains.get(item, [])
    state = states.get(item)
    if (reread or timeline.rekeyed or not isinstance(state, ItemState | None)
            or tainted(((s.signer, t) for _, t, s in entries), final)):
        history = replay_item(entries, cutoffs=final, context_at=timeline.at)
    else:
        # No revocation ever touched the item's entries: replay_item would
        # decide each one as the loop above did (same state, head and
        # context), so its result is the loop's, with nothing invalidated.
        history = ItemHistory(state, certificate_index=certificate if state else None)
    return Replayed(timeline.final(), history, final, entries, before, timeline)
