"""`provledger verify --from` and `monitor --tiles` (spec/tiles.md §7, §8)
against a publish directory and a real static web server on loopback
(`python -m http.server`): verification as offline, the --seen consistency
proof built from the tiles, and tampered tiles and bundles caught.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import provledger as pl
from provledger._publish_dir import publish
from provledger._tile_client import TileReader, local_path, verify_from
from provledger._web_paths import item_path
from provledger_cli.main import cli

from .conftest import ORIGIN, World
from .test_publish import LOG, add_filler, add_items, item_id, shop


class StaticServer:
    """``python -m http.server`` serving a directory on a free loopback port."""

    def __init__(self, directory: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
             "--directory", str(directory)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"port (\d+)", line)
        assert found, line
        self.url = f"http://127.0.0.1:{found.group(1)}/"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = shop(tmp_path / "shop.db")
    yield w
    w.ledger.close()


@pytest.fixture
def site(world: World, tmp_path: Path) -> Path:
    out = tmp_path / "site"
    publish(world.ledger, out, now=world.clock.t)
    (tmp_path / "policy.txt").write_text(world.ledger.trust_policy().to_text())
    return out


@pytest.fixture
def server(site: Path) -> Iterator[StaticServer]:
    s = StaticServer(site)
    yield s
    s.stop()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def verify_cmd(world: World, source: str, item: str, *extra: str) -> Result:
    policy = world.path.parent / "policy.txt"
    return run("verify", "--from", source, item, "--policy", str(policy),
               "--at", str(world.clock.t + 10), *extra)


# -- verify --from ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["dir", "url"])
def test_verify_from_a_publish(world: World, site: Path, server: StaticServer,
                               where: str) -> None:
    source = str(site) if where == "dir" else server.url
    for n in (1, 5, 10):  # a URN item, a GS1 item with '/' in its serial, a GS1 item
        item = item_id(world, n)
        result = verify_cmd(world, source, item, "--json")
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["verified"] is True
        assert doc["item"] == item
        assert doc["status"] == "active"
        assert doc["checks"][1] == {"check": "item", "passed": True}
        assert "no --item given" not in result.stderr
    human = verify_cmd(world, source, item_id(world, 1))
    assert human.stdout.startswith("VERIFIED\n")


def test_verify_from_refuses_what_is_not_there(world: World, site: Path,
                                               server: StaticServer) -> None:
    missing = pl.serial_item_id(world.jeweler.public_key, "NOPE")
    for source in (str(site), server.url):
        result = verify_cmd(world, source, missing)
        assert result.exit_code == 6, result.output
        assert "not found" in result.stderr or "no such file" in result.stderr
    closed = StaticServer(site)
    url = closed.url
    closed.stop()
    unreachable = verify_cmd(world, url, item_id(world, 1), "--timeout", "2")
    assert unreachable.exit_code == 5
    assert "cannot fetch" in unreachable.stderr
    assert verify_cmd(world, str(site), "not an item").exit_code == 2
    other = verify_cmd(world, str(site), item_id(world, 1), "--item", item_id(world, 2))
    assert other.exit_code == 2
    assert "is not ITEM" in other.stderr


def test_a_tampered_bundle_fails(world: World, site: Path, server: StaticServer) -> None:
    item = item_id(world, 1)
    path = site / local_path(item_path(item)) / "bundle.cbor"
    data = bytearray(path.read_bytes())
    data[-40] ^= 1
    path.write_bytes(bytes(data))
    result = verify_cmd(world, server.url, item, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["verified"] is False


def test_a_bundle_about_another_item_fails(world: World, site: Path) -> None:
    item, other = item_id(world, 1), item_id(world, 2)
    mine = site / local_path(item_path(item)) / "bundle.cbor"
    mine.write_bytes((site / local_path(item_path(other)) / "bundle.cbor").read_bytes())
    result = verify_cmd(world, str(site), item, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "wrong-item"


# -- --seen: consistency from the tiles ------------------------------------------------------


def grow(world: World, site: Path, entries: int = 300) -> None:
    """More entries (a second full level-0 tile) and an item changed; a new
    checkpoint, published."""
    add_filler(world, range(1000, 1000 + entries))
    world.add(world.owner, item_id(world, 1), pl.LostReported())
    world.ledger.sign_checkpoint(LOG)
    publish(world.ledger, site, now=world.clock.t)


def seen_note(seen: Path) -> str:
    return (seen / (hashlib.sha256(ORIGIN.encode()).hexdigest() + ".checkpoint")).read_text()


def test_seen_consistency_is_proven_from_the_tiles(world: World, site: Path,
                                                   server: StaticServer, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    item = item_id(world, 1)
    first = verify_cmd(world, server.url, item, "--seen", str(seen))
    assert first.exit_code == 0, first.output
    old = world.ledger.latest_checkpoint()
    assert seen_note(seen) == old.cosigned_note
    grow(world, site)
    new = world.ledger.latest_checkpoint()

    # Offline, the new bundle carries no proof from the size seen, and the
    # policy has no witness quorum to vouch: refused.
    offline = tmp_path / "seen-offline"
    offline.mkdir()
    (offline / seen_note_name()).write_text(old.cosigned_note)
    bundle = tmp_path / "new.bundle"
    bundle.write_bytes((site / local_path(item_path(item)) / "bundle.cbor").read_bytes())
    refused = run("verify", str(bundle), "--policy", str(tmp_path / "policy.txt"),
                  "--at", str(world.clock.t + 10), "--seen", str(offline), "--item", item)
    assert refused.exit_code == 1
    assert "MissingConsistencyProofError" in refused.stderr

    # From the publish, the proof is built from its tiles.
    result = verify_cmd(world, server.url, item, "--seen", str(seen), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "lost"
    assert (f"consistency with the checkpoint seen (size {old.size}) was proven from the "
            f"log's tiles at {server.url}") in result.stderr
    assert seen_note(seen) == new.cosigned_note
    # Seen now: nothing more to prove.
    again = verify_cmd(world, str(site), item, "--seen", str(seen))
    assert again.exit_code == 0
    assert "proven from" not in again.stderr


def seen_note_name() -> str:
    return hashlib.sha256(ORIGIN.encode()).hexdigest() + ".checkpoint"


def test_the_library_says_which_sizes_the_tiles_proved(world: World, site: Path,
                                                       server: StaticServer) -> None:
    old = world.ledger.latest_checkpoint()
    grow(world, site)
    policy = world.ledger.trust_policy()
    item = item_id(world, 2)
    done = verify_from(server.url, item, policy=policy, now=world.clock.t,
                       seen=[old.cosigned_note])
    assert done.from_tiles == (old.size,)
    assert done.history.checkpoint is not None
    assert done.history.checkpoint.size == len(world.ledger)
    assert done.bundle == TileReader(server.url).bundle(item)
    plain = verify_from(str(site), item, policy=policy, now=world.clock.t)
    assert plain.from_tiles == ()


@pytest.mark.parametrize("tile", ["tile/0/002.p/91", "tile/1/000.p/2"])
def test_tampered_tiles_do_not_prove_consistency(world: World, site: Path,
                                                 server: StaticServer, tmp_path: Path,
                                                 tile: str) -> None:
    seen = tmp_path / "seen"
    item = item_id(world, 1)
    assert verify_cmd(world, server.url, item, "--seen", str(seen)).exit_code == 0
    grow(world, site)
    data = bytearray((site / tile).read_bytes())
    data[-1] ^= 1
    (site / tile).write_bytes(bytes(data))
    result = verify_cmd(world, server.url, item, "--seen", str(seen), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["error"]["code"] == "proof"
    assert "not that log's tree" in doc["error"]["message"]
    assert seen_note(seen) != world.ledger.latest_checkpoint().cosigned_note  # kept the old


def test_a_missing_tile_is_not_found(world: World, site: Path, server: StaticServer,
                                     tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    item = item_id(world, 1)
    assert verify_cmd(world, server.url, item, "--seen", str(seen)).exit_code == 0
    grow(world, site)
    (site / "tile/0/001").unlink()
    result = verify_cmd(world, server.url, item, "--seen", str(seen))
    assert result.exit_code == 6
    assert "tile/0/001" in result.stderr


def test_a_fork_is_caught_through_the_tiles(world: World, site: Path, server: StaticServer,
                                            tmp_path: Path) -> None:
    """The verifier saw a checkpoint of a fork (same keys, other entries): the
    proof built from the honest tiles does not lead to its root."""
    fork = shop(tmp_path / "fork.db", items=3, filler=0, t=world.clock.t - 100)
    seen = tmp_path / "seen"
    seen.mkdir()
    (seen / seen_note_name()).write_text(fork.ledger.latest_checkpoint().cosigned_note)
    fork.ledger.close()
    grow(world, site, entries=10)
    result = verify_cmd(world, server.url, item_id(world, 1), "--seen", str(seen), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "fork"


# -- monitor --tiles -----------------------------------------------------------------------


def monitor_cmd(world: World, source: str, *extra: str) -> Result:
    return run("monitor", "--tiles", source, "--policy",
               str(world.path.parent / "policy.txt"), "--json", *extra)


@pytest.mark.parametrize("where", ["dir", "url"])
def test_monitor_replays_the_published_tiles(world: World, site: Path, server: StaticServer,
                                             where: str) -> None:
    result = monitor_cmd(world, str(site) if where == "dir" else server.url)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    cp = world.ledger.latest_checkpoint()
    assert doc["ok"] is True
    assert doc["entries"] == cp.size == 302
    assert doc["checkpoints"] == 1
    assert doc["latest"]["root"] == cp.root.hex()
    assert doc["root_pinned"] is True


@pytest.mark.parametrize(("path", "at", "index"), [
    ("tile/0/000", 32 * 7, 7),            # a leaf hash: entry 7 no longer matches it
    ("tile/entries/001.p/46", -1, 301),   # the last entry's bytes
    ("tile/1/000.p/1", 0, None),          # a level-1 hash
])
def test_monitor_catches_a_tampered_tile(world: World, site: Path, server: StaticServer,
                                         path: str, at: int, index: int | None) -> None:
    data = bytearray((site / path).read_bytes())
    data[at] ^= 1
    (site / path).write_bytes(bytes(data))
    result = monitor_cmd(world, server.url)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "tile", error
    assert error["index"] == index
    assert check_tiles_fails(site)


def check_tiles_fails(site: Path) -> bool:
    from .test_publish import check_tiles

    return check_tiles(site).returncode == 1


def test_monitor_of_a_log_missing_a_tile(world: World, site: Path) -> None:
    (site / "tile/entries/000").unlink()
    result = monitor_cmd(world, str(site))
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "tile"
    assert "tile/entries/000" in error["message"]


def test_monitor_tiles_usage(world: World, site: Path, tmp_path: Path) -> None:
    vkey = world.ledger.log_vkey()
    no_root = run("monitor", "--tiles", str(site), "--log-vkey", vkey)
    assert no_root.exit_code == 2
    assert "needs --root" in no_root.output
    root = pl.format_public_key(world.ledger.root_key)
    ok = run("monitor", "--tiles", str(site), "--log-vkey", vkey, "--root", root)
    assert ok.exit_code == 0, ok.output
    both = run("monitor", str(world.path), "--tiles", str(site), "--log-vkey", vkey)
    assert both.exit_code == 2
    assert "exactly one of BACKUP and --tiles" in both.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("monitor", "--tiles", str(empty), "--log-vkey", vkey, "--root",
               root).exit_code == 6


def test_monitor_sees_new_entries_after_a_republish(world: World, site: Path) -> None:
    add_items(world, range(20, 22))
    world.ledger.sign_checkpoint(LOG)
    publish(world.ledger, site, now=world.clock.t)
    doc = json.loads(monitor_cmd(world, str(site)).stdout)
    assert doc["entries"] == 304


# -- gzip ----------------------------------------------------------------------------------


class GzipServer:
    """A static server on loopback that sends every file gzip-encoded when
    asked (as hosts compress entry bundles), or a fixed gzip body."""

    def __init__(self, directory: Path, *, body: bytes | None = None) -> None:
        import gzip
        import http.server
        import threading

        seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("Accept-Encoding", ""))
                path = directory / local_path(self.path.lstrip("/"))
                if body is None and not path.is_file():
                    self.send_error(404)
                    return
                data = body if body is not None else gzip.compress(path.read_bytes())
                self.send_response(200)
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.accept_encodings = seen
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def test_gzip_encoded_tiles_and_bundles(world: World, site: Path) -> None:
    server = GzipServer(site)
    try:
        assert monitor_cmd(world, server.url).exit_code == 0
        assert verify_cmd(world, server.url, item_id(world, 1)).exit_code == 0
    finally:
        server.stop()
    assert set(server.accept_encodings) == {"gzip, identity"}


def test_a_gzip_bomb_is_refused(world: World, site: Path) -> None:
    import gzip

    server = GzipServer(site, body=gzip.compress(bytes(100 * 1024 * 1024)))
    try:
        with pytest.raises(pl.DecodeError, match="larger than the 8,192 bytes"):
            TileReader(server.url).get("tile/0/000", limit=8192)
        with pytest.raises(pl.DecodeError, match="larger than the 8,388,608 bytes"):
            TileReader(server.url).bundle(item_id(world, 1))
    finally:
        server.stop()
    broken = GzipServer(site, body=b"\x1f\x8b not gzip")
    try:
        with pytest.raises(pl.DecodeError, match="does not decompress"):
            TileReader(broken.url).checkpoint()
    finally:
        broken.stop()


# -- against `provledger serve` ---------------------------------------------------------------


def test_verify_from_and_monitor_against_provledger_serve(tmp_path: Path) -> None:
    """The server answers the publish layout: the same client reads it."""
    import os
    import time

    w = shop(tmp_path / "live.db", items=4, t=int(time.time()) - 600)
    (tmp_path / "policy.txt").write_text(w.ledger.trust_policy().to_text())
    w.ledger.close()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from provledger_cli.main import main; main()", "--db",
         str(w.path), "serve", "--policy", str(tmp_path / "policy.txt"), "--listen",
         "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        item = item_id(w, 1)
        result = run("verify", "--from", url, item, "--policy", str(tmp_path / "policy.txt"),
                     "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["item"] == item
        monitored = run("monitor", "--tiles", url, "--policy", str(tmp_path / "policy.txt"))
        assert monitored.exit_code == 0, monitored.output
        assert monitored.stdout.startswith("monitor ok:")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
