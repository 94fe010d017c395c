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
    # The engraving and the notes are committed; the note on the loss was erased.
    assert "inscription: C & D 2026" in out
    assert re.search(r"^erased 1 disclosure\(s\) of ", out, re.MULTILINE), out
    assert b"C & D 2026" not in _bytes_of(day / "rings.db")
    assert b"C & D 2026" in _bytes_of(day / "rings.disclosures.db")
    assert b"lost while travelling" not in _bytes_of(day / "rings.disclosures.db")
    assert b"Ultrasonic clean" in (day / "cleaning.cose.disclosures").read_bytes()
    assert b"Ultrasonic clean" not in (day / "cleaning.cose").read_bytes()

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
    assert re.search(r"^  18 entries, 4 chains, 1 checkpoint\(s\): all verified", out,
                     re.MULTILINE), out
    for line in ("cert.issued", "cert.attested", "repair.recorded", "appraisal.recorded",
                 "care.enrolled", "repair.requested", "repair.received", "repair.progress",
                 "repair.ready", "repair.collected", "care.consented", "care.redeemed",
                 "escrow.opened", "escrow.accepted", "escrow.acknowledged"):
        assert line in out
    # The verifier reads the plan and the credit-paid repair from the bundle.
    assert "care plan Gold by Maison Exemple Joaillier: active, credits left 1 and 150.00 EUR" \
        in out
    # The public bundle withholds the committed work description.
    assert "repair (work not disclosed): collected, on time, paid from the care plan" in out
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
    [plan] = report["plans"]
    assert (plan["tier"], plan["credits"], plan["transfer"]) == ("Gold", 1, "with_piece")
    assert [(r["status"], r["paid_by"]) for r in report["repairs"]] == [
        ("collected", None), ("collected", plan["id"])]
    assert [p.id.hex() for p in verified.plans] == [plan["id"]]
    with provledger.Ledger.open(out_dir / "ledger.db", readonly=True) as ledger:
        assert ledger.audit().size == 18
    _check_privacy(out, out_dir, policy)

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


#: The demo's committed texts (examples/demo.py).
INSCRIPTION = "Alice & Marc, 14.02.2026"
REPAIR_NOTES = "Alice Martin asked for a snug fit; call +33 6 12 34 56 78 when ready"


def _bytes_of(path: Path) -> bytes:
    """A SQLite file's bytes and its -wal's, if there is one."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _check_privacy(out: str, out_dir: Path, policy: provledger.Policy) -> None:
    """Issue 17's "done when", on the demo's own files: the inscription and the
    repair notes are not in the ledger file; the new owner's bundle shows
    them; the erased notes cannot be exported, and everything still verifies."""
    inscription, notes = INSCRIPTION.encode(), REPAIR_NOTES.encode()
    ledger_file = _bytes_of(out_dir / "ledger.db")
    assert inscription not in ledger_file
    assert notes not in ledger_file
    # The disclosures file kept them until the erasure: the backup made
    # before it (the monitor's) still holds both, beside backup.db only.
    assert inscription in _bytes_of(out_dir / "backup.disclosures.db")
    assert notes in _bytes_of(out_dir / "backup.disclosures.db")
    assert notes not in (out_dir / "backup.db").read_bytes()
    private = _bytes_of(out_dir / "ledger.disclosures.db")
    assert inscription in private
    assert notes not in private  # erased
    for public in ("ring.bundle", "ring-listed.bundle"):
        assert inscription not in (out_dir / public).read_bytes()
        assert notes not in (out_dir / public).read_bytes()
    for path in (out_dir / "site").rglob("*"):
        if path.is_file():
            assert inscription not in path.read_bytes(), path
            assert notes not in path.read_bytes(), path
    # Bob's bundle discloses both; the one exported after the erasure only the inscription.
    assert f"inscription: {INSCRIPTION}" in out
    assert f"notes: {REPAIR_NOTES}" in out
    for name, shown in (("ring-for-bob.bundle", True), ("ring-after-erasure.bundle", False)):
        data = (out_dir / name).read_bytes()
        assert inscription in data
        assert (notes in data) is shown
        report = provledger.verify_bundle(data, policy=policy, now=int(
            datetime.datetime.now(datetime.UTC).timestamp()))
        [resize] = [e for e in report.events if e.type == "repair.recorded"]
        assert (resize.fields.get("notes") == REPAIR_NOTES) is shown
    assert re.search(r"erased 1 disclosure\(s\) of \S+RING-0001", out), out
    assert re.search(r"^  audit ok: 18 entries, 4 subjects, 0 invalidated, 2 checkpoints", out,
                     re.MULTILINE), out


def report_time(report: dict[str, object]) -> int:
    """The checkpoint's time in a report, as Unix seconds (fresh by construction)."""
    checkpoint = report["checkpoint"]
    assert isinstance(checkpoint, dict)
    return int(datetime.datetime.fromisoformat(str(checkpoint["time"]).replace("Z", "+00:00"))
               .timestamp())


def test_aftercare_example_pays_a_late_repair_with_a_credit_and_resells(
        tmp_path: Path) -> None:
    out_dir = tmp_path / "aftercare"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "aftercare.py"), str(out_dir)],
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # What the rules refuse along the way, each for its own reason.
    assert re.search(r"refused: StateError: .*\[escrow rule: at-workshop\]", out), out
    assert re.search(r"refused: UnauthorizedError: .*\[care rule: consent\]", out), out
    assert "never paid twice" in out
    assert "The ring is ready, 2 days after the promise" in out
    assert "plan Gold by Maison Exemple: active, credits left 1 and 150.00 EUR, goes with " \
           "the piece" in out
    assert "repair 'Re-tip four claws' by Atelier Exemple: collected, late, paid with a " \
           "Gold credit" in out

    # The bundle verifies again, here, and says the same: read from it alone.
    policy = provledger.read_policy(out_dir / "policy.txt")
    report = json.loads((out_dir / "ring.report.json").read_text())
    verified = provledger.verify_bundle((out_dir / "ring.bundle").read_bytes(), policy=policy,
                                        now=report_time(report), item=report["item"])
    assert verified.to_json()["plans"] == report["plans"]
    [plan] = verified.plans
    [repair] = verified.repairs
    assert (plan.status, plan.credits, plan.credit_minor) == ("active", 1, 15_000)
    assert (repair.repair.status, repair.late, repair.repair.paid_by) == (
        "collected", True, plan.id)
    [escrow] = verified.escrows
    assert escrow.offer.terms.plans == [plan.id]
    assert verified.owner == verified.escrows[0].escrow.buyer
    # The CLI verifies it too, as the closing hint says.
    hint = out[out.index("try: provledger verify "):].split("\n")[0]
    args = hint.removeprefix("try: provledger ").split()
    shown = subprocess.run([str(_cli()), *args], env=_env(), capture_output=True, text=True,
                           timeout=TIMEOUT, check=False)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "LATE" in shown.stdout
    assert "Gold by Maison Exemple: active" in shown.stdout


def test_recovery_example_recovers_a_lost_key_and_foils_a_stranger(tmp_path: Path) -> None:
    out_dir = tmp_path / "recovery"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "recovery.py"), str(out_dir)],
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"refused: PolicyError: .*\[recovery rule: time-lock\]", out), out
    assert re.search(r"refused: StateError: .*\[recovery rule: no-sale-while-pending\]", out)
    assert "Bob's app warns: owner key recovery pending" in out
    assert re.search(r"refused: UnauthorizedError: .*\[escrow rule: owner-opens\]", out), out
    assert "ring.bundle verified offline: owner Carol, status active" in out
    assert "recovery to Alice's new phone started by Maison Exemple" in out
    assert "recovery to a stranger started by Assurance Exemple (caller says the phone " \
           "was lost): cancelled" in out

    # The bundles verify again, here, from themselves alone.
    policy = provledger.read_policy(out_dir / "policy.txt")
    for name, states in (("ring", ["completed"]), ("pendant", ["cancelled"])):
        report = json.loads((out_dir / f"{name}.report.json").read_text())
        verified = provledger.verify_bundle(
            (out_dir / f"{name}.bundle").read_bytes(), policy=policy,
            now=report_time(report), item=report["item"])
        assert [r.recovery.state for r in verified.recoveries] == states
        assert verified.to_json()["recoveries"] == report["recoveries"]
    hint = out[out.index("try: provledger verify "):].split("\n")[0]
    args = hint.removeprefix("try: provledger ").split()
    shown = subprocess.run([str(_cli()), *args], env=_env(), capture_output=True, text=True,
                           timeout=TIMEOUT, check=False)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert re.search(r"recovery +[0-9a-f]{64} completed", shown.stdout), shown.stdout


def test_rules_example_refuses_a_sale_naming_the_rule_and_a_market_requires_a_gemologist(
        tmp_path: Path) -> None:
    out_dir = tmp_path / "rules"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "rules.py"), str(out_dir)],
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"refused: TransferRuleError \(inspection_days\): .*"
                     r"\[transfer rule: inspection_days\]", out), out
    assert "escrow" in out.split("Atelier inspects")[1]
    assert "marketplace refuses the listing: requirement: missing an attestation by a " \
           "gemologist (required at or above 5,000.00 EUR" in out
    assert "marketplace lists the ring: active, attested by Laboratoire Gemmologique; sold " \
           "under rules version 1" in out

    # The bundle verifies again, here, under the marketplace's policy.
    policy = provledger.read_policy(out_dir / "policy.txt")
    assert [r.to_line() for r in policy.requirements] == [
        "require attestation gemologist above 500000 EUR"]
    report = json.loads((out_dir / "ring.report.json").read_text())
    verified = provledger.verify_bundle((out_dir / "ring.bundle").read_bytes(), policy=policy,
                                        now=report_time(report), item=report["item"])
    assert verified.to_json()["rules"] == report["rules"]
    assert report["rules"]["version"] == 1
    hint = out[out.index("try: provledger verify "):].split("\n")[0]
    args = hint.removeprefix("try: provledger ").split()
    shown = subprocess.run([str(_cli()), *args], env=_env(), capture_output=True, text=True,
                           timeout=TIMEOUT, check=False)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "rules        version 1" in shown.stdout
