/// Version and agent strings of this build.
public enum JZNodeInfo {
    public static let version = "0.1.0"
    /// The libp2p agent version announced to peers (Kubo's form is `kubo/0.22.0/`).
    public static let agentVersion = "jz-node/\(version)/"
    /// The node-home layout version written into new homes.
    public static let repoVersion = 1
}
