import IPNS
import Multiformats
import P2PCrypto
import Versioning

/// Signs commits with a libp2p private key: the node identity (`self`) or a keystore key.
public struct KeyCommitSigner: CommitSigner {
    /// The key's name in the keystore (`self` for the node identity).
    public let keyName: String
    public let privateKey: PrivateKey

    public init(keyName: String, privateKey: PrivateKey) {
        self.keyName = keyName
        self.privateKey = privateKey
    }

    public init(_ key: NamedKey) {
        self.init(keyName: key.name, privateKey: key.privateKey)
    }

    /// The libp2p `PublicKey` protobuf written into the commit.
    public var publicKey: [UInt8] { privateKey.publicKey.protobufBytes }
    /// The signer's peer ID (its `k51…` name is `IPNSName(peer:)`).
    public var peerID: PeerID { privateKey.publicKey.peerID }

    public func sign(_ message: [UInt8]) throws -> [UInt8] { try privateKey.sign(message) }
}

/// A commit's signature checked with the node's crypto.
public enum CommitVerification: Hashable, Sendable {
    /// No signature.
    case unsigned
    /// A valid signature by `signer`.
    case good(signer: PeerID)
    /// A signature that does not verify; `signer` is nil when the embedded key is not a libp2p key.
    case bad(signer: PeerID?, reason: String)

    /// Who signed (or claims to have signed); nil for unsigned commits and unreadable keys.
    public var signer: PeerID? {
        switch self {
        case .unsigned: nil
        case let .good(signer): signer
        case let .bad(signer, _): signer
        }
    }

    /// The signer as a `k51…` name.
    public var signerName: String? { signer.map { IPNSName(peer: $0).string } }
}

/// Commit signatures with the node's keys: choosing a signer, verifying, and the `pull
/// --require-signed KEY` check. Keystore reads are synchronous file I/O: call these off the
/// cooperative pool (through `BlockingExecutor`) in async code.
public enum CommitSigning {
    /// The config key that makes `commit` and `merge` sign by default.
    public static let signByDefaultConfigKey = "Versioning.SignCommits"

    /// A signer for key `keyName` of the keystore (`self`: the node identity).
    public static func signer(keystore: Keystore, keyName: String = Keystore.selfName) throws(KeystoreError) -> KeyCommitSigner {
        KeyCommitSigner(try keystore.key(named: keyName))
    }

    /// The signer a `commit` or `merge` asks for: `keyName` (implies signing), else the node key when
    /// `sign` is true, or when `sign` is nil and config `Versioning.SignCommits` is true; nil: unsigned.
    /// - Throws: `.keystore` when the key cannot be read, `.config` when the setting is not a boolean.
    public static func signer(for node: LocalNode, sign: Bool?, keyName: String?) throws(CommitSigningError) -> KeyCommitSigner? {
        var wanted = sign
        if wanted == nil, let value = node.config.value(at: signByDefaultConfigKey) {
            guard let flag = value.boolValue else {
                throw .config(.invalidConfigValue(key: signByDefaultConfigKey, reason: "expected true or false (set it with 'jz-node config --bool \(signByDefaultConfigKey) true')"))
            }
            wanted = flag
        }
        guard keyName != nil || wanted == true else { return nil }
        do {
            return try signer(keystore: node.home.keystore, keyName: keyName ?? Keystore.selfName)
        } catch {
            throw .keystore(error)
        }
    }

    /// Verifies `commit`'s signature: the embedded key must be a canonically encoded libp2p public
    /// key and the signature must cover `Commit.signedMessage()`.
    public static func verify(_ commit: Commit) -> CommitVerification {
        guard let signature = commit.signature else { return .unsigned }
        let key: PublicKey
        do {
            key = try PublicKey(protobuf: signature.publicKey)
        } catch {
            return .bad(signer: nil, reason: "signature.publicKey is not a libp2p public key: \(error)")
        }
        guard key.protobufBytes == signature.publicKey else {
            return .bad(signer: nil, reason: "signature.publicKey is not canonically encoded")
        }
        switch commit.verifySignature(using: { _, message, sig in key.verify(signature: sig, message: message) }) {
        case .unsigned: return .unsigned
        case .valid: return .good(signer: key.peerID)
        case let .invalid(_, reason): return .bad(signer: key.peerID, reason: reason)
        }
    }

    /// Parses the KEY of `--require-signed KEY`: a keystore key name (`self` included), else a peer
    /// ID in any form Kubo accepts (`12D3KooW…`, `Qm…`, `k51…`, `bafz…`, with or without `/ipns/`).
    public static func parseSigner(_ text: String, keystore: Keystore) throws(CommitSigningError) -> PeerID {
        if (try? Keystore.validate(text)) != nil, keystore.contains(text) {
            do {
                return try keystore.key(named: text).peerID
            } catch {
                throw .keystore(error)
            }
        }
        do {
            return try IPNSName(text).peer
        } catch {
            throw .unknownSigner(text, reason: "\(error)")
        }
    }

    /// Checks that every commit carries a valid signature by `allowed`; throws for the first that
    /// does not (in the order given), naming the commit and what was wrong.
    public static func requireSigned(commits: [(cid: CID, commit: Commit)], by allowed: PeerID) throws(CommitSigningError) {
        for (cid, commit) in commits {
            switch verify(commit) {
            case .unsigned:
                throw .unsigned(cid: cid, required: allowed)
            case let .bad(signer, reason):
                throw .badSignature(cid: cid, signer: signer, reason: reason)
            case let .good(signer) where signer != allowed:
                throw .wrongSigner(cid: cid, signer: signer, required: allowed)
            case .good:
                continue
            }
        }
    }

    /// The names of this node's keys by peer ID (`self` and every readable keystore key; the first
    /// name wins when two hold the same key). Unreadable keys are skipped: this only labels output.
    public static func localKeyNames(keystore: Keystore) -> [PeerID: String] {
        var names: [PeerID: String] = [:]
        let stored = (try? keystore.storedNames()) ?? []
        for name in [Keystore.selfName] + stored {
            guard let key = try? keystore.key(named: name), names[key.peerID] == nil else { continue }
            names[key.peerID] = name
        }
        return names
    }
}

/// Why a commit signature was refused or could not be made; names the commit, signer and key.
public enum CommitSigningError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `--require-signed KEY`: KEY is neither a keystore key nor a peer ID / IPNS name.
    case unknownSigner(String, reason: String)
    /// The commit carries no signature.
    case unsigned(cid: CID, required: PeerID)
    /// The signature does not verify (`signer` nil when its key is unreadable).
    case badSignature(cid: CID, signer: PeerID?, reason: String)
    /// A valid signature, by another key than the required one.
    case wrongSigner(cid: CID, signer: PeerID, required: PeerID)
    case keystore(KeystoreError)
    case config(NodeError)

    public var description: String {
        switch self {
        case let .unknownSigner(text, reason):
            "'\(text)' is neither a key of this node (see 'jz-node key list') nor a peer ID or k51… name: \(reason)"
        case let .unsigned(cid, required):
            "commit \(cid) is not signed (required: signed by \(IPNSName(peer: required)))"
        case let .badSignature(cid, signer, reason):
            "commit \(cid) has a BAD signature\(signer.map { " by \(IPNSName(peer: $0))" } ?? ""): \(reason)"
        case let .wrongSigner(cid, signer, required):
            "commit \(cid) is signed by \(IPNSName(peer: signer)), not by the required \(IPNSName(peer: required))"
        case let .keystore(error): "\(error)"
        case let .config(error): "\(error)"
        }
    }
}
