"""Progress reports of long operations: the callback type and its stage names.

An operation whose work grows with the ledger (audit, checkpoint, backup)
takes an optional ``progress`` callback and calls it as
``progress(stage, done, total)``: ``stage`` says what it is doing, ``done``
how many units of that stage are finished, and ``total`` how many there are
(None when not known in advance). Within a stage ``done`` never decreases; a
stage may be followed by another. Calls are made every :data:`EVERY` units
or so and at a stage's start and end, so a callback costs nothing
measurable, and an absent one (None, the default) one test per report.

A callback may raise (KeyboardInterrupt, its own exception) to stop the
operation: writes are transactional and left undone, a partial backup is
deleted, an audit is simply unfinished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

#: ``progress(stage, done, total)``; see the module docstring.
Progress: TypeAlias = Callable[[str, int, int | None], None]

#: Units of work between two reports (entries, head-map leaves, pages).
EVERY: Final = 1024

# Stage names: what a terminal shows, so worded for people.
REPLAYING: Final = "replaying entries"
CHECKING_TREE: Final = "checking the tree"
CHECKING_HEAD_MAPS: Final = "checking the head maps"
BUILDING_HEAD_MAP: Final = "building the head map"
COPYING: Final = "copying"
