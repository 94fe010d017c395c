"""Where a write command's statement goes: into the ledger, or signed into a file.

Every write command takes the same options (``--key``, ``--json``,
``-o/--out``, ``--origin``, ``--prev``) and ends in :meth:`Writer.publish`,
so appending online and signing offline behave alike in every command.
Every statement written is committed (spec/disclosure.md): its free-text
fields go in as salted digests and their clear text, the disclosures, is
kept off the log: in the ledger's erasable store, or in ``FILE.disclosures``.
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
from ._disclosures import committed_paths, disclosures_path, write_disclosures
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
                          "ledger alone (append it later with `provledger submit`). The "
                          "clear text of its committed fields goes to FILE.disclosures "
                          "(mode 0600; only when there is some): keep it with the file."),
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

        Its committable fields are committed first; their disclosures are
        appended with it, or written to ``FILE.disclosures``. Prints the
        entry's index and statement hash (or the file written) and the
        fields committed; ``extra`` adds fields to the output, such as a new
        item's id (str values are also printed as text lines, before ``lines``).

        Raises:
            provledger.DecodeError: a field breaks the schema; nothing written.
            provledger.ProvLedgerError: the ledger refused the statement.
            click.UsageError: offline, with no ledger to read origin or prev from.
            OSError: an output file exists or cannot be written.
        """
        extra = dict(extra or {})
        head_lines = [f"{name} {value}" for name, value in extra.items()
                      if isinstance(value, str)] + list(lines)
        # Free text never enters the log: it is committed, its clear text kept
        # as disclosures beside it (spec/disclosure.md); commit checks the
        # text against the schema first (DecodeError, exit 4).
        committed = provledger.commit(event)
        event, disclosures = committed.event, committed.disclosures
        private = committed_paths(event, disclosures)
        if self.opts.out is None:
            ledger = self.need_ledger("-o")
            record = ledger.append(ledger.sign(event, key=key, subject=subject), disclosures)
            emit(self.opts.as_json, {
                **extra,
                "index": record.index,
                "hash": record.hash.hex(),
                "type": event.TYPE,
                "subject": subject,
                "time": rfc3339(record.time),
                "committed": private,
            }, [*head_lines, f"appended entry {record.index} ({event.TYPE}) "
                             f"hash {record.hash.hex()}",
                *([f"committed {', '.join(private)}: the text is kept off the log, "
                   "erasable (`provledger erase`)"] if private else [])])
            return
        origin = self.opts.origin or self.need_ledger("--origin").origin
        if self.opts.prev is not None:
            prev = self.opts.prev.value
        else:
            prev = self.need_ledger("--prev").head(subject)
        raw = provledger.sign_statement(event, key=key, origin=origin, subject=subject,
                                        prev=prev, time=int(time.time()))
        statement_hash = provledger.verify_statement(raw).hash
        beside = disclosures_path(self.opts.out)
        with self.opts.out.open("xb") as f:
            f.write(raw)
        if disclosures:
            try:
                write_disclosures(beside, disclosures)
            except BaseException:
                self.opts.out.unlink(missing_ok=True)  # a statement without its text: none
                raise
        emit(self.opts.as_json, {
            **extra,
            "file": str(self.opts.out),
            "hash": statement_hash.hex(),
            "type": event.TYPE,
            "subject": subject,
            "origin": origin,
            "prev": prev.hex() if prev else None,
            "committed": private,
            "disclosures": str(beside) if disclosures else None,
        }, [*head_lines, f"signed {event.TYPE} for {subject} into {self.opts.out} "
                         f"hash {statement_hash.hex()}",
            *([f"committed {', '.join(private)}: the text is in {beside} (private; "
               f"`provledger submit {self.opts.out}` reads it)"] if private else [])])


@contextmanager
def open_writer(settings: Settings, opts: WriteOptions) -> Iterator[Writer]:
    """A Writer over the ledger at ``settings.db``: read-write online, read-only
    (or none, if the file is absent) with ``-o``.

    Raises:
        provledger.StorageError: the ledger cannot be opened.
        click.UsageError: ``--origin`` or ``--prev`` without ``-o``, or an
            ``-o`` file (or its disclosures file) that exists.
    """
    if opts.out is not None:
        for path in (opts.out, disclosures_path(opts.out)):
            if path.exists():
                raise click.BadParameter(f"{path} already exists", param_hint="-o/--out")
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
