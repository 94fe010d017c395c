"""Deterministic CBOR (RFC 8949 section 4.2.1) in and out, with hard limits.

Everything provledger signs or hashes is encoded here, and everything it reads
is decoded here, so the canonical-form rules live in exactly one place.
"""

from __future__ import annotations

from typing import Any, TypeVar

import cbor2
import msgspec

from ._errors import DecodeError
from ._types import TEXT_RULES

T = TypeVar("T")

#: No single signed statement or log entry may exceed this many bytes.
MAX_STATEMENT_BYTES = 64 * 1024

# A text field's regex, as msgspec quotes it, and what it means to a person.
_TEXT_RULES = tuple((f"`str` matching regex {p!r}", m) for p, m in TEXT_RULES.items())


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as deterministic CBOR (sorted maps, shortest forms)."""
    return cbor2.dumps(obj, canonical=True)


def loads(data: bytes, *, what: str, max_bytes: int = MAX_STATEMENT_BYTES) -> Any:
    """Decode the CBOR item at the start of ``data``.

    cbor2 ignores bytes after the item, so callers that need ``data`` to be
    exactly one canonical item re-encode and compare (``decode_struct``).

    Raises:
        DecodeError: ``data`` is too large, truncated or not CBOR. ``what``
            names the object in the message.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise DecodeError(f"{what}: {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        return cbor2.loads(data)
    except cbor2.CBORDecodeError as exc:
        raise DecodeError(f"{what}: not a single well-formed CBOR item ({exc})") from None
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        raise DecodeError(f"{what}: undecodable CBOR ({exc})") from None


def reencode(value: Any, *, what: str) -> bytes:
    """Deterministic CBOR of a value cbor2 decoded from untrusted input.

    Raises:
        DecodeError: the value cannot be encoded again (an exotic tag, a cycle).
    """
    try:
        return dumps(value)
    except (cbor2.CBOREncodeError, ValueError, TypeError, RecursionError) as exc:
        raise DecodeError(f"{what}: not re-encodable CBOR ({exc})") from None


def to_builtins(obj: msgspec.Struct) -> Any:
    """The plain CBOR-ready form of a Struct (bytes stay bytes, defaults omitted)."""
    return msgspec.to_builtins(obj, builtin_types=(bytes,))


def encode_struct(obj: msgspec.Struct) -> bytes:
    """The one canonical encoding of ``obj``.

    Wire Structs declare their fields in canonical key order, so the
    order-preserving encoder already yields deterministic CBOR at half the
    cost of a sorting pass (tests/test_codec.py checks every wire class).
    """
    return cbor2.dumps(to_builtins(obj))


def decode_struct(data: bytes, cls: type[T], *, what: str,
                  max_bytes: int = MAX_STATEMENT_BYTES) -> T:
    """Decode ``data`` as ``cls`` and insist it is that value's unique encoding.

    Re-encoding the parsed value and comparing catches non-canonical CBOR,
    duplicate keys, explicitly encoded defaults, and anything else that would
    let two byte strings mean the same thing.

    Raises:
        DecodeError: on any malformed, non-canonical or schema-invalid input.
    """
    raw = loads(data, what=what, max_bytes=max_bytes)
    value = convert(raw, cls, what=what)
    if encode_struct(value) != bytes(data):  # type: ignore[arg-type]
        raise DecodeError(f"{what}: not in deterministic CBOR encoding (RFC 8949 §4.2.1)")
    return value


def convert(raw: Any, cls: type[T], *, what: str) -> T:
    """Validate decoded CBOR against a Struct schema.

    Raises:
        DecodeError: naming the path of the first offending field.
    """
    try:
        return msgspec.convert(raw, cls, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        for quoted, meaning in _TEXT_RULES:
            message = message.replace(quoted, meaning)
        raise DecodeError(f"{what}: {message}") from None
