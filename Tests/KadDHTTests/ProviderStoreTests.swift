import Dispatch
import Foundation
import Multiformats
import P2PCore
import P2PCrypto
import Synchronization
import Testing

@testable import KadDHT
import TestSupport

/// A sha2-256 peer ID from `seed` (valid, and much cheaper than generating keys).
func testPeer(_ seed: Int) -> PeerID {
    let digest = Sha256.digest(Array("peer \(seed)".utf8))
    guard let peer = try? PeerID(bytes: [0x12, 0x20] + digest) else { preconditionFailure("sha2-256 peer ID") }
    return peer
}

/// A CIDv1-style provider key: the sha2-256 multihash of `seed`.
func testKey(_ seed: Int) -> [UInt8] {
    [0x12, 0x20] + Sha256.digest(Array("key \(seed)".utf8))
}

func testAddress(_ i: Int) -> Multiaddr {
    guard let address = try? Multiaddr("/ip4/10.\(i / 65536 % 256).\(i / 256 % 256).\(i % 256)/tcp/4001") else {
        preconditionFailure("valid multiaddr")
    }
    return address
}

func info(_ peer: PeerID, _ addresses: [Int] = [1]) -> PeerInfo {
    PeerInfo(peer: peer, addresses: addresses.map(testAddress))
}

@Suite(.onBlockingPool) struct ProviderStoreTests {
    let hour = 3600.0

    @Test func addedProvidersComeBackFreshestFirst() throws {
        let store = ProviderStore(backend: MemoryProviderBackend())
        let key = testKey(1)
        for i in 0..<5 {
            try store.add(key: key, provider: info(testPeer(i), [i]), from: testPeer(i), now: 100 + Double(i))
        }
        let found = try store.providers(for: key, now: 200)
        #expect(found.map(\.peer) == (0..<5).reversed().map(testPeer))
        #expect(found.first?.addresses == [testAddress(4)])
        #expect(try store.providers(for: key, now: 200, limit: 2).map(\.peer) == [testPeer(4), testPeer(3)])
        #expect(try store.providers(for: key, now: 200, limit: 0).isEmpty)
        #expect(try store.providers(for: testKey(2), now: 200).isEmpty)
        #expect(try store.count() == 5)
    }

    @Test func announcementForAnotherPeerIsRefused() throws {
        let store = ProviderStore(backend: MemoryProviderBackend())
        #expect(throws: ProviderStoreError.notFromProvider(provider: testPeer(1), from: testPeer(2))) {
            try store.add(key: testKey(1), provider: info(testPeer(1)), from: testPeer(2), now: 0)
        }
        #expect(try store.count() == 0)
    }

    @Test func keysMustBeOneTo80Bytes() throws {
        let store = ProviderStore(backend: MemoryProviderBackend())
        let p = testPeer(1)
        #expect(throws: ProviderStoreError.emptyKey) { try store.add(key: [], provider: info(p), from: p, now: 0) }
        #expect(throws: ProviderStoreError.keyTooLong(length: 81, limit: 80)) {
            try store.add(key: [UInt8](repeating: 7, count: 81), provider: info(p), from: p, now: 0)
        }
        #expect(throws: ProviderStoreError.keyTooLong(length: 81, limit: 80)) {
            try store.providers(for: [UInt8](repeating: 7, count: 81), now: 0)
        }
        try store.add(key: [UInt8](repeating: 7, count: 80), provider: info(p), from: p, now: 0)
        #expect(try store.providers(for: [UInt8](repeating: 7, count: 80), now: 1).map(\.peer) == [p])
    }

    @Test func addressesAreDeduplicatedAndCappedAtTen() throws {
        let store = ProviderStore(backend: MemoryProviderBackend())
        let p = testPeer(1)
        try store.add(key: testKey(1), provider: info(p, [0, 0, 1] + Array(2..<15)), from: p, now: 0)
        let found = try #require(try store.providers(for: testKey(1), now: 1).first)
        #expect(found.addresses == (0..<10).map(testAddress))
    }

    @Test func reannouncingReplacesTheRecord() throws {
        let store = ProviderStore(backend: MemoryProviderBackend())
        let p = testPeer(1)
        try store.add(key: testKey(1), provider: info(p, [1]), from: p, now: 0)
        try store.add(key: testKey(1), provider: info(p, [2, 3]), from: p, now: 47 * hour)
        #expect(try store.count() == 1)
        // Valid 48 h from the second announcement, with its addresses.
        #expect(try store.providers(for: testKey(1), now: 90 * hour) == [info(p, [2, 3])])
    }

    @Test func recordsExpireAfterValidityAndAreSwept() throws {
        let backend = MemoryProviderBackend()
        let store = ProviderStore(backend: backend)
        let (a, b) = (testPeer(1), testPeer(2))
        try store.add(key: testKey(1), provider: info(a), from: a, now: 0)
        try store.add(key: testKey(1), provider: info(b), from: b, now: hour)
        try store.add(key: testKey(2), provider: info(a), from: a, now: 0)
        let validity = store.limits.validity
        #expect(validity == 48 * hour)
        #expect(try store.providers(for: testKey(1), now: validity).count == 2)  // exactly 48 h: still valid
        #expect(try store.providers(for: testKey(1), now: validity + 1).map(\.peer) == [b])
        #expect(try store.providers(for: testKey(2), now: validity + 1).isEmpty)
        #expect(try store.count() == 3)  // not swept yet
        #expect(try store.sweep(now: validity + 1) == 2)
        #expect(try store.count() == 1)
        #expect(backend.countByProvider(a) == 0)
        #expect(backend.countByProvider(b) == 1)
        #expect(try store.sweep(now: validity + 1) == 0)
        #expect(try store.sweep(now: validity + hour + 1) == 1)
        #expect(try store.count() == 0)
    }

    @Test func validityIsConfigurable() throws {
        var limits = ProviderStore.Limits()
        limits.validity = 10
        let store = ProviderStore(backend: MemoryProviderBackend(), limits: limits)
        let p = testPeer(1)
        try store.add(key: testKey(1), provider: info(p), from: p, now: 0)
        #expect(try store.providers(for: testKey(1), now: 10).count == 1)
        #expect(try store.providers(for: testKey(1), now: 10.5).isEmpty)
    }

    @Test func providersPerKeyAreBoundedForRemotePeersOnly() throws {
        var limits = ProviderStore.Limits()
        limits.maxProvidersPerKey = 3
        let store = ProviderStore(backend: MemoryProviderBackend(), limits: limits)
        let key = testKey(1)
        for i in 0..<3 { try store.add(key: key, provider: info(testPeer(i)), from: testPeer(i), now: 0) }
        #expect(throws: ProviderStoreError.tooManyProvidersForKey(key: key, limit: 3, peer: testPeer(3))) {
            try store.add(key: key, provider: info(testPeer(3)), from: testPeer(3), now: 1)
        }
        // A refresh by a known provider is still accepted, and so is our own record.
        try store.add(key: key, provider: info(testPeer(0), [9]), from: testPeer(0), now: 2)
        try store.addLocal(key: key, provider: info(testPeer(100)), now: 3)
        #expect(try store.providers(for: key, now: 4).count == 4)
        // Once the others expire, the key takes new providers again.
        #expect(throws: ProviderStoreError.self) {
            try store.add(key: key, provider: info(testPeer(3)), from: testPeer(3), now: 4)
        }
        try store.add(key: key, provider: info(testPeer(3)), from: testPeer(3), now: 48 * hour + 2.5)
    }

    @Test func recordsPerProviderAreBoundedButNotOurOwn() throws {
        var limits = ProviderStore.Limits()
        limits.maxRecordsPerProvider = 2
        let store = ProviderStore(backend: MemoryProviderBackend(), limits: limits)
        let p = testPeer(1)
        try store.add(key: testKey(1), provider: info(p), from: p, now: 0)
        try store.add(key: testKey(2), provider: info(p), from: p, now: 0)
        #expect(throws: ProviderStoreError.tooManyRecordsFromPeer(peer: p, limit: 2)) {
            try store.add(key: testKey(3), provider: info(p), from: p, now: 1)
        }
        try store.add(key: testKey(2), provider: info(p), from: p, now: 1)  // refresh
        let me = testPeer(2)
        for i in 0..<5 { try store.addLocal(key: testKey(i), provider: info(me), now: 1) }
        #expect(try store.count() == 7)
        let error = ProviderStoreError.tooManyRecordsFromPeer(peer: p, limit: 2)
        #expect(error.description.contains(p.description) && error.description.contains("maxRecordsPerProvider"))
    }

    @Test func totalRecordsAreBoundedAndExpiredOnesMakeRoom() throws {
        var limits = ProviderStore.Limits()
        limits.maxRecords = 3
        limits.validity = 100
        let store = ProviderStore(backend: MemoryProviderBackend(), limits: limits)
        for i in 0..<3 { try store.add(key: testKey(i), provider: info(testPeer(i)), from: testPeer(i), now: 0) }
        #expect(throws: ProviderStoreError.storeFull(limit: 3, peer: testPeer(3))) {
            try store.add(key: testKey(3), provider: info(testPeer(3)), from: testPeer(3), now: 50)
        }
        #expect(throws: ProviderStoreError.storeFull(limit: 3, peer: testPeer(3))) {
            try store.addLocal(key: testKey(3), provider: info(testPeer(3)), now: 50)
        }
        // Refreshing is fine when full.
        try store.add(key: testKey(0), provider: info(testPeer(0)), from: testPeer(0), now: 60)
        // Records 1 and 2 have expired: reaching the bound sweeps them (but at most once a
        // minute: the refusal at t=50 swept nothing and holds the next sweep back until t=110).
        #expect(throws: ProviderStoreError.self) {
            try store.add(key: testKey(3), provider: info(testPeer(3)), from: testPeer(3), now: 101)
        }
        #expect(try store.count() == 3)
        try store.add(key: testKey(3), provider: info(testPeer(3)), from: testPeer(3), now: 110)
        #expect(try store.count() == 2)
    }

    @Test func concurrentAddsNeverOvershootABound() throws {
        var limits = ProviderStore.Limits()
        limits.maxProvidersPerKey = 10
        let store = ProviderStore(backend: MemoryProviderBackend(), limits: limits)
        let accepted = Counter()
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            if (try? store.add(key: testKey(1), provider: info(testPeer(i)), from: testPeer(i), now: 0)) != nil {
                accepted.increment()
            }
        }
        #expect(accepted.value == 10)
        #expect(try store.providers(for: testKey(1), now: 0, limit: 100).count == 10)
    }

    @Test func backendFailuresNameTheOperation() throws {
        let store = ProviderStore(backend: FailingBackend())
        let p = testPeer(1)
        #expect(throws: ProviderStoreError.backend(operation: "get providers", reason: "disk on fire")) {
            try store.add(key: testKey(1), provider: info(p), from: p, now: 0)
        }
        #expect(throws: ProviderStoreError.backend(operation: "sweep", reason: "disk on fire")) {
            try store.sweep(now: 0)
        }
    }
}

@Suite(.onBlockingPool) struct MemoryProviderBackendTests {
    @Test func countsByProviderAcrossKeysAndReplacements() {
        let backend = MemoryProviderBackend()
        let (a, b) = (testPeer(1), testPeer(2))
        for k in 0..<4 { backend.put(key: testKey(k), record: ProviderRecord(provider: a, addresses: [], received: 1)) }
        backend.put(key: testKey(0), record: ProviderRecord(provider: b, addresses: [testAddress(1)], received: 2))
        backend.put(key: testKey(0), record: ProviderRecord(provider: a, addresses: [testAddress(2)], received: 3))
        #expect(backend.count() == 5)
        #expect(backend.countByProvider(a) == 4)
        #expect(backend.countByProvider(b) == 1)
        #expect(backend.countByProvider(testPeer(3)) == 0)
        #expect(
            backend.get(key: testKey(0), now: 3, validity: 10, limit: 10)
                == [ProviderRecord(provider: a, addresses: [testAddress(2)], received: 3),
                    ProviderRecord(provider: b, addresses: [testAddress(1)], received: 2)])
    }

    @Test func removeExpiredHandlesSingleAndSharedKeys() {
        let backend = MemoryProviderBackend()
        // key 0: one old record; key 1: old and new; key 2: one new record.
        backend.put(key: testKey(0), record: ProviderRecord(provider: testPeer(1), addresses: [testAddress(1)], received: 1))
        backend.put(key: testKey(1), record: ProviderRecord(provider: testPeer(1), addresses: [testAddress(1)], received: 1))
        backend.put(key: testKey(1), record: ProviderRecord(provider: testPeer(2), addresses: [testAddress(2)], received: 5))
        backend.put(key: testKey(2), record: ProviderRecord(provider: testPeer(3), addresses: [], received: 5))
        #expect(backend.removeExpired(before: 5) == 2)
        #expect(backend.count() == 2)
        #expect(backend.get(key: testKey(0), now: 5, validity: 100, limit: 10).isEmpty)
        #expect(backend.get(key: testKey(1), now: 5, validity: 100, limit: 10).map(\.provider) == [testPeer(2)])
        #expect(backend.countByProvider(testPeer(1)) == 0)
        // Freed interned ids are reused and hold the new values.
        backend.put(key: testKey(3), record: ProviderRecord(provider: testPeer(9), addresses: [testAddress(9)], received: 6))
        #expect(backend.get(key: testKey(3), now: 6, validity: 1, limit: 1)
            == [ProviderRecord(provider: testPeer(9), addresses: [testAddress(9)], received: 6)])
        #expect(backend.removeExpired(before: 100) == 3)
        #expect(backend.count() == 0)
    }

    @Test func internTableCountsReferencesAndReusesIds() {
        var table = InternTable<String>()
        let a = table.retain("a")
        #expect(table.retain("a") == a)
        let b = table.retain("b")
        #expect(table.referenceCount(of: "a") == 2)
        table.release(a)
        table.release(a)
        #expect(table.referenceCount(of: "a") == 0)
        #expect(table.retain("c") == a)  // a's slot reused
        #expect(table.value(b) == "b")
        #expect(table.distinctCount == 2)
    }

    @Test func addressCodingRoundTripsAndRejectsDamage() throws {
        let addresses = [testAddress(1), try Multiaddr("/ip6/::1/udp/4001/quic-v1"), try Multiaddr("/dns4/example.com/tcp/443/wss")]
        let bytes = ProviderAddressCoding.encode(addresses)
        #expect(ProviderAddressCoding.decode(bytes) == addresses)
        #expect(ProviderAddressCoding.decode([]) == [])
        #expect(ProviderAddressCoding.decode(Array(bytes.dropLast())) == nil)  // truncated
        #expect(ProviderAddressCoding.decode([0x02, 0xff, 0xff]) == nil)  // not a multiaddr
        #expect(ProviderAddressCoding.decode([0xff]) == nil)  // bad varint
    }

    /// Many records, many providers, many addresses: counts and lookups stay exact. (Memory is
    /// measured by `jz-bench dht-mem`, a benchmark, not here: heap figures are noisy while other
    /// suites run in parallel.)
    @Test func manyRecordsStayExact() throws {
        let count = 20_000
        let backend = MemoryProviderBackend()
        for i in 0..<count {
            let p = i % 2_000
            let addresses = try (0..<2).map { try compactAddress(p * 2 + $0) }
            backend.put(key: testKey(i), record: ProviderRecord(provider: testPeer(p), addresses: addresses, received: Double(i)))
        }
        #expect(backend.count() == count)
        #expect(backend.countByProvider(testPeer(7)) == count / 2_000)
        #expect(backend.get(key: testKey(count - 1), now: Double(count), validity: 10, limit: 1).count == 1)
    }
}

/// `/ip4/10.x.y.z/tcp/4001`, built from components (parsing a million strings is slow in debug).
func compactAddress(_ i: Int) throws -> Multiaddr {
    let ip: [UInt8] = [10, UInt8(i >> 16 & 0xff), UInt8(i >> 8 & 0xff), UInt8(i & 0xff)]
    return Multiaddr([try MultiaddrComponent(.ip4, value: ip), try MultiaddrComponent(.tcp, value: [0x0f, 0xa1])])
}


final class Counter: Sendable {
    private let n = Atomic<Int>(0)
    func increment() { n.add(1, ordering: .relaxed) }
    var value: Int { n.load(ordering: .relaxed) }
}

struct FailingBackend: ProviderBackend {
    struct Failure: Error, CustomStringConvertible { var description: String { "disk on fire" } }
    func put(key: [UInt8], record: ProviderRecord) throws { throw Failure() }
    func get(key: [UInt8], now: Double, validity: Double, limit: Int) throws -> [ProviderRecord] { throw Failure() }
    func removeExpired(before: Double) throws -> Int { throw Failure() }
    func count() throws -> Int { throw Failure() }
    func countByProvider(_ peer: PeerID) throws -> Int { throw Failure() }
}
