"""Ed25519 keys: signing, verifying, and the text form users paste around.

A public key's text form is ``ed25519:`` followed by the unpadded base64url of
its 32 bytes. Verification uses libsodium, which rejects non-canonical
signatures and small-order keys, so a signature has exactly one valid form.
"""

from __future__ import annotations

import base64
import hashlib

import nacl.bindings
import nacl.exceptions
import nacl.signing

from ._errors import DecodeError, SignatureError

PUBLIC_KEY_PREFIX = "ed25519:"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def format_public_key(public_key: bytes) -> str:
    """Text form of a 32-byte Ed25519 public key: ``ed25519:<base64url>``."""
    _check_length(public_key)
    return PUBLIC_KEY_PREFIX + base64.urlsafe_b64encode(public_key).rstrip(b"=").decode()


def parse_public_key(text: str) -> bytes:
    """Parse the text form made by :func:`format_public_key`.

    Raises:
        DecodeError: the text is not an ``ed25519:`` key of 32 bytes.
    """
    text = text.strip()
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise DecodeError(f"public key must start with {PUBLIC_KEY_PREFIX!r}: {text[:20]!r}")
    body = text[len(PUBLIC_KEY_PREFIX) :]
    if len(body) != 43 or not body.replace("-", "").replace("_", "").isalnum():
        raise DecodeError(f"public key {text[:60]!r}: expected 43 base64url characters")
    try:
        raw = base64.urlsafe_b64decode(body + "=")
    except ValueError:
        raise DecodeError(f"public key {text[:60]!r}: bad base64url") from None
    if format_public_key(raw) != text:
        raise DecodeError(f"public key {text[:60]!r}: not in canonical form")
    return raw


def key_id(public_key: bytes) -> bytes:
    """The COSE ``kid`` of a key: SHA-256 of its 32 raw bytes."""
    _check_length(public_key)
    return hashlib.sha256(public_key).digest()


def verify_signature(public_key: bytes, message: bytes, signature: bytes, *, what: str) -> None:
    """Check an Ed25519 signature; return nothing on success.

    Raises:
        SignatureError: the signature does not verify, or has the wrong length.
    """
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureError(f"{what}: signature is {len(signature)} bytes, expected 64")
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        raise SignatureError(
            f"{what}: signature does not verify under {format_public_key(public_key)}"
        ) from None


class SigningKey:
    """An Ed25519 private key. Its repr never shows secret material."""

    __slots__ = ("_key", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key from the operating system's random source."""
        return cls(bytes(nacl.signing.SigningKey.generate()))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of ``message``."""
        return self._key.sign(message).signature

    def seed(self) -> bytes:
        """The 32-byte secret seed; handle with care (see :mod:`keyfile`)."""
        return bytes(self._key)

    def __repr__(self) -> str:
        return f"SigningKey(public_key={format_public_key(self.public_key)!r})"


def _check_length(public_key: bytes) -> None:
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes")
