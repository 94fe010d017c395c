"""C2SP signed notes, checkpoints, cosignatures and tlog-proof texts."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import nacl.signing
import pytest
from hypothesis import given, settings, strategies as st

from provledger._errors import CheckpointError, DecodeError, ProofError
from provledger._keys import SigningKey
from provledger._merkle import MemoryTree, inclusion_proof, leaf_hash
from provledger._note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    NoteSignature,
    NoteVerifier,
    TlogProof,
    cosign_checkpoint,
    format_checkpoint,
    format_note,
    format_tlog_proof,
    key_id,
    parse_checkpoint,
    parse_note,
    parse_tlog_proof,
    parse_vkey,
    sign_note,
    verify_checkpoint,
    verify_note,
    verify_tlog_proof,
)

EM = "\u2014"
# c2sp.org/signed-note's published example (also quoted in STANDARDS.md).
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    f"{EM} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1E"
    "RYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# golang.org/x/mod/sumdb/note documentation: a signer key and its verifier key.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
# c2sp.org/tlog-checkpoint and tlog-cosignature examples.
SOFA_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SOFA_COSIG = (
    f"{EM} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlr"
    "DJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)

ORIGIN = "log.example/test"
LOG = SigningKey(hashlib.sha256(b"test_note log").digest())
WIT = SigningKey(hashlib.sha256(b"test_note witness").digest())
OTHER = SigningKey(hashlib.sha256(b"test_note other").digest())
LOG_V = NoteVerifier(ORIGIN, LOG.public_key)
WIT_V = NoteVerifier("w.example/1", WIT.public_key, SIG_COSIGNATURE_V1)
TEXT = "hello\nworld\n"


def signed(text: str = TEXT) -> str:
    return format_note(text, [sign_note(text, name=ORIGIN, key=LOG)])


# -- keys ---------------------------------------------------------------------------------


def test_c2sp_example_verifies() -> None:
    v = parse_vkey(C2SP_VKEY)
    assert (v.name, v.key_id.hex(), v.sig_type) == ("example.com/foo", "530d903a", SIG_ED25519)
    assert v.vkey() == C2SP_VKEY
    opened = verify_note(C2SP_NOTE, verifiers=[v])
    assert opened.text == "This is an example message.\n"
    assert [s.verifier for s in opened.signatures] == [v]
    assert verify_note(C2SP_NOTE.encode(), verifiers=[v]).text == opened.text


def test_go_signer_key_matches_its_verifier_key() -> None:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]
    key = SigningKey(seed)
    assert NoteVerifier("PeterNeumann", key.public_key).vkey() == GO_VKEY
    assert parse_vkey(GO_VKEY).public_key == key.public_key


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("example.com/foo+530d903a", "expected <name>"),
        ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "8 hex"),
        ("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "invalid key name"),
        ("a b+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "invalid key name"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2", "base64"),
        ("example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "type 0x01"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv", "32-byte"),
    ],
)
def test_bad_vkeys(text: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        parse_vkey(text)


def test_cosigner_vkey_and_key_ids() -> None:
    assert WIT_V.key_id == hashlib.sha256(b"w.example/1\n\x04" + WIT.public_key).digest()[:4]
    assert parse_vkey(WIT_V.vkey()) == WIT_V
    assert key_id(ORIGIN, 1, LOG.public_key) == LOG_V.key_id
    for bad in ("", "a+b", "a b", "a\u00a0b", "a\tb", "a\x01b"):
        with pytest.raises(ValueError, match="key name"):
            NoteVerifier(bad, LOG.public_key)
    with pytest.raises(ValueError, match="signature type"):
        NoteVerifier("x", LOG.public_key, 2)
    with pytest.raises(ValueError, match="32 bytes"):
        NoteVerifier("x", b"short")


# -- signing and verifying ----------------------------------------------------------------


def test_sign_and_verify_roundtrip() -> None:
    note = signed()
    assert note == TEXT + "\n" + sign_note(TEXT, name=ORIGIN, key=LOG).line
    assert verify_note(note, verifiers=[LOG_V]).text == TEXT
    parsed = parse_note(note)
    assert parsed.text == TEXT
    assert parsed.signatures[0].key_id == LOG_V.key_id


def test_text_may_contain_blank_lines() -> None:
    text = "a\n\nb\n\n"
    assert verify_note(signed(text), verifiers=[LOG_V]).text == text


def test_unknown_keys_ignored_but_one_known_needed() -> None:
    other = sign_note(TEXT, name="other.example", key=OTHER)
    mine = sign_note(TEXT, name=ORIGIN, key=LOG)
    note = format_note(TEXT, [other, mine])
    assert len(verify_note(note, verifiers=[LOG_V]).signatures) == 1
    with pytest.raises(CheckpointError, match="not signed by any known key"):
        verify_note(format_note(TEXT, [other]), verifiers=[LOG_V])
    # Same name, other key id: an unknown key, ignored.
    impostor = NoteSignature(ORIGIN, key_id(ORIGIN, 1, OTHER.public_key), OTHER.sign(b"x"))
    with pytest.raises(CheckpointError, match="not signed by any known key"):
        verify_note(format_note(TEXT, [impostor]), verifiers=[LOG_V])
    with pytest.raises(CheckpointError, match="not signed by any known key"):
        verify_note(signed(), verifiers=[])


def test_known_key_failures() -> None:
    good = sign_note(TEXT, name=ORIGIN, key=LOG)
    with pytest.raises(CheckpointError, match="two signatures by"):
        verify_note(format_note(TEXT, [good, good]), verifiers=[LOG_V])
    forged = NoteSignature(ORIGIN, LOG_V.key_id, OTHER.sign(TEXT.encode()))
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_note(format_note(TEXT, [forged, good]), verifiers=[LOG_V])
    with pytest.raises(ValueError, match="given twice"):
        verify_note(signed(), verifiers=[LOG_V, LOG_V])


NOTE = TEXT + "\n" + f"{EM} {ORIGIN} " + "A" * 92 + "\n"


@pytest.mark.parametrize(
    ("note", "match"),
    [
        (NOTE[:-1], "does not end with a newline"),
        (TEXT + NOTE[len(TEXT) + 1 :], "no blank line"),
        (TEXT + "\n", "no signature lines"),
        (NOTE.replace(EM, "-"), "em dash"),
        (NOTE.replace(EM + " ", EM), "em dash"),
        (NOTE.replace(ORIGIN + " ", ORIGIN), "key name, a space"),
        (NOTE.replace(ORIGIN, ORIGIN + "+x"), "invalid key name"),
        (NOTE.replace(ORIGIN, ORIGIN + "\u2003x"), "invalid key name"),
        (NOTE.replace(ORIGIN + " ", " "), "invalid key name"),
        (NOTE.replace("AAAA\n", "AAB=\n"), "non-canonical"),
        (NOTE.replace("AAAA\n", "AA!A\n"), "base64"),
        (NOTE.replace("AAAA\n", "AAA\n"), "base64"),
        (NOTE.replace("A" * 92, "AAAAAA=="), "at least 5 bytes"),
        (NOTE.replace("world", "wor\rld"), "control character"),
        (NOTE.replace("world", "wor\x00ld"), "control character"),
        (NOTE.encode()[:3] + b"\xff" + NOTE.encode()[3:], "not valid UTF-8"),
        (NOTE.replace("world", "wor\ud800ld"), "not valid UTF-8"),
    ],
)
def test_malformed_notes(note: str | bytes, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        parse_note(note)
    with pytest.raises(CheckpointError, match=match):
        verify_note(note, verifiers=[LOG_V])


def test_limits() -> None:
    line = sign_note(TEXT, name=ORIGIN, key=LOG).line
    unknown = line.replace(ORIGIN, "u.example")
    at_limit = TEXT + "\n" + unknown * (MAX_SIGNATURES - 1) + line
    assert verify_note(at_limit, verifiers=[LOG_V]).text == TEXT
    with pytest.raises(CheckpointError, match="at most 100"):
        verify_note(TEXT + "\n" + unknown * MAX_SIGNATURES + line, verifiers=[LOG_V])
    big = "x" * (MAX_NOTE_BYTES - 200) + "\n"
    assert verify_note(signed(big), verifiers=[LOG_V]).text == big
    huge = "x" * MAX_NOTE_BYTES + "\n"
    with pytest.raises(CheckpointError, match="limit"):
        parse_note(huge + "\n" + line)
    with pytest.raises(CheckpointError, match="limit"):
        parse_note((huge + "\n" + line).encode())
    with pytest.raises(ValueError, match="exceed"):
        format_note(huge, [sign_note(huge, name=ORIGIN, key=LOG)])


def test_signing_misuse() -> None:
    for bad in ("no newline", "tab\there\n", "bad\ud800\n"):
        with pytest.raises(ValueError, match="note text"):
            sign_note(bad, name=ORIGIN, key=LOG)
    with pytest.raises(ValueError, match="key name"):
        sign_note(TEXT, name="a b", key=LOG)
    with pytest.raises(ValueError, match="1 to 100"):
        format_note(TEXT, [])


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30), min_size=1
    )
)
def test_any_valid_text_roundtrips(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    assert verify_note(signed(text), verifiers=[LOG_V]).text == text


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_parsers_raise_only_checkpoint_error(data: str | bytes) -> None:
    for parse in (parse_note, parse_tlog_proof):
        with contextlib.suppress(CheckpointError):
            parse(data)
    if isinstance(data, str):
        with contextlib.suppress(CheckpointError):
            parse_checkpoint(data)
        with contextlib.suppress(DecodeError):
            parse_vkey(data)


# -- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_format_and_parse() -> None:
    cp = parse_checkpoint(SOFA_BODY)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert format_checkpoint(cp) == SOFA_BODY
    ext = Checkpoint("o", 0, bytes(32), ("e1", "e 2"))
    assert parse_checkpoint(format_checkpoint(ext)) == ext
    big = Checkpoint("o", 2**63 - 1, bytes(32))
    assert parse_checkpoint(format_checkpoint(big)) == big


ROOT_B64 = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (f"o\n5\n{ROOT_B64}", "newline"),
        ("o\n5\n", "at least 3"),
        (f"\n5\n{ROOT_B64}\n", "origin line is empty"),
        (f"o\n05\n{ROOT_B64}\n", "leading zeros"),
        (f"o\n+5\n{ROOT_B64}\n", "leading zeros"),
        (f"o\n 5\n{ROOT_B64}\n", "leading zeros"),
        (f"o\n\u0665\n{ROOT_B64}\n", "leading zeros"),
        (f"o\n5_0\n{ROOT_B64}\n", "leading zeros"),
        (f"o\n{2**63}\n{ROOT_B64}\n", "exceeds"),
        (f"o\n{'9' * 40}\n{ROOT_B64}\n", "leading zeros"),
        (f"o\n5\n{ROOT_B64[:-4]}\n", "32"),
        (f"o\n5\n{ROOT_B64[:-2]}x=\n", "non-canonical"),
        (f"o\n5\n{ROOT_B64.rstrip('=')}\n", "base64"),
        (f"o\n5\n{ROOT_B64}\n\n", "extension lines must be non-empty"),
        (f"o\n5\n{ROOT_B64}\next\n\nx\n", "extension lines must be non-empty"),
    ],
)
def test_bad_checkpoints(body: str, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        parse_checkpoint(body)


def test_checkpoint_misuse() -> None:
    for cp in (
        Checkpoint("", 1, bytes(32)),
        Checkpoint("a\nb", 1, bytes(32)),
        Checkpoint("o", -1, bytes(32)),
        Checkpoint("o", 1, bytes(31)),
        Checkpoint("o", 1, bytes(32), ("",)),
        Checkpoint("o", 1, bytes(32), ("a\nb",)),
    ):
        with pytest.raises(ValueError, match="invalid checkpoint"):
            format_checkpoint(cp)


def _cp_note(*, log: bool = True, wit: bool = True, origin: str = ORIGIN) -> tuple[str, str]:
    body = format_checkpoint(Checkpoint(origin, 5, bytes(range(32))))
    sigs = []
    if log:
        sigs.append(sign_note(body, name=ORIGIN, key=LOG))
    if wit:
        sigs.append(cosign_checkpoint(body, name=WIT_V.name, key=WIT, timestamp=1234))
    return body, format_note(body, sigs)


def test_cosignature_and_checkpoint_verification() -> None:
    body, note = _cp_note()
    v = verify_checkpoint(note, origin=ORIGIN, log_key=LOG_V, witnesses=[WIT_V], quorum=1)
    assert v.checkpoint == parse_checkpoint(body)
    assert [(c.verifier, c.timestamp) for c in v.cosigners] == [(WIT_V, 1234)]
    cosig = parse_note(note).signatures[1]
    assert cosig.key_id == WIT_V.key_id
    assert cosig.signature[:8] == (1234).to_bytes(8, "big")
    # The signed message is exactly the one tlog-cosignature v1 defines.
    message = b"cosignature/v1\ntime 1234\n" + body.encode()
    nacl.signing.VerifyKey(WIT.public_key).verify(message, cosig.signature[8:])


def test_checkpoint_verification_failures() -> None:
    _, note = _cp_note()
    other = NoteVerifier("w.example/2", OTHER.public_key, SIG_COSIGNATURE_V1)
    with pytest.raises(CheckpointError, match="1 valid cosignatures; 2 required"):
        verify_checkpoint(note, origin=ORIGIN, log_key=LOG_V, witnesses=[WIT_V, other], quorum=2)
    with pytest.raises(CheckpointError, match="not the expected"):
        verify_checkpoint(note, origin="x.example", log_key=LOG_V, witnesses=[WIT_V], quorum=1)
    _, wit_only = _cp_note(log=False)
    with pytest.raises(CheckpointError, match="not signed by the log key"):
        verify_checkpoint(wit_only, origin=ORIGIN, log_key=LOG_V, witnesses=[WIT_V], quorum=1)
    _, log_only = _cp_note(wit=False)
    with pytest.raises(CheckpointError, match="0 valid cosignatures"):
        verify_checkpoint(log_only, origin=ORIGIN, log_key=LOG_V, witnesses=[WIT_V], quorum=1)
    # The cosignature covers its timestamp.
    body, _ = _cp_note()
    cosig = cosign_checkpoint(body, name=WIT_V.name, key=WIT, timestamp=1234)
    moved = NoteSignature(cosig.name, cosig.key_id, (1235).to_bytes(8, "big") + cosig.signature[8:])
    tampered = format_note(body, [sign_note(body, name=ORIGIN, key=LOG), moved])
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_checkpoint(tampered, origin=ORIGIN, log_key=LOG_V, witnesses=[WIT_V], quorum=1)
    short = NoteSignature(cosig.name, cosig.key_id, cosig.signature[:-1])
    with pytest.raises(CheckpointError, match="72 bytes"):
        verify_note(format_note(body, [short]), verifiers=[WIT_V])
    huge = NoteSignature(cosig.name, cosig.key_id, (2**63).to_bytes(8, "big") + bytes(64))
    with pytest.raises(CheckpointError, match="exceeds"):
        verify_note(format_note(body, [huge]), verifiers=[WIT_V])
    with pytest.raises(ValueError, match="log key"):
        verify_checkpoint(note, origin=ORIGIN, log_key=WIT_V, witnesses=[], quorum=0)
    with pytest.raises(ValueError, match="witness keys"):
        verify_checkpoint(note, origin=ORIGIN, log_key=LOG_V, witnesses=[LOG_V], quorum=0)
    with pytest.raises(ValueError, match="quorum"):
        verify_checkpoint(note, origin=ORIGIN, log_key=LOG_V, witnesses=[WIT_V], quorum=2)


def test_cosign_misuse() -> None:
    with pytest.raises(ValueError, match="cannot cosign"):
        cosign_checkpoint(TEXT, name="w", key=WIT, timestamp=1)
    with pytest.raises(ValueError, match="timestamp"):
        cosign_checkpoint(SOFA_BODY, name="w", key=WIT, timestamp=-1)
    with pytest.raises(ValueError, match="timestamp"):
        cosign_checkpoint(SOFA_BODY, name="w", key=WIT, timestamp=2**63)


def test_spec_cosignature_line_parses() -> None:
    sig = parse_note(SOFA_BODY + "\n" + SOFA_COSIG).signatures[0]
    assert sig.name == "witness.example.com/w1"
    assert int.from_bytes(sig.signature[:8], "big") == 1679315147  # the spec's example time
    assert len(sig.signature) == 72


# -- tlog-proof ----------------------------------------------------------------------------------


def _tlog_fixture() -> tuple[MemoryTree, str]:
    tree = MemoryTree()
    for i in range(11):
        tree.append(bytes([i]))
    body = format_checkpoint(Checkpoint(ORIGIN, 11, tree.root()))
    note = format_note(
        body,
        [
            sign_note(body, name=ORIGIN, key=LOG),
            cosign_checkpoint(body, name=WIT_V.name, key=WIT, timestamp=99),
        ],
    )
    return tree, note


def test_tlog_proof_roundtrip_and_verify() -> None:
    tree, note = _tlog_fixture()
    proof = TlogProof(7, tuple(inclusion_proof(7, 11, tree)), note, b"\x00extra")
    text = format_tlog_proof(proof)
    lines = text.split("\n")
    assert lines[:3] == ["c2sp.org/tlog-proof@v1", "extra AGV4dHJh", "index 7"]
    assert text.endswith("\n\n" + note)
    assert parse_tlog_proof(text) == parse_tlog_proof(text.encode()) == proof
    v = verify_tlog_proof(
        text, leaf_hash=leaf_hash(bytes([7])), origin=ORIGIN, log_key=LOG_V, witnesses=[WIT_V],
        quorum=1,
    )  # fmt: skip
    assert (v.index, v.extra, v.checkpoint.checkpoint.size) == (7, b"\x00extra", 11)
    with pytest.raises(ProofError, match="does not match"):
        verify_tlog_proof(
            text, leaf_hash=leaf_hash(b"x"), origin=ORIGIN, log_key=LOG_V, witnesses=[WIT_V],
            quorum=1,
        )  # fmt: skip
    single = MemoryTree()
    single.append(b"only")
    body = format_checkpoint(Checkpoint(ORIGIN, 1, single.root()))
    one = format_note(body, [sign_note(body, name=ORIGIN, key=LOG)])
    empty_path = format_tlog_proof(TlogProof(0, (), one))
    assert empty_path.startswith("c2sp.org/tlog-proof@v1\nindex 0\n\n")
    verify_tlog_proof(
        empty_path, leaf_hash=leaf_hash(b"only"), origin=ORIGIN, log_key=LOG_V, witnesses=[],
        quorum=0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda t: t.replace("@v1", "@v2", 1), "must start with"),
        (lambda t: t.replace("index 7", "index 07"), "leading zeros"),
        (lambda t: t.replace("index 7", "index  7"), "leading zeros"),
        (lambda t: t.replace("index 7\n", ""), "no 'index' line"),
        (lambda t: t.replace("extra AGV4dHJh", "extra "), "empty"),
        (lambda t: t.replace("extra AGV4dHJh", "extra AGV4dHJ"), "base64"),
        (lambda t: t.replace("\n\n", "\n", 1), "hash 4: not standard padded base64"),
        (lambda _: "c2sp.org/tlog-proof@v1\nindex 0\n", "no blank line"),
        (lambda t: t.replace("\nindex 7\n", "\nindex 7\nAAAA\n"), "3 bytes, expected 32"),
        (lambda t: t.split("\n\n", 1)[0] + "\n\nnot a note", "newline"),
    ],
)
def test_bad_tlog_proofs(change: object, match: str) -> None:
    tree, note = _tlog_fixture()
    text = format_tlog_proof(TlogProof(7, tuple(inclusion_proof(7, 11, tree)), note, b"\x00extra"))
    with pytest.raises(CheckpointError, match=match):
        parse_tlog_proof(change(text))  # type: ignore[operator]


def test_tlog_proof_limits_and_misuse() -> None:
    _, note = _tlog_fixture()
    too_many = TlogProof(0, (bytes(32),) * 65, note)
    with pytest.raises(ValueError, match="at most 64"):
        format_tlog_proof(too_many)
    with pytest.raises(ValueError, match="empty"):
        format_tlog_proof(TlogProof(0, (), note, b""))
    with pytest.raises(ValueError, match="invalid tlog-proof"):
        format_tlog_proof(TlogProof(0, (bytes(31),), note))
