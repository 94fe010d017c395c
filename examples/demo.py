"""The whole provledger story on an embedded SQLite ledger, with the library.

A registry (the root) authorizes a jeweler; the jeweler authorizes a workshop
and a gemologist and certifies a ring for its first owner; the workshop logs
a resize and an appraisal; the gemologist countersigns. The jeweler puts the
ring on its Gold care plan; a claw repair goes through the workshop step by
step and is paid with a plan credit the owner consents to. The owner then
sells the ring through escrow, the plan going with it: the buyer accepts on
their own device, inspects the piece and acknowledges its condition, and only
then does ownership move. The verifier reads the plan's credits left and the
repair's status from the bundle alone.

A witness runs beside the log, as its own process on loopback
(`provledger witness serve`), and the trust policy requires its cosignature:
each checkpoint the log signs is sent to it (c2sp.org/tlog-witness), and it
cosigns only trees consistent with the last one it saw. Before the sale the
ring is listed on a marketplace, which verifies its bundle offline and keeps
the checkpoint it saw; after the sale the new owner's newer bundle is
accepted without a consistency proof because both checkpoints are witnessed,
and the old bundle is refused as a rollback. A monitor then replays a backup
of the whole log. Everything it makes is left in OUT_DIR.

Free text is private by construction: `Ledger.record` commits the ring's
inscription, the repair notes and every other text field, so the ledger
file, the public bundle and the published site hold only salted digests.
Bob is given a bundle disclosing the inscription and the notes (`export
--disclose`), which the verifier checks against those digests; then the
notes holding Alice's phone number are erased (`provledger erase`): the log,
its checkpoints and audit are unchanged, and a new export verifies with the
notes withheld.

Usage: python examples/demo.py [OUT_DIR]   (default: demo-out)
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import select
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import provledger as pl
from provledger._web_paths import item_path
from provledger.verify import SeenCheckpoints

PASSPHRASE = os.environ.get("PROVLEDGER_PASSPHRASE", "demo passphrase").encode()
DAY = 86_400


#: The jeweler's GS1 Digital Link domain and GS1 company prefix.
DOMAIN = "id.maison-exemple.example"
GS1_PREFIX = "9506000"
#: The witness's key name, and its name in the trust policy.
WITNESS_NAME, WITNESS = "witness.demo.provledger.example/w1", "w1"
#: The provledger command installed beside this interpreter (the same venv).
CLI = Path(sys.executable).with_name("provledger")
#: Personal text, committed: the ledger file holds only salted digests of it.
INSCRIPTION = "Alice & Marc, 14.02.2026"
REPAIR_NOTES = "Alice Martin asked for a snug fit; call +33 6 12 34 56 78 when ready"


def new_key(keys: Path, name: str) -> pl.SigningKey:
    """A fresh key, saved encrypted (NAME.key, mode 0600) with its NAME.pub."""
    key = pl.SigningKey.generate()
    pl.write_signing_key(keys / f"{name}.key", key, passphrase=PASSPHRASE)
    pl.write_public_key(keys / f"{name}.pub", key.public_key)
    return key


def file_digest(path: Path) -> bytes:
    """Photos stay off the ledger: only their SHA-256 goes in."""
    return hashlib.sha256(path.read_bytes()).digest()


def step(text: str) -> None:
    print(f"\n== {text}")


def main(out: Path) -> int:
    keys, photos = out / "keys", out / "photos"
    keys.mkdir(parents=True)
    photos.mkdir()
    for name in ("ring-front.jpg", "before.jpg", "after.jpg", "condition.jpg"):
        (photos / name).write_bytes(f"pretend this is {name}".encode())

    root, log = new_key(keys, "root"), new_key(keys, "log")
    jeweler, workshop, gemologist = (new_key(keys, n)
                                     for n in ("jeweler", "workshop", "gemologist"))
    # Customers are keys on their own devices: the only "identity" on the ledger.
    alice, bob = new_key(keys, "alice"), new_key(keys, "bob")

    ledger = pl.Ledger.create(out / "ledger.db", origin="demo.provledger.example/ledger",
                              root_key=root.public_key, log_key=log.public_key)
    with ledger:
        step("A witness starts, as its own process on loopback")
        witness = Witness(out, ledger.log_vkey())
        try:
            policy = write_policy(ledger, out, witness)
            # What the marketplace keeps between runs: the newest checkpoint it saw.
            seen = SeenCheckpoints(out / "seen")
            authorize(ledger, root, jeweler, workshop, gemologist)
            ring = certify_and_service(ledger, photos, jeweler, workshop, gemologist, alice)
            plan = aftercare(ledger, photos, ring, jeweler, workshop, alice)
            listed = list_for_sale(ledger, out, ring, log=log, policy=policy, seen=seen,
                                   alice=alice)
            sell(ledger, photos, ring, alice, bob, plan=plan)
            bundle = publish(ledger, out, ring, log, policy)
            verify_offline(out, bundle, policy, seen, listed)
            disclose_to_the_buyer(out, ring)
            monitor(ledger, out, policy)
            on_the_web(out, ring)
            erase(out, ring, ledger)
        finally:
            witness.stop()
    print(f"\nleft in {out}/: ledger.db and ledger.disclosures.db (the committed text), keys/ "
          f"(passphrase {PASSPHRASE.decode()!r}), photos/, witness/ (its key, logs and state), "
          "policy.txt, ring-listed.bundle, ring.bundle, ring-for-bob.bundle, "
          "ring-after-erasure.bundle, checkpoint.txt, ring.report.json, seen/, backup.db, "
          "witness.log, site/ (the published log and pages), ring-card.png and ring-card.svg")
    print(hint(out, ring, policy, witness.address))
    return 0


def hint(out: Path, ring: str, policy: pl.Policy, address: str) -> str:
    """The closing "try:" lines. The bundle's checkpoint grows stale after
    max-age, so they also say how to sign a new one and export again; the
    policy wants the witness's cosignature and the witness stopped with the
    demo, so the refresh serves it again (on the address the policy names)
    for as long as the shell runs; it listens once it has printed its URL."""
    cli, fresh = ".venv/bin/provledger", f"{out}/ring-$(date +%F).bundle"
    secret = shlex.quote(PASSPHRASE.decode())
    return (
        f"try: {cli} verify {out}/ring.bundle --policy {out}/policy.txt --item {ring}\n"
        f"  (past the policy's max-age {policy.max_age} s that fails with "
        "StaleCheckpointError; the witness stopped with the demo: serve it again (until this "
        "shell exits), sign a checkpoint it cosigns, export and verify the new bundle:\n"
        f"  PROVLEDGER_PASSPHRASE={secret} {cli} witness serve {out}/witness --listen {address} "
        f'>{out}/witness.out 2>>{out}/witness.log & trap "kill $!" EXIT; '
        f'timeout 10 sh -c "until grep -q http {out}/witness.out; do sleep 0.1; done"\n'
        f"  {cli} --db {out}/ledger.db checkpoint --key {out}/keys/log.key "
        f"--policy {out}/policy.txt >/dev/null\n"
        f"  {cli} --db {out}/ledger.db export {ring} -o {fresh} && "
        f"{cli} verify {fresh} --policy {out}/policy.txt --item {ring})")


class Server:
    """A provledger server run with the CLI as its own process on loopback; it
    prints ``lines`` lines (its URL last) once it listens."""

    def __init__(self, out: Path, args: list[str | Path], *, lines: int, what: str) -> None:
        env = {**os.environ, "PROVLEDGER_PASSPHRASE": PASSPHRASE.decode()}
        self.what = what
        # Port 0: the kernel picks a free port; the server prints where it is.
        with (out / f"{what}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [CLI, *args, "--listen", "127.0.0.1:0", "--log-level", "warning"],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                bufsize=0)  # unbuffered: select() below must see each line
        try:
            self.printed = [self._line(out) for _ in range(lines)]
        except BaseException:
            self.stop()
            raise
        self.url = self.printed[-1].rstrip("/")
        self.address = self.url.removeprefix("http://").split("/", 1)[0]

    def _line(self, out: Path, timeout: float = 15.0) -> str:
        """The next line the server prints (it prints once it listens)."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline().decode() if ready else ""
        if not line:
            raise RuntimeError(f"{self.what} did not start; see {out}/{self.what}.log")
        return line.strip()

    def stop(self) -> None:
        """Stop the server (SIGTERM: uvicorn shuts down gracefully), or kill it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class Witness(Server):
    """A c2sp.org/tlog-witness witness for the ledger's log (`provledger witness
    init`, then `witness serve`, which prints its vkey, then its URL)."""

    def __init__(self, out: Path, log_vkey: str) -> None:
        self.directory = out / "witness"
        if not CLI.exists():
            raise RuntimeError(f"{CLI} is missing: install the package (make install)")
        made = subprocess.run(
            [CLI, "witness", "init", self.directory, "--name", WITNESS_NAME, "--log", log_vkey],
            env={**os.environ, "PROVLEDGER_PASSPHRASE": PASSPHRASE.decode()},
            stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if made.returncode != 0:
            raise RuntimeError(f"witness init failed: {made.stderr.strip()}")
        super().__init__(out, ["witness", "serve", self.directory], lines=2, what="witness")
        self.vkey = self.printed[0]
        print(f"  {self.vkey}\n  cosigns at {self.url}/add-checkpoint (pid {self.process.pid})")


def write_policy(ledger: pl.Ledger, out: Path, witness: Witness) -> pl.Policy:
    """The trust policy a marketplace pins: the log, the root, and (tlog-policy
    syntax) the witness, with its URL for the log's side, as the quorum."""
    policy = pl.parse_policy(
        f"log {ledger.log_vkey()}\n"
        f"root {pl.format_public_key(ledger.root_key)}\n"
        f"witness {WITNESS} {witness.vkey} {witness.url}\n"
        f"quorum {WITNESS}\n")
    (out / "policy.txt").write_text(policy.to_text())
    print(f"  policy.txt requires its cosignature: {policy.describe_quorum()}")
    return policy


def sign_and_witness(ledger: pl.Ledger, log: pl.SigningKey,
                     policy: pl.Policy) -> pl.SignedCheckpoint:
    """Sign a checkpoint and have the policy's witnesses cosign it (over HTTP)."""
    signed = ledger.sign_checkpoint(log)
    outcomes = ledger.request_cosignatures(pl.witness.witness_endpoints(policy), seq=signed.seq)
    for o in outcomes:
        if not o.ok:
            raise RuntimeError(f"witness {o.witness.name}: {o.status}: {o.detail}")
    print(f"  checkpoint {signed.seq}: {signed.size} entries, cosigned by "
          f"{', '.join(o.witness.name for o in outcomes)}")
    return ledger.latest_checkpoint()


def authorize(ledger: pl.Ledger, root: pl.SigningKey, jeweler: pl.SigningKey,
              workshop: pl.SigningKey, gemologist: pl.SigningKey) -> None:
    step("The registry authorizes the jeweler; the jeweler its workshop and gemologist")
    # The issuer's grant names its scope: the GS1 company prefix and the domain it
    # may certify GS1 Digital Link ids under (no other issuer can use them).
    scope = {"gs1_prefixes": [GS1_PREFIX], "domains": [DOMAIN]}
    for signer, grantee, role, name in (
        (root, jeweler, "issuer", "Maison Exemple Joaillier"),
        (jeweler, workshop, "service", "Atelier Exemple"),
        (jeweler, gemologist, "attester", "Laboratoire Gemmologique Exemple"),
    ):
        rec = ledger.record(
            pl.RoleGranted(key=grantee.public_key, name=name, role=role,  # type: ignore[arg-type]
                           **(scope if role == "issuer" else {})),
            key=signer, subject=pl.authority_subject(grantee.public_key))
        print(f"  #{rec.index} {name}: {role}")


def certify_and_service(ledger: pl.Ledger, photos: Path, *keys: pl.SigningKey) -> str:
    jeweler, workshop, gemologist, alice = keys
    step("The jeweler certifies a ring sold to Alice (GS1 Digital Link id)")
    ring = pl.gs1_item_id(DOMAIN, "09506000134352", "RING-0001")
    # record() commits the free text (inscription, notes, work, ...): the log
    # holds salted digests, the ledger keeps the text aside, erasable.
    ledger.record(pl.CertificateIssued(
        kind="ring", serial="RING-0001", gtin="09506000134352", owner=alice.public_key,
        metal="platinum", fineness=950, mass_mg=5210, size="52",
        stones=[pl.Stone(kind="diamond", count=1, weight_ct100=101, color="F",
                         clarity="VVS2", cut="excellent", report="GIA 0000000001")],
        photos=[file_digest(photos / "ring-front.jpg")], inscription=INSCRIPTION,
        notes="Solitaire engagement ring"), key=jeweler, subject=ring)
    print(f"  {ring}")
    print(f"  engraved {INSCRIPTION!r}: committed, so the ledger file never holds it")

    step("A gemologist countersigns; the workshop resizes and appraises")
    ledger.record(pl.CertificateAttested(
        capacity="gemologist", certificate=ledger.item(ring).certificate),
        key=gemologist, subject=ring)
    now = int(time.time())
    ledger.record(pl.RepairRecorded(
        category="resize", work="Resized from 52 to 54", performed_by="Atelier Exemple",
        started=now - 7200, completed=now - 3600, notes=REPAIR_NOTES,
        parts=[pl.Part(name="platinum insert", material="Pt950", mass_mg=180)],
        photos_before=[file_digest(photos / "before.jpg")],
        photos_after=[file_digest(photos / "after.jpg")]), key=workshop, subject=ring)
    ledger.record(pl.AppraisalRecorded(
        value_minor=1_250_000, currency="EUR", method="in_person",
        appraiser="Atelier Exemple"), key=workshop, subject=ring)

    step("A forged repair by an unknown key is refused and changes nothing")
    size = len(ledger)
    try:
        ledger.record(pl.RepairRecorded(
            category="repair", work="Swapped the diamond", performed_by="Nobody",
            started=now, completed=now), key=pl.SigningKey.generate(), subject=ring)
    except pl.ProvLedgerError as exc:
        print(f"  refused: {type(exc).__name__}: {exc}")
    assert len(ledger) == size
    return ring


def aftercare(ledger: pl.Ledger, photos: Path, ring: str, *keys: pl.SigningKey) -> bytes:
    """The Gold plan, and a repair through the workshop paid with one of its
    credits; returns the plan id."""
    jeweler, workshop, alice = keys
    now = int(time.time())

    def append(event: pl.Event, signer: pl.SigningKey) -> pl.Record:
        return ledger.record(event, key=signer, subject=ring)

    step("The jeweler puts the ring on its Gold care plan (it goes with the piece)")
    terms = b"Maison Exemple Gold care: yearly cleaning and inspection, two repair credits."
    plan = append(pl.CareEnrolled(
        tier="Gold", terms=hashlib.sha256(terms).digest(), starts=now, ends=now + 730 * DAY,
        credits=2, credit_minor=15_000, currency="EUR", services=["cleaning", "inspection"],
        transfer="with_piece"), jeweler).hash
    print(f"  plan {plan.hex()[:16]}...: 2 credits and 150.00 EUR for two years")

    step("A claw repair, step by step; Alice consents and the workshop redeems a credit")
    repair = append(pl.RepairRequested(category="repair", work="Re-tip four claws",
                                       promised=now + 7 * DAY), alice).hash
    append(pl.RepairReceived(repair=repair, condition=pl.ConditionReport(
        grade="good", notes="Two claws worn",
        photos=[file_digest(photos / "before.jpg")])), workshop)
    append(pl.RepairProgress(repair=repair, stage="waiting_parts",
                             notes="Platinum claw wire ordered"), workshop)
    append(pl.RepairReady(repair=repair, photos_after=[file_digest(photos / "after.jpg")]),
           workshop)
    append(pl.RepairCollected(repair=repair), alice)
    print(f"  repair {repair.hex()[:16]}...: requested, received, waiting for parts, ready, "
          "collected")
    consent = append(pl.CareConsented(plan=plan, repair=repair, credits=1), alice).hash
    append(pl.CareRedeemed(plan=plan, repair=repair, consent=consent, credits=1), workshop)
    left = ledger.item(ring).plans[0]
    print(f"  paid with one credit: {left.credits} credit and "
          f"{left.credit_minor / 100:.2f} {left.currency} left")
    return plan


def sell(ledger: pl.Ledger, photos: Path, ring: str, alice: pl.SigningKey,
         bob: pl.SigningKey, *, plan: bytes) -> None:
    now = int(time.time())
    step("Alice sells the ring to Bob through escrow, the Gold plan with it")
    # The terms name the plans that go with the piece: Bob's signatures cover them.
    terms = pl.EscrowTerms(price_minor=1_100_000, currency="EUR", on_timeout="dispute",
                           plans=[plan])
    condition = pl.ConditionReport(grade="excellent", notes="No visible wear",
                                   photos=[file_digest(photos / "condition.jpg")])
    opened = ledger.record(pl.EscrowOpened(
        buyer=bob.public_key, terms=terms, condition=condition,
        offer_expires=now + 2 * DAY, inspection_ends=now + 9 * DAY), key=alice, subject=ring)
    escrow = opened.hash
    # Bob signs the condition report as recorded, its notes committed.
    assert isinstance(opened.event, pl.EscrowOpened)
    condition = opened.event.condition
    print(f"  opened escrow {escrow.hex()[:16]}... (owner still Alice)")
    # Bob signs on his own device, offline, from the ring's current head.
    accept = pl.sign_statement(
        pl.EscrowAccepted(escrow=escrow, terms_hash=pl.terms_hash(terms),
                          condition_hash=pl.condition_hash(condition)),
        key=bob, origin=ledger.origin, subject=ring, prev=ledger.head(ring), time=now)
    ledger.append(accept)
    print("  Bob accepted the offer; the ring is shipped")
    ledger.record(pl.EscrowAcknowledged(
        escrow=escrow, terms_hash=pl.terms_hash(terms),
        condition_hash=pl.condition_hash(condition), notes="As described"),
        key=bob, subject=ring)
    assert ledger.item(ring).owner == bob.public_key
    print("  Bob acknowledged the condition: the ring is his")


def list_for_sale(ledger: pl.Ledger, out: Path, ring: str, *, log: pl.SigningKey,
                  policy: pl.Policy, seen: SeenCheckpoints, alice: pl.SigningKey) -> int:
    """The ring's first bundle, verified by a marketplace that keeps what it
    saw; returns the size of the checkpoint it kept."""
    step("Alice lists the ring: the log signs a checkpoint, the witness cosigns it")
    sign_and_witness(ledger, log, policy)
    (out / "ring-listed.bundle").write_bytes(ledger.export(ring))
    listed = check(out / "ring-listed.bundle", policy, seen, ring)
    assert listed.owner == alice.public_key
    print(f"  a marketplace verifies ring-listed.bundle (owner: Alice) and keeps its "
          f"checkpoint (size {size_of(listed)}) in seen/")
    return size_of(listed)


def check(path: Path, policy: pl.Policy, seen: SeenCheckpoints, ring: str) -> pl.Report:
    """What `provledger verify FILE --policy P --seen DIR --item ID` does: verify
    against the checkpoint seen before, then keep this one if it is newer."""
    report = pl.verify_bundle(path.read_bytes(), policy=policy, now=int(time.time()), item=ring,
                              seen=seen.notes(policy.logs[0].name))
    assert report.checkpoint is not None  # a verified bundle holds as of its checkpoint
    seen.remember(report.checkpoint)
    return report


def size_of(report: pl.Report) -> int:
    assert report.checkpoint is not None
    return report.checkpoint.size


def publish(ledger: pl.Ledger, out: Path, ring: str, log: pl.SigningKey,
            policy: pl.Policy) -> bytes:
    step("Anyone audits the whole ledger")
    report = ledger.audit()
    print(f"  {report.size} entries, {report.subjects} chains, "
          f"{report.checkpoints} checkpoint(s): all verified")

    step("The log signs a new checkpoint, the witness cosigns it; the ring is exported")
    checkpoint = sign_and_witness(ledger, log, policy)
    bundle = ledger.export(ring)
    (out / "ring.bundle").write_bytes(bundle)
    (out / "checkpoint.txt").write_text(checkpoint.cosigned_note)
    print(f"  ring.bundle: {len(bundle):,} bytes, with the checkpoint and its cosignature")
    return bundle


def verify_offline(out: Path, bundle: bytes, policy: pl.Policy, seen: SeenCheckpoints,
                   seen_size: int) -> None:
    step("Bob lists the ring: the marketplace verifies offline (no database, no network)")
    # item= is the id on the piece in front of the buyer: a genuine bundle of
    # another piece would verify too without it.
    ring = pl.gs1_item_id(DOMAIN, "09506000134352", "RING-0001")
    # Newer than the checkpoint seen, and no consistency proof from it (no
    # `export --since`): accepted because both checkpoints carry the witness
    # quorum, and the witness checked consistency before cosigning.
    verified = check(out / "ring.bundle", policy, seen, ring)
    print(f"  ring.bundle is newer than the checkpoint seen (size {size_of(verified)} > "
          f"{seen_size}) and has no consistency proof from it: accepted, as both are witnessed")
    print_report(verified)
    (out / "ring.report.json").write_text(json.dumps(verified.to_json(), indent=2) + "\n")
    tampered = bytearray(bundle)
    tampered[len(tampered) // 2] ^= 1
    try:
        pl.verify_bundle(bytes(tampered), policy=policy, now=int(time.time()))
    except pl.VerificationError as exc:
        print(f"\n  a copy with one flipped bit is rejected: {type(exc).__name__}")
    except pl.DecodeError as exc:
        print(f"\n  a copy with one flipped bit is rejected: {type(exc).__name__}")
    try:
        check(out / "ring-listed.bundle", policy, seen, ring)
        raise AssertionError("the old bundle verified after a newer one was seen")
    except pl.VerificationError as exc:
        print(f"  Alice lists the ring again with ring-listed.bundle: refused, "
              f"{type(exc).__name__} (older than the checkpoint seen)")


def disclose_to_the_buyer(out: Path, ring: str) -> None:
    """A bundle that shows its reader the inscription and the notes, checked
    against the commitments the signatures cover."""
    step("Bob, the owner now, is given what the public bundle withholds: export --disclose")
    public = (out / "ring.bundle").read_bytes()
    assert not holds(public, INSCRIPTION, REPAIR_NOTES)
    print("  ring.bundle (the public one) holds neither the inscription nor the repair notes")
    printed = run(["--db", out / "ledger.db", "export", ring, "--disclose", "inscription,notes",
                   "-o", out / "ring-for-bob.bundle"])
    print("  $ provledger export RING --disclose inscription,notes -o ring-for-bob.bundle")
    print("    " + printed.splitlines()[-1])
    print("  $ provledger verify ring-for-bob.bundle --policy policy.txt --item RING")
    for line in verified_lines(out, "ring-for-bob.bundle", ring):
        if line.strip().startswith(("inscription:", "notes:")):
            print(f"    {line.strip()}")
    report = pl.verify_bundle((out / "ring-for-bob.bundle").read_bytes(),
                              policy=pl.read_policy(out / "policy.txt"), now=int(time.time()))
    print(f"    ... and {sum(e.withheld for e in report.events)} other committed fields "
          "(work, performed_by, appraiser, condition notes) shown as not disclosed")


def holds(data: bytes, *texts: str) -> bool:
    """Whether any of ``texts`` is in ``data`` (UTF-8), as a byte search finds it."""
    return any(t.encode() in data for t in texts)


def verified_lines(out: Path, bundle: str, ring: str) -> list[str]:
    """What `provledger verify BUNDLE` prints (it must verify)."""
    lines = run(["verify", out / bundle, "--policy", out / "policy.txt",
                 "--item", ring]).splitlines()
    assert lines[0] == "VERIFIED", lines
    return lines


def erase(out: Path, ring: str, ledger: pl.Ledger) -> None:
    """Erasure of the resize's notes: the text goes, the log stays as it was."""
    step("Alice asks the workshop to erase her phone number: provledger erase")
    resize = next(r for r in ledger.history(ring) if r.statement.type == "repair.recorded")
    root, size = ledger.root(len(ledger)), len(ledger)
    db: list[str | Path] = ["--db", out / "ledger.db"]
    printed = run([*db, "erase", ring, "--field", "notes", "--statement", resize.hash.hex(),
                   "--yes"])
    print("  $ provledger erase RING --field notes --statement HASH --yes")
    print("".join(f"    {line}\n" for line in printed.splitlines()), end="")
    assert (ledger.root(len(ledger)), len(ledger)) == (root, size)
    run([*db, "export", ring, "--disclose", "inscription,notes",
         "-o", out / "ring-after-erasure.bundle"])
    data = (out / "ring-after-erasure.bundle").read_bytes()
    assert not holds(data, REPAIR_NOTES)
    assert holds(data, INSCRIPTION)
    shown = verified_lines(out, "ring-after-erasure.bundle", ring)
    at = next(i for i, line in enumerate(shown) if f" {resize.index}  " in line)
    withheld = next(line for line in shown[at:] if "private" in line)
    print(f"  exported again with --disclose inscription,notes and verified: VERIFIED; the "
          f"resize (#{resize.index}) now says \"{withheld.strip()}\"")
    print("  " + run([*db, "audit"]).splitlines()[0] + " (the same root and checkpoints)")
    files = {name: (out / name).read_bytes() for name in ("ledger.db", "ledger.disclosures.db")}
    assert not any(holds(b, REPAIR_NOTES) for b in files.values())
    assert not holds(files["ledger.db"], INSCRIPTION)
    print("  ledger.db holds neither text; ledger.disclosures.db no longer holds the notes; "
          "backup.db's disclosures, copied before, keep them until that backup is rotated")


def monitor(ledger: pl.Ledger, out: Path, policy: pl.Policy) -> None:
    step("A monitor replays a backup of the log: every entry, every checkpoint's head map")
    ledger.backup(out / "backup.db")
    report = pl.monitor(out / "backup.db", log_key=policy.logs[0], root_key=policy.roots[0],
                        witnesses=policy.witnesses)
    names = {w.verifier: w.name for w in policy.named_witnesses}
    cosigned = ", ".join(f"{names[v]} cosigned {n} of {report.checkpoints}"
                         for v, n in report.cosignatures.items())
    print(f"  monitor ok: {report.entries} entries, {report.subjects} subjects, "
          f"{report.checkpoints} checkpoints; {cosigned}")


def on_the_web(out: Path, ring: str) -> None:
    step("The log publishes its tiles and the ring's page, and serves them on loopback")
    db: list[str | Path] = ["--db", out / "ledger.db"]
    published = json.loads(run([*db, "publish", out / "site", "--json"]))
    print(f"  site/: {published['checkpoint']['size']} entries as tlog-tiles, "
          f"{published['items']} item page(s); any static host can serve it")
    for path in (out / "site").rglob("*"):
        if path.is_file():
            assert not holds(path.read_bytes(), INSCRIPTION, REPAIR_NOTES), path
    print("  no published file holds the inscription or the repair notes")
    server = Server(out, [*db, "serve", "--policy", out / "policy.txt"], lines=1, what="serve")
    try:
        page = f"{server.url}/{item_path(ring)}"
        with urllib.request.urlopen(urllib.request.Request(
                page, headers={"Accept": "text/html"}), timeout=10) as answer:
            html = answer.read().decode()
        print(f"  {page} -> {answer.status}, the status page a phone opens ({len(html):,} bytes)")
        step("A marketplace fetches the ring by URL and verifies it exactly as offline")
        verified = json.loads(run(["verify", "--from", server.url, ring,
                                   "--policy", out / "policy.txt", "--json"]))
        print(f"  provledger verify --from {server.url} ...: verified {verified['verified']}, "
              f"status {verified['status']}, witnessed by "
              f"{', '.join(w['name'] for w in verified['checkpoint']['witnesses'])}")
    finally:
        server.stop()
    step("The jeweler prints the ring's certificate card (QR code of its Digital Link)")
    for suffix in ("png", "svg"):
        run([*db, "card", ring, "-o", out / f"ring-card.{suffix}"])
    print(f"  ring-card.png, ring-card.svg: {ring}")


def run(args: list[str | Path]) -> str:
    """The stdout of `provledger ARGS`; its error, if it fails."""
    done = subprocess.run([CLI, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=False, env={**os.environ,
                                            "PROVLEDGER_PASSPHRASE": PASSPHRASE.decode()})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args[:3]))}: {done.stderr.strip()}")
    return done.stdout


def print_report(report: pl.Report) -> None:
    print(f"  {report.item}")
    print(f"  status {report.status}; owner {pl.format_public_key(report.owner)}")
    print(f"  issued by {report.issuer_name}; attested by {', '.join(report.attested_by)}")
    for e in report.events:
        when = datetime.datetime.fromtimestamp(e.time, datetime.UTC).strftime("%Y-%m-%d %H:%M")
        detail = e.fields.get("work") or e.fields.get("kind") or ""
        if "value_minor" in e.fields:
            detail = f"{e.fields['value_minor'] / 100:,.2f} {e.fields['currency']}"
        print(f"  #{e.index:<3} {when}  {e.type:<20} {e.signed_as:<34} {detail}")
    for p in report.plans:
        print(f"  care plan {p.plan.tier} by {p.provider_name}: {p.status}, credits left "
              f"{p.credits} and {p.credit_minor / 100:.2f} {p.plan.currency}")
    for r in report.repairs:
        paid = ", paid from the care plan" if r.repair.paid_by is not None else ""
        work = repr(r.work) if r.work else "(work not disclosed)"
        print(f"  repair {work}: {r.repair.status}, {'late' if r.late else 'on time'}"
              f"{paid}" if not r.one_step else f"  repair {work}: recorded completed")
    cp = report.checkpoint
    assert cp is not None  # a verified bundle holds as of its checkpoint
    print(f"  valid as of checkpoint of {cp.origin}: {cp.size} entries, signed "
          f"{datetime.datetime.fromtimestamp(cp.time, datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print("  vouched for by " + ", ".join(f"witness {w.name} ({w.vkey.split('+')[0]})"
                                          for w in cp.witnesses))


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out")
    if target.exists() and any(target.iterdir()):
        sys.exit(f"{target} exists and is not empty; remove it first")
    raise SystemExit(main(target))
