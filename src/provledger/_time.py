"""Times handed to the library: the one range check and the one way to print them.

A protocol time is whole Unix seconds from 0 to :data:`MAX_TIME` (the
``Timestamp`` field type). Every public function that takes ``now=`` checks
it with :func:`check_now` before using it, so a caller's bad clock value
fails as :class:`TimeRangeError` instead of an ``OverflowError`` deep inside.
"""

from __future__ import annotations

import datetime
from typing import Any, Final

from ._errors import TimeRangeError
from ._types import MAX_TIME

#: The accepted range, as error messages state it.
TIME_RANGE: Final = f"0 (1970-01-01T00:00:00Z) to {MAX_TIME} (2**40) Unix seconds"
# datetime stops at the end of year 9999; later times are formatted by hand.
_MAX_DATETIME: Final = 253402300799


def check_now(now: Any, *, what: str = "now") -> int:
    """``now`` if it is a protocol time: an int (not a bool) in 0..2**40.

    Raises:
        TimeRangeError: ``now`` is not an int, is a bool, or is out of range
            (also a ValueError).
    """
    if not isinstance(now, int) or isinstance(now, bool):
        raise TimeRangeError(f"{what} must be an int of Unix seconds, not {type(now).__name__}")
    if not 0 <= now <= MAX_TIME:
        shown = str(now) if now.bit_length() <= 128 else f"a {now.bit_length()}-bit integer"
        raise TimeRangeError(f"{what} = {shown} is out of range: expected {TIME_RANGE}")
    return now


def rfc3339(t: int) -> str:
    """Unix seconds as an RFC 3339 UTC timestamp such as ``2026-11-20T10:00:00Z``.

    Defined for every protocol time: after year 9999 the year is written in
    ISO 8601's expanded form (``+36812-02-20T08:36:16Z``), since RFC 3339
    has four digits only.
    """
    if 0 <= t <= _MAX_DATETIME:
        moment = datetime.datetime.fromtimestamp(t, datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    days, seconds = divmod(t, 86400)
    year, month, day = _civil_from_days(days)
    sign = "+" if year >= 0 else "-"
    return (f"{sign}{abs(year):04d}-{month:02d}-{day:02d}T{seconds // 3600:02d}:"
            f"{seconds // 60 % 60:02d}:{seconds % 60:02d}Z")


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) of a day count from 1970-01-01
    (H. Hinnant's days_from_civil inverse, exact for any int)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day
