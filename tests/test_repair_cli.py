"""`provledger repair`: a repair's status, step by step, online and signed offline;
the one-step record as before; late against the promise; no escrow while the
piece is at the workshop. Real key files, real SQLite."""

from __future__ import annotations

import time

import pytest

from .conftest import snapshot
from .test_care_cli import base_care, care
from .test_escrow_cli import Shop, offer_args

__all__ = ["base_care", "care"]  # fixtures, imported for pytest

RECORD = ("--category", "resize", "--work", "Resized from 52 to 54", "--performed-by",
          "Atelier", "--started", "2026-11-20", "--completed", "2026-11-21")


def request(shop: Shop, *extra: str, key: str = "client") -> str:
    out = shop.json("repair", "request", shop.item, "--key", shop.key(key), "--category",
                    "repair", "--work", "Re-tip claws", "--promised", "+14d", *extra)
    assert out["type"] == "repair.requested"
    return str(out["hash"])


def repairs(shop: Shop) -> list[dict[str, object]]:
    shown = shop.json("history", shop.item)["repairs"]
    assert isinstance(shown, list)
    return shown


def test_the_one_step_record_works_as_before(care: Shop) -> None:
    old = care.json("repair", care.item, "--key", care.key("atelier"), *RECORD)
    assert old["type"] == "repair.recorded"
    # Options first, as click always allowed, and the subcommand's own name.
    care.ok("repair", "--key", care.key("atelier"), care.item, *RECORD)
    care.ok("repair", "record", care.item, "--key", care.key("atelier"), *RECORD)
    shown = repairs(care)
    assert [(r["status"], r["one_step"], r["workshop_name"]) for r in shown] == \
        [("collected", True, "Atelier")] * 3
    assert shown[0]["id"] == old["hash"]
    help_text = care.ok("repair", "--help").stdout
    for verb in ("record", "request", "receive", "progress", "ready", "collect", "cancel"):
        assert f"  {verb} " in help_text, verb


def test_a_repair_step_by_step(care: Shop) -> None:
    repair = request(care)
    [shown] = repairs(care)
    assert (shown["id"], shown["status"], shown["workshop"], shown["late"]) == \
        (repair, "requested", None, False)
    received = care.json("repair", "receive", care.item, "--key", care.key("atelier"),
                         "--grade", "good", "--photo", care / "ring.jpg")
    assert (received["type"], received["repair"]) == ("repair.received", repair)
    # The piece is at the workshop: no escrow, and no second open repair.
    before = snapshot(care / "rings.db")
    assert "workshop" in care.fails(3, *offer_args(care))
    care.fails(3, "repair", "request", care.item, "--key", care.key("client"), "--category",
               "cleaning", "--work", "Polish", "--promised", "+3d")
    # Only the workshop that took it moves it on.
    care.fails(3, "repair", "progress", care.item, "--key", care.key("maison"),
               "--stage", "in_progress")
    assert snapshot(care / "rings.db") == before
    for stage in ("in_progress", "waiting_parts", "in_progress"):
        care.ok("repair", "progress", care.item, "--key", care.key("atelier"),
                "--stage", stage, "--expected", "+10d")
        assert repairs(care)[0]["status"] == stage
    care.ok("repair", "ready", care.item, "--key", care.key("atelier"),
            "--part", "name=claw tip,count=4,material=platinum")
    [shown] = repairs(care)
    assert (shown["status"], shown["at_workshop"], shown["workshop_name"]) == \
        ("ready", True, "Atelier")
    assert shown["ready"] is not None
    care.ok("repair", "collect", care.item, "--key", care.key("client"))
    [shown] = repairs(care)
    assert (shown["status"], shown["at_workshop"], shown["late"]) == \
        ("collected", False, False)
    text = care.ok("history", care.item).stdout
    assert f"repair       {repair} repair by Atelier: collected" in text
    assert ", on time" in text
    # Nothing is open any more: a step without --repair says so.
    assert "no open repair" in care.fails(2, "repair", "ready", care.item, "--key",
                                          care.key("atelier"))


def test_cancelled_at_the_workshop_then_collected(care: Shop) -> None:
    request(care, key="atelier")
    [shown] = repairs(care)
    assert (shown["workshop_name"], shown["status"]) == ("Atelier", "requested")
    care.ok("repair", "receive", care.item, "--key", care.key("atelier"), "--grade", "good")
    care.fails(2, "repair", "cancel", care.item, "--key", care.key("client"))  # no --reason
    care.ok("repair", "cancel", care.item, "--key", care.key("client"), "--reason",
            "quote too high")
    [shown] = repairs(care)
    assert (shown["status"], shown["at_workshop"]) == ("cancelled", True)
    care.fails(3, *offer_args(care))  # still at the workshop
    care.ok("repair", "collect", care.item, "--key", care.key("client"))
    [shown] = repairs(care)
    assert (shown["status"], shown["at_workshop"]) == ("cancelled", False)
    care.ok(*offer_args(care))


def test_offline_steps_then_submit(care: Shop) -> None:
    repair = request(care)
    signed = care.json("repair", "receive", care.item, "--key", care.key("atelier"),
                       "--grade", "good", "-o", care / "receive.cose")
    assert (signed["repair"], signed["type"]) == (repair, "repair.received")
    assert repairs(care)[0]["status"] == "requested"  # only signed
    care.ok("submit", care / "receive.cose")
    assert repairs(care)[0]["status"] == "received"
    usage = care.fails(2, "repair", "ready", care.item, "--key", care.key("atelier"),
                       "-o", care / "ready.cose", db="absent.db")
    assert "--repair" in usage
    bad = care.fails(2, "repair", "ready", care.item, "--key", care.key("atelier"),
                     "--repair", "xyz", "-o", care / "ready.cose")
    assert "64 hex" in bad


@pytest.mark.parametrize("ready", [False, True])
def test_late_against_the_promise(care: Shop, ready: bool) -> None:
    """Late is judged at the log's time: the ledger's last entry for history."""
    repair = request(care, "--promised", "+1s")
    care.ok("repair", "receive", care.item, "--key", care.key("atelier"), "--grade", "good")
    time.sleep(2.1)
    if ready:
        care.ok("repair", "ready", care.item, "--key", care.key("atelier"))
    else:
        care.ok("repair", "progress", care.item, "--key", care.key("atelier"),
                "--stage", "waiting_parts")
    [shown] = repairs(care)
    assert (shown["id"], shown["late"]) == (repair, True)
    assert "LATE" in care.ok("history", care.item).stdout
