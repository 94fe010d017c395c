"""Text from statements made safe to print on a terminal.

Statements are signed by their authors, not by whoever reads them, so their
text is attacker-chosen as far as a display goes. Decoding already refuses
control and bidi characters in every text field (spec/protocol.md section 2);
this is the second line: whatever reaches a terminal is escaped here, so a
field can neither drive the terminal (ESC, CSI, OSC sequences, CR) nor
reorder or hide what is printed around it.
"""

from __future__ import annotations

from typing import Final

#: Short forms for the whitespace controls people recognise.
_SHORT: Final = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def safe_text(text: str) -> str:
    """``text`` with every character a terminal could act on written as an escape.

    Escaped are the backslash (as ``\\\\``, so that the escaping can be
    undone unambiguously) and every character Python does not count as
    printable: C0 and C1 controls and DEL, Unicode format characters (bidi
    embeddings, overrides and isolates, U+061C, zero-width characters,
    U+FEFF), line and paragraph separators, spaces other than U+0020,
    surrogates, private-use and unassigned code points. LF, CR and TAB
    become ``\\n``, ``\\r`` and ``\\t``; others ``\\xNN``, ``\\uNNNN`` or
    ``\\UNNNNNNNN``, as in a Python literal. Distinct inputs give distinct
    outputs.

    Raises:
        TypeError: ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"safe_text expects str, not {type(text).__name__}")
    # The common case (printable, no backslash) costs two C-level scans.
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(c if c != "\\" and c.isprintable() else _escape(c) for c in text)


def _escape(c: str) -> str:
    short = _SHORT.get(c)
    if short is not None:
        return short
    n = ord(c)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"
