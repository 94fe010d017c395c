"""Witness cosignatures of stored checkpoints: verifying lines against keys.

A cosignature (c2sp.org/tlog-cosignature v1, type 0x04) is one note
signature line over the checkpoint's text. The log stores each beside the
note it cosigns (spec/log.md 5.1); these functions check the lines given to
it and re-check stored rows when checkpoints are read. Storing is _tlog's.

Errors: a line that is malformed, names another key or does not verify
raises :class:`~provledger._errors.CheckpointError`; bad witness keys from
the caller raise ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._errors import CheckpointError, DecodeError
from ._note import (
    SIG_COSIGNATURE_V1,
    NoteSignature,
    NoteVerifier,
    parse_note,
    parse_vkey,
    verify_note,
)


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A witness's cosignature of a stored checkpoint, verified over its text."""

    witness: NoteVerifier
    #: When the witness cosigned (POSIX seconds, from the signed line).
    timestamp: int
    #: The note signature line, without its newline.
    line: str


def stored_cosignature(seq: int, text: str, vkey: str, line: str) -> Cosignature:
    """A stored (vkey, line) row of checkpoint ``seq`` (note text ``text``), re-verified.

    Raises:
        CheckpointError: the key is not a type 0x04 vkey, or the line is not
            one signature line by it that verifies.
    """
    try:
        witness = parse_vkey(vkey)
    except DecodeError as exc:
        raise CheckpointError(f"checkpoint {seq}: a stored cosignature's witness key is "
                              f"not a verifier key ({exc})") from None
    if witness.sig_type != SIG_COSIGNATURE_V1:
        raise CheckpointError(f"checkpoint {seq}: stored witness key {vkey[:100]} is not a "
                              "cosignature (type 0x04) key")
    try:
        (sig,) = parse_note(f"{text}\n{line}\n").signatures
    except (CheckpointError, ValueError):
        raise CheckpointError(f"checkpoint {seq}: a stored cosignature by {witness.name} "
                              "is not one note signature line") from None
    try:
        return verified_cosignature(text, sig, witness)
    except CheckpointError as exc:
        raise CheckpointError(f"checkpoint {seq}: stored {exc}") from None


def verified_cosignature(text: str, sig: NoteSignature, witness: NoteVerifier) -> Cosignature:
    """``sig`` checked as ``witness``'s cosignature of checkpoint ``text``.

    Raises:
        CheckpointError: it names another key, or does not verify.
    """
    if (sig.name, sig.key_id) != (witness.name, witness.key_id):
        raise CheckpointError(f"cosignature line names {sig.name}+{sig.key_id.hex()}, not the "
                              f"witness {witness.name}+{witness.key_id.hex()}")
    (verified,) = verify_note(text + "\n" + sig.line, verifiers=[witness]).signatures
    assert verified.timestamp is not None  # a type 0x04 key verifies cosignatures only
    return Cosignature(witness, verified.timestamp, sig.line.rstrip("\n"))


def given_cosignatures(text: str, checkpoint_text: str,
                       witnesses: Sequence[NoteVerifier]) -> dict[str, Cosignature]:
    """The cosignatures by ``witnesses`` in ``text``, verified, by witness vkey text.

    ``text`` is signature lines, or a whole signed note of ``checkpoint_text``.
    Lines by other keys are ignored.

    Raises:
        CheckpointError: malformed lines, a note of another checkpoint, a
            given witness's line that does not verify or two different ones
            by one witness, or no line by a given witness.
        ValueError: a witness key is not type 0x04, or two are the same key.
    """
    if any(w.sig_type != SIG_COSIGNATURE_V1 for w in witnesses):
        raise ValueError("witness keys must be cosignature v1 (type 0x04) keys")
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for w in witnesses:
        if (w.name, w.key_id) in known:
            raise ValueError(f"witness {w.name}+{w.key_id.hex()} is given twice")
        known[(w.name, w.key_id)] = w
    found: dict[str, Cosignature] = {}
    for sig in _signature_lines(text, checkpoint_text):
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            continue
        cosig = verified_cosignature(checkpoint_text, sig, witness)
        vkey = witness.vkey()
        if vkey in found and found[vkey].line != cosig.line:
            raise CheckpointError(f"two different cosignatures by {witness.name}")
        found[vkey] = cosig
    if not found:
        names = ", ".join(sorted(w.vkey() for w in witnesses)) or "none given"
        raise CheckpointError(f"no line is a cosignature by a known witness ({names})")
    return found


def _signature_lines(text: str, checkpoint_text: str) -> tuple[NoteSignature, ...]:
    """The signature lines of ``text``: bare lines, or a signed note of ``checkpoint_text``.

    Raises:
        CheckpointError: not signature lines, or a note of another text.
    """
    if "\n\n" in text.strip("\n"):
        note = parse_note(text)
        if note.text != checkpoint_text:
            raise CheckpointError("the note given is of another checkpoint than the one "
                                  "cosignatures are added to")
        return note.signatures
    lines = text.strip("\n")
    if not lines:
        raise CheckpointError("no cosignature lines given")
    return parse_note(f"{checkpoint_text}\n{lines}\n").signatures
