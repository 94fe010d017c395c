"""The store: append-only by schema, durable, and every tampering caught by audit."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger import _merkle, _tree
from provledger._merkle import MemoryTree, consistency_proof, inclusion_proof, verify_inclusion

from .conftest import World, key, make_world, snapshot


def populated(tmp: Path) -> World:
    w = make_world(tmp / "l.db")
    for n in range(3):
        item = w.issue(f"R{n}")
        w.add(w.workshop, item, pl.RepairRecorded(work="Polish", category="service",
                                                  performed_by="W", started=1, completed=2))
        w.add(w.owner, item, pl.LostReported())
    return w


def tamper(path: Path, sql: str, *args: object) -> None:
    """Change the database behind the ledger's back, triggers dropped first."""
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


@pytest.mark.parametrize("name", list(TAMPERS))
def test_audit_names_the_tampered_entry(tmp_path: Path, name: str) -> None:
    w = populated(tmp_path)
    assert w.ledger.audit().size == len(w.ledger)
    w.ledger.close()
    sql, index = TAMPERS[name]
    tamper(w.path, sql)
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.AuditError) as info:
        ledger.audit()
    if index is not None:
        assert info.value.index == index
        assert f"entry {index}" in str(info.value)


def test_replayed_entry_appended_by_hand_fails_audit(tmp_path: Path) -> None:
    w = populated(tmp_path)
    n = len(w.ledger)
    w.ledger.close()
    # Copy entry 5 to the end, re-wrapping it at the right index: a replay.
    conn = sqlite3.connect(w.path)
    row = conn.execute("SELECT time, entry, subject, type, signer, state FROM entries "
                       "WHERE idx = 5").fetchone()
    conn.close()
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


def test_everything_acknowledged_survives_reopening(tmp_path: Path) -> None:
    w = populated(tmp_path)
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


def test_a_busy_ledger_gives_a_retryable_error_and_writes_nothing(tmp_path: Path) -> None:
    w = populated(tmp_path)
    blocker = sqlite3.connect(w.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    item = pl.serial_item_id(w.jeweler.public_key, "R0")
    stmt = w.sign(w.owner, item, pl.Recovered())
    with pl.Ledger.open(w.path, timeout=0.2, clock=w.clock) as other, \
            pytest.raises(pl.LedgerBusyError):
        other.append(stmt)
    blocker.execute("ROLLBACK")
    blocker.close()
    with pl.Ledger.open(w.path, clock=w.clock) as other:
        assert other.append(stmt).index == len(other) - 1


ReadCall = Callable[[pl.Ledger], object]


def test_history_reverifies_entries(tmp_path: Path) -> None:
    w = populated(tmp_path)
    item = pl.serial_item_id(w.jeweler.public_key, "R1")
    assert [r.statement.type for r in w.ledger.history(item)] == [
        "cert.issued", "repair.recorded", "lost.reported"]
    index = w.ledger.history(item)[1].index
    w.ledger.close()
    conn = sqlite3.connect(w.path)
    (blob,) = conn.execute("SELECT entry FROM entries WHERE idx = ?", (index,)).fetchone()
    conn.close()
    tamper(w.path, "UPDATE entries SET entry = ? WHERE idx = ?", blob[:-1] + bytes([blob[-1] ^ 1]),
           index)
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.SignatureError):
        ledger.history(item)


def test_a_second_genesis_appended_by_hand_fails_audit(tmp_path: Path) -> None:
    """The audit does not look up heads for genesis entries; it counts them."""
    from provledger import _rules
    from provledger._entry import encode_entry
    from provledger._state import encode_state
    from provledger._view import StateView

    w = populated(tmp_path)
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


# -- the Merkle tree cache -------------------------------------------------------------

#: (levels cached from, run bits, budget in bytes): as shipped; tiny runs over most
#: levels, so appends cross many run ends; and a budget full after three nodes.
CACHE_SHAPES = {"shipped": None, "tiny-runs": (1, 2, 1 << 20), "tiny-budget": (1, 2, 96)}


def shape_cache(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    shape = CACHE_SHAPES[name]
    if shape is not None:
        cached, bits, budget = shape
        monkeypatch.setattr(_tree, "_CACHED", cached)
        monkeypatch.setattr(_tree, "_RUN_BITS", bits)
        monkeypatch.setattr(_tree, "_RUN_MASK", (1 << bits) - 1)
        monkeypatch.setattr(_tree, "_CACHE_BYTES", budget)
        # Path memos from level 1 up, cleared after 16 walks.
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
    """The tree rebuilt from the ledger's entries, never from its stored nodes."""
    tree = MemoryTree()
    for i in range(len(ledger)):
        tree.append(ledger.entry(i))
    return tree


def check_proofs(ledger: pl.Ledger, sizes: range) -> None:
    """Every proof at these sizes equals the one rebuilt from the entries, and verifies."""
    tree = rebuilt(ledger)
    for n in sizes:
        root = tree.root(n)
        assert ledger.root(n) == root
        for i in range(n):
            proof = ledger.inclusion_proof(i, n)
            assert proof == inclusion_proof(i, n, tree)
            verify_inclusion(tree.subtree(0, i), index=i, size=n, proof=proof, root=root)
        if n > 1:
            assert ledger.consistency_proof(n - 1, n) == consistency_proof(n - 1, n, tree)


@pytest.mark.parametrize("shape", list(CACHE_SHAPES))
def test_proofs_stay_right_as_other_connections_append(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    """Warm caches never serve a stale or missing node: runs and ragged edges
    cached at one size are extended, not trusted, once the log has grown."""
    shape_cache(monkeypatch, shape)
    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 29)
    other = pl.Ledger.open(w.path, clock=w.clock)
    reader = pl.Ledger.open(w.path, readonly=True)
    try:
        ledgers = (w.ledger, other, reader)
        for ledger in ledgers:
            check_proofs(ledger, range(1, len(ledger) + 1))
        for tag, writer, count in (("b", other, 1), ("c", w.ledger, 7), ("d", other, 31),
                                   ("e", w.ledger, 1)):
            before = len(writer)
            append_certs(w, writer, tag, count)
            for ledger in ledgers:
                assert len(ledger) == before + count
                check_proofs(ledger, range(max(1, before - 2), before + count + 1))
    finally:
        other.close()
        reader.close()


def test_a_rolled_back_write_leaves_no_tree_node_cached(tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 12)
    store, n, fake = w.ledger.store, len(w.ledger), b"\x07" * 32
    assert n == 16

    def write_read_and_fail() -> None:
        with store.write():
            # A node of a cached level and a leaf, read back before the rollback.
            store.insert([], [], [(4, 1, fake), (0, n, fake)])
            assert store.subtree(4, 1) == fake
            assert store.subtree(0, n) == fake
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_read_and_fail()
    for level, index in ((4, 1), (0, n)):
        with pytest.raises(pl.StorageError, match="missing"):
            store.subtree(level, index)
    append_certs(w, w.ledger, "b", 16)
    check_proofs(w.ledger, range(n, 33))


def test_a_gap_in_a_cached_level_is_missing_and_nodes_past_it_still_serve(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shape_cache(monkeypatch, "tiny-runs")
    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 16)
    w.ledger.close()
    tamper(w.path, "DELETE FROM tree WHERE level = 2 AND idx = 1")
    with pl.Ledger.open(w.path, readonly=True) as ledger:
        for i in range(4):  # their level-2 sibling is the deleted node
            with pytest.raises(pl.StorageError, match=r"\(2, 1\) is missing"):
                ledger.inclusion_proof(i, 16)
        tree = rebuilt(ledger)
        for index in (2, 3):  # past the gap, in the same run
            assert ledger.store.subtree(2, index) == tree.subtree(2, index)
        for i in range(4, 20):
            assert ledger.inclusion_proof(i, 20) == inclusion_proof(i, 20, tree)
