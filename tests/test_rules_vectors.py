"""spec/vectors/rules: the generator reproduces them byte for byte, the valid
story replays to the same entries and states, every invalid statement fails
as stated and changes nothing, and events.cddl agrees with the schema level."""

from __future__ import annotations

from pathlib import Path

import pytest

import provledger as pl

from . import vector_stories as stories

VS = stories.VectorSet.load("rules")


def test_generator_reproduces_committed_vectors(tmp_path: Path) -> None:
    stories.assert_regenerates(VS, tmp_path)


def test_valid_story_reproduces_every_entry_and_state(tmp_path: Path) -> None:
    gen = VS.generator()
    with stories.replayed(VS, tmp_path, lambda ledger, v: gen.after(ledger, v["subject"])
                          ) as ledger:
        ring = pl.item_report(ledger, VS.meta["items"]["ring"])
        assert ring.rules is not None
        assert ring.rules.version == 1
        assert ring.rules.met == (ring.escrows[-1].id,)
        assert ring.to_json()["owner"] == VS.meta["keys"]["bob"]["public_key"]


def _rule_named(exc: pl.ProvLedgerError, v: stories.Vector) -> None:
    """Each refusal gives its code; a broken transfer rule is an attribute and in the text."""
    assert exc.code == v["code"]
    if v["rule"]:
        assert getattr(exc, "rule", None) == v["rule"], v["name"]
    stories.bracketed("transfer rule: ")(exc, v)


@pytest.mark.parametrize("context", VS.contexts())
def test_invalid_statements_fail_with_the_named_error_and_change_nothing(
        tmp_path: Path, context: int) -> None:
    stories.assert_refused(VS, tmp_path, context, _rule_named)


def test_the_cddl_accepts_every_valid_statement_and_refuses_the_schema_cases() -> None:
    stories.assert_cddl_accepts(VS.valid)
    assert stories.assert_cddl_refuses_schema_cases(VS) == 3
