"""Printable certificate cards: an ISO/IEC 7810 ID-1 card (85.60 x 53.98 mm)
with a QR code that opens the item's status page.

The QR code carries the item's GS1 Digital Link (the item id itself), or for
a URN item the URL of its page where the publish directory is served
(``base_url`` + :func:`provledger._web_paths.item_path`). Beside it: the
piece's kind, serial, issuer and certification date from the ledger; below,
the item id in small print. Nothing personal: no owner.

One layout, in millimetres, drawn three ways: SVG as text (the QR as one
path of whole modules), PNG at 600 dpi (bilevel, every module an exact
square of pixels, quiet zone of 4 modules), and PDF as that same 600 dpi
raster on a page the size of the card (CCITT G4, lossless). The QR code
fills a 40 mm square, quiet zone included, at error correction level M or
higher. The longest QR text allowed (:data:`MAX_QR_TEXT`, 256 characters,
the longest item id) needs version 12 (65 modules) at level M, so 73
modules with the quiet zone: 12 px = 0.508 mm a module (>= 0.4 mm, which
phone cameras read from print). A typical 58-character GS1 id is version 4:
23 px = 0.974 mm.

Needs the ``cards`` extra (segno for the QR code, Pillow for PNG and PDF),
imported on first use. Example::

    with Ledger.open("rings.db", readonly=True) as ledger:
        facts = card_facts(ledger, "https://maison-rose.example/01/09506000134352/21/RING-0001")
    Path("ring.png").write_bytes(render_card(facts, "png"))
"""

from __future__ import annotations

import functools
import html
import io
import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._display import safe_text
from ._errors import StateError, VerificationError
from ._itemid import parse_item_id
from ._time import rfc3339
from ._web_paths import item_path

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from ._ledger import Ledger

CARD_WIDTH_MM: Final = 85.60
CARD_HEIGHT_MM: Final = 53.98
DPI: Final = 600
#: Light modules around the symbol, as ISO/IEC 18004 requires.
QUIET_ZONE: Final = 4
#: The longest text a card's QR code carries: the longest item id.
MAX_QR_TEXT: Final = 256
FORMATS: Final = ("svg", "png", "pdf")
INSTALL_HINT: Final = "pip install 'provledger[cards]'"

#: The QR code's square, quiet zone included (mm): right-hand side, near the top.
_QR_BOX: Final = (43.1, 2.5, 40.0)
#: The text column left of it (mm): x, width.
_COLUMN: Final = (4.0, 38.0)
#: ISO/IEC 7810 ID-1 corner radius (mm), for the cutting line.
_CORNER: Final = 3.18
_SMALL_PRINT: Final = (4.0, 46.4, 1.4, 2.1, 92)  # x, first baseline, size, leading, chars
#: Advances in em for the SVG's width estimate, a little above DejaVu Sans's means:
#: upper case, digits, lower case, ASCII punctuation and space, anything else.
_ADVANCE: Final = {"bold": (0.77, 0.70, 0.65, 0.46, 0.85),
                   "regular": (0.69, 0.64, 0.58, 0.40, 0.80)}
_MONO_ADVANCE: Final = 0.602
_FONTS: Final = {"bold": "DejaVuSans-Bold.ttf", "regular": "DejaVuSans.ttf",
                 "mono": "DejaVuSansMono.ttf"}
_SVG_FONTS: Final = {"bold": "'DejaVu Sans', Verdana, Arial, sans-serif",
                     "regular": "'DejaVu Sans', Verdana, Arial, sans-serif",
                     "mono": "'DejaVu Sans Mono', Menlo, Consolas, monospace"}
#: A text may shrink to this share of its size to fit, then it is cut short.
_MIN_SHRINK: Final = 0.6
_URL_CHARS = re.compile(r"[!-~]+")


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What a card shows. ``kind``, ``serial`` and ``issuer`` are statement text
    (untrusted): the renderers escape and clip them."""

    #: The canonical item id (small print).
    item: str
    #: What the QR code carries.
    url: str
    kind: str
    serial: str
    #: The issuing authority's name.
    issuer: str
    #: Log time of the certificate's entry (Unix seconds).
    certified: int


@dataclass(frozen=True, slots=True)
class CardQr:
    """A card's QR code: the symbol and where it sits at 600 dpi."""

    version: int
    #: Error correction level: "M", "Q" or "H" (the highest the version allows).
    error: str
    #: Dark (1) and light (0) modules, row by row, without the quiet zone.
    matrix: tuple[bytes, ...]
    #: Side of a module in pixels at :data:`DPI`; the SVG uses the same size.
    module_px: int
    #: Top-left corner of the symbol (without the quiet zone) in pixels.
    x_px: int
    y_px: int

    @property
    def module_mm(self) -> float:
        return self.module_px * 25.4 / DPI


@dataclass(frozen=True, slots=True)
class _Text:
    """One line of text: its baseline's start, font size and the width it must fit, in mm."""

    x: float
    y: float
    size: float
    text: str
    style: str
    width: float


def card_url(item: str, base_url: str | None = None) -> str:
    """What the card of ``item`` encodes in its QR code: a GS1 item's Digital
    Link (its canonical id), or a URN item's page ``base_url`` +
    ``item/<tag>/<serial>/``, where ``base_url`` is where the publish
    directory (or ``provledger serve``) is reached, e.g.
    ``https://ledger.maison-rose.example/rings/``.

    Raises:
        ItemIdError: ``item`` is not an item id.
        ValueError: a URN item without ``base_url``, a GS1 item with one (its
            Digital Link names the domain that serves its page), a
            ``base_url`` that is not an http(s) URL without query and
            fragment, or a URL longer than :data:`MAX_QR_TEXT`.
    """
    parsed = parse_item_id(item)
    if parsed.gtin:
        if base_url is not None:
            raise ValueError(f"{parsed.text} is a GS1 item: its card's QR code carries its "
                             "Digital Link, which the domain it names resolves; a base URL "
                             "is for URN items only")
        return parsed.text
    if base_url is None:
        raise ValueError(f"{parsed.text} is a URN item, which no phone can open: its card's "
                         "QR code needs the URL its page is published under (a base URL, "
                         "e.g. https://ledger.example/rings/)")
    url = _base_url(base_url) + item_path(parsed.text)
    if len(url) > MAX_QR_TEXT:
        raise ValueError(f"the page URL of {parsed.text} is {len(url)} characters long; a "
                         f"card's QR code carries at most {MAX_QR_TEXT}: use a shorter "
                         "base URL")
    return url


def _base_url(base_url: str) -> str:
    """``base_url`` checked, with a trailing slash."""
    shown = base_url[:100]
    if not _URL_CHARS.fullmatch(base_url):
        raise ValueError(f"base URL {shown!r}: use printable ASCII without spaces "
                         "(percent-encode the rest)")
    try:
        parts = urllib.parse.urlsplit(base_url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a bad IPv6 literal or port
        parts, port_ok = urllib.parse.urlsplit(""), False
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname or not port_ok:
        raise ValueError(f"base URL {shown!r}: not an https:// (or http://) URL with a host")
    if "@" in parts.netloc or "?" in base_url or "#" in base_url:
        raise ValueError(f"base URL {shown!r}: no user info, query or fragment")
    return base_url if base_url.endswith("/") else base_url + "/"


def card_facts(ledger: Ledger, item: str, *, base_url: str | None = None) -> CardFacts:
    """What the card of ``item`` shows, read from ``ledger`` and verified.

    A revoked certificate, or one no issuer confirms any more (its statement
    was signed by a key after that key's cut-off), gets no card: the card
    would vouch for what the ledger no longer does. A stolen or lost piece
    does: the page the QR code opens says so.

    Raises:
        ItemIdError: ``item`` is not an item id.
        ValueError: see :func:`card_url` (checked before the ledger is read).
        NotFoundError: no certificate for ``item``.
        StateError: the certificate is revoked or unconfirmed.
        VerificationError, DecodeError: a stored entry does not verify.
    """
    from ._report import item_report

    canonical = parse_item_id(item).text
    url = card_url(canonical, base_url)
    report = item_report(ledger, canonical)
    if report.status == "revoked":
        raise StateError(f"{canonical}: the certificate is revoked; it gets no card")
    if not report.certificate_confirmed:
        raise StateError(f"{canonical}: the certificate's statement is invalidated and no "
                         "issuer reaffirmed it; it gets no card")
    first = report.events[0]
    if first.type != "cert.issued":
        raise VerificationError(f"{canonical}: the item's first entry is a {first.type}")
    return CardFacts(item=canonical, url=url, kind=str(first.fields["kind"]),
                     serial=str(first.fields["serial"]),
                     issuer=report.issuer_name or report.issuer, certified=first.time)


def card_qr(url: str) -> CardQr:
    """The QR code of ``url`` as a card places it.

    Raises:
        ValueError: ``url`` is longer than :data:`MAX_QR_TEXT` characters.
        ImportError: the ``cards`` extra is not installed.
    """
    if len(url) > MAX_QR_TEXT:
        raise ValueError(f"a card's QR code carries at most {MAX_QR_TEXT} characters, "
                         f"not {len(url)}")
    segno = _import("segno")
    # boost_error: the highest level (M, Q or H) that fits the same version.
    qr = segno.make_qr(url, error="m", boost_error=True)
    matrix = tuple(bytes(row) for row in qr.matrix)
    side = len(matrix) + 2 * QUIET_ZONE
    box = _px(_QR_BOX[2])
    module = box // side
    assert module * 25.4 / DPI >= 0.4, (url, module)  # 256 characters give 12 px
    offset = (box - side * module) // 2 + QUIET_ZONE * module
    return CardQr(version=int(qr.version), error=str(qr.error).upper(), matrix=matrix,
                  module_px=module, x_px=_px(_QR_BOX[0]) + offset,
                  y_px=_px(_QR_BOX[1]) + offset)


def render_card(facts: CardFacts, fmt: str = "svg") -> bytes:
    """The card as an SVG document, a 600 dpi PNG or a one-page PDF (``fmt``).

    Raises:
        ValueError: an unknown format, or a QR text longer than :data:`MAX_QR_TEXT`.
        ImportError: the ``cards`` extra is not installed (its message says
            how to install it).
    """
    if fmt not in FORMATS:
        raise ValueError(f"card format {fmt!r}: use one of {', '.join(FORMATS)}")
    qr = card_qr(facts.url)
    if fmt == "svg":
        return _svg(facts, qr)
    image = _raster(facts, qr)
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, "PNG", dpi=(DPI, DPI), optimize=True)
    else:
        features = _import("PIL.features")
        # Bilevel images go in as CCITT G4 (lossless) only with libtiff;
        # otherwise Pillow would use JPEG, so use a palette image (hex, larger).
        page = image if features.check("libtiff") else image.convert("P")
        # No creation dates: the same card gives the same bytes.
        page.save(out, "PDF", resolution=float(DPI), title="Certificate card",
                  creationDate=None, modDate=None)
    return out.getvalue()


# -- layout -----------------------------------------------------------------------------


def _layout(facts: CardFacts) -> list[_Text]:
    """The card's lines, their text escaped (control and bidi characters made
    visible, see safe_text) and cut to at most 120 characters."""
    x, width = _COLUMN
    lines = [_Text(x, 7.0, 1.9, "CERTIFICATE OF AUTHENTICITY", "bold", width),
             _Text(x, 15.0, 4.4, _cut(safe_text(facts.kind)), "bold", width)]
    rows = (("Serial", facts.serial), ("Issued by", facts.issuer),
            ("Certified", rfc3339(facts.certified).partition("T")[0]))
    for i, (label, value) in enumerate(rows):
        top = 21.0 + 8.0 * i
        lines += [_Text(x, top, 1.6, label, "regular", width),
                  _Text(x, top + 3.6, 2.8, _cut(safe_text(value)), "bold", width)]
    sx, sy, size, leading, chars = _SMALL_PRINT
    item = _cut(safe_text(facts.item), 3 * chars)
    for i in range(0, len(item), chars):
        lines.append(_Text(sx, sy + leading * (i // chars), size, item[i:i + chars], "mono",
                           CARD_WIDTH_MM - 2 * sx))
    return lines


def _cut(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[:max(0, limit - 1)] + "\u2026"


def _px(mm: float) -> int:
    return round(mm * DPI / 25.4)


# -- SVG ------------------------------------------------------------------------------------


def _svg(facts: CardFacts, qr: CardQr) -> bytes:
    w, h = CARD_WIDTH_MM, CARD_HEIGHT_MM
    x, width = _COLUMN
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" '
        f'viewBox="0 0 {w} {h}">',
        f"<title>{_xml(_cut(safe_text(facts.kind), 60))} "
        f"{_xml(_cut(safe_text(facts.serial), 60))}</title>",
        f'<defs><clipPath id="column"><rect x="{x}" y="0" width="{width}" height="{h}"/>'
        f'</clipPath><clipPath id="card"><rect x="0" y="0" width="{w}" height="{h}"/>'
        "</clipPath></defs>",
        f'<rect x="0.05" y="0.05" width="{_n(w - 0.1)}" height="{_n(h - 0.1)}" '
        f'rx="{_CORNER}" fill="#fff" stroke="#000" stroke-width="0.1"/>',
    ]
    for t in _layout(facts):
        text, size = _svg_fit(t)
        clip = "column" if t.style != "mono" else "card"
        weight = ' font-weight="bold"' if t.style == "bold" else ""
        out.append(f'<text x="{t.x}" y="{t.y}" font-size="{_n(size)}"{weight} '
                   f'font-family="{_SVG_FONTS[t.style]}" clip-path="url(#{clip})">'
                   f"{_xml(text)}</text>")
    out.append(f'<path fill="#000" shape-rendering="crispEdges" transform="translate('
               f'{_n(qr.x_px * 25.4 / DPI)} {_n(qr.y_px * 25.4 / DPI)}) '
               f'scale({_n(qr.module_mm)})" d="{_qr_path(qr.matrix)}"/>')
    out.append("</svg>\n")
    return "\n".join(out).encode("utf-8")


def _svg_fit(t: _Text) -> tuple[str, float]:
    """``t``'s text and font size, smaller then cut short to fit ``t.width`` by an
    estimate (an SVG has no font metrics; the clip path guards the rest)."""
    text = t.text
    size = max(t.size * _MIN_SHRINK, min(t.size, t.width / max(_em(text, t.style), 0.01)))
    while len(text) > 1 and _em(text, t.style) * size > t.width:
        text = text[:-2] + "\u2026"
    return text, size


def _em(text: str, style: str) -> float:
    """The estimated width of ``text`` in em."""
    if style == "mono":
        return len(text) * _MONO_ADVANCE
    upper, digit, lower, punct, other = _ADVANCE[style]
    return sum(upper if c.isascii() and c.isupper() else digit if c.isascii() and c.isdigit()
               else lower if c.isascii() and c.islower() else punct if c.isascii() else other
               for c in text)


def _qr_path(matrix: tuple[bytes, ...]) -> str:
    """The dark modules as one path in module units, a rectangle per run in a row."""
    parts = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return "".join(parts)


def _xml(text: str) -> str:
    return html.escape(text, quote=True)


def _n(value: float) -> str:
    """A length with at most four decimals and no trailing zeros."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


# -- raster (PNG, PDF) --------------------------------------------------------------------


def _raster(facts: CardFacts, qr: CardQr) -> PILImage.Image:
    """The card at 600 dpi, bilevel: text drawn in grey levels then thresholded,
    the QR modules pasted last as exact squares of pixels."""
    pil = _import("PIL.Image")
    draw_mod = _import("PIL.ImageDraw")
    w, h = _px(CARD_WIDTH_MM), _px(CARD_HEIGHT_MM)
    image = pil.new("L", (w, h), 255)
    draw = draw_mod.Draw(image)
    draw.rounded_rectangle((1, 1, w - 2, h - 2), radius=_px(_CORNER), outline=0, width=2)
    for t in _layout(facts):
        text, font = _fit(t)
        draw.text((_px(t.x), _px(t.y)), text, font=font, fill=0, anchor="ls")
    card = image.convert("1", dither=pil.Dither.NONE)
    n = len(qr.matrix)
    dark_is_black = bytes([255] + [0] * 255)
    symbol = pil.frombytes("L", (n, n), b"".join(qr.matrix).translate(dark_is_black))
    size = n * qr.module_px
    card.paste(symbol.resize((size, size), pil.Resampling.NEAREST).convert("1"),
               (qr.x_px, qr.y_px))
    return card  # type: ignore[no-any-return]


def _fit(t: _Text) -> tuple[str, Any]:
    """``t``'s text and a font for it that fit ``t.width``: smaller, then cut short."""
    text = t.text
    limit = _px(t.width)
    size = _px(t.size)
    font = _font(t.style, size)
    length = font.getlength(text)
    if length > limit:
        size = max(round(size * _MIN_SHRINK), int(size * limit / length))
        font = _font(t.style, size)
    while len(text) > 1 and font.getlength(text) > limit:
        text = text[:-2] + "\u2026"
    return text, font


@functools.lru_cache(maxsize=32)
def _font(style: str, size: int) -> Any:
    font_mod = _import("PIL.ImageFont")
    try:
        return font_mod.truetype(_FONTS[style], size)
    except OSError:  # no DejaVu fonts on this system: Pillow's own
        return font_mod.load_default(size)


def _import(name: str) -> Any:
    """Import a module of the ``cards`` extra.

    Raises:
        ImportError: it is missing; the message says how to install it.
    """
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"certificate cards need the cards extra ({INSTALL_HINT}): "
                          f"{exc}") from exc
