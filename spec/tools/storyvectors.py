"""What the story vector generators share: seeded keys, a scratch ledger that
records each valid statement's entry and checks each refusal, and the files.

A generator subclasses ``Story`` (its origin, keys and what an entry leaves),
tells its story on it and renders the vector set with ``build``, ``meta``,
``files`` and ``readme``; ``main`` writes any generator's files.
Keys come from fixed seeds, the scratch ledger's clock reads only the times the
story sets, and Ed25519 signatures are deterministic, so a generator run again
changes nothing (the test suite checks that). Each valid statement is appended
and each invalid one tried on the scratch ledger, so no vector can disagree
with provledger. Imported the way the generators import provledger (spec/tools
on sys.path); never imports pymerkle.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import cbor2

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

import provledger as pl  # noqa: E402
from provledger._statement import protected_header, sig_structure  # noqa: E402

Vector = dict[str, Any]


def seed(name: str) -> bytes:
    """The test seed of ``name``: SHA-256 of ``provledger test key <name>``."""
    return hashlib.sha256(f"provledger test key {name}".encode()).digest()


def keys(names: tuple[str, ...]) -> dict[str, pl.SigningKey]:
    """The seeded signing key of each name, in the given order."""
    return {n: pl.SigningKey(seed(n)) for n in names}


class Clock:
    """The scratch ledger's clock: whole seconds the story sets."""

    def __init__(self, t0: int) -> None:
        self.t = t0

    def __call__(self) -> float:
        return float(self.t)


@dataclass
class Story:
    """Appends the valid story to a scratch ledger and tries the invalid cases on it.

    Subclasses set ``origin`` and ``keys`` and override ``after`` (what an entry
    leaves) and, where their errors name rules otherwise, ``names_rule``.
    """

    origin: ClassVar[str]
    keys: ClassVar[Mapping[str, pl.SigningKey]]
    with_code: ClassVar[bool] = False  # invalid vectors also give the error's code

    ledger: pl.Ledger
    clock: Clock
    valid: list[Vector] = field(default_factory=list)
    invalid: list[Vector] = field(default_factory=list)

    @property
    def now(self) -> int:
        return self.clock.t

    def after(self, subject: str, time: int) -> Any:  # noqa: ARG002
        """What the entry just appended on ``subject`` at ``time`` leaves (None here)."""
        return None

    def names_rule(self, exc: pl.ProvLedgerError, rule: str) -> bool:
        """Whether ``exc`` names ``rule``: by default in brackets in its message."""
        return f"[{rule}]" in str(exc)

    def sign(self, signer: str, subject: str, event: pl.Event, *,
             prev: bytes | Literal["head"] | None = "head", at: int | None = None) -> bytes:
        """``event`` signed on ``subject``'s head (or ``prev``), 5 s before log time ``at``."""
        t = self.now if at is None else at
        return pl.sign_statement(event, key=self.keys[signer], origin=self.origin,
                                 subject=subject, time=t - 5,
                                 prev=self.ledger.head(subject) if isinstance(prev, str) else prev)

    def raw(self, signer: str, subject: str, prev: bytes | None, time: int, etype: str,
            event: dict[str, Any]) -> bytes:
        """A statement signed over a hand-built payload (for schema-level cases)."""
        key = self.keys[signer]
        payload = cbor2.dumps({"v": 1, "log": self.origin, "prev": prev, "time": time,
                               "type": etype, "event": event, "signer": key.public_key,
                               "subject": subject}, canonical=True)
        prot = protected_header(key.public_key)
        sig = key.sign(sig_structure(prot, payload))
        return bytes(cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload, sig])))

    def add(self, name: str, signer: str, subject: str, event: pl.Event, *,
            at: int | None = None) -> bytes:
        """Append a valid statement at log time ``at`` (default: one minute on);
        return its hash.

        Raises:
            ProvLedgerError: the ledger refuses it (the story is wrong).
        """
        self.clock.t = self.now + 60 if at is None else at
        stmt = self.sign(signer, subject, event)
        rec = self.ledger.append(stmt)
        self.valid.append({
            "name": name, "signer": signer, "subject": subject, "type": event.TYPE,
            "statement": stmt.hex(), "hash": rec.hash.hex(), "index": rec.index,
            "time": rec.time, "entry": rec.entry.hex(), "after": self.after(subject, rec.time),
        })
        return rec.hash

    def refuse(self, name: str, description: str, error: type[pl.ProvLedgerError],
               rule: str | None, statement: bytes, *, at: int | None = None) -> None:
        """Record an invalid case, after checking the ledger refuses it as stated
        at log time ``at`` (default: now) and is left as it was.

        Raises:
            AssertionError: another error (or none), another rule, or a changed ledger.
        """
        log_time = self.now if at is None else at
        saved, self.clock.t = self.clock.t, log_time
        size = len(self.ledger)
        raised: pl.ProvLedgerError | None = None
        try:
            self.ledger.append(statement)
        except pl.ProvLedgerError as exc:
            raised = exc
        assert type(raised) is error, (name, raised)
        assert rule is None or self.names_rule(raised, rule), (name, raised)
        assert len(self.ledger) == size
        self.clock.t = saved
        case: Vector = {"name": name, "description": description, "context": size,
                        "log_time": log_time, "error": error.__name__}
        if self.with_code:
            case["code"] = error.code
        case.update({"rule": rule, "level": "schema" if error is pl.DecodeError else "rules",
                     "statement": statement.hex()})
        self.invalid.append(case)

    def no(self, name: str, description: str, error: type[pl.ProvLedgerError],
           rule: str | None, signer: str, subject: str, event: pl.Event, *,
           at: int | None = None) -> None:
        """Refuse ``event`` signed by ``signer`` on ``subject``'s head (see ``refuse``)."""
        self.refuse(name, description, error, rule, self.sign(signer, subject, event, at=at),
                    at=at)


S = TypeVar("S", bound=Story)


def build(story: type[S], tell: Callable[[S], None], t0: int
          ) -> tuple[list[Vector], list[Vector]]:
    """Tell the story on a fresh scratch ledger whose clock starts at ``t0``;
    the valid and invalid vectors, once the ledger audits clean."""
    clock = Clock(t0)
    with tempfile.TemporaryDirectory() as d:
        ledger = pl.Ledger.create(Path(d) / "v.db", origin=story.origin,
                                  root_key=story.keys["root"].public_key,
                                  log_key=story.keys["log"].public_key, clock=clock)
        try:
            s = story(ledger, clock)
            tell(s)
            assert ledger.audit().size == len(s.valid)
        finally:
            ledger.close()
    return s.valid, s.invalid


def meta(story: type[Story], items: Mapping[str, str], **extra: Any) -> dict[str, Any]:
    """ledger.json: origin, root and log key names, items, ``extra``, then the keys."""
    table = {n: {"seed": seed(n).hex(), "public_key": pl.format_public_key(k.public_key)}
             for n, k in story.keys.items()}
    return {"origin": story.origin, "root": "root", "log": "log", "items": items, **extra,
            "keys": table}


def files(out: Path, readme: str, ledger: dict[str, Any], valid: list[Vector],
          invalid: list[Vector]) -> dict[Path, bytes]:
    """A story's vector files, path -> bytes."""

    def dump(obj: Any) -> bytes:
        return (json.dumps(obj, indent=1) + "\n").encode()

    return {out / "README.md": readme.encode(), out / "ledger.json": dump(ledger),
            out / "valid.json": dump(valid), out / "invalid.json": dump(invalid)}


def readme(lines: list[str], invalid: list[Vector], t0: int, note: str | None = None) -> str:
    """README.md: a generator's own ``lines`` (prose, valid story), the note on T0
    (default ``T0 = <t0>.``) and the table of invalid statements."""
    lines = [*lines, "", note or f"T0 = {t0}.", "", "## Invalid statements", "",
             "| name | context | log time | must fail with | rule | case |",
             "|---|---|---|---|---|---|",
             *(f"| {v['name']} | {v['context']} | T0+{v['log_time'] - t0} | `{v['error']}` | "
               f"{v['rule'] or ''} | {v['description']} |" for v in invalid)]
    return "\n".join(lines) + "\n"


def main(argv: list[str], default_out: Path, render: Callable[[Path], dict[Path, bytes]]
         ) -> int:
    """Write the files ``render`` makes under ``argv[1]`` (default ``default_out``)."""
    out = Path(argv[1]) if len(argv) > 1 else default_out
    out.mkdir(parents=True, exist_ok=True)
    for path, data in render(out).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {out}")
    return 0
