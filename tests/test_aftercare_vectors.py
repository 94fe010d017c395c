"""spec/vectors/aftercare: regenerate byte for byte, replay the story, refuse every invalid case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import provledger as pl

from . import vector_stories as stories

ROOT = stories.ROOT
VS = stories.VectorSet.load("aftercare")
META, VALID, INVALID = VS.meta, VS.valid, VS.invalid


def test_generator_reproduces_committed_vectors(tmp_path: Path) -> None:
    stories.assert_regenerates(VS, tmp_path)


def test_valid_story_reproduces_every_entry_and_state(tmp_path: Path) -> None:
    gen = VS.generator()
    with stories.replayed(VS, tmp_path, lambda ledger, v: gen.after(ledger, v["subject"],
                                                                    v["time"])) as ledger:
        ring = ledger.item(META["items"]["ring"])
        assert ring.owner == VS.key("bob")
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


@pytest.mark.parametrize("context", VS.contexts())
def test_invalid_statements_fail_with_the_named_error_and_change_nothing(
        tmp_path: Path, context: int) -> None:
    stories.assert_refused(VS, tmp_path, context, stories.bracketed())


def test_every_valid_statement_matches_the_cddl() -> None:
    stories.assert_cddl_accepts(VALID)


def test_schema_level_vectors_fail_the_cddl() -> None:
    stories.assert_cddl_refuses_schema_cases(VS)


def test_aftercare_md_quotes_the_cddl_verbatim() -> None:
    assert stories.quoted_cddl("aftercare.md").startswith("payload-care = ")
    stories.quoted_cddl("escrow.md")


def test_the_independent_checker_accepts_the_statements() -> None:
    stories.assert_core_checker_accepts(VS)


def _check_rules(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "spec/tools/check_aftercare_vectors.py"),
                           str(directory)], capture_output=True, text=True, check=False)


def test_the_independent_rules_checker_agrees_with_every_vector() -> None:
    out = _check_rules(VS.directory)
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
