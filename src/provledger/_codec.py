"""Deterministic CBOR (RFC 8949 section 4.2.1) in and out, with hard limits.

Everything provledger signs or hashes is encoded here, and everything it reads
is decoded here, so the canonical-form rules live in exactly one place.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import cbor2
import msgspec
import msgspec.inspect as mi

from ._errors import DecodeError
from ._types import TEXT_RULES

T = TypeVar("T")

#: No signed statement may exceed this many bytes: 64 KiB less 64, so that its
#: log entry (the statement and at most 43 bytes of CBOR around it) fits a
#: c2sp.org/tlog-tiles entry bundle, whose entries are at most 65,535 bytes.
MAX_STATEMENT_BYTES = 65_472

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


def convert(raw: Any, cls: type[T], *, what: str, strict: bool = True) -> T:
    """Validate decoded CBOR (or JSON, or option text with ``strict=False``)
    against a Struct schema.

    Raises:
        DecodeError: naming the path of the first offending field, and the
            values or field names allowed there when they are a fixed set.
    """
    try:
        return msgspec.convert(raw, cls, strict=strict)
    except msgspec.ValidationError as exc:
        message = str(exc)
        for quoted, meaning in _TEXT_RULES:
            message = message.replace(quoted, meaning)
        raise DecodeError(f"{what}: {message}{_allowed(message, cls)}") from None


def _allowed(message: str, cls: Any) -> str:
    """What msgspec's error leaves out: the enum values, or the field names,
    allowed at the path it names (`` (allowed: ...)``), or nothing."""
    if not message.startswith(("Invalid enum value", "Object contains unknown")):
        return ""
    at = _AT.search(message)
    types = _members(msgspec.inspect.type_info(cls))
    for name in _STEP.findall(at.group(1) if at else ""):
        types = [m for t in types for m in _members(_child(t, name))]
    if message.startswith("Invalid enum value"):
        values = [v for t in types if isinstance(t, mi.LiteralType) for v in t.values]
    else:
        values = [f.encode_name for t in types if isinstance(t, mi.StructType)
                  for f in t.fields]
    return f" (allowed: {', '.join(dict.fromkeys(str(v) for v in values))})" if values else ""


_AT = re.compile(r" - at `\$((?:\.\w+|\[\d+\])*)`$")
_STEP = re.compile(r"\.(\w+)|\[\d+\]")


def _members(t: mi.Type) -> list[mi.Type]:
    if isinstance(t, mi.UnionType):
        return [m for u in t.types for m in _members(u)]
    if isinstance(t, mi.Metadata):
        return _members(t.type)
    return [t]


def _child(t: mi.Type, name: str) -> mi.Type:
    """The type of field ``name`` of a struct, or of an item of a list ("")."""
    if isinstance(t, mi.StructType) and name:
        return next((f.type for f in t.fields if f.encode_name == name), mi.AnyType())
    if isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)) and not name:
        return t.item_type
    return mi.AnyType()
