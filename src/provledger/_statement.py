"""Signed statements: COSE_Sign1 (RFC 9052) with EdDSA over a CBOR payload.

A statement is ``18([protected, {}, payload, signature])`` where protected is
exactly ``{1: -8, 3: CONTENT_TYPE, 4: signer public key}``. Fixing the whole
header, leaving the unprotected map empty and requiring canonical CBOR make
the stored bytes the only encoding of a statement, so its SHA-256 identifies
it. The fixed shape is also what lets this module parse and check the outer
layers with byte comparisons instead of a generic decoder.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta

from . import _codec
from ._errors import DecodeError
from ._events import EVENT_CLASSES, Event, EventType, _Wire
from ._keys import SigningKey, verify_signature
from ._types import Digest, Origin, PublicKey, Timestamp

CONTENT_TYPE = "application/vnd.provledger.statement+cbor"
FORMAT_VERSION: Literal[1] = 1
AUTHORITY_PREFIX = "provledger:authority:"

#: A subject is an item id or an authority chain (``provledger:authority:<hex>``).
Subject = Annotated[
    str,
    Meta(
        min_length=8,
        max_length=256,
        pattern=r"^(https://[\x21-\x7e]+|urn:[\x21-\x7e]+|provledger:authority:[0-9a-f]{64})\Z",
    ),
]

# Canonical CBOR of {1: -8, 3: CONTENT_TYPE, 4: h'<32 bytes>'} without the key.
_PROTECTED_PREFIX = _codec.dumps({1: -8, 3: CONTENT_TYPE, 4: b"\0" * 32})[:-32]
_PROTECTED_LEN = len(_PROTECTED_PREFIX) + 32
_SIG1_CONTEXT = _codec.dumps("Signature1")
_SIGNATURE_HEADER = b"\x58\x40"  # bstr of 64 bytes


def authority_subject(original_key: bytes) -> str:
    """The chain id of the authority first known by ``original_key``."""
    return AUTHORITY_PREFIX + original_key.hex()


class Payload(_Wire, frozen=True, kw_only=True):
    """What a statement's signature covers besides the protected header.

    Fields are in canonical key order (see _events). ``event`` holds the body
    Struct named by ``type``.
    """

    v: Literal[1]
    log: Origin
    #: SHA-256 of the subject's previous statement; None at its genesis.
    prev: Digest | None
    time: Timestamp
    type: EventType
    event: Any
    signer: PublicKey
    subject: Subject


class UnverifiedStatement(msgspec.Struct, frozen=True, gc=False):
    """A statement decoded from bytes whose signature has NOT been checked here.

    What the rules read. Only :class:`Statement`, its subclass, says the
    signature verified: :func:`verify_statement` returns one, and so does
    _parallel.SignatureChecks.verified once the checks elsewhere are in.

    ``raw`` is the stored bytes; ``hash`` is their SHA-256, the id other
    statements use in ``prev``. Not tracked by the garbage collector (it holds
    no cycles), which keeps large batches and audits from paying for GC passes.
    """

    raw: bytes
    payload: Payload
    hash: bytes

    @property
    def event(self) -> Event:
        ev: Event = self.payload.event
        return ev

    @property
    def type(self) -> str:
        return self.payload.type

    @property
    def subject(self) -> str:
        return self.payload.subject

    @property
    def signer(self) -> bytes:
        return self.payload.signer

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.type!r}, subject={self.subject!r}, "
                f"hash={self.hash.hex()[:16]})")


class Statement(UnverifiedStatement, frozen=True, gc=False):
    """A statement whose signature has been verified and payload decoded."""

    @classmethod
    def checked(cls, unverified: UnverifiedStatement) -> Statement:
        """``unverified`` as verified: only for callers that checked its signature
        (check_signature on the same bytes, here or in a worker)."""
        return cls(unverified.raw, unverified.payload, unverified.hash)


S = TypeVar("S", bound=UnverifiedStatement)


def protected_header(public_key: bytes) -> bytes:
    """The only protected header a statement by ``public_key`` may carry."""
    return _PROTECTED_PREFIX + public_key


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes Ed25519 signs: CBOR ``["Signature1", protected, h'', payload]``."""
    return b"\x84" + _SIG1_CONTEXT + _bstr(protected) + b"\x40" + _bstr(payload)


def encode_payload(payload: Payload) -> bytes:
    """The canonical payload bytes."""
    return _codec.encode_struct(payload)


def sign_statement(
    event: Event,
    *,
    key: SigningKey,
    origin: str,
    subject: str,
    prev: bytes | None,
    time: int,
) -> bytes:
    """Sign ``event`` for ``subject`` on the log ``origin``; return the statement bytes.

    The result still has to pass the ledger's rules when appended.

    Raises:
        DecodeError: a field violates the schema (the statement would not decode).
    """
    if not isinstance(event, Event) or type(event) not in EVENT_CLASSES.values():
        raise TypeError(f"expected an event body, not {type(event).__name__}")
    payload = Payload(
        v=FORMAT_VERSION,
        log=origin,
        prev=prev,
        time=time,
        type=event.TYPE,  # type: ignore[arg-type]
        event=event,
        signer=key.public_key,
        subject=subject,
    )
    payload_bytes = encode_payload(payload)
    # Validate what we are about to sign, so a bad field fails here, not at append.
    decode_payload(payload_bytes)
    protected = protected_header(key.public_key)
    signature = key.sign(sig_structure(protected, payload_bytes))
    return b"\xd2\x84" + _bstr(protected) + b"\xa0" + _bstr(payload_bytes) + _bstr(signature)


def verify_statement(data: bytes) -> Statement:
    """Check a statement's form and signature, then decode its payload.

    Raises:
        DecodeError: not a canonical COSE_Sign1 of the fixed shape, or a
            payload that is not a valid, canonically encoded event.
        SignatureError: the signature does not verify under the key in ``kid``.
    """
    protected, payload_bytes, signature = _split(data)
    _check(protected, payload_bytes, signature)
    return _decode(data, protected, payload_bytes, Statement)


def check_signature(data: bytes) -> None:
    """The signature half of :func:`verify_statement`: form and signature only.

    Raises:
        DecodeError: not a COSE_Sign1 of the fixed shape.
        SignatureError: the signature does not verify under the key in ``kid``.
    """
    _check(*_split(data))


def decode_statement(data: bytes) -> UnverifiedStatement:
    """The other half: form and payload, with the signature NOT checked.

    Only for callers that run :func:`check_signature` on the same bytes
    elsewhere (another process) before trusting the result.

    Raises:
        DecodeError: as :func:`verify_statement`.
    """
    protected, payload_bytes, _ = _split(data)
    return _decode(data, protected, payload_bytes, UnverifiedStatement)


def _check(protected: bytes, payload_bytes: bytes, signature: bytes) -> None:
    verify_signature(
        protected[-32:], sig_structure(protected, payload_bytes), signature, what="statement"
    )


def _decode(data: bytes, protected: bytes, payload_bytes: bytes, cls: type[S]) -> S:
    payload = decode_payload(payload_bytes)
    if payload.signer != protected[-32:]:
        raise DecodeError("statement: payload signer differs from the header kid")
    return cls(data, payload, hashlib.sha256(data).digest())


def decode_payload(data: bytes) -> Payload:
    """Decode payload bytes and insist they are the payload's unique encoding.

    Raises:
        DecodeError: malformed, schema-invalid or non-canonical payload.
    """
    raw = _codec.loads(data, what="statement payload")
    envelope = _codec.convert(raw, Payload, what="statement payload")
    body = _codec.convert(envelope.event, EVENT_CLASSES[envelope.type], what=envelope.type)
    payload = msgspec.structs.replace(envelope, event=body)
    if encode_payload(payload) != data:
        raise DecodeError("statement payload: not in deterministic CBOR encoding (RFC 8949 §4.2.1)")
    return payload


def _split(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(protected, payload, signature) of a statement, unverified.

    Parses the fixed shape directly: tag 18, array of 4, bstr, empty map,
    bstr, 64-byte bstr, nothing after. Anything else is not a statement.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"statement must be bytes, not {type(data).__name__}")
    if len(data) > _codec.MAX_STATEMENT_BYTES:
        raise DecodeError(
            f"statement: {len(data)} bytes exceeds the limit of {_codec.MAX_STATEMENT_BYTES}"
        )
    if data[:2] != b"\xd2\x84":
        raise DecodeError("statement: expected a COSE_Sign1 (CBOR tag 18, array of 4)")
    protected, pos = _read_bstr(data, 2, "protected header")
    if len(protected) != _PROTECTED_LEN or not protected.startswith(_PROTECTED_PREFIX):
        raise DecodeError(
            "statement: protected header must be exactly "
            f"{{1: -8 (EdDSA), 3: {CONTENT_TYPE!r}, 4: <32-byte Ed25519 public key>}}"
        )
    if data[pos : pos + 1] != b"\xa0":
        raise DecodeError("statement: the unprotected header must be an empty map")
    payload, pos = _read_bstr(data, pos + 1, "payload")
    if data[pos : pos + 2] != _SIGNATURE_HEADER:
        raise DecodeError("statement: signature must be a 64-byte byte string")
    signature = data[pos + 2 : pos + 66]
    if len(signature) != 64:
        raise DecodeError("statement: truncated signature")
    if pos + 66 != len(data):
        raise DecodeError(f"statement: {len(data) - pos - 66} trailing bytes")
    return protected, payload, signature


def _bstr(value: bytes) -> bytes:
    """A CBOR byte string with its shortest-form header."""
    n = len(value)
    if n < 24:
        return bytes((0x40 | n,)) + value
    if n < 0x100:
        return bytes((0x58, n)) + value
    if n < 0x10000:
        return b"\x59" + n.to_bytes(2, "big") + value
    return b"\x5a" + n.to_bytes(4, "big") + value


def _read_bstr(data: bytes, pos: int, what: str) -> tuple[bytes, int]:
    """Read a shortest-form definite-length bstr at ``pos``."""
    if pos >= len(data):
        raise DecodeError(f"statement: truncated before the {what}")
    head = data[pos]
    info = head & 0x1F
    if head >> 5 != 2:
        raise DecodeError(f"statement: the {what} must be a byte string")
    if info < 24:
        n, start = info, pos + 1
    elif 24 <= info <= 26:
        width = 1 << (info - 24)
        n = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
        start = pos + 1 + width
        if start > len(data) or n < (24 if width == 1 else 1 << (4 * width)):
            raise DecodeError(f"statement: the {what} length is not in shortest form")
    else:
        raise DecodeError(f"statement: the {what} has an unsupported length encoding")
    end = start + n
    if end > len(data):
        raise DecodeError(f"statement: truncated {what}")
    return data[start:end], end
