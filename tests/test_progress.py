"""Progress of long operations: the library callback, the CLI's bars on a
terminal (driven through a pseudo-terminal), silence when piped, and Ctrl-C.

Interrupting mid-way is made deterministic with the terminal's own flow
control: the test stops the pty's output (XOFF) once the command has said
what it starts, so the command's next progress report blocks inside the
operation; SIGINT then lands there, and XON lets the command report it.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

import provledger as pl
from tests.conftest import ORIGIN, T0, key, snapshot

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")

ENTRIES = 3000
PASS = "progress test passphrase"
PROVLEDGER = Path(sys.executable).parent / "provledger"
XOFF, XON = b"\x13", b"\x11"

Call = tuple[str, int, int | None]


def _certificates(start: int, count: int) -> list[bytes]:
    jeweler = key("jeweler")
    return [pl.sign_statement(
        pl.CertificateIssued(kind="ring", serial=f"P{i:06d}", owner=key("owner").public_key),
        key=jeweler, origin=ORIGIN, subject=pl.serial_item_id(jeweler.public_key, f"P{i:06d}"),
        prev=None, time=T0) for i in range(start, start + count)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger of ENTRIES + 1 entries (no checkpoint yet) and the log's key file."""
    d = tmp_path_factory.mktemp("progress")
    root, jeweler = key("root"), key("jeweler")
    with pl.Ledger.create(d / "big.db", origin=ORIGIN, root_key=root.public_key,
                          log_key=key("log").public_key, clock=lambda: float(T0)) as ledger:
        ledger.append(pl.sign_statement(
            pl.RoleGranted(key=jeweler.public_key, name="Jeweler", role="issuer"), key=root,
            origin=ORIGIN, subject=pl.authority_subject(jeweler.public_key), prev=None, time=T0))
        for start in range(0, ENTRIES, 1000):
            ledger.append_batch(_certificates(start, 1000))
    pl.write_signing_key(d / "log.key", key("log"), passphrase=PASS.encode())
    return d


@pytest.fixture
def big(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built ledger (and key file); returns its directory."""
    for name in ("big.db", "log.key"):
        shutil.copy(built / name, tmp_path / name)
    return tmp_path


def _files(directory: Path) -> list[str]:
    """The files beside the ledger but SQLite's own (-wal, -shm)."""
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(("-wal", "-shm")))


def _check_stages(calls: list[Call], stages: list[str]) -> None:
    """Stages come in this order; within one, ``done`` grows up to a fixed ``total``."""
    assert [s for i, (s, _, _) in enumerate(calls) if i == 0 or calls[i - 1][0] != s] == stages
    for stage in stages:
        mine = [(d, t) for s, d, t in calls if s == stage]
        totals = {t for _, t in mine}
        assert len(totals) == 1, (stage, totals)
        total = totals.pop()
        assert total is not None, stage
        done = [d for d, _ in mine]
        assert done == sorted(done), (stage, done)
        assert done[0] >= 0, (stage, done)
        assert done[-1] == total, (stage, done)
        assert len(mine) >= 2, stage


# -- the library ---------------------------------------------------------------------


def test_audit_checkpoint_and_backup_report_their_progress(big: Path) -> None:
    calls: list[Call] = []

    def progress(stage: str, done: int, total: int | None) -> None:
        calls.append((stage, done, total))

    with pl.Ledger.open(big / "big.db") as ledger:
        ledger.sign_checkpoint(key("log"), progress=progress)
        _check_stages(calls, ["building the head map"])
        assert calls[-1][1:] == (ENTRIES + 1, ENTRIES + 1)  # one leaf per subject
        calls.clear()
        report = ledger.audit(progress=progress)
        assert report.checkpoints == 1
        _check_stages(calls, ["replaying entries", "checking the tree",
                              "checking the head maps"])
        assert ("replaying entries", 1024, ENTRIES + 1) in calls
        calls.clear()
        ledger.backup(big / "copy.db", progress=progress)
        _check_stages(calls, ["copying", "replaying entries", "checking the tree",
                              "checking the head maps"])
    # Reports come every EVERY units, not per entry.
    assert len(calls) < 3 * (ENTRIES // 1024 + 3) + 10


@pytest.mark.parametrize("operation", ["audit", "checkpoint", "backup"])
def test_a_raising_callback_leaves_the_ledger_unchanged(big: Path, operation: str) -> None:
    def stop(stage: str, done: int, total: int | None) -> None:
        if done >= 1024:
            raise KeyboardInterrupt

    before = snapshot(big / "big.db")
    with pl.Ledger.open(big / "big.db") as ledger:
        run = {"audit": lambda: ledger.audit(progress=stop),
               "checkpoint": lambda: ledger.sign_checkpoint(key("log"), progress=stop),
               "backup": lambda: ledger.backup(big / "copy.db", progress=stop)}[operation]
        with pytest.raises(KeyboardInterrupt):
            run()
    assert snapshot(big / "big.db") == before
    assert _files(big) == ["big.db", "log.key"]


# -- the command line ----------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVLEDGER_")}
    return {**env, "PROVLEDGER_PASSPHRASE": PASS, "COLUMNS": "100"}


def _command(big: Path, operation: str, *extra: str) -> list[str]:
    args = {"audit": ["audit"], "checkpoint": ["checkpoint", "--key", str(big / "log.key")],
            "backup": ["backup", str(big / "copy.db")]}[operation]
    return [str(PROVLEDGER), "--db", str(big / "big.db"), *args, *extra]


class Terminal:
    """A command whose stderr is a pseudo-terminal (stdout and stdin are not)."""

    def __init__(self, args: list[str]) -> None:
        self.master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[0] |= termios.IXON  # XOFF / XON stop and restart its output
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        # A test run started in the background of a shell has SIGINT ignored,
        # which a child inherits (a handled signal it does not): the command
        # must hear Ctrl-C regardless.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=slave, env=_env())
        finally:
            signal.signal(signal.SIGINT, previous)
        os.close(slave)
        self.output = b""

    def read_until(self, text: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline, self.output
            self._read(deadline - time.monotonic())

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the command exited and closed the terminal
            chunk = b""
        self.output += chunk
        return bool(chunk)

    def finish(self, timeout: float = 30) -> tuple[int, bytes]:
        assert self.proc.stdout is not None
        stdout = self.proc.stdout.read()
        self.proc.stdout.close()
        code = self.proc.wait(timeout)
        while self._read(0.2):
            pass
        os.close(self.master)
        return code, stdout

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.parametrize("operation", ["audit", "checkpoint", "backup"])
def test_a_terminal_shows_progress_bars(big: Path, operation: str) -> None:
    with Terminal(_command(big, operation)) as term:
        code, stdout = term.finish()
    assert code == 0, term.output
    shown = term.output.decode()
    label = {"audit": "replaying entries", "checkpoint": "building the head map",
             "backup": "copying"}[operation]
    assert label in shown
    assert "100%" in shown
    assert f"{ENTRIES + 1}/{ENTRIES + 1}" in shown
    assert "/s" in shown  # the rate
    assert b"\r" not in stdout
    assert label.encode() not in stdout


@pytest.mark.parametrize("operation", ["audit", "backup"])
def test_quiet_shows_nothing_on_a_terminal(big: Path, operation: str) -> None:
    with Terminal(_command(big, operation, "--quiet")) as term:
        code, _ = term.finish()
    assert code == 0
    assert term.output == b""


def test_piped_output_has_no_progress(big: Path) -> None:
    done = subprocess.run(_command(big, "audit"), capture_output=True, env=_env(), check=False,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0
    assert done.stderr == b""
    assert done.stdout == (f"audit ok: {ENTRIES + 1} entries, {ENTRIES + 1} subjects, "
                           "0 invalidated, 0 checkpoints, 0 stored disclosures matched\n"
                           ).encode()


def test_json_goes_to_stdout_and_progress_to_the_terminal(big: Path) -> None:
    with Terminal(_command(big, "audit", "--json")) as term:
        code, stdout = term.finish()
    assert code == 0
    assert b"replaying entries" in term.output
    assert stdout.startswith(b"{")
    assert b"replaying" not in stdout


@pytest.mark.parametrize(("operation", "started", "said"), [
    ("audit", b"auditing ", "interrupted: audit not finished"),
    ("checkpoint", b"signing a checkpoint ", "interrupted: the ledger is unchanged"),
    ("backup", b"copying ", "interrupted: the ledger is unchanged and no backup was left"),
])
def test_ctrl_c_mid_way_leaves_the_ledger_auditing_clean(big: Path, operation: str,
                                                         started: bytes, said: str) -> None:
    before = snapshot(big / "big.db")
    with Terminal(_command(big, operation)) as term:
        term.read_until(started)
        os.write(term.master, XOFF)  # its next progress report blocks, mid-way
        time.sleep(0.3)
        assert term.proc.poll() is None, "finished before it could be interrupted"
        term.proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        os.write(term.master, XON)
        code, stdout = term.finish()
    assert code == 130, term.output
    assert stdout == b""
    lines = [ln.strip() for ln in term.output.decode().replace("\r", "\n").splitlines()]
    errors = [ln for ln in lines if ln.startswith("provledger: error:")]
    assert errors == [f"provledger: error: {said}"], term.output
    assert "Traceback" not in term.output.decode()
    assert snapshot(big / "big.db") == before
    assert _files(big) == ["big.db", "log.key"]
    with pl.Ledger.open(big / "big.db") as ledger:
        assert len(ledger) == ENTRIES + 1
        assert ledger.audit().checkpoints == 0


def test_a_terminal_shows_the_conversion_of_an_older_file(tmp_path: Path) -> None:
    """A ledger file of schema 1 opened for writing is converted first, with a
    bar for each step (the tree, then the head map)."""
    old = Path(__file__).parent / "data" / "ledger-v2.db"  # written by the schema-1 code
    shutil.copy(old, tmp_path / "old.db")
    pl.write_signing_key(tmp_path / "log.key", key("log"), passphrase=PASS.encode())
    args = [str(PROVLEDGER), "--db", str(tmp_path / "old.db"), "checkpoint", "--key",
            str(tmp_path / "log.key")]
    with Terminal(args) as term:
        code, _ = term.finish()
    assert code == 0, term.output
    assert "storing the tree as tiles" in term.output.decode()
    assert "converting the head map to tiles" in term.output.decode()
    with pl.Ledger.open(tmp_path / "old.db", readonly=True) as ledger:
        assert ledger.store.meta()["schema"] == b"3"
