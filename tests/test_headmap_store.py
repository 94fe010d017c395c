"""Head maps of real ledgers: large updates split by key range, tiles built
on several cores, and tampering."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import provledger as pl
from provledger import _smt, _smt_tiles

from .conftest import World, is_url, key, make_world, raw_sql


def build(path: str | Path) -> tuple[World, list[bytes]]:
    """60 items, a checkpoint, 20 repairs and 10 new items, another checkpoint."""
    w = make_world(path)  # type: ignore[arg-type]
    items = [w.issue(f"H{n}") for n in range(60)]
    roots = [w.ledger.sign_checkpoint(key("log")).heads]
    for item in items[:20]:
        w.add(w.workshop, item, pl.RepairRecorded(work="Polish", category="service",
                                                  performed_by="W", started=1, completed=2))
    for n in range(10):
        w.issue(f"J{n}")
    roots.append(w.ledger.sign_checkpoint(key("log")).heads)
    return w, roots


def test_split_updates_store_the_same_map(tmp_path: Path, ledger_target: str | Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    whole, whole_roots = build(tmp_path / "whole.db")
    monkeypatch.setattr(_smt_tiles, "SMALL", 3)  # every update goes through the scratch tables
    split, split_roots = build(ledger_target)
    assert split_roots == whole_roots
    split.ledger.audit()
    whole.ledger.close()
    split.ledger.close()
    assert _tiles(ledger_target) == _tiles(tmp_path / "whole.db")


#: A tile of version 1 (the second checkpoint) at level 1, by its prefix.
_V1 = "(SELECT prefix FROM map_tiles WHERE version = 1 AND level = 1 ORDER BY prefix LIMIT 1)"
TILE_TAMPERS = {
    # A byte of a leaf's value: the tile still decodes, its map is another.
    "value": ("UPDATE map_tiles SET data = substr(data, 1, 60) || x'ee' || substr(data, 62) "
              f"WHERE version = 1 AND level = 1 AND prefix = {_V1}",
              "UPDATE map_tiles SET data = substr(data, 1, 60) || '\\xee'::bytea || "
              f"substr(data, 62) WHERE version = 1 AND level = 1 AND prefix = {_V1}"),
    # No longer a tile at all.
    "garbage": ("UPDATE map_tiles SET data = x'02' WHERE version = 0 AND level = 0",
                "UPDATE map_tiles SET data = '\\x02'::bytea WHERE version = 0 AND level = 0"),
    "dropped": (f"DELETE FROM map_tiles WHERE version = 1 AND level = 1 AND prefix = {_V1}",
                None),
    "added": ("INSERT INTO map_tiles VALUES (3, x'000000', 0, x'00')",
              "INSERT INTO map_tiles VALUES (3, '\\x000000', 0, '\\x00')"),
    "moved": ("UPDATE map_tiles SET version = 5 WHERE version = 0 AND level = 0", None),
    # The first version's root tile, read by the second: the rebuilt second differs.
    "old root": ("UPDATE map_tiles SET data = substr(data, 1, 34) WHERE version = 0 "
                 "AND level = 0", None),
}


@pytest.mark.parametrize("name", list(TILE_TAMPERS))
def test_tampered_head_map_tiles_fail_the_audit(ledger_target: str | Path, name: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_smt_tiles, "SMALL", 3)
    w, _ = build(ledger_target)
    w.ledger.audit()
    w.ledger.close()
    sqlite, postgres = TILE_TAMPERS[name]
    raw_sql(w.path, (postgres or sqlite) if is_url(w.path) else sqlite)
    with pl.Ledger.open(w.path) as ledger, pytest.raises(pl.AuditError, match="head map"):
        ledger.audit()


def test_changed_heads_are_the_latest_entry_of_each_subject(ledger_target: str | Path) -> None:
    """Both query plans (most of the log, or a recent range) give the same answer."""
    w, _ = build(ledger_target)
    store = w.ledger.store
    rows = list(store.rows(0, store.size()))
    for start, stop in [(0, len(rows)), (0, 40), (10, 90), (60, 70), (85, len(rows)),
                        (len(rows) - 1, len(rows)), (5, 5)]:
        expected = {row.subject: row.entry for row in rows[start:stop]}
        got = list(store.changed_heads(start, stop))
        assert len(got) == len(expected)
        assert dict(got) == expected


def reference_nodes(items: dict[bytes, bytes], depth: int = 0,
                    position: bytes = bytes(32)) -> list[tuple[int, bytes, _smt.Node]]:
    """Every node of the map of ``items`` by the definition, children first."""
    if not items:
        return []
    if len(items) == 1:
        ((k, v),) = items.items()
        return [(depth, position, _smt.Node(_smt.leaf_hash(k, v), k, v))]
    left = reference_nodes({k: v for k, v in items.items() if not _smt.bit(k, depth)},
                           depth + 1, position)
    right = reference_nodes({k: v for k, v in items.items() if _smt.bit(k, depth)},
                            depth + 1, _smt._set_bit(position, depth))
    hashes = [nodes[-1][2].hash if nodes and nodes[-1][0] == depth + 1 else _smt.EMPTY
              for nodes in (left, right)]
    return [*left, *right, (depth, position, _smt.Node(_smt.node_hash(*hashes)))]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32),
                       max_size=40),
       st.sampled_from([0, 1, 2, 7, 254]))
def test_a_first_map_is_built_bottom_up_as_the_definition_says(
        items: dict[bytes, bytes], shared: int) -> None:
    """_smt._build (one pass over sorted keys) makes exactly the nodes of the
    recursive definition, keys sharing long prefixes included."""
    # Keys that share their first ``shared`` bits, as neighbours deep in a big map do.
    mask = (1 << 256) - (1 << (256 - shared)) if shared else 0
    base = int.from_bytes(b"\xa5" * 32, "big")
    keyed = {((base & mask) | (int.from_bytes(k, "big") & ~mask)).to_bytes(32, "big"): v
             for k, v in items.items()}
    nodes: list[tuple[int, bytes, _smt.Node]] = []
    root = _smt.update_into(_NoNodes(), previous=-1, changes=_smt.MemoryChanges(keyed),
                            emit=lambda d, p, n: nodes.append((d, p, n)))
    expected = reference_nodes(keyed)
    assert sorted(nodes, key=_order) == sorted(expected, key=_order)
    assert root == (expected[-1][2].hash if expected else _smt.EMPTY)


class _NoNodes:
    def map_node(self, depth: int, position: bytes, version: int) -> _smt.Node | None:
        raise AssertionError("a first map reads no stored node")


def _order(node: tuple[int, bytes, _smt.Node]) -> tuple[int, bytes]:
    return node[0], node[1]


def test_staged_changes_keep_the_later_of_equal_keys_and_any_length(
        ledger_target: str | Path) -> None:
    w = make_world(ledger_target)  # type: ignore[arg-type]
    a, b, c = (bytes([n]) * 32 for n in (1, 2, 3))
    changes = [(b, a), (a, a), (b, c), (c + b"x", b"short")]
    with w.ledger.store.staged_changes(iter(changes)) as staged:
        assert staged.items(bytes(32), None) == [(a, a), (b, c), (c + b"x", b"short")]
        assert staged.count(b, None, 10) == 2


def _tiles(path: str | Path) -> list[tuple[object, ...]]:
    return [tuple(bytes(x) if isinstance(x, memoryview) else x for x in row)
            for row in raw_sql(path, "SELECT level, prefix, version, data "
                               "FROM map_tiles ORDER BY 1, 2, 3")]


@pytest.mark.parametrize("processes", [2, 3])
def test_a_first_map_built_on_several_cores_is_the_one_built_alone(
        tmp_path: Path, ledger_target: str | Path, monkeypatch: pytest.MonkeyPatch,
        processes: int) -> None:
    """Workers bucket and build (empty and one-key buckets included) exactly
    the tiles and root one process makes; audits agree either way."""
    from provledger import _headmap_first, _parallel

    alone, alone_roots = build(tmp_path / "alone.db")
    monkeypatch.setattr(_headmap_first, "MIN_ENTRIES", 0)
    monkeypatch.setattr(_parallel, "default_processes", lambda: processes)
    monkeypatch.setattr("provledger._tlog.default_processes", lambda: processes)
    shared, shared_roots = build(ledger_target)
    assert shared_roots == alone_roots
    assert _tiles(ledger_target) == _tiles(tmp_path / "alone.db")
    calls: list[tuple[str, int, int | None]] = []
    report = shared.ledger.audit(progress=lambda *a: calls.append(a))
    assert report.checkpoints == 2
    assert calls[-1][0] == "checking the head maps"
    assert calls[-1][1] == calls[-1][2]
    alone.ledger.close()
    shared.ledger.close()
