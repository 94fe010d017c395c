"""Signed free text on the command line: refused at signing when it holds
control or bidi characters, and escaped whenever it is printed."""

from __future__ import annotations

from pathlib import Path

import pytest

import provledger
from provledger._state import PlanState, RepairState
from provledger_cli import _render

from .test_cli import REPAIR, Shop, assert_error, base_shop, db_fingerprint, shop

__all__ = ["base_shop", "shop"]  # fixtures, imported for pytest

EVIL = "\x1b[2J\x1b[3J\x1b[H\rstatus       active\u202e"


@pytest.mark.parametrize(("option", "text"), [
    ("--work", "Polish\x1b[2J"),
    ("--work", "Polish\rstatus active"),
    ("--performed-by", "Atelier \u202eesoR"),
    ("--notes", "ok\x9b2J"),
    ("--notes", "tab\there"),
])
def test_repair_with_control_characters_is_refused_and_appends_nothing(
        shop: Shop, option: str, text: str) -> None:
    args = dict(zip(REPAIR[::2], REPAIR[1::2], strict=True))
    args[option] = text
    before = db_fingerprint(shop.db)
    line = assert_error(shop.run("repair", shop.item, "--key", shop / "atelier.key",
                                 *[x for kv in args.items() for x in kv]), 4,
                        contains="control or bidi characters")
    assert f"$.{option[2:].replace('-', '_')}" in line
    assert "\x1b" not in line
    assert db_fingerprint(shop.db) == before


def test_offline_signing_refuses_too_and_writes_no_file(shop: Shop) -> None:
    out = shop / "evil.cose"
    assert_error(shop.run("repair", shop.item, "--key", shop / "atelier.key", *REPAIR[:2],
                          "--work", EVIL, *REPAIR[4:], "-o", out), 4, contains="$.work")
    assert not out.exists()


def test_authority_name_with_an_override_is_refused(shop: Shop) -> None:
    before = db_fingerprint(shop.db)
    assert_error(shop.run("authorize", "--key", shop / "maison.key", "--role", "service",
                          "--name", "Atelier \u202eesoR", shop / "client.pub"), 4,
                 contains="$.name")
    assert db_fingerprint(shop.db) == before


def test_history_shows_multi_line_work_and_backslashes_on_one_escaped_line(shop: Shop) -> None:
    shop.ok("repair", shop.item, "--key", shop / "atelier.key", *REPAIR[:2],
            "--work", 'Resized\nsaid "54" C:\\x1b', *REPAIR[4:])
    human = shop.ok("history", shop.item).stdout
    line = next(x for x in human.splitlines() if x.lstrip().startswith("work: "))
    assert line.endswith('work: Resized\\nsaid "54" C:\\\\x1b')
    assert human.isprintable() or set(human) - set(human.replace("\n", "")) == {"\n"}
    assert shop.json("history", shop.item)["events"][-1]["fields"]["work"] == \
        'Resized\nsaid "54" C:\\x1b'


def _printable_lines(lines: list[str]) -> bool:
    return all(line.isprintable() for line in lines)


def test_a_field_value_is_escaped_whatever_reaches_it() -> None:
    # Text from a ledger written before the character rule, or by another
    # implementation: the display must not depend on decoding having refused it.
    for value in (EVIL, ["A\u202eB"], {"x\x1b": "A\u202eB"}):
        shown = _render._value("work", value)
        assert shown.isprintable(), shown
        assert "\\x1b" in shown or "\\u202e" in shown


def test_verify_report_escapes_every_name_and_field() -> None:
    cp = provledger.CheckpointInfo(origin="log.example/x\x1b", size=3, time=1_800_000_000,
                                   root=bytes(32), heads=bytes(32), note="")
    event = provledger.EventView(
        index=1, time=1_800_000_000, type="repair.recorded", signer=bytes(32),
        signed_as=EVIL, invalidated=False,
        fields={"work": EVIL, "parts": [{"name": EVIL, "material": "\u2066x"}],
                "started": 1_800_000_000, "photos_after": [bytes(32)]})
    cert = provledger.EventView(
        index=0, time=1_800_000_000, type="cert.issued", signer=bytes(32),
        signed_as="Maison\u202e", invalidated=False,
        fields={"kind": "ring", "inscription": EVIL, "owner": bytes(32),
                "stones": [{"kind": "diamond", "report": "GIA\x07"}]})
    report = provledger.Report(
        item="urn:provledger:item:x:R-1\x1b", status="active", owner=bytes(32),
        issuer="provledger:authority:" + "00" * 32, issuer_name=EVIL,
        attested_by=(EVIL,), certificate=bytes(32), events=(cert, event), checkpoint=cp,
        warnings=(EVIL,), as_of=1_800_000_000,
        plans=(provledger.PlanView(1, PlanState(
            id=bytes(32), provider=EVIL, tier=EVIL, starts=1, ends=2_000_000_000,
            terms=bytes(32), transfer="with_piece", credits=1, credit_minor=5, currency=EVIL),
            EVIL, "active", 1, 5, (EVIL,)),),
        repairs=(provledger.RepairView(1, RepairState(
            id=bytes(32), status="ready", workshop=EVIL, promised=1_700_000_000,
            ready=1_800_000_000), EVIL, EVIL, "", late=True),))
    lines = _render.history_lines(report, now=1_800_000_100)
    assert _printable_lines(lines), [x for x in lines if not x.isprintable()]
    assert sum(x.startswith("status") for x in lines) == 1  # the forged one is inline
    assert any(x.startswith("plan ") and "\\x1b[2J" in x for x in lines)
    assert any(x.startswith("repair ") and "\\x1b[2J" in x for x in lines)
    assert any("LATE" in x for x in lines)
    assert any("\\x1b[2J" in x for x in lines)


def test_error_messages_are_escaped_too(shop: Shop) -> None:
    line = assert_error(shop.run("history", "urn:provledger:item:x:R-9\x1b[2J\u202e"), 6)
    assert line.isprintable()
    assert "\\x1b[2J\\u202e" in line


def test_json_output_cannot_carry_a_raw_escape(shop: Shop, tmp_path: Path) -> None:
    shop.ok("repair", shop.item, "--key", shop / "atelier.key", *REPAIR[:2],
            "--work", "a\nb", *REPAIR[4:])
    out = shop.ok("history", shop.item, "--json").stdout
    assert "\x1b" not in out
    assert "a\\nb" in out
