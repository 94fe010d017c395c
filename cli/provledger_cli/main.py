"""The ``provledger`` command group: global options, commands, and error reporting.

Every library error a command lets through is turned here into one line on
stderr and the exit code documented in ``provledger --help``.

Start-up time is part of the interface (`provledger verify` must answer in
well under half a second, interpreter included), so a command's module is
imported only when that command runs or help lists it; importing provledger
loads no storage code until a command opens a ledger.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Final

import click

import provledger

from ._common import (
    DB_ENV,
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_STORAGE,
    LedgerTarget,
    Settings,
    exit_code,
    fail,
)

#: Every command: its name and ``module:attribute`` in this package.
_COMMANDS: Final = {
    "init": "keys_cmd:init",
    "key": "keys_cmd:key",
    "authorize": "authority_cmd:authorize",
    "deauthorize": "authority_cmd:deauthorize",
    "issue": "write_cmd:issue",
    "attest": "write_cmd:attest",
    "repair": "repair_cmd:repair",
    "appraise": "write_cmd:appraise",
    "report": "write_cmd:report",
    "renew": "write_cmd:renew",
    "reaffirm": "write_cmd:reaffirm",
    "revoke": "write_cmd:revoke",
    "sign": "statement_cmd:sign",
    "submit": "statement_cmd:submit",
    "history": "read_cmd:history",
    "audit": "read_cmd:audit",
    "transfer": "transfer_cmd:transfer",
    # Transfer rules (spec/rules.md): an issuer's published rules for reselling its pieces.
    "rules": "rules_cmd:rules",
    # Aftercare (spec/aftercare.md): care plans and their credits.
    "care": "care_cmd:care",
    # Owner keys (spec/recovery.md): rotation, and recovery of a lost key behind a time lock.
    "owner": "owner_cmd:owner",
    "recovery": "owner_cmd:recovery",
    # Bundles (spec/bundle.md): export an item, write a trust policy, verify offline.
    "export": "bundle_cmd:export",
    "policy": "bundle_cmd:policy",
    "verify": "bundle_cmd:verify",
    # Erasure (spec/disclosure.md): delete the stored clear text of committed fields.
    "erase": "erase_cmd:erase",
    # Transparency log (spec/log.md): checkpoints, proofs, the log's key and raw entries.
    "checkpoint": "log_cmd:checkpoint",
    "proof": "log_cmd:proof",
    "log": "log_cmd:log",
    # Backups: a consistent online copy of the ledger, audited.
    "backup": "backup_cmd:backup",
    "witness": "witness_cmd:witness",
    "monitor": "monitor_cmd:monitor",
    "publish": "publish_cmd:publish",
    "serve": "serve_cmd:serve",
    "card": "card_cmd:card",
}


class _LazyCommands(MutableMapping[str, click.Command]):
    """The group's commands: names known up front, each module imported on first lookup.

    Listing names (usage errors, completion) imports nothing; looking a command
    up, as running or describing it does, imports its module.
    """

    def __init__(self, where: Mapping[str, str]) -> None:
        self._where = dict(where)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, _, attr = self._where[name].partition(":")
            command = getattr(importlib.import_module(f".{module}", __package__), attr)
            assert isinstance(command, click.Command), self._where[name]
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._where.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._where and name not in self._loaded:
            raise KeyError(name)
        self._where.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._where, *self._loaded]))

    def __len__(self) -> int:
        return len(self._where.keys() | self._loaded.keys())


class _LedgerGroup(click.Group):
    """A click group that reports library and file errors as one line each."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except provledger.ProvLedgerError as exc:
            fail(str(exc), exit_code(exc))
        except (click.Abort, KeyboardInterrupt, EOFError) as exc:
            detail = str(exc) if isinstance(exc, click.Abort) and str(exc) else ""
            fail(f"interrupted: {detail}" if detail else "interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            raise  # click's own handling: quiet exit when stdout is closed early
        except OSError as exc:
            fail(_os_message(exc), EXIT_STORAGE)


def _os_message(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    return f"{where}: {reason}" if where else reason


@click.group(cls=_LedgerGroup, epilog=EXIT_CODES_HELP, commands=_LazyCommands(_COMMANDS),
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", type=LedgerTarget(), envvar=DB_ENV,
              default=Path("provledger.db"), show_default=True, show_envvar=True,
              help="The ledger: a SQLite file, or a postgresql://user@host/dbname URL "
                   "(needs the 'postgres' extra).")
@click.version_option(provledger.__version__, prog_name="provledger")
@click.pass_context
def cli(ctx: click.Context, db: Path | str) -> None:
    """An append-only, signed, hash-chained provenance ledger for jewellery.

    Issuers certify pieces; authorized workshops record repairs and
    appraisals; owners report losses; anyone can verify an item's history
    and audit the whole log offline. Every write is a signed statement,
    appended at once or signed into a file (-o) to submit later.

    \b
    Example:
      provledger --db rings.db init --origin ledger.maison-rose.example/rings
      provledger key new maison-rose
      provledger --db rings.db authorize --key rings-keys/root.key \\
        --role issuer --name "Maison Rose" maison-rose.pub
      provledger --db rings.db issue --key maison-rose.key --serial R-1001 \\
        --kind ring --owner maison-rose.pub
      provledger --db rings.db history \\
        urn:provledger:item:5d1c0a3e9b7f2468:R-1001
    """
    ctx.obj = Settings(db=db)


def main() -> None:
    """Run the command line (the ``provledger`` console script)."""
    cli.main(prog_name="provledger")
