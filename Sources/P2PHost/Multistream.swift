import Multiformats
import P2PCore

/// Failures of multistream-select 1.0 negotiation.
public enum MultistreamError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The first message was not `/multistream/1.0.0`.
    case badHeader(received: String)
    /// A message was not newline-terminated UTF-8 text.
    case malformedMessage(reason: String)
    /// The remote answered something that is neither our proposal nor `na`.
    case unexpectedMessage(expected: String, received: String)
    /// The remote supports none of the proposed protocols.
    case noCommonProtocol(proposed: [ProtocolID])
    /// The remote made more proposals than we accept.
    case tooManyProposals(limit: Int)
    /// The stream ended during negotiation.
    case endOfStream(state: String)

    public var description: String {
        switch self {
        case .badHeader(let received): return "multistream: bad header \(received.debugDescription)"
        case .malformedMessage(let reason): return "multistream: malformed message: \(reason)"
        case .unexpectedMessage(let expected, let received):
            return "multistream: expected \(expected.debugDescription), received \(received.debugDescription)"
        case .noCommonProtocol(let proposed):
            return "multistream: the remote supports none of \(proposed.map(\.rawValue))"
        case .tooManyProposals(let limit): return "multistream: more than \(limit) proposals"
        case .endOfStream(let state): return "multistream: stream ended while \(state)"
        }
    }
}

/// The pure multistream-select 1.0 state machine (no I/O): feed it the text of each received
/// message (without the trailing newline) and perform the returned actions.
///
/// The initiator pipelines the header and its first proposal; the responder sends its header at once.
public struct MultistreamStateMachine: Sendable {
    /// What to do after an event.
    public enum Action: Sendable, Equatable {
        /// Write these bytes (already framed), then keep reading.
        case send([UInt8])
        /// Write these bytes (possibly empty), then the negotiation is over: `protocolID` was agreed.
        case agreed(ProtocolID, send: [UInt8])
        /// Keep reading.
        case wait
        /// Negotiation failed.
        case fail(MultistreamError)
    }

    private enum State: Sendable {
        case initiatorAwaitingHeader(index: Int)
        case initiatorAwaitingAnswer(index: Int)
        case responderAwaitingHeader
        case responderAwaitingProposal(count: Int)
        case done
    }

    /// Most proposals a responder answers before giving up.
    public static let maxProposals = 64

    private let proposals: [ProtocolID]
    private let supported: [ProtocolID]
    private var state: State

    /// A dialer proposing `protocols` in order of preference.
    public static func initiator(protocols: [ProtocolID]) -> MultistreamStateMachine {
        MultistreamStateMachine(proposals: protocols, supported: [], state: .initiatorAwaitingHeader(index: 0))
    }

    /// A listener accepting any of `supported`.
    public static func responder(supported: [ProtocolID]) -> MultistreamStateMachine {
        MultistreamStateMachine(proposals: [], supported: supported, state: .responderAwaitingHeader)
    }

    private init(proposals: [ProtocolID], supported: [ProtocolID], state: State) {
        self.proposals = proposals
        self.supported = supported
        self.state = state
    }

    /// The bytes to send first: the header (and, for the initiator, the first proposal).
    public func start() -> Action {
        switch state {
        case .initiatorAwaitingHeader:
            guard let first = proposals.first else { return .fail(.noCommonProtocol(proposed: [])) }
            return .send(Self.encode(ProtocolID.multistream.rawValue) + Self.encode(first.rawValue))
        case .responderAwaitingHeader:
            return .send(Self.encode(ProtocolID.multistream.rawValue))
        default:
            return .wait
        }
    }

    /// A message arrived (text without the newline).
    public mutating func receive(_ message: String) -> Action {
        switch state {
        case .initiatorAwaitingHeader(let index):
            guard message == ProtocolID.multistream.rawValue else {
                state = .done
                return .fail(.badHeader(received: message))
            }
            state = .initiatorAwaitingAnswer(index: index)
            return .wait
        case .initiatorAwaitingAnswer(let index):
            let proposal = proposals[index]
            if message == proposal.rawValue {
                state = .done
                return .agreed(proposal, send: [])
            }
            guard message == "na" else {
                state = .done
                return .fail(.unexpectedMessage(expected: proposal.rawValue, received: message))
            }
            let next = index + 1
            guard next < proposals.count else {
                state = .done
                return .fail(.noCommonProtocol(proposed: proposals))
            }
            state = .initiatorAwaitingAnswer(index: next)
            return .send(Self.encode(proposals[next].rawValue))
        case .responderAwaitingHeader:
            guard message == ProtocolID.multistream.rawValue else {
                state = .done
                return .fail(.badHeader(received: message))
            }
            state = .responderAwaitingProposal(count: 0)
            return .wait
        case .responderAwaitingProposal(let count):
            guard count < Self.maxProposals else {
                state = .done
                return .fail(.tooManyProposals(limit: Self.maxProposals))
            }
            if message == "ls" {
                state = .responderAwaitingProposal(count: count + 1)
                return .send(Self.encodeList(supported))
            }
            if let match = supported.first(where: { $0.rawValue == message }) {
                state = .done
                return .agreed(match, send: Self.encode(message))
            }
            state = .responderAwaitingProposal(count: count + 1)
            return .send(Self.encode("na"))
        case .done:
            return .fail(.unexpectedMessage(expected: "nothing", received: message))
        }
    }

    /// One multistream message: uvarint(length) ‖ text ‖ "\n".
    public static func encode(_ text: String) -> [UInt8] {
        var body = Array(text.utf8)
        body.append(0x0a)
        return Varint.encode(UInt64(body.count)) + body
    }

    /// The answer to `ls`: one message whose body is the concatenation of one message per protocol
    /// (go-multistream's format).
    public static func encodeList(_ protocols: [ProtocolID]) -> [UInt8] {
        var inner: [UInt8] = []
        for p in protocols { inner += encode(p.rawValue) }
        inner.append(0x0a)
        return Varint.encode(UInt64(inner.count)) + inner
    }

    /// Decodes a message body (the bytes after the length prefix) into its text.
    public static func decode(_ body: [UInt8]) throws(MultistreamError) -> String {
        guard body.last == 0x0a else { throw .malformedMessage(reason: "missing trailing newline") }
        guard let text = String(validating: body.dropLast(), as: UTF8.self) else {
            throw .malformedMessage(reason: "not UTF-8")
        }
        return text
    }
}

/// multistream-select 1.0 over a `ByteStream`.
public enum Multistream {
    /// Largest negotiation message accepted (protocol names are short; `ls` answers are read separately).
    public static let messageLimit = 1024
    /// Largest `ls` answer accepted.
    public static let listLimit = 64 * 1024

    /// Proposes `protocols` in order; returns the agreed one and the stream positioned after the
    /// negotiation (bytes the remote sent right behind its answer are replayed).
    public static func negotiateOutbound(
        _ stream: any ByteStream, protocols: [ProtocolID]
    ) async throws -> (ProtocolID, any ByteStream) {
        try await run(stream, machine: .initiator(protocols: protocols))
    }

    /// Answers the remote's proposals with `supported`; returns the agreed protocol and the stream
    /// positioned after the negotiation (pipelined application bytes are replayed).
    public static func negotiateInbound(
        _ stream: any ByteStream, supported: [ProtocolID]
    ) async throws -> (ProtocolID, any ByteStream) {
        try await run(stream, machine: .responder(supported: supported))
    }

    /// Asks the remote for the protocols it supports (`ls`); the stream stays in negotiation.
    public static func listProtocols(_ stream: any ByteStream) async throws -> [ProtocolID] {
        try await stream.write(MultistreamStateMachine.encode(ProtocolID.multistream.rawValue) + MultistreamStateMachine.encode("ls"))
        let reader = StreamReader(stream)
        let header = try await readMessage(reader, limit: messageLimit, state: "reading the header")
        guard header == ProtocolID.multistream.rawValue else { throw MultistreamError.badHeader(received: header) }
        guard let body = try await reader.readLengthPrefixed(maxLength: listLimit, what: "multistream ls answer") else {
            throw MultistreamError.endOfStream(state: "reading the ls answer")
        }
        guard body.last == 0x0a else { throw MultistreamError.malformedMessage(reason: "ls answer without newline") }
        let inner = StreamReader(MemoryReplayStream(Array(body.dropLast())))
        var result: [ProtocolID] = []
        while let item = try await inner.readLengthPrefixed(maxLength: messageLimit, what: "ls entry") {
            result.append(ProtocolID(try MultistreamStateMachine.decode(item)))
        }
        return result
    }

    private static func run(
        _ stream: any ByteStream, machine initial: MultistreamStateMachine
    ) async throws -> (ProtocolID, any ByteStream) {
        var machine = initial
        let reader = StreamReader(stream)
        var action = machine.start()
        while true {
            switch action {
            case .send(let bytes):
                try await stream.write(bytes)
            case .agreed(let proto, let bytes):
                if !bytes.isEmpty { try await stream.write(bytes) }
                return (proto, reader.remainingStream())
            case .wait:
                break
            case .fail(let error):
                throw error
            }
            let message = try await readMessage(reader, limit: messageLimit, state: "negotiating")
            action = machine.receive(message)
        }
    }

    private static func readMessage(_ reader: StreamReader, limit: Int, state: String) async throws -> String {
        guard let body = try await reader.readLengthPrefixed(maxLength: limit, what: "multistream message") else {
            throw MultistreamError.endOfStream(state: state)
        }
        return try MultistreamStateMachine.decode(body)
    }
}

/// A read-only stream over fixed bytes (to parse nested messages with `StreamReader`).
final class MemoryReplayStream: ByteStream, @unchecked Sendable {
    private let lock = Mutex()
    private var bytes: [UInt8]?

    init(_ bytes: [UInt8]) { self.bytes = bytes.isEmpty ? nil : bytes }

    func read() async throws -> [UInt8]? { lock.withLock { defer { bytes = nil }; return bytes } }
    func write(_ bytes: [UInt8]) async throws { throw StreamError.closed }
    func closeWrite() async throws {}
    func close() async {}
    func reset() async {}
}
