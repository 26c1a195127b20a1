#!/usr/bin/env bash
# Crash test for the block store: kills `jz-node add` of a large file with SIGKILL at random
# moments. After each kill `jz-node store verify` must pass (no block whose bytes do not hash
# to its key, no recursive pin with an incomplete DAG), and re-running `add` must complete and
# pin the same CID. The store is then emptied (unpin + gc) so the next round writes again.
#
#   scripts/crash-test.sh [--mib 1024] [--kills 10] [--bin PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
mib=1024 kills=10 bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --mib) mib=$2; shift 2 ;;
    --kills) kills=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "usage: $0 [--mib N] [--kills N] [--bin PATH]" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  swift build -c release --product jz-node >/dev/null
  bin="$(swift build -c release --show-bin-path)/jz-node"
fi
work=$(mktemp -d /tmp/jz-crash-XXXXXX)
trap 'rm -rf "$work"' EXIT
export JZ_PATH="$work/home"
"$bin" init --empty-bootstrap >/dev/null
head -c $((mib * 1024 * 1024)) /dev/urandom > "$work/data.bin"

start=$(date +%s%N)
expected=$("$bin" add -Q --only-hash "$work/data.bin")
hash_secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
echo "file: $mib MiB, CID $expected (hashing took ${hash_secs}s)"

for round in $(seq 1 "$kills"); do
  # A random moment within ~1.5x of the time hashing alone takes.
  delay=$(awk -v s="$hash_secs" -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.05 + (r / 32767) * s * 1.5 }')
  "$bin" add -Q "$work/data.bin" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then state="killed after ${delay}s"; else state="finished before ${delay}s"; fi
  wait "$pid" 2>/dev/null || true
  if ! "$bin" store verify >"$work/verify.log" 2>&1; then
    echo "round $round ($state): store verify FAILED" >&2
    cat "$work/verify.log" >&2
    exit 1
  fi
  got=$("$bin" add -Q "$work/data.bin")
  if [ "$got" != "$expected" ]; then
    echo "round $round ($state): re-run add gave $got, expected $expected" >&2
    exit 1
  fi
  if ! "$bin" pin ls --type recursive | grep -q "^$expected"; then
    echo "round $round ($state): $expected is not pinned after the re-run" >&2
    exit 1
  fi
  "$bin" store verify >/dev/null
  echo "round $round: $state; verify ok; re-run add pinned $expected"
  "$bin" pin rm "$expected" >/dev/null
  "$bin" store gc -q >/dev/null
done
echo "crash test passed: $kills kills"
