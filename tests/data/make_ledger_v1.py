"""Make tests/data/ledger-v1.db: a ledger written by provledger before cosignatures.

The file was made at commit 6b7b31b (schema 1, no ``cosignatures`` table) with

    .venv/bin/python tests/data/make_ledger_v1.py tests/data/ledger-v1.db

and is kept as made: tests/test_cosignatures.py opens a copy with the current
code to check that old ledgers still open, migrate, and take cosignatures.
Running this script with a newer provledger makes a newer file, so do not
regenerate the committed one.

Contents: origin ``test.example/ledger``, keys as in tests/conftest.py
(SHA-256 of "test key <name>"), an issuer grant and two certificates
(3 entries), checkpoint 0 at size 2 and checkpoint 1 at size 3. It is a
backup copy: one self-contained file in rollback-journal mode.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import provledger as pl

ORIGIN = "test.example/ledger"
T0 = 1_800_000_000


def key(name: str) -> pl.SigningKey:
    return pl.SigningKey(hashlib.sha256(f"test key {name}".encode()).digest())


def main(dest: Path) -> None:
    t = [T0]

    def clock() -> float:
        return float(t[0])

    root, log, jeweler, owner = key("root"), key("log"), key("jeweler"), key("owner")
    with tempfile.TemporaryDirectory() as tmp:
        ledger = pl.Ledger.create(Path(tmp) / "ledger.db", origin=ORIGIN,
                                  root_key=root.public_key, log_key=log.public_key, clock=clock)
        with ledger:
            def add(signer: pl.SigningKey, subject: str, event: pl.Event) -> None:
                t[0] += 1
                ledger.append(pl.sign_statement(event, key=signer, origin=ORIGIN,
                                                subject=subject, prev=ledger.head(subject),
                                                time=t[0]))

            add(root, pl.authority_subject(jeweler.public_key),
                pl.RoleGranted(key=jeweler.public_key, name="Jeweler", role="issuer"))
            for serial in ("V1-0001", "V1-0002"):
                add(jeweler, pl.serial_item_id(jeweler.public_key, serial),
                    pl.CertificateIssued(kind="ring", serial=serial, owner=owner.public_key))
                t[0] += 1
                ledger.sign_checkpoint(log)
            ledger.backup(dest)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_ledger_v1.py DEST.db")
    main(Path(sys.argv[1]))
