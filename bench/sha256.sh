#!/usr/bin/env bash
# SHA-256 multihash throughput of jz-node on a 256 MiB buffer (best of 5, release build)
# against `openssl speed -evp sha256` (16 KiB blocks, the machine's SHA-NI ceiling), same run.
# Target: jz-node >= 85% of OpenSSL. Where the multi-buffer kernel applies (AVX-512, no SHA-NI) it
# also prints the rate of hashing the same bytes as 256 KiB chunks, 16 at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product jz-bench 2>&1 | grep -E "error|Build complete" || true
bin="$(swift build -c release --show-bin-path)/jz-bench"
out=$("$bin" sha256 256 5 2>/dev/null)
read -r _ bytes secs ours < <(echo "$out" | grep '^sha256-multihash')
batch=$(echo "$out" | awk '/^sha256-batch-256KiB/ {print $4}')
# openssl speed prints "sha256 ... <16384-byte rate>k" in its last line; rates in 1000s of bytes/s.
line=$(openssl speed -evp sha256 -bytes 16384 -seconds 3 2>/dev/null | tail -n 1)
ossl_k=$(echo "$line" | awk '{print $NF}' | tr -d 'k')
ossl=$(awk -v k="$ossl_k" 'BEGIN { printf "%.1f", k / 1000 }')
ratio=$(awk -v a="$ours" -v b="$ossl" 'BEGIN { printf "%.1f", 100 * a / b }')
echo "jz-node sha2-256 multihash, 256 MiB: ${ours} MB/s"
echo "openssl speed -evp sha256 (16 KiB):  ${ossl} MB/s"
echo "ratio: ${ratio}% (target >= 85%)"
if [ -n "$batch" ]; then
  echo "jz-node multi-buffer SHA-256, 256 KiB chunks 16 at a time, one core: ${batch} MB/s ($(awk -v a="$batch" -v b="$ossl" 'BEGIN { printf "%.1f", a / b }')x OpenSSL)"
fi
awk -v r="$ratio" 'BEGIN { exit (r >= 85 ? 0 : 1) }'
