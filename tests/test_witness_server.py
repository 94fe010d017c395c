"""The witness as real processes on loopback: `provledger witness serve` spoken to
over HTTP (urllib), killed with SIGKILL and restarted, raced by two forks, and
the offline `witness cosign`, `show` and `add-log` commands."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provledger._keys import SigningKey
from provledger._merkle import MemoryTree, consistency_proof
from provledger._note import (
    Checkpoint,
    NoteVerifier,
    format_checkpoint,
    format_note,
    parse_vkey,
    sign_note,
    verify_checkpoint,
)
from provledger._witness import origin_hash
from provledger._witness_wire import MAX_REQUEST_BYTES, format_add_checkpoint

from . import witnesses
from .witnesses import CLI, Answer, Server, get, post

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors" / "witness"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))
ORIGIN = MANIFEST["log"]["origin"]
LOG_KEY = SigningKey(hashlib.sha256(MANIFEST["log"]["seed_sha256_of"].encode()).digest())
LOG_V = NoteVerifier(ORIGIN, LOG_KEY.public_key)
PASSPHRASE = "witness test passphrase"
NAME = "witness.example/w-test"
ENV = {**os.environ, "PROVLEDGER_PASSPHRASE": PASSPHRASE}


def _tree(tag: bytes, fork_at: int = 6, n: int = 200) -> MemoryTree:
    tree = MemoryTree()
    for i in range(n):
        tree.append((tag if i >= fork_at else b"main") + b" %d" % i)
    return tree


MAIN, FORK = _tree(b"main"), _tree(b"fork")


def note(tree: MemoryTree, size: int) -> str:
    body = format_checkpoint(Checkpoint(ORIGIN, size, tree.root(size)))
    return format_note(body, [sign_note(body, name=ORIGIN, key=LOG_KEY)])


def request(old: int, size: int, tree: MemoryTree = MAIN) -> bytes:
    proof = consistency_proof(old, size, tree) if old else []
    return format_add_checkpoint(old, proof, note(tree, size))


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return witnesses.run_cli(*args, env=ENV, check=check)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A witness directory made once by `witness init` (the argon2id key costs time)."""
    directory = tmp_path_factory.mktemp("witness") / "template"
    result = run_cli("witness", "init", str(directory), "--name", NAME, "--log", LOG_V.vkey())
    assert parse_vkey(result.stdout.strip()).name == NAME
    return directory


@pytest.fixture
def wdir(template: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "w"
    shutil.copytree(template, directory)
    return directory


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def start(servers: list[Server], directory: Path, prefix: str = "/") -> Server:
    server = Server(directory, env=ENV, prefix=prefix)
    servers.append(server)
    return server


def cosignature_ok(server: Server, body: bytes, answer: Answer) -> int:
    assert answer.status == 200, answer
    assert answer.content_type == "text/plain; charset=utf-8"
    signed = body.decode().split("\n\n", 1)[1] + answer.body.decode()
    verified = verify_checkpoint(signed, origin=ORIGIN, log_key=LOG_V,
                                 witnesses=[server.verifier], quorum=1)
    (cosigner,) = verified.cosigners
    assert cosigner.timestamp is not None
    assert abs(cosigner.timestamp - time.time()) < 120
    return verified.checkpoint.size


# -- the HTTP exchange ----------------------------------------------------------------------


def test_the_vectors_over_http(wdir: Path, servers: list[Server]) -> None:
    """Every request of spec/vectors/witness (the C2SP example body first) gets the
    status, Content-Type and, but for the witness's own key and clock, the body."""
    server = start(servers, wdir)
    assert server.verifier.name == NAME
    assert server.url.count(":") == 2
    assert not server.url.endswith("/")
    for step in MANIFEST["steps"]:
        body = (VECTORS / step["request"]).read_bytes()
        answer = post(server.url, body)
        assert (answer.status, answer.content_type) == (step["status"], step["content_type"]), (
            step["id"], answer)
        if step["status"] == 200:
            cosignature_ok(server, body, answer)
        else:
            assert answer.body == (VECTORS / step["response"]).read_bytes(), step["id"]
    assert get(server.url, "/" + MANIFEST["monitoring"]["path"]).status == 200


def test_statuses_methods_and_limits(wdir: Path, servers: list[Server]) -> None:
    server = start(servers, wdir, prefix="/w1/")
    assert server.url.endswith("/w1")
    path = f"/{origin_hash(ORIGIN)}/checkpoint"
    assert get(server.url, path) == Answer(
        404, "text/plain; charset=utf-8", b"this witness never cosigned a checkpoint of that log\n")
    first = request(0, 7)
    assert cosignature_ok(server, first, post(server.url, first)) == 7
    assert post(server.url, request(0, 9)) == Answer(409, "text/x.tlog.size", b"7\n")
    assert post(server.url, b"old 0\n") == Answer(
        400, "text/plain; charset=utf-8",
        b"request body has no empty line before the checkpoint\n")
    assert post(server.url, request(7, 9, FORK)).status == 422
    grow = request(7, 9)
    assert cosignature_ok(server, grow, post(server.url, grow)) == 9
    view = get(server.url, path)
    assert view.status == 200
    assert view.content_type == "text/plain; charset=utf-8"
    verified = verify_checkpoint(view.body, origin=ORIGIN, log_key=LOG_V,
                                 witnesses=[server.verifier], quorum=1)
    assert verified.checkpoint.size == 9
    assert get(server.url, f"/{'0' * 64}/checkpoint").status == 404
    # Only POST on add-checkpoint, only GET (and HEAD) on the checkpoint.
    for method in ("GET", "PUT", "DELETE"):
        answer = get(server.url, "/add-checkpoint", method)
        assert answer.status == 405
    assert get(server.url, path, "POST").status == 405
    # No route without the prefix.
    assert get(server.url.removesuffix("/w1"), "/add-checkpoint", "POST").status == 404
    # A declared length over the limit is refused before the body is read.
    host, port = server.url.removeprefix("http://").removesuffix("/w1").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/w1/add-checkpoint")
    conn.putheader("Content-Length", str(MAX_REQUEST_BYTES + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert response.read().startswith(b"a request body is at most")
    conn.close()


# -- kill -9 -------------------------------------------------------------------------------


def test_sigkill_mid_run_keeps_the_state(wdir: Path, servers: list[Server]) -> None:
    server = start(servers, wdir)
    acknowledged: list[int] = []
    sent: list[int] = []
    stop = threading.Event()

    def grow() -> None:
        size = 0
        while not stop.is_set() and size < 199:
            body = request(size, size + 1)
            sent.append(size + 1)
            try:
                answer = post(server.url, body)
            except OSError:
                return
            if answer.status != 200:
                return
            size += 1
            acknowledged.append(size)

    worker = threading.Thread(target=grow)
    worker.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()
    stop.set()
    worker.join(timeout=30)
    assert 8 <= len(acknowledged) < 199
    restarted = start(servers, wdir)
    assert restarted.vkey == server.vkey
    view = get(restarted.url, f"/{origin_hash(ORIGIN)}/checkpoint")
    assert view.status == 200
    size = verify_checkpoint(view.body, origin=ORIGIN, log_key=LOG_V,
                             witnesses=[restarted.verifier], quorum=1).checkpoint.size
    # Every acknowledged cosignature was on disk; at most the one in flight is newer.
    assert acknowledged[-1] <= size <= sent[-1]
    assert post(restarted.url, request(0, 199)) == Answer(409, "text/x.tlog.size",
                                                          f"{size}\n".encode())
    body = request(size, 199)
    assert cosignature_ok(restarted, body, post(restarted.url, body)) == 199


# -- concurrent forks ------------------------------------------------------------------------


def test_two_forks_racing_two_server_processes(wdir: Path, servers: list[Server]) -> None:
    """20 requests, two forks, two server processes on one state file: one fork
    gets cosignatures, the other only 409 or 422, and the state holds the winner."""
    one, two = start(servers, wdir), start(servers, wdir)
    base = request(0, 6)
    assert post(one.url, base).status == 200
    bodies = {"main": request(6, 20), "fork": request(6, 20, FORK)}
    results: list[tuple[str, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def send(i: int) -> None:
        which = "main" if i % 2 else "fork"
        barrier.wait()
        answer = post((one if i % 4 < 2 else two).url, bodies[which])
        if answer.status == 200:
            cosignature_ok(one, bodies[which], answer)
        with lock:
            results.append((which, answer.status))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 20
    winners = {which for which, status in results if status == 200}
    assert len(winners) == 1, results
    (winner,) = winners
    losers = {status for which, status in results if which != winner}
    assert losers
    assert losers <= {409, 422}
    view = get(two.url, f"/{origin_hash(ORIGIN)}/checkpoint")
    tree = MAIN if winner == "main" else FORK
    assert view.body.decode().split("\n")[2] == note(tree, 20).split("\n")[2]


# -- the other commands -------------------------------------------------------------------


def test_offline_cosign_shares_state_with_the_server(wdir: Path, servers: list[Server],
                                                     tmp_path: Path) -> None:
    checkpoint, proof = tmp_path / "cp", tmp_path / "proof"
    checkpoint.write_text(note(MAIN, 4))
    proof.write_text("old 0\n")
    result = run_cli("witness", "cosign", str(wdir), str(checkpoint), "--proof", str(proof))
    vkey = (wdir / "witness.vkey").read_text().strip()
    verify_checkpoint(note(MAIN, 4) + result.stdout, origin=ORIGIN, log_key=LOG_V,
                      witnesses=[parse_vkey(vkey)], quorum=1)
    # Offline and online witnessing share one state: the server sees size 4.
    server = start(servers, wdir)
    assert post(server.url, request(0, 7)).body == b"4\n"
    assert post(server.url, request(4, 7)).status == 200
    # ... and the offline command sees the server's 7.
    again = run_cli("witness", "cosign", str(wdir), str(checkpoint), "--proof", str(proof),
                    check=False)
    assert (again.returncode, again.stdout) == (9, "7\n")
    assert "recorded size is 7" in again.stderr
    checkpoint.write_text(note(FORK, 7))
    proof.write_text("old 7\n")
    forked = run_cli("witness", "cosign", str(wdir), str(checkpoint), "--proof", str(proof),
                     check=False)
    assert forked.returncode == 10
    assert "422" in forked.stderr
    assert forked.stdout == ""
    proof.write_text("old x\n")
    assert run_cli("witness", "cosign", str(wdir), str(checkpoint), "--proof", str(proof),
                   check=False).returncode == 4
    shown = json.loads(run_cli("witness", "show", str(wdir), "--json").stdout)
    assert shown["vkey"] == vkey
    assert [(log["origin"], log["size"], log["evidence"]) for log in shown["logs"]] == [
        (ORIGIN, 7, 1)]


def test_init_add_log_and_show(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    made = run_cli("witness", "init", str(directory), "--name", NAME)
    again = run_cli("witness", "init", str(directory), "--name", NAME, check=False)
    assert again.returncode == 5
    assert "refusing to overwrite" in again.stderr
    other = NoteVerifier("other.example/log", SigningKey(bytes(32)).public_key)
    run_cli("witness", "add-log", str(directory), LOG_V.vkey())
    run_cli("witness", "add-log", str(directory), other.vkey(), "https://other.example/")
    dup = run_cli("witness", "add-log", str(directory), LOG_V.vkey(), check=False)
    assert dup.returncode == 4
    assert "listed twice" in dup.stderr
    bad = run_cli("witness", "add-log", str(directory), made.stdout.strip(), check=False)
    assert bad.returncode == 2
    lines = run_cli("witness", "show", str(directory)).stdout.splitlines()
    assert lines == [f"witness {made.stdout.strip()}",
                     f"log {ORIGIN} size - evidence 0 {LOG_V.vkey()}",
                     f"log other.example/log size - evidence 0 {other.vkey()} "
                     "https://other.example/"]
    # A wrong passphrase stops `serve` before it listens.
    wrong = subprocess.run([*CLI, "witness", "serve", str(directory), "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=60, check=False,
                           env={**ENV, "PROVLEDGER_PASSPHRASE": "wrong"})
    assert wrong.returncode == 7
    assert "passphrase" in wrong.stderr
    assert wrong.stdout == ""
