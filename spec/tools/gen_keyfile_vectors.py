"""Regenerate spec/vectors/keyfile/ (key files, manifest.json, README.md) byte for byte.

Every input is fixed here, so running this again must change nothing; the
test suite checks that. The KDF costs are argon2id's minimum (opslimit 1,
memlimit 8 KiB) so that reading a vector takes well under a millisecond.

Usage: python spec/tools/gen_keyfile_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Build from this checkout's code, whatever else is installed.
sys.path.insert(0, str(ROOT / "src"))

from provledger._keyfile import _seal  # noqa: E402
from provledger._keys import SigningKey, format_public_key  # noqa: E402

DEFAULT_OUT = ROOT / "spec" / "vectors" / "keyfile"

PASSPHRASE = b"correct horse battery staple"
WRONG_PASSPHRASE = b"correct horse battery stapler"
SEED = bytes(range(32))
OTHER_SEED = bytes(range(32, 64))
SALT = bytes(range(0x40, 0x50))
NONCE = bytes(range(0x60, 0x78))
OPSLIMIT = 1
MEMLIMIT = 8192

WRONG = "wrong passphrase or corrupted key file"

Doc = dict[str, Any]


def seal(
    *, seed: bytes = SEED, public_key: bytes | None = None, passphrase: bytes = PASSPHRASE
) -> bytes:
    return _seal(
        seed=seed,
        public_key=SigningKey(seed).public_key if public_key is None else public_key,
        passphrase=passphrase,
        opslimit=OPSLIMIT,
        memlimit=MEMLIMIT,
        salt=SALT,
        nonce=NONCE,
    )


def dump(doc: Doc) -> bytes:
    # The same layout _seal writes: two-space indent, keys in file order.
    return json.dumps(doc, indent=2).encode("ascii") + b"\n"


def edit(change: Callable[[Doc], None]) -> bytes:
    doc: Doc = json.loads(seal())
    change(doc)
    return dump(doc)


def flip_first_byte(field: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        holder = doc["kdf"] if field == "salt" else doc
        raw = bytearray(base64.b64decode(holder[field]))
        raw[0] ^= 0x01
        holder[field] = base64.b64encode(bytes(raw)).decode()

    return change


def set_field(*keys: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        holder = doc
        for key in keys[:-1]:
            holder = holder[key]
        holder[keys[-1]] = value

    return change


def add_field(doc: Doc) -> None:
    doc["comment"] = "laptop key"


def truncate_ciphertext(doc: Doc) -> None:
    doc["ciphertext"] = base64.b64encode(base64.b64decode(doc["ciphertext"])[:-1]).decode()


OTHER_PUBLIC_KEY = SigningKey(OTHER_SEED).public_key

# (file, how it was made, None for valid or (error, message contains))
VECTORS: list[tuple[str, str, bytes, tuple[str, str] | None]] = [
    ("valid.json", "SEED encrypted under PASSPHRASE", seal(), None),
    (
        "wrong-passphrase.json",
        "SEED encrypted under WRONG_PASSPHRASE",
        seal(passphrase=WRONG_PASSPHRASE),
        ("KeyFileError", WRONG),
    ),
    (
        "tampered-ciphertext.json",
        "valid.json with the first ciphertext byte xor 0x01",
        edit(flip_first_byte("ciphertext")),
        ("KeyFileError", WRONG),
    ),
    (
        "tampered-nonce.json",
        "valid.json with the first nonce byte xor 0x01",
        edit(flip_first_byte("nonce")),
        ("KeyFileError", WRONG),
    ),
    (
        "tampered-salt.json",
        "valid.json with the first salt byte xor 0x01",
        edit(flip_first_byte("salt")),
        ("KeyFileError", WRONG),
    ),
    (
        "tampered-public-key.json",
        "valid.json with public_key replaced by OTHER_SEED's key (caught by the AAD)",
        edit(set_field("public_key", value=format_public_key(OTHER_PUBLIC_KEY))),
        ("KeyFileError", WRONG),
    ),
    (
        "tampered-opslimit.json",
        "valid.json with kdf.opslimit 2 instead of 1",
        edit(set_field("kdf", "opslimit", value=2)),
        ("KeyFileError", WRONG),
    ),
    (
        "mismatched-public-key.json",
        "SEED encrypted under PASSPHRASE by a writer that stated OTHER_SEED's public key",
        seal(public_key=OTHER_PUBLIC_KEY),
        ("KeyFileError", "not of its stated public key"),
    ),
    (
        "unknown-format.json",
        'valid.json with format "provledger-secret-key/v2"',
        edit(set_field("format", value="provledger-secret-key/v2")),
        ("KeyFileError", "unknown format"),
    ),
    (
        "unknown-kdf.json",
        'valid.json with kdf.alg "argon2i13"',
        edit(set_field("kdf", "alg", value="argon2i13")),
        ("KeyFileError", "unsupported kdf"),
    ),
    (
        "unknown-aead.json",
        'valid.json with aead "xsalsa20poly1305"',
        edit(set_field("aead", value="xsalsa20poly1305")),
        ("KeyFileError", "unsupported aead"),
    ),
    (
        "absurd-memlimit.json",
        "valid.json with kdf.memlimit 4 TiB; must fail before any key derivation",
        edit(set_field("kdf", "memlimit", value=4 << 40)),
        ("KeyFileError", "kdf memlimit"),
    ),
    (
        "absurd-opslimit.json",
        "valid.json with kdf.opslimit 2**32 - 1; must fail before any key derivation",
        edit(set_field("kdf", "opslimit", value=2**32 - 1)),
        ("KeyFileError", "kdf opslimit"),
    ),
    (
        "unknown-field.json",
        'valid.json with an extra top-level field "comment"',
        edit(add_field),
        ("KeyFileError", "unknown field"),
    ),
    (
        "truncated-ciphertext.json",
        "valid.json with the last ciphertext byte removed",
        edit(truncate_ciphertext),
        ("KeyFileError", "ciphertext is not 48 bytes"),
    ),
    (
        "not-json.json",
        "an OpenSSH private key header, not JSON",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n",
        ("KeyFileError", "is not JSON"),
    ),
]


def manifest() -> bytes:
    entries: list[Doc] = []
    for name, made, _, expect in VECTORS:
        entry: Doc = {"file": name, "made": made}
        if expect is None:
            entry |= {
                "valid": True,
                "seed": SEED.hex(),
                "public_key": format_public_key(SigningKey(SEED).public_key),
            }
        else:
            entry |= {"valid": False, "error": expect[0], "message_contains": expect[1]}
        entries.append(entry)
    doc = {
        "passphrase": PASSPHRASE.decode("ascii"),
        "kdf": {"opslimit": OPSLIMIT, "memlimit": MEMLIMIT, "salt": SALT.hex()},
        "nonce": NONCE.hex(),
        "vectors": entries,
    }
    return dump(doc)


def readme() -> str:
    public_key = format_public_key(SigningKey(SEED).public_key)
    rows = "\n".join(
        f"| `{name}` | {made} | "
        + ("decrypts to SEED" if expect is None else f"{expect[0]}: `{expect[1]}`")
        + " |"
        for name, made, _, expect in VECTORS
    )
    return f"""# Key file vectors

Generated by `spec/tools/gen_keyfile_vectors.py`; do not edit by hand. Running
the generator again must reproduce every file byte for byte. The format is
described in `spec/keyfile.md`; `manifest.json` holds the table below for
programs.

Every vector is read with the passphrase

    {PASSPHRASE.decode("ascii")}

(UTF-8, {len(PASSPHRASE)} bytes, no newline). The inputs, all fixed:

| name | value |
| --- | --- |
| SEED | `{SEED.hex()}` |
| public key of SEED | `{public_key}` |
| OTHER_SEED | `{OTHER_SEED.hex()}` |
| public key of OTHER_SEED | `{format_public_key(OTHER_PUBLIC_KEY)}` |
| WRONG_PASSPHRASE | `{WRONG_PASSPHRASE.decode("ascii")}` |
| kdf.salt | `{SALT.hex()}` |
| nonce | `{NONCE.hex()}` |
| kdf.opslimit, kdf.memlimit | {OPSLIMIT}, {MEMLIMIT} (argon2id's minimum, to keep tests fast) |

`valid.json` must decrypt to SEED, whose public key is `{public_key}`.
Every other file must be refused with the error named, whose message contains
the text given.

| file | made as | expected |
| --- | --- | --- |
{rows}

Git does not keep file modes, and `read_signing_key` refuses a key file that
group or others may read, so copy a vector and `chmod 600` it before reading.
"""


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    for name, _, data, _ in VECTORS:
        (out / name).write_bytes(data)
    (out / "manifest.json").write_bytes(manifest())
    (out / "README.md").write_text(readme(), encoding="utf-8", newline="\n")
    print(f"wrote {len(VECTORS)} vectors to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
