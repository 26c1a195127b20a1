import Foundation
import Multiformats

/// Bootstrap peer lists: the `bootstrap.peers` file format and validation of entries.
public enum BootstrapList {
    /// The default peers (the public IPFS bootstrap list), as embedded at build time.
    public static var defaultPeers: [String] {
        (try? parse(embeddedFileText)) ?? []
    }

    /// Parses the `bootstrap.peers` format: one multiaddr per line, `#` starts a comment,
    /// blank lines ignored. Every entry must be a valid multiaddr that names its peer.
    public static func parse(_ text: String) throws(NodeError) -> [String] {
        var peers: [String] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                .first?.trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            peers.append(try validate(line))
        }
        return peers
    }

    /// Checks that `address` is a multiaddr ending in `/p2p/<peer ID>`; returns its canonical form.
    public static func validate(_ address: String) throws(NodeError) -> String {
        let addr: Multiaddr
        do {
            addr = try Multiaddr(address)
        } catch {
            throw .invalidBootstrapAddress(address, reason: "\(error)")
        }
        guard addr.components.last?.protocol.name == "p2p" else {
            throw .invalidBootstrapAddress(address, reason: "it must end with /p2p/<peer ID>")
        }
        return addr.description
    }
}
