"""provledger: an append-only, signed, hash-chained provenance ledger for jewellery.

The public API is what ``__all__`` names, what a newcomer needs, and three
public submodules: ``provledger.events`` (every event body), ``provledger.errors``
(every error class) and ``provledger.verify`` (the offline verifier, which
loads no storage code). The other names importable from here stay for
compatibility; their stable homes are those submodules. Modules whose names
start with ``_`` are internal and may change without notice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors, events, verify
from ._codec import convert as _convert
from ._disclosure import Committed as Committed, Revealed as Revealed, commit, reveal
from ._display import safe_text
from ._errors import (
    AuditError as AuditError,
    ChainError as ChainError,
    CheckpointError as CheckpointError,
    ClockError as ClockError,
    DamagedStoreError as DamagedStoreError,
    DecodeError,
    DisclosureError as DisclosureError,
    DuplicateStatementError as DuplicateStatementError,
    ForkError as ForkError,
    IncompleteHistoryError as IncompleteHistoryError,
    ItemIdError as ItemIdError,
    KeyFileError as KeyFileError,
    LedgerBusyError as LedgerBusyError,
    MissingConsistencyProofError as MissingConsistencyProofError,
    NonCanonicalItemIdError as NonCanonicalItemIdError,
    NotFoundError,
    OutOfScopeError as OutOfScopeError,
    PolicyError,
    ProofError as ProofError,
    ProvLedgerError,
    ReceiptUnavailableError as ReceiptUnavailableError,
    RequirementError as RequirementError,
    RevokedKeyError as RevokedKeyError,
    SignatureError as SignatureError,
    StaleCheckpointError as StaleCheckpointError,
    StateError as StateError,
    StorageError,
    TimeRangeError as TimeRangeError,
    TransferRuleError as TransferRuleError,
    UnauthorizedError as UnauthorizedError,
    UnknownKeyError as UnknownKeyError,
    VerificationError,
    WrongItemError as WrongItemError,
    WrongLogError as WrongLogError,
)
from ._escrow import condition_hash, is_open as _is_open, terms_hash
from ._events import (
    AppraisalRecorded as AppraisalRecorded,
    CareCancelled as CareCancelled,
    CareConsented as CareConsented,
    CareEnrolled as CareEnrolled,
    CareRedeemed as CareRedeemed,
    CareRenewed as CareRenewed,
    CertificateAttested as CertificateAttested,
    CertificateIssued as CertificateIssued,
    CertificateReaffirmed as CertificateReaffirmed,
    CertificateRenewed as CertificateRenewed,
    CertificateRevoked as CertificateRevoked,
    ConditionReport as ConditionReport,
    Dimensions as Dimensions,
    EscrowAccepted as EscrowAccepted,
    EscrowAcknowledged as EscrowAcknowledged,
    EscrowCancelled as EscrowCancelled,
    EscrowDeclined as EscrowDeclined,
    EscrowDisputed as EscrowDisputed,
    EscrowOpened as EscrowOpened,
    EscrowRejected as EscrowRejected,
    EscrowResolution as EscrowResolution,
    EscrowTerms as EscrowTerms,
    Event as Event,
    KeyRevoked as KeyRevoked,
    KeyRotated as KeyRotated,
    LostReported as LostReported,
    OwnerRotated as OwnerRotated,
    Part as Part,
    Recovered as Recovered,
    RecoveryCancelled as RecoveryCancelled,
    RecoveryStarted as RecoveryStarted,
    RepairCancelled as RepairCancelled,
    RepairCollected as RepairCollected,
    RepairProgress as RepairProgress,
    RepairReady as RepairReady,
    RepairReceived as RepairReceived,
    RepairRecorded as RepairRecorded,
    RepairRequested as RepairRequested,
    RoleGranted as RoleGranted,
    RoleRevoked as RoleRevoked,
    RulesPublished as RulesPublished,
    StolenReported as StolenReported,
    Stone as Stone,
    TransferRules as TransferRules,
)
from ._history import EventView as EventView
from ._itemid import canonical_item_id, gs1_item_id, gtin_is_valid as gtin_is_valid, serial_item_id
from ._keyfile import read_public_key, read_signing_key, write_public_key, write_signing_key
from ._keys import SigningKey, format_public_key, parse_public_key
from ._model import (
    CheckpointInfo as CheckpointInfo,
    EscrowView as EscrowView,
    History,
    PlanView as PlanView,
    RecoveryView as RecoveryView,
    RepairView as RepairView,
    RulesView as RulesView,
)
from ._owner_keys import RECOVERY_LOCK as RECOVERY_LOCK
from ._policy import (
    DEFAULT_MAX_AGE,
    Policy,
    PolicyWitness as PolicyWitness,
    Requirement as Requirement,
    parse_policy,
    read_policy,
)
from ._progress import Progress
from ._state import (
    AuthorityState as AuthorityState,
    Consent as Consent,
    EscrowState as EscrowState,
    ItemState as ItemState,
    PlanState as PlanState,
    RecoveryState as RecoveryState,
    RepairState as RepairState,
)
from ._statement import Statement, authority_subject, sign_statement, verify_statement
from ._time import rfc3339 as format_time
from ._types import MAX_TIME as MAX_TIME
from ._verify import VERIFICATION_CHECKS as VERIFICATION_CHECKS, Report as Report, verify_bundle
from ._wallet import Wallet, is_wallet_file, read_wallet, write_wallet

if TYPE_CHECKING:
    from . import witness as witness
    from ._audit import AuditReport, Invalidated as Invalidated
    from ._ledger import Ledger, Record
    from ._monitor import (
        MonitorReport as MonitorReport,
        monitor as monitor,
        open_backup as open_backup,
    )
    from ._report import item_report
    from ._tlog import SignedCheckpoint as SignedCheckpoint

#: Names whose modules need the store, imported on first use, so that
#: verifying a bundle (provledger.verify) never loads a database driver.
_STORE_BACKED = {
    "AuditReport": "_audit", "Invalidated": "_audit", "Ledger": "_ledger", "Record": "_ledger",
    "item_report": "_report",
    "SignedCheckpoint": "_tlog",
    "MonitorReport": "_monitor", "monitor": "_monitor", "open_backup": "_monitor",
}
#: Public submodules loaded on first use: witnessing is not part of verifying.
_SUBMODULES = ("witness",)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _STORE_BACKED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


#: Former names, kept for compatibility.
ItemReport = History
#: The schema conversion the CLI uses for JSON bodies (errors list allowed values).
convert_fields = _convert
#: Whether an escrow still holds its item.
escrow_is_open = _is_open

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_AGE",
    "AuditReport",
    "DecodeError",
    "History",
    "Ledger",
    "NotFoundError",
    "Policy",
    "PolicyError",
    "Progress",
    "ProvLedgerError",
    "Record",
    "SigningKey",
    "Statement",
    "StorageError",
    "VerificationError",
    "Wallet",
    "authority_subject",
    "canonical_item_id",
    "commit",
    "condition_hash",
    "errors",
    "events",
    "format_public_key",
    "format_time",
    "gs1_item_id",
    "is_wallet_file",
    "item_report",
    "parse_policy",
    "parse_public_key",
    "read_policy",
    "read_public_key",
    "read_signing_key",
    "read_wallet",
    "reveal",
    "safe_text",
    "serial_item_id",
    "sign_statement",
    "terms_hash",
    "verify",
    "verify_bundle",
    "verify_statement",
    "write_public_key",
    "write_signing_key",
    "write_wallet",
]
