"""The examples run end to end: examples/jeweler.sh (the CLI) and examples/demo.py (the library)."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import provledger

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TIMEOUT = 120


def _cli() -> Path:
    """The provledger console script installed beside this interpreter."""
    path = Path(sys.executable).with_name("provledger")
    assert path.exists(), f"{path} is missing: install the package (make install)"
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROVLEDGER_DB", "PROVLEDGER_PASSPHRASE")}
    env.update(extra)
    return env


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_jeweler_script_runs_the_day_on_the_cli(tmp_path: Path) -> None:
    day = tmp_path / "day"
    result = subprocess.run(
        ["bash", str(EXAMPLES / "jeweler.sh"), str(day)],
        env=_env(PROVLEDGER=str(_cli())), capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    item = re.search(r"^item (urn:provledger:item:[0-9a-f]{16}:R-1001)$", out, re.MULTILINE)
    assert item is not None, out
    assert f"item         {item[1]}" in out  # the history printed at the end
    assert "refused as expected (exit 3)" in out
    assert re.search(r"^audit ok: 9 entries, 3 subjects, 0 invalidated\b", out, re.MULTILINE), out
    for line in ("cert.issued", "repair.recorded", "appraisal.recorded", "lost.reported",
                 "recovered"):
        assert re.search(rf"^\s+\d+  \S+  {re.escape(line)} ", out, re.MULTILINE), line
    assert "from cleaning.cose" in out
    assert "from appraisal.cose" in out

    # What the script left is a real ledger that the library audits too.
    with provledger.Ledger.open(day / "rings.db", readonly=True) as ledger:
        assert ledger.audit().size == 9
        state = ledger.item(item[1])
    assert state.status == "active"
    assert state.owner == provledger.read_public_key(day / "keys" / "client.pub")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_jeweler_script_refuses_a_used_directory(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    result = subprocess.run(
        ["bash", str(EXAMPLES / "jeweler.sh"), str(tmp_path)],
        env=_env(PROVLEDGER=str(_cli())), capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 2
    assert "not empty" in result.stderr


def test_demo_runs_the_story_with_the_library(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo-out"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), str(out_dir)],
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    ring = "https://id.maison-exemple.example/01/09506000134352/21/RING-0001"
    assert ring in out
    assert "refused: UnknownKeyError" in out
    assert re.search(r"^  10 entries, 4 chains, 1 checkpoint\(s\): all verified", out,
                     re.MULTILINE), out
    for line in ("cert.issued", "cert.attested", "repair.recorded", "appraisal.recorded",
                 "escrow.opened", "escrow.accepted", "escrow.acknowledged"):
        assert line in out
    assert "a copy with one flipped bit is rejected" in out
    # On the web: published tiles whose root is the checkpoint's (checked by
    # the independent tool), a page served over HTTP, verify --from, the card.
    assert re.search(r"/01/09506000134352/21/RING-0001/ -> 200, the status page", out), out
    assert "verified True, status active, witnessed by w1" in out, out
    checked = subprocess.run(
        [sys.executable, str(EXAMPLES.parent / "spec" / "tools" / "check_tiles.py"),
         str(out_dir / "site")], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    (code,) = zxingcpp.read_barcodes(Image.open(out_dir / "ring-card.png"))
    assert code.text == ring
    assert (out_dir / "ring-card.svg").read_text().startswith("<?xml")

    report = json.loads((out_dir / "ring.report.json").read_text())
    assert report["item"] == ring
    assert report["status"] == "active"
    bob = provledger.read_public_key(str(out_dir / "keys" / "bob.pub"))
    assert report["owner"] == provledger.format_public_key(bob)
    policy = provledger.read_policy(out_dir / "policy.txt")
    verified = provledger.verify_bundle((out_dir / "ring.bundle").read_bytes(), policy=policy,
                                        now=report_time(report))
    assert verified.owner == bob
    with provledger.Ledger.open(out_dir / "ledger.db", readonly=True) as ledger:
        assert ledger.audit().size == 10

    # The closing hint: its verify works today, and it says how to refresh the
    # checkpoint for a later day, when the policy's max-age has passed.
    hint = out[out.index("try: "):]
    assert len(hint.splitlines()) <= 5, hint
    assert f"max-age {policy.max_age} s" in hint
    assert "StaleCheckpointError" in hint
    assert f"checkpoint --key {out_dir}/keys/log.key" in hint
    assert f"export {ring} -o {out_dir}/ring-" in hint
    # The refresh commands work as printed.
    script = "\n".join(line.strip().rstrip(")") for line in hint.splitlines()[2:])
    cli = str(Path(sys.executable).with_name("provledger"))
    refreshed = subprocess.run(
        ["bash", "-euc", script.replace(".venv/bin/provledger", cli)],
        env=_env(PROVLEDGER_PASSPHRASE="demo passphrase"), capture_output=True, text=True,
        timeout=TIMEOUT, check=False)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert ring in refreshed.stdout


def report_time(report: dict[str, object]) -> int:
    """The checkpoint's time in a report, as Unix seconds (fresh by construction)."""
    checkpoint = report["checkpoint"]
    assert isinstance(checkpoint, dict)
    return int(datetime.datetime.fromisoformat(str(checkpoint["time"]).replace("Z", "+00:00"))
               .timestamp())
