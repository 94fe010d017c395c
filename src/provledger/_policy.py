"""Trust policies: which logs, issuer roots and witnesses a verifier trusts.

A policy is a small text file in the spirit of C2SP tlog-policy (spec/bundle.md):

    # provledger trust policy
    log ledger.example.com/pieces+3abac7a6+Acp7VQbw...   # C2SP vkey of a trusted log
    root ed25519:yntVBvDfhsG73ejda0yX9NjZ9WXwI1tYGVSkuvNDaBk   # a trusted issuer root
    witness witness.example+12ab34cd+BA...              # optional cosigner (type 0x04)
    quorum 1                                            # cosignatures required
    max-age 86400                                       # seconds a checkpoint stays fresh
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ._errors import DecodeError
from ._keys import format_public_key, parse_public_key
from ._note import SIG_COSIGNATURE_V1, SIG_ED25519, NoteVerifier, parse_vkey

DEFAULT_MAX_AGE = 86_400
MAX_POLICY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Policy:
    """What a verifier trusts. Build one with :func:`parse_policy` or directly."""

    logs: tuple[NoteVerifier, ...]
    roots: tuple[bytes, ...]
    witnesses: tuple[NoteVerifier, ...] = ()
    quorum: int = 0
    max_age: int = DEFAULT_MAX_AGE

    def __post_init__(self) -> None:
        if not self.logs or not self.roots:
            raise ValueError("a policy needs at least one log and one root")
        if not 0 <= self.quorum <= len(self.witnesses):
            raise ValueError(f"quorum {self.quorum} exceeds the {len(self.witnesses)} witnesses")
        if self.max_age <= 0:
            raise ValueError("max-age must be positive")

    def log(self, origin: str) -> NoteVerifier | None:
        """The trusted key of the log named ``origin``, if any."""
        return next((v for v in self.logs if v.name == origin), None)

    def to_text(self) -> str:
        """The policy as a file."""
        lines = ["# provledger trust policy (spec/bundle.md)"]
        lines += [f"log {v.vkey()}" for v in self.logs]
        lines += [f"root {format_public_key(r)}" for r in self.roots]
        lines += [f"witness {v.vkey()}" for v in self.witnesses]
        lines += [f"quorum {self.quorum}", f"max-age {self.max_age}"]
        return "\n".join(lines) + "\n"


def parse_policy(text: str) -> Policy:
    """Parse a policy file's text.

    Raises:
        DecodeError: an unknown directive, a bad key, a duplicate setting, or
            a policy without a log or root; the message names the line.
    """
    if len(text) > MAX_POLICY_BYTES:
        raise DecodeError(f"policy: larger than {MAX_POLICY_BYTES} bytes")
    logs: list[NoteVerifier] = []
    roots: list[bytes] = []
    witnesses: list[NoteVerifier] = []
    settings: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, _, value = line.partition(" ")
        value = value.strip()
        where = f"policy line {number}"
        if word == "log":
            verifier = parse_vkey(value)
            if verifier.sig_type != SIG_ED25519:
                raise DecodeError(f"{where}: a log key must be an Ed25519 (type 0x01) vkey")
            logs.append(verifier)
        elif word == "root":
            roots.append(parse_public_key(value))
        elif word == "witness":
            verifier = parse_vkey(value)
            if verifier.sig_type != SIG_COSIGNATURE_V1:
                raise DecodeError(f"{where}: a witness key must be a cosignature (type 0x04) vkey")
            witnesses.append(verifier)
        elif word in ("quorum", "max-age"):
            if word in settings or not re.fullmatch(r"[0-9]{1,12}", value):
                raise DecodeError(f"{where}: '{word}' takes one decimal number, once")
            settings[word] = int(value)
        else:
            raise DecodeError(f"{where}: unknown directive {word!r} (log, root, witness, "
                              "quorum, max-age)")
    try:
        return Policy(tuple(logs), tuple(roots), tuple(witnesses), settings.get("quorum", 0),
                      settings.get("max-age", DEFAULT_MAX_AGE))
    except ValueError as exc:
        raise DecodeError(f"policy: {exc}") from None


def read_policy(path: str | Path) -> Policy:
    """Read and parse a policy file.

    Raises:
        DecodeError: unreadable or invalid.
    """
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_POLICY_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DecodeError(f"policy {path}: cannot read ({exc})") from None
    return parse_policy(text)
