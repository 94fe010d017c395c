"""Derived state of a subject after each entry: what the rules decide against.

States are stored beside each entry (an internal cache, msgpack-encoded) so
that an item's current state is one indexed read, and every audit recomputes
them from the signed entries and compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from ._statement import authority_subject

ItemStatus = Literal["active", "lost", "stolen", "revoked"]


class Grant(msgspec.Struct, frozen=True, array_like=True):
    """A role an authority holds, and the authority that granted it."""

    role: str
    granter: str


class RevokedKey(msgspec.Struct, frozen=True, array_like=True):
    """A key cut off from ``cutoff`` (log time) on."""

    key: bytes
    cutoff: int


class PublishedRules(msgspec.Struct, frozen=True, array_like=True):
    """One version of an issuer's transfer rules (``rules.published``)."""

    version: int
    #: SHA-256 of the human-readable text.
    text: bytes
    #: The ``rules`` map as signed (deterministic CBOR; decode with _events.TransferRules).
    rules: bytes
    #: Log time it was published.
    time: int


class AuthorityState(msgspec.Struct, frozen=True, tag="authority"):
    """An organisation's keys and roles, as its authority chain leaves them."""

    subject: str
    #: The current signing key; None after it was revoked and not replaced.
    key: bytes | None
    name: str = ""
    roles: tuple[Grant, ...] = ()
    #: Former keys in the order they stopped being current (rotated out, or
    #: revoked while current), each with that log time.
    retired: tuple[RevokedKey, ...] = ()
    #: Keys revoked as compromised, each refused from its cut-off.
    revoked: tuple[RevokedKey, ...] = ()
    #: Keys the creator installed on a keyless authority (re-keying), with the
    #: log time; a key succession that reaches one of them stops there.
    rekeyed: tuple[RevokedKey, ...] = ()
    #: The authority that created the chain, stored only once no grant is left
    #: to name it (see :meth:`creator`); "" otherwise, so that states stored
    #: before this field existed still encode byte for byte.
    created_by: str = ""
    #: An issuer's scope, from its latest issuer grant (protocol.md 4.3): the
    #: GS1 company prefixes and domains it may certify under; empty states
    #: are stored without them (see encode_state).
    gs1_prefixes: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    #: An issuer's published transfer rules, every version, oldest first
    #: (items refer to the version they were issued under).
    rules: tuple[PublishedRules, ...] = ()

    @property
    def creator(self) -> str:
        """The authority that created this chain and alone may change its roles
        and revoke its keys ("" for the root: no one but itself)."""
        if self.created_by:
            return self.created_by
        return self.roles[0].granter if self.roles else ""

    def has_role(self, role: str, granter: str | None = None) -> bool:
        """Whether the authority holds ``role`` (granted by ``granter`` if given)."""
        for g in self.roles:  # noqa: SIM110 - no generator per call on the append path
            if g.role == role and (granter is None or g.granter == granter):
                return True
        return False

    def cutoff(self, key: bytes) -> int | None:
        """The log time from which ``key`` is refused, or None if it is not."""
        for group in (self.revoked, self.retired):
            for r in group:
                if r.key == key:
                    return r.cutoff
        return None


class ItemState(msgspec.Struct, frozen=True, tag="item"):
    """A piece's certificate, owner and status, as its chain leaves them."""

    subject: str
    #: The authority (chain id) that issued the certificate.
    issuer: str
    owner: bytes
    status: ItemStatus
    #: Hash of the cert.issued statement.
    certificate: bytes
    #: Authorities that attested the certificate, in order.
    attested_by: tuple[str, ...] = ()
    #: Number of entries on the item's chain.
    events: int = 1
    #: The item's latest escrow (spec/escrow.md), open or settled; None if it never had one.
    escrow: EscrowState | None = None
    #: Care plans (spec/aftercare.md), in enrolment order; ended ones stay, as ended.
    plans: tuple[PlanState, ...] = ()
    #: Every repair of the piece, in order: multi-step ones and one-step records.
    repairs: tuple[RepairState, ...] = ()
    #: The owner's consents to redemptions not yet redeemed.
    consents: tuple[Consent, ...] = ()
    #: The item's latest owner-key recovery (spec/recovery.md), pending or settled.
    recovery: RecoveryState | None = None
    #: The version of the issuer's transfer rules the piece is sold under (0: none).
    rules: int = 0
    #: Items sold under rules only (spec/rules.md): log times of the latest
    #: inspection or service, and appraisal, that a rule accepts (0: none).
    inspected: int = 0
    appraised: int = 0


RecoveryPhase = Literal["pending", "cancelled", "completed"]


class RecoveryState(msgspec.Struct, frozen=True):
    """One recovery of an item's owner key, as the entries so far leave it.

    A pending recovery completes at ``effective`` (log time) by itself, as
    escrow deadlines lapse: the state at a later log time has the new owner.
    """

    #: Statement hash of its recovery.started.
    id: bytes
    new_owner: bytes
    #: Log times: started at, effective from.
    started: int
    effective: int
    #: The authority (chain id) that started it.
    by: str
    state: RecoveryPhase = "pending"


PlanStatus = Literal["active", "cancelled", "ended"]


class PlanState(msgspec.Struct, frozen=True):
    """One care plan of an item, as the entries so far leave it (see _care).

    ``status`` is as recorded; a plan past ``ends`` is expired from then on,
    whatever it says (:func:`provledger._care.plan_status`).
    """

    #: Statement hash of its care.enrolled.
    id: bytes
    #: The issuer authority whose plan it is.
    provider: str
    tier: str
    starts: int
    ends: int
    terms: bytes
    transfer: Literal["with_piece", "ends"]
    status: PlanStatus = "active"
    #: Credits left: units, and minor units of ``currency``.
    credits: int = 0
    credit_minor: int = 0
    currency: str = ""
    no_consent: bool = False
    #: Log time of its latest renewal (0: never): credits added then.
    renewed: int = 0

    def status_at(self, log_time: int) -> Literal["active", "pending", "expired",
                                                     "cancelled", "ended"]:
        """Where the plan stands at ``log_time``: as recorded once cancelled or
        ended; otherwise pending before ``starts``, expired after ``ends``."""
        if self.status != "active":
            return self.status
        if log_time > self.ends:
            return "expired"
        return "pending" if log_time < self.starts else "active"

    def credits_at(self, log_time: int) -> tuple[int, int]:
        """(units, minor units) usable at ``log_time``: none unless active."""
        if self.status_at(log_time) != "active":
            return 0, 0
        return self.credits, self.credit_minor


RepairStatus = Literal["requested", "received", "in_progress", "waiting_parts", "ready",
                       "collected", "cancelled"]


class RepairState(msgspec.Struct, frozen=True):
    """One repair of an item (see _repairs); a one-step ``repair.recorded`` is
    one that was collected when recorded."""

    #: Statement hash of its repair.requested (or repair.recorded).
    id: bytes
    status: RepairStatus
    #: The workshop (authority chain id) doing the work; "" until one takes it.
    workshop: str = ""
    #: Log times: asked for, promised ready by (0: no promise), ready at (0: not yet).
    requested: int = 0
    promised: int = 0
    ready: int = 0
    #: Whether the workshop holds the piece now.
    at_workshop: bool = False
    #: The plan (its id) a redemption paid it from, if any.
    paid_by: bytes | None = None

    @property
    def open(self) -> bool:
        """Not finished: neither collected nor cancelled, or still at the workshop."""
        return self.at_workshop or self.status not in ("collected", "cancelled")

    def late_at(self, log_time: int) -> bool:
        """Whether the promise was broken by ``log_time``: ready after the
        promised time, or not ready and the promised time passed."""
        if not self.promised or (self.status == "cancelled" and not self.ready):
            return False
        return (self.ready or log_time) > self.promised


class Consent(msgspec.Struct, frozen=True, array_like=True):
    """An owner's open consent (statement hash ``id``) to pay ``repair`` from ``plan``."""

    id: bytes
    plan: bytes
    repair: bytes
    credits: int
    credit_minor: int


EscrowPhase = Literal["offered", "accepted", "disputed",
                      "completed", "returned", "declined", "cancelled", "expired"]


class Vote(msgspec.Struct, frozen=True, array_like=True):
    """A party's latest ``escrow.resolution`` on a disputed escrow."""

    party: Literal["buyer", "seller", "arbiter"]
    outcome: Literal["buyer", "seller"]


class EscrowState(msgspec.Struct, frozen=True):
    """One escrow of an item, as the entries so far leave it (see _escrow)."""

    #: Statement hash of its escrow.opened.
    id: bytes
    seller: bytes
    buyer: bytes
    state: EscrowPhase
    offer_expires: int
    inspection_ends: int
    terms_hash: bytes
    condition_hash: bytes
    on_timeout: Literal["dispute", "return"]
    direct: bool = False
    arbiter: bytes | None = None
    votes: tuple[Vote, ...] = ()


class _ItemStateV1(msgspec.Struct, frozen=True, tag="item"):
    """ItemState as stored before escrows existed: items that never had one
    are still stored so, byte for byte, and ledgers written then still audit."""

    subject: str
    issuer: str
    owner: bytes
    status: ItemStatus
    certificate: bytes
    attested_by: tuple[str, ...] = ()
    events: int = 1


class _ItemStateV2(msgspec.Struct, frozen=True, tag="item"):
    """ItemState as stored before aftercare existed: items with an escrow but
    no plan, repair or consent are still stored so, byte for byte."""

    subject: str
    issuer: str
    owner: bytes
    status: ItemStatus
    certificate: bytes
    attested_by: tuple[str, ...] = ()
    events: int = 1
    escrow: EscrowState | None = None


class _ItemStateV3(msgspec.Struct, frozen=True, tag="item"):
    """ItemState as stored before inspections and appraisals were tracked for
    transfer rules: every item without them is still stored so, byte for byte."""

    subject: str
    issuer: str
    owner: bytes
    status: ItemStatus
    certificate: bytes
    attested_by: tuple[str, ...] = ()
    events: int = 1
    escrow: EscrowState | None = None
    plans: tuple[PlanState, ...] = ()
    repairs: tuple[RepairState, ...] = ()
    consents: tuple[Consent, ...] = ()
    recovery: RecoveryState | None = None
    rules: int = 0


class _AuthorityStateV2(msgspec.Struct, frozen=True, tag="authority"):
    """AuthorityState as stored before transfer rules existed: every authority
    that never published rules is stored so, byte for byte."""

    subject: str
    key: bytes | None
    name: str = ""
    roles: tuple[Grant, ...] = ()
    retired: tuple[RevokedKey, ...] = ()
    revoked: tuple[RevokedKey, ...] = ()
    rekeyed: tuple[RevokedKey, ...] = ()
    created_by: str = ""
    gs1_prefixes: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()


class _AuthorityStateV1(msgspec.Struct, frozen=True, tag="authority"):
    """AuthorityState as stored before ``created_by`` existed; every state
    whose creator a grant still names is stored so."""

    subject: str
    key: bytes | None
    name: str = ""
    roles: tuple[Grant, ...] = ()
    retired: tuple[RevokedKey, ...] = ()
    revoked: tuple[RevokedKey, ...] = ()


SubjectState = ItemState | AuthorityState


@dataclass(frozen=True, slots=True)
class Outcome:
    """A subject's state after a decided statement, and the keys it introduces."""

    state: SubjectState
    new_keys: tuple[bytes, ...] = ()

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SubjectState)


def encode_state(state: SubjectState) -> bytes:
    """Serialize a state for storage."""
    if type(state) is ItemState and not (state.plans or state.repairs or state.consents
                                         or state.recovery or state.rules):
        if state.escrow is None:
            return _encoder.encode(_ItemStateV1(
                state.subject, state.issuer, state.owner, state.status, state.certificate,
                state.attested_by, state.events))
        return _encoder.encode(_ItemStateV2(
            state.subject, state.issuer, state.owner, state.status, state.certificate,
            state.attested_by, state.events, state.escrow))
    if type(state) is ItemState and not (state.inspected or state.appraised):
        return _encoder.encode(_ItemStateV3(
            state.subject, state.issuer, state.owner, state.status, state.certificate,
            state.attested_by, state.events, state.escrow, state.plans, state.repairs,
            state.consents, state.recovery, state.rules))
    if (type(state) is AuthorityState and not state.created_by and not state.gs1_prefixes
            and not state.domains and not state.rekeyed and not state.rules):
        return _encoder.encode(_AuthorityStateV1(
            state.subject, state.key, state.name, state.roles, state.retired, state.revoked))
    if type(state) is AuthorityState and not state.rules:
        return _encoder.encode(_AuthorityStateV2(
            state.subject, state.key, state.name, state.roles, state.retired, state.revoked,
            state.rekeyed, state.created_by, state.gs1_prefixes, state.domains))
    return _encoder.encode(state)


def decode_state(data: bytes) -> SubjectState:
    """Deserialize a stored state.

    Raises:
        msgspec.DecodeError: the bytes are not a state (the store maps this
            to an AuditError).
    """
    state: SubjectState = _decoder.decode(data)
    return state


def root_state(root_key: bytes) -> AuthorityState:
    """The root authority before its chain has any entry."""
    return AuthorityState(subject=authority_subject(root_key), key=root_key, name="root",
                          roles=(Grant("root", ""),))
