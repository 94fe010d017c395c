"""Options that name an owner's public key: a key, a .pub file, or a wallet.

A wallet's key depends on the item, which a command may only know after its
options are parsed (``issue`` builds the id), so the option yields a
:class:`WalletFile` and the command asks :func:`owner_public_key` once it
has the item.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click

import provledger

from ._common import passphrase
from ._params import _ParamType


@dataclass(frozen=True, slots=True)
class WalletFile:
    """An owner public key still to be derived from this wallet for an item."""

    path: Path


class OwnerKeyType(_ParamType):
    """``ed25519:...`` text, a .pub file, or a wallet file (spec/wallet.md)."""

    name = "pubkey|wallet"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None  # noqa: ARG002
    ) -> bytes | WalletFile:
        if isinstance(value, bytes | WalletFile):
            return value
        text = str(value)
        # ed25519:... text is no file, so is_wallet_file says no to it.
        if provledger.is_wallet_file(text):
            return WalletFile(Path(text))
        return provledger.read_public_key(text)


OWNER_KEY: Final = OwnerKeyType()
#: Appended to the help of an OWNER_KEY option.
WALLET_HELP: Final = ("A wallet file gives the key derived for this item (its passphrase "
                      "is asked).")


def owner_public_key(value: bytes | WalletFile, item: str) -> bytes:
    """The public key ``value`` names, for ``item`` if it is a wallet.

    Raises:
        provledger.KeyFileError: the wallet cannot be unlocked.
        provledger.ItemIdError: ``item`` is not an item id.
    """
    if isinstance(value, bytes):
        return value
    wallet = provledger.read_wallet(value.path, passphrase=passphrase(f"wallet {value.path}"))
    return wallet.owner_public_key(item)
