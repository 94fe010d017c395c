"""The ``provledger`` command group: global options, commands, and error reporting.

Every library error a command lets through is turned here into one line on
stderr and the exit code documented in ``provledger --help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import provledger

from . import authority_cmd, keys_cmd, read_cmd, statement_cmd, transfer_cmd, write_cmd
from ._common import (
    DB_ENV,
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_STORAGE,
    Settings,
    exit_code,
    fail,
)


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


@click.group(cls=_LedgerGroup, epilog=EXIT_CODES_HELP,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), envvar=DB_ENV,
              default=Path("provledger.db"), show_default=True, show_envvar=True,
              help="The ledger file.")
@click.version_option(provledger.__version__, prog_name="provledger")
@click.pass_context
def cli(ctx: click.Context, db: Path) -> None:
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


for _command in (
    keys_cmd.init,
    keys_cmd.key,
    authority_cmd.authorize,
    authority_cmd.deauthorize,
    write_cmd.issue,
    write_cmd.attest,
    write_cmd.repair,
    write_cmd.appraise,
    write_cmd.report,
    write_cmd.renew,
    write_cmd.revoke,
    statement_cmd.sign,
    statement_cmd.submit,
    read_cmd.history,
    read_cmd.audit,
    transfer_cmd.transfer,
):
    cli.add_command(_command)


def main() -> None:
    """Run the command line (the ``provledger`` console script)."""
    cli.main(prog_name="provledger")
