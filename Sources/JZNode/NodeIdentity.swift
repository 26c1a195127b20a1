import Foundation
import P2PCrypto

/// The node's key pair and peer ID, as stored in the config's `Identity` section
/// (`PrivKey` = base64 of the libp2p PrivateKey protobuf, as Kubo stores it).
public struct NodeIdentity: Sendable {
    public let privateKey: PrivateKey
    public let peerID: PeerID

    public init(privateKey: PrivateKey) {
        self.privateKey = privateKey
        self.peerID = PeerID(publicKey: privateKey.publicKey)
    }

    /// Reads `Identity.PrivKey` and checks `Identity.PeerID` against the key.
    public init(config: NodeConfig) throws(NodeError) {
        guard let encoded = config.privateKeyBase64 else {
            throw .invalidConfigValue(key: "Identity.PrivKey", reason: "missing")
        }
        guard let bytes = Data(base64Encoded: encoded) else {
            throw .invalidConfigValue(key: "Identity.PrivKey", reason: "not base64")
        }
        let key: PrivateKey
        do {
            key = try PrivateKey(protobuf: Array(bytes))
        } catch {
            throw .invalidConfigValue(key: "Identity.PrivKey", reason: "\(error)")
        }
        self.init(privateKey: key)
        guard let configured = config.peerID else {
            throw .invalidConfigValue(key: "Identity.PeerID", reason: "missing")
        }
        let parsed: PeerID
        do {
            parsed = try PeerID(configured)
        } catch {
            throw .invalidConfigValue(key: "Identity.PeerID", reason: "\(error)")
        }
        guard parsed == peerID else {
            throw .identityMismatch(configured: configured, derived: peerID.description)
        }
    }

    public var privateKeyBase64: String { Data(privateKey.protobufBytes).base64EncodedString() }

    /// Base64 of the public key protobuf, as `ipfs id` prints it.
    public var publicKeyBase64: String { Data(privateKey.publicKey.protobufBytes).base64EncodedString() }
}
