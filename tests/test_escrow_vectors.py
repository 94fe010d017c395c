"""spec/vectors/escrow: regenerate byte for byte, replay the story, refuse every invalid case."""

from __future__ import annotations

from pathlib import Path

import pytest

import provledger as pl

from . import vector_stories as stories

VS = stories.VectorSet.load("escrow")


def test_generator_reproduces_committed_vectors(tmp_path: Path) -> None:
    stories.assert_regenerates(VS, tmp_path)


def test_valid_story_reproduces_every_entry_and_state(tmp_path: Path) -> None:
    gen = VS.generator()
    with stories.replayed(VS, tmp_path, lambda ledger, v: gen.after(ledger, v["subject"])
                          ) as ledger:
        ring = pl.item_report(ledger, VS.meta["items"]["ring"])
        assert [e.state for e in ring.escrows] == [
            "completed", "returned", "declined", "cancelled", "expired", "completed",
            "returned"]
        assert ring.to_json()["owner"] == VS.meta["keys"]["carol"]["public_key"]


@pytest.mark.parametrize("context", VS.contexts())
def test_invalid_statements_fail_with_the_named_error_and_change_nothing(
        tmp_path: Path, context: int) -> None:
    stories.assert_refused(VS, tmp_path, context, stories.bracketed("escrow rule: "))


def test_every_valid_statement_matches_the_cddl() -> None:
    stories.assert_cddl_accepts(VS.valid)


def test_schema_level_vectors_fail_the_cddl() -> None:
    stories.assert_cddl_refuses_schema_cases(VS)


def test_escrow_md_quotes_the_cddl_verbatim() -> None:
    assert stories.quoted_cddl("escrow.md").startswith("payload-escrow = ")
