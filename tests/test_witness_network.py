"""A witness network on loopback (issue 13, item 6): three `provledger witness
serve` processes (w1, w2, w3), one log, and a policy that needs two of them
(``group trio 2 w1 w2 w3``, ``quorum trio``). One witness goes down, one is
SIGKILLed and restarted mid-run, one has seen a fork, two are down at once;
the log gets its quorum where it can and never a cosignature for a tree
inconsistent with another the same witness cosigned; a marketplace with
``verify --seen`` accepts a newer witnessed bundle and refuses an older, an
unwitnessed or a forked one.

Two forks racing add-checkpoint requests at one witness (two server processes
on one state file) are resolved to exactly one winner in
tests/test_witness_server.py::test_two_forks_racing_two_server_processes; a
SIGKILL landing at a random moment of a request stream is
test_sigkill_mid_run_keeps_the_state there. They are not repeated here.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import provledger as pl
from provledger._bundle import decode_bundle
from provledger._merkle import verify_consistency
from provledger._note import NoteVerifier, verify_checkpoint
from provledger._tlog import witnessed_sizes
from provledger._witness import WitnessState, origin_hash
from provledger._witness_client import (
    HTTP_ERROR,
    OK,
    UNREACHABLE,
    WitnessEndpoint,
    WitnessOutcome,
    collect_cosignatures,
)
from provledger.errors import QuorumError
from provledger_cli.main import cli

from .conftest import ORIGIN, World, key
from .witnesses import Server, get, run_cli

PASSPHRASE = "witness network test"
ENV = {**os.environ, "PROVLEDGER_PASSPHRASE": PASSPHRASE}
LOG = key("log")
LOG_V = NoteVerifier(ORIGIN, LOG.public_key)
NAMES = ("w1", "w2", "w3")
TIMEOUT = 20.0


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """w1, w2 and w3, made once by `witness init`, serving the test log."""
    base = tmp_path_factory.mktemp("witnesses")
    for name in NAMES:
        run_cli("witness", "init", str(base / name), "--name", f"{name}.network.test/witness",
                "--log", LOG_V.vkey(), env=ENV)
    return {name: base / name for name in NAMES}


@dataclass
class Net:
    """The log (a ledger), its three witnesses and the policy naming them."""

    world: World
    tmp: Path
    dirs: dict[str, Path]
    servers: dict[str, Server] = field(default_factory=dict)
    #: Every process ever started, killed by the fixture's finalizer.
    started: list[Server] = field(default_factory=list)

    @property
    def policy_file(self) -> Path:
        return self.tmp / "trio.policy"

    @property
    def log_key(self) -> Path:
        return self.tmp / "log.key"

    def start(self, name: str, listen: str = "127.0.0.1:0") -> Server:
        server = Server(self.dirs[name], env=ENV, listen=listen)
        self.started.append(server)
        self.servers[name] = server
        return server

    def restart(self, name: str) -> Server:
        """Start ``name`` again on its state directory and its old port (so the
        policy's URL still holds)."""
        old = self.servers[name]
        assert old.proc.poll() is not None, "restart a witness that is down"
        server = self.start(name, listen=f"127.0.0.1:{old.port}")
        assert (server.url, server.vkey) == (old.url, old.vkey)
        return server

    def write_policy(self, quorum: str = "trio") -> Path:
        text = (f"log {LOG_V.vkey()}\nroot {pl.format_public_key(key('root').public_key)}\n"
                + "".join(f"witness {n} {s.vkey} {s.url}\n" for n, s in self.servers.items())
                + "group trio 2 w1 w2 w3\n" + f"quorum {quorum}\n")
        path = self.tmp / f"{quorum}.policy"
        path.write_text(text)
        return path

    def policy(self) -> pl.Policy:
        return pl.read_policy(self.policy_file)

    def endpoints(self, *names: str) -> list[WitnessEndpoint]:
        return [self.servers[n].witness(n) for n in names or NAMES]

    def now(self) -> int:
        """A verification time after everything the log and the witnesses signed
        (the log's clock is a test clock; cosignature times are real)."""
        return max(self.world.clock.t, int(time.time())) + 60

    def ledger(self) -> pl.Ledger:
        return self.world.ledger

    def run(self, *args: str | Path) -> Result:
        """The `provledger` CLI, in-process, on this log; the ledger is closed
        meanwhile (the command opens its own) and reopened after."""
        self.world.ledger.close()
        try:
            return CliRunner().invoke(cli, ["--db", str(self.world.path), *map(str, args)],
                                      prog_name="provledger",
                                      env={"PROVLEDGER_PASSPHRASE": PASSPHRASE,
                                           "PROVLEDGER_DB": None})
        finally:
            self.world.ledger = pl.Ledger.open(self.world.path, clock=self.world.clock)

    def checkpoint(self, *args: str) -> Result:
        return self.run("checkpoint", "--key", self.log_key, "--policy", self.policy_file,
                        "--timeout", str(TIMEOUT), *args)

    def verify(self, data: bytes, *args: str | Path, policy: Path | None = None) -> Result:
        bundle = self.tmp / f"b{len(list(self.tmp.glob('b*.bundle')))}.bundle"
        bundle.write_bytes(data)
        return CliRunner().invoke(cli, ["verify", str(bundle), "--policy",
                                        str(policy or self.policy_file), "--at", str(self.now()),
                                        *map(str, args)],
                                  prog_name="provledger", env={"PROVLEDGER_DB": None})


@pytest.fixture
def net(world: World, templates: dict[str, Path], tmp_path: Path) -> Iterator[Net]:
    dirs = {n: shutil.copytree(d, tmp_path / "witnesses" / n) for n, d in templates.items()}
    network = Net(world, tmp_path, dirs)
    try:
        for name in NAMES:
            network.start(name)
        network.write_policy()
        pl.write_signing_key(network.log_key, LOG, passphrase=PASSPHRASE.encode(),
                             _limits=(1, 8 * 1024))
        yield network
    finally:
        for server in network.started:
            server.kill()


# -- helpers ---------------------------------------------------------------------------------


def grow(w: World, n: int, tag: str = "R") -> None:
    for _ in range(n):
        w.issue(f"{tag}-{len(w.ledger)}")


def sign(w: World) -> pl.SignedCheckpoint:
    w.clock.t += 1
    return w.ledger.sign_checkpoint(LOG)


def stored(ledger: pl.Ledger, seq: int) -> pl.SignedCheckpoint:
    return next(c for c in ledger.checkpoints() if c.seq == seq)


def cosigners(net: Net, cp: pl.SignedCheckpoint) -> list[str]:
    names = {s.verifier: n for n, s in net.servers.items()}
    return [names[c.witness] for c in cp.cosignatures]


def statuses(outcomes: Sequence[WitnessOutcome]) -> list[str]:
    return [o.status for o in outcomes]


def recorded(server: Server) -> tuple[int, bytes]:
    """The size and root the witness says it last cosigned (its monitoring GET)."""
    answer = get(server.url, f"/{origin_hash(ORIGIN)}/checkpoint")
    assert answer.status == 200, answer
    cp = verify_checkpoint(answer.body, origin=ORIGIN, log_key=LOG_V,
                           witnesses=[server.verifier], quorum=1).checkpoint
    return cp.size, cp.root_hash


def witnessed_lines(stdout: str) -> str:
    (line,) = [x.strip() for x in stdout.splitlines() if "witnessed by" in x]
    return line


def fork_of(w: World, path: Path) -> World:
    """Another ledger with the same origin, log key and authorities: a backup of
    ``w`` that will grow other entries."""
    w.ledger.backup(path)
    return World(pl.Ledger.open(path, clock=w.clock), path, w.clock, w.root, w.jeweler,
                 w.workshop, w.gemologist, w.insurer, w.owner)


def assert_no_inconsistent_cosignatures(net: Net, ledgers: Sequence[pl.Ledger]) -> None:
    """No witness cosigned two trees that are not consistent: for each witness,
    every tree it has a stored cosignature on (in any of ``ledgers``) and the
    tree it records now, taken pairwise, are proven consistent by the ledger
    holding the larger one."""
    holder: dict[tuple[int, bytes], pl.Ledger] = {}
    trees: dict[str, set[tuple[int, bytes]]] = {n: set() for n in NAMES}
    names = {s.verifier: n for n, s in net.servers.items()}
    for ledger in ledgers:
        for cp in ledger.checkpoints():
            holder[(cp.size, cp.root)] = ledger
            for c in cp.cosignatures:
                trees[names[c.witness]].add((cp.size, cp.root))
    for name, server in net.servers.items():
        if server.proc.poll() is None:
            trees[name].add(recorded(server))
    for name, cosigned in trees.items():
        for (s1, r1), (s2, r2) in itertools.combinations(sorted(cosigned), 2):
            assert s1 < s2, f"{name} cosigned two roots for size {s1}"
            proof = holder[(s2, r2)].consistency_proof(s1, s2)
            # Raises ProofError when the two trees are inconsistent.
            verify_consistency(old_size=s1, new_size=s2, old_root=r1, new_root=r2, proof=proof)


# -- 1. all up -------------------------------------------------------------------------------


def test_all_up_three_cosign_and_the_bundle_verifies(net: Net) -> None:
    w = net.world
    item = w.issue("R-1")
    grow(w, 2)
    result = net.checkpoint()
    assert result.exit_code == 0, result.stderr
    for name in NAMES:
        assert f"witness {name} ({net.servers[name].url}): cosigned" in result.stderr
    assert ("witness quorum met, cosigned by w1, w2, w3 (the policy needs group trio: 2 of "
            "[w1, w2, w3])") in result.stderr
    cp = net.ledger().latest_checkpoint()
    assert result.stdout == cp.cosigned_note
    assert cosigners(net, cp) == list(NAMES)
    for server in net.servers.values():
        assert recorded(server) == (cp.size, cp.root)
    data = net.ledger().export(item)
    report = pl.verify_bundle(data, policy=net.policy(), now=net.now(), item=item)
    assert report.checkpoint is not None
    assert [x.name for x in report.checkpoint.witnesses] == list(NAMES)
    assert [x.vkey for x in report.checkpoint.witnesses] == [net.servers[n].vkey for n in NAMES]
    checked = net.verify(data, "--item", item)
    assert checked.exit_code == 0, checked.output
    assert re.fullmatch(r"witnessed by w1 \(cosigned [^)]+\), w2 \(cosigned [^)]+\), "
                        r"w3 \(cosigned [^)]+\)", witnessed_lines(checked.stdout))


# -- 2. one down -----------------------------------------------------------------------------


def test_one_down_two_of_three_still_meet_the_quorum(net: Net) -> None:
    w = net.world
    item = w.issue("R-1")
    first = net.checkpoint()
    assert first.exit_code == 0, first.stderr
    w3 = net.servers["w3"]
    w3.kill()
    grow(w, 2)
    result = net.checkpoint()
    assert result.exit_code == 0, result.stderr
    assert f"witness w3 ({w3.url}): unreachable: " in result.stderr
    assert "witness quorum met, cosigned by w1, w2 " in result.stderr
    cp = net.ledger().latest_checkpoint()
    assert cp.size == len(net.ledger())
    assert cosigners(net, cp) == ["w1", "w2"]
    report = pl.verify_bundle(net.ledger().export(item), policy=net.policy(), now=net.now())
    assert [x.name for x in report.checkpoint.witnesses] == ["w1", "w2"]  # type: ignore[union-attr]
    # Back where it was, w3 is asked from the size it last cosigned and signs again.
    net.restart("w3")
    grow(w, 1)
    again = net.checkpoint("--json")
    assert again.exit_code == 0, again.stderr
    assert [o["status"] for o in json.loads(again.stdout)["witnesses"]] == [OK] * 3
    assert cosigners(net, net.ledger().latest_checkpoint()) == list(NAMES)


# -- 3. one killed and restarted mid-run ---------------------------------------------------------


def test_a_witness_killed_mid_run_cosigns_again_from_its_recorded_size(net: Net) -> None:
    w = net.world
    w.issue("R-1")
    everyone = net.endpoints()
    w2 = net.servers["w2"]
    sizes: list[int] = []  # w2's recorded size after each round it was up

    def round_(expected: list[str]) -> pl.SignedCheckpoint:
        grow(w, 1)
        cp = sign(w)
        outcomes = net.ledger().request_cosignatures(everyone, timeout=TIMEOUT)
        assert statuses(outcomes) == expected, outcomes
        cosigned = stored(net.ledger(), cp.seq)
        assert net.policy().quorum_met(c.witness for c in cosigned.cosignatures)
        if net.servers["w2"].proc.poll() is None:
            sizes.append(recorded(net.servers["w2"])[0])
        return cosigned

    for _ in range(3):
        round_([OK, OK, OK])
    # w2 cosigns the next checkpoint and records it, then dies (SIGKILL) before
    # its answer reaches the log: the log's idea of w2's size is now stale.
    grow(w, 1)
    lost = sign(w)
    (answered,) = collect_cosignatures(
        lost.note, [w2.witness("w2")], start=witnessed_sizes(net.ledger().checkpoints()),
        proof_for=lambda old: net.ledger().consistency_proof(old, lost.size), timeout=TIMEOUT)
    assert answered.ok, answered
    w2.kill()
    # The log goes on appending and checkpointing: w1 and w3 are the quorum.
    outcomes = net.ledger().request_cosignatures(everyone, timeout=TIMEOUT)
    assert statuses(outcomes) == [OK, UNREACHABLE, OK]
    for _ in range(3):
        round_([OK, UNREACHABLE, OK])
    stale = witnessed_sizes(net.ledger().checkpoints())[w2.verifier.vkey()]
    assert stale < lost.size
    restarted = net.restart("w2")
    # What w2 committed before SIGKILL is on disk: its size did not go back.
    assert recorded(restarted) == (lost.size, lost.root)
    assert sizes == sorted(sizes)
    assert sizes[-1] < lost.size
    # The log asks from its stale size; a witness cosigns only a request whose old
    # size is its recorded one, so this OK means the log took the 409 answer and
    # asked again from lost.size (tlog-witness: "409 Conflict").
    latest = round_([OK, OK, OK])
    assert recorded(restarted) == (latest.size, latest.root)
    assert sizes == sorted(sizes)
    assert_no_inconsistent_cosignatures(net, [net.ledger()])


# -- 4. one has seen a fork ------------------------------------------------------------------


def test_a_witness_that_saw_a_fork_refuses_the_honest_log_which_still_meets_the_quorum(
        net: Net) -> None:
    w = net.world
    w.issue("R-1")
    fork = fork_of(w, net.tmp / "fork.db")
    try:
        # Before the honest log talks to w1, the fork (same origin and log key,
        # other entries) gets w1's cosignature: w1 had never heard of the log.
        grow(fork, 2, tag="FORK")
        forked = sign(fork)
        (first,) = fork.ledger.request_cosignatures(net.endpoints("w1"), timeout=TIMEOUT)
        assert first.ok, first
        grow(w, 4, tag="HONEST")
        honest = sign(w)
        assert honest.size > forked.size
        outcomes = w.ledger.request_cosignatures(net.endpoints(), timeout=TIMEOUT)
        assert statuses(outcomes) == [HTTP_ERROR, OK, OK], outcomes
        assert outcomes[0].detail.startswith("HTTP 422")
        assert cosigners(net, stored(w.ledger, honest.seq)) == ["w2", "w3"]
        # Again through the CLI: the quorum is met and the refusal reported.
        grow(w, 1, tag="HONEST")
        result = net.checkpoint()
        assert result.exit_code == 0, result.stderr
        assert f"witness w1 ({net.servers['w1'].url}): http-error: HTTP 422" in result.stderr
        assert "witness quorum met, cosigned by w2, w3 " in result.stderr
        # The fork now asks w2 and w3: they cosigned a larger honest tree, so the
        # fork is behind them and is not even sent (it would be a rollback).
        grow(fork, 1, tag="FORK")
        sign(fork)
        refused = fork.ledger.request_cosignatures(net.endpoints("w2", "w3"), timeout=TIMEOUT)
        assert not any(o.ok for o in refused), refused
        # w1 never cosigned an honest tree; it still records the fork, and keeps each
        # honest checkpoint it refused, against the fork's, as evidence.
        assert all("w1" not in cosigners(net, cp) for cp in w.ledger.checkpoints())
        assert recorded(net.servers["w1"]) == (forked.size, forked.root)
        state = WitnessState(net.dirs["w1"] / "state.db")
        try:
            evidence = state.evidence(ORIGIN)
        finally:
            state.close()
        honest_notes = {cp.note for cp in w.ledger.checkpoints()}
        assert len(evidence) == 2
        for kept in evidence:
            assert kept.note in honest_notes
            assert (kept.recorded_size, kept.recorded_root) == (forked.size, forked.root)
            assert kept.recorded_note == forked.note
        assert_no_inconsistent_cosignatures(net, [w.ledger, fork.ledger])
    finally:
        fork.ledger.close()


# -- 5. the quorum unreachable ------------------------------------------------------------------


def test_two_down_no_quorum_then_an_offline_cosignature_completes_it(net: Net) -> None:
    w = net.world
    item = w.issue("R-1")
    assert net.checkpoint().exit_code == 0
    first = net.ledger().latest_checkpoint()
    net.servers["w2"].kill()
    net.servers["w3"].kill()
    grow(w, 2)
    result = net.checkpoint()
    assert result.exit_code == 8, result.stderr
    for name in ("w2", "w3"):
        assert f"witness {name} ({net.servers[name].url}): unreachable: " in result.stderr
    assert "is signed and stored, but the witness quorum was not reached" in result.stderr
    cp = net.ledger().latest_checkpoint()
    assert (cp.seq, cp.size) == (first.seq + 1, len(net.ledger()))
    assert cosigners(net, cp) == ["w1"]
    data = net.ledger().export(item)
    with pytest.raises(QuorumError, match="lacks the policy's witness quorum"):
        pl.verify_bundle(data, policy=net.policy(), now=net.now())
    refused = net.verify(data, "--json")
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"]["class"] == "QuorumError"
    # w2's operator cosigns offline, on its state directory (its server is down):
    # the checkpoint, and the request head with a proof from w2's recorded size.
    assert recorded_offline(net.dirs["w2"]) == first.size
    # The log's operator first guesses a stale size: the witness says which it holds.
    stale = net.run("checkpoint", "cosignatures", "request", "--old", "0",
                    "--checkpoint-out", net.tmp / "cp.txt")
    assert stale.exit_code == 0, stale.stderr
    assert stale.stdout == "old 0\n"
    assert (net.tmp / "cp.txt").read_text() == cp.cosigned_note
    (net.tmp / "head.txt").write_text(stale.stdout)
    conflict = run_cli("witness", "cosign", str(net.dirs["w2"]), str(net.tmp / "cp.txt"),
                       "--proof", str(net.tmp / "head.txt"), env=ENV, check=False)
    assert (conflict.returncode, conflict.stdout) == (9, f"{first.size}\n")
    head = net.run("checkpoint", "cosignatures", "request", "--old", str(first.size))
    assert head.exit_code == 0, head.stderr
    proof = net.ledger().consistency_proof(first.size, cp.size)
    assert head.stdout == "".join([f"old {first.size}\n",
                                   *(base64.b64encode(h).decode() + "\n" for h in proof)])
    (net.tmp / "head.txt").write_text(head.stdout)
    offline = run_cli("witness", "cosign", str(net.dirs["w2"]), str(net.tmp / "cp.txt"),
                      "--proof", str(net.tmp / "head.txt"), env=ENV)
    (net.tmp / "w2.cosig").write_text(offline.stdout)
    added = net.run("checkpoint", "cosignatures", "add", net.tmp / "w2.cosig",
                    "--policy", net.policy_file)
    assert added.exit_code == 0, added.stderr
    assert added.stdout.splitlines() == [f"checkpoint {cp.seq} (size {cp.size}): added w2",
                                         "cosigned by w1, w2; quorum met"]
    again = net.ledger().export(item)
    report = pl.verify_bundle(again, policy=net.policy(), now=net.now())
    assert [x.name for x in report.checkpoint.witnesses] == ["w1", "w2"]  # type: ignore[union-attr]
    checked = net.verify(again)
    assert checked.exit_code == 0, checked.output
    assert_no_inconsistent_cosignatures(net, [net.ledger()])


def recorded_offline(directory: Path) -> int:
    """A stopped witness's recorded size, read from its state file."""
    state = WitnessState(directory / "state.db")
    try:
        latest = state.latest(ORIGIN)
    finally:
        state.close()
    assert latest is not None
    return latest.size


# -- 6. a marketplace with --seen ------------------------------------------------------------------


def test_seen_accepts_a_newer_witnessed_bundle_and_refuses_older_unwitnessed_and_forked(
        net: Net) -> None:
    w = net.world
    item = w.issue("R-1")
    grow(w, 1)
    fork = fork_of(w, net.tmp / "fork.db")  # shares the item's certificate
    try:
        seen = net.tmp / "seen"
        kept = seen / f"{origin_hash(ORIGIN)}.checkpoint"

        def accepted(data: bytes) -> None:
            result = net.verify(data, "--seen", seen, "--item", item)
            assert result.exit_code == 0, result.output
            assert kept.read_text() == decode_bundle(data).checkpoint

        def refused(data: bytes, error: str, policy: Path | None = None) -> None:
            before = kept.read_text()
            result = net.verify(data, "--seen", seen, "--item", item, "--json", policy=policy)
            assert result.exit_code == 1, result.output
            assert json.loads(result.stdout)["error"]["class"] == error
            assert kept.read_text() == before  # a refused bundle changes nothing

        a_cp = sign(w)
        assert statuses(w.ledger.request_cosignatures(net.endpoints(),
                                                      timeout=TIMEOUT)) == [OK] * 3
        bundle_a = w.ledger.export(item)
        accepted(bundle_a)
        # The log grows; its next checkpoint is witnessed; bundle B carries no
        # consistency proof from A's size, and the quorum vouches instead.
        grow(w, 3)
        b_cp = sign(w)
        assert statuses(w.ledger.request_cosignatures(net.endpoints(),
                                                      timeout=TIMEOUT)) == [OK] * 3
        bundle_b = w.ledger.export(item)
        assert not decode_bundle(bundle_b).consistency
        assert b_cp.size > a_cp.size
        accepted(bundle_b)
        # Older: a rollback.
        refused(bundle_a, "StaleCheckpointError")
        # A fork with the log's key: first at the seen size, then larger, with a
        # checkpoint at the seen size its consistency proof starts from.
        grow(fork, b_cp.size - len(fork.ledger), tag="FORK")
        same = sign(fork)
        assert same.size == b_cp.size
        assert same.root != b_cp.root
        # The honest witnesses refuse it (they cosigned B): no cosignature at all.
        outcomes = fork.ledger.request_cosignatures(net.endpoints(), timeout=TIMEOUT)
        assert statuses(outcomes) == [HTTP_ERROR] * 3, outcomes
        assert all(o.detail.startswith("HTTP 422") for o in outcomes)
        same_bundle = fork.ledger.export(item)
        grow(fork, 2, tag="FORK")
        sign(fork)
        larger = fork.ledger.export(item, since=(b_cp.size,))
        assert decode_bundle(larger).consistency
        # Under the trio policy both are QuorumError: the quorum is checked with the
        # checkpoint, before the seen one is compared, and a fork can carry a majority
        # quorum only if a majority of the witnesses lies. Under a policy requiring
        # no witnesses the comparison with the seen checkpoint catches both as a fork.
        unwitnessed = net.write_policy("none")
        for data in (same_bundle, larger):
            refused(data, "QuorumError")
            refused(data, "ForkError", policy=unwitnessed)
        # No quorum under a majority rule: w2 and w3 are down, only w1 cosigns.
        net.servers["w2"].kill()
        net.servers["w3"].kill()
        grow(w, 1)
        sign(w)
        outcomes = w.ledger.request_cosignatures(net.endpoints(), timeout=TIMEOUT)
        assert statuses(outcomes) == [OK, UNREACHABLE, UNREACHABLE]
        assert net.policy().quorum_overlap() > 0  # any two quorums share a witness
        refused(w.ledger.export(item), "QuorumError")
        assert_no_inconsistent_cosignatures(net, [w.ledger, fork.ledger])
    finally:
        fork.ledger.close()
