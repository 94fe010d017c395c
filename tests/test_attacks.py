"""Regression tests for the attacks of issue 11, against spec/protocol.md 6.2-6.4.

(1) re-certification: a second cert.issued on a certified item is refused,
    whoever signs it, whatever its prev;
(2) authority takeover: an issuer cannot touch a chain it did not create (add
    or revoke a role, revoke or replace a key, re-key it, rotate its key), nor
    the root's chain;
(4) revocation: a creator's revocation with a cut-off at or before a rotation
    voids the rotated-to key; entries signed before the cut-off stand; a thief
    who rotated a stolen key to their own loses it; what rests on an
    invalidated entry falls with it.

Each refusal must leave the database byte for byte as it was. The CLI is
exercised where tests/test_cli.py's shop makes it cheap.
"""

from __future__ import annotations

import time

import pytest

import provledger as pl
from provledger._note import NoteVerifier

from .conftest import World, grant, key, snapshot
from .test_cli import Shop, assert_error, base_shop, shop  # noqa: F401 - pytest fixtures

LOG = key("log")
ROGUE = key("rogue-issuer")
ROGUE_SHOP = key("rogue-shop")


def repair() -> pl.RepairRecorded:
    return pl.RepairRecorded(work="Polish", category="service", performed_by="Workshop",
                             started=0, completed=0)


def chain(k: pl.SigningKey) -> str:
    return pl.authority_subject(k.public_key)


def refused(w: World, error: type[pl.ProvLedgerError], signer: pl.SigningKey, subject: str,
            event: pl.Event, *, prev: bytes | str | None = "head") -> None:
    """Appending must raise ``error`` (or a subclass) and change nothing at all."""
    before = snapshot(w.path)
    size = len(w.ledger)
    w.clock.t += 1
    with pytest.raises(pl.ProvLedgerError) as info:
        w.ledger.append(w.sign(signer, subject, event, prev=prev))
    assert isinstance(info.value, error), f"{type(info.value).__name__}: {info.value}"
    assert len(w.ledger) == size
    assert snapshot(w.path) == before


def with_rogue(w: World) -> None:
    """The root also creates a rogue issuer, which creates its own workshop."""
    grant(w, w.root, ROGUE, "issuer", "Rogue Jeweler")
    grant(w, ROGUE, ROGUE_SHOP, "service", "Rogue Workshop")


def policy(w: World) -> pl.Policy:
    return pl.Policy(logs=(NoteVerifier(w.ledger.origin, LOG.public_key),),
                     roots=(w.root.public_key,))


def bundle(w: World, item: str) -> bytes:
    w.clock.t += 1
    w.ledger.sign_checkpoint(LOG)
    return w.ledger.export(item)


# -- (1) re-certification ------------------------------------------------------------


@pytest.mark.parametrize("who", ["jeweler", "rogue"])
def test_a_certified_item_cannot_be_certified_again(world: World, who: str) -> None:
    with_rogue(world)
    item = world.issue("R1")
    signer = ROGUE if who == "rogue" else world.jeweler
    thief = key("thief")
    # prev = the item's head: the chain link is right, the rule is not.
    refused(world, pl.StateError, signer, item,
            pl.CertificateIssued(kind="ring", serial="R1", owner=thief.public_key))
    state = world.ledger.item(item)
    assert (state.owner, state.issuer) == (world.owner.public_key, chain(world.jeweler))
    assert len(world.ledger.history(item)) == 1


def test_recertification_after_a_rotation_is_refused_too(world: World) -> None:
    """The issuer's new key is no more entitled to a second genesis than its old one."""
    item = world.issue("R1")
    new = key("jeweler-2")
    world.add(world.jeweler, chain(world.jeweler), pl.KeyRotated(new_key=new.public_key))
    refused(world, pl.StateError, new, item,
            pl.CertificateIssued(kind="ring", serial="R1", owner=new.public_key))


def test_cli_refuses_a_second_issue_of_the_same_serial(shop: Shop) -> None:  # noqa: F811
    size = shop.ledger_size()
    assert_error(shop.run("issue", "--key", shop / "maison.key", "--serial", "R-1001",
                          "--kind", "ring", "--owner", shop / "maison.pub"), 3)
    assert shop.ledger_size() == size
    assert shop.json("history", shop.item)["owner"] == (shop / "client.pub").read_text().strip()


# -- (2) authority takeover ------------------------------------------------------------


def authority_states(w: World) -> list[pl.AuthorityState]:
    return [w.ledger.authority(k.public_key)
            for k in (w.jeweler, w.workshop, w.gemologist, w.insurer, ROGUE)]


TAKEOVERS = {
    "add a role to another issuer's workshop": lambda w: (
        chain(w.workshop), pl.RoleGranted(key=w.workshop.public_key, name="x", role="reporter")),
    "add a role to another issuer": lambda w: (
        chain(w.jeweler), pl.RoleGranted(key=w.jeweler.public_key, name="x", role="service")),
    "revoke a role of another issuer's workshop": lambda w: (
        chain(w.workshop), pl.RoleRevoked(role="service")),
    "revoke another issuer's role": lambda w: (chain(w.jeweler), pl.RoleRevoked(role="issuer")),
    "revoke another issuer's key": lambda w: (
        chain(w.jeweler), pl.KeyRevoked(key=w.jeweler.public_key, compromised_since=0)),
    "revoke another issuer's workshop's key": lambda w: (
        chain(w.workshop), pl.KeyRevoked(key=w.workshop.public_key, compromised_since=0)),
    "revoke the root's key": lambda w: (
        chain(w.root), pl.KeyRevoked(key=w.root.public_key, compromised_since=0)),
    "revoke a role on the root's chain": lambda w: (chain(w.root), pl.RoleRevoked(role="issuer")),
    "grant on the root's chain": lambda w: (
        chain(w.root), pl.RoleGranted(key=w.root.public_key, name="x", role="issuer")),
    "grant on the root's chain with its own key": lambda w: (
        chain(w.root), pl.RoleGranted(key=ROGUE.public_key, name="x", role="service")),
    "rotate another issuer's key": lambda w: (
        chain(w.jeweler), pl.KeyRotated(new_key=key("rogue-2").public_key)),
    "rotate another issuer's workshop's key": lambda w: (
        chain(w.workshop), pl.KeyRotated(new_key=key("rogue-2").public_key)),
    "rotate the root's key": lambda w: (
        chain(w.root), pl.KeyRotated(new_key=key("rogue-2").public_key)),
}


@pytest.mark.parametrize("attack", list(TAKEOVERS))
def test_the_rogue_issuer_cannot_touch_chains_it_did_not_create(world: World,
                                                                 attack: str) -> None:
    with_rogue(world)
    before = authority_states(world)
    subject, event = TAKEOVERS[attack](world)
    refused(world, pl.UnauthorizedError, ROGUE, subject, event)
    assert authority_states(world) == before


def test_the_rogue_cannot_rekey_a_keyless_authority_it_did_not_create(world: World) -> None:
    with_rogue(world)
    ws = chain(world.workshop)
    world.add(world.jeweler, ws, pl.KeyRevoked(key=world.workshop.public_key,
                                               compromised_since=world.clock.t))
    assert world.ledger.authority(world.workshop.public_key).key is None
    mine = key("rogue-controlled")
    for signer in (ROGUE, world.root):  # the root did not create the workshop either
        refused(world, pl.UnauthorizedError, signer, ws,
                pl.RoleGranted(key=mine.public_key, name="Workshop", role="attester"))
    assert world.ledger.authority(world.workshop.public_key).key is None
    # Its creator may.
    fresh = key("workshop-rekeyed")
    world.add(world.jeweler, ws, pl.RoleGranted(key=fresh.public_key, name="Workshop",
                                                role="attester"))
    assert world.ledger.authority(fresh.public_key).subject == ws


def test_only_the_creator_revokes_keys_not_a_granter_nor_the_root_nor_the_key(
        world: World) -> None:
    """6.3: key.revoked is signed by A's creator (the old rule also let A's own key
    and any granter of one of A's roles revoke)."""
    ws = chain(world.workshop)
    for signer in (world.root, world.workshop):
        refused(world, pl.UnauthorizedError, signer, ws,
                pl.KeyRevoked(key=world.workshop.public_key, compromised_since=0))
    # A second issuer's grant on the workshop's chain is refused too: it is not the creator.
    other = key("other-jeweler")
    grant(world, world.root, other, "issuer", "Other")
    refused(world, pl.UnauthorizedError, other, ws,
            pl.RoleGranted(key=world.workshop.public_key, name="Workshop", role="reporter"))


def test_role_revocation_by_a_non_creator_is_unauthorized(world: World) -> None:
    """The root did not create the workshop: UnauthorizedError, not StateError."""
    refused(world, pl.UnauthorizedError, world.root, chain(world.workshop),
            pl.RoleRevoked(role="service"))


@pytest.mark.parametrize("since", ["zero", "at the rotation", "after the rotation"])
def test_the_root_revokes_only_retired_root_keys_and_keeps_its_later_ones(
        world: World, since: str) -> None:
    """6.3, last row: "key is revoked from c; the root's later keys stay (its current
    key vouches for them)", whatever c is. (6.4.1's closure, read alone, would void
    the rotation signed by the old key at or after c, and with it the root's current
    key: the root would revoke itself out of existence.)"""
    root = chain(world.root)
    refused(world, pl.StateError, world.root, root,
            pl.KeyRevoked(key=world.root.public_key, compromised_since=0))
    new = key("root-2")
    rotation = world.add(world.root, root, pl.KeyRotated(new_key=new.public_key))
    cs = {"zero": 0, "at the rotation": rotation.time,
          "after the rotation": rotation.time + 1}[since]
    world.clock.t += 1
    world.add(new, root, pl.KeyRevoked(key=world.root.public_key, compromised_since=cs))
    grant(world, new, key("late-jeweler"), "issuer", "Late")
    assert world.ledger.authority(new.public_key).key == new.public_key
    world.ledger.audit()


def test_cli_rogue_cannot_deauthorize_another_issuers_workshop(shop: Shop) -> None:  # noqa: F811
    shop.ok("key", "new", "rogue", "--dir", shop.dir)
    shop.ok("authorize", "--key", shop / "rings-keys/root.key", "--role", "issuer",
            "--name", "Rogue", shop / "rogue.pub")
    size = shop.ledger_size()
    assert_error(shop.run("deauthorize", "--key", shop / "rogue.key", "--role", "service",
                          shop / "atelier.pub"), 3)
    assert_error(shop.run("key", "revoke", "--key", shop / "rogue.key", shop / "atelier.pub",
                          "--since", "2020-01-01"), 3)
    assert shop.ledger_size() == size


# -- (4) revocation --------------------------------------------------------------------


def test_revoking_a_key_since_before_its_rotation_voids_the_rotated_key(
        world: World) -> None:
    early = world.issue("R-EARLY")                       # before the cut-off: stays valid
    world.clock.t += 10
    cut = world.clock.t
    j2 = key("jeweler-2")
    rotation = world.add(world.jeweler, chain(world.jeweler),
                         pl.KeyRotated(new_key=j2.public_key))
    late = pl.serial_item_id(world.jeweler.public_key, "R-LATE")
    late_rec = world.add(j2, late, pl.CertificateIssued(kind="ring", serial="R-LATE",
                                                         owner=world.owner.public_key))
    world.add(world.root, chain(world.jeweler),
              pl.KeyRevoked(key=world.jeweler.public_key, compromised_since=cut))
    # K2 is no longer the issuer's key.
    state = world.ledger.authority(world.jeweler.public_key)
    assert state.key is None
    refused(world, pl.RevokedKeyError, j2, early, pl.CertificateRenewed(reason="x"))
    refused(world, pl.RevokedKeyError, j2, chain(world.jeweler),
            pl.KeyRotated(new_key=key("jeweler-3").public_key))
    # The rotation (signed by K at the cut-off) and K2's certificate are invalidated.
    audit = world.ledger.audit()
    assert {i.index for i in audit.invalidated} == {rotation.index, late_rec.index}
    assert [e.invalidated for e in pl.item_report(world.ledger, late).events] == [True]
    assert [e.invalidated for e in pl.item_report(world.ledger, early).events] == [False]
    # A bundle of the item certified before the cut-off still verifies.
    report = pl.verify_bundle(bundle(world, early), policy=policy(world), now=world.clock.t)
    assert (report.status, report.owner) == ("active", world.owner.public_key)
    # The one certified by the voided key does not (its cert.issued is invalidated).
    with pytest.raises(pl.VerificationError):
        pl.verify_bundle(bundle(world, late), policy=policy(world), now=world.clock.t)


@pytest.mark.parametrize("since", ["zero", "before the theft"])
def test_a_thief_who_rotated_a_stolen_key_loses_it(world: World, since: str) -> None:
    item = world.issue("R1")
    ws = chain(world.workshop)
    world.add(world.workshop, item, repair())            # honest, before the theft
    world.clock.t += 10
    theft = world.clock.t
    thief = key("thief")
    world.add(world.workshop, ws, pl.KeyRotated(new_key=thief.public_key))
    forged = world.add(thief, item, repair())
    world.add(world.jeweler, ws, pl.KeyRevoked(
        key=world.workshop.public_key, compromised_since=0 if since == "zero" else theft))
    assert world.ledger.authority(world.workshop.public_key).key is None
    refused(world, pl.RevokedKeyError, thief, item, repair())
    refused(world, pl.RevokedKeyError, thief, ws, pl.KeyRotated(new_key=key("t2").public_key))
    marks = [e.invalidated for e in pl.item_report(world.ledger, item).events]
    # cert.issued, the honest repair (invalidated only when the cut-off is 0), the thief's.
    assert marks == [False, since == "zero", True]
    assert forged.index in {i.index for i in world.ledger.audit().invalidated}
    # The creator re-keys its workshop; the new key works.
    fresh = key("workshop-new")
    world.add(world.jeweler, ws, pl.RoleGranted(key=fresh.public_key, name="Workshop",
                                                role="attester"))
    world.add(fresh, item, repair())


def test_an_invalidated_theft_report_leaves_the_item_as_its_valid_history_says(
        world: World) -> None:
    """6.4: the insurer's key was compromised since before its theft report; the
    report and the recovery that rested on it are invalidated; the item is active,
    and appends are decided against that state."""
    item = world.issue("R1")
    world.clock.t += 10
    cut = world.clock.t
    stolen = world.add(world.insurer, item, pl.StolenReported(reference="PP-1"))
    recovered = world.add(world.jeweler, item, pl.Recovered())
    world.add(world.owner, item, pl.LostReported())
    world.add(world.jeweler, chain(world.insurer),
              pl.KeyRevoked(key=world.insurer.public_key, compromised_since=cut))
    # With the theft report left out, the recovery had nothing to recover from: it
    # rests on the invalidated entry; the loss report stands.
    audit = world.ledger.audit()
    assert {i.index for i in audit.invalidated} == {stolen.index, recovered.index}
    marks = [e.invalidated for e in pl.item_report(world.ledger, item).events]
    assert marks == [False, True, True, False]
    assert world.ledger.item(item).status == "lost"
    report = pl.verify_bundle(bundle(world, item), policy=policy(world), now=world.clock.t)
    assert report.status == "lost"


def test_an_invalidated_theft_report_alone_leaves_the_item_active(world: World) -> None:
    item = world.issue("R1")
    world.clock.t += 10
    cut = world.clock.t
    world.add(world.insurer, item, pl.StolenReported(reference="PP-1"))
    assert world.ledger.item(item).status == "stolen"
    world.add(world.jeweler, chain(world.insurer),
              pl.KeyRevoked(key=world.insurer.public_key, compromised_since=cut))
    assert world.ledger.item(item).status == "active"
    # Appends are decided against the valid history: the owner may report a loss,
    # and a recovery from a theft that does not stand is refused.
    refused(world, pl.StateError, world.jeweler, item, pl.Recovered())
    world.add(world.owner, item, pl.LostReported())
    report = pl.verify_bundle(bundle(world, item), policy=policy(world), now=world.clock.t)
    assert report.status == "lost"


def test_reaffirmation_makes_an_invalidated_certificate_stand_again(world: World) -> None:
    """An issuer key leaked: its certificates after the cut-off are invalidated; the
    root re-keys the issuer, which reaffirms the piece."""
    world.clock.t += 10
    cut = world.clock.t
    item = world.issue("R1")
    j = chain(world.jeweler)
    world.add(world.root, j, pl.KeyRevoked(key=world.jeweler.public_key, compromised_since=cut))
    with pytest.raises(pl.VerificationError):
        pl.verify_bundle(bundle(world, item), policy=policy(world), now=world.clock.t)
    # Re-keying: the root withdraws the issuer role and grants it again with a new key.
    world.add(world.root, j, pl.RoleRevoked(role="issuer"))
    fresh = key("jeweler-rekeyed")
    world.add(world.root, j, pl.RoleGranted(key=fresh.public_key, name="Jeweler",
                                            role="issuer"))
    cert = world.ledger.item(item).certificate
    world.add(fresh, item, pl.CertificateReaffirmed(certificate=cert))
    report = pl.verify_bundle(bundle(world, item), policy=policy(world), now=world.clock.t)
    assert (report.status, report.owner) == ("active", world.owner.public_key)


def test_a_revocation_signed_by_a_compromised_key_revokes_nothing_in_every_view(
        world: World) -> None:
    """The jeweler revokes its insurer's key since its theft report, so the piece is
    active again and is sold; then the root revokes the jeweler's key since before
    that revocation. The revocation is invalidated, the theft report stands again,
    and the sale rests on it (6.4.2). history, audit, the stored state and the
    verifier must all say so (6.4.3: one function)."""
    buyer = key("buyer")
    item = world.issue("R1")
    stolen = world.add(world.insurer, item, pl.StolenReported(reference="PP-1"))
    revocation = world.add(world.jeweler, chain(world.insurer), pl.KeyRevoked(
        key=world.insurer.public_key, compromised_since=stolen.time))
    assert world.ledger.item(item).status == "active"
    terms = pl.EscrowTerms(price_minor=1, currency="EUR", on_timeout="return", direct=True)
    cond = pl.ConditionReport(grade="good")
    opened = world.add(world.owner, item, pl.EscrowOpened(
        buyer=buyer.public_key, terms=terms, condition=cond, offer_expires=world.clock.t + 100))
    accepted = world.add(buyer, item, pl.EscrowAccepted(
        escrow=opened.hash, terms_hash=pl.terms_hash(terms),
        condition_hash=pl.condition_hash(cond)))
    world.add(world.root, chain(world.jeweler), pl.KeyRevoked(
        key=world.jeweler.public_key, compromised_since=revocation.time))
    marks = {e.index: e.invalidated for e in pl.item_report(world.ledger, item).events}
    genesis = world.ledger.history(item)[0].index
    assert marks == {genesis: False, stolen.index: False, opened.index: True,
                     accepted.index: True}
    report = pl.verify_bundle(bundle(world, item), policy=policy(world), now=world.clock.t)
    assert (report.status, report.owner) == ("stolen", world.owner.public_key)
    assert {i.index for i in world.ledger.audit().invalidated} == {
        revocation.index, opened.index, accepted.index}
    state = world.ledger.item(item)
    assert (state.status, state.owner) == ("stolen", world.owner.public_key)


def test_a_later_revocation_never_narrows_an_earlier_cut_off(world: World) -> None:
    """The root revokes the rogue issuer's key since before it created its reporter:
    the grant is invalidated, so the reporter's key is void from its introduction
    (6.4.1) and its theft report with it. When the root has re-keyed the issuer and
    the issuer also revokes the reporter's key "since now", the cut-off set keeps
    the earlier cut-off: nothing that was invalidated stands again."""
    rogue, rep = key("rogue"), key("rogue-rep")
    grant(world, world.root, rogue, "issuer", "Rogue")
    cut = world.clock.t + 1
    grant(world, rogue, rep, "reporter", "Rep")
    item = pl.serial_item_id(rogue.public_key, "S1")
    world.add(rogue, item, pl.CertificateIssued(kind="ring", serial="S1",
                                                owner=world.owner.public_key))
    stolen = world.add(rep, item, pl.StolenReported())
    world.add(world.root, chain(rogue), pl.KeyRevoked(key=rogue.public_key,
                                                      compromised_since=cut))
    before = {i.index for i in world.ledger.audit().invalidated}
    assert stolen.index in before
    assert world.ledger.item(item).status == "active"
    rekeyed = key("rogue-2")
    world.add(world.root, chain(rogue), pl.RoleGranted(key=rekeyed.public_key, name="Rogue",
                                                       role="issuer"))
    world.add(rekeyed, chain(rep), pl.KeyRevoked(key=rep.public_key,
                                                 compromised_since=world.clock.t + 1000))
    assert before <= {i.index for i in world.ledger.audit().invalidated}
    assert world.ledger.item(item).status == "active"
    marks = [e.invalidated for e in pl.item_report(world.ledger, item).events]
    assert marks == [True, True]


def test_cli_the_root_cuts_off_a_thief_who_rotated_a_stolen_issuer_key(
        shop: Shop) -> None:  # noqa: F811
    """Finding 4 through the CLI: the thief rotates the stolen maison key to
    their own and certifies a fake; the root revokes the stolen key from the
    rotation on. The thief's key is refused, the fake reads UNCONFIRMED, the
    genuine ring is untouched."""
    shop.ok("key", "new", "thief", "--dir", shop.dir)
    time.sleep(1.1)  # the cut-off must fall after the genuine ring's second
    since = str(int(time.time()))
    shop.ok("key", "rotate", "--key", shop / "maison.key", "--new", shop / "thief.pub")
    fake = shop.json("issue", "--key", shop / "thief.key", "--serial", "F-1", "--kind", "ring",
                     "--owner", shop / "thief.pub")["item"]
    shop.ok("key", "revoke", "--key", shop / "rings-keys/root.key", shop / "maison.pub",
            "--since", since)
    size = shop.ledger_size()
    assert_error(shop.run("issue", "--key", shop / "thief.key", "--serial", "F-2", "--kind",
                          "ring", "--owner", shop / "thief.pub"), 1)
    assert shop.ledger_size() == size
    report = shop.json("history", fake)
    assert report["certificate_confirmed"] is False
    assert report["events"][0]["invalidated"] is True
    assert "UNCONFIRMED" in shop.ok("history", fake).stdout
    genuine = shop.json("history", shop.item)
    assert genuine["certificate_confirmed"] is True
    assert not any(e["invalidated"] for e in genuine["events"])
