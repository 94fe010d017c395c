"""Verification is carried by types (issue 12): decoding gives an
UnverifiedStatement; only a signature check gives a Statement."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api as mypy_api

import provledger as pl
from provledger._parallel import SignatureChecks
from provledger._statement import Statement, UnverifiedStatement, decode_statement

from .conftest import ORIGIN, key


def _statement(serial: str = "R-1") -> bytes:
    jeweler = key("jeweler")
    return pl.sign_statement(
        pl.CertificateIssued(kind="ring", serial=serial, owner=key("owner").public_key),
        key=jeweler, origin=ORIGIN, subject=pl.serial_item_id(jeweler.public_key, serial),
        prev=None, time=1)


def test_decoding_does_not_verify_and_verifying_does() -> None:
    data = _statement()
    assert type(decode_statement(data)) is UnverifiedStatement
    assert type(pl.verify_statement(data)) is Statement


def test_checks_turn_decoded_statements_into_verified_ones_only_when_they_pass() -> None:
    good, other = _statement("R-1"), _statement("R-2")
    bad = good[:-1] + bytes([good[-1] ^ 1])
    checks = SignatureChecks([good, other], processes=0)
    verified = checks.verified([decode_statement(good), decode_statement(other)])
    assert [type(s) for s in verified] == [Statement, Statement]
    with pytest.raises(ValueError, match="not the ones"):
        SignatureChecks([good, other], processes=0).verified(
            [decode_statement(other), decode_statement(good)])
    with pytest.raises(pl.SignatureError):
        SignatureChecks([good, bad], processes=0).verified(
            [decode_statement(good), decode_statement(bad)])


def test_mypy_refuses_an_unverified_statement_where_a_verified_one_is_needed(
        tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "from provledger._statement import Statement, decode_statement\n"
        "def needs(statement: Statement) -> None: ...\n"
        "needs(decode_statement(b''))\n")
    out, _, status = mypy_api.run([str(snippet), "--strict", "--no-incremental",
                                   "--follow-imports=silent"])
    assert status == 1
    assert 'incompatible type "UnverifiedStatement"; expected "Statement"' in out
