import KadDHT
import P2PCore
import P2PCrypto
import Testing
import TestSupport

/// The DHT stores' bounds as resources: a peer over its bound is refused (not stored) and counted,
/// while another peer's records are still stored.
@Suite("DHT stores: use against limits", .onBlockingPool)
struct DHTResourceReportTests {
    @Test func valueRecordsOfAPeerOverItsBoundAreRefusedAndCounted() throws {
        var limits = ValueRecordStore.Limits()
        limits.maxRecordsPerPeer = 2
        limits.maxRecords = 3
        let store = ValueRecordStore(validator: NamespacedValidator(["t": AcceptAll()]), limits: limits)
        let (hostile, other, third) = (testPeer(1), testPeer(2), testPeer(3))
        func key(_ i: Int) -> [UInt8] { Array("/t/\(i)".utf8) }
        try store.put(key: key(1), value: [1], from: hostile, now: 0)
        try store.put(key: key(2), value: [1], from: hostile, now: 0)
        for i in 3..<6 {
            #expect(throws: ValueRecordStoreError.tooManyRecordsFromPeer(peer: hostile, limit: 2)) {
                try store.put(key: key(i), value: [1], from: hostile, now: 0)
            }
        }
        // Another peer is still served; the store's own bound then refuses the third peer.
        try store.put(key: key(10), value: [1], from: other, now: 0)
        #expect(throws: ValueRecordStoreError.storeFull(limit: 3, peer: third)) {
            try store.put(key: key(11), value: [1], from: third, now: 0)
        }
        #expect(store.get(key: key(1), now: 1) != nil, "existing records are kept")
        let report = store.resourceReport()
        #expect(report.system["DHTRecords"] == ResourceUse(used: 3, limit: 3, refused: 1))
        #expect(report.peers[hostile]?["DHTRecords"] == ResourceUse(used: 2, limit: 2, refused: 3))
        #expect(report.peers[other]?["DHTRecords"] == ResourceUse(used: 1, limit: 2, refused: 0))
        #expect(report.peers[third]?["DHTRecords"] == ResourceUse(used: 0, limit: 2, refused: 1))
    }

    @Test func providerRecordsOfAPeerOverItsBoundAreRefusedAndCounted() throws {
        var limits = ProviderStore.Limits()
        limits.maxRecordsPerProvider = 2
        limits.maxProvidersPerKey = 1
        let store = ProviderStore(backend: MemoryProviderBackend(), limits: limits)
        let (hostile, other) = (testPeer(1), testPeer(2))
        try store.add(key: testKey(1), provider: info(hostile), from: hostile, now: 0)
        try store.add(key: testKey(2), provider: info(hostile), from: hostile, now: 0)
        #expect(throws: ProviderStoreError.tooManyRecordsFromPeer(peer: hostile, limit: 2)) {
            try store.add(key: testKey(3), provider: info(hostile), from: hostile, now: 0)
        }
        try store.add(key: testKey(3), provider: info(other), from: other, now: 0)
        #expect(throws: ProviderStoreError.tooManyProvidersForKey(key: testKey(1), limit: 1, peer: other)) {
            try store.add(key: testKey(1), provider: info(other), from: other, now: 0)
        }
        #expect(try store.providers(for: testKey(1), now: 1).map(\.peer) == [hostile], "existing records are kept")
        let report = try store.resourceReport(peers: [other])
        #expect(report.system["DHTProviders"] == ResourceUse(used: 3, limit: 1_000_000, refused: 0))
        #expect(report.system["DHTProvidersPerKey"]?.refused == 1)
        #expect(report.peers[hostile]?["DHTProviders"] == ResourceUse(used: 2, limit: 2, refused: 1))
        #expect(report.peers[other]?["DHTProviders"] == ResourceUse(used: 1, limit: 2, refused: 1))
    }
}
