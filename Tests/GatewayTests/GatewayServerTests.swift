import BlockStore
import Foundation
import Logging
import Multiformats
import NIOPosix
import Testing
import UnixFS

@testable import Gateway

#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// Sends `requests` on one TCP connection and reads until the server closes it (the last
/// request asks for `Connection: close`); bounded by a 10 s receive timeout.
private func exchange(port: Int, _ requests: String) throws -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #expect(fd >= 0)
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    #expect(connected == 0)
    let bytes = Array(requests.utf8)
    #expect(send(fd, bytes, bytes.count, 0) == bytes.count)
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return out
}

@Suite(.onBlockingPool) struct GatewayServerTests {
    @Test func keepAliveConnectionServesSeveralRequestsAndStreams() async throws {
        let big = deterministicBytes(3 << 20, seed: 7)
        let (root, store) = try importTree(.directory(name: "d", children: [
            .file(name: "big.bin", contents: big), .file(name: "a.txt", contents: Array("a\n".utf8)),
        ]), chunk: 262_144)
        let gateway = makeGateway(store)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = GatewayServer(group: group, gateway: gateway, logger: Logger(label: "gateway-test"))
        let port = try await server.start(host: "127.0.0.1", port: 0)
        let requests = "GET /ipfs/\(root)/a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
            + "HEAD /ipfs/\(root)/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /ipfs/\(root)/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let reply = try await Task.detached { try exchange(port: port, requests) }.value
        let text = String(decoding: reply.prefix(4096), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 4)  // three answers
        #expect(reply.count > big.count)
        #expect(Array(reply.suffix(big.count)) == big)
        await server.stop()
        try await group.shutdownGracefully()
    }

    @Test func aTakenPortIsAnErrorNamingTheAddress() async throws {
        let (_, store) = try importTree(.file(name: "a.txt", contents: Array("a\n".utf8)), chunk: 262_144)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let first = GatewayServer(group: group, gateway: makeGateway(store), logger: Logger(label: "gateway-test"))
        let port = try await first.start(host: "127.0.0.1", port: 0)
        let second = GatewayServer(group: group, gateway: makeGateway(store), logger: Logger(label: "gateway-test"))
        do {
            _ = try await second.start(host: "127.0.0.1", port: port)
            Issue.record("a second server bound port \(port)")
        } catch {
            #expect(error.address == "127.0.0.1:\(port)")
            #expect(error.description.contains("already in use"))
        }
        await first.stop()
        try await group.shutdownGracefully()
    }
}
