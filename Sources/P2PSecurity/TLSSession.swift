import COpenSSL
import Logging
import P2PCore
import P2PCrypto

/// Filled by the certificate verification callback (which runs inside SSL calls, under the session lock).
final class TLSVerifyState: @unchecked Sendable {
    let expectedPeer: PeerID?
    /// The identity key the remote's certificate proved.
    var remoteKey: PublicKey?
    /// Why the remote's certificate was refused.
    var failure: SecurityError?

    init(expectedPeer: PeerID?) { self.expectedPeer = expectedPeer }

    /// Verifies the certificate chain the remote sent; false aborts the handshake with an alert.
    func verify(_ storeContext: OpaquePointer) -> Bool {
        let chain = X509_STORE_CTX_get0_untrusted(storeContext)
        let count = chain.map { Int(OPENSSL_sk_num($0)) } ?? 0
        guard count == 1 else {
            failure = TLSCertificate.failure("the remote sent \(count) certificates; exactly one is allowed")
            return false
        }
        guard let leaf = X509_STORE_CTX_get0_cert(storeContext) else {
            failure = TLSCertificate.failure("the remote sent no certificate")
            return false
        }
        do {
            let key = try TLSCertificate.verify(certificate: leaf)
            let peer = PeerID(publicKey: key)
            if let expectedPeer, expectedPeer != peer {
                failure = .peerIDMismatch(expected: expectedPeer, actual: peer)
                return false
            }
            remoteKey = key
            return true
        } catch {
            failure = error
            return false
        }
    }
}

/// One TLS 1.3 connection: an `SSL` object driven through memory BIOs over a `ByteStream`.
///
/// Every SSL_* call runs under `lock` (an `SSL` is not thread-safe). TLS records produced by any call
/// stay in the write BIO until a flush writes them to `base`; flushes are serialised (one holder at a
/// time) and drain the BIO completely before releasing, so records reach `base` in order. The reader
/// never waits for a flush held by the writer (that could deadlock against a remote doing the same);
/// the writer does wait, which bounds the buffered ciphertext.
final class TLSSession: @unchecked Sendable {
    /// Largest TLS record plaintext.
    static let maxRecordPlaintext = 16384
    /// Plaintext encrypted per lock hold / flush during `write`.
    static let maxWriteBatch = 256 * 1024
    /// Largest plaintext chunk one `read` returns.
    static let maxReadChunk = 256 * 1024
    /// Most bytes accepted from the remote before the handshake completes.
    static let maxHandshakeBytes = 256 * 1024

    private let context: OpaquePointer  // SSL_CTX
    private let ssl: OpaquePointer  // SSL
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    private let verifyState: TLSVerifyState
    private let base: any ByteStream
    private let logger: Logger
    private let lock = Mutex()

    // Guarded by `lock`.
    private var terminalError: (any Error)?
    private var readEOF = false
    private var writeClosed = false
    private var flushing = false
    private var flushWaiters: [CheckedContinuation<Void, Never>] = []

    /// `clientALPN` is what a client offers (tests vary it; libp2p peers offer `libp2p`).
    init(
        identity: PrivateKey, isServer: Bool, expectedPeer: PeerID?, base: any ByteStream, logger: Logger,
        clientALPN: [String] = ["libp2p"]
    ) throws(SecurityError) {
        let (certificate, key) = try TLSCertificate.generate(identity: identity)
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_method()) else {
            throw TLSCertificate.failure("SSL_CTX_new: \(TLSCertificate.errorText())")
        }
        let state = TLSVerifyState(expectedPeer: expectedPeer)
        var ssl: OpaquePointer?
        var readBIO: OpaquePointer?
        var writeBIO: OpaquePointer?
        var biosAttached = false
        do throws(SecurityError) {
            func check(_ ok: Bool, _ what: String) throws(SecurityError) {
                if !ok { throw TLSCertificate.failure("\(what): \(TLSCertificate.errorText())") }
            }
            try check(SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_3_VERSION), nil) == 1, "TLS 1.3 only")
            _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MAX_CERT_LIST, 32 * 1024, nil)
            _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_SESS_CACHE_MODE, Int(SSL_SESS_CACHE_OFF), nil)
            try check(SSL_CTX_set_num_tickets(context, 0) == 1, "disabling session tickets")
            try check(SSL_CTX_use_certificate(context, certificate.pointer) == 1, "SSL_CTX_use_certificate")
            try check(SSL_CTX_use_PrivateKey(context, key.pointer) == 1, "SSL_CTX_use_PrivateKey")
            try check(SSL_CTX_check_private_key(context) == 1, "SSL_CTX_check_private_key")
            let mode = isServer ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
            SSL_CTX_set_verify(context, mode, nil)
            SSL_CTX_set_cert_verify_callback(
                context,
                { storeContext, argument in
                    guard let storeContext, let argument else { return 0 }
                    let state = Unmanaged<TLSVerifyState>.fromOpaque(argument).takeUnretainedValue()
                    if state.verify(storeContext) { return 1 }
                    X509_STORE_CTX_set_error(storeContext, X509_V_ERR_APPLICATION_VERIFICATION)
                    return 0
                }, Unmanaged.passUnretained(state).toOpaque())
            if isServer {
                // Select "libp2p" whenever the client offers it (also beside muxer IDs); refuse otherwise.
                SSL_CTX_set_alpn_select_cb(
                    context,
                    { _, out, outLength, offered, offeredLength, _ in
                        guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_ALERT_FATAL }
                        let libp2p: [UInt8] = [0x6C, 0x69, 0x62, 0x70, 0x32, 0x70]
                        let total = Int(offeredLength)
                        var index = 0
                        while index < total {
                            let length = Int(offered[index])
                            guard index + 1 + length <= total else { break }
                            if length == libp2p.count && (0..<length).allSatisfy({ offered[index + 1 + $0] == libp2p[$0] }) {
                                out.pointee = offered + index + 1
                                outLength.pointee = UInt8(length)
                                return SSL_TLSEXT_ERR_OK
                            }
                            index += 1 + length
                        }
                        return SSL_TLSEXT_ERR_ALERT_FATAL
                    }, nil)
            }
            ssl = SSL_new(context)
            guard let ssl else { throw TLSCertificate.failure("SSL_new: \(TLSCertificate.errorText())") }
            if !isServer {
                let alpn = clientALPN.flatMap { [UInt8(truncatingIfNeeded: $0.utf8.count)] + Array($0.utf8) }
                try check(SSL_set_alpn_protos(ssl, alpn, UInt32(alpn.count)) == 0, "SSL_set_alpn_protos")
            }
            readBIO = BIO_new(BIO_s_mem())
            writeBIO = BIO_new(BIO_s_mem())
            guard let readBIO, let writeBIO else { throw TLSCertificate.failure("BIO_new: \(TLSCertificate.errorText())") }
            SSL_set_bio(ssl, readBIO, writeBIO)  // the SSL owns both BIOs now
            biosAttached = true
            if isServer { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        } catch {
            if !biosAttached {
                if let readBIO { BIO_free(readBIO) }
                if let writeBIO { BIO_free(writeBIO) }
            }
            if let ssl { SSL_free(ssl) }
            SSL_CTX_free(context)
            throw error
        }
        guard let ssl, let readBIO, let writeBIO else {
            SSL_CTX_free(context)
            throw TLSCertificate.failure("incomplete SSL setup")
        }
        self.context = context
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        self.verifyState = state
        self.base = base
        self.logger = logger
        withExtendedLifetime((certificate, key)) {}  // SSL_CTX_use_* took their own references
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    // MARK: Handshake

    /// Drives the handshake to completion; returns the identity key the remote's certificate proved.
    func handshake() async throws -> PublicKey {
        var received = 0
        while true {
            let (done, wantRead, reason) = lock.withLock { () -> (Bool, Bool, String) in
                ERR_clear_error()
                let rc = SSL_do_handshake(ssl)
                if rc == 1 { return (true, false, "") }
                let code = SSL_get_error(ssl, rc)
                if code == SSL_ERROR_WANT_READ { return (false, true, "") }
                return (false, false, "SSL error \(code): \(TLSCertificate.errorText())")
            }
            if done || wantRead {
                try await flush(wait: true)
            } else {
                try? await flush(wait: true)  // deliver the alert, best effort
            }
            if done { break }
            if !wantRead {
                if let failure = lock.withLock({ verifyState.failure }) { throw failure }
                throw TLSCertificate.failure(reason)
            }
            guard let data = try await base.read() else {
                if let failure = lock.withLock({ verifyState.failure }) { throw failure }
                throw TLSCertificate.failure("the remote closed the connection during the handshake (after \(received) bytes)")
            }
            received += data.count
            guard received <= Self.maxHandshakeBytes else {
                throw TLSCertificate.failure("handshake exceeded \(Self.maxHandshakeBytes) bytes")
            }
            lock.withLock { feed(data) }
        }
        guard let key = lock.withLock({ verifyState.remoteKey }) else {
            throw TLSCertificate.failure("the remote presented no verified certificate")
        }
        return key
    }

    /// The ALPN protocol the handshake selected, nil when none.
    var selectedALPN: String? {
        lock.withLock {
            var data: UnsafePointer<UInt8>?
            var length: UInt32 = 0
            SSL_get0_alpn_selected(ssl, &data, &length)
            guard let data, length > 0 else { return nil }
            return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
        }
    }

    // MARK: Data

    func read() async throws -> [UInt8]? {
        while true {
            enum Step { case data([UInt8]), eof, needMore, fatal(any Error) }
            let (step, hasOutput): (Step, Bool) = try lock.withLock {
                if let terminalError { throw terminalError }
                if readEOF { return (.eof, false) }
                let available = Int(BIO_ctrl_pending(readBIO)) + Int(SSL_pending(ssl))
                if available == 0 { return (.needMore, false) }
                let capacity = min(Self.maxReadChunk, available + Self.maxRecordPlaintext + 256)
                var code: Int32 = 0
                let plaintext = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                    count = 0
                    guard let start = buffer.baseAddress else { return }
                    while count < capacity {
                        var n = 0
                        ERR_clear_error()
                        if SSL_read_ex(ssl, start + count, capacity - count, &n) == 1 {
                            count += n
                        } else {
                            code = SSL_get_error(ssl, 0)
                            break
                        }
                    }
                }
                let hasOutput = BIO_ctrl_pending(writeBIO) > 0
                switch code {
                case 0, SSL_ERROR_WANT_READ:
                    return (plaintext.isEmpty ? .needMore : .data(plaintext), hasOutput)
                case SSL_ERROR_ZERO_RETURN:
                    if plaintext.isEmpty { readEOF = true }
                    return (plaintext.isEmpty ? .eof : .data(plaintext), hasOutput)
                default:
                    let error = SecurityError.badFrame(
                        protocolID: TLSCertificate.protocolID,
                        reason: "SSL error \(code) reading a record: \(TLSCertificate.errorText())")
                    terminalError = error
                    return (plaintext.isEmpty ? .fatal(error) : .data(plaintext), hasOutput)
                }
            }
            if hasOutput {
                // Post-handshake messages (key update answers, alerts); never wait for the writer.
                if case .fatal = step { try? await flush(wait: false) } else { try await flush(wait: false) }
            }
            switch step {
            case .data(let bytes): return bytes
            case .eof: return nil
            case .fatal(let error):
                logger.debug("TLS record error; resetting the connection", metadata: ["error": "\(error)"])
                await base.reset()
                throw error
            case .needMore:
                guard let data = try await base.read() else {
                    lock.withLock { readEOF = true }
                    return nil
                }
                lock.withLock { feed(data) }
            }
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        if bytes.isEmpty {
            try lock.withLock { try checkWritable() }
            return
        }
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + Self.maxWriteBatch)
            try lock.withLock { () throws -> Void in
                try checkWritable()
                try bytes.withUnsafeBufferPointer { buffer throws -> Void in
                    guard let start = buffer.baseAddress else { return }
                    var position = offset
                    while position < end {
                        var written = 0
                        ERR_clear_error()
                        guard SSL_write_ex(ssl, start + position, min(Self.maxRecordPlaintext, end - position), &written) == 1 else {
                            let error = SecurityError.badFrame(
                                protocolID: TLSCertificate.protocolID,
                                reason: "SSL error \(SSL_get_error(ssl, 0)) writing a record: \(TLSCertificate.errorText())")
                            terminalError = error
                            throw error
                        }
                        position += written
                    }
                }
            }
            try await flush(wait: true)
            offset = end
        }
    }

    func closeWrite() async throws {
        let send = try lock.withLock { () throws -> Bool in
            if let terminalError { throw terminalError }
            if writeClosed { return false }
            writeClosed = true
            ERR_clear_error()
            _ = SSL_shutdown(ssl)  // queues close_notify; reading goes on
            ERR_clear_error()
            return true
        }
        guard send else { return }
        try await flush(wait: true)
        try await base.closeWrite()
    }

    func close() async {
        try? await closeWrite()
        lock.withLock { readEOF = true }
        await base.close()
    }

    func reset() async {
        lock.withLock { if terminalError == nil { terminalError = StreamError.reset } }
        await base.reset()
    }

    // MARK: Internals (call with `lock` held)

    private func checkWritable() throws {
        if let terminalError { throw terminalError }
        if writeClosed { throw StreamError.closed }
    }

    private func feed(_ data: [UInt8]) {
        guard !data.isEmpty else { return }
        data.withUnsafeBytes { raw in
            // A memory BIO accepts everything (it grows); `data` is at most one base read.
            _ = BIO_write(readBIO, raw.baseAddress, Int32(raw.count))
        }
    }

    private func drainOutput() -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(writeBIO))
        guard pending > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: pending) { buffer, count in
            let n = BIO_read(writeBIO, buffer.baseAddress, Int32(pending))
            count = max(0, Int(n))
        }
    }

    /// Writes everything in the write BIO to `base`. With `wait` false, returns at once when another
    /// task is flushing (it drains our bytes too before it stops).
    private func flush(wait: Bool) async throws {
        while true {
            let acquired: Bool? = lock.withLock {
                if !flushing {
                    flushing = true
                    return true
                }
                return wait ? false : nil
            }
            guard let acquired else { return }
            if acquired { break }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = lock.withLock { () -> Bool in
                    if !flushing { return true }
                    flushWaiters.append(continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        }
        while true {
            let (bytes, waiters) = lock.withLock { () -> ([UInt8], [CheckedContinuation<Void, Never>]) in
                let bytes = drainOutput()
                if !bytes.isEmpty { return (bytes, []) }
                flushing = false
                defer { flushWaiters = [] }
                return ([], flushWaiters)
            }
            if bytes.isEmpty {
                for waiter in waiters { waiter.resume() }
                return
            }
            do {
                try await base.write(bytes)
            } catch {
                let waiters = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
                    flushing = false
                    defer { flushWaiters = [] }
                    return flushWaiters
                }
                for waiter in waiters { waiter.resume() }
                throw error
            }
        }
    }
}
