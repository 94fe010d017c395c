"""A small shop made with the CLI whose statements carry private text, for the
disclosure and erasure CLI tests (tests/test_disclose_cli.py, test_erase_cli.py).

Built once per module (key files cost ~0.1 s per unlock) and copied per test.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import provledger
from provledger._disclosure_file import disclosure_path
from provledger_cli.main import cli

PASS = "correct horse battery staple"
ORIGIN = "ledger.maison-rose.example/rings"
#: Distinct texts, so that a byte search finds only them.
INSCRIPTION = "Pour Zoë Qwertz, 14.02.2026"
CERT_NOTES = "Bought for Zoë, tel +33 6 12 34 56 78"
WORK = "Resized for Mme Yxcvbn"
REPAIR_NOTES = "Client allergic to nickel: Mme Yxcvbn, 12 rue Uiop"
CONDITION_NOTES = "Two claws worn, noted by Mlle Asdfgh"
SECRETS = (INSCRIPTION, CERT_NOTES, WORK, REPAIR_NOTES, CONDITION_NOTES)


def invoke(args: list[str], *, input: str | None = None) -> Result:
    env: dict[str, str | None] = {"PROVLEDGER_PASSPHRASE": PASS, "PROVLEDGER_DB": None}
    return CliRunner().invoke(cli, args, env=env, input=input, prog_name="provledger")


@dataclass
class Shop:
    """A ledger with an issuer (maison), a workshop (atelier), a client and one
    ring: issued with an inscription and notes, resized with notes, taken in
    for a repair with a condition report's notes; a checkpoint, a policy."""

    dir: Path
    item: str = ""
    repair: str = ""  # the hash of the resize's repair.recorded

    @property
    def db(self) -> Path:
        return self.dir / "rings.db"

    @property
    def disclosures(self) -> Path:
        return disclosure_path(self.db)

    def __truediv__(self, name: str) -> Path:
        return self.dir / name

    def run(self, *args: str | Path, input: str | None = None) -> Result:
        return invoke(["--db", str(self.db), *map(str, args)], input=input)

    def ok(self, *args: str | Path, input: str | None = None) -> Result:
        result = self.run(*args, input=input)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str | Path) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def size(self) -> int:
        with provledger.Ledger.open(self.db, readonly=True) as ledger:
            return len(ledger)

    def copy(self, to: Path) -> Shop:
        shutil.copytree(self.dir, to)
        return Shop(to, self.item, self.repair)


def file_bytes(path: Path) -> bytes:
    """A SQLite file's bytes with its -wal's, as they are on disk."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def build(directory: Path) -> Shop:
    shop = Shop(directory)
    shop.ok("init", "--origin", ORIGIN, "--keys", shop / "keys")
    for name in ("maison", "atelier", "client"):
        shop.ok("key", "new", name, "--dir", shop.dir)
    shop.ok("authorize", "--key", shop / "keys/root.key", "--role", "issuer",
            "--name", "Maison Rose", shop / "maison.pub")
    shop.ok("authorize", "--key", shop / "maison.key", "--role", "service",
            "--name", "Atelier Dupont", shop / "atelier.pub")
    shop.item = shop.json("issue", "--key", shop / "maison.key", "--serial", "R-1001",
                          "--kind", "ring", "--owner", shop / "client.pub",
                          "--inscription", INSCRIPTION, "--notes", CERT_NOTES)["item"]
    shop.repair = shop.json(
        "repair", shop.item, "--key", shop / "atelier.key", "--category", "resize",
        "--work", WORK, "--performed-by", "Atelier Dupont", "--started", "2026-11-20",
        "--completed", "2026-11-21", "--notes", REPAIR_NOTES)["hash"]
    shop.ok("repair", "request", shop.item, "--key", shop / "atelier.key", "--category",
            "repair", "--work", "Re-tip four claws", "--promised", "+7d")
    shop.ok("repair", "receive", shop.item, "--key", shop / "atelier.key", "--grade", "good",
            "--condition-notes", CONDITION_NOTES)
    shop.ok("checkpoint", "--key", shop / "keys/log.key")
    shop.ok("policy", "-o", shop / "rings.policy")
    return shop


def shop_fixtures(name: str) -> tuple[Any, Any]:
    """A test module's fixtures: ``base``, the shop built once for the module,
    and ``shop``, a fresh copy of it per test."""

    @pytest.fixture(scope="module")
    def base(tmp_path_factory: pytest.TempPathFactory) -> Shop:
        return build(tmp_path_factory.mktemp(name) / "shop")

    @pytest.fixture
    def shop(base: Shop, tmp_path: Path) -> Shop:
        return base.copy(tmp_path / "shop")

    return base, shop
