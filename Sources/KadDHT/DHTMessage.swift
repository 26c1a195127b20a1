import Foundation
import Multiformats
import P2PCore
import P2PCrypto
import SwiftProtobuf

/// One Kademlia message (libp2p/specs kad-dht, `dht.proto`): requests and answers share the shape.
public struct DHTMessage: Sendable, Equatable {
    public enum Kind: Int, Sendable, CaseIterable, CustomStringConvertible {
        case putValue = 0, getValue = 1, addProvider = 2, getProviders = 3, findNode = 4, ping = 5

        public var description: String {
            switch self {
            case .putValue: return "PUT_VALUE"
            case .getValue: return "GET_VALUE"
            case .addProvider: return "ADD_PROVIDER"
            case .getProviders: return "GET_PROVIDERS"
            case .findNode: return "FIND_NODE"
            case .ping: return "PING"
            }
        }
    }

    /// How the sender is connected to a peer it names (informational).
    public enum Connectedness: Int, Sendable {
        case notConnected = 0, connected = 1, canConnect = 2, cannotConnect = 3
    }

    /// A peer named in a message.
    public struct Peer: Sendable, Equatable {
        public var id: PeerID
        public var addresses: [Multiaddr]
        public var connection: Connectedness

        public init(id: PeerID, addresses: [Multiaddr], connection: Connectedness = .notConnected) {
            self.id = id
            self.addresses = addresses
            self.connection = connection
        }

        public var info: PeerInfo { PeerInfo(peer: id, addresses: addresses) }
    }

    /// A value record (PUT_VALUE, GET_VALUE).
    public struct Record: Sendable, Equatable {
        public var key: [UInt8]
        public var value: [UInt8]
        /// RFC 3339 time the receiver stored it (set by servers on answers).
        public var timeReceived: String

        public init(key: [UInt8], value: [UInt8], timeReceived: String = "") {
            self.key = key
            self.value = value
            self.timeReceived = timeReceived
        }
    }

    public var kind: Kind
    public var key: [UInt8]
    public var record: Record?
    public var closerPeers: [Peer]
    public var providerPeers: [Peer]

    public init(kind: Kind, key: [UInt8] = [], record: Record? = nil, closerPeers: [Peer] = [], providerPeers: [Peer] = []) {
        self.kind = kind
        self.key = key
        self.record = record
        self.closerPeers = closerPeers
        self.providerPeers = providerPeers
    }

    /// The protobuf bytes (without the varint length prefix).
    public func encoded() -> [UInt8] {
        var pb = Dht_Pb_Message()
        pb.type = Dht_Pb_Message.MessageType(rawValue: kind.rawValue) ?? .ping
        pb.key = Data(key)
        if let record {
            var r = Record_Pb_Record()
            r.key = Data(record.key)
            r.value = Data(record.value)
            r.timeReceived = record.timeReceived
            pb.record = r
        }
        pb.closerPeers = closerPeers.map(Self.encode)
        pb.providerPeers = providerPeers.map(Self.encode)
        // Serialising a message built from valid fields cannot fail.
        return (try? pb.serializedBytes()) ?? []
    }

    private static func encode(_ peer: Peer) -> Dht_Pb_Message.Peer {
        var p = Dht_Pb_Message.Peer()
        p.id = Data(peer.id.bytes)
        p.addrs = peer.addresses.map { Data($0.bytes) }
        p.connection = Dht_Pb_Message.ConnectionType(rawValue: peer.connection.rawValue) ?? .notConnected
        return p
    }

    /// Decodes a message. Peers with an invalid ID are dropped, as are addresses that do not parse
    /// (as go-libp2p-kad-dht does); at most `maxPeers` closer peers and `maxPeers` providers are kept,
    /// each with at most `maxAddresses` addresses, so a hostile answer cannot make us hold more.
    public init(bytes: [UInt8], maxPeers: Int = 100, maxAddresses: Int = 16) throws(DHTError) {
        let pb: Dht_Pb_Message
        do {
            pb = try Dht_Pb_Message(serializedBytes: bytes)
        } catch {
            throw .malformed(reason: "\(error)")
        }
        guard let kind = Kind(rawValue: pb.type.rawValue) else {
            throw .malformed(reason: "unknown message type \(pb.type.rawValue)")
        }
        self.kind = kind
        key = [UInt8](pb.key)
        record = pb.hasRecord
            ? Record(key: [UInt8](pb.record.key), value: [UInt8](pb.record.value), timeReceived: pb.record.timeReceived)
            : nil
        closerPeers = Self.decode(pb.closerPeers, maxPeers: maxPeers, maxAddresses: maxAddresses)
        providerPeers = Self.decode(pb.providerPeers, maxPeers: maxPeers, maxAddresses: maxAddresses)
    }

    private static func decode(_ peers: [Dht_Pb_Message.Peer], maxPeers: Int, maxAddresses: Int) -> [Peer] {
        var out: [Peer] = []
        for p in peers {
            guard out.count < maxPeers else { break }
            guard let id = try? PeerID(bytes: [UInt8](p.id)) else { continue }
            var addresses: [Multiaddr] = []
            for raw in p.addrs {
                guard addresses.count < maxAddresses else { break }
                if let a = try? Multiaddr(bytes: [UInt8](raw)) { addresses.append(a) }
            }
            out.append(Peer(id: id, addresses: addresses, connection: Connectedness(rawValue: p.connection.rawValue) ?? .notConnected))
        }
        return out
    }
}

/// Failures of the DHT, naming the peer, key or limit involved.
public enum DHTError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(reason: String)
    case tooLarge(bytes: Int, limit: Int)
    /// A peer answered with something that does not fit the request.
    case badAnswer(peer: PeerID, reason: String)
    /// A request was refused or failed (the peer and why).
    case requestFailed(peer: PeerID, reason: String)
    /// A request from a peer was refused (the reason goes to the log; the stream is reset).
    case refused(reason: String)
    /// The DHT is not running or has no peer to ask.
    case noPeers(String)

    public var description: String {
        switch self {
        case .malformed(let r): return "dht: malformed message: \(r)"
        case .tooLarge(let b, let l): return "dht: message of \(b) bytes exceeds the limit of \(l)"
        case .badAnswer(let p, let r): return "dht: bad answer from \(p): \(r)"
        case .requestFailed(let p, let r): return "dht: request to \(p) failed: \(r)"
        case .refused(let r): return "dht: refused: \(r)"
        case .noPeers(let what): return "dht: no peers to ask: \(what)"
        }
    }
}
