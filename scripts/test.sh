#!/usr/bin/env bash
# Runs every test: the build (zero warnings allowed), the unit tests, the Interop
# scenarios against real peers (Kubo 0.22, py-libp2p 0.8.1) on loopback, and a fuzz smoke.
# Installs what is missing first (system packages, the Python venv for Interop).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

mkdir -p .build
log=.build/jz-build.log
echo "== build (debug, with tests)"
swift build --build-tests 2>&1 | tee "$log" | grep -E "error|warning:|Compiling jz|Build complete" || true
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "build failed (full log: $log)" >&2; exit 1; }
if grep -E "warning:" "$log" | grep -v "/.build/checkouts/" | grep -q .; then
  echo "the build has warnings (the project allows none):" >&2
  grep -E "warning:" "$log" | grep -v "/.build/checkouts/" | sort -u >&2
  exit 1
fi

# One run for every suite, the networking ones (P2P*Tests) included: each runs its cases on the
# blocking pool, at most 2×cores cases at once, and a case that hangs stops the run with
# its name (Sources/TestSupport/OnBlockingPool.swift: JZ_TEST_PARALLELISM, JZ_TEST_TIME_LIMIT).
echo "== unit tests"
swift test --skip-build

echo "== versioning scenario"
scripts/versioning-scenario.sh --bin "$PWD/.build/debug/jz-node"

echo "== interop tests"
JZ_NODE_BIN="$PWD/.build/debug/jz-node" bash Interop/run.sh

# Fuzz smoke (README "Fuzzing"): the libFuzzer build of Fuzz/ (release, ASan; its own build
# directory, checked for coverage and ASan in every module) and 10,000 runs of each of the 23 decoder targets
# from its seed corpus. A crash, ASan report, leak, timeout or round-trip mismatch fails the run.
echo "== fuzz smoke"
scripts/fuzz.sh all --runs 10000

echo "all tests passed"
