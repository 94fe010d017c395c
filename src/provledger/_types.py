"""Constrained field types shared by every wire-format Struct."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

#: SHA-256 digest of a file or statement (photos and documents stay off the ledger).
Digest = Annotated[bytes, Meta(min_length=32, max_length=32)]
#: Raw 32-byte Ed25519 public key.
PublicKey = Annotated[bytes, Meta(min_length=32, max_length=32)]
#: The latest time the protocol can carry: 2**40 s, in the year 36812.
MAX_TIME = 2**40
#: Unix time in whole seconds.
Timestamp = Annotated[int, Meta(ge=0, le=MAX_TIME)]
#: Unsigned amount that fits every database and language.
Count = Annotated[int, Meta(ge=0, le=2**53 - 1)]
Positive = Annotated[int, Meta(ge=1, le=2**53 - 1)]

# Text fields are shown to people, so none may hold a character that drives a
# terminal or reorders or hides text around it (spec/protocol.md section 2):
# C0 controls, DEL, C1 controls, U+061C, U+200B-U+200F, U+2028-U+202E,
# U+2066-U+2069 and U+FEFF. Multi-line text may hold LF, nothing else. The
# patterns are negated classes anchored with \A and \Z ("$" would let a final
# LF through), one compiled regex per alias, run on every decode.
_FORBIDDEN = r"\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff"
LINE_PATTERN = rf"\A[^\x00-\x1f{_FORBIDDEN}]*\Z"
LINES_PATTERN = rf"\A[^\x00-\x09\x0b-\x1f{_FORBIDDEN}]*\Z"

#: One line of text, 1-200 characters: names, kinds, reasons.
ShortText = Annotated[str, Meta(min_length=1, max_length=200, pattern=LINE_PATTERN)]
#: One line of optional text (stone and part details, size, metal, inscription);
#: bounded only by the statement's size (spec/protocol.md section 9).
Text = Annotated[str, Meta(pattern=LINE_PATTERN)]
#: Optional multi-line text.
Notes = Annotated[str, Meta(max_length=4000, pattern=LINES_PATTERN)]
#: Required multi-line text (a repair's ``work``).
Work = Annotated[str, Meta(min_length=1, max_length=4000, pattern=LINES_PATTERN)]
#: What each text pattern means, for error messages (msgspec quotes the regex).
TEXT_RULES = {
    LINE_PATTERN: "one line of text without control or bidi characters",
    LINES_PATTERN: "text without control or bidi characters (LF allowed)",
}
Digests = Annotated[list[Digest], Meta(max_length=64)]
#: ISO 4217 alphabetic currency code.
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}\Z")]
#: An item id: an absolute URI (a GS1 Digital Link or a provledger URN).
ItemId = Annotated[
    str, Meta(min_length=8, max_length=256, pattern=r"^(https://|urn:)[\x21-\x7e]+\Z")
]
#: A log origin, as in a C2SP checkpoint's first line: a schema-less URL. It is
#: also the log key's signed-note name, which may not contain "+".
Origin = Annotated[
    str, Meta(min_length=1, max_length=200, pattern=r"^[\x21-\x2a\x2c-\x7e]+\Z")
]
