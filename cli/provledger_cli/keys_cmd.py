"""Keys: create a ledger with its root and log keys, make key files, rotate and revoke keys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, Literal, cast

import click

import provledger

from ._common import (
    Settings,
    emit,
    fmt_key,
    json_option,
    notes_option,
    pass_settings,
    passphrase,
    unlock,
)
from ._params import PUBLIC_KEY, TIME
from ._write import WriteOptions, open_writer, write_options

Strength = Literal["interactive", "moderate", "sensitive"]
_STRENGTHS: Final = ("interactive", "moderate", "sensitive")
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

strength_option = click.option(
    "--strength", type=click.Choice(_STRENGTHS), default="interactive", show_default=True,
    help="argon2id cost of unlocking the key file (interactive ~0.1 s, moderate ~1 s, "
         "sensitive ~5 s and 1 GiB).",
)


def _refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise provledger.KeyFileError(
                f"{path} already exists; refusing to overwrite a key file"
            )


def _write_pair(directory: Path, name: str, key: provledger.SigningKey, *, secret: bytes,
                strength: Strength) -> tuple[Path, Path]:
    """Write ``name.key`` (encrypted, 0600) and ``name.pub`` in ``directory``."""
    key_file, pub_file = directory / f"{name}.key", directory / f"{name}.pub"
    provledger.write_signing_key(key_file, key, passphrase=secret, strength=strength)
    provledger.write_public_key(pub_file, key.public_key)
    return key_file, pub_file


@click.command()
@click.option("--origin", required=True,
              help="The log's name in every statement: a schema-less URL such as "
                   "ledger.example.com/rings.")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the new key files [default: <db stem>-keys/ next to --db; "
                   "required with a postgresql:// --db].")
@strength_option
@json_option
@pass_settings
def init(settings: Settings, *, origin: str, keys_dir: Path | None, strength: str,
         as_json: bool) -> None:
    """Create a new, empty ledger and its two keys.

    Writes root.key/root.pub (the root authority, which grants the issuer
    role) and log.key/log.pub (signs checkpoints) into the keys directory,
    both encrypted under one passphrase, then creates the ledger file given
    by --db. Refuses to touch an existing ledger or key file.

    \b
    Example:
      provledger --db rings.db init --origin ledger.maison-rose.example/rings
    """
    if isinstance(settings.db, str):
        # The database refuses a second ledger itself (Ledger.create).
        if keys_dir is None:
            raise click.UsageError("with a postgresql:// --db, give --keys DIR for the new "
                                   "key files")
        directory = keys_dir
    else:
        if settings.db.exists():
            raise provledger.StorageError(f"{settings.db}: already exists; refusing to "
                                          "overwrite a ledger")
        directory = keys_dir or settings.db.parent / f"{settings.db.stem}-keys"
    names = ("root", "log")
    _refuse_existing(*(directory / f"{n}.{ext}" for n in names for ext in ("key", "pub")))
    keys = {n: provledger.SigningKey.generate() for n in names}
    secret = passphrase("the new root and log keys", confirm=True)
    made_directory = not directory.exists()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: list[Path] = []
    for name, key in keys.items():
        written.extend(_write_pair(directory, name, key, secret=secret,
                                   strength=cast(Strength, strength)))
    try:
        ledger = provledger.Ledger.create(settings.db, origin=origin,
                                          root_key=keys["root"].public_key,
                                          log_key=keys["log"].public_key)
    except (ValueError, provledger.StorageError) as exc:
        # Key files for a ledger that was never made would only mislead.
        for path in written:
            path.unlink(missing_ok=True)
        if made_directory:
            directory.rmdir()
        if isinstance(exc, provledger.StorageError):
            raise  # e.g. the database already holds a ledger
        raise click.BadParameter(str(exc), param_hint="--origin") from None
    ledger.close()
    root, log = fmt_key(keys["root"].public_key), fmt_key(keys["log"].public_key)
    emit(as_json, {"db": str(settings.db), "origin": origin, "keys": str(directory),
                   "root_key": root, "log_key": log},
         [f"created ledger {settings.db} for origin {origin}",
          f"root key {root} ({directory / 'root.key'})",
          f"log key  {log} ({directory / 'log.key'})"])


@click.group()
def key() -> None:
    """Make and inspect key files; rotate and revoke authority keys.

    \b
    Examples:
      provledger key new maison-rose --dir keys
      provledger key wallet my.wallet
    """


@key.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path(), show_default=True, help="Where to write the key files.")
@strength_option
@json_option
def key_new(name: str, directory: Path, strength: str, as_json: bool) -> None:
    """Create a key pair: NAME.key (encrypted, mode 0600) and NAME.pub.

    Asks for the new passphrase twice unless $PROVLEDGER_PASSPHRASE is set,
    and prints the public key to hand to whoever authorizes you.

    \b
    Example:
      provledger key new atelier-dupont --dir ~/.provledger
    """
    if not _NAME.fullmatch(name):
        raise click.BadParameter("use up to 100 characters of A-Z a-z 0-9 . _ -",
                                 param_hint="NAME")
    _refuse_existing(directory / f"{name}.key", directory / f"{name}.pub")
    new = provledger.SigningKey.generate()
    secret = passphrase(f"the new key {name}", confirm=True)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file, pub_file = _write_pair(directory, name, new, secret=secret,
                                     strength=cast(Strength, strength))
    text = fmt_key(new.public_key)
    if not as_json:
        click.echo(f"wrote {key_file} and {pub_file}", err=True)
    emit(as_json, {"public_key": text, "key_file": str(key_file),
                   "public_key_file": str(pub_file)}, [text])


@key.command("wallet")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@strength_option
@json_option
def key_wallet(file: Path, strength: str, as_json: bool) -> None:
    """Create a wallet FILE (encrypted, mode 0600): one secret, a separate owner key per piece.

    Give the wallet wherever an owner key is asked for (--key, --owner,
    --buyer, --new-owner): the key of the command's item is derived from it,
    so your pieces do not share a key and cannot be linked on the ledger.
    Losing the wallet (or its passphrase) loses the key of every piece in
    it: keep a backup (spec/wallet.md).

    \b
    Examples:
      provledger key wallet ~/.provledger/my.wallet
      provledger key owner-key --wallet ~/.provledger/my.wallet ITEM
      provledger transfer accept ITEM --key ~/.provledger/my.wallet --escrow ESCROW_ID
    """
    _refuse_existing(file)
    wallet = provledger.Wallet.generate()
    secret = passphrase(f"the new wallet {file}", confirm=True)
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    provledger.write_wallet(file, wallet, passphrase=secret, strength=cast(Strength, strength))
    emit(as_json, {"wallet": str(file)}, [f"wrote wallet {file}"])


@key.command("owner-key")
@click.option("--wallet", "wallet_file", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Your wallet file (`provledger key wallet`).")
@click.argument("item")
@json_option
def key_owner_key(wallet_file: Path, item: str, as_json: bool) -> None:
    """Print the public owner key of ITEM derived from a wallet.

    Hand it to the seller (transfer open --buyer) or to the jeweler at the
    counter (issue --owner); another piece gives an unrelated key. Any
    spelling of ITEM gives the same key: that of its canonical id (in --json).

    \b
    Example:
      provledger key owner-key --wallet my.wallet \\
        https://shop.example/01/09506000134352/21/R-1001
    """
    try:
        canonical = provledger.canonical_item_id(item)
    except provledger.ItemIdError as exc:
        raise click.BadParameter(str(exc), param_hint="ITEM") from None
    wallet = provledger.read_wallet(wallet_file,
                                    passphrase=passphrase(f"wallet {wallet_file}"))
    text = fmt_key(wallet.owner_public_key(canonical))
    emit(as_json, {"public_key": text, "item": canonical, "wallet": str(wallet_file)}, [text])


@key.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def key_show(file: Path, as_json: bool) -> None:
    """Print the public key of FILE: a .pub file, or a .key file (asks its passphrase).

    A private key file is decrypted, so the key printed is the one it really
    holds.

    \b
    Example:
      provledger key show keys/root.key
    """
    if _looks_like_json(file):
        public_key = unlock(file).public_key
    else:
        public_key = provledger.read_public_key(file)
    emit(as_json, {"public_key": fmt_key(public_key), "file": str(file)}, [fmt_key(public_key)])


def _looks_like_json(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(64).lstrip().startswith(b"{")
    except OSError:
        return False  # read_public_key reports the problem


@key.command("rotate")
@click.option("--new", "new_key", type=PUBLIC_KEY, required=True,
              help="The replacement public key (ed25519:... or a .pub file).")
@click.option("--subject", help="With -o and no ledger: the signer's authority chain id.")
@pass_settings
@write_options
def key_rotate(settings: Settings, *, opts: WriteOptions, new_key: bytes,
               subject: str | None) -> None:
    """Replace your authority's current key (--key) with a new one.

    Statements signed with the old key after the rotation are refused; use
    the new key's file from then on.

    \b
    Example:
      provledger key new atelier-2027
      provledger key rotate --key atelier-dupont.key --new atelier-2027.pub
    """
    with open_writer(settings, opts) as w:
        signer = w.unlock()
        chain = subject or w.need_ledger("--subject").authority(signer.public_key).subject
        w.publish(provledger.KeyRotated(new_key=new_key), key=signer, subject=chain)


@key.command("revoke")
@click.argument("target", type=PUBLIC_KEY)
@click.option("--since", type=TIME, required=True,
              help="When the key was compromised (2026-11-20, 2026-11-20T10:00:00Z or unix "
                   "seconds); entries it signed from then on are invalid.")
@click.option("--subject", help="With -o and no ledger: the target's authority chain id.")
@notes_option
@pass_settings
@write_options
def key_revoke(settings: Settings, *, opts: WriteOptions, target: bytes, since: int,
               subject: str | None, notes: str) -> None:
    """Revoke TARGET (ed25519:... or a .pub file) as compromised.

    Signed by the authority that created TARGET's authority (the root for an
    issuer, the issuer for its workshops, reporters and attesters); only the
    root revokes its own former keys. Entries TARGET signed at or after
    --since are invalidated in histories, audits and verification; if TARGET
    was rotated away at or after --since, its successors are void too and
    the authority needs a new key (`provledger authorize NEW.pub --subject
    CHAIN-ID`).

    \b
    Example:
      provledger key revoke --key keys/root.key atelier-dupont.pub \\
        --since 2026-11-20T08:00:00Z --notes "laptop stolen"
    """
    with open_writer(settings, opts) as w:
        chain = subject or w.need_ledger("--subject").authority(target).subject
        signer = w.unlock()
        w.publish(provledger.KeyRevoked(key=target, compromised_since=since, notes=notes),
                  key=signer, subject=chain)
