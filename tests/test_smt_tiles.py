"""The head map as tiles (_smt_tiles) held to the node-by-node reference (_smt)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

import provledger as pl
from provledger import _headmap_first, _legacy_map, _smt, _smt_tiles

from .test_smt import MemoryNodes, reference_root


class MemoryTiles:
    """Versioned tiles in memory, read as the stores read them, and the legacy
    node view of a reference map beside them (for _legacy_map)."""

    def __init__(self, nodes: MemoryNodes | None = None) -> None:
        self.rows: dict[tuple[int, bytes], list[tuple[int, bytes]]] = {}
        self.nodes = nodes

    def map_tile(self, level: int, prefix: bytes, version: int) -> bytes | None:
        found = [d for v, d in self.rows.get((level, prefix), []) if v <= version]
        return found[-1] if found else None

    def apply(self, version: int, changes: dict[bytes, bytes],
              ) -> tuple[bytes, list[_smt_tiles.MapTileRow]]:
        written: list[_smt_tiles.MapTileRow] = []
        root = _smt_tiles.update(self, previous=version - 1,
                                 changes=_smt.MemoryChanges(changes),
                                 emit=lambda lv, p, d: written.append((lv, p, d)))
        for level, prefix, data in written:
            self.rows.setdefault((level, prefix), []).append((version, data))
        return root, written

    def legacy_nodes(self, depth: int, lo: bytes, hi: bytes,
                     version: int) -> list[_legacy_map.NodeRow]:
        assert self.nodes is not None
        out = []
        for (d, position), versions in sorted(self.nodes.nodes.items()):
            found = [n for v, n in versions if v <= version]
            if d == depth and lo <= position <= hi and found:
                out.append((position, found[-1].hash, found[-1].key, found[-1].value))
        return out

    def legacy_written(self, version: int) -> list[tuple[int, bytes, bool]]:
        assert self.nodes is not None
        return [(d, position, n.key is not None)
                for (d, position), versions in self.nodes.nodes.items()
                for v, n in versions if v == version]


def _keys(draw: st.DrawFn) -> bytes:
    """A key; often one that shares a long prefix with a fixed one, as
    neighbours deep in a big map do (a tile below the second level)."""
    k = draw(st.binary(min_size=32, max_size=32))
    shared = draw(st.sampled_from([0, 0, 1, 2, 3, 8, 31]))
    return b"\xa5" * shared + k[shared:]


keys = st.composite(_keys)()
values = st.binary(min_size=32, max_size=32)
versions = st.lists(st.dictionaries(keys, values, max_size=30), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(versions, st.sampled_from([1, 2, 4096]), st.data())
def test_tiles_give_the_reference_roots_and_proofs_at_every_version(
        changes: list[dict[bytes, bytes]], small: int, data: st.DataObject) -> None:
    """Versions of changes (new keys, changed values, keys sharing 1 to 31
    bytes) applied as tiles and as nodes: the same root, the same proof for
    every key and for absent keys, at every version, however the update is
    split (SMALL); and a version writes exactly the tiles its nodes touch
    (what converting a ledger relies on)."""
    nodes, tiles = MemoryNodes(), MemoryTiles()
    tiles.nodes = nodes
    seen: dict[bytes, bytes] = {}
    old = _smt_tiles.SMALL
    _smt_tiles.SMALL = small
    try:
        for version, change in enumerate(changes):
            expected = nodes.apply(version, change)
            got, written = tiles.apply(version, change)
            seen.update(change)
            assert got == expected == reference_root(seen)
            assert sorted(written) == _legacy_map.written(tiles, version)
            for v in range(version + 1):
                for k in sorted(seen)[:12]:
                    if k in {x for c in changes[:v + 1] for x in c}:
                        assert _smt_tiles.prove(tiles, k, v) == _smt.prove(nodes, k, v)
                absent = data.draw(keys)
                if absent not in {x for c in changes[:v + 1] for x in c}:
                    assert (_smt_tiles.prove_absent(tiles, absent, v)
                            == _smt.prove_absent(nodes, absent, v))
    finally:
        _smt_tiles.SMALL = old


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, values, max_size=60))
def test_buckets_built_apart_make_the_map_updated_whole(items: dict[bytes, bytes]) -> None:
    """The first map built a bucket (first key byte) at a time, as the workers
    do, then its root tile: the root and tiles of one update from empty."""
    root, whole = MemoryTiles().apply(0, items)
    rows: list[_smt_tiles.MapTileRow] = []
    children: list[_smt_tiles.Child] = []
    for j in range(256):
        data = b"".join(k + v for k, v in sorted(items.items()) if k[0] == j)
        child, below, _ = _headmap_first.bucket_tiles(data, j)
        rows += below
        if child is not None:
            children.append(child)
    if children:
        rows.append((0, b"", _smt_tiles.encode(children)))
        assert _smt_tiles.root_hash(_smt_tiles.summarize(children)) == root
    else:
        assert root == _smt.EMPTY
    assert sorted(rows) == sorted(whole)


def test_a_version_without_changes_writes_nothing() -> None:
    tiles = MemoryTiles()
    root, _ = tiles.apply(0, {bytes([n]) * 32: bytes(32) for n in range(5)})
    assert tiles.apply(1, {}) == (root, [])
    assert MemoryTiles().apply(0, {}) == (_smt.EMPTY, [])


def test_tiles_are_a_small_fraction_of_the_nodes() -> None:
    """The point of tiles: rows per subject. 20,000 random keys make a root
    tile, 256 second-level ones and a few thousand deeper (0.14 a key; 0.09
    at a million); stored as nodes they were about 2.4 a key."""
    items = {hashlib.sha256(b"%d" % n).digest(): bytes(32) for n in range(20_000)}
    _, written = MemoryTiles().apply(0, items)
    nodes = MemoryNodes()
    nodes.apply(0, items)
    assert sum(1 for lv, _, _ in written if lv == 0) == 1
    assert sum(1 for lv, _, _ in written if lv == 1) == 256
    assert len(written) * 10 < len(nodes.nodes)


LEAF = b"\x00" + b"\x07" * 64
NODE = b"\x01\x07" + b"\x01" * 32


@pytest.mark.parametrize(("data", "why"), [
    (b"", "empty"),
    (b"\x02" + bytes(64), "malformed"),
    (LEAF[:-1], "malformed"),
    (NODE + NODE, "increasing"),
    (b"\x01\x09" + bytes(32) + NODE, "increasing"),
    (b"\x00" + b"\x08" * 64, "outside the tile"),
])
def test_a_damaged_tile_is_named(data: bytes, why: str) -> None:
    assert _smt_tiles.decode(1, b"\x07", LEAF + NODE[:1] + b"\x08" + NODE[2:])
    with pytest.raises(pl.DamagedStoreError, match=why) as raised:
        _smt_tiles.decode(1, b"\x07", data)
    assert isinstance(raised.value, pl.StorageError)
    assert "level 1, prefix 07" in str(raised.value)


def test_a_missing_tile_on_a_path_is_named() -> None:
    tiles = MemoryTiles()
    k = b"\x01" * 32
    tiles.apply(0, {k: bytes(32), b"\x01" + bytes(31): bytes(32)})
    del tiles.rows[(1, b"\x01")]
    with pytest.raises(pl.DamagedStoreError, match="lacks it"):
        _smt_tiles.prove(tiles, k, 0)


def test_the_build_refuses_a_key_twice() -> None:
    record = bytes(64)
    with pytest.raises(ValueError, match="distinct"):
        _smt_tiles.build(1, b"\x00", [record, record], lambda *_: None)
