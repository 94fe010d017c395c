"""Independent checker for spec/vectors/core, written from spec/protocol.md alone.

It does not import provledger: only cbor2 and pynacl. It checks what can be
checked without the rules engine: the COSE_Sign1 shape, deterministic CBOR,
Ed25519 signatures, the payload/kid binding, each subject's hash chain, and
the log entries (index, time order, embedded statement), and that no text in
an event holds a control or bidi character (protocol.md section 2). Invalid
vectors of level "format" must fail here too. It also applies the item-id
rules of protocol.md 4.3 (canonical form, issuer scope) to every cert.issued,
with the issuers' scopes taken from the valid story's grants, and rejects the
invalid vectors that must fail with NonCanonicalItemIdError or OutOfScopeError.

Usage: python spec/tools/check_core_vectors.py [VECTOR_DIR]; exits 1 on any
disagreement. VECTOR_DIR defaults to spec/vectors/core; spec/vectors/escrow,
spec/vectors/aftercare and spec/vectors/recovery have the same layout and are
checked the same way (their event types are known here; their rules are not).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import cbor2
import nacl.exceptions
import nacl.signing

CONTENT_TYPE = "application/vnd.provledger.statement+cbor"
EVENT_TYPES = {
    "cert.issued", "cert.attested", "cert.renewed", "cert.revoked", "cert.reaffirmed",
    "repair.recorded",
    "appraisal.recorded", "lost.reported", "stolen.reported", "recovered", "role.granted",
    "role.revoked", "key.rotated", "key.revoked",
    # escrow.md and aftercare.md: the same statements, so this checker also
    # runs over spec/vectors/escrow and spec/vectors/aftercare
    "escrow.opened", "escrow.accepted", "escrow.declined", "escrow.cancelled",
    "escrow.acknowledged", "escrow.rejected", "escrow.disputed", "escrow.resolution",
    "care.enrolled", "care.renewed", "care.cancelled", "care.consented", "care.redeemed",
    "repair.requested", "repair.received", "repair.progress", "repair.ready",
    "repair.collected", "repair.cancelled",
    # recovery.md (spec/vectors/recovery)
    "owner.rotated", "recovery.started", "recovery.cancelled",
}


class InvalidError(Exception):
    """The bytes are not a valid provledger statement or entry."""


# protocol.md section 2: characters no text field may hold; LF is allowed in
# the multi-line fields only.
FORBIDDEN_IN_TEXT = frozenset(
    [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u061c", *map(chr, range(0x200B, 0x2010)), *map(chr, range(0x2028, 0x202F)),
       *map(chr, range(0x2066, 0x206A)), "\ufeff"])
MULTI_LINE_FIELDS = frozenset({"notes", "work"})


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


def _check_text(value: Any, field: str) -> None:
    """Every text in an event body obeys the character rule (nested maps too)."""
    if isinstance(value, str):
        bad = set(value) & FORBIDDEN_IN_TEXT
        if field in MULTI_LINE_FIELDS:
            bad.discard("\n")
        if bad:
            raise InvalidError(f"event field {field!r}: forbidden characters "
                               f"{sorted(f'U+{ord(c):04X}' for c in bad)}")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(v, str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            _check_text(v, field)


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
    _check_text(body["event"], "event")
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


# -- item ids (protocol.md 4.3) ---------------------------------------------------------

AUTHORITY = "provledger:authority:"
ITEM_ID_ERRORS = frozenset({"NonCanonicalItemIdError", "OutOfScopeError"})
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?")
# A serial character: one a path segment carries as itself, or one of the six
# escapes %22 %25 %2F %3C %3E %3F (upper-case hex), 1 to 20 of them.
GS1_ID = re.compile(r"https://([^/]+)/01/([0-9]{14})/21/"
                    r"((?:[A-Za-z0-9!&'()*+,\-.:;=_]|%2[25F]|%3[CEF]){1,20})")
URN_ID = re.compile(r"urn:provledger:item:([0-9a-f]{16}):([A-Za-z0-9._~-]{1,64})")


def _gtin_ok(gtin: str) -> bool:
    digits = [int(c) for c in gtin.zfill(14)]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(digits[:13]))
    return (10 - total % 10) % 10 == digits[13]


def authorities(vectors: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str], list[str]]]:
    """Each key of the valid story -> (its authority's chain id, GS1 prefixes, domains)."""
    chain: dict[bytes, str] = {}
    scope: dict[str, tuple[list[str], list[str]]] = {}
    for v in vectors:
        body = check_statement(bytes.fromhex(v["statement"]))
        event = body["event"]
        if body["type"] == "role.granted":
            chain.setdefault(event["key"], body["subject"])
            if event["role"] == "issuer":
                scope[body["subject"]] = (event.get("gs1_prefixes", []),
                                          event.get("domains", []))
        elif body["type"] == "key.rotated":
            chain[event["new_key"]] = body["subject"]
    return {k: (c, *scope.get(c, ([], []))) for k, c in chain.items()}


def check_item_id(body: dict[str, Any],
                  auths: dict[bytes, tuple[str, list[str], list[str]]]) -> None:
    """A cert.issued's subject is a canonical item id within its signer's scope."""
    if body["type"] != "cert.issued":
        return
    subject, event = body["subject"], body["event"]
    chain, prefixes, domains = auths.get(body["signer"], ("", [], []))
    gtin = event.get("gtin", "")
    gs1, urn = GS1_ID.fullmatch(subject), URN_ID.fullmatch(subject)
    if gs1:
        if not DOMAIN.fullmatch(gs1[1]) or len(gs1[1]) > 253 or not _gtin_ok(gs1[2]):
            raise InvalidError(f"item id {subject}: not canonical")
        if gs1[1] not in domains:
            raise InvalidError(f"item id {subject}: domain outside the issuer's scope")
        gtin = gs1[2]
    elif urn:
        tag = hashlib.sha256(bytes.fromhex(chain.removeprefix(AUTHORITY))).hexdigest()[:16]
        if not chain or urn[1] != tag:
            raise InvalidError(f"item id {subject}: another issuer's tag")
    else:
        raise InvalidError(f"item id {subject}: not canonical")
    if gtin and not any(gtin.zfill(14)[1:].startswith(p) for p in prefixes):
        raise InvalidError(f"item id {subject}: GTIN {gtin} outside the issuer's scope")


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
    auths = authorities(valid)
    for v in valid:
        try:
            check_item_id(check_statement(bytes.fromhex(v["statement"])), auths)
        except InvalidError as exc:
            print(f"FAIL valid/{v['name']}: {exc}")
            failures += 1
    for v in invalid:
        if v["error"] not in ITEM_ID_ERRORS:
            continue
        checked += 1
        try:
            check_item_id(check_statement(bytes.fromhex(v["statement"])), auths)
        except InvalidError:
            continue
        print(f"FAIL invalid/{v['name']}: accepted, expected {v['error']}")
        failures += 1
    print(f"invalid: {checked} format-level and item-id vectors rejected, "
          f"{failures} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
