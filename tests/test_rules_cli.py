"""`provledger rules publish` / `rules show`, `issue` naming the latest rules,
a sale the rules refuse, and `verify` with a marketplace's `require` line;
real key files, real SQLite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import provledger as pl

from .conftest import snapshot
from .test_bundle import appraisal
from .test_bundle_cli import Shop as BundleShop, ok as bundle_ok, run as bundle_run
from .test_escrow_cli import Shop, offer_args

RULES = {"inspection_days": 30, "plans_transfer": True, "min_inspection": 518400}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """Maison (issuer) with rules version 1 published, and a ring issued under it."""
    shop = Shop(tmp_path_factory.mktemp("rules-shop"))
    shop.ok("init", "--origin", "ledger.example/rings")
    for name in ("maison", "atelier", "client", "buyer", "arbiter"):
        shop.ok("key", "new", name, "--dir", shop.dir)
    shop.ok("authorize", "--key", shop / "rings-keys/root.key", "--role", "issuer",
            "--name", "Maison", shop / "maison.pub")
    shop.ok("authorize", "--key", shop.key("maison"), "--role", "service",
            "--name", "Atelier", shop / "atelier.pub")
    old = shop.json("issue", "--key", shop.key("maison"), "--serial", "R-0",
                    "--kind", "ring", "--owner", shop / "client.pub")["item"]
    (shop / "old-item").write_text(old)
    (shop / "ring.jpg").write_bytes(b"a ring")
    (shop / "rules.json").write_text(json.dumps(RULES))
    (shop / "rules.txt").write_text("Resale: our inspection within 30 days; 6 days to "
                                    "inspect; care plans go with the piece.\n")
    out = shop.json("rules", "publish", "--key", shop.key("maison"), "--file",
                    shop / "rules.json", "--text", shop / "rules.txt")
    assert (out["type"], out["version"]) == ("rules.published", 1)
    shop.item = shop.json("issue", "--key", shop.key("maison"), "--serial", "R-1",
                          "--kind", "ring", "--owner", shop / "client.pub")["item"]
    return shop


@pytest.fixture
def shop(base: Shop, tmp_path: Path) -> Shop:
    copy = Shop(tmp_path / "shop")
    shutil.copytree(base.dir, copy.dir)
    copy.item = base.item
    return copy


def test_show_prints_the_rules_the_piece_was_issued_under(shop: Shop) -> None:
    text = shop.ok("rules", "show", shop.item).stdout
    assert "sold under Maison's transfer rules version 1" in text
    assert "within the 30 days before the offer" in text
    assert "care plans go with the piece" in text
    assert "at least 6 days to inspect" in text
    doc = shop.json("rules", "show", shop.item)
    assert doc["version"] == 1
    assert doc["rules"] == RULES
    assert len(doc["plain"]) == 3
    old = (shop / "old-item").read_text()
    assert shop.json("rules", "show", old)["version"] == 0
    assert "under no transfer rules" in shop.ok("rules", "show", old).stdout


def test_a_sale_breaking_the_rules_is_refused_naming_the_rule(shop: Shop) -> None:
    before = snapshot(shop / "rings.db")
    err = shop.fails(3, *offer_args(shop))
    assert "transfer rule inspection_days" in err
    assert "rules version 1" in err
    assert snapshot(shop / "rings.db") == before
    shop.ok("repair", "record", shop.item, "--key", shop.key("atelier"), "--category",
            "service", "--work", "Checked claws", "--performed-by", "Atelier",
            "--started", "2026-11-20", "--completed", "2026-11-21")
    # Inspected now; an inspection period under 6 days still breaks min_inspection.
    args = [a if a != "+7d" else "+5d" for a in offer_args(shop)]
    assert "min_inspection" in shop.fails(3, *args)
    shop.ok(*offer_args(shop))


def test_publish_the_next_version_and_offline(shop: Shop) -> None:
    out = shop.json("rules", "publish", "--key", shop.key("maison"), "--file",
                    shop / "rules.json", "--text", "sha256:" + "cd" * 32)
    assert out["version"] == 2
    nowhere = ["--db", "nowhere.db"]
    shop.ok("rules", "publish", "--key", shop.key("maison"), "--file", shop / "rules.json",
            "--text", shop / "rules.txt", "--version", "3", "-o", shop / "v3.cose",
            "--origin", "ledger.example/rings", "--prev", "none", db=nowhere[1])
    assert pl.verify_statement((shop / "v3.cose").read_bytes()).type == "rules.published"
    err = shop.fails(2, "rules", "publish", "--key", shop.key("maison"), "--file",
                     shop / "rules.json", "--text", shop / "rules.txt", "-o", shop / "x.cose",
                     "--origin", "o", "--prev", "none", db=nowhere[1])
    assert "--version" in err
    # A skipped version is the ledger's PolicyError (exit 3):
    assert "version must be 3" in shop.fails(
        3, "rules", "publish", "--key", shop.key("maison"), "--file", shop / "rules.json",
        "--text", shop / "rules.txt", "--version", "4")


def test_bad_rules_files_are_decode_errors(shop: Shop) -> None:
    for body in ('{"inspection_days": -1}', '{"resale_tax": 5}', "[1]", "{",
                 '{"marketplaces": ["not a key"]}'):
        (shop / "bad.json").write_text(body)
        shop.fails(4, "rules", "publish", "--key", shop.key("maison"), "--file",
                   shop / "bad.json", "--text", shop / "rules.txt")


def test_issue_names_a_chosen_version_and_the_ledger_checks_it(shop: Shop) -> None:
    err = shop.fails(3, "issue", "--key", shop.key("maison"), "--serial", "R-2", "--kind",
                     "ring", "--owner", shop / "client.pub", "--rules", "0")
    assert "rules must be 1" in err


@pytest.mark.parametrize("command", [("rules",), ("rules", "publish"), ("rules", "show")])
def test_help_shows_an_example(shop: Shop, command: tuple[str, ...]) -> None:
    out = shop.ok(*command, "--help").stdout
    assert "Example:" in out
    assert "provledger rules " in out


# -- a marketplace's requirement through verify ----------------------------------------


def test_verify_fails_naming_the_missing_gemologist(tmp_path: Path) -> None:
    bshop = BundleShop(tmp_path)
    try:
        bshop.w.add(bshop.w.workshop, bshop.item, appraisal(900_000))
        bshop.checkpoint()
        bundle = bshop.export("ring.bundle")
        policy = tmp_path / "market.policy"
        bundle_ok("--db", bshop.db, "policy", "-o", policy)
        policy.write_text(policy.read_text()
                          + "require attestation gemologist above 500000 EUR\n")
        result = bundle_run("verify", bundle, "--policy", policy, "--at", str(bshop.now))
        assert result.exit_code == 1
        assert "RequirementError" in result.stderr
        assert "an attestation by a gemologist" in result.stderr
        doc = json.loads(bundle_run("verify", bundle, "--policy", policy, "--at",
                                    str(bshop.now), "--json").stdout)
        assert doc["error"]["code"] == "requirement"
        assert doc["error"]["missing"][0].startswith("an attestation by a gemologist")
        # The gemologist attests: the same policy passes.
        w = bshop.w
        w.add(w.gemologist, bshop.item, pl.CertificateAttested(
            capacity="gemologist", certificate=w.ledger.item(bshop.item).certificate))
        bshop.checkpoint()
        bundle = bshop.export("ring2.bundle")
        out = bundle_ok("verify", bundle, "--policy", policy, "--at", str(bshop.now)).stdout
        assert out.startswith("VERIFIED")
    finally:
        bshop.w.ledger.close()


def test_sign_and_submit_a_rules_published_body(shop: Shop) -> None:
    body = {"version": 2, "text": "sha256:" + "ab" * 32,
            "rules": {"marketplaces": [shop.pub("buyer")], "min_inspection": 86400}}
    (shop / "body.json").write_text(json.dumps(body))
    chain = pl.authority_subject(pl.parse_public_key(shop.pub("maison")))
    shop.ok("sign", "--type", "rules.published", "--body", shop / "body.json", "--subject",
            chain, "--key", shop.key("maison"), "-o", shop / "v2.cose")
    shop.ok("submit", shop / "v2.cose")
    issued = shop.json("issue", "--key", shop.key("maison"), "--serial", "R-9", "--kind",
                       "ring", "--owner", shop / "client.pub")["item"]
    doc = shop.json("rules", "show", issued)
    assert doc["version"] == 2
    assert doc["rules"]["marketplaces"] == [shop.pub("buyer")]
