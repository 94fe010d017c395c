"""A real PostgreSQL server for the tests, started from the installed binaries.

initdb refuses to run as root, and the tests (and CI) run as root: then
initdb and the server run as Debian's ``postgres`` system user (set by
subprocess, no runuser needed), in a temporary directory owned by it. It
listens on 127.0.0.1 on a free port, trusts local connections (a throw-away
cluster) and keeps fsync on, as production would.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: What to install when no server is found (Debian's package).
INSTALL_HINT = "install the PostgreSQL server (Debian: apt-get install postgresql)"


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, if a server is installed."""
    candidates: list[str] = []
    if os.environ.get("PROVLEDGER_PG_BINDIR"):
        candidates.append(os.environ["PROVLEDGER_PG_BINDIR"])
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             check=False)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for c in candidates:
        if (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A running throw-away cluster; ``url(db)`` names a database on it."""

    def __init__(self, bindir: Path, root: Path, port: int, user: str | None) -> None:
        self.bindir, self.root, self.port, self._user = bindir, root, port, user

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        as_user: dict[str, object] = {}
        if self._user is not None:  # drop root for initdb and the server
            pw = pwd.getpwnam(self._user)
            as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [],
                       "cwd": str(self.root)}
        return subprocess.run(list(args), capture_output=True, text=True, check=check,
                              stdin=subprocess.DEVNULL, **as_user)

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                "-c fsync=on -c synchronous_commit=on -c max_connections=100 "
                "-c shared_buffers=64MB")
        out = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                        str(self.root / "log"), "-o", opts, "-w", "-t", "60", "start",
                        check=False)
        if out.returncode != 0:
            log = (self.root / "log").read_text(errors="replace") if (
                self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {out.stderr}\n{log[-2000:]}")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                  "-w", "stop", check=False)

    def new_database(self) -> str:
        """A fresh empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def server() -> Iterator[Server]:
    """Start a cluster for the length of the block.

    Raises:
        LookupError: no server binaries are installed (INSTALL_HINT says what to do).
    """
    bindir = find_bindir()
    if bindir is None:
        raise LookupError(f"no PostgreSQL server binaries found; {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="provledger-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            shutil.rmtree(root)
            raise LookupError("running as root, but there is no 'postgres' user for initdb "
                              f"to run as; {INSTALL_HINT}") from None
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chmod(root, 0o700)
    srv = Server(bindir, root, _free_port(), user)
    try:
        srv.start()
        yield srv
    finally:
        try:
            srv.stop()
        finally:
            _remove(root)


def _remove(root: Path) -> None:
    """Remove the cluster's directory (the server may still be closing files)."""
    for _ in range(20):
        try:
            shutil.rmtree(root)
            return
        except OSError:
            time.sleep(0.1)
