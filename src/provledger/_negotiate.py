"""HTTP proactive negotiation (RFC 9110 section 12): pick what to send from an
``Accept`` or ``Accept-Encoding`` field.

Pure functions over header text, so the server's choice is testable without
a server. A range's parameters other than ``q`` are ignored when matching;
a malformed range or weight is skipped (as if the client had not sent it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WEIGHT = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")


def _ranges(header: str) -> list[tuple[str, float]]:
    """The field's members as (lower-case range, weight)."""
    found = []
    for member in header.split(","):
        name, *params = (p.strip() for p in member.split(";"))
        if not name:
            continue
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                value = value.strip()
                if not _WEIGHT.fullmatch(value):
                    break
                weight = float(value)
        else:
            found.append((name.lower(), weight))
    return found


def choose_media_type(accept: str | None, offers: Sequence[str]) -> str | None:
    """The offer (``type/subtype``, in the server's order of preference) the
    ``Accept`` field weighs highest, None if it accepts none of them. Each
    offer takes the weight of the most specific range matching it; ties go to
    the earlier offer. No field, or an empty one, accepts anything.
    """
    if accept is None or not accept.strip():
        return offers[0] if offers else None
    ranges = _ranges(accept)
    best: tuple[float, str] | None = None
    for offer in offers:
        kind = offer.split("/", 1)[0]
        matches = [(3, w) for r, w in ranges if r == offer]
        matches += [(2, w) for r, w in ranges if r == f"{kind}/*"]
        matches += [(1, w) for r, w in ranges if r == "*/*"]
        if not matches:
            continue
        top = max(s for s, _ in matches)
        weight = max(w for s, w in matches if s == top)
        if weight > 0 and (best is None or weight > best[0]):
            best = (weight, offer)
    return None if best is None else best[1]


def accepts_encoding(accept_encoding: str | None, coding: str) -> bool:
    """Whether the ``Accept-Encoding`` field allows ``coding`` (e.g. ``gzip``):
    named with a weight above 0, or covered by ``*`` and not refused by name."""
    if not accept_encoding:
        return False
    weights = dict(_ranges(accept_encoding))
    if coding in weights:
        return weights[coding] > 0
    return weights.get("*", 0) > 0
