"""Log entries: what the log stores for each appended statement.

An entry is the canonical CBOR map ``{"time", "index", "statement"}``; its
bytes are the leaf of the log's Merkle tree, so the tree covers both the
signed statement and the log's own index and time for it.
"""

from __future__ import annotations

from . import _codec
from ._events import _Wire
from ._types import Count, Timestamp


class LogEntry(_Wire, frozen=True, kw_only=True):
    """The wire form of one log entry (spec/protocol.md, "Log entries")."""

    time: Timestamp
    index: Count
    statement: bytes


def encode_entry(index: int, time: int, statement: bytes) -> bytes:
    """The leaf bytes of the entry at ``index``."""
    return _codec.encode_struct(LogEntry(index=index, time=time, statement=statement))


def decode_entry(data: bytes) -> LogEntry:
    """Parse entry bytes; the statement inside is not yet verified.

    Raises:
        DecodeError: malformed or non-canonical entry bytes.
    """
    return _codec.decode_struct(data, LogEntry, what="log entry")
