"""Backups: a consistent online copy of the ledger, audited before it is trusted."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import provledger

from ._common import Settings, emit, json_option, pass_settings


@click.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_settings
def backup(settings: Settings, *, dest: Path, as_json: bool) -> None:
    """Copy the ledger to the new file DEST while it stays in use, then audit the copy.

    The copy is one consistent snapshot (SQLite's online backup API):
    writers may go on appending meanwhile. DEST must not exist. The copy is
    fsynced, opened and audited in full; one that does not audit is deleted
    and the command exits 1. Prints the copy's size and Merkle root, which
    equals the ledger's root at that size.

    To restore, stop every process using the ledger and copy DEST over the
    ledger file, removing any -wal and -shm files beside it.

    \b
    Example:
      provledger --db rings.db backup /backups/rings-2026-11-20.db
    """
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        if sys.stderr.isatty():
            click.echo(f"copying {settings.db} to {dest} ...", err=True)
        report = ledger.backup(dest)
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
