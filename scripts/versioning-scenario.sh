#!/usr/bin/env bash
# End-to-end versioning scenario (issue 4): create a repo, commit a dataset, branch, change
# files on both branches, diff, three-way merge without conflicts, a conflict under each
# strategy, check out every commit and compare it byte for byte with what was committed,
# and run `store gc` in between: nothing reachable from a ref may be collected; then signed
# commits (node key and a named key) verified by `log --show-signature`, a forged copy refused.
#
#   scripts/versioning-scenario.sh [--bin PATH]     (default: .build/debug/jz-node)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.build/debug/jz-node"
[ "${1:-}" = "--bin" ] && bin=$2
work=$(mktemp -d /tmp/jz-vcs-XXXXXX)
trap 'rm -rf "$work"' EXIT
export JZ_PATH="$work/home"
jz() { "$bin" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
snap() { rm -rf "$work/snap/$1"; mkdir -p "$work/snap"; cp -a "$work/ds" "$work/snap/$1"; }

jz init --empty-bootstrap >/dev/null
mkdir -p "$work/ds/raw" "$work/ds/meta"
printf 'id,value\n1,10\n2,20\n' > "$work/ds/raw/a.csv"
printf 'id,value\n3,30\n' > "$work/ds/raw/b.csv"
printf 'schema v1\n' > "$work/ds/meta/schema.txt"
head -c 3000000 /dev/urandom > "$work/ds/raw/blob.bin"

jz repo create data >/dev/null
c1=$(jz commit data "$work/ds" -m "initial dataset" --param source=survey-2026); snap "$c1"
jz branch create data dev >/dev/null

# dev: edit a.csv, add c.csv.   main: edit schema.txt.   (disjoint: a clean three-way merge)
printf 'id,value\n1,11\n2,20\n' > "$work/ds/raw/a.csv"; printf 'id,value\n4,40\n' > "$work/ds/raw/c.csv"
c2=$(jz commit data@dev "$work/ds" -m "dev: fix a, add c"); snap "$c2"
rm -rf "$work/ds"; cp -a "$work/snap/$c1" "$work/ds"
printf 'schema v2\n' > "$work/ds/meta/schema.txt"
c3=$(jz commit data "$work/ds" -m "main: schema v2"); snap "$c3"

diff_out=$(jz diff data@main data@dev)
echo "$diff_out" | grep -q "raw/c.csv" || fail "diff misses raw/c.csv: $diff_out"
echo "$diff_out" | grep -q "meta/schema.txt" || fail "diff misses meta/schema.txt"
jz store gc -q >/dev/null 2>&1

jz merge data dev -m "merge dev" >/dev/null || fail "clean merge failed"
c4=$(jz log data -n 1 --oneline | cut -d' ' -f1)
[ "$(jz cat data:raw/a.csv)" = "$(printf 'id,value\n1,11\n2,20')" ] || fail "merge lost dev's a.csv"
[ "$(jz cat data:meta/schema.txt)" = "schema v2" ] || fail "merge lost main's schema"
jz cat data:raw/c.csv >/dev/null || fail "merge lost dev's c.csv"
# Expected merged folder.
rm -rf "$work/ds"; cp -a "$work/snap/$c2" "$work/ds"; printf 'schema v2\n' > "$work/ds/meta/schema.txt"; snap "$c4"

# Conflict: both branches change b.csv differently.
jz branch create data exp >/dev/null
printf 'id,value\n3,31\n' > "$work/ds/raw/b.csv"; c5=$(jz commit data@exp "$work/ds" -m "exp: b=31"); snap "$c5"
rm -rf "$work/ds"; cp -a "$work/snap/$c4" "$work/ds"
printf 'id,value\n3,32\n' > "$work/ds/raw/b.csv"; c6=$(jz commit data "$work/ds" -m "main: b=32"); snap "$c6"
head=$(jz log data -n 1 --oneline | cut -d' ' -f1)
if jz merge data exp --strategy fail >/dev/null 2>"$work/conflict.txt"; then fail "conflicting merge succeeded with --strategy fail"; fi
grep -q "raw/b.csv" "$work/conflict.txt" || fail "conflict not listed"
[ "$(jz log data -n 1 --oneline | cut -d' ' -f1)" = "$head" ] || fail "--strategy fail moved the branch"
jz branch create data try-ours --from main >/dev/null
jz merge data exp --into try-ours --strategy ours >/dev/null
[ "$(jz cat data@try-ours:raw/b.csv)" = "$(printf 'id,value\n3,32')" ] || fail "ours did not keep ours"
jz branch create data try-theirs --from main >/dev/null
jz merge data exp --into try-theirs --strategy theirs >/dev/null
[ "$(jz cat data@try-theirs:raw/b.csv)" = "$(printf 'id,value\n3,31')" ] || fail "theirs did not take theirs"

jz store gc -q >/dev/null 2>&1
jz store verify >/dev/null || fail "store verify"
# Every commit checks out byte for byte as committed.
for c in "$c1" "$c2" "$c3" "$c4" "$c5" "$c6"; do
  jz checkout "data@$c" "$work/out-$c" >/dev/null || fail "checkout $c"
  diff -r "$work/snap/$c" "$work/out-$c" >/dev/null || fail "checkout of $c differs from what was committed"
done
# In place: one folder moved from commit to commit; only changed files are rewritten.
jz checkout "data@$c1" "$work/inplace" >/dev/null || fail "fresh checkout for in-place updates"
ino_blob=$(stat -c %i "$work/inplace/raw/blob.bin")
for c in "$c2" "$c4" "$c6"; do
  jz checkout "data@$c" "$work/inplace" >/dev/null || fail "in-place checkout of $c"
  diff -r "$work/snap/$c" "$work/inplace" >/dev/null || fail "in-place checkout of $c differs from what was committed"
done
[ "$(stat -c %i "$work/inplace/raw/blob.bin")" = "$ino_blob" ] || fail "in-place checkout rewrote an unchanged file"
printf 'my local edit\n' > "$work/inplace/raw/b.csv"
if jz checkout "data@$c5" "$work/inplace" >/dev/null 2>"$work/ck-conflict.txt"; then fail "in-place checkout overwrote a local edit"; fi
grep -q "raw/b.csv" "$work/ck-conflict.txt" || fail "in-place conflict not listed"
jz checkout "data@$c5" "$work/inplace" --force >/dev/null || fail "in-place checkout --force"
diff -r "$work/snap/$c5" "$work/inplace" >/dev/null || fail "forced in-place checkout differs"
# Standard tools read history: the commit is DAG-CBOR with a tree link; the tree is UnixFS.
tree=$(jz dag get "$c4" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree"]["/"])')
jz ls "$tree" | grep -q " raw/" || fail "ls of the tree"
jz lineage "data@$c1" | grep -q "$c1" || fail "lineage"

# Signed commits: one by the node key, one by a named key; log --show-signature verifies both,
# and a copy of a signed commit with its message rewritten shows a BAD signature.
jz key gen release >/dev/null
me=$(jz key list -l | awk '$2 == "self" {print $1}')
rel=$(jz key list -l | awk '$2 == "release" {print $1}')
jz branch create data signed --from main >/dev/null
printf 'signed\n' > "$work/ds/SIGNED"
s1=$(jz commit data@signed "$work/ds" -m "signed by the node" --sign)
printf 'release\n' > "$work/ds/RELEASE"
s2=$(jz commit data@signed "$work/ds" -m "release build" --sign-key release)
sigs=$(jz log data@signed -n 3 --show-signature)
echo "$sigs" | grep -q "^Good signature by $me (key self)$" || fail "no good node signature in: $sigs"
echo "$sigs" | grep -q "^Good signature by $rel (key release)$" || fail "no good release signature in: $sigs"
[ "$(echo "$sigs" | grep -c "signature")" = 2 ] || fail "unsigned commit shows a signature line: $sigs"
jz log data@signed -n 1 --show-signature --json | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["Signature"]
assert s["Valid"] is True and s["Key"] == sys.argv[1] and s["KeyName"] == "release", s' "$rel" || fail "log --json signature"
forged=$(jz dag get "$s2" | python3 -c 'import json,sys; c=json.load(sys.stdin); c["message"]="forged"; print(json.dumps(c))' | jz dag put)
jz show "data@$forged" | grep -q "^BAD signature by $rel (key release): the signature does not match the commit$" \
  || fail "forged commit not reported as BAD"
echo "signed commits: $s1 (self) $s2 (release), forged copy $forged reported BAD"

echo "versioning scenario passed: 6 commits, merges (three-way clean; conflict with fail/ours/theirs), checkouts identical (fresh and in place), gc safe, signatures verified"
