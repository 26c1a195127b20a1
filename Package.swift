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
        .library(name: "P2PCore", targets: ["P2PCore"]),
        .library(name: "P2PSecurity", targets: ["P2PSecurity"]),
        .library(name: "P2PMux", targets: ["P2PMux"]),
        .library(name: "P2PHost", targets: ["P2PHost"]),
        .library(name: "Bitswap", targets: ["Bitswap"]),
        .library(name: "KadDHT", targets: ["KadDHT"]),
        .library(name: "IPNS", targets: ["IPNS"]),
        .library(name: "RepoSync", targets: ["RepoSync"]),
        .library(name: "WebUI", targets: ["WebUI"]),
        .library(name: "HTTPServing", targets: ["HTTPServing"]),
        .library(name: "Gateway", targets: ["Gateway"]),
        .library(name: "JZNode", targets: ["JZNode"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // System-library shims (pkg-config; apt packages named for set-up messages).
        .systemLibrary(
            name: "CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        // glibc's <malloc.h> (mallopt), for the executable's allocator tuning.
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(
            name: "CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),
        // The libc stub resolver (res_nquery, ns_parserr) for DNS TXT lookups of /dnsaddr/.
        .systemLibrary(name: "CResolv"),

        // Multi-buffer SHA-256 (AVX-512): C with intrinsics, always optimised (at -O0 the
        // intrinsics run ~20x slower than OpenSSL), so debug builds and tests hash at full speed.
        .target(
            name: "CSha256MB",
            cSettings: [.unsafeFlags(["-O2"])]),
        .target(
            name: "Multiformats",
            dependencies: ["COpenSSL", "CSodium", "CSha256MB"]),
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
                "BlockingPool", "IPLD", "Multiformats", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "UnixFS",
            dependencies: [
                "BlockingPool", "IPLD", "BlockStore", "Multiformats",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Versioning",
            dependencies: [
                "UnixFS", "IPLD", "BlockStore", "Multiformats", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "BlockingPool"),
        // Test scopes shared by the unit tests (Swift Testing traits); not part of any product.
        .target(name: "TestSupport", dependencies: ["BlockingPool", "P2PCore"]),
        .target(
            name: "P2PCore",
            dependencies: [
                "BlockingPool", "Multiformats", "P2PCrypto",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "P2PSecurity",
            dependencies: [
                "P2PCore", "P2PCrypto", "Multiformats", "CSodium", "COpenSSL",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "P2PMux",
            dependencies: [
                "P2PCore",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "P2PHost",
            dependencies: [
                "P2PCore", "P2PSecurity", "P2PMux", "P2PCrypto", "Multiformats",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Bitswap",
            dependencies: [
                "P2PCore", "P2PCrypto", "BlockStore", "IPLD", "Multiformats",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "KadDHT",
            dependencies: [
                "P2PCore", "P2PCrypto", "Multiformats",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "IPNS",
            dependencies: [
                "P2PCrypto", "IPLD", "Multiformats", "P2PCore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Repository sync between sites: publish, clone, pull, remotes (names and blocks behind
        // protocols; JZNode wires the DHT, the keystore and Bitswap).
        .target(
            name: "RepoSync",
            dependencies: [
                "Versioning", "IPNS", "IPLD", "UnixFS", "BlockStore", "Multiformats", "P2PCore",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The repository web page (server-rendered HTML over the versioning layer).
        .target(
            name: "WebUI",
            dependencies: ["Versioning", "UnixFS", "IPLD", "Multiformats", "P2PCore", "Gateway"]),
        // The HTTP/1.1 listener (SwiftNIO bootstrap, pipeline, bind, close) the RPC API and the
        // gateway share.
        .target(
            name: "HTTPServing",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The IPFS HTTP gateway: trustless (raw, CAR, IPNS records) and path gateway; blocks and
        // names behind protocols (JZNode wires Bitswap and the name service).
        .target(
            name: "Gateway",
            dependencies: [
                "UnixFS", "IPLD", "BlockStore", "Multiformats", "P2PCore", "HTTPServing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // In-memory hosts and network for protocol tests (Bitswap, the DHT): a library the test
        // targets share, as Hummingbird ships its testing support.
        .target(
            name: "P2PTestSupport",
            dependencies: ["TestSupport", "P2PCore", "P2PCrypto", "Multiformats"]),
        .target(
            name: "JZNode",
            dependencies: [
                "Multiformats", "P2PCrypto", "IPLD", "BlockStore", "UnixFS", "Versioning", "CSQLite",
                "P2PCore", "P2PHost", "P2PSecurity", "P2PMux", "Bitswap", "KadDHT", "IPNS", "CResolv", "RepoSync", "WebUI", "Gateway",
                "HTTPServing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "jz-node",
            dependencies: [
                "JZNode", "Multiformats", "P2PCrypto", "IPLD", "BlockStore", "UnixFS", "Versioning", "RepoSync", "IPNS",
                "BlockingPool", "P2PCore", "P2PHost", "P2PSecurity", "Bitswap", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "jz-bench",
            dependencies: [
                "Multiformats", "P2PCore", "P2PCrypto", "P2PSecurity", "P2PMux", "P2PHost", "KadDHT", "JZNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(
            name: "MultiformatsTests",
            dependencies: [
                "TestSupport", "Multiformats"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "P2PCryptoTests",
            dependencies: [
                "TestSupport", "P2PCrypto", "Multiformats"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "IPLDTests",
            dependencies: [
                "TestSupport", "IPLD", "Multiformats"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "BlockStoreTests",
            dependencies: [
                "TestSupport", "BlockStore", "IPLD", "Multiformats"]),
        .testTarget(
            name: "UnixFSTests",
            dependencies: [
                "TestSupport", "UnixFS", "BlockStore", "IPLD", "Multiformats", "CSodium"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "VersioningTests",
            dependencies: [
                "TestSupport", "Versioning", "UnixFS", "BlockStore", "IPLD", "Multiformats"]),
        .testTarget(
            name: "P2PCoreTests",
            dependencies: ["TestSupport", "P2PCore", "P2PCrypto", "Multiformats"]),
        .testTarget(
            name: "BlockingPoolTests",
            dependencies: [
                "TestSupport", "BlockingPool"]),
        .testTarget(
            name: "P2PSecurityTests",
            dependencies: [
                "TestSupport",
                "P2PSecurity", "P2PCore", "P2PCrypto", "Multiformats",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "P2PMuxTests",
            dependencies: ["TestSupport", "P2PMux", "P2PCore", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "P2PHostTests",
            dependencies: [
                "TestSupport",
                "P2PHost", "P2PSecurity", "P2PMux", "P2PCore", "P2PCrypto", "Multiformats",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "BitswapTests",
            dependencies: [
                "TestSupport",
                "Bitswap", "P2PCore", "P2PCrypto", "BlockStore", "IPLD", "Multiformats", "UnixFS", "P2PTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "KadDHTTests",
            dependencies: [
                "TestSupport",
                "KadDHT", "P2PCore", "P2PCrypto", "Multiformats", "P2PTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "WebUITests",
            dependencies: [
                "TestSupport", "WebUI", "Versioning", "BlockStore", "UnixFS", "Multiformats"]),
        .testTarget(
            name: "RepoSyncTests",
            dependencies: [
                "TestSupport",
                "RepoSync", "Versioning", "IPNS", "BlockStore", "UnixFS", "IPLD", "Multiformats", "P2PCore", "P2PCrypto",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "IPNSTests",
            dependencies: [
                "TestSupport", "IPNS", "P2PCrypto", "IPLD", "Multiformats", "P2PCore"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "TestSupport", "HTTPServing",
                "Gateway", "UnixFS", "BlockStore", "IPLD", "Multiformats", "P2PCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "JZNodeTests",
            dependencies: [
                "TestSupport",
                "JZNode", "P2PCrypto", "Multiformats", "IPLD", "BlockStore", "UnixFS", "Versioning", "KadDHT", "P2PCore",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
