"""``provledger card``: a printable certificate card with a QR code of the item's page."""

from __future__ import annotations

from pathlib import Path

import click

import provledger
from provledger import _card, safe_text

from ._common import EXIT_OTHER, Settings, emit, fail, json_option, pass_settings


@click.command()
@click.argument("item")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The card file to write (must not exist): .svg, .png or .pdf.")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "pdf"]),
              help="The file format.  [default: from the extension of -o]")
@click.option("--base-url", metavar="URL",
              help="Where the publish directory (or `provledger serve`) is reached, e.g. "
                   "https://ledger.example/rings/: a URN item's QR code opens "
                   "URL/item/<tag>/<serial>/. GS1 items need none: their QR code is their "
                   "Digital Link.")
@json_option
@pass_settings
def card(settings: Settings, *, item: str, out: Path, fmt: str | None, base_url: str | None,
         as_json: bool) -> None:
    """Write ITEM's certificate card: ID-1 size (85.60 x 53.98 mm), with a
    QR code that opens the item's status page, the piece's kind, serial,
    issuer and certification date, and the item id in small print. It shows
    no owner.

    SVG is vector; PNG is 600 dpi; PDF is one 600 dpi page the size of the
    card. Print at 100 % (no "fit to page"). Needs the cards extra:
    pip install 'provledger[cards]'.

    \b
    Examples:
      provledger --db rings.db card \\
        https://maison-rose.example/01/09506000134352/21/RING-0001 -o ring.pdf
      provledger --db rings.db card urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        -o R-1001.svg --base-url https://ledger.maison-rose.example/rings/
    """
    fmt = fmt or _format_of(out)
    if out.exists():
        raise click.BadParameter(f"{out} already exists", param_hint="-o/--out")
    try:
        url = _card.card_url(provledger.canonical_item_id(item), base_url)
    except ValueError as exc:
        if isinstance(exc, provledger.ProvLedgerError):
            raise  # not an item id: exit 7 with its message, as other commands
        raise click.BadParameter(str(exc), param_hint="--base-url") from None
    try:
        qr = _card.card_qr(url)  # the extra's absence is found before the ledger is read
        with provledger.Ledger.open(settings.db, readonly=True) as ledger:
            facts = _card.card_facts(ledger, item, base_url=base_url)
        data = _card.render_card(facts, fmt)
    except ImportError as exc:
        fail(str(exc), EXIT_OTHER)
    with out.open("xb") as f:
        f.write(data)
    emit(as_json, {"item": facts.item, "file": str(out), "format": fmt, "bytes": len(data),
                   "url": url, "qr": {"version": qr.version, "error": qr.error,
                                      "module_mm": round(qr.module_mm, 3)}},
         [f"wrote {out} ({len(data):,} bytes): {safe_text(facts.kind)} "
          f"{safe_text(facts.serial)}, QR code {url} (version {qr.version}-{qr.error}, "
          f"{qr.module_mm:.2f} mm modules)"])


def _format_of(out: Path) -> str:
    """The format an output file's extension names."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png", "pdf"):
        raise click.BadParameter(f"{out}: the extension names no card format (.svg, .png, "
                                 ".pdf); give --format", param_hint="-o/--out")
    return fmt
