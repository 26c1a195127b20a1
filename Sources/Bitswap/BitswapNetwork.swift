import Logging
import Multiformats
import P2PCore
import P2PCrypto

/// Bitswap's use of the host: one outbound stream per peer, reused for every message we send
/// (serialised: one message at a time), and a reader on every stream, inbound or outbound — Go
/// answers on a stream of its own, py-libp2p on the one we opened.
final class BitswapNetwork: @unchecked Sendable {
    typealias Receiver = @Sendable (_ message: BitswapMessage, _ peer: PeerID, _ protocolID: ProtocolID) async -> Void
    typealias Misbehaviour = @Sendable (_ peer: PeerID, _ reason: String) async -> Void

    let host: any P2PHost
    private let logger: Logger
    private let writeTimeout: Duration
    private let lock = Mutex()
    private var senders: [PeerID: PeerSender] = [:]
    private var receiver: Receiver?
    private var misbehaviour: Misbehaviour?
    private var stopped = false

    init(host: any P2PHost, logger: Logger, writeTimeout: Duration = .seconds(30)) {
        self.host = host
        self.logger = logger
        self.writeTimeout = writeTimeout
    }

    /// Registers the stream handlers for every bitswap version.
    /// `misbehaved` hears of peers that send what cannot be parsed.
    func start(receiver: @escaping Receiver, misbehaved: @escaping Misbehaviour) async {
        lock.withLock {
            self.receiver = receiver
            self.misbehaviour = misbehaved
        }
        for protocolID in BitswapProtocol.all {
            await host.setHandler(protocolID) { [weak self] incoming in
                guard let self else {
                    await incoming.stream.reset()
                    return
                }
                await self.readMessages(
                    from: incoming.stream, peer: incoming.remotePeer, protocolID: incoming.protocolID, ours: false)
            }
        }
    }

    /// Removes the handlers and closes our outbound streams.
    func stop() async {
        for protocolID in BitswapProtocol.all { await host.removeHandler(protocolID) }
        let all: [PeerSender] = lock.withLock {
            stopped = true
            receiver = nil
            defer { senders.removeAll() }
            return Array(senders.values)
        }
        for sender in all { await sender.close() }
    }

    /// Sends `message` to `peer`, opening (or re-opening once) our stream to it.
    func send(_ message: BitswapMessage, to peer: PeerID) async throws(BitswapError) {
        guard let sender = sender(for: peer) else { throw .stopped }
        try await sender.send(message)
    }

    /// The protocol our stream to `peer` negotiated, if one is open.
    func negotiatedProtocol(with peer: PeerID) async -> ProtocolID? {
        guard let sender = lock.withLock({ senders[peer] }) else { return nil }
        return await sender.protocolID
    }

    /// Forgets our stream to a peer whose connection went away.
    func peerDisconnected(_ peer: PeerID) async {
        let sender = lock.withLock { senders.removeValue(forKey: peer) }
        await sender?.close()
    }

    private func sender(for peer: PeerID) -> PeerSender? {
        lock.withLock {
            if stopped { return nil }
            if let existing = senders[peer] { return existing }
            let created = PeerSender(peer: peer, network: self, logger: logger, writeTimeout: writeTimeout)
            senders[peer] = created
            return created
        }
    }

    /// Reads length-prefixed messages until EOF or an error, handing each to the receiver. At EOF
    /// an inbound stream is closed; our own outbound one stays open for writing.
    func readMessages(from stream: any ByteStream, peer: PeerID, protocolID: ProtocolID, ours: Bool) async {
        let reader = StreamReader(stream)
        while true {
            let bytes: [UInt8]?
            do {
                bytes = try await reader.readLengthPrefixed(maxLength: BitswapProtocol.maxMessageSize, what: "bitswap message")
            } catch {
                await stream.reset()
                if case StreamError.reset = error {
                    logger.trace("bitswap stream from \(peer) reset")
                } else if case StreamError.messageTooLarge = error {
                    logger.warning("bitswap: \(peer) sent an oversized message, closing the stream: \(error)")
                    if let misbehaviour = lock.withLock({ misbehaviour }) { await misbehaviour(peer, "\(error)") }
                } else {
                    logger.debug("bitswap stream from \(peer) failed: \(error)")
                }
                return
            }
            guard let bytes else {
                if !ours { await stream.close() }
                return
            }
            let message: BitswapMessage
            do {
                message = try BitswapMessage.decode(bytes)
            } catch {
                logger.warning("bad bitswap message from \(peer) (\(protocolID)), closing the stream: \(error)")
                await stream.reset()
                if let misbehaviour = lock.withLock({ misbehaviour }) { await misbehaviour(peer, "sent a malformed message: \(error)") }
                return
            }
            guard let receiver = lock.withLock({ receiver }) else {
                await stream.reset()
                return
            }
            await receiver(message, peer, protocolID)
        }
    }
}

/// Our outbound stream to one peer. Messages are written one at a time (FIFO); a failed write
/// re-opens the stream once before giving up.
actor PeerSender {
    let peer: PeerID
    private weak var network: BitswapNetwork?
    private let logger: Logger
    private let writeTimeout: Duration
    private let gate = AsyncGate()
    private var stream: (any ByteStream)?
    private(set) var protocolID: ProtocolID?
    private var closed = false

    init(peer: PeerID, network: BitswapNetwork, logger: Logger, writeTimeout: Duration) {
        self.peer = peer
        self.network = network
        self.logger = logger
        self.writeTimeout = writeTimeout
    }

    func send(_ message: BitswapMessage) async throws(BitswapError) {
        await gate.acquire()
        defer { gate.release() }
        var lastError = ""
        for attempt in 0..<2 {
            guard !closed else { throw .stopped }
            let (stream, protocolID): (any ByteStream, ProtocolID)
            do {
                (stream, protocolID) = try await openIfNeeded()
            } catch {
                throw .cannotReach(peer: peer, reason: "\(error)")
            }
            let frame = message.frame(for: protocolID)
            do {
                try await withTimeout(writeTimeout, what: "bitswap write to \(peer)", onTimeout: { await stream.reset() }) {
                    try await stream.write(frame)
                }
                return
            } catch {
                lastError = "\(error)"
                logger.debug("bitswap write to \(peer) failed (attempt \(attempt + 1)): \(error)")
                await stream.reset()
                if self.stream === stream { self.stream = nil }
            }
        }
        throw .cannotReach(peer: peer, reason: lastError)
    }

    private func openIfNeeded() async throws -> (any ByteStream, ProtocolID) {
        if let stream, let protocolID { return (stream, protocolID) }
        guard let network else { throw BitswapError.stopped }
        let (stream, protocolID) = try await network.host.newStream(to: peer, protocols: BitswapProtocol.all)
        self.stream = stream
        self.protocolID = protocolID
        // Some peers (py-libp2p) answer on the stream we opened: read it too.
        let peer = self.peer
        Task { [weak network] in
            guard let network else { return }
            await network.readMessages(from: stream, peer: peer, protocolID: protocolID, ours: true)
        }
        return (stream, protocolID)
    }

    func close() async {
        closed = true
        if let stream { await stream.close() }
        stream = nil
    }
}
