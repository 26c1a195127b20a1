import Multiformats

/// Gets blocks from the network into the block source the gateway reads (JZNode wires Bitswap).
public protocol GatewayBlockFetcher: Sendable {
    /// Fetches `cid` (its whole DAG when `recursive`) within `timeout`; blocks already present are
    /// not asked for. Throws when the blocks could not be had in time.
    func fetch(_ cid: CID, recursive: Bool, timeout: Duration) async throws
}

/// Resolves IPNS names (JZNode wires its `NameService`).
public protocol GatewayNameResolver: Sendable {
    /// `/ipns/NAME[/rest]` → the `/ipfs/CID[/rest]` path it points to (recursively).
    func resolve(_ path: String) async throws -> String
    /// The signed IPNS record of `name` (protobuf bytes, as `application/vnd.ipfs.ipns-record`).
    func record(_ name: String) async throws -> [UInt8]
}

/// What the gateway serves (Kubo's `Gateway.*` keys).
public struct GatewayConfig: Sendable, Equatable {
    /// `Gateway.NoFetch`: serve only what the local store holds (404 otherwise).
    public var noFetch: Bool
    /// `Gateway.DeserializedResponses`: false serves only the trustless formats (raw, CAR,
    /// IPNS records) and answers 406 to everything else.
    public var deserializedResponses: Bool
    /// `Gateway.RetrievalTimeout`: how long a request may wait for blocks from the network
    /// (504 after it).
    public var retrievalTimeout: Duration

    public init(noFetch: Bool = false, deserializedResponses: Bool = true, retrievalTimeout: Duration = .seconds(30)) {
        self.noFetch = noFetch
        self.deserializedResponses = deserializedResponses
        self.retrievalTimeout = retrievalTimeout
    }
}
