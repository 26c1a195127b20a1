import Multiformats
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a CAR file could not be read or written.
///
/// Offsets are absolute byte offsets from the start of the file or stream (for a CARv2, from the
/// start of the pragma); `section` is the 0-based number of the block section in the data payload.
public enum CarError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed (`open`, `read`, `write`, `lseek`, `close`, …); `errno` is its error code.
    case io(operation: String, path: String?, errno: Int32)
    /// The input ended inside `part` ("unexpected end of data"): `needed` bytes were required at
    /// `offset` but only `available` were left.
    case truncated(part: String, offset: UInt64, needed: UInt64, available: UInt64)
    /// The header length prefix is zero or larger than the allowed maximum ("invalid header data").
    case invalidHeaderLength(length: UInt64, maximum: UInt64, offset: UInt64)
    /// A length-prefix varint is overlong or not minimally encoded.
    case invalidVarint(part: String, offset: UInt64, error: VarintError)
    /// The header block is not a well-formed CAR header (`{roots: [&Any], version: Int}`).
    case invalidHeader(reason: String, offset: UInt64)
    /// The header's version is neither 1 nor 2.
    case unsupportedVersion(UInt64, offset: UInt64)
    /// The 40-byte CARv2 header is inconsistent, or its data payload is not a CARv1.
    case invalidV2Header(reason: String)
    /// A section length is zero, larger than the allowed maximum, or runs past the end of the
    /// CARv2 data payload ("invalid section data").
    case invalidSectionLength(section: Int, offset: UInt64, length: UInt64, reason: String)
    /// The CID at the start of a section does not decode (`offset` is where the CID starts).
    case invalidSectionCID(section: Int, offset: UInt64, error: CIDError)
    /// The block bytes of a section do not hash to its CID.
    case hashMismatch(cid: CID, section: Int, offset: UInt64)
    /// The section's CID uses a hash function this build cannot compute, so it cannot be verified.
    case unsupportedHash(cid: CID, section: Int, offset: UInt64)
    /// The CARv2 index is malformed or in an unsupported format.
    case invalidIndex(reason: String, offset: UInt64)
    /// A `CarWriter` sink closure threw.
    case sink(reason: String)
    /// A `CarWriter` was used after `finish()`.
    case writerFinished

    public var description: String {
        switch self {
        case let .io(operation, path, errno):
            let location = path.map { " \($0)" } ?? ""
            return "CAR: \(operation)\(location) failed: \(Self.errnoDescription(errno)) (errno \(errno))"
        case let .truncated(part, offset, needed, available):
            return "CAR: unexpected end of data in \(part) at offset \(offset): needed \(needed) bytes, \(available) available"
        case let .invalidHeaderLength(length, maximum, offset):
            if length == 0 {
                return "CAR: invalid header data at offset \(offset): zero-length header"
            }
            return "CAR: invalid header data at offset \(offset): length \(length) exceeds the maximum of \(maximum) bytes"
        case let .invalidVarint(part, offset, error):
            return "CAR: invalid \(part) varint at offset \(offset): \(error)"
        case let .invalidHeader(reason, offset):
            return "CAR: invalid header at offset \(offset): \(reason)"
        case let .unsupportedVersion(version, offset):
            return "CAR: invalid car version \(version) in header at offset \(offset) (only 1 and 2 are supported)"
        case let .invalidV2Header(reason):
            return "CAR: invalid CARv2 header: \(reason)"
        case let .invalidSectionLength(section, offset, length, reason):
            return "CAR: invalid section data: section \(section) at offset \(offset) has length \(length): \(reason)"
        case let .invalidSectionCID(section, offset, error):
            return "CAR: invalid CID in section \(section) at offset \(offset): \(error)"
        case let .hashMismatch(cid, section, offset):
            return "CAR: section \(section) at offset \(offset): block bytes do not hash to \(cid)"
        case let .unsupportedHash(cid, section, offset):
            return "CAR: section \(section) at offset \(offset): cannot verify \(cid): hash function 0x\(String(cid.multihash.code, radix: 16)) is not supported"
        case let .invalidIndex(reason, offset):
            return "CAR: invalid CARv2 index at offset \(offset): \(reason)"
        case let .sink(reason):
            return "CAR: output sink failed: \(reason)"
        case .writerFinished:
            return "CAR: writer used after finish()"
        }
    }

    static func errnoDescription(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "error \(code)" }
        return String(cString: message)
    }
}
