"""spec/vectors/rules: the generator reproduces them byte for byte, the valid
story replays to the same entries and states, every invalid statement fails
as stated and changes nothing, and events.cddl agrees with the schema level."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import cbor2
import pycddl
import pytest

import provledger as pl
from provledger._statement import _split

from .conftest import snapshot

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors" / "rules"
CDDL = (ROOT / "spec" / "events.cddl").read_text()


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


META = _load("ledger.json")
VALID = _load("valid.json")
INVALID = _load("invalid.json")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_rules", ROOT / "spec/tools/gen_rules_vectors.py")
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


def _ledger(path: Path, upto: int, clock: Clock) -> pl.Ledger:
    key = lambda name: pl.parse_public_key(META["keys"][name]["public_key"])  # noqa: E731
    ledger = pl.Ledger.create(path, origin=META["origin"], root_key=key("root"),
                              log_key=key("log"), clock=clock)
    for v in VALID[:upto]:
        clock.t = v["time"]
        ledger.append(bytes.fromhex(v["statement"]))
    return ledger


def test_generator_reproduces_committed_vectors(tmp_path: Path) -> None:
    gen = _generator()
    rendered = gen.render(tmp_path)
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
        ring = pl.item_report(ledger, META["items"]["ring"])
        assert ring.rules is not None
        assert ring.rules.version == 1
        assert ring.rules.met == (ring.escrows[-1].id,)
        assert ring.to_json()["owner"] == META["keys"]["bob"]["public_key"]


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
            assert info.value.code == v["code"]
            if v["rule"]:
                assert getattr(info.value, "rule", None) == v["rule"], v["name"]
                assert f"[transfer rule: {v['rule']}]" in str(info.value)
            assert snapshot(path) == before, v["name"]


def test_the_cddl_accepts_every_valid_statement_and_refuses_the_schema_cases() -> None:
    outer = pycddl.Schema("start = statement\n" + re.sub(r" \.cbor [a-z-]+", "", CDDL))
    payload = pycddl.Schema("start = payload\n" + CDDL)
    for v in VALID:
        stmt = bytes.fromhex(v["statement"])
        outer.validate_cbor(stmt)
        payload.validate_cbor(_split(stmt)[1])
    schema = [v for v in INVALID if v["level"] == "schema"]
    assert len(schema) == 3
    for v in schema:
        with pytest.raises(pycddl.ValidationError):
            payload.validate_cbor(cbor2.loads(bytes.fromhex(v["statement"])).value[2])
