import P2PCore
import P2PCrypto
import Testing
@testable import P2PMux
import TestSupport

private func peer() -> PeerID { PrivateKey.generateEd25519().publicKey.peerID }

@Suite("Pending inbound bytes: per-peer and node-wide budget", .onBlockingPool)
struct InboundBytesBudgetTests {
    @Test func ledgerRefusesAPeerOverItsBoundAndServesAnother() {
        var ledger = InboundBytesLedger(systemLimit: 250, peerLimit: 100)
        let (hostile, other, third) = (peer(), peer(), peer())
        #expect(ledger.reserve(80, for: hostile) == nil)
        #expect(ledger.reserve(30, for: hostile) == .peer(used: 80, limit: 100))
        #expect(ledger.reserve(100, for: other) == nil)
        #expect(ledger.reserve(60, for: third) == nil)
        // 240 pending: the node-wide bound refuses the next 20 bytes whoever sends them.
        #expect(ledger.reserve(20, for: third) == .system(used: 240, limit: 250))
        ledger.release(50, for: other)
        #expect(ledger.reserve(20, for: third) == nil)
        #expect(ledger.systemUsed == 210)
        // Releasing more than held is clamped.
        ledger.release(1_000, for: hostile)
        #expect(ledger.byPeer[hostile] == nil)
        #expect(ledger.systemUsed == 130)
        let report = ledger.report
        #expect(report.system["PendingInboundBytes"] == ResourceUse(used: 130, limit: 250, refused: 1))
        #expect(report.peers[hostile]?["PendingInboundBytes"] == ResourceUse(used: 0, limit: 100, refused: 1))
        #expect(report.peers[third]?["PendingInboundBytes"] == ResourceUse(used: 80, limit: 100, refused: 1))
        #expect(ledger.reserve(0, for: hostile) == nil)
    }

    @Test(arguments: MuxKind.allCases)
    func aPeerOverItsBoundHasItsStreamResetWhileAnotherIsServed(_ kind: MuxKind) async throws {
        let budget = InboundBytesBudget(systemLimit: 0, peerLimit: 300 * 1024)
        let (hostile, other) = (peer(), peer())
        let chunk = 256 * 1024
        func pair(_ id: PeerID) -> (client: any MuxedConnection, server: any MuxedConnection) {
            let (a, b) = MemoryByteStream.pair(capacity: 4 << 20)
            let client = kind.muxer().makeConnection(a, isInitiator: true, logger: quietLogger)
            guard let accounted = kind.muxer() as? any AccountedStreamMuxer else { preconditionFailure("\(kind) keeps no account") }
            let server = accounted.makeConnection(b, isInitiator: false, logger: quietLogger, inboundBytes: budget.account(for: id))
            return (client, server)
        }
        let h = pair(hostile)
        let o = pair(other)
        try await timed {
            // The hostile peer fills one stream the node does not read, then a second one.
            let s1 = try await h.client.openStream()
            try await s1.write(pattern(chunk))
            let s2 = try await h.client.openStream()
            try await s2.write(pattern(chunk))
            guard let r1 = try await h.server.acceptStream(), let r2 = try await h.server.acceptStream() else {
                Issue.record("streams not accepted")
                return
            }
            // The second stream went over the peer's 300 KiB: it is reset, its bytes dropped.
            await #expect(throws: StreamError.self) { _ = try await readAll(r2) }
            #expect(budget.snapshot.byPeer[hostile] == chunk)
            #expect(budget.snapshot.peerRefusals.count(of: hostile) >= 1)
            // Another peer is served in full meanwhile.
            let so = try await o.client.openStream()
            try await so.write(pattern(chunk, seed: 7))
            try await so.closeWrite()
            guard let ro = try await o.server.acceptStream() else {
                Issue.record("other peer's stream not accepted")
                return
            }
            #expect(try await readAll(ro) == pattern(chunk, seed: 7))
            #expect(budget.snapshot.byPeer[other] == nil, "read bytes are released")
            // Reading the held stream releases its bytes; so does the end of the connection.
            _ = try await r1.read()
            #expect((budget.snapshot.byPeer[hostile] ?? 0) < chunk)
        }
        await h.client.close()
        await h.server.close()
        await o.client.close()
        await o.server.close()
        #expect(budget.snapshot.systemUsed == 0)
        #expect(budget.snapshot.byPeer.isEmpty)
    }
}
