"""A trust policy's ``require`` lines, checked against a verified history
(spec/bundle.md sections 4.2 and 5, step 13).

A bundle can verify, every entry true and complete, and still not be good
enough for a marketplace: a high-value piece no gemologist has looked at, a
checkpoint only one witness vouched for, an owner key being recovered. The
verifier runs :func:`check` last; nothing here reads storage or a clock
(every age is measured to the checkpoint's time).
"""

from __future__ import annotations

from ._errors import RequirementError
from ._escrow import OPEN
from ._history import EventView
from ._keys import format_public_key
from ._model import History
from ._policy import Policy, Requirement
from ._time import rfc3339
from ._transfer_rules import money


def check(history: History, policy: Policy) -> None:
    """Raise unless ``history`` meets every requirement of ``policy``.

    Raises:
        RequirementError: one or more requirements are not met; ``missing``
            holds one phrase per unmet requirement, in the policy's order.
        ValueError: ``history`` was not read from a bundle (no checkpoint).
    """
    missing = unmet(history, policy)
    if missing:
        raise RequirementError(f"bundle: {history.item} verifies but does not meet the "
                               f"policy's requirements; missing: {'; '.join(missing)}",
                               missing=tuple(missing))


def unmet(history: History, policy: Policy) -> list[str]:
    """What ``history`` lacks for each requirement of ``policy`` ("" ones left out).

    Raises:
        ValueError: ``history`` was not read from a bundle (no checkpoint).
    """
    if history.checkpoint is None:
        raise ValueError("requirements are checked on a bundle's history, as of a checkpoint")
    found = [_missing(r, history, history.checkpoint.time) for r in policy.requirements]
    return [m for m in found if m]


def _missing(r: Requirement, history: History, now: int) -> str:
    """Why ``history`` does not meet ``r`` as of log time ``now`` ("" if it does)."""
    if r.kind == "witnesses":
        assert history.checkpoint is not None
        n = len(history.checkpoint.witnesses)
        return "" if n >= r.count else (
            f"cosignatures of {r.count} distinct witnesses of the policy on the checkpoint "
            f"(it has {n})")
    if r.kind == "no-pending-recovery":
        pending = history.pending_recovery
        if pending is None:
            return ""
        rec = pending.recovery
        return (f"no pending owner-key recovery (recovery {rec.id.hex()[:16]} to "
                f"{format_public_key(rec.new_owner)} is pending until "
                f"{rfc3339(rec.effective)})")
    return _attestation(r, history, now)


def _attestation(r: Requirement, history: History, now: int) -> str:
    worth = _value(history)
    # A value in another currency cannot be compared: the requirement applies
    # (else a seller could dodge it by appraising in another currency).
    if r.above and (worth is None or (worth[1] == r.currency and worth[0] < r.above)):
        return ""  # the item is not shown to be worth that much
    attested = [e for e in history.events
                if e.type == "cert.attested" and not e.invalidated
                and e.fields.get("capacity") == r.capacity
                and (not r.attesters or e.signer in r.attesters)]
    recent = [e for e in attested if not r.max_age or now - e.time <= r.max_age]
    if recent:
        return ""
    want = f"an attestation by a {r.capacity}"
    if r.attesters:
        want += (" whose key is one of the policy's "
                 f"({', '.join(format_public_key(k)[:20] + '...' for k in r.attesters)})")
    if r.max_age:
        want += f" at most {r.max_age} s old at the checkpoint"
    if r.above and worth is not None:
        compared = ("" if worth[1] == r.currency
                    else f", in another currency than {r.currency}, so it counts as above")
        want += (f" (required at or above {money(r.above, r.currency)}; the piece's "
                 f"{worth[2]} is {money(worth[0], worth[1])}{compared})")
    if attested:
        latest = attested[-1]
        want += f"; the latest is {now - latest.time} s old (log index {latest.index})"
    return want


def _value(history: History) -> tuple[int, str, str] | None:
    """What the item is shown to be worth: (minor units, currency, from what),
    by its latest appraisal, or without one by its open escrow's price."""
    appraisals: list[EventView] = [e for e in history.events
                                   if e.type == "appraisal.recorded" and not e.invalidated]
    if appraisals:
        fields = appraisals[-1].fields
        return int(fields["value_minor"]), str(fields["currency"]), "latest appraisal"
    for view in reversed(history.escrows):
        if view.state in OPEN:
            terms = view.offer.terms
            return terms.price_minor, terms.currency, "open escrow's price"
    return None
