"""spec/vectors/recovery: regenerate byte for byte, replay the story, refuse every invalid case."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pycddl
import pytest

import provledger as pl
from provledger._statement import _split

from .conftest import snapshot

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors" / "recovery"
CDDL = (ROOT / "spec" / "events.cddl").read_text()


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


META = _load("ledger.json")
VALID = _load("valid.json")
INVALID = _load("invalid.json")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_recovery", ROOT / "spec/tools/gen_recovery_vectors.py")
    assert spec
    assert spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


class Clock:
    def __init__(self) -> None:
        self.t = VALID[0]["time"]

    def __call__(self) -> float:
        return float(self.t)


def _key(name: str) -> bytes:
    return pl.parse_public_key(META["keys"][name]["public_key"])


def _ledger(path: Path, upto: int, clock: Clock) -> pl.Ledger:
    ledger = pl.Ledger.create(path, origin=META["origin"], root_key=_key("root"),
                              log_key=_key("log"), clock=clock)
    for v in VALID[:upto]:
        clock.t = v["time"]
        ledger.append(bytes.fromhex(v["statement"]))
    return ledger


def test_generator_reproduces_committed_vectors(tmp_path: Path) -> None:
    rendered = _generator().render(tmp_path)
    assert {p.name for p in rendered} == {p.name for p in VECTORS.iterdir()}
    for path, data in rendered.items():
        assert (VECTORS / path.name).read_bytes() == data, path.name


def test_valid_story_reproduces_every_entry_and_state(tmp_path: Path) -> None:
    gen = _generator()
    clock = Clock()
    with _ledger(tmp_path / "l.db", 0, clock) as ledger:
        for v in VALID:
            clock.t = v["time"]
            rec = ledger.append(bytes.fromhex(v["statement"]))
            assert (rec.index, rec.time, rec.hash.hex(), rec.entry.hex()) == (
                v["index"], v["time"], v["hash"], v["entry"]), v["name"]
            assert gen.after(ledger, v["subject"]) == v["after"], v["name"]
        assert ledger.audit().size == len(VALID)
        ring = ledger.item(META["items"]["ring"])
        assert ring.owner == _key("carol")
        bracelet = ledger.item(META["items"]["bracelet"])
        assert (bracelet.owner, bracelet.status) == (_key("bob-2"), "active")


def test_the_story_covers_every_owner_key_event_and_each_rule() -> None:
    types = {v["type"] for v in VALID}
    assert {"owner.rotated", "recovery.started", "recovery.cancelled"} <= types
    rules = {v["rule"] for v in INVALID if v["rule"]}
    for rule in ("owner-rotates", "not-in-escrow", "one-pending", "new-key", "starter",
                 "time-lock", "known-recovery", "pending-only", "canceller",
                 "no-sale-while-pending"):
        assert f"recovery rule: {rule}" in rules, rule
    # The last-second cancel and the completion at the effective second are in the story.
    by_name = {v["name"]: v for v in VALID}
    start = by_name["start-rogue"]
    cancel = by_name["cancel-last-second"]
    assert cancel["time"] == start["after"]["recovery"]["effective"] - 1
    assert cancel["after"]["recovery"]["state"] == "cancelled"
    assert META["lock"] == pl.RECOVERY_LOCK == 604800


@pytest.mark.parametrize("context", sorted({v["context"] for v in INVALID}))
def test_invalid_statements_fail_with_the_named_error_and_change_nothing(
        tmp_path: Path, context: int) -> None:
    path = tmp_path / "l.db"
    clock = Clock()
    with _ledger(path, context, clock) as ledger:
        for v in (v for v in INVALID if v["context"] == context):
            clock.t = v["log_time"]
            before = snapshot(path)
            with pytest.raises(pl.ProvLedgerError) as info:
                ledger.append(bytes.fromhex(v["statement"]))
            assert type(info.value) is getattr(pl, v["error"]), (v["name"], info.value)
            assert f"[{v['rule']}]" in str(info.value), v["name"]
            assert snapshot(path) == before, v["name"]


def test_every_statement_matches_the_cddl() -> None:
    outer = pycddl.Schema("start = statement\n" + re.sub(r" \.cbor [a-z-]+", "", CDDL))
    payload = pycddl.Schema("start = payload\n" + CDDL)
    for v in (*VALID, *INVALID):
        stmt = bytes.fromhex(v["statement"])
        outer.validate_cbor(stmt)
        payload.validate_cbor(_split(stmt)[1])


def test_recovery_md_quotes_the_cddl_verbatim() -> None:
    text = (ROOT / "spec" / "recovery.md").read_text()
    quoted = text.split("```cddl\n", 1)[1].split("```", 1)[0]
    assert quoted.startswith("payload-owner-key = ")
    assert quoted in CDDL


def test_the_independent_checker_accepts_the_statements() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "spec/tools/check_core_vectors.py"),
                          str(VECTORS)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"valid: {len(VALID)} statements and entries check out" in out.stdout
