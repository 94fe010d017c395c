"""The tree layer above the store: its caches, and a store seen only through its protocol."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from provledger import _merkle, _tree

from .conftest import make_world
from .test_store import CACHE_SHAPES, append_certs, check_proofs

SRC = Path(__file__).resolve().parent.parent / "src" / "provledger"
#: The backend: the only modules that may know a concrete store.
BACKEND = {"_store.py", "_staging.py"}


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


def shape_tree_cache(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    shape = CACHE_SHAPES[name]
    if shape is not None:
        cached, bits, budget = shape
        monkeypatch.setattr(_tree, "_CACHED", cached)
        monkeypatch.setattr(_tree, "_RUN_BITS", bits)
        monkeypatch.setattr(_tree, "_RUN_MASK", (1 << bits) - 1)
        monkeypatch.setattr(_tree, "_CACHE_BYTES", budget)
        monkeypatch.setattr(_merkle, "_MEMO_LEVEL", 1)
        monkeypatch.setattr(_merkle, "_MEMO_BITS", 3)


@pytest.mark.parametrize("shape", list(CACHE_SHAPES))
def test_tree_cache_shapes_serve_right_proofs_as_another_ledger_appends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    import provledger as pl

    shape_tree_cache(monkeypatch, shape)
    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 29)
    other = pl.Ledger.open(w.path, clock=w.clock)
    try:
        check_proofs(w.ledger, range(1, len(w.ledger) + 1))
        for tag, writer, count in (("b", other, 1), ("c", w.ledger, 7), ("d", other, 31)):
            before = len(writer)
            append_certs(w, writer, tag, count)
            for ledger in (w.ledger, other):
                check_proofs(ledger, range(max(1, before - 2), before + count + 1))
    finally:
        other.close()


def test_a_rolled_back_tree_write_forgets_what_it_cached(tmp_path: Path) -> None:
    import provledger as pl

    w = make_world(tmp_path / "l.db")
    append_certs(w, w.ledger, "a", 12)
    tree, n, fake = _tree.tree_of(w.ledger.store), len(w.ledger), b"\x07" * 32
    assert _tree.tree_of(w.ledger.store) is tree

    def write_read_and_fail() -> None:
        with tree.write():
            w.ledger.store.insert([], [], [(4, 1, fake), (0, n, fake)])
            assert tree.subtree(4, 1) == fake
            assert tree.subtree(0, n) == fake
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_read_and_fail()
    for level, index in ((4, 1), (0, n)):
        with pytest.raises(pl.StorageError, match="missing"):
            tree.subtree(level, index)
    append_certs(w, w.ledger, "b", 16)
    check_proofs(w.ledger, range(n, 33))
