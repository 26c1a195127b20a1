import Foundation
import IPLD
import Multiformats
import P2PCrypto
import SwiftProtobuf

/// A parsed IPNS record (an `IpnsEntry` protobuf), per the IPNS record spec
/// (ipfs/specs `src/ipns/ipns-record.md`) and boxo's `ipns` package.
///
/// The signed content is the DAG-CBOR map in `data` (`Value`, `Validity`, `ValidityType`, `Sequence`,
/// `TTL`), covered by `signatureV2` over `"ipns-signature:" ‖ data`. The legacy V1 protobuf fields,
/// when present, only have to repeat what `data` says; `signatureV1` is written for old readers and
/// never trusted. Parsing (`init(bytes:)`) checks shape only; `validate(for:now:)` checks the key,
/// the signature and the validity.
public struct IPNSRecord: Hashable, Sendable, CustomStringConvertible {
    /// The largest serialized record accepted: 10 KiB.
    public static let maxSize = 10 * 1024
    /// How long a created record is valid by default (boxo `DefaultRecordLifetime`): 48 hours.
    public static let defaultLifetime: Duration = .seconds(48 * 3600)
    /// How long a resolver may cache a created record by default (boxo `DefaultRecordTTL`): 5 minutes.
    public static let defaultTTL: Duration = .seconds(5 * 60)
    /// What `signatureV2` signs before the `data` bytes.
    public static let signatureV2Prefix: [UInt8] = Array("ipns-signature:".utf8)

    /// The legacy (V1) protobuf fields as found (nil: absent).
    public struct LegacyFields: Hashable, Sendable {
        public var value: [UInt8]?
        public var signatureV1: [UInt8]?
        public var validityType: Int?
        public var validity: [UInt8]?
        public var sequence: UInt64?
        public var ttl: UInt64?

        /// Whether the record is a V1+V2 record (boxo: `signatureV1` or `value` non-empty), whose V1
        /// fields must match `data`.
        public var isPresent: Bool { !(signatureV1 ?? []).isEmpty || !(value ?? []).isEmpty }
    }

    /// The serialized record, as parsed or created.
    public let bytes: [UInt8]
    /// `Value` from `data`: the path the name points to, e.g. `/ipfs/bafy…`, as bytes.
    public let value: [UInt8]
    /// `Validity` from `data`, as the RFC 3339 bytes that were signed.
    public let validityBytes: [UInt8]
    /// The validity EOL: the record must not be used after it.
    public let validity: IPNSTimestamp
    /// `Sequence` from `data`: higher is newer.
    public let sequence: UInt64
    /// `TTL` from `data` in nanoseconds (nil when `data` has none).
    public let ttlNanoseconds: UInt64?
    /// The DAG-CBOR `data` field, as signed.
    public let data: [UInt8]
    /// The `signatureV2` field.
    public let signatureV2: [UInt8]
    /// The `pubKey` field (a public key protobuf), nil when absent or empty.
    public let publicKeyBytes: [UInt8]?
    /// The legacy V1 protobuf fields.
    public let legacy: LegacyFields

    /// `Value` as text (nil when it is not UTF-8).
    public var valueString: String? { String(validating: value, as: UTF8.self) }

    /// `TTL` as a duration (nil when `data` has none).
    public var ttl: Duration? { ttlNanoseconds.map { Duration.nanoseconds(Int64(clamping: $0)) } }

    /// Records are equal when their serialized bytes are.
    public static func == (lhs: IPNSRecord, rhs: IPNSRecord) -> Bool { lhs.bytes == rhs.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    /// A one-line summary: value, sequence, validity, TTL, size.
    public var description: String {
        let ttlText = ttlNanoseconds.map { "\($0 / 1_000_000_000)s" } ?? "none"
        return "IPNS record \(valueString ?? "<\(value.count) bytes>") seq \(sequence) valid until \(validity) "
            + "ttl \(ttlText) (\(bytes.count) bytes)"
    }

    // MARK: - Parsing

    /// Parses a serialized record: size (≤ `maxSize`), protobuf, `signatureV2` and `data` present, and
    /// `data` a DAG-CBOR map with `Value` (bytes), `Validity` (RFC 3339 bytes), `ValidityType` (0),
    /// `Sequence` and, if present, `TTL` (non-negative integers). Does not check the signature.
    public init(bytes: [UInt8]) throws(IPNSError) {
        guard bytes.count <= Self.maxSize else { throw .recordTooLarge(size: bytes.count) }
        let pb: Ipfs_Boxo_Ipns_Pb_IpnsRecord
        do {
            pb = try Ipfs_Boxo_Ipns_Pb_IpnsRecord(serializedBytes: bytes)
        } catch {
            throw .invalidProtobuf(String(describing: error))
        }
        guard pb.hasSignatureV2, !pb.signatureV2.isEmpty else { throw .missingSignatureV2 }
        guard pb.hasData, !pb.data.isEmpty else { throw .missingData }
        let data = [UInt8](pb.data)
        let map: IPLDMap
        do {
            guard let decoded = try DagCBOR.decode(data, strict: false).mapValue else {
                throw IPNSError.invalidData("not a map")
            }
            map = decoded
        } catch let error as IPNSError {
            throw error
        } catch {
            throw .invalidData(String(describing: error))
        }

        guard let value = map["Value"]?.bytesValue else { throw .invalidDataField("Value", "missing or not bytes") }
        guard let validityType = map["ValidityType"]?.integerValue else {
            throw .invalidDataField("ValidityType", "missing or not an integer")
        }
        guard validityType == 0 else {
            throw .unsupportedValidityType(validityType.int64 ?? (validityType.isNegative ? .min : .max))
        }
        guard let validityBytes = map["Validity"]?.bytesValue else {
            throw .invalidDataField("Validity", "missing or not bytes")
        }
        guard let text = String(validating: validityBytes, as: UTF8.self),
            let validity = IPNSTimestamp(rfc3339: text)
        else { throw .invalidValidity(String(decoding: validityBytes, as: UTF8.self)) }
        guard let sequenceValue = map["Sequence"]?.integerValue, let sequence = Self.uint64(boxo: sequenceValue)
        else { throw .invalidDataField("Sequence", "missing or not a 64-bit integer") }
        var ttl: UInt64?
        if let ttlValue = map["TTL"] {
            guard let integer = ttlValue.integerValue, !integer.isNegative else {
                throw .invalidDataField("TTL", "not a non-negative integer")
            }
            ttl = integer.argument
        }

        self.bytes = bytes
        self.value = value
        self.validityBytes = validityBytes
        self.validity = validity
        self.sequence = sequence
        self.ttlNanoseconds = ttl
        self.data = data
        self.signatureV2 = [UInt8](pb.signatureV2)
        self.publicKeyBytes = pb.hasPubKey && !pb.pubKey.isEmpty ? [UInt8](pb.pubKey) : nil
        self.legacy = LegacyFields(
            value: pb.hasValue ? [UInt8](pb.value) : nil,
            signatureV1: pb.hasSignatureV1 ? [UInt8](pb.signatureV1) : nil,
            validityType: pb.hasValidityType ? pb.validityType.rawValue : nil,
            validity: pb.hasValidity ? [UInt8](pb.validity) : nil,
            sequence: pb.hasSequence ? pb.sequence : nil,
            ttl: pb.hasTtl ? pb.ttl : nil)
    }

    /// boxo writes `Sequence` as `int64(seq)` and reads it back as `uint64(int64)`: the same bits.
    private static func uint64(boxo integer: IPLDInteger) -> UInt64? {
        if !integer.isNegative { return integer.argument }
        return integer.int64.map { UInt64(bitPattern: $0) }
    }

    // MARK: - Creation

    /// Creates and signs a record as boxo's `NewRecord` does: the `data` map (keys in canonical
    /// order `TTL`, `Value`, `Sequence`, `Validity`, `ValidityType`; `Value` and `Validity` as bytes),
    /// `signatureV2` over `"ipns-signature:" ‖ data`, and, with `v1Compatible`, the V1 fields plus
    /// `signatureV1` over `value ‖ validity ‖ "EOL"`. `pubKey` is written only when the key is not
    /// inlined in its peer ID (RSA, ECDSA), unless `embedPublicKey` says otherwise.
    ///
    /// - Parameters:
    ///   - value: the path the name points to, e.g. `/ipfs/bafy…`.
    ///   - sequence: the version; publish with a higher one than the last record.
    ///   - validity: the EOL, written as RFC 3339 in UTC with trailing-zero-trimmed nanoseconds.
    ///   - ttl: how long resolvers may cache it (negative durations become 0, as in boxo).
    ///   - key: the name's private key.
    /// - Throws: `.creationFailed` when signing fails, `.recordTooLarge` past 10 KiB.
    public static func create(
        value: String, sequence: UInt64, validity: IPNSTimestamp, ttl: Duration = defaultTTL,
        key: PrivateKey, v1Compatible: Bool = true, embedPublicKey: Bool? = nil
    ) throws(IPNSError) -> IPNSRecord {
        let bytes = try encode(
            value: Array(value.utf8), sequence: sequence, validity: validity, ttl: ttl, key: key,
            v1Compatible: v1Compatible, embedPublicKey: embedPublicKey)
        return try IPNSRecord(bytes: bytes)
    }

    /// Creates a record valid for `lifetime` from `now` (default 48 hours); see the other `create`.
    public static func create(
        value: String, sequence: UInt64, lifetime: Duration = defaultLifetime, ttl: Duration = defaultTTL,
        key: PrivateKey, now: Date = Date()
    ) throws(IPNSError) -> IPNSRecord {
        try create(
            value: value, sequence: sequence, validity: IPNSTimestamp(now).adding(lifetime), ttl: ttl, key: key)
    }

    /// The serialized, signed record (no size check).
    static func encode(
        value: [UInt8], sequence: UInt64, validity: IPNSTimestamp, ttl: Duration, key: PrivateKey,
        v1Compatible: Bool, embedPublicKey: Bool?
    ) throws(IPNSError) -> [UInt8] {
        let ttlNanoseconds = nanoseconds(ttl)
        let validityBytes = Array(validity.rfc3339.utf8)
        let data: [UInt8]
        do {
            data = try DagCBOR.encode(
                .map([
                    "Value": .bytes(value),
                    "Validity": .bytes(validityBytes),
                    "ValidityType": .integer(0),
                    "Sequence": .integer(IPLDInteger(Int64(bitPattern: sequence))),
                    "TTL": .integer(IPLDInteger(ttlNanoseconds)),
                ]))
        } catch {
            throw .creationFailed("encoding data: \(error)")
        }
        var pb = Ipfs_Boxo_Ipns_Pb_IpnsRecord()
        pb.data = Data(data)
        do {
            pb.signatureV2 = Data(try key.sign(signatureV2Prefix + data))
            if v1Compatible {
                pb.value = Data(value)
                pb.validityType = .eol
                pb.sequence = sequence
                pb.validity = Data(validityBytes)
                pb.ttl = UInt64(ttlNanoseconds)
                pb.signatureV1 = Data(try key.sign(value + validityBytes + Array("EOL".utf8)))
            }
        } catch {
            throw .creationFailed("signing: \(error)")
        }
        if embedPublicKey ?? (key.publicKey.peerID.multihash.function != .identity) {
            pb.pubKey = Data(key.publicKey.protobufBytes)
        }
        do {
            return try pb.serializedBytes()
        } catch {
            throw .creationFailed("serializing: \(error)")
        }
    }

    /// `duration` in whole nanoseconds, clamped to 0 ... Int64.max.
    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (sum, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? .max : max(0, sum)
    }
}

extension IPNSRecord {
    /// `bytes` decoded as the `IpnsEntry` protobuf, changed by `edit` and re-encoded (for tests that
    /// tamper with records).
    static func reencode(
        _ bytes: [UInt8], _ edit: (inout Ipfs_Boxo_Ipns_Pb_IpnsRecord) throws -> Void
    ) throws -> [UInt8] {
        var pb = try Ipfs_Boxo_Ipns_Pb_IpnsRecord(serializedBytes: bytes)
        try edit(&pb)
        return try pb.serializedBytes()
    }
}
