"""provledger publish (spec/tiles.md): the log as tlog-tiles plus a page per
item, written incrementally, never rewriting a tile, refusing directories
that are not its own; tiles read back give the ledger's own roots and
proofs; and spec/tools/check_tiles.py agrees, knowing nothing of provledger.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger import _codec, _merkle
from provledger._entry import encode_entry
from provledger._publish import ITEMS_FORMAT, item_files, read_items_json
from provledger._publish_dir import STATE_FILE, publish
from provledger._tile_client import TileReader, TileTree, local_path
from provledger._tiles import (
    MAX_BUNDLED_ENTRY,
    TILE_WIDTH,
    Tile,
    encode_entry_bundle,
    entry_bundle,
    tile_hashes,
    tiles_for,
)
from provledger._web_paths import item_path
from provledger.errors import QuorumError
from provledger_cli.main import cli

from .conftest import ORIGIN, T0, StepClock, World, grant, key

ROOT = Path(__file__).resolve().parents[1]
CHECK_TILES = ROOT / "spec" / "tools" / "check_tiles.py"
DOMAIN = "id.maison.example"
GTIN = "09506000134352"
LOG = key("log")


# -- a shop: a ledger with GS1 and URN items --------------------------------------------


def shop(path: Path, *, items: int = 12, filler: int = 288, t: int = T0) -> World:
    """A ledger whose issuer certifies ``items`` rings (every fifth under a GS1
    id, one with a '/' in its serial) after granting ``filler`` reporters (cheap
    entries that fill tiles), with a checkpoint over them: 302 entries."""
    clock = StepClock(t)
    ledger = pl.Ledger.create(path, origin=ORIGIN, root_key=key("root").public_key,
                              log_key=LOG.public_key, clock=clock)
    w = World(ledger, path, clock, key("root"), key("jeweler"), key("workshop"),
              key("gemologist"), key("insurer"), key("owner"))
    grant(w, w.root, w.jeweler, "issuer", "Jeweler", gs1_prefixes=("9506000",),
          domains=(DOMAIN,))
    grant(w, w.jeweler, w.insurer, "reporter", "Insurer")
    add_filler(w, range(filler))
    add_items(w, range(items))
    ledger.sign_checkpoint(LOG)
    return w


def serial(n: int) -> str:
    return "G/5" if n == 5 else f"G{n}" if n % 5 == 0 else f"R{n}"


def item_id(w: World, n: int) -> str:
    if n % 5 == 0:
        return pl.gs1_item_id(DOMAIN, GTIN, serial(n))
    return pl.serial_item_id(w.jeweler.public_key, serial(n))


def add_items(w: World, numbers: range) -> list[str]:
    w.clock.t += 1
    w.ledger.append_batch([w.sign(w.jeweler, item_id(w, n), pl.CertificateIssued(
        kind="ring", serial=serial(n), gtin=GTIN if n % 5 == 0 else "",
        owner=w.owner.public_key), prev=None) for n in numbers])
    return [item_id(w, n) for n in numbers]


def add_filler(w: World, numbers: range) -> None:
    """Reporters granted by the jeweler: entries no item relies on."""
    w.clock.t += 1
    grants = []
    for n in numbers:
        k = key(f"filler {n}").public_key
        grants.append(w.sign(w.jeweler, pl.authority_subject(k), pl.RoleGranted(
            key=k, name=f"Reporter {n}", role="reporter"), prev=None))
    if grants:
        w.ledger.append_batch(grants)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = shop(tmp_path / "shop.db")
    yield w
    w.ledger.close()


def files(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``directory``: relative path -> (inode, mtime in ns)."""
    return {str(p.relative_to(directory)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in directory.rglob("*") if p.is_file()}


def check_tiles(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK_TILES), str(directory), *args],
                          capture_output=True, text=True, check=False)


# -- the layout --------------------------------------------------------------------------


def test_the_layout(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    cp = world.ledger.latest_checkpoint()
    result = publish(world.ledger, out, now=world.clock.t)
    assert result.previous is None
    assert result.items == 12
    assert not result.unpublishable
    assert (out / "checkpoint").read_text() == cp.cosigned_note
    store = world.ledger.store
    for tile in tiles_for(cp.size):
        data = (out / tile.path).read_bytes()
        if tile.level is None:
            assert data == entry_bundle(store, tile, cp.size)
        else:
            assert data == tile_hashes(store, tile, cp.size)
    # 302 entries: one full level-0 tile and entry bundle, partial ones of width 46,
    # and a level-1 partial tile of width 1.
    assert {t.path for t in tiles_for(cp.size)} == {
        "tile/0/000", "tile/entries/000", "tile/0/001.p/46", "tile/entries/001.p/46",
        "tile/1/000.p/1"}
    ring = item_id(world, 1)
    gs1 = item_id(world, 10)
    slashed = item_id(world, 5)
    assert item_path(ring) == f"item/{ring.split(':')[3]}/R1/"
    assert item_path(gs1) == f"01/{GTIN}/21/G10/"
    assert item_path(slashed) == f"01/{GTIN}/21/G%2F5/"
    assert (out / f"01/{GTIN}/21/G/5/bundle.cbor").exists()  # decoded, as servers map it
    for item in (ring, gs1, slashed):
        where = out / local_path(item_path(item))
        bundle = (where / "bundle.cbor").read_bytes()
        assert bundle == world.ledger.export(item)
        history = json.loads((where / "history.json").read_text())
        assert history["item"] == item
        assert history["status"] == "active"
        assert history["checkpoint"]["size"] == cp.size
        page = (where / "index.html").read_text()
        assert page.startswith("<!DOCTYPE html>")
        assert 'href="bundle.cbor"' in page
    doc = json.loads((out / "items.json").read_text())
    assert doc["format"] == ITEMS_FORMAT
    assert doc["origin"] == ORIGIN
    assert doc["checkpoint"] == {"seq": cp.seq, "size": cp.size, "time": cp.time,
                                 "root": cp.root.hex()}
    assert [i["id"] for i in doc["items"]] == sorted(item_id(world, n) for n in range(12))
    first = doc["items"][0]
    assert first == {"id": first["id"], "path": item_path(first["id"]), "status": "active",
                     "checkpoint": {"size": cp.size, "time": cp.time}}
    assert "base_url" not in doc
    index = (out / "index.html").read_text()
    assert f'href="{item_path(gs1)}"' in index
    assert "12 items (12 active)" in index
    state = json.loads((out / STATE_FILE).read_text())
    assert state == {"format": "provledger-publish/1", "origin": ORIGIN,
                     "log": world.ledger.log_vkey(), "size": cp.size, "seq": cp.seq,
                     "root": cp.root.hex(),
                     "checkpoint_sha256": hashlib.sha256(cp.cosigned_note.encode()).hexdigest()}


def test_item_files_are_what_the_ledger_exports(world: World) -> None:
    cp = world.ledger.latest_checkpoint()
    item = item_id(world, 7)
    made = item_files(world.ledger, item, cp, now=world.clock.t)
    assert made.bundle == world.ledger.export(item)
    assert made.record.status == "active"
    assert made.record.size == cp.size
    assert set(made.files()) == {item_path(item) + name
                                 for name in ("bundle.cbor", "history.json", "index.html")}


def test_a_stolen_ring_is_published_stolen(world: World, tmp_path: Path) -> None:
    ring = item_id(world, 3)
    world.add(world.insurer, ring, pl.StolenReported(reference="PP-1"))
    world.ledger.sign_checkpoint(LOG)
    publish(world.ledger, tmp_path / "site", now=world.clock.t)
    doc = json.loads((tmp_path / "site" / "items.json").read_text())
    assert {i["id"]: i["status"] for i in doc["items"]}[ring] == "stolen"
    where = tmp_path / "site" / local_path(item_path(ring))
    assert json.loads((where / "history.json").read_text())["status"] == "stolen"


def test_the_index_escapes_what_it_shows(world: World) -> None:
    from provledger._publish import ItemRecord, index_html

    cp = world.ledger.latest_checkpoint()
    record = ItemRecord('urn:x:"><script>alert(1)</script>', 'item/"><b>/x/', "active", 1, 2)
    page = index_html(origin="<i>log\u202e", checkpoint=cp, items=[record]).decode()
    assert "<script>" not in page
    assert "<i>" not in page
    assert "<b>" not in page
    assert "\u202e" not in page
    assert "&lt;script&gt;" in page


# -- incremental ---------------------------------------------------------------------------


def test_a_second_publish_writes_only_what_changed(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    before = files(out)
    again = publish(world.ledger, out, now=world.clock.t + 60)
    assert again.up_to_date
    assert again.written == ()
    assert again.items == 0
    assert files(out) == before  # not one file touched

    add_filler(world, range(288, 507))
    add_items(world, range(12, 13))  # the log grows to 522: tile 1 fills up
    world.ledger.sign_checkpoint(LOG)
    grown = publish(world.ledger, out, now=world.clock.t)
    assert grown.previous == 302
    tiles = [p for p in grown.written if p.startswith("tile/")]
    assert tiles == ["tile/0/001", "tile/entries/001", "tile/0/002.p/10",
                     "tile/entries/002.p/10", "tile/1/000.p/2"]
    assert grown.items == 13
    assert grown.written[-1] == "checkpoint"
    after = files(out)
    # The full tile of the first publish is the same file, never rewritten; the
    # old partial tiles stay as they were.
    for path in ("tile/0/000", "tile/entries/000", "tile/0/001.p/46", "tile/1/000.p/1"):
        assert after[path] == before[path]
    assert set(after) - set(before) - set(grown.written) == set()
    assert len(after) == len(before) + 5 + 3
    assert check_tiles(out).returncode == 0


def test_changed_only_re_makes_only_the_changed_items(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    before = files(out)
    ring = item_id(world, 5)
    world.add(world.owner, ring, pl.LostReported())
    new = add_items(world, range(12, 14))
    world.ledger.sign_checkpoint(LOG)
    cp = world.ledger.latest_checkpoint()
    result = publish(world.ledger, out, now=world.clock.t, changed_only=True)
    assert result.items == 3
    written_items = {p.removesuffix("bundle.cbor") for p in result.written
                     if p.endswith(".cbor")}
    assert written_items == {item_path(i) for i in (ring, *new)}
    after = files(out)
    unchanged = local_path(item_path(item_id(world, 6))) + "bundle.cbor"
    assert after[unchanged] == before[unchanged]
    records = {r.id: r for r in read_items_json((out / "items.json").read_bytes()) or []}
    assert records[ring].status == "lost"
    assert records[ring].size == cp.size
    assert records[item_id(world, 6)].size == 302  # as of the checkpoint it was made at
    assert len(records) == 14

    # An authority's entry re-makes all.
    assert publish(world.ledger, out, now=world.clock.t, changed_only=True).up_to_date
    grant(world, world.jeweler, world.workshop, "service", "Workshop")
    world.ledger.sign_checkpoint(LOG)
    assert publish(world.ledger, out, now=world.clock.t, changed_only=True).items == 14


def test_changed_only_refreshes_old_files(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    add_items(world, range(12, 13))
    world.ledger.sign_checkpoint(LOG)
    result = publish(world.ledger, out, now=world.clock.t + 50_000, changed_only=True,
                     refresh=40_000)
    assert result.items == 13


def test_new_cosignatures_re_make_every_item(world: World, tmp_path: Path) -> None:
    from .forge import cosign, witness_verifier

    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    cp = world.ledger.latest_checkpoint()
    assert world.ledger.add_cosignatures(cp.seq, cosign(cp.note, timestamp=world.clock.t),
                                         [witness_verifier()])
    result = publish(world.ledger, out, now=world.clock.t, changed_only=True)
    assert result.items == 12
    assert not [p for p in result.written if p.startswith("tile/")]
    assert (out / "checkpoint").read_text() == world.ledger.latest_checkpoint().cosigned_note
    assert (out / "checkpoint").read_text().count("\n\u2014 ") == 2


def test_an_interrupted_publish_is_finished_by_the_next(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    policy = pl.parse_policy(world.ledger.trust_policy().to_text().replace(
        "quorum none", f"witness w {_witness_vkey()}\nquorum w"))
    with pytest.raises(QuorumError):  # tiles are written, then the first item fails
        publish(world.ledger, out, now=world.clock.t, policy=policy)
    assert (out / "tile/0/000").exists()
    assert not (out / "checkpoint").exists()
    result = publish(world.ledger, out, now=world.clock.t)
    assert result.kept == 5
    assert result.items == 12
    assert check_tiles(out).returncode == 0


def _witness_vkey() -> str:
    from .forge import witness_verifier

    return witness_verifier().vkey()


# -- refusals ---------------------------------------------------------------------------


def test_a_foreign_directory_is_refused(world: World, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("mine")
    with pytest.raises(pl.StorageError, match="not a provledger publish directory"):
        publish(world.ledger, tmp_path / "docs", now=world.clock.t)
    assert [p.name for p in (tmp_path / "docs").iterdir()] == ["readme.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(pl.StorageError, match="not a directory"):
        publish(world.ledger, tmp_path / "file", now=world.clock.t)


def test_another_logs_directory_is_refused(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    other = pl.Ledger.create(tmp_path / "other.db", origin="other.example/log",
                             root_key=key("root").public_key, log_key=LOG.public_key)
    other.sign_checkpoint(LOG)
    other.close()
    before = files(out)
    with pl.Ledger.open(tmp_path / "other.db") as ledger, \
            pytest.raises(pl.StorageError, match="holds a publish of the log"):
        publish(ledger, out, now=world.clock.t)
    assert files(out) == before


def test_a_fork_with_the_same_keys_is_refused(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    fork = shop(tmp_path / "fork.db", filler=289, t=T0 + 7)  # same keys, other entries
    before = files(out)
    with pytest.raises(pl.StorageError, match="not this ledger's"):
        publish(fork.ledger, out, now=fork.clock.t)
    assert files(out) == before
    fork.ledger.close()


def test_an_older_copy_of_the_ledger_is_refused(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    older = shop(tmp_path / "older.db", items=10, filler=0)
    publish(world.ledger, out, now=world.clock.t)
    with pytest.raises(pl.StorageError, match="has only 12 entries"):
        publish(older.ledger, out, now=world.clock.t)
    older.ledger.close()


@pytest.mark.parametrize("tampered", ["tile/0/001.p/46", "tile/1/000.p/1", "checkpoint"])
def test_a_tampered_directory_is_refused(world: World, tmp_path: Path, tampered: str) -> None:
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    data = bytearray((out / tampered).read_bytes())
    data[40 if tampered == "checkpoint" else -1] ^= 1
    (out / tampered).write_bytes(bytes(data))
    world.add(world.owner, item_id(world, 1), pl.LostReported())
    world.ledger.sign_checkpoint(LOG)
    before = files(out)
    with pytest.raises(pl.StorageError, match="tampered"):
        publish(world.ledger, out, now=world.clock.t)
    assert files(out) == before
    assert check_tiles(out).returncode == 1


def test_a_tile_with_other_bytes_is_never_overwritten(world: World, tmp_path: Path) -> None:
    """A full tile the next publish would write is there already, with other
    bytes (another log's, or planted): the publish stops, writing nothing."""
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    add_filler(world, range(288, 508))
    world.ledger.sign_checkpoint(LOG)
    (out / "tile/0/001").write_bytes(bytes(8192))
    before = files(out)
    with pytest.raises(pl.StorageError, match="tiles are never rewritten"):
        publish(world.ledger, out, now=world.clock.t)
    assert files(out) == before
    assert (out / "tile/0/001").read_bytes() == bytes(8192)


def test_no_checkpoint_no_publish(tmp_path: Path) -> None:
    ledger = pl.Ledger.create(tmp_path / "l.db", origin=ORIGIN, root_key=key("root").public_key,
                              log_key=LOG.public_key)
    with ledger, pytest.raises(pl.NotFoundError, match="no checkpoint"):
        publish(ledger, tmp_path / "site", now=T0)
    assert not (tmp_path / "site").exists()


def test_an_unpublishable_item_is_left_out(tmp_path: Path) -> None:
    w = shop(tmp_path / "l.db", items=2, filler=0)
    dots = pl.gs1_item_id(DOMAIN, GTIN, "..")
    w.add(w.jeweler, dots, pl.CertificateIssued(kind="ring", serial="..", gtin=GTIN,
                                                owner=w.owner.public_key))
    w.ledger.sign_checkpoint(LOG)
    result = publish(w.ledger, tmp_path / "site", now=w.clock.t)
    assert result.unpublishable == (dots,)
    assert result.items == 2
    assert not (tmp_path / "site" / "01" / GTIN / "bundle.cbor").exists()
    ids = [r.id for r in read_items_json((tmp_path / "site" / "items.json").read_bytes()) or []]
    assert dots not in ids
    assert len(ids) == 2
    w.ledger.close()


# -- the independent checker --------------------------------------------------------------


def test_check_tiles_agrees(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    ok = check_tiles(out, "--vkey", world.ledger.log_vkey())
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout == (f"check_tiles: ok: size 302, root "
                         f"{world.ledger.latest_checkpoint().root.hex()}\n")
    other = pl.Ledger.create(tmp_path / "o.db", origin=ORIGIN, root_key=key("root").public_key,
                             log_key=key("other").public_key)
    wrong = check_tiles(out, "--vkey", other.log_vkey())
    other.close()
    assert wrong.returncode == 1
    assert "checkpoint" in wrong.stdout
    bundle = bytearray((out / "tile/entries/000").read_bytes())
    bundle[100] ^= 1
    (out / "tile/entries/000").write_bytes(bytes(bundle))
    bad = check_tiles(out)
    assert bad.returncode == 1
    assert "tile/entries/000" in bad.stdout


# -- proofs from tiles ------------------------------------------------------------------


def test_proofs_from_published_tiles_are_the_ledgers(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    reader = TileReader(out)
    size = len(world.ledger)
    for n in (1, 2, 3, 255, 256, 257, 300, size):
        # Partial tiles of size n were never published: read from the full or
        # the published partial tiles.
        tree = TileTree(reader, n, published=size)
        assert tree.root() == world.ledger.root(n)
        for i in {0, n // 2, n - 1}:
            assert tree.inclusion_proof(i) == world.ledger.inclusion_proof(i, n)
        for m in {1, n // 3 or 1, n - 1 or 1}:
            assert tree.consistency_proof(m) == world.ledger.consistency_proof(m, n)
    with pytest.raises(pl.NotFoundError):
        TileTree(reader, 257).root()  # without the published size, tile/0/001.p/1 is missing


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_proofs_from_tiles_are_the_ledgers_for_any_sizes(world: World, tmp_path: Path,
                                                         data: st.DataObject) -> None:
    out = tmp_path / "site"
    if not out.exists():  # the world and directory are shared by the examples
        publish(world.ledger, out, now=world.clock.t)
    size = len(world.ledger)
    n = data.draw(st.integers(1, size), label="n")
    m = data.draw(st.integers(1, n), label="m")
    i = data.draw(st.integers(0, n - 1), label="i")
    tree = TileTree(TileReader(out), n, published=size)
    assert tree.root() == world.ledger.root(n)
    assert tree.inclusion_proof(i) == world.ledger.inclusion_proof(i, n)
    assert tree.consistency_proof(m) == world.ledger.consistency_proof(m, n)


class MemoryTiles:
    """Tiles of a :class:`MemoryTree` written to a directory, as a publish lays them out."""

    def __init__(self, directory: Path, leaves: int) -> None:
        self.tree = _merkle.MemoryTree()
        for n in range(leaves):
            self.tree.append(n.to_bytes(4, "big"))
        for tile in tiles_for(leaves):
            if tile.level is None:
                continue
            start = tile.index * TILE_WIDTH
            data = b"".join(self.tree.subtree(8 * tile.level, start + i)
                            for i in range(tile.width))
            path = directory / tile.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@pytest.fixture(scope="module")
def big_tiles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MemoryTiles]:
    """70,000 leaves: full and partial tiles at levels 0, 1 and 2."""
    directory = tmp_path_factory.mktemp("tiles")
    return directory, MemoryTiles(directory, 70_000)


def test_tiles_at_three_levels(big_tiles: tuple[Path, MemoryTiles]) -> None:
    directory, tiles = big_tiles
    assert (directory / "tile/2/000.p/1").stat().st_size == 32
    assert (directory / "tile/1/001.p/17").exists()
    assert (directory / "tile/0/273.p/112").exists()
    tree = TileTree(TileReader(directory), 70_000)
    assert tree.root() == tiles.tree.root()
    tree.check_root(tiles.tree.root())
    with pytest.raises(pl.ProofError, match="not that log's tree"):
        tree.check_root(bytes(32))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_proofs_from_tiles_for_any_sizes(big_tiles: tuple[Path, MemoryTiles],
                                         data: st.DataObject) -> None:
    directory, tiles = big_tiles
    n = data.draw(st.integers(1, 70_000), label="n")
    m = data.draw(st.integers(1, n), label="m")
    i = data.draw(st.integers(0, n - 1), label="i")
    tree = TileTree(TileReader(directory), n, published=70_000)
    assert tree.root() == tiles.tree.root(n)
    assert tree.inclusion_proof(i) == _merkle.inclusion_proof(i, n, tiles.tree)
    assert tree.consistency_proof(m) == _merkle.consistency_proof(m, n, tiles.tree)


def test_a_short_tile_is_refused(tmp_path: Path) -> None:
    MemoryTiles(tmp_path, 300)
    (tmp_path / "tile/0/001.p/44").write_bytes(bytes(31))
    with pytest.raises(pl.DecodeError, match="not the 1408 of 44 hashes"):
        TileTree(TileReader(tmp_path), 300).root()
    with pytest.raises(pl.NotFoundError):
        TileReader(tmp_path).hashes(Tile(0, 9))
    with pytest.raises(pl.NotFoundError, match="does not name a file"):
        TileReader(tmp_path).get("01/x/21/../../etc/passwd", limit=10)


# -- the statement limit ---------------------------------------------------------------


def test_every_entry_fits_an_entry_bundle(world: World) -> None:
    """The largest statement the protocol allows, at the largest index and time
    a CBOR head can hold, makes an entry an entry bundle can carry."""
    probe = _ring_statement(world, 1000)
    statement = _ring_statement(world, 1000 + _codec.MAX_STATEMENT_BYTES - len(probe))
    assert len(statement) == _codec.MAX_STATEMENT_BYTES == 65_472
    worst = encode_entry(2**64 - 1, 2**64 - 1, statement)
    assert len(worst) == MAX_BUNDLED_ENTRY - 20
    assert encode_entry_bundle([worst]) == len(worst).to_bytes(2, "big") + worst
    record = world.ledger.append(statement)
    world.ledger.sign_checkpoint(LOG)
    size = len(world.ledger)
    tile = Tile(None, record.index // TILE_WIDTH, size % TILE_WIDTH)
    assert record.entry in entry_bundle(world.ledger.store, tile, size)
    over = _ring_statement(world, 1001 + _codec.MAX_STATEMENT_BYTES - len(probe), serial="R-X")
    assert len(over) == _codec.MAX_STATEMENT_BYTES + 1
    with pytest.raises(pl.DecodeError, match="exceeds the limit of 65472"):
        world.ledger.append(over)


def _ring_statement(w: World, inscription: int, serial: str = "BIG") -> bytes:
    item = pl.serial_item_id(w.jeweler.public_key, serial)
    return w.sign(w.jeweler, item, pl.CertificateIssued(
        kind="ring", serial=serial, owner=w.owner.public_key, inscription="x" * inscription),
        prev=None)


# -- the command ----------------------------------------------------------------------


def test_the_publish_command(tmp_path: Path) -> None:
    w = shop(tmp_path / "l.db", items=3, filler=0, t=int(time.time()) - 600)
    w.ledger.close()
    runner = CliRunner()
    db = str(tmp_path / "l.db")
    out = tmp_path / "site"
    first = runner.invoke(cli, ["--db", db, "publish", str(out), "--base-url",
                                "https://test.example/ledger", "--json"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["written"] == 2 + 3 * 3 + 3
    assert doc["items"] == 3
    assert doc["previous_size"] is None
    assert doc["checkpoint"]["size"] == 5
    items = json.loads((out / "items.json").read_text())
    assert items["base_url"] == "https://test.example/ledger/"
    assert items["items"][0]["url"] == "https://test.example/ledger/" + items["items"][0]["path"]
    again = runner.invoke(cli, ["--db", db, "publish", str(out)])
    assert again.exit_code == 0
    assert again.stdout.endswith(f"to {out}: already up to date\n")
    bad = runner.invoke(cli, ["--db", db, "publish", str(out), "--base-url", "ftp://x/"])
    assert bad.exit_code == 2
    assert "--base-url" in bad.output
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    refused = runner.invoke(cli, ["--db", db, "publish", str(tmp_path / "other")])
    assert refused.exit_code == 5
    assert "not a provledger publish directory" in refused.stderr
