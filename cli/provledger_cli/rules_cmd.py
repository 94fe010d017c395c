"""Transfer rules (spec/rules.md): an issuer publishes them; anyone reads the
rules a piece was issued under, in plain language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import click
import msgspec
import msgspec.inspect as mi

import provledger
from provledger._transfer_rules import decode_rules, describe, published

from ._common import Settings, emit, json_option, pass_settings, rfc3339
from ._params import DIGEST
from ._write import WriteOptions, open_writer, write_options
from .statement_cmd import _bytes_from_text

_MAX_RULES_BYTES: Final = 64 * 1024


@click.group()
def rules() -> None:
    """Your published transfer rules, and the rules a piece is sold under.

    An issuer publishes its rules for reselling its pieces as a signed,
    versioned statement on its own chain; each certificate names the version
    in force when it was issued, and the ledger refuses a sale that breaks
    them, naming the rule.

    \b
    Example:
      provledger rules publish --key maison.key --file rules.json --text rules.txt
      provledger rules show urn:provledger:item:5d1c0a3e9b7f2468:R-1001
    """


@rules.command()
@click.option("--file", "rules_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The rules: a JSON object of rules fields (spec/rules.md), such as "
                   '{"inspection_days": 30, "plans_transfer": true}.')
@click.option("--text", required=True, type=DIGEST,
              help="The rules as your customers read them (a file, hashed; or sha256:<hex>).")
@click.option("--version", "version", type=click.IntRange(min=1),
              help="The version to publish [default: one more than your latest, read from "
                   "the ledger; required with -o and no ledger].")
@click.option("--notes", default="", help="A note for the record.")
@pass_settings
@write_options
def publish(settings: Settings, *, opts: WriteOptions, rules_file: Path, text: bytes,
            version: int | None, notes: str) -> None:
    """Publish a new version of your transfer rules, signed by your issuer key.

    Pieces you issue from then on name this version, and keep it for life:
    rules published later never bind a piece already sold.

    \b
    rules.json (every field optional; absent means no such rule):
      {"inspection_days": 30,                 # an authorized service within 30 days
       "appraisal_above": 500000, "currency": "EUR", "appraisal_days": 90,
       "plans_transfer": true,                # your care plans go with the piece
       "marketplaces": ["ed25519:..."],       # a sale names one of these
       "min_inspection": 604800}              # at least 7 days to inspect

    \b
    Example:
      provledger rules publish --key maison.key --file rules.json --text rules.txt
      provledger rules publish --key maison.key --file rules.json --text rules.txt \\
        --version 2 -o rules-v2.cose --origin ledger.example/pieces --prev none
    """
    transfer_rules = _read_rules(rules_file)
    with open_writer(settings, opts) as w:
        signer = w.unlock()
        subject, latest = _chain(w.ledger, signer.public_key)
        if version is None:
            if w.ledger is None:
                raise click.UsageError("give --version to sign offline without a ledger")
            version = latest + 1
        event = provledger.RulesPublished(version=version, text=text, rules=transfer_rules,
                                          notes=notes)
        w.publish(event, key=signer, subject=subject, extra={"version": version},
                  lines=describe(transfer_rules))


def _chain(ledger: provledger.Ledger | None, key: bytes) -> tuple[str, int]:
    """The signer's chain id and latest rules version (its key's own chain and
    0 without a ledger, or when the ledger does not know the key)."""
    if ledger is None:
        return provledger.authority_subject(key), 0
    try:
        auth = ledger.authority(key)
    except provledger.NotFoundError:
        return provledger.authority_subject(key), 0
    return auth.subject, auth.rules[-1].version if auth.rules else 0


def _read_rules(path: Path) -> provledger.TransferRules:
    with path.open("rb") as f:
        data = f.read(_MAX_RULES_BYTES + 1)
    if len(data) > _MAX_RULES_BYTES:
        raise provledger.DecodeError(f"{path}: larger than {_MAX_RULES_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise provledger.DecodeError(f"{path}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise provledger.DecodeError(f"{path}: expected a JSON object of rules fields")
    raw = _bytes_from_text(raw, mi.type_info(provledger.TransferRules), "$")
    return provledger.convert_fields(raw, provledger.TransferRules, what=f"{path}: rules")


@rules.command()
@click.argument("item")
@json_option
@pass_settings
def show(settings: Settings, *, item: str, as_json: bool) -> None:
    """Print the transfer rules ITEM was issued under, in plain language.

    \b
    Example:
      provledger rules show urn:provledger:item:5d1c0a3e9b7f2468:R-1001
      provledger rules show --json urn:provledger:item:5d1c0a3e9b7f2468:R-1001
    """
    item = provledger.canonical_item_id(item)
    with provledger.Ledger.open(settings.db, readonly=True) as ledger:
        state = ledger.item(item)
        issuer = ledger.authority(bytes.fromhex(
            state.issuer.removeprefix("provledger:authority:")))
    found = published(issuer, state.rules)
    document: dict[str, Any] = {"item": item, "issuer": issuer.subject,
                                "issuer_name": issuer.name, "version": state.rules,
                                "published": None, "text": None, "rules": {},
                                "plain": []}
    if found is None:
        document["plain"] = ["No transfer rules: the issuer had published none when it "
                             "issued the piece."]
        emit(as_json, document, [f"{item}: issued by {issuer.name or issuer.subject} under "
                                 "no transfer rules (version 0)"])
        return
    transfer_rules = decode_rules(found.rules)
    plain = describe(transfer_rules)
    document.update(published=rfc3339(found.time), text=found.text.hex(), plain=plain,
                    rules=_rules_json(transfer_rules))
    emit(as_json, document, [
        f"{item}: sold under {issuer.name or issuer.subject}'s transfer rules version "
        f"{state.rules}, published {rfc3339(found.time)}",
        f"text sha256:{found.text.hex()}",
        *(f"  - {line}" for line in plain)])


def _rules_json(transfer_rules: provledger.TransferRules) -> dict[str, Any]:
    fields: dict[str, Any] = msgspec.to_builtins(transfer_rules, builtin_types=(bytes,))
    if "marketplaces" in fields:
        fields["marketplaces"] = [provledger.format_public_key(k) for k in fields["marketplaces"]]
    return fields
