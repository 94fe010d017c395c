"""Regenerate spec/vectors/witness/ deterministically from provledger itself.

One witness, one log, a fixed sequence of add-checkpoint requests against a
fresh state: every status tlog-witness names, in an order where each request
sees the state the earlier ones left. Keys are SHA-256 of fixed strings and
every cosigning time is fixed, so running this twice gives byte-identical
files; tests/test_witness.py checks that the committed files are exactly what
this script writes, and replays them against provledger's witness.

Example:
    python spec/tools/gen_witness_vectors.py spec/vectors/witness
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
try:
    import provledger  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(ROOT / "src"))

from provledger._keys import SigningKey  # noqa: E402
from provledger._merkle import MemoryTree, consistency_proof  # noqa: E402
from provledger._note import (  # noqa: E402
    Checkpoint,
    NoteSignature,
    NoteVerifier,
    format_checkpoint,
    format_note,
    sign_note,
)
from provledger._witness import Witness, WitnessState, origin_hash  # noqa: E402
from provledger._witness_dir import PolicyLog  # noqa: E402
from provledger._witness_wire import format_add_checkpoint  # noqa: E402

ORIGIN = "log.provledger.example/test"
WITNESS = "witness.provledger.example/w1"
OTHER = "other.provledger.example/log"
SEEDS = {"log": "provledger test log key", "witness": "provledger test witness key",
         "other": "provledger test other key"}
T0 = 1700000000

#: The example request body of c2sp.org/tlog-witness, byte for byte.
C2SP_EXAMPLE = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks"
    "+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
).encode()


def _key(role: str) -> SigningKey:
    return SigningKey(hashlib.sha256(SEEDS[role].encode()).digest())


LOG_KEY, WITNESS_KEY, OTHER_KEY = _key("log"), _key("witness"), _key("other")
LOG_V = NoteVerifier(ORIGIN, LOG_KEY.public_key)


def _tree(tag: bytes, n: int = 8) -> MemoryTree:
    """Leaves ``entry 0`` .. ; a fork differs from leaf 5 on."""
    tree = MemoryTree()
    for i in range(n):
        tree.append(b"entry %d" % i if i < 5 else tag + b" entry %d" % i)
    return tree


def _note(tree: MemoryTree, size: int, *, key: SigningKey = LOG_KEY, name: str = ORIGIN,
          origin: str = ORIGIN, root: bytes | None = None) -> str:
    body = format_checkpoint(Checkpoint(origin, size, tree.root(size) if root is None else root))
    return format_note(body, [sign_note(body, name=name, key=key)])


def _flip_signature(note: str) -> str:
    text, _, line = note.rpartition("\n\n")
    name, value = line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(value))
    raw[10] ^= 1
    return f"{text}\n\n{name} {base64.b64encode(bytes(raw)).decode()}\n"


def requests() -> list[tuple[str, bytes, str]]:
    """(id, request body, what it shows) in the order they are sent."""
    main, fork = _tree(b"main"), _tree(b"fork")
    p46 = consistency_proof(4, 6, main)
    bad_p68 = list(consistency_proof(6, 8, main))
    bad_p68[0] = bytes([bad_p68[0][0] ^ 1]) + bad_p68[0][1:]
    unknown = NoteSignature(OTHER, NoteVerifier(OTHER, OTHER_KEY.public_key).key_id,
                            b"\x00" * 64)
    body4 = format_checkpoint(Checkpoint(ORIGIN, 4, main.root(4)))
    return [
        ("c2sp-example", C2SP_EXAMPLE,
         "the tlog-witness example body, verbatim: parses; its origin is not served (404)"),
        ("malformed-no-separator", b"old 0\n" + _note(main, 4).encode(),
         "no empty line after the head, so checkpoint lines read as proof lines (400)"),
        ("malformed-old-leading-zero", format_add_checkpoint(0, [], _note(main, 4))
         .replace(b"old 0", b"old 00", 1), "old size '00' is not canonical decimal (400)"),
        ("unknown-origin", format_add_checkpoint(0, [], _note(main, 4, key=OTHER_KEY,
                                                              name=OTHER, origin=OTHER)),
         "a checkpoint of a log the witness does not serve (404)"),
        ("unsigned-by-log", format_add_checkpoint(0, [], _note(main, 4, key=OTHER_KEY,
                                                               name=OTHER)),
         "only an unknown key signed; it is ignored, so no trusted signature (403)"),
        ("bad-log-signature", format_add_checkpoint(0, [], _flip_signature(_note(main, 4))),
         "the log key's name and id, but the signature fails (403)"),
        ("old-exceeds-size", format_add_checkpoint(5, [], _note(main, 4)),
         "old size 5 > checkpoint size 4 (400)"),
        ("size0-wrong-root", format_add_checkpoint(0, [], _note(main, 0, root=main.root(1))),
         "a size-0 checkpoint whose root is not SHA-256('') (422)"),
        ("proof-with-old-0", format_add_checkpoint(0, [main.root(1)], _note(main, 4)),
         "old size 0 with a proof line (422)"),
        ("first", format_add_checkpoint(0, [], format_note(body4, [
            unknown, sign_note(body4, name=ORIGIN, key=LOG_KEY)])),
         "the first checkpoint (size 4), with an unknown signature that is ignored (200)"),
        ("stale-old-size", format_add_checkpoint(0, [], _note(main, 6)),
         "old size 0, but the witness recorded 4: the body is '4\\n' (409)"),
        ("grow-4-to-6", format_add_checkpoint(4, p46, _note(main, 6)),
         "a valid consistency proof from 4 to 6 (200)"),
        ("bad-proof", format_add_checkpoint(6, bad_p68, _note(main, 8)),
         "a proof from 6 to 8 with one bit flipped (422, kept as evidence)"),
        ("fork", format_add_checkpoint(6, consistency_proof(6, 8, fork), _note(fork, 8)),
         "a fork: valid within its own tree, not from the recorded root (422, evidence)"),
        ("same-size-other-root", format_add_checkpoint(6, [], _note(fork, 6)),
         "the recorded size with another root (422, evidence)"),
        ("same-again", format_add_checkpoint(6, [], _note(main, 6)),
         "the recorded checkpoint again: cosigned again, at the new time (200)"),
        ("grow-6-to-8", format_add_checkpoint(6, consistency_proof(6, 8, main), _note(main, 8)),
         "a valid consistency proof from 6 to 8 (200)"),
    ]


def generate(out: Path) -> list[Path]:
    """Write every vector file into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(name: str, data: bytes) -> str:
        path = out / name
        path.write_bytes(data)
        written.append(path)
        return name

    log = PolicyLog(LOG_V, "https://log.provledger.example/test")
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        witness = Witness(name=WITNESS, key=WITNESS_KEY, logs={ORIGIN: [LOG_V]},
                          state=WitnessState(Path(tmp) / "state.db", create=True))
        try:
            for number, (name, body, about) in enumerate(requests(), 1):
                now = T0 + number
                answer = witness.add_checkpoint(body, now=now)
                stem = f"{number:02d}-{name}"
                steps.append({
                    "id": name, "about": about, "now": now,
                    "request": write(f"{stem}.request", body),
                    "status": answer.status, "content_type": answer.content_type,
                    "response": write(f"{stem}.response", answer.body),
                    "body_normative": answer.status in (200, 409),
                })
            evidence = [e.reason for e in witness.state.evidence()]
            monitoring = witness.checkpoint(origin_hash(ORIGIN))
        finally:
            witness.close()
    assert monitoring is not None
    manifest = {
        "description": "c2sp.org/tlog-witness add-checkpoint exchanges with provledger's "
                       "witness (spec/witness.md). Send the requests in order to a fresh "
                       "witness serving the one log, cosigning at `now`; each answer must "
                       "have the status and content type given, and where body_normative "
                       "is true, the response bytes exactly (error texts are "
                       "provledger's own words).",
        "witness": {"name": WITNESS, "seed_sha256_of": SEEDS["witness"],
                    "vkey": witness.verifier.vkey(),
                    "vkey_file": write("witness.vkey", (witness.verifier.vkey() + "\n").encode())},
        "log": {"origin": ORIGIN, "seed_sha256_of": SEEDS["log"], "vkey": LOG_V.vkey(),
                "logs_policy": write("logs.policy", log.line().encode())},
        "other_key": {"name": OTHER, "seed_sha256_of": SEEDS["other"]},
        "steps": steps,
        "evidence_count": len(evidence),
        "monitoring": {
            "path": f"{origin_hash(ORIGIN)}/checkpoint",
            "response": write("monitoring.checkpoint", monitoring.encode()),
            "content_type": "text/plain; charset=utf-8",
        },
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    write("manifest.json", text.encode())
    return written


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "spec" / "vectors" / "witness"
    for path in generate(out):
        print(path)


if __name__ == "__main__":
    main()
