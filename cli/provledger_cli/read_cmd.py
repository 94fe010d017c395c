"""Reading: an item's verified history, and a full audit of the ledger."""

from __future__ import annotations

import os
from typing import Any, Final

import click

import provledger
from provledger import safe_text

from ._common import Settings, emit, fmt_key, json_option, pass_settings, rfc3339
from ._progress import progress_bar, quiet_option

#: Event fields worth a glance on a history line, in the order shown.
_SUMMARY_FIELDS: Final = (
    "kind", "serial", "capacity", "category", "work", "performed_by", "value_minor",
    "currency", "method", "appraiser", "reason", "reference",
)
_MAX_VALUE_CHARS: Final = 60


@click.command()
@click.argument("item")
@json_option
@pass_settings
def history(settings: Settings, *, item: str, as_json: bool) -> None:
    """Show ITEM's certificate, status and every event, signatures verified.

    Entries signed by a key after its compromise cut-off, or resting on such
    an entry, are marked INVALIDATED with the reason and left out of the
    status and owner shown. --json prints the full report, every field
    included.

    \b
    Example:
      provledger history urn:provledger:item:5d1c0a3e9b7f2468:R-1001
      provledger history --json https://maison-rose.example/01/09506000134352/21/R-1001
    """
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        report = provledger.item_report(ledger, item)
    if as_json:
        emit(True, report.to_json(), [])
        return
    state = report.state
    # Names and fields are their signers' text: everything shown goes through safe_text.
    attested = [f"{safe_text(e.signed_as) or fmt_key(e.signer)} as "
                f"{safe_text(str(e.fields.get('capacity', '?')))}"
                + (" (INVALIDATED)" if e.invalidated else "")
                for e in report.events if e.type == "cert.attested"]
    lines = [
        f"item         {safe_text(report.item)}",
        f"status       {state.status}",
        f"owner        {fmt_key(state.owner)}",
        f"issuer       {safe_text(report.issuer_name) or '?'} ({safe_text(state.issuer)})",
        f"attested by  {', '.join(attested) or '-'}",
        f"certificate  {state.certificate.hex()}"
        + ("  UNCONFIRMED: signed after its key's compromise cut-off; the issuer has not "
           "reaffirmed it" if report.unconfirmed else ""),
        "",
    ]
    for e in report.events:
        signer = safe_text(e.signed_as) or fmt_key(e.signer)
        line = f"{e.index:>6}  {rfc3339(e.time)}  {e.type:<18}  by {signer}"
        summary = _summary(e.fields)
        if summary:
            line += f"  {summary}"
        if e.invalidated:
            line += f"  INVALIDATED ({e.invalid_reason})"
        lines.append(line)
    emit(False, {}, lines)


def _summary(fields: dict[str, Any]) -> str:
    parts = []
    for name in _SUMMARY_FIELDS:
        value = fields.get(name)
        if value is None or value == "":
            continue
        text = str(value)
        if len(text) > _MAX_VALUE_CHARS:
            text = text[: _MAX_VALUE_CHARS - 1] + "…"
        text = safe_text(text)
        if isinstance(value, str) and (" " in text or not text):
            # safe_text doubled every backslash, so \" cannot be mistaken for one.
            text = '"' + text.replace('"', '\\"') + '"'
        parts.append(f"{name}={text}")
    return " ".join(parts)


@click.command()
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Check signatures in this many worker processes while this one replays "
                   "the rules; 1 does everything in one process.  [default: one per core]")
@quiet_option
@json_option
@pass_settings
def audit(settings: Settings, *, workers: int | None, quiet: bool, as_json: bool) -> None:
    """Re-verify the whole ledger: every signature, chain link, rule and stored state.

    Exits 1 naming the first entry that does not check out. Entries signed
    by keys after their compromise cut-off, and item entries resting on
    them, are listed with the reason; they do not fail the audit. On a
    terminal, progress bars show each stage on stderr (--quiet: none);
    Ctrl-C stops it with exit 130.

    \b
    Example:
      provledger --db rings.db audit --workers 4
    """
    with (provledger.Ledger.open(settings.db, readonly=True) as ledger,
          progress_bar(quiet=quiet) as progress):
        if progress is not None:
            click.echo(f"auditing {len(ledger)} entries of {settings.db} ...", err=True)
        try:
            result = ledger.audit(workers=workers or os.cpu_count() or 1, progress=progress)
        except KeyboardInterrupt:
            raise click.Abort("audit not finished") from None
    emit(as_json, {
        "ok": True,
        "size": result.size,
        "subjects": result.subjects,
        "invalidated": [
            {"index": i.index, "subject": i.subject, "signer": fmt_key(i.signer),
             "reason": i.reason}
            for i in result.invalidated
        ],
    }, [f"audit ok: {result.size} entries, {result.subjects} subjects, "
        f"{len(result.invalidated)} invalidated, {result.checkpoints} checkpoints",
        *(f"invalidated: {i}" for i in result.invalidated)])
