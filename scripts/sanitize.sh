#!/usr/bin/env bash
# Runs the unit tests under a sanitizer (by hand, not in CI: each build takes minutes and the
# tests run several times slower):
#   scripts/sanitize.sh thread|address [swift test options...]
# Builds into .build-tsan or .build-asan (kept apart from .build), runs every unit test, then
# prints the sanitizer's reports, one line each, and fails if there is any.
# The tests' own deadlines are stretched ten times (JZ_TEST_TIME_SCALE, Sources/TestSupport/
# TestTime.swift); a test that still fails is listed apart from the sanitizer's reports.
# Suppressions, each with its reason: scripts/tsan-suppressions.txt, scripts/lsan-suppressions.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-}"
case "$kind" in
  thread) dir=.build-tsan ;;
  address) dir=.build-asan ;;
  *) echo "usage: scripts/sanitize.sh thread|address [swift test options...]" >&2; exit 2 ;;
esac
shift
log="$dir/sanitize-tests.log"
echo "== build (debug, --sanitize=$kind, into $dir)"
swift build --build-tests --sanitize="$kind" --scratch-path "$dir" 2>&1 | grep -E "error|Build complete" || true
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
echo "== unit tests (log: $log)"
status=0
# Ten times the tests' own deadlines (TestTime): sanitized code is 5-15x slower. Swift's backtracer off, so the reports stay whole.
JZ_TEST_TIME_SCALE="${JZ_TEST_TIME_SCALE:-10}" SWIFT_BACKTRACE=enable=no \
  TSAN_OPTIONS="${TSAN_OPTIONS:-second_deadlock_stack=1 suppressions=$PWD/scripts/tsan-suppressions.txt print_suppressions=0}" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
  LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan-suppressions.txt print_suppressions=0}" \
  swift test --skip-build --sanitize="$kind" --scratch-path "$dir" "$@" >"$log" 2>&1 || status=$?
reports=$(grep -cE "^ *(WARNING: ThreadSanitizer|==[0-9]+==ERROR: (Address|Leak)Sanitizer)" "$log" || true)
grep -E "^SUMMARY: (ThreadSanitizer|AddressSanitizer)" "$log" | sort | uniq -c || true
echo "sanitizer reports: $reports"
grep -E "^✔ Test run|^✘ Test run|Executed [0-9]+ tests" "$log" | tail -3
grep -E "^✘ Test .* (failed|recorded)" "$log" | head -40 || true
[ "$reports" -eq 0 ] || exit 1
exit "$status"
