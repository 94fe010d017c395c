"""The provledger lines of a checkpoint (spec/log.md): the head-map root and
the log's time, parsed from a C2SP checkpoint body. Pure parsing, so the
offline verifier can use it without the store-backed log code."""

from __future__ import annotations

import base64
import re

from ._errors import CheckpointError
from ._note import Checkpoint

HEADS_EXTENSION = "provledger-heads "
TIME_EXTENSION = "provledger-time "


def extension_heads(body: Checkpoint) -> bytes:
    """The head-map root a checkpoint carries (``provledger-heads <base64>``).

    Raises:
        CheckpointError: missing, repeated or malformed.
    """
    found = [e[len(HEADS_EXTENSION):] for e in body.extensions if e.startswith(HEADS_EXTENSION)]
    raw = b""
    if len(found) == 1:
        try:
            raw = base64.b64decode(found[0], validate=True)
        except ValueError:
            raw = b""
    if len(raw) != 32 or base64.b64encode(raw).decode() != found[0]:
        raise CheckpointError(f"checkpoint for {body.origin}: needs exactly one "
                              f"'{HEADS_EXTENSION}<base64 of 32 bytes>' extension line")
    return raw


def extension_time(body: Checkpoint) -> int:
    """The ``provledger-time`` a checkpoint carries.

    Raises:
        CheckpointError: missing, repeated or malformed.
    """
    times = [e[len(TIME_EXTENSION):] for e in body.extensions if e.startswith(TIME_EXTENSION)]
    if len(times) != 1 or not re.fullmatch(r"0|[1-9][0-9]{0,11}", times[0]):
        raise CheckpointError(f"checkpoint for {body.origin}: needs exactly one "
                              f"'{TIME_EXTENSION}<decimal>' extension line")
    return int(times[0])
