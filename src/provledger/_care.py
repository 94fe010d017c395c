"""The care-plan rules: enrolment, renewal, cancellation, the owner's consent
and the redemption of credits (spec/aftercare.md is the normative text).

_rules calls :func:`apply` for every ``care.*`` statement, after the checks
every statement passes and with the escrow's deadlines applied; _escrow calls
:func:`on_transfer` when an escrow moves ownership. Times are the log time of
the entry being decided. Every refusal names its rule in brackets, such as
``[care rule: one-plan-per-provider]``, and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

from . import _escrow, _repairs, _transfer_rules
from ._errors import PolicyError, StateError, UnauthorizedError
from ._events import CareCancelled, CareConsented, CareEnrolled, CareRedeemed, CareRenewed
from ._signers import current, refuse
from ._state import Consent, ItemState, PlanState, RepairState
from ._statement import UnverifiedStatement

if TYPE_CHECKING:
    from ._rules import Context

#: Plan states (at a log time) that hold the provider's one plan on the item.
LIVE: Final = ("active", "pending")
#: The largest amount the wire format carries (events.cddl ``count``).
MAX_AMOUNT: Final = 2**53 - 1


def plan_status(plan: PlanState, log_time: int) -> str:
    """Where ``plan`` stands at ``log_time``: active, pending, expired,
    cancelled or ended."""
    return plan.status_at(log_time)


def find_plan(item: ItemState, plan_id: bytes, where: str) -> PlanState:
    """The item's plan ``plan_id``.

    Raises:
        PolicyError: the item has no such plan.
    """
    for plan in item.plans:
        if plan.id == plan_id:
            return plan
    raise PolicyError(f"{where}: no plan {plan_id.hex()[:16]} on this item "
                      "[care rule: known-plan]")


def apply(stmt: UnverifiedStatement, item: ItemState, nxt: ItemState, ctx: Context, *,
          log_time: int, where: str) -> ItemState:
    """Decide a ``care.*`` statement; return the item's next state.

    ``item`` is the item's state with escrow deadlines applied, ``nxt`` the
    same with the entry counted.

    Raises:
        UnknownKeyError, RevokedKeyError, UnauthorizedError: the signer may not
            make this statement.
        StateError: the item, plan, repair or an open escrow forbids it.
        PolicyError: the statement names no plan or repair of the item, or
            its amounts or dates are invalid.
    """
    ev = stmt.event
    if isinstance(ev, CareEnrolled):
        return _enrol(stmt, ev, item, nxt, ctx, log_time=log_time, where=where)
    if isinstance(ev, CareConsented):
        return _consent(stmt, ev, item, nxt, log_time=log_time, where=where)
    assert isinstance(ev, CareRenewed | CareCancelled | CareRedeemed)
    plan = find_plan(item, ev.plan, where)
    if isinstance(ev, CareRenewed):
        return _renew(stmt, ev, item, nxt, ctx, plan=plan, log_time=log_time, where=where)
    if isinstance(ev, CareCancelled):
        return _cancel(stmt, plan, item, nxt, ctx, log_time=log_time, where=where)
    return _redeem(stmt, ev, item, nxt, ctx, plan=plan, log_time=log_time, where=where)


def on_transfer(nxt: ItemState, log_time: int) -> ItemState:
    """``nxt`` (ownership just moved) with its plans and consents as a change
    of owner leaves them: plans that end on transfer end, with their credits;
    every open consent goes (it was the old owner's)."""
    if not nxt.plans and not nxt.consents:
        return nxt
    plans = tuple(
        msgspec.structs.replace(p, status="ended", credits=0, credit_minor=0)
        if p.transfer == "ends" and p.status_at(log_time) in LIVE else p
        for p in nxt.plans)
    return msgspec.structs.replace(nxt, plans=plans, consents=())


def transferring(item: ItemState, log_time: int) -> list[bytes]:
    """Ids of the plans that would go with the piece if it changed hands at
    ``log_time``, in enrolment order: what an escrow's terms must list."""
    return [p.id for p in item.plans
            if p.transfer == "with_piece" and p.status_at(log_time) in LIVE]


# -- the rules ----------------------------------------------------------------


def _enrol(stmt: UnverifiedStatement, ev: CareEnrolled, item: ItemState, nxt: ItemState,
           ctx: Context, *, log_time: int, where: str) -> ItemState:
    auth = current(stmt.signer, ctx)
    if auth is not None and auth.has_role("issuer"):
        provider = auth.subject
    elif auth is not None and auth.has_role("service", item.issuer):
        provider = item.issuer
    else:
        refuse(item, stmt.signer, ctx, f"{where}: only an issuer (for its own plan), or a "
               "service authority of the item's issuer (for the issuer's plan), may enrol "
               "a plan [care rule: provider]")
    if item.status != "active":
        raise StateError(f"{where}: the item is {item.status}; only an active item can be "
                         "enrolled [care rule: active-item]")
    problem = ""
    if ev.starts > ev.ends:
        problem = f"starts {ev.starts} is after ends {ev.ends}"
    elif ev.ends < log_time:
        problem = f"ends {ev.ends} is before the log time {log_time}: a plan already over"
    elif (ev.currency is not None) != (ev.credit_minor > 0):
        problem = "currency is needed with credit_minor, and only with it"
    if problem:
        raise PolicyError(f"{where}: {problem} [care rule: valid-plan]")
    _one_per_provider(item, provider, log_time, where)
    _not_in_escrow(item, where, "a plan cannot be enrolled")
    plan = PlanState(
        id=stmt.hash, provider=provider, tier=ev.tier, starts=ev.starts, ends=ev.ends,
        terms=ev.terms, credits=ev.credits,
        # The issuer's rules may make its plans go with the piece whatever they say.
        transfer=("with_piece" if _transfer_rules.transfers_plans(item, provider, ctx)
                  else ev.transfer),
        credit_minor=ev.credit_minor, currency=ev.currency or "", no_consent=ev.no_consent)
    return msgspec.structs.replace(nxt, plans=(*item.plans, plan))


def _renew(stmt: UnverifiedStatement, ev: CareRenewed, item: ItemState, nxt: ItemState,
           ctx: Context, *, plan: PlanState, log_time: int, where: str) -> ItemState:
    _provider_or_service(stmt.signer, plan, item, ctx, where=where, what="renew")
    if plan.status != "active":
        raise StateError(f"{where}: plan {_short(plan.id)} is {plan.status}; only a plan "
                         "that was not cancelled or ended can be renewed [care rule: live-plan]")
    problem = ""
    if ev.ends <= plan.ends:
        problem = f"ends {ev.ends} does not extend the plan's ends {plan.ends}"
    elif ev.ends < log_time:
        problem = f"ends {ev.ends} is before the log time {log_time}: a plan already over"
    elif ev.credit_minor > 0 and not plan.currency:
        problem = "credit_minor added to a plan without a currency"
    expired = plan.status_at(log_time) == "expired"
    # An expired plan's credits are gone: the renewal starts again from none.
    credits = ev.credits + (0 if expired else plan.credits)
    minor = ev.credit_minor + (0 if expired else plan.credit_minor)
    if not problem and max(credits, minor) > MAX_AMOUNT:
        problem = f"credits would exceed {MAX_AMOUNT}"
    if problem:
        raise PolicyError(f"{where}: {problem} [care rule: valid-renewal]")
    if expired:
        # Renewing it revives it: the provider may have enrolled another since.
        _one_per_provider(item, plan.provider, log_time, where)
    renewed = msgspec.structs.replace(
        plan, ends=ev.ends, credits=credits, credit_minor=minor,
        terms=plan.terms if ev.terms is None else ev.terms, renewed=log_time)
    return msgspec.structs.replace(nxt, plans=_with(item, renewed))


def _cancel(stmt: UnverifiedStatement, plan: PlanState, item: ItemState, nxt: ItemState,
            ctx: Context, *, log_time: int, where: str) -> ItemState:
    auth = current(stmt.signer, ctx)
    if auth is None or auth.subject != plan.provider or not auth.has_role("issuer"):
        refuse(item, stmt.signer, ctx, f"{where}: only the plan's provider {plan.provider}, "
               "with its issuer key, may cancel it [care rule: provider]")
    status = plan.status_at(log_time)
    if status not in LIVE:
        raise StateError(f"{where}: plan {_short(plan.id)} is {status}; only an active or "
                         "pending plan can be cancelled [care rule: live-plan]")
    _not_in_escrow(item, where, "its plans cannot be cancelled")
    done = msgspec.structs.replace(plan, status="cancelled", credits=0, credit_minor=0)
    return msgspec.structs.replace(
        nxt, plans=_with(item, done),
        consents=tuple(c for c in item.consents if c.plan != plan.id))


def _consent(stmt: UnverifiedStatement, ev: CareConsented, item: ItemState, nxt: ItemState,
             *, log_time: int, where: str) -> ItemState:
    if stmt.signer != item.owner:
        raise UnauthorizedError(f"{where}: only the item's current owner may consent to a "
                                "redemption [care rule: owner-consents]")
    _escrow.refuse_owner_action(item, stmt.signer, where)
    if item.status != "active":
        raise StateError(f"{where}: the item is {item.status} [care rule: active-item]")
    plan = find_plan(item, ev.plan, where)
    _usable(plan, log_time, where)
    repair = _payable(item, ev.repair, where)
    _amounts(ev.credits, ev.credit_minor, plan, where)
    consent = Consent(stmt.hash, plan.id, repair.id, ev.credits, ev.credit_minor)
    kept = tuple(c for c in item.consents if (c.plan, c.repair) != (plan.id, repair.id))
    return msgspec.structs.replace(nxt, consents=(*kept, consent))


def _redeem(stmt: UnverifiedStatement, ev: CareRedeemed, item: ItemState, nxt: ItemState,
            ctx: Context, *, plan: PlanState, log_time: int, where: str) -> ItemState:
    _provider_or_service(stmt.signer, plan, item, ctx, where=where,
                         what="redeem credits of")
    _not_in_escrow(item, where, "credits cannot be redeemed")
    _usable(plan, log_time, where)
    repair = _payable(item, ev.repair, where)
    _amounts(ev.credits, ev.credit_minor, plan, where)
    if ev.consent is not None:
        consent = next((c for c in item.consents if c.id == ev.consent), None)
        if consent is None or (consent.plan, consent.repair) != (plan.id, repair.id):
            raise PolicyError(f"{where}: consent {_short(ev.consent)} is not an open consent "
                              f"of the owner to pay repair {_short(repair.id)} from plan "
                              f"{_short(plan.id)} [care rule: consent]")
        if ev.credits > consent.credits or ev.credit_minor > consent.credit_minor:
            raise PolicyError(f"{where}: redeems ({ev.credits}, {ev.credit_minor}), more than "
                              f"the owner consented to ({consent.credits}, "
                              f"{consent.credit_minor}) [care rule: consent]")
    elif not plan.no_consent:
        raise UnauthorizedError(f"{where}: plan {_short(plan.id)} needs the owner's consent "
                                "to a redemption; name it in 'consent' [care rule: consent]")
    spent = msgspec.structs.replace(plan, credits=plan.credits - ev.credits,
                                    credit_minor=plan.credit_minor - ev.credit_minor)
    paid = msgspec.structs.replace(repair, paid_by=plan.id)
    return msgspec.structs.replace(
        nxt, plans=_with(item, spent),
        repairs=tuple(paid if r.id == repair.id else r for r in item.repairs),
        consents=tuple(c for c in item.consents if c.repair != repair.id))


# -- checks -------------------------------------------------------------------


def _provider_or_service(key: bytes, plan: PlanState, item: ItemState, ctx: Context, *,
                         where: str, what: str) -> None:
    auth = current(key, ctx)
    if auth is not None and (
        (auth.subject == plan.provider and auth.has_role("issuer"))
        or auth.has_role("service", plan.provider)
    ):
        return
    refuse(item, key, ctx, f"{where}: only the plan's provider {plan.provider}, or a service "
           f"authority it granted the role, may {what} plan {_short(plan.id)} "
           "[care rule: provider]")


def _one_per_provider(item: ItemState, provider: str, log_time: int, where: str) -> None:
    for p in item.plans:
        if p.provider == provider and p.status_at(log_time) in LIVE:
            raise StateError(f"{where}: {provider} already has plan {_short(p.id)} "
                             f"({p.status_at(log_time)}) on this item; one plan per provider "
                             "at a time [care rule: one-plan-per-provider]")


def _not_in_escrow(item: ItemState, where: str, what: str) -> None:
    esc = item.escrow
    if esc is not None and _escrow.is_open(esc):
        raise StateError(f"{where}: the item is held by escrow {_short(esc.id)} "
                         f"({esc.state}); {what} while a buyer is deciding "
                         "[care rule: frozen-in-escrow]")


def _usable(plan: PlanState, log_time: int, where: str) -> None:
    status = plan.status_at(log_time)
    if status != "active":
        raise StateError(f"{where}: plan {_short(plan.id)} is {status} at log time "
                         f"{log_time}; its credits cannot be used [care rule: active-plan]")


def _payable(item: ItemState, repair_id: bytes, where: str) -> RepairState:
    repair = _repairs.find(item, repair_id, where)
    if repair.status == "cancelled":
        raise StateError(f"{where}: repair {_short(repair.id)} was cancelled "
                         "[care rule: payable-repair]")
    if repair.paid_by is not None:
        raise StateError(f"{where}: repair {_short(repair.id)} was already paid from plan "
                         f"{_short(repair.paid_by)}; a repair is never paid twice "
                         "[care rule: payable-repair]")
    return repair


def _amounts(credits: int, minor: int, plan: PlanState, where: str) -> None:
    if credits == 0 and minor == 0:
        raise PolicyError(f"{where}: names no amount; credits or credit_minor must be "
                          "positive [care rule: amount]")
    if credits > plan.credits or minor > plan.credit_minor:
        raise StateError(f"{where}: not enough credits: asks ({credits}, {minor}), plan "
                         f"{_short(plan.id)} has ({plan.credits}, {plan.credit_minor}) left; "
                         "credits never go negative [care rule: credits]")


def _with(item: ItemState, plan: PlanState) -> tuple[PlanState, ...]:
    return tuple(plan if p.id == plan.id else p for p in item.plans)


def _short(digest: bytes) -> str:
    return digest.hex()[:16]
