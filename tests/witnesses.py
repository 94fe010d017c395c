"""Helpers for tests that run `provledger witness serve` as real processes on
loopback: start one (optionally on a given port, to restart it where it was),
SIGKILL or stop it, and speak HTTP to it with urllib."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from provledger._note import parse_vkey
from provledger._witness_client import WitnessEndpoint

_INSTALLED = Path(sys.executable).parent / "provledger"
#: How to run the installed CLI as a process of its own.
CLI = [str(_INSTALLED)] if _INSTALLED.exists() else [
    sys.executable, "-c", "from provledger_cli.main import main; main()"]


def run_cli(*args: str, env: Mapping[str, str],
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``provledger ARGS`` as a process; with ``check``, it must exit 0."""
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, env=dict(env),
                            timeout=60, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes


def post(url: str, body: bytes) -> Answer:
    """POST ``body`` to ``<url>/add-checkpoint``; any status is an answer."""
    req = urllib.request.Request(url + "/add-checkpoint", data=body, method="POST")
    return _open(req)


def get(url: str, path: str, method: str = "GET") -> Answer:
    return _open(urllib.request.Request(url + path, method=method))


def _open(req: urllib.request.Request) -> Answer:
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            return Answer(response.status, response.headers["Content-Type"], response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, error.headers["Content-Type"], error.read())


class Server:
    """One `provledger witness serve` process; its stdout and stderr go to a file
    next to its directory. ``listen`` defaults to a free loopback port; pass the
    old one (``f"127.0.0.1:{server.port}"``) to restart a witness where it was."""

    def __init__(self, directory: Path, *, env: Mapping[str, str], prefix: str = "/",
                 listen: str = "127.0.0.1:0") -> None:
        self.directory = directory
        self.out = directory.parent / f"{directory.name}-{time.monotonic_ns()}.out"
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [*CLI, "witness", "serve", str(directory), "--listen", listen,
                 "--prefix", prefix, "--log-level", "warning"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(env))
        deadline = time.monotonic() + 30
        while True:
            lines = self.out.read_text(errors="replace").splitlines()
            if len(lines) >= 2 and lines[1].startswith("http://"):
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the witness did not start: {self.out.read_text()}")
            time.sleep(0.05)
        self.vkey, self.url = lines[0], lines[1]
        self.verifier = parse_vkey(self.vkey)

    @property
    def port(self) -> int:
        return int(self.url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)[1])

    def witness(self, name: str = "w1") -> WitnessEndpoint:
        """The endpoint a log asks this witness at."""
        return WitnessEndpoint(name, self.url, self.verifier)

    def kill(self) -> None:
        """SIGKILL: no chance to flush or close anything."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL if it takes too long."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
