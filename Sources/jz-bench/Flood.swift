// `jz-bench flood`: one hostile peer against a node, for the hardening tests (issue 15).
//
// It holds, all at once: `--idle` TCP sockets that never say a word, `--connections`
// authenticated connections (Noise + yamux, each fully upgraded) from ONE peer ID, and
// `--streams` yamux streams opened on one of them, each negotiating `/ipfs/ping/1.0.0` and then
// left open. It prints one JSON line with how many of each the node accepted, then holds them
// for `--hold` seconds (while the test checks that the node still serves others), then exits.
import Foundation
import Logging
import Multiformats
import NIOPosix
import P2PCore
import P2PCrypto
import P2PHost
import P2PMux
import P2PSecurity

struct FloodOptions {
    var target = ""
    var idle = 300
    var connections = 1000
    var streams = 10_000
    var hold = 10.0
    var timeout = 60.0
}

func floodUsage() -> Never {
    FileHandle.standardError.write(Data("""
        usage: jz-bench flood --target /ip4/…/tcp/PORT/p2p/ID [--idle N] [--connections N] [--streams N] [--hold S] [--timeout S]
          Holds N idle sockets, N authenticated connections (Noise + yamux, one peer ID) and N
          streams on one connection against the target at once; prints what was accepted as JSON.

        """.utf8))
    exit(2)
}

func parseFlood(_ args: [String]) -> FloodOptions {
    var o = FloodOptions()
    var i = 0
    func value() -> String {
        i += 1
        guard i < args.count else { floodUsage() }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--target": o.target = value()
        case "--idle": guard let v = Int(value()), v >= 0 else { floodUsage() }; o.idle = v
        case "--connections": guard let v = Int(value()), v >= 0 else { floodUsage() }; o.connections = v
        case "--streams": guard let v = Int(value()), v >= 0 else { floodUsage() }; o.streams = v
        case "--hold": guard let v = Double(value()), v >= 0 else { floodUsage() }; o.hold = v
        case "--timeout": guard let v = Double(value()), v > 0 else { floodUsage() }; o.timeout = v
        default: floodUsage()
        }
        i += 1
    }
    if o.target.isEmpty { floodUsage() }
    return o
}

/// Counts what one flood achieved.
actor FloodTally {
    var idleOpen = 0
    var connected = 0
    var refusedConnections = 0
    var streamsNegotiated = 0
    var streamsRefused = 0
    var firstError: [String: String] = [:]

    func note(_ kind: String, _ error: any Error) { if firstError[kind] == nil { firstError[kind] = "\(error)" } }
    func idle() { idleOpen += 1 }
    func connection(_ ok: Bool) { if ok { connected += 1 } else { refusedConnections += 1 } }
    func stream(_ ok: Bool) { if ok { streamsNegotiated += 1 } else { streamsRefused += 1 } }
}

func runFlood(_ o: FloodOptions) async throws {
    var logger = Logger(label: "jz-bench.flood")
    logger.logLevel = .critical
    let target = try Multiaddr(o.target)
    guard let p2p = target.value(for: .p2p), let peer = try? PeerID(p2p.valueString) else {
        throw TCPTransportError.dialFailed(address: o.target, reason: "the target must end in /p2p/<peer ID>")
    }
    let identity = PrivateKey.generateEd25519()  // one peer ID for every connection
    let transport = TCPTransport(group: MultiThreadedEventLoopGroup.singleton, logger: logger)
    let upgrader = Upgrader(
        security: [NoiseTransport(identity: identity, logger: logger)], muxers: [YamuxMuxer()],
        timeout: .seconds(30), logger: logger)
    let tally = FloodTally()
    var idle: [TCPConnection] = []
    var connections: [UpgradedConnection] = []
    var streams: [any MuxedStream] = []
    let started = now()

    // 1. Idle sockets: connect, say nothing.
    for _ in 0..<o.idle {
        do {
            idle.append(try await transport.dial(target, timeout: .seconds(5)))
            await tally.idle()
        } catch {
            await tally.note("idle", error)
        }
    }
    // 2. Authenticated connections from one peer, 32 handshakes at a time.
    var next = 0
    while next < o.connections {
        let batch = min(32, o.connections - next)
        let results = await withTaskGroup(of: UpgradedConnection?.self) { group in
            for _ in 0..<batch {
                group.addTask {
                    do {
                        let raw = try await transport.dial(target, timeout: .seconds(10))
                        return try await upgrader.upgradeOutbound(raw, remotePeer: peer)
                    } catch {
                        await tally.note("connection", error)
                        return nil
                    }
                }
            }
            var out: [UpgradedConnection?] = []
            for await r in group { out.append(r) }
            return out
        }
        for r in results {
            await tally.connection(r != nil)
            if let r { connections.append(r) }
        }
        next += batch
    }
    // 3. Streams on one connection: negotiate ping, then keep the stream open.
    if let first = connections.first(where: { !$0.connection.isClosed }) {
        var opened = 0
        while opened < o.streams && now() - started < o.timeout {
            let batch = min(200, o.streams - opened)
            let got = await withTaskGroup(of: (any MuxedStream)?.self) { group in
                for _ in 0..<batch {
                    group.addTask {
                        do {
                            let stream = try await first.connection.openStream()
                            _ = try await withTimeout(.seconds(10), what: "negotiate") {
                                try await Multistream.negotiateOutbound(stream, protocols: ["/ipfs/ping/1.0.0"])
                            }
                            return stream
                        } catch {
                            await tally.note("stream", error)
                            return nil
                        }
                    }
                }
                var out: [(any MuxedStream)?] = []
                for await s in group { out.append(s) }
                return out
            }
            for s in got {
                await tally.stream(s != nil)
                if let s { streams.append(s) }
            }
            opened += batch
            if first.connection.isClosed { break }
        }
    }
    let stillConnected = connections.filter { !$0.connection.isClosed }.count
    let errors = await tally.firstError
    let summary: [String: Any] = [
        "IdleOpened": await tally.idleOpen,
        "ConnectionsUpgraded": await tally.connected,
        "ConnectionsRefused": await tally.refusedConnections,
        "ConnectionsStillOpen": stillConnected,
        "StreamsNegotiated": await tally.streamsNegotiated,
        "StreamsRefused": await tally.streamsRefused,
        "Seconds": ((now() - started) * 1000).rounded() / 1000,
        "FirstErrors": errors,
    ]
    let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    fflush(nil)
    try await Task.sleep(for: .milliseconds(Int64(o.hold * 1000)))
    for s in streams { await s.reset() }
    for c in connections { await c.connection.close() }
    for s in idle { await s.reset() }
}
