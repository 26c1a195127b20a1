import Foundation
import BlockStore
import Logging
import P2PCrypto
import P2PSecurity

/// The node home: the folder holding a node's config, identity and stores.
///
/// Resolution order: an explicit `--repo-dir`, then `$JZ_PATH`, then `~/.jz`.
public struct NodeHome: Sendable {
    public static let environmentVariable = "JZ_PATH"
    public static let defaultDirectoryName = ".jz"
    public static let configFileName = "config"
    /// The DHT's database (provider records, reprovider progress) inside the home.
    public static let dhtDatabaseFileName = "dht.sqlite"

    /// Absolute path of the home folder.
    public let path: String

    public init(path: String) {
        self.path = (NodeHome.expandTilde(path) as NSString).standardizingPath
    }

    /// Picks the home from an explicit option, the environment, or the default.
    public static func resolve(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> NodeHome {
        if let explicit, !explicit.isEmpty { return NodeHome(path: absolute(explicit)) }
        if let env = environment[environmentVariable], !env.isEmpty { return NodeHome(path: absolute(env)) }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return NodeHome(path: (home as NSString).appendingPathComponent(defaultDirectoryName))
    }

    private static func expandTilde(_ p: String) -> String {
        (p as NSString).expandingTildeInPath
    }

    private static func absolute(_ p: String) -> String {
        let expanded = expandTilde(p)
        if expanded.hasPrefix("/") { return expanded }
        return (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(expanded)
    }

    public var configPath: String { (path as NSString).appendingPathComponent(NodeHome.configFileName) }

    /// `<home>/dht.sqlite`: the DHT's provider records and reprovider progress.
    public var dhtDatabasePath: String { (path as NSString).appendingPathComponent(NodeHome.dhtDatabaseFileName) }

    /// `<home>/swarm.key`: a private network's pre-shared key (Kubo's file and format).
    public var swarmKeyPath: String { (path as NSString).appendingPathComponent("swarm.key") }

    /// The private network key from `<home>/swarm.key`, or nil when the file is absent. With
    /// `LIBP2P_FORCE_PNET=1` in `environment` (as Kubo) a missing key is an error.
    public func loadSwarmKey(environment: [String: String] = ProcessInfo.processInfo.environment) throws(NodeError) -> PreSharedKey? {
        guard let data = FileManager.default.contents(atPath: swarmKeyPath) else {
            if environment["LIBP2P_FORCE_PNET"] == "1" {
                throw .io(path: swarmKeyPath, reason: "LIBP2P_FORCE_PNET=1 and there is no private network key: write one with `jz-node swarm key gen > \(swarmKeyPath)`, or unset LIBP2P_FORCE_PNET")
            }
            return nil
        }
        do {
            return try PreSharedKey.parse(Array(data))
        } catch {
            throw .io(path: swarmKeyPath, reason: error.description)
        }
    }

    /// The named keys in `<home>/keystore/` (and `self`, the identity).
    public var keystore: Keystore { Keystore(home: self) }

    public var isInitialized: Bool { FileManager.default.fileExists(atPath: configPath) }

    /// Creates the home with a new Ed25519 identity and the default configuration.
    /// - Parameter bootstrap: the initial bootstrap list (defaults to `bootstrap.peers`).
    /// - Throws: `NodeError.alreadyInitialized` if a config exists (it holds the identity key).
    @discardableResult
    public func initialize(
        key: PrivateKey = .generateEd25519(),
        bootstrap: [String] = BootstrapList.defaultPeers,
        logger: Logger = Logger(label: "jz.node-home", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(NodeError) -> NodeConfig {
        if isInitialized { throw .alreadyInitialized(path: path) }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .io(path: path, reason: "cannot create the node home: \(error.localizedDescription)")
        }
        // The keystore folder, owner-only, as `ipfs init` makes it.
        if mkdir(keystore.directory, 0o700) != 0 && errno != EEXIST {
            throw .io(path: keystore.directory, reason: "cannot create the keystore: \(String(cString: strerror(errno)))")
        }
        let identity = NodeIdentity(privateKey: key)
        let config = NodeConfig.makeDefault(
            peerID: identity.peerID.description,
            privateKeyBase64: identity.privateKeyBase64,
            bootstrap: bootstrap)
        try save(config)
        // Create the embedded SQLite block store now, so a broken disk shows up at init.
        let storePath = LocalNode.storePath(home: self, config: config)
        let options = try LocalNode.storeOptions(config)
        do {
            _ = try SQLiteBlockStore(path: storePath, options: options, logger: logger)
        } catch {
            throw .io(path: storePath, reason: "cannot create the block store: \(error)")
        }
        logger.info("initialised node home", metadata: ["path": "\(path)", "peer": "\(identity.peerID)"])
        return config
    }

    /// Reads the config.
    public func loadConfig() throws(NodeError) -> NodeConfig {
        guard isInitialized else { throw .notInitialized(path: path) }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: configPath))
        } catch {
            throw .unreadableConfig(path: configPath, reason: error.localizedDescription)
        }
        do {
            let root = try JSONValue.parse(data)
            guard case .object = root else {
                throw NodeError.unreadableConfig(path: configPath, reason: "the top level is not a JSON object")
            }
            return NodeConfig(root: root)
        } catch let error as NodeError {
            throw error
        } catch {
            throw .unreadableConfig(path: configPath, reason: "not valid JSON (\(error))")
        }
    }

    /// Writes the config atomically (temporary file, fsync, rename), readable by the owner only:
    /// a crash or a full disk leaves the previous config intact.
    public func save(_ config: NodeConfig) throws(NodeError) {
        let text = config.root.serialized(indent: "  ") + "\n"
        let temp = configPath + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw .io(path: temp, reason: String(cString: strerror(errno))) }
        var ok = true
        var failure = ""
        text.utf8CString.withUnsafeBufferPointer { buffer in
            var offset = 0
            let count = buffer.count - 1  // drop the NUL terminator
            while offset < count {
                let n = buffer.baseAddress.map { write(fd, $0 + offset, count - offset) } ?? -1
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += n
            }
        }
        if ok && fsync(fd) != 0 { ok = false; failure = String(cString: strerror(errno)) }
        close(fd)
        guard ok else {
            unlink(temp)
            throw .io(path: configPath, reason: "cannot write the config: \(failure); the previous config is unchanged")
        }
        guard rename(temp, configPath) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw .io(path: configPath, reason: "cannot replace the config: \(reason)")
        }
    }

    /// Loads the config and its identity, checking that the peer ID matches the key.
    public func loadIdentity() throws(NodeError) -> (NodeConfig, NodeIdentity) {
        let config = try loadConfig()
        return (config, try NodeIdentity(config: config))
    }
}
