"""Run a c2sp.org/tlog-witness witness: make one, name its logs, serve it, cosign offline.

The witness lives in a directory (spec/witness.md): ``witness.key``
(encrypted), ``witness.vkey``, ``logs.policy`` and ``state.db``. The HTTP
server (Starlette on uvicorn) is imported only by ``witness serve``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final, Literal, cast

import click

import provledger
from provledger._note import SIG_COSIGNATURE_V1, SIG_ED25519, NoteVerifier, parse_vkey
from provledger._witness_dir import (
    KEY_FILE,
    LOGS_FILE,
    STATE_FILE,
    VKEY_FILE,
    PolicyLog,
    add_log,
    init_witness_dir,
    open_witness,
    read_witness_dir,
)

from ._common import (
    EXIT_CONFLICT,
    EXIT_DECODE,
    EXIT_INCONSISTENT,
    EXIT_NOT_FOUND,
    EXIT_OTHER,
    EXIT_VERIFICATION,
    emit,
    fail,
    json_option,
    passphrase,
)
from ._http import LOG_LEVELS, base_url, bind, parse_listen, run

#: `witness cosign`: the exit code for each add-checkpoint status.
COSIGN_EXIT_CODES: Final = {200: 0, 400: EXIT_DECODE, 403: EXIT_VERIFICATION,
                            404: EXIT_NOT_FOUND, 409: EXIT_CONFLICT, 422: EXIT_INCONSISTENT}

_DIR = click.Path(file_okay=False, path_type=Path)


def _log(vkey: str, url: str | None = None, *, hint: str = "VKEY") -> PolicyLog:
    try:
        verifier = parse_vkey(vkey)
    except provledger.DecodeError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None
    if verifier.sig_type != SIG_ED25519:
        raise click.BadParameter("a log key is an Ed25519 (type 0x01) vkey", param_hint=hint)
    return PolicyLog(verifier, url)


@click.group()
def witness() -> None:
    """Run a witness (c2sp.org/tlog-witness): cosign checkpoints of the logs it
    serves, after checking each is consistent with the last one it cosigned.

    \b
    Example:
      provledger witness init w1 --name witness.example/w1 \\
        --log "$(provledger --db rings.db log vkey)"
      provledger witness serve w1 --listen 127.0.0.1:8080
    """


@witness.command("init")
@click.argument("directory", type=_DIR)
@click.option("--name", required=True,
              help="The witness's key name: a schema-less URL such as witness.example/w1.")
@click.option("--log", "vkeys", multiple=True, metavar="VKEY",
              help="A log to serve: its C2SP vkey (key name = origin). Repeatable.")
@click.option("--strength", type=click.Choice(["interactive", "moderate", "sensitive"]),
              default="interactive", show_default=True,
              help="argon2id cost of unlocking the key file (as `key new`).")
@json_option
def init(directory: Path, *, name: str, vkeys: tuple[str, ...], strength: str,
         as_json: bool) -> None:
    """Create a witness in DIRECTORY: a new key, encrypted, and the logs it serves.

    Prints the witness's verifier key, which logs and verifiers add to their
    policies (`witness <vkey>`). Refuses to overwrite an existing witness.

    \b
    Example:
      provledger witness init w1 --name witness.example/w1 \\
        --log ledger.example.com/rings+3abac7a6+AcP7...
    """
    logs = [_log(v, hint="--log") for v in vkeys]
    key = provledger.SigningKey.generate()
    try:
        NoteVerifier(name, key.public_key, SIG_COSIGNATURE_V1)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    for file in (KEY_FILE, VKEY_FILE, LOGS_FILE, STATE_FILE):
        if (directory / file).exists():  # before asking for a passphrase
            raise FileExistsError(f"{directory / file} already exists; refusing to overwrite "
                                  "a witness")
    secret = passphrase(f"the new witness key {directory / KEY_FILE}", confirm=True)
    init_witness_dir(directory, name=name, key=key, passphrase=secret, logs=logs,
                     strength=cast(Literal["interactive", "moderate", "sensitive"], strength))
    vkey = read_witness_dir(directory).verifier.vkey()
    emit(as_json, {"directory": str(directory), "vkey": vkey,
                   "logs": [log.origin for log in logs]}, [vkey])


@witness.command("add-log")
@click.argument("directory", type=_DIR)
@click.argument("vkey")
@click.argument("url", required=False)
def add_log_command(directory: Path, vkey: str, url: str | None) -> None:
    """Serve one more log: its VKEY (key name = origin) and optional URL.

    A running `witness serve` reads its logs at start: restart it.

    \b
    Example:
      provledger witness add-log w1 ledger.example.com/rings+3abac7a6+AcP7... \\
        https://ledger.example.com/rings
    """
    log = _log(vkey, url)
    read_witness_dir(directory)
    add_log(directory, log)
    click.echo(f"added log {log.origin}; restart `witness serve` to serve it", err=True)


@witness.command("serve")
@click.argument("directory", type=_DIR)
@click.option("--listen", "listen", default="127.0.0.1:8080", show_default=True,
              help="HOST:PORT to listen on (port 0 picks a free one).")
@click.option("--prefix", default="/", show_default=True,
              help="URL prefix of add-checkpoint and of the monitoring GET.")
@click.option("--log-level", type=click.Choice(LOG_LEVELS),
              default="info", show_default=True, help="uvicorn's log level (stderr).")
def serve(directory: Path, *, listen: str, prefix: str, log_level: str) -> None:
    """Serve the witness over HTTP until interrupted.

    POST <prefix>/add-checkpoint cosigns (c2sp.org/tlog-witness);
    GET <prefix>/<origin sha256 hex>/checkpoint returns the latest cosigned
    checkpoint of a log. Asks once for the key's passphrase
    ($PROVLEDGER_PASSPHRASE), then prints the witness's vkey and the URL
    prefix it serves at, one line each.

    \b
    Example:
      provledger witness serve w1 --listen 127.0.0.1:8080 --prefix /
    """
    try:
        import uvicorn  # noqa: F401 (present, or the extra is missing)

        from provledger._witness_http import normalize_prefix, witness_app
    except ImportError as exc:
        fail(f"`witness serve` needs the witness extra (pip install 'provledger[witness]'): "
             f"{exc}", EXIT_OTHER)
    host, port = parse_listen(listen)
    try:
        base = normalize_prefix(prefix)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from None
    witness_ = open_witness(directory, passphrase=passphrase(str(directory / KEY_FILE)))
    sock = bind(host, port)
    click.echo(witness_.verifier.vkey())
    click.echo(base_url(host, sock, base))
    run(witness_app(witness_, prefix=base), sock, log_level=log_level)


@witness.command("cosign")
@click.argument("directory", type=_DIR)
@click.argument("checkpoint", type=click.File("rb"))
@click.option("--proof", "proof", type=click.File("rb"), required=True,
              help="The request head: an 'old <size>' line and base64 proof lines.")
def cosign(directory: Path, checkpoint: Any, proof: Any) -> None:
    """Cosign the signed CHECKPOINT file offline (an air-gapped witness).

    Runs every add-checkpoint check against the witness's state, records the
    checkpoint, and prints the cosignature line(s) to append to it.

    \b
    Exit codes (one per add-checkpoint answer):
      0   cosigned (200)
      4   malformed checkpoint or proof, or old size > size (400)
      1   not validly signed by a key the witness trusts for the log (403)
      6   the witness does not serve that log (404)
      9   the old size is not the witness's size, printed on stdout (409)
      10  not consistent with what the witness cosigned before (422)

    \b
    Example:
      printf 'old 0\\n' > proof.txt
      provledger witness cosign w1 checkpoint.txt --proof proof.txt >> checkpoint.txt
    """
    note, head = checkpoint.read(), proof.read()
    witness_ = open_witness(directory, passphrase=passphrase(str(directory / KEY_FILE)))
    try:
        answer = witness_.cosign_offline(note, head, now=int(time.time()))
    finally:
        witness_.close()
    if answer.status == 200:
        click.echo(answer.body.decode(), nl=False)
        return
    if answer.status == 409:
        size = answer.body.decode().strip()
        click.echo(size)
        fail(f"409 conflict: the witness's recorded size is {size}; send a proof from it",
             EXIT_CONFLICT)
    fail(f"{answer.status}: {answer.body.decode(errors='replace').strip()}",
         COSIGN_EXIT_CODES.get(answer.status, EXIT_OTHER))


@witness.command("show")
@click.argument("directory", type=_DIR)
@json_option
def show(directory: Path, *, as_json: bool) -> None:
    """Print the witness's vkey and, per log, its vkey, URL, recorded size and
    how many refused checkpoints are kept as evidence.

    \b
    Example:
      provledger witness show w1
    """
    from provledger._witness import WitnessState

    config = read_witness_dir(directory)
    state = WitnessState(config.state_path)
    try:
        latest = {r.origin: r for r in state.all_latest()}
        evidence = [e.origin for e in state.evidence()]
    finally:
        state.close()
    logs = []
    for log in config.logs:
        recorded = latest.get(log.origin)
        logs.append({"origin": log.origin, "vkey": log.verifier.vkey(), "url": log.url,
                     "size": None if recorded is None else recorded.size,
                     "evidence": evidence.count(log.origin)})
    lines = [f"witness {config.verifier.vkey()}"]
    lines += [f"log {d['origin']} size {'-' if d['size'] is None else d['size']} "
              f"evidence {d['evidence']} {d['vkey']}" + (f" {d['url']}" if d["url"] else "")
              for d in logs]
    emit(as_json, {"vkey": config.verifier.vkey(), "logs": logs}, lines)
