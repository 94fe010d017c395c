"""`provledger serve` as a real process on loopback: every route, content
negotiation, caching headers, 404s, POST /verify, the witness under /witness,
and that it never writes to the ledger while a writer goes on appending."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import provledger as pl
from provledger._bundle import MAX_BUNDLE_BYTES, decode_bundle, encode_bundle
from provledger._negotiate import accepts_encoding, choose_media_type
from provledger._note import (
    SIG_COSIGNATURE_V1,
    NoteVerifier,
    cosign_checkpoint,
    format_note,
    parse_note,
    parse_vkey,
    verify_checkpoint,
)
from provledger._tiles import Tile, entry_bundle, tile_hashes, tiles_for
from provledger._web_paths import item_path
from provledger._witness import origin_hash
from provledger._witness_wire import format_add_checkpoint

from .conftest import StepClock, World, grant, key
from .witnesses import CLI, run_cli

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "spec" / "history.schema.json").read_text(encoding="utf-8"))
ENV = {**os.environ, "PROVLEDGER_PASSPHRASE": "serve test passphrase"}
DOMAIN = "id.maison.example"
GTIN = "09506000134352"
#: A GS1 serial with a character its path percent-encodes.
RING = pl.gs1_item_id(DOMAIN, GTIN, "R/1")
HTML = "text/html; charset=utf-8"
IMMUTABLE = "public, max-age=31536000, immutable"
#: What a phone's browser sends.
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass
class Site:
    """A ledger: a GS1 ring, a stolen URN ring, 300 more rings, a cosigned
    checkpoint, then 220 rings the checkpoint does not cover."""

    db: Path
    policy: Path
    stolen: str
    uncovered: str
    witness: NoteVerifier
    size: int


def _world(path: Path) -> World:
    clock = StepClock(int(time.time()) - 5000)
    ledger = pl.Ledger.create(path, origin="serve.example/rings", root_key=key("root").public_key,
                              log_key=key("log").public_key, clock=clock)
    w = World(ledger, path, clock, key("root"), key("jeweler"), key("workshop"),
              key("gemologist"), key("insurer"), key("owner"))
    grant(w, w.root, w.jeweler, "issuer", "Maison <b>Rose</b>", gs1_prefixes=("9506000",),
          domains=(DOMAIN,))
    grant(w, w.jeweler, w.insurer, "reporter", "Insurer")
    return w


def _rings(w: World, names: list[str]) -> None:
    w.ledger.append_batch([pl.sign_statement(
        pl.CertificateIssued(kind="ring", serial=n, owner=w.owner.public_key),
        key=w.jeweler, origin=w.ledger.origin, subject=pl.serial_item_id(w.jeweler.public_key, n),
        prev=None, time=w.clock.t) for n in names])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    base = tmp_path_factory.mktemp("serve")
    w = _world(base / "rings.db")
    w.add(w.jeweler, RING, pl.CertificateIssued(kind="ring", serial="R/1", gtin=GTIN,
                                                owner=w.owner.public_key))
    stolen = w.issue("STOLEN-1")
    w.add(w.insurer, stolen, pl.StolenReported(reference="PP-1"))
    _rings(w, [f"S{i}" for i in range(300)])
    signed = w.ledger.sign_checkpoint(key("log"))
    witness_key = key("witness")
    witness = NoteVerifier("witness.example/w", witness_key.public_key, SIG_COSIGNATURE_V1)
    body = parse_note(signed.note).text
    cosigned = format_note(body, [cosign_checkpoint(body, name=witness.name, key=witness_key,
                                                    timestamp=w.clock.t)])
    w.ledger.add_cosignatures(signed.seq, cosigned, [witness])
    _rings(w, [f"LATE{i}" for i in range(220)])  # beyond the checkpoint
    policy = base / "rings.policy"
    policy.write_text(w.ledger.trust_policy(max_age=86400).to_text(), encoding="utf-8")
    w.ledger.close()
    return Site(w.path, policy, stolen, pl.serial_item_id(w.jeweler.public_key, "LATE0"),
                witness, signed.size)


class Server:
    """One `provledger serve` process; output goes to a file beside the ledger."""

    def __init__(self, db: Path, policy: Path, *extra: str, env_db: str = "") -> None:
        self.out = db.parent / f"serve-{time.monotonic_ns()}.out"
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [*CLI, "--db", env_db or str(db), "serve", "--policy", str(policy), "--listen",
                 "127.0.0.1:0", "--log-level", "warning", *extra],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=ENV)
        deadline = time.monotonic() + 30
        while not (lines := self.out.read_text(errors="replace").splitlines()) or \
                not lines[0].startswith("http://"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"serve did not start: {self.out.read_text()}")
            time.sleep(0.05)
        self.url = lines[0]
        host, port = self.url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def request(self, path: str, *, method: str = "GET", headers: Mapping[str, str] | None = None,
                body: bytes | Iterator[bytes] | None = None) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                          response.read())
        finally:
            conn.close()

    def get(self, path: str, accept: str | None = None, **headers: str) -> Answer:
        return self.request(path, headers={**({"Accept": accept} if accept else {}), **headers})


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        assert self.type == "application/json", self
        document = json.loads(self.body)
        assert isinstance(document, dict)
        return document


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Server]:
    started = Server(site.db, site.policy)
    yield started
    started.stop()


def _ledger(site: Site) -> pl.Ledger:
    return pl.Ledger.open(site.db, readonly=True)


def _path(item: str) -> str:
    return "/" + item_path(item)


# -- the log: checkpoint and tiles ------------------------------------------------------


def test_the_checkpoint_is_the_latest_with_its_cosignatures(site: Site, server: Server) -> None:
    answer = server.get("/checkpoint")
    assert answer.status == 200
    assert answer.type == "text/plain; charset=utf-8"
    assert answer.headers["cache-control"] == "public, max-age=5"
    assert answer.headers["x-content-type-options"] == "nosniff"
    with _ledger(site) as ledger:
        assert answer.body.decode() == ledger.latest_checkpoint().cosigned_note
        vkey = ledger.log_vkey()
    verified = verify_checkpoint(answer.body.decode(), origin="serve.example/rings",
                                 log_key=parse_vkey(vkey), witnesses=[site.witness], quorum=1)
    assert verified.checkpoint.size == site.size


def test_every_tile_is_the_stores_up_to_the_checkpoint(site: Site, server: Server) -> None:
    tiles = list(tiles_for(site.size))
    assert {t.path for t in tiles} == {"tile/0/000", "tile/entries/000", "tile/0/001.p/49",
                                       "tile/entries/001.p/49", "tile/1/000.p/1"}
    with _ledger(site) as ledger:
        for tile in tiles:
            answer = server.get("/" + tile.path)
            assert answer.status == 200, tile
            assert answer.type == "application/octet-stream"
            assert answer.headers["cache-control"] == IMMUTABLE
            expected = (entry_bundle(ledger.store, tile, site.size) if tile.level is None
                        else tile_hashes(ledger.store, tile, site.size))
            assert answer.body == expected, tile
            if tile.level is None:
                assert answer.headers["vary"] == "Accept-Encoding"
                assert "content-encoding" not in answer.headers
        # Entry bundles are compressed for a client that accepts gzip.
        first = entry_bundle(ledger.store, Tile(None, 0), site.size)
    zipped = server.get("/tile/entries/000", **{"Accept-Encoding": "gzip, identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == first
    assert server.get("/tile/entries/000", **{"Accept-Encoding": "gzip;q=0"}).body == first


@pytest.mark.parametrize("path", [
    "/tile/0/001",               # full in the store, beyond the checkpoint
    "/tile/entries/001",
    "/tile/0/001.p/50",          # wider than the checkpoint's
    "/tile/entries/001.p/50",
    "/tile/0/002.p/1",
    "/tile/1/000",
    "/tile/0/1",                 # not canonical
    "/tile/0/001.p/049",
    "/tile/00/000",
    "/tile/0/x000/001",
    "/tile/64/000",
    "/tile/0/000.p/256",
    "/tile/0/000/",
])
def test_tiles_beyond_the_checkpoint_or_not_canonical_are_404(server: Server, path: str) -> None:
    answer = server.get(path)
    assert answer.status == 404, answer
    assert answer.type == "text/plain; charset=utf-8"
    assert answer.headers["x-content-type-options"] == "nosniff"


# -- items ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("accept", "expected"), [
    (BROWSER, HTML),
    ("text/html", HTML),
    ("*/*", HTML),
    (None, HTML),
    ("application/json", "application/json"),
    ("application/json;q=0.5, application/cbor", "application/cbor"),
    ("application/cbor", "application/cbor"),
    ("application/*;q=0.9, text/html;q=0.1", "application/json"),
    ("text/html;q=0, */*", "application/json"),
])
def test_the_item_route_negotiates(site: Site, server: Server, accept: str | None,
                                   expected: str) -> None:
    for path in (_path(RING).rstrip("/"), _path(RING)):
        answer = server.get(path, accept)
        assert answer.status == 200, answer
        assert answer.type == expected
        assert answer.headers["vary"] == "Accept"
        assert answer.headers["cache-control"] == "no-cache"
        if expected == HTML:
            _html_headers(answer)
            assert b"<script" not in answer.body


def test_an_unacceptable_type_is_406(server: Server) -> None:
    answer = server.get(_path(RING), "image/png, text/plain")
    assert answer.status == 406
    assert answer.headers["vary"] == "Accept"
    assert b"application/cbor" in answer.body


def _html_headers(answer: Answer) -> None:
    assert answer.type == HTML
    csp = answer.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert "script-src" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_item_files_are_the_bundle_its_verdict_and_its_page(site: Site,
                                                                 server: Server) -> None:
    with _ledger(site) as ledger:
        bundles = {item: ledger.export(item) for item in (RING, site.stolen)}
    for item, bundle in bundles.items():
        base = _path(item)
        cbor = server.get(base + "bundle.cbor")
        assert (cbor.status, cbor.type, cbor.body) == (200, "application/cbor", bundle)
        assert "vary" not in cbor.headers
        assert server.get(base, "application/cbor").body == bundle
        document = server.get(base + "history.json").json()
        jsonschema.validate(document, SCHEMA)
        assert (document["verified"], document["item"]) == (True, item)
        assert document["checkpoint"]["size"] == site.size
        assert server.get(base, "application/json").json() == document
        page = server.get(base + "index.html")
        assert page.status == 200
        _html_headers(page)
        # Signer-chosen text arrives escaped; the page links the bundle where it lies.
        assert b"Maison <b>" not in page.body
        assert b'href="bundle.cbor"' in page.body
    stolen = server.get(_path(site.stolen) + "history.json").json()
    assert stolen["status"] == "stolen"
    # Without the trailing slash, the link still reaches the bundle.
    bare = server.get(_path(RING).rstrip("/"), "text/html")
    assert b'href="./R%2F1/bundle.cbor"' in bare.body


def test_item_paths_take_any_percent_encoding_of_the_serial(server: Server) -> None:
    path = _path(RING)
    assert path.endswith("/21/R%2F1/")
    assert server.get(path.replace("R%2F1", "%52%2f1") + "bundle.cbor").status == 200
    assert server.get(path.replace("R%2F1", "R/1")).status == 404  # another path


@pytest.mark.parametrize("path", [
    "/01/09506000134352/21/NOPE", "/01/09506000134352/21/NOPE/index.html",
    "/item/0000000000000000/S1/", "/01/09506000134352", "/nothing", "/item",
    "/index.htm", "/checkpoint/", "/verify", "/01/09506000134352/21/R%2F1//",
])
def test_unknown_paths_are_404(server: Server, path: str) -> None:
    answer = server.get(path, "application/json")
    assert answer.status == 404, answer
    assert answer.type == "text/plain; charset=utf-8"


def test_an_item_the_checkpoint_does_not_cover_is_404(site: Site, server: Server) -> None:
    for suffix in ("", "index.html", "bundle.cbor", "history.json"):
        assert server.get(_path(site.uncovered) + suffix).status == 404


def test_the_indexes_list_every_covered_item(site: Site, server: Server) -> None:
    document = server.get("/items.json").json()
    assert document["format"] == "provledger-items/1"
    assert document["origin"] == "serve.example/rings"
    ids = [i["id"] for i in document["items"]]
    assert ids == sorted(ids)
    assert document["checkpoint"]["size"] == site.size
    items = {i["id"]: i for i in document["items"]}
    assert len(items) == 302
    assert items[RING]["path"] == item_path(RING)
    assert items[site.stolen]["status"] == "stolen"
    assert site.uncovered not in items
    for path in ("/", "/index.html"):
        page = server.get(path)
        assert page.status == 200
        _html_headers(page)
        assert f'href="{item_path(RING)}"'.encode() in page.body


def test_other_methods_are_refused(server: Server) -> None:
    assert server.request("/checkpoint", method="POST", body=b"x").status == 405
    assert server.request("/verify", method="PUT", body=b"x").status == 405
    head = server.request("/checkpoint", method="HEAD")
    assert head.status == 200
    assert head.body == b""


# -- POST /verify --------------------------------------------------------------------------


def _post(server: Server, body: bytes | Iterator[bytes], query: str = "",
          content_type: str = "application/cbor") -> Answer:
    return server.request("/verify" + query, method="POST", body=body,
                          headers={"Content-Type": content_type})


def test_verify_answers_the_cli_verdict(site: Site, server: Server, tmp_path: Path) -> None:
    with _ledger(site) as ledger:
        bundle = ledger.export(RING)
    file = tmp_path / "ring.bundle"
    file.write_bytes(bundle)
    for query, args in (("", ()), ("?item=" + urllib.parse.quote(RING, safe=""), ("--item", RING))):
        answer = _post(server, bundle, query)
        assert answer.status == 200
        assert answer.headers["cache-control"] == "no-store"
        document = answer.json()
        cli = json.loads(run_cli("verify", str(file), "--policy", str(site.policy), "--json",
                                 *args, env=ENV).stdout)
        for d in (document, cli):
            d["checkpoint"].pop("age")
        assert document == cli
    octet = _post(server, bundle, content_type="application/octet-stream")
    assert octet.status == 200


def test_verify_refuses_a_tampered_bundle_with_its_error(site: Site, server: Server,
                                                          tmp_path: Path) -> None:
    with _ledger(site) as ledger:
        decoded = decode_bundle(ledger.export(RING))
    entry = decoded.entries[0]
    flipped = bytes([entry.proof[0][0] ^ 1]) + entry.proof[0][1:]
    tampered = encode_bundle(type(decoded)(**{
        **{f: getattr(decoded, f) for f in decoded.__struct_fields__},
        "entries": [type(entry)(entry=entry.entry, proof=[flipped, *entry.proof[1:]]),
                    *decoded.entries[1:]]}))
    answer = _post(server, tampered)
    assert answer.status == 422
    document = answer.json()
    assert document["verified"] is False
    assert document["error"]["code"] == pl.ProofError.code
    assert document["checks"][-1] == {"check": "inclusion", "passed": False}
    file = tmp_path / "tampered.bundle"
    file.write_bytes(tampered)
    cli = run_cli("verify", str(file), "--policy", str(site.policy), "--json", env=ENV,
                  check=False)
    assert cli.returncode == 1
    assert json.loads(cli.stdout) == document
    wrong = _post(server, ledger_bundle(site, site.stolen),
                  "?item=" + urllib.parse.quote(RING, safe=""))
    assert (wrong.status, wrong.json()["error"]["code"]) == (422, "wrong-item")
    bad_item = _post(server, tampered, "?item=not-an-item")
    assert (bad_item.status, bad_item.json()["error"]["code"]) == (400, "item-id")


def ledger_bundle(site: Site, item: str) -> bytes:
    with _ledger(site) as ledger:
        return ledger.export(item)


def test_verify_limits_the_body_and_its_type(server: Server) -> None:
    too_big = bytes(MAX_BUNDLE_BYTES + 1)
    assert _post(server, too_big).status == 413  # by its Content-Length

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut off as it streams
        for _ in range(9):
            yield bytes(1024 * 1024)

    assert _post(server, chunks()).status == 413
    assert _post(server, b"{}", content_type="application/json").status == 415
    assert _post(server, b"", content_type="").status == 415


# -- read-only, a live writer, the witness ------------------------------------------------


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_no_route_writes_to_the_ledger(site: Site, server: Server) -> None:
    before = _fingerprint(site.db)
    paths = ["/", "/index.html", "/items.json", "/checkpoint", "/nothing",
             *("/" + t.path for t in tiles_for(site.size)), "/tile/0/001",
             *(_path(RING) + f for f in ("", "index.html", "bundle.cbor", "history.json")),
             _path(site.uncovered)]
    for path in paths:
        for accept in (None, "application/json", "application/cbor", "image/png"):
            assert server.get(path, accept).status in (200, 404, 406)
    assert _post(server, ledger_bundle(site, RING)).status == 200
    assert _post(server, b"garbage").status == 422
    assert _fingerprint(site.db) == before


def test_a_live_writer_is_served_as_it_checkpoints(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    shutil.copyfile(site.db, db)
    serving = Server(db, site.policy)
    failures: list[object] = []
    stop = threading.Event()

    def reader() -> None:  # reads all along while the writer writes
        while not stop.is_set():
            for path in ("/checkpoint", "/tile/0/000", "/items.json", _path(RING)):
                answer = serving.get(path, "application/json")
                if answer.status != 200:
                    failures.append((path, answer))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        writer = pl.Ledger.open(db, clock=StepClock(int(time.time()) - 100))
        with writer:
            for round_ in range(3):
                writer.append_batch([pl.sign_statement(
                    pl.CertificateIssued(kind="ring", serial=f"NEW{round_}-{i}",
                                         owner=key("owner").public_key),
                    key=key("jeweler"), origin=writer.origin,
                    subject=pl.serial_item_id(key("jeweler").public_key, f"NEW{round_}-{i}"),
                    prev=None, time=int(time.time()) - 100) for i in range(40)])
                signed = writer.sign_checkpoint(key("log"))
            deadline = time.monotonic() + 10
            while serving.get("/checkpoint").body.decode() != signed.cosigned_note:
                assert time.monotonic() < deadline, "the new checkpoint never showed"
                time.sleep(0.05)
            newest = pl.serial_item_id(key("jeweler").public_key, "NEW2-39")
            document = serving.get(_path(newest) + "history.json").json()
            assert document["checkpoint"]["size"] == signed.size
            for tile in tiles_for(signed.size):
                expected = (entry_bundle(writer.store, tile, signed.size) if tile.level is None
                            else tile_hashes(writer.store, tile, signed.size))
                assert serving.get("/" + tile.path).body == expected, tile
    finally:
        stop.set()
        thread.join(timeout=30)
        serving.stop()
    assert failures == []
    with pl.Ledger.open(db, readonly=True) as ledger:
        assert ledger.audit().size == len(ledger)


def test_the_witness_is_served_under_witness(site: Site, tmp_path: Path) -> None:
    with _ledger(site) as ledger:
        vkey, checkpoint, origin = ledger.log_vkey(), ledger.latest_checkpoint(), ledger.origin
    directory = tmp_path / "w"
    run_cli("witness", "init", str(directory), "--name", "witness.example/w2", "--log", vkey,
            env=ENV)
    serving = Server(site.db, site.policy, "--witness", str(directory))
    try:
        answer = serving.request("/witness/add-checkpoint", method="POST",
                                 body=format_add_checkpoint(0, [], checkpoint.note))
        assert answer.status == 200, answer
        assert answer.body.startswith("— witness.example/w2 ".encode())
        cosigned = serving.get(f"/witness/{origin_hash(origin)}/checkpoint")
        assert cosigned.status == 200
        assert cosigned.body.decode().startswith(checkpoint.note)
        assert serving.get("/checkpoint").status == 200  # the log's routes still there
    finally:
        serving.stop()


def test_the_server_vouches_for_nothing_its_policy_rejects(site: Site, tmp_path: Path) -> None:
    strict = tmp_path / "strict.policy"  # the checkpoint is 5,000 s old: stale under it
    with _ledger(site) as ledger:
        strict.write_text(ledger.trust_policy(max_age=60).to_text(), encoding="utf-8")
        bundle = ledger.export(RING)
    serving = Server(site.db, strict)
    try:
        base = _path(RING)
        for answer in (serving.get(base + "history.json"), serving.get(base, "application/json")):
            assert answer.status == 503
            assert answer.headers["cache-control"] == "no-store"
            document = answer.json()
            assert document["verified"] is False
            assert document["error"]["code"] == pl.StaleCheckpointError.code
        page = serving.get(base, BROWSER)
        assert page.status == 503
        _html_headers(page)
        assert b"Cannot verify" in page.body
        # The bundle itself is data, not a verdict: anyone may check it.
        assert serving.get(base + "bundle.cbor").body == bundle
        assert _post(serving, bundle).status == 422
    finally:
        serving.stop()


def test_the_policy_must_trust_the_ledger(site: Site, tmp_path: Path) -> None:
    other = tmp_path / "other.policy"
    other.write_text(pl.Policy(logs=(NoteVerifier("serve.example/rings",
                                                  key("not the log").public_key),),
                               roots=(key("root").public_key,)).to_text(), encoding="utf-8")
    result = run_cli("--db", str(site.db), "serve", "--policy", str(other), "--listen",
                     "127.0.0.1:0", env=ENV, check=False)
    assert result.returncode == 2
    assert "does not trust this ledger" in result.stderr


# -- negotiation, as a function ------------------------------------------------------------

OFFERS = ("text/html", "application/json", "application/cbor")


@pytest.mark.parametrize(("accept", "chosen"), [
    (None, "text/html"),
    ("", "text/html"),
    ("application/json", "application/json"),
    ("APPLICATION/JSON", "application/json"),
    ("application/json; charset=utf-8", "application/json"),
    ("text/*;q=0.2, application/cbor;q=0.3", "application/cbor"),
    ("*/*;q=0.1, application/json;q=0", "text/html"),
    ("application/*, application/json;q=0", "application/cbor"),
    ("application/json;q=1.5, application/cbor", "application/cbor"),  # bad weight: skipped
    ("image/png", None),
    ("*/*;q=0", None),
])
def test_choose_media_type(accept: str | None, chosen: str | None) -> None:
    assert choose_media_type(accept, OFFERS) == chosen


def test_accepts_encoding() -> None:
    assert accepts_encoding("gzip, deflate, br", "gzip")
    assert accepts_encoding("*", "gzip")
    assert not accepts_encoding("*, gzip;q=0", "gzip")
    assert not accepts_encoding("identity", "gzip")
    assert not accepts_encoding(None, "gzip")


def test_verify_answers_503_when_its_slots_are_taken(site: Site) -> None:
    """A sender still uploading holds its slot; the next is told to retry, not queued."""
    busy = Server(site.db, site.policy, "--max-verifying", "1")
    try:
        slow = socket.create_connection((busy.host, busy.port), timeout=10)
        slow.sendall(b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\n"
                     b"Content-Length: 1000\r\n\r\n" + bytes(10))
        deadline = time.monotonic() + 10
        while (answer := _post(busy, b"\xa0")).status != 503:
            assert answer.status == 422, answer  # the slow one has not reached the app yet
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert answer.headers["retry-after"] == "1"
        slow.sendall(bytes(990))
        assert slow.recv(100).startswith(b"HTTP/1.1 422")
        slow.close()
        assert _post(busy, b"\xa0").status == 422  # the slot is free again
    finally:
        busy.stop()


def test_serve_reads_a_postgresql_ledger(pg_url: str, tmp_path: Path) -> None:
    """--db may be a URL for serve as for every command: the URL reaches the
    backend as given (a Path would fold its // and open a file)."""
    w = _world(pg_url)  # type: ignore[arg-type]
    item = w.issue("PG-1")
    w.ledger.sign_checkpoint(key("log"))
    policy = tmp_path / "pg.policy"
    policy.write_text(w.ledger.trust_policy(max_age=86400).to_text(), encoding="utf-8")
    w.ledger.close()
    served = Server(tmp_path / "unused.db", policy, env_db=pg_url)
    try:
        assert served.get("/checkpoint").status == 200
        answer = served.get(_path(item), accept="application/json")
        assert answer.status == 200
        assert answer.json()["item"] == item
    finally:
        served.stop()
