"""Offline bundles (spec/bundle.md): export, verify, and everything a bundle must not get away with.

A sample bundle from a real ledger (several subjects, a consistency proof, a
witness cosignature) is mutated byte by byte and statement by statement;
forged histories come from tests/forge.py, a log that signs anything, so that
only the verifier's own checks stand between them and a marketplace.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import cbor2
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger._bundle import HeadProof, decode_bundle, encode_bundle
from provledger._note import NoteVerifier, parse_note
from provledger._statement import protected_header, sig_structure

from .conftest import ORIGIN, World, key, make_world
from .forge import ForgedLog, cosign, standard_log, witness_verifier

ROOT = Path(__file__).resolve().parents[1]
LOG = key("log")
BUYER = key("buyer")
STRANGER = key("stranger")
DIRECT = pl.EscrowTerms(price_minor=250_000, currency="EUR", on_timeout="return", direct=True)
COND = pl.ConditionReport(grade="very good")


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec
    assert spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


#: The independent checker: it does not import provledger.
cb = _load("check_bundle", ROOT / "spec/tools/check_bundle.py")


def repair(work: str = "Re-tipped four claws") -> pl.RepairRecorded:
    return pl.RepairRecorded(work=work, category="repair", performed_by="Workshop",
                             started=1_790_000_000, completed=1_790_000_100)


def appraisal(value: int = 850_000) -> pl.AppraisalRecorded:
    return pl.AppraisalRecorded(value_minor=value, currency="EUR", method="in_person",
                                appraiser="Workshop")


def policy_of(w: World | ForgedLog, **kw: object) -> pl.Policy:
    origin = w.ledger.origin if isinstance(w, World) else w.origin
    return pl.Policy(logs=(NoteVerifier(origin, LOG.public_key),),
                     roots=(key("root").public_key,), **kw)  # type: ignore[arg-type]


def sell(w: World, item: str, seller: pl.SigningKey, buyer: pl.SigningKey) -> None:
    """A direct sale through escrow: the seller offers, the buyer accepts, title moves."""
    opened = w.add(seller, item, pl.EscrowOpened(
        buyer=buyer.public_key, terms=DIRECT, condition=COND, offer_expires=w.clock.t + 100))
    w.add(buyer, item, pl.EscrowAccepted(escrow=opened.hash, terms_hash=pl.terms_hash(DIRECT),
                                         condition_hash=pl.condition_hash(COND)))


def replace(data: bytes, **changes: object) -> bytes:
    """The bundle with some fields replaced, re-encoded canonically."""
    return encode_bundle(msgspec.structs.replace(decode_bundle(data), **changes))


@dataclass(frozen=True)
class Sample:
    """A bundle with entries of four subjects, a consistency proof and a cosignature."""

    data: bytes
    policy: pl.Policy
    now: int
    item: str
    old_note: str
    note: str

    def __repr__(self) -> str:
        return f"Sample({self.item}, {len(self.data)} bytes)"

    def verify(self, data: bytes | None = None, **kw: object) -> pl.Report:
        args: dict[str, object] = {"policy": self.policy, "now": self.now, **kw}
        return pl.verify_bundle(self.data if data is None else data, **args)  # type: ignore[arg-type]


def build_sample(path: Path) -> Sample:
    w = make_world(path)
    item = w.issue("R-1001")
    w.add(w.gemologist, item, pl.CertificateAttested(capacity="gemologist",
                                                     certificate=w.ledger.head(item) or b""))
    w.add(w.workshop, item, repair())
    w.issue("R-1002")  # another item: in the tree, not in the bundle
    w.clock.t += 10
    old = w.ledger.sign_checkpoint(LOG)
    w.add(w.workshop, item, appraisal())
    w.clock.t += 10
    new = w.ledger.sign_checkpoint(LOG)
    bundle = decode_bundle(w.ledger.export(item, since=(old.size,)))
    w.ledger.close()
    note = cosign(bundle.checkpoint, timestamp=new.time + 1)
    data = encode_bundle(msgspec.structs.replace(bundle, checkpoint=note))
    policy = policy_of(w, witnesses=(witness_verifier(),), quorum=1)
    return Sample(data, policy, new.time + 60, item, old.note, note)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return build_sample(tmp_path_factory.mktemp("sample") / "ledger.db")


def rejects(error: type[pl.ProvLedgerError], call: Callable[[], object],
            contains: str = "") -> pl.ProvLedgerError:
    """``call`` raises exactly ``error`` (not a subclass), naming ``contains``."""
    with pytest.raises(pl.ProvLedgerError) as info:
        call()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert contains in str(info.value)
    return info.value


# -- the sample verifies, and says what it should ----------------------------------


def test_sample_verifies_with_the_expected_report(sample: Sample) -> None:
    report = sample.verify(seen=[sample.old_note])
    assert report
    assert report.item == sample.item
    assert report.status == "active"
    assert report.owner == key("owner").public_key
    assert report.issuer == pl.authority_subject(key("jeweler").public_key)
    assert report.issuer_name == "Jeweler"
    assert report.attested_by == ("Gem Lab",)
    assert [e.type for e in report.events] == [
        "cert.issued", "cert.attested", "repair.recorded", "appraisal.recorded"]
    assert [e.signed_as for e in report.events] == ["Jeweler", "Gem Lab", "Workshop", "Workshop"]
    assert report.events[2].fields["work"] == "Re-tipped four claws"
    assert report.events[3].fields["value_minor"] == 850_000
    assert report.checkpoint.size == 9
    assert report.checkpoint.note == sample.note
    assert report.warnings == ()
    assert report.to_json()["checkpoint"]["size"] == 9
    bundle = decode_bundle(sample.data)
    subjects = {h.subject for h in bundle.heads if h.absent is None}
    assert len(subjects) == 4  # the item, the jeweler, the workshop, the gemologist
    # ... and the proof that the root's chain has no entries.
    assert [h.subject for h in bundle.heads if h.absent is not None] == [
        pl.authority_subject(bundle.root_key)]
    assert len(bundle.consistency) == 1
    assert len(parse_note(bundle.checkpoint).signatures) == 2


def test_the_independent_checker_accepts_the_sample(sample: Sample) -> None:
    out = cb.check_bundle(sample.data, log_vkeys=[NoteVerifier(ORIGIN, LOG.public_key).vkey()],
                          roots=[key("root").public_key],
                          witness_vkeys=[witness_verifier().vkey()], quorum=1,
                          now=sample.now, seen=[sample.old_note])
    assert out["item"] == sample.item
    assert out["size"] == 9
    assert len(out["subjects"]) == 4


def test_export_is_deterministic(tmp_path: Path) -> None:
    a = build_sample(tmp_path / "a.db")
    b = build_sample(tmp_path / "b.db")
    assert a.data == b.data


# -- bytes: every single-byte change, and random ones ---------------------------------------


def _rejected(sample: Sample, data: bytes) -> bool:
    try:
        sample.verify(data)
    except pl.ProvLedgerError:
        return True
    return False


def test_every_single_byte_change_is_rejected(sample: Sample) -> None:
    """Each byte flipped in its lowest and highest bit: 2 x len(bundle) verifications."""
    accepted = []
    for i in range(len(sample.data)):
        for flip in (0x01, 0x80):
            mutated = bytearray(sample.data)
            mutated[i] ^= flip
            if not _rejected(sample, bytes(mutated)):
                accepted.append((i, flip))
    assert accepted == []


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("PROVLEDGER_EXHAUSTIVE"),
                    reason="all 255 values per byte take ~20 min; set PROVLEDGER_EXHAUSTIVE=1")
def test_every_single_byte_change_exhaustively(sample: Sample) -> None:
    accepted = []
    for i in range(len(sample.data)):
        for value in range(256):
            if value == sample.data[i]:
                continue
            mutated = bytearray(sample.data)
            mutated[i] = value
            if not _rejected(sample, bytes(mutated)):
                accepted.append((i, value))
    assert accepted == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_mutations_are_rejected_with_a_typed_error(sample: Sample, data: st.DataObject
                                                          ) -> None:
    raw = bytearray(sample.data)
    for _ in range(data.draw(st.integers(1, 4))):
        if not raw:
            break
        kind = data.draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, len(raw) - 1))
        if kind == "set":
            raw[pos] = data.draw(st.integers(0, 255).filter(lambda b, p=pos: b != raw[p]))
        elif kind == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del raw[pos:pos + data.draw(st.integers(1, 8))]
        else:
            del raw[pos:]
    if bytes(raw) == sample.data:
        return
    with pytest.raises(pl.ProvLedgerError):
        sample.verify(bytes(raw))


# -- statements: dropped, reordered, duplicated, replayed -------------------------------------


def _entries(data: bytes) -> list[object]:
    return list(decode_bundle(data).entries)


def test_dropping_any_statement_is_rejected(sample: Sample) -> None:
    entries = _entries(sample.data)
    for i in range(len(entries)):
        cut = replace(sample.data, entries=entries[:i] + entries[i + 1:])
        # A gap in a chain, a chain stopping before its head, or a head proof
        # left without entries: all say the history is incomplete.
        rejects(pl.IncompleteHistoryError, lambda cut=cut: sample.verify(cut))


def test_dropping_a_whole_authority_is_rejected(sample: Sample) -> None:
    """The gemologist's chain and head proof left out: its attestation is by an unknown key."""
    bundle = decode_bundle(sample.data)
    gemologist = key("gemologist").public_key
    kept = [e for e in bundle.entries
            if not (b"role.granted" in e.entry and gemologist in e.entry)]
    assert len(kept) == len(bundle.entries) - 1
    heads = [h for h in bundle.heads if h.subject != pl.authority_subject(gemologist)]
    cut = encode_bundle(msgspec.structs.replace(bundle, entries=kept, heads=heads))
    rejects(pl.UnknownKeyError, lambda: sample.verify(cut), "not a known authority")


def test_reordering_statements_is_rejected(sample: Sample) -> None:
    entries = _entries(sample.data)
    for i in range(len(entries) - 1):
        swapped = [*entries[:i], entries[i + 1], entries[i], *entries[i + 2:]]
        rejects(pl.IncompleteHistoryError,
                lambda s=swapped: sample.verify(replace(sample.data, entries=s)),
                "strictly increasing log order")
    rejects(pl.IncompleteHistoryError,
            lambda: sample.verify(replace(sample.data, entries=entries[::-1])))


def test_duplicating_any_statement_is_rejected(sample: Sample) -> None:
    entries = _entries(sample.data)
    for i in range(len(entries)):
        doubled = [*entries[:i + 1], entries[i], *entries[i + 1:]]
        rejects(pl.IncompleteHistoryError,
                lambda d=doubled: sample.verify(replace(sample.data, entries=d)),
                "reordered or duplicated")


def _item_log() -> tuple[ForgedLog, str]:
    log = standard_log()
    item = pl.serial_item_id(key("jeweler").public_key, "R-1")
    log.add(key("jeweler"), item, pl.CertificateIssued(kind="ring", serial="R-1",
                                                       owner=key("owner").public_key))
    return log, item


def test_a_replayed_statement_is_rejected() -> None:
    """A log that appends a statement a second time: the copy cannot extend the chain."""
    log, item = _item_log()
    lost = log.statements[log.add(key("owner"), item, pl.LostReported())]
    log.add(key("owner"), item, pl.Recovered())
    log.append(lost)  # the same lost report, replayed by the log
    data = log.bundle(item, log.checkpoint())
    rejects(pl.IncompleteHistoryError, lambda: pl.verify_bundle(
        data, policy=policy_of(log), now=log.t), "does not follow the previous entry")


def test_a_statement_replayed_from_another_log_is_rejected() -> None:
    log, item = _item_log()
    log.t += 1
    log.append(log.sign(key("owner"), item, pl.LostReported(), origin="other.example/ledger"))
    data = log.bundle(item, log.checkpoint())
    rejects(pl.WrongLogError, lambda: pl.verify_bundle(data, policy=policy_of(log), now=log.t),
            "other.example/ledger")


def test_a_replayed_genesis_is_rejected() -> None:
    """The certificate appended twice: two genesis entries for one chain."""
    log, item = _item_log()
    log.append(log.statements[-1])
    data = log.bundle(item, log.checkpoint())
    rejects(pl.IncompleteHistoryError,
            lambda: pl.verify_bundle(data, policy=policy_of(log), now=log.t))


# -- completeness and freshness: cut before a sale or a theft report ---------------------------


@dataclass
class Story:
    """Two exports of one ring, before and after something a buyer must know."""

    old: bytes
    new: bytes
    old_note: str
    new_note: str
    old_time: int
    now: int
    policy: pl.Policy


def _story(tmp_path: Path, event: str) -> Story:
    w = make_world(tmp_path / "l.db")
    item = w.issue("R-1")
    w.add(w.workshop, item, repair())
    w.clock.t += 5
    old = w.ledger.sign_checkpoint(LOG)
    old_bundle = w.ledger.export(item)
    if event == "sale":
        sell(w, item, w.owner, BUYER)
        assert w.ledger.item(item).owner == BUYER.public_key
    else:
        w.add(w.insurer, item, pl.StolenReported(reference="CLAIM-1"))
    w.clock.t += 5
    new = w.ledger.sign_checkpoint(LOG)
    new_bundle = w.ledger.export(item, since=(old.size,))
    w.ledger.close()
    return Story(old_bundle, new_bundle, old.note, new.note, old.time, new.time + 1,
                 policy_of(w))


@pytest.mark.parametrize("event", ["sale", "theft"])
def test_a_bundle_cut_before_a_sale_or_theft_report(tmp_path: Path, event: str) -> None:
    s = _story(tmp_path, event)
    old = pl.verify_bundle(s.old, policy=s.policy, now=s.now)
    new = pl.verify_bundle(s.new, policy=s.policy, now=s.now, seen=[s.old_note])
    assert old.status == "active"
    assert old.owner == key("owner").public_key
    if event == "sale":
        assert new.owner == BUYER.public_key
        assert [e.state for e in new.escrows] == ["completed"]
        assert [e.type for e in new.events][-2:] == ["escrow.opened", "escrow.accepted"]
    else:
        assert new.status == "stolen"
    # Once the marketplace has seen the newer checkpoint, the old file is refused ...
    rejects(pl.StaleCheckpointError,
            lambda: pl.verify_bundle(s.old, policy=s.policy, now=s.now, seen=[s.new_note]),
            "older than one already seen")
    # ... and by age alone, one second past the policy's limit.
    limit = s.policy.max_age
    pl.verify_bundle(s.old, policy=s.policy, now=s.old_time + limit)
    rejects(pl.StaleCheckpointError,
            lambda: pl.verify_bundle(s.old, policy=s.policy, now=s.old_time + limit + 1),
            f"the limit is {limit} s")
    rejects(pl.StaleCheckpointError,
            lambda: pl.verify_bundle(s.old, policy=s.policy, now=s.now, max_age=1))
    # The new checkpoint with the new entries left off fails on the head map.
    bundle = decode_bundle(s.new)
    cut = [e for e in bundle.entries if b"escrow." not in e.entry and b"stolen" not in e.entry]
    assert len(cut) < len(bundle.entries)
    rejects(pl.IncompleteHistoryError,
            lambda: pl.verify_bundle(replace(s.new, entries=cut), policy=s.policy, now=s.now),
            "stops before its latest entry")


def test_a_newer_bundle_must_prove_consistency_with_what_was_seen(tmp_path: Path) -> None:
    s = _story(tmp_path, "sale")
    without = replace(s.new, consistency=[])
    rejects(pl.MissingConsistencyProofError,
            lambda: pl.verify_bundle(without, policy=s.policy, now=s.now, seen=[s.old_note]),
            "is newer than the one already seen")
    with pytest.raises(pl.MissingConsistencyProofError, match=r"--since \d+") as info:
        pl.verify_bundle(without, policy=s.policy, now=s.now, seen=[s.old_note])
    assert not isinstance(info.value, pl.StaleCheckpointError)
    assert info.value.check == "seen"
    assert pl.verify_bundle(without, policy=s.policy, now=s.now, seen=[s.new_note])


# -- forged histories: only the replay of the rules catches them --------------------------------


def _verify(log: ForgedLog, item: str, **kw: object) -> pl.Report:
    return pl.verify_bundle(log.bundle(item, log.checkpoint()), policy=policy_of(log),
                            now=log.t, **kw)  # type: ignore[arg-type]


def test_the_forge_makes_honest_bundles_that_verify() -> None:
    log, item = _item_log()
    log.add(key("workshop"), item, repair())
    log.add(key("gemologist"), item, pl.CertificateAttested(
        capacity="gemologist", certificate=hashlib.sha256(log.statements[4]).digest()))
    report = _verify(log, item)
    assert [e.type for e in report.events] == ["cert.issued", "repair.recorded",
                                              "cert.attested"]


def test_wrong_signer_fails_the_signature() -> None:
    """kid and payload name the workshop, the signature is the stranger's."""
    log, item = _item_log()
    honest = log.sign(key("workshop"), item, repair())
    protected, _, payload, _ = cbor2.loads(honest).value
    forged_sig = STRANGER.sign(sig_structure(protected, payload))
    assert protected == protected_header(key("workshop").public_key)
    forged = honest[:-64] + forged_sig
    log.t += 1
    log.append(forged)
    rejects(pl.SignatureError, lambda: _verify(log, item))


def test_a_signer_no_authority_holds_is_unknown() -> None:
    log, item = _item_log()
    log.add(STRANGER, item, repair())
    rejects(pl.UnknownKeyError, lambda: _verify(log, item), "not a known key")


def test_a_revoked_key_after_its_cut_off(tmp_path: Path) -> None:
    """Honest ledger: a repair signed at t, the key later revoked as compromised
    since before t. The bundle still verifies; the repair is shown invalidated
    and the rest of the history stands (protocol.md 6.4)."""
    w = make_world(tmp_path / "l.db")
    item = w.issue("R-1")
    w.add(w.workshop, item, repair())
    cutoff = w.clock.t
    w.add(w.jeweler, pl.authority_subject(w.workshop.public_key),
          pl.KeyRevoked(key=w.workshop.public_key, compromised_since=cutoff, notes="stolen"))
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    report = pl.verify_bundle(w.ledger.export(item), policy=policy_of(w), now=w.clock.t)
    assert [e.invalidated for e in report.events] == [False, True]
    assert "compromise cut-off" in report.events[1].invalid_reason
    assert report.status == "active"
    assert any("invalidated" in warning for warning in report.warnings)
    w.ledger.close()


def test_a_certificate_signed_after_the_cut_off_fails_until_reaffirmed(tmp_path: Path) -> None:
    """The issuer's key leaked: the root revokes it from before a certificate it
    signed. That bundle fails, naming the entry, until the issuer, re-keyed by
    the root, reaffirms the certificate with its new key."""
    w = make_world(tmp_path / "l.db")
    before = w.issue("R-0")
    w.clock.t += 10
    cutoff = w.clock.t
    item = w.issue("R-1")
    jeweler = pl.authority_subject(w.jeweler.public_key)
    w.add(w.root, jeweler, pl.KeyRevoked(key=w.jeweler.public_key, compromised_since=cutoff))
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    rejects(pl.RevokedKeyError, lambda: pl.verify_bundle(
        w.ledger.export(item), policy=policy_of(w), now=w.clock.t), "reaffirmed")
    # A certificate signed before the cut-off stays valid.
    assert pl.verify_bundle(w.ledger.export(before), policy=policy_of(w),
                            now=w.clock.t).status == "active"
    new_key = key("jeweler-new")
    w.add(w.root, jeweler, pl.RoleGranted(key=new_key.public_key, name="Jeweler",
                                          role="issuer"))
    w.add(new_key, item, pl.CertificateReaffirmed(certificate=w.ledger.item(item).certificate))
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    report = pl.verify_bundle(w.ledger.export(item), policy=policy_of(w), now=w.clock.t)
    assert report.status == "active"
    assert [e.invalidated for e in report.events] == [True, False]
    w.ledger.close()


def test_a_revoked_key_used_after_the_revocation() -> None:
    """Forged: the log accepts a repair by a key revoked earlier."""
    log, item = _item_log()
    workshop = pl.authority_subject(key("workshop").public_key)
    log.add(key("jeweler"), workshop, pl.KeyRevoked(key=key("workshop").public_key,
                                                    compromised_since=log.t))
    log.add(key("workshop"), item, repair())
    rejects(pl.RevokedKeyError, lambda: _verify(log, item), "cut off")


def test_a_rotated_out_key_is_refused_but_the_new_one_verifies() -> None:
    log, item = _item_log()
    workshop = pl.authority_subject(key("workshop").public_key)
    log.add(key("workshop"), workshop, pl.KeyRotated(new_key=key("workshop2").public_key))
    log.add(key("workshop2"), item, repair())
    assert _verify(log, item).events[-1].signed_as == "Workshop"
    log.add(key("workshop"), item, repair("with the old key"))
    rejects(pl.RevokedKeyError, lambda: _verify(log, item))


@pytest.mark.parametrize("who", ["gemologist", "insurer", "jeweler2-workshop"])
def test_an_unauthorized_repairer(who: str) -> None:
    log, item = _item_log()
    signer = key(who)
    if who == "jeweler2-workshop":
        # A service provider, but of another issuer.
        log.grant(log.root, key("jeweler2"), "issuer", "Other Jeweler")
        log.grant(key("jeweler2"), signer, "service", "Other Workshop")
    log.add(signer, item, repair())
    rejects(pl.UnauthorizedError, lambda: _verify(log, item),
            "neither the owner nor a service provider")


def test_an_unauthorized_issuer_and_a_deauthorized_reporter() -> None:
    log, _ = _item_log()
    fake = pl.serial_item_id(key("workshop").public_key, "F-1")
    log.add(key("workshop"), fake, pl.CertificateIssued(kind="ring", serial="F-1",
                                                        owner=key("owner").public_key))
    rejects(pl.UnauthorizedError, lambda: _verify(log, fake), "not an authorized issuer")
    log, item = _item_log()
    log.add(key("jeweler"), pl.authority_subject(key("insurer").public_key),
            pl.RoleRevoked(role="reporter"))
    log.add(key("insurer"), item, pl.StolenReported(reference="X"))
    rejects(pl.UnauthorizedError, lambda: _verify(log, item), "may report theft")


def test_an_owner_who_never_received_the_piece() -> None:
    # The buyer reports "its" ring lost without ever having been sold it.
    log, item = _item_log()
    log.add(BUYER, item, pl.LostReported())
    rejects(pl.UnauthorizedError, lambda: _verify(log, item), "only the current owner")
    # ... or sells it on through escrow.
    log, item = _item_log()
    log.add(BUYER, item, pl.EscrowOpened(buyer=STRANGER.public_key, terms=DIRECT,
                                         condition=COND, offer_expires=log.t + 100))
    rejects(pl.UnauthorizedError, lambda: _verify(log, item), "owner-opens")
    # ... or a stranger accepts the owner's offer meant for the buyer.
    log, item = _item_log()
    opened = log.add(key("owner"), item, pl.EscrowOpened(
        buyer=BUYER.public_key, terms=DIRECT, condition=COND, offer_expires=log.t + 100))
    log.add(STRANGER, item, pl.EscrowAccepted(
        escrow=hashlib.sha256(log.statements[opened]).digest(),
        terms_hash=pl.terms_hash(DIRECT), condition_hash=pl.condition_hash(COND)))
    rejects(pl.UnauthorizedError, lambda: _verify(log, item), "[escrow rule: party]")


def test_a_sold_piece_cannot_be_sold_again_by_its_old_owner() -> None:
    log, item = _item_log()
    opened = log.add(key("owner"), item, pl.EscrowOpened(
        buyer=BUYER.public_key, terms=DIRECT, condition=COND, offer_expires=log.t + 100))
    log.add(BUYER, item, pl.EscrowAccepted(
        escrow=hashlib.sha256(log.statements[opened]).digest(),
        terms_hash=pl.terms_hash(DIRECT), condition_hash=pl.condition_hash(COND)))
    assert _verify(log, item).owner == BUYER.public_key
    log.add(key("owner"), item, pl.EscrowOpened(
        buyer=STRANGER.public_key, terms=DIRECT, condition=COND, offer_expires=log.t + 100))
    rejects(pl.UnauthorizedError, lambda: _verify(log, item), "owner-opens")


def test_log_times_that_go_back_are_rejected() -> None:
    log, item = _item_log()
    log.append(log.sign(key("workshop"), item, repair()), time=log.t - 100)
    rejects(pl.VerificationError, lambda: _verify(log, item), "log time goes back")


# -- trust: logs, roots, witnesses, forks ----------------------------------------------------------


def test_an_untrusted_log_or_root_is_unknown(sample: Sample) -> None:
    other_log = pl.Policy(logs=(NoteVerifier("elsewhere.example/log", LOG.public_key),),
                          roots=sample.policy.roots)
    rejects(pl.UnknownKeyError, lambda: sample.verify(policy=other_log), "not trusted")
    other_root = pl.Policy(logs=sample.policy.logs, roots=(STRANGER.public_key,))
    rejects(pl.UnknownKeyError, lambda: sample.verify(policy=other_root),
            "not a trusted issuer root")
    # The right origin, signed by another key: the checkpoint does not verify.
    imposter = pl.Policy(logs=(NoteVerifier(ORIGIN, STRANGER.public_key),),
                         roots=sample.policy.roots)
    rejects(pl.CheckpointError, lambda: sample.verify(policy=imposter))


def test_a_log_with_another_key_under_the_same_origin() -> None:
    log, item = _item_log()
    evil = ForgedLog(log=STRANGER)
    evil.entries, evil.subjects, evil.statements, evil.tree, evil.t = (
        log.entries, log.subjects, log.statements, log.tree, log.t)
    data = evil.bundle(item, evil.checkpoint())
    rejects(pl.CheckpointError, lambda: pl.verify_bundle(data, policy=policy_of(log),
                                                          now=log.t), "not signed")


def test_the_witness_quorum(sample: Sample) -> None:
    note = parse_note(sample.note)
    log_only = note.text + "\n" + note.signatures[0].line
    unsigned = replace(sample.data, checkpoint=log_only)
    rejects(pl.errors.QuorumError, lambda: sample.verify(unsigned),
            "a cosignature from witness witness.test.example")
    by_stranger = cosign(log_only, timestamp=1, witness=STRANGER)
    rejects(pl.errors.QuorumError,
            lambda: sample.verify(replace(sample.data, checkpoint=by_stranger)))
    no_witness = pl.Policy(logs=sample.policy.logs, roots=sample.policy.roots)
    assert sample.verify(unsigned, policy=no_witness)


def test_a_fork_two_checkpoints_at_one_size() -> None:
    log, item = _item_log()
    fork, _ = _item_log()
    log.add(key("workshop"), item, repair("left"))
    fork.add(key("workshop"), item, repair("right"))
    a, b = log.checkpoint(), fork.checkpoint()
    assert a.size == b.size
    assert a.root != b.root
    rejects(pl.ForkError, lambda: pl.verify_bundle(log.bundle(item, a), policy=policy_of(log),
                                                   now=log.t, seen=[b.note]), "forked")


def test_a_fork_an_inconsistent_consistency_proof() -> None:
    """The log rewrites entry 4 and presents its old checkpoint as consistent."""
    log, item = _item_log()
    seen = log.checkpoint()
    fork = standard_log()
    fork.add(key("jeweler"), item, pl.CertificateIssued(kind="ring", serial="R-1",
                                                        owner=BUYER.public_key))
    fork.add(key("workshop"), item, repair())
    # The proof is computed over the rewritten tree: it cannot reach the old root.
    data = fork.bundle(item, fork.checkpoint(), since=[seen])
    for seen_notes in ([seen.note], []):
        rejects(pl.ForkError, lambda s=seen_notes: pl.verify_bundle(
            data, policy=policy_of(log), now=log.t, seen=s), "not consistent")


def test_checkpoint_extensions_are_required() -> None:
    log, item = _item_log()
    for lines in ([], ["provledger-time 1"], ["provledger-heads AAAA", "provledger-time 1"]):
        data = log.bundle(item, log.checkpoint(extensions=lines))
        rejects(pl.CheckpointError, lambda d=data: pl.verify_bundle(d, policy=policy_of(log),
                                                                     now=log.t))


def test_a_lying_head_map_cannot_hide_entries_from_a_complete_bundle() -> None:
    """Heads that do not match the entries carried fail, whatever the log signs."""
    log, item = _item_log()
    log.add(key("workshop"), item, repair())
    honest = log.checkpoint()
    wrong = dict(log.head_map(honest.size))
    wrong[item] = bytes(32)
    data = log.bundle(item, log.checkpoint(heads=wrong))
    rejects(pl.IncompleteHistoryError, lambda: pl.verify_bundle(data, policy=policy_of(log),
                                                                 now=log.t))


# -- hostile files: fail fast, typed, in bounded memory -----------------------------------------

_HOSTILE: dict[str, bytes] = {
    "empty": b"",
    "not cbor": b"provledger bundle",
    "bstr claiming 2**63 bytes": b"\x5b" + (2**63 - 1).to_bytes(8, "big"),
    "array claiming 2**32 items": b"\x9a\xff\xff\xff\xff",
    "map claiming 2**32 pairs": b"\xba\xff\xff\xff\xff",
    "map with an absurd text key length": b"\xa1\x7b" + (2**62).to_bytes(8, "big"),
    "100k nested arrays": b"\x81" * 100_000 + b"\x00",
    "100k nested maps": b"\xa1\x00" * 100_000 + b"\x00",
    "100k nested tags": b"\xc6" * 100_000 + b"\x00",
    "100k indefinite arrays": b"\x9f" * 100_000 + b"\xff" * 100_000,
    "10**6-element array": b"\x9a\x00\x0f\x42\x40" + b"\x00" * 1_000_000,
    "10**6-pair map": b"\xba\x00\x0f\x42\x40" + b"\x00\x01" * 1_000_000,
    "9 MB of zeros": bytes(9_000_000),
    "an integer": b"\x01",
    "a float": b"\xfb" + bytes(8),
    "a huge bignum": b"\xc2\x5a\x00\x7f\xff\x00" + b"\x01" * 0x7FFF00,
}


def _wrong_types(sample: Sample) -> dict[str, bytes]:
    raw = cbor2.loads(sample.data)
    out = {}
    for name, value in (("v", "1"), ("item", 7), ("heads", {}), ("entries", b"x"),
                        ("root_key", "ed25519:x"), ("checkpoint", b"note"),
                        ("consistency", None), ("entries", [{"entry": "x", "proof": []}]),
                        ("heads", [{"proof": [b"\0" * 31], "subject": sample.item}])):
        out[f"{name} as {type(value).__name__}"] = cbor2.dumps({**raw, name: value},
                                                               canonical=True)
    out["trailing byte"] = sample.data + b"\x00"
    out["two bundles"] = sample.data + sample.data
    out["unknown field"] = cbor2.dumps({**raw, "extra": 1}, canonical=True)
    out["map keys unsorted"] = cbor2.dumps(dict(reversed(list(raw.items()))))
    out["4,097 entries"] = cbor2.dumps({**raw, "entries": [raw["entries"][0]] * 4097},
                                       canonical=True)
    out["257 head proofs"] = cbor2.dumps({**raw, "heads": [raw["heads"][0]] * 257},
                                         canonical=True)
    out["65 inclusion hashes"] = cbor2.dumps(
        {**raw, "entries": [{"entry": raw["entries"][0]["entry"], "proof": [bytes(32)] * 65}]},
        canonical=True)
    out["17 consistency proofs"] = cbor2.dumps(
        {**raw, "consistency": [raw["consistency"][0]] * 17}, canonical=True)
    return out


@pytest.mark.parametrize("name", list(_HOSTILE))
def test_hostile_files_fail_fast_with_decode_error(sample: Sample, name: str) -> None:
    _fails_fast(sample, _HOSTILE[name])


def test_wrong_types_and_limits_fail_fast_with_decode_error(sample: Sample) -> None:
    for name, data in _wrong_types(sample).items():
        try:
            _fails_fast(sample, data)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def _fails_fast(sample: Sample, data: bytes) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(pl.DecodeError):
            sample.verify(data)
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert peak < 64 * 1024 * 1024 + 3 * len(data), f"{peak / 1e6:.0f} MB"


# -- defects these tests found, fixed in src since: now regression tests ----------------------


def test_two_head_proofs_for_one_subject_are_rejected(sample: Sample) -> None:
    bundle = decode_bundle(sample.data)
    junk = HeadProof(subject=sample.item, proof=[bytes(32)])
    doubled = encode_bundle(msgspec.structs.replace(bundle, heads=[junk, *bundle.heads]))
    with pytest.raises(pl.IncompleteHistoryError):
        sample.verify(doubled)


def test_a_checkpoint_from_the_future_is_refused() -> None:
    log, item = _item_log()
    data = log.bundle(item, log.checkpoint(time=log.t + 10 * 365 * 86_400))
    with pytest.raises(pl.VerificationError):
        pl.verify_bundle(data, policy=policy_of(log), now=log.t)


def test_an_expired_offer_does_not_hold_the_item() -> None:
    log, item = _item_log()
    log.add(key("owner"), item, pl.EscrowOpened(
        buyer=BUYER.public_key, terms=DIRECT, condition=COND, offer_expires=log.t + 10))
    log.t += 1_000
    report = _verify(log, item)
    assert report.status == "active"


def test_the_independent_checker_refuses_what_the_fixes_refuse(sample: Sample) -> None:
    log, item = _item_log()
    future = log.bundle(item, log.checkpoint(time=log.t + 301))
    args = {"log_vkeys": [NoteVerifier(ORIGIN, LOG.public_key).vkey()],
            "roots": [key("root").public_key]}
    with pytest.raises(cb.BundleCheckError) as info:
        cb.check_bundle(future, now=log.t, **args)
    assert info.value.error == "StaleCheckpointError"
    cb.check_bundle(log.bundle(item, log.checkpoint(time=log.t + 300)), now=log.t, **args)
    bundle = decode_bundle(sample.data)
    doubled = encode_bundle(msgspec.structs.replace(bundle, heads=[*bundle.heads,
                                                                   bundle.heads[0]]))
    with pytest.raises(cb.BundleCheckError) as info:
        cb.check_bundle(doubled, log_vkeys=args["log_vkeys"], roots=args["roots"],
                        witness_vkeys=[witness_verifier().vkey()], quorum=1)
    assert info.value.error == "IncompleteHistoryError"
