"""The event bodies a statement can carry, as frozen msgspec Structs.

Type tags (``TYPE``) and field names are wire format (spec/events.cddl): never
rename them or derive them from class names. Optional fields default to empty
and are left out of the encoding, so every event has exactly one encoding.

Fields are declared in deterministic-CBOR key order (shorter names first, then
bytewise), so a Struct encodes canonically without a sorting pass; a test
checks every class.
"""

from __future__ import annotations

import itertools
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from ._itemid import DOMAIN_PATTERN, GS1_PREFIX_PATTERN
from ._types import (
    Count,
    Currency,
    Digest,
    Digests,
    Notes,
    Positive,
    PublicKey,
    ShortText,
    Text,
    Timestamp,
    Work,
)


class _Wire(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, gc=False,
            kw_only=True):
    """Common settings for every wire Struct."""


#: The names of the fields that may hold free text or something personal: on
#: any event (and in a condition report) a field so named may be committed by
#: salted hash instead of written in clear (spec/disclosure.md, protocol.md 2.2).
COMMITTABLE_NAMES = frozenset(
    {"notes", "inscription", "work", "performed_by", "appraiser", "reference", "reason"}
)
#: Commitments one body may carry (SD-CWT allows decoys; so do we, up to this).
MAX_COMMITMENTS = 16
Commitments = Annotated[list[Digest], Meta(max_length=MAX_COMMITMENTS)]


class Event(_Wire, frozen=True, kw_only=True):
    """Base of every event body; ``TYPE`` is its wire tag.

    ``sd`` holds the digests of the body's committed fields, ascending: a
    committed field is left out of the body, and its clear text travels off
    the ledger as a disclosure (spec/disclosure.md). Empty: nothing committed.
    """

    TYPE: ClassVar[str]
    #: Text fields the event needs: in clear, or committed (then ``sd`` is not empty).
    REQUIRED_TEXT: ClassVar[tuple[str, ...]] = ()
    sd: Commitments = []

    def __post_init__(self) -> None:
        if self.sd:
            _check_ascending(self.sd)
        elif self.REQUIRED_TEXT:
            for name in self.REQUIRED_TEXT:
                if not getattr(self, name):
                    raise ValueError(f"Object missing required field `{name}` "
                                     "(in clear, or committed in `sd`)")


def _check_ascending(sd: list[bytes]) -> None:
    for a, b in itertools.pairwise(sd):
        if a >= b:
            raise ValueError("`sd`: commitments must be distinct and in ascending order")


# -- item pieces ------------------------------------------------------------


class Stone(_Wire, frozen=True, kw_only=True):
    """One kind of stone set in the piece (``count`` alike)."""

    cut: Text = ""
    kind: ShortText
    color: Text = ""
    count: Positive = 1
    #: A grading lab's report number, if any.
    report: Text = ""
    clarity: Text = ""
    #: Total weight in hundredths of a carat (1 ct = 200 mg).
    weight_ct100: Count = 0


class Dimensions(_Wire, frozen=True, kw_only=True):
    """Outer dimensions in micrometres."""

    width_um: Count
    height_um: Count
    length_um: Count


class Part(_Wire, frozen=True, kw_only=True):
    """A part used in a repair."""

    name: ShortText
    count: Positive = 1
    mass_mg: Count = 0
    material: Text = ""


# -- item events ------------------------------------------------------------

RepairCategory = Literal["repair", "service", "resize", "cleaning", "restoration"]


class CertificateIssued(Event, frozen=True, kw_only=True):
    """The genesis of an item: an authorized issuer certifies the piece."""

    TYPE = "cert.issued"
    gtin: Annotated[str, Meta(pattern=r"^([0-9]{8}|[0-9]{12,14})\Z")] = ""
    #: What the piece is: ring, pendant, watch, ...
    kind: ShortText
    size: Text = ""
    metal: Text = ""
    notes: Notes = ""
    #: The first owner: the buyer at the counter, or the issuer while in stock.
    owner: PublicKey
    #: The version of the issuer's published transfer rules (``rules.published``)
    #: the piece is sold under: the issuer's latest when issued; 0 when it has none.
    rules: Count = 0
    photos: Digests = []
    serial: ShortText
    stones: Annotated[list[Stone], Meta(max_length=256)] = []
    mass_mg: Count = 0
    #: Parts per thousand (750 for 18 ct gold, 925 for sterling silver).
    fineness: Annotated[int, Meta(ge=0, le=1000)] = 0
    documents: Digests = []
    dimensions: Dimensions | None = None
    inscription: Text = ""


class CertificateAttested(Event, frozen=True, kw_only=True):
    """A second authorized party who inspected the piece countersigns it."""

    TYPE = "cert.attested"
    notes: Notes = ""
    photos: Digests = []
    capacity: Literal["gemologist", "appraiser"]
    documents: Digests = []
    #: Hash of the certificate statement being attested (the item's genesis).
    certificate: Digest


class CertificateRenewed(Event, frozen=True, kw_only=True):
    """The issuer re-confirms the certificate, optionally with new evidence."""

    TYPE = "cert.renewed"
    REQUIRED_TEXT = ("reason",)
    notes: Notes = ""
    photos: Digests = []
    reason: ShortText = ""
    documents: Digests = []


class CertificateRevoked(Event, frozen=True, kw_only=True):
    """The issuer withdraws the certificate; the item's chain is closed."""

    TYPE = "cert.revoked"
    REQUIRED_TEXT = ("reason",)
    notes: Notes = ""
    reason: ShortText = ""


class CertificateReaffirmed(Event, frozen=True, kw_only=True):
    """The issuer, with a valid key, vouches again for a certificate whose
    statement a since-revoked key signed after its cut-off (protocol.md 6.4)."""

    TYPE = "cert.reaffirmed"
    notes: Notes = ""
    #: Hash of the certificate statement being reaffirmed (the item's genesis).
    certificate: Digest


class RepairRecorded(Event, frozen=True, kw_only=True):
    """Work done on the piece by a service provider (or logged by its owner)."""

    TYPE = "repair.recorded"
    REQUIRED_TEXT = ("work", "performed_by")
    work: Work = ""
    notes: Notes = ""
    parts: Annotated[list[Part], Meta(max_length=256)] = []
    started: Timestamp
    category: RepairCategory
    completed: Timestamp
    #: The workshop's business name (never a person's).
    performed_by: ShortText = ""
    photos_after: Digests = []
    photos_before: Digests = []


class AppraisalRecorded(Event, frozen=True, kw_only=True):
    """A valuation, in minor units of a currency."""

    TYPE = "appraisal.recorded"
    REQUIRED_TEXT = ("appraiser",)
    notes: Notes = ""
    method: Literal["in_person", "lab", "remote"]
    photos: Digests = []
    currency: Currency
    appraiser: ShortText = ""
    documents: Digests = []
    value_minor: Count


class LostReported(Event, frozen=True, kw_only=True):
    """The owner reports the piece lost."""

    TYPE = "lost.reported"
    notes: Notes = ""


class StolenReported(Event, frozen=True, kw_only=True):
    """The issuer or an authorized reporter flags the piece stolen."""

    TYPE = "stolen.reported"
    notes: Notes = ""
    #: A police or insurer reference; never a person's name.
    reference: Text = ""


class Recovered(Event, frozen=True, kw_only=True):
    """A lost or stolen piece is back."""

    TYPE = "recovered"
    notes: Notes = ""


# -- escrow events (spec/escrow.md) ------------------------------------------
#
# All are item events. Every one after ``escrow.opened`` names the escrow (the
# statement hash of its ``escrow.opened``); the buyer's acceptance and
# acknowledgement also repeat the hashes of the terms and the condition report
# they agree to. ``prev`` binds each to the item's head.

EscrowOutcome = Literal["buyer", "seller"]


class EscrowTerms(_Wire, frozen=True, kw_only=True):
    """What seller and buyer agree on; committed to by ``terms_hash``."""

    #: The care plans that go with the piece (ids: their ``care.enrolled``
    #: statement hashes): exactly the item's active plans that transfer
    #: (spec/aftercare.md), so the buyer's acceptance covers them.
    plans: Annotated[list[Digest], Meta(max_length=16)] = []
    #: A plain handover (a gift, a sale at the counter): the buyer's acceptance
    #: moves ownership at once, without an inspection phase.
    direct: bool = False
    #: The key that may settle a dispute alone; absent: only buyer and seller together.
    arbiter: PublicKey | None = None
    currency: Currency
    #: What an inspection left unacknowledged at its deadline becomes.
    on_timeout: Literal["dispute", "return"]
    #: The marketplace that brokered the sale, for the record (it signs nothing).
    marketplace: PublicKey | None = None
    #: The price in minor units of ``currency`` (a reference: payment is off the ledger).
    price_minor: Count


class ConditionReport(_Wire, frozen=True, kw_only=True):
    """The piece's condition as the seller declares it; committed to by ``condition_hash``.

    ``sd``: as an event body's, for a committed ``notes``."""

    sd: Commitments = []
    grade: ShortText
    notes: Notes = ""
    photos: Digests = []

    def __post_init__(self) -> None:
        if self.sd:
            _check_ascending(self.sd)


class EscrowOpened(Event, frozen=True, kw_only=True):
    """The owner offers the piece to ``buyer``; the statement's hash is the escrow id."""

    TYPE = "escrow.opened"
    buyer: PublicKey
    terms: EscrowTerms
    condition: ConditionReport
    #: Last log time at which the buyer may accept.
    offer_expires: Timestamp
    #: Last log time at which the buyer may acknowledge the condition (not for direct terms).
    inspection_ends: Timestamp = 0


class EscrowAccepted(Event, frozen=True, kw_only=True):
    """The buyer accepts the offer, repeating what it agrees to."""

    TYPE = "escrow.accepted"
    escrow: Digest
    terms_hash: Digest
    condition_hash: Digest


class EscrowDeclined(Event, frozen=True, kw_only=True):
    """The buyer turns the offer down."""

    TYPE = "escrow.declined"
    notes: Notes = ""
    escrow: Digest


class EscrowCancelled(Event, frozen=True, kw_only=True):
    """The seller withdraws the offer before the buyer accepts it."""

    TYPE = "escrow.cancelled"
    notes: Notes = ""
    escrow: Digest


class EscrowAcknowledged(Event, frozen=True, kw_only=True):
    """The buyer, holding the piece, confirms its condition: ownership moves."""

    TYPE = "escrow.acknowledged"
    notes: Notes = ""
    escrow: Digest
    terms_hash: Digest
    condition_hash: Digest


class EscrowRejected(Event, frozen=True, kw_only=True):
    """The buyer rejects the piece after inspection; it goes back to the seller."""

    TYPE = "escrow.rejected"
    REQUIRED_TEXT = ("reason",)
    notes: Notes = ""
    escrow: Digest
    photos: Digests = []
    reason: ShortText = ""


class EscrowDisputed(Event, frozen=True, kw_only=True):
    """Buyer or seller puts an accepted escrow (back) in front of its arbiter."""

    TYPE = "escrow.disputed"
    REQUIRED_TEXT = ("reason",)
    notes: Notes = ""
    escrow: Digest
    photos: Digests = []
    reason: ShortText = ""
    documents: Digests = []


class EscrowResolution(Event, frozen=True, kw_only=True):
    """A decision (arbiter) or a vote (buyer, seller) on a disputed escrow."""

    TYPE = "escrow.resolution"
    notes: Notes = ""
    escrow: Digest
    #: Who ends up with the piece: the buyer (ownership moves) or the seller.
    outcome: EscrowOutcome


# -- aftercare events (spec/aftercare.md) -------------------------------------
#
# All are item events. A care plan's id is the statement hash of its
# ``care.enrolled``, a repair's the statement hash of its ``repair.requested``
# (or of a one-step ``repair.recorded``); later events name them.

Transfer = Literal["with_piece", "ends"]


class CareEnrolled(Event, frozen=True, kw_only=True):
    """A jeweler (an issuer authority) puts the piece on one of its care plans."""

    TYPE = "care.enrolled"
    #: Last log time the plan covers (inclusive).
    ends: Timestamp
    #: The plan's tier as the jeweler sells it: Bronze, Silver, Gold, ...
    tier: ShortText
    notes: Notes = ""
    #: SHA-256 of the plan's published terms document (kept off the ledger).
    terms: Digest
    #: First log time the plan covers.
    starts: Timestamp
    #: Repair credits granted, in units (one unit: one covered job).
    credits: Count = 0
    #: Currency of ``credit_minor``; required with it.
    currency: Currency | None = None
    #: What the plan includes: cleaning, inspection, renewal, ... (shown, not enforced).
    services: Annotated[list[ShortText], Meta(max_length=32)] = []
    #: On a change of owner the plan goes with the piece, or ends.
    transfer: Transfer
    #: The terms let a workshop redeem credits without the owner's consent.
    no_consent: bool = False
    #: Repair credit granted as money, in minor units of ``currency``.
    credit_minor: Count = 0


class CareRenewed(Event, frozen=True, kw_only=True):
    """The plan's provider extends its term, optionally adding credits or new terms."""

    TYPE = "care.renewed"
    #: The new last log time the plan covers; later than the current one.
    ends: Timestamp
    plan: Digest
    notes: Notes = ""
    #: New published terms, if they changed.
    terms: Digest | None = None
    #: Credits added (units, and minor units of the plan's currency).
    credits: Count = 0
    credit_minor: Count = 0


class CareCancelled(Event, frozen=True, kw_only=True):
    """The plan's provider ends the plan early; its credits are gone."""

    TYPE = "care.cancelled"
    REQUIRED_TEXT = ("reason",)
    plan: Digest
    notes: Notes = ""
    reason: ShortText = ""


class CareConsented(Event, frozen=True, kw_only=True):
    """The owner agrees that the plan pays for a repair, up to the amounts named."""

    TYPE = "care.consented"
    plan: Digest
    notes: Notes = ""
    repair: Digest
    credits: Count = 0
    credit_minor: Count = 0


class CareRedeemed(Event, frozen=True, kw_only=True):
    """A workshop of the plan's provider spends plan credits on one repair."""

    TYPE = "care.redeemed"
    plan: Digest
    notes: Notes = ""
    repair: Digest
    #: The owner's ``care.consented`` (its statement hash); absent only when
    #: the plan's terms need no consent.
    consent: Digest | None = None
    credits: Count = 0
    credit_minor: Count = 0


class RepairRequested(Event, frozen=True, kw_only=True):
    """A repair is asked for (by the owner or a workshop): what, and by when."""

    TYPE = "repair.requested"
    REQUIRED_TEXT = ("work",)
    work: Work = ""
    notes: Notes = ""
    photos: Digests = []
    category: RepairCategory
    #: The log time by which the workshop promises the piece ready (its turnaround).
    promised: Timestamp


class RepairReceived(Event, frozen=True, kw_only=True):
    """The workshop has the piece, and notes its condition on arrival."""

    TYPE = "repair.received"
    notes: Notes = ""
    repair: Digest
    condition: ConditionReport


class RepairProgress(Event, frozen=True, kw_only=True):
    """The workshop moves the repair to work in progress, or waiting for parts."""

    TYPE = "repair.progress"
    notes: Notes = ""
    stage: Literal["in_progress", "waiting_parts"]
    repair: Digest
    #: A revised estimate of when it will be ready (the promise stays as made).
    expected: Timestamp = 0


class RepairReady(Event, frozen=True, kw_only=True):
    """The work is done; the piece waits for collection."""

    TYPE = "repair.ready"
    #: What was done, if it differs from what was asked.
    work: Notes = ""
    notes: Notes = ""
    parts: Annotated[list[Part], Meta(max_length=256)] = []
    repair: Digest
    photos_after: Digests = []


class RepairCollected(Event, frozen=True, kw_only=True):
    """The piece has left the workshop (after the work, or after a cancellation)."""

    TYPE = "repair.collected"
    notes: Notes = ""
    repair: Digest


class RepairCancelled(Event, frozen=True, kw_only=True):
    """The repair will not be done; a piece at the workshop still has to be collected."""

    TYPE = "repair.cancelled"
    REQUIRED_TEXT = ("reason",)
    notes: Notes = ""
    reason: ShortText = ""
    repair: Digest


# -- owner keys (spec/recovery.md) --------------------------------------------


class OwnerRotated(Event, frozen=True, kw_only=True):
    """The owner moves the piece to a new key of its own (signed by the current one)."""

    TYPE = "owner.rotated"
    notes: Notes = ""
    new_owner: PublicKey


class RecoveryStarted(Event, frozen=True, kw_only=True):
    """The issuer (or a reporter it authorized), at the owner's request, starts
    moving the piece to a new key: effective only at ``effective``, and
    cancellable by the current owner key until then."""

    TYPE = "recovery.started"
    REQUIRED_TEXT = ("reason",)
    notes: Notes = ""
    #: Why, in a few words ("owner lost the phone holding the key"); never a name.
    reason: ShortText = ""
    #: The log time from which the new key owns the piece; at least the
    #: protocol's time lock after this entry's log time.
    effective: Timestamp
    new_owner: PublicKey


class RecoveryCancelled(Event, frozen=True, kw_only=True):
    """The current owner key (or whoever started it) stops a pending recovery."""

    TYPE = "recovery.cancelled"
    notes: Notes = ""
    #: The statement hash of the recovery.started.
    recovery: Digest


# -- authority events -------------------------------------------------------

class TransferRules(_Wire, frozen=True, kw_only=True):
    """An issuer's rules for reselling its pieces (spec/rules.md); every field
    is optional and absent means no such rule, so later versions of the
    protocol add fields without changing what older statements mean."""

    #: Currency of ``appraisal_above``; required with it.
    currency: Currency | None = None
    #: A sale must name one of these marketplaces (escrow terms ``marketplace``).
    marketplaces: Annotated[list[PublicKey], Meta(max_length=64)] = []
    #: How recent the appraisal ``appraisal_above`` asks for must be, in days.
    appraisal_days: Count = 0
    #: Seconds of inspection a sale must give the buyer at least (not direct).
    min_inspection: Count = 0
    #: Care plans of this issuer go with the piece at a sale, whatever each says.
    plans_transfer: bool = False
    #: A sale at or above this price (minor units of ``currency``) needs an appraisal.
    appraisal_above: Count = 0
    #: A sale needs an inspection or service by a workshop the issuer
    #: authorized within this many days before the offer.
    inspection_days: Count = 0


class RulesPublished(Event, frozen=True, kw_only=True):
    """An issuer publishes a new version of its transfer rules on its own chain."""

    TYPE = "rules.published"
    #: SHA-256 of the human-readable text of the rules (kept off the ledger).
    text: Digest
    notes: Notes = ""
    rules: TransferRules
    #: 1 for the first, then each one more than the last.
    version: Positive


Role = Literal["issuer", "service", "reporter", "attester"]
#: An issuer's scope (protocol.md 4.3): a canonical domain, a GS1 company prefix.
Domain = Annotated[str, Meta(max_length=253, pattern=DOMAIN_PATTERN)]
GS1Prefix = Annotated[str, Meta(pattern=GS1_PREFIX_PATTERN)]


class RoleGranted(Event, frozen=True, kw_only=True):
    """The signer grants the subject authority a role.

    ``key`` must be the subject authority's current key, which also creates
    the authority when this is the first statement on its chain.
    """

    TYPE = "role.granted"
    key: PublicKey
    #: The business name shown in reports (an organisation, not a person).
    name: ShortText
    role: Role
    #: Role issuer only: the canonical DNS names its GS1 Digital Link ids may use.
    domains: Annotated[list[Domain], Meta(max_length=64)] = []
    #: Role issuer only: the GS1 company prefixes its GTINs may lie under.
    gs1_prefixes: Annotated[list[GS1Prefix], Meta(max_length=64)] = []


class RoleRevoked(Event, frozen=True, kw_only=True):
    """The granter withdraws a role it gave the subject authority."""

    TYPE = "role.revoked"
    role: Role
    notes: Notes = ""


class KeyRotated(Event, frozen=True, kw_only=True):
    """The subject authority replaces its current key with ``new_key``."""

    TYPE = "key.rotated"
    new_key: PublicKey


class KeyRevoked(Event, frozen=True, kw_only=True):
    """A key of the subject authority is revoked as compromised.

    Statements it signed whose log time is at or after ``compromised_since``
    are invalid, including ones already in the log.
    """

    TYPE = "key.revoked"
    key: PublicKey
    notes: Notes = ""
    compromised_since: Timestamp


ITEM_EVENTS: tuple[type[Event], ...] = (
    CertificateIssued,
    CertificateAttested,
    CertificateRenewed,
    CertificateRevoked,
    RepairRecorded,
    AppraisalRecorded,
    LostReported,
    StolenReported,
    Recovered,
    CertificateReaffirmed,
    EscrowOpened,
    EscrowAccepted,
    EscrowDeclined,
    EscrowCancelled,
    EscrowAcknowledged,
    EscrowRejected,
    EscrowDisputed,
    EscrowResolution,
    CareEnrolled,
    CareRenewed,
    CareCancelled,
    CareConsented,
    CareRedeemed,
    RepairRequested,
    RepairReceived,
    RepairProgress,
    RepairReady,
    RepairCollected,
    RepairCancelled,
    OwnerRotated,
    RecoveryStarted,
    RecoveryCancelled,
)
ESCROW_EVENTS: tuple[type[Event], ...] = ITEM_EVENTS[10:18]
CARE_EVENTS: tuple[type[Event], ...] = ITEM_EVENTS[18:23]
REPAIR_STATUS_EVENTS: tuple[type[Event], ...] = ITEM_EVENTS[23:29]
OWNER_KEY_EVENTS: tuple[type[Event], ...] = ITEM_EVENTS[29:]
AUTHORITY_EVENTS: tuple[type[Event], ...] = (RoleGranted, RoleRevoked, KeyRotated, KeyRevoked,
                                             RulesPublished)
EVENT_CLASSES: dict[str, type[Event]] = {c.TYPE: c for c in ITEM_EVENTS + AUTHORITY_EVENTS}
EventType = Literal[
    "cert.issued",
    "cert.attested",
    "cert.renewed",
    "cert.revoked",
    "repair.recorded",
    "appraisal.recorded",
    "lost.reported",
    "stolen.reported",
    "recovered",
    "cert.reaffirmed",
    "escrow.opened",
    "escrow.accepted",
    "escrow.declined",
    "escrow.cancelled",
    "escrow.acknowledged",
    "escrow.rejected",
    "escrow.disputed",
    "escrow.resolution",
    "care.enrolled",
    "care.renewed",
    "care.cancelled",
    "care.consented",
    "care.redeemed",
    "repair.requested",
    "repair.received",
    "repair.progress",
    "repair.ready",
    "repair.collected",
    "repair.cancelled",
    "owner.rotated",
    "recovery.started",
    "recovery.cancelled",
    "role.granted",
    "role.revoked",
    "key.rotated",
    "key.revoked",
    "rules.published",
]
