"""Encrypted private key files and public key files (provledger._keyfile)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provledger._errors import DecodeError, KeyFileError
from provledger._keyfile import (
    MAX_MEMLIMIT,
    STRENGTHS,
    read_public_key,
    read_signing_key,
    write_public_key,
    write_signing_key,
)
from provledger._keys import SigningKey, format_public_key

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors" / "keyfile"
MANIFEST: dict[str, Any] = json.loads((VECTORS / "manifest.json").read_bytes())
GENERATOR = ROOT / "spec" / "tools" / "gen_keyfile_vectors.py"

# argon2id's minimum costs: each unlock takes well under a millisecond.
LOW = (1, 8192)
PASSPHRASE = b"hunter2 but longer"
SEED = bytes(range(100, 132))

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def write_low(path: Path, key: SigningKey, **kwargs: Any) -> None:
    write_signing_key(path, key, passphrase=PASSPHRASE, _limits=LOW, **kwargs)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def private_copy(src: Path, dst_dir: Path) -> Path:
    """Vectors come out of git with mode 0644, which read_signing_key refuses."""
    dst = dst_dir / src.name
    shutil.copyfile(src, dst)
    dst.chmod(0o600)
    return dst


def edit_doc(path: Path, change: Any) -> None:
    doc = json.loads(path.read_bytes())
    change(doc)
    path.write_text(json.dumps(doc, indent=2) + "\n")


# -- round trip and writing -------------------------------------------------


def test_round_trip(tmp_path: Path) -> None:
    key = SigningKey(SEED)
    path = tmp_path / "key.json"
    write_low(path, key)
    loaded = read_signing_key(path, passphrase=PASSPHRASE)
    assert loaded.seed() == SEED
    assert loaded.public_key == key.public_key
    doc = json.loads(path.read_bytes())
    assert doc["public_key"] == format_public_key(key.public_key)
    assert SEED.hex() not in path.read_text()


def test_round_trip_interactive_strength(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "key.json"
    write_signing_key(path, key, passphrase=PASSPHRASE)
    doc = json.loads(path.read_bytes())
    assert (doc["kdf"]["opslimit"], doc["kdf"]["memlimit"]) == STRENGTHS["interactive"]
    assert read_signing_key(str(path), passphrase=PASSPHRASE).seed() == key.seed()


def test_fresh_salt_and_nonce_each_write(tmp_path: Path) -> None:
    key = SigningKey(SEED)
    write_low(tmp_path / "a.json", key)
    write_low(tmp_path / "b.json", key)
    a = json.loads((tmp_path / "a.json").read_bytes())
    b = json.loads((tmp_path / "b.json").read_bytes())
    assert a["kdf"]["salt"] != b["kdf"]["salt"]
    assert a["nonce"] != b["nonce"]
    assert a["ciphertext"] != b["ciphertext"]


@posix_only
def test_private_key_file_mode_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    write_low(path, SigningKey(SEED))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 & ~current_umask()
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    write_low(path, SigningKey(SEED))
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_low(path, SigningKey.generate())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.json"]


def test_refuses_to_overwrite_a_dangling_symlink(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(FileExistsError):
        write_low(path, SigningKey(SEED))
    assert not (tmp_path / "elsewhere.json").exists()


def test_overwrite_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    write_low(path, SigningKey.generate())
    write_low(path, SigningKey(SEED), overwrite=True)
    assert read_signing_key(path, passphrase=PASSPHRASE).seed() == SEED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.json"]


def test_no_temporary_file_left_after_a_failed_write(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_low(tmp_path / "missing-dir" / "key.json", SigningKey(SEED))
    assert list(tmp_path.iterdir()) == []


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="passphrase must not be empty"):
        write_signing_key(tmp_path / "key.json", SigningKey(SEED), passphrase=b"")
    assert not (tmp_path / "key.json").exists()
    with pytest.raises(ValueError, match="passphrase must not be empty"):
        read_signing_key(tmp_path / "key.json", passphrase=b"")


def test_text_passphrase_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="passphrase must be bytes"):
        write_signing_key(tmp_path / "k.json", SigningKey(SEED), passphrase="pw")  # type: ignore[arg-type]


def test_unknown_strength_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="strength must be one of"):
        write_signing_key(
            tmp_path / "k.json",
            SigningKey(SEED),
            passphrase=PASSPHRASE,
            strength="paranoid",  # type: ignore[arg-type]
        )


def test_key_must_be_a_signing_key(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="SigningKey"):
        write_signing_key(tmp_path / "k.json", SEED, passphrase=PASSPHRASE)  # type: ignore[arg-type]


@pytest.mark.parametrize("limits", [(0, 8192), (9, 8192), (1, 4096), (1, 8193), (1, 2 << 30)])
def test_writer_refuses_limits_a_reader_would_refuse(tmp_path: Path, limits: Any) -> None:
    with pytest.raises(ValueError, match=r"kdf (ops|mem)limit"):
        write_signing_key(
            tmp_path / "k.json", SigningKey(SEED), passphrase=PASSPHRASE, _limits=limits
        )


def test_strengths_fit_the_reader_bounds() -> None:
    assert set(STRENGTHS) == {"interactive", "moderate", "sensitive"}
    assert all(mem <= MAX_MEMLIMIT for _, mem in STRENGTHS.values())


# -- reading ----------------------------------------------------------------


def test_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    write_low(path, SigningKey(SEED))
    with pytest.raises(KeyFileError) as info:
        read_signing_key(path, passphrase=PASSPHRASE + b"!")
    assert str(info.value) == f"wrong passphrase or corrupted key file {path}"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        read_signing_key(tmp_path / "nope.json", passphrase=PASSPHRASE)


def test_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read key file"):
        read_signing_key(tmp_path, passphrase=PASSPHRASE)


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_bytes(b" " * 100_000)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="too large"):
        read_signing_key(path, passphrase=PASSPHRASE)


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o610, 0o660])
def test_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "key.json"
    write_low(path, SigningKey(SEED))
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=r"accessible by other users .* chmod 600"):
        read_signing_key(path, passphrase=PASSPHRASE)
    path.chmod(0o600)
    assert read_signing_key(path, passphrase=PASSPHRASE).seed() == SEED


@posix_only
def test_read_only_for_owner_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    write_low(path, SigningKey(SEED))
    path.chmod(0o400)
    assert read_signing_key(path, passphrase=PASSPHRASE).seed() == SEED


def _flip(field: str, index: int) -> Any:
    def change(doc: dict[str, Any]) -> None:
        holder = doc["kdf"] if field == "salt" else doc
        raw = bytearray(base64.b64decode(holder[field]))
        raw[index] ^= 0x80 if index % 2 else 0x01
        holder[field] = base64.b64encode(bytes(raw)).decode()

    return change


@pytest.mark.parametrize(("field", "size"), [("ciphertext", 48), ("nonce", 24), ("salt", 16)])
def test_any_byte_flip_in_ciphertext_nonce_or_salt_fails(
    tmp_path: Path, field: str, size: int
) -> None:
    original = tmp_path / "key.json"
    write_low(original, SigningKey(SEED))
    for index in range(size):
        path = tmp_path / f"{field}-{index}.json"
        shutil.copyfile(original, path)
        path.chmod(0o600)
        edit_doc(path, _flip(field, index))
        with pytest.raises(KeyFileError, match="wrong passphrase or corrupted key file"):
            read_signing_key(path, passphrase=PASSPHRASE)


def test_any_byte_flip_anywhere_in_the_file_never_yields_another_key(tmp_path: Path) -> None:
    original = tmp_path / "key.json"
    write_low(original, SigningKey(SEED))
    data = original.read_bytes()
    path = tmp_path / "flipped.json"
    messages = []
    for index in range(len(data)):
        flipped = bytearray(data)
        flipped[index] ^= 0x01
        path.write_bytes(bytes(flipped))
        path.chmod(0o600)
        try:
            key = read_signing_key(path, passphrase=PASSPHRASE)
        except KeyFileError as exc:
            messages.append(str(exc))
            continue
        # Only a change the JSON parser ignores may load, and then the same key.
        assert key.seed() == SEED, index
    assert messages
    assert all("\n" not in message for message in messages)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["kdf"].update(opslimit=True), "malformed"),
        (lambda d: d["kdf"].update(memlimit=8192.0), "malformed"),
        (lambda d: d.pop("nonce"), "malformed"),
        (lambda d: d.update(nonce=d["nonce"].rstrip("=") + "\n"), "nonce is not 24 bytes"),
        (lambda d: d["kdf"].update(salt="QEFCQ0RFRkdISUpLTE1OTx=="), "kdf.salt is not 16 bytes"),
        (lambda d: d.update(public_key=d["public_key"] + " "), "public_key is not in canonical"),
        (lambda d: d.update(public_key="ssh-ed25519 AAAA"), "must start with"),
        (lambda d: d["kdf"].update(memlimit=8192 + 512), "kdf memlimit"),
    ],
)
def test_malformed_fields(tmp_path: Path, change: Any, message: str) -> None:
    path = tmp_path / "key.json"
    write_low(path, SigningKey(SEED))
    edit_doc(path, change)
    with pytest.raises(KeyFileError, match=message):
        read_signing_key(path, passphrase=PASSPHRASE)


def test_non_object_json_is_not_a_key_file(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text("[1, 2]\n")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a provledger key file"):
        read_signing_key(path, passphrase=PASSPHRASE)


# -- vectors ----------------------------------------------------------------


@pytest.mark.parametrize("entry", MANIFEST["vectors"], ids=lambda e: e["file"])
def test_vector(tmp_path: Path, entry: dict[str, Any]) -> None:
    path = private_copy(VECTORS / entry["file"], tmp_path)
    passphrase = MANIFEST["passphrase"].encode()
    if entry["valid"]:
        key = read_signing_key(path, passphrase=passphrase)
        assert key.seed().hex() == entry["seed"]
        assert format_public_key(key.public_key) == entry["public_key"]
    else:
        assert entry["error"] == "KeyFileError"
        with pytest.raises(KeyFileError, match=re.escape(entry["message_contains"])):
            read_signing_key(path, passphrase=passphrase)


def test_every_vector_file_is_in_the_manifest() -> None:
    listed = {e["file"] for e in MANIFEST["vectors"]}
    on_disk = {p.name for p in VECTORS.iterdir()} - {"manifest.json", "README.md"}
    assert listed == on_disk


def test_writer_reproduces_the_valid_vector(tmp_path: Path) -> None:
    valid = next(e for e in MANIFEST["vectors"] if e["valid"])
    path = tmp_path / "key.json"
    write_signing_key(
        path,
        SigningKey(bytes.fromhex(valid["seed"])),
        passphrase=MANIFEST["passphrase"].encode(),
        _salt=bytes.fromhex(MANIFEST["kdf"]["salt"]),
        _nonce=bytes.fromhex(MANIFEST["nonce"]),
        _limits=(MANIFEST["kdf"]["opslimit"], MANIFEST["kdf"]["memlimit"]),
    )
    assert path.read_bytes() == (VECTORS / valid["file"]).read_bytes()


def test_regenerating_vectors_gives_identical_bytes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GENERATOR), str(tmp_path)], check=True, capture_output=True)
    expected = {p.name: p.read_bytes() for p in VECTORS.iterdir()}
    actual = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert actual.keys() == expected.keys()
    for name, data in expected.items():
        assert actual[name] == data, name


def test_spec_recovery_recipe_works_without_provledger(tmp_path: Path) -> None:
    spec = (ROOT / "spec" / "keyfile.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", spec, flags=re.DOTALL)
    (recipe,) = (b for b in blocks if "def recover_seed" in b)
    assert "provledger" not in recipe.replace("provledger-secret-key/v1", "")
    namespace: dict[str, Any] = {}
    exec(compile(recipe, "spec/keyfile.md", "exec"), namespace)
    valid = next(e for e in MANIFEST["vectors"] if e["valid"])
    seed = namespace["recover_seed"](str(VECTORS / valid["file"]), MANIFEST["passphrase"].encode())
    assert seed.hex() == valid["seed"]
    # and on a file written by the library with its default strength
    path = tmp_path / "key.json"
    key = SigningKey.generate()
    write_signing_key(path, key, passphrase=PASSPHRASE)
    assert namespace["recover_seed"](str(path), PASSPHRASE) == key.seed()


# -- public keys ------------------------------------------------------------


def test_public_key_file_round_trip(tmp_path: Path) -> None:
    key = SigningKey(SEED)
    path = tmp_path / "key.pub"
    write_public_key(path, key.public_key)
    assert path.read_text() == format_public_key(key.public_key) + "\n"
    assert read_public_key(str(path)) == key.public_key
    assert read_public_key(path) == key.public_key


@posix_only
def test_public_key_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "key.pub"
    write_public_key(path, SigningKey(SEED).public_key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~current_umask()


def test_public_key_file_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "key.pub"
    write_public_key(path, SigningKey(SEED).public_key)
    with pytest.raises(FileExistsError):
        write_public_key(path, SigningKey.generate().public_key)
    assert read_public_key(str(path)) == SigningKey(SEED).public_key
    other = SigningKey.generate().public_key
    write_public_key(path, other, overwrite=True)
    assert read_public_key(str(path)) == other


def test_read_public_key_accepts_the_text_form() -> None:
    key = SigningKey(SEED)
    assert read_public_key(format_public_key(key.public_key)) == key.public_key


def test_read_public_key_accepts_crlf(tmp_path: Path) -> None:
    key = SigningKey(SEED)
    path = tmp_path / "key.pub"
    path.write_bytes(format_public_key(key.public_key).encode() + b"\r\n")
    assert read_public_key(str(path)) == key.public_key


def test_read_public_key_bad_text_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        read_public_key("ed25519:tooshort")


def test_read_public_key_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        read_public_key(str(tmp_path / "nope.pub"))


@pytest.mark.parametrize(
    "content",
    [b"", b"ed25519:tooshort\n", b"\xff\xfe", b"ed25519:" + b"A" * 43 + b"\ned25519:x\n"],
)
def test_read_public_key_bad_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "key.pub"
    path.write_bytes(content)
    with pytest.raises(KeyFileError, match="does not hold one public key"):
        read_public_key(str(path))


def test_write_public_key_checks_length(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        write_public_key(tmp_path / "key.pub", b"\x00" * 31)
