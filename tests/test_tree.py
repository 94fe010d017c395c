"""The tree layer above the store: its caches, and a store seen only through its protocol."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from provledger import _merkle, _tree

from .conftest import make_world
from .test_store import CACHE_SHAPES, append_certs, check_proofs, near, rebuilt, shape_cache

SRC = Path(__file__).resolve().parent.parent / "src" / "provledger"
#: The backend: the only modules that may know a concrete store.
BACKEND = {"_store.py", "_staging.py", "_legacy_tree.py"}


def _above_the_backend() -> list[tuple[str, ast.Module]]:
    return [(p.name, ast.parse(p.read_text(encoding="utf-8")))
            for p in sorted(SRC.glob("*.py")) if p.name not in BACKEND]


def _names(node: ast.expr) -> str:
    return ast.unparse(node).lower()


def test_no_module_above_the_backend_probes_a_store_with_getattr() -> None:
    found = [f"{name}:{call.lineno}: {ast.unparse(call)}"
             for name, tree in _above_the_backend() for call in ast.walk(tree)
             if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
             and call.func.id in {"getattr", "hasattr"} and call.args
             and "store" in _names(call.args[0])]
    assert found == []


def test_no_module_above_the_backend_checks_for_a_concrete_store() -> None:
    found = [f"{name}:{call.lineno}: {ast.unparse(call)}"
             for name, tree in _above_the_backend() for call in ast.walk(tree)
             if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
             and call.func.id in {"isinstance", "issubclass", "type"}
             and any("sqlitestore" in _names(a) or "store" in _names(a) for a in call.args)]
    assert found == []


def test_ledger_holds_no_tree_cache_or_overlay_of_its_own() -> None:
    source = (SRC / "_ledger.py").read_text(encoding="utf-8")
    assert "_TreeOverlay" not in source
    assert "new_subtrees" not in source


@pytest.mark.parametrize("shape", list(CACHE_SHAPES))
def test_tree_cache_shapes_serve_right_proofs_as_another_ledger_appends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    import provledger as pl

    shape_cache(monkeypatch, shape)
    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 29)
    other = pl.Ledger.open(w.path, clock=w.clock)
    try:
        check_proofs(w.ledger, range(1, len(w.ledger) + 1))
        for tag, writer, count in (("b", other, 1), ("c", w.ledger, 7), ("d", other, 250)):
            before = len(writer)
            append_certs(w, writer, tag, count)
            for ledger in (w.ledger, other):
                check_proofs(ledger, near(before + count, before))
    finally:
        other.close()


def test_a_rolled_back_tree_write_forgets_what_it_cached(tmp_path: Path) -> None:
    """The overlay's tiles are cached as they are handed to the store; a
    rollback must drop them, or proofs would serve nodes never stored."""
    import provledger as pl

    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 12)
    tree, n = _tree.tree_of(w.ledger.store), len(w.ledger)
    assert _tree.tree_of(w.ledger.store) is tree
    root = w.ledger.root()

    mem = rebuilt(w.ledger)

    def write_read_and_fail() -> None:
        with tree.write():
            overlay = tree.overlay()
            for i in range(n, n + 17):
                overlay.append(i, b"never stored %d" % i)
                mem.append(b"never stored %d" % i)
            w.ledger.store.insert([], [], overlay.nodes)
            assert tree.subtree(4, 1) == mem.subtree(4, 1)
            assert tree.subtree(0, n) == mem.subtree(0, n)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_read_and_fail()
    for level, index in ((4, 1), (0, n)):
        with pytest.raises(pl.StorageError, match="missing"):
            tree.subtree(level, index)
    assert w.ledger.root() == root
    append_certs(w, w.ledger, "b", 16)
    check_proofs(w.ledger, range(n, 33))


def test_an_overlay_refuses_a_right_edge_the_log_size_does_not_match(tmp_path: Path) -> None:
    import provledger as pl

    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 12)
    tree = _tree.tree_of(w.ledger.store)
    with tree.write():
        overlay = tree.overlay()
        with pytest.raises(pl.StorageError, match="does not match the log's 15 entries"):
            overlay.append(15, b"x")


def test_tile_builder_matches_the_memory_tree_and_packs_like_old_rows() -> None:
    """Tiles built leaf by leaf hold the memory tree's nodes where NODE_AT says,
    and pack_tile (the conversion of old files) lays out the same bytes."""
    mem = _merkle.MemoryTree()
    builder = _tree.TileBuilder()
    tiles = []
    for i in range(700):
        leaf = _merkle.leaf_hash(i.to_bytes(4, "big"))
        mem.append_leaf_hash(leaf)
        tiles += builder.add(i, leaf)
        if i in (0, 1, 6, 254, 255, 256, 511, 699):
            for t in [*tiles, *builder.partial()]:
                base, width = 8 * t.level, len(t.hashes) // 32
                levels = [[mem.subtree(base + h, (t.index << (8 - h)) + j)
                           for j in range(width >> h)] for h in range(8)]
                assert _tree.pack_tile(levels) == (t.hashes, t.nodes)
                assert _merkle.root(i + 1, builder) == mem.root()
    assert [(t.level, t.index) for t in tiles] == [(0, 0), (0, 1)]
    assert [(t.level, t.index, len(t.hashes) // 32) for t in builder.partial()] == [
        (0, 2, 188), (1, 0, 2)]
