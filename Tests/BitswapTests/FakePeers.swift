import Foundation
import IPLD
import Multiformats
import P2PCore
import P2PCrypto

@testable import Bitswap
import P2PTestSupport

// Hand-written bitswap peers that speak the wire format directly (raw `BitswapMessage` encoding
// over the stream), for behaviour our own node never shows.

/// Answers every want-block with garbage, on a stream of its own (as Go does): wrong bytes under
/// the wanted CID's prefix, or (`malformed`) bytes that are no bitswap message at all.
final class CorruptPeer: @unchecked Sendable {
    let host: MemoryHost
    private let lock = Mutex()
    private var sent = 0

    var blocksSent: Int { lock.withLock { sent } }

    init(network: MemoryNetwork, malformed: Bool = false) async {
        host = network.makeHost(protocols: [BitswapProtocol.v120])
        await host.setHandler(BitswapProtocol.v120) { [self] incoming in
            let reader = StreamReader(incoming.stream)
            while let message = try? await readMessage(reader) {
                let wanted = message.wantlist.filter { !$0.cancel && $0.wantType == .block }
                guard !wanted.isEmpty else { continue }
                let blocks = wanted.enumerated().map { index, entry in
                    PrefixedBlock(
                        prefix: CIDPrefix(of: entry.cid),
                        data: pseudoRandomBytes(1000 + index, seed: UInt64(index) &+ 77))
                }
                do {
                    let (stream, protocolID) = try await host.newStream(
                        to: incoming.remotePeer, protocols: [BitswapProtocol.v120])
                    // Malformed: a payload entry whose prefix is CID version 7.
                    let bytes = malformed
                        ? protoField(3, protoField(1, [0x07, 0x55, 0x12, 0x20]) + protoField(2, [1, 2, 3]))
                        : BitswapMessage(blocks: blocks).encoded(for: protocolID)
                    try await stream.writeLengthPrefixed(bytes)
                    await stream.close()
                    lock.withLock { sent += blocks.count }
                } catch {
                    break
                }
            }
            await incoming.stream.close()
        }
    }
}

/// Serves blocks from a dictionary, replying on the very stream it was asked on (as py-libp2p
/// does): want-block → the block (or DONT_HAVE when asked), want-have → HAVE / DONT_HAVE.
/// With `emptyV0Prefix` it sends CIDv0 blocks with an empty prefix, as py-libp2p does.
final class SameStreamProvider: @unchecked Sendable {
    let host: MemoryHost
    let inbox = MessageInbox()
    private let blocks: [Multihash: Block]
    private let emptyV0Prefix: Bool

    init(network: MemoryNetwork, blocks: [Block], emptyV0Prefix: Bool = false) async {
        host = network.makeHost()
        var byHash: [Multihash: Block] = [:]
        for block in blocks { byHash[block.cid.multihash] = block }
        self.blocks = byHash
        self.emptyV0Prefix = emptyV0Prefix
        for protocolID in [BitswapProtocol.v120, BitswapProtocol.v110] {
            await host.setHandler(protocolID) { [self] incoming in
                let reader = StreamReader(incoming.stream)
                while let message = try? await readMessage(reader) {
                    inbox.append(message, from: incoming.remotePeer, protocolID: incoming.protocolID)
                    // One block per message keeps every message under the 4 MiB limit.
                    let reply = answer(message)
                    var parts = reply.blocks.map { BitswapMessage(blocks: [$0]) }
                    if !reply.presences.isEmpty { parts.append(BitswapMessage(presences: reply.presences)) }
                    do {
                        for part in parts {
                            try await incoming.stream.writeLengthPrefixed(encode(part, for: incoming.protocolID))
                        }
                    } catch {
                        break
                    }
                }
                await incoming.stream.close()
            }
        }
    }

    private func encode(_ message: BitswapMessage, for protocolID: ProtocolID) -> [UInt8] {
        guard emptyV0Prefix else { return message.encoded(for: protocolID) }
        // Hand-built: payload entries (field 3) with no prefix for CIDv0 blocks.
        var rest = message
        rest.blocks = message.blocks.filter { $0.prefix != .v0 }
        var bytes = rest.encoded(for: protocolID)
        for block in message.blocks where block.prefix == .v0 {
            bytes += protoField(3, protoField(2, block.data))
        }
        return bytes
    }

    private func answer(_ message: BitswapMessage) -> BitswapMessage {
        var reply = BitswapMessage()
        for entry in message.wantlist where !entry.cancel {
            let block = blocks[entry.cid.multihash]
            switch (entry.wantType, block) {
            case (.block, let block?):
                reply.blocks.append(PrefixedBlock(prefix: CIDPrefix(of: entry.cid), data: block.data))
            case (.have, _?):
                reply.presences.append(BlockPresence(cid: entry.cid, kind: .have))
            case (_, nil):
                if entry.sendDontHave { reply.presences.append(BlockPresence(cid: entry.cid, kind: .dontHave)) }
            }
        }
        return reply
    }
}

/// A peer that only asks: it sends raw wantlists to a node and collects what comes back, on any
/// stream (its own outbound one included).
final class RawRequester: @unchecked Sendable {
    let host: MemoryHost
    let inbox = MessageInbox()
    private let lock = Mutex()
    private var streams: [PeerID: (stream: any ByteStream, protocolID: ProtocolID)] = [:]

    init(network: MemoryNetwork, protocols: Set<ProtocolID>? = nil) async {
        host = network.makeHost(protocols: protocols)
        for protocolID in BitswapProtocol.all {
            await host.setHandler(protocolID) { [inbox] incoming in
                await inbox.drain(incoming.stream, from: incoming.remotePeer, protocolID: incoming.protocolID)
                await incoming.stream.close()
            }
        }
    }

    /// Sends `message` on our (reused) stream to `peer`; returns the protocol negotiated.
    @discardableResult
    func send(_ message: BitswapMessage, to peer: PeerID) async throws -> ProtocolID {
        let existing = lock.withLock { streams[peer] }
        let (stream, protocolID): (any ByteStream, ProtocolID)
        if let existing {
            (stream, protocolID) = existing
        } else {
            (stream, protocolID) = try await host.newStream(to: peer, protocols: BitswapProtocol.all)
            lock.withLock { streams[peer] = (stream, protocolID) }
            Task { [inbox] in await inbox.drain(stream, from: peer, protocolID: protocolID) }
        }
        try await stream.writeLengthPrefixed(message.encoded(for: protocolID))
        return protocolID
    }
}
