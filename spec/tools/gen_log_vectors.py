"""Regenerate spec/vectors/log/ deterministically from provledger itself.

Every input is fixed: the eight published RFC 6962 test leaves, keys whose
seeds are SHA-256 of fixed strings, fixed timestamps. Ed25519 signatures are
deterministic, so running this twice gives byte-identical files; a test checks
that the committed files are exactly what this script writes.

Example:
    python spec/tools/gen_log_vectors.py spec/vectors/log
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
try:
    import provledger  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(ROOT / "src"))

import cbor2  # noqa: E402

from provledger._keys import SigningKey, key_id  # noqa: E402
from provledger._merkle import (  # noqa: E402
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)
from provledger._note import (  # noqa: E402
    SIG_COSIGNATURE_V1,
    Checkpoint,
    NoteSignature,
    NoteVerifier,
    TlogProof,
    cosign_checkpoint,
    format_checkpoint,
    format_note,
    format_tlog_proof,
    sign_note,
)
from provledger._receipt import HEADER_CHECKPOINT, make_receipt  # noqa: E402

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ORIGIN = "log.provledger.example/test"
WITNESS = "witness.provledger.example/w1"
WITNESS2 = "witness.provledger.example/w2"
OTHER = "other.provledger.example/log"
COSIGN_TIME = 1700000000
#: A provledger log's two extension lines (spec/log.md 4 item 3), fixed values.
LEDGER_EXTENSIONS = (
    "provledger-heads " + base64.b64encode(hashlib.sha256(b"provledger test heads").digest())
    .decode(),
    f"provledger-time {COSIGN_TIME - 60}",
)
EM = "\u2014"

LOG_KEY = SigningKey(hashlib.sha256(b"provledger test log key").digest())
WITNESS_KEY = SigningKey(hashlib.sha256(b"provledger test witness key").digest())
OTHER_KEY = SigningKey(hashlib.sha256(b"provledger test other key").digest())
WITNESS2_KEY = SigningKey(hashlib.sha256(b"provledger test witness key 2").digest())

LOG_V = NoteVerifier(ORIGIN, LOG_KEY.public_key)
WITNESS_V = NoteVerifier(WITNESS, WITNESS_KEY.public_key, SIG_COSIGNATURE_V1)
OTHER_V = NoteVerifier(OTHER, OTHER_KEY.public_key)
WITNESS2_V = NoteVerifier(WITNESS2, WITNESS2_KEY.public_key, SIG_COSIGNATURE_V1)

C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    f"{EM} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1E"
    "RYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def _hex(items: list[bytes]) -> list[str]:
    return [h.hex() for h in items]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def _noncanonical(value: str) -> str:
    """The same bytes in base64 with a padding bit set (decoders that do not
    check canonical form accept it)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = value.rstrip("=")
    last = alphabet.index(body[-1])
    return body[:-1] + alphabet[last + 1] + value[len(body) :]


def _tree() -> MemoryTree:
    tree = MemoryTree()
    for leaf in LEAVES:
        tree.append(leaf)
    return tree


def tree_vectors(tree: MemoryTree) -> dict[str, Any]:
    return {
        "description": "RFC 6962 test leaves (hex entry bytes) and MTH of the first n.",
        "leaves": _hex(LEAVES),
        "leaf_hashes": [tree.subtree(0, i).hex() for i in range(len(LEAVES))],
        "roots": [{"size": n, "root": tree.root(n).hex()} for n in range(len(LEAVES) + 1)],
    }


def _variants(name: str, case: dict[str, Any], out: list[dict[str, Any]]) -> Any:
    """A helper adding invalid variants of ``case`` (all fail with ProofError) to ``out``."""

    def bad(suffix: str, reason: str, **changes: Any) -> None:
        out.append(
            {"id": f"{name}-{suffix}", **case, **changes, "error": "ProofError", "reason": reason}
        )

    return bad


def _flipped(proof: list[bytes], j: int, bit: int) -> list[str]:
    return _hex([*proof[:j], _flip(proof[j], bit), *proof[j + 1 :]])


def inclusion_vectors(tree: MemoryTree) -> dict[str, Any]:
    valid: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for size in range(1, len(LEAVES) + 1):
        root = tree.root(size)
        for index in range(size):
            proof = inclusion_proof(index, size, tree)
            case = {
                "leaf_hash": tree.subtree(0, index).hex(),
                "index": index,
                "size": size,
                "proof": _hex(proof),
                "root": root.hex(),
            }
            name = f"leaf{index}-of-{size}"
            valid.append({"id": name, **case})
            bad = _variants(name, case, invalid)
            for j in range(len(proof)):
                bit = (index * 7 + size * 13 + j * 29) % 256
                bad(f"flip-proof{j}-bit{bit}", "root mismatch", proof=_flipped(proof, j, bit))
            bad("flip-root", "root mismatch", root=_flip(root, size).hex())
            bad("flip-leaf", "root mismatch", leaf_hash=_flip(tree.subtree(0, index), 3).hex())
            bad("index-plus-1", "index >= size or root mismatch", index=index + 1)
            if index:
                bad("index-minus-1", "root mismatch", index=index - 1)
            bad("extra-hash", "extra hashes", proof=_hex([*proof, root]))
            if proof:
                bad("missing-hash", "missing hashes", proof=_hex(proof[:-1]))
                bad("short-hash", "hash not 32 bytes", proof=_hex([proof[0][:31], *proof[1:]]))
    first = {"leaf_hash": tree.subtree(0, 0).hex(), "index": 0, "proof": [], "root": ""}
    bad = _variants("leaf0", first, invalid)
    bad("size-0", "size 0", size=0, root=tree.root(0).hex())
    return {"valid": valid, "invalid": invalid}


def consistency_vectors(tree: MemoryTree) -> dict[str, Any]:
    valid: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for new in range(1, len(LEAVES) + 1):
        for old in range(1, new + 1):
            proof = consistency_proof(old, new, tree)
            case = {
                "old_size": old,
                "new_size": new,
                "old_root": tree.root(old).hex(),
                "new_root": tree.root(new).hex(),
                "proof": _hex(proof),
            }
            name = f"from-{old}-to-{new}"
            valid.append({"id": name, **case})
            bad = _variants(name, case, invalid)
            for j in range(len(proof)):
                bit = (old * 11 + new * 5 + j * 31) % 256
                bad(f"flip-proof{j}-bit{bit}", "root mismatch", proof=_flipped(proof, j, bit))
            bad("flip-old-root", "old root mismatch", old_root=_flip(tree.root(old), 9).hex())
            bad("flip-new-root", "new root mismatch", new_root=_flip(tree.root(new), 9).hex())
            bad("old-size-0", "old size 0", old_size=0)
            if old > 1:
                bad("old-minus-1", "root mismatch", old_size=old - 1)
            if old < new:
                bad("old-plus-1", "root mismatch or equal sizes", old_size=old + 1)
                bad("missing-hash", "missing hashes", proof=_hex(proof[:-1]))
                bad("extra-hash", "extra hashes", proof=_hex([*proof, tree.root(new)]))
                bad("swapped-sizes", "old size > new size", old_size=new, new_size=old)
            else:
                bad("equal-nonempty-proof", "equal sizes need an empty proof",
                    proof=_hex([tree.root(new)]))  # fmt: skip
                if new > 1:
                    bad("equal-other-root", "equal sizes, roots differ",
                        new_root=tree.root(new - 1).hex())  # fmt: skip
    return {"valid": valid, "invalid": invalid}


def _checkpoint_note(
    cp: Checkpoint, *, log: bool = True, witness: bool = True, time: int = COSIGN_TIME
) -> str:
    body = format_checkpoint(cp)
    sigs: list[NoteSignature] = []
    if log:
        sigs.append(sign_note(body, name=ORIGIN, key=LOG_KEY))
    if witness:
        sigs.append(cosign_checkpoint(body, name=WITNESS, key=WITNESS_KEY, timestamp=time))
    return format_note(body, sigs)


def _raw_signed(body: str) -> str:
    """A note signed by the log key over any text, even a malformed checkpoint."""
    sig = NoteSignature(ORIGIN, LOG_V.key_id, LOG_KEY.sign(body.encode()))
    return body + "\n" + sig.line


def _cosigned_by_two(cp: Checkpoint, *, second: bool = True) -> str:
    """``cp`` signed by the log, cosigned by witness 1 and (``second``) witness 2."""
    body = format_checkpoint(cp)
    sigs = [
        sign_note(body, name=ORIGIN, key=LOG_KEY),
        cosign_checkpoint(body, name=WITNESS, key=WITNESS_KEY, timestamp=COSIGN_TIME),
    ]
    if second:
        sigs.append(
            cosign_checkpoint(body, name=WITNESS2, key=WITNESS2_KEY, timestamp=COSIGN_TIME + 1)
        )
    return format_note(body, sigs)


def _bad_cosignature(note: str, name: str) -> str:
    """``note`` with one bit of ``name``'s cosignature flipped (its line stays well formed)."""
    lines = note.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"{EM} {name} "):
            raw = base64.b64decode(line.rsplit(" ", 1)[1])
            lines[i] = NoteSignature(name, raw[:4], _flip(raw[4:], 300)).line.rstrip("\n")
    return "\n".join(lines)


def note_vectors() -> dict[str, Any]:
    text = "provledger test note\nsecond line\n"
    signed = format_note(text, [sign_note(text, name=ORIGIN, key=LOG_KEY)])
    other = format_note(text, [sign_note(text, name=OTHER, key=OTHER_KEY)])
    both = format_note(
        text,
        [sign_note(text, name=OTHER, key=OTHER_KEY), sign_note(text, name=ORIGIN, key=LOG_KEY)],
    )
    sig_line = signed.split("\n\n", 1)[1]
    value = sig_line.rsplit(" ", 1)[1].rstrip("\n")
    raw = base64.b64decode(value)
    log_vkey = LOG_V.vkey()
    valid = [
        {
            "id": "c2sp-example",
            "note": C2SP_NOTE,
            "vkeys": [C2SP_VKEY],
            "text": "This is an example message.\n",
            "signers": ["example.com/foo"],
        },
        {
            "id": "test-log-key",
            "note": signed,
            "vkeys": [log_vkey],
            "text": text,
            "signers": [ORIGIN],
        },
        {
            "id": "unknown-key-ignored",
            "note": both,
            "vkeys": [log_vkey],
            "text": text,
            "signers": [ORIGIN],
        },
    ]

    def bad(name: str, note: str, reason: str, vkeys: list[str] | None = None) -> dict[str, Any]:
        return {
            "id": name,
            "note": note,
            "vkeys": vkeys or [log_vkey],
            "error": "CheckpointError",
            "reason": reason,
        }

    same_name_other_id = NoteSignature(ORIGIN, OTHER_V.key_id, OTHER_KEY.sign(text.encode()))
    invalid = [
        bad("unknown-key-only", other, "no known key signed"),
        bad("duplicate-signature", signed + sig_line, "two signatures by one known key"),
        bad(
            "bad-signature",
            text + "\n" + NoteSignature(ORIGIN, raw[:4], _flip(raw[4:], 77)).line,
            "known key's signature fails",
        ),
        bad(
            "bad-base64",
            text + "\n" + sig_line.replace(value, value[:-2] + "!="),
            "signature is not base64",
        ),
        bad(
            "non-canonical-base64",
            text + "\n" + sig_line.replace(value, _noncanonical(value)),
            "non-canonical base64 (unused bits set)",
        ),
        bad("no-trailing-newline", signed[:-1], "note does not end in a newline"),
        bad("no-blank-line", text + sig_line, "no blank line before the signatures"),
        bad("no-signatures", text + "\n", "no signature lines"),
        bad(
            "hyphen-not-em-dash",
            text + "\n" + sig_line.replace(EM, "-", 1),
            "signature line must start with an em dash",
        ),
        bad(
            "key-name-with-plus",
            text + "\n" + sig_line.replace(ORIGIN, ORIGIN + "+x", 1),
            "key names must not contain '+'",
        ),
        bad(
            "key-name-with-nbsp",
            text + "\n" + sig_line.replace(ORIGIN, ORIGIN + "\u00a0x", 1),
            "key names must not contain Unicode spaces",
        ),
        bad(
            "control-character",
            signed.replace("second", "sec\tond"),
            "control characters are not allowed",
        ),
        bad(
            "short-signature",
            text + "\n" + f"{EM} {ORIGIN} " + base64.b64encode(raw[:4]).decode() + "\n",
            "signature shorter than 5 bytes",
        ),
        bad(
            "same-name-other-key-id",
            format_note(text, [same_name_other_id]),
            "a name match without a key-id match is an unknown key",
        ),
        bad(
            "too-many-signatures",
            format_note(text, [sign_note(text, name=ORIGIN, key=LOG_KEY)])
            + sig_line.replace(ORIGIN, OTHER) * 100,
            "more than 100 signature lines",
        ),
    ]
    return {"valid": valid, "invalid": invalid}


def checkpoint_vectors(tree: MemoryTree) -> dict[str, Any]:
    cp = Checkpoint(ORIGIN, 8, tree.root(8))
    cp7 = Checkpoint(ORIGIN, 7, tree.root(7), ("provledger-extension example",))
    body = format_checkpoint(cp)
    log_vkey, witness_vkey = LOG_V.vkey(), WITNESS_V.vkey()
    base = {"origin": ORIGIN, "log_vkey": log_vkey, "witness_vkeys": [witness_vkey]}
    two = {**base, "witness_vkeys": [witness_vkey, WITNESS2_V.vkey()]}
    ledger_cp = Checkpoint(ORIGIN, 8, tree.root(8), LEDGER_EXTENSIONS)
    valid = [
        {
            "id": "size8-cosigned",
            "note": _checkpoint_note(cp),
            **base,
            "quorum": 1,
            "size": 8,
            "root": cp.root_hash.hex(),
            "extensions": [],
            "cosignature_times": {WITNESS: COSIGN_TIME},
        },
        {
            "id": "size8-no-quorum-needed",
            "note": _checkpoint_note(cp, witness=False),
            **base,
            "quorum": 0,
            "size": 8,
            "root": cp.root_hash.hex(),
            "extensions": [],
            "cosignature_times": {},
        },
        {
            "id": "size7-extension",
            "note": _checkpoint_note(cp7),
            **base,
            "quorum": 1,
            "size": 7,
            "root": cp7.root_hash.hex(),
            "extensions": list(cp7.extensions),
            "cosignature_times": {WITNESS: COSIGN_TIME},
        },
        {
            "id": "ledger-two-witnesses",
            "note": _cosigned_by_two(ledger_cp),
            **two,
            "quorum": 2,
            "size": 8,
            "root": ledger_cp.root_hash.hex(),
            "extensions": list(LEDGER_EXTENSIONS),
            "cosignature_times": {WITNESS: COSIGN_TIME, WITNESS2: COSIGN_TIME + 1},
        },
    ]
    root_b64 = base64.b64encode(cp.root_hash).decode()
    cosig = cosign_checkpoint(body, name=WITNESS, key=WITNESS_KEY, timestamp=COSIGN_TIME)
    moved = NoteSignature(
        WITNESS, cosig.key_id, (COSIGN_TIME + 1).to_bytes(8, "big") + cosig.signature[8:]
    )

    def bad(name: str, note: str, reason: str, quorum: int = 1, **changes: Any) -> dict[str, Any]:
        return {
            "id": name,
            "note": note,
            **base,
            "quorum": quorum,
            **changes,
            "error": "CheckpointError",
            "reason": reason,
        }

    invalid = [
        bad("log-signature-missing", _checkpoint_note(cp, log=False), "the log did not sign"),
        bad("quorum-not-met", _checkpoint_note(cp, witness=False), "no cosignature, quorum 1"),
        bad(
            "wrong-origin",
            _checkpoint_note(cp),
            "origin differs from the expected one",
            origin=OTHER,
        ),
        bad(
            "cosignature-time-changed",
            format_note(body, [sign_note(body, name=ORIGIN, key=LOG_KEY), moved]),
            "the cosignature covers its timestamp",
        ),
        bad(
            "size-leading-zero",
            _raw_signed(f"{ORIGIN}\n08\n{root_b64}\n"),
            "tree size with a leading zero",
        ),
        bad(
            "size-not-decimal",
            _raw_signed(f"{ORIGIN}\n+8\n{root_b64}\n"),
            "tree size is not plain decimal",
        ),
        bad(
            "root-31-bytes",
            _raw_signed(f"{ORIGIN}\n8\n{base64.b64encode(cp.root_hash[:31]).decode()}\n"),
            "root hash is not 32 bytes",
        ),
        bad("two-lines", _raw_signed(f"{ORIGIN}\n8\n"), "fewer than three lines"),
        bad("empty-origin", _raw_signed(f"\n8\n{root_b64}\n"), "empty origin line"),
        {
            **bad("ledger-quorum-2-one-witness", _cosigned_by_two(ledger_cp, second=False),
                  "quorum 2, only witness 1 cosigned", quorum=2),
            **two,
        },
        {
            **bad("ledger-second-cosignature-bad",
                  _bad_cosignature(_cosigned_by_two(ledger_cp), WITNESS2),
                  "a trusted witness's cosignature fails, though witness 1 meets quorum 1"),
            **two,
        },
    ]
    return {"valid": valid, "invalid": invalid}


def tlog_proof_vectors(tree: MemoryTree) -> dict[str, Any]:
    cp = Checkpoint(ORIGIN, 8, tree.root(8))
    note = _checkpoint_note(cp)
    proof = inclusion_proof(3, 8, tree)
    text = format_tlog_proof(TlogProof(3, tuple(proof), note, b"provledger entry 3"))
    plain = format_tlog_proof(TlogProof(6, tuple(inclusion_proof(6, 8, tree)), note))
    ledger_cp = Checkpoint(ORIGIN, 8, tree.root(8), LEDGER_EXTENSIONS)
    proof5 = tuple(inclusion_proof(5, 8, tree))
    cosigned5 = format_tlog_proof(TlogProof(5, proof5, _cosigned_by_two(ledger_cp)))
    base = {
        "origin": ORIGIN,
        "log_vkey": LOG_V.vkey(),
        "witness_vkeys": [WITNESS_V.vkey()],
        "quorum": 1,
    }
    two = {**base, "witness_vkeys": [WITNESS_V.vkey(), WITNESS2_V.vkey()], "quorum": 2}
    valid = [
        {
            "id": "entry3-extra",
            "text": text,
            "leaf_hash": leaf_hash(LEAVES[3]).hex(),
            **base,
            "index": 3,
            "extra": b"provledger entry 3".hex(),
            "proof": _hex(proof),
        },
        {
            "id": "entry6",
            "text": plain,
            "leaf_hash": leaf_hash(LEAVES[6]).hex(),
            **base,
            "index": 6,
            "extra": None,
            "proof": _hex(inclusion_proof(6, 8, tree)),
        },
        {
            "id": "entry5-two-witnesses",
            "text": cosigned5,
            "leaf_hash": leaf_hash(LEAVES[5]).hex(),
            **two,
            "index": 5,
            "extra": None,
            "proof": _hex(inclusion_proof(5, 8, tree)),
        },
    ]
    first_hash = base64.b64encode(proof[0]).decode()

    def bad(
        name: str,
        bad_text: str,
        reason: str,
        error: str = "CheckpointError",
        leaf: bytes = LEAVES[3],
    ) -> dict[str, Any]:
        return {
            "id": name,
            "text": bad_text,
            "leaf_hash": leaf_hash(leaf).hex(),
            **base,
            "error": error,
            "reason": reason,
        }

    flipped = base64.b64encode(_flip(proof[0], 100)).decode()
    invalid = [
        bad("wrong-header", text.replace("tlog-proof@v1", "tlog-proof@v2", 1), "unknown header"),
        bad("index-leading-zero", text.replace("index 3", "index 03", 1), "index not canonical"),
        bad("no-index", text.replace("index 3\n", "", 1), "no index line"),
        bad(
            "hash-31-bytes",
            text.replace(first_hash, base64.b64encode(proof[0][:31]).decode()),
            "proof hash not 32 bytes",
        ),
        bad("empty-extra", text.replace(text.split("\n")[1], "extra ", 1), "empty extra"),
        bad(
            "flipped-proof-hash",
            text.replace(first_hash, flipped),
            "inclusion proof fails",
            "ProofError",
        ),
        bad(
            "wrong-index",
            text.replace("index 3", "index 2", 1),
            "inclusion proof fails",
            "ProofError",
        ),
        bad(
            "wrong-entry", text, "inclusion proof fails for another entry", "ProofError", LEAVES[4]
        ),
        bad(
            "checkpoint-unsigned-by-log",
            format_tlog_proof(TlogProof(3, tuple(proof), _checkpoint_note(cp, log=False))),
            "checkpoint lacks the log signature",
        ),
        {
            **bad(
                "two-witnesses-one-cosigned",
                format_tlog_proof(
                    TlogProof(5, proof5, _cosigned_by_two(ledger_cp, second=False))
                ),
                "quorum 2, only witness 1 cosigned",
                leaf=LEAVES[5],
            ),
            **two,
        },
    ]
    return {"valid": valid, "invalid": invalid}


def receipt_vectors(tree: MemoryTree) -> dict[str, Any]:
    kid = key_id(LOG_KEY.public_key)
    pk = LOG_KEY.public_key.hex()

    def receipt(index: int, size: int) -> bytes:
        return make_receipt(
            LOG_KEY,
            kid=kid,
            leaf_index=index,
            tree_size=size,
            proof=inclusion_proof(index, size, tree),
            root=tree.root(size),
        )

    valid = []
    for index, size in ((3, 8), (6, 7), (4, 5)):
        valid.append(
            {
                "id": f"leaf{index}-of-{size}",
                "receipt": receipt(index, size).hex(),
                "leaf_hash": tree.subtree(0, index).hex(),
                "public_key": pk,
                "root": tree.root(size).hex(),
            }
        )
    good = receipt(3, 8)
    decoded = cbor2.loads(good)
    protected, unprotected, _, signature = decoded.value
    inclusion = unprotected[396][-1][0]

    def rebuild(
        p: bytes = protected,
        u: Any = unprotected,
        payload: Any = None,
        s: bytes = signature,
        tag: int = 18,
    ) -> str:
        return cbor2.dumps(cbor2.CBORTag(tag, [p, u, payload, s]), canonical=True).hex()

    def with_proof(value: list[Any]) -> dict[int, Any]:
        return {396: {-1: [cbor2.dumps(value, canonical=True)]}}

    size8, idx3, path = cbor2.loads(inclusion)

    def bad(
        name: str, data: str, error: str, reason: str, leaf: bytes | None = None
    ) -> dict[str, Any]:
        return {
            "id": name,
            "receipt": data,
            "leaf_hash": (leaf or tree.subtree(0, 3)).hex(),
            "public_key": pk,
            "error": error,
            "reason": reason,
        }

    def signed(p: bytes, u: Any, root: bytes) -> str:
        """A receipt well signed by the log key over ``root``: only its shape is at fault."""
        sig = LOG_KEY.sign(cbor2.dumps(["Signature1", p, b"", root], canonical=True))
        return rebuild(p=p, u=u, s=sig)

    raw_kid = cbor2.dumps({1: -8, 4: LOG_KEY.public_key, 395: 1}, canonical=True)
    no_kid = cbor2.dumps({1: -8, 395: 1}, canonical=True)
    es256 = cbor2.dumps({1: -7, 4: kid, 395: 1}, canonical=True)
    vds2 = cbor2.dumps({1: -8, 4: kid, 395: 2}, canonical=True)
    invalid = [
        bad(
            "flipped-signature",
            rebuild(s=_flip(signature, 200)),
            "SignatureError",
            "signature does not verify",
        ),
        bad(
            "wrong-leaf",
            good.hex(),
            "SignatureError",
            "recomputed root is another root",
            tree.subtree(0, 4),
        ),
        bad(
            "flipped-path-hash",
            rebuild(u=with_proof([size8, idx3, [_flip(path[0], 5), *path[1:]]])),
            "SignatureError",
            "recomputed root is another root",
        ),
        bad(
            "untagged",
            cbor2.dumps([protected, unprotected, None, signature], canonical=True).hex(),
            "DecodeError",
            "not tag 18",
        ),
        bad("wrong-tag", rebuild(tag=98), "DecodeError", "tag 98 is COSE_Sign, not Sign1"),
        bad(
            "attached-payload",
            rebuild(payload=tree.root(8)),
            "DecodeError",
            "payload must be detached",
        ),
        bad(
            "kid-raw-public-key",
            signed(raw_kid, unprotected, tree.root(8)),
            "UnknownKeyError",
            "kid is the raw public key, not its SHA-256",
        ),
        bad("no-kid", signed(no_kid, unprotected, tree.root(8)), "DecodeError", "no kid"),
        {
            "id": "leaf0-of-1",
            "receipt": signed(protected, with_proof([1, 0, []]), tree.root(1)),
            "leaf_hash": tree.subtree(0, 0).hex(),
            "public_key": pk,
            "error": "DecodeError",
            "reason": "empty inclusion path: RFC 9942 needs [+ bstr]",
        },
        bad("alg-es256", rebuild(p=es256), "DecodeError", "alg is not EdDSA"),
        bad("vds-2", rebuild(p=vds2), "DecodeError", "vds is not RFC9162_SHA256"),
        bad("no-vdp", rebuild(u={}), "DecodeError", "no inclusion proof"),
        bad(
            "two-proofs",
            rebuild(u={396: {-1: [inclusion, inclusion]}}),
            "DecodeError",
            "more than one inclusion proof",
        ),
        bad(
            "index-equals-size",
            rebuild(u=with_proof([8, 8, path])),
            "ProofError",
            "leaf index >= tree size",
        ),
        bad(
            "extra-path-hash",
            rebuild(u=with_proof([size8, idx3, [*path, path[0]]])),
            "ProofError",
            "extra hashes",
        ),
        bad(
            "missing-path-hash",
            rebuild(u=with_proof([size8, idx3, path[:-1]])),
            "ProofError",
            "missing hashes",
        ),
        bad(
            "non-canonical",
            "d284" + good.hex()[4:].replace("a119018c", "b9000119018c", 1),
            "DecodeError",
            "not deterministic CBOR",
        ),
    ]
    return {"valid": valid, "invalid": invalid}


def receipt_checkpoint_vectors(tree: MemoryTree) -> dict[str, Any]:
    """Receipts carrying their cosigned checkpoint (spec/log.md 6.2)."""
    kid = key_id(LOG_KEY.public_key)
    ledger_cp = Checkpoint(ORIGIN, 8, tree.root(8), LEDGER_EXTENSIONS)
    cosigned = _cosigned_by_two(ledger_cp)
    log_only = _checkpoint_note(ledger_cp, witness=False)

    def receipt(note: Any, index: int = 3, size: int = 8) -> bytes:
        proof = inclusion_proof(index, size, tree)
        data = make_receipt(LOG_KEY, kid=kid, leaf_index=index, tree_size=size, proof=proof,
                            root=tree.root(size))
        if note is None:
            return data
        decoded = cbor2.loads(data)
        protected, unprotected, _, signature = decoded.value
        carried = {**unprotected, HEADER_CHECKPOINT: note}
        return cbor2.dumps(cbor2.CBORTag(18, [protected, carried, None, signature]),
                           canonical=True)

    base = {
        "leaf_hash": tree.subtree(0, 3).hex(),
        "log_vkey": LOG_V.vkey(),
        "witness_vkeys": [WITNESS_V.vkey(), WITNESS2_V.vkey()],
    }
    assert receipt(cosigned) == make_receipt(
        LOG_KEY, kid=kid, leaf_index=3, tree_size=8, proof=inclusion_proof(3, 8, tree),
        root=tree.root(8), checkpoint=cosigned,
    )  # fmt: skip
    valid = [
        {
            "id": "leaf3-of-8-two-witnesses",
            "receipt": receipt(cosigned).hex(),
            **base,
            "quorum": 2,
            "size": 8,
            "root": tree.root(8).hex(),
            "cosignature_times": {WITNESS: COSIGN_TIME, WITNESS2: COSIGN_TIME + 1},
        },
        {
            "id": "leaf3-of-8-no-quorum-needed",
            "receipt": receipt(log_only).hex(),
            **base,
            "quorum": 0,
            "size": 8,
            "root": tree.root(8).hex(),
            "cosignature_times": {},
        },
    ]

    def bad(name: str, data: bytes, error: str, reason: str, quorum: int = 1) -> dict[str, Any]:
        return {"id": name, "receipt": data.hex(), **base, "quorum": quorum, "error": error,
                "reason": reason}

    other_root = Checkpoint(ORIGIN, 8, tree.root(7), LEDGER_EXTENSIONS)
    size7 = Checkpoint(ORIGIN, 7, tree.root(7), LEDGER_EXTENSIONS)
    good = cbor2.loads(receipt(cosigned))
    protected, unprotected, _, signature = good.value
    flipped = cbor2.dumps(
        cbor2.CBORTag(18, [protected, unprotected, None, _flip(signature, 9)]), canonical=True
    )
    invalid = [
        bad("no-checkpoint", receipt(None), "DecodeError", "the receipt carries no checkpoint"),
        bad("checkpoint-not-text", receipt(cosigned.encode()), "DecodeError",
            "the carried checkpoint is a byte string, not text"),
        bad("checkpoint-of-size-7", receipt(_cosigned_by_two(size7)), "CheckpointError",
            "the carried checkpoint is of another tree size than the receipt"),
        bad("checkpoint-other-root", receipt(_cosigned_by_two(other_root)), "CheckpointError",
            "the carried checkpoint's root is not the root the proof leads to"),
        bad("quorum-not-met", receipt(log_only), "QuorumError",
            "no witness cosigned, quorum 1"),
        bad("quorum-2-one-witness", receipt(_cosigned_by_two(ledger_cp, second=False)),
            "QuorumError", "quorum 2, only witness 1 cosigned", quorum=2),
        bad("bad-cosignature", receipt(_bad_cosignature(cosigned, WITNESS)), "CheckpointError",
            "a trusted witness's cosignature fails"),
        bad("checkpoint-not-signed-by-log",
            receipt(_checkpoint_note(ledger_cp, log=False)), "CheckpointError",
            "the carried checkpoint lacks the log's signature"),
        bad("receipt-signature-bad", flipped, "SignatureError",
            "the receipt's own signature fails; the carried checkpoint is fine"),
    ]
    return {"valid": valid, "invalid": invalid}


def key_vectors() -> dict[str, Any]:
    return {
        "description": "Test keys; each seed is SHA-256 of the ASCII string given.",
        "keys": [
            {
                "role": "log",
                "seed_of": "provledger test log key",
                "name": ORIGIN,
                "public_key": LOG_KEY.public_key.hex(),
                "vkey": LOG_V.vkey(),
                "cose_kid": key_id(LOG_KEY.public_key).hex(),
            },
            {
                "role": "witness",
                "seed_of": "provledger test witness key",
                "name": WITNESS,
                "public_key": WITNESS_KEY.public_key.hex(),
                "vkey": WITNESS_V.vkey(),
            },
            {
                "role": "other",
                "seed_of": "provledger test other key",
                "name": OTHER,
                "public_key": OTHER_KEY.public_key.hex(),
                "vkey": OTHER_V.vkey(),
            },
            {
                "role": "witness 2",
                "seed_of": "provledger test witness key 2",
                "name": WITNESS2,
                "public_key": WITNESS2_KEY.public_key.hex(),
                "vkey": WITNESS2_V.vkey(),
            },
        ],
    }


def generate(out: Path) -> list[Path]:
    """Write every vector file into ``out``; return the paths written."""
    tree = _tree()
    makers: dict[str, Callable[[], dict[str, Any]]] = {
        "tree.json": lambda: tree_vectors(tree),
        "inclusion.json": lambda: inclusion_vectors(tree),
        "consistency.json": lambda: consistency_vectors(tree),
        "keys.json": key_vectors,
        "notes.json": note_vectors,
        "checkpoints.json": lambda: checkpoint_vectors(tree),
        "tlog_proofs.json": lambda: tlog_proof_vectors(tree),
        "receipts.json": lambda: receipt_vectors(tree),
        "receipt_checkpoints.json": lambda: receipt_checkpoint_vectors(tree),
    }
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in makers.items():
        path = out / name
        path.write_text(json.dumps(make(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    example = out / "entry3.tlog-proof"
    example.write_text(tlog_proof_vectors(tree)["valid"][0]["text"], encoding="utf-8")
    written.append(example)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "spec" / "vectors" / "log"
    for path in generate(out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
