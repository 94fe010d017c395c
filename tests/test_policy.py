"""Trust policies: c2sp.org/tlog-policy syntax, provledger's root and max-age
lines, the legacy forms, every error with its line, and the quorum rule
checked against a brute-force model over every subset of witnesses."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

import provledger as pl
from provledger._note import SIG_COSIGNATURE_V1, NoteVerifier
from provledger._policy import (
    MAX_GROUPS,
    MAX_LOGS,
    MAX_POLICY_BYTES,
    MAX_WITNESSES,
    NONE,
    Policy,
    PolicyWitness,
    WitnessGroup,
    parse_policy,
)

from .conftest import key

LOG = NoteVerifier("log.example/pieces", key("log").public_key)
ROOT = key("root").public_key
ROOT_LINE = f"root {pl.format_public_key(ROOT)}"


def witness_key(n: int, name: str | None = None) -> NoteVerifier:
    return NoteVerifier(name or f"w{n}.example/witness", key(f"witness {n}").public_key,
                        SIG_COSIGNATURE_V1)


#: Twelve witness keys, made once (key derivation is the slow part of these tests).
W = [witness_key(n) for n in range(12)]

#: c2sp.org/tlog-policy, "Example policy", verbatim; the elided keys are filled in below.
TLOG_POLICY_EXAMPLE = """\
log <vkey>

witness X1 <vkey>
witness X2 <vkey>
witness X3 <vkey>
group X-witnesses 2 X1 X2 X3

witness Y1 <vkey>
witness Y2 <vkey>
witness Y3 <vkey>
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def fill_keys(text: str) -> str:
    """``text`` with the log's vkey for the first ``<vkey>``, then W[0], W[1], ..."""
    keys = iter([LOG.vkey(), *(w.vkey() for w in W)])
    return re.sub("<vkey>", lambda _: next(keys), text)


def policy(*lines: str) -> Policy:
    """A policy of the trusted log, the root and ``lines``."""
    return parse_policy("\n".join([f"log {LOG.vkey()}", ROOT_LINE, *lines]) + "\n")


def names(p: Policy, cosigners: Iterable[str]) -> bool:
    """quorum_met for the witnesses of ``p`` named ``cosigners``."""
    by_name = {w.name: w.verifier for w in p.named_witnesses}
    return p.quorum_met(by_name[n] for n in cosigners)


# -- the tlog-policy example -------------------------------------------------------------------


def test_the_tlog_policy_example_reads_as_its_text_says() -> None:
    p = parse_policy(fill_keys(TLOG_POLICY_EXAMPLE) + ROOT_LINE + "\n")
    assert p.logs == (LOG,)
    assert [w.name for w in p.named_witnesses] == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert p.witnesses == tuple(W[:6])
    assert p.groups == (WitnessGroup("X-witnesses", 2, ("X1", "X2", "X3")),
                        WitnessGroup("Y-witnesses", 1, ("Y1", "Y2", "Y3")),
                        WitnessGroup("X-and-Y", 2, ("X-witnesses", "Y-witnesses")))
    assert p.quorum == "X-and-Y"
    assert p.requires_witnesses
    # "at least two of the X-witnesses, and at least one of the Y-witnesses"
    assert names(p, ["X1", "X3", "Y2"])
    assert not names(p, ["X1", "Y1", "Y2", "Y3"])
    assert not names(p, ["X1", "X2", "X3"])
    assert p.describe_quorum() == ("group X-and-Y: all of [X-witnesses: 2 of [X1, X2, X3], "
                                   "Y-witnesses: any of [Y1, Y2, Y3]]")
    assert parse_policy(p.to_text()) == p


def test_urls_names_and_whitespace() -> None:
    text = (f"\t log\t{LOG.vkey()}   https://log.example/pieces \t\n"
            f"# a comment line\n   # an indented one\n\n \t \n{ROOT_LINE}\n"
            f"witness K {W[0].vkey()} https://w0.example/w\n"
            f"witness \u212a {W[1].vkey()}\n"  # KELVIN SIGN: another name than K
            "group both all K \u212a\nquorum both\nmax-age 600\n")
    p = parse_policy(text)
    assert p.log_urls == ("https://log.example/pieces",)
    assert p.named_witnesses == (PolicyWitness("K", W[0], "https://w0.example/w"),
                                 PolicyWitness("\u212a", W[1]))
    assert p.max_age == 600
    assert not names(p, ["K"])
    assert names(p, ["K", "\u212a"])
    assert parse_policy(p.to_text()) == p
    assert parse_policy(p.to_text().encode()) == p


def test_comments_at_the_end_of_a_line_as_old_policies_wrote_them() -> None:
    p = parse_policy(f"log {LOG.vkey()}   # the jeweler's log\n{ROOT_LINE}  #the root\n"
                     f"witness w {W[0].vkey()} # no URL\nquorum w # one cosignature\n")
    assert p.named_witnesses == (PolicyWitness("w", W[0]),)
    assert p.quorum == "w"


def test_quorum_none_and_a_policy_without_witnesses() -> None:
    for p in (policy(), policy("quorum none"), policy("quorum 0"),
              Policy(logs=(LOG,), roots=(ROOT,))):
        assert not p.requires_witnesses
        assert p.quorum_met([])
        assert p.describe_quorum() == "no witness cosignature (quorum none)"
        assert parse_policy(p.to_text()).quorum == NONE
    listed = policy(f"witness a {W[0].vkey()}", "quorum none")
    assert listed.quorum_met([])
    assert not listed.requires_witnesses


# -- legacy provledger forms -------------------------------------------------------------------


def test_the_legacy_forms() -> None:
    """What provledger wrote before tlog-policy names: `witness <vkey>` and `quorum <k>`."""
    old = (f"# provledger trust policy (spec/bundle.md)\nlog {LOG.vkey()}\n{ROOT_LINE}\n"
           f"witness {W[0].vkey()}\nwitness {W[1].vkey()}   # optional cosigner\n"
           f"witness {W[2].vkey()}\nquorum 2\nmax-age 86400\n")
    p = parse_policy(old)
    assert [w.name for w in p.named_witnesses] == [w.name for w in W[:3]]
    assert p.witnesses == tuple(W[:3])
    assert p.quorum == 2
    assert p.describe_quorum() == ("cosignatures from 2 of the 3 witnesses "
                                   f"[{W[0].name}, {W[1].name}, {W[2].name}]")
    # Written back in tlog-policy syntax: an equivalent group, read back alike.
    text = p.to_text()
    assert f"group quorum 2 {W[0].name} {W[1].name} {W[2].name}\nquorum quorum\n" in text
    again = parse_policy(text)
    assert again.quorum == "quorum"
    assert parse_policy(again.to_text()) == again
    for n in range(4):
        for subset in itertools.combinations(W[:3], n):
            assert p.quorum_met(subset) == again.quorum_met(subset) == (n >= 2)


def test_a_legacy_quorum_is_a_name_when_that_name_is_defined() -> None:
    p = policy(f"witness 2 {W[0].vkey()}", f"witness b {W[1].vkey()}", "quorum 2")
    assert p.quorum == "2"
    assert names(p, ["2"])
    assert not names(p, ["b"])


def test_a_legacy_quorum_of_one_witness_is_that_witness() -> None:
    p = Policy(logs=(LOG,), roots=(ROOT,), witnesses=(W[0],), quorum=1)
    assert f"\nquorum {W[0].name}\n" in p.to_text()
    assert parse_policy(p.to_text()).quorum == W[0].name
    # A witness whose key name is "quorum" pushes the synthetic group's name aside.
    clash = Policy(logs=(LOG,), roots=(ROOT,), witnesses=(witness_key(1, "quorum"), W[2]),
                   quorum=1)
    assert "\ngroup quorum-2 any quorum " in clash.to_text()
    assert parse_policy(clash.to_text()).quorum == "quorum-2"


# -- policies built in code --------------------------------------------------------------------


def test_a_policy_built_in_code() -> None:
    plain = Policy(logs=(LOG,), roots=(ROOT,), witnesses=(W[0], W[1]), quorum=1)
    assert plain.named_witnesses == (PolicyWitness(W[0].name, W[0]),
                                     PolicyWitness(W[1].name, W[1]))
    named = Policy(logs=(LOG,), roots=(ROOT,), quorum="g",
                   named_witnesses=(PolicyWitness("a", W[0], "https://a.example/"),
                                    PolicyWitness("b", W[1])),
                   groups=(WitnessGroup("g", 2, ("a", "b")),), log_urls=(None,))
    assert named.witnesses == (W[0], W[1])
    assert named.log_urls == ()
    assert named.witness(W[0]) == PolicyWitness("a", W[0], "https://a.example/")
    assert named.witness(W[2]) is None
    assert parse_policy(named.to_text()) == named
    assert named.quorum_met([W[0], W[1], W[2]])
    assert not named.quorum_met([W[0], W[2]])
    # A cosigner counts once, and only under the name and key the policy gives.
    assert not named.quorum_met([W[0], W[0]])
    assert not named.quorum_met([NoteVerifier("other", W[1].public_key, SIG_COSIGNATURE_V1)])


@pytest.mark.parametrize(("fields", "error", "message"), [
    ({"logs": ()}, ValueError, "at least one log and one root"),
    ({"quorum": 3, "witnesses": (W[0], W[1])}, ValueError, "quorum 3 exceeds the 2 witnesses"),
    ({"quorum": True}, TypeError, "quorum is a witness or group name"),
    ({"quorum": "nobody"}, ValueError, "'nobody' is not a witness or group"),
    ({"max_age": 0}, ValueError, "max-age must be a positive"),
    ({"witnesses": (LOG,)}, ValueError, "cosignature (type 0x04)"),
    ({"logs": (W[0],)}, ValueError, "Ed25519 (type 0x01)"),
    ({"witnesses": (W[0], witness_key(0, "x"))}, ValueError, "witness key is listed twice"),
    ({"roots": (ROOT, ROOT)}, ValueError, "root key is listed twice"),
    ({"log_urls": ("a", "b")}, ValueError, "one URL (or None) per log"),
    ({"log_urls": ("has space",)}, ValueError, "must not contain spaces"),
    ({"witnesses": (W[0],), "named_witnesses": (PolicyWitness("a", W[1]),)}, ValueError,
     "different keys"),
    ({"named_witnesses": (PolicyWitness("none", W[0]),)}, ValueError, "predefined"),
    ({"named_witnesses": (PolicyWitness("#a", W[0]),)}, ValueError, "must not start with '#'"),
    ({"named_witnesses": (PolicyWitness("a\udc80", W[0]),)}, ValueError, "UTF-8 can encode"),
    ({"named_witnesses": (PolicyWitness("a b", W[0]),)}, ValueError, "must not contain spaces"),
    ({"named_witnesses": (PolicyWitness("a", W[0]), PolicyWitness("a", W[1]))}, ValueError,
     "already defined"),
    ({"named_witnesses": (PolicyWitness("a", W[0]),), "quorum": "g",
      "groups": (WitnessGroup("g", 2, ("a",)),)}, ValueError, "threshold 2 must be between"),
    ({"named_witnesses": (PolicyWitness("a", W[0]),), "quorum": "g",
      "groups": (WitnessGroup("g", 1, ("h",)), WitnessGroup("h", 1, ("a",)))}, ValueError,
     "'h' is not a witness or group defined before it"),
    ({"named_witnesses": (PolicyWitness("a", W[0]),), "quorum": 1,
      "groups": (WitnessGroup("g", 1, ("a",)),)}, ValueError, "with groups, name the group"),
])
def test_a_policy_built_in_code_is_checked(fields: dict[str, object], error: type[Exception],
                                           message: str) -> None:
    args: dict[str, object] = {"logs": (LOG,), "roots": (ROOT,), **fields}
    with pytest.raises(error, match=re.escape(message)):
        Policy(**args)  # type: ignore[arg-type]


# -- errors, each with its line ----------------------------------------------------------------

_V0, _V1, _V2 = W[0].vkey(), W[1].vkey(), W[2].vkey()
_HASH_NAMED = NoteVerifier("#w", W[3].public_key, SIG_COSIGNATURE_V1).vkey()


@pytest.mark.parametrize(("lines", "line", "message"), [
    (["trust everyone"], 3, "unknown directive 'trust'"),
    (["log"], 3, "expected `log <vkey> [<url>]`"),
    ([f"log {LOG.vkey()} https://a https://b"], 3, "expected `log <vkey> [<url>]`"),
    ([f"log {_V0}"], 3, "Ed25519 (type 0x01)"),
    (["log not-a-vkey"], 3, "verifier key"),
    ([f"log {NoteVerifier('other.example/log', LOG.public_key).vkey()}"], 3,
     "already defined on line 1"),
    (["witness"], 3, "expected `witness <name> <vkey> [<url>]`"),
    ([f"witness a {_V0} https://a extra"], 3, "expected `witness <name> <vkey> [<url>]`"),
    ([f"witness a {LOG.vkey()}"], 3, "cosignature (type 0x04)"),
    ([f"witness none {_V0}"], 3, "'none' is predefined"),
    # A vkey whose key name starts with '#' starts a comment: the line is incomplete.
    ([f"witness {_HASH_NAMED}"], 3, "expected `witness <name> <vkey> [<url>]`"),
    ([f"witness a {_V0}", f"witness a {_V1}"], 4, "name 'a' is already defined on line 3"),
    ([f"witness a {_V0}", f"witness b {witness_key(0, 'b.example').vkey()}"], 4,
     "already defined on line 3"),
    ([f"witness a {_V0}", "group g any"], 4, "at least one member"),
    ([f"witness a {_V0}", "group g most a"], 4, "threshold 'most' is not all, any"),
    ([f"witness a {_V0}", "group g 0 a"], 4, "threshold 0 must be between 1 and the 1"),
    ([f"witness a {_V0}", "group g 2 a"], 4, "threshold 2 must be between 1 and the 1"),
    ([f"witness a {_V0}", "group g any b"], 4, "'b' is not a witness or group defined before"),
    ([f"witness a {_V0}", "group g any b", f"witness b {_V1}"], 4, "defined before it"),
    ([f"witness a {_V0}", "group g any a none"], 4, "'none' cannot be a group member"),
    ([f"witness a {_V0}", "group g all a a"], 4, "'a' is listed as a member twice"),
    ([f"witness a {_V0}", f"witness b {_V1}", "group g any a", "group h all a b"], 6,
     "'a' is listed as a member twice"),
    ([f"witness a {_V0}", "group a any a"], 4, "name 'a' is already defined on line 3"),
    ([f"witness a {_V0}", "quorum"], 4, "expected `quorum <name>`"),
    ([f"witness a {_V0}", "quorum a b"], 4, "expected `quorum <name>`"),
    ([f"witness a {_V0}", "quorum b"], 4, "'b' is not a witness or group defined on a line"),
    (["quorum a", f"witness a {_V0}"], 3, "'a' is not a witness or group defined on a line"),
    (["quorum 7", f"witness 7 {_V0}"], 3, "quorum '7' is defined only later, on line 4"),
    ([f"witness a {_V0}", "quorum a", "quorum none"], 5, "the first is line 4"),
    ([f"witness {_V0}", "quorum 2"], 4, "quorum 2 exceeds the 1 witnesses"),
    ([f"witness a {_V0}", "group g any a", "quorum 1"], 5, "cannot be combined with groups"),
    (["root ed25519:nope"], 3, ""),
    ([ROOT_LINE], 3, "this root key is already defined on line 2"),
    (["root"], 3, "expected `root ed25519:<key>`"),
    (["max-age 0"], 3, "one positive decimal number, once"),
    (["max-age 60", "max-age 60"], 4, "one positive decimal number, once"),
    (["max-age \u00b3"], 3, "one positive decimal number"),
    (["max-age 60 s"], 3, "one positive decimal number"),
    (["quorum none\r"], 3, "control character 0x0d; only tab and newline are allowed (save "
                           "the file with LF line ends)"),
    (["max-age 6\x000"], 3, "control character 0x00"),
    (["# a comment with DEL \x7f"], 3, "control character 0x7f"),
])
def test_every_error_names_its_line(lines: list[str], line: int, message: str) -> None:
    text = "\n".join([f"log {LOG.vkey()}", ROOT_LINE, *lines]) + "\n"
    with pytest.raises(pl.DecodeError) as info:
        parse_policy(text)
    assert str(info.value).startswith(f"policy line {line}: "), info.value
    assert message in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    (f"log {LOG.vkey()}\n", "at least one log and one root"),
    (f"{ROOT_LINE}\n", "at least one log and one root"),
    (f"log {LOG.vkey()}\n{ROOT_LINE}\nwitness a {_V0}\n", "there is no quorum line"),
    ("#" * (MAX_POLICY_BYTES + 1), "larger than"),
    (b"log \xff\n", "not UTF-8"),
    ("log \udc80\n", "not UTF-8"),
])
def test_errors_of_the_whole_file(text: str | bytes, message: str) -> None:
    with pytest.raises(pl.DecodeError, match=re.escape(message)):
        parse_policy(text)


# -- limits ------------------------------------------------------------------------------------


def test_the_limits_tlog_policy_recommends_are_supported() -> None:
    logs = [NoteVerifier(f"log{n}.example/l", key(f"log {n}").public_key) for n in range(32)]
    lines = [f"log {v.vkey()}" for v in logs] + [ROOT_LINE]
    lines += [f"witness w{n} {witness_key(n).vkey()}" for n in range(32)]
    lines += [f"group g{n} 2 w{2 * n} w{2 * n + 1}" for n in range(16)]
    lines += ["group h0 any g0"] + [f"group h{n} all h{n - 1} g{n}" for n in range(1, 16)]
    p = parse_policy("\n".join([*lines, "quorum h15"]) + "\n")
    assert (len(p.logs), len(p.witnesses), len(p.groups)) == (32, 32, 32)
    assert p.quorum_met(p.witnesses)
    assert not p.quorum_met(p.witnesses[1:])
    assert parse_policy(p.to_text()) == p


def test_absurd_sizes_are_refused_clearly() -> None:
    many_groups = ["group g0 any w"] + [f"group g{n} any g{n - 1}" for n in range(1, 300)]
    with pytest.raises(pl.DecodeError, match=f"line {3 + 1 + MAX_GROUPS}: more than "
                                             f"{MAX_GROUPS} groups"):
        policy(f"witness w {_V0}", *many_groups, "quorum g0")
    witnesses = [f"witness {witness_key(n).vkey()}" for n in range(MAX_WITNESSES + 1)]
    with pytest.raises(pl.DecodeError, match=f"more than {MAX_WITNESSES} witnesses"):
        policy(*witnesses)
    logs = [f"log {NoteVerifier('l.example', key(f'log {n}').public_key).vkey()}"
            for n in range(MAX_LOGS + 1)]
    with pytest.raises(pl.DecodeError, match=f"more than {MAX_LOGS} logs"):
        parse_policy("\n".join(logs) + "\n")


# -- round trips and the quorum rule against a model -------------------------------------------

#: Names are opaque words: any character but space, tab and controls, not "#" first.
_NAME = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=" \t"),
                min_size=1, max_size=6).filter(lambda s: s != NONE and not s.startswith("#"))
_SPACE = st.text(" \t", min_size=1, max_size=3)


@dataclass(frozen=True)
class Model:
    """A policy as the test built it: witnesses, groups (name, k, members), the quorum."""

    witnesses: tuple[str, ...]
    groups: tuple[tuple[str, int, tuple[str, ...]], ...]
    quorum: str

    def met(self, present: set[str]) -> bool:
        """The rule, recursively, straight from tlog-policy's words."""
        groups = {g: (k, m) for g, k, m in self.groups}

        def witnessed(name: str) -> bool:
            if name in groups:
                k, members = groups[name]
                return sum(witnessed(m) for m in members) >= k
            return name in present

        return self.quorum == NONE or witnessed(self.quorum)


@st.composite
def models(draw: st.DrawFn) -> Model:
    wnames = draw(st.lists(_NAME, max_size=7, unique=True))
    free, defined = list(wnames), list(wnames)
    groups = []
    for _ in range(draw(st.integers(0, 4))):
        if not free:
            break
        members = draw(st.lists(st.sampled_from(free), min_size=1, max_size=len(free),
                                unique=True))
        name = draw(_NAME.filter(lambda s: s not in defined))
        groups.append((name, draw(st.integers(1, len(members))), tuple(members)))
        free = [f for f in free if f not in members] + [name]
        defined.append(name)
    quorum = draw(st.sampled_from([NONE, *defined]))
    return Model(tuple(wnames), tuple(groups), quorum)


@st.composite
def texts(draw: st.DrawFn, model: Model) -> str:
    """``model`` as a policy file, spelled as a person might: spaces and tabs,
    comments, blank lines, any of the threshold's spellings, URLs or not."""
    sp: Callable[[], str] = lambda: draw(_SPACE)  # noqa: E731
    lines = [f"log{sp()}{LOG.vkey()}", f"{sp()}{ROOT_LINE}", "# witnesses", ""]
    for n, name in enumerate(model.witnesses):
        url = draw(st.sampled_from(["", f"{sp()}https://w{n}.example/w"]))
        lines.append(f"witness{sp()}{name}{sp()}{W[n].vkey()}{url}")
    for name, k, members in model.groups:
        spelled = [str(k)] + (["all"] if k == len(members) else []) + (["any"] if k == 1 else [])
        how = draw(st.sampled_from(spelled))
        lines.append(sp().join(["group", name, how, *members]) + draw(st.sampled_from(
            ["", " # a comment"])))
    lines.append(f"quorum{sp()}{model.quorum}{sp()}")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_round_trip_and_the_rule_for_every_subset(data: st.DataObject) -> None:
    model = data.draw(models())
    p = parse_policy(data.draw(texts(model)))
    assert [w.name for w in p.named_witnesses] == list(model.witnesses)
    assert [(g.name, g.threshold, g.members) for g in p.groups] == list(model.groups)
    assert p.quorum == model.quorum
    again = parse_policy(p.to_text())
    assert again == p
    assert again.to_text() == p.to_text()
    by_name = {w.name: w.verifier for w in p.named_witnesses}
    met = []
    for n in range(len(model.witnesses) + 1):
        for subset in itertools.combinations(model.witnesses, n):
            expected = model.met(set(subset))
            assert p.quorum_met(by_name[s] for s in subset) is expected, (subset, model)
            met.append((set(subset), expected))
    # Monotone: more cosignatures never lose a quorum.
    for (a, ok_a), (b, ok_b) in itertools.product(met, met):
        if a <= b and ok_a:
            assert ok_b
    assert p.quorum_met(p.witnesses) is (model.quorum == NONE or model.met(set(
        model.witnesses)))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.data())
def test_a_legacy_int_quorum_is_k_of_all_before_and_after_writing(n: int,
                                                                  data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    p = Policy(logs=(LOG,), roots=(ROOT,), witnesses=tuple(W[:n]), quorum=k)
    written = parse_policy(p.to_text())
    assert parse_policy(written.to_text()) == written
    for m in range(n + 1):
        for subset in itertools.combinations(W[:n], m):
            assert p.quorum_met(subset) == written.quorum_met(subset) == (m >= k)


@settings(max_examples=150, deadline=None)
@given(models())
def test_quorum_overlap_is_the_fewest_witnesses_two_quorums_share(model: Model) -> None:
    """Checked by brute force over every pair of witness sets that meet the rule."""
    p = Policy(logs=(LOG,), roots=(ROOT,), quorum=model.quorum,
               named_witnesses=tuple(PolicyWitness(n, W[i])
                                     for i, n in enumerate(model.witnesses)),
               groups=tuple(WitnessGroup(*g) for g in model.groups))
    quorums = [set(s) for n in range(len(model.witnesses) + 1)
               for s in itertools.combinations(model.witnesses, n) if model.met(set(s))]
    assert p.quorum_overlap() == min(len(a & b) for a in quorums for b in quorums)


@pytest.mark.parametrize(("lines", "overlap"), [
    (["quorum none"], 0),
    (["quorum a"], 1),
    (["group g any a b c", "quorum g"], 0),
    (["group g 2 a b c", "quorum g"], 1),
    (["group g all a b c", "quorum g"], 3),
    (["quorum 2"], 1),
    (["quorum 3"], 3),
    (["group ab any a b", "group g all ab c", "quorum g"], 1),
])
def test_quorum_overlap_of_common_rules(lines: list[str], overlap: int) -> None:
    p = policy(*[f"witness {n} {W[i].vkey()}" for i, n in enumerate("abc")], *lines)
    assert p.quorum_overlap() == overlap
