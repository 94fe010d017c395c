#!/usr/bin/env bash
# A jeweler's day with the provledger command line, on an embedded SQLite ledger.
#
# A registry creates the ledger and makes Maison Rose an issuer; Maison Rose
# authorizes its workshop and certifies a ring (a diamond, a photo) for a
# client; the workshop resizes and appraises it; the client reports it lost,
# then found; the workshop signs two statements offline (-o) and submits them
# as one batch; a forbidden report is refused; the client's note on the loss
# is erased; then the whole ledger is audited and the ring's history printed.
# Free text (the engraving, notes, repair work, ...) is committed: rings.db
# holds salted digests, the text is kept in rings.disclosures.db, erasable.
#
# Usage: examples/jeweler.sh [DIR]    (default: a new temporary directory)
# The CLI is "${PROVLEDGER:-provledger}"; every key file is encrypted under
# $PROVLEDGER_PASSPHRASE (default below) and the ledger is $PROVLEDGER_DB.
set -euo pipefail

cli=${PROVLEDGER:-provledger}
case $cli in */*) cli=$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli") ;; esac  # survives cd
pl() { "$cli" "$@"; }
say() { printf '\n== %s\n' "$*"; }
# The statement hash at the end of an "appended entry ..." or "signed ..." line.
hash_of() { sed -n 's/.* hash \([0-9a-f]\{64\}\)$/\1/p' <<<"$1"; }

dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
if [ -n "$(ls -A "$dir")" ]; then
    echo "$dir is not empty; give a new or empty directory" >&2
    exit 2
fi
cd "$dir"
export PROVLEDGER_PASSPHRASE=${PROVLEDGER_PASSPHRASE:-a long passphrase for the demo}
export PROVLEDGER_DB=$PWD/rings.db

say "the registry creates the ledger (root and log keys in registry-keys/)"
pl init --origin ledger.maison-rose.example/rings --keys registry-keys

say "everyone makes a key pair; only public keys are ever shared"
mkdir keys
for name in maison-rose atelier-dupont client; do
    pl key new "$name" --dir keys
done

say "the root makes Maison Rose an issuer; Maison Rose authorizes its workshop"
pl authorize --key registry-keys/root.key --role issuer --name "Maison Rose" keys/maison-rose.pub
pl authorize --key keys/maison-rose.key --role service --name "Atelier Dupont" \
    keys/atelier-dupont.pub

say "Maison Rose certifies a ring for its client (the photo stays here; its SHA-256 goes in)"
mkdir photos
printf 'pretend this is a JPEG\n' > photos/ring.jpg
out=$(pl issue --key keys/maison-rose.key --serial R-1001 --kind ring \
    --owner keys/client.pub --metal "18k white gold" --fineness 750 --mass-mg 5210 \
    --size 52 --stone kind=diamond,weight_ct100=50,color=G,clarity=VS1,cut=excellent \
    --inscription "C & D 2026" --photo photos/ring.jpg)
echo "$out"
item=$(sed -n 's/^item //p' <<<"$out")

say "the workshop resizes the ring and appraises it"
now=$(date +%s)
printf 'before\n' > photos/before.jpg
printf 'after\n' > photos/after.jpg
pl repair "$item" --key keys/atelier-dupont.key --category resize \
    --work "Resized from 52 to 54" --performed-by "Atelier Dupont" \
    --started $((now - 7200)) --completed $((now - 3600)) \
    --part "name=shank segment,material=18k white gold,mass_mg=180" \
    --photo-before photos/before.jpg --photo-after photos/after.jpg
pl appraise "$item" --key keys/atelier-dupont.key --value-minor 420000 --currency EUR \
    --method in_person --appraiser "Atelier Dupont"

say "the client reports the ring lost, then recovered"
pl report lost "$item" --key keys/client.key --notes "lost while travelling"
pl report recovered "$item" --key keys/client.key

say "offline: the workshop signs two statements into files, then submits them together"
# Each FILE gets FILE.disclosures beside it (mode 0600): the text of its committed
# fields, which submit reads and the ledger keeps off the log.
cleaning=$(pl repair "$item" --key keys/atelier-dupont.key --category cleaning \
    --work "Ultrasonic clean" --performed-by "Atelier Dupont" \
    --started "$now" --completed "$now" -o cleaning.cose)
echo "$cleaning"
# The second statement chains onto the first, which the ledger has not seen yet.
pl appraise "$item" --key keys/atelier-dupont.key --value-minor 450000 --currency EUR \
    --method in_person --appraiser "Atelier Dupont" \
    -o appraisal.cose --prev "$(hash_of "$cleaning")"
pl submit cleaning.cose appraisal.cose

say "the workshop may not report theft: refused, nothing appended"
status=0
pl report stolen "$item" --key keys/atelier-dupont.key || status=$?
if [ "$status" -ne 3 ]; then
    echo "expected exit code 3 (refused by the rules), got $status" >&2
    exit 1
fi
echo "refused as expected (exit $status)"

say "the client asks for the note on the loss to be erased: the text goes, the log stays"
pl erase "$item" --field notes --yes

say "anyone with a copy of rings.db: audit the whole ledger, then read the ring's history"
pl audit
pl history "$item"

echo
echo "left in $PWD: rings.db, rings.disclosures.db, registry-keys/, keys/, photos/, *.cose" \
    "and their *.cose.disclosures"
