"""COSE Receipts of inclusion (RFC 9942) for the RFC9162_SHA256 log.

A receipt is a tagged COSE_Sign1 (RFC 9052) signed with Ed25519::

    18([
      << {1: -8, 4: kid, 395: 1} >>,           / alg EdDSA, kid, vds RFC9162_SHA256 /
      {396: {-1: [<< [tree-size, leaf-index, [* hash]] >>]}},   / vdp: inclusion /
      nil,                                       / payload detached /
      signature
    ])

The signature covers ``["Signature1", protected, h'', root]``: the payload is
the Merkle root the inclusion proof leads to, so a verifier must recompute it
from the leaf hash and cannot skip the proof.

``kid`` is SHA-256 of the log's public key (:func:`provledger._keys.key_id`);
a verifier given the log key checks it, so a receipt cannot name one key and
be signed by another.

RFC 9942 writes the path as ``[+ bstr]``, and the only leaf of a one-leaf
tree has the empty path (RFC 9162 §2.1.3.1): no receipt exists for a tree of
size 1, so none is made and an empty path is rejected.

What the signature does not bind: ``tree-size`` and ``leaf-index`` only steer
the proof walk, and some different pairs walk alike (leaf 5 of 8 and of 7),
so :func:`verify_receipt` returns only the root. Bind size and index by
finding that root in a checkpoint the log signed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cbor2

from ._codec import dumps, loads, reencode
from ._errors import DecodeError, ProofError, UnknownKeyError
from ._keys import SigningKey, key_id, verify_signature
from ._merkle import HASH_SIZE, MAX_TREE_SIZE, root_from_inclusion_proof

COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_CRIT = 2
HEADER_KID = 4
HEADER_VDS = 395
HEADER_VDP = 396
ALG_EDDSA = -8
VDS_RFC9162_SHA256 = 1
VDP_INCLUSION = -1
#: A receipt holds one proof of at most 64 hashes; 8 KiB leaves ample room.
MAX_RECEIPT_BYTES = 8192


def make_receipt(
    key: SigningKey,
    *,
    kid: bytes,
    leaf_index: int,
    tree_size: int,
    proof: Sequence[bytes],
    root: bytes,
) -> bytes:
    """A COSE Receipt of inclusion of leaf ``leaf_index`` in the tree ``(tree_size, root)``.

    The caller vouches that ``proof`` is the RFC 9162 inclusion proof for that
    leaf; nothing here can check it without the leaf hash.

    Raises:
        ValueError: not ``0 <= leaf_index < tree_size``, a hash or the root
            is not 32 bytes, or ``proof`` is empty (RFC 9942 has no receipt
            for a tree of size 1).
    """
    if not isinstance(kid, bytes):
        raise TypeError("kid must be bytes")
    for value, name in ((leaf_index, "leaf_index"), (tree_size, "tree_size")):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int")
    if not 0 <= leaf_index < tree_size <= MAX_TREE_SIZE:
        raise ValueError(f"leaf index {leaf_index} is not in a tree of size {tree_size}")
    if len(root) != HASH_SIZE or any(len(h) != HASH_SIZE for h in proof):
        raise ValueError("the root and every proof hash must be 32 bytes")
    if not proof:
        raise ValueError("RFC 9942 needs at least one inclusion path hash: "
                         "a tree of size 1 has no receipt")
    protected = dumps({HEADER_ALG: ALG_EDDSA, HEADER_KID: kid, HEADER_VDS: VDS_RFC9162_SHA256})
    inclusion = dumps([tree_size, leaf_index, [bytes(h) for h in proof]])
    signature = key.sign(_sig_structure(protected, root))
    unprotected = {HEADER_VDP: {VDP_INCLUSION: [inclusion]}}
    return dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, unprotected, None, signature]))


def verify_receipt(receipt: bytes, *, leaf_hash: bytes, public_key: bytes) -> bytes:
    """Verify a receipt for the entry with RFC 9162 leaf hash ``leaf_hash``.

    Recomputes the root from the inclusion proof, then checks the signature
    with that root as the detached payload. Returns the root; see the module
    docstring for why size and index are not returned.

    Raises:
        DecodeError: not a canonical tagged COSE_Sign1 receipt with EdDSA,
            ``vds`` 1, a byte-string ``kid``, one inclusion proof with a
            non-empty path, and a detached payload.
        UnknownKeyError: the ``kid`` is not SHA-256 of ``public_key``: the
            receipt names another key.
        ProofError: the inclusion proof is malformed for its size and index.
        SignatureError: the signature does not verify under ``public_key``
            over the recomputed root.
    """
    decoded = loads(receipt, what="receipt", max_bytes=MAX_RECEIPT_BYTES)
    if reencode(decoded, what="receipt") != bytes(receipt):
        raise DecodeError("receipt: not in deterministic CBOR encoding (RFC 8949 §4.2.1)")
    if not isinstance(decoded, cbor2.CBORTag) or decoded.tag != COSE_SIGN1_TAG:
        raise DecodeError("receipt: not a COSE_Sign1 with tag 18")
    # cbor2 decodes inside a tag immutably: arrays as tuples, maps as frozendict.
    body = decoded.value
    if not isinstance(body, list | tuple) or len(body) != 4:
        raise DecodeError("receipt: COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = body
    if not isinstance(protected, bytes) or not isinstance(signature, bytes):
        raise DecodeError("receipt: protected header and signature must be byte strings")
    if payload is not None:
        raise DecodeError("receipt: the payload must be detached (nil)")
    _check_protected(loads(protected, what="receipt protected header"), public_key)
    size, index, path = _inclusion_proof(unprotected)
    root = root_from_inclusion_proof(leaf_hash, index=index, size=size, proof=path)
    verify_signature(public_key, _sig_structure(protected, root), signature, what="receipt")
    return root


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return dumps(["Signature1", protected, b"", payload])


def _check_protected(header: Any, public_key: bytes) -> None:
    if not isinstance(header, Mapping):
        raise DecodeError("receipt: protected header is not a map")
    if header.get(HEADER_ALG) != ALG_EDDSA:
        raise DecodeError(f"receipt: alg must be EdDSA (-8), got {header.get(HEADER_ALG)!r}")
    if header.get(HEADER_VDS) != VDS_RFC9162_SHA256:
        raise DecodeError(
            f"receipt: vds must be 1 (RFC9162_SHA256), got {header.get(HEADER_VDS)!r}"
        )
    # RFC 9052 §3.1: a verifier must reject critical headers it does not know,
    # and this one knows none.
    if HEADER_CRIT in header:
        raise DecodeError("receipt: critical header parameters are not supported")
    kid = header.get(HEADER_KID)
    if not isinstance(kid, bytes):
        raise DecodeError("receipt: kid (label 4) must be present and a byte string")
    if kid != key_id(public_key):
        raise UnknownKeyError(
            f"receipt: kid {kid.hex()} is not SHA-256 of the log key ({key_id(public_key).hex()})")


def _inclusion_proof(unprotected: Any) -> tuple[int, int, list[bytes]]:
    if not isinstance(unprotected, Mapping):
        raise DecodeError("receipt: unprotected header is not a map")
    vdp = unprotected.get(HEADER_VDP)
    if not isinstance(vdp, Mapping) or VDP_INCLUSION not in vdp:
        raise DecodeError("receipt: no inclusion proof (396 / -1) in the unprotected header")
    proofs = vdp[VDP_INCLUSION]
    if not isinstance(proofs, list | tuple) or len(proofs) != 1:
        raise DecodeError("receipt: exactly one inclusion proof is supported")
    if not isinstance(proofs[0], bytes):
        raise DecodeError("receipt: the inclusion proof must be a byte string (bstr .cbor)")
    proof = loads(proofs[0], what="receipt inclusion proof")
    if reencode(proof, what="receipt inclusion proof") != proofs[0]:
        raise DecodeError("receipt: inclusion proof is not deterministic CBOR")
    if not isinstance(proof, list | tuple) or len(proof) != 3:
        raise DecodeError("receipt: inclusion proof must be [tree-size, leaf-index, path]")
    size, index, path = proof
    for value, name in ((size, "tree-size"), (index, "leaf-index")):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DecodeError(f"receipt: {name} must be an unsigned integer")
        if value > MAX_TREE_SIZE:
            raise ProofError(f"receipt: {name} is outside [0, 2**63 - 1]")
    if not isinstance(path, list | tuple) or not all(isinstance(h, bytes) for h in path):
        raise DecodeError("receipt: inclusion path must be an array of byte strings")
    if size == 0 or index >= size:
        raise ProofError(f"receipt: leaf index {index} is not in a tree of size {size}")
    if not path:
        # RFC 9942's CDDL is [+ bstr]; only a tree of size 1 has an empty path.
        raise DecodeError("receipt: inclusion path is empty (RFC 9942 needs [+ bstr])")
    return size, index, list(path)
