"""Issue 11, finding 3: a bundle must prove the root's chain, and revocations
of a stolen root or issuer key cut the thief off without stranding honest
history (protocol.md 6.3, 6.4; spec/bundle.md step 9).

The thief holds a copy of a real key; the lying exporter edits bundles; both
play against the library and the CLI.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import provledger as pl
from provledger._bundle import HeadProof, decode_bundle, encode_bundle
from provledger._entry import decode_entry
from provledger._statement import decode_statement

from .conftest import World, grant, key, make_world
from .test_bundle import LOG, policy_of, rejects, replace
from .test_bundle_cli import error_line, ok, run


def _stolen_root(w: World) -> tuple[str, str]:
    """The root key is stolen and used to mint a rogue issuer, who certifies a
    ring; the root then rotates and revokes the stolen key from the theft on.
    Returns (the rogue's item, an honest item certified before the theft)."""
    honest = w.issue("H-1")
    w.clock.t += 100
    theft = w.clock.t
    rogue = key("rogue")
    grant(w, w.root, rogue, "issuer", "Not The Jeweler")
    item = pl.serial_item_id(rogue.public_key, "F-1")
    w.add(rogue, item, pl.CertificateIssued(kind="ring", serial="F-1",
                                            owner=key("thief").public_key))
    root = pl.authority_subject(w.root.public_key)
    w.add(w.root, root, pl.KeyRotated(new_key=key("root-2027").public_key))
    w.add(key("root-2027"), root, pl.KeyRevoked(key=w.root.public_key,
                                                compromised_since=theft, notes="stolen"))
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    return item, honest


def _without_root_chain(data: bytes) -> bytes:
    bundle = decode_bundle(data)
    root = pl.authority_subject(bundle.root_key)
    entries = [e for e in bundle.entries
               if decode_statement(decode_entry(e.entry).statement).subject != root]
    heads = [h for h in bundle.heads if h.subject != root]
    return replace(data, entries=entries, heads=heads)


def test_the_rogues_certificate_fails_and_hiding_the_root_chain_does_not_help(
        tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    item, honest = _stolen_root(w)
    policy = policy_of(w)
    data = w.ledger.export(item)
    rejects(pl.RevokedKeyError, lambda: pl.verify_bundle(data, policy=policy, now=w.clock.t),
            "reaffirmed")
    forged = _without_root_chain(data)
    rejects(pl.IncompleteHistoryError,
            lambda: pl.verify_bundle(forged, policy=policy, now=w.clock.t), "root's chain")
    # Swapping in an absence proof for the root's chain cannot work either:
    # the root's chain has entries at this checkpoint.
    bundle = decode_bundle(forged)
    absent = HeadProof(subject=pl.authority_subject(w.root.public_key), proof=[], absent=b"")
    lying = encode_bundle(msgspec.structs.replace(bundle, heads=[*bundle.heads, absent]))
    rejects(pl.IncompleteHistoryError,
            lambda: pl.verify_bundle(lying, policy=policy, now=w.clock.t), "left out")
    # The honest ring certified before the theft still verifies.
    assert pl.verify_bundle(w.ledger.export(honest), policy=policy,
                            now=w.clock.t).status == "active"
    # The rogue issuer is cut off from its introduction: the ledger refuses it.
    before = len(w.ledger)
    with pytest.raises(pl.RevokedKeyError):
        w.add(key("rogue"), pl.serial_item_id(key("rogue").public_key, "F-2"),
              pl.CertificateIssued(kind="ring", serial="F-2", owner=key("thief").public_key))
    assert len(w.ledger) == before
    w.ledger.close()


def test_the_cli_refuses_a_bundle_without_the_root_chain(tmp_path: Path) -> None:
    w = make_world(tmp_path / "l.db")
    item, _ = _stolen_root(w)
    w.ledger.close()
    policy, bundle = tmp_path / "policy.txt", tmp_path / "ring.bundle"
    ok("--db", tmp_path / "l.db", "policy", "-o", policy)
    ok("--db", tmp_path / "l.db", "export", item, "-o", bundle)
    forged = tmp_path / "forged.bundle"
    forged.write_bytes(_without_root_chain(bundle.read_bytes()))
    at = str(w.clock.t)
    line = error_line(run("verify", forged, "--policy", policy, "--at", at), 1)
    assert "root's chain" in line
    line = error_line(run("verify", bundle, "--policy", policy, "--at", at), 1)
    assert "reaffirmed" in line


def test_a_thief_who_rotated_a_stolen_issuer_key_is_cut_off(tmp_path: Path) -> None:
    """The thief steals the jeweler's key and rotates it to their own; the root
    revokes the stolen key from before the rotation. The thief's key is void,
    the jeweler's genuine certificates from before stay valid, and the root
    re-keys the jeweler, who reaffirms what it must."""
    w = make_world(tmp_path / "l.db")
    genuine = w.issue("G-1")
    w.clock.t += 100
    theft = w.clock.t
    jeweler = pl.authority_subject(w.jeweler.public_key)
    thief = key("thief")
    w.add(w.jeweler, jeweler, pl.KeyRotated(new_key=thief.public_key))
    fake = pl.serial_item_id(w.jeweler.public_key, "F-1")
    w.add(thief, fake, pl.CertificateIssued(kind="ring", serial="F-1", owner=thief.public_key))
    # The real jeweler cannot sign any more; the root steps in.
    w.add(w.root, jeweler, pl.KeyRevoked(key=w.jeweler.public_key, compromised_since=theft))
    state = w.ledger.authority(w.jeweler.public_key)
    assert state.key is None
    before = len(w.ledger)
    with pytest.raises(pl.RevokedKeyError):
        w.add(thief, pl.serial_item_id(w.jeweler.public_key, "F-2"),
              pl.CertificateIssued(kind="ring", serial="F-2", owner=thief.public_key))
    assert len(w.ledger) == before
    new = key("jeweler-2027")
    w.add(w.root, jeweler, pl.RoleGranted(key=new.public_key, name="Jeweler", role="issuer"))
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    policy = policy_of(w)
    assert pl.verify_bundle(w.ledger.export(genuine), policy=policy,
                            now=w.clock.t).status == "active"
    rejects(pl.RevokedKeyError, lambda: pl.verify_bundle(
        w.ledger.export(fake), policy=policy, now=w.clock.t), "reaffirmed")
    audit = w.ledger.audit()
    assert {i.index for i in audit.invalidated} >= {w.ledger.history(fake)[0].index}
    w.ledger.close()


def test_an_invalidated_recovery_leaves_the_piece_stolen(tmp_path: Path) -> None:
    """A thief with the insurer's key marks a stolen ring recovered. Once the
    jeweler revokes that key from the theft on, the ring is stolen again for
    the ledger (no sale can open), for history and for verifiers."""
    w = make_world(tmp_path / "l.db")
    item = w.issue("S-1")
    w.add(w.insurer, item, pl.StolenReported(reference="CLAIM-1"))
    w.clock.t += 100
    leak = w.clock.t
    w.add(w.insurer, item, pl.Recovered(notes="all good"))
    assert w.ledger.item(item).status == "active"
    w.add(w.jeweler, pl.authority_subject(w.insurer.public_key),
          pl.KeyRevoked(key=w.insurer.public_key, compromised_since=leak))
    assert w.ledger.item(item).status == "stolen"
    report = pl.item_report(w.ledger, item)
    assert [e.invalidated for e in report.events] == [False, False, True]
    before = len(w.ledger)
    with pytest.raises(pl.StateError):
        w.add(w.owner, item, pl.EscrowOpened(
            buyer=key("buyer").public_key,
            terms=pl.EscrowTerms(price_minor=100, currency="EUR", on_timeout="return"),
            condition=pl.ConditionReport(grade="good"),
            offer_expires=w.clock.t + 3600, inspection_ends=w.clock.t + 7200))
    assert len(w.ledger) == before
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    verified = pl.verify_bundle(w.ledger.export(item), policy=policy_of(w), now=w.clock.t)
    assert verified.status == "stolen"
    assert [e.invalidated for e in verified.events] == [False, False, True]
    w.ledger.audit()
    w.ledger.close()


def test_a_revocation_signed_with_a_stolen_key_does_not_stand(tmp_path: Path) -> None:
    """The thief steals a ring and the jeweler's key, then uses the key to
    revoke the insurer's key from before its theft report, so the ring would
    read as active. Once the root cuts the jeweler's key off from the theft,
    the thief's revocation no longer stands and the ring is stolen again, for
    the ledger, history, audit and verifiers."""
    w = make_world(tmp_path / "l.db")
    item = w.issue("T-1")
    w.add(w.insurer, item, pl.StolenReported(reference="CLAIM-9"))
    w.clock.t += 100
    theft = w.clock.t
    w.add(w.jeweler, pl.authority_subject(w.insurer.public_key),
          pl.KeyRevoked(key=w.insurer.public_key, compromised_since=0))
    assert w.ledger.item(item).status == "active"  # what the thief wanted
    w.add(w.root, pl.authority_subject(w.jeweler.public_key),
          pl.KeyRevoked(key=w.jeweler.public_key, compromised_since=theft))
    assert w.ledger.item(item).status == "stolen"
    assert not any(e.invalidated for e in pl.item_report(w.ledger, item).events)
    revocation = w.ledger.history(pl.authority_subject(w.insurer.public_key))[-1].index
    assert revocation in {i.index for i in w.ledger.audit().invalidated}
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    report = pl.verify_bundle(w.ledger.export(item), policy=policy_of(w), now=w.clock.t)
    assert report.status == "stolen"
    w.ledger.close()


def test_the_seen_store_keeps_the_newest_checkpoint_per_log(tmp_path: Path) -> None:
    """provledger.verify.SeenCheckpoints: what `verify --seen DIR` keeps, as a
    library feature; a rollback to an older bundle is refused after it."""
    from provledger.verify import SeenCheckpoints

    w = make_world(tmp_path / "l.db")
    item = w.issue("S-1")
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    old = w.ledger.export(item)
    w.add(w.workshop, item, pl.RepairRecorded(work="Polish", category="service",
                                              performed_by="Workshop", started=1, completed=2))
    w.clock.t += 5
    w.ledger.sign_checkpoint(LOG)
    new = w.ledger.export(item, since=(w.ledger.checkpoints()[0].size,))
    kept = SeenCheckpoints(tmp_path / "seen")
    policy = policy_of(w)
    origin = w.ledger.origin
    assert kept.notes(origin) == ()
    kept.remember(pl.verify_bundle(old, policy=policy, now=w.clock.t).checkpoint)
    report = pl.verify_bundle(new, policy=policy, now=w.clock.t, seen=kept.notes(origin))
    kept.remember(report.checkpoint)
    assert kept.notes(origin) == (report.checkpoint.note,)
    kept.remember(pl.verify_bundle(old, policy=policy, now=w.clock.t).checkpoint)  # older: kept
    assert kept.notes(origin) == (report.checkpoint.note,)
    rejects(pl.StaleCheckpointError, lambda: pl.verify_bundle(
        old, policy=policy, now=w.clock.t, seen=kept.notes(origin)), "rollback")
    w.ledger.close()
