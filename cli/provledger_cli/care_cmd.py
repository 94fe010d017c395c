"""Care plans (spec/aftercare.md): enrol, renew, cancel; the owner's consent and
a workshop's redemption of plan credits against a repair.

Every step is one signed statement, appended at once or signed into a file
with -o, like every other write.
"""

from __future__ import annotations

import time
from typing import Literal, cast

import click

import provledger

from ._aftercare import item_state, pick_plan, pick_repair, plan_option, repair_option
from ._common import Settings, notes_option, pass_settings
from ._params import DIGEST, ID
from ._write import WriteOptions, open_writer, write_options
from .transfer_cmd import WHEN

item_argument = click.argument("item")
credits_option = click.option("--credits", type=click.IntRange(min=0), default=0,
                              help="Credits in units (one unit: one covered job).")
minor_option = click.option("--credit-minor", type=click.IntRange(min=0), default=0,
                            help="Credit in minor units of the plan's currency (cents).")


@click.group()
def care() -> None:
    """Care plans sold with a piece: enrol, renew, cancel, and pay repairs from credits.

    A jeweler (an issuer, or a workshop it granted the service role) enrols
    a piece on one of its plans; the plan's credits pay for repairs when the
    owner consents (unless the plan's terms waive consent) and one of the
    jeweler's workshops redeems them. The hash `care enrol` prints is the
    plan id; `history` shows each plan with its credits left.

    \b
    Example:
      provledger care enrol ITEM --key maison.key --tier Gold --terms gold-terms.pdf \\
        --ends +730d --credits 2 --credit-minor 15000 --currency EUR \\
        --service cleaning --service inspection --transfer with_piece
      provledger care consent ITEM --key client.key --credits 1
      provledger care redeem ITEM --key atelier.key --credits 1
    """


@care.command()
@item_argument
@click.option("--tier", required=True, help="The plan's tier: Bronze, Silver, Gold, ...")
@click.option("--terms", type=DIGEST, required=True,
              help="The plan's published terms (a file, hashed; or sha256:<hex>).")
@click.option("--starts", type=WHEN, help="First moment covered  [default: now].")
@click.option("--ends", type=WHEN, required=True,
              help="Last moment covered: +365d, 2027-12-31T23:59:59Z, ...")
@credits_option
@minor_option
@click.option("--currency", help="ISO 4217 code of --credit-minor, such as EUR.")
@click.option("--service", "services", multiple=True,
              help="A service the plan includes: cleaning, inspection, ... Repeatable.")
@click.option("--transfer", type=click.Choice(("with_piece", "ends")), required=True,
              help="When the piece is sold: the plan goes with it, or ends.")
@click.option("--no-consent", is_flag=True,
              help="The terms let your workshops redeem credits without the owner's consent.")
@notes_option
@pass_settings
@write_options
def enrol(settings: Settings, *, opts: WriteOptions, item: str, tier: str, terms: bytes,
          starts: int | None, ends: int, credits: int, credit_minor: int,
          currency: str | None, services: tuple[str, ...], transfer: str, no_consent: bool,
          notes: str) -> None:
    """Put ITEM on one of your care plans. The hash printed is the plan id.

    Signed by the issuer whose plan it is, or by a workshop it granted the
    service role (the plan is then the item issuer's). One plan per
    provider at a time; not while the piece is in escrow.

    \b
    Example:
      provledger care enrol urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key maison.key --tier Gold --terms gold-terms.pdf --ends +730d \\
        --credits 2 --credit-minor 15000 --currency EUR --service cleaning \\
        --transfer with_piece
    """
    if credit_minor and not currency:
        raise click.UsageError("--credit-minor needs --currency")
    if currency and not credit_minor:
        raise click.UsageError("--currency applies only with --credit-minor")
    if starts is None:
        starts = int(time.time())
    event = provledger.CareEnrolled(
        tier=tier, terms=terms, starts=starts, ends=ends, credits=credits,
        credit_minor=credit_minor, currency=currency, services=list(services),
        transfer=cast(Literal["with_piece", "ends"], transfer), no_consent=no_consent,
        notes=notes)
    with open_writer(settings, opts) as w:
        w.check_item(item)
        w.publish(event, key=w.unlock(item), subject=item)


@care.command()
@item_argument
@plan_option
@click.option("--ends", type=WHEN, required=True, help="The new last moment covered.")
@credits_option
@minor_option
@click.option("--terms", type=DIGEST, help="New published terms, if they changed.")
@notes_option
@pass_settings
@write_options
def renew(settings: Settings, *, opts: WriteOptions, item: str, plan: bytes | None, ends: int,
          credits: int, credit_minor: int, terms: bytes | None, notes: str) -> None:
    """Extend a plan on ITEM, as its provider, optionally adding credits.

    An expired plan's unused credits are gone: a renewal after the end
    starts from the credits it adds.

    \b
    Example:
      provledger care renew urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key maison.key --ends 2029-12-31 --credits 1
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        plan_id = pick_plan(w, item, plan)
        w.publish(provledger.CareRenewed(plan=plan_id, ends=ends, credits=credits,
                                         credit_minor=credit_minor, terms=terms, notes=notes),
                  key=w.unlock(item), subject=item, extra={"plan": plan_id.hex()})


@care.command()
@item_argument
@plan_option
@click.option("--reason", required=True, help="Why the plan ends early.")
@notes_option
@pass_settings
@write_options
def cancel(settings: Settings, *, opts: WriteOptions, item: str, plan: bytes | None,
           reason: str, notes: str) -> None:
    """End a plan on ITEM early, as its provider (issuer key); its credits are gone.

    \b
    Example:
      provledger care cancel urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key maison.key --reason "customer asked"
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        plan_id = pick_plan(w, item, plan)
        w.publish(provledger.CareCancelled(plan=plan_id, reason=reason, notes=notes),
                  key=w.unlock(item), subject=item, extra={"plan": plan_id.hex()})


def _amounts(credits: int, credit_minor: int) -> None:
    if not (credits or credit_minor):
        raise click.UsageError("give --credits or --credit-minor (at least one above 0)")


@care.command()
@item_argument
@plan_option
@repair_option("the open repair, else the latest one not paid or cancelled")
@credits_option
@minor_option
@notes_option
@pass_settings
@write_options
def consent(settings: Settings, *, opts: WriteOptions, item: str, plan: bytes | None,
            repair: bytes | None, credits: int, credit_minor: int, notes: str) -> None:
    """Agree, as ITEM's owner, that a plan pays for a repair, up to the amounts given.

    The workshop can then redeem up to that much; a new consent for the
    same plan and repair replaces the old one.

    \b
    Example:
      provledger care consent urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key client.key --credits 1
    """
    _amounts(credits, credit_minor)
    with open_writer(settings, opts) as w:
        w.check_item(item)
        plan_id = pick_plan(w, item, plan)
        repair_id = pick_repair(w, item, repair, unpaid=True)
        w.publish(provledger.CareConsented(plan=plan_id, repair=repair_id, credits=credits,
                                           credit_minor=credit_minor, notes=notes),
                  key=w.unlock(item), subject=item,
                  extra={"plan": plan_id.hex(), "repair": repair_id.hex()})


@care.command()
@item_argument
@plan_option
@repair_option("the open repair, else the latest one not paid or cancelled")
@click.option("--consent", "consent_id", type=ID, metavar="HEX",
              help="The owner's consent (its hash, as `care consent` printed it) [default: "
                   "the item's open consent for this plan and repair, if any].")
@credits_option
@minor_option
@notes_option
@pass_settings
@write_options
def redeem(settings: Settings, *, opts: WriteOptions, item: str, plan: bytes | None,
           repair: bytes | None, consent_id: bytes | None, credits: int, credit_minor: int,
           notes: str) -> None:
    """Pay a repair of ITEM from a plan's credits, as a workshop of the plan's provider.

    Needs the owner's consent (`care consent`) for at least the amounts,
    unless the plan's terms waive it. A repair is paid once; credits never
    go below zero.

    \b
    Example:
      provledger care redeem urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key atelier.key --credits 1
    """
    _amounts(credits, credit_minor)
    with open_writer(settings, opts) as w:
        w.check_item(item)
        plan_id = pick_plan(w, item, plan)
        repair_id = pick_repair(w, item, repair, unpaid=True)
        if consent_id is None and w.ledger is not None:
            consent_id = next((c.id for c in item_state(w, item, "--consent").consents
                               if c.plan == plan_id and c.repair == repair_id), None)
        extra = {"plan": plan_id.hex(), "repair": repair_id.hex()}
        if consent_id is not None:
            extra["consent"] = consent_id.hex()
        w.publish(provledger.CareRedeemed(plan=plan_id, repair=repair_id, consent=consent_id,
                                          credits=credits, credit_minor=credit_minor,
                                          notes=notes),
                  key=w.unlock(item), subject=item, extra=extra)
