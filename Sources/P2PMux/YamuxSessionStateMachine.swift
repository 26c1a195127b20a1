import P2PCore

/// The receive side of one yamux stream's flow control, auto-tuned like go-yamux: the window
/// starts at the protocol's 256 KiB; a window update is due once half of it has been consumed,
/// and when consecutive updates come less than `rttMultiple` round trips apart the window
/// doubles (up to `maxWindow`). Pure: time and RTT are parameters.
public struct YamuxReceiveWindow: Sendable, Equatable {
    /// The current window size (what the remote may have in flight plus what is buffered).
    public private(set) var window: UInt32
    /// The ceiling for auto-tuning.
    public let maxWindow: UInt32
    /// Bytes the remote may still send before it has to wait for an update.
    public private(set) var credit: UInt32
    /// Bytes received and not yet consumed by the reader.
    public private(set) var buffered: Int = 0
    /// Growth happens when updates come less than `rttMultiple` × RTT apart (go-yamux: 4).
    public let rttMultiple: Double
    private var epochStart: Double?

    /// `initialCredit` is what the remote assumes (256 KiB); `window` may be larger, the difference
    /// being granted with the SYN/ACK frame (`initialDelta`).
    public init(window: UInt32, maxWindow: UInt32, initialCredit: UInt32 = YamuxFrame.defaultWindow, rttMultiple: Double = 4) {
        self.window = Swift.max(window, initialCredit)
        self.maxWindow = Swift.max(maxWindow, self.window)
        self.credit = self.window
        self.rttMultiple = rttMultiple
        self.initialDelta = self.window - initialCredit
    }

    /// The extra window to grant with the stream's SYN or ACK.
    public let initialDelta: UInt32

    /// Accounts for `count` received bytes; false when they exceed the window (protocol error).
    public mutating func receive(_ count: Int) -> Bool {
        guard count >= 0, UInt64(count) <= UInt64(credit) else { return false }
        credit -= UInt32(count)
        buffered += count
        return true
    }

    /// Accounts for `count` bytes taken by the reader at time `now` (seconds). Returns the delta
    /// of the window update to send, or nil when less than half the window is outstanding.
    public mutating func consume(_ count: Int, now: Double, rtt: Double?) -> UInt32? {
        buffered = Swift.max(0, buffered - count)
        let outstanding = Int64(window) - Int64(credit) - Int64(buffered)
        guard outstanding > 0, outstanding >= Int64(window / 2) else { return nil }
        if let start = epochStart, let rtt, rtt > 0, now - start < rtt * rttMultiple, window < maxWindow {
            window = window > maxWindow / 2 ? maxWindow : window * 2
        }
        epochStart = now
        let delta = Int64(window) - Int64(credit) - Int64(buffered)
        guard delta > 0 else { return nil }
        credit += UInt32(delta)
        return UInt32(delta)
    }
}

/// The state of one yamux stream inside `YamuxSessionStateMachine`.
public struct YamuxStreamState: Sendable, Equatable {
    public let id: UInt32
    /// True when the remote opened it.
    public let isInbound: Bool
    public var receive: YamuxReceiveWindow
    /// Bytes we may still send.
    public var sendWindow: UInt32 = YamuxFrame.defaultWindow
    /// We sent FIN.
    public var localClosed = false
    /// The remote sent FIN.
    public var remoteClosed = false
}

/// The pure yamux session logic: stream table, limits, flow control, ping and go-away. It turns
/// inbound frames into `Action`s and local requests into frames; the async driver does the I/O.
public struct YamuxSessionStateMachine: Sendable {
    /// What the driver must do after an inbound frame.
    public enum Action: Sendable, Equatable {
        /// Write this frame.
        case send(YamuxFrame)
        /// The remote opened a stream; hand it to `acceptStream()`.
        case newInboundStream(UInt32)
        /// Payload for a stream's reader.
        case data(streamID: UInt32, payload: [UInt8])
        /// The remote half-closed a stream.
        case remoteClosed(UInt32)
        /// The remote reset a stream (it is gone).
        case reset(UInt32)
        /// The stream's send window grew; wake its writer.
        case sendWindowOpened(UInt32)
        /// An answer to our ping with this value.
        case pong(UInt32)
        /// The remote will open no more streams.
        case remoteGoAway(code: UInt32)
        /// A stream the remote opened was refused (limits) with RST.
        case refused(streamID: UInt32, reason: String)
    }

    public let isInitiator: Bool
    public let config: MuxerConfig
    /// Live streams by ID.
    public private(set) var streams: [UInt32: YamuxStreamState] = [:]
    /// Inbound streams in the table.
    public private(set) var inboundCount = 0
    /// Inbound streams not yet taken by the application.
    public private(set) var backlog = 0
    public private(set) var remoteWentAway = false
    public private(set) var localWentAway = false
    /// The latest measured round-trip time in seconds.
    public var rtt: Double?
    private var nextStreamID: UInt32

    public init(isInitiator: Bool, config: MuxerConfig) {
        self.isInitiator = isInitiator
        self.config = config
        self.nextStreamID = isInitiator ? 1 : 2
    }

    private func newReceiveWindow() -> YamuxReceiveWindow {
        YamuxReceiveWindow(window: config.initialWindow, maxWindow: config.maxWindow)
    }

    /// Allocates an outbound stream; returns its ID and the SYN frame to send.
    public mutating func openStream() throws(YamuxError) -> (UInt32, YamuxFrame) {
        if remoteWentAway { throw .streamsExhausted(reason: "the remote sent go-away") }
        if localWentAway { throw .streamsExhausted(reason: "the connection is going away") }
        let id = nextStreamID
        guard id < UInt32.max - 1 else { throw .streamsExhausted(reason: "stream IDs exhausted") }
        nextStreamID += 2
        let window = newReceiveWindow()
        streams[id] = YamuxStreamState(id: id, isInbound: false, receive: window)
        return (id, .windowUpdate(streamID: id, flags: .syn, delta: window.initialDelta))
    }

    /// Marks that we sent go-away: inbound SYNs are refused from now on.
    public mutating func goAway() { localWentAway = true }

    /// The application took a stream from the accept backlog.
    public mutating func acceptDequeued() { backlog = Swift.max(0, backlog - 1) }

    private mutating func remove(_ id: UInt32) {
        if let s = streams.removeValue(forKey: id), s.isInbound { inboundCount -= 1 }
    }

    /// Processes one inbound frame at time `now` (seconds). Throws on a protocol error, after
    /// which the connection must send go-away(protocol error) and close.
    public mutating func receive(_ frame: YamuxFrame, now: Double) throws(YamuxError) -> [Action] {
        switch frame.type {
        case .ping:
            if frame.flags.contains(.syn) { return [.send(.ping(flags: .ack, value: frame.length))] }
            if frame.flags.contains(.ack) { return [.pong(frame.length)] }
            return []
        case .goAway:
            remoteWentAway = true
            return [.remoteGoAway(code: frame.length)]
        case .data, .windowUpdate:
            return try receiveStreamFrame(frame)
        }
    }

    private mutating func receiveStreamFrame(_ frame: YamuxFrame) throws(YamuxError) -> [Action] {
        let id = frame.streamID
        guard id != 0 else { throw .invalidStream(streamID: 0, reason: "stream frame on the session ID") }
        var actions: [Action] = []
        if frame.flags.contains(.syn) {
            guard streams[id] == nil else { throw .invalidStream(streamID: id, reason: "SYN for an open stream") }
            let remoteParity: UInt32 = isInitiator ? 0 : 1
            guard id % 2 == remoteParity else { throw .invalidStream(streamID: id, reason: "SYN with our own ID parity") }
            var refusal: String?
            if localWentAway {
                refusal = "going away"
            } else if inboundCount >= config.maxInboundStreams {
                refusal = "maxInboundStreams (\(config.maxInboundStreams)) reached"
            } else if backlog >= config.acceptBacklog {
                refusal = "accept backlog (\(config.acceptBacklog)) full"
            }
            if let refusal {
                return [.send(.windowUpdate(streamID: id, flags: .rst)), .refused(streamID: id, reason: refusal)]
            }
            let window = newReceiveWindow()
            streams[id] = YamuxStreamState(id: id, isInbound: true, receive: window)
            inboundCount += 1
            backlog += 1
            actions.append(.send(.windowUpdate(streamID: id, flags: .ack, delta: window.initialDelta)))
            actions.append(.newInboundStream(id))
        }
        guard var state = streams[id] else {
            // A stream we already reset or finished: late frames are dropped.
            return actions
        }
        if frame.flags.contains(.rst) {
            remove(id)
            actions.append(.reset(id))
            return actions
        }
        switch frame.type {
        case .windowUpdate:
            if frame.length > 0 {
                let (sum, overflow) = state.sendWindow.addingReportingOverflow(frame.length)
                guard !overflow else { throw .windowOverflow(streamID: id) }
                state.sendWindow = sum
                actions.append(.sendWindowOpened(id))
            }
        default:
            if !frame.payload.isEmpty {
                guard !state.remoteClosed else { throw .invalidStream(streamID: id, reason: "data after FIN") }
                let window = state.receive.credit
                guard state.receive.receive(frame.payload.count) else {
                    throw .windowExceeded(streamID: id, length: frame.payload.count, window: window)
                }
                actions.append(.data(streamID: id, payload: frame.payload))
            }
        }
        if frame.flags.contains(.fin) && !state.remoteClosed {
            state.remoteClosed = true
            actions.append(.remoteClosed(id))
        }
        if state.localClosed && state.remoteClosed {
            remove(id)
        } else {
            streams[id] = state
        }
        return actions
    }

    /// The reader of `streamID` consumed `count` bytes; returns a window update to send, if due.
    public mutating func consumed(streamID: UInt32, count: Int, now: Double) -> YamuxFrame? {
        guard var state = streams[streamID], !state.remoteClosed else { return nil }
        let delta = state.receive.consume(count, now: now, rtt: rtt)
        streams[streamID] = state
        guard let delta else { return nil }
        return .windowUpdate(streamID: streamID, delta: delta)
    }

    /// Reserves up to `max` bytes of send window; 0 means wait for a window update; nil means the
    /// stream is gone or closed for writing.
    public mutating func reserveSend(streamID: UInt32, max: Int) -> Int? {
        guard var state = streams[streamID], !state.localClosed else { return nil }
        let n = Swift.min(Int(state.sendWindow), max)
        state.sendWindow -= UInt32(n)
        streams[streamID] = state
        return n
    }

    /// Half-closes `streamID`; returns the FIN frame, or nil when already closed or gone.
    public mutating func closeWrite(streamID: UInt32) -> YamuxFrame? {
        guard var state = streams[streamID], !state.localClosed else { return nil }
        state.localClosed = true
        if state.remoteClosed { remove(streamID) } else { streams[streamID] = state }
        return .windowUpdate(streamID: streamID, flags: .fin)
    }

    /// Resets `streamID`; returns the RST frame, or nil when the stream is already gone.
    public mutating func reset(streamID: UInt32) -> YamuxFrame? {
        guard streams[streamID] != nil else { return nil }
        remove(streamID)
        return .windowUpdate(streamID: streamID, flags: .rst)
    }
}
