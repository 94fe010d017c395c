"""`provledger transfer`: every step online and offline, real key files, real SQLite."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import provledger
from provledger_cli.main import cli

from .conftest import snapshot

PASS = "escrow passphrase"
ROOT = Path(__file__).resolve().parents[1]


class Shop:
    """A ledger with an issuer, a ring owned by the client, and the parties' keys."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.item = ""

    def __truediv__(self, name: str) -> Path:
        return self.dir / name

    def run(self, *args: str | Path, db: str = "rings.db") -> Result:
        return CliRunner().invoke(
            cli, ["--db", str(self.dir / db), *map(str, args)],
            env={"PROVLEDGER_PASSPHRASE": PASS, "PROVLEDGER_DB": None}, prog_name="provledger")

    def ok(self, *args: str | Path, **kwargs: Any) -> Result:
        result = self.run(*args, **kwargs)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str | Path, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, "--json", **kwargs).stdout)

    def fails(self, code: int, *args: str | Path, **kwargs: Any) -> str:
        result = self.run(*args, **kwargs)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.output
        return result.stderr

    def key(self, name: str) -> str:
        return str(self.dir / f"{name}.key")

    def pub(self, name: str) -> str:
        return (self.dir / f"{name}.pub").read_text().strip()


@pytest.fixture(scope="module")
def base_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    shop = Shop(tmp_path_factory.mktemp("escrow-shop"))
    shop.ok("init", "--origin", "ledger.example/rings")
    for name in ("maison", "client", "buyer", "arbiter"):
        shop.ok("key", "new", name, "--dir", shop.dir)
    shop.ok("authorize", "--key", shop / "rings-keys/root.key", "--role", "issuer",
            "--name", "Maison", shop / "maison.pub")
    shop.item = shop.json("issue", "--key", shop.key("maison"), "--serial", "R-1",
                          "--kind", "ring", "--owner", shop / "client.pub")["item"]
    (shop / "ring.jpg").write_bytes(b"a ring")
    return shop


@pytest.fixture
def shop(base_shop: Shop, tmp_path: Path) -> Shop:
    copy = Shop(tmp_path / "shop")
    shutil.copytree(base_shop.dir, copy.dir)
    copy.item = base_shop.item
    return copy


def offer_args(shop: Shop, seller: str = "client", buyer: str = "buyer") -> list[str | Path]:
    return ["transfer", "open", shop.item, "--key", shop.key(seller), "--buyer",
            shop / f"{buyer}.pub", "--price-minor", "250000", "--currency", "EUR",
            "--arbiter", shop / "arbiter.pub", "--on-timeout", "dispute", "--grade", "very good",
            "--photo", shop / "ring.jpg", "--offer-expires", "+1d", "--inspection-ends", "+7d"]


def test_resale_with_the_buyer_signing_offline(shop: Shop) -> None:
    shop.ok(*offer_args(shop), "-o", shop / "offer.cose")
    shop.ok("submit", shop / "offer.cose")
    # The buyer's device has no ledger: the offer file gives escrow, origin and head.
    signed = shop.json("transfer", "accept", shop.item, "--key", shop.key("buyer"), "--offer",
                       shop / "offer.cose", "-o", shop / "accept.cose", db="absent.db")
    offer = provledger.verify_statement((shop / "offer.cose").read_bytes())
    assert (signed["prev"], signed["origin"]) == (offer.hash.hex(), "ledger.example/rings")
    shop.ok("submit", shop / "accept.cose")
    status = shop.json("transfer", "status", shop.item)
    assert status["owner"] == shop.pub("client")
    [escrow] = status["escrows"]
    assert (escrow["id"], escrow["state"]) == (offer.hash.hex(), "accepted")
    assert escrow["condition"]["grade"] == "very good"
    shop.ok("transfer", "acknowledge", shop.item, "--key", shop.key("buyer"),
            "--escrow", offer.hash.hex())
    status = shop.json("transfer", "status", shop.item)
    assert status["owner"] == shop.pub("buyer")
    assert status["escrows"][0]["state"] == "completed"
    text = shop.ok("transfer", "status", shop.item).stdout
    assert "completed" in text
    assert shop.pub("buyer") in text
    history = shop.json("history", shop.item)
    assert [e["signed_as"] for e in history["events"][1:]] == ["seller", "buyer", "buyer"]
    assert history["escrows"][0]["state"] == "completed"
    err = shop.fails(3, "transfer", "reject", shop.item, "--key", shop.key("buyer"),
                     "--reason", "too late")
    assert "[escrow rule: terminal]" in err


def escrow_id(shop: Shop) -> str:
    """The id of the item's latest escrow, as `transfer status` shows it to the buyer."""
    return str(shop.json("transfer", "status", shop.item)["escrows"][-1]["id"])


def test_dispute_settled_by_the_arbiter(shop: Shop) -> None:
    shop.ok(*offer_args(shop))
    shop.ok("transfer", "accept", shop.item, "--key", shop.key("buyer"),
            "--escrow", escrow_id(shop))
    shop.ok("transfer", "dispute", shop.item, "--key", shop.key("buyer"),
            "--reason", "stone loose", "--photo", shop / "ring.jpg")
    err = shop.fails(3, "transfer", "resolve", shop.item, "--key", shop.key("maison"),
                     "--to", "buyer")
    assert "[escrow rule: party]" in err
    shop.ok("transfer", "resolve", shop.item, "--key", shop.key("arbiter"), "--to", "seller",
            "--notes", "setting was secure")
    status = shop.json("transfer", "status", shop.item)
    assert status["owner"] == shop.pub("client")
    assert status["escrows"][0]["state"] == "returned"
    assert status["escrows"][0]["votes"] == [{"party": "arbiter", "outcome": "seller"}]


def test_decline_cancel_reject_and_direct(shop: Shop) -> None:
    shop.ok(*offer_args(shop))
    shop.ok("transfer", "decline", shop.item, "--key", shop.key("buyer"), "--notes", "no")
    shop.ok(*offer_args(shop))
    shop.ok("transfer", "cancel", shop.item, "--key", shop.key("client"))
    shop.ok(*offer_args(shop))
    shop.ok("transfer", "accept", shop.item, "--key", shop.key("buyer"),
            "--escrow", escrow_id(shop))
    shop.ok("transfer", "reject", shop.item, "--key", shop.key("buyer"), "--reason", "chipped")
    shop.ok("transfer", "open", shop.item, "--key", shop.key("client"), "--buyer",
            shop / "buyer.pub", "--price-minor", "0", "--currency", "EUR", "--direct",
            "--grade", "good", "--offer-expires", "2099-01-01")
    shop.ok("transfer", "accept", shop.item, "--key", shop.key("buyer"),
            "--escrow", escrow_id(shop))
    status = shop.json("transfer", "status", shop.item)
    assert [e["state"] for e in status["escrows"]] == [
        "declined", "cancelled", "returned", "completed"]
    assert status["escrows"][-1]["inspection_ends"] is None
    assert status["owner"] == shop.pub("buyer")


def test_usage_errors(shop: Shop) -> None:
    args = offer_args(shop)
    no_timeout = args[:args.index("--on-timeout")] + args[args.index("--on-timeout") + 2:]
    assert "--on-timeout" in shop.fails(2, *no_timeout)
    assert "+1x" in shop.fails(2, *args[:-1], "+1x")
    assert "has no escrow" in shop.fails(3, "transfer", "accept", shop.item,
                                         "--key", shop.key("buyer"), "--escrow", "ab" * 32)
    shop.ok(*args)
    assert "the offer changed" in shop.fails(3, "transfer", "accept", shop.item, "--key",
                                             shop.key("buyer"), "--escrow", "ab" * 32)
    assert "64 hex digits" in shop.fails(2, "transfer", "accept", shop.item, "--key",
                                         shop.key("buyer"), "--escrow", escrow_id(shop)[:16])
    assert "give --offer" in shop.fails(2, "transfer", "accept", shop.item, "--key",
                                        shop.key("buyer"), "--escrow", "ab" * 32,
                                        "-o", shop / "a.cose", db="absent.db")
    err = shop.fails(3, *offer_args(shop))
    assert "[escrow rule: one-open-escrow]" in err


# -- the buyer signs the offer it reviewed (issue 11, finding 6b) ------------------


@pytest.mark.parametrize("step", ["accept", "acknowledge"])
def test_the_buyer_must_name_the_escrow_it_reviewed(shop: Shop, step: str) -> None:
    shop.ok(*offer_args(shop))
    if step == "acknowledge":
        shop.ok("transfer", "accept", shop.item, "--key", shop.key("buyer"),
                "--escrow", escrow_id(shop))
    before = snapshot(shop / "rings.db")
    err = shop.fails(2, "transfer", step, shop.item, "--key", shop.key("buyer"))
    assert "--escrow" in err
    assert "--offer" in err
    assert snapshot(shop / "rings.db") == before


def test_a_swapped_offer_is_refused(shop: Shop) -> None:
    # The buyer reviews the first offer, from the ledger and as a file ...
    shop.ok(*offer_args(shop), "-o", shop / "offer.cose")
    shop.ok("submit", shop / "offer.cose")
    reviewed = escrow_id(shop)
    # ... then the seller cancels it and re-opens direct, "sold as seen", at ten times the price.
    shop.ok("transfer", "cancel", shop.item, "--key", shop.key("client"), "--escrow", reviewed)
    shop.ok("transfer", "open", shop.item, "--key", shop.key("client"), "--buyer",
            shop / "buyer.pub", "--price-minor", "2500000", "--currency", "EUR", "--direct",
            "--grade", "sold as seen", "--offer-expires", "+1d")
    current = escrow_id(shop)
    assert current != reviewed
    before = snapshot(shop / "rings.db")
    for how in (["--escrow", reviewed], ["--escrow", reviewed.upper()],
                ["--offer", shop / "offer.cose"]):
        err = shop.fails(3, "transfer", "accept", shop.item, "--key", shop.key("buyer"), *how)
        assert "the offer changed" in err
        assert current in err
        assert reviewed in err
        assert len(err.strip().splitlines()) == 1
    assert snapshot(shop / "rings.db") == before
    status = shop.json("transfer", "status", shop.item)
    assert status["owner"] == shop.pub("client")
    assert [e["state"] for e in status["escrows"]] == ["cancelled", "offered"]
    # Naming the offer actually on the ledger is the buyer's informed choice.
    shop.ok("transfer", "accept", shop.item, "--key", shop.key("buyer"), "--escrow", current)
    assert shop.json("transfer", "status", shop.item)["owner"] == shop.pub("buyer")


def test_an_acknowledgement_names_the_escrow_accepted(shop: Shop) -> None:
    shop.ok(*offer_args(shop))
    first = escrow_id(shop)
    shop.ok("transfer", "accept", shop.item, "--key", shop.key("buyer"), "--escrow", first)
    shop.ok("transfer", "reject", shop.item, "--key", shop.key("buyer"), "--reason", "chipped")
    shop.ok(*offer_args(shop))
    second = escrow_id(shop)
    shop.ok("transfer", "accept", shop.item, "--key", shop.key("buyer"), "--escrow", second)
    before = snapshot(shop / "rings.db")
    err = shop.fails(3, "transfer", "acknowledge", shop.item, "--key", shop.key("buyer"),
                     "--escrow", first)
    assert "the offer changed" in err
    assert snapshot(shop / "rings.db") == before
    shop.ok("transfer", "acknowledge", shop.item, "--key", shop.key("buyer"), "--escrow", second)
    assert shop.json("transfer", "status", shop.item)["owner"] == shop.pub("buyer")


def test_resale_example_runs(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "resale.py"),
                          str(tmp_path / "out")], capture_output=True, text=True, check=False,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "owner is now Bob" in out.stdout
    assert "[escrow rule: one-open-escrow]" in out.stdout
    assert "[escrow rule: party]" in out.stdout
    report = json.loads((tmp_path / "out" / "history.json").read_text())
    assert [e["state"] for e in report["escrows"]] == ["completed", "returned"]
    assert report["owner"] == report["escrows"][0]["buyer"]
