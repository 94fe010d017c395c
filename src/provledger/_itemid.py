"""Item identifiers and their one canonical spelling (spec/protocol.md 4.3).

An item id is a GS1 Digital Link URI ``https://<domain>/01/<GTIN-14>/21/<serial>``
where the jeweler has a GTIN, or ``urn:provledger:item:<tag>:<serial>`` built
from the issuer's first key otherwise. :func:`parse_item_id` is the one home
of the canonical form: the append rule, the CLI and ``verify_bundle(item=)``
all go through it, so a piece has exactly one spelling everywhere.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass
from typing import Final

from ._errors import ItemIdError

GS1_FORM: Final = "https://<domain>/01/<GTIN-14>/21/<serial>"
URN_FORM: Final = "urn:provledger:item:<tag>:<serial>"

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
#: A canonical DNS name: lower-case labels of letters, digits and inner hyphens,
#: at least two, the last beginning with a letter (so no IPv4 address), no
#: trailing dot. Also the schema pattern of ``role.granted`` domains.
DOMAIN_PATTERN: Final = rf"^(?=.{{1,253}}\Z)(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?\Z"
#: A GS1 company prefix as a grant names it (GS1 GCPs have 6 to 12 digits).
GS1_PREFIX_PATTERN: Final = r"^[0-9]{6,12}\Z"
_DOMAIN = re.compile(DOMAIN_PATTERN)

#: GS1 AI (21) serials: 1-20 characters of GS1 "charset 82".
_SERIAL_82 = re.compile(r"^[!\"%-/0-9:-?A-Z_a-z]{1,20}$")
#: The charset-82 characters a URI path segment carries unencoded besides
#: letters, digits, "-", "." and "_" (RFC 3986 pchar: sub-delims and ":").
#: The other six, ``" % / < > ?``, are percent-encoded with upper-case hex:
#: the canonical serial is exactly ``urllib.parse.quote(serial, safe=SERIAL_SAFE)``.
SERIAL_SAFE: Final = "!&'()*+,:;="
_URN_TAG = re.compile(r"[0-9a-f]{16}")
_URN_SERIAL = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MAX_ID = 256


@dataclass(frozen=True, slots=True)
class ItemId:
    """An item id taken apart; ``text`` is its canonical spelling."""

    text: str
    #: The serial as the certificate states it (percent-decoded).
    serial: str
    #: GS1 ids: the resolver's domain and the GTIN-14; empty for URNs.
    domain: str = ""
    gtin: str = ""
    #: URNs: the issuer tag (16 lower-case hex digits); empty for GS1 ids.
    tag: str = ""


def gtin_is_valid(gtin: str) -> bool:
    """Whether ``gtin`` (8, 12, 13 or 14 digits) has a correct GS1 check digit."""
    if not gtin.isascii() or not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        return False
    digits = [int(c) for c in gtin.zfill(14)]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(digits[:13]))
    return (10 - total % 10) % 10 == digits[13]


def gtin_in_scope(gtin: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    """Whether ``gtin`` (any length) lies under one of the GS1 company ``prefixes``.

    The prefix is matched against the GTIN-14 after its indicator digit
    (``gtin14[1:]``): a GTIN-13's own digits, a GTIN-12 with one leading zero.
    """
    body = gtin.zfill(14)[1:]
    return any(body.startswith(p) for p in prefixes)


def item_tag(first_key: bytes) -> str:
    """The URN tag of the issuer first known by ``first_key``: the first 16
    lower-case hex digits of its SHA-256 (the key its chain id is built from,
    so the tag survives key rotation)."""
    return hashlib.sha256(first_key).hexdigest()[:16]


def canonical_domain(domain: str) -> str:
    """``domain`` lower-cased and without a trailing dot, if that is a DNS name.

    Raises:
        ItemIdError: not a DNS name of letters, digits and hyphens with a dot.
    """
    # ASCII first: str.lower() maps some non-ASCII letters (the Kelvin sign) to ASCII.
    host = domain.lower() if domain.isascii() else ""
    host = host[:-1] if host.endswith(".") else host
    if not _DOMAIN.fullmatch(host):
        raise ItemIdError(f"domain {domain!r} is not a DNS name of letters, digits and "
                          "hyphens with at least one dot (write an internationalised name "
                          "in its xn-- form)")
    return host


def gs1_item_id(domain: str, gtin: str, serial: str) -> str:
    """The canonical GS1 Digital Link URI ``https://{domain}/01/{GTIN-14}/21/{serial}``.

    ``domain`` is lower-cased; ``serial`` is the raw serial, which is
    percent-encoded where a URI path needs it.

    Raises:
        ItemIdError: bad GTIN check digit, domain or serial (a ValueError).
    """
    if not gtin_is_valid(gtin):
        raise ItemIdError(f"GTIN {gtin!r} has a wrong check digit or length")
    if not _SERIAL_82.fullmatch(serial):
        raise ItemIdError(f"serial {serial!r}: GS1 allows 1-20 characters of charset 82")
    return _gs1_text(canonical_domain(domain), gtin.zfill(14), serial)


def serial_item_id(first_key: bytes, serial: str) -> str:
    """``urn:provledger:item:<issuer tag>:<serial>`` for pieces without a GTIN.

    ``first_key`` is the issuer authority's FIRST public key, the one its
    chain id ``provledger:authority:<hex>`` names (not a later, rotated key):
    the tag stays the same when the issuer rotates its key, and two issuers'
    serials never collide.

    Raises:
        ItemIdError: the serial is empty, too long or has characters outside
            ``A-Z a-z 0-9 . _ ~ -`` (a ValueError).
    """
    if not _URN_SERIAL.fullmatch(serial):
        raise ItemIdError(f"serial {serial!r}: use 1-64 characters of A-Z a-z 0-9 . _ ~ -")
    return f"urn:provledger:item:{item_tag(first_key)}:{serial}"


def canonical_item_id(text: str) -> str:
    """The canonical spelling of the item id ``text`` (spec/protocol.md 4.3).

    Accepts sloppy spellings a person or a scanner may produce and returns
    the one the ledger stores: host lower-cased, default port, trailing dot
    and slash, query and fragment dropped, ``http`` made ``https``, GTIN
    padded to 14 digits, serial percent-encoded exactly where needed (upper-
    case hex), URN scheme, namespace and tag lower-cased. Canonical input is
    returned unchanged, so the function is idempotent.

    Raises:
        ItemIdError: (a ValueError) ``text`` is neither kind of item id, or
            has no canonical spelling (a wrong check digit, a serial outside
            its character set, another port, user info).
    """
    return parse_item_id(text).text


def parse_item_id(text: str) -> ItemId:
    """``text`` taken apart, with its canonical spelling (see canonical_item_id).

    Raises:
        ItemIdError: as canonical_item_id.
    """
    scheme, sep, rest = text.strip().partition(":")
    scheme = scheme.lower()
    if sep and scheme in ("https", "http") and rest.startswith("//"):
        return _parse_gs1(text, rest[2:])
    if sep and scheme == "urn":
        return _parse_urn(text, rest)
    raise ItemIdError(f"{text!r} is not an item id: use a GS1 Digital Link {GS1_FORM} "
                      f"or {URN_FORM}")


def _gs1_text(host: str, gtin14: str, serial: str) -> str:
    text = f"https://{host}/01/{gtin14}/21/{urllib.parse.quote(serial, safe=SERIAL_SAFE)}"
    if len(text) > _MAX_ID:
        raise ItemIdError(f"item id {text!r} is longer than {_MAX_ID} characters")
    return text


def _decoded(raw: str, text: str) -> str:
    """``raw`` percent-decoded; every ``%`` must start an escape of an ASCII byte."""
    if _PERCENT.search(raw):
        raise ItemIdError(f"item id {text!r}: a '%' that does not start a %XX escape")
    try:
        return urllib.parse.unquote_to_bytes(raw).decode("ascii")
    except UnicodeDecodeError:
        raise ItemIdError(f"item id {text!r}: the serial is not ASCII") from None


def _parse_gs1(text: str, rest: str) -> ItemId:
    # The query (GS1 data attributes) and fragment are not part of the identity.
    cut = [i for i in (rest.find("?"), rest.find("#")) if i >= 0]
    authority, _, path = rest[:min(cut)].partition("/") if cut else rest.partition("/")
    if "@" in authority:
        raise ItemIdError(f"item id {text!r}: user info is not allowed in an item id")
    host, colon, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if colon and port not in ("", "443"):
        raise ItemIdError(f"item id {text!r}: an item id names no port")
    host = canonical_domain(host)
    segments = (path[:-1] if path.endswith("/") else path).split("/")
    if len(segments) != 4 or segments[0] != "01" or segments[2] != "21":
        raise ItemIdError(f"item id {text!r}: a GS1 Digital Link item id is exactly {GS1_FORM}")
    gtin, serial = segments[1], _decoded(segments[3], text)
    if not gtin_is_valid(gtin):
        raise ItemIdError(f"item id {text!r}: GTIN {gtin} has a wrong check digit or length")
    if not _SERIAL_82.fullmatch(serial):
        raise ItemIdError(f"item id {text!r}: serial {serial!r} is not 1-20 characters of "
                          "GS1 charset 82")
    gtin14 = gtin.zfill(14)
    return ItemId(_gs1_text(host, gtin14, serial), serial, domain=host, gtin=gtin14)


def _parse_urn(text: str, rest: str) -> ItemId:
    parts = rest.split(":")
    if len(parts) != 4 or parts[0].lower() != "provledger" or parts[1].lower() != "item":
        raise ItemIdError(f"{text!r} is not an item id: the only URN item ids are {URN_FORM}")
    tag, serial = parts[2].lower(), _decoded(parts[3], text)
    if not _URN_TAG.fullmatch(tag):
        raise ItemIdError(f"item id {text!r}: the tag must be 16 hex digits")
    if not _URN_SERIAL.fullmatch(serial):
        raise ItemIdError(f"item id {text!r}: serial {serial!r} is not 1-64 characters of "
                          "A-Z a-z 0-9 . _ ~ -")
    return ItemId(f"urn:provledger:item:{tag}:{serial}", serial, tag=tag)
