"""Item events: issue a certificate, then attest, repair, appraise, report, renew, revoke."""

from __future__ import annotations

import urllib.parse
from typing import Final, Literal, cast

import click

import provledger

from ._common import Settings, notes_option, pass_settings
from ._owner_key import OWNER_KEY, WALLET_HELP, WalletFile, owner_public_key
from ._params import DIGEST, DIMENSIONS, PART, STONE, TIME
from ._write import WriteOptions, Writer, open_writer, write_options

Capacity = Literal["gemologist", "appraiser"]
Category = Literal["repair", "service", "resize", "cleaning", "restoration"]
Method = Literal["in_person", "lab", "remote"]

_CAPACITIES: Final[tuple[Capacity, ...]] = ("gemologist", "appraiser")
_CATEGORIES: Final[tuple[Category, ...]] = ("repair", "service", "resize", "cleaning",
                                             "restoration")
_METHODS: Final[tuple[Method, ...]] = ("in_person", "lab", "remote")

item_argument = click.argument("item")
photo_option = click.option("--photo", "photos", type=DIGEST, multiple=True,
                            help="A photo file (hashed; the file stays with you) or "
                                 "sha256:<hex>. Repeatable.")
document_option = click.option("--document", "documents", type=DIGEST, multiple=True,
                               help="A document file (hashed) or sha256:<hex>. Repeatable.")


@click.command()
@click.option("--item", "item_id",
              help="The item id to certify, if it has one already (a GS1 Digital Link "
                   "https://... or a urn:...).")
@click.option("--serial",
              help="The piece's serial number [default with --item: the id's last segment].")
@click.option("--gtin", default="", help="The piece's GTIN (8, 12, 13 or 14 digits).")
@click.option("--domain", help="With --gtin: your GS1 Digital Link domain (shop.example).")
@click.option("--kind", required=True, help="What the piece is: ring, pendant, watch, ...")
@click.option("--owner", type=OWNER_KEY, required=True,
              help="The first owner's public key (the buyer, or your own while in stock): "
                   "ed25519:... or a .pub file. " + WALLET_HELP)
@click.option("--metal", default="", help="e.g. 18k white gold.")
@click.option("--fineness", type=int, default=0, help="Parts per thousand (750 for 18 ct).")
@click.option("--mass-mg", type=int, default=0, help="Mass in milligrams.")
@click.option("--size", default="", help="Ring size or length, as the trade writes it.")
@click.option("--inscription", default="",
              help="Engraving inside or on the piece. It is permanent and public: never "
                   "record a person's name or other personal data.")
@click.option("--stone", "stones", type=STONE, multiple=True,
              help="kind=diamond,weight_ct100=50,color=G,clarity=VS1,cut=excellent,count=1,"
                   "report=GIA123 (weight in hundredths of a carat). Repeatable.")
@click.option("--dimensions", type=DIMENSIONS, metavar="LxWxH",
              help="Outer dimensions in micrometres, such as 21000x21000x2500.")
@click.option("--rules", "rules_version", type=click.IntRange(min=0),
              help="The version of your published transfer rules the piece is sold under "
                   "[default: your latest, read from the ledger; 0 offline without one].")
@photo_option
@document_option
@notes_option
@pass_settings
@write_options
def issue(
    settings: Settings,
    *,
    opts: WriteOptions,
    item_id: str | None,
    serial: str | None,
    gtin: str,
    domain: str | None,
    kind: str,
    owner: bytes | WalletFile,
    metal: str,
    fineness: int,
    mass_mg: int,
    size: str,
    inscription: str,
    stones: tuple[provledger.Stone, ...],
    dimensions: provledger.Dimensions | None,
    rules_version: int | None,
    photos: tuple[bytes, ...],
    documents: tuple[bytes, ...],
    notes: str,
) -> None:
    """Issue the certificate of a new piece, signed by an authorized issuer.

    The item id is the GS1 Digital Link https://DOMAIN/01/GTIN/21/SERIAL when
    --gtin is given, otherwise urn:provledger:item:<issuer tag>:SERIAL,
    unless --item names it. Prints the item id, which every later command
    takes.

    \b
    Example:
      provledger issue --key maison-rose.key --serial R-1001 --kind ring \\
        --owner client.pub --metal "18k white gold" --fineness 750 --size 54 \\
        --stone kind=diamond,weight_ct100=50,color=G,clarity=VS1 --photo ring.jpg
    """
    if item_id is None and serial is None:
        raise click.UsageError("give --serial (or --item)")
    if gtin and domain is None and item_id is None:
        raise click.UsageError("--gtin needs --domain to build the item id (or give --item)")
    if item_id is not None:
        try:
            item_id = provledger.canonical_item_id(item_id)
        except provledger.ItemIdError as exc:
            raise click.BadParameter(str(exc), param_hint="--item") from None
    if serial is None:
        assert item_id is not None
        serial = urllib.parse.unquote(item_id.rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    with open_writer(settings, opts) as w:
        signer = w.unlock()
        item = item_id or _item_id(_first_key(w, signer.public_key), serial, gtin=gtin,
                                   domain=domain)
        event = provledger.CertificateIssued(
            kind=kind, serial=serial, owner=owner_public_key(owner, item), gtin=gtin,
            metal=metal, fineness=fineness,
            mass_mg=mass_mg, size=size, inscription=inscription, stones=list(stones),
            dimensions=dimensions, photos=list(photos), documents=list(documents), notes=notes,
            rules=_rules_version(w, signer.public_key) if rules_version is None
            else rules_version,
        )
        w.publish(event, key=signer, subject=item, extra={"item": item})


def _rules_version(w: Writer, key: bytes) -> int:
    """The signer's latest published transfer rules version (spec/rules.md), which
    a certificate must name: read from the ledger, 0 offline without one."""
    if w.ledger is None:
        return 0
    try:
        published = w.ledger.authority(key).rules
    except provledger.NotFoundError:
        return 0
    return published[-1].version if published else 0


def _item_id(first_key: bytes, serial: str, *, gtin: str, domain: str | None) -> str:
    try:
        if gtin:
            assert domain is not None
            return provledger.gs1_item_id(domain, gtin, serial)
        return provledger.serial_item_id(first_key, serial)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _first_key(w: Writer, key: bytes) -> bytes:
    """The signer's authority's first key, which its URN tag is built from:
    read from the ledger, or ``key`` itself when signing offline without one
    (right unless the issuer has rotated its key)."""
    if w.ledger is None:
        return key
    try:
        chain = w.ledger.authority(key).subject
    except provledger.NotFoundError:
        return key
    return bytes.fromhex(chain.removeprefix("provledger:authority:"))


@click.command()
@item_argument
@click.option("--capacity", type=click.Choice(_CAPACITIES), required=True,
              help="In what capacity you inspected the piece.")
@click.option("--certificate",
              help="With -o and no ledger: hash (hex) of the item's cert.issued statement.")
@photo_option
@document_option
@notes_option
@pass_settings
@write_options
def attest(settings: Settings, *, opts: WriteOptions, item: str, capacity: str,
           certificate: str | None, photos: tuple[bytes, ...], documents: tuple[bytes, ...],
           notes: str) -> None:
    """Countersign ITEM's certificate as an attester its issuer authorized.

    \b
    Example:
      provledger attest https://maison-rose.example/01/09506000134352/21/R-1001 \\
        --key gemlab.key --capacity gemologist --document report-GIA123.pdf
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        cert = _certificate(w, item, certificate)
        signer = w.unlock(item)
        w.publish(provledger.CertificateAttested(
            capacity=cast(Capacity, capacity), certificate=cert, photos=list(photos),
            documents=list(documents), notes=notes,
        ), key=signer, subject=item)


@click.command()
@item_argument
@click.option("--category", type=click.Choice(_CATEGORIES), required=True,
              help="What kind of work.")
@click.option("--work", required=True, help="What was done.")
@click.option("--performed-by", required=True, help="The workshop's business name.")
@click.option("--started", type=TIME, required=True,
              help="2026-11-20, 2026-11-20T10:00:00Z or unix seconds.")
@click.option("--completed", type=TIME, required=True, help="As --started.")
@click.option("--part", "parts", type=PART, multiple=True,
              help="name=prong,count=2,material=18k white gold,mass_mg=120. Repeatable.")
@click.option("--photo-before", "photos_before", type=DIGEST, multiple=True,
              help="A photo before the work (hashed) or sha256:<hex>. Repeatable.")
@click.option("--photo-after", "photos_after", type=DIGEST, multiple=True,
              help="A photo after the work (hashed) or sha256:<hex>. Repeatable.")
@notes_option
@pass_settings
@write_options
def repair(settings: Settings, *, opts: WriteOptions, item: str, category: str, work: str,
           performed_by: str, started: int, completed: int, parts: tuple[provledger.Part, ...],
           photos_before: tuple[bytes, ...], photos_after: tuple[bytes, ...],
           notes: str) -> None:
    """Record work on ITEM, signed by its owner or an authorized service provider.

    \b
    Example:
      provledger repair urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key atelier.key --category resize --work "Resized from 52 to 54" \\
        --performed-by "Atelier Dupont" --started 2026-11-20 --completed 2026-11-21 \\
        --part "name=shank segment,material=18k white gold,mass_mg=180"
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        signer = w.unlock(item)
        w.publish(provledger.RepairRecorded(
            category=cast(Category, category), work=work, performed_by=performed_by,
            started=started, completed=completed, parts=list(parts),
            photos_before=list(photos_before), photos_after=list(photos_after), notes=notes,
        ), key=signer, subject=item)


@click.command()
@item_argument
@click.option("--value-minor", type=int, required=True,
              help="The value in minor units (cents): 250000 for 2,500.00 EUR.")
@click.option("--currency", required=True, help="ISO 4217 code, such as EUR.")
@click.option("--method", type=click.Choice(_METHODS), required=True,
              help="How the piece was examined.")
@click.option("--appraiser", required=True, help="The appraiser's business name.")
@photo_option
@document_option
@notes_option
@pass_settings
@write_options
def appraise(settings: Settings, *, opts: WriteOptions, item: str, value_minor: int,
             currency: str, method: str, appraiser: str, photos: tuple[bytes, ...],
             documents: tuple[bytes, ...], notes: str) -> None:
    """Record a valuation of ITEM, signed by its owner or an authorized service provider.

    \b
    Example:
      provledger appraise urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key atelier.key --value-minor 420000 --currency EUR --method in_person \\
        --appraiser "Atelier Dupont" --document appraisal-2026.pdf
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        signer = w.unlock(item)
        w.publish(provledger.AppraisalRecorded(
            value_minor=value_minor, currency=currency, method=cast(Method, method),
            appraiser=appraiser, photos=list(photos), documents=list(documents), notes=notes,
        ), key=signer, subject=item)


@click.command()
@click.argument("what", type=click.Choice(("lost", "stolen", "recovered")))
@item_argument
@click.option("--reference", default="",
              help="With stolen: a police or insurer reference (never a person's name).")
@notes_option
@pass_settings
@write_options
def report(settings: Settings, *, opts: WriteOptions, what: str, item: str, reference: str,
           notes: str) -> None:
    """Report ITEM lost (by its owner), stolen (by its issuer or a reporter), or recovered.

    \b
    Example:
      provledger report stolen urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key maison-rose.key --reference "PP-2026-118734"
    """
    if reference and what != "stolen":
        raise click.UsageError("--reference applies only to 'report stolen'")
    event: provledger.Event
    if what == "lost":
        event = provledger.LostReported(notes=notes)
    elif what == "stolen":
        event = provledger.StolenReported(reference=reference, notes=notes)
    else:
        event = provledger.Recovered(notes=notes)
    with open_writer(settings, opts) as w:
        w.check_item(item)
        signer = w.unlock(item)
        w.publish(event, key=signer, subject=item)


@click.command()
@item_argument
@click.option("--reason", required=True, help="Why the certificate is renewed.")
@photo_option
@document_option
@notes_option
@pass_settings
@write_options
def renew(settings: Settings, *, opts: WriteOptions, item: str, reason: str,
          photos: tuple[bytes, ...], documents: tuple[bytes, ...], notes: str) -> None:
    """Re-confirm ITEM's certificate as its issuer, optionally with new evidence.

    \b
    Example:
      provledger renew urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key maison-rose.key --reason "10-year inspection" --photo ring-2036.jpg
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        signer = w.unlock(item)
        w.publish(provledger.CertificateRenewed(
            reason=reason, photos=list(photos), documents=list(documents), notes=notes,
        ), key=signer, subject=item)


def _certificate(w: Writer, item: str, certificate: str | None) -> bytes:
    """--certificate as bytes, or the item's certificate from the ledger."""
    if certificate is None:
        return w.need_ledger("--certificate").item(item).certificate
    try:
        return bytes.fromhex(certificate)
    except ValueError:
        raise click.BadParameter("expected hex", param_hint="--certificate") from None


@click.command()
@item_argument
@click.option("--certificate",
              help="With -o and no ledger: hash (hex) of the item's cert.issued statement.")
@notes_option
@pass_settings
@write_options
def reaffirm(settings: Settings, *, opts: WriteOptions, item: str, certificate: str | None,
             notes: str) -> None:
    """Vouch again, as ITEM's issuer, for a certificate a since-revoked key signed.

    When a key is revoked as compromised from a time before it certified
    ITEM, verifiers refuse ITEM's bundle until its issuer, holding a valid
    key (re-keyed by its creator if need be), reaffirms the certificate
    (spec/protocol.md 6.4). Check the piece before you do.

    \b
    Example:
      provledger reaffirm urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key maison-rose-2027.key --notes "piece inspected at the counter"
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        cert = _certificate(w, item, certificate)
        signer = w.unlock(item)
        w.publish(provledger.CertificateReaffirmed(certificate=cert, notes=notes),
                  key=signer, subject=item)


@click.command()
@item_argument
@click.option("--reason", required=True, help="Why the certificate is withdrawn.")
@notes_option
@pass_settings
@write_options
def revoke(settings: Settings, *, opts: WriteOptions, item: str, reason: str,
           notes: str) -> None:
    """Withdraw ITEM's certificate as its issuer; its chain is closed for good.

    \b
    Example:
      provledger revoke urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key maison-rose.key --reason "piece melted down"
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        signer = w.unlock(item)
        w.publish(provledger.CertificateRevoked(reason=reason, notes=notes),
                  key=signer, subject=item)
