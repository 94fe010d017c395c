"""Statements as files: sign any event from a JSON body, and submit signed files in a batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import click
import msgspec.inspect as mi

import provledger
from provledger.events import EVENT_TYPES

from ._common import Settings, emit, exit_code, fail, json_option, pass_settings
from ._disclosures import disclosures_path, read_disclosures
from ._params import DIGEST_PREFIX
from ._write import WriteOptions, open_writer, write_options

_MAX_BODY_BYTES: Final = 1 << 20


def event_classes() -> dict[str, type[provledger.Event]]:
    """Every event class by its wire type (``TYPE``)."""
    return dict(EVENT_TYPES)


@click.command()
@click.option("--type", "event_type", type=click.Choice(sorted(event_classes())),
              metavar="TYPE", required=True,
              help=f"The event's wire type: {', '.join(sorted(event_classes()))}.")
@click.option("--body", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True,
              help="The event's fields as a JSON object; digests as sha256:<hex>, keys as "
                   "ed25519:...")
@click.option("--subject", required=True,
              help="The item id, or the authority chain id (provledger:authority:<hex>).")
@pass_settings
@write_options
def sign(settings: Settings, *, opts: WriteOptions, event_type: str, body: Path,
         subject: str) -> None:
    """Sign any event from a JSON body into a statement file (-o), for `submit`.

    Byte fields are written as text: digests (photos, documents,
    certificate) as sha256:<64 hex>, keys (owner, key, new_key) as
    ed25519:... Origin and prev come from --db, or from --origin and --prev.
    Free-text fields (notes, inscription, work, performed_by, appraiser,
    reference, reason) are committed as salted digests; their text goes to
    FILE.disclosures, which `submit FILE` reads.

    \b
    Example, with body.json holding
      {"category": "cleaning", "work": "Ultrasonic clean",
       "performed_by": "Atelier Dupont", "started": 1795168800,
       "completed": 1795172400, "photos_after":
       ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]}:
      provledger sign --type repair.recorded --body body.json --key atelier.key \\
        --subject urn:provledger:item:5d1c0a3e9b7f2468:R-1001 -o cleaning.cose
    """
    if opts.out is None:
        raise click.UsageError("sign writes a statement file: give -o/--out FILE")
    event = _event_from_json(event_classes()[event_type], body)
    item = None if subject.startswith("provledger:authority:") else subject
    with open_writer(settings, opts) as w:  # a wallet signs as the item's owner key
        w.publish(event, key=w.unlock(item), subject=subject)


def _event_from_json(cls: type[provledger.Event], path: Path) -> provledger.Event:
    with path.open("rb") as f:
        data = f.read(_MAX_BODY_BYTES + 1)
    if len(data) > _MAX_BODY_BYTES:
        raise provledger.DecodeError(f"{path}: larger than {_MAX_BODY_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise provledger.DecodeError(f"{path}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise provledger.DecodeError(f"{path}: expected a JSON object of {cls.TYPE} fields")
    return provledger.convert_fields(_bytes_from_text(raw, mi.type_info(cls), "$"), cls,
                                     what=f"{path}: {cls.TYPE}")


def _bytes_from_text(value: Any, t: mi.Type, where: str) -> Any:
    """``value`` with text in every byte field replaced by the bytes it writes.

    Guided by the schema, so that only byte fields are converted and a note
    that happens to start with ``ed25519:`` stays text.
    """
    if isinstance(t, mi.Metadata):
        return _bytes_from_text(value, t.type, where)
    if isinstance(t, mi.BytesType) and isinstance(value, str):
        return _decode_bytes(value, where)
    if isinstance(t, mi.ListType) and isinstance(value, list):
        return [_bytes_from_text(v, t.item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(t, mi.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in t.fields}
        return {k: _bytes_from_text(v, fields[k], f"{where}.{k}") if k in fields else v
                for k, v in value.items()}
    if isinstance(t, mi.UnionType):
        for member in t.types:
            if isinstance(member, mi.StructType) and isinstance(value, dict):
                return _bytes_from_text(value, member, where)
    return value


def _decode_bytes(text: str, where: str) -> bytes:
    if text.startswith(DIGEST_PREFIX):
        digest = text[len(DIGEST_PREFIX):]
        if len(digest) == 64:
            try:
                return bytes.fromhex(digest)
            except ValueError:
                pass
        raise provledger.DecodeError(f"{where}: expected {DIGEST_PREFIX} and 64 hex digits")
    if text.startswith("ed25519:"):
        try:
            return provledger.parse_public_key(text)
        except provledger.DecodeError as exc:
            raise provledger.DecodeError(f"{where}: {exc}") from None
    raise provledger.DecodeError(f"{where}: expected {DIGEST_PREFIX}<64 hex> or ed25519:<key>")


@click.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@pass_settings
def submit(settings: Settings, *, files: tuple[Path, ...], as_json: bool) -> None:
    """Append the signed statement FILES, in order, all or nothing.

    The clear text of a statement's committed fields is read from
    FILE.disclosures beside it when that file exists (the signing commands
    write it with -o), checked against the statement's commitments, and
    kept off the log, erasable. Without it those fields stay private: no
    export can ever disclose them (a warning says so).

    If any statement or disclosure is refused, none is appended and the
    error names the file at fault.

    \b
    Example:
      provledger submit repair.cose appraisal.cose
    """
    statements = [path.read_bytes() for path in files]
    disclosures: list[list[bytes]] = []
    for path in files:
        beside = disclosures_path(path)
        disclosures.append(read_disclosures(beside) if beside.exists() else [])
    with provledger.Ledger.open(settings.db) as ledger:
        try:
            records = ledger.append_batch(statements, disclosures)
        except provledger.ProvLedgerError as exc:
            if exc.batch_index is None:
                raise
            fail(f"{files[exc.batch_index]}: {exc}", exit_code(exc))
    for path, given, r in zip(files, disclosures, records, strict=True):
        missing = provledger.reveal(r.event, given).withheld
        if missing:
            click.echo(f"warning: {path}: {missing} committed field(s) appended without their "
                       f"text ({disclosures_path(path)} was not there or lacks them); no "
                       "export can disclose them", err=True)
    emit(as_json, {"appended": [
        {"file": str(path), "index": r.index, "hash": r.hash.hex(), "type": r.statement.type,
         "subject": r.statement.subject}
        for path, r in zip(files, records, strict=True)
    ]}, [f"appended entry {r.index} ({r.statement.type}) hash {r.hash.hex()} from {path}"
         for path, r in zip(files, records, strict=True)])
