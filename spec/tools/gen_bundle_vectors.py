"""Regenerate spec/vectors/bundle/ (bundles, policy, expected reports) byte for byte.

Every input is fixed (key seeds, the log's clock, witness times) and Ed25519
signatures are deterministic, so running this again must change nothing; the
test suite checks that. The valid bundle is exported by a real ledger; the
invalid ones are that bundle altered, or bundles packed by a log that signs
whatever it is given (so that only the rules can catch them). A second valid
bundle carries disclosures of committed text (spec/disclosure.md), made with
fixed salts; the invalid ones of level "disclosures" alter them.

Usage: python spec/tools/gen_bundle_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cbor2
import msgspec

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "spec" / "tools")]

import storyvectors as sv  # noqa: E402

import provledger as pl  # noqa: E402
from provledger import _disclosure, _merkle, _smt  # noqa: E402
from provledger._bundle import (  # noqa: E402
    Bundle,
    BundleEntry,
    HeadProof,
    decode_bundle,
    encode_bundle,
)
from provledger._entry import decode_entry, encode_entry  # noqa: E402
from provledger._extensions import HEADS_EXTENSION, TIME_EXTENSION  # noqa: E402
from provledger._note import (  # noqa: E402
    SIG_COSIGNATURE_V1,
    Checkpoint,
    NoteVerifier,
    cosign_checkpoint,
    format_checkpoint,
    format_note,
    parse_note,
    sign_note,
)

DEFAULT_OUT = ROOT / "spec" / "vectors" / "bundle"
ORIGIN = "ledger.example-jeweler.com/pieces"
WITNESS = "witness.example-registry.org"
T0 = 1_790_000_000  # the log clock of entry 0; +60 s per entry
STEP = 60
MAX_AGE = 86_400
KEY_NAMES = ("root", "log", "jeweler", "workshop", "gemologist", "insurer", "owner", "buyer",
             "stranger", "witness", "other-log")

KEYS = sv.keys(KEY_NAMES)
PK = {n: k.public_key for n, k in KEYS.items()}
ITEM = pl.gs1_item_id("id.example-jeweler.com", "09506000134352", "R-0001")
OTHER = pl.serial_item_id(PK["jeweler"], "P-0042")
TERMS = pl.EscrowTerms(price_minor=420_000, currency="EUR", on_timeout="return", direct=True)
COND = pl.ConditionReport(grade="very good", photos=[hashlib.sha256(b"condition").digest()])


def auth(name: str) -> str:
    return pl.authority_subject(PK[name])


def grant(name: str, role: str, business: str) -> pl.RoleGranted:
    # An issuer's grant names the GS1 scope ITEM lies in (protocol.md 4.3).
    scope: dict[str, Any] = ({"gs1_prefixes": ["9506000"], "domains": ["id.example-jeweler.com"]}
                             if role == "issuer" else {})
    return pl.RoleGranted(key=PK[name], name=business, role=role,  # type: ignore[arg-type]
                          **scope)


def repair(work: str) -> pl.RepairRecorded:
    return pl.RepairRecorded(work=work, category="repair", performed_by="Bench & Co Workshop",
                             started=T0, completed=T0 + 3600)


def setup() -> list[tuple[str, str, pl.Event]]:
    """(signer, subject, event): the authorities every story starts with."""
    return [
        ("root", auth("jeweler"), grant("jeweler", "issuer", "Example Jeweler Ltd")),
        ("jeweler", auth("workshop"), grant("workshop", "service", "Bench & Co Workshop")),
        ("jeweler", auth("gemologist"), grant("gemologist", "attester", "Gem Lab SA")),
        ("jeweler", auth("insurer"), grant("insurer", "reporter", "Insure Mutual")),
        ("jeweler", ITEM, pl.CertificateIssued(
            gtin="09506000134352", kind="ring", serial="R-0001", owner=PK["owner"],
            metal="platinum", fineness=950, mass_mg=5200,
            stones=[pl.Stone(kind="diamond", weight_ct100=52, color="G", clarity="VS1")])),
    ]


class _Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return float(self.t)


# -- the valid bundle, from a real ledger -------------------------------------------------


def build_valid(directory: Path) -> dict[str, Any]:
    """Append the story, sign checkpoints A (before the sale) and B, export B since A."""
    clock = _Clock()
    ledger = pl.Ledger.create(directory / "v.db", origin=ORIGIN, root_key=PK["root"],
                              log_key=PK["log"], clock=clock)
    n = 0

    def add(signer: str, subject: str, event: pl.Event) -> pl.Record:
        nonlocal n
        clock.t = T0 + STEP * n
        n += 1
        return ledger.append(pl.sign_statement(event, key=KEYS[signer], origin=ORIGIN,
                                               subject=subject, prev=ledger.head(subject),
                                               time=clock.t - 5))

    for signer, subject, event in setup():
        add(signer, subject, event)
    cert = ledger.head(ITEM)
    assert cert is not None
    add("gemologist", ITEM, pl.CertificateAttested(capacity="gemologist", certificate=cert))
    add("workshop", ITEM, repair("Re-tipped four claws"))
    add("workshop", ITEM, pl.AppraisalRecorded(value_minor=850_000, currency="EUR",
                                               method="in_person",
                                               appraiser="Bench & Co Workshop"))
    add("jeweler", OTHER, pl.CertificateIssued(kind="pendant", serial="P-0042",
                                               owner=PK["jeweler"]))
    clock.t = T0 + STEP * n
    a = ledger.sign_checkpoint(KEYS["log"])
    opened = add("owner", ITEM, pl.EscrowOpened(buyer=PK["buyer"], terms=TERMS, condition=COND,
                                                offer_expires=T0 + STEP * n + 3600))
    add("buyer", ITEM, pl.EscrowAccepted(escrow=opened.hash, terms_hash=pl.terms_hash(TERMS),
                                         condition_hash=pl.condition_hash(COND)))
    clock.t = T0 + STEP * n
    b = ledger.sign_checkpoint(KEYS["log"])
    bundle = decode_bundle(ledger.export(ITEM, since=(a.size,)))
    data = encode_bundle(msgspec.structs.replace(bundle, checkpoint=cosigned(bundle.checkpoint,
                                                                             b.time + 30)))
    add("workshop", ITEM, repair("Polish after the sale"))
    clock.t = T0 + STEP * n
    c = ledger.sign_checkpoint(KEYS["log"])
    entries = [ledger.entry(i) for i in range(len(ledger))]
    ledger.close()
    return {"data": data, "a": a, "b": b, "c": c, "now": b.time + 600, "entries": entries}


# -- the valid bundle with disclosures, from a real ledger --------------------------------


def salts(tag: str) -> Any:
    """Fixed 16-byte salts for commit(..., salt=): test vectors only (a real
    salt is fresh from the operating system's CSPRNG)."""
    n = itertools.count()
    return lambda: hashlib.sha256(f"provledger bundle vector salt {tag} {next(n)}"
                                  .encode()).digest()[:16]


#: What the disclosed ring's exporter chose to disclose; the rest is withheld.
DISCLOSED = ("inscription", "work", "performed_by", "condition.notes")


def build_disclosed(directory: Path) -> dict[str, Any]:
    """A ring whose free text is committed (and one repair of the earlier
    format, in clear), sold through a direct escrow; exported disclosing
    DISCLOSED only."""
    clock = _Clock()
    ledger = pl.Ledger.create(directory / "d.db", origin=ORIGIN, root_key=PK["root"],
                              log_key=PK["log"], clock=clock)
    n = 0

    def add(signer: str, subject: str, event: pl.Event, *, commit: bool = True) -> pl.Record:
        nonlocal n
        clock.t = T0 + STEP * n
        n += 1
        made = pl.commit(event, salt=salts(str(n))) if commit else pl.Committed(event, ())
        statement = pl.sign_statement(made.event, key=KEYS[signer], origin=ORIGIN,
                                      subject=subject, prev=ledger.head(subject),
                                      time=clock.t - 5)
        return ledger.append(statement, made.disclosures)

    for signer, subject, event in setup():
        add(signer, subject, msgspec.structs.replace(
            event, inscription="For Ana, 12.05.2024", notes="Made to order; the client's gold")
            if isinstance(event, pl.CertificateIssued) else event)
    cert = ledger.head(ITEM)
    assert cert is not None
    add("gemologist", ITEM, pl.CertificateAttested(capacity="gemologist", certificate=cert,
                                                   notes="Loupe-clean under 10x"))
    add("workshop", ITEM, msgspec.structs.replace(repair("Re-tipped four claws"),
                                                  notes="Asked for by Friday"))
    add("workshop", ITEM, repair("Polished the band"), commit=False)  # the earlier format
    add("workshop", ITEM, pl.AppraisalRecorded(value_minor=850_000, currency="EUR",
                                               method="in_person",
                                               appraiser="Bench & Co Workshop"))
    condition = msgspec.structs.replace(COND, notes="A light scratch inside the band")
    opened = add("owner", ITEM, pl.EscrowOpened(buyer=PK["buyer"], terms=TERMS,
                                                condition=condition,
                                                offer_expires=T0 + STEP * n + 3600))
    assert isinstance(opened.event, pl.EscrowOpened)
    add("buyer", ITEM, pl.EscrowAccepted(escrow=opened.hash, terms_hash=pl.terms_hash(TERMS),
                                         condition_hash=pl.condition_hash(
                                             opened.event.condition)))
    clock.t = T0 + STEP * n
    b = ledger.sign_checkpoint(KEYS["log"])
    bundle = decode_bundle(ledger.export(ITEM, disclose=DISCLOSED))
    data = encode_bundle(msgspec.structs.replace(bundle, checkpoint=cosigned(bundle.checkpoint,
                                                                             b.time + 30)))
    ledger.close()
    return {"data": data, "now": b.time + 600}


def cosigned(note: str, timestamp: int) -> str:
    parsed = parse_note(note)
    sig = cosign_checkpoint(parsed.text, name=WITNESS, key=KEYS["witness"], timestamp=timestamp)
    return format_note(parsed.text, [*parsed.signatures, sig])


def policy_text() -> str:
    return pl.Policy(
        logs=(NoteVerifier(ORIGIN, PK["log"]),), roots=(PK["root"],),
        witnesses=(NoteVerifier(WITNESS, PK["witness"], SIG_COSIGNATURE_V1),), quorum=1,
        max_age=MAX_AGE).to_text()


#: A marketplace's requirements (spec/bundle.md 4.2) the valid ring meets, and one it does not.
MARKET_REQUIREMENTS = ("require attestation gemologist above 500000 EUR\n"
                       "require witnesses 1\nrequire no-pending-recovery\n")
UNMET_REQUIREMENT = "require attestation appraiser max-age 31536000\n"


# -- a log that signs anything --------------------------------------------------------------


class ForgedLog:
    """Appends statements without the rules; signs checkpoints and packs bundles."""

    def __init__(self, origin: str = ORIGIN, log: str = "log") -> None:
        self.origin, self.log = origin, KEYS[log]
        self.tree = _merkle.MemoryTree()
        self.entries: list[bytes] = []
        self.subjects: list[str] = []
        self.hashes: list[bytes] = []
        self.t = T0

    def head(self, subject: str) -> bytes | None:
        found = [h for s, h in zip(self.subjects, self.hashes, strict=True) if s == subject]
        return found[-1] if found else None

    def sign(self, signer: str, subject: str, event: pl.Event, origin: str | None = None
             ) -> bytes:
        return pl.sign_statement(event, key=KEYS[signer], origin=origin or self.origin,
                                 subject=subject, prev=self.head(subject), time=self.t - 5)

    def append(self, statement: bytes, subject: str, *, time: int | None = None) -> None:
        entry = encode_entry(len(self.entries), self.t if time is None else time, statement)
        self.tree.append(entry)
        self.entries.append(entry)
        self.subjects.append(subject)
        self.hashes.append(hashlib.sha256(statement).digest())
        self.t += STEP

    def add(self, signer: str, subject: str, event: pl.Event, **kw: Any) -> None:
        self.append(self.sign(signer, subject, event, **kw), subject)

    def bundle(self, *, extensions: Sequence[str] | None = None, witness: bool = True
               ) -> bytes:
        n = len(self.entries)
        heads = {s: _merkle.leaf_hash(e) for s, e in zip(self.subjects, self.entries,
                                                        strict=True)}
        nodes = _Nodes()
        heads_root, written = _smt.update(nodes, previous=-1,
                                          changes={_smt.map_key(s): v for s, v in heads.items()})
        nodes.nodes = {(d, p): node for d, p, node in written}
        lines = extensions if extensions is not None else (
            f"{HEADS_EXTENSION}{base64.b64encode(heads_root).decode()}",
            f"{TIME_EXTENSION}{self.t}")
        body = format_checkpoint(Checkpoint(self.origin, n, self.tree.root(n), tuple(lines)))
        sigs = [sign_note(body, name=self.origin, key=self.log)]
        if witness:
            sigs.append(cosign_checkpoint(body, name=WITNESS, key=KEYS["witness"],
                                          timestamp=self.t))
        subjects = [ITEM] + [s for s in dict.fromkeys(self.subjects) if s != ITEM]
        return encode_bundle(Bundle(
            v=1, item=ITEM, origin=self.origin, root_key=PK["root"],
            checkpoint=format_note(body, sigs),
            entries=[BundleEntry(entry=e, proof=_merkle.inclusion_proof(i, n, self.tree))
                     for i, e in enumerate(self.entries)],
            heads=[HeadProof(subject=s, proof=_smt.prove(nodes, _smt.map_key(s), 0)[1])
                   for s in subjects if s in heads] + self._root_absent(nodes, heads)))

    @staticmethod
    def _root_absent(nodes: _Nodes, heads: dict[str, bytes]) -> list[HeadProof]:
        """The proof that the root's chain has no entries, when it has none."""
        root = pl.authority_subject(PK["root"])
        if root in heads:
            return []
        terminal, siblings = _smt.prove_absent(nodes, _smt.map_key(root), 0)
        return [HeadProof(subject=root, proof=siblings, absent=terminal)]


class _Nodes:
    """A head map of one version, in memory."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, bytes], _smt.Node] = {}

    def map_node(self, depth: int, position: bytes, version: int  # noqa: ARG002
                 ) -> _smt.Node | None:
        return self.nodes.get((depth, position))


def forged(*story: tuple[Any, ...], origin: str = ORIGIN, log: str = "log",
           **bundle_kw: Any) -> bytes:
    """The set-up, then ``story`` ((signer, subject, event[, statement origin]) each),
    appended without rules and bundled."""
    f = ForgedLog(origin, log)
    for signer, subject, event, *signed_for in (*setup(), *story):
        f.add(signer, subject, event, origin=signed_for[0] if signed_for else None)
    return f.bundle(**bundle_kw)


def _forge() -> ForgedLog:
    """A forged log holding the set-up."""
    f = ForgedLog()
    for signer, subject, event in setup():
        f.add(signer, subject, event)
    return f


# -- the invalid vectors ---------------------------------------------------------------------


def _with(data: bytes, **changes: Any) -> bytes:
    return encode_bundle(msgspec.structs.replace(decode_bundle(data), **changes))


def _raw(data: bytes, **changes: Any) -> bytes:
    return cbor2.dumps({**cbor2.loads(data), **changes}, canonical=True)


def _disclosure_cases(d: dict[str, Any]) -> list[tuple[str, str, str, str, bytes,
                                                      dict[str, Any]]]:
    """Invalid bundles of level "disclosures": the disclosed ring's, its
    disclosures altered, and one forged statement."""
    data: bytes = d["data"]
    entries = list(decode_bundle(data).entries)
    carrying = [i for i, e in enumerate(entries) if e.disclosures]
    cert, repaired = carrying[0], next(i for i in carrying if len(entries[i].disclosures) == 2)

    def altered(changes: dict[int, list[bytes]]) -> bytes:
        return _with(data, entries=[
            msgspec.structs.replace(e, disclosures=changes.get(i, e.disclosures))
            for i, e in enumerate(entries)])

    first, second = entries[repaired].disclosures
    (salt1, value1, name1), (salt2, value2, name2) = (_disclosure.decode_disclosure(first),
                                                      _disclosure.decode_disclosure(second))
    enc = _disclosure.encode_disclosure
    changed = enc(salt1, value1.replace("four", "five") if "four" in value1 else value1 + ".",
                  name1)
    moved = entries[cert].disclosures[0]
    # A statement with its work in clear that also commits to a disclosure of
    # work: the schema allows it, the signer can make it, but a disclosure of
    # it must not show a second text for the field.
    twice = enc(salts("in clear")(), "Resized to 54", "work")
    both = msgspec.structs.replace(repair("Resized"), sd=[_disclosure.digest(twice)])
    f = _forge()
    f.add("workshop", ITEM, both)
    forged_data = f.bundle()
    forged_entries = list(decode_bundle(forged_data).entries)
    forged_entries[-1] = msgspec.structs.replace(forged_entries[-1], disclosures=[twice])
    return [
        ("disclosure-changed-text", "disclosures", "DisclosureError",
         f"the disclosed {name1} of the repair, its text changed", altered(
             {repaired: sorted([changed, second], key=_disclosure.digest)}), {}),
        ("disclosure-salts-swapped", "disclosures", "DisclosureError",
         f"the repair's two disclosures ({name1}, {name2}) with each other's salts",
         altered({repaired: sorted([enc(salt2, value1, name1), enc(salt1, value2, name2)],
                                   key=_disclosure.digest)}), {}),
        ("disclosure-moved", "disclosures", "DisclosureError",
         "the certificate's disclosure of its inscription moved to the repair's entry",
         altered({cert: [x for x in entries[cert].disclosures if x != moved],
                  repaired: sorted([first, second, moved], key=_disclosure.digest)}), {}),
        ("disclosure-malformed", "disclosures", "DisclosureError",
         "a disclosure cut short by one byte (not CBOR)",
         altered({repaired: [first[:-1], second]}), {}),
        ("disclosure-of-a-clear-field", "disclosures", "DisclosureError",
         "a disclosure of a repair's work, which its statement also carries in clear "
         "(it commits to the disclosure too)", _with(forged_data, entries=forged_entries), {}),
    ]


def build_invalid(v: dict[str, Any], d: dict[str, Any]) -> list[dict[str, Any]]:
    data: bytes = v["data"]
    bundle = decode_bundle(data)
    entries = list(bundle.entries)
    subjects = [pl.verify_statement(decode_entry(e.entry).statement).subject for e in entries]
    on_item = [i for i, s in enumerate(subjects) if s == ITEM]
    now, b = v["now"], v["b"]
    note = parse_note(bundle.checkpoint)
    other_root = hashlib.sha256(b"a second tree of the same size").digest()
    fork_body = format_checkpoint(Checkpoint(ORIGIN, b.size, other_root, (
        f"{HEADS_EXTENSION}{base64.b64encode(bytes(32)).decode()}", f"{TIME_EXTENSION}{b.time}")))
    fork_note = format_note(fork_body, [sign_note(fork_body, name=ORIGIN, key=KEYS["log"])])
    wrong = hashlib.sha256(b"not this one").digest()
    consistency = bundle.consistency[0]
    raw = cbor2.loads(data)

    bad_signature = _forge()
    good = bad_signature.sign("workshop", ITEM, repair("Resized"))
    bad_signature.append(good[:-1] + bytes([good[-1] ^ 1]), ITEM)
    time_back = _forge()
    time_back.append(time_back.sign("workshop", ITEM, repair("Resized")), ITEM, time=T0)
    # The jeweler's key leaked before it certified the ring: the root cuts it
    # off from the start, and no issuer has reaffirmed the certificate.
    revoked = _forge()
    revoked.add("root", auth("jeweler"), pl.KeyRevoked(
        key=PK["jeweler"], compromised_since=T0 - 10, notes="laptop stolen"))
    resale = pl.EscrowOpened(buyer=PK["stranger"], terms=TERMS, condition=COND,
                             offer_expires=T0 + 100 * STEP)
    proof_changed = list(entries)
    n = on_item[1]
    proof_changed[n] = BundleEntry(entry=entries[n].entry, proof=[wrong, *entries[n].proof[1:]])

    cases: list[tuple[str, str, str, str, bytes, dict[str, Any]]] = [
        # format: deterministic CBOR and the CDDL of spec/bundle.md
        ("trailing-byte", "format", "DecodeError", "a zero byte after the bundle",
         data + b"\x00", {}),
        ("unsorted-keys", "format", "DecodeError",
         "top-level map keys in insertion order, not RFC 8949 order",
         cbor2.dumps(dict(reversed(list(raw.items())))), {}),
        ("unknown-field", "format", "DecodeError", "a top-level field the schema does not define",
         _raw(data, extra="x"), {}),
        ("version-2", "format", "DecodeError", "v is 2", _raw(data, v=2), {}),
        ("root-key-as-text", "format", "DecodeError", "root_key is a text string",
         _raw(data, root_key=pl.format_public_key(PK["root"])), {}),
        ("seventeen-consistency-proofs", "format", "DecodeError",
         "more than 16 consistency proofs", _raw(data, consistency=[raw["consistency"][0]] * 17),
         {}),
        ("long-inclusion-proof", "format", "DecodeError", "an inclusion proof of 65 hashes",
         _with(data, entries=[BundleEntry(entry=entries[0].entry, proof=[wrong] * 65),
                              *entries[1:]]), {}),
        # proofs: everything but the rules
        ("untrusted-root", "proofs", "UnknownKeyError",
         "root_key is not a root the policy trusts", _with(data, root_key=PK["stranger"]), {}),
        ("untrusted-log", "proofs", "UnknownKeyError",
         "a bundle from a log the policy does not name",
         forged(origin="ledger.other.example/pieces", log="other-log"), {}),
        ("checkpoint-signed-by-another-key", "proofs", "CheckpointError",
         "the log's signature replaced by another key's, under the log's name",
         _with(data, checkpoint=format_note(note.text, [
             sign_note(note.text, name=ORIGIN, key=KEYS["stranger"]), note.signatures[1]])), {}),
        ("no-witness-cosignature", "proofs", "QuorumError",
         "the witness cosignature the policy's quorum needs is missing",
         _with(data, checkpoint=format_note(note.text, [note.signatures[0]])), {}),
        ("no-heads-extension", "proofs", "CheckpointError",
         "a checkpoint without the provledger-heads line",
         forged(extensions=(f"{TIME_EXTENSION}{T0}",)), {}),
        ("stale", "proofs", "StaleCheckpointError",
         "verified one second after the policy's max-age", data,
         {"now": b.time + MAX_AGE + 1}),
        ("rollback", "proofs", "StaleCheckpointError",
         "the verifier has already seen a newer checkpoint", data, {"seen": [v["c"].note]}),
        ("fork-same-size", "proofs", "ForkError",
         "the verifier has seen another root signed for the same size", data,
         {"seen": [fork_note]}),
        ("fork-consistency", "proofs", "ForkError",
         "the consistency proof does not lead from the older checkpoint",
         _with(data, consistency=[msgspec.structs.replace(
             consistency, proof=[wrong, *consistency.proof[1:]])]), {}),
        ("inclusion-proof", "proofs", "ProofError", "one hash of an inclusion proof replaced",
         _with(data, entries=proof_changed), {}),
        ("reordered", "proofs", "IncompleteHistoryError", "the first two entries swapped",
         _with(data, entries=[entries[1], entries[0], *entries[2:]]), {}),
        ("duplicated", "proofs", "IncompleteHistoryError", "an entry carried twice",
         _with(data, entries=[*entries[:2], entries[1], *entries[2:]]), {}),
        ("gap", "proofs", "IncompleteHistoryError",
         "the repair left out of the middle of the item's chain",
         _with(data, entries=[e for i, e in enumerate(entries) if i != on_item[2]]), {}),
        ("cut-before-the-sale", "proofs", "IncompleteHistoryError",
         "the escrow entries left out: the chain stops before the head the checkpoint's "
         "head map names", _with(data, entries=[e for i, e in enumerate(entries)
                                                if i not in on_item[-2:]]), {}),
        ("missing-head-proof", "proofs", "IncompleteHistoryError",
         "the workshop's head proof left out",
         _with(data, heads=[h for h in bundle.heads if h.subject != auth("workshop")]), {}),
        ("bad-statement-signature", "proofs", "SignatureError",
         "the log took a statement whose signature does not verify", bad_signature.bundle(),
         {}),
        ("time-goes-back", "proofs", "VerificationError",
         "an entry's log time is before the previous entry's", time_back.bundle(), {}),
        # rules: only the replay of protocol.md section 6 catches these
        ("unauthorized-repair", "rules", "UnauthorizedError",
         "a repair by the gemologist, who is no service provider",
         forged(("gemologist", ITEM, repair("Resized"))), {}),
        ("unknown-signer", "rules", "UnknownKeyError", "a repair by a key no authority holds",
         forged(("stranger", ITEM, repair("Resized"))), {}),
        ("certificate-after-cut-off", "rules", "RevokedKeyError",
         "the certificate was signed after the cut-off its key's later revocation names, "
         "and no issuer reaffirmed it", revoked.bundle(), {}),
        ("root-chain-left-out", "proofs", "IncompleteHistoryError",
         "the proof that the root's chain has no entries left out (a bundle could then hide "
         "the root's rotations and revocations)",
         _with(data, heads=[h for h in bundle.heads if h.subject != auth("root")]), {}),
        ("lost-by-non-owner", "rules", "UnauthorizedError",
         "the buyer, never sold the ring, reports it lost",
         forged(("buyer", ITEM, pl.LostReported())), {}),
        ("escrow-by-non-owner", "rules", "UnauthorizedError",
         "the buyer offers on a ring it never received", forged(("buyer", ITEM, resale)), {}),
        ("stolen-by-deauthorized", "rules", "UnauthorizedError",
         "a theft report by a reporter whose role was revoked",
         forged(("jeweler", auth("insurer"), pl.RoleRevoked(role="reporter")),
                ("insurer", ITEM, pl.StolenReported(reference="X-1"))), {}),
        ("wrong-log", "rules", "WrongLogError",
         "a statement signed for another log, replayed into this one",
         forged(("owner", ITEM, pl.LostReported(), "ledger.other.example/pieces")), {}),
        # requirements: a true history that does not meet a marketplace's policy
        ("requirement-unmet", "requirements", "RequirementError",
         "the valid ring under a policy that requires an appraiser's attestation, which it "
         "lacks", data, {"policy": "policy-unmet.txt"}),
    ]
    cases += [(name, level, error, description, blob, {"now": d["now"], **extra})
              for name, level, error, description, blob, extra in _disclosure_cases(d)]
    # A case that differs from the valid one only in its time or what was seen reuses its file.
    return [{"name": name, "description": description, "error": error, "level": level,
             "file": "valid.bundle" if blob == data else f"invalid/{name}.bundle",
             "policy": extra.get("policy", "policy.txt"),
             "now": extra.get("now", now), "seen": extra.get("seen", []), "bytes": blob}
            for name, level, error, description, blob, extra in cases]


def render(out: Path) -> dict[Path, bytes]:
    """Every vector file, path -> bytes."""
    with tempfile.TemporaryDirectory() as d:
        v = build_valid(Path(d))
        disclosed = build_disclosed(Path(d))
    invalid = build_invalid(v, disclosed)
    policy = policy_text()
    report = pl.verify_bundle(v["data"], policy=pl.parse_policy(policy), now=v["now"],
                              seen=[v["a"].note])
    expected = report.to_json()
    disclosed_report = pl.verify_bundle(disclosed["data"], policy=pl.parse_policy(policy),
                                        now=disclosed["now"]).to_json()
    valid = [{"name": "sold-ring", "file": "valid.bundle", "policy": "policy.txt",
              "now": v["now"], "seen": [v["a"].note], "report": "valid.report.json",
              "description": "a ring certified, attested, repaired, appraised and sold "
                             "through a direct escrow; proven consistent with the checkpoint "
                             "before the sale, which the verifier has seen"},
             {"name": "sold-ring-market", "file": "valid.bundle", "policy": "policy-market.txt",
              "now": v["now"], "seen": [v["a"].note], "report": "valid.report.json",
              "description": "the same, under a marketplace's policy whose requirements it "
                             "meets: a gemologist's attestation above 5,000.00 EUR, one "
                             "witness, no pending recovery"},
             {"name": "disclosed-ring", "file": "valid-disclosed.bundle",
              "policy": "policy.txt", "now": disclosed["now"], "seen": [],
              "report": "valid-disclosed.report.json",
              "description": "a ring whose free text is committed (spec/disclosure.md), sold "
                             "through a direct escrow; its exporter disclosed "
                             f"{', '.join(DISCLOSED)} and withheld the rest (the notes, "
                             "the appraiser); one repair is of the earlier format, its "
                             "text in clear"}]
    manifest = {"origin": ORIGIN, "witness": WITNESS,
                "keys": {n: {"seed": sv.seed(n).hex(), "public_key": pl.format_public_key(PK[n])}
                         for n in KEY_NAMES},
                "valid": valid,
                "invalid": [{k: c[k] for k in c if k != "bytes"} for c in invalid]}

    def dump(obj: Any) -> bytes:
        return (json.dumps(obj, indent=1) + "\n").encode()

    files = {out / "README.md": _readme(valid, invalid).encode(),
             out / "manifest.json": dump(manifest),
             out / "policy.txt": policy.encode(),
             out / "policy-market.txt": (policy + MARKET_REQUIREMENTS).encode(),
             out / "policy-unmet.txt": (policy + UNMET_REQUIREMENT).encode(),
             out / "valid.bundle": v["data"],
             out / "valid.report.json": dump(expected),
             out / "valid-disclosed.bundle": disclosed["data"],
             out / "valid-disclosed.report.json": dump(disclosed_report)}
    files.update({out / c["file"]: c["bytes"] for c in invalid if c["file"] != "valid.bundle"})
    return files


def _readme(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> str:
    lines = [
        "# Bundle vectors (spec/bundle.md)",
        "",
        "Generated by `spec/tools/gen_bundle_vectors.py` (do not edit by hand; the test suite",
        "regenerates them and fails on any difference). Keys come from fixed seeds,",
        "`SHA-256(\"provledger test key <name>\")` (in `manifest.json`), the log's clock is",
        f"fixed (entry *i* at {T0} + {STEP} *i*), and Ed25519 is deterministic.",
        "",
        "- `policy.txt`: the trust policy every vector is verified under: the log",
        f"  `{ORIGIN}`, the ledger's root, and the witness `{WITNESS}`, whose",
        "  cosignature the quorum requires (c2sp.org/tlog-policy syntax).",
        "- `policy-market.txt`, `policy-unmet.txt`: the same plus a marketplace's",
        "  `require` lines (spec/bundle.md 4.2): ones the valid ring meets, and one it",
        "  does not (`RequirementError`).",
        "- `valid.bundle`: exported by a real ledger; verify it at the manifest's `now`,",
        "  having seen the checkpoints in `seen`, and the report must equal",
        "  `valid.report.json` (`Report.to_json()`).",
        "- `valid-disclosed.bundle`: a ring whose free text is committed",
        "  (spec/disclosure.md, fixed salts), exported with some of its disclosures; its",
        "  report, `valid-disclosed.report.json`, shows the disclosed text, lists it in",
        "  `disclosed` and counts the rest in `withheld`.",
        "- `invalid/*.bundle`: each must fail with the error the manifest names, at its",
        "  `now` and with its `seen` checkpoints. `level` says what catches it:",
        "  `format` (deterministic CBOR and the CDDL of spec/bundle.md), `proofs`",
        "  (checkpoint and witness signatures, freshness, consistency, inclusion and",
        "  head-map proofs, statement signatures, chain links, log times: everything",
        "  but the rules; spec/tools/check_bundle.py, which does not import provledger,",
        "  rejects each of these with the same error name) or `rules` (only the replay",
        "  of protocol.md section 6 catches it; check_bundle.py accepts these) or",
        "  `requirements` (the bundle is true, but its item does not meet the policy's",
        "  `require` lines; check_bundle.py, which checks proofs only, accepts these) or",
        "  `disclosures` (a disclosure an entry carries does not match its statement's",
        "  commitments, spec/disclosure.md; check_bundle.py rejects these too).",
        "",
        "The invalid bundles are the valid one altered, or bundles packed by a log that",
        "signs whatever it is given (its key is the trusted one), so that every proof in",
        "them holds and only the named check fails.",
        "",
        "## Valid",
        "",
        "| file | case |",
        "|---|---|",
    ]
    lines += [f"| {c['file']} | {c['description']} |" for c in valid]
    lines += ["", "## Invalid", "", "| file | level | must fail with | case |",
              "|---|---|---|---|"]
    lines += [f"| {c['file']} | {c['level']} | `{c['error']}` | {c['description']} |"
              for c in invalid]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(sv.main(sys.argv, DEFAULT_OUT, render))
