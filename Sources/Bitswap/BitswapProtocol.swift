import P2PCore

/// Bitswap's protocol identifiers and wire limits.
public enum BitswapProtocol {
    public static let v120: ProtocolID = "/ipfs/bitswap/1.2.0"
    public static let v110: ProtocolID = "/ipfs/bitswap/1.1.0"
    public static let v100: ProtocolID = "/ipfs/bitswap/1.0.0"
    public static let legacy: ProtocolID = "/ipfs/bitswap"

    /// Every version we speak, newest first (the order offered when opening a stream).
    public static let all: [ProtocolID] = [v120, v110, v100, legacy]

    /// Whether peers on `protocolID` understand want-have, HAVE and DONT_HAVE (1.2.0 only).
    public static func supportsPresence(_ protocolID: ProtocolID) -> Bool { protocolID == v120 }

    /// Whether blocks travel with their CID prefix (`payload`, 1.1.0+) rather than as bare bytes
    /// named by CIDv0 (`blocks`, 1.0.0 and the unversioned ID).
    public static func usesPayload(_ protocolID: ProtocolID) -> Bool {
        protocolID == v120 || protocolID == v110
    }

    /// Largest block sent or accepted (as go-bitswap: 2 MiB).
    public static let maxBlockSize = 2 << 20
    /// Largest message read from a stream (as go-bitswap: 4 MiB).
    public static let maxMessageSize = 4 << 20
    /// Blocks up to this size are sent inline in reply to want-have (go-bitswap's
    /// `MaxBlockSizeReplaceHasWithBlock`).
    public static let maxInlineBlockSize = 1024
}
