"""A marketplace's own requirements in the trust policy (spec/bundle.md 4.2):
parsing the `require` lines, and verify_bundle's last check against forged
logs whose times and witnesses the tests set exactly."""

from __future__ import annotations

import re

import pytest

import provledger as pl
from provledger._note import SIG_COSIGNATURE_V1, NoteVerifier
from provledger._policy import Policy, PolicyWitness, Requirement, parse_policy

from .conftest import key
from .forge import ForgedLog, standard_log

DAY = 86_400
JEWELER, GEMOLOGIST, WORKSHOP, OWNER = (key("jeweler"), key("gemologist"), key("workshop"),
                                        key("owner"))
WITNESSES = [(f"w{n}", key(f"req witness {n}")) for n in range(3)]
VERIFIERS = [NoteVerifier(f"{n}.example/w", k.public_key, SIG_COSIGNATURE_V1)
             for n, k in WITNESSES]
HEAD = (f"log {NoteVerifier('test.example/ledger', key('log').public_key).vkey()}\n"
        f"root {pl.format_public_key(key('root').public_key)}\n")


# -- parsing ------------------------------------------------------------------------


def test_the_three_forms_read_and_write_back() -> None:
    text = HEAD + "".join(f"witness {n} {v.vkey()}\n" for (n, _), v in zip(
        WITNESSES, VERIFIERS, strict=True)) + (
        "quorum none\n"
        "require attestation gemologist above 500000 EUR\n"
        "require attestation appraiser max-age 31536000\n"
        "require attestation gemologist max-age 86400 above 1 JPY  # both\n"
        "require witnesses 2\n"
        "require no-pending-recovery\n")
    policy = parse_policy(text)
    assert policy.requirements == (
        Requirement("attestation", capacity="gemologist", above=500_000, currency="EUR"),
        Requirement("attestation", capacity="appraiser", max_age=31_536_000),
        Requirement("attestation", capacity="gemologist", max_age=86_400, above=1,
                    currency="JPY"),
        Requirement("witnesses", count=2),
        Requirement("no-pending-recovery"))
    assert parse_policy(policy.to_text()) == policy
    assert "require attestation gemologist above 500000 EUR\n" in policy.to_text()


@pytest.mark.parametrize(("line", "message"), [
    ("require", "expected `require attestation"),
    ("require attestation", "expected `require attestation"),
    ("require attestation jeweler", "capacity 'jeweler' is not one of gemologist, appraiser"),
    ("require attestation gemologist above 500000", "above takes an amount"),
    ("require attestation gemologist above 0 EUR", "above takes an amount"),
    ("require attestation gemologist above 9007199254740992 EUR", "above takes an amount"),
    ("require attestation gemologist above 5 eur", "currency 'eur' is not three capital"),
    ("require attestation gemologist max-age 0", "max-age takes one positive"),
    ("require attestation gemologist above 5 EUR max-age 9", "unexpected 'max-age'"),
    ("require witnesses", "expected `require attestation"),
    ("require witnesses 0", "witnesses '0': a positive decimal number"),
    ("require witnesses two", "witnesses 'two'"),
    ("require no-pending-recovery now", "expected `require attestation"),
])
def test_bad_require_lines_name_their_line(line: str, message: str) -> None:
    with pytest.raises(pl.DecodeError, match=r"policy line 3: .*" + re.escape(message)):
        parse_policy(HEAD + line + "\n")


def test_repeated_requirements_and_too_many_witnesses_are_refused() -> None:
    with pytest.raises(pl.DecodeError, match="line 4: the same requirement is on line 3"):
        parse_policy(HEAD + "require attestation appraiser\n" * 2)
    with pytest.raises(pl.DecodeError, match="line 4: a second `require witnesses` line "
                                             r"\(the first is line 3\)"):
        parse_policy(HEAD + "require witnesses 1\nrequire witnesses 2\n")
    with pytest.raises(pl.DecodeError, match="count 1 must be between 1 and the 0 witnesses"):
        parse_policy(HEAD + "require witnesses 1\n")


def test_a_policy_built_in_code_is_checked() -> None:
    base = parse_policy(HEAD)
    for bad in (Requirement("attestation", capacity="gemologist", above=5),
                Requirement("attestation", capacity="jeweler"),
                Requirement("witnesses", count=1),
                Requirement("no-pending-recovery", count=1)):
        with pytest.raises(ValueError, match="requirement"):
            Policy(logs=base.logs, roots=base.roots, requirements=(bad,))


# -- checking -----------------------------------------------------------------------


def scene(*, appraise: int | None = None, attest_at: int | None = None,
          offer: int | None = None) -> tuple[ForgedLog, str]:
    """A piece certified by the jeweler, with an optional gemologist attestation
    at log time ``attest_at``, appraisal and open offer (price ``offer`` EUR)."""
    log = standard_log()
    item = pl.serial_item_id(JEWELER.public_key, "R1")
    cert = log.add(JEWELER, item, pl.CertificateIssued(kind="ring", serial="R1",
                                                       owner=OWNER.public_key))
    if attest_at is not None:
        log.t = attest_at - 1
        log.add(GEMOLOGIST, item, pl.CertificateAttested(
            capacity="gemologist", certificate=_hash(log, cert)))
    if appraise is not None:
        log.add(WORKSHOP, item, pl.AppraisalRecorded(
            method="lab", currency="EUR", appraiser="Workshop", value_minor=appraise))
    if offer is not None:
        log.add(OWNER, item, pl.EscrowOpened(
            buyer=key("buyer").public_key,
            terms=pl.EscrowTerms(price_minor=offer, currency="EUR", on_timeout="return"),
            condition=pl.ConditionReport(grade="good"), offer_expires=log.t + DAY,
            inspection_ends=log.t + 2 * DAY))
    return log, item


def _hash(log: ForgedLog, index: int) -> bytes:
    import hashlib

    return hashlib.sha256(log.statements[index]).digest()


def verify(log: ForgedLog, item: str, *lines: str, cosigners: int = 0,
           at: int | None = None) -> pl.History:
    when = log.t if at is None else at
    cp = log.checkpoint(time=when, witnesses=[(k, v.name) for (_, k), v in zip(
        WITNESSES[:cosigners], VERIFIERS, strict=False)])
    text = HEAD + "".join(f"witness {n} {v.vkey()}\n" for (n, _), v in zip(
        WITNESSES, VERIFIERS, strict=True)) + "quorum none\n" + "".join(
        line + "\n" for line in lines)
    return pl.verify_bundle(log.bundle(item, cp), policy=parse_policy(text), now=when + 1)


def missing(log: ForgedLog, item: str, *lines: str, **kw: object) -> tuple[str, ...]:
    with pytest.raises(pl.RequirementError) as info:
        verify(log, item, *lines, **kw)  # type: ignore[arg-type]
    assert info.value.check == "requirements"
    assert info.value.code == "requirement"
    return info.value.missing


GEM_ABOVE = "require attestation gemologist above 500000 EUR"


def test_a_policy_without_requirements_changes_nothing() -> None:
    log, item = scene(appraise=900_000)
    assert verify(log, item).item == item


def test_attestation_absent_above_the_value_is_missing() -> None:
    log, item = scene(appraise=500_000)
    (why,) = missing(log, item, GEM_ABOVE)
    assert "an attestation by a gemologist" in why
    assert "5,000.00 EUR" in why
    assert "latest appraisal" in why


def test_below_the_value_or_with_no_value_shown_nothing_is_required() -> None:
    log, item = scene(appraise=499_999)
    verify(log, item, GEM_ABOVE)
    log, item = scene()  # no appraisal, no offer: no value shown
    verify(log, item, GEM_ABOVE)
    verify(log, item, "require attestation gemologist above 1 USD")


def test_a_value_in_another_currency_counts_as_above() -> None:
    """Fail closed: a cheap-looking appraisal in another currency cannot dodge it."""
    log, item = scene(appraise=100)
    (why,) = missing(log, item, "require attestation gemologist above 99999999 USD")
    assert "in another currency than USD" in why


def test_without_an_appraisal_an_open_offer_sets_the_value() -> None:
    log, item = scene(offer=600_000)
    (why,) = missing(log, item, GEM_ABOVE)
    assert "open escrow's price" in why
    log, item = scene(offer=400_000)
    verify(log, item, GEM_ABOVE)


def test_attestation_present_meets_it() -> None:
    log, item = scene(attest_at=1_800_100_000, appraise=900_000)
    assert verify(log, item, GEM_ABOVE).attested_by == ("Gem Lab",)
    # An appraiser's attestation is another capacity:
    (why,) = missing(log, item, "require attestation appraiser")
    assert "appraiser" in why


def test_attestation_max_age_at_its_boundary() -> None:
    t = 1_800_100_000
    log, item = scene(attest_at=t)
    verify(log, item, "require attestation gemologist max-age 1000", at=t + 1000)
    log, item = scene(attest_at=t)
    (why,) = missing(log, item, "require attestation gemologist max-age 1000", at=t + 1001)
    assert "at most 1000 s old" in why
    assert "the latest is 1001 s old" in why


def test_witnesses_counted_distinct() -> None:
    log, item = scene()
    verify(log, item, "require witnesses 2", cosigners=2)
    log, item = scene()
    (why,) = missing(log, item, "require witnesses 2", cosigners=1)
    assert "2 distinct witnesses" in why
    assert "(it has 1)" in why


def test_every_unmet_requirement_is_listed() -> None:
    log, item = scene(appraise=700_000)
    found = missing(log, item, GEM_ABOVE, "require witnesses 3", cosigners=2)
    assert len(found) == 2


def recovering() -> tuple[ForgedLog, str, int]:
    log, item = scene()
    log.add(JEWELER, item, pl.RecoveryStarted(
        new_owner=key("new phone").public_key, reason="owner lost the phone",
        effective=log.t + 1 + 7 * DAY))
    return log, item, log.t + 7 * DAY


def test_a_pending_recovery_is_missing_until_it_completes() -> None:
    log, item, effective = recovering()
    (why,) = missing(log, item, "require no-pending-recovery")
    assert "pending until" in why
    log, item, effective = recovering()
    report = verify(log, item, "require no-pending-recovery", at=effective)
    assert report.owner == key("new phone").public_key


def test_the_verdict_json_carries_missing() -> None:
    from provledger._verdict import failed_document

    log, item = scene(appraise=900_000)
    with pytest.raises(pl.RequirementError) as info:
        verify(log, item, GEM_ABOVE)
    doc = failed_document(info.value, item_given=False)
    assert doc["error"]["code"] == "requirement"
    assert doc["error"]["missing"] == list(info.value.missing)
    assert doc["checks"][-1] == {"check": "requirements", "passed": False}
    assert all(c["passed"] for c in doc["checks"][:-1])


def test_policy_witness_objects_round_trip() -> None:
    p = Policy(logs=parse_policy(HEAD).logs, roots=parse_policy(HEAD).roots,
               named_witnesses=(PolicyWitness("w0", VERIFIERS[0]),), quorum="none",
               requirements=(Requirement("witnesses", count=1),))
    assert parse_policy(p.to_text()) == p


def test_an_attestation_can_be_required_from_named_attesters() -> None:
    """The issuer grants the attester role, so a rogue issuer can attest its own pieces:
    a marketplace names the labs it trusts, and another attester does not count."""
    log, item = scene(attest_at=1_800_100_000)
    lab = pl.format_public_key(GEMOLOGIST.public_key)
    other = pl.format_public_key(key("another lab").public_key)
    verify(log, item, f"require attestation gemologist by {other},{lab}")
    (why,) = missing(log, item, f"require attestation gemologist by {other}")
    assert "whose key is one of the policy's" in why
    text = HEAD + f"require attestation gemologist by {lab},{other} max-age 60\n"
    policy = parse_policy(text)
    assert parse_policy(policy.to_text()) == policy
    assert policy.requirements[0].attesters == (GEMOLOGIST.public_key,
                                                key("another lab").public_key)


@pytest.mark.parametrize("line", [
    "require attestation gemologist by",
    "require attestation gemologist by ed25519:nope",
    "require attestation gemologist by {k},{k}",
    "require attestation gemologist max-age 5 by {k}",
])
def test_malformed_attester_lists_are_refused(line: str) -> None:
    k = pl.format_public_key(GEMOLOGIST.public_key)
    with pytest.raises(pl.DecodeError):
        parse_policy(HEAD + line.format(k=k) + "\n")
