"""Check spec/vectors/wallet/manifest.json with `cryptography` alone, no provledger.

For each item: owner seed = HKDF-SHA256(ikm = wallet seed, salt, info =
prefix || 0x00 || UTF-8 canonical item id, L = 32), and its Ed25519 public
key in provledger's text form. The canonical spelling of an id is taken
from the manifest (spec/protocol.md 4.3 defines it).

Usage: python spec/tools/check_wallet_vectors.py [MANIFEST]
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DEFAULT = Path(__file__).resolve().parents[1] / "vectors" / "wallet" / "manifest.json"


def owner_seed(wallet_seed: bytes, canonical_item: str) -> bytes:
    info = b"provledger owner key v1\x00" + canonical_item.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"provledger wallet v1",
                info=info).derive(wallet_seed)


def public_key_text(seed: bytes) -> str:
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def main(argv: list[str]) -> int:
    doc = json.loads(Path(argv[1] if len(argv) > 1 else DEFAULT).read_bytes())
    wallet_seed = bytes.fromhex(doc["wallet_seed"])
    bad = 0
    for entry in doc["items"]:
        seed = owner_seed(wallet_seed, entry["canonical_item"])
        ok = seed.hex() == entry["owner_seed"] and \
            public_key_text(seed) == entry["owner_public_key"]
        bad += not ok
        print(("ok  " if ok else "BAD ") + entry["item"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
