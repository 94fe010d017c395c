"""A malicious log for tests: it appends and signs whatever it is given.

:class:`ForgedLog` holds the key of a log that a policy trusts but follows no
rules: it appends any statement bytes (bad signatures, unauthorized signers,
replays, chains that fork), keeps the RFC 9162 tree in memory, signs C2SP
checkpoints carrying the ``provledger-heads`` and ``provledger-time``
extensions over a head map it builds itself (or one it is told to lie with),
and packs bundles exactly as spec/bundle.md lays them out. Everything such a
log can produce is well formed and correctly proven, so only the verifier's
own checks (chains, head map, and above all the replay of the rules) can tell
its histories from honest ones.

It uses the library's internal building blocks on purpose: the point is to
produce byte-exact bundles, not to re-implement the formats.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cbor2

import provledger as pl
from provledger import _merkle, _smt
from provledger._bundle import Bundle, BundleEntry, ConsistencyProof, HeadProof, encode_bundle
from provledger._entry import encode_entry
from provledger._extensions import HEADS_EXTENSION, TIME_EXTENSION
from provledger._note import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    NoteVerifier,
    cosign_checkpoint,
    format_checkpoint,
    format_note,
    parse_note,
    sign_note,
)
from provledger._statement import _split

from .conftest import ORIGIN, T0, key

WITNESS_NAME = "witness.test.example"


class MapNodes:
    """An in-memory head-map node store (the ``_smt.NodeStore`` protocol)."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, bytes], list[tuple[int, _smt.Node]]] = {}

    def map_node(self, depth: int, position: bytes, version: int) -> _smt.Node | None:
        found = None
        for v, node in self._nodes.get((depth, position), ()):
            if v <= version:
                found = node
        return found

    def insert(self, version: int, nodes: Iterable[tuple[int, bytes, _smt.Node]]) -> None:
        for depth, position, node in nodes:
            self._nodes.setdefault((depth, position), []).append((version, node))


@dataclass(frozen=True)
class ForgedCheckpoint:
    """A checkpoint the forged log signed, with the head map behind it."""

    size: int
    time: int
    root: bytes
    heads: bytes
    note: str
    body: str
    map: MapNodes = field(repr=False)


def witness_key() -> pl.SigningKey:
    return key("witness")


def witness_verifier() -> NoteVerifier:
    return NoteVerifier(WITNESS_NAME, witness_key().public_key, SIG_COSIGNATURE_V1)


def cosign(note: str, *, timestamp: int, witness: pl.SigningKey | None = None,
           name: str = WITNESS_NAME) -> str:
    """``note`` with one more tlog-cosignature (type 0x04) line."""
    parsed = parse_note(note)
    sig = cosign_checkpoint(parsed.text, name=name, key=witness or witness_key(),
                            timestamp=timestamp)
    return format_note(parsed.text, [*parsed.signatures, sig])


def unverified_subject(statement: bytes) -> str:
    """The subject a statement's payload names, signature not checked."""
    payload = cbor2.loads(_split(statement)[1])
    subject: str = payload["subject"]
    return subject


def statement_hash(statement: bytes) -> bytes:
    return hashlib.sha256(statement).digest()


class ForgedLog:
    """A log that signs anything. Keys default to the test keys of conftest."""

    def __init__(self, *, origin: str = ORIGIN, log: pl.SigningKey | None = None,
                 root: pl.SigningKey | None = None, t0: int = T0) -> None:
        self.origin = origin
        self.log = log or key("log")
        self.root = root or key("root")
        self.t = t0
        self.tree = _merkle.MemoryTree()
        self.entries: list[bytes] = []
        self.subjects: list[str] = []
        self.statements: list[bytes] = []

    # -- writing, without rules -------------------------------------------------

    def head(self, subject: str, size: int | None = None) -> bytes | None:
        """Hash of the subject's latest statement among the first ``size`` entries."""
        stop = len(self.entries) if size is None else size
        for i in reversed(range(stop)):
            if self.subjects[i] == subject:
                return statement_hash(self.statements[i])
        return None

    def sign(self, signer: pl.SigningKey, subject: str, event: pl.Event, *,
             prev: bytes | str | None = "head", time: int | None = None,
             origin: str | None = None) -> bytes:
        """A statement by ``signer``; ``prev`` defaults to the subject's head here."""
        return pl.sign_statement(
            event, key=signer, origin=origin or self.origin, subject=subject,
            prev=self.head(subject) if prev == "head" else prev,  # type: ignore[arg-type]
            time=self.t if time is None else time)

    def append(self, statement: bytes, *, time: int | None = None) -> int:
        """Append ``statement`` as it is, at log time ``time`` (default: one tick on)."""
        if time is None:
            self.t += 1
            time = self.t
        index = len(self.entries)
        entry = encode_entry(index, time, statement)
        self.tree.append(entry)
        self.entries.append(entry)
        self.subjects.append(unverified_subject(statement))
        self.statements.append(statement)
        return index

    def add(self, signer: pl.SigningKey, subject: str, event: pl.Event, **kw: Any) -> int:
        """Sign and append in one step; returns the log index."""
        self.t += 1
        return self.append(self.sign(signer, subject, event, **kw), time=self.t)

    def grant(self, signer: pl.SigningKey, grantee: pl.SigningKey, role: str,
              name: str) -> int:
        return self.add(signer, pl.authority_subject(grantee.public_key),
                        pl.RoleGranted(key=grantee.public_key, name=name,
                                       role=role))  # type: ignore[arg-type]

    # -- checkpoints --------------------------------------------------------------

    def head_map(self, size: int) -> dict[str, bytes]:
        """Each subject with an entry among the first ``size`` -> leaf hash of its last."""
        heads: dict[str, bytes] = {}
        for i in range(size):
            heads[self.subjects[i]] = _merkle.leaf_hash(self.entries[i])
        return heads

    def checkpoint(self, *, size: int | None = None, time: int | None = None,
                   heads: dict[str, bytes] | None = None, root: bytes | None = None,
                   extensions: Sequence[str] | None = None,
                   witnesses: Sequence[tuple[pl.SigningKey, str]] = ()) -> ForgedCheckpoint:
        """Sign a checkpoint of the first ``size`` entries (default: all).

        ``heads`` replaces the honest head map (a log that lies about heads),
        ``root`` the tree root, ``extensions`` the extension lines; each
        ``(key, name)`` in ``witnesses`` adds a cosignature at the same time.
        """
        n = len(self.entries) if size is None else size
        when = self.t if time is None else time
        nodes = MapNodes()
        changes = {_smt.map_key(s): v for s, v in (self.head_map(n) if heads is None
                                                   else heads).items()}
        map_root, written = _smt.update(nodes, previous=-1, changes=changes)
        nodes.insert(0, written)
        tree_root = root if root is not None else self.tree.root(n)
        lines = (tuple(extensions) if extensions is not None else
                 (f"{HEADS_EXTENSION}{base64.b64encode(map_root).decode()}",
                  f"{TIME_EXTENSION}{when}"))
        body = format_checkpoint(Checkpoint(self.origin, n, tree_root, lines))
        sigs = [sign_note(body, name=self.origin, key=self.log)]
        sigs += [cosign_checkpoint(body, name=name, key=k, timestamp=when)
                 for k, name in witnesses]
        return ForgedCheckpoint(n, when, tree_root, map_root, format_note(body, sigs), body,
                                nodes)

    # -- bundles -------------------------------------------------------------------

    def bundle(self, item: str, checkpoint: ForgedCheckpoint, *,
               indexes: Sequence[int] | None = None, subjects: Sequence[str] | None = None,
               head_subjects: Sequence[str] | None = None,
               since: Sequence[ForgedCheckpoint] = (),
               root_key: bytes | None = None, note: str | None = None) -> bytes:
        """A bundle for ``item`` as of ``checkpoint``.

        By default it carries every entry, below the checkpoint's size, of the
        item and of every authority chain, in log order. ``indexes`` lists the
        log indexes to carry instead, in the order given (duplicates kept);
        ``subjects`` restricts the default to those subjects. Head proofs are
        made for ``head_subjects`` (default: every subject carried), from the
        checkpoint's own head map.
        """
        n = checkpoint.size
        if indexes is None:
            wanted = subjects if subjects is not None else [
                s for s in dict.fromkeys(self.subjects[:n])
                if s == item or s.startswith("provledger:authority:")]
            indexes = [i for i in range(n) if self.subjects[i] in wanted]
        entries = [BundleEntry(entry=self.entries[i],
                               proof=_merkle.inclusion_proof(i, n, self.tree)
                               if i < n else [])
                   for i in indexes]
        carried = list(dict.fromkeys(self.subjects[i] for i in indexes))
        if item in carried:
            carried.remove(item)
            carried.insert(0, item)
        heads = []
        root = pl.authority_subject(self.root.public_key if root_key is None else root_key)
        for s in carried if head_subjects is None else head_subjects:
            try:
                proof = _smt.prove(checkpoint.map, _smt.map_key(s), 0)[1]
            except pl.ProofError:
                # Not in the map: prove that, as an honest exporter would.
                terminal, proof = _smt.prove_absent(checkpoint.map, _smt.map_key(s), 0)
                heads.append(HeadProof(subject=s, proof=proof, absent=terminal))
                continue
            heads.append(HeadProof(subject=s, proof=proof))
        if head_subjects is None and root not in carried:
            terminal, proof = _smt.prove_absent(checkpoint.map, _smt.map_key(root), 0)
            heads.append(HeadProof(subject=root, proof=proof, absent=terminal))
        consistency = [ConsistencyProof(
            proof=_merkle.consistency_proof(old.size, n, self.tree), checkpoint=old.note)
            for old in since]
        return encode_bundle(Bundle(
            v=1, item=item, heads=heads, origin=self.origin, entries=entries,
            root_key=self.root.public_key if root_key is None else root_key,
            checkpoint=checkpoint.note if note is None else note, consistency=consistency))

    def policy(self, *, witnesses: Sequence[NoteVerifier] = (), quorum: int = 0,
               max_age: int = pl.DEFAULT_MAX_AGE) -> pl.Policy:
        """A policy trusting this log and its root."""
        return pl.Policy(logs=(NoteVerifier(self.origin, self.log.public_key),),
                         roots=(self.root.public_key,), witnesses=tuple(witnesses),
                         quorum=quorum, max_age=max_age)


def standard_log(**kw: Any) -> ForgedLog:
    """A forged log whose first entries are an honest set-up, as conftest.make_world's:
    the root grants the jeweler issuer; the jeweler grants the workshop service,
    the gemologist attester and the insurer reporter."""
    log = ForgedLog(**kw)
    log.grant(log.root, key("jeweler"), "issuer", "Jeweler")
    log.grant(key("jeweler"), key("workshop"), "service", "Workshop")
    log.grant(key("jeweler"), key("gemologist"), "attester", "Gem Lab")
    log.grant(key("jeweler"), key("insurer"), "reporter", "Insurer")
    return log
