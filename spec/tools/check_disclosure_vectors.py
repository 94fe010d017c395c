"""Independent checker for spec/vectors/disclosure, written from spec/disclosure.md.

It does not import provledger: hashlib, cbor2 and pynacl only (the statement
envelope is checked by check_core_vectors.check_statement, which uses the
same two libraries). For each valid statement it checks the commitments in
the body (``sd``: 1 to 16 distinct 32-byte digests, ascending; required text
in clear when there are none), matches every disclosure to a commitment as
disclosure.md section 5 says, fills the values in and compares the result,
and the partial presentation, with the vector's ``revealed``. Each invalid
vector must fail here with the code it names (``decode`` or ``disclosure``).

Usage: python spec/tools/check_disclosure_vectors.py [VECTOR_DIR]; exits 1 on any
disagreement. VECTOR_DIR defaults to spec/vectors/disclosure.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import cbor2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_core_vectors import (
    FORBIDDEN_IN_TEXT,
    InvalidError,
    check_statement,
)

DOMAIN = b"provledger disclosure v1\x00"
MAX_COMMITMENTS = 16
CONDITION = "condition"

# disclosure.md section 2: the fields each body may commit (its committable
# fields), and those of them it needs in clear unless it commits something.
COMMITTABLE: dict[str, tuple[str, ...]] = {
    "cert.issued": ("notes", "inscription"), "cert.attested": ("notes",),
    "cert.renewed": ("notes", "reason"), "cert.revoked": ("notes", "reason"),
    "cert.reaffirmed": ("notes",), "repair.recorded": ("work", "notes", "performed_by"),
    "appraisal.recorded": ("notes", "appraiser"), "lost.reported": ("notes",),
    "stolen.reported": ("notes", "reference"), "recovered": ("notes",),
    "escrow.opened": (), "escrow.accepted": (), "escrow.declined": ("notes",),
    "escrow.cancelled": ("notes",), "escrow.acknowledged": ("notes",),
    "escrow.rejected": ("notes", "reason"), "escrow.disputed": ("notes", "reason"),
    "escrow.resolution": ("notes",), "care.enrolled": ("notes",), "care.renewed": ("notes",),
    "care.cancelled": ("notes", "reason"), "care.consented": ("notes",),
    "care.redeemed": ("notes",), "repair.requested": ("work", "notes"),
    "repair.received": ("notes",), "repair.progress": ("notes",),
    "repair.ready": ("work", "notes"), "repair.collected": ("notes",),
    "repair.cancelled": ("notes", "reason"), "owner.rotated": ("notes",),
    "recovery.started": ("notes", "reason"), "recovery.cancelled": ("notes",),
    "role.granted": (), "role.revoked": ("notes",), "key.rotated": (),
    "key.revoked": ("notes",), "rules.published": ("notes",),
}
REQUIRED_TEXT: dict[str, tuple[str, ...]] = {
    "cert.renewed": ("reason",), "cert.revoked": ("reason",),
    "repair.recorded": ("work", "performed_by"), "appraisal.recorded": ("appraiser",),
    "escrow.rejected": ("reason",), "escrow.disputed": ("reason",),
    "care.cancelled": ("reason",), "repair.requested": ("work",),
    "repair.cancelled": ("reason",), "recovery.started": ("reason",),
}
NAMES = frozenset(n for fields in COMMITTABLE.values() for n in fields)
# Each field's text rule (protocol.md section 2, events.cddl): the most
# characters, and whether LF is allowed; short text is one line of 1 to 200.
TEXT_RULES = {"notes": (4000, True), "work": (4000, True), "reason": (200, False),
              "appraiser": (200, False), "performed_by": (200, False),
              "inscription": (None, False), "reference": (None, False)}


class RefusedError(Exception):
    """A vector is refused; ``code`` is the spec/errors.md code it must name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def commitment(data: bytes) -> bytes:
    return hashlib.sha256(DOMAIN + data).digest()


def _commitments(body: dict[str, Any], where: str) -> list[bytes]:
    if "sd" not in body:
        return []
    sd = body["sd"]
    if not isinstance(sd, list) or not 1 <= len(sd) <= MAX_COMMITMENTS or any(
            not isinstance(d, bytes) or len(d) != 32 for d in sd):
        raise RefusedError("decode", f"{where}: sd is not 1 to 16 digests of 32 bytes")
    if any(a >= b for a, b in itertools.pairwise(sd)):
        raise RefusedError("decode", f"{where}: sd is not strictly ascending")
    return sd


def check_body(etype: str, body: dict[str, Any]) -> None:
    """The decode-level rules of disclosure.md section 3 for one event body."""
    sd = _commitments(body, etype)
    condition = body.get(CONDITION)
    if isinstance(condition, dict):
        _commitments(condition, f"{etype}.{CONDITION}")
    if not sd:
        for name in REQUIRED_TEXT.get(etype, ()):
            if name not in body:
                raise RefusedError("decode", f"{etype}: {name} neither in clear nor committed")


def decode_disclosure(data: bytes) -> tuple[bytes, str, str]:
    try:
        raw = cbor2.loads(data)
    except Exception as exc:
        raise RefusedError("disclosure", f"not CBOR ({exc})") from None
    if cbor2.dumps(raw, canonical=True) != data:
        raise RefusedError("disclosure", "not deterministic CBOR")
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], bytes)
            and len(raw[0]) == 16 and isinstance(raw[1], str) and isinstance(raw[2], str)):
        raise RefusedError("disclosure", "not [salt (16 bytes), value (text), name (text)]")
    salt, value, name = raw
    if name not in NAMES:
        raise RefusedError("disclosure", f"{name!r} is not a committable field")
    if not value:
        raise RefusedError("disclosure", f"{name!r} has empty text")
    return salt, value, name


def _check_value(name: str, value: str) -> None:
    most, multi_line = TEXT_RULES[name]
    bad = set(value) & FORBIDDEN_IN_TEXT
    if multi_line:
        bad.discard("\n")
    if bad or (most is not None and len(value) > most):
        raise RefusedError("disclosure", f"{name}: the text breaks the field's rules")


def reveal(etype: str, body: dict[str, Any], disclosures: list[bytes]
           ) -> dict[str, Any]:
    """disclosure.md section 5: the body with every disclosure matched and filled in."""
    top, condition = _commitments(body, etype), body.get(CONDITION)
    inner = _commitments(condition, CONDITION) if isinstance(condition, dict) else []
    clear = [n for n in COMMITTABLE[etype] if n in body]
    if isinstance(condition, dict) and "notes" in condition:
        clear.append(f"{CONDITION}.notes")
    filled = {**body}
    if isinstance(condition, dict):
        filled[CONDITION] = {**condition}
    seen: set[bytes] = set()
    disclosed: list[str] = []
    for data in disclosures:
        d = commitment(data)
        if d in seen:
            raise RefusedError("disclosure", "the same disclosure twice")
        seen.add(d)
        _, value, name = decode_disclosure(data)
        if d in top:
            target, fields, path = filled, COMMITTABLE[etype], name
        elif d in inner:
            target, fields, path = filled[CONDITION], ("notes",), f"{CONDITION}.{name}"
        else:
            raise RefusedError("disclosure", f"a disclosure of {name!r} matches no commitment")
        if name not in fields:
            raise RefusedError("disclosure", f"{etype} has no field {path!r}")
        if name in target:
            raise RefusedError("disclosure", f"{path!r} is in clear or disclosed twice")
        _check_value(name, value)
        target[name] = value
        disclosed.append(path)
    return {"event": _hex(filled), "disclosed": sorted(disclosed),
            "withheld": len(top) + len(inner) - len(disclosed), "clear": clear}


def _hex(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _hex(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_hex(v) for v in value]
    return value


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def check_vector(payload: dict[str, Any], disclosures: list[bytes]) -> dict[str, Any]:
    check_body(payload["type"], payload["event"])
    return reveal(payload["type"], payload["event"], disclosures)


def check_valid(v: dict[str, Any]) -> None:
    statement = bytes.fromhex(v["statement"])
    payload = check_statement(statement)
    if hashlib.sha256(statement).hexdigest() != v["hash"]:
        raise RefusedError("decode", "statement hash differs")
    if cbor2.dumps(payload["event"], canonical=True).hex() != v["body"]:
        raise RefusedError("decode", "body differs from the statement's")
    data = [bytes.fromhex(d["data"]) for d in v["disclosures"]]
    for d, b in zip(v["disclosures"], data, strict=True):
        salt, value, name = decode_disclosure(b)
        if (salt.hex(), value, name, commitment(b).hex()) != (
                d["salt"], d["value"], d["name"], d["digest"]):
            raise RefusedError("disclosure", f"disclosure {d['path']}: fields or digest differ")
    got = check_vector(payload, data)
    if _canon(got) != _canon(v["revealed"]):
        raise RefusedError("disclosure", f"revealed differs: {got}")
    if "partial" in v:
        part = check_vector(payload, [bytes.fromhex(h) for h in v["partial"]["disclosures"]])
        if _canon(part) != _canon({k: x for k, x in v["partial"].items()
                                   if k != "disclosures"}):
            raise RefusedError("disclosure", f"partial presentation differs: {part}")


def check_invalid(v: dict[str, Any]) -> str:
    """The code the checker refuses ``v`` with ("" if it accepts it)."""
    try:
        payload = check_statement(bytes.fromhex(v["statement"]))
        check_vector(payload, [bytes.fromhex(h) for h in v["disclosures"]])
    except InvalidError:
        return "decode"
    except RefusedError as exc:
        return exc.code
    return ""


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else \
        Path(__file__).resolve().parents[1] / "vectors" / "disclosure"
    meta = json.loads((root / "ledger.json").read_text())
    if bytes.fromhex(meta["domain"]) != DOMAIN:
        print("FAIL ledger.json: another domain tag")
        return 1
    failures = 0
    valid = json.loads((root / "valid.json").read_text())
    for v in valid:
        try:
            check_valid(v)
        except (RefusedError, InvalidError) as exc:
            print(f"FAIL valid/{v['name']}: {exc}")
            failures += 1
    control = meta["control"]
    try:
        check_vector(check_statement(bytes.fromhex(control["statement"])),
                     [bytes.fromhex(h) for h in control["disclosures"]])
    except (RefusedError, InvalidError) as exc:
        print(f"FAIL control: {exc}")
        failures += 1
    invalid = json.loads((root / "invalid.json").read_text())
    for v in invalid:
        got = check_invalid(v)
        if got != v["code"]:
            print(f"FAIL invalid/{v['name']}: {got or 'accepted'}, "
                  f"expected {v['code']}")
            failures += 1
    print(f"valid: {len(valid)} statements revealed; invalid: {len(invalid)} refused; "
          f"{failures} disagreements")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
