"""Log entries: what the log stores for each appended statement.

An entry is the canonical CBOR map ``{"time": uint, "index": uint,
"statement": bstr}``; its bytes are the leaf of the log's Merkle tree, so the
tree covers both the signed statement and the log's own index and time for
it. The shape is fixed, so entries are built and parsed directly: this runs
once per entry on every append and every audit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import DecodeError

_TIME = b"\xa3\x64time"
_INDEX = b"\x65index"
_STATEMENT = b"\x69statement"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """The parsed form of one log entry (spec/protocol.md section 5)."""

    time: int
    index: int
    statement: bytes


def encode_entry(index: int, time: int, statement: bytes) -> bytes:
    """The leaf bytes of the entry at ``index``."""
    return (_TIME + _head(0, time) + _INDEX + _head(0, index) + _STATEMENT
            + _head(2, len(statement)) + statement)


def decode_entry(data: bytes) -> LogEntry:
    """Parse entry bytes; the statement inside is not yet verified.

    Raises:
        DecodeError: anything but the canonical encoding of an entry.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"log entry must be bytes, not {type(data).__name__}")
    if not data.startswith(_TIME):
        raise DecodeError("log entry: expected the map {time, index, statement}")
    time, pos = _read_head(data, len(_TIME), 0, "time")
    if data[pos : pos + len(_INDEX)] != _INDEX:
        raise DecodeError("log entry: expected the key 'index' after 'time'")
    index, pos = _read_head(data, pos + len(_INDEX), 0, "index")
    if data[pos : pos + len(_STATEMENT)] != _STATEMENT:
        raise DecodeError("log entry: expected the key 'statement' after 'index'")
    length, pos = _read_head(data, pos + len(_STATEMENT), 2, "statement")
    if pos + length != len(data):
        raise DecodeError(f"log entry: statement length {length} does not match the "
                          f"{len(data) - pos} bytes left")
    return LogEntry(time, index, data[pos:])


def _head(major: int, value: int) -> bytes:
    """A shortest-form CBOR head (major type and argument)."""
    mt = major << 5
    if value < 24:
        return bytes((mt | value,))
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * width):
            return bytes((mt | info,)) + value.to_bytes(width, "big")
    raise ValueError(f"{value} does not fit a CBOR head")


def _read_head(data: bytes, pos: int, major: int, what: str) -> tuple[int, int]:
    if pos >= len(data) or data[pos] >> 5 != major:
        raise DecodeError(f"log entry: '{what}' has the wrong type or is missing")
    info = data[pos] & 0x1F
    if info < 24:
        return info, pos + 1
    if info > 27:
        raise DecodeError(f"log entry: '{what}' uses an indefinite or reserved length")
    width = 1 << (info - 24)
    end = pos + 1 + width
    if end > len(data):
        raise DecodeError(f"log entry: truncated '{what}'")
    value = int.from_bytes(data[pos + 1 : end], "big")
    if value < (24 if width == 1 else 1 << (4 * width)):
        raise DecodeError(f"log entry: '{what}' is not in shortest form")
    return value, end
