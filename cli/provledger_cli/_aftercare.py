"""What the care and repair verbs share: which plan or repair a step is for.

A step names its plan or repair by id (``--plan``, ``--repair``: the 64-hex
hash the enrolling or requesting command printed). Appending to a ledger,
the id may be left out when the item's state leaves one choice; signing
offline without a ledger, it must be given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

import click

import provledger
from provledger import safe_text

from ._params import ID
from ._write import Writer

plan_option: Final = click.option(
    "--plan", type=ID, metavar="HEX",
    help="The plan id (as `care enrol` printed it) [default: the item's one plan still in "
         "force; needed with -o and no ledger].")


F = TypeVar("F", bound=Callable[..., Any])


def repair_option(default: str) -> Callable[[F], F]:
    """``--repair HEX``, with ``default`` saying what is taken when it is left out."""
    return click.option(
        "--repair", type=ID, metavar="HEX",
        help=f"The repair id (as `repair request` printed it) [default: {default}; needed "
             "with -o and no ledger].")


def item_state(w: Writer, item: str, option: str) -> provledger.ItemState:
    """ITEM's state in the ledger, to default ``option`` from.

    Raises:
        click.UsageError: signing offline with no ledger file.
        provledger.NotFoundError: no such item.
    """
    return w.need_ledger(option).item(item)


def log_now(w: Writer) -> int:
    """The log time an entry appended now would get (the ledger's clock never goes back)."""
    now = int(time.time())
    return max(now, w.ledger.store.last_time()) if w.ledger is not None else now


def pick_plan(w: Writer, item: str, given: bytes | None) -> bytes:
    """``given``, or the item's one plan whose recorded status is active.

    Raises:
        click.UsageError: none or several to choose from, or offline without a ledger.
    """
    if given is not None:
        return given
    state = item_state(w, item, "--plan")
    live = [p for p in state.plans if p.status == "active"]
    if len(live) == 1:
        return live[0].id
    if not live:
        raise click.UsageError(f"{safe_text(item)} has no plan in force: give --plan")
    raise click.UsageError(f"{safe_text(item)} has {len(live)} plans in force: give --plan, "
                           "one of " + ", ".join(p.id.hex() for p in live))


def pick_repair(w: Writer, item: str, given: bytes | None, *, unpaid: bool = False) -> bytes:
    """``given``, or the item's open repair (one at a time); with ``unpaid``,
    failing that, its latest repair neither paid nor cancelled.

    Raises:
        click.UsageError: nothing to choose, or offline without a ledger.
    """
    if given is not None:
        return given
    state = item_state(w, item, "--repair")
    open_ = [r for r in state.repairs if r.open]
    if open_:
        return open_[-1].id
    if unpaid:
        payable = [r for r in state.repairs if r.paid_by is None and r.status != "cancelled"]
        if payable:
            return payable[-1].id
        raise click.UsageError(f"{safe_text(item)} has no unpaid repair: give --repair")
    raise click.UsageError(f"{safe_text(item)} has no open repair: give --repair")


def authority_name(ledger: provledger.Ledger | None, subject: str) -> str:
    """The name of the authority with chain id ``subject`` ("" if unknown)."""
    if ledger is None:
        return ""
    try:
        first = bytes.fromhex(subject.removeprefix("provledger:authority:"))
        return ledger.authority(first).name
    except (ValueError, provledger.NotFoundError):
        return ""


def describe_plans(w: Writer, item: str, ids: list[bytes]) -> list[str]:
    """One line per plan in ``ids`` (tier and provider when the ledger knows them)."""
    plans = {}
    if w.ledger is not None:
        try:
            plans = {p.id: p for p in w.ledger.item(item).plans}
        except provledger.NotFoundError:
            plans = {}
    lines = []
    for plan_id in ids:
        found = plans.get(plan_id)
        what = "" if found is None else (
            f" {safe_text(found.tier)} by "
            f"{safe_text(authority_name(w.ledger, found.provider) or found.provider)}")
        lines.append(f"plan goes with the piece: {plan_id.hex()}{what}")
    return lines
