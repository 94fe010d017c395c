"""Where a write command's statement goes: into the ledger, or signed into a file.

Every write command takes the same options (``--key``, ``--json``,
``-o/--out``, ``--origin``, ``--prev``) and ends in :meth:`Writer.publish`,
so appending online and signing offline behave alike in every command.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

import provledger

from ._common import Settings, emit, rfc3339, unlock
from ._params import PREV, Prev
from ._progress import progress_bar


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """The options every write command shares."""

    key: Path
    out: Path | None
    origin: str | None
    prev: Prev | None
    as_json: bool


def write_options(f: Callable[..., None]) -> Callable[..., None]:
    """Add the shared write options, passed to ``f`` as one ``opts: WriteOptions``."""

    @functools.wraps(f)
    def wrapper(
        *args: Any,
        key: Path,
        out: Path | None,
        origin: str | None,
        prev: Prev | None,
        as_json: bool,
        **kwargs: Any,
    ) -> None:
        f(*args, opts=WriteOptions(key, out, origin, prev, as_json), **kwargs)

    options = (
        click.option("-k", "--key", type=click.Path(dir_okay=False, path_type=Path),
                     required=True,
                     help="The signer's encrypted private key file, or an owner's wallet "
                          "(the item's own key is derived from it)."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON document to stdout."),
        click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
                     help="Only sign: write the statement to this new file and leave the "
                          "ledger alone (append it later with `provledger submit`)."),
        click.option("--origin",
                     help="With -o: the log's origin (default: read from --db)."),
        click.option("--prev", type=PREV, metavar="HEX|none",
                     help="With -o: hash of the subject's latest statement, or 'none' "
                          "for its first (default: read from --db)."),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


class Writer:
    """Appends statements to ``ledger``, or signs them into ``opts.out``.

    ``ledger`` is None when signing offline without a ledger file; whatever
    would be read from it must then be given on the command line.
    """

    def __init__(self, ledger: provledger.Ledger | None, opts: WriteOptions,
                 db: Path | str) -> None:
        self.ledger = ledger
        self.opts = opts
        self._db = db

    @property
    def offline(self) -> bool:
        return self.opts.out is not None

    def need_ledger(self, option: str) -> provledger.Ledger:
        """The ledger, to look up what ``option`` would otherwise give.

        Raises:
            click.UsageError: signing offline with no ledger file.
        """
        if self.ledger is None:
            raise click.UsageError(f"{self._db} does not exist: give {option} to sign offline")
        return self.ledger

    def check_item(self, item: str) -> None:
        """Fail early, before asking for a passphrase, if ``item`` is unknown.

        Offline signing skips the check: the item may be in a batch not yet
        submitted.

        Raises:
            provledger.NotFoundError: no certificate for ``item``.
        """
        if not self.offline and self.ledger is not None:
            self.ledger.item(item)

    def unlock(self, item: str | None = None) -> provledger.SigningKey:
        """The signer's key from ``--key``; from a wallet, ``item``'s owner key.

        Raises:
            provledger.KeyFileError: unreadable key file, wrong passphrase, or
                a wallet with no ``item``.
        """
        return unlock(self.opts.key, item)

    def publish(
        self,
        event: provledger.Event,
        *,
        key: provledger.SigningKey,
        subject: str,
        extra: Mapping[str, Any] | None = None,
        lines: Sequence[str] = (),
    ) -> None:
        """Append ``event`` signed by ``key`` for ``subject``, or sign it into a file.

        Prints the entry's index and statement hash (or the file written);
        ``extra`` adds fields to the output, such as a new item's id (str
        values are also printed as text lines, before ``lines``).

        Raises:
            provledger.ProvLedgerError: the ledger refused the statement.
            click.UsageError: offline, with no ledger to read origin or prev from.
            OSError: the output file exists or cannot be written.
        """
        extra = dict(extra or {})
        head_lines = [f"{name} {value}" for name, value in extra.items()
                      if isinstance(value, str)] + list(lines)
        if self.opts.out is None:
            ledger = self.need_ledger("-o")
            record = ledger.append(ledger.sign(event, key=key, subject=subject))
            emit(self.opts.as_json, {
                **extra,
                "index": record.index,
                "hash": record.hash.hex(),
                "type": event.TYPE,
                "subject": subject,
                "time": rfc3339(record.time),
            }, [*head_lines, f"appended entry {record.index} ({event.TYPE}) "
                             f"hash {record.hash.hex()}"])
            return
        origin = self.opts.origin or self.need_ledger("--origin").origin
        if self.opts.prev is not None:
            prev = self.opts.prev.value
        else:
            prev = self.need_ledger("--prev").head(subject)
        raw = provledger.sign_statement(event, key=key, origin=origin, subject=subject,
                                        prev=prev, time=int(time.time()))
        statement_hash = provledger.verify_statement(raw).hash
        with self.opts.out.open("xb") as f:
            f.write(raw)
        emit(self.opts.as_json, {
            **extra,
            "file": str(self.opts.out),
            "hash": statement_hash.hex(),
            "type": event.TYPE,
            "subject": subject,
            "origin": origin,
            "prev": prev.hex() if prev else None,
        }, [*head_lines, f"signed {event.TYPE} for {subject} into {self.opts.out} "
                         f"hash {statement_hash.hex()}"])


@contextmanager
def open_writer(settings: Settings, opts: WriteOptions) -> Iterator[Writer]:
    """A Writer over the ledger at ``settings.db``: read-write online, read-only
    (or none, if the file is absent) with ``-o``.

    Raises:
        provledger.StorageError: the ledger cannot be opened.
        click.UsageError: ``--origin`` or ``--prev`` without ``-o``, or an
            ``-o`` file that exists.
    """
    if opts.out is not None and opts.out.exists():
        raise click.BadParameter(f"{opts.out} already exists", param_hint="-o/--out")
    if opts.out is None:
        if opts.origin is not None or opts.prev is not None:
            raise click.UsageError("--origin and --prev apply only with -o/--out")
        with progress_bar(quiet=False) as progress:  # converting an older file, if it is one
            ledger = provledger.Ledger.open(settings.db, progress=progress)
        with ledger:
            yield Writer(ledger, opts, settings.db)
    elif isinstance(settings.db, str) or settings.db.exists():
        with provledger.Ledger.open(settings.db, readonly=True) as ledger:
            yield Writer(ledger, opts, settings.db)
    else:
        yield Writer(None, opts, settings.db)
