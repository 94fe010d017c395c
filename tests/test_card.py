"""Certificate cards (issue 14, item 5): the QR code on every format decodes to
the item's GS1 Digital Link or page URL, the card is ID-1 sized, and statement
text cannot inject markup. QR codes are read back with zxing-cpp; the SVG is
rendered by a real headless chromium when one is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from io import BytesIO
from pathlib import Path

import pytest
import zxingcpp
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

import provledger as pl
from provledger._card import CardFacts, card_facts, card_qr, card_url, render_card
from provledger._web_paths import item_path
from provledger_cli.main import cli

from .conftest import World, grant, key, snapshot

DOMAIN = "maison-rose.example"
GTIN = "09506000134352"
RING = f"https://{DOMAIN}/01/{GTIN}/21/RING-0001"
BASE = "https://ledger.maison-rose.example/rings/"
#: The URN ring the world's jeweler certifies in the shop fixture.
URN = pl.serial_item_id(key("jeweler").public_key, "R-1001")
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                         if Path("/usr/bin/chromium").exists() else None)
#: ID-1 at 600 dpi, rounded to whole pixels.
WIDTH_PX, HEIGHT_PX = 2022, 1275


def decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def png(facts: CardFacts) -> Image.Image:
    image = Image.open(BytesIO(render_card(facts, "png")))
    image.load()
    return image


def facts(item: str = RING, url: str | None = None, **fields: str) -> CardFacts:
    return CardFacts(item=item, url=url or item, kind=fields.get("kind", "ring"),
                     serial=fields.get("serial", "RING-0001"),
                     issuer=fields.get("issuer", "Maison Rose"), certified=1_800_000_000)


@pytest.fixture
def shop(world: World) -> World:
    """The world plus a GS1-scoped issuer with one ring, and a URN ring of the jeweler."""
    maison = key("maison")
    grant(world, world.root, maison, "issuer", "Maison Rose", gs1_prefixes=("9506000",),
          domains=(DOMAIN,))
    world.add(maison, RING, pl.CertificateIssued(kind="ring", serial="RING-0001", gtin=GTIN,
                                                 owner=world.owner.public_key))
    assert world.issue("R-1001") == URN
    return world


# -- what the QR code says ---------------------------------------------------------------


def test_gs1_card_from_the_ledger_decodes_to_the_item_id(shop: World) -> None:
    card = card_facts(shop.ledger, RING.replace("https", "HTTP"))  # any spelling of the id
    assert card == CardFacts(item=RING, url=RING, kind="ring", serial="RING-0001",
                             issuer="Maison Rose", certified=shop.clock.t - 1)
    image = png(card)
    assert decode(image) == [RING]
    assert image.size == (WIDTH_PX, HEIGHT_PX)
    assert image.mode == "1"
    assert [round(d) for d in image.info["dpi"]] == [600, 600]


def test_urn_card_decodes_to_the_page_url(shop: World) -> None:
    item = URN
    card = card_facts(shop.ledger, item, base_url=BASE.rstrip("/"))  # the slash is added
    assert card.url == BASE + item_path(item)
    assert card.url.endswith("/item/" + item.split(":")[3] + "/R-1001/")
    assert card.issuer == "Jeweler"
    assert decode(png(card)) == [card.url]


def test_a_urn_item_without_a_base_url_is_refused_clearly(shop: World) -> None:
    with pytest.raises(ValueError, match="URN item, which no phone can open") as info:
        card_facts(shop.ledger, URN)
    assert "base URL" in str(info.value)
    with pytest.raises(ValueError, match="GS1 item: its card's QR code carries its Digital"):
        card_url(RING, BASE)


@pytest.mark.parametrize(("base", "problem"), [
    ("ftp://ledger.example/", "not an https"),
    ("ledger.example/rings/", "not an https"),
    ("https:///rings/", "not an https"),
    ("https://ledger.example:http/", "not an https"),
    ("https://[::1/", "not an https"),
    ("https://ledger.example/rings/?page=1", "no user info, query or fragment"),
    ("https://ledger.example/#top", "no user info, query or fragment"),
    ("https://me@ledger.example/", "no user info, query or fragment"),
    ("https://ledger.example/my rings/", "printable ASCII"),
    ("https://lédger.example/", "printable ASCII"),
    ("https://ledger.example/\x1b[2J/", "printable ASCII"),
    ("https://ledger.example/" + "x" * 240 + "/", "at most 256"),
])
def test_bad_base_urls_are_refused(base: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        card_url(URN, base)


def test_a_revoked_or_unknown_certificate_gets_no_card(shop: World) -> None:
    with pytest.raises(pl.NotFoundError):
        card_facts(shop.ledger, RING.replace("RING-0001", "RING-0002"))
    with pytest.raises(pl.ItemIdError):
        card_facts(shop.ledger, "not an item")
    shop.add(shop.jeweler, URN, pl.CertificateRevoked(reason="issued in error"))
    with pytest.raises(pl.StateError, match="revoked"):
        card_facts(shop.ledger, URN, base_url=BASE)


def test_a_stolen_piece_still_gets_a_card(shop: World) -> None:
    shop.add(key("maison"), RING, pl.StolenReported(reference="PP-1"))
    assert decode(png(card_facts(shop.ledger, RING))) == [RING]


# -- size and scannability --------------------------------------------------------------


def longest_gs1_id() -> str:
    """A canonical GS1 id of exactly 256 characters (the limit)."""
    serial = '"%/<>?' + "A" * 14  # six characters percent-encoded: 32 in the URL
    fixed = len(f"https:///01/{GTIN}/21/") + 32
    domain = ".".join(["a" * 63, "b" * 63, "c" * 40, "d" * (256 - fixed - 63 - 63 - 40 - 3)])
    item = pl.gs1_item_id(domain, GTIN, serial)
    assert len(item) == 256
    return item


def test_the_longest_id_is_version_12_with_half_millimetre_modules() -> None:
    item = longest_gs1_id()
    qr = card_qr(item)
    assert (qr.version, len(qr.matrix)) == (12, 65)
    assert qr.error in ("M", "Q", "H")
    assert qr.module_px == 12
    assert 0.5 < qr.module_mm < 0.51  # what the module docstring promises
    assert decode(png(facts(item))) == [item]
    with pytest.raises(ValueError, match="at most 256"):
        card_qr(item + "x")


def test_a_typical_id_gets_big_modules_and_at_least_level_m() -> None:
    qr = card_qr(RING)
    assert qr.version == 4
    assert qr.error in ("M", "Q", "H")
    assert qr.module_mm > 0.9


def test_the_quiet_zone_and_the_qr_square_stay_clear_of_text() -> None:
    """Long text shrinks, then is cut: nothing reaches the QR code's square."""
    wide = facts(kind="W" * 200, serial="M" * 200, issuer="W" * 200)
    image = png(wide)
    qr = card_qr(wide.url)
    side = len(qr.matrix) * qr.module_px
    quiet = 4 * qr.module_px
    left, top = qr.x_px - quiet, qr.y_px - quiet
    box = image.crop((left - 10, top, left + side + 2 * quiet, top + side + 2 * quiet))
    symbol = image.crop((qr.x_px, qr.y_px, qr.x_px + side, qr.y_px + side))
    # Everything dark in the square plus a 10 px margin is a module of the symbol.
    assert box.histogram()[0] == symbol.histogram()[0] > 0
    assert decode(image) == [wide.url]
    svg = render_card(wide, "svg").decode()
    texts = [t for t in re.findall(r">([^<]*)</text>", svg) if t.startswith(("W", "M"))]
    assert len(texts) == 3
    assert all(t.endswith("\u2026") and len(t) < 40 for t in texts)


def test_svg_size_is_id1_and_modules_match_the_png() -> None:
    svg = render_card(facts(), "svg")
    root = ET.fromstring(svg)
    assert (root.get("width"), root.get("height")) == ("85.6mm", "53.98mm")
    assert root.get("viewBox") == "0 0 85.6 53.98"
    path = root.find("{http://www.w3.org/2000/svg}path")
    assert path is not None
    qr = card_qr(RING)
    scale = re.search(r"scale\(([0-9.]+)\)", path.get("transform", ""))
    assert scale is not None
    assert float(scale.group(1)) == pytest.approx(qr.module_mm, abs=1e-4)
    # The path's rectangles cover exactly the dark modules.
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", path.get("d", ""))
    dark = {(int(x) + i, int(y)) for x, y, n in runs for i in range(int(n))}
    assert dark == {(x, y) for y, row in enumerate(qr.matrix) for x, v in enumerate(row) if v}


def pdf_image(pdf: bytes) -> Image.Image:
    """The one image of a Pillow card PDF, decoded from its CCITT G4 stream by wrapping
    the stream in a TIFF whose tags say what the PDF's image dictionary says."""
    head = re.search(rb"/Width (\d+)\s*/Height (\d+)\s*/Filter \[ /CCITTFaxDecode \]"
                     rb".*?/K -1\s*/BlackIs1 true.*?/Length (\d+)\s*>>stream\n", pdf, re.S)
    assert head is not None, pdf[:600]
    width, height, length = map(int, head.groups())
    data = pdf[head.end():head.end() + length]
    # BlackIs1 makes a coded black run 1 bits, which DeviceGray shows white:
    # TIFF's BlackIsZero (photometric 1).
    tags = [(256, 4, width), (257, 4, height), (258, 3, 1), (259, 3, 4), (262, 3, 1),
            (273, 4, 8), (277, 3, 1), (278, 4, height), (279, 4, length), (293, 4, 0)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) if kind == 4
        else struct.pack("<HHIHH", tag, kind, 1, value, 0) for tag, kind, value in tags)
    tiff = b"II*\x00" + struct.pack("<I", 8 + length) + data + ifd + b"\x00" * 4
    image = Image.open(BytesIO(tiff))
    image.load()
    return image


def test_pdf_is_one_id1_page_holding_the_png_raster() -> None:
    card = facts()
    pdf = render_card(card, "pdf")
    assert pdf.startswith(b"%PDF-")
    box = re.findall(rb"/MediaBox \[ 0 0 ([0-9.]+) ([0-9.]+) \]", pdf)
    assert len(box) == 1
    w_mm, h_mm = (float(v) / 72 * 25.4 for v in box[0])
    assert w_mm == pytest.approx(85.60, abs=0.05)
    assert h_mm == pytest.approx(53.98, abs=0.05)
    embedded = pdf_image(pdf)
    assert embedded.size == (WIDTH_PX, HEIGHT_PX)
    assert embedded.convert("L").tobytes() == png(card).convert("L").tobytes()
    assert decode(embedded) == [RING]
    assert render_card(card, "pdf") == pdf  # no creation date: the same card, the same bytes


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed: the SVG card is not "
                                             "rendered by a browser (apt-get install chromium)")
def test_svg_rendered_by_chromium_decodes(tmp_path: Path) -> None:
    item = longest_gs1_id()
    (tmp_path / "card.svg").write_bytes(render_card(facts(item, kind="<b>ring</b>"), "svg"))
    shot = tmp_path / "shot.png"
    # 85.6 mm is 323.5 CSS px; scale 4 gives 4 device px to a 0.5 mm module.
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--force-device-scale-factor=4",
                    "--window-size=324,205", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", (tmp_path / "card.svg").as_uri()],
                   check=True, capture_output=True, timeout=60)
    image = Image.open(shot)
    assert image.size == (1296, 820)
    assert decode(image) == [item]


# -- untrusted text ----------------------------------------------------------------------


def test_statement_text_cannot_inject_markup_or_controls() -> None:
    hostile = facts(kind="<script>x</script>", serial="R-1\x1b[31m\u202eevil",
                    issuer='A & B" onload="x')
    svg = render_card(hostile, "svg")
    root = ET.fromstring(svg)  # still well-formed XML
    names = {el.tag.rpartition("}")[2] for el in root.iter()}
    assert names == {"svg", "title", "defs", "clipPath", "rect", "text", "path"}
    assert not any(el.attrib.get("onload") for el in root.iter())
    texts = ["".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "<script>x</script>" in texts  # shown as text, not run
    assert "R-1\\x1b[31m\\u202eevil" in texts  # controls made visible
    assert 'A & B" onload="x' in texts
    assert b"\x1b" not in svg
    assert "\u202e".encode() not in svg
    assert b"<script" not in svg
    assert decode(png(hostile)) == [RING]  # the raster draws the same escaped text


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="card format 'gif'"):
        render_card(facts(), "gif")


# -- property: every GS1 id and page URL reads back --------------------------------------

_CHARSET_82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
_DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]),
                    st.lists(_LABEL, min_size=1, max_size=3),
                    st.from_regex(r"[a-z][a-z0-9]{1,6}", fullmatch=True))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(domain=_DOMAIN, serial=st.text(_CHARSET_82, min_size=1, max_size=20))
def test_any_gs1_card_decodes_to_its_id(domain: str, serial: str) -> None:
    item = pl.gs1_item_id(domain, GTIN, serial)
    assert decode(png(facts(item, serial=serial))) == [item]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(serial=st.from_regex(r"[A-Za-z0-9._~-]{1,64}", fullmatch=True), domain=_DOMAIN)
def test_any_urn_card_decodes_to_its_page(serial: str, domain: str) -> None:
    item = pl.serial_item_id(key("jeweler").public_key, serial)
    url = card_url(item, f"https://{domain}/provenance")
    assert url == f"https://{domain}/provenance/{item_path(item)}"
    assert decode(png(facts(item, url))) == [url]


# -- the command line --------------------------------------------------------------------


def run(w: World, *args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["--db", str(w.path), "card", *map(str, args)],
                              env={"PROVLEDGER_DB": None}, prog_name="provledger")


def one_error(result: Result, code: int, contains: str) -> None:
    assert result.exit_code == code, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 or code == 2, result.stderr
    assert contains in result.stderr, result.stderr


def test_cli_writes_each_format_and_refuses_to_overwrite(shop: World, tmp_path: Path) -> None:
    before = snapshot(shop.path)
    out = tmp_path / "ring.PNG"
    result = run(shop, RING, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out} (")
    assert f"QR code {RING} (version 4-" in result.stdout
    assert decode(Image.open(out)) == [RING]
    data = out.read_bytes()
    one_error(run(shop, RING, "-o", out), 2, "already exists")
    assert out.read_bytes() == data
    doc = json.loads(run(shop, URN, "-o", tmp_path / "r.card", "--format", "svg",
                         "--base-url", BASE, "--json").stdout)
    assert doc["format"] == "svg"
    assert doc["url"] == BASE + item_path(URN)
    assert doc["qr"]["module_mm"] > 0.4
    assert (tmp_path / "r.card").read_bytes().startswith(b"<?xml")
    assert run(shop, RING, "-o", tmp_path / "ring.pdf").exit_code == 0
    assert (tmp_path / "ring.pdf").read_bytes().startswith(b"%PDF-")
    assert snapshot(shop.path) == before  # read only


def test_cli_refusals_write_nothing(shop: World, tmp_path: Path) -> None:
    out = tmp_path / "card.png"
    one_error(run(shop, URN, "-o", out), 2, "no phone can open")
    one_error(run(shop, RING, "-o", out, "--base-url", BASE), 2, "Digital Link")
    one_error(run(shop, URN, "-o", out, "--base-url", "ftp://x.example/"), 2,
              "not an https")
    one_error(run(shop, RING, "-o", tmp_path / "card.gif"), 2, "give --format")
    one_error(run(shop, RING.replace("RING-0001", "RING-0002"), "-o", out), 6, "no certificate")
    one_error(run(shop, "urn:nope", "-o", out), 7, "not an item id")
    shop.add(shop.jeweler, URN, pl.CertificateRevoked(reason="issued in error"))
    one_error(run(shop, URN, "-o", out, "--base-url", BASE), 3, "revoked")
    assert not out.exists()
    assert not (tmp_path / "card.gif").exists()


def test_cli_without_the_cards_extra_says_how_to_install_it(shop: World, tmp_path: Path) -> None:
    out = tmp_path / "card.svg"
    code = ("import sys; sys.modules['segno'] = None\n"
            "from provledger_cli.main import main; main()")
    result = subprocess.run([sys.executable, "-c", code, "--db", str(shop.path), "card", RING,
                             "-o", str(out)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 7, result.stderr
    assert result.stderr.count("\n") == 1
    assert "pip install 'provledger[cards]'" in result.stderr
    assert not out.exists()
