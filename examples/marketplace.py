"""A marketplace checks a jewel's provenance offline: one bundle file, one trust policy.

Nothing here opens a ledger or the network: verify_bundle needs the file's
bytes, the policy (which logs, issuer roots and witnesses to trust) and the
time, read once. A seller's listing passes only if the certificate, every
repair and appraisal, the current owner and the status all check out against
a checkpoint that is fresh.

Usage:
    python examples/marketplace.py BUNDLE POLICY [NOW]  # verify a bundle you were given
    python examples/marketplace.py                      # build a demo ledger, verify its bundle

NOW (Unix seconds) verifies as of another time than the clock's, e.g. for
spec/vectors/bundle/valid.bundle, whose checkpoint is long stale.

Without arguments it plays the jeweler first, in a temporary directory: a ring
is certified (with an engraving), repaired and appraised, the log signs a
checkpoint, two of the three witnesses the policy names cosign it (its quorum
is any two: the third is down), and the ring's bundle and the policy are
exported. The free text is committed on the ledger (`Ledger.record`); the
seller's bundle discloses the inscription and the repair's work to the
marketplace, and nothing else. Then, as the marketplace, it verifies the
bundle, showing the disclosed text (each checked against its signed
commitment) and how many fields stay private, and shows two copies being
refused: one with a byte of the appraisal changed, one with a byte of the
disclosed inscription changed.
"""

from __future__ import annotations

import datetime
import sys
import tempfile
import time
from pathlib import Path

import provledger as pl

#: The engraving the seller discloses (demo only).
INSCRIPTION = "Pour Camille, 2019"


def when(t: int) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def show(report: pl.Report, now: int) -> None:
    """Print what a buyer needs to know."""
    cp = report.checkpoint
    assert cp is not None  # a verified bundle holds as of its checkpoint
    print(f"  item         {report.item}")
    print(f"  status       {report.status}")
    print(f"  owner        {pl.format_public_key(report.owner)}")
    print(f"  issuer       {report.issuer_name} ({report.issuer})")
    print(f"  attested by  {', '.join(report.attested_by) or '-'}")
    print(f"  checkpoint   {cp.origin} size {cp.size}, signed {when(cp.time)} "
          f"({now - cp.time} s ago)")
    if cp.witnesses:
        print(f"  witnessed by {', '.join(w.name for w in cp.witnesses)}")
    for escrow in report.escrows:
        print(f"  escrow       {escrow.state} ({escrow.id.hex()[:16]})")
    print("  history")
    for e in report.events:
        # Text fields appear only when disclosed (checked against the
        # signature's commitment), or when signed in clear (the earlier format).
        detail = {k: v for k, v in e.fields.items()
                  if k in ("kind", "serial", "inscription", "work", "performed_by",
                           "value_minor", "currency", "appraiser", "reference", "notes")}
        signer = e.signed_as or pl.format_public_key(e.signer)
        line = f"    {e.index:>5}  {when(e.time)}  {e.type:<19} by {signer}  "
        line += " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                         for k, v in detail.items())
        if e.withheld:
            line += f"  ({e.withheld} private field{'s' if e.withheld > 1 else ''} not disclosed)"
        print(line.rstrip())
    for warning in report.warnings:
        print(f"  warning      {warning}")


def check(data: bytes, policy: pl.Policy, now: int, label: str) -> bool:
    """Verify ``data``; print the report or the first failure. True if it verified."""
    try:
        report = pl.verify_bundle(data, policy=policy, now=now)
    except pl.ProvLedgerError as exc:
        print(f"REJECTED {label}: {type(exc).__name__}: {exc}")
        return False
    print(f"VERIFIED {label}")
    show(report, now)
    return True


def demo(directory: Path) -> tuple[Path, Path]:
    """Play the jeweler: a ledger with a ring, its bundle and a policy with a witness quorum."""
    root, log, jeweler, workshop, owner = (pl.SigningKey.generate() for _ in range(5))
    origin = "ledger.maison-exemple.example/rings"
    with pl.Ledger.create(directory / "rings.db", origin=origin, root_key=root.public_key,
                          log_key=log.public_key) as ledger:
        def add(signer: pl.SigningKey, subject: str, event: pl.Event) -> None:
            # Signs, commits the free text (kept aside by the ledger) and appends.
            ledger.record(event, key=signer, subject=subject)

        add(root, pl.authority_subject(jeweler.public_key),
            pl.RoleGranted(key=jeweler.public_key, name="Maison Exemple", role="issuer"))
        add(jeweler, pl.authority_subject(workshop.public_key),
            pl.RoleGranted(key=workshop.public_key, name="Atelier Exemple", role="service"))
        item = pl.serial_item_id(jeweler.public_key, "R-1001")
        add(jeweler, item, pl.CertificateIssued(kind="ring", serial="R-1001", metal="gold",
                                                fineness=750, owner=owner.public_key,
                                                inscription=INSCRIPTION))
        now = int(time.time())
        add(workshop, item, pl.RepairRecorded(
            category="resize", work="Resized from 52 to 54", performed_by="Atelier Exemple",
            started=now - 86_400, completed=now - 3600,
            notes="Owner's phone +33 6 12 34 56 78: call when ready"))
        add(workshop, item, pl.AppraisalRecorded(value_minor=420_000, currency="EUR",
                                                 method="in_person", appraiser="Atelier Exemple"))
        signed = ledger.sign_checkpoint(log)
        # Three witnesses run by others (here in-process, each with its own
        # state); the policy trusts any two of them. w3 is down today.
        witnesses = [pl.witness.Witness(
            name=f"witness{n}.example/w", key=pl.SigningKey.generate(),
            logs={origin: ledger.trust_policy().logs},
            state=pl.witness.WitnessState(directory / f"w{n}.db", create=True))
            for n in (1, 2, 3)]
        for w in witnesses[:2]:
            # The c2sp.org/tlog-witness request, as `provledger checkpoint
            # --policy` sends it over HTTP: no proof, the witness saw nothing yet.
            body = pl.witness.format_add_checkpoint(0, [], signed.note)
            answer = w.add_checkpoint(body, now=int(time.time()))
            ledger.add_cosignatures(signed.seq, answer.body.decode(), [w.verifier])
        for w in witnesses:
            w.close()
        bundle, policy = directory / "R-1001.bundle", directory / "rings.policy"
        # The seller shows the marketplace the engraving and the work done;
        # the repair's notes (a phone number) and the appraiser stay private.
        bundle.write_bytes(ledger.export(item, disclose=["inscription", "work"]))
        # c2sp.org/tlog-policy syntax, plus provledger's root and max-age lines.
        policy.write_text(pl.parse_policy(
            f"log {ledger.log_vkey()}\n"
            f"root {pl.format_public_key(root.public_key)}\n"
            + "".join(f"witness w{n} {w.verifier.vkey()}\n" for n, w in enumerate(witnesses, 1))
            + "group registry-witnesses 2 w1 w2 w3\n"
            "quorum registry-witnesses\n"
            "max-age 86400\n"
        ).to_text())
    print(f"jeweler: exported {bundle.name} ({bundle.stat().st_size:,} bytes), cosigned by "
          f"w1 and w2, and {policy.name} (quorum: 2 of w1, w2, w3)\n")
    return bundle, policy


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 3, 4) or (len(argv) == 4 and not argv[3].isdigit()):
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="provledger-marketplace-") as tmp:
        bundle, policy_file = (Path(argv[1]), Path(argv[2])) if len(argv) > 1 else \
            demo(Path(tmp))
        policy = pl.read_policy(policy_file)
        data = bundle.read_bytes()
        # Taken once: everything is judged against it.
        now = int(argv[3]) if len(argv) == 4 else int(time.time())
        if not check(data, policy, now, str(bundle.name)):
            return 1
        # A seller "improves" the appraisal by one byte: the proofs catch it.
        tampered = bytearray(data)
        at = data.find(b"value_minor")
        tampered[at + len(b"value_minor") + 2 if at >= 0 else len(data) // 2] ^= 0x01
        print()
        if check(bytes(tampered), policy, now, "a copy with one byte changed"):
            return 1
        # Or the engraving: the disclosure no longer matches its commitment.
        at = data.find(INSCRIPTION.encode())
        if at >= 0:
            tampered = bytearray(data)
            tampered[at] ^= 0x01
            print()
            if check(bytes(tampered), policy, now, "a copy with the inscription changed"):
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
