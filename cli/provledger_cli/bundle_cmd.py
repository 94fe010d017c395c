"""Bundles: export an item for offline checking, write a trust policy, verify a bundle.

``verify`` is what a marketplace runs: it reads only the bundle, the policy
and (with --seen) the checkpoints it kept from earlier runs; it never opens
a ledger, and touches the network only to fetch a published bundle and
tiles with --from (spec/bundle.md, spec/tiles.md).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Final

import click

import provledger
from provledger import safe_text
from provledger._bundle import decode_bundle
from provledger._verdict import failed_document, verified_document
from provledger.verify import SeenCheckpoints

from ._common import (
    EXIT_VERIFICATION,
    Settings,
    emit,
    fail,
    json_option,
    pass_settings,
    rfc3339,
    unlock,
)
from ._params import TIME, field_paths
from ._render import history_lines

#: spec/bundle.md's 8 MiB limit; one byte more is read so the library can say "too large".
_MAX_BUNDLE_READ: Final = 8 * 1024 * 1024 + 1


def _write_new(path: Path, data: bytes, option: str) -> None:
    """Write ``data`` to a file that must not exist yet."""
    if path.exists():
        raise click.BadParameter(f"{path} already exists", param_hint=option)
    with path.open("xb") as f:
        f.write(data)


# -- export ---------------------------------------------------------------------


@click.command()
@click.argument("item")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The bundle file to write (must not exist).")
@click.option("--since", type=click.IntRange(min=1), multiple=True, metavar="SIZE",
              help="Tree size of an older checkpoint the verifier has seen; the bundle "
                   "then proves the latest checkpoint consistent with it (repeatable).")
@click.option("--checkpoint", "log_key", type=click.Path(dir_okay=False, path_type=Path),
              metavar="LOG_KEY", help="Sign a checkpoint of the whole log with this log key "
                                      "file first, so that the bundle covers every entry.")
@click.option("--disclose", "disclose", multiple=True, metavar="FIELD[,FIELD...]",
              callback=lambda _ctx, _param, value: field_paths(value, "--disclose",
                                                               allow_all=True),
              help="Put the clear text of these committed fields in the bundle, for whoever "
                   "receives it (repeatable, or comma-separated): inscription (the "
                   "engraving), notes (any event's notes), condition.notes (condition "
                   "reports at a sale or a workshop's intake), work (repair work), "
                   "performed_by (who did a repair), appraiser, reference (a police or "
                   "insurer reference), reason (why a certificate was renewed or revoked, "
                   "an escrow rejected or disputed, a plan or repair cancelled, a recovery "
                   "started); all: every one. Default: none, and the bundle still proves "
                   "the whole history, those texts withheld.")
@json_option
@pass_settings
def export(settings: Settings, *, item: str, out: Path, since: tuple[int, ...],
           log_key: Path | None, disclose: tuple[str, ...], as_json: bool) -> None:
    """Write ITEM's offline bundle: its history, the authorities it relies on,
    inclusion and head-map proofs, and the latest signed checkpoint.

    Anyone can then check the file with `provledger verify` and a trust
    policy, without this ledger. The bundle holds as of the latest checkpoint:
    entries after it are left out (a warning says how many), so run
    `provledger checkpoint` after the item's last entry, or pass --checkpoint.

    Free text (inscription, notes, repair work, ...) is committed on the
    ledger and carried only with --disclose: the verifier then shows it,
    checked against the signed commitment. Erased text (`provledger erase`)
    can no longer be disclosed.

    \b
    Examples:
      provledger --db rings.db export urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        -o R-1001.bundle
      provledger --db rings.db export urn:provledger:item:5d1c0a3e9b7f2468:R-1001 \\
        --disclose inscription,notes -o R-1001-for-the-buyer.bundle
    """
    with provledger.Ledger.open(settings.db, readonly=log_key is None) as ledger:
        ledger.item(item)  # NotFoundError naming the item, before anything else
        if log_key is not None:
            ledger.sign_checkpoint(unlock(log_key))  # as `provledger checkpoint` does
        first = ledger.history(item)[0].index
        signed = ledger.checkpoints()
        if not signed or signed[-1].size <= first:
            have = f"the latest checkpoint covers {signed[-1].size} entries" if signed else \
                "no checkpoint has been signed yet"
            raise provledger.NotFoundError(
                f"{item}: its certificate is log entry {first} but {have}; run "
                "`provledger checkpoint` first")
        data = ledger.export(item, since=since, disclose=_disclose_arg(disclose))
        checkpoint = signed[-1]
        uncovered = len(ledger) - checkpoint.size
    _write_new(out, data, "-o/--out")
    if uncovered:
        click.echo(f"warning: {uncovered} ledger entr{'y is' if uncovered == 1 else 'ies are'} "
                   f"newer than the latest checkpoint (size {checkpoint.size}) and not in the "
                   "bundle, which may then miss a recent event of the item; run `provledger "
                   "checkpoint` first, or export with --checkpoint LOG_KEY", err=True)
    carried = sum(len(e.disclosures) for e in decode_bundle(data).entries)
    emit(as_json, {"item": item, "file": str(out), "bytes": len(data),
                   "checkpoint": {"size": checkpoint.size, "time": rfc3339(checkpoint.time),
                                  "root": checkpoint.root.hex()},
                   "since": list(since), "disclose": list(disclose), "disclosures": carried},
         [f"wrote {out} ({len(data):,} bytes): {item} as of checkpoint size "
          f"{checkpoint.size}, signed {rfc3339(checkpoint.time)}",
          f"disclosed {carried} committed field(s) ({', '.join(disclose)})" if disclose else
          "no private text disclosed (committed fields are withheld; see --disclose)"])


def _disclose_arg(disclose: tuple[str, ...]) -> str | tuple[str, ...] | None:
    if not disclose:
        return None
    return "all" if disclose == ("all",) else disclose


# -- policy ---------------------------------------------------------------------


@click.command()
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the policy to this new file instead of stdout.")
@click.option("--max-age", type=click.IntRange(min=1), default=provledger.DEFAULT_MAX_AGE,
              show_default=True, help="Seconds a checkpoint stays fresh.")
@click.option("--log-url", metavar="URL",
              help="The log's URL, written on its log line (for monitors and submitters).")
@click.option("--witness", "witnesses", multiple=True, metavar="'NAME VKEY [URL]'",
              help="A witness, as the words of a tlog-policy witness line: its name in the "
                   "policy, its C2SP cosignature verifier key (type 0x04) and, optionally, "
                   "the URL `provledger checkpoint --policy` sends checkpoints to. A lone "
                   "VKEY names the witness by its key name. Repeatable.")
@click.option("--group", "groups", multiple=True, metavar="'NAME all|any|K MEMBER...'",
              help="A group of witnesses (or of earlier groups), as the words of a "
                   "tlog-policy group line: witnessed when all, any or K of its members "
                   "are. Repeatable.")
@click.option("--quorum", metavar="RULE",
              help="What a checkpoint needs: a witness or group name, `none`, or a number "
                   "K (K of all the listed witnesses).  [default: none]")
@pass_settings
def policy(settings: Settings, *, out: Path | None, max_age: int, log_url: str | None,
           witnesses: tuple[str, ...], groups: tuple[str, ...], quorum: str | None) -> None:
    """Write a trust policy for this ledger: its log key and root key, plus
    optional witnesses, groups, the witness quorum and a freshness limit
    (c2sp.org/tlog-policy syntax, spec/bundle.md section 4).

    Hand the policy to marketplaces with the bundles you export; they pass
    it to `provledger verify --policy`. A quorum should be a majority of
    independent witnesses, so that any two quorums share an honest one.

    \b
    Examples:
      provledger --db rings.db policy -o rings.policy --max-age 86400
      provledger --db rings.db policy -o rings.policy \\
        --witness "w1 w1.example/w+1c25f8a4+BA... https://w1.example/w" \\
        --witness "w2 w2.example/w+28c92a5a+BA..." \\
        --witness "w3 w3.example/w+f4855a0f+BA..." \\
        --group "majority 2 w1 w2 w3" --quorum majority
    """
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        trusted = ledger.trust_policy(max_age=max_age)
    # The options become policy lines, parsed as a verifier parses them; an
    # error names the option that wrote the line.
    lines = [(f"log {trusted.logs[0].vkey()}" + (f" {log_url}" if log_url else ""),
              "--log-url")]
    lines += [(f"root {provledger.format_public_key(r)}", "root") for r in trusted.roots]
    lines += [(f"witness {w}", f"--witness {w!r}") for w in witnesses]
    lines += [(f"group {g}", f"--group {g!r}") for g in groups]
    lines += [(f"quorum {quorum or 'none'}", f"--quorum {quorum or 'none'!r}"),
              (f"max-age {max_age}", "--max-age")]
    for line, option in lines:
        if "\n" in line or "\r" in line:
            raise click.BadParameter("must be one line", param_hint=option.split()[0])
    try:
        parsed = provledger.parse_policy("\n".join(line for line, _ in lines) + "\n")
    except provledger.DecodeError as exc:
        found = re.match(r"policy line (\d+): ", str(exc))
        if found is None:
            raise
        option = lines[int(found.group(1)) - 1][1]
        raise provledger.DecodeError(f"{option}: {str(exc)[found.end():]}") from None
    if witnesses and quorum is None:
        click.echo("note: witnesses are listed but none is required (quorum none); give "
                   "--quorum to make verifiers demand cosignatures", err=True)
    elif parsed.requires_witnesses and parsed.quorum_overlap() == 0:
        click.echo("warning: two sets of witnesses that share none can each meet this "
                   "quorum, so it gives no split-view protection and `verify --seen` will "
                   "not accept newer bundles on its strength; require a majority",
                   err=True)
    text = parsed.to_text()
    if out is None:
        click.echo(text, nl=False)
        return
    _write_new(out, text.encode(), "-o/--out")
    click.echo(f"wrote {out}", err=True)


# -- verify ---------------------------------------------------------------------


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.argument("target", metavar="FILE|ITEM")
@click.option("--from", "source", metavar="URL|DIR",
              help="Fetch ITEM's bundle from this publish directory, or the http(s) URL of "
                   "one or of `provledger serve`, instead of reading FILE (--item is then "
                   "ITEM). With --seen, a bundle lacking a consistency proof from the "
                   "checkpoint seen gets one built from the log's tiles there.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="With --from: seconds each HTTP request may take.")
@click.option("--policy", "policy_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The trust policy: trusted logs, issuer roots, witnesses, max age.")
@click.option("--at", type=TIME, metavar="TIME",
              help="Verify as of this time (RFC 3339 or unix seconds) instead of now.")
@click.option("--max-age", type=click.IntRange(min=1),
              help="Seconds a checkpoint stays fresh [default: the policy's].")
@click.option("--seen", "seen_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory of the newest checkpoint seen per log: the bundle must not "
                   "be older, and must prove it consistent or (under a policy requiring a "
                   "witness quorum) carry the quorum as that checkpoint did; a newer one is "
                   "stored there, with its cosignatures.")
@click.option("--item", "item_id", metavar="ID",
              help="The id of the piece in front of you (its QR code or tag; any spelling "
                   "of it): fail unless the bundle is about exactly that item. A "
                   "marketplace should always give it.")
@json_option
def verify(*, target: str, source: str | None, timeout: float, policy_file: Path,
           at: int | None, max_age: int | None, seen_dir: Path | None, item_id: str | None,
           as_json: bool) -> None:
    """Verify a bundle offline: checkpoint and its witness quorum, proofs,
    signatures, complete history and the ledger's rules. Exits 0 with a report
    (which names the witnesses that vouched), or 1 naming the first failure.

    Needs no ledger, and without --from never uses the network. Without
    --item it proves only that the bundle is about some genuine item, not
    the one you hold: a genuine bundle of another piece verifies too (a
    warning says so).

    Committed text (inscription, notes, repair work, ...) is shown only when
    the bundle discloses it (`export --disclose`), each disclosure checked
    against the hash its statement's signature covers; each event says how
    many of its fields stay private. A disclosure that matches nothing fails
    the bundle (DisclosureError).

    With --from URL|DIR the argument is the item: its bundle is fetched from
    the published log (spec/tiles.md) and verified exactly as offline. A
    bundle or tile that is not there exits 6, an unreachable source 5.

    \b
    Examples:
      provledger verify R-1001.bundle --policy rings.policy --seen ~/.provledger-seen \\
        --item https://maison-rose.example/01/09506000134352/21/R-1001
      provledger verify --from https://ledger.maison-rose.example/rings/ \\
        https://maison-rose.example/01/09506000134352/21/R-1001 \\
        --policy rings.policy --seen ~/.provledger-seen
    """
    now = int(time.time()) if at is None else at
    if item_id is not None:
        item_id = _item_option(item_id, "--item")
    if source is not None:
        wanted = _item_option(target, "ITEM")
        if item_id is not None and item_id != wanted:
            raise click.UsageError(f"--item {item_id} is not ITEM {wanted}")
        item_id = wanted
    trust = provledger.read_policy(policy_file)
    kept = None if seen_dir is None else SeenCheckpoints(seen_dir)
    where = target if source is None else f"{source} ({target})"
    try:
        if source is None:
            with _FILE.convert(target, None, None).open("rb") as f:
                data = f.read(_MAX_BUNDLE_READ)
            seen = () if kept is None else kept.notes(_origin(trust, data))
            report = provledger.verify_bundle(data, policy=trust, now=now, max_age=max_age,
                                              seen=seen, item=item_id)
        else:
            report = _verify_from(source, str(item_id), trust=trust, now=now, max_age=max_age,
                                  kept=kept, timeout=timeout)
    except (provledger.NotFoundError, provledger.StorageError):
        raise  # nothing to verify: not a verdict on a bundle
    except provledger.ProvLedgerError as exc:
        if as_json:
            emit(True, failed_document(exc, item_given=item_id is not None), ())
        fail(f"{where}: {type(exc).__name__}: {exc}", EXIT_VERIFICATION)
    assert report.checkpoint is not None  # a bundle's history always holds as of one
    if kept is not None:
        kept.remember(report.checkpoint)
    document = verified_document(report, now=now, item_given=item_id is not None)
    emit(as_json, document, ["VERIFIED", *history_lines(report, now=now)])
    if item_id is None:
        click.echo(f"warning: no --item given: nothing checked that "
                   f"{safe_text(report.item)} is the piece in front of you", err=True)


def _item_option(text: str, hint: str) -> str:
    try:
        return provledger.canonical_item_id(text)
    except provledger.ItemIdError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _verify_from(source: str, item: str, *, trust: provledger.Policy, now: int,
                 max_age: int | None, kept: SeenCheckpoints | None,
                 timeout: float) -> provledger.History:
    """``item``'s bundle fetched from ``source`` and verified; a consistency
    proof built from the tiles there is said on stderr."""
    from provledger._tile_client import TileReader, verify_fetched

    reader = TileReader(source, timeout=timeout)
    data = reader.bundle(item)
    seen = () if kept is None else kept.notes(_origin(trust, data))
    result = verify_fetched(reader, data, item=item, policy=trust, now=now, max_age=max_age,
                            seen=seen)
    for size in result.from_tiles:
        click.echo(f"note: consistency with the checkpoint seen (size {size}) was proven "
                   f"from the log's tiles at {source}", err=True)
    return result.history


def _origin(trust: provledger.Policy, data: bytes) -> str:
    """The log the bundle claims to come from (unverified: it only picks a seen file)."""
    if len(trust.logs) == 1:
        return trust.logs[0].name
    import cbor2

    try:
        unverified = cbor2.loads(data)
    except Exception:  # any garbage: verify_bundle will name the fault
        return ""
    origin = unverified.get("origin") if isinstance(unverified, dict) else None
    return origin if isinstance(origin, str) else ""
