"""Independent checker for spec/vectors/core, written from spec/protocol.md alone.

It does not import provledger: only cbor2 and pynacl. It checks what can be
checked without the rules engine: the COSE_Sign1 shape, deterministic CBOR,
Ed25519 signatures, the payload/kid binding, each subject's hash chain, and
the log entries (index, time order, embedded statement). Invalid vectors of level
"format" must fail here too.

Usage: python spec/tools/check_core_vectors.py [VECTOR_DIR]; exits 1 on any
disagreement.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import cbor2
import nacl.exceptions
import nacl.signing

CONTENT_TYPE = "application/vnd.provledger.statement+cbor"
EVENT_TYPES = {
    "cert.issued", "cert.attested", "cert.renewed", "cert.revoked", "repair.recorded",
    "appraisal.recorded", "lost.reported", "stolen.reported", "recovered", "role.granted",
    "role.revoked", "key.rotated", "key.revoked",
}


class InvalidError(Exception):
    """The bytes are not a valid provledger statement or entry."""


def _canonical(data: bytes, what: str) -> Any:
    try:
        value = cbor2.loads(data)
    except Exception as exc:
        raise InvalidError(f"{what}: not CBOR ({exc})") from None
    if cbor2.dumps(value, canonical=True) != data:
        raise InvalidError(f"{what}: not deterministic CBOR")
    return value


def _no_floats(value: Any) -> None:
    if isinstance(value, float):
        raise InvalidError("payload: floating-point value")
    if isinstance(value, dict):
        for v in value.values():
            _no_floats(v)
    if isinstance(value, list | tuple):
        for v in value:
            _no_floats(v)


def check_statement(data: bytes) -> dict[str, Any]:
    """Return the payload of a valid statement; raise Invalid otherwise."""
    outer = _canonical(data, "statement")
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != 18 or len(outer.value) != 4:
        raise InvalidError("statement: not a COSE_Sign1 (tag 18, 4 elements)")
    protected, unprotected, payload, signature = outer.value
    if unprotected != {}:
        raise InvalidError("statement: unprotected header not empty")
    header = _canonical(protected, "protected header")
    kid = header.get(4) if isinstance(header, dict) else None
    if not isinstance(kid, bytes) or header != {1: -8, 3: CONTENT_TYPE, 4: kid} or len(kid) != 32:
        raise InvalidError("statement: protected header is not {1: -8, 3: cty, 4: kid}")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes) or len(signature) != 64:
        raise InvalidError("statement: payload or signature of the wrong type")
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    try:
        nacl.signing.VerifyKey(kid).verify(tbs, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        raise InvalidError("statement: bad signature") from None
    body = _canonical(payload, "payload")
    _no_floats(body)
    expected = {"v", "log", "prev", "time", "type", "event", "signer", "subject"}
    if not isinstance(body, dict) or set(body) != expected:
        raise InvalidError("payload: wrong set of fields")
    if body["signer"] != kid or body["v"] != 1 or body["type"] not in EVENT_TYPES:
        raise InvalidError("payload: signer, version or type is wrong")
    if not isinstance(body["event"], dict) or any(v in ("", []) for v in body["event"].values()):
        raise InvalidError("payload: event body is not a map, or encodes a default explicitly")
    return body


def check_valid(vectors: list[dict[str, Any]], origin: str) -> int:
    heads: dict[str, bytes] = {}
    last_time = 0
    for i, v in enumerate(vectors):
        stmt = bytes.fromhex(v["statement"])
        body = check_statement(stmt)
        digest = hashlib.sha256(stmt).digest()
        if digest.hex() != v["hash"] or body["log"] != origin:
            raise InvalidError(f"{v['name']}: hash or origin mismatch")
        if body["prev"] != heads.get(body["subject"]):
            raise InvalidError(f"{v['name']}: prev does not link to the subject's head")
        heads[body["subject"]] = digest
        entry = _canonical(bytes.fromhex(v["entry"]), "entry")
        if entry != {"time": v["time"], "index": i, "statement": stmt} or v["time"] < last_time:
            raise InvalidError(f"{v['name']}: entry does not wrap the statement at index {i}")
        last_time = v["time"]
    return len(vectors)


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "vectors/core"
    meta = json.loads((root / "ledger.json").read_text())
    valid = json.loads((root / "valid.json").read_text())
    invalid = json.loads((root / "invalid.json").read_text())
    failures = 0
    try:
        n = check_valid(valid, meta["origin"])
        print(f"valid: {n} statements and entries check out")
    except InvalidError as exc:
        print(f"FAIL valid: {exc}")
        failures += 1
    checked = 0
    for v in invalid:
        if v["level"] != "format":
            continue
        checked += 1
        try:
            check_statement(bytes.fromhex(v["statement"]))
        except InvalidError:
            continue
        print(f"FAIL invalid/{v['name']}: accepted, expected {v['error']}")
        failures += 1
    print(f"invalid: {checked} format-level vectors rejected, {failures} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
