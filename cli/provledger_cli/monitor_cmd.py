"""Monitoring: replay a log from a ledger file, or from its published tiles,
and check everything it signed.

A marketplace or consortium runs ``monitor`` on a backup the log publishes,
or on its tlog-tiles (``--tiles``); it pins the log key and root from its own
trust policy (or the options), so the source's own claims decide nothing
(spec/log.md, "Monitors").
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

import provledger
from provledger._errors import MonitorError
from provledger._monitor import (
    LogSource,
    MonitorReport,
    monitor as replay_log,
    open_backup,
    open_tiles,
)
from provledger._note import SIG_ED25519, NoteVerifier, parse_vkey

from ._common import EXIT_VERIFICATION, emit, fail, json_option, rfc3339
from ._progress import progress_bar, quiet_option


@click.command()
@click.argument("backup", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tiles", metavar="DIR|URL",
              help="Replay a published log instead of a BACKUP file: a `provledger publish` "
                   "directory, or the http(s) URL of one or of `provledger serve`.")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False,
                                                         path_type=Path),
              help="Trust policy naming the log key, the root key and any witnesses.")
@click.option("--log-vkey", metavar="VKEY",
              help="The log's C2SP verifier key (`provledger log vkey`), instead of a policy.")
@click.option("--root", "root_text", metavar="KEY",
              help="With --log-vkey: the ledger's root key (ed25519:...). Without it the "
                   "root the file names is used, and the report says it was not pinned.")
@quiet_option
@json_option
def monitor(*, backup: Path | None, tiles: str | None, policy_file: Path | None,
            log_vkey: str | None, root_text: str | None, quiet: bool, as_json: bool) -> None:
    """Replay the log in BACKUP (a `provledger backup` file), or the published
    log at --tiles, from its entries and signed checkpoints alone, and check
    every checkpoint and entry.

    For each checkpoint, in signing order: the log signature under the pinned
    key, sizes and times never going back, the Merkle root and the
    provledger-heads map recomputed from the entries (witnesses check the
    tree, not the head map: this is what catches a log hiding a theft report
    behind an honest tree). For each entry: its index and time, its signature
    and the ledger's rules. Nothing else the file stores is trusted.

    With --tiles the entries come from the entry bundles and the one
    checkpoint is the published one; each tile is checked against the
    entries (a finding of kind "tile"). Tiles name no root key: give it
    (a policy, or --root).

    Exits 1 with the first inconsistency, naming the checkpoint (seq) or the
    entry (index). On a terminal a progress bar shows on stderr (--quiet:
    none); Ctrl-C stops it with exit 130.

    \b
    Examples:
      provledger monitor rings-backup.db --policy rings.policy
      provledger monitor rings-backup.db --log-vkey "$(cat log.vkey)" --root ed25519:...
      provledger monitor --tiles https://ledger.maison-rose.example/rings/ --policy rings.policy
    """
    if (policy_file is None) == (log_vkey is None):
        raise click.UsageError("give exactly one of --policy and --log-vkey")
    if root_text is not None and policy_file is not None:
        raise click.UsageError("--root goes with --log-vkey; a policy names its roots")
    if (backup is None) == (tiles is None):
        raise click.UsageError("give exactly one of BACKUP and --tiles")
    if tiles is not None and log_vkey is not None and root_text is None:
        raise click.UsageError("--tiles with --log-vkey needs --root: tiles do not name the "
                               "ledger's root key")
    policy = provledger.read_policy(policy_file) if policy_file is not None else None
    where = str(backup) if tiles is None else tiles
    opened = open_backup(backup) if backup is not None else nullcontext(open_tiles(tiles or ""))
    with (opened as source, progress_bar(quiet=quiet) as progress):
        log_key, root, witnesses = _trust(source, policy, log_vkey, root_text)
        if progress is not None:
            click.echo(f"monitoring {source.size} entries of {where} ...", err=True)
        try:
            report = replay_log(source, log_key=log_key, root_key=root, witnesses=witnesses,
                                progress=progress)
        except KeyboardInterrupt:
            raise click.Abort("monitor not finished") from None
        except MonitorError as exc:
            if as_json:
                emit(True, {"ok": False, "error": _error(exc)}, ())
            fail(f"{where}: {exc}", EXIT_VERIFICATION)
    names = {w.verifier: w.name for w in policy.named_witnesses} if policy else {}
    emit(as_json, _document(report, names), _lines(report, names))
    for warning in report.warnings:
        click.echo(f"warning: {provledger.safe_text(warning)}", err=True)


def _trust(source: LogSource, policy: provledger.Policy | None, log_vkey: str | None,
           root_text: str | None) -> tuple[NoteVerifier, bytes | None, tuple[NoteVerifier, ...]]:
    """The log key, root key and witnesses to check against; the file's claims
    only choose among several a policy trusts."""
    claimed = source.claimed
    if policy is None:
        assert log_vkey is not None
        try:
            verifier = parse_vkey(log_vkey.strip())
        except provledger.DecodeError as exc:
            raise click.BadParameter(str(exc), param_hint="--log-vkey") from None
        if verifier.sig_type != SIG_ED25519:
            raise click.BadParameter("a log key is an Ed25519 (type 0x01) vkey",
                                     param_hint="--log-vkey")
        root = None
        if root_text is not None:
            try:
                root = provledger.parse_public_key(root_text)
            except provledger.ProvLedgerError as exc:
                raise click.BadParameter(str(exc), param_hint="--root") from None
        return verifier, root, ()
    logs = policy.logs if len(policy.logs) == 1 else policy.log_keys(claimed.origin or "")
    if len(logs) > 1:
        logs = tuple(v for v in logs if v.public_key == claimed.log_key)
    if len(logs) != 1:
        raise click.UsageError(f"the policy trusts no single log key for the log the file "
                               f"names ({claimed.origin!r}): use --log-vkey")
    roots = policy.roots if len(policy.roots) == 1 else tuple(
        r for r in policy.roots if r == claimed.root_key)
    if len(roots) != 1:
        raise click.UsageError("the policy names several roots and the file none of them: "
                               "use --log-vkey with --root")
    return logs[0], roots[0], policy.witnesses


def _document(report: MonitorReport, names: dict[NoteVerifier, str]) -> dict[str, Any]:
    latest = report.latest
    return {
        "ok": True,
        "origin": report.origin,
        "entries": report.entries,
        "subjects": report.subjects,
        "checkpoints": report.checkpoints,
        "latest": None if latest is None else {
            "seq": latest.seq, "size": latest.size, "time": latest.time,
            "time_rfc3339": rfc3339(latest.time), "root": latest.root.hex(),
            "heads": latest.heads.hex()},
        "cosignatures": [{"witness": names.get(v, v.name), "vkey": v.vkey(), "checkpoints": n}
                         for v, n in report.cosignatures.items()],
        "other_signatures": report.other_signatures,
        "root_pinned": report.root_pinned,
        "warnings": list(report.warnings),
    }


def _lines(report: MonitorReport, names: dict[NoteVerifier, str]) -> list[str]:
    lines = [f"monitor ok: {provledger.safe_text(report.origin)}: {report.entries} entries, "
             f"{report.subjects} subjects, {report.checkpoints} checkpoints checked"]
    if report.latest is not None:
        c = report.latest
        lines.append(f"latest checkpoint: seq {c.seq}, size {c.size}, {rfc3339(c.time)}, "
                     f"root {c.root.hex()}")
    lines += [f"cosigned by {names.get(v, v.name)}: {n} of {report.checkpoints} checkpoints"
              for v, n in report.cosignatures.items()]
    if report.other_signatures:
        lines.append(f"{report.other_signatures} signature lines by keys not in the policy "
                     "(not checked)")
    return lines


def _error(exc: MonitorError) -> dict[str, Any]:
    cause = exc.__cause__
    return {"code": exc.code, "class": type(exc).__name__, "kind": exc.kind,
            "checkpoint": exc.checkpoint, "index": exc.index, "message": str(exc),
            "cause": cause.code if isinstance(cause, provledger.ProvLedgerError) else None}
