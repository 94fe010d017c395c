"""PostgreSQL-specific behaviour of PostgresStore, on a real server (tests/pg.py).

What both backends share runs in the parametrized storage tests
(``ledger_target``); here: URL selection, the database's own refusals,
the writers' lock, the durability setting, copies between backends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import provledger as pl
from provledger import _backends
from provledger._store import SQLiteStore

from .conftest import ORIGIN, T0, World, key, make_world, raw_sql

psycopg = pytest.importorskip("psycopg")


def populated(url: str) -> World:
    w = make_world(url)  # type: ignore[arg-type]
    for n in range(5):
        w.issue(f"PG-{n}")
    w.ledger.sign_checkpoint(key("log"))
    return w


def digest(url: str) -> list[object]:
    """Every row of every ledger table, to show nothing changed."""
    return [raw_sql(url, f"SELECT * FROM {t} ORDER BY 1") for t in
            ("meta", "entries", "keys", "tiles", "checkpoints", "map_tiles", "cosignatures")]


def test_a_url_selects_postgres_and_a_path_sqlite(pg_url: str, tmp_path: Path) -> None:
    from provledger._pgstore import PostgresStore

    meta = {"schema": b"3", "origin": ORIGIN.encode()}
    for url in (pg_url, pg_url.replace("postgresql://", "postgres://", 1)):
        assert _backends.is_url(url)
    store = _backends.create_store(pg_url.replace("postgresql://", "postgres://", 1), meta)
    assert isinstance(store, PostgresStore)
    store.close()
    store = _backends.open_store(pg_url, readonly=True)
    assert isinstance(store, PostgresStore)
    assert store.meta() == meta
    store.close()
    for path in (tmp_path / "a.db", str(tmp_path / "b.db")):
        assert not _backends.is_url(path)
        store = _backends.create_store(path, meta)
        assert isinstance(store, SQLiteStore)
        store.close()


def test_messages_never_show_the_password() -> None:
    from provledger._backends import redact_target

    assert redact_target("postgresql://shop:s3cret@db.example:5433/ledger") == (
        "postgresql://shop:***@db.example:5433/ledger")
    with pytest.raises(pl.StorageError) as info:
        pl.Ledger.open("postgresql://shop:s3cret@127.0.0.1:1/ledger", timeout=2)
    assert "s3cret" not in str(info.value)
    assert "cannot connect" in str(info.value)


def test_open_and_create_errors(pg_url: str) -> None:
    with pytest.raises(pl.StorageError, match="no ledger here"):
        pl.Ledger.open(pg_url)
    w = populated(pg_url)
    with pytest.raises(pl.StorageError, match="already holds a ledger"):
        pl.Ledger.create(pg_url, origin=ORIGIN, root_key=key("root").public_key,
                         log_key=key("log").public_key)
    assert len(w.ledger) == 9
    w.ledger.close()


@pytest.mark.parametrize("sql", [
    "UPDATE entries SET time = time + 1 WHERE idx = 3",
    "DELETE FROM entries WHERE idx = (SELECT MAX(idx) FROM entries)",
    "TRUNCATE entries CASCADE",
    "UPDATE meta SET value = '\\x00'::bytea WHERE name = 'origin'",
    "DELETE FROM keys",
    "UPDATE checkpoints SET size = 1",
    "DELETE FROM map_tiles",
    "TRUNCATE map_tiles",
    "DELETE FROM tiles",
    "UPDATE tiles SET hashes = substr(hashes, 1, 32)",
    "INSERT INTO entries SELECT idx + 100, time, entry, hash, subject, type, signer, state "
    "FROM entries WHERE idx = 0",
    "INSERT INTO entries SELECT idx, time, entry, hash, subject, type, signer, state "
    "FROM entries WHERE idx = 0",
])
def test_the_database_refuses_changes_and_gaps(pg_url: str, sql: str) -> None:
    w = populated(pg_url)
    w.ledger.close()
    before = digest(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn, pytest.raises(psycopg.Error):
        conn.execute(sql)
    assert digest(pg_url) == before


def test_cosignatures_are_append_only_and_unique(pg_url: str) -> None:
    w = populated(pg_url)
    w.ledger.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO cosignatures (seq, vkey, line) VALUES (0, 'w', 'l')")
        for sql in ("UPDATE cosignatures SET line = 'x'", "DELETE FROM cosignatures",
                    "INSERT INTO cosignatures (seq, vkey, line) VALUES (0, 'w', 'm')",
                    "INSERT INTO cosignatures (seq, vkey, line) VALUES (7, 'v', 'm')"):
            with pytest.raises(psycopg.Error):
                conn.execute(sql)
        assert conn.execute("SELECT seq, vkey, line FROM cosignatures").fetchall() == [
            (0, "w", "l")]


def test_durability_is_set_on_every_connection(pg_url: str) -> None:
    populated(pg_url).ledger.close()
    # A URL asking for asynchronous commits does not get them.
    url = pg_url + "?options=-c%20synchronous_commit%3Doff"
    for readonly in (False, True):
        with pl.Ledger.open(url, readonly=readonly) as ledger:
            conn = ledger.store._conn  # type: ignore[attr-defined]
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
            assert conn.execute("SHOW fsync").fetchone() == ("on",)


def test_a_read_only_ledger_writes_nothing(pg_url: str) -> None:
    w = populated(pg_url)
    with pl.Ledger.open(pg_url, readonly=True) as ledger:
        with pytest.raises(pl.StorageError):
            ledger.append(w.sign(w.jeweler, pl.serial_item_id(w.jeweler.public_key, "RO"),
                                 pl.CertificateIssued(kind="ring", serial="RO",
                                                      owner=w.owner.public_key)))
        assert len(ledger) == 9
    w.ledger.close()


def test_a_held_writer_lock_gives_a_retryable_error_and_writes_nothing(pg_url: str) -> None:
    from provledger._pgstore import WRITE_LOCK

    w = populated(pg_url)
    before = digest(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as blocker:
        blocker.execute("BEGIN")
        blocker.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        with pl.Ledger.open(pg_url, timeout=0.2, clock=w.clock) as other, \
                pytest.raises(pl.LedgerBusyError):
            other.append(w.sign(w.jeweler, pl.serial_item_id(w.jeweler.public_key, "BUSY"),
                                pl.CertificateIssued(kind="ring", serial="BUSY",
                                                     owner=w.owner.public_key)))
        assert digest(pg_url) == before
        blocker.execute("ROLLBACK")
    w.issue("AFTER")
    assert len(w.ledger) == 10
    w.ledger.close()


def test_writers_on_separate_connections_keep_indices_dense(pg_url: str) -> None:
    w = populated(pg_url)
    w.ledger.close()
    threads, per = 4, 15
    blobs = [[pl.sign_statement(
        pl.CertificateIssued(kind="ring", serial=f"T{t}-{n}", owner=w.owner.public_key),
        key=w.jeweler, origin=ORIGIN,
        subject=pl.serial_item_id(w.jeweler.public_key, f"T{t}-{n}"), prev=None, time=T0 + 10)
        for n in range(per)] for t in range(threads)]
    got: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def write(t: int) -> None:
        try:
            with pl.Ledger.open(pg_url, timeout=30) as ledger:
                got[t] = [ledger.append(b).index for b in blobs[t]]
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for th in workers:
        th.start()
    for th in workers:
        th.join()
    assert not errors
    indices = sorted(i for v in got.values() for i in v)
    assert indices == list(range(9, 9 + threads * per))
    assert raw_sql(pg_url, "SELECT COUNT(*), MIN(idx), MAX(idx) FROM entries") == [
        (9 + threads * per, 0, 8 + threads * per)]
    with pl.Ledger.open(pg_url) as ledger:
        assert ledger.audit().size == 9 + threads * per


def test_backups_between_backends_audit_and_keep_the_root(pg_url: str, pg_server: object,
                                                         tmp_path: Path) -> None:
    w = populated(pg_url)
    w.ledger.sign_checkpoint(key("log"))  # a second head-map version
    root = w.ledger.root(len(w.ledger))
    report = w.ledger.backup(tmp_path / "copy.db")
    assert report.size == len(w.ledger)
    assert report.checkpoints == 2
    with pl.Ledger.open(tmp_path / "copy.db") as copy:
        assert copy.root(len(copy)) == root
        assert copy.store.map_tile_count() == w.ledger.store.map_tile_count()
        second = pg_server.new_database()  # type: ignore[attr-defined]
        copy.backup(second)
    with pl.Ledger.open(second, readonly=True) as back:
        assert back.root(len(back)) == root
        assert back.audit().checkpoints == 2
    # A non-empty database is refused, and left as it was.
    before = digest(second)
    with pytest.raises(pl.StorageError, match="already holds a ledger"):
        w.ledger.backup(second)
    assert digest(second) == before
    with pytest.raises(pl.StorageError, match="already exists"):
        w.ledger.backup(tmp_path / "copy.db")
    w.ledger.close()


def test_importing_provledger_does_not_load_psycopg() -> None:
    code = "import sys, provledger, provledger.verify; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_the_cli_takes_a_url(pg_url: str, pg_server: object, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """--db and PROVLEDGER_DB take a URL; init needs --keys; backup goes both ways
    and prints both roots."""
    from click.testing import CliRunner

    from provledger_cli.main import cli

    monkeypatch.setenv("PROVLEDGER_PASSPHRASE", "pw")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    no_keys = runner.invoke(cli, ["--db", pg_url, "init", "--origin", ORIGIN])
    assert no_keys.exit_code == 2
    assert "--keys" in no_keys.output
    made = runner.invoke(cli, ["--db", pg_url, "init", "--origin", ORIGIN, "--keys", "k"])
    assert made.exit_code == 0, made.output
    again = runner.invoke(cli, ["--db", pg_url, "init", "--origin", ORIGIN, "--keys", "k2"])
    assert again.exit_code == 5
    assert "already holds a ledger" in again.stderr
    assert not (tmp_path / "k2").exists()  # no key files for a ledger never made
    monkeypatch.setenv("PROVLEDGER_DB", pg_url)
    assert runner.invoke(cli, ["checkpoint", "--key", "k/log.key"]).exit_code == 0
    out = runner.invoke(cli, ["backup", "copy.db", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["root"] == doc["source_root"]
    assert doc["checkpoints"] == 1
    second = pg_server.new_database()  # type: ignore[attr-defined]
    monkeypatch.delenv("PROVLEDGER_DB")
    back = runner.invoke(cli, ["--db", "copy.db", "backup", "--to", second])
    assert back.exit_code == 0, back.output
    assert "(equal)" in back.stdout
    refused = runner.invoke(cli, ["--db", "copy.db", "backup", "--to", second])
    assert refused.exit_code == 5
    assert "already holds a ledger" in refused.stderr
    assert runner.invoke(cli, ["--db", second, "audit"]).exit_code == 0
