"""The exception hierarchy: one root, four families, specific leaves.

Callers catch a family (``VerificationError``, ``DecodeError``,
``PolicyError``, ``StorageError``) or the root; leaves say precisely what went
wrong and carry the facts a program needs (``index``, ``subject``).
"""

from __future__ import annotations


class ProvLedgerError(Exception):
    """Root of every error provledger raises on bad input or state.

    ``batch_index`` is set when the error concerns one statement of a batch.
    """

    batch_index: int | None = None


# -- decoding ---------------------------------------------------------------


class DecodeError(ProvLedgerError):
    """Bytes are not a well-formed, canonical, schema-valid object."""


# -- verification -----------------------------------------------------------


class VerificationError(ProvLedgerError):
    """A signature, hash chain, proof or history does not verify."""


class SignatureError(VerificationError):
    """A signature does not verify under the key it names."""


class ChainError(VerificationError):
    """A statement's ``prev`` does not name the subject's current head."""


class WrongLogError(VerificationError):
    """A statement names another log's origin."""


class UnknownKeyError(VerificationError):
    """A signer's key is not known to the ledger in the role it claims."""


class RevokedKeyError(VerificationError):
    """A key was used at or after its revocation or rotation cut-off."""


class AuditError(VerificationError):
    """Stored data disagrees with what the log's entries prove.

    ``index`` names the first entry at fault, or is None when the fault is not
    tied to one entry.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof is malformed or does not verify."""


class IncompleteHistoryError(VerificationError):
    """A bundle leaves out part of a history: a gap in a chain, or entries
    after the ones it carries (its head-map proof does not match)."""


class StaleCheckpointError(VerificationError):
    """A checkpoint is older than the policy allows, or older than one the
    verifier has already seen (a rollback)."""


class ForkError(VerificationError):
    """Two checkpoints of one log are not consistent: the log forked or
    rewrote itself. Keep both notes: they are evidence."""


class CheckpointError(VerificationError):
    """A checkpoint or signed note is malformed, unsigned by a known key, or
    inconsistent with one seen before."""


class WrongItemError(VerificationError):
    """A bundle verifies but is about another item than the one the caller
    is looking at (compared in canonical form)."""


# -- policy -----------------------------------------------------------------


class PolicyError(ProvLedgerError):
    """The statement is well formed and signed, but the rules forbid it."""


class UnauthorizedError(PolicyError):
    """The signer lacks the role the event requires for this subject."""


class StateError(PolicyError):
    """The subject's current state forbids the event (stolen, revoked, ...)."""


class NonCanonicalItemIdError(PolicyError):
    """A new certificate's item id is not one of the two kinds of protocol.md
    4.3, or not spelled canonically; the message gives the canonical spelling
    when there is one."""


class OutOfScopeError(UnauthorizedError):
    """The issuer may not certify under this item id or GTIN: another
    issuer's URN tag, or a GS1 company prefix or domain its grant lacks."""


class DuplicateStatementError(PolicyError):
    """The exact statement is already in the log (a replay).

    ``index`` is the log index of the existing entry.
    """

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class ClockError(PolicyError):
    """A statement's time lies too far ahead of the log's clock."""


# -- storage ----------------------------------------------------------------


class StorageError(ProvLedgerError):
    """The ledger file cannot be read or written as required."""


class LedgerBusyError(StorageError):
    """Another writer held the ledger for longer than the wait allowed.

    Nothing was written; the same call may be retried.
    """


class KeyFileError(ProvLedgerError):
    """A key file is unreadable, malformed, or the passphrase is wrong."""


class ItemIdError(ProvLedgerError, ValueError):
    """Text is not an item id of either kind, and no canonical spelling of it
    exists (a wrong GTIN check digit, a serial outside its character set)."""


class NotFoundError(ProvLedgerError):
    """No item, authority or entry by that name exists in the ledger."""


class ReceiptUnavailableError(NotFoundError):
    """No COSE Receipt can be made at the latest checkpoint: its tree has one
    entry, whose inclusion path is empty, and RFC 9942 requires at least one
    path hash (spec/log.md 6.2). Sign a checkpoint over two or more entries."""


class TimeRangeError(ProvLedgerError, ValueError):
    """A time given to the library (``now=``) is not an int of Unix seconds
    from 0 to 2**40, the range the protocol can carry."""
