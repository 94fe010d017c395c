"""A ledger file edited behind the library's back fails with typed errors only.

Each example copies a small ledger, drops the append-only triggers, then
edits, deletes and inserts rows of every table. Opening and auditing the
copy may succeed (an edit can be a no-op) or raise a ProvLedgerError; any
other exception (KeyError, ValueError, sqlite3.Error, a msgspec error...)
would reach the CLI as a traceback instead of one line on stderr.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger._note import SIG_COSIGNATURE_V1, NoteVerifier, cosign_checkpoint, parse_note
from provledger_cli.main import cli

from .conftest import T0, key, make_world

TABLES = ("meta", "entries", "keys", "tiles", "checkpoints", "map_tiles", "cosignatures")
QUICK, HEAVY = 60, 500


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four grants, four items, two checkpoints (so head-map tiles of two versions)."""
    path = tmp_path_factory.mktemp("tamper") / "ledger.db"
    w = make_world(path)
    for i in range(3):
        w.issue(f"T-{i}")
    w.ledger.sign_checkpoint(key("log"))
    w.issue("T-3")
    signed = w.ledger.sign_checkpoint(key("log"))
    witness = NoteVerifier("witness.test.example", key("witness").public_key, SIG_COSIGNATURE_V1)
    body = parse_note(signed.note).text
    line = cosign_checkpoint(body, name=witness.name, key=key("witness"), timestamp=T0).line
    assert w.ledger.add_cosignatures(signed.seq, line, [witness])
    w.ledger.close()
    return path


def _drop_triggers(conn: sqlite3.Connection) -> None:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in names:
        conn.execute(f'DROP TRIGGER "{name}"')


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _values(conn: sqlite3.Connection, table: str, column: str) -> list[Any]:
    return [r[0] for r in conn.execute(f"SELECT {column} FROM {table}")]


def _value(data: st.DataObject, existing: list[Any]) -> Any:
    """A value of any SQLite type: someone else's, a near miss of one, or anything."""
    options = [
        st.none(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.sampled_from([-1, 0, 1, 2, 7, 2**40, 2**62, 2**63 - 1]),
        st.text(max_size=12),
        st.binary(max_size=40),
        st.floats(allow_nan=False),
    ]
    if existing:
        options.append(st.sampled_from(existing))
        blobs = [v for v in existing if isinstance(v, bytes) and v]
        if blobs:
            options.append(st.sampled_from(blobs).map(lambda b: b[:-1]))
            options.append(st.sampled_from(blobs).map(lambda b: b[:-1] + bytes([b[-1] ^ 1])))
    return data.draw(st.one_of(options))


def _tamper(conn: sqlite3.Connection, data: st.DataObject) -> None:
    """One edit, delete or insert in a table hypothesis picks."""
    table = data.draw(st.sampled_from(TABLES))
    columns = _columns(conn, table)
    # Every table has a primary key; rows are picked by it through SQLite's
    # row order, which needs no rowid (most tables are WITHOUT ROWID).
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
    action = data.draw(st.sampled_from(["update", "delete", "insert"]))
    if action != "insert" and not rows:
        return
    try:
        if action == "insert":
            values = [_value(data, _values(conn, table, c)) for c in columns]
            conn.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(columns))})",
                         values)
            return
        row = data.draw(st.sampled_from(rows))
        where = " AND ".join(f"{c} IS ?" for c in columns)
        if action == "delete":
            conn.execute(f"DELETE FROM {table} WHERE {where}", row)
        else:
            column = data.draw(st.sampled_from(columns))
            value = _value(data, _values(conn, table, column))
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (value, *row))
    except sqlite3.IntegrityError:
        pass  # NOT NULL or a duplicate key: the schema refused this edit itself


def _open_and_audit(path: Path) -> None:
    try:
        with pl.Ledger.open(path) as ledger:
            ledger.audit()
            for cp in ledger.checkpoints():
                assert cp.size <= len(ledger)
    except pl.ProvLedgerError:
        pass


def _run(original: Path, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "ledger.db"
        shutil.copyfile(original, copy)
        conn = sqlite3.connect(copy, isolation_level=None)
        try:
            _drop_triggers(conn)
            for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
                _tamper(conn, data)
        finally:
            conn.close()
        _open_and_audit(copy)


@pytest.mark.parametrize("examples", [pytest.param(QUICK, id="quick"),
                                      pytest.param(HEAVY, id="heavy", marks=pytest.mark.slow)])
def test_tampered_rows_raise_only_typed_errors(original: Path, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        _run(original, data)

    check()


@pytest.mark.parametrize("name", ["schema", "origin", "root_key", "log_key"])
def test_a_missing_meta_row_is_one_line(original: Path, tmp_path: Path, name: str) -> None:
    """The issue's case: a renamed ``root_key`` row ended in ``KeyError: 'root_key'``."""
    copy = tmp_path / "ledger.db"
    shutil.copyfile(original, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    _drop_triggers(conn)
    conn.execute("UPDATE meta SET name = ? WHERE name = ?", (name + "_renamed", name))
    conn.close()
    with pytest.raises(pl.StorageError, match=f"meta row '{name}'"):
        pl.Ledger.open(copy)
    result = CliRunner().invoke(cli, ["--db", str(copy), "audit"], env={"PROVLEDGER_DB": None})
    assert result.exit_code == 5, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("provledger: error: ")


def test_an_entry_at_the_largest_index_is_a_storage_error(original: Path,
                                                          tmp_path: Path) -> None:
    """Found by the test above: the size, index + 1, overflowed SQLite's integers."""
    copy = tmp_path / "ledger.db"
    shutil.copyfile(original, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    _drop_triggers(conn)
    conn.execute("INSERT INTO entries SELECT ?, time, entry, hash, subject, type, signer, "
                 "state FROM entries WHERE idx = 0", (2**63 - 1,))
    conn.close()
    with pytest.raises(pl.StorageError, match="entries row 9223372036854775807"), \
            pl.Ledger.open(copy) as ledger:
        ledger.audit()

