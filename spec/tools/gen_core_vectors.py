"""Regenerate spec/vectors/core/ (statements, log entries, invalid cases) byte for byte.

Every input is fixed (seeds, times, the log's clock), and Ed25519 signatures
are deterministic, so running this again must change nothing; the test suite
checks that. Usage: python spec/tools/gen_core_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import cbor2

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "spec" / "tools")]

import storyvectors as sv  # noqa: E402

import provledger as pl  # noqa: E402
from provledger._statement import protected_header, sig_structure  # noqa: E402

DEFAULT_OUT = ROOT / "spec" / "vectors" / "core"
ORIGIN = "ledger.example-jeweler.com/pieces"
T0 = 1_790_000_000  # 2026-09-21T...Z: the log clock of entry 0; +60 s per entry
KEY_NAMES = ("root", "log", "jeweler", "workshop", "workshop2", "gemologist", "insurer",
             "owner", "stranger")

KEYS = sv.keys(KEY_NAMES)
PK = {n: k.public_key for n, k in KEYS.items()}
ITEM1 = pl.gs1_item_id("id.example-jeweler.com", "09506000134352", "R-0001")
ITEM2 = pl.serial_item_id(PK["jeweler"], "P-0042")


def auth(name: str) -> str:
    return pl.authority_subject(PK[name])


def photo(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


# (name, signer, subject, event): the valid story, appended one per log tick.
def story() -> list[tuple[str, str, str, pl.Event]]:
    return [
        ("grant-issuer", "root", auth("jeweler"),
         pl.RoleGranted(key=PK["jeweler"], name="Example Jeweler Ltd", role="issuer",
                        gs1_prefixes=["9506000"], domains=["id.example-jeweler.com"])),
        ("grant-service", "jeweler", auth("workshop"),
         pl.RoleGranted(key=PK["workshop"], name="Bench & Co Workshop", role="service")),
        ("grant-attester", "jeweler", auth("gemologist"),
         pl.RoleGranted(key=PK["gemologist"], name="Gem Lab SA", role="attester")),
        ("grant-reporter", "jeweler", auth("insurer"),
         pl.RoleGranted(key=PK["insurer"], name="Insure Mutual", role="reporter")),
        ("issue-ring", "jeweler", ITEM1, pl.CertificateIssued(
            gtin="09506000134352", kind="ring", size="54", metal="gold", owner=PK["owner"],
            serial="R-0001", fineness=750, mass_mg=4120, photos=[photo("ring-front")],
            stones=[pl.Stone(kind="diamond", cut="excellent", color="G", clarity="VS1",
                             weight_ct100=52, report="GIA 2141438171")],
            dimensions=pl.Dimensions(width_um=21000, height_um=7200, length_um=21000),
            inscription="A & B 2026", notes="Solitaire, platinum claws")),
        ("attest-ring", "gemologist", ITEM1, pl.CertificateAttested(
            capacity="gemologist", certificate=b"", photos=[photo("ring-lab")])),
        ("repair-ring", "workshop", ITEM1, pl.RepairRecorded(
            work="Re-tipped four claws", category="repair", performed_by="Bench & Co Workshop",
            started=T0 + 300, completed=T0 + 360,
            parts=[pl.Part(name="claw tip", count=4, material="platinum 950", mass_mg=40)],
            photos_before=[photo("before")], photos_after=[photo("after")])),
        ("appraise-ring", "workshop", ITEM1, pl.AppraisalRecorded(
            method="in_person", currency="EUR", appraiser="Bench & Co Workshop",
            value_minor=850_000)),
        ("owner-service", "owner", ITEM1, pl.RepairRecorded(
            work="Ultrasonic clean", category="cleaning", performed_by="High Street Jewels",
            started=T0 + 400, completed=T0 + 400)),
        ("lost", "owner", ITEM1, pl.LostReported(notes="Lost while travelling")),
        ("found", "owner", ITEM1, pl.Recovered()),
        ("stolen", "insurer", ITEM1, pl.StolenReported(reference="CLAIM-2026-1184")),
        ("recovered", "jeweler", ITEM1, pl.Recovered(notes="Returned by police")),
        ("renew-ring", "jeweler", ITEM1, pl.CertificateRenewed(reason="Re-inspected after theft",
                                                               photos=[photo("ring-2")])),
        ("reaffirm-ring", "jeweler", ITEM1, pl.CertificateReaffirmed(
            certificate=b"", notes="Piece inspected at the counter")),
        ("issue-pendant", "jeweler", ITEM2, pl.CertificateIssued(
            kind="pendant", metal="silver", fineness=925, owner=PK["jeweler"], serial="P-0042")),
        ("rotate-workshop", "workshop", auth("workshop"), pl.KeyRotated(new_key=PK["workshop2"])),
        ("repair-pendant", "workshop2", ITEM2, pl.RepairRecorded(
            work="New bail", category="repair", performed_by="Bench & Co Workshop",
            started=T0 + 900, completed=T0 + 960)),
        ("attest-pendant", "gemologist", ITEM2, pl.CertificateAttested(
            capacity="gemologist", certificate=b"")),
        ("revoke-gemologist", "jeweler", auth("gemologist"), pl.KeyRevoked(
            key=PK["gemologist"], compromised_since=T0 + 17 * 60, notes="Key leaked")),
        ("deauthorize-insurer", "jeweler", auth("insurer"), pl.RoleRevoked(role="reporter")),
        ("revoke-pendant", "jeweler", ITEM2, pl.CertificateRevoked(reason="Certificate withdrawn")),
    ]


class _Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return float(self.t)


def build_valid() -> tuple[list[dict[str, Any]], dict[str, bytes], dict[str, bytes]]:
    """Append the story to a scratch ledger; return vectors, heads and certificates."""
    clock = _Clock()
    records: list[dict[str, Any]] = []
    certs: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as d:
        ledger = pl.Ledger.create(Path(d) / "v.db", origin=ORIGIN, root_key=PK["root"],
                                  log_key=PK["log"], clock=clock)
        for i, (name, signer, subject, event) in enumerate(story()):
            clock.t = T0 + 60 * i
            body = event
            if isinstance(event, pl.CertificateAttested):
                body = type(event)(capacity=event.capacity, photos=event.photos,
                                   certificate=certs[subject])
            elif isinstance(event, pl.CertificateReaffirmed):
                body = type(event)(notes=event.notes, certificate=certs[subject])
            head = ledger.head(subject)
            stmt = pl.sign_statement(body, key=KEYS[signer], origin=ORIGIN, subject=subject,
                                     prev=head, time=clock.t - 5)
            rec = ledger.append(stmt)
            if isinstance(event, pl.CertificateIssued):
                certs[subject] = rec.hash
            records.append({
                "name": name, "signer": signer, "subject": subject, "type": event.TYPE,
                "statement": stmt.hex(), "hash": rec.hash.hex(), "index": rec.index,
                "time": rec.time, "entry": rec.entry.hex(),
            })
        heads = {s: h for s in (ITEM1, ITEM2, auth("jeweler"), auth("workshop"))
                 if (h := ledger.head(s))}
        ledger.close()
    return records, heads, certs


def _cose(payload: bytes, key: pl.SigningKey, *, protected: bytes | None = None,
          unprotected: dict[int, Any] | None = None) -> bytes:
    prot = protected_header(key.public_key) if protected is None else protected
    sig = key.sign(sig_structure(prot, payload))
    return cbor2.dumps(cbor2.CBORTag(18, [prot, unprotected or {}, payload, sig]))


def build_invalid(valid: list[dict[str, Any]], heads: dict[str, bytes]) -> list[dict[str, Any]]:
    """Statements that must be refused, each with the error class it must raise.

    ``context`` is how many valid statements are appended before trying it.
    """
    n = len(valid)
    now = T0 + 60 * n
    item1_head = heads[ITEM1]
    good = bytes.fromhex(valid[6]["statement"])  # repair-ring

    def payload(signer: str, subject: str, etype: str, event: dict[str, Any], *,
                prev: bytes | None, time: int = now - 5, **over: Any) -> dict[str, Any]:
        p = {"v": 1, "log": ORIGIN, "prev": prev, "time": time, "type": etype, "event": event,
             "signer": PK[signer], "subject": subject}
        p.update(over)
        return p

    def canon(p: dict[str, Any]) -> bytes:
        return cbor2.dumps(p, canonical=True)

    lost = {"notes": "again"}
    repair = {"work": "Polish", "started": now - 100, "category": "service",
              "completed": now - 50, "performed_by": "Bench & Co Workshop"}

    def signed(p: dict[str, Any], key: str) -> bytes:
        return _cose(canon(p), KEYS[key])

    def stmt(key: str, subject: str, event: pl.Event, prev: bytes | None,
             time: int = now - 5, origin: str = ORIGIN) -> bytes:
        return pl.sign_statement(event, key=KEYS[key], origin=origin, subject=subject,
                                 prev=prev, time=time)

    long_time = canon(payload("owner", ITEM1, "repair.recorded", repair, prev=item1_head))
    t = (now - 5).to_bytes(4, "big")
    long_time = long_time.replace(b"dtime\x1a" + t, b"dtime\x1b\x00\x00\x00\x00" + t)
    ordered = payload("owner", ITEM1, "lost.reported", lost, prev=item1_head)
    unsorted = cbor2.dumps(dict(reversed(ordered.items())))
    indefinite = canon(payload("owner", ITEM1, "lost.reported", {}, prev=item1_head))
    indefinite = indefinite.replace(b"eevent\xa0", b"eevent\xbf\xff")

    cases: list[tuple[str, str, bytes, str, int]] = [
        ("bad-signature", "last signature byte flipped", good[:-1] + bytes([good[-1] ^ 1]),
         "SignatureError", 6),
        ("truncated", "last byte missing", good[:-1], "DecodeError", 6),
        ("trailing-byte", "a zero byte after the statement", good + b"\x00", "DecodeError", 6),
        ("garbage", "not CBOR", b"provledger", "DecodeError", 0),
        ("empty", "zero bytes", b"", "DecodeError", 0),
        ("wrong-tag", "tag 17 (COSE_Mac0) instead of 18", b"\xd1" + good[1:], "DecodeError", 6),
        ("unprotected-header", "kid moved into the unprotected map",
         _cose(bytes.fromhex(cbor2.loads(good).value[2].hex()), KEYS["workshop"],
               unprotected={4: PK["workshop"]}), "DecodeError", 6),
        ("alg-es256", "protected alg -7 (ES256)",
         _cose(cbor2.loads(good).value[2], KEYS["workshop"], protected=cbor2.dumps(
             {1: -7, 3: "application/vnd.provledger.statement+cbor", 4: PK["workshop"]},
             canonical=True)), "DecodeError", 6),
        ("payload-unsorted", "payload map keys in insertion order, not RFC 8949 order",
         _cose(unsorted, KEYS["owner"]), "DecodeError", n),
        ("payload-long-int", "time encoded in 8 bytes where 4 suffice",
         _cose(long_time, KEYS["owner"]), "DecodeError", n),
        ("payload-indefinite", "event body as an indefinite-length map",
         _cose(indefinite, KEYS["owner"]), "DecodeError", n),
        ("payload-explicit-default", "notes: \"\" encoded instead of omitted",
         signed(payload("owner", ITEM1, "lost.reported", {"notes": ""}, prev=item1_head),
                "owner"), "DecodeError", n),
        ("payload-unknown-field", "an event field the schema does not know",
         signed(payload("owner", ITEM1, "lost.reported", {"colour": "red"}, prev=item1_head),
                "owner"), "DecodeError", n),
        ("payload-unknown-type", "an event type version 1 does not define",
         signed(payload("owner", ITEM1, "transfer.offered", {}, prev=item1_head), "owner"),
         "DecodeError", n),
        ("payload-float-time", "time as a float",
         signed(payload("owner", ITEM1, "lost.reported", {}, prev=item1_head,
                        time=float(now)), "owner"), "DecodeError", n),
        ("payload-signer-mismatch", "payload signer differs from the kid",
         signed(payload("workshop2", ITEM1, "lost.reported", {}, prev=item1_head), "owner"),
         "DecodeError", n),
        ("wrong-log", "statement for another log's origin",
         stmt("owner", ITEM1, pl.LostReported(), item1_head, origin="other.example/log"),
         "WrongLogError", n),
        ("wrong-prev", "prev is not the item's head",
         stmt("owner", ITEM1, pl.LostReported(), bytes(32)), "ChainError", n),
        ("fork", "prev names an older statement of the item",
         stmt("owner", ITEM1, pl.LostReported(), bytes.fromhex(valid[6]["hash"])),
         "ChainError", n),
        ("replay", "a statement already in the log",
         bytes.fromhex(valid[9]["statement"]), "DuplicateStatementError", n),
        ("second-certificate", "cert.issued for an item that exists",
         stmt("jeweler", ITEM1, pl.CertificateIssued(
             kind="ring", owner=PK["owner"], serial="R-0001", gtin="09506000134352"), None),
         "ChainError", n),
        ("recertify-at-head", "cert.issued again, prev = the item's head, by its own issuer",
         stmt("jeweler", ITEM1, pl.CertificateIssued(
             kind="ring", owner=PK["jeweler"], serial="R-0001", gtin="09506000134352"),
             item1_head), "StateError", n),
        ("grant-on-root-chain", "an issuer grants the root's own chain a role",
         stmt("jeweler", auth("root"), pl.RoleGranted(key=PK["root"], name="Root",
                                                      role="service"), None),
         "UnauthorizedError", n),
        ("revoke-by-non-creator", "the root revokes a key of an authority the jeweler created",
         stmt("root", auth("workshop"), pl.KeyRevoked(key=PK["workshop2"], compromised_since=0),
              heads[auth("workshop")]), "UnauthorizedError", n),
        ("self-revocation", "an issuer revokes its own key (only its creator, the root, may)",
         stmt("jeweler", auth("jeweler"), pl.KeyRevoked(key=PK["jeweler"], compromised_since=0),
              heads[auth("jeweler")]), "UnauthorizedError", n),
        ("unknown-issuer", "cert.issued by a key no authority holds",
         stmt("stranger", pl.serial_item_id(PK["stranger"], "X1"), pl.CertificateIssued(
             kind="ring", owner=PK["stranger"], serial="X1"), None), "UnknownKeyError", n),
        ("issuer-not-authorized", "cert.issued by a service provider",
         stmt("workshop2", pl.serial_item_id(PK["workshop2"], "X2"), pl.CertificateIssued(
             kind="ring", owner=PK["owner"], serial="X2"), None), "UnauthorizedError", n),
        ("unauthorized-repair", "repair by an authority without the service role",
         stmt("insurer", ITEM1, pl.RepairRecorded(**repair), item1_head),
         "UnauthorizedError", n),
        ("rotated-key", "repair by the workshop's key after it was rotated out",
         stmt("workshop", ITEM1, pl.RepairRecorded(**repair), item1_head),
         "RevokedKeyError", n),
        ("revoked-key", "attestation by the gemologist's revoked key",
         stmt("gemologist", ITEM1, pl.CertificateAttested(
             capacity="gemologist", certificate=bytes.fromhex(valid[4]["hash"])), item1_head),
         "RevokedKeyError", n),
        ("lost-by-non-owner", "the issuer reports the owner's ring lost",
         stmt("jeweler", ITEM1, pl.LostReported(), item1_head), "UnauthorizedError", n),
        ("stolen-by-deauthorized", "theft report by a reporter whose role was revoked",
         stmt("insurer", ITEM1, pl.StolenReported(), item1_head), "UnauthorizedError", n),
        ("future-time", "statement time 1 hour ahead of the log clock",
         stmt("owner", ITEM1, pl.LostReported(), item1_head, time=now + 3600),
         "ClockError", n),
        ("closed-chain", "a repair after the certificate was revoked",
         stmt("workshop2", ITEM2, pl.RepairRecorded(**repair), heads[ITEM2]), "StateError", n),
        ("bad-gtin", "GTIN with a wrong check digit",
         stmt("jeweler", pl.serial_item_id(PK["jeweler"], "X3"), pl.CertificateIssued(
             kind="ring", owner=PK["owner"], serial="X3", gtin="09506000134353"), None),
         "DecodeError", n),
        ("gs1-mismatch", "GS1 Digital Link id whose serial differs from the certificate's",
         stmt("jeweler", pl.gs1_item_id("id.example-jeweler.com", "09506000134376", "R-9"),
              pl.CertificateIssued(kind="ring", owner=PK["owner"], serial="R-8",
                                   gtin="09506000134376"), None), "PolicyError", n),
        ("item-event-on-authority", "a lost report on an authority chain",
         stmt("owner", auth("jeweler"), pl.LostReported(), heads[auth("jeweler")]),
         "PolicyError", n),
        ("gs1-not-canonical", "GS1 Digital Link id with an upper-case host (protocol.md 4.3)",
         stmt("jeweler", "https://ID.example-jeweler.com/01/09506000134376/21/R-9",
              pl.CertificateIssued(kind="ring", owner=PK["owner"], serial="R-9",
                                   gtin="09506000134376"), None),
         "NonCanonicalItemIdError", n),
        ("gs1-serial-not-canonical", "GS1 id whose serial escapes a character it need not",
         stmt("jeweler", "https://id.example-jeweler.com/01/09506000134376/21/R%2D9",
              pl.CertificateIssued(kind="ring", owner=PK["owner"], serial="R-9",
                                   gtin="09506000134376"), None),
         "NonCanonicalItemIdError", n),
        ("urn-wrong-tag", "the jeweler certifies under another issuer's URN tag",
         stmt("jeweler", pl.serial_item_id(PK["stranger"], "X4"), pl.CertificateIssued(
             kind="ring", owner=PK["owner"], serial="X4"), None), "OutOfScopeError", n),
        ("gtin-outside-scope", "GS1 id whose GTIN lies under none of the issuer's prefixes",
         stmt("jeweler", pl.gs1_item_id("id.example-jeweler.com", "04012345000009", "R-10"),
              pl.CertificateIssued(kind="ring", owner=PK["owner"], serial="R-10",
                                   gtin="04012345000009"), None), "OutOfScopeError", n),
        ("domain-outside-scope", "GS1 id under a domain the issuer's grant does not name",
         stmt("jeweler", pl.gs1_item_id("id.other-jeweler.com", "09506000134376", "R-11"),
              pl.CertificateIssued(kind="ring", owner=PK["owner"], serial="R-11",
                                   gtin="09506000134376"), None), "OutOfScopeError", n),
        # Forged with cbor2: sign_statement refuses both (protocol.md section 2).
        ("text-escape-in-work", "a repair whose work holds ESC [2J (clear the screen)",
         signed(payload("owner", ITEM1, "repair.recorded",
                        {**repair, "work": "Polish\x1b[2J\x1b[3J"}, prev=item1_head), "owner"),
         "DecodeError", n),
        ("text-bidi-in-name", "an authority name holding U+202E (right-to-left override)",
         signed(payload("jeweler", auth("stranger"), "role.granted",
                        {"key": PK["stranger"], "name": "Atelier \u202eesoR nosiaM",
                         "role": "service"}, prev=None), "jeweler"),
         "DecodeError", n),
    ]
    schema = {"payload-explicit-default", "payload-unknown-field", "payload-unknown-type",
              "bad-gtin"}
    return [{"name": name, "description": desc, "context": ctx, "error": err,
             "level": _level(name, err, schema), "statement": data.hex()}
            for name, desc, data, err, ctx in cases]


def _level(name: str, error: str, schema: set[str]) -> str:
    """format: any COSE/CBOR/Ed25519 tool rejects it; schema: the CDDL rejects it;
    rules: only the rules of protocol.md section 6 do."""
    if name == "bad-gtin" or error not in ("DecodeError", "SignatureError"):
        return "rules"
    return "schema" if name in schema else "format"


def render(out: Path) -> dict[Path, bytes]:
    """All vector files, path -> bytes."""
    valid, heads, _ = build_valid()
    invalid = build_invalid(valid, heads)
    keys = {n: {"seed": sv.seed(n).hex(), "public_key": pl.format_public_key(PK[n])}
            for n in KEY_NAMES}
    meta = {"origin": ORIGIN, "root": "root", "log": "log", "clock": {"start": T0, "step": 60},
            "keys": keys}

    def dump(obj: Any) -> bytes:
        return (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode()

    return {
        out / "README.md": _readme(valid, invalid).encode(),
        out / "ledger.json": dump(meta),
        out / "valid.json": dump(valid),
        out / "invalid.json": dump(invalid),
    }


def _readme(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> str:
    lines = [
        "# Core vectors: statements and log entries",
        "",
        "Generated by `spec/tools/gen_core_vectors.py` (do not edit by hand; the test suite",
        "regenerates them and fails on any difference). Every key is derived from a fixed",
        "seed, `SHA-256(\"provledger test key <name>\")` (seeds and public keys in",
        "`ledger.json`), and Ed25519 signatures are deterministic, so the bytes are exact.",
        "",
        "- `ledger.json`: the log origin, the root and log key names, the log clock",
        "  (entry *i* is appended at `start + 60 i`) and the keys.",
        "- `valid.json`: a story told in order on a fresh ledger. Each vector gives the",
        "  statement bytes, their SHA-256 (`hash`), and the log entry the ledger must",
        "  produce for it (`index`, `time`, `entry`). Appending them in order with that",
        "  clock must reproduce every entry byte for byte, and an audit must then report",
        "  exactly one invalidated entry: `attest-pendant`, signed by the gemologist's",
        "  key after the cut-off its revocation names.",
        "- `invalid.json`: statements that must be refused, each after the first",
        "  `context` valid statements were appended, with the error class it must raise",
        "  (provledger's names; section 6 of protocol.md) and the ledger left unchanged.",
        "  `level` says who can catch it: `format` (any COSE / CBOR / Ed25519 tool, or",
        "  the text-character rule of protocol.md section 2;",
        "  spec/tools/check_core_vectors.py, which does not import provledger, rejects",
        "  each of them), `schema` (events.cddl) or `rules` (protocol.md section 6).",
        "  The checker also applies the item-id rules of protocol.md 4.3 (canonical",
        "  form, issuer scope) to every `cert.issued`, and rejects each `rules` vector",
        "  that fails with `NonCanonicalItemIdError` or `OutOfScopeError`.",
        "",
        "## Valid story",
        "",
        "| index | name | signer | type |",
        "|---|---|---|---|",
    ]
    lines += [f"| {v['index']} | {v['name']} | {v['signer']} | `{v['type']}` |" for v in valid]
    lines += ["", "## Invalid statements", "", "| name | level | context | must fail with | case |",
              "|---|---|---|---|---|"]
    lines += [f"| {v['name']} | {v['level']} | {v['context']} | `{v['error']}` | "
              f"{v['description']} |" for v in invalid]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(sv.main(sys.argv, DEFAULT_OUT, render))
