"""Disclosures in bundles (spec/bundle.md, spec/disclosure.md): what an export
carries, what the verifier shows and refuses, and what public pages never show.

Real ledgers throughout; tampered bundles are real exports altered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

import provledger as pl
from provledger import _disclosure
from provledger._bundle import Bundle, BundleEntry, decode_bundle, encode_bundle
from provledger._entry import decode_entry
from provledger._publish import item_files
from provledger._publish_dir import publish
from provledger._status_page import render_status_page
from provledger._web_paths import item_path
from provledger_cli._render import EARLIER_FORMAT, history_lines

from .conftest import StepClock, World, key, make_world
from .test_serve import Server

INSCRIPTION = "For Ana, 12 Rose Lane, Leeds"
CERT_NOTES = "Client's phone +44 7700 900123"
WORK = "Resized to 54 for Mrs Example"
REPAIR_NOTES = "Allergic to nickel: use palladium solder"
WORKSHOP = "Workshop"
REVOKE_NOTES = "Workshop closed after the owner's illness"
CONDITION_NOTES = "Scratch inside the band, near the hallmark"
CLEAR_WORK = "Polished (an earlier-format record)"
#: Every committed text of the story, by field path.
SECRETS = {"inscription": INSCRIPTION, "notes": CERT_NOTES, "work": WORK,
           "condition.notes": CONDITION_NOTES}
ALL_TEXT = (INSCRIPTION, CERT_NOTES, WORK, REPAIR_NOTES, REVOKE_NOTES, CONDITION_NOTES)


@dataclass
class Story:
    w: World
    item: str
    #: Log indexes: the certificate, the committed repair, the earlier-format
    #: repair, the workshop's role.revoked, the escrow.opened.
    cert: int
    repair: int
    earlier: int
    revoked: int
    opened: int

    @property
    def ledger(self) -> pl.Ledger:
        return self.w.ledger

    def verify(self, data: bytes) -> pl.History:
        return pl.verify_bundle(data, policy=self.ledger.trust_policy(), now=self.w.clock.t + 60)


def _story(path: Path, *, clock: StepClock | None = None) -> Story:
    """A ring with committed text everywhere the CLI commits it, one repair of
    the earlier format (in clear), the workshop's role revoked with committed
    notes, and an escrow whose condition notes are committed; a checkpoint."""
    w = make_world(path, clock)
    ledger, item = w.ledger, pl.serial_item_id(w.jeweler.public_key, "R-1")

    def record(event: pl.Event, signer: pl.SigningKey, subject: str = item) -> pl.Record:
        w.clock.t += 1
        return ledger.record(event, key=signer, subject=subject)

    cert = record(pl.CertificateIssued(kind="ring", serial="R-1", owner=w.owner.public_key,
                                       inscription=INSCRIPTION, notes=CERT_NOTES), w.jeweler)
    repair = record(pl.RepairRecorded(work=WORK, notes=REPAIR_NOTES, performed_by=WORKSHOP,
                                      category="repair", started=w.clock.t - 60,
                                      completed=w.clock.t - 30), w.workshop)
    earlier = w.add(w.workshop, item, pl.RepairRecorded(
        work=CLEAR_WORK, performed_by=WORKSHOP, category="service", started=w.clock.t - 60,
        completed=w.clock.t - 30))
    revoked = record(pl.RoleRevoked(role="service", notes=REVOKE_NOTES), w.jeweler,
                     pl.authority_subject(w.workshop.public_key))
    opened = record(pl.EscrowOpened(
        buyer=key("buyer").public_key, offer_expires=w.clock.t + 86_400,
        terms=pl.EscrowTerms(price_minor=100, currency="EUR", on_timeout="return", direct=True),
        condition=pl.ConditionReport(grade="good", notes=CONDITION_NOTES)), w.owner)
    w.clock.t += 1
    ledger.sign_checkpoint(key("log"))
    return Story(w, item, cert.index, repair.index, earlier.index, revoked.index, opened.index)


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    made = _story(tmp_path / "ledger.db")
    yield made
    made.ledger.close()


def _names(data: bytes) -> dict[int, list[str]]:
    """The field paths of the disclosures each entry of a bundle carries, by log index."""
    out = {}
    for e in decode_bundle(data).entries:
        if e.disclosures:
            out[decode_entry(e.entry).index] = sorted(
                _disclosure.decode_disclosure(d)[2] for d in e.disclosures)
    return out


def _view(history: pl.History, index: int) -> pl.EventView:
    return next(e for e in history.events if e.index == index)


def _replace(data: bytes, index: int, disclosures: list[bytes]) -> bytes:
    """``data`` with the disclosures of the entry at log ``index`` replaced."""
    bundle = decode_bundle(data)
    entries = [msgspec.structs.replace(e, disclosures=disclosures)
               if decode_entry(e.entry).index == index else e for e in bundle.entries]
    return encode_bundle(msgspec.structs.replace(bundle, entries=entries))


def _disclosures(data: bytes, index: int) -> list[bytes]:
    return next(list(e.disclosures) for e in decode_bundle(data).entries
                if decode_entry(e.entry).index == index)


# -- export --------------------------------------------------------------------------------


def test_a_default_export_carries_no_disclosure_and_still_verifies(story: Story) -> None:
    data = story.ledger.export(story.item)
    for text in ALL_TEXT:
        assert text.encode() not in data
    assert _names(data) == {}
    history = story.verify(data)
    cert, repair = _view(history, story.cert), _view(history, story.repair)
    assert (cert.withheld, cert.disclosed) == (2, ())
    assert "inscription" not in cert.fields
    assert "notes" not in cert.fields
    assert "sd" not in cert.fields
    assert (repair.withheld, repair.clear) == (3, ())
    assert [r.work for r in history.repairs] == ["", CLEAR_WORK]
    opened = _view(history, story.opened)
    assert opened.withheld == 1
    assert history.escrows[0].offer.condition.notes == ""
    assert "sd" not in opened.fields["condition"]
    document = json.dumps(history.to_json())
    assert all(text not in document for text in ALL_TEXT)


def test_disclose_carries_exactly_the_chosen_fields(story: Story) -> None:
    data = story.ledger.export(story.item, disclose=["inscription", "condition.notes"])
    assert _names(data) == {story.cert: ["inscription"], story.opened: ["notes"]}
    assert INSCRIPTION.encode() in data
    assert CONDITION_NOTES.encode() in data
    for text in (CERT_NOTES, WORK, REPAIR_NOTES, REVOKE_NOTES):
        assert text.encode() not in data
    history = story.verify(data)
    cert = _view(history, story.cert)
    assert cert.fields["inscription"] == INSCRIPTION
    assert (cert.disclosed, cert.withheld) == (("inscription",), 1)
    assert "notes" not in cert.fields
    assert _view(history, story.opened).disclosed == ("condition.notes",)
    assert history.escrows[0].offer.condition.notes == CONDITION_NOTES
    assert history.escrows[0].to_json()["condition"]["notes"] == CONDITION_NOTES
    events = {e["index"]: e for e in history.to_json()["events"]}
    assert events[story.cert]["disclosed"] == ["inscription"]
    assert events[story.cert]["withheld"] == 1
    assert events[story.cert]["fields"]["inscription"] == INSCRIPTION

    work = story.verify(story.ledger.export(story.item, disclose=("work",)))
    assert [r.work for r in work.repairs] == [WORK, CLEAR_WORK]
    assert _view(work, story.repair).withheld == 2


def test_disclose_all_carries_the_authorities_disclosures_too(story: Story) -> None:
    data = story.ledger.export(story.item, disclose="all")
    assert _names(data) == {story.cert: ["inscription", "notes"],
                            story.repair: ["notes", "performed_by", "work"],
                            story.revoked: ["notes"], story.opened: ["notes"]}
    for text in ALL_TEXT:
        assert text.encode() in data
    history = story.verify(data)
    assert all(e.withheld == 0 for e in history.events)
    repair = _view(history, story.repair)
    assert (repair.fields["work"], repair.fields["notes"], repair.fields["performed_by"]) == (
        WORK, REPAIR_NOTES, WORKSHOP)
    # The disclosures are in digest order, as spec/bundle.md has them.
    for e in decode_bundle(data).entries:
        assert list(e.disclosures) == sorted(e.disclosures, key=_disclosure.digest)
    # notes alone: every statement's notes, the authority's included, and nothing else.
    notes = story.ledger.export(story.item, disclose=["notes"])
    assert _names(notes) == {story.cert: ["notes"], story.repair: ["notes"],
                             story.revoked: ["notes"]}


@pytest.mark.parametrize("disclose", [["colour"], ["notes", "sd"], "everything",
                                      ["condition.grade"]])
def test_an_unknown_field_is_refused_naming_the_valid_ones(story: Story, disclose: object
                                                           ) -> None:
    with pytest.raises(ValueError, match=r"condition\.notes") as info:
        story.ledger.export(story.item, disclose=disclose)  # type: ignore[arg-type]
    assert "inscription" in str(info.value)
    assert "performed_by" in str(info.value)


def test_an_erased_field_can_no_longer_be_exported(story: Story) -> None:
    assert story.ledger.erase(story.item, fields=["inscription"]) == 1
    data = story.ledger.export(story.item, disclose="all")
    assert INSCRIPTION.encode() not in data
    assert CERT_NOTES.encode() in data
    cert = _view(story.verify(data), story.cert)
    assert (cert.disclosed, cert.withheld) == (("notes",), 1)
    # The ledger's own view: what is still stored, the erased counted as withheld.
    local = _view(pl.item_report(story.ledger, story.item), story.cert)
    assert (local.disclosed, local.withheld) == (("notes",), 1)


# -- the verifier ----------------------------------------------------------------------------


def _refused(story: Story, data: bytes) -> pl.ProvLedgerError:
    with pytest.raises(pl.DisclosureError) as info:
        story.verify(data)
    assert info.value.check == "disclosures"
    assert info.value.code == "disclosure"
    return info.value


def test_a_flipped_byte_in_any_disclosure_is_refused(story: Story) -> None:
    data = story.ledger.export(story.item, disclose="all")
    given = _disclosures(data, story.repair)
    for n, d in enumerate(given):
        for at in (0, len(d) // 2, len(d) - 1):
            changed = bytearray(d)
            changed[at] ^= 0x01
            error = _refused(story, _replace(data, story.repair,
                                             [*given[:n], bytes(changed), *given[n + 1:]]))
            assert f"log index {story.repair}" in str(error)


def test_changed_text_is_refused(story: Story) -> None:
    data = story.ledger.export(story.item, disclose=["inscription"])
    salt, value, name = _disclosure.decode_disclosure(_disclosures(data, story.cert)[0])
    forged = _disclosure.encode_disclosure(salt, value.replace("Ana", "Eva"), name)
    _refused(story, _replace(data, story.cert, [forged]))


def test_swapped_salts_are_refused(story: Story) -> None:
    data = story.ledger.export(story.item, disclose=["work", "notes"])
    (s1, v1, n1), (s2, v2, n2) = (_disclosure.decode_disclosure(d)
                                  for d in _disclosures(data, story.repair))
    swapped = [_disclosure.encode_disclosure(s2, v1, n1),
               _disclosure.encode_disclosure(s1, v2, n2)]
    _refused(story, _replace(data, story.repair, swapped))


def test_a_disclosure_moved_to_another_entry_is_refused(story: Story) -> None:
    data = story.ledger.export(story.item, disclose="all")
    notes = _disclosures(data, story.revoked)  # the authority's, onto the item's entries
    for index in (story.cert, story.repair, story.earlier):
        _refused(story, _replace(data, index, [*_disclosures(data, index), *notes]))
    # Even with a right-looking name: the certificate's notes onto the repair.
    cert_notes = [d for d in _disclosures(data, story.cert)
                  if _disclosure.decode_disclosure(d)[2] == "notes"]
    kept = [d for d in _disclosures(data, story.repair)
            if _disclosure.decode_disclosure(d)[2] != "notes"]
    _refused(story, _replace(data, story.repair, [*kept, *cert_notes]))


def test_a_disclosure_twice_or_malformed_is_refused(story: Story) -> None:
    data = story.ledger.export(story.item, disclose=["inscription"])
    [d] = _disclosures(data, story.cert)
    _refused(story, _replace(data, story.cert, [d, d]))
    _refused(story, _replace(data, story.cert, [d[:-1]]))
    _refused(story, _replace(data, story.cert, [b"\xa0"]))


def test_dropping_a_disclosure_withholds_it_and_still_verifies(story: Story) -> None:
    data = story.ledger.export(story.item, disclose="all")
    given = _disclosures(data, story.repair)
    before = _view(story.verify(data), story.repair)
    for n in range(len(given)):
        after = _view(story.verify(_replace(data, story.repair, given[:n] + given[n + 1:])),
                      story.repair)
        assert after.withheld == before.withheld + 1
        assert len(after.disclosed) == len(before.disclosed) - 1


def test_an_earlier_format_statement_verifies_and_is_marked_clear(story: Story) -> None:
    data = story.ledger.export(story.item)
    assert CLEAR_WORK.encode() in data  # in the statement itself: on the ledger for good
    earlier = _view(story.verify(data), story.earlier)
    assert earlier.clear == ("work", "performed_by")
    assert (earlier.withheld, earlier.disclosed) == (0, ())
    assert earlier.fields["work"] == CLEAR_WORK
    lines = history_lines(story.verify(data))
    at = next(n for n, line in enumerate(lines) if line.lstrip().startswith(str(story.earlier)))
    assert EARLIER_FORMAT in " ".join(lines[at:at + 8])
    # A disclosure for a field it has in clear matches nothing it commits to.
    stray = _disclosure.encode_disclosure(bytes(16), "Something else", "work")
    _refused(story, _replace(data, story.earlier, [stray]))


def test_an_unmatched_commitment_is_withheld_not_refused(tmp_path: Path) -> None:
    """A commitment with no disclosure (an erased one, or a decoy) verifies."""
    w = make_world(tmp_path / "l.db")
    item = w.issue("D-1")
    decoy = _disclosure.digest(_disclosure.encode_disclosure(bytes(16), "decoy", "notes"))
    w.add(w.workshop, item, pl.RepairRecorded(work="w", performed_by="p", category="service",
                                              started=1, completed=2, sd=[decoy]))
    w.ledger.sign_checkpoint(key("log"))
    history = pl.verify_bundle(w.ledger.export(item, disclose="all"),
                               policy=w.ledger.trust_policy(), now=w.clock.t + 60)
    assert history.events[-1].withheld == 1
    assert history.events[-1].clear == ("work", "performed_by")
    w.ledger.close()


# -- what people see ---------------------------------------------------------------------------


def test_the_text_form_says_what_is_withheld(story: Story) -> None:
    lines = history_lines(story.verify(story.ledger.export(story.item)))
    text = "\n".join(lines)
    assert "2 private fields not disclosed" in text
    assert "3 private fields not disclosed" in text
    assert "1 private field not disclosed" in text
    assert "work             (private: not disclosed)" in text
    assert all(t not in text for t in ALL_TEXT)
    shown = "\n".join(history_lines(pl.item_report(story.ledger, story.item)))
    assert all(t in shown for t in (INSCRIPTION, WORK, REPAIR_NOTES, CONDITION_NOTES))
    assert "private field" not in shown


def test_the_ledgers_own_report_shows_every_stored_disclosure(story: Story) -> None:
    report = pl.item_report(story.ledger, story.item)
    cert, repair = _view(report, story.cert), _view(report, story.repair)
    assert (cert.fields["inscription"], cert.fields["notes"]) == (INSCRIPTION, CERT_NOTES)
    assert repair.disclosed == ("notes", "performed_by", "work")
    assert [r.work for r in report.repairs] == [WORK, CLEAR_WORK]
    assert report.escrows[0].offer.condition.notes == CONDITION_NOTES
    # And it reads as a bundle disclosing everything does (one model).
    verified = story.verify(story.ledger.export(story.item, disclose="all"))
    assert [(e.fields, e.withheld, e.disclosed, e.clear) for e in report.events] == [
        (e.fields, e.withheld, e.disclosed, e.clear) for e in verified.events]


def test_the_status_page_shows_no_committed_text_even_when_disclosed(story: Story) -> None:
    files = item_files(story.ledger, story.item, story.ledger.latest_checkpoint(),
                       now=story.w.clock.t + 60)
    page, bundle = files.page.encode(), files.bundle
    for text in ALL_TEXT:
        assert text.encode() not in bundle
        assert text.encode() not in page
    assert b'id="private"' in page
    assert CLEAR_WORK.encode() in page  # the earlier format's text is in the log anyway
    # A history that holds every disclosure renders the same public page.
    for history in (pl.item_report(story.ledger, story.item),
                    story.verify(story.ledger.export(story.item, disclose="all"))):
        rendered = render_status_page(history, bundle_href="bundle.cbor",
                                         now=story.w.clock.t + 60)
        assert all(text not in rendered for text in ALL_TEXT)
        assert "Some details of this piece's history are private" in rendered


def test_a_page_with_nothing_committed_says_nothing_of_privacy(tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    item = w.issue("P-1")
    w.ledger.sign_checkpoint(key("log"))
    page = render_status_page(pl.verify_bundle(
        w.ledger.export(item), policy=w.ledger.trust_policy(), now=w.clock.t + 60),
        bundle_href="bundle.cbor", now=w.clock.t + 60)
    assert 'id="private"' not in page
    w.ledger.close()


def test_publish_writes_no_disclosure(story: Story, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish(story.ledger, out, now=story.w.clock.t + 60)
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "bundle.cbor" for p in written)
    for p in written:
        data = p.read_bytes()
        assert all(text.encode() not in data for text in ALL_TEXT), p


def test_serve_publishes_none_and_verifies_what_an_upload_discloses(tmp_path: Path) -> None:
    made = _story(tmp_path / "served.db", clock=StepClock(int(time.time()) - 5000))
    policy = tmp_path / "served.policy"
    policy.write_text(made.ledger.trust_policy(max_age=86_400).to_text(), encoding="utf-8")
    disclosed = made.ledger.export(made.item, disclose=["work", "inscription"])
    made.ledger.close()
    server = Server(made.w.path, policy)
    try:
        path = "/" + item_path(made.item)
        for accept in ("text/html", "application/json", "application/cbor"):
            answer = server.get(path, accept)
            assert answer.status == 200, answer
            assert all(text.encode() not in answer.body for text in ALL_TEXT), accept
        answer = server.request("/verify", method="POST", body=disclosed,
                                headers={"Content-Type": "application/cbor"})
        assert answer.status == 200, answer
        document = answer.json()
        events = {e["index"]: e for e in document["events"]}
        assert events[made.cert]["fields"]["inscription"] == INSCRIPTION
        assert events[made.repair]["fields"]["work"] == WORK
        assert events[made.repair]["withheld"] == 2
        assert REPAIR_NOTES not in json.dumps(document)
        tampered = _replace(disclosed, made.cert, [b"\xa0"])
        refused = server.request("/verify", method="POST", body=tampered,
                                 headers={"Content-Type": "application/cbor"})
        assert refused.status == 422
        assert refused.json()["error"]["code"] == "disclosure"
        assert refused.json()["checks"][-1] == {"check": "disclosures", "passed": False}
    finally:
        server.stop()


def test_a_bundle_entry_without_disclosures_is_byte_identical_to_before() -> None:
    entry = BundleEntry(entry=b"\x01", proof=[bytes(32)])
    bundle = Bundle(v=1, item="urn:x:y:z", heads=[], origin="o", entries=[entry],
                    root_key=bytes(32), checkpoint="c")
    assert b"disclosures" not in encode_bundle(bundle)
