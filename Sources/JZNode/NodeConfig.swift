import Foundation

/// The node configuration: a JSON document with Kubo's key names where Kubo has the
/// setting (`Identity.PeerID`, `Addresses.Swarm`, `Addresses.API`, `Bootstrap`, …).
///
/// The whole tree is kept, so keys this version does not know survive edits.
public struct NodeConfig: Sendable, Equatable {
    /// Keys that hold secrets; `config` refuses to show or change them.
    public static let protectedKeys: Set<String> = ["Identity.PrivKey"]

    public var root: JSONValue

    public init(root: JSONValue) {
        self.root = root
    }

    /// Default ports differ from Kubo's (4001/5001/8080) so both run side by side.
    public static let defaultSwarmPort = 4101
    public static let defaultAPIAddress = "/ip4/127.0.0.1/tcp/5101"
    public static let defaultGatewayAddress = "/ip4/127.0.0.1/tcp/8180"

    /// A fresh configuration for a new node.
    public static func makeDefault(peerID: String, privateKeyBase64: String, bootstrap: [String]) -> NodeConfig {
        let port = Int64(defaultSwarmPort)
        let root: JSONValue = [
            "Identity": ["PeerID": .string(peerID), "PrivKey": .string(privateKeyBase64)],
            "Addresses": [
                "Swarm": [.string("/ip4/0.0.0.0/tcp/\(port)"), .string("/ip6/::/tcp/\(port)")],
                "API": .string(defaultAPIAddress),
                "Gateway": .string(defaultGatewayAddress),
                "Announce": [],
                "AppendAnnounce": [],
                "NoAnnounce": [],
            ],
            "Bootstrap": .array(bootstrap.map { .string($0) }),
            "Datastore": [
                "Type": "sqlite",
                "Path": "store.sqlite",
                // Rollback journal: new pages are written once (WAL writes them twice), which
                // makes bulk adds ~1.6x faster; both are crash-safe. "wal" lets readers run
                // during commits. Sync "full": a returned write survives power loss.
                "JournalMode": "rollback",
                "Sync": "full",
                "StorageMax": "10GB",
                "StorageGCWatermark": 90,
                "GCPeriod": "1h",
            ],
            "Discovery": ["MDNS": ["Enabled": false]],
            "Routing": ["Type": "dht"],
            "Swarm": [
                "ConnMgr": ["LowWater": 32, "HighWater": 96, "GracePeriod": "20s"],
                "DisableNatPortMap": true,
            ],
        ]
        return NodeConfig(root: root)
    }

    // MARK: Typed accessors

    public var peerID: String? { value(at: "Identity.PeerID")?.stringValue }
    public var privateKeyBase64: String? { value(at: "Identity.PrivKey")?.stringValue }
    public var swarmAddresses: [String] { value(at: "Addresses.Swarm")?.stringArray ?? [] }
    public var apiAddress: String? { value(at: "Addresses.API")?.stringValue }

    /// The bootstrap list; a missing key or `null` is an empty list, as in Kubo.
    public var bootstrap: [String] {
        get { value(at: "Bootstrap")?.stringArray ?? [] }
        set { root = NodeConfig.setting(root, path: ["Bootstrap"][...], to: .array(newValue.map { .string($0) })) }
    }

    // MARK: Dotted keys

    /// The value at a dotted key such as `Addresses.Swarm`, or nil if absent.
    public func value(at key: String) -> JSONValue? {
        var node: JSONValue? = root
        for part in key.split(separator: ".", omittingEmptySubsequences: false) {
            node = node?[String(part)]
        }
        return node
    }

    /// Sets the value at a dotted key, creating intermediate objects.
    /// - Throws: `NodeError.invalidConfigValue` when a path component is not an object.
    public mutating func set(_ value: JSONValue, at key: String) throws {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty, !parts.contains(where: \.isEmpty) else {
            throw NodeError.invalidConfigValue(key: key, reason: "a key is dot-separated names, none empty")
        }
        var node: JSONValue? = root
        for (i, part) in parts.dropLast().enumerated() {
            node = node?[part]
            if let n = node, case .object = n {
                continue
            } else if node != nil {
                let prefix = parts[...i].joined(separator: ".")
                throw NodeError.invalidConfigValue(key: key, reason: "\(prefix) is not an object")
            }
        }
        root = NodeConfig.setting(root, path: parts[...], to: value)
    }

    private static func setting(_ node: JSONValue, path: ArraySlice<String>, to value: JSONValue) -> JSONValue {
        guard let head = path.first else { return value }
        var members: [String: JSONValue] = [:]
        if case let .object(existing) = node { members = existing }
        members[head] = setting(members[head] ?? .object([:]), path: path.dropFirst(), to: value)
        return .object(members)
    }

    /// The configuration with secrets removed, as `config show` prints it: `Identity.PrivKey` and
    /// the `AuthSecret` of each `API.Authorizations` entry (Kubo hides both).
    public var redacted: JSONValue {
        var copy = self
        if case var .object(identity)? = copy.root["Identity"] {
            identity.removeValue(forKey: "PrivKey")
            copy.root = NodeConfig.setting(copy.root, path: ["Identity"][...], to: .object(identity))
        }
        if case var .object(authorizations)? = copy.value(at: "API.Authorizations") {
            for (name, entry) in authorizations {
                guard case var .object(fields) = entry else { continue }
                fields.removeValue(forKey: "AuthSecret")
                authorizations[name] = .object(fields)
            }
            copy.root = NodeConfig.setting(copy.root, path: ["API", "Authorizations"][...], to: .object(authorizations))
        }
        return copy.root
    }
}
