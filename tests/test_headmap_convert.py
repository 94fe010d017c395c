"""Ledgers written before head-map tiles: read as they are, converted when written.

tests/data/ledger-v3.db was written by the previous version (schema 2: the
head map a ``map_nodes`` row per node; make_ledger_v3.py). A PostgreSQL
ledger of that schema is made here from a current one, its tiles replaced
by the nodes the reference map (_smt) gives, as that version stored them.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import provledger as pl
from provledger import _smt
from provledger._legacy_map import CONVERTING_MAP
from provledger._merkle import leaf_hash
from provledger._store import SQLiteStore

from .conftest import key, make_world, raw_sql, snapshot, table_names
from .test_smt import MemoryNodes
from .test_store import append_certs, tamper

V3_LEDGER = Path(__file__).resolve().parent / "data" / "ledger-v3.db"
ORIGIN = "test.example/ledger"
#: Items of the file: the first (repaired, then reported lost), and others.
SERIALS = ("V3-0000", "V3-0001", "V3-0199", "V3-0377", "V3-0599")


@pytest.fixture
def v3(tmp_path: Path) -> Path:
    copy = tmp_path / "ledger-v3.db"
    shutil.copyfile(V3_LEDGER, copy)
    return copy


def _items() -> list[str]:
    return [pl.serial_item_id(key("jeweler").public_key, s) for s in SERIALS]


def _bundles(ledger: pl.Ledger, items: list[str]) -> list[bytes]:
    """Each item's bundle, checked offline against the ledger's own policy."""
    out = []
    for item in items:
        data = ledger.export(item)
        history = pl.verify_bundle(data, policy=ledger.trust_policy(),
                                   now=ledger.store.last_time() + 60)
        assert history.item == item
        out.append(data)
    return out


def _map_tiles(ledger: pl.Ledger) -> list[list[tuple[int, bytes, bytes]]]:
    return [ledger.store.map_tiles(cp.seq) for cp in ledger.checkpoints()]


def test_a_v3_file_reads_read_only_from_its_nodes_and_is_not_changed(v3: Path) -> None:
    digest = hashlib.sha256(v3.read_bytes()).digest()
    with pl.Ledger.open(v3, readonly=True) as ledger:
        assert ledger.store.meta()["schema"] == b"2"
        assert ledger.audit().checkpoints == 4
        _bundles(ledger, _items())
        assert all(_map_tiles(ledger))
    assert "map_nodes" in table_names(v3)
    assert hashlib.sha256(v3.read_bytes()).digest() == digest


def test_a_v3_file_converts_its_head_map_when_opened_for_writing(v3: Path) -> None:
    with pl.Ledger.open(v3, readonly=True) as ledger:
        bundles, tiles = _bundles(ledger, _items()), _map_tiles(ledger)
    stages: list[tuple[str, int, int | None]] = []
    SQLiteStore.open(v3, progress=lambda *a: stages.append(a)).close()
    assert [s for s in stages if s[0] == CONVERTING_MAP] == [
        (CONVERTING_MAP, n, 4) for n in range(5)]
    assert "map_tiles" in table_names(v3)
    assert "map_nodes" not in table_names(v3)
    w = make_world(v3.parent / "scratch.db")  # the same keys and origin as the file
    with pl.Ledger.open(v3, clock=w.clock) as ledger:
        assert ledger.store.meta()["schema"] == b"3"
        assert _map_tiles(ledger) == tiles
        assert _bundles(ledger, _items()) == bundles
        assert ledger.audit().checkpoints == 4
        w.clock.t = ledger.store.last_time() + 1
        append_certs(w, ledger, "after", 30)
        ledger.sign_checkpoint(key("log"))
        assert ledger.audit().checkpoints == 5
        _bundles(ledger, [*_items(), pl.serial_item_id(w.jeweler.public_key, "after7")])
    conn = sqlite3.connect(v3)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE map_tiles SET version = 9")
    finally:
        conn.close()


def test_a_v3_file_with_a_damaged_node_is_not_converted(v3: Path) -> None:
    """The conversion rebuilds each checkpoint's root from the nodes' leaves
    and refuses when that is not the root the nodes store; the read-only
    audit says what is wrong."""
    tamper(v3, "UPDATE map_nodes SET value = zeroblob(32) WHERE version = 2 AND "
               "key = (SELECT MIN(key) FROM map_nodes WHERE version = 2)")
    before = snapshot(v3)
    with pytest.raises(pl.StorageError, match="checkpoint 2 does not rebuild"):
        SQLiteStore.open(v3)
    assert snapshot(v3) == before
    with pl.Ledger.open(v3, readonly=True) as ledger, \
            pytest.raises(pl.AuditError, match="checkpoint 2"):
        ledger.audit()


def test_an_interrupted_conversion_leaves_the_file_as_it_was(v3: Path) -> None:
    before = snapshot(v3)

    def interrupt(stage: str, done: int, _total: int | None) -> None:
        if stage == CONVERTING_MAP and done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SQLiteStore.open(v3, progress=interrupt)
    assert snapshot(v3) == before
    with pl.Ledger.open(v3) as ledger:
        assert ledger.audit().checkpoints == 4


#: Schema 2's head map on PostgreSQL, as that version made it.
_PG_MAP_NODES = """
CREATE TABLE map_nodes (
    depth    INTEGER NOT NULL,
    position BYTEA NOT NULL,
    version  BIGINT NOT NULL,
    hash     BYTEA NOT NULL,
    key      BYTEA,
    value    BYTEA,
    PRIMARY KEY (depth, position, version)
)"""


def _as_schema_2(w_ledger: pl.Ledger, url: str) -> None:
    """Replace the ledger's tiles by the nodes of schema 2, written by the
    reference map from each checkpoint's changed heads."""
    nodes = MemoryNodes()
    start = 0
    for cp in w_ledger.checkpoints():
        changes = {_smt.map_key(s): leaf_hash(e)
                   for s, e in w_ledger.store.changed_heads(start, cp.size)}
        assert nodes.apply(cp.seq, changes) == cp.heads
        start = cp.size
    raw_sql(url, _PG_MAP_NODES)
    for (depth, position), versions in nodes.nodes.items():
        for version, node in versions:
            raw_sql(url, "INSERT INTO map_nodes VALUES (%s, %s, %s, %s, %s, %s)",
                    depth, position, version, node.hash, node.key, node.value)
    raw_sql(url, "DROP TABLE map_tiles")
    raw_sql(url, "UPDATE meta SET value = %s WHERE name = 'schema'", b"2")


def test_a_schema_2_postgres_ledger_reads_and_converts(pg_url: str) -> None:
    w = make_world(pg_url)  # type: ignore[arg-type]
    items = [w.issue(f"P{n}") for n in range(40)]
    w.ledger.sign_checkpoint(key("log"))
    for item in items[:10]:
        w.add(w.workshop, item, pl.RepairRecorded(work="Polish", category="service",
                                                  performed_by="W", started=1, completed=2))
    items += [w.issue(f"Q{n}") for n in range(5)]
    w.ledger.sign_checkpoint(key("log"))
    bundles = _bundles(w.ledger, items[::7])
    _as_schema_2(w.ledger, pg_url)
    w.ledger.close()
    with pl.Ledger.open(pg_url, readonly=True) as ledger:
        assert ledger.store.meta()["schema"] == b"2"
        assert _bundles(ledger, items[::7]) == bundles
        assert ledger.audit().checkpoints == 2
    stages: list[tuple[str, int, int | None]] = []
    with pl.Ledger.open(pg_url, progress=lambda *a: stages.append(a)) as ledger:
        assert ledger.store.meta()["schema"] == b"3"
        assert stages[-1] == (CONVERTING_MAP, 2, 2)
        assert _bundles(ledger, items[::7]) == bundles
        assert ledger.audit().checkpoints == 2
    tables = {r[0] for r in raw_sql(pg_url, "SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = current_schema()")}
    assert "map_tiles" in tables
    assert "map_nodes" not in tables


def test_a_reader_of_a_file_converted_under_it_is_told_to_open_it_again(v3: Path) -> None:
    """Read-only, the file's head map is read from its nodes; once another
    process converts it, those are gone, and the reader says so."""
    reader = SQLiteStore.open(v3, readonly=True)
    try:
        assert reader.map_tile(0, b"", 3) is not None
        SQLiteStore.open(v3).close()
        with pytest.raises(pl.StorageError, match="open it again"):
            reader.map_tile(0, b"", 3)
    finally:
        reader.close()


_CONVERT_AND_HANG = """
import sys, time
from provledger._legacy_map import CONVERTING_MAP
from provledger._store import SQLiteStore

def hang(stage, done, total):
    if stage == CONVERTING_MAP and done == 2:
        print("converting", flush=True)
        time.sleep(60)

SQLiteStore.open(sys.argv[1], progress=hang)
"""


def test_a_conversion_killed_halfway_leaves_the_file_as_it_was(v3: Path) -> None:
    """kill -9 in the middle of the conversion's transaction: the file reads
    as before (schema 2, the same rows) and converts on the next write-open."""
    before = snapshot(v3)
    with subprocess.Popen([sys.executable, "-c", _CONVERT_AND_HANG, str(v3)],
                          stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"converting\n"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(v3) == before
    with pl.Ledger.open(v3) as ledger:
        assert ledger.store.meta()["schema"] == b"3"
        assert ledger.audit().checkpoints == 4
