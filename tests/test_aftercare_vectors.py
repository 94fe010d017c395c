"""spec/vectors/aftercare: regenerate byte for byte, replay the story, refuse every invalid case."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
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
VECTORS = ROOT / "spec" / "vectors" / "aftercare"
CDDL = (ROOT / "spec" / "events.cddl").read_text()


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


META = _load("ledger.json")
VALID = _load("valid.json")
INVALID = _load("invalid.json")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_aftercare", ROOT / "spec/tools/gen_aftercare_vectors.py")
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
            assert gen.after(ledger, v["subject"], v["time"]) == v["after"], v["name"]
        assert ledger.audit().size == len(VALID)
        ring = ledger.item(META["items"]["ring"])
        assert ring.owner == _key("bob")
        assert [(p.tier, p.status) for p in ring.plans] == [("Gold", "cancelled"),
                                                            ("Bronze", "ended")]
        assert [r.status for r in ring.repairs] == ["collected", "cancelled", "collected"]
        pendant = ledger.item(META["items"]["pendant"])
        assert [(p.tier, p.status, p.credits) for p in pendant.plans] == [("Silver", "ended", 0)]


def test_the_story_covers_every_aftercare_event_and_each_rule() -> None:
    types = {v["type"] for v in VALID}
    assert {c.TYPE for c in (*pl.events.EVENT_TYPES.values(),)
            if c.TYPE.startswith(("care.", "repair."))} <= types
    rules = {v["rule"] for v in INVALID if v["rule"]}
    for rule in ("provider", "owner-consents", "consent", "valid-plan", "valid-renewal",
                 "one-plan-per-provider", "frozen-in-escrow", "known-plan", "live-plan",
                 "active-plan", "payable-repair", "amount", "credits"):
        assert f"care rule: {rule}" in rules, rule
    for rule in ("requester", "workshop", "one-open-repair", "promise", "known-repair",
                 "open-repair", "transition", "paid", "frozen-in-escrow"):
        assert f"repair rule: {rule}" in rules, rule
    assert {"escrow rule: at-workshop", "escrow rule: valid-offer"} <= rules


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
            if v["rule"]:
                assert f"[{v['rule']}]" in str(info.value), v["name"]
            assert snapshot(path) == before, v["name"]


def test_every_valid_statement_matches_the_cddl() -> None:
    outer = pycddl.Schema("start = statement\n" + re.sub(r" \.cbor [a-z-]+", "", CDDL))
    payload = pycddl.Schema("start = payload\n" + CDDL)
    for v in VALID:
        stmt = bytes.fromhex(v["statement"])
        outer.validate_cbor(stmt)
        payload.validate_cbor(_split(stmt)[1])


def test_schema_level_vectors_fail_the_cddl() -> None:
    payload = pycddl.Schema("start = payload\n" + CDDL)
    schema = [v for v in INVALID if v["level"] == "schema"]
    assert schema
    for v in schema:
        with pytest.raises(pycddl.ValidationError):
            payload.validate_cbor(cbor2.loads(bytes.fromhex(v["statement"])).value[2])


def test_aftercare_md_quotes_the_cddl_verbatim() -> None:
    text = (ROOT / "spec" / "aftercare.md").read_text()
    quoted = text.split("```cddl\n", 1)[1].split("```", 1)[0]
    assert quoted.startswith("payload-care = ")
    assert quoted in CDDL
    escrow = (ROOT / "spec" / "escrow.md").read_text()
    assert escrow.split("```cddl\n", 1)[1].split("```", 1)[0] in CDDL


def test_the_independent_checker_accepts_the_statements() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "spec/tools/check_core_vectors.py"),
                          str(VECTORS)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"valid: {len(VALID)} statements and entries check out" in out.stdout


def _check_rules(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "spec/tools/check_aftercare_vectors.py"),
                           str(directory)], capture_output=True, text=True, check=False)


def test_the_independent_rules_checker_agrees_with_every_vector() -> None:
    out = _check_rules(VECTORS)
    assert out.returncode == 0, out.stdout + out.stderr
    rules = sum(v["level"] == "rules" and v["error"] != "ChainError" for v in INVALID)
    assert f"invalid: {rules} rules-level vectors refused alike, 0 disagreements" in out.stdout


@pytest.mark.parametrize("change", ["credits-after", "rule-name", "error-class"])
def test_the_independent_rules_checker_catches_a_wrong_vector(tmp_path: Path,
                                                              change: str) -> None:
    valid, invalid = json.loads(json.dumps(VALID)), json.loads(json.dumps(INVALID))
    if change == "credits-after":
        redeem = next(v for v in valid if v["name"] == "redeem-r1")
        redeem["after"]["plans"][0]["credits"] = [2, 20_000]  # as if nothing was spent
    else:
        case = next(v for v in invalid if v["name"] == "redeem-twice")
        if change == "rule-name":
            case["rule"] = "care rule: credits"
        else:
            case["error"] = "PolicyError"
    for name, data in (("ledger.json", META), ("valid.json", valid), ("invalid.json", invalid)):
        (tmp_path / name).write_text(json.dumps(data))
    out = _check_rules(tmp_path)
    assert out.returncode == 1
    assert "FAIL" in out.stdout
