import BlockStore
import Foundation
import KadDHT
import Multiformats
import P2PCore
import P2PCrypto
import Testing

@testable import JZNode
import TestSupport

/// A sha2-256 peer ID from `seed`.
private func peer(_ seed: Int) throws -> PeerID {
    try PeerID(bytes: [0x12, 0x20] + Sha256.digest(Array("peer \(seed)".utf8)))
}

/// A provider key (sha2-256 multihash of `seed`).
private func key(_ seed: Int) -> [UInt8] {
    [0x12, 0x20] + Sha256.digest(Array("key \(seed)".utf8))
}

private func info(_ seed: Int, addresses: [String] = ["/ip4/10.0.0.1/tcp/4001"]) throws -> PeerInfo {
    PeerInfo(peer: try peer(seed), addresses: try addresses.map { try Multiaddr($0) })
}

@Suite("ProviderSQLiteBackend", .onBlockingPool)
struct ProviderSQLiteBackendTests {
    let hour = 3600.0

    @Test func theDatabaseLivesInTheNodeHome() {
        let home = NodeHome(path: "/tmp/some-home")
        #expect(home.dhtDatabasePath == "/tmp/some-home/dht.sqlite")
    }

    @Test func recordsAndReprovideStateSurviveReopening() throws {
        let home = NodeHome(path: try temporaryDirectory())
        let announced = try info(1, addresses: ["/ip4/10.0.0.1/tcp/4001", "/ip6/::1/udp/4001/quic-v1"])
        do {
            let backend = try SQLiteProviderBackend(home: home)
            #expect(try backend.loadReprovideState() == nil)
            let store = ProviderStore(backend: backend)
            try store.add(key: key(1), provider: announced, from: announced.peer, now: 10)
            try store.addLocal(key: key(1), provider: try info(2), now: 20)
            try store.addLocal(key: key(2), provider: try info(2), now: 20)
            try backend.saveReprovideState([1, 2, 3])
            try backend.saveReprovideState([4, 5])
        }
        let backend = try SQLiteProviderBackend(home: home)
        let store = ProviderStore(backend: backend)
        #expect(try store.count() == 3)
        #expect(try store.providers(for: key(1), now: 30) == [try info(2), announced])
        #expect(try backend.countByProvider(try peer(2)) == 2)
        #expect(try backend.loadReprovideState() == [4, 5])
        #expect(FileManager.default.fileExists(atPath: home.dhtDatabasePath))
        let mode = try SQLiteConnection(path: home.dhtDatabasePath, busyTimeoutMilliseconds: 100)
            .text("PRAGMA journal_mode")
        #expect(mode == "wal")
    }

    @Test func replacingARecordKeepsOneRowAndTheCountExact() throws {
        let backend = try SQLiteProviderBackend(path: try temporaryDirectory() + "/dht.sqlite")
        let p = try peer(1)
        try backend.put(key: key(1), record: ProviderRecord(provider: p, addresses: [], received: 1))
        try backend.put(
            key: key(1), record: ProviderRecord(provider: p, addresses: [try Multiaddr("/dns4/a.example/tcp/1")], received: 2))
        #expect(try backend.count() == 1)
        #expect(try backend.get(key: key(1), now: 2, validity: 10, limit: 5)
            == [ProviderRecord(provider: p, addresses: [try Multiaddr("/dns4/a.example/tcp/1")], received: 2)])
        #expect(try backend.get(key: key(1), now: 2, validity: 10, limit: 0).isEmpty)
        #expect(try backend.removeExpired(before: 3) == 1)
        #expect(try backend.count() == 0)
        #expect(try backend.countByProvider(p) == 0)
    }

    @Test func expiredRecordsAreNeverReturnedAndAreSwept() throws {
        let store = ProviderStore(backend: try SQLiteProviderBackend(path: try temporaryDirectory() + "/dht.sqlite"))
        for i in 0..<4 {
            try store.add(key: key(i % 2), provider: try info(i), from: try peer(i), now: Double(i) * hour)
        }
        let validity = 48 * hour
        #expect(try store.providers(for: key(0), now: validity).map(\.peer) == [try peer(2), try peer(0)])
        #expect(try store.providers(for: key(0), now: validity + 1).map(\.peer) == [try peer(2)])
        #expect(try store.sweep(now: validity + hour + 1) == 2)
        #expect(try store.count() == 2)
        #expect(try store.providers(for: key(1), now: validity + hour + 1).map(\.peer) == [try peer(3)])
    }

    @Test func boundsHoldOverTheSQLiteBackend() throws {
        var limits = ProviderStore.Limits()
        limits.maxProvidersPerKey = 2
        limits.maxRecordsPerProvider = 3
        limits.maxRecords = 5
        let store = ProviderStore(
            backend: try SQLiteProviderBackend(path: try temporaryDirectory() + "/dht.sqlite"), limits: limits)
        let (a, b, c) = (try info(1), try info(2), try info(3))
        try store.add(key: key(0), provider: a, from: a.peer, now: 0)
        try store.add(key: key(0), provider: b, from: b.peer, now: 0)
        #expect(throws: ProviderStoreError.tooManyProvidersForKey(key: key(0), limit: 2, peer: c.peer)) {
            try store.add(key: key(0), provider: c, from: c.peer, now: 0)
        }
        try store.add(key: key(1), provider: a, from: a.peer, now: 0)
        try store.add(key: key(2), provider: a, from: a.peer, now: 0)
        #expect(throws: ProviderStoreError.tooManyRecordsFromPeer(peer: a.peer, limit: 3)) {
            try store.add(key: key(3), provider: a, from: a.peer, now: 0)
        }
        try store.add(key: key(3), provider: b, from: b.peer, now: 0)
        #expect(throws: ProviderStoreError.storeFull(limit: 5, peer: c.peer)) {
            try store.add(key: key(4), provider: c, from: c.peer, now: 0)
        }
        #expect(try store.count() == 5)
    }

    @Test func callsRunOffTheCooperativePool() async throws {
        let store = ProviderStore(backend: try SQLiteProviderBackend(path: try temporaryDirectory() + "/dht.sqlite"))
        let a = try info(1)
        try await BlockingExecutor.run { () throws(ProviderStoreError) in
            try store.add(key: key(1), provider: a, from: a.peer, now: 0)
        }
        let found = try await BlockingExecutor.run { () throws(ProviderStoreError) in
            try store.providers(for: key(1), now: 1)
        }
        #expect(found == [a])
    }

    @Test func damagedRowsAreSkipped() throws {
        let path = try temporaryDirectory() + "/dht.sqlite"
        let backend = try SQLiteProviderBackend(path: path)
        try backend.put(key: key(1), record: ProviderRecord(provider: try peer(1), addresses: [], received: 5))
        let raw = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 1000)
        try raw.execute(
            "INSERT INTO providers(key, provider, addresses, received) VALUES (x'\(Hex.encode(key(1)))', x'0102', x'', 6)",
            "insert bad provider")
        try raw.execute(
            "INSERT INTO providers(key, provider, addresses, received) VALUES (x'\(Hex.encode(key(1)))', x'\(Hex.encode(try peer(2).bytes))', x'05ff', 7)",
            "insert bad addresses")
        #expect(try backend.get(key: key(1), now: 7, validity: 10, limit: 10).map(\.provider) == [try peer(1)])
    }

    @Test func aFileThatIsNotADatabaseIsNamedInTheError() throws {
        let path = try temporaryDirectory() + "/dht.sqlite"
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try SQLiteProviderBackend(path: path)
        } throws: { error in
            guard let error = error as? DHTStorageError, case let .notADHTDatabase(named, _) = error else { return false }
            return named == path && error.description.contains(path) && error.description.contains("delete it")
        }
    }

    @Test func anotherApplicationsDatabaseIsRefused() throws {
        let path = try temporaryDirectory() + "/dht.sqlite"
        _ = try SQLiteBlockStore(path: path)
        #expect {
            _ = try SQLiteProviderBackend(path: path)
        } throws: { error in
            guard case let .notADHTDatabase(named, reason)? = error as? DHTStorageError else { return false }
            return named == path && reason.contains("application_id")
        }
    }

    @Test func aNewerSchemaIsRefused() throws {
        let path = try temporaryDirectory() + "/dht.sqlite"
        _ = try SQLiteProviderBackend(path: path)
        try SQLiteConnection(path: path, busyTimeoutMilliseconds: 1000).execute("PRAGMA user_version = 9", "bump")
        #expect(throws: DHTStorageError.unsupportedSchema(path: path, found: 9, supported: 1)) {
            _ = try SQLiteProviderBackend(path: path)
        }
    }

    @Test func anUnwritableLocationIsNamedInTheError() throws {
        // A regular file where the folder should be (permission bits do not stop root).
        let folder = try temporaryDirectory() + "/not-a-folder"
        try Data([1]).write(to: URL(fileURLWithPath: folder))
        let path = folder + "/dht.sqlite"
        #expect {
            _ = try SQLiteProviderBackend(path: path)
        } throws: { error in
            guard let error = error as? DHTStorageError, case let .cannotOpen(named, _) = error else { return false }
            return named == path && error.description.contains(path)
        }
    }

    @Test func aDamagedDatabaseIsReportedWithItsPath() throws {
        let path = try temporaryDirectory() + "/dht.sqlite"
        do {
            let backend = try SQLiteProviderBackend(path: path)
            for i in 0..<500 {
                try backend.put(key: key(i), record: ProviderRecord(provider: try peer(i), addresses: [], received: 1))
            }
        }
        // Checkpoint the WAL into the main file, then overwrite the pages after the header.
        try SQLiteConnection(path: path, busyTimeoutMilliseconds: 1000).execute(
            "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE", "checkpoint")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0xEE, count: 64 * 1024))
        try handle.close()
        #expect {
            let backend = try SQLiteProviderBackend(path: path)
            _ = try backend.get(key: key(1), now: 1, validity: 10, limit: 10)
            _ = try backend.count()
        } throws: { error in
            guard let error = error as? DHTStorageError, case let .corrupt(named, _, _) = error else { return false }
            return named == path && error.description.contains(path) && error.description.contains("delete it")
        }
    }
}
