import Multiformats

/// A block: bytes and the CID that names them.
///
/// `Block(cid:data:)` trusts its caller (bytes read back from our own verified store);
/// `Block(verifying:data:)` re-hashes and is what anything read from the network or a file uses.
public struct Block: Sendable, Hashable {
    public let cid: CID
    public let data: [UInt8]

    /// A block whose bytes the caller vouches for.
    public init(cid: CID, data: [UInt8]) {
        self.cid = cid
        self.data = data
    }

    /// A block whose bytes are checked against the CID's multihash.
    /// - Throws: `BlockError.hashMismatch` when they do not match, `.unsupportedHash` when the
    ///   hash function cannot be computed here.
    public init(verifying cid: CID, data: [UInt8]) throws(BlockError) {
        let function = HashFunction(rawValue: cid.multihash.code)
        guard function.isSupported else { throw .unsupportedHash(cid: cid) }
        guard cid.multihash.verifies(data) else { throw .hashMismatch(cid: cid) }
        self.init(cid: cid, data: data)
    }

    /// Hashes `data` and names it with a CID of the given codec, hash and version.
    public init(
        data: [UInt8], codec: Multicodec, hash: HashFunction = .sha2_256, version: CID.Version = .v1
    ) throws(BlockError) {
        do {
            let mh = try Multihash.hash(data, with: hash)
            self.init(cid: try CID(version: version, codec: codec, multihash: mh), data: data)
        } catch let error as MultihashError {
            throw .invalid(reason: "\(error)")
        } catch {
            throw .invalid(reason: "\(error)")
        }
    }
}

/// Why a block could not be made or accepted.
public enum BlockError: Error, Equatable, Sendable, CustomStringConvertible {
    case hashMismatch(cid: CID)
    case unsupportedHash(cid: CID)
    case invalid(reason: String)

    public var description: String {
        switch self {
        case let .hashMismatch(cid): return "block \(cid): bytes do not hash to its CID"
        case let .unsupportedHash(cid): return "block \(cid): hash function 0x\(String(cid.multihash.code, radix: 16)) cannot be verified"
        case let .invalid(reason): return "invalid block: \(reason)"
        }
    }
}

/// Something blocks can be read from: a block store, a CAR file, a network session.
public protocol BlockSource: Sendable {
    /// The block named `cid`, or nil when this source does not have it.
    func block(for cid: CID) throws -> Block?
}
