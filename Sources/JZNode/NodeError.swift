/// Errors from the node home and its configuration. Each says what to do next.
public enum NodeError: Error, Equatable, Sendable, CustomStringConvertible {
    case notInitialized(path: String)
    case alreadyInitialized(path: String)
    case unreadableConfig(path: String, reason: String)
    case invalidConfigValue(key: String, reason: String)
    case noSuchKey(String)
    case protectedKey(String)
    case identityMismatch(configured: String, derived: String)
    case invalidBootstrapAddress(String, reason: String)
    case io(path: String, reason: String)
    /// A network operation (dialling, fetching) failed.
    case network(String)
    /// A command argument is not valid (the message says which and why).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .notInitialized(path):
            return "no jz-node home at \(path): run `jz-node init` (or pass --repo-dir / set JZ_PATH)"
        case let .alreadyInitialized(path):
            return "a jz-node home already exists at \(path); reinitialising would overwrite its identity key"
        case let .unreadableConfig(path, reason):
            return "cannot read config \(path): \(reason)"
        case let .invalidConfigValue(key, reason):
            return "config key \(key): \(reason)"
        case let .noSuchKey(key):
            return "config key \(key) is not set"
        case let .protectedKey(key):
            return "config key \(key) holds the private key and cannot be read or changed with `config`"
        case let .identityMismatch(configured, derived):
            return "config Identity.PeerID is \(configured) but Identity.PrivKey belongs to \(derived): fix the config"
        case let .invalidBootstrapAddress(addr, reason):
            return "bootstrap address \(addr) is not usable: \(reason)"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .invalidArgument(message):
            return message
        case let .network(reason):
            return reason
        }
    }
}
