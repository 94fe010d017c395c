"""Publishing: the log as static files (c2sp.org/tlog-tiles) with a status page
per item, for any web server, object store or CDN (spec/tiles.md)."""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path

import click

import provledger

from ._common import Settings, emit, json_option, pass_settings, rfc3339
from ._progress import progress_bar, quiet_option


def _base_url(value: str | None) -> str | None:
    if value is None:
        return None
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query \
            or parsed.fragment:
        raise click.BadParameter("an http(s) URL without query or fragment, e.g. "
                                 "https://ledger.maison-rose.example/rings/",
                                 param_hint="--base-url")
    return value if value.endswith("/") else value + "/"


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-url", metavar="URL",
              help="Where DIRECTORY will be served; items.json then lists full URLs.")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False,
                                                         path_type=Path),
              help="Verify every item's bundle under this trust policy before publishing "
                   "it (its witnesses then show on the pages) [default: the ledger's own "
                   "log and root keys].")
@click.option("--changed-only", is_flag=True,
              help="Re-make only the items changed since the last publish (and those whose "
                   "files are older than --refresh); the others keep bundles of an older "
                   "checkpoint. For large logs: see spec/tiles.md.")
@click.option("--refresh", type=click.IntRange(min=0), default=43_200, show_default=True,
              metavar="SECONDS", help="With --changed-only: re-make an unchanged item once "
                                      "its files are this old.")
@quiet_option
@json_option
@pass_settings
def publish(settings: Settings, *, directory: Path, base_url: str | None,
            policy_file: Path | None, changed_only: bool, refresh: int, quiet: bool,
            as_json: bool) -> None:
    """Publish the latest checkpoint into DIRECTORY as static files: the
    checkpoint with its cosignatures, the tree's tiles and entry bundles
    (c2sp.org/tlog-tiles), and for every item its bundle, verified history
    (history.json) and status page at its GS1 Digital Link path
    (01/<gtin>/21/<serial>/) or item/<tag>/<serial>/, with index.html and
    items.json.

    Incremental: a second publish writes only what changed since the first.
    Tiles are never rewritten; the checkpoint is written after everything it
    covers. DIRECTORY must be new, empty, or an earlier publish of this log.
    Every item is re-made at each new checkpoint, so every bundle holds as of
    the published checkpoint (--changed-only trades that for speed). What is
    published is public: bundles carry no disclosures, so committed text
    (inscriptions, notes, repair work, ...) appears in no file.

    \b
    Example:
      provledger --db rings.db checkpoint --key log.key
      provledger --db rings.db publish /srv/www/rings \\
        --base-url https://ledger.maison-rose.example/rings/
    """
    from provledger._publish_dir import publish as publish_dir

    url = _base_url(base_url)
    trust = provledger.read_policy(policy_file) if policy_file is not None else None
    with (provledger.Ledger.open(settings.db, readonly=True) as ledger,
          progress_bar(quiet=quiet) as progress):
        result = publish_dir(ledger, directory, now=int(time.time()), base_url=url,
                             policy=trust, changed_only=changed_only, refresh=refresh,
                             progress=progress)
        origin = ledger.origin
        if url is not None and url.split("://", 1)[1].rstrip("/") != origin:
            click.echo(f"note: the log's origin {ledger.origin!r} is not the base URL without "
                       "its scheme, as c2sp.org/tlog-tiles recommends", err=True)
    cp = result.checkpoint
    for item in result.unpublishable:
        click.echo(f"warning: {provledger.safe_text(item)} has no file path (a '.' or '..' "
                   "in its serial): not published", err=True)
    state = ("already up to date" if result.up_to_date else
             f"{len(result.written)} files written, {result.items} items made")
    emit(as_json, {
        "ok": True, "directory": str(directory), "origin": origin,
        "checkpoint": {"seq": cp.seq, "size": cp.size, "time": rfc3339(cp.time),
                       "root": cp.root.hex()},
        "previous_size": result.previous, "written": len(result.written),
        "tiles_kept": result.kept, "items": result.items,
        "unpublishable": list(result.unpublishable),
    }, [f"published checkpoint {cp.seq} (size {cp.size}, {rfc3339(cp.time)}) to "
        f"{directory}: {state}"])
