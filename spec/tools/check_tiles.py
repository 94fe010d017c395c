"""check_tiles: an independent checker for a published log (spec/tiles.md,
c2sp.org/tlog-tiles).

Written from spec/tiles.md and c2sp.org/tlog-tiles alone. It imports only the
standard library and the note checks of tlogcheck.py beside it (PyNaCl for
Ed25519), never provledger. For the directory's ``checkpoint`` it reads
every tile and entry bundle a tree of that size has, and checks that:

* each tile has exactly its width of 32-byte hashes, each entry bundle its
  width of uint16-length-prefixed entries and nothing after;
* each level-0 hash is the RFC 9162 leaf hash of its entry;
* each hash at level l >= 1 is the Merkle tree hash of the full tile below it;
* the tree root rebuilt from the tiles (RFC 9162 MTH of the first *size*
  leaves) is the checkpoint's root;
* with ``--vkey``, the checkpoint is signed by that log key and names its origin.

Usage:
    python spec/tools/check_tiles.py DIR [--vkey LOG_VKEY]

Exits 0 and prints the size and root when everything checks, 1 naming the
first failure otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tlogcheck import (
    TlogCheckError,
    hash_children,
    hash_leaf,
    parse_checkpoint,
    parse_vkey,
    verify_checkpoint,
)

WIDTH = 256
HASH = 32


class TilesCheckError(Exception):
    """The published log does not check out."""


def tile_path(level: int | None, index: int, width: int) -> str:
    """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/...``: N as 3-digit groups,
    all but the last prefixed with x (c2sp.org/tlog-tiles)."""
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    n = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
    kind = "entries" if level is None else str(level)
    return f"tile/{kind}/{n}" + ("" if width == WIDTH else f".p/{width}")


def fold(hashes: list[bytes]) -> bytes:
    """MTH of a power-of-two run of subtree hashes (a full tile: 256)."""
    while len(hashes) > 1:
        hashes = [hash_children(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def read(root: Path, path: str) -> bytes:
    try:
        return (root / path).read_bytes()
    except OSError as exc:
        raise TilesCheckError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def read_tiles(root: Path, size: int) -> list[list[bytes]]:
    """Every level's hashes, level 0 first, from the tiles a tree of ``size`` has."""
    levels: list[list[bytes]] = []
    level = 0
    while size // WIDTH ** level > 0:
        count = size // WIDTH ** level
        row: list[bytes] = []
        for index in range((count + WIDTH - 1) // WIDTH):
            width = min(WIDTH, count - index * WIDTH)
            path = tile_path(level, index, width)
            data = read(root, path)
            if len(data) != width * HASH:
                raise TilesCheckError(f"{path}: {len(data)} bytes, not {width * HASH}")
            row += [data[i:i + HASH] for i in range(0, len(data), HASH)]
        levels.append(row)
        level += 1
    return levels


def check_entries(root: Path, size: int, leaves: list[bytes]) -> None:
    """Each entry bundle's entries hash to the level-0 hashes."""
    for index in range((size + WIDTH - 1) // WIDTH):
        width = min(WIDTH, size - index * WIDTH)
        path = tile_path(None, index, width)
        data = read(root, path)
        at, n = 0, 0
        while at < len(data):
            if at + 2 > len(data):
                raise TilesCheckError(f"{path}: truncated length")
            length = int.from_bytes(data[at:at + 2], "big")
            entry = data[at + 2:at + 2 + length]
            if len(entry) != length:
                raise TilesCheckError(f"{path}: truncated entry")
            if n >= width:
                raise TilesCheckError(f"{path}: more than {width} entries")
            if hash_leaf(entry) != leaves[index * WIDTH + n]:
                raise TilesCheckError(f"{path}: entry {n} (log index {index * WIDTH + n}) "
                                      "does not hash to its level-0 tile hash")
            at, n = at + 2 + length, n + 1
        if n != width:
            raise TilesCheckError(f"{path}: {n} entries, not {width}")


def check_levels(levels: list[list[bytes]]) -> None:
    """Each hash above level 0 is the MTH of the full tile below it."""
    for level in range(1, len(levels)):
        below = levels[level - 1]
        for i, h in enumerate(levels[level]):
            if fold(below[i * WIDTH:(i + 1) * WIDTH]) != h:
                raise TilesCheckError(f"level {level} hash {i} is not the hash of the full "
                                      f"level-{level - 1} tile {i}")


def subtree(levels: list[list[bytes]], height: int, index: int) -> bytes:
    """MTH of leaves [index * 2^height, (index + 1) * 2^height), from the tiles."""
    level, rest = divmod(height, 8)
    first = index << rest
    return fold(levels[level][first:first + (1 << rest)])


def root(levels: list[list[bytes]], size: int) -> bytes:
    """RFC 9162 MTH of the first ``size`` leaves: the perfect subtrees of the
    binary expansion of ``size``, folded from the right."""
    parts = []
    start = 0
    for height in reversed(range(size.bit_length())):
        if size >> height & 1:
            parts.append(subtree(levels, height, start >> height))
            start += 1 << height
    out = parts.pop()
    while parts:
        out = hash_children(parts.pop(), out)
    return out


def check(directory: Path, vkey: str | None = None) -> tuple[int, bytes]:
    """Check the published log in ``directory``; return its size and root."""
    try:
        note = read(directory, "checkpoint").decode("utf-8")
        text = note[:note.find("\n\n") + 1]
        if vkey is not None:
            name = parse_vkey(vkey)[0]
            _, size, root_hash, _, _ = verify_checkpoint(note, name, vkey, [], 0)
        else:
            _, size, root_hash, _ = parse_checkpoint(text)
    except (TlogCheckError, UnicodeDecodeError) as exc:
        raise TilesCheckError(f"checkpoint: {exc}") from None
    if size == 0:
        raise TilesCheckError("checkpoint: an empty tree has no tiles to check")
    levels = read_tiles(directory, size)
    check_entries(directory, size, levels[0])
    check_levels(levels)
    computed = root(levels, size)
    if computed != root_hash:
        raise TilesCheckError(f"the tiles give root {computed.hex()} for size {size}, not "
                              f"the checkpoint's {root_hash.hex()}")
    return size, computed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--vkey", help="the log's C2SP verifier key: check its signature")
    args = parser.parse_args(argv)
    try:
        size, computed = check(args.directory, args.vkey)
    except TilesCheckError as exc:
        print(f"check_tiles: FAIL: {exc}")
        return 1
    print(f"check_tiles: ok: size {size}, root {computed.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
