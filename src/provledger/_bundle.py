"""Provenance bundles: the file format that holds everything needed to verify
an item offline (building one from a store is _export's).

A bundle (spec/bundle.md) carries the item's entries and those of every
authority they rely on, each with an inclusion proof against one signed
checkpoint, and a head-map proof per subject showing that its last entry in
the bundle was its latest entry in the log at that checkpoint.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from . import _codec
from ._disclosure import MAX_DISCLOSURE_BYTES
from ._events import MAX_COMMITMENTS, _Wire
from ._statement import Subject
from ._types import Digest, Origin, PublicKey

MAX_BUNDLE_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 4096
MAX_SUBJECTS = 256

Proof = Annotated[list[Digest], Meta(max_length=64)]


class BundleEntry(_Wire, frozen=True, kw_only=True):
    """A log entry and its inclusion proof against the bundle's checkpoint."""

    entry: Annotated[bytes, Meta(max_length=70_000)]
    proof: Proof
    #: The disclosures of the entry's committed fields its exporter chose to
    #: include (spec/disclosure.md), by digest order; each must match.
    disclosures: Annotated[list[Annotated[bytes, Meta(max_length=MAX_DISCLOSURE_BYTES)]],
                           Meta(max_length=2 * MAX_COMMITMENTS)] = []  # noqa: RUF012


class HeadProof(_Wire, frozen=True, kw_only=True):
    """Head-map proof that ``subject``'s last entry in the bundle is its head,
    or, with ``absent``, that ``subject`` has no entry in the log at all."""

    proof: Annotated[list[Digest], Meta(max_length=256)]
    #: Absence proofs only: where the subject's path ends, b"" for an empty
    #: subtree or the 64 bytes key || value of the one other key there.
    absent: Annotated[bytes, Meta(max_length=64)] | None = None
    subject: Subject


class ConsistencyProof(_Wire, frozen=True, kw_only=True):
    """An older signed checkpoint and the RFC 9162 proof that the bundle's extends it."""

    proof: Proof
    checkpoint: Annotated[str, Meta(max_length=1024 * 1024)]


class Bundle(_Wire, frozen=True, kw_only=True):
    """The bundle file (deterministic CBOR), fields in canonical key order."""

    v: Literal[1]
    item: Subject
    heads: Annotated[list[HeadProof], Meta(min_length=1, max_length=MAX_SUBJECTS)]
    origin: Origin
    entries: Annotated[list[BundleEntry], Meta(min_length=1, max_length=MAX_ENTRIES)]
    root_key: PublicKey
    checkpoint: Annotated[str, Meta(max_length=1024 * 1024)]
    consistency: Annotated[list[ConsistencyProof], Meta(max_length=16)] = []  # noqa: RUF012


def encode_bundle(bundle: Bundle) -> bytes:
    return _codec.encode_struct(bundle)


def decode_bundle(data: bytes) -> Bundle:
    """Parse bundle bytes (nothing in them is verified yet).

    Raises:
        DecodeError: too large, malformed, non-canonical, or over a count limit.
    """
    return _codec.decode_struct(data, Bundle, what="bundle", max_bytes=MAX_BUNDLE_BYTES)
