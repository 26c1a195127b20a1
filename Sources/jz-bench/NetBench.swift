// `jz-bench net`: libp2p throughput between two LibP2PHosts in one process over loopback TCP,
// against a raw loopback TCP baseline measured in the same run.
import Foundation
import Logging
import Multiformats
import NIOCore
import NIOPosix
import P2PCore
import P2PCrypto
import P2PHost
import P2PMux
import P2PSecurity

/// The sink protocol: the receiver reads until EOF, then writes the byte count (8 bytes, big endian) and closes.
let sinkProtocol: ProtocolID = "/jz-bench/sink/1.0.0"

struct NetOptions {
    var mib = 512
    var streams = 64
    var chunkKiB = 1024
    var timeout = 60.0
    var repeats = 3
    /// yamux initial receive window override (diagnostics; nil: the muxer's default 256 KiB).
    var yamuxWindowKiB: Int?
    var json = false
    var logLevel: Logger.Level = .error
    var cases: [String] = NetCase.defaults.map(\.name)
}

/// One benchmark case.
struct NetCase {
    enum Kind { case rawTCP, layers(security: String?, muxer: String?), host(security: String, muxer: String, streams: Int) }
    let name: String
    let kind: Kind

    static let defaults: [NetCase] = [
        NetCase(name: "tcp-raw", kind: .rawTCP),
        NetCase(name: "tcp-nio", kind: .layers(security: nil, muxer: nil)),
        NetCase(name: "noise+yamux", kind: .host(security: "noise", muxer: "yamux", streams: 1)),
        NetCase(name: "tls+yamux", kind: .host(security: "tls", muxer: "yamux", streams: 1)),
        NetCase(name: "noise+mplex", kind: .host(security: "noise", muxer: "mplex", streams: 1)),
        NetCase(name: "noise+yamux-xN", kind: .host(security: "noise", muxer: "yamux", streams: 0)),
    ]
    static let extras: [NetCase] = [
        NetCase(name: "tls+mplex", kind: .host(security: "tls", muxer: "mplex", streams: 1)),
        NetCase(name: "tls+yamux-xN", kind: .host(security: "tls", muxer: "yamux", streams: 0)),
        // Diagnostics: one layer at a time over jz's TCPTransport, no host or multistream.
        NetCase(name: "noise-only", kind: .layers(security: "noise", muxer: nil)),
        NetCase(name: "tls-only", kind: .layers(security: "tls", muxer: nil)),
        NetCase(name: "yamux-only", kind: .layers(security: nil, muxer: "yamux")),
        NetCase(name: "mplex-only", kind: .layers(security: nil, muxer: "mplex")),
        NetCase(name: "noise+yamux-nohost", kind: .layers(security: "noise", muxer: "yamux")),
    ]
}

struct CaseResult: Encodable {
    var name: String
    var bytes: Int
    var streams: Int
    var seconds: Double?
    var mbPerSecond: Double?
    var percentOfRaw: Double?
    /// Process CPU time during the case (including handshakes) over the timed seconds, in % of one core.
    var cpuPercent: Double?
    var error: String?
}

func netUsage() -> Never {
    let all = (NetCase.defaults + NetCase.extras).map(\.name).joined(separator: ",")
    FileHandle.standardError.write(Data("""
        usage: jz-bench net [--mib N] [--streams N] [--chunk-kib N] [--timeout S] [--repeat N] [--json] [--log LEVEL] [--cases LIST]
          --mib N        bytes per case in MiB (default 512; the parallel case splits it over the streams)
          --streams N    streams of the -xN cases (default 64)
          --chunk-kib N  write size (default 1024)
          --timeout S    per-run limit in seconds (default 60)
          --repeat N     runs per case; the fastest counts (default 3; the machine's other load only slows runs down)
          --yamux-window-kib N  start yamux receive windows at N KiB (256...16384; diagnostics)
          --cases LIST   comma-separated, from: \(all)

        """.utf8))
    exit(2)
}

func parseNetOptions(_ args: [String]) -> NetOptions {
    var o = NetOptions()
    var i = 0
    func value() -> String {
        i += 1
        guard i < args.count else { netUsage() }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--mib": guard let v = Int(value()), v > 0 else { netUsage() }; o.mib = v
        case "--streams": guard let v = Int(value()), v > 0 else { netUsage() }; o.streams = v
        case "--chunk-kib": guard let v = Int(value()), v > 0 else { netUsage() }; o.chunkKiB = v
        case "--timeout": guard let v = Double(value()), v > 0 else { netUsage() }; o.timeout = v
        case "--repeat": guard let v = Int(value()), v > 0 else { netUsage() }; o.repeats = v
        case "--yamux-window-kib": guard let v = Int(value()), v >= 256, v <= 16384 else { netUsage() }; o.yamuxWindowKiB = v
        case "--json": o.json = true
        case "--log": guard let v = Logger.Level(rawValue: value()) else { netUsage() }; o.logLevel = v
        case "--cases": o.cases = value().split(separator: ",").map(String.init)
        default: netUsage()
        }
        i += 1
    }
    return o
}

/// Runs the selected cases and prints the table (or JSON). Returns false when a case failed.
func runNet(_ args: [String]) async -> Bool {
    let options = parseNetOptions(args)
    let level = options.logLevel
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
    }
    let known = NetCase.defaults + NetCase.extras
    var results: [CaseResult] = []
    let bytes = options.mib << 20
    let chunk = [UInt8](repeating: 0x5a, count: options.chunkKiB << 10)
    for name in options.cases {
        guard let c = known.first(where: { $0.name == name }) else {
            results.append(CaseResult(name: name, bytes: 0, streams: 0, error: "unknown case"))
            continue
        }
        var streams = 1
        if case .host(_, _, let n) = c.kind { streams = n == 0 ? options.streams : n }
        var r = CaseResult(name: name.replacingOccurrences(of: "xN", with: "x\(streams)"), bytes: bytes, streams: streams)
        if !options.json {
            FileHandle.standardError.write(Data("running \(r.name) (\(options.mib) MiB)...\n".utf8))
        }
        do {
            for _ in 0..<options.repeats {
                let cpuBefore = cpuSeconds()
                let seconds = try await runCase(c, streams: streams, bytes: bytes, chunk: chunk, options: options)
                guard seconds < (r.seconds ?? .infinity) else { continue }
                r.seconds = seconds
                r.mbPerSecond = Double(bytes) / seconds / 1e6
                r.cpuPercent = (cpuSeconds() - cpuBefore) / seconds * 100
            }
        } catch {
            r.error = "\(error)"
        }
        results.append(r)
    }
    if let raw = results.first(where: { $0.name == "tcp-raw" })?.mbPerSecond {
        for i in results.indices {
            if let m = results[i].mbPerSecond { results[i].percentOfRaw = m / raw * 100 }
        }
    }
    if options.json {
        struct Report: Encodable { var mib: Int; var chunkKiB: Int; var repeats: Int; var results: [CaseResult] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? encoder.encode(Report(mib: options.mib, chunkKiB: options.chunkKiB, repeats: options.repeats, results: results)) {
            print(String(decoding: data, as: UTF8.self))
        }
    } else {
        print(pad("case", 18) + lpad("MiB", 6) + lpad("seconds", 10) + lpad("MB/s", 10) + lpad("% raw", 8) + lpad("CPU%", 7))
        for r in results {
            var line = pad(r.name, 18) + lpad("\(r.bytes >> 20)", 6)
            if let s = r.seconds, let m = r.mbPerSecond {
                line += lpad(String(format: "%.3f", s), 10) + lpad(String(format: "%.1f", m), 10)
                line += lpad(r.percentOfRaw.map { String(format: "%.1f", $0) } ?? "-", 8)
                line += lpad(r.cpuPercent.map { String(format: "%.0f", $0) } ?? "-", 7)
            } else {
                line += "  FAILED: \(r.error ?? "?")"
            }
            print(line)
        }
    }
    return results.allSatisfy { $0.error == nil }
}

/// One timed run of a case.
func runCase(_ c: NetCase, streams: Int, bytes: Int, chunk: [UInt8], options: NetOptions) async throws -> Double {
    switch c.kind {
    case .rawTCP:
        return try await rawTCPTransfer(bytes: bytes, chunk: chunk.count, timeout: options.timeout)
    case .layers(let security, let muxer):
        return try await layersTransfer(security: security, muxer: muxer, bytes: bytes, chunk: chunk, options: options)
    case .host(let security, let muxer, _):
        return try await hostTransfer(
            security: security, muxer: muxer, streams: streams, bytes: bytes, chunk: chunk, options: options)
    }
}

/// `withTimeout` that reports the timeout itself rather than the error the cleanup caused
/// (closing the connection makes the transfer fail with "connection closed" first).
func benchTimeout<T: Sendable>(
    _ seconds: Double, what: String, onTimeout: @escaping @Sendable () async -> Void,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let fired = Locked(false)
    do {
        return try await withTimeout(.seconds(seconds), what: what, onTimeout: {
            fired.withLock { $0 = true }
            await onTimeout()
        }, operation)
    } catch {
        if fired.withLock({ $0 }) { throw StreamError.timeout(what: what, seconds: seconds) }
        throw error
    }
}

/// User + system CPU seconds of the whole process so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }

// MARK: sender and sink

/// Writes `bytes` in `chunk`-sized writes from the reused buffer, half-closes, and checks the sink's count.
func sendAndVerify(_ stream: any ByteStream, bytes: Int, chunk: [UInt8]) async throws {
    var left = bytes
    while left >= chunk.count {
        try await stream.write(chunk)
        left -= chunk.count
    }
    if left > 0 { try await stream.write(Array(chunk[0..<left])) }
    try await stream.closeWrite()
    var reply: [UInt8] = []
    while reply.count < 8, let more = try await stream.read() { reply += more }
    await stream.close()
    guard reply.count >= 8 else { throw BenchError.shortReply(got: reply.count) }
    let counted = reply.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    guard counted == UInt64(bytes) else { throw BenchError.countMismatch(sent: bytes, counted: counted) }
}

/// Reads until EOF, replies with the count, closes.
func sink(_ stream: any ByteStream) async {
    var total: UInt64 = 0
    do {
        while let more = try await stream.read() { total += UInt64(more.count) }
        try await stream.write(withUnsafeBytes(of: total.bigEndian) { Array($0) })
        await stream.close()
    } catch {
        await stream.reset()
    }
}

// MARK: layers without the host: jz TCPTransport (NIO), optionally + security, optionally + muxer

private func makeSecurity(_ name: String, logger: Logger) -> (any SecurityTransport, PeerID) {
    let identity = PrivateKey.generateEd25519()
    let transport: any SecurityTransport = name == "tls"
        ? TLSTransport(identity: identity, logger: logger)
        : NoiseTransport(identity: identity, logger: logger)
    return (transport, identity.publicKey.peerID)
}

func muxerConfig(_ options: NetOptions) -> MuxerConfig {
    var config = MuxerConfig()
    if let kib = options.yamuxWindowKiB { config.initialWindow = UInt32(kib << 10) }
    return config
}

private func makeMuxer(_ name: String, _ config: MuxerConfig) -> any StreamMuxer {
    name == "mplex" ? MplexMuxer(config: config) : YamuxMuxer(config: config)
}

/// Listener side of a layered case: secure, mux, sink the first stream.
private func serveLayers(_ conn: TCPConnection, security: String?, muxer: String?, config: MuxerConfig, logger: Logger) async {
    do {
        var stream: any ByteStream = conn
        if let security {
            let (transport, _) = makeSecurity(security, logger: logger)
            stream = try await transport.secureInbound(stream)
        }
        if let muxer {
            let muxed = makeMuxer(muxer, config).makeConnection(stream, isInitiator: false, logger: logger)
            guard let s = try await muxed.acceptStream() else { return }
            await sink(s)
            await muxed.waitClosed()
        } else {
            await sink(stream)
        }
    } catch {
        logger.error("bench listener: \(error)")
        await conn.reset()
    }
}

/// Times one transfer over TCPTransport (+ security, + muxer when given; handshakes not timed).
func layersTransfer(
    security: String?, muxer: String?, bytes: Int, chunk: [UInt8], options: NetOptions
) async throws -> Double {
    var log = Logger(label: "jz-bench.layers")
    log.logLevel = options.logLevel
    let logger = log, serverLogger = log, config = muxerConfig(options)
    let transport = TCPTransport(logger: logger)
    let listener = try await transport.listen(try Multiaddr("/ip4/127.0.0.1/tcp/0")) { conn in
        Task { await serveLayers(conn, security: security, muxer: muxer, config: config, logger: serverLogger) }
    }
    defer { Task { await listener.close() } }
    let conn = try await transport.dial(listener.address)
    return try await benchTimeout(options.timeout, what: "transfer", onTimeout: { await conn.reset() }) {
        var stream: any ByteStream = conn
        if let security {
            let (client, _) = makeSecurity(security, logger: logger)
            stream = try await client.secureOutbound(stream, remotePeer: nil)
        }
        var muxed: (any MuxedConnection)?
        if let muxer {
            let m = makeMuxer(muxer, muxerConfig(options)).makeConnection(stream, isInitiator: true, logger: logger)
            muxed = m
            stream = try await m.openStream()
        }
        let start = now()
        try await sendAndVerify(stream, bytes: bytes, chunk: chunk)
        let elapsed = now() - start
        await muxed?.close()
        await conn.close()
        return elapsed
    }
}

// MARK: two LibP2PHosts

private func makeHost(security: String, muxer: String, muxConfig: MuxerConfig, logger: Logger) throws -> LibP2PHost {
    let identity = PrivateKey.generateEd25519()
    let sec: any SecurityTransport = security == "tls"
        ? TLSTransport(identity: identity, logger: logger)
        : NoiseTransport(identity: identity, logger: logger)
    let mux = makeMuxer(muxer, muxConfig)
    var config = HostConfig(
        identity: identity, listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")], security: [sec],
        muxers: [mux], logger: logger, peerStore: MemoryPeerStore())
    config.muxerConfig = muxConfig
    return LibP2PHost(config: config)
}

/// Connects two fresh hosts (handshake not timed), then times `streams` parallel sink streams
/// carrying `bytes` in total.
func hostTransfer(
    security: String, muxer: String, streams: Int, bytes: Int, chunk: [UInt8], options: NetOptions
) async throws -> Double {
    var logger = Logger(label: "jz-bench.\(security)+\(muxer)")
    logger.logLevel = options.logLevel
    let server = try makeHost(security: security, muxer: muxer, muxConfig: muxerConfig(options), logger: logger)
    let client = try makeHost(security: security, muxer: muxer, muxConfig: muxerConfig(options), logger: logger)
    await server.setHandler(sinkProtocol) { incoming in await sink(incoming.stream) }
    try await server.start()
    do {
        try await client.start()
    } catch {
        await server.stop()
        throw error
    }
    let stopBoth: @Sendable () async -> Void = {
        await client.stop()
        await server.stop()
    }
    do {
        guard let address = await server.listenAddresses().first else { throw BenchError.noListenAddress }
        let peer = server.localPeer
        let target = address.encapsulate(try Multiaddr("/p2p/\(peer)"))
        let seconds = try await benchTimeout(options.timeout, what: "transfer", onTimeout: stopBoth) {
            try await client.connect(target)
            let start = now()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<streams {
                    let share = bytes / streams + (i == streams - 1 ? bytes % streams : 0)
                    group.addTask {
                        let (stream, _) = try await client.newStream(to: peer, protocols: [sinkProtocol])
                        try await sendAndVerify(stream, bytes: share, chunk: chunk)
                    }
                }
                try await group.waitForAll()
            }
            return now() - start
        }
        await stopBoth()
        return seconds
    } catch {
        await stopBoth()
        throw error
    }
}
