"""c2sp.org/tlog-tiles: tile paths, hash tiles and entry bundles of a log.

A tile at level *l*, index *n* holds up to 256 consecutive Merkle tree
hashes of tree level 8·l: ``MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l])``
for i = 0..255. Full tiles have 256 hashes (8,192 bytes); the rightmost tile
of a level for a tree of size s is partial, of width ``(s // 256^l) % 256``,
and served at ``…/<N>.p/<W>``. An entry bundle holds the entries of a level-0
tile, each as a big-endian uint16 length and the entry bytes (spec/tiles.md).

This module knows paths and contents; the hash tiles are the store's rows
(``TreeStore.tiles``).

Errors: a path that is not a tile path raises :class:`~provledger._errors.NotFoundError`
(a server answers 404); an entry too long for a uint16 length raises
:class:`~provledger._errors.DecodeError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ._errors import DecodeError, NotFoundError

if TYPE_CHECKING:
    from ._storage import Store

TILE_WIDTH: Final = 256
TILE_HEIGHT: Final = 8
HASH_SIZE: Final = 32
#: The largest entry an entry bundle can carry (its length is a uint16).
MAX_BUNDLED_ENTRY: Final = 0xFFFF
_ELEMENT = re.compile(r"(?:x[0-9]{3}/)*[0-9]{3}")
_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


@dataclass(frozen=True, slots=True)
class Tile:
    """A hash tile (``level`` 0-63) or, with ``level`` None, an entry bundle.

    ``width`` is 256 for a full tile, 1-255 for a partial one.
    """

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def path(self) -> str:
        """The path below the log's prefix, e.g. ``tile/0/x001/234`` or
        ``tile/entries/000.p/17``."""
        kind = "entries" if self.level is None else str(self.level)
        suffix = "" if self.width == TILE_WIDTH else f".p/{self.width}"
        return f"tile/{kind}/{encode_index(self.index)}{suffix}"

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH


def encode_index(index: int) -> str:
    """``1234067`` -> ``x001/x234/067``: zero-padded 3-digit elements, all but
    the last prefixed with ``x``."""
    if index < 0:
        raise ValueError("a tile index is non-negative")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def parse_tile_path(path: str) -> Tile:
    """The tile a path below the prefix names (``tile/<L>/<N>[.p/<W>]`` or
    ``tile/entries/<N>[.p/<W>]``), in its one canonical spelling.

    Raises:
        NotFoundError: anything else (a server answers it with 404).
    """
    rest = path.removeprefix("/")
    if not rest.startswith("tile/"):
        raise NotFoundError(f"not a tile path: {path[:200]!r}")
    kind, _, rest = rest[len("tile/"):].partition("/")
    number, dot, width_text = rest.partition(".p/")
    width = TILE_WIDTH
    if dot:
        if not _WIDTH.fullmatch(width_text) or not 1 <= int(width_text) <= 255:
            raise NotFoundError(f"not a tile path (width): {path[:200]!r}")
        width = int(width_text)
    if not _ELEMENT.fullmatch(number):
        raise NotFoundError(f"not a tile path (index): {path[:200]!r}")
    index = int(number.replace("x", "").replace("/", ""))
    if kind == "entries":
        level = None
    elif _LEVEL.fullmatch(kind) and int(kind) <= 63:
        level = int(kind)
    else:
        raise NotFoundError(f"not a tile path (level): {path[:200]!r}")
    tile = Tile(level, index, width)
    if tile.path != path.removeprefix("/"):
        raise NotFoundError(f"not a canonical tile path: {path[:200]!r}")
    return tile


def tiles_for(size: int) -> Iterator[Tile]:
    """Every hash tile and entry bundle of a tree of ``size`` leaves, level by
    level, full ones first in index order, then the partial one (if any)."""
    level = 0
    span = 1  # leaves per hash at this level
    while size // span > 0:
        count = size // span
        full, width = divmod(count, TILE_WIDTH)
        for n in range(full):
            yield Tile(level, n)
            if level == 0:
                yield Tile(None, n)
        if width:
            yield Tile(level, full, width)
            if level == 0:
                yield Tile(None, full, width)
        level += 1
        span *= TILE_WIDTH
        if level > 63:
            break


def tile_hashes(store: Store, tile: Tile, size: int) -> bytes:
    """The bytes of hash tile ``tile`` of the tree of ``size`` leaves.

    Raises:
        NotFoundError: the tile does not exist in that tree (beyond its edge,
            or partial where the tree has the full one, or of another width).
    """
    if tile.level is None:
        raise ValueError("an entry bundle is not a hash tile")
    _check_exists(tile, size)
    _, (row,) = store.tiles([(tile.level, tile.index)])
    # The stored row is the tile at the log's current size: a full tile as
    # stored, an older partial one its prefix.
    held = b"" if row is None else row.hashes
    if len(held) < tile.width * HASH_SIZE:
        raise NotFoundError(f"{tile.path}: the store holds {len(held) // HASH_SIZE} of its "
                            f"{tile.width} hashes")
    return held[:tile.width * HASH_SIZE]


def entry_bundle(store: Store, tile: Tile, size: int) -> bytes:
    """The entry bundle ``tile`` (level None) of the tree of ``size`` leaves.

    Raises:
        NotFoundError: as :func:`tile_hashes`.
        DecodeError: an entry is longer than 65,535 bytes.
    """
    if tile.level is not None:
        raise ValueError("a hash tile is not an entry bundle")
    _check_exists(Tile(0, tile.index, tile.width), size)
    start = tile.index * TILE_WIDTH
    return encode_entry_bundle(row.entry for row in store.rows(start, start + tile.width))


def encode_entry_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries, each prefixed by its length as a big-endian uint16.

    Raises:
        DecodeError: an entry longer than 65,535 bytes.
    """
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_BUNDLED_ENTRY:
            raise DecodeError(f"an entry of {len(entry)} bytes does not fit an entry bundle "
                              f"(at most {MAX_BUNDLED_ENTRY})")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_entry_bundle(data: bytes, *, width: int) -> list[bytes]:
    """The ``width`` entries of an entry bundle.

    Raises:
        DecodeError: truncated, trailing bytes, or not ``width`` entries.
    """
    entries = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise DecodeError("entry bundle: truncated length")
        n = int.from_bytes(data[at:at + 2], "big")
        at += 2
        if at + n > len(data):
            raise DecodeError("entry bundle: truncated entry")
        entries.append(data[at:at + n])
        at += n
    if len(entries) != width:
        raise DecodeError(f"entry bundle: {len(entries)} entries, expected {width}")
    return entries


def _check_exists(tile: Tile, size: int) -> None:
    """A full tile exists once its 256 hashes do; a partial one of width w
    wherever a tree of some size up to ``size`` had it (older checkpoints'
    partial tiles stay servable)."""
    assert tile.level is not None
    count = size // TILE_WIDTH ** tile.level  # hashes at this tile level
    if tile.index * TILE_WIDTH + tile.width > count:
        raise NotFoundError(f"{tile.path}: no such tile in a tree of {size} entries")
