import BlockingPool
import Foundation
import IPNS
import Logging
import Testing

@testable import JZNode
import TestSupport

/// A clock the test moves.
final class TestClock: Sendable {
    private let now = Locked(Date(timeIntervalSince1970: 1_800_000_000))
    var date: Date { now.withLock { $0 } }
    func advance(_ seconds: Double) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite(.onBlockingPool) struct NameServiceTests {
    let value = "/ipfs/bafkqaaa"

    func makeService(_ clock: TestClock, home: NodeHome? = nil) throws -> (NameService, NodeHome) {
        let home = try home ?? {
            let home = NodeHome(path: try temporaryDirectory() + "/node")
            try home.initialize(bootstrap: [])
            return home
        }()
        let service = NameService(
            home: home, storage: try SQLiteProviderBackend(home: home), dht: nil, logger: Logger(label: "names-test"),
            clock: { clock.date })
        return (service, home)
    }

    @Test func offlinePublishNeedsTheFlagAndIsKeptInTheHome() async throws {
        let clock = TestClock()
        let (names, home) = try makeService(clock)
        await #expect(throws: NameServiceError.self) {
            _ = try await names.publish(keyName: "self", value: value)
        }
        let (name, record) = try await names.publish(keyName: "self", value: value, allowOffline: true)
        #expect(record.sequence == 0)
        #expect(record.valueString == value)
        #expect(try await names.resolve(name) == record)
        #expect(try await names.resolvePath("/ipns/\(name.string)/a/b") == value + "/a/b")
        // The next publish continues the sequence; one that would not replace it is refused.
        let (_, second) = try await names.publish(keyName: "self", value: "/ipfs/bafkqaaa/x", allowOffline: true)
        #expect(second.sequence == 1)
        await #expect(throws: NameServiceError.sequenceNotNewer(name: name.string, asked: 1, current: 1)) {
            _ = try await names.publish(keyName: "self", value: value, sequence: 1, allowOffline: true)
        }
        // Another service on the same home (a restarted daemon, a CLI command) sees the record.
        let (again, _) = try makeService(clock, home: home)
        #expect(try await again.resolve(name, useCache: false) == second)
        let stored = try #require(try SQLiteProviderBackend(home: home).publishedName(name))
        #expect(stored.keyName == "self" && !stored.online && stored.lifetime == 48 * 3600)
    }

    @Test func unknownAndExpiredNamesAreNotFound() async throws {
        let clock = TestClock()
        let (names, _) = try makeService(clock)
        let (name, _) = try await names.publish(keyName: "self", value: value, lifetime: .seconds(60), ttl: .seconds(1), allowOffline: true)
        clock.advance(61)
        await #expect(throws: NameServiceError.self) { _ = try await names.resolve(name, useCache: false) }
        let stranger = try IPNSName("k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8")
        await #expect(throws: NameServiceError.notFound(name: stranger.string, where: "the local records (no daemon runs)")) {
            _ = try await names.resolve(stranger)
        }
        await #expect(throws: NameServiceError.self) { _ = try await names.resolvePath("/ipns/nonsense") }
    }

    @Test func republishRenewsWithTheNextSequenceAndTheSameLifetime() async throws {
        let clock = TestClock()
        let (names, home) = try makeService(clock)
        let lifetime = 8.0 * 3600
        let (name, first) = try await names.publish(
            keyName: "self", value: value, lifetime: .seconds(Int64(lifetime)), ttl: .seconds(120), allowOffline: true)
        let schedule = IPNSRepublishSchedule(period: 4 * 3600, retryInterval: 60)
        let storage = try SQLiteProviderBackend(home: home)
        // Published offline: due at once, but with no DHT the put fails and is retried later.
        let retry = try #require(await names.republishDue(schedule: schedule))
        #expect(retry == clock.date.timeIntervalSince1970 + 60)
        #expect(try storage.publishedName(name)?.record == first)
        // At the period a new record is made: same value and TTL, sequence + 1, EOL = now + lifetime.
        clock.advance(4 * 3600)
        await names.republishDue(schedule: schedule)
        let renewed = try #require(try storage.publishedName(name))
        #expect(renewed.record.sequence == first.sequence + 1)
        #expect(renewed.record.valueString == value)
        #expect(renewed.record.ttl == .seconds(120))
        #expect(abs(renewed.record.validity.date.timeIntervalSince1970 - (clock.date.timeIntervalSince1970 + lifetime)) < 0.001)
        #expect(renewed.lifetime == lifetime && renewed.published == clock.date.timeIntervalSince1970)
        #expect(try await names.resolve(name, useCache: false) == renewed.record)
    }

    @Test func republishPeriodSetting() throws {
        func settings(_ edits: [String: JSONValue]) throws -> NetworkSettings {
            var config = NodeConfig.makeDefault(peerID: "x", privateKeyBase64: "y", bootstrap: [])
            for (key, value) in edits { try config.set(value, at: key) }
            return try NetworkSettings(config: config)
        }
        #expect(try settings([:]).ipnsRepublishPeriod == 4 * 3600)
        #expect(try settings(["Ipns.RepublishPeriod": .string("")]).ipnsRepublishPeriod == 4 * 3600)
        #expect(try settings(["Ipns.RepublishPeriod": .string("30m")]).ipnsRepublishPeriod == 1800)
        #expect(try settings(["Ipns.RepublishPeriod": .string("0")]).ipnsRepublishPeriod == 0)
        #expect(throws: NodeError.self) { try settings(["Ipns.RepublishPeriod": .string("soon")]) }
    }

    @Test func ipnsPathParts() {
        #expect(ContentPath.ipnsParts("/ipns/k51abc/a/b")! == ("k51abc", "/a/b"))
        #expect(ContentPath.ipnsParts("/ipns/k51abc")! == ("k51abc", ""))
        #expect(ContentPath.ipnsParts("/ipfs/bafy") == nil)
        #expect(ContentPath.ipnsParts("/ipns/") == nil)
        #expect(throws: ContentPathError.unsupportedNamespace("ipns")) { try ContentPath("/ipns/k51abc") }
    }
}
