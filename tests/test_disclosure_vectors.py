"""spec/vectors/disclosure: regenerate byte for byte, replay with disclosures,
refuse every invalid case with its named error, and agree with the
independent checker and with events.cddl."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cbor2
import pycddl
import pytest

import provledger as pl
from provledger import _codec
from provledger._disclosure_file import disclosure_path
from provledger._statement import decode_statement

from .conftest import StepClock, snapshot
from .vector_stories import CDDL, ROOT, VectorSet, assert_regenerates, assert_seeds_give_keys

CHECKER = ROOT / "spec" / "tools" / "check_disclosure_vectors.py"
VECTOR_SET = VectorSet.load("disclosure")
META, VALID, INVALID = VECTOR_SET.meta, VECTOR_SET.valid, VECTOR_SET.invalid


def _key(name: str) -> bytes:
    return pl.parse_public_key(META["keys"][name]["public_key"])


def _story(path: Path) -> tuple[pl.Ledger, list[pl.Record]]:
    clock = StepClock(META["clock"]["start"])
    ledger = pl.Ledger.create(path, origin=META["origin"], root_key=_key("root"),
                              log_key=_key("log"), clock=clock)
    records = []
    for v in VALID:
        clock.t = v["time"]
        records.append(ledger.append(bytes.fromhex(v["statement"]),
                                     [bytes.fromhex(d["data"]) for d in v["disclosures"]]))
    clock.t = INVALID[0]["log_time"]
    return ledger, records


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _as_vector(r: pl.Revealed) -> dict[str, Any]:
    return {"event": _json(_codec.to_builtins(r.event)), "disclosed": list(r.disclosed),
            "withheld": r.withheld, "clear": list(r.clear)}


def test_generator_reproduces_committed_vectors(tmp_path: Path) -> None:
    assert_regenerates(VECTOR_SET, tmp_path)


def test_seeds_give_the_published_keys() -> None:
    assert_seeds_give_keys(VECTOR_SET)


def test_valid_story_appends_with_its_disclosures_and_reveals_them(tmp_path: Path) -> None:
    ledger, records = _story(tmp_path / "l.db")
    with ledger:
        for v, rec in zip(VALID, records, strict=True):
            assert (rec.index, rec.hash.hex(), rec.statement.type) == (
                v["index"], v["hash"], v["type"]), v["name"]
            assert _codec.dumps(_codec.to_builtins(rec.event)).hex() == v["body"], v["name"]
            stored = ledger.reveal(rec)
            assert _as_vector(stored) == v["revealed"], v["name"]
            given = [bytes.fromhex(d["data"]) for d in v["disclosures"]]
            assert _as_vector(pl.reveal(rec.event, given)) == v["revealed"], v["name"]
            for d in v["disclosures"]:
                assert cbor2.loads(bytes.fromhex(d["data"])) == [
                    bytes.fromhex(d["salt"]), d["value"], d["name"]]
            if "partial" in v:
                part = pl.reveal(rec.event, [bytes.fromhex(h) for h in v["partial"]["disclosures"]])
                expected = {k: x for k, x in v["partial"].items() if k != "disclosures"}
                assert _as_vector(part) == expected, v["name"]
        assert ledger.audit().size == len(VALID)


def test_bodies_are_the_statements_event_bytes() -> None:
    for v in VALID:
        payload = cbor2.loads(cbor2.loads(bytes.fromhex(v["statement"])).value[2])
        assert cbor2.dumps(payload["event"], canonical=True).hex() == v["body"], v["name"]


def test_invalid_cases_fail_with_the_named_error_and_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    ledger, _ = _story(path)
    side = disclosure_path(path)
    with ledger:
        for v in INVALID:
            assert v["context"] == len(ledger)
            before = (snapshot(path), snapshot(side))
            statement = bytes.fromhex(v["statement"])
            disclosures = [bytes.fromhex(h) for h in v["disclosures"]]
            with pytest.raises(pl.ProvLedgerError) as info:
                ledger.append(statement, disclosures)
            assert type(info.value).__name__ == v["error"], (v["name"], info.value)
            assert info.value.code == v["code"], v["name"]
            assert (snapshot(path), snapshot(side)) == before, v["name"]
            if v["level"] == "disclosure":
                # The statement alone is fine; the library's reveal refuses the disclosures.
                with pytest.raises(pl.DisclosureError):
                    pl.reveal(decode_statement(statement).event, disclosures)
            else:
                with pytest.raises(pl.DecodeError):
                    decode_statement(statement)
        control = META["control"]
        rec = ledger.append(bytes.fromhex(control["statement"]),
                            [bytes.fromhex(h) for h in control["disclosures"]])
        assert ledger.reveal(rec).withheld == 0


def test_every_valid_statement_and_disclosure_matches_the_cddl() -> None:
    payload = pycddl.Schema("start = payload\n" + CDDL)
    disclosure = pycddl.Schema("start = disclosure\n" + CDDL)
    for v in VALID:
        payload.validate_cbor(cbor2.loads(bytes.fromhex(v["statement"])).value[2])
        for d in v["disclosures"]:
            disclosure.validate_cbor(bytes.fromhex(d["data"]))


@pytest.mark.parametrize("name", ["sd-empty-explicit", "sd-too-long", "required-text-missing"])
def test_the_cddl_refuses_what_it_can_say(name: str) -> None:
    payload = pycddl.Schema("start = payload\n" + CDDL)
    (v,) = [v for v in INVALID if v["name"] == name]
    with pytest.raises(pycddl.ValidationError):
        payload.validate_cbor(cbor2.loads(bytes.fromhex(v["statement"])).value[2])


@pytest.mark.parametrize("name", ["wrong-salt-length", "not-an-array", "unknown-field-name",
                                  "empty-value"])
def test_the_cddl_refuses_malformed_disclosures(name: str) -> None:
    disclosure = pycddl.Schema("start = disclosure\n" + CDDL)
    (v,) = [v for v in INVALID if v["name"] == name]
    results = []
    for h in v["disclosures"]:
        try:
            disclosure.validate_cbor(bytes.fromhex(h))
            results.append(True)
        except pycddl.ValidationError:
            results.append(False)
    assert not all(results), name


def test_independent_checker_agrees() -> None:
    out = subprocess.run([sys.executable, str(CHECKER)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 disagreements" in out.stdout
    assert f"invalid: {len(INVALID)} refused" in out.stdout


def test_checker_uses_only_hashlib_cbor2_and_pynacl() -> None:
    allowed = {"__future__", "hashlib", "itertools", "json", "re", "sys", "pathlib", "typing",
               "cbor2", "nacl", "check_core_vectors"}
    for tool in (CHECKER, ROOT / "spec" / "tools" / "check_core_vectors.py"):
        imported = set()
        for node in ast.walk(ast.parse(tool.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
        assert imported <= allowed, (tool.name, imported - allowed)


def _tampered(tmp_path: Path, change: Any) -> subprocess.CompletedProcess[str]:
    copy = tmp_path / "v"
    shutil.copytree(VECTOR_SET.directory, copy)
    valid = json.loads((copy / "valid.json").read_text())
    change(valid)
    (copy / "valid.json").write_text(json.dumps(valid))
    return subprocess.run([sys.executable, str(CHECKER), str(copy)], capture_output=True,
                          text=True, check=False)


def test_checker_catches_a_changed_revealed_value(tmp_path: Path) -> None:
    def change(valid: list[dict[str, Any]]) -> None:
        (v,) = [v for v in valid if v["name"] == "repair-ring"]
        v["revealed"]["event"]["work"] = "Something else"

    out = _tampered(tmp_path, change)
    assert out.returncode == 1
    assert "FAIL valid/repair-ring" in out.stdout, out.stdout


def test_checker_catches_a_changed_disclosure(tmp_path: Path) -> None:
    def change(valid: list[dict[str, Any]]) -> None:
        (v,) = [v for v in valid if v["name"] == "stolen-ring"]
        data = bytearray.fromhex(v["disclosures"][0]["data"])
        data[-1] ^= 1
        v["disclosures"][0]["data"] = data.hex()

    out = _tampered(tmp_path, change)
    assert out.returncode == 1
    assert "FAIL valid/stolen-ring" in out.stdout, out.stdout
