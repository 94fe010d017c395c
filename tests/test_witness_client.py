"""The log asks witnesses (c2sp.org/tlog-witness client) against real `provledger
witness serve` processes on loopback: cosignatures collected and stored, the
409 retry, a witness that is ahead, a fork it refuses, a dead port, a silent
one, and answers a witness must not give (from a small real HTTP server)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import provledger as pl
from provledger._note import NoteVerifier, verify_checkpoint
from provledger._witness_client import (
    AHEAD,
    CONFLICT,
    HTTP_ERROR,
    INVALID,
    OK,
    TIMEOUT,
    UNREACHABLE,
    WitnessEndpoint,
    collect_cosignatures,
)
from provledger_cli.main import cli

from .conftest import ORIGIN, World, key
from .witnesses import CLI, Server

PASSPHRASE = "witness client test"
ENV = {**os.environ, "PROVLEDGER_PASSPHRASE": PASSPHRASE}
LOG_V = NoteVerifier(ORIGIN, key("log").public_key)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A witness directory for the test log, made once by `witness init`."""
    directory = tmp_path_factory.mktemp("witness") / "template"
    done = subprocess.run([*CLI, "witness", "init", str(directory), "--name",
                           "w1.client.test/witness", "--log", LOG_V.vkey()],
                          capture_output=True, text=True, env=ENV, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return directory


@pytest.fixture
def server(template: Path, tmp_path: Path) -> Iterator[Server]:
    directory = tmp_path / "w1"
    shutil.copytree(template, directory)
    running = Server(directory, env=ENV)
    yield running
    running.stop()


def grow(w: World, n: int, tag: str = "R") -> None:
    for _ in range(n):
        w.issue(f"{tag}-{len(w.ledger)}")


def cosigned(w: World, seq: int) -> pl.SignedCheckpoint:
    return next(c for c in w.ledger.checkpoints() if c.seq == seq)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- against the real witness -------------------------------------------------------------


def test_the_log_collects_stores_and_starts_from_the_last_cosigned_size(
        world: World, server: Server) -> None:
    grow(world, 2)
    first = world.ledger.sign_checkpoint(key("log"))
    (outcome,) = world.ledger.request_cosignatures([server.witness()], timeout=20)
    assert outcome.status == OK, outcome
    stored = cosigned(world, first.seq)
    assert [(c.witness, c.line) for c in stored.cosignatures] == [(server.verifier, outcome.line)]
    verify_checkpoint(stored.cosigned_note, origin=ORIGIN, log_key=LOG_V,
                      witnesses=[server.verifier], quorum=1)
    assert outcome.timestamp is not None
    assert abs(outcome.timestamp - time.time()) < 120
    # The next request carries a proof from the size the witness last cosigned.
    grow(world, 3)
    world.clock.t += 1
    second = world.ledger.sign_checkpoint(key("log"))
    asked: list[int] = []

    def proof_for(old: int) -> list[bytes]:
        asked.append(old)
        return world.ledger.consistency_proof(old, second.size)

    start = {server.verifier.vkey(): first.size}
    (again,) = collect_cosignatures(second.note, [server.witness()], proof_for=proof_for,
                                    start=start, timeout=20)
    assert again.status == OK, again
    assert asked == [first.size]


def test_a_conflict_is_retried_from_the_witness_size(world: World, server: Server) -> None:
    grow(world, 2)
    first = world.ledger.sign_checkpoint(key("log"))
    # The witness learns size 6 but the log stores nothing of it (a crash after
    # the witness answered, say): the log then starts from 0 and gets a 409.
    (ahead,) = collect_cosignatures(first.note, [server.witness()], timeout=20,
                                    proof_for=world.ledger.consistency_proof)
    assert ahead.status == OK
    assert world.ledger.checkpoints()[0].cosignatures == ()
    grow(world, 2)
    world.clock.t += 1
    second = world.ledger.sign_checkpoint(key("log"))
    (outcome,) = world.ledger.request_cosignatures([server.witness()], timeout=20)
    assert outcome.status == OK, outcome
    assert [c.witness for c in cosigned(world, second.seq).cosignatures] == [server.verifier]


def test_a_witness_ahead_of_the_log_is_reported_and_a_fork_never_cosigned(
        world: World, server: Server, tmp_path: Path) -> None:
    grow(world, 2)
    world.ledger.sign_checkpoint(key("log"))
    world.ledger.backup(tmp_path / "old.db")  # the same log, 6 entries, one checkpoint
    grow(world, 3)
    world.clock.t += 1
    world.ledger.sign_checkpoint(key("log"))
    (outcome,) = world.ledger.request_cosignatures([server.witness()], timeout=20)
    assert outcome.status == OK  # the witness is at size 9
    with pl.Ledger.open(tmp_path / "old.db") as old:  # rolled back to size 6
        (behind,) = old.request_cosignatures([server.witness()], timeout=20)
        assert behind.status == AHEAD, behind
        assert "9" in behind.detail
        assert old.checkpoints()[0].cosignatures == ()
    # A fork past the witness's size: other entries at 6..9, then 4 more.
    fork = World(pl.Ledger.open(tmp_path / "old.db", clock=world.clock), tmp_path / "old.db",
                 world.clock, world.root, world.jeweler, world.workshop, world.gemologist,
                 world.insurer, world.owner)
    try:
        grow(fork, 5, tag="FORK")
        world.clock.t += 1
        forked = fork.ledger.sign_checkpoint(key("log"))
        assert forked.size == 11
        (refused,) = fork.ledger.request_cosignatures([server.witness()], timeout=20)
        assert refused.status == HTTP_ERROR, refused
        assert refused.detail.startswith("HTTP 422")
        assert cosigned(fork, forked.seq).cosignatures == ()
    finally:
        fork.ledger.close()


def test_dead_and_silent_witnesses_do_not_hold_up_the_others(world: World,
                                                             server: Server) -> None:
    grow(world, 1)
    cp = world.ledger.sign_checkpoint(key("log"))
    dead = WitnessEndpoint("dead", f"http://127.0.0.1:{free_port()}", server.verifier)
    with socket.socket() as silent_socket:  # listens, never answers
        silent_socket.bind(("127.0.0.1", 0))
        silent_socket.listen(8)
        silent = WitnessEndpoint("silent", f"http://127.0.0.1:{silent_socket.getsockname()[1]}/w",
                         server.verifier)
        started = time.monotonic()
        outcomes = world.ledger.request_cosignatures([dead, silent, server.witness()],
                                                     timeout=2)
        elapsed = time.monotonic() - started
    assert [o.status for o in outcomes] == [UNREACHABLE, TIMEOUT, OK], outcomes
    assert 1.5 < elapsed < 6
    assert [c.witness for c in cosigned(world, cp.seq).cosignatures] == [server.verifier]


def test_a_wrong_key_or_an_unknown_log_is_no_cosignature(world: World, server: Server) -> None:
    grow(world, 1)
    world.ledger.sign_checkpoint(key("log"))
    other = NoteVerifier(server.verifier.name, key("not the witness").public_key, 4)
    (wrong,) = world.ledger.request_cosignatures([WitnessEndpoint("w", server.url, other)],
                                                 timeout=20)
    assert wrong.status == INVALID, wrong
    assert world.ledger.checkpoints()[0].cosignatures == ()
    stranger = pl.Ledger.create(world.path.parent / "s.db", origin="stranger.example/log",
                                root_key=key("root").public_key, log_key=key("log").public_key)
    with stranger:
        stranger.sign_checkpoint(key("log"))
        (unknown,) = stranger.request_cosignatures([server.witness()], timeout=20)
    assert unknown.status == HTTP_ERROR
    assert unknown.detail.startswith("HTTP 404")


def test_the_cli_asks_the_policys_witnesses(world: World, server: Server,
                                            tmp_path: Path) -> None:
    grow(world, 1)
    world.ledger.close()
    log_key = tmp_path / "log.key"
    pl.write_signing_key(log_key, key("log"), passphrase=b"pw", _limits=(1, 8 * 1024))
    dead = f"http://127.0.0.1:{free_port()}"
    policy = tmp_path / "policy.txt"

    def write_policy(how: str) -> None:
        policy.write_text(
            f"log {LOG_V.vkey()}\nroot {pl.format_public_key(key('root').public_key)}\n"
            f"witness w1 {server.verifier.vkey()} {server.url}\n"
            f"witness w2 {NoteVerifier('w2.example', key('w2').public_key, 4).vkey()} {dead}\n"
            f"group g {how} w1 w2\nquorum g\n")

    write_policy("any")

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--db", str(world.path), "checkpoint", "--key",
                                          str(log_key), "--policy", str(policy), *args],
                                    env={"PROVLEDGER_PASSPHRASE": "pw", "PROVLEDGER_DB": None})
        return result.exit_code, result.stdout, result.stderr

    code, out, err = run("--timeout", "20")
    assert code == 0, err
    assert f"witness w1 ({server.url}): cosigned" in err
    assert f"witness w2 ({dead}): unreachable" in err
    verify_checkpoint(out, origin=ORIGIN, log_key=LOG_V, witnesses=[server.verifier], quorum=1)
    code, out, err = run("--witness", server.url + "/", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert [(w["name"], w["status"]) for w in document["witnesses"]] == [("w1", OK)]
    assert document["cosigned_by"] == ["w1"]
    write_policy("all")
    code, out, err = run("--json")
    assert code == 8, err
    assert json.loads(out)["quorum"]["met"] is False
    assert "quorum was not reached" in err
    with pl.Ledger.open(world.path, readonly=True) as ledger:
        assert [len(c.cosignatures) for c in ledger.checkpoints()] == [1, 1, 1]


# -- answers no witness should give (a small real server on loopback) ----------------------------


@dataclass
class Canned:
    status: int
    headers: dict[str, str]
    body: bytes
    trickle: bool = False


@pytest.fixture
def canned() -> Iterator[Callable[[Canned], str]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(answer: Canned) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if not answer.trickle:
                    self.wfile.write(answer.body)
                    return
                for i in range(len(answer.body)):  # a byte every 0.2 s
                    try:
                        self.wfile.write(answer.body[i:i + 1])
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up
                    time.sleep(0.2)

            def log_message(self, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(("answer", "status", "detail"), [
    (Canned(302, {"Location": "http://127.0.0.1:9/add-checkpoint"}, b""), HTTP_ERROR,
     "HTTP 302"),
    (Canned(500, {}, b"database on fire\nsecond line"), HTTP_ERROR, "HTTP 500: database on fire"),
    (Canned(409, {"Content-Type": "text/plain"}, b"5\n"), INVALID, "text/x.tlog.size"),
    (Canned(409, {"Content-Type": "text/x.tlog.size"}, b"05\n"), INVALID, "without"),
    (Canned(409, {"Content-Type": "text/x.tlog.size; charset=utf-8"}, b"0\n"), CONFLICT,
     "again after 2 retries"),
    (Canned(200, {}, b"\xff\xfe"), INVALID, "no valid cosignature"),
    (Canned(200, {}, b"x" * 70_000), INVALID, "longer than"),
    (Canned(200, {}, b"\xe2\x80\x94 w x\n" * 3000), INVALID, "at most 100"),
    (Canned(200, {}, b"a" * 20, trickle=True), TIMEOUT, "no answer within 1.5 seconds"),
])
def test_answers_a_witness_must_not_give(world: World, canned: Callable[[Canned], str],
                                         answer: Canned, status: str, detail: str) -> None:
    grow(world, 1)
    cp = world.ledger.sign_checkpoint(key("log"))
    url = canned(answer)
    witness = WitnessEndpoint("odd", url, NoteVerifier("odd.example", key("odd").public_key, 4))
    (outcome,) = collect_cosignatures(cp.note, [witness], proof_for=lambda old: [],
                                      timeout=1.5)
    assert outcome.status == status, outcome
    assert detail in outcome.detail, outcome.detail


def test_a_409_beyond_the_checkpoint_is_not_retried(world: World,
                                                    canned: Callable[[Canned], str]) -> None:
    grow(world, 1)
    cp = world.ledger.sign_checkpoint(key("log"))
    url = canned(Canned(409, {"Content-Type": "text/x.tlog.size"}, b"1000\n"))
    witness = WitnessEndpoint("odd", url, NoteVerifier("odd.example", key("odd").public_key, 4))
    (outcome,) = collect_cosignatures(cp.note, [witness], proof_for=lambda old: [], timeout=5)
    assert outcome.status == AHEAD
    assert "1000" in outcome.detail


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x.example/", "http://",
                                 "https://w.example/?q=1", "w.example/add",
                                 "http://127.0.0.1:port/", "http://[::1/", "http://w.example/ü",
                                 "http://w.example/a b"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"URL|query"):
        WitnessEndpoint("w", url, NoteVerifier("w.example", key("w").public_key, 4))


def test_a_log_key_is_no_witness_key() -> None:
    with pytest.raises(ValueError, match="0x04"):
        WitnessEndpoint("w", "http://127.0.0.1:1", LOG_V)

