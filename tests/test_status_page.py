"""The status page (issue 14, item 6) without a browser: verdicts, escaping, privacy.

Histories come from a real ledger, exported as bundles and verified with a
witness's cosignature (:func:`build_histories`, shared with the browser test);
the escaping property builds :class:`provledger.History` values directly, since
the ledger refuses the control and bidi characters a renderer must still survive.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import provledger as pl
from provledger._history import EventView
from provledger._model import CheckpointInfo, Cosigner
from provledger._note import NoteVerifier
from provledger._state import PlanState, RepairState
from provledger._status_page import render_status_page

from .conftest import ORIGIN, T0, StepClock, World, grant, key, make_world
from .forge import WITNESS_NAME, cosign, witness_key, witness_verifier

DOMAIN = "id.maison-rose.example"
GTIN = "09506000134352"
RING = f"https://{DOMAIN}/01/{GTIN}/21/RING-0001"
HOSTILE = "<script>alert(1)</script>"
RTL = "\u202egnp.exe\u202c"
BUYER = key("buyer")
SECOND = key("second buyer")
ARBITER = key("arbiter")
MARKET = key("marketplace")
MAISON = key("maison")
ATELIER = key("atelier")
GEM_LAB = key("maison gem lab")
ODD_LAB = key("odd lab")
LOG = key("log")
DIRECT = pl.EscrowTerms(price_minor=310_000, currency="EUR", on_timeout="return", direct=True)
TERMS = pl.EscrowTerms(price_minor=420_000, currency="EUR", on_timeout="dispute",
                       arbiter=ARBITER.public_key, marketplace=MARKET.public_key)
COND = pl.ConditionReport(grade="very good")
APPRAISED = 987_654
#: Every key of the ledger built below: none may appear on a page.
KEYS = (key("root"), key("jeweler"), key("workshop"), key("gemologist"), key("insurer"),
        key("owner"), BUYER, SECOND, ARBITER, MARKET, MAISON, ATELIER, GEM_LAB, ODD_LAB, LOG,
        witness_key())
STATUSES = {"ring": "active", "stolen": "stolen", "lost": "lost", "revoked": "revoked",
            "escrow": "in escrow", "hostile": "active"}
HEADLINES = {"active": "VERIFIED", "stolen": "REPORTED STOLEN", "lost": "REPORTED LOST",
             "revoked": "CERTIFICATE REVOKED", "in escrow": "IN ESCROW"}


@dataclass
class Pages:
    """Verified histories of the items built by :func:`build_histories`."""

    histories: dict[str, pl.History]
    #: When the pages are made: three hours after the checkpoint.
    now: int
    world: World
    #: Trusts the log, its root and the witness, whose cosignature it requires.
    policy: pl.Policy


def _sell(w: World, item: str, seller: pl.SigningKey, buyer: pl.SigningKey) -> None:
    opened = w.add(seller, item, pl.EscrowOpened(
        buyer=buyer.public_key, terms=DIRECT, condition=COND, offer_expires=w.clock.t + 100))
    w.add(buyer, item, pl.EscrowAccepted(escrow=opened.hash, terms_hash=pl.terms_hash(DIRECT),
                                         condition_hash=pl.condition_hash(COND)))


def build_histories(path: Path, *, t0: int = T0) -> Pages:
    """A ledger with a certified ring (attested, repaired, appraised, sold twice),
    a stolen, a lost, a revoked and an escrowed piece and one whose texts are
    hostile markup, its log clock starting at ``t0``; each item's bundle
    verified against a witnessed checkpoint. The hostile history then gets
    bidi overrides the ledger would refuse."""
    clock = StepClock(t0)
    ledger = pl.Ledger.create(path, origin=ORIGIN, root_key=key("root").public_key,
                              log_key=LOG.public_key, clock=clock)
    w = World(ledger, path, clock, *(key(name) for name in (
        "root", "jeweler", "workshop", "gemologist", "insurer", "owner")))
    grant(w, w.root, w.jeweler, "issuer", "Jeweler")
    grant(w, w.jeweler, w.workshop, "service", "Workshop")
    grant(w, w.jeweler, w.insurer, "reporter", "Insurer")
    grant(w, w.root, MAISON, "issuer", "Maison Rose", gs1_prefixes=("9506000",),
          domains=(DOMAIN,))
    grant(w, MAISON, GEM_LAB, "attester", "Gem Lab")
    grant(w, MAISON, ATELIER, "service", "Atelier Lumi\u00e8re")
    grant(w, w.jeweler, ODD_LAB, "attester", f"{HOSTILE} Lab")
    w.add(MAISON, RING, pl.CertificateIssued(
        kind="ring", serial="RING-0001", gtin=GTIN, owner=w.owner.public_key,
        metal="18k yellow gold", fineness=750, mass_mg=4_200, size="54",
        stones=[pl.Stone(kind="diamond", cut="brilliant", color="G", clarity="VS1",
                         weight_ct100=50, report="GIA 2141438167")]))
    cert = w.ledger.item(RING).certificate
    w.add(GEM_LAB, RING, pl.CertificateAttested(capacity="gemologist", certificate=cert))
    w.add(ATELIER, RING, pl.RepairRecorded(
        work="Re-tipped four claws\nPolished", category="repair",
        performed_by="Atelier Lumi\u00e8re",
        started=w.clock.t - 86_400, completed=w.clock.t - 3_600))
    w.add(w.owner, RING, pl.AppraisalRecorded(value_minor=APPRAISED, currency="EUR",
                                              method="in_person", appraiser="Gem Lab"))
    _sell(w, RING, w.owner, BUYER)
    _sell(w, RING, BUYER, SECOND)
    items = {"ring": RING}
    for name in ("stolen", "lost", "revoked", "escrow"):
        items[name] = w.issue(f"{name.upper()}-1")
    w.add(w.insurer, items["stolen"], pl.StolenReported(reference="PP-2027-0415"))
    w.add(w.owner, items["lost"], pl.LostReported())
    w.add(w.jeweler, items["revoked"], pl.CertificateRevoked(reason="issued in error"))
    w.add(w.owner, items["escrow"], pl.EscrowOpened(
        buyer=BUYER.public_key, terms=TERMS, condition=COND,
        offer_expires=w.clock.t + 1_000, inspection_ends=w.clock.t + 10_000))
    hostile = items["hostile"] = pl.serial_item_id(w.jeweler.public_key, "HOSTILE-1")
    w.add(w.jeweler, hostile, pl.CertificateIssued(
        kind=HOSTILE, serial="HOSTILE-1", owner=w.owner.public_key,
        metal='"><img src=x onerror=alert(2)>', size="</style><script>alert(3)</script>"))
    w.add(ODD_LAB, hostile, pl.CertificateAttested(
        capacity="appraiser", certificate=w.ledger.item(hostile).certificate))
    w.add(w.workshop, hostile, pl.RepairRecorded(
        work=f"{HOSTILE}\n<!-- x -->", category="service", performed_by="<b>&amp;</b>",
        started=w.clock.t - 10, completed=w.clock.t - 5))
    w.clock.t += 10
    signed = w.ledger.sign_checkpoint(LOG)
    w.ledger.add_cosignatures(signed.seq, cosign(signed.note, timestamp=signed.time + 1),
                              [witness_verifier()])
    policy = pl.Policy(logs=(NoteVerifier(w.ledger.origin, LOG.public_key),),
                       roots=(key("root").public_key,), witnesses=(witness_verifier(),),
                       quorum=1)
    w.clock.t += 3 * 3600
    histories = {name: pl.verify_bundle(w.ledger.export(item), policy=policy, now=w.clock.t,
                                        item=item)
                 for name, item in items.items()}
    h = histories["hostile"]
    histories["hostile"] = dataclasses.replace(
        h, issuer_name=f"{RTL}{HOSTILE}", warnings=(*h.warnings, f"{RTL} <i>&</i>"))
    return Pages(histories, w.clock.t, w, policy)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    built = build_histories(tmp_path_factory.mktemp("pages") / "ledger.db")
    yield built
    built.world.ledger.close()


def render(history: pl.History, now: int, href: str = "bundle.cbor") -> str:
    return render_status_page(history, bundle_href=href, now=now)


# -- a small DOM of the page ---------------------------------------------------------


@dataclass
class Page:
    """What html.parser sees: every start tag with its attributes, the text
    inside each element with an id, the whole text, and anything unexpected."""

    tags: list[tuple[str, tuple[tuple[str, str | None], ...]]] = field(default_factory=list)
    text_by_id: dict[str, str] = field(default_factory=dict)
    text: str = ""
    style: str = ""
    odd: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    VOID = frozenset({"meta", "link", "br"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append((tag, tuple(attrs)))
        if tag not in self.VOID:
            self.open.append((tag, dict(attrs).get("id")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.odd.append(f"self-closing {tag}")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            self.page.odd.append(f"unbalanced </{tag}>")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1][0] == "style":
            self.page.style += data
            return
        self.page.text += data
        for _, ident in self.open:
            if ident:
                self.page.text_by_id[ident] = self.page.text_by_id.get(ident, "") + data

    def handle_comment(self, data: str) -> None:
        self.page.odd.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        if decl != "DOCTYPE html":
            self.page.odd.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.page.odd.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.page.odd.append(f"unknown declaration {data!r}")


def parse(text: str) -> Page:
    parser = _Parser()
    parser.feed(text)
    parser.close()
    assert parser.open == [], parser.open
    assert parser.page.odd == []
    return parser.page


def verdict_class(page: Page) -> str:
    attrs = next(dict(a) for t, a in page.tags if dict(a).get("id") == "verdict")
    return str(attrs["class"])


# -- verdicts ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STATUSES))
def test_every_status_has_its_verdict_first(pages: Pages, name: str) -> None:
    history = pages.histories[name]
    assert history.status == STATUSES[name]
    page = parse(render(history, pages.now))
    assert page.text_by_id["verdict-title"] == HEADLINES[history.status]
    assert page.text.index(HEADLINES[history.status]) < page.text.index("The piece")
    assert page.text_by_id["verdict-lead"]
    # The verdict's colour class follows its words; words alone carry it too.
    assert verdict_class(page).split()[1] == {
        "active": "v-ok", "stolen": "v-stolen", "lost": "v-lost", "revoked": "v-revoked",
        "in escrow": "v-escrow"}[history.status]


def test_status_details_say_when_and_who(pages: Pages) -> None:
    h = pages.histories
    stolen = parse(render(h["stolen"], pages.now)).text_by_id["verdict-detail"]
    assert "Reported stolen on 2027-01-15 by Insurer. Reference: PP-2027-0415." in stolen
    assert "Reported lost on 2027-01-15." in parse(render(h["lost"], pages.now)).text
    revoked = parse(render(h["revoked"], pages.now)).text_by_id["verdict-detail"]
    assert revoked == "Revoked on 2027-01-15 by Jeweler: issued in error"
    escrow = parse(render(h["escrow"], pages.now)).text_by_id["verdict-detail"]
    assert escrow == "In escrow since 2027-01-15: offered to a buyer, not yet accepted."
    assert "verdict-detail" not in parse(render(h["ring"], pages.now)).text_by_id
    stolen_page = parse(render(h["stolen"], pages.now))
    assert "Reported stolen on 2027-01-15" in stolen_page.text_by_id["reports"]


def test_unconfirmed_and_unknown_statuses_are_not_shown_as_verified(pages: Pages) -> None:
    ring = pages.histories["ring"]
    unconfirmed = parse(render(dataclasses.replace(ring, certificate_confirmed=False), pages.now))
    assert unconfirmed.text_by_id["verdict-title"] == "NOT CONFIRMED"
    assert "v-caution" in verdict_class(unconfirmed)
    odd = parse(render(dataclasses.replace(ring, status=f"melted {HOSTILE}"), pages.now))
    assert odd.text_by_id["verdict-title"] == f"MELTED {HOSTILE.upper()}"
    assert "VERIFIED" not in odd.text
    assert [t for t, _ in odd.tags if t == "script"] == []


def test_the_ring_page_shows_what_a_customer_needs(pages: Pages) -> None:
    page = parse(render(pages.histories["ring"], pages.now))
    piece = page.text_by_id["piece"]
    for shown in ("ring", "RING-0001", GTIN, "18k yellow gold, 750/1000", "4.2 g", "54",
                  "1 \u00d7 diamond, brilliant, G, VS1, 0.50 ct, report GIA 2141438167",
                  "Maison Rose", RING):
        assert shown in piece, shown
    assert page.text_by_id["checked"].count("test.example/ledger") == 1
    assert "as of 2027-01-15 08:00 UTC (3 hours before this page was made)" in page.text
    assert f"{WITNESS_NAME} (2027-01-15 08:00 UTC)" in page.text_by_id["checked"]
    assert "Gem Lab, as gemologist, on 2027-01-15" in page.text_by_id["attestations"]
    service = page.text_by_id["service"]
    assert ("repair, completed on 2027-01-15 by Atelier Lumi\u00e8re: "
            "Re-tipped four claws\nPolished") in service
    assert "1 appraisal recorded" in page.text_by_id["appraisals"]
    assert page.text_by_id["ownership-changes"] == "Changed hands 2 times since certification."
    assert ("a", (("class", "button"), ("id", "bundle"), ("href", "bundle.cbor"),
                  ("download", None))) in page.tags
    assert f"provledger verify bundle.cbor --policy YOUR.policy --item '{RING}'" in page.text
    assert "Warnings" not in page.text  # attested, nothing invalidated
    assert "not attested" in parse(render(pages.histories["lost"], pages.now)).text


def test_no_key_owner_or_price_appears(pages: Pages) -> None:
    """Public keys are pseudonymous identifiers of people: none is shown, in any
    spelling; nor are prices or appraised values."""
    forbidden = {APPRAISED, DIRECT.price_minor, TERMS.price_minor}
    spelled = [str(v) for v in forbidden]
    for k in KEYS:
        pub = k.public_key
        spelled += [pub.hex(), pub.hex().upper(), base64.b64encode(pub).decode().rstrip("="),
                    base64.urlsafe_b64encode(pub).decode().rstrip("="),
                    pl.format_public_key(pub), pl.authority_subject(pub)]
    spelled.append(witness_verifier().vkey())
    for name, history in pages.histories.items():
        text = render(history, pages.now)
        for s in spelled:
            assert s not in text, (name, s)
        assert history.to_json()["owner"] not in text


def test_the_same_input_gives_the_same_page(pages: Pages, tmp_path: Path) -> None:
    again = build_histories(tmp_path / "again.db")
    try:
        for name, history in pages.histories.items():
            first = render(history, pages.now)
            assert render(history, pages.now) == first
            assert render(again.histories[name], again.now) == first, name
    finally:
        again.world.ledger.close()


def test_the_age_is_stated_against_now(pages: Pages) -> None:
    ring = pages.histories["ring"]
    assert ring.checkpoint is not None
    t = ring.checkpoint.time
    for delta, words in [(0, "when this page was made"),
                         (59, "less than a minute before"), (61, "1 minute before"),
                         (3 * 3600 + 59, "3 hours before"), (47 * 3600, "47 hours before"),
                         (5 * 86400, "5 days before"), (90 * 86400, "3 months before"),
                         (3 * 365 * 86400, "3 years before"), (-120, "2 minutes after")]:
        assert words in parse(render(ring, t + delta)).text_by_id["verdict"], delta


def test_a_history_read_from_the_ledger_says_so(pages: Pages) -> None:
    report = pl.item_report(pages.world.ledger, RING)
    page = parse(render(report, pages.now))
    assert page.text_by_id["verdict-title"] == "VERIFIED"
    assert "Read from the ledger itself" in page.text_by_id["verdict"]
    assert "Tree root" not in page.text


def test_the_style_is_allowed_by_its_hash_and_nothing_else_runs(pages: Pages) -> None:
    text = render(pages.histories["ring"], pages.now)
    page = parse(text)
    csp = next(dict(a)["content"] for t, a in page.tags
               if t == "meta" and dict(a).get("http-equiv") == "Content-Security-Policy")
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert csp is not None
    assert f"style-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp
    assert not re.search(r"https?://|@import|url\(", page.style)
    assert ("meta", (("name", "robots"), ("content", "noindex"))) in page.tags
    assert [t for t, _ in page.tags if t in ("script", "img", "iframe", "object")] == []
    # Nothing is loaded from anywhere: the only href is the bundle and a data: icon.
    refs = sorted(str(v) for _, a in page.tags for k, v in a if k in ("href", "src"))
    assert refs == ["bundle.cbor", "data:,"]


def test_bundle_href_is_escaped_and_must_be_a_web_link(pages: Pages) -> None:
    ring = pages.histories["ring"]
    page = parse(render(ring, pages.now, href='b.cbor?a="x"&b=<y>'))
    link = next(a for _, a in page.tags if dict(a).get("id") == "bundle")
    assert ("href", 'b.cbor?a="x"&b=<y>') in link
    assert "https://cdn.example/x/bundle.cbor" in render(
        ring, pages.now, href="https://cdn.example/x/bundle.cbor")
    for bad in ("javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x"):
        with pytest.raises(ValueError, match="bundle_href"):
            render(ring, pages.now, href=bad)
    with pytest.raises(pl.TimeRangeError):
        render_status_page(ring, bundle_href="bundle.cbor", now=-1)


def test_hostile_statement_texts_are_shown_as_text(pages: Pages) -> None:
    text = render(pages.histories["hostile"], pages.now)
    page = parse(text)
    assert [t for t, _ in page.tags if t in ("script", "img", "i", "b")] == []
    assert HOSTILE in page.text_by_id["verdict-title"] + page.text_by_id["piece"]
    assert f"{HOSTILE} Lab, as appraiser" in page.text_by_id["attestations"]
    assert '"><img src=x onerror=alert(2)>' in page.text_by_id["piece"]
    assert "</style><script>alert(3)</script>" in page.text_by_id["piece"]
    assert "by <b>&amp;</b>: <script>alert(1)</script>\n<!-- x -->" in page.text_by_id["service"]
    # Bidi overrides are shown as escapes, never as the characters themselves.
    assert "\u202e" not in text
    assert "\u202c" not in text
    assert pl.safe_text(RTL) + HOSTILE in page.text_by_id["piece"]
    assert pl.safe_text(RTL) + " <i>&</i>" in page.text_by_id["warnings"]


# -- the escaping property ------------------------------------------------------------

_NASTY = st.sampled_from([
    HOSTILE, RTL, "", "\\", "&amp;", "&lt;b&gt;", "</dd></dl><h1>", "<!--", "-->", "]]>",
    "\"'><img src=x onerror=alert(1)>", "</style>", "</title><script>", "<![CDATA[x]]>",
    "\x00\x1b[31m\u2028\ufeff", "a\nb\r\nc", "<?php ?>", "javascript:alert(1)"])
_TEXT = st.one_of(_NASTY, st.text(max_size=24),
                  st.lists(st.sampled_from(list("<>&\"'/=!-?\\ \n\u202e\u2066ab")),
                           max_size=16).map("".join))
#: Each free-text field the page can show, by a name the builder uses.
_FIELDS = ("item", "issuer_name", "attester", "warning", "origin", "witness", "kind", "serial",
           "gtin", "metal", "size", "stone_kind", "stone_cut", "stone_color", "stone_clarity",
           "stone_report", "signed_as", "capacity", "renew_reason", "revoke_reason",
           "reference", "category", "performed_by", "work", "method", "tier", "provider",
           "service", "currency", "workshop", "asked_category", "asked_work")


def _history(t: dict[str, str], status: str) -> pl.History:
    def ev(index: int, type_: str, fields: dict[str, Any]) -> EventView:
        return EventView(index=index, time=1_800_000_000 + index, type=type_,
                         signer=bytes(32), invalidated=False, fields=fields,
                         signed_as=t["attester" if type_ == "cert.attested" else "signed_as"])

    stone = {"kind": t["stone_kind"], "cut": t["stone_cut"], "color": t["stone_color"],
             "clarity": t["stone_clarity"], "report": t["stone_report"], "count": 2,
             "weight_ct100": 75}
    events = (
        ev(1, "cert.issued", {"kind": t["kind"], "serial": t["serial"], "gtin": t["gtin"],
                              "metal": t["metal"], "size": t["size"], "fineness": 750,
                              "stones": [stone], "owner": bytes(32),
                              "dimensions": {"width_um": 1, "height_um": 2, "length_um": 3}}),
        ev(2, "cert.attested", {"capacity": t["capacity"], "certificate": bytes(32)}),
        ev(3, "cert.renewed", {"reason": t["renew_reason"]}),
        ev(4, "repair.recorded", {"work": t["work"], "category": t["category"],
                                  "performed_by": t["performed_by"], "started": 1,
                                  "completed": 2}),
        ev(5, "appraisal.recorded", {"method": t["method"], "currency": "EUR",
                                     "value_minor": 1, "appraiser": t["signed_as"]}),
        ev(6, "stolen.reported", {"reference": t["reference"]}),
        ev(7, "cert.revoked", {"reason": t["revoke_reason"]}),
    )
    cp = CheckpointInfo(origin=t["origin"], size=9, time=1_800_000_100, root=bytes(32),
                        heads=bytes(32), note="", witnesses=(Cosigner(t["witness"], "", 5),))
    plan = PlanState(id=b"p" * 32, provider="x", tier=t["tier"], starts=1, ends=1_900_000_000,
                     terms=bytes(32), transfer="with_piece", credits=1, credit_minor=250,
                     currency=t["currency"])
    plans = (pl.PlanView(8, plan, t["provider"], "active", 1, 250, (t["service"],)),)
    repairs = (
        pl.RepairView(4, RepairState(id=b"r" * 32, status="collected", requested=1_800_000_004,
                                     ready=1_800_000_004, paid_by=plan.id),
                      t["category"], t["work"], "", late=False, one_step=True),
        pl.RepairView(9, RepairState(id=b"s" * 32, status="waiting_parts", workshop="x",
                                     requested=1_800_000_009, promised=1_800_000_050,
                                     at_workshop=True),
                      t["asked_category"], t["asked_work"], t["workshop"], late=True),
    )
    return pl.History(item=t["item"], status=status, owner=bytes(32), issuer="x",
                      issuer_name=t["issuer_name"], attested_by=(t["attester"],),
                      certificate=bytes(32), events=events, warnings=(t["warning"],),
                      checkpoint=cp, plans=plans, repairs=repairs, as_of=1_800_000_100)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.fixed_dictionaries(dict.fromkeys(_FIELDS, _TEXT)),
       status=st.sampled_from(["active", "stolen", "lost", "revoked", "in escrow"]))
def test_no_input_text_becomes_markup(texts: dict[str, str], status: str) -> None:
    """Whatever text a statement holds, the page has the template's elements
    only (the same start tags, attributes included, as with plain text in the
    same fields) and shows each text, made safe, as text."""
    page = parse(render(_history(texts, status), 1_800_000_500))
    plain = {f: "x" if v else "" for f, v in texts.items()}
    assert page.tags == parse(render(_history(plain, status), 1_800_000_500)).tags
    # Shown reworded, only under their status, or (a chain id) not at all:
    unshown = {"method", "signed_as", *(() if status == "stolen" else ("reference",)),
               *(() if status == "revoked" else ("revoke_reason",))}
    for name, value in texts.items():
        if name in unshown or value.startswith("provledger:authority:") or \
                value in ("owner", "seller", "buyer", "arbiter"):
            continue
        for line in value.split("\n"):
            assert pl.safe_text(line) in page.text, (name, line)
    raw = render(_history(texts, status), 1_800_000_500)
    assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b\x0c\x0e-\x1f]", raw)


# -- aftercare --------------------------------------------------------------------------


def _care_world(path: Path) -> tuple[World, str, pl.Policy]:
    """A ring on a Gold plan whose repair waits for parts past its promise."""
    w = make_world(path)
    ring = w.issue("CARE-1")
    t = w.clock.t
    w.add(w.jeweler, ring, pl.CareEnrolled(
        tier="Gold", terms=hashlib.sha256(b"gold terms").digest(), starts=t, ends=t + 10_000,
        credits=2, credit_minor=15_000, currency="EUR", transfer="with_piece",
        services=["cleaning", "inspection"]))
    repair = w.add(w.owner, ring, pl.RepairRequested(category="repair", work="Re-tip claws",
                                                     promised=w.clock.t + 60)).hash
    w.add(w.workshop, ring, pl.RepairReceived(repair=repair, condition=COND))
    w.add(w.workshop, ring, pl.RepairProgress(repair=repair, stage="waiting_parts"))
    return w, ring, pl.Policy(logs=(NoteVerifier(w.ledger.origin, key("log").public_key),),
                              roots=(key("root").public_key,))


def _verified(w: World, ring: str, policy: pl.Policy) -> pl.History:
    w.ledger.sign_checkpoint(key("log"))
    return pl.verify_bundle(w.ledger.export(ring), policy=policy, now=w.clock.t, item=ring)


def test_the_page_shows_the_plan_and_the_open_repair_late_or_not(tmp_path: Path) -> None:
    w, ring, policy = _care_world(tmp_path / "care.db")
    try:
        on_time = parse(render(_verified(w, ring, policy), w.clock.t))
        assert " ".join(on_time.text_by_id["care"].split()) == (
            "Care plan Gold by Jeweler, active; until 2027-01-15; credits left: 2 repair "
            "credits and 150.00 EUR; goes with the piece if it is sold. Includes: cleaning; "
            "inspection.")
        assert on_time.text_by_id["repair-status"] == (
            "Now: repair, waiting for parts. Promised for 2027-01-15: on time.")
        # The promise passes with the piece still waiting for parts: late, as of the
        # checkpoint's time (a page made later from the same bundle says the same).
        w.clock.t += 120
        late = _verified(w, ring, policy)
        page = parse(render(late, w.clock.t + 86_400))
        assert page.text_by_id["repair-status"].endswith("Promised for 2027-01-15: late.")
        assert "waiting for parts by Workshop (requested 2027-01-15, promised for " \
               "2027-01-15; late): Re-tip claws" in page.text_by_id["service"]
        assert [r.late for r in late.repairs] == [True]
    finally:
        w.ledger.close()
