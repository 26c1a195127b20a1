#!/usr/bin/env bash
# Sites that fail and heal (issue 15): jz-node sites in network namespaces replicate a versioned
# dataset while links fail, a daemon is killed and a hostile peer attacks; then store verify,
# complete DAGs, identical checkouts and convergence are checked (Interop/sites_scenario.py).
#   sudo bash scripts/sites-scenario.sh --full            # 4 sites, 200 MiB, 3 link failures, 1 SIGKILL, 1 hostile peer
#   sudo bash scripts/sites-scenario.sh --mib 50 --sites 5 --down-seconds 5 --json
# Options: see `--help`. JZ_NODE_BIN picks the binary (default .build/debug/jz-node); the work
# folder (--work, default Interop/.work/sites-scenario) keeps the daemons' logs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $EUID -ne 0 ]]; then echo "sites-scenario: needs root (network namespaces, tc)" >&2; exit 2; fi
bash "$root/Interop/setup.sh"
export PYTHONDONTWRITEBYTECODE=1
exec "$root/Interop/.venv/bin/python" "$root/Interop/sites_scenario.py" "$@"
