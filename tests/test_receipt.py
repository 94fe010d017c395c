"""COSE Receipts of inclusion (RFC 9942, RFC9162_SHA256)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import cbor2
import pytest
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

from provledger._errors import DecodeError, ProofError, SignatureError, UnknownKeyError
from provledger._keys import SigningKey, key_id
from provledger._merkle import MemoryTree, inclusion_proof
from provledger._receipt import MAX_RECEIPT_BYTES, make_receipt, verify_receipt

KEY = SigningKey(hashlib.sha256(b"test_receipt key").digest())
KID_ = key_id(KEY.public_key)
OTHER = SigningKey(hashlib.sha256(b"test_receipt other").digest())


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    t = MemoryTree()
    for i in range(16):
        t.append(bytes([i]) * 3)
    return t


def receipt_for(tree: MemoryTree, index: int, size: int) -> bytes:
    return make_receipt(
        KEY,
        kid=KID_,
        leaf_index=index,
        tree_size=size,
        proof=inclusion_proof(index, size, tree),
        root=tree.root(size),
    )


def test_roundtrip_every_leaf(tree: MemoryTree) -> None:
    for size in range(2, 17):
        for index in range(size):
            r = receipt_for(tree, index, size)
            leaf = tree.subtree(0, index)
            assert verify_receipt(r, leaf_hash=leaf, public_key=KEY.public_key) == tree.root(size)
            with pytest.raises(UnknownKeyError):  # the kid names KEY, not OTHER
                verify_receipt(r, leaf_hash=leaf, public_key=OTHER.public_key)
            wrong = tree.subtree(0, (index + 1) % 16)
            with pytest.raises(SignatureError):
                verify_receipt(r, leaf_hash=wrong, public_key=KEY.public_key)


def test_exact_structure(tree: MemoryTree) -> None:
    r = receipt_for(tree, 5, 11)
    top = cbor2.loads(r)
    assert isinstance(top, cbor2.CBORTag)
    assert top.tag == 18
    protected, unprotected, payload, signature = top.value
    assert cbor2.loads(protected) == {1: -8, 4: KID_, 395: 1}
    assert list(unprotected) == [396]
    assert list(unprotected[396]) == [-1]
    (inclusion,) = unprotected[396][-1]
    assert cbor2.loads(inclusion) == [11, 5, inclusion_proof(5, 11, tree)]
    assert payload is None
    assert len(signature) == 64
    sig_structure = cbor2.dumps(["Signature1", protected, b"", tree.root(11)])
    from provledger._keys import verify_signature

    verify_signature(KEY.public_key, sig_structure, signature, what="test")
    # Deterministic encoding: re-encoding reproduces the bytes.
    assert cbor2.dumps(top, canonical=True) == r


def test_no_receipt_for_a_single_leaf_tree(tree: MemoryTree) -> None:
    """RFC 9942's path is ``[+ bstr]``; the one leaf of a size-1 tree has none."""
    with pytest.raises(ValueError, match="size 1"):
        receipt_for(tree, 0, 1)
    protected = cbor2.dumps({1: -8, 4: KID_, 395: 1}, canonical=True)
    root = tree.root(1)
    signature = KEY.sign(cbor2.dumps(["Signature1", protected, b"", root]))
    unprotected = {396: {-1: [cbor2.dumps([1, 0, []])]}}
    crafted = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, None, signature]),
                          canonical=True)
    with pytest.raises(DecodeError, match="path is empty"):
        verify_receipt(crafted, leaf_hash=tree.subtree(0, 0), public_key=KEY.public_key)


def test_kid_must_name_the_key(tree: MemoryTree) -> None:
    """The kid is SHA-256 of the public key; the raw key, though it signs, is refused."""
    proof = inclusion_proof(3, 8, tree)
    raw_kid = make_receipt(KEY, kid=KEY.public_key, leaf_index=3, tree_size=8, proof=proof,
                           root=tree.root(8))
    with pytest.raises(UnknownKeyError, match="not SHA-256 of the log key"):
        verify_receipt(raw_kid, leaf_hash=tree.subtree(0, 3), public_key=KEY.public_key)
    other_kid = make_receipt(KEY, kid=key_id(OTHER.public_key), leaf_index=3, tree_size=8,
                             proof=proof, root=tree.root(8))
    with pytest.raises(UnknownKeyError):
        verify_receipt(other_kid, leaf_hash=tree.subtree(0, 3), public_key=KEY.public_key)


def _thaw(value: Any) -> Any:
    """cbor2 6 decodes inside tags immutably; pycose 1.1 wants lists and dicts."""
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    if hasattr(value, "items"):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def test_pycose_parses_and_verifies(tree: MemoryTree) -> None:
    r = receipt_for(tree, 6, 13)
    # Sign1Message.decode(r) fails on cbor2 6's immutable tag contents, so the
    # array is handed to pycose's own structure parser after thawing.
    msg = Sign1Message.from_cose_obj(_thaw(cbor2.loads(r).value), True)
    assert msg.phdr[Algorithm] is EdDSA
    assert msg.phdr[KID] == KID_
    assert msg.phdr[395] == 1
    assert 396 in msg.uhdr
    assert msg.payload is None
    msg.key = OKPKey(crv=Ed25519, x=KEY.public_key)
    assert msg.verify_signature(detached_payload=tree.root(13))
    assert not msg.verify_signature(detached_payload=tree.root(12))


def _rebuild(receipt: bytes, change: Callable[[list[Any]], Any]) -> bytes:
    body = _thaw(cbor2.loads(receipt).value)
    return cbor2.dumps(change(body), canonical=True)


def _tagged(body: list[Any], tag: int = 18) -> Any:
    return cbor2.CBORTag(tag, body)


def _with_unprotected(value: Any) -> Callable[[list[Any]], Any]:
    return lambda b: _tagged([b[0], value, b[2], b[3]])


def _with_protected(value: dict[int, Any]) -> Callable[[list[Any]], Any]:
    return lambda b: _tagged([cbor2.dumps(value, canonical=True), b[1], b[2], b[3]])


def _with_proof(value: Any) -> Callable[[list[Any]], Any]:
    return _with_unprotected({396: {-1: [cbor2.dumps(value, canonical=True)]}})


PATH = [bytes(32)] * 3


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda b: b, DecodeError, "tag 18"),
        (lambda b: _tagged(b, 98), DecodeError, "tag 18"),
        (lambda b: _tagged(b[:3]), DecodeError, "4 items"),
        (lambda b: _tagged(["x", b[1], b[2], b[3]]), DecodeError, "byte strings"),
        (lambda b: _tagged([b[0], b[1], b"root", b[3]]), DecodeError, "detached"),
        (_with_protected({1: -7, 395: 1}), DecodeError, "EdDSA"),
        (_with_protected({1: -8, 395: 2}), DecodeError, "vds must be 1"),
        (_with_protected({1: -8}), DecodeError, "vds must be 1"),
        (_with_protected({1: -8, 4: "kid", 395: 1}), DecodeError, "kid"),
        (_with_protected({1: -8, 395: 1}), DecodeError, "kid"),
        (_with_protected({1: -8, 2: [999], 395: 1}), DecodeError, "critical"),
        (_with_unprotected([]), DecodeError, "not a map"),
        (_with_unprotected({}), DecodeError, "no inclusion proof"),
        (_with_unprotected({396: {-2: []}}), DecodeError, "no inclusion proof"),
        (_with_unprotected({396: {-1: []}}), DecodeError, "exactly one"),
        (_with_unprotected({396: {-1: [b"\x80", b"\x80"]}}), DecodeError, "exactly one"),
        (_with_unprotected({396: {-1: [[1, 0, []]]}}), DecodeError, "byte string"),
        (_with_unprotected({396: {-1: [b"\x18\x01"]}}), DecodeError, "deterministic"),
        (_with_unprotected({396: {-1: [b"\xff"]}}), DecodeError, "CBOR"),
        (_with_proof([8, 3]), DecodeError, "tree-size, leaf-index, path"),
        (_with_proof([-8, 3, PATH]), DecodeError, "tree-size must be"),
        (_with_proof([8, "3", PATH]), DecodeError, "leaf-index must be"),
        (_with_proof([8, 3, [*PATH[:2], "x"]]), DecodeError, "byte strings"),
        (_with_proof([8, 3, b"".join(PATH)]), DecodeError, "array of byte strings"),
        (_with_proof([8, 8, PATH]), ProofError, "not in a tree of size 8"),
        (_with_proof([0, 0, []]), ProofError, "not in a tree of size 0"),
        (_with_proof([8, 3, [*PATH, bytes(32)]]), ProofError, "only 3 needed"),
        (_with_proof([8, 3, PATH[:2]]), ProofError, "more are needed"),
        (_with_proof([8, 3, [bytes(31), *PATH[1:]]]), ProofError, "32 bytes"),
        (_with_proof([2**64 - 1, 3, PATH]), ProofError, "outside"),
    ],
)
def test_malformed_receipts(
    tree: MemoryTree, change: Callable[[list[Any]], Any], error: type[Exception], match: str
) -> None:
    bad = _rebuild(receipt_for(tree, 3, 8), change)
    with pytest.raises(error, match=match):
        verify_receipt(bad, leaf_hash=tree.subtree(0, 3), public_key=KEY.public_key)


def test_encoding_level_rejections(tree: MemoryTree) -> None:
    good = receipt_for(tree, 3, 8)
    leaf = tree.subtree(0, 3)
    for bad, match in (
        (good + b"\x00", "deterministic"),  # cbor2 ignores trailing bytes; re-encoding does not
        (good[:-1], "well-formed"),
        (b"\xd8\x12" + good[1:], "deterministic"),  # tag 18 in two bytes
        (b"\xd2" + good, "array of 4 items"),  # doubly tagged
        (good + bytes(MAX_RECEIPT_BYTES), "exceeds"),
    ):
        with pytest.raises(DecodeError, match=match):
            verify_receipt(bad, leaf_hash=leaf, public_key=KEY.public_key)


def test_every_signature_bit(tree: MemoryTree) -> None:
    good = receipt_for(tree, 3, 8)
    signature_at = len(good) - 64
    for bit in range(512):
        bad = bytearray(good)
        bad[signature_at + bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SignatureError):
            verify_receipt(bytes(bad), leaf_hash=tree.subtree(0, 3), public_key=KEY.public_key)


def test_make_receipt_misuse(tree: MemoryTree) -> None:
    proof = inclusion_proof(3, 8, tree)
    r8 = tree.root(8)
    with pytest.raises(ValueError, match="not in a tree"):
        make_receipt(KEY, kid=KID_, leaf_index=8, tree_size=8, proof=proof, root=r8)
    with pytest.raises(ValueError, match="32 bytes"):
        make_receipt(KEY, kid=KID_, leaf_index=3, tree_size=8, proof=proof, root=r8[:31])
    with pytest.raises(ValueError, match="32 bytes"):
        make_receipt(KEY, kid=KID_, leaf_index=3, tree_size=8, proof=[b"x"], root=r8)
    with pytest.raises(TypeError, match="leaf_index"):
        make_receipt(KEY, kid=KID_, leaf_index=True, tree_size=8, proof=proof, root=r8)
    with pytest.raises(TypeError, match="kid"):
        make_receipt(KEY, kid="k", leaf_index=3, tree_size=8, proof=proof, root=r8)  # type: ignore[arg-type]
