"""spec/history.schema.json: every --json history of verify, history and transfer
status matches it, says the same status, and writes every time as RFC 3339."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .test_care_cli import ENROL, base_care, care
from .test_escrow_cli import Shop, base_shop, offer_args, shop

__all__ = ["base_care", "base_shop", "care", "shop"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "spec" / "history.schema.json").read_text())
VECTORS = ROOT / "spec" / "vectors" / "bundle"
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
#: Keys that name a moment (not a duration such as the checkpoint's "age").
TIME_KEYS = {"time", "started", "completed", "offer_expires", "inspection_ends",
             "compromised_since", "starts", "ends", "promised", "expected", "requested",
             "ready", "renewed", "as_of", "effective"}


def valid(document: Any) -> Any:
    """``document``, after checking it against the schema and its times."""
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    for key, value in _walk(document):
        if key in TIME_KEYS and value is not None:
            assert isinstance(value, str), (key, value)
            assert RFC3339.fullmatch(value), (key, value)
    return document


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def _reports(shop: Shop, *disclose: str) -> tuple[Any, Any, Any]:
    """The item as history, transfer status and verify (of a fresh bundle,
    exported with ``disclose``, by default every committed text, as the
    ledger's own views show it) report it."""
    history = valid(shop.json("history", shop.item))
    status = valid(shop.json("transfer", "status", shop.item))
    bundle = shop / f"ring-{len(history['events'])}{'-'.join(('', *disclose))}.bundle"
    shop.ok("export", shop.item, "-o", bundle, "--checkpoint", shop / "rings-keys/log.key",
            *[a for d in disclose or ("all",) for a in ("--disclose", d)])
    policy = shop / "rings.policy"
    if not policy.exists():
        shop.ok("policy", "-o", policy)
    verified = valid(shop.json("verify", bundle, "--policy", policy, "--item", shop.item))
    assert verified["checkpoint"] is not None
    assert history["checkpoint"] is None
    assert status["checkpoint"] is None
    return history, status, verified


def test_the_committed_vector_report_matches_the_schema() -> None:
    valid(json.loads((VECTORS / "valid.report.json").read_text()))


def test_every_escrow_state_reads_alike_in_every_command(shop: Shop) -> None:
    reports = _reports(shop)
    assert [r["status"] for r in reports] == ["active"] * 3
    assert [r["escrows"] for r in reports] == [[]] * 3

    shop.ok(*offer_args(shop))
    reports = _reports(shop)
    assert [r["status"] for r in reports] == ["in escrow"] * 3
    assert [r["escrows"][-1]["state"] for r in reports] == ["offered"] * 3
    escrow = reports[0]["escrows"][-1]["id"]

    shop.ok("transfer", "accept", shop.item, "--key", shop.key("buyer"), "--escrow", escrow)
    reports = _reports(shop)
    assert [r["status"] for r in reports] == ["in escrow"] * 3
    assert [r["escrows"][-1]["state"] for r in reports] == ["accepted"] * 3

    shop.ok("transfer", "acknowledge", shop.item, "--key", shop.key("buyer"),
            "--escrow", escrow)
    reports = _reports(shop)
    assert [r["status"] for r in reports] == ["active"] * 3
    assert [r["owner"] for r in reports] == [shop.pub("buyer")] * 3
    assert [r["escrows"][-1]["state"] for r in reports] == ["completed"] * 3
    # One model: the three agree on everything they share (a ledger's reference
    # time is its last entry's, a bundle's its checkpoint's).
    history, status, verified = reports
    assert history == status
    shared = set(history) - {"checkpoint", "checks", "as_of"}
    assert {k: history[k] for k in shared} == {k: verified[k] for k in shared}


def test_plans_and_repairs_read_alike_in_every_command(care: Shop) -> None:
    care.ok("care", "enrol", care.item, "--key", care.key("maison"), *ENROL)
    care.ok("repair", "request", care.item, "--key", care.key("client"), "--category",
            "repair", "--work", "Re-tip claws", "--promised", "2099-01-01")
    care.ok("repair", "receive", care.item, "--key", care.key("atelier"), "--grade", "good")
    care.ok("repair", "progress", care.item, "--key", care.key("atelier"), "--stage",
            "waiting_parts", "--expected", "2098-12-01")
    history, status, verified = _reports(care)
    assert history["plans"] == status["plans"] == verified["plans"]
    assert history["repairs"] == status["repairs"] == verified["repairs"]
    [plan], [repair] = verified["plans"], verified["repairs"]
    assert (plan["tier"], plan["status"], plan["credits"]) == ("Gold", "active", 2)
    assert (repair["status"], repair["promised"], repair["late"], repair["at_workshop"]) == (
        "waiting_parts", "2099-01-01T00:00:00Z", False, True)
    assert verified["as_of"] == verified["checkpoint"]["time"]
    assert history["as_of"] == history["events"][-1]["time"]
    progress = verified["events"][-1]
    assert progress["fields"]["expected"] == "2098-12-01T00:00:00Z"


def test_withheld_and_disclosed_texts_read_alike_in_every_command(care: Shop) -> None:
    """The CLI commits every free text: a bundle exported without disclosures
    shows none of it, counts it as withheld and still verifies; one that
    discloses ``work`` shows exactly that, as the ledger's own history does."""
    care.ok("repair", "request", care.item, "--key", care.key("client"), "--category",
            "repair", "--work", "Re-tip claws", "--notes", "Call Ann on 0700 900123",
            "--promised", "2099-01-01")
    history, _, disclosed = _reports(care, "work")
    *_, requested = history["events"]
    assert requested["disclosed"] == ["notes", "work"]
    assert "withheld" not in requested
    assert "clear" not in requested
    assert requested["fields"]["notes"] == "Call Ann on 0700 900123"
    shown = disclosed["events"][-1]
    assert (shown["withheld"], shown["disclosed"]) == (1, ["work"])
    assert shown["fields"]["work"] == "Re-tip claws"
    assert "notes" not in shown["fields"]
    assert "sd" not in shown["fields"]
    assert disclosed["repairs"] == history["repairs"]

    bundle = care / "withheld.bundle"
    care.ok("export", care.item, "-o", bundle)
    assert b"Re-tip" not in bundle.read_bytes()
    assert b"0700" not in bundle.read_bytes()
    withheld = valid(care.json("verify", bundle, "--policy", care / "rings.policy",
                               "--item", care.item))
    shown = withheld["events"][-1]
    assert shown["withheld"] == 2
    assert "disclosed" not in shown
    assert "work" not in shown["fields"]
    assert "notes" not in shown["fields"]
    assert [r["work"] for r in withheld["repairs"]] == [""]


def test_a_direct_handover_and_its_times(shop: Shop) -> None:
    shop.ok("transfer", "open", shop.item, "--key", shop.key("client"), "--buyer",
            shop / "buyer.pub", "--price-minor", "0", "--currency", "EUR", "--direct",
            "--grade", "good", "--offer-expires", "2099-01-01")
    for report in _reports(shop):
        [escrow] = report["escrows"]
        assert (escrow["offer_expires"], escrow["inspection_ends"]) == (
            "2099-01-01T00:00:00Z", None)
        opened = report["events"][-1]
        assert opened["fields"]["offer_expires"] == "2099-01-01T00:00:00Z"


def test_a_failure_document_is_not_a_history(shop: Shop, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.bundle"
    bad.write_bytes(b"not a bundle")
    shop.ok("policy", "-o", shop / "rings.policy")
    result = shop.run("verify", bad, "--policy", shop / "rings.policy", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["verified"] is False
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)
