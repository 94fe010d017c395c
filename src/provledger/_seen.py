"""What a verifier has seen: the newest checkpoint per log, kept between runs
so that a later bundle cannot roll the log back or show a fork unnoticed
(spec/bundle.md, verification step 6). A directory holds one file per log,
named by the SHA-256 of its origin and replaced atomically."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ._errors import StorageError
from ._verify import CheckpointInfo

_SUFFIX = ".checkpoint"


class SeenCheckpoints:
    """The newest checkpoint seen per log, in ``directory`` (created on first use)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _file(self, origin: str) -> Path:
        return self.directory / (hashlib.sha256(origin.encode()).hexdigest() + _SUFFIX)

    def notes(self, origin: str) -> tuple[str, ...]:
        """The checkpoint note seen for ``origin``, as verify_bundle's ``seen``
        takes it (empty if none was seen).

        Raises:
            StorageError: the file exists but cannot be read.
        """
        path = self._file(origin)
        try:
            return (path.read_text(),) if path.exists() else ()
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"{path}: cannot read the checkpoint seen for {origin} "
                               f"({exc})") from None

    def remember(self, checkpoint: CheckpointInfo) -> None:
        """Keep ``checkpoint`` (of a bundle that just verified) unless the one
        kept for its log is as new; the file is replaced atomically.

        Raises:
            StorageError: the directory or file cannot be written.
        """
        seen = self.notes(checkpoint.origin)
        if seen and _size(seen[0]) >= checkpoint.size:
            return
        path = self._file(checkpoint.origin)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(checkpoint.note)
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"{path}: cannot keep the checkpoint seen ({exc})") from None


def _size(note: str) -> int:
    """The tree size on a kept note's second line (it verified when kept)."""
    try:
        return int(note.split("\n", 2)[1])
    except (IndexError, ValueError):
        return -1
