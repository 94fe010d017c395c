"""Make tests/data/ledger-v2.db: a ledger written before the tree was stored as tiles.

The file was made at commit 0ab223c (schema 1 with the ``cosignatures``
table, the Merkle tree as one ``tree`` row per perfect subtree) with

    .venv/bin/python tests/data/make_ledger_v2.py tests/data/ledger-v2.db

and is kept as made: tests/test_store.py opens a copy with the current code
to check that such a ledger still reads (read-only, from its ``tree`` table)
and migrates to tiles when opened for writing. Running this script with a
newer provledger makes a newer file, so do not regenerate the committed one.

Contents: origin ``test.example/ledger``, keys as in tests/conftest.py
(SHA-256 of "test key <name>"), an issuer and a service grant, 600
certificates, a repair and a loss report on the first item (604 entries:
two full level-0 tiles and a partial one), checkpoints at sizes 200, 256,
513 and 604, and a cosignature by ``witness.test.example`` (key "test key
witness") on the last. It is a backup copy: one self-contained file in
rollback-journal mode.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import provledger as pl
from provledger._note import SIG_COSIGNATURE_V1, NoteVerifier, cosign_checkpoint, parse_note

ORIGIN = "test.example/ledger"
T0 = 1_800_000_000
WITNESS = "witness.test.example"
CERTIFICATES = 600
CHECKPOINTS = (200, 256, 513)


def key(name: str) -> pl.SigningKey:
    return pl.SigningKey(hashlib.sha256(f"test key {name}".encode()).digest())


def main(dest: Path, series: str = "V2") -> None:
    """Write the ledger to ``dest``; serials are ``series``-0000 on."""
    t = [T0]

    def clock() -> float:
        return float(t[0])

    root, log, jeweler, workshop, owner = (key(n) for n in ("root", "log", "jeweler",
                                                             "workshop", "owner"))
    with tempfile.TemporaryDirectory() as tmp:
        ledger = pl.Ledger.create(Path(tmp) / "ledger.db", origin=ORIGIN,
                                  root_key=root.public_key, log_key=log.public_key, clock=clock)
        with ledger:
            def add(signer: pl.SigningKey, subject: str, event: pl.Event) -> None:
                t[0] += 1
                ledger.append(pl.sign_statement(event, key=signer, origin=ORIGIN,
                                                subject=subject, prev=ledger.head(subject),
                                                time=t[0]))
                if len(ledger) in CHECKPOINTS:
                    t[0] += 1
                    ledger.sign_checkpoint(log)

            add(root, pl.authority_subject(jeweler.public_key),
                pl.RoleGranted(key=jeweler.public_key, name="Jeweler", role="issuer"))
            add(jeweler, pl.authority_subject(workshop.public_key),
                pl.RoleGranted(key=workshop.public_key, name="Workshop", role="service"))
            for n in range(CERTIFICATES):
                serial = f"{series}-{n:04d}"
                add(jeweler, pl.serial_item_id(jeweler.public_key, serial),
                    pl.CertificateIssued(kind="ring", serial=serial, owner=owner.public_key))
            first = pl.serial_item_id(jeweler.public_key, f"{series}-0000")
            add(workshop, first, pl.RepairRecorded(work="Resize", category="service",
                                                   performed_by="Workshop", started=1,
                                                   completed=2))
            add(owner, first, pl.LostReported())
            t[0] += 1
            signed = ledger.sign_checkpoint(log)
            witness = NoteVerifier(WITNESS, key("witness").public_key, SIG_COSIGNATURE_V1)
            line = cosign_checkpoint(parse_note(signed.note).text, name=WITNESS,
                                     key=key("witness"), timestamp=t[0]).line
            ledger.add_cosignatures(signed.seq, line, [witness])
            ledger.backup(dest)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_ledger_v2.py DEST.db")
    main(Path(sys.argv[1]))
