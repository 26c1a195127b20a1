// swift-tools-version:6.0
// libFuzzer targets for every decoder that reads bytes from a peer or a file (see README "Fuzzing").
// A package of its own so that `swift build` at the root is unchanged; scripts/fuzz.sh builds it with
// `--sanitize=fuzzer --sanitize=address` and runs one target at a time (JZ_FUZZ_TARGET).
import PackageDescription

let package = Package(
    name: "jz-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "jz-node", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "jz-fuzz",
            dependencies: [
                .product(name: "Multiformats", package: "jz-node"),
                .product(name: "IPLD", package: "jz-node"),
                .product(name: "UnixFS", package: "jz-node"),
                .product(name: "P2PCrypto", package: "jz-node"),
                .product(name: "P2PCore", package: "jz-node"),
                .product(name: "P2PSecurity", package: "jz-node"),
                .product(name: "P2PMux", package: "jz-node"),
                .product(name: "P2PHost", package: "jz-node"),
                .product(name: "Bitswap", package: "jz-node"),
                .product(name: "KadDHT", package: "jz-node"),
                .product(name: "IPNS", package: "jz-node"),
                .product(name: "JZNode", package: "jz-node"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
