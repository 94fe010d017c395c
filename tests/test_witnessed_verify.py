"""Verifying bundles whose checkpoints carry witness cosignatures (issue 13):
the policy's quorum, cosignature times, forged cosignatures, `--seen` with
witnessed newer bundles, and what `verify` reports about who vouched."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import msgspec
import pytest
from click.testing import CliRunner, Result

import provledger as pl
from provledger import _note
from provledger._bundle import decode_bundle, encode_bundle
from provledger._note import SIG_COSIGNATURE_V1, NoteVerifier
from provledger._policy import Policy, PolicyWitness, WitnessGroup, parse_policy
from provledger._rules import MAX_CLOCK_SKEW
from provledger._time import rfc3339
from provledger.errors import QuorumError
from provledger_cli.main import cli

from .conftest import ORIGIN, key, make_world
from .test_bundle import repair

ROOT_DIR = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT_DIR / "spec" / "history.schema.json").read_text())
LOG = key("log")
LOG_KEY = NoteVerifier(ORIGIN, LOG.public_key)

#: Three witnesses: (policy name, signing key, key name in their vkeys).
WITNESSES = [(n, key(f"witness {n}"), f"{n}.witness.example/w") for n in ("alpha", "beta", "gamma")]
VERIFIERS = {n: NoteVerifier(kn, k.public_key, SIG_COSIGNATURE_V1) for n, k, kn in WITNESSES}
SIGNERS = {n: (k, kn) for n, k, kn in WITNESSES}


def cosign(note: str, cosigners: Sequence[tuple[str, int]]) -> str:
    """``note`` with a cosignature by each (witness, timestamp) in ``cosigners``."""
    parsed = _note.parse_note(note)
    sigs = [_note.cosign_checkpoint(parsed.text, name=SIGNERS[n][1], key=SIGNERS[n][0],
                                    timestamp=t) for n, t in cosigners]
    return _note.format_note(parsed.text, [*parsed.signatures, *sigs])


def cosigned(data: bytes, cosigners: Sequence[tuple[str, int]]) -> bytes:
    """The bundle ``data`` with its checkpoint cosigned, re-encoded."""
    bundle = decode_bundle(data)
    return encode_bundle(msgspec.structs.replace(
        bundle, checkpoint=cosign(bundle.checkpoint, cosigners)))


def majority(*, quorum: str = "two", witnesses: Sequence[str] = ("alpha", "beta", "gamma"),
             max_age: int = 86_400) -> Policy:
    """The log, its root, the named witnesses and a 2-of-3 group "two"."""
    return Policy(logs=(LOG_KEY,), roots=(key("root").public_key,), quorum=quorum,
                  named_witnesses=tuple(PolicyWitness(n, VERIFIERS[n],
                                                      f"https://{n}.example/w")
                                        for n in witnesses),
                  groups=(WitnessGroup("two", 2, tuple(witnesses)),) if quorum == "two" else (),
                  max_age=max_age)


@dataclass(frozen=True)
class Story:
    """An item's ledger at two checkpoints, with its bundles (no cosignatures)."""

    db: Path
    item: str
    old: bytes
    old_note: str
    old_size: int
    new: bytes
    new_since: bytes
    new_note: str
    t_old: int
    t_new: int

    @property
    def now(self) -> int:
        return self.t_new + 60


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    db = tmp_path_factory.mktemp("witnessed") / "ledger.db"
    w = make_world(db)
    item = w.issue("R-77")
    w.clock.t += 5
    old = w.ledger.sign_checkpoint(LOG)
    old_bundle = w.ledger.export(item)
    w.add(w.workshop, item, repair("re-polished"))
    w.clock.t += 5
    new = w.ledger.sign_checkpoint(LOG)
    result = Story(db, item, old_bundle, old.note, old.size, w.ledger.export(item),
                   w.ledger.export(item, since=(old.size,)), new.note, old.time, new.time)
    w.ledger.close()
    return result


def verify(data: bytes, policy: Policy, now: int, seen: Sequence[str] = ()) -> pl.Report:
    return pl.verify_bundle(data, policy=policy, now=now, seen=seen)


def raises(error: type[pl.ProvLedgerError], call: object, *contains: str) -> str:
    """``call()`` raises exactly ``error`` (not a subclass); its message holds ``contains``."""
    with pytest.raises(pl.ProvLedgerError) as info:
        call()  # type: ignore[operator]
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    for part in contains:
        assert part in str(info.value), str(info.value)
    return str(info.value)


# -- the quorum ------------------------------------------------------------------------------


def test_a_quorum_of_cosignatures_verifies_and_is_reported(story: Story) -> None:
    t = story.t_new + 1
    data = cosigned(story.new, [("gamma", t + 2), ("alpha", t)])
    report = verify(data, majority(), story.now)
    assert report.checkpoint is not None
    # In the policy's order, with the time each cosignature states.
    assert [(w.name, w.time) for w in report.checkpoint.witnesses] == [("alpha", t),
                                                                        ("gamma", t + 2)]
    assert report.checkpoint.witnesses[0].vkey == VERIFIERS["alpha"].vkey()
    doc = report.to_json()
    assert doc["checkpoint"]["witnesses"] == [
        {"name": "alpha", "vkey": VERIFIERS["alpha"].vkey(), "time": rfc3339(t)},
        {"name": "gamma", "vkey": VERIFIERS["gamma"].vkey(), "time": rfc3339(t + 2)}]
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    # The note is kept whole, cosignatures included (the seen store keeps it so).
    assert report.checkpoint.note == decode_bundle(data).checkpoint
    # All three is more than enough; a policy requiring none still reports who vouched.
    everyone = cosigned(story.new, [(n, t) for n in ("alpha", "beta", "gamma")])
    assert len(verify(everyone, majority(), story.now).checkpoint.witnesses) == 3  # type: ignore[union-attr]
    relaxed = verify(data, majority(quorum="none"), story.now)
    assert [w.name for w in relaxed.checkpoint.witnesses] == ["alpha", "gamma"]  # type: ignore[union-attr]


def test_too_few_cosignatures_is_a_quorum_error_that_says_why(story: Story) -> None:
    t = story.t_new + 1
    one = cosigned(story.new, [("beta", t)])
    message = raises(QuorumError, lambda: verify(one, majority(), story.now),
                     f"checkpoint of {ORIGIN} at size", "lacks the policy's witness quorum",
                     "group two: 2 of [alpha, beta, gamma]", f"beta (at {rfc3339(t)})",
                     "provledger checkpoint --policy")
    assert "alpha" not in message.split("cosigned by")[1]
    raises(QuorumError, lambda: verify(story.new, majority(), story.now),
           "cosigned by no witness the policy names")
    # A cosignature by a key the policy does not list is ignored, not an error.
    stranger = _note.cosign_checkpoint(
        _note.parse_note(decode_bundle(one).checkpoint).text, name="stranger.example/w",
        key=key("stranger"), timestamp=t)
    bundle = decode_bundle(one)
    parsed = _note.parse_note(bundle.checkpoint)
    with_stranger = encode_bundle(msgspec.structs.replace(bundle, checkpoint=_note.format_note(
        parsed.text, [*parsed.signatures, stranger])))
    raises(QuorumError, lambda: verify(with_stranger, majority(), story.now))
    # The check that failed is the checkpoint's, before anything else is read.
    with pytest.raises(QuorumError) as info:
        verify(one, majority(), story.now)
    assert info.value.check == "checkpoint"
    assert info.value.code == "quorum"
    assert isinstance(info.value, pl.CheckpointError)


def test_a_single_witness_quorum_and_nested_groups(story: Story) -> None:
    t = story.t_new + 1
    only_beta = majority(quorum="beta")
    assert verify(cosigned(story.new, [("beta", t)]), only_beta, story.now)
    raises(QuorumError, lambda: verify(cosigned(story.new, [("alpha", t), ("gamma", t)]),
                                          only_beta, story.now),
           "a cosignature from witness beta")
    nested = parse_policy(
        f"log {LOG_KEY.vkey()}\nroot {pl.format_public_key(key('root').public_key)}\n"
        + "".join(f"witness {n} {VERIFIERS[n].vkey()}\n" for n in VERIFIERS)
        + "group ab any alpha beta\ngroup both all ab gamma\nquorum both\n")
    assert verify(cosigned(story.new, [("beta", t), ("gamma", t)]), nested, story.now)
    raises(QuorumError, lambda: verify(cosigned(story.new, [("alpha", t), ("beta", t)]),
                                          nested, story.now),
           "group both: all of [ab: any of [alpha, beta], gamma]")


def test_a_cosignature_from_the_future_does_not_count(story: Story) -> None:
    now = story.now
    edge = cosigned(story.new, [("alpha", now + MAX_CLOCK_SKEW), ("beta", now)])
    assert verify(edge, majority(), now)
    late = cosigned(story.new, [("alpha", now + MAX_CLOCK_SKEW + 1), ("beta", now)])
    raises(QuorumError, lambda: verify(late, majority(), now),
           "cosigned by beta", f"not counted: alpha, dated {rfc3339(now + MAX_CLOCK_SKEW + 1)}",
           f"more than {MAX_CLOCK_SKEW} s after now ({rfc3339(now)})")
    # Later, the same cosignature counts.
    assert verify(late, majority(), now + 1)


def test_a_forged_cosignature_by_a_listed_witness_fails_the_checkpoint(story: Story) -> None:
    t = story.t_new + 1
    bundle = decode_bundle(cosigned(story.new, [("alpha", t), ("beta", t), ("gamma", t)]))
    parsed = _note.parse_note(bundle.checkpoint)
    sig = parsed.signatures[2]  # beta's: its timestamp changed, its signature kept
    forged = _note.NoteSignature(sig.name, sig.key_id,
                                 (t + 1).to_bytes(8, "big") + sig.signature[8:])
    note = _note.format_note(parsed.text, [*parsed.signatures[:2], forged,
                                           *parsed.signatures[3:]])
    data = encode_bundle(msgspec.structs.replace(bundle, checkpoint=note))
    # Two valid cosignatures remain, but a known key's bad signature is never ignored.
    raises(pl.CheckpointError, lambda: verify(data, majority(), story.now),
           f"note signature by {VERIFIERS['beta'].name}")
    # Under a policy that does not list beta, its line is an unknown key's: ignored.
    without_beta = majority(witnesses=("alpha", "gamma"))
    assert verify(data, without_beta, story.now)


def test_a_log_with_two_keys_for_one_origin(story: Story) -> None:
    """tlog-policy lets a policy list a log twice (a key rotation)."""
    other = NoteVerifier(ORIGIN, key("old log key").public_key)
    p = Policy(logs=(other, LOG_KEY), roots=(key("root").public_key,))
    assert verify(story.new, p, story.now)
    wrong = Policy(logs=(other,), roots=(key("root").public_key,))
    raises(pl.CheckpointError, lambda: verify(story.new, wrong, story.now), "not signed")


# -- --seen ------------------------------------------------------------------------------------


def test_seen_a_newer_witnessed_bundle_is_accepted(story: Story) -> None:
    seen = cosign(story.old_note, [("alpha", story.t_old + 1), ("beta", story.t_old + 1)])
    data = cosigned(story.new, [("beta", story.t_new + 1), ("gamma", story.t_new + 1)])
    assert not decode_bundle(data).consistency
    report = verify(data, majority(), story.now, seen=[seen])
    assert report.checkpoint is not None
    assert report.checkpoint.size > story.old_size


def test_seen_a_newer_unwitnessed_bundle_is_refused_with_both_fixes(story: Story) -> None:
    seen = cosign(story.old_note, [("alpha", story.t_old + 1), ("beta", story.t_old + 1)])
    data = cosigned(story.new, [("beta", story.t_new + 1), ("gamma", story.t_new + 1)])
    # The policy requires no witnesses: cosignatures, even present, vouch for nothing.
    message = raises(pl.MissingConsistencyProofError,
                     lambda: verify(data, majority(quorum="none"), story.now, seen=[seen]),
                     "is newer than the one already seen", "carries no consistency proof",
                     "the policy requires no witness quorum",
                     f"--since {story.old_size}", "witness quorum")
    assert "cosigned" in message
    # The seen checkpoint was kept without the quorum (under an older policy, say).
    raises(pl.MissingConsistencyProofError,
           lambda: verify(data, majority(), story.now, seen=[story.old_note]),
           "the checkpoint seen before lacks the policy's witness quorum",
           f"--since {story.old_size}")
    # A rule two disjoint sets of witnesses can meet ("any of three") vouches for nothing:
    # alpha could cosign one fork and gamma another, each honestly.
    any_of = dataclasses.replace(majority(), groups=(WitnessGroup("two", 1, ("alpha", "beta",
                                                                            "gamma")),))
    assert any_of.quorum_overlap() == 0
    assert verify(data, any_of, story.now)
    raises(pl.MissingConsistencyProofError,
           lambda: verify(data, any_of, story.now, seen=[seen]),
           "group two: any of [alpha, beta, gamma]) can be met by two sets of witnesses "
           "that share none", "require a majority")
    # Either fix works: a consistency proof from the seen size ...
    assert verify(story.new_since, majority(quorum="none"), story.now, seen=[story.old_note])
    proved = cosigned(story.new_since, [("alpha", story.t_new + 1), ("beta", story.t_new + 1)])
    assert verify(proved, majority(), story.now, seen=[story.old_note])


def test_seen_older_and_forked_are_still_refused_with_a_quorum(story: Story) -> None:
    quorum = [("alpha", story.t_new + 1), ("beta", story.t_new + 1)]
    seen_new = cosign(story.new_note, quorum)
    old = cosigned(story.old, [("alpha", story.t_old + 1), ("beta", story.t_old + 1)])
    raises(pl.StaleCheckpointError, lambda: verify(old, majority(), story.now, seen=[seen_new]),
           "older than one already seen")
    # Another root signed for the same size: a fork, whatever witnesses say.
    body = _note.parse_checkpoint(_note.parse_note(story.new_note).text)
    forked_text = _note.format_checkpoint(_note.Checkpoint(body.origin, body.size, bytes(32),
                                                           body.extensions))
    forked = _note.format_note(forked_text, [_note.sign_note(forked_text, name=ORIGIN,
                                                             key=LOG)])
    data = cosigned(story.new, quorum)
    raises(pl.ForkError, lambda: verify(data, majority(), story.now, seen=[forked]), "forked")
    # A carried proof that fails is a fork even when the quorum cosigned.
    bundle = decode_bundle(cosigned(story.new_since, quorum))
    proof = bundle.consistency[0]
    broken = msgspec.structs.replace(proof, proof=[bytes(32)] * len(proof.proof))
    bad = encode_bundle(msgspec.structs.replace(bundle, consistency=[broken]))
    seen_old = cosign(story.old_note, quorum)
    raises(pl.ForkError, lambda: verify(bad, majority(), story.now, seen=[seen_old]),
           "not consistent")


# -- the CLI -----------------------------------------------------------------------------------


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="provledger",
                              env={"PROVLEDGER_DB": None, "PROVLEDGER_PASSPHRASE": None})


def test_cli_policy_writes_witnesses_groups_and_the_quorum(story: Story, tmp_path: Path) -> None:
    out = tmp_path / "p.policy"
    args: list[str | Path] = ["--db", story.db, "policy", "-o", out, "--log-url", "https://log.example/",
            *[a for n in VERIFIERS for a in
              ("--witness", f"{n} {VERIFIERS[n].vkey()} https://{n}.example/w")],
            "--group", "two 2 alpha beta gamma", "--quorum", "two", "--max-age", "3600"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    written = parse_policy(out.read_text())
    assert written == dataclasses.replace(majority(max_age=3600),
                                          log_urls=("https://log.example/",))
    assert "\ngroup two 2 alpha beta gamma\nquorum two\n" in out.read_text()
    # Without --quorum, listed witnesses are not required, and the command says so.
    relaxed = run("--db", story.db, "policy", "--witness", VERIFIERS["alpha"].vkey())
    assert relaxed.exit_code == 0
    assert "quorum none\n" in relaxed.stdout
    assert "none is required" in relaxed.stderr
    weak = run("--db", story.db, "policy", "--witness", f"a {VERIFIERS['alpha'].vkey()}",
               "--witness", f"b {VERIFIERS['beta'].vkey()}", "--group", "g any a b",
               "--quorum", "g")
    assert weak.exit_code == 0
    assert "gives no split-view protection" in weak.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--witness", "a b"], "--witness 'a b': verifier key"),
    (["--witness", f"a {VERIFIERS['alpha'].vkey()}", "--group", "g 3 a"],
     "--group 'g 3 a': group 'g': threshold 3"),
    (["--witness", f"a {VERIFIERS['alpha'].vkey()}", "--quorum", "b"],
     "--quorum 'b': quorum 'b' is not a witness or group"),
    (["--witness", f"a {VERIFIERS['alpha'].vkey()}\nquorum none"], "must be one line"),
])
def test_cli_policy_errors_name_the_option(story: Story, args: list[str], message: str) -> None:
    result = run("--db", story.db, "policy", *args)
    assert result.exit_code in (2, 4), result.output
    assert message in result.stderr, result.stderr


def test_cli_verify_reports_who_vouched_and_accepts_a_witnessed_newer_bundle(
        story: Story, tmp_path: Path) -> None:
    policy = tmp_path / "p.policy"
    policy.write_text(majority().to_text())
    old = tmp_path / "old.bundle"
    old.write_bytes(cosigned(story.old, [("alpha", story.t_old), ("gamma", story.t_old)]))
    new = tmp_path / "new.bundle"
    new.write_bytes(cosigned(story.new, [("beta", story.t_new), ("gamma", story.t_new + 3)]))
    seen = tmp_path / "seen"
    at = ("--at", str(story.now))
    first = run("verify", old, "--policy", policy, *at, "--seen", seen, "--item", story.item)
    assert first.exit_code == 0, first.output
    assert (f"             witnessed by alpha (cosigned {rfc3339(story.t_old)}), gamma "
            f"(cosigned {rfc3339(story.t_old)})") in first.stdout.splitlines()
    stored = seen / (hashlib.sha256(ORIGIN.encode()).hexdigest() + ".checkpoint")
    assert stored.read_text() == decode_bundle(old.read_bytes()).checkpoint  # with cosignatures
    # The newer bundle carries no proof from the seen size; the quorum vouches instead.
    second = run("verify", new, "--policy", policy, *at, "--seen", seen, "--json")
    assert second.exit_code == 0, second.output
    doc = json.loads(second.stdout)
    assert [(w["name"], w["time"]) for w in doc["checkpoint"]["witnesses"]] == [
        ("beta", rfc3339(story.t_new)), ("gamma", rfc3339(story.t_new + 3))]
    assert stored.read_text() == decode_bundle(new.read_bytes()).checkpoint
    # The older one is now a rollback.
    third = run("verify", old, "--policy", policy, *at, "--seen", seen)
    assert third.exit_code == 1
    assert "StaleCheckpointError" in third.stderr
    # Without the quorum: a QuorumError, in the JSON too.
    bare = tmp_path / "bare.bundle"
    bare.write_bytes(story.new)
    failed = run("verify", bare, "--policy", policy, *at, "--json")
    assert failed.exit_code == 1
    error = json.loads(failed.stdout)["error"]
    assert (error["code"], error["class"]) == ("quorum", "QuorumError")
    assert json.loads(failed.stdout)["checks"][-1] == {"check": "checkpoint", "passed": False}
    # A policy requiring nothing: the report says nobody vouched.
    none = tmp_path / "none.policy"
    none.write_text(majority(quorum="none").to_text())
    plain = run("verify", bare, "--policy", none, *at)
    assert plain.exit_code == 0, plain.output
    assert ("             not witnessed (no cosignature from a witness the policy names)"
            in plain.stdout.splitlines())
