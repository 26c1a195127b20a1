import Foundation
import Gateway
import Multiformats

/// The networking part of the config, checked: what the daemon listens on, which security
/// transports and muxers it offers (in preference order), connection limits.
///
/// Priorities follow Kubo's `Swarm.Transports` keys: a number is a priority (lower is preferred),
/// `false` disables, absent means the default.
public struct NetworkSettings: Sendable, Equatable {
    public var listenAddresses: [Multiaddr]
    public var apiAddress: Multiaddr
    /// `Addresses.Gateway`: where the HTTP gateway listens (nil: `""` or `[]`, no gateway).
    public var gatewayAddress: Multiaddr?
    /// `Gateway.NoFetch`, `Gateway.DeserializedResponses`, `Gateway.RetrievalTimeout`.
    public var gateway: GatewayConfig
    /// Security transport names in preference order: "noise", "tls".
    public var security: [String]
    /// Muxer names in preference order: "yamux", "mplex".
    public var muxers: [String]
    public var bootstrap: [Multiaddr]
    public var connLowWater: Int
    public var connHighWater: Int
    public var connGracePeriod: Double
    public var maxInboundConnections: Int
    public var maxStreamsPerPeer: Int
    public var maxConnectionsPerPeer: Int
    /// The other `Swarm.ResourceMgr.*` bounds.
    public var resources: ResourceLimits
    /// `Routing.Type`: how the node takes part in the DHT.
    public var routing: RoutingMode
    /// `Reprovider.Strategy`: what the node announces.
    public var reprovideStrategy: ReprovideStrategy
    /// `Reprovider.Interval` in seconds (0: never reprovide).
    public var reprovideInterval: Double
    /// `Versioning.FollowInterval` in seconds: how often the daemon resolves the names of
    /// followed remotes (`remote add --follow`); 0 turns following off.
    public var followInterval: Double
    /// `Ipns.RepublishPeriod` in seconds (Kubo's default 4 h): how often the daemon republishes the
    /// names it publishes (0: only before they expire).
    public var ipnsRepublishPeriod: Double
    /// `API.HTTPHeaders` and `API.Authorizations`: who may call the RPC API (Kubo's rules).
    public var apiAccess: APIAccess

    /// `Swarm.ResourceMgr.*` bounds beyond connections per peer and streams per peer: what one peer,
    /// and all peers together, may make the node hold. Over a bound, the new thing is refused
    /// (stream reset, record not stored, want ignored) and counted; `swarm resources` shows both.
    public struct ResourceLimits: Sendable, Equatable {
        /// `MaxStreams`: inbound streams handled at once, all peers.
        public var maxStreams = 8192
        /// `MaxStreamsPerProtocol`: inbound streams handled at once per protocol.
        public var maxStreamsPerProtocol = 1024
        /// `MaxPendingHandshakes`: inbound connections not yet authenticated (the oldest is dropped).
        public var maxPendingHandshakes = 64
        /// `MaxPendingBytes`: bytes received and not yet read, all peers (0: no bound).
        public var maxPendingBytes = 128 << 20
        /// `MaxPendingBytesPerPeer`: the same per peer (0: no bound).
        public var maxPendingBytesPerPeer = 32 << 20
        /// `MaxDHTRecords`, `MaxDHTRecordsPerPeer`: PUT_VALUE records kept.
        public var maxDHTRecords = 10_000
        public var maxDHTRecordsPerPeer = 1_000
        /// `MaxProviderRecords`, `MaxProviderRecordsPerPeer`, `MaxProvidersPerKey`: ADD_PROVIDER records kept.
        public var maxProviderRecords = 1_000_000
        public var maxProviderRecordsPerPeer = 100_000
        public var maxProvidersPerKey = 100
        /// `MaxWantlistEntries`, `MaxWantlistEntriesPerPeer`: Bitswap wants the server keeps (0: no bound for the total).
        public var maxWantlistEntries = 262_144
        public var maxWantlistEntriesPerPeer = 4096

        public init() {}

        /// Reads `Swarm.ResourceMgr.<Name>` for every field; absent keys keep the defaults.
        init(config: NodeConfig) throws(NodeError) {
            let d = ResourceLimits()
            func read(_ name: String, _ value: Int, positive: Bool = true) throws(NodeError) -> Int {
                let key = "Swarm.ResourceMgr.\(name)"
                let v = try NetworkSettings.int(config, key, default: value)
                if positive && v == 0 { throw .invalidConfigValue(key: key, reason: "must be at least 1") }
                return v
            }
            maxStreams = try read("MaxStreams", d.maxStreams)
            maxStreamsPerProtocol = try read("MaxStreamsPerProtocol", d.maxStreamsPerProtocol)
            maxPendingHandshakes = try read("MaxPendingHandshakes", d.maxPendingHandshakes)
            maxPendingBytes = try read("MaxPendingBytes", d.maxPendingBytes, positive: false)
            maxPendingBytesPerPeer = try read("MaxPendingBytesPerPeer", d.maxPendingBytesPerPeer, positive: false)
            maxDHTRecords = try read("MaxDHTRecords", d.maxDHTRecords)
            maxDHTRecordsPerPeer = try read("MaxDHTRecordsPerPeer", d.maxDHTRecordsPerPeer)
            maxProviderRecords = try read("MaxProviderRecords", d.maxProviderRecords)
            maxProviderRecordsPerPeer = try read("MaxProviderRecordsPerPeer", d.maxProviderRecordsPerPeer)
            maxProvidersPerKey = try read("MaxProvidersPerKey", d.maxProvidersPerKey)
            maxWantlistEntries = try read("MaxWantlistEntries", d.maxWantlistEntries, positive: false)
            maxWantlistEntriesPerPeer = try read("MaxWantlistEntriesPerPeer", d.maxWantlistEntriesPerPeer)
        }
    }

    /// Kubo's `Routing.Type` values that jz-node implements.
    public enum RoutingMode: String, Sendable, Equatable, CaseIterable {
        /// A DHT client until the node has an address others can dial, then a server: the LAN DHT
        /// serves when the node listens at all, the WAN DHT when it listens on a public address.
        case auto
        /// Ask, never answer (neither table advertises its protocol).
        case dhtclient
        /// Answer on both tables from the start.
        case dhtserver
        /// No DHT: only connected and given peers are asked.
        case none
    }

    /// Kubo's `Reprovider.Strategy`.
    public enum ReprovideStrategy: String, Sendable, Equatable, CaseIterable {
        /// Every block in the store.
        case all
        /// Every block of the pinned DAGs.
        case pinned
        /// Only the roots of pins.
        case roots
    }

    /// Defaults: Noise before TLS; yamux before mplex.
    static let defaultSecurity: [(key: String, name: String, priority: Int)] = [("Noise", "noise", 100), ("TLS", "tls", 200)]
    static let defaultMuxers: [(key: String, name: String, priority: Int)] = [("Yamux", "yamux", 100), ("Mplex", "mplex", 200)]

    /// Reads and checks the settings; errors name the config key.
    public init(config: NodeConfig) throws(NodeError) {
        listenAddresses = try Self.addresses(config, key: "Addresses.Swarm")
        guard !listenAddresses.isEmpty else {
            throw .invalidConfigValue(key: "Addresses.Swarm", reason: "no listen address; add one such as /ip4/0.0.0.0/tcp/4101")
        }
        let api = config.apiAddress ?? NodeConfig.defaultAPIAddress
        guard let apiAddress = try? Multiaddr(api), apiAddress.value(for: .tcp) != nil else {
            throw .invalidConfigValue(key: "Addresses.API", reason: "\(api) is not an /ip4|ip6/…/tcp/PORT multiaddr")
        }
        self.apiAddress = apiAddress
        apiAccess = try APIAccess(config: config)
        gatewayAddress = try Self.gatewayAddress(config)
        gateway = GatewayConfig(
            noFetch: try Self.bool(config, "Gateway.NoFetch", default: false),
            deserializedResponses: try Self.bool(config, "Gateway.DeserializedResponses", default: true),
            retrievalTimeout: .milliseconds(Int64(try Self.duration(config, "Gateway.RetrievalTimeout", default: 30) * 1000)))
        security = try Self.ordered(config, section: "Swarm.Transports.Security", Self.defaultSecurity)
        muxers = try Self.ordered(config, section: "Swarm.Transports.Multiplexers", Self.defaultMuxers)
        bootstrap = try Self.addresses(config, key: "Bootstrap")
        connLowWater = try Self.int(config, "Swarm.ConnMgr.LowWater", default: 32)
        connHighWater = try Self.int(config, "Swarm.ConnMgr.HighWater", default: 96)
        connGracePeriod = try Self.duration(config, "Swarm.ConnMgr.GracePeriod", default: 20)
        maxInboundConnections = try Self.int(config, "Swarm.ResourceMgr.MaxInboundConnections", default: 256)
        maxStreamsPerPeer = try Self.int(config, "Swarm.ResourceMgr.MaxStreamsPerPeer", default: 512)
        maxConnectionsPerPeer = try Self.int(config, "Swarm.ResourceMgr.MaxConnectionsPerPeer", default: 8)
        resources = try ResourceLimits(config: config)
        let routingText = config.value(at: "Routing.Type")?.stringValue ?? "auto"
        // Kubo's "dht" is its dual DHT in automatic mode: our `auto`.
        guard let routing = RoutingMode(rawValue: routingText.isEmpty || routingText == "dht" ? "auto" : routingText) else {
            throw .invalidConfigValue(
                key: "Routing.Type", reason: "\(routingText) is not one of \(RoutingMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.routing = routing
        let strategyText = config.value(at: "Reprovider.Strategy")?.stringValue ?? "all"
        guard let strategy = ReprovideStrategy(rawValue: strategyText.isEmpty ? "all" : strategyText) else {
            throw .invalidConfigValue(
                key: "Reprovider.Strategy", reason: "\(strategyText) is not one of \(ReprovideStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        reprovideStrategy = strategy
        reprovideInterval = try Self.duration(config, "Reprovider.Interval", default: 22 * 3600)
        followInterval = try Self.duration(config, "Versioning.FollowInterval", default: 60)
        ipnsRepublishPeriod = config.value(at: "Ipns.RepublishPeriod")?.stringValue == ""
            ? 4 * 3600 : try Self.duration(config, "Ipns.RepublishPeriod", default: 4 * 3600)
        guard connLowWater <= connHighWater else {
            throw .invalidConfigValue(key: "Swarm.ConnMgr.LowWater", reason: "must not exceed Swarm.ConnMgr.HighWater")
        }
    }

    /// Kubo accepts a string or a list of strings (the first is served here).
    static func gatewayAddress(_ config: NodeConfig) throws(NodeError) -> Multiaddr? {
        let text: String
        switch config.value(at: "Addresses.Gateway") {
        case nil, .null?: text = NodeConfig.defaultGatewayAddress
        case .string(let value)?: text = value
        case let value?:
            guard let list = value.stringArray else {
                throw .invalidConfigValue(key: "Addresses.Gateway", reason: "must be a multiaddr string or a list of them")
            }
            text = list.first ?? ""
        }
        if text.isEmpty { return nil }
        guard let address = try? Multiaddr(text), address.value(for: .tcp) != nil,
              address.value(for: .ip4) != nil || address.value(for: .ip6) != nil
        else {
            throw .invalidConfigValue(key: "Addresses.Gateway", reason: "\(text) is not an /ip4|ip6/…/tcp/PORT multiaddr")
        }
        return address
    }

    static func bool(_ config: NodeConfig, _ key: String, default value: Bool) throws(NodeError) -> Bool {
        switch config.value(at: key) {
        case nil, .null?: return value
        case .bool(let b)?: return b
        default: throw .invalidConfigValue(key: key, reason: "must be true or false")
        }
    }

    static func addresses(_ config: NodeConfig, key: String) throws(NodeError) -> [Multiaddr] {
        guard let value = config.value(at: key) else { return [] }
        guard let strings = value.stringArray else {
            throw .invalidConfigValue(key: key, reason: "must be a list of multiaddr strings")
        }
        var out: [Multiaddr] = []
        for text in strings {
            do { out.append(try Multiaddr(text)) } catch {
                throw .invalidConfigValue(key: key, reason: "\(text): \(error)")
            }
        }
        return out
    }

    static func ordered(
        _ config: NodeConfig, section: String, _ defaults: [(key: String, name: String, priority: Int)]
    ) throws(NodeError) -> [String] {
        var chosen: [(name: String, priority: Int)] = []
        for entry in defaults {
            let key = "\(section).\(entry.key)"
            switch config.value(at: key) {
            case nil, .null?: chosen.append((entry.name, entry.priority))
            case .bool(false)?: continue
            case .bool(true)?: chosen.append((entry.name, entry.priority))
            case .int(let p)?: chosen.append((entry.name, Int(p)))
            case .double(let p)?: chosen.append((entry.name, Int(p)))
            default: throw .invalidConfigValue(key: key, reason: "must be false (disabled) or a priority number (lower first)")
            }
        }
        guard !chosen.isEmpty else {
            throw .invalidConfigValue(key: section, reason: "every option is disabled; enable at least one")
        }
        return chosen.sorted { $0.priority < $1.priority }.map(\.name)
    }

    static func int(_ config: NodeConfig, _ key: String, default value: Int) throws(NodeError) -> Int {
        switch config.value(at: key) {
        case nil, .null?: return value
        case .int(let i)? where i >= 0: return Int(i)
        default: throw .invalidConfigValue(key: key, reason: "must be a non-negative integer")
        }
    }

    /// Go-style durations: "20s", "1m", "500ms", "1h".
    static func duration(_ config: NodeConfig, _ key: String, default value: Double) throws(NodeError) -> Double {
        guard let raw = config.value(at: key) else { return value }
        guard let text = raw.stringValue, let seconds = parseDuration(text) else {
            throw .invalidConfigValue(key: key, reason: "must be a duration such as \"20s\", \"1m\" or \"500ms\"")
        }
        return seconds
    }

    /// Seconds of a Go duration string, or nil.
    public static func parseDuration(_ text: String) -> Double? {
        if text == "0" { return 0 }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if let v = Double(number), v >= 0 { return v * scale }
        }
        return nil
    }
}
