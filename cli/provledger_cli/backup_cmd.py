"""Backups: a consistent online copy of the ledger, audited before it is trusted."""

from __future__ import annotations

from pathlib import Path

import click

import provledger
from provledger._backends import redact_target

from ._common import Settings, emit, json_option, pass_settings
from ._progress import progress_bar, quiet_option


@click.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--to", "to_url", metavar="URL",
              help="Copy into this empty PostgreSQL database (postgresql://...) instead "
                   "of a file.")
@quiet_option
@json_option
@pass_settings
def backup(settings: Settings, *, dest: Path | None, to_url: str | None, quiet: bool,
           as_json: bool) -> None:
    """Copy the ledger to the new file DEST while it stays in use, then audit the copy.

    The copy is one consistent snapshot (SQLite's online backup API, or one
    PostgreSQL REPEATABLE READ transaction): writers may go on appending
    meanwhile. DEST must not exist. The copy is fsynced, opened and audited
    in full; one that does not audit is deleted and the command exits 1.
    Prints the copy's size and Merkle root, and the ledger's root at that
    size, which must be equal. On a terminal progress bars show the copy
    and its audit on stderr (--quiet: none); Ctrl-C stops it with exit 130
    and deletes the partial copy.

    Between backends: with a postgresql:// --db, DEST is a new SQLite file;
    --to postgresql://... copies the ledger into an EMPTY PostgreSQL
    database in one transaction (a database holding a ledger is refused).

    To restore a file, stop every process using the ledger and copy DEST
    over the ledger file, removing any -wal and -shm files beside it.

    \b
    Example:
      provledger --db rings.db backup /backups/rings-2026-11-20.db
      provledger --db rings.db backup --to postgresql://ledger@db.example/rings
      provledger --db postgresql://ledger@db.example/rings backup rings-copy.db
    """
    if (dest is None) == (to_url is None):
        raise click.UsageError("give either DEST (a new file) or --to URL")
    if to_url is not None and not to_url.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("expected a postgresql:// URL", param_hint="--to")
    target: Path | str = dest if dest is not None else str(to_url)
    shown = redact_target(target)
    with (provledger.Ledger.open(settings.db, readonly=True) as ledger,
          progress_bar(quiet=quiet) as progress):
        if progress is not None:
            click.echo(f"copying {redact_target(settings.db)} to {shown} ...",
                       err=True)
        try:
            report = ledger.backup(target, progress=progress)
        except KeyboardInterrupt:
            raise click.Abort("the ledger is unchanged and no backup was left") from None
        source_root = ledger.root(report.size)
    with provledger.Ledger.open(target, readonly=True) as copy:
        root = copy.root(report.size)
    if root != source_root:  # the audit passed, so only a bug gets here
        raise provledger.AuditError(f"the copy's root {root.hex()} differs from the "
                                    f"ledger's {source_root.hex()} at size {report.size}")
    emit(as_json, {
        "ok": True,
        "dest": shown,
        "size": report.size,
        "root": root.hex(),
        "source_root": source_root.hex(),
        "subjects": report.subjects,
        "checkpoints": report.checkpoints,
    }, [f"backup ok: {shown}: {report.size} entries, root {root.hex()}, "
        f"{report.checkpoints} checkpoints, audited",
        f"ledger root at {report.size}: {source_root.hex()} (equal)"])
