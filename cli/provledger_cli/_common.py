"""What every command shares: settings, exit codes, passphrases, and output.

Library errors become exit codes here, in one table, so that the codes the
top-level help documents are the codes the commands return.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import click

import provledger

F = TypeVar("F", bound=Callable[..., Any])

PASSPHRASE_ENV: Final = "PROVLEDGER_PASSPHRASE"  # noqa: S105 (a variable's name)
DB_ENV: Final = "PROVLEDGER_DB"

EXIT_VERIFICATION: Final = 1
EXIT_USAGE: Final = 2
EXIT_POLICY: Final = 3
EXIT_DECODE: Final = 4
EXIT_STORAGE: Final = 5
EXIT_NOT_FOUND: Final = 6
EXIT_OTHER: Final = 7
#: `checkpoint`: signed and stored, but the witnesses did not reach the policy's quorum.
EXIT_QUORUM: Final = 8
#: `witness cosign`: the witness has recorded another size than the request's
#: old size (add-checkpoint's 409); the size is printed on stdout.
EXIT_CONFLICT: Final = 9
#: `witness cosign`: not consistent with what the witness cosigned before (422).
EXIT_INCONSISTENT: Final = 10
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, as shells report Ctrl-C

#: Most specific family first: AuditError is a VerificationError, and so on.
_EXIT_CODES: Final[tuple[tuple[type[provledger.ProvLedgerError], int], ...]] = (
    (provledger.VerificationError, EXIT_VERIFICATION),
    (provledger.PolicyError, EXIT_POLICY),
    (provledger.DecodeError, EXIT_DECODE),
    (provledger.StorageError, EXIT_STORAGE),
    (provledger.NotFoundError, EXIT_NOT_FOUND),
)

EXIT_CODES_HELP: Final = f"""\b
Exit codes:
  0  success
  {EXIT_VERIFICATION}  verification failed: bad signature, broken chain, unknown or
     revoked key, or the audit found stored data the log does not prove
  {EXIT_USAGE}  usage error: a bad option or argument
  {EXIT_POLICY}  refused by the ledger's rules: not authorized, wrong item state,
     or a statement that is already in the log
  {EXIT_DECODE}  malformed input: a statement, JSON body or key that does not decode
  {EXIT_STORAGE}  storage: the ledger is missing, unreadable or busy, or another
     file cannot be read or written
  {EXIT_NOT_FOUND}  not found: no such item, authority or entry in the ledger, or
     no receipt for a checkpoint of a one-entry log
  {EXIT_OTHER}  key file error (wrong passphrase, unreadable key file) or any
     other provledger error
  {EXIT_QUORUM}  checkpoint signed and stored, but the witness quorum was not
     reached (add cosignatures later: `checkpoint cosignatures add`)
  {EXIT_CONFLICT}  `witness cosign`: the witness has recorded another size than the
     proof's old size (printed on stdout: send a proof from it)
  {EXIT_INCONSISTENT}  `witness cosign`: the checkpoint is not consistent with the one
     the witness cosigned before (a fork; kept as evidence)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C), the passphrase prompt was closed, or a
     confirmation was declined (`erase`)

\b
Environment:
  {DB_ENV}          the ledger: a file, or a postgresql:// URL (as --db)
  {PASSPHRASE_ENV}  passphrase of private key files; asked for when unset
"""


def exit_code(exc: provledger.ProvLedgerError) -> int:
    """The documented exit code for a library error (see EXIT_CODES_HELP)."""
    for family, code in _EXIT_CODES:
        if isinstance(exc, family):
            return code
    return EXIT_OTHER


def fail(message: str, code: int) -> NoReturn:
    """Print ``provledger: error: <message>`` as one line on stderr and exit with ``code``.

    The message is escaped with :func:`provledger.safe_text`: errors about a
    bundle or statement may quote text its author chose.

    Raises:
        click.exceptions.Exit: always; click turns it into the exit status.
    """
    one_line = " ".join(message.splitlines())
    click.echo(f"provledger: error: {provledger.safe_text(one_line)}", err=True)
    raise click.exceptions.Exit(code)


if TYPE_CHECKING:  # generic in click's stubs since 8.3; a plain class at run time before
    _TargetBase = click.ParamType[Path | str, Any]
else:
    _TargetBase = click.ParamType


class LedgerTarget(_TargetBase):
    """--db: a SQLite file path, or a ``postgresql://`` / ``postgres://`` URL
    (kept a string: a Path would fold its ``//``)."""

    name = "path|url"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> Path | str:
        if isinstance(value, Path):
            return value
        text = str(value)
        if text.startswith(("postgresql://", "postgres://")):
            return text
        if not text:
            self.fail("an empty path", param, ctx)
        return Path(text)


@dataclass(frozen=True, slots=True)
class Settings:
    """The group's global options, handed to every command."""

    #: A SQLite file, or a PostgreSQL URL (str).
    db: Path | str


pass_settings = click.make_pass_decorator(Settings)


def json_option(f: F) -> F:
    """Add ``--json`` (passed as ``as_json``)."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document to stdout."
    )(f)


def notes_option(f: F) -> F:
    """Add ``--notes TEXT`` (default empty)."""
    return click.option("--notes", default="", help="Free-text notes (no personal data).")(f)


def emit(as_json: bool, document: Mapping[str, Any], lines: Sequence[str]) -> None:
    """Print ``document`` as JSON, or ``lines`` for people.

    A reader that stops early (``| head -1``) is no failure: the rest of the
    output is dropped and the command keeps its exit status.
    """
    try:
        if as_json:
            click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        else:
            for line in lines:
                click.echo(line)
    except BrokenPipeError:
        # Point stdout at /dev/null so that the flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def rfc3339(t: int) -> str:
    """Unix seconds as an RFC 3339 UTC timestamp such as ``2026-11-20T10:00:00Z``
    (after year 9999, as provledger.format_time writes it)."""
    return provledger.format_time(t)


def passphrase(what: str, *, confirm: bool = False) -> bytes:
    """The passphrase for ``what``: $PROVLEDGER_PASSPHRASE, else a hidden prompt.

    ``confirm`` asks twice, for passphrases that protect new key files.

    Raises:
        click.UsageError: the passphrase is empty.
    """
    text = os.environ.get(PASSPHRASE_ENV)
    if not text:
        try:
            with _quiet_getpass():
                text = click.prompt(f"Passphrase for {what}", hide_input=True,
                                    confirmation_prompt=confirm)
        except click.Abort:
            # Usually no terminal: say how to run unattended.
            raise click.Abort(f"no passphrase for {what} (set {PASSPHRASE_ENV} to run "
                              "without a terminal)") from None
    if not text:
        raise click.UsageError("the passphrase must not be empty")
    return str(text).encode("utf-8")


@contextlib.contextmanager
def _quiet_getpass() -> Iterator[None]:
    """Without a terminal, getpass warns on stderr, twice, and prompts there
    before reading stdin: keep all of it off stderr, so that a failure stays the
    one line ``fail`` prints. A passphrase piped to stdin is still read."""
    if _terminal():
        yield
        return
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore", getpass.GetPassWarning)
        yield


def _terminal() -> bool:
    """Whether getpass can prompt on a terminal (it tries /dev/tty, then stdin)."""
    if sys.stdin is not None and sys.stdin.isatty():
        return True
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def unlock(path: Path, item: str | None = None) -> provledger.SigningKey:
    """Decrypt the private key file at ``path``, asking for its passphrase.

    A wallet file (spec/wallet.md) gives the owner key of ``item`` derived
    from it; with no item there is no key to derive, and it is refused.

    Raises:
        provledger.KeyFileError: missing or unreadable file, a wrong passphrase,
            or a wallet where no item is known.
        provledger.ItemIdError: ``item`` is not an item id.
    """
    if provledger.is_wallet_file(path):
        if item is None:
            raise provledger.KeyFileError(
                f"{path} is a wallet, which holds a separate owner key per item, and this "
                "command names no item: give a signing key file (provledger key new); "
                "for an item's public owner key run: provledger key owner-key --wallet "
                f"{path} ITEM")
        wallet = provledger.read_wallet(path, passphrase=passphrase(f"wallet {path}"))
        return wallet.owner_key(item)
    return provledger.read_signing_key(path, passphrase=passphrase(str(path)))


def fmt_key(public_key: bytes) -> str:
    """The ``ed25519:...`` text of a public key."""
    return provledger.format_public_key(public_key)
