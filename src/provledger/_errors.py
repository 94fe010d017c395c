"""The exception hierarchy: one root, four families, specific leaves.

Callers catch a family (``VerificationError``, ``DecodeError``,
``PolicyError``, ``StorageError``) or the root; leaves say precisely what went
wrong and carry the facts a program needs (``index``, ``subject``).
"""

from __future__ import annotations

from typing import ClassVar


class ProvLedgerError(Exception):
    """Root of every error provledger raises on bad input or state.

    ``batch_index`` is set when the error concerns one statement of a batch.
    ``code`` is the class's stable, machine-readable name (spec/errors.md);
    every subclass sets its own. ``check`` names the step of a bundle
    verification that raised it (spec/errors.md, "Checks"), or is None.
    """

    code: ClassVar[str] = "error"
    batch_index: int | None = None
    check: str | None = None


# -- decoding ---------------------------------------------------------------


class DecodeError(ProvLedgerError):
    """Bytes are not a well-formed, canonical, schema-valid object."""

    code = "decode"


# -- verification -----------------------------------------------------------


class VerificationError(ProvLedgerError):
    """A signature, hash chain, proof or history does not verify."""

    code = "verification"


class SignatureError(VerificationError):
    """A signature does not verify under the key it names."""

    code = "signature"


class ChainError(VerificationError):
    """A statement's ``prev`` does not name the subject's current head."""

    code = "chain"


class WrongLogError(VerificationError):
    """A statement names another log's origin."""

    code = "wrong-log"


class UnknownKeyError(VerificationError):
    """A signer's key is not known to the ledger in the role it claims."""

    code = "unknown-key"


class RevokedKeyError(VerificationError):
    """A key was used at or after its revocation or rotation cut-off."""

    code = "revoked-key"


class AuditError(VerificationError):
    """Stored data disagrees with what the log's entries prove.

    ``index`` names the first entry at fault, or is None when the fault is not
    tied to one entry.
    """

    code = "audit"

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class MonitorError(VerificationError):
    """A log's own entries and signed checkpoints are inconsistent: the first
    finding of ``provledger monitor`` (spec/log.md, "Monitors").

    ``kind`` says what failed (``entry``, ``signature``, ``rules``,
    ``checkpoint-signature``, ``checkpoint``, ``cosignature``, ``order``,
    ``size``, ``tree-root``, ``head-map``, and from published tiles ``tile``);
    ``index`` names the entry and
    ``checkpoint`` the checkpoint's seq, each None when not about one.
    """

    code = "monitor"

    def __init__(self, message: str, *, kind: str, index: int | None = None,
                 checkpoint: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.index = index
        self.checkpoint = checkpoint


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof is malformed or does not verify."""

    code = "proof"


class IncompleteHistoryError(VerificationError):
    """A bundle leaves out part of a history: a gap in a chain, or entries
    after the ones it carries (its head-map proof does not match)."""

    code = "incomplete-history"


class StaleCheckpointError(VerificationError):
    """A checkpoint is older than the policy allows, or older than one the
    verifier has already seen (a rollback)."""

    code = "stale-checkpoint"


class MissingConsistencyProofError(VerificationError):
    """A bundle is newer than a checkpoint the verifier has seen but carries no
    consistency proof from it; export it again with ``--since SIZE``."""

    code = "missing-consistency-proof"


class ForkError(VerificationError):
    """Two checkpoints of one log are not consistent: the log forked or
    rewrote itself. Keep both notes: they are evidence."""

    code = "fork"


class CheckpointError(VerificationError):
    """A checkpoint or signed note is malformed, unsigned by a known key, or
    inconsistent with one seen before."""

    code = "checkpoint"


class QuorumError(CheckpointError):
    """A checkpoint verifies under its log's key but fewer witnesses cosigned
    it than the trust policy's quorum requires (spec/bundle.md 2)."""

    code = "quorum"


class WrongItemError(VerificationError):
    """A bundle verifies but is about another item than the one the caller
    is looking at (compared in canonical form)."""

    code = "wrong-item"


class RequirementError(VerificationError):
    """A bundle verifies, but its item does not meet a requirement of the
    verifier's trust policy (``require`` lines: an attestation, witnesses, no
    pending recovery); ``missing`` says what, one phrase per requirement."""

    code = "requirement"

    def __init__(self, message: str, *, missing: tuple[str, ...]) -> None:
        super().__init__(message)
        self.missing = missing


class DisclosureError(VerificationError):
    """A disclosure (the clear text of a committed field, spec/disclosure.md)
    is malformed, or matches no commitment of the statement it comes with:
    changed text, another salt, or moved from another statement."""

    code = "disclosure"


class WitnessRequestError(DecodeError):
    """An add-checkpoint request or a witness's answer is not the
    c2sp.org/tlog-witness text (a witness answers "400 Bad Request")."""

    code = "witness-request"


# -- policy -----------------------------------------------------------------


class PolicyError(ProvLedgerError):
    """The statement is well formed and signed, but the rules forbid it."""

    code = "policy"


class UnauthorizedError(PolicyError):
    """The signer lacks the role the event requires for this subject."""

    code = "unauthorized"


class StateError(PolicyError):
    """The subject's current state forbids the event (stolen, revoked, ...)."""

    code = "state"


class NonCanonicalItemIdError(PolicyError):
    """A new certificate's item id is not one of the two kinds of protocol.md
    4.3, or not spelled canonically; the message gives the canonical spelling
    when there is one."""

    code = "non-canonical-item-id"


class OutOfScopeError(UnauthorizedError):
    """The issuer may not certify under this item id or GTIN: another
    issuer's URN tag, or a GS1 company prefix or domain its grant lacks."""

    code = "out-of-scope"


class DuplicateStatementError(PolicyError):
    """The exact statement is already in the log (a replay).

    ``index`` is the log index of the existing entry.
    """

    code = "duplicate-statement"

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class TransferRuleError(PolicyError):
    """A sale breaks the issuer's published transfer rules (spec/rules.md);
    ``rule`` names the rule (a field of ``rules.published``'s ``rules``)."""

    code = "transfer-rule"

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class ClockError(PolicyError):
    """A statement's time lies too far ahead of the log's clock."""

    code = "clock"


# -- storage ----------------------------------------------------------------


class StorageError(ProvLedgerError):
    """The ledger file cannot be read or written as required."""

    code = "storage"


class LedgerBusyError(StorageError):
    """Another writer held the ledger for longer than the wait allowed.

    Nothing was written; the same call may be retried.
    """

    code = "ledger-busy"


class DamagedStoreError(StorageError):
    """Data the ledger derives and stores (a head-map tile) is missing or
    malformed: the database was changed behind the ledger's back. An audit
    reports it as an AuditError; restore from a backup.
    """

    code = "damaged-store"


class KeyFileError(ProvLedgerError):
    """A key file is unreadable, malformed, or the passphrase is wrong."""

    code = "key-file"


class ItemIdError(ProvLedgerError, ValueError):
    """Text is not an item id of either kind, and no canonical spelling of it
    exists (a wrong GTIN check digit, a serial outside its character set)."""

    code = "item-id"


class NotFoundError(ProvLedgerError):
    """No item, authority or entry by that name exists in the ledger."""

    code = "not-found"


class ReceiptUnavailableError(NotFoundError):
    """No COSE Receipt can be made at the latest checkpoint: its tree has one
    entry, whose inclusion path is empty, and RFC 9942 requires at least one
    path hash (spec/log.md 6.2). Sign a checkpoint over two or more entries."""

    code = "receipt-unavailable"


class TimeRangeError(ProvLedgerError, ValueError):
    """A time given to the library (``now=``) is not an int of Unix seconds
    from 0 to 2**40, the range the protocol can carry."""

    code = "time-range"
