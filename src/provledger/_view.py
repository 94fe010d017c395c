"""A consistent view of subject states for deciding a run of statements.

During a batch it overlays the statements already decided on top of the
store; during an audit it stands at one log index and answers "as of then".
"""

from __future__ import annotations

from ._errors import AuditError
from ._state import AuthorityState, Grant, SubjectState, decode_state
from ._statement import authority_subject
from ._store import Row, Store


def root_state(root_key: bytes) -> AuthorityState:
    """The root authority before its chain has any entry."""
    return AuthorityState(
        subject=authority_subject(root_key), key=root_key, name="root", roles=(Grant("root", ""),)
    )


_MAX_CACHED = 50_000


class StateView:
    """Heads and states as of log index ``at`` (None: the store's end) plus an overlay."""

    def __init__(
        self, store: Store, *, origin: str, root_key: bytes, at: int | None = None
    ) -> None:
        self._store = store
        self._origin = origin
        self._root = root_state(root_key)
        self.at = at
        self._heads: dict[str, tuple[bytes | None, SubjectState | None]] = {}
        self._keys: dict[bytes, str] = {}
        #: Keys introduced by entries decided through this view (audits compare
        #: them with the store's key table).
        self.introduced: list[tuple[bytes, str, int]] = []

    @property
    def root_subject(self) -> str:
        return self._root.subject

    @property
    def origin(self) -> str:
        return self._origin

    def head(self, subject: str) -> tuple[bytes | None, SubjectState | None]:
        """(hash of the head statement, state after it) for ``subject``."""
        cached = self._heads.get(subject)
        if cached is not None:
            return cached
        row = (self._store.head(subject) if self.at is None
               else self._store.head_before(subject, self.at))
        if row is None:
            return None, (self._root if subject == self._root.subject else None)
        state = _decode(row)
        self._heads[subject] = (row.hash, state)
        return row.hash, state

    def prefetch(self, subjects: list[str]) -> None:
        """Read the heads of many subjects at once (the view must stand at the end)."""
        assert self.at is None
        rows = self._store.heads([s for s in subjects if s not in self._heads])
        for subject in subjects:
            if subject in self._heads:
                continue
            row = rows.get(subject)
            if row is not None:
                self._heads[subject] = (row.hash, _decode(row))
            elif subject == self._root.subject:
                self._heads[subject] = (None, self._root)
            else:
                self._heads[subject] = (None, None)

    def update(self, subject: str, statement_hash: bytes, state: SubjectState,
               new_keys: tuple[bytes, ...]) -> None:
        """Record the outcome of a decided statement."""
        if len(self._heads) >= _MAX_CACHED:
            self._heads.clear()  # bounded memory; evicted heads are re-read from the store
        self._heads[subject] = (statement_hash, state)
        for key in new_keys:
            self._keys[key] = subject

    def authority_of(self, key: bytes) -> AuthorityState | None:
        subject = self._keys.get(key)
        if subject is None:
            found = self._store.key_subject(key)
            if found is None or (self.at is not None and found[1] >= self.at):
                return None
            subject = found[0]
            self._keys[key] = subject
        state = self.head(subject)[1]
        return state if isinstance(state, AuthorityState) else None


def _decode(row: Row) -> SubjectState:
    try:
        return decode_state(row.state)
    except Exception as exc:  # msgspec raises several types for garbage
        raise AuditError(f"entry {row.index}: stored state is unreadable ({exc})",
                         index=row.index) from None
