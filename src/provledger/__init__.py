"""provledger: an append-only, signed, hash-chained provenance ledger for jewellery.

The public API is what ``__all__`` names; modules whose names start with ``_``
are internal and may change without notice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._codec import convert as convert_fields
from ._display import safe_text
from ._errors import (
    AuditError,
    ChainError,
    CheckpointError,
    ClockError,
    DecodeError,
    DuplicateStatementError,
    ForkError,
    IncompleteHistoryError,
    ItemIdError,
    KeyFileError,
    LedgerBusyError,
    MissingConsistencyProofError,
    NonCanonicalItemIdError,
    NotFoundError,
    OutOfScopeError,
    PolicyError,
    ProofError,
    ProvLedgerError,
    ReceiptUnavailableError,
    RevokedKeyError,
    SignatureError,
    StaleCheckpointError,
    StateError,
    StorageError,
    TimeRangeError,
    UnauthorizedError,
    UnknownKeyError,
    VerificationError,
    WrongItemError,
    WrongLogError,
)
from ._escrow import condition_hash, terms_hash
from ._escrow import is_open as escrow_is_open
from ._events import (
    AppraisalRecorded,
    CertificateAttested,
    CertificateIssued,
    CertificateReaffirmed,
    CertificateRenewed,
    CertificateRevoked,
    ConditionReport,
    Dimensions,
    EscrowAccepted,
    EscrowAcknowledged,
    EscrowCancelled,
    EscrowDeclined,
    EscrowDisputed,
    EscrowOpened,
    EscrowRejected,
    EscrowResolution,
    EscrowTerms,
    Event,
    KeyRevoked,
    KeyRotated,
    LostReported,
    Part,
    Recovered,
    RepairRecorded,
    RoleGranted,
    RoleRevoked,
    StolenReported,
    Stone,
)
from ._history import EventView
from ._itemid import canonical_item_id, gs1_item_id, gtin_is_valid, serial_item_id
from ._keyfile import read_public_key, read_signing_key, write_public_key, write_signing_key
from ._keys import SigningKey, format_public_key, parse_public_key
from ._model import CheckpointInfo, EscrowView, History
from ._model import History as ItemReport
from ._policy import DEFAULT_MAX_AGE, Policy, parse_policy, read_policy
from ._progress import Progress
from ._state import AuthorityState, EscrowState, ItemState
from ._statement import Statement, authority_subject, sign_statement, verify_statement
from ._time import rfc3339 as format_time
from ._types import MAX_TIME
from ._verify import VERIFICATION_CHECKS, Report, verify_bundle

if TYPE_CHECKING:
    from ._audit import AuditReport, Invalidated
    from ._ledger import Ledger, Record
    from ._report import item_report
    from ._tlog import SignedCheckpoint

#: Names whose modules need the store, imported on first use, so that
#: verifying a bundle (provledger.verify) never loads a database driver.
_STORE_BACKED = {
    "AuditReport": "_audit", "Invalidated": "_audit", "Ledger": "_ledger", "Record": "_ledger",
    "item_report": "_report",
    "SignedCheckpoint": "_tlog",
}


def __getattr__(name: str) -> Any:
    module = _STORE_BACKED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_AGE",
    "MAX_TIME",
    "VERIFICATION_CHECKS",
    "AppraisalRecorded",
    "AuditError",
    "AuditReport",
    "AuthorityState",
    "CertificateAttested",
    "CertificateIssued",
    "CertificateReaffirmed",
    "CertificateRenewed",
    "CertificateRevoked",
    "ChainError",
    "CheckpointError",
    "CheckpointInfo",
    "ClockError",
    "ConditionReport",
    "DecodeError",
    "Dimensions",
    "DuplicateStatementError",
    "EscrowAccepted",
    "EscrowAcknowledged",
    "EscrowCancelled",
    "EscrowDeclined",
    "EscrowDisputed",
    "EscrowOpened",
    "EscrowRejected",
    "EscrowResolution",
    "EscrowState",
    "EscrowTerms",
    "EscrowView",
    "Event",
    "EventView",
    "ForkError",
    "History",
    "IncompleteHistoryError",
    "Invalidated",
    "ItemIdError",
    "ItemReport",
    "ItemState",
    "KeyFileError",
    "KeyRevoked",
    "KeyRotated",
    "Ledger",
    "LedgerBusyError",
    "LostReported",
    "MissingConsistencyProofError",
    "NonCanonicalItemIdError",
    "NotFoundError",
    "OutOfScopeError",
    "Part",
    "Policy",
    "PolicyError",
    "Progress",
    "ProofError",
    "ProvLedgerError",
    "ReceiptUnavailableError",
    "Record",
    "Recovered",
    "RepairRecorded",
    "Report",
    "RevokedKeyError",
    "RoleGranted",
    "RoleRevoked",
    "SignatureError",
    "SignedCheckpoint",
    "SigningKey",
    "StaleCheckpointError",
    "StateError",
    "Statement",
    "StolenReported",
    "Stone",
    "StorageError",
    "TimeRangeError",
    "UnauthorizedError",
    "UnknownKeyError",
    "VerificationError",
    "WrongItemError",
    "WrongLogError",
    "__version__",
    "authority_subject",
    "canonical_item_id",
    "condition_hash",
    "convert_fields",
    "escrow_is_open",
    "format_public_key",
    "format_time",
    "gs1_item_id",
    "gtin_is_valid",
    "item_report",
    "parse_policy",
    "parse_public_key",
    "read_policy",
    "read_public_key",
    "read_signing_key",
    "safe_text",
    "serial_item_id",
    "sign_statement",
    "terms_hash",
    "verify_bundle",
    "verify_statement",
    "write_public_key",
    "write_signing_key",
]
