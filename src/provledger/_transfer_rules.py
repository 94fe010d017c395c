"""An issuer's published transfer rules (spec/rules.md is the normative text).

:func:`publish` decides a ``rules.published`` on an issuer's own chain,
:func:`check_version` the ``rules`` a ``cert.issued`` names, :func:`check_sale`
an ``escrow.opened`` against the rules its item was issued under, and
:func:`note` records the inspections and appraisals those rules accept.
:func:`describe` says a set of rules in plain language. Times are log times
of the entry being decided. A sale that breaks a rule raises
:class:`~provledger._errors.TransferRuleError` naming the rule (the field of
``TransferRules``) and the rules version, and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

from . import _codec
from ._errors import PolicyError, StateError, TransferRuleError, UnauthorizedError
from ._events import (
    AppraisalRecorded,
    CertificateIssued,
    EscrowOpened,
    RepairCollected,
    RepairRecorded,
    RulesPublished,
    TransferRules,
)
from ._keys import format_public_key
from ._state import AuthorityState, ItemState, Outcome, PublishedRules
from ._statement import AUTHORITY_PREFIX, UnverifiedStatement

if TYPE_CHECKING:
    from ._rules import Context

DAY: Final = 86_400
#: One-step ``repair.recorded`` categories that count as an inspection (a
#: resize alone does not look the piece over).
INSPECTING: Final = frozenset({"service", "repair", "cleaning", "restoration"})
#: Currencies without minor units (ISO 4217 exponent 0), for plain-language amounts.
_NO_DECIMALS: Final = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
                                 "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})


# -- reading published rules -------------------------------------------------------


def encode_rules(rules: TransferRules) -> bytes:
    """The canonical CBOR of ``rules``, as AuthorityState.rules keeps it."""
    return _codec.encode_struct(rules)


def decode_rules(data: bytes) -> TransferRules:
    """Rules kept by :func:`encode_rules`.

    Raises:
        DecodeError: not the canonical encoding of a TransferRules map.
    """
    return _codec.decode_struct(data, TransferRules, what="transfer rules")


def latest_version(auth: AuthorityState | None) -> int:
    """The authority's latest published rules version (0: none)."""
    return auth.rules[-1].version if auth is not None and auth.rules else 0


def published(auth: AuthorityState | None, version: int) -> PublishedRules | None:
    """Version ``version`` of the authority's rules, if it published one."""
    if auth is None or not 0 < version <= len(auth.rules):
        return None
    found = auth.rules[version - 1]  # versions are 1, 2, ... with no gap (publish)
    return found if found.version == version else None


def authority(ctx: Context, subject: str) -> AuthorityState | None:
    """The state of the authority whose chain id is ``subject``: the chain id
    names its first key, which the context still knows after rotations."""
    if not subject.startswith(AUTHORITY_PREFIX):
        return None
    try:
        key = bytes.fromhex(subject.removeprefix(AUTHORITY_PREFIX))
    except ValueError:
        return None
    auth = ctx.authority_of(key)
    return auth if auth is not None and auth.subject == subject else None


def rules_of(item: ItemState, ctx: Context) -> TransferRules | None:
    """The rules ``item`` was issued under (None: version 0, no rules).

    Raises:
        StateError: the issuer has no such version in ``ctx`` (not the log's context).
    """
    if not item.rules:
        return None
    found = published(authority(ctx, item.issuer), item.rules)
    if found is None:
        # cert.issued was admitted only naming a published version, and versions
        # are never withdrawn: a miss means the context is not the log's.
        raise StateError(f"{item.subject}: its issuer {item.issuer} has no transfer rules "
                         f"version {item.rules}")
    return decode_rules(found.rules)


# -- deciding statements -----------------------------------------------------------


def publish(ev: RulesPublished, auth: AuthorityState, signer: AuthorityState, *,
            log_time: int, where: str) -> Outcome:
    """Decide a ``rules.published`` on the chain whose state is ``auth``,
    signed by the current key of ``signer``.

    Raises:
        UnauthorizedError: the signer is not the chain's own authority, or it
            does not hold the role issuer.
        PolicyError: the version is not the next one, or the rules are
            inconsistent (an appraisal threshold without currency or days,
            or the reverse; a marketplace listed twice).
    """
    if signer.subject != auth.subject:
        raise UnauthorizedError(f"{where}: an issuer publishes rules on its own chain only, "
                                f"with its own key; {signer.subject} is another authority")
    if not auth.has_role("issuer"):
        raise UnauthorizedError(f"{where}: only an issuer publishes transfer rules; "
                                f"{auth.subject} does not hold the role issuer")
    expected = latest_version(auth) + 1
    if ev.version != expected:
        raise PolicyError(f"{where}: version must be {expected} (versions count up from 1 "
                          f"with no gap), not {ev.version}")
    problem = _inconsistency(ev.rules)
    if problem:
        raise PolicyError(f"{where}: {problem}")
    kept = PublishedRules(ev.version, ev.text, encode_rules(ev.rules), log_time)
    return Outcome(msgspec.structs.replace(auth, rules=(*auth.rules, kept)))


def _inconsistency(rules: TransferRules) -> str:
    """Why ``rules`` cannot be published ("" if they can)."""
    above = rules.appraisal_above > 0
    if (rules.currency is not None) != above:
        return "currency is needed with appraisal_above, and only with it"
    if (rules.appraisal_days > 0) != above:
        return "appraisal_days is needed with appraisal_above, and only with it"
    if len(set(rules.marketplaces)) != len(rules.marketplaces):
        return "a marketplace is listed twice"
    return ""


def check_version(ev: CertificateIssued, issuer: AuthorityState, where: str) -> None:
    """A certificate names the issuer's latest rules version (0 if it has none).

    Raises:
        PolicyError: it names another version.
    """
    latest = latest_version(issuer)
    if ev.rules != latest:
        has = (f"the latest of its published transfer rules is version {latest}" if latest
               else "the issuer has published no transfer rules")
        raise PolicyError(f"{where}: rules must be {latest} ({has}), not {ev.rules}")


def follow(stmt: UnverifiedStatement, nxt: ItemState, ctx: Context, *, log_time: int,
           where: str) -> ItemState:
    """Decide what the item's rules add to the admitted ``stmt``: an offer must
    meet them (:func:`check_sale`); an inspection or appraisal they accept is
    recorded in the returned state (``nxt`` is the item's state after ``stmt``).

    Only items issued under rules track these, so every other item keeps the
    state it always had, byte for byte.

    Raises:
        TransferRuleError: ``stmt`` is an offer that breaks a rule.
        StateError: see :func:`rules_of`.
    """
    if not nxt.rules:
        return nxt
    ev = stmt.event
    if isinstance(ev, EscrowOpened):
        check_sale(ev, nxt, ctx, log_time=log_time, where=where)
    elif isinstance(ev, RepairRecorded):
        if ev.category in INSPECTING and _serves(stmt.signer, nxt, ctx):
            return msgspec.structs.replace(nxt, inspected=log_time)
    elif isinstance(ev, AppraisalRecorded):
        if _serves(stmt.signer, nxt, ctx):
            return msgspec.structs.replace(nxt, appraised=log_time)
    elif isinstance(ev, RepairCollected):
        done = next((r for r in nxt.repairs if r.id == ev.repair), None)
        workshop = authority(ctx, done.workshop) if done is not None else None
        if (done is not None and done.status == "collected" and done.ready
                and workshop is not None and workshop.has_role("service", nxt.issuer)):
            return msgspec.structs.replace(nxt, inspected=log_time)
    return nxt


def _serves(key: bytes, item: ItemState, ctx: Context) -> bool:
    """Whether ``key`` is the current key of a service authority of the item's issuer."""
    auth = ctx.authority_of(key)
    return auth is not None and auth.key == key and auth.has_role("service", item.issuer)


def check_sale(ev: EscrowOpened, item: ItemState, ctx: Context, *, log_time: int,
               where: str) -> None:
    """Refuse an offer of ``item`` that breaks the rules it was issued under.

    ``item`` is its state before or after the offer: the fields read here
    (issuer, rules, inspected, appraised) are the same in both.

    Raises:
        TransferRuleError: a rule is broken; ``rule`` names it.
        StateError: see :func:`rules_of`.
    """
    rules = rules_of(item, ctx)
    if rules is None:
        return
    terms = ev.terms

    def broken(rule: str, why: str) -> TransferRuleError:
        return TransferRuleError(f"{where}: breaks transfer rule {rule} of {item.issuer}'s "
                                 f"rules version {item.rules}: {why} [transfer rule: {rule}]",
                                 rule=rule)

    if rules.inspection_days:
        since = log_time - rules.inspection_days * DAY
        if not item.inspected or item.inspected < since:
            last = f"the latest was at log time {item.inspected}" if item.inspected else \
                "there was none"
            raise broken("inspection_days", f"the piece needs an inspection or service by a "
                         f"workshop the issuer authorized at or after log time {since} "
                         f"({rules.inspection_days} days before the offer); {last}")
    if rules.appraisal_above and terms.price_minor > 0:
        if terms.currency != rules.currency:
            raise broken("appraisal_above", f"the price is in {terms.currency}, but the "
                         f"appraisal threshold is in {rules.currency}: the rule cannot be "
                         "checked (only a gift, price 0, may be in another currency)")
        if terms.price_minor >= rules.appraisal_above:
            since = log_time - rules.appraisal_days * DAY
            if not item.appraised or item.appraised < since:
                raise broken("appraisal_above", f"a price of {terms.price_minor} (minor units "
                             f"of {terms.currency}) is at or above "
                             f"{rules.appraisal_above}: it needs an appraisal by a service "
                             f"authority of the issuer at or after log time {since} "
                             f"({rules.appraisal_days} days before the offer)")
    if rules.marketplaces and not terms.direct and terms.marketplace not in rules.marketplaces:
        named = (format_public_key(terms.marketplace) if terms.marketplace is not None
                 else "none")
        raise broken("marketplaces", f"terms.marketplace is {named}; a sale must name one of "
                     f"the {len(rules.marketplaces)} marketplaces the rules list")
    if rules.min_inspection:
        if terms.direct and terms.price_minor > 0:
            raise broken("min_inspection", "a direct sale gives the buyer no inspection; a "
                         "sale must be an escrow with an inspection phase (only a gift, "
                         "price 0, may be direct)")
        if not terms.direct and ev.inspection_ends - log_time < rules.min_inspection:
            raise broken("min_inspection", f"inspection_ends {ev.inspection_ends} gives the "
                         f"buyer {ev.inspection_ends - log_time} s from the offer; the rules "
                         f"ask for at least {rules.min_inspection} s")


def transfers_plans(item: ItemState, provider: str, ctx: Context) -> bool:
    """Whether ``provider``'s plans on ``item`` go with the piece whatever they
    say (rule plans_transfer of the rules it was issued under).

    Raises:
        StateError: see :func:`rules_of`.
    """
    if provider != item.issuer:
        return False
    rules = rules_of(item, ctx)
    return rules is not None and rules.plans_transfer


# -- plain language ----------------------------------------------------------------


def describe(rules: TransferRules) -> list[str]:
    """Each rule as one sentence, in the vocabulary's order (spec/rules.md 3)."""
    lines = []
    if rules.inspection_days:
        lines.append(f"A sale needs an inspection or service by a workshop the issuer "
                     f"authorized within the {_days(rules.inspection_days)} before the offer.")
    if rules.appraisal_above:
        assert rules.currency is not None
        lines.append(f"A sale at or above {money(rules.appraisal_above, rules.currency)} needs "
                     f"an appraisal by a workshop the issuer authorized within the "
                     f"{_days(rules.appraisal_days)} before the offer; a sale priced in "
                     "another currency is refused.")
    if rules.plans_transfer:
        lines.append("The issuer's care plans go with the piece to every new owner.")
    if rules.marketplaces:
        keys = ", ".join(format_public_key(k) for k in rules.marketplaces)
        lines.append(f"A sale must be brokered by one of these marketplaces: {keys}.")
    if rules.min_inspection:
        lines.append(f"A sale must give the buyer at least {_duration(rules.min_inspection)} "
                     "to inspect the piece; only a gift may change hands directly.")
    return lines or ["No rule: the piece may be sold like any other."]


def money(minor: int, currency: str) -> str:
    """``minor`` units of ``currency`` as people write them: 5,000.00 EUR."""
    if currency in _NO_DECIMALS:
        return f"{minor:,} {currency}"
    return f"{minor // 100:,}.{minor % 100:02d} {currency}"


def _days(n: int) -> str:
    return "day" if n == 1 else f"{n} days"


def _duration(seconds: int) -> str:
    for unit, size in (("day", DAY), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds} seconds"
