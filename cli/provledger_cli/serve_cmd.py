"""`provledger serve`: the read API over a live ledger (spec/tiles.md, "Serve").

The HTTP stack (Starlette on uvicorn, the `web` extra) is imported only when
the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

import provledger

from ._common import EXIT_OTHER, Settings, fail, pass_settings, passphrase
from ._http import LOG_LEVELS, base_url, bind, parse_listen, run

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option("--policy", "policy_file", required=True, type=_FILE,
              help="The trust policy the server verifies bundles against; it must trust "
                   "this ledger's log key and root key.")
@click.option("--listen", default="127.0.0.1:8080", show_default=True,
              help="HOST:PORT to listen on (port 0 picks a free one).")
@click.option("--witness", "witness_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also serve this witness directory (`witness init`) under /witness; "
                   "asks for its key's passphrase.")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info",
              show_default=True, help="uvicorn's log level (stderr).")
@click.option("--max-verifying", type=click.IntRange(min=1), default=8, show_default=True,
              help="POST /verify requests served at once (each holds up to 8 MB); more are "
                   "answered 503 with Retry-After.")
@pass_settings
def serve(settings: Settings, *, policy_file: Path, listen: str, witness_dir: Path | None,
          log_level: str, max_verifying: int) -> None:
    """Serve the ledger over HTTP, read-only, until interrupted: the publish
    layout (checkpoint, tiles, item pages and bundles, index) as of the latest
    checkpoint, and POST /verify for uploaded bundles. Prints its URL.

    \b
    GET  /checkpoint, /tile/...          c2sp.org/tlog-tiles
    GET  /01/<gtin>/21/<serial>          the item (GS1 Digital Link path; URN
         /item/<tag>/<serial>            items): HTML, JSON or CBOR by Accept
    GET  <item>/index.html, history.json, bundle.cbor
    GET  /, /index.html, /items.json     the items
    POST /verify[?item=ID]               a bundle (application/cbor); answers
                                         the `verify --json` document (200 or 422)

    The server opens the ledger read-only, so the writer goes on appending and
    signing checkpoints; each new checkpoint is served as soon as it is stored.
    A page or history is served only when the item's bundle verifies under
    --policy now (freshness included); otherwise the answer is 503. Like
    `publish`, it serves no disclosures: committed text stays private; a
    bundle POSTed to /verify is answered with what it discloses itself.

    \b
    Example:
      provledger --db rings.db serve --policy rings.policy --listen 127.0.0.1:8080
    """
    try:
        import uvicorn  # noqa: F401 (present, or the extra is missing)

        from provledger._serve import serve_app
    except ImportError as exc:
        fail(f"`serve` needs the web extra (pip install 'provledger[web]'): {exc}", EXIT_OTHER)
    host, port = parse_listen(listen)
    trust = provledger.read_policy(policy_file)
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        trusted = {v.public_key for v in trust.log_keys(ledger.origin)}
        if ledger.log_key not in trusted or ledger.root_key not in trust.roots:
            raise click.BadParameter(
                f"the policy does not trust this ledger (log {ledger.log_vkey()} and its root "
                "key): the server would vouch for none of its items", param_hint="--policy")
    witness = None
    if witness_dir is not None:
        from provledger._witness_dir import KEY_FILE, open_witness

        witness = open_witness(witness_dir, passphrase=passphrase(str(witness_dir / KEY_FILE)))
    sock = bind(host, port)
    click.echo(base_url(host, sock, "/"))
    run(serve_app(settings.db, policy=trust, witness=witness,
                  max_verifying=max_verifying), sock, log_level=log_level)
