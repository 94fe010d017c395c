"""The c2sp.org/tlog-witness wire texts, shared by the witness and the log.

An add-checkpoint request body is an ``old <size>`` line, zero to 63
consistency-proof lines (standard padded base64 of 32-byte hashes), an empty
line, then the signed checkpoint note. A "409 Conflict" answer's body is the
witness's recorded size in decimal and a newline, with Content-Type
``text/x.tlog.size``. A "200" answer is one or more note signature lines.

Errors: a malformed text raises :class:`WitnessRequestError` (the witness
answers it with "400 Bad Request"); the caller's bad arguments raise
``ValueError``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from ._errors import CheckpointError, WitnessRequestError
from ._note import MAX_NOTE_BYTES, _b64decode, _parse_decimal, parse_note

ADD_CHECKPOINT_PATH = "/add-checkpoint"
SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES = 63
#: The longest body a witness reads: a note, 63 proof lines and the old line.
MAX_REQUEST_BYTES = MAX_NOTE_BYTES + 64 * 46 + 32


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request; nothing in it is verified yet."""

    old_size: int
    proof: tuple[bytes, ...]
    #: The signed checkpoint note, verbatim (signatures unverified).
    note: str


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The request body for ``note`` with a consistency proof from ``old_size``.

    Raises:
        ValueError: a negative size, more than 63 hashes, a hash that is not
            32 bytes, or a note that does not parse.
    """
    if not isinstance(old_size, int) or old_size < 0:
        raise ValueError("old size must be a non-negative int")
    if len(proof) > MAX_PROOF_LINES or any(len(h) != 32 for h in proof):
        raise ValueError(f"a consistency proof is at most {MAX_PROOF_LINES} 32-byte hashes")
    try:
        parse_note(note)
    except CheckpointError as exc:
        raise ValueError(f"not a signed note: {exc}") from None
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint request body (syntax only).

    Raises:
        WitnessRequestError: too long, not UTF-8, no ``old`` line, a size that
            is not canonical decimal, a proof line that is not base64 of 32
            bytes, more than 63 of them, no empty line, or a note that does
            not parse as a signed note.
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise WitnessRequestError(f"request body is {len(body)} bytes; at most "
                                  f"{MAX_REQUEST_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRequestError("request body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise WitnessRequestError("request body has no empty line before the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old "):
        raise WitnessRequestError("request body does not start with an 'old <size>' line")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRequestError(f"request has {len(lines) - 1} proof lines; at most "
                                  f"{MAX_PROOF_LINES}")
    try:
        old = _parse_decimal(lines[0][len("old "):], "old size")
        proof = tuple(_b64decode(line, f"proof line {i + 1}") for i, line in enumerate(lines[1:]))
        parse_note(note)
    except CheckpointError as exc:
        raise WitnessRequestError(f"malformed add-checkpoint request: {exc}") from None
    if any(len(h) != 32 for h in proof):
        raise WitnessRequestError("a consistency proof line is not a 32-byte hash")
    return AddCheckpoint(old, proof, note)


def format_size(size: int) -> bytes:
    """The body of a 409 answer: the recorded size, decimal, and a newline."""
    return f"{size}\n".encode()


def parse_size(body: bytes) -> int:
    """The witness's recorded size from a 409 answer's body.

    Raises:
        WitnessRequestError: not a decimal size followed by one newline.
    """
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n"):
        raise WitnessRequestError("a conflict answer's size must end with a newline")
    try:
        return _parse_decimal(text[:-1], "conflict answer size")
    except CheckpointError as exc:
        raise WitnessRequestError(str(exc)) from None
