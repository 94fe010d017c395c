"""Authorities: grant and withdraw the roles that let a key sign for items."""

from __future__ import annotations

from typing import Final, Literal, cast

import click

import provledger

from ._common import Settings, notes_option, pass_settings
from ._params import PUBLIC_KEY
from ._write import WriteOptions, open_writer, write_options

Role = Literal["issuer", "service", "reporter", "attester"]


ROLES: Final[tuple[Role, ...]] = ("issuer", "service", "reporter", "attester")


@click.command()
@click.argument("grantee", type=PUBLIC_KEY)
@click.option("--role", type=click.Choice(ROLES), required=True, help="The role to grant.")
@click.option("--name", required=True,
              help="The grantee's business name, shown in reports (never a person's).")
@click.option("--subject",
              help="The grantee's authority chain id [default: its existing chain in the "
                   "ledger, or a new one for a new key].")
@pass_settings
@write_options
def authorize(settings: Settings, *, opts: WriteOptions, grantee: bytes, role: str, name: str,
              subject: str | None) -> None:
    """Grant GRANTEE (ed25519:... or a .pub file) a role.

    The root grants "issuer"; an issuer grants "service" (repairs and
    appraisals), "reporter" (theft reports) and "attester" (countersigned
    certificates) for the items it issues.

    \b
    Example:
      provledger authorize --key keys/root.key --role issuer \\
        --name "Maison Rose" maison-rose.pub
    """
    with open_writer(settings, opts) as w:
        if subject is None:
            subject = _authority_or_new(w.ledger, grantee)
        signer = w.unlock()
        w.publish(provledger.RoleGranted(key=grantee, name=name, role=cast(Role, role)),
                  key=signer, subject=subject)


def _authority_or_new(ledger: provledger.Ledger | None, grantee: bytes) -> str:
    if ledger is not None:
        try:
            return ledger.authority(grantee).subject
        except provledger.NotFoundError:
            pass
    return provledger.authority_subject(grantee)


@click.command()
@click.argument("grantee", type=PUBLIC_KEY)
@click.option("--role", type=click.Choice(ROLES), required=True, help="The role to withdraw.")
@click.option("--subject", help="With -o and no ledger: the grantee's authority chain id.")
@notes_option
@pass_settings
@write_options
def deauthorize(settings: Settings, *, opts: WriteOptions, grantee: bytes, role: str,
                subject: str | None, notes: str) -> None:
    """Withdraw a role you granted to GRANTEE (ed25519:... or a .pub file).

    \b
    Example:
      provledger deauthorize --key maison-rose.key --role service atelier-dupont.pub
    """
    with open_writer(settings, opts) as w:
        chain = subject or w.need_ledger("--subject").authority(grantee).subject
        signer = w.unlock()
        w.publish(provledger.RoleRevoked(role=cast(Role, role), notes=notes),
                  key=signer, subject=chain)
