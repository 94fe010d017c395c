"""Make tests/data/ledger-v3.db: a ledger written before the head map was stored as tiles.

The file was made at commit 9726552 (schema 2: the Merkle tree as tiles, the
head map as one ``map_nodes`` row per node) with

    .venv/bin/python tests/data/make_ledger_v3.py tests/data/ledger-v3.db

and is kept as made: tests/test_headmap_convert.py opens a copy with the
current code to check that such a ledger still reads (read-only, from its
``map_nodes`` table) and migrates to head-map tiles when opened for
writing. Running this script with a newer provledger makes a newer file, so
do not regenerate the committed one.

Contents: as make_ledger_v2.py's (serials V3-0000 to V3-0599): 604 entries,
checkpoints at sizes 200, 256, 513 and 604, a cosignature on the last.
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


def main(dest: Path) -> None:
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
                serial = f"V3-{n:04d}"
                add(jeweler, pl.serial_item_id(jeweler.public_key, serial),
                    pl.CertificateIssued(kind="ring", serial=serial, owner=owner.public_key))
            first = pl.serial_item_id(jeweler.public_key, "V3-0000")
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
        sys.exit("usage: make_ledger_v3.py DEST.db")
    main(Path(sys.argv[1]))
