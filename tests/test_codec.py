"""Codecs: every event round-trips, encodes canonically, and bad bytes fail typed."""

from __future__ import annotations

import hashlib

import cbor2
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger import _codec
from provledger._entry import LogEntry, decode_entry, encode_entry
from provledger._events import Dimensions, Part, Stone
from provledger._statement import Payload, decode_payload

from .strategies import EVENT_CLASSES, any_event, struct

WIRE_CLASSES = (*EVENT_CLASSES, Stone, Part, Dimensions, Payload)
KEY = pl.SigningKey(hashlib.sha256(b"codec").digest())
SUBJECT = "urn:provledger:item:0123456789abcdef:S1"


def _canonical_order(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: (len(n.encode()), n.encode()))


@pytest.mark.parametrize("cls", WIRE_CLASSES, ids=lambda c: c.__name__)
def test_fields_are_declared_in_canonical_key_order(cls: type[msgspec.Struct]) -> None:
    names = list(cls.__struct_fields__)
    assert names == _canonical_order(names)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(event=any_event, prev=st.none() | st.binary(min_size=32, max_size=32),
       time=st.integers(0, 2**40))
def test_every_event_round_trips_through_a_signed_statement(
        event: pl.Event, prev: bytes | None, time: int) -> None:
    stmt = pl.sign_statement(event, key=KEY, origin="a.example/log", subject=SUBJECT,
                             prev=prev, time=time)
    back = pl.verify_statement(stmt)
    assert back.event == event
    assert back.payload.prev == prev
    assert back.raw == stmt
    payload = cbor2.loads(stmt).value[2]
    # Our encoder's output is what a generic canonical encoder produces.
    assert cbor2.dumps(cbor2.loads(payload), canonical=True) == payload
    assert decode_payload(payload).event == event


@given(event=any_event)
def test_struct_encoding_equals_generic_canonical_encoding(event: pl.Event) -> None:
    data = _codec.encode_struct(event)
    assert data == cbor2.dumps(cbor2.loads(data), canonical=True)


@given(index=st.integers(0, 2**53 - 1), time=st.integers(0, 2**40), stmt=st.binary(max_size=300))
def test_log_entries_round_trip(index: int, time: int, stmt: bytes) -> None:
    entry = encode_entry(index, time, stmt)
    as_map = {"time": time, "index": index, "statement": stmt}
    assert entry == cbor2.dumps(as_map, canonical=True)
    assert decode_entry(entry) == LogEntry(index=index, time=time, statement=stmt)


@pytest.mark.parametrize("bad", [
    cbor2.dumps({"index": 1, "time": 2, "statement": b"x"}),            # key order
    cbor2.dumps({"time": 2, "index": 1, "statement": b"x", "extra": 0}),  # extra key
    cbor2.dumps({"time": 2, "index": 1, "statement": "x"}),            # text, not bytes
    cbor2.dumps({"time": 2, "index": -1, "statement": b"x"}),          # negative
    b"\xa3dtime\x18\x02eindex\x01istatementAx",                    # long-form int
    b"\xa3dtime\x02eindex\x01istatement\x5f\x41x\xff",            # indefinite bstr
    b"\xa3dtime\x02eindex\x01istatementAxy",                         # trailing byte
    b"\xa3dtime\x02eindex\x01istatementB",                           # truncated
])
def test_non_canonical_entries_are_rejected(bad: bytes) -> None:
    with pytest.raises(pl.DecodeError):
        decode_entry(bad)


_GOOD = pl.sign_statement(
    pl.RepairRecorded(work="Polish", category="service", performed_by="Shop", started=1,
                      completed=2, parts=[pl.Part(name="clasp")]),
    key=KEY, origin="a.example/log", subject=SUBJECT, prev=bytes(32), time=5)


@settings(max_examples=500)
@given(data=st.data())
def test_mutated_statements_fail_only_with_provledger_errors(data: st.DataObject) -> None:
    stmt = bytearray(_GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "drop", "insert", "truncate"]))
        pos = data.draw(st.integers(0, max(len(stmt) - 1, 0)))
        if op == "flip" and stmt:
            stmt[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "drop" and stmt:
            del stmt[pos]
        elif op == "insert":
            stmt.insert(pos, data.draw(st.integers(0, 255)))
        else:
            del stmt[pos:]
    if bytes(stmt) == _GOOD:
        return
    with pytest.raises(pl.ProvLedgerError):
        pl.verify_statement(bytes(stmt))


def test_every_single_bit_flip_is_rejected() -> None:
    for i in range(len(_GOOD)):
        for bit in range(8):
            bad = bytearray(_GOOD)
            bad[i] ^= 1 << bit
            with pytest.raises((pl.DecodeError, pl.SignatureError)):
                pl.verify_statement(bytes(bad))


@given(st.binary(max_size=200))
def test_random_bytes_fail_typed(data: bytes) -> None:
    with pytest.raises(pl.ProvLedgerError):
        pl.verify_statement(data)
    with pytest.raises(pl.ProvLedgerError):
        decode_entry(data)


def test_oversized_and_deeply_nested_input_fail_fast() -> None:
    with pytest.raises(pl.DecodeError, match="exceeds"):
        pl.verify_statement(b"\xd2\x84" + b"\x00" * 70_000)
    with pytest.raises(pl.DecodeError):
        decode_entry(b"\x81" * 60_000 + b"\x00")


def test_sign_statement_refuses_invalid_fields() -> None:
    with pytest.raises(pl.DecodeError, match="currency"):
        pl.sign_statement(pl.AppraisalRecorded(method="lab", currency="euro", appraiser="A",
                                               value_minor=1),
                          key=KEY, origin="a.example/log", subject=SUBJECT, prev=None, time=1)
    with pytest.raises(TypeError):
        pl.sign_statement(pl.Stone(kind="x"), key=KEY, origin="a.example/log",  # type: ignore[arg-type]
                          subject=SUBJECT, prev=None, time=1)


@given(struct(pl.CertificateIssued))
def test_public_key_text_round_trips(event: pl.CertificateIssued) -> None:
    text = pl.format_public_key(event.owner)
    assert pl.parse_public_key(text) == event.owner


@pytest.mark.parametrize("text", ["", "ed25519:", "ed25519:abc", "ssh-ed25519 AAAA",
                                  "ed25519:" + "A" * 42 + "B"])
def test_bad_public_key_text_fails_typed(text: str) -> None:
    with pytest.raises(pl.DecodeError):
        pl.parse_public_key(text)


def test_an_invalid_enum_value_or_unknown_field_names_what_is_allowed() -> None:
    import provledger as pl

    raw = {"capacity": "jeweler", "certificate": bytes(32)}
    with pytest.raises(pl.DecodeError, match=r"\$\.capacity` \(allowed: appraiser, gemologist\)"):
        pl.convert_fields(raw, pl.CertificateAttested, what="body")
    with pytest.raises(pl.DecodeError, match=r"unknown field `colour` - at `\$\.stones\[0\]` "
                                             r"\(allowed: cut, kind, color"):
        pl.convert_fields({"stones": [{"kind": "ruby", "colour": "red"}]},
                          pl.CertificateIssued, what="body")
