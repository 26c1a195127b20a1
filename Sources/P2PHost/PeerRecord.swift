import Foundation
import Multiformats
import P2PCrypto
import SwiftProtobuf

/// Why a peer record could not be decoded or trusted.
public enum PeerRecordError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not a `PeerRecord` protobuf, or `field` is invalid.
    case malformed(field: String, reason: String)
    /// The record names `record` but the envelope was signed by `signer`.
    case signerMismatch(record: PeerID, signer: PeerID)
    /// The envelope around the record is invalid.
    case envelope(SignedEnvelopeError)

    public var description: String {
        switch self {
        case .malformed(let field, let reason): return "peer record: malformed \(field): \(reason)"
        case .signerMismatch(let record, let signer):
            return "peer record for \(record) is signed by \(signer)"
        case .envelope(let error): return "peer record: \(error)"
        }
    }
}

/// A routing record (libp2p/specs RFC 0003): a peer's listen addresses with a sequence number,
/// carried inside a `SignedEnvelope` with domain `libp2p-peer-record` and payload type 0x0301.
public struct PeerRecord: Sendable, Hashable {
    /// The envelope signature domain of peer records.
    public static let domain = "libp2p-peer-record"
    /// The multicodec `libp2p-peer-record` (0x0301) as the envelope payload type.
    public static let payloadType: [UInt8] = [0x03, 0x01]
    /// At most this many addresses are decoded from a record.
    public static let maxAddresses = 64

    /// The peer the record describes.
    public var peerID: PeerID
    /// Increases with every new record of the peer; a newer record replaces an older one.
    public var seq: UInt64
    /// The peer's listen addresses.
    public var addresses: [Multiaddr]

    /// A record; `seq` defaults to the current time in nanoseconds since 1970 (as go-libp2p).
    public init(peerID: PeerID, seq: UInt64 = PeerRecord.timestampSeq(), addresses: [Multiaddr]) {
        self.peerID = peerID
        self.seq = seq
        self.addresses = addresses
    }

    /// The current time in nanoseconds since 1970, a sequence number that grows across restarts.
    public static func timestampSeq() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
    }

    /// The `PeerRecord` protobuf.
    public func encode() -> [UInt8] {
        var pb = Peer_Pb_PeerRecord()
        pb.peerID = Data(peerID.bytes)
        pb.seq = seq
        pb.addresses = addresses.map { address in
            var info = Peer_Pb_PeerRecord.AddressInfo()
            info.multiaddr = Data(address.bytes)
            return info
        }
        return (try? pb.serializedBytes()) ?? []
    }

    /// Decodes a `PeerRecord` protobuf. Addresses that are not valid multiaddrs are skipped; at most
    /// `maxAddresses` are kept.
    public init(decoding bytes: [UInt8]) throws(PeerRecordError) {
        let pb: Peer_Pb_PeerRecord
        do {
            pb = try Peer_Pb_PeerRecord(serializedBytes: bytes)
        } catch {
            throw .malformed(field: "record", reason: "\(error)")
        }
        do {
            peerID = try PeerID(bytes: Array(pb.peerID))
        } catch {
            throw .malformed(field: "peer_id", reason: error.description)
        }
        seq = pb.seq
        addresses = pb.addresses.prefix(Self.maxAddresses).compactMap { try? Multiaddr(bytes: Array($0.multiaddr)) }
    }

    /// Opens a signed envelope holding a peer record: verifies the signature for the peer-record
    /// domain and payload type, decodes the record and checks that its peer ID is the signer's.
    public static func open(envelope bytes: [UInt8]) throws(PeerRecordError) -> (envelope: SignedEnvelope, record: PeerRecord) {
        let envelope: SignedEnvelope
        do {
            envelope = try SignedEnvelope.open(bytes, domain: domain, payloadType: payloadType)
        } catch {
            throw .envelope(error)
        }
        let record = try PeerRecord(decoding: envelope.payload)
        let signer = envelope.signer
        guard record.peerID == signer else { throw .signerMismatch(record: record.peerID, signer: signer) }
        return (envelope, record)
    }
}
