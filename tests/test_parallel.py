"""Signature checks in worker processes give the verdicts of checks in this one.

Every test compares against verify_statement run statement by statement in
this process, on real signatures (no mocks): the same first failure, the same
error type, the same position; workers that die or runs given up midway do
not change any verdict.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger import _parallel
from provledger._errors import ProvLedgerError

from .conftest import ORIGIN, T0, key, make_world, snapshot

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="worker processes are forked")

SIGNER = key("parallel")
N = 200


def _statements(n: int) -> list[bytes]:
    return [pl.sign_statement(pl.CertificateIssued(kind="ring", serial=f"P{i}",
                                                   owner=SIGNER.public_key),
                              key=SIGNER, origin=ORIGIN,
                              subject=pl.serial_item_id(SIGNER.public_key, f"P{i}"),
                              prev=None, time=T0)
            for i in range(n)]


STATEMENTS = _statements(N)


def _damage(data: bytes, offset: int) -> bytes:
    """Flip a bit in the signature (offset < 64) or elsewhere in the statement."""
    pos = len(data) - 1 - offset % len(data)
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:]


def _expected(statements: list[bytes]) -> tuple[type[BaseException], int] | None:
    for i, data in enumerate(statements):
        try:
            pl.verify_statement(data)
        except ProvLedgerError as exc:
            if isinstance(exc, pl.SignatureError) or "statement:" in str(exc):
                return type(exc), i
    return None


def _verdict(statements: list[bytes], processes: int) -> tuple[type[BaseException], int] | None:
    checks = _parallel.SignatureChecks(statements, processes=processes)
    try:
        checks.require(len(statements))
    except ProvLedgerError as exc:
        return type(exc), -1 if exc.batch_index is None else exc.batch_index
    finally:
        checks.cancel()
    return None


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad=st.lists(st.tuples(st.integers(0, N - 1), st.integers(0, 63)), max_size=4),
       processes=st.sampled_from([0, 1, 2, 3]))
def test_workers_name_the_first_bad_signature(bad: list[tuple[int, int]], processes: int) -> None:
    statements = list(STATEMENTS)
    for index, offset in bad:
        statements[index] = _damage(statements[index], offset)
    assert _verdict(statements, processes) == _expected(statements)


def test_a_good_run_passes_in_workers() -> None:
    assert _verdict(STATEMENTS, 2) is None


def test_require_checks_only_the_prefix_asked_for() -> None:
    statements = list(STATEMENTS)
    statements[150] = _damage(statements[150], 0)
    checks = _parallel.SignatureChecks(statements, processes=2)
    try:
        checks.require(150)  # everything before the bad one is good
        with pytest.raises(pl.SignatureError) as caught:
            checks.require(151)
        assert caught.value.batch_index == 150
    finally:
        checks.cancel()


def test_given_up_runs_do_not_leak_into_the_next() -> None:
    for _ in range(5):
        bad = list(STATEMENTS)
        bad[3] = _damage(bad[3], 1)
        assert _verdict(bad, 2) == (pl.SignatureError, 3)  # the rest is cancelled unread
        assert _verdict(STATEMENTS, 2) is None


def test_a_killed_worker_falls_back_to_this_process() -> None:
    assert _verdict(STATEMENTS, 2) is None
    pool = _parallel._pool
    assert pool is not None
    for proc in pool._procs:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
    statements = list(STATEMENTS)
    statements[120] = _damage(statements[120], 5)
    assert _verdict(statements, 2) == (pl.SignatureError, 120)
    assert _verdict(STATEMENTS, 2) is None  # a fresh pool replaces the broken one
    assert _parallel._pool is not pool


@pytest.mark.parametrize("processes", ["0", "2"])
def test_a_batch_with_a_bad_signature_changes_nothing(tmp_path: Path, processes: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVLEDGER_PROCESSES", processes)
    w = make_world(tmp_path / "l.db")
    w.clock.t = T0 + 1
    jeweler = w.jeweler
    batch = [pl.sign_statement(pl.CertificateIssued(kind="ring", serial=f"B{i}",
                                                    owner=w.owner.public_key),
                               key=jeweler, origin=ORIGIN,
                               subject=pl.serial_item_id(jeweler.public_key, f"B{i}"),
                               prev=None, time=T0)
             for i in range(150)]
    batch[97] = _damage(batch[97], 2)
    before = snapshot(w.path)
    with pytest.raises(pl.SignatureError) as caught:
        w.ledger.append_batch(batch)
    assert caught.value.batch_index == 97
    assert snapshot(w.path) == before
    del batch[97]
    assert len(w.ledger.append_batch(batch)) == 149


@pytest.mark.parametrize("processes", ["0", "1", "2"])
def test_a_bad_signature_found_while_writing_leaves_no_disclosure(
        tmp_path: Path, processes: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows are written while the last checks finish: a failure then must roll
    # back the ledger and the disclosures file alike.
    monkeypatch.setenv("PROVLEDGER_PROCESSES", processes)
    w = make_world(tmp_path / "l.db")
    batch, private = [], []
    for i in range(120):
        committed = pl.commit(pl.CertificateIssued(kind="ring", serial=f"D{i}",
                                                   owner=w.owner.public_key,
                                                   inscription=f"secret {i}"))
        batch.append(pl.sign_statement(committed.event, key=w.jeweler, origin=ORIGIN,
                                       subject=pl.serial_item_id(w.jeweler.public_key, f"D{i}"),
                                       prev=None, time=T0))
        private.append(committed.disclosures)
    batch[119] = _damage(batch[119], 4)
    sidecar = tmp_path / "l.disclosures.db"

    def state() -> tuple[str, str]:  # a disclosures file without rows counts as none
        return snapshot(w.path), snapshot(sidecar) if sidecar.exists() else snapshot(w.path)[:0]

    before = state()
    with pytest.raises(pl.SignatureError) as caught:
        w.ledger.append_batch(batch, private)
    assert caught.value.batch_index == 119
    after = state()
    assert after[0] == before[0]
    assert after[1] in (before[1], hashlib.sha256().hexdigest())
    assert not any(b"secret" in f.read_bytes() for f in tmp_path.iterdir() if f.is_file())
    assert len(w.ledger.append_batch(batch[:119], private[:119])) == 119


def test_a_rule_failure_after_a_bad_signature_names_the_signature(tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    batch = list(_statements(100))  # SIGNER is no issuer: every one breaks a rule
    batch[0] = pl.sign_statement(pl.CertificateIssued(kind="ring", serial="X",
                                                      owner=w.owner.public_key),
                                 key=w.jeweler, origin=ORIGIN,
                                 subject=pl.serial_item_id(w.jeweler.public_key, "X"),
                                 prev=None, time=T0)
    good = pl.verify_statement(batch[0])
    assert good.signer == w.jeweler.public_key
    with pytest.raises(pl.UnknownKeyError) as caught:
        w.ledger.append_batch(batch)
    assert caught.value.batch_index == 1
    batch[1] = _damage(batch[1], 0)
    with pytest.raises(pl.SignatureError) as caught_sig:
        w.ledger.append_batch(batch)
    assert caught_sig.value.batch_index == 1


def test_an_idle_caller_checks_the_last_chunks_itself() -> None:
    statements = list(STATEMENTS)
    statements[N - 1] = _damage(statements[N - 1], 3)  # in the last chunk: the caller's
    statements[40] = _damage(statements[40], 0)
    checks = _parallel.SignatureChecks(statements, processes=1)
    try:
        with pytest.raises(pl.SignatureError) as caught:
            checks.require(N)  # asked at once: nothing to do here but help
        assert caught.value.batch_index == 40  # the first, though found later
        assert checks.taken_over >= 1
    finally:
        checks.cancel()
    checks = _parallel.SignatureChecks(statements[41:], processes=1)
    try:
        with pytest.raises(pl.SignatureError) as caught:
            checks.require(N - 41)
        assert caught.value.batch_index == N - 42
        assert checks.taken_over >= 1
    finally:
        checks.cancel()


def test_a_worker_skips_a_chunk_the_caller_took() -> None:
    pool = _parallel._shared_pool(1)
    assert pool is not None
    chunks = [STATEMENTS[a:a + 16] for a in range(0, N, 16)]
    last = len(chunks) - 1
    ticket = pool.submit(chunks)
    try:
        pool.skip(ticket, last)  # read by the worker long before it gets there
        assert [pool.result(ticket, c) for c in range(last)] == [-1] * last
        time.sleep(0.3)
        assert pool.poll(ticket, last) is None  # never checked, never answered
    finally:
        pool.finish(ticket, cancel=True)
    assert _verdict(STATEMENTS, 1) is None


def test_appends_leave_the_callers_core_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVLEDGER_PROCESSES", raising=False)
    cores = os.cpu_count() or 1
    assert _parallel.check_processes() == cores - 1
    assert _parallel.default_processes() == cores
    monkeypatch.setenv("PROVLEDGER_PROCESSES", "3")
    assert _parallel.check_processes() == _parallel.default_processes() == 3


def test_bad_environment_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVLEDGER_PROCESSES", "many")
    with pytest.raises(ValueError, match="PROVLEDGER_PROCESSES"):
        _parallel.default_processes()


def test_many_given_up_runs_leave_the_pool_usable() -> None:
    bad = list(STATEMENTS)
    bad[0] = _damage(bad[0], 1)
    for _ in range(300):
        checks = _parallel.SignatureChecks(bad, processes=2)
        with pytest.raises(pl.SignatureError):
            checks.require(1)
        checks.cancel()
    assert _verdict(STATEMENTS, 2) is None
