"""The provledger command line, end to end: real key files, real SQLite, no mocks.

Key files use the default "interactive" argon2id cost (~0.1 s per unlock), so
the shared shop below is built once per module and copied into each test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

import provledger
from provledger_cli.main import cli

PASS = "correct horse battery staple"
ORIGIN = "ledger.maison-rose.example/rings"
REPAIR = ("--category", "resize", "--work", "Resized from 52 to 54",
          "--performed-by", "Atelier Dupont", "--started", "2026-11-20",
          "--completed", "2026-11-21T10:00:00Z")


def invoke(args: list[str], *, env: dict[str, str | None] | None = None,
           input: str | None = None) -> Result:
    environment: dict[str, str | None] = {"PROVLEDGER_PASSPHRASE": PASS, "PROVLEDGER_DB": None}
    environment.update(env or {})
    return CliRunner().invoke(cli, args, env=environment, input=input, prog_name="provledger")


def assert_ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def assert_error(result: Result, code: int, *, contains: str = "") -> str:
    """The command failed with ``code`` and exactly one error line on stderr."""
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # nothing escaped
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("provledger: error: "), lines[0]
    assert contains in lines[0]
    return lines[0]


@dataclass
class Shop:
    """A ledger with a root, an issuer (maison), a service (atelier), a client and one ring."""

    dir: Path
    item: str

    @property
    def db(self) -> Path:
        return self.dir / "rings.db"

    def __truediv__(self, name: str) -> Path:
        return self.dir / name

    def run(self, *args: str | Path, env: dict[str, str | None] | None = None,
            input: str | None = None) -> Result:
        return invoke(["--db", str(self.db), *map(str, args)], env=env, input=input)

    def ok(self, *args: str | Path, **kwargs: Any) -> Result:
        return assert_ok(self.run(*args, **kwargs))

    def json(self, *args: str | Path, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, "--json", **kwargs).stdout)

    def ledger_size(self) -> int:
        with provledger.Ledger.open(self.db, readonly=True) as ledger:
            return len(ledger)


@pytest.fixture(scope="module")
def base_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    shop = Shop(tmp_path_factory.mktemp("shop"), item="")
    init = shop.json("init", "--origin", ORIGIN)
    assert init["origin"] == ORIGIN
    assert (shop / "rings-keys" / "root.key").stat().st_mode & 0o777 == 0o600
    assert provledger.read_public_key(shop / "rings-keys" / "root.pub") == \
        provledger.parse_public_key(init["root_key"])
    for name in ("maison", "atelier", "client"):
        out = shop.ok("key", "new", name, "--dir", shop.dir).stdout.strip()
        assert provledger.read_public_key(shop / f"{name}.pub") == provledger.parse_public_key(out)
        assert (shop / f"{name}.key").stat().st_mode & 0o777 == 0o600
    shop.ok("authorize", "--key", shop / "rings-keys/root.key", "--role", "issuer",
            "--name", "Maison Rose", "--gs1-prefix", "9506000", "--domain", "Maison-Rose.example.",
            shop / "maison.pub")
    shop.ok("authorize", "--key", shop / "maison.key", "--role", "service",
            "--name", "Atelier Dupont", shop / "atelier.pub")
    photo = shop / "ring.jpg"
    photo.write_bytes(b"\xff\xd8 not really a jpeg")
    issued = shop.json(
        "issue", "--key", shop / "maison.key", "--serial", "R-1001", "--kind", "ring",
        "--owner", shop / "client.pub", "--metal", "18k white gold", "--fineness", "750",
        "--mass-mg", "4200", "--size", "54", "--inscription", "A & B",
        "--stone", "kind=diamond,weight_ct100=50,color=G,clarity=VS1,cut=excellent,report=GIA1",
        "--stone", "kind=sapphire,count=2", "--dimensions", "21000x21500x2500",
        "--photo", photo, "--document", "sha256:" + "ab" * 32,
    )
    maison = provledger.read_public_key(shop / "maison.pub")
    assert issued["item"] == provledger.serial_item_id(maison, "R-1001")
    assert issued["index"] == 2
    shop.item = issued["item"]
    return shop


@pytest.fixture
def shop(base_shop: Shop, tmp_path: Path) -> Shop:
    """A private copy of the shared shop, free to change."""
    directory = tmp_path / "shop"
    shutil.copytree(base_shop.dir, directory)
    return Shop(directory, base_shop.item)


def db_fingerprint(db: Path) -> tuple[str, str]:
    """SHA-256 of the database file and of its WAL, after a checkpoint."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = db.with_name(db.name + "-wal")
    wal_bytes = wal.read_bytes() if wal.exists() else b""
    return hashlib.sha256(db.read_bytes()).hexdigest(), hashlib.sha256(wal_bytes).hexdigest()


# -- help ---------------------------------------------------------------------


def _all_commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _all_commands(command, (*path, name))


COMMANDS = sorted(_all_commands(cli))


def test_top_level_help_lists_every_exit_code() -> None:
    out = assert_ok(invoke(["--help"])).stdout
    assert "Exit codes:" in out
    for code in (*range(8), 130):
        assert f"\n    {code}  " in out
    assert "PROVLEDGER_PASSPHRASE" in out
    assert "Example:" in out


def test_the_commands_are_the_documented_ones() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert names == {
        "init", "key", "key new", "key show", "key rotate", "key revoke", "key wallet",
        "key owner-key", "authorize",
        "deauthorize", "issue", "attest", "repair", "appraise", "report", "renew", "reaffirm",
        "revoke", "sign", "submit", "history", "audit", "transfer",
        *(f"transfer {c}" for c in ("open", "accept", "decline", "cancel", "acknowledge",
                                    "reject", "dispute", "resolve", "status")),
        "export", "policy", "verify", "erase", "checkpoint", "checkpoint cosignatures",
        "checkpoint cosignatures add", "checkpoint cosignatures request", "proof",
        "proof inclusion",
        "proof consistency", "log", "log vkey", "log entry", "log checkpoints", "backup",
        "monitor", "witness", "witness init", "witness add-log", "witness serve",
        "witness cosign", "witness show", "serve", "card", "publish", "care",
        *(f"care {c}" for c in ("enrol", "renew", "cancel", "consent", "redeem")),
        *(f"repair {c}" for c in ("record", "request", "receive", "progress", "ready",
                                  "collect", "cancel")),
        "owner", "owner rotate", "recovery", "recovery start", "recovery cancel",
        "rules", "rules publish", "rules show",
    }


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_of_every_command_shows_an_example(command: tuple[str, ...]) -> None:
    out = assert_ok(invoke([*command, "--help"])).stdout
    assert "Example" in out
    assert f"provledger {command[0]}" in out or "provledger --db" in out


# -- the jeweler's story ------------------------------------------------------------


def test_jeweler_story(shop: Shop) -> None:
    repaired = shop.json("repair", shop.item, "--key", shop / "atelier.key", *REPAIR,
                         "--part", "name=prong,count=2,material=18k white gold,mass_mg=120",
                         "--photo-before", shop / "ring.jpg", "--notes", "client asked")
    assert repaired["index"] == 3
    assert repaired["type"] == "repair.recorded"
    out = shop.ok("appraise", shop.item, "--key", shop / "atelier.key", "--value-minor", "420000",
                  "--currency", "EUR", "--method", "in_person", "--appraiser", "Atelier Dupont",
                  "--document", shop / "ring.jpg").stdout
    assert out.startswith("appended entry 4 (appraisal.recorded) hash ")

    report = shop.json("history", shop.item)
    assert report["item"] == shop.item
    assert report["status"] == "active"
    assert report["issuer_name"] == "Maison Rose"
    assert report["owner"] == (shop / "client.pub").read_text().strip()
    assert [e["type"] for e in report["events"]] == [
        "cert.issued", "repair.recorded", "appraisal.recorded"]
    assert [e["signed_as"] for e in report["events"]] == [
        "Maison Rose", "Atelier Dupont", "Atelier Dupont"]
    issued, repair, appraisal = (e["fields"] for e in report["events"])
    assert issued["stones"][0] == {"kind": "diamond", "weight_ct100": 50, "color": "G",
                                   "clarity": "VS1", "cut": "excellent", "report": "GIA1"}
    assert issued["stones"][1] == {"kind": "sapphire", "count": 2}
    assert issued["dimensions"] == {"length_um": 21000, "width_um": 21500, "height_um": 2500}
    photo_digest = hashlib.sha256((shop / "ring.jpg").read_bytes()).hexdigest()
    assert issued["photos"] == [photo_digest]
    assert issued["documents"] == ["ab" * 32]
    assert repair["work"] == "Resized from 52 to 54"
    assert repair["started"] == "2026-11-20T00:00:00Z"
    assert repair["completed"] == "2026-11-21T10:00:00Z"
    assert repair["parts"] == [{"name": "prong", "count": 2, "material": "18k white gold",
                                "mass_mg": 120}]
    assert repair["photos_before"] == [photo_digest]
    assert appraisal["value_minor"] == 420000
    assert appraisal["currency"] == "EUR"
    assert not any(e["invalidated"] for e in report["events"])

    human = shop.ok("history", shop.item).stdout
    assert "issuer       Maison Rose" in human
    assert "work: Resized from 52 to 54" in human
    assert "value_minor: 420000" in human
    assert "currency: EUR" in human

    audit = shop.json("audit", "--workers", "2")
    assert audit == {"ok": True, "size": 5, "subjects": 3, "checkpoints": 0, "disclosures": 5,
                     "invalidated": []}
    assert "audit ok: 5 entries" in shop.ok("audit").stdout


def test_gs1_item_and_second_role_then_attest(shop: Shop) -> None:
    issued = shop.json("issue", "--key", shop / "maison.key", "--serial", "R-1002",
                       "--gtin", "09506000134352", "--domain", "maison-rose.example",
                       "--kind", "pendant", "--owner", shop / "maison.pub")
    item = issued["item"]
    assert item == "https://maison-rose.example/01/09506000134352/21/R-1002"
    # atelier already has an authority chain: the new role goes on it
    granted = shop.json("authorize", "--key", shop / "maison.key", "--role", "attester",
                        "--name", "Atelier Dupont", shop / "atelier.pub")
    atelier = provledger.read_public_key(shop / "atelier.pub")
    assert granted["subject"] == provledger.authority_subject(atelier)
    shop.ok("attest", item, "--key", shop / "atelier.key", "--capacity", "gemologist")
    report = shop.json("history", item)
    assert report["attested_by"] == ["Atelier Dupont"]
    assert "attested by  Atelier Dupont as gemologist" in shop.ok("history", item).stdout

    # --item takes any spelling of an item id and certifies the canonical one.
    urn = provledger.serial_item_id(provledger.read_public_key(shop / "maison.pub"), "R-3003")
    sloppy = urn.upper().replace("R-3003", "R%2D3003")
    named = shop.json("issue", "--key", shop / "maison.key", "--item", sloppy,
                      "--kind", "ring", "--owner", shop / "client.pub")
    assert named["item"] == urn
    assert shop.json("history", named["item"])["events"][0]["fields"]["serial"] == "R-3003"
    usage = shop.run("issue", "--key", shop / "maison.key", "--item", "urn:example:ring:R-3004",
                     "--kind", "ring", "--owner", shop / "client.pub")
    assert usage.exit_code == 2
    assert "urn:provledger:item:<tag>:<serial>" in usage.stderr


def test_item_lifecycle_and_deauthorize(shop: Shop) -> None:
    maison, client, atelier = (shop / f"{n}.key" for n in ("maison", "client", "atelier"))
    shop.ok("report", "lost", shop.item, "--key", client, "--notes", "lost at the beach")
    shop.ok("report", "recovered", shop.item, "--key", client)
    shop.ok("report", "stolen", shop.item, "--key", maison, "--reference", "PP-2026-1")
    assert shop.json("history", shop.item)["status"] == "stolen"
    shop.ok("report", "recovered", shop.item, "--key", maison)
    shop.ok("renew", shop.item, "--key", maison, "--reason", "10-year inspection")
    shop.ok("deauthorize", "--key", maison, "--role", "service", shop / "atelier.pub")
    assert_error(shop.run("repair", shop.item, "--key", atelier, *REPAIR), 3,
                 contains="neither the owner nor a service provider")
    shop.ok("revoke", shop.item, "--key", maison, "--reason", "melted down")
    assert shop.json("history", shop.item)["status"] == "revoked"
    assert_error(shop.run("renew", shop.item, "--key", maison, "--reason", "again"), 3,
                 contains="revoked")
    usage = shop.run("report", "lost", shop.item, "--key", client, "--reference", "x")
    assert usage.exit_code == 2
    assert "--reference applies only to 'report stolen'" in usage.stderr


# -- keys ---------------------------------------------------------------------


def test_key_new_prompts_twice_and_show_reads_both_files(shop: Shop) -> None:
    result = shop.ok("key", "new", "alice", "--dir", shop / "k", "--json",
                     env={"PROVLEDGER_PASSPHRASE": None}, input="s3cret\ns3cret\n")
    assert result.stdout.count("\n") > 1  # the prompts go to the terminal, JSON follows
    created = json.loads(result.stdout[result.stdout.index("{"):])
    assert shop.ok("key", "show", shop / "k/alice.pub").stdout.strip() == created["public_key"]
    shown = shop.json("key", "show", shop / "k/alice.key", env={"PROVLEDGER_PASSPHRASE": "s3cret"})
    assert shown["public_key"] == created["public_key"]
    assert_error(shop.run("key", "new", "alice", "--dir", shop / "k"), 7,
                 contains="refusing to overwrite")


def test_key_rotate_then_revoke_marks_entries_invalidated(shop: Shop) -> None:
    shop.ok("key", "new", "atelier2", "--dir", shop.dir)
    shop.ok("key", "rotate", "--key", shop / "atelier.key", "--new", shop / "atelier2.pub")
    # the old key is retired: a verification failure, not a policy one
    assert_error(shop.run("repair", shop.item, "--key", shop / "atelier.key", *REPAIR), 1,
                 contains="revoked or rotated out")
    repaired = shop.json("repair", shop.item, "--key", shop / "atelier2.key", *REPAIR)
    shop.ok("key", "revoke", "--key", shop / "maison.key", shop / "atelier2.pub",
            "--since", "2020-01-01", "--notes", "workshop laptop stolen")
    events = shop.json("history", shop.item)["events"]
    assert [e["invalidated"] for e in events] == [False, True]
    assert "INVALIDATED" in shop.ok("history", shop.item).stdout
    audit = shop.json("audit")
    assert [i["index"] for i in audit["invalidated"]] == [repaired["index"]]


def test_init_refuses_an_existing_ledger_and_a_bad_origin(shop: Shop, tmp_path: Path) -> None:
    assert_error(shop.run("init", "--origin", ORIGIN), 5, contains="already exists")
    fresh = tmp_path / "fresh.db"
    result = invoke(["--db", str(fresh), "init", "--origin", "has spaces"])
    assert result.exit_code == 2
    assert not fresh.exists()
    assert not (tmp_path / "fresh-keys").exists()


# -- offline signing ------------------------------------------------------------


def test_offline_signing_then_submit(shop: Shop) -> None:
    size = shop.ledger_size()
    atelier = shop / "atelier.key"
    first = shop.json("repair", shop.item, "--key", atelier, *REPAIR, "-o", shop / "1.cose")
    assert first["prev"] == shop.json("history", shop.item)["certificate"]
    second = shop.json("appraise", shop.item, "--key", atelier, "--value-minor", "1",
                       "--currency", "CHF", "--method", "lab", "--appraiser", "Lab",
                       "-o", shop / "2.cose", "--prev", first["hash"])
    body = shop / "body.json"
    body.write_text(json.dumps({
        "category": "cleaning", "work": "Ultrasonic clean", "performed_by": "Atelier Dupont",
        "started": 1795168800, "completed": 1795172400, "notes": "ed25519:not a key",
        "photos_after": ["sha256:" + "cd" * 32],
        "parts": [{"name": "polish", "material": "rouge"}],
    }))
    third = shop.json("sign", "--type", "repair.recorded", "--body", body, "--key", atelier,
                      "--subject", shop.item, "-o", shop / "3.cose", "--prev", second["hash"])
    assert shop.ledger_size() == size  # signing never touches the ledger

    files = [shop / f"{i}.cose" for i in (1, 2, 3)]
    appended = shop.json("submit", *files)["appended"]
    assert [a["index"] for a in appended] == [size, size + 1, size + 2]
    assert [a["hash"] for a in appended] == [first["hash"], second["hash"], third["hash"]]
    cleaning = shop.json("history", shop.item)["events"][-1]["fields"]
    assert cleaning["photos_after"] == ["cd" * 32]
    assert cleaning["notes"] == "ed25519:not a key"

    # resubmitting is a replay: refused by the rules, named by file
    assert_error(shop.run("submit", files[0]), 3, contains=f"{files[0]}: ")


def test_offline_signing_without_a_ledger_file(shop: Shop, tmp_path: Path) -> None:
    nowhere = str(tmp_path / "nowhere.db")
    args = ["issue", "--key", str(shop / "maison.key"), "--serial", "R-2002", "--kind", "pendant",
            "--owner", str(shop / "client.pub")]
    result = invoke(["--db", nowhere, *args, "-o", str(tmp_path / "x.cose")])
    assert result.exit_code == 2
    assert "--origin" in result.stderr
    signed = json.loads(assert_ok(invoke([
        "--db", nowhere, *args, "-o", str(tmp_path / "issue.cose"), "--origin", ORIGIN,
        "--prev", "none", "--json"])).stdout)
    assert signed["prev"] is None
    assert not Path(nowhere).exists()
    shop.ok("submit", tmp_path / "issue.cose")
    assert shop.json("history", signed["item"])["events"][0]["fields"]["kind"] == "pendant"


def test_sign_rejects_a_bad_body(shop: Shop) -> None:
    body = shop / "body.json"
    body.write_text(json.dumps({"reason": "x", "photos": ["not a digest"]}))
    args = ("sign", "--type", "cert.renewed", "--body", body, "--key", shop / "maison.key",
            "--subject", shop.item, "-o", shop / "r.cose")
    assert_error(shop.run(*args), 4, contains="$.photos[0]")
    body.write_text("{")
    assert_error(shop.run(*args), 4, contains="not JSON")
    assert not (shop / "r.cose").exists()


def test_an_invalid_enum_value_or_field_name_lists_the_allowed_ones(shop: Shop) -> None:
    body = shop / "body.json"
    body.write_text(json.dumps({"category": "polish", "work": "Polished",
                                "performed_by": "Atelier Dupont"}))
    args = ("sign", "--type", "repair.recorded", "--body", body, "--key",
            shop / "atelier.key", "--subject", shop.item, "-o", shop / "r.cose")
    line = assert_error(shop.run(*args), 4, contains="Invalid enum value 'polish'")
    assert "(allowed: cleaning, repair, resize, restoration, service)" in line
    body.write_text(json.dumps({"category": "repair", "work": "Polished", "by": "x"}))
    assert_error(shop.run(*args), 4, contains="(allowed: ")
    result = shop.run("issue", "--key", shop / "maison.key", "--serial", "R-2001", "--kind",
                      "ring", "--owner", shop / "client.pub", "--stone", "kind=ruby,colour=red")
    assert result.exit_code == 2, result.output
    assert "unknown field `colour` (allowed: cut, kind, color, count" in result.stderr
    assert not (shop / "r.cose").exists()


def test_rejected_submit_leaves_the_ledger_byte_for_byte_unchanged(shop: Shop) -> None:
    good = shop.json("repair", shop.item, "--key", shop / "atelier.key", *REPAIR,
                     "-o", shop / "good.cose")
    # chained correctly after the good one, but signed by the root, who is no service
    shop.ok("repair", shop.item, "--key", shop / "rings-keys/root.key", *REPAIR,
            "-o", shop / "unauthorized.cose", "--prev", good["hash"])
    (shop / "garbage.cose").write_bytes(b"\xd2\x84 garbage")
    size = shop.ledger_size()
    before = db_fingerprint(shop.db)

    assert_error(shop.run("submit", shop / "good.cose", shop / "unauthorized.cose"), 3,
                 contains=f"{shop / 'unauthorized.cose'}: repair.recorded")
    assert db_fingerprint(shop.db) == before
    assert_error(shop.run("submit", shop / "good.cose", shop / "garbage.cose"), 4,
                 contains=f"{shop / 'garbage.cose'}: statement")
    assert db_fingerprint(shop.db) == before
    assert shop.ledger_size() == size
    assert shop.json("audit")["size"] == size

    shop.ok("submit", shop / "good.cose")
    assert shop.ledger_size() == size + 1


# -- errors: one line on stderr, a documented exit code -------------------------------


def test_unauthorized_repair_exits_3(shop: Shop) -> None:
    assert_error(shop.run("repair", shop.item, "--key", shop / "rings-keys/root.key", *REPAIR), 3,
                 contains="neither the owner nor a service provider")


def test_garbage_statement_file_exits_4(shop: Shop) -> None:
    (shop / "garbage.cose").write_bytes(b"this is not a statement")
    assert_error(shop.run("submit", shop / "garbage.cose"), 4, contains="garbage.cose")


def test_missing_ledger_exits_5(shop: Shop, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.db")
    assert_error(invoke(["--db", missing, "history", shop.item]), 5, contains="no ledger here")
    assert_error(invoke(["--db", missing, "repair", shop.item, "--key",
                         str(shop / "atelier.key"), *REPAIR]), 5)
    assert not Path(missing).exists()


def test_audit_of_a_tampered_ledger_exits_1(shop: Shop) -> None:
    conn = sqlite3.connect(shop.db)
    try:
        # Go around the append-only triggers, as someone with the file could.
        triggers = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'")]
        for name in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        entry = bytearray(conn.execute("SELECT entry FROM entries WHERE idx = 2").fetchone()[0])
        entry[-1] ^= 1
        conn.execute("UPDATE entries SET entry = ? WHERE idx = 2", (bytes(entry),))
        conn.commit()
    finally:
        conn.close()
    assert_error(shop.run("audit"), 1, contains="entry 2")
    assert shop.run("audit", "--json").stdout == ""


def test_unknown_item_exits_6(shop: Shop) -> None:
    unknown = "urn:provledger:item:0000000000000000:NOPE"
    assert_error(shop.run("history", unknown), 6, contains=unknown)
    assert_error(shop.run("repair", unknown, "--key", shop / "atelier.key", *REPAIR), 6)


def test_wrong_passphrase_exits_7(shop: Shop) -> None:
    assert_error(shop.run("repair", shop.item, "--key", shop / "atelier.key", *REPAIR,
                          env={"PROVLEDGER_PASSPHRASE": "wrong"}), 7,
                 contains="wrong passphrase")


def test_malformed_public_key_exits_4_and_missing_key_file_exits_7(shop: Shop) -> None:
    args = ("authorize", "--key", shop / "maison.key", "--role", "service", "--name", "X")
    assert_error(shop.run(*args, "ed25519:short"), 4)
    assert_error(shop.run(*args, shop / "nobody.pub"), 7, contains="nobody.pub")


def test_the_ledger_file_can_come_from_the_environment(shop: Shop) -> None:
    result = invoke(["history", "--json", shop.item], env={"PROVLEDGER_DB": str(shop.db)})
    assert json.loads(assert_ok(result).stdout)["item"] == shop.item


def test_closed_passphrase_prompt_exits_130(shop: Shop) -> None:
    result = shop.run("key", "show", shop / "maison.key", env={"PROVLEDGER_PASSPHRASE": None},
                      input="")
    assert result.exit_code == 130
    last = result.stderr.splitlines()[-1]
    assert last.startswith("provledger: error: interrupted: no passphrase for ")
    assert "PROVLEDGER_PASSPHRASE" in last


@pytest.mark.parametrize("args", [
    ("repair", "ITEM", "--category", "resize", "--work", "w", "--performed-by", "p",
     "--started", "yesterday", "--completed", "2026-11-21"),
    ("repair", "ITEM", "--category", "resize", "--work", "w", "--performed-by", "p",
     "--started", "2026-11-20T10:00:00", "--completed", "2026-11-21"),
    ("issue", "--serial", "R-9", "--kind", "ring", "--owner", "OWNER", "--stone", "kind=d,x=1"),
    ("issue", "--serial", "R-9", "--kind", "ring", "--owner", "OWNER", "--photo", "sha256:12"),
    ("issue", "--serial", "R-9", "--kind", "ring", "--owner", "OWNER", "--gtin", "12345678"),
    ("history",),
])
def test_usage_errors_exit_2(shop: Shop, args: tuple[str, ...]) -> None:
    owner = (shop / "client.pub").read_text().strip()
    argv = [owner if a == "OWNER" else shop.item if a == "ITEM" else a for a in args]
    if argv[0] != "history":
        argv += ["--key", str(shop / "maison.key")]
    result = shop.run(*argv)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.output


def test_no_passphrase_and_no_terminal_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROVLEDGER_PASSPHRASE"}
    done = subprocess.run(
        [sys.executable, "-c", "from provledger_cli.main import main; main()",
         "key", "new", "nobody"], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, check=False, timeout=60,
        start_new_session=True)  # no controlling terminal: getpass cannot open /dev/tty
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [
        "provledger: error: interrupted: no passphrase for the new key nobody (set "
        "PROVLEDGER_PASSPHRASE to run without a terminal)"]
    assert not list(tmp_path.iterdir())
