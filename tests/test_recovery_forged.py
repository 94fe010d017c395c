"""Recoveries played by a dishonest log (tests/forge.py): it hides a pending
recovery from a buyer's bundle, or appends what spec/recovery.md forbids and
proves it correctly. The bundle must fail, or show the recovery; a head-map
lie that fools a lone verifier is caught by the monitor (bundle.md §1.1)."""

from __future__ import annotations

import pytest

import provledger as pl
from provledger import _merkle
from provledger._errors import MonitorError
from provledger._monitor import LogSource, monitor
from provledger._note import NoteVerifier

from .conftest import key
from .forge import ForgedLog, standard_log, statement_hash
from .test_bundle import policy_of, rejects

JEWELER, INSURER, OWNER = key("jeweler"), key("insurer"), key("owner")
NEW, THIEF, BUYER = key("owner new key"), key("thief"), key("buyer")
LOCK = pl.RECOVERY_LOCK


def _ring(log: ForgedLog) -> str:
    item = pl.serial_item_id(JEWELER.public_key, "R-1")
    log.add(JEWELER, item, pl.CertificateIssued(kind="ring", serial="R-1",
                                                owner=OWNER.public_key))
    return item


def _start(log: ForgedLog, item: str, *, lock: int = LOCK,
           new: pl.SigningKey = THIEF) -> tuple[int, int]:
    """A recovery started by the insurer at the next log second; its index and effective."""
    t = log.t + 1
    index = log.add(INSURER, item, pl.RecoveryStarted(
        new_owner=new.public_key, effective=t + lock, reason="caller says phone lost"))
    return index, t + lock


def _items(log: ForgedLog, item: str, *, but: int = -1) -> list[int]:
    return [i for i in range(len(log.entries)) if i != but and (
        log.subjects[i] == item or log.subjects[i].startswith("provledger:authority:"))]


def _verify(log: ForgedLog, item: str, **kw: object) -> pl.Report:
    return pl.verify_bundle(log.bundle(item, log.checkpoint(), **kw),  # type: ignore[arg-type]
                            policy=policy_of(log), now=log.t)


def test_an_honest_bundle_shows_the_pending_recovery() -> None:
    log = standard_log()
    item = _ring(log)
    _, effective = _start(log, item)
    report = _verify(log, item)
    pending = report.pending_recovery
    assert pending is not None
    assert (pending.recovery.new_owner, pending.by_name) == (THIEF.public_key, "Insurer")
    assert report.owner == OWNER.public_key
    assert any(pl.format_time(effective) in w for w in report.warnings)


@pytest.mark.parametrize("last", [True, False])
def test_a_bundle_that_leaves_out_the_recovery_fails(last: bool) -> None:
    """Without the recovery.started, a later entry's prev names a missing
    statement, or (when it is the item's last) the head-map proof fails."""
    log = standard_log()
    item = _ring(log)
    hidden, _ = _start(log, item)
    if not last:
        log.add(OWNER, item, pl.AppraisalRecorded(value_minor=1, currency="EUR",
                                                  method="in_person", appraiser="Lab"))
    rejects(pl.IncompleteHistoryError,
            lambda: _verify(log, item, indexes=_items(log, item, but=hidden)))
    assert _verify(log, item).pending_recovery is not None


def test_a_head_map_lie_hiding_the_recovery_is_caught_by_the_monitor() -> None:
    log = standard_log()
    item = _ring(log)
    honest = log.checkpoint()
    _start(log, item)
    heads = log.head_map(len(log.entries))
    heads[item] = _merkle.leaf_hash(log.entries[honest.size - 1])
    lying = log.checkpoint(heads=heads)
    bundle = log.bundle(item, lying, indexes=list(range(honest.size)))
    report = pl.verify_bundle(bundle, policy=policy_of(log), now=log.t)
    assert report.pending_recovery is None  # a lone verifier is fooled, as bundle.md says
    with pytest.raises(MonitorError) as info:
        monitor(LogSource(log.entries, [honest.note, lying.note]),
                log_key=NoteVerifier(log.origin, log.log.public_key),
                root_key=log.root.public_key)
    assert (info.value.kind, info.value.checkpoint) == ("head-map", 1)


def test_a_logged_short_time_lock_fails_the_bundle() -> None:
    """The log took a recovery effective a day later, and the thief's sale after it."""
    log = standard_log()
    item = _ring(log)
    _start(log, item, lock=86400)
    rejects(pl.PolicyError, lambda: _verify(log, item), "recovery rule: time-lock")


def test_a_logged_sale_while_pending_fails_the_bundle() -> None:
    log = standard_log()
    item = _ring(log)
    _start(log, item)
    terms = pl.EscrowTerms(price_minor=1, currency="EUR", on_timeout="return", direct=True)
    log.add(OWNER, item, pl.EscrowOpened(buyer=BUYER.public_key, terms=terms,
                                         condition=pl.ConditionReport(grade="good"),
                                         offer_expires=log.t + 100))
    rejects(pl.StateError, lambda: _verify(log, item), "recovery rule: no-sale-while-pending")


def test_a_logged_early_takeover_fails_the_bundle() -> None:
    """The thief acts as owner one second before the time lock ends."""
    log = standard_log()
    item = _ring(log)
    _, effective = _start(log, item)
    log.t = effective - 2
    log.add(THIEF, item, pl.OwnerRotated(new_owner=BUYER.public_key))
    rejects(pl.UnauthorizedError, lambda: _verify(log, item), "recovery rule: owner-rotates")


def test_a_logged_late_cancel_fails_and_a_last_second_cancel_stands() -> None:
    log = standard_log()
    item = _ring(log)
    index, effective = _start(log, item, new=NEW)
    recovery = statement_hash(log.statements[index])
    log.t = effective - 2
    log.add(OWNER, item, pl.RecoveryCancelled(recovery=recovery))  # at effective - 1
    report = _verify(log, item)
    assert [r.recovery.state for r in report.recoveries] == ["cancelled"]
    assert report.owner == OWNER.public_key

    late = standard_log()
    item = _ring(late)
    index, effective = _start(late, item, new=NEW)
    late.t = effective - 1
    late.add(OWNER, item, pl.RecoveryCancelled(
        recovery=statement_hash(late.statements[index])))  # at effective
    rejects(pl.StateError, lambda: _verify(late, item), "recovery rule: pending-only")


def test_the_checkpoint_time_decides_completion() -> None:
    """No entry after the lock: a checkpoint before it shows the recovery pending,
    one at its effective second shows the new key as owner."""
    log = standard_log()
    item = _ring(log)
    _, effective = _start(log, item, new=NEW)
    log.t = effective - 1
    early = pl.verify_bundle(log.bundle(item, log.checkpoint()), policy=policy_of(log),
                             now=log.t)
    assert (early.owner, early.recoveries[0].recovery.state) == (OWNER.public_key, "pending")
    log.t = effective
    later = pl.verify_bundle(log.bundle(item, log.checkpoint()), policy=policy_of(log),
                             now=log.t)
    assert (later.owner, later.recoveries[0].recovery.state) == (NEW.public_key, "completed")
    assert later.pending_recovery is None
