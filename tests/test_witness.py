"""The witness library (c2sp.org/tlog-witness add-checkpoint): every status, the
order of checks, atomic state, evidence, the directory, and the vectors."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings, strategies as st

from provledger._errors import (
    DecodeError,
    KeyFileError,
    StorageError,
    TimeRangeError,
)
from provledger._keys import SigningKey
from provledger._merkle import EMPTY_ROOT, MemoryTree, consistency_proof
from provledger._note import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    NoteVerifier,
    format_checkpoint,
    format_note,
    parse_note,
    sign_note,
    verify_checkpoint,
)
from provledger._witness import (
    MAX_EVIDENCE_PER_LOG,
    TEXT_CONTENT_TYPE,
    Witness,
    WitnessAnswer,
    WitnessState,
    origin_hash,
)
from provledger._witness_dir import (
    LOGS_FILE,
    STATE_FILE,
    PolicyLog,
    add_log,
    init_witness_dir,
    logs_by_origin,
    open_witness,
    parse_logs_policy,
    read_witness_dir,
)
from provledger._witness_wire import (
    MAX_REQUEST_BYTES,
    SIZE_CONTENT_TYPE,
    format_add_checkpoint,
    parse_add_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors" / "witness"
EM = "\u2014"
ORIGIN = "log.example/witnessed"
OTHER = "other.example/log"
NAME = "witness.example/w1"
T = 1_800_000_000

LOG_KEY = SigningKey(hashlib.sha256(b"test_witness log").digest())
LOG_KEY_2 = SigningKey(hashlib.sha256(b"test_witness log 2").digest())
OTHER_KEY = SigningKey(hashlib.sha256(b"test_witness other").digest())
W_KEY = SigningKey(hashlib.sha256(b"test_witness witness").digest())
LOG_V = NoteVerifier(ORIGIN, LOG_KEY.public_key)
LOG_V2 = NoteVerifier(ORIGIN, LOG_KEY_2.public_key)
W_V = NoteVerifier(NAME, W_KEY.public_key, SIG_COSIGNATURE_V1)

# c2sp.org/tlog-witness, "Example request body", byte for byte.
SPEC_REQUEST = """\
old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
"""  # noqa: E501
# c2sp.org/tlog-witness, "Example response body": one signature line per cosignature.
SPEC_RESPONSE = """\
— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==
— witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==
— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==
"""  # noqa: E501


def _tree(n: int, tag: bytes = b"main", fork_at: int = 10**9) -> MemoryTree:
    tree = MemoryTree()
    for i in range(n):
        tree.append((tag if i >= fork_at else b"main") + b" %d" % i)
    return tree


MAIN = _tree(16)
FORK = _tree(16, b"fork", fork_at=5)


def note(tree: MemoryTree, size: int, *, root: bytes | None = None,
         keys: tuple[tuple[str, SigningKey], ...] = ((ORIGIN, LOG_KEY),),
         origin: str = ORIGIN) -> str:
    body = format_checkpoint(Checkpoint(origin, size, tree.root(size) if root is None else root))
    return format_note(body, [sign_note(body, name=n, key=k) for n, k in keys])


def request(old: int, size: int, tree: MemoryTree = MAIN, **kw: object) -> bytes:
    proof = consistency_proof(old, size, tree) if old > 0 else []
    return format_add_checkpoint(old, proof, note(tree, size, **kw))  # type: ignore[arg-type]


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[Witness]:
    w = Witness(name=NAME, key=W_KEY, logs={ORIGIN: [LOG_V]},
                state=WitnessState(tmp_path / "state.db", create=True))
    yield w
    w.close()


def cosigned(answer: WitnessAnswer, body: bytes) -> int:
    """Check a 200 answer is one cosignature line that verifies; return its timestamp."""
    assert answer.status == 200, answer
    assert answer.content_type == TEXT_CONTENT_TYPE
    text = answer.body.decode()
    assert text.startswith(f"{EM} {NAME} ")
    assert text.endswith("\n")
    assert text.count("\n") == 1
    signed = parse_add_checkpoint(body).note + text
    verified = verify_checkpoint(signed, origin=ORIGIN, log_key=LOG_V, witnesses=[W_V], quorum=1)
    (cosigner,) = verified.cosigners
    assert cosigner.timestamp is not None
    return cosigner.timestamp


def size_of(w: Witness) -> int | None:
    recorded = w.state.latest(ORIGIN)
    return None if recorded is None else recorded.size


# -- the spec's texts ------------------------------------------------------------------------


def test_the_spec_example_request_parses_byte_for_byte(witness: Witness) -> None:
    parsed = parse_add_checkpoint(SPEC_REQUEST.encode())
    assert parsed.old_size == 20852014
    assert len(parsed.proof) == 4
    assert all(len(h) == 32 for h in parsed.proof)
    assert parsed.proof[0] == base64.b64decode("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")
    assert parsed.note.startswith("example.com/behind-the-sofa\n20852163\n")
    assert len(parse_note(parsed.note).signatures) == 2
    # A witness that does not serve the log answers 404 ...
    assert witness.add_checkpoint(SPEC_REQUEST.encode(), now=T).status == 404
    # ... and one that serves it under another key answers 403: its key never signed.
    sofa = "example.com/behind-the-sofa"
    other = Witness(name=NAME, key=W_KEY, logs={sofa: [NoteVerifier(sofa, LOG_KEY.public_key)]},
                    state=witness.state)
    answer = other.add_checkpoint(SPEC_REQUEST.encode(), now=T)
    assert answer.status == 403
    assert b"not signed by any known key" in answer.body


def test_a_cosignature_answer_has_the_spec_example_response_shape(witness: Witness) -> None:
    shape = [line.rsplit(" ", 1)[0] + " " for line in SPEC_RESPONSE.splitlines()]
    assert shape[0] == f"{EM} witness.example/w1 "
    body = request(0, 5)
    answer = witness.add_checkpoint(body, now=T)
    line = answer.body.decode()
    assert line.startswith(f"{EM} {NAME} ")
    assert line.endswith("\n")
    # key id (4) || timestamp (8) || Ed25519 signature (64), as in the spec's Ed25519 example.
    raw = base64.b64decode(line.rstrip("\n").rsplit(" ", 1)[1])
    assert len(raw) == 76
    assert raw[:4] == W_V.key_id
    assert int.from_bytes(raw[4:12], "big") == T
    assert len(base64.b64decode(SPEC_RESPONSE.splitlines()[0].rsplit(" ", 1)[1])) == 76


# -- every status --------------------------------------------------------------------------


def test_200_first_then_growth_then_same_again(witness: Witness) -> None:
    first = request(0, 3)
    assert cosigned(witness.add_checkpoint(first, now=T), first) == T
    grow = request(3, 9)
    assert cosigned(witness.add_checkpoint(grow, now=T + 1), grow) == T + 1
    same = format_add_checkpoint(9, [], note(MAIN, 9))
    assert cosigned(witness.add_checkpoint(same, now=T + 2), same) == T + 2
    recorded = witness.state.latest(ORIGIN)
    assert recorded is not None
    assert (recorded.size, recorded.root_hash, recorded.cosigned_at) == (9, MAIN.root(9), T + 2)


def test_200_size_zero_with_the_empty_root(witness: Witness) -> None:
    empty = format_add_checkpoint(0, [], note(MAIN, 0))
    cosigned(witness.add_checkpoint(empty, now=T), empty)
    assert size_of(witness) == 0
    # The empty tree is consistent with every tree: old 0 needs no proof.
    body = request(0, 7)
    cosigned(witness.add_checkpoint(body, now=T), body)
    assert size_of(witness) == 7


@pytest.mark.parametrize(("body", "why"), [
    (b"", "no empty line"),
    (b"old 0\n", "no empty line"),
    (b"new 0\n\n" + note(MAIN, 1).encode(), "'old <size>'"),
    (b"old -1\n\n" + note(MAIN, 1).encode(), "leading zeros"),
    (b"old 01\n\n" + note(MAIN, 1).encode(), "leading zeros"),
    (b"old 0\nnot base64\n\n" + note(MAIN, 1).encode(), "base64"),
    (b"old 0\n" + b"AAAA\n" + b"\n" + note(MAIN, 1).encode(), "32-byte"),
    (b"old 0\n" + b"".join(base64.b64encode(bytes(32)) + b"\n" for _ in range(64)) + b"\n"
     + note(MAIN, 1).encode(), "at most 63"),
    (b"old 0\n\n" + note(MAIN, 1).encode()[:-1], "newline"),
    (b"old 0\n\n\xff" + note(MAIN, 1).encode(), "UTF-8"),
    (b"old 0\n\n" + b"x" * MAX_REQUEST_BYTES, "bytes; at most"),
    (format_add_checkpoint(0, [], format_note("not\na checkpoint\n", [
        sign_note("not\na checkpoint\n", name=ORIGIN, key=LOG_KEY)])), "3 needed"),
])
def test_400_malformed(witness: Witness, body: bytes, why: str) -> None:
    answer = witness.add_checkpoint(body, now=T)
    assert answer.status == 400
    assert answer.content_type == TEXT_CONTENT_TYPE
    assert why.encode() in answer.body, answer.body
    assert answer.body.endswith(b"\n")
    assert answer.body.count(b"\n") == 1
    assert size_of(witness) is None
    assert witness.state.evidence() == []


def test_400_old_size_above_checkpoint_size(witness: Witness) -> None:
    answer = witness.add_checkpoint(format_add_checkpoint(6, [], note(MAIN, 5)), now=T)
    assert answer == WitnessAnswer(400, b"old size 6 exceeds the checkpoint size 5\n",
                                   TEXT_CONTENT_TYPE)


def test_404_unknown_origin(witness: Witness) -> None:
    body = format_add_checkpoint(0, [], note(MAIN, 5, origin=OTHER, keys=((OTHER, OTHER_KEY),)))
    answer = witness.add_checkpoint(body, now=T)
    assert answer.status == 404
    assert f"'{OTHER}'".encode() in answer.body
    # The key does not matter: the log's own key under another origin is unknown too.
    body = format_add_checkpoint(0, [], note(MAIN, 5, origin=OTHER, keys=((OTHER, LOG_KEY),)))
    assert witness.add_checkpoint(body, now=T).status == 404


def test_403_no_trusted_signature_or_a_failing_one(witness: Witness) -> None:
    only_other = format_add_checkpoint(0, [], note(MAIN, 5, keys=((OTHER, OTHER_KEY),)))
    assert witness.add_checkpoint(only_other, now=T).status == 403
    # The origin's name with another key: the key id differs, so it is an unknown key.
    impostor = format_add_checkpoint(0, [], note(MAIN, 5, keys=((ORIGIN, OTHER_KEY),)))
    assert witness.add_checkpoint(impostor, now=T).status == 403
    # The trusted key's name and id, but a signature over another text.
    good, forged = note(MAIN, 5), note(MAIN, 6)
    spliced = good.split("\n\n")[0] + "\n\n" + forged.split("\n\n")[1]
    answer = witness.add_checkpoint(format_add_checkpoint(0, [], spliced), now=T)
    assert answer.status == 403
    assert b"does not verify" in answer.body
    # A failing trusted signature is fatal even beside a valid one from a second key.
    two = Witness(name=NAME, key=W_KEY, logs={ORIGIN: [LOG_V, LOG_V2]}, state=witness.state)
    body5 = note(MAIN, 5, keys=((ORIGIN, LOG_KEY_2),))
    bad_line = spliced.split("\n\n")[1]
    mixed = body5 + bad_line
    assert two.add_checkpoint(format_add_checkpoint(0, [], mixed), now=T).status == 403
    assert size_of(witness) is None


def test_unknown_signatures_are_ignored_and_not_kept(witness: Witness) -> None:
    body = request(0, 5, keys=((OTHER, OTHER_KEY), (ORIGIN, LOG_KEY), ("w.example/x", W_KEY)))
    cosigned(witness.add_checkpoint(body, now=T), body)
    recorded = witness.state.latest(ORIGIN)
    assert recorded is not None
    assert [s.name for s in parse_note(recorded.note).signatures] == [ORIGIN]


def test_any_of_several_log_keys(tmp_path: Path) -> None:
    w = Witness(name=NAME, key=W_KEY, logs={ORIGIN: [LOG_V, LOG_V2]},
                state=WitnessState(tmp_path / "s.db", create=True))
    body = request(0, 4, keys=((ORIGIN, LOG_KEY_2),))
    assert w.add_checkpoint(body, now=T).status == 200
    body = request(4, 6)
    assert w.add_checkpoint(body, now=T).status == 200
    w.close()


def test_409_conflict_tells_the_recorded_size(witness: Witness) -> None:
    assert witness.add_checkpoint(request(0, 4), now=T).status == 200
    for old in (0, 3, 5):
        answer = witness.add_checkpoint(request(old, 8), now=T)
        assert answer == WitnessAnswer(409, b"4\n", SIZE_CONTENT_TYPE)
    # Before anything was cosigned, the recorded size is 0.
    fresh = Witness(name=NAME, key=W_KEY, logs={OTHER: [NoteVerifier(OTHER, OTHER_KEY.public_key)]},
                    state=witness.state)
    body = request(2, 4, origin=OTHER, keys=((OTHER, OTHER_KEY),))
    assert fresh.add_checkpoint(body, now=T) == WitnessAnswer(409, b"0\n", SIZE_CONTENT_TYPE)


def test_422_size_zero_with_another_root(witness: Witness) -> None:
    body = format_add_checkpoint(0, [], note(MAIN, 0, root=MAIN.root(1)))
    answer = witness.add_checkpoint(body, now=T)
    assert answer.status == 422
    assert b"empty tree" in answer.body
    assert size_of(witness) is None
    (kept,) = witness.state.evidence()
    assert (kept.size, kept.root_hash, kept.request) == (0, MAIN.root(1), body)
    assert MAIN.root(1) != EMPTY_ROOT


def test_422_proof_with_old_size_zero(witness: Witness) -> None:
    body = format_add_checkpoint(0, [MAIN.root(1)], note(MAIN, 4))
    answer = witness.add_checkpoint(body, now=T)
    assert answer.status == 422
    assert b"empty consistency proof" in answer.body
    assert size_of(witness) is None


def test_422_bad_proofs_against_the_recorded_root(witness: Witness) -> None:
    assert witness.add_checkpoint(request(0, 6), now=T).status == 200
    proof = consistency_proof(6, 11, MAIN)
    bad = [
        [*proof[:-1]],                                     # a hash missing
        [*proof, proof[0]],                                # a hash too many
        [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]],  # a bit flipped
        consistency_proof(5, 11, MAIN),                    # from another size
        consistency_proof(6, 11, FORK),                    # from the fork's size 6
    ]
    for hashes in bad:
        answer = witness.add_checkpoint(format_add_checkpoint(6, hashes, note(MAIN, 11)), now=T)
        assert answer.status == 422
        assert b"recorded checkpoint of size 6" in answer.body
    # A fork's checkpoint with its own valid proof: the proof fails against the recorded root.
    fork = format_add_checkpoint(6, consistency_proof(6, 11, FORK), note(FORK, 11))
    assert witness.add_checkpoint(fork, now=T).status == 422
    # The recorded size with another root, and with a needless proof.
    assert witness.add_checkpoint(format_add_checkpoint(6, [], note(FORK, 6)), now=T).status == 422
    assert witness.add_checkpoint(
        format_add_checkpoint(6, [MAIN.root(6)], note(MAIN, 6)), now=T).status == 422
    assert size_of(witness) == 6
    assert len(witness.state.evidence(ORIGIN)) == len(bad) + 3


def test_order_when_several_rules_break(witness: Witness) -> None:
    # Unknown origin beats a missing signature, old > size and any proof problem.
    body = format_add_checkpoint(9, [MAIN.root(1)], note(MAIN, 4, origin=OTHER,
                                                           keys=((OTHER, OTHER_KEY),)))
    assert witness.add_checkpoint(body, now=T).status == 404
    # A missing log signature beats old > size.
    body = format_add_checkpoint(9, [], note(MAIN, 4, keys=((OTHER, OTHER_KEY),)))
    assert witness.add_checkpoint(body, now=T).status == 403
    # old > size beats the conflict.
    assert witness.add_checkpoint(format_add_checkpoint(9, [], note(MAIN, 4)), now=T).status == 400
    # The conflict beats the consistency checks: size 0 with a wrong root and old 3.
    assert witness.add_checkpoint(request(0, 3), now=T).status == 200
    body = format_add_checkpoint(2, [MAIN.root(1)], note(MAIN, 5, root=MAIN.root(1)))
    assert witness.add_checkpoint(body, now=T) == WitnessAnswer(409, b"3\n", SIZE_CONTENT_TYPE)
    assert witness.state.evidence() == []


def test_now_must_be_a_positive_protocol_time(witness: Witness) -> None:
    for bad in (0, -1, True, 2**41, 1.5):
        with pytest.raises(TimeRangeError):
            witness.add_checkpoint(request(0, 3), now=bad)  # type: ignore[arg-type]
    assert size_of(witness) is None


# -- state: forks, persistence, evidence ------------------------------------------------------


def test_a_fork_is_never_cosigned_twice(witness: Witness) -> None:
    """Once one fork is cosigned, no checkpoint of the other ever is."""
    assert MAIN.root(5) == FORK.root(5)
    assert MAIN.root(6) != FORK.root(6)
    assert witness.add_checkpoint(request(0, 6, FORK), now=T).status == 200
    assert witness.add_checkpoint(request(0, 8), now=T).status == 409
    assert witness.add_checkpoint(request(6, 8), now=T).status == 422  # main's proof from 6
    assert witness.add_checkpoint(request(6, 9, FORK), now=T).status == 200
    for size in range(9, 16):
        body = format_add_checkpoint(9, consistency_proof(9, size, MAIN), note(MAIN, size))
        assert witness.add_checkpoint(body, now=T).status == 422
    recorded = witness.state.latest(ORIGIN)
    assert recorded is not None
    assert recorded.root_hash == FORK.root(9)
    for kept in witness.state.evidence(ORIGIN):
        assert kept.recorded_root in (FORK.root(6), FORK.root(9))
        assert kept.root_hash in {MAIN.root(n) for n in range(16)}


def test_threads_racing_two_forks_get_exactly_one_cosigned(tmp_path: Path) -> None:
    """Twenty threads, two Witness objects (two SQLite connections) on one file:
    the BEGIN IMMEDIATE transaction serialises them."""
    path = tmp_path / "state.db"
    WitnessState(path, create=True).close()
    witnesses = [Witness(name=NAME, key=W_KEY, logs={ORIGIN: [LOG_V]}, state=path)
                 for _ in range(2)]
    assert witnesses[0].add_checkpoint(request(0, 4), now=T).status == 200
    bodies = {"main": request(4, 12), "fork": request(4, 12, FORK)}
    results: list[tuple[str, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def send(i: int) -> None:
        which = "main" if i % 2 else "fork"
        barrier.wait()
        answer = witnesses[i % 2].add_checkpoint(bodies[which], now=T + i)
        with lock:
            results.append((which, answer.status))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = {which for which, status in results if status == 200}
    assert len(winners) == 1, results
    (winner,) = winners
    loser_statuses = {status for which, status in results if which != winner}
    assert loser_statuses <= {409, 422}
    assert loser_statuses
    recorded = witnesses[0].state.latest(ORIGIN)
    assert recorded is not None
    assert recorded.root_hash == (MAIN if winner == "main" else FORK).root(12)
    for w in witnesses:
        w.close()


def test_state_survives_reopening_and_the_monitoring_view(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    w = Witness(name=NAME, key=W_KEY, logs={ORIGIN: [LOG_V]},
                state=WitnessState(path, create=True))
    assert w.checkpoint(origin_hash(ORIGIN)) is None
    body = request(0, 7)
    answer = w.add_checkpoint(body, now=T)
    w.add_checkpoint(format_add_checkpoint(3, [], note(MAIN, 9)), now=T)  # 409, no change
    view = w.checkpoint(origin_hash(ORIGIN))
    w.close()
    again = Witness(name=NAME, key=W_KEY, logs={ORIGIN: [LOG_V]}, state=path)
    assert size_of(again) == 7
    assert again.checkpoint(origin_hash(ORIGIN)) == view
    assert view == parse_add_checkpoint(body).note + answer.body.decode()
    verify_checkpoint(view, origin=ORIGIN, log_key=LOG_V, witnesses=[W_V], quorum=1)
    assert again.checkpoint(origin_hash(OTHER)) is None
    assert again.checkpoint(origin_hash(ORIGIN).upper()) is None
    assert again.checkpoint("../checkpoint") is None
    assert again.add_checkpoint(request(0, 9), now=T).body == b"7\n"
    assert again.add_checkpoint(request(7, 9), now=T).status == 200
    again.close()


def test_the_recorded_size_never_decreases_even_behind_the_witness(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    w = Witness(name=NAME, key=W_KEY, logs={ORIGIN: [LOG_V]},
                state=WitnessState(path, create=True))
    w.add_checkpoint(request(0, 7), now=T)
    w.close()
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="never decreases"):
        conn.execute("UPDATE latest SET size = 3")
    conn.close()


def test_evidence_is_capped_per_log(witness: Witness) -> None:
    witness.add_checkpoint(request(0, 6), now=T)
    body = format_add_checkpoint(6, [], note(FORK, 6))
    with witness.state.transaction() as conn:
        conn.executemany(
            "INSERT INTO evidence (origin, received, reason, old_size, size, root, note, "
            "request, recorded_size, recorded_root, recorded_note) VALUES "
            "(?, 1, 'r', 6, 6, ?, 'n', x'00', 6, ?, NULL)",
            [(ORIGIN, FORK.root(6), MAIN.root(6))] * (MAX_EVIDENCE_PER_LOG - 1))
    assert witness.add_checkpoint(body, now=T).status == 422
    assert witness.add_checkpoint(body, now=T).status == 422
    kept = witness.state.evidence(ORIGIN)
    assert len(kept) == MAX_EVIDENCE_PER_LOG
    assert kept[-1].request == body
    assert kept[-1].recorded_note is not None


def test_state_file_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open"):
        WitnessState(tmp_path / "missing.db")
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError):
        WitnessState(tmp_path / "junk.db")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StorageError, match="not a witness state file"):
        WitnessState(tmp_path / "other.db")


def test_bad_configuration_is_refused(tmp_path: Path) -> None:
    state = WitnessState(tmp_path / "s.db", create=True)
    for logs in ({ORIGIN: []}, {OTHER: [LOG_V]}, {ORIGIN: [LOG_V, LOG_V]},
                 {ORIGIN: [NoteVerifier(ORIGIN, LOG_KEY.public_key, SIG_COSIGNATURE_V1)]}):
        with pytest.raises(ValueError, match="log"):
            Witness(name=NAME, key=W_KEY, logs=logs, state=state)
    with pytest.raises(ValueError, match="key name"):
        Witness(name="bad name", key=W_KEY, logs={}, state=state)
    state.close()


# -- offline cosigning ------------------------------------------------------------------------


def test_offline_cosign_is_add_checkpoint(witness: Witness) -> None:
    n4 = note(MAIN, 4)
    answer = witness.cosign_offline(n4, "old 0\n", now=T)
    assert cosigned(answer, format_add_checkpoint(0, [], n4)) == T
    proof = consistency_proof(4, 10, MAIN)
    head = "old 4\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    n10 = note(MAIN, 10)
    assert witness.cosign_offline(n10.encode(), head.rstrip("\n").encode(), now=T).status == 200
    assert witness.cosign_offline(n10, "old 4", now=T) == WitnessAnswer(409, b"10\n",
                                                                         SIZE_CONTENT_TYPE)
    assert witness.cosign_offline(n10, "", now=T).status == 400
    assert size_of(witness) == 10


# -- random growing trees ------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(data=st.data(), steps=st.lists(st.integers(0, 9), min_size=1, max_size=8))
def test_every_accepted_cosignature_verifies(data: st.DataObject, steps: list[int]) -> None:
    tree = MemoryTree()
    with tempfile.TemporaryDirectory() as tmp:
        w = Witness(name=NAME, key=W_KEY, logs={ORIGIN: [LOG_V]},
                    state=WitnessState(Path(tmp) / "s.db", create=True))
        size = 0
        for grow in steps:
            for _ in range(grow):
                tree.append(data.draw(st.binary(max_size=8)))
            old, size = size, tree.size
            proof = consistency_proof(old, size, tree) if old else []
            body = format_add_checkpoint(old, proof, note(tree, size))
            now = T + data.draw(st.integers(0, 10**6))
            assert cosigned(w.add_checkpoint(body, now=now), body) == now
            view = w.checkpoint(origin_hash(ORIGIN))
            assert view is not None
            verified = verify_checkpoint(view, origin=ORIGIN, log_key=LOG_V, witnesses=[W_V],
                                         quorum=1)
            assert verified.checkpoint.size == size
            # A stale request or a bent root never gets a cosignature.
            if size:
                bent = format_add_checkpoint(size, [], note(tree, size, root=bytes(32)))
                assert w.add_checkpoint(bent, now=now).status == 422
            if old != size:
                assert w.add_checkpoint(body, now=now).status == 409
        w.close()


# -- the witness directory ------------------------------------------------------------------


def test_logs_policy_syntax() -> None:
    text = (f"# comment\n\n   # indented comment\n\tlog {LOG_V.vkey()}\n"
            f"log \t {LOG_V2.vkey()}   https://log.example/   \n")
    logs = parse_logs_policy(text)
    assert [(log.verifier, log.url) for log in logs] == [(LOG_V, None),
                                                         (LOG_V2, "https://log.example/")]
    assert logs_by_origin(logs) == {ORIGIN: (LOG_V, LOG_V2)}
    assert parse_logs_policy("".join(log.line() for log in logs)) == logs
    same_key = NoteVerifier(OTHER, LOG_KEY.public_key)
    for bad, why in [
        (f"witness w1 {W_V.vkey()}\n", "only 'log"),
        (f"log {LOG_V.vkey()} url extra\n", "expected"),
        ("log\n", "expected"),
        ("log nonsense\n", "verifier key"),
        (f"log {W_V.vkey()}\n", "type 0x01"),
        (f"log {LOG_V.vkey()}\nlog {same_key.vkey()}\n", "listed twice"),
        (f"log {LOG_V.vkey()} # a trailing comment is not a comment\n", "expected"),
    ]:
        with pytest.raises(DecodeError, match=why):
            parse_logs_policy(bad)


def test_witness_directory(tmp_path: Path) -> None:
    d = tmp_path / "w"
    init_witness_dir(d, name=NAME, key=W_KEY, passphrase=b"pw", logs=[PolicyLog(LOG_V)],
                     strength="interactive")
    config = read_witness_dir(d)
    assert config.verifier == W_V
    assert (d / "witness.vkey").read_text() == W_V.vkey() + "\n"
    assert [log.verifier for log in config.logs] == [LOG_V]
    assert (d / "witness.key").stat().st_mode & 0o077 == 0
    with pytest.raises(FileExistsError):
        init_witness_dir(d, name=NAME, key=W_KEY, passphrase=b"pw")
    add_log(d, PolicyLog(NoteVerifier(OTHER, OTHER_KEY.public_key), "https://other.example/"))
    with pytest.raises(DecodeError, match="listed twice"):
        add_log(d, PolicyLog(LOG_V))
    before = (d / LOGS_FILE).read_bytes()
    w = open_witness(d, passphrase=b"pw")
    assert w.origins == (ORIGIN, OTHER)
    assert w.verifier == W_V
    assert w.add_checkpoint(request(0, 3), now=T).status == 200
    w.close()
    assert (d / LOGS_FILE).read_bytes() == before
    with pytest.raises(KeyFileError):
        open_witness(d, passphrase=b"wrong")
    (d / "witness.vkey").write_text(NoteVerifier(NAME, OTHER_KEY.public_key,
                                                 SIG_COSIGNATURE_V1).vkey() + "\n")
    with pytest.raises(KeyFileError, match="not the key"):
        open_witness(d, passphrase=b"pw")
    (d / "witness.vkey").write_text(LOG_V.vkey() + "\n")
    with pytest.raises(DecodeError, match="0x04"):
        read_witness_dir(d)
    with pytest.raises(StorageError):
        read_witness_dir(tmp_path / "nowhere")
    (d / "witness.vkey").write_text(W_V.vkey() + "\n")
    (d / STATE_FILE).unlink()
    with pytest.raises(StorageError):
        open_witness(d, passphrase=b"pw")


def test_a_failed_init_leaves_nothing(tmp_path: Path) -> None:
    d = tmp_path / "w"
    with pytest.raises(ValueError, match="key name"):
        init_witness_dir(d, name="has space", key=W_KEY, passphrase=b"pw")
    with pytest.raises(ValueError, match="passphrase"):
        init_witness_dir(d, name=NAME, key=W_KEY, passphrase=b"")
    assert not d.exists() or list(d.iterdir()) == []


# -- vectors ------------------------------------------------------------------------------------


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_witness_vectors", ROOT / "spec" / "tools" / "gen_witness_vectors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vectors_regenerate_byte_for_byte(tmp_path: Path) -> None:
    written = _gen().generate(tmp_path)
    assert sorted(p.name for p in written) == sorted(
        p.name for p in VECTORS.iterdir() if p.name != "README.md")
    for path in written:
        assert path.read_bytes() == (VECTORS / path.name).read_bytes(), path.name


def test_vectors_replay(tmp_path: Path) -> None:
    manifest = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))
    key = SigningKey(hashlib.sha256(manifest["witness"]["seed_sha256_of"].encode()).digest())
    logs = parse_logs_policy((VECTORS / manifest["log"]["logs_policy"]).read_text())
    w = Witness(name=manifest["witness"]["name"], key=key, logs=logs_by_origin(logs),
                state=WitnessState(tmp_path / "s.db", create=True))
    assert w.verifier.vkey() == manifest["witness"]["vkey"]
    assert {s["status"] for s in manifest["steps"]} == {200, 400, 403, 404, 409, 422}
    assert (VECTORS / manifest["steps"][0]["request"]).read_text() == SPEC_REQUEST
    for step in manifest["steps"]:
        answer = w.add_checkpoint((VECTORS / step["request"]).read_bytes(), now=step["now"])
        expected = (VECTORS / step["response"]).read_bytes()
        assert (answer.status, answer.content_type) == (step["status"], step["content_type"])
        assert answer.body == expected, step["id"]
        if step["status"] == 200:
            verify_checkpoint(parse_add_checkpoint((VECTORS / step["request"]).read_bytes())
                              .note + expected.decode(), origin=manifest["log"]["origin"],
                              log_key=logs[0].verifier, witnesses=[w.verifier], quorum=1)
    assert len(w.state.evidence()) == manifest["evidence_count"]
    monitoring = manifest["monitoring"]
    assert w.checkpoint(monitoring["path"].split("/")[0]) == (
        VECTORS / monitoring["response"]).read_text(encoding="utf-8")
    w.close()
