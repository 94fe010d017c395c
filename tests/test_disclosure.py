"""commit and reveal (spec/disclosure.md): round trips for every event type,
and every altered disclosure refused."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import cbor2
import msgspec
import pycddl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger import _codec, _disclosure
from provledger._events import COMMITTABLE_NAMES, ConditionReport
from provledger._statement import decode_statement

from .conftest import ORIGIN, key
from .strategies import any_event

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def plain(event: pl.Event) -> pl.Event:
    """``event`` without commitments (the strategies draw random ones)."""
    condition = getattr(event, "condition", None)
    if isinstance(condition, ConditionReport):
        event = msgspec.structs.replace(event,
                                        condition=msgspec.structs.replace(condition, sd=[]))
    return msgspec.structs.replace(event, sd=[])


def texts(event: pl.Event) -> dict[str, str]:
    """The non-empty committable fields of ``event`` by path."""
    out = {f: getattr(event, f) for f in _disclosure.committable(event) if getattr(event, f)}
    condition = getattr(event, "condition", None)
    if isinstance(condition, ConditionReport) and condition.notes:
        out["condition.notes"] = condition.notes
    return out


def salts(*labels: str) -> Any:
    it = iter(hashlib.sha256(label.encode()).digest()[:16] for label in labels * 8)
    return lambda: next(it)


@SETTINGS
@given(event=any_event.map(plain))
def test_commit_then_reveal_gives_back_the_event(event: pl.Event) -> None:
    committed = pl.commit(event)
    assert len(committed.disclosures) == len(texts(event))
    assert texts(committed.event) == {}  # nothing left in clear
    revealed = pl.reveal(committed.event, committed.disclosures)
    assert plain(revealed.event) == event
    assert revealed.disclosed == tuple(sorted(texts(event)))
    assert (revealed.withheld, revealed.clear) == (0, ())
    # Withholding everything shows the committed body and counts what is hidden.
    hidden = pl.reveal(committed.event)
    assert (hidden.event, hidden.disclosed, hidden.withheld) == (
        committed.event, (), len(committed.disclosures))


@SETTINGS
@given(event=any_event.map(plain))
def test_a_committed_body_is_a_valid_statement_that_holds_none_of_the_text(
        event: pl.Event) -> None:
    committed = pl.commit(event)
    stmt = pl.sign_statement(committed.event, key=key("signer"), origin=ORIGIN,
                             subject="urn:provledger:item:0000000000000000:X1", prev=None,
                             time=1)
    assert decode_statement(stmt).event == committed.event
    # What stays in clear: the body without its committable fields.
    rest = _codec.to_builtins(event)
    for name in COMMITTABLE_NAMES:
        rest.pop(name, None)
    if isinstance(rest.get("condition"), dict):
        rest["condition"].pop("notes", None)
    clear = _codec.dumps(rest)
    for value in texts(event).values():
        # Shorter text may occur in a key or signature by chance.
        if len(value.encode()) >= 8 and value.encode() not in clear:
            assert value.encode() not in stmt


@SETTINGS
@given(event=any_event.map(plain), data=st.data())
def test_any_subset_of_disclosures_reveals_just_those(event: pl.Event,
                                                      data: st.DataObject) -> None:
    committed = pl.commit(event)
    chosen = data.draw(st.lists(st.sampled_from(committed.disclosures), unique=True)
                       if committed.disclosures else st.just([]))
    revealed = pl.reveal(committed.event, chosen)
    assert len(revealed.disclosed) == len(chosen)
    assert revealed.withheld == len(committed.disclosures) - len(chosen)
    for path in revealed.disclosed:
        assert path in texts(event)


@SETTINGS
@given(event=any_event.map(plain), data=st.data())
def test_any_single_byte_change_of_a_disclosure_is_refused(event: pl.Event,
                                                            data: st.DataObject) -> None:
    committed = pl.commit(event)
    if not committed.disclosures:
        return
    i = data.draw(st.integers(0, len(committed.disclosures) - 1))
    target = bytearray(committed.disclosures[i])
    at = data.draw(st.integers(0, len(target) - 1))
    target[at] ^= data.draw(st.integers(1, 255))
    given_ = list(committed.disclosures)
    given_[i] = bytes(target)
    with pytest.raises(pl.DisclosureError):
        pl.reveal(committed.event, given_)


@SETTINGS
@given(event=any_event.map(plain))
def test_disclosures_of_one_commit_never_fit_another(event: pl.Event) -> None:
    first, second = pl.commit(event), pl.commit(event)  # fresh salts each time
    if not first.disclosures:
        return
    assert set(first.disclosures).isdisjoint(second.disclosures)
    with pytest.raises(pl.DisclosureError, match="matches no commitment"):
        pl.reveal(second.event, first.disclosures[:1])


def _repair() -> pl.RepairRecorded:
    return pl.RepairRecorded(work="Re-tipped claws", category="repair", started=1, completed=2,
                             performed_by="Bench & Co", notes="Old tips returned")


def test_disclosure_bytes_and_digest_follow_the_spec() -> None:
    committed = pl.commit(_repair(), salt=salts("a", "b", "c"))
    work = committed.disclosures[0]
    assert work == cbor2.dumps([hashlib.sha256(b"a").digest()[:16], "Re-tipped claws", "work"],
                               canonical=True)
    d = hashlib.sha256(b"provledger disclosure v1\x00" + work).digest()
    assert _disclosure.digest(work) == d != hashlib.sha256(work).digest()
    assert committed.event.sd == sorted(_disclosure.digest(x) for x in committed.disclosures)
    assert (committed.event.work, committed.event.notes, committed.event.performed_by) == \
        ("", "", "")
    assert _disclosure.decode_disclosure(work) == (hashlib.sha256(b"a").digest()[:16],
                                                   "Re-tipped claws", "work")


def test_commit_only_the_named_fields() -> None:
    committed = pl.commit(_repair(), fields=["notes"])
    assert committed.event.work == "Re-tipped claws"
    assert committed.event.notes == ""
    revealed = pl.reveal(committed.event)
    assert (revealed.withheld, revealed.clear) == (1, ("work", "performed_by"))


def test_condition_notes_are_committed_inside_the_report() -> None:
    opened = pl.EscrowOpened(
        buyer=key("buyer").public_key, offer_expires=10, inspection_ends=20,
        terms=pl.events.EscrowTerms(price_minor=1, currency="EUR", on_timeout="return"),
        condition=ConditionReport(grade="good", notes="Scratch on the clasp"))
    committed = pl.commit(opened)
    assert committed.event.sd == []
    assert committed.event.condition.notes == ""
    assert len(committed.event.condition.sd) == 1
    revealed = pl.reveal(committed.event, committed.disclosures)
    assert revealed.disclosed == ("condition.notes",)
    assert revealed.event.condition.notes == "Scratch on the clasp"
    # The condition hash an acceptance repeats covers the commitment, not the text.
    assert pl.condition_hash(committed.event.condition) != pl.condition_hash(opened.condition)


def test_commit_refuses_fields_it_cannot_commit_and_a_second_commit() -> None:
    with pytest.raises(ValueError, match="cannot commit inscription"):
        pl.commit(_repair(), fields=["inscription"])
    with pytest.raises(ValueError, match="cannot commit grade"):
        pl.commit(_repair(), fields=["grade"])
    once = pl.commit(_repair())
    with pytest.raises(ValueError, match="already committed"):
        pl.commit(once.event)


def test_salts_are_fresh_and_16_bytes() -> None:
    seen = set()
    for _ in range(50):
        for data in pl.commit(_repair()).disclosures:
            salt = _disclosure.decode_disclosure(data)[0]
            assert len(salt) == 16
            seen.add(salt)
    assert len(seen) == 150


def test_an_earlier_format_statement_shows_its_clear_fields() -> None:
    revealed = pl.reveal(_repair())
    assert revealed.clear == ("work", "notes", "performed_by")
    assert (revealed.disclosed, revealed.withheld) == ((), 0)
    with pytest.raises(pl.DisclosureError, match="matches no commitment"):
        pl.reveal(_repair(), [_disclosure.encode_disclosure(bytes(16), "x", "notes")])


def test_required_text_may_be_absent_only_when_something_is_committed() -> None:
    committed = pl.commit(_repair(), fields=["work"]).event
    assert committed.work == ""
    body = _codec.to_builtins(committed)
    assert "work" not in body
    assert msgspec.convert(body, pl.RepairRecorded) == committed
    with pytest.raises(pl.DecodeError, match="required field `work`"):
        _codec.convert({k: v for k, v in body.items() if k != "sd"}, pl.RepairRecorded,
                       what="repair.recorded")


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not a single well-formed"),
    (b"\x83", "not a single well-formed"),
    (cbor2.dumps([bytes(16), "x", "notes"]) + b"\x00", "deterministic"),
    (cbor2.dumps([bytes(16), "x"]), "not \\[salt"),
    (cbor2.dumps([bytes(17), "x", "notes"]), "not \\[salt"),
    (cbor2.dumps([bytes(16), 7, "notes"]), "not \\[salt"),
    (cbor2.dumps([bytes(16), "x", "grade"]), "not a committable field"),
    (cbor2.dumps([bytes(16), "", "notes"]), "empty text"),
    (cbor2.dumps([bytes(16), "x" * 16_200, "notes"]), "exceeds the limit"),
])
def test_malformed_disclosures_fail_typed(data: bytes, message: str) -> None:
    with pytest.raises(pl.DisclosureError, match=message) as info:
        _disclosure.decode_disclosure(data)
    assert info.value.code == "disclosure"


def test_reveal_refuses_a_disclosure_that_is_not_bytes() -> None:
    committed = pl.commit(_repair())
    with pytest.raises(pl.DisclosureError, match="must be bytes"):
        pl.reveal(committed.event, [committed.disclosures[0].hex()])  # type: ignore[list-item]


def test_a_disclosed_value_obeys_its_fields_rules() -> None:
    sd_salt = bytes(range(16))
    for value, name in (("a" * 201, "performed_by"), ("two\nlines", "performed_by"),
                        ("x" * 4001, "notes"), ("bidi \u202e", "notes")):
        bad = _disclosure.encode_disclosure(sd_salt, value, name)
        event = pl.RepairRecorded(category="repair", started=1, completed=2,
                                  sd=[_disclosure.digest(bad)])
        with pytest.raises(pl.DisclosureError, match="breaks the field's rules"):
            pl.reveal(event, [bad])


def test_committable_names_are_the_specs() -> None:
    assert frozenset({"notes", "inscription", "work", "performed_by", "appraiser", "reference",
                      "reason"}) == COMMITTABLE_NAMES


_PAYLOAD = pycddl.Schema("start = payload\n" + (ROOT / "spec" / "events.cddl").read_text())


@SETTINGS
@given(event=any_event.map(plain), commit=st.booleans())
def test_events_cddl_accepts_every_body_committed_or_not(event: pl.Event, commit: bool) -> None:
    body = pl.commit(event).event if commit else event
    stmt = pl.sign_statement(body, key=key("signer"), origin=ORIGIN,
                             subject="urn:provledger:item:0000000000000000:X1", prev=None,
                             time=1)
    _PAYLOAD.validate_cbor(cbor2.loads(stmt).value[2])
