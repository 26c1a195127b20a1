import Multiformats
import P2PCrypto

/// A peer and the addresses it can be reached at (libp2p's `AddrInfo`).
public struct PeerInfo: Sendable, Hashable, CustomStringConvertible {
    public let peer: PeerID
    public var addresses: [Multiaddr]

    public init(peer: PeerID, addresses: [Multiaddr] = []) {
        self.peer = peer
        self.addresses = addresses
    }

    public var description: String { "\(peer) \(addresses.map(\.description))" }
}

/// Why a routing operation failed.
public enum RoutingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nothing was found (the peer, the record).
    case notFound(String)
    /// Routing is turned off (`Routing.Type` = `none`) or has no peer to ask.
    case unavailable(String)
    /// The key's namespace has no validator, or the record failed validation.
    case invalidRecord(key: String, reason: String)
    /// The operation did not finish in time.
    case timedOut(String)

    public var description: String {
        switch self {
        case .notFound(let what): return "routing: not found: \(what)"
        case .unavailable(let why): return "routing: unavailable: \(why)"
        case .invalidRecord(let key, let reason): return "routing: invalid record for \(key): \(reason)"
        case .timedOut(let what): return "routing: timed out: \(what)"
        }
    }
}

/// Finds who provides content, and announces what we provide (the DHT, or any other router).
/// Bitswap sessions, `fetch`, the gateway and repository sync code against this, not the DHT.
public protocol ContentRouting: Sendable {
    /// Providers of `cid` as they are found (the stream ends when the search does). `limit`
    /// bounds how many are returned (0: no bound beyond the search itself).
    func findProviders(_ cid: CID, limit: Int) -> AsyncStream<PeerInfo>
    /// Announces that this node provides `cid`.
    func provide(_ cid: CID) async throws
}

/// Finds a peer's addresses.
public protocol PeerRouting: Sendable {
    /// The addresses of `peer` (throws `RoutingError.notFound` when nobody knows it).
    func findPeer(_ peer: PeerID) async throws -> PeerInfo
}

/// Checks and orders records of one key namespace (`/pk/`, `/ipns/`).
public protocol RecordValidator: Sendable {
    /// Throws when `value` is not a valid record for `key`.
    func validate(key: [UInt8], value: [UInt8]) throws
    /// The index of the best of `values` (all valid for `key`).
    func select(key: [UInt8], values: [[UInt8]]) throws -> Int
}

/// Stores and finds signed records by key (`/pk/<peer>`, `/ipns/<name>`).
public protocol ValueStore: Sendable {
    /// Puts a record where it can be found (the closest peers to its key).
    func putValue(_ key: [UInt8], _ value: [UInt8]) async throws
    /// The best record found for `key`.
    func getValue(_ key: [UInt8]) async throws -> [UInt8]
    /// Better and better records for `key` as the search finds them (each better than the last).
    func searchValue(_ key: [UInt8]) -> AsyncThrowingStream<[UInt8], any Error>
}

/// Marks work done on behalf of a routing lookup, so that a host asked to dial a peer without a
/// known address does not start another lookup from inside one (no recursion through the DHT).
public enum RoutingScope {
    @TaskLocal public static var isRouting = false
}
