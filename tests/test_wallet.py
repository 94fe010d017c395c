"""Wallets and per-item owner keys (provledger._wallet, spec/wallet.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import provledger as pl
from provledger._keyfile import FORMAT, WALLET_FORMAT, read_signing_key, write_signing_key
from provledger._wallet import derive_owner_seed
from tests.conftest import World

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors" / "wallet"
MANIFEST: dict[str, Any] = json.loads((VECTORS / "manifest.json").read_bytes())
GENERATOR = ROOT / "spec" / "tools" / "gen_wallet_vectors.py"
CHECKER = ROOT / "spec" / "tools" / "check_wallet_vectors.py"

LOW = (1, 8192)  # argon2id's minimum: fast tests
PASSPHRASE = b"a wallet passphrase"
GS1 = "https://shop.example/01/09506000134352/21/R-1001"
URN = "urn:provledger:item:5d1c0a3e9b7f2468:R-1001"


def private_copy(src: Path, directory: Path) -> Path:
    dst = directory / src.name
    shutil.copyfile(src, dst)
    dst.chmod(0o600)
    return dst


# -- derivation -------------------------------------------------------------


def test_vectors_byte_for_byte(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GENERATOR), str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("wallet.json", "manifest.json", "README.md"):
        assert (tmp_path / name).read_bytes() == (VECTORS / name).read_bytes(), name


def test_vectors_match_the_library() -> None:
    wallet = pl.Wallet(bytes.fromhex(MANIFEST["wallet_seed"]))
    assert len(MANIFEST["items"]) == 4
    for entry in MANIFEST["items"]:
        assert pl.canonical_item_id(entry["item"]) == entry["canonical_item"]
        owner = wallet.owner_key(entry["item"])
        assert owner.seed().hex() == entry["owner_seed"]
        assert pl.format_public_key(owner.public_key) == entry["owner_public_key"]


def test_vectors_check_without_provledger() -> None:
    # The checker imports only cryptography; run it where provledger cannot be imported.
    result = subprocess.run([sys.executable, "-I", "-S", "-c",
                             "import sys; sys.path.append(sys.argv[1]); "
                             "import importlib.util as u; "
                             "assert u.find_spec('provledger') is None, 'provledger found'; "
                             "import runpy; sys.argv = sys.argv[2:]; "
                             "runpy.run_path(sys.argv[0], run_name='__main__')",
                             _site_packages(), str(CHECKER)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok  ") == 4


def _site_packages() -> str:
    import cryptography

    return str(Path(cryptography.__file__).parents[1])


def test_vectors_wallet_file_decrypts(tmp_path: Path) -> None:
    path = private_copy(VECTORS / "wallet.json", tmp_path)
    wallet = pl.read_wallet(path, passphrase=MANIFEST["wallet_file"]["passphrase"].encode())
    assert wallet.seed().hex() == MANIFEST["wallet_seed"]


def test_two_items_give_unrelated_keys() -> None:
    wallet = pl.Wallet.generate()
    a, b = wallet.owner_key(GS1), wallet.owner_key(URN)
    assert a.public_key != b.public_key
    assert a.seed() != b.seed()
    # Neither is the wallet seed nor its key pair.
    assert wallet.seed() not in (a.seed(), b.seed())
    assert pl.SigningKey(wallet.seed()).public_key not in (a.public_key, b.public_key)


def test_non_canonical_spelling_gives_the_same_key() -> None:
    wallet = pl.Wallet.generate()
    sloppy = "HTTP://Shop.Example:443/01/9506000134352/21/R-1001/"
    assert wallet.owner_public_key(sloppy) == wallet.owner_public_key(GS1)
    shouted = "URN:PROVLEDGER:ITEM:5D1C0A3E9B7F2468:R-1001"  # the serial is case-sensitive
    assert wallet.owner_public_key(shouted) == wallet.owner_public_key(URN)
    assert wallet.owner_public_key(URN.replace("R-1001", "r-1001")) != \
        wallet.owner_public_key(URN)


def test_another_wallet_gives_other_keys() -> None:
    assert pl.Wallet.generate().owner_public_key(GS1) != pl.Wallet.generate().owner_public_key(GS1)


def test_derivation_is_hkdf_as_specified() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    seed = bytes(range(32))
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"provledger wallet v1",
                    info=b"provledger owner key v1\x00" + URN.encode()).derive(seed)
    assert derive_owner_seed(seed, URN) == expected


@pytest.mark.parametrize("bad", ["", "R-1001", "https://shop.example/01/09506000134353/21/R-1"])
def test_bad_item_id_is_refused(bad: str) -> None:
    with pytest.raises(pl.ItemIdError):
        pl.Wallet.generate().owner_key(bad)


@pytest.mark.parametrize("seed", [b"", bytes(31), bytes(33), "x" * 32])
def test_bad_seed_is_refused(seed: Any) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        pl.Wallet(seed)


def test_repr_hides_the_seed() -> None:
    wallet = pl.Wallet(bytes(range(32)))
    assert repr(wallet) == "Wallet(<secret>)"


# -- the rules see only keys: the wrong item's key is refused -----------------


def test_wallet_key_owns_its_item_only(world: World) -> None:
    wallet = pl.Wallet.generate()
    # Two pieces, each issued to the key the owner's wallet derives for it.
    items = [pl.serial_item_id(world.jeweler.public_key, s) for s in ("W-1", "W-2")]
    for item in items:
        world.add(world.jeweler, item, pl.CertificateIssued(
            kind="ring", serial=item.rsplit(":", 1)[1], owner=wallet.owner_public_key(item)))
    a, b = (world.ledger.item(i) for i in items)
    assert a.owner != b.owner  # the ledger shows two unrelated owners
    # Item A's key cannot act on item B, and the refusal changes nothing.
    head = world.ledger.head(items[1])
    with pytest.raises(pl.PolicyError):
        world.add(wallet.owner_key(items[0]), items[1], pl.LostReported())
    assert world.ledger.head(items[1]) == head
    # Each piece's own derived key acts on it.
    world.add(wallet.owner_key(items[1]), items[1], pl.LostReported())
    assert world.ledger.item(items[1]).status != a.status


# -- files --------------------------------------------------------------------


def test_round_trip(tmp_path: Path) -> None:
    wallet = pl.Wallet.generate()
    path = tmp_path / "my.wallet"
    pl.write_wallet(path, wallet, passphrase=PASSPHRASE, _limits=LOW)
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_bytes())["format"] == WALLET_FORMAT
    again = pl.read_wallet(path, passphrase=PASSPHRASE)
    assert again.owner_public_key(GS1) == wallet.owner_public_key(GS1)
    assert pl.is_wallet_file(path)


def test_wallet_file_is_not_a_signing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "my.wallet"
    pl.write_wallet(path, pl.Wallet.generate(), passphrase=PASSPHRASE, _limits=LOW)
    before = path.read_bytes()
    with pytest.raises(pl.KeyFileError, match=r"is a wallet file .* not a signing key file"):
        read_signing_key(path, passphrase=PASSPHRASE)
    assert path.read_bytes() == before


def test_signing_key_file_is_not_a_wallet(tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    write_signing_key(path, pl.SigningKey.generate(), passphrase=PASSPHRASE, _limits=LOW)
    assert not pl.is_wallet_file(path)
    with pytest.raises(pl.KeyFileError, match=r"is a signing key file .* not a wallet file"):
        pl.read_wallet(path, passphrase=PASSPHRASE)


@pytest.mark.parametrize("kind", ["wallet", "signing key"])
def test_relabelled_file_fails_authentication(tmp_path: Path, kind: str) -> None:
    """The format is in the associated data: editing it passes the parser as
    the other kind of file, and then decryption fails."""
    path = tmp_path / "file.json"
    if kind == "wallet":
        pl.write_wallet(path, pl.Wallet.generate(), passphrase=PASSPHRASE, _limits=LOW)
    else:
        write_signing_key(path, pl.SigningKey.generate(), passphrase=PASSPHRASE, _limits=LOW)
    doc = json.loads(path.read_bytes())
    doc["format"] = FORMAT if kind == "wallet" else WALLET_FORMAT
    path.write_text(json.dumps(doc, indent=2) + "\n")
    read = read_signing_key if kind == "wallet" else pl.read_wallet
    with pytest.raises(pl.KeyFileError, match="wrong passphrase or corrupted"):
        read(path, passphrase=PASSPHRASE)


def test_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "my.wallet"
    pl.write_wallet(path, pl.Wallet.generate(), passphrase=PASSPHRASE, _limits=LOW)
    with pytest.raises(pl.KeyFileError, match="wrong passphrase"):
        pl.read_wallet(path, passphrase=b"not it")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "my.wallet"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        pl.write_wallet(path, pl.Wallet.generate(), passphrase=PASSPHRASE, _limits=LOW)
    assert path.read_bytes() == b"keep me"


def test_write_type_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Wallet"):
        pl.write_wallet(tmp_path / "w", pl.SigningKey.generate(),  # type: ignore[arg-type]
                        passphrase=PASSPHRASE, _limits=LOW)
    with pytest.raises(ValueError, match="empty"):
        pl.write_wallet(tmp_path / "w", pl.Wallet.generate(), passphrase=b"", _limits=LOW)
    assert not (tmp_path / "w").exists()


def test_is_wallet_file_on_other_things(tmp_path: Path) -> None:
    (tmp_path / "pub").write_text("ed25519:" + "A" * 43 + "\n")
    assert not pl.is_wallet_file(tmp_path / "pub")
    assert not pl.is_wallet_file(tmp_path / "missing")
    assert not pl.is_wallet_file("ed25519:" + "A" * 43)


def test_the_specs_recipe_checks_the_vectors() -> None:
    spec = (ROOT / "spec" / "wallet.md").read_text()
    recipe = spec.split("### Checking without provledger", 1)[1].split("```python\n", 1)[1]
    namespace: dict[str, Any] = {}
    exec(compile(recipe.split("```", 1)[0], "spec/wallet.md", "exec"), namespace)
    wallet_seed = bytes.fromhex(MANIFEST["wallet_seed"])
    for entry in MANIFEST["items"]:
        seed = namespace["owner_seed"](wallet_seed, entry["canonical_item"])
        assert seed.hex() == entry["owner_seed"]
        assert namespace["public_key_text"](seed) == entry["owner_public_key"]
    first = MANIFEST["items"][0]
    assert first["owner_seed"] in spec
    assert first["owner_public_key"] in spec
