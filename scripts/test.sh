#!/usr/bin/env bash
# Runs every test: the build (zero warnings allowed), the unit tests, and the Interop
# scenarios against real peers (Kubo 0.22, py-libp2p 0.8.1) on loopback.
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

# Two runs. The networking suites run first, alone, on Swift's cooperative pool: in one run with
# everything, one of them (HostTests.noiseRefusesWrongPeer) once never returned. Every other
# suite runs its cases on the blocking pool, at most 2×cores at once, and stops the run if a case
# hangs (Sources/TestSupport/OnBlockingPool.swift: JZ_TEST_PARALLELISM, JZ_TEST_TIME_LIMIT).
net='P2P(Core|Security|Mux|Host)Tests'
echo "== unit tests (networking)"
swift test --skip-build --filter "$net"
echo "== unit tests (everything else)"
swift test --skip-build --skip "$net"

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
