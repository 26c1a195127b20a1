import P2PCore
import P2PCrypto

/// What we exchanged with one peer (`bitswap ledger PEER`).
public struct LedgerEntry: Sendable, Hashable {
    public var peer: PeerID
    /// Bytes of block data sent to the peer.
    public var bytesSent: Int = 0
    /// Bytes of block data received from the peer.
    public var bytesReceived: Int = 0
    public var blocksSent: Int = 0
    public var blocksReceived: Int = 0

    public init(peer: PeerID) { self.peer = peer }

    /// Blocks exchanged both ways.
    public var exchanged: Int { blocksSent + blocksReceived }
    /// Kubo's debt ratio: sent / (received + 1).
    public var value: Double { Double(bytesSent) / Double(bytesReceived + 1) }
}

/// Node-wide counters (`bitswap stat`).
public struct BitswapStats: Sendable, Hashable {
    public var blocksReceived = 0
    public var dataReceived = 0
    public var duplicateBlocksReceived = 0
    public var duplicateDataReceived = 0
    public var blocksSent = 0
    public var dataSent = 0
    public var messagesReceived = 0
    /// Blocks that hashed to nothing we asked for (corrupt or unrequested).
    public var badBlocksReceived = 0

    public init() {}
}

/// Per-peer ledgers and the node-wide counters, shared by the client and the server.
final class Ledgers: @unchecked Sendable {
    private let lock = Mutex()
    private var entries: [PeerID: LedgerEntry] = [:]
    private var totals = BitswapStats()
    /// Ledgers kept at most (the least active ones are forgotten first).
    private let limit = 4096

    func recordSent(to peer: PeerID, blocks: Int, bytes: Int) {
        guard blocks > 0 else { return }
        lock.withLock {
            update(peer) { $0.blocksSent += blocks; $0.bytesSent += bytes }
            totals.blocksSent += blocks
            totals.dataSent += bytes
        }
    }

    func recordReceived(from peer: PeerID, bytes: Int, duplicate: Bool) {
        lock.withLock {
            update(peer) { $0.blocksReceived += 1; $0.bytesReceived += bytes }
            totals.blocksReceived += 1
            totals.dataReceived += bytes
            if duplicate {
                totals.duplicateBlocksReceived += 1
                totals.duplicateDataReceived += bytes
            }
        }
    }

    func recordBadBlock() { lock.withLock { totals.badBlocksReceived += 1 } }
    func recordMessage() { lock.withLock { totals.messagesReceived += 1 } }

    func ledger(for peer: PeerID) -> LedgerEntry {
        lock.withLock { entries[peer] ?? LedgerEntry(peer: peer) }
    }

    func stats() -> BitswapStats { lock.withLock { totals } }

    private func update(_ peer: PeerID, _ body: (inout LedgerEntry) -> Void) {
        if entries[peer] == nil, entries.count >= limit,
           let least = entries.min(by: { $0.value.exchanged < $1.value.exchanged })?.key {
            entries.removeValue(forKey: least)
        }
        body(&entries[peer, default: LedgerEntry(peer: peer)])
    }
}
