"""The status page a QR code opens: one item's verified history as one HTML page.

Written for a customer on a phone: the verdict first, in words and colour,
then what was checked and against which checkpoint, the certificate, its
attestations, its care plan (credits left), the service record (the open
repair's status, and whether it is late) and how many times the piece changed
hands.
The page is self-contained (inline CSS, no script, no external asset), so a
static host serves it as it is, and its Content-Security-Policy forbids
scripts should anything ever slip through.

Nothing personal is shown: no public key (owners, signers, witnesses are
known to the ledger only by keys), no price or appraised value, no
free-form notes or inscription, and no committed field (spec/disclosure.md),
even one the history holds a disclosure of: the page is public, a disclosure
is the owner's to share. That some are private is said once, never which or
how many. Every text a signer chose goes through safe_text (control and
bidi characters shown as escapes) and is then HTML-escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._display import safe_text
from ._events import CertificateIssued
from ._history import EventView
from ._keys import format_public_key
from ._model import CheckpointInfo, EscrowView, History, PlanView, RepairView
from ._statement import AUTHORITY_PREFIX
from ._time import check_now, rfc3339

_CSS: Final = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:#f4f4f2;color:#1b1b1b;
font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:40rem;margin:0 auto;padding:0 0 2rem}
.verdict{color:#fff;padding:1.25rem 1rem 1.1rem}
.mark{font-size:2.6rem;line-height:1;margin:0}
h1{font-size:2.4rem;line-height:1.1;margin:.3rem 0 .5rem;letter-spacing:.02em}
.lead{font-size:1.15rem;font-weight:600;margin:.25rem 0}
.asof{margin:.5rem 0 0;font-size:.95rem}
.v-ok{background:#0b6b2f}
.v-stolen{background:#b00020}
.v-revoked{background:#6a1020}
.v-lost{background:#8a3b00}
.v-escrow{background:#0b4f8a}
.v-caution{background:#5b4200}
section{background:#fff;margin:.75rem .5rem;padding:.25rem 1rem .75rem;border-radius:.5rem;
border:1px solid #dcdcd6}
h2{font-size:1.15rem;margin:.75rem 0 .4rem}
dl{margin:0;display:grid;grid-template-columns:minmax(5.5rem,auto) 1fr;gap:.2rem .75rem}
dt{color:#555}
dd{margin:0}
ul{margin:.25rem 0;padding-left:1.2rem}
li{margin:.2rem 0}
p{margin:.4rem 0}
h1,h2,p,dd,dt,li,code,summary{overflow-wrap:anywhere;word-break:break-word}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
.lines{white-space:pre-line}
.nw{white-space:nowrap}
.warn{border-color:#c98a00;background:#fff8e6}
.alert{border-color:#b00020;background:#fdecee}
.button{display:inline-block;background:#1b1b1b;color:#fff;padding:.7rem 1.1rem;
border-radius:.4rem;text-decoration:none;font-weight:600}
.muted{color:#555;font-size:.9rem}
footer{margin:1rem;color:#555;font-size:.85rem}
"""
#: The style element is allowed by its hash: the policy needs no 'unsafe-inline'.
_CSP: Final = ("default-src 'none'; img-src data:; base-uri 'none'; form-action 'none'; "
               "style-src 'sha256-"
               + base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode() + "'")

#: status -> (css class, mark, headline, lead)
_VERDICTS: Final[Mapping[str, tuple[str, str, str, str]]] = {
    "active": ("v-ok", "\u2713", "VERIFIED",
               "Genuine certificate. Not reported stolen or lost."),
    "stolen": ("v-stolen", "\u2715", "REPORTED STOLEN",
               "Do not buy or accept this piece."),
    "lost": ("v-lost", "!", "REPORTED LOST",
             "Its owner reported this piece lost."),
    "revoked": ("v-revoked", "\u2715", "CERTIFICATE REVOKED",
                "The issuer withdrew this certificate. It no longer vouches for the piece."),
    "in escrow": ("v-escrow", "\u21c4", "IN ESCROW",
                  "Genuine certificate, but the piece is being sold: "
                  "an escrow holds it until the sale completes."),
}
_UNCONFIRMED: Final = ("v-caution", "!", "NOT CONFIRMED",
                       "Its certificate was signed with a key after that key's compromise "
                       "and the issuer has not confirmed it again.")
#: The parts a key with no authority name plays (EventView.signed_as).
_PARTIES: Final = {"owner": "its owner", "seller": "the seller", "buyer": "the buyer",
                   "arbiter": "the arbiter"}
#: A repair's status in words (RepairState.status).
_REPAIR_STATES: Final = {"requested": "requested", "received": "at the workshop",
                         "in_progress": "in progress", "waiting_parts": "waiting for parts",
                         "ready": "ready for collection", "collected": "collected",
                         "cancelled": "cancelled"}
#: A plan's status in words (PlanState.status_at).
_PLAN_STATES: Final = {"active": "active", "pending": "not started yet", "expired": "expired",
                       "cancelled": "cancelled by the provider",
                       "ended": "ended when the piece changed hands"}
#: ISO 4217 currencies without minor units; the rest are shown with two decimals.
_NO_DECIMALS: Final = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
                                 "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})
_ESCROW_STATES: Final = {"offered": "offered to a buyer, not yet accepted",
                         "accepted": "with the buyer for inspection",
                         "disputed": "disputed, awaiting a decision"}


def render_status_page(history: History, *, bundle_href: str, now: int) -> str:
    """The status page of ``history`` as one self-contained HTML5 document.

    ``bundle_href`` is where the item's bundle downloads from (a relative
    reference such as ``bundle.cbor``, or an http(s) URL); ``now`` (Unix
    seconds) is when the page is made: the checkpoint's age is stated
    relative to it. The same arguments always give the same page.

    Raises:
        TimeRangeError: ``now`` is not an int in 0..2**40.
        ValueError: ``bundle_href`` has a scheme other than http or https.
    """
    now = check_now(now)
    if urllib.parse.urlsplit(bundle_href).scheme.lower() not in ("", "http", "https"):
        raise ValueError(f"bundle_href must be relative or http(s), not {bundle_href[:100]!r}")
    live = [e for e in history.events if not e.invalidated]
    # The certificate shows even when invalidated: the verdict then says so.
    issued = next((e for e in history.events if e.type == CertificateIssued.TYPE), None)
    cert: Mapping[str, Any] = issued.fields if issued is not None else {}
    css, mark, headline, lead = _verdict(history)
    title = " ".join(str(cert[k]) for k in ("kind", "serial") if cert.get(k))
    dash = " \u2013 "
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        # A page per piece: nothing a search engine should list.
        '<meta name="robots" content="noindex">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{headline}{_e(dash + title) if title else ''}</title>",
        '<link rel="icon" href="data:,">',
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f'<header class="verdict {css}" id="verdict">',
        f'<p class="mark" aria-hidden="true">{mark}</p>',
        f'<h1 id="verdict-title">{headline}</h1>',
        f'<p class="lead" id="verdict-lead">{lead}</p>',
        *_status_detail(history, live),
        f'<p class="asof">{_as_of(history.checkpoint, now)}</p>',
        "</header>",
        *_piece(history, issued, live),
        *_checked(history, now),
        *_warnings(history),
        *_attestations(history, live),
        *_reports(live),
        *_plans(history),
        *_service(history, live),
        *_appraisals(live),
        *_ownership(history),
        *_verify_it(history, bundle_href),
        *_footer(history, now),
        "</main>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


# -- text ----------------------------------------------------------------------


def _t(value: Any) -> str:
    """A value from a statement as display text (control and bidi characters escaped)."""
    return safe_text(value if isinstance(value, str) else str(value))


def _e(value: Any) -> str:
    """A value from a statement as HTML text."""
    return html.escape(_t(value), quote=True)


def _lines(value: Any) -> str:
    """Multi-line text: each line made safe, kept as lines (CSS pre-line shows them)."""
    text = value if isinstance(value, str) else str(value)
    return '<span class="lines">' + "\n".join(_e(line) for line in text.split("\n")) + "</span>"


def _date(t: int) -> str:
    date, _, clock = rfc3339(t).partition("T")
    return f'<span class="nw">{date} {clock[:5]} UTC</span>'


def _day(t: int) -> str:
    return f'<span class="nw">{rfc3339(t).partition("T")[0]}</span>'


def _span(seconds: int) -> str:
    """A duration in the largest unit that fits, rounded down."""
    for unit, size, below in (("minute", 60, 3600), ("hour", 3600, 2 * 86400),
                              ("day", 86400, 60 * 86400), ("month", 30 * 86400, 730 * 86400)):
        if seconds < below:
            n = seconds // size
            return "less than a minute" if n == 0 else f"{n} {unit}{'s' if n != 1 else ''}"
    n = seconds // (365 * 86400)
    return f"{n} years"


def _who(name: str, fallback: str = "an unnamed signer") -> str:
    """A signer's name as HTML: an authority's name, or its part in the item
    (EventView.signed_as); never a chain id (it holds a public key)."""
    if not name or name.startswith(AUTHORITY_PREFIX):
        return fallback
    return _PARTIES.get(name) or _e(name)


def _dl(rows: Iterable[tuple[str, str]]) -> list[str]:
    """A definition list of (label, HTML value) rows; empty values left out."""
    shown = [f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows if value]
    return ["<dl>", *shown, "</dl>"] if shown else []


def _section(ident: str, heading: str, body: list[str], css: str = "") -> list[str]:
    cls = f' class="{css}"' if css else ""
    return [f'<section id="{ident}"{cls}>', f"<h2>{heading}</h2>", *body, "</section>"]


# -- the verdict ---------------------------------------------------------------


def _verdict(history: History) -> tuple[str, str, str, str]:
    if not history.certificate_confirmed and history.status in ("active", "in escrow"):
        return _UNCONFIRMED
    found = _VERDICTS.get(history.status)
    if found is not None:
        return found
    return ("v-caution", "?", _e(history.status.upper()) or "UNKNOWN",
            "A status this page does not know: check the bundle with provledger verify.")


def _public(e: EventView | None, name: str) -> Any:
    """A field of ``e`` as the page may show it: "" for one shown only from a
    disclosure (the page shows what the signed statement itself holds)."""
    if e is None or name in e.disclosed:
        return ""
    return e.fields.get(name, "")


def _last(events: list[EventView], *types: str) -> EventView | None:
    return next((e for e in reversed(events) if e.type in types), None)


def _status_detail(history: History, live: list[EventView]) -> list[str]:
    """When and by whom the status was set, for every status but active."""
    status = history.status
    if status == "stolen" and (e := _last(live, "stolen.reported")):
        ref = _public(e, "reference")
        return [f'<p id="verdict-detail">Reported stolen on {_day(e.time)} by '
                f"{_who(e.signed_as)}." + (f" Reference: {_e(ref)}." if ref else "")
                + " If it is offered to you, contact the police or the issuer.</p>"]
    if status == "lost" and (e := _last(live, "lost.reported")):
        return [f'<p id="verdict-detail">Reported lost on {_day(e.time)}.</p>']
    if status == "revoked" and (e := _last(live, "cert.revoked")):
        reason = _public(e, "reason")
        return [f'<p id="verdict-detail">Revoked on {_day(e.time)} by '
                f"{_who(e.signed_as)}" + (f": {_e(reason)}" if reason else ".") + "</p>"]
    if status == "in escrow" and history.escrows:
        view = history.escrows[-1]
        opened = next((e.time for e in live if e.index == view.index), None)
        since = f" since {_day(opened)}" if opened is not None else ""
        state = _ESCROW_STATES.get(view.state, _e(view.state))
        going = [p for p in history.plans if p.id in view.offer.terms.plans]
        plans = "".join(f" The {_e(p.plan.tier)} care plan goes with the piece." for p in going)
        return [f'<p id="verdict-detail">In escrow{since}: {state}.{plans}</p>']
    return []


def _as_of(cp: CheckpointInfo | None, now: int) -> str:
    if cp is None:
        return (f"Read from the ledger itself, not from a published checkpoint; "
                f"page made {_date(now)}.")
    age = now - cp.time
    when = ("when this page was made" if age == 0 else
            f"{_span(age)} before this page was made" if age > 0 else
            f"{_span(-age)} after this page's clock")
    return f"Checked against the public log as of {_date(cp.time)} ({when})."


# -- sections ------------------------------------------------------------------


def _piece(history: History, issued: EventView | None, live: list[EventView]) -> list[str]:
    cert: Mapping[str, Any] = issued.fields if issued is not None else {}
    renewed = [e for e in live if e.type in ("cert.renewed", "cert.reaffirmed")]
    metal = _e(cert.get("metal", ""))
    if cert.get("fineness"):
        metal = f"{metal}, {int(cert['fineness'])}/1000" if metal else \
            f"fineness {int(cert['fineness'])}/1000"
    dims = cert.get("dimensions") or {}
    rows = [
        ("Piece", _e(cert.get("kind", ""))),
        ("Serial", _e(cert.get("serial", ""))),
        ("GTIN", _e(cert.get("gtin", ""))),
        ("Metal", metal),
        ("Mass", f"{int(cert['mass_mg']) / 1000:g} g" if cert.get("mass_mg") else ""),
        ("Size", _e(cert.get("size", ""))),
        ("Dimensions", " \u00d7 ".join(f"{int(dims.get(k, 0)) / 1000:g}" for k in
                                        ("width_um", "height_um", "length_um")) + " mm"
         if dims else ""),
        ("Stones", _stones(cert.get("stones") or [])),
        ("Certified by", _who(history.issuer_name, "an unnamed issuer")),
        ("Certified on", _day(issued.time) if issued else ""),
        ("Renewed", "; ".join(f"{_day(e.time)}" + (f" ({_e(_public(e, 'reason'))})"
                                                   if _public(e, "reason") else "")
                              for e in renewed)),
        ("Item", f"<code>{_e(history.item)}</code>"),
    ]
    return _section("piece", "The piece", [*_dl(rows), *_private(history)])


def _private(history: History) -> list[str]:
    """One sentence when any text of the history is private (committed),
    naming neither the fields nor how many: that alone could tell what a
    piece's history holds."""
    if not any(e.withheld or e.disclosed for e in history.events):
        return []
    return ['<p class="muted" id="private">Some details of this piece\'s history are '
            "private. Its owner can share them in a bundle, which provledger verify checks "
            "against the signed record.</p>"]


def _stones(stones: list[Any]) -> str:
    items = []
    for s in stones:
        if not isinstance(s, Mapping):
            continue
        words = [_e(s[k]) for k in ("kind", "cut", "color", "clarity") if s.get(k)]
        if s.get("weight_ct100"):
            words.append(f"{int(s['weight_ct100']) / 100:.2f} ct")
        if s.get("report"):
            words.append(f"report {_e(s['report'])}")
        items.append(f"{int(s.get('count', 1))} \u00d7 {', '.join(words)}")
    return "<br>".join(items)


def _checked(history: History, now: int) -> list[str]:
    cp = history.checkpoint
    if cp is None:
        return _section("checked", "What was checked", [
            "<p>Every signature and rule of this piece's history, read from the ledger "
            "itself. No published checkpoint is involved: download the bundle to check "
            "it against one.</p>"])
    witnesses = (", ".join(f"{_who(w.name, 'an unnamed witness')} ({_date(w.time)})"
                           for w in cp.witnesses)
                 if cp.witnesses else "none: no independent witness cosigned this checkpoint")
    body = [
        "<p>The certificate and every later entry about this piece are signed by "
        "authorised parties, follow the ledger's rules, and are included in the public "
        "log below.</p>",
        *_dl([("Log", f"<code>{_e(cp.origin)}</code>"),
              ("Checkpoint", f"{cp.size} entries, signed {_date(cp.time)}"),
              ("Age", f"{_span(max(now - cp.time, 0))} when this page was made"),
              ("Witnesses", witnesses)]),
    ]
    return _section("checked", "What was checked", body)


def _warnings(history: History) -> list[str]:
    if not history.warnings:
        return []
    return _section("warnings", "Warnings",
                    ["<ul>", *(f"<li>{_e(w)}</li>" for w in history.warnings), "</ul>"], "warn")


def _attestations(history: History, live: list[EventView]) -> list[str]:
    """The authorities the item's state counts as attesters, with their entry's
    capacity and date (as the CLI's history shows them)."""
    if not history.attested_by:
        return []
    items = []
    for name in history.attested_by:
        e = next((e for e in live if e.type == "cert.attested" and e.signed_as == name), None)
        how = "" if e is None else \
            f", as {_e(e.fields.get('capacity', ''))}, on {_day(e.time)}"
        items.append(f"<li>{_who(name, 'an unnamed authority')}{how}</li>")
    return _section("attestations", "Inspected and attested by", ["<ul>", *items, "</ul>"])


def _reports(live: list[EventView]) -> list[str]:
    """Loss, theft and recovery reports: a buyer wants the past ones too."""
    names = {"lost.reported": "Reported lost", "stolen.reported": "Reported stolen",
             "recovered": "Recovered"}
    found = [e for e in live if e.type in names]
    if not found:
        return []
    items = [f"<li>{names[e.type]} on {_day(e.time)}</li>" for e in found]
    return _section("reports", "Loss and theft reports", ["<ul>", *items, "</ul>"], "alert")


def _money(minor: int, currency: str) -> str:
    if currency.upper() in _NO_DECIMALS:
        return f"{minor:,} {_e(currency)}"
    return f"{minor // 100:,}.{minor % 100:02d} {_e(currency)}"


def _plans(history: History) -> list[str]:
    """Care plans: tier, provider, where each stands and the credits left (as of
    the history's reference time), whether it goes with the piece on a sale."""
    if not history.plans:
        return []
    items = [_plan(view) for view in history.plans]
    return _section("care", "Care plan" + ("s" if len(items) > 1 else ""),
                    ["<ul>", *items, "</ul>"])


def _plan(view: PlanView) -> str:
    p = view.plan
    status = _PLAN_STATES.get(view.status, _e(view.status))
    words = [f"<strong>{_e(p.tier)}</strong> by {_who(view.provider_name, 'an unnamed jeweler')}"
             f", {status}"]
    if view.status in ("active", "pending"):
        words.append(f"until {_day(p.ends)}")
        left = [f"{view.credits} repair credit{'s' if view.credits != 1 else ''}"]
        if p.currency:
            left.append(_money(view.credit_minor, p.currency))
        words.append(f"credits left: {' and '.join(left)}")
        words.append("goes with the piece if it is sold" if p.transfer == "with_piece"
                     else "ends if the piece is sold")
    elif view.status == "expired":
        words.append(f"on {_day(p.ends)}")
    services = "; ".join(_e(s) for s in view.services)
    return (f'<li class="plan">{"; ".join(words)}.'
            + (f" Includes: {services}." if services else "") + "</li>")


def _service(history: History, live: list[EventView]) -> list[str]:
    """Every repair, oldest first, the open one's status and turnaround
    against its promise first of all."""
    if not history.repairs:
        return _section("service", "Repairs and services", ["<p>None recorded.</p>"])
    body = []
    current = next((r for r in reversed(history.repairs) if r.repair.open), None)
    if current is not None:
        r = current.repair
        late = ""
        if r.promised:
            late = (f" Promised for {_day(r.promised)}: "
                    + ("<strong>late</strong>." if current.late else "on time."))
        body.append(f'<p id="repair-status">Now: {_e(current.category)}, '
                    f"{_REPAIR_STATES.get(r.status, _e(r.status))}.{late}</p>")
    by_index = {e.index: e for e in live}
    tiers = {p.id: p.plan.tier for p in history.plans}
    items = [_repair(view, by_index.get(view.index), tiers) for view in history.repairs]
    return _section("service", "Repairs and services", [*body, "<ul>", *items, "</ul>"])


def _repair(view: RepairView, opened: EventView | None, tiers: Mapping[bytes, str]) -> str:
    r = view.repair
    fields: Mapping[str, Any] = opened.fields if opened is not None else {}
    if view.one_step:
        # Recorded repairs are completed ones, by the business the record names.
        done = fields.get("completed")
        when = f" on {_day(done)}" if isinstance(done, int) and done else ""
        who = str(_public(opened, "performed_by")) or view.workshop_name
        head = f"completed{when} by {_who(who, 'an unnamed workshop')}"
    else:
        head = _REPAIR_STATES.get(r.status, _e(r.status))
        if view.workshop_name:
            head += f" by {_who(view.workshop_name)}"
        dates = [f"requested {_day(r.requested)}"] if r.requested else []
        if r.promised:
            dates.append(f"promised for {_day(r.promised)}")
        if r.ready:
            dates.append(f"ready {_day(r.ready)}")
        if dates:
            head += f" ({', '.join(dates)}" + ("; late" if view.late else "") + ")"
    paid = "" if r.paid_by is None else (
        f"; paid from the {_e(tiers[r.paid_by])} care plan" if r.paid_by in tiers
        else "; paid from a care plan")
    work = "" if opened is not None and "work" in opened.disclosed else view.work
    return (f"<li><strong>{_e(view.category)}</strong>, {head}{paid}"
            + (f": {_lines(work)}" if work else "") + "</li>")


def _appraisals(live: list[EventView]) -> list[str]:
    found = [e for e in live if e.type == "appraisal.recorded"]
    if not found:
        return []
    latest = found[-1]
    method = _e(str(latest.fields.get("method", "")).replace("_", " "))
    count = f"{len(found)} appraisal{'s' if len(found) != 1 else ''}"
    return _section("appraisals", "Appraisals", [
        f"<p>{count} recorded; the latest on {_day(latest.time)}"
        + (f" ({method})" if method else "") + ". Values are in the bundle.</p>"])


def _ownership(history: History) -> list[str]:
    changes = _ownership_changes(history.escrows)
    text = ("No change of ownership recorded since certification." if changes == 0 else
            f"Changed hands {changes} time{'s' if changes != 1 else ''} since certification.")
    return _section("ownership", "Ownership", [
        f'<p id="ownership-changes">{text}</p>',
        *_recoveries(history),
        '<p class="muted">Owners are not shown: the ledger knows them only by '
        "pseudonymous keys.</p>"])


def _recoveries(history: History) -> list[str]:
    """Owner-key recoveries (spec/recovery.md): a pending one first and loudly, so
    a buyer is never surprised and an owner sees an attempt it did not ask for."""
    lines = []
    pending = history.pending_recovery
    if pending is not None and history.status != "revoked":
        r = pending.recovery
        started = next((e for e in history.events if e.index == pending.index), None)
        reason = "" if started is not None and "reason" in started.disclosed else pending.reason
        lines.append(
            f'<p class="warn" id="recovery-pending"><strong>Owner key recovery pending.</strong> '
            f"From {_date(r.effective)} the key <code>{_e(format_public_key(r.new_owner)[:20])}"
            f"\u2026</code> owns this piece, unless the owner's current key cancels it first. "
            f"Started by {_who(pending.by_name)} on {_date(r.started)}"
            + (f": {_e(reason)}." if reason else ".") + "</p>")
    done = [v for v in history.recoveries if v.recovery.state == "completed"]
    if done:
        when = ", ".join(_date(v.recovery.effective) for v in done)
        lines.append(f'<p id="recoveries">Owner key recovered after a lost key: {when}.</p>')
    return lines


def _ownership_changes(escrows: Iterable[EscrowView]) -> int:
    """Ownership moves only through an escrow that completes (spec/escrow.md)."""
    return sum(1 for e in escrows if e.escrow.state == "completed")


def _verify_it(history: History, bundle_href: str) -> list[str]:
    href = html.escape(bundle_href, quote=True)
    return _section("verify", "Check it yourself", [
        f'<p><a class="button" id="bundle" href="{href}" download>'
        "Download the proof bundle</a></p>",
        "<p>The bundle holds every signed entry and proof behind this page. Verify it "
        "offline, without trusting this website, with "
        "<code>pip install provledger</code> then</p>",
        f"<p><code>provledger verify bundle.cbor --policy YOUR.policy --item "
        f"'{_e(history.item)}'</code></p>"])


def _footer(history: History, now: int) -> list[str]:
    cp = history.checkpoint
    rows = [("Certificate", f"<code>{history.certificate.hex()}</code>")]
    if cp is not None:
        rows.append(("Tree root", f"<code>{cp.root.hex()}</code>"))
    return ["<footer>",
            f"<p>Page made {_date(now)} by provledger.</p>",
            "<details><summary>Technical details</summary>", *_dl(rows), "</details>",
            "</footer>"]
