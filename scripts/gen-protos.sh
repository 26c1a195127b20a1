#!/usr/bin/env bash
# Regenerates the Swift code for the project's .proto files (Protos/) with protoc + protoc-gen-swift.
#
# The output is committed (Sources/<Target>/Generated/*.pb.swift), so a normal build never runs this.
# Run it after changing a .proto file or the swift-protobuf version:
#
#     scripts/gen-protos.sh            # build the plugin (first time only, ~10 min on 2 cores), then generate
#     scripts/gen-protos.sh --check    # generate into a temp dir and fail if the committed output differs
#
# Needs: protoc (Debian: protobuf-compiler) and git. protoc-gen-swift is built once from the swift-protobuf
# package at the version this project depends on, in the scratch folder .build-protoc/ (git-ignored).
# Environment: SWIFT_PROTOBUF_GIT (clone source, default https://github.com/apple/swift-protobuf.git),
# SWIFT_PROTOBUF_VERSION (default 1.39.0, keep in sync with Package.swift), JOBS (default 1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SWIFT_PROTOBUF_VERSION="${SWIFT_PROTOBUF_VERSION:-1.39.0}"
SWIFT_PROTOBUF_GIT="${SWIFT_PROTOBUF_GIT:-https://github.com/apple/swift-protobuf.git}"
JOBS="${JOBS:-1}"
SCRATCH="$ROOT/.build-protoc"
SRC="$SCRATCH/swift-protobuf-$SWIFT_PROTOBUF_VERSION"
PLUGIN="$SCRATCH/build/release/protoc-gen-swift"

# (proto file in Protos/ → target folder under Sources/, visibility)
PROTOS=(
    "crypto.proto P2PCrypto Internal"
    "noise-payload.proto P2PSecurity Internal"
    "identify.proto P2PHost Internal"
    "peer_record.proto P2PHost Internal"
    "envelope.proto P2PHost Internal"
    "crypto.proto P2PHost Internal"
    "bitswap-message.proto Bitswap Internal"
    "record.proto KadDHT Internal"
    "dht.proto KadDHT Internal"
    "ipns-record.proto IPNS Internal"
)

CHECK=0
BUILD_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --check) CHECK=1 ;;
        --build-plugin-only) BUILD_ONLY=1 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "gen-protos.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

command -v protoc >/dev/null || { echo "gen-protos.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

if [[ ! -x "$PLUGIN" ]]; then
    mkdir -p "$SCRATCH"
    if [[ ! -d "$SRC" ]]; then
        echo "gen-protos.sh: cloning swift-protobuf $SWIFT_PROTOBUF_VERSION"
        git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$SWIFT_PROTOBUF_VERSION" \
            "$SWIFT_PROTOBUF_GIT" "$SRC"
    fi
    echo "gen-protos.sh: building protoc-gen-swift (once; takes several minutes)"
    swift build --package-path "$SRC" --scratch-path "$SCRATCH/build" -c release -j "$JOBS" \
        --product protoc-gen-swift
fi
[[ "$BUILD_ONLY" == 1 ]] && { echo "gen-protos.sh: plugin at $PLUGIN"; exit 0; }

OUT_ROOT="$ROOT/Sources"
if [[ "$CHECK" == 1 ]]; then
    OUT_ROOT="$(mktemp -d)"
    trap 'rm -rf "$OUT_ROOT"' EXIT
fi

status=0
for entry in "${PROTOS[@]}"; do
    read -r proto target visibility <<<"$entry"
    out="$OUT_ROOT/$target/Generated"
    mkdir -p "$out"
    protoc --plugin=protoc-gen-swift="$PLUGIN" \
        --proto_path="$ROOT/Protos" \
        --swift_opt=Visibility="$visibility" \
        --swift_opt=FileNaming=DropPath \
        --swift_out="$out" \
        "$ROOT/Protos/$proto"
    generated="${proto%.proto}.pb.swift"
    if [[ "$CHECK" == 1 ]]; then
        if ! cmp -s "$out/$generated" "$ROOT/Sources/$target/Generated/$generated"; then
            echo "gen-protos.sh: Sources/$target/Generated/$generated is out of date" >&2
            status=1
        fi
    else
        echo "gen-protos.sh: wrote Sources/$target/Generated/$generated"
    fi
done
exit "$status"
