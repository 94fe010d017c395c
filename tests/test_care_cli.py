"""`provledger care`: plans enrolled, renewed, cancelled, credits consented to and
redeemed, online and signed offline, and a sale that takes the plan along;
real key files, real SQLite."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import provledger

from .conftest import snapshot
from .test_escrow_cli import Shop, offer_args

ENROL = ("--tier", "Gold", "--terms", "sha256:" + "ab" * 32, "--ends", "+730d",
         "--credits", "2", "--credit-minor", "15000", "--currency", "EUR",
         "--service", "cleaning", "--service", "inspection", "--transfer", "with_piece")


@pytest.fixture(scope="module")
def base_care(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """Maison (issuer) with its workshop Atelier, a ring owned by the client."""
    shop = Shop(tmp_path_factory.mktemp("care-shop"))
    shop.ok("init", "--origin", "ledger.example/rings")
    for name in ("maison", "atelier", "client", "buyer", "arbiter"):
        shop.ok("key", "new", name, "--dir", shop.dir)
    shop.ok("authorize", "--key", shop / "rings-keys/root.key", "--role", "issuer",
            "--name", "Maison", shop / "maison.pub")
    shop.ok("authorize", "--key", shop.key("maison"), "--role", "service",
            "--name", "Atelier", shop / "atelier.pub")
    shop.item = shop.json("issue", "--key", shop.key("maison"), "--serial", "R-1",
                          "--kind", "ring", "--owner", shop / "client.pub")["item"]
    (shop / "ring.jpg").write_bytes(b"a ring")
    return shop


@pytest.fixture
def care(base_care: Shop, tmp_path: Path) -> Shop:
    copy = Shop(tmp_path / "shop")
    shutil.copytree(base_care.dir, copy.dir)
    copy.item = base_care.item
    return copy


def enrol(shop: Shop, *extra: str) -> str:
    """Enrol the ring on Maison's Gold plan; return the plan id."""
    out = shop.json("care", "enrol", shop.item, "--key", shop.key("maison"), *ENROL, *extra)
    assert (out["type"], out["subject"]) == ("care.enrolled", shop.item)
    return str(out["hash"])


def finished_repair(shop: Shop) -> str:
    """A repair the client asked for, done and collected; return its id."""
    repair = str(shop.json("repair", "request", shop.item, "--key", shop.key("client"),
                           "--category", "repair", "--work", "Re-tip claws",
                           "--promised", "+14d")["hash"])
    for step in (("receive", "--grade", "good"), ("ready",)):
        shop.ok("repair", step[0], shop.item, "--key", shop.key("atelier"), *step[1:])
    shop.ok("repair", "collect", shop.item, "--key", shop.key("client"))
    return repair


def plan_of(shop: Shop) -> dict[str, object]:
    [plan] = shop.json("history", shop.item)["plans"]
    assert isinstance(plan, dict)
    return plan


def test_a_repair_paid_with_a_credit_after_the_owners_consent(care: Shop) -> None:
    plan = enrol(care)
    shown = plan_of(care)
    assert {k: shown[k] for k in ("id", "tier", "provider_name", "status", "credits",
                                  "credit_minor", "currency", "transfer", "services")} == {
        "id": plan, "tier": "Gold", "provider_name": "Maison", "status": "active",
        "credits": 2, "credit_minor": 15000, "currency": "EUR", "transfer": "with_piece",
        "services": ["cleaning", "inspection"]}
    repair = finished_repair(care)
    # The workshop cannot spend the client's credits alone.
    before = snapshot(care / "rings.db")
    err = care.fails(3, "care", "redeem", care.item, "--key", care.key("atelier"),
                     "--credits", "1")
    assert "consent" in err
    assert snapshot(care / "rings.db") == before
    consented = care.json("care", "consent", care.item, "--key", care.key("client"),
                          "--credits", "1", "--credit-minor", "5000")
    # The plan and the repair were taken from the item's state; the output names them.
    assert (consented["plan"], consented["repair"]) == (plan, repair)
    redeemed = care.json("care", "redeem", care.item, "--key", care.key("atelier"),
                         "--credits", "1", "--credit-minor", "5000")
    assert (redeemed["type"], redeemed["consent"]) == ("care.redeemed", consented["hash"])
    history = care.json("history", care.item)
    [shown] = history["plans"]
    assert (shown["credits"], shown["credit_minor"]) == (1, 10000)
    [paid] = history["repairs"]
    assert (paid["id"], paid["status"], paid["paid_by"]) == (repair, "collected", plan)
    # A repair is never paid twice.
    err = care.fails(3, "care", "redeem", care.item, "--key", care.key("atelier"),
                     "--repair", repair, "--credits", "1")
    assert "paid" in err
    text = care.ok("history", care.item).stdout
    assert f"plan         {plan} Gold by Maison: active" in text
    assert "credits left     1 unit, 10000 EUR (minor units)" in text
    assert f"paid by plan     {plan}" in text


def test_renew_adds_credits_and_cancel_ends_the_plan(care: Shop) -> None:
    plan = enrol(care)
    renewed = care.json("care", "renew", care.item, "--key", care.key("maison"),
                        "--ends", "+800d", "--credits", "1")
    assert (renewed["type"], renewed["plan"]) == ("care.renewed", plan)
    shown = plan_of(care)
    assert shown["credits"] == 3
    assert shown["renewed"] is not None
    # Only the provider's issuer key cancels, and a reason is required.
    care.fails(3, "care", "cancel", care.item, "--key", care.key("atelier"), "--reason", "x")
    care.fails(2, "care", "cancel", care.item, "--key", care.key("maison"))
    care.ok("care", "cancel", care.item, "--key", care.key("maison"), "--reason",
            "customer asked")
    shown = plan_of(care)
    assert (shown["status"], shown["credits"], shown["credit_minor"]) == ("cancelled", 0, 0)
    err = care.fails(2, "care", "renew", care.item, "--key", care.key("maison"),
                     "--ends", "+900d")
    assert "no plan in force" in err


def test_bad_input_is_a_usage_error_and_changes_nothing(care: Shop) -> None:
    before = snapshot(care / "rings.db")
    key = ("--key", care.key("maison"))
    no_currency = [a for a in ENROL if a not in ("--currency", "EUR")]
    assert "--currency" in care.fails(2, "care", "enrol", care.item, *key, *no_currency)
    assert "--transfer" in care.fails(2, "care", "enrol", care.item, *key, *ENROL[:-2])
    assert "64 hex" in care.fails(2, "care", "renew", care.item, *key, "--plan", "abc",
                                  "--ends", "+1d")
    assert "at least one" in care.fails(2, "care", "consent", care.item, "--key",
                                        care.key("client"), "--plan", "ab" * 32,
                                        "--repair", "cd" * 32)
    # A plan already over is refused by the rules (exit 3).
    care.fails(3, "care", "enrol", care.item, *key, "--tier", "Gold", "--terms",
               "sha256:" + "ab" * 32, "--starts", "2020-01-01", "--ends", "2021-01-01",
               "--transfer", "ends")
    assert snapshot(care / "rings.db") == before


def test_offline_signing_then_submit(care: Shop) -> None:
    signed = care.json("care", "enrol", care.item, "--key", care.key("maison"), *ENROL,
                       "-o", care / "enrol.cose")
    assert signed["file"] == str(care / "enrol.cose")
    care.ok("submit", care / "enrol.cose")
    plan = signed["hash"]
    assert plan_of(care)["id"] == plan
    repair = finished_repair(care)
    # The client's device has no ledger: plan, repair, origin and head are given.
    with provledger.Ledger.open(care / "rings.db", readonly=True) as ledger:
        collected = next(r for r in ledger.history(care.item)
                         if r.statement.type == "repair.collected")
    usage = care.fails(2, "care", "consent", care.item, "--key", care.key("client"),
                       "--credits", "1", "-o", care / "c.cose", db="absent.db")
    assert "--plan" in usage
    consent = care.json("care", "consent", care.item, "--key", care.key("client"),
                        "--plan", plan, "--repair", repair, "--credits", "1",
                        "--origin", "ledger.example/rings", "--prev", collected.hash.hex(),
                        "-o", care / "consent.cose", db="absent.db")
    assert consent["prev"] == collected.hash.hex()
    care.ok("submit", care / "consent.cose")
    # The workshop signs offline against the ledger file, naming the consent.
    redeem = care.json("care", "redeem", care.item, "--key", care.key("atelier"),
                       "--credits", "1", "--consent", consent["hash"], "-o",
                       care / "redeem.cose")
    assert (redeem["plan"], redeem["repair"]) == (plan, repair)
    care.ok("submit", care / "redeem.cose")
    assert plan_of(care)["credits"] == 1


def test_a_sale_states_the_plans_that_go_with_the_piece(care: Shop) -> None:
    plan = enrol(care)
    opened = care.json(*offer_args(care))
    assert opened["plans"] == [plan]
    text = care.ok("transfer", "status", care.item).stdout
    assert f"plans            go with the piece: {plan}" in text
    accepted = care.ok("transfer", "accept", care.item, "--key", care.key("buyer"),
                       "--escrow", opened["hash"]).stdout
    assert f"plan goes with the piece: {plan} Gold by Maison" in accepted
    acknowledged = care.json("transfer", "acknowledge", care.item, "--key", care.key("buyer"),
                             "--escrow", opened["hash"])
    assert acknowledged["plans"] == [plan]
    history = care.json("history", care.item)
    assert history["owner"] == care.pub("buyer")
    [shown] = history["plans"]
    assert (shown["status"], shown["credits"]) == ("active", 2)


def test_a_plan_that_ends_on_a_sale_is_not_offered_and_ends(care: Shop) -> None:
    enrol_args = [a if a != "with_piece" else "ends" for a in ENROL]
    care.json("care", "enrol", care.item, "--key", care.key("maison"), *enrol_args)
    opened = care.json(*offer_args(care))
    assert opened["plans"] == []
    care.ok("transfer", "accept", care.item, "--key", care.key("buyer"), "--escrow",
            opened["hash"])
    care.ok("transfer", "acknowledge", care.item, "--key", care.key("buyer"), "--escrow",
            opened["hash"])
    shown = plan_of(care)
    assert (shown["status"], shown["credits"]) == ("ended", 0)
