"""spec/vectors/recovery: regenerate byte for byte, replay the story, refuse every invalid case."""

from __future__ import annotations

from pathlib import Path

import pytest

import provledger as pl

from . import vector_stories as stories

VS = stories.VectorSet.load("recovery")


def test_generator_reproduces_committed_vectors(tmp_path: Path) -> None:
    stories.assert_regenerates(VS, tmp_path)


def test_valid_story_reproduces_every_entry_and_state(tmp_path: Path) -> None:
    gen = VS.generator()
    with stories.replayed(VS, tmp_path, lambda ledger, v: gen.after(ledger, v["subject"])
                          ) as ledger:
        ring = ledger.item(VS.meta["items"]["ring"])
        assert ring.owner == VS.key("carol")
        bracelet = ledger.item(VS.meta["items"]["bracelet"])
        assert (bracelet.owner, bracelet.status) == (VS.key("bob-2"), "active")


def test_the_story_covers_every_owner_key_event_and_each_rule() -> None:
    types = {v["type"] for v in VS.valid}
    assert {"owner.rotated", "recovery.started", "recovery.cancelled"} <= types
    rules = {v["rule"] for v in VS.invalid if v["rule"]}
    for rule in ("owner-rotates", "not-in-escrow", "one-pending", "new-key", "starter",
                 "time-lock", "known-recovery", "pending-only", "canceller",
                 "no-sale-while-pending"):
        assert f"recovery rule: {rule}" in rules, rule
    # The last-second cancel and the completion at the effective second are in the story.
    by_name = {v["name"]: v for v in VS.valid}
    start = by_name["start-rogue"]
    cancel = by_name["cancel-last-second"]
    assert cancel["time"] == start["after"]["recovery"]["effective"] - 1
    assert cancel["after"]["recovery"]["state"] == "cancelled"
    assert VS.meta["lock"] == pl.RECOVERY_LOCK == 604800


@pytest.mark.parametrize("context", VS.contexts())
def test_invalid_statements_fail_with_the_named_error_and_change_nothing(
        tmp_path: Path, context: int) -> None:
    stories.assert_refused(VS, tmp_path, context, stories.bracketed(required=True))


def test_every_statement_matches_the_cddl() -> None:
    stories.assert_cddl_accepts([*VS.valid, *VS.invalid])


def test_recovery_md_quotes_the_cddl_verbatim() -> None:
    assert stories.quoted_cddl("recovery.md").startswith("payload-owner-key = ")


def test_the_independent_checker_accepts_the_statements() -> None:
    stories.assert_core_checker_accepts(VS)
