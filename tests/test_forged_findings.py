"""Issue 11's findings played by a dishonest log (tests/forge.py): it appends
what the rules forbid and proves it correctly, so only the verifier's replay
of protocol.md section 6 and escrow.md can refuse the bundle."""

from __future__ import annotations

import pytest

import provledger as pl

from .conftest import key
from .forge import ForgedLog, standard_log, statement_hash
from .test_bundle import policy_of, rejects


def _verify(log: ForgedLog, item: str) -> pl.Report:
    return pl.verify_bundle(log.bundle(item, log.checkpoint()), policy=policy_of(log), now=log.t)


def _ring(log: ForgedLog, serial: str = "R-1") -> str:
    item = pl.serial_item_id(key("jeweler").public_key, serial)
    log.add(key("jeweler"), item, pl.CertificateIssued(kind="ring", serial=serial,
                                                       owner=key("owner").public_key))
    return item


def test_finding_1_a_logged_recertification_fails_the_bundle() -> None:
    """The log took a second cert.issued (prev = the head) resetting a stolen
    ring to active with the thief as owner."""
    log = standard_log()
    item = _ring(log)
    log.add(key("insurer"), item, pl.StolenReported(reference="CLAIM-1"))
    log.add(key("jeweler"), item, pl.CertificateIssued(kind="ring", serial="R-1",
                                                       owner=key("thief").public_key))
    rejects(pl.StateError, lambda: _verify(log, item), "certified once")


@pytest.mark.parametrize(("takeover", "said"), [("role-on-foreign-chain", "created"),
                                               ("revoke-foreign-key", "may not"),
                                               ("grant-on-root-chain", "root's own key")])
def test_finding_2_a_logged_takeover_fails_the_bundle(takeover: str, said: str) -> None:
    """A rogue issuer's grab for another issuer's workshop or the root's
    chain, accepted by the log, is refused by the verifier's replay."""
    log = standard_log()
    rogue = key("rogue")
    log.grant(log.root, rogue, "issuer", "Rogue")
    item = _ring(log)
    workshop = pl.authority_subject(key("workshop").public_key)
    if takeover == "role-on-foreign-chain":
        log.add(rogue, workshop, pl.RoleGranted(key=key("workshop").public_key,
                                                name="Workshop", role="reporter"))
    elif takeover == "revoke-foreign-key":
        log.add(rogue, workshop, pl.KeyRevoked(key=key("workshop").public_key,
                                               compromised_since=0))
    else:
        log.add(rogue, pl.authority_subject(log.root.public_key),
                pl.RoleGranted(key=log.root.public_key, name="Root", role="service"))
        item = _ring(log, "R-2")
    log.add(key("workshop"), item, pl.RepairRecorded(
        work="Polish", category="service", performed_by="Workshop", started=1, completed=2))
    rejects(pl.UnauthorizedError, lambda: _verify(log, item), said)


def test_finding_5_a_logged_variant_id_fails_the_bundle() -> None:
    """The log took a certificate under a non-canonical spelling of a GS1 id
    and one under another issuer's URN tag."""
    log = standard_log()
    rogue = key("rogue")
    log.grant(log.root, rogue, "issuer", "Rogue")
    variant = "https://Shop.example/01/09506000134352/21/R-1"
    log.add(rogue, variant, pl.CertificateIssued(kind="ring", serial="R-1",
                                                 gtin="09506000134352",
                                                 owner=key("thief").public_key))
    rejects(pl.NonCanonicalItemIdError, lambda: _verify(log, variant),
            "use https://shop.example/")
    squatted = pl.serial_item_id(key("jeweler").public_key, "R-9")
    log.add(rogue, squatted, pl.CertificateIssued(kind="ring", serial="R-9",
                                                  owner=key("thief").public_key))
    rejects(pl.OutOfScopeError, lambda: _verify(log, squatted), "tag")


def test_finding_6_a_logged_loss_report_during_an_escrow_fails_the_bundle() -> None:
    """The log let the seller report the piece lost after the buyer accepted."""
    log = standard_log()
    item = _ring(log)
    terms = pl.EscrowTerms(price_minor=100_000, currency="EUR", on_timeout="return")
    condition = pl.ConditionReport(grade="excellent")
    opened = log.add(key("owner"), item, pl.EscrowOpened(
        buyer=key("buyer").public_key, terms=terms, condition=condition,
        offer_expires=log.t + 3600, inspection_ends=log.t + 7200))
    escrow = statement_hash(log.statements[opened])
    log.add(key("buyer"), item, pl.EscrowAccepted(
        escrow=escrow, terms_hash=pl.terms_hash(terms), condition_hash=pl.condition_hash(
            condition)))
    log.add(key("owner"), item, pl.LostReported())
    rejects(pl.StateError, lambda: _verify(log, item), "no-loss-in-escrow")
