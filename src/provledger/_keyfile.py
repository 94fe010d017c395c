"""Key files: passphrase-encrypted Ed25519 private keys and wallet seeds, and
public key text files.

A private key file is a small JSON document (spec/keyfile.md). argon2id turns
the passphrase into a 32-byte key; XChaCha20-Poly1305 (IETF) encrypts the
32-byte seed with every other field of the document as associated data, so
neither the seed nor the metadata beside it (format, public key, KDF
parameters, salt, nonce) can be changed without the passphrase going wrong.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import secrets
import shlex
from pathlib import Path
from typing import Final, Literal

import msgspec
import nacl.bindings
import nacl.exceptions
import nacl.pwhash.argon2id

from ._errors import DecodeError, KeyFileError
from ._keys import PUBLIC_KEY_PREFIX, SigningKey, format_public_key, parse_public_key

FORMAT: Final = "provledger-secret-key/v1"
#: The same document holding a wallet seed (spec/wallet.md). Only ``format``
#: differs, and it is in the associated data: neither kind of file can be
#: relabelled as the other, and older readers call a wallet an unknown format.
WALLET_FORMAT: Final = "provledger-wallet/v1"
_KINDS: Final = {FORMAT: "a signing key file", WALLET_FORMAT: "a wallet file"}
KDF_ALG: Final = "argon2id13"
AEAD_ALG: Final = "xchacha20poly1305-ietf"

Strength = Literal["interactive", "moderate", "sensitive"]

#: (opslimit, memlimit) for each strength: libsodium's argon2id presets.
STRENGTHS: Final[dict[str, tuple[int, int]]] = {
    "interactive": (2, 64 * 1024 * 1024),
    "moderate": (3, 256 * 1024 * 1024),
    "sensitive": (4, 1024 * 1024 * 1024),
}

# What a file may ask of us. The ceilings stop a hostile file from making
# read_signing_key burn unbounded memory or time: the "sensitive" preset's
# memory and twice its passes, several seconds of work on a laptop.
MIN_OPSLIMIT: Final = 1
MAX_OPSLIMIT: Final = 8
MIN_MEMLIMIT: Final = 8 * 1024
MAX_MEMLIMIT: Final = 1024 * 1024 * 1024

SALT_BYTES: Final = 16
NONCE_BYTES: Final = 24
SEED_BYTES: Final = 32
CIPHERTEXT_BYTES: Final = SEED_BYTES + 16  # the seed and the Poly1305 tag

# A real private key file is about 400 bytes, a public key file 52.
_MAX_SECRET_FILE_BYTES: Final = 64 * 1024
_MAX_PUBLIC_FILE_BYTES: Final = 4 * 1024

StrPath = str | os.PathLike[str]


class _Kdf(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alg: str
    opslimit: int
    memlimit: int
    salt: str


class _SecretKeyFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: str
    public_key: str
    kdf: _Kdf
    aead: str
    nonce: str
    ciphertext: str


class _FormatProbe(msgspec.Struct, frozen=True):
    """Just the ``format`` field, so another version is named as such."""

    format: str


def write_signing_key(
    path: StrPath,
    key: SigningKey,
    *,
    passphrase: bytes,
    strength: Strength = "interactive",
    overwrite: bool = False,
    _salt: bytes | None = None,
    _nonce: bytes | None = None,
    _limits: tuple[int, int] | None = None,
) -> None:
    """Encrypt ``key`` under ``passphrase`` and write it to ``path``, mode 0600.

    The file appears atomically and complete, or not at all. ``strength``
    picks the argon2id cost (see :data:`STRENGTHS`); reading the file later
    costs the same. The passphrase is used as given, byte for byte.

    ``_salt``, ``_nonce`` and ``_limits`` (opslimit, memlimit) exist only for
    the test vector generator and tests; never pass them otherwise.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        OSError: the file cannot be written.
        TypeError: ``key`` is not a SigningKey or ``passphrase`` is not bytes.
        ValueError: ``passphrase`` is empty or ``strength`` is unknown.
    """
    if not isinstance(key, SigningKey):
        raise TypeError(f"key must be a SigningKey, not {type(key).__name__}")
    write_key_file(path, key.seed(), file_format=FORMAT, passphrase=passphrase,
                      strength=strength, overwrite=overwrite, _salt=_salt, _nonce=_nonce,
                      _limits=_limits)


def write_key_file(
    path: StrPath,
    seed: bytes,
    *,
    file_format: str,
    passphrase: bytes,
    strength: Strength = "interactive",
    overwrite: bool = False,
    _salt: bytes | None = None,
    _nonce: bytes | None = None,
    _limits: tuple[int, int] | None = None,
) -> None:
    """Write ``seed`` as a key file of ``file_format`` (:data:`FORMAT` or
    :data:`WALLET_FORMAT`); otherwise as :func:`write_signing_key`.

    Raises:
        As write_signing_key; ValueError also for another format or a seed
        that is not 32 bytes.
    """
    if file_format not in _KINDS:
        raise ValueError(f"file_format must be one of {sorted(_KINDS)}, not {file_format!r}")
    _check_passphrase(passphrase)
    if _limits is None:
        if strength not in STRENGTHS:
            raise ValueError(f"strength must be one of {sorted(STRENGTHS)}, not {strength!r}")
        _limits = STRENGTHS[strength]
    opslimit, memlimit = _limits
    problem = _limits_problem(opslimit, memlimit)
    if problem is not None:
        raise ValueError(problem)
    data = _seal(
        seed=seed,
        public_key=SigningKey(seed).public_key,
        passphrase=passphrase,
        opslimit=opslimit,
        memlimit=memlimit,
        salt=secrets.token_bytes(SALT_BYTES) if _salt is None else _salt,
        nonce=secrets.token_bytes(NONCE_BYTES) if _nonce is None else _nonce,
        file_format=file_format,
    )
    _write_atomically(Path(path), data, mode=0o600, overwrite=overwrite)


def read_signing_key(path: StrPath, *, passphrase: bytes) -> SigningKey:
    """Decrypt the private key file at ``path``.

    Every field is checked before the key derivation runs, and the derivation
    cost a file may ask for is capped (:data:`MAX_OPSLIMIT`,
    :data:`MAX_MEMLIMIT`). On POSIX the file must not be accessible by group
    or others, as ssh requires of its keys.

    Raises:
        KeyFileError: the file is missing or unreadable, open to other users,
            not JSON, of an unknown format or algorithm, asks for KDF costs
            outside the bounds, the passphrase is wrong or the file was
            changed, or the key inside does not match the stored public key.
        TypeError: ``passphrase`` is not bytes.
        ValueError: ``passphrase`` is empty.
    """
    return read_key_file(path, passphrase=passphrase, file_format=FORMAT)


def read_key_file(path: StrPath, *, passphrase: bytes, file_format: str) -> SigningKey:
    """Decrypt the key file at ``path``, which must be of ``file_format``; the
    key pair of its seed. A file of the other known format is named as such.

    Raises:
        As read_signing_key.
    """
    _check_passphrase(passphrase)
    path = Path(path)
    unverified = _parse(path, _read_secret_file(path), file_format)
    salt = _unb64(unverified.kdf.salt, SALT_BYTES, path=path, what="kdf.salt")
    nonce = _unb64(unverified.nonce, NONCE_BYTES, path=path, what="nonce")
    ciphertext = _unb64(unverified.ciphertext, CIPHERTEXT_BYTES, path=path, what="ciphertext")
    try:
        stored_public_key = parse_public_key(unverified.public_key)
    except DecodeError as exc:
        raise KeyFileError(f"key file {path}: {exc}") from None
    if format_public_key(stored_public_key) != unverified.public_key:
        raise KeyFileError(f"key file {path}: public_key is not in canonical form")

    box_key = _derive(passphrase, salt, unverified.kdf.opslimit, unverified.kdf.memlimit)
    try:
        seed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            ciphertext, _associated_data(unverified), nonce, box_key
        )
    except nacl.exceptions.CryptoError:
        raise KeyFileError(f"wrong passphrase or corrupted key file {path}") from None
    key = SigningKey(seed)
    if key.public_key != stored_public_key:
        # Only a writer that knew the passphrase can get here: the header is
        # authenticated, so this is a wrongly made file, not a damaged one.
        raise KeyFileError(
            f"key file {path} holds the private key of {format_public_key(key.public_key)}, "
            f"not of its stated public key {unverified.public_key}"
        )
    return key


def write_public_key(path: StrPath, public_key: bytes, *, overwrite: bool = False) -> None:
    """Write the text form of ``public_key`` and a newline to ``path``, mode 0644.

    The mode is subject to the umask. The file appears atomically.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        OSError: the file cannot be written.
        ValueError: ``public_key`` is not 32 bytes.
    """
    data = (format_public_key(public_key) + "\n").encode("ascii")
    _write_atomically(Path(path), data, mode=0o644, overwrite=overwrite)


def read_public_key(path_or_text: StrPath) -> bytes:
    """The 32 raw bytes of a public key given as ``ed25519:...`` text or a file.

    A string starting with ``ed25519:`` is the key itself; anything else is a
    path to a file holding that text (as :func:`write_public_key` makes). To
    read a file whose name starts with ``ed25519:``, pass ``./ed25519:...``.

    Raises:
        DecodeError: the text given directly is not a well-formed key.
        KeyFileError: the file is missing, unreadable, or does not hold one
            well-formed key.
    """
    if isinstance(path_or_text, str) and path_or_text.strip().startswith(PUBLIC_KEY_PREFIX):
        return parse_public_key(path_or_text)
    path = Path(path_or_text)
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_PUBLIC_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(
            f"public key file {path} does not exist "
            f"(expected a file or a key of the form {PUBLIC_KEY_PREFIX}...)"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot read public key file {path}: {exc.strerror}") from None
    except ValueError:  # a NUL byte in the "path": it was neither a key nor a file name
        raise KeyFileError(f"{str(path_or_text)[:40]!r} is neither a public key "
                           f"({PUBLIC_KEY_PREFIX}...) nor a file") from None
    if len(data) > _MAX_PUBLIC_FILE_BYTES:
        raise KeyFileError(f"public key file {path} is too large to be a public key")
    try:
        return parse_public_key(data.decode("ascii"))
    except (UnicodeDecodeError, DecodeError) as exc:
        raise KeyFileError(f"public key file {path} does not hold one public key: {exc}") from None


# -- format -----------------------------------------------------------------


def _seal(
    *,
    seed: bytes,
    public_key: bytes,
    passphrase: bytes,
    opslimit: int,
    memlimit: int,
    salt: bytes,
    nonce: bytes,
    file_format: str = FORMAT,
) -> bytes:
    """The bytes of a key file; ``public_key`` is stored as given, unchecked."""
    if len(seed) != SEED_BYTES or len(salt) != SALT_BYTES or len(nonce) != NONCE_BYTES:
        raise ValueError("seed, salt and nonce must be 32, 16 and 24 bytes")
    header = _SecretKeyFile(
        format=file_format,
        public_key=format_public_key(public_key),
        kdf=_Kdf(alg=KDF_ALG, opslimit=opslimit, memlimit=memlimit, salt=_b64(salt)),
        aead=AEAD_ALG,
        nonce=_b64(nonce),
        ciphertext="",
    )
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        seed, _associated_data(header), nonce, _derive(passphrase, salt, opslimit, memlimit)
    )
    document = msgspec.structs.replace(header, ciphertext=_b64(ciphertext))
    return msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"


def _associated_data(doc: _SecretKeyFile) -> bytes:
    """Every field but ``ciphertext``, one ``name=value`` line each, in file order.

    Callers pass only checked documents, whose values are ASCII without
    newlines, so the lines cannot be confused with one another.
    """
    fields = (
        ("format", doc.format),
        ("public_key", doc.public_key),
        ("kdf.alg", doc.kdf.alg),
        ("kdf.opslimit", str(doc.kdf.opslimit)),
        ("kdf.memlimit", str(doc.kdf.memlimit)),
        ("kdf.salt", doc.kdf.salt),
        ("aead", doc.aead),
        ("nonce", doc.nonce),
    )
    return "".join(f"{name}={value}\n" for name, value in fields).encode("ascii")


def file_format_of(path: StrPath) -> str:
    """The ``format`` a private key file states, read without its passphrase.

    Raises:
        KeyFileError: as read_signing_key, up to and including the format.
    """
    path = Path(path)
    return _probe(path, _read_secret_file(path)).format


def _probe(path: Path, data: bytes) -> _FormatProbe:
    try:
        return msgspec.json.decode(data, type=_FormatProbe)
    except msgspec.ValidationError as exc:
        raise KeyFileError(f"key file {path} is not a provledger key file: {exc}") from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        raise KeyFileError(f"key file {path} is not JSON") from None


def _parse(path: Path, data: bytes, expected: str = FORMAT) -> _SecretKeyFile:
    """Decode and check everything that can be checked without the passphrase."""
    probe = _probe(path, data)
    if probe.format != expected and probe.format in _KINDS:
        raise KeyFileError(
            f"key file {path} is {_KINDS[probe.format]} ({probe.format}), "
            f"not {_KINDS[expected]} ({expected})"
        )
    if probe.format != expected:
        raise KeyFileError(
            f"key file {path} has unknown format {probe.format!r}, expected {expected!r}"
        )
    try:
        unverified = msgspec.json.decode(data, type=_SecretKeyFile)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"key file {path} is malformed: {exc}") from None
    if unverified.kdf.alg != KDF_ALG:
        raise KeyFileError(
            f"key file {path} uses unsupported kdf {unverified.kdf.alg!r}, expected {KDF_ALG!r}"
        )
    if unverified.aead != AEAD_ALG:
        raise KeyFileError(
            f"key file {path} uses unsupported aead {unverified.aead!r}, expected {AEAD_ALG!r}"
        )
    problem = _limits_problem(unverified.kdf.opslimit, unverified.kdf.memlimit)
    if problem is not None:
        raise KeyFileError(f"key file {path}: {problem}")
    return unverified


def _limits_problem(opslimit: int, memlimit: int) -> str | None:
    if not MIN_OPSLIMIT <= opslimit <= MAX_OPSLIMIT:
        return f"kdf opslimit {opslimit} must be from {MIN_OPSLIMIT} to {MAX_OPSLIMIT}"
    if not MIN_MEMLIMIT <= memlimit <= MAX_MEMLIMIT or memlimit % 1024:
        return (
            f"kdf memlimit {memlimit} must be a multiple of 1024 "
            f"from {MIN_MEMLIMIT} to {MAX_MEMLIMIT} bytes"
        )
    return None


def _derive(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
        passphrase,
        salt,
        opslimit=opslimit,
        memlimit=memlimit,
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, size: int, *, path: Path, what: str) -> bytes:
    """Strict RFC 4648 base64 (padded, no line breaks) of exactly ``size`` bytes."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = None
    if raw is None or len(raw) != size or _b64(raw) != text:
        raise KeyFileError(f"key file {path}: {what} is not {size} bytes of canonical base64")
    return raw


def _check_passphrase(passphrase: bytes) -> None:
    if not isinstance(passphrase, bytes):
        raise TypeError(
            f"passphrase must be bytes (encode text as UTF-8), not {type(passphrase).__name__}"
        )
    if not passphrase:
        raise ValueError("passphrase must not be empty")


# -- files ------------------------------------------------------------------


def _read_secret_file(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            # Checked on the open file, so a chmod or swap in between cannot
            # slip past. Windows has no such mode bits to check.
            if os.name != "nt" and mode & 0o077:
                raise KeyFileError(
                    f"key file {path} is accessible by other users (mode {mode & 0o777:04o}); "
                    f"run: chmod 600 {shlex.quote(str(path))}"
                )
            data = f.read(_MAX_SECRET_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    if len(data) > _MAX_SECRET_FILE_BYTES:
        raise KeyFileError(f"key file {path} is too large to be a key file")
    return data


def _write_atomically(path: Path, data: bytes, *, mode: int, overwrite: bool) -> None:
    """Write a temporary file beside ``path``, fsync it, move it in, fsync the directory."""
    if not overwrite and os.path.lexists(path):
        raise _exists(path)
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: the file is new and ours, never a planted file or symlink; the
    # mode is set at creation, so the secret is never readable by others.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
        _fsync_directory(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _link_no_clobber(tmp: Path, path: Path) -> None:
    # A hard link fails if the target exists, closing the race between the
    # existence check and the rename; the caller then removes tmp.
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _exists(path) from None
    except OSError:
        # File systems without hard links (FAT, some network shares).
        if os.path.lexists(path):
            raise _exists(path) from None
        os.replace(tmp, path)


def _exists(path: Path) -> FileExistsError:
    return FileExistsError(
        errno.EEXIST, "refusing to overwrite an existing file (pass overwrite=True)", str(path)
    )


def _fsync_directory(directory: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
