"""Constrained field types shared by every wire-format Struct."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

#: SHA-256 digest of a file or statement (photos and documents stay off the ledger).
Digest = Annotated[bytes, Meta(min_length=32, max_length=32)]
#: Raw 32-byte Ed25519 public key.
PublicKey = Annotated[bytes, Meta(min_length=32, max_length=32)]
#: Unix time in whole seconds.
Timestamp = Annotated[int, Meta(ge=0, le=2**40)]
#: Unsigned amount that fits every database and language.
Count = Annotated[int, Meta(ge=0, le=2**53 - 1)]
Positive = Annotated[int, Meta(ge=1, le=2**53 - 1)]
ShortText = Annotated[str, Meta(min_length=1, max_length=200)]
Notes = Annotated[str, Meta(max_length=4000)]
Digests = Annotated[list[Digest], Meta(max_length=64)]
#: ISO 4217 alphabetic currency code.
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
#: An item id: an absolute URI (a GS1 Digital Link or a provledger URN).
ItemId = Annotated[
    str, Meta(min_length=8, max_length=256, pattern=r"^(https://|urn:)[\x21-\x7e]+$")
]
#: A log origin, as in a C2SP checkpoint's first line: a schema-less URL. It is
#: also the log key's signed-note name, which may not contain "+".
Origin = Annotated[
    str, Meta(min_length=1, max_length=200, pattern=r"^[\x21-\x2a\x2c-\x7e]+$")
]
