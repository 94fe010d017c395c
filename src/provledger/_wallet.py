"""Wallets: one secret seed from which a separate owner key per item is derived.

An owner who reuses one key for every piece links them all on the public
ledger. A wallet keeps one 32-byte random seed instead; the owner key of an
item is the Ed25519 key whose seed is HKDF-SHA256 of the wallet seed with the
canonical item id in ``info`` (spec/wallet.md). Without the wallet seed the
keys of two items cannot be told to share an owner. The wallet file is a
key file (spec/keyfile.md) of format ``provledger-wallet/v1``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._errors import KeyFileError
from ._itemid import canonical_item_id
from ._keyfile import (
    SEED_BYTES,
    WALLET_FORMAT,
    Strength,
    StrPath,
    file_format_of,
    read_key_file,
    write_key_file,
)
from ._keys import SigningKey

#: HKDF salt: fixed and public, so that the extract step is specific to this
#: scheme and version even if a seed were (wrongly) used for something else.
HKDF_SALT: Final = b"provledger wallet v1"
#: HKDF info prefix; a 0x00 byte and the UTF-8 canonical item id follow.
OWNER_KEY_INFO: Final = b"provledger owner key v1"


def derive_owner_seed(wallet_seed: bytes, item_id: str) -> bytes:
    """The 32-byte Ed25519 seed of the owner key for ``item_id``.

    ``item_id`` is canonicalized first, so every spelling of one item gives
    the same key.

    Raises:
        ItemIdError: ``item_id`` is not an item id.
        ValueError: ``wallet_seed`` is not 32 bytes.
    """
    if not isinstance(wallet_seed, bytes) or len(wallet_seed) != SEED_BYTES:
        raise ValueError("a wallet seed is 32 bytes")
    info = OWNER_KEY_INFO + b"\x00" + canonical_item_id(item_id).encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=SEED_BYTES, salt=HKDF_SALT,
                info=info).derive(wallet_seed)


class Wallet:
    """A wallet seed. Its repr never shows secret material."""

    __slots__ = ("_seed",)

    def __init__(self, seed: bytes) -> None:
        """Raises: ValueError: ``seed`` is not 32 bytes."""
        if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
            raise ValueError("a wallet seed is 32 bytes")
        self._seed = seed

    @classmethod
    def generate(cls) -> Wallet:
        """A fresh wallet from the operating system's random source."""
        return cls(secrets.token_bytes(SEED_BYTES))

    def seed(self) -> bytes:
        """The 32-byte wallet seed: every item's key follows from it. Handle with care."""
        return self._seed

    def owner_key(self, item_id: str) -> SigningKey:
        """The owner key of ``item_id`` (any spelling of it).

        Raises:
            ItemIdError: ``item_id`` is not an item id.
        """
        return SigningKey(derive_owner_seed(self._seed, item_id))

    def owner_public_key(self, item_id: str) -> bytes:
        """The public owner key of ``item_id``: what the owner hands the seller.

        Raises:
            ItemIdError: ``item_id`` is not an item id.
        """
        return self.owner_key(item_id).public_key

    def __repr__(self) -> str:
        return "Wallet(<secret>)"


def write_wallet(
    path: StrPath,
    wallet: Wallet,
    *,
    passphrase: bytes,
    strength: Strength = "interactive",
    overwrite: bool = False,
    _salt: bytes | None = None,
    _nonce: bytes | None = None,
    _limits: tuple[int, int] | None = None,
) -> None:
    """Encrypt ``wallet`` under ``passphrase`` into ``path``, mode 0600, as
    :func:`write_signing_key` does a key (``_salt``, ``_nonce`` and ``_limits``
    only for vectors and tests).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        OSError: the file cannot be written.
        TypeError: ``wallet`` is not a Wallet or ``passphrase`` is not bytes.
        ValueError: ``passphrase`` is empty or ``strength`` is unknown.
    """
    if not isinstance(wallet, Wallet):
        raise TypeError(f"wallet must be a Wallet, not {type(wallet).__name__}")
    write_key_file(path, wallet.seed(), file_format=WALLET_FORMAT, passphrase=passphrase,
                   strength=strength, overwrite=overwrite, _salt=_salt, _nonce=_nonce,
                   _limits=_limits)


def read_wallet(path: StrPath, *, passphrase: bytes) -> Wallet:
    """Decrypt the wallet file at ``path``.

    Raises:
        KeyFileError: as read_signing_key; also when ``path`` is a signing
            key file, not a wallet.
        TypeError: ``passphrase`` is not bytes.
        ValueError: ``passphrase`` is empty.
    """
    return Wallet(read_key_file(path, passphrase=passphrase, file_format=WALLET_FORMAT).seed())


def is_wallet_file(path: StrPath) -> bool:
    """Whether ``path`` is a wallet file, judged by its ``format`` alone (no
    passphrase needed). False for anything unreadable: reading it as a key
    file then reports the problem."""
    try:
        return file_format_of(Path(path)) == WALLET_FORMAT
    except KeyFileError:
        return False
