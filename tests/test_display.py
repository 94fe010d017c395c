"""Text from statements: refused at signing and decoding if it holds control or
bidi characters (protocol.md section 2), and escaped by safe_text when shown."""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import cbor2
import msgspec
import pytest
from hypothesis import given, strategies as st

import provledger as pl
from provledger import _types, safe_text
from provledger._statement import protected_header, sig_structure

ROOT = Path(__file__).resolve().parents[1]
KEY = pl.SigningKey(b"\x07" * 32)
ITEM = "urn:provledger:item:0123456789abcdef:R-1"
ORIGIN = "test.example/ledger"
#: The characters protocol.md section 2 names, besides C0, DEL and C1.
BIDI = "\u061c\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e" \
       "\u2066\u2067\u2068\u2069\ufeff"
CONTROLS = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))
FORBIDDEN = CONTROLS + BIDI


@functools.cache
def _checker() -> ModuleType:
    """spec/tools/check_core_vectors.py, the checker that does not import provledger."""
    path = ROOT / "spec/tools/check_core_vectors.py"
    spec = importlib.util.spec_from_file_location("check_core_vectors", path)
    assert spec
    assert spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _unescape(text: str) -> str:
    """The inverse of safe_text, written from its docstring."""
    short = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t"}

    def one(m: re.Match[str]) -> str:
        escape = m.group(0)
        return short.get(escape) or chr(int(escape[2:], 16))

    return re.sub(r"\\(?:[\\nrt]|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})", one, text)


def _forge(event: dict[str, Any], etype: str, subject: str = ITEM) -> bytes:
    """A correctly signed statement built with cbor2 alone, past sign_statement's checks."""
    payload = cbor2.dumps({"v": 1, "log": ORIGIN, "prev": None, "time": 1_800_000_000,
                           "type": etype, "event": event, "signer": KEY.public_key,
                           "subject": subject}, canonical=True)
    protected = protected_header(KEY.public_key)
    signature = KEY.sign(sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))


def _repair(**fields: Any) -> pl.RepairRecorded:
    base: dict[str, Any] = {"work": "Polish", "category": "service", "started": 1,
                            "completed": 2, "performed_by": "Atelier Dupont"}
    return pl.RepairRecorded(**{**base, **fields})


def _sign(event: pl.Event, subject: str = ITEM) -> bytes:
    return pl.sign_statement(event, key=KEY, origin=ORIGIN, subject=subject, prev=None,
                             time=1_800_000_000)


# -- safe_text --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shown"), [
    ("Atelier Dupont", "Atelier Dupont"),
    ("\x1b[2J\x1b[3Jstatus active", "\\x1b[2J\\x1b[3Jstatus active"),
    ("a\rb\nc\td", "a\\rb\\nc\\td"),
    ("Maison \u202eesoR", "Maison \\u202eesoR"),
    ("C:\\x1b", "C:\\\\x1b"),
    ("\x7f\x9b\u2028\ufeff\U000e0041", "\\x7f\\x9b\\u2028\\ufeff\\U000e0041"),
    ("Müller & Söhne, 18 ct, 💍", "Müller & Söhne, 18 ct, 💍"),
])
def test_safe_text_examples(text: str, shown: str) -> None:
    assert safe_text(text) == shown
    assert _unescape(shown) == text


@given(st.text())
def test_safe_text_output_is_printable_and_reversible(text: str) -> None:
    shown = safe_text(text)
    assert shown.isprintable()
    assert not set(shown) & set(FORBIDDEN)
    assert _unescape(shown) == text  # so distinct inputs give distinct outputs


@given(st.text(), st.text())
def test_safe_text_is_injective(a: str, b: str) -> None:
    assert (safe_text(a) == safe_text(b)) == (a == b)


def test_safe_text_refuses_non_text() -> None:
    with pytest.raises(TypeError):
        safe_text(b"\x1b")  # type: ignore[arg-type]


# -- the character rule, at signing and decoding ----------------------------------------


@pytest.mark.parametrize("char", FORBIDDEN)
def test_every_forbidden_character_is_refused_in_one_line_text(char: str) -> None:
    with pytest.raises(pl.DecodeError, match=r"\$\.performed_by"):
        _sign(_repair(performed_by=f"Atelier{char}Dupont"))


@pytest.mark.parametrize("char", FORBIDDEN.replace("\n", ""))
def test_multi_line_text_allows_lf_and_nothing_else(char: str) -> None:
    _sign(_repair(work="Resized\nPolished", notes="one\ntwo\n"))
    with pytest.raises(pl.DecodeError, match=r"\$\.work"):
        _sign(_repair(work=f"Resized{char}"))
    with pytest.raises(pl.DecodeError, match=r"\$\.notes"):
        _sign(_repair(notes=f"x{char}"))


@pytest.mark.parametrize(("event", "field"), [
    (pl.CertificateIssued(kind="ring", serial="R-1", owner=KEY.public_key, size="54\n"),
     "size"),
    (pl.CertificateIssued(kind="ring", serial="R-1", owner=KEY.public_key,
                          inscription="A \u202e B"), "inscription"),
    (pl.CertificateIssued(kind="ring", serial="R-1", owner=KEY.public_key,
                          stones=[pl.Stone(kind="diamond", report="GIA\x1b]8;;x\x07")]),
     "stones[0].report"),
    (pl.StolenReported(reference="PP\r1"), "reference"),
    (_repair(parts=[pl.Part(name="prong", material="gold\x85")]), "parts[0].material"),
    (pl.AppraisalRecorded(method="lab", currency="EUR", appraiser="Lab\u2066",
                          value_minor=1), "appraiser"),
])
def test_every_kind_of_text_field_is_checked(event: pl.Event, field: str) -> None:
    with pytest.raises(pl.DecodeError, match=re.escape(f"$.{field}")):
        _sign(event)


def test_authority_name_with_an_override_is_refused() -> None:
    subject = pl.authority_subject(KEY.public_key)
    with pytest.raises(pl.DecodeError, match=r"role.granted: .*control or bidi.*\$\.name"):
        _sign(pl.RoleGranted(key=KEY.public_key, name="Maison \u202eesoR", role="issuer"),
              subject)


def test_a_forged_statement_with_escapes_does_not_decode() -> None:
    good = {"work": "Polish", "started": 1, "category": "service", "completed": 2,
            "performed_by": "Atelier Dupont"}
    assert pl.verify_statement(_forge(good, "repair.recorded")).event == _repair()
    forged = _forge({**good, "work": "Polish\x1b[2J\x1b[3J"}, "repair.recorded")
    with pytest.raises(pl.DecodeError, match=r"\$\.work"):
        pl.verify_statement(forged)
    with pytest.raises(_checker().InvalidError, match="U\\+001B"):
        _checker().check_statement(forged)


@pytest.mark.parametrize(("alias", "where"), [
    (_types.Currency, "EUR\n"), (_types.ItemId, ITEM + "\n"), (_types.Origin, ORIGIN + "\n"),
])
def test_patterns_do_not_let_a_final_lf_through(alias: Any, where: str) -> None:
    # "$" matches before a final newline; the patterns end in \Z.
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(where, alias, strict=True)
    msgspec.convert(where[:-1], alias, strict=True)


def test_a_subject_with_a_final_lf_is_refused() -> None:
    with pytest.raises(pl.DecodeError, match="subject"):
        _sign(pl.LostReported(), ITEM + "\n")


def test_library_and_independent_checker_agree_on_every_character() -> None:
    checker = _checker()
    for code in [*range(0x3000), *range(0xFE00, 0x10000), 0x1F48D, 0xE0041, 0x10FFFF]:
        if 0xD800 <= code <= 0xDFFF:
            continue  # not encodable as UTF-8, so never in CBOR text
        c = chr(code)
        line_ok = c not in checker.FORBIDDEN_IN_TEXT
        try:
            msgspec.convert(c, _types.ShortText, strict=True)
            assert line_ok, hex(code)
        except msgspec.ValidationError:
            assert not line_ok, hex(code)
        lines_ok = line_ok or c == "\n"
        try:
            msgspec.convert(c, _types.Notes, strict=True)
            assert lines_ok, hex(code)
        except msgspec.ValidationError:
            assert not lines_ok, hex(code)
