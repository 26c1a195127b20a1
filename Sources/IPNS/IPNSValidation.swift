import Foundation
import P2PCrypto

extension IPNSRecord {
    /// Parses and validates a serialized record for `name` (see `validate(for:now:)`).
    /// - Returns: the record, valid at `now`.
    public static func validate(_ bytes: [UInt8], for name: IPNSName, now: Date = Date()) throws(IPNSError)
        -> IPNSRecord
    {
        let record = try IPNSRecord(bytes: bytes)
        try record.validate(for: name, now: now)
        return record
    }

    /// Checks this record for `name` at `now`, failing on the first error in the order of the spec's
    /// "Record Verification" (ipfs/specs `src/ipns/ipns-record.md`):
    ///
    /// 1. size ≤ 10 KiB (`.recordTooLarge`);
    /// 2. `signatureV2` and `data` present (`.missingSignatureV2`, `.missingData`);
    /// 3. the public key: from `pubKey`, which must be the name's key (`.invalidPublicKey`,
    ///    `.publicKeyMismatch`), or else inlined in the name (`.publicKeyNotFound`);
    /// 4. `data` a DAG-CBOR map with the fields (`.invalidData`, `.invalidDataField`, …);
    /// 5–6. `signatureV2` verifies over `"ipns-signature:" ‖ data` (`.invalidSignature`);
    /// 7. when `signatureV1` or `value` is present, each V1 protobuf field equals its `data` field
    ///    (`.fieldMismatch` naming the CBOR key);
    /// 8. the validity EOL is later than `now` (`.expired`). The spec asks for "bigger than the
    ///    current time"; boxo also accepts the EOL instant itself.
    ///
    /// Steps 1, 2 and 4 run when the bytes are parsed (`init(bytes:)`), so a record whose `data` is
    /// malformed fails there, before its key is looked at. `signatureV1` is never checked: V1
    /// signatures are ignored, as the spec requires.
    public func validate(for name: IPNSName, now: Date = Date()) throws(IPNSError) {
        guard bytes.count <= Self.maxSize else { throw .recordTooLarge(size: bytes.count) }
        let key = try publicKey(for: name)
        guard key.verify(signature: signatureV2, message: Self.signatureV2Prefix + data) else {
            throw .invalidSignature
        }
        if legacy.isPresent { try checkLegacyFields() }
        guard validity > IPNSTimestamp(now) else { throw .expired(validity: validity.rfc3339) }
    }

    /// The key that must have signed this record for `name`: the `pubKey` field when present (it
    /// must belong to `name`), else the key inlined in the name (Ed25519, secp256k1 peer IDs).
    public func publicKey(for name: IPNSName) throws(IPNSError) -> PublicKey {
        if let publicKeyBytes {
            let key: PublicKey
            do {
                key = try PublicKey(protobuf: publicKeyBytes)
            } catch {
                throw .invalidPublicKey(error)
            }
            guard key.peerID == name.peer else {
                throw .publicKeyMismatch(name: name.string, keyPeer: IPNSName(peer: key.peerID).string)
            }
            return key
        }
        guard let key = name.peer.publicKey else { throw .publicKeyNotFound(name: name.string) }
        return key
    }

    /// boxo's `validateCborDataMatchesPbData`: absent protobuf fields count as their defaults.
    private func checkLegacyFields() throws(IPNSError) {
        guard (legacy.value ?? []) == value else { throw .fieldMismatch("Value") }
        guard (legacy.validity ?? []) == validityBytes else { throw .fieldMismatch("Validity") }
        guard (legacy.validityType ?? 0) == 0 else { throw .fieldMismatch("ValidityType") }
        guard (legacy.sequence ?? 0) == sequence else { throw .fieldMismatch("Sequence") }
        guard let ttlNanoseconds, (legacy.ttl ?? 0) == ttlNanoseconds else { throw .fieldMismatch("TTL") }
    }
}
