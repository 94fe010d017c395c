"""Reading a published log back: its checkpoint, tiles, entry bundles and item
bundles, from a publish directory or over HTTP(S) (spec/tiles.md), and the
tree's roots and RFC 9162 proofs computed from the tiles.

Nothing read here is trusted. A caller verifies the checkpoint note itself;
roots and proofs computed from tiles only mean something once compared with
a root from a verified checkpoint (:meth:`TileTree.check_root`), and a bad
tile shows up as a root or proof that does not match. Tiles of a tree of
size *n* are read at the widths that tree has; a partial tile that is gone
(c2sp.org/tlog-tiles lets a log delete it once the full one exists) is read
from the full tile, or from the wider partial tile of the published size.

Errors: a resource that is not there (a missing file, HTTP 404 or 410)
raises :class:`~provledger._errors.NotFoundError`; one that cannot be read
(another HTTP status, a network or file error) :class:`~provledger._errors.StorageError`;
one too large or of the wrong length :class:`~provledger._errors.DecodeError`.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from . import __version__, _merkle
from ._bundle import MAX_BUNDLE_BYTES, decode_bundle
from ._errors import (
    CheckpointError,
    DecodeError,
    MissingConsistencyProofError,
    NotFoundError,
    ProofError,
    StorageError,
)
from ._model import History
from ._note import MAX_NOTE_BYTES, parse_checkpoint, parse_note
from ._tiles import (
    HASH_SIZE,
    MAX_BUNDLED_ENTRY,
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    decode_entry_bundle,
)
from ._verify import verify_bundle
from ._web_paths import BUNDLE, item_path

if TYPE_CHECKING:
    from ._policy import Policy

#: The largest resource of each kind a reader accepts.
MAX_TILE_BYTES: Final = TILE_WIDTH * HASH_SIZE
MAX_ENTRY_BUNDLE_BYTES: Final = TILE_WIDTH * (2 + MAX_BUNDLED_ENTRY)
CHECKPOINT: Final = "checkpoint"


def local_path(url_path: str) -> str:
    """The file path below a publish directory that serves ``url_path`` (a
    path below the prefix, percent-encoded as in a URL): percent-decoded, as
    static web servers map URLs to files.

    Raises:
        NotFoundError: an empty, ``.`` or ``..`` segment, or a NUL or
            backslash, which no file below the directory may be named by.
    """
    trailing = url_path.endswith("/")
    # Decoded first, as a server does: %2F in a serial becomes a separator.
    segments = urllib.parse.unquote(url_path.removesuffix("/")).split("/")
    for s in segments:
        if s in ("", ".", "..") or "\x00" in s or "\\" in s:
            raise NotFoundError(f"{url_path[:200]!r} does not name a file below the "
                                "directory (an empty, '.' or '..' segment)")
    return "/".join(segments) + ("/" if trailing else "")


class TileReader:
    """Fetches a published log's resources from ``base``: a directory, or an
    ``http://`` or ``https://`` URL of its prefix. ``timeout`` (seconds)
    bounds each HTTP request."""

    def __init__(self, base: str | Path, *, timeout: float = 10.0) -> None:
        text = str(base)
        self.url: str | None = None
        self.directory: Path | None = None
        if text.startswith(("http://", "https://")):
            self.url = text if text.endswith("/") else text + "/"
        else:
            self.directory = Path(base)
        self.timeout = timeout

    def __str__(self) -> str:
        return self.url or str(self.directory)

    def get(self, path: str, *, limit: int) -> bytes:
        """The bytes of resource ``path`` (below the prefix, URL-encoded).

        Raises:
            NotFoundError, StorageError, DecodeError: as the module says.
        """
        if self.url is None:
            return self._read_file(path, limit)
        return self._read_url(path, limit)

    def _read_file(self, path: str, limit: int) -> bytes:
        assert self.directory is not None
        file = self.directory / local_path(path)
        try:
            with file.open("rb") as f:
                data = f.read(limit + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFoundError(f"{file}: no such file in the publish directory") from None
        except OSError as exc:
            raise StorageError(f"{file}: cannot read it ({exc.strerror or exc})") from None
        if len(data) > limit:
            raise DecodeError(f"{file}: larger than the {limit:,} bytes it may have")
        return data

    def _read_url(self, path: str, limit: int) -> bytes:
        assert self.url is not None
        url = self.url + path
        request = urllib.request.Request(url, headers={  # noqa: S310 (http(s) only)
            "User-Agent": f"provledger/{__version__}",
            "Accept-Encoding": "gzip, identity"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 (http(s) only)
                gzipped = answer.headers.get("Content-Encoding", "identity").lower() == "gzip"
                # gzip of hashes is no smaller; a little over the limit is its overhead
                raw = answer.read(limit + 1 + (limit // 8 + 1024 if gzipped else 0))
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                raise NotFoundError(f"{url}: not found (HTTP {exc.code})") from None
            raise StorageError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise StorageError(f"{url}: cannot fetch it ({reason})") from None
        data = _gunzip(raw, limit, url) if gzipped else raw
        if len(data) > limit:
            raise DecodeError(f"{url}: larger than the {limit:,} bytes it may have")
        return data

    # -- the resources ----------------------------------------------------------

    def checkpoint(self) -> str:
        """The published checkpoint note (unverified).

        Raises:
            DecodeError: not UTF-8 text; NotFoundError, StorageError as above.
        """
        data = self.get(CHECKPOINT, limit=MAX_NOTE_BYTES)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"{self}: the checkpoint is not UTF-8 text") from None

    def hashes(self, tile: Tile) -> bytes:
        """The bytes of hash tile ``tile``, checked to be ``width`` hashes long.

        Raises:
            DecodeError: another length; NotFoundError, StorageError as above.
        """
        data = self.get(tile.path, limit=MAX_TILE_BYTES)
        if len(data) != tile.width * HASH_SIZE:
            raise DecodeError(f"{self}: {tile.path} has {len(data)} bytes, not the "
                              f"{tile.width * HASH_SIZE} of {tile.width} hashes")
        return data

    def entries(self, tile: Tile) -> list[bytes]:
        """The entries of entry bundle ``tile`` (level None).

        Raises:
            DecodeError: a malformed bundle or not ``width`` entries;
                NotFoundError, StorageError as above.
        """
        data = self.get(tile.path, limit=MAX_ENTRY_BUNDLE_BYTES)
        try:
            return decode_entry_bundle(data, width=tile.width)
        except DecodeError as exc:
            raise DecodeError(f"{self}: {tile.path}: {exc}") from None

    def bundle(self, item: str) -> bytes:
        """The bytes of ``item``'s bundle (``<item path>bundle.cbor``), unverified.

        Raises:
            ItemIdError: ``item`` is not an item id; NotFoundError,
                StorageError, DecodeError as above.
        """
        return self.get(item_path(item) + BUNDLE, limit=MAX_BUNDLE_BYTES)


def _gunzip(data: bytes, limit: int, url: str) -> bytes:
    """A gzip body, decompressed to at most ``limit`` + 1 bytes.

    Raises:
        DecodeError: not gzip, or truncated.
    """
    inflate = zlib.decompressobj(wbits=31)
    try:
        out = inflate.decompress(data, limit + 1)
    except zlib.error as exc:
        raise DecodeError(f"{url}: a gzip body that does not decompress ({exc})") from None
    if len(out) <= limit and not inflate.eof:
        raise DecodeError(f"{url}: a truncated gzip body")
    return out


class TileTree:
    """The Merkle tree of the first ``size`` entries, read from ``reader``'s
    tiles: a :class:`~provledger._merkle.SubtreeSource`.

    Subtrees between tile levels are rebuilt by hashing within one tile.
    ``published`` is the size of the published checkpoint, when larger: its
    partial tiles are read when the narrower ones are gone.
    """

    def __init__(self, reader: TileReader, size: int, *, published: int | None = None) -> None:
        if not 0 <= size <= _merkle.MAX_TREE_SIZE:
            raise ValueError(f"tree size {size} is out of range")
        self.reader = reader
        self.size = size
        self.published = max(size, published or 0)
        self._tiles: dict[tuple[int, int], bytes] = {}

    def subtree(self, level: int, index: int) -> bytes:
        """MTH of leaves ``[index·2^level, (index+1)·2^level)``, which must lie
        within the tree.

        Raises:
            ValueError: the subtree is not complete in a tree of ``size``.
            NotFoundError, StorageError, DecodeError: a tile cannot be read.
        """
        if index < 0 or (index + 1) << level > self.size:
            raise ValueError(f"subtree ({level}, {index}) is not in a tree of {self.size}")
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height  # its first hash in the tile level's row
        tile_index, offset = divmod(first, TILE_WIDTH)
        data = self._tile(tile_level, tile_index, offset + (1 << height))
        nodes = [data[i * HASH_SIZE:(i + 1) * HASH_SIZE]
                 for i in range(offset, offset + (1 << height))]
        while len(nodes) > 1:
            nodes = [_merkle.node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
        return nodes[0]

    def _tile(self, level: int, index: int, needed: int) -> bytes:
        """At least the first ``needed`` hashes of tile (level, index)."""
        have = self._tiles.get((level, index))
        if have is not None and len(have) >= needed * HASH_SIZE:
            return have
        found: NotFoundError | None = None
        for width in dict.fromkeys((self._width(self.size, level, index), TILE_WIDTH,
                                    self._width(self.published, level, index))):
            if width < needed:
                continue
            try:
                data = self.reader.hashes(Tile(level, index, width))
            except NotFoundError as exc:
                found = found or exc
                continue
            self._tiles[(level, index)] = data
            return data
        raise found or NotFoundError(f"tile {level}/{index}: no tile of {needed} hashes")

    @staticmethod
    def _width(size: int, level: int, index: int) -> int:
        count: int = size // TILE_WIDTH ** level
        return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))

    # -- roots and proofs -------------------------------------------------------

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` entries (default: the tree's size).

        Raises:
            ValueError: ``size`` beyond the tree; tile errors as subtree.
        """
        return _merkle.root(self.size if size is None else self._within(size), self)

    def check_root(self, root: bytes) -> None:
        """Check the tiles against ``root``, of a checkpoint of this size that
        the caller verified; every proof they give is then the log's.

        Raises:
            ProofError: the tiles give another root (they are not the log's).
        """
        computed = self.root()
        if computed != root:
            raise ProofError(f"the tiles at {self.reader} give root {computed.hex()} for "
                             f"size {self.size}, not the checkpoint's {root.hex()}: they are "
                             "not that log's tree (tampered or stale)")

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``.

        Raises:
            ValueError: ``index`` or ``size`` out of range; tile errors as subtree.
        """
        return _merkle.inclusion_proof(index, self.size if size is None else self._within(size),
                                       self)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof from size ``old`` to ``new`` (default:
        the tree's size).

        Raises:
            ValueError: not ``0 < old <= new``; tile errors as subtree.
        """
        return _merkle.consistency_proof(old, self.size if new is None else self._within(new),
                                         self)

    def _within(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is beyond the tree's {self.size}")
        return size


def level0_tiles(size: int) -> Iterator[Tile]:
    """The level-0 tiles (full, then the partial one) of a tree of ``size``."""
    full, width = divmod(size, TILE_WIDTH)
    for n in range(full):
        yield Tile(0, n)
    if width:
        yield Tile(0, full, width)


# -- verifying an item from a publish ---------------------------------------------------


@dataclass(frozen=True)
class RemoteVerification:
    """An item verified from a publish directory or server."""

    history: History
    #: The bundle as fetched.
    bundle: bytes
    #: Sizes of seen checkpoints shown consistent by proofs built from the tiles.
    from_tiles: tuple[int, ...] = ()


def verify_from(base: str | Path, item: str, *, policy: Policy, now: int,
                max_age: int | None = None, seen: Sequence[str] = (),
                timeout: float = 10.0) -> RemoteVerification:
    """Fetch ``item``'s bundle from ``base`` (a publish directory or an
    ``http(s)://`` URL of one, or of ``provledger serve``) and verify it as
    :func:`verify_fetched` does.

    Raises:
        ItemIdError: ``item`` is not an item id.
        NotFoundError: no bundle for ``item`` at ``base``.
        StorageError: ``base`` cannot be read.
        The errors of verify_fetched.
    """
    reader = TileReader(base, timeout=timeout)
    return verify_fetched(reader, reader.bundle(item), item=item, policy=policy, now=now,
                          max_age=max_age, seen=seen)


def verify_fetched(reader: TileReader, data: bytes, *, item: str, policy: Policy, now: int,
                   max_age: int | None = None, seen: Sequence[str] = ()
                   ) -> RemoteVerification:
    """Verify bundle ``data``, fetched from ``reader``, exactly as
    :func:`provledger.verify_bundle` does, for ``item``.

    When the bundle is newer than a checkpoint in ``seen`` but carries no
    proof from it (and no witness quorum vouches), the proof is built from the
    log's tiles at ``reader``: the tiles must first give the root of the
    bundle's checkpoint, which verify_bundle has verified by then; the proof
    then counts as if the bundle carried it.

    Raises:
        ProofError: the tiles do not give the bundle's checkpoint root.
        NotFoundError, StorageError: a tile the proof needs cannot be read.
        The errors of verify_bundle.
    """
    try:
        history = verify_bundle(data, policy=policy, now=now, max_age=max_age, seen=seen,
                                item=item)
        return RemoteVerification(history, data)
    except MissingConsistencyProofError:
        proofs = _proofs_from_tiles(reader, data, seen)
        if not proofs:
            raise
    history = verify_bundle(data, policy=policy, now=now, max_age=max_age, seen=seen,
                            item=item, consistency=proofs)
    return RemoteVerification(history, data, tuple(_size(note) for note, _ in proofs))


def _proofs_from_tiles(reader: TileReader, data: bytes, seen: Sequence[str]
                       ) -> list[tuple[str, Sequence[bytes]]]:
    """For each seen note older than the bundle's checkpoint, the consistency
    proof from its size, built from tiles that give the checkpoint's root."""
    body = parse_checkpoint(parse_note(decode_bundle(data).checkpoint).text)
    older = [note for note in seen if 0 < _size(note) < body.size]
    if not older:
        return []
    try:
        published = _size(reader.checkpoint())
    except (NotFoundError, DecodeError):
        published = 0  # only a hint of which partial tiles exist
    tree = TileTree(reader, body.size, published=published)
    try:
        tree.check_root(body.root_hash)
        return [(note, tree.consistency_proof(_size(note))) for note in older]
    except NotFoundError as exc:
        raise NotFoundError(f"{reader}: a tile needed for the consistency proof from the "
                            f"checkpoint seen is missing ({exc})") from None


def _size(note: str) -> int:
    """The tree size a checkpoint note states (-1 if it states none); its
    signature is verify_bundle's to check."""
    try:
        return parse_checkpoint(parse_note(note).text).size
    except CheckpointError:
        return -1
