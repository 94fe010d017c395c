"""Trust policies: which logs, issuer roots and witnesses a verifier trusts.

The text is c2sp.org/tlog-policy plus two provledger lines (spec/bundle.md
section 4); a line is words separated by spaces or tabs:

    log ledger.example.com/pieces+3abac7a6+Acp7VQbw...
    root ed25519:yntVBvDfhsG73ejda0yX9NjZ9WXwI1tYGVSkuvNDaBk
    witness w1 w1.example/w+12ab34cd+BA... https://w1.example/w
    witness w2 w2.example/w+56ef7890+BA...
    group both all w1 w2
    quorum both
    max-age 86400

``require`` lines (provledger, spec/bundle.md section 4.2) add what a
marketplace asks of the item itself: an attestation, witnesses, no pending
recovery; :mod:`provledger._requirements` checks them after verification.

Two legacy provledger forms are still read: ``witness <vkey>`` (the witness
is named by its key name) and ``quorum <k>`` in decimal when no name ``k`` is
defined (k of all listed witnesses; 0 means none). :meth:`Policy.to_text`
writes tlog-policy syntax only.

Errors: a bad policy text raises :class:`~provledger._errors.DecodeError`
naming its line; a :class:`Policy` built in code with bad fields raises
``ValueError`` (``TypeError`` for a quorum that is neither a name nor an int).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from ._errors import DecodeError
from ._keys import format_public_key, parse_public_key
from ._note import SIG_COSIGNATURE_V1, SIG_ED25519, NoteVerifier, parse_vkey

DEFAULT_MAX_AGE = 86_400
MAX_POLICY_BYTES = 64 * 1024
#: tlog-policy asks implementations to support at least 32 logs, witnesses and
#: groups; beyond these a policy is refused as absurd.
MAX_LOGS: Final = 256
MAX_WITNESSES: Final = 256
MAX_GROUPS: Final = 256
MAX_ROOTS: Final = 256
MAX_REQUIREMENTS: Final = 64
#: Attester capacities a ``require attestation`` line may name (cert.attested's).
CAPACITIES: Final = ("gemologist", "appraiser")
#: The predefined quorum name: no cosignature required.
NONE: Final = "none"

_SPACE = re.compile(r"[ \t]+")
_NUMBER = re.compile(r"[0-9]{1,12}")
_AMOUNT = re.compile(r"[0-9]{1,16}")
_CURRENCY = re.compile(r"[A-Z]{3}")
#: The largest amount the wire format carries (events.cddl ``count``).
_MAX_AMOUNT: Final = 2**53 - 1
# tlog-policy allows tab, newline, 0x20-0x7E and every octet with the high bit set.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class PolicyWitness:
    """A witness the policy names: its name (local to the policy), its
    cosignature key (type 0x04) and optionally its tlog-witness submission URL."""

    name: str
    verifier: NoteVerifier
    url: str | None = None


@dataclass(frozen=True)
class WitnessGroup:
    """A group that has witnessed a checkpoint when at least ``threshold`` of
    its ``members`` (witness or group names) have."""

    name: str
    threshold: int
    members: tuple[str, ...]


RequirementKind = Literal["attestation", "witnesses", "no-pending-recovery"]


@dataclass(frozen=True)
class Requirement:
    """A ``require`` line: what the verified item must also show.

    ``attestation``: a ``cert.attested`` by an attester of ``capacity`` (signed
    by one of ``attesters`` when any are named: the item's issuer grants the
    attester role, so without them an issuer can attest its own pieces), at
    most ``max_age`` seconds before the checkpoint (0: any age), needed only
    when the item is worth at least ``above`` minor units of ``currency``
    (0: always). ``witnesses``: at least ``count`` distinct policy witnesses
    cosigned the checkpoint. ``no-pending-recovery``: no owner-key recovery
    is pending at the checkpoint's time.
    """

    kind: RequirementKind
    capacity: str = ""
    max_age: int = 0
    above: int = 0
    currency: str = ""
    count: int = 0
    #: Attester keys the marketplace trusts; empty: any attester of the issuer.
    attesters: tuple[bytes, ...] = ()

    def to_line(self) -> str:
        """The policy line, as :func:`parse_policy` reads it."""
        if self.kind == "witnesses":
            return f"require witnesses {self.count}"
        if self.kind == "no-pending-recovery":
            return "require no-pending-recovery"
        by = ",".join(format_public_key(k) for k in self.attesters)
        return _line("require attestation", self.capacity,
                     f"by {by}" if by else None,
                     f"max-age {self.max_age}" if self.max_age else None,
                     f"above {self.above} {self.currency}" if self.above else None)


@dataclass(frozen=True)
class Policy:
    """What a verifier trusts. Build one with :func:`parse_policy` or directly.

    ``witnesses`` and ``named_witnesses`` are two views of the same list: give
    either (a bare NoteVerifier is named by its key name, without URL).
    ``quorum`` is a witness or group name, ``"none"``, or (legacy) an int k:
    k of all witnesses, 0 meaning none. ``log_urls`` is empty or holds one URL
    (or None) per log.
    """

    logs: tuple[NoteVerifier, ...]
    roots: tuple[bytes, ...]
    witnesses: tuple[NoteVerifier, ...] = ()
    quorum: int | str = 0
    max_age: int = DEFAULT_MAX_AGE
    named_witnesses: tuple[PolicyWitness, ...] = ()
    groups: tuple[WitnessGroup, ...] = ()
    log_urls: tuple[str | None, ...] = ()
    requirements: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        named = tuple(self.named_witnesses)
        if not named:
            named = tuple(PolicyWitness(v.name, v) for v in self.witnesses)
        elif self.witnesses and tuple(self.witnesses) != tuple(w.verifier for w in named):
            raise ValueError("witnesses and named_witnesses list different keys")
        urls = tuple(self.log_urls)
        object.__setattr__(self, "logs", tuple(self.logs))
        object.__setattr__(self, "roots", tuple(self.roots))
        object.__setattr__(self, "named_witnesses", named)
        object.__setattr__(self, "witnesses", tuple(w.verifier for w in named))
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "log_urls", () if all(u is None for u in urls) else urls)
        object.__setattr__(self, "requirements", tuple(self.requirements))
        _check(self)

    # -- lookups ------------------------------------------------------------------

    def log(self, origin: str) -> NoteVerifier | None:
        """The first trusted key of the log named ``origin``, if any."""
        return next((v for v in self.logs if v.name == origin), None)

    def log_keys(self, origin: str) -> tuple[NoteVerifier, ...]:
        """Every trusted key of the log named ``origin`` (a log may have several)."""
        return tuple(v for v in self.logs if v.name == origin)

    def witness(self, verifier: NoteVerifier) -> PolicyWitness | None:
        """The policy's witness with this key, if any."""
        return next((w for w in self.named_witnesses if w.verifier == verifier), None)

    # -- the quorum rule --------------------------------------------------------------

    @property
    def requires_witnesses(self) -> bool:
        """Whether the quorum rule asks for any cosignature (it is not ``none``)."""
        return self.quorum not in (NONE, 0)

    def quorum_met(self, cosigners: Iterable[NoteVerifier]) -> bool:
        """Whether cosignatures by ``cosigners`` (verified by the caller) meet
        the quorum rule; keys the policy does not list count for nothing."""
        present = {w.name for v in cosigners if (w := self.witness(v)) is not None}
        rule = self.quorum
        if isinstance(rule, int):
            return len(present) >= rule
        if rule == NONE:
            return True
        witnessed = {w.name: w.name in present for w in self.named_witnesses}
        for group in self.groups:  # members are defined earlier: one pass suffices
            witnessed[group.name] = sum(witnessed[m] for m in group.members) >= group.threshold
        return witnessed[rule]

    def quorum_overlap(self) -> int:
        """The fewest witnesses that any two sets of witnesses meeting the
        quorum share: 0 for none, or when two disjoint sets meet it.

        Two checkpoints that both carry the quorum were both cosigned by an
        honest witness, which checked that one extends the other, unless at
        least this many witnesses lie (spec/bundle.md section 4.1).
        """
        rule = self.quorum
        if rule in (0, NONE):
            return 0
        if isinstance(rule, int):
            return max(0, 2 * rule - len(self.witnesses))
        # Members of a group are disjoint subtrees (each name is a member once):
        # two quorums of a k-of-m group must both be met by at least 2k - m
        # members, the cheapest of which are shared.
        shared = {w.name: 1 for w in self.named_witnesses}
        for g in self.groups:
            both = max(0, 2 * g.threshold - len(g.members))
            shared[g.name] = sum(sorted(shared[m] for m in g.members)[:both])
        return shared[rule]

    def describe_quorum(self) -> str:
        """The quorum rule in words, for error messages and reports."""
        rule = self.quorum
        if rule in (0, NONE):
            return "no witness cosignature (quorum none)"
        if isinstance(rule, int) and len(self.witnesses) > 1:
            names = ", ".join(w.name for w in self.named_witnesses)
            return f"cosignatures from {rule} of the {len(self.witnesses)} witnesses [{names}]"
        if isinstance(rule, int):
            rule = self.named_witnesses[0].name
        groups = {g.name: g for g in self.groups}
        if rule in groups:
            return f"group {rule}: {_words(groups[rule], groups)}"
        return f"a cosignature from witness {rule}"

    # -- text ---------------------------------------------------------------------------

    def to_text(self) -> str:
        """The policy as a file in tlog-policy syntax (plus ``root`` and
        ``max-age``); :func:`parse_policy` reads it back. A legacy int quorum
        is written as the equivalent witness or group."""
        lines = ["# provledger trust policy: c2sp.org/tlog-policy, plus root and max-age "
                 "lines (spec/bundle.md)"]
        urls = self.log_urls or (None,) * len(self.logs)
        lines += [_line("log", v.vkey(), url) for v, url in zip(self.logs, urls, strict=True)]
        lines += [f"root {format_public_key(r)}" for r in self.roots]
        lines += [_line("witness", w.name, w.verifier.vkey(), w.url)
                  for w in self.named_witnesses]
        groups = list(self.groups)
        quorum = self.quorum
        if isinstance(quorum, int):
            quorum, extra = _legacy_quorum(quorum, [w.name for w in self.named_witnesses])
            groups += extra
        lines += [_line("group", g.name, _threshold(g), *g.members) for g in groups]
        lines += [f"quorum {quorum}", f"max-age {self.max_age}"]
        lines += [r.to_line() for r in self.requirements]
        return "\n".join(lines) + "\n"


def _line(*words: str | None) -> str:
    return " ".join(w for w in words if w is not None)


def _threshold(group: WitnessGroup) -> str:
    n = len(group.members)
    if group.threshold == n:
        return "all"
    return "any" if group.threshold == 1 else str(group.threshold)


def _words(group: WitnessGroup, groups: dict[str, WitnessGroup]) -> str:
    """``2 of [a, b, c]``, nested groups spelled out in brackets."""
    parts = [m if m not in groups else f"{m}: {_words(groups[m], groups)}"
             for m in group.members]
    n, k = len(parts), group.threshold
    if n == 1:
        return parts[0]
    how = "all" if k == n else "any" if k == 1 else str(k)
    return f"{how} of [{', '.join(parts)}]"


def _legacy_quorum(k: int, names: list[str]) -> tuple[str, list[WitnessGroup]]:
    """A legacy ``quorum k`` as a tlog-policy quorum name and the group it needs."""
    if k == 0:
        return NONE, []
    if len(names) == 1:
        return names[0], []
    name, n = "quorum", 1
    while name in names:
        n += 1
        name = f"quorum-{n}"
    return name, [WitnessGroup(name, k, tuple(names))]


# -- checking a Policy built in code ------------------------------------------------------


def _check(p: Policy) -> None:
    """Raise ValueError unless ``p`` is a policy parse_policy could return."""
    if not p.logs or not p.roots:
        raise ValueError("a policy needs at least one log and one root")
    for what, count, limit in (("logs", len(p.logs), MAX_LOGS),
                               ("roots", len(p.roots), MAX_ROOTS),
                               ("witnesses", len(p.named_witnesses), MAX_WITNESSES),
                               ("groups", len(p.groups), MAX_GROUPS)):
        if count > limit:
            raise ValueError(f"{count} {what}: at most {limit} are supported")
    if any(v.sig_type != SIG_ED25519 for v in p.logs):
        raise ValueError("a log key must be an Ed25519 (type 0x01) vkey")
    if any(w.verifier.sig_type != SIG_COSIGNATURE_V1 for w in p.named_witnesses):
        raise ValueError("a witness key must be a cosignature (type 0x04) vkey")
    for what, keys in (("log", [v.public_key for v in p.logs]),
                       ("witness", [w.verifier.public_key for w in p.named_witnesses]),
                       ("root", list(p.roots))):
        if len(set(keys)) != len(keys):
            raise ValueError(f"a {what} key is listed twice")
    if p.log_urls and len(p.log_urls) != len(p.logs):
        raise ValueError("log_urls must hold one URL (or None) per log")
    for url in [*p.log_urls, *(w.url for w in p.named_witnesses)]:
        if url is not None and (problem := _name_problem(url)):
            raise ValueError(f"URL {url[:80]!r}: {problem}")
    defined: set[str] = set()
    for w in p.named_witnesses:
        if problem := _name_problem(w.name) or _taken(w.name, defined):
            raise ValueError(f"witness name {w.name[:80]!r}: {problem}")
        defined.add(w.name)
    used: set[str] = set()
    for g in p.groups:
        if problem := (_name_problem(g.name) or _taken(g.name, defined)
                       or _group_problem(g.threshold, g.members, defined, used)):
            raise ValueError(f"group {g.name[:80]!r}: {problem}")
        defined.add(g.name)
        used.update(g.members)
    _check_quorum(p, defined)
    if isinstance(p.max_age, bool) or not isinstance(p.max_age, int) or p.max_age <= 0:
        raise ValueError("max-age must be a positive number of seconds")
    if len(p.requirements) > MAX_REQUIREMENTS:
        raise ValueError(f"{len(p.requirements)} requirements: at most {MAX_REQUIREMENTS} "
                         "are supported")
    for r in p.requirements:
        if problem := _requirement_problem(r, len(p.named_witnesses)):
            raise ValueError(f"requirement {r.to_line()[8:80]!r}: {problem}")
    if len(set(p.requirements)) != len(p.requirements):
        raise ValueError("a requirement is listed twice")
    kinds = [r.kind for r in p.requirements if r.kind != "attestation"]
    if len(set(kinds)) != len(kinds):
        raise ValueError("require witnesses and require no-pending-recovery come once each")


def _requirement_problem(r: Requirement, witnesses: int) -> str:
    """Why ``r`` is not a requirement parse_policy could return ("" if it is)."""
    numbers = (r.max_age, r.above, r.count)
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in numbers):
        return "max_age, above and count must be non-negative ints"
    if r.kind == "witnesses":
        if r.capacity or r.max_age or r.above or r.currency or r.attesters:
            return "takes a count only"
        if not 1 <= r.count <= witnesses:
            return f"count {r.count} must be between 1 and the {witnesses} witnesses listed"
    elif r.kind == "no-pending-recovery":
        if r != Requirement("no-pending-recovery"):
            return "takes no arguments"
    elif r.kind == "attestation":
        if r.capacity not in CAPACITIES:
            return f"capacity {r.capacity[:40]!r} is not one of {', '.join(CAPACITIES)}"
        if r.count:
            return "takes no count"
        if (r.above > 0) != bool(r.currency):
            return "above needs a currency, and a currency needs above"
        if r.currency and not _CURRENCY.fullmatch(r.currency):
            return f"currency {r.currency[:10]!r} is not three capital letters (ISO 4217)"
        if r.above > _MAX_AMOUNT:
            return f"above {r.above} is over {_MAX_AMOUNT}"
        if (len(set(r.attesters)) != len(r.attesters) or len(r.attesters) > MAX_ATTESTERS
                or any(not isinstance(k, bytes) or len(k) != 32 for k in r.attesters)):
            return f"attesters must be at most {MAX_ATTESTERS} distinct 32-byte keys"
    else:
        return f"kind {r.kind!r} is not attestation, witnesses or no-pending-recovery"
    return ""


def _check_quorum(p: Policy, defined: set[str]) -> None:
    rule = p.quorum
    if isinstance(rule, bool) or not isinstance(rule, int | str):
        raise TypeError("quorum is a witness or group name, 'none', or an int")
    if isinstance(rule, int):
        if not 0 <= rule <= len(p.witnesses):
            raise ValueError(f"quorum {rule} exceeds the {len(p.witnesses)} witnesses")
        if p.groups:
            raise ValueError(f"quorum {rule} counts all witnesses; with groups, name the "
                             "group the quorum is")
    elif rule != NONE and rule not in defined:
        raise ValueError(f"quorum {rule[:80]!r} is not a witness or group of the policy")


def _name_problem(name: object) -> str:
    """Why ``name`` cannot be a policy name or URL ("" if it can): tlog-policy
    names are opaque words; a word starting with "#" would read as a comment."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if _SPACE.search(name) or _CONTROL.search(name):
        return "must not contain spaces, tabs or control characters"
    if not name.isascii():
        try:
            name.encode()
        except UnicodeEncodeError:
            return "must be text that UTF-8 can encode"
    if name.startswith("#"):
        return "must not start with '#' (a comment)"
    return ""


def _taken(name: str, defined: set[str]) -> str:
    if name == NONE:
        return "'none' is predefined (quorum none)"
    return "already defined (witnesses and groups share one namespace)" \
        if name in defined else ""


def _group_problem(k: int, members: tuple[str, ...], defined: set[str], used: set[str]) -> str:
    """Why a group of ``members`` with threshold ``k`` is not allowed ("" if
    it is), given the names ``defined`` before it and those ``used`` as
    members of earlier groups."""
    if not members:
        return "needs at least one member"
    seen: set[str] = set()
    for m in members:
        if m == NONE:
            return "'none' cannot be a group member"
        if m not in defined:
            return f"member {m[:80]!r} is not a witness or group defined before it"
        if m in seen or m in used:
            return (f"member {m[:80]!r} is listed as a member twice (tlog-policy lets a "
                    "name be a member once, so that it counts in one way only)")
        seen.add(m)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(members):
        return f"threshold {k} must be between 1 and the {len(members)} members"
    return ""


# -- parsing --------------------------------------------------------------------------------


def parse_policy(text: str | bytes) -> Policy:
    """Parse a policy file's text (UTF-8).

    Raises:
        DecodeError: larger than MAX_POLICY_BYTES, not UTF-8, a control
            character, an unknown directive, a malformed line, a bad or
            duplicate key or name, a group or quorum naming what is not
            defined before it, witnesses without a quorum line, over a
            count limit, or no log or root; the message names the line.
    """
    try:
        data = text.encode() if isinstance(text, str) else bytes(text)
        if len(data) > MAX_POLICY_BYTES:
            raise DecodeError(f"policy: larger than {MAX_POLICY_BYTES} bytes")
        decoded = data.decode("utf-8")
    except UnicodeError:
        raise DecodeError("policy: not UTF-8 text") from None
    parser = _Parser()
    for number, raw in enumerate(decoded.split("\n"), 1):
        parser.line(number, raw)
    return parser.finish()


def read_policy(path: str | Path) -> Policy:
    """Read and parse a policy file.

    Raises:
        DecodeError: unreadable or invalid.
    """
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise DecodeError(f"policy {path}: cannot read ({exc})") from None
    return parse_policy(data)


class _Parser:
    """One pass over the lines; names must be defined before they are used."""

    def __init__(self) -> None:
        self.logs: list[tuple[NoteVerifier, str | None]] = []
        self.roots: list[bytes] = []
        self.witnesses: list[PolicyWitness] = []
        self.groups: list[WitnessGroup] = []
        self.lines: dict[str, int] = {}  # every defined name and key -> its line
        self.member_of: set[str] = set()
        self.quorum: tuple[str, int] | None = None
        self.max_age: int | None = None
        self.required: dict[Requirement, int] = {}

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        return tuple(self.required)

    def line(self, number: int, raw: str) -> None:
        where = f"policy line {number}"
        bad = _CONTROL.search(raw)
        if bad:
            hint = " (save the file with LF line ends)" if bad.group() == "\r" else ""
            raise DecodeError(f"{where}: control character {ord(bad.group()):#04x}; only "
                              f"tab and newline are allowed{hint}")
        words = _SPACE.split(raw.strip(" \t"))
        # A word starting with '#' starts a comment (a whole line in tlog-policy;
        # provledger and sigsum-go also allow one at the end of a line).
        cut = next((i for i, w in enumerate(words) if w.startswith("#")), len(words))
        words = [w for w in words[:cut] if w]
        if not words:
            return
        keyword, args = words[0], words[1:]
        handler = {"log": self._log, "witness": self._witness, "group": self._group,
                   "quorum": self._quorum, "root": self._root,
                   "max-age": self._max_age, "require": self._require}.get(keyword)
        if handler is None:
            raise DecodeError(f"{where}: unknown directive {keyword[:40]!r} (log, witness, "
                              "group, quorum, root, max-age, require)")
        try:
            handler(args, number)
        except DecodeError as exc:
            raise DecodeError(f"{where}: {exc}") from None

    def _key(self, text: str, sig_type: int, what: str, number: int) -> NoteVerifier:
        verifier = parse_vkey(text)
        if verifier.sig_type != sig_type:
            raise DecodeError("a log key must be an Ed25519 (type 0x01) vkey" if what == "log"
                              else "a witness key must be a cosignature (type 0x04) vkey")
        self._define(f"{what} key {verifier.public_key.hex()}",
                     f"the {what} key of {verifier.name!r}", number)
        return verifier

    def _define(self, ident: str, shown: str, number: int) -> None:
        first = self.lines.get(ident)
        if first is not None:
            raise DecodeError(f"{shown} is already defined on line {first} (tlog-policy "
                              "allows each name and key once)")
        self.lines[ident] = number

    def _name(self, name: str, number: int) -> None:
        if problem := _name_problem(name) or _taken(name, set()):
            raise DecodeError(f"name {name[:80]!r}: {problem}")
        self._define(f"name {name}", f"name {name[:80]!r}", number)

    def _log(self, args: list[str], number: int) -> None:
        if not 1 <= len(args) <= 2:
            raise DecodeError("expected `log <vkey> [<url>]`")
        if len(self.logs) == MAX_LOGS:
            raise DecodeError(f"more than {MAX_LOGS} logs")
        self.logs.append((self._key(args[0], SIG_ED25519, "log", number),
                          args[1] if len(args) == 2 else None))

    def _witness(self, args: list[str], number: int) -> None:
        if not 1 <= len(args) <= 3:
            raise DecodeError("expected `witness <name> <vkey> [<url>]`")
        if len(self.witnesses) == MAX_WITNESSES:
            raise DecodeError(f"more than {MAX_WITNESSES} witnesses")
        legacy = len(args) == 1  # `witness <vkey>`: named by its key name
        verifier = self._key(args[0 if legacy else 1], SIG_COSIGNATURE_V1, "witness", number)
        name = verifier.name if legacy else args[0]
        self._name(name, number)
        self.witnesses.append(PolicyWitness(name, verifier, args[2] if len(args) == 3 else None))

    def _group(self, args: list[str], number: int) -> None:
        if len(args) < 3:
            raise DecodeError("expected `group <name> all|any|<k> <name>...` with at least "
                              "one member")
        if len(self.groups) == MAX_GROUPS:
            raise DecodeError(f"more than {MAX_GROUPS} groups")
        name, how, members = args[0], args[1], tuple(args[2:])
        if how == "all":
            k = len(members)
        elif how == "any":
            k = 1
        elif _NUMBER.fullmatch(how):
            k = int(how)
        else:
            raise DecodeError(f"group {name[:80]!r}: threshold {how[:20]!r} is not all, any "
                              "or a decimal number")
        self._name(name, number)
        defined = {w.name for w in self.witnesses} | {g.name for g in self.groups}
        if problem := _group_problem(k, members, defined, self.member_of):
            raise DecodeError(f"group {name[:80]!r}: {problem}")
        self.member_of.update(members)
        self.groups.append(WitnessGroup(name, k, members))

    def _quorum(self, args: list[str], number: int) -> None:
        if len(args) != 1:
            raise DecodeError("expected `quorum <name>` (a witness, a group, or none)")
        if self.quorum is not None:
            raise DecodeError(f"a second quorum line (the first is line {self.quorum[1]}); "
                              "a policy has exactly one")
        rule = args[0]
        if rule != NONE and f"name {rule}" not in self.lines and not _NUMBER.fullmatch(rule):
            raise DecodeError(f"quorum {rule[:80]!r} is not a witness or group defined on a "
                              "line before it (or none)")
        self.quorum = (rule, number)

    def _root(self, args: list[str], number: int) -> None:
        if len(args) != 1:
            raise DecodeError("expected `root ed25519:<key>`")
        if len(self.roots) == MAX_ROOTS:
            raise DecodeError(f"more than {MAX_ROOTS} roots")
        root = parse_public_key(args[0])
        self._define(f"root {root.hex()}", "this root key", number)
        self.roots.append(root)

    def _max_age(self, args: list[str], _number: int) -> None:
        if self.max_age is not None or len(args) != 1 or not _NUMBER.fullmatch(args[0]) \
                or int(args[0]) == 0:
            raise DecodeError("'max-age' takes one positive decimal number, once")
        self.max_age = int(args[0])

    def _require(self, args: list[str], number: int) -> None:
        if len(self.requirements) == MAX_REQUIREMENTS:
            raise DecodeError(f"more than {MAX_REQUIREMENTS} requirements")
        requirement = _parse_requirement(args)
        first = self.required.get(requirement)
        if first is not None:
            raise DecodeError(f"the same requirement is on line {first}")
        if requirement.kind != "attestation":
            # Attestations may differ by capacity, age and value; the others come once.
            for other, line in self.required.items():
                if other.kind == requirement.kind:
                    raise DecodeError(f"a second `require {requirement.kind}` line (the "
                                      f"first is line {line})")
        self.required[requirement] = number

    def finish(self) -> Policy:
        quorum: int | str = NONE
        if self.quorum is None:
            if self.witnesses:
                raise DecodeError("policy: witnesses are listed but there is no quorum line "
                                  "(quorum <witness or group>, or quorum none)")
        else:
            rule, number = self.quorum
            defined_at = self.lines.get(f"name {rule}")
            if defined_at is not None and defined_at > number:
                raise DecodeError(f"policy line {number}: quorum {rule[:80]!r} is defined only "
                                  f"later, on line {defined_at}")
            quorum = rule
            if defined_at is None and rule != NONE:  # legacy `quorum <k>`
                quorum = int(rule) or NONE
                if self.groups and quorum != NONE:
                    raise DecodeError(f"policy line {number}: quorum {rule} (legacy: k of all "
                                      "witnesses) cannot be combined with groups; name the "
                                      "group that is the quorum")
                if isinstance(quorum, int) and quorum > len(self.witnesses):
                    raise DecodeError(f"policy line {number}: quorum {quorum} exceeds the "
                                      f"{len(self.witnesses)} witnesses")
        try:
            return Policy(logs=tuple(v for v, _ in self.logs), roots=tuple(self.roots),
                          quorum=quorum, max_age=self.max_age or DEFAULT_MAX_AGE,
                          named_witnesses=tuple(self.witnesses), groups=tuple(self.groups),
                          log_urls=tuple(u for _, u in self.logs),
                          requirements=self.requirements)
        except ValueError as exc:
            raise DecodeError(f"policy: {exc}") from None


_REQUIRE_USAGE = ("expected `require attestation gemologist|appraiser [by <key>[,<key>...]] "
                  "[max-age <seconds>] [above <amount> <currency>]`, `require witnesses <n>` "
                  "or `require no-pending-recovery`")
#: Attester keys one ``require attestation ... by`` may name.
MAX_ATTESTERS = 64


def _parse_requirement(args: list[str]) -> Requirement:
    """The words after ``require``.

    Raises:
        DecodeError: not one of the three forms, a word out of place, or a
            number out of range.
    """
    if args == ["no-pending-recovery"]:
        return Requirement("no-pending-recovery")
    if len(args) == 2 and args[0] == "witnesses":
        if not _NUMBER.fullmatch(args[1]) or int(args[1]) == 0:
            raise DecodeError(f"witnesses {args[1][:20]!r}: a positive decimal number")
        return Requirement("witnesses", count=int(args[1]))
    if len(args) < 2 or args[0] != "attestation":
        raise DecodeError(_REQUIRE_USAGE)
    capacity, rest = args[1], args[2:]
    if capacity not in CAPACITIES:
        raise DecodeError(f"capacity {capacity[:40]!r} is not one of {', '.join(CAPACITIES)}")
    max_age = above = 0
    currency = ""
    attesters: tuple[bytes, ...] = ()
    if rest[:1] == ["by"]:
        if len(rest) < 2:
            raise DecodeError("by takes attester keys (ed25519:...), separated by commas")
        try:
            attesters = tuple(parse_public_key(k) for k in rest[1].split(","))
        except DecodeError as exc:
            raise DecodeError(f"by: {exc}") from None
        if len(set(attesters)) != len(attesters) or len(attesters) > MAX_ATTESTERS:
            raise DecodeError(f"by names at most {MAX_ATTESTERS} keys, each once")
        rest = rest[2:]
    if rest[:1] == ["max-age"]:
        if len(rest) < 2 or not _NUMBER.fullmatch(rest[1]) or int(rest[1]) == 0:
            raise DecodeError("max-age takes one positive decimal number of seconds")
        max_age, rest = int(rest[1]), rest[2:]
    if rest[:1] == ["above"]:
        if len(rest) < 3 or not _AMOUNT.fullmatch(rest[1]) or not 0 < int(rest[1]) <= _MAX_AMOUNT:
            raise DecodeError(f"above takes an amount in minor units (1 to {_MAX_AMOUNT}) "
                              "and a currency")
        if not _CURRENCY.fullmatch(rest[2]):
            raise DecodeError(f"currency {rest[2][:10]!r} is not three capital letters "
                              "(ISO 4217)")
        above, currency, rest = int(rest[1]), rest[2], rest[3:]
    if rest:
        raise DecodeError(f"unexpected {rest[0][:40]!r}: {_REQUIRE_USAGE}")
    return Requirement("attestation", capacity=capacity, max_age=max_age, above=above,
                       currency=currency, attesters=attesters)
