"""C2SP signed notes, checkpoints, Ed25519 cosignatures and tlog-proof texts.

Formats (all text, UTF-8, ``\\n`` line ends):

* c2sp.org/signed-note: a text ending in a newline, a blank line, then
  signature lines ``— <key name> <base64(4-byte key id || signature)>``.
  Ed25519 is signature type 0x01; verifier keys are written
  ``<name>+<hex key id>+<base64(type || public key)>``.
* c2sp.org/tlog-checkpoint: a note text of origin, decimal tree size, base64
  root hash, then optional non-empty extension lines.
* c2sp.org/tlog-cosignature v1: signature type 0x04 over
  ``cosignature/v1\\ntime <T>\\n`` + the checkpoint text; the signature line
  carries ``key id || u64be T || Ed25519 signature``.
* c2sp.org/tlog-proof@v1: ``extra``, ``index`` and inclusion hashes, a blank
  line, then the signed checkpoint verbatim.

Errors: anything wrong with a note, checkpoint, cosignature or tlog-proof text
(syntax, limits, signatures, origin, quorum) raises
:class:`~provledger._errors.CheckpointError`; malformed verifier-key text
raises :class:`~provledger._errors.DecodeError`; an inclusion proof inside a
tlog-proof that does not verify raises :class:`~provledger._errors.ProofError`.
Bad arguments from the caller (signing an invalid text, a bad key name)
raise ``ValueError``.

Limits: a note is at most :data:`MAX_NOTE_BYTES` (1 MiB) and carries at most
:data:`MAX_SIGNATURES` (100) signature lines; the signed-note text requires
verifiers to accept at least 16.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ._errors import CheckpointError, DecodeError, SignatureError
from ._keys import SigningKey, verify_signature
from ._merkle import MAX_TREE_SIZE, verify_inclusion

MAX_NOTE_BYTES = 1024 * 1024
MAX_SIGNATURES = 100
#: An inclusion proof in a tree below 2**63 leaves has at most 63 hashes.
MAX_PROOF_HASHES = 64

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
_SIG_TYPES = (SIG_ED25519, SIG_COSIGNATURE_V1)

_SIG_PREFIX = "\u2014 "  # em dash, space
_TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
#: A control character other than newline (one regex pass, not a Python loop).
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
#: What a key name may not hold: whitespace (str.isspace's, which is re's \s) or
#: a control character; one regex search instead of a loop over the name.
_NAME_BAD = re.compile(r"[\s\x00-\x1f]")
_MAX_TIMESTAMP = 2**63 - 1


# -- keys ---------------------------------------------------------------------


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]``.

    Raises:
        ValueError: ``name`` is not a valid key name.
    """
    _check_name_arg(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted public key for notes: Ed25519 (0x01) or cosignature v1 (0x04)."""

    name: str
    public_key: bytes
    sig_type: int = SIG_ED25519

    def __post_init__(self) -> None:
        _check_name_arg(self.name)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        if self.sig_type not in _SIG_TYPES:
            raise ValueError(f"unsupported note signature type {self.sig_type:#04x}")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id signature lines carry."""
        return key_id(self.name, self.sig_type, self.public_key)

    def vkey(self) -> str:
        """Verifier-key text: ``<name>+<hex key id>+<base64(type || key)>``."""
        material = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"


def parse_vkey(text: str) -> NoteVerifier:
    """Parse verifier-key text made by :meth:`NoteVerifier.vkey` (or Go's note package).

    Raises:
        DecodeError: wrong shape, bad name, bad hex or base64, a signature type
            other than 0x01 or 0x04, a key that is not 32 bytes, or a key id
            that does not match the name and key.
    """
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise DecodeError(f"verifier key {text[:80]!r}: expected <name>+<hex id>+<base64 key>")
    name, hex_id, material = parts
    if not _valid_name(name):
        raise DecodeError(f"verifier key {text[:80]!r}: invalid key name")
    if not _HEX8.fullmatch(hex_id):
        raise DecodeError(f"verifier key {name!r}: key id must be 8 hex digits")
    try:
        raw = _b64decode(material, f"verifier key {name!r}")
    except CheckpointError as exc:
        raise DecodeError(str(exc)) from None
    if len(raw) != 33 or raw[0] not in _SIG_TYPES:
        raise DecodeError(
            f"verifier key {name!r}: expected type 0x01 or 0x04 and a 32-byte Ed25519 key"
        )
    verifier = NoteVerifier(name, raw[1:], raw[0])
    if verifier.key_id != bytes.fromhex(hex_id):
        raise DecodeError(
            f"verifier key {name!r}: key id {hex_id} does not match the key "
            f"({verifier.key_id.hex()})"
        )
    return verifier


# -- notes --------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id, signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        """The signature line, with its final newline."""
        value = base64.b64encode(self.key_id + self.signature).decode()
        return f"{_SIG_PREFIX}{self.name} {value}\n"


@dataclass(frozen=True)
class Note:
    """A parsed but **unverified** note: its text and signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that verified; ``timestamp`` is set for cosignatures."""

    verifier: NoteVerifier
    timestamp: int | None


@dataclass(frozen=True)
class VerifiedNote:
    """A note's text and the known keys whose signatures on it verified."""

    text: str
    signatures: tuple[VerifiedSignature, ...]


def sign_note(text: str, *, name: str, key: SigningKey) -> NoteSignature:
    """An Ed25519 (type 0x01) note signature over ``text``.

    Raises:
        ValueError: ``text`` is not a valid note text or ``name`` not a valid key name.
    """
    _check_text_arg(text)
    kid = key_id(name, SIG_ED25519, key.public_key)
    return NoteSignature(name, kid, key.sign(text.encode()))


def cosign_checkpoint(body: str, *, name: str, key: SigningKey, timestamp: int) -> NoteSignature:
    """A tlog-cosignature v1 (type 0x04) over checkpoint text ``body`` at ``timestamp``.

    The cosigner states that, at ``timestamp``, this is the largest tree
    consistent with everything it has seen for the origin; checking that is
    the caller's job (a consistency proof from the last size it stored).

    Raises:
        ValueError: ``body`` is not a checkpoint text, ``name`` is not a valid
            key name, or ``timestamp`` is outside [0, 2**63 - 1].
    """
    _check_text_arg(body)
    try:
        parse_checkpoint(body)
    except CheckpointError as exc:
        raise ValueError(f"cannot cosign: {exc}") from None
    if not isinstance(timestamp, int) or not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValueError("cosignature timestamp must be an int in [0, 2**63 - 1]")
    kid = key_id(name, SIG_COSIGNATURE_V1, key.public_key)
    sig = key.sign(_cosigned_message(body, timestamp))
    return NoteSignature(name, kid, struct.pack(">Q", timestamp) + sig)


def format_note(text: str, signatures: Sequence[NoteSignature]) -> str:
    """The signed note: ``text``, a blank line, then one line per signature.

    Raises:
        ValueError: invalid text, no signatures, too many, or a bad key name.
    """
    _check_text_arg(text)
    if not 1 <= len(signatures) <= MAX_SIGNATURES:
        raise ValueError(f"a note carries 1 to {MAX_SIGNATURES} signatures")
    for sig in signatures:
        _check_name_arg(sig.name)
        if len(sig.key_id) != 4 or not sig.signature:
            raise ValueError(f"signature by {sig.name!r}: 4-byte key id and a signature needed")
    note = text + "\n" + "".join(sig.line for sig in signatures)
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise ValueError(f"the note would exceed {MAX_NOTE_BYTES} bytes")
    return note


def parse_note(note: str | bytes) -> Note:
    """Split a signed note into its text and signature lines, verifying nothing.

    Raises:
        CheckpointError: the note is too long, not UTF-8, has control
            characters, lacks the final newline or the blank line, has no or
            too many signature lines, or a line is malformed.
    """
    unverified = _decode_text(note, "note", MAX_NOTE_BYTES)
    if not unverified.endswith("\n"):
        raise CheckpointError("note does not end with a newline")
    split = unverified.rfind("\n\n")
    if split < 0:
        raise CheckpointError("note has no blank line before its signatures")
    text, block = unverified[: split + 1], unverified[split + 2 :]
    if not block:
        raise CheckpointError("note has no signature lines")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"note has {len(lines)} signature lines; at most {MAX_SIGNATURES}")
    return Note(text, tuple(_parse_signature_line(line, i) for i, line in enumerate(lines)))


def verify_note(note: str | bytes, *, verifiers: Sequence[NoteVerifier]) -> VerifiedNote:
    """Verify a signed note against known keys; return its text and who signed.

    Signatures whose (name, key id) matches no known key are ignored. Every
    signature from a known key must verify, each known key may sign once, and
    at least one must have signed.

    Raises:
        CheckpointError: the note is malformed (see :func:`parse_note`), a
            known key's signature fails or appears twice, or no known key signed.
        ValueError: two verifiers share a name and key id.
    """
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if (v.name, v.key_id) in known:
            raise ValueError(f"verifier {v.name}+{v.key_id.hex()} is given twice")
        known[(v.name, v.key_id)] = v
    parsed = parse_note(note)
    verified: list[VerifiedSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for sig in parsed.signatures:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            continue
        if ident in seen:
            raise CheckpointError(f"note has two signatures by {sig.name}+{sig.key_id.hex()}")
        seen.add(ident)
        verified.append(_verify_one(parsed.text, sig, verifier))
    if not verified:
        names = ", ".join(sorted(f"{n}+{k.hex()}" for n, k in known)) or "none"
        raise CheckpointError(f"note is not signed by any known key (known: {names})")
    return VerifiedNote(parsed.text, tuple(verified))


def _verify_one(text: str, sig: NoteSignature, verifier: NoteVerifier) -> VerifiedSignature:
    who = f"note signature by {sig.name}+{sig.key_id.hex()}"
    timestamp: int | None = None
    if verifier.sig_type == SIG_COSIGNATURE_V1:
        if len(sig.signature) != 8 + 64:
            raise CheckpointError(f"{who}: a cosignature is 72 bytes, got {len(sig.signature)}")
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        if timestamp > _MAX_TIMESTAMP:
            raise CheckpointError(f"{who}: timestamp {timestamp} exceeds 2**63 - 1")
        message, signature = _cosigned_message(text, timestamp), sig.signature[8:]
    else:
        message, signature = text.encode(), sig.signature
    try:
        verify_signature(verifier.public_key, message, signature, what=who)
    except SignatureError as exc:
        raise CheckpointError(str(exc)) from None
    return VerifiedSignature(verifier, timestamp)


def _cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    where = f"note signature line {number + 1}"
    if not line.startswith(_SIG_PREFIX):
        raise CheckpointError(f"{where}: does not start with an em dash and a space")
    name, space, value = line[len(_SIG_PREFIX) :].partition(" ")
    if not space:
        raise CheckpointError(f"{where}: expected a key name, a space and a signature")
    if not _valid_name(name):
        raise CheckpointError(f"{where}: invalid key name {name[:80]!r}")
    raw = _b64decode(value, where)
    if len(raw) < 5:
        raise CheckpointError(f"{where}: a key id and a signature need at least 5 bytes")
    return NoteSignature(name, raw[:4], raw[4:])


# -- checkpoints ----------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint the log signed, with the cosignatures that verified on it."""

    checkpoint: Checkpoint
    note: VerifiedNote
    cosigners: tuple[VerifiedSignature, ...]


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The checkpoint's note text (ending in a newline, unsigned).

    Raises:
        ValueError: a field would not survive :func:`parse_checkpoint`.
    """
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        base64.b64encode(checkpoint.root_hash).decode(),
        *checkpoint.extensions,
    ]
    text = "\n".join(lines) + "\n"
    try:
        reparsed = parse_checkpoint(text)
    except CheckpointError as exc:
        raise ValueError(f"invalid checkpoint: {exc}") from None
    if reparsed != checkpoint:
        raise ValueError("invalid checkpoint: its fields do not survive formatting")
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text (the part a signature covers).

    Raises:
        CheckpointError: not newline-terminated, fewer than three lines, an
            empty origin or extension line, a size that is not canonical
            decimal below 2**63, or a root that is not base64 of 32 bytes.
    """
    unverified = _decode_text(text, "checkpoint", MAX_NOTE_BYTES)
    if not unverified.endswith("\n"):
        raise CheckpointError("checkpoint text does not end with a newline")
    lines = unverified[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint has {len(lines)} lines; at least 3 needed")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise CheckpointError("checkpoint origin line is empty")
    size = _parse_decimal(size_text, f"checkpoint {origin[:80]!r}: tree size")
    root_hash = _b64decode(root_text, f"checkpoint {origin[:80]!r}: root hash")
    if len(root_hash) != 32:
        raise CheckpointError(
            f"checkpoint {origin[:80]!r}: root hash is {len(root_hash)} bytes, expected 32"
        )
    if any(not line for line in extensions):
        raise CheckpointError(f"checkpoint {origin[:80]!r}: extension lines must be non-empty")
    return Checkpoint(origin, size, root_hash, tuple(extensions))


def verify_checkpoint(
    note: str | bytes,
    *,
    origin: str,
    log_key: NoteVerifier,
    witnesses: Sequence[NoteVerifier],
    quorum: int,
) -> VerifiedCheckpoint:
    """Verify a signed checkpoint from ``origin`` and at least ``quorum`` cosignatures.

    Cosignature timestamps are returned, not judged: a caller that rejects
    future timestamps compares them with its own ``now``.

    Raises:
        CheckpointError: the note does not verify, the log key did not sign it,
            its body is not a checkpoint for ``origin``, or fewer than
            ``quorum`` witnesses cosigned.
        ValueError: ``log_key`` is not type 0x01, a witness is not type 0x04,
            or ``quorum`` is not in [0, len(witnesses)].
    """
    if log_key.sig_type != SIG_ED25519:
        raise ValueError("the log key must be an Ed25519 (type 0x01) note key")
    if any(w.sig_type != SIG_COSIGNATURE_V1 for w in witnesses):
        raise ValueError("witness keys must be cosignature v1 (type 0x04) keys")
    if not isinstance(quorum, int) or not 0 <= quorum <= len(witnesses):
        raise ValueError(f"quorum must be in [0, {len(witnesses)}]")
    verified = verify_note(note, verifiers=[log_key, *witnesses])
    if not any(s.verifier == log_key for s in verified.signatures):
        raise CheckpointError(f"checkpoint is not signed by the log key {log_key.vkey()}")
    checkpoint = parse_checkpoint(verified.text)
    if checkpoint.origin != origin:
        raise CheckpointError(
            f"checkpoint origin {checkpoint.origin[:80]!r} is not the expected {origin!r}"
        )
    cosigners = tuple(s for s in verified.signatures if s.verifier.sig_type == SIG_COSIGNATURE_V1)
    if len(cosigners) < quorum:
        raise CheckpointError(
            f"checkpoint for {origin!r} has {len(cosigners)} valid cosignatures; {quorum} required"
        )
    return VerifiedCheckpoint(checkpoint, verified, cosigners)


# -- tlog-proof -------------------------------------------------------------------


@dataclass(frozen=True)
class TlogProof:
    """A c2sp.org/tlog-proof@v1: entry index, inclusion hashes, signed checkpoint.

    ``checkpoint`` is the signed note, verbatim. ``extra`` is unauthenticated.
    """

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None


@dataclass(frozen=True)
class VerifiedTlogProof:
    """A tlog-proof whose checkpoint and inclusion proof verified."""

    index: int
    checkpoint: VerifiedCheckpoint
    extra: bytes | None


def format_tlog_proof(proof: TlogProof) -> str:
    """The tlog-proof text.

    Raises:
        ValueError: a field would not survive :func:`parse_tlog_proof`.
    """
    lines = [_TLOG_PROOF_HEADER]
    if proof.extra is not None:
        lines.append("extra " + base64.b64encode(proof.extra).decode())
    lines.append(f"index {proof.index}")
    lines.extend(base64.b64encode(h).decode() for h in proof.proof)
    text = "\n".join(lines) + "\n\n" + proof.checkpoint
    try:
        reparsed = parse_tlog_proof(text)
    except CheckpointError as exc:
        raise ValueError(f"invalid tlog-proof: {exc}") from None
    if reparsed != proof:
        raise ValueError("invalid tlog-proof: its fields do not survive formatting")
    return text


def parse_tlog_proof(text: str | bytes) -> TlogProof:
    """Parse tlog-proof text, verifying nothing but its syntax.

    Raises:
        CheckpointError: a wrong header, a malformed ``extra`` or ``index``
            line, a proof line that is not base64 of 32 bytes, too many proof
            lines, or a checkpoint part that is not a signed note.
    """
    unverified = _decode_text(text, "tlog-proof", MAX_NOTE_BYTES + 8192)
    split = unverified.find("\n\n")
    if split < 0:
        raise CheckpointError("tlog-proof has no blank line before its checkpoint")
    head, checkpoint = unverified[:split].split("\n"), unverified[split + 2 :]
    if head[0] != _TLOG_PROOF_HEADER:
        raise CheckpointError(f"tlog-proof must start with {_TLOG_PROOF_HEADER!r}")
    rest = head[1:]
    extra: bytes | None = None
    if rest and rest[0].startswith("extra "):
        extra = _b64decode(rest[0][len("extra ") :], "tlog-proof extra data")
        if not extra:
            raise CheckpointError("tlog-proof extra line is present but empty")
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        raise CheckpointError("tlog-proof has no 'index' line")
    index = _parse_decimal(rest[0][len("index ") :], "tlog-proof index")
    hash_lines = rest[1:]
    if len(hash_lines) > MAX_PROOF_HASHES:
        raise CheckpointError(f"tlog-proof has {len(hash_lines)} proof hashes; at most 64")
    hashes = []
    for i, line in enumerate(hash_lines):
        digest = _b64decode(line, f"tlog-proof hash {i}")
        if len(digest) != 32:
            raise CheckpointError(f"tlog-proof hash {i} is {len(digest)} bytes, expected 32")
        hashes.append(digest)
    parse_note(checkpoint)
    return TlogProof(index, tuple(hashes), checkpoint, extra)


def verify_tlog_proof(
    text: str | bytes,
    *,
    leaf_hash: bytes,
    origin: str,
    log_key: NoteVerifier,
    witnesses: Sequence[NoteVerifier],
    quorum: int,
) -> VerifiedTlogProof:
    """Verify a tlog-proof for the entry whose RFC 9162 leaf hash is ``leaf_hash``.

    Raises:
        CheckpointError: malformed text, or the checkpoint fails
            :func:`verify_checkpoint`.
        ProofError: the inclusion proof does not lead from ``leaf_hash`` at
            the stated index to the checkpoint's root.
        ValueError: as :func:`verify_checkpoint`.
    """
    parsed = parse_tlog_proof(text)
    verified = verify_checkpoint(
        parsed.checkpoint, origin=origin, log_key=log_key, witnesses=witnesses, quorum=quorum
    )
    cp = verified.checkpoint
    verify_inclusion(
        leaf_hash, index=parsed.index, size=cp.size, proof=parsed.proof, root=cp.root_hash
    )
    return VerifiedTlogProof(parsed.index, verified, parsed.extra)


# -- helpers --------------------------------------------------------------------


def _valid_name(name: str) -> bool:
    return (
        bool(name)
        and "+" not in name
        and not _NAME_BAD.search(name)
        and _encodable(name)
    )


def _check_name_arg(name: str) -> None:
    if not isinstance(name, str) or not _valid_name(name):
        raise ValueError(f"invalid note key name {name!r}: non-empty, no spaces, no '+'")


def _check_text_arg(text: str) -> None:
    if not isinstance(text, str) or not text.endswith("\n") or not _encodable(text):
        raise ValueError("a note text is a UTF-8 string ending in a newline")
    if _CONTROL.search(text):
        raise ValueError("a note text must not contain control characters other than newline")


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _decode_text(data: str | bytes, what: str, limit: int) -> str:
    """UTF-8 text within ``limit`` bytes and free of control characters but newline."""
    if isinstance(data, str):
        if not _encodable(data):
            raise CheckpointError(f"{what} is not valid UTF-8")
        raw_len = len(data.encode())
        text = data
    elif isinstance(data, bytes):
        raw_len = len(data)
        if raw_len > limit:
            raise CheckpointError(f"{what} is {raw_len} bytes; the limit is {limit}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError(f"{what} is not valid UTF-8") from None
    else:
        raise TypeError(f"{what} must be str or bytes, not {type(data).__name__}")
    if raw_len > limit:
        raise CheckpointError(f"{what} is {raw_len} bytes; the limit is {limit}")
    if _CONTROL.search(text):
        raise CheckpointError(f"{what} contains a control character other than newline")
    return text


def _parse_decimal(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise CheckpointError(f"{what} {text[:30]!r} is not a decimal without leading zeros")
    value = int(text)
    if value > MAX_TREE_SIZE:
        raise CheckpointError(f"{what} {value} exceeds 2**63 - 1")
    return value


def _b64decode(text: str, what: str) -> bytes:
    """Standard, padded base64 (RFC 4648 §4) in its one canonical spelling."""
    if not _BASE64.fullmatch(text):
        raise CheckpointError(f"{what}: not standard padded base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"{what}: not standard padded base64") from None
    # Unused trailing bits must be zero, or two spellings would mean one value.
    if base64.b64encode(raw).decode() != text:
        raise CheckpointError(f"{what}: non-canonical base64")
    return raw
