"""Committed text fields and their disclosures (spec/disclosure.md).

A field that may hold free text or something personal (``COMMITTABLE_NAMES``)
can be left out of an event body and committed instead: the body's ``sd``
list holds the digest of a disclosure, the SD-CWT salted disclosed claim
``[salt, value, name]`` in deterministic CBOR, and the disclosure itself
travels off the ledger. The signature covers the digest, so a disclosure can
be checked against its statement and cannot be altered, and an erased one is
simply gone while every proof still holds.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from . import _codec
from ._errors import DecodeError, DisclosureError
from ._events import COMMITTABLE_NAMES, ConditionReport, Event

#: Prefixed to a disclosure before hashing, so that its digest can never be
#: taken for a statement, entry, Merkle or head-map hash.
DOMAIN = b"provledger disclosure v1\x00"
SALT_BYTES = 16
#: A disclosure's size limit: the longest committable field (Notes, 4,000
#: characters of up to 4 bytes) with its salt, name and CBOR framing.
MAX_DISCLOSURE_BYTES = 16_100
#: Where a committed field sits: in the body, or in the body's condition report.
CONDITION = "condition"


def digest(disclosure: bytes) -> bytes:
    """SHA-256 over the domain tag and the disclosure's bytes: the commitment."""
    return hashlib.sha256(DOMAIN + disclosure).digest()


def encode_disclosure(salt: bytes, value: str, name: str) -> bytes:
    """The disclosure ``[salt, value, name]`` in deterministic CBOR."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"a salt is {SALT_BYTES} bytes")
    return _codec.dumps([salt, value, name])


def decode_disclosure(data: bytes) -> tuple[bytes, str, str]:
    """Parse a disclosure's bytes into (salt, value, name); nothing is matched yet.

    Raises:
        DisclosureError: not a canonical three-element array of a 16-byte salt,
            a non-empty text value and the name of a committable field.
    """
    try:
        raw = _codec.loads(data, what="disclosure", max_bytes=MAX_DISCLOSURE_BYTES)
    except DecodeError as exc:
        raise DisclosureError(str(exc)) from None
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], bytes)
            and len(raw[0]) == SALT_BYTES and isinstance(raw[1], str)
            and isinstance(raw[2], str)):
        raise DisclosureError("disclosure: not [salt (16 bytes), value (text), name (text)]")
    if _codec.dumps(raw) != bytes(data):
        raise DisclosureError("disclosure: not in deterministic CBOR encoding")
    salt, value, name = raw
    if name not in COMMITTABLE_NAMES:
        raise DisclosureError(f"disclosure: {name!r} is not a committable field")
    if not value:
        # An empty field is left out of the body, never committed: an empty
        # disclosure would show a field as disclosed with nothing in it.
        raise DisclosureError(f"disclosure: {name!r} has empty text")
    return salt, value, name


def path_of(event: Event, data: bytes) -> str:
    """The field a disclosure that matched ``event`` fills: its name, or
    ``condition.<name>`` for one committed in the event's condition report.

    Raises:
        DisclosureError: ``data`` is not a disclosure.
    """
    name = decode_disclosure(data)[2]
    return name if digest(data) in event.sd else f"{CONDITION}.{name}"


@dataclass(frozen=True, slots=True)
class Committed:
    """An event with its text fields committed, and the disclosures to keep."""

    event: Event
    disclosures: tuple[bytes, ...]


def committable(event: Event | ConditionReport) -> tuple[str, ...]:
    """The committable fields ``event``'s type has (not counting a condition report's)."""
    return _committable(type(event))


@functools.cache
def _committable(cls: type[Event | ConditionReport]) -> tuple[str, ...]:
    # Per type, once: verifiers count withheld fields on every event they show.
    return tuple(f for f in cls.__struct_fields__ if f in COMMITTABLE_NAMES)


def commit(event: Event, *, fields: Iterable[str] | None = None,
           salt: Callable[[], bytes] | None = None) -> Committed:
    """Commit ``event``'s non-empty committable fields (all, or those named;
    ``condition.notes`` names a condition report's notes).

    ``salt`` is for test vectors only: a callable returning 16-byte salts in
    turn; the default draws each from the operating system's CSPRNG.

    Raises:
        ValueError: a named field is not committable on this event, or the
            event already carries commitments.
        DecodeError: a field (committed or not) breaks the schema.
    """
    if event.sd:
        raise ValueError(f"{event.TYPE}: already committed")
    # The text must obey its field's rules before it is hidden: otherwise a
    # bad value would surface only when the disclosure is checked, as a
    # DisclosureError at append time instead of a DecodeError here.
    _codec.convert(_codec.to_builtins(event), type(event), what=event.TYPE)
    draw = salt or (lambda: os.urandom(SALT_BYTES))
    wanted = None if fields is None else set(fields)
    known = set(committable(event))
    condition = getattr(event, CONDITION, None)
    if isinstance(condition, ConditionReport):
        known.add(f"{CONDITION}.notes")
    if wanted is not None and wanted - known:
        raise ValueError(f"{event.TYPE}: cannot commit {', '.join(sorted(wanted - known))} "
                         f"(committable here: {', '.join(sorted(known)) or 'nothing'})")
    out: list[bytes] = []
    changes: dict[str, Any] = {}
    if isinstance(condition, ConditionReport) and condition.notes and (
            wanted is None or f"{CONDITION}.notes" in wanted):
        inner, inner_sd = _commit_fields(condition, ("notes",), draw, out)
        changes[CONDITION] = msgspec.structs.replace(condition, sd=inner_sd, **inner)
    names = [f for f in committable(event) if wanted is None or f in wanted]
    top, sd = _commit_fields(event, names, draw, out)
    changes.update(top)
    if sd:
        changes["sd"] = sd
    if not changes:
        return Committed(event, ())
    try:
        return Committed(msgspec.structs.replace(event, **changes), tuple(out))
    except (ValueError, TypeError) as exc:  # pragma: no cover - the schema allows it
        raise DecodeError(f"{event.TYPE}: {exc}") from None


def _commit_fields(body: Event | ConditionReport, names: Sequence[str],
                   draw: Callable[[], bytes],
                   out: list[bytes]) -> tuple[dict[str, str], list[bytes]]:
    cleared: dict[str, str] = {}
    digests: list[bytes] = []
    for name in names:
        value = getattr(body, name)
        if not value:
            continue
        data = encode_disclosure(draw(), value, name)
        out.append(data)
        digests.append(digest(data))
        cleared[name] = ""
    return cleared, sorted(digests)


@dataclass(frozen=True, slots=True)
class Revealed:
    """An event with the disclosed fields filled in.

    ``disclosed``: paths shown from a matching disclosure; ``withheld``:
    commitments without one (decoys look the same); ``clear``: committable
    fields the statement itself carries in clear (the earlier format).
    """

    event: Event
    disclosed: tuple[str, ...]
    withheld: int
    clear: tuple[str, ...]


def reveal(event: Event, disclosures: Sequence[bytes] = ()) -> Revealed:
    """Check each disclosure against ``event``'s commitments and fill it in.

    Raises:
        DisclosureError: a disclosure is malformed, matches no commitment of
            this event (changed text, another salt, another statement's),
            names a field the event cannot commit or already has in clear,
            repeats, or holds text the field's schema forbids.
    """
    condition = getattr(event, CONDITION, None)
    inner_sd = condition.sd if isinstance(condition, ConditionReport) else []
    clear = tuple(f for f in committable(event) if getattr(event, f))
    if isinstance(condition, ConditionReport) and condition.notes:
        clear += (f"{CONDITION}.notes",)
    if not disclosures:
        return Revealed(event, (), len(event.sd) + len(inner_sd), clear)
    top: dict[str, str] = {}
    inner: dict[str, str] = {}
    seen: set[bytes] = set()
    for data in disclosures:
        if not isinstance(data, bytes):
            raise DisclosureError(f"disclosure must be bytes, not {type(data).__name__}")
        d = digest(data)
        if d in seen:
            raise DisclosureError(f"{event.TYPE}: the same disclosure twice")
        seen.add(d)
        _salt, value, name = decode_disclosure(data)
        body: Event | ConditionReport
        if d in event.sd:
            target, body, where = top, event, name
        elif d in inner_sd:
            assert isinstance(condition, ConditionReport)
            target, body, where = inner, condition, f"{CONDITION}.{name}"
        else:
            raise DisclosureError(f"{event.TYPE}: a disclosure of {name!r} matches no "
                                  "commitment of this statement")
        if name not in body.__struct_fields__:
            raise DisclosureError(f"{event.TYPE}: has no field {where!r} to disclose")
        if getattr(body, name):
            raise DisclosureError(f"{event.TYPE}: {where!r} is in clear in the statement "
                                  "and cannot be disclosed as well")
        if name in target:
            raise DisclosureError(f"{event.TYPE}: {where!r} is disclosed twice")
        target[name] = value
    filled = _fill(event, top, inner, condition)
    disclosed = tuple(sorted([*top, *(f"{CONDITION}.{n}" for n in inner)]))
    return Revealed(filled, disclosed, len(event.sd) + len(inner_sd) - len(disclosed), clear)


def _fill(event: Event, top: dict[str, str], inner: dict[str, str],
          condition: ConditionReport | None) -> Event:
    # Re-validate through the schema: a disclosed value obeys its field's
    # rules (length, no control or bidi characters) like a clear one.
    raw = _codec.to_builtins(event)
    raw.update(top)
    if inner and condition is not None:
        raw[CONDITION] = {**raw[CONDITION], **inner}
    try:
        return _codec.convert(raw, type(event), what=event.TYPE)
    except DecodeError as exc:
        raise DisclosureError(f"disclosed text breaks the field's rules: {exc}") from None

