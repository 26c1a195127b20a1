import Logging
import P2PCore
import P2PCrypto
import P2PSecurity
import TestSupport

/// Shared helpers of the Noise and conformance tests (prefixed to stay clear of other suites' helpers).
enum NoiseTestSupport {
    /// A logger that drops everything unless `JZ_TEST_LOG` is set.
    static func logger(_ label: String = "noise-test") -> Logger {
        var logger = Logger(label: label) { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        return logger
    }

    /// Deterministic, non-repeating-looking test data.
    static func pattern(_ count: Int, seed: UInt32 = 1) -> [UInt8] {
        var state = seed | 1
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { buffer in
            var i = 0
            while i + 4 <= count {
                state ^= state << 13
                state ^= state >> 17
                state ^= state << 5
                buffer.storeBytes(of: state, toByteOffset: i, as: UInt32.self)
                i += 4
            }
            while i < count {
                buffer[i] = UInt8(truncatingIfNeeded: i)
                i += 1
            }
        }
        return out
    }

    /// Reads until `count` bytes arrived or EOF.
    static func readAll(_ stream: any ByteStream, count: Int? = nil) async throws -> [UInt8] {
        var out: [UInt8] = []
        while count.map({ out.count < $0 }) ?? true {
            guard let chunk = try await stream.read() else { break }
            out += chunk
        }
        return out
    }

    /// Runs both sides of a handshake over an in-memory pipe.
    static func handshake(
        initiator: any SecurityTransport, responder: any SecurityTransport, expected: PeerID?,
        capacity: Int = 1 << 20
    ) async throws -> (outbound: any SecuredStream, inbound: any SecuredStream) {
        let (a, b) = MemoryByteStream.pair(capacity: capacity)
        return try await withTimeout(TestTime.scaled(.seconds(30)), what: "test handshake", onTimeout: { await a.reset() }) {
            async let inbound = responder.secureInbound(b)
            let outbound: any SecuredStream
            do {
                outbound = try await initiator.secureOutbound(a, remotePeer: expected)
            } catch {
                await a.reset()
                _ = try? await inbound
                throw error
            }
            return (outbound, try await inbound)
        }
    }
}
