// swift-tools-version:6.0
// jz-node: data-centric version control as an IPFS-compatible peer node.
import PackageDescription

let package = Package(
    name: "jz-node",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "jz-node", targets: ["jz-node"]),
        .library(name: "Multiformats", targets: ["Multiformats"]),
        .library(name: "P2PCrypto", targets: ["P2PCrypto"]),
        .library(name: "IPLD", targets: ["IPLD"]),
        .library(name: "BlockStore", targets: ["BlockStore"]),
        .library(name: "UnixFS", targets: ["UnixFS"]),
        .library(name: "Versioning", targets: ["Versioning"]),
        .library(name: "JZNode", targets: ["JZNode"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System-library shims (pkg-config; apt packages named for set-up messages).
        .systemLibrary(
            name: "CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),

        .target(
            name: "Multiformats",
            dependencies: ["COpenSSL", "CSodium"]),
        .target(
            name: "P2PCrypto",
            dependencies: [
                "Multiformats", "COpenSSL", "CSodium",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Generated/README.md"]),
        .target(
            name: "IPLD",
            dependencies: ["Multiformats"]),
        .target(
            name: "BlockStore",
            dependencies: [
                "IPLD", "Multiformats", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "UnixFS",
            dependencies: [
                "IPLD", "BlockStore", "Multiformats",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Versioning",
            dependencies: [
                "UnixFS", "IPLD", "BlockStore", "Multiformats", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "JZNode",
            dependencies: [
                "Multiformats", "P2PCrypto", "IPLD", "BlockStore", "UnixFS", "Versioning", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "jz-node",
            dependencies: [
                "JZNode", "Multiformats", "P2PCrypto", "IPLD", "BlockStore", "UnixFS", "Versioning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "jz-bench",
            dependencies: ["Multiformats"]),

        .testTarget(
            name: "MultiformatsTests",
            dependencies: ["Multiformats"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "P2PCryptoTests",
            dependencies: ["P2PCrypto", "Multiformats"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "IPLDTests",
            dependencies: ["IPLD", "Multiformats"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "BlockStoreTests",
            dependencies: ["BlockStore", "IPLD", "Multiformats"]),
        .testTarget(
            name: "UnixFSTests",
            dependencies: ["UnixFS", "BlockStore", "IPLD", "Multiformats", "CSodium"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "VersioningTests",
            dependencies: ["Versioning", "UnixFS", "BlockStore", "IPLD", "Multiformats"]),
        .testTarget(
            name: "JZNodeTests",
            dependencies: ["JZNode", "P2PCrypto", "Multiformats", "IPLD", "BlockStore", "UnixFS"]),
    ],
    swiftLanguageModes: [.v6]
)
