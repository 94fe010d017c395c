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

A provledger receipt also carries that checkpoint: the signed note with its
witnesses' cosignatures, as a text string under the unprotected header label
``"c2sp.org/tlog-checkpoint"`` (:data:`HEADER_CHECKPOINT`, spec/log.md 6.2).
It is not covered by the receipt's signature and needs none: the note is
signed itself. :func:`verify_receipt` ignores it;
:func:`verify_receipt_checkpoint` checks it against the receipt and a
witness quorum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import cbor2

from ._codec import dumps, loads, reencode
from ._errors import CheckpointError, DecodeError, ProofError, QuorumError, UnknownKeyError
from ._keys import SigningKey, key_id, verify_signature
from ._merkle import HASH_SIZE, MAX_TREE_SIZE, root_from_inclusion_proof
from ._note import NoteVerifier, VerifiedCheckpoint, verify_checkpoint

COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_CRIT = 2
HEADER_KID = 4
HEADER_VDS = 395
HEADER_VDP = 396
ALG_EDDSA = -8
VDS_RFC9162_SHA256 = 1
VDP_INCLUSION = -1
#: Unprotected header: the checkpoint note, cosigned (a text label, RFC 9052 §3).
HEADER_CHECKPOINT = "c2sp.org/tlog-checkpoint"
#: One proof of at most 64 hashes (2.2 KiB) and a checkpoint note with its
#: cosignatures (a few hundred bytes each).
MAX_RECEIPT_BYTES = 64 * 1024


class QuorumRule(Protocol):
    """A witness quorum rule, as a trust policy (provledger.Policy) has one."""

    def quorum_met(self, cosigners: Iterable[NoteVerifier]) -> bool:
        """Whether cosignatures by ``cosigners`` (verified) meet the rule."""
        ...

    def describe_quorum(self) -> str:
        """The rule in words."""
        ...


def make_receipt(
    key: SigningKey,
    *,
    kid: bytes,
    leaf_index: int,
    tree_size: int,
    proof: Sequence[bytes],
    root: bytes,
    checkpoint: str | None = None,
) -> bytes:
    """A COSE Receipt of inclusion of leaf ``leaf_index`` in the tree ``(tree_size, root)``.

    The caller vouches that ``proof`` is the RFC 9162 inclusion proof for that
    leaf, and that ``checkpoint``, if given, is the signed note of that tree
    (with its cosignatures); nothing here can check either.

    Raises:
        ValueError: not ``0 <= leaf_index < tree_size``, a hash or the root
            is not 32 bytes, ``proof`` is empty (RFC 9942 has no receipt
            for a tree of size 1), or the receipt would exceed
            :data:`MAX_RECEIPT_BYTES`.
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
    if checkpoint is not None and not isinstance(checkpoint, str):
        raise TypeError("checkpoint must be the signed note text")
    signature = key.sign(_sig_structure(protected, root))
    unprotected: dict[int | str, Any] = {HEADER_VDP: {VDP_INCLUSION: [inclusion]}}
    if checkpoint is not None:
        unprotected[HEADER_CHECKPOINT] = checkpoint
    receipt = dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, unprotected, None, signature]))
    if len(receipt) > MAX_RECEIPT_BYTES:
        raise ValueError(f"the receipt would be {len(receipt)} bytes; at most "
                         f"{MAX_RECEIPT_BYTES}")
    return receipt


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
    return _verified(receipt, leaf_hash, public_key)[0]


def receipt_checkpoint(receipt: bytes) -> str | None:
    """The checkpoint note a receipt carries, unverified, or None if it carries none.

    Raises:
        DecodeError: not a COSE_Sign1 receipt, or the carried value is not text.
    """
    decoded = loads(receipt, what="receipt", max_bytes=MAX_RECEIPT_BYTES)
    if not isinstance(decoded, cbor2.CBORTag) or not isinstance(decoded.value, list | tuple) \
            or len(decoded.value) != 4 or not isinstance(decoded.value[1], Mapping):
        raise DecodeError("receipt: not a COSE_Sign1 with an unprotected header map")
    return _carried(decoded.value[1])


def verify_receipt_checkpoint(
    receipt: bytes,
    *,
    leaf_hash: bytes,
    log_key: NoteVerifier,
    witnesses: Sequence[NoteVerifier],
    quorum: int | QuorumRule,
) -> VerifiedCheckpoint:
    """Verify a receipt and the cosigned checkpoint it carries (spec/log.md 6.2).

    The receipt must verify (:func:`verify_receipt`) under ``log_key``'s
    public key; the carried note must be a checkpoint of the log named
    ``log_key.name`` signed by it, of the receipt's tree size and of the root
    the inclusion proof leads to, and cosigned by ``witnesses`` so as to meet
    ``quorum``: a count, or a rule such as a trust policy's
    (``witnesses=policy.witnesses, quorum=policy``). Returns the verified
    checkpoint (cosigners included).

    Raises:
        DecodeError, UnknownKeyError, ProofError, SignatureError: as
            :func:`verify_receipt`; DecodeError also when no checkpoint is
            carried, or it is not text.
        CheckpointError: the note does not verify as the log's checkpoint, or
            is of another tree size or root than the receipt.
        QuorumError: fewer than ``quorum`` witnesses cosigned it.
        ValueError: as :func:`provledger._note.verify_checkpoint`.
    """
    root, size, unprotected = _verified(receipt, leaf_hash, log_key.public_key)
    note = _carried(unprotected)
    if note is None:
        raise DecodeError(f"receipt: carries no checkpoint (unprotected header "
                          f"{HEADER_CHECKPOINT!r})")
    if isinstance(quorum, int) and not 0 <= quorum <= len(witnesses):
        raise ValueError(f"quorum must be in [0, {len(witnesses)}]")
    verified = verify_checkpoint(note, origin=log_key.name, log_key=log_key,
                                 witnesses=witnesses, quorum=0)
    cp = verified.checkpoint
    if (cp.size, cp.root_hash) != (size, root):
        raise CheckpointError(
            f"receipt: the checkpoint it carries is of tree size {cp.size}, root "
            f"{cp.root_hash.hex()[:16]}..., not the receipt's size {size}, root "
            f"{root.hex()[:16]}...")
    cosigners = [s.verifier for s in verified.cosigners]
    if isinstance(quorum, int):
        met, wanted = len(cosigners) >= quorum, f"{quorum} required"
    else:
        met, wanted = quorum.quorum_met(cosigners), f"the policy needs {quorum.describe_quorum()}"
    if not met:
        names = ", ".join(v.name for v in cosigners) or "none"
        raise QuorumError(f"receipt: the checkpoint is cosigned by {len(cosigners)} trusted "
                          f"witnesses ({names}); {wanted}")
    return verified


def _carried(unprotected: Mapping[Any, Any]) -> str | None:
    note = unprotected.get(HEADER_CHECKPOINT)
    if note is not None and not isinstance(note, str):
        raise DecodeError(f"receipt: {HEADER_CHECKPOINT!r} must be the checkpoint note as text")
    return note


def _verified(receipt: bytes, leaf_hash: bytes,
              public_key: bytes) -> tuple[bytes, int, Mapping[Any, Any]]:
    """verify_receipt's work: (root, tree size, unprotected header)."""
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
    return root, size, unprotected


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
