"""The disclosures file beside a statement signed offline (``-o FILE``).

A committed field's clear text never enters the statement: it is a
disclosure (spec/disclosure.md) that travels beside it, in ``FILE.disclosures``:
one deterministic CBOR array of byte strings, each a disclosure, in the
order `commit` made them. `submit FILE` reads it when present and hands the
disclosures to the ledger, which keeps them off the log (erasable). The file
holds personal text, so it is created readable by its owner only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import provledger
from provledger import _codec
from provledger._disclosure import MAX_DISCLOSURE_BYTES, path_of
from provledger._events import MAX_COMMITMENTS

SUFFIX: Final = ".disclosures"
#: A statement commits at most MAX_COMMITMENTS fields in its body and as many
#: in its condition report.
_MAX_COUNT: Final = 2 * MAX_COMMITMENTS
_MAX_FILE_BYTES: Final = _MAX_COUNT * (MAX_DISCLOSURE_BYTES + 8) + 8


def disclosures_path(statement: Path) -> Path:
    """Where the disclosures of the statement file ``statement`` go."""
    return statement.with_name(statement.name + SUFFIX)


def write_disclosures(path: Path, disclosures: Sequence[bytes]) -> None:
    """Write ``disclosures`` to the new file ``path``, mode 0600.

    Raises:
        FileExistsError: ``path`` exists; nothing is written.
        OSError: it cannot be written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(_codec.dumps(list(disclosures)))


def read_disclosures(path: Path) -> list[bytes]:
    """The disclosures in the file ``path`` (each is matched later, by the ledger).

    Raises:
        provledger.DecodeError: not one CBOR array of at most 32 byte strings.
        OSError: it cannot be read.
    """
    with path.open("rb") as f:
        data = f.read(_MAX_FILE_BYTES + 1)
    raw = _codec.loads(data, what=str(path), max_bytes=_MAX_FILE_BYTES)
    if not (isinstance(raw, list) and len(raw) <= _MAX_COUNT
            and all(isinstance(d, bytes) for d in raw)):
        raise provledger.DecodeError(f"{path}: expected a CBOR array of at most {_MAX_COUNT} "
                                     "disclosures (byte strings)")
    if _codec.dumps(raw) != data:
        raise provledger.DecodeError(f"{path}: not one array in deterministic CBOR encoding")
    return raw


def committed_paths(event: provledger.Event, disclosures: Sequence[bytes]) -> list[str]:
    """The fields ``disclosures`` fill in on the committed ``event``
    (``notes``, ``condition.notes``, ...), sorted."""
    return sorted(path_of(event, data) for data in disclosures)
