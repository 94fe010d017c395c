"""Reading: an item's verified history, and a full audit of the ledger."""

from __future__ import annotations

import os
import time

import click

import provledger

from ._common import Settings, emit, fmt_key, json_option, pass_settings
from ._progress import progress_bar, quiet_option
from ._render import history_lines


@click.command()
@click.argument("item")
@json_option
@pass_settings
def history(settings: Settings, *, item: str, as_json: bool) -> None:
    """Show ITEM's certificate, status, escrows and every event, signatures verified.

    Entries signed by a key after its compromise cut-off, or resting on such
    an entry, are marked INVALIDATED with the reason and left out of the
    status and owner shown. Escrow deadlines that passed are applied as of
    now. --json prints the same report as `verify --json`
    (spec/history.schema.json), without the checkpoint.

    \b
    Example:
      provledger history urn:provledger:item:5d1c0a3e9b7f2468:R-1001
      provledger history --json https://maison-rose.example/01/09506000134352/21/R-1001
    """
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        report = provledger.item_report(ledger, item, now=int(time.time()))
    emit(as_json, report.to_json(), history_lines(report))


@click.command()
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Check signatures in this many worker processes while this one replays "
                   "the rules; 1 does everything in one process.  [default: one per core]")
@quiet_option
@json_option
@pass_settings
def audit(settings: Settings, *, workers: int | None, quiet: bool, as_json: bool) -> None:
    """Re-verify the whole ledger: every signature, chain link, rule and stored state.

    Exits 1 naming the first entry that does not check out. Entries signed
    by keys after their compromise cut-off, and item entries resting on
    them, are listed with the reason; they do not fail the audit. On a
    terminal, progress bars show each stage on stderr (--quiet: none);
    Ctrl-C stops it with exit 130.

    \b
    Example:
      provledger --db rings.db audit --workers 4
    """
    with (provledger.Ledger.open(settings.db, readonly=True) as ledger,
          progress_bar(quiet=quiet) as progress):
        if progress is not None:
            click.echo(f"auditing {len(ledger)} entries of {settings.db} ...", err=True)
        try:
            result = ledger.audit(workers=workers or os.cpu_count() or 1, progress=progress)
        except KeyboardInterrupt:
            raise click.Abort("audit not finished") from None
    emit(as_json, {
        "ok": True,
        "size": result.size,
        "subjects": result.subjects,
        "checkpoints": result.checkpoints,
        "disclosures": result.disclosures,
        "invalidated": [
            {"index": i.index, "subject": i.subject, "signer": fmt_key(i.signer),
             "reason": i.reason}
            for i in result.invalidated
        ],
    }, [f"audit ok: {result.size} entries, {result.subjects} subjects, "
        f"{len(result.invalidated)} invalidated, {result.checkpoints} checkpoints, "
        f"{result.disclosures} stored disclosures matched",
        *(f"invalidated: {i}" for i in result.invalidated)])
