"""`provledger owner rotate` and `provledger recovery start|cancel`: online and
signed offline, the refusals' exit codes, and what history and verify show;
real key files, real SQLite."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import provledger

from .conftest import snapshot
from .test_escrow_cli import PASS, Shop, offer_args


@pytest.fixture(scope="module")
def base_keys(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """Maison (issuer) and its reporter Insurer; a ring owned by the client."""
    shop = Shop(tmp_path_factory.mktemp("recovery-shop"))
    shop.ok("init", "--origin", "ledger.example/rings")
    for name in ("maison", "insurer", "client", "phone2", "buyer", "arbiter", "stranger"):
        shop.ok("key", "new", name, "--dir", shop.dir)
    shop.ok("authorize", "--key", shop / "rings-keys/root.key", "--role", "issuer",
            "--name", "Maison", shop / "maison.pub")
    shop.ok("authorize", "--key", shop.key("maison"), "--role", "reporter",
            "--name", "Insurer", shop / "insurer.pub")
    shop.item = shop.json("issue", "--key", shop.key("maison"), "--serial", "R-1",
                          "--kind", "ring", "--owner", shop / "client.pub")["item"]
    (shop / "ring.jpg").write_bytes(b"a ring")
    return shop


@pytest.fixture
def keys(base_keys: Shop, tmp_path: Path) -> Shop:
    copy = Shop(tmp_path / "shop")
    shutil.copytree(base_keys.dir, copy.dir)
    copy.item = base_keys.item
    return copy


def history(shop: Shop) -> dict[str, object]:
    doc = shop.json("history", shop.item)
    assert isinstance(doc, dict)
    return doc


def start(shop: Shop, signer: str = "maison", *extra: str) -> dict[str, object]:
    out = shop.json("recovery", "start", shop.item, "--key", shop.key(signer), "--new-owner",
                    shop / "phone2.pub", "--reason", "client lost the phone", *extra)
    assert isinstance(out, dict)
    return out


def test_the_owner_rotates_its_key(keys: Shop) -> None:
    out = keys.json("owner", "rotate", keys.item, "--key", keys.key("client"),
                    "--new-owner", keys / "phone2.pub")
    assert (out["type"], out["new_owner"]) == ("owner.rotated", keys.pub("phone2"))
    assert history(keys)["owner"] == keys.pub("phone2")
    # The old key is no longer the owner's: the ledger refuses it (exit 3), changing nothing.
    before = snapshot(keys / "rings.db")
    err = keys.fails(3, "owner", "rotate", keys.item, "--key", keys.key("client"),
                     "--new-owner", keys / "buyer.pub")
    assert "[recovery rule: owner-rotates]" in err
    assert snapshot(keys / "rings.db") == before


def test_a_recovery_is_shown_and_the_old_key_cancels_it(keys: Shop) -> None:
    out = start(keys, "insurer")
    rid = str(out["hash"])
    assert out["type"] == "recovery.started"
    assert out["new_owner"] == keys.pub("phone2")
    doc = history(keys)
    [rec] = doc["recoveries"]  # type: ignore[misc]
    assert (rec["id"], rec["state"], rec["by_name"]) == (rid, "pending", "Insurer")
    assert any("recovery pending" in w for w in doc["warnings"])  # type: ignore[attr-defined]
    text = keys.ok("history", keys.item).stdout
    assert "warning: owner key recovery pending" in text
    # verify, offline from a bundle, warns too (and still exits 0: the history is true).
    keys.ok("checkpoint", "--key", keys / "rings-keys/log.key", "--quiet")
    keys.ok("export", keys.item, "-o", keys / "ring.bundle")
    keys.ok("policy", "-o", keys / "rings.policy")
    shown = keys.ok("verify", keys / "ring.bundle", "--policy", keys / "rings.policy",
                    "--item", keys.item).stdout
    assert "warning: owner key recovery pending" in shown
    assert f"recovery     {rid} pending, to {keys.pub('phone2')}" in shown
    verified = keys.json("verify", keys / "ring.bundle", "--policy", keys / "rings.policy",
                         "--item", keys.item)
    assert [r["state"] for r in verified["recoveries"]] == ["pending"]
    # No sale while it is pending (exit 3, the rule named).
    assert "[recovery rule: no-sale-while-pending]" in keys.fails(3, *offer_args(keys))
    # The old key cancels it, without naming it: the pending one is found.
    out = keys.json("recovery", "cancel", keys.item, "--key", keys.key("client"))
    assert (out["type"], out["recovery"]) == ("recovery.cancelled", rid)
    [rec] = history(keys)["recoveries"]  # type: ignore[misc]
    assert rec["state"] == "cancelled"
    assert "no pending recovery" in keys.fails(2, "recovery", "cancel", keys.item,
                                               "--key", keys.key("client"))
    keys.ok(*offer_args(keys))


def test_refusals_and_usage_errors(keys: Shop) -> None:
    before = snapshot(keys / "rings.db")
    short = str(provledger.RECOVERY_LOCK - 1)
    assert "--effective-after" in keys.fails(
        2, "recovery", "start", keys.item, "--key", keys.key("maison"),
        "--new-owner", keys / "phone2.pub", "--reason", "x", "--effective-after", short)
    err = keys.fails(1, "recovery", "start", keys.item, "--key", keys.key("stranger"),
                     "--new-owner", keys / "phone2.pub", "--reason", "x")
    assert "[recovery rule: starter]" in err
    err = keys.fails(3, "recovery", "start", keys.item, "--key", keys.key("client"),
                     "--new-owner", keys / "phone2.pub", "--reason", "x")
    assert "[recovery rule: starter]" in err
    assert snapshot(keys / "rings.db") == before
    start(keys)
    err = keys.fails(3, "owner", "rotate", keys.item, "--key", keys.key("client"),
                     "--new-owner", keys / "buyer.pub")
    assert "[recovery rule: one-pending]" in err


def test_signed_offline_then_submitted(keys: Shop) -> None:
    signed = keys / "start.stmt"
    out = keys.json("recovery", "start", keys.item, "--key", keys.key("maison"),
                    "--new-owner", keys / "phone2.pub", "--reason", "lost phone", "-o", signed)
    assert out["file"] == str(signed)
    keys.ok("submit", signed)
    rid = str(out["hash"])
    # Offline with no ledger file, the recovery must be named.
    origin = "ledger.example/rings"
    nowhere = ("--origin", origin, "--prev", "none")
    assert "--recovery" in keys.fails(2, "recovery", "cancel", keys.item, "--key",
                                      keys.key("client"), "-o", keys / "c.stmt", *nowhere,
                                      db="absent.db")
    cancel = keys / "cancel.stmt"
    keys.ok("recovery", "cancel", keys.item, "--key", keys.key("client"), "--recovery", rid,
            "-o", cancel)
    keys.ok("submit", cancel)
    [rec] = history(keys)["recoveries"]  # type: ignore[misc]
    assert rec["state"] == "cancelled"


def test_after_the_time_lock_the_new_key_owns_the_piece(keys: Shop) -> None:
    out = start(keys)
    assert str(out["effective"]).endswith("Z")
    # Move the log's clock past the lock: one entry logged 8 days on (the log's
    # time never goes back, so every later entry is judged from then).
    maison = provledger.read_signing_key(keys.key("maison"), passphrase=PASS.encode())
    later = time.time() + provledger.RECOVERY_LOCK + 86400
    with provledger.Ledger.open(keys / "rings.db", clock=lambda: later) as ledger:
        ledger.append(ledger.sign(provledger.CertificateRenewed(reason="annual check"), key=maison,
                                  subject=keys.item))
    doc = history(keys)
    [rec] = doc["recoveries"]  # type: ignore[misc]
    assert rec["state"] == "completed"
    assert doc["owner"] == keys.pub("phone2")
    assert not any("recovery pending" in w for w in doc["warnings"])  # type: ignore[attr-defined]
    err = keys.fails(3, "owner", "rotate", keys.item, "--key", keys.key("client"),
                     "--new-owner", keys / "buyer.pub")
    assert "[recovery rule: owner-rotates]" in err
    keys.ok("owner", "rotate", keys.item, "--key", keys.key("phone2"),
            "--new-owner", keys / "buyer.pub")
    assert history(keys)["owner"] == keys.pub("buyer")
