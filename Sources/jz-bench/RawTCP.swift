// Raw loopback TCP baseline for `jz-bench net`: blocking POSIX sockets on two threads, the same
// sink protocol as the libp2p cases (send N bytes, half-close, read back an 8-byte big-endian count).
import Foundation
import P2PCore
#if canImport(Glibc)
import Glibc
#endif

/// Why a benchmark case failed.
enum BenchError: Error, CustomStringConvertible {
    case socket(String, Int32)
    case shortReply(got: Int)
    case countMismatch(sent: Int, counted: UInt64)
    case noListenAddress
    case sink(String)

    var description: String {
        switch self {
        case .socket(let what, let code): return "\(what): \(String(cString: strerror(code))) (errno \(code))"
        case .shortReply(let got): return "sink closed after \(got) of 8 reply bytes"
        case .countMismatch(let sent, let counted): return "sent \(sent) bytes, sink counted \(counted)"
        case .noListenAddress: return "server host has no listen address"
        case .sink(let what): return "sink: \(what)"
        }
    }
}

private func setTimeouts(_ fd: Int32, seconds: Double) {
    var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
}

private func writeAll(_ fd: Int32, _ base: UnsafeRawPointer, _ count: Int) throws {
    var off = 0
    while off < count {
        let n = Glibc.write(fd, base + off, count - off)
        if n < 0 {
            if errno == EINTR { continue }
            throw BenchError.socket("raw tcp write", errno)
        }
        off += n
    }
}

/// Sends `bytes` over a fresh loopback TCP connection in `chunk`-sized writes; returns seconds from
/// connect to the sink's reply. Runs on dedicated threads (blocking sockets, `timeout` per call).
func rawTCPTransfer(bytes: Int, chunk: Int, timeout: Double) async throws -> Double {
    try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Double, any Error>) in
        let thread = Thread {
            cont.resume(with: Result { try rawTCPBlocking(bytes: bytes, chunk: chunk, timeout: timeout) })
        }
        thread.start()
    }
}

private func rawTCPBlocking(bytes: Int, chunk: Int, timeout: Double) throws -> Double {
    let lfd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard lfd >= 0 else { throw BenchError.socket("socket", errno) }
    defer { close(lfd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(lfd, $0, len) }
    }
    guard bound == 0 else { throw BenchError.socket("bind", errno) }
    guard listen(lfd, 1) == 0 else { throw BenchError.socket("listen", errno) }
    let named = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(lfd, $0, &len) }
    }
    guard named == 0 else { throw BenchError.socket("getsockname", errno) }

    // Sink thread: accept, count until EOF, reply with the count.
    let serverError = Locked<String?>(nil)
    let done = DispatchSemaphore(value: 0)
    let sink = Thread {
        defer { done.signal() }
        let cfd = accept(lfd, nil, nil)
        guard cfd >= 0 else {
            let reason = "accept: errno \(errno)"
            serverError.withLock { $0 = reason }
            return
        }
        defer { close(cfd) }
        setTimeouts(cfd, seconds: timeout)
        let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buf.deallocate() }
        var total: UInt64 = 0
        while true {
            let n = read(cfd, buf, chunk)
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = "sink read: errno \(errno)"
                serverError.withLock { $0 = reason }
                return
            }
            total += UInt64(n)
        }
        var be = total.bigEndian
        do { try writeAll(cfd, &be, 8) } catch { serverError.withLock { $0 = "\(error)" } }
    }
    sink.start()

    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError.socket("socket", errno) }
    defer { close(fd) }
    setTimeouts(fd, seconds: timeout)
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
    defer { buffer.deallocate() }
    memset(buffer, 0x5a, chunk)

    let start = now()
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw BenchError.socket("connect", errno) }
    var left = bytes
    while left > 0 {
        let n = min(left, chunk)
        try writeAll(fd, buffer, n)
        left -= n
    }
    guard shutdown(fd, Int32(SHUT_WR)) == 0 else { throw BenchError.socket("shutdown", errno) }
    var reply = [UInt8](repeating: 0, count: 8)
    var got = 0
    while got < 8 {
        let n = reply.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            return read(fd, base + got, 8 - got)
        }
        if n == 0 { break }
        if n < 0 {
            if errno == EINTR { continue }
            throw BenchError.socket("raw tcp read reply", errno)
        }
        got += n
    }
    let elapsed = now() - start
    done.wait()
    if let e = serverError.withLock({ $0 }) { throw BenchError.sink(e) }
    guard got == 8 else { throw BenchError.shortReply(got: got) }
    let counted = reply.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    guard counted == UInt64(bytes) else { throw BenchError.countMismatch(sent: bytes, counted: counted) }
    return elapsed
}
