"""The offline verifier: one bundle, a trust policy and a time; no network.

Order of checks (spec/bundle.md, "Verification"): the bundle decodes within
its limits; the checkpoint is signed by a trusted log and cosigned by the
policy's witness quorum, fresh, and consistent with any checkpoint already
seen (by a proof, or by both carrying the witness quorum); every entry is in the
checkpoint's tree; every statement verifies; every disclosure the bundle
carries matches a commitment of its statement; each subject's entries form one
unbroken chain from its genesis to the head the checkpoint's head map names;
and the ledger's rules, replayed over the bundle alone, accept every entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final

from . import _escrow, _merkle, _owner_keys, _requirements, _rules, _smt
from ._bundle import Bundle, decode_bundle
from ._disclosure import Revealed, reveal
from ._entry import decode_entry
from ._errors import (
    CheckpointError,
    DecodeError,
    ForkError,
    IncompleteHistoryError,
    MissingConsistencyProofError,
    ProofError,
    ProvLedgerError,
    QuorumError,
    RevokedKeyError,
    StaleCheckpointError,
    UnknownKeyError,
    VerificationError,
    WrongItemError,
)
from ._events import EscrowOpened
from ._extensions import extension_heads, extension_time
from ._history import EventView
from ._itemid import canonical_item_id
from ._keys import format_public_key
from ._model import (
    CheckpointInfo,
    Cosigner,
    EscrowView,
    History,
    care_views,
    escrow_party,
    escrow_views,
    recovery_views,
    recovery_warnings,
    rules_view,
    shown_fields,
    warnings,
)
from ._note import VerifiedCheckpoint, verify_checkpoint
from ._policy import Policy, PolicyWitness
from ._replay import Replayed, replay
from ._state import ItemState, SubjectState
from ._statement import Statement, UnverifiedStatement, authority_subject, verify_statement
from ._time import check_now, rfc3339

__all__ = ["VERIFICATION_CHECKS", "CheckpointInfo", "Report", "verify_bundle"]

#: The checks of spec/bundle.md section 5, in the order they run ("item" only
#: when ``item`` is given); an error verify_bundle raises names its own in ``check``.
VERIFICATION_CHECKS: Final = ("decode", "item", "trust", "checkpoint", "freshness",
                              "consistency", "seen", "inclusion", "signatures",
                              "disclosures", "completeness", "time-order", "rules", "certificate",
                              "requirements")


class _step:  # noqa: N801 (used as a function: ``with _step("decode"):``)
    """Tag a provledger error raised inside with the check that failed, unless
    a step nearer to it already did (a class: cheaper than a generator's
    context manager, and entered a dozen times per bundle)."""

    __slots__ = ("_check",)

    def __init__(self, check: str) -> None:
        self._check = check

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if isinstance(exc, ProvLedgerError) and exc.check is None:
            exc.check = self._check


def verify_bundle(data: bytes, *, policy: Policy, now: int, max_age: int | None = None,
                  seen: Sequence[str] = (), item: str | None = None,
                  consistency: Sequence[tuple[str, Sequence[bytes]]] = ()) -> History:
    """Verify a bundle offline and describe the item.

    ``now`` is the reference time (Unix seconds), taken once by the caller.
    ``max_age`` overrides the policy's freshness limit. ``seen`` holds
    checkpoint notes of the same log the caller verified before; the bundle
    must then be as new as the newest and consistent with it: by a proof it
    carries, or, when the policy requires a witness quorum, because both
    checkpoints carry that quorum's cosignatures (the witnesses checked it).
    ``item`` is the id of the piece the caller is looking at (any spelling
    canonical_item_id accepts); a marketplace should always pass it, or a
    genuine bundle about another piece verifies. ``consistency`` holds
    (older checkpoint note, RFC 9162 proof to the bundle's checkpoint) pairs
    the caller obtained elsewhere (``verify --from`` builds them from the
    log's tiles); each is checked and counts exactly as one the bundle carries.

    Raises:
        DecodeError: the bundle is malformed or over a limit.
        ItemIdError: ``item`` is not an item id.
        WrongItemError: the bundle is about another item than ``item``.
        StaleCheckpointError: the checkpoint is too old, or older than one seen.
        ForkError: the checkpoint is inconsistent with one seen.
        MissingConsistencyProofError: the checkpoint is newer than one seen
            and nothing shows it consistent with it.
        QuorumError: the checkpoint lacks the policy's witness quorum (a
            cosignature dated more than MAX_CLOCK_SKEW after ``now`` does
            not count).
        CheckpointError: the checkpoint is not signed by a trusted log, or
            a witness the policy names has a cosignature on it that fails.
        ProofError: an inclusion or head-map proof fails.
        IncompleteHistoryError: a chain has a gap or stops before its head.
        SignatureError, UnknownKeyError, RevokedKeyError: a statement's
            signer is forged, unknown, or used after its compromise cut-off.
        DisclosureError: a disclosure the bundle carries is malformed, or
            matches no commitment of its entry's statement (changed text,
            another salt, another statement's, a field already in clear).
        VerificationError: the rules reject an entry (the message names it).
        RequirementError: the bundle verifies, but the item does not meet a
            ``require`` line of the policy (``missing`` says what).
        TimeRangeError: ``now`` is not an int in 0..2**40 (a ValueError too).
    """
    now = check_now(now)
    with _step("decode"):
        bundle = decode_bundle(data)
    with _step("item"):
        if item is not None and bundle.item != (wanted := canonical_item_id(item)):
            raise WrongItemError(f"bundle is about item {bundle.item}, not {wanted}")
    cp = _checkpoint(bundle, policy, now)
    with _step("freshness"):
        _freshness(cp, now=now, max_age=policy.max_age if max_age is None else max_age)
    with _step("consistency"):
        proven = _consistency(bundle, cp, policy, consistency)
    with _step("seen"):
        _seen(cp, policy, seen, proven, now)
    records = _entries(bundle, cp)
    with _step("disclosures"):
        revealed = _disclosures(bundle, records)
    with _step("completeness"):
        _complete(bundle, cp, records)
    with _step("rules"):
        replayed = replay(bundle.item, origin=bundle.origin, root_key=bundle.root_key,
                          records=records)
    history = replayed.item
    piece = history.state
    with _step("certificate"):
        if piece is None:
            raise IncompleteHistoryError(f"bundle: no certificate for {bundle.item}")
        if history.unconfirmed:
            raise RevokedKeyError(
                f"bundle: the certificate of {bundle.item} (log index "
                f"{history.certificate_index}) is invalidated: "
                f"{history.invalidated.get(history.certificate_index or 0, '')}; "
                "no issuer has reaffirmed it (cert.reaffirmed)")
    escrows = _escrows(replayed, revealed, now=cp.time)
    views = _views(replayed, escrows, revealed)
    states = replayed.authorities
    # Deadlines are judged by log time; the latest log time known is the checkpoint's.
    piece = _owner_keys.at(_escrow.at(piece, cp.time), cp.time)
    issuer = states.get(piece.issuer)
    names = {s.subject: s.name for s in states.values()}
    # Plans and repairs too are judged at the checkpoint's time: deterministic.
    chains = {k: a.subject for a in states.values()
              for k in (a.key, *(r.key for r in a.retired), *(r.key for r in a.revoked)) if k}
    live = [(i, t, st.hash, _event(revealed, i, st), chains.get(st.signer, ""))
            for i, t, st in replayed.entries if i not in history.invalidated]
    plans, repairs = care_views(piece, live, names, cp.time)
    recoveries = recovery_views(piece, live, names)
    verified = History(
        item=bundle.item, status=_escrow.status(piece), owner=piece.owner,
        issuer=piece.issuer, issuer_name=issuer.name if issuer is not None else "",
        attested_by=tuple(names.get(a, a) for a in piece.attested_by),
        certificate=piece.certificate, events=tuple(views), certificate_confirmed=True,
        escrows=escrows, checkpoint=cp,
        warnings=warnings(piece, len(history.invalidated))
        + recovery_warnings(piece, recoveries), plans=plans, repairs=repairs,
        as_of=cp.time, recoveries=recoveries, rules=rules_view(piece, issuer, escrows))
    with _step("requirements"):
        _requirements.check(verified, policy)
    return verified


#: The name this result had before the ledger and the bundle shared one model.
Report = History


def _escrows(replayed: Replayed, revealed: dict[int, Revealed], *, now: int
             ) -> tuple[EscrowView, ...]:
    """The item's escrows from the replay: the state after each entry is the
    state before the next, and after the last the item's final state."""
    entries = replayed.entries
    offers: dict[bytes, tuple[int, EscrowOpened]] = {}
    for index, _, stmt in entries:
        event = _event(revealed, index, stmt)
        if isinstance(event, EscrowOpened):
            offers[stmt.hash] = (index, event)
    after = [(time, replayed.before.get(entries[n + 1][0]) if n + 1 < len(entries)
              else replayed.item.state) for n, (_, time, _) in enumerate(entries)]
    return escrow_views(offers, after, now)


def _checkpoint(bundle: Bundle, policy: Policy, now: int) -> CheckpointInfo:
    with _step("trust"):
        log = policy.log(bundle.origin)
        if log is None:
            raise UnknownKeyError(f"bundle: log {bundle.origin!r} is not trusted by the policy")
        if bundle.root_key not in policy.roots:
            raise UnknownKeyError(f"bundle: the ledger's root "
                                  f"{format_public_key(bundle.root_key)} is not a trusted "
                                  "issuer root")
    with _step("checkpoint"):
        verified = _signed(bundle.checkpoint, bundle.origin, policy, witnesses=True)
        body = verified.checkpoint
        counted, late = _cosigners(verified, policy, now)
        if not policy.quorum_met(w.verifier for w, _ in counted):
            raise _quorum_error(bundle.origin, body.size, policy, counted=counted, late=late,
                                now=now)
        return CheckpointInfo(bundle.origin, body.size, extension_time(body), body.root_hash,
                              extension_heads(body), bundle.checkpoint,
                              tuple(Cosigner(w.name, w.verifier.vkey(), t) for w, t in counted))


def _signed(note: str, origin: str, policy: Policy, *, witnesses: bool) -> VerifiedCheckpoint:
    """``note`` verified under a key the policy trusts for ``origin`` (a log may
    have several), with the cosignatures of the policy's witnesses if asked.

    Raises:
        CheckpointError: no trusted key signed it, or a known key's signature fails.
    """
    failed: CheckpointError | None = None
    for key in policy.log_keys(origin):
        try:
            return verify_checkpoint(note, origin=origin, log_key=key, quorum=0,
                                     witnesses=policy.witnesses if witnesses else ())
        except CheckpointError as exc:
            failed = failed or exc
    raise failed or CheckpointError(f"log {origin!r} is not trusted by the policy")


Counted = list[tuple[PolicyWitness, int]]


def _cosigners(verified: VerifiedCheckpoint, policy: Policy, now: int
               ) -> tuple[Counted, Counted]:
    """The policy witnesses whose cosignatures verified, with their times, in
    the policy's order: those that count, and those dated too far after ``now``."""
    times = {s.verifier: s.timestamp or 0 for s in verified.cosigners}
    counted: Counted = []
    late: Counted = []
    for w in policy.named_witnesses:
        if w.verifier in times:
            t = times[w.verifier]
            (late if t > now + _rules.MAX_CLOCK_SKEW else counted).append((w, t))
    return counted, late


def _quorum_error(origin: str, size: int, policy: Policy, *, counted: Counted,
                  late: Counted, now: int) -> QuorumError:
    who = ", ".join(f"{w.name} (at {rfc3339(t)})" for w, t in counted) or \
        "no witness the policy names"
    if late:
        who += ("; not counted: " + ", ".join(f"{w.name}, dated {rfc3339(t)}" for w, t in late)
                + f", more than {_rules.MAX_CLOCK_SKEW} s after now ({rfc3339(now)}): a "
                "witness clock running ahead, or a forged time")
    return QuorumError(
        f"checkpoint of {origin} at size {size} lacks the policy's witness quorum: it needs "
        f"{policy.describe_quorum()}; cosigned by {who}. Ask for a bundle exported after "
        "the log collected the witnesses' cosignatures (`provledger checkpoint --policy "
        "POLICY`, then `provledger export`)")


def _freshness(cp: CheckpointInfo, *, now: int, max_age: int) -> None:
    if cp.time > now + _rules.MAX_CLOCK_SKEW:
        raise StaleCheckpointError(
            f"checkpoint of {cp.origin} claims to be signed at {rfc3339(cp.time)}, after "
            f"{rfc3339(now)}: the log's clock is wrong or compromised; refusing it")
    age = now - cp.time
    if age > max_age:
        raise StaleCheckpointError(
            f"checkpoint of {cp.origin} at size {cp.size} was signed {rfc3339(cp.time)}, "
            f"{age} s before {rfc3339(now)}; the limit is {max_age} s (ask for a fresh bundle)")


def _consistency(bundle: Bundle, cp: CheckpointInfo, policy: Policy,
                 given: Sequence[tuple[str, Sequence[bytes]]]) -> dict[int, bytes]:
    """Check every older checkpoint the bundle (or the caller) proves
    consistency from; return their roots by size."""
    proven: dict[int, bytes] = {}
    proofs: list[tuple[str, str, Sequence[bytes]]] = [
        (f"bundle consistency proof {n}", c.checkpoint, c.proof)
        for n, c in enumerate(bundle.consistency)]
    proofs += [(f"given consistency proof {n}", note, proof)
               for n, (note, proof) in enumerate(given)]
    for where, note, proof in proofs:
        old = _signed(note, cp.origin, policy, witnesses=False).checkpoint
        if not 0 < old.size < cp.size:
            raise ProofError(f"{where}: from size {old.size} is not older "
                             f"than the checkpoint's {cp.size}")
        try:
            _merkle.verify_consistency(old_size=old.size, new_size=cp.size,
                                       old_root=old.root_hash, new_root=cp.root, proof=proof)
        except ProofError as exc:
            raise ForkError(f"log {cp.origin} at size {cp.size} is not consistent with its "
                            f"checkpoint at size {old.size}: {exc}") from None
        proven[old.size] = old.root_hash
    return proven


def _seen(cp: CheckpointInfo, policy: Policy, seen: Sequence[str],
          proven: dict[int, bytes], now: int) -> None:
    """Check the checkpoints the caller has seen: none newer, none with another
    root, each older one proven consistent by the bundle or vouched for by the
    witness quorum on both."""
    for note in seen:
        old = _signed(note, cp.origin, policy, witnesses=False).checkpoint
        if old.size > cp.size:
            raise StaleCheckpointError(
                f"bundle checkpoint (size {cp.size}) is older than one already seen "
                f"(size {old.size}): a rollback, or an old bundle; ask for a fresh one")
        if old.size == cp.size:
            if old.root_hash != cp.root:
                raise ForkError(f"log {cp.origin} signed two different roots for size "
                                f"{cp.size}: it forked (keep both checkpoints as evidence)")
        elif old.size > 0 and proven.get(old.size) != old.root_hash:
            if old.size in proven:
                raise ForkError(f"log {cp.origin} signed two different roots for size "
                                f"{old.size}: it forked (keep both checkpoints as evidence)")
            # Both carry the quorum: a witness honest in both quorums checked
            # that the newer tree extends the older (spec/bundle.md 5, step 6).
            if why := _unvouched(note, cp.origin, policy, now):
                raise MissingConsistencyProofError(
                    f"bundle checkpoint (size {cp.size}) is newer than the one already seen "
                    f"(size {old.size}) but carries no consistency proof from it, and {why}. "
                    f"Either ask for a bundle exported with `provledger export ... --since "
                    f"{old.size}`, or have the log's checkpoints cosigned by a witness quorum "
                    "the policy requires, any two of which share a witness (witnesses check "
                    "consistency before they cosign; `provledger checkpoint --policy POLICY`)")


def _unvouched(note: str, origin: str, policy: Policy, now: int) -> str:
    """Why the witnesses do not vouch for consistency with the seen ``note``
    ("" if they do: the policy requires a quorum any two of which share a
    witness, the bundle's checkpoint met it, and the seen note carries it too)."""
    if not policy.requires_witnesses:
        return "the policy requires no witness quorum whose cosignatures could vouch for it"
    if policy.quorum_overlap() == 0:
        return (f"the policy's quorum ({policy.describe_quorum()}) can be met by two sets of "
                "witnesses that share none, so it cannot vouch for consistency (require a "
                "majority, so that any two quorums share a witness)")
    try:
        counted, _ = _cosigners(_signed(note, origin, policy, witnesses=True), policy, now)
    except CheckpointError as exc:
        return f"the checkpoint seen before has a witness cosignature that fails ({exc})"
    if not policy.quorum_met(w.verifier for w, _ in counted):
        return ("the checkpoint seen before lacks the policy's witness quorum (seen under "
                "another policy?), so the witnesses cannot vouch that the two are consistent")
    return ""


def _entries(bundle: Bundle, cp: CheckpointInfo) -> list[tuple[int, int, Statement]]:
    """Every entry in the tree, in log order (one check), then every statement
    verified (the next)."""
    included = []
    previous = -1
    size, root = cp.size, cp.root
    memo: _merkle.InclusionMemo = {}  # the entries' paths share their upper levels
    with _step("inclusion"):
        for n, item in enumerate(bundle.entries):
            entry = decode_entry(item.entry)
            index = entry.index
            if index <= previous:
                raise IncompleteHistoryError(f"{_where(n, index)}: entries must be in strictly "
                                             "increasing log order (reordered or duplicated)")
            if index >= size:
                raise ProofError(f"{_where(n, index)}: beyond the checkpoint's {size} entries")
            try:
                _merkle.verify_inclusion(_merkle.leaf_hash(item.entry), index=index,
                                         size=size, proof=item.proof, root=root, memo=memo)
            except ProofError as exc:
                raise ProofError(f"{_where(n, index)}: {exc}") from None
            included.append(entry)
            previous = index
    records = []
    with _step("signatures"):
        for n, entry in enumerate(included):
            try:
                stmt = verify_statement(entry.statement)
            except (DecodeError, VerificationError) as exc:
                raise _with_context(exc, _where(n, entry.index)) from None
            records.append((entry.index, entry.time, stmt))
    return records


def _disclosures(bundle: Bundle, records: list[tuple[int, int, Statement]]
                 ) -> dict[int, Revealed]:
    """Each entry's disclosures checked against its statement's commitments
    (spec/disclosure.md); the events with their values filled in, by log index.
    Entries without disclosures cost one attribute read."""
    out: dict[int, Revealed] = {}
    for n, (item, (index, _, stmt)) in enumerate(zip(bundle.entries, records, strict=True)):
        if item.disclosures:
            try:
                out[index] = reveal(stmt.event, item.disclosures)
            except ProvLedgerError as exc:
                raise _with_context(exc, _where(n, index)) from None
    return out


def _event(revealed: dict[int, Revealed], index: int, stmt: UnverifiedStatement) -> Any:
    """The entry's event as shown: with its disclosed fields, if any."""
    found = revealed.get(index)
    return stmt.event if found is None else found.event


def _where(n: int, index: int) -> str:
    """Where an entry is, for error messages."""
    return f"bundle entry {n} (log index {index})"


def _complete(bundle: Bundle, cp: CheckpointInfo, records: list[tuple[int, int, Statement]]
              ) -> None:
    """Each subject: one chain from genesis, ending at the head the map names."""
    heads_root = cp.heads
    last: dict[str, tuple[bytes, bytes]] = {}
    for (index, _, stmt), item in zip(records, bundle.entries, strict=True):
        prev = last.get(stmt.subject, (None, b""))[0]
        if stmt.payload.prev != prev:
            raise IncompleteHistoryError(
                f"bundle: {stmt.type} at log index {index} for {stmt.subject} does not follow "
                "the previous entry of its chain in the bundle (a gap, or a missing genesis)")
        last[stmt.subject] = (stmt.hash, item.entry)
    proved = {h.subject: h for h in bundle.heads}
    if len(proved) != len(bundle.heads):
        raise IncompleteHistoryError("bundle: more than one head proof for a subject")
    if bundle.item not in last:
        raise IncompleteHistoryError(f"bundle: no entry for its item {bundle.item}")
    root = authority_subject(bundle.root_key)
    if root not in proved:
        raise IncompleteHistoryError(
            f"bundle: no head-map proof for the root's chain {root}: without it the root's "
            "key rotations and revocations could have been left out")
    for subject, (_, entry) in last.items():
        head = proved.get(subject)
        if head is None or head.absent is not None:
            raise IncompleteHistoryError(f"bundle: no head proof for {subject}")
        try:
            _smt.verify(_smt.map_key(subject), _merkle.leaf_hash(entry), head.proof,
                        heads_root)
        except ProofError:
            raise IncompleteHistoryError(
                f"bundle: the history of {subject} stops before its latest entry in the log "
                f"at size {cp.size} (entries were left off the end)") from None
    for subject, head in proved.items():
        if subject in last:
            continue
        if head.absent is None:
            raise IncompleteHistoryError(
                f"bundle: a head proof for {subject}, of which it carries no entry")
        try:
            _smt.verify_absent(_smt.map_key(subject), head.absent, head.proof, heads_root)
        except ProofError:
            raise IncompleteHistoryError(
                f"bundle: {subject} has entries in the log at size {cp.size}, but the bundle "
                "carries none of them (its chain was left out)") from None


def _views(replayed: Replayed, escrows: tuple[EscrowView, ...],
           revealed: dict[int, Revealed]) -> list[EventView]:
    """The item's entries as a report shows them, invalidated ones marked,
    disclosed fields filled in and withheld ones counted."""
    views = []
    marks = replayed.item.invalidated
    for index, time, stmt in replayed.entries:
        auth = replayed.context_at(index).authority_of(stmt.signer)
        role = escrow_party(escrows, stmt.hash, stmt.event, stmt.signer)
        shown = revealed.get(index) or reveal(stmt.event)
        views.append(EventView(
            index=index, time=time, type=stmt.type, signer=stmt.signer,
            signed_as=role or (auth.name if auth else
                               _party(replayed.before.get(index), stmt.signer, time)),
            invalidated=index in marks, fields=shown_fields(shown.event),
            invalid_reason=marks.get(index, ""), withheld=shown.withheld, clear=shown.clear,
            disclosed=shown.disclosed))
    return views


def _party(item: SubjectState | None, key: bytes, time: int) -> str:
    """How a key that is no authority relates to the item at log ``time``:
    owner, buyer, arbiter."""
    if not isinstance(item, ItemState):
        return ""
    item = _owner_keys.at(item, time)  # a recovery completed by then: the new key owns it
    if key == item.owner:
        return "owner"
    escrow = item.escrow
    if escrow is not None and key == escrow.buyer:
        return "buyer"
    if escrow is not None and key == escrow.arbiter:
        return "arbiter"
    return ""


def _with_context(exc: ProvLedgerError, where: str) -> ProvLedgerError:
    """The same error, its message prefixed with where in the bundle it arose."""
    exc.args = (f"{where}: {exc.args[0] if exc.args else exc}", *exc.args[1:])
    return exc
