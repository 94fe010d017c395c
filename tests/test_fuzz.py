"""Hostile input: every decoder and parser, fed random and mutated input, fails typed and fast.

Each target gets random bytes or text, byte-level mutations of valid inputs
(bit flips, cuts, splices, huge CBOR heads, deep nesting, odd characters)
and, for CBOR formats, structure-level mutations re-encoded canonically so
they get past the canonical-form checks (statement payloads are re-signed so
they get past the signature too). Only ProvLedgerError subclasses may come
out (key files: only KeyFileError or DecodeError), and every call must
return within :data:`TIME_LIMIT`. The explicit limits of spec/limits.md are
checked at their extremes at the end.

``make test`` runs the quick profile; ``make reliability`` (marker ``slow``)
the heavy one. The defects fuzzing found are fixed; each keeps a focused
regression test at the end of this file.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cbor2
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger import _bundle, _codec, _entry, _note, _receipt
from provledger._keyfile import write_signing_key
from provledger._statement import _bstr, protected_header, sig_structure

from .conftest import ORIGIN, World, key, make_world, snapshot
from .strategies import any_event

TIME_LIMIT = 1.0
QUICK, HEAVY = 250, 5000
PROFILES = [pytest.param(QUICK, id="quick"),
            pytest.param(HEAVY, id="heavy", marks=pytest.mark.slow)]
MB10 = 10 * 1024 * 1024

#: Cases run per target (and known-defect hits, should a tolerance be added again).
CASES: Counter[str] = Counter()
KNOWN: Counter[str] = Counter()

STRANGER = key("stranger")  # known to no ledger
VALID_KEY_FILE = Path(__file__).parents[1] / "spec" / "vectors" / "keyfile" / "valid.json"
LOG_VKEY = _note.NoteVerifier(ORIGIN, key("log").public_key)
WITNESS = _note.NoteVerifier("witness.example/w1", key("witness").public_key,
                             _note.SIG_COSIGNATURE_V1)


# -- what is fed to the targets ---------------------------------------------------------

HUGE_HEADS = [bytes([major | 27]) + b"\xff" * 8 for major in (0x00, 0x20, 0x40, 0x60, 0x80,
                                                                0xA0, 0xC0)]
INTERESTING = [
    *HUGE_HEADS, b"\x5a\xff\xff\xff\xff", b"\x9a\xff\xff\xff\xff", b"\x5f", b"\x9f", b"\xbf",
    b"\xff", b"\xf7", b"\xf8\xff", b"\xf9\x7e\x00", b"\xc2\x59\x08\x00", b"\x81" * 500,
    b"\xa1\x00" * 300, b"\x00", b"\x7f", b"\x80", b"\xd2\x84", b"\n", b"\n\n", b"\xe2\x80\x94 ",
    b"+", b"=", b"\xc2\xb2", b"\xef\xbc\x90", b"\r", b"\t", b" ", b"9" * 30, b"[" * 200,
    b'{"', b"\\u0000", b"\xed\xa0\x80",
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with one to five byte-level mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(("flip", "set", "delete", "insert", "interesting", "duplicate",
                                   "truncate")))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "interesting":
            data[pos:pos] = draw(st.sampled_from(INTERESTING))
        elif op == "duplicate":
            end = min(len(data), pos + draw(st.integers(1, 256)))
            data[pos:pos] = data[pos:end]
        else:
            del data[pos:]
    return bytes(data)


def as_text(data: bytes) -> str:
    """Bytes as the str a caller might pass, lone surrogates included."""
    return data.decode("utf-8", errors="surrogateescape")


def texts(seeds: list[bytes]) -> st.SearchStrategy[str]:
    return st.one_of(mutated(seeds).map(as_text), st.text(max_size=300))


def blobs(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(seeds), st.binary(max_size=600))


CBOR_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from([2**64, -(2**64) - 1]),
    st.binary(max_size=40), st.text(max_size=40), st.floats(allow_nan=True))
CBOR_VALUE = st.recursive(
    CBOR_LEAF, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.integers(-3, 400)), inner, max_size=4)),
    max_leaves=12)


def _thaw(obj: Any) -> Any:
    """cbor2 decodes inside tags immutably; make the tree editable."""
    if isinstance(obj, cbor2.CBORTag):
        return cbor2.CBORTag(obj.tag, _thaw(obj.value))
    if isinstance(obj, list | tuple):
        return [_thaw(x) for x in obj]
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {k: _thaw(v) for k, v in obj.items()}
    return obj


def _slots(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    inner = obj.value if isinstance(obj, cbor2.CBORTag) else obj
    if isinstance(inner, list):
        for i, x in enumerate(inner):
            yield from _slots(x, (*path, i))
    elif isinstance(inner, dict):
        for k, v in inner.items():
            yield from _slots(v, (*path, k))


def _container(obj: Any) -> Any:
    return obj.value if isinstance(obj, cbor2.CBORTag) else obj


@st.composite
def reshaped(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed decoded, one node replaced, deleted, duplicated or nested, re-encoded
    canonically: past the canonical check, into the schema and the logic."""
    tree = _thaw(cbor2.loads(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_slots(tree))))
        if not path:
            continue
        parent = tree
        for step in path[:-1]:
            parent = _container(parent)[step]
        parent = _container(parent)
        slot = path[-1]
        op = draw(st.sampled_from(("replace", "delete", "nest", "add")))
        if op == "replace":
            parent[slot] = draw(CBOR_VALUE)
        elif op == "delete":
            del parent[slot]
        elif op == "nest":
            parent[slot] = [parent[slot]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(CBOR_VALUE)
        else:
            parent.append(copy.deepcopy(parent[slot]))
    return cbor2.dumps(tree, canonical=True)


def sign_payload(payload: bytes, signer: pl.SigningKey = STRANGER) -> bytes:
    """A statement around any payload bytes, with a valid signature."""
    protected = protected_header(signer.public_key)
    signature = signer.sign(sig_structure(protected, payload))
    return b"\xd2\x84" + _bstr(protected) + b"\xa0" + _bstr(payload) + _bstr(signature)


def stranger_payload(statement: bytes) -> bytes:
    """The payload of ``statement``, now naming the stranger as signer."""
    payload = cbor2.loads(cbor2.loads(statement).value[2])
    payload["signer"] = STRANGER.public_key
    return cbor2.dumps(payload, canonical=True)


# -- running a target -----------------------------------------------------------------------


def call(target: str, fn: Callable[[], object], *,
         allowed: tuple[type[BaseException], ...] = (pl.ProvLedgerError,),
         known: Callable[[BaseException], bool] = lambda exc: False,
         limit: float = TIME_LIMIT) -> None:
    """Run one case: it returns or raises an ``allowed`` error, within ``limit`` seconds.

    A slow case is timed once more before it fails: on a shared machine one
    call can lose a second to the scheduler, but a slow input is slow twice.
    """
    CASES[target] += 1
    for attempt in (1, 2):
        start = time.perf_counter()
        try:
            fn()
        except allowed:
            pass
        except Exception as exc:
            if not known(exc):
                raise
            KNOWN[target] += attempt == 1
        elapsed = time.perf_counter() - start
        if elapsed < limit:
            return
    raise AssertionError(f"{target} took {elapsed:.2f} s, twice over {limit} s")


def fuzz(strategy: st.SearchStrategy[Any], examples: int, check: Callable[[Any], None]) -> None:
    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(strategy)
    def run(value: Any) -> None:
        check(value)

    run()


# -- the seeds: real objects from a real ledger -------------------------------------------------


class Seeds:
    """Valid inputs of every format, taken from one small ledger."""

    def __init__(self, tmp: Path) -> None:
        w: World = make_world(tmp / "seed.db")
        item = w.issue("SEED-1")
        w.add(w.workshop, item, pl.RepairRecorded(
            work="Resize", category="resize", performed_by="Workshop", started=1, completed=2,
            parts=[pl.Part(name="shank", material="gold")]))
        w.add(w.gemologist, item, pl.CertificateAttested(
            capacity="gemologist", certificate=w.ledger.history(item)[0].hash))
        w.add(w.insurer, item, pl.StolenReported(reference="police 42"))
        cp = w.ledger.sign_checkpoint(key("log"))
        ledger = w.ledger
        self.world = w
        self.item = item
        self.statements = [r.statement.raw for r in ledger.records()]
        self.entries = [ledger.entry(i) for i in range(len(ledger))]
        cosig = _note.cosign_checkpoint(_note.parse_note(cp.note).text, name=WITNESS.name,
                                        key=key("witness"), timestamp=1_800_000_000)
        cosigned = cp.note + cosig.line
        self.notes = [cp.note.encode(), cosigned.encode()]
        self.checkpoints = [_note.parse_note(cp.note).text.encode()]
        self.vkeys = [ledger.log_vkey().encode(), WITNESS.vkey().encode()]
        self.tlog_proofs = [ledger.tlog_proof(i).encode() for i in (0, 5, len(ledger) - 1)]
        self.receipts = [ledger.receipt(i, key=key("log")) for i in (0, 3, len(ledger) - 1)]
        self.leaf_hashes = [hashlib.sha256(b"\x00" + e).digest() for e in self.entries]
        self.policy = pl.Policy(logs=(LOG_VKEY,), roots=(key("root").public_key,),
                                witnesses=(WITNESS,), quorum=0)
        self.policies = [self.policy.to_text().encode()]
        self.bundles = [ledger.export(item)]
        self.now = cp.time
        self.public_keys = [pl.format_public_key(k.public_key).encode() + b"\n"
                            for k in (w.owner, w.jeweler)]
        path = tmp / "seed.key"
        write_signing_key(path, w.owner, passphrase=b"pw", _limits=(1, 8192))
        self.key_files = [path.read_bytes(), VALID_KEY_FILE.read_bytes()]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeds]:
    s = Seeds(tmp_path_factory.mktemp("seeds"))
    yield s
    s.world.ledger.close()
    total = sum(CASES.values())
    print(f"\nfuzz cases: {total} in all; " + ", ".join(f"{k} {v}" for k, v in sorted(
        CASES.items())) + (f"; known-defect hits: {dict(KNOWN)}" if KNOWN else ""))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzzfiles")


# -- statements and entries ---------------------------------------------------------------------


@pytest.mark.parametrize("examples", PROFILES)
def test_statements(seeds: Seeds, examples: int) -> None:
    def check(data: bytes) -> None:
        call("verify_statement", lambda: pl.verify_statement(data))

    fuzz(blobs(seeds.statements), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_signed_payloads(seeds: Seeds, examples: int) -> None:
    """Payloads past the signature: only the decoder stands between them and the rules."""
    payloads = [stranger_payload(s) for s in seeds.statements]

    def check(payload: bytes) -> None:
        call("verify_statement (signed payloads)", lambda: pl.verify_statement(
            sign_payload(payload)), allowed=(pl.DecodeError,))

    fuzz(st.one_of(reshaped(payloads), mutated(payloads)), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_entries(seeds: Seeds, examples: int) -> None:
    def check(data: bytes) -> None:
        call("decode_entry", lambda: _entry.decode_entry(data), allowed=(pl.DecodeError,))

    fuzz(st.one_of(blobs(seeds.entries), reshaped(seeds.entries)), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_append_leaves_the_ledger_unchanged(seeds: Seeds, examples: int, tmp_path: Path) -> None:
    # A copy of the seeds' ledger: an unmutated seed is then a duplicate, and a
    # mutated one can no longer carry a valid signature.
    seeds.world.ledger.backup(tmp_path / "target.db")
    w = World(pl.Ledger.open(tmp_path / "target.db", clock=seeds.world.clock), tmp_path /
              "target.db", seeds.world.clock, *(getattr(seeds.world, k) for k in (
                  "root", "jeweler", "workshop", "gemologist", "insurer", "owner")))
    size, before = len(w.ledger), snapshot(w.path)
    payloads = [stranger_payload(s) for s in seeds.statements]
    events = st.builds(lambda ev, subject, prev: pl.sign_statement(
        ev, key=STRANGER, origin=ORIGIN, subject=subject, prev=prev, time=1_800_000_000),
        any_event, st.sampled_from([seeds.item, "urn:x:new-item-00",
                                    pl.authority_subject(key("jeweler").public_key)]),
        st.none() | st.sampled_from([w.ledger.head(seeds.item)]))

    def check(stmt: bytes) -> None:
        call("Ledger.append", lambda: w.ledger.append(stmt))
        assert len(w.ledger) == size

    try:
        fuzz(st.one_of(blobs(seeds.statements), reshaped(payloads).map(sign_payload), events),
             examples, check)
    finally:
        w.ledger.close()
    assert snapshot(w.path) == before


# -- notes, checkpoints, keys, proofs ----------------------------------------------------------


@pytest.mark.parametrize("examples", PROFILES)
def test_notes(seeds: Seeds, examples: int) -> None:
    def check(note: str | bytes) -> None:
        call("parse_note", lambda: _note.parse_note(note), allowed=(pl.CheckpointError,))
        call("verify_note", lambda: _note.verify_note(note, verifiers=[LOG_VKEY, WITNESS]),
             allowed=(pl.CheckpointError,))
        call("verify_checkpoint", lambda: _note.verify_checkpoint(
            note, origin=ORIGIN, log_key=LOG_VKEY, witnesses=[WITNESS], quorum=1),
             allowed=(pl.CheckpointError,))

    fuzz(st.one_of(blobs(seeds.notes), texts(seeds.notes)), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_checkpoint_texts_and_vkeys(seeds: Seeds, examples: int) -> None:
    def check(pair: tuple[str, str]) -> None:
        body, vkey = pair
        call("parse_checkpoint", lambda: _note.parse_checkpoint(body),
             allowed=(pl.CheckpointError,))
        call("parse_vkey", lambda: _note.parse_vkey(vkey), allowed=(pl.DecodeError,))

    fuzz(st.tuples(texts(seeds.checkpoints), texts(seeds.vkeys)), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_tlog_proofs(seeds: Seeds, examples: int) -> None:
    def check(text: str | bytes) -> None:
        call("parse_tlog_proof", lambda: _note.parse_tlog_proof(text),
             allowed=(pl.CheckpointError,))
        call("verify_tlog_proof", lambda: _note.verify_tlog_proof(
            text, leaf_hash=seeds.leaf_hashes[5], origin=ORIGIN, log_key=LOG_VKEY,
            witnesses=[], quorum=0), allowed=(pl.CheckpointError, pl.ProofError))

    fuzz(st.one_of(blobs(seeds.tlog_proofs), texts(seeds.tlog_proofs)), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_receipts(seeds: Seeds, examples: int) -> None:
    def check(data: bytes) -> None:
        call("verify_receipt", lambda: _receipt.verify_receipt(
            data, leaf_hash=seeds.leaf_hashes[3], public_key=key("log").public_key))

    fuzz(st.one_of(blobs(seeds.receipts), reshaped(seeds.receipts)), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_public_keys(seeds: Seeds, examples: int, scratch: Path) -> None:
    path = scratch / "fuzz.pub"

    def check(data: bytes) -> None:
        text = as_text(data)
        call("parse_public_key", lambda: pl.parse_public_key(text), allowed=(pl.DecodeError,))
        if text.strip().startswith("ed25519:"):
            call("read_public_key (text)", lambda: pl.read_public_key(text),
                 allowed=(pl.DecodeError,))
        path.write_bytes(data)
        call("read_public_key (file)", lambda: pl.read_public_key(path),
             allowed=(pl.KeyFileError, pl.DecodeError))

    fuzz(blobs(seeds.public_keys), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_key_files(seeds: Seeds, examples: int, scratch: Path) -> None:
    path = scratch / "fuzz.key"

    def check(data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        for passphrase in (b"pw", b"wrong"):
            call("read_signing_key", lambda p=passphrase: pl.read_signing_key(
                path, passphrase=p), allowed=(pl.KeyFileError, pl.DecodeError),
                limit=_kdf_time(data))

    fuzz(st.one_of(blobs(seeds.key_files), _json_reshaped(seeds.key_files)), examples, check)


def _kdf_time(data: bytes) -> float:
    """The time limit for reading a key file: what its KDF may cost within the caps.

    The caps (opslimit 8, memlimit 1 GiB) allow about 2 s per pass over 1 GiB
    here (spec/limits.md); a file asking for less must be refused or read in
    proportion.
    """
    try:
        kdf = msgspec.json.decode(data)["kdf"]
        ops, mem = int(kdf["opslimit"]), int(kdf["memlimit"])
    except Exception:
        return TIME_LIMIT
    if not (1 <= ops <= 8 and 8192 <= mem <= 2**30):
        return TIME_LIMIT
    return TIME_LIMIT + 3.0 * ops * mem / 2**30


@st.composite
def _json_reshaped(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A key file with one field set to another JSON value (types, sizes, limits)."""
    doc = msgspec.json.decode(draw(st.sampled_from(seeds)))
    field = draw(st.sampled_from(["format", "public_key", "aead", "nonce", "ciphertext",
                                  "kdf.alg", "kdf.opslimit", "kdf.memlimit", "kdf.salt",
                                  "extra", "kdf.extra"]))
    value = draw(st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
        st.text(max_size=60), st.lists(st.integers(), max_size=3),
        st.sampled_from([0, 1, 8, 9, 8191, 8192, 8193, 2**30, 2**30 + 1024, 2**63, -1,
                         "A" * 24, "=" * 4, base64.b64encode(bytes(16)).decode()])))
    target = doc["kdf"] if field.startswith("kdf.") else doc
    target[field.removeprefix("kdf.")] = value
    return msgspec.json.encode(doc)


# -- policies and bundles -------------------------------------------------------------------


@pytest.mark.parametrize("examples", PROFILES)
def test_policies(seeds: Seeds, examples: int, scratch: Path) -> None:
    path = scratch / "fuzz.policy"

    def check(data: bytes) -> None:
        call("parse_policy", lambda: pl.parse_policy(as_text(data)), allowed=(pl.DecodeError,))
        path.write_bytes(data)
        call("read_policy", lambda: pl.read_policy(path), allowed=(pl.DecodeError,))

    fuzz(blobs(seeds.policies), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_bundles(seeds: Seeds, examples: int) -> None:
    def check(data: bytes) -> None:
        call("decode_bundle", lambda: _bundle.decode_bundle(data), allowed=(pl.DecodeError,))
        call("verify_bundle", lambda: pl.verify_bundle(data, policy=seeds.policy, now=seeds.now))

    fuzz(st.one_of(blobs(seeds.bundles), reshaped(seeds.bundles)), examples, check)


@pytest.mark.parametrize("examples", PROFILES)
def test_bundles_from_a_hostile_log(seeds: Seeds, examples: int) -> None:
    """The trusted log key signs whatever checkpoint text the fuzzer makes."""
    bundle = _bundle.decode_bundle(seeds.bundles[0])
    body = _note.parse_note(bundle.checkpoint).text.encode()

    def check(text: bytes) -> None:
        unverified = as_text(text)
        try:
            sig = _note.sign_note(unverified, name=ORIGIN, key=key("log"))
            note = _note.format_note(unverified, [sig])
        except ValueError:
            return  # not a note text the signer would sign
        data = _bundle.encode_bundle(msgspec.structs.replace(bundle, checkpoint=note))
        call("verify_bundle (log-signed checkpoints)", lambda: pl.verify_bundle(
            data, policy=seeds.policy, now=seeds.now))

    fuzz(mutated([body]), examples, check)


# -- size, count and nesting extremes (spec/limits.md) -------------------------------------


def _deep(n: int) -> bytes:
    return b"\x81" * n + b"\x00"


EXTREMES: dict[str, bytes] = {
    "10 MB of zeros": bytes(MB10),
    "10 MB of 0x81 (nesting)": b"\x81" * MB10,
    "100k-deep array": _deep(100_000),
    "60k-deep array (under 64 KiB)": _deep(60_000),
    "u64-max byte-string head": b"\x5b" + b"\xff" * 8 + b"x",
    "u64-max array head": b"\x9b" + b"\xff" * 8 + b"\x00",
    "u64-max map head": b"\xbb" + b"\xff" * 8 + b"\x00",
    "statement with u32-max payload head": b"\xd2\x84" + _bstr(protected_header(
        STRANGER.public_key)) + b"\xa0\x5a" + b"\xff" * 4 + b"x",
    "entry with u64-max statement head": b"\xa3dtime\x00eindex\x00istatement\x5b" + b"\xff" * 8,
}


@pytest.mark.parametrize("name", list(EXTREMES))
def test_binary_extremes_fail_fast(seeds: Seeds, name: str) -> None:
    data = EXTREMES[name]
    call("extremes", lambda: pl.verify_statement(data), allowed=(pl.DecodeError,))
    call("extremes", lambda: _entry.decode_entry(data), allowed=(pl.DecodeError,))
    call("extremes", lambda: _receipt.verify_receipt(
        data, leaf_hash=bytes(32), public_key=key("log").public_key), allowed=(pl.DecodeError,))
    call("extremes", lambda: _bundle.decode_bundle(data), allowed=(pl.DecodeError,))
    call("extremes", lambda: pl.verify_bundle(data, policy=seeds.policy, now=seeds.now),
         allowed=(pl.DecodeError,))
    call("extremes", lambda: _note.parse_note(data), allowed=(pl.CheckpointError,))
    call("extremes", lambda: _note.parse_tlog_proof(data), allowed=(pl.CheckpointError,))


def test_a_deeply_nested_signed_payload_fails_fast() -> None:
    for depth in (401, 20_000, 60_000):
        stmt = sign_payload(_deep(depth))
        call("extremes", lambda s=stmt: pl.verify_statement(s), allowed=(pl.DecodeError,))
        with pytest.raises(pl.DecodeError, match=r"nesting|exceeds"):
            pl.verify_statement(stmt)


def test_text_extremes_fail_fast(seeds: Seeds, scratch: Path) -> None:
    big = "a" * MB10
    note = seeds.notes[0].decode()
    text, sig_block = note.split("\n\n", 1)[0] + "\n", note.split("\n\n", 1)[1]
    cases: list[tuple[Callable[[], object], type[pl.ProvLedgerError], str]] = [
        (lambda: _note.parse_note(big + "\n\n— a AAAAAAAA\n"), pl.CheckpointError, "limit"),
        (lambda: _note.parse_note(text + "\n" + sig_block * 101), pl.CheckpointError,
         "at most 100"),
        (lambda: _note.verify_note(text + "\n" + sig_block * 100, verifiers=[LOG_VKEY]),
         pl.CheckpointError, "two signatures"),
        (lambda: _note.parse_checkpoint(big), pl.CheckpointError, "limit"),
        (lambda: _note.parse_checkpoint("o\n1" + "0" * 19 + "\nAAAA\n"), pl.CheckpointError,
         "decimal"),
        (lambda: _note.parse_vkey(big), pl.DecodeError, "expected"),
        (lambda: _note.parse_tlog_proof(seeds.tlog_proofs[0].decode().replace(
            "\n\n", "\n" + (base64.b64encode(bytes(32)).decode() + "\n") * 65 + "\n", 1)),
         pl.CheckpointError, "at most 64"),
        (lambda: pl.parse_public_key(big), pl.DecodeError, "must start"),
        (lambda: pl.parse_public_key("ed25519:" + big), pl.DecodeError, "43"),
        (lambda: pl.parse_policy(big), pl.DecodeError, "larger than"),
    ]
    for fn, error, match in cases:
        call("extremes", fn, allowed=(error,))
        with pytest.raises(error, match=match):
            fn()
    for name, data in (("key", b"{" + b" " * MB10 + b"}"), ("pub", b"ed25519:" + bytes(MB10)),
                       ("policy", b"#" * MB10)):
        path = scratch / f"big.{name}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        reader = {"key": lambda p=path: pl.read_signing_key(p, passphrase=b"pw"),
                  "pub": lambda p=path: pl.read_public_key(p),
                  "policy": lambda p=path: pl.read_policy(p)}[name]
        call("extremes", reader, allowed=(pl.KeyFileError, pl.DecodeError))
        with pytest.raises((pl.KeyFileError, pl.DecodeError), match=r"too large|larger than"):
            reader()


def test_a_huge_statement_is_refused_before_the_ledger_is_touched(tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    before = snapshot(w.path)
    for data in (bytes(MB10), sign_payload(bytes(_codec.MAX_STATEMENT_BYTES))):
        call("extremes", lambda d=data: w.ledger.append(d), allowed=(pl.DecodeError,))
        with pytest.raises(pl.DecodeError, match="exceeds the limit"):
            w.ledger.append(data)
    w.ledger.close()
    assert snapshot(w.path) == before


# -- defects found by fuzzing, fixed: each stays as a regression test --------------


def _receipt_with(value: Any) -> bytes:
    protected = _codec.dumps({1: -8, 4: b"k", 395: 1})
    return _codec.dumps(cbor2.CBORTag(18, [protected, {396: {-1: [value]}}, None, bytes(64)]))


@pytest.mark.parametrize("data", [
    pytest.param(b"\xd8\x24\x63abc", id="tag-36-mime"),
    pytest.param(b"\xd8\x1c\x81\xd8\x1d\x00", id="shared-reference-cycle"),
])
def test_receipt_with_undecodable_tags_fails_typed(data: bytes) -> None:
    with pytest.raises(pl.ProvLedgerError):
        _receipt.verify_receipt(data, leaf_hash=bytes(32), public_key=key("log").public_key)


@pytest.mark.parametrize("pair", [(1, 2**16000), (2**16000, 1)], ids=["index", "size"])
def test_receipt_with_a_bignum_size_or_index_fails_typed(pair: tuple[int, int]) -> None:
    data = _receipt_with(_codec.dumps([pair[0], pair[1], []]))
    assert len(data) < _receipt.MAX_RECEIPT_BYTES
    with pytest.raises(pl.ProvLedgerError):
        _receipt.verify_receipt(data, leaf_hash=bytes(32), public_key=key("log").public_key)


@pytest.mark.parametrize("text", ["quorum ²", "max-age ³"])
def test_policy_with_superscript_digits_fails_typed(text: str) -> None:
    with pytest.raises(pl.DecodeError):
        pl.parse_policy(text)


@pytest.mark.parametrize("value", ["²", "9" * 5000])
def test_bundle_whose_log_signed_a_bad_time_fails_typed(seeds: Seeds, value: str) -> None:
    bundle = _bundle.decode_bundle(seeds.bundles[0])
    body = _note.parse_checkpoint(_note.parse_note(bundle.checkpoint).text)
    text = "\n".join([body.origin, str(body.size), base64.b64encode(body.root_hash).decode(),
                      *(e for e in body.extensions if not e.startswith("provledger-time")),
                      f"provledger-time {value}"]) + "\n"
    note = _note.format_note(text, [_note.sign_note(text, name=ORIGIN, key=key("log"))])
    data = _bundle.encode_bundle(msgspec.structs.replace(bundle, checkpoint=note))
    with pytest.raises(pl.ProvLedgerError):
        pl.verify_bundle(data, policy=seeds.policy, now=seeds.now)


@pytest.mark.parametrize("data", [
    pytest.param(b'{"format":"provledger-secret-key/v1","x":' + b"[" * 30_000 + b"]" * 30_000
                 + b"}", id="deep-json"),
    pytest.param(b'{"format":"\x80rovledger-secret-key/v1"}', id="invalid-utf8-in-a-string"),
])
def test_key_file_with_bad_json_fails_typed(scratch: Path, data: bytes) -> None:
    path = scratch / "bad.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    with pytest.raises((pl.KeyFileError, pl.DecodeError)):
        pl.read_signing_key(path, passphrase=b"pw")


def test_public_key_text_with_a_nul_byte_fails_typed() -> None:
    with pytest.raises((pl.KeyFileError, pl.DecodeError)):
        pl.read_public_key("ed25519\x00AAAA")


# -- memory: file readers stop at their limit -----------------------------------------------


def _peak_reading(fn: Callable[[], object], allowed: tuple[type[BaseException], ...]) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(allowed):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("reader", ["key", "pub"])
def test_file_readers_read_no_more_than_their_limit(scratch: Path, reader: str) -> None:
    path = scratch / f"huge.{reader}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.ftruncate(fd, 64 * 1024 * 1024)  # sparse: 64 MiB of zeros, no disk used
    os.close(fd)
    fn = {"key": lambda: pl.read_signing_key(path, passphrase=b"pw"),
          "pub": lambda: pl.read_public_key(path)}[reader]
    assert _peak_reading(fn, (pl.KeyFileError,)) < 1024 * 1024


def test_read_policy_reads_no_more_than_its_limit(scratch: Path) -> None:
    path = scratch / "huge.policy"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.ftruncate(fd, 64 * 1024 * 1024)
    os.close(fd)
    assert _peak_reading(lambda: pl.read_policy(path), (pl.DecodeError,)) < 1024 * 1024


def test_cli_json_body_with_deep_nesting_fails_typed(scratch: Path) -> None:
    from provledger_cli.statement_cmd import _event_from_json

    path = scratch / "deep-body.json"
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(pl.ProvLedgerError):
        _event_from_json(pl.LostReported, path)
