"""Issue 17 item 6: text written with ``Ledger.record`` never leaves the
erasable disclosures store. Hypothesis puts distinctive text in every
committable field of a small story (issue, repair, appraisal, escrow with a
condition note, theft report); no byte string of it may appear in the ledger
file or its WAL, a checkpoint note, anything ``publish`` writes (tiles, entry
bundles, item bundles, pages) or a bundle exported without disclosures."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger._disclosure_file import disclosure_path
from provledger._publish_dir import publish

from .conftest import ORIGIN, T0, StepClock, key

# Letters no key name, field name or origin of this story holds, and some
# characters of several UTF-8 lengths: 12 or more of them cannot occur by
# chance in hashes, keys or signatures.
_ALPHABET = "QXZJKVWß€Ωøæ𝄞"
token = st.text(_ALPHABET, min_size=12, max_size=40)
FIELDS = ("inscription", "issue_notes", "work", "repair_notes", "performed_by", "appraiser",
          "appraisal_notes", "condition_notes", "reference", "stolen_notes")


def _story(path: Path, text: dict[str, str]) -> tuple[pl.Ledger, str, list[pl.Record]]:
    clock = StepClock(T0)
    root, jeweler, workshop, insurer = key("root"), key("jeweler"), key("workshop"), \
        key("insurer")
    owner, buyer, log = key("owner"), key("buyer"), key("log")
    ledger = pl.Ledger.create(path, origin=ORIGIN, root_key=root.public_key,
                              log_key=log.public_key, clock=clock)
    item = pl.serial_item_id(jeweler.public_key, "R-1")
    steps: list[tuple[pl.SigningKey, str, pl.Event]] = [
        (root, pl.authority_subject(jeweler.public_key),
         pl.RoleGranted(key=jeweler.public_key, name="Jeweler", role="issuer")),
        (jeweler, pl.authority_subject(workshop.public_key),
         pl.RoleGranted(key=workshop.public_key, name="Workshop", role="service")),
        (jeweler, pl.authority_subject(insurer.public_key),
         pl.RoleGranted(key=insurer.public_key, name="Insurer", role="reporter")),
        (jeweler, item, pl.CertificateIssued(kind="ring", serial="R-1", owner=owner.public_key,
                                             inscription=text["inscription"],
                                             notes=text["issue_notes"])),
        (workshop, item, pl.RepairRecorded(work=text["work"], notes=text["repair_notes"],
                                           performed_by=text["performed_by"],
                                           category="repair", started=T0, completed=T0 + 1)),
        (workshop, item, pl.AppraisalRecorded(method="in_person", currency="EUR",
                                              value_minor=100, appraiser=text["appraiser"],
                                              notes=text["appraisal_notes"])),
        (owner, item, pl.EscrowOpened(
            buyer=buyer.public_key, offer_expires=T0 + 1000, inspection_ends=T0 + 2000,
            terms=pl.events.EscrowTerms(price_minor=1, currency="EUR", on_timeout="return"),
            condition=pl.events.ConditionReport(grade="good", notes=text["condition_notes"]))),
        (insurer, item, pl.StolenReported(reference=text["reference"],
                                          notes=text["stolen_notes"])),
    ]
    records = []
    for signer, subject, event in steps:
        clock.t += 1
        records.append(ledger.record(event, key=signer, subject=subject))
    clock.t += 1
    ledger.sign_checkpoint(log)
    return ledger, item, records


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.fixed_dictionaries(dict.fromkeys(FIELDS, token)))
def test_no_committed_text_leaves_the_disclosures_store(text: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "shop.db"
        ledger, item, records = _story(path, text)
        with ledger:
            exported = ledger.export(item)
            notes = [c.note for c in ledger.checkpoints()]
            site = Path(d) / "site"
            publish(ledger, site, now=T0 + 100)
            # The operator's own view still has every value (the store works).
            shown = [ledger.reveal(r) for r in records]
            assert sum(s.withheld for s in shown) == 0
            assert shown[3].event.inscription == text["inscription"]
            assert shown[4].event.work == text["work"]
            assert shown[6].event.condition.notes == text["condition_notes"]
            assert shown[7].event.reference == text["reference"]
            ledger_files = {p.name: p.read_bytes() for p in Path(d).iterdir()
                            if p.is_file() and p.name.startswith("shop.db")}
        assert "shop.db" in ledger_files
        published = {str(p.relative_to(site)): p.read_bytes()
                     for p in site.rglob("*") if p.is_file()}
        assert any(name.startswith("tile/") for name in published)
        side = disclosure_path(path).read_bytes()
        for field, value in text.items():
            needle = value.encode()
            assert needle in side, field  # the scan would see it
            for name, data in ledger_files.items():
                assert needle not in data, (field, name)
            for note in notes:
                assert needle not in note.encode(), field
            for name, data in published.items():
                assert needle not in data, (field, name)
            assert needle not in exported, field


def test_the_scan_sees_text_recorded_in_clear(tmp_path: Path) -> None:
    """The control: written with ``commit=False`` (the earlier format), the
    same text is in the ledger file, the checkpointed tiles and the bundle."""
    clock = StepClock(T0)
    root, jeweler, log = key("root"), key("jeweler"), key("log")
    with pl.Ledger.create(tmp_path / "shop.db", origin=ORIGIN, root_key=root.public_key,
                          log_key=log.public_key, clock=clock) as ledger:
        ledger.record(pl.RoleGranted(key=jeweler.public_key, name="Jeweler", role="issuer"),
                      key=root, subject=pl.authority_subject(jeweler.public_key))
        item = pl.serial_item_id(jeweler.public_key, "R-1")
        clock.t += 1
        ledger.record(pl.CertificateIssued(kind="ring", serial="R-1", owner=key("o").public_key,
                                           notes="QXZJKVW clear text"),
                      key=jeweler, subject=item, commit=False)
        clock.t += 1
        ledger.sign_checkpoint(log)
        publish(ledger, tmp_path / "site", now=T0 + 100)
        assert b"QXZJKVW clear text" in ledger.export(item)
    files = b"".join(p.read_bytes() for p in tmp_path.glob("shop.db*"))
    assert b"QXZJKVW clear text" in files
    assert any(b"QXZJKVW clear text" in p.read_bytes()
               for p in (tmp_path / "site" / "tile").rglob("*") if p.is_file())
