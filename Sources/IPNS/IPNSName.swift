import Multiformats
import P2PCrypto

/// An IPNS name: the peer ID of the key that signs its records.
///
/// Parses every form Kubo accepts (`/ipns/` prefix optional): a CIDv1 with the `libp2p-key` codec in
/// any multibase (`k51…` base36, `bafz…` base32), or a bare base58btc peer ID (`12D3KooW…`, `Qm…`).
/// Prints as the CIDv1 in base36 (`k51…`), as Kubo does.
public struct IPNSName: Hashable, Sendable, CustomStringConvertible {
    /// The path namespace, also the routing key prefix: `/ipns/`.
    public static let namespacePrefix = "/ipns/"

    /// The peer ID the name stands for.
    public let peer: PeerID

    public init(peer: PeerID) {
        self.peer = peer
    }

    /// The name of `publicKey`.
    public init(publicKey: PublicKey) {
        self.peer = PeerID(publicKey: publicKey)
    }

    /// Parses `text`, with or without the `/ipns/` prefix.
    /// - Throws: `IPNSNameError.invalidPeerID` naming the text and the peer ID error.
    public init(_ text: String) throws(IPNSNameError) {
        var rest = Substring(text)
        if rest.hasPrefix(Self.namespacePrefix) { rest = rest.dropFirst(Self.namespacePrefix.count) }
        do {
            peer = try PeerID(String(rest))
        } catch {
            throw .invalidPeerID(text, error)
        }
    }

    /// Decodes a routing key: `/ipns/` followed by the peer ID's multihash bytes.
    /// - Throws: `.notIPNSRoutingKey` without the prefix, `.invalidPeerID` for bad multihash bytes.
    public init(routingKey: [UInt8]) throws(IPNSNameError) {
        let prefix = Array(Self.namespacePrefix.utf8)
        guard routingKey.starts(with: prefix) else { throw .notIPNSRoutingKey(routingKey.count) }
        do {
            peer = try PeerID(bytes: Array(routingKey.dropFirst(prefix.count)))
        } catch {
            throw .invalidPeerID("routing key", error)
        }
    }

    /// The DHT key of the name's records: `/ipns/` + the peer ID multihash bytes.
    public var routingKey: [UInt8] { Array(Self.namespacePrefix.utf8) + peer.bytes }

    /// The CIDv1 `libp2p-key` form of the name.
    public var cid: CID { peer.cid }

    /// The canonical text form: CIDv1 `libp2p-key` in base36 (`k51…`).
    public var string: String { peer.cidString(base: .base36) }

    /// The content path form, `/ipns/k51…`.
    public var path: String { Self.namespacePrefix + string }

    public var description: String { string }
}

/// Why text or bytes are not an IPNS name.
public enum IPNSNameError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text (or a routing key) does not hold a valid peer ID.
    case invalidPeerID(String, PeerIDError)
    /// A routing key (of the given length) that does not start with `/ipns/`.
    case notIPNSRoutingKey(Int)

    public var description: String {
        switch self {
        case let .invalidPeerID(text, error): return "IPNS name \"\(text)\" is not a peer ID: \(error)"
        case let .notIPNSRoutingKey(length): return "routing key (\(length) bytes) does not start with /ipns/"
        }
    }
}
