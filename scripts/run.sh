#!/usr/bin/env bash
# Runs a jz-node: installs what is missing, builds (release), initialises the node home
# ($JZ_PATH, default ~/.jz) on first run, then starts the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
echo "== building jz-node (release)"
swift build -c release --product jz-node 2>&1 | grep -E "error|warning:|Build complete" || true
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "build failed" >&2; exit 1; }
bin="$(swift build -c release --show-bin-path)/jz-node"
home="${JZ_PATH:-$HOME/.jz}"
if [ ! -f "$home/config" ]; then
  "$bin" init
fi
"$bin" id
exec "$bin" daemon "$@"
