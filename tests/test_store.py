"""The store: append-only by schema, durable, and every tampering caught by audit."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger import _merkle, _tree
from provledger._legacy_map import CONVERTING_MAP
from provledger._legacy_tree import CONVERTING
from provledger._merkle import MemoryTree, consistency_proof, inclusion_proof, verify_inclusion
from provledger._storage import Row, Store
from provledger._store import SQLiteStore

from .conftest import World, is_url, key, make_world, raw_sql, snapshot, table_names


def populated(tmp: str | Path) -> World:
    """A small ledger at ``tmp``: a ledger_target, or a directory (SQLite file in it)."""
    w = make_world(tmp if is_url(tmp) or not Path(tmp).is_dir() else Path(tmp) / "l.db")
    for n in range(3):
        item = w.issue(f"R{n}")
        w.add(w.workshop, item, pl.RepairRecorded(work="Polish", category="service",
                                                  performed_by="W", started=1, completed=2))
        w.add(w.owner, item, pl.LostReported())
    return w


def tamper(path: str | Path, sql: str, *args: object) -> None:
    """Change the database behind the ledger's back, triggers dropped first."""
    if is_url(path):
        pg_sql = PG_DIALECT.get(sql, sql).replace("zeroblob(32)", "decode(repeat('00', 32), 'hex')")
        raw_sql(path, pg_sql.replace("?", "%s"), *args)
        return
    conn = sqlite3.connect(path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    if args:
        conn.execute(sql, args)
    else:
        conn.executescript(sql)
    conn.close()


@pytest.mark.parametrize("sql", [
    "UPDATE entries SET time = time + 1 WHERE idx = 3",
    "DELETE FROM entries WHERE idx = (SELECT MAX(idx) FROM entries)",
    "UPDATE meta SET value = x'00' WHERE name = 'origin'",
    "DELETE FROM keys",
    "INSERT INTO entries SELECT idx + 100, time, entry, x'00', subject, type, signer, state "
    "FROM entries WHERE idx = 0",
])
def test_schema_refuses_updates_deletes_and_gaps(tmp_path: Path, sql: str) -> None:
    w = populated(tmp_path)
    before = snapshot(w.path)
    conn = sqlite3.connect(w.path)
    with pytest.raises(sqlite3.IntegrityError, match="provledger"):
        conn.execute(sql)
    conn.close()
    assert snapshot(w.path) == before


TAMPERS: dict[str, tuple[str, int | None]] = {
    # name: (sql, index the audit must name)
    "flip-entry-byte": ("UPDATE entries SET entry = substr(entry, 1, 40) || "
                        "x'ff' || substr(entry, 42) WHERE idx = 5", 5),
    "forge-state": ("UPDATE entries SET state = (SELECT state FROM entries WHERE idx = 4) "
                    "WHERE idx = 6", 6),
    "shift-time": ("UPDATE entries SET time = time - 1000 WHERE idx = 7", 7),
    "drop-middle": ("DELETE FROM entries WHERE idx = 6", 6),
    "swap-rows": ("UPDATE entries SET idx = -idx WHERE idx IN (8, 9); "
                  "UPDATE entries SET idx = CASE idx WHEN -8 THEN 9 ELSE 8 END WHERE idx < 0", 8),
    "relabel-subject": ("UPDATE entries SET subject = 'urn:x:forged' WHERE idx = 9", 9),
    "forge-key": ("INSERT INTO keys VALUES (zeroblob(32), 'provledger:authority:' || "
                  "hex(zeroblob(32)), 2)", None),
}


#: The tampers in PostgreSQL's words, where SQLite's differ.
PG_DIALECT = {
    TAMPERS["flip-entry-byte"][0]: "UPDATE entries SET entry = substr(entry, 1, 40) || "
                                   "'\\xff'::bytea || substr(entry, 42) WHERE idx = 5",
    TAMPERS["forge-key"][0]: "INSERT INTO keys VALUES (decode(repeat('00', 32), 'hex'), "
                             "'provledger:authority:' || repeat('00', 32), 2)",
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_audit_names_the_tampered_entry(ledger_target: str | Path, name: str) -> None:
    w = populated(ledger_target)
    assert w.ledger.audit().size == len(w.ledger)
    w.ledger.close()
    sql, index = TAMPERS[name]
    tamper(w.path, sql)
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.AuditError) as info:
        ledger.audit()
    if index is not None:
        assert info.value.index == index
        assert f"entry {index}" in str(info.value)


@pytest.mark.parametrize("name", list(TAMPERS))
@pytest.mark.parametrize("workers", [2, 3])
def test_an_audit_in_ranges_names_the_same_entry(ledger_target: str | Path, name: str,
                                                workers: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Forked workers each replaying a range find what one replay finds, and
    report the same first entry at fault."""
    from provledger import _audit

    w = populated(ledger_target)
    alone = w.ledger.audit()
    monkeypatch.setattr(_audit, "RANGE_MIN", 2)
    calls: list[tuple[str, int, int | None]] = []
    ranged = w.ledger.audit(workers=workers, progress=lambda *a: calls.append(a))
    assert ranged == alone
    assert ("replaying entries", len(w.ledger), len(w.ledger)) in calls
    w.ledger.close()
    sql, index = TAMPERS[name]
    tamper(w.path, sql)
    with pl.Ledger.open(w.path) as ledger:
        with pytest.raises(pl.AuditError) as alone_error:
            ledger.audit()
        with pytest.raises(pl.AuditError) as ranged_error:
            ledger.audit(workers=workers)
    assert ranged_error.value.index == alone_error.value.index
    assert str(ranged_error.value) == str(alone_error.value)
    if index is not None:
        assert ranged_error.value.index == index


def test_replayed_entry_appended_by_hand_fails_audit(ledger_target: str | Path) -> None:
    w = populated(ledger_target)
    n = len(w.ledger)
    w.ledger.close()
    # Copy entry 5 to the end, re-wrapping it at the right index: a replay.
    (row,) = raw_sql(w.path, "SELECT time, entry, subject, type, signer, state FROM entries "
                     "WHERE idx = 5")
    from provledger._entry import decode_entry, encode_entry

    stmt = decode_entry(row[1]).statement
    tamper(w.path, "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", n, row[0],
           encode_entry(n, row[0], stmt), b"\x01" * 32, row[2], row[3], row[4], row[5])
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.AuditError) as info:
        ledger.audit()
    assert info.value.index == n


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_byte_of_any_entry_fails_audit(tmp_path_factory: pytest.TempPathFactory,
                                                     data: st.DataObject) -> None:
    w = populated(tmp_path_factory.mktemp("flip"))
    w.ledger.close()
    index = data.draw(st.integers(0, 12))
    conn = sqlite3.connect(w.path)
    (length,) = conn.execute("SELECT length(entry) FROM entries WHERE idx = ?",
                             (index,)).fetchone()
    conn.close()
    pos = data.draw(st.integers(1, length))
    bit = data.draw(st.integers(0, 7))
    conn = sqlite3.connect(w.path)
    (blob,) = conn.execute("SELECT entry FROM entries WHERE idx = ?", (index,)).fetchone()
    flipped = bytearray(blob)
    flipped[pos - 1] ^= 1 << bit
    conn.close()
    tamper(w.path, "UPDATE entries SET entry = ? WHERE idx = ?", bytes(flipped), index)
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.AuditError) as info:
        ledger.audit()
    assert info.value.index == index


def test_everything_acknowledged_survives_reopening(ledger_target: str | Path) -> None:
    w = populated(ledger_target)
    heads = {s: w.ledger.head(s) for s in
             (pl.serial_item_id(w.jeweler.public_key, f"R{n}") for n in range(3))}
    size = len(w.ledger)
    w.ledger.close()
    with pl.Ledger.open(w.path, readonly=True) as ledger:
        assert len(ledger) == size
        assert {s: ledger.head(s) for s in heads} == heads
        assert ledger.audit(workers=2).size == size


def test_open_and_create_errors(tmp_path: Path) -> None:
    with pytest.raises(pl.StorageError, match="no ledger"):
        pl.Ledger.open(tmp_path / "missing.db")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(pl.StorageError):
        pl.Ledger.open(tmp_path / "junk.db")
    w = populated(tmp_path)
    with pytest.raises(pl.StorageError, match="exists"):
        pl.Ledger.create(w.path, origin="a.example/x", root_key=key("a").public_key,
                         log_key=key("b").public_key)
    with pytest.raises(ValueError, match="origin"):
        pl.Ledger.create(tmp_path / "n.db", origin="has space", root_key=key("a").public_key,
                         log_key=key("b").public_key)
    with pytest.raises(pl.NotFoundError):
        w.ledger.history("urn:x:nothing-here")
    with pytest.raises(pl.NotFoundError):
        w.ledger.entry(10_000)


def test_a_busy_ledger_gives_a_retryable_error_and_writes_nothing(
        ledger_target: str | Path) -> None:
    w = populated(ledger_target)
    blocker: Any
    if is_url(w.path):  # another writer holding the writers' lock
        import psycopg

        from provledger._pgstore import WRITE_LOCK

        blocker = psycopg.connect(str(w.path), autocommit=True)
        blocker.execute("BEGIN")
        blocker.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
    else:
        blocker = sqlite3.connect(w.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
    before = len(w.ledger)
    item = pl.serial_item_id(w.jeweler.public_key, "R0")
    stmt = w.sign(w.owner, item, pl.Recovered())
    with pl.Ledger.open(w.path, timeout=0.2, clock=w.clock) as other, \
            pytest.raises(pl.LedgerBusyError):
        other.append(stmt)
    assert len(w.ledger) == before
    blocker.execute("ROLLBACK")
    blocker.close()
    with pl.Ledger.open(w.path, clock=w.clock) as other:
        assert other.append(stmt).index == len(other) - 1 == before


ReadCall = Callable[[pl.Ledger], object]


def test_history_reverifies_entries(ledger_target: str | Path) -> None:
    w = populated(ledger_target)
    item = pl.serial_item_id(w.jeweler.public_key, "R1")
    assert [r.statement.type for r in w.ledger.history(item)] == [
        "cert.issued", "repair.recorded", "lost.reported"]
    index = w.ledger.history(item)[1].index
    w.ledger.close()
    ((blob,),) = raw_sql(w.path, "SELECT entry FROM entries WHERE idx = %s", index)
    tamper(w.path, "UPDATE entries SET entry = ? WHERE idx = ?", blob[:-1] + bytes([blob[-1] ^ 1]),
           index)
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.SignatureError):
        ledger.history(item)


def test_a_second_genesis_appended_by_hand_fails_audit(ledger_target: str | Path) -> None:
    """The audit does not look up heads for genesis entries; it counts them."""
    from provledger import _rules
    from provledger._entry import encode_entry
    from provledger._state import encode_state
    from provledger._view import StateView

    w = populated(ledger_target)
    item = pl.serial_item_id(w.jeweler.public_key, "R1")
    again = w.sign(w.jeweler, item, pl.CertificateIssued(kind="ring", serial="R1",
                                                         owner=w.jeweler.public_key), prev=None)
    stmt = pl.verify_statement(again)
    n, t = len(w.ledger), w.clock.t + 1
    view = StateView(w.ledger.store, origin=w.ledger.origin, root_key=w.ledger.root_key)
    state = _rules.apply(stmt, state=None, head=None, log_time=t, ctx=view).state
    w.ledger.close()
    tamper(w.path, "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", n, t,
           encode_entry(n, t, again), stmt.hash, item, stmt.type, stmt.signer,
           encode_state(state))
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.AuditError, match="started twice"):
        ledger.audit()


# -- the Merkle tree as tiles, and its cache ---------------------------------------------

#: (cache budget in bytes, path memos from level 1 cleared after 16 walks?): as shipped;
#: no tile kept in memory; one tile's worth, so the cache fills and then stops.
CACHE_SHAPES: dict[str, tuple[int, bool] | None] = {
    "shipped": None, "no-cache": (0, True), "one-tile": (16_384, True)}


def shape_cache(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    shape = CACHE_SHAPES[name]
    if shape is not None:
        budget, small_memo = shape
        monkeypatch.setattr(_tree, "_CACHE_BYTES", budget)
        if small_memo:
            monkeypatch.setattr(_merkle, "_MEMO_LEVEL", 1)
            monkeypatch.setattr(_merkle, "_MEMO_BITS", 3)


def append_certs(w: World, ledger: pl.Ledger, tag: str, count: int) -> None:
    w.clock.t += 1
    ledger.append_batch([
        w.sign(w.jeweler, pl.serial_item_id(w.jeweler.public_key, f"{tag}{j}"),
               pl.CertificateIssued(kind="ring", serial=f"{tag}{j}", owner=w.owner.public_key),
               prev=None)
        for j in range(count)])


def rebuilt(ledger: pl.Ledger) -> MemoryTree:
    """The tree rebuilt from the ledger's entries, never from its stored tiles."""
    tree = MemoryTree()
    for row in ledger.store.rows(0, len(ledger)):
        tree.append(row.entry)
    return tree


def near(n: int, *marks: int) -> list[int]:
    """Sizes (or indexes) in 1..n next to the ends and to tile edges: 0, 256, 512..."""
    edges = {*marks, *range(0, n + 1, 256)}
    return sorted({x + d for x in edges for d in (-2, -1, 0, 1, 2) if 1 <= x + d <= n})


def check_proofs(ledger: pl.Ledger, sizes: Iterable[int]) -> None:
    """Every proof at these sizes equals the one rebuilt from the entries, and
    verifies: of every leaf up to 64 leaves, else of leaves at the ends, at
    tile edges and every 61st."""
    tree = rebuilt(ledger)
    for n in sizes:
        root = tree.root(n)
        assert ledger.root(n) == root
        leaves = range(n) if n <= 64 else sorted({*near(n, n), *range(0, n, 61)} - {n})
        for i in leaves:
            proof = ledger.inclusion_proof(i, n)
            assert proof == inclusion_proof(i, n, tree)
            verify_inclusion(tree.subtree(0, i), index=i, size=n, proof=proof, root=root)
        if n > 1:
            for old in {1, n // 2, n - 1}:
                assert ledger.consistency_proof(old, n) == consistency_proof(old, n, tree)


@pytest.mark.parametrize("shape", list(CACHE_SHAPES))
def test_proofs_stay_right_as_other_connections_append(
        ledger_target: str | Path, monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    """Warm caches never serve a stale or missing node: partial tiles cached at
    one size are read again, not trusted, once the log has grown past them."""
    shape_cache(monkeypatch, shape)
    w = make_world(ledger_target)  # type: ignore[arg-type]
    append_certs(w, w.ledger, "a", 29)
    other = pl.Ledger.open(w.path, clock=w.clock)
    reader = pl.Ledger.open(w.path, readonly=True)
    try:
        ledgers = (w.ledger, other, reader)
        for ledger in ledgers:
            check_proofs(ledger, range(1, len(ledger) + 1))
        for tag, writer, count in (("b", other, 1), ("c", w.ledger, 240), ("d", other, 300),
                                   ("e", w.ledger, 1)):
            before = len(writer)
            append_certs(w, writer, tag, count)
            for ledger in ledgers:
                assert len(ledger) == before + count
                check_proofs(ledger, near(before + count, before))
    finally:
        other.close()
        reader.close()


def test_tiles_hold_the_tree_as_c2sp_tlog_tiles(ledger_target: str | Path) -> None:
    """Each row is tile L/N of c2sp.org/tlog-tiles (hashes of tree level 8L) plus
    its interior nodes in completion order; _tiles serves the hashes unchanged."""
    from provledger import _tiles

    w = make_world(ledger_target)  # type: ignore[arg-type]
    for tag, count in (("a", 300), ("b", 1), ("c", 212)):  # 517 entries
        append_certs(w, w.ledger, tag, count)
    n, tree, store = len(w.ledger), rebuilt(w.ledger), w.ledger.store
    assert n == 517
    rows = [r for level in range(3) for r in store.tile_rows(level)]
    assert [(r.level, r.index, len(r.hashes) // 32) for r in rows] == [
        (0, 0, 256), (0, 1, 256), (0, 2, 5), (1, 0, 2)]
    assert store.tile_count() == 4
    for row in rows:
        base = 8 * row.level
        assert row.hashes == b"".join(tree.subtree(base, 256 * row.index + k)
                                      for k in range(len(row.hashes) // 32))
        width = len(row.hashes) // 32
        assert len(row.nodes) == 32 * _tree.interior_count(width)
        for h in range(1, 8):
            for j in range(width >> h):
                at = _tree.NODE_AT[h][j]
                node = (base + h, (row.index << (8 - h)) + j)
                assert row.nodes[at:at + 32] == tree.subtree(*node)
        tile = _tiles.Tile(row.level, row.index, width)
        assert _tiles.tile_hashes(store, tile, n) == row.hashes
    # An older partial tile is the prefix of the stored one.
    assert _tiles.tile_hashes(store, _tiles.Tile(0, 2, 3), n) == rows[2].hashes[:96]
    assert [t.path for t in _tiles.tiles_for(n) if t.level is not None] == [
        "tile/0/000", "tile/0/001", "tile/0/002.p/5", "tile/1/000.p/2"]


@pytest.mark.parametrize(("sql", "match"), [
    ("UPDATE tiles SET hashes = hashes WHERE level = 0 AND idx = 0", "full tiles never change"),
    ("UPDATE tiles SET nodes = nodes || x'00' WHERE level = 0 AND idx = 0",
     "full tiles never change"),
    ("UPDATE tiles SET hashes = substr(hashes, 1, 32) WHERE level = 0 AND idx = 1",
     "partial ones only grow"),
    ("UPDATE tiles SET hashes = zeroblob(length(hashes) + 32) WHERE level = 0 AND idx = 1",
     "partial ones only grow"),
    ("UPDATE tiles SET idx = 7 WHERE level = 0 AND idx = 1", "partial ones only grow"),
    ("DELETE FROM tiles WHERE level = 0 AND idx = 1", "append-only"),
])
def test_full_tiles_are_final_and_partial_ones_only_grow(tmp_path: Path, sql: str,
                                                         match: str) -> None:
    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 260)
    before = snapshot(w.path)
    conn = sqlite3.connect(w.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match=match):
            conn.execute(sql)
    finally:
        conn.close()
    assert snapshot(w.path) == before


def test_a_rolled_back_write_leaves_no_tile_cached(ledger_target: str | Path) -> None:
    from provledger._storage import TileRow

    w = make_world(ledger_target)  # type: ignore[arg-type]
    append_certs(w, w.ledger, "a", 12)
    store, n, fake = w.ledger.store, len(w.ledger), b"\x07" * 32
    assert n == 16
    tree = _tree.tree_of(store)
    (old,) = store.tiles([(0, 0)])[1]
    assert old is not None
    assert len(old.hashes) == 16 * 32

    def write_read_and_fail() -> None:
        with tree.write():
            # The partial tile grown by a leaf that never commits, read back.
            store.insert([], [], [TileRow(0, 0, old.hashes + fake, old.nodes)])
            assert tree.subtree(0, n) == fake
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_read_and_fail()
    with pytest.raises(pl.StorageError, match=r"\(0, 16\) is missing"):
        tree.subtree(0, n)
    assert store.tiles([(0, 0)])[1] == [old]
    append_certs(w, w.ledger, "b", 16)
    check_proofs(w.ledger, range(n, 33))


def test_a_write_that_does_not_extend_a_tile_is_refused(ledger_target: str | Path) -> None:
    from provledger._storage import TileRow

    w = make_world(ledger_target)  # type: ignore[arg-type]
    append_certs(w, w.ledger, "a", 12)
    before = raw_sql(w.path, "SELECT * FROM tiles ORDER BY level, idx")
    with pytest.raises(pl.StorageError, match="refused"), w.ledger.store.write():
        w.ledger.store.insert([], [], [TileRow(0, 0, b"\x07" * 32 * 17, b"")])
    assert raw_sql(w.path, "SELECT * FROM tiles ORDER BY level, idx") == before


def test_a_short_tile_is_missing_nodes_and_the_rest_still_serve(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shape_cache(monkeypatch, "no-cache")
    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 12)
    w.ledger.close()
    # Tile 0/0 keeps its first three interior nodes: (1, 0), (1, 1), (2, 0).
    tamper(w.path, "UPDATE tiles SET nodes = substr(nodes, 1, 96)")
    with pl.Ledger.open(w.path, readonly=True) as ledger:
        for i in range(4):  # their siblings at levels 2 and 3 are gone
            with pytest.raises(pl.StorageError, match=r"\(3, 1\) is missing"):
                ledger.inclusion_proof(i, 16)
        tree = rebuilt(ledger)
        for i in range(4):
            assert ledger.inclusion_proof(i, 4) == inclusion_proof(i, 4, tree)
        with pytest.raises(pl.AuditError) as info:
            ledger.audit()
        assert info.value.index == 5  # it completed (1, 2), the first node missing


# -- ledger files made before tiles ------------------------------------------------------

V2_LEDGER = Path(__file__).resolve().parent / "data" / "ledger-v2.db"


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    copy = tmp_path / "ledger-v2.db"
    shutil.copyfile(V2_LEDGER, copy)
    return copy


def _expected(ledger: pl.Ledger) -> list[tuple[int, int, bytes, bytes]]:
    """The tiles of the ledger's entries, rebuilt in memory."""
    builder = _tree.TileBuilder()
    tiles = [t for row in ledger.store.rows(0, len(ledger))
             for t in builder.add(row.index, _merkle.leaf_hash(row.entry))]
    return sorted((t.level, t.index, t.hashes, t.nodes) for t in tiles + builder.partial())


def test_a_v2_file_reads_read_only_from_its_tree_rows_and_is_not_changed(v2: Path) -> None:
    """tests/data/ledger-v2.db was written before tiles (make_ledger_v2.py)."""
    assert "tree" in table_names(v2)
    assert "tiles" not in table_names(v2)
    digest = hashlib.sha256(v2.read_bytes()).digest()
    with pl.Ledger.open(v2, readonly=True) as ledger:
        assert len(ledger) == 604
        assert [(c.size, len(c.cosignatures)) for c in ledger.checkpoints()] == [
            (200, 0), (256, 0), (513, 0), (604, 1)]
        assert ledger.audit().checkpoints == 4
        store = ledger.store
        stored = sorted((r.level, r.index, r.hashes, r.nodes)
                        for level in range(2) for r in store.tile_rows(level))
        assert stored == _expected(ledger)
        assert store.tile_count() == 4
        check_proofs(ledger, [1, 2, 255, 256, 257, 513, 604])
        again = list(store.rows(0, 1))
        with pytest.raises(pl.StorageError):
            _insert(store, again)
    assert hashlib.sha256(v2.read_bytes()).digest() == digest


def _insert(store: Store, rows: list[Row]) -> None:
    with store.write():
        store.insert(rows, [], [])


def test_a_v2_file_converts_to_tiles_when_opened_for_writing(v2: Path) -> None:
    with pl.Ledger.open(v2, readonly=True) as ledger:
        roots = [ledger.root(n) for n in range(1, 605)]
    stages: list[tuple[str, int, int | None]] = []
    store = SQLiteStore.open(v2, progress=lambda *a: stages.append(a))
    store.close()
    assert stages[0] == (CONVERTING, 0, 604)
    assert (CONVERTING, 604, 604) in stages
    assert stages[-1] == (CONVERTING_MAP, 4, 4)
    assert {"tiles", "map_tiles"} <= table_names(v2)
    assert not {"tree", "map_nodes"} & table_names(v2)
    w = make_world(v2.parent / "scratch.db")  # the same keys and origin as the file
    with pl.Ledger.open(v2, clock=w.clock) as ledger:
        assert ledger.store.meta()["schema"] == b"3"
        assert [ledger.root(n) for n in range(1, 605)] == roots
        assert ledger.audit().checkpoints == 4
        assert sorted((r.level, r.index, r.hashes, r.nodes)
                      for level in range(2) for r in ledger.store.tile_rows(level)) == _expected(
                          ledger)
        w.clock.t = ledger.store.last_time() + 1
        append_certs(w, ledger, "after", 200)
        ledger.sign_checkpoint(key("log"))
        assert ledger.audit().checkpoints == 5
        check_proofs(ledger, [604, 605, 767, 768, 804])
    # A second write-open finds nothing to convert; triggers guard the new table.
    with pl.Ledger.open(v2) as ledger:
        assert len(ledger) == 804
    conn = sqlite3.connect(v2)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="never change"):
            conn.execute("UPDATE tiles SET hashes = hashes WHERE level = 0 AND idx = 0")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE meta SET value = x'31' WHERE name = 'schema'")
    finally:
        conn.close()


def test_a_v2_file_with_a_tampered_tree_fails_the_audit_before_and_after_converting(
        v2: Path) -> None:
    # Node (3, 5) covers leaves 40-47: the 44th interior node of tile 0/0.
    tamper(v2, "UPDATE tree SET hash = zeroblob(32) WHERE level = 3 AND idx = 5")
    with pl.Ledger.open(v2, readonly=True) as ledger, pytest.raises(pl.AuditError) as before:
        ledger.audit()
    with pl.Ledger.open(v2) as ledger, pytest.raises(pl.AuditError) as after:
        ledger.audit()
    assert before.value.index == after.value.index == 47
    assert "tree" not in table_names(v2)


def test_a_conversion_that_fails_leaves_the_file_as_it_was(v2: Path) -> None:
    digest = snapshot(v2)

    def interrupt(_stage: str, done: int, _total: int | None) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        SQLiteStore.open(v2, progress=interrupt)
    assert snapshot(v2) == digest
    assert "tiles" not in table_names(v2)
    with pl.Ledger.open(v2) as ledger:
        assert ledger.audit().checkpoints == 4


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    w.ledger.close()
    tamper(w.path, "UPDATE meta SET value = x'34' WHERE name = 'schema'")
    with pytest.raises(pl.StorageError, match="unsupported ledger schema b'4'"):
        pl.Ledger.open(w.path)


def test_a_v2_file_with_a_tree_row_past_its_end_fails_the_read_only_audit(v2: Path) -> None:
    """Such a row is in no tile; read as it is, the count of tiles gives it away."""
    tamper(v2, "INSERT INTO tree VALUES (7, 5, zeroblob(32))")  # leaves 640-767 of 604
    with pl.Ledger.open(v2, readonly=True) as ledger, \
            pytest.raises(pl.AuditError, match="no entry proves"):
        ledger.audit()
