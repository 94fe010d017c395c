"""tlogcheck: an independent checker for provledger's transparency-log formats.

Written from RFC 9162 §2.1, c2sp.org/signed-note, tlog-checkpoint,
tlog-cosignature, tlog-proof and RFC 9942 alone. It imports only the Python
standard library and PyNaCl, never provledger, so that agreement between the
two is evidence that both follow the texts rather than each other.

Every check raises :class:`TlogCheckError` or returns what it verified.

Example:
    python spec/tools/tlogcheck.py spec/vectors/log
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing


class TlogCheckError(Exception):
    """Something does not verify or does not parse."""


# -- RFC 9162 §2.1 ------------------------------------------------------------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_leaf(entry: bytes) -> bytes:
    return _sha(b"\0" + entry)


def hash_children(left: bytes, right: bytes) -> bytes:
    return _sha(b"\1" + left + right)


def mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) by the recursive definition (fine for small n)."""
    if not entries:
        return _sha(b"")
    if len(entries) == 1:
        return hash_leaf(entries[0])
    k = 1
    while k * 2 < len(entries):
        k *= 2
    return hash_children(mth(entries[:k]), mth(entries[k:]))


def _need_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise TlogCheckError(f"{what} is not a 32-byte hash")
    return value


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: the proof must lead from ``leaf_hash`` to ``root``."""
    _need_hash(root, "root")
    if root_from_inclusion(leaf_hash, index, size, proof) != root:
        raise TlogCheckError("inclusion proof leads to another root")


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof implies (RFC 9162 §2.1.3.2 without the final compare)."""
    if index < 0 or index >= size:
        raise TlogCheckError(f"leaf index {index} not in tree size {size}")
    for i, p in enumerate(proof):
        _need_hash(p, f"proof[{i}]")
    fn, sn, r = index, size - 1, _need_hash(leaf_hash, "leaf hash")
    for p in proof:
        if sn == 0:
            raise TlogCheckError("inclusion proof too long")
        if fn % 2 == 1 or fn == sn:
            r = hash_children(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            r = hash_children(r, p)
        fn, sn = fn // 2, sn // 2
    if sn != 0:
        raise TlogCheckError("inclusion proof too short")
    return r


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; equal sizes need an empty proof and equal roots."""
    _need_hash(old_root, "old root")
    _need_hash(new_root, "new root")
    for i, p in enumerate(proof):
        _need_hash(p, f"proof[{i}]")
    if old_size < 1 or new_size < old_size:
        raise TlogCheckError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise TlogCheckError("equal sizes need an empty proof and equal roots")
        return
    if not proof:
        raise TlogCheckError("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn % 2 == 1:
        fn, sn = fn // 2, sn // 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise TlogCheckError("consistency proof too long")
        if fn % 2 == 1 or fn == sn:
            fr, sr = hash_children(c, fr), hash_children(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            sr = hash_children(sr, c)
        fn, sn = fn // 2, sn // 2
    if sn != 0:
        raise TlogCheckError("consistency proof too short")
    if fr != old_root or sr != new_root:
        raise TlogCheckError("consistency proof leads to other roots")


# -- c2sp.org/signed-note -------------------------------------------------------------


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise TlogCheckError(f"{what}: bad base64") from None
    if base64.b64encode(raw).decode() != text:
        raise TlogCheckError(f"{what}: non-canonical base64")
    return raw


def _good_name(name: str) -> bool:
    return name != "" and "+" not in name and not any(ch.isspace() for ch in name)


def note_key_id(name: str, kind: int, key: bytes) -> bytes:
    return _sha(name.encode() + b"\n" + bytes([kind]) + key)[:4]


def parse_vkey(vkey: str) -> tuple[str, bytes, int, bytes]:
    """``<name>+<hex id>+<base64(type || key)>`` -> (name, id, type, key)."""
    try:
        name, hexid, rest = vkey.split("+", 2)
    except ValueError:
        raise TlogCheckError(f"vkey {vkey!r}: wrong shape") from None
    raw = _b64(rest, "vkey")
    if not _good_name(name) or len(hexid) != 8 or len(raw) != 33 or raw[0] not in (1, 4):
        raise TlogCheckError(f"vkey {vkey!r}: malformed")
    kid = note_key_id(name, raw[0], raw[1:])
    if kid.hex() != hexid.lower():
        raise TlogCheckError(f"vkey {vkey!r}: key id does not match")
    return name, kid, raw[0], raw[1:]


def _ed25519_ok(key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def cosignature_message(body: str, timestamp: int) -> bytes:
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + body.encode()


def verify_note(note: str, vkeys: Sequence[str]) -> tuple[str, dict[str, int | None]]:
    """Open a signed note; return (text, {signer name: cosignature time or None})."""
    if len(note.encode("utf-8", "surrogatepass")) > 1 << 20:
        raise TlogCheckError("note longer than 1 MiB")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise TlogCheckError("control character in note")
    if not note.endswith("\n"):
        raise TlogCheckError("note does not end in a newline")
    cut = note.rfind("\n\n")
    if cut == -1:
        raise TlogCheckError("no blank line in note")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    lines = sig_block.split("\n")[:-1]
    if not lines:
        raise TlogCheckError("no signatures")
    if len(lines) > 100:
        raise TlogCheckError("more than 100 signatures")
    keys = {}
    for vkey in vkeys:
        name, kid, kind, key = parse_vkey(vkey)
        keys[(name, kid)] = (kind, key)
    signers: dict[str, int | None] = {}
    used = set()
    for line in lines:
        if not line.startswith("\u2014 "):
            raise TlogCheckError("signature line without em dash")
        fields = line[2:].split(" ")
        if len(fields) != 2 or not _good_name(fields[0]):
            raise TlogCheckError(f"malformed signature line {line[:60]!r}")
        blob = _b64(fields[1], "signature")
        if len(blob) < 5:
            raise TlogCheckError("signature too short")
        ident = (fields[0], blob[:4])
        if ident not in keys:
            continue
        if ident in used:
            raise TlogCheckError(f"duplicate signature by {fields[0]}")
        used.add(ident)
        kind, key = keys[ident]
        if kind == 1:
            ok, when = _ed25519_ok(key, text.encode(), blob[4:]), None
        else:
            if len(blob) != 4 + 8 + 64:
                raise TlogCheckError("cosignature has the wrong length")
            when = struct.unpack(">Q", blob[4:12])[0]
            if when >= 1 << 63:
                raise TlogCheckError("cosignature time too large")
            ok = _ed25519_ok(key, cosignature_message(text, when), blob[12:])
        if not ok:
            raise TlogCheckError(f"bad signature by {fields[0]}")
        signers[fields[0]] = when
    if not signers:
        raise TlogCheckError("no known key signed the note")
    return text, signers


# -- c2sp.org/tlog-checkpoint and tlog-cosignature ------------------------------------------


def parse_checkpoint(text: str) -> tuple[str, int, bytes, list[str]]:
    """(origin, size, root, extension lines) of a checkpoint note text."""
    if not text.endswith("\n"):
        raise TlogCheckError("checkpoint text must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or "" in lines:
        raise TlogCheckError("checkpoint needs three or more non-empty lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
        raise TlogCheckError("checkpoint size is not canonical decimal")
    root_hash = _b64(root, "checkpoint root")
    if len(root_hash) != 32:
        raise TlogCheckError("checkpoint root is not 32 bytes")
    if int(size) >= 1 << 63:
        raise TlogCheckError("checkpoint size too large")
    return origin, int(size), root_hash, lines[3:]


def verify_checkpoint(
    note: str, origin: str, log_vkey: str, witness_vkeys: Sequence[str], quorum: int
) -> tuple[str, int, bytes, list[str], dict[str, int]]:
    """Verify a checkpoint signed by the log and cosigned by ``quorum`` witnesses.

    Returns (origin, size, root, extensions, {witness name: cosignature time}).
    """
    log_name = parse_vkey(log_vkey)[0]
    if parse_vkey(log_vkey)[2] != 1 or any(parse_vkey(w)[2] != 4 for w in witness_vkeys):
        raise TlogCheckError("log key must be type 0x01 and witness keys type 0x04")
    text, signers = verify_note(note, [log_vkey, *witness_vkeys])
    if log_name not in signers or signers[log_name] is not None:
        raise TlogCheckError("the log key did not sign the checkpoint")
    cp_origin, size, root, ext = parse_checkpoint(text)
    if cp_origin != origin:
        raise TlogCheckError(f"checkpoint origin {cp_origin!r} is not {origin!r}")
    cosigs = {n: t for n, t in signers.items() if t is not None}
    if len(cosigs) < quorum:
        raise TlogCheckError(f"{len(cosigs)} cosignatures, {quorum} needed")
    return cp_origin, size, root, ext, cosigs


def verify_cosignature(body: str, line: str, witness_vkey: str) -> int:
    """Verify one cosignature line over checkpoint text ``body``; return its time."""
    name = parse_vkey(witness_vkey)[0]
    signers = verify_note(body + "\n" + line.rstrip("\n") + "\n", [witness_vkey])[1]
    when = signers.get(name)
    if when is None:
        raise TlogCheckError("not a cosignature")
    return when


# -- c2sp.org/tlog-proof --------------------------------------------------------------


def parse_tlog_proof(text: str) -> dict[str, Any]:
    """{"extra": bytes | None, "index": int, "proof": [bytes], "checkpoint": str}."""
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise TlogCheckError("tlog-proof has no blank line")
    lines = head.split("\n")
    if lines.pop(0) != "c2sp.org/tlog-proof@v1":
        raise TlogCheckError("not a c2sp.org/tlog-proof@v1")
    extra = None
    if lines and lines[0].startswith("extra "):
        extra = _b64(lines.pop(0)[6:], "extra")
        if not extra:
            raise TlogCheckError("empty extra")
    if not lines or not lines[0].startswith("index "):
        raise TlogCheckError("no index line")
    index = lines.pop(0)[6:]
    if not index.isascii() or not index.isdigit() or (index != "0" and index[0] == "0"):
        raise TlogCheckError("index is not canonical decimal")
    proof = [_b64(line, "proof hash") for line in lines]
    if any(len(h) != 32 for h in proof) or len(proof) > 64:
        raise TlogCheckError("bad proof hashes")
    return {"extra": extra, "index": int(index), "proof": proof, "checkpoint": checkpoint}


def verify_tlog_proof(
    text: str,
    leaf_hash: bytes,
    origin: str,
    log_vkey: str,
    witness_vkeys: Sequence[str],
    quorum: int,
) -> dict[str, Any]:
    parsed = parse_tlog_proof(text)
    _, size, root, _, _ = verify_checkpoint(
        parsed["checkpoint"], origin, log_vkey, witness_vkeys, quorum
    )
    verify_inclusion(leaf_hash, parsed["index"], size, parsed["proof"], root)
    return parsed


# -- RFC 9942 receipts, with a minimal CBOR reader (RFC 8949) --------------------------------


class _Tag:
    def __init__(self, tag: int, value: Any) -> None:
        self.tag, self.value = tag, value


def _cbor_item(data: bytes, pos: int, depth: int = 0) -> tuple[Any, int]:
    if depth > 16 or pos >= len(data):
        raise TlogCheckError("CBOR too deep or truncated")
    major, info = data[pos] >> 5, data[pos] & 31
    pos += 1
    if info < 24:
        arg = info
    elif info in (24, 25, 26, 27):
        n = 1 << (info - 24)
        if pos + n > len(data):
            raise TlogCheckError("CBOR truncated")
        arg = int.from_bytes(data[pos : pos + n], "big")
        # Deterministic encoding: the shortest form only.
        if (n == 1 and arg < 24) or (n > 1 and arg < 1 << (4 * n)):
            raise TlogCheckError("CBOR integer or length not in shortest form")
        pos += n
    else:
        raise TlogCheckError("CBOR indefinite lengths and reserved values are not allowed")
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        if pos + arg > len(data):
            raise TlogCheckError("CBOR string truncated")
        raw = data[pos : pos + arg]
        if major == 2:
            return raw, pos + arg
        try:
            return raw.decode(), pos + arg
        except UnicodeDecodeError:
            raise TlogCheckError("CBOR text string is not UTF-8") from None
    if major == 4:
        items = []
        for _ in range(arg):
            item, pos = _cbor_item(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        out: dict[Any, Any] = {}
        last = b""
        for _ in range(arg):
            start = pos
            key, pos = _cbor_item(data, pos, depth + 1)
            if data[start:pos] <= last:
                raise TlogCheckError("CBOR map keys not in deterministic order")
            last = data[start:pos]
            out[key], pos = _cbor_item(data, pos, depth + 1)
        return out, pos
    if major == 6:
        value, pos = _cbor_item(data, pos, depth + 1)
        return _Tag(arg, value), pos
    if info == 22:
        return None, pos
    raise TlogCheckError("unsupported CBOR simple value")


def cbor_decode(data: bytes) -> Any:
    value, end = _cbor_item(data, 0)
    if end != len(data):
        raise TlogCheckError("trailing bytes after CBOR item")
    return value


def _cbor_head(major: int, arg: int) -> bytes:
    if arg < 24:
        return bytes([major << 5 | arg])
    for n, info in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if arg < 1 << (8 * n):
            return bytes([major << 5 | info]) + arg.to_bytes(n, "big")
    raise TlogCheckError("CBOR argument too large")


def verify_receipt(receipt: bytes, leaf_hash: bytes, public_key: bytes) -> bytes:
    """Verify an RFC 9942 RFC9162_SHA256 inclusion receipt; return the root it proves."""
    top = cbor_decode(receipt)
    if not isinstance(top, _Tag) or top.tag != 18:
        raise TlogCheckError("receipt is not a tagged COSE_Sign1")
    if not isinstance(top.value, list) or len(top.value) != 4:
        raise TlogCheckError("COSE_Sign1 is not a 4-array")
    protected, unprotected, payload, signature = top.value
    if not isinstance(protected, bytes) or not isinstance(signature, bytes):
        raise TlogCheckError("bad COSE_Sign1 types")
    if payload is not None:
        raise TlogCheckError("payload must be detached")
    header = cbor_decode(protected)
    if not isinstance(header, dict) or header.get(1) != -8 or header.get(395) != 1:
        raise TlogCheckError("receipt must use alg EdDSA (-8) and vds RFC9162_SHA256 (1)")
    if 2 in header:
        raise TlogCheckError("unknown critical headers")
    # spec/log.md 6.2: the kid is SHA-256 of the log's raw Ed25519 public key.
    if header.get(4) != _sha(public_key):
        raise TlogCheckError("receipt kid (label 4) is not SHA-256 of the log's public key")
    try:
        (encoded,) = unprotected[396][-1]
    except (KeyError, TypeError, ValueError, IndexError):
        raise TlogCheckError("receipt needs exactly one inclusion proof at 396/-1") from None
    if not isinstance(encoded, bytes):
        raise TlogCheckError("inclusion proof is not a bstr")
    proof = cbor_decode(encoded)
    if not isinstance(proof, list) or len(proof) != 3:
        raise TlogCheckError("inclusion proof is not [size, index, path]")
    size, index, path = proof
    if not (isinstance(size, int) and isinstance(index, int) and isinstance(path, list)):
        raise TlogCheckError("inclusion proof has wrong types")
    if not path:
        raise TlogCheckError("inclusion path is empty; RFC 9942's CDDL is [+ bstr]")
    root = root_from_inclusion(leaf_hash, index, size, path)
    # Sig_structure = ["Signature1", protected, external_aad h'', payload = root]
    sig_structure = (
        b"\x84\x6aSignature1"
        + _cbor_head(2, len(protected))
        + protected
        + b"\x40"
        + _cbor_head(2, 32)
        + root
    )
    if not _ed25519_ok(public_key, sig_structure, signature):
        raise TlogCheckError("receipt signature does not verify")
    return root


#: spec/log.md 6.2: the unprotected header label of the checkpoint a receipt carries.
RECEIPT_CHECKPOINT_LABEL = "c2sp.org/tlog-checkpoint"


def receipt_parts(receipt: bytes) -> tuple[int, Any]:
    """(tree size, carried checkpoint or None) of a receipt; nothing verified."""
    top = cbor_decode(receipt)
    if not isinstance(top, _Tag) or not isinstance(top.value, list) or len(top.value) != 4:
        raise TlogCheckError("receipt is not a COSE_Sign1")
    unprotected = top.value[1]
    if not isinstance(unprotected, dict):
        raise TlogCheckError("unprotected header is not a map")
    try:
        (encoded,) = unprotected[396][-1]
        size = cbor_decode(encoded)[0]
    except (KeyError, TypeError, ValueError, IndexError):
        raise TlogCheckError("receipt needs exactly one inclusion proof at 396/-1") from None
    return size, unprotected.get(RECEIPT_CHECKPOINT_LABEL)


def verify_receipt_checkpoint(
    receipt: bytes,
    leaf_hash: bytes,
    log_vkey: str,
    witness_vkeys: Sequence[str],
    quorum: int,
) -> tuple[int, bytes, dict[str, int]]:
    """Verify a receipt and the cosigned checkpoint it carries: the receipt
    under the log key, the checkpoint under the log key and ``quorum``
    witnesses, and the checkpoint's size and root equal to the receipt's tree
    size and recomputed root. Returns (size, root, {witness: cosignature time})."""
    name, _, kind, key = parse_vkey(log_vkey)
    if kind != 1:
        raise TlogCheckError("the log key must be type 0x01")
    root = verify_receipt(receipt, leaf_hash, key)
    size, note = receipt_parts(receipt)
    if not isinstance(note, str):
        raise TlogCheckError("the receipt carries no checkpoint text")
    _, cp_size, cp_root, _, cosigs = verify_checkpoint(note, name, log_vkey, witness_vkeys,
                                                       quorum)  # fmt: skip
    if (cp_size, cp_root) != (size, root):
        raise TlogCheckError("the carried checkpoint is of another tree than the receipt")
    return size, root, cosigs


# -- the vectors --------------------------------------------------------------------------


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


def _run_inclusion(c: dict[str, Any]) -> None:
    verify_inclusion(_h(c["leaf_hash"]), c["index"], c["size"], [_h(p) for p in c["proof"]],
                     _h(c["root"]))  # fmt: skip


def _run_consistency(c: dict[str, Any]) -> None:
    verify_consistency(c["old_size"], c["new_size"], _h(c["old_root"]), _h(c["new_root"]),
                       [_h(p) for p in c["proof"]])  # fmt: skip


def _run_note(c: dict[str, Any]) -> None:
    text, signers = verify_note(c["note"], c["vkeys"])
    if "text" in c and (text != c["text"] or sorted(signers) != sorted(c["signers"])):
        raise TlogCheckError("note text or signers differ from the vector")


def _run_checkpoint(c: dict[str, Any]) -> None:
    _, size, root, ext, cosigs = verify_checkpoint(
        c["note"], c["origin"], c["log_vkey"], c["witness_vkeys"], c["quorum"]
    )
    if "size" in c and (size, root.hex(), ext, cosigs) != (
        c["size"], c["root"], c["extensions"], c["cosignature_times"]
    ):  # fmt: skip
        raise TlogCheckError("checkpoint fields differ from the vector")


def _run_tlog_proof(c: dict[str, Any]) -> None:
    parsed = verify_tlog_proof(c["text"], _h(c["leaf_hash"]), c["origin"], c["log_vkey"],
                               c["witness_vkeys"], c["quorum"])  # fmt: skip
    if "index" in c and (
        parsed["index"] != c["index"]
        or (parsed["extra"].hex() if parsed["extra"] is not None else None) != c["extra"]
        or [p.hex() for p in parsed["proof"]] != c["proof"]
    ):
        raise TlogCheckError("tlog-proof fields differ from the vector")


def _run_receipt(c: dict[str, Any]) -> None:
    root = verify_receipt(_h(c["receipt"]), _h(c["leaf_hash"]), _h(c["public_key"]))
    if "root" in c and root.hex() != c["root"]:
        raise TlogCheckError("receipt root differs from the vector")


def _run_receipt_checkpoint(c: dict[str, Any]) -> None:
    size, root, cosigs = verify_receipt_checkpoint(
        _h(c["receipt"]), _h(c["leaf_hash"]), c["log_vkey"], c["witness_vkeys"], c["quorum"]
    )
    if "size" in c and (size, root.hex(), cosigs) != (
        c["size"], c["root"], c["cosignature_times"]
    ):  # fmt: skip
        raise TlogCheckError("receipt checkpoint fields differ from the vector")


def _run_tree(data: dict[str, Any]) -> list[str]:
    leaves = [_h(x) for x in data["leaves"]]
    problems = [
        f"tree.json: root of size {row['size']} differs"
        for row in data["roots"]
        if mth(leaves[: row["size"]]).hex() != row["root"]
    ]
    if [hash_leaf(x).hex() for x in leaves] != data["leaf_hashes"]:
        problems.append("tree.json: leaf hashes differ")
    return problems


RUNNERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "inclusion.json": _run_inclusion,
    "consistency.json": _run_consistency,
    "notes.json": _run_note,
    "checkpoints.json": _run_checkpoint,
    "tlog_proofs.json": _run_tlog_proof,
    "receipts.json": _run_receipt,
    "receipt_checkpoints.json": _run_receipt_checkpoint,
}


def check_directory(directory: Path) -> tuple[int, list[str]]:
    """Run every vector; return (cases checked, disagreements)."""
    problems = _run_tree(json.loads((directory / "tree.json").read_text(encoding="utf-8")))
    count = 1
    for name, run in RUNNERS.items():
        data = json.loads((directory / name).read_text(encoding="utf-8"))
        for case in data["valid"]:
            count += 1
            try:
                run(case)
            except TlogCheckError as exc:
                problems.append(f"{name}: valid {case['id']} failed: {exc}")
        for case in data["invalid"]:
            count += 1
            try:
                run(case)
            except TlogCheckError:
                continue
            problems.append(f"{name}: invalid {case['id']} passed (should fail: {case['reason']})")
    return count, problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: tlogcheck.py VECTOR_DIRECTORY", file=sys.stderr)
        return 2
    count, problems = check_directory(Path(argv[1]))
    for problem in problems:
        print("DISAGREE", problem)
    print(f"tlogcheck: {count} cases, {len(problems)} disagreements")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
