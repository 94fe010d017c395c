"""`provledger key wallet`, `key owner-key`, and a wallet given wherever an owner's
key is asked for; real key files, real SQLite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import provledger

from .conftest import snapshot
from .test_escrow_cli import PASS, Shop


@pytest.fixture(scope="module")
def base_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """Maison (issuer), a client with an ordinary key, and Alice and Bob with wallets."""
    shop = Shop(tmp_path_factory.mktemp("wallet-shop"))
    shop.ok("init", "--origin", "ledger.example/rings")
    for name in ("maison", "client"):
        shop.ok("key", "new", name, "--dir", shop.dir)
    for name in ("alice", "bob"):
        shop.ok("key", "wallet", shop / f"{name}.wallet")
    shop.ok("authorize", "--key", shop / "rings-keys/root.key", "--role", "issuer",
            "--name", "Maison", shop / "maison.pub")
    return shop


@pytest.fixture
def shop(base_shop: Shop, tmp_path: Path) -> Shop:
    copy = Shop(tmp_path / "shop")
    shutil.copytree(base_shop.dir, copy.dir)
    return copy


def issue(shop: Shop, serial: str, owner: str | Path) -> str:
    item = shop.json("issue", "--key", shop.key("maison"), "--serial", serial, "--kind", "ring",
                     "--owner", owner)["item"]
    assert isinstance(item, str)
    return item


def owner_key(shop: Shop, wallet: str, item: str) -> str:
    out = shop.ok("key", "owner-key", "--wallet", shop / f"{wallet}.wallet", item).stdout
    return out.strip()


def owner_of(shop: Shop, item: str) -> str:
    owner = shop.json("history", item)["owner"]
    assert isinstance(owner, str)
    return owner


def test_key_wallet_writes_an_encrypted_wallet(shop: Shop) -> None:
    path = shop / "alice.wallet"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_bytes())["format"] == "provledger-wallet/v1"
    assert provledger.is_wallet_file(path)
    wallet = provledger.read_wallet(path, passphrase=PASS.encode())
    # key owner-key prints what the library derives.
    item = "urn:provledger:item:5d1c0a3e9b7f2468:R-1001"
    assert owner_key(shop, "alice", item) == provledger.format_public_key(
        wallet.owner_public_key(item))
    # An existing file is never overwritten.
    before = path.read_bytes()
    err = shop.fails(7, "key", "wallet", path)
    assert "already exists" in err
    assert path.read_bytes() == before


def test_owner_key_per_item_and_spelling(shop: Shop) -> None:
    gs1 = "https://shop.example/01/09506000134352/21/R-1001"
    other = "https://shop.example/01/09506000134352/21/R-1002"
    a, b = owner_key(shop, "alice", gs1), owner_key(shop, "alice", other)
    assert a != b
    assert owner_key(shop, "bob", gs1) not in (a, b)
    # A sloppy spelling of the same id gives the same key; --json names the canonical id.
    doc = shop.json("key", "owner-key", "--wallet", shop / "alice.wallet",
                    "HTTP://Shop.Example:443/01/9506000134352/21/R-1001/")
    assert (doc["public_key"], doc["item"]) == (a, gs1)
    err = shop.fails(2, "key", "owner-key", "--wallet", shop / "alice.wallet", "R-1001")
    assert "ITEM" in err


def test_issue_to_a_wallet_gives_unrelated_owners(shop: Shop) -> None:
    one, two = issue(shop, "A-1", shop / "alice.wallet"), issue(shop, "A-2", shop / "alice.wallet")
    assert owner_of(shop, one) == owner_key(shop, "alice", one)
    assert owner_of(shop, two) == owner_key(shop, "alice", two)
    assert owner_of(shop, one) != owner_of(shop, two)
    # The owner acts on each piece with the one wallet file.
    out = shop.json("report", "lost", two, "--key", shop / "alice.wallet")
    assert out["type"] == "lost.reported"
    assert shop.json("history", two)["status"] != shop.json("history", one)["status"]


def test_wrong_items_key_is_refused(shop: Shop) -> None:
    """A key printed for one piece and used as another's owner does not let the
    wallet act on that other piece: the wallet derives the other piece's key."""
    one = issue(shop, "B-1", shop / "alice.wallet")
    two = issue(shop, "B-2", owner_key(shop, "alice", one))
    before = snapshot(shop / "rings.db")
    err = shop.fails(3, "report", "lost", two, "--key", shop / "alice.wallet")
    assert "only the current owner may report it lost" in err
    assert snapshot(shop / "rings.db") == before


def test_sale_from_a_key_to_a_wallet_and_on_to_another(shop: Shop) -> None:
    item = issue(shop, "C-1", shop / "client.pub")
    direct = ["--price-minor", "100", "--currency", "EUR", "--direct", "--grade", "good",
              "--offer-expires", "+1d"]
    opened = shop.json("transfer", "open", item, "--key", shop.key("client"),
                       "--buyer", shop / "alice.wallet", *direct)
    shop.ok("transfer", "accept", item, "--key", shop / "alice.wallet", "--escrow",
            opened["hash"])
    assert owner_of(shop, item) == owner_key(shop, "alice", item)
    # Alice resells to Bob, both with wallets; Bob's key for this piece is new on the ledger.
    opened = shop.json("transfer", "open", item, "--key", shop / "alice.wallet",
                       "--buyer", owner_key(shop, "bob", item), *direct)
    shop.ok("transfer", "accept", item, "--key", shop / "bob.wallet", "--escrow", opened["hash"])
    assert owner_of(shop, item) == owner_key(shop, "bob", item)


def test_owner_rotate_into_a_wallet(shop: Shop) -> None:
    item = issue(shop, "D-1", shop / "client.pub")
    out = shop.json("owner", "rotate", item, "--key", shop.key("client"),
                    "--new-owner", shop / "bob.wallet")
    assert out["new_owner"] == owner_key(shop, "bob", item)
    assert owner_of(shop, item) == out["new_owner"]
    # Offline signing from the wallet works as with a key file.
    shop.ok("report", "lost", item, "--key", shop / "bob.wallet", "-o", shop / "lost.cose")
    shop.ok("submit", shop / "lost.cose")
    assert shop.json("history", item)["status"] == "lost"
    # The generic `sign` derives the subject's owner key from a wallet too.
    body = shop / "recovered.json"
    body.write_text("{}", encoding="utf-8")
    shop.ok("sign", "--type", "recovered", "--body", body, "--key", shop / "bob.wallet",
            "--subject", item, "-o", shop / "recovered.cose")
    shop.ok("submit", shop / "recovered.cose")
    assert shop.json("history", item)["status"] == "active"


@pytest.mark.parametrize("args", [
    ("key", "show", "{wallet}"),
    ("key", "rotate", "--key", "{wallet}", "--new", "{pub}"),
    ("authorize", "--key", "{wallet}", "--role", "service", "--name", "X", "{pub}"),
])
def test_a_wallet_where_no_item_is_known_is_refused(shop: Shop, args: tuple[str, ...]) -> None:
    wallet, pub = shop / "alice.wallet", shop / "client.pub"
    before = snapshot(shop / "rings.db")
    err = shop.fails(7, *(a.format(wallet=wallet, pub=pub) for a in args))
    assert f"{wallet} is a wallet" in err
    assert "key owner-key --wallet" in err
    assert snapshot(shop / "rings.db") == before


def test_a_key_file_is_not_a_wallet(shop: Shop) -> None:
    err = shop.fails(7, "key", "owner-key", "--wallet", shop.key("client"),
                     "urn:provledger:item:5d1c0a3e9b7f2468:R-1001")
    assert "is a signing key file" in err
    assert "not a wallet file" in err
