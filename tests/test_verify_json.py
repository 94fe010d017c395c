"""`verify --json` on failure (spec/errors.md): codes, checks, a reader that stops early."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import provledger as pl
from provledger_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors" / "bundle"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())
_MAIN = "from provledger_cli.main import main; main()"
ERRORS_MD = (ROOT / "spec" / "errors.md").read_text()


def _documented() -> dict[str, str]:
    """class name -> code, from spec/errors.md's table of codes."""
    rows = re.findall(r"^\| `([a-z-]+)` \| `(\w+)` \|", ERRORS_MD, re.MULTILINE)
    assert rows
    return {name: code for code, name in rows}


def _subclasses(cls: type[pl.ProvLedgerError]) -> set[type[pl.ProvLedgerError]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


def _verify_json(case: dict[str, Any], tmp_path: Path, *extra: str) -> tuple[int, Any, str]:
    args = ["verify", str(VECTORS / case["file"]), "--policy", str(VECTORS / case["policy"]),
            "--at", str(case["now"]), "--json", *extra]
    if case["seen"]:
        seen = tmp_path / "seen"
        seen.mkdir()
        name = hashlib.sha256(MANIFEST["origin"].encode()).hexdigest() + ".checkpoint"
        (seen / name).write_text(case["seen"][-1])
        args += ["--seen", str(seen)]
    result = CliRunner().invoke(cli, args, env={"PROVLEDGER_DB": None},
                                prog_name="provledger")
    return result.exit_code, json.loads(result.stdout), result.stderr


def _check_shape(doc: Any) -> None:
    """The failure document's shape, checked by hand (spec/errors.md section 3)."""
    assert set(doc) == {"verified", "error", "checks"}
    assert doc["verified"] is False
    missing = doc["error"].pop("missing", None)
    assert set(doc["error"]) == {"code", "class", "message"}
    assert all(isinstance(v, str) and v for v in doc["error"].values())
    # Only an unmet requirement says what is missing: one phrase per requirement.
    assert (missing is not None) == (doc["error"]["code"] == "requirement")
    assert missing is None or (missing and all(isinstance(m, str) and m for m in missing))
    names = [c["check"] for c in doc["checks"]]
    assert all(set(c) == {"check", "passed"} for c in doc["checks"])
    assert names == [c for c in pl.VERIFICATION_CHECKS if c in names]
    assert [c["passed"] for c in doc["checks"]] == [True] * (len(names) - 1) + [False]


def test_every_error_class_has_its_own_documented_code() -> None:
    classes = _subclasses(pl.ProvLedgerError)
    assert all("code" in vars(cls) or cls is pl.ProvLedgerError for cls in classes)
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes)
    assert _documented() == {cls.__name__: cls.code for cls in classes}


@pytest.mark.parametrize("case", MANIFEST["invalid"], ids=lambda c: c["name"])
def test_a_failure_prints_its_code_class_and_checks(case: dict[str, Any],
                                                    tmp_path: Path) -> None:
    code, doc, stderr = _verify_json(case, tmp_path)
    assert code == 1
    assert len(stderr.splitlines()) == 1
    assert f": {case['error']}: " in stderr
    _check_shape(doc)
    assert doc["error"]["class"] == case["error"]
    assert doc["error"]["code"] == _documented()[case["error"]]


@pytest.mark.parametrize(("name", "failed"), [
    ("trailing-byte", "decode"), ("untrusted-log", "trust"),
    ("no-witness-cosignature", "checkpoint"), ("stale", "freshness"),
    ("fork-consistency", "consistency"), ("rollback", "seen"),
    ("inclusion-proof", "inclusion"), ("bad-statement-signature", "signatures"),
    ("gap", "completeness"), ("time-goes-back", "time-order"),
    ("unauthorized-repair", "rules"), ("certificate-after-cut-off", "certificate"),
    ("requirement-unmet", "requirements"), ("disclosure-changed-text", "disclosures"),
])
def test_the_checks_stop_at_the_step_that_failed(name: str, failed: str,
                                                 tmp_path: Path) -> None:
    case = next(c for c in MANIFEST["invalid"] if c["name"] == name)
    _, doc, _ = _verify_json(case, tmp_path)
    steps = [c for c in pl.VERIFICATION_CHECKS if c != "item"]
    assert doc["checks"] == [{"check": c, "passed": c != failed}
                             for c in steps[:steps.index(failed) + 1]]


def test_a_wrong_item_fails_the_item_check(tmp_path: Path) -> None:
    case = MANIFEST["valid"][0]
    item = json.loads((VECTORS / case["report"]).read_text())["item"]
    other = item.rsplit("/", 1)[0] + "/OTHER-1"
    code, doc, _ = _verify_json(case, tmp_path, "--item", other)
    assert code == 1
    assert doc["error"]["code"] == "wrong-item"
    assert doc["checks"] == [{"check": "decode", "passed": True},
                             {"check": "item", "passed": False}]


def test_success_lists_every_check_passed(tmp_path: Path) -> None:
    case = MANIFEST["valid"][0]
    code, doc, _ = _verify_json(case, tmp_path)
    assert code == 0
    expected = json.loads((VECTORS / case["report"]).read_text())
    assert {k: v for k, v in doc.items() if k in expected} == expected | {
        "checkpoint": doc["checkpoint"]}
    assert doc["checks"] == [{"check": c, "passed": True}
                             for c in pl.VERIFICATION_CHECKS if c != "item"]


@pytest.mark.parametrize("as_json", [True, False])
def test_a_reader_that_stops_early_does_not_fail_a_success(as_json: bool) -> None:
    case = MANIFEST["valid"][0]
    script = ("import os, subprocess, sys; "
              "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE); "
              "p.stdout.close(); err = p.stderr.read(); "
              "sys.stderr.buffer.write(err); sys.exit(p.wait())")
    cmd = [sys.executable, "-c", _MAIN, "verify", str(VECTORS / case["file"]),
           "--policy", str(VECTORS / case["policy"]), "--at", str(case["now"]),
           *(["--json"] if as_json else [])]
    env = {k: v for k, v in os.environ.items() if k != "PROVLEDGER_DB"}
    done = subprocess.run([sys.executable, "-c", script, *cmd], capture_output=True,
                          env=env, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert b"BrokenPipe" not in done.stderr
    assert b"Traceback" not in done.stderr


def test_head_keeps_the_exit_status_of_a_success() -> None:
    case = MANIFEST["valid"][0]
    cmd = (f'"{sys.executable}" -c "{_MAIN}" verify "{VECTORS / case["file"]}" '
           f'--policy "{VECTORS / case["policy"]}" --at {case["now"]} --json')
    done = subprocess.run(["bash", "-c", f"{cmd} | head -1; echo ${{PIPESTATUS[0]}}"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.stdout.splitlines() == ["{", "0"], (done.stdout, done.stderr)
