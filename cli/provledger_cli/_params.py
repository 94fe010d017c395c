"""Option value types: times, file digests, public keys, chain heads, stones, parts.

Each turns command-line text into the value an event field takes, and
reports bad text as a usage error naming the option.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import click
import msgspec

import provledger
from provledger._events import COMMITTABLE_NAMES

_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIMENSIONS: Final = re.compile(r"([0-9]+)[xX]([0-9]+)[xX]([0-9]+)")
DIGEST_PREFIX: Final = "sha256:"

if TYPE_CHECKING:
    _ParamType = click.ParamType[Any]
else:
    _ParamType = click.ParamType  # not subscriptable at run time before click 8.4


class TimeType(_ParamType):
    """RFC 3339 date or date-time (with a zone), or integer unix seconds.

    Every time is checked against the protocol's range, 0 to
    provledger.MAX_TIME (2**40), here, so that no command passes an
    out-of-range time on to fail later with less to say.
    """

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return self.in_range(value, str(value), param, ctx)
        text = str(value).strip()
        if text.isascii() and text.isdigit():
            return self.in_range(self.digits(text, param, ctx), text, param, ctx)
        try:
            if _DATE.fullmatch(text):
                day = datetime.date.fromisoformat(text)
                moment = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
            else:
                moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{_shown(text)} is not a time: use 2026-11-20, 2026-11-20T10:00:00Z or "
                "unix seconds", param, ctx,
            )
        if moment.tzinfo is None:
            self.fail(f"{_shown(text)} has no time zone: add Z or an offset such as +01:00",
                      param, ctx)
        try:
            seconds = int(moment.timestamp())
        except (OverflowError, ValueError):  # the offset moves it past year 9999 or before 1
            self.fail(f"{_shown(text)} is out of range: {_TIME_RANGE}", param, ctx)
        return self.in_range(seconds, text, param, ctx)

    def digits(self, text: str, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """ASCII digits as an int, refusing more digits than any time has before
        converting (int() of thousands of digits raises ValueError, and is slow)."""
        if len(text.lstrip("0")) > len(str(provledger.MAX_TIME)):
            self.fail(f"{_shown(text)} is out of range: {_TIME_RANGE}", param, ctx)
        return int(text)

    def in_range(self, seconds: int, text: str, param: click.Parameter | None,
                 ctx: click.Context | None) -> int:
        """``seconds`` if it is a protocol time, else a usage error naming ``text``."""
        if not 0 <= seconds <= provledger.MAX_TIME:
            self.fail(f"{_shown(text)} is out of range: {_TIME_RANGE}", param, ctx)
        return seconds


_TIME_RANGE: Final = (f"times run from 0 (1970-01-01T00:00:00Z) to {provledger.MAX_TIME} "
                      f"({provledger.format_time(provledger.MAX_TIME)}) unix seconds")


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short if long, control characters escaped."""
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


class DigestType(_ParamType):
    """A file, hashed with SHA-256, or a digest written ``sha256:<64 hex>``."""

    name = "file"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> bytes:
        if isinstance(value, bytes):
            return value
        text = str(value)
        if text.startswith(DIGEST_PREFIX):
            digest = text[len(DIGEST_PREFIX):]
            if not _HEX64.fullmatch(digest):
                self.fail(f"{text!r}: expected {DIGEST_PREFIX} and 64 hex digits", param, ctx)
            return bytes.fromhex(digest)
        h = hashlib.sha256()
        try:
            with open(text, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except OSError as exc:
            self.fail(f"cannot read {text}: {exc.strerror}", param, ctx)
        return h.digest()


class IdType(_ParamType):
    """A plan, repair or consent id: the 64-hex statement hash the CLI printed
    (``sha256:`` accepted), in full, as escrow ids are."""

    name = "HEX"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> bytes:
        if isinstance(value, bytes):
            return value
        text = str(value).strip().removeprefix(DIGEST_PREFIX)
        if not _HEX64.fullmatch(text):
            self.fail(f"{_shown(str(value))}: expected 64 hex digits (the id as printed)",
                      param, ctx)
        return bytes.fromhex(text)


class PublicKeyType(_ParamType):
    """``ed25519:...`` text or a path to a .pub file.

    A key that does not parse raises the library's DecodeError or
    KeyFileError, so it exits with their codes, not as a usage error.
    """

    name = "pubkey"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None  # noqa: ARG002
    ) -> bytes:
        if isinstance(value, bytes):
            return value
        return provledger.read_public_key(str(value))


@dataclass(frozen=True, slots=True)
class Prev:
    """An explicit chain head: a statement hash, or None for a new chain."""

    value: bytes | None


class PrevType(_ParamType):
    """``none`` (the subject's first statement) or the head statement's 64-hex hash."""

    name = "HEX|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Prev:
        if isinstance(value, Prev):
            return value
        text = str(value).strip()
        if text.lower() == "none":
            return Prev(None)
        if text.startswith(DIGEST_PREFIX):
            text = text[len(DIGEST_PREFIX):]
        if not _HEX64.fullmatch(text):
            self.fail(f"{value!r}: expected 'none' or a 64-hex statement hash", param, ctx)
        return Prev(bytes.fromhex(text))


class FieldsType(_ParamType):
    """``name=value,name=value`` converted to a Struct such as Stone or Part."""

    def __init__(self, cls: type[msgspec.Struct], name: str) -> None:
        self.cls = cls
        self.name = name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.cls):
            return value
        fields: dict[str, str] = {}
        for pair in str(value).split(","):
            name, sep, text = pair.partition("=")
            name = name.strip()
            if not sep or not name:
                self.fail(f"{pair!r}: expected name=value", param, ctx)
            if name in fields:
                self.fail(f"{name!r} given twice", param, ctx)
            fields[name] = text.strip()
        try:
            return provledger.convert_fields(fields, self.cls, what=repr(value), strict=False)
        except provledger.DecodeError as exc:
            self.fail(str(exc), param, ctx)


class DimensionsType(_ParamType):
    """``LxWxH`` in micrometres, such as ``21000x21000x2500``."""

    name = "LxWxH"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> provledger.Dimensions:
        if isinstance(value, provledger.Dimensions):
            return value
        m = _DIMENSIONS.fullmatch(str(value).strip())
        if m is None:
            self.fail(f"{value!r}: expected LxWxH in micrometres, e.g. 21000x21000x2500",
                      param, ctx)
        length, width, height = (int(g) for g in m.groups())
        return provledger.Dimensions(length_um=length, width_um=width, height_um=height)


#: The committed fields a command may name (--disclose, erase --field): every
#: committable name, and a condition report's notes.
DISCLOSABLE: Final = frozenset({*COMMITTABLE_NAMES, "condition.notes"})


def field_paths(values: tuple[str, ...], option: str, *, allow_all: bool) -> tuple[str, ...]:
    """Committed-field paths from a repeatable option (each may be a comma
    list), checked and sorted; ``("all",)`` when ``allow_all`` and all is named.

    Raises:
        click.BadParameter: a name that is not a committable field.
    """
    names = {n.strip() for v in values for n in v.split(",") if n.strip()}
    unknown = sorted(names - DISCLOSABLE - ({"all"} if allow_all else set()))
    if unknown:
        raise click.BadParameter(f"no such field: {', '.join(unknown)} (choose from "
                                 f"{', '.join(sorted(DISCLOSABLE))}"
                                 + (", or all)" if allow_all else ")"), param_hint=option)
    return ("all",) if "all" in names else tuple(sorted(names))


TIME: Final = TimeType()
DIGEST: Final = DigestType()
PUBLIC_KEY: Final = PublicKeyType()
PREV: Final = PrevType()
ID: Final = IdType()
STONE: Final = FieldsType(provledger.Stone, "stone")
PART: Final = FieldsType(provledger.Part, "part")
DIMENSIONS: Final = DimensionsType()
