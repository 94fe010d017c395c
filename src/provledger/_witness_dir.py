"""A witness's directory: its encrypted key, its verifier key, the logs it serves, its state.

    witness.key    the cosigning key, encrypted (spec/keyfile.md)
    witness.vkey   its verifier key, type 0x04 (c2sp.org/signed-note), one line
    logs.policy    the logs served: c2sp.org/tlog-policy ``log <vkey> [<url>]`` lines
    state.db       the latest cosigned checkpoint per log, and evidence (spec/witness.md)

``logs.policy`` follows tlog-policy's line rules: items separated by spaces
or tabs, blank lines and lines whose first non-blank character is ``#``
ignored, each vkey's key name is the log's origin, and no public key twice.
A witness reads only ``log`` lines, so any other keyword is refused.

Errors: a bad ``logs.policy`` or ``witness.vkey`` raises
:class:`~provledger._errors.DecodeError`; a missing directory or file, or a
state file that cannot be opened, :class:`~provledger._errors.StorageError`;
a key file problem or a key that does not match ``witness.vkey``,
:class:`~provledger._errors.KeyFileError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._errors import DecodeError, KeyFileError, StorageError
from ._keyfile import Strength, read_signing_key, write_signing_key
from ._keys import SigningKey
from ._note import SIG_COSIGNATURE_V1, SIG_ED25519, NoteVerifier, parse_vkey
from ._witness import Witness, WitnessState

KEY_FILE: Final = "witness.key"
VKEY_FILE: Final = "witness.vkey"
LOGS_FILE: Final = "logs.policy"
STATE_FILE: Final = "state.db"
MAX_LOGS_BYTES: Final = 1024 * 1024

_BLANKS = re.compile(r"[ \t]+")
_HEADER = ("# Logs this witness serves (c2sp.org/tlog-policy lines): log <vkey> [<url>]\n"
           "# The vkey's key name is the log's origin. Restart `witness serve` after a change.\n")


@dataclass(frozen=True)
class PolicyLog:
    """One ``log <vkey> [<url>]`` line."""

    verifier: NoteVerifier
    url: str | None = None

    @property
    def origin(self) -> str:
        """The log's origin: its vkey's key name."""
        return self.verifier.name

    def line(self) -> str:
        """The policy line, with its newline."""
        return f"log {self.verifier.vkey()}" + (f" {self.url}" if self.url else "") + "\n"


@dataclass(frozen=True)
class WitnessDir:
    """A witness directory's public parts (no secret is read)."""

    path: Path
    verifier: NoteVerifier
    logs: tuple[PolicyLog, ...]

    @property
    def state_path(self) -> Path:
        """The state file."""
        return self.path / STATE_FILE


def parse_logs_policy(text: str) -> tuple[PolicyLog, ...]:
    """The ``log`` lines of a witness's ``logs.policy``.

    Raises:
        DecodeError: too long, a keyword other than ``log``, a wrong number of
            items, a vkey that does not parse or is not an Ed25519 (0x01) key,
            or a public key listed twice; the message names the line.
    """
    if len(text.encode()) > MAX_LOGS_BYTES:
        raise DecodeError(f"logs policy: larger than {MAX_LOGS_BYTES} bytes")
    logs: list[PolicyLog] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t")
        if not line or line.startswith("#"):
            continue
        where = f"logs policy line {number}"
        items = _BLANKS.split(line)
        if items[0] != "log":
            raise DecodeError(f"{where}: a witness's policy has only 'log <vkey> [<url>]' "
                              f"lines, not {items[0][:40]!r}")
        if len(items) not in (2, 3):
            raise DecodeError(f"{where}: expected 'log <vkey> [<url>]'")
        try:
            verifier = parse_vkey(items[1])
        except DecodeError as exc:
            raise DecodeError(f"{where}: {exc}") from None
        if verifier.sig_type != SIG_ED25519:
            raise DecodeError(f"{where}: a log key must be an Ed25519 (type 0x01) vkey")
        if any(log.verifier.public_key == verifier.public_key for log in logs):
            raise DecodeError(f"{where}: the public key of {verifier.vkey()} is listed twice")
        logs.append(PolicyLog(verifier, items[2] if len(items) == 3 else None))
    return tuple(logs)


def logs_by_origin(logs: Sequence[PolicyLog]) -> dict[str, tuple[NoteVerifier, ...]]:
    """Origin -> its trusted keys, as :class:`~provledger._witness.Witness` takes them."""
    out: dict[str, tuple[NoteVerifier, ...]] = {}
    for log in logs:
        out[log.origin] = (*out.get(log.origin, ()), log.verifier)
    return out


def init_witness_dir(directory: str | Path, *, name: str, key: SigningKey, passphrase: bytes,
                     logs: Sequence[PolicyLog] = (), strength: Strength = "interactive") -> Path:
    """Make a witness directory (created if missing); return its path.

    Raises:
        FileExistsError: one of its four files already exists (nothing is written).
        ValueError: ``name`` is not a valid key name, or an empty passphrase.
        DecodeError: ``logs`` list a public key twice, or a key that is not type 0x01.
        OSError, StorageError: a file cannot be written.
    """
    path = Path(directory)
    verifier = NoteVerifier(name, key.public_key, SIG_COSIGNATURE_V1)
    policy = _HEADER + "".join(log.line() for log in logs)
    parse_logs_policy(policy)
    for file in (KEY_FILE, VKEY_FILE, LOGS_FILE, STATE_FILE):
        if (path / file).exists():
            raise FileExistsError(f"{path / file} already exists; refusing to overwrite a "
                                  "witness")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        write_signing_key(path / KEY_FILE, key, passphrase=passphrase, strength=strength)
        written.append(path / KEY_FILE)
        for file, text in ((VKEY_FILE, verifier.vkey() + "\n"), (LOGS_FILE, policy)):
            with (path / file).open("x", encoding="utf-8") as f:
                f.write(text)
            written.append(path / file)
        written.append(path / STATE_FILE)
        WitnessState(path / STATE_FILE, create=True).close()
    except BaseException:
        for made in written:
            for leftover in (made, made.with_name(made.name + "-wal"),
                             made.with_name(made.name + "-shm")):
                leftover.unlink(missing_ok=True)
        raise
    return path


def read_witness_dir(directory: str | Path) -> WitnessDir:
    """Read a witness directory's verifier key and logs.

    Raises:
        StorageError: the directory or a file is missing or unreadable.
        DecodeError: ``witness.vkey`` is not a type 0x04 vkey, or ``logs.policy``
            is not UTF-8 or invalid.
    """
    path = Path(directory)
    vkey_text = _read(path / VKEY_FILE).strip("\n")
    try:
        verifier = parse_vkey(vkey_text)
    except DecodeError as exc:
        raise DecodeError(f"{path / VKEY_FILE}: {exc}") from None
    if verifier.sig_type != SIG_COSIGNATURE_V1:
        raise DecodeError(f"{path / VKEY_FILE}: not a cosignature (type 0x04) vkey")
    try:
        logs = parse_logs_policy(_read(path / LOGS_FILE))
    except DecodeError as exc:
        raise DecodeError(f"{path / LOGS_FILE}: {exc}") from None
    return WitnessDir(path, verifier, logs)


def open_witness(directory: str | Path, *, passphrase: bytes) -> Witness:
    """The witness of a directory, its key decrypted with ``passphrase``.

    Raises:
        StorageError, DecodeError: as :func:`read_witness_dir`, or the state
            file cannot be opened.
        KeyFileError: the key file cannot be decrypted, or is not the key of
            ``witness.vkey``.
    """
    config = read_witness_dir(directory)
    key = read_signing_key(config.path / KEY_FILE, passphrase=passphrase)
    if key.public_key != config.verifier.public_key:
        raise KeyFileError(f"{config.path / KEY_FILE} is not the key of "
                           f"{config.path / VKEY_FILE}")
    return Witness(name=config.verifier.name, key=key, logs=logs_by_origin(config.logs),
                   state=config.state_path)


def add_log(directory: str | Path, log: PolicyLog) -> None:
    """Append ``log`` to the directory's ``logs.policy``, atomically.

    Raises:
        StorageError: the file cannot be read or replaced.
        DecodeError: the file is invalid, or already lists the log's public key.
    """
    path = Path(directory) / LOGS_FILE
    text = _read(path)
    if text and not text.endswith("\n"):
        text += "\n"
    text += log.line()
    try:
        parse_logs_policy(text)
    except DecodeError as exc:
        raise DecodeError(f"{path}: {exc}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write ({exc})") from None


def _read(path: Path) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_LOGS_BYTES + 1)
    except OSError as exc:
        raise StorageError(f"{path}: cannot read ({exc})") from None
    if len(data) > MAX_LOGS_BYTES:
        raise DecodeError(f"{path}: larger than {MAX_LOGS_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(f"{path}: not UTF-8") from None
