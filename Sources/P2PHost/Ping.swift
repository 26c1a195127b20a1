import Logging
import P2PCore
import P2PCrypto

/// Why a ping failed.
public enum PingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `peer` echoed different bytes for ping number `index` (0-based).
    case wrongEcho(peer: PeerID, index: Int)
    /// `peer` closed the stream before echoing ping number `index`.
    case streamEnded(peer: PeerID, index: Int)
    /// The requested count is not in 1...limit.
    case invalidCount(Int, limit: Int)

    public var description: String {
        switch self {
        case .wrongEcho(let peer, let index): return "ping \(index) to \(peer): the echo does not match the payload"
        case .streamEnded(let peer, let index): return "ping \(index) to \(peer): the stream ended before the echo"
        case .invalidCount(let count, let limit): return "ping count \(count) is not in 1...\(limit)"
        }
    }
}

/// The libp2p ping protocol (`/ipfs/ping/1.0.0`, libp2p/specs ping/ping.md): 32 random bytes echoed back.
public final class PingService: Sendable {
    /// Bytes per ping.
    public static let payloadSize = 32

    private let host: any P2PHost
    private let logger: Logger
    private let maxEchoesPerStream: Int
    private let idleTimeout: Duration
    private let timeout: Duration

    /// - Parameters:
    ///   - maxEchoesPerStream: the inbound handler resets a stream after this many echoes (and it is
    ///     also the largest `count` `ping` accepts).
    ///   - idleTimeout: the inbound handler resets a stream that sends nothing for this long.
    ///   - timeout: how long `ping` waits for opening the stream and for each echo.
    public init(
        host: any P2PHost, logger: Logger, maxEchoesPerStream: Int = 4096,
        idleTimeout: Duration = .seconds(60), timeout: Duration = .seconds(20)
    ) {
        self.host = host
        self.logger = logger
        self.maxEchoesPerStream = max(1, maxEchoesPerStream)
        self.idleTimeout = idleTimeout
        self.timeout = timeout
    }

    /// Installs the `/ipfs/ping/1.0.0` handler on the host. The host then keeps this service alive
    /// until `unregister()`.
    public func register() async {
        await host.setHandler(.ping) { [self] incoming in await handle(incoming) }
    }

    /// Removes the handler.
    public func unregister() async {
        await host.removeHandler(.ping)
    }

    /// Serves one inbound ping stream: echoes 32-byte payloads until EOF, the echo limit or the idle timeout.
    public func handle(_ incoming: IncomingStream) async {
        let stream = incoming.stream
        let reader = StreamReader(stream)
        var echoes = 0
        do {
            while true {
                let payload = try await withStreamDeadline(
                    idleTimeout, what: "ping from \(incoming.remotePeer)", stream: stream
                ) { () -> [UInt8]? in
                    // A clean EOF at a payload boundary ends the session.
                    guard let first = try await reader.readAvailable(max: Self.payloadSize) else { return nil }
                    if first.count == Self.payloadSize { return first }
                    let rest = try await reader.readExactly(Self.payloadSize - first.count, what: "ping payload")
                    return first + rest
                }
                guard let payload else { break }
                if echoes == maxEchoesPerStream {
                    logger.info(
                        "ping: resetting stream after the echo limit",
                        metadata: ["peer": "\(incoming.remotePeer)", "limit": "\(maxEchoesPerStream)"])
                    await stream.reset()
                    return
                }
                try await stream.write(payload)
                echoes += 1
            }
            await stream.close()
        } catch {
            logger.debug(
                "ping: inbound stream failed",
                metadata: ["peer": "\(incoming.remotePeer)", "echoes": "\(echoes)", "error": "\(error)"])
            await stream.reset()
        }
    }

    /// Pings `peer` `count` times over one stream and returns the round-trip times.
    /// Throws `PingError.wrongEcho` when an echo differs, `PingError.streamEnded` on EOF and
    /// `StreamError.timeout` when an echo takes longer than the timeout.
    public func ping(_ peer: PeerID, count: Int = 1, interval: Duration = .zero) async throws -> [Duration] {
        guard count >= 1, count <= maxEchoesPerStream else {
            throw PingError.invalidCount(count, limit: maxEchoesPerStream)
        }
        let host = self.host
        let opened = try await withTimeout(timeout, what: "opening a ping stream to \(peer)") {
            try await host.newStream(to: peer, protocols: [.ping])
        }
        let stream = opened.stream
        let reader = StreamReader(stream)
        let clock = ContinuousClock()
        var results: [Duration] = []
        results.reserveCapacity(count)
        do {
            for index in 0..<count {
                if index > 0 && interval > .zero { try await Task.sleep(for: interval) }
                var generator = SystemRandomNumberGenerator()
                let payload = (0..<Self.payloadSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let start = clock.now
                let echo = try await withStreamDeadline(
                    timeout, what: "ping \(index) to \(peer)", stream: stream
                ) { () -> [UInt8]? in
                    try await stream.write(payload)
                    do {
                        return try await reader.readExactly(Self.payloadSize, what: "ping echo")
                    } catch let error as StreamError {
                        if case .unexpectedEOF = error { return nil }
                        throw error
                    }
                }
                let elapsed = clock.now - start
                guard let echo else { throw PingError.streamEnded(peer: peer, index: index) }
                guard echo == payload else { throw PingError.wrongEcho(peer: peer, index: index) }
                results.append(elapsed)
            }
        } catch {
            await stream.reset()
            throw error
        }
        await stream.close()
        return results
    }
}
