"""A consistent view of subject states for deciding a run of statements.

During a batch it overlays the statements already decided on top of the
store; during an audit it stands at one log index and answers "as of then".
Item states are as protocol.md 6.4 defines them: an item whose chain holds
entries a since-revoked key signed after its cut-off is replayed without
them (_history), so appends and audits decide against the same state that
``history`` and the bundle verifier show.
"""

from __future__ import annotations

from ._entry import decode_entry
from ._errors import AuditError
from ._history import (
    Cutoffs,
    Entry,
    KeyIntroduction,
    Revocation,
    replay_item,
    revocations_between,
    tainted,
)
from ._state import AuthorityState, ItemState, SubjectState, decode_state, root_state
from ._statement import UnverifiedStatement, decode_statement
from ._storage import Row, Store

_MAX_CACHED = 50_000


class StateView:
    """Heads and states as of log index ``at`` (None: the store's end) plus an overlay."""

    def __init__(
        self, store: Store, *, origin: str, root_key: bytes, at: int | None = None
    ) -> None:
        self._store = store
        self._origin = origin
        self._root_key = root_key
        self._root = root_state(root_key)
        self._at = at
        self._heads: dict[str, tuple[bytes | None, SubjectState | None]] = {}
        self._keys: dict[bytes, str] = {}
        self._cutoffs: Cutoffs | None = None
        #: Entries decided through this view but not yet in the store, by
        #: subject, and the (hash, state) the last of them left.
        self._pending: dict[str, list[Entry]] = {}
        self._decided: dict[str, tuple[bytes, SubjectState]] = {}
        #: Revocations decided through this view and not in the store yet.
        self._revocations: list[Revocation] = []
        #: Keys introduced by entries decided through this view (audits compare
        #: them with the store's key table).
        self.introduced: list[tuple[bytes, str, int]] = []

    @property
    def at(self) -> int | None:
        return self._at

    @at.setter
    def at(self, index: int | None) -> None:
        self._at = index

    @property
    def root_subject(self) -> str:
        return self._root.subject

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def cutoffs(self) -> Cutoffs:
        """The cut-off set as of this view (protocol.md 6.4)."""
        if self._cutoffs is None:
            self._cutoffs = self._read_cutoffs()
        return self._cutoffs

    def head(self, subject: str) -> tuple[bytes | None, SubjectState | None]:
        """(hash of the head statement, state after it) for ``subject``."""
        cached = self._heads.get(subject)
        if cached is not None:
            return cached
        decided = self._decided.get(subject)
        if decided is not None:
            statement_hash, state = decided
        else:
            row = (self._store.head(subject) if self._at is None
                   else self._store.head_before(subject, self._at))
            if row is None:
                return None, (self._root if subject == self._root.subject else None)
            statement_hash, state = row.hash, _decode(row)
        if isinstance(state, ItemState) and self.cutoffs:
            state = self._effective(subject, state)
        self._heads[subject] = (statement_hash, state)
        return statement_hash, state

    def prefetch(self, subjects: list[str]) -> None:
        """Read the heads of many subjects at once (the view must stand at the end)."""
        assert self._at is None
        rows = self._store.heads([s for s in subjects if s not in self._heads])
        for subject in subjects:
            if subject in self._heads:
                continue
            row = rows.get(subject)
            if row is not None:
                state = _decode(row)
                if isinstance(state, ItemState) and self.cutoffs:
                    state = self._effective(subject, state)
                self._heads[subject] = (row.hash, state)
            elif subject == self._root.subject:
                self._heads[subject] = (None, self._root)
            else:
                self._heads[subject] = (None, None)

    def update(self, subject: str, statement_hash: bytes, state: SubjectState,
               new_keys: tuple[bytes, ...], entry: Entry | None = None) -> None:
        """Record the outcome of a decided statement; ``entry`` is given for one
        that is not in the store yet (a batch being appended)."""
        if len(self._heads) >= _MAX_CACHED:
            self._heads.clear()  # bounded memory; evicted heads are re-read
        before = self.head(subject)[1] if isinstance(state, AuthorityState) else None
        self._heads[subject] = (statement_hash, state)
        for key in new_keys:
            self._keys[key] = subject
        if entry is not None:
            self._pending.setdefault(subject, []).append(entry)
            self._decided[subject] = (statement_hash, state)
        if isinstance(state, AuthorityState) and state.revoked != (
                before.revoked if isinstance(before, AuthorityState) else ()):
            if entry is not None:
                index, time, stmt = entry
                self._revocations += revocations_between(
                    before if isinstance(before, AuthorityState) else None, state,
                    signer=stmt.signer, time=time, index=index)
            self._revoked_changed()

    def authority_of(self, key: bytes) -> AuthorityState | None:
        subject = self._keys.get(key)
        if subject is None:
            found = self._store.key_subject(key)
            if found is None or (self._at is not None and found[1] >= self._at):
                return None
            subject = found[0]
            self._keys[key] = subject
        state = self.head(subject)[1]
        return state if isinstance(state, AuthorityState) else None

    # -- revocations (protocol.md 6.4) ----------------------------------------

    def _revoked_changed(self) -> None:
        """A revocation was decided: recompute the cut-off set, and forget the
        item states it may change (they are replayed again when next read).
        An audit's view finds the revocation in the store once it moves on."""
        self._cutoffs = None
        self._heads = {s: v for s, v in self._heads.items()
                       if not isinstance(v[1], ItemState)}

    def _read_cutoffs(self) -> Cutoffs:
        limit = self._at
        revocations = list(self._revocations)
        for row in self._store.revocations():
            if limit is not None and row.index >= limit:
                continue
            before = self._store.head_before(row.subject, row.index)
            old = _decode(before) if before is not None else None
            new = _decode(row)
            if isinstance(new, AuthorityState):
                revocations += revocations_between(
                    old if isinstance(old, AuthorityState) else None, new,
                    signer=row.signer, time=row.time, index=row.index)
        if not revocations:
            return Cutoffs(root=self._root.subject)
        intros = []
        for key, chain, index in self._store.all_keys():
            if index < 0 or (limit is not None and index >= limit):
                continue
            row = next(iter(self._store.rows(index, index + 1)))
            intros.append(KeyIntroduction(key, row.signer, row.time, chain))
        return Cutoffs.of(revocations, intros, root=self._root.subject)

    def _effective(self, subject: str, stored: ItemState) -> ItemState:
        """The item's state with invalidated entries left out (6.4)."""
        cut = self.cutoffs
        limit = self._at
        rows = [r for r in self._store.history(subject) if limit is None or r.index < limit]
        pending = self._pending.get(subject, [])
        if not tainted([(r.signer, r.time) for r in rows]
                       + [(st.signer, t) for _, t, st in pending], cut):
            return stored
        entries: list[Entry] = [(r.index, r.time, _statement(r)) for r in rows]
        history = replay_item(entries + pending, cutoffs=cut, context_at=self.context_at)
        return history.state if history.state is not None else stored

    def context_at(self, index: int) -> StateView:
        """A view of the same store standing at log ``index``."""
        return StateView(self._store, origin=self._origin, root_key=self._root_key, at=index)


def _statement(row: Row) -> UnverifiedStatement:
    # Stored entries were verified on append, and audits verify them again.
    return decode_statement(decode_entry(row.entry).statement)


def _decode(row: Row) -> SubjectState:
    try:
        return decode_state(row.state)
    except Exception as exc:  # msgspec raises several types for garbage
        raise AuditError(f"entry {row.index}: stored state is unreadable ({exc})",
                         index=row.index) from None
