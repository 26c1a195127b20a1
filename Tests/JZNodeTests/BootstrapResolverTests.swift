import Foundation
import Logging
import Multiformats
import P2PCore
import Testing
@testable import JZNode
import TestSupport

/// The public bootstrap peers (as in `bootstrap.peers`).
private let peerA = "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"
private let peerB = "QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa"
private let peerC = "QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb"
private let peerD = "QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt"

/// A fake DNS: TXT strings by name; a name that is absent is NXDOMAIN. Records the names asked.
private final class FakeDNS: @unchecked Sendable {
    private let table: [String: [String]]
    private let lock = Mutex()
    private var asked: [String] = []

    init(_ table: [String: [String]]) { self.table = table }

    var queries: [String] { lock.withLock { asked } }

    func lookup(_ name: String) throws -> [String] {
        lock.withLock { asked.append(name) }
        guard let strings = table[name] else { throw DNSLookupError.noSuchDomain }
        return strings
    }

    /// The shape of bootstrap.libp2p.io: a top-level name pointing at one host name per peer,
    /// each host listing that peer's IPv4, IPv6 and DNS addresses (documentation addresses).
    static func bootstrapLibp2p() -> FakeDNS {
        let hosts = [(peerA, "sjc-1"), (peerB, "am6"), (peerC, "ny5"), (peerD, "sg1")]
        var table = ["_dnsaddr.bootstrap.libp2p.io": hosts.map { "dnsaddr=/dnsaddr/\($1).bootstrap.libp2p.io/p2p/\($0)" }]
        for (i, (peer, host)) in hosts.enumerated() {
            table["_dnsaddr.\(host).bootstrap.libp2p.io"] = [
                "dnsaddr=/ip4/192.0.2.\(i + 1)/tcp/4001/p2p/\(peer)",
                "dnsaddr=/ip4/192.0.2.\(i + 1)/udp/4001/quic-v1/p2p/\(peer)",
                "dnsaddr=/ip6/2001:db8::\(i + 1)/tcp/4001/p2p/\(peer)",
                "dnsaddr=/dns4/\(host).bootstrap.libp2p.io/tcp/443/wss/p2p/\(peer)",
            ]
        }
        return FakeDNS(table)
    }
}

/// Collects log lines (level and message) for checking.
private final class LogLines: @unchecked Sendable {
    private let lock = Mutex()
    private var lines: [(Logger.Level, String)] = []

    func append(_ level: Logger.Level, _ message: String) { lock.withLock { lines.append((level, message)) } }

    /// The messages logged at `level`.
    func messages(at level: Logger.Level) -> [String] {
        lock.withLock { lines.filter { $0.0 == level }.map(\.1) }
    }

    var logger: Logger {
        var logger = Logger(label: "bootstrap-resolver-test") { _ in Handler(lines: self) }
        logger.logLevel = .debug
        return logger
    }

    private struct Handler: LogHandler {
        let lines: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) { lines.append(event.level, "\(event.message)") }
    }
}

private func addrs(_ strings: [String]) throws -> [Multiaddr] {
    try strings.map { try Multiaddr($0) }
}

/// The fake answers at once, but runs on the shared blocking pool, which other suites may keep
/// busy for seconds: the bound is generous so only a real hang fails.
private func resolver(_ dns: FakeDNS, _ log: LogLines = LogLines(), timeout: Duration = .seconds(60)) -> BootstrapResolver {
    BootstrapResolver(logger: log.logger, timeout: timeout, lookupTXT: { try dns.lookup($0) })
}

@Suite("BootstrapResolver", .onBlockingPool)
struct BootstrapResolverTests {
    @Test func defaultBootstrapListResolvesThroughNestedDnsaddr() async throws {
        let dns = FakeDNS.bootstrapLibp2p()
        let list = try addrs(BootstrapList.defaultPeers)
        let resolved = await resolver(dns).resolve(list)

        var expected: [String] = []
        for (i, peer) in [peerA, peerB, peerC, peerD].enumerated() {
            let host = ["sjc-1", "am6", "ny5", "sg1"][i]
            expected += [
                "/ip4/192.0.2.\(i + 1)/tcp/4001/p2p/\(peer)",
                "/ip4/192.0.2.\(i + 1)/udp/4001/quic-v1/p2p/\(peer)",
                "/ip6/2001:db8::\(i + 1)/tcp/4001/p2p/\(peer)",
                "/dns4/\(host).bootstrap.libp2p.io/tcp/443/wss/p2p/\(peer)",
            ]
        }
        expected += [
            "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
            "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
        ]
        #expect(resolved.map(\.description) == expected)
        // The top-level name is asked once for the four entries; each host once.
        #expect(dns.queries.filter { $0 == "_dnsaddr.bootstrap.libp2p.io" }.count == 1)
        #expect(dns.queries.count == 5)
    }

    @Test func keepsOnlyTheEntrysPeer() async throws {
        let dns = FakeDNS([
            "_dnsaddr.example.org": [
                "dnsaddr=/ip4/192.0.2.1/tcp/4001/p2p/\(peerA)",
                "dnsaddr=/ip4/192.0.2.2/tcp/4001/p2p/\(peerB)",
                "dnsaddr=/ip4/192.0.2.3/tcp/4001",
                "dnsaddr=/ip6/2001:db8::1/tcp/4001/ipfs/\(peerA)",
            ],
        ])
        let one = await resolver(dns).resolve(try addrs(["/dnsaddr/example.org/p2p/\(peerA)"]))
        #expect(one.map(\.description) == [
            "/ip4/192.0.2.1/tcp/4001/p2p/\(peerA)", "/ip6/2001:db8::1/tcp/4001/p2p/\(peerA)",
        ])
        // Without /p2p/ in the entry every address is kept.
        let all = await resolver(dns).resolve(try addrs(["/dnsaddr/example.org"]))
        #expect(all.count == 4)
        // A peer the records do not name: nothing, and one info line saying so.
        let log = LogLines()
        let none = await resolver(dns, log).resolve(try addrs(["/dnsaddr/example.org/p2p/\(peerC)"]))
        #expect(none.isEmpty)
        #expect(log.messages(at: .info) == [
            "bootstrap: cannot resolve /dnsaddr/example.org/p2p/\(peerC) (DNS TXT _dnsaddr.example.org: no usable dnsaddr record for this peer); skipping it",
        ])
    }

    @Test func aLoopOfNamesTerminates() async throws {
        let dns = FakeDNS([
            "_dnsaddr.a.example": ["dnsaddr=/dnsaddr/b.example", "dnsaddr=/ip4/192.0.2.1/tcp/1"],
            "_dnsaddr.b.example": ["dnsaddr=/dnsaddr/a.example", "dnsaddr=/ip4/192.0.2.2/tcp/2"],
        ])
        let resolved = await resolver(dns).resolve(try addrs(["/dnsaddr/a.example"]))
        #expect(resolved.map(\.description) == ["/ip4/192.0.2.2/tcp/2", "/ip4/192.0.2.1/tcp/1"])
        #expect(dns.queries == ["_dnsaddr.a.example", "_dnsaddr.b.example"])
    }

    @Test func nestingDeeperThanTheBoundIsNotFollowed() async throws {
        // d1 -> d2 -> ... -> d6, and only d6 names an address.
        var table: [String: [String]] = [:]
        for i in 1...5 { table["_dnsaddr.d\(i).example"] = ["dnsaddr=/dnsaddr/d\(i + 1).example"] }
        table["_dnsaddr.d6.example"] = ["dnsaddr=/ip4/192.0.2.6/tcp/6"]
        let dns = FakeDNS(table)
        let log = LogLines()
        let resolved = await resolver(dns, log).resolve(try addrs(["/dnsaddr/d1.example", "/ip4/192.0.2.9/tcp/9"]))
        #expect(resolved.map(\.description) == ["/ip4/192.0.2.9/tcp/9"])
        #expect(dns.queries.count == BootstrapResolver.maxDepth)
        #expect(log.messages(at: .info) == [
            "bootstrap: cannot resolve /dnsaddr/d1.example (DNS TXT _dnsaddr.d5.example: more than 4 nested dnsaddr lookups; not followed); skipping it",
        ])
    }

    @Test func oneEntryCausesABoundedNumberOfLookups() async throws {
        // A wide fan-out: the root names 40 hosts, each naming one address.
        var table = ["_dnsaddr.wide.example": (1...40).map { "dnsaddr=/dnsaddr/h\($0).example" }]
        for i in 1...40 { table["_dnsaddr.h\(i).example"] = ["dnsaddr=/ip4/192.0.2.\(i)/tcp/1"] }
        let dns = FakeDNS(table)
        let resolved = await resolver(dns).resolve(try addrs(["/dnsaddr/wide.example"]))
        #expect(dns.queries.count == BootstrapResolver.maxLookupsPerEntry)
        #expect(resolved.count == BootstrapResolver.maxLookupsPerEntry - 1)
    }

    @Test func malformedRecordsAreIgnored() async throws {
        let dns = FakeDNS([
            "_dnsaddr.example.org": [
                "v=spf1 -all",
                "dnsaddr=",
                "dnsaddr=not-a-multiaddr",
                "dnsaddr=/ip4/999.0.0.1/tcp/4001/p2p/\(peerA)",
                "dnsaddr=/nosuchproto/1/p2p/\(peerA)",
                "DNSADDR=/ip4/192.0.2.7/tcp/4001/p2p/\(peerA)",
                " dnsaddr=/ip4/192.0.2.8/tcp/4001/p2p/\(peerA)",
                "dnsaddr=/ip4/192.0.2.1/tcp/4001/p2p/\(peerA)",
            ],
        ])
        let resolved = await resolver(dns).resolve(try addrs(["/dnsaddr/example.org/p2p/\(peerA)"]))
        #expect(resolved.map(\.description) == ["/ip4/192.0.2.1/tcp/4001/p2p/\(peerA)"])
    }

    @Test func aFailedLookupSkipsTheEntryWithOneInfoLine() async throws {
        let dns = FakeDNS(["_dnsaddr.good.example": ["dnsaddr=/ip4/192.0.2.1/tcp/4001/p2p/\(peerA)"]])
        let log = LogLines()
        let resolved = await resolver(dns, log).resolve(try addrs([
            "/dnsaddr/missing.example/p2p/\(peerA)",
            "/dnsaddr/good.example/p2p/\(peerA)",
        ]))
        #expect(resolved.map(\.description) == ["/ip4/192.0.2.1/tcp/4001/p2p/\(peerA)"])
        #expect(log.messages(at: .info) == [
            "bootstrap: cannot resolve /dnsaddr/missing.example/p2p/\(peerA) (DNS TXT _dnsaddr.missing.example: no such domain (NXDOMAIN)); skipping it",
        ])
    }

    @Test func aNestedFailureKeepsWhatTheOtherNamesGive() async throws {
        let dns = FakeDNS([
            "_dnsaddr.root.example": ["dnsaddr=/dnsaddr/down.example", "dnsaddr=/dnsaddr/up.example"],
            "_dnsaddr.up.example": ["dnsaddr=/ip4/192.0.2.1/tcp/1"],
        ])
        let log = LogLines()
        let resolved = await resolver(dns, log).resolve(try addrs(["/dnsaddr/root.example"]))
        #expect(resolved.map(\.description) == ["/ip4/192.0.2.1/tcp/1"])
        #expect(log.messages(at: .info).isEmpty)
        #expect(log.messages(at: .debug).contains { $0.contains("_dnsaddr.down.example: no such domain") })
    }

    @Test func plainAddressesPassThroughInOrderWithoutDuplicates() async throws {
        let dns = FakeDNS(["_dnsaddr.example.org": ["dnsaddr=/ip4/192.0.2.1/tcp/4001/p2p/\(peerA)"]])
        let resolved = await resolver(dns).resolve(try addrs([
            "/ip4/192.0.2.9/tcp/4001/p2p/\(peerB)",
            "/dnsaddr/example.org/p2p/\(peerA)",
            "/ip4/192.0.2.1/tcp/4001/p2p/\(peerA)",
            "/dns4/example.org/tcp/4001/p2p/\(peerC)",
            "/ip4/192.0.2.9/tcp/4001/p2p/\(peerB)",
        ]))
        #expect(resolved.map(\.description) == [
            "/ip4/192.0.2.9/tcp/4001/p2p/\(peerB)",
            "/ip4/192.0.2.1/tcp/4001/p2p/\(peerA)",
            "/dns4/example.org/tcp/4001/p2p/\(peerC)",
        ])
        // No dnsaddr entry: no lookup at all.
        #expect(await resolver(dns).resolve(try addrs(["/ip4/192.0.2.9/tcp/1"])).count == 1)
        #expect(dns.queries == ["_dnsaddr.example.org"])
    }

    @Test(.caseTimeLimit(minutes: 1))
    func aLookupThatHangsIsAbandonedAtTheTimeout() async throws {
        let log = LogLines()
        let stuck = BootstrapResolver(logger: log.logger, timeout: .milliseconds(200), lookupTXT: { _ in
            Thread.sleep(forTimeInterval: 10)
            return ["dnsaddr=/ip4/192.0.2.1/tcp/1"]
        })
        let start = ContinuousClock.now
        let resolved = await stuck.resolve(try addrs(["/dnsaddr/slow.example", "/ip4/192.0.2.9/tcp/9"]))
        // Abandoned, not waited for: well under the 10 s the lookup takes (the margin absorbs a
        // loaded machine; one run took 3.6 s with a 3 s lookup while other builds ran).
        #expect(ContinuousClock.now - start < TestTime.scaled(.seconds(6)))
        #expect(resolved.map(\.description) == ["/ip4/192.0.2.9/tcp/9"])
        #expect(log.messages(at: .info) == [
            "bootstrap: cannot resolve /dnsaddr/slow.example (DNS TXT _dnsaddr.slow.example: no answer within 200 ms); skipping it",
        ])
    }

    @Test func txtRdataStringsOfOneRecordAreJoined() {
        let rdata: [UInt8] = [3] + Array("abc".utf8) + [0] + [2] + Array("de".utf8)
        #expect(rdata.withUnsafeBufferPointer { SystemDNS.txtString($0) } == "abcde")
        let overrun: [UInt8] = [5] + Array("abc".utf8)
        #expect(overrun.withUnsafeBufferPointer { SystemDNS.txtString($0) } == nil)
    }

    @Test func txtAnswerMessagesAreParsed() throws {
        // A response for `_dnsaddr.a.example` TXT: a CNAME to b.example, then two TXT records
        // of b.example (the second split into two character-strings).
        func name(_ labels: String...) -> [UInt8] {
            labels.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
        }
        func record(_ owner: [UInt8], type: UInt16, _ rdata: [UInt8]) -> [UInt8] {
            owner + [UInt8(type >> 8), UInt8(type & 0xff), 0, 1, 0, 0, 0x0e, 0x10]
                + [UInt8(rdata.count >> 8), UInt8(rdata.count & 0xff)] + rdata
        }
        let query = name("_dnsaddr", "a", "example")
        let target = name("b", "example")
        let first = Array("dnsaddr=/ip4/192.0.2.1/tcp/1".utf8)
        var message: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0]
        message += query + [0, 16, 0, 1]
        message += record(query, type: 5, target)
        message += record(target, type: 16, [UInt8(first.count)] + first)
        message += record(target, type: 16, [8] + Array("dnsaddr=".utf8) + [14] + Array("/ip4/192.0.2.2".utf8))
        #expect(try SystemDNS.parseTXT(message) == ["dnsaddr=/ip4/192.0.2.1/tcp/1", "dnsaddr=/ip4/192.0.2.2"])
        #expect(throws: DNSLookupError.failed(detail: "malformed DNS answer")) {
            try SystemDNS.parseTXT(Array(message.prefix(message.count - 3)))
        }
    }

    /// The real system resolver, on a name that never resolves (RFC 6761 `.invalid`): with or
    /// without a network it answers (an error, normally) and does not hang.
    @Test(.caseTimeLimit(minutes: 1))
    func systemResolverAnswersWithinTheTimeout() async throws {
        // Timed inside the blocking pool, so a wait for a free thread (other suites' work) is
        // not counted against the lookup.
        let (result, took) = await BlockingExecutor.run { () -> (Result<[String], DNSLookupError>, Duration) in
            let start = ContinuousClock.now
            do throws(DNSLookupError) {
                let strings = try SystemDNS.lookupTXT("_dnsaddr.jz-node-test.invalid", timeout: .seconds(2))
                return (.success(strings), ContinuousClock.now - start)
            } catch {
                return (.failure(error), ContinuousClock.now - start)
            }
        }
        // glibc's own retries are sized to the timeout (one server: about 2 s; allow slack).
        #expect(took < TestTime.scaled(.seconds(8)))
        if case .success(let strings) = result { #expect(strings.isEmpty) }

        let log = LogLines()
        let system = BootstrapResolver(logger: log.logger, timeout: .seconds(2))
        let resolvedStart = ContinuousClock.now
        let resolved = await system.resolve(try addrs(["/dnsaddr/jz-node-test.invalid/p2p/\(peerA)"]))
        #expect(ContinuousClock.now - resolvedStart < TestTime.scaled(.seconds(8)))  // 2 s timeout; slack for a loaded machine
        #expect(resolved.isEmpty)
        #expect(log.messages(at: .info).count == 1)
    }
}
