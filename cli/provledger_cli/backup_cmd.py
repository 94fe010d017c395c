"""Backups: a consistent online copy of the ledger, audited before it is trusted."""

from __future__ import annotations

from pathlib import Path

import click

import provledger

from ._common import Settings, emit, json_option, pass_settings
from ._progress import progress_bar, quiet_option


@click.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@quiet_option
@json_option
@pass_settings
def backup(settings: Settings, *, dest: Path, quiet: bool, as_json: bool) -> None:
    """Copy the ledger to the new file DEST while it stays in use, then audit the copy.

    The copy is one consistent snapshot (SQLite's online backup API):
    writers may go on appending meanwhile. DEST must not exist. The copy is
    fsynced, opened and audited in full; one that does not audit is deleted
    and the command exits 1. Prints the copy's size and Merkle root, which
    equals the ledger's root at that size. On a terminal progress bars show
    the copy and its audit on stderr (--quiet: none); Ctrl-C stops it with
    exit 130 and deletes the partial copy.

    To restore, stop every process using the ledger and copy DEST over the
    ledger file, removing any -wal and -shm files beside it.

    \b
    Example:
      provledger --db rings.db backup /backups/rings-2026-11-20.db
    """
    with (provledger.Ledger.open(settings.db, readonly=True) as ledger,
          progress_bar(quiet=quiet) as progress):
        if progress is not None:
            click.echo(f"copying {settings.db} to {dest} ...", err=True)
        try:
            report = ledger.backup(dest, progress=progress)
        except KeyboardInterrupt:
            raise click.Abort("the ledger is unchanged and no backup was left") from None
    with provledger.Ledger.open(dest, readonly=True) as copy:
        root = copy.root(report.size)
    emit(as_json, {
        "ok": True,
        "dest": str(dest),
        "size": report.size,
        "root": root.hex(),
        "subjects": report.subjects,
        "checkpoints": report.checkpoints,
    }, [f"backup ok: {dest}: {report.size} entries, root {root.hex()}, "
        f"{report.checkpoints} checkpoints, audited"])
