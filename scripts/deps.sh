#!/usr/bin/env bash
# Installs the system packages jz-node needs, when missing (Debian/Ubuntu, apt-get).
# The C libraries: libsodium (Ed25519, BLAKE2b), OpenSSL (SHA-2/3, RSA, ECDSA, TLS), SQLite.
# pkg-config finds them; libgmp-dev and gcc build py-libp2p's fastecdsa for the Interop tests;
# chromium (headless) opens the repository web page and curl reads the gateway in the Interop tests.
# The fuzz build (scripts/fuzz.sh) needs nothing more: libFuzzer and the ASan runtime come with the
# Swift toolchain (usr/lib/clang/*/lib/linux/libclang_rt.{fuzzer,asan}-x86_64.a), and the fuzz
# binary links as jz-node does (gold from binutils, libstdc++: the toolchain's own prerequisites).
set -euo pipefail
need=()
for pkg in libsodium-dev libssl-dev libsqlite3-dev pkg-config libgmp-dev python3-venv chromium curl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# python3-venv may be provided by a non-Debian Python (e.g. pyenv): skip it if venv works.
if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need=("${need[@]/python3-venv}")
fi
pkgs=$(printf '%s ' "${need[@]}" | xargs || true)
[ -z "$pkgs" ] && exit 0
echo "installing system packages: $pkgs"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || { echo "apt-get update failed: install $pkgs by hand" >&2; exit 1; }
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $pkgs >/dev/null || { echo "apt-get install failed: install $pkgs by hand" >&2; exit 1; }
