#!/usr/bin/env bash
# Fuzzes the decoders (Fuzz/, see README "Fuzzing"): builds the libFuzzer binary (release, ASan, into
# Fuzz/.build/fuzzer-address; every Swift module checked for coverage counters and ASan) and runs
# targets one at a time on a working copy of their seed corpus (Fuzz/Corpus/<target>).
#   scripts/fuzz.sh [TARGET|all] [--runs N | --time S] [--keep DIR] [--skip-build]
# --skip-build runs the binary already built. Default: all targets, --runs 2000 (a smoke run).
# Fails on any crash, leak, timeout or OOM; the input is left in Fuzz/.artifacts/<target>/
# (reproduce: JZ_FUZZ_TARGET=<target> <binary> <file>).
# --keep DIR keeps the grown corpora in DIR/<target> (and reuses them on the next run).
set -euo pipefail
script=$(readlink -f "$0")
cd "$(dirname "$script")/../Fuzz"

target=all runs=2000 time= keep= build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; time=; shift 2 ;;
    --time) time="$2"; runs=; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    --skip-build) build=; shift ;;
    -h|--help) sed -n 2,9p "$script"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) target="$1"; shift ;;
  esac
done

# Largest input per target: big enough for the seeds and a few frames/sections, small enough to stay fast.
declare -A max_len=(
  [varint]=16 [multiaddr]=512 [cid]=256 [multihash]=256 [multibase]=1024
  [dag-pb]=4096 [dag-cbor]=16384 [dag-json]=16384 [car]=16384 [unixfs]=1024 [hamt]=8192
  [key]=4096 [noise]=1024 [tls]=4096 [multistream]=1024 [yamux]=4096 [mplex]=4096
  [identify]=8192 [envelope]=4096 [bitswap]=8192 [dht]=8192 [ipns]=10240 [config]=8192
)
if [ "$target" = all ]; then
  targets=$(printf '%s\n' "${!max_len[@]}" | sort)
elif [ -n "${max_len[$target]:-}" ]; then
  targets=$target
else
  echo "unknown target $target; targets: $(printf '%s ' "${!max_len[@]}" | tr ' ' '\n' | sort | tr '\n' ' ')" >&2
  exit 2
fi

# Its own build directory for this flag set: a build of Fuzz/ with other flags (a plain `swift build`,
# another sanitizer) never shares objects with it.
# swiftc keeps only the last -sanitize= option, and SwiftPM passes `--sanitize=fuzzer --sanitize=address`
# as two, in no fixed order: one build gets ASan without coverage (it "runs clean" fuzzing nothing but
# the C code), the next coverage without ASan. The one -Xswiftc option, which comes after them, wins.
scratch=.build/fuzzer-address
flags=(-c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing
  --scratch-path "$scratch")
bin=$scratch/release/jz-fuzz
objects=$scratch/release/jz-fuzz.product/Objects.LinkFileList

# Names the Swift modules linked into the binary that have code (a function besides the
# sanitizers' constructors; NIO's module, say, only re-exports) but no object with libFuzzer's
# coverage counters (section __sancov_cntrs) or none with AddressSanitizer checks (__asan_init).
# Prints nothing when every one has both.
uninstrumented_modules() {
  [ -f "$objects" ] || { echo "(no Fuzz/$objects)"; return; }
  local swift_objects with_code
  swift_objects=$(tr -d "'" <"$objects" | grep -E '\.swift\.o$')
  with_code=$(tr '\n' '\0' <<<"$swift_objects" | xargs -0 nm -A --defined-only 2>/dev/null \
    | awk 'NF >= 3 && $(NF-1) ~ /^[Tt]$/ && $NF !~ /^(asan|sancov)\.module_[cd]tor/' | module_names)
  {
    comm -23 <(echo "$with_code") <(tr '\n' '\0' <<<"$swift_objects" | xargs -0 grep -l -F __sancov_cntrs | module_names) \
      | sed 's/$/ (no coverage)/'
    comm -23 <(echo "$with_code") <(tr '\n' '\0' <<<"$swift_objects" | xargs -0 grep -l -F __asan_init | module_names) \
      | sed 's/$/ (no ASan)/'
  } | sort
}
# The module of each object path (…/release/<Module>.build/<file>.o) in the input, once each.
module_names() { sed -n -E 's|.*/release/([^/]+)\.build/.*|\1|p' | sort -u; }

build() {
  echo "== build (release, -sanitize=fuzzer,address, into Fuzz/$scratch)"
  local start log=.build/fuzz-build.log
  start=$(date +%s)
  mkdir -p .build
  if ! swift build "${flags[@]}" >"$log" 2>&1; then
    grep -E "error" "$log" >&2 || tail -20 "$log" >&2
    echo "fuzz build failed (full log: Fuzz/$log)" >&2
    exit 1
  fi
  echo "built in $(( $(date +%s) - start )) s"
}

if [ -n "$build" ]; then
  build
  bare=$(uninstrumented_modules)
  if [ -n "$bare" ]; then
    # Objects reused from a build without coverage: throw the build directory away and build once more.
    echo "modules not instrumented: $(echo $bare); rebuilding Fuzz/$scratch from scratch"
    rm -rf "$scratch"
    build
  fi
fi
[ -x "$bin" ] || { echo "no Fuzz/$bin: run without --skip-build first" >&2; exit 1; }
bare=$(uninstrumented_modules)
if [ -n "$bare" ]; then
  echo "Fuzz/$bin is not instrumented in: $(echo $bare)" >&2
  echo "rebuild it from scratch: rm -rf Fuzz/$scratch && scripts/fuzz.sh" >&2
  exit 1
fi
echo "instrumented: every Swift module with code in Fuzz/$bin has coverage counters and ASan checks"

smoke_start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in $targets; do
  corpus="$work/$t"
  [ -n "$keep" ] && corpus="$keep/$t"
  mkdir -p "$corpus" ".artifacts/$t"
  cp -n Corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  limit=(-runs="$runs")
  [ -n "$time" ] && limit=(-max_total_time="$time")
  out="$work/$t.log"
  echo "== $t"
  # SWIFT_BACKTRACE off: the Swift crash handler reads the ASan shadow gap and hides the report.
  if SWIFT_BACKTRACE=enable=no JZ_FUZZ_TARGET="$t" "$bin" "$corpus" "${limit[@]}" -max_len="${max_len[$t]}" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=".artifacts/$t/" >"$out" 2>&1; then
    # A binary whose decoders were not instrumented (SwiftPM reused objects built without
    # coverage) finds nothing and says so: that is a broken build, not a clean run.
    if grep -q "Is the code instrumented for coverage" "$out"; then
      echo "FAILED: $t: the binary has no coverage instrumentation; rebuild from scratch (rm -rf Fuzz/$scratch)" >&2
      failed+=("$t")
      continue
    fi
    # The last status line (execs and coverage) and the final stats.
    grep -E "^#[0-9]+" "$out" | tail -1
    grep -E "stat::number_of_executed_units|stat::average_exec_per_sec" "$out" | tr '\n' ' '; echo
  else
    echo "FAILED: $t (log below; input in Fuzz/.artifacts/$t/)" >&2
    grep -vE "^#[0-9]+|^INFO|^MERGE" "$out" | tail -40 >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz findings in: ${failed[*]}" >&2
  exit 1
fi
echo "all fuzz targets ran clean ($(( $(date +%s) - smoke_start )) s)"
