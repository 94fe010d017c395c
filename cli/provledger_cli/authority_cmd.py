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
@click.option("--gs1-prefix", "gs1_prefixes", multiple=True, metavar="DIGITS",
              help="With --role issuer: a GS1 company prefix (6-12 digits) the issuer's "
                   "GTINs may lie under. Repeatable.")
@click.option("--domain", "domains", multiple=True, metavar="DNS-NAME",
              help="With --role issuer: a domain its GS1 Digital Link ids may use "
                   "(shop.example). Repeatable.")
@pass_settings
@write_options
def authorize(settings: Settings, *, opts: WriteOptions, grantee: bytes, role: str, name: str,
              subject: str | None, gs1_prefixes: tuple[str, ...],
              domains: tuple[str, ...]) -> None:
    """Grant GRANTEE (ed25519:... or a .pub file) a role.

    The root grants "issuer"; an issuer grants "service" (repairs and
    appraisals), "reporter" (theft reports) and "attester" (countersigned
    certificates) for the items it issues.

    An issuer's grant names its scope: the GS1 company prefixes and domains
    it may certify GS1 Digital Link ids under (repeat --gs1-prefix and
    --domain for several). An issuer granted none may certify only
    urn:provledger:item ids. Granting issuer again replaces the scope.

    Only the authority that created a chain grants it more roles. After its
    key was revoked, the same command with --subject CHAIN-ID and a new key
    re-keys it.

    \b
    Example:
      provledger authorize --key keys/root.key --role issuer \\
        --name "Maison Rose" --gs1-prefix 9506000 --domain maison-rose.example \\
        maison-rose.pub
    """
    if (gs1_prefixes or domains) and role != "issuer":
        raise click.UsageError("--gs1-prefix and --domain apply only with --role issuer")
    with open_writer(settings, opts) as w:
        if subject is None:
            subject = _authority_or_new(w.ledger, grantee)
        signer = w.unlock()
        # A trailing dot or capitals are the same DNS name; anything else the ledger refuses.
        names = [d.lower().removesuffix(".") for d in domains]
        w.publish(provledger.RoleGranted(key=grantee, name=name, role=cast(Role, role),
                                         gs1_prefixes=list(gs1_prefixes), domains=names),
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
