"""Head maps of real ledgers: large updates split by key range, and tampering."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import provledger as pl
from provledger import _smt

from .conftest import World, key, make_world
from .test_store import tamper


def build(path: Path) -> tuple[World, list[bytes]]:
    """60 items, a checkpoint, 20 repairs and 10 new items, another checkpoint."""
    w = make_world(path)
    items = [w.issue(f"H{n}") for n in range(60)]
    roots = [w.ledger.sign_checkpoint(key("log")).heads]
    for item in items[:20]:
        w.add(w.workshop, item, pl.RepairRecorded(work="Polish", category="service",
                                                  performed_by="W", started=1, completed=2))
    for n in range(10):
        w.issue(f"J{n}")
    roots.append(w.ledger.sign_checkpoint(key("log")).heads)
    return w, roots


def test_split_updates_store_the_same_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, whole_roots = build(tmp_path / "whole.db")
    monkeypatch.setattr(_smt, "SMALL", 3)  # every update goes through the scratch tables
    split, split_roots = build(tmp_path / "split.db")
    assert split_roots == whole_roots
    split.ledger.audit()
    whole.ledger.close()
    split.ledger.close()
    query = "SELECT depth, position, version, hash, key, value FROM map_nodes ORDER BY 1, 2, 3"
    a, b = sqlite3.connect(tmp_path / "whole.db"), sqlite3.connect(tmp_path / "split.db")
    assert a.execute(query).fetchall() == b.execute(query).fetchall()


@pytest.mark.parametrize("sql", [
    "UPDATE map_nodes SET hash = zeroblob(32) WHERE (depth, position, version) = "
    "(SELECT depth, position, version FROM map_nodes LIMIT 1 OFFSET 7)",
    "UPDATE map_nodes SET value = zeroblob(32) WHERE value IS NOT NULL AND version = 1",
    "DELETE FROM map_nodes WHERE depth = (SELECT MAX(depth) FROM map_nodes)",
    "INSERT INTO map_nodes VALUES (200, zeroblob(32), 0, zeroblob(32), NULL, NULL)",
    "UPDATE map_nodes SET version = 5 WHERE version = 0 AND depth = 3",
])
def test_tampered_head_map_nodes_fail_the_audit(tmp_path: Path, sql: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_smt, "SMALL", 3)
    w, _ = build(tmp_path / "l.db")
    w.ledger.audit()
    w.ledger.close()
    tamper(w.path, sql)
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.AuditError, match="head map"):
        ledger.audit()


def test_changed_heads_are_the_latest_entry_of_each_subject(tmp_path: Path) -> None:
    """Both query plans (most of the log, or a recent range) give the same answer."""
    w, _ = build(tmp_path / "l.db")
    store = w.ledger.store
    rows = list(store.rows(0, store.size()))
    for start, stop in [(0, len(rows)), (0, 40), (10, 90), (60, 70), (85, len(rows)),
                        (len(rows) - 1, len(rows)), (5, 5)]:
        expected = {row.subject: row.entry for row in rows[start:stop]}
        got = list(store.changed_heads(start, stop))
        assert len(got) == len(expected)
        assert dict(got) == expected
