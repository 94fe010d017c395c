"""The ledger as a transparency log: sign checkpoints, print proofs, export raw entries.

Everything here prints standard formats (spec/log.md): C2SP signed-note
checkpoints and verifier keys, RFC 9162 proofs, C2SP tlog-proof texts and
RFC 9942 COSE Receipts, and the entry bytes that are the tree's leaves, so
that auditors can check the log with tools that know the standards and not
provledger.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import provledger

from ._common import (
    EXIT_QUORUM,
    Settings,
    emit,
    fail,
    json_option,
    pass_settings,
    rfc3339,
    unlock,
)
from ._progress import progress_bar, quiet_option

if TYPE_CHECKING:  # imported when witnesses are asked: urllib is slow to import
    from provledger._witness_client import WitnessEndpoint, WitnessOutcome


def _leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def _refuse_existing(path: Path | None, option: str) -> None:
    if path is not None and path.exists():
        raise click.BadParameter(f"{path} already exists", param_hint=option)


def _write_new(path: Path, data: bytes) -> None:
    with path.open("xb") as f:
        f.write(data)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _checkpoint_document(cp: provledger.SignedCheckpoint) -> dict[str, Any]:
    return {"seq": cp.seq, "size": cp.size, "time": rfc3339(cp.time), "time_unix": cp.time,
            "root": cp.root.hex(), "note": cp.cosigned_note,
            "cosigned_by": [c.witness.name for c in cp.cosignatures]}


# -- checkpoint -------------------------------------------------------------------


_KEY_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group(invoke_without_command=True)
@click.option("-k", "--key", "key_file", type=_KEY_FILE,
              help="The log's encrypted private key file (log.key). Required.")
@click.option("--policy", "policy_file", type=_KEY_FILE,
              help="A trust policy naming witnesses (with URLs) and a quorum: ask them to "
                   "cosign the new checkpoint.")
@click.option("--witness", "witness_urls", multiple=True, metavar="URL",
              help="Ask only the policy's witness with this submission URL. Repeatable.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Seconds to wait for the witnesses, all together.")
@quiet_option
@json_option
@click.pass_context
def checkpoint(ctx: click.Context, *, key_file: Path | None, policy_file: Path | None,
               witness_urls: tuple[str, ...], timeout: float, quiet: bool,
               as_json: bool) -> None:
    """Sign, store and print a checkpoint of the whole log; with --policy, have
    witnesses cosign it.

    Prints the C2SP signed note (origin, tree size, root, the provledger-heads
    and provledger-time lines, the log's signature), ready to publish or hand
    to witnesses. Only the log key signs; the ledger refuses to sign a tree
    inconsistent with its previous checkpoint, and then writes nothing. On a
    terminal a progress bar shows the head map being built, on stderr
    (--quiet: none); Ctrl-C stops it with exit 130, writing nothing.

    With --policy, the checkpoint is then sent to the policy's witnesses that
    have a URL (or only those given with --witness), all at once
    (c2sp.org/tlog-witness add-checkpoint, with a consistency proof from the
    size each last cosigned), and the cosignatures that verify are stored with
    it. The printed note carries them; stderr says which witnesses answered
    (--json: the "witnesses" list). If they do not meet the policy's quorum,
    the checkpoint stays signed and stored and the command exits with code 8;
    cosignatures of offline witnesses can be added later with `checkpoint
    cosignatures add`.

    \b
    Example:
      provledger --db rings.db checkpoint --key rings-keys/log.key > checkpoint.txt
      provledger --db rings.db checkpoint --key rings-keys/log.key --json
      provledger --db rings.db checkpoint --key rings-keys/log.key \\
        --policy marketplace.policy --timeout 5
    """
    if ctx.invoked_subcommand is not None:
        if key_file or policy_file or witness_urls or as_json:
            raise click.UsageError(f"`checkpoint {ctx.invoked_subcommand}` takes its own "
                                   "options, after its name")
        return
    if key_file is None:
        raise click.UsageError("Missing option '-k' / '--key'.")
    if witness_urls and policy_file is None:
        raise click.UsageError("--witness needs --policy: the witness's key is taken from it")
    settings = ctx.find_object(Settings)
    assert settings is not None
    policy = provledger.read_policy(policy_file) if policy_file is not None else None
    witnesses = _chosen_witnesses(policy, witness_urls) if policy is not None else []
    with progress_bar(quiet=quiet) as progress:  # converting an older file, if it is one
        opened = provledger.Ledger.open(settings.db, progress=progress)
    with opened as ledger:
        key = unlock(key_file)
        with progress_bar(quiet=quiet) as progress:
            if progress is not None:
                click.echo(f"signing a checkpoint of {len(ledger)} entries of {settings.db} ...",
                           err=True)
            try:
                signed = ledger.sign_checkpoint(key, progress=progress)
            except KeyboardInterrupt:
                raise click.Abort("the ledger is unchanged") from None
        if policy is None:
            if as_json:
                emit(True, _checkpoint_document(signed), [])
            else:
                click.echo(signed.note, nl=False)
            return
        outcomes = ledger.request_cosignatures(witnesses, seq=signed.seq, timeout=timeout)
        signed = next(c for c in ledger.checkpoints() if c.seq == signed.seq)
    _report_witnessing(signed, policy, outcomes, as_json=as_json)


def _chosen_witnesses(policy: provledger.Policy, urls: Sequence[str]
                      ) -> list[WitnessEndpoint]:
    from provledger.witness import witness_endpoints

    try:
        return witness_endpoints(policy, urls)
    except ValueError as exc:
        raise click.UsageError(f"--witness: {exc}") from None


def _report_witnessing(cp: provledger.SignedCheckpoint, policy: provledger.Policy,
                       outcomes: Sequence[WitnessOutcome], *, as_json: bool) -> None:
    """Print the cosigned note (or JSON) and who answered; exit 8 short of the quorum."""
    met = policy.quorum_met(c.witness for c in cp.cosignatures)
    rule = policy.describe_quorum()
    names = ", ".join(_cosigners(policy, cp)) or "no witness"
    if as_json:
        document = _checkpoint_document(cp)
        document["cosigned_by"] = _cosigners(policy, cp)
        document["witnesses"] = [
            {"name": o.witness.name, "url": o.witness.url, "status": o.status,
             "detail": o.detail} for o in outcomes]
        document["quorum"] = {"rule": rule, "met": met}
        emit(True, document, [])
    else:
        click.echo(cp.cosigned_note, nl=False)
        for o in outcomes:
            said = "cosigned" if o.ok else f"{o.status}: {o.detail}"
            click.echo(f"witness {provledger.safe_text(o.witness.name)} "
                       f"({provledger.safe_text(o.witness.url)}): {said}", err=True)
        if met:
            click.echo(f"checkpoint {cp.seq}: witness quorum met, cosigned by {names} (the "
                       f"policy needs {rule})", err=True)
    if not met:
        asked = "" if outcomes else " (no witness of the policy has a URL to ask)"
        fail(f"checkpoint {cp.seq} (size {cp.size}) is signed and stored, but the witness "
             f"quorum was not reached{asked}: the policy needs {rule}; cosigned by {names}. "
             "Ask again with `provledger checkpoint`, or add offline witnesses' lines with "
             "`provledger checkpoint cosignatures add`", EXIT_QUORUM)


@checkpoint.group("cosignatures")
def cosignatures() -> None:
    """Witness cosignatures stored with the checkpoints.

    \b
    Example:
      provledger --db rings.db checkpoint cosignatures add w1.cosig --policy marketplace.policy
    """


@cosignatures.command("request")
@click.option("--old", "old_size", type=click.IntRange(min=0), required=True,
              help="The size the witness last cosigned (0 if never).")
@click.option("--seq", type=click.IntRange(min=0),
              help="The checkpoint to have cosigned [default: the latest].")
@click.option("--checkpoint-out", "note_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the checkpoint's signed note to this new file.")
@pass_settings
def cosignatures_request(settings: Settings, *, old_size: int, seq: int | None,
                         note_file: Path | None) -> None:
    """Print what an offline witness needs besides the checkpoint: the
    add-checkpoint request's head, an 'old <size>' line and the base64
    consistency proof from OLD to the checkpoint (c2sp.org/tlog-witness).

    Carry it and the checkpoint note (--checkpoint-out) to the witness,
    run `provledger witness cosign`, and bring its lines back to
    `checkpoint cosignatures add`. If the witness answers that its size is
    another (exit 9, the size on stdout), ask again with that --old.

    \b
    Example:
      provledger --db rings.db checkpoint cosignatures request --old 120 \\
        --checkpoint-out checkpoint.txt > proof.txt
      provledger witness cosign w1 checkpoint.txt --proof proof.txt > w1.cosig
      provledger --db rings.db checkpoint cosignatures add w1.cosig --policy marketplace.policy
    """
    _refuse_existing(note_file, "--checkpoint-out")
    with provledger.Ledger.open(settings.db) as ledger:
        signed = ledger.checkpoints()
        if not signed:
            raise provledger.NotFoundError("no checkpoint has been signed yet "
                                           "(run `provledger checkpoint`)")
        cp = signed[-1] if seq is None else next((c for c in signed if c.seq == seq), None)
        if cp is None:
            raise provledger.NotFoundError(f"no checkpoint {seq}: the log has signed "
                                           f"{len(signed)}")
        if old_size > cp.size:
            raise provledger.NotFoundError(f"--old {old_size}: checkpoint {cp.seq} has only "
                                           f"{cp.size} entries")
        proof = ledger.consistency_proof(old_size, cp.size) if 0 < old_size < cp.size else []
    head = provledger.witness.format_add_checkpoint(old_size, proof, cp.note)
    if note_file is not None:
        _write_new(note_file, cp.cosigned_note.encode())
    click.echo(head.decode().partition("\n\n")[0] + "\n", nl=False)


@cosignatures.command("add")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--policy", "policy_file", type=_KEY_FILE, required=True,
              help="The trust policy whose witnesses' keys verify the lines.")
@click.option("--seq", type=click.IntRange(min=0),
              help="The checkpoint cosigned [default: the one FILE's note is of, else the "
                   "latest].")
@json_option
@pass_settings
def cosignatures_add(settings: Settings, *, file: Path, policy_file: Path, seq: int | None,
                     as_json: bool) -> None:
    """Add cosignatures from FILE (- for stdin) to a stored checkpoint, for
    witnesses that cosign offline (`provledger witness cosign`).

    FILE holds note signature lines, or a whole cosigned note of the
    checkpoint. Lines by keys that are not witnesses of the policy are
    ignored; a policy witness's line that does not verify over the checkpoint
    refuses the whole file (exit 1), and nothing is stored. Adding a witness
    again changes nothing.

    \b
    Example:
      provledger witness cosign w1 checkpoint.txt --proof proof.txt > w1.cosig
      provledger --db rings.db checkpoint cosignatures add w1.cosig --policy marketplace.policy
    """
    policy = provledger.read_policy(policy_file)
    raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise provledger.DecodeError(f"{file}: not UTF-8 text") from None
    with provledger.Ledger.open(settings.db) as ledger:
        signed = ledger.checkpoints()
        if seq is None:
            seq = _cosigned_seq(signed, text)
        before = {c.witness for old in signed if old.seq == seq for c in old.cosignatures}
        ledger.add_cosignatures(seq, text, policy.witnesses)
        cp = next(c for c in ledger.checkpoints() if c.seq == seq)
    met = policy.quorum_met(c.witness for c in cp.cosignatures)
    names = _cosigners(policy, cp)
    added = [n for n, c in zip(names, cp.cosignatures, strict=True) if c.witness not in before]
    emit(as_json, {"seq": cp.seq, "size": cp.size, "added": added, "cosigned_by": names,
                   "quorum": {"rule": policy.describe_quorum(), "met": met}},
         [f"checkpoint {cp.seq} (size {cp.size}): "
          + (f"added {', '.join(added)}" if added else "nothing new"),
          f"cosigned by {', '.join(names) or 'no witness'}; quorum "
          + ("met" if met else f"not met (the policy needs {policy.describe_quorum()})")])


def _cosigners(policy: provledger.Policy, cp: provledger.SignedCheckpoint) -> list[str]:
    """Who cosigned ``cp``: the policy's names for its witnesses, else key names."""
    return [(w.name if (w := policy.witness(c.witness)) else c.witness.name)
            for c in cp.cosignatures]


def _cosigned_seq(signed: Sequence[provledger.SignedCheckpoint], text: str) -> int:
    """The checkpoint a cosigned note in ``text`` is of (the newest with its
    text), else the latest one.

    Raises:
        provledger.NotFoundError: no checkpoint has been signed.
    """
    if not signed:
        raise provledger.NotFoundError("no checkpoint has been signed yet "
                                       "(run `provledger checkpoint`)")
    body, sep, _ = text.rpartition("\n\n")
    if sep:
        for cp in reversed(signed):
            if cp.note.rpartition("\n\n")[0] == body:
                return cp.seq
    return signed[-1].seq


# -- proofs -------------------------------------------------------------------------


@click.group()
def proof() -> None:
    """Print RFC 9162 inclusion and consistency proofs, and export them.

    \b
    Example:
      provledger --db rings.db proof inclusion 3 --tlog-proof entry3.tlog-proof
      provledger --db rings.db proof consistency 10 25
    """


@proof.command("inclusion")
@click.argument("entry", type=click.IntRange(min=0))
@click.option("--size", type=click.IntRange(min=0),
              help="Prove against the tree of this many entries [default: the whole log, "
                   "or the latest checkpoint's size with --tlog-proof or --receipt].")
@click.option("--tlog-proof", "tlog_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the C2SP tlog-proof text (with the latest checkpoint) to "
                   "this new file.")
@click.option("--receipt", "receipt_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a COSE Receipt (RFC 9942) signed by --key to this new file.")
@click.option("-k", "--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="With --receipt: the log's encrypted private key file.")
@json_option
@pass_settings
def inclusion(settings: Settings, *, entry: int, size: int | None, tlog_file: Path | None,
              receipt_file: Path | None, key_file: Path | None, as_json: bool) -> None:
    """Print the inclusion proof of log entry ENTRY: index, tree size, leaf
    hash, root and the proof hashes (leaf's sibling first), in hex.

    --tlog-proof and --receipt prove the entry against the latest checkpoint,
    so the printed proof then uses that checkpoint's size. Neither file is
    written when the entry, the checkpoint or the key is refused, and
    existing files are never overwritten. A checkpoint of a one-entry log
    has no receipt (RFC 9942 needs a non-empty inclusion path): --receipt is
    then refused with exit code 6.

    \b
    Example:
      provledger --db rings.db proof inclusion 3
      provledger --db rings.db proof inclusion 3 --tlog-proof entry3.tlog-proof \\
        --receipt entry3.receipt --key rings-keys/log.key
    """
    if (receipt_file is None) != (key_file is None):
        raise click.UsageError("--receipt and --key go together")
    _refuse_existing(tlog_file, "--tlog-proof")
    _refuse_existing(receipt_file, "--receipt")
    if tlog_file is not None and tlog_file == receipt_file:
        raise click.UsageError("--tlog-proof and --receipt must be different files")
    exporting = tlog_file is not None or receipt_file is not None
    tlog_text: str | None = None
    receipt: bytes | None = None
    seq: int | None = None
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        if exporting:
            latest = ledger.latest_checkpoint()
            if size is not None and size != latest.size:
                raise click.UsageError(
                    f"--tlog-proof and --receipt prove against the latest checkpoint "
                    f"(size {latest.size}); leave out --size or give --size {latest.size}")
            if entry >= latest.size:
                raise provledger.NotFoundError(
                    f"entry {entry}: the latest checkpoint covers {latest.size} entries "
                    "(run `provledger checkpoint`)")
            size, seq = latest.size, latest.seq
        # One size for proof and root, even if entries are appended meanwhile.
        tree_size = len(ledger) if size is None else size
        hashes = ledger.inclusion_proof(entry, tree_size)
        root = ledger.root(tree_size)
        leaf = _leaf_hash(ledger.entry(entry))
        if tlog_file is not None:
            tlog_text = ledger.tlog_proof(entry)
        if receipt_file is not None and key_file is not None:
            receipt = ledger.receipt(entry, key=unlock(key_file))
    lines = [f"index {entry}", f"size  {tree_size}", f"leaf  {leaf.hex()}",
             f"root  {root.hex()}", *(f"proof {h.hex()}" for h in hashes)]
    if tlog_file is not None and tlog_text is not None:
        _write_new(tlog_file, tlog_text.encode())
        lines.append(f"wrote tlog-proof {tlog_file} (checkpoint {seq}, size {tree_size})")
    if receipt_file is not None and receipt is not None:
        _write_new(receipt_file, receipt)
        lines.append(f"wrote receipt {receipt_file} (checkpoint {seq}, size {tree_size})")
    emit(as_json, {
        "index": entry,
        "size": tree_size,
        "leaf": leaf.hex(),
        "root": root.hex(),
        "proof": [h.hex() for h in hashes],
        "checkpoint": seq,
        "tlog_proof": None if tlog_file is None else str(tlog_file),
        "receipt": None if receipt_file is None else str(receipt_file),
    }, lines)


@proof.command("consistency")
@click.argument("old", type=click.IntRange(min=0))
@click.argument("new", type=click.IntRange(min=0), required=False)
@json_option
@pass_settings
def consistency(settings: Settings, *, old: int, new: int | None, as_json: bool) -> None:
    """Print the consistency proof from tree size OLD to NEW (default: the
    whole log): both sizes, both roots and the proof hashes, in hex.

    Equal sizes give an empty proof. Take the roots to compare from two
    checkpoints you hold (`provledger log checkpoints`).

    \b
    Example:
      provledger --db rings.db proof consistency 10 25 --json
    """
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        new_size = len(ledger) if new is None else new
        hashes = ledger.consistency_proof(old, new_size)
        old_root, new_root = ledger.root(old), ledger.root(new_size)
    emit(as_json, {
        "old": old,
        "new": new_size,
        "old_root": old_root.hex(),
        "new_root": new_root.hex(),
        "proof": [h.hex() for h in hashes],
    }, [f"old      {old}", f"new      {new_size}", f"old_root {old_root.hex()}",
        f"new_root {new_root.hex()}", *(f"proof    {h.hex()}" for h in hashes)])


# -- the log itself ---------------------------------------------------------------


@click.group("log")
def log() -> None:
    """The log's verifier key, its checkpoints and its raw entries, for auditors.

    \b
    Example:
      provledger --db rings.db log vkey
      provledger --db rings.db log entry 3 -o entry3.bin
    """


@log.command("vkey")
@json_option
@pass_settings
def vkey(settings: Settings, *, as_json: bool) -> None:
    """Print the log's C2SP verifier key: <origin>+<key id>+<base64 key>.

    Checkpoints, tlog-proofs and receipts verify against it with any C2SP
    signed-note verifier (Go's golang.org/x/mod/sumdb/note, for one).

    \b
    Example:
      provledger --db rings.db log vkey > log.vkey
    """
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        text, origin = ledger.log_vkey(), ledger.origin
    emit(as_json, {"origin": origin, "vkey": text}, [text])


@log.command("entry")
@click.argument("index", type=click.IntRange(min=0))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the raw entry bytes to this new file.")
@click.option("--hex", "as_hex", is_flag=True, help="Print the bytes as hex.")
@json_option
@pass_settings
def entry(settings: Settings, *, index: int, out: Path | None, as_hex: bool,
          as_json: bool) -> None:
    """Print the raw bytes of log entry INDEX: the Merkle leaf, as stored.

    The bytes go to -o FILE, or to stdout when it is not a terminal;
    on a terminal, or with --hex, they print as hex. --json gives the index,
    log time, the entry in hex and its leaf hash, SHA-256(0x00 || entry).

    \b
    Example:
      provledger --db rings.db log entry 3 -o entry3.bin
      provledger --db rings.db log entry 3 | sha256sum
    """
    _refuse_existing(out, "-o/--out")
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        data = ledger.entry(index)
        record = next(ledger.records(index, index + 1)) if as_json else None
    if out is not None:
        _write_new(out, data)
    if record is not None:
        emit(True, {"index": index, "time": rfc3339(record.time), "time_unix": record.time,
                    "entry": data.hex(), "leaf": _leaf_hash(data).hex(),
                    "file": None if out is None else str(out)}, [])
    elif out is not None:
        click.echo(f"wrote entry {index} ({len(data)} bytes) to {out}")
    elif as_hex or _stdout_is_terminal():
        click.echo(data.hex())
    else:
        click.echo(data, nl=False)  # bytes go to the binary stream underneath


@log.command("checkpoints")
@json_option
@pass_settings
def checkpoints(settings: Settings, *, as_json: bool) -> None:
    """List every checkpoint the log has signed, oldest first, signatures re-verified.

    --json includes each signed note verbatim, with the witnesses'
    cosignatures stored for it.

    \b
    Example:
      provledger --db rings.db log checkpoints --json
    """
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        signed = ledger.checkpoints()
        origin = ledger.origin
    lines = [f"{c.seq:>6}  size {c.size:<10}  {rfc3339(c.time)}  root {c.root.hex()}"
             + (f"  cosigned by {', '.join(w.witness.name for w in c.cosignatures)}"
                if c.cosignatures else "")
             for c in signed]
    emit(as_json, {"origin": origin, "checkpoints": [_checkpoint_document(c) for c in signed]},
         lines or [f"no checkpoint has been signed yet for {origin}"])
