"""Repairs with a status (spec/aftercare.md): requested, received, in progress or
waiting for parts, ready, collected, or cancelled; and the one-step record of
completed work, which `provledger repair ITEM ...` still writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast

import click

import provledger

from ._aftercare import pick_repair, repair_option
from ._common import Settings, notes_option, pass_settings
from ._params import DIGEST, PART
from ._write import WriteOptions, open_writer, write_options
from .transfer_cmd import WHEN
from .write_cmd import _CATEGORIES, Category, repair as record

item_argument = click.argument("item")
_OPEN = "the item's open repair"


class _RepairGroup(click.Group):
    """``repair``: its subcommands, and, for any other first word, the one-step
    ``repair record`` (``provledger repair ITEM --category ...`` as before)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["record", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_RepairGroup)
def repair() -> None:
    """Repairs: a status a QR code can show, or one record of completed work.

    A repair is requested (by the owner, or a workshop), received at the
    workshop (its condition noted), in progress or waiting for parts,
    ready, then collected; or cancelled. The hash `repair request` prints
    is the repair id; later steps default to the item's open repair (one at
    a time). `history` shows each repair's status and whether it is late
    against the promised time. A piece at the workshop cannot be put into
    escrow. `provledger repair ITEM --category ...` (or `repair record`)
    records completed work in one step, as before.

    \b
    Example:
      provledger repair request ITEM --key client.key --category repair \\
        --work "Re-tip four claws" --promised +14d
      provledger repair receive ITEM --key atelier.key --grade good --photo in.jpg
      provledger repair progress ITEM --key atelier.key --stage waiting_parts
      provledger repair ready ITEM --key atelier.key --photo-after out.jpg
      provledger repair collect ITEM --key client.key
    """


repair.add_command(record, "record")


def _publish(settings: Settings, opts: WriteOptions, item: str, given: bytes | None,
             make: Callable[[bytes], provledger.Event]) -> None:
    """Sign ``make(repair_id)`` for ITEM, the repair being ``given`` or the open one."""
    with open_writer(settings, opts) as w:
        w.check_item(item)
        repair_id = pick_repair(w, item, given)
        w.publish(make(repair_id), key=w.unlock(item), subject=item,
                  extra={"repair": repair_id.hex()})


@repair.command()
@item_argument
@click.option("--category", type=click.Choice(_CATEGORIES), required=True,
              help="What kind of work.")
@click.option("--work", required=True, help="What is asked for.")
@click.option("--promised", type=WHEN, required=True,
              help="When the piece will be ready, as promised: +14d, 2026-12-20, ...")
@click.option("--photo", "photos", type=DIGEST, multiple=True,
              help="A photo (hashed) or sha256:<hex>. Repeatable.")
@notes_option
@pass_settings
@write_options
def request(settings: Settings, *, opts: WriteOptions, item: str, category: str, work: str,
            promised: int, photos: tuple[bytes, ...], notes: str) -> None:
    """Ask for a repair of ITEM, as its owner or a workshop. The hash printed is the repair id.

    A workshop (a service authority of the item's issuer, or of a plan's
    provider) that requests it takes it; one repair is open at a time.

    \b
    Example:
      provledger repair request urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key client.key --category repair --work "Re-tip four claws" --promised +14d
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        w.publish(provledger.RepairRequested(
            category=cast(Category, category), work=work, promised=promised,
            photos=list(photos), notes=notes), key=w.unlock(item), subject=item)


@repair.command()
@item_argument
@repair_option(_OPEN)
@click.option("--grade", required=True, help="The piece's condition on arrival.")
@click.option("--condition-notes", default="", help="Notes on the condition.")
@click.option("--photo", "photos", type=DIGEST, multiple=True,
              help="A photo on arrival (hashed) or sha256:<hex>. Repeatable.")
@notes_option
@pass_settings
@write_options
def receive(settings: Settings, *, opts: WriteOptions, item: str, repair: bytes | None,
            grade: str, condition_notes: str, photos: tuple[bytes, ...], notes: str) -> None:
    """Take ITEM in at the workshop, noting its condition, as the workshop.

    \b
    Example:
      provledger repair receive urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key atelier.key --grade good --condition-notes "one claw lifted" --photo in.jpg
    """
    condition = provledger.ConditionReport(grade=grade, notes=condition_notes,
                                           photos=list(photos))
    _publish(settings, opts, item, repair, lambda r: provledger.RepairReceived(
        repair=r, condition=condition, notes=notes))


@repair.command()
@item_argument
@repair_option(_OPEN)
@click.option("--stage", type=click.Choice(("in_progress", "waiting_parts")), required=True,
              help="Work under way, or waiting for parts.")
@click.option("--expected", type=WHEN,
              help="A revised estimate of when it will be ready (the promise stays as made).")
@notes_option
@pass_settings
@write_options
def progress(settings: Settings, *, opts: WriteOptions, item: str, repair: bytes | None,
             stage: str, expected: int | None, notes: str) -> None:
    """Move ITEM's repair to work in progress or waiting for parts, as the workshop.

    \b
    Example:
      provledger repair progress urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key atelier.key --stage waiting_parts --expected +21d --notes "claw wire ordered"
    """
    _publish(settings, opts, item, repair, lambda r: provledger.RepairProgress(
        repair=r, stage=cast(Literal["in_progress", "waiting_parts"], stage),
        expected=expected or 0, notes=notes))


@repair.command()
@item_argument
@repair_option(_OPEN)
@click.option("--work", default="", help="What was done, if it differs from what was asked.")
@click.option("--part", "parts", type=PART, multiple=True,
              help="name=prong,count=2,material=18k white gold,mass_mg=120. Repeatable.")
@click.option("--photo-after", "photos_after", type=DIGEST, multiple=True,
              help="A photo after the work (hashed) or sha256:<hex>. Repeatable.")
@notes_option
@pass_settings
@write_options
def ready(settings: Settings, *, opts: WriteOptions, item: str, repair: bytes | None,
          work: str, parts: tuple[provledger.Part, ...], photos_after: tuple[bytes, ...],
          notes: str) -> None:
    """Mark ITEM's repair done and the piece ready for collection, as the workshop.

    \b
    Example:
      provledger repair ready urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key atelier.key --part "name=claw tip,count=4,material=platinum" \\
        --photo-after out.jpg
    """
    _publish(settings, opts, item, repair, lambda r: provledger.RepairReady(
        repair=r, work=work, parts=list(parts), photos_after=list(photos_after), notes=notes))


@repair.command()
@item_argument
@repair_option(_OPEN)
@notes_option
@pass_settings
@write_options
def collect(settings: Settings, *, opts: WriteOptions, item: str, repair: bytes | None,
            notes: str) -> None:
    """Record that ITEM left the workshop, as its owner or the workshop.

    \b
    Example:
      provledger repair collect urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key client.key
    """
    _publish(settings, opts, item, repair,
             lambda r: provledger.RepairCollected(repair=r, notes=notes))


@repair.command()
@item_argument
@repair_option(_OPEN)
@click.option("--reason", required=True, help="Why the repair will not be done.")
@notes_option
@pass_settings
@write_options
def cancel(settings: Settings, *, opts: WriteOptions, item: str, repair: bytes | None,
           reason: str, notes: str) -> None:
    """Cancel ITEM's repair, as its owner or the workshop.

    A piece already at the workshop must still be collected (`repair
    collect`); a repair paid from a plan cannot be cancelled.

    \b
    Example:
      provledger repair cancel urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key client.key --reason "quote too high"
    """
    _publish(settings, opts, item, repair,
             lambda r: provledger.RepairCancelled(repair=r, reason=reason, notes=notes))
