import Foundation
import Multiformats
import P2PCore
import Testing

@testable import KadDHT
import TestSupport

/// Records of the `/seq/` test namespace: any non-empty value; the one with the highest first byte
/// is best (as a higher IPNS sequence is).
struct SequenceValidator: RecordValidator {
    func validate(key: [UInt8], value: [UInt8]) throws {
        guard key.starts(with: Array("/seq/".utf8)), !value.isEmpty else {
            throw RoutingError.invalidRecord(key: "seq", reason: "empty")
        }
    }

    func select(key: [UInt8], values: [[UInt8]]) throws -> Int {
        guard let best = values.indices.max(by: { values[$0][0] < values[$1][0] }) else {
            throw RoutingError.invalidRecord(key: "seq", reason: "none")
        }
        return best
    }
}

@Suite(.onBlockingPool, .caseTimeLimit(minutes: 2))
struct ValueSearchEventTests {
    let key = Array("/seq/name".utf8)

    /// The closest `count` peers to the key (node 0 excluded).
    func closest(_ net: DHTTestNet, _ count: Int) -> [Int] {
        let target = KadKey(key: key)
        return Array(net.hosts.indices.dropFirst()
            .sorted { target.isCloser(KadKey(peer: net.hosts[$0].localPeer), than: KadKey(peer: net.hosts[$1].localPeer)) }
            .prefix(count))
    }

    @Test func convergesEarlyThenCorrectsStalePeersAtTheEnd() async throws {
        let net = DHTTestNet(count: 24, validator: SequenceValidator())
        await net.start()
        defer { Task { await net.stop() } }
        let near = closest(net, 20)
        // Three of the closest hold the new record, four an older one, the rest none.
        for i in near.prefix(3) { try net.dhts[i].putLocal(key: key, value: [2]) }
        for i in near.dropFirst(3).prefix(4) { try net.dhts[i].putLocal(key: key, value: [1]) }
        var events: [ValueSearchEvent] = []
        for await event in net.dhts[0].searchValueEvents(key: key) { events.append(event) }
        let convergedAt = try #require(events.firstIndex(of: .converged([2])))
        guard case .finished(let best, let corrected)? = events.last else {
            Issue.record("no .finished event: \(events)")
            return
        }
        #expect(convergedAt < events.count - 1)
        #expect(best == [2])
        #expect(corrected >= 4)
        // Every peer that answered among the closest now holds the best record.
        let now = Date().timeIntervalSince1970
        let holding = near.filter { net.dhts[$0].values.get(key: key, now: now)?.value == [2] }
        #expect(holding.count >= 3 + corrected - 1)
        for i in near.dropFirst(3).prefix(4) { #expect(net.dhts[i].values.get(key: key, now: now)?.value == [2]) }
        // The asker keeps the best record too.
        #expect(net.dhts[0].values.get(key: key, now: now)?.value == [2])
    }

    @Test func searchValuesStillEndsAtConvergence() async throws {
        let net = DHTTestNet(count: 20, validator: SequenceValidator())
        await net.start()
        defer { Task { await net.stop() } }
        for i in closest(net, 5) { try net.dhts[i].putLocal(key: key, value: [7]) }
        var got: [[UInt8]] = []
        for await value in net.dhts[0].searchValues(key: key) { got.append(value) }
        #expect(got == [[7]])
    }

    @Test func withoutCorrectionNothingIsSent() async throws {
        let net = DHTTestNet(count: 12, validator: SequenceValidator())
        await net.start()
        defer { Task { await net.stop() } }
        let near = closest(net, 3)
        try net.dhts[near[0]].putLocal(key: key, value: [3])
        var last: ValueSearchEvent?
        for await event in net.dhts[0].searchValueEvents(key: key, correctStalePeers: false) { last = event }
        #expect(last == .finished(best: [3], corrected: 0))
        #expect(net.dhts[near[1]].values.get(key: key, now: Date().timeIntervalSince1970) == nil)
    }
}
