"""Shared fixtures: deterministic keys, a stepping clock, and ledgers built on disk."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import provledger as pl

from . import pg

ORIGIN = "test.example/ledger"
T0 = 1_800_000_000


class StepClock:
    """The log's clock for tests: returns ``t``; tests move it explicitly."""

    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return float(self.t)


def table_names(path: Path) -> set[str]:
    """The tables of the SQLite file at ``path``, read without changing it."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def key(name: str) -> pl.SigningKey:
    return pl.SigningKey(hashlib.sha256(f"test key {name}".encode()).digest())


@dataclass
class World:
    """A ledger with a root, an issuer, a workshop, an attester, a reporter and an owner."""

    ledger: pl.Ledger
    path: Path
    clock: StepClock
    root: pl.SigningKey
    jeweler: pl.SigningKey
    workshop: pl.SigningKey
    gemologist: pl.SigningKey
    insurer: pl.SigningKey
    owner: pl.SigningKey

    def sign(self, signer: pl.SigningKey, subject: str, event: pl.Event,
             prev: bytes | str | None = "head", time: int | None = None) -> bytes:
        return pl.sign_statement(
            event, key=signer, origin=self.ledger.origin, subject=subject,
            prev=self.ledger.head(subject) if prev == "head" else prev,  # type: ignore[arg-type]
            time=self.clock.t if time is None else time)

    def add(self, signer: pl.SigningKey, subject: str, event: pl.Event) -> pl.Record:
        self.clock.t += 1
        return self.ledger.append(self.sign(signer, subject, event))

    def issue(self, serial: str, owner: pl.SigningKey | None = None) -> str:
        item = pl.serial_item_id(self.jeweler.public_key, serial)
        self.add(self.jeweler, item, pl.CertificateIssued(
            kind="ring", serial=serial, owner=(owner or self.owner).public_key))
        return item


def grant(w: World, signer: pl.SigningKey, grantee: pl.SigningKey, role: str, name: str,
          *, gs1_prefixes: tuple[str, ...] = (), domains: tuple[str, ...] = ()) -> None:
    w.add(signer, pl.authority_subject(grantee.public_key),
          pl.RoleGranted(key=grantee.public_key, name=name, role=role,  # type: ignore[arg-type]
                         gs1_prefixes=list(gs1_prefixes), domains=list(domains)))


def make_world(path: Path, clock: StepClock | None = None) -> World:
    clock = StepClock() if clock is None else clock
    ledger = pl.Ledger.create(path, origin=ORIGIN, root_key=key("root").public_key,
                              log_key=key("log").public_key, clock=clock)
    w = World(ledger, path, clock, key("root"), key("jeweler"), key("workshop"),
              key("gemologist"), key("insurer"), key("owner"))
    grant(w, w.root, w.jeweler, "issuer", "Jeweler")
    grant(w, w.jeweler, w.workshop, "service", "Workshop")
    grant(w, w.jeweler, w.gemologist, "attester", "Gem Lab")
    grant(w, w.jeweler, w.insurer, "reporter", "Insurer")
    return w


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path / "ledger.db")
    yield w
    w.ledger.close()


def snapshot(path: Path) -> str:
    """A digest of every row of every table: equal snapshots mean nothing changed."""
    conn = sqlite3.connect(path)
    h = hashlib.sha256()
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):
            h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()


def statement_indices(path: str | Path) -> dict[bytes, int]:
    """Every stored statement's SHA-256 -> its log index, read once (tests only:
    looking each up with find_statement is a full scan apiece)."""
    if is_url(path):
        import psycopg

        with psycopg.connect(str(path), autocommit=True) as pg:
            rows = pg.execute("SELECT hash, idx FROM entries").fetchall()
        return {bytes(h): int(i) for h, i in rows}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {bytes(h): int(i) for h, i in conn.execute("SELECT hash, idx FROM entries")}
    finally:
        conn.close()


def find_statement(path: str | Path, digest: bytes) -> int | None:
    """The log index of the statement with SHA-256 ``digest`` (a full scan: tests only)."""
    if is_url(path):
        found = raw_sql(path, "SELECT idx FROM entries WHERE hash = %s", digest)
        return int(found[0][0]) if found else None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT idx FROM entries WHERE hash = ?", (digest,)).fetchone()
    finally:
        conn.close()
    return None if row is None else int(row[0])


# -- both backends -----------------------------------------------------------
# Storage-level tests take ``ledger_target`` instead of a path: a SQLite file,
# then a fresh database on a real PostgreSQL server (tests/pg.py) started once
# per session from the installed binaries.


def is_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.Server]:
    """A PostgreSQL server for the session; the tests that need one skip without
    one, or fail where PROVLEDGER_REQUIRE_PG is set (.ci/run, server installed)."""
    with contextlib.ExitStack() as stack:
        try:
            srv = stack.enter_context(pg.server())
        except LookupError as exc:
            if os.environ.get("PROVLEDGER_REQUIRE_PG"):
                pytest.fail(f"PROVLEDGER_REQUIRE_PG is set: {exc}")
            pytest.skip(str(exc))
        yield srv


@pytest.fixture
def pg_url(pg_server: pg.Server) -> str:
    """A fresh empty database on the session's PostgreSQL server."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's ledger lives: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "ledger.db"
    return str(request.getfixturevalue("pg_url"))


@contextmanager
def writer_blocked(target: str | Path) -> Iterator[None]:
    """Another writer holding the ledger for the length of the block: SQLite's
    write lock, or PostgreSQL's writers' advisory lock."""
    if is_url(target):
        import psycopg

        from provledger._pgstore import WRITE_LOCK

        with psycopg.connect(str(target), autocommit=True) as pconn:
            pconn.execute("BEGIN")
            pconn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield
            pconn.execute("ROLLBACK")
        return
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def raw_sql(target: str | Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Run ``sql`` on the ledger's database behind its back: on PostgreSQL as
    a superuser with triggers off (session_replication_role = replica), on
    SQLite with the triggers dropped for the statement. Returns any rows.
    Tests only (tampering, inspection)."""
    if is_url(target):
        import psycopg

        with psycopg.connect(str(target), autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            cur = conn.execute(sql, args or None)
            return list(cur.fetchall()) if cur.description else []
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                                ).fetchall()
        conn.execute("BEGIN")
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        rows = conn.execute(sql.replace("%s", "?"), args).fetchall()
        for _, text in triggers:
            conn.execute(text)
        conn.execute("COMMIT")
        return rows
    finally:
        conn.close()
