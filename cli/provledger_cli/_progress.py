"""Progress of long commands on a terminal: click's progress bar on stderr.

A command whose work grows with the ledger passes :func:`progress_bar`'s
callback to the library. On a terminal each stage (replaying entries,
checking the tree, ...) gets a bar with its position, rate and time left;
when stderr is not a terminal, or with --quiet, there is no callback at all,
so piped output is exactly what it was before bars existed. Stdout, and so
--json, never carries any of it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

import provledger

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

F = TypeVar("F", bound=Callable[..., Any])


def quiet_option(f: F) -> F:
    """Add ``-q/--quiet`` (passed as ``quiet``)."""
    return click.option("-q", "--quiet", is_flag=True,
                        help="Show no progress bar, even on a terminal.")(f)


@contextmanager
def progress_bar(*, quiet: bool) -> Iterator[provledger.Progress | None]:
    """A progress callback drawing on stderr, or None when quiet or not on a terminal.

    Bars left open (Ctrl-C, an error) are finished on the way out, so that a
    one-line error message starts on a line of its own.
    """
    if quiet or not sys.stderr.isatty():
        yield None
        return
    bars = _Bars()
    try:
        yield bars
    finally:
        bars.close()


class _Bars:
    """One click progress bar per stage, each finished when the next begins."""

    def __init__(self) -> None:
        self._bar: ProgressBar[str] | None = None
        self._key: tuple[str, int | None] | None = None
        self._done = 0
        self._start = 0.0

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if (stage, total) != self._key or done < self._done:
            self.close()
            self._key, self._done, self._start = (stage, total), 0, time.monotonic()
            self._bar = click.progressbar(
                # An unknown total: a generator has no length, so click shows no ETA.
                iterable=None if total is not None else _unsized(),
                length=total, label=stage, file=sys.stderr, show_pos=True, show_percent=True,
                show_eta=True, item_show_func=lambda rate: rate)
            self._bar.__enter__()
        assert self._bar is not None
        if done > self._done:
            elapsed = time.monotonic() - self._start
            rate = f"{done / elapsed:,.0f}/s" if elapsed > 0 else None
            self._bar.update(done - self._done, rate)
            self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.render_finish()
            self._bar = None


def _unsized() -> Iterator[str]:
    """An iterable of unknown length, for a stage whose total is not known."""
    yield from ()
