import Logging
import P2PCore
import TestSupport
@testable import P2PMux

/// The muxers the conformance suite runs against.
enum MuxKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case yamux, mplex
    var description: String { rawValue }

    /// The keep-alive is stretched with `TestTime` (a pong late by a slowed run is not a dead peer).
    func muxer(_ config: MuxerConfig = .init()) -> any StreamMuxer {
        var config = config
        config.keepAliveInterval = config.keepAliveInterval.map(TestTime.scaled)
        switch self {
        case .yamux: return YamuxMuxer(config: config)
        case .mplex: return MplexMuxer(config: config, receiveTimeout: TestTime.scaled(.seconds(5)))
        }
    }
}

let quietLogger = Logger(label: "p2pmux-tests") { _ in SwiftLogNoOpLogHandler() }

/// Two muxed connections over an in-memory pipe, plus the pipe ends.
struct MuxPair {
    let client: any MuxedConnection
    let server: any MuxedConnection
    let clientRaw: MemoryByteStream
    let serverRaw: MemoryByteStream

    init(_ kind: MuxKind, client clientConfig: MuxerConfig = .init(), server serverConfig: MuxerConfig = .init(),
         serverMuxer: (any StreamMuxer)? = nil) {
        let (a, b) = MemoryByteStream.pair()
        clientRaw = a
        serverRaw = b
        client = kind.muxer(clientConfig).makeConnection(a, isInitiator: true, logger: quietLogger)
        server = (serverMuxer ?? kind.muxer(serverConfig)).makeConnection(b, isInitiator: false, logger: quietLogger)
    }

    func close() async {
        await client.close()
        await server.close()
    }
}

/// Reads until EOF, at most `limit` bytes.
func readAll(_ stream: any ByteStream, limit: Int = 64 << 20) async throws -> [UInt8] {
    var out: [UInt8] = []
    while let chunk = try await stream.read() {
        out.append(contentsOf: chunk)
        if out.count > limit { throw StreamError.messageTooLarge(what: "test data", length: UInt64(out.count), limit: limit) }
    }
    return out
}

/// Deterministic test bytes.
func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 % 251) &+ seed }
}

/// Runs `body` with a deadline (all network-ish tests must finish), stretched by `TestTime.scale`.
func timed<T: Sendable>(_ seconds: Int = 20, _ what: String = "test", _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withTimeout(TestTime.scaled(.seconds(seconds)), what: what, body)
}

/// A thread-safe counter.
final class Counter: @unchecked Sendable {
    private let lock = Mutex()
    private var value = 0
    func add(_ n: Int) { lock.withLock { value += n } }
    var current: Int { lock.withLock { value } }
}
