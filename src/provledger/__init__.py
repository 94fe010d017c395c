"""provledger: an append-only, signed, hash-chained provenance ledger for jewellery.

The public API is what ``__all__`` names; modules whose names start with ``_``
are internal and may change without notice.
"""

from __future__ import annotations

from ._audit import AuditReport, Invalidated
from ._errors import (
    AuditError,
    ChainError,
    CheckpointError,
    ClockError,
    DecodeError,
    DuplicateStatementError,
    KeyFileError,
    LedgerBusyError,
    NotFoundError,
    PolicyError,
    ProofError,
    ProvLedgerError,
    RevokedKeyError,
    SignatureError,
    StateError,
    StorageError,
    UnauthorizedError,
    UnknownKeyError,
    VerificationError,
    WrongLogError,
)
from ._events import (
    AppraisalRecorded,
    CertificateAttested,
    CertificateIssued,
    CertificateRenewed,
    CertificateRevoked,
    Dimensions,
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
from ._itemid import gs1_item_id, gtin_is_valid, serial_item_id
from ._keyfile import read_public_key, read_signing_key, write_public_key, write_signing_key
from ._keys import SigningKey, format_public_key, parse_public_key
from ._ledger import Ledger, Record
from ._report import EventView, ItemReport, item_report
from ._state import AuthorityState, ItemState
from ._statement import Statement, authority_subject, sign_statement, verify_statement

__version__ = "0.1.0"

__all__ = [
    "AppraisalRecorded",
    "AuditError",
    "AuditReport",
    "AuthorityState",
    "CertificateAttested",
    "CertificateIssued",
    "CertificateRenewed",
    "CertificateRevoked",
    "ChainError",
    "CheckpointError",
    "ClockError",
    "DecodeError",
    "Dimensions",
    "DuplicateStatementError",
    "Event",
    "EventView",
    "Invalidated",
    "ItemReport",
    "ItemState",
    "KeyFileError",
    "KeyRevoked",
    "KeyRotated",
    "Ledger",
    "LedgerBusyError",
    "LostReported",
    "NotFoundError",
    "Part",
    "PolicyError",
    "ProofError",
    "ProvLedgerError",
    "Record",
    "Recovered",
    "RepairRecorded",
    "RevokedKeyError",
    "RoleGranted",
    "RoleRevoked",
    "SignatureError",
    "SigningKey",
    "StateError",
    "Statement",
    "StolenReported",
    "Stone",
    "StorageError",
    "UnauthorizedError",
    "UnknownKeyError",
    "VerificationError",
    "WrongLogError",
    "__version__",
    "authority_subject",
    "format_public_key",
    "gs1_item_id",
    "gtin_is_valid",
    "item_report",
    "parse_public_key",
    "read_public_key",
    "read_signing_key",
    "serial_item_id",
    "sign_statement",
    "verify_statement",
    "write_public_key",
    "write_signing_key",
]
