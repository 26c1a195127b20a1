import Multiformats
import P2PCore
import P2PCrypto
import Testing

@testable import KadDHT
import TestSupport

/// `/pk/<peer ID bytes>` and the key's protobuf, for `key`.
func pkRecord(_ key: PublicKey) -> (key: [UInt8], value: [UInt8]) {
    (Array("/pk/".utf8) + key.peerID.bytes, key.protobufBytes)
}

/// The reason of a `RoutingError.invalidRecord`, or nil for any other outcome.
func invalidReason(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let RoutingError.invalidRecord(_, reason) {
        return reason
    } catch {
        return nil
    }
}

@Suite(.onBlockingPool) struct RecordValidatorTests {
    let ed25519 = PrivateKey.generateEd25519().publicKey

    @Test func publicKeyRecordsOfInlinedAndHashedPeerIDsAreValid() throws {
        let validator = PublicKeyValidator()
        let (key, value) = pkRecord(ed25519)
        try validator.validate(key: key, value: value)
        // ECDSA keys are too long to inline: their peer ID is a sha2-256 multihash.
        let ecdsa = try PrivateKey.generate(.ecdsa).publicKey
        #expect(ecdsa.peerID.multihash.function == .sha2_256)
        let (hashedKey, hashedValue) = pkRecord(ecdsa)
        try validator.validate(key: hashedKey, value: hashedValue)
        #expect(try validator.select(key: key, values: [value, value]) == 0)
    }

    @Test func publicKeyRecordsAreRefusedWhenTheyDoNotMatch() throws {
        let validator = PublicKeyValidator()
        let (key, value) = pkRecord(ed25519)
        let other = PrivateKey.generateEd25519().publicKey
        #expect(invalidReason { try validator.validate(key: key, value: other.protobufBytes) }?.contains("not the key's peer") == true)
        #expect(invalidReason { try validator.validate(key: key, value: [1, 2, 3]) }?.contains("not a public key protobuf") == true)
        #expect(invalidReason { try validator.validate(key: Array("/pk/".utf8) + [1, 2, 3], value: value) }?.contains("not a peer ID") == true)
        #expect(invalidReason { try validator.validate(key: Array("/ipns/".utf8) + ed25519.peerID.bytes, value: value) }?.contains("not /pk/") == true)
        #expect(invalidReason { try validator.validate(key: Array("pk".utf8), value: value) } != nil)
        #expect(invalidReason { _ = try validator.select(key: key, values: []) } != nil)
    }

    @Test func namespacedValidatorDispatchesAndRefusesUnknownNamespaces() throws {
        let validator = NamespacedValidator.standard
        let (key, value) = pkRecord(ed25519)
        try validator.validate(key: key, value: value)
        #expect(try validator.select(key: key, values: [value]) == 0)
        let ipns = Array("/ipns/".utf8) + ed25519.peerID.bytes
        #expect(invalidReason { try validator.validate(key: ipns, value: [1]) } == "no validator for /ipns/ yet")
        #expect(invalidReason { _ = try validator.select(key: ipns, values: [[1]]) } == "no validator for /ipns/ yet")
        #expect(invalidReason { try validator.validate(key: Array("/v/abc".utf8), value: [1]) } == "no validator for /v/")
        #expect(invalidReason { try validator.validate(key: Array("//x".utf8), value: [1]) } == "the key has no /namespace/ prefix")
        #expect(invalidReason { try validator.validate(key: Array("/pk".utf8), value: [1]) } == "the key has no /namespace/ prefix")
        #expect(invalidReason { try validator.validate(key: [], value: [1]) } == "the key does not start with /")
        // A namespace registered later (as /ipns/ will be) is used.
        var extended = validator
        extended.validators["ipns"] = AcceptAll()
        try extended.validate(key: ipns, value: [1])
    }

    @Test func keysAreDescribedReadably() throws {
        let peer = ed25519.peerID
        #expect(RecordKey.describe(Array("/pk/".utf8) + peer.bytes) == "/pk/\(peer)")
        #expect(RecordKey.describe(Array("/v/hello".utf8)) == "/v/hello")
        #expect(RecordKey.describe(Array("/v/".utf8) + [0, 255]) == "/v/0x00ff")
        #expect(RecordKey.describe([0, 1]) == "0x0001")
        let (namespace, rest) = try RecordKey.split(Array("/ipns/a/b".utf8))
        #expect(namespace == "ipns" && rest == Array("a/b".utf8))
    }
}

/// Accepts every record; prefers the value with the largest first byte, the first of equals (a
/// stand-in for IPNS sequence numbers).
struct AcceptAll: RecordValidator {
    func validate(key: [UInt8], value: [UInt8]) throws {}
    func select(key: [UInt8], values: [[UInt8]]) throws -> Int {
        var best = 0
        for i in values.indices where (values[i].first ?? 0) > (values[best].first ?? 0) { best = i }
        return best
    }
}

@Suite(.onBlockingPool) struct ValueRecordStoreTests {
    let hour = 3600.0
    let sender = testPeer(1)

    func key(_ i: Int) -> [UInt8] { Array("/t/\(i)".utf8) }

    func store(_ configure: (inout ValueRecordStore.Limits) -> Void = { _ in }) -> ValueRecordStore {
        var limits = ValueRecordStore.Limits()
        configure(&limits)
        return ValueRecordStore(validator: NamespacedValidator(["t": AcceptAll()]), limits: limits)
    }

    @Test func publicKeyRecordsAreStoredAndExpireAfter48Hours() throws {
        let store = ValueRecordStore(validator: NamespacedValidator.standard)
        let (key, value) = pkRecord(PrivateKey.generateEd25519().publicKey)
        try store.put(key: key, value: value, from: sender, now: 0)
        #expect(store.get(key: key, now: 48 * hour) == ValueRecord(value: value, received: 0, sender: sender))
        #expect(store.get(key: key, now: 48 * hour + 1) == nil)
        #expect(store.count == 1)
        #expect(store.sweep(now: 48 * hour + 1) == 1)
        #expect(store.count == 0)
    }

    @Test func invalidRecordsAreRefused() throws {
        let store = ValueRecordStore(validator: NamespacedValidator.standard)
        let peer = PrivateKey.generateEd25519().publicKey
        let (key, _) = pkRecord(peer)
        let wrong = PrivateKey.generateEd25519().publicKey.protobufBytes
        #expect {
            try store.put(key: key, value: wrong, from: sender, now: 0)
        } throws: { error in
            guard case let ValueRecordStoreError.invalidRecord(described, reason) = error else { return false }
            return described == "/pk/\(peer.peerID)" && reason.contains("not the key's peer")
        }
        #expect(throws: ValueRecordStoreError.invalidRecord(
            key: "/ipns/\(peer.peerID)", reason: "no validator for /ipns/ yet")) {
            try store.put(key: Array("/ipns/".utf8) + peer.peerID.bytes, value: [1], from: sender, now: 0)
        }
        #expect(store.count == 0)
    }

    @Test func aRecordReplacesTheStoredOneOnlyWhenSelectPrefersIt() throws {
        let store = store()
        try store.put(key: key(1), value: [5], from: sender, now: 0)
        #expect(throws: ValueRecordStoreError.notBetter(key: "/t/1")) {
            try store.put(key: key(1), value: [4], from: sender, now: 1)
        }
        // A tie is the validator's call: this one (like `/pk/`'s) picks the first, the new record.
        try store.put(key: key(1), value: [5], from: testPeer(2), now: 1)
        #expect(store.get(key: key(1), now: 1) == ValueRecord(value: [5], received: 1, sender: testPeer(2)))
        try store.put(key: key(1), value: [6], from: testPeer(2), now: 2)
        #expect(store.get(key: key(1), now: 3) == ValueRecord(value: [6], received: 2, sender: testPeer(2)))
        // An expired record does not block a worse one.
        try store.put(key: key(1), value: [1], from: sender, now: 2 + 48 * hour + 1)
        #expect(store.get(key: key(1), now: 2 + 48 * hour + 1)?.value == [1])
    }

    @Test func sizesAreBounded() throws {
        let store = store()
        #expect(throws: ValueRecordStoreError.emptyKey) { try store.put(key: [], value: [1], from: sender, now: 0) }
        #expect(throws: ValueRecordStoreError.recordTooLarge(key: "/t/1", size: 10 * 1024 + 1, limit: 10 * 1024)) {
            try store.put(key: key(1), value: [UInt8](repeating: 1, count: 10 * 1024 + 1), from: sender, now: 0)
        }
        try store.put(key: key(1), value: [UInt8](repeating: 1, count: 10 * 1024), from: sender, now: 0)
        #expect(throws: ValueRecordStoreError.self) {
            try store.put(key: Array("/t/".utf8) + [UInt8](repeating: 0x61, count: 254), value: [1], from: sender, now: 0)
        }
        try store.put(key: Array("/t/".utf8) + [UInt8](repeating: 0x61, count: 253), value: [1], from: sender, now: 0)
    }

    @Test func recordsPerSendingPeerAreBounded() throws {
        let store = store { $0.maxRecordsPerPeer = 2 }
        try store.put(key: key(1), value: [1], from: sender, now: 0)
        try store.put(key: key(2), value: [1], from: sender, now: 0)
        #expect(throws: ValueRecordStoreError.tooManyRecordsFromPeer(peer: sender, limit: 2)) {
            try store.put(key: key(3), value: [1], from: sender, now: 0)
        }
        try store.put(key: key(2), value: [2], from: sender, now: 1)  // replacing its own record
        try store.put(key: key(3), value: [1], from: testPeer(2), now: 1)
        try store.putLocal(key: key(4), value: [1], now: 1)
        // Another peer's better record takes key 2 over: the sender has room again.
        try store.put(key: key(2), value: [3], from: testPeer(2), now: 2)
        try store.put(key: key(5), value: [1], from: sender, now: 2)
        #expect(store.count == 5)
    }

    @Test func totalRecordsAreBoundedAndExpiredOnesMakeRoom() throws {
        let store = store { $0.maxRecords = 2; $0.maxAge = 100 }
        try store.put(key: key(1), value: [1], from: sender, now: 0)
        try store.putLocal(key: key(2), value: [1], now: 50)
        #expect(throws: ValueRecordStoreError.storeFull(limit: 2, peer: testPeer(2))) {
            try store.put(key: key(3), value: [1], from: testPeer(2), now: 60)
        }
        #expect(throws: ValueRecordStoreError.storeFull(limit: 2, peer: nil)) {
            try store.putLocal(key: key(3), value: [1], now: 60)
        }
        // Key 1 has expired at t=101, but the refusal at t=60 swept; the next sweep waits until t=120.
        #expect(throws: ValueRecordStoreError.self) { try store.putLocal(key: key(3), value: [1], now: 101) }
        try store.putLocal(key: key(3), value: [1], now: 120)
        #expect(store.get(key: key(1), now: 120) == nil)
        #expect(store.count == 2)
    }

    @Test func errorsNameTheirLimitAndPeer() {
        let full = ValueRecordStoreError.storeFull(limit: 10_000, peer: sender)
        #expect(full.description.contains("maxRecords = 10000") && full.description.contains(sender.description))
        let perPeer = ValueRecordStoreError.tooManyRecordsFromPeer(peer: sender, limit: 1_000)
        #expect(perPeer.description.contains("maxRecordsPerPeer") && perPeer.description.contains(sender.description))
    }
}
