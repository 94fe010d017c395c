"""Transfers: sell or hand over an item through a two-party escrow (spec/escrow.md).

Every step is one signed statement, appended at once or signed into a file
with -o (the buyer's own device need hold only its key and the offer file).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Literal, NoReturn, TypeVar, cast

import click

import provledger

from ._aftercare import describe_plans, log_now
from ._common import (
    EXIT_POLICY,
    Settings,
    emit,
    fail,
    json_option,
    notes_option,
    pass_settings,
)
from ._owner_key import OWNER_KEY, WALLET_HELP, WalletFile, owner_public_key
from ._params import DIGEST, ID, PUBLIC_KEY, TIME, Prev, _ParamType
from ._render import history_lines
from ._write import WriteOptions, Writer, open_writer, write_options

F = TypeVar("F", bound=Callable[..., Any])

_RELATIVE: Final = re.compile(r"\+([0-9]+)([smhd])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HEX64: Final = re.compile(r"[0-9a-fA-F]{64}")


class WhenType(_ParamType):
    """A deadline: ``+7d``, ``+36h``, ``+90m``, ``+30s`` from now, or a time as elsewhere.

    "Now" is read once per command, so that two relative deadlines agree.
    """

    name = "when"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        m = _RELATIVE.fullmatch(str(value).strip())
        if m is not None:
            root = ctx.find_root() if ctx is not None else None
            now = int(time.time()) if root is None else root.meta.setdefault(
                "provledger.now", int(time.time()))
            amount = TIME.digits(m.group(1), param, ctx) * _UNIT_SECONDS[m.group(2)]
            return TIME.in_range(int(now) + amount, str(value).strip(), param, ctx)
        converted: int = TIME.convert(value, param, ctx)
        return converted


WHEN: Final = WhenType()


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """The escrow a step names, and what the buyer's signatures repeat."""

    escrow: bytes
    terms_hash: bytes
    condition_hash: bytes
    #: The verified escrow.opened statement, when given with --offer.
    offer: provledger.Statement | None = None


def escrow_options(f: F) -> F:
    """Add ``--offer FILE`` and ``--escrow HEX`` (passed as ``offer``, ``escrow``)."""
    f = click.option(
        "--escrow", metavar="HEX",
        help="The escrow id (64 hex digits, as `transfer open` and `transfer status` print "
             "it): refuse to sign unless it is the item's current escrow. accept and "
             "acknowledge need it or --offer.")(f)
    return click.option(
        "--offer", type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="The signed escrow.opened statement (as `transfer open -o` wrote it): names "
             "the escrow without reading --db, for signing offline.")(f)


def resolve_target(w: Writer, item: str, offer: Path | None, escrow: str | None, *,
                   follows_offer: bool = False, reviewed: bool = False) -> Target:
    """The escrow a step is for: from ``--offer``, else the item's escrow in the ledger.

    With ``follows_offer`` (a reply to the offer itself) and -o without a
    ledger, origin and prev default to the offer's log and hash. With
    ``reviewed`` (acceptance and acknowledgement, which bind the terms and
    condition report) ``offer`` or ``escrow`` must name the escrow the buyer
    reviewed: a seller may cancel and re-open with other terms at any time,
    so "the current offer" is never signed unnamed. When the statement is
    appended (no -o), the escrow named must be the item's current one.

    Raises:
        click.UsageError: no way to tell the escrow, or --escrow and --offer disagree.
        click.exceptions.Exit: exit 3, the item's current escrow is not the one
            named (the offer changed).
        provledger.DecodeError, provledger.SignatureError: a bad offer file.
        provledger.NotFoundError: no such item.
    """
    named: bytes | None = None
    if escrow is not None:
        if not _HEX64.fullmatch(escrow):
            raise click.BadParameter("expected 64 hex digits", param_hint="--escrow")
        named = bytes.fromhex(escrow)
    if reviewed and offer is None and named is None:
        raise click.UsageError("give --escrow ID (as `transfer status` prints it) or "
                               "--offer FILE: the offer you reviewed")
    target: Target | None = None
    if offer is not None:
        stmt = provledger.verify_statement(offer.read_bytes())
        ev = stmt.event
        if not isinstance(ev, provledger.EscrowOpened) or stmt.subject != item:
            raise click.BadParameter(f"{offer} is not an escrow.opened statement for {item}",
                                     param_hint="--offer")
        target = Target(stmt.hash, provledger.terms_hash(ev.terms),
                        provledger.condition_hash(ev.condition), stmt)
        if w.offline and w.ledger is None:
            opts = w.opts
            w.opts = dataclasses.replace(
                opts, origin=opts.origin or stmt.payload.log,
                prev=opts.prev or (Prev(stmt.hash) if follows_offer else None))
        if named is not None and named != target.escrow:
            raise click.UsageError(f"--escrow {named.hex()} is not the escrow of --offer "
                                   f"({target.escrow.hex()})")
        if w.offline or w.ledger is None:
            return target  # signed for later: the offer may not be submitted yet
        named = target.escrow
    current = w.need_ledger("--offer").item(item).escrow
    if named is None and current is None:
        raise click.UsageError(f"{item} has no escrow")
    if named is not None and (current is None or current.id != named):
        _offer_changed(item, named, current)
    assert current is not None
    return target or Target(current.id, current.terms_hash, current.condition_hash)


def _offer_changed(item: str, named: bytes, current: provledger.EscrowState | None) -> NoReturn:
    """Refuse, with exit code 3, a step naming an escrow that is not the item's current one."""
    if current is None:
        fail(f"{item} has no escrow, not {named.hex()} [escrow rule: current-escrow]",
             EXIT_POLICY)
    fail(f"{item}: the offer changed: its current escrow is {current.id.hex()} "
         f"({current.state}), not {named.hex()}, the one named; review it with `provledger "
         "transfer status` before signing [escrow rule: current-escrow]", EXIT_POLICY)


@click.group()
def transfer() -> None:
    """Sell or hand over an item: an escrow both seller and buyer sign.

    The owner opens it (the offer: buyer, terms, condition report,
    deadlines); the buyer accepts or declines, then, holding the piece,
    acknowledges its condition (ownership moves) or rejects it (it goes
    back). A disputed escrow is settled by its arbiter, or by buyer and
    seller together. Deadlines count in the log's time, and an inspection
    that runs out never ends in a sale. Any step can instead be signed into
    a file with -o, to submit later.

    \b
    Example:
      provledger transfer open ITEM --key client.key --buyer buyer.pub \\
        --price-minor 250000 --currency EUR --arbiter arbiter.pub \\
        --on-timeout dispute --grade "very good" --photo ring.jpg \\
        --offer-expires +3d --inspection-ends +10d
      provledger transfer status ITEM
      provledger transfer accept ITEM --key buyer.key --escrow ESCROW_ID
      provledger transfer acknowledge ITEM --key buyer.key --escrow ESCROW_ID
    """


item_argument = click.argument("item")


@transfer.command("open")
@item_argument
@click.option("--buyer", type=OWNER_KEY, required=True,
              help=f"The buyer's public key (ed25519:... or a .pub file). {WALLET_HELP}")
@click.option("--price-minor", type=click.IntRange(min=0), required=True,
              help="The price in minor units (cents): 250000 for 2,500.00 EUR.")
@click.option("--currency", required=True, help="ISO 4217 code, such as EUR.")
@click.option("--arbiter", type=PUBLIC_KEY, help="The key that may settle a dispute alone.")
@click.option("--marketplace", type=PUBLIC_KEY, help="The marketplace's key, for the record.")
@click.option("--on-timeout", type=click.Choice(("dispute", "return")),
              help="What an inspection left unacknowledged becomes (required unless --direct).")
@click.option("--direct", is_flag=True,
              help="A plain handover (a gift, a sale at the counter): acceptance moves "
                   "ownership at once, with no inspection.")
@click.option("--grade", required=True, help="The condition grade you declare.")
@click.option("--condition-notes", default="", help="Notes on the condition.")
@click.option("--photo", "photos", type=DIGEST, multiple=True,
              help="A photo of the piece as offered (hashed) or sha256:<hex>. Repeatable.")
@click.option("--offer-expires", type=WHEN, required=True,
              help="Last moment to accept: +3d, +12h, 2026-12-01T18:00:00Z, ...")
@click.option("--inspection-ends", type=WHEN,
              help="Last moment to acknowledge the condition (required unless --direct).")
@click.option("--plan", "plans", type=ID, metavar="HEX", multiple=True,
              help="A care plan that goes with the piece (its id). Repeatable.  [default: "
                   "the item's plans in force that transfer with it, read from --db]")
@pass_settings
@write_options
def open_(settings: Settings, *, opts: WriteOptions, item: str, buyer: bytes | WalletFile,
          price_minor: int,
          currency: str, arbiter: bytes | None, marketplace: bytes | None,
          on_timeout: str | None, direct: bool, grade: str, condition_notes: str,
          photos: tuple[bytes, ...], offer_expires: int, inspection_ends: int | None,
          plans: tuple[bytes, ...]) -> None:
    """Offer ITEM to a buyer, as its current owner. The hash printed is the escrow id.

    The terms list the care plans that go with the piece (those in force
    whose terms transfer them), so the buyer's acceptance and
    acknowledgement cover them; the output names them.

    \b
    Example:
      provledger transfer open urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key client.key --buyer buyer.pub --price-minor 250000 --currency EUR \\
        --arbiter arbiter.pub --on-timeout dispute --grade "very good" \\
        --photo ring.jpg --offer-expires +3d --inspection-ends +10d
    """
    if not direct and (on_timeout is None or inspection_ends is None):
        raise click.UsageError("give --on-timeout and --inspection-ends (or --direct)")
    with open_writer(settings, opts) as w:
        w.check_item(item)
        going = list(plans) if plans or w.ledger is None else _transferable(w, item)
        terms = provledger.EscrowTerms(
            price_minor=price_minor, currency=currency, arbiter=arbiter,
            marketplace=marketplace, plans=going,
            on_timeout=cast(Literal["dispute", "return"], on_timeout or "return"),
            direct=direct)
        event = provledger.EscrowOpened(
            buyer=owner_public_key(buyer, item), terms=terms,
            condition=provledger.ConditionReport(grade=grade, notes=condition_notes,
                                                 photos=list(photos)),
            offer_expires=offer_expires, inspection_ends=inspection_ends or 0)
        w.publish(event, key=w.unlock(item), subject=item,
                  extra={"plans": [p.hex() for p in going]}, lines=describe_plans(w, item, going))


def _transferable(w: Writer, item: str) -> list[bytes]:
    """The item's plans that go with it on a sale: transferable and in force
    (or starting later) at the log time the offer will get, in enrolment order."""
    assert w.ledger is not None
    t = log_now(w)
    return [p.id for p in w.ledger.item(item).plans
            if p.transfer == "with_piece" and p.status_at(t) in ("active", "pending")]


def _offer_plans(w: Writer, item: str, t: Target) -> tuple[dict[str, Any], list[str]]:
    """The plans the escrow's terms carry, as JSON fields and text lines (nothing if
    the offer cannot be read)."""
    offer = t.offer.event if t.offer is not None else None
    if offer is None and w.ledger is not None:
        offer = next((r.event for r in w.ledger.history(item) if r.hash == t.escrow), None)
    if not isinstance(offer, provledger.EscrowOpened):
        return {}, []
    ids = list(offer.terms.plans)
    return ({"plans": [p.hex() for p in ids]},
            describe_plans(w, item, ids) or ["no care plan goes with the piece"])


@transfer.command()
@item_argument
@escrow_options
@pass_settings
@write_options
def accept(settings: Settings, *, opts: WriteOptions, item: str, offer: Path | None,
           escrow: str | None) -> None:
    """Accept the offer on ITEM, as its buyer, binding its terms and condition report.

    Name the offer you reviewed with --escrow (its id, as `transfer status`
    prints it) or --offer (its file): the seller may cancel and re-open with
    other terms at any time. If the item's current escrow is another one,
    nothing is signed and the exit code is 3 ("the offer changed"). With -o
    and no ledger, --offer gives the escrow, the log's origin and the head
    to sign on.

    \b
    Example:
      provledger transfer accept urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key buyer.key --offer offer.cose -o accept.cose
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        t = resolve_target(w, item, offer, escrow, follows_offer=True, reviewed=True)
        extra, lines = _offer_plans(w, item, t)
        w.publish(provledger.EscrowAccepted(escrow=t.escrow, terms_hash=t.terms_hash,
                                            condition_hash=t.condition_hash),
                  key=w.unlock(item), subject=item, extra=extra, lines=lines)


@transfer.command()
@item_argument
@escrow_options
@notes_option
@pass_settings
@write_options
def decline(settings: Settings, *, opts: WriteOptions, item: str, offer: Path | None,
            escrow: str | None, notes: str) -> None:
    """Decline the offer on ITEM, as its buyer.

    \b
    Example:
      provledger transfer decline urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key buyer.key
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        t = resolve_target(w, item, offer, escrow, follows_offer=True)
        w.publish(provledger.EscrowDeclined(escrow=t.escrow, notes=notes),
                  key=w.unlock(item), subject=item)


@transfer.command()
@item_argument
@escrow_options
@notes_option
@pass_settings
@write_options
def cancel(settings: Settings, *, opts: WriteOptions, item: str, offer: Path | None,
           escrow: str | None, notes: str) -> None:
    """Withdraw the offer on ITEM before the buyer accepts it, as its seller.

    \b
    Example:
      provledger transfer cancel urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key client.key
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        t = resolve_target(w, item, offer, escrow, follows_offer=True)
        w.publish(provledger.EscrowCancelled(escrow=t.escrow, notes=notes),
                  key=w.unlock(item), subject=item)


@transfer.command()
@item_argument
@escrow_options
@notes_option
@pass_settings
@write_options
def acknowledge(settings: Settings, *, opts: WriteOptions, item: str, offer: Path | None,
                escrow: str | None, notes: str) -> None:
    """Confirm ITEM's condition after inspection, as its buyer: ownership moves to you.

    Name the escrow you accepted with --escrow or --offer, as for `transfer
    accept`; exit code 3 ("the offer changed") if it is not the item's
    current escrow.

    \b
    Example:
      provledger transfer acknowledge urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key buyer.key --offer offer.cose
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        t = resolve_target(w, item, offer, escrow, reviewed=True)
        extra, lines = _offer_plans(w, item, t)
        w.publish(provledger.EscrowAcknowledged(
            escrow=t.escrow, terms_hash=t.terms_hash, condition_hash=t.condition_hash,
            notes=notes), key=w.unlock(item), subject=item, extra=extra, lines=lines)


@transfer.command()
@item_argument
@click.option("--reason", required=True, help="Why the piece is rejected.")
@click.option("--photo", "photos", type=DIGEST, multiple=True,
              help="A photo as received (hashed) or sha256:<hex>. Repeatable.")
@escrow_options
@notes_option
@pass_settings
@write_options
def reject(settings: Settings, *, opts: WriteOptions, item: str, reason: str,
           photos: tuple[bytes, ...], offer: Path | None, escrow: str | None,
           notes: str) -> None:
    """Reject ITEM after inspection, as its buyer: it goes back to the seller.

    \b
    Example:
      provledger transfer reject urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key buyer.key --reason "stone chipped" --photo chip.jpg
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        t = resolve_target(w, item, offer, escrow)
        w.publish(provledger.EscrowRejected(escrow=t.escrow, reason=reason,
                                            photos=list(photos), notes=notes),
                  key=w.unlock(item), subject=item)


@transfer.command()
@item_argument
@click.option("--reason", required=True, help="What is disputed.")
@click.option("--photo", "photos", type=DIGEST, multiple=True,
              help="A photo (hashed) or sha256:<hex>. Repeatable.")
@click.option("--document", "documents", type=DIGEST, multiple=True,
              help="A document (hashed) or sha256:<hex>. Repeatable.")
@escrow_options
@notes_option
@pass_settings
@write_options
def dispute(settings: Settings, *, opts: WriteOptions, item: str, reason: str,
            photos: tuple[bytes, ...], documents: tuple[bytes, ...], offer: Path | None,
            escrow: str | None, notes: str) -> None:
    """Dispute ITEM's accepted escrow, as buyer or seller.

    \b
    Example:
      provledger transfer dispute urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key buyer.key --reason "not the stone in the report" --document lab.pdf
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        t = resolve_target(w, item, offer, escrow)
        w.publish(provledger.EscrowDisputed(escrow=t.escrow, reason=reason,
                                            photos=list(photos), documents=list(documents),
                                            notes=notes),
                  key=w.unlock(item), subject=item)


@transfer.command()
@item_argument
@click.option("--to", "outcome", type=click.Choice(("buyer", "seller")), required=True,
              help="Who gets the piece: the buyer (ownership moves) or the seller.")
@escrow_options
@notes_option
@pass_settings
@write_options
def resolve(settings: Settings, *, opts: WriteOptions, item: str, outcome: str,
            offer: Path | None, escrow: str | None, notes: str) -> None:
    """Settle ITEM's disputed escrow: as its arbiter, or as buyer or seller (two must agree).

    \b
    Example:
      provledger transfer resolve urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key arbiter.key --to seller --notes "report GIA123 matches"
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        t = resolve_target(w, item, offer, escrow)
        w.publish(provledger.EscrowResolution(
            escrow=t.escrow, outcome=cast(Literal["buyer", "seller"], outcome), notes=notes),
            key=w.unlock(item), subject=item)


@transfer.command()
@item_argument
@json_option
@pass_settings
def status(settings: Settings, *, item: str, as_json: bool) -> None:
    """Show ITEM's owner and every escrow, with deadlines that passed applied.

    The report is the one `history` prints (--json: spec/history.schema.json).

    \b
    Example:
      provledger transfer status urn:provledger:item:5d1c0a3e9b7f2468:R-1001 --json
    """
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        report = provledger.item_report(ledger, item, now=int(time.time()))
    lines = history_lines(report)
    if not report.escrows:
        lines.insert(lines.index(""), "escrow       none")
    emit(as_json, report.to_json(), lines)
