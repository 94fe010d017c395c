"""Published transfer rules (spec/rules.md): publishing, the version a certificate
names, and each rule at its boundary when the piece is offered."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import event, given, settings, strategies as st

import provledger as pl
from provledger._state import encode_state
from provledger._transfer_rules import decode_rules, describe, money

from .aftercare import BUYER, DAY, add, at, plan, refused, request
from .conftest import World, key
from .forge import ForgedLog, standard_log
from .test_history_schema import valid

TR = "transfer rule"
TEXT = hashlib.sha256(b"Resale needs our inspection within 30 days.").digest()
MARKET = key("marketplace")
OTHER_MARKET = key("other marketplace")
T = 1_900_000_000  # log time of the offers under test, far after the setup


def publish(w: World, rules: pl.TransferRules, *, version: int | None = None,
            signer: pl.SigningKey | None = None, chain: pl.SigningKey | None = None) -> bytes:
    issuer = chain or w.jeweler
    current = w.ledger.authority(issuer.public_key).rules
    ev = pl.RulesPublished(version=len(current) + 1 if version is None else version,
                           text=TEXT, rules=rules)
    return add(w, signer or issuer, pl.authority_subject(issuer.public_key), ev)


def issue(w: World, serial: str, rules: int) -> str:
    item = pl.serial_item_id(w.jeweler.public_key, serial)
    add(w, w.jeweler, item, pl.CertificateIssued(kind="ring", serial=serial,
                                                 owner=w.owner.public_key, rules=rules))
    return item


def opened(*, price: int = 1000, currency: str = "EUR", direct: bool = False,
           marketplace: pl.SigningKey | None = MARKET, inspection: int = 14 * DAY,
           at_time: int = T, plans: list[bytes] | None = None) -> pl.EscrowOpened:
    terms = pl.EscrowTerms(price_minor=price, currency=currency, on_timeout="return",
                           direct=direct, plans=plans or [],
                           marketplace=marketplace.public_key if marketplace else None)
    return pl.EscrowOpened(buyer=BUYER.public_key, terms=terms,
                           condition=pl.ConditionReport(grade="good"),
                           offer_expires=at_time + 3600,
                           inspection_ends=0 if direct else at_time + inspection)


def broken(w: World, item: str, ev: pl.EscrowOpened, rule: str, t: int = T) -> str:
    msg = refused(w, pl.TransferRuleError, w.owner, item, ev, f"{TR}: {rule}", t=t)
    assert "rules version 1" in msg
    return msg


def offered(w: World, item: str, ev: pl.EscrowOpened, t: int = T) -> None:
    at(w, t, w.owner, item, ev)
    state = w.ledger.item(item)
    assert state.escrow is not None
    assert state.escrow.state == "offered"


def error_of(w: World, item: str, ev: pl.EscrowOpened, t: int = T) -> pl.TransferRuleError:
    w.clock.t = t
    with pytest.raises(pl.TransferRuleError) as info:
        w.ledger.append(w.sign(w.owner, item, ev))
    return info.value


# -- publishing -------------------------------------------------------------------


def test_publish_records_every_version_with_its_canonical_rules(world: World) -> None:
    rules = pl.TransferRules(inspection_days=30, plans_transfer=True)
    publish(world, rules)
    publish(world, pl.TransferRules())
    kept = world.ledger.authority(world.jeweler.public_key).rules
    assert [r.version for r in kept] == [1, 2]
    assert decode_rules(kept[0].rules) == rules
    assert kept[0].text == TEXT
    assert decode_rules(kept[1].rules) == pl.TransferRules()


@pytest.mark.parametrize("version", [2, 5])
def test_the_first_version_is_1(world: World, version: int) -> None:
    subject = pl.authority_subject(world.jeweler.public_key)
    ev = pl.RulesPublished(version=version, text=TEXT, rules=pl.TransferRules())
    msg = refused(world, pl.PolicyError, world.jeweler, subject, ev)
    assert "version must be 1" in msg


def test_versions_never_skip(world: World) -> None:
    publish(world, pl.TransferRules())
    subject = pl.authority_subject(world.jeweler.public_key)
    for version in (1, 3):
        ev = pl.RulesPublished(version=version, text=TEXT, rules=pl.TransferRules())
        assert "version must be 2" in refused(world, pl.PolicyError, world.jeweler, subject, ev)


def test_only_an_issuer_publishes_and_only_on_its_own_chain(world: World) -> None:
    # A workshop (role service) on its own chain:
    ev = pl.RulesPublished(version=1, text=TEXT, rules=pl.TransferRules())
    msg = refused(world, pl.UnauthorizedError, world.workshop,
                  pl.authority_subject(world.workshop.public_key), ev)
    assert "only an issuer" in msg
    # The jeweler on its workshop's chain, and the workshop on the jeweler's:
    refused(world, pl.UnauthorizedError, world.jeweler,
            pl.authority_subject(world.workshop.public_key), ev)
    refused(world, pl.UnauthorizedError, world.workshop,
            pl.authority_subject(world.jeweler.public_key), ev)


@pytest.mark.parametrize("rules", [
    pl.TransferRules(currency="EUR"),
    pl.TransferRules(appraisal_above=1000, appraisal_days=30),
    pl.TransferRules(appraisal_above=1000, currency="EUR"),
    pl.TransferRules(appraisal_days=30),
    pl.TransferRules(marketplaces=[MARKET.public_key, MARKET.public_key]),
])
def test_inconsistent_rules_are_refused(world: World, rules: pl.TransferRules) -> None:
    ev = pl.RulesPublished(version=1, text=TEXT, rules=rules)
    refused(world, pl.PolicyError, world.jeweler,
            pl.authority_subject(world.jeweler.public_key), ev)


# -- the version a certificate names ------------------------------------------------


def test_a_certificate_names_the_latest_version(world: World) -> None:
    item = pl.serial_item_id(world.jeweler.public_key, "R1")
    cert = pl.CertificateIssued(kind="ring", serial="R1", owner=world.owner.public_key, rules=1)
    msg = refused(world, pl.PolicyError, world.jeweler, item, cert)
    assert "rules must be 0" in msg
    publish(world, pl.TransferRules())
    publish(world, pl.TransferRules(inspection_days=10))
    for wrong in (0, 1, 3):
        bad = pl.CertificateIssued(kind="ring", serial="R1", owner=world.owner.public_key,
                                   rules=wrong)
        assert "rules must be 2" in refused(world, pl.PolicyError, world.jeweler, item, bad)
    assert world.ledger.item(issue(world, "R1", 2)).rules == 2


def test_items_without_rules_keep_their_stored_shape(world: World) -> None:
    item = world.issue("R0")
    add(world, world.workshop, item, pl.RepairRecorded(
        work="Clean", category="cleaning", started=1, completed=2, performed_by="Workshop"))
    state = world.ledger.item(item)
    assert state.rules == 0
    assert state.inspected == 0
    assert b"inspected" not in encode_state(state)


# -- inspection_days ------------------------------------------------------------


def serviced(w: World, item: str, t: int, *, category: str = "service",
             signer: pl.SigningKey | None = None) -> None:
    at(w, t, signer or w.workshop, item, pl.RepairRecorded(
        work="Check claws", category=category,  # type: ignore[arg-type]
        started=t - 10, completed=t - 5, performed_by="Workshop"))


@pytest.fixture
def inspected(world: World) -> tuple[World, str]:
    publish(world, pl.TransferRules(inspection_days=30))
    return world, issue(world, "R1", 1)


def test_inspection_needed(inspected: tuple[World, str]) -> None:
    w, item = inspected
    err = error_of(w, item, opened())
    assert err.rule == "inspection_days"
    assert err.code == "transfer-rule"
    assert "there was none" in str(err)


def test_inspection_exactly_n_days_before_passes(inspected: tuple[World, str]) -> None:
    w, item = inspected
    serviced(w, item, T - 30 * DAY)
    assert w.ledger.item(item).inspected == T - 30 * DAY
    offered(w, item, opened())


def test_inspection_one_second_too_old_is_refused(inspected: tuple[World, str]) -> None:
    w, item = inspected
    serviced(w, item, T - 30 * DAY - 1)
    broken(w, item, opened(), "inspection_days")


@pytest.mark.parametrize("who", ["owner", "resize", "rival issuer's bench"])
def test_what_is_no_inspection(inspected: tuple[World, str], who: str) -> None:
    w, item = inspected
    if who == "owner":
        serviced(w, item, T - DAY, signer=w.owner)
    elif who == "resize":
        serviced(w, item, T - DAY, category="resize")
    else:
        bench = key("rival bench")
        rival = key("rival")
        add(w, w.root, pl.authority_subject(rival.public_key),
            pl.RoleGranted(key=rival.public_key, name="Rival", role="issuer"))
        add(w, rival, pl.authority_subject(bench.public_key),
            pl.RoleGranted(key=bench.public_key, name="Rival Bench", role="service"))
        with pytest.raises(pl.UnauthorizedError):
            serviced(w, item, T - DAY, signer=bench)
    assert w.ledger.item(item).inspected == 0
    broken(w, item, opened(), "inspection_days")


def test_a_multi_step_repair_collected_counts(inspected: tuple[World, str]) -> None:
    w, item = inspected
    r = at(w, T - 5 * DAY, w.owner, item, request(T))
    at(w, T - 5 * DAY + 1, w.workshop, item,
       pl.RepairReceived(repair=r, condition=pl.ConditionReport(grade="worn")))
    at(w, T - 4 * DAY, w.workshop, item, pl.RepairReady(repair=r))
    assert w.ledger.item(item).inspected == 0  # still at the workshop
    at(w, T - 3 * DAY, w.owner, item, pl.RepairCollected(repair=r))
    assert w.ledger.item(item).inspected == T - 3 * DAY
    offered(w, item, opened())


# -- appraisal_above ------------------------------------------------------------


@pytest.fixture
def valued(world: World) -> tuple[World, str]:
    publish(world, pl.TransferRules(appraisal_above=500_000, currency="EUR",
                                    appraisal_days=90))
    return world, issue(world, "R1", 1)


def appraised(w: World, item: str, t: int, signer: pl.SigningKey | None = None) -> None:
    at(w, t, signer or w.workshop, item, pl.AppraisalRecorded(
        method="in_person", currency="EUR", appraiser="Workshop", value_minor=650_000))


def test_below_the_value_needs_no_appraisal(valued: tuple[World, str]) -> None:
    w, item = valued
    offered(w, item, opened(price=499_999))


def test_at_the_value_needs_one(valued: tuple[World, str]) -> None:
    w, item = valued
    msg = broken(w, item, opened(price=500_000), "appraisal_above")
    assert "at or above 500000" in msg


def test_an_appraisal_exactly_d_days_old_passes(valued: tuple[World, str]) -> None:
    w, item = valued
    appraised(w, item, T - 90 * DAY)
    offered(w, item, opened(price=500_000))


def test_an_appraisal_one_second_too_old_or_by_the_owner_fails(
        valued: tuple[World, str]) -> None:
    w, item = valued
    appraised(w, item, T - 90 * DAY - 1)
    appraised(w, item, T - DAY, signer=w.owner)
    broken(w, item, opened(price=2_000_000), "appraisal_above")


def test_another_currency_cannot_be_checked_but_a_gift_can(valued: tuple[World, str]) -> None:
    w, item = valued
    appraised(w, item, T - DAY)
    msg = broken(w, item, opened(price=100, currency="USD"), "appraisal_above")
    assert "cannot be checked" in msg
    offered(w, item, opened(price=0, currency="USD"))


# -- marketplaces -------------------------------------------------------------------


@pytest.fixture
def brokered(world: World) -> tuple[World, str]:
    publish(world, pl.TransferRules(marketplaces=[MARKET.public_key]))
    return world, issue(world, "R1", 1)


def test_a_listed_marketplace_passes(brokered: tuple[World, str]) -> None:
    w, item = brokered
    offered(w, item, opened(marketplace=MARKET))


@pytest.mark.parametrize("market", [OTHER_MARKET, None])
def test_an_unlisted_or_missing_marketplace_fails(brokered: tuple[World, str],
                                                  market: pl.SigningKey | None) -> None:
    w, item = brokered
    broken(w, item, opened(marketplace=market), "marketplaces")


def test_a_direct_handover_names_none(brokered: tuple[World, str]) -> None:
    w, item = brokered
    offered(w, item, opened(direct=True, marketplace=None))


# -- min_inspection -------------------------------------------------------------------


@pytest.fixture
def cooling(world: World) -> tuple[World, str]:
    publish(world, pl.TransferRules(min_inspection=7 * DAY))
    return world, issue(world, "R1", 1)


def test_exactly_the_minimum_inspection_passes(cooling: tuple[World, str]) -> None:
    w, item = cooling
    offered(w, item, opened(inspection=7 * DAY))


def test_one_second_less_fails(cooling: tuple[World, str]) -> None:
    w, item = cooling
    broken(w, item, opened(inspection=7 * DAY - 1), "min_inspection")


def test_a_direct_sale_fails_but_a_direct_gift_passes(cooling: tuple[World, str]) -> None:
    w, item = cooling
    msg = broken(w, item, opened(direct=True, price=1), "min_inspection")
    assert "direct sale" in msg
    offered(w, item, opened(direct=True, price=0))


# -- plans_transfer -------------------------------------------------------------------


def test_the_issuers_plans_go_with_the_piece(world: World) -> None:
    publish(world, pl.TransferRules(plans_transfer=True))
    item = issue(world, "R1", 1)
    start = world.clock.t + 1
    plan_id = add(world, world.jeweler, item, plan(start, start + 400 * DAY, transfer="ends"))
    state = world.ledger.item(item)
    assert state.plans[0].transfer == "with_piece"
    # The offer must list it, as any plan that goes with the piece:
    refused(world, pl.PolicyError, world.owner, item, opened(at_time=start + 10),
            "escrow rule: valid-offer", t=start + 10)
    ev = opened(direct=True, price=0, at_time=start + 10, plans=[plan_id])
    esc = at(world, start + 10, world.owner, item, ev)
    at(world, start + 11, BUYER, item, pl.EscrowAccepted(
        escrow=esc, terms_hash=pl.terms_hash(ev.terms),
        condition_hash=pl.condition_hash(ev.condition)))
    after = world.ledger.item(item)
    assert after.owner == BUYER.public_key
    assert after.plans[0].status == "active"


def test_other_issuers_plans_and_items_without_rules_keep_their_transfer(
        world: World) -> None:
    publish(world, pl.TransferRules(plans_transfer=True))
    item = issue(world, "R2", 1)
    rival = key("rival")
    add(world, world.root, pl.authority_subject(rival.public_key),
        pl.RoleGranted(key=rival.public_key, name="Rival", role="issuer"))
    start = world.clock.t + 1
    add(world, rival, item, plan(start, start + 400 * DAY, transfer="ends"))
    assert world.ledger.item(item).plans[0].transfer == "ends"


# -- a piece keeps the rules it was issued under ----------------------------------------


def test_later_stricter_rules_do_not_bind_older_pieces(world: World) -> None:
    publish(world, pl.TransferRules(min_inspection=DAY))
    ring = issue(world, "R1", 1)
    publish(world, pl.TransferRules(min_inspection=30 * DAY, inspection_days=7))
    newer = issue(world, "R2", 2)
    assert world.ledger.item(ring).rules == 1
    offered(world, ring, opened(inspection=DAY))
    err = error_of(world, newer, opened(inspection=DAY))
    assert err.rule == "inspection_days"
    assert "rules version 2" in str(err)


# -- plain language -------------------------------------------------------------------


def test_describe_says_each_rule() -> None:
    rules = pl.TransferRules(inspection_days=30, appraisal_above=500_000, currency="EUR",
                             appraisal_days=90, plans_transfer=True,
                             marketplaces=[MARKET.public_key], min_inspection=7 * DAY)
    text = describe(rules)
    assert len(text) == 5
    assert "within the 30 days before the offer" in text[0]
    assert "5,000.00 EUR" in text[1]
    assert "90 days" in text[1]
    assert "care plans go with the piece" in text[2]
    assert pl.format_public_key(MARKET.public_key) in text[3]
    assert "at least 7 days" in text[4]
    assert describe(pl.TransferRules()) == ["No rule: the piece may be sold like any other."]
    assert money(12_345, "JPY") == "12,345 JPY"


# -- forged bundles -------------------------------------------------------------------


def forged_sale(*, hide_rules: bool = False, issue_under: int = 1,
                inspected: bool = True) -> tuple[ForgedLog, str, list[int]]:
    """A forged log: rules v1 published, a ring issued under ``issue_under``,
    optionally serviced, then offered; returns the log, the item and the log
    indexes a bundle carries (without the rules.published if ``hide_rules``)."""
    log = standard_log()
    jeweler, workshop, owner = key("jeweler"), key("workshop"), key("owner")
    published = log.add(jeweler, pl.authority_subject(jeweler.public_key), pl.RulesPublished(
        version=1, text=TEXT, rules=pl.TransferRules(inspection_days=30)))
    item = pl.serial_item_id(jeweler.public_key, "R1")
    log.add(jeweler, item, pl.CertificateIssued(kind="ring", serial="R1",
                                                owner=owner.public_key, rules=issue_under))
    if inspected:
        log.add(workshop, item, pl.RepairRecorded(work="Check", category="service", started=1,
                                                  completed=2, performed_by="Workshop"))
    log.add(owner, item, opened(at_time=log.t + 1, marketplace=None))
    carried = [i for i in range(len(log.entries)) if not (hide_rules and i == published)]
    return log, item, carried


def verify_forged(log: ForgedLog, item: str, indexes: list[int]) -> pl.History:
    cp = log.checkpoint()
    return pl.verify_bundle(log.bundle(item, cp, indexes=indexes), policy=log.policy(),
                            now=log.t + 1)


def test_an_honest_forged_bundle_reports_the_rules_met() -> None:
    log, item, carried = forged_sale()
    history = verify_forged(log, item, carried)
    assert history.rules is not None
    assert history.rules.version == 1
    document = valid(history.to_json())
    assert document["rules"]["plain"] == [
        "A sale needs an inspection or service by a workshop the issuer authorized within "
        "the 30 days before the offer."]
    assert document["rules"]["rules"] == {"inspection_days": 30}
    assert document["rules"]["sales_met"] == []


def test_a_bundle_hiding_the_rules_published_is_incomplete() -> None:
    log, item, carried = forged_sale(hide_rules=True)
    with pytest.raises(pl.IncompleteHistoryError) as info:
        verify_forged(log, item, carried)
    assert info.value.check == "completeness"


def test_a_log_that_issued_outside_the_rules_fails_the_replay() -> None:
    log, item, carried = forged_sale(issue_under=0)
    with pytest.raises(pl.PolicyError, match="rules must be 1") as info:
        verify_forged(log, item, carried)
    assert info.value.check == "rules"


def test_a_log_that_admitted_a_sale_breaking_the_rules_fails_the_replay() -> None:
    log, item, carried = forged_sale(inspected=False)
    with pytest.raises(pl.TransferRuleError) as info:
        verify_forged(log, item, carried)
    assert info.value.check == "rules"
    assert info.value.rule == "inspection_days"


# -- model-based: any rules, any offer, against a model written from spec/rules.md ------

M1, M2 = key("market one"), key("market two")


@st.composite
def transfer_rules(draw: st.DrawFn) -> pl.TransferRules:
    above = draw(st.sampled_from([0, 1, 500_000]))
    return pl.TransferRules(
        inspection_days=draw(st.sampled_from([0, 1, 30])),
        appraisal_above=above, currency="EUR" if above else None,
        appraisal_days=draw(st.sampled_from([1, 90])) if above else 0,
        marketplaces=[M1.public_key] if draw(st.booleans()) else [],
        min_inspection=draw(st.sampled_from([0, 2 * 3600, 7 * DAY])),
        plans_transfer=draw(st.booleans()))


#: Ages (seconds before the offer) around each rule's boundaries; None: never.
AGES = st.one_of(st.none(), st.sampled_from(
    [0, DAY, DAY + 1, 30 * DAY, 30 * DAY + 1, 90 * DAY, 90 * DAY + 1, 100 * DAY]))


def model(rules: pl.TransferRules, *, serviced: int | None, appraised: int | None,
          price: int, currency: str, direct: bool, market: pl.SigningKey | None,
          inspect_for: int) -> str | None:
    """The rule spec/rules.md section 3 says the offer breaks first (None: none)."""
    if rules.inspection_days and (serviced is None or serviced > rules.inspection_days * DAY):
        return "inspection_days"
    if rules.appraisal_above and price > 0 and (currency != rules.currency or (
            price >= rules.appraisal_above
            and (appraised is None or appraised > rules.appraisal_days * DAY))):
        return "appraisal_above"
    if rules.marketplaces and not direct and market is not M1:
        return "marketplaces"
    if rules.min_inspection and ((direct and price > 0)
                                 or (not direct and inspect_for < rules.min_inspection)):
        return "min_inspection"
    return None


@settings(max_examples=200, deadline=None)
@given(rules=transfer_rules(), serviced=AGES, appraised=AGES,
       price=st.sampled_from([0, 1, 499_999, 500_000, 2_000_000]),
       currency=st.sampled_from(["EUR", "USD"]), direct=st.booleans(),
       market=st.sampled_from([None, M1, M2]),
       inspect_for=st.sampled_from([3601, 2 * 3600 - 1, 2 * 3600, 7 * DAY - 1, 7 * DAY]))
def test_the_rules_decide_as_the_model_says(rules: pl.TransferRules, serviced: int | None,
                                            appraised: int | None, price: int, currency: str,
                                            direct: bool, market: pl.SigningKey | None,
                                            inspect_for: int) -> None:
    log = standard_log()
    jeweler, workshop, owner = key("jeweler"), key("workshop"), key("owner")
    log.add(jeweler, pl.authority_subject(jeweler.public_key),
            pl.RulesPublished(version=1, text=TEXT, rules=rules))
    item = pl.serial_item_id(jeweler.public_key, "R1")
    log.add(jeweler, item, pl.CertificateIssued(kind="ring", serial="R1",
                                                owner=owner.public_key, rules=1))
    when = log.t + 200 * DAY
    records: list[tuple[int, pl.Event]] = []
    if serviced is not None:
        records.append((when - serviced, pl.RepairRecorded(
            work="Check", category="service", started=1, completed=2, performed_by="W")))
    if appraised is not None:
        records.append((when - appraised, pl.AppraisalRecorded(
            method="lab", currency="EUR", appraiser="W", value_minor=1)))
    for t, ev in sorted(records, key=lambda r: r[0]):
        log.t = t - 1
        log.add(workshop, item, ev)
    log.t = when - 1
    log.add(owner, item, opened(price=price, currency=currency, direct=direct,
                                marketplace=market, inspection=inspect_for, at_time=when))
    expected = model(rules, serviced=serviced, appraised=appraised, price=price,
                     currency=currency, direct=direct, market=market, inspect_for=inspect_for)
    event(f"refused by {expected}" if expected else "accepted")
    if expected is None:
        history = verify_forged(log, item, list(range(len(log.entries))))
        assert history.status == "in escrow"
    else:
        with pytest.raises(pl.TransferRuleError) as info:
            verify_forged(log, item, list(range(len(log.entries))))
        assert info.value.rule == expected
