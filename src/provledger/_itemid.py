"""Item identifiers: GS1 Digital Link URIs where the jeweler has a GTIN,
provledger URNs built from the issuer and its serial number otherwise."""

from __future__ import annotations

import hashlib
import re
import urllib.parse

from ._errors import DecodeError

_GS1_PATH = re.compile(r"^https://([a-z0-9.-]+)/01/([0-9]{14})/21/([^/?#]+)$")
# GS1 AI (21) serials: up to 20 characters of GS1 "charset 82".
_SERIAL_82 = re.compile(r"^[!\"%-/0-9:-?A-Z_a-z]{1,20}$")
_URN_SERIAL = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")


def gtin_is_valid(gtin: str) -> bool:
    """Whether ``gtin`` (8, 12, 13 or 14 digits) has a correct GS1 check digit."""
    if not gtin.isascii() or not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        return False
    digits = [int(c) for c in gtin.zfill(14)]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(digits[:13]))
    return (10 - total % 10) % 10 == digits[13]


def gs1_item_id(domain: str, gtin: str, serial: str) -> str:
    """The GS1 Digital Link URI ``https://{domain}/01/{GTIN-14}/21/{serial}``.

    Raises:
        ValueError: bad GTIN check digit, domain or serial.
    """
    if not gtin_is_valid(gtin):
        raise ValueError(f"GTIN {gtin!r} has a wrong check digit or length")
    if not re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", domain):
        raise ValueError(f"domain {domain!r} is not a lower-case DNS name")
    if not _SERIAL_82.fullmatch(serial):
        raise ValueError(f"serial {serial!r}: GS1 allows 1-20 characters of charset 82")
    return f"https://{domain}/01/{gtin.zfill(14)}/21/{urllib.parse.quote(serial, safe='')}"


def serial_item_id(issuer_key: bytes, serial: str) -> str:
    """``urn:provledger:item:<issuer tag>:<serial>`` for pieces without a GTIN.

    The tag is the first 8 bytes (hex) of SHA-256 of the issuer's public key,
    so two jewelers' serial numbers never collide.

    Raises:
        ValueError: the serial is empty, too long or has characters outside
            ``A-Z a-z 0-9 . _ ~ -``.
    """
    if not _URN_SERIAL.fullmatch(serial):
        raise ValueError(f"serial {serial!r}: use 1-64 characters of A-Z a-z 0-9 . _ ~ -")
    tag = hashlib.sha256(issuer_key).hexdigest()[:16]
    return f"urn:provledger:item:{tag}:{serial}"


def parse_gs1_item_id(item: str) -> tuple[str, str] | None:
    """(GTIN-14, serial) if ``item`` is a GS1 Digital Link URI, else None.

    Raises:
        DecodeError: it looks like a GS1 Digital Link but its GTIN is invalid.
    """
    m = _GS1_PATH.match(item)
    if m is None:
        return None
    gtin, serial = m.group(2), urllib.parse.unquote(m.group(3))
    if not gtin_is_valid(gtin):
        raise DecodeError(f"item {item!r}: GTIN {gtin} has a wrong check digit")
    return gtin, serial
