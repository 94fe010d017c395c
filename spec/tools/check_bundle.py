"""check_bundle: an independent checker for provledger bundles (spec/bundle.md).

Written from spec/bundle.md, spec/protocol.md (sections 2, 4, 5 and 8),
spec/disclosure.md and spec/log.md alone. It imports only cbor2, PyNaCl, the
standard library and the tree and note checks of tlogcheck.py beside it,
never provledger, so that agreement between the two is evidence that both
follow the texts.

It checks everything a bundle proves except the replay of the ledger's rules
(spec/bundle.md section 5, steps 1-10 less the revoked-key cut-off, which
needs the rules' notion of whose key is whose): the file's deterministic CBOR
and limits; the trust in its log and root; the checkpoint note, its witness
quorum, its ``provledger-heads`` and ``provledger-time`` lines and its age;
consistency proofs and checkpoints seen before; every entry's form, index and
inclusion proof; every statement's COSE_Sign1 shape and Ed25519 signature;
every disclosure an entry carries against its statement's commitments
(its form, its digest among the body's or condition report's ``sd``, its
field not in clear nor disclosed twice; which fields each event type has, and
their text rules, are check_disclosure_vectors.py's);
each subject's hash chain from genesis; and each subject's head-map proof
(section 3). Every failure raises :class:`BundleCheckError` whose ``error``
is the name spec/bundle.md gives that failure.

Usage:
    python spec/tools/check_bundle.py spec/vectors/bundle
    python spec/tools/check_bundle.py FILE --policy POLICY [--now UNIX] [--seen NOTE_FILE]...
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cbor2
import nacl.exceptions
import nacl.signing

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tlogcheck import (
    TlogCheckError,
    hash_leaf,
    parse_vkey,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

MAX_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 4096
MAX_SUBJECTS = 256
MAX_CONSISTENCY = 16
MAX_PROOF = 64
MAX_MAP_PROOF = 256
MAX_NOTE = 1024 * 1024
MAX_ENTRY = 70_000
MAX_STATEMENT = 65_472
#: Disclosures per entry (a body's commitments and its condition report's),
#: and bytes per disclosure (spec/disclosure.md).
MAX_DISCLOSURES = 32
MAX_DISCLOSURE = 16_100
DISCLOSURE_DOMAIN = b"provledger disclosure v1\x00"
COMMITTABLE = frozenset({"notes", "inscription", "work", "performed_by", "appraiser",
                         "reference", "reason"})
DEFAULT_MAX_AGE = 86_400
#: A checkpoint may claim a time at most this far after ``now`` (clock skew).
MAX_SKEW = 300
CONTENT_TYPE = "application/vnd.provledger.statement+cbor"
SUBJECT = re.compile(r"(https://[\x21-\x7e]+|urn:[\x21-\x7e]+|provledger:authority:[0-9a-f]{64})")
HEADS = "provledger-heads "
TIME = "provledger-time "


class BundleCheckError(Exception):
    """The bundle does not check out; ``error`` names the failure as spec/bundle.md does."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error


def _fail(error: str, message: str) -> BundleCheckError:
    return BundleCheckError(error, message)


# -- deterministic CBOR and the schema (section 2) -----------------------------------


def _canonical(data: bytes, what: str) -> Any:
    """Decode one CBOR item and insist ``data`` is its deterministic encoding."""
    try:
        value = cbor2.loads(data)
        again = cbor2.dumps(value, canonical=True)
    except Exception as exc:  # cbor2 raises many types on garbage
        raise _fail("DecodeError", f"{what}: not CBOR ({type(exc).__name__})") from None
    if again != data:
        raise _fail("DecodeError", f"{what}: not deterministic CBOR (RFC 8949 §4.2.1)")
    return value


def _array(value: Any, what: str, *, low: int, high: int) -> list[Any]:
    if not isinstance(value, list | tuple) or not low <= len(value) <= high:
        raise _fail("DecodeError", f"{what}: expected an array of {low} to {high} items")
    return list(value)


def _hashes(value: Any, what: str, high: int) -> list[bytes]:
    items = _array(value, what, low=0, high=high)
    if any(not isinstance(h, bytes) or len(h) != 32 for h in items):
        raise _fail("DecodeError", f"{what}: hashes must be 32-byte byte strings")
    return items


def _map(value: Any, what: str, required: set[str],
         optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(value, dict) or not required <= set(value) <= required | optional:
        raise _fail("DecodeError", f"{what}: expected a map with keys {sorted(required)}")
    return value


def _text(value: Any, what: str, high: int) -> str:
    if not isinstance(value, str) or len(value.encode()) > high:
        raise _fail("DecodeError", f"{what}: expected text of at most {high} bytes")
    return value


def decode(data: bytes) -> dict[str, Any]:
    """The bundle map, its schema and limits checked."""
    if len(data) > MAX_BYTES:
        raise _fail("DecodeError", f"bundle: {len(data)} bytes is over 8 MiB")
    top = _map(_canonical(data, "bundle"), "bundle",
               {"v", "item", "heads", "origin", "entries", "root_key", "checkpoint"},
               frozenset({"consistency"}))
    if top["v"] != 1 or isinstance(top["v"], bool):
        raise _fail("DecodeError", "bundle: v must be 1")
    if not isinstance(top["item"], str) or not 8 <= len(top["item"]) <= 256 \
            or not SUBJECT.fullmatch(top["item"]):
        raise _fail("DecodeError", "bundle: item is not an item id")
    origin = _text(top["origin"], "bundle origin", 200)
    if not origin or not all("\x21" <= c <= "\x7e" for c in origin):
        raise _fail("DecodeError", "bundle: origin must be printable ASCII without spaces")
    if not isinstance(top["root_key"], bytes) or len(top["root_key"]) != 32:
        raise _fail("DecodeError", "bundle: root_key must be 32 bytes")
    _text(top["checkpoint"], "bundle checkpoint", MAX_NOTE)
    for n, raw in enumerate(_array(top["heads"], "heads", low=1, high=MAX_SUBJECTS)):
        h = _map(raw, f"heads[{n}]", {"proof", "subject"}, frozenset({"absent"}))
        _hashes(h["proof"], f"heads[{n}].proof", MAX_MAP_PROOF)
        if "absent" in h and (not isinstance(h["absent"], bytes)
                              or len(h["absent"]) not in (0, 64)):
            raise _fail("DecodeError", f"heads[{n}]: absent must be 0 or 64 bytes")
        if not isinstance(h["subject"], str) or not 8 <= len(h["subject"]) <= 256 \
                or not SUBJECT.fullmatch(h["subject"]):
            raise _fail("DecodeError", f"heads[{n}]: subject is not a subject id")
    for n, raw in enumerate(_array(top["entries"], "entries", low=1, high=MAX_ENTRIES)):
        e = _map(raw, f"entries[{n}]", {"entry", "proof"}, frozenset({"disclosures"}))
        if not isinstance(e["entry"], bytes) or len(e["entry"]) > MAX_ENTRY:
            raise _fail("DecodeError", f"entries[{n}]: entry must be bytes")
        _hashes(e["proof"], f"entries[{n}].proof", MAX_PROOF)
        if "disclosures" in e and any(
                not isinstance(d, bytes) or not 0 < len(d) <= MAX_DISCLOSURE
                for d in _array(e["disclosures"], f"entries[{n}].disclosures", low=1,
                                high=MAX_DISCLOSURES)):
            raise _fail("DecodeError", f"entries[{n}]: a disclosure must be 1 to "
                                       f"{MAX_DISCLOSURE} bytes")
    older = top.get("consistency")
    for n, raw in enumerate([] if older is None else _array(older, "consistency", low=1,
                                                             high=MAX_CONSISTENCY)):
        c = _map(raw, f"consistency[{n}]", {"proof", "checkpoint"})
        _hashes(c["proof"], f"consistency[{n}].proof", MAX_PROOF)
        _text(c["checkpoint"], f"consistency[{n}].checkpoint", MAX_NOTE)
    return top


# -- entries and statements (protocol.md sections 4, 5 and 8) -------------------------------


def entry_fields(entry: bytes) -> tuple[int, int, bytes]:
    """(index, time, statement) of a log entry ``{time, index, statement}``."""
    value = _map(_canonical(entry, "log entry"), "log entry", {"time", "index", "statement"})
    index, when, statement = value["index"], value["time"], value["statement"]
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
               for x in (index, when)) or not isinstance(statement, bytes):
        raise _fail("DecodeError", "log entry: index and time must be uints, statement bytes")
    return index, when, statement


def statement_payload(statement: bytes) -> dict[str, Any]:
    """Check a statement's COSE_Sign1 shape and signature; return its payload map."""
    if len(statement) > MAX_STATEMENT:
        raise _fail("DecodeError", "statement: over 65,472 bytes")
    top = _canonical(statement, "statement")
    if not isinstance(top, cbor2.CBORTag) or top.tag != 18:
        raise _fail("DecodeError", "statement: not a tagged COSE_Sign1 (tag 18)")
    parts = _array(top.value, "COSE_Sign1", low=4, high=4)
    protected, unprotected, payload, signature = parts
    if not isinstance(protected, bytes) or not isinstance(payload, bytes) \
            or not isinstance(signature, bytes) or len(signature) != 64 or unprotected != {}:
        raise _fail("DecodeError", "statement: wrong COSE_Sign1 member types")
    header = _canonical(protected, "protected header")
    kid = header.get(4) if isinstance(header, dict) else None
    if not isinstance(kid, bytes) or len(kid) != 32 or header != {1: -8, 3: CONTENT_TYPE, 4: kid}:
        raise _fail("DecodeError", "statement: protected header must be {1: -8, 3: ..., 4: kid}")
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload], canonical=True)
    try:
        nacl.signing.VerifyKey(kid).verify(to_be_signed, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        raise _fail("SignatureError", "statement: signature does not verify") from None
    body = _map(_canonical(payload, "statement payload"), "statement payload",
                {"v", "log", "prev", "time", "type", "event", "signer", "subject"})
    prev = body["prev"]
    if body["signer"] != kid or body["v"] != 1 or not isinstance(body["subject"], str) \
            or not (prev is None or (isinstance(prev, bytes) and len(prev) == 32)):
        raise _fail("DecodeError", "statement payload: bad v, signer, prev or subject")
    return body


def _disclosures(event: Any, disclosures: list[bytes], where: str) -> None:
    """spec/disclosure.md: each disclosure is [16-byte salt, text, committable
    name] in deterministic CBOR, its digest is among the commitments of the
    body or of its condition report, and fills a field not already filled."""
    body = event if isinstance(event, dict) else {}
    condition = body.get("condition")
    condition = condition if isinstance(condition, dict) else {}
    filled: dict[str, set[str]] = {"": {k for k in body if k in COMMITTABLE},
                                   "condition": {k for k in condition if k in COMMITTABLE}}
    seen: set[bytes] = set()
    for data in disclosures:
        digest = hashlib.sha256(DISCLOSURE_DOMAIN + data).digest()
        try:
            raw = _canonical(data, "disclosure")
        except BundleCheckError as exc:
            raise _fail("DisclosureError", f"{where}: {exc}") from None
        if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], bytes)
                and len(raw[0]) == 16 and isinstance(raw[1], str) and raw[2] in COMMITTABLE):
            raise _fail("DisclosureError", f"{where}: not [salt, text, committable name]")
        if digest in seen:
            raise _fail("DisclosureError", f"{where}: the same disclosure twice")
        seen.add(digest)
        part = ("" if digest in body.get("sd", []) else
                "condition" if digest in condition.get("sd", []) else None)
        if part is None:
            raise _fail("DisclosureError", f"{where}: a disclosure matches no commitment")
        if raw[2] in filled[part]:
            raise _fail("DisclosureError", f"{where}: {raw[2]} is in clear or disclosed twice")
        filled[part].add(raw[2])


# -- the head map (section 3) --------------------------------------------------------------


def map_root_from_proof(subject: str, value: bytes, siblings: Sequence[bytes]) -> bytes:
    """Fold a head-map proof (siblings leaf first) up to the root it implies."""
    k = hashlib.sha256(subject.encode()).digest()
    h = hashlib.sha256(b"\x10" + k + value).digest()
    for i, sib in enumerate(siblings):
        d = len(siblings) - 1 - i
        bit = (k[d // 8] >> (7 - d % 8)) & 1
        h = hashlib.sha256(b"\x11" + (sib + h if bit else h + sib)).digest()
    return h


def _bits(key: bytes, depth: int) -> list[int]:
    return [(key[d // 8] >> (7 - d % 8)) & 1 for d in range(depth)]


def map_root_without(subject: str, terminal: bytes, siblings: Sequence[bytes]) -> bytes:
    """Fold an absence proof up to the root it implies (b"" if malformed).

    The subject's path ends in an empty subtree (``terminal`` b"") or in the
    leaf of one other key on the same path (``terminal`` = key || value)."""
    k = hashlib.sha256(subject.encode()).digest()
    depth = len(siblings)
    if terminal == b"":
        h = bytes(32)
    else:
        other = terminal[:32]
        if other == k or _bits(other, depth) != _bits(k, depth):
            return b""
        h = hashlib.sha256(b"\x10" + terminal).digest()
    for i, sib in enumerate(siblings):
        d = depth - 1 - i
        bit = (k[d // 8] >> (7 - d % 8)) & 1
        h = hashlib.sha256(b"\x11" + (sib + h if bit else h + sib)).digest()
    return h


# -- checkpoints -----------------------------------------------------------------------------


#: A quorum: k of all the witnesses, or a rule over the key names of those that cosigned.
Quorum = int | Callable[[set[str]], bool]


def _checkpoint(note: str, origin: str, log_vkey: str, witnesses: Sequence[str],
                quorum: Quorum, now: int | None = None) -> tuple[int, bytes, list[str]]:
    try:
        _, size, root, ext, cosigs = verify_checkpoint(note, origin, log_vkey, witnesses, 0)
    except TlogCheckError as exc:
        raise _fail("CheckpointError", str(exc)) from None
    # A cosignature dated more than the allowed skew after now does not count.
    counted = {n for n, t in cosigs.items() if now is None or t <= now + MAX_SKEW}
    if not (len(counted) >= quorum if isinstance(quorum, int) else quorum(counted)):
        raise _fail("QuorumError", f"cosigned by {sorted(counted)}: the quorum is not met")
    return size, root, ext


def _extensions(ext: list[str]) -> tuple[bytes, int]:
    heads = [e[len(HEADS):] for e in ext if e.startswith(HEADS)]
    times = [e[len(TIME):] for e in ext if e.startswith(TIME)]
    try:
        root = base64.b64decode(heads[0], validate=True) if len(heads) == 1 else b""
    except ValueError:
        root = b""
    if len(root) != 32 or base64.b64encode(root).decode() != heads[0]:
        raise _fail("CheckpointError", "checkpoint needs one provledger-heads line")
    if len(times) != 1 or not times[0].isascii() or not times[0].isdigit() \
            or (times[0] != "0" and times[0][0] == "0"):
        raise _fail("CheckpointError", "checkpoint needs one provledger-time line")
    return root, int(times[0])


# -- the whole bundle --------------------------------------------------------------------------


def check_bundle(data: bytes, *, log_vkeys: Sequence[str], roots: Sequence[bytes],
                 witness_vkeys: Sequence[str] = (), quorum: Quorum = 0, now: int | None = None,
                 max_age: int = DEFAULT_MAX_AGE, seen: Sequence[str] = ()) -> dict[str, Any]:
    """Check a bundle in spec/bundle.md's order; return what it proves (rules not replayed).

    ``now`` None skips the age check (step 4).
    """
    top = decode(data)
    origin = top["origin"]
    log_vkey = next((v for v in log_vkeys if parse_vkey(v)[0] == origin), None)
    if log_vkey is None:
        raise _fail("UnknownKeyError", f"log {origin!r} is not trusted")
    if top["root_key"] not in roots:
        raise _fail("UnknownKeyError", "the bundle's root key is not trusted")
    size, root, ext = _checkpoint(top["checkpoint"], origin, log_vkey, witness_vkeys, quorum,
                                  now)
    heads_root, signed_at = _extensions(ext)
    if now is not None and signed_at > now + MAX_SKEW:
        raise _fail("StaleCheckpointError", f"checkpoint signed {signed_at - now} s from now")
    if now is not None and now - signed_at > max_age:
        raise _fail("StaleCheckpointError", f"checkpoint signed {now - signed_at} s ago")
    proven = _consistency(top.get("consistency", []), origin, log_vkey, size, root)
    _seen(seen, origin, log_vkey, size, root, proven)
    last: dict[str, tuple[bytes, bytes]] = {}
    chains: dict[str, list[str]] = {}
    previous, previous_time = -1, 0
    records = []
    for n, item in enumerate(top["entries"]):
        index, when, statement = entry_fields(item["entry"])
        if index <= previous:
            raise _fail("IncompleteHistoryError", f"entry {n}: log indexes must increase")
        if index >= size:
            raise _fail("ProofError", f"entry {n}: index {index} is beyond size {size}")
        try:
            verify_inclusion(hash_leaf(item["entry"]), index, size, item["proof"], root)
        except TlogCheckError as exc:
            raise _fail("ProofError", f"entry {n}: {exc}") from None
        records.append((index, when, statement_payload(statement), statement, item["entry"]))
        previous = index
    for n, (item, (index, _, body, _, _)) in enumerate(zip(top["entries"], records,
                                                          strict=True)):
        if "disclosures" in item:
            _disclosures(body["event"], item["disclosures"], f"entry {n} (log index {index})")
    for index, _, body, statement, entry in records:
        subject = body["subject"]
        if body["prev"] != last.get(subject, (None, b""))[0]:
            raise _fail("IncompleteHistoryError", f"log index {index}: a gap in {subject}")
        last[subject] = (hashlib.sha256(statement).digest(), entry)
        chains.setdefault(subject, []).append(hashlib.sha256(statement).hexdigest())
    proofs: dict[str, list[bytes]] = {}
    absent: dict[str, bytes] = {}
    for h in top["heads"]:
        if h["subject"] in proofs:
            raise _fail("IncompleteHistoryError", f"two head proofs for {h['subject']}")
        proofs[h["subject"]] = h["proof"]
        if "absent" in h:
            absent[h["subject"]] = h["absent"]
    if top["item"] not in last:
        raise _fail("IncompleteHistoryError", "no entry for the bundle's item")
    root_chain = "provledger:authority:" + top["root_key"].hex()
    if root_chain not in proofs:
        raise _fail("IncompleteHistoryError", "no head-map proof for the root's chain")
    for subject, (_, entry) in last.items():
        if subject not in proofs or subject in absent or map_root_from_proof(
                subject, hash_leaf(entry), proofs[subject]) != heads_root:
            raise _fail("IncompleteHistoryError", f"{subject}: history stops before its head")
    for subject in set(proofs) - set(last):
        if subject not in absent:
            raise _fail("IncompleteHistoryError", "a head proof for a subject without entries")
        if map_root_without(subject, absent[subject], proofs[subject]) != heads_root:
            raise _fail("IncompleteHistoryError", f"{subject}: has entries the bundle left out")
    for index, when, _, _, _ in records:
        if when < previous_time:
            raise _fail("VerificationError", f"log index {index}: log time goes back")
        previous_time = when
    return {"item": top["item"], "origin": origin, "size": size, "root": root.hex(),
            "time": signed_at, "heads": heads_root.hex(), "subjects": chains}


def _consistency(items: list[dict[str, Any]], origin: str, log_vkey: str, size: int,
                 root: bytes) -> dict[int, bytes]:
    proven = {}
    for n, c in enumerate(items):
        old_size, old_root, _ = _checkpoint(c["checkpoint"], origin, log_vkey, (), 0)
        if not 0 < old_size < size:
            raise _fail("ProofError", f"consistency[{n}]: size {old_size} is not older")
        try:
            verify_consistency(old_size, size, old_root, root, c["proof"])
        except TlogCheckError as exc:
            raise _fail("ForkError", f"consistency[{n}]: {exc}") from None
        proven[old_size] = old_root
    return proven


def _seen(seen: Sequence[str], origin: str, log_vkey: str, size: int, root: bytes,
          proven: dict[int, bytes]) -> None:
    for note in seen:
        old_size, old_root, _ = _checkpoint(note, origin, log_vkey, (), 0)
        if old_size > size:
            raise _fail("StaleCheckpointError", f"a checkpoint of size {old_size} was seen")
        if old_size == size and old_root != root:
            raise _fail("ForkError", f"two roots for size {size}")
        if 0 < old_size < size and proven.get(old_size) != old_root:
            if old_size in proven:
                raise _fail("ForkError", f"two roots for size {old_size}")
            raise _fail("MissingConsistencyProofError", f"no consistency proof from {old_size}")


# -- policies and the vectors --------------------------------------------------------------------


def parse_policy(text: str) -> dict[str, Any]:
    """The spec/bundle.md section 4 policy (c2sp.org/tlog-policy lines plus root and
    max-age, and the legacy `witness <vkey>` and `quorum <k>`): logs, roots, witnesses,
    the quorum (k, or a rule over cosigners' key names) and max-age. Trusts its input."""
    out: dict[str, Any] = {"log_vkeys": [], "roots": [], "witness_vkeys": [], "quorum": 0,
                           "max_age": DEFAULT_MAX_AGE}
    rules: dict[str, Callable[[set[str]], bool]] = {}
    quorum = "none"
    for raw in text.split("\n"):
        words = [w for w in re.split("[ \t]+", raw) if w]
        cut = next((i for i, w in enumerate(words) if w.startswith("#")), len(words))
        if not words[:cut]:
            continue
        word, args = words[0], words[1:cut]
        if word == "log":
            out["log_vkeys"].append(args[0])
        elif word == "witness":
            vkey = args[0] if len(args) == 1 else args[1]
            key_name = parse_vkey(vkey)[0]
            out["witness_vkeys"].append(vkey)
            rules[key_name if len(args) == 1 else args[0]] = lambda c, n=key_name: n in c
        elif word == "group":
            members = [rules[m] for m in args[2:]]
            k = {"all": len(members), "any": 1}.get(args[1]) or int(args[1])
            rules[args[0]] = lambda c, k=k, ms=members: sum(m(c) for m in ms) >= k
        elif word == "quorum":
            quorum = args[0]
        elif word == "root":
            if not args[0].startswith("ed25519:"):
                raise ValueError(f"root key {args[0]!r}")
            b64 = args[0][len("ed25519:"):]
            out["roots"].append(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
        elif word == "max-age":
            out["max_age"] = int(args[0])
        elif word == "require":
            pass  # requirements on the item's history: a verifier's, not this proof checker's
        else:
            raise ValueError(f"unknown policy directive {word!r}")
    out["quorum"] = rules[quorum] if quorum in rules else 0 if quorum == "none" else int(quorum)
    return out


def check_directory(directory: Path) -> tuple[int, list[str]]:
    """Check spec/vectors/bundle: valid vectors pass; invalid ones fail with their named
    error unless their level is "rules" (only the rules catch those)."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    problems: list[str] = []
    count = 0
    for case in manifest["valid"] + manifest["invalid"]:
        count += 1
        policy = parse_policy((directory / case["policy"]).read_text(encoding="utf-8"))
        data = (directory / case["file"]).read_bytes()
        expected = None if case in manifest["valid"] or case["level"] in (
            "rules", "requirements") else case["error"]
        try:
            check_bundle(data, now=case["now"], seen=case["seen"], **policy)
        except BundleCheckError as exc:
            if expected != exc.error:
                problems.append(f"{case['name']}: {exc} (expected {expected or 'success'})")
            continue
        if expected is not None:
            problems.append(f"{case['name']}: passed, expected {expected}")
    return count, problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Check provledger bundles without provledger.")
    parser.add_argument("path", type=Path, help="a bundle file, or the vectors directory")
    parser.add_argument("--policy", type=Path, help="the trust policy (with a bundle file)")
    parser.add_argument("--now", type=int, help="unix seconds for the age check")
    parser.add_argument("--seen", type=Path, action="append", default=[],
                        help="a checkpoint note seen before (repeatable)")
    args = parser.parse_args(argv[1:])
    if args.path.is_dir():
        count, problems = check_directory(args.path)
        for problem in problems:
            print("DISAGREE", problem)
        print(f"check_bundle: {count} cases, {len(problems)} disagreements")
        return 1 if problems else 0
    if args.policy is None:
        parser.error("--policy is required with a bundle file")
    policy = parse_policy(args.policy.read_text(encoding="utf-8"))
    try:
        out = check_bundle(args.path.read_bytes()[: MAX_BYTES + 1], now=args.now,
                           seen=[p.read_text(encoding="utf-8") for p in args.seen], **policy)
    except BundleCheckError as exc:
        print(f"FAIL {exc}")
        return 1
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
