"""Erasure: delete the stored clear text of an item's committed fields.

The log keeps every commitment, so every proof, checkpoint and audit holds
as before; only the disclosures go, from the ledger's erasable store
(spec/disclosure.md), and no export can carry them again.
"""

from __future__ import annotations

import click

import provledger
from provledger import safe_text

from ._common import Settings, emit, json_option, pass_settings
from ._params import ID, field_paths


@click.command()
@click.argument("item")
@click.option("--field", "fields", multiple=True, metavar="FIELD[,FIELD...]",
              callback=lambda _ctx, _param, value: field_paths(value, "--field",
                                                               allow_all=False),
              help="Erase only these fields (repeatable, or comma-separated): inscription, "
                   "notes, condition.notes, work, performed_by, appraiser, reference, "
                   "reason.  [default: every field]")
@click.option("--statement", "statements", multiple=True, type=ID, metavar="HASH",
              help="Erase only in this statement of ITEM (its hash, as printed when it was "
                   "appended; repeatable).  [default: every statement]")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_settings
def erase(settings: Settings, *, item: str, fields: tuple[str, ...],
          statements: tuple[bytes, ...], yes: bool, as_json: bool) -> None:
    """Delete the stored clear text of ITEM's committed fields, for good.

    What is erased is the disclosures (the inscription, notes, repair work
    and the like) kept off the log; afterwards no export can disclose them.
    The log is unchanged: every commitment, inclusion proof, checkpoint and
    audit holds as before, and bundles verify, showing the field as
    withheld. Asks for confirmation unless --yes; declining erases nothing
    (exit 130).

    Not reached: backups made before (they hold the text until rotated),
    bundles already exported with --disclose, and, on PostgreSQL, the
    server's WAL archive and base backups. Text in statements of the
    earlier format is in clear on the log and cannot be erased.

    \b
    Examples:
      provledger erase urn:provledger:item:5d1c0a3e9b7f2468:R-1001
      provledger erase urn:provledger:item:5d1c0a3e9b7f2468:R-1001 --field notes \\
        --statement 3f6c...e1 --yes
    """
    with provledger.Ledger.open(settings.db) as ledger:
        history = ledger.history(item)  # NotFoundError for an unknown item, before asking
        known = {r.hash for r in history}
        for h in statements:
            if h not in known:
                raise provledger.NotFoundError(f"{h.hex()}: not a statement of {item}")
        stored = _stored(ledger, history, fields, statements)
        if not stored:
            emit(as_json, {"item": item, "erased": 0, "fields": list(fields),
                           "statements": [h.hex() for h in statements]},
                 [f"nothing to erase: no stored text of {safe_text(item)} matches"])
            return
        if not yes:
            click.echo(f"{safe_text(item)}: stored text of {len(stored)} committed field(s):",
                       err=True)
            for line in stored:
                click.echo(f"  {line}", err=True)
            try:
                confirmed = click.confirm("Erase it for good?", err=True)
            except click.Abort:  # end of input: no terminal to ask on
                confirmed = False
            if not confirmed:
                click.echo("nothing erased (not confirmed; --yes erases without asking)",
                           err=True)
                raise SystemExit(130)
        erased = ledger.erase(item, fields=list(fields) or None,
                              statements=list(statements) or None)
    emit(as_json, {"item": item, "erased": erased, "fields": list(fields),
                   "statements": [h.hex() for h in statements]},
         [f"erased {erased} disclosure(s) of {safe_text(item)}; no export can disclose "
          "them again",
          "the log is unchanged: commitments, inclusion proofs, checkpoints and audits "
          "hold as before",
          "backups made before still hold the text until they are rotated"])


def _stored(ledger: provledger.Ledger, history: list[provledger.Record],
            fields: tuple[str, ...], statements: tuple[bytes, ...]) -> list[str]:
    """One line per stored disclosure the erasure would delete: where, which field."""
    lines = []
    for r in history:
        if statements and r.hash not in statements:
            continue
        try:
            disclosed = ledger.reveal(r).disclosed
        except provledger.DisclosureError:  # a damaged row: listed, and erased all the same
            lines.append(f"entry {r.index} ({r.statement.type}): stored text that no "
                         "longer matches")
            continue
        lines += [f"entry {r.index} ({r.statement.type}): {path}" for path in disclosed
                  if not fields or path in fields]
    return lines
