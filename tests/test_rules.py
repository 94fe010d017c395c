"""The rules of protocol.md section 6: who may append what, and what it changes."""

from __future__ import annotations

import pytest

import provledger as pl

from .conftest import World, grant, key, snapshot


def repair(t: int = 0) -> pl.RepairRecorded:
    return pl.RepairRecorded(work="Polish", category="service", performed_by="Workshop",
                             started=t, completed=t)


def refused(w: World, error: type[pl.ProvLedgerError], signer: pl.SigningKey, subject: str,
            event: pl.Event, match: str | None = None) -> None:
    """Appending must raise exactly ``error`` and leave the database as it was."""
    before = snapshot(w.path)
    with pytest.raises(error, match=match) as info:
        w.ledger.append(w.sign(signer, subject, event))
    assert type(info.value) is error
    assert snapshot(w.path) == before


def test_issue_sets_issuer_owner_and_status(world: World) -> None:
    item = world.issue("R1")
    state = world.ledger.item(item)
    assert state.owner == world.owner.public_key
    assert state.status == "active"
    assert state.issuer == pl.authority_subject(world.jeweler.public_key)
    assert state.certificate == world.ledger.history(item)[0].hash


@pytest.mark.parametrize("who", ["workshop", "gemologist", "insurer", "owner", "root"])
def test_only_issuers_certify(world: World, who: str) -> None:
    signer = getattr(world, who)
    error = pl.UnauthorizedError if who != "owner" else pl.UnknownKeyError
    refused(world, error, signer, "urn:x-test:item-9",
            pl.CertificateIssued(kind="ring", serial="9", owner=world.owner.public_key))


def test_repairs_need_the_owner_or_an_authorized_service_provider(world: World) -> None:
    item = world.issue("R1")
    world.add(world.workshop, item, repair())
    world.add(world.owner, item, repair())
    refused(world, pl.UnauthorizedError, world.gemologist, item, repair(), "service provider")
    refused(world, pl.UnknownKeyError, key("stranger"), item, repair())
    # A service provider authorized by another issuer may not touch this issuer's items.
    other = key("other-jeweler")
    grant(world, world.root, other, "issuer", "Other")
    other_shop = key("other-shop")
    grant(world, other, other_shop, "service", "Other shop")
    refused(world, pl.UnauthorizedError, other_shop, item, repair())


def test_lost_stolen_recovered(world: World) -> None:
    item = world.issue("R1")
    refused(world, pl.UnauthorizedError, world.jeweler, item, pl.LostReported())
    world.add(world.owner, item, pl.LostReported())
    refused(world, pl.StateError, world.owner, item, pl.LostReported())
    refused(world, pl.UnauthorizedError, world.owner, item, pl.StolenReported())
    world.add(world.insurer, item, pl.StolenReported(reference="X-1"))
    assert world.ledger.item(item).status == "stolen"
    refused(world, pl.StateError, world.jeweler, item, pl.StolenReported())
    refused(world, pl.UnauthorizedError, world.owner, item, pl.Recovered())
    world.add(world.jeweler, item, pl.Recovered())
    assert world.ledger.item(item).status == "active"
    refused(world, pl.StateError, world.jeweler, item, pl.Recovered())
    world.add(world.owner, item, pl.LostReported())
    world.add(world.owner, item, pl.Recovered())
    assert world.ledger.item(item).status == "active"


def test_revoked_certificate_closes_the_chain(world: World) -> None:
    item = world.issue("R1")
    refused(world, pl.UnauthorizedError, world.workshop, item, pl.CertificateRevoked(reason="x"))
    world.add(world.jeweler, item, pl.CertificateRevoked(reason="withdrawn"))
    for signer, event in ((world.workshop, repair()), (world.owner, pl.LostReported()),
                          (world.jeweler, pl.CertificateRenewed(reason="again"))):
        refused(world, pl.StateError, signer, item, event, "revoked")


def test_attestation_binds_the_certificate_and_the_attester_role(world: World) -> None:
    item = world.issue("R1")
    cert = world.ledger.item(item).certificate
    refused(world, pl.PolicyError, world.gemologist, item,
            pl.CertificateAttested(capacity="gemologist", certificate=bytes(32)))
    refused(world, pl.UnauthorizedError, world.workshop, item,
            pl.CertificateAttested(capacity="appraiser", certificate=cert))
    world.add(world.gemologist, item, pl.CertificateAttested(capacity="gemologist",
                                                              certificate=cert))
    refused(world, pl.StateError, world.gemologist, item,
            pl.CertificateAttested(capacity="gemologist", certificate=cert))
    assert world.ledger.item(item).attested_by == (
        pl.authority_subject(world.gemologist.public_key),)


def test_role_grants_follow_the_hierarchy(world: World) -> None:
    shop = key("shop2")
    sub = pl.authority_subject(shop.public_key)
    refused(world, pl.UnauthorizedError, world.workshop, sub,
            pl.RoleGranted(key=shop.public_key, name="x", role="service"))
    refused(world, pl.UnauthorizedError, world.jeweler, sub,
            pl.RoleGranted(key=shop.public_key, name="x", role="issuer"))
    refused(world, pl.PolicyError, world.jeweler, "provledger:authority:" + "00" * 32,
            pl.RoleGranted(key=shop.public_key, name="x", role="service"), "chain id")
    refused(world, pl.PolicyError, world.jeweler, pl.authority_subject(world.owner.public_key),
            pl.RoleGranted(key=world.workshop.public_key, name="x", role="service"))
    grant(world, world.jeweler, shop, "service", "Shop 2")
    refused(world, pl.StateError, world.jeweler, sub,
            pl.RoleGranted(key=shop.public_key, name="x", role="service"), "already")


def test_role_revocation_stops_the_role(world: World) -> None:
    item = world.issue("R1")
    ws = pl.authority_subject(world.workshop.public_key)
    refused(world, pl.UnauthorizedError, world.root, ws, pl.RoleRevoked(role="service"))
    world.add(world.jeweler, ws, pl.RoleRevoked(role="service"))
    refused(world, pl.UnauthorizedError, world.workshop, item, repair())


def test_rotation_moves_authority_to_the_new_key(world: World) -> None:
    item = world.issue("R1")
    new = key("workshop-new")
    ws = pl.authority_subject(world.workshop.public_key)
    refused(world, pl.UnauthorizedError, world.jeweler, ws, pl.KeyRotated(new_key=new.public_key))
    refused(world, pl.PolicyError, world.workshop, ws,
            pl.KeyRotated(new_key=world.jeweler.public_key), "already in use")
    world.add(world.workshop, ws, pl.KeyRotated(new_key=new.public_key))
    refused(world, pl.RevokedKeyError, world.workshop, item, repair())
    world.add(new, item, repair())
    assert world.ledger.authority(new.public_key).subject == ws
    assert world.ledger.authority(world.workshop.public_key).key == new.public_key


def test_revocation_cuts_off_and_invalidates_after_the_cut_off(world: World) -> None:
    item = world.issue("R1")
    world.add(world.workshop, item, repair())
    cut = world.clock.t + 1
    bad = world.add(world.workshop, item, repair())  # the "attacker" at the cut-off
    ws = pl.authority_subject(world.workshop.public_key)
    refused(world, pl.UnauthorizedError, world.gemologist, ws,
            pl.KeyRevoked(key=world.workshop.public_key, compromised_since=cut))
    world.add(world.jeweler, ws, pl.KeyRevoked(key=world.workshop.public_key,
                                               compromised_since=cut))
    refused(world, pl.RevokedKeyError, world.workshop, item, repair())
    report = world.ledger.audit()
    assert [i.index for i in report.invalidated] == [bad.index]
    events = pl.item_report(world.ledger, item).events
    assert [e.invalidated for e in events] == [False, False, True]
    # The granter re-keys the authority; the new key works.
    new = key("workshop-rekeyed")
    world.add(world.jeweler, ws, pl.RoleGranted(key=new.public_key, name="Workshop",
                                                role="attester"))
    world.add(new, item, repair())


def test_root_rotation(world: World) -> None:
    new_root = key("root-2")
    root_chain = pl.authority_subject(world.root.public_key)
    world.add(world.root, root_chain, pl.KeyRotated(new_key=new_root.public_key))
    shop = key("j2")
    refused(world, pl.RevokedKeyError, world.root, pl.authority_subject(shop.public_key),
            pl.RoleGranted(key=shop.public_key, name="J2", role="issuer"))
    grant(world, new_root, shop, "issuer", "J2")
    assert world.ledger.audit().size == len(world.ledger)


def test_wrong_log_chain_clock_and_subject_kind(world: World) -> None:
    item = world.issue("R1")
    before = snapshot(world.path)
    stmt = pl.sign_statement(pl.LostReported(), key=world.owner, origin="other.example/log",
                             subject=item, prev=world.ledger.head(item), time=world.clock.t)
    with pytest.raises(pl.WrongLogError):
        world.ledger.append(stmt)
    with pytest.raises(pl.ChainError):
        world.ledger.append(world.sign(world.owner, item, pl.LostReported(), prev=None))
    with pytest.raises(pl.ClockError):
        world.ledger.append(world.sign(world.owner, item, pl.LostReported(),
                                       time=world.clock.t + 301))
    with pytest.raises(pl.PolicyError, match="authority chain"):
        world.ledger.append(world.sign(world.owner, pl.authority_subject(world.owner.public_key),
                                       pl.LostReported()))
    assert snapshot(world.path) == before


def test_gs1_ids_must_match_the_certificate(world: World) -> None:
    shop = key("gs1-jeweler")
    grant(world, world.root, shop, "issuer", "GS1 Jeweler", gs1_prefixes=("9506000",),
          domains=("id.example.com",))
    item = pl.gs1_item_id("id.example.com", "09506000134352", "S/1")
    world.add(shop, item, pl.CertificateIssued(
        kind="ring", serial="S/1", gtin="9506000134352", owner=world.owner.public_key))
    assert world.ledger.item(item).status == "active"
    other = pl.gs1_item_id("id.example.com", "09506000134376", "S2")
    refused(world, pl.PolicyError, shop, other, pl.CertificateIssued(
        kind="ring", serial="S3", gtin="09506000134376", owner=world.owner.public_key))


def test_batches_are_all_or_nothing(world: World) -> None:
    item = world.issue("R1")
    good = world.sign(world.workshop, item, repair())
    before = snapshot(world.path)
    bad = world.sign(world.jeweler, item, pl.LostReported(), prev=bytes(32))
    with pytest.raises(pl.ChainError) as info:
        world.ledger.append_batch([good, bad])
    assert info.value.batch_index == 1
    assert snapshot(world.path) == before
    with pytest.raises(pl.DuplicateStatementError):
        world.ledger.append_batch([good, good])
    assert snapshot(world.path) == before
    # Chained statements within one batch are fine.
    first = pl.verify_statement(good)
    second = pl.sign_statement(repair(1), key=world.workshop, origin=world.ledger.origin,
                               subject=item, prev=first.hash, time=world.clock.t)
    records = world.ledger.append_batch([good, second])
    assert [r.index for r in records] == [records[0].index, records[0].index + 1]
    assert records[0].time == records[1].time


def test_helpers_for_item_ids() -> None:
    assert pl.gs1_item_id("id.example.com", "9506000134352", "A/1") == \
        "https://id.example.com/01/09506000134352/21/A%2F1"
    with pytest.raises(ValueError, match="check digit"):
        pl.gs1_item_id("id.example.com", "09506000134353", "A1")
    with pytest.raises(ValueError, match="serial"):
        pl.serial_item_id(bytes(32), "has space")
    assert pl.serial_item_id(bytes(32), "A1").startswith("urn:provledger:item:")
