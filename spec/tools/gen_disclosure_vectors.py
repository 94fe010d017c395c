"""Regenerate spec/vectors/disclosure/ (committed fields and their disclosures) byte for byte.

Keys come from fixed seeds (as in ../core), salts from fixed labels and the
log's clock from the story, and Ed25519 signatures are deterministic, so
running this again must change nothing; the test suite checks that. Every
valid statement is appended with its disclosures to a scratch ledger, and
every invalid case is tried on it, so no vector can disagree with provledger.
spec/tools/check_disclosure_vectors.py checks the same files without provledger.

Usage: python spec/tools/gen_disclosure_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import msgspec

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "spec" / "tools")]

import storyvectors as sv  # noqa: E402

import provledger as pl  # noqa: E402
from provledger import _codec  # noqa: E402
from provledger._disclosure import CONDITION, DOMAIN, digest, encode_disclosure  # noqa: E402
from provledger._statement import decode_statement, protected_header, sig_structure  # noqa: E402

DEFAULT_OUT = ROOT / "spec" / "vectors" / "disclosure"
ORIGIN = "ledger.example-jeweler.com/pieces"
T0 = 1_790_000_000
KEY_NAMES = ("root", "log", "jeweler", "workshop", "insurer", "owner", "buyer")
KEYS = sv.keys(KEY_NAMES)
PK = {n: k.public_key for n, k in KEYS.items()}
RING = pl.serial_item_id(PK["jeweler"], "R-0001")
PENDANT = pl.serial_item_id(PK["jeweler"], "P-0042")
ITEMS = {"ring": RING, "pendant": PENDANT}


def salt(label: str) -> bytes:
    """The fixed salt ``label`` names: the first 16 bytes of SHA-256 of
    ``provledger test salt <label>`` (a real signer draws each from a CSPRNG)."""
    return hashlib.sha256(f"provledger test salt {label}".encode()).digest()[:16]


def salts(name: str) -> Callable[[], bytes]:
    """The salts of vector ``name`` in the order commit() draws them: ``<name>/1``, ..."""
    n = [0]

    def draw() -> bytes:
        n[0] += 1
        return salt(f"{name}/{n[0]}")

    return draw


def auth(name: str) -> str:
    return pl.authority_subject(PK[name])


def photo(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _hex(value: Any) -> Any:
    """JSON form of a decoded body: bytes as lower-case hex, maps and lists walked."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _hex(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hex(v) for v in value]
    return value


def body_json(event: pl.Event) -> Any:
    return _hex(_codec.to_builtins(event))


# (name, description, signer, subject, event, fields to commit: None = all, () = none)
Step = tuple[str, str, str, str, pl.Event, tuple[str, ...] | None]


def story() -> list[Step]:
    terms = pl.events.EscrowTerms(price_minor=250_000, currency="EUR", on_timeout="return")
    return [
        ("grant-issuer", "the root grants the jeweler role issuer (nothing to commit)", "root",
         auth("jeweler"), pl.RoleGranted(key=PK["jeweler"], name="Example Jeweler Ltd",
                                         role="issuer"), ()),
        ("grant-service", "the jeweler grants the workshop role service", "jeweler",
         auth("workshop"), pl.RoleGranted(key=PK["workshop"], name="Bench & Co Workshop",
                                          role="service"), ()),
        ("grant-reporter", "the jeweler grants the insurer role reporter", "jeweler",
         auth("insurer"), pl.RoleGranted(key=PK["insurer"], name="Insure Mutual",
                                         role="reporter"), ()),
        ("issue-ring", "cert.issued with inscription and notes committed", "jeweler", RING,
         pl.CertificateIssued(kind="ring", serial="R-0001", owner=PK["owner"], metal="gold",
                              fineness=750, photos=[photo("ring-front")],
                              inscription="To Ana, 12.06.2026",
                              notes="Made to order for Ana Silva, Rua Augusta 10, Lisboa"),
         None),
        ("repair-ring", "repair.recorded with work, notes and performed_by committed",
         "workshop", RING,
         pl.RepairRecorded(work="Re-tipped four claws\nPolished the shank", category="repair",
                           performed_by="Bench & Co Workshop", started=T0 + 200,
                           completed=T0 + 230, notes="Customer asked for the old tips back",
                           photos_after=[photo("after")]), None),
        ("appraise-ring-clear", "appraisal.recorded in the earlier format: appraiser and "
         "notes in clear, nothing committed", "workshop", RING,
         pl.AppraisalRecorded(method="in_person", currency="EUR",
                              appraiser="Bench & Co Workshop", value_minor=850_000,
                              notes="Valued for insurance"), ()),
        ("open-escrow", "escrow.opened with the condition report's notes committed", "owner",
         RING, pl.EscrowOpened(buyer=PK["buyer"], terms=terms,
                               condition=pl.events.ConditionReport(
                                   grade="very good", notes="Small scratch inside the band",
                                   photos=[photo("condition")]),
                               offer_expires=T0 + 86_400, inspection_ends=T0 + 172_800),
         None),
        ("stolen-ring", "stolen.reported with reference and notes committed", "insurer", RING,
         pl.StolenReported(reference="CLAIM-2026-1184",
                           notes="Taken from the owner's car on 3 May"), None),
        ("issue-pendant", "cert.issued with only the notes committed (the inscription is "
         "left in clear, as commit(fields=...) allows)", "jeweler", PENDANT,
         pl.CertificateIssued(kind="pendant", serial="P-0042", owner=PK["owner"],
                              metal="silver", fineness=925, inscription="925",
                              notes="Engraved initials A.S. on the back"), ("notes",)),
    ]


class _Scratch:
    """The scratch ledger the story is appended to, with the log clock it reads."""

    def __init__(self, path: Path) -> None:
        self.clock = sv.Clock(T0)
        self.ledger = pl.Ledger.create(path, origin=ORIGIN, root_key=PK["root"],
                                       log_key=PK["log"], clock=self.clock)

    def sign(self, signer: str, subject: str, event: pl.Event) -> bytes:
        return pl.sign_statement(event, key=KEYS[signer], origin=ORIGIN, subject=subject,
                                 prev=self.ledger.head(subject), time=self.clock.t - 5)

    def raw(self, signer: str, subject: str, etype: str, event: dict[str, Any]) -> bytes:
        """A statement signed over a hand-built body (for cases sign_statement refuses)."""
        key = KEYS[signer]
        payload = cbor2.dumps({"v": 1, "log": ORIGIN, "prev": self.ledger.head(subject),
                               "time": self.clock.t - 5, "type": etype, "event": event,
                               "signer": key.public_key, "subject": subject}, canonical=True)
        prot = protected_header(key.public_key)
        return bytes(cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload,
                                                    key.sign(sig_structure(prot, payload))])))


def _uncommitted(event: pl.Event) -> pl.Event:
    """``event`` without its commitments (a revealed event keeps them)."""
    condition = getattr(event, CONDITION, None)
    if isinstance(condition, pl.events.ConditionReport):
        event = msgspec.structs.replace(
            event, condition=msgspec.structs.replace(condition, sd=[]))
    return msgspec.structs.replace(event, sd=[])


def _disclosure_json(data: bytes, where: pl.Event) -> dict[str, Any]:
    salt_, value, name = cbor2.loads(data)
    d = digest(data)
    path = name if d in where.sd else f"{CONDITION}.{name}"
    return {"path": path, "salt": salt_.hex(), "value": value, "name": name,
            "data": data.hex(), "digest": d.hex()}


def _revealed(event: pl.Event, disclosures: list[bytes]) -> dict[str, Any]:
    r = pl.reveal(event, disclosures)
    return {"event": body_json(r.event), "disclosed": list(r.disclosed),
            "withheld": r.withheld, "clear": list(r.clear)}


def build_valid(scratch: _Scratch) -> list[dict[str, Any]]:
    out = []
    for i, (name, description, signer, subject, event, fields) in enumerate(story()):
        scratch.clock.t = T0 + 60 * i
        committed = pl.commit(event, fields=fields, salt=salts(name)) if fields != () else \
            pl.Committed(event, ())
        stmt = scratch.sign(signer, subject, committed.event)
        rec = scratch.ledger.append(stmt, committed.disclosures)
        body = decode_statement(stmt).event
        assert body == committed.event, name
        disclosures = list(committed.disclosures)
        vector: dict[str, Any] = {
            "name": name, "description": description, "signer": signer, "subject": subject,
            "type": event.TYPE, "index": rec.index, "time": rec.time,
            "body": _codec.dumps(_codec.to_builtins(committed.event)).hex(),
            "statement": stmt.hex(), "hash": rec.hash.hex(),
            "disclosures": [_disclosure_json(d, committed.event) for d in disclosures],
            "revealed": _revealed(body, disclosures),
        }
        assert _uncommitted(scratch.ledger.reveal(rec).event) == event, name
        if len(disclosures) > 1:
            # A presentation of the first disclosure alone: the rest are withheld.
            vector["partial"] = {"disclosures": [disclosures[0].hex()],
                                 **_revealed(body, disclosures[:1])}
        out.append(vector)
    return out


def build_invalid(scratch: _Scratch, valid: list[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Statements with disclosures that must be refused, all signed on the
    pendant's head after the whole valid story (``context``)."""
    scratch.clock.t = T0 + 60 * len(valid)
    by_name = {v["name"]: v for v in valid}
    repair = pl.RepairRecorded(work="Replaced the bail", category="repair",
                               performed_by="Bench & Co Workshop", started=T0 + 500,
                               completed=T0 + 530, notes="Bail was bent")
    good = pl.commit(repair, salt=salts("pendant-repair"))
    good_stmt = scratch.sign("workshop", PENDANT, good.event)
    work, notes, performer = good.disclosures  # in field order: work, notes, performed_by

    def reencode(data: bytes, **change: Any) -> bytes:
        s, v, n = cbor2.loads(data)
        parts = {"salt": s, "value": v, "name": n, **change}
        return encode_disclosure(parts["salt"], parts["value"], parts["name"])

    def committing(*disclosures: bytes, clear: dict[str, Any] | None = None,
                   etype: str = "repair.recorded") -> bytes:
        """A statement by the workshop whose sd commits to exactly these bytes."""
        body: dict[str, Any] = {"sd": sorted(digest(d) for d in disclosures), **(clear or {})}
        if etype == "repair.recorded":
            body.update(category="repair", started=T0 + 500, completed=T0 + 530)
        return scratch.raw("workshop", PENDANT, etype, body)

    s1, v1, _ = cbor2.loads(work)
    s2, _, _ = cbor2.loads(notes)
    ring_repair = by_name["repair-ring"]
    moved = bytes.fromhex(ring_repair["disclosures"][1]["data"])  # the ring's repair notes
    long_head = bytes.fromhex("83") + cbor2.dumps(s1) + b"\x78" + bytes([len(v1.encode())]) \
        + v1.encode() + cbor2.dumps("work")
    short_salt = cbor2.dumps([s1[:15], v1, "work"], canonical=True)
    unknown = encode_disclosure(s1, "red", "colour")
    not_here = encode_disclosure(s1, "A.S.", "inscription")
    empty = encode_disclosure(s1, "", "notes")
    bad_text = encode_disclosure(s1, "Polish\x1b[2J", "work")
    clear_notes = encode_disclosure(s2, "Bail was bent", "notes")
    map_form = cbor2.dumps({"salt": s1, "value": v1, "name": "work"}, canonical=True)
    two_salts = reencode(work, salt=s2), reencode(notes, salt=s1)

    d_err, e_err = "DisclosureError", "DecodeError"
    cases: list[tuple[str, str, str, bytes, list[bytes]]] = [
        ("changed-text", "the work disclosure with its text changed after signing", d_err,
         good_stmt, [reencode(work, value="Replaced the bail and chain"), notes, performer]),
        ("swapped-salts", "the work and notes disclosures with their salts swapped", d_err,
         good_stmt, [*two_salts, performer]),
        ("moved-from-another-statement", "the ring's repair notes disclosed with the "
         "pendant's repair", d_err, good_stmt, [work, moved, performer]),
        ("same-disclosure-twice", "the work disclosure given twice", d_err, good_stmt,
         [work, work, notes]),
        ("non-canonical", "the statement commits to a disclosure whose text length is "
         "encoded in two bytes where one suffices", d_err,
         committing(long_head, notes, performer), [long_head, notes, performer]),
        ("wrong-salt-length", "the statement commits to a disclosure with a 15-byte salt", d_err,
         committing(short_salt, notes, performer), [short_salt, notes, performer]),
        ("not-an-array", "the statement commits to a disclosure that is a map, not "
         "[salt, value, name]", d_err, committing(map_form, notes, performer),
         [map_form, notes, performer]),
        ("unknown-field-name", "the statement commits to a disclosure of `colour`, which no "
         "event may commit", d_err, committing(work, notes, performer, unknown),
         [work, notes, performer, unknown]),
        ("field-not-in-this-event", "the statement commits to an `inscription` disclosure; "
         "repair.recorded has no inscription", d_err,
         committing(work, notes, performer, not_here), [work, notes, performer, not_here]),
        ("field-already-in-clear", "notes in clear in the body and also committed", d_err,
         committing(work, performer, clear_notes, clear={"notes": "Bail was bent"}),
         [work, performer, clear_notes]),
        ("empty-value", "the statement commits to a notes disclosure with empty text "
         "(an empty field is left out, never committed)", d_err,
         committing(work, performer, empty), [work, performer, empty]),
        ("text-breaks-field-rules", "the statement commits to a work disclosure holding "
         "ESC [2J (protocol.md section 2)", d_err, committing(bad_text, notes, performer),
         [bad_text, notes, performer]),
        ("sd-not-ascending", "the body's sd with its two commitments in descending order", e_err,
         scratch.raw("workshop", PENDANT, "repair.recorded", {
             "sd": sorted([digest(work), digest(performer)], reverse=True), "category": "repair",
             "started": T0 + 500, "completed": T0 + 530, "notes": "Bail was bent"}),
         [work, performer]),
        ("sd-duplicate", "the body's sd names the same commitment twice", e_err,
         scratch.raw("workshop", PENDANT, "recovered", {
             "sd": [digest(notes), digest(notes)]}), [notes]),
        ("sd-empty-explicit", "sd: [] encoded instead of omitted", e_err,
         scratch.raw("workshop", PENDANT, "repair.recorded", {
             "sd": [], "work": "Replaced the bail", "category": "repair",
             "performed_by": "Bench & Co Workshop", "started": T0 + 500,
             "completed": T0 + 530}), []),
        ("sd-too-long", "17 commitments, one more than a body may carry", e_err,
         scratch.raw("workshop", PENDANT, "recovered", {
             "sd": sorted(hashlib.sha256(bytes([i])).digest() for i in range(17))}), []),
        ("required-text-missing", "repair.recorded without work, and nothing committed "
         "(empty sd)", e_err, scratch.raw("workshop", PENDANT, "repair.recorded", {
             "category": "repair", "started": T0 + 500, "completed": T0 + 530,
             "performed_by": "Bench & Co Workshop"}), []),
    ]
    out = []
    size = len(scratch.ledger)
    for name, description, error, stmt, disclosures in cases:
        raised: pl.ProvLedgerError | None = None
        try:
            scratch.ledger.append(stmt, disclosures)
        except pl.ProvLedgerError as exc:
            raised = exc
        assert type(raised).__name__ == error, (name, raised)
        assert len(scratch.ledger) == size, name
        out.append({"name": name, "description": description, "context": size,
                    "log_time": scratch.clock.t, "error": error,
                    "code": getattr(pl, error).code,
                    "level": "decode" if error == e_err else "disclosure",
                    "statement": stmt.hex(), "disclosures": [d.hex() for d in disclosures]})
    # The statement the first cases alter is accepted as it was signed, so each
    # of them fails for what it changes.
    control = {"statement": good_stmt.hex(), "disclosures": [d.hex() for d in good.disclosures]}
    scratch.ledger.append(good_stmt, good.disclosures)
    return out, control


def render(out: Path) -> dict[Path, bytes]:
    """All vector files, path -> bytes."""
    with tempfile.TemporaryDirectory() as d:
        scratch = _Scratch(Path(d) / "v.db")
        try:
            valid = build_valid(scratch)
            invalid, control = build_invalid(scratch, valid)
            assert scratch.ledger.audit().size == len(valid) + 1
        finally:
            scratch.ledger.close()
    keys = {n: {"seed": sv.seed(n).hex(), "public_key": pl.format_public_key(PK[n])}
            for n in KEY_NAMES}
    meta = {"origin": ORIGIN, "root": "root", "log": "log",
            "clock": {"start": T0, "step": 60}, "items": ITEMS,
            "domain": DOMAIN.hex(), "control": control, "keys": keys}

    def dump(obj: Any) -> bytes:
        return (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode()

    return {out / "README.md": _readme(valid, invalid).encode(), out / "ledger.json": dump(meta),
            out / "valid.json": dump(valid), out / "invalid.json": dump(invalid)}


def _readme(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> str:
    lines = [
        "# Disclosure vectors: committed fields and their disclosures",
        "",
        "Generated by `spec/tools/gen_disclosure_vectors.py` (do not edit by hand; the",
        "test suite regenerates them and fails on any difference). The format is in",
        "../../disclosure.md. Keys come from fixed seeds, `SHA-256(\"provledger test key",
        "<name>\")`, as in ../core; each salt is the first 16 bytes of",
        "`SHA-256(\"provledger test salt <vector>/<n>\")`, n counting from 1 in the order",
        "`commit` draws them (a real signer draws salts from a CSPRNG); Ed25519",
        "signatures are deterministic, so the bytes are exact. Check them without",
        "provledger: `python spec/tools/check_disclosure_vectors.py` (needs cbor2 and pynacl).",
        "",
        "- `ledger.json`: the log origin, the root and log key names, the log clock",
        "  (entry *i* is appended at `start + 60 i`), the two items, the hash's domain",
        "  tag in hex and the keys.",
        "- `valid.json`: a story appended in order, each statement with its",
        "  disclosures, to a fresh ledger. `body` is the event body as signed (its",
        "  deterministic CBOR, committed fields left out, `sd` holding their",
        "  commitments), `statement` and `hash` the signed statement; each disclosure",
        "  gives its `path` (`notes`, or `condition.notes` inside a condition report),",
        "  `salt`, `value`, `name`, its bytes (`data`) and `digest` =",
        "  SHA-256(domain tag || data). `revealed` is what a verifier holding every",
        "  disclosure shows: the body with the values filled in (`sd` kept, bytes in",
        "  hex), the paths `disclosed`, how many commitments are `withheld` and the",
        "  committable fields the statement carries in `clear` (the earlier format).",
        "  `partial`, where a statement has more than one disclosure, is the same",
        "  for the first disclosure alone.",
        "- `invalid.json`: a statement and disclosures that must be refused after the",
        "  first `context` valid statements, at log time `log_time`, with the error",
        "  class and its `code` (spec/errors.md), the ledger left unchanged. `level`:",
        "  `decode` (the statement itself does not decode: events.cddl and the",
        "  decoder's checks) or `disclosure` (the statement is valid; a disclosure is",
        "  not, disclosure.md section 5).",
        "",
        "## Valid story",
        "",
        "| index | name | signer | type | disclosed | clear |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {v['index']} | {v['name']} | {v['signer']} | `{v['type']}` | "
              f"{', '.join(v['revealed']['disclosed'])} | {', '.join(v['revealed']['clear'])} |"
              for v in valid]
    lines += ["", f"T0 = {T0}.", "", "## Invalid cases", "",
              "| name | level | must fail with | code | case |", "|---|---|---|---|---|"]
    lines += [f"| {v['name']} | {v['level']} | `{v['error']}` | `{v['code']}` | "
              f"{v['description']} |" for v in invalid]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(sv.main(sys.argv, DEFAULT_OUT, render))
