"""Owner keys (spec/recovery.md): the owner rotates its key; when the key is
lost, the issuer (or a reporter it authorized) starts a recovery to a new key
that takes effect after a time lock, during which the old key can cancel it.

Every step is one signed statement, appended at once or signed into a file
with -o, like every other write.
"""

from __future__ import annotations

import click

import provledger
from provledger import safe_text

from ._aftercare import item_state, log_now
from ._common import Settings, notes_option, pass_settings, rfc3339
from ._owner_key import OWNER_KEY, WALLET_HELP, WalletFile, owner_public_key
from ._params import ID
from ._write import WriteOptions, open_writer, write_options

item_argument = click.argument("item")
new_owner_option = click.option(
    "--new-owner", type=OWNER_KEY, required=True,
    help="The new owner key: ed25519:... or a public key file (`provledger key new`). "
         + WALLET_HELP)
#: Default wait: the protocol's minimum, plus an hour for the entry to reach the log
#: (the lock counts from the entry's log time, which is later than signing).
DEFAULT_WAIT = provledger.RECOVERY_LOCK + 3600


@click.group()
def owner() -> None:
    """The owner's key: move a piece to a new key of yours.

    \b
    Example:
      provledger owner rotate ITEM --key old-phone.key --new-owner new-phone.pub
    """


@owner.command()
@item_argument
@new_owner_option
@notes_option
@pass_settings
@write_options
def rotate(settings: Settings, *, opts: WriteOptions, item: str,
           new_owner: bytes | WalletFile, notes: str) -> None:
    """Move ITEM to a new key, signed with the current owner key (--key).

    Not while the piece is in escrow or a recovery is pending (cancel it
    first). Open care consents of the old key end: give them again with
    the new key.

    \b
    Example:
      provledger owner rotate urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key old-phone.key --new-owner ed25519:Kfqoqk0trgFQ36eZyR8hkB2qjsl5fTuRIiAxlB_GDNs
      provledger owner rotate urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \
        --key old-phone.key --new-owner my.wallet
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        new_key = owner_public_key(new_owner, item)
        w.publish(provledger.OwnerRotated(new_owner=new_key, notes=notes), key=w.unlock(item),
                  subject=item, extra={"new_owner": provledger.format_public_key(new_key)})


@click.group()
def recovery() -> None:
    """Recover a piece whose owner lost the key, behind a time lock.

    The issuer, or a reporter it authorized (an insurer, a registry), checks
    who the owner is off the ledger, then starts a recovery to the owner's
    new key. It takes effect only after at least 7 days of log time; until
    then the piece cannot be sold, every verifier shows the recovery, and
    the old owner key (or whoever started it) can cancel it.

    \b
    Example:
      provledger recovery start ITEM --key maison.key --new-owner new-phone.pub \\
        --reason "owner lost the phone holding the key"
      provledger recovery cancel ITEM --key old-phone.key
    """


@recovery.command()
@item_argument
@new_owner_option
@click.option("--reason", required=True,
              help="Why, in a few words (never a name): 'owner lost the phone'.")
@click.option("--effective-after", "wait", type=click.IntRange(min=provledger.RECOVERY_LOCK),
              default=DEFAULT_WAIT, show_default=True, metavar="SECONDS",
              help="Seconds from now until the new key owns the piece: at least "
                   f"{provledger.RECOVERY_LOCK} (7 days) after the entry's log time.")
@notes_option
@pass_settings
@write_options
def start(settings: Settings, *, opts: WriteOptions, item: str, new_owner: bytes | WalletFile,
          reason: str, wait: int, notes: str) -> None:
    """Start moving ITEM to --new-owner, as its issuer or a reporter it authorized.

    The hash printed is the recovery id. Refused while the piece is in
    escrow or another recovery is pending.

    \b
    Example:
      provledger recovery start urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key maison.key --new-owner new-phone.pub --reason "lost phone"
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        effective = log_now(w) + wait
        new_key = owner_public_key(new_owner, item)
        w.publish(provledger.RecoveryStarted(new_owner=new_key, effective=effective,
                                             reason=reason, notes=notes),
                  key=w.unlock(item), subject=item,
                  extra={"new_owner": provledger.format_public_key(new_key),
                         "effective": rfc3339(effective)})


@recovery.command()
@item_argument
@click.option("--recovery", "recovery_id", type=ID, metavar="HEX",
              help="The recovery id (as `recovery start` printed it) [default: the item's "
                   "pending recovery; needed with -o and no ledger].")
@notes_option
@pass_settings
@write_options
def cancel(settings: Settings, *, opts: WriteOptions, item: str, recovery_id: bytes | None,
           notes: str) -> None:
    """Stop ITEM's pending recovery, with the owner key or the starter's key.

    Possible until the last second before it takes effect.

    \b
    Example:
      provledger recovery cancel urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --key old-phone.key --notes "I did not ask for this"
    """
    with open_writer(settings, opts) as w:
        w.check_item(item)
        if recovery_id is None:
            rec = item_state(w, item, "--recovery").recovery
            if rec is None or rec.state != "pending":
                raise click.UsageError(f"{safe_text(item)} has no pending recovery: "
                                       "give --recovery")
            recovery_id = rec.id
        w.publish(provledger.RecoveryCancelled(recovery=recovery_id, notes=notes),
                  key=w.unlock(item), subject=item, extra={"recovery": recovery_id.hex()})
