#!/usr/bin/env bash
# Runs the interop tests: installs the real peers (setup.sh), then pytest on Interop/.
#   JZ_NODE_BIN=/path/to/jz-node bash Interop/run.sh [extra pytest args]
# Without JZ_NODE_BIN the tests use <repo>/.build/debug/jz-node (build it with `swift build`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
export PYTHONDONTWRITEBYTECODE=1
cd "$here"
exec "$here/.venv/bin/python" -m pytest -q -p no:cacheprovider "$@" "$here"
